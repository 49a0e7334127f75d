//! apitap-wire: stateless decoding of one captured frame down to its transport payload.
//!
//! Owns: link layers (Ethernet, 802.1Q/QinQ, Linux cooked SLL/SLL2, raw IP, BSD null/loop),
//! IPv4/IPv6 (extension headers, via etherparse's lax slices), TCP and UDP, and the tunnels a
//! mirror wraps traffic in (VXLAN, GENEVE, GRE, ERSPAN, IP-in-IP).
//!
//! Invariants:
//! - Pure: no state, no allocation, no I/O. One frame in, one [`Decoded`] or one [`Anomaly`] out.
//! - Never panics on any input; every length is checked before it is used.
//! - The payload is reported as a range into the caller's frame (zero-copy), together with how
//!   many payload bytes the capture cut off (`truncated`), so higher layers treat them as a gap.
//! - Malformed frames are data: an [`Anomaly`] kind that callers count, never an error type.
#![forbid(unsafe_code)]

mod link;
mod tunnel;

use std::net::IpAddr;

pub use link::LinkType;

/// Maximum nesting of tunnels we strip (VXLAN in GRE in ...).
pub const MAX_TUNNEL_DEPTH: usize = 3;

/// What went wrong with a frame. Counted per kind; never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Anomaly {
    /// The link type of the interface is not one we decode.
    UnknownLinkType,
    /// The frame ends inside a link-layer header.
    TruncatedLink,
    /// An EtherType (or SLL protocol) we do not decode, e.g. ARP, LLDP.
    NotIp,
    /// The IP header is invalid or cut.
    BadIp,
    /// The TCP header is invalid or cut.
    BadTcp,
    /// The UDP header is cut.
    BadUdp,
    /// A tunnel header is invalid or cut.
    BadTunnel,
    /// More nested tunnels than [`MAX_TUNNEL_DEPTH`].
    TooManyTunnels,
}

impl Anomaly {
    /// All kinds, for reporting every counter even when zero.
    pub const ALL: [Anomaly; 8] = [
        Anomaly::UnknownLinkType,
        Anomaly::TruncatedLink,
        Anomaly::NotIp,
        Anomaly::BadIp,
        Anomaly::BadTcp,
        Anomaly::BadUdp,
        Anomaly::BadTunnel,
        Anomaly::TooManyTunnels,
    ];

    /// Stable snake_case name used in stats output.
    pub fn name(self) -> &'static str {
        match self {
            Anomaly::UnknownLinkType => "unknown_link_type",
            Anomaly::TruncatedLink => "truncated_link",
            Anomaly::NotIp => "not_ip",
            Anomaly::BadIp => "bad_ip",
            Anomaly::BadTcp => "bad_tcp",
            Anomaly::BadUdp => "bad_udp",
            Anomaly::BadTunnel => "bad_tunnel",
            Anomaly::TooManyTunnels => "too_many_tunnels",
        }
    }
}

/// TCP header fields the reassembler needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpMeta {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
}

/// TCP flag bits as on the wire (low 8 bits of byte 13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// The transport of a decoded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp(TcpMeta),
    Udp {
        src_port: u16,
        dst_port: u16,
    },
    /// An IP fragment (IPv4 MF/offset or IPv6 fragment header); the payload is the fragment data.
    Fragment(FragmentMeta),
    /// Any other IP protocol number.
    Other(u8),
}

/// Enough of a fragment's IP header to reassemble it (done by the flow crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentMeta {
    pub id: u32,
    /// Offset of this fragment's data in the original payload, in bytes.
    pub offset: u32,
    pub more: bool,
    /// IP protocol of the reassembled payload.
    pub protocol: u8,
}

/// One decoded frame. Offsets index the frame given to [`decode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub transport: Transport,
    /// Start of the transport payload in the frame.
    pub payload_off: u32,
    /// Captured payload length.
    pub payload_len: u32,
    /// Payload bytes the IP header announces but the capture cut off (snaplen, mirror truncation).
    pub truncated: u32,
    /// Identifies the mirror session: VXLAN/GENEVE VNI, GRE key or ERSPAN session id; 0 if none.
    pub tunnel: u32,
    /// Outermost 802.1Q VLAN id, 0 if none.
    pub vlan: u16,
}

