//! One direction of an HTTP connection: heads, bodies, gaps and resynchronisation.

use crate::body::{BodyReader, Fed, Framing, GapOutcome};
use crate::coding::{Decoder, Plan};
use crate::head::{self, Head, StartLine};
use crate::{Body, HttpConfig, HttpStats};

/// What a direction carries, once known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Unknown,
    Requests,
    Responses,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting a head at the next byte.
    Head,
    /// Reading the current message's body.
    Body,
    /// Looking for the next message start after damage (or a mid-stream pick-up).
    Resync,
    /// Not HTTP, or no longer HTTP (upgrade, CONNECT tunnel): bytes are ignored.
    Dead,
}

/// A message whose head was parsed.
#[derive(Debug)]
pub(crate) struct Current {
    pub head: Head,
    pub ts: u64,
    pub ts_end: u64,
    /// Raw sequence number of the first head byte.
    pub seq: u32,
    /// Raw acknowledgment number of the segment that carried the head's start.
    pub ack: Option<u32>,
    pub body: Body,
    pub reader: Option<BodyReader>,
    /// Undoes the body's Content-Encoding, if it has one we can undo.
    pub decoder: Option<Decoder>,
    pub gap: bool,
}

/// Events a direction reports to its connection.
#[derive(Debug)]
pub(crate) enum Event {
    /// A head was parsed; the connection must call [`Half::start_body`].
    Head,
    /// The current message is complete.
    Done(Box<Current>),
}

/// Where in the stream the bytes being fed come from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At {
    pub ts: u64,
    pub ack: Option<u32>,
}

#[derive(Debug)]
pub(crate) struct Half {
    state: State,
    pub role: Role,
    buf: Vec<u8>,
    buf_ts: u64,
    buf_ack: Option<u32>,
    buf_seq: u32,
    buf_off: u64,
    /// Stream offset of the next byte fed.
    pub pos: u64,
    /// Raw sequence number of the next byte fed, once any byte was.
    pub pos_seq: Option<u32>,
    pub cur: Option<Current>,
    pub ever_http: bool,
    probed: u64,
    /// The request was HTTP/0.9: an answer without a status line is a bare body.
    http09_answer: bool,
    /// Bytes were lost or skipped since the connection last looked (taken by the connection).
    pub damaged: bool,
    /// The head being read was found by resynchronising: only known methods qualify.
    after_resync: bool,
    /// The current head was cut by a gap: its body cannot be framed.
    head_cut: bool,
}

/// Room a head that straddles segments starts with: most heads fit, so the buffer is not
/// reallocated for each segment of it.
const HEAD_BUF_START: usize = 1024;
/// Capacity of a direction's head buffer kept between messages.
const KEEP_HEAD_BUF: usize = 2048;

/// Make room in `data` for `add` more bytes: for a body of known length, room for all of it
/// at once (small segments would otherwise reallocate it at every doubling), but never more
/// than four times what has arrived, so a length that promises much and sends little costs
/// little.
fn grow(data: &mut Vec<u8>, add: usize, whole: Option<usize>) {
    let need = data.len() + add;
    if need <= data.capacity() {
        return;
    }
    let target = match whole {
        Some(w) => w.max(need).min(need.saturating_mul(4)),
        // Length unknown (chunked, until close): doubling, so many small pieces cost a
        // logarithmic number of copies, not one each.
        None => need.max(data.capacity().saturating_mul(2)),
    };
    data.reserve_exact(target - data.len());
}

impl Half {
    pub fn new(midstream: bool) -> Half {
        Half {
            state: if midstream {
                State::Resync
            } else {
                State::Head
            },
            role: Role::Unknown,
            buf: Vec::new(),
            buf_ts: 0,
            buf_ack: None,
            buf_seq: 0,
            buf_off: 0,
            pos: 0,
            pos_seq: None,
            cur: None,
            ever_http: false,
            probed: 0,
            http09_answer: false,
            damaged: midstream,
            after_resync: false,
            head_cut: false,
        }
    }

    /// Raw sequence number of the first byte not yet read into a message: the start of a
    /// head still being gathered, else the next byte.
    pub fn unread_seq(&self) -> Option<u32> {
        if self.buf.is_empty() {
            self.pos_seq
        } else {
            Some(self.buf_seq)
        }
    }

