//! Tunnel headers a traffic mirror wraps packets in: VXLAN, GENEVE (UDP), GRE and ERSPAN.

use crate::{Anomaly, Net, State};

const GRE_C: u8 = 0x80;
const GRE_K: u8 = 0x20;
const GRE_S: u8 = 0x10;

/// If `payload` of a UDP datagram to `dport` is a tunnel we unwrap: (inner protocol, VNI,
/// tunnel header length).
pub(crate) fn udp(
    dport: u16,
    payload: &[u8],
    st: &State<'_>,
) -> Result<Option<(Net, u32, usize)>, Anomaly> {
    let cfg = st.cfg;
    if cfg.vxlan_ports.contains(&dport) {
        let h = payload.get(..8).ok_or(Anomaly::BadTunnel)?;
        if h[0] & 0x08 == 0 {
            return Err(Anomaly::BadTunnel);
        }
        let vni = u32::from_be_bytes([0, h[4], h[5], h[6]]);
        return Ok(Some((Net::Ethernet, vni, 8)));
    }
    if cfg.geneve_ports.contains(&dport) {
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
        return Ok(Some((net, vni, len)));
    }
    Ok(None)
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
