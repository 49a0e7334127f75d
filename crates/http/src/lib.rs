//! apitap-http: HTTP/1.x on reassembled TCP streams. Parses each direction incrementally,
//! frames bodies (Content-Length, chunked, close-delimited), pairs requests with responses
//! and turns a connection into [`Exchange`]s.
//!
//! Invariants:
//! - Parsers consume `&[u8]` as it arrives in any split; the result does not depend on where
//!   segment boundaries fall. Heads are parsed in place when a segment holds a whole head and
//!   copied only when one straddles segments.
//! - Every buffer is capped: head bytes ([`HttpConfig::max_head_bytes`]), kept body bytes
//!   ([`HttpConfig::body_sample`], the rest is counted, not copied), chunk-size lines,
//!   transactions waiting for a response. Every cap hit is counted in [`HttpStats`].
//! - A gap never kills a connection: a body with a known length stays in sync across it;
//!   otherwise the parser resynchronises at the next request or status line.
//! - A response is paired with a request only if the server could have seen that request
//!   (its ACK covers the request's first byte), so a lost request or response never shifts
//!   every later pair.
#![forbid(unsafe_code)]

mod body;
mod coding;
mod conn;
mod half;
mod head;
mod sniff;

pub use coding::MAX_LAYERS;
pub use conn::Connection;
pub use head::{Head, Headers, StartLine};
pub use sniff::{client_hello, guess, server_hello, version_name, ClientHello, Guess, ServerHello};

use std::net::SocketAddr;

/// What follows `scheme://` when the target is in absolute form (the scheme: letters only).
pub fn after_scheme(uri: &[u8]) -> Option<&[u8]> {
    let n = uri.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    uri[n..].strip_prefix(b"://")
}

/// Split a request target into (path, query). Absolute-form targets lose scheme and authority.
pub fn split_target(uri: &[u8]) -> (&[u8], Option<&[u8]>) {
    let mut t = uri;
    if let Some(rest) = after_scheme(t) {
        t = match rest.iter().position(|c| *c == b'/' || *c == b'?') {
            Some(i) => &rest[i..],
            None => b"/",
        };
    }
    let t = match t.iter().position(|c| *c == b'#') {
        Some(i) => &t[..i],
        None => t,
    };
    match t.iter().position(|c| *c == b'?') {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    }
}

/// Request headers that carry API keys, lower-case.
pub const API_KEY_HEADERS: &[&str] = &[
    "x-api-key",
    "api-key",
    "apikey",
    "x-apikey",
    "x-auth-token",
    "x-access-token",
    "x-token",
    "authorization-token",
    "ocp-apim-subscription-key",
    "x-goog-api-key",
];

/// Limits of the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct HttpConfig {
    /// Bytes a request or response head may take.
    pub max_head_bytes: usize,
    /// Headers parsed per message (more are dropped and counted).
    pub max_headers: usize,
    /// Body bytes kept per message for later analysis.
    pub body_sample: usize,
    /// Transactions waiting for their response per connection.
    pub max_pending: usize,
    /// Bytes scanned for a message start on a stream that has never carried HTTP.
    pub max_probe_bytes: u64,
    /// Bytes a Content-Encoding'd body may decode to before decoding stops (bomb limit).
    pub max_decoded: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_head_bytes: 64 << 10,
            max_headers: 128,
            body_sample: 64 << 10,
            max_pending: 256,
            max_probe_bytes: 64 << 10,
            max_decoded: 1 << 20,
        }
    }
}

/// How a body's Content-Encoding was undone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Coding {
    /// No content coding: `data` holds the body as sent.
    #[default]
    Identity,
    /// Decoded to the end: `data` holds decoded bytes.
    Decoded,
    /// Decoding stopped early (corrupt stream, gap, limit, bomb): `data` holds the decoded
    /// prefix.
    Partial,
    /// A coding we cannot undo: `data` holds the encoded bytes.
    Undecodable,
}

/// A message body as far as it was seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    /// Body length after transfer decoding (de-chunked), including bytes lost in gaps.
    pub len: u64,
    /// The first [`HttpConfig::body_sample`] bytes, after content decoding when there was
    /// a coding we undo.
    pub data: Vec<u8>,
    pub coding: Coding,
    /// Bytes the content decoding produced in all (0 without a coding).
    pub decoded_len: u64,
    /// More bytes than `data` holds were seen.
    pub truncated: bool,
    /// Part of the body fell into a gap.
    pub gap: bool,
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub ts: u64,
    pub method: String,
    /// The raw request target, as sent.
    pub uri: Vec<u8>,
    /// 9 for HTTP/0.9, 10, 11.
    pub version: u8,
    pub headers: Headers,
    pub body: Body,
    /// A gap cut the head after its first line: headers past the cut are unknown.
    pub gap: bool,
}

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub ts: u64,
    /// Time of the response's last byte.
    pub ts_end: u64,
    pub status: u16,
    pub reason: String,
    pub version: u8,
    pub headers: Headers,
    pub body: Body,
    /// A gap cut the head after its status line: headers past the cut are unknown.
    pub gap: bool,
}

