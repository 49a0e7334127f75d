//! A connection: both directions, and the pairing of requests with responses.

use crate::body::{request_framing, response_framing, Framing};
use crate::half::{At, Current, Event, Half, Role};
use crate::head::StartLine;
use crate::sniff::{self, Guess, SNIFF_BUDGET, SNIFF_CAP, SNIFF_TLS_CAP};
use crate::{Exchange, HttpConfig, Request, Response, Sink, TlsSeen, UnparsedStream};
use apitap_flow::{CloseReason, Delivery, Dir, FlowCtx, Handler};
use std::collections::VecDeque;

/// One request/response slot, in request order.
#[derive(Debug, Default)]
struct Txn {
    id: u64,
    req: Option<Request>,
    req_done: bool,
    /// Raw sequence number of the request's first byte.
    req_seq: Option<u32>,
    /// Raw sequence number just past the request's last byte, once complete.
    req_end: Option<u32>,
    method: Option<String>,
    resp: Option<Response>,
    resp_started: bool,
    resp_done: bool,
    /// Raw acknowledgment number of the segment that started the response.
    resp_ack: Option<u32>,
}

/// HTTP state of one TCP connection; a [`Handler`] for the flow table.
#[derive(Debug)]
pub struct Connection {
    cfg: HttpConfig,
    halves: [Half; 2],
    /// The direction that sends requests, once known.
    client: Option<Dir>,
    txns: VecDeque<Txn>,
    next_id: u64,
    /// Txn ids of the messages currently being read in each direction.
    cur_txn: [Option<u64>; 2],
    /// The current response of a direction is an interim (1xx) response.
    interim: [bool; 2],
    /// Bytes were lost on the response side since the last response head.
    resp_gap: bool,
    /// After this transaction's response the stream is a tunnel: `true` for CONNECT (parse
    /// what flows inside), `false` for an upgrade (WebSocket, h2c: stop parsing).
    tunnel_after: Option<(u64, bool)>,
    http_seen: bool,
    data_seen: bool,
    /// Latest acknowledgment number of a response emitted without its request: requests the
    /// server had received before it may have been answered by it, so they are never paired
    /// with a later response.
    orphan_ack: Option<u32>,
    /// First bytes of each direction since the stream (re)started, until HTTP shows up.
    sniff: Option<Box<Sniff>>,
    /// Payload bytes seen in both directions.
    bytes: u64,
    /// Raw sequence number of each direction's first byte, when the handshake was seen and
    /// data arrived from the stream's start.
    start_seq: [Option<u32>; 2],
}

/// The first bytes of each direction, to recognise TLS and other protocols.
#[derive(Debug, Default)]
struct Sniff {
    buf: [Vec<u8>; 2],
    /// A gap cut a direction's first bytes: what follows is not its start.
    cut: [bool; 2],
    /// Inside a CONNECT tunnel.
    via_connect: bool,
    /// The TLS hellos were reported (and the buffers freed); the client's direction.
    reported: Option<usize>,
}

impl Sniff {
    /// Keep the first bytes of direction `d`; whether any were added. TLS gets room for its
    /// hellos while the worker's budget lasts.
    fn push(&mut self, d: usize, data: &[u8], held: &mut u64, st: &mut crate::HttpStats) -> bool {
        if self.cut[d] || self.reported.is_some() {
            return false;
        }
        let buf = &mut self.buf[d];
        let tls = sniff::looks_like_tls(buf) || (buf.is_empty() && data.first() == Some(&0x16));
        let cap = if tls && *held < SNIFF_BUDGET {
            SNIFF_TLS_CAP
        } else {
            SNIFF_CAP
        };
        let room = cap.saturating_sub(buf.len());
        let n = data.len().min(room);
        if n == 0 {
            return false;
        }
        if tls && buf.len() + n > SNIFF_CAP && *held >= SNIFF_BUDGET {
            st.sniff_budget_exhausted += 1;
        }
        buf.extend_from_slice(&data[..n]);
        *held += n as u64;
        true
    }

    /// Free the buffers, returning their bytes to the budget.
    fn release(&mut self, held: &mut u64) {
        for b in &mut self.buf {
            *held = held.saturating_sub(b.len() as u64);
            *b = Vec::new();
        }
    }

