//! Dispatcher, workers and their messages.

use crate::record::Renderer;
use crate::sampling::{Hub, ScanMode, ScanPolicy, ScanStats};
use crate::stats::DispatchStats;
use crate::writer::{self, Key, Records, WriterMsg};
use apitap_capture::{Backings, Packet};
use apitap_flow::{Defrag, DefragConfig, FlowConfig, FlowKey, FlowStats, FlowTable, TcpPacket};
use apitap_http::{Connection, HttpConfig, HttpStats, Sink};
use apitap_inventory::{Inventory, Observed};
use apitap_pii::{Scan, Scanner};
use apitap_wire::{DecodeConfig, Decoded, LinkType, Transport};
use crossbeam_channel::{bounded, Receiver, Sender};
use std::io::Write;
use std::net::SocketAddr;
use std::thread::JoinHandle;

/// How the pipeline runs.
#[derive(Debug, Clone)]
pub struct SensorConfig {
    pub threads: usize,
    pub decode: DecodeConfig,
    /// Limits for the whole sensor; each worker gets its share.
    pub flow: FlowConfig,
    pub http: HttpConfig,
    pub max_endpoints: usize,
    pub batch_size: usize,
    pub channel_depth: usize,
    /// Capture-time interval between flow-expiry ticks.
    pub tick_ns: u64,
    /// Which bodies get the full sensitive-data scan.
    pub scan: ScanMode,
    /// Packets per epoch of the workers' pooled scan knowledge (`sampling`). A constant,
    /// not scaled by the thread count: the epochs must fall at the same packets whatever
    /// it is.
    pub scan_epoch: u64,
}

impl Default for SensorConfig {
    fn default() -> Self {
        SensorConfig {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            decode: DecodeConfig::default(),
            flow: FlowConfig::default(),
            http: HttpConfig::default(),
            max_endpoints: 100_000,
            batch_size: 1024,
            channel_depth: 16,
            tick_ns: 1_000_000_000,
            scan: ScanMode::Adaptive,
            scan_epoch: crate::sampling::EPOCH_PACKETS,
        }
    }
}

/// Where the frames of a batch live.
#[derive(Debug)]
pub enum Frames {
    /// Mapped capture files shared by all batches.
    Files(Backings),
    /// Every frame is in the batch's own buffer (live capture).
    None,
}

#[derive(Debug, Clone, Copy)]
struct Item {
    idx: u64,
    pkt: Packet,
    d: Decoded,
    /// The frame is in the batch's own buffer (copied live, or a reassembled datagram).
    owned: bool,
}

#[derive(Debug)]
struct Batch {
    frames: Frames,
    owned: Vec<u8>,
    items: Vec<Item>,
}

impl Batch {
    fn frame(&self, it: &Item) -> &[u8] {
        if it.owned {
            return it.pkt.data(&self.owned);
        }
        match &self.frames {
            Frames::Files(b) => b
                .get(it.pkt.file as usize)
                .map_or(&[][..], |b| it.pkt.data(b.bytes())),
            Frames::None => &[],
        }
    }
}

/// A worker's counters, published after every batch so a metrics endpoint can read them
/// without stopping the worker or copying its inventory.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    pub flow: FlowStats,
    pub http: HttpStats,
    pub scan: ScanStats,
    pub active_flows: u64,
    pub endpoints: u64,
}

impl Gauges {
    fn add(&mut self, o: &Gauges) {
        self.flow.add(&o.flow);
        self.http.add(&o.http);
        self.scan.add(&o.scan);
        self.active_flows += o.active_flows;
        self.endpoints += o.endpoints;
    }
}

type SharedGauges = std::sync::Arc<std::sync::Mutex<Gauges>>;

/// A worker's state at a point in time.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub inventory: Inventory,
    pub flow: FlowStats,
    pub http: HttpStats,
    pub scan: ScanStats,
}

enum Msg {
    Batch(Batch),
    Tick {
        idx: u64,
        ts: u64,
    },
    /// The worker hands its inventory over with its counters and starts a new, empty
    /// inventory (its counters go on).
    Take(Sender<Snapshot>),
    /// Knowledge epoch `k` starts: pool what was learned (`sampling::Hub`).
    Epoch(u64),
    End,
}

