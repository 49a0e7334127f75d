//! `apitap replay`: capture files through the pipeline.

use crate::output::{publish, ExchangeOut};
use crate::Common;
use anyhow::{bail, Result};
use apitap_capture::FileSet;
use apitap_inventory::{format_ts, CaptureInfo};
use apitap_sensor::{Pipeline, Totals};
use apitap_wire::{Anomaly, LinkType};
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
    let mut pipe = Pipeline::start(c.sensor_config(), writer);
    pipe.set_files(set.backings.clone());
    let mut progress = Progress::new(set.total_bytes(), c.quiet);
    let (mut first, mut last) = (u64::MAX, 0u64);
    let mut n = 0u64;
    while let Some(pkt) = set.next() {
        first = first.min(pkt.ts);
        last = last.max(pkt.ts);
        pipe.packet_file(pkt);
        n += 1;
        if n % 16384 == 0 {
            progress.update(set.position());
        }
    }
    progress.finish();
    let dispatch = pipe.stats.clone();
    let links = pipe.link_types.clone();
    let (snap, written) = pipe.finish();
    written?;
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
