//! Shared by the inventory's tests and benches: exchanges built from their parts.

use apitap_http::{Body, Exchange, Headers, Request, Response};

/// A `method` request for `path` on `host` from client `10.0.0.{client}`, answered `200 OK`
/// with `body` as JSON.
pub fn exchange(host: &str, method: &str, path: &str, body: &str, client: u8) -> Exchange {
    let h = |v: &[(&str, &str)]| Headers::from_pairs(v.iter().map(|(k, v)| (*k, v.as_bytes())));
    Exchange {
        client: format!("10.0.0.{client}:40000").parse().expect("addr"),
        server: "10.0.1.1:80".parse().expect("addr"),
        tunnel: 0,
        request: Some(Request {
            ts: 1,
            method: method.into(),
            uri: path.as_bytes().to_vec(),
            version: 11,
            headers: h(&[("Host", host)]),
            body: Body::default(),
            gap: false,
        }),
        response: Some(Response {
            ts: 2,
            ts_end: 3,
            status: 200,
            reason: "OK".into(),
            version: 11,
            headers: h(&[("Content-Type", "application/json")]),
            body: Body {
                len: body.len() as u64,
                data: body.as_bytes().to_vec(),
                ..Body::default()
            },
            gap: false,
        }),
    }
}
