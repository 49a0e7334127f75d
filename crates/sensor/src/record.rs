//! The exchange record: one JSON object per request/response pair (docs/exchanges.md).
//! Written by hand so the raw request target survives byte for byte: bytes that are not
//! UTF-8 become lone surrogates U+DC80..U+DCFF (Python's "surrogateescape").

use apitap_http::Exchange;
use apitap_inventory::{request_auth, split_target, Observed};
use apitap_pii::{Hit, Location};
use std::fmt::Write;
use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

/// Renders exchange records. Keeps the formatted date and time of the last second seen:
/// consecutive records mostly share it.
#[derive(Debug, Default)]
pub struct Renderer {
    second: Option<u64>,
    /// `YYYY-MM-DDTHH:MM:SS` of `second`.
    date: String,
}

fn push_int(out: &mut String, n: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(n));
}

fn push_addr(out: &mut String, a: SocketAddr) {
    match a {
        SocketAddr::V4(v4) => {
            for (i, o) in v4.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_int(out, o);
            }
            out.push(':');
            push_int(out, v4.port());
        }
        SocketAddr::V6(_) => {
            let _ = write!(out, "{a}");
        }
    }
}

/// Append `ns` nanoseconds as milliseconds with three decimals, as `{:.3}` prints
/// `ns as f64 / 1e6`, without the float formatting: rounded to the nearest microsecond,
/// the float's own reading only for an exact half or above 2^40 ns (18 minutes), where the
/// float's error could reach a microsecond's rounding.
fn push_millis(out: &mut String, ns: u64) {
    if ns % 1000 == 500 || ns >= 1 << 40 {
        let _ = write!(out, "{:.3}", ns as f64 / 1e6);
        return;
    }
    let us = (ns + 500) / 1000;
    push_int(out, us / 1000);
    out.push('.');
    push_padded(out, us % 1000, 3);
}

/// Append `n` with leading zeros to `width` digits.
fn push_padded(out: &mut String, n: u64, width: usize) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(n);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(digits);
}

/// Append `s` as a JSON string.
fn json_bytes(out: &mut String, s: &[u8]) {
    out.push('"');
    let mut rest = s;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                json_str_body(out, valid);
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                json_str_body(out, std::str::from_utf8(good).unwrap_or(""));
                let n = e.error_len().unwrap_or(bad.len()).max(1);
                for b in &bad[..n] {
                    let _ = write!(out, "\\u{:04x}", 0xdc00 + *b as u32);
                }
                rest = &bad[n..];
            }
        }
    }
    out.push('"');
}

fn json_str_body(out: &mut String, s: &str) {
    // Copy runs that need no escaping in one go; escape the rest byte by byte (every byte
    // that needs escaping is ASCII, so the split points are character boundaries).
    let b = s.as_bytes();
    // Most values (paths, hosts, media types) need no escaping at all.
    if !b
        .iter()
        .any(|&c| c < 0x20 || c == b'"' || c == b'\\' || c == 0x7f)
    {
        out.push_str(s);
        return;
    }
    let mut run = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc = match c {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            c if c < 0x20 || c == 0x7f => "",
            _ => continue,
        };
        out.push_str(&s[run..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{:04x}", c);
        } else {
            out.push_str(esc);
        }
        run = i + 1;
    }
    out.push_str(&s[run..]);
}

fn json_opt_str(out: &mut String, s: Option<&[u8]>) {
    match s {
        Some(s) => json_bytes(out, s),
        None => out.push_str("null"),
    }
}

fn media_type(v: Option<&[u8]>) -> Option<&[u8]> {
    v.and_then(|v| v.split(|c| *c == b';').next())
        .map(|m| m.trim_ascii())
        .filter(|m| !m.is_empty())
}