/// The workers' inventories on their way (see [`Pipeline::take_later`]).
#[derive(Debug)]
pub struct Taking {
    replies: Vec<Receiver<Snapshot>>,
    max_endpoints: usize,
}

impl Taking {
    /// The workers' inventories, merged, and their counters so far.
    pub fn wait(self) -> Snapshot {
        let max_endpoints = self.max_endpoints;
        Snapshot::merged(self.wait_parts(), max_endpoints)
    }

    /// Each worker's inventory and counters, unmerged.
    pub fn wait_parts(self) -> Vec<Snapshot> {
        self.replies
            .iter()
            .filter_map(|rx| rx.recv().ok())
            .collect()
    }
}

impl Snapshot {
    /// One snapshot of several workers' (inventory capped at `max_endpoints`).
    pub fn merged(parts: Vec<Snapshot>, max_endpoints: usize) -> Snapshot {
        let mut all = Snapshot {
            inventory: Inventory::new(max_endpoints),
            ..Snapshot::default()
        };
        for s in parts {
            merge_into(&mut all, s);
        }
        all
    }
}

/// The running pipeline: call `packet_*` for every packet, then [`Pipeline::finish`].
pub struct Pipeline {
    cfg: SensorConfig,
    shards: Vec<Sender<Msg>>,
    workers: Vec<JoinHandle<Snapshot>>,
    gauges: Vec<SharedGauges>,
    writer: Option<JoinHandle<std::io::Result<u64>>>,
    pending: Vec<Batch>,
    files: Option<Backings>,
    idx: u64,
    max_ts: u64,
    next_tick: Option<u64>,
    pub stats: DispatchStats,
    pub link_types: Vec<u32>,
    defrag: Defrag,
    /// Packet count at which the next knowledge epoch starts (`Msg::Epoch`).
    next_epoch: u64,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("workers", &self.workers.len())
            .field("idx", &self.idx)
            .finish()
    }
}

impl Pipeline {
    /// Start workers (and the exchange writer when `exchanges` is given).
    pub fn start(cfg: SensorConfig, exchanges: Option<Box<dyn Write + Send>>) -> Pipeline {
        let n = cfg.threads.max(1);
        // Record buffers the writer is done with go back to their worker, whose next batch
        // renders into them: no fresh pages (and page faults) for every batch.
        let (spare_tx, spare_rx): (Vec<_>, Vec<_>) =
            (0..n).map(|_| bounded::<Records>(writer::SPARES)).unzip();
        let (wtx, writer) = match exchanges {
            Some(out) => {
                let (tx, rx) = bounded::<WriterMsg>(cfg.channel_depth * n);
                let h = std::thread::Builder::new()
                    .name("apitap-writer".into())
                    .spawn(move || writer::run(rx, spare_tx, out));
                (Some(tx), h.ok())
            }
            None => (None, None),
        };
        let mut flow = cfg.flow;
        flow.max_flows = (flow.max_flows / n).max(1);
        flow.max_ooo_bytes_total = (flow.max_ooo_bytes_total / n).max(1);
        let mut shards = Vec::with_capacity(n);
        let mut workers = Vec::with_capacity(n);
        let mut gauges = Vec::with_capacity(n);
        let hub = std::sync::Arc::new(Hub::new(n));
        for (id, spare) in spare_rx.into_iter().enumerate() {
            let (tx, rx) = bounded::<Msg>(cfg.channel_depth);
            let (http, wtx, max_ep, scan) = (cfg.http, wtx.clone(), cfg.max_endpoints, cfg.scan);
            let hub = hub.clone();
            let g = SharedGauges::default();
            let wg = g.clone();
            let h = std::thread::Builder::new()
                .name(format!("apitap-worker-{id}"))
                .spawn(move || {
                    let lanes = Lanes {
                        rx,
                        out: wtx,
                        spare,
                        gauges: wg,
                        hub,
                    };
                    worker(id, lanes, flow, http, max_ep, scan)
                })
                .expect("spawning a worker thread");
            shards.push(tx);
            workers.push(h);
            gauges.push(g);
        }
        Pipeline {
            next_epoch: cfg.scan_epoch.max(1),
            cfg,
            shards,
            workers,
            gauges,
            writer,
            pending: Vec::new(),
            files: None,
            idx: 0,
            max_ts: 0,
            next_tick: None,
            stats: DispatchStats::default(),
            link_types: Vec::new(),
            defrag: Defrag::new(DefragConfig::default()),
        }
    }