impl Decoded {
    /// The payload bytes within `frame` (the same frame passed to [`decode`]).
    pub fn payload<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        let start = self.payload_off as usize;
        frame
            .get(start..start + self.payload_len as usize)
            .unwrap_or(&[])
    }
}

/// Options for decoding; tunnels on these UDP ports are unwrapped.
#[derive(Debug, Clone)]
pub struct DecodeConfig {
    pub vxlan_ports: Vec<u16>,
    pub geneve_ports: Vec<u16>,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig {
            vxlan_ports: vec![4789, 8472],
            geneve_ports: vec![6081],
        }
    }
}

/// Decode one frame of link type `link`.
pub fn decode(link: LinkType, frame: &[u8], cfg: &DecodeConfig) -> Result<Decoded, Anomaly> {
    let mut st = State {
        frame,
        cfg,
        vlan: 0,
        tunnel: 0,
        depth: 0,
    };
    if link == LinkType::VXLAN_PAYLOAD || link == LinkType::GENEVE_PAYLOAD {
        let parse = if link == LinkType::VXLAN_PAYLOAD {
            tunnel::vxlan
        } else {
            tunnel::geneve
        };
        let (net, vni, hdr) = parse(frame)?;
        st.tunnel = vni;
        return st.nested(net, hdr);
    }
    let (proto, off) = link::strip(link, frame, &mut st.vlan)?;
    st.network(proto, off)
}

/// Decode a reassembled IP payload (`data` is the whole transport payload of protocol
/// `proto` between `src` and `dst`), as [`decode`] would have decoded it unfragmented.
/// Offsets in the result index `data`; `outer` supplies the tunnel id and VLAN of the
/// fragments.
pub fn decode_payload(
    proto: u8,
    src: IpAddr,
    dst: IpAddr,
    data: &[u8],
    outer: &Decoded,
    cfg: &DecodeConfig,
) -> Result<Decoded, Anomaly> {
    let mut st = State {
        frame: data,
        cfg,
        vlan: outer.vlan,
        tunnel: outer.tunnel,
        depth: 0,
    };
    st.transport(src, dst, proto, 0, data, 0)
}

/// What the layer walk carries from outer to inner layers.
struct State<'a> {
    frame: &'a [u8],
    cfg: &'a DecodeConfig,
    vlan: u16,
    tunnel: u32,
    depth: usize,
}

/// A network-layer protocol identified by the layer below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Net {
    Ipv4,
    Ipv6,
    /// Unknown: peek at the IP version nibble.
    Ip,
    /// Transparent Ethernet bridging (inside a tunnel).
    Ethernet,
}

impl<'a> State<'a> {
    fn network(&mut self, proto: Net, off: usize) -> Result<Decoded, Anomaly> {
        let data = self.frame.get(off..).ok_or(Anomaly::TruncatedLink)?;
        match proto {
            Net::Ethernet => {
                let (p, o) = link::ethernet(data, &mut self.vlan)?;
                self.network(p, off + o)
            }
            Net::Ipv4 | Net::Ipv6 | Net::Ip => self.ip(off),
        }
    }

    fn ip(&mut self, off: usize) -> Result<Decoded, Anomaly> {
        let data = &self.frame[off..];
        let (ip, _ext_err) =
            etherparse::LaxIpSlice::from_slice(data).map_err(|_| Anomaly::BadIp)?;
        let src = ip.source_addr();
        let dst = ip.destination_addr();
        let pl = ip.payload();
        let proto = pl.ip_number.0;
        let missing = missing_bytes(data, &ip);
        let payload_off = offset_in(self.frame, pl.payload);
        if pl.fragmented {
            let frag = fragment_meta(&ip, proto);
            return Ok(self.out(
                src,
                dst,
                Transport::Fragment(frag),
                payload_off,
                pl.payload,
                missing,
            ));
        }
        self.transport(src, dst, proto, payload_off, pl.payload, missing)
    }

    /// Dispatch on the IP protocol of a (whole) IP payload at `off` in the frame.
    fn transport(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        off: usize,
        payload: &[u8],
        missing: u32,
    ) -> Result<Decoded, Anomaly> {
        match proto {
            6 => self.tcp(src, dst, payload, missing),
            17 => self.udp(src, dst, payload, missing),
            4 | 41 => self.nested(Net::Ip, off),
            47 => {
                let (net, key, hdr) = tunnel::gre(payload)?;
                self.tunnel = key.unwrap_or(self.tunnel);
                self.nested(net, off + hdr)
            }
            other => Ok(self.out(src, dst, Transport::Other(other), off, payload, missing)),
        }
    }

