//! `apitap capture`: live sources (an interface through N fanout sockets, VXLAN/GENEVE
//! mirror-target sockets) through the pipeline, with periodic snapshots, metrics, SIGHUP
//! reopening and a privilege drop once the sockets are open.
//!
//! Threads: one per source socket reads packets into chunks and hands them to the loop
//! here, which decodes and shards them to the workers (so both directions of a flow meet on
//! one worker whatever socket each arrived on, tunnelled or not), and every second publishes
//! metrics, every `--flush-interval` writes a snapshot.

use crate::held::Held;
use crate::metrics::{self, Exposition, Extra};
use crate::output::{save, RotatingFile};
use crate::replay::now_ns;
use crate::CaptureArgs;
use anyhow::{bail, Context, Result};
use apitap_capture::{LiveConfig, LiveSource, LiveStats, Packet, UdpListener};
use apitap_inventory::{format_ts, CaptureInfo, Document};
use apitap_sensor::{Pipeline, Totals};
use apitap_wire::LinkType;
use crossbeam_channel::{bounded, RecvTimeoutError, SendTimeoutError, Sender};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Packets and bytes per chunk handed from a capture thread to the dispatcher.
const CHUNK_PACKETS: usize = 512;
const CHUNK_BYTES: usize = 256 << 10;
/// Chunks queued for the dispatcher: with the kernel rings, what absorbs a burst.
const CHUNK_QUEUE: usize = 32;
/// A chunk is handed over at the latest this long after its first packet.
const CHUNK_AGE: Duration = Duration::from_millis(20);
/// How often anomaly counters that grew are logged (one line per period, not per event).
const ANOMALY_LOG_EVERY: Duration = Duration::from_secs(60);

/// A socket we read packets from.
enum Source {
    Pcap(Box<LiveSource>),
    Udp(UdpListener),
}

impl Source {
    fn next_into(&mut self, buf: &mut Vec<u8>) -> Result<Option<Packet>> {
        Ok(match self {
            Source::Pcap(s) => s.next_into(buf)?,
            Source::Udp(s) => s.next_into(buf)?,
        })
    }

    fn stats(&mut self) -> LiveStats {
        match self {
            Source::Pcap(s) => s.stats(),
            Source::Udp(s) => s.stats(),
        }
    }

    fn name(&self, a: &CaptureArgs) -> String {
        match self {
            Source::Pcap(_) => a.interface.clone().unwrap_or_default(),
            Source::Udp(s) if s.link() == LinkType::VXLAN_PAYLOAD.0 => {
                format!("vxlan://{}", s.local_addr())
            }
            Source::Udp(s) => format!("geneve://{}", s.local_addr()),
        }
    }
}

/// Packets from one source socket, their bytes in `data`.
struct Chunk {
    data: Vec<u8>,
    pkts: Vec<Packet>,
}

/// What a capture thread shares with the loop.
#[derive(Default)]
struct Shared {
    stats: Mutex<LiveStats>,
    /// Chunks that found the dispatcher's queue full and waited.
    waits: AtomicU64,
    error: Mutex<Option<String>>,
}

fn open_sources(a: &CaptureArgs) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    if let Some(iface) = &a.interface {
        let cfg = LiveConfig {
            iface: iface.clone(),
            bpf: a.bpf.clone(),
            snaplen: a.snaplen,
            buffer_size: (a.ring_mib as i32).saturating_mul(1 << 20),
            ..LiveConfig::default()
        };
        let n = a.capture_threads.or(a.common.threads).map_or_else(
            || apitap_sensor::SensorConfig::default().threads,
            |n| n as usize,
        );
        for s in LiveSource::open_group(&cfg, n)? {
            if !LinkType(s.link()).is_supported() {
                bail!("{iface}: unsupported link type {}", s.link());
            }
            out.push(Source::Pcap(Box::new(s)));
        }
    }
    for addr in &a.listen_vxlan {
        out.push(Source::Udp(UdpListener::bind(
            *addr,
            LinkType::VXLAN_PAYLOAD.0,
        )?));
    }
    for addr in &a.listen_geneve {
        out.push(Source::Udp(UdpListener::bind(
            *addr,
            LinkType::GENEVE_PAYLOAD.0,
        )?));
    }
    Ok(out)
}