    /// Use mapped files as the frames of every following `packet_file` call.
    pub fn set_files(&mut self, files: Backings) {
        self.files = Some(files);
        self.pending = (0..self.shards.len()).map(|_| self.new_batch()).collect();
    }

    fn new_batch(&self) -> Batch {
        let frames = match &self.files {
            Some(f) => Frames::Files(f.clone()),
            None => Frames::None,
        };
        Batch {
            frames,
            owned: Vec::new(),
            items: Vec::with_capacity(self.cfg.batch_size),
        }
    }

    /// A packet located in the files given to [`Pipeline::set_files`].
    pub fn packet_file(&mut self, pkt: Packet) {
        let Some(files) = self.files.clone() else {
            return;
        };
        let frame = files
            .get(pkt.file as usize)
            .map_or(&[][..], |b| pkt.data(b.bytes()));
        if let Some((shard, d, whole)) = self.decode(&pkt, frame) {
            let item = Item {
                idx: self.idx,
                pkt,
                d,
                owned: false,
            };
            self.push(shard, item, whole.as_deref());
        }
    }

    /// A packet whose bytes are in `data` (live capture); they are copied into a batch.
    pub fn packet_owned(&mut self, pkt: Packet, data: &[u8]) {
        if self.pending.is_empty() {
            self.pending = (0..self.shards.len()).map(|_| self.new_batch()).collect();
        }
        if let Some((shard, d, whole)) = self.decode(&pkt, data) {
            let item = Item {
                idx: self.idx,
                pkt,
                d,
                owned: false,
            };
            self.push(shard, item, Some(whole.as_deref().unwrap_or(data)));
        }
    }

    /// Decode a frame; returns its shard, the decoded headers and, for a datagram completed by
    /// this fragment, the reassembled payload (which the headers' offsets then index).
    fn decode(&mut self, pkt: &Packet, frame: &[u8]) -> Option<(usize, Decoded, Option<Vec<u8>>)> {
        if self.stats.packets == self.next_epoch {
            self.flush_batches();
            let epoch = self.cfg.scan_epoch.max(1);
            let k = self.next_epoch / epoch;
            for s in &self.shards {
                let _ = s.send(Msg::Epoch(k));
            }
            self.next_epoch += epoch;
        }
        self.clock(pkt.ts);
        self.idx += 1;
        self.stats.packets += 1;
        self.stats.bytes += pkt.caplen as u64;
        if !self.link_types.contains(&pkt.link) {
            self.link_types.push(pkt.link);
        }
        let d = match apitap_wire::decode(LinkType(pkt.link), frame, &self.cfg.decode) {
            Ok(d) => d,
            Err(a) => {
                self.stats.anomaly(a);
                return None;
            }
        };
        if d.truncated > 0 {
            self.stats.truncated_packets += 1;
        }
        if d.tunnel != 0 {
            self.stats.tunnelled += 1;
        }
        if let Transport::Fragment(f) = d.transport {
            self.stats.ip_fragments += 1;
            let whole = self
                .defrag
                .push(pkt.ts, d.src, d.dst, d.tunnel, f, d.payload(frame));
            // Kept current: snapshots and the final stats read the dispatcher's counters.
            self.stats.defrag = self.defrag.stats;
            let whole = whole?;
            match apitap_wire::decode_payload(
                f.protocol,
                d.src,
                d.dst,
                &whole,
                &d,
                &self.cfg.decode,
            ) {
                Ok(inner) => {
                    // A tunnel whose outer datagram was fragmented shows once reassembled.
                    if inner.tunnel != 0 && d.tunnel == 0 {
                        self.stats.tunnelled += 1;
                    }
                    return self.route(inner).map(|(s, d)| (s, d, Some(whole)));
                }
                Err(a) => {
                    self.stats.anomaly(a);
                    return None;
                }
            }
        }
        self.route(d).map(|(s, d)| (s, d, None))
    }

    /// The worker of a decoded TCP packet; other transports are counted and go no further.
    fn route(&mut self, d: Decoded) -> Option<(usize, Decoded)> {
        match d.transport {
            Transport::Tcp(t) => {
                self.stats.tcp += 1;
                let key = FlowKey::new(d.src, t.src_port, d.dst, t.dst_port, d.tunnel);
                Some(((key.shard_hash() % self.shards.len() as u64) as usize, d))
            }
            Transport::Udp { .. } => {
                self.stats.udp += 1;
                None
            }
            Transport::Fragment(_) => None,
            Transport::Other(_) => {
                self.stats.other_ip += 1;
                None
            }
        }
    }

