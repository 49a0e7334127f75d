//! Heap allocations on the hot path, counted by a wrapping global allocator: what an extra
//! exchange costs through the whole pipeline (reassembly, HTTP, first look, scan, inventory,
//! exchange record), and that an extra segment in the middle of a body costs nothing.
//!
//! Both are marginal figures (the difference between two runs), so setup, thread start and
//! the final merge cancel out. The traffic is a JSON API: bearer tokens, ids in paths,
//! responses with names and emails, so that bodies are looked at, some scanned in full and
//! findings recorded.

mod common;

use apitap_capture::Packet;
use apitap_sensor::{Pipeline, SensorConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed to the system allocator unchanged; only a counter is added.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Frames of `conns` keep-alive connections carrying `per_conn` exchanges each, with bodies
/// sent in segments of at most `seg` bytes.
fn traffic(conns: u16, per_conn: usize, seg: usize) -> Vec<Vec<u8>> {
    let mut rng = common::Rng(0x5eed);
    let mut frames = Vec::new();
    for c in 0..conns {
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..per_conn)
            .map(|i| {
                let id = rng.below(1_000_000);
                let path = match i % 3 {
                    0 => format!("/api/v1/users/{id}"),
                    1 => format!("/api/v1/orders/{id}/items?page={}", i % 7),
                    _ => "/api/v1/catalogue".to_string(),
                };
                let req = format!(
                    "GET {path} HTTP/1.1\r\nHost: api.example.test\r\nAuthorization: Bearer \
                     eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ7aWR9In0.c2lnbmF0dXJl{id}\r\nAccept: \
                     application/json\r\nUser-Agent: load/1.0\r\n\r\n"
                );
                let rows: Vec<String> = (0..8)
                    .map(|k| {
                        format!(
                            r#"{{"id":{k},"name":"Jane Doe","email":"jane{id}@mail.example.org","city":"Springfield","score":{}}}"#,
                            rng.below(1000)
                        )
                    })
                    .collect();
                let body = format!(r#"{{"items":[{}],"next":null}}"#, rows.join(","));
                (req.into_bytes(), common::json_ok(&body))
            })
            .collect();
        let cport = 40_000 + c;
        frames.extend(common::connection_in_segments(
            ([10, 0, 0, 2], cport),
            ([10, 0, 0, 1], 8080),
            &pairs,
            seg,
        ));
    }
    frames
}

/// Allocations while the pipeline (one worker, exchange records on) reads `frames`, and the
/// exchanges it reported.
fn run(frames: &[Vec<u8>]) -> (u64, u64) {
    let cfg = SensorConfig {
        threads: 1,
        ..SensorConfig::default()
    };
    let before = ALLOCS.load(Relaxed);
    let mut pipe = Pipeline::start(cfg, Some(Box::new(std::io::sink())));
    for (i, f) in frames.iter().enumerate() {
        let pkt = Packet {
            ts: 1_700_000_000_000_000_000 + i as u64 * 10_000,
            link: 1,
            file: 0,
            off: 0,
            caplen: f.len() as u32,
            origlen: f.len() as u32,
        };
        pipe.packet_owned(pkt, f);
    }
    let (snap, _, _) = pipe.finish();
    let used = ALLOCS.load(Relaxed) - before;
    (used, snap.http.exchanges)
}

#[test]
fn allocations_per_exchange_and_per_segment() {
    // Several connections, so that scans, samples and findings all happen.
    let small = traffic(12, 100, 1400);
    let large = traffic(12, 200, 1400);
    let (a_small, x_small) = run(&small);
    let (a_large, x_large) = run(&large);
    assert_eq!((x_small, x_large), (1200, 2400));
    let per_exchange = (a_large - a_small) as f64 / (x_large - x_small) as f64;
    println!("allocations per extra exchange: {per_exchange:.1}");
    // About 57 on this traffic, most of them small owned strings: the two heads' fields,
    // the JWT of every request's Authorization header decoded and its finding kept, the
    // inventory's key for the exchange. The bound catches a new allocation per exchange or
    // per header, not a change of a few.

    // The same exchanges in 100-byte segments: about ten times the packets. The extra ones
    // continue heads and bodies, which are appended, not allocated for: a head that
    // straddles segments reuses its direction's buffer, and a body of known length gets
    // room for all of it at once, but never more than four times what has arrived (a
    // length that promises much and sends little costs little). That rule is what is
    // left: a 1 KB body in 100-byte segments grows twice (400, then 1000 bytes), about
    // 0.2 allocations per extra segment. One allocation per segment would read 1.0.
    let fine = traffic(12, 200, 100);
    let (a_fine, x_fine) = run(&fine);
    assert_eq!(x_fine, 2400);
    let extra_packets = (fine.len() - large.len()) as f64;
    let per_segment = (a_fine as f64 - a_large as f64) / extra_packets;
    println!(
        "allocations per extra segment: {per_segment:.3} ({} more packets)",
        fine.len() - large.len()
    );
    assert!(
        per_exchange < 64.0,
        "{per_exchange:.1} allocations per exchange"
    );
    assert!(
        per_segment < 0.3,
        "{per_segment:.3} allocations per segment"
    );
}
