//! IPv4 and IPv6 fragment reassembly.
//!
//! Overlap policy: the first copy of a byte wins (later fragments only fill holes); an overlap
//! that carries different bytes is counted as inconsistent. Every datagram is bounded
//! (`max_datagram` bytes, `max_fragments` pieces) and so is the table (`max_pending`
//! datagrams, `max_pending_bytes` bytes); incomplete datagrams expire after `timeout_ns`.
//! Each way a fragment or datagram is dropped has its counter.

use apitap_wire::FragmentMeta;
use std::collections::HashMap;
use std::net::IpAddr;

/// Limits of the defragmenter.
#[derive(Debug, Clone, Copy)]
pub struct DefragConfig {
    pub max_datagram: usize,
    pub max_fragments: usize,
    pub max_pending: usize,
    pub max_pending_bytes: usize,
    pub timeout_ns: u64,
}

impl Default for DefragConfig {
    fn default() -> Self {
        DefragConfig {
            max_datagram: 65_535,
            max_fragments: 128,
            max_pending: 8192,
            max_pending_bytes: 32 << 20,
            timeout_ns: 30_000_000_000,
        }
    }
}

/// Counters of the defragmenter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefragStats {
    pub fragments: u64,
    pub reassembled: u64,
    /// Datagrams dropped incomplete after the timeout.
    pub timed_out: u64,
    /// Datagrams dropped for exceeding `max_datagram` or `max_fragments`.
    pub too_big: u64,
    /// Fragments of new datagrams refused because the table was full.
    pub table_full: u64,
    /// Overlapping fragments whose bytes differ (first copy kept).
    pub inconsistent_overlaps: u64,
    /// Fragments contradicting the datagram's known length.
    pub bad_length: u64,
}

impl DefragStats {
    pub fn add(&mut self, o: &DefragStats) {
        self.fragments += o.fragments;
        self.reassembled += o.reassembled;
        self.timed_out += o.timed_out;
        self.too_big += o.too_big;
        self.table_full += o.table_full;
        self.inconsistent_overlaps += o.inconsistent_overlaps;
        self.bad_length += o.bad_length;
    }

    /// Fragments or datagrams lost, all reasons.
    pub fn dropped(&self) -> u64 {
        self.timed_out + self.too_big + self.table_full + self.bad_length
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    proto: u8,
    tunnel: u32,
}

#[derive(Debug, Default)]
struct Pending {
    first_ts: u64,
    data: Vec<u8>,
    /// Received byte ranges, sorted and disjoint.
    have: Vec<(usize, usize)>,
    total: Option<usize>,
    pieces: usize,
}

/// Reassembles fragmented IP datagrams.
#[derive(Debug, Default)]
pub struct Defrag {
    map: HashMap<Key, Pending>,
    bytes: usize,
    cfg: DefragConfig,
    pub stats: DefragStats,
}

impl Defrag {
    pub fn new(cfg: DefragConfig) -> Defrag {
        Defrag {
            cfg,
            ..Defrag::default()
        }
    }

    /// Add one fragment; returns the whole transport payload once the datagram is complete.
    pub fn push(
        &mut self,
        ts: u64,
        src: IpAddr,
        dst: IpAddr,
        tunnel: u32,
        f: FragmentMeta,
        data: &[u8],
    ) -> Option<Vec<u8>> {
        self.stats.fragments += 1;
        let key = Key {
            src,
            dst,
            id: f.id,
            proto: f.protocol,
            tunnel,
        };
        let (start, end) = (f.offset as usize, f.offset as usize + data.len());
        if !self.map.contains_key(&key) {
            if self.map.len() >= self.cfg.max_pending
                || self.bytes + end > self.cfg.max_pending_bytes
            {
                self.stats.table_full += 1;
                return None;
            }
            self.map.insert(
                key,
                Pending {
                    first_ts: ts,
                    ..Pending::default()
                },
            );
        }
        let p = self.map.get_mut(&key)?;
        p.pieces += 1;
        let mut bad = end > self.cfg.max_datagram || p.pieces > self.cfg.max_fragments;
        if bad {
            self.stats.too_big += 1;
        } else if !f.more && p.total.is_some_and(|t| t != end) || p.total.is_some_and(|t| end > t) {
            self.stats.bad_length += 1;
            bad = true;
        }
        if bad {
            self.drop_key(&key);
            return None;
        }
        if !f.more {
            p.total = Some(end);
        }
        if p.data.len() < end {
            self.bytes += end - p.data.len();
            p.data.resize(end, 0);
        }
        self.stats.inconsistent_overlaps += fill(p, start, data);
        let done = p.total.is_some_and(|t| p.have.first() == Some(&(0, t)));
        if !done {
            return None;
        }
        let mut whole = self.map.remove(&key)?;
        self.bytes -= whole.data.len();
        self.stats.reassembled += 1;
        whole.data.truncate(whole.total.unwrap_or(0));
        Some(whole.data)
    }

