//! The inventory document: the JSON contract other tools read (docs/inventory.md).

use crate::endpoint::{Endpoint, Inventory};
use crate::findings::{findings, Finding};
use crate::services::{EncryptedService, Unparsed};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, UNIX_EPOCH};

/// Version of the document format; bumped only for incompatible changes.
pub const DOC_VERSION: u32 = 1;

/// RFC 3339 UTC with microseconds.
pub fn format_ts(ns: u64) -> String {
    humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_nanos(ns)).to_string()
}

/// Where the traffic came from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CaptureInfo {
    /// "replay" or "live".
    pub mode: String,
    /// Files replayed, or the interface captured.
    pub sources: Vec<String>,
    pub first_packet: Option<String>,
    pub last_packet: Option<String>,
    /// pcap link types seen.
    pub link_types: Vec<u32>,
}

/// One path parameter.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ParamOut {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub format: Option<String>,
}

/// Sensitive data seen on an endpoint, as written. `sample` is always redacted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PiiOut {
    #[serde(rename = "type")]
    pub ty: String,
    pub location: String,
    pub field: String,
    pub count: u64,
    pub confidence: String,
    pub sample: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
}

/// One endpoint as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EndpointOut {
    pub host: String,
    pub method: String,
    pub path: String,
    pub hits: u64,
    pub status_codes: BTreeMap<String, u64>,
    pub no_response: u64,
    pub first_seen: String,
    pub last_seen: String,
    pub auth: Vec<String>,
    pub unauthenticated_success: bool,
    pub path_params: Vec<ParamOut>,
    pub query_params: BTreeMap<String, u64>,
    pub request_content_types: BTreeMap<String, u64>,
    pub response_content_types: BTreeMap<String, u64>,
    pub request_body_bytes: u64,
    pub response_body_bytes: u64,
    pub damaged_exchanges: u64,
    /// Exchanges whose bodies were scanned in full for sensitive data.
    #[serde(default)]
    pub bodies_scanned: u64,
    /// Query parameter types (`integer`, `number`, `boolean`, `string`), when one type was seen.
    #[serde(default)]
    pub query_param_types: BTreeMap<String, String>,
    /// Response latency percentiles in milliseconds: `p50`, `p95`, `p99`.
    #[serde(default)]
    pub latency_ms: Option<BTreeMap<String, f64>>,
    /// Authentication details: JWT algorithms and issuers, API-key locations, session cookies.
    #[serde(default)]
    pub auth_details: BTreeMap<String, u64>,
    /// Distinct client addresses (exact up to 64, estimated above).
    #[serde(default)]
    pub distinct_clients: u64,
    /// Requests from public (internet) addresses.
    #[serde(default)]
    pub external_requests: u64,
    /// Responses exposing internal errors, by kind.
    #[serde(default)]
    pub error_leaks: BTreeMap<String, u64>,
    pub pii: Vec<PiiOut>,
    /// JSON Schema of the request bodies seen (null when none was JSON).
    #[serde(default)]
    pub request_schema: Option<serde_json::Value>,
    /// JSON Schema of the 2xx response bodies seen (null when none was JSON).
    #[serde(default)]
    pub response_schema: Option<serde_json::Value>,
    /// Against the spec given with `--spec`: `documented`, `shadow` or `zombie`; null without one.
    pub spec: Option<String>,
    /// For a zombie: `deprecated`, or `removed` (documented only in `--spec-previous`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub spec_reason: Option<String>,
    /// Query parameters seen that the matched operation does not document.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub undocumented_query_params: Vec<String>,
    /// Status codes returned that the matched operation does not document.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub undocumented_status_codes: Vec<u16>,
    /// The documented path this endpoint matched.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub spec_path: Option<String>,
    /// For a zombie that an newer version replaced: the documented path of that version.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub superseded_by: Option<String>,
}

/// Endpoints and traffic per host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HostSummary {
    pub host: String,
    pub endpoints: u64,
    pub hits: u64,
}

/// The inventory document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    pub apitap_inventory: u32,
    pub generated_at: String,
    pub generator: String,
    pub capture: CaptureInfo,
    pub stats: serde_json::Map<String, serde_json::Value>,
    pub hosts: Vec<HostSummary>,
    pub endpoints: Vec<EndpointOut>,
    /// TLS servers seen, from their handshakes: what hides behind encryption.
    #[serde(default)]
    pub encrypted_services: Vec<EncryptedService>,
    /// API risks, worst first (docs/detections.md).
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// The comparison with the spec given with `--spec`; null without one.
    #[serde(default)]
    pub spec_diff: Option<crate::spec::SpecDiff>,
    /// The mergeable state behind this document (`crate::state`), kept as written (one
    /// line of JSON): it is only ever decoded into an inventory, never browsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Box<serde_json::value::RawValue>>,
}