    /// The TLS handshake as far as it can be read: (client dir, client hello, server hello).
    fn tls(
        &self,
    ) -> Option<(
        usize,
        Option<sniff::ClientHello>,
        Option<sniff::ServerHello>,
    )> {
        (0..2).find_map(|d| {
            let ch = sniff::client_hello(&self.buf[d])?;
            Some((d, Some(ch), sniff::server_hello(&self.buf[1 - d])))
        })
    }
}

impl Connection {
    pub fn new(cfg: HttpConfig, ctx: &FlowCtx) -> Connection {
        let mid = !ctx.saw_syn;
        Connection {
            cfg,
            halves: [Half::new(mid), Half::new(mid)],
            client: None,
            txns: VecDeque::new(),
            next_id: 0,
            cur_txn: [None, None],
            interim: [false, false],
            resp_gap: false,
            tunnel_after: None,
            http_seen: false,
            data_seen: false,
            orphan_ack: None,
            sniff: Some(Box::default()),
            bytes: 0,
            start_seq: [None, None],
        }
    }

    /// Report the TLS hellos once both were read, or at the end with what there is.
    fn report_tls(&mut self, ctx: &FlowCtx, at_end: bool, out: &mut Sink) {
        let Some(sn) = self.sniff.as_deref_mut() else {
            return;
        };
        if sn.reported.is_some() || !(0..2).any(|d| sniff::looks_like_tls(&sn.buf[d])) {
            return;
        }
        let Some((cd, hello, server_hello)) = sn.tls() else {
            return;
        };
        if server_hello.is_none() && !at_end {
            return;
        }
        sn.reported = Some(cd);
        sn.release(&mut out.sniff_held);
        let (client, server) = if cd == Dir::Orig.idx() {
            (ctx.orig, ctx.resp)
        } else {
            (ctx.resp, ctx.orig)
        };
        out.tls.push(TlsSeen {
            client,
            server,
            tunnel: ctx.key.tunnel,
            via_connect: sn.via_connect,
            hello,
            server_hello,
        });
    }

    fn feed(
        &mut self,
        ctx: &FlowCtx,
        dir: Dir,
        (offset, seq): (u64, u32),
        at: At,
        data: &[u8],
        out: &mut Sink,
    ) {
        let d = dir.idx();
        if offset == 0 && ctx.saw_syn && self.start_seq[d].is_none() {
            self.start_seq[d] = Some(seq);
        }
        self.halves[d].pos = offset;
        self.halves[d].pos_seq = Some(seq);
        let mut input = data;
        while let Some(ev) = self.halves[d].feed(&mut input, at, &self.cfg, &mut out.stats) {
            self.event(ctx, dir, ev, out);
        }
        self.emit_ready(ctx, out);
    }

    fn event(&mut self, ctx: &FlowCtx, dir: Dir, ev: Event, out: &mut Sink) {
        let done = match ev {
            Event::Head => self.on_head(ctx, dir, out),
            done => Some(done),
        };
        if let Some(Event::Done(c)) = done {
            self.on_done(ctx, dir, c, out);
        }
    }

