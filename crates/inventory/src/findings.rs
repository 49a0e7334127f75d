//! API risk findings, derived from the merged inventory (docs/detections.md lists each).
//! A finding names the endpoint, a severity, the OWASP API Security Top 10 (2023) category
//! and evidence built from redacted samples only.

use crate::endpoint::{Endpoint, Inventory, ENUMERATION_IDS};
use apitap_pii::{Class, Kind, Location};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// One risk on one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable identifier of the rule (`sensitive_data_without_auth`, ...).
    pub rule: String,
    pub severity: Severity,
    /// OWASP API Security Top 10 2023 category.
    pub owasp: String,
    pub title: String,
    pub host: String,
    pub method: String,
    pub path: String,
    /// What was seen, redacted.
    pub evidence: String,
}

const API1: &str = "API1:2023 Broken Object Level Authorization";
const API2: &str = "API2:2023 Broken Authentication";
const API3: &str = "API3:2023 Broken Object Property Level Authorization";
const API8: &str = "API8:2023 Security Misconfiguration";
const API9: &str = "API9:2023 Improper Inventory Management";

/// Types that are credentials handed out by design (login, token endpoints), not leaks.
fn issued_credential(k: Kind) -> bool {
    matches!(
        k,
        Kind::Jwt | Kind::SessionToken | Kind::BearerToken | Kind::ApiKey
    )
}