impl PartialEq for Document {
    fn eq(&self, o: &Document) -> bool {
        let state = |d: &Document| d.state.as_ref().map(|s| s.get().to_string());
        (
            self.apitap_inventory,
            &self.generated_at,
            &self.generator,
            &self.capture,
            &self.stats,
            &self.hosts,
            &self.endpoints,
            &self.encrypted_services,
            &self.findings,
            &self.spec_diff,
        ) == (
            o.apitap_inventory,
            &o.generated_at,
            &o.generator,
            &o.capture,
            &o.stats,
            &o.hosts,
            &o.endpoints,
            &o.encrypted_services,
            &o.findings,
            &o.spec_diff,
        ) && state(self) == state(o)
    }
}

fn endpoint_out(host: &str, method: &str, path: &str, e: &Endpoint) -> EndpointOut {
    EndpointOut {
        host: host.to_string(),
        method: method.to_string(),
        path: path.to_string(),
        hits: e.hits,
        status_codes: e
            .status_codes
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect(),
        no_response: e.no_response,
        first_seen: format_ts(e.first_seen),
        last_seen: format_ts(e.last_seen),
        auth: e.auth.iter().map(|a| a.name().to_string()).collect(),
        unauthenticated_success: e.unauthenticated_success,
        path_params: e
            .path_params
            .iter()
            .map(|(n, t)| {
                let (ty, format) = t.schema();
                ParamOut {
                    name: n.clone(),
                    ty: ty.to_string(),
                    format: format.map(String::from),
                }
            })
            .collect(),
        query_params: e.query_params.clone(),
        request_content_types: e.request_content_types.clone(),
        response_content_types: e.response_content_types.clone(),
        request_body_bytes: e.request_body_bytes,
        response_body_bytes: e.response_body_bytes,
        damaged_exchanges: e.damaged,
        bodies_scanned: e.bodies_scanned,
        query_param_types: e
            .query_types
            .iter()
            .map(|(k, t)| {
                use apitap_pii::{T_BOOLEAN, T_INTEGER, T_NUMBER};
                let ty = match *t {
                    T_INTEGER => "integer",
                    T_NUMBER | 6 => "number",
                    T_BOOLEAN => "boolean",
                    _ => "string",
                };
                (k.clone(), ty.to_string())
            })
            .collect(),
        latency_ms: e.latency_percentiles().map(|[a, b, c]| {
            let r = |x: f64| (x * 1000.0).round() / 1000.0;
            BTreeMap::from([
                ("p50".to_string(), r(a)),
                ("p95".to_string(), r(b)),
                ("p99".to_string(), r(c)),
            ])
        }),
        auth_details: e.auth_details.clone(),
        distinct_clients: e.clients.estimate(),
        external_requests: e.external_requests,
        error_leaks: e
            .error_leaks
            .iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect(),
        pii: e
            .pii
            .iter()
            .map(|((k, l, f), p)| PiiOut {
                ty: k.name().to_string(),
                location: l.name().to_string(),
                field: f.clone(),
                count: p.count,
                confidence: p.confidence.name().to_string(),
                sample: p.sample.clone(),
                detail: p.detail.clone(),
            })
            .collect(),
        request_schema: e.request_schema.to_json_schema(),
        response_schema: e.response_schema.to_json_schema(),
        spec: None,
        spec_reason: None,
        undocumented_query_params: Vec::new(),
        undocumented_status_codes: Vec::new(),
        spec_path: None,
        superseded_by: None,
    }
}

/// `v3` -> 3
fn version_of(seg: &str) -> Option<u32> {
    seg.strip_prefix(['v', 'V'])?.parse().ok()
}

/// An endpoint whose path has a version segment is superseded by the same path, host and
/// method with a higher version, when traffic shows that one too (a spec's newer version
/// was already recorded by the spec comparison).
fn observed_supersession(endpoints: &mut [EndpointOut]) {
    let index: std::collections::BTreeSet<(String, String, String)> = endpoints
        .iter()
        .map(|e| (e.host.clone(), e.method.clone(), e.path.clone()))
        .collect();
    for e in endpoints.iter_mut().filter(|e| e.superseded_by.is_none()) {
        let segs: Vec<&str> = e.path.split('/').collect();
        let mut best: Option<(u32, String)> = None;
        for (i, s) in segs.iter().enumerate() {
            let Some(v) = version_of(s) else { continue };
            for w in v + 1..v + 10 {
                let mut alt: Vec<String> = segs.iter().map(|x| x.to_string()).collect();
                alt[i] = format!("v{w}");
                let p = alt.join("/");
                if index.contains(&(e.host.clone(), e.method.clone(), p.clone()))
                    && best.as_ref().is_none_or(|(b, _)| w > *b)
                {
                    best = Some((w, p));
                }
            }
        }
        e.superseded_by = best.map(|(_, p)| p);
    }
}