/// A capture thread: read, chunk, hand over; until `stop`.
fn reader(mut src: Source, tx: Sender<Chunk>, stop: Arc<AtomicBool>, shared: Arc<Shared>) {
    let new_chunk = || Chunk {
        data: Vec::with_capacity(CHUNK_BYTES),
        pkts: Vec::with_capacity(CHUNK_PACKETS),
    };
    let mut chunk = new_chunk();
    let mut since = Instant::now();
    let mut last_stats = Instant::now();
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let got = if stopping {
            None
        } else {
            match src.next_into(&mut chunk.data) {
                Ok(p) => p,
                Err(e) => {
                    if let Ok(mut slot) = shared.error.lock() {
                        *slot = Some(format!("{e:#}"));
                    }
                    stop.store(true, Ordering::Relaxed);
                    None
                }
            }
        };
        if let Some(p) = got {
            if chunk.pkts.is_empty() {
                since = Instant::now();
            }
            chunk.pkts.push(p);
        }
        let full = chunk.pkts.len() >= CHUNK_PACKETS || chunk.data.len() >= CHUNK_BYTES;
        let due = !chunk.pkts.is_empty() && (got.is_none() || since.elapsed() >= CHUNK_AGE);
        if full || due || stopping {
            let mut c = std::mem::replace(&mut chunk, new_chunk());
            while !c.pkts.is_empty() {
                match tx.send_timeout(c, Duration::from_millis(100)) {
                    Ok(()) => break,
                    Err(SendTimeoutError::Timeout(back)) => {
                        shared.waits.fetch_add(1, Ordering::Relaxed);
                        c = back;
                    }
                    Err(SendTimeoutError::Disconnected(_)) => return,
                }
            }
        }
        if stopping || last_stats.elapsed() >= Duration::from_millis(250) {
            last_stats = Instant::now();
            if let Ok(mut s) = shared.stats.lock() {
                *s = src.stats();
            }
        }
        if stopping {
            return;
        }
    }
}

