//! Shared by the integration tests: Ethernet/IPv4/TCP frames, a pcap writer with
//! microsecond timestamps, a seeded random generator.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

/// One Ethernet/IPv4/TCP frame (no checksums: mirrors carry offloaded ones, apitap ignores them).
#[allow(clippy::too_many_arguments)]
pub fn frame(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut tcp = Vec::with_capacity(20 + payload.len());
    tcp.extend_from_slice(&sport.to_be_bytes());
    tcp.extend_from_slice(&dport.to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&ack.to_be_bytes());
    tcp.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    tcp.extend_from_slice(payload);
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&((20 + tcp.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&tcp);
    f
}

/// A classic pcap file (Ethernet, microseconds) written frame by frame.
pub struct Pcap(std::io::BufWriter<std::fs::File>, u64);

impl Pcap {
    pub fn create(p: &Path) -> Pcap {
        let mut w = std::io::BufWriter::new(std::fs::File::create(p).expect("pcap"));
        for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
            w.write_all(&v.to_le_bytes()).expect("write");
        }
        Pcap(w, 0)
    }

    /// A frame, 10 µs after the previous one.
    pub fn put(&mut self, f: &[u8]) {
        self.put_at(self.1 + 10, f);
    }

    /// A frame `us` microseconds after the first second of 2023-11-14 22:13:20 UTC.
    pub fn put_at(&mut self, us: u64, f: &[u8]) {
        self.1 = us;
        let (s, us) = (1_700_000_000 + us / 1_000_000, us % 1_000_000);
        for v in [s as u32, us as u32, f.len() as u32, f.len() as u32] {
            self.0.write_all(&v.to_le_bytes()).expect("write");
        }
        self.0.write_all(f).expect("write");
    }
}

/// The frames of one TCP connection carrying `pairs` (request, response) in turn: handshake,
/// data in segments of at most 1400 bytes, FIN from both sides.
pub fn connection(
    client: ([u8; 4], u16),
    server: ([u8; 4], u16),
    pairs: &[(Vec<u8>, Vec<u8>)],
) -> Vec<Vec<u8>> {
    connection_in_segments(client, server, pairs, 1400)
}

/// [`connection`] with segments of at most `seg` bytes.
pub fn connection_in_segments(
    (client, cport): ([u8; 4], u16),
    (server, sport): ([u8; 4], u16),
    pairs: &[(Vec<u8>, Vec<u8>)],
    seg: usize,
) -> Vec<Vec<u8>> {
    let mut seq = [1000u32, 5000u32];
    let mut frames = Vec::new();
    let mut pkt = |dir: usize, flags: u8, payload: &[u8]| {
        let f = if dir == 0 {
            frame(client, server, cport, sport, seq[0], seq[1], flags, payload)
        } else {
            frame(server, client, sport, cport, seq[1], seq[0], flags, payload)
        };
        seq[dir] = seq[dir].wrapping_add(payload.len() as u32 + u32::from(flags & 3 != 0));
        frames.push(f);
    };
    pkt(0, 0x02, b"");
    pkt(1, 0x12, b"");
    pkt(0, 0x10, b"");
    for (q, r) in pairs {
        for ch in q.chunks(seg) {
            pkt(0, 0x18, ch);
        }
        for ch in r.chunks(seg) {
            pkt(1, 0x18, ch);
        }
    }
    pkt(0, 0x11, b"");
    pkt(1, 0x11, b"");
    frames
}

/// A `200 OK` response carrying `body` as JSON, with its length.
pub fn json_ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A `GET` of `path` on `host` and its [`json_ok`] response carrying `body`.
pub fn json_get(host: &str, path: &str, body: &str) -> (Vec<u8>, Vec<u8>) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    (req.into_bytes(), json_ok(body))
}

/// xorshift64*: small, seeded, deterministic.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

/// The frames of a little-endian pcap file (as `Pcap` and tcpdump on x86 write them).
pub fn pcap_frames(p: &Path) -> Vec<Vec<u8>> {
    let b = std::fs::read(p).expect("pcap");
    assert_eq!(&b[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= b.len() {
        let incl = u32::from_le_bytes(b[at + 8..at + 12].try_into().expect("4")) as usize;
        out.push(b[at + 16..at + 16 + incl].to_vec());
        at += 16 + incl;
    }
    out
}

/// The inventory `apitap replay` writes for `pcap`.
pub fn offline_inventory(pcap: &Path) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_apitap"))
        .args(["replay", "-q", "-o", "-"])
        .arg(pcap)
        .output()
        .expect("replay");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("inventory json")
}

/// Stop a running `apitap capture` with SIGTERM (its final snapshot) and check it exited 0;
/// its stderr is returned.
pub fn terminate(child: std::process::Child) -> String {
    let st = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(st.is_ok_and(|s| s.success()), "kill -TERM failed");
    let out = child.wait_with_output().expect("apitap exits");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "apitap capture failed: {stderr}");
    stderr
}
