//! HTTP parser throughput on a body-heavy keep-alive stream: 200 exchanges per connection,
//! JSON responses of 4-60 KB (Content-Length and chunked), fed in 1448-byte segments the
//! way reassembly delivers them; once plain, once gzip-encoded.
//!
//! `cargo bench -p apitap-http --bench parse`

use apitap_flow::{Delivery, Dir, FlowCtx, FlowKey, Handler};
use apitap_http::{Connection, HttpConfig, Sink};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::io::Write;

fn ctx() -> FlowCtx {
    let c: std::net::SocketAddr = "10.0.0.1:40000".parse().expect("addr");
    let s: std::net::SocketAddr = "10.0.0.2:80".parse().expect("addr");
    FlowCtx {
        key: FlowKey::new(c.ip(), c.port(), s.ip(), s.port(), 0),
        orig: c,
        resp: s,
        saw_syn: true,
        first_ts: 0,
        last_ts: 0,
        reset: false,
    }
}

/// (client stream, server stream)
fn streams(gzip: bool) -> (Vec<u8>, Vec<u8>) {
    let (mut c, mut s) = (Vec::new(), Vec::new());
    for i in 0..200u32 {
        c.extend_from_slice(format!("GET /api/v1/users/{i}/orders?page=2 HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer abc.def.ghi\r\nAccept: application/json\r\nAccept-Encoding: gzip\r\n\r\n").as_bytes());
        let items: Vec<String> = (0..(50 + i % 700))
            .map(|k| format!(r#"{{"id":{k},"sku":"SKU-{k:06}","name":"item {k}","price":{k}.99,"tags":["a","b"]}}"#))
            .collect();
        let mut body = format!(
            r#"{{"orders":[{}],"total":{}}}"#,
            items.join(","),
            items.len()
        )
        .into_bytes();
        let mut head = String::from("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n");
        if gzip {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = e.write_all(&body);
            body = e.finish().unwrap_or_default();
            head.push_str("Content-Encoding: gzip\r\n");
        }
        if i % 2 == 0 {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            s.extend_from_slice(head.as_bytes());
            s.extend_from_slice(&body);
        } else {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
            s.extend_from_slice(head.as_bytes());
            for ch in body.chunks(8192) {
                s.extend_from_slice(format!("{:x}\r\n", ch.len()).as_bytes());
                s.extend_from_slice(ch);
                s.extend_from_slice(b"\r\n");
            }
            s.extend_from_slice(b"0\r\n\r\n");
        }
    }
    (c, s)
}

fn feed(c: &[u8], s: &[u8]) -> usize {
    let ctx = ctx();
    let mut conn = Connection::new(HttpConfig::default(), &ctx);
    let mut out = Sink::default();
    for (dir, data) in [(Dir::Orig, c), (Dir::Resp, s)] {
        let mut off = 0u64;
        for seg in data.chunks(1448) {
            let d = Delivery::Data {
                offset: off,
                seq: off as u32,
                ts: off,
                ack: Some(if dir == Dir::Resp { c.len() as u32 } else { 0 }),
                data: seg,
            };
            conn.on_delivery(&ctx, dir, d, &mut out);
            off += seg.len() as u64;
        }
    }
    conn.on_close(&ctx, apitap_flow::CloseReason::End, &mut out);
    out.exchanges.len()
}

fn bench(cr: &mut Criterion) {
    for gzip in [false, true] {
        let (c, s) = streams(gzip);
        assert_eq!(feed(&c, &s), 200);
        let mut g = cr.benchmark_group(if gzip { "http_gzip" } else { "http_plain" });
        g.throughput(Throughput::Bytes((c.len() + s.len()) as u64));
        g.sample_size(20);
        g.bench_function("keep_alive_200", |b| {
            b.iter(|| black_box(feed(black_box(&c), black_box(&s))))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
