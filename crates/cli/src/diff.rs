//! `apitap diff --spec FILE inventory.json`: the inventory against a spec, for people and for
//! CI gates. Exits 3 when shadow or zombie endpoints exist (1 and 2 stay errors and bad flags).

use anyhow::{Context, Result};
use apitap_inventory::{judge, Spec};
use serde_json::json;
use std::io::Write;
use std::path::Path;

/// Returns whether the inventory is clean (no shadow, no zombie).
pub fn run(spec_path: &Path, inventory: &Path, json_out: bool) -> Result<bool> {
    let text = std::fs::read_to_string(spec_path)
        .with_context(|| format!("reading {}", spec_path.display()))?;
    let spec = Spec::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", spec_path.display()))?;
    let doc = crate::output::read_inventory(inventory)?;
    let (mut shadow, mut zombie, mut documented, mut superseded) =
        (Vec::new(), Vec::new(), 0, Vec::new());
    let mut matched = std::collections::BTreeSet::new();
    for e in &doc.endpoints {
        let v = judge(&spec, &e.method, &e.path);
        let row = json!({"host": e.host, "method": e.method, "path": e.path, "hits": e.hits,
                         "superseded_by": v.superseded_by.clone().or(e.superseded_by.clone())});
        if let Some(p) = &v.spec_path {
            matched.insert((e.method.to_ascii_uppercase(), p.clone()));
        }
        if row["superseded_by"].is_string() {
            superseded.push(row.clone());
        }
        match v.status {
            "documented" => documented += 1,
            "zombie" => zombie.push(row),
            _ => shadow.push(row),
        }
    }
    let orphan: Vec<_> = spec
        .ops
        .iter()
        .filter(|o| !matched.contains(&(o.method.clone(), o.path.clone())))
        .map(|o| json!({"method": o.method, "path": o.path, "deprecated": o.deprecated, "operation_id": o.operation_id}))
        .collect();
    let clean = shadow.is_empty() && zombie.is_empty();
    let mut out = std::io::stdout().lock();
    if json_out {
        let v = json!({"spec": {"title": spec.title, "format": spec.format, "operations": spec.ops.len()},
                       "documented": documented, "shadow": shadow, "zombie": zombie, "orphan": orphan,
                       "superseded": superseded});
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(clean);
    }
    writeln!(
        out,
        "{} ({}): {} operations documented",
        spec.title,
        spec.format,
        spec.ops.len()
    )?;
    writeln!(
        out,
        "{documented} observed endpoints documented, {} shadow, {} zombie, {} orphan operations",
        shadow.len(),
        zombie.len(),
        orphan.len()
    )?;
    for (title, rows) in [
        ("SHADOW (seen, not documented)", &shadow),
        ("ZOMBIE (deprecated, still called)", &zombie),
    ] {
        if !rows.is_empty() {
            writeln!(out, "\n{title}")?;
            for r in rows.iter() {
                writeln!(
                    out,
                    "  {:<7} {}{}  ({} hits)",
                    r["method"].as_str().unwrap_or(""),
                    r["host"].as_str().unwrap_or(""),
                    r["path"].as_str().unwrap_or(""),
                    r["hits"]
                )?;
            }
        }
    }
    if !superseded.is_empty() {
        writeln!(out, "\nOUTDATED VERSIONS STILL CALLED")?;
        for r in &superseded {
            writeln!(
                out,
                "  {:<7} {}  -> {}",
                r["method"].as_str().unwrap_or(""),
                r["path"].as_str().unwrap_or(""),
                r["superseded_by"].as_str().unwrap_or("")
            )?;
        }
    }
    if !orphan.is_empty() {
        writeln!(out, "\nORPHAN (documented, never seen)")?;
        for o in &orphan {
            writeln!(
                out,
                "  {:<7} {}{}",
                o["method"].as_str().unwrap_or(""),
                o["path"].as_str().unwrap_or(""),
                if o["deprecated"] == true {
                    "  (deprecated)"
                } else {
                    ""
                }
            )?;
        }
    }
    Ok(clean)
}