/// The "outdated API version still in use" finding of each superseded endpoint.
fn outdated_versions(endpoints: &[EndpointOut]) -> Vec<Finding> {
    endpoints
        .iter()
        .filter_map(|e| {
            let newer = e.superseded_by.as_ref()?;
            Some(Finding {
                rule: "outdated_api_version".into(),
                severity: crate::findings::Severity::Medium,
                owasp: "API9:2023 Improper Inventory Management".into(),
                title: format!("An older API version is still called; {newer} replaces it"),
                host: e.host.clone(),
                method: e.method.clone(),
                path: e.path.clone(),
                evidence: format!("{} requests, last {}", e.hits, e.last_seen),
            })
        })
        .collect()
}

/// Endpoints re-keyed by the spec's operations (when given) and then by learned templates;
/// the spec's diff.
fn keyed_and_learned(
    inv: &Inventory,
    spec: Option<&crate::spec::Spec>,
) -> (Inventory, Option<crate::spec::SpecDiff>) {
    keyed_and_learned_around(inv, spec, BTreeSet::new())
}

/// As [`keyed_and_learned`], leaving the endpoints in `frozen` as they are.
fn keyed_and_learned_around(
    inv: &Inventory,
    spec: Option<&crate::spec::Spec>,
    mut frozen: BTreeSet<crate::learn::Key>,
) -> (Inventory, Option<crate::spec::SpecDiff>) {
    let (keyed, diff) = match spec {
        Some(sp) => {
            let (k, verdicts, diff) = crate::spec::apply(inv, sp);
            frozen.extend(
                verdicts
                    .iter()
                    .filter(|(_, v)| v.spec_path.is_some())
                    .map(|(k, _)| k.clone()),
            );
            (std::borrow::Cow::Owned(k), Some(diff))
        }
        None => (std::borrow::Cow::Borrowed(inv), None),
    };
    (crate::learn::learn(&keyed, &frozen), diff)
}

/// Fold the endpoints seen since the last fold (`new`) into a live sensor's folded inventory
/// (`base`): those fitting a path already there join it (see `learn::fold_into`), then the
/// spec's operations and learned templates are applied to the whole, endpoints that collapse
/// merged. At every snapshot, so that literal slugs (`/users/alice`, `/users/bob`, ...) do not
/// pile up over months: only the values seen since the last fold take memory of their own.
pub fn fold(mut base: Inventory, new: Inventory, spec: Option<&crate::spec::Spec>) -> Inventory {
    let rest = crate::learn::fold_into(&mut base, new);
    // Templates learned before stay as they are: learning decides for the literals, old and
    // new, that fit none (they may still join a parameter there, as stragglers do).
    let before: BTreeSet<crate::learn::Key> = base
        .endpoints
        .keys()
        .filter(|k| k.2.contains('{'))
        .cloned()
        .collect();
    base.absorb(rest);
    let mut folded = keyed_and_learned_around(&base, spec, before).0;
    folded.folds += 1;
    folded.merged_by_folding +=
        (base.endpoints.len() - folded.endpoints.len().min(base.endpoints.len())) as u64;
    folded
}

impl Document {
    /// Build the document. `now_ns` is the generation time.
    pub fn build(
        inv: &Inventory,
        capture: CaptureInfo,
        stats: serde_json::Map<String, serde_json::Value>,
        now_ns: u64,
    ) -> Document {
        Document::build_with_spec(inv, None, capture, stats, now_ns)
    }

