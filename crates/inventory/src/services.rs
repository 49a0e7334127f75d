//! What we cannot read: TLS services (from their hellos) and streams in other protocols.

use apitap_http::{version_name, TlsSeen, UnparsedStream};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most distinct values (SNI names, fingerprints, ...) kept per service and field.
const MAX_VALUES: usize = 64;

/// A server that speaks TLS, as its handshakes describe it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedService {
    /// `ip:port` of the server (the proxy, for TLS inside CONNECT).
    pub server: String,
    pub connections: u64,
    /// Connections that were inside an HTTP CONNECT tunnel.
    pub via_connect: u64,
    /// Server names asked for (SNI), with counts.
    pub sni: BTreeMap<String, u64>,
    /// ALPN protocols offered by clients.
    pub alpn: BTreeMap<String, u64>,
    /// JA4 fingerprints of the clients.
    pub client_ja4: BTreeMap<String, u64>,
    /// Versions the server chose.
    pub versions: BTreeMap<String, u64>,
    /// Cipher suites the server chose.
    pub ciphers: BTreeMap<String, u64>,
    /// Connections whose ClientHello could not be read (cut, or not a hello).
    pub unreadable_hellos: u64,
}

/// IANA names of the cipher suites one meets on APIs; others print as hex.
fn cipher_name(c: u16) -> String {
    let n = match c {
        0x1301 => "TLS_AES_128_GCM_SHA256",
        0x1302 => "TLS_AES_256_GCM_SHA384",
        0x1303 => "TLS_CHACHA20_POLY1305_SHA256",
        0xc02b => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        0xc02c => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        0xc02f => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        0xc030 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        0xcca8 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0xcca9 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        0xc013 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        0xc014 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        0x009c => "TLS_RSA_WITH_AES_128_GCM_SHA256",
        0x009d => "TLS_RSA_WITH_AES_256_GCM_SHA384",
        0x002f => "TLS_RSA_WITH_AES_128_CBC_SHA",
        0x0035 => "TLS_RSA_WITH_AES_256_CBC_SHA",
        0x000a => "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        0x0005 => "TLS_RSA_WITH_RC4_128_SHA",
        _ => return format!("0x{c:04x}"),
    };
    n.to_string()
}

fn bump(m: &mut BTreeMap<String, u64>, k: String, n: u64, capped: &mut u64) {
    if let Some(v) = m.get_mut(&k) {
        *v += n;
    } else if m.len() < MAX_VALUES {
        m.insert(k, n);
    } else {
        *capped += 1;
    }
}

impl EncryptedService {
    pub(crate) fn observe(&mut self, t: &TlsSeen, capped: &mut u64) {
        self.connections += 1;
        self.via_connect += u64::from(t.via_connect);
        match &t.hello {
            Some(h) => {
                if let Some(s) = &h.sni {
                    bump(&mut self.sni, s.to_ascii_lowercase(), 1, capped);
                }
                for a in &h.alpn {
                    bump(&mut self.alpn, a.clone(), 1, capped);
                }
                bump(&mut self.client_ja4, h.ja4.clone(), 1, capped);
            }
            None => self.unreadable_hellos += 1,
        }
        if let Some(sh) = t.server_hello {
            bump(&mut self.versions, version_name(sh.version), 1, capped);
            bump(&mut self.ciphers, cipher_name(sh.cipher), 1, capped);
        }
    }

    pub(crate) fn merge(&mut self, o: &EncryptedService, capped: &mut u64) {
        self.connections += o.connections;
        self.via_connect += o.via_connect;
        self.unreadable_hellos += o.unreadable_hellos;
        for (mine, theirs) in [
            (&mut self.sni, &o.sni),
            (&mut self.alpn, &o.alpn),
            (&mut self.client_ja4, &o.client_ja4),
            (&mut self.versions, &o.versions),
            (&mut self.ciphers, &o.ciphers),
        ] {
            for (k, v) in theirs {
                bump(mine, k.clone(), *v, capped);
            }
        }
    }
}

/// Streams on one server port that were not HTTP, by protocol guess.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unparsed {
    pub port: u16,
    pub protocol: String,
    pub streams: u64,
    pub bytes: u64,
}

pub(crate) fn unparsed_key(u: &UnparsedStream) -> (u16, String) {
    (u.server.port(), u.guess.name().to_string())
}
