//! Offline captures: legacy pcap (both byte orders, micro/nanosecond) and pcapng (several
//! sections and interfaces, any link types, per-interface timestamp resolution).

use crate::{Backing, Backings, CaptureError, FileStats, Nanos, Packet};
use pcap_parser::pcapng::Block;
use pcap_parser::PcapError;
use std::fs::File;
use std::io::Read;
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
struct Iface {
    link: u32,
    /// Timestamp units per second.
    resol: u64,
    offset_s: i64,
}

#[derive(Debug)]
enum Format {
    Legacy {
        big_endian: bool,
        nanos: bool,
        link: u32,
        hdr: usize,
    },
    Ng {
        big_endian: bool,
        ifaces: Vec<Iface>,
    },
}

/// One capture file being read; yields [`Packet`]s located in its backing.
#[derive(Debug)]
pub struct CaptureFile {
    pub path: String,
    index: u16,
    format: Format,
    pos: usize,
    done: bool,
    pub stats: FileStats,
}

/// Map (or, for pipes, read) a file.
fn load(path: &str) -> Result<Backing, CaptureError> {
    let io = |err| CaptureError::Io {
        path: path.to_string(),
        err,
    };
    let mut f = File::open(path).map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    if meta.is_file() {
        if meta.len() == 0 {
            return Err(CaptureError::Empty {
                path: path.to_string(),
            });
        }
        // SAFETY: the map is read-only and private to this process. Another process truncating
        // the file while we read it would fault (SIGBUS); that is the accepted contract of
        // reading capture files in place, the same one tcpdump's mmap reader makes.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&f) }.map_err(io)?;
        let _ = map.advise(memmap2::Advice::Sequential);
        Ok(Backing::Mapped(map))
    } else {
        let mut v = Vec::new();
        f.read_to_end(&mut v).map_err(io)?;
        if v.is_empty() {
            return Err(CaptureError::Empty {
                path: path.to_string(),
            });
        }
        Ok(Backing::Owned(v))
    }
}

impl CaptureFile {
    /// Recognise the format of `data` (the contents of `path`).
    pub fn open(path: &str, index: u16, data: &[u8]) -> Result<CaptureFile, CaptureError> {
        let not = || CaptureError::NotACapture {
            path: path.to_string(),
        };
        let magic = data.get(..4).ok_or_else(not)?;
        let format = if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
            pcap_parser::PcapNGSlice::from_slice(data).map_err(|_| not())?;
            Format::Ng {
                big_endian: false,
                ifaces: Vec::new(),
            }
        } else {
            let (rest, h) = pcap_parser::parse_pcap_header(data).map_err(|_| not())?;
            Format::Legacy {
                big_endian: h.is_bigendian(),
                nanos: h.is_nanosecond_precision(),
                link: h.network.0 as u32,
                hdr: data.len() - rest.len(),
            }
        };
        let pos = match &format {
            Format::Legacy { hdr, .. } => *hdr,
            Format::Ng { .. } => 0,
        };
        Ok(CaptureFile {
            path: path.to_string(),
            index,
            format,
            pos,
            done: false,
            stats: FileStats::default(),
        })
    }

    /// Link types declared by the file so far (pcap: the one header link type).
    pub fn link_types(&self) -> Vec<u32> {
        match &self.format {
            Format::Legacy { link, .. } => vec![*link],
            Format::Ng { ifaces, .. } => ifaces.iter().map(|i| i.link).collect(),
        }
    }

    /// The next packet of the file, or None at its end or at the first damage.
    pub fn next_packet(&mut self, data: &[u8]) -> Option<Packet> {
        while !self.done {
            let rem = data.get(self.pos..).unwrap_or(&[]);
            if rem.is_empty() {
                self.done = true;
                break;
            }
            let step = match &mut self.format {
                Format::Legacy {
                    big_endian,
                    nanos,
                    link,
                    ..
                } => legacy_next(rem, *big_endian, *nanos, *link),
                Format::Ng { big_endian, ifaces } => {
                    ng_next(rem, big_endian, ifaces, &mut self.stats)
                }
            };
            match step {
                Step::Packet { used, mut pkt } => {
                    pkt.off = (self.pos + pkt.off as usize) as u64;
                    pkt.file = self.index;
                    self.pos += used;
                    self.stats.records += 1;
                    self.stats.bytes += pkt.caplen as u64;
                    if pkt.caplen < pkt.origlen {
                        self.stats.snaplen_cut += 1;
                    }
                    return Some(pkt);
                }
                Step::Skip { used } => self.pos += used,
                Step::Truncated => {
                    self.stats.truncated_files += 1;
                    self.done = true;
                }
                Step::Corrupt => {
                    self.stats.corrupt_records += 1;
                    self.done = true;
                }
            }
        }
        None
    }
}

