//! Sensitive-data scanner throughput on JSON API responses: user records with personal
//! fields, nested addresses and tokens, plus catalogue pages with few sensitive values.
//!
//! `cargo bench -p apitap-pii --bench scan`

use apitap_pii::{Location, Scanner};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

fn users(n: usize) -> Vec<u8> {
    let rows: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"id":{i},"uuid":"0b8a3d2e-6f1c-4b7a-9e2d-{i:012}","first_name":"Jane","last_name":"Doe","email":"jane.doe{i}@acme-corp.com","phone":"+1 415-555-{:04}","address":{{"street":"{} Main St","city":"Springfield","zip":"62704"}},"created_at":"2024-03-01T12:00:00Z","plan":{{"name":"Pro","price":49.99}},"last_login_ip":"203.0.113.{}","roles":["user","billing"],"active":true}}"#,
                i % 10000,
                i % 900 + 1,
                i % 250 + 1
            )
        })
        .collect();
    format!(r#"{{"users":[{}],"next":"/users?page=2"}}"#, rows.join(",")).into_bytes()
}

fn catalogue(n: usize) -> Vec<u8> {
    let rows: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"id":{i},"sku":"SKU-{i:06}","name":"Blue widget {i}","description":"A widget that does what widgets do, size {i}.","price":{i}.99,"stock":{},"tags":["tools","garden"]}}"#, i % 50))
        .collect();
    format!(r#"{{"items":[{}],"total":{n}}}"#, rows.join(",")).into_bytes()
}

fn bench(c: &mut Criterion) {
    let scanner = Scanner::new();
    for (name, body) in [
        ("users_json", users(200)),
        // The size of a typical API response (one or two records): per-body costs show.
        ("users_json_small", users(2)),
        ("catalogue_json", catalogue(300)),
    ] {
        let mut g = c.benchmark_group("pii_scan");
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut hits = Vec::new();
                scanner.bytes(
                    Some(b"application/json"),
                    black_box(&body),
                    Location::ResponseBody,
                    &mut hits,
                );
                black_box(hits.len())
            })
        });
        g.bench_function(format!("{name}_triggers"), |b| {
            b.iter(|| black_box(scanner.triggers(black_box(&body))))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