/// A request with its response; either side may be missing (lost, or never sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// Mirror session (VNI, GRE key, ERSPAN session), 0 if none.
    pub tunnel: u32,
    pub request: Option<Request>,
    pub response: Option<Response>,
}

impl Exchange {
    /// Whether any part of the exchange was damaged by a gap.
    pub fn gap(&self) -> bool {
        self.request.as_ref().is_some_and(|r| r.gap || r.body.gap)
            || self.response.as_ref().is_some_and(|r| r.gap || r.body.gap)
    }
}

/// Counters of the HTTP layer. Anomalies are data: counted, never fatal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpStats {
    pub requests: u64,
    pub responses: u64,
    pub interim_responses: u64,
    pub exchanges: u64,
    pub unanswered_requests: u64,
    pub orphan_responses: u64,
    pub http_streams: u64,
    /// Streams on which no HTTP message was ever found.
    pub unparsed_streams: u64,
    pub upgrades: u64,
    pub connect_tunnels: u64,
    pub gaps: u64,
    pub resyncs: u64,
    pub resync_skipped_bytes: u64,
    pub head_too_large: u64,
    pub too_many_headers: u64,
    pub lenient_heads: u64,
    pub bad_heads: u64,
    pub bad_content_length: u64,
    pub bad_chunks: u64,
    pub cl_te_conflicts: u64,
    pub body_bytes_not_kept: u64,
    pub pending_overflow: u64,
    /// Bodies whose Content-Encoding was undone to the end.
    pub decoded_bodies: u64,
    /// Bodies whose compressed stream was corrupt.
    pub decode_errors: u64,
    /// Bodies that decoded to more than [`HttpConfig::max_decoded`] bytes.
    pub decode_limit: u64,
    /// Bodies whose output/input ratio was that of a decompression bomb.
    pub decode_bombs: u64,
    /// Bodies in a coding we cannot undo (compress, zstd, ...).
    pub decode_unsupported: u64,
    /// Bodies with more stacked codings than we undo.
    pub decode_too_deep: u64,
    /// TLS hellos not read because the sniffing budget was spent.
    pub sniff_budget_exhausted: u64,
    /// Responses sent before any byte of the request they were paired with (the server
    /// spoke first after the handshake; an IDS evasion).
    pub early_responses: u64,
    /// Heads a gap cut after their first line, reported from the lines that arrived.
    pub cut_heads: u64,
}

macro_rules! add_all {
    ($a:expr, $b:expr, $($f:ident),*) => { $( $a.$f += $b.$f; )* };
}

impl HttpStats {
    pub fn add(&mut self, o: &HttpStats) {
        add_all!(
            self,
            o,
            requests,
            responses,
            interim_responses,
            exchanges,
            unanswered_requests,
            orphan_responses,
            http_streams,
            unparsed_streams,
            upgrades,
            connect_tunnels,
            gaps,
            resyncs,
            resync_skipped_bytes,
            head_too_large,
            too_many_headers,
            lenient_heads,
            bad_heads,
            bad_content_length,
            bad_chunks,
            cl_te_conflicts,
            body_bytes_not_kept,
            pending_overflow,
            decoded_bodies,
            decode_errors,
            decode_limit,
            decode_bombs,
            decode_unsupported,
            decode_too_deep,
            sniff_budget_exhausted,
            early_responses,
            cut_heads
        );
    }
}

/// A TLS handshake seen on a stream we cannot read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSeen {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub tunnel: u32,
    /// Inside an HTTP CONNECT tunnel (the server is then the proxy).
    pub via_connect: bool,
    pub hello: Option<ClientHello>,
    pub server_hello: Option<ServerHello>,
}

/// A stream on which no HTTP/1.x message was found, with a guess at what it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnparsedStream {
    pub server: SocketAddr,
    pub guess: Guess,
    /// Payload bytes in both directions.
    pub bytes: u64,
}

/// Where a connection's exchanges and counters go.
#[derive(Debug, Default)]
pub struct Sink {
    pub exchanges: Vec<Exchange>,
    pub tls: Vec<TlsSeen>,
    pub unparsed: Vec<UnparsedStream>,
    pub stats: HttpStats,
    /// Bytes held by all connections' protocol sniffers (bounded by a budget).
    pub sniff_held: u64,
}

#[cfg(test)]
mod tests;