enum Step {
    Packet { used: usize, pkt: Packet },
    Skip { used: usize },
    Truncated,
    Corrupt,
}

fn classify<I>(e: nom::Err<PcapError<I>>) -> Step {
    match e {
        nom::Err::Incomplete(_) => Step::Truncated,
        nom::Err::Error(PcapError::Incomplete(_)) | nom::Err::Failure(PcapError::Incomplete(_)) => {
            Step::Truncated
        }
        nom::Err::Error(PcapError::UnexpectedEof) | nom::Err::Failure(PcapError::UnexpectedEof) => {
            Step::Truncated
        }
        _ => Step::Corrupt,
    }
}

fn legacy_next(rem: &[u8], be: bool, nanos: bool, link: u32) -> Step {
    let parsed = if be {
        pcap_parser::parse_pcap_frame_be(rem)
    } else {
        pcap_parser::parse_pcap_frame(rem)
    };
    match parsed {
        Ok((rest, b)) => {
            let frac = if nanos {
                b.ts_usec as u64
            } else {
                b.ts_usec as u64 * 1000
            };
            let pkt = Packet {
                ts: b.ts_sec as u64 * 1_000_000_000 + frac,
                link,
                file: 0,
                off: offset_in(rem, b.data) as u64,
                caplen: b.data.len() as u32,
                origlen: b.origlen.max(b.data.len() as u32),
            };
            Step::Packet {
                used: rem.len() - rest.len(),
                pkt,
            }
        }
        Err(e) => classify(e),
    }
}

fn ng_next(rem: &[u8], be: &mut bool, ifaces: &mut Vec<Iface>, stats: &mut FileStats) -> Step {
    let parsed = if *be {
        pcap_parser::pcapng::parse_block_be(rem)
    } else {
        pcap_parser::pcapng::parse_block_le(rem)
    };
    let (rest, block) = match parsed {
        Ok(ok) => ok,
        Err(e) => {
            // A section header in the other byte order starts a new section.
            if rem.get(..4) == Some(&[0x0a, 0x0d, 0x0d, 0x0a]) {
                let other = if *be {
                    pcap_parser::pcapng::parse_block_le(rem)
                } else {
                    pcap_parser::pcapng::parse_block_be(rem)
                };
                if let Ok((rest, Block::SectionHeader(shb))) = other {
                    *be = shb.big_endian();
                    ifaces.clear();
                    return Step::Skip {
                        used: rem.len() - rest.len(),
                    };
                }
            }
            return classify(e);
        }
    };
    let used = rem.len() - rest.len();
    match block {
        Block::SectionHeader(shb) => {
            *be = shb.big_endian();
            ifaces.clear();
            Step::Skip { used }
        }
        Block::InterfaceDescription(idb) => {
            let resol =
                pcap_parser::pcapng::build_ts_resolution(idb.if_tsresol).unwrap_or(1_000_000);
            ifaces.push(Iface {
                link: idb.linktype.0 as u32,
                resol,
                offset_s: idb.if_tsoffset,
            });
            Step::Skip { used }
        }
        Block::EnhancedPacket(epb) => {
            let Some(iface) = ifaces.get(epb.if_id as usize).copied() else {
                stats.unknown_interface += 1;
                return Step::Skip { used };
            };
            let units = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
            let pkt = Packet {
                ts: ng_nanos(units, iface),
                link: iface.link,
                file: 0,
                off: offset_in(rem, epb.data) as u64,
                caplen: epb.data.len() as u32,
                origlen: epb.origlen.max(epb.data.len() as u32),
            };
            Step::Packet { used, pkt }
        }
        Block::SimplePacket(spb) => {
            let Some(iface) = ifaces.first().copied() else {
                stats.unknown_interface += 1;
                return Step::Skip { used };
            };
            let pkt = Packet {
                ts: 0,
                link: iface.link,
                file: 0,
                off: offset_in(rem, spb.data) as u64,
                caplen: spb.data.len() as u32,
                origlen: spb.origlen.max(spb.data.len() as u32),
            };
            Step::Packet { used, pkt }
        }
        _ => Step::Skip { used },
    }
}

