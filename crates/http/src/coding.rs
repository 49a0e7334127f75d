//! Content-Encoding: incremental gzip, deflate (zlib-wrapped or raw) and brotli decoding,
//! stacked up to [`MAX_LAYERS`] deep, with bomb limits.
//!
//! Decoded bytes flow through a chain of streaming decoders into a sink that keeps the
//! first `keep` bytes and counts the rest. Input is fed in small slices, and decoding stops
//! as soon as the output passes the per-body limit or the output/input ratio of a bomb, so
//! the work done on any body is bounded whatever its bytes claim.

use crate::Coding;
use brotli_decompressor::DecompressorWriter;
use flate2::write::{DeflateDecoder, GzDecoder, ZlibDecoder};
use std::io::Write;

/// Content codings applied on top of each other that we undo; more is an anomaly.
pub const MAX_LAYERS: usize = 3;
/// Input is fed in slices this large, and limits are checked after each.
const SLICE: usize = 4096;
/// Output/input ratio beyond which a body is treated as a decompression bomb, once the
/// output passes [`BOMB_MIN_OUTPUT`] (Suricata's default ratio limit is 2048).
const BOMB_RATIO: u64 = 2048;
const BOMB_MIN_OUTPUT: u64 = 1 << 20;

/// Why decoding stopped early; each is counted in [`crate::HttpStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The stream is corrupt.
    Error,
    /// The output reached the per-body limit.
    Limit,
    /// The output/input ratio of a bomb.
    Bomb,
    /// Part of the body was lost in a gap (counted as a gap, not here).
    Gap,
}

/// The bytes after all decoders: keeps the first `keep`, counts everything.
#[derive(Debug)]
struct Out {
    data: Vec<u8>,
    keep: usize,
    total: u64,
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.total += buf.len() as u64;
        let room = self.keep.saturating_sub(self.data.len());
        self.data.extend_from_slice(&buf[..buf.len().min(room)]);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum Chain {
    Out(Out),
    Gzip(Box<GzDecoder<Chain>>),
    Zlib(Box<ZlibDecoder<Chain>>),
    Raw(Box<DeflateDecoder<Chain>>),
    /// `deflate` whose first byte has not arrived: zlib-wrapped or raw (servers send both).
    Deflate(Option<Box<Chain>>),
    Br(Box<DecompressorWriter<Chain>>),
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Chain::Out(_) => "out",
            Chain::Gzip(_) => "gzip",
            Chain::Zlib(_) => "zlib",
            Chain::Raw(_) => "raw-deflate",
            Chain::Deflate(_) => "deflate",
            Chain::Br(_) => "br",
        };
        f.write_str(name)
    }
}

/// A zlib header: CM 8, window at most 32 KiB, check bits valid.
fn is_zlib_header(b0: u8, b1: u8) -> bool {
    b0 & 0x0f == 8 && b0 >> 4 <= 7 && (u16::from(b0) << 8 | u16::from(b1)) % 31 == 0
}

impl Chain {
    fn out(&self) -> &Out {
        match self {
            Chain::Out(o) => o,
            Chain::Gzip(d) => d.get_ref().out(),
            Chain::Zlib(d) => d.get_ref().out(),
            Chain::Raw(d) => d.get_ref().out(),
            Chain::Deflate(next) => next.as_deref().map_or(&EMPTY, Chain::out),
            Chain::Br(d) => d.get_ref().out(),
        }
    }

    fn out_mut(&mut self) -> Option<&mut Out> {
        match self {
            Chain::Out(o) => Some(o),
            Chain::Gzip(d) => d.get_mut().out_mut(),
            Chain::Zlib(d) => d.get_mut().out_mut(),
            Chain::Raw(d) => d.get_mut().out_mut(),
            Chain::Deflate(next) => next.as_deref_mut().and_then(Chain::out_mut),
            Chain::Br(d) => d.get_mut().out_mut(),
        }
    }

    /// Flush every decoder's buffered output down the chain.
    fn finish(&mut self) -> std::io::Result<()> {
        match self {
            Chain::Out(_) => Ok(()),
            Chain::Gzip(d) => {
                d.try_finish()?;
                d.get_mut().finish()
            }
            Chain::Zlib(d) => {
                d.try_finish()?;
                d.get_mut().finish()
            }
            Chain::Raw(d) => {
                d.try_finish()?;
                d.get_mut().finish()
            }
            Chain::Deflate(next) => next.as_deref_mut().map_or(Ok(()), Chain::finish),
            Chain::Br(d) => {
                d.close()?;
                d.get_mut().finish()
            }
        }
    }
}