/// The request target with every sensitive path segment or query value the scan found
/// replaced by its redacted sample; `None` when there is nothing to hide.
fn redacted_target(uri: &[u8], hits: &[Hit]) -> Option<Vec<u8>> {
    let hits: Vec<&Hit> = hits
        .iter()
        .filter(|h| matches!(h.location, Location::RequestPath | Location::RequestQuery))
        .collect();
    if hits.is_empty() {
        return None;
    }
    let (head, frag) = match uri.iter().position(|c| *c == b'#') {
        Some(i) => uri.split_at(i),
        None => (uri, &b""[..]),
    };
    let (path, query) = match head.iter().position(|c| *c == b'?') {
        Some(i) => (&head[..i], Some(&head[i + 1..])),
        None => (head, None),
    };
    let mut out = Vec::with_capacity(uri.len());
    // Path segments are numbered as the scanner numbers them: non-empty ones, in order,
    // after any scheme and authority.
    let mut n = 0;
    for (i, seg) in path.split(|c| *c == b'/').enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        let absolute_prefix =
            i < 3 && path.windows(3).any(|w| w == b"://") && !path.starts_with(b"/");
        if seg.is_empty() || absolute_prefix {
            out.extend_from_slice(seg);
            continue;
        }
        let field = format!("path[{n}]");
        n += 1;
        match hits
            .iter()
            .find(|h| h.location == Location::RequestPath && h.field == field)
        {
            Some(h) => out.extend_from_slice(h.sample.as_bytes()),
            None => out.extend_from_slice(seg),
        }
    }
    if let Some(q) = query {
        out.push(b'?');
        for (i, kv) in q.split(|c| *c == b'&').enumerate() {
            if i > 0 {
                out.push(b'&');
            }
            let name = kv.split(|c| *c == b'=').next().unwrap_or(kv);
            let hit = hits
                .iter()
                .find(|h| h.location == Location::RequestQuery && h.field.as_bytes() == name);
            match hit {
                Some(h) if kv.len() > name.len() => {
                    out.extend_from_slice(name);
                    out.push(b'=');
                    out.extend_from_slice(h.sample.as_bytes());
                }
                _ => out.extend_from_slice(kv),
            }
        }
    }
    out.extend_from_slice(frag);
    Some(out)
}

impl Renderer {
    /// Append the JSON line of `x` (with its newline) to `out`. Sensitive values the scan found
    /// in the request target are replaced by their redacted samples.
    pub fn record(
        &mut self,
        out: &mut String,
        x: &Exchange,
        seen: Option<&Observed>,
        hits: &[Hit],
    ) {
        let req = x.request.as_ref();
        let resp = x.response.as_ref();
        let ts = req.map(|r| r.ts).or(resp.map(|r| r.ts)).unwrap_or(0);
        out.push_str("{\"ts\":\"");
        self.timestamp(out, ts);
        out.push_str("\",\"client\":\"");
        push_addr(out, x.client);
        out.push_str("\",\"server\":\"");
        push_addr(out, x.server);
        out.push_str("\",\"tunnel\":");
        if x.tunnel == 0 {
            out.push_str("null");
        } else {
            push_int(out, x.tunnel);
        }
        out.push_str(",\"method\":");
        json_opt_str(out, req.map(|r| r.method.as_bytes()));
        out.push_str(",\"host\":");
        json_opt_str(out, seen.map(|s| s.host.as_bytes()));
        out.push_str(",\"uri\":");
        let redacted = req.and_then(|r| redacted_target(&r.uri, hits));
        json_opt_str(out, redacted.as_deref().or(req.map(|r| r.uri.as_slice())));
        out.push_str(",\"http_version\":");
        match req.map(|r| r.version).or(resp.map(|r| r.version)) {
            Some(v) => {
                let _ = write!(out, "\"{}.{}\"", v / 10, v % 10);
            }
            None => out.push_str("null"),
        }
        out.push_str(",\"status\":");
        match resp {
            Some(r) => push_int(out, r.status),
            None => out.push_str("null"),
        }
        out.push_str(",\"request_body_bytes\":");
        push_int(out, req.map_or(0, |r| r.body.len));
        out.push_str(",\"response_body_bytes\":");
        push_int(out, resp.map_or(0, |r| r.body.len));
        out.push_str(",\"request_content_type\":");
        json_opt_str(
            out,
            media_type(req.and_then(|r| r.headers.get("content-type"))),
        );
        out.push_str(",\"response_content_type\":");
        json_opt_str(
            out,
            media_type(resp.and_then(|r| r.headers.get("content-type"))),
        );
        out.push_str(",\"auth\":");
        match req {
            Some(r) => {
                // The inventory classified it already, unless the endpoint table was full.
                let computed;
                let kinds = match seen {
                    Some(s) => &s.auth[..],
                    None => {
                        computed = request_auth(r, split_target(&r.uri).1);
                        &computed[..]
                    }
                };
                out.push('[');
                for (i, k) in kinds.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('"');
                    out.push_str(k.name());
                    out.push('"');
                }
                out.push(']');
            }
            None => out.push_str("null"),
        }
        out.push_str(",\"latency_ms\":");
        match (req, resp) {
            (Some(q), Some(r)) if r.ts_end >= q.ts => push_millis(out, r.ts_end - q.ts),
            _ => out.push_str("null"),
        }
        out.push_str(",\"endpoint\":");
        json_opt_str(out, seen.map(|s| s.path.as_bytes()));
        out.push_str(if x.gap() {
            ",\"gap\":true}\n"
        } else {
            ",\"gap\":false}\n"
        });
    }

    /// Append an RFC 3339 timestamp with microseconds (`2024-01-02T03:04:05.123456Z`),
    /// the same text as `apitap_inventory::format_ts`.
    fn timestamp(&mut self, out: &mut String, ns: u64) {
        let sec = ns / 1_000_000_000;
        if self.second != Some(sec) {
            let t = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(sec));
            self.date = t.to_string();
            self.date.pop(); // the 'Z'
            self.second = Some(sec);
        }
        out.push_str(&self.date);
        out.push('.');
        push_padded(out, (ns % 1_000_000_000) / 1000, 6);
        out.push('Z');
    }
}

