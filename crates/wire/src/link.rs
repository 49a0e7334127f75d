//! Link layers: find where the network layer starts. Offsets live here and nowhere else.

use crate::{Anomaly, Net};

/// A pcap LINKTYPE_* value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const RAW_BSD12: LinkType = LinkType(12);
    pub const RAW_BSD14: LinkType = LinkType(14);
    pub const RAW: LinkType = LinkType(101);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);
    pub const C_HDLC: LinkType = LinkType(104);
    pub const IEEE802_11_RADIOTAP: LinkType = LinkType(127);
    pub const NFLOG: LinkType = LinkType(239);
    /// apitap's own: a UDP payload starting at a VXLAN header, as a mirror-target socket
    /// receives it. Outside the registered range, so no capture file carries it.
    pub const VXLAN_PAYLOAD: LinkType = LinkType(0x4150_0001);
    /// apitap's own: a UDP payload starting at a GENEVE header.
    pub const GENEVE_PAYLOAD: LinkType = LinkType(0x4150_0002);

    /// Whether [`crate::decode`] understands this link type.
    pub fn is_supported(self) -> bool {
        matches!(
            self.0,
            0 | 1
                | 12
                | 14
                | 101
                | 104
                | 105
                | 108
                | 113
                | 127
                | 228
                | 229
                | 239
                | 276
                | 0x4150_0001
                | 0x4150_0002
        )
    }
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;
const ETH_QINQ_OLD: u16 = 0x9100;
const ETH_MPLS: u16 = 0x8847;
const ETH_MPLS_MC: u16 = 0x8848;
const ETH_PPPOE: u16 = 0x8864;
const ETH_TEB: u16 = 0x6558;
/// Maximum VLAN tags / MPLS labels walked before giving up.
const MAX_TAGS: usize = 8;

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

/// Strip the link layer of `frame`; returns the network protocol and its offset.
pub(crate) fn strip(link: LinkType, frame: &[u8], vlan: &mut u16) -> Result<(Net, usize), Anomaly> {
    match link.0 {
        1 => ethernet(frame, vlan),
        12 | 14 | 101 => Ok((Net::Ip, 0)),
        228 => Ok((Net::Ipv4, 0)),
        229 => Ok((Net::Ipv6, 0)),
        0 | 108 => {
            let fam = frame.get(..4).ok_or(Anomaly::TruncatedLink)?;
            let fam = if link.0 == 0 {
                u32::from_le_bytes([fam[0], fam[1], fam[2], fam[3]])
                    .min(u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]]))
            } else {
                u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]])
            };
            match fam {
                2 => Ok((Net::Ipv4, 4)),
                24 | 28 | 30 => Ok((Net::Ipv6, 4)),
                _ => Err(Anomaly::NotIp),
            }
        }
        113 => {
            let proto = be16(frame, 14).ok_or(Anomaly::TruncatedLink)?;
            ethertype(proto, frame, 16, vlan)
        }
        276 => {
            let proto = be16(frame, 0).ok_or(Anomaly::TruncatedLink)?;
            if frame.len() < 20 {
                return Err(Anomaly::TruncatedLink);
            }
            ethertype(proto, frame, 20, vlan)
        }
        104 => {
            // Cisco HDLC: address, control, then an EtherType.
            let proto = be16(frame, 2).ok_or(Anomaly::TruncatedLink)?;
            ethertype(proto, frame, 4, vlan)
        }
        105 => ieee80211(frame, 0),
        127 => {
            let len = u16::from_le_bytes([
                *frame.get(2).ok_or(Anomaly::TruncatedLink)?,
                *frame.get(3).ok_or(Anomaly::TruncatedLink)?,
            ]);
            ieee80211(frame, len as usize)
        }
        239 => nflog(frame),
        _ => Err(Anomaly::UnknownLinkType),
    }
}

/// An 802.11 data frame with LLC/SNAP encapsulation, starting at `off`.
fn ieee80211(frame: &[u8], off: usize) -> Result<(Net, usize), Anomaly> {
    let fc = *frame.get(off).ok_or(Anomaly::TruncatedLink)?;
    let flags = *frame.get(off + 1).ok_or(Anomaly::TruncatedLink)?;
    if (fc >> 2) & 0x3 != 2 {
        return Err(Anomaly::NotIp); // management or control frame
    }
    if flags & 0x40 != 0 {
        return Err(Anomaly::NotIp); // protected (encrypted) payload
    }
    let mut hdr = 24;
    if flags & 0x03 == 0x03 {
        hdr += 6; // four addresses (WDS)
    }
    if (fc >> 4) & 0x8 != 0 {
        hdr += 2; // QoS data
    }
    let llc = off + hdr;
    if frame.get(llc..llc + 6) != Some(&[0xaa, 0xaa, 0x03, 0, 0, 0][..]) {
        return Err(Anomaly::NotIp);
    }
    let proto = be16(frame, llc + 6).ok_or(Anomaly::TruncatedLink)?;
    let mut no_vlan = 0;
    ethertype(proto, frame, llc + 8, &mut no_vlan)
}

