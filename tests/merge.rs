//! `apitap merge` against the truth it promises: merging the inventories of several captures
//! gives the inventory of one replay of all of them (`merge(replay A, replay B) ==
//! replay(A + B)`), for random splits of generated traffic, and merging is associative.
//!
//! The traffic: many keep-alive connections from many clients to one API with slug
//! parameters (learned only from enough distinct values, which one part alone may not
//! have), numeric ids, a constant sibling (`/users/me`), query strings, JSON bodies with
//! sensitive fields, bearer and anonymous calls, 2xx, 401 and 404 answers.

mod common;

use common::Rng;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const NAMES: [&str; 24] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yolanda", "zoe",
    "quentin", "ursula", "xavier",
];

/// One request and its response.
fn exchange(rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
    let name = NAMES[rng.below(NAMES.len() as u64) as usize];
    let id = 1000 + rng.below(500);
    let authed = rng.below(4) != 0;
    let (method, target, body) = match rng.below(7) {
        0 => ("GET", format!("/v1/users/{name}"), String::new()),
        1 => (
            "GET",
            format!("/v1/users/{name}/repos?page={}", rng.below(5)),
            String::new(),
        ),
        2 => ("GET", "/v1/users/me".to_string(), String::new()),
        3 => ("GET", format!("/v1/orders/{id}"), String::new()),
        4 => (
            "POST",
            "/v1/orders".to_string(),
            format!(r#"{{"sku":"sku-{id}","qty":{}}}"#, 1 + rng.below(3)),
        ),
        5 => (
            "GET",
            format!("/v1/search?q={name}&limit=20"),
            String::new(),
        ),
        _ => ("DELETE", format!("/v1/orders/{id}"), String::new()),
    };
    let auth = if authed {
        "Authorization: Bearer tok_4f9a8b7c6d5e4f3a2b1c\r\n"
    } else {
        ""
    };
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: api.example.com\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, rbody) = if !authed && target.ends_with("/me") {
        (401, r#"{"error":"unauthorized"}"#.to_string())
    } else if id % 13 == 0 {
        (404, r#"{"error":"not found"}"#.to_string())
    } else if target.starts_with("/v1/users/") {
        (
            200,
            format!(r#"{{"login":"{name}","email":"{name}@corp.example","id":{id}}}"#),
        )
    } else {
        (
            200,
            format!(
                r#"{{"id":{id},"status":"open","total":{}.50}}"#,
                rng.below(300)
            ),
        )
    };
    let reason = if status == 200 { "OK" } else { "Error" };
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{rbody}",
        rbody.len()
    );
    (req.into_bytes(), resp.into_bytes())
}

/// A connection: when it starts (µs), and its frames.
struct Conn {
    start: u64,
    frames: Vec<Vec<u8>>,
}

fn traffic(seed: u64, n: usize) -> Vec<Conn> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    (0..n)
        .map(|i| {
            let client = [10, 1, rng.below(4) as u8, 1 + rng.below(30) as u8];
            let pairs: Vec<_> = (0..1 + rng.below(6)).map(|_| exchange(&mut rng)).collect();
            Conn {
                start: rng.below(60_000_000),
                frames: common::connection(
                    (client, 30000 + i as u16),
                    ([10, 9, 0, 1], 8080),
                    &pairs,
                ),
            }
        })
        .collect()
}

/// The connections as one capture, frames 200 µs apart within a connection.
fn write(path: &Path, conns: &[&Conn]) {
    let mut all: Vec<(u64, &Vec<u8>)> = conns
        .iter()
        .flat_map(|c| {
            c.frames
                .iter()
                .enumerate()
                .map(move |(i, f)| (c.start + i as u64 * 200, f))
        })
        .collect();
    all.sort_by_key(|(t, _)| *t);
    let mut pcap = common::Pcap::create(path);
    for (t, f) in all {
        pcap.put_at(t, f);
    }
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("apitap-merge-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

fn apitap(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_apitap"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .expect("run apitap")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// The inventory at `p`, without what changes from run to run.
fn load(p: &Path) -> Value {
    let mut v: Value =
        serde_json::from_slice(&std::fs::read(p).expect("inventory")).expect("inventory JSON");
    v["generated_at"] = Value::Null;
    v
}

fn replay(out: &Path, files: &[&Path], extra: &[&str]) -> Value {
    let mut args = vec!["replay", "-q", "-o", s(out)];
    args.extend_from_slice(extra);
    args.extend(files.iter().map(|f| s(f)));
    let o = apitap(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    load(out)
}

fn merge(out: &Path, inputs: &[&Path]) -> Value {
    let mut args = vec!["merge", "-q", "-o", s(out)];
    args.extend(inputs.iter().map(|f| s(f)));
    let o = apitap(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    load(out)
}

/// The first place two documents differ, for a readable failure.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x.keys().chain(y.keys()).find_map(|k| {
            first_difference(
                &x[k],
                y.get(k).unwrap_or(&Value::Null),
                &format!("{at}.{k}"),
            )
        }),
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, &format!("{at}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{at}: {a} != {b}")),
    }
}

#[test]
fn merging_replays_equals_replaying_together() {
    let d = dir();
    let mut learned_only_together = 0;
    for seed in 1..=6u64 {
        let conns = traffic(seed, 70);
        let mut rng = Rng(seed ^ 0xdead_beef);
        // A random three-way split, the first part small (a short capture, a quiet sensor).
        let mut parts: [Vec<&Conn>; 3] = Default::default();
        for c in &conns {
            parts[[0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2][rng.below(12) as usize]].push(c);
        }
        let files: Vec<PathBuf> = (0..3)
            .map(|i| d.join(format!("s{seed}-{i}.pcap")))
            .collect();
        for (f, p) in files.iter().zip(&parts) {
            write(f, p);
        }
        let inv: Vec<PathBuf> = (0..3)
            .map(|i| d.join(format!("s{seed}-{i}.json")))
            .collect();
        let single: Vec<Value> = (0..3).map(|i| replay(&inv[i], &[&files[i]], &[])).collect();
        let together = replay(
            &d.join(format!("s{seed}-all.json")),
            &[&files[0], &files[1], &files[2]],
            &[],
        );
        let ab = d.join(format!("s{seed}-ab.json"));
        merge(&ab, &[&inv[0], &inv[1]]);
        let abc = merge(&d.join(format!("s{seed}-abc.json")), &[&ab, &inv[2]]);
        assert_eq!(
            first_difference(&abc, &together, "$"),
            None,
            "seed {seed}: (A+B)+C"
        );
        let bc = d.join(format!("s{seed}-bc.json"));
        merge(&bc, &[&inv[1], &inv[2]]);
        let a_bc = merge(&d.join(format!("s{seed}-a_bc.json")), &[&inv[0], &bc]);
        assert_eq!(
            first_difference(&a_bc, &together, "$"),
            None,
            "seed {seed}: A+(B+C)"
        );
        // The slug position is a parameter in the whole; count the seeds where some part
        // alone still shows literal names, so the test shows templates unify.
        let has = |doc: &Value, p: &str| {
            doc["endpoints"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["path"] == p))
        };
        assert!(has(&together, "/v1/users/{id}/repos"), "seed {seed}");
        let literal = |doc: &Value| {
            NAMES
                .iter()
                .any(|n| has(doc, &format!("/v1/users/{n}/repos")))
        };
        if single.iter().any(literal) {
            learned_only_together += 1;
        }
    }
    // With a spec, merging judges the union as the replay of everything does.
    let spec = d.join("api.yaml");
    std::fs::write(
        &spec,
        "openapi: 3.0.3\ninfo: {title: T, version: '1'}\npaths:\n  /v1/users/{login}:\n    get:\n      responses: {'200': {description: ok}}\n  /v1/orders/{orderId}:\n    delete: {deprecated: true, responses: {'204': {description: gone}}}\n  /v1/refunds:\n    get: {responses: {'200': {description: ok}}}\n",
    )
    .expect("spec");
    let parts: Vec<PathBuf> = (0..3).map(|i| d.join(format!("s1-{i}.pcap"))).collect();
    let invs: Vec<PathBuf> = (0..3).map(|i| d.join(format!("s1-{i}.json"))).collect();
    let together = replay(
        &d.join("spec-all.json"),
        &[&parts[0], &parts[1], &parts[2]],
        &["--spec", s(&spec)],
    );
    let out = d.join("spec-merged.json");
    let mut args = vec!["merge", "-q", "-o", s(&out), "--spec", s(&spec)];
    args.extend(invs.iter().map(|p| s(p)));
    assert!(apitap(&args).status.success());
    let merged = load(&out);
    assert_eq!(
        first_difference(&merged, &together, "$"),
        None,
        "with --spec"
    );
    assert_eq!(
        merged["spec_diff"]["zombie"][0]["path"],
        "/v1/orders/{orderId}"
    );
    assert!(
        learned_only_together > 0,
        "no split left a part with literal names"
    );
}

