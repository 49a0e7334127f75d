//! Adaptive body scanning. The full sensitive-data scan of a body (JSON walk, every leaf
//! classified) costs about ten times what parsing it does, and on a keep-alive connection
//! the bodies of one endpoint repeat the same fields and value kinds. So, per connection
//! and per endpoint (host, method, stateless path template), the bodies are scanned in
//! full:
//! - for the first [`WARMUP`] exchanges, and every [`EVERY`]th after them;
//! - whenever a cheap first look ([`apitap_pii::triggers`]) finds an anchor (`@`, a token
//!   prefix, a long digit run, PEM armour) or a JSON field name that no body scanned there
//!   before held, or the status class is new.
//!
//! Target, headers, cookies and error pages are scanned on every exchange. `--scan all`
//! scans every body.
//!
//! Invariant: the decision depends only on the connection's own exchanges, in order, so
//! the inventory does not depend on the thread count. Memory is bounded by
//! [`MAX_MEMOS`]; when full the memory is forgotten (counted), which only means more
//! scanning.

use apitap_flow::FlowKey;
use apitap_http::Exchange;
use apitap_inventory::{split_target, template::classify};
use apitap_pii::triggers::Triggers;
use apitap_pii::Scanner;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// Exchanges of an endpoint scanned in full on each connection before sampling starts.
pub const WARMUP: u32 = 1;
/// After the warm-up, one exchange in this many is scanned in full whatever it holds.
pub const EVERY: u32 = 16;
/// Endpoints remembered per connection; the least used is forgotten first.
const ENDPOINTS_PER_CONN: usize = 32;
/// Endpoint memories per worker.
pub const MAX_MEMOS: usize = 1 << 17;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScanMode {
    #[default]
    Adaptive,
    All,
}

/// Counters of the policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Exchanges whose bodies were scanned in full.
    pub full: u64,
    /// Exchanges with a body that was only looked at (triggers), not scanned.
    pub sampled_out: u64,
    /// Times the worker's memory was full and forgotten.
    pub memory_resets: u64,
}

impl ScanStats {
    pub fn add(&mut self, o: &ScanStats) {
        self.full += o.full;
        self.sampled_out += o.sampled_out;
        self.memory_resets += o.memory_resets;
    }
}

#[derive(Debug, Clone)]
struct Memo {
    endpoint: u64,
    seen: u32,
    /// Status classes (bit n for nxx) of the exchanges scanned.
    statuses: u8,
    request: Triggers,
    response: Triggers,
}

#[derive(Debug, Default)]
struct Conn {
    last_ts: u64,
    memos: Vec<Memo>,
}

#[derive(Debug, Default)]
pub struct ScanPolicy {
    pub mode: ScanMode,
    conns: HashMap<FlowKey, Conn>,
    memos: usize,
    pub stats: ScanStats,
}

/// Host header as sent, method and the path with its identifier segments replaced by their
/// class. Only compared within one connection, so the host needs no normalising.
fn endpoint_hash(x: &Exchange) -> u64 {
    let mut h = foldhash::fast::FixedState::with_seed(0).build_hasher();
    if let Some(q) = &x.request {
        let (path, _) = split_target(&q.uri);
        h.write(q.headers.get("host").unwrap_or_default());
        h.write_u8(0);
        h.write(q.method.as_bytes());
        h.write_u8(0);
        for seg in path.split(|c| *c == b'/') {
            match classify(seg) {
                Some(t) => h.write_u8(t as u8),
                None => h.write(seg),
            }
            h.write_u8(b'/');
        }
    }
    h.finish()
}

/// The flow an exchange travelled on.
pub fn flow_key(x: &Exchange) -> FlowKey {
    FlowKey::new(
        x.client.ip(),
        x.client.port(),
        x.server.ip(),
        x.server.port(),
        x.tunnel,
    )
}

fn has_body(b: &apitap_http::Body) -> bool {
    !b.data.is_empty() && b.coding != apitap_http::Coding::Undecodable
}

impl ScanPolicy {
    pub fn new(mode: ScanMode) -> ScanPolicy {
        ScanPolicy {
            mode,
            ..ScanPolicy::default()
        }
    }

    /// Whether the bodies of `x` should be scanned in full.
    pub fn decide(&mut self, scanner: &Scanner, x: &Exchange) -> bool {
        let req = x.request.as_ref().filter(|q| has_body(&q.body));
        let resp = x.response.as_ref().filter(|r| has_body(&r.body));
        if req.is_none() && resp.is_none() {
            return true;
        }
        if self.mode == ScanMode::All {
            self.stats.full += 1;
            return true;
        }
        let rt = req
            .map(|q| scanner.triggers(&q.body.data))
            .unwrap_or_default();
        let st = resp
            .map(|r| scanner.triggers(&r.body.data))
            .unwrap_or_default();
        let status = x
            .response
            .as_ref()
            .map_or(0u8, |r| 1 << (r.status / 100).min(7));
        let ts = x.request.as_ref().map_or(0, |q| q.ts);
        let key = flow_key(x);
        if self.memos >= MAX_MEMOS {
            self.conns.clear();
            self.memos = 0;
            self.stats.memory_resets += 1;
        }
        let conn = self.conns.entry(key).or_default();
        conn.last_ts = conn.last_ts.max(ts);
        let endpoint = endpoint_hash(x);
        let at = match conn.memos.iter().position(|m| m.endpoint == endpoint) {
            Some(i) => i,
            None => {
                if conn.memos.len() >= ENDPOINTS_PER_CONN {
                    // Forget the endpoint this connection used least.
                    if let Some(i) = conn
                        .memos
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, m)| m.seen)
                        .map(|(i, _)| i)
                    {
                        conn.memos.swap_remove(i);
                        self.memos -= 1;
                    }
                }
                conn.memos.push(Memo {
                    endpoint,
                    seen: 0,
                    statuses: 0,
                    request: Triggers::default(),
                    response: Triggers::default(),
                });
                self.memos += 1;
                conn.memos.len() - 1
            }
        };
        let m = &mut conn.memos[at];
        let full = m.seen < WARMUP
            || m.seen % EVERY == 0
            || status & !m.statuses != 0
            || rt.novel_against(&m.request)
            || st.novel_against(&m.response);
        m.seen = m.seen.saturating_add(1);
        if full {
            m.statuses |= status;
            m.request.absorb(&rt);
            m.response.absorb(&st);
            self.stats.full += 1;
        } else {
            self.stats.sampled_out += 1;
        }
        full
    }

    /// Forget connections with no exchange since `now - idle_ns`.
    pub fn expire(&mut self, now: u64, idle_ns: u64) {
        let limit = now.saturating_sub(idle_ns);
        let mut dropped = 0;
        self.conns.retain(|_, c| {
            let keep = c.last_ts >= limit;
            if !keep {
                dropped += c.memos.len();
            }
            keep
        });
        self.memos -= dropped;
    }
}
