//! End-to-end: the `apitap` binary on the committed fixtures, against golden files and known
//! truths. Regenerate the golden files with `APITAP_UPDATE_GOLDEN=1 cargo test --test e2e`
//! and review the diff.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

fn apitap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_apitap"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run apitap")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("apitap-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("tmp dir");
    d.join(name)
}

/// Replay `files` with extra args; return (inventory with volatile fields redacted, exchanges).
fn replay(files: &[&str], extra: &[&str], tag: &str) -> (Value, String) {
    let inv = tmp(&format!("{tag}.json"));
    let ex = tmp(&format!("{tag}.jsonl"));
    let mut args = vec![
        "replay",
        "-q",
        "-o",
        inv.to_str().expect("utf8"),
        "--exchanges",
        ex.to_str().expect("utf8"),
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(files);
    let out = apitap(&args);
    assert!(
        out.status.success(),
        "apitap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&inv).expect("inventory written"))
        .expect("inventory is JSON");
    doc["generated_at"] = Value::from("<redacted>");
    (
        doc,
        std::fs::read_to_string(&ex).expect("exchanges written"),
    )
}

/// Replay `capture` quietly into the inventory file `name` in the temp dir; its path.
fn inventory_of(capture: &str, name: &str) -> PathBuf {
    let inv = tmp(name);
    let out = apitap(&["replay", "-q", "-o", inv.to_str().unwrap_or(""), capture]);
    assert!(
        out.status.success(),
        "replay {capture}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    inv
}

fn exchanges(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each line is a JSON object"))
        .collect()
}

fn golden(name: &str, actual: &str) {
    let path = root().join("tests/golden").join(name);
    if std::env::var_os("APITAP_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing golden file {}", path.display()));
    assert!(
        expected == actual,
        "{name} differs from golden (APITAP_UPDATE_GOLDEN=1 to accept):\n{}",
        first_diff(&expected, actual)
    );
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).expect("json")
}

fn first_diff(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n- {x}\n+ {y}", i + 1);
        }
    }
    format!(
        "lengths differ: {} vs {} lines",
        a.lines().count(),
        b.lines().count()
    )
}

#[test]
fn demo_matches_golden() {
    let (doc, ex) = replay(&["fixtures/demo/demo.pcap"], &[], "demo");
    golden(
        "demo.inventory.json",
        &(serde_json::to_string_pretty(&doc).expect("json") + "\n"),
    );
    golden("demo.exchanges.jsonl", &ex);
}

#[test]
fn demo_templates_ids_and_sees_every_exchange() {
    let (doc, ex) = replay(&["fixtures/demo/demo.pcap"], &[], "demo-facts");
    let rows = exchanges(&ex);
    // api_client.py makes 82 calls plus one raw HTTP/1.0 request.
    assert_eq!(rows.len(), 83);
    assert!(rows
        .iter()
        .all(|r| r["status"].is_u64() && r["method"].is_string()));
    let paths: Vec<(&str, &str, &str)> = doc["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| {
            (
                e["host"].as_str().unwrap_or(""),
                e["method"].as_str().unwrap_or(""),
                e["path"].as_str().unwrap_or(""),
            )
        })
        .collect();
    for want in [
        ("api.shop.example", "GET", "/api/v1/users/{id}"),
        ("api.shop.example", "GET", "/api/v1/users/me"),
        ("api.shop.example", "GET", "/api/v1/users/{id}/orders"),
        ("api.shop.example", "DELETE", "/api/v1/orders/{id}"),
        ("api.shop.example", "GET", "/api/v1/products/{id}"),
        ("admin.shop.example", "GET", "/admin/v1/audit-logs/{id}"),
        ("10.77.0.1:8080", "GET", "/health"),
    ] {
        assert!(
            paths.contains(&want),
            "missing endpoint {want:?} in {paths:?}"
        );
    }
    assert_eq!(doc["stats"]["dropped"], serde_json::json!({}));
    let users = doc["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .find(|e| e["path"] == "/api/v1/users/{id}")
        .expect("users");
    assert_eq!(
        users["path_params"],
        serde_json::json!([{"name": "id", "type": "integer"}])
    );
    assert_eq!(users["auth"], serde_json::json!(["none", "bearer"]));
    assert_eq!(users["unauthenticated_success"], true);
}