static EMPTY: Out = Out {
    data: Vec::new(),
    keep: 0,
    total: 0,
};

impl Write for Chain {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Chain::Out(o) => o.write(buf),
            Chain::Gzip(d) => d.write(buf),
            Chain::Zlib(d) => d.write(buf),
            Chain::Raw(d) => d.write(buf),
            Chain::Br(d) => d.write(buf),
            Chain::Deflate(next) => {
                let (Some(&b0), Some(inner)) = (buf.first(), next.take()) else {
                    return Ok(0);
                };
                // One byte is enough to tell: a raw stream's first byte is a block header
                // whose low nibble is rarely 8 with the check bits right.
                let zlib = buf.get(1).is_none_or(|&b1| is_zlib_header(b0, b1)) && b0 & 0x0f == 8;
                *self = if zlib {
                    Chain::Zlib(Box::new(ZlibDecoder::new(*inner)))
                } else {
                    Chain::Raw(Box::new(DeflateDecoder::new(*inner)))
                };
                self.write(buf)
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One body's decoder.
#[derive(Debug)]
pub struct Decoder {
    chain: Chain,
    input: u64,
    limit: u64,
    stopped: Option<Stop>,
}

/// The codings of a `Content-Encoding` value, in the order they were applied.
pub enum Plan {
    /// Nothing to undo (absent, empty or `identity`).
    Identity,
    Decode(Decoder),
    /// A coding we cannot undo (compress, zstd, ...), or too many layers.
    Unsupported {
        too_deep: bool,
    },
}

impl Decoder {
    /// A decoder for `content-encoding` (comma-separated codings, applied left to right),
    /// keeping `keep` decoded bytes and decoding at most `limit`.
    pub fn plan(content_encoding: &[u8], keep: usize, limit: u64) -> Plan {
        let codings: Vec<&[u8]> = content_encoding
            .split(|&c| c == b',')
            .map(|c| c.trim_ascii())
            .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case(b"identity"))
            .collect();
        if codings.is_empty() {
            return Plan::Identity;
        }
        if codings.len() > MAX_LAYERS {
            return Plan::Unsupported { too_deep: true };
        }
        let mut chain = Chain::Out(Out {
            data: Vec::new(),
            keep,
            total: 0,
        });
        // The last coding applied is undone first: it wraps the others.
        for c in codings {
            chain = if c.eq_ignore_ascii_case(b"gzip") || c.eq_ignore_ascii_case(b"x-gzip") {
                Chain::Gzip(Box::new(GzDecoder::new(chain)))
            } else if c.eq_ignore_ascii_case(b"deflate") {
                Chain::Deflate(Some(Box::new(chain)))
            } else if c.eq_ignore_ascii_case(b"br") {
                Chain::Br(Box::new(DecompressorWriter::new(chain, 4096)))
            } else {
                return Plan::Unsupported { too_deep: false };
            };
        }
        Plan::Decode(Decoder {
            chain,
            input: 0,
            limit,
            stopped: None,
        })
    }

    /// Decode more of the body. Once stopped, input is ignored.
    pub fn feed(&mut self, mut input: &[u8]) {
        while self.stopped.is_none() && !input.is_empty() {
            let n = input.len().min(SLICE);
            let (now, rest) = input.split_at(n);
            input = rest;
            self.input += n as u64;
            if self.chain.write_all(now).is_err() {
                self.stopped = Some(Stop::Error);
                break;
            }
            let total = self.chain.out().total;
            if total > self.limit {
                self.stopped = Some(Stop::Limit);
            } else if total > BOMB_MIN_OUTPUT && total / self.input.max(1) > BOMB_RATIO {
                self.stopped = Some(Stop::Bomb);
            }
        }
    }

    /// Part of the body was lost: the compressed stream cannot go on.
    pub fn on_gap(&mut self) {
        self.stopped.get_or_insert(Stop::Gap);
    }

    /// Flush the decoders; the decoded bytes kept, how many were decoded in all, how it went.
    pub fn finish(mut self, complete: bool) -> (Vec<u8>, u64, Coding, Option<Stop>) {
        if self.stopped.is_none() && complete && self.chain.finish().is_err() {
            self.stopped = Some(Stop::Error);
        }
        let total = self.chain.out().total;
        let data = self
            .chain
            .out_mut()
            .map(|o| std::mem::take(&mut o.data))
            .unwrap_or_default();
        let coding = if self.stopped.is_none() && complete {
            Coding::Decoded
        } else {
            Coding::Partial
        };
        (data, total, coding, self.stopped)
    }
}