    fn push(&mut self, shard: usize, mut item: Item, copy: Option<&[u8]>) {
        let b = &mut self.pending[shard];
        if let Some(data) = copy {
            item.pkt.off = b.owned.len() as u64;
            item.pkt.caplen = data.len() as u32;
            item.owned = true;
            b.owned.extend_from_slice(data);
        }
        b.items.push(item);
        if b.items.len() >= self.cfg.batch_size {
            self.send(shard);
        }
    }

    fn send(&mut self, shard: usize) {
        let fresh = self.new_batch();
        let full = std::mem::replace(&mut self.pending[shard], fresh);
        if !full.items.is_empty() {
            let n = full.items.len() as u64;
            let sent = match self.shards[shard].try_send(Msg::Batch(full)) {
                Ok(()) => true,
                Err(crossbeam_channel::TrySendError::Full(m)) => {
                    // The worker is behind: wait for it, and count the wait.
                    self.stats.backpressure += 1;
                    self.shards[shard].send(m).is_ok()
                }
                Err(crossbeam_channel::TrySendError::Disconnected(_)) => false,
            };
            if !sent {
                // The worker stopped (`worker_failed`): its packets go unanalysed.
                self.stats.packets_of_failed_workers += n;
            }
        }
    }

    fn flush_batches(&mut self) {
        for s in 0..self.pending.len() {
            self.send(s);
        }
    }

    /// Advance capture time; broadcast an expiry tick every `tick_ns`.
    fn clock(&mut self, ts: u64) {
        self.max_ts = self.max_ts.max(ts);
        if self.next_tick.is_some_and(|t| self.max_ts >= t) {
            self.defrag.expire(self.max_ts);
            self.stats.defrag = self.defrag.stats;
        }
        match self.next_tick {
            None => self.next_tick = Some(ts.saturating_add(self.cfg.tick_ns)),
            Some(t) if self.max_ts >= t => {
                self.flush_batches();
                self.idx += 1;
                for s in &self.shards {
                    let _ = s.send(Msg::Tick {
                        idx: self.idx,
                        ts: self.max_ts,
                    });
                }
                self.next_tick = Some(self.max_ts.saturating_add(self.cfg.tick_ns));
            }
            _ => {}
        }
    }

    /// Let capture time advance without packets (live capture on a quiet link).
    pub fn idle_tick(&mut self, now: u64) {
        self.clock(now);
    }

    /// The workers' counters as of their last batch: cheap, for metrics.
    pub fn gauges(&self) -> Gauges {
        let mut all = Gauges::default();
        for g in &self.gauges {
            if let Ok(g) = g.lock() {
                all.add(&g);
            }
        }
        all
    }

    /// The workers' inventories, handed over (each worker starts an empty one), and their
    /// counters so far, without stopping them: the caller keeps (and may fold) what was
    /// accumulated.
    pub fn take(&mut self) -> Snapshot {
        self.take_later().wait()
    }

    /// [`Pipeline::take`] without waiting: every worker hands over what it holds once it has
    /// worked through the packets given so far, whenever the caller waits for it. What is
    /// handed over depends only on the packets before this call, not on timing.
    pub fn take_later(&mut self) -> Taking {
        self.flush_batches();
        let mut replies = Vec::new();
        for s in &self.shards {
            let (tx, rx) = bounded(1);
            if s.send(Msg::Take(tx)).is_ok() {
                replies.push(rx);
            }
        }
        Taking {
            replies,
            max_endpoints: self.cfg.max_endpoints,
        }
    }

    /// Whether a worker stopped before the end of input: it panicked (a bug, its message on
    /// stderr), and its share of the flows goes unanalysed from then on. `finish` counts it.
    pub fn worker_failed(&self) -> bool {
        self.workers.iter().any(|h| h.is_finished())
    }

