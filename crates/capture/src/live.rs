//! Live capture from an interface through libpcap, optionally as one of several sockets
//! sharing the interface through kernel flow-hash fanout (`PACKET_FANOUT_HASH`).

use crate::{CaptureError, Packet};

/// How to open a live interface.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub iface: String,
    pub bpf: Option<String>,
    pub snaplen: i32,
    pub promisc: bool,
    /// Kernel buffer size in bytes.
    pub buffer_size: i32,
    /// How long a read may block before returning nothing, so callers can check for shutdown.
    pub timeout_ms: i32,
    /// Join this kernel fanout group (Linux): the sockets of one group share the
    /// interface's packets by a symmetric flow hash, both directions of a flow to one socket,
    /// IP fragments defragmented by the kernel first.
    pub fanout: Option<u16>,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            iface: String::new(),
            bpf: None,
            snaplen: 65535,
            promisc: true,
            buffer_size: 64 << 20,
            timeout_ms: 100,
            fanout: None,
        }
    }
}

/// Kernel counters of a live capture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveStats {
    pub received: u64,
    pub dropped: u64,
    pub if_dropped: u64,
}

impl LiveStats {
    pub fn add(&mut self, o: &LiveStats) {
        self.received += o.received;
        self.dropped += o.dropped;
        self.if_dropped += o.if_dropped;
    }
}

/// An open live interface.
pub struct LiveSource {
    cap: pcap::Capture<pcap::Active>,
    link: u32,
}

impl std::fmt::Debug for LiveSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSource")
            .field("link", &self.link)
            .finish()
    }
}

impl LiveSource {
    pub fn open(cfg: &LiveConfig) -> Result<LiveSource, CaptureError> {
        let err =
            |what: &str, e: pcap::Error| CaptureError::Live(format!("{}: {what}: {e}", cfg.iface));
        let cap = pcap::Capture::from_device(cfg.iface.as_str())
            .map_err(|e| err("no such device", e))?
            .promisc(cfg.promisc)
            .snaplen(cfg.snaplen)
            .buffer_size(cfg.buffer_size)
            .timeout(cfg.timeout_ms)
            .open()
            .map_err(|e| err("cannot open", e))?;
        // Non-blocking: a read timeout is not honoured on every kernel (a quiet link would block
        // shutdown forever), so an empty read returns at once and the caller idles briefly.
        let mut cap = cap
            .setnonblock()
            .map_err(|e| err("cannot set non-blocking", e))?;
        if let Some(expr) = &cfg.bpf {
            cap.filter(expr, true)
                .map_err(|e| err("bad BPF filter", e))?;
        }
        if let Some(group) = cfg.fanout {
            join_fanout(&cap, group).map_err(|e| {
                CaptureError::Live(format!(
                    "{}: cannot join fanout group {group}: {e}",
                    cfg.iface
                ))
            })?;
        }
        let link = cap.get_datalink().0 as u32;
        Ok(LiveSource { cap, link })
    }

    /// `n` sockets on one interface, sharing its packets through a kernel fanout group
    /// (one plain socket when `n` is 1).
    pub fn open_group(cfg: &LiveConfig, n: usize) -> Result<Vec<LiveSource>, CaptureError> {
        if n <= 1 {
            return Ok(vec![LiveSource::open(cfg)?]);
        }
        let mut cfg = cfg.clone();
        // A group id unique to this process, so two sensors on one host do not share.
        cfg.fanout = Some(cfg.fanout.unwrap_or(std::process::id() as u16));
        (0..n).map(|_| LiveSource::open(&cfg)).collect()
    }

    /// Link type of the interface.
    pub fn link(&self) -> u32 {
        self.link
    }

    /// The next packet, its bytes appended to `buf`; `Ok(None)` after a short idle wait when
    /// nothing has arrived.
    pub fn next_into(&mut self, buf: &mut Vec<u8>) -> Result<Option<Packet>, CaptureError> {
        match self.cap.next_packet() {
            Ok(p) => {
                let ts = p.header.ts.tv_sec.max(0) as u64 * 1_000_000_000
                    + p.header.ts.tv_usec.max(0) as u64 * 1000;
                let off = buf.len() as u64;
                buf.extend_from_slice(p.data);
                Ok(Some(Packet {
                    ts,
                    link: self.link,
                    file: 0,
                    off,
                    caplen: p.data.len() as u32,
                    origlen: p.header.len,
                }))
            }
            Err(pcap::Error::TimeoutExpired) => {
                std::thread::sleep(std::time::Duration::from_millis(2));
                Ok(None)
            }
            Err(e) => Err(CaptureError::Live(format!("capture failed: {e}"))),
        }
    }

    /// Kernel receive and drop counters.
    pub fn stats(&mut self) -> LiveStats {
        match self.cap.stats() {
            Ok(s) => LiveStats {
                received: s.received as u64,
                dropped: s.dropped as u64,
                if_dropped: s.if_dropped as u64,
            },
            Err(_) => LiveStats::default(),
        }
    }
}

/// Join the socket under a libpcap handle to fanout group `group`, hashing flows
/// symmetrically and defragmenting IP first so a datagram's fragments meet on one socket.
fn join_fanout(cap: &pcap::Capture<pcap::Active>, group: u16) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    const PACKET_FANOUT: libc::c_int = 18;
    const PACKET_FANOUT_HASH: u32 = 0;
    const PACKET_FANOUT_FLAG_DEFRAG: u32 = 0x8000;
    let arg: libc::c_int =
        (group as u32 | (PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16) as libc::c_int;
    let fd = cap.as_raw_fd();
    // SAFETY: `fd` is the open packet socket owned by `cap`, which outlives this call; the
    // option value is a plain int whose address and exact size we pass.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            PACKET_FANOUT,
            (&arg as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
