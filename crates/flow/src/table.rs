//! The flow table: finds or creates the flow of each TCP packet, feeds its streams, closes
//! flows on FIN, RST, idle timeout or end of input.

use crate::key::{Dir, FlowKey};
use crate::stream::{Delivery, Seg, Stream, StreamConfig, StreamCounters};
use apitap_wire::TcpMeta;
use std::collections::HashMap;
use std::net::SocketAddr;

/// What the application layer does with a flow's bytes.
pub trait Handler {
    type Out;
    fn on_delivery(&mut self, ctx: &FlowCtx, dir: Dir, d: Delivery<'_>, out: &mut Self::Out);
    fn on_close(&mut self, ctx: &FlowCtx, reason: CloseReason, out: &mut Self::Out);
}

/// Why a flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    Fin,
    Reset,
    Timeout,
    /// The same 5-tuple started a new connection.
    Reused,
    /// End of input.
    End,
}

/// Facts about a flow the handler may use.
#[derive(Debug, Clone, Copy)]
pub struct FlowCtx {
    pub key: FlowKey,
    /// The originator: the SYN sender, or the first sender seen.
    pub orig: SocketAddr,
    pub resp: SocketAddr,
    /// Whether the connection's handshake was seen (else it was picked up mid-stream).
    pub saw_syn: bool,
    pub first_ts: u64,
    pub last_ts: u64,
    /// A RST was seen (the flow's state lives in 512 bytes: this fits in padding).
    pub reset: bool,
}

/// A TCP segment as decoded by the wire layer.
#[derive(Debug, Clone, Copy)]
pub struct TcpPacket<'a> {
    pub ts: u64,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub tunnel: u32,
    pub tcp: TcpMeta,
    pub payload: &'a [u8],
    /// Payload bytes the capture cut off.
    pub missing: u32,
}

/// Limits of a flow table.
#[derive(Debug, Clone, Copy)]
pub struct FlowConfig {
    pub stream: StreamConfig,
    pub max_flows: usize,
    /// Out-of-order bytes held across all flows of the table.
    pub max_ooo_bytes_total: usize,
    pub idle_timeout_ns: u64,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            stream: StreamConfig::default(),
            max_flows: 1 << 17,
            max_ooo_bytes_total: 256 << 20,
            idle_timeout_ns: 120 * 1_000_000_000,
        }
    }
}

/// Counters of a flow table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    pub tcp_segments: u64,
    pub tcp_payload_bytes: u64,
    pub flows: u64,
    pub flows_midstream: u64,
    pub closed_fin: u64,
    pub closed_rst: u64,
    pub closed_timeout: u64,
    pub closed_reused: u64,
    pub closed_end: u64,
    /// New flows refused because the table was full.
    pub flows_dropped_table_full: u64,
    /// Segments without payload for a flow we do not track (late ACKs, FINs).
    pub segments_without_flow: u64,
    /// Retransmitted data of a connection already closed by FIN or RST, dropped.
    pub segments_after_close: u64,
    pub max_active_flows: u64,
    pub streams: StreamCounters,
}

impl FlowStats {
    pub fn add(&mut self, o: &FlowStats) {
        self.tcp_segments += o.tcp_segments;
        self.tcp_payload_bytes += o.tcp_payload_bytes;
        self.flows += o.flows;
        self.flows_midstream += o.flows_midstream;
        self.closed_fin += o.closed_fin;
        self.closed_rst += o.closed_rst;
        self.closed_timeout += o.closed_timeout;
        self.closed_reused += o.closed_reused;
        self.closed_end += o.closed_end;
        self.flows_dropped_table_full += o.flows_dropped_table_full;
        self.segments_without_flow += o.segments_without_flow;
        self.segments_after_close += o.segments_after_close;
        self.max_active_flows = self.max_active_flows.max(o.max_active_flows);
        self.streams.add(&o.streams);
    }
}

#[derive(Debug)]
struct Flow<H> {
    ctx: FlowCtx,
    streams: [Stream; 2],
    /// Built when the first byte (or gap) is delivered: a flow that never carries data (a
    /// scan, a SYN flood) costs its streams only.
    handler: Option<Box<H>>,
}

/// Flows that never carried a byte (handshakes, scans, SYN floods) close after this long.
pub const EMPTY_FLOW_TIMEOUT_NS: u64 = 30 * 1_000_000_000;

/// How long a connection closed by FIN or RST is remembered (TCP's TIME_WAIT is 2 x 30 s
/// to 2 x 2 min): a retransmission of its last data must not open a new flow.
pub const CLOSED_FLOW_MEMORY_NS: u64 = 30 * 1_000_000_000;

