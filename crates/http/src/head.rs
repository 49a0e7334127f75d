//! Message heads: finding where a head ends, parsing it (httparse first, a lenient line parser
//! for what httparse refuses but servers accept), and the owned [`Head`] kept afterwards.

use std::mem::MaybeUninit;
use std::ops::Range;

/// Header fields of one message: the raw head bytes plus name/value ranges into them.
/// One copy of the head, no allocation per header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    raw: Vec<u8>,
    fields: Vec<(Range<u32>, Range<u32>)>,
}

impl Headers {
    /// Build from (name, value) pairs (tests, synthetic input).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Headers {
        let mut h = Headers::default();
        for (n, v) in pairs {
            h.push(n.as_bytes(), v);
        }
        h
    }

    fn push(&mut self, name: &[u8], value: &[u8]) {
        let n0 = self.raw.len() as u32;
        self.raw.extend_from_slice(name);
        let v0 = self.raw.len() as u32;
        self.raw.extend_from_slice(value);
        self.fields.push((n0..v0, v0..self.raw.len() as u32));
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// All (name, value) pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.fields.iter().map(|(n, v)| {
            (
                &self.raw[n.start as usize..n.end as usize],
                &self.raw[v.start as usize..v.end as usize],
            )
        })
    }

    /// Values of every field named `name` (ASCII case-insensitive).
    pub fn get_all<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.get_all(name).next()
    }

    /// The first value of `name` as text (lossy), trimmed.
    pub fn get_str(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|v| String::from_utf8_lossy(v).trim().to_string())
    }
}

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request {
        method: String,
        uri: Vec<u8>,
        version: u8,
    },
    Response {
        status: u16,
        reason: String,
        version: u8,
    },
}

/// A parsed head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub start: StartLine,
    pub headers: Headers,
    /// httparse refused the head and the lenient parser accepted it.
    pub lenient: bool,
    /// Header fields beyond the cap, not kept.
    pub dropped_headers: usize,
}

/// Index just past the blank line ending a head that starts at `buf[0]`, searching from
/// `from` (so callers accumulating a head scan each byte once). Accepts CRLF and bare LF.
pub fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    use wide::u8x16;
    // Windows of 64 bytes, 16 at a time, stepping by 62 so that every `\n` looked at has
    // the two bytes after it in its window; the last window is padded with zeros.
    let (lf, cr) = (u8x16::splat(b'\n'), u8x16::splat(b'\r'));
    let mut i = from.saturating_sub(3);
    while i < buf.len() {
        let mut tail = [0u8; 64];
        let w: &[u8; 64] = match buf.get(i..i + 64).and_then(|w| w.try_into().ok()) {
            Some(full) => full,
            None => {
                tail[..buf.len() - i].copy_from_slice(&buf[i..]);
                &tail
            }
        };
        let (mut nl, mut r) = (0u64, 0u64);
        for (k, c) in w.chunks_exact(16).enumerate() {
            let v = u8x16::new(c.try_into().unwrap_or([0; 16]));
            nl |= u64::from(v.cmp_eq(lf).move_mask() as u16) << (16 * k);
            r |= u64::from(v.cmp_eq(cr).move_mask() as u16) << (16 * k);
        }
        // `\n\n` or `\n\r\n` starting at bit j, for j among the first 62.
        let ends = (nl & nl >> 1 | nl & r >> 1 & nl >> 2) & ((1 << 62) - 1);
        if ends != 0 {
            let j = ends.trailing_zeros() as usize;
            return Some(i + j + if nl >> (j + 1) & 1 == 1 { 2 } else { 3 });
        }
        i += 62;
    }
    None
}

/// Index just past the first line end, if any.
pub fn first_line_end(buf: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', buf).map(|p| p + 1)
}

const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"PUT",
    b"DELETE",
    b"HEAD",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"SEARCH",
    b"REPORT",
    b"PURGE",
    b"LINK",
    b"UNLINK",
    b"SUBSCRIBE",
    b"NOTIFY",
    b"BPROPFIND",
    b"POLL",
    b"SOURCE",
    // The safe method with a body (draft-ietf-httpbis-safe-method-w-body), and the rest of
    // IANA's method registry.
    b"QUERY",
    b"ACL",
    b"BIND",
    b"REBIND",
    b"UNBIND",
    b"CHECKIN",
    b"CHECKOUT",
    b"UNCHECKOUT",
    b"MERGE",
    b"LABEL",
    b"UPDATE",
    b"MKACTIVITY",
    b"MKCALENDAR",
    b"MKREDIRECTREF",
    b"MKWORKSPACE",
    b"ORDERPATCH",
    b"UPDATEREDIRECTREF",
    b"VERSION-CONTROL",
    b"BASELINE-CONTROL",
    b"UNSUBSCRIBE",
];

