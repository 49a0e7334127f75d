//! Learned templating: segments that the stateless classifier kept literal (slugs, names:
//! `/users/alice`, `/repos/octo/hello-world/issues`) become parameters, decided by
//! cardinality, sub-paths and response shape, position by position from the left.
//!
//! It runs on the merged inventory, so it sees all traffic and its result does not depend
//! on thread count or packet order. For each (host, prefix) node and position, across
//! methods and path lengths:
//! - **values come and go**: at least 6 distinct literals, 60% of them seen once, make a
//!   value position, shape or not (a `DELETE` answering 204 has none): sparse traffic calls
//!   each name a few times, each value once; literals called at most twice the median join
//!   (right after an id the classifier recognised, only those seen once), busier ones join
//!   when they lead to the same sub-paths as the others (80% of theirs, at least two) and
//!   answer alike there, so `/gists/public` beside `/gists/{id}` stays;
//! - **same kind of object**: per method and length, at least [`MIN_VALUES`] distinct
//!   literals whose 2xx JSON responses describe the same object (or that answer like the
//!   classifier's parameters there, where the path goes on alike) become a parameter, each
//!   through at least half of what it answers in the group (NetBox's
//!   `/api/dcim/manufacturers` answering like `/api/ipam/roles` does not make `dcim` a
//!   value); when nearly all literals at the node are values so found, their calls that
//!   answer nothing to compare (`DELETE` answering 204) join them, whatever the method;
//!   right after a parameter, literals each called many times must be 12 unless they share
//!   sub-paths (`/invoices/{id}/pay`, `/void`, `/send` are actions, not values);
//! - **a child shared by many values** (`/users/alice/repos`, `/users/bob/repos`) makes
//!   them values, unless they each have many children (ids drawn from one pool recur
//!   under every resource: Trello's `/1/boards/acme-corp`, `/1/cards/acme-corp`);
//! - **a few among many**: busy literals that are under half of the busy siblings called
//!   with the same method, lead to no common name and join no parameter already there are
//!   names answering alike (Stripe's resources all answer a deleted-object marker);
//! - **consistency veto**: literals that, with the same method and rest of path, answer
//!   different kinds of object (`GET /v1/customers/{id}` and `GET /v1/coupons/{id}`) are
//!   names, whatever else they share;
//! - below a literal left at a value position that leads where the values there lead (a
//!   value that did not make it: `/repos/{owner}/hello/issues`), counts alone decide
//!   nothing: one object's traffic is too thin to tell values from names; a literal leading
//!   elsewhere is a name beside the values (`/user/codespaces/secrets/{name}` beside
//!   `/user/codespaces/{name}/start`), learned below like any other;
//! - **names of what a parameter's objects hold**: right after a parameter, when nearly all
//!   literals each follow three or more of its values (two, under ids the classifier
//!   recognised) and lead to values of their own
//!   (`pods`, `secrets` under `/namespaces/{ns}/`, then object names; Autotask's `Notes`
//!   under `/Companies/{id}/`, then ids) or to nothing (Twitter's `/users/{id}/followers`;
//!   after ids the classifier recognised, also beside a path below: Loket's
//!   `/employers/{id}/leavebalances` and its `/summary`), none is a value; so too one
//!   literal further on, for literals that end the path or lead to ids (Hetzner's
//!   `/servers/{id}/actions/reboot`, Codat's `/data/bills/{id}`);
//! - **API names**: a literal that a version follows (`/apis/apps/v1`) stays;
//! - constants (`me`, `self`, ...) and versions stay; documented endpoints never change.
//!
//! `bench/specf1.py` measures endpoint F1 on traffic generated from real OpenAPI
//! descriptions; docs/inventory.md has the figures.

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

