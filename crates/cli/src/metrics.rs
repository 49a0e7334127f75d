//! `--metrics ADDR`: Prometheus text exposition on `/metrics` and a liveness check on
//! `/healthz`, served by one small thread. The capture loop renders the text once a second;
//! a scrape only copies it, so a slow or hostile scraper cannot stall the capture.

use anyhow::{Context, Result};
use apitap_sensor::Totals;
use apitap_wire::Anomaly;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long the capture loop may go without a heartbeat before `/healthz` fails.
const STALL_SECS: u64 = 10;

/// What the server serves; the capture loop updates it.
#[derive(Debug, Default)]
pub struct Exposition {
    text: Mutex<String>,
    /// Unix seconds of the capture loop's last turn.
    heartbeat: AtomicU64,
}

impl Exposition {
    pub fn publish(&self, text: String) {
        if let Ok(mut t) = self.text.lock() {
            *t = text;
        }
    }

    pub fn beat(&self) {
        self.heartbeat.store(unix_secs(), Ordering::Relaxed);
    }

    fn healthy(&self) -> bool {
        unix_secs().saturating_sub(self.heartbeat.load(Ordering::Relaxed)) <= STALL_SECS
    }
}

fn unix_secs() -> u64 {
    crate::replay::now_ns() / 1_000_000_000
}

/// Bind `addr` (an error if taken) and serve in a background thread.
pub fn serve(addr: SocketAddr, expo: Arc<Exposition>) -> Result<SocketAddr> {
    let l = TcpListener::bind(addr).with_context(|| format!("--metrics {addr}: cannot bind"))?;
    let bound = l.local_addr()?;
    std::thread::Builder::new()
        .name("apitap-metrics".into())
        .spawn(move || {
            for s in l.incoming().flatten() {
                let _ = answer(s, &expo);
            }
        })
        .context("spawning the metrics thread")?;
    Ok(bound)
}

/// One request, one answer, then close. Reads at most 8 KiB of request head.
fn answer(mut s: TcpStream, expo: &Exposition) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let mut parts = line.split(|b| *b == b' ');
    let (method, target) = (parts.next().unwrap_or(&[]), parts.next().unwrap_or(&[]));
    let path = target.split(|b| *b == b'?').next().unwrap_or(&[]);
    let (status, ctype, body) = match (method, path) {
        (b"GET", b"/metrics") => {
            let text = expo.text.lock().map(|t| t.clone()).unwrap_or_default();
            ("200 OK", "text/plain; version=0.0.4; charset=utf-8", text)
        }
        (b"GET", b"/healthz") if expo.healthy() => ("200 OK", "text/plain", "ok\n".into()),
        (b"GET", b"/healthz") => (
            "503 Service Unavailable",
            "text/plain",
            "capture loop stalled\n".into(),
        ),
        (b"GET", _) => ("404 Not Found", "text/plain", "not found\n".into()),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// What the exposition shows beyond the pipeline's counters.
#[derive(Debug, Default, Clone)]
pub struct Extra {
    pub uptime_secs: f64,
    /// Findings by severity, as of the last snapshot.
    pub findings: Vec<(String, u64)>,
    pub snapshots: u64,
    pub snapshot_errors: u64,
    pub last_snapshot_unix: u64,
    /// Chunks the capture threads had to wait to hand over (the dispatcher was behind).
    pub capture_waits: u64,
    /// Endpoints held since the last snapshot (the workers' new ones come on top).
    pub endpoints_folded: u64,
    /// Snapshots that folded the inventory (see `--fold-above`).
    pub folds: u64,
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let esc = val
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.0, "{k}=\"{esc}\"");
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {v}");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, v: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], v);
    }
}

