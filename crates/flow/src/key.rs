//! Canonical flow keys.

use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, SocketAddr};

/// A flow's two endpoints in canonical order (`lo` < `hi`) plus the tunnel id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    pub lo: SocketAddr,
    pub hi: SocketAddr,
    pub tunnel: u32,
}

/// Every packet hashes its key, for the dispatcher's shard and the worker's flow table: the
/// fields go in as three words (two for IPv4 addresses and ports), not field by field.
impl Hash for FlowKey {
    fn hash<S: std::hash::Hasher>(&self, state: &mut S) {
        let ports = u64::from(self.lo.port()) << 48
            | u64::from(self.hi.port()) << 32
            | u64::from(self.tunnel);
        match (self.lo.ip(), self.hi.ip()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                state.write_u64(u64::from(a.to_bits()) << 32 | u64::from(b.to_bits()));
                state.write_u64(ports);
            }
            (a, b) => {
                state.write_u128(bits(a));
                state.write_u128(bits(b));
                state.write_u64(ports);
                // Which side is IPv4: `10.0.0.2` and `::ffff:10.0.0.2` differ.
                state.write_u8(u8::from(a.is_ipv4()) << 1 | u8::from(b.is_ipv4()));
            }
        }
    }
}

/// An address as 128 bits (IPv4 in the IPv4-mapped form).
fn bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => v.to_ipv6_mapped().to_bits(),
        IpAddr::V6(v) => v.to_bits(),
    }
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
