//! The exchange writer: merges the workers' record streams into one order that does not
//! depend on how flows were sharded, and writes it.

use apitap_flow::FlowKey;
use crossbeam_channel::Receiver;
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

pub enum WriterMsg {
    /// Records of one worker, sorted by key; the worker will not produce keys with an index
    /// at or below `watermark` any more.
    Items {
        worker: usize,
        items: Vec<(Key, String)>,
        watermark: u64,
    },
}

pub fn run(
    rx: Receiver<WriterMsg>,
    workers: usize,
    out: Box<dyn Write + Send>,
) -> std::io::Result<u64> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    let mut queues: Vec<VecDeque<(Key, String)>> = (0..workers).map(|_| VecDeque::new()).collect();
    let mut marks: Vec<u64> = vec![0; workers];
    let mut done = vec![false; workers];
    let mut written = 0u64;
    let mut err: Option<std::io::Error> = None;
    while let Ok(WriterMsg::Items {
        worker,
        items,
        watermark,
    }) = rx.recv()
    {
        queues[worker].extend(items);
        marks[worker] = watermark;
        if watermark == u64::MAX {
            done[worker] = true;
        }
        while let Some(w) = next_ready(&queues, &marks) {
            if let Some((_, line)) = queues[w].pop_front() {
                if err.is_none() {
                    if let Err(e) = out.write_all(line.as_bytes()) {
                        err = Some(e);
                    }
                }
                written += 1;
            }
        }
        if done.iter().all(|d| *d) {
            break;
        }
        // A live capture on a quiet link: hand what is written to the reader (a log shipper
        // on a pipe, a tail on the file) instead of holding it in the buffer.
        if rx.is_empty() && err.is_none() {
            if let Err(e) = out.flush() {
                err = Some(e);
            }
        }
    }
    if let Some(e) = err {
        return Err(e);
    }
    out.flush()?;
    Ok(written)
}

/// The worker holding the smallest pending record, if no worker can still produce a smaller
/// one: every other worker either has records queued or has passed that record's index.
fn next_ready(queues: &[VecDeque<(Key, String)>], marks: &[u64]) -> Option<usize> {
    let (w, key) = queues
        .iter()
        .enumerate()
        .filter_map(|(i, q)| q.front().map(|(k, _)| (i, *k)))
        .min_by_key(|(_, k)| *k)?;
    let safe = queues
        .iter()
        .zip(marks)
        .all(|(q, m)| !q.is_empty() || *m >= key.idx);
    safe.then_some(w)
}
