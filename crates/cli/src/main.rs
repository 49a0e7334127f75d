//! apitap: the command line. Parses flags, wires a packet source to the sensor pipeline and
//! writes the outputs. Thin: no protocol logic lives here.
//!
//! Invariants: a bad flag, a missing or corrupt file, an unsupported link type all end in one
//! line on stderr and a non-zero exit, never a backtrace; outputs are written atomically.
#![forbid(unsafe_code)]

mod diff;
mod findings;
mod held;
mod live;
mod merge;
mod metrics;
mod openapi;
mod output;
mod replay;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

/// Workers allocate many short-lived buffers per exchange (bodies, hits, records); mimalloc's
/// per-thread free lists make that about a tenth of the run cheaper than glibc's malloc.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::PathBuf;
use std::process::ExitCode;

/// Passive API discovery: watch a copy of the traffic, build an API inventory.
#[derive(Debug, Parser)]
#[command(name = "apitap", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
    /// Log format on stderr (level from RUST_LOG, default warn; capture logs at info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read pcap/pcapng files (merged in timestamp order) and write the inventory.
    Replay(ReplayArgs),
    /// Capture live from an interface through libpcap.
    Capture(CaptureArgs),
    /// Print the risk findings of an inventory file, worst first.
    Findings(FindingsArgs),
    /// Write the observed API of an inventory file as an OpenAPI 3.1 document.
    Openapi(OpenapiArgs),
    /// Compare an inventory file with an OpenAPI description; exit 3 on shadow or zombie
    /// endpoints.
    Diff(DiffArgs),
    /// Merge inventories from several sensors or days into one, as if their traffic had
    /// been replayed together.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
struct MergeArgs {
    /// Inventories written by `apitap replay`, `apitap capture` or `apitap merge`.
    #[arg(required = true, value_name = "INVENTORY")]
    inventories: Vec<PathBuf>,
    /// Where to write the merged inventory ("-" for stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
    #[command(flatten)]
    spec: SpecArgs,
    /// Endpoints held before the workers' next hand-over folds them with the templates
    /// learned so far (a flood of literal slugs then costs bounded memory, at some
    /// precision); below it the inventory is learned from everything seen at once.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    fold_above: u64,
    /// No summary on stderr.
    #[arg(short, long)]
    quiet: bool,
}

/// The API description to judge the traffic against.
#[derive(Debug, Args)]
struct SpecArgs {
    /// An OpenAPI description (2.0, 3.0 or 3.1; JSON or YAML) to compare the traffic with:
    /// endpoints become documented, shadow or zombie; unseen operations are orphans.
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// The previous revision of that description: operations it documents and `--spec`
    /// no longer does are zombies when still called.
    #[arg(long, value_name = "FILE", requires = "spec")]
    spec_previous: Option<PathBuf>,
}

impl SpecArgs {
    /// The spec, with its previous revision folded in; errors name the file.
    fn load(&self) -> anyhow::Result<Option<apitap_inventory::Spec>> {
        let read = |p: &std::path::Path| -> anyhow::Result<apitap_inventory::Spec> {
            let text =
                std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            apitap_inventory::Spec::parse(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
        };
        let Some(p) = &self.spec else {
            return Ok(None);
        };
        let spec = read(p)?;
        Ok(Some(match &self.spec_previous {
            Some(old) => spec.with_previous(read(old)?),
            None => spec,
        }))
    }
}

#[derive(Debug, Args)]
struct DiffArgs {
    /// The OpenAPI description (2.0, 3.0 or 3.1; JSON or YAML).
    #[arg(long, value_name = "FILE")]
    spec: PathBuf,
    /// Its previous revision: operations dropped since then and still called are zombies.
    #[arg(long, value_name = "FILE")]
    spec_previous: Option<PathBuf>,
    /// An inventory written by `apitap replay` or `apitap capture`.
    #[arg(value_name = "INVENTORY")]
    inventory: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Args)]