/// Words that name the caller, an action or an alias rather than an object: they stay
/// literal even when they return the same kind of object (`/users/me`, GitHub's
/// `/releases/latest`, DigitalOcean's `/projects/default`). Other words (`search`,
/// `settings`) stay literal because they return something else.
const CONSTANTS: &[&str] = &[
    "me", "self", "current", "mine", "my", "new", "latest", "default",
];

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
    // What each endpoint returns: the leaf paths of its 2xx JSON responses (`leaves`), and
    // its shape when they are enough to describe an object (`shapes`).
    let leaves: Vec<BTreeSet<&str>> = keys
        .iter()
        .map(|k| {
            inv.endpoints.get(*k).map_or_else(BTreeSet::new, |e| {
                e.response_schema.paths.keys().map(String::as_str).collect()
            })
        })
        .collect();
    let shapes: Vec<Option<BTreeSet<&str>>> = leaves
        .iter()
        .map(|p| (p.len() >= MIN_PATHS).then(|| p.clone()))
        .collect();
    // The segments as observed, to follow a value across rounds once it is learned.
    let orig: Vec<Vec<&str>> = keys
        .iter()
        .map(|k| k.2.split('/').skip(1).collect())
        .collect();
    let hits: Vec<u64> = keys
        .iter()
        .map(|k| inv.endpoints.get(*k).map_or(0, |e| e.hits))
        .collect();
    let constant = |v: &str| CONSTANTS.contains(&v.to_ascii_lowercase().as_str()) || is_version(v);
    let mut learned_any = false;
    // (host, prefix, position) where values come and go (see `Node::value_position`), with
    // what follows its parameter there (the observed next segments).
    let mut value_nodes: BTreeMap<(String, String, usize), BTreeSet<&str>> = BTreeMap::new();
    // Positions left to right: a parameter learned at one position aligns the next.
    // Deeper positions are not learned (bounds the work at endpoints x MAX_DEPTH).
    let depth = segs.iter().map(Vec::len).max().unwrap_or(0).min(MAX_DEPTH);
    // A parameter learned deeper can align siblings at a shallower position: repeat while
    // anything changes (a few rounds at most).
    for _round in 0..ROUNDS {
        let before = learned_count(&segs);
        for pos in 0..depth {
            let node_of =
                |i: usize| -> (&str, String) { (keys[i].0.as_str(), norm_prefix(&segs[i], pos)) };
            // A literal left at a place where values come and go, leading where the values
            // there lead, is a value that did not make it (yet): below it the traffic of one
            // object is too thin to tell values from names (`/repos/{owner}/hello/issues`,
            // `/pulls`, ... beside `/repos/{owner}/{repo}/issues`). A literal leading
            // elsewhere is a name beside the values (`/user/codespaces/secrets/{name}`
            // beside `/user/codespaces/{name}/start`), and what is below it is learned.
            let thin = |members: &[usize]| {
                let Some(&i) = members.first() else {
                    return false;
                };
                (0..pos).any(|q| {
                    if is_param(&segs[i][q]) {
                        return false;
                    }
                    let node = (keys[i].0.clone(), norm_prefix(&segs[i], q), q);
                    value_nodes.get(&node).is_some_and(|after| {
                        members
                            .iter()
                            .any(|&m| orig[m].get(q + 1).is_some_and(|c| after.contains(c)))
                    })
                })
            };

            // Literals that a version follows (`/apis/apps/v1`) name an API, not an object.
            let versioned: BTreeSet<(&str, &str)> = (0..segs.len())
                .filter(|&i| segs[i].get(pos + 1).is_some_and(|n| is_version(n)))
                .filter_map(|i| Some((keys[i].0.as_str(), *orig[i].get(pos)?)))
                .collect();
            // Each endpoint's literal value at `pos`, learned or not; None for classifier
            // parameters, documented endpoints, constants and names of APIs.
            let val: Vec<Option<&str>> = (0..segs.len())
                .map(|i| {
                    let s = segs[i].get(pos)?.as_str();
                    let v = if s == "{}" { *orig[i].get(pos)? } else { s };
                    (!is_param(v)
                        && !frozen.contains(keys[i])
                        && !constant(v)
                        && !versioned.contains(&(keys[i].0.as_str(), v)))
                    .then_some(v)
                })
                .collect();
            let eligible = |i: usize| -> bool {
                let v = segs[i][pos].as_str();
                !is_param(v) && val[i].is_some()
            };
            // The node view: every endpoint under (host, prefix) with a segment at `pos`,
            // whatever its method and length.
            let mut nodes: BTreeMap<(&str, String), Vec<usize>> = BTreeMap::new();
            for (i, s) in segs.iter().enumerate() {
                if keys[i].2.starts_with('/') && s.len() > pos {
                    nodes.entry(node_of(i)).or_default().push(i);
                }
            }
            let mut hit: Vec<usize> = Vec::new();
            let mut new_value_nodes = Vec::new();
            for members in nodes.values() {
                let view = Node::new(members, &val, &hits);
                // Members by literal value, so that each value is looked at once.
                let mut by_value: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
                for &i in members {
                    if let Some(v) = val[i] {
                        by_value.entry(v).or_default().push(i);
                    }
                }
                if pos > 0 && names_after_param(&by_value, pos, &segs, &orig, &hits) {
                    continue;
                }
                // Values that mostly came once, many of them: a parameter position, shape or
                // not. Otherwise the parameters already there (from the
                // classifier or an earlier round) are the reference.
                let thin_node = thin(members);
                // Right after ids the classifier recognised, literals name what the object
                // holds (`/employers/{id}/departments`) far more often than they are values of
                // a second parameter: there only values seen once join (DocuSign's
                // `/signatures/{id}/{imageType}`).
                let after_id = pos > 0
                    && members
                        .iter()
                        .all(|&i| orig[i].get(pos - 1).is_some_and(|p| is_param(p)));
                let base: BTreeSet<&str> = match view.value_position(after_id) {
                    Some(cap) if !thin_node => {
                        let light: BTreeSet<&str> = view
                            .hits
                            .iter()
                            .filter(|(_, h)| **h <= cap)
                            .map(|(v, _)| *v)
                            .collect();
                        if consistent(&light, members, pos, &val, &segs, &leaves, &keys) {
                            light
                        } else {
                            BTreeSet::new()
                        }
                    }
                    // Or many values leading to one same name below (`/users/alice/repos`,
                    // `/users/bob/repos`, ...): objects of one collection, however often each
                    // is called. Static names rarely share a child; when they do, their
                    // answers differ and the consistency check keeps them apart.
                    None if !thin_node => {
                        let shared = shared_child(members, pos, &val, &segs);
                        if shared.len() * 2 >= view.hits.len()
                            && consistent(&shared, members, pos, &val, &segs, &leaves, &keys)
                        {
                            shared
                        } else {
                            BTreeSet::new()
                        }
                    }
                    _ => BTreeSet::new(),
                };
                let mut vals = base.clone();
                if let (false, Some(&i)) = (base.is_empty(), members.first()) {
                    new_value_nodes.push((keys[i].0.clone(), norm_prefix(&segs[i], pos), pos));
                }
                // The reference: the values found so far and the parameters already there
                // (from the classifier or an earlier round).
                let in_ref =
                    |i: usize| is_param(&segs[i][pos]) || val[i].is_some_and(|v| base.contains(v));
                if !thin_node && members.iter().any(|&i| in_ref(i)) {
                    // Next segments that follow several values are names (`issues`); the
                    // others are values of the next position, not learned yet.
                    let mut next_vals: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
                    for &i in members.iter().filter(|&&i| in_ref(i)) {
                        if let Some(n) = segs[i].get(pos + 1) {
                            next_vals
                                .entry(n.as_str())
                                .or_default()
                                .insert(orig[i][pos]);
                        }
                    }
                    let names: BTreeSet<&str> = next_vals
                        .into_iter()
                        .filter(|(_, vs)| vs.len() >= 2)
                        .map(|(n, _)| n)
                        .collect();
                    let like =
                        Continuations::of(&in_ref, &names, members, pos, &segs, &leaves, &keys);
                    // Other values join when they lead where the reference leads and answer
                    // alike there: `alice`, called ten times, beside `bob-17` and `carol-3`;
                    // a value the classifier missed, called once, beside `{id}`;
                    // `/gists/public` (its own answer) beside `/gists/{id}` stays.
                    for (v, ms) in &by_value {
                        let light = view.hits.get(v).is_some_and(|h| *h <= 2);
                        if !base.contains(v) && like.admits(ms, light, pos, &segs, &leaves, &keys) {
                            vals.insert(v);
                        }
                    }
                }
                for v in &vals {
                    hit.extend(by_value.get(v).into_iter().flatten());
                }
                // Values returning the same kind of object, per method and length.
                let mut groups: BTreeMap<(&str, usize), Vec<usize>> = BTreeMap::new();
                for &i in members {
                    groups
                        .entry((keys[i].1.as_str(), segs[i].len()))
                        .or_default()
                        .push(i);
                }
                // Values found by shape in some group, for the groups where nothing answers
                // with a shape.
                let mut by_shape_vals: BTreeSet<&str> = BTreeSet::new();
                for group in groups.values() {
                    let found = by_shape(group, pos, &segs, &shapes, &eligible);
                    let vals: BTreeSet<&str> =
                        found.iter().map(|&i| segs[i][pos].as_str()).collect();
                    // Right after a parameter, values seen many times each look like the
                    // actions or sub-resources of one object (`/invoices/{id}/pay`,
                    // `/void`, `/send`...): they need more of them, unless they share
                    // sub-paths as values of one parameter do (`/repos/{owner}/hello/pulls`,
                    // `/repos/{owner}/infra/pulls`).
                    let after_param =
                        pos > 0 && group.first().is_some_and(|&i| is_param(&segs[i][pos - 1]));
                    let mut below: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
                    let mut names_here: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
                    for (v, ms) in by_value.iter().filter(|(v, _)| vals.contains(*v)) {
                        for &i in ms {
                            let Some(s) = segs[i].get(pos + 1) else {
                                continue;
                            };
                            below.entry(s.as_str()).or_default().insert(v);
                            if !is_param(s) && group.contains(&i) {
                                names_here.entry(s.as_str()).or_default().insert(v);
                            }
                        }
                    }
                    let shared_below = below.values().any(|vs| vs.len() >= 2);
                    let busy = view.median_of(&vals) > 2;
                    let heavy = after_param && !shared_below && busy;
                    // Busy values that are a few among many busy siblings called with the
                    // same method, leading to no common name, are names that happen to
                    // answer alike: `DELETE /v1/customers/...`, `/v1/radar/...` among a
                    // hundred resources all answering a deleted-object marker. The values
                    // of a parameter are most of what sits at their position (where one is
                    // already there, these are stragglers joining it).
                    let method = group.first().map_or("", |&i| keys[i].1.as_str());
                    let busy_siblings = by_value
                        .iter()
                        .filter(|(v, ms)| {
                            view.hits.get(*v).is_some_and(|h| *h > 2)
                                && ms.iter().any(|&i| keys[i].1 == method)
                        })
                        .count();
                    let names_shared = names_here.values().any(|vs| vs.len() >= 2);
                    let param_here = group.iter().any(|&i| is_param(&segs[i][pos]));
                    let minority =
                        busy && !names_shared && !param_here && vals.len() * 2 < busy_siblings;
                    if (heavy && vals.len() < MIN_HEAVY_VALUES)
                        || minority
                        || !consistent(&vals, members, pos, &val, &segs, &leaves, &keys)
                    {
                        continue;
                    }
                    by_shape_vals.extend(vals.iter().copied());
                    hit.extend(found);
                }
                // A value is a value whatever the method: when nearly all the literals here
                // answer alike (the package types under `/orgs/{org}/packages/`), where their
                // other calls answer nothing to compare (`DELETE`, `POST .../restore`
                // answering 204), those join too. Where they answer something, their own
                // group decides; where only some literals answer alike (a few of many
                // resources), nothing spreads.
                let most = by_shape_vals.len() * 10 >= by_value.len() * 8;
                for group in groups.values() {
                    if !most || group.iter().any(|&i| shapes[i].is_some()) {
                        continue;
                    }
                    hit.extend(group.iter().copied().filter(|&i| {
                        eligible(i) && val[i].is_some_and(|v| by_shape_vals.contains(v))
                    }));
                }
            }
            for i in hit {
                segs[i][pos] = "{}".into();
                learned_any = true;
            }
            for k in new_value_nodes {
                value_nodes.entry(k).or_default();
            }
            // What follows the parameter at each value node of this position (value nodes
            // are few; the nodes of a slug flood are many).
            for ((host, prefix, _), after) in value_nodes.iter_mut().filter(|(k, _)| k.2 == pos) {
                if let Some(members) = nodes.get(&(host.as_str(), prefix.clone())) {
                    after.extend(
                        members
                            .iter()
                            .filter(|&&i| is_param(&segs[i][pos]))
                            .filter_map(|&i| orig[i].get(pos + 1).copied()),
                    );
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
    let mut out = inv.without_endpoints();
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

/// Fold endpoints seen since the last fold into a folded inventory: a new endpoint whose path
/// fits a path of `learned` (same host, method and number of segments, each segment equal or
/// a parameter there) joins the most specific one (literals before parameters, left to right,
/// so `/users/me` stays `/users/me` beside `/users/{id}`). Returns the rest, with the counters
/// and services of `new`, to be learned together with `learned`.
pub fn fold_into(learned: &mut Inventory, mut new: Inventory) -> Inventory {
    let endpoints = std::mem::take(&mut new.endpoints);
    // Where each new endpoint goes: its own key, the template it fits, or nowhere yet.
    let targets: Vec<Option<Key>> = {
        // Paths of `learned` as segments, by (host, method, number of segments).
        type Paths<'a> = Vec<(Vec<&'a str>, &'a Key)>;
        let mut by_shape: BTreeMap<(&str, &str, usize), Paths> = BTreeMap::new();
        // Only templates: a literal path is fitted by the same literal only (found by key).
        for k in learned.endpoints.keys().filter(|k| k.2.contains('{')) {
            let segs: Vec<&str> = k.2.split('/').collect();
            by_shape
                .entry((k.0.as_str(), k.1.as_str(), segs.len()))
                .or_default()
                .push((segs, k));
        }
        endpoints
            .keys()
            .map(|k| {
                if learned.endpoints.contains_key(k) {
                    return Some(k.clone());
                }
                let segs: Vec<&str> = k.2.split('/').collect();
                by_shape
                    .get(&(k.0.as_str(), k.1.as_str(), segs.len()))
                    .into_iter()
                    .flatten()
                    .filter(|(t, _)| t.iter().zip(&segs).all(|(a, b)| a == b || is_param(a)))
                    .min_by_key(|(t, _)| t.iter().map(|s| is_param(s)).collect::<Vec<bool>>())
                    .map(|(_, t)| (*t).clone())
            })
            .collect()
    };
    let mut rest = new;
    let mut capped = 0;
    for ((k, mut e), target) in endpoints.into_iter().zip(targets) {
        if target.as_ref().is_some_and(|t| *t != k) {
            learned.merged_by_folding += 1;
        }
        match target.and_then(|t| learned.endpoints.get_mut(&t)) {
            Some(t) => {
                e.path_params.clone_from(&t.path_params);
                t.merge_from(&e, &mut capped);
            }
            None => {
                rest.endpoints.insert(k, e);
            }
        }
    }
    learned.values_capped += capped;
    rest
}

/// Whether the literals at `pos`, right after a parameter (or, ending the path, after a
/// parameter and a literal: `/servers/{id}/actions/reboot`), are names of collections or
/// actions that the parameter's objects hold (`pods`, `secrets` under `/namespaces/{ns}/`): nearly all of
/// them (80%, at least three) each follow three or more of the parameter's values and lead
/// to values of their own (object names: at least three, one for every other path through
/// the literal, or ids the classifier recognised, or nothing: a collection read whole,
/// `/users/{id}/followers`), where values lead to a few names again
/// and again (`issues`, `pulls` after repositories: `/repos/{owner}/{repo}/issues`). A
/// parent the classifier recognised (`/Companies/{id}/Notes`: one endpoint for all its
/// ids) counts once per call.
fn names_after_param(
    by_value: &BTreeMap<&str, Vec<usize>>,
    pos: usize,
    segs: &[Vec<String>],
    orig: &[Vec<&str>],
    hits: &[u64],
) -> bool {
    let (mut literals, mut collections) = (0, 0);
    for ms in by_value.values() {
        let mut parents = BTreeSet::new();
        let mut id_parents = 0;
        let mut children = BTreeSet::new();
        let mut id_child = false;
        let mut paths_on = 0;
        let mut read_whole = false;
        let mut gap = false;
        for &i in ms {
            // The parameter this literal follows: right before it, or before a literal
            // right before it (Hetzner's `/servers/{id}/actions/poweron`).
            let q = match pos {
                p if is_param(&segs[i][p - 1]) => p - 1,
                p if p >= 2 && is_param(&segs[i][p - 2]) => p - 2,
                _ => continue,
            };
            gap |= q + 1 < pos;
            match orig[i].get(q) {
                Some(p) if is_param(p) => id_parents += hits[i],
                Some(p) => {
                    parents.insert(*p);
                }
                None => {}
            }
            if let Some(c) = orig[i].get(pos + 1) {
                id_child |= is_param(c);
                children.insert(*c);
                paths_on += 1;
            } else {
                read_whole = true;
            }
        }
        if parents.is_empty() && id_parents == 0 {
            continue;
        }
        literals += 1;
        // Under ids the classifier recognised, two calls are enough: a value of a second
        // parameter rarely recurs under two objects, a name does under every one.
        let many_parents =
            parents.len() as u64 + id_parents >= 3 || parents.is_empty() && id_parents >= 2;
        // Past a literal, only names that end the path (actions) or lead to ids (Codat's
        // `/data/bills/{id}`): kinds leading to names of their own there are values of an
        // enumeration as often as names (GitHub's `/orgs/{org}/packages/npm/{name}`).
        // Right after ids the classifier recognised, a collection may also be read whole
        // beside a path or two below it (Loket's `/employers/{id}/leavebalances` and its
        // `/summary`); after learned values (slugs drawn from a pool recur under many of
        // them: `/repos/{owner}/{repo}` and `/issues`) that says nothing.
        let own_values = paths_on == 0
            || id_child
            || !gap && read_whole && parents.is_empty()
            || !gap && children.len() >= 3 && children.len() * 2 >= paths_on;
        if many_parents && own_values {
            collections += 1;
        }
    }
    literals >= 3 && collections * 10 >= literals * 8
}

/// The values at `pos` that lead to the literal name below followed by the most values, when
/// at least [`MIN_LIGHT_VALUES`] do; empty otherwise.
fn shared_child<'a>(
    members: &[usize],
    pos: usize,
    val: &[Option<&'a str>],
    segs: &[Vec<String>],
) -> BTreeSet<&'a str> {
    let mut by_child: BTreeMap<&str, BTreeSet<&'a str>> = BTreeMap::new();
    for &i in members {
        let (Some(v), Some(child)) = (val[i], segs[i].get(pos + 1)) else {
            continue;
        };
        if !is_param(child) {
            by_child.entry(child.as_str()).or_default().insert(v);
        }
    }
    by_child
        .into_values()
        .max_by_key(BTreeSet::len)
        .filter(|vs| vs.len() >= MIN_LIGHT_VALUES)
        .filter(|vs| {
            // Distinct children of each value: a value with many is a collection of values
            // below (Trello's `/1/boards/{id}` with slug ids), and a child shared with others
            // is a value that recurs (`/1/boards/acme-corp`, `/1/cards/acme-corp`), not a
            // name.
            let mut fan_out: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
            for &i in members {
                if let (Some(v), Some(child)) = (val[i], segs[i].get(pos + 1)) {
                    fan_out.entry(v).or_default().insert(child.as_str());
                }
            }
            let mut outs: Vec<usize> = vs
                .iter()
                .map(|v| fan_out.get(v).map_or(0, BTreeSet::len))
                .collect();
            outs.sort_unstable();
            outs.get(outs.len() / 2)
                .is_some_and(|&m| m < MIN_LIGHT_VALUES)
        })
        .unwrap_or_default()
}

/// Distinct values a position needs, when each was seen many times, before a shape makes
/// them a parameter.
const MIN_HEAVY_VALUES: usize = 12;
/// Distinct values leading to one name below that make them values of one collection.
const MIN_LIGHT_VALUES: usize = 8;
/// Distinct values a position needs, most of them seen once, for their counts alone to make
/// it a parameter (`/v1/coupons/{coupon}` read, updated and deleted twice each).
const MIN_FLEETING_VALUES: usize = 6;

/// The literal values at one position under one (host, prefix), across methods and
/// lengths, with the requests that carried each.
struct Node<'a> {
    hits: BTreeMap<&'a str, u64>,
}

impl<'a> Node<'a> {
    fn new(members: &[usize], val: &[Option<&'a str>], hits: &[u64]) -> Node<'a> {
        let mut h: BTreeMap<&str, u64> = BTreeMap::new();
        for &i in members {
            if let Some(v) = val[i] {
                *h.entry(v).or_default() += hits[i];
            }
        }
        Node { hits: h }
    }

    /// A position where values come and go: at least [`MIN_FLEETING_VALUES`] of them and most
    /// (60%) seen once. Static names (`/v1/customers`, `/v1/invoices`, Plaid's `/item/get`)
    /// are each called by every request to the operations under them, so even sparse
    /// traffic calls them more than once. Returns the count up to which a value belongs to
    /// the parameter: twice the median, at least 2 (right after an id, 1); busier names stay.
    fn value_position(&self, after_id: bool) -> Option<u64> {
        let n = self.hits.len();
        let light = self.hits.values().filter(|h| **h <= 1).count();
        (n >= MIN_FLEETING_VALUES && light * 10 >= n * 6).then(|| {
            if after_id {
                1
            } else {
                (2 * self.median_of(&self.hits.keys().copied().collect())).max(2)
            }
        })
    }

    /// The median count of `vals`.
    fn median_of(&self, vals: &BTreeSet<&str>) -> u64 {
        let mut c: Vec<u64> = vals
            .iter()
            .filter_map(|v| self.hits.get(v).copied())
            .collect();
        c.sort_unstable();
        c.get(c.len() / 2).copied().unwrap_or(0)
    }
}

/// Endpoints of one (host, prefix, method, length) group whose value at `pos` is a
/// parameter by response shape: where the classifier already found parameters there,
/// literals returning the same kind of object (values it did not recognise); elsewhere
/// clusters of at least [`MIN_VALUES`] distinct values returning the same kind of object.
fn by_shape(
    members: &[usize],
    pos: usize,
    segs: &[Vec<String>],
    shapes: &[Option<BTreeSet<&str>>],
    eligible: &dyn Fn(usize) -> bool,
) -> Vec<usize> {
    let candidates: Vec<usize> = members
        .iter()
        .copied()
        .filter(|&i| eligible(i) && shapes[i].is_some())
        .take(MAX_CANDIDATES)
        .collect();
    let mut hit = Vec::new();
    if candidates.is_empty() {
        return hit;
    }
    let params: Vec<usize> = members
        .iter()
        .copied()
        .filter(|&i| is_param(&segs[i][pos]))
        .collect();
    if !params.is_empty() {
        // `cus_GOamkFFwKflSu2` beside `cus_9a8F7d6E5c4B`; `/users/me` with its own shape and
        // `/search` stay. Compared where the path goes on alike: the union of everything
        // below a parameter (Loket's `/employers/{id}/departments`, `/logo`, ...) contains
        // most of any small object, `/employers/benefitinkindtypes/{id}` included.
        let mut union: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        for &i in &params {
            if let Some(p) = &shapes[i] {
                union
                    .entry(rest_of(&segs[i], pos))
                    .or_default()
                    .extend(p.iter().copied());
            }
        }
        // A rest fits a parameter's where it has the same names, values where it has
        // parameters (`deno-436/pipelines_config` under a busy workspace fits
        // `{}/pipelines_config`).
        let fits = |mine: &str, theirs: &str| {
            mine.split('/').count() == theirs.split('/').count()
                && mine
                    .split('/')
                    .zip(theirs.split('/'))
                    .all(|(a, b)| a == b || b == "{}")
        };
        for &i in &candidates {
            let Some(p) = &shapes[i] else { continue };
            let mine = rest_of(&segs[i], pos);
            let mut u: BTreeSet<&str> = union.get(&mine).cloned().unwrap_or_default();
            // The rests with parameters a literal rest may fit: the first MAX_CLUSTERS, which
            // bounds the work per candidate.
            for (rest, shape) in union
                .iter()
                .filter(|(r, _)| r.contains("{}"))
                .take(MAX_CLUSTERS)
            {
                if fits(&mine, rest) {
                    u.extend(shape.iter().copied());
                }
            }
            if similar(p, &u) {
                hit.push(i);
            }
        }
        return hit;
    }
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
        let distinct: BTreeSet<&str> = m.iter().map(|&i| segs[i][pos].as_str()).collect();
        if distinct.len() >= MIN_VALUES {
            hit.extend(m);
        }
    }
    // A value is one object: most of what it answers in the group is alike what the other
    // values answer. A name whose few sub-resources happen to answer alike under other
    // names (NetBox's `/api/dcim/manufacturers` beside `/api/ipam/roles`: 4 of dcim's 46
    // lists) is not a value.
    let mut per_value: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for &i in &candidates {
        per_value.entry(segs[i][pos].as_str()).or_default().0 += 1;
    }
    for &i in &hit {
        per_value.entry(segs[i][pos].as_str()).or_default().1 += 1;
    }
    hit.retain(|&i| {
        per_value
            .get(segs[i][pos].as_str())
            .is_some_and(|&(all, alike)| alike * 2 >= all)
    });
    let distinct: BTreeSet<&str> = hit.iter().map(|&i| segs[i][pos].as_str()).collect();
    if distinct.len() < MIN_VALUES {
        hit.clear();
    }
    hit
}

/// Whether two sets of response leaf paths describe different kinds of object: both known
/// and sharing less than half of the smaller.
fn differ(a: &BTreeSet<&str>, b: &BTreeSet<&str>) -> bool {
    let small = a.len().min(b.len());
    small > 0 && a.intersection(b).count() * 2 < small
}

/// The first `pos` segments, parameters as `{}`.
fn norm_prefix(segs: &[String], pos: usize) -> String {
    let prefix: Vec<&str> = segs[..pos]
        .iter()
        .map(|s| if is_param(s) { "{}" } else { s.as_str() })
        .collect();
    prefix.join("/")
}

/// The path after `pos`, parameters as `{}`.
fn rest_of(segs: &[String], pos: usize) -> String {
    let rest: Vec<&str> = segs[pos + 1..]
        .iter()
        .map(|s| if is_param(s) { "{}" } else { s.as_str() })
        .collect();
    rest.join("/")
}

/// Alike response leaf sets (their union) with how many endpoints answered each.
type Clusters<'a> = Vec<(BTreeSet<&'a str>, usize)>;

/// Whether `vals` behave as values of one parameter everywhere they appear under the node:
/// with the same method and the same rest of the path, their responses are the same kind
/// of object. `/v1/customers/{id}` and `/v1/coupons/{id}` answer `DELETE` alike but `GET`
/// differently, so `customers` and `coupons` are names, not values.
fn consistent(
    vals: &BTreeSet<&str>,
    members: &[usize],
    pos: usize,
    val: &[Option<&str>],
    segs: &[Vec<String>],
    leaves: &[BTreeSet<&str>],
    keys: &[&Key],
) -> bool {
    // What each (method, rest) answered, in clusters of alike objects (compared with each
    // cluster's union: samples of one object differ in their optional fields). Values of
    // one parameter give one main cluster (a stray sample aside); names of different
    // resources give many.
    let mut seen: BTreeMap<(&str, String), Clusters<'_>> = BTreeMap::new();
    for &i in members {
        if leaves[i].is_empty() || !val[i].is_some_and(|v| vals.contains(v)) {
            continue;
        }
        let clusters = seen
            .entry((keys[i].1.as_str(), rest_of(&segs[i], pos)))
            .or_default();
        let room = clusters.len() < MAX_CLUSTERS;
        match clusters.iter_mut().find(|(u, _)| !differ(&leaves[i], u)) {
            Some((u, n)) => {
                u.extend(leaves[i].iter().copied());
                *n += 1;
            }
            None if room => clusters.push((leaves[i].clone(), 1)),
            None => {}
        }
    }
    for clusters in seen.values() {
        let total: usize = clusters.iter().map(|c| c.1).sum();
        let main = clusters.iter().map(|c| c.1).max().unwrap_or(0);
        if total >= 4 && main * 10 < total * 7 {
            return false;
        }
    }
    true
}

/// Where the values of a parameter position lead, (method, length of the rest, next
/// segment: a name, `{}`, or `*` for a last segment not learned), and what they answered
/// there, by (method, rest of the path). A literal that is not a name and has more path
/// after it counts as `{}`: under a busy value (`/repos/acme-corp/...`) every repository is
/// seen too rarely to be learned, yet what follows it (`issues`, `branches`) is what
/// follows the learned ones.
struct Continuations<'a> {
    names: &'a BTreeSet<&'a str>,
    seen: BTreeSet<(&'a str, usize, &'a str)>,
    answers: BTreeMap<(&'a str, String), BTreeSet<&'a str>>,
}

impl<'a> Continuations<'a> {
    fn key(
        &self,
        i: usize,
        pos: usize,
        segs: &'a [Vec<String>],
        keys: &[&'a Key],
    ) -> (&'a str, usize, &'a str) {
        let next = segs[i].get(pos + 1).map_or("", |s| {
            if is_param(s) {
                "{}"
            } else if self.names.contains(s.as_str()) {
                s.as_str()
            } else if segs[i].len() > pos + 2 {
                "{}"
            } else {
                "*"
            }
        });
        (keys[i].1.as_str(), segs[i].len() - pos, next)
    }

    fn of(
        in_ref: &dyn Fn(usize) -> bool,
        names: &'a BTreeSet<&'a str>,
        members: &[usize],
        pos: usize,
        segs: &'a [Vec<String>],
        leaves: &[BTreeSet<&'a str>],
        keys: &[&'a Key],
    ) -> Continuations<'a> {
        let mut c = Continuations {
            names,
            seen: BTreeSet::new(),
            answers: BTreeMap::new(),
        };
        for &i in members {
            if in_ref(i) {
                let k = c.key(i, pos, segs, keys);
                c.seen.insert(k);
                c.answers
                    .entry((keys[i].1.as_str(), rest_of(&segs[i], pos)))
                    .or_default()
                    .extend(leaves[i].iter().copied());
            }
        }
        c
    }

    /// Whether a value, through its endpoints `mine`, leads where the values lead and
    /// answers there what they answered: at least two of its continuations, and 80% of
    /// them, are theirs; for a value seen once or twice (`light`), all of them.
    fn admits(
        &self,
        mine: &[usize],
        light: bool,
        pos: usize,
        segs: &'a [Vec<String>],
        leaves: &[BTreeSet<&str>],
        keys: &[&'a Key],
    ) -> bool {
        let mut own = BTreeSet::new();
        let mut shared = BTreeSet::new();
        for &i in mine {
            let k = self.key(i, pos, segs, keys);
            own.insert(k);
            if self.seen.contains(&k) {
                shared.insert(k);
            }
            let answered = self
                .answers
                .get(&(keys[i].1.as_str(), rest_of(&segs[i], pos)));
            if answered.is_some_and(|u| differ(&leaves[i], u)) {
                return false;
            }
        }
        if light {
            !own.is_empty() && shared.len() == own.len()
        } else {
            shared.len() >= 2 && shared.len() * 10 >= own.len() * 8
        }
    }
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

/// The exchange builder the crate's integration tests and benches use.
#[cfg(test)]
#[path = "../tests/support/mod.rs"]
mod support_for_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use apitap_http::Exchange;
    use support_for_tests as support;

    fn exchange(path: &str, body: &str) -> Exchange {
        exchange_m("GET", path, body)
    }

    fn exchange_m(method: &str, path: &str, body: &str) -> Exchange {
        support::exchange("api.example.com", method, path, body, 1)
    }

    fn paths(traffic: &[(String, &str)]) -> Vec<String> {
        let t: Vec<(&str, String, &str)> = traffic
            .iter()
            .map(|(p, b)| ("GET", p.clone(), *b))
            .collect();
        endpoints(&t).into_iter().map(|(_, p)| p).collect()
    }

    /// The learned (method, path) of each endpoint of `traffic` (method, path, response).
    fn endpoints(traffic: &[(&str, String, &str)]) -> Vec<(String, String)> {
        let scanner = apitap_pii::Scanner::new();
        let mut inv = Inventory::new(10_000);
        for (m, p, b) in traffic {
            let x = exchange_m(m, p, b);
            inv.observe(&x, &scanner.scan(&x));
        }
        learn(&inv, &BTreeSet::new())
            .endpoints
            .keys()
            .map(|k| (k.1.clone(), k.2.clone()))
            .collect()
    }

    const USER: &str = r#"{"login":"x","id":1,"followers":3}"#;
    const REPO: &str = r#"{"name":"r","owner":{"login":"x"},"stars":1}"#;
    const ISSUES: &str = r#"[{"number":1,"title":"t","state":"open"}]"#;
    const ME: &str = r#"{"login":"me","id":1,"followers":3,"plan":"pro"}"#;

    #[test]
    fn objects_called_often_that_share_a_sub_path_are_values() {
        // Thirty users, each profile and its repositories fetched twice (four calls per
        // value: too busy to be "values that come and go"), beside `/users/me`.
        let names = [
            "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
            "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter",
            "xena", "yolanda", "zeke", "amir", "bianca", "chen", "dmitri", "elena", "farah",
            "goran", "hana",
        ];
        let mut t: Vec<(String, String)> = Vec::new();
        for n in &names[..names.len() - 23] {
            for _ in 0..2 {
                t.push((format!("/api/users/{n}"), r#"{"login":"x","id":1}"#.into()));
                t.push((
                    format!("/api/users/{n}/repos"),
                    r#"[{"name":"x","stars":1}]"#.into(),
                ));
            }
        }
        let t7: Vec<(String, &str)> = t.iter().map(|(p, b)| (p.clone(), b.as_str())).collect();
        // Seven are too few to tell from names.
        assert_eq!(paths(&t7).len(), 14);
        for n in &names[names.len() - 23..] {
            for _ in 0..2 {
                t.push((format!("/api/users/{n}"), r#"{"login":"x","id":1}"#.into()));
                t.push((
                    format!("/api/users/{n}/repos"),
                    r#"[{"name":"x","stars":1}]"#.into(),
                ));
            }
            t.push((
                "/api/users/me".into(),
                r#"{"login":"me","plan":"pro"}"#.into(),
            ));
        }
        let t: Vec<(String, &str)> = t.iter().map(|(p, b)| (p.clone(), b.as_str())).collect();
        assert_eq!(
            paths(&t),
            ["/api/users/me", "/api/users/{id}", "/api/users/{id}/repos"]
        );
    }

    #[test]
    fn folding_what_was_learned_from_the_same_traffic_changes_nothing() {
        let t = github_like();
        let scanner = apitap_pii::Scanner::new();
        let mut inv = Inventory::new(10_000);
        for (p, b) in &t {
            let x = exchange(p, b);
            inv.observe(&x, &scanner.scan(&x));
        }
        let keys = |i: &Inventory| i.endpoints.keys().map(|k| k.2.clone()).collect::<Vec<_>>();
        let once = crate::doc::fold(Inventory::new(10_000), inv.clone(), None);
        assert_eq!(
            keys(&once),
            [
                "/repos/{id}/{id2}",
                "/repos/{id}/{id2}/issues",
                "/users/me",
                "/users/{id}"
            ]
        );
        // Every literal of a second pass fits a template: none is left to learn.
        let mut b = once.clone();
        assert!(fold_into(&mut b, inv.clone()).endpoints.is_empty());
        let twice = crate::doc::fold(once, inv, None);
        assert_eq!(keys(&twice), keys(&b));
        assert_eq!(
            twice.endpoints.values().map(|e| e.hits).sum::<u64>(),
            2 * t.len() as u64
        );
    }

    /// Six owners, each a user, a repository and its issues, and `/users/me`.
    fn github_like() -> Vec<(String, &'static str)> {
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
        t
    }

    #[test]
    fn a_busy_owner_joins_through_the_names_below_its_repositories() {
        // GitHub-like traffic: each call picks an owner, a repository and a branch among a
        // few busy names or a long tail seen once; busy and rare values alike join one
        // parameter per position. (The rule that lets a busy owner join through the names
        // below its repositories is measured end to end, on `fixtures/specs/github-repos.json`
        // in tests/e2e.rs: this small traffic passes without it too.)
        const PULLS: &str = r#"[{"number":1,"head":"x","merged":false}]"#;
        const BRANCH: &str = r#"{"name":"main","protected":true,"commit":{"sha":"x"}}"#;
        let busy = [
            "acme-corp",
            "globex",
            "initech",
            "hooli",
            "umbrella",
            "stark",
        ];
        let mut state = 7u64;
        let mut next = move |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) % n
        };
        let mut t: Vec<(String, &str)> = Vec::new();
        for k in 0..240 {
            let mut name = |kind: &str| match next(2) {
                0 => busy[next(busy.len() as u64) as usize].to_string(),
                _ => format!("{kind}-{k}"),
            };
            let (o, r, b) = (name("owner"), name("repo"), name("branch"));
            let (path, body) = match k % 3 {
                0 => (format!("/repos/{o}/{r}/issues"), ISSUES),
                1 => (format!("/repos/{o}/{r}/pulls"), PULLS),
                _ => (format!("/repos/{o}/{r}/branches/{b}/protection"), BRANCH),
            };
            t.push((path, body));
        }
        assert_eq!(
            paths(&t),
            [
                "/repos/{id}/{id2}/branches/{id3}/protection",
                "/repos/{id}/{id2}/issues",
                "/repos/{id}/{id2}/pulls"
            ]
        );
    }

    #[test]
    fn a_name_beside_values_has_values_of_its_own() {
        // GitHub's codespaces: `/user/codespaces/{name}` beside the collection
        // `/user/codespaces/secrets`, whose own secrets are values, set and deleted with
        // empty answers (no shape to compare). The values of both positions are each
        // called once; `secrets` is busy but leads elsewhere than the codespaces do, so
        // below it is learned, not left as one object's thin traffic.
        const CODESPACE: &str = r#"{"name":"x","state":"Available","machine":{"cpus":2}}"#;
        const SECRET: &str = "";
        const REPOS: &str = "";
        let words = [
            "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
            "juliet", "kilo", "lima",
        ];
        let mut t: Vec<(String, &str)> = Vec::new();
        for w in words {
            t.push((format!("/user/codespaces/{w}-space"), CODESPACE));
            t.push((format!("/user/codespaces/{w}-box/start"), CODESPACE));
            t.push((format!("/user/codespaces/secrets/{w}"), SECRET));
            t.push((
                format!("/user/codespaces/secrets/{w}-token/repositories"),
                REPOS,
            ));
        }
        assert_eq!(
            paths(&t),
            [
                "/user/codespaces/secrets/{id}",
                "/user/codespaces/secrets/{id}/repositories",
                "/user/codespaces/{id}",
                "/user/codespaces/{id}/start"
            ]
        );
    }

    #[test]
    fn names_whose_few_sub_resources_answer_alike_stay_names() {
        // NetBox-like: seven applications under `/api/`, each with one organisational
        // model answering the same kind of list (name, slug, description) and three models
        // of its own. Seven "values" answer alike at the application position, but only
        // through a quarter of what each answers: they are names.
        let apps = [
            ("circuits", "circuit-types"),
            ("dcim", "manufacturers"),
            ("extras", "tags"),
            ("ipam", "roles"),
            ("tenancy", "contact-roles"),
            ("users", "groups"),
            ("wireless", "wireless-lan-groups"),
        ];
        const ROLE: &str = r#"{"count":1,"next":null,"results":[{"id":1,"name":"n","slug":"s","description":"d"}]}"#;
        let own: Vec<(String, String)> = apps
            .iter()
            .flat_map(|(app, _)| {
                (0..3).map(move |k| {
                    let body = format!(
                        r#"{{"count":1,"next":null,"results":[{{"{app}_{k}_a":1,"{app}_{k}_b":2,"{app}_{k}_c":3}}]}}"#
                    );
                    (format!("/api/{app}/{app}-model-{k}"), body)
                })
            })
            .collect();
        let mut t: Vec<(String, &str)> = Vec::new();
        for _ in 0..3 {
            for (app, role) in apps {
                t.push((format!("/api/{app}/{role}"), ROLE));
            }
            for (p, b) in &own {
                t.push((p.clone(), b.as_str()));
            }
        }
        let learned = paths(&t);
        assert_eq!(learned.len(), 28, "{learned:?}");
        assert!(learned.iter().all(|p| !p.contains('{')), "{learned:?}");
    }

    #[test]
    fn a_value_found_by_shape_is_a_value_for_every_method() {
        // GitHub's packages: `GET /orgs/acme/packages/{type}/{name}` answers a package for
        // every type, so the types are values there; `DELETE` answers nothing to compare,
        // and follows.
        const PACKAGE: &str = r#"{"id":1,"name":"n","package_type":"npm","visibility":"private"}"#;
        let types = ["npm", "maven", "rubygems", "docker", "nuget", "container"];
        let mut t: Vec<(&str, String, &str)> = Vec::new();
        for k in 0..36 {
            let ty = types[k % types.len()];
            t.push(("GET", format!("/orgs/acme/packages/{ty}/pkg-{k}"), PACKAGE));
            t.push(("DELETE", format!("/orgs/acme/packages/{ty}/old-{k}"), ""));
        }
        let ends = endpoints(&t);
        let want = |m: &str, p: &str| (m.to_string(), p.to_string());
        assert_eq!(
            ends,
            [
                want("DELETE", "/orgs/acme/packages/{id}/{id2}"),
                want("GET", "/orgs/acme/packages/{id}/{id2}")
            ]
        );
    }

    #[test]
    fn a_few_resources_answering_alike_spread_to_no_other_method() {
        // Twelve resources under `/v1/`, seven of which answer the same kind of object
        // (Visma's, NetBox's): whatever `GET` makes of them, their `DELETE`s, answering
        // nothing, stay apart.
        const ALIKE: &str = r#"{"id":1,"name":"n","description":"d","created":"t"}"#;
        let own: Vec<String> = (0..5)
            .map(|k| format!(r#"{{"f{k}a":1,"f{k}b":2,"f{k}c":3,"f{k}d":4}}"#))
            .collect();
        let mut t: Vec<(&str, String, &str)> = Vec::new();
        for n in 0..4 {
            for k in 0..12 {
                let body = if k < 7 { ALIKE } else { own[k - 7].as_str() };
                t.push(("GET", format!("/v1/resource{k}/{}", 100 + n), body));
                t.push(("DELETE", format!("/v1/resource{k}/{}", 200 + n), ""));
            }
        }
        let deletes: Vec<String> = endpoints(&t)
            .into_iter()
            .filter(|(m, _)| m == "DELETE")
            .map(|(_, p)| p)
            .collect();
        assert_eq!(deletes.len(), 12, "{deletes:?}");
    }

    #[test]
    fn collections_under_ids_stay_names_when_their_metadata_answers_alike() {
        // Autotask: under `/Companies/{id}/` (numeric ids: one endpoint per child for all of
        // them), each child collection has its metadata (`entityInformation`, answering the
        // same kind of object for all) and its own objects by id, which share most of their
        // fields.
        const INFO: &str =
            r#"{"name":"X","canCreate":true,"canQuery":true,"hasUserDefinedFields":false}"#;
        let children = [
            "Alerts",
            "Attachments",
            "Contacts",
            "Locations",
            "Notes",
            "Teams",
            "ToDos",
            "Sites",
        ];
        let own: Vec<String> = children
            .iter()
            .map(|c| format!(r#"{{"item":{{"id":1,"companyID":2,"createDate":"t","{c}":3}}}}"#))
            .collect();
        let mut t: Vec<(String, &str)> = Vec::new();
        for n in 0..4 {
            for (c, body) in children.iter().zip(&own) {
                let parent = 1000 + n * 17;
                t.push((
                    format!("/V1.0/Companies/{parent}/{c}/entityInformation"),
                    INFO,
                ));
                t.push((
                    format!("/V1.0/Companies/{parent}/{c}/{}", 50 + n),
                    body.as_str(),
                ));
            }
        }
        let learned = paths(&t);
        assert_eq!(learned.len(), 16, "{learned:?}");
        assert!(
            learned.iter().all(|p| children
                .iter()
                .any(|c| p.starts_with(&format!("/V1.0/Companies/{{id}}/{c}/")))),
            "{learned:?}"
        );
    }

    #[test]
    fn names_beside_an_id_answer_unlike_what_sits_below_it() {
        // Loket: `/employers/{uuid}/departments`, `/contacts`, `/notes` beside the resources
        // `/employers/costcenters/{uuid}`, `/employers/functions/{uuid}`: small objects whose
        // fields all occur somewhere below the employer, but not where their path goes on.
        let uuid = |k: usize| format!("3f2b8c1e-9d4a-4b7e-8f00-{k:012}");
        let mut t: Vec<(String, &str)> = Vec::new();
        const DEPARTMENTS: &str = r#"{"id":"x","name":"n","description":"d","code":1}"#;
        const CONTACTS: &str = r#"{"id":"x","name":"n","phone":"p","email":"e"}"#;
        const NOTES: &str = r#"{"id":"x","description":"d","created":"t","author":"a"}"#;
        const SMALL: &str = r#"{"id":"x","name":"n","description":"d"}"#;
        for k in 0..6 {
            t.push((format!("/employers/{}/departments", uuid(k)), DEPARTMENTS));
            t.push((format!("/employers/{}/contacts", uuid(k + 10)), CONTACTS));
            t.push((format!("/employers/{}/notes", uuid(k + 20)), NOTES));
        }
        for name in [
            "costcenters",
            "functions",
            "grades",
            "units",
            "holidays",
            "scales",
        ] {
            for k in 0..3 {
                t.push((format!("/employers/{name}/{}", uuid(100 + k)), SMALL));
            }
        }
        let learned = paths(&t);
        assert_eq!(learned.len(), 9, "{learned:?}");
        assert!(
            learned.contains(&"/employers/costcenters/{id}".to_string()),
            "{learned:?}"
        );
    }

    #[test]
    fn ids_that_recur_under_many_resources_are_not_names() {
        // Trello-like: ten resources, each read by twenty ids drawn from one pool of slugs,
        // so every slug recurs under many resources; nothing is answered to compare. The
        // recurring slug is a value below each resource, not a name shared by values.
        let resources = [
            "actions",
            "boards",
            "cards",
            "checklists",
            "labels",
            "lists",
            "members",
            "notifications",
            "organizations",
            "webhooks",
        ];
        let pool = [
            "acme-corp",
            "globex",
            "initech",
            "hooli",
            "umbrella",
            "stark",
            "wayne",
            "tyrell",
            "cyberdyne",
            "soylent",
            "aperture",
            "oscorp",
            "wonka",
            "gringotts",
            "monarch",
            "nakatomi",
            "vandelay",
            "dunder",
            "prestige",
            "sterling",
            "pied-piper",
            "massive",
        ];
        let mut t: Vec<(String, &str)> = Vec::new();
        for (r, res) in resources.iter().enumerate() {
            for k in 0..20 {
                t.push((format!("/1/{res}/{}", pool[(r * 7 + k) % pool.len()]), ""));
            }
        }
        let learned = paths(&t);
        assert_eq!(learned.len(), 10, "{learned:?}");
        assert!(
            resources
                .iter()
                .all(|r| learned.contains(&format!("/1/{r}/{{id}}"))),
            "{learned:?}"
        );
    }

    #[test]
    fn lists_read_under_ids_stay_names_when_they_answer_alike() {
        // Twitter's `/2/users/{id}/followers`, `/following`, `/blocking`, ...: twelve lists
        // of users or tweets, each read eight times under numeric user ids, all answering
        // the same envelope.
        const LIST: &str =
            r#"{"data":[{"id":"1","name":"n","username":"u"}],"meta":{"result_count":1}}"#;
        let names = [
            "followers",
            "following",
            "blocking",
            "muting",
            "bookmarks",
            "liked_tweets",
            "mentions",
            "tweets",
            "owned_lists",
            "pinned_lists",
            "followed_lists",
            "list_memberships",
        ];
        let mut t: Vec<(String, &str)> = Vec::new();
        for (k, n) in names.iter().enumerate() {
            for c in 0..8 {
                t.push((format!("/2/users/{}/{n}", 1_000_000 + k * 8 + c), LIST));
            }
        }
        let learned = paths(&t);
        assert_eq!(learned.len(), 12, "{learned:?}");
        assert!(learned.iter().all(|p| !p.ends_with('}')), "{learned:?}");
    }

    #[test]
    fn actions_under_a_parameter_and_a_literal_stay_names() {
        // Hetzner's `POST /v1/servers/{id}/actions/poweron`, `/reboot`, ...: twenty actions,
        // each called eight times on different servers, all answering the same envelope.
        const ACTION: &str = r#"{"action":{"id":1,"command":"c","status":"running","progress":0}}"#;
        let actions = [
            "poweron",
            "poweroff",
            "reboot",
            "reset",
            "shutdown",
            "rebuild",
            "attach_iso",
            "detach_iso",
            "enable_backup",
            "disable_backup",
            "enable_rescue",
            "disable_rescue",
            "change_type",
            "change_dns_ptr",
            "change_protection",
            "create_image",
            "request_console",
            "reset_password",
            "attach_to_network",
            "detach_from_network",
        ];
        let mut t: Vec<(&str, String, &str)> = Vec::new();
        for (k, a) in actions.iter().enumerate() {
            for c in 0..8 {
                t.push((
                    "POST",
                    format!("/v1/servers/{}/actions/{a}", 4_000 + k * 8 + c),
                    ACTION,
                ));
            }
        }
        let learned = endpoints(&t);
        assert_eq!(learned.len(), 20, "{learned:?}");
        assert!(
            learned.iter().all(|(_, p)| !p.ends_with('}')),
            "{learned:?}"
        );
        // Codat's `/companies/{id}/data/bills/{id}`, `/invoices/{id}`, ...: kinds leading
        // to ids, each read under many companies.
        const RECORD: &str = r#"{"id":"x","modifiedDate":"d","status":"s"}"#;
        let kinds = [
            "bills",
            "invoices",
            "customers",
            "suppliers",
            "journals",
            "payments",
            "creditNotes",
            "directCosts",
        ];
        let mut t: Vec<(String, &str)> = Vec::new();
        for (k, kind) in kinds.iter().enumerate() {
            for c in 0..8 {
                let (company, record) = (100 + k * 8 + c, 9_000 + k * 8 + c);
                t.push((format!("/companies/{company}/data/{kind}/{record}"), RECORD));
            }
        }
        let learned = paths(&t);
        assert_eq!(learned.len(), 8, "{learned:?}");
        assert!(learned.contains(&"/companies/{id}/data/creditNotes/{id2}".to_string()));
        // Branch names, each read under its own repository, are values there.
        const BRANCH: &str = r#"{"name":"b","protected":false,"commit":{"sha":"x"}}"#;
        let t: Vec<(String, &str)> = (0..20)
            .map(|k| {
                (
                    format!("/projects/{}/branches/feature-{k}", 7_000 + k),
                    BRANCH,
                )
            })
            .collect();
        assert_eq!(paths(&t), ["/projects/{id}/branches/{id2}"]);
    }

    /// Loket's lists under an employer, all answering one envelope.
    const LOKET_LISTS: [&str; 12] = [
        "departments",
        "leavebalances",
        "proforma",
        "employees",
        "functions",
        "users",
        "notes",
        "documents",
        "workflows",
        "modules",
        "leave",
        "emailtemplates",
    ];
    const LOKET_LIST: &str = r#"{"_embedded":[{"id":"x","description":"d"}],"totalSize":1}"#;

    #[test]
    fn sparse_traffic_after_an_id_keeps_names_and_finds_values_seen_once() {
        // Loket at two calls per operation: a dozen lists under an employer, each read twice
        // (under two employers): names, not values.
        let (names, list) = (LOKET_LISTS, LOKET_LIST);
        let uuid = |n: usize| format!("3f2b8c1e-9d4a-4b7e-8f00-{n:012}");
        let mut t: Vec<(String, &str)> = Vec::new();
        for (k, n) in names.iter().enumerate() {
            for c in 0..2 {
                t.push((format!("/employers/{}/{n}", uuid(k * 2 + c)), list));
            }
        }
        assert_eq!(paths(&t).len(), names.len(), "{:?}", paths(&t));
        // DocuSign's `/signatures/{id}/{imageType}`: ten values, each seen once.
        const IMAGE: &str = r#"{"imageType":"x","bytes":1,"format":"png"}"#;
        let t: Vec<(String, &str)> = (0..10)
            .map(|k| (format!("/signatures/{}/{}", uuid(100 + k), names[k]), IMAGE))
            .collect();
        assert_eq!(paths(&t), ["/signatures/{id}/{id2}"]);
    }

    #[test]
    fn rpc_names_called_twice_each_are_not_values_that_come_and_go() {
        // Plaid at two calls per operation: every call a POST to a fixed name under `/item/`,
        // answering little more than a request id. Values come and go (most seen once);
        // these names each came twice.
        const ACK: &str = r#"{"request_id":"r"}"#;
        let names = [
            "get",
            "remove",
            "import",
            "webhook",
            "public_token",
            "access_token",
            "application",
            "invalidate",
            "activity",
            "verification",
        ];
        let mut t: Vec<(&str, String, &str)> = Vec::new();
        for n in names {
            for _ in 0..2 {
                t.push(("POST", format!("/item/{n}"), ACK));
            }
        }
        assert_eq!(endpoints(&t).len(), names.len(), "{:?}", endpoints(&t));
        // Ten values, each seen once, come and go.
        let t: Vec<(&str, String, &str)> = names
            .iter()
            .map(|n| ("DELETE", format!("/tokens/{n}-key"), ACK))
            .collect();
        assert_eq!(
            endpoints(&t),
            [("DELETE".to_string(), "/tokens/{id}".to_string())]
        );
    }

    #[test]
    fn collections_read_whole_beside_a_path_below_stay_names() {
        // Loket's `/employers/{id}/departments`, `/leavebalances`, ...: twelve lists each
        // read eight times under fresh UUIDs, all answering one envelope; four of them also
        // have one path below (`/leavebalances/summary`).
        let (names, list) = (LOKET_LISTS, LOKET_LIST);
        let mut t: Vec<(String, &str)> = Vec::new();
        for (k, n) in names.iter().enumerate() {
            for c in 0..8 {
                let id = format!("3f2b8c1e-9d4a-4b7e-8f00-{:012}", k * 8 + c);
                t.push((format!("/employers/{id}/{n}"), list));
                if k % 3 == 0 && c < 2 {
                    t.push((format!("/employers/{id}/{n}/summary"), list));
                }
            }
        }
        let learned = paths(&t);
        assert_eq!(learned.len(), 16, "{learned:?}");
        assert!(learned.contains(&"/employers/{id}/leavebalances".to_string()));
    }

    #[test]
    fn aliases_stay_beside_the_objects_they_name() {
        // Twenty projects read once each, and `default` and `latest`, which answer the same
        // kind of object: aliases, documented as such (`/v2/projects/default`).
        const PROJECT: &str = r#"{"id":"x","name":"n","owner_uuid":"u","is_default":false}"#;
        let mut t: Vec<(String, &str)> = (0..20)
            .map(|k| (format!("/v2/projects/project-{k}"), PROJECT))
            .collect();
        for alias in ["default", "latest"] {
            for _ in 0..3 {
                t.push((format!("/v2/projects/{alias}"), PROJECT));
            }
        }
        assert_eq!(
            paths(&t),
            [
                "/v2/projects/default",
                "/v2/projects/latest",
                "/v2/projects/{id}"
            ]
        );
    }

    #[test]
    fn slugs_become_parameters_and_constants_stay() {
        let mut t = github_like();
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
        let t: Vec<(String, &str)> = ["a1", "b2", "c3", "d4", "e5"]
            .iter()
            .map(|v| (format!("/pages/{v}"), "<html></html>"))
            .collect();
        assert_eq!(paths(&t).len(), 5, "no JSON shape, five values: no merge");
        // Six, each seen once, come and go: a parameter, shape or not.
        let t: Vec<(String, &str)> = ["a1", "b2", "c3", "d4", "e5", "f6"]
            .iter()
            .map(|v| (format!("/pages/{v}"), "<html></html>"))
            .collect();
        assert_eq!(paths(&t), ["/pages/{id}"]);
    }
}
