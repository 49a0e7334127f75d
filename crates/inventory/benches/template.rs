//! Inventory costs: templating a request path (every exchange), counting an exchange into
//! its endpoint (every exchange), and learning templates from the raw endpoints of a
//! capture (at every fold and at the end).
//!
//! `cargo bench -p apitap-inventory --bench template`

#[path = "../tests/support/mod.rs"]
mod support;

use apitap_http::Exchange;
use apitap_inventory::{learn, template_path, Inventory};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::collections::BTreeSet;
use std::hint::black_box;

/// Paths as API traffic sends them: numeric ids, UUIDs, hashes, slugs, versions, queries.
fn paths(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 6 {
            0 => format!("/api/v1/users/{}", 10_000 + i * 7),
            1 => format!("/api/v1/users/{}/orders/{}", 10_000 + i, 500 + i % 97),
            2 => format!(
                "/v2/accounts/0b8a3d2e-6f1c-4b7a-9e2d-{:012x}/settings",
                i * 7919
            ),
            3 => format!(
                "/repos/acme-{}/widget-{}/commits/{:040x}",
                i % 50,
                i % 37,
                i * 104_729
            ),
            4 => format!(
                "/blog/posts/how-to-{}-your-api-{i}",
                ["test", "ship", "scale"][i % 3]
            ),
            _ => "/api/v1/catalogue".to_string(),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let ps = paths(600);
    let mut g = c.benchmark_group("inventory");
    g.throughput(Throughput::Elements(ps.len() as u64));
    g.bench_function("template_path", |b| {
        b.iter(|| {
            for p in &ps {
                black_box(template_path(black_box(p.as_bytes())));
            }
        })
    });

    let scanner = apitap_pii::Scanner::new();
    let body = r#"{"id":42,"name":"Widget","price":9.99,"tags":["a","b"],"owner":{"id":7}}"#;
    let xs: Vec<(Exchange, apitap_pii::Scan)> = ps
        .iter()
        .map(|p| {
            let target = format!("{p}?page=2&limit=50");
            let x = support::exchange("api.example.com", "GET", &target, body, 1);
            let s = scanner.scan(&x);
            (x, s)
        })
        .collect();
    g.bench_function("observe", |b| {
        b.iter(|| {
            let mut inv = Inventory::new(100_000);
            for (x, s) in &xs {
                black_box(inv.observe(x, s));
            }
            inv
        })
    });

    // Raw endpoints of 600 exchanges (slugs and commit hashes stay literal until learned).
    let mut raw = Inventory::new(100_000);
    for (x, s) in &xs {
        raw.observe(x, s);
    }
    let learned = learn(&raw, &BTreeSet::new());
    assert!(
        learned.endpoints.len() < raw.endpoints.len() / 4,
        "{} raw endpoints learned into {}",
        raw.endpoints.len(),
        learned.endpoints.len()
    );
    g.throughput(Throughput::Elements(raw.endpoints.len() as u64));
    g.bench_function("learn", |b| {
        b.iter(|| black_box(learn(black_box(&raw), &BTreeSet::new())))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