/// The Prometheus text of the counters so far.
pub fn render(t: &Totals, active_flows: u64, x: &Extra) -> String {
    let mut o = Out(String::with_capacity(16 << 10));
    let d = &t.dispatch;
    o.family(
        "apitap_build_info",
        "gauge",
        "Version of the running sensor.",
    );
    o.sample(
        "apitap_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1,
    );
    o.one(
        "apitap_uptime_seconds",
        "gauge",
        "Seconds since the capture started.",
        format!("{:.3}", x.uptime_secs),
    );
    o.one(
        "apitap_packets_total",
        "counter",
        "Packets handed to the decoder.",
        d.packets,
    );
    o.one(
        "apitap_bytes_total",
        "counter",
        "Captured bytes handed to the decoder.",
        d.bytes,
    );
    if let Some(l) = t.live {
        o.one(
            "apitap_kernel_received_total",
            "counter",
            "Packets the kernel delivered to the capture sockets.",
            l.received,
        );
        o.family(
            "apitap_kernel_dropped_total",
            "counter",
            "Packets the kernel dropped before apitap read them.",
        );
        o.sample(
            "apitap_kernel_dropped_total",
            &[("where", "socket")],
            l.dropped,
        );
        o.sample(
            "apitap_kernel_dropped_total",
            &[("where", "interface")],
            l.if_dropped,
        );
    }
    o.family(
        "apitap_decode_errors_total",
        "counter",
        "Frames that did not decode, by kind (not_ip is normal traffic such as ARP).",
    );
    for (k, n) in Anomaly::ALL.iter().zip(d.anomalies) {
        o.sample("apitap_decode_errors_total", &[("kind", k.name())], n);
    }
    o.one(
        "apitap_flows_active",
        "gauge",
        "TCP flows tracked now.",
        active_flows,
    );
    o.one(
        "apitap_flows_total",
        "counter",
        "TCP flows opened.",
        t.flow.flows,
    );
    o.one(
        "apitap_tcp_gaps_total",
        "counter",
        "Holes in TCP streams that will never be filled.",
        t.flow.streams.gaps,
    );
    o.one(
        "apitap_tcp_gap_bytes_total",
        "counter",
        "Bytes missing in those holes.",
        t.flow.streams.gap_bytes,
    );
    o.family(
        "apitap_dropped_total",
        "counter",
        "Packets, bytes or messages lost or not analysed, by reason.",
    );
    for (reason, n) in t.dropped_all() {
        o.sample("apitap_dropped_total", &[("reason", reason)], n);
    }
    o.one(
        "apitap_exchanges_total",
        "counter",
        "HTTP request/response exchanges parsed.",
        t.http.exchanges,
    );
    o.one(
        "apitap_endpoints",
        "gauge",
        "Endpoints held: those kept at the last snapshot plus those seen since.",
        t.endpoints,
    );
    o.family(
        "apitap_findings",
        "gauge",
        "Findings in the inventory by severity, as of the last snapshot.",
    );
    for (sev, n) in &x.findings {
        o.sample("apitap_findings", &[("severity", sev)], n);
    }
    let h = &t.http;
    o.family(
        "apitap_http_anomalies_total",
        "counter",
        "HTTP parse anomalies by kind.",
    );
    for (k, n) in [
        ("bad_heads", h.bad_heads),
        ("head_too_large", h.head_too_large),
        ("too_many_headers", h.too_many_headers),
        ("lenient_heads", h.lenient_heads),
        ("bad_content_length", h.bad_content_length),
        ("bad_chunks", h.bad_chunks),
        ("cl_te_conflicts", h.cl_te_conflicts),
        ("resyncs", h.resyncs),
        ("orphan_responses", h.orphan_responses),
        ("early_responses", h.early_responses),
        ("unanswered_requests", h.unanswered_requests),
        ("unparsed_streams", h.unparsed_streams),
    ] {
        o.sample("apitap_http_anomalies_total", &[("kind", k)], n);
    }
    o.family(
        "apitap_backpressure_waits_total",
        "counter",
        "Hand-overs that waited because the next stage was behind.",
    );
    o.sample(
        "apitap_backpressure_waits_total",
        &[("stage", "capture")],
        x.capture_waits,
    );
    o.sample(
        "apitap_backpressure_waits_total",
        &[("stage", "dispatch")],
        d.backpressure,
    );
    if let Some(rss) = resident_bytes() {
        o.one(
            "apitap_resident_memory_bytes",
            "gauge",
            "Resident set size of the process.",
            rss,
        );
    }
    o.one(
        "apitap_snapshots_total",
        "counter",
        "Inventory snapshots written.",
        x.snapshots,
    );
    o.one(
        "apitap_folds_total",
        "counter",
        "Snapshots that folded the held endpoints with the learned templates (--fold-above).",
        x.folds,
    );
    o.one(
        "apitap_snapshot_errors_total",
        "counter",
        "Inventory snapshots that failed to write.",
        x.snapshot_errors,
    );
    o.one(
        "apitap_last_snapshot_timestamp_seconds",
        "gauge",
        "Unix time of the last snapshot written.",
        x.last_snapshot_unix,
    );
    // Every other counter of the inventory's stats, one family per field.
    let json = t.to_json();
    for section in ["flow", "http", "defrag"] {
        if let Some(serde_json::Value::Object(m)) = json.get(section) {
            for (k, v) in m {
                if let Some(n) = v.as_u64() {
                    let name = format!("apitap_{section}_{k}_total");
                    o.one(
                        &name,
                        "counter",
                        &format!("stats.{section}.{k} of the inventory."),
                        n,
                    );
                }
            }
        }
    }
    o.0
}

