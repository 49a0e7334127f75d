//! `apitap findings`: the risks of an inventory file, worst first, as a table or JSON.

use anyhow::Result;
use apitap_inventory::{Finding, Severity};
use std::io::Write;
use std::path::Path;

fn sev_name(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRITICAL",
        Severity::High => "HIGH",
        Severity::Medium => "MEDIUM",
        Severity::Low => "LOW",
    }
}

/// Print the findings of `path` at or above `min`.
pub fn run(path: &Path, json: bool, min: Severity) -> Result<()> {
    let doc = crate::output::read_inventory(path)?;
    let mut list: Vec<&Finding> = doc.findings.iter().filter(|f| f.severity >= min).collect();
    list.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &list)?;
        writeln!(out)?;
        return Ok(());
    }
    if list.is_empty() {
        writeln!(out, "no findings")?;
        return Ok(());
    }
    let ep: Vec<String> = list
        .iter()
        .map(|f| format!("{} {}{}", f.method, f.host, f.path))
        .collect();
    let w = ep.iter().map(String::len).max().unwrap_or(8).min(60);
    writeln!(
        out,
        "{:<8}  {:<28}  {:<w$}  OWASP",
        "SEVERITY", "RULE", "ENDPOINT"
    )?;
    for (f, e) in list.iter().zip(&ep) {
        writeln!(
            out,
            "{:<8}  {:<28}  {:<w$}  {}",
            sev_name(f.severity),
            f.rule,
            e,
            f.owasp
        )?;
        writeln!(out, "          {}", f.title)?;
        if !f.evidence.is_empty() {
            writeln!(out, "          evidence: {}", f.evidence)?;
        }
    }
    let count = |s| list.iter().filter(|f| f.severity == s).count();
    writeln!(
        out,
        "\n{} findings: {} critical, {} high, {} medium, {} low",
        list.len(),
        count(Severity::Critical),
        count(Severity::High),
        count(Severity::Medium),
        count(Severity::Low)
    )?;
    Ok(())
}
