//! What a stream carries when it is not HTTP/1.x: the TLS hellos (SNI, ALPN, JA4, chosen
//! version and cipher) and a best guess at other protocols.
//!
//! The TLS reader is a bounds-checked walk over the handshake, written here rather than
//! taken from a parser crate because JA4 needs the raw extension ids in wire order,
//! GREASE values included, and nothing else of the handshake. Every length is checked
//! against the bytes present; a short or malformed hello yields `None`, never a panic.

use sha2::{Digest, Sha256};
use std::fmt::Write;

/// Bytes kept per direction to read a hello (a post-quantum ClientHello is about 1.8 KB;
/// a TLS record is at most 16 KiB plus its header).
pub const SNIFF_TLS_CAP: usize = 16 * 1024 + 5;
/// Bytes a worker may hold for TLS hellos in all; beyond, streams get [`SNIFF_CAP`].
pub const SNIFF_BUDGET: u64 = 64 << 20;
/// Bytes kept per direction to guess another protocol.
pub const SNIFF_CAP: usize = 64;

/// What the ClientHello says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientHello {
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    pub ja4: String,
}

/// What the ServerHello says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerHello {
    /// The negotiated version (from supported_versions when present), e.g. 0x0304.
    pub version: u16,
    pub cipher: u16,
}

/// A protocol we recognise but do not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Guess {
    Tls,
    Http2,
    Ssh,
    Postgresql,
    Mysql,
    Redis,
    Unknown,
}

impl Guess {
    pub fn name(self) -> &'static str {
        match self {
            Guess::Tls => "tls",
            Guess::Http2 => "h2",
            Guess::Ssh => "ssh",
            Guess::Postgresql => "postgresql",
            Guess::Mysql => "mysql",
            Guess::Redis => "redis",
            Guess::Unknown => "unknown",
        }
    }
}

/// A TLS record header starts with a handshake record of a known version.
pub fn looks_like_tls(b: &[u8]) -> bool {
    b.len() >= 3 && b[0] == 0x16 && b[1] == 3 && b[2] <= 4
}

/// The first bytes of each direction (`client` = the side that spoke first or sent the
/// SYN): which protocol is this?
pub fn guess(client: &[u8], server: &[u8]) -> Guess {
    let either = |f: &dyn Fn(&[u8]) -> bool| f(client) || f(server);
    if either(&looks_like_tls) {
        return Guess::Tls;
    }
    if client.starts_with(b"PRI * HTTP/2.0") {
        return Guess::Http2;
    }
    if either(&|b: &[u8]| b.starts_with(b"SSH-")) {
        return Guess::Ssh;
    }
    // StartupMessage (protocol 3.0), SSLRequest or GSSENCRequest.
    if client.len() >= 8
        && matches!(
            client[4..8],
            [0, 3, 0, 0] | [0x04, 0xd2, 0x16, 0x2f] | [0x04, 0xd2, 0x16, 0x30]
        )
    {
        return Guess::Postgresql;
    }
    // Server greeting: 3-byte length, sequence 0, protocol version 10.
    if server.len() >= 5 && server[3] == 0 && server[4] == 10 {
        return Guess::Mysql;
    }
    // RESP array of bulk strings, or an inline PING.
    if (client.first() == Some(&b'*') && client.get(1).is_some_and(u8::is_ascii_digit))
        || client.starts_with(b"PING\r\n")
    {
        return Guess::Redis;
    }
    Guess::Unknown
}

/// A bounds-checked reader.
struct R<'a>(&'a [u8]);

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| (b[0] as usize) << 16 | (b[1] as usize) << 8 | b[2] as usize)
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()? as usize;
        self.take(n)
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()? as usize;
        self.take(n)
    }
}

/// The body of the first handshake message of type `kind`, reassembled across records.
fn handshake(stream: &[u8], kind: u8) -> Option<Vec<u8>> {
    let mut hs = Vec::new();
    let mut r = R(stream);
    // Collect handshake-record payloads until the message is complete.
    while let (Some(ct), Some(_ver)) = (r.u8(), r.u16()) {
        let frag = r.vec16()?;
        if ct != 0x16 {
            return None;
        }
        hs.extend_from_slice(frag);
        if hs.len() >= 4 {
            let mut h = R(&hs);
            let t = h.u8()?;
            let len = h.u24()?;
            if t != kind {
                return None;
            }
            if h.0.len() >= len {
                return Some(h.0[..len].to_vec());
            }
        }
    }
    None
}

/// GREASE values (RFC 8701) are ignored by JA4.
fn grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