#[test]
fn output_does_not_depend_on_thread_count() {
    for files in [
        &["fixtures/demo/demo.pcap"][..],
        &["fixtures/synth/reorder.pcap", "fixtures/synth/vxlan.pcap"][..],
        &[
            "fixtures/synth/peloton.pcap",
            "fixtures/synth/services.pcap",
        ][..],
    ] {
        // Also with knowledge epochs of 4 packets, so the workers pool what they learned
        // (and wait for each other) many times in these small captures.
        for epoch in [None, Some("4")] {
            let extra: &[&str] = match epoch {
                Some(e) => &["--scan-epoch", e],
                None => &[],
            };
            let run = |n: &str| {
                let args: Vec<&str> = ["--threads", n].iter().chain(extra).copied().collect();
                replay(files, &args, &format!("t{n}"))
            };
            let (doc1, ex1) = run("1");
            for n in ["2", "3", "8"] {
                let (doc, ex) = run(n);
                assert!(
                    ex == ex1,
                    "exchanges differ with {n} threads on {files:?} ({extra:?}): {}",
                    first_diff(&ex1, &ex)
                );
                let (a, b) = (pretty(&doc1), pretty(&doc));
                assert!(
                    a == b,
                    "inventory differs with {n} threads on {files:?} ({extra:?}): {}",
                    first_diff(&a, &b)
                );
            }
        }
    }
}

#[test]
fn a_failed_worker_is_reported_never_silent() {
    // A worker that panics (a bug; here the test failure point) loses its share of the
    // flows: the run says so in its stats, on stderr and in its exit status, and what the
    // other worker found is still written.
    let (_, all) = replay(&["fixtures/demo/demo.pcap"], &["--threads", "2"], "whole");
    let (inv, ex) = (tmp("failed.json"), tmp("failed.jsonl"));
    let (i, e) = (inv.to_str().expect("utf8"), ex.to_str().expect("utf8"));
    let out = Command::new(env!("CARGO_BIN_EXE_apitap"))
        .env("APITAP_FAILPOINT", "worker-panic")
        .args(["replay", "-q", "--threads", "2", "-o", i, "--exchanges", e])
        .arg("fixtures/demo/demo.pcap")
        .current_dir(root())
        .output()
        .expect("run apitap");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(err.contains("1 worker thread(s) stopped"), "{err}");
    let doc: Value = serde_json::from_slice(&std::fs::read(&inv).expect("inventory written"))
        .expect("inventory is JSON");
    assert_eq!(
        doc["stats"]["dropped"]["workers_failed"], 1,
        "{}",
        doc["stats"]
    );
    let part = std::fs::read_to_string(&ex).expect("exchanges written");
    let (n, whole) = (part.lines().count(), all.lines().count());
    assert!(n > 0 && n < whole, "{n} of {whole} exchanges written");
    assert!(part.lines().all(|l| all.lines().any(|a| a == l)));
}

#[test]
fn pcapng_with_mixed_link_types() {
    let (doc, ex) = replay(&["fixtures/synth/mixed-links.pcapng"], &[], "mixed");
    let rows = exchanges(&ex);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["uri"], "/api/items/1");
    assert_eq!(rows[1]["server"], "10.0.1.2:8080");
    assert_eq!(rows[1]["ts"], "2023-11-14T22:13:21.003000Z");
    assert_eq!(doc["capture"]["link_types"], serde_json::json!([1, 276]));
}

#[test]
fn reordered_retransmitted_pipelined_chunked() {
    let (doc, ex) = replay(&["fixtures/synth/reorder.pcap"], &[], "reorder");
    let rows = exchanges(&ex);
    let got: Vec<(&str, u64, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["uri"].as_str().unwrap_or(""),
                r["status"].as_u64().unwrap_or(0),
                r["response_body_bytes"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("/api/items/10", 200, 11),
            ("/api/items/11", 200, 10),
            ("/api/items/12", 200, 10)
        ]
    );
    assert!(rows
        .iter()
        .all(|r| r["endpoint"] == "/api/items/{id}" && r["gap"] == false));
    assert_eq!(doc["stats"]["tcp_gaps"], 0);
    assert_eq!(doc["stats"]["flow"]["retransmitted_segments"], 1);
}