/// Linux NFLOG: a 4-byte header, then TLVs (little-endian length and type, 4-byte aligned);
/// type 9 carries the packet from its network header.
fn nflog(frame: &[u8]) -> Result<(Net, usize), Anomaly> {
    let family = *frame.first().ok_or(Anomaly::TruncatedLink)?;
    let mut off = 4;
    while off + 4 <= frame.len() {
        let len = u16::from_le_bytes([frame[off], frame[off + 1]]) as usize;
        let ty = u16::from_le_bytes([frame[off + 2], frame[off + 3]]);
        if len < 4 {
            return Err(Anomaly::TruncatedLink);
        }
        if ty == 9 {
            return match family {
                2 => Ok((Net::Ipv4, off + 4)),
                10 => Ok((Net::Ipv6, off + 4)),
                _ => Ok((Net::Ip, off + 4)),
            };
        }
        off += (len + 3) & !3;
    }
    Err(Anomaly::TruncatedLink)
}

/// An Ethernet II frame, with any VLAN/QinQ tags, MPLS labels or PPPoE session header.
pub(crate) fn ethernet(frame: &[u8], vlan: &mut u16) -> Result<(Net, usize), Anomaly> {
    let proto = be16(frame, 12).ok_or(Anomaly::TruncatedLink)?;
    ethertype(proto, frame, 14, vlan)
}

fn ethertype(
    mut proto: u16,
    frame: &[u8],
    mut off: usize,
    vlan: &mut u16,
) -> Result<(Net, usize), Anomaly> {
    for _ in 0..MAX_TAGS {
        match proto {
            ETH_IPV4 => return Ok((Net::Ipv4, off)),
            ETH_IPV6 => return Ok((Net::Ipv6, off)),
            ETH_TEB => return Ok((Net::Ethernet, off)),
            ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD => {
                let tci = be16(frame, off).ok_or(Anomaly::TruncatedLink)?;
                if *vlan == 0 {
                    *vlan = tci & 0x0fff;
                }
                proto = be16(frame, off + 2).ok_or(Anomaly::TruncatedLink)?;
                off += 4;
            }
            ETH_MPLS | ETH_MPLS_MC => return mpls(frame, off),
            ETH_PPPOE => {
                // Six bytes of PPPoE session header, then the PPP protocol: one byte when
                // its low bit is set (protocol field compression, RFC 1661), else two.
                let first = *frame.get(off + 6).ok_or(Anomaly::TruncatedLink)?;
                let ppp = if first & 1 == 1 {
                    off += 7;
                    u16::from(first)
                } else {
                    let ppp = be16(frame, off + 6).ok_or(Anomaly::TruncatedLink)?;
                    off += 8;
                    ppp
                };
                return match ppp {
                    0x0021 => Ok((Net::Ipv4, off)),
                    0x0057 => Ok((Net::Ipv6, off)),
                    _ => Err(Anomaly::NotIp),
                };
            }
            // An IEEE 802.3 length instead of a type (also after a VLAN tag): LLC with a
            // SNAP header (RFC 1042, or 802.1H bridge tunnelling) carries the type.
            len if len <= 1500 => {
                let llc = frame.get(off..off + 8).ok_or(Anomaly::TruncatedLink)?;
                if llc[..3] != [0xaa, 0xaa, 0x03] || !matches!(llc[3..6], [0, 0, 0] | [0, 0, 0xf8])
                {
                    return Err(Anomaly::NotIp);
                }
                proto = u16::from_be_bytes([llc[6], llc[7]]);
                off += 8;
            }
            _ => return Err(Anomaly::NotIp),
        }
    }
    Err(Anomaly::TruncatedLink)
}

/// Pop MPLS labels until bottom of stack; the payload's version nibble tells IPv4 from IPv6.
fn mpls(frame: &[u8], mut off: usize) -> Result<(Net, usize), Anomaly> {
    for _ in 0..MAX_TAGS {
        let b2 = *frame.get(off + 2).ok_or(Anomaly::TruncatedLink)?;
        off += 4;
        if b2 & 0x01 != 0 {
            return match frame.get(off).map(|b| b >> 4) {
                Some(4) => Ok((Net::Ipv4, off)),
                Some(6) => Ok((Net::Ipv6, off)),
                _ => Err(Anomaly::NotIp),
            };
        }
    }
    Err(Anomaly::NotIp)
}
