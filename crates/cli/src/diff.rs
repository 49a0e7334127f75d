//! `apitap diff --spec FILE inventory.json`: the inventory against a spec, for people and for
//! CI gates. The inventory's state is judged again, exactly as `replay --spec` would have
//! judged the traffic. Exits 3 when shadow or zombie endpoints exist (1 and 2 stay errors
//! and bad flags).

use anyhow::{Context, Result};
use apitap_inventory::{merge_documents, Document, Spec};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;

/// Returns whether the inventory is clean (no shadow, no zombie).
pub fn run(spec: &Spec, inventory: &Path, json_out: bool) -> Result<bool> {
    let doc = crate::output::read_inventory(inventory)?;
    let name = inventory.display().to_string();
    let (inv, capture, stats) =
        merge_documents([(name.as_str(), &doc)]).map_err(|e| anyhow::anyhow!("{e}"))?;
    let judged =
        Document::build_with_spec(&inv, Some(spec), capture, stats, crate::replay::now_ns());
    let d = judged.spec_diff.context("judging the inventory")?;
    let superseded: Vec<Value> = judged
        .endpoints
        .iter()
        .filter_map(|e| {
            let to = e.superseded_by.as_ref()?;
            Some(
                json!({"host": e.host, "method": e.method, "path": e.path, "hits": e.hits,
                        "superseded_by": to}),
            )
        })
        .collect();
    let clean = d.shadow.is_empty() && d.zombie.is_empty();
    let mut out = std::io::stdout().lock();
    if json_out {
        let mut v = serde_json::to_value(&d)?;
        v["superseded"] = Value::from(superseded);
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(clean);
    }
    writeln!(
        out,
        "{} ({}): {} operations documented",
        d.title, d.format, d.operations
    )?;
    if let Some(p) = &d.previous {
        writeln!(
            out,
            "previous revision {p}: {} operations removed since",
            d.removed_operations
        )?;
    }
    writeln!(
        out,
        "{} observed endpoints documented, {} shadow, {} zombie, {} orphan operations, \
         {} documented endpoints doing more than documented",
        d.documented,
        d.shadow.len(),
        d.zombie.len(),
        d.orphan.len(),
        d.undocumented.len()
    )?;
    for (title, rows) in [
        ("SHADOW (seen, not documented)", &d.shadow),
        ("ZOMBIE (deprecated or removed, still called)", &d.zombie),
    ] {
        if !rows.is_empty() {
            writeln!(out, "\n{title}")?;
            for r in rows {
                let why = r
                    .reason
                    .as_deref()
                    .map(|w| format!(", {w}"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "  {:<7} {}{}  ({} hits{why})",
                    r.method, r.host, r.path, r.hits
                )?;
            }
        }
    }
    if !d.undocumented.is_empty() {
        writeln!(out, "\nUNDOCUMENTED PARAMETERS AND STATUS CODES")?;
        for u in &d.undocumented {
            let mut what = Vec::new();
            if !u.query_params.is_empty() {
                what.push(format!("query {}", u.query_params.join(", ")));
            }
            if !u.status_codes.is_empty() {
                let codes: Vec<String> = u.status_codes.iter().map(u16::to_string).collect();
                what.push(format!("status {}", codes.join(", ")));
            }
            writeln!(
                out,
                "  {:<7} {}{}  {}",
                u.method,
                u.host,
                u.path,
                what.join("; ")
            )?;
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
    if !d.orphan.is_empty() {
        writeln!(out, "\nORPHAN (documented, never seen)")?;
        for o in &d.orphan {
            let dep = if o.deprecated { "  (deprecated)" } else { "" };
            writeln!(out, "  {:<7} {}{dep}", o.method, o.path)?;
        }
    }
    Ok(clean)
}
