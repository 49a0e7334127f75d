//! `apitap capture`: a live interface through the pipeline, with periodic inventory snapshots.

use crate::output::{publish, save};
use crate::replay::now_ns;
use crate::CaptureArgs;
use anyhow::{bail, Context, Result};
use apitap_capture::{LiveConfig, LiveSource};
use apitap_inventory::{format_ts, CaptureInfo};
use apitap_sensor::{Pipeline, Totals};
use apitap_wire::LinkType;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn run(a: &CaptureArgs) -> Result<()> {
    let c = &a.common;
    let judge = crate::output::Judge::load(c)?;
    let cfg = LiveConfig {
        iface: a.interface.clone(),
        bpf: a.bpf.clone(),
        snaplen: a.snaplen,
        ..LiveConfig::default()
    };
    let mut src = LiveSource::open(&cfg)?;
    if !LinkType(src.link()).is_supported() {
        bail!("{}: unsupported link type {}", a.interface, src.link());
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    let writer: Option<Box<dyn Write + Send>> = match &c.exchanges {
        Some(p) if p.as_os_str() == "-" => Some(Box::new(std::io::stdout())),
        Some(p) => Some(Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => None,
    };
    let started = Instant::now();
    let mut pipe = Pipeline::start(c.sensor_config(), writer);
    let flush_every = Duration::from_secs(a.flush_interval.max(1));
    let mut last_flush = Instant::now();
    let (mut first, mut last) = (u64::MAX, 0u64);
    let mut buf = Vec::with_capacity(65536);
    tracing::info!(iface = %a.interface, link = src.link(), "capturing");
    while !stop.load(Ordering::Relaxed)
        && a.duration.is_none_or(|d| started.elapsed().as_secs() < d)
    {
        buf.clear();
        match src.next_into(&mut buf)? {
            Some(pkt) => {
                first = first.min(pkt.ts);
                last = last.max(pkt.ts);
                pipe.packet_owned(pkt, &buf);
            }
            None => pipe.idle_tick(now_ns()),
        }
        if last_flush.elapsed() >= flush_every {
            last_flush = Instant::now();
            if c.output.is_some() || c.state.is_some() {
                let snap = pipe.snapshot();
                let totals = Totals::of(
                    pipe.stats.clone(),
                    Default::default(),
                    Some(src.stats()),
                    &snap,
                );
                let capture = capture_info(a, (first, last), pipe.link_types.clone());
                let doc = judge.document(&snap.inventory, capture, &totals)?;
                save(c, &doc)?;
            }
        }
    }
    let kernel = src.stats();
    let dispatch = pipe.stats.clone();
    let links = pipe.link_types.clone();
    let (snap, written) = pipe.finish();
    written.context("writing exchanges")?;
    let totals = Totals::of(dispatch, Default::default(), Some(kernel), &snap);
    let capture = capture_info(a, (first, last), links);
    let doc = judge.document(&snap.inventory, capture, &totals)?;
    publish(c, &doc, &totals, started)
}

fn capture_info(a: &CaptureArgs, (first, last): (u64, u64), links: Vec<u32>) -> CaptureInfo {
    CaptureInfo {
        mode: "live".into(),
        sources: vec![a.interface.clone()],
        first_packet: (first != u64::MAX).then(|| format_ts(first)),
        last_packet: (first != u64::MAX).then(|| format_ts(last)),
        link_types: links,
    }
}