    fn drop_key(&mut self, key: &Key) {
        if let Some(p) = self.map.remove(key) {
            self.bytes -= p.data.len();
        }
    }

    /// Drop datagrams still incomplete `timeout_ns` after their first fragment.
    pub fn expire(&mut self, now: u64) {
        let limit = now.saturating_sub(self.cfg.timeout_ns);
        let old: Vec<Key> = self
            .map
            .iter()
            .filter(|(_, p)| p.first_ts < limit)
            .map(|(k, _)| *k)
            .collect();
        for k in old {
            self.stats.timed_out += 1;
            self.drop_key(&k);
        }
    }

    /// Datagrams still waiting for fragments.
    pub fn pending(&self) -> usize {
        self.map.len()
    }
}

/// Copy the parts of `data` (at `start`) not received yet; returns 1 if an overlap differed.
fn fill(p: &mut Pending, start: usize, data: &[u8]) -> u64 {
    let end = start + data.len();
    let mut inconsistent = false;
    let mut at = start;
    for &(a, b) in p.have.iter().filter(|(a, b)| *b > start && *a < end) {
        if a > at {
            p.data[at..a].copy_from_slice(&data[at - start..a - start]);
        }
        let (o0, o1) = (a.max(start), b.min(end));
        inconsistent |= p.data[o0..o1] != data[o0 - start..o1 - start];
        at = at.max(b);
    }
    if at < end {
        p.data[at..end].copy_from_slice(&data[at - start..]);
    }
    // Merge [start, end) into the sorted, disjoint ranges.
    let mut merged = Vec::with_capacity(p.have.len() + 1);
    let (mut s, mut e) = (start, end);
    for &(a, b) in &p.have {
        if b < s || a > e {
            merged.push((a, b));
        } else {
            s = s.min(a);
            e = e.max(b);
        }
    }
    merged.push((s, e));
    merged.sort_unstable();
    p.have = merged;
    u64::from(inconsistent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(id: u32, offset: u32, more: bool) -> FragmentMeta {
        FragmentMeta {
            id,
            offset,
            more,
            protocol: 6,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn reassembles_in_any_order_first_copy_wins() {
        let payload: Vec<u8> = (0..100u8).collect();
        let mut d = Defrag::new(DefragConfig::default());
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        assert!(d
            .push(1, a, b, 0, frag(7, 64, false), &payload[64..])
            .is_none());
        assert!(d
            .push(2, a, b, 0, frag(7, 0, true), &payload[..32])
            .is_none());
        // Overlap with different bytes: counted, first copy kept.
        assert!(d.push(3, a, b, 0, frag(7, 24, true), &[0xff; 16]).is_none());
        let whole = d
            .push(4, a, b, 0, frag(7, 32, true), &payload[32..64])
            .expect("complete");
        let mut want = payload.clone();
        want[32..40].copy_from_slice(&[0xff; 8]);
        assert_eq!(whole, want);
        // Both the 0xff fragment and the last one overlapped bytes they disagreed with.
        assert_eq!(
            (
                d.stats.reassembled,
                d.stats.inconsistent_overlaps,
                d.pending()
            ),
            (1, 2, 0)
        );
    }

    #[test]
    fn caps_and_timeouts_are_counted() {
        let cfg = DefragConfig {
            max_pending: 1,
            timeout_ns: 10,
            ..DefragConfig::default()
        };
        let mut d = Defrag::new(cfg);
        let (a, b) = (ip("::1"), ip("::2"));
        assert!(d.push(0, a, b, 0, frag(1, 0, true), &[1; 8]).is_none());
        assert!(d.push(0, a, b, 0, frag(2, 0, true), &[1; 8]).is_none());
        assert_eq!(d.stats.table_full, 1);
        assert!(d
            .push(0, a, b, 0, frag(1, 65_528, true), &[1; 16])
            .is_none());
        assert_eq!((d.stats.too_big, d.pending()), (1, 0));
        assert!(d.push(5, a, b, 0, frag(3, 0, true), &[1; 8]).is_none());
        d.expire(100);
        assert_eq!((d.stats.timed_out, d.pending(), d.bytes), (1, 0, 0));
    }
}
