//! Body framing: how long a body is (Content-Length, chunked, until close) and the
//! incremental de-chunking reader.

use crate::head::Headers;
use crate::HttpStats;

/// How the end of a body is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    Length(u64),
    Chunked,
    /// Until the connection closes.
    Close,
}

/// Longest chunk-size or trailer line kept.
const MAX_LINE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
}

/// Outcome of feeding bytes to a [`BodyReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    pub consumed: usize,
    pub done: bool,
    /// The framing broke (bad chunk line): the body ends here and the stream must resync.
    pub broken: bool,
}

/// Reads one body in any split of its bytes, passing the decoded bytes to a sink.
#[derive(Debug)]
pub struct BodyReader {
    framing: Framing,
    remaining: u64,
    chunk: Chunk,
    line: Vec<u8>,
}

impl BodyReader {
    pub fn new(framing: Framing) -> BodyReader {
        let remaining = if let Framing::Length(n) = framing {
            n
        } else {
            0
        };
        BodyReader {
            framing,
            remaining,
            chunk: Chunk::Size,
            line: Vec::new(),
        }
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Bytes still to come when the length is known (Content-Length framing).
    pub fn remaining_known(&self) -> Option<u64> {
        matches!(self.framing, Framing::Length(_)).then_some(self.remaining)
    }

    /// A body with nothing to read.
    pub fn is_done_at_start(&self) -> bool {
        matches!(self.framing, Framing::None) || self.framing == Framing::Length(0)
    }

    pub fn feed(&mut self, input: &[u8], sink: &mut impl FnMut(&[u8])) -> Fed {
        match self.framing {
            Framing::None => Fed {
                consumed: 0,
                done: true,
                broken: false,
            },
            Framing::Close => {
                sink(input);
                Fed {
                    consumed: input.len(),
                    done: false,
                    broken: false,
                }
            }
            Framing::Length(_) => {
                let n = (self.remaining.min(input.len() as u64)) as usize;
                sink(&input[..n]);
                self.remaining -= n as u64;
                Fed {
                    consumed: n,
                    done: self.remaining == 0,
                    broken: false,
                }
            }
            Framing::Chunked => self.chunked(input, sink),
        }
    }

    fn chunked(&mut self, input: &[u8], sink: &mut impl FnMut(&[u8])) -> Fed {
        let mut at = 0;
        while at < input.len() {
            match self.chunk {
                Chunk::Data(left) => {
                    let n = left.min((input.len() - at) as u64) as usize;
                    sink(&input[at..at + n]);
                    at += n;
                    self.chunk = if left == n as u64 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left - n as u64)
                    };
                }
                Chunk::Size | Chunk::DataEnd | Chunk::Trailer => {
                    let Some(line) = self.take_line(input, &mut at) else {
                        if self.line.len() > MAX_LINE {
                            return Fed {
                                consumed: at,
                                done: true,
                                broken: true,
                            };
                        }
                        continue;
                    };
                    match self.chunk {
                        Chunk::Size => match parse_chunk_size(&line) {
                            Some(0) => self.chunk = Chunk::Trailer,
                            Some(n) => self.chunk = Chunk::Data(n),
                            None => {
                                return Fed {
                                    consumed: at,
                                    done: true,
                                    broken: true,
                                }
                            }
                        },
                        Chunk::DataEnd => {
                            // Expect an empty line; a size line here means the CRLF was missing.
                            if line.is_empty() {
                                self.chunk = Chunk::Size;
                            } else {
                                match parse_chunk_size(&line) {
                                    Some(0) => self.chunk = Chunk::Trailer,
                                    Some(n) => self.chunk = Chunk::Data(n),
                                    None => {
                                        return Fed {
                                            consumed: at,
                                            done: true,
                                            broken: true,
                                        }
                                    }
                                }
                            }
                        }
                        _ => {
                            if line.is_empty() {
                                return Fed {
                                    consumed: at,
                                    done: true,
                                    broken: false,
                                };
                            }
                        }
                    }
                }
            }
        }
        Fed {
            consumed: at,
            done: false,
            broken: false,
        }
    }

    /// Take one line (without CR/LF) once its LF is in `input`; else buffer what there is.
    fn take_line(&mut self, input: &[u8], at: &mut usize) -> Option<Vec<u8>> {
        let rest = &input[*at..];
        match memchr::memchr(b'\n', rest) {
            Some(p) => {
                let room = MAX_LINE.saturating_sub(self.line.len());
                self.line.extend_from_slice(&rest[..p.min(room)]);
                *at += p + 1;
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Some(line)
            }
            None => {
                let room = (MAX_LINE + 1).saturating_sub(self.line.len());
                self.line.extend_from_slice(&rest[..rest.len().min(room)]);
                *at = input.len();
                None
            }
        }
    }

    /// `len` body bytes were lost. Returns true if the reader is still in sync after them.
    pub fn on_gap(&mut self, len: u64) -> GapOutcome {
        match self.framing {
            Framing::Close => GapOutcome::InSync,
            Framing::Length(_) if len <= self.remaining => {
                self.remaining -= len;
                if self.remaining == 0 {
                    GapOutcome::Done { overshoot: 0 }
                } else {
                    GapOutcome::InSync
                }
            }
            Framing::Length(_) => {
                let over = len - self.remaining;
                self.remaining = 0;
                GapOutcome::Done { overshoot: over }
            }
            Framing::Chunked => match self.chunk {
                Chunk::Data(left) if len < left => {
                    self.chunk = Chunk::Data(left - len);
                    GapOutcome::InSync
                }
                _ => GapOutcome::Lost,
            },
            Framing::None => GapOutcome::Done { overshoot: len },
        }
    }
}

