//! Tunnel headers a traffic mirror wraps packets in: VXLAN, GENEVE (UDP), GRE and ERSPAN.

use crate::{Anomaly, Net, State};

const GRE_C: u8 = 0x80;
const GRE_K: u8 = 0x20;
const GRE_S: u8 = 0x10;

/// If `payload` of a UDP datagram between `sport` and `dport` is a tunnel we unwrap: (inner protocol, VNI,
/// tunnel header length).
pub(crate) fn udp(
    sport: u16,
    dport: u16,
    payload: &[u8],
    st: &State<'_>,
) -> Result<Option<(Net, u32, usize)>, Anomaly> {
    let cfg = st.cfg;
    if cfg.vxlan_ports.contains(&dport) {
        return vxlan(payload).map(Some);
    }
    if cfg.geneve_ports.contains(&dport) {
        return geneve(payload).map(Some);
    }
    if sport == TEREDO || dport == TEREDO {
        return Ok(teredo(payload, false).map(|len| (Net::Ipv6, 0, len)));
    }
    if dport == AYIYA || sport == AYIYA {
        return ayiya(payload).map(|(net, len)| Some((net, 0, len)));
    }
    if dport == GTP_U || sport == GTP_U {
        return gtp_u(payload).map(|r| r.map(|len| (Net::Ip, 0, len)));
    }
    if dport == GRE_IN_UDP {
        let (net, session, len) = gre(payload)?;
        return Ok(Some((net, session.unwrap_or(0), len)));
    }
    // Teredo between a relay and a peer runs on any port: recognised by content.
    Ok(teredo(payload, true).map(|len| (Net::Ipv6, 0, len)))
}

/// A VXLAN header (RFC 7348): (inner protocol, VNI, header length).
pub(crate) fn vxlan(payload: &[u8]) -> Result<(Net, u32, usize), Anomaly> {
    let h = payload.get(..8).ok_or(Anomaly::BadTunnel)?;
    if h[0] & 0x08 == 0 {
        return Err(Anomaly::BadTunnel);
    }
    let vni = u32::from_be_bytes([0, h[4], h[5], h[6]]);
    Ok((Net::Ethernet, vni, 8))
}

/// A GENEVE header (RFC 8926), options skipped: (inner protocol, VNI, header length).
pub(crate) fn geneve(payload: &[u8]) -> Result<(Net, u32, usize), Anomaly> {
    let h = payload.get(..8).ok_or(Anomaly::BadTunnel)?;
    if h[0] >> 6 != 0 {
        return Err(Anomaly::BadTunnel);
    }
    let len = 8 + (h[0] & 0x3f) as usize * 4;
    let net = match u16::from_be_bytes([h[2], h[3]]) {
        0x6558 => Net::Ethernet,
        0x0800 => Net::Ipv4,
        0x86dd => Net::Ipv6,
        _ => return Err(Anomaly::BadTunnel),
    };
    if payload.len() < len {
        return Err(Anomaly::BadTunnel);
    }
    let vni = u32::from_be_bytes([0, h[4], h[5], h[6]]);
    Ok((net, vni, len))
}

const TEREDO: u16 = 3544;
const AYIYA: u16 = 5072;
const GTP_U: u16 = 2152;
const GRE_IN_UDP: u16 = 4754;

/// Teredo (RFC 4380): optional authentication and origin-indication headers, then IPv6.
/// Not a tunnel when no IPv6 header follows (bubbles, other traffic on the port). Off the
/// Teredo port (`strict`), the IPv6 length must match the datagram exactly and one address
/// must be a Teredo address (2001:0::/32).
fn teredo(p: &[u8], strict: bool) -> Option<usize> {
    let mut off = 0;
    for _ in 0..2 {
        match p.get(off..off + 2)? {
            [0, 1] => {
                let (id, au) = (*p.get(off + 2)? as usize, *p.get(off + 3)? as usize);
                off += 4 + id + au + 8 + 1;
            }
            [0, 0] => off += 8,
            _ => break,
        }
    }
    // An IPv6 header with a plausible payload length.
    let h = p.get(off..off + 40)?;
    let len = 40 + u16::from_be_bytes([h[4], h[5]]) as usize;
    if h[0] >> 4 != 6 || len > p.len() - off {
        return None;
    }
    if strict {
        let teredo_addr = |a: &[u8]| a[..4] == [0x20, 0x01, 0, 0];
        if len != p.len() - off || !(teredo_addr(&h[8..24]) || teredo_addr(&h[24..40])) {
            return None;
        }
    }
    Some(off)
}

