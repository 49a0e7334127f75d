//! One direction of a TCP connection: sequence lifting, in-order delivery, the out-of-order
//! buffer and gaps.

use std::collections::BTreeMap;

/// Packets of a flow an acknowledged hole waits for a late segment before it is a gap.
pub const ACK_GAP_PATIENCE: u32 = 8;

/// Segments a stream without a SYN waits before trusting its first sequence number.
pub const PROVISIONAL_SEGMENTS: u32 = 8;
/// Farthest a provisional base moves back for earlier data.
const MAX_REBASE: u32 = 1 << 20;

/// Limits for one direction's out-of-order buffer.
#[derive(Debug, Clone, Copy)]
pub struct StreamConfig {
    /// Bytes held out of order per direction before a hole is declared a gap.
    pub max_ooo_bytes: usize,
    /// Segments held out of order per direction (bounds overhead of tiny segments).
    pub max_ooo_segments: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            max_ooo_bytes: 1 << 20,
            max_ooo_segments: 2048,
        }
    }
}

/// What a stream hands to its consumer, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery<'a> {
    /// Bytes at stream offset `offset`. `seq` is the raw sequence number of `data[0]` and
    /// `ack` the raw acknowledgment number of the segment that carried it: wrapping
    /// comparisons between them order events across the two directions without knowing
    /// either stream's base. `ts` is when the bytes became deliverable in order (the capture
    /// time of the segment that completed them), so it never goes backwards.
    Data {
        offset: u64,
        seq: u32,
        ts: u64,
        ack: Option<u32>,
        data: &'a [u8],
    },
    /// `len` bytes at `offset` that will never be seen.
    Gap { offset: u64, len: u64 },
}

/// Counters a stream adds to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCounters {
    pub retransmitted_segments: u64,
    pub overlap_bytes: u64,
    pub ooo_segments: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
    /// Gaps declared because an out-of-order buffer reached its cap.
    pub ooo_cap_gaps: u64,
    /// Gaps due to bytes cut off by the capture (snaplen, mirror truncation).
    pub truncation_gaps: u64,
    pub data_before_start: u64,
    /// Gaps declared because the receiver acknowledged bytes we never saw.
    pub acked_gaps: u64,
    /// Overlapping segments whose bytes differ from the copy already held (first copy kept).
    pub inconsistent_overlaps: u64,
}

impl StreamCounters {
    pub fn add(&mut self, o: &StreamCounters) {
        self.retransmitted_segments += o.retransmitted_segments;
        self.overlap_bytes += o.overlap_bytes;
        self.ooo_segments += o.ooo_segments;
        self.gaps += o.gaps;
        self.gap_bytes += o.gap_bytes;
        self.ooo_cap_gaps += o.ooo_cap_gaps;
        self.truncation_gaps += o.truncation_gaps;
        self.data_before_start += o.data_before_start;
        self.acked_gaps += o.acked_gaps;
        self.inconsistent_overlaps += o.inconsistent_overlaps;
    }
}

#[derive(Debug)]
struct Held {
    data: Vec<u8>,
    /// Bytes after `data` the capture cut off.
    missing: u32,
    ts: u64,
    ack: Option<u32>,
}

/// Reassembly state of one direction.
#[derive(Debug, Default)]
pub struct Stream {
    /// Sequence number of stream offset 0.
    base: Option<u32>,
    /// Next offset to deliver.
    next: u64,
    held: BTreeMap<u64, Held>,
    held_bytes: usize,
    /// Offset of the FIN, once seen.
    fin_at: Option<u64>,
    /// Highest offset the receiver acknowledged.
    acked: u64,
    /// Capture time of the latest segment: held bytes are delivered at this time.
    now: u64,
    /// Packets seen since the receiver acknowledged past the current hole.
    hole_strikes: u32,
    /// Segments still to see before a base taken from data (no SYN) is trusted; until then
    /// nothing is delivered, and earlier data or a late SYN moves the base back.
    provisional: u32,
    /// The base came from a SYN (not inferred from data).
    syn_seen: bool,
    pub counters: StreamCounters,
}

/// One segment as the table hands it to a stream.
#[derive(Debug, Clone, Copy)]
pub struct Seg<'a> {
    pub seq: u32,
    pub syn: bool,
    pub fin: bool,
    pub ts: u64,
    pub ack: Option<u32>,
    pub payload: &'a [u8],
    pub missing: u32,
}

impl Stream {
    /// Set or correct the base from a segment: a SYN fixes it; otherwise the first segment's
    /// sequence number is provisional for [`PROVISIONAL_SEGMENTS`] segments, during which
    /// earlier data moves it back (mirrors reorder the first segments of a connection too).
    fn settle_base(&mut self, s: &Seg<'_>) {
        self.syn_seen |= s.syn;
        match self.base {
            None if s.syn => self.base = Some(s.seq.wrapping_add(1)),
            None => {
                self.base = Some(s.seq);
                self.provisional = PROVISIONAL_SEGMENTS;
            }
            Some(old) if self.provisional > 0 => {
                let new = if s.syn { s.seq.wrapping_add(1) } else { s.seq };
                let back = old.wrapping_sub(new);
                if back > 0 && back < MAX_REBASE {
                    self.rebase(back as u64);
                }
                self.provisional = if s.syn { 0 } else { self.provisional - 1 };
            }
            Some(_) => {}
        }
    }

