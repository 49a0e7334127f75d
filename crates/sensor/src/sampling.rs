//! Adaptive body scanning. The full sensitive-data scan of a body (JSON walk, every leaf
//! classified) costs about ten times what parsing it does, and the bodies of one endpoint
//! repeat the same fields and value kinds. So, per endpoint (host, method, stateless path
//! template), the bodies are scanned in full:
//! - the first exchange of an endpoint on a connection, unless the endpoint is already
//!   known from other connections (below);
//! - one exchange in [`EVERY`] on each connection, whatever it holds;
//! - whenever a cheap first look ([`apitap_pii::triggers`]) finds an anchor (`@`, a token
//!   prefix, a long digit run, PEM armour) or a JSON field name that no body scanned before
//!   on that connection or endpoint held, or the status class is new.
//!
//! What the bodies scanned in full held is pooled over all workers in [`Knowledge`], so
//! short connections (a client making a few calls and closing) do not each pay the warm-up
//! scan of every endpoint they touch. The pooling goes by epochs of
//! [`SensorConfig::scan_epoch`](crate::SensorConfig) packets: at the start of epoch `k`
//! each worker hands in what it learned in epoch `k - 1` and takes up what all of them
//! learned before epoch `k - LAG` ([`Hub`]).
//!
//! Target, headers, cookies and error pages are scanned on every exchange. `--scan all`
//! scans every body.
//!
//! Invariant: a decision depends only on the connection's own exchanges, in order, and on
//! the knowledge of epochs that ended at fixed packet counts, merged the same way whatever
//! the thread count (keeping the smallest endpoint hashes when capped); so the inventory
//! does not depend on the thread count. Memory is bounded by [`MAX_MEMOS`] and
//! [`MAX_KNOWN`]; when full, the memory is forgotten or the largest hashes dropped
//! (counted), which only means more scanning.

use apitap_flow::FlowKey;
use apitap_http::Exchange;
use apitap_inventory::{split_target, template::classify};
use apitap_pii::triggers::Triggers;
use apitap_pii::Scanner;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// Exchanges of an endpoint scanned in full on each connection before sampling starts.
pub const WARMUP: u32 = 1;
/// After the warm-up, one exchange in this many is scanned in full whatever it holds.
pub const EVERY: u32 = 16;
/// Endpoints remembered per connection; the least used is forgotten first.
const ENDPOINTS_PER_CONN: usize = 32;
/// Endpoint memories per worker.
pub const MAX_MEMOS: usize = 1 << 17;
/// Endpoints in the pooled knowledge; past it the largest hashes are dropped.
pub const MAX_KNOWN: usize = 1 << 14;
/// Packets per knowledge epoch by default.
pub const EPOCH_PACKETS: u64 = 1 << 14;
/// A worker at the start of epoch `k` takes up the knowledge of the epochs before
/// `k - LAG`, so it waits only for workers more than `LAG - 1` epochs behind it.
pub const LAG: u64 = 3;

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
    /// Endpoints dropped from the pooled knowledge because it was full (the same count
    /// in every worker: not summed).
    pub knowledge_dropped: u64,
}

impl ScanStats {
    pub fn add(&mut self, o: &ScanStats) {
        self.full += o.full;
        self.sampled_out += o.sampled_out;
        self.memory_resets += o.memory_resets;
        self.knowledge_dropped = self.knowledge_dropped.max(o.knowledge_dropped);
    }
}

#[derive(Debug, Clone)]
struct Memo {
    endpoint: u64,
    seen: u32,
    /// Where in the cycle of `EVERY` this connection starts: 0 (its first exchange is
    /// scanned) when the endpoint was unknown, else a position fixed by a hash.
    phase: u32,
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
    /// What all workers learned before epoch `k - LAG` (in epoch `k`).
    known: Arc<Knowledge>,
    /// What this worker learned in the current epoch.
    learned: Knowledge,
    pub stats: ScanStats,
}

/// What the bodies of an endpoint scanned in full held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Known {
    statuses: u8,
    request: Triggers,
    response: Triggers,
}