    /// End of input: close every flow, join the threads, merge their results. Returns them,
    /// the dispatcher's final counters (fragments still held are counted as timed out), and
    /// what the exchange writer wrote.
    pub fn finish(mut self) -> (Snapshot, DispatchStats, std::io::Result<u64>) {
        self.defrag.expire(u64::MAX);
        self.stats.defrag = self.defrag.stats;
        self.flush_batches();
        for s in &self.shards {
            let _ = s.send(Msg::End);
        }
        self.shards.clear();
        let mut parts = Vec::with_capacity(self.workers.len());
        for h in self.workers.drain(..) {
            match h.join() {
                Ok(s) => parts.push(s),
                Err(_) => self.stats.workers_failed += 1,
            }
        }
        let all = Snapshot::merged(parts, self.cfg.max_endpoints);
        let written = match self.writer.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(std::io::Error::other("exchange writer thread panicked")),
            None => Ok(0),
        };
        (all, self.stats, written)
    }
}

/// Add `s` to `all`, taking its endpoints rather than copying them.
fn merge_into(all: &mut Snapshot, s: Snapshot) {
    all.inventory.absorb(s.inventory);
    all.flow.add(&s.flow);
    all.http.add(&s.http);
    all.scan.add(&s.scan);
}

/// One worker: flow table, HTTP connections and inventory for its share of flows.
/// A worker's channels: its input, the exchange writer, where it publishes its counters.
struct Lanes {
    rx: Receiver<Msg>,
    out: Option<Sender<WriterMsg>>,
    /// Record buffers back from the writer.
    spare: Receiver<Records>,
    gauges: SharedGauges,
    hub: std::sync::Arc<Hub>,
}

/// Tells the hub when a worker ends before its input does (a panic), so the others do
/// not wait for its knowledge.
struct Departure(std::sync::Arc<Hub>);

impl Drop for Departure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.break_off();
        }
    }
}

fn worker(
    id: usize,
    Lanes {
        rx,
        out,
        spare,
        gauges,
        hub,
    }: Lanes,
    flow: FlowConfig,
    http: HttpConfig,
    max_ep: usize,
    scan: ScanMode,
) -> Snapshot {
    let idle_ns = flow.idle_timeout_ns;
    let mut table: FlowTable<Connection> = FlowTable::new(flow);
    let mut inv = Inventory::new(max_ep);
    let scanner = Scanner::new();
    let mut policy = ScanPolicy::new(scan);
    let mut sink = Sink::default();
    let mut records = Records::default();
    let mut renderer = out.is_some().then(Renderer::default);
    let mut stages = Stages::default();
    let mut watermark = 0;
    let _departure = Departure(hub.clone());
    // A failure point for tests (tests/e2e.rs): worker 0 panics on its first batch, as a bug
    // would, so the loud way a failed worker is reported stays tested.
    let fail = id == 0 && std::env::var_os("APITAP_FAILPOINT").is_some_and(|v| v == "worker-panic");
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Batch(b) => {
                assert!(!fail, "APITAP_FAILPOINT=worker-panic");
                for (i, it) in b.items.iter().enumerate() {
                    if let Some(next) = b.items.get(i + PREFETCH_PACKETS) {
                        let f = b.frame(next);
                        apitap_capture::prefetch(&f[..f.len().min(PREFETCH_BYTES)]);
                    }
                    if let Transport::Tcp(tcp) = it.d.transport {
                        let p = TcpPacket {
                            ts: it.pkt.ts,
                            src: SocketAddr::new(it.d.src, tcp.src_port),
                            dst: SocketAddr::new(it.d.dst, tcp.dst_port),
                            tunnel: it.d.tunnel,
                            tcp,
                            payload: it.d.payload(b.frame(it)),
                            missing: it.d.truncated,
                        };
                        table.packet(&p, |ctx| Connection::new(http, ctx), &mut sink);
                        stages.tags.resize(sink.exchanges.len(), it.idx);
                        watermark = it.idx;
                    }
                    // Exchanges are analysed a few at a time, while reassembly has left
                    // their bytes in cache, and what is left at the end of the batch.
                    if sink.exchanges.len() >= DRAIN_AT || i + 1 == b.items.len() {
                        drain(
                            &mut sink,
                            &mut inv,
                            (&scanner, &mut policy),
                            renderer.as_mut(),
                            (&mut stages, watermark),
                            &mut records,
                        );
                    }
                }
            }
            Msg::Tick { idx, ts } => {
                table.expire(ts, &mut sink);
                drain(
                    &mut sink,
                    &mut inv,
                    (&scanner, &mut policy),
                    renderer.as_mut(),
                    (&mut stages, idx),
                    &mut records,
                );
                policy.expire(ts, idle_ns);
                watermark = idx;
            }
            Msg::Epoch(k) => {
                policy.epoch(&hub, k);
                continue;
            }
            Msg::Take(reply) => {
                let _ = reply.send(Snapshot {
                    inventory: std::mem::replace(&mut inv, Inventory::new(max_ep)),
                    flow: table.stats,
                    http: sink.stats,
                    scan: policy.stats,
                });
                if let Ok(mut g) = gauges.lock() {
                    g.endpoints = 0;
                }
                continue;
            }
            Msg::End => break,
        }
        if let Ok(mut g) = gauges.lock() {
            *g = Gauges {
                flow: table.stats,
                http: sink.stats,
                scan: policy.stats,
                active_flows: table.active() as u64,
                endpoints: inv.endpoints.len() as u64,
            };
        }
        if let Some(tx) = &out {
            let next = spare.try_recv().unwrap_or_default();
            let _ = tx.send(WriterMsg::Items {
                worker: id,
                records: std::mem::replace(&mut records, next),
                watermark,
            });
        }
    }
    table.flush(&mut sink);
    drain(
        &mut sink,
        &mut inv,
        (&scanner, &mut policy),
        renderer.as_mut(),
        (&mut stages, u64::MAX),
        &mut records,
    );
    if let Some(tx) = &out {
        let _ = tx.send(WriterMsg::Items {
            worker: id,
            records: std::mem::take(&mut records),
            watermark: u64::MAX,
        });
    }
    Snapshot {
        inventory: inv,
        flow: table.stats,
        http: sink.stats,
        scan: policy.stats,
    }
}

