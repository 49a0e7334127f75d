//! `apitap merge A.json B.json ... -o ALL.json`: inventories from several sensors or days,
//! combined from the state each one carries, as if their traffic had been replayed together
//! (hits add, first and last seen combine, templates are learned again over the union).

use anyhow::Result;
use apitap_inventory::{merge_documents, Document, Spec};
use std::path::{Path, PathBuf};

pub fn run(inputs: &[PathBuf], output: &Path, spec: Option<&Spec>, quiet: bool) -> Result<()> {
    let docs = inputs
        .iter()
        .map(|p| crate::output::read_inventory(p).map(|d| (p.display().to_string(), d)))
        .collect::<Result<Vec<_>>>()?;
    let (inv, capture, stats) = merge_documents(docs.iter().map(|(n, d)| (n.as_str(), d)))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let doc = Document::build_with_spec(&inv, spec, capture, stats, crate::replay::now_ns());
    crate::output::write_inventory(output, &doc)?;
    if !quiet {
        let hits: u64 = doc.endpoints.iter().map(|e| e.hits).sum();
        eprintln!(
            "apitap: merged {} inventor{}: {} endpoints on {} hosts, {hits} requests, {} findings",
            inputs.len(),
            if inputs.len() == 1 { "y" } else { "ies" },
            doc.endpoints.len(),
            doc.hosts.len(),
            doc.findings.len()
        );
    }
    Ok(())
}