struct OpenapiArgs {
    /// An inventory written by `apitap replay` or `apitap capture`.
    #[arg(value_name = "INVENTORY")]
    inventory: PathBuf,
    /// Where to write it: YAML, or JSON when the name ends in `.json` ("-" for stdout, YAML).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum MinSeverity {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Args)]
struct FindingsArgs {
    /// An inventory written by `apitap replay` or `apitap capture`.
    #[arg(value_name = "INVENTORY")]
    inventory: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Only findings at or above this severity.
    #[arg(long, value_enum, default_value_t = MinSeverity::Low)]
    min_severity: MinSeverity,
}

/// Options shared by replay and capture.
#[derive(Debug, Args)]
struct Common {
    /// Write the inventory JSON here ("-" for stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Write one JSON object per HTTP exchange here ("-" for stdout).
    #[arg(long, value_name = "FILE")]
    exchanges: Option<PathBuf>,
    /// Worker threads (default: number of cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
    /// Extra UDP port carrying VXLAN (4789 and 8472 are always decoded).
    #[arg(long = "vxlan-port", value_name = "PORT")]
    vxlan_ports: Vec<u16>,
    /// Body bytes kept per message for analysis.
    #[arg(long, value_name = "BYTES", default_value_t = 65536)]
    body_cap: usize,
    /// TCP flows tracked at once (about 1 KB each, plus what their messages hold); new
    /// flows beyond it are dropped and counted (stats.dropped.flows_dropped_table_full).
    #[arg(long, value_name = "N", default_value_t = 131_072, value_parser = clap::value_parser!(u64).range(1..=1 << 26))]
    max_flows: u64,
    /// Close TCP flows idle this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    idle_timeout: u64,
    #[command(flatten)]
    spec: SpecArgs,
    /// Keep accumulating in this inventory file: read at start when it exists (what it
    /// learned carries on), rewritten atomically at every snapshot and at exit.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Which bodies get the full sensitive-data scan: "adaptive" scans the first exchange
    /// of each endpoint on each connection (unless other connections made it known), one
    /// in 16 after it, and every body holding a field name or value anchor not seen there
    /// before; "all" scans every body.
    #[arg(long, value_name = "MODE", default_value = "adaptive", value_parser = ["adaptive", "all"])]
    scan: String,
    /// Packets per epoch of the workers' pooled scan knowledge (for tests).
    #[arg(long, value_name = "PACKETS", hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    scan_epoch: Option<u64>,
    /// Endpoints held before the workers' next hand-over folds them with the templates
    /// learned so far (a flood of literal slugs then costs bounded memory, at some
    /// precision); below it the inventory is learned from everything seen at once.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    fold_above: u64,
    /// No summary on stderr.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    /// Capture files (pcap or pcapng).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).multiple(true)
    .args(["interface", "listen_vxlan", "listen_geneve"])))]
struct CaptureArgs {
    /// Interface to capture on (a SPAN port, a mirror target's NIC).
    #[arg(short, long, value_name = "IFACE")]
    interface: Option<String>,
    /// Mirror-target mode: receive VXLAN-encapsulated mirror traffic on this UDP address
    /// (AWS VPC Traffic Mirroring: 0.0.0.0:4789; Azure VNet TAP: the port you chose). No
    /// promiscuous capture, no privilege beyond binding the port. Repeatable.
    #[arg(long, value_name = "ADDR:PORT")]
    listen_vxlan: Vec<std::net::SocketAddr>,
    /// Mirror-target mode for GENEVE-encapsulated traffic (GCP, AWS Gateway Load Balancer:
    /// 0.0.0.0:6081). Repeatable.
    #[arg(long, value_name = "ADDR:PORT")]
    listen_geneve: Vec<std::net::SocketAddr>,
    /// BPF filter expression for the interface, e.g. "tcp port 80".
    #[arg(long, value_name = "EXPR", requires = "interface")]
    bpf: Option<String>,
    /// Capture sockets on the interface, sharing it through kernel flow-hash fanout
    /// (default: --threads).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    capture_threads: Option<u16>,
    /// Kernel ring buffer per capture socket, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    ring_mib: u32,
    /// Write the inventory every N seconds (and at exit).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    flush_interval: u64,
    /// Stop after N seconds (default: run until SIGINT/SIGTERM).
    #[arg(long, value_name = "SECS")]
    duration: Option<u64>,
    /// Bytes captured per packet.
    #[arg(long, default_value_t = 65535, value_parser = clap::value_parser!(i32).range(64..=262_144))]
    snaplen: i32,
    /// Serve Prometheus metrics on /metrics and a liveness check on /healthz here,
    /// e.g. 127.0.0.1:9090.
    #[arg(long, value_name = "ADDR:PORT")]
    metrics: Option<std::net::SocketAddr>,
    /// After opening the capture sockets, drop root and run as this user.
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Rotate the --exchanges file when it grows past this size (e.g. 500M, 2G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, requires = "exchanges")]
    exchanges_max_size: Option<u64>,
    /// Rotated exchanges files kept (FILE.1 ... FILE.N).
    #[arg(long, value_name = "N", default_value_t = 10)]
    exchanges_keep: u32,
    #[command(flatten)]
    common: Common,
}

