//! OpenAPI import and the diff against observed traffic: which endpoints are documented,
//! which are **shadow** (seen, not in the spec), **zombie** (deprecated, or an older
//! version of a documented path, still called), and which documented operations are
//! **orphans** (never seen).
//!
//! Accepts Swagger 2.0 and OpenAPI 3.0/3.1, JSON or YAML. Only what the diff needs is read:
//! servers / basePath, paths, methods, `deprecated`, `operationId`, query parameters (with
//! local `$ref`s) and response status keys. Given the spec's previous revision
//! ([`Spec::with_previous`]), operations it documented and the new one dropped are kept as
//! *removed*: still called, they are zombies too.

use crate::endpoint::{Endpoint, Inventory};
use crate::template::ParamType;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(String),
    /// `{name}`, or a segment with a parameter inside (`{id}.json`, `v{version}`).
    Param {
        name: String,
        prefix: String,
        suffix: String,
    },
}

/// One documented operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecOp {
    pub method: String,
    /// The path as documented, with the server's base path in front.
    pub path: String,
    pub deprecated: bool,
    pub operation_id: Option<String>,
    /// Documented in the previous revision only (see [`Spec::with_previous`]).
    pub removed: bool,
    /// Documented query parameter names; `None` when an exploded object parameter
    /// admits names the description does not list.
    pub query: Option<BTreeSet<String>>,
    /// Response keys: `200`, `4XX`, `default`.
    pub responses: Vec<String>,
    segs: Vec<Seg>,
}

/// The parts of an API description the diff uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spec {
    pub title: String,
    /// `openapi` or `swagger` version string.
    pub format: String,
    /// This revision's operations, then the removed ones of the previous revision.
    pub ops: Vec<SpecOp>,
    /// `title (format)` of the previous revision, when one was given.
    pub previous: Option<String>,
}

/// The diff, in the document's `spec_diff`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecDiff {
    pub title: String,
    pub format: String,
    /// Documented operations.
    pub operations: u64,
    /// Observed endpoints that match a documented, non-deprecated operation.
    pub documented: u64,
    /// Observed, not documented.
    pub shadow: Vec<EndpointRef>,
    /// Documented as deprecated, or dropped since the previous revision, still called.
    pub zombie: Vec<EndpointRef>,
    /// Documented, never seen.
    pub orphan: Vec<Orphan>,
    /// Documented endpoints called with query parameters or answered with status codes
    /// that their operation does not document.
    #[serde(default)]
    pub undocumented: Vec<Undocumented>,
    /// The previous revision given with `--spec-previous`: `title (format)`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub previous: Option<String>,
    /// Operations of the previous revision that this one no longer documents.
    #[serde(default)]
    pub removed_operations: u64,
}

/// What a documented endpoint does beyond its documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Undocumented {
    pub host: String,
    pub method: String,
    pub path: String,
    pub query_params: Vec<String>,
    pub status_codes: Vec<u16>,
}

/// An observed endpoint named in the diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRef {
    pub host: String,
    pub method: String,
    pub path: String,
    pub hits: u64,
    /// For a zombie: `deprecated`, or `removed` (absent from the newer revision).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

/// A documented operation that no traffic reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Orphan {
    pub method: String,
    pub path: String,
    pub deprecated: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operation_id: Option<String>,
}

/// How an observed endpoint relates to the spec.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// `documented`, `shadow` or `zombie`.
    pub status: &'static str,
    /// For a zombie: `deprecated` or `removed`.
    pub reason: Option<&'static str>,
    /// The documented path it matched.
    pub spec_path: Option<String>,
    /// For an old version: the documented path that replaced it.
    pub superseded_by: Option<String>,
}

fn parse_seg(s: &str) -> Seg {
    match (s.find('{'), s.rfind('}')) {
        (Some(a), Some(b)) if a < b => Seg::Param {
            name: s[a + 1..b].to_string(),
            prefix: s[..a].to_string(),
            suffix: s[b + 1..].to_string(),
        },
        _ => Seg::Lit(s.to_string()),
    }
}

