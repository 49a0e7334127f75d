//! Transcript tests: HTTP conversations fed in every split, with gaps and damage.

use super::*;
use apitap_flow::{CloseReason, Delivery, Dir, FlowCtx, FlowKey, Handler};
use std::net::SocketAddr;

#[derive(Clone, Copy)]
enum Ev<'a> {
    /// Bytes from the client (Orig) or server (Resp); `ack` = client bytes the server acked.
    C(&'a [u8]),
    S(&'a [u8], u64),
    Gap(Dir, u64),
}

fn ctx(saw_syn: bool) -> FlowCtx {
    let c: SocketAddr = "10.0.0.1:40000".parse().expect("addr");
    let s: SocketAddr = "10.0.0.2:80".parse().expect("addr");
    FlowCtx {
        key: FlowKey::new(c.ip(), c.port(), s.ip(), s.port(), 0),
        orig: c,
        resp: s,
        saw_syn,
        first_ts: 0,
        last_ts: 0,
    }
}

/// Feed a transcript, splitting every data event at `split` (0 = no split).
fn run_split(evs: &[Ev<'_>], saw_syn: bool, split: usize) -> Sink {
    let ctx = ctx(saw_syn);
    let mut conn = Connection::new(HttpConfig::default(), &ctx);
    let mut out = Sink::default();
    let mut off = [0u64; 2];
    for (i, ev) in evs.iter().enumerate() {
        let ts = i as u64 + 1;
        let (dir, data, ack) = match *ev {
            Ev::C(d) => (Dir::Orig, d, None),
            Ev::S(d, a) => (Dir::Resp, d, Some(a)),
            Ev::Gap(dir, len) => {
                conn.on_delivery(
                    &ctx,
                    dir,
                    Delivery::Gap {
                        offset: off[dir.idx()],
                        len,
                    },
                    &mut out,
                );
                off[dir.idx()] += len;
                continue;
            }
        };
        let parts: Vec<&[u8]> = if split > 0 && split < data.len() {
            vec![&data[..split], &data[split..]]
        } else {
            vec![data]
        };
        for p in parts {
            conn.on_delivery(
                &ctx,
                dir,
                Delivery::Data {
                    offset: off[dir.idx()],
                    seq: off[dir.idx()] as u32,
                    ts,
                    ack: ack.map(|a| a as u32),
                    data: p,
                },
                &mut out,
            );
            off[dir.idx()] += p.len() as u64;
        }
    }
    conn.on_close(&ctx, CloseReason::End, &mut out);
    out
}

/// (method, uri, status, request body len, response body len, gap)
type Row = (Option<String>, Option<String>, Option<u16>, u64, u64, bool);

fn rows(s: &Sink) -> Vec<Row> {
    s.exchanges
        .iter()
        .map(|e| {
            (
                e.request.as_ref().map(|r| r.method.clone()),
                e.request
                    .as_ref()
                    .map(|r| String::from_utf8_lossy(&r.uri).into_owned()),
                e.response.as_ref().map(|r| r.status),
                e.request.as_ref().map_or(0, |r| r.body.len),
                e.response.as_ref().map_or(0, |r| r.body.len),
                e.gap(),
            )
        })
        .collect()
}

/// Run unsplit, then split at every byte offset of every event; all must agree.
fn run(evs: &[Ev<'_>], saw_syn: bool) -> Vec<Row> {
    let whole = rows(&run_split(evs, saw_syn, 0));
    let longest = evs
        .iter()
        .map(|e| match e {
            Ev::C(d) | Ev::S(d, _) => d.len(),
            _ => 0,
        })
        .max()
        .unwrap_or(0);
    for k in 1..longest {
        assert_eq!(
            rows(&run_split(evs, saw_syn, k)),
            whole,
            "split at {k} differs"
        );
    }
    whole
}

fn r(m: &str, u: &str, s: u16, qb: u64, rb: u64) -> Row {
    (Some(m.into()), Some(u.into()), Some(s), qb, rb, false)
}

const GET: &[u8] = b"GET /api/users/1 HTTP/1.1\r\nHost: api.example.com\r\n\r\n";
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{\"id\":1,\"a\":2}";

#[test]
fn simple_exchange() {
    let out = run(&[Ev::C(GET), Ev::S(OK, GET.len() as u64)], true);
    assert_eq!(out, vec![r("GET", "/api/users/1", 200, 0, 14)]);
}

#[test]
fn keep_alive_and_pipelining() {
    let reqs = [GET, GET, GET].concat();
    let resps = [OK, OK, OK].concat();
    let out = run(&[Ev::C(&reqs), Ev::S(&resps, reqs.len() as u64)], true);
    assert_eq!(out, vec![r("GET", "/api/users/1", 200, 0, 14); 3]);
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: y\r\n\r\n";
    let out = run(
        &[Ev::C(GET), Ev::S(resp, 100), Ev::C(GET), Ev::S(OK, 200)],
        true,
    );
    assert_eq!(
        out,
        vec![
            r("GET", "/api/users/1", 200, 0, 11),
            r("GET", "/api/users/1", 200, 0, 14)
        ]
    );
    let s = run_split(&[Ev::C(GET), Ev::S(resp, 100)], true, 0);
    assert_eq!(
        s.exchanges[0]
            .response
            .as_ref()
            .map(|r| r.body.data.clone()),
        Some(b"hello world".to_vec())
    );
}

#[test]
fn head_204_304_have_no_body() {
    let head = b"HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n";
    let head_resp = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
    let r204 = b"HTTP/1.1 204 No Content\r\n\r\n";
    let r304 = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n";
    let reqs = [&head[..], GET, GET, GET].concat();
    let resps = [&head_resp[..], r204, r304, OK].concat();
    let out = run(&[Ev::C(&reqs), Ev::S(&resps, 1000)], true);
    assert_eq!(
        out,
        vec![
            r("HEAD", "/x", 200, 0, 0),
            r("GET", "/api/users/1", 204, 0, 0),
            r("GET", "/api/users/1", 304, 0, 0),
            r("GET", "/api/users/1", 200, 0, 14)
        ]
    );
}

#[test]
fn expect_100_continue() {
    let post =
        b"POST /upload HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
    let cont = b"HTTP/1.1 100 Continue\r\n\r\n";
    let fin = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
    let out = run(
        &[Ev::C(post), Ev::S(cont, 70), Ev::C(b"data"), Ev::S(fin, 90)],
        true,
    );
    assert_eq!(out, vec![r("POST", "/upload", 201, 4, 2)]);
}

#[test]
fn close_delimited_response() {
    let resp = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end";
    let out = run(
        &[Ev::C(b"GET /old HTTP/1.0\r\n\r\n"), Ev::S(resp, 20)],
        true,
    );
    assert_eq!(out, vec![r("GET", "/old", 200, 0, 13)]);
}

#[test]
fn gap_inside_known_length_body_stays_in_sync() {
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
    let out = run(
        &[
            Ev::C(GET),
            Ev::S(head, 52),
            Ev::S(&[b'x'; 40], 52),
            Ev::Gap(Dir::Resp, 50),
            Ev::S(&[b'x'; 10], 52),
            Ev::C(GET),
            Ev::S(OK, 104),
        ],
        true,
    );
    assert_eq!(
        out[0],
        (
            Some("GET".into()),
            Some("/api/users/1".into()),
            Some(200),
            0,
            100,
            true
        )
    );
    assert_eq!(out[1], r("GET", "/api/users/1", 200, 0, 14));
    assert_eq!(out.len(), 2);
}

#[test]
fn gap_in_head_resyncs_at_next_request() {
    let out = run(
        &[
            Ev::C(b"GET /lost/par"),
            Ev::Gap(Dir::Orig, 30),
            Ev::C(b"tial junk\r\n\r\n"),
            Ev::C(GET),
            Ev::S(OK, 200),
        ],
        true,
    );
    assert_eq!(out, vec![r("GET", "/api/users/1", 200, 0, 14)]);
}

#[test]
fn lost_response_does_not_shift_pairs() {
    // Three requests, the second response lost; ACKs tell which request each answers.
    let g = GET.len() as u64;
    let out = run(
        &[
            Ev::C(GET),
            Ev::S(OK, g),
            Ev::C(GET),
            Ev::Gap(Dir::Resp, OK.len() as u64),
            Ev::C(b"GET /third HTTP/1.1\r\n\r\n"),
            Ev::S(OK, 2 * g + 23),
        ],
        true,
    );
    assert_eq!(out.len(), 3);
    assert_eq!(out[0], r("GET", "/api/users/1", 200, 0, 14));
    assert_eq!((out[1].0.as_deref(), out[1].2), (Some("GET"), None));
    assert_eq!(out[2], r("GET", "/third", 200, 0, 14));
}

#[test]
fn lost_request_leaves_an_orphan_response() {
    let g = GET.len() as u64;
    let out = run(
        &[
            Ev::C(GET),
            Ev::S(OK, g),
            Ev::Gap(Dir::Orig, g),
            Ev::S(OK, 2 * g),
            Ev::C(GET),
            Ev::S(OK, 3 * g),
        ],
        true,
    );
    assert_eq!(out.len(), 3);
    assert_eq!(out[0], r("GET", "/api/users/1", 200, 0, 14));
    assert_eq!((out[1].0.clone(), out[1].2), (None, Some(200)));
    assert_eq!(out[2], r("GET", "/api/users/1", 200, 0, 14));
}

#[test]
fn midstream_pickup_resyncs() {
    let tail = b"rest of a previous body\r\nmore\r\n";
    let resp = [&tail[..], OK].concat();
    let out = run(&[Ev::S(&resp, 0), Ev::C(GET), Ev::S(OK, 500)], false);
    assert_eq!(out.len(), 2);
    assert_eq!((out[0].0.clone(), out[0].2), (None, Some(200)));
    assert_eq!(out[1], r("GET", "/api/users/1", 200, 0, 14));
}

#[test]
fn non_http_stream_is_counted_unparsed() {
    let tls = [
        0x16u8, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    let s = run_split(&[Ev::C(&tls), Ev::S(&tls, 11)], true, 0);
    assert!(s.exchanges.is_empty());
    assert_eq!(s.stats.unparsed_streams, 1);
    assert_eq!(s.stats.http_streams, 0);
}

#[test]
fn websocket_upgrade_stops_parsing() {
    let up = b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    let sw = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
    let out = run(
        &[
            Ev::C(up),
            Ev::S(sw, 80),
            Ev::C(b"\x81\x05hello GET / HTTP/1.1\r\n\r\n"),
            Ev::S(b"\x81\x02hi", 120),
        ],
        true,
    );
    assert_eq!(out, vec![r("GET", "/ws", 101, 0, 0)]);
}

#[test]
fn http09_request_and_lenient_heads() {
    let out = run(
        &[
            Ev::C(b"GET /index.html\r\n"),
            Ev::S(
                b"HTTP/1.0 200 OK\nContent-Length: 2\nX-Folded: a\n  b\n\nhi",
                20,
            ),
        ],
        true,
    );
    assert_eq!(out, vec![r("GET", "/index.html", 200, 0, 2)]);
}

#[test]
fn request_line_without_target() {
    let s = run_split(
        &[Ev::C(b"GET HTTP/1.1\r\nHost: a\r\n\r\n"), Ev::S(OK, 30)],
        true,
        0,
    );
    let req = s.exchanges[0].request.as_ref().expect("request");
    assert_eq!(
        (req.method.as_str(), req.uri.as_slice(), req.version),
        ("GET", &b""[..], 11)
    );
    assert_eq!(
        s.exchanges[0].response.as_ref().map(|r| r.status),
        Some(200)
    );
}

#[test]
fn chunk_size_overflow_is_an_anomaly() {
    let resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nxx\r\n";
    let s = run_split(&[Ev::C(GET), Ev::S(resp, 60)], true, 0);
    assert_eq!(s.stats.bad_chunks, 1);
    assert_eq!(s.exchanges.len(), 1);
}

#[test]
fn body_sample_is_capped_and_counted() {
    let big = vec![b'a'; 200_000];
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", big.len());
    let resp = [head.as_bytes(), &big].concat();
    let s = run_split(&[Ev::C(GET), Ev::S(&resp, 60)], true, 0);
    let body = &s.exchanges[0].response.as_ref().expect("response").body;
    assert_eq!(body.len, 200_000);
    assert_eq!(body.data.len(), HttpConfig::default().body_sample);
    assert!(body.truncated);
    assert_eq!(
        s.stats.body_bytes_not_kept,
        200_000 - HttpConfig::default().body_sample as u64
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
    #[test]
    fn arbitrary_bytes_never_panic(c in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
                                   s in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
                                   k in 0usize..600, syn in proptest::bool::ANY) {
        let mut cb = GET.to_vec();
        cb.extend_from_slice(&c);
        let mut sb = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        sb.extend_from_slice(&s);
        let _ = run_split(&[Ev::C(&cb), Ev::S(&sb, 10), Ev::Gap(Dir::Resp, 7), Ev::C(&c), Ev::S(&s, 99)], syn, k);
    }
}
