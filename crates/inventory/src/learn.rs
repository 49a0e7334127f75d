//! Learned templating: segments that the stateless classifier kept literal (slugs, names:
//! `/users/alice`, `/repos/octo/hello-world/issues`) become parameters when many distinct
//! values sit at the same position under the same prefix and their endpoints return the
//! same kind of object (the same JSON response shape).
//!
//! It runs on the merged inventory, so it sees all traffic and its result does not depend
//! on thread count or packet order. Rules, in order of precedence:
//! - constants beat parameters: where the classifier already found a parameter at that
//!   position (`/users/{id}`), literal siblings (`/users/me`) stay;
//! - common words of API paths (`me`, `search`, `settings`...) and versions stay;
//! - endpoints without a JSON 2xx response (no shape) are never merged: two documented
//!   operations must not become one;
//! - at least [`MIN_VALUES`] distinct values of one shape are needed.

use crate::endpoint::Inventory;
use crate::template::ParamType;
use std::collections::{BTreeMap, BTreeSet};

/// Distinct values of one shape at one position before they become a parameter.
pub const MIN_VALUES: usize = 5;
/// Fewer response leaf paths than this describe an object too poorly to compare.
const MIN_PATHS: usize = 3;
/// Literal values compared per group (the first ones in key order): bounds the work at
/// MAX_CANDIDATES x MAX_CLUSTERS set comparisons per group.
const MAX_CANDIDATES: usize = 4096;
/// Clusters of response shapes followed per group.
const MAX_CLUSTERS: usize = 64;
/// Share of the smaller of two sets of leaf paths that the other must contain for two
/// responses to be the same kind of object: a sample of an object (optional fields come and
/// go) is nearly a subset of the union of that object's samples.
const SIMILAR: f64 = 0.8;

/// Whether response paths `a` are the same kind of object as `u` (a cluster's union): the
/// overlap coefficient, with at least `MIN_PATHS` paths in common.
fn similar(a: &BTreeSet<&str>, u: &BTreeSet<&str>) -> bool {
    let inter = a.intersection(u).count();
    let small = a.len().min(u.len());
    inter >= MIN_PATHS && small > 0 && inter as f64 >= SIMILAR * small as f64
}

/// Passes over all positions.
const ROUNDS: usize = 3;

fn learned_count(segs: &[Vec<String>]) -> usize {
    segs.iter().flatten().filter(|s| s.as_str() == "{}").count()
}

/// Path positions considered for learning.
const MAX_DEPTH: usize = 16;

/// Words that name the caller or an action rather than an object: they stay literal even
/// when they return the same kind of object (`/users/me`). Other words (`search`,
/// `settings`) stay literal because they return something else.
const CONSTANTS: &[&str] = &["me", "self", "current", "mine", "my", "new"];

fn is_param(seg: &str) -> bool {
    seg.starts_with('{') && seg.ends_with('}')
}

/// Versions stay literal (`v1`, `v2beta`, `2.0`).
fn is_version(seg: &str) -> bool {
    let b = seg.as_bytes();
    (b.len() >= 2 && (b[0] == b'v' || b[0] == b'V') && b[1].is_ascii_digit())
        || (b.first().is_some_and(u8::is_ascii_digit)
            && seg.contains('.')
            && seg.bytes().all(|c| c.is_ascii_digit() || c == b'.'))
}

pub type Key = (String, String, String);