    fn on_head(&mut self, ctx: &FlowCtx, dir: Dir, out: &mut Sink) -> Option<Event> {
        let d = dir.idx();
        if let Some(StartLine::Request { method, uri, .. }) =
            self.halves[d].cur.as_ref().map(|c| &c.head.start)
        {
            if method == "PRI" && uri == b"*" && !self.http_seen {
                // The HTTP/2 prior-knowledge preface: not ours to parse.
                for h in &mut self.halves {
                    h.kill();
                }
                return None;
            }
        }
        if let Some(mut sn) = self.sniff.take() {
            sn.release(&mut out.sniff_held);
        }
        if !self.http_seen {
            self.http_seen = true;
            out.stats.http_streams += 1;
        }
        // Once one side is known, the other side's role follows.
        let (is_req, http09) = match &self.halves[d].cur.as_ref()?.head.start {
            StartLine::Request { version, .. } => (true, *version == 9),
            StartLine::Response { .. } => (false, false),
        };
        let peer = &mut self.halves[dir.other().idx()];
        if peer.role == Role::Unknown {
            peer.role = if is_req {
                Role::Responses
            } else {
                Role::Requests
            };
        }
        if http09 {
            peer.expect_http09_answer();
        }
        let cur = self.halves[d].cur.as_ref()?;
        let (seq, ack) = (cur.seq, cur.ack);
        match &cur.head.start {
            StartLine::Request { method, .. } => {
                self.client.get_or_insert(dir);
                out.stats.requests += 1;

                let framing = request_framing(&cur.head.headers, &mut out.stats);
                let method = method.clone();
                let id = self.attach_request(ctx, seq, method, out);
                // Where the request ends is known now unless the body is chunked.
                let after_head = self.halves[d].pos_seq;
                let end = match framing {
                    Framing::None => after_head,
                    Framing::Length(n) => after_head.map(|p| p.wrapping_add(n as u32)),
                    _ => None,
                };
                if let Some(t) = self.txns.iter_mut().find(|t| t.id == id) {
                    t.req_end = end;
                }
                self.cur_txn[d] = Some(id);
                self.interim[d] = false;
                self.halves[d].start_body(framing, &self.cfg, &mut out.stats)
            }
            StartLine::Response { status, .. } => {
                let status = *status;
                self.client.get_or_insert(dir.other());

                if (100..200).contains(&status) && status != 101 {
                    out.stats.interim_responses += 1;
                    self.interim[d] = true;
                    return self.halves[d].start_body(Framing::None, &self.cfg, &mut out.stats);
                }
                out.stats.responses += 1;
                self.interim[d] = false;
                // Responses may have been lost or garbled since the last one.
                self.resp_gap |= std::mem::take(&mut self.halves[d].damaged);
                let idx = self.attach_response(ack);
                if ack.is_some() && ack == self.client_start() && self.txns[idx].method.is_some() {
                    out.stats.early_responses += 1;
                }
                let txn = &mut self.txns[idx];
                txn.resp_ack = ack;
                txn.resp_started = true;
                let method = txn.method.clone();
                self.cur_txn[d] = Some(txn.id);
                let is_connect = method
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case("CONNECT"));
                if status == 101 || (is_connect && (200..300).contains(&status)) {
                    self.tunnel_after = Some((txn.id, status != 101));
                    if status == 101 {
                        out.stats.upgrades += 1
                    } else {
                        out.stats.connect_tunnels += 1
                    }
                }
                let cur = self.halves[d].cur.as_ref()?;
                let framing =
                    response_framing(method.as_deref(), status, &cur.head.headers, &mut out.stats);
                self.halves[d].start_body(framing, &self.cfg, &mut out.stats)
            }
        }
    }

    /// Slot for a new request: the response a server sent first (below), else a new slot at
    /// the end.
    fn attach_request(&mut self, ctx: &FlowCtx, seq: u32, method: String, out: &mut Sink) -> u64 {
        // The server spoke first: with the handshake seen, the only response so far was sent
        // before any client byte arrived (its ACK is the client's first sequence number), and
        // this request opens the client's stream. The client reads that response as the
        // answer to this request, so we pair them, as Arkime and tshark do, and count it:
        // pushing a response ahead of the request is an IDS evasion (CVE-2018-6794). A lost
        // first request cannot fake this: its response would acknowledge its bytes.
        if self.client_start() == Some(seq) {
            if let [t] = self.txns.make_contiguous() {
                if t.method.is_none() && t.resp_started && t.resp_ack == Some(seq) {
                    t.method = Some(method);
                    t.req_seq = Some(seq);
                    out.stats.early_responses += 1;
                    return t.id;
                }
            }
        }
        if self.txns.len() >= self.cfg.max_pending {
            out.stats.pending_overflow += 1;
            if let Some(t) = self.txns.pop_front() {
                self.emit_txn(ctx, t, out);
            }
        }
        let id = self.new_id();
        if self.orphan_ack.is_some_and(|a| after(a, seq)) {
            // Its response may already have gone out as an orphan: report it unanswered.
            self.txns.push_back(Txn {
                id,
                req_seq: Some(seq),
                method: Some(method),
                resp_started: true,
                resp_done: true,
                ..Txn::default()
            });
            return id;
        }
        self.txns.push_back(Txn {
            id,
            req_seq: Some(seq),
            method: Some(method),
            ..Txn::default()
        });
        id
    }

    /// Raw sequence number of the client's first byte, when its stream was seen from the
    /// handshake on.
    fn client_start(&self) -> Option<u32> {
        self.client.and_then(|c| self.start_seq[c.idx()])
    }

    /// Whether a response acknowledging `ack` may answer the request starting at `seq`: the
    /// server had its first byte, or (a server that speaks first, or a response injected
    /// on its behalf) the response acknowledges none of the client's stream and the request
    /// opens it, as the client reads it.
    fn may_answer(&self, ack: u32, seq: u32) -> bool {
        after(ack, seq) || ack == seq && self.client_start() == Some(seq)
    }

    /// Slot for a new final response: the oldest open request the server had seen.
    fn attach_response(&mut self, ack: Option<u32>) -> usize {
        let seen = |c: &Self, t: &Txn| match (ack, t.req_seq) {
            (Some(a), Some(o)) => c.may_answer(a, o),
            _ => true,
        };
        // After damage on the response side, a request cannot be the one answered if the
        // server had already received its successor (non-pipelined order), or everything up
        // to past its end while a later request exists or may still arrive: its own response
        // was lost. Skipping reports it unanswered; pairing it would report a wrong status.
        let passed = |t: &Txn| match (ack, t.req_end) {
            (Some(a), Some(e)) => after(a, e),
            _ => false,
        };
        let damaged = std::mem::take(&mut self.resp_gap);
        let open: Vec<usize> = self
            .txns
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.resp_started && t.method.is_some())
            .map(|(i, _)| i)
            .collect();
        // A request behind a held response that may answer it is reserved for that response.
        let reserved = |txns: &VecDeque<Txn>, i: usize| {
            let s = txns[i].req_seq;
            txns.iter().take(i).any(|h| {
                h.method.is_none()
                    && h.resp_started
                    && matches!((h.resp_ack, s), (Some(a), Some(s)) if after(a, s))
            })
        };
        let mut chosen = None;
        for (k, &i) in open.iter().enumerate() {
            if reserved(&self.txns, i) {
                continue;
            }
            let successor_seen = open.get(k + 1).is_some_and(|&j| seen(self, &self.txns[j]));
            if damaged && (successor_seen || passed(&self.txns[i])) {
                self.txns[i].resp_started = true;
                self.txns[i].resp_done = true;
                continue;
            }
            chosen = Some(i);
            break;
        }
        match chosen {
            Some(i) if seen(self, &self.txns[i]) => i,
            Some(i) => {
                // The server answered a request we never saw: a slot of its own before this one.
                let id = self.new_id();
                self.txns.insert(
                    i,
                    Txn {
                        id,
                        ..Txn::default()
                    },
                );
                i
            }
            None => {
                let id = self.new_id();
                self.txns.push_back(Txn {
                    id,
                    ..Txn::default()
                });
                self.txns.len() - 1
            }
        }
    }

    /// A response that arrived before its request (the mirror delivered it first) is held
    /// in a slot of its own. When request `id` completes, the held response whose ACK is
    /// exactly the request's end (the server answered as soon as it had the whole request)
    /// takes the request; anything looser could pair the wrong two.
    fn adopt_held_response(&mut self, id: u64) {
        let Some(r) = self.txns.iter().position(|t| t.id == id) else {
            return;
        };
        let Some(end) = self.txns[r].req_end else {
            return;
        };
        if self.txns[r].resp_started {
            return;
        }
        let held = self
            .txns
            .iter()
            .take(r)
            .position(|t| t.method.is_none() && t.resp_started && t.resp_ack == Some(end));
        let Some(h) = held else {
            // The server already answered after receiving all of this request, and not with
            // this request's response: that response came earlier and was lost.
            let overtaken = self
                .txns
                .iter()
                .any(|t| t.id != id && t.resp_started && t.resp_ack.is_some_and(|a| after(a, end)));
            if overtaken {
                self.txns[r].resp_started = true;
                self.txns[r].resp_done = true;
            }
            return;
        };
        let Some(req) = self.txns.remove(r) else {
            return;
        };
        let t = &mut self.txns[h];
        t.method = req.method;
        t.req = req.req;
        t.req_done = true;
        t.req_seq = req.req_seq;
        t.req_end = req.req_end;
        let to = t.id;
        self.emit_owner_fix(req.id, to);
    }

    /// Messages still being read that point at a merged slot follow it.
    fn emit_owner_fix(&mut self, from: u64, to: u64) {
        for c in &mut self.cur_txn {
            if *c == Some(from) {
                *c = Some(to);
            }
        }
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn on_done(&mut self, ctx: &FlowCtx, dir: Dir, c: Box<Current>, out: &mut Sink) {
        let d = dir.idx();
        if std::mem::take(&mut self.interim[d]) {
            return;
        }
        let Some(id) = self.cur_txn[d].take() else {
            return;
        };
        let Some(t) = self.txns.iter_mut().find(|t| t.id == id) else {
            return;
        };
        let mut c = *c;
        if let Some(dec) = c.decoder.take() {
            finish_decoding(dec, &mut c.body, &mut out.stats);
        }
        let gap = c.gap;
        let body_gap = c.body.gap;
        match c.head.start {
            StartLine::Request {
                method,
                uri,
                version,
            } => {
                t.req = Some(Request {
                    ts: c.ts,
                    method,
                    uri,
                    version,
                    headers: c.head.headers,
                    body: c.body,
                    gap,
                });
                t.req_done = true;
                // The framing gave the end already; a chunked body's end is where it stopped,
                // unless it stopped in a gap (then the position is past the end).
                if t.req_end.is_none() && !body_gap {
                    t.req_end = self.halves[d].pos_seq;
                }
            }
            StartLine::Response {
                status,
                reason,
                version,
            } => {
                t.resp = Some(Response {
                    ts: c.ts,
                    ts_end: c.ts_end,
                    status,
                    reason,
                    version,
                    headers: c.head.headers,
                    body: c.body,
                    gap,
                });
                t.resp_done = true;
            }
        }
        if let Some((tid, connect)) = self.tunnel_after {
            if tid == id && t.resp_done {
                self.tunnel_after = None;
                for h in &mut self.halves {
                    if connect {
                        h.restart();
                    } else {
                        h.kill();
                    }
                }
                if connect {
                    self.sniff = Some(Box::new(Sniff {
                        via_connect: true,
                        ..Sniff::default()
                    }));
                }
            }
        }
        self.adopt_held_response(id);
        self.emit_ready(ctx, out);
    }

    /// Emit finished transactions from the front, keeping request order. A response with no
    /// request waits until the client stream has passed what the server had acknowledged.
    fn emit_ready(&mut self, ctx: &FlowCtx, out: &mut Sink) {
        let client_seq = self.client.and_then(|c| self.halves[c.idx()].unread_seq());
        // Until the client stream has seen any byte, a held response may still get its request
        // (a mirror can deliver it first), unless the client stays silent for several
        // responses (a one-directional capture).
        let patience = self.txns.len() < 16;
        while let Some(t) = self.txns.front() {
            let waiting = match (t.resp_ack, client_seq) {
                // (A server that spoke first waits for the opening request's head.)
                (Some(a), Some(p)) => self.may_answer(a, p),
                (_, None) => patience,
                (None, Some(_)) => false,
            };
            let req_ready = t.req_done || (t.method.is_none() && !waiting);
            if !(req_ready && t.resp_done) {
                break;
            }
            if let Some(t) = self.txns.pop_front() {
                self.emit_txn(ctx, t, out);
            }
        }
    }

    fn emit_txn(&mut self, ctx: &FlowCtx, t: Txn, out: &mut Sink) {
        if t.req.is_none() && t.method.is_none() {
            if let Some(a) = t.resp_ack {
                self.orphan_ack = Some(
                    self.orphan_ack
                        .map_or(a, |o| if after(a, o) { a } else { o }),
                );
            }
        }
        let client_dir = self.client.unwrap_or(Dir::Orig);
        let (client, server) = if client_dir == Dir::Orig {
            (ctx.orig, ctx.resp)
        } else {
            (ctx.resp, ctx.orig)
        };
        match (&t.req, &t.resp) {
            (Some(_), None) => out.stats.unanswered_requests += 1,
            (None, Some(_)) => out.stats.orphan_responses += 1,
            (None, None) => return,
            _ => {}
        }
        out.stats.exchanges += 1;
        out.exchanges.push(Exchange {
            client,
            server,
            tunnel: ctx.key.tunnel,
            request: t.req,
            response: t.resp,
        });
    }
}

