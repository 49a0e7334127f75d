//! `apitap replay`: capture files through the pipeline.

use crate::held::Held;
use crate::output::{publish, ExchangeOut};
use crate::Common;
use anyhow::{bail, Result};
use apitap_capture::FileSet;
use apitap_inventory::{format_ts, CaptureInfo};
use apitap_sensor::{Pipeline, Snapshot, Taking, Totals};
use apitap_wire::{Anomaly, LinkType};
use crossbeam_channel::bounded;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A progress bar on a terminal, shown once a run takes more than a second.
struct Progress {
    start: Instant,
    total: u64,
    bar: Option<indicatif::ProgressBar>,
    enabled: bool,
}

impl Progress {
    fn new(total: u64, quiet: bool) -> Progress {
        Progress {
            start: Instant::now(),
            total,
            bar: None,
            enabled: !quiet && std::io::stderr().is_terminal(),
        }
    }

    fn update(&mut self, pos: u64) {
        if !self.enabled {
            return;
        }
        if self.bar.is_none() && self.start.elapsed().as_secs_f64() > 1.0 {
            let bar = indicatif::ProgressBar::new(self.total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            ) {
                bar.set_style(style);
            }
            self.bar = Some(bar);
        }
        if let Some(b) = &self.bar {
            b.set_position(pos);
        }
    }

    fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

pub fn run(files: &[PathBuf], c: &Common) -> Result<()> {
    let judge = crate::output::Judge::load(c)?;
    let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let mut set = FileSet::open(&paths)?;
    for f in &set.files {
        for lt in f.link_types() {
            if !LinkType(lt).is_supported() {
                bail!("{}: unsupported link type {lt}", f.path);
            }
        }
    }
    let (xout, writer) = match &c.exchanges {
        Some(p) => {
            let (o, w) = ExchangeOut::open(p)?;
            (Some(o), Some(w))
        }
        None => (None, None),
    };
    let started = Instant::now();
    let cfg = c.sensor_config();
    let max_endpoints = cfg.max_endpoints;
    let mut pipe = Pipeline::start(cfg, writer);
    pipe.set_files(set.backings.clone());
    let mut progress = Progress::new(set.total_bytes(), c.quiet);
    let (mut first, mut last) = (u64::MAX, 0u64);
    let mut n = 0u64;
    let mut held = Held::new(max_endpoints, c.fold_above as usize);
    let spec = judge.spec.as_ref();
    // The workers hand their inventories over at packet counts set by `Cadence`, to a
    // keeper thread that merges them (or folds them, past --fold-above) while the reading
    // goes on: memory stays bounded under a flood of literal paths, and what is handed over
    // when depends on the packets only, so the inventory does not depend on timing.
    let run = std::thread::scope(|scope| {
        let (handover, todo) = bounded::<Vec<Snapshot>>(1);
        let keeper = scope.spawn(|| {
            for parts in todo {
                held.add(Snapshot::merged(parts, max_endpoints).inventory, spec);
            }
        });
        let mut cadence = Cadence::default();
        let mut taking: Option<Taking> = None;
        while let Some(pkt) = set.next() {
            first = first.min(pkt.ts);
            last = last.max(pkt.ts);
            pipe.packet_file(pkt);
            n += 1;
            if n % 16384 == 0 {
                progress.update(set.position());
            }
            if n == cadence.next {
                // The previous hand-over is long done by now; its size sets the next period.
                let parts = taking.take().map(Taking::wait_parts);
                cadence.after(n, parts.as_deref().map(distinct_endpoints));
                if let Some(parts) = parts {
                    let _ = handover.send(parts);
                }
                taking = Some(pipe.take_later());
            }
        }
        progress.finish();
        if let Some(t) = taking.take() {
            let _ = handover.send(t.wait_parts());
        }
        let links = pipe.link_types.clone();
        let (mut snap, dispatch, written) = pipe.finish();
        let _ = handover.send(vec![Snapshot {
            inventory: std::mem::take(&mut snap.inventory),
            ..Snapshot::default()
        }]);
        drop(handover);
        let kept = keeper.join().is_ok();
        (dispatch, links, snap, written, kept)
    });
    let (dispatch, links, mut snap, written, kept) = run;
    written?;
    if !kept {
        bail!("the thread keeping the inventory panicked");
    }
    snap.inventory = held.base;
    let unknown = dispatch.anomalies[Anomaly::ALL
        .iter()
        .position(|a| *a == Anomaly::UnknownLinkType)
        .unwrap_or(0)];
    if dispatch.packets > 0 && unknown == dispatch.packets {
        bail!("{}: unsupported link type(s) {links:?}", paths.join(", "));
    }
    let totals = Totals::of(dispatch, set.stats(), None, &snap);
    let capture = CaptureInfo {
        mode: "replay".into(),
        sources: paths,
        first_packet: (first != u64::MAX).then(|| format_ts(first)),
        last_packet: (n > 0).then(|| format_ts(last)),
        link_types: links,
    };
    let doc = judge.document(&snap.inventory, capture, &totals)?;
    if let Some(x) = xout {
        x.commit()?;
    }
    publish(c, &doc, &totals, started)
}

/// When the workers hand their inventories over during a replay: every `period` packets,
/// the period halving while hand-overs hold many endpoints (a flood of literal paths,
/// handed over and folded often: bounded memory) and doubling while they hold few (steady
/// traffic: a hand-over costs a merge of what it holds). Decided from packet counts and
/// hand-over contents only, so the same capture gives the same hand-overs at any thread
/// count.
#[derive(Debug)]
struct Cadence {
    /// Packet count at which the next hand-over is asked for.
    next: u64,
    period: u64,
}

impl Cadence {
    const FIRST: u64 = 1 << 14;
    const MIN: u64 = 1 << 12;
    const MAX: u64 = 1 << 20;
    /// Distinct endpoints per hand-over above which the period halves.
    const MANY: usize = 4096;
    /// ... and below which it doubles.
    const FEW: usize = 1024;

    /// `now` packets were read; the last hand-over (none at the first) held `endpoints`.
    fn after(&mut self, now: u64, endpoints: Option<usize>) {
        match endpoints {
            Some(e) if e > Self::MANY => self.period = (self.period / 2).max(Self::MIN),
            Some(e) if e < Self::FEW => self.period = (self.period * 2).min(Self::MAX),
            _ => {}
        }
        self.next = now + self.period;
    }
}

impl Default for Cadence {
    fn default() -> Self {
        Cadence {
            next: Self::FIRST,
            period: Self::FIRST,
        }
    }
}

/// Distinct endpoints across the workers' hand-overs (a key is on one worker per flow, but
/// one endpoint is on many flows).
fn distinct_endpoints(parts: &[Snapshot]) -> usize {
    match parts {
        [one] => one.inventory.endpoints.len(),
        _ => parts
            .iter()
            .flat_map(|p| p.inventory.endpoints.keys())
            .collect::<std::collections::HashSet<_>>()
            .len(),
    }
}