/// Whether `b` plausibly starts a request line; `None` when more bytes are needed to say.
pub fn request_start(b: &[u8], known_methods_only: bool) -> Option<bool> {
    let sp = match memchr::memchr(b' ', &b[..b.len().min(24)]) {
        Some(sp) => sp,
        None if b.len() < 24 && b.iter().all(|c| is_tchar(*c)) => return None,
        None => return Some(false),
    };
    if sp == 0 || !b[..sp].iter().all(|c| is_tchar(*c)) {
        return Some(false);
    }
    if known_methods_only {
        if METHODS.iter().any(|m| m.eq_ignore_ascii_case(&b[..sp])) {
            return Some(true);
        }
        return custom_method_line(b, sp);
    }
    Some(
        b[..sp]
            .iter()
            .all(|c| c.is_ascii_alphabetic() || *c == b'-' || *c == b'_'),
    )
}

/// Bytes within which a message start is decided (see [`request_start`]).
pub const PROBE_BYTES: usize = 256;

/// A method outside the registry (`CCM_POST`, vendor verbs) starts a request where only
/// known methods may only when the rest of the line reads as HTTP: an upper-case token, an
/// origin-form or `*` target, and `HTTP/1.` on the line (`CCM_POST / HTTP/1.1`, or run into
/// the target as in `CCM_POST /HTTP/1.1`). Decided within [`PROBE_BYTES`].
fn custom_method_line(b: &[u8], sp: usize) -> Option<bool> {
    let method = &b[..sp];
    if sp > 20
        || !method.iter().any(u8::is_ascii_uppercase)
        || !method
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
    {
        return Some(false);
    }
    match b.get(sp + 1) {
        None => return None,
        Some(b'/' | b'*') => {}
        Some(_) => return Some(false),
    }
    let window = &b[..b.len().min(PROBE_BYTES)];
    match memchr::memchr(b'\n', window) {
        Some(nl) => Some(memchr::memmem::find(&window[sp..nl], b"HTTP/1.").is_some()),
        None if b.len() < PROBE_BYTES => None,
        None => Some(false),
    }
}

/// Whether `b` plausibly starts a status line; `None` when more bytes are needed.
pub fn response_start(b: &[u8]) -> Option<bool> {
    const P: &[u8] = b"HTTP/";
    let n = b.len().min(P.len());
    if !b[..n].eq_ignore_ascii_case(&P[..n]) {
        return Some(false);
    }
    if b.len() < 6 {
        return None;
    }
    Some(b[5].is_ascii_digit())
}

/// A request line anywhere in `b`: a known method, a space, a target without spaces, and
/// ` HTTP/1.x` ending the line. Returns where the method starts.
pub fn find_request_line(b: &[u8]) -> Option<usize> {
    let mut found: Option<usize> = None;
    for hit in memchr::memmem::find_iter(b, b" HTTP/1.") {
        let line_end = hit + 10;
        if !matches!(b.get(line_end), Some(b'\r') | Some(b'\n')) {
            continue;
        }
        let line_start = memchr::memrchr(b'\n', &b[..hit]).map_or(0, |p| p + 1);
        let line = &b[line_start..hit];
        for m in METHODS {
            let mut from = 0;
            while let Some(p) = memchr::memmem::find(&line[from..], m).map(|p| p + from) {
                let target = &line[(p + m.len()).min(line.len())..];
                if target.first() == Some(&b' ') && target.len() > 1 && !target[1..].contains(&b' ')
                {
                    found = Some(found.map_or(line_start + p, |f: usize| f.min(line_start + p)));
                    break;
                }
                from = p + 1;
            }
        }
        if found.is_some() {
            return found;
        }
    }
    None
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn version_of(v: &[u8]) -> u8 {
    match v {
        b"HTTP/1.1" => 11,
        b"HTTP/1.0" => 10,
        b"HTTP/0.9" => 9,
        // Any other `HTTP/d.d`; a version that is not two digits is unknown (0).
        _ if v.len() >= 8
            && v[..5].eq_ignore_ascii_case(b"HTTP/")
            && v[5].is_ascii_digit()
            && v[7].is_ascii_digit() =>
        {
            (v[5] - b'0') * 10 + (v[7] - b'0')
        }
        _ => 0,
    }
}

/// Header slots httparse fills per message (stack-allocated; more fall back to the lenient
/// parser, which keeps `max_headers` and counts the rest).
const PARSE_SLOTS: usize = 128;

/// An owned head from httparse's borrowed result.
fn owned(start: StartLine, fields: &[httparse::Header<'_>]) -> Head {
    let bytes = fields.iter().map(|h| h.name.len() + h.value.len()).sum();
    let mut headers = Headers {
        raw: Vec::with_capacity(bytes),
        fields: Vec::with_capacity(fields.len()),
    };
    for h in fields {
        headers.push(h.name.as_bytes(), h.value);
    }
    Head {
        start,
        headers,
        lenient: false,
        dropped_headers: 0,
    }
}

/// Parse a complete request head (`buf` ends with the blank line, or is one line for HTTP/0.9).
pub fn parse_request(buf: &[u8], max_headers: usize) -> Option<Head> {
    // Slots left uninitialised: httparse writes the ones it fills (4 KB not cleared per head).
    let mut hdrs = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; PARSE_SLOTS];
    let mut req = httparse::Request::new(&mut []);
    let mut cfg = httparse::ParserConfig::default();
    cfg.allow_multiple_spaces_in_request_line_delimiters(true)
        .ignore_invalid_headers_in_requests(true);
    let slots = &mut hdrs[..max_headers.clamp(1, PARSE_SLOTS)];
    if let Ok(httparse::Status::Complete(_)) =
        cfg.parse_request_with_uninit_headers(&mut req, buf, slots)
    {
        let start = StartLine::Request {
            method: req.method.unwrap_or("").to_string(),
            uri: req.path.unwrap_or("").as_bytes().to_vec(),
            version: 10 + req.version.unwrap_or(1),
        };
        return Some(owned(start, req.headers));
    }
    lenient(buf, max_headers, true)
}

/// Parse a complete response head.
pub fn parse_response(buf: &[u8], max_headers: usize) -> Option<Head> {
    let mut hdrs = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; PARSE_SLOTS];
    let mut res = httparse::Response::new(&mut []);
    let mut cfg = httparse::ParserConfig::default();
    cfg.allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .ignore_invalid_headers_in_responses(true);
    let slots = &mut hdrs[..max_headers.clamp(1, PARSE_SLOTS)];
    if let Ok(httparse::Status::Complete(_)) =
        cfg.parse_response_with_uninit_headers(&mut res, buf, slots)
    {
        let start = StartLine::Response {
            status: res.code.unwrap_or(0),
            reason: res.reason.unwrap_or("").to_string(),
            version: 10 + res.version.unwrap_or(1),
        };
        return Some(owned(start, res.headers));
    }
    lenient(buf, max_headers, false)
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [f, rest @ ..] = b {
        if f.is_ascii_whitespace() {
            b = rest
        } else {
            break;
        }
    }
    while let [rest @ .., l] = b {
        if l.is_ascii_whitespace() {
            b = rest
        } else {
            break;
        }
    }
    b
}