/// AYIYA: identity and signature lengths in the header, next header 4 (IPv4) or 41 (IPv6).
fn ayiya(p: &[u8]) -> Result<(Net, usize), Anomaly> {
    let h = p.get(..8).ok_or(Anomaly::BadTunnel)?;
    let id_len = 1usize << (h[0] >> 4);
    let sig_len = (h[1] >> 4) as usize * 4;
    let opcode = h[2] & 0x0f;
    let len = 8 + id_len + sig_len;
    if opcode != 1 || p.len() < len {
        return Err(Anomaly::BadTunnel);
    }
    match h[3] {
        4 => Ok((Net::Ipv4, len)),
        41 => Ok((Net::Ipv6, len)),
        _ => Err(Anomaly::BadTunnel),
    }
}

/// GTP-U (3GPP TS 29.281) G-PDU: mandatory header, optional sequence/N-PDU/extension fields
/// and extension headers, then the user's IP packet. Other message types are not tunnels.
fn gtp_u(p: &[u8]) -> Result<Option<usize>, Anomaly> {
    let h = p.get(..8).ok_or(Anomaly::BadTunnel)?;
    if h[0] >> 5 != 1 || h[0] & 0x10 == 0 {
        return Err(Anomaly::BadTunnel);
    }
    if h[1] != 0xff {
        return Ok(None); // echo, error indication, ...: signalling, not user data
    }
    let mut off = 8;
    if h[0] & 0x07 != 0 {
        let mut next = *p.get(off + 3).ok_or(Anomaly::BadTunnel)?;
        off += 4;
        for _ in 0..8 {
            if next == 0 {
                break;
            }
            let units = *p.get(off).ok_or(Anomaly::BadTunnel)? as usize;
            if units == 0 {
                return Err(Anomaly::BadTunnel);
            }
            off += units * 4;
            next = *p.get(off - 1).ok_or(Anomaly::BadTunnel)?;
        }
    }
    match p.get(off).map(|b| b >> 4) {
        Some(4) | Some(6) => Ok(Some(off)),
        _ => Err(Anomaly::BadTunnel),
    }
}

/// A GRE header (RFC 2784/2890) and, for ERSPAN, the mirror header after it.
/// Returns the inner protocol, the ERSPAN session id, and the total header length.
///
/// A plain GRE key is not treated as a mirror-session id: mirrors in the wild put a different
/// key on each direction of the same connection (zeek/erspan-http), which would split flows.
pub(crate) fn gre(p: &[u8]) -> Result<(Net, Option<u32>, usize), Anomaly> {
    let h = p.get(..4).ok_or(Anomaly::BadTunnel)?;
    let (flags, version) = (h[0], h[1] & 0x07);
    if version != 0 {
        return Err(Anomaly::BadTunnel);
    }
    let proto = u16::from_be_bytes([h[2], h[3]]);
    let mut len = 4;
    if flags & GRE_C != 0 {
        len += 4;
    }
    let key = None;
    if flags & GRE_K != 0 {
        p.get(len..len + 4).ok_or(Anomaly::BadTunnel)?;
        len += 4;
    }
    let seq = flags & GRE_S != 0;
    if seq {
        len += 4;
    }
    if p.len() < len {
        return Err(Anomaly::BadTunnel);
    }
    match proto {
        0x0800 => Ok((Net::Ipv4, key, len)),
        0x86dd => Ok((Net::Ipv6, key, len)),
        0x6558 => Ok((Net::Ethernet, key, len)),
        // ERSPAN type I has no sequence number and no ERSPAN header.
        0x88be if !seq => Ok((Net::Ethernet, key, len)),
        0x88be => {
            let e = p.get(len..len + 8).ok_or(Anomaly::BadTunnel)?;
            let session = u16::from_be_bytes([e[2], e[3]]) & 0x03ff;
            Ok((Net::Ethernet, Some(session as u32), len + 8))
        }
        0x22eb => {
            let e = p.get(len..len + 12).ok_or(Anomaly::BadTunnel)?;
            let session = u16::from_be_bytes([e[2], e[3]]) & 0x03ff;
            let sub = if e[11] & 0x01 != 0 { 8 } else { 0 };
            if p.len() < len + 12 + sub {
                return Err(Anomaly::BadTunnel);
            }
            Ok((Net::Ethernet, Some(session as u32), len + 12 + sub))
        }
        _ => Err(Anomaly::BadTunnel),
    }
}
