//! Reassembly against a naive reference model (a byte map), with random segmentation,
//! reordering, duplication and loss.

use crate::stream::{Delivery, Seg, Stream, StreamConfig};
use proptest::prelude::*;

/// Run segments through a stream; return delivered bytes (None = gap byte) by offset.
fn run(segs: &[(u32, Vec<u8>)], isn: u32, cfg: StreamConfig) -> Vec<Option<u8>> {
    let mut s = Stream::default();
    let mut global = 0usize;
    let mut got: Vec<Option<u8>> = Vec::new();
    let mut sink = |d: Delivery<'_>| match d {
        Delivery::Data { offset, data, .. } => {
            assert_eq!(offset as usize, got.len(), "data delivered out of order");
            got.extend(data.iter().map(|b| Some(*b)));
        }
        Delivery::Gap { offset, len } => {
            assert_eq!(offset as usize, got.len(), "gap delivered out of order");
            got.extend(std::iter::repeat_n(None, len as usize));
        }
    };
    s.segment(
        Seg {
            seq: isn,
            syn: true,
            fin: false,
            ts: 0,
            ack: None,
            payload: &[],
            missing: 0,
        },
        &cfg,
        &mut global,
        usize::MAX,
        &mut sink,
    );
    for (off, data) in segs {
        let seq = isn.wrapping_add(1).wrapping_add(*off);
        s.segment(
            Seg {
                seq,
                syn: false,
                fin: false,
                ts: 0,
                ack: None,
                payload: data,
                missing: 0,
            },
            &cfg,
            &mut global,
            usize::MAX,
            &mut sink,
        );
    }
    s.flush(&mut global, &mut sink);
    assert_eq!(global, 0, "held bytes not released");
    got
}

/// (stream bytes, segments as (offset, bytes), initial sequence number)
type Case = (Vec<u8>, Vec<(u32, Vec<u8>)>, u32);

fn segments() -> impl Strategy<Value = Case> {
    (1usize..3000, any::<u32>(), any::<u64>())
        .prop_flat_map(|(len, isn, seed)| {
            let data: Vec<u8> = (0..len)
                .map(|i| (i as u64).wrapping_mul(seed | 1).rotate_left(7) as u8)
                .collect();
            let cuts = proptest::collection::vec(1usize..200, 1..40);
            let ops = proptest::collection::vec((any::<u16>(), 0u8..10), 1..60);
            (Just(data), cuts, ops, Just(isn))
        })
        .prop_map(|(data, cuts, ops, isn)| {
            // Split into segments of random size.
            let mut segs = Vec::new();
            let mut at = 0usize;
            let mut i = 0;
            while at < data.len() {
                let n = cuts[i % cuts.len()].min(data.len() - at);
                segs.push((at as u32, data[at..at + n].to_vec()));
                at += n;
                i += 1;
            }
            // Reorder, duplicate (also overlapping re-cuts) and drop.
            for (r, op) in &ops {
                let k = *r as usize % segs.len();
                match op {
                    0..=3 => {
                        let j = (*r as usize / 7) % segs.len();
                        segs.swap(k, j);
                    }
                    4 | 5 => {
                        let s = segs[k].clone();
                        segs.push(s);
                    }
                    6 => {
                        let (o, d) = segs[k].clone();
                        if d.len() > 2 {
                            segs.push((o + 1, d[1..d.len() - 1].to_vec()));
                        }
                    }
                    7 if segs.len() > 1 => {
                        segs.remove(k);
                    }
                    _ => {}
                }
            }
            (data, segs, isn)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// With room to hold everything, every received byte is delivered exactly and only
    /// never-received bytes become gaps.
    #[test]
    fn matches_byte_map_model((data, segs, isn) in segments()) {
        let mut model: Vec<Option<u8>> = vec![None; data.len()];
        let mut end = 0;
        for (off, d) in &segs {
            for (i, b) in d.iter().enumerate() { model[*off as usize + i] = Some(*b); }
            end = end.max(*off as usize + d.len());
        }
        model.truncate(end);
        let got = run(&segs, isn, StreamConfig { max_ooo_bytes: 1 << 20, max_ooo_segments: 4096 });
        prop_assert_eq!(got, model);
    }

    /// With tiny caps, delivered bytes are still correct and contiguous; holes may widen.
    #[test]
    fn small_caps_stay_correct((data, segs, isn) in segments()) {
        let got = run(&segs, isn, StreamConfig { max_ooo_bytes: 300, max_ooo_segments: 4 });
        let end = segs.iter().map(|(o, d)| *o as usize + d.len()).max().unwrap_or(0);
        prop_assert_eq!(got.len(), end);
        for (i, b) in got.iter().enumerate() {
            if let Some(b) = b { prop_assert_eq!(*b, data[i]); }
        }
    }
}

#[test]
fn sequence_wrap_is_continuous() {
    let segs = vec![(0u32, b"hello ".to_vec()), (6, b"world".to_vec())];
    let got = run(&segs, u32::MAX - 3, StreamConfig::default());
    let s: Vec<u8> = got.into_iter().map(|b| b.unwrap_or(b'?')).collect();
    assert_eq!(s, b"hello world");
}

#[test]
fn inconsistent_overlap_with_held_data_is_counted_first_copy_kept() {
    let mut s = Stream::default();
    let mut global = 0usize;
    let mut got = Vec::new();
    let cfg = StreamConfig::default();
    let mut sink = |d: Delivery<'_>| {
        if let Delivery::Data { data, .. } = d {
            got.extend_from_slice(data);
        }
    };
    let seg = |seq: u32, p: &'static [u8]| Seg {
        seq,
        syn: false,
        fin: false,
        ts: 0,
        ack: None,
        payload: p,
        missing: 0,
    };
    s.segment(
        Seg {
            seq: 99,
            syn: true,
            ..seg(99, b"")
        },
        &cfg,
        &mut global,
        usize::MAX,
        &mut sink,
    );
    s.segment(seg(105, b"world"), &cfg, &mut global, usize::MAX, &mut sink);
    s.segment(seg(105, b"WORLD"), &cfg, &mut global, usize::MAX, &mut sink);
    s.segment(seg(105, b"world"), &cfg, &mut global, usize::MAX, &mut sink);
    s.segment(seg(100, b"hello"), &cfg, &mut global, usize::MAX, &mut sink);
    assert_eq!(got, b"helloworld");
    assert_eq!(s.counters.inconsistent_overlaps, 1);
}

