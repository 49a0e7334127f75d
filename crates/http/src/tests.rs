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
        reset: false,
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
fn a_server_that_speaks_first_is_paired_with_the_opening_request_and_counted() {
    // CVE-2018-6794: right after the handshake the server sends its response, acknowledging
    // no client byte; the client then sends its request and reads that response.
    let evs = [Ev::S(OK, 0), Ev::C(GET)];
    assert_eq!(run(&evs, true), vec![r("GET", "/api/users/1", 200, 0, 14)]);
    assert_eq!(run_split(&evs, true, 0).stats.early_responses, 1);
    // The same response after the request (injected, acknowledging none of it; curl took
    // it in Zeek's tcp-synack-curl-jsonip trace) answers it too.
    let after_req = [Ev::C(GET), Ev::S(OK, 0)];
    assert_eq!(
        run(&after_req, true),
        vec![r("GET", "/api/users/1", 200, 0, 14)]
    );
    assert_eq!(run_split(&after_req, true, 0).stats.early_responses, 1);
    // Without the handshake, offset 0 is not the client's first byte: no pairing.
    let out = run(&evs, false);
    assert_eq!(out.len(), 2, "{out:?}");
    // Nor when the client's first request was lost: the response acknowledged its bytes,
    // which is exactly where the next request starts.
    let lost = GET.len() as u64;
    let evs = [Ev::S(OK, lost), Ev::Gap(Dir::Orig, lost), Ev::C(GET)];
    let out = run(&evs, true);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(
        out.iter().all(|r| r.0.is_none() || r.2.is_none()),
        "{out:?}"
    );
    assert_eq!(run_split(&evs, true, 0).stats.early_responses, 0);
}

