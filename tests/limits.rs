//! Memory stays within the caps whatever arrives: a million half-open connections (a SYN
//! flood on the mirror), one endless response body, and a flood of distinct slug paths. Each capture is generated here
//! (nothing committed), replayed by the release or debug binary, and the child's peak
//! resident memory (VmHWM, polled from /proc) is compared with a bound derived from the
//! caps; the overflow must show in the counters.

mod common;

use common::{frame, Pcap};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("apitap-limits-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d.join(name)
}

/// Run apitap; its exit status and peak resident set in KiB.
fn run_with_peak(args: &[&str]) -> (bool, u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_apitap"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("running apitap");
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status) {
            if let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kb);
            }
        }
        if let Ok(Some(st)) = child.try_wait() {
            return (st.success(), peak);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Replay `pcap` with `extra` flags; the inventory and the peak RSS in KiB.
fn replay_peak(pcap: &Path, extra: &[&str]) -> (Value, u64) {
    let inv = pcap.with_extension("json");
    let mut args = vec![
        "replay",
        pcap.to_str().expect("path"),
        "-q",
        "-o",
        inv.to_str().expect("path"),
    ];
    args.extend_from_slice(extra);
    let (ok, peak_kb) = run_with_peak(&args);
    assert!(ok, "apitap {args:?} failed");
    let doc =
        serde_json::from_slice(&std::fs::read(&inv).expect("inventory")).expect("inventory JSON");
    (doc, peak_kb)
}

#[test]
fn a_million_half_open_flows_stay_within_the_flow_cap() {
    let pcap = tmp("syn-flood.pcap");
    let mut w = Pcap::create(&pcap);
    for i in 0..1_000_000u32 {
        let src = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        w.put(&frame(
            src,
            [10, 255, 0, 1],
            1024 + (i % 60000) as u16,
            80,
            i.wrapping_mul(7),
            0,
            0x02,
            b"",
        ));
    }
    drop(w);
    let (doc, peak_kb) = replay_peak(&pcap, &[]);
    let st = &doc["stats"];
    // 131072 flows are tracked by default; the rest are refused and counted.
    assert_eq!(st["flow"]["flows"], 131_072, "{}", st["flow"]);
    assert_eq!(
        st["dropped"]["flows_dropped_table_full"],
        1_000_000 - 131_072
    );
    assert!(
        peak_kb < 256 * 1024,
        "peak RSS {peak_kb} KiB with a million half-open flows"
    );
    // A smaller cap holds less.
    let (small, small_kb) = replay_peak(&pcap, &["--max-flows", "10000"]);
    assert_eq!(small["stats"]["flow"]["flows"], 10_000);
    assert!(
        small_kb < peak_kb,
        "{small_kb} KiB with 10k flows vs {peak_kb} KiB with 131k"
    );
    let _ = std::fs::remove_file(&pcap);
}

#[test]
fn an_endless_body_is_analysed_up_to_the_cap_and_skipped_after() {
    let pcap = tmp("endless.pcap");
    let mut w = Pcap::create(&pcap);
    let (c, s) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let (mut cs, mut ss) = (1000u32, 9000u32);
    w.put(&frame(c, s, 40000, 80, cs, 0, 0x02, b""));
    w.put(&frame(s, c, 80, 40000, ss, cs + 1, 0x12, b""));
    cs += 1;
    ss += 1;
    let req = b"GET /export HTTP/1.1\r\nHost: big.example\r\n\r\n";
    w.put(&frame(c, s, 40000, 80, cs, ss, 0x18, req));
    cs += req.len() as u32;
    let head =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    w.put(&frame(s, c, 80, 40000, ss, cs, 0x18, head));
    ss += head.len() as u32;
    // 256 MiB of chunked JSON that never ends, in 1400-byte segments.
    let row =
        br#"{"id":12345,"email":"jane.roe@fastmail.fm","note":"lorem ipsum dolor sit amet"},"#;
    let data: Vec<u8> = row.iter().copied().cycle().take(1392).collect();
    let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
    chunk.extend_from_slice(&data);
    chunk.extend_from_slice(b"\r\n");
    let segments = (256 << 20) / chunk.len();
    for _ in 0..segments {
        w.put(&frame(s, c, 80, 40000, ss, cs, 0x10, &chunk));
        ss = ss.wrapping_add(chunk.len() as u32);
    }
    drop(w);
    let (doc, peak_kb) = replay_peak(&pcap, &[]);
    eprintln!("endless body: peak RSS {peak_kb} KiB");
    let ep = &doc["endpoints"][0];
    assert_eq!(ep["path"], "/export", "{ep}");
    // The body was parsed to the end of the capture, kept up to the cap, scanned there.
    assert!(
        ep["pii"]
            .as_array()
            .is_some_and(|p| p.iter().any(|h| h["type"] == "email")),
        "{ep}"
    );
    let not_kept = doc["stats"]["http"]["body_bytes_not_kept"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        not_kept > 250 << 20,
        "body bytes beyond the cap are counted: {not_kept}"
    );
    assert!(
        peak_kb < 128 * 1024,
        "peak RSS {peak_kb} KiB for one endless body"
    );
    let _ = std::fs::remove_file(&pcap);
}

#[test]
fn a_flood_of_distinct_slug_paths_is_folded_within_bounded_memory() {
    // 60,000 exchanges, each to its own path of two to four random slugs: 60,000 raw
    // endpoints if nothing folded them before the end (about 400 MB).
    let pcap = tmp("slugs.pcap");
    let mut w = Pcap::create(&pcap);
    let mut rng = common::Rng(7);
    let words = ["alpha", "bravo", "delta", "kilo", "tango", "zulu"];
    let slug = |rng: &mut common::Rng| {
        let tail: String = (0..5 + rng.below(4))
            .map(|_| char::from(b'a' + rng.below(26) as u8))
            .collect();
        format!("{}-{tail}", words[rng.below(6) as usize])
    };
    for conn in 0..100u16 {
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..600)
            .map(|i| {
                let path: String = (0..2 + rng.below(3))
                    .map(|_| format!("/{}", slug(&mut rng)))
                    .collect();
                let body = format!(r#"{{"name":"{}","n":{i}}}"#, slug(&mut rng));
                common::json_get("flood.example", &path, &body)
            })
            .collect();
        for f in common::connection(([10, 1, 0, 1], 20000 + conn), ([10, 2, 0, 1], 80), &pairs) {
            w.put(&f);
        }
    }
    drop(w);
    let (one, _) = replay_peak(&pcap, &["--threads", "1"]);
    let (doc, peak_kb) = replay_peak(&pcap, &["--threads", "2"]);
    eprintln!("slug flood: peak RSS {peak_kb} KiB");
    let inv = &doc["stats"]["inventory"];
    let eps = doc["endpoints"].as_array().expect("endpoints");
    // Every exchange counted, in a handful of templates (one per number of segments).
    let hits: u64 = eps.iter().filter_map(|e| e["hits"].as_u64()).sum();
    assert_eq!(hits, 60_000, "{inv}");
    assert!(eps.len() <= 6, "{} endpoints: {inv}", eps.len());
    assert!(inv["folds"].as_u64().unwrap_or(0) >= 1, "{inv}");
    assert!(
        inv["merged_by_folding"].as_u64().unwrap_or(0) > 50_000,
        "{inv}"
    );
    // Hand-overs and folds come at packet counts: the thread count changes nothing.
    assert_eq!(one["endpoints"], doc["endpoints"]);
    assert_eq!(one["stats"]["inventory"], doc["stats"]["inventory"]);
    assert!(
        peak_kb < 160 * 1024,
        "peak RSS {peak_kb} KiB for 60,000 distinct paths"
    );
    let _ = std::fs::remove_file(&pcap);
}

#[test]
fn hand_overs_on_ordinary_traffic_change_nothing() {
    // 30,000 exchanges over 50 connections (about 60,000 packets: hand-overs at 16,384 and
    // 49,152 packets, then the end), 30 users by name each with their repositories.
    let pcap = tmp("ordinary.pcap");
    let mut w = Pcap::create(&pcap);
    let mut rng = common::Rng(11);
    let users: Vec<String> = (0..30)
        .map(|i| format!("{}{}", ["alice", "bob", "carol", "dave", "erin"][i % 5], i))
        .collect();
    for conn in 0..50u16 {
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..600)
            .map(|_| {
                let u = &users[rng.below(30) as usize];
                let (path, body) = match rng.below(3) {
                    0 => (
                        format!("/users/{u}"),
                        format!(r#"{{"login":"{u}","plan":"pro","id":7}}"#),
                    ),
                    1 => (
                        format!("/users/{u}/repos"),
                        r#"[{"name":"x","private":false,"size":1}]"#.to_string(),
                    ),
                    _ => (
                        format!("/orders/{}", 1000 + rng.below(90_000)),
                        r#"{"total":12,"currency":"EUR","state":"paid"}"#.to_string(),
                    ),
                };
                common::json_get("api.example", &path, &body)
            })
            .collect();
        for f in common::connection(([10, 3, 0, 1], 30000 + conn), ([10, 4, 0, 1], 80), &pairs) {
            w.put(&f);
        }
    }
    drop(w);
    let (one, _) = replay_peak(&pcap, &["--threads", "1"]);
    let (two, _) = replay_peak(&pcap, &["--threads", "2"]);
    let (three, _) = replay_peak(&pcap, &["--threads", "3"]);
    assert!(one["stats"]["packets"].as_u64().unwrap_or(0) > 49_152);
    let paths: Vec<&str> = one["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert_eq!(paths, ["/orders/{id}", "/users/{id}", "/users/{id}/repos"]);
    let hits: u64 = one["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .filter_map(|e| e["hits"].as_u64())
        .sum();
    assert_eq!(hits, 30_000);
    assert_eq!(one["stats"]["inventory"]["folds"], 0);
    for other in [&two, &three] {
        assert_eq!(one["endpoints"], other["endpoints"]);
        assert_eq!(one["stats"]["inventory"], other["stats"]["inventory"]);
    }
    let _ = std::fs::remove_file(&pcap);
}
