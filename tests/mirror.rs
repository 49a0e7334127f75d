//! Mirror-target mode on loopback (no root needed): `apitap capture --listen-vxlan` receives
//! the demo capture as VXLAN datagrams in two VNIs, and `--metrics` reports it.
//!
//! Asserts: across a restart with `--state` (VNI 7 in the first run, VNI 9 in the second),
//! the final inventory equals an offline replay of the same frames with each exchange counted
//! once per VNI (the same 5-tuple in two mirror sessions is two flows, and nothing learned
//! before the restart is lost), and the exchanges carry their VNI; `/metrics` and `/healthz` answer while it runs; while the process is stopped
//! (SIGSTOP) and a burst overflows its socket, every datagram sent is either received or
//! counted as dropped by the kernel, exactly; SIGHUP reopens the exchanges file after it was
//! moved away.

mod common;

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

fn vxlan(vni: u32, frame: &[u8]) -> Vec<u8> {
    let v = vni.to_be_bytes();
    let mut d = vec![0x08, 0, 0, 0, v[1], v[2], v[3], 0];
    d.extend_from_slice(frame);
    d
}

fn free_port() -> u16 {
    let s = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    s.local_addr().expect("addr").port()
}

fn scrape(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

/// Kills the sensor if the test fails before it stops it.
struct Reap(u32);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
    }
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn endpoints(doc: &Value) -> BTreeMap<(String, String, String), u64> {
    doc["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| {
            let k = |f: &str| e[f].as_str().unwrap_or_default().to_string();
            (
                (k("host"), k("method"), k("path")),
                e["hits"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn vxlan_mirror_target_matches_offline_replay_and_counts_its_drops() {
    let demo = root().join("fixtures/demo/demo.pcap");
    let dir = std::env::temp_dir().join(format!("apitap-mirror-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let (inv, ex, state) = (
        dir.join("inv.json"),
        dir.join("ex.jsonl"),
        dir.join("state.json"),
    );
    let (udp, mport) = (free_port(), free_port());
    let start = || {
        let child = Command::new(env!("CARGO_BIN_EXE_apitap"))
            .args(["capture", "--listen-vxlan", &format!("127.0.0.1:{udp}")])
            .args(["--metrics", &format!("127.0.0.1:{mport}"), "--threads", "2"])
            .args(["--flush-interval", "3600", "--log-format", "json", "-o"])
            .arg(&inv)
            .arg("--exchanges")
            .arg(&ex)
            .arg("--state")
            .arg(&state)
            .stderr(Stdio::piped())
            .spawn()
            .expect("apitap capture");
        wait_for("metrics endpoint", || {
            scrape(mport, "/healthz").is_some_and(|r| r.starts_with("HTTP/1.1 200"))
        });
        child
    };
    let tx = UdpSocket::bind("127.0.0.1:0").expect("sender");
    let frames = common::pcap_frames(&demo);
    // The demo in one VNI, paced so no datagram is dropped; returns how many were sent.
    let send = |vni: u32| {
        for (i, f) in frames.iter().enumerate() {
            tx.send_to(&vxlan(vni, f), ("127.0.0.1", udp))
                .expect("send");
            if i % 16 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let sent = frames.len() as u64;
        wait_for("every datagram counted and analysed", || {
            scrape(mport, "/metrics").is_some_and(|m| {
                metric(&m, "apitap_packets_total") == sent
                    && metric(&m, "apitap_exchanges_total") > 0
            })
        });
        sent
    };

    // First run: VNI 7, then SIGTERM; its final snapshot is the state the second run resumes.
    let first = start();
    let reap = Reap(first.id());
    send(7);
    common::terminate(first);
    drop(reap);
    assert!(state.exists(), "no state written at SIGTERM");

    // Second run: VNI 9, resuming the state.
    let apitap = start();
    let _reap = Reap(apitap.id());
    let sent = send(9);
    let m = scrape(mport, "/metrics").expect("metrics");
    assert_eq!(
        metric(&m, "apitap_kernel_dropped_total{where=\"socket\"}"),
        0,
        "{m}"
    );
    assert!(metric(&m, "apitap_exchanges_total") > 0, "{m}");
    assert_eq!(metric(&m, "apitap_snapshot_errors_total"), 0, "{m}");

    // Moved away, then SIGHUP: the next records go to a new file under the old name.
    let moved = dir.join("ex.jsonl.old");
    wait_for("exchanges written", || {
        std::fs::metadata(&ex).is_ok_and(|m| m.len() > 0)
    });
    std::fs::rename(&ex, &moved).expect("move exchanges");
    let pid = apitap.id().to_string();
    let kill = |sig: &str| {
        let st = Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill");
        assert!(st.success());
    };
    kill("-HUP");
    std::thread::sleep(Duration::from_millis(300));

    // Stopped, it cannot read: a burst overflows the socket buffer. Every datagram is then
    // either read or in the kernel's drop count. The inner packet is UDP, so the inventory
    // does not change.
    kill("-STOP");
    let noise = {
        let mut f = frames[0][..14].to_vec();
        f.extend_from_slice(&[
            0x45, 0, 0x05, 0x78, 0, 0, 0, 0, 64, 17, 0, 0, 10, 9, 9, 1, 10, 9, 9, 2,
        ]);
        f.extend_from_slice(&[0x13, 0x88, 0x13, 0x89, 0x05, 0x64, 0, 0]);
        f.resize(14 + 1400, 0xab);
        vxlan(7, &f)
    };
    let burst = 60_000u64;
    for _ in 0..burst {
        let _ = tx.send_to(&noise, ("127.0.0.1", udp));
    }
    kill("-CONT");
    let total = sent + burst;
    wait_for("received + dropped = sent", || {
        scrape(mport, "/metrics").is_some_and(|m| {
            metric(&m, "apitap_kernel_received_total")
                + metric(&m, "apitap_kernel_dropped_total{where=\"socket\"}")
                == total
        })
    });
    let m = scrape(mport, "/metrics").expect("metrics");
    let dropped = metric(&m, "apitap_kernel_dropped_total{where=\"socket\"}");
    assert!(
        dropped > 0,
        "the burst should have overflowed the socket:\n{m}"
    );
    assert_eq!(metric(&m, "apitap_packets_total"), total - dropped);

    kill("-TERM");
    let out = apitap.wait_with_output().expect("apitap exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // JSON logs: every log line is one JSON object.
    let logs: Vec<&str> = stderr.lines().filter(|l| l.starts_with('{')).collect();
    assert!(logs.iter().any(|l| l.contains("capturing")), "{stderr}");
    for l in &logs {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"));
    }

    let live: Value =
        serde_json::from_slice(&std::fs::read(&inv).expect("inventory")).expect("json");
    assert_eq!(live["stats"]["capture"]["kernel_dropped"], dropped);
    assert_eq!(live["stats"]["dropped"]["kernel_dropped"], dropped);
    assert!(live["capture"]["sources"][0]
        .as_str()
        .unwrap_or("")
        .starts_with("vxlan://127.0.0.1:"));
    let offline = common::offline_inventory(&demo);
    let want: BTreeMap<_, _> = endpoints(&offline)
        .into_iter()
        .map(|(k, n)| (k, 2 * n))
        .collect();
    assert_eq!(endpoints(&live), want);

    // Records of the first run and of the second before the HUP are in the moved file (the
    // second run appended), after it in the new one (at least the flows closed at exit);
    // together, each exchange once per VNI.
    let rows: Vec<Value> = [&moved, &ex]
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .map(|l| serde_json::from_str(&l).expect("record"))
        .collect();
    let per_vni = |v: u64| rows.iter().filter(|r| r["tunnel"] == v).count();
    let exchanges = offline["stats"]["exchanges"].as_u64().expect("exchanges") as usize;
    assert_eq!((per_vni(7), per_vni(9)), (exchanges, exchanges));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Slug traffic: three batches of 12, 3 and 15 users, each user's profile and repositories
/// fetched twice, and `/api/users/me` in every batch.
fn slug_batches() -> Vec<Vec<Vec<u8>>> {
    let names = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
        "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter",
        "xena", "yolanda", "zeke", "amir", "bianca", "chen", "dmitri", "elena", "farah", "goran",
        "hana",
    ];
    let get = |path: &str, body: &str| {
        (
            format!(
                "GET {path} HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer t\r\n\r\n"
            )
            .into_bytes(),
            common::json_ok(body),
        )
    };
    [&names[..12], &names[12..15], &names[15..]]
        .iter()
        .enumerate()
        .map(|(b, batch)| {
            let mut frames = Vec::new();
            for (i, n) in batch.iter().enumerate() {
                let mut pairs = Vec::new();
                for _ in 0..2 {
                    pairs.push(get(
                        &format!("/api/users/{n}"),
                        &format!("{{\"login\":\"{n}\",\"id\":{i}}}"),
                    ));
                    pairs.push(get(
                        &format!("/api/users/{n}/repos"),
                        "[{\"name\":\"x\",\"stars\":1}]",
                    ));
                }
                pairs.push(get("/api/users/me", "{\"login\":\"me\",\"plan\":\"pro\"}"));
                let port = 40000 + (b * 100 + i) as u16;
                frames.extend(common::connection(
                    ([10, 1, 0, 2], port),
                    ([10, 1, 0, 1], 80),
                    &pairs,
                ));
            }
            frames
        })
        .collect()
}

#[test]
fn folding_at_every_snapshot_gives_the_templates_of_one_offline_pass() {
    let dir = std::env::temp_dir().join(format!("apitap-fold-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let (inv, pcap) = (dir.join("inv.json"), dir.join("all.pcap"));
    let batches = slug_batches();
    let mut w = common::Pcap::create(&pcap);
    for f in batches.iter().flatten() {
        w.put(f);
    }
    drop(w);
    let (udp, mport) = (free_port(), free_port());
    let apitap = Command::new(env!("CARGO_BIN_EXE_apitap"))
        .args([
            "capture",
            "-q",
            "--listen-vxlan",
            &format!("127.0.0.1:{udp}"),
        ])
        .args([
            "--metrics",
            &format!("127.0.0.1:{mport}"),
            "--flush-interval",
            "1",
        ])
        // Fold at every snapshot (by default only past 50,000 endpoints held).
        .args(["--fold-above", "1", "-o"])
        .arg(&inv)
        .stderr(Stdio::piped())
        .spawn()
        .expect("apitap capture");
    let _reap = Reap(apitap.id());
    wait_for("metrics endpoint", || {
        scrape(mport, "/healthz").is_some_and(|r| r.starts_with("HTTP/1.1 200"))
    });
    let tx = UdpSocket::bind("127.0.0.1:0").expect("sender");
    let (mut sent, mut snapshots) = (0u64, 0u64);
    // Each batch is followed by a fold: the users of the first are a parameter before the
    // second arrives, and later users join it.
    for (b, batch) in batches.iter().enumerate() {
        for (i, f) in batch.iter().enumerate() {
            tx.send_to(&vxlan(3, f), ("127.0.0.1", udp)).expect("send");
            if i % 16 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        sent += batch.len() as u64;
        wait_for("the batch analysed and folded", || {
            scrape(mport, "/metrics").is_some_and(|m| {
                metric(&m, "apitap_packets_total") == sent
                    && metric(&m, "apitap_snapshots_total") >= snapshots + 2
            })
        });
        snapshots = metric(
            &scrape(mport, "/metrics").expect("metrics"),
            "apitap_snapshots_total",
        );
        // Held after a fold: one endpoint per template, not one per user.
        let m = scrape(mport, "/metrics").expect("metrics");
        let held = metric(&m, "apitap_endpoints");
        assert_eq!(held, 3, "not folded after batch {b}:\n{m}");
        assert!(metric(&m, "apitap_folds_total") >= 1, "{m}");
    }
    common::terminate(apitap);
    let live: Value =
        serde_json::from_slice(&std::fs::read(&inv).expect("inventory")).expect("json");
    let offline = common::offline_inventory(&pcap);
    let want = endpoints(&offline);
    assert_eq!(endpoints(&live), want);
    assert_eq!(want.len(), 3, "{want:?}");
    assert_eq!(
        want.get(&(
            "api.example.com".into(),
            "GET".into(),
            "/api/users/me".into()
        )),
        Some(&30)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
