//! Live capture from an interface through libpcap.

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
        let link = cap.get_datalink().0 as u32;
        Ok(LiveSource { cap, link })
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