    /// Build the document, judging every endpoint against `spec` when one is given.
    pub fn build_with_spec(
        inv: &Inventory,
        spec: Option<&crate::spec::Spec>,
        capture: CaptureInfo,
        mut stats: serde_json::Map<String, serde_json::Value>,
        now_ns: u64,
    ) -> Document {
        let state = crate::state::encode(inv);
        let (learned, diff) = keyed_and_learned(inv, spec);
        let merged = inv.endpoints.len() - learned.endpoints.len().min(inv.endpoints.len());
        // The inventory's own counters, so that a merged document counts its own caps.
        if let Some(serde_json::Value::Object(m)) = stats.get_mut("inventory") {
            m.insert(
                "endpoints".into(),
                serde_json::json!(learned.endpoints.len()),
            );
            m.insert("merged_by_learning".into(), serde_json::json!(merged));
            m.insert(
                "endpoints_dropped".into(),
                serde_json::json!(inv.endpoints_dropped),
            );
            m.insert("values_capped".into(), serde_json::json!(inv.values_capped));
            m.insert("folds".into(), serde_json::json!(inv.folds));
            m.insert(
                "merged_by_folding".into(),
                serde_json::json!(inv.merged_by_folding),
            );
        }
        if let Some(serde_json::Value::Object(m)) = stats.get_mut("dropped") {
            m.remove("endpoints_dropped");
            if inv.endpoints_dropped > 0 {
                m.insert(
                    "endpoints_dropped".into(),
                    serde_json::json!(inv.endpoints_dropped),
                );
            }
        }
        let inv = &learned;
        stats.insert("endpoints".into(), serde_json::json!(inv.endpoints.len()));
        let mut unparsed: Vec<Unparsed> = inv
            .unparsed
            .iter()
            .map(|((port, proto), (n, b))| Unparsed {
                port: *port,
                protocol: proto.to_string(),
                streams: *n,
                bytes: *b,
            })
            .collect();
        unparsed.sort_by(|a, b| b.streams.cmp(&a.streams).then(a.port.cmp(&b.port)));
        stats.insert(
            "unparsed".into(),
            serde_json::to_value(unparsed).unwrap_or_default(),
        );
        let mut encrypted_services: Vec<EncryptedService> =
            inv.encrypted.values().cloned().collect();
        encrypted_services.sort_by(|a, b| {
            b.connections
                .cmp(&a.connections)
                .then(a.server.cmp(&b.server))
        });
        let mut endpoints: Vec<EndpointOut> = inv
            .endpoints
            .iter()
            .map(|((h, m, p), e)| {
                let mut out = endpoint_out(h, m, p, e);
                if let Some(sp) = spec {
                    let v = crate::spec::judge(sp, m, p);
                    out.spec = Some(v.status.to_string());
                    out.spec_reason = v.reason.map(String::from);
                    out.spec_path = v.spec_path;
                    (out.undocumented_query_params, out.undocumented_status_codes) =
                        sp.undocumented(m, p, e);
                    out.superseded_by = v.superseded_by;
                }
                out
            })
            .collect();
        endpoints.sort_by(|a, b| (&a.host, &a.path, &a.method).cmp(&(&b.host, &b.path, &b.method)));
        observed_supersession(&mut endpoints);
        let mut hosts: BTreeMap<&str, HostSummary> = BTreeMap::new();
        for e in &endpoints {
            let h = hosts.entry(&e.host).or_insert_with(|| HostSummary {
                host: e.host.clone(),
                endpoints: 0,
                hits: 0,
            });
            h.endpoints += 1;
            h.hits += e.hits;
        }
        let spec_diff = diff.map(|mut d| {
            let refs = |st: &str| -> Vec<crate::spec::EndpointRef> {
                endpoints
                    .iter()
                    .filter(|e| e.spec.as_deref() == Some(st))
                    .map(|e| crate::spec::EndpointRef {
                        host: e.host.clone(),
                        method: e.method.clone(),
                        path: e.path.clone(),
                        hits: e.hits,
                        reason: e.spec_reason.clone(),
                    })
                    .collect()
            };
            d.documented = refs("documented").len() as u64;
            d.shadow = refs("shadow");
            d.zombie = refs("zombie");
            d.undocumented = endpoints
                .iter()
                .filter(|e| {
                    !e.undocumented_query_params.is_empty()
                        || !e.undocumented_status_codes.is_empty()
                })
                .map(|e| crate::spec::Undocumented {
                    host: e.host.clone(),
                    method: e.method.clone(),
                    path: e.path.clone(),
                    query_params: e.undocumented_query_params.clone(),
                    status_codes: e.undocumented_status_codes.clone(),
                })
                .collect();
            d
        });
        let mut all_findings = findings(inv);
        all_findings.extend(outdated_versions(&endpoints));
        all_findings.sort_by(|a, b| {
            b.severity.cmp(&a.severity).then_with(|| {
                (&a.host, &a.path, &a.method, &a.rule).cmp(&(&b.host, &b.path, &b.method, &b.rule))
            })
        });
        Document {
            apitap_inventory: DOC_VERSION,
            generated_at: format_ts(now_ns),
            generator: concat!("apitap ", env!("CARGO_PKG_VERSION")).to_string(),
            capture,
            stats,
            hosts: hosts.into_values().collect(),
            endpoints,
            encrypted_services,
            findings: all_findings,
            spec_diff,
            state: Some(state),
        }
    }
}