#[test]
fn heads_cut_by_a_snaplen_are_reported_from_their_whole_lines() {
    // Every segment cut by the capture after its first lines: the request line and Host,
    // the status line; the rest of each message is a gap.
    let (req_seen, resp_seen) = (&GET[..50], &OK[..30]);
    let evs = [
        Ev::C(req_seen),
        Ev::Gap(Dir::Orig, (GET.len() - 50) as u64),
        Ev::S(resp_seen, GET.len() as u64),
        Ev::Gap(Dir::Resp, (OK.len() - 30) as u64),
        Ev::C(GET),
        Ev::S(OK, 2 * GET.len() as u64),
    ];
    let out = run(&evs, true);
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(
        (out[0].0.as_deref(), out[0].1.as_deref(), out[0].2, out[0].5),
        (Some("GET"), Some("/api/users/1"), Some(200), true)
    );
    assert_eq!(out[1], r("GET", "/api/users/1", 200, 0, 14));
    let s = run_split(&evs, true, 0);
    assert_eq!(s.stats.cut_heads, 2);
    assert_eq!(
        s.exchanges[0]
            .request
            .as_ref()
            .and_then(|q| q.headers.get("host")),
        Some(&b"api.example.com"[..])
    );
    // Cut inside the first line: no target is guessed; the next exchange is found.
    let evs = [
        Ev::C(&GET[..12]),
        Ev::Gap(Dir::Orig, (GET.len() - 12) as u64),
        Ev::C(GET),
        Ev::S(OK, 2 * GET.len() as u64),
    ];
    let out = run(&evs, true);
    assert!(
        out.iter().all(|r| r.1.as_deref() != Some("/api/us")),
        "{out:?}"
    );
    assert_eq!(
        out.last(),
        Some(&r("GET", "/api/users/1", 200, 0, 14)),
        "{out:?}"
    );
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

mod coding {
    //! Content-Encoding transcripts: every coding, stacked codings, damage and bombs.
    use super::*;
    use std::io::Write;

    const JSON: &[u8] = br#"{"users":[{"id":1,"email":"a@example.com","tags":["x","y"]},{"id":2,"email":"b@example.com","tags":[]}],"next":null}"#;

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).expect("gzip");
        e.finish().expect("gzip")
    }
    fn zlib(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).expect("zlib");
        e.finish().expect("zlib")
    }
    fn raw(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(b).expect("deflate");
        e.finish().expect("deflate")
    }
    fn br(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 9, 22);
            w.write_all(b).expect("br");
        }
        out
    }

    /// A response with `coding` and the given encoded body, chunked in 7-byte chunks when
    /// `chunked` (so chunk boundaries fall inside compressed blocks).
    fn response(coding: &str, body: &[u8], chunked: bool) -> Vec<u8> {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: {coding}\r\n"
        )
        .into_bytes();
        if chunked {
            r.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            for c in body.chunks(7) {
                r.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                r.extend_from_slice(c);
                r.extend_from_slice(b"\r\n");
            }
            r.extend_from_slice(b"0\r\n\r\n");
        } else {
            r.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            r.extend_from_slice(body);
        }
        r
    }

    fn body_of(s: &Sink) -> (Vec<u8>, Coding, u64) {
        let b = &s.exchanges[0].response.as_ref().expect("response").body;
        (b.data.clone(), b.coding, b.decoded_len)
    }

    /// Decode `encoded` as `coding`, split at every offset, chunked and not; all agree.
    fn decodes(coding: &str, encoded: &[u8], expect: &[u8]) {
        for chunked in [false, true] {
            let resp = response(coding, encoded, chunked);
            let evs = [
                Ev::C(GET),
                Ev::S(&resp, GET.len() as u64),
                Ev::C(GET),
                Ev::S(OK, 200),
            ];
            let whole = run_split(&evs, true, 0);
            assert_eq!(
                body_of(&whole),
                (expect.to_vec(), Coding::Decoded, expect.len() as u64),
                "{coding} chunked={chunked}"
            );
            assert_eq!(whole.stats.decoded_bodies, 1);
            assert_eq!(whole.exchanges.len(), 2, "the next exchange still parses");
            for k in 1..resp.len() {
                assert_eq!(
                    body_of(&run_split(&evs, true, k)),
                    body_of(&whole),
                    "{coding} chunked={chunked} split {k}"
                );
            }
        }
    }

    #[test]
    fn gzip_deflate_brotli_decode_in_any_split() {
        decodes("gzip", &gzip(JSON), JSON);
        decodes("x-gzip", &gzip(JSON), JSON);
        decodes("deflate", &zlib(JSON), JSON);
        decodes("deflate", &raw(JSON), JSON);
        decodes("br", &br(JSON), JSON);
        decodes("identity, gzip", &gzip(JSON), JSON);
    }

    #[test]
    fn stacked_codings_are_undone_in_reverse_order() {
        // Applied gzip first, then br: the header lists them in that order.
        decodes("gzip, br", &br(&gzip(JSON)), JSON);
        decodes("deflate,gzip", &gzip(&zlib(JSON)), JSON);
    }

    #[test]
    fn bomb_stops_at_the_output_limit() {
        let zeros = vec![0u8; 64 << 20];
        let bomb = gzip(&zeros);
        assert!(bomb.len() < 200_000, "a real bomb: {} bytes", bomb.len());
        let resp = response("gzip", &bomb, false);
        let s = run_split(&[Ev::C(GET), Ev::S(&resp, GET.len() as u64)], true, 0);
        let b = &s.exchanges[0].response.as_ref().expect("response").body;
        assert_eq!(b.coding, Coding::Partial);
        assert_eq!(b.data.len(), HttpConfig::default().body_sample);
        assert!(
            b.decoded_len <= HttpConfig::default().max_decoded + (4 << 20),
            "{}",
            b.decoded_len
        );
        assert_eq!(b.len, bomb.len() as u64, "the wire length is still counted");
        assert_eq!(s.stats.decode_limit + s.stats.decode_bombs, 1);
    }

    #[test]
    fn corrupt_stream_keeps_the_decoded_prefix() {
        let mut g = gzip(&JSON.repeat(50));
        let n = g.len();
        for b in &mut g[n / 2..n - 8] {
            *b ^= 0x5a;
        }
        let resp = response("gzip", &g, false);
        let s = run_split(
            &[
                Ev::C(GET),
                Ev::S(&resp, GET.len() as u64),
                Ev::C(GET),
                Ev::S(OK, 200),
            ],
            true,
            0,
        );
        let (data, coding, _) = body_of(&s);
        assert_eq!(coding, Coding::Partial);
        assert!(JSON.repeat(50).starts_with(&data));
        assert_eq!(s.stats.decode_errors, 1);
        assert_eq!(s.exchanges.len(), 2, "framing is unaffected");
    }

    #[test]
    fn gap_in_a_compressed_body_is_partial_not_an_error() {
        let g = gzip(&JSON.repeat(40));
        let resp = response("gzip", &g, false);
        let head_len = resp.len() - g.len();
        let (a, rest) = resp.split_at(head_len + 20);
        let c = &rest[30..];
        let s = run_split(
            &[
                Ev::C(GET),
                Ev::S(a, GET.len() as u64),
                Ev::Gap(Dir::Resp, 30),
                Ev::S(c, GET.len() as u64),
                Ev::C(GET),
                Ev::S(OK, 2 * GET.len() as u64),
            ],
            true,
            0,
        );
        let (_, coding, _) = body_of(&s);
        assert_eq!(coding, Coding::Partial);
        assert_eq!(s.stats.decode_errors, 0);
        assert_eq!(s.exchanges.len(), 2, "{:?}", rows(&s));
    }

    #[test]
    fn unknown_and_too_deep_codings_keep_raw_bytes() {
        let resp = response("zstd", b"\x28\xb5\x2f\xfdabc", false);
        let s = run_split(&[Ev::C(GET), Ev::S(&resp, GET.len() as u64)], true, 0);
        assert_eq!(
            body_of(&s),
            (b"\x28\xb5\x2f\xfdabc".to_vec(), Coding::Undecodable, 0)
        );
        assert_eq!(s.stats.decode_unsupported, 1);
        let resp = response("gzip, gzip, gzip, gzip", b"xyz", false);
        let s = run_split(&[Ev::C(GET), Ev::S(&resp, GET.len() as u64)], true, 0);
        assert_eq!(body_of(&s).1, Coding::Undecodable);
        assert_eq!(s.stats.decode_too_deep, 1);
    }

    #[test]
    fn compressed_request_bodies_decode_too() {
        let g = gzip(JSON);
        let mut post = format!("POST /api/events HTTP/1.1\r\nHost: a\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n", g.len()).into_bytes();
        post.extend_from_slice(&g);
        let s = run_split(&[Ev::C(&post), Ev::S(OK, post.len() as u64)], true, 0);
        let b = &s.exchanges[0].request.as_ref().expect("request").body;
        assert_eq!((b.data.as_slice(), b.coding), (JSON, Coding::Decoded));
    }
}