/// Resident set size, from /proc/self/statm.
pub fn resident_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(addr: SocketAddr, req: &str) -> String {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.write_all(req.as_bytes()).expect("send");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out
    }

    #[test]
    fn serves_valid_exposition_and_health() {
        let expo = Arc::new(Exposition::default());
        let mut t = Totals::default();
        t.dispatch.packets = 42;
        t.dispatch.anomalies[1] = 3;
        t.live = Some(apitap_capture::LiveStats {
            received: 50,
            dropped: 8,
            if_dropped: 0,
        });
        let x = Extra {
            findings: vec![("high".into(), 2)],
            ..Extra::default()
        };
        expo.publish(render(&t, 7, &x));
        let addr = serve("127.0.0.1:0".parse().expect("addr"), expo.clone()).expect("bind");
        let m = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(m.starts_with("HTTP/1.1 200 OK\r\n"), "{m}");
        let body = m.split("\r\n\r\n").nth(1).expect("body");
        for want in [
            "apitap_packets_total 42\n",
            "apitap_kernel_dropped_total{where=\"socket\"} 8\n",
            "apitap_flows_active 7\n",
            "apitap_findings{severity=\"high\"} 2\n",
            &format!(
                "apitap_decode_errors_total{{kind=\"{}\"}} 3\n",
                Anomaly::ALL[1].name()
            ),
        ] {
            assert!(body.contains(want), "missing {want:?} in\n{body}");
        }
        // Text format: every sample's family was declared with HELP and TYPE before it, and
        // no family is declared twice.
        let mut declared = std::collections::HashSet::new();
        for l in body.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().expect("name");
                assert!(declared.insert(name.to_string()), "{name} declared twice");
            } else if !l.starts_with("# HELP ") {
                let name = l.split(['{', ' ']).next().expect("name");
                assert!(declared.contains(name), "{name} sampled before its TYPE");
                let v = l.rsplit(' ').next().expect("value");
                assert!(v.parse::<f64>().is_ok(), "bad value in {l}");
            }
        }
        // Not beaten yet: the capture loop has not run, so health fails; then it passes.
        assert!(get(addr, "GET /healthz HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 503"));
        expo.beat();
        assert!(get(addr, "GET /healthz HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200"));
        assert!(get(addr, "GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(get(addr, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        // A client that sends garbage and never ends its head does not wedge the server.
        let mut junk = TcpStream::connect(addr).expect("connect");
        junk.write_all(&[b'x'; 9000]).expect("send");
        drop(junk);
        assert!(get(addr, "GET /healthz HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200"));
    }
}