impl Handler for Connection {
    type Out = Sink;

    fn on_delivery(&mut self, ctx: &FlowCtx, dir: Dir, d: Delivery<'_>, out: &mut Sink) {
        match d {
            Delivery::Data {
                offset,
                seq,
                ts,
                ack,
                data,
            } => {
                self.data_seen = true;
                self.bytes += data.len() as u64;
                let fresh = self.sniff.as_deref_mut().is_some_and(|sn| {
                    sn.push(dir.idx(), data, &mut out.sniff_held, &mut out.stats)
                });
                self.feed(ctx, dir, (offset, seq), At { ts, ack }, data, out);
                if fresh {
                    self.report_tls(ctx, false, out);
                }
            }
            Delivery::Gap { len, .. } => {
                out.stats.gaps += 1;
                if let Some(sn) = self.sniff.as_deref_mut() {
                    sn.cut[dir.idx()] = true;
                }
                if let Some(ev) = self.halves[dir.idx()].on_gap(len, &self.cfg, &mut out.stats) {
                    self.event(ctx, dir, ev, out);
                }
                self.emit_ready(ctx, out);
            }
        }
    }

    fn on_close(&mut self, ctx: &FlowCtx, _reason: CloseReason, out: &mut Sink) {
        for dir in [Dir::Orig, Dir::Resp] {
            if let Some(ev) = self.halves[dir.idx()].finish() {
                self.event(ctx, dir, ev, out);
            }
        }
        self.report_tls(ctx, true, out);
        if !self.http_seen && self.data_seen {
            out.stats.unparsed_streams += 1;
            let (o, r) = match self.sniff.as_deref() {
                Some(sn) => (&sn.buf[0][..], &sn.buf[1][..]),
                None => (&[][..], &[][..]),
            };
            let reported = self.sniff.as_deref().and_then(|sn| sn.reported);
            let guess = if reported.is_some() {
                Guess::Tls
            } else {
                sniff::guess(o, r)
            };
            // The server is the SYN's receiver, the side answering a ClientHello, or the
            // one that spoke first in a server-first protocol.
            let server = match (guess, reported) {
                (Guess::Tls, Some(cd)) if cd == Dir::Resp.idx() => ctx.orig,
                (Guess::Mysql | Guess::Ssh, _) if !ctx.saw_syn && r.is_empty() => ctx.orig,
                _ => ctx.resp,
            };
            out.unparsed.push(UnparsedStream {
                server,
                guess,
                bytes: self.bytes,
            });
        }
        if let Some(mut sn) = self.sniff.take() {
            sn.release(&mut out.sniff_held);
        }
        while let Some(t) = self.txns.pop_front() {
            self.emit_txn(ctx, t, out);
        }
    }
}

/// Put a body's decoded bytes in place of its encoded ones and count how decoding went.
fn finish_decoding(dec: crate::coding::Decoder, body: &mut crate::Body, st: &mut crate::HttpStats) {
    use crate::coding::Stop;
    let (data, total, coding, stop) = dec.finish(!body.gap);
    body.truncated = total > data.len() as u64;
    body.data = data;
    body.decoded_len = total;
    body.coding = coding;
    match stop {
        None if coding == crate::Coding::Decoded => st.decoded_bodies += 1,
        Some(Stop::Error) => st.decode_errors += 1,
        Some(Stop::Limit) => st.decode_limit += 1,
        Some(Stop::Bomb) => st.decode_bombs += 1,
        _ => {}
    }
}

/// Whether raw sequence number `a` lies after `b` (wrapping, RFC 1982 style).
fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}