mod as_servers_speak {
    //! The rest of issue 4's list, each in every split.
    use super::*;

    #[test]
    fn custom_methods_open_a_stream_only_on_an_http_request_line() {
        // Zeek's methods trace: a vendor verb, with the version, and run into the target.
        for req in [
            &b"CCM_POST / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"CCM_POST /HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            let out = run(&[Ev::C(req), Ev::S(OK, req.len() as u64)], false);
            let get = [&b"GET"[..], &req[8..]].concat();
            let as_get = run(&[Ev::C(&get), Ev::S(OK, get.len() as u64)], false);
            assert_eq!(out[0].0.as_deref(), Some("CCM_POST"), "{req:?} {out:?}");
            assert_eq!(out[0].1, as_get[0].1);
            assert_eq!(out[1..], as_get[1..], "{req:?} read as a GET would be");
        }
        // Other protocols' upper-case verbs are not HTTP requests.
        for (req, answer) in [
            (&b"EHLO mail.example.com\r\n"[..], &b"250 ok\r\n"[..]),
            (b"USER /home/alice\r\n", b"331 password\r\n"),
            (b"XFER /file.bin\r\nsize 10\r\n", b"OK\r\n"),
        ] {
            let s = run_split(&[Ev::C(req), Ev::S(answer, req.len() as u64)], false, 3);
            assert!(s.exchanges.is_empty(), "{req:?}");
            assert_eq!(s.stats.http_streams, 0, "{req:?}");
        }
    }