/// The inventory with learned parameters; endpoints that collapse into one are merged.
/// Endpoints in `frozen` (documented operations) are never changed.
pub fn learn(inv: &Inventory, frozen: &BTreeSet<Key>) -> Inventory {
    // Working copies of every path as segments; learned positions become "{}".
    let keys: Vec<&Key> = inv.endpoints.keys().collect();
    let mut segs: Vec<Vec<String>> = keys
        .iter()
        .map(|(_, _, p)| p.split('/').skip(1).map(String::from).collect())
        .collect();
    // What each endpoint returns: the leaf paths of its 2xx JSON responses.
    let shapes: Vec<Option<BTreeSet<&str>>> = keys
        .iter()
        .map(|k| {
            let e = inv.endpoints.get(*k)?;
            let paths: BTreeSet<&str> =
                e.response_schema.paths.keys().map(String::as_str).collect();
            (paths.len() >= MIN_PATHS).then_some(paths)
        })
        .collect();
    let constant = |v: &str| CONSTANTS.contains(&v.to_ascii_lowercase().as_str()) || is_version(v);
    let mut learned_any = false;
    // Positions left to right: a parameter learned at one position aligns the next.
    // Deeper positions are not learned (bounds the work at endpoints x MAX_DEPTH).
    let depth = segs.iter().map(Vec::len).max().unwrap_or(0).min(MAX_DEPTH);
    // A parameter learned deeper can align siblings at a shallower position: repeat while
    // anything changes (a few rounds at most).
    for _round in 0..ROUNDS {
        let before = learned_count(&segs);
        for pos in 0..depth {
            // (host, method, length, prefix) -> members
            let mut groups: BTreeMap<(&str, &str, usize, String), Vec<usize>> = BTreeMap::new();
            for (i, s) in segs.iter().enumerate() {
                if !keys[i].2.starts_with('/') || s.len() <= pos {
                    continue;
                }
                let prefix = s[..pos].join("/");
                groups
                    .entry((keys[i].0.as_str(), keys[i].1.as_str(), s.len(), prefix))
                    .or_default()
                    .push(i);
            }
            for members in groups.values() {
                let candidates: Vec<usize> = members
                    .iter()
                    .copied()
                    .filter(|&i| {
                        let v = segs[i][pos].as_str();
                        !is_param(v)
                            && !frozen.contains(keys[i])
                            && !constant(v)
                            && shapes[i].is_some()
                    })
                    .take(MAX_CANDIDATES)
                    .collect();
                if candidates.is_empty() {
                    continue;
                }
                let params: Vec<usize> = members
                    .iter()
                    .copied()
                    .filter(|&i| is_param(&segs[i][pos]))
                    .collect();
                let mut hit = Vec::new();
                if !params.is_empty() {
                    // Where the classifier found parameters here, literals that return the same
                    // kind of object are values it did not recognise (`cus_GOamkFFwKflSu2`
                    // beside `cus_9a8F7d6E5c4B`); the others are constants (`/users/me` with its
                    // own shape, `/search`).
                    let mut union: BTreeSet<&str> = BTreeSet::new();
                    for &i in &params {
                        if let Some(p) = &shapes[i] {
                            union.extend(p.iter().copied());
                        }
                    }
                    for &i in &candidates {
                        if shapes[i].as_ref().is_some_and(|p| similar(p, &union)) {
                            hit.push(i);
                        }
                    }
                } else {
                    // Clusters of literals returning the same kind of object; a cluster of at
                    // least MIN_VALUES distinct values is a parameter.
                    let mut clusters: Vec<(BTreeSet<&str>, Vec<usize>)> = Vec::new();
                    for &i in &candidates {
                        let Some(p) = &shapes[i] else { continue };
                        let room = clusters.len() < MAX_CLUSTERS;
                        match clusters.iter_mut().find(|(u, _)| similar(p, u)) {
                            Some((u, m)) => {
                                u.extend(p.iter().copied());
                                m.push(i);
                            }
                            None if room => clusters.push((p.clone(), vec![i])),
                            None => {}
                        }
                    }
                    for (_, m) in clusters {
                        let distinct: BTreeSet<&str> =
                            m.iter().map(|&i| segs[i][pos].as_str()).collect();
                        if distinct.len() >= MIN_VALUES {
                            hit.extend(m);
                        }
                    }
                }
                for i in hit {
                    segs[i][pos] = "{}".into();
                    learned_any = true;
                }
            }
        }
        if learned_count(&segs) == before {
            break;
        }
    }
    if !learned_any {
        return inv.clone();
    }
    let mut out = Inventory {
        endpoints: BTreeMap::new(),
        ..inv.clone()
    };
    for (i, k) in keys.iter().enumerate() {
        let Some(e) = inv.endpoints.get(*k) else {
            continue;
        };
        let mut e = e.clone();
        // A documented path keeps the spec's parameter names.
        let key = if frozen.contains(*k) {
            (*k).clone()
        } else {
            let (path, params) = renamed(&segs[i], &k.2, &e.path_params);
            e.path_params = params;
            (k.0.clone(), k.1.clone(), path)
        };
        let mut capped = 0;
        out.endpoints
            .entry(key)
            .or_default()
            .merge_from(&e, &mut capped);
        out.values_capped += capped;
    }
    out
}

