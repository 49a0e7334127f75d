//! apitap-capture: packet sources. Offline pcap/pcapng files read through a memory map without
//! copying packets, several files merged in timestamp order, live interfaces via libpcap
//! (several sockets joined in a kernel fanout group), encapsulated mirror traffic received on a
//! UDP socket (VXLAN/GENEVE mirror target), and the drop of root once they are open.
//!
//! Invariants:
//! - A source hands out packets as (timestamp, link type, bytes); it never interprets them.
//! - File packets are slices of the mapped file ([`Packet::off`] indexes [`Backing`]); nothing
//!   is copied between the page cache and the decoder.
//! - A damaged file is read up to the damage: the rest is counted (`corrupt_records`) and
//!   reported, never a panic. Only an unreadable or unrecognisable file is an error.
//! - Live sources report the kernel's own receive and drop counters, never an estimate.
//! - This is the only crate allowed `unsafe` (memory mapping, the fanout socket option, a
//!   prefetch hint); each block says why it is sound.
#![deny(unsafe_code)]

mod file;
mod live;
mod privs;
mod udp;

pub use file::{CaptureFile, FileSet};
pub use live::{LiveConfig, LiveSource, LiveStats};
pub use privs::drop_to_user;
pub use udp::UdpListener;

use std::fmt;
use std::sync::Arc;

/// Nanoseconds since the Unix epoch.
pub type Nanos = u64;

/// The bytes packets point into: a mapped file, or a buffer read from a pipe.
#[derive(Debug)]
pub enum Backing {
    #[allow(unsafe_code)]
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Backing {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        }
    }

    /// Fill the page tables of `[from, to)` from the page cache ahead of the reader, in one
    /// call rather than a fault every few pages (`MADV_POPULATE_READ`, Linux 5.14; a hint:
    /// an older kernel refuses it and the pages fault in as before).
    pub fn populate(&self, from: usize, to: usize) {
        let Backing::Mapped(m) = self else { return };
        let to = to.min(m.len());
        if to > from {
            let _ = m.advise_range(memmap2::Advice::PopulateRead, from, to - from);
        }
    }

    /// Let the kernel drop the resident pages of `[from, to)` (page-aligned inwards), so a
    /// replay's memory does not grow with the file. Only memory changes: a later read of
    /// those bytes faults them in again from the page cache.
    pub fn release(&self, from: usize, to: usize) {
        const PAGE: usize = 4096;
        let Backing::Mapped(m) = self else { return };
        let (a, b) = (from.div_ceil(PAGE) * PAGE, to.min(m.len()) / PAGE * PAGE);
        if b > a {
            // SAFETY: `m` is a read-only, shared mapping of a regular file. MADV_DONTNEED on
            // such a mapping discards resident pages; any later access re-reads the same bytes
            // from the file, so no slice handed out before observes different contents.
            #[allow(unsafe_code)]
            let _ =
                unsafe { m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, a, b - a) };
        }
    }
}

/// Ask for the cache line holding `b` ahead of its use (a hint; nothing off x86-64).
fn prefetch_line(b: &u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults and changes nothing visible; the
    // address is that of a live reference.
    #[allow(unsafe_code)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (b as *const u8).cast(),
        )
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = b;
}

/// Ask for the cache lines of `data` ahead of their use: the file reader for the bytes
/// ahead of it, a worker for a packet a few ahead of the one it processes.
pub fn prefetch(data: &[u8]) {
    for b in data.iter().step_by(64) {
        prefetch_line(b);
    }
}

/// One captured packet, located in a [`Backing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub ts: Nanos,
    /// pcap LINKTYPE_* of the interface the packet was captured on.
    pub link: u32,
    /// Index of the backing (the file in a [`FileSet`]).
    pub file: u16,
    pub off: u64,
    pub caplen: u32,
    pub origlen: u32,
}

impl Packet {
    /// The packet bytes within `backing` (the backing with index [`Packet::file`]).
    pub fn data<'a>(&self, backing: &'a [u8]) -> &'a [u8] {
        let start = self.off as usize;
        backing
            .get(start..start + self.caplen as usize)
            .unwrap_or(&[])
    }
}

/// Counters kept by a file reader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileStats {
    pub records: u64,
    pub bytes: u64,
    /// Records whose captured length is shorter than the original (snaplen).
    pub snaplen_cut: u64,
    /// A record or block that could not be parsed: reading of that file stopped there.
    pub corrupt_records: u64,
    /// The file ended in the middle of a record.
    pub truncated_files: u64,
    /// Packets referring to an interface with no description block (pcapng).
    pub unknown_interface: u64,
}

impl FileStats {
    pub fn add(&mut self, o: &FileStats) {
        self.records += o.records;
        self.bytes += o.bytes;
        self.snaplen_cut += o.snaplen_cut;
        self.corrupt_records += o.corrupt_records;
        self.truncated_files += o.truncated_files;
        self.unknown_interface += o.unknown_interface;
    }
}

/// Errors opening a source. Damage inside a file is counted in [`FileStats`] instead.
#[derive(Debug)]
pub enum CaptureError {
    Io { path: String, err: std::io::Error },
    NotACapture { path: String },
    Empty { path: String },
    Live(String),
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::Io { path, err } => write!(f, "{path}: {err}"),
            CaptureError::NotACapture { path } => {
                write!(f, "{path}: not a pcap or pcapng file (unrecognised header)")
            }
            CaptureError::Empty { path } => write!(f, "{path}: file is empty"),
            CaptureError::Live(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for CaptureError {}

/// Shared handle to the backings of a [`FileSet`], for worker threads.
pub type Backings = Arc<Vec<Backing>>;