    /// Drop the gathered head bytes. The buffer is kept for the next head that straddles
    /// segments, unless a large head grew it: at most [`KEEP_HEAD_BUF`] bytes per direction
    /// stay with a quiet flow, whichever way the head ended.
    fn empty_head_buf(&mut self) {
        if self.buf.capacity() > KEEP_HEAD_BUF {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
    }

    pub fn kill(&mut self) {
        self.state = State::Dead;
        self.buf = Vec::new();
    }

    /// The peer sent an HTTP/0.9 request.
    pub fn expect_http09_answer(&mut self) {
        self.http09_answer = true;
    }

    /// Start over as a fresh stream (inside a CONNECT tunnel), keeping the stream position.
    pub fn restart(&mut self) {
        let (pos, seq) = (self.pos, self.pos_seq);
        *self = Half::new(false);
        self.pos = pos;
        self.pos_seq = seq;
    }

    /// Consume bytes from `input` until an event occurs or the input is used up.
    pub fn feed(
        &mut self,
        input: &mut &[u8],
        at: At,
        cfg: &HttpConfig,
        st: &mut HttpStats,
    ) -> Option<Event> {
        while !input.is_empty() {
            let ev = match self.state {
                State::Dead => {
                    self.advance(input, input.len());
                    None
                }
                State::Resync => {
                    self.resync(input, cfg, st);
                    None
                }
                State::Head => self.head(input, at, cfg, st),
                State::Body => self.body(input, at, cfg, st),
            };
            if ev.is_some() {
                return ev;
            }
        }
        None
    }

    fn advance(&mut self, input: &mut &[u8], n: usize) {
        *input = &input[n..];
        self.pos += n as u64;
        self.pos_seq = self.pos_seq.map(|s| s.wrapping_add(n as u32));
    }

    /// Give up on a stream that never carried HTTP once enough bytes were probed.
    fn probe_budget(&mut self, n: usize, cfg: &HttpConfig, st: &mut HttpStats) {
        if !self.ever_http {
            self.probed += n as u64;
            if self.probed > cfg.max_probe_bytes {
                let _ = st;
                self.kill();
            }
        }
    }

    fn resync(&mut self, input: &mut &[u8], cfg: &HttpConfig, st: &mut HttpStats) {
        let data = *input;
        match self.find_start(data) {
            Some(at) => {
                st.resync_skipped_bytes += at as u64;
                self.damaged |= at > 0;
                if self.ever_http || at > 0 {
                    st.resyncs += 1;
                }
                self.advance(input, at);
                self.state = State::Head;
                self.after_resync = true;
            }
            None => {
                st.resync_skipped_bytes += data.len() as u64;
                self.damaged = true;
                self.advance(input, data.len());
                self.probe_budget(data.len(), cfg, st);
            }
        }
    }

    /// The first place in `data` where a message of this direction certainly starts: a known
    /// method or a status line at a line start (or at the start of `data`), a status line
    /// anywhere, or a request line anywhere (known method, target, ` HTTP/1.x` at line end;
    /// after a gap the request may follow the tail of a body on the same line).
    fn find_start(&self, data: &[u8]) -> Option<usize> {
        let mut best: Option<usize> = None;
        let mut at = 0;
        while at < data.len() {
            if self.starts_message_in(&data[at..], true) != Some(false) {
                best = Some(at);
                break;
            }
            match memchr::memchr(b'\n', &data[at..]) {
                Some(p) => at += p + 1,
                None => break,
            }
        }
        let limit = best.unwrap_or(data.len());
        let embedded = match self.role {
            Role::Responses => memchr::memmem::find(&data[..limit], b"HTTP/1.")
                .filter(|p| head::response_start(&data[*p..]) == Some(true)),
            Role::Requests => head::find_request_line(&data[..limit]),
            Role::Unknown => None,
        };
        embedded.or(best)
    }

    /// Could a message of this direction's role start at `b`? `None`: need more bytes.
    fn starts_message(&self, b: &[u8]) -> Option<bool> {
        self.starts_message_in(b, !self.ever_http || self.after_resync)
    }

    /// `strict`: only known methods start a request (when probing an unknown stream, and when
    /// resynchronising, where any word at a line start would otherwise pass).
    fn starts_message_in(&self, b: &[u8], strict: bool) -> Option<bool> {
        if b.is_empty() {
            return None;
        }
        match self.role {
            Role::Requests => head::request_start(b, strict),
            Role::Responses => head::response_start(b),
            Role::Unknown => match head::response_start(b) {
                Some(true) => Some(true),
                r => match (r, head::request_start(b, strict)) {
                    (_, Some(true)) => Some(true),
                    (None, _) | (_, None) => None,
                    _ => Some(false),
                },
            },
        }
    }

    fn head(
        &mut self,
        input: &mut &[u8],
        at: At,
        cfg: &HttpConfig,
        st: &mut HttpStats,
    ) -> Option<Event> {
        if self.buf.is_empty() {
            // Skip blank lines between messages.
            let blank = input
                .iter()
                .take_while(|b| **b == b'\r' || **b == b'\n')
                .count();
            self.advance(input, blank);
            if input.is_empty() {
                return None;
            }
            match self.starts_message(input) {
                Some(false) if self.http09_answer => {
                    // The HTTP/0.9 answer: a body until the connection closes.
                    self.kill();
                    return None;
                }
                Some(false) => {
                    st.bad_heads += u64::from(self.ever_http);
                    // Not HTTP here: maybe a protocol prefix (SOCKS, PROXY) before it. Look for
                    // a message start within the probe budget.
                    self.state = State::Resync;
                    return None;
                }
                None => {}
                Some(true) => {
                    if let Some(end) = self.head_end(input, 0) {
                        let (ts, ack, seq) = (at.ts, at.ack, self.pos_seq.unwrap_or(0));
                        let parsed = self.parse(&input[..end], cfg, st);
                        self.advance(input, end);
                        return self.begin(parsed, ts, ack, seq);
                    }
                }
            }
            self.buf_ts = at.ts;
            self.buf_ack = at.ack;
            self.buf_seq = self.pos_seq.unwrap_or(0);
            self.buf_off = self.pos;
        }
        let old = self.buf.len();
        let room = cfg.max_head_bytes.saturating_sub(old);
        let take = input.len().min(room);
        if old == 0 {
            self.buf
                .reserve(HEAD_BUF_START.max(2 * take).min(cfg.max_head_bytes));
        }
        self.buf.extend_from_slice(&input[..take]);
        if old < head::PROBE_BYTES
            && self.starts_message(&self.buf) == Some(false)
            && self.http09_answer
        {
            self.kill();
            return None;
        }
        if old < head::PROBE_BYTES && self.starts_message(&self.buf) == Some(false) {
            // Not a message after all: drop the buffered bytes and rescan this input.
            self.empty_head_buf();
            self.state = State::Resync;
            return None;
        }
        match self.head_end(&self.buf, old) {
            Some(end) => {
                let used = end - old;
                let parsed = self.parse(&self.buf[..end], cfg, st);
                self.empty_head_buf();
                self.advance(input, used);
                self.begin(parsed, self.buf_ts, self.buf_ack, self.buf_seq)
            }
            None if take < input.len() || self.buf.len() >= cfg.max_head_bytes => {
                st.head_too_large += 1;
                self.empty_head_buf();
                self.advance(input, take);
                self.state = State::Resync;
                None
            }
            None => {
                self.advance(input, take);
                None
            }
        }
    }

    /// End of the head starting at `b[0]`, scanning from `from`. An HTTP/0.9 request (a
    /// request line with no version) ends at its first line.
    fn head_end(&self, b: &[u8], from: usize) -> Option<usize> {
        if self.role != Role::Responses && head::response_start(b) != Some(true) {
            if let Some(eol) = head::first_line_end(b) {
                let line = &b[..eol];
                let tokens = line
                    .split(|c| c.is_ascii_whitespace())
                    .filter(|t| !t.is_empty())
                    .count();
                if tokens == 2 {
                    return Some(eol);
                }
            }
        }
        head::find_head_end(b, from)
    }

    fn parse(&self, raw: &[u8], cfg: &HttpConfig, st: &mut HttpStats) -> Option<Head> {
        let want_response = match self.role {
            Role::Responses => true,
            Role::Requests => false,
            Role::Unknown => head::response_start(raw) == Some(true),
        };
        let h = if want_response {
            head::parse_response(raw, cfg.max_headers)
        } else {
            head::parse_request(raw, cfg.max_headers)
        };
        match &h {
            Some(h) => {
                st.lenient_heads += u64::from(h.lenient);
                if h.dropped_headers > 0 {
                    st.too_many_headers += 1;
                }
            }
            None => st.bad_heads += 1,
        }
        h
    }

    fn begin(
        &mut self,
        parsed: Option<Head>,
        ts: u64,
        ack: Option<u32>,
        seq: u32,
    ) -> Option<Event> {
        let Some(head) = parsed else {
            self.state = State::Resync;
            return None;
        };
        let is_req = matches!(head.start, StartLine::Request { .. });
        self.role = if is_req {
            Role::Requests
        } else {
            Role::Responses
        };
        self.ever_http = true;
        self.after_resync = false;
        self.cur = Some(Current {
            head,
            ts,
            ts_end: ts,
            seq,
            ack,
            body: Body::default(),
            reader: None,
            decoder: None,
            gap: false,
        });
        self.state = State::Body;
        Some(Event::Head)
    }

    /// Set the body framing of the message whose head was just reported.
    pub fn start_body(
        &mut self,
        framing: Framing,
        cfg: &HttpConfig,
        st: &mut HttpStats,
    ) -> Option<Event> {
        let cur = self.cur.as_mut()?;
        if std::mem::take(&mut self.head_cut) {
            // The rest of the head and the body fell into the gap: done, damaged; the
            // stream resynchronises at the next message.
            cur.gap = true;
            cur.body.gap = true;
            self.state = State::Resync;
            return self.cur.take().map(|c| Event::Done(Box::new(c)));
        }
        let reader = BodyReader::new(framing);
        if reader.is_done_at_start() {
            self.state = State::Head;
            return self.cur.take().map(|c| Event::Done(Box::new(c)));
        }
        cur.reader = Some(reader);
        if let Some(ce) = cur.head.headers.get("content-encoding") {
            match Decoder::plan(ce, cfg.body_sample, cfg.max_decoded) {
                Plan::Identity => {}
                Plan::Decode(d) => cur.decoder = Some(d),
                Plan::Unsupported { too_deep } => {
                    cur.body.coding = crate::Coding::Undecodable;
                    if too_deep {
                        st.decode_too_deep += 1;
                    } else {
                        st.decode_unsupported += 1;
                    }
                }
            }
        }
        None
    }

    fn body(
        &mut self,
        input: &mut &[u8],
        at: At,
        cfg: &HttpConfig,
        st: &mut HttpStats,
    ) -> Option<Event> {
        let Some(cur) = self.cur.as_mut() else {
            self.state = State::Head;
            return None;
        };
        let Some(reader) = cur.reader.as_mut() else {
            self.state = State::Head;
            return self.cur.take().map(|c| Event::Done(Box::new(c)));
        };
        let body = &mut cur.body;
        let decoder = &mut cur.decoder;
        let cap = cfg.body_sample;
        // What the kept body will hold when its length is known.
        let whole = reader
            .remaining_known()
            .map(|r| (body.data.len() as u64).saturating_add(r).min(cap as u64) as usize);
        let fed: Fed = reader.feed(input, &mut |chunk: &[u8]| {
            body.len += chunk.len() as u64;
            if let Some(d) = decoder.as_mut() {
                d.feed(chunk);
                return;
            }
            let room = cap.saturating_sub(body.data.len());
            let keep = chunk.len().min(room);
            grow(&mut body.data, keep, whole);
            body.data.extend_from_slice(&chunk[..keep]);
            if keep < chunk.len() {
                body.truncated = true;
                st.body_bytes_not_kept += (chunk.len() - keep) as u64;
            }
        });
        cur.ts_end = at.ts;
        self.advance(input, fed.consumed);
        if fed.broken {
            st.bad_chunks += 1;
            self.state = State::Resync;
            return self.cur.take().map(|c| Event::Done(Box::new(c)));
        }
        if fed.done {
            self.state = State::Head;
            return self.cur.take().map(|c| Event::Done(Box::new(c)));
        }
        None
    }

    /// A head that a gap cut (a capture's snaplen, a mirror's MTU): when its first line
    /// arrived whole, the message is reported from the lines that did (method, target or
    /// status, and the headers before the cut), flagged as damaged.
    fn cut_head(&mut self, buf: &[u8], cfg: &HttpConfig, st: &mut HttpStats) -> Option<Event> {
        let last = memchr::memrchr(b'\n', buf)? + 1;
        let first = head::first_line_end(buf)?;
        if self.starts_message(&buf[..first]) != Some(true) {
            return None;
        }
        let mut whole = Vec::with_capacity(last + 2);
        whole.extend_from_slice(&buf[..last]);
        whole.extend_from_slice(b"\r\n");
        let parsed = self.parse(&whole, cfg, st)?;
        st.cut_heads += 1;
        self.head_cut = true;
        self.begin(Some(parsed), self.buf_ts, self.buf_ack, self.buf_seq)
    }

    /// `len` bytes of this direction were lost.
    pub fn on_gap(&mut self, len: u64, cfg: &HttpConfig, st: &mut HttpStats) -> Option<Event> {
        self.pos += len;
        self.pos_seq = self.pos_seq.map(|s| s.wrapping_add(len as u32));
        self.damaged = true;
        match self.state {
            State::Dead => None,
            State::Resync => None,
            State::Head => {
                let buf = std::mem::take(&mut self.buf);
                self.state = State::Resync;
                self.cut_head(&buf, cfg, st)
            }
            State::Body => {
                let cur = self.cur.as_mut()?;
                cur.body.gap = true;
                cur.body.len += len;
                if let Some(d) = cur.decoder.as_mut() {
                    d.on_gap();
                }
                let outcome = cur
                    .reader
                    .as_mut()
                    .map_or(GapOutcome::Lost, |r| r.on_gap(len));
                match outcome {
                    GapOutcome::InSync => None,
                    GapOutcome::Done { overshoot } => {
                        cur.body.len -= overshoot;
                        self.state = if overshoot > 0 {
                            State::Resync
                        } else {
                            State::Head
                        };
                        self.cur.take().map(|c| Event::Done(Box::new(c)))
                    }
                    GapOutcome::Lost => {
                        let _ = st;
                        self.state = State::Resync;
                        self.cur.take().map(|c| Event::Done(Box::new(c)))
                    }
                }
            }
        }
    }

    /// The connection ended: finish a close-delimited body, report a cut one as damaged.
    pub fn finish(&mut self) -> Option<Event> {
        self.empty_head_buf();
        let mut cur = self.cur.take()?;
        let close_delimited = cur
            .reader
            .as_ref()
            .is_some_and(|r| r.framing() == Framing::Close);
        if !close_delimited && cur.reader.is_some() {
            cur.body.gap = true;
        }
        self.state = State::Head;
        Some(Event::Done(Box::new(cur)))
    }
}

#[cfg(test)]
mod tests {
    use super::grow;

    /// Reallocations while `n` one-byte pieces arrive for a body of length `whole`.
    fn growths(n: usize, whole: Option<usize>) -> usize {
        let mut v = Vec::new();
        let mut changes = 0;
        for _ in 0..n {
            let cap = v.capacity();
            grow(&mut v, 1, whole);
            v.push(0u8);
            changes += usize::from(v.capacity() != cap);
        }
        changes
    }

    #[test]
    fn bodies_grow_geometrically_and_never_far_ahead_of_their_bytes() {
        // Unknown length, or a known one, in one-byte pieces: a few dozen growths at most,
        // never one per piece.
        assert!(growths(65_536, None) <= 20);
        assert!(growths(65_536, Some(65_536)) <= 10);
        // A known length is reserved at once when the first piece is a quarter of it...
        let mut v = Vec::new();
        grow(&mut v, 1000, Some(3000));
        assert!(v.capacity() >= 3000);
        // ...but a length that promises much gets four times what arrived, not the promise.
        let mut v = Vec::new();
        grow(&mut v, 10, Some(60_000));
        assert!((40..1000).contains(&v.capacity()), "{}", v.capacity());
    }
}
