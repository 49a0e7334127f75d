//! Mirror-target mode: encapsulated packets (VXLAN, GENEVE) received on a plain UDP socket,
//! as an AWS VPC Traffic Mirroring target, a GCP Packet Mirroring collector or an Azure
//! virtual network TAP destination receives them. No promiscuous capture and no privilege
//! beyond binding the port.
//!
//! Each datagram becomes one packet whose bytes start at the tunnel header; the caller chooses
//! the link type that tells the decoder which header that is.

use crate::{CaptureError, LiveStats, Packet};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::MetadataExt;

/// Largest datagram we read; a mirrored jumbo frame plus its encapsulation fits.
const MAX_DATAGRAM: usize = 65535;

/// A bound UDP socket receiving encapsulated packets.
#[derive(Debug)]
pub struct UdpListener {
    sock: UdpSocket,
    addr: SocketAddr,
    link: u32,
    inode: u64,
    received: u64,
    /// One datagram's worth of receive buffer, reused: only the bytes received are copied on.
    scratch: Vec<u8>,
}

impl UdpListener {
    /// Bind `addr`; every datagram is delivered as a packet of link type `link`.
    pub fn bind(addr: SocketAddr, link: u32) -> Result<UdpListener, CaptureError> {
        let err =
            |what: &str, e: std::io::Error| CaptureError::Live(format!("{addr}: {what}: {e}"));
        let sock = UdpSocket::bind(addr).map_err(|e| err("cannot bind", e))?;
        sock.set_read_timeout(Some(std::time::Duration::from_millis(100)))
            .map_err(|e| err("cannot set a read timeout", e))?;
        // A deep receive buffer absorbs bursts. Past net.core.rmem_max only with
        // CAP_NET_ADMIN (the forcing option); what the kernel drops beyond is read back from
        // /proc/net/udp.
        use nix::sys::socket::{setsockopt, sockopt};
        if setsockopt(&sock, sockopt::RcvBufForce, &(32 << 20)).is_err() {
            let _ = setsockopt(&sock, sockopt::RcvBuf, &(32 << 20));
        }
        let addr = sock
            .local_addr()
            .map_err(|e| err("cannot read the bound address", e))?;
        let inode = socket_inode(&sock).unwrap_or(0);
        Ok(UdpListener {
            sock,
            addr,
            link,
            inode,
            received: 0,
            scratch: vec![0; MAX_DATAGRAM],
        })
    }

    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn link(&self) -> u32 {
        self.link
    }

    /// The next datagram, appended to `buf`; `Ok(None)` after a short wait when nothing came.
    pub fn next_into(&mut self, buf: &mut Vec<u8>) -> Result<Option<Packet>, CaptureError> {
        let off = buf.len();
        match self.sock.recv(&mut self.scratch) {
            Ok(n) => {
                buf.extend_from_slice(&self.scratch[..n]);
                self.received += 1;
                let ts = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                Ok(Some(Packet {
                    ts,
                    link: self.link,
                    file: 0,
                    off: off as u64,
                    caplen: n as u32,
                    origlen: n as u32,
                }))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(CaptureError::Live(format!(
                "{}: receive failed: {e}",
                self.addr
            ))),
        }
    }

    /// Datagrams received, and those the kernel dropped on this socket because its receive
    /// buffer was full (the `drops` column of /proc/net/udp).
    pub fn stats(&self) -> LiveStats {
        LiveStats {
            received: self.received,
            dropped: socket_drops(self.inode, self.addr.is_ipv6()).unwrap_or(0),
            if_dropped: 0,
        }
    }
}

fn socket_inode(sock: &UdpSocket) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let m = std::fs::metadata(format!("/proc/self/fd/{}", sock.as_raw_fd())).ok()?;
    Some(m.ino())
}

/// The drop counter of the socket with this inode, from /proc/net/udp or udp6.
fn socket_drops(inode: u64, v6: bool) -> Option<u64> {
    if inode == 0 {
        return None;
    }
    let table = std::fs::read_to_string(if v6 {
        "/proc/net/udp6"
    } else {
        "/proc/net/udp"
    })
    .ok()?;
    drops_of(&table, inode)
}

/// Parse a /proc/net/udp table: columns `sl local rem st tx:rx tr:when retrnsmt uid timeout
/// inode ref pointer drops`.
fn drops_of(table: &str, inode: u64) -> Option<u64> {
    table.lines().skip(1).find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        (cols.get(9)?.parse::<u64>().ok()? == inode).then(|| cols.last()?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_drop_column_of_its_own_socket() {
        let t = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                 1: 00000000:12B5 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n\
                 2: 00000000:12B6 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 99 2 0000000000000000 3\n";
        assert_eq!(drops_of(t, 4242), Some(17));
        assert_eq!(drops_of(t, 99), Some(3));
        assert_eq!(drops_of(t, 7), None);
    }

    #[test]
    fn a_datagram_arrives_as_one_packet_and_is_counted() {
        let mut l = UdpListener::bind("127.0.0.1:0".parse().expect("addr"), 0x4150_0001)
            .expect("bind on loopback");
        let tx = UdpSocket::bind("127.0.0.1:0").expect("sender");
        tx.send_to(b"\x08\0\0\0\0\0\x2a\0payload", l.local_addr())
            .expect("send");
        let mut buf = b"xx".to_vec();
        let p = loop {
            if let Some(p) = l.next_into(&mut buf).expect("recv") {
                break p;
            }
        };
        assert_eq!(p.link, 0x4150_0001);
        assert_eq!(p.data(&buf), b"\x08\0\0\0\0\0\x2a\0payload");
        assert_eq!(&buf[..2], b"xx");
        let s = l.stats();
        assert_eq!((s.received, s.dropped), (1, 0));
    }
}