impl Known {
    /// `a` with what `b` holds.
    fn union(mut a: Triggers, b: &Triggers) -> Triggers {
        a.absorb(b);
        a
    }

    fn absorb(&mut self, o: &Known) {
        self.statuses |= o.statuses;
        self.request.absorb(&o.request);
        self.response.absorb(&o.response);
    }
}

/// Known endpoints by hash. Capped at `MAX_KNOWN` by keeping the smallest hashes, so
/// the result of merging parts depends only on what they hold, not on how the endpoints
/// were split between them or the order they were merged in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Knowledge {
    endpoints: BTreeMap<u64, Known>,
    /// Endpoints this knowledge dropped because it was full. Not carried over by
    /// `absorb`: what a worker's or an epoch's own cap dropped depends on how the work
    /// was split, what the pooled knowledge drops when it takes up an epoch does not.
    pub dropped: u64,
}

impl Knowledge {
    fn learn(&mut self, endpoint: u64, k: &Known) {
        self.endpoints.entry(endpoint).or_default().absorb(k);
        self.cap();
    }

    fn absorb(&mut self, o: &Knowledge) {
        for (e, k) in &o.endpoints {
            self.endpoints.entry(*e).or_default().absorb(k);
        }
        self.cap();
    }

    fn cap(&mut self) {
        while self.endpoints.len() > MAX_KNOWN {
            self.endpoints.pop_last();
            self.dropped += 1;
        }
    }
}

/// Where the workers pool their knowledge, epoch by epoch. A worker at the start of
/// epoch `k` waits only for every worker to have started epoch `k - 1`; the dispatcher
/// keeps workers within a few batches of each other, far less than an epoch.
#[derive(Debug)]
pub struct Hub {
    workers: usize,
    state: Mutex<HubState>,
    merged: Condvar,
}

#[derive(Debug)]
struct HubState {
    /// Epochs not merged yet: (workers that handed theirs in, the union so far).
    pending: BTreeMap<u64, (usize, Knowledge)>,
    /// (`i`, the knowledge of epochs before `i`), the last few.
    snapshots: VecDeque<(u64, Arc<Knowledge>)>,
    /// A worker died: nobody waits any more.
    broken: bool,
}

impl Hub {
    pub fn new(workers: usize) -> Hub {
        Hub {
            workers: workers.max(1),
            state: Mutex::new(HubState {
                pending: BTreeMap::new(),
                snapshots: VecDeque::from([(0, Arc::default())]),
                broken: false,
            }),
            merged: Condvar::new(),
        }
    }