/// YAML values as JSON (mapping keys such as `200:` become strings).
fn yaml_to_json(y: yaml_serde::Value) -> Value {
    use yaml_serde::Value as Y;
    match y {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(v) => Value::Array(v.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let k = match k {
                        Y::String(s) => s,
                        other => yaml_serde::to_string(&other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    (k, yaml_to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => yaml_to_json(t.value),
    }
}

/// The path part of a server URL (`https://api.example.com/v1` -> `/v1`); variables such as
/// `{basePath}` take their default.
fn base_path(url: &str, vars: Option<&Value>) -> String {
    let mut u = url.to_string();
    if let Some(Value::Object(vs)) = vars {
        for (k, v) in vs {
            if let Some(d) = v.get("default").and_then(Value::as_str) {
                u = u.replace(&format!("{{{k}}}"), d);
            }
        }
    }
    // `https://host/v1`, protocol-relative `//host/v1` (Kubernetes), or a path alone.
    let after_host = match u.find("://") {
        Some(i) => Some(&u[i + 3..]),
        None => u.strip_prefix("//"),
    };
    let path = match after_host {
        Some(rest) => rest.find('/').map_or("", |j| &rest[j..]),
        None => u.as_str(),
    };
    path.trim_end_matches('/').to_string()
}

impl Spec {
    /// Parse a description from its text (JSON or YAML).
    pub fn parse(text: &str) -> Result<Spec, String> {
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => yaml_serde::from_str::<yaml_serde::Value>(text)
                .map(yaml_to_json)
                .map_err(|e| format!("neither JSON nor YAML: {e}"))?,
        };
        let format = v
            .get("openapi")
            .or_else(|| v.get("swagger"))
            .and_then(Value::as_str)
            .ok_or("no `openapi` or `swagger` version field: not an OpenAPI description")?
            .to_string();
        let title = v
            .pointer("/info/title")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut bases: Vec<String> = if format.starts_with('2') {
            vec![v
                .get("basePath")
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim_end_matches('/')
                .to_string()]
        } else {
            v.get("servers")
                .and_then(Value::as_array)
                .map(|s| {
                    s.iter()
                        .filter_map(|sv| {
                            sv.get("url")
                                .and_then(Value::as_str)
                                .map(|u| base_path(u, sv.get("variables")))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        if bases.is_empty() {
            bases.push(String::new());
        }
        bases.sort();
        bases.dedup();
        let paths = v
            .get("paths")
            .and_then(Value::as_object)
            .ok_or("no `paths` object")?;
        let mut ops = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (p, item) in paths {
            let Some(item) = resolve(&v, item).as_object() else {
                continue;
            };
            for m in METHODS {
                let Some(op) = item.get(m) else { continue };
                let query = query_names(&v, [item.get("parameters"), op.get("parameters")]);
                let responses: Vec<String> = op
                    .get("responses")
                    .and_then(Value::as_object)
                    .map(|r| r.keys().map(|k| k.to_ascii_uppercase()).collect())
                    .unwrap_or_default();
                // Some descriptions key one path several times with a fragment (Box's
                // `/shared_items#folders`, `#web_links`): on the wire it is one path.
                let p = p.split('#').next().unwrap_or_default();
                for b in &bases {
                    let path = format!("{b}{p}");
                    if !seen.insert((m, path.clone())) {
                        continue;
                    }
                    let segs = path
                        .split('/')
                        .filter(|s| !s.is_empty())
                        .map(parse_seg)
                        .collect();
                    ops.push(SpecOp {
                        method: m.to_ascii_uppercase(),
                        path,
                        deprecated: op
                            .get("deprecated")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                        operation_id: op
                            .get("operationId")
                            .and_then(Value::as_str)
                            .map(String::from),
                        removed: false,
                        query: query.clone(),
                        responses: responses.clone(),
                        segs,
                    });
                }
            }
        }
        if ops.is_empty() {
            return Err("the description documents no operation".into());
        }
        Ok(Spec {
            title,
            format,
            ops,
            previous: None,
        })
    }

    /// Keep the operations `old` documented and this revision does not (same method and
    /// path shape, parameter names aside) as removed ones.
    pub fn with_previous(mut self, old: Spec) -> Spec {
        let shape = |o: &SpecOp| -> (String, Vec<String>) {
            let segs = o.segs.iter().map(|s| match s {
                Seg::Lit(l) => l.clone(),
                Seg::Param { prefix, suffix, .. } => format!("{prefix}{{}}{suffix}"),
            });
            (o.method.clone(), segs.collect())
        };
        let current: BTreeSet<_> = self.ops.iter().map(shape).collect();
        let mut seen = BTreeSet::new();
        for mut op in old.ops {
            let k = shape(&op);
            if !current.contains(&k) && seen.insert(k) {
                op.removed = true;
                self.ops.push(op);
            }
        }
        self.previous = Some(format!("{} ({})", old.title, old.format));
        self
    }

    /// Documented operations of this revision.
    pub fn current(&self) -> impl Iterator<Item = &SpecOp> {
        self.ops.iter().filter(|o| !o.removed)
    }

    /// What an endpoint matched to a documented operation does that the operation does
    /// not document: query parameter names, status codes. Empty when it matches none.
    pub fn undocumented(&self, method: &str, path: &str, e: &Endpoint) -> (Vec<String>, Vec<u16>) {
        let Some(op) = self.find(method, path) else {
            return (Vec::new(), Vec::new());
        };
        let params = match &op.query {
            None => Vec::new(),
            Some(names) => e
                .query_params
                .keys()
                .filter(|n| {
                    // `filter[status]` (deepObject) and `ids[]` belong to `filter` and `ids`.
                    let base = n.split('[').next().unwrap_or(n);
                    !names.contains(n.as_str()) && !names.contains(base)
                })
                .cloned()
                .collect(),
        };
        let documented = |code: u16| {
            let c = code.to_string();
            op.responses.iter().any(|k| {
                k == "DEFAULT" || *k == c || (k.len() == 3 && k.ends_with("XX") && k[..1] == c[..1])
            })
        };
        let codes = if op.responses.is_empty() {
            Vec::new()
        } else {
            e.status_codes
                .keys()
                .copied()
                .filter(|c| !documented(*c))
                .collect()
        };
        (params, codes)
    }

    /// The documented operation an observed (method, template) is, the most specific one
    /// (most literal segments matched literally); ones of this revision win ties.
    fn find(&self, method: &str, path: &str) -> Option<&SpecOp> {
        let obs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut best: Option<(usize, &SpecOp)> = None;
        for op in &self.ops {
            if !op.method.eq_ignore_ascii_case(method) || op.segs.len() != obs.len() {
                continue;
            }
            let mut literal = 0;
            let ok = op.segs.iter().zip(&obs).all(|(s, o)| match s {
                Seg::Lit(l) => {
                    literal += 1;
                    l == o
                }
                Seg::Param { prefix, suffix, .. } => {
                    let observed_param = o.starts_with('{') && o.ends_with('}');
                    (prefix.is_empty() && suffix.is_empty())
                        || (!observed_param
                            && o.starts_with(prefix.as_str())
                            && o.ends_with(suffix.as_str()))
                }
            });
            if ok && best.is_none_or(|(n, _)| literal > n) {
                best = Some((literal, op));
            }
        }
        best.map(|(_, op)| op)
    }
}

/// `$ref`s followed within the document, at most 8 deep; anything else is itself.
fn resolve<'a>(root: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..8 {
        let Some(r) = v.get("$ref").and_then(Value::as_str) else {
            return v;
        };
        let Some(ptr) = r.strip_prefix('#') else {
            return v;
        };
        match root.pointer(ptr) {
            Some(t) => v = t,
            None => return v,
        }
    }
    v
}

/// The query parameter names of an operation, path-level parameters included; `None` when
/// an object parameter exploded into names the description does not list.
fn query_names<'a>(root: &'a Value, lists: [Option<&'a Value>; 2]) -> Option<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for p in lists
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
    {
        let p = resolve(root, p);
        if p.get("in").and_then(Value::as_str) != Some("query") {
            continue;
        }
        let Some(name) = p.get("name").and_then(Value::as_str) else {
            continue;
        };
        names.insert(name.to_string());
        let schema = p.get("schema").map(|s| resolve(root, s));
        let object = schema.and_then(|s| s.get("type")).and_then(Value::as_str) == Some("object");
        let style = p.get("style").and_then(Value::as_str).unwrap_or("form");
        let explode = p
            .get("explode")
            .and_then(Value::as_bool)
            .unwrap_or(style == "form");
        if object && style == "form" && explode {
            let props = schema
                .and_then(|s| s.get("properties"))
                .and_then(Value::as_object);
            let extra = schema
                .and_then(|s| s.get("additionalProperties"))
                .is_some_and(|a| a != &Value::Bool(false));
            match props {
                Some(ps) if !extra => names.extend(ps.keys().cloned()),
                _ => return None,
            }
        }
    }
    Some(names)
}

/// `v3` -> 3
fn version_of(seg: &str) -> Option<u32> {
    let rest = seg.strip_prefix('v').or_else(|| seg.strip_prefix('V'))?;
    rest.parse().ok()
}

/// The same path with a higher version segment, if the spec documents one.
fn newer_version<'a>(spec: &'a Spec, method: &str, path: &str) -> Option<&'a SpecOp> {
    let segs: Vec<&str> = path.split('/').collect();
    for (i, s) in segs.iter().enumerate() {
        let Some(v) = version_of(s) else { continue };
        let mut best: Option<(u32, &SpecOp)> = None;
        for w in v + 1..v + 10 {
            let mut alt = segs.clone();
            let ws = format!("v{w}");
            alt[i] = &ws;
            if let Some(op) = spec.find(method, &alt.join("/")) {
                if !op.deprecated && !op.removed && best.is_none_or(|(b, _)| w > b) {
                    best = Some((w, op));
                }
            }
        }
        if let Some((_, op)) = best {
            return Some(op);
        }
    }
    None
}

/// How one observed (method, template) relates to the spec.
pub fn judge(spec: &Spec, method: &str, path: &str) -> Verdict {
    match spec.find(method, path) {
        Some(op) => Verdict {
            status: if op.deprecated || op.removed {
                "zombie"
            } else {
                "documented"
            },
            reason: if op.removed {
                Some("removed")
            } else if op.deprecated {
                Some("deprecated")
            } else {
                None
            },
            spec_path: Some(op.path.clone()),
            superseded_by: newer_version(spec, method, path).map(|n| n.path.clone()),
        },
        None => Verdict {
            status: "shadow",
            reason: None,
            spec_path: None,
            superseded_by: newer_version(spec, method, path).map(|n| n.path.clone()),
        },
    }
}

/// Re-key the inventory by documented paths and judge every endpoint. Endpoints that match
/// the same documented operation merge into it (the spec knows which segments are
/// parameters); the others keep their observed template.
pub fn apply(
    inv: &Inventory,
    spec: &Spec,
) -> (
    Inventory,
    BTreeMap<(String, String, String), Verdict>,
    SpecDiff,
) {
    let mut out = inv.without_endpoints();
    let mut verdicts: BTreeMap<(String, String, String), Verdict> = BTreeMap::new();
    let mut seen_ops: std::collections::BTreeSet<(String, String)> = Default::default();
    for ((host, method, path), e) in &inv.endpoints {
        let verdict = judge(spec, method, path);
        let mut e = e.clone();
        let key = match (&verdict.spec_path, spec.find(method, path)) {
            (Some(sp), Some(op)) => {
                seen_ops.insert((op.method.clone(), op.path.clone()));
                e.path_params = spec_params(op, path, e.path_params.iter().map(|p| p.1));
                (host.clone(), method.clone(), sp.clone())
            }
            _ => (host.clone(), method.clone(), path.clone()),
        };
        let mut capped = 0;
        out.endpoints
            .entry(key.clone())
            .or_default()
            .merge_from(&e, &mut capped);
        out.values_capped += capped;
        verdicts.insert(key, verdict);
    }
    let mut diff = SpecDiff {
        title: spec.title.clone(),
        format: spec.format.clone(),
        operations: spec.current().count() as u64,
        previous: spec.previous.clone(),
        removed_operations: spec.ops.iter().filter(|o| o.removed).count() as u64,
        ..SpecDiff::default()
    };
    for op in spec.current() {
        if !seen_ops.contains(&(op.method.clone(), op.path.clone())) {
            diff.orphan.push(Orphan {
                method: op.method.clone(),
                path: op.path.clone(),
                deprecated: op.deprecated,
                operation_id: op.operation_id.clone(),
            });
        }
    }
    (out, verdicts, diff)
}

/// Path parameters named as documented; types from the observed template where it had a
/// parameter at that position, else string.
fn spec_params(
    op: &SpecOp,
    observed: &str,
    mut types: impl Iterator<Item = ParamType>,
) -> Vec<(String, ParamType)> {
    let obs: Vec<&str> = observed.split('/').filter(|s| !s.is_empty()).collect();
    let mut out = Vec::new();
    for (s, o) in op.segs.iter().zip(obs) {
        let observed_param = o.starts_with('{');
        let ty = if observed_param { types.next() } else { None };
        if let Seg::Param { name, .. } = s {
            out.push((name.clone(), ty.unwrap_or(ParamType::Token)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swagger2_json_and_openapi3_yaml_with_server_variables() {
        let s2 = r#"{"swagger":"2.0","info":{"title":"Pets"},"basePath":"/v1/","paths":{"/pets/{petId}":{"get":{"operationId":"getPet"},"delete":{"deprecated":true}}}}"#;
        let s = Spec::parse(s2).expect("swagger 2");
        let ops: Vec<(String, String, bool)> = s
            .ops
            .iter()
            .map(|o| (o.method.clone(), o.path.clone(), o.deprecated))
            .collect();
        assert_eq!(
            ops,
            [
                ("GET".into(), "/v1/pets/{petId}".into(), false),
                ("DELETE".into(), "/v1/pets/{petId}".into(), true)
            ]
        );
        let y = "openapi: 3.0.3\ninfo: {title: T}\nservers:\n  - url: '{scheme}://api.example.com/{base}'\n    variables:\n      scheme: {default: https}\n      base: {default: v2}\npaths:\n  /items/{id}.json:\n    get:\n      responses:\n        200: {description: ok}\n";
        let s = Spec::parse(y).expect("openapi 3 yaml");
        assert_eq!(s.ops[0].path, "/v2/items/{id}.json");
        // A segment with a parameter inside matches literal values of that form only.
        assert!(s.find("GET", "/v2/items/42.json").is_some());
        assert!(s.find("GET", "/v2/items/42.xml").is_none());
        for (url, base) in [
            ("//kubernetes.local", ""),
            ("//api.example.com/v3/", "/v3"),
            ("/api", "/api"),
            ("https://api.example.com", ""),
        ] {
            assert_eq!(super::base_path(url, None), base, "{url}");
        }
        assert!(Spec::parse("just text").is_err());
        assert!(Spec::parse(r#"{"openapi":"3.1.0","paths":{}}"#).is_err());
    }

    #[test]
    fn a_path_keyed_with_fragments_is_one_path() {
        // Box documents two operations on `/shared_items` as `#folders` and `#web_links`.
        let j = r#"{"openapi":"3.0.0","paths":{"/shared_items":{"get":{}},
            "/shared_items#folders":{"get":{}},"/shared_items#web_links":{"get":{}}}}"#;
        let s = Spec::parse(j).expect("spec");
        assert_eq!(s.ops.len(), 1);
        assert_eq!(s.ops[0].path, "/shared_items");
        assert_eq!(
            s.find("GET", "/shared_items").map(|o| o.path.as_str()),
            Some("/shared_items")
        );
    }

    #[test]
    fn the_most_specific_operation_wins_and_versions_supersede() {
        let j = r#"{"openapi":"3.1.0","paths":{
            "/v1/users/{id}":{"get":{}},"/v1/users/me":{"get":{}},"/v3/users/{id}":{"get":{}}}}"#;
        let s = Spec::parse(j).expect("spec");
        assert_eq!(
            s.find("GET", "/v1/users/me").map(|o| o.path.as_str()),
            Some("/v1/users/me")
        );
        assert_eq!(
            s.find("GET", "/v1/users/{id}").map(|o| o.path.as_str()),
            Some("/v1/users/{id}")
        );
        let v = judge(&s, "GET", "/v1/users/{id}");
        // Superseded is not a spec class: documented, with superseded_by.
        assert_eq!(
            (v.status, v.superseded_by.as_deref()),
            ("documented", Some("/v3/users/{id}"))
        );
        let v = judge(&s, "GET", "/v2/users/{id}");
        assert_eq!(
            (v.status, v.superseded_by.as_deref()),
            ("shadow", Some("/v3/users/{id}"))
        );
        assert_eq!(judge(&s, "GET", "/v3/users/{id}").status, "documented");
        assert_eq!(judge(&s, "POST", "/v3/users/{id}").status, "shadow");
    }

    #[test]
    fn undocumented_query_parameters_and_status_codes() {
        let j = r##"{"openapi":"3.0.3","components":{
              "parameters":{"Limit":{"name":"limit","in":"query","schema":{"type":"integer"}}},
              "schemas":{"Page":{"type":"object","properties":{"page":{},"size":{}}}}},
            "paths":{
              "/items":{"parameters":[{"$ref":"#/components/parameters/Limit"}],
                "get":{"parameters":[
                    {"name":"filter","in":"query","style":"deepObject","schema":{"type":"object"}},
                    {"name":"ids[]","in":"query"},
                    {"name":"paging","in":"query","schema":{"$ref":"#/components/schemas/Page"}},
                    {"name":"X-Trace","in":"header"}],
                  "responses":{"200":{},"4XX":{}}}},
              "/free":{"get":{"parameters":[{"name":"q","in":"query",
                  "schema":{"type":"object","additionalProperties":true}}],
                  "responses":{"200":{},"default":{}}}}}}"##;
        let s = Spec::parse(j).expect("spec");
        let mut e = Endpoint::default();
        for q in [
            "limit",
            "filter[status]",
            "ids[]",
            "page",
            "size",
            "debug",
            "X-Trace",
        ] {
            e.query_params.insert(q.into(), 1);
        }
        for c in [200, 404, 429, 500, 302] {
            e.status_codes.insert(c, 1);
        }
        // Path-level $ref, deepObject brackets, arrays, exploded object properties are
        // documented; a header is not a query parameter.
        assert_eq!(
            s.undocumented("GET", "/items", &e),
            (vec!["X-Trace".to_string(), "debug".into()], vec![302, 500])
        );
        // An exploded free-form object admits any name; `default` documents every status.
        assert_eq!(s.undocumented("GET", "/free", &e), (vec![], vec![]));
        // Nothing to say about an endpoint the spec does not document.
        assert_eq!(s.undocumented("GET", "/other", &e), (vec![], vec![]));
    }

    #[test]
    fn the_previous_revision_adds_removed_operations_only() {
        let new = Spec::parse(r#"{"openapi":"3.1.0","paths":{"/a/{x}":{"get":{}}}}"#).expect("new");
        let old = Spec::parse(
            r#"{"swagger":"2.0","paths":{"/a/{id}":{"get":{},"delete":{}},"/b":{"get":{}}}}"#,
        )
        .expect("old");
        let s = new.with_previous(old);
        // Renaming a parameter does not remove an operation.
        let removed: Vec<(String, String)> = s
            .ops
            .iter()
            .filter(|o| o.removed)
            .map(|o| (o.method.clone(), o.path.clone()))
            .collect();
        assert_eq!(
            removed,
            [
                ("DELETE".into(), "/a/{id}".into()),
                ("GET".into(), "/b".into())
            ]
        );
        assert_eq!(judge(&s, "GET", "/a/{id}").status, "documented");
        let v = judge(&s, "DELETE", "/a/{id}");
        assert_eq!((v.status, v.reason), ("zombie", Some("removed")));
        assert_eq!(s.current().count(), 1);
    }
}