/// The path of learned segments `segs` (`k_path` when empty) and its parameters in
/// template order: the classifier's keep their types, learned ones are strings; names are
/// renumbered id, id2, id3...
fn renamed(
    segs: &[String],
    k_path: &str,
    old: &[(String, ParamType)],
) -> (String, Vec<(String, ParamType)>) {
    let mut old = old.iter();
    let mut params = Vec::new();
    let mut path = String::new();
    for s in segs {
        path.push('/');
        if is_param(s) {
            let ty = if s == "{}" {
                ParamType::Token
            } else {
                old.next().map_or(ParamType::Token, |p| p.1)
            };
            let name = if params.is_empty() {
                "id".to_string()
            } else {
                format!("id{}", params.len() + 1)
            };
            path.push_str(&format!("{{{name}}}"));
            params.push((name, ty));
        } else {
            path.push_str(s);
        }
    }
    if segs.is_empty() {
        path = k_path.to_string();
    }
    (path, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use apitap_http::{Body, Exchange, Headers, Request, Response};

    fn exchange(path: &str, body: &str) -> Exchange {
        let h = |v: &[(&str, &str)]| Headers::from_pairs(v.iter().map(|(k, v)| (*k, v.as_bytes())));
        Exchange {
            client: "10.0.0.1:40000".parse().expect("addr"),
            server: "10.0.0.2:80".parse().expect("addr"),
            tunnel: 0,
            request: Some(Request {
                ts: 1,
                method: "GET".into(),
                uri: path.as_bytes().to_vec(),
                version: 11,
                headers: h(&[("Host", "api.example.com")]),
                body: Body::default(),
                gap: false,
            }),
            response: Some(Response {
                ts: 2,
                ts_end: 2,
                status: 200,
                reason: "OK".into(),
                version: 11,
                headers: h(&[("Content-Type", "application/json")]),
                body: Body {
                    len: body.len() as u64,
                    data: body.as_bytes().to_vec(),
                    ..Body::default()
                },
                gap: false,
            }),
        }
    }

    fn paths(traffic: &[(String, &str)]) -> Vec<String> {
        let scanner = apitap_pii::Scanner::new();
        let mut inv = Inventory::new(10_000);
        for (p, b) in traffic {
            let x = exchange(p, b);
            inv.observe(&x, &scanner.scan(&x));
        }
        learn(&inv, &BTreeSet::new())
            .endpoints
            .keys()
            .map(|k| k.2.clone())
            .collect()
    }

    const USER: &str = r#"{"login":"x","id":1,"followers":3}"#;
    const REPO: &str = r#"{"name":"r","owner":{"login":"x"},"stars":1}"#;
    const ISSUES: &str = r#"[{"number":1,"title":"t","state":"open"}]"#;
    const ME: &str = r#"{"login":"me","id":1,"followers":3,"plan":"pro"}"#;

    #[test]
    fn slugs_become_parameters_and_constants_stay() {
        let owners = [
            "octocat",
            "torvalds",
            "rust-lang",
            "alice",
            "bob-smith",
            "carol99",
        ];
        let mut t: Vec<(String, &str)> = Vec::new();
        for (k, o) in owners.iter().enumerate() {
            t.push((format!("/users/{o}"), USER));
            let repo = ["hello", "linux", "rust", "notes", "dotfiles", "site"][k];
            t.push((format!("/repos/{o}/{repo}"), REPO));
            t.push((format!("/repos/{o}/{repo}/issues"), ISSUES));
        }
        t.push(("/users/me".into(), ME));
        t.push(("/search".into(), ISSUES));
        let got = paths(&t);
        assert_eq!(
            got,
            [
                "/repos/{id}/{id2}",
                "/repos/{id}/{id2}/issues",
                "/search",
                "/users/me",
                "/users/{id}"
            ]
        );
    }

    #[test]
    fn resources_with_different_shapes_never_merge() {
        // Ten collections under one prefix: each its own object, so each its own endpoint.
        let names = [
            "users", "orders", "products", "carts", "invoices", "refunds", "coupons", "reviews",
            "stores", "brands",
        ];
        let t: Vec<(String, String)> = names
            .iter()
            .map(|n| {
                (
                    format!("/api/v1/{n}"),
                    format!(r#"{{"{n}":[{{"{n}_id":1}}]}}"#),
                )
            })
            .collect();
        let t: Vec<(String, &str)> = t.iter().map(|(p, b)| (p.clone(), b.as_str())).collect();
        assert_eq!(paths(&t).len(), names.len());
    }

    #[test]
    fn few_values_or_no_shape_stay_literal() {
        let t: Vec<(String, &str)> = ["a1", "b2", "c3", "d4"]
            .iter()
            .map(|v| (format!("/teams/{v}"), USER))
            .collect();
        assert_eq!(paths(&t).len(), 4, "four values are not enough");
        let t: Vec<(String, &str)> = ["a1", "b2", "c3", "d4", "e5", "f6"]
            .iter()
            .map(|v| (format!("/pages/{v}"), "<html></html>"))
            .collect();
        assert_eq!(paths(&t).len(), 6, "no JSON shape, no merge");
    }
}
