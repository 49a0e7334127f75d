//! `apitap openapi`: the observed API as an OpenAPI 3.1 document (paths, parameters, body
//! schemas, responses, security schemes, servers per host), from an inventory file.

use anyhow::{Context, Result};
use apitap_inventory::{Document, EndpointOut};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn security_scheme(kind: &str) -> Option<(&'static str, Value)> {
    Some(match kind {
        "basic" => ("basicAuth", json!({"type": "http", "scheme": "basic"})),
        "bearer" => ("bearerAuth", json!({"type": "http", "scheme": "bearer"})),
        "digest" => ("digestAuth", json!({"type": "http", "scheme": "digest"})),
        "api_key" => (
            "apiKey",
            json!({"type": "apiKey", "in": "header", "name": "X-API-Key"}),
        ),
        "cookie" => (
            "cookieAuth",
            json!({"type": "apiKey", "in": "cookie", "name": "session"}),
        ),
        _ => return None,
    })
}

/// A path we can write: starts with `/`, braces only around whole parameters.
fn writable(path: &str) -> bool {
    path.starts_with('/')
        && path.split('/').all(|s| {
            let inner = s.strip_prefix('{').and_then(|r| r.strip_suffix('}'));
            match inner {
                Some(n) => !n.is_empty() && !n.contains(['{', '}']),
                None => !s.contains(['{', '}']),
            }
        })
}

fn operation(e: &EndpointOut, schemes: &mut BTreeMap<&'static str, Value>) -> Value {
    let mut params: Vec<Value> = e
        .path_params
        .iter()
        .map(|p| {
            let mut schema = json!({"type": p.ty});
            if let Some(f) = &p.format {
                if f != "hex" {
                    schema["format"] = json!(f);
                }
            }
            json!({"name": p.name, "in": "path", "required": true, "schema": schema})
        })
        .collect();
    for (q, n) in &e.query_params {
        let ty = e.query_param_types.get(q).map_or("string", String::as_str);
        params.push(
            json!({"name": q, "in": "query", "required": *n >= e.hits, "schema": {"type": ty}}),
        );
    }
    let mut responses = Map::new();
    for (code, n) in &e.status_codes {
        let mut r = json!({"description": format!("seen {n} times")});
        let ok = code.starts_with('2');
        if ok {
            if let (Some(s), Some(ct)) =
                (&e.response_schema, e.response_content_types.keys().next())
            {
                r["content"] = json!({ ct: { "schema": s } });
            }
        }
        responses.insert(code.clone(), r);
    }
    if responses.is_empty() {
        responses.insert(
            "default".into(),
            json!({"description": "no response was seen"}),
        );
    }
    let mut op = json!({
        "operationId": format!("{}_{}", e.method.to_ascii_lowercase(), e.path.trim_matches('/').replace(['/', '{', '}', '-', '.'], "_")),
        "responses": responses,
        "x-apitap": {
            "host": e.host, "hits": e.hits, "first_seen": e.first_seen, "last_seen": e.last_seen,
            "sensitive_data": e.pii.iter().map(|p| format!("{} at {} {}", p.ty, p.location, p.field)).collect::<Vec<_>>(),
            "spec": e.spec,
        },
    });
    if !params.is_empty() {
        op["parameters"] = Value::Array(params);
    }
    if let Some(s) = &e.request_schema {
        let ct = e
            .request_content_types
            .keys()
            .next()
            .cloned()
            .unwrap_or_else(|| "application/json".into());
        op["requestBody"] = json!({"content": { ct: { "schema": s } }});
    }
    let mut security: Vec<Value> = Vec::new();
    for a in &e.auth {
        if a == "none" {
            security.push(json!({}));
        } else if let Some((name, scheme)) = security_scheme(a) {
            schemes.insert(name, scheme);
            security.push(json!({ name: [] }));
        }
    }
    if !security.is_empty() {
        op["security"] = Value::Array(security);
    }
    op
}

/// Build the OpenAPI document of an inventory.
pub fn build(doc: &Document) -> Value {
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut servers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut schemes: BTreeMap<&'static str, Value> = BTreeMap::new();
    let methods = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    for e in &doc.endpoints {
        let m = e.method.to_ascii_lowercase();
        if !writable(&e.path) || !methods.contains(&m.as_str()) {
            continue;
        }
        let item = paths.entry(e.path.clone()).or_default();
        if item.contains_key(&m) {
            continue; // the same operation on another host: the first host's wins
        }
        item.insert(m, operation(e, &mut schemes));
        servers
            .entry(e.path.clone())
            .or_default()
            .insert(format!("http://{}", e.host));
    }
    let all_hosts: BTreeSet<&String> = servers.values().flatten().collect();
    let mut out_paths = Map::new();
    for (p, mut item) in paths {
        let s = servers.get(&p).cloned().unwrap_or_default();
        if all_hosts.len() > 1 {
            item.insert(
                "servers".into(),
                Value::Array(s.iter().map(|u| json!({"url": u})).collect()),
            );
        }
        out_paths.insert(p, Value::Object(item));
    }
    let mut o = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "API observed by apitap",
            "version": doc.generated_at,
            "description": format!("Generated by {} from traffic seen between {} and {}.", doc.generator,
                doc.capture.first_packet.as_deref().unwrap_or("?"), doc.capture.last_packet.as_deref().unwrap_or("?")),
        },
        "servers": all_hosts.iter().map(|u| json!({"url": u})).collect::<Vec<_>>(),
        "paths": out_paths,
    });
    if !schemes.is_empty() {
        o["components"] = json!({ "securitySchemes": schemes });
    }
    o
}

/// `apitap openapi INVENTORY -o FILE`: YAML unless the file name ends in `.json`.
pub fn run(inventory: &Path, output: &Path) -> Result<()> {
    let doc = crate::output::read_inventory(inventory)?;
    let api = build(&doc);
    let json_out = output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let body = if json_out {
        serde_json::to_string_pretty(&api)? + "\n"
    } else {
        yaml_serde::to_string(&api).context("writing YAML")?
    };
    crate::output::write_atomic(output, body.as_bytes())
}