    /// Move the base `back` bytes earlier (nothing has been delivered yet).
    fn rebase(&mut self, back: u64) {
        self.base = self.base.map(|b| b.wrapping_sub(back as u32));
        let held = std::mem::take(&mut self.held);
        self.held = held.into_iter().map(|(k, v)| (k + back, v)).collect();
        self.fin_at = self.fin_at.map(|f| f + back);
        self.acked += back;
    }

    /// The 64-bit offset of sequence number `seq`, taking the one nearest to the delivery point.
    pub fn lift(&self, seq: u32) -> Option<u64> {
        let base = self.base?;
        let cur = base.wrapping_add(self.next as u32);
        let off = self.next as i64 + seq.wrapping_sub(cur) as i32 as i64;
        (off >= 0).then_some(off as u64)
    }

    pub fn has_base(&self) -> bool {
        self.base.is_some()
    }

    /// The next offset to be delivered.
    pub fn next_offset(&self) -> u64 {
        self.next
    }

    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// All bytes up to the FIN delivered.
    pub fn finished(&self) -> bool {
        self.fin_at.is_some_and(|f| self.next >= f)
    }

    /// The raw sequence number of the next byte to deliver (after a FIN: the FIN's).
    pub fn next_seq(&self) -> Option<u32> {
        self.base.map(|b| b.wrapping_add(self.next as u32))
    }

    /// The sequence number of the SYN, if this stream saw one.
    pub fn syn_seq(&self) -> Option<u32> {
        self.base
            .filter(|_| self.syn_seen)
            .map(|b| b.wrapping_sub(1))
    }