/// A worker asks for the bytes (up to `PREFETCH_BYTES`) of the packet this many ahead of
/// the one it processes.
const PREFETCH_PACKETS: usize = 4;
const PREFETCH_BYTES: usize = 2048;
/// Exchanges analysed together, soon after reassembly left their bytes in cache.
const DRAIN_AT: usize = 32;

/// Scratch space of `drain`, kept between batches.
#[derive(Default)]
struct Stages {
    /// The packet index that completed each exchange of the sink, for those whose packet
    /// is known (the rest completed at `drain`'s `idx`).
    tags: Vec<u64>,
    full: Vec<bool>,
    scans: Vec<Scan>,
    seen: Vec<Option<Observed>>,
}

/// Count finished exchanges in the inventory and render their records.
///
/// A batch's exchanges go through each stage in turn (scan decision, scan, inventory,
/// record) rather than one exchange through all of them: each stage's code stays in the
/// instruction cache. Every stage sees the exchanges in the order they completed, so the
/// results are those of the one-by-one order.
fn drain(
    sink: &mut Sink,
    inv: &mut Inventory,
    (scanner, policy): (&Scanner, &mut ScanPolicy),
    render: Option<&mut Renderer>,
    (stages, idx): (&mut Stages, u64),
    records: &mut Records,
) {
    for t in sink.tls.drain(..) {
        inv.observe_tls(&t);
    }
    for u in sink.unparsed.drain(..) {
        inv.observe_unparsed(&u);
    }
    let xs = &sink.exchanges;
    stages
        .full
        .extend(xs.iter().map(|x| policy.decide(scanner, x)));
    let full = &stages.full;
    stages
        .scans
        .extend(xs.iter().zip(full).map(|(x, &f)| scanner.scan_with(x, f)));
    let scans = &stages.scans;
    stages
        .seen
        .extend(xs.iter().zip(scans).map(|(x, s)| inv.observe(x, s)));
    if let Some(r) = render {
        let mut n = 0;
        for (i, ((x, seen), scan)) in xs.iter().zip(&stages.seen).zip(scans).enumerate() {
            let at = stages.tags.get(i).copied().unwrap_or(idx);
            if i > 0 && stages.tags.get(i - 1).copied().unwrap_or(idx) != at {
                n = 0;
            }
            r.record(&mut records.buf, x, seen.as_ref(), &scan.hits);
            records.push(Key {
                idx: at,
                flow: crate::sampling::flow_key(x),
                n,
            });
            n += 1;
        }
    }
    sink.exchanges.clear();
    stages.tags.clear();
    stages.full.clear();
    stages.scans.clear();
    stages.seen.clear();
}
