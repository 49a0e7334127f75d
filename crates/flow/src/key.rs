//! Canonical flow keys.

use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, SocketAddr};

/// A flow's two endpoints in canonical order (`lo` < `hi`) plus the tunnel id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub lo: SocketAddr,
    pub hi: SocketAddr,
    pub tunnel: u32,
}

/// A direction relative to the flow's originator (the first sender seen, or the SYN sender).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    Orig = 0,
    Resp = 1,
}

impl Dir {
    pub fn other(self) -> Dir {
        match self {
            Dir::Orig => Dir::Resp,
            Dir::Resp => Dir::Orig,
        }
    }
    pub fn idx(self) -> usize {
        self as usize
    }
}

impl FlowKey {
    /// The key of a packet from `src` to `dst`.
    pub fn new(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, tunnel: u32) -> FlowKey {
        let a = SocketAddr::new(src, sport);
        let b = SocketAddr::new(dst, dport);
        if a <= b {
            FlowKey {
                lo: a,
                hi: b,
                tunnel,
            }
        } else {
            FlowKey {
                lo: b,
                hi: a,
                tunnel,
            }
        }
    }

    /// A hash that is the same in every process and run, for sharding flows to workers.
    pub fn shard_hash(&self) -> u64 {
        let st = foldhash::fast::FixedState::with_seed(0x6170_6974_6170);
        let mut h = st.build_hasher();
        self.hash(&mut h);
        std::hash::Hasher::finish(&h)
    }
}