    /// Process one segment. `global` is the bytes held across the table, bounded by `global_cap`.
    pub fn segment(
        &mut self,
        s: Seg<'_>,
        cfg: &StreamConfig,
        global: &mut usize,
        global_cap: usize,
        out: &mut impl FnMut(Delivery<'_>),
    ) {
        self.settle_base(&s);
        self.now = self.now.max(s.ts);
        let seq = if s.syn { s.seq.wrapping_add(1) } else { s.seq };
        let Some(off) = self.lift(seq) else {
            self.counters.data_before_start += 1;
            return;
        };
        let len = s.payload.len() as u64 + s.missing as u64;
        if s.fin {
            self.fin_at = Some(off + len);
        }
        if len == 0 {
            return;
        }
        let end = off + len;
        if end <= self.next {
            self.counters.retransmitted_segments += 1;
            return;
        }
        if off > self.next || self.provisional > 0 {
            self.hold(off, s, cfg, global, global_cap, out);
            if self.provisional == 0 {
                self.drain(global, out);
            }
            return;
        }
        let skip = (self.next - off) as usize;
        if skip > 0 {
            self.counters.overlap_bytes += skip as u64;
        }
        let missing =
            (s.missing as u64).saturating_sub(skip.saturating_sub(s.payload.len()) as u64);
        self.emit(
            s.payload.get(skip..).unwrap_or(&[]),
            missing,
            s.ts,
            s.ack,
            out,
        );
        self.drain(global, out);
    }

    fn emit(
        &mut self,
        data: &[u8],
        missing: u64,
        ts: u64,
        ack: Option<u32>,
        out: &mut impl FnMut(Delivery<'_>),
    ) {
        if !data.is_empty() {
            out(Delivery::Data {
                seq: self.base.unwrap_or(0).wrapping_add(self.next as u32),
                offset: self.next,
                ts,
                ack,
                data,
            });
            self.next += data.len() as u64;
        }
        if missing > 0 {
            self.counters.truncation_gaps += 1;
            self.gap(missing, out);
        }
    }

    fn gap(&mut self, len: u64, out: &mut impl FnMut(Delivery<'_>)) {
        self.counters.gaps += 1;
        self.counters.gap_bytes += len;
        out(Delivery::Gap {
            offset: self.next,
            len,
        });
        self.next += len;
    }

    fn hold(
        &mut self,
        off: u64,
        s: Seg<'_>,
        cfg: &StreamConfig,
        global: &mut usize,
        global_cap: usize,
        out: &mut impl FnMut(Delivery<'_>),
    ) {
        let n = s.payload.len();
        let len = n as u64 + s.missing as u64;
        loop {
            let full = self.held_bytes + n > cfg.max_ooo_bytes
                || self.held.len() >= cfg.max_ooo_segments
                || *global + n > global_cap;
            if !full {
                break;
            }
            // The earliest hole will not be filled in time: declare it a gap.
            self.counters.ooo_cap_gaps += 1;
            match self.held.keys().next().copied() {
                Some(first) if first < off => {
                    self.gap(first - self.next, out);
                    self.drain(global, out);
                    if off + len <= self.next {
                        self.counters.retransmitted_segments += 1;
                        return;
                    }
                    if off <= self.next {
                        self.deliver_at(off, s, out);
                        self.drain(global, out);
                        return;
                    }
                }
                _ => {
                    self.deliver_at(off, s, out);
                    self.drain(global, out);
                    return;
                }
            }
        }
        self.counters.ooo_segments += 1;
        if self.differs_from_held(off, s.payload) {
            self.counters.inconsistent_overlaps += 1;
        }
        let held = Held {
            data: s.payload.to_vec(),
            missing: s.missing,
            ts: s.ts,
            ack: s.ack,
        };
        match self.held.get(&off) {
            Some(h) if h.data.len() + h.missing as usize >= n + s.missing as usize => {
                self.counters.retransmitted_segments += 1;
            }
            prev => {
                let prev_len = prev.map_or(0, |h| h.data.len());
                self.held_bytes = self.held_bytes + n - prev_len;
                *global = *global + n - prev_len;
                self.held.insert(off, held);
            }
        }
        self.ack_holes(global, out);
    }

    /// The receiver acknowledged everything before `ack`: holes below it were delivered to
    /// the endpoint but not to us, and will never be filled.
    pub fn on_ack(&mut self, ack: u64, global: &mut usize, out: &mut impl FnMut(Delivery<'_>)) {
        if ack > self.acked {
            self.acked = ack;
            self.ack_holes(global, out);
        }
    }

    /// A hole the receiver acknowledged is declared a gap once that evidence has stood for
    /// [`ACK_GAP_PATIENCE`] packets of the flow: a mirror may deliver an ACK before the data it
    /// acknowledges (the two directions often come from different ports), so the hole may
    /// still be filled by a late segment.
    fn ack_holes(&mut self, global: &mut usize, out: &mut impl FnMut(Delivery<'_>)) {
        while let Some(&first) = self.held.keys().next() {
            if first <= self.next || first > self.acked {
                self.hole_strikes = 0;
                break;
            }
            self.hole_strikes += 1;
            if self.hole_strikes < ACK_GAP_PATIENCE {
                break;
            }
            self.hole_strikes = 0;
            self.counters.acked_gaps += 1;
            self.gap(first - self.next, out);
            self.drain(global, out);
        }
    }

    /// Whether `data` at `off` overlaps held bytes with different contents (a retransmission
    /// that disagrees with the first copy, which is the one kept).
    fn differs_from_held(&self, off: u64, data: &[u8]) -> bool {
        let end = off + data.len() as u64;
        let before = self.held.range(..off).next_back();
        before
            .into_iter()
            .chain(self.held.range(off..end))
            .any(|(&k, h)| {
                let (a, b) = (k.max(off), (k + h.data.len() as u64).min(end));
                a < b
                    && h.data[(a - k) as usize..(b - k) as usize]
                        != data[(a - off) as usize..(b - off) as usize]
            })
    }

    /// Deliver a segment known to start at or before `next` (after a forced gap).
    fn deliver_at(&mut self, off: u64, s: Seg<'_>, out: &mut impl FnMut(Delivery<'_>)) {
        if off > self.next {
            let len = off - self.next;
            self.gap(len, out);
        }
        let skip = (self.next - off) as usize;
        let data = s.payload.get(skip..).unwrap_or(&[]);
        let missing =
            (s.missing as u64).saturating_sub(skip.saturating_sub(s.payload.len()) as u64);
        self.emit(data, missing, s.ts, s.ack, out);
    }

    /// Deliver held segments that are now in order.
    fn drain(&mut self, global: &mut usize, out: &mut impl FnMut(Delivery<'_>)) {
        while let Some(entry) = self.held.first_entry() {
            let off = *entry.key();
            if off > self.next {
                break;
            }
            let h = entry.remove();
            self.held_bytes -= h.data.len();
            *global -= h.data.len();
            let end = off + h.data.len() as u64 + h.missing as u64;
            if end <= self.next {
                self.counters.retransmitted_segments += 1;
                continue;
            }
            let skip = (self.next - off) as usize;
            self.counters.overlap_bytes += skip as u64;
            let data = h.data.get(skip..).unwrap_or(&[]);
            let missing =
                (h.missing as u64).saturating_sub(skip.saturating_sub(h.data.len()) as u64);
            self.emit(data, missing, h.ts.max(self.now), h.ack, out);
        }
    }

    /// Declare every remaining hole a gap and deliver all held data (connection end, timeout).
    pub fn flush(&mut self, global: &mut usize, out: &mut impl FnMut(Delivery<'_>)) {
        self.provisional = 0;
        self.flush_holes(global, out);
        if let Some(fin) = self.fin_at {
            if fin > self.next {
                self.gap(fin - self.next, out);
            }
        }
    }

    fn flush_holes(&mut self, global: &mut usize, out: &mut impl FnMut(Delivery<'_>)) {
        while let Some((&off, _)) = self.held.first_key_value() {
            if off > self.next {
                self.gap(off - self.next, out);
            }
            self.drain(global, out);
        }
    }
}