#[test]
fn vxlan_sessions_are_separate_flows() {
    let (doc, ex) = replay(&["fixtures/synth/vxlan.pcap"], &[], "vxlan");
    let rows = exchanges(&ex);
    let tunnels: Vec<u64> = rows
        .iter()
        .map(|r| r["tunnel"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(tunnels, vec![7001, 7002]);
    assert_eq!(doc["stats"]["flows"], 2);
}

#[test]
fn several_files_merge_by_timestamp() {
    let (_, ex) = replay(
        &["fixtures/synth/split-b.pcap", "fixtures/synth/split-a.pcap"],
        &[],
        "split",
    );
    let rows = exchanges(&ex);
    let got: Vec<(&str, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["uri"].as_str().unwrap_or(""),
                r["status"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(got, vec![("/api/items/21", 200), ("/api/items/22", 200)]);
}

#[test]
fn truncated_file_is_read_up_to_the_damage() {
    let (doc, ex) = replay(&["fixtures/synth/truncated.pcap"], &[], "trunc");
    let rows = exchanges(&ex);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["status"], 200);
    assert_eq!(rows[1]["status"], Value::Null);
    assert_eq!(doc["stats"]["capture"]["truncated_files"], 1);
    assert_eq!(doc["stats"]["dropped"]["truncated_capture_files"], 1);
}

#[test]
fn inventory_to_stdout() {
    let out = apitap(&["replay", "-q", "-o", "-", "fixtures/synth/vxlan.pcap"]);
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).expect("stdout is the inventory");
    assert_eq!(doc["apitap_inventory"], 1);
    assert_eq!(doc["endpoints"][0]["path"], "/api/items/{id}");
}

fn one_line_error(out: &Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(needle), "stderr {err:?} lacks {needle:?}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[test]
fn bad_input_gives_one_line_and_nonzero_exit() {
    let out = apitap(&["replay", "fixtures/synth/not-a-capture.pcap"]);
    one_line_error(&out, 1, "not a pcap or pcapng file");
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    let out = apitap(&["replay", "fixtures/does-not-exist.pcap"]);
    one_line_error(&out, 1, "No such file");
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    one_line_error(
        &apitap(&["replay", "--threads", "0", "fixtures/demo/demo.pcap"]),
        2,
        "threads",
    );
    one_line_error(
        &apitap(&["replay", "--no-such-flag", "fixtures/demo/demo.pcap"]),
        2,
        "no-such-flag",
    );
    one_line_error(&apitap(&["replay"]), 2, "FILE");
    // A failed run leaves no partial output behind.
    let inv = tmp("never.json");
    let _ = apitap(&[
        "replay",
        "-o",
        inv.to_str().expect("utf8"),
        "fixtures/synth/not-a-capture.pcap",
    ]);
    assert!(!inv.exists());
}

#[test]
fn tls_inside_connect_matches_arkimes_ja4() {
    let (doc, _) = replay(&["fixtures/tls/https-connect.pcap"], &[], "tls-connect");
    let svc = &doc["encrypted_services"];
    assert_eq!(svc.as_array().map(Vec::len), Some(1), "{svc}");
    let s = &svc[0];
    assert_eq!(s["via_connect"], 1);
    assert_eq!(s["client_ja4"]["t12i860500_e18388e7f3a3_a1e935682795"], 1);
    assert_eq!(s["versions"]["TLS 1.2"], 1);
    assert_eq!(s["ciphers"]["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"], 1);
    // The CONNECT exchange itself is still an endpoint.
    assert!(doc["endpoints"]
        .as_array()
        .is_some_and(|e| e.iter().any(|e| e["method"] == "CONNECT")));
}

#[test]
fn services_we_cannot_read_are_named() {
    let (doc, ex) = replay(&["fixtures/synth/services.pcap"], &[], "services");
    let svc = &doc["encrypted_services"];
    assert_eq!(svc.as_array().map(Vec::len), Some(1), "{svc}");
    let s = &svc[0];
    assert_eq!(s["server"], "10.0.0.9:443");
    assert_eq!(s["connections"], 2);
    assert_eq!(s["sni"]["api.internal.example"], 2);
    assert_eq!(s["alpn"]["h2"], 2);
    assert_eq!(s["versions"]["TLS 1.3"], 2);
    let ja4 = s["client_ja4"]
        .as_object()
        .map(|m| m.keys().cloned().collect::<Vec<_>>());
    let ja4 = ja4.unwrap_or_default();
    assert_eq!(ja4.len(), 1);
    assert!(
        ja4[0].starts_with("t13d") && ja4[0].get(8..11) == Some("h2_"),
        "{ja4:?}"
    );
    let mut unparsed: Vec<(u64, String, u64)> = doc["stats"]["unparsed"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            (
                u["port"].as_u64().unwrap_or(0),
                u["protocol"].as_str().unwrap_or("").to_string(),
                u["streams"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    unparsed.sort();
    assert_eq!(
        unparsed,
        vec![
            (22, "ssh".into(), 1),
            (443, "tls".into(), 2),
            (5432, "postgresql".into(), 1),
            (6379, "redis".into(), 1),
            (8080, "h2".into(), 1),
        ]
    );
    // The one HTTP exchange beside them is unaffected.
    assert_eq!(exchanges(&ex).len(), 1);
    assert_eq!(
        doc["stats"]["http"]["requests"], 1,
        "the h2 preface is not a request"
    );
}

#[test]
fn peloton_leak_is_a_critical_finding() {
    let (doc, ex) = replay(&["fixtures/synth/peloton.pcap"], &[], "peloton");
    let f = doc["findings"].as_array().cloned().unwrap_or_default();
    let first = &f[0];
    assert_eq!(first["severity"], "critical", "{f:#?}");
    assert_eq!(first["rule"], "sensitive_data_without_auth");
    assert_eq!(first["path"], "/api/user/{id}");
    assert_eq!(first["owasp"], "API2:2023 Broken Authentication");
    let rules: Vec<&str> = f.iter().filter_map(|x| x["rule"].as_str()).collect();
    assert!(rules.contains(&"object_enumeration"), "{rules:?}");
    // The authenticated endpoint is not reported as leaking without auth.
    assert!(!f
        .iter()
        .any(|x| x["rule"] == "sensitive_data_without_auth" && x["path"] == "/api/me"));
    // Per-field inventory: the profile fields, redacted.
    let ep = doc["endpoints"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["path"] == "/api/user/{id}"))
        .cloned()
        .unwrap_or_default();
    let mut pii: Vec<(String, String)> = ep["pii"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["type"].as_str().unwrap_or("").into(),
                p["field"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    pii.sort();
    assert_eq!(
        pii,
        [
            ("age", "$.age"),
            ("date_of_birth", "$.birthday"),
            ("gender", "$.gender"),
            ("person_name", "$.display_name")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    // Raw values never reach an output.
    let all = format!("{doc}{ex}");
    for raw in [
        "Ava Brooks",
        "1960-01-01",
        "ava.brooks@fastmail.fm",
        "eyJzdWIiOiIxMDAwIiwiZXhwIjoxOTAwMDAwMDAwfQ",
    ] {
        assert!(!all.contains(raw), "{raw} leaked into the outputs");
    }
}

#[test]
fn findings_command_prints_worst_first() {
    let inv = inventory_of("fixtures/synth/peloton.pcap", "peloton-findings.json");
    let table = apitap(&["findings", inv.to_str().unwrap_or("")]);
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    let first = text.lines().nth(1).unwrap_or("");
    assert!(
        first.starts_with("CRITICAL  sensitive_data_without_auth"),
        "{text}"
    );
    let json = apitap(&[
        "findings",
        "--format",
        "json",
        "--min-severity",
        "high",
        inv.to_str().unwrap_or(""),
    ]);
    let v: Value = serde_json::from_slice(&json.stdout).unwrap_or_default();
    let sev: Vec<&str> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["severity"].as_str())
        .collect();
    assert_eq!(sev, ["critical", "high"]);
    let bad = apitap(&["findings", "fixtures/synth/not-a-capture.pcap"]);
    one_line_error(&bad, 1, "not an apitap inventory");
}

/// A pcap (Ethernet, IPv4, TCP) of one keep-alive connection carrying `pairs`.
fn write_pcap(path: &std::path::Path, pairs: &[(Vec<u8>, Vec<u8>)]) {
    let mut pcap = common::Pcap::create(path);
    for (i, f) in common::connection(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80), pairs)
        .iter()
        .enumerate()
    {
        pcap.put_at(i as u64 * 100, f);
    }
}

#[test]
fn compressed_and_chunked_json_is_decoded_for_the_detectors() {
    use std::io::Write as _;
    let json = |who: &str| {
        format!(
            r#"{{"users":[{{"id":7,"email":"{who}@fastmail.fm","card":"4539 5787 6362 1486"}}]}}"#
        )
        .into_bytes()
    };
    let gzip = |b: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).expect("gzip");
        e.finish().expect("gzip")
    };
    let br = |b: &[u8]| {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 9, 22);
            w.write_all(b).expect("br");
        }
        out
    };
    let resp = |coding: &str, body: Vec<u8>, chunked: bool| {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: {coding}\r\n"
        )
        .into_bytes();
        if chunked {
            r.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            for ch in body.chunks(9) {
                r.extend_from_slice(format!("{:x}\r\n", ch.len()).as_bytes());
                r.extend_from_slice(ch);
                r.extend_from_slice(b"\r\n");
            }
            r.extend_from_slice(b"0\r\n\r\n");
        } else {
            r.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            r.extend_from_slice(&body);
        }
        r
    };
    let req = |p: &str| {
        format!("GET {p} HTTP/1.1\r\nHost: api.example.net\r\nAuthorization: Bearer x\r\n\r\n")
            .into_bytes()
    };
    let pairs = vec![
        (req("/gz"), resp("gzip", gzip(&json("gz")), false)),
        (req("/br"), resp("br", br(&json("br")), true)),
        (
            req("/stacked"),
            resp("gzip, br", br(&gzip(&json("st"))), true),
        ),
        (
            req("/zstd"),
            resp("zstd", b"\x28\xb5\x2f\xfd not decodable".to_vec(), false),
        ),
    ];
    let pcap = tmp("encoded.pcap");
    write_pcap(&pcap, &pairs);
    let (doc, _) = replay(&[pcap.to_str().unwrap_or("")], &[], "encoded");
    let cd = &doc["stats"]["http"]["content_decoding"];
    assert_eq!(
        (cd["decoded"].as_u64(), cd["unsupported"].as_u64()),
        (Some(3), Some(1)),
        "{cd}"
    );
    for path in ["/gz", "/br", "/stacked"] {
        let ep = doc["endpoints"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["path"] == path))
            .cloned()
            .unwrap_or_default();
        let kinds: Vec<&str> = ep["pii"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["type"].as_str())
            .collect();
        assert!(
            kinds.contains(&"email") && kinds.contains(&"credit_card"),
            "{path}: {kinds:?}"
        );
    }
}

#[test]
fn spec_diff_names_shadow_zombie_and_orphan_endpoints() {
    let (doc, _) = replay(
        &["fixtures/demo/demo.pcap"],
        &["--spec", "fixtures/demo/shop-openapi.yaml"],
        "spec",
    );
    let status = |m: &str, p: &str| -> String {
        doc["endpoints"]
            .as_array()
            .and_then(|e| {
                e.iter()
                    .find(|e| e["method"] == m && e["path"] == p && e["host"] == "api.shop.example")
            })
            .and_then(|e| e["spec"].as_str())
            .unwrap_or("missing")
            .to_string()
    };
    // Documented paths take the spec's parameter names.
    assert_eq!(status("GET", "/api/v1/users/{userId}"), "documented");
    assert_eq!(
        status("GET", "/api/v1/users/me"),
        "documented",
        "the constant beats the parameter"
    );
    assert_eq!(status("POST", "/auth/login"), "documented");
    // Deprecated and still called: zombie.
    assert_eq!(status("GET", "/api/v1/products"), "zombie");
    // Not in the spec at all: shadow.
    assert_eq!(status("GET", "/api/v1/users/{id}/orders"), "shadow");
    assert_eq!(status("PUT", "/api/v1/orders/{id}"), "shadow");
    assert_eq!(status("DELETE", "/api/v1/orders/{id}"), "shadow");
    // An older version beside a newer one, whatever its class: superseded_by and a finding.
    assert_eq!(status("GET", "/api/v1/orders/{orderId}"), "documented");
    let ep = |m: &str, p: &str| {
        doc["endpoints"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["method"] == m && e["path"] == p))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        ep("GET", "/api/v1/orders/{orderId}")["superseded_by"],
        "/api/v2/orders/{orderId}"
    );
    assert_eq!(
        ep("DELETE", "/api/v1/orders/{id}")["superseded_by"],
        "/api/v2/orders/{orderId}"
    );
    assert!(doc["findings"].as_array().is_some_and(|f| f
        .iter()
        .any(|f| f["rule"] == "outdated_api_version" && f["path"] == "/api/v1/orders/{orderId}")));
    let d = &doc["spec_diff"];
    assert_eq!(d["format"], "3.1.0");
    let listed = |k: &str| -> Vec<String> {
        d[k].as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                format!(
                    "{} {}",
                    e["method"].as_str().unwrap_or(""),
                    e["path"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    assert_eq!(listed("zombie"), ["GET /api/v1/products"]);
    assert!(listed("shadow").contains(&"PUT /api/v1/orders/{id}".to_string()));
    assert_eq!(
        listed("orphan"),
        ["GET /api/v1/refunds", "DELETE /api/v2/orders/{orderId}"]
    );
    // Without --spec, nothing is judged.
    let (plain, _) = replay(&["fixtures/demo/demo.pcap"], &[], "nospec");
    assert!(plain["spec_diff"].is_null());
    // A bad spec is one line and exit 1.
    let out = apitap(&[
        "replay",
        "--spec",
        "fixtures/synth/not-a-capture.pcap",
        "fixtures/demo/demo.pcap",
    ]);
    one_line_error(&out, 1, "not an OpenAPI description");
    // `apitap diff` on an inventory written without --spec: same verdicts, exit 3 (shadow and
    // zombie endpoints exist), JSON for machines.
    let inv = inventory_of("fixtures/demo/demo.pcap", "diff-inv.json");
    let out = apitap(&[
        "diff",
        "--spec",
        "fixtures/demo/shop-openapi.yaml",
        inv.to_str().unwrap_or(""),
    ]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ZOMBIE") && text.contains("/api/v1/products") && text.contains("ORPHAN"),
        "{text}"
    );
    let out = apitap(&[
        "diff",
        "--format",
        "json",
        "--spec",
        "fixtures/demo/shop-openapi.yaml",
        inv.to_str().unwrap_or(""),
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(v["zombie"][0]["path"], "/api/v1/products");
    assert_eq!(v["zombie"][0]["reason"], "deprecated");
    assert_eq!(v["orphan"].as_array().map(Vec::len), Some(2));
    // `diff` judges the saved state as `replay --spec` judged the traffic.
    assert_eq!(v["shadow"], d["shadow"]);
    assert_eq!(v["undocumented"], d["undocumented"]);
    // Documented endpoints doing more than documented: the query parameters of the deprecated
    // product list, the 401 of /users/me and the 404 of a missing user.
    let undocumented: Vec<String> = d["undocumented"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            format!(
                "{} {} {} {}",
                u["method"], u["path"], u["query_params"], u["status_codes"]
            )
        })
        .collect();
    assert_eq!(
        undocumented,
        [
            r#""GET" "/api/v1/products" ["category","page"] []"#,
            r#""GET" "/api/v1/users/me" [] [401]"#,
            r#""GET" "/api/v1/users/{userId}" [] [404]"#
        ]
    );
    assert_eq!(
        ep("GET", "/api/v1/users/me")["undocumented_status_codes"],
        serde_json::json!([401])
    );
}

#[test]
fn operations_dropped_from_the_previous_spec_revision_are_zombies() {
    let args = [
        "--spec",
        "fixtures/demo/shop-openapi.yaml",
        "--spec-previous",
        "fixtures/demo/shop-openapi-prev.yaml",
    ];
    let (doc, _) = replay(&["fixtures/demo/demo.pcap"], &args, "spec-prev");
    let d = &doc["spec_diff"];
    let zombies: Vec<String> = d["zombie"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|z| format!("{} {} {}", z["method"], z["path"], z["reason"]))
        .collect();
    // PUT of a v1 order and the orders of a user were documented in 2.2 and dropped in 2.3,
    // and are still called; the product list is deprecated.
    assert_eq!(
        zombies,
        [
            r#""PUT" "/api/v1/orders/{orderId}" "removed""#,
            r#""GET" "/api/v1/products" "deprecated""#,
            r#""GET" "/api/v1/users/{userId}/orders" "removed""#
        ]
    );
    assert_eq!(d["removed_operations"], 3);
    assert_eq!(
        d["operations"], 10,
        "removed operations are not this revision's"
    );
    // A dropped operation nobody calls is neither a zombie nor an orphan.
    assert!(!doc.to_string().contains("/coupons"));
    // The same through `apitap diff` on an inventory written without a spec.
    let inv = inventory_of("fixtures/demo/demo.pcap", "spec-prev-plain.json");
    let mut diff_args = vec!["diff", "--format", "json"];
    diff_args.extend_from_slice(&args);
    diff_args.push(inv.to_str().unwrap_or(""));
    let out = apitap(&diff_args);
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(v["zombie"], d["zombie"]);
    // --spec-previous needs --spec.
    let out = apitap(&[
        "replay",
        "--spec-previous",
        "fixtures/demo/shop-openapi-prev.yaml",
        "fixtures/demo/demo.pcap",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn openapi_export_describes_the_observed_api() {
    let inv = inventory_of("fixtures/demo/demo.pcap", "openapi-inv.json");
    let api = tmp("observed.json");
    let out = apitap(&[
        "openapi",
        inv.to_str().unwrap_or(""),
        "-o",
        api.to_str().unwrap_or(""),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value =
        serde_json::from_slice(&std::fs::read(&api).unwrap_or_default()).unwrap_or_default();
    assert_eq!(v["openapi"], "3.1.0");
    let op = &v["paths"]["/api/v1/users/{id}"]["get"];
    assert_eq!(op["parameters"][0]["name"], "id");
    assert_eq!(op["parameters"][0]["schema"]["type"], "integer");
    let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(schema["properties"]["email"]["format"], "email", "{schema}");
    assert!(v["components"]["securitySchemes"]["bearerAuth"].is_object());
    // YAML by default.
    let y = tmp("observed.yaml");
    let out = apitap(&[
        "openapi",
        inv.to_str().unwrap_or(""),
        "-o",
        y.to_str().unwrap_or(""),
    ]);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&y).unwrap_or_default();
    assert!(
        text.contains("openapi: 3.1.0"),
        "{}",
        &text[..text.len().min(200)]
    );
}

/// Adaptive scanning skips bodies that repeat what the connection already showed on an
/// endpoint, but a value of a new kind planted late in a long keep-alive connection, in a
/// field every body has or in a new field, is still found; `--scan all` scans everything.
#[test]
fn adaptive_scanning_still_finds_values_planted_late() {
    let resp = |body: String| common::json_ok(&body);
    let mut pairs = Vec::new();
    for i in 0..60u32 {
        let note = match i {
            37 => "call me, SSN 536-22-8741 on file".to_string(),
            _ => format!("order {i} shipped"),
        };
        let extra = if i == 51 {
            r#","iban":"GB82 WEST 1234 5698 7654 32""#
        } else {
            ""
        };
        let body =
            format!(r#"{{"id":{i},"status":"shipped","note":"{note}","total":{i}.50{extra}}}"#);
        let req = format!("GET /orders/{i} HTTP/1.1\r\nHost: shop.example\r\n\r\n").into_bytes();
        pairs.push((req, resp(body)));
    }
    let pcap = tmp("adaptive.pcap");
    write_pcap(&pcap, &pairs);
    let p = pcap.to_str().expect("utf-8 path");
    let kinds = |doc: &Value| -> Vec<String> {
        let ep = &doc["endpoints"][0];
        assert_eq!(ep["hits"], 60, "{ep}");
        let mut v: Vec<String> = ep["pii"]
            .as_array()
            .expect("pii")
            .iter()
            .map(|h| {
                format!(
                    "{} {}",
                    h["type"].as_str().unwrap_or(""),
                    h["field"].as_str().unwrap_or("")
                )
            })
            .collect();
        v.sort();
        v
    };
    let (adaptive, _) = replay(&[p], &[], "adaptive");
    let (all, _) = replay(&[p], &["--scan", "all"], "scan-all");
    let want = vec!["iban $.iban".to_string(), "us_ssn $.note".to_string()];
    assert_eq!(kinds(&adaptive), want);
    assert_eq!(kinds(&all), want);
    let scanned = |d: &Value| d["stats"]["scan"]["bodies_scanned"].as_u64().unwrap_or(0);
    assert_eq!(scanned(&all), 60);
    // The first body, one in 16 after it, and the two with something new.
    assert!(scanned(&adaptive) <= 8, "{}", adaptive["stats"]["scan"]);
    assert_eq!(
        scanned(&adaptive)
            + adaptive["stats"]["scan"]["bodies_sampled_out"]
                .as_u64()
                .unwrap_or(0),
        60
    );
    assert_eq!(
        adaptive["endpoints"][0]["bodies_scanned"],
        adaptive["stats"]["scan"]["bodies_scanned"]
    );
}

/// Templating on traffic generated from real descriptions by bench/specf1.py, which also
/// scores the inventory against the operations: GitHub's repository API (owners and
/// repositories as slugs, a few busy ones and a long tail) and Kubernetes' namespaced
/// resources (API groups and resource names that answer alike, namespaces and objects as
/// slugs). Every operation is one endpoint, none merged with another.
#[test]
fn real_descriptions_are_named_once_per_operation() {
    for (name, operations) in [("github-repos", 300.0), ("kubernetes-namespaced", 225.0)] {
        let spec = root().join(format!("fixtures/specs/{name}.json"));
        let script = root().join("bench/specf1.py");
        let (pcap, inv) = (tmp(&format!("{name}.pcap")), tmp(&format!("{name}.json")));
        let py = |args: &[&std::ffi::OsStr]| {
            let out = Command::new("python3")
                .arg(&script)
                .args(args)
                .output()
                .expect("python3 runs specf1.py");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        py(&["traffic".as_ref(), spec.as_os_str(), pcap.as_os_str()]);
        let out = apitap(&[
            "replay",
            "-q",
            "-o",
            inv.to_str().expect("utf8"),
            pcap.to_str().expect("utf8"),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = py(&["score".as_ref(), spec.as_os_str(), inv.as_os_str()]);
        // "operations 300, endpoints 298, precision 1.0000, recall 0.9933, F1 0.9967,
        // over-merged endpoints 0", then the wrong endpoints.
        let figure = |label: &str| -> f64 {
            let at = report.find(label).expect("figure in report") + label.len();
            report[at..]
                .trim_start()
                .split(|c: char| c == ',' || c.is_whitespace())
                .next()
                .and_then(|v| v.parse().ok())
                .expect("a number")
        };
        assert_eq!(figure("operations"), operations, "{name}: {report}");
        assert!(figure("F1") >= 0.98, "{name}: {report}");
        assert_eq!(figure("over-merged endpoints"), 0.0, "{name}: {report}");
    }
}

/// Output to a named pipe (or a device such as /dev/null) is written in place: an atomic
/// rename over it would replace the pipe, or the system's /dev/null, with a plain file.
#[test]
fn outputs_to_a_pipe_are_written_in_place() {
    use std::os::unix::fs::FileTypeExt;
    // A directory of its own: other tests write their temp files beside theirs meanwhile.
    let dir = tmp("pipe");
    std::fs::create_dir_all(&dir).expect("dir");
    let fifo = dir.join("exchanges.fifo");
    let _ = std::fs::remove_file(&fifo);
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).expect("read the pipe"))
    };
    let inv = dir.join("inventory.json");
    let out = apitap(&[
        "replay",
        "-q",
        "-o",
        inv.to_str().expect("utf8"),
        "--exchanges",
        fifo.to_str().expect("utf8"),
        "fixtures/demo/demo.pcap",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Checked before waiting for the reader: had the pipe been renamed over, nothing
    // would ever open it for writing and the reader would wait forever.
    let kind = std::fs::symlink_metadata(&fifo)
        .expect("still there")
        .file_type();
    assert!(kind.is_fifo(), "the pipe was replaced: {kind:?}");
    let text = reader.join().expect("reader");
    let doc: Value =
        serde_json::from_slice(&std::fs::read(&inv).expect("inventory")).expect("json");
    assert_eq!(
        exchanges(&text).len() as u64,
        doc["stats"]["http"]["exchanges"].as_u64().expect("count"),
        "every record went through the pipe"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}