fn ng_nanos(units: u64, iface: Iface) -> Nanos {
    let resol = iface.resol.max(1) as u128;
    let ns =
        (units as u128 * 1_000_000_000 / resol) as i128 + iface.offset_s as i128 * 1_000_000_000;
    ns.clamp(0, u64::MAX as i128) as u64
}

fn offset_in(outer: &[u8], inner: &[u8]) -> usize {
    (inner.as_ptr() as usize)
        .saturating_sub(outer.as_ptr() as usize)
        .min(outer.len())
}

/// Several capture files read as one, packets merged in timestamp order (ties: file order).
#[derive(Debug)]
pub struct FileSet {
    pub backings: Backings,
    pub files: Vec<CaptureFile>,
    heads: Vec<Option<Packet>>,
    /// Per file, the offset up to which resident pages were released.
    released: Vec<usize>,
    /// Per file, the offset up to which page tables were filled ahead of the reader.
    populated: Vec<usize>,
    /// Per file, the offset up to which cache lines were prefetched.
    prefetched: Vec<usize>,
}

/// Bytes kept resident behind the reader before pages are released. The batches in flight
/// to one worker (channel depth 16 plus the one filling and the one running, 1024 packets
/// each) span about 27 MB of full-size frames, so this covers them; a packet read after its
/// page was released faults it back in from the page cache, correct but resident again.
const KEEP_BEHIND: usize = 32 << 20;
/// Release in steps of this size: at most `KEEP_BEHIND + RELEASE_STEP` of a file is resident.
const RELEASE_STEP: usize = 8 << 20;

/// Page tables are filled this far ahead of the reader (refilled when half is used), and
/// every cache line is prefetched this far ahead. The file is in the page cache but cold
/// in the CPU caches: without this the reader stalls on memory at every record header, and
/// the workers again on every payload. Either alone gained little; together they took 6%
/// of the CPU off a replay of the benchmark capture (docs/performance.md).
const POPULATE_AHEAD: usize = 4 << 20;
const PREFETCH_AHEAD: usize = 8 << 10;

impl FileSet {
    pub fn open(paths: &[String]) -> Result<FileSet, CaptureError> {
        let mut backings = Vec::with_capacity(paths.len());
        let mut files = Vec::with_capacity(paths.len());
        for (i, p) in paths.iter().enumerate() {
            let b = load(p)?;
            files.push(CaptureFile::open(p, i as u16, b.bytes())?);
            backings.push(b);
        }
        let released = vec![0; files.len()];
        let mut set = FileSet {
            backings: Arc::new(backings),
            populated: released.clone(),
            prefetched: released.clone(),
            files,
            heads: Vec::new(),
            released,
        };
        set.heads = (0..set.files.len()).map(|i| set.pull(i)).collect();
        Ok(set)
    }

