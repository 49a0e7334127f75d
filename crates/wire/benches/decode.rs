//! Frame decoding throughput: what the reader thread does for every packet. Full-size and
//! ACK-only Ethernet/IPv4/TCP frames, the same behind an 802.1Q tag, IPv6, and the mirror
//! encapsulations (VXLAN, GRE/ERSPAN II) around an inner TCP frame.
//!
//! `cargo bench -p apitap-wire --bench decode`

use apitap_wire::{decode, DecodeConfig, LinkType, Transport};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

fn tcp(payload: usize) -> Vec<u8> {
    let mut t = vec![
        0x9c, 0x40, 0x1f, 0x90, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 0x50, 0x18, 0xff, 0xff,
    ];
    t.extend_from_slice(&[0, 0, 0, 0]);
    t.extend(std::iter::repeat_n(b'x', payload));
    t
}

fn ipv4(proto: u8, inner: &[u8]) -> Vec<u8> {
    let mut f = vec![0x45, 0];
    f.extend_from_slice(&((20 + inner.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend_from_slice(inner);
    f
}

fn ipv6(next: u8, inner: &[u8]) -> Vec<u8> {
    let mut f = vec![0x60, 0, 0, 0];
    f.extend_from_slice(&(inner.len() as u16).to_be_bytes());
    f.extend_from_slice(&[next, 64]);
    f.extend_from_slice(&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    f.extend_from_slice(inner);
    f
}

fn ether(ethertype: u16, vlan: Option<u16>, inner: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    if let Some(v) = vlan {
        f.extend_from_slice(&[0x81, 0]);
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(inner);
    f
}

fn udp(dport: u16, inner: &[u8]) -> Vec<u8> {
    let mut u = vec![0xc0, 0x00];
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + inner.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(inner);
    u
}

fn frames() -> Vec<(&'static str, Vec<u8>)> {
    let full = ether(0x0800, None, &ipv4(6, &tcp(1448)));
    let ack = ether(0x0800, None, &ipv4(6, &tcp(0)));
    let mut vxlan = vec![0x08, 0, 0, 0, 0, 0x10, 0x01, 0];
    vxlan.extend_from_slice(&full);
    // GRE with sequence number, protocol ERSPAN type II, then the ERSPAN II header.
    let mut gre = vec![0x10, 0, 0x88, 0xbe, 0, 0, 0, 1];
    gre.extend_from_slice(&[0x10, 0x07, 0, 0, 0, 0, 0, 0]);
    gre.extend_from_slice(&full);
    vec![
        ("ipv4_tcp_1448", full.clone()),
        ("ipv4_tcp_ack", ack),
        (
            "vlan_ipv4_tcp",
            ether(0x0800, Some(100), &ipv4(6, &tcp(1448))),
        ),
        ("ipv6_tcp", ether(0x86dd, None, &ipv6(6, &tcp(1448)))),
        (
            "vxlan_ipv4_tcp",
            ether(0x0800, None, &ipv4(17, &udp(4789, &vxlan))),
        ),
        ("erspan2_ipv4_tcp", ether(0x0800, None, &ipv4(47, &gre))),
    ]
}

fn bench(c: &mut Criterion) {
    let cfg = DecodeConfig::default();
    let mut g = c.benchmark_group("decode");
    for (name, f) in frames() {
        let d = decode(LinkType(1), &f, &cfg).expect("decodes");
        assert!(
            matches!(d.transport, Transport::Tcp(_)),
            "{name}: TCP inside"
        );
        g.throughput(Throughput::Elements(1));
        g.bench_function(name, |b| {
            b.iter(|| black_box(decode(LinkType(1), black_box(&f), &cfg)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