/// What a gap did to a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapOutcome {
    /// The gap fell inside the body; reading continues.
    InSync,
    /// The body ended inside the gap; `overshoot` gap bytes belong to what follows.
    Done { overshoot: u64 },
    /// The framing cannot be followed across the gap.
    Lost,
}

/// A chunk-size line: hex digits, optional `;extensions`, optional whitespace.
fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let s = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&[][..], |p| &line[p..]);
    let digits = s.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return None;
    }
    let rest = &s[digits..];
    let rest_ok = rest.iter().all(|b| *b == b' ' || *b == b'\t')
        || matches!(rest.iter().find(|b| !b.is_ascii_whitespace()), Some(b';'));
    if !rest_ok {
        return None;
    }
    let mut n: u64 = 0;
    for d in &s[..digits] {
        let v = (*d as char).to_digit(16)? as u64;
        n = n.checked_mul(16)?.checked_add(v)?;
    }
    Some(n)
}

/// Content-Length as the origin most likely read it; `Err` when absent-equivalent or invalid.
fn content_length(h: &Headers, stats: &mut HttpStats) -> Option<u64> {
    let mut found: Option<u64> = None;
    for v in h.get_all("content-length") {
        for part in v.split(|b| *b == b',') {
            let t = part.trim_ascii();
            let parsed = if !t.is_empty() && t.iter().all(u8::is_ascii_digit) {
                std::str::from_utf8(t)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
            } else {
                None
            };
            match (parsed, found) {
                (None, _) => {
                    stats.bad_content_length += 1;
                    return found;
                }
                (Some(n), Some(f)) if n != f => {
                    stats.bad_content_length += 1;
                    return found;
                }
                (Some(n), _) => found = Some(n),
            }
        }
    }
    found
}

fn is_chunked(h: &Headers) -> bool {
    h.get_all("transfer-encoding")
        .flat_map(|v| v.split(|b| *b == b','))
        .map(|t| t.trim_ascii())
        .filter(|t| !t.is_empty())
        .last()
        .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"))
}

/// Framing of a request body.
pub fn request_framing(h: &Headers, stats: &mut HttpStats) -> Framing {
    let cl_present = h.get("content-length").is_some();
    if is_chunked(h) {
        if cl_present {
            stats.cl_te_conflicts += 1;
        }
        return Framing::Chunked;
    }
    match content_length(h, stats) {
        Some(n) => Framing::Length(n),
        None => Framing::None,
    }
}

/// Framing of a response body, given the request method (if the request was seen).
pub fn response_framing(
    method: Option<&str>,
    status: u16,
    h: &Headers,
    stats: &mut HttpStats,
) -> Framing {
    let head = method.is_some_and(|m| m.eq_ignore_ascii_case("HEAD"));
    let connect_ok =
        method.is_some_and(|m| m.eq_ignore_ascii_case("CONNECT")) && (200..300).contains(&status);
    if head || connect_ok || (100..200).contains(&status) || status == 204 || status == 304 {
        return Framing::None;
    }
    if is_chunked(h) {
        if h.get("content-length").is_some() {
            stats.cl_te_conflicts += 1;
        }
        return Framing::Chunked;
    }
    match content_length(h, stats) {
        Some(n) => Framing::Length(n),
        None => Framing::Close,
    }
}