#[test]
fn merge_refuses_what_it_cannot_merge() {
    let d = dir();
    let o = apitap(&[
        "merge",
        "-o",
        s(&d.join("x.json")),
        "fixtures/synth/not-a-capture.pcap",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("not an apitap inventory") && err.lines().count() == 1,
        "{err}"
    );
    // An inventory without its state (written by an older apitap): named, one line.
    let conns = traffic(9, 3);
    let pcap = d.join("old.pcap");
    write(&pcap, &conns.iter().collect::<Vec<_>>());
    let inv = d.join("old.json");
    replay(&inv, &[&pcap], &[]);
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&inv).expect("read")).expect("JSON");
    doc.as_object_mut().map(|m| m.remove("state"));
    std::fs::write(&inv, doc.to_string()).expect("write");
    let o = apitap(&["merge", "-o", s(&d.join("y.json")), s(&inv)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("old.json: no `state`") && err.lines().count() == 1,
        "{err}"
    );
    assert!(!d.join("y.json").exists(), "nothing written on error");
}

#[test]
fn a_state_file_keeps_accumulating_across_runs() {
    let d = dir();
    let conns = traffic(11, 40);
    let (a, b): (Vec<&Conn>, Vec<&Conn>) = conns.iter().partition(|c| c.start % 2 == 0);
    let (fa, fb) = (d.join("state-a.pcap"), d.join("state-b.pcap"));
    write(&fa, &a);
    write(&fb, &b);
    let state = d.join("state.json");
    // Two runs, as a sensor restarted between them would make.
    for f in [&fa, &fb] {
        let o = apitap(&["replay", "-q", "--state", s(&state), s(f)]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let together = replay(&d.join("state-together.json"), &[&fa, &fb], &[]);
    assert_eq!(first_difference(&load(&state), &together, "$"), None);
    // A state file that is not an inventory stops the run before it starts, in one line.
    std::fs::write(&state, "not json").expect("write");
    let o = apitap(&["replay", "-q", "--state", s(&state), s(&fa)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("not an apitap inventory") && err.lines().count() == 1,
        "{err}"
    );
    assert_eq!(
        std::fs::read(&state).expect("read"),
        b"not json",
        "left as it was"
    );
}