    #[test]
    fn query_method_with_a_body_is_a_request_from_the_first_byte_and_after_a_gap() {
        // QUERY (draft-ietf-httpbis-safe-method-w-body) opens the stream, where only known
        // methods start a request, and follows a gap, where we resynchronise on them.
        let q = b"QUERY /users HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n{\"a\"";
        let reqs = [&q[..], &q[..]].concat();
        let out = run(&[Ev::C(q), Ev::S(OK, q.len() as u64)], false);
        assert_eq!(out, vec![r("QUERY", "/users", 200, 4, 14)]);
        let out = run(
            &[
                Ev::C(&reqs[..10]),
                Ev::Gap(Dir::Orig, q.len() as u64 - 10),
                Ev::C(&reqs[q.len()..]),
                Ev::S(OK, reqs.len() as u64),
            ],
            true,
        );
        assert_eq!(
            out.last(),
            Some(&r("QUERY", "/users", 200, 4, 14)),
            "{out:?}"
        );
    }

    #[test]
    fn absolute_form_target_is_kept_raw() {
        let req = b"GET http://api.example.com:8080/v1/items?q=1 HTTP/1.1\r\nHost: api.example.com:8080\r\n\r\n";
        let out = run(&[Ev::C(req), Ev::S(OK, req.len() as u64)], true);
        assert_eq!(
            out,
            vec![r(
                "GET",
                "http://api.example.com:8080/v1/items?q=1",
                200,
                0,
                14
            )]
        );
    }

    #[test]
    fn connect_tunnel_is_parsed_inside() {
        let c1 = b"CONNECT api.example.com:80 HTTP/1.1\r\nHost: api.example.com:80\r\n\r\n";
        let s1 = b"HTTP/1.1 200 Connection established\r\n\r\n";
        let inner = [c1.len() as u64, GET.len() as u64];
        let out = run(
            &[
                Ev::C(c1),
                Ev::S(s1, inner[0]),
                Ev::C(GET),
                Ev::S(OK, inner[0] + inner[1]),
            ],
            true,
        );
        assert_eq!(
            out,
            vec![
                r("CONNECT", "api.example.com:80", 200, 0, 0),
                r("GET", "/api/users/1", 200, 0, 14)
            ]
        );
    }

    #[test]
    fn h2c_upgrade_stops_parsing_and_is_recorded() {
        let up = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";
        let sw = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
        let frames = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00HTTP/1.1 200 OK\r\n\r\n";
        let evs = [
            Ev::C(up),
            Ev::S(sw, up.len() as u64),
            Ev::S(frames, up.len() as u64),
        ];
        assert_eq!(run(&evs, true), vec![r("GET", "/", 101, 0, 0)]);
        assert_eq!(run_split(&evs, true, 0).stats.upgrades, 1);
    }

    #[test]
    fn lenient_where_servers_are() {
        // Bare LF, obs-fold, a space before the colon, duplicate equal Content-Length.
        let req = b"POST /form HTTP/1.1\nHost: a\nX-Long: one\n two\nContent-Length : 5\nContent-Length: 5\n\nhello";
        let resp = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok";
        let evs = [Ev::C(req), Ev::S(resp, req.len() as u64)];
        assert_eq!(run(&evs, true), vec![r("POST", "/form", 201, 5, 2)]);
        let s = run_split(&evs, true, 0);
        assert_eq!(
            (s.stats.bad_content_length, s.stats.cl_te_conflicts),
            (0, 0)
        );
    }

    #[test]
    fn cl_te_conflict_is_parsed_as_chunked_and_flagged() {
        // The smuggling shape: Transfer-Encoding wins (RFC 9112 6.3), as origins do; the
        // conflict is an anomaly.
        let req = b"POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        let evs = [Ev::C(req), Ev::S(OK, req.len() as u64)];
        assert_eq!(run(&evs, true), vec![r("POST", "/api/x", 200, 5, 14)]);
        assert_eq!(run_split(&evs, true, 0).stats.cl_te_conflicts, 1);
    }

    #[test]
    fn multipart_body_is_passed_through_as_bytes() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\n\r\n\x00\x01\xff\r\n--XyZ--\r\n";
        let mut req = format!("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        req.extend_from_slice(body);
        let evs = [Ev::C(&req), Ev::S(OK, req.len() as u64)];
        run(&evs, true);
        let s = run_split(&evs, true, 0);
        let q = s.exchanges[0].request.as_ref().expect("request");
        assert_eq!(q.body.data, body.to_vec());
    }

