//! The exchange writer: merges the workers' record streams into one order that does not
//! depend on how flows were sharded, and writes it.
//!
//! A worker renders the records of a batch into one buffer and sends it with the key and
//! end offset of each record, so a record costs no allocation of its own.

use apitap_flow::FlowKey;
use crossbeam_channel::{Receiver, Sender};
use std::collections::VecDeque;
use std::io::Write;

/// Order of a record: the packet (or tick) index that completed it, then its flow, then its
/// position among that flow's records at that index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub idx: u64,
    pub flow: FlowKey,
    pub n: u32,
}

/// Records rendered back to back: record `i` is `buf[ends[i-1]..ends[i]]`.
#[derive(Debug, Default)]
pub struct Records {
    pub buf: String,
    pub keys: Vec<(Key, usize)>,
}

impl Records {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Close the record just rendered at the end of `buf`.
    pub fn push(&mut self, key: Key) {
        self.keys.push((key, self.buf.len()));
    }
}

pub enum WriterMsg {
    /// Records of one worker, sorted by key; the worker will not produce keys with an index
    /// at or below `watermark` any more.
    Items {
        worker: usize,
        records: Records,
        watermark: u64,
    },
}

/// Records of one batch being written: `next` is the first not written yet.
struct Pending {
    records: Records,
    next: usize,
}

impl Pending {
    fn front(&self) -> Option<Key> {
        self.records.keys.get(self.next).map(|(k, _)| *k)
    }

    /// The next record's bytes, advancing past it.
    fn pop(&mut self) -> &[u8] {
        let start = match self.next {
            0 => 0,
            i => self.records.keys[i - 1].1,
        };
        let end = self.records.keys[self.next].1;
        self.next += 1;
        &self.records.buf.as_bytes()[start..end]
    }
}

/// Emptied record buffers held for each worker.
pub const SPARES: usize = 4;
/// A buffer larger than this is freed rather than handed back.
const SPARE_MAX_BYTES: usize = 4 << 20;

/// Write the workers' records in key order; `spares[w]` takes worker `w`'s emptied buffers.
pub fn run(
    rx: Receiver<WriterMsg>,
    spares: Vec<Sender<Records>>,
    out: Box<dyn Write + Send>,
) -> std::io::Result<u64> {
    let workers = spares.len();
    let mut o = Output {
        out: std::io::BufWriter::with_capacity(1 << 20, out),
        spares,
        written: 0,
        err: None,
    };
    let mut queues: Vec<VecDeque<Pending>> = (0..workers).map(|_| VecDeque::new()).collect();
    let mut marks: Vec<u64> = vec![0; workers];
    let mut done = vec![false; workers];
    while let Ok(WriterMsg::Items {
        worker,
        records,
        watermark,
    }) = rx.recv()
    {
        if !records.is_empty() {
            queues[worker].push_back(Pending { records, next: 0 });
        }
        marks[worker] = watermark;
        if watermark == u64::MAX {
            done[worker] = true;
        }
        o.write_ready(&mut queues, &marks);
        if done.iter().all(|d| *d) {
            break;
        }
        // A live capture on a quiet link: hand what is written to the reader (a log shipper
        // on a pipe, a tail on the file) instead of holding it in the buffer.
        if rx.is_empty() && o.err.is_none() {
            if let Err(e) = o.out.flush() {
                o.err = Some(e);
            }
        }
    }
    // Every sender is gone. A worker that stopped without its final mark (it panicked)
    // produces nothing more: what the others sent is written all the same.
    marks.fill(u64::MAX);
    o.write_ready(&mut queues, &marks);
    if let Some(e) = o.err {
        return Err(e);
    }
    o.out.flush()?;
    Ok(o.written)
}

/// Where records go, and what became of them.
struct Output {
    out: std::io::BufWriter<Box<dyn Write + Send>>,
    spares: Vec<Sender<Records>>,
    written: u64,
    /// The first write error; records are still counted past it, not written.
    err: Option<std::io::Error>,
}

impl Output {
    /// Write every queued record that no worker can still precede (`marks`).
    fn write_ready(&mut self, queues: &mut [VecDeque<Pending>], marks: &[u64]) {
        while let Some(w) = next_ready(queues, marks) {
            let Some(p) = queues[w].front_mut() else {
                break;
            };
            let line = p.pop();
            if self.err.is_none() {
                if let Err(e) = self.out.write_all(line) {
                    self.err = Some(e);
                }
            }
            self.written += 1;
            if p.front().is_none() {
                if let Some(Pending { mut records, .. }) = queues[w].pop_front() {
                    if records.buf.capacity() <= SPARE_MAX_BYTES {
                        records.buf.clear();
                        records.keys.clear();
                        let _ = self.spares[w].try_send(records);
                    }
                }
            }
        }
    }
}

/// The worker holding the smallest pending record, if no worker can still produce a smaller
/// one: every other worker either has records queued or has passed that record's index.
fn next_ready(queues: &[VecDeque<Pending>], marks: &[u64]) -> Option<usize> {
    let (w, key) = queues
        .iter()
        .enumerate()
        .filter_map(|(i, q)| q.front().and_then(Pending::front).map(|k| (i, k)))
        .min_by_key(|(_, k)| *k)?;
    let safe = queues
        .iter()
        .zip(marks)
        .all(|(q, m)| !q.is_empty() || *m >= key.idx);
    safe.then_some(w)
}