    fn pull(&mut self, i: usize) -> Option<Packet> {
        let data = self.backings[i].bytes();
        let p = self.files[i].next_packet(data);
        let pos = self.files[i].pos;
        if pos + POPULATE_AHEAD / 2 > self.populated[i] && self.populated[i] < data.len() {
            let to = (pos + POPULATE_AHEAD).min(data.len());
            self.backings[i].populate(self.populated[i], to);
            self.populated[i] = to;
        }
        let ahead = (pos + PREFETCH_AHEAD).min(self.populated[i]);
        if let Some(next) = data.get(self.prefetched[i]..ahead) {
            crate::prefetch(next);
            self.prefetched[i] = ahead;
        }
        if pos > self.released[i] + KEEP_BEHIND + RELEASE_STEP {
            let to = pos - KEEP_BEHIND;
            self.backings[i].release(self.released[i], to);
            self.released[i] = to;
        }
        p
    }

    /// Total bytes of all files, for progress reporting.
    pub fn total_bytes(&self) -> u64 {
        self.backings.iter().map(|b| b.bytes().len() as u64).sum()
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.files.iter().map(|f| f.pos as u64).sum()
    }

    pub fn stats(&self) -> FileStats {
        let mut s = FileStats::default();
        for f in &self.files {
            s.add(&f.stats);
        }
        s
    }
}

impl Iterator for FileSet {
    type Item = Packet;

    fn next(&mut self) -> Option<Packet> {
        let mut best: Option<usize> = None;
        for (i, h) in self.heads.iter().enumerate() {
            if let Some(p) = h {
                if best.is_none_or(|b| self.heads[b].is_some_and(|q| p.ts < q.ts)) {
                    best = Some(i);
                }
            }
        }
        let i = best?;
        let out = self.heads[i].take();
        self.heads[i] = self.pull(i);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy(be: bool, nanos: bool, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut f = Vec::new();
        f.extend(w32(magic));
        f.extend(w16(2));
        f.extend(w16(4));
        f.extend(w32(0));
        f.extend(w32(0));
        f.extend(w32(65535));
        f.extend(w32(1));
        for (s, frac, data) in records {
            f.extend(w32(*s));
            f.extend(w32(*frac));
            f.extend(w32(data.len() as u32));
            f.extend(w32(data.len() as u32 + 10));
            f.extend_from_slice(data);
        }
        f
    }

    fn read_all(data: &[u8]) -> (Vec<Packet>, FileStats) {
        let mut f = CaptureFile::open("t", 0, data).expect("recognised");
        let mut v = Vec::new();
        while let Some(p) = f.next_packet(data) {
            v.push(p);
        }
        (v, f.stats)
    }

    #[test]
    fn both_byte_orders_and_resolutions() {
        for be in [false, true] {
            for nanos in [false, true] {
                let data = legacy(be, nanos, &[(10, 5, b"abc"), (11, 7, b"defg")]);
                let (pkts, st) = read_all(&data);
                assert_eq!(pkts.len(), 2, "be={be} nanos={nanos}");
                let unit = if nanos { 1 } else { 1000 };
                assert_eq!(pkts[0].ts, 10_000_000_000 + 5 * unit);
                assert_eq!(pkts[1].data(&data), b"defg");
                assert_eq!((pkts[1].caplen, pkts[1].origlen, pkts[1].link), (4, 14, 1));
                assert_eq!(st.snaplen_cut, 2);
            }
        }
    }

    #[test]
    fn damage_is_counted_not_fatal() {
        let data = legacy(false, false, &[(1, 0, b"one"), (2, 0, b"two")]);
        let (pkts, st) = read_all(&data[..data.len() - 2]);
        assert_eq!((pkts.len(), st.truncated_files), (1, 1));
        assert!(CaptureFile::open("t", 0, b"garbage!garbage!garbage!").is_err());
        assert!(CaptureFile::open("t", 0, b"ab").is_err());
    }
}