fn version_code(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0200 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// First 12 hex digits of SHA-256, or twelve zeros for nothing.
fn hash12(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".into();
    }
    let d = Sha256::digest(s.as_bytes());
    let mut out = String::with_capacity(12);
    for b in &d[..6] {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn hex_list(v: &[u16]) -> String {
    let mut s = String::new();
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{x:04x}");
    }
    s
}

/// Parse the ClientHello at the start of a client stream.
pub fn client_hello(stream: &[u8]) -> Option<ClientHello> {
    let body = handshake(stream, 1)?;
    let mut r = R(&body);
    let legacy = r.u16()?;
    r.take(32)?;
    r.vec8()?;
    let suites = r.vec16()?;
    r.vec8()?;
    let mut ciphers: Vec<u16> = suites
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .filter(|c| !grease(*c))
        .collect();
    let mut hello = ClientHello::default();
    let mut exts: Vec<u16> = Vec::new();
    let mut sig_algs: Vec<u16> = Vec::new();
    let mut version = legacy;
    if let Some(ext) = r.vec16() {
        let mut e = R(ext);
        while let (Some(t), Some(data)) = (e.u16(), e.vec16()) {
            if grease(t) {
                continue;
            }
            exts.push(t);
            let mut d = R(data);
            match t {
                0x0000 => {
                    // server_name list: type 0 = host_name.
                    if let Some(list) = d.vec16() {
                        let mut l = R(list);
                        while let (Some(kind), Some(name)) = (l.u8(), l.vec16()) {
                            if kind == 0 {
                                hello.sni = Some(String::from_utf8_lossy(name).into_owned());
                                break;
                            }
                        }
                    }
                }
                0x0010 => {
                    if let Some(list) = d.vec16() {
                        let mut l = R(list);
                        while let Some(p) = l.vec8() {
                            if hello.alpn.len() < 16 {
                                hello.alpn.push(String::from_utf8_lossy(p).into_owned());
                            }
                        }
                    }
                }
                0x000d => {
                    if let Some(list) = d.vec16() {
                        sig_algs = list
                            .chunks_exact(2)
                            .map(|c| u16::from_be_bytes([c[0], c[1]]))
                            .filter(|c| !grease(*c))
                            .collect();
                    }
                }
                0x002b => {
                    if let Some(list) = d.vec8() {
                        if let Some(v) = list
                            .chunks_exact(2)
                            .map(|c| u16::from_be_bytes([c[0], c[1]]))
                            .filter(|c| !grease(*c))
                            .max()
                        {
                            version = v;
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let alpn = match hello.alpn.first().map(|a| a.as_bytes()) {
        Some([a, .., b]) if a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric() => {
            format!("{}{}", *a as char, *b as char)
        }
        Some([a]) if a.is_ascii_alphanumeric() => format!("{0}{0}", *a as char),
        Some([a, .., b]) => format!("{:x}{:x}", a >> 4, b & 0xf),
        _ => "00".into(),
    };
    let a = format!(
        "t{}{}{:02}{:02}{}",
        version_code(version),
        if hello.sni.is_some() { 'd' } else { 'i' },
        ciphers.len().min(99),
        exts.len().min(99),
        alpn
    );
    ciphers.sort_unstable();
    let mut sorted: Vec<u16> = exts
        .iter()
        .copied()
        .filter(|&t| t != 0x0000 && t != 0x0010)
        .collect();
    sorted.sort_unstable();
    let mut c = hex_list(&sorted);
    if !sig_algs.is_empty() {
        c.push('_');
        c.push_str(&hex_list(&sig_algs));
    }
    let c = if sorted.is_empty() {
        hash12("")
    } else {
        hash12(&c)
    };
    hello.ja4 = format!("{a}_{}_{c}", hash12(&hex_list(&ciphers)));
    Some(hello)
}

/// Parse the ServerHello at the start of a server stream.
pub fn server_hello(stream: &[u8]) -> Option<ServerHello> {
    let body = handshake(stream, 2)?;
    let mut r = R(&body);
    let mut version = r.u16()?;
    r.take(32)?;
    r.vec8()?;
    let cipher = r.u16()?;
    r.u8()?;
    if let Some(ext) = r.vec16() {
        let mut e = R(ext);
        while let (Some(t), Some(data)) = (e.u16(), e.vec16()) {
            if t == 0x002b && data.len() == 2 {
                version = u16::from_be_bytes([data[0], data[1]]);
            }
        }
    }
    Some(ServerHello { version, cipher })
}

/// A TLS version as users read it.
pub fn version_name(v: u16) -> String {
    match v {
        0x0304 => "TLS 1.3".into(),
        0x0303 => "TLS 1.2".into(),
        0x0302 => "TLS 1.1".into(),
        0x0301 => "TLS 1.0".into(),
        0x0300 => "SSL 3.0".into(),
        v => format!("0x{v:04x}"),
    }
}