#[cfg(test)]
mod tests {
    use super::{json_bytes, redacted_target};
    use apitap_http::{Body, Exchange, Headers, Request};

    #[test]
    fn sensitive_parts_of_the_target_are_redacted() {
        let uri = b"/v1/users/jane.doe@acme-corp.com/orders?api_key=AIzaSyD3x7Qp9LmN2vB8kR4tY6wE1uI0oP5aSdF&page=2#top";
        let x = Exchange {
            client: "10.0.0.1:1".parse().expect("addr"),
            server: "10.0.0.2:80".parse().expect("addr"),
            tunnel: 0,
            request: Some(Request {
                ts: 0,
                method: "GET".into(),
                uri: uri.to_vec(),
                version: 11,
                headers: Headers::default(),
                body: Body::default(),
                gap: false,
            }),
            response: None,
        };
        let scan = apitap_pii::Scanner::new().scan(&x);
        let red = redacted_target(uri, &scan.hits).expect("something to hide");
        assert_eq!(
            String::from_utf8_lossy(&red),
            "/v1/users/j***@a***.com/orders?api_key=AIza************&page=2#top"
        );
        assert_eq!(redacted_target(b"/v1/users/42?page=2", &[]), None);
    }

    #[test]
    fn fast_formatting_matches_the_standard_one() {
        let mut r = super::Renderer::default();
        for ns in [
            0u64,
            999,
            1_000,
            1_700_000_000_000_000_000,
            1_700_000_000_000_001_000,
            1_700_000_000_999_999_999,
            1_700_000_001_000_000_000,
            1_700_000_000_123_456_789,
        ] {
            let mut s = String::new();
            r.timestamp(&mut s, ns);
            assert_eq!(s, apitap_inventory::format_ts(ns), "{ns}");
        }
        for a in [
            "10.0.0.1:80",
            "255.255.255.255:65535",
            "0.0.0.0:0",
            "[2001:db8::1]:443",
        ] {
            let a: std::net::SocketAddr = a.parse().expect("addr");
            let mut s = String::new();
            super::push_addr(&mut s, a);
            assert_eq!(s, a.to_string());
        }
        // Latencies: around every rounding edge, exact halves, and up to and past 2^40 ns.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut cases: Vec<u64> = (0..3000).collect();
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let base = (x % (1 << 42)) / 1000 * 1000;
            cases.extend([base + 499, base + 500, base + 501, base + (x % 1000)]);
        }
        cases.extend([(1 << 40) - 1, 1 << 40, u64::MAX / 2]);
        for ns in cases {
            let mut s = String::new();
            super::push_millis(&mut s, ns);
            assert_eq!(s, format!("{:.3}", ns as f64 / 1e6), "{ns}");
        }
    }

    #[test]
    fn raw_bytes_survive_as_surrogates() {
        let mut s = String::new();
        json_bytes(&mut s, b"/a\"b\\\n\xff\xc3\xa9");
        assert_eq!(s, "\"/a\\\"b\\\\\\n\\udcff\u{e9}\"");
    }
}
