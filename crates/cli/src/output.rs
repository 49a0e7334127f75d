//! Output files (written atomically: temp file, fsync, rename) and the stderr summary.

use anyhow::{Context, Result};
use apitap_inventory::{CaptureInfo, Document, Inventory, Merged, Spec};
use apitap_sensor::Totals;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// A file that appears under its name only once complete.
///
/// Only a regular file (or a new name) is replaced that way. An existing device, FIFO or
/// socket (`/dev/null`, a named pipe to another program, `/dev/stdout`) is written in
/// place: renaming over it would replace the device itself with a file.
pub struct AtomicFile {
    /// The temp file renamed over `dest` on commit; `None` when writing `dest` in place.
    tmp: Option<PathBuf>,
    dest: PathBuf,
    file: Option<File>,
}

/// `p` names something that is neither a regular file nor a directory.
fn is_special(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

impl AtomicFile {
    pub fn create(dest: &Path) -> Result<AtomicFile> {
        if is_special(dest) {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(dest)
                .with_context(|| format!("cannot open {}", dest.display()))?;
            return Ok(AtomicFile {
                tmp: None,
                dest: dest.to_path_buf(),
                file: Some(file),
            });
        }
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let tmp = dest.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let file =
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        Ok(AtomicFile {
            tmp: Some(tmp),
            dest: dest.to_path_buf(),
            file: Some(file),
        })
    }

    /// A second handle writing to the same temp file (for a writer thread).
    pub fn handle(&self) -> Result<File> {
        self.file
            .as_ref()
            .context("file already committed")?
            .try_clone()
            .context("cannot clone file handle")
    }

    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take();
        let Some(tmp) = self.tmp.take() else {
            // Written in place: a device or pipe has nothing to sync or rename.
            return Ok(());
        };
        if let Some(f) = file {
            f.sync_all()
                .with_context(|| format!("cannot write {}", tmp.display()))?;
        }
        std::fs::rename(&tmp, &self.dest)
            .with_context(|| format!("cannot rename to {}", self.dest.display()))
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let (Some(_), Some(tmp)) = (&self.file, &self.tmp) {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

fn is_stdout(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Where exchange records go: stdout, an atomic file, or nowhere.
pub enum ExchangeOut {
    Stdout,
    /// The file, and the thread syncing it early (a temp file only).
    File(
        AtomicFile,
        Option<std::thread::JoinHandle<std::io::Result<()>>>,
    ),
}

impl ExchangeOut {
    pub fn open(p: &Path) -> Result<(ExchangeOut, Box<dyn Write + Send>)> {
        if is_stdout(p) {
            return Ok((ExchangeOut::Stdout, Box::new(std::io::stdout())));
        }
        let f = AtomicFile::create(p)?;
        let h = f.handle()?;
        if f.tmp.is_none() {
            return Ok((ExchangeOut::File(f, None), Box::new(h)));
        }
        let (kick, kicks) = crossbeam_channel::bounded::<()>(1);
        let syncing = f.handle()?;
        let syncer = std::thread::Builder::new()
            .name("apitap-sync".into())
            .spawn(move || {
                for () in kicks {
                    syncing.sync_data()?;
                }
                Ok(())
            })
            .context("cannot start a thread")?;
        let w = EarlySync {
            file: h,
            since: 0,
            kick,
        };
        Ok((ExchangeOut::File(f, Some(syncer)), Box::new(w)))
    }

    /// Sync and rename the file. The writer handed out by `open` must be dropped by now.
    pub fn commit(self) -> Result<()> {
        match self {
            ExchangeOut::Stdout => Ok(()),
            ExchangeOut::File(f, syncer) => {
                if let Some(s) = syncer {
                    let synced = s.join().unwrap_or_else(|_| {
                        Err(std::io::Error::other("the syncing thread panicked"))
                    });
                    synced.with_context(|| format!("cannot write {}", f.dest.display()))?;
                }
                f.commit()
            }
        }
    }
}

/// Bytes written to an exchanges file between two early syncs.
const EARLY_SYNC_BYTES: u64 = 32 << 20;

/// The writer of an exchanges temp file, having the kernel put it on disk as it grows:
/// every `EARLY_SYNC_BYTES` a thread syncs what is written so far, so that the fsync
/// before the rename waits for the last stretch only, not for the whole file (a
/// 177 MB file took 49 ms to sync at the end of a one-second replay). A failed early sync
/// fails the commit: the error is reported once per open file, so the commit's own fsync
/// might not see it again.
struct EarlySync {
    file: File,
    since: u64,
    kick: crossbeam_channel::Sender<()>,
}

impl Write for EarlySync {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(b)?;
        self.since += n as u64;
        if self.since >= EARLY_SYNC_BYTES {
            self.since = 0;
            // A sync still running covers part of this stretch; the next kick the rest.
            let _ = self.kick.try_send(());
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// What every document of a run is built with: the spec (`--spec`, `--spec-previous`) and
/// the `--state` file read at start, decoded once.
pub struct Judge {
    pub spec: Option<Spec>,
    previous: Option<Merged>,
}

impl Judge {
    /// Both checked before anything runs; errors name their file.
    pub fn load(c: &crate::Common) -> Result<Judge> {
        Ok(Judge {
            spec: c.spec.load()?,
            previous: load_state(c)?,
        })
    }

    /// Read the spec files again (SIGHUP); on error the old spec stays and the error is
    /// returned for the log.
    pub fn reload_spec(&mut self, c: &crate::Common) -> Result<()> {
        self.spec = c.spec.load()?;
        Ok(())
    }

    /// The inventory document of the run so far, stamped now; with a `--state` file, what
    /// both add up to, as `apitap merge` would give.
    pub fn document(
        &self,
        inv: &Inventory,
        capture: CaptureInfo,
        totals: &Totals,
    ) -> Result<Document> {
        let (spec, now) = (self.spec.as_ref(), crate::replay::now_ns());
        let Some(prev) = &self.previous else {
            return Ok(Document::build_with_spec(
                inv,
                spec,
                capture,
                totals.to_json(),
                now,
            ));
        };
        let mut all = prev.clone();
        all.add(inv, &capture, &totals.to_json());
        Ok(Document::build_with_spec(
            &all.inventory,
            spec,
            all.capture,
            all.stats,
            now,
        ))
    }
}

/// The `--state` file, when given and present, decoded (an inventory with a state this
/// version reads).
fn load_state(c: &crate::Common) -> Result<Option<Merged>> {
    let Some(p) = c.state.as_ref().filter(|p| p.exists()) else {
        return Ok(None);
    };
    let doc = read_inventory(p)?;
    let mut m = Merged::default();
    m.add_document(&p.display().to_string(), &doc)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Some(m))
}

/// A snapshot: the inventory to `-o` and to `--state`, each when given.
pub fn save(c: &crate::Common, doc: &Document) -> Result<()> {
    for p in [&c.output, &c.state].into_iter().flatten() {
        write_inventory(p, doc)?;
    }
    Ok(())
}

/// The end of a run: the inventory to `-o` and `--state` if given, the summary on stderr
/// unless `-q`.
pub fn publish(
    c: &crate::Common,
    doc: &Document,
    totals: &Totals,
    started: std::time::Instant,
) -> Result<()> {
    save(c, doc)?;
    if !c.quiet {
        eprint!("{}", summary(doc, totals, started.elapsed().as_secs_f64()));
    }
    let failed = totals.dispatch.workers_failed;
    if failed > 0 {
        // The outputs were written (the other workers' results stand), but they are not
        // the whole of the input: say so, and fail the run.
        anyhow::bail!(
            "{failed} worker thread(s) stopped on an internal error (a bug; the message is \
             above): their flows are missing from the outputs (stats.dropped.workers_failed)"
        );
    }
    Ok(())
}

/// Write the inventory document to `p` ("-" = stdout).
pub fn write_inventory(p: &Path, doc: &Document) -> Result<()> {
    // Streamed: the document of a large inventory (its state holds every raw endpoint) is
    // tens of megabytes, and a copy of it in memory would count towards the peak.
    let emit = |w: &mut dyn Write| -> std::io::Result<()> {
        let mut w = std::io::BufWriter::with_capacity(1 << 16, w);
        serde_json::to_writer_pretty(&mut w, doc)?;
        w.write_all(b"\n")?;
        w.flush()
    };
    if is_stdout(p) {
        return emit(&mut std::io::stdout().lock()).context("writing to stdout");
    }
    let mut f = AtomicFile::create(p)?;
    emit(f.file.as_mut().context("file already committed")?)
        .with_context(|| format!("cannot write {}", p.display()))?;
    f.commit()
}

/// Read an inventory file written by `replay` or `capture`: one-line errors for a missing
/// file, something that is not an inventory, or another format version.
pub fn read_inventory(path: &Path) -> Result<Document> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let doc: Document = serde_json::from_slice(&raw)
        .map_err(|e| anyhow::anyhow!("{} is not an apitap inventory: {e}", path.display()))?;
    if doc.apitap_inventory != apitap_inventory::DOC_VERSION {
        anyhow::bail!(
            "{}: inventory format {} is not supported (expected {})",
            path.display(),
            doc.apitap_inventory,
            apitap_inventory::DOC_VERSION
        );
    }
    Ok(doc)
}

/// Write `bytes` to `p` atomically (temp file, fsync, rename), or to stdout for "-".
pub fn write_atomic(p: &Path, bytes: &[u8]) -> Result<()> {
    let text = bytes;
    if is_stdout(p) {
        let mut out = std::io::stdout().lock();
        out.write_all(text).context("writing to stdout")?;
        return out.flush().context("writing to stdout");
    }
    let mut f = AtomicFile::create(p)?;
    f.file
        .as_mut()
        .context("file already committed")?
        .write_all(text)
        .with_context(|| format!("cannot write {}", p.display()))?;
    f.commit()
}

fn human_bytes(n: u64) -> String {
    const U: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < U.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

/// The short human summary printed on stderr.
pub fn summary(doc: &Document, t: &Totals, secs: f64) -> String {
    let d = &t.dispatch;
    let mut s = format!(
        "apitap: {} packets ({}) in {:.2} s, {} TCP flows, {} HTTP exchanges, {} endpoints on {} hosts\n",
        d.packets,
        human_bytes(d.bytes),
        secs,
        t.flow.flows,
        t.http.exchanges,
        doc.endpoints.len(),
        doc.hosts.len()
    );
    let mut hosts = doc.hosts.clone();
    hosts.sort_by(|a, b| b.hits.cmp(&a.hits).then(a.host.cmp(&b.host)));
    for h in hosts.iter().take(10) {
        s.push_str(&format!(
            "  {:<40} {:>5} endpoints {:>8} hits\n",
            h.host, h.endpoints, h.hits
        ));
    }
    if hosts.len() > 10 {
        s.push_str(&format!("  ... and {} more hosts\n", hosts.len() - 10));
    }
    let mut top: Vec<_> = doc.endpoints.iter().collect();
    top.sort_by(|a, b| {
        b.hits
            .cmp(&a.hits)
            .then((&a.host, &a.path).cmp(&(&b.host, &b.path)))
    });
    if !top.is_empty() {
        s.push_str("top endpoints:\n");
        for e in top.iter().take(10) {
            s.push_str(&format!(
                "  {:>8}  {:<7} {}{}\n",
                e.hits, e.method, e.host, e.path
            ));
        }
    }
    let sensitive = doc.endpoints.iter().filter(|e| !e.pii.is_empty()).count();
    if sensitive > 0 {
        s.push_str(&format!("sensitive data on {sensitive} endpoints\n"));
    }
    if !doc.findings.is_empty() {
        use apitap_inventory::Severity;
        let n = |sev| doc.findings.iter().filter(|f| f.severity == sev).count();
        s.push_str(&format!(
            "findings: {} critical, {} high, {} medium, {} low (apitap findings FILE)\n",
            n(Severity::Critical),
            n(Severity::High),
            n(Severity::Medium),
            n(Severity::Low)
        ));
    }
    if !doc.encrypted_services.is_empty() {
        let sni: std::collections::BTreeSet<&String> = doc
            .encrypted_services
            .iter()
            .flat_map(|e| e.sni.keys())
            .collect();
        s.push_str(&format!(
            "TLS: {} services, {} server names (encrypted_services)\n",
            doc.encrypted_services.len(),
            sni.len()
        ));
    }
    if let Some(d) = &doc.spec_diff {
        s.push_str(&format!(
            "spec {}: {} documented, {} shadow, {} zombie, {} orphan\n",
            d.title,
            d.documented,
            d.shadow.len(),
            d.zombie.len(),
            d.orphan.len()
        ));
    }
    let dropped = t.dropped();
    if dropped.is_empty() {
        s.push_str("nothing dropped\n");
    } else {
        let parts: Vec<String> = dropped.iter().map(|(k, n)| format!("{k}={n}")).collect();
        s.push_str(&format!("dropped or damaged: {}\n", parts.join(" ")));
    }
    s
}

/// The exchanges file of a live capture: appended to (a restart keeps what is there),
/// rotated when it grows past a size (`path` → `path.1` → ... → `path.KEEP`, the oldest
/// deleted), and reopened on request (SIGHUP, after an external logrotate moved it).
/// Writes arrive from the exchange writer's buffer as whole lines, so rotation never splits
/// a record.
pub struct RotatingFile {
    path: PathBuf,
    file: File,
    size: u64,
    max: Option<u64>,
    keep: u32,
    reopen: Arc<AtomicBool>,
    pub rotations: Arc<AtomicU64>,
}

impl RotatingFile {
    pub fn open(
        path: &Path,
        max: Option<u64>,
        keep: u32,
        reopen: Arc<AtomicBool>,
    ) -> Result<RotatingFile> {
        let (file, size) = open_append(path)?;
        // Only a regular file is rotated: renaming a device or a pipe would move it.
        let regular = file.metadata().is_ok_and(|m| m.is_file());
        Ok(RotatingFile {
            path: path.to_path_buf(),
            file,
            size,
            max: max.filter(|_| regular),
            keep: keep.max(1),
            reopen,
            rotations: Arc::default(),
        })
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file.sync_all()?;
        let _ = std::fs::remove_file(self.numbered(self.keep));
        for n in (1..self.keep).rev() {
            let _ = std::fs::rename(self.numbered(n), self.numbered(n + 1));
        }
        std::fs::rename(&self.path, self.numbered(1))?;
        self.reopen_now()?;
        self.rotations.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn reopen_now(&mut self) -> std::io::Result<()> {
        let (f, size) = open_append(&self.path).map_err(std::io::Error::other)?;
        (self.file, self.size) = (f, size);
        Ok(())
    }
}

fn open_append(p: &Path) -> Result<(File, u64)> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .with_context(|| format!("cannot open {} for appending", p.display()))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((f, size))
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.reopen.swap(false, Ordering::Relaxed) {
            self.reopen_now()?;
        }
        if self
            .max
            .is_some_and(|m| self.size > 0 && self.size + buf.len() as u64 > m)
        {
            self.rotate()?;
        }
        self.file.write_all(buf)?;
        self.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new empty directory of this test process, named after `tag`.
    fn empty_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("apitap-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn an_exchanges_file_synced_early_is_whole_and_renamed_at_commit() {
        let dir = empty_dir("sync");
        let path = dir.join("x.jsonl");
        let (out, mut w) = ExchangeOut::open(&path).expect("open");
        assert!(
            matches!(out, ExchangeOut::File(_, Some(_))),
            "a syncing thread"
        );
        // Past two early syncs, in lines of uneven length.
        let mut want = 0u64;
        let mut i = 0u64;
        while want < 2 * EARLY_SYNC_BYTES + 12345 {
            let line = format!(
                "{{\"n\":{i},\"pad\":\"{}\"}}\n",
                "x".repeat((i % 997) as usize)
            );
            w.write_all(line.as_bytes()).expect("write");
            want += line.len() as u64;
            i += 1;
        }
        assert!(!path.exists(), "not under its name before the commit");
        drop(w);
        out.commit().expect("commit");
        let got = std::fs::read(&path).expect("renamed");
        assert_eq!(got.len() as u64, want);
        let text = String::from_utf8(got).expect("text");
        assert_eq!(text.lines().count() as u64, i, "every line");
        let last = text.lines().last().unwrap_or_default();
        assert!(last.starts_with(&format!("{{\"n\":{},", i - 1)), "{last}");
        let left: Vec<_> = std::fs::read_dir(&dir).expect("dir").flatten().collect();
        assert_eq!(left.len(), 1, "no temp file left");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn rotation_keeps_whole_records_and_the_newest_files() {
        let dir = empty_dir("rot");
        let path = dir.join("x.jsonl");
        std::fs::write(&path, "old\n").expect("existing file");
        let reopen = Arc::new(AtomicBool::new(false));
        let mut f = RotatingFile::open(&path, Some(100), 2, reopen.clone()).expect("open");
        // Whole lines, as the exchange writer's buffer hands them over.
        for i in 0..20 {
            f.write_all(format!("{{\"n\":{i:02},\"pad\":\"0123456789\"}}\n").as_bytes())
                .expect("write");
        }
        f.flush().expect("flush");
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let (cur, one, two) = (
            read(&path),
            read(&dir.join("x.jsonl.1")),
            read(&dir.join("x.jsonl.2")),
        );
        assert!(
            !dir.join("x.jsonl.3").exists(),
            "only two rotated files are kept"
        );
        for file in [&cur, &one, &two] {
            assert!(file.len() <= 100, "{file}");
            assert!(file
                .lines()
                .all(|l| l.starts_with("{\"n\":") && l.ends_with('}')));
        }
        // The newest records, in order, with none missing between the kept files.
        let all: Vec<u32> = [&two, &one, &cur]
            .iter()
            .flat_map(|t| t.lines())
            .map(|l| l[5..7].parse().expect("n"))
            .collect();
        assert_eq!(*all.last().expect("records"), 19);
        assert!(all.windows(2).all(|w| w[1] == w[0] + 1), "{all:?}");
        assert_eq!(f.rotations.load(Ordering::Relaxed), 6);
        assert_eq!(all, (12..20).collect::<Vec<u32>>());
        // Moved away and reopened on request: the next write makes a new file.
        std::fs::rename(&path, dir.join("moved")).expect("move");
        reopen.store(true, Ordering::Relaxed);
        f.write_all(b"{\"n\":20}\n").expect("write");
        assert_eq!(read(&path), "{\"n\":20}\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
