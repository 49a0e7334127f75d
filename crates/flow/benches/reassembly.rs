//! TCP reassembly throughput through a flow table: 64 keep-alive connections interleaved,
//! 1448-byte segments with their ACKs, delivered in order; then the same with one segment
//! in eight arriving after the next (out-of-order buffering and release) and one in fifty
//! sent twice (retransmission).
//!
//! `cargo bench -p apitap-flow --bench reassembly`

use apitap_flow::{CloseReason, Delivery, Dir, FlowConfig, FlowCtx, FlowTable, Handler, TcpPacket};
use apitap_wire::{TcpFlags, TcpMeta};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::net::SocketAddr;

/// Counts what reaches it.
struct Count;

impl Handler for Count {
    type Out = (u64, u64);
    fn on_delivery(&mut self, _: &FlowCtx, _: Dir, d: Delivery<'_>, out: &mut (u64, u64)) {
        match d {
            Delivery::Data { data, .. } => out.0 += data.len() as u64,
            Delivery::Gap { len, .. } => out.1 += len,
        }
    }
    fn on_close(&mut self, _: &FlowCtx, _: CloseReason, _: &mut (u64, u64)) {}
}

#[derive(Clone, Copy)]
struct Pkt {
    src: SocketAddr,
    dst: SocketAddr,
    tcp: TcpMeta,
    len: usize,
}

/// Packets of `conns` connections, each a handshake then `segs` server segments (each
/// acknowledged), interleaved round-robin; `shuffle` swaps neighbours and repeats some.
fn packets(conns: u16, segs: u32, shuffle: bool) -> Vec<Pkt> {
    let mut per: Vec<Vec<Pkt>> = Vec::new();
    for c in 0..conns {
        let cl: SocketAddr = format!("10.0.{}.{}:{}", c / 250, c % 250 + 1, 40000 + c)
            .parse()
            .expect("addr");
        let sv: SocketAddr = "10.1.0.1:8080".parse().expect("addr");
        let meta = |src: &SocketAddr, dst: &SocketAddr, seq: u32, ack: u32, flags: u8| TcpMeta {
            src_port: src.port(),
            dst_port: dst.port(),
            seq,
            ack,
            flags: TcpFlags(flags),
            window: 65535,
        };
        let (ci, si) = (1000u32, 5000u32);
        let mut v = vec![
            Pkt {
                src: cl,
                dst: sv,
                tcp: meta(&cl, &sv, ci, 0, 0x02),
                len: 0,
            },
            Pkt {
                src: sv,
                dst: cl,
                tcp: meta(&sv, &cl, si, ci + 1, 0x12),
                len: 0,
            },
            Pkt {
                src: cl,
                dst: sv,
                tcp: meta(&cl, &sv, ci + 1, si + 1, 0x10),
                len: 0,
            },
        ];
        let mut data: Vec<Pkt> = (0..segs)
            .map(|k| {
                let seq = si + 1 + k * 1448;
                Pkt {
                    src: sv,
                    dst: cl,
                    tcp: meta(&sv, &cl, seq, ci + 1, 0x18),
                    len: 1448,
                }
            })
            .collect();
        if shuffle {
            for k in (0..data.len().saturating_sub(1)).step_by(8) {
                data.swap(k, k + 1);
            }
        }
        for (k, d) in data.into_iter().enumerate() {
            let ack = d.tcp.seq.wrapping_add(1448);
            if shuffle && k % 50 == 7 {
                v.push(d);
            }
            v.push(d);
            v.push(Pkt {
                src: cl,
                dst: sv,
                tcp: meta(&cl, &sv, ci + 1, ack, 0x10),
                len: 0,
            });
        }
        per.push(v);
    }
    let longest = per.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|i| per.iter().filter_map(move |v| v.get(i).copied()))
        .collect()
}

fn run(pkts: &[Pkt], payload: &[u8]) -> (u64, u64) {
    let mut table: FlowTable<Count> = FlowTable::new(FlowConfig::default());
    let mut out = (0, 0);
    for (i, p) in pkts.iter().enumerate() {
        let tp = TcpPacket {
            ts: i as u64 * 1000,
            src: p.src,
            dst: p.dst,
            tunnel: 0,
            tcp: p.tcp,
            payload: &payload[..p.len],
            missing: 0,
        };
        table.packet(&tp, |_| Count, &mut out);
    }
    table.flush(&mut out);
    out
}

fn bench(c: &mut Criterion) {
    let payload = vec![b'x'; 1448];
    let mut g = c.benchmark_group("reassembly");
    for (name, shuffle) in [("in_order", false), ("reordered_and_retransmitted", true)] {
        let pkts = packets(64, 200, shuffle);
        let (bytes, gaps) = run(&pkts, &payload);
        assert_eq!(
            (bytes, gaps),
            (64 * 200 * 1448, 0),
            "{name}: every byte, no gap"
        );
        g.throughput(Throughput::Elements(pkts.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| black_box(run(black_box(&pkts), &payload)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