/// A line-based parser accepting what servers accept: bare LF, obs-fold, spaces before the
/// colon, raw bytes in the target, a missing version (HTTP/0.9), odd spacing.
fn lenient(buf: &[u8], max_headers: usize, request: bool) -> Option<Head> {
    let mut lines = buf
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next()?;
    let mut parts = first
        .split(|b| *b == b' ' || *b == b'\t')
        .filter(|p| !p.is_empty());
    let start = if request {
        let method = parts.next()?;
        let mut uri = parts.next()?;
        let mut version = parts.next().map(version_of).unwrap_or(9);
        if version == 9 && uri.len() >= 8 && uri[..5].eq_ignore_ascii_case(b"HTTP/") {
            // `GET HTTP/1.1`: a request line with no target.
            version = version_of(uri);
            uri = b"";
        }
        if parts.next().is_some() {
            // Spaces inside the target: take everything between method and last token.
            let last_sp = first.iter().rposition(|b| *b == b' ')?;
            let m_end = method.len();
            let uri = trim(&first[m_end..last_sp]);
            let version = version_of(trim(&first[last_sp..]));
            StartLine::Request {
                method: String::from_utf8_lossy(method).into_owned(),
                uri: uri.to_vec(),
                version,
            }
        } else {
            StartLine::Request {
                method: String::from_utf8_lossy(method).into_owned(),
                uri: uri.to_vec(),
                version,
            }
        }
    } else {
        let version = version_of(parts.next()?);
        let code = parts.next()?;
        if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let status =
            (code[0] - b'0') as u16 * 100 + (code[1] - b'0') as u16 * 10 + (code[2] - b'0') as u16;
        let reason_at = first
            .windows(3)
            .position(|w| w == code)
            .map(|p| p + 3)
            .unwrap_or(first.len());
        StartLine::Response {
            status,
            reason: String::from_utf8_lossy(trim(&first[reason_at..])).into_owned(),
            version,
        }
    };
    let mut headers = Headers::default();
    let mut dropped = 0;
    let mut fields: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            if let Some(last) = fields.last_mut() {
                last.1.push(b' ');
                last.1.extend_from_slice(trim(line));
            }
            continue;
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        if fields.len() >= max_headers {
            dropped += 1;
            continue;
        }
        fields.push((
            trim(&line[..colon]).to_vec(),
            trim(&line[colon + 1..]).to_vec(),
        ));
    }
    for (n, v) in &fields {
        headers.push(n, v);
    }
    Some(Head {
        start,
        headers,
        lenient: true,
        dropped_headers: dropped,
    })
}
