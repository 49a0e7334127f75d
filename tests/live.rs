//! Live capture on a veth pair inside network namespaces this test creates. Needs root,
//! iproute2, tcpdump and python3; runs when APITAP_NETNS_TESTS=1 (CI sets it) and fails,
//! rather than skips, if it cannot set up its namespaces then.
//!
//! Asserts: `apitap capture` writes periodic snapshots while running, writes the final
//! inventory on SIGTERM and exits 0, and its endpoints equal an offline replay of a tcpdump
//! capture of the same traffic.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

fn sh(args: &[&str]) {
    let st = Command::new(args[0])
        .args(&args[1..])
        .status()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(st.success(), "{args:?} failed");
}

struct Netns {
    srv: String,
    cli: String,
    kids: Vec<Child>,
}

impl Drop for Netns {
    fn drop(&mut self) {
        for k in &mut self.kids {
            let _ = k.kill();
            let _ = k.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.srv])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.cli])
            .status();
    }
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn endpoints(doc: &Value) -> Vec<(String, String, String, u64, Value)> {
    let mut v: Vec<_> = doc["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| {
            (
                e["host"].to_string(),
                e["method"].to_string(),
                e["path"].to_string(),
                e["hits"].as_u64().unwrap_or(0),
                e["status_codes"].clone(),
            )
        })
        .collect();
    v.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    v
}

#[test]
fn live_capture_on_a_veth_matches_offline_replay() {
    if std::env::var("APITAP_NETNS_TESTS").as_deref() != Ok("1") {
        eprintln!("live capture test not run: set APITAP_NETNS_TESTS=1 (needs root)");
        return;
    }
    let id = std::process::id();
    let mut ns = Netns {
        srv: format!("apitap-t{id}-s"),
        cli: format!("apitap-t{id}-c"),
        kids: Vec::new(),
    };
    let (srv, cli) = (ns.srv.clone(), ns.cli.clone());
    sh(&["ip", "netns", "add", &srv]);
    sh(&["ip", "netns", "add", &cli]);
    sh(&[
        "ip", "link", "add", "vt-s", "netns", &srv, "type", "veth", "peer", "name", "vt-c",
        "netns", &cli,
    ]);
    sh(&[
        "ip",
        "-n",
        &srv,
        "addr",
        "add",
        "10.78.0.1/24",
        "dev",
        "vt-s",
    ]);
    sh(&[
        "ip",
        "-n",
        &cli,
        "addr",
        "add",
        "10.78.0.2/24",
        "dev",
        "vt-c",
    ]);
    sh(&["ip", "-n", &srv, "link", "set", "vt-s", "up"]);
    sh(&["ip", "-n", &cli, "link", "set", "vt-c", "up"]);
    let _ = Command::new("ip")
        .args([
            "netns", "exec", &srv, "ethtool", "-K", "vt-s", "tso", "off", "gso", "off", "gro",
            "off",
        ])
        .stderr(Stdio::null())
        .status();
    let _ = Command::new("ip")
        .args([
            "netns", "exec", &cli, "ethtool", "-K", "vt-c", "tso", "off", "gso", "off", "gro",
            "off",
        ])
        .stderr(Stdio::null())
        .status();

    let dir = std::env::temp_dir().join(format!("apitap-live-{id}"));
    std::fs::create_dir_all(&dir).expect("tmp");
    let (inv, ex, pcap) = (
        dir.join("inv.json"),
        dir.join("ex.jsonl"),
        dir.join("same.pcap"),
    );
    let demo = root().join("fixtures/demo");
    let server = Command::new("ip")
        .args(["netns", "exec", &srv, "python3"])
        .arg(demo.join("api_server.py"))
        .args(["10.78.0.1", "8080"])
        .spawn()
        .expect("server");
    ns.kids.push(server);
    let apitap = Command::new("ip")
        .args([
            "netns",
            "exec",
            &srv,
            env!("CARGO_BIN_EXE_apitap"),
            "capture",
            "-i",
            "vt-s",
            "--bpf",
            "tcp port 8080",
            "--flush-interval",
            "1",
            "--threads",
            "2",
            "-o",
        ])
        .arg(&inv)
        .arg("--exchanges")
        .arg(&ex)
        .stderr(Stdio::piped())
        .spawn()
        .expect("apitap capture");
    let tcpdump = Command::new("ip")
        .args([
            "netns", "exec", &srv, "tcpdump", "-i", "vt-s", "-s", "0", "-U", "-w",
        ])
        .arg(&pcap)
        .args(["tcp", "port", "8080"])
        .stderr(Stdio::null())
        .spawn()
        .expect("tcpdump");
    ns.kids.push(tcpdump);
    // The first snapshot proves the capture loop runs.
    wait_for("first inventory snapshot", || inv.exists());
    let probe = "import socket; socket.create_connection(('10.78.0.1', 8080), 0.2).close()";
    wait_for("server", || {
        Command::new("ip")
            .args(["netns", "exec", &cli, "python3", "-c", probe])
            .status()
            .is_ok_and(|s| s.success())
    });
    std::thread::sleep(Duration::from_millis(500));
    sh(&[
        "ip",
        "netns",
        "exec",
        &cli,
        "python3",
        demo.join("api_client.py").to_str().expect("utf8"),
        "10.78.0.1",
        "8080",
    ]);
    std::thread::sleep(Duration::from_millis(1500));

    let pid = apitap.id().to_string();
    // `ip netns exec` execs apitap in place, so the child pid is apitap's.
    sh(&["kill", "-TERM", &pid]);
    let out = apitap.wait_with_output().expect("apitap exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "apitap capture failed: {stderr}");
    assert!(stderr.contains("HTTP exchanges"), "no summary: {stderr}");
    let tcpdump = ns.kids.pop().expect("tcpdump");
    sh(&["kill", "-INT", &tcpdump.id().to_string()]);
    ns.kids.push(tcpdump);

    let live: Value =
        serde_json::from_slice(&std::fs::read(&inv).expect("inventory")).expect("json");
    assert_eq!(live["capture"]["mode"], "live");
    assert_eq!(live["stats"]["capture"]["kernel_dropped"], 0);
    let rows = std::fs::read_to_string(&ex)
        .expect("exchanges")
        .lines()
        .count();
    assert!(rows >= 83, "only {rows} exchanges captured live");

    wait_for("tcpdump to finish", || {
        std::fs::metadata(&pcap).is_ok_and(|m| m.len() > 10_000)
    });
    std::thread::sleep(Duration::from_millis(500));
    let offline = Command::new(env!("CARGO_BIN_EXE_apitap"))
        .args(["replay", "-q", "-o", "-"])
        .arg(&pcap)
        .output()
        .expect("replay");
    assert!(
        offline.status.success(),
        "{}",
        String::from_utf8_lossy(&offline.stderr)
    );
    let offline: Value = serde_json::from_slice(&offline.stdout).expect("json");
    assert_eq!(endpoints(&live), endpoints(&offline));
    assert!(endpoints(&live)
        .iter()
        .any(|e| e.2 == "\"/api/v1/users/{id}\"" && e.3 >= 28));
}