    fn nested(&mut self, net: Net, off: usize) -> Result<Decoded, Anomaly> {
        self.depth += 1;
        if self.depth > MAX_TUNNEL_DEPTH {
            return Err(Anomaly::TooManyTunnels);
        }
        self.network(net, off)
    }

    fn tcp(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        seg: &[u8],
        missing: u32,
    ) -> Result<Decoded, Anomaly> {
        let tcp = etherparse::TcpSlice::from_slice(seg).map_err(|_| Anomaly::BadTcp)?;
        let hdr = tcp.header_slice();
        let meta = TcpMeta {
            src_port: tcp.source_port(),
            dst_port: tcp.destination_port(),
            seq: tcp.sequence_number(),
            ack: tcp.acknowledgment_number(),
            flags: TcpFlags(hdr.get(13).copied().unwrap_or(0)),
            window: tcp.window_size(),
        };
        let payload = tcp.payload();
        let off = offset_in(self.frame, payload);
        Ok(self.out(src, dst, Transport::Tcp(meta), off, payload, missing))
    }

    fn udp(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        dgram: &[u8],
        missing: u32,
    ) -> Result<Decoded, Anomaly> {
        let udp = etherparse::UdpSlice::from_slice_lax(dgram).map_err(|_| Anomaly::BadUdp)?;
        let (sp, dp) = (udp.source_port(), udp.destination_port());
        let payload = udp.payload();
        let off = offset_in(self.frame, payload);
        if missing == 0 {
            if let Some((net, vni, hdr)) = tunnel::udp(sp, dp, payload, self)? {
                self.tunnel = vni;
                return self.nested(net, off + hdr);
            }
        }
        Ok(self.out(
            src,
            dst,
            Transport::Udp {
                src_port: sp,
                dst_port: dp,
            },
            off,
            payload,
            missing,
        ))
    }

    fn out(
        &self,
        src: IpAddr,
        dst: IpAddr,
        t: Transport,
        off: usize,
        p: &[u8],
        missing: u32,
    ) -> Decoded {
        Decoded {
            src,
            dst,
            transport: t,
            payload_off: off as u32,
            payload_len: p.len() as u32,
            truncated: missing,
            tunnel: self.tunnel,
            vlan: self.vlan,
        }
    }
}

/// Bytes of IP payload announced by the header but absent from the capture.
fn missing_bytes(ip_data: &[u8], ip: &etherparse::LaxIpSlice<'_>) -> u32 {
    let pl = ip.payload();
    if !pl.incomplete {
        return 0;
    }
    let datagram_len = match ip {
        etherparse::LaxIpSlice::Ipv4(v4) => v4.header().total_len() as usize,
        etherparse::LaxIpSlice::Ipv6(v6) => 40 + v6.header().payload_length() as usize,
    };
    let end = offset_in(ip_data, pl.payload) + pl.payload.len();
    datagram_len.saturating_sub(end) as u32
}

fn fragment_meta(ip: &etherparse::LaxIpSlice<'_>, proto: u8) -> FragmentMeta {
    match ip {
        etherparse::LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            FragmentMeta {
                id: h.identification() as u32,
                offset: h.fragments_offset().value() as u32 * 8,
                more: h.more_fragments(),
                protocol: proto,
            }
        }
        etherparse::LaxIpSlice::Ipv6(v6) => {
            let mut meta = FragmentMeta {
                id: 0,
                offset: 0,
                more: false,
                protocol: proto,
            };
            for ext in v6.extensions().clone().into_iter() {
                if let etherparse::Ipv6ExtensionSlice::Fragment(f) = ext {
                    meta.id = f.identification();
                    meta.offset = f.fragment_offset().value() as u32 * 8;
                    meta.more = f.more_fragments();
                }
            }
            meta
        }
    }
}

/// Offset of `inner` within `outer`; both come from the same frame, so this cannot underflow.
fn offset_in(outer: &[u8], inner: &[u8]) -> usize {
    (inner.as_ptr() as usize)
        .saturating_sub(outer.as_ptr() as usize)
        .min(outer.len())
}

#[cfg(test)]
mod tests;