/// A byte size with an optional K, M or G suffix (powers of 1024).
fn parse_size(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.trim().chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M') => (&s[..s.len() - 1], 1 << 20),
        Some('G') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n >= 4096)
        .ok_or_else(|| format!("{s:?} is not a size of at least 4096 bytes (e.g. 500M)"))
}

impl Common {
    fn sensor_config(&self) -> apitap_sensor::SensorConfig {
        let mut cfg = apitap_sensor::SensorConfig::default();
        if let Some(t) = self.threads {
            cfg.threads = t as usize;
        }
        cfg.decode
            .vxlan_ports
            .extend(self.vxlan_ports.iter().copied());
        cfg.http.body_sample = self.body_cap;
        cfg.flow.max_flows = self.max_flows as usize;
        cfg.flow.idle_timeout_ns = self.idle_timeout.saturating_mul(1_000_000_000);
        cfg.scan = if self.scan == "all" {
            apitap_sensor::ScanMode::All
        } else {
            apitap_sensor::ScanMode::Adaptive
        };
        if let Some(e) = self.scan_epoch {
            cfg.scan_epoch = e;
        }
        cfg
    }
}

fn main() -> ExitCode {
    // Transparent huge pages off for this process: where the system has them always on,
    // each 2 MiB of heap the allocator touches is zeroed in one go, and memory it gives
    // back returns the same way. On the real benchmark capture that cost 0.2 s of kernel
    // time and 30 MB of peak RSS, for no speed. Best effort: nothing else depends on it.
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let level = if matches!(cli.cmd, Command::Capture(_)) {
        "info"
    } else {
        "warn"
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match cli.log_format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().flatten_event(true).try_init(),
    };
    let result = match cli.cmd {
        Command::Replay(a) => replay::run(&a.files, &a.common),
        Command::Capture(a) => live::run(&a),
        Command::Openapi(a) => openapi::run(&a.inventory, &a.output),
        Command::Diff(a) => {
            let spec = SpecArgs {
                spec: Some(a.spec),
                spec_previous: a.spec_previous,
            };
            let json = matches!(a.format, Format::Json);
            match spec
                .load()
                .and_then(|s| diff::run(&s.context("a spec is required")?, &a.inventory, json))
            {
                Ok(true) => Ok(()),
                Ok(false) => return ExitCode::from(3),
                Err(e) => Err(e),
            }
        }
        Command::Merge(a) => a
            .spec
            .load()
            .and_then(|s| merge::run(&a.inventories, &a.output, s.as_ref(), a.quiet)),
        Command::Findings(a) => {
            use apitap_inventory::Severity;
            let min = match a.min_severity {
                MinSeverity::Low => Severity::Low,
                MinSeverity::Medium => Severity::Medium,
                MinSeverity::High => Severity::High,
                MinSeverity::Critical => Severity::Critical,
            };
            findings::run(&a.inventory, matches!(a.format, Format::Json), min)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("apitap: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