/// A connection closed by FIN or RST: where each direction ended.
#[derive(Debug, Clone, Copy)]
struct Closed {
    orig: SocketAddr,
    /// Raw sequence number just past each direction's delivered bytes (orig, resp).
    end: [Option<u32>; 2],
    ts: u64,
}

/// All flows of one worker.
#[derive(Debug)]
pub struct FlowTable<H> {
    /// Boxed: growing the map moves pointers, not flows.
    map: HashMap<FlowKey, Box<Flow<H>>, foldhash::fast::RandomState>,
    /// Recently closed connections, at most a quarter of `max_flows`.
    closed: HashMap<FlowKey, Closed, foldhash::fast::RandomState>,
    cfg: FlowConfig,
    ooo_total: usize,
    pub stats: FlowStats,
}

impl<H: Handler> FlowTable<H> {
    pub fn new(cfg: FlowConfig) -> Self {
        FlowTable {
            map: HashMap::default(),
            closed: HashMap::default(),
            cfg,
            ooo_total: 0,
            stats: FlowStats::default(),
        }
    }

    pub fn active(&self) -> usize {
        self.map.len()
    }

    /// Process one TCP packet. `make` builds the handler of a new flow.
    pub fn packet(
        &mut self,
        p: &TcpPacket<'_>,
        make: impl FnOnce(&FlowCtx) -> H,
        out: &mut H::Out,
    ) {
        self.stats.tcp_segments += 1;
        self.stats.tcp_payload_bytes += p.payload.len() as u64;
        let key = FlowKey::new(p.src.ip(), p.src.port(), p.dst.ip(), p.dst.port(), p.tunnel);
        let fl = p.tcp.flags;
        let new_syn = fl.syn() && !fl.ack();
        // One lookup for a packet of a known flow (and one more to borrow it below).
        let mut known = false;
        if let Some(f) = self.map.get(&key) {
            let stream = &f.streams[if p.src == f.ctx.orig { 0 } else { 1 }];
            let reused = new_syn
                && (f.ctx.reset
                    || stream.syn_seq().is_some_and(|s| s != p.tcp.seq)
                    || stream.finished());
            if reused {
                self.close(&key, CloseReason::Reused, out);
            } else {
                known = true;
            }
        }
        if !known {
            if p.payload.is_empty() && p.missing == 0 && !fl.syn() {
                self.stats.segments_without_flow += 1;
                return;
            }
            if let Some(c) = self.closed.get(&key) {
                // Data that ends where the closed connection's direction ended, or before, is
                // a retransmission of it (the FIN takes one sequence number); anything else
                // (a SYN, data beyond) is a new connection on the same ports.
                let d = usize::from(p.src != c.orig);
                let end = p.tcp.seq.wrapping_add(p.payload.len() as u32 + p.missing);
                let stale = !fl.syn()
                    && c.end[d].is_some_and(|e| (e.wrapping_add(1).wrapping_sub(end) as i32) >= 0);
                if stale {
                    self.stats.segments_after_close += 1;
                    return;
                }
                self.closed.remove(&key);
            }
            if self.map.len() >= self.cfg.max_flows {
                self.stats.flows_dropped_table_full += 1;
                return;
            }
            let (orig, resp) = if fl.syn() && fl.ack() {
                (p.dst, p.src)
            } else {
                (p.src, p.dst)
            };
            let ctx = FlowCtx {
                key,
                orig,
                resp,
                saw_syn: fl.syn(),
                first_ts: p.ts,
                last_ts: p.ts,
                reset: false,
            };
            self.stats.flows += 1;
            if !fl.syn() {
                self.stats.flows_midstream += 1;
            }
            self.map.insert(
                key,
                Box::new(Flow {
                    ctx,
                    streams: [Stream::default(), Stream::default()],
                    handler: None,
                }),
            );
            self.stats.max_active_flows = self.stats.max_active_flows.max(self.map.len() as u64);
        }
        let Some(flow) = self.map.get_mut(&key) else {
            return;
        };
        let Flow {
            ctx,
            streams,
            handler,
        } = &mut **flow;
        ctx.last_ts = ctx.last_ts.max(p.ts);
        let dir = if p.src == ctx.orig {
            Dir::Orig
        } else {
            Dir::Resp
        };
        let [s0, s1] = streams;
        let (mine, peer) = if dir == Dir::Orig { (s0, s1) } else { (s1, s0) };
        let seg = Seg {
            seq: p.tcp.seq,
            syn: fl.syn(),
            fin: fl.fin(),
            ts: p.ts,
            ack: fl.ack().then_some(p.tcp.ack),
            payload: p.payload,
            missing: p.missing,
        };
        let ctx_now = *ctx;
        let mut make = Some(make);
        // Built for the first payload (held data needs it at close) or the first delivery
        // (a gap acknowledged on a flow whose data was never seen).
        if handler.is_none() && (!p.payload.is_empty() || p.missing > 0) {
            if let Some(m) = make.take() {
                *handler = Some(Box::new(m(&ctx_now)));
            }
        }
        let mut deliver = |d: Dir, data: Delivery<'_>| {
            let h = match handler {
                Some(h) => h,
                None => match make.take() {
                    Some(m) => handler.insert(Box::new(m(&ctx_now))),
                    None => return,
                },
            };
            h.on_delivery(&ctx_now, d, data, out);
        };
        mine.segment(
            seg,
            &self.cfg.stream,
            &mut self.ooo_total,
            self.cfg.max_ooo_bytes_total,
            &mut |d| deliver(dir, d),
        );
        if let Some(a) = fl.ack().then(|| peer.lift(p.tcp.ack)).flatten() {
            peer.on_ack(a, &mut self.ooo_total, &mut |d| deliver(dir.other(), d));
        }
        if fl.rst() {
            ctx.reset = true;
            self.close(&key, CloseReason::Reset, out);
        } else if mine.finished() && peer.finished() {
            self.close(&key, CloseReason::Fin, out);
        }
    }

    /// Close flows idle since before `now - idle_timeout`, in key order (deterministic).
    pub fn expire(&mut self, now: u64, out: &mut H::Out) {
        let limit = now.saturating_sub(self.cfg.idle_timeout_ns);
        let empty_limit = now.saturating_sub(self.cfg.idle_timeout_ns.min(EMPTY_FLOW_TIMEOUT_NS));
        let mut idle: Vec<FlowKey> = self
            .map
            .iter()
            .filter(|(_, f)| {
                f.ctx.last_ts
                    < if f.handler.is_none() {
                        empty_limit
                    } else {
                        limit
                    }
            })
            .map(|(k, _)| *k)
            .collect();
        idle.sort_unstable();
        for k in idle {
            self.close(&k, CloseReason::Timeout, out);
        }
        let forget = now.saturating_sub(CLOSED_FLOW_MEMORY_NS);
        self.closed.retain(|_, c| c.ts >= forget);
    }

    /// Close every flow, in key order (end of input).
    pub fn flush(&mut self, out: &mut H::Out) {
        let mut all: Vec<FlowKey> = self.map.keys().copied().collect();
        all.sort_unstable();
        for k in all {
            self.close(&k, CloseReason::End, out);
        }
    }

    fn close(&mut self, key: &FlowKey, reason: CloseReason, out: &mut H::Out) {
        let Some(mut flow) = self.map.remove(key) else {
            return;
        };
        let ctx = flow.ctx;
        if matches!(reason, CloseReason::Fin | CloseReason::Reset)
            && self.closed.len() < self.cfg.max_flows / 4
        {
            let end = [flow.streams[0].next_seq(), flow.streams[1].next_seq()];
            self.closed.insert(
                *key,
                Closed {
                    orig: ctx.orig,
                    end,
                    ts: ctx.last_ts,
                },
            );
        }
        let [s0, s1] = &mut flow.streams;
        match flow.handler.as_deref_mut() {
            Some(h) => {
                s0.flush(&mut self.ooo_total, &mut |d| {
                    h.on_delivery(&ctx, Dir::Orig, d, out)
                });
                s1.flush(&mut self.ooo_total, &mut |d| {
                    h.on_delivery(&ctx, Dir::Resp, d, out)
                });
                h.on_close(&ctx, reason, out);
            }
            // Nothing was ever delivered: held segments can only be data, so none are held.
            None => {
                s0.flush(&mut self.ooo_total, &mut |_| {});
                s1.flush(&mut self.ooo_total, &mut |_| {});
            }
        }
        self.stats.streams.add(&s0.counters);
        self.stats.streams.add(&s1.counters);
        match reason {
            CloseReason::Fin => self.stats.closed_fin += 1,
            CloseReason::Reset => self.stats.closed_rst += 1,
            CloseReason::Timeout => self.stats.closed_timeout += 1,
            CloseReason::Reused => self.stats.closed_reused += 1,
            CloseReason::End => self.stats.closed_end += 1,
        }
    }
}