pub fn run(a: &CaptureArgs) -> Result<()> {
    let c = &a.common;
    let mut judge = crate::output::Judge::load(c)?;
    let sources = open_sources(a)?;
    let names: Vec<String> = sources.iter().map(|s| s.name(a)).collect();
    // Outputs are opened before root is dropped only when they must be (the exchanges file
    // is reopened on SIGHUP as the unprivileged user, so it must be writable by it).
    if let Some(user) = &a.user {
        apitap_capture::drop_to_user(user)?;
        tracing::info!(user = %user, "dropped privileges");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())
        .context("installing signal handlers")?;
    let reopen = Arc::new(AtomicBool::new(false));
    let writer: Option<Box<dyn Write + Send>> = match &c.exchanges {
        Some(p) if p.as_os_str() == "-" => Some(Box::new(std::io::stdout())),
        Some(p) => Some(Box::new(RotatingFile::open(
            p,
            a.exchanges_max_size,
            a.exchanges_keep,
            reopen.clone(),
        )?)),
        None => None,
    };
    let expo = Arc::new(Exposition::default());
    expo.beat();
    if let Some(addr) = a.metrics {
        let bound = metrics::serve(addr, expo.clone())?;
        tracing::info!(addr = %bound, "serving metrics");
    }

    let started = Instant::now();
    let cfg = c.sensor_config();
    let max_endpoints = cfg.max_endpoints;
    let mut pipe = Pipeline::start(cfg, writer);
    let (tx, rx) = bounded::<Chunk>(CHUNK_QUEUE);
    let mut readers = Vec::new();
    let mut shared = Vec::new();
    for (i, src) in sources.into_iter().enumerate() {
        let sh = Arc::new(Shared::default());
        let (tx, stop, s2) = (tx.clone(), stop.clone(), sh.clone());
        readers.push(
            std::thread::Builder::new()
                .name(format!("apitap-capture-{i}"))
                .spawn(move || reader(src, tx, stop, s2))
                .context("spawning a capture thread")?,
        );
        shared.push(sh);
    }
    drop(tx);
    tracing::info!(sources = ?names, "capturing");

    let kernel = |shared: &[Arc<Shared>]| {
        let mut k = LiveStats::default();
        for s in shared {
            if let Ok(s) = s.stats.lock() {
                k.add(&s);
            }
        }
        k
    };
    let info = |first: u64, last: u64, links: Vec<u32>| CaptureInfo {
        mode: "live".into(),
        sources: names.clone(),
        first_packet: (first != u64::MAX).then(|| format_ts(first)),
        last_packet: (first != u64::MAX).then(|| format_ts(last)),
        link_types: links,
    };
    let flush_every = Duration::from_secs(a.flush_interval.max(1));
    let extra = Arc::new(Mutex::new(Extra::default()));
    let reload = AtomicBool::new(false);
    // Snapshots (fold, document, write) run on their own thread: building the document of a
    // large inventory takes seconds, and the capture must not stop meanwhile.
    let (jobs, todo) = bounded::<Job>(1);
    std::thread::scope(|scope| -> Result<()> {
        let snapshots = std::thread::Builder::new()
            .name("apitap-snapshot".into())
            .spawn_scoped(scope, || {
                let mut s = Snapshotter {
                    c,
                    held: Held::new(max_endpoints, c.fold_above as usize),
                    judge: &mut judge,
                    extra: &extra,
                    reload: &reload,
                };
                let mut last = None;
                for job in todo {
                    last = Some(s.run(job));
                }
                last
            })
            .context("spawning the snapshot thread")?;
        let mut last_flush = Instant::now();
        let mut last_metrics = Instant::now() - Duration::from_secs(2);
        let mut anomalies = AnomalyLog::default();
        let (mut first, mut last) = (u64::MAX, 0u64);
        let mut disconnected = false;
        loop {
            // A worker that stopped (a bug) ends the capture: better a loud exit the
            // service manager restarts than a sensor blind to a share of the flows.
            let ending = stop.load(Ordering::Relaxed)
                || disconnected
                || pipe.worker_failed()
                || a.duration.is_some_and(|d| started.elapsed().as_secs() >= d);
            if ending {
                stop.store(true, Ordering::Relaxed);
                // Take what the readers still hand over, then stop.
                while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(300)) {
                    feed(&mut pipe, &chunk, &mut first, &mut last);
                }
                break;
            }
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(chunk) => feed(&mut pipe, &chunk, &mut first, &mut last),
                Err(RecvTimeoutError::Timeout) => pipe.idle_tick(now_ns()),
                Err(RecvTimeoutError::Disconnected) => disconnected = true,
            }
            expo.beat();
            if hup.swap(false, Ordering::Relaxed) {
                reopen.store(true, Ordering::Relaxed);
                reload.store(true, Ordering::Relaxed);
                tracing::info!(
                    "SIGHUP: exchanges file reopened; the spec is reloaded at the next snapshot"
                );
            }
            if last_metrics.elapsed() >= Duration::from_secs(1) {
                last_metrics = Instant::now();
                let g = pipe.gauges();
                let mut totals = Totals::of_gauges(pipe.stats.clone(), Some(kernel(&shared)), &g);
                let x = extra.lock().map(|mut x| {
                    x.uptime_secs = started.elapsed().as_secs_f64();
                    x.capture_waits = shared.iter().map(|s| s.waits.load(Ordering::Relaxed)).sum();
                    x.clone()
                });
                if let Ok(x) = x {
                    totals.endpoints += x.endpoints_folded;
                    if a.metrics.is_some() {
                        expo.publish(metrics::render(&totals, g.active_flows, &x));
                    }
                }
                anomalies.check(&totals);
            }
            // A snapshot when one is due and the last one is done (if it is not, the next
            // turn tries again: the workers keep accumulating meanwhile).
            if last_flush.elapsed() >= flush_every && jobs.is_empty() {
                last_flush = Instant::now();
                let snap = pipe.take();
                let totals = Totals::of(
                    pipe.stats.clone(),
                    Default::default(),
                    Some(kernel(&shared)),
                    &snap,
                );
                let capture = info(first, last, pipe.link_types.clone());
                let _ = jobs.send(Job {
                    new: snap.inventory,
                    totals,
                    capture,
                    last: false,
                });
            }
        }
        for r in readers.drain(..) {
            let _ = r.join();
        }
        let live = kernel(&shared);
        let links = pipe.link_types.clone();
        let (snap, dispatch, written) = pipe.finish();
        written.context("writing exchanges")?;
        let totals = Totals::of(dispatch, Default::default(), Some(live), &snap);
        let capture = info(first, last, links);
        let _ = jobs.send(Job {
            new: snap.inventory,
            totals: totals.clone(),
            capture,
            last: true,
        });
        drop(jobs);
        let doc = snapshots
            .join()
            .map_err(|_| anyhow::anyhow!("the snapshot thread panicked"))?
            .context("no final snapshot")??;
        crate::output::publish(c, &doc, &totals, started)
    })?;
    let failed = shared
        .iter()
        .find_map(|s| s.error.lock().ok().and_then(|e| e.clone()));
    if let Some(e) = failed {
        bail!("capture stopped: {e}");
    }
    Ok(())
}

/// A snapshot to take: what the workers handed over since the last one.
struct Job {
    new: apitap_inventory::Inventory,
    totals: Totals,
    capture: CaptureInfo,
    /// The final one: built and returned, written by the caller with the summary.
    last: bool,
}