    /// At the start of epoch `k` (from 1): hand in what was learned in epoch `k - 1`, get
    /// what all workers learned in the epochs before `k - LAG`.
    pub fn exchange(&self, k: u64, learned: Knowledge) -> Arc<Knowledge> {
        let want = k.saturating_sub(LAG);
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = s.pending.entry(k.saturating_sub(1)).or_default();
        slot.0 += 1;
        slot.1.absorb(&learned);
        // Merge every epoch all workers handed in, in order.
        while let Some(&(next, ref last)) = s.snapshots.back() {
            if s.pending.get(&next).is_none_or(|p| p.0 < self.workers) {
                break;
            }
            let mut all = Knowledge::clone(last);
            if let Some((_, d)) = s.pending.remove(&next) {
                all.absorb(&d);
            }
            s.snapshots.push_back((next + 1, Arc::new(all)));
            if s.snapshots.len() as u64 > LAG + 2 {
                s.snapshots.pop_front();
            }
            self.merged.notify_all();
        }
        loop {
            if let Some((_, k)) = s.snapshots.iter().find(|(i, _)| *i == want) {
                return k.clone();
            }
            if s.broken {
                return s
                    .snapshots
                    .back()
                    .map(|(_, k)| k.clone())
                    .unwrap_or_default();
            }
            s = self.merged.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// A worker is gone before the end: stop waiting for it.
    pub fn break_off(&self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.broken = true;
        self.merged.notify_all();
    }
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
                // A connection to an endpoint known from others starts at a place in
                // the cycle of one in `EVERY` its key picks, rather than with a scan.
                let phase = if self.known.endpoints.contains_key(&endpoint) {
                    let h = foldhash::fast::FixedState::with_seed(1).hash_one((key, endpoint));
                    1 + (h % u64::from(EVERY - 1)) as u32
                } else {
                    0
                };
                conn.memos.push(Memo {
                    endpoint,
                    seen: 0,
                    phase,
                    statuses: 0,
                    request: Triggers::default(),
                    response: Triggers::default(),
                });
                self.memos += 1;
                conn.memos.len() - 1
            }
        };
        let m = &mut conn.memos[at];
        let g = self
            .known
            .endpoints
            .get(&endpoint)
            .copied()
            .unwrap_or_default();
        let full = (m.seen < WARMUP && m.phase == 0)
            || (m.seen + m.phase) % EVERY == 0
            || status & !(m.statuses | g.statuses) != 0
            || rt.novel_against(&Known::union(m.request, &g.request))
            || st.novel_against(&Known::union(m.response, &g.response));
        m.seen = m.seen.saturating_add(1);
        if full {
            let k = Known {
                statuses: status,
                request: rt,
                response: st,
            };
            m.statuses |= status;
            m.request.absorb(&rt);
            m.response.absorb(&st);
            self.learned.learn(endpoint, &k);
            self.stats.full += 1;
        } else {
            self.stats.sampled_out += 1;
        }
        full
    }

    /// Start of epoch `k`: pool what this worker learned with the others' (see [`Hub`]).
    pub fn epoch(&mut self, hub: &Hub, k: u64) {
        self.known = hub.exchange(k, std::mem::take(&mut self.learned));
        self.stats.knowledge_dropped = self.known.dropped;
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

#[cfg(test)]
mod tests {
    use super::*;
    use apitap_http::{Body, Headers, Request, Response};

    /// A GET of `uri` from `client` answered 200 with the JSON `body`.
    fn exchange(client: &str, uri: &str, body: &str) -> Exchange {
        Exchange {
            client: client.parse().expect("addr"),
            server: "10.0.0.2:80".parse().expect("addr"),
            tunnel: 0,
            request: Some(Request {
                ts: 1,
                method: "GET".into(),
                uri: uri.as_bytes().to_vec(),
                version: 11,
                headers: Headers::from_pairs([("host", &b"api.example"[..])]),
                body: Body::default(),
                gap: false,
            }),
            response: Some(Response {
                ts: 2,
                ts_end: 2,
                status: 200,
                reason: "OK".into(),
                version: 11,
                headers: Headers::from_pairs([("content-type", &b"application/json"[..])]),
                body: Body {
                    len: body.len() as u64,
                    data: body.as_bytes().to_vec(),
                    ..Body::default()
                },
                gap: false,
            }),
        }
    }

    fn known(statuses: u8) -> Known {
        Known {
            statuses,
            ..Known::default()
        }
    }

    #[test]
    fn merged_knowledge_does_not_depend_on_how_it_was_split() {
        // More endpoints than the cap in one epoch, split between workers three different
        // ways and merged in different orders: always the smallest hashes, with the same
        // contents; and the pooled knowledge taking that epoch up drops the same number.
        let n = MAX_KNOWN as u64 + 500;
        let hash = |i: u64| i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let pooled = |parts: u64, rev: bool| {
            let mut ps = vec![Knowledge::default(); parts as usize];
            for i in 0..n {
                ps[(i % parts) as usize].learn(hash(i), &known(1 << (i % 5)));
                // Every endpoint is also seen by the next part, with another status.
                ps[((i + 1) % parts) as usize].learn(hash(i), &known(1 << 6));
            }
            if rev {
                ps.reverse();
            }
            let mut epoch = Knowledge::default();
            for p in &ps {
                epoch.absorb(p);
            }
            // Knowledge from before: 300 endpoints, half of them above every new hash.
            let mut all = Knowledge::default();
            for i in 0..300u64 {
                all.learn(
                    if i % 2 == 0 {
                        hash(n + i)
                    } else {
                        u64::MAX - i
                    },
                    &known(1),
                );
            }
            all.absorb(&epoch);
            (epoch, all)
        };
        let (one, all1) = pooled(1, false);
        assert_eq!(one.endpoints.len(), MAX_KNOWN);
        assert_eq!(one.endpoints.keys().next_back().copied(), {
            let mut all: Vec<u64> = (0..n).map(hash).collect();
            all.sort_unstable();
            Some(all[MAX_KNOWN - 1])
        });
        assert!(all1.dropped >= 150, "{}", all1.dropped);
        for (parts, rev) in [(2, false), (3, true), (7, false)] {
            let (m, all) = pooled(parts, rev);
            assert_eq!(m.endpoints, one.endpoints, "{parts} parts, reversed {rev}");
            assert_eq!(all, all1, "{parts} parts, reversed {rev}");
        }
    }

    #[test]
    fn the_hub_gives_each_epoch_what_all_workers_learned_before_its_lag() {
        // Worker w learns endpoint 100 * epoch + w in each epoch; at the start of epoch k
        // each must see exactly the endpoints of epochs before k - LAG, from both.
        let hub = Arc::new(Hub::new(2));
        let epochs = 3 * LAG + 4;
        let runs: Vec<_> = (0..2u64)
            .map(|w| {
                let hub = hub.clone();
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    for k in 1..=epochs {
                        let mut mine = Knowledge::default();
                        mine.learn(100 * (k - 1) + w, &known(1));
                        if w == 1 {
                            // One worker lagging behind the other.
                            std::thread::sleep(std::time::Duration::from_millis(2));
                        }
                        let got = hub.exchange(k, mine);
                        seen.push(got.endpoints.keys().copied().collect::<Vec<u64>>());
                    }
                    seen
                })
            })
            .collect();
        for r in runs {
            let seen = r.join().expect("worker");
            for (i, got) in seen.iter().enumerate() {
                let k = i as u64 + 1;
                let want: Vec<u64> = (0..k.saturating_sub(LAG))
                    .flat_map(|e| [100 * e, 100 * e + 1])
                    .collect();
                assert_eq!(got, &want, "epoch {k}");
            }
        }
    }

    #[test]
    fn a_broken_off_worker_is_not_waited_for() {
        let hub = Hub::new(2);
        hub.break_off();
        for k in 1..=LAG + 3 {
            hub.exchange(k, Knowledge::default());
        }
    }

    #[test]
    fn connections_to_a_known_endpoint_skip_the_warm_up() {
        let scanner = Scanner::new();
        let body = r#"{"id":7,"name":"widget","price":12}"#;
        // Connection A scans its first exchange and teaches the endpoint to the hub.
        let hub = Hub::new(1);
        let mut p = ScanPolicy::new(ScanMode::Adaptive);
        assert!(p.decide(&scanner, &exchange("10.0.0.1:1000", "/items/1", body)));
        for k in 1..=LAG + 1 {
            p.epoch(&hub, k);
        }
        // New connections to it: their first exchange is scanned only where the cycle of
        // one in EVERY puts it, and over EVERY connections about one in EVERY is.
        let mut scanned = 0;
        for port in 2000..2000 + 16 * EVERY {
            let c = format!("10.0.0.1:{port}");
            scanned += u32::from(p.decide(&scanner, &exchange(&c, "/items/2", body)));
        }
        assert!(
            scanned < 3 * 16,
            "{scanned} of {} first exchanges scanned",
            16 * EVERY
        );
        // A field name the endpoint never had is scanned at once.
        let novel = r#"{"id":7,"name":"widget","price":12,"owner_email":"x"}"#;
        assert!(p.decide(&scanner, &exchange("10.0.0.1:9000", "/items/3", novel)));
        // So is an endpoint nobody learned yet, and a known one whose knowledge came
        // too late (none without the hub).
        assert!(p.decide(&scanner, &exchange("10.0.0.1:9001", "/other/1", body)));
        let mut fresh = ScanPolicy::new(ScanMode::Adaptive);
        assert!(fresh.decide(&scanner, &exchange("10.0.0.1:9002", "/items/4", body)));
    }
}