mod table {
    //! The flow table around the streams: opening, closing, and what comes after a close.
    use crate::{CloseReason, Delivery, Dir, FlowConfig, FlowCtx, FlowTable, Handler, TcpPacket};
    use apitap_wire::{TcpFlags, TcpMeta};
    use std::net::SocketAddr;

    /// Every byte each flow delivered, and how it closed, in order of closing.
    #[derive(Default)]
    struct Log {
        flows: Vec<(Vec<u8>, CloseReason)>,
    }
    #[derive(Default)]
    struct Rec(Vec<u8>);
    impl Handler for Rec {
        type Out = Log;
        fn on_delivery(&mut self, _: &FlowCtx, _: Dir, d: Delivery<'_>, _: &mut Log) {
            if let Delivery::Data { data, .. } = d {
                self.0.extend_from_slice(data);
            }
        }
        fn on_close(&mut self, _: &FlowCtx, r: CloseReason, out: &mut Log) {
            out.flows.push((std::mem::take(&mut self.0), r));
        }
    }

    fn seg(
        t: &mut FlowTable<Rec>,
        log: &mut Log,
        ts: u64,
        client: bool,
        seq: u32,
        flags: u8,
        data: &[u8],
    ) {
        let c: SocketAddr = "10.0.0.1:40000".parse().expect("addr");
        let s: SocketAddr = "10.0.0.2:80".parse().expect("addr");
        let (src, dst) = if client { (c, s) } else { (s, c) };
        let p = TcpPacket {
            ts: ts * 1_000_000_000,
            src,
            dst,
            tunnel: 0,
            tcp: TcpMeta {
                src_port: src.port(),
                dst_port: dst.port(),
                seq,
                ack: 0,
                flags: TcpFlags(flags),
                window: 512,
            },
            payload: data,
            missing: 0,
        };
        t.packet(&p, |_| Rec::default(), log);
    }