/// Folds, builds and writes snapshots, on its own thread.
struct Snapshotter<'a> {
    c: &'a crate::Common,
    /// Everything handed over so far, merged or folded.
    held: Held,
    judge: &'a mut crate::output::Judge,
    extra: &'a Mutex<Extra>,
    reload: &'a AtomicBool,
}

impl Snapshotter<'_> {
    fn run(&mut self, job: Job) -> Result<Document> {
        if self.reload.swap(false, Ordering::Relaxed) {
            match self.judge.reload_spec(self.c) {
                Ok(()) => tracing::info!("spec reloaded"),
                Err(e) => tracing::error!("spec not reloaded, keeping the old one: {e:#}"),
            }
        }
        self.held.add(job.new, self.judge.spec.as_ref());
        let doc = self
            .judge
            .document(&self.held.base, job.capture, &job.totals)?;
        let mut x = self
            .extra
            .lock()
            .map_err(|_| anyhow::anyhow!("metrics lock poisoned"))?;
        x.findings = findings_by_severity(&doc);
        x.endpoints_folded = self.held.base.endpoints.len() as u64;
        x.folds = self.held.base.folds;
        if job.last || (self.c.output.is_none() && self.c.state.is_none()) {
            return Ok(doc);
        }
        match save(self.c, &doc) {
            Ok(()) => {
                x.snapshots += 1;
                x.last_snapshot_unix = now_ns() / 1_000_000_000;
            }
            // A full disk must not end months of capture: log, count, try again.
            Err(e) => {
                x.snapshot_errors += 1;
                tracing::error!("snapshot not written: {e:#}");
            }
        }
        Ok(doc)
    }
}

fn feed(pipe: &mut Pipeline, chunk: &Chunk, first: &mut u64, last: &mut u64) {
    for p in &chunk.pkts {
        *first = (*first).min(p.ts);
        *last = (*last).max(p.ts);
        pipe.packet_owned(*p, p.data(&chunk.data));
    }
}

fn findings_by_severity(doc: &Document) -> Vec<(String, u64)> {
    let mut by: std::collections::BTreeMap<String, u64> = ["critical", "high", "medium", "low"]
        .iter()
        .map(|s| (s.to_string(), 0))
        .collect();
    if let Ok(v) = serde_json::to_value(&doc.findings) {
        for f in v.as_array().into_iter().flatten() {
            if let Some(s) = f["severity"].as_str() {
                *by.entry(s.to_string()).or_default() += 1;
            }
        }
    }
    by.into_iter().collect()
}

/// Logs loss and anomaly counters that grew, at most once per period: a flood of bad
/// packets is one line a minute, not one per packet.
#[derive(Default)]
struct AnomalyLog {
    seen: Vec<(&'static str, u64)>,
    at: Option<Instant>,
}

impl AnomalyLog {
    fn check(&mut self, t: &Totals) {
        if let Some(grew) = self.grew(t, ANOMALY_LOG_EVERY) {
            tracing::warn!(counters = %grew, "traffic lost or not analysed since the last report");
        }
    }

    /// The counters that grew since the last report, if a period has passed and any did.
    fn grew(&mut self, t: &Totals, every: Duration) -> Option<String> {
        if self.at.is_some_and(|at| at.elapsed() < every) {
            return None;
        }
        self.at = Some(Instant::now());
        let now = t.dropped_all();
        let grew: Vec<String> = now
            .iter()
            .filter_map(|(k, n)| {
                let before = self
                    .seen
                    .iter()
                    .find(|(j, _)| j == k)
                    .map_or(0, |(_, m)| *m);
                (*n > before).then(|| format!("{k}+{}", n - before))
            })
            .collect();
        self.seen = now;
        (!grew.is_empty()).then(|| grew.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_reported_once_per_period_as_the_growth_since_the_last_report() {
        let mut log = AnomalyLog::default();
        let mut t = Totals::default();
        t.flow.streams.gaps = 5;
        assert_eq!(
            log.grew(&t, Duration::from_secs(3600)).as_deref(),
            Some("tcp_gaps+5")
        );
        // Within the period: silent, however much more is lost.
        t.flow.streams.gaps = 500;
        assert_eq!(log.grew(&t, Duration::from_secs(3600)), None);
        // The next period reports only the growth since the last report (the silent period's
        // growth was not reported, so it counts from the last report: 5 -> 900).
        t.flow.streams.gaps = 900;
        t.dispatch.truncated_packets = 2;
        assert_eq!(
            log.grew(&t, Duration::ZERO).as_deref(),
            Some("truncated_packets+2 tcp_gaps+895")
        );
        assert_eq!(log.grew(&t, Duration::ZERO), None);
    }
}