fn names(kinds: &BTreeSet<Kind>) -> String {
    kinds
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a type was seen, with a redacted sample: `email at response.body $.users[*].email (j***@e***.com)`.
fn where_seen(e: &Endpoint, pick: impl Fn(Kind, Location) -> bool, max: usize) -> String {
    e.pii
        .iter()
        .filter(|((k, l, _), _)| pick(*k, *l))
        .take(max)
        .map(|((k, l, f), p)| format!("{} at {} {} ({})", k.name(), l.name(), f, p.sample))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Host part without a port, and whether it is an IP literal.
fn ip_literal(host: &str) -> bool {
    let h = host.strip_prefix('[').map_or_else(
        || {
            host.rsplit_once(':').map_or(host, |(h, p)| {
                if p.bytes().all(|c| c.is_ascii_digit()) {
                    h
                } else {
                    host
                }
            })
        },
        |rest| rest.split(']').next().unwrap_or(rest),
    );
    h.parse::<std::net::IpAddr>().is_ok()
}

/// Every finding of the inventory, worst first.
pub fn findings(inv: &Inventory) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut tokens: std::collections::BTreeMap<String, (BTreeSet<Kind>, u64)> = Default::default();
    for ((host, method, path), e) in &inv.endpoints {
        let mut add =
            |rule: &str, severity: Severity, owasp: &str, title: String, evidence: String| {
                out.push(Finding {
                    rule: rule.into(),
                    severity,
                    owasp: owasp.into(),
                    title,
                    host: host.clone(),
                    method: method.clone(),
                    path: path.clone(),
                    evidence,
                });
            };
        if !e.unauth_sensitive.is_empty() {
            add(
                "sensitive_data_without_auth",
                Severity::Critical,
                API2,
                format!(
                    "Returns {} to requests without any authentication",
                    names(&e.unauth_sensitive)
                ),
                where_seen(
                    e,
                    |k, l| l == Location::ResponseBody && e.unauth_sensitive.contains(&k),
                    4,
                ),
            );
        }
        let leaked: BTreeSet<Kind> = e
            .pii
            .keys()
            .filter(|(k, l, _)| {
                k.class() == Class::Secret
                    && matches!(l, Location::ResponseBody | Location::ResponseHeader)
                    && !issued_credential(*k)
            })
            .map(|(k, ..)| *k)
            .collect();
        if !leaked.is_empty() {
            add(
                "secret_in_response",
                Severity::High,
                API3,
                format!("Responses contain secrets: {}", names(&leaked)),
                where_seen(
                    e,
                    |k, l| {
                        leaked.contains(&k)
                            && matches!(l, Location::ResponseBody | Location::ResponseHeader)
                    },
                    4,
                ),
            );
        }
        let in_url: BTreeSet<Kind> = e
            .pii
            .keys()
            .filter(|(k, l, _)| {
                k.class() == Class::Secret
                    && matches!(l, Location::RequestQuery | Location::RequestPath)
            })
            .map(|(k, ..)| *k)
            .collect();
        if !in_url.is_empty() {
            add(
                "credentials_in_url",
                Severity::High,
                API2,
                format!(
                    "Credentials in the URL ({}): they end up in logs, caches and Referer headers",
                    names(&in_url)
                ),
                where_seen(
                    e,
                    |k, l| {
                        in_url.contains(&k)
                            && matches!(l, Location::RequestQuery | Location::RequestPath)
                    },
                    4,
                ),
            );
        }
        let cleartext = |k: &Kind, l: &Location| {
            matches!(
                l,
                Location::RequestHeader | Location::RequestCookie | Location::RequestBody
            ) && matches!(
                k,
                Kind::BasicAuth
                    | Kind::Password
                    | Kind::BearerToken
                    | Kind::Jwt
                    | Kind::SessionToken
                    | Kind::ApiKey
            )
        };
        let passwords: BTreeSet<Kind> = e
            .pii
            .keys()
            .filter(|(k, l, _)| cleartext(k, l) && matches!(k, Kind::BasicAuth | Kind::Password))
            .map(|(k, ..)| *k)
            .collect();
        if !passwords.is_empty() {
            add(
                "cleartext_credentials",
                Severity::High,
                API8,
                format!("Passwords travel over unencrypted HTTP ({}); fine only if TLS ends before the mirror point", names(&passwords)),
                where_seen(e, |k, l| passwords.contains(&k) && cleartext(&k, &l), 3),
            );
        }
        // Tokens in cleartext are one finding per host, not one per endpoint.
        for (k, l, _) in e.pii.keys() {
            if cleartext(k, l) && !passwords.contains(k) {
                let t = tokens.entry(host.clone()).or_default();
                t.0.insert(*k);
                t.1 += 1;
            }
        }
        if e.jwt_alg_none > 0 {
            add(
                "jwt_alg_none",
                Severity::High,
                API2,
                "Requests carry unsigned JWTs (alg=none)".into(),
                format!("{} requests", e.jwt_alg_none),
            );
        }
        let sensitive = e.response_sensitive();
        let single_object = path.ends_with('}');
        let listed_people = e.pii.keys().any(|(k, l, f)| {
            *l == Location::ResponseBody && k.class() == Class::Personal && f.contains("[*]")
        });
        if sensitive.len() >= 6 || (single_object && listed_people && sensitive.len() >= 2) {
            add(
                "excessive_data_exposure",
                Severity::Medium,
                API3,
                if single_object && listed_people {
                    format!(
                        "A request for one object returns records of many people ({})",
                        names(&sensitive)
                    )
                } else {
                    format!(
                        "Responses carry {} kinds of sensitive data ({})",
                        sensitive.len(),
                        names(&sensitive)
                    )
                },
                where_seen(
                    e,
                    |k, l| l == Location::ResponseBody && sensitive.contains(&k),
                    6,
                ),
            );
        }
        let personal = sensitive.iter().any(|k| k.class() == Class::Personal);
        let max_ids = e.max_ids_per_client();
        if personal && max_ids >= ENUMERATION_IDS as u64 {
            add(
                "object_enumeration",
                Severity::High,
                API1,
                format!("One client read at least {ENUMERATION_IDS} different objects of an endpoint that returns personal data"),
                format!("{} distinct clients; path {}", e.clients.estimate(), path),
            );
        } else if personal
            && e.path_params
                .iter()
                .any(|(_, t)| *t == crate::ParamType::Integer)
        {
            add(
                "guessable_object_ids",
                Severity::Medium,
                API1,
                "Sequential integer ids select objects that carry personal data".into(),
                format!("path {path}; personal data: {}", names(&sensitive)),
            );
        }
        if !e.error_leaks.is_empty() {
            let kinds: Vec<String> = e
                .error_leaks
                .iter()
                .map(|(k, n)| format!("{k} x{n}"))
                .collect();
            add(
                "verbose_errors",
                Severity::Medium,
                API8,
                "Responses expose internal errors".into(),
                kinds.join(", "),
            );
        }
        if e.external_requests > 0 && ip_literal(host) {
            add(
                "internal_host_exposed",
                Severity::Medium,
                API9,
                "An endpoint addressed by IP literal (no DNS name) is called from public addresses"
                    .into(),
                format!("{} requests from public addresses", e.external_requests),
            );
        }
    }
    for (host, (kinds, n)) in tokens {
        out.push(Finding {
            rule: "cleartext_tokens".into(),
            severity: Severity::Medium,
            owasp: API8.into(),
            title: format!("Tokens travel over unencrypted HTTP ({}); fine only if TLS ends before the mirror point", names(&kinds)),
            host,
            method: "*".into(),
            path: "*".into(),
            evidence: format!("on {n} endpoint/token pairs of this host"),
        });
    }
    out.sort_by(|a, b| {
        b.severity.cmp(&a.severity).then_with(|| {
            (&a.host, &a.path, &a.method, &a.rule).cmp(&(&b.host, &b.path, &b.method, &b.rule))
        })
    });
    out
}