    #[test]
    fn retransmissions_after_a_close_open_no_flow_but_a_new_connection_does() {
        const S: u8 = TcpFlags::SYN;
        const A: u8 = TcpFlags::ACK;
        const F: u8 = TcpFlags::FIN;
        let mut t = FlowTable::new(FlowConfig::default());
        let mut log = Log::default();
        seg(&mut t, &mut log, 1, true, 99, S, b"");
        seg(&mut t, &mut log, 1, false, 499, S | A, b"");
        seg(&mut t, &mut log, 1, true, 100, A, b"GET / HTTP/1.1\r\n\r\n");
        seg(
            &mut t,
            &mut log,
            1,
            false,
            500,
            A,
            b"HTTP/1.1 200 OK\r\n\r\n",
        );
        seg(&mut t, &mut log, 2, false, 519, F | A, b"");
        seg(&mut t, &mut log, 2, true, 118, F | A, b"");
        assert_eq!(t.active(), 0);
        // The client's request again (a lost ACK), then its FIN with the data: dropped.
        seg(&mut t, &mut log, 3, true, 100, A, b"GET / HTTP/1.1\r\n\r\n");
        seg(
            &mut t,
            &mut log,
            4,
            true,
            100,
            F | A,
            b"GET / HTTP/1.1\r\n\r\n",
        );
        assert_eq!(t.active(), 0);
        assert_eq!(t.stats.segments_after_close, 2);
        // Data past where the connection ended is a new one, picked up mid-stream.
        seg(
            &mut t,
            &mut log,
            5,
            true,
            5000,
            A,
            b"GET /next HTTP/1.1\r\n\r\n",
        );
        assert_eq!(t.active(), 1);
        t.flush(&mut log);
        // A new SYN on the same ports after a close is a new connection.
        seg(&mut t, &mut log, 6, true, 9000, S, b"");
        seg(
            &mut t,
            &mut log,
            6,
            true,
            9001,
            A,
            b"GET /again HTTP/1.1\r\n\r\n",
        );
        t.flush(&mut log);
        let seen: Vec<&[u8]> = log.flows.iter().map(|f| &f.0[..]).collect();
        assert_eq!(
            seen,
            [
                &b"GET / HTTP/1.1\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"[..],
                b"GET /next HTTP/1.1\r\n\r\n",
                b"GET /again HTTP/1.1\r\n\r\n"
            ]
        );
        assert_eq!(log.flows[0].1, CloseReason::Fin);
        // Forgotten after a while: late data then opens a flow again.
        t.expire(200 * 1_000_000_000, &mut log);
        seg(
            &mut t,
            &mut log,
            201,
            true,
            100,
            A,
            b"GET / HTTP/1.1\r\n\r\n",
        );
        assert_eq!(t.active(), 1);
        assert_eq!(t.stats.segments_after_close, 2);
    }
}

#[test]
fn flow_keys_hash_by_every_field_and_not_by_direction() {
    use crate::FlowKey;
    use std::hash::BuildHasher;
    use std::net::IpAddr;
    let h = |k: &FlowKey| foldhash::fast::FixedState::with_seed(7).hash_one(k);
    let ip = |s: &str| s.parse::<IpAddr>().expect("address");
    let (a4, b4, c4) = (ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.3"));
    let (a6, b6) = (ip("2001:db8::1"), ip("::ffff:10.0.0.2"));
    let base = FlowKey::new(a4, 40000, b4, 80, 0);
    assert_eq!(
        h(&base),
        h(&FlowKey::new(b4, 80, a4, 40000, 0)),
        "either direction"
    );
    let others = [
        FlowKey::new(a4, 40001, b4, 80, 0),
        FlowKey::new(a4, 40000, b4, 81, 0),
        FlowKey::new(a4, 40000, c4, 80, 0),
        FlowKey::new(c4, 40000, b4, 80, 0),
        FlowKey::new(a4, 40000, b4, 80, 1),
        FlowKey::new(a6, 40000, b4, 80, 0),
        FlowKey::new(a6, 40000, b6, 80, 0),
        FlowKey::new(a4, 80, b4, 40000, 0),
    ];
    let mut seen = std::collections::HashSet::new();
    assert!(seen.insert(h(&base)));
    for k in &others {
        assert_ne!(k, &base);
        assert!(seen.insert(h(k)), "{k:?} hashes like another key");
    }
    assert_eq!(
        base.shard_hash(),
        FlowKey::new(b4, 80, a4, 40000, 0).shard_hash()
    );
}
