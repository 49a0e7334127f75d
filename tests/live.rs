//! Live capture on a veth pair inside network namespaces this test creates. Needs root,
//! iproute2, tcpdump and python3; runs when APITAP_NETNS_TESTS=1 (CI sets it) and fails,
//! rather than skips, if it cannot set up its namespaces then.
//!
//! Asserts: `apitap capture` writes periodic snapshots while running, writes the final
//! inventory on SIGTERM and exits 0, and its endpoints equal an offline replay of a tcpdump
//! capture of the same traffic.

mod common;

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

impl Netns {
    /// Two namespaces joined by a veth pair (`ifs`: server side, client side), offloads off
    /// so the capture sees wire-sized segments; with `addrs`, 10.78.0.1 and 10.78.0.2.
    fn pair(tag: &str, ifs: (&str, &str), addrs: bool) -> Netns {
        let id = std::process::id();
        let ns = Netns {
            srv: format!("apitap-{tag}{id}-s"),
            cli: format!("apitap-{tag}{id}-c"),
            kids: Vec::new(),
        };
        let (srv, cli) = (ns.srv.as_str(), ns.cli.as_str());
        sh(&["ip", "netns", "add", srv]);
        sh(&["ip", "netns", "add", cli]);
        sh(&[
            "ip", "link", "add", ifs.0, "netns", srv, "type", "veth", "peer", "name", ifs.1,
            "netns", cli,
        ]);
        for (n, i, a) in [(srv, ifs.0, "10.78.0.1/24"), (cli, ifs.1, "10.78.0.2/24")] {
            if addrs {
                sh(&["ip", "-n", n, "addr", "add", a, "dev", i]);
            }
            sh(&["ip", "-n", n, "link", "set", i, "up"]);
            let _ = Command::new("ip")
                .args([
                    "netns", "exec", n, "ethtool", "-K", i, "tso", "off", "gso", "off", "gro",
                    "off",
                ])
                .stderr(Stdio::null())
                .status();
        }
        ns
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
    let mut ns = Netns::pair("t", ("vt-s", "vt-c"), true);
    let (srv, cli) = (ns.srv.clone(), ns.cli.clone());
    let dir = std::env::temp_dir().join(format!("apitap-live-{id}"));
    std::fs::create_dir_all(&dir).expect("tmp");
    // The sensor drops to `nobody` once its sockets are open: its outputs go where nobody
    // may write.
    sh(&["chmod", "0777", dir.to_str().expect("utf8")]);
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
            "--user",
            "nobody",
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
    // The first snapshot proves the capture loop runs, as nobody, with no capability left.
    wait_for("first inventory snapshot", || inv.exists());
    let status = std::fs::read_to_string(format!("/proc/{}/status", apitap.id())).expect("status");
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    assert_eq!(field("Uid:"), "65534 65534 65534 65534", "{status}");
    assert_eq!(field("CapEff:"), "0000000000000000", "{status}");
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
    // Two capture sockets in one fanout group (--threads 2), each counted.
    assert_eq!(
        live["capture"]["sources"],
        serde_json::json!(["vt-s", "vt-s"])
    );
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
    let offline = common::offline_inventory(&pcap);
    assert_eq!(endpoints(&live), endpoints(&offline));
    assert!(endpoints(&live)
        .iter()
        .any(|e| e.2 == "\"/api/v1/users/{id}\"" && e.3 >= 28));
}

/// Frames of TCP port 9 carrying bytes that are not HTTP: traffic that changes no endpoint.
fn noise_pcap(p: &Path, packets: u32) {
    let mut w = common::Pcap::create(p);
    for i in 0..packets {
        let f = common::frame(
            [10, 9, 0, 1],
            [10, 9, 0, 2],
            40000 + (i % 50) as u16,
            9,
            1 + i * 1400,
            1,
            0x18,
            &[0xee; 1400],
        );
        w.put(&f);
    }
}

#[test]
fn tcpreplay_at_a_fixed_rate_equals_offline_replay_and_overload_is_counted() {
    if std::env::var("APITAP_NETNS_TESTS").as_deref() != Ok("1") {
        eprintln!("tcpreplay test not run: set APITAP_NETNS_TESTS=1 (needs root, tcpreplay)");
        return;
    }
    let ns = Netns::pair("r", ("vr-s", "vr-c"), false);
    let (srv, cli) = (ns.srv.clone(), ns.cli.clone());
    let dir = std::env::temp_dir().join(format!("apitap-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let (inv, noise) = (dir.join("inv.json"), dir.join("noise.pcap"));
    let demo = root().join("fixtures/demo/demo.pcap");
    noise_pcap(&noise, 12_000);
    // A small ring (1 MiB per socket, two sockets) that a stopped reader overflows.
    let apitap = Command::new("ip")
        .args([
            "netns",
            "exec",
            &srv,
            env!("CARGO_BIN_EXE_apitap"),
            "capture",
        ])
        .args([
            "-i",
            "vr-s",
            "--bpf",
            "tcp",
            "--threads",
            "2",
            "--ring-mib",
            "1",
        ])
        .args(["--flush-interval", "1", "-o"])
        .arg(&inv)
        .stderr(Stdio::piped())
        .spawn()
        .expect("apitap capture");
    let pid = apitap.id().to_string();
    wait_for("first inventory snapshot", || inv.exists());
    let replay = |args: &[&str], file: &Path| {
        let out = Command::new("ip")
            .args(["netns", "exec", &cli, "tcpreplay", "-i", "vr-c"])
            .args(args)
            .arg(file)
            .output()
            .expect("tcpreplay");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // At a rate it keeps up with: nothing dropped, the same inventory as offline.
    replay(&["--pps", "4000"], &demo);
    // Stopped while a burst arrives: the kernel drops what the ring cannot hold and says so.
    sh(&["kill", "-STOP", &pid]);
    replay(&["--topspeed"], &noise);
    sh(&["kill", "-CONT", &pid]);
    std::thread::sleep(Duration::from_millis(2500));
    common::terminate(apitap);

    let live: Value =
        serde_json::from_slice(&std::fs::read(&inv).expect("inventory")).expect("json");
    let sent = (common::pcap_frames(&demo).len() + common::pcap_frames(&noise).len()) as u64;
    let st = &live["stats"];
    let read = st["packets"].as_u64().expect("packets");
    let dropped = st["capture"]["kernel_dropped"]
        .as_u64()
        .expect("kernel_dropped");
    assert!(dropped > 0, "the burst should overflow a 2 MiB ring: {st}");
    assert_eq!(
        read + dropped,
        sent,
        "read {read} + dropped {dropped} != sent {sent}"
    );
    assert_eq!(st["capture"]["kernel_received"], sent);
    assert_eq!(st["dropped"]["kernel_dropped"], dropped);
    let offline = common::offline_inventory(&demo);
    assert_eq!(endpoints(&live), endpoints(&offline));
    let _ = std::fs::remove_dir_all(&dir);
}
