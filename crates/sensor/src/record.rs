//! The exchange record: one JSON object per request/response pair (docs/exchanges.md).
//! Written by hand so the raw request target survives byte for byte: bytes that are not
//! UTF-8 become lone surrogates U+DC80..U+DCFF (Python's "surrogateescape").

use apitap_http::Exchange;
use apitap_inventory::{classify_auth, format_ts, split_target, Observed};
use apitap_pii::{Hit, Location};
use std::fmt::Write;

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

/// Append the JSON line of `x` (with its newline) to `out`. Sensitive values the scan found
/// in the request target are replaced by their redacted samples.
pub fn write_record(out: &mut String, x: &Exchange, seen: Option<&Observed>, hits: &[Hit]) {
    let req = x.request.as_ref();
    let resp = x.response.as_ref();
    let ts = req.map(|r| r.ts).or(resp.map(|r| r.ts)).unwrap_or(0);
    out.push_str("{\"ts\":\"");
    out.push_str(&format_ts(ts));
    let _ = write!(
        out,
        "\",\"client\":\"{}\",\"server\":\"{}\",\"tunnel\":",
        x.client, x.server
    );
    if x.tunnel == 0 {
        out.push_str("null");
    } else {
        let _ = write!(out, "{}", x.tunnel);
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
        Some(r) => {
            let _ = write!(out, "{}", r.status);
        }
        None => out.push_str("null"),
    }
    let _ = write!(
        out,
        ",\"request_body_bytes\":{},\"response_body_bytes\":{}",
        req.map_or(0, |r| r.body.len),
        resp.map_or(0, |r| r.body.len)
    );
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
                    computed = classify_auth(&r.headers, split_target(&r.uri).1);
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
        (Some(q), Some(r)) if r.ts_end >= q.ts => {
            let _ = write!(out, "{:.3}", (r.ts_end - q.ts) as f64 / 1e6);
        }
        _ => out.push_str("null"),
    }
    out.push_str(",\"endpoint\":");
    json_opt_str(out, seen.map(|s| s.path.as_bytes()));
    let _ = writeln!(out, ",\"gap\":{}}}", x.gap());
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
    fn raw_bytes_survive_as_surrogates() {
        let mut s = String::new();
        json_bytes(&mut s, b"/a\"b\\\n\xff\xc3\xa9");
        assert_eq!(s, "\"/a\\\"b\\\\\\n\\udcff\u{e9}\"");
    }
}