    #[test]
    fn hundreds_of_keep_alive_exchanges() {
        let n = 300;
        let mut evs = Vec::new();
        for k in 0..n as u64 {
            evs.push(Ev::C(GET));
            evs.push(Ev::S(OK, (k + 1) * GET.len() as u64));
        }
        for split in [0, 1, 20, 60] {
            let s = run_split(&evs, true, split);
            let all = rows(&s);
            assert_eq!(all.len(), n, "split {split}");
            assert!(
                all.iter()
                    .all(|x| *x == r("GET", "/api/users/1", 200, 0, 14)),
                "split {split}"
            );
            assert_eq!(s.stats.pending_overflow, 0);
        }
    }
}

mod hostile_heads {
    use crate::head::{parse_request, parse_response, StartLine};
    use proptest::prelude::*;

    #[test]
    fn a_version_that_is_not_two_digits_is_unknown() {
        // Bytes past '9' once overflowed the version arithmetic (found by mutating
        // captures): a panic in a debug build, a made-up version in a release one.
        let h = parse_request(b"GET / HTTP/\xff.\xfe\r\nHost: a\r\n\r\n", 64).expect("lenient");
        assert!(
            matches!(h.start, StartLine::Request { version: 0, .. }),
            "{:?}",
            h.start
        );
        let h = parse_request(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 64).expect("head");
        assert!(
            matches!(h.start, StartLine::Request { version: 20, .. }),
            "{:?}",
            h.start
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]
        /// A start line beginning like HTTP, then anything: parsed or refused, never a panic.
        #[test]
        fn random_heads_never_panic(
            line in proptest::collection::vec(any::<u8>(), 0..40),
            rest in proptest::collection::vec(any::<u8>(), 0..200),
            response: bool,
        ) {
            let mut head = if response { b"HTTP/".to_vec() } else { b"GET / HTTP/".to_vec() };
            head.extend_from_slice(&line);
            head.extend_from_slice(b"\r\n");
            head.extend_from_slice(&rest);
            head.extend_from_slice(b"\r\n\r\n");
            let _ = parse_request(&head, 64);
            let _ = parse_response(&head, 64);
        }
    }
}

mod hostile_hellos {
    use crate::sniff::{client_hello, guess, server_hello};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        /// A handshake record header followed by anything: parsed or refused, never a panic.
        #[test]
        fn random_hellos_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600), kind in 1u8..3) {
            let mut rec = vec![0x16, 3, 1, (body.len() >> 8) as u8, body.len() as u8, kind];
            rec.extend_from_slice(&body);
            let _ = client_hello(&rec);
            let _ = server_hello(&rec);
            let _ = guess(&rec, &body);
        }
    }
}

/// The line-by-line reading `find_head_end` must agree with: the first `\n` followed by
/// `\n` or `\r\n`, from three bytes before `from`.
fn head_end_reference(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from.saturating_sub(3);
    while let Some(p) = buf.get(i..)?.iter().position(|c| *c == b'\n') {
        let at = i + p;
        match buf.get(at + 1) {
            Some(b'\n') => return Some(at + 2),
            Some(b'\r') if buf.get(at + 2) == Some(&b'\n') => return Some(at + 3),
            _ => {}
        }
        i = at + 1;
    }
    None
}

#[test]
fn head_end_agrees_with_the_line_by_line_reading() {
    // Terminators at every offset around the 62-byte steps, and random heads over an
    // alphabet dense in line ends, searched from several points.
    for pad in 0..200 {
        for end in ["\r\n\r\n", "\n\n", "\n\r\n", "\r\n\r", "\r\r\n\n", "\n"] {
            let b = format!("GET / HTTP/1.1\r\n{}{end}body\r\n\r\n", "h".repeat(pad));
            for from in [0, 3, pad, pad + 17, b.len()] {
                let b = b.as_bytes();
                assert_eq!(
                    head::find_head_end(b, from),
                    head_end_reference(b, from),
                    "{end:?} after {pad}, from {from}"
                );
            }
        }
    }
    let alphabet = b"\r\n\nab: \r";
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in 0..400 {
        for _ in 0..20 {
            let b: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    alphabet[(x % alphabet.len() as u64) as usize]
                })
                .collect();
            let from = (x % (len as u64 + 1)) as usize;
            assert_eq!(
                head::find_head_end(&b, from),
                head_end_reference(&b, from),
                "{b:?} from {from}"
            );
        }
    }
}
