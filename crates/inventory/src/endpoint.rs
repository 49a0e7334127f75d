//! Endpoints and the inventory that aggregates exchanges into them.

use crate::auth::{request_auth, AuthKind};
use crate::services::{unparsed_key, EncryptedService};
use crate::sketch::{hash64, Distinct};
use crate::template::{host_of, split_target, template_path, ParamType};
use apitap_http::{Exchange, TlsSeen, UnparsedStream};
use apitap_pii::{Class, Confidence, Kind, Location, Scan};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// Most distinct query parameter names kept per endpoint.
const MAX_QUERY_PARAMS: usize = 64;
/// Most distinct content types kept per endpoint and direction.
const MAX_CONTENT_TYPES: usize = 16;
/// Most authentication details kept per endpoint.
const MAX_AUTH_DETAILS: usize = 32;
/// Most sensitive-data entries (type, location, field) kept per endpoint.
const MAX_PII_FIELDS: usize = 64;
/// Clients whose object ids are followed per endpoint (those with the smallest hashes).
const MAX_ID_CLIENTS: usize = 16;
/// Distinct object ids one client must read for an enumeration finding.
pub const ENUMERATION_IDS: usize = 20;

/// Sensitive values of one type at one place of an endpoint's exchanges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PiiSeen {
    pub count: u64,
    pub confidence: Confidence,
    /// A redacted sample (the smallest seen, so merging is order-independent).
    pub sample: String,
    pub detail: Option<String>,
}

/// Sensitive values to count, borrowed from an exchange's hit or another endpoint's entry.
struct PiiAdd<'a> {
    count: u64,
    confidence: Confidence,
    sample: &'a str,
    detail: Option<&'a str>,
}

impl PiiSeen {
    fn absorb(&mut self, a: &PiiAdd<'_>) {
        self.count += a.count;
        self.confidence = self.confidence.max(a.confidence);
        if a.sample < self.sample.as_str() {
            a.sample.clone_into(&mut self.sample);
        }
        if let Some(d) = a.detail {
            if self.detail.as_deref().is_none_or(|mine| d < mine) {
                self.detail = Some(d.to_string());
            }
        }
    }
}

/// Whether an address is on the public internet (not private, loopback, link-local,
/// CGNAT, documentation or unique-local).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            !(a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || (o[0] == 100 && (64..128).contains(&o[1])))
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            !(a.is_loopback()
                || a.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// Everything known about one (host, method, path template).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Endpoint {
    pub hits: u64,
    pub status_codes: BTreeMap<u16, u64>,
    pub no_response: u64,
    pub first_seen: u64,
    pub last_seen: u64,
    pub auth: BTreeSet<AuthKind>,
    /// Some request without any credentials got a 2xx.
    pub unauthenticated_success: bool,
    pub path_params: Vec<(String, ParamType)>,
    pub query_params: BTreeMap<String, u64>,
    pub request_content_types: BTreeMap<String, u64>,
    pub response_content_types: BTreeMap<String, u64>,
    pub request_body_bytes: u64,
    pub response_body_bytes: u64,
    /// Exchanges damaged by a gap.
    pub damaged: u64,
    /// Exchanges whose bodies had the full sensitive-data scan (the `count` of a body
    /// finding counts values in these only).
    pub bodies_scanned: u64,
    /// Sensitive values by (type, location, field).
    #[serde(with = "crate::state::entries")]
    pub pii: BTreeMap<(Kind, Location, String), PiiSeen>,
    /// Personal or financial types returned in a 2xx to a request without credentials.
    pub unauth_sensitive: BTreeSet<Kind>,
    /// Distinct client addresses.
    pub clients: Distinct,
    /// Requests from public addresses.
    pub external_requests: u64,
    /// Distinct path-parameter values read per client (by client hash, smallest kept).
    pub ids_by_client: BTreeMap<u64, Distinct<ENUMERATION_IDS>>,
    /// Responses that show internal errors, by kind (stack trace, SQL error, ...).
    pub error_leaks: BTreeMap<String, u64>,
    /// Requests carrying a JWT whose algorithm is `none`.
    pub jwt_alg_none: u64,
    /// Structures of 2xx JSON responses (shape fingerprint -> count), at most 8.
    pub shapes: BTreeMap<u64, u64>,
    /// Types seen per query parameter (bits of apitap_pii's T_*), names as in `query_params`.
    pub query_types: BTreeMap<String, u8>,
    /// Response latency histogram (see `latency_bucket`).
    pub latency: BTreeMap<u16, u64>,
    /// Authentication details: `jwt alg=RS256`, `jwt iss=...`, `api_key header x-api-key`.
    pub auth_details: BTreeMap<String, u64>,
    /// JSON request bodies seen.
    pub request_schema: crate::schema::SchemaAcc,
    /// JSON bodies of 2xx responses seen.
    pub response_schema: crate::schema::SchemaAcc,
}

/// Most distinct response shapes kept per endpoint.
const MAX_SHAPES: usize = 8;

impl Endpoint {
    /// Fold `o` into this endpoint (counts add, maps merge under their caps).
    pub fn merge_from(&mut self, o: &Endpoint, capped: &mut u64) {
        if self.hits == 0 {
            self.first_seen = o.first_seen;
            self.last_seen = o.last_seen;
        } else if o.hits > 0 {
            self.first_seen = self.first_seen.min(o.first_seen);
            self.last_seen = self.last_seen.max(o.last_seen);
        }
        self.hits += o.hits;
        for (k, v) in &o.status_codes {
            *self.status_codes.entry(*k).or_default() += v;
        }
        self.no_response += o.no_response;
        self.auth.extend(o.auth.iter().copied());
        self.unauthenticated_success |= o.unauthenticated_success;
        merge_params(&mut self.path_params, &o.path_params);
        for (k, n) in &o.query_params {
            add_capped(&mut self.query_params, k, *n, MAX_QUERY_PARAMS, capped);
        }
        for (k, n) in &o.request_content_types {
            add_capped(
                &mut self.request_content_types,
                k,
                *n,
                MAX_CONTENT_TYPES,
                capped,
            );
        }
        for (k, n) in &o.response_content_types {
            add_capped(
                &mut self.response_content_types,
                k,
                *n,
                MAX_CONTENT_TYPES,
                capped,
            );
        }
        self.request_body_bytes += o.request_body_bytes;
        self.response_body_bytes += o.response_body_bytes;
        self.damaged += o.damaged;
        self.bodies_scanned += o.bodies_scanned;
        for (k, p) in &o.pii {
            let a = PiiAdd {
                count: p.count,
                confidence: p.confidence,
                sample: &p.sample,
                detail: p.detail.as_deref(),
            };
            self.add_pii((k.0, k.1, &k.2), &a, capped);
        }
        self.unauth_sensitive
            .extend(o.unauth_sensitive.iter().copied());
        self.clients.merge(&o.clients);
        self.external_requests += o.external_requests;
        for (c, ids) in &o.ids_by_client {
            self.ids_by_client.entry(*c).or_default().merge(ids);
        }
        while self.ids_by_client.len() > MAX_ID_CLIENTS {
            self.ids_by_client.pop_last();
        }
        for (k, n) in &o.error_leaks {
            *self.error_leaks.entry(k.clone()).or_default() += n;
        }
        self.jwt_alg_none += o.jwt_alg_none;
        for (sh, n) in &o.shapes {
            *self.shapes.entry(*sh).or_default() += n;
        }
        for (k, t) in &o.query_types {
            if let Some(x) = self.query_types.get_mut(k) {
                *x |= t;
            } else if self.query_types.len() < MAX_QUERY_PARAMS {
                self.query_types.insert(k.clone(), *t);
            }
        }
        for (b, n) in &o.latency {
            *self.latency.entry(*b).or_default() += n;
        }
        for (k, n) in &o.auth_details {
            add_capped(&mut self.auth_details, k, *n, MAX_AUTH_DETAILS, capped);
        }
        self.request_schema.merge(&o.request_schema, capped);
        self.response_schema.merge(&o.response_schema, capped);
        // Keep the smallest fingerprints, so the result does not depend on merge order.
        while self.shapes.len() > MAX_SHAPES {
            self.shapes.pop_last();
            *capped += 1;
        }
    }

    /// Count sensitive values of one (type, location, field), unless the endpoint holds
    /// `MAX_PII_FIELDS` others already (then `capped` counts it). Found from borrowed parts
    /// and copied only when new: every exchange's hits pass here.
    fn add_pii(
        &mut self,
        (kind, location, field): (Kind, Location, &str),
        a: &PiiAdd<'_>,
        capped: &mut u64,
    ) {
        // The entries of (kind, location) start at the empty field name.
        let mine = self
            .pii
            .range_mut((kind, location, String::new())..)
            .take_while(|(k, _)| k.0 == kind && k.1 == location)
            .find(|(k, _)| k.2 == field);
        if let Some((_, mine)) = mine {
            mine.absorb(a);
        } else if self.pii.len() < MAX_PII_FIELDS {
            let seen = PiiSeen {
                count: a.count,
                confidence: a.confidence,
                sample: a.sample.to_string(),
                detail: a.detail.map(str::to_string),
            };
            self.pii.insert((kind, location, field.to_string()), seen);
        } else {
            *capped += 1;
        }
    }

    /// Latency percentiles in milliseconds (upper bound of the histogram bucket, within 19%).
    pub fn latency_percentiles(&self) -> Option<[f64; 3]> {
        let total: u64 = self.latency.values().sum();
        if total == 0 {
            return None;
        }
        let at = |q: f64| {
            let rank = ((total as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (b, n) in &self.latency {
                seen += n;
                if seen >= rank {
                    return bucket_upper_ms(*b);
                }
            }
            0.0
        };
        Some([at(0.5), at(0.95), at(0.99)])
    }

    /// The most frequent response shape (ties: the smallest fingerprint).
    pub fn dominant_shape(&self) -> Option<u64> {
        self.shapes
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(s, _)| *s)
    }

    /// The most distinct object ids any one client read.
    pub fn max_ids_per_client(&self) -> u64 {
        self.ids_by_client
            .values()
            .map(Distinct::estimate)
            .max()
            .unwrap_or(0)
    }

    /// Sensitive types (personal, financial) in responses.
    pub fn response_sensitive(&self) -> BTreeSet<Kind> {
        self.pii
            .keys()
            .filter(|(k, l, _)| {
                *l == Location::ResponseBody
                    && matches!(k.class(), Class::Personal | Class::Financial)
            })
            .map(|(k, ..)| *k)
            .collect()
    }
}

/// Same template, same parameters; where two exchanges disagree on a parameter's shape it
/// widens to a token, which makes the merge commutative and associative.
fn merge_params(into: &mut Vec<(String, ParamType)>, from: &[(String, ParamType)]) {
    if into.is_empty() {
        into.extend(from.iter().cloned());
        return;
    }
    for (a, b) in into.iter_mut().zip(from) {
        if a.1 != b.1 {
            a.1 = ParamType::Token;
        }
    }
}

/// Add `n` to `k` in `map`, unless `map` is full (then `capped` counts it).
fn add_capped(map: &mut BTreeMap<String, u64>, k: &str, n: u64, cap: usize, capped: &mut u64) {
    if let Some(v) = map.get_mut(k) {
        *v += n;
    } else if map.len() < cap {
        map.insert(k.to_string(), n);
    } else {
        *capped += 1;
    }
}

/// Where an exchange was counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub host: String,
    pub path: String,
    /// Auth kinds of the request (sorted; `[None]` without credentials).
    pub auth: Vec<AuthKind>,
}

/// Most TLS services and unparsed (port, protocol) rows kept.
const MAX_SERVICES: usize = 10_000;

/// Endpoints keyed by (host, method, template), in a deterministic order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Inventory {
    #[serde(with = "crate::state::entries")]
    pub endpoints: BTreeMap<(String, String, String), Endpoint>,
    /// TLS servers by `ip:port`.
    pub encrypted: BTreeMap<String, EncryptedService>,
    /// Non-HTTP streams by (server port, protocol guess): (streams, bytes).
    #[serde(with = "crate::state::entries")]
    pub unparsed: BTreeMap<(u16, String), (u64, u64)>,
    /// TLS services or unparsed rows not kept because their table was full.
    pub services_dropped: u64,
    pub max_endpoints: usize,
    /// Exchanges not counted because the endpoint table was full.
    pub endpoints_dropped: u64,
    /// Values (query names, content types) not kept because a per-endpoint cap was reached.
    pub values_capped: u64,
    /// Times the endpoints held were folded with the templates learned so far (more than
    /// `--fold-above` of them; docs/inventory.md).
    pub folds: u64,
    /// Endpoints that joined a template at a fold rather than in the final learning.
    pub merged_by_folding: u64,
}

impl Inventory {
    pub fn new(max_endpoints: usize) -> Inventory {
        Inventory {
            max_endpoints,
            ..Inventory::default()
        }
    }

    /// Everything but the endpoints: the services and counters, to rebuild the endpoints
    /// into (a deep clone of a slug flood's raw endpoints would double the peak memory).
    pub fn without_endpoints(&self) -> Inventory {
        Inventory {
            endpoints: BTreeMap::new(),
            encrypted: self.encrypted.clone(),
            unparsed: self.unparsed.clone(),
            services_dropped: self.services_dropped,
            max_endpoints: self.max_endpoints,
            endpoints_dropped: self.endpoints_dropped,
            values_capped: self.values_capped,
            folds: self.folds,
            merged_by_folding: self.merged_by_folding,
        }
    }

    /// Count one exchange with what the sensitive-data scan found in it. Responses without
    /// a request name no endpoint: `None`. The endpoint is updated in place, with the same
    /// result as merging a one-exchange endpoint into it (`Endpoint::merge_from`).
    pub fn observe(&mut self, x: &Exchange, scan: &Scan) -> Option<Observed> {
        let req = x.request.as_ref()?;
        let (path, query) = split_target(&req.uri);
        let host = host_of(req.headers.get("host"), &req.uri, x.server);
        let tpl = if req.method.eq_ignore_ascii_case("CONNECT") {
            template_path(b"*")
        } else {
            template_path(path)
        };
        let key = (host, req.method.clone(), tpl.path);
        let (ep_host, ep_path) = (key.0.clone(), key.2.clone());
        let known = self.endpoints.len();
        let ep = match self.endpoints.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(_) if known >= self.max_endpoints => {
                self.endpoints_dropped += 1;
                return None;
            }
            Entry::Vacant(e) => e.insert(Endpoint::default()),
        };
        let auth = request_auth(req, query);
        let success = x
            .response
            .as_ref()
            .is_some_and(|r| (200..300).contains(&r.status));
        let unauth_ok = success && auth == [AuthKind::None];
        let mut capped = 0;
        let observed = Observed {
            host: ep_host,
            path: ep_path,
            auth,
        };
        let last = x.response.as_ref().map_or(req.ts, |r| req.ts.max(r.ts));
        if ep.hits == 0 {
            ep.first_seen = req.ts;
            ep.last_seen = last;
        } else {
            ep.first_seen = ep.first_seen.min(req.ts);
            ep.last_seen = ep.last_seen.max(last);
        }
        ep.hits += 1;
        let mut buf = [0u8; MAX_CONTENT_TYPE];
        match &x.response {
            Some(r) => {
                *ep.status_codes.entry(r.status).or_default() += 1;
                ep.response_body_bytes += r.body.len;
                if let Some(ct) = content_type_in(r.headers.get("content-type"), &mut buf) {
                    add_capped(
                        &mut ep.response_content_types,
                        &ct,
                        1,
                        MAX_CONTENT_TYPES,
                        &mut capped,
                    );
                }
            }
            None => ep.no_response += 1,
        }
        ep.auth.extend(observed.auth.iter().copied());
        ep.unauthenticated_success |= unauth_ok;
        merge_params(&mut ep.path_params, &tpl.params);
        if let Some(q) = query {
            for (name, t) in query_names(q) {
                if let Some(x) = ep.query_types.get_mut(&name) {
                    *x |= t;
                } else if ep.query_types.len() < MAX_QUERY_PARAMS {
                    ep.query_types.insert(name.clone(), t);
                }
                add_capped(
                    &mut ep.query_params,
                    &name,
                    1,
                    MAX_QUERY_PARAMS,
                    &mut capped,
                );
            }
        }
        if let Some(ct) = content_type_in(req.headers.get("content-type"), &mut buf) {
            add_capped(
                &mut ep.request_content_types,
                &ct,
                1,
                MAX_CONTENT_TYPES,
                &mut capped,
            );
        }
        ep.request_body_bytes += req.body.len;
        ep.damaged += u64::from(x.gap());
        ep.bodies_scanned += u64::from(scan.bodies_scanned);
        observe_security(ep, x, scan, path, &observed.path, unauth_ok, &mut capped);
        self.values_capped += capped;
        Some(observed)
    }

    /// Count a TLS handshake.
    pub fn observe_tls(&mut self, t: &TlsSeen) {
        let server = t.server.to_string();
        if !self.encrypted.contains_key(&server) && self.encrypted.len() >= MAX_SERVICES {
            self.services_dropped += 1;
            return;
        }
        let e = self.encrypted.entry(server).or_default();
        e.server = t.server.to_string();
        e.observe(t, &mut self.values_capped);
    }

    /// Count a stream that carried no HTTP.
    pub fn observe_unparsed(&mut self, u: &UnparsedStream) {
        let k = unparsed_key(u);
        if !self.unparsed.contains_key(&k) && self.unparsed.len() >= MAX_SERVICES {
            self.services_dropped += 1;
            return;
        }
        let e = self.unparsed.entry(k).or_default();
        e.0 += 1;
        e.1 += u.bytes;
    }

    /// Fold another inventory into this one.
    pub fn merge(&mut self, other: &Inventory) {
        for (k, s) in &other.encrypted {
            if !self.encrypted.contains_key(k) && self.encrypted.len() >= MAX_SERVICES {
                self.services_dropped += s.connections;
                continue;
            }
            let e = self.encrypted.entry(k.clone()).or_default();
            e.server.clone_from(&s.server);
            e.merge(s, &mut self.values_capped);
        }
        for (k, (n, b)) in &other.unparsed {
            if !self.unparsed.contains_key(k) && self.unparsed.len() >= MAX_SERVICES {
                self.services_dropped += n;
                continue;
            }
            let e = self.unparsed.entry(k.clone()).or_default();
            e.0 += n;
            e.1 += b;
        }
        self.services_dropped += other.services_dropped;
        for (k, e) in &other.endpoints {
            if !self.endpoints.contains_key(k) && self.endpoints.len() >= self.max_endpoints {
                self.endpoints_dropped += e.hits;
                continue;
            }
            let mut capped = 0;
            self.endpoints
                .entry(k.clone())
                .or_default()
                .merge_from(e, &mut capped);
            self.values_capped += capped;
        }
        self.endpoints_dropped += other.endpoints_dropped;
        self.values_capped += other.values_capped;
        self.folds += other.folds;
        self.merged_by_folding += other.merged_by_folding;
    }

    /// [`Inventory::merge`], taking `other`'s endpoints rather than copying them.
    pub fn absorb(&mut self, mut other: Inventory) {
        let endpoints = std::mem::take(&mut other.endpoints);
        self.merge(&other);
        let full = |inv: &Inventory| inv.endpoints.len() >= inv.max_endpoints;
        for (k, e) in endpoints {
            if let Some(t) = self.endpoints.get_mut(&k) {
                let mut capped = 0;
                t.merge_from(&e, &mut capped);
                self.values_capped += capped;
            } else if full(self) {
                self.endpoints_dropped += e.hits;
            } else {
                self.endpoints.insert(k, e);
            }
        }
    }
}

/// What an exchange tells about the endpoint's exposure: sensitive values, clients, object
/// ids read, leaked errors, shapes, schemas, latency, authentication details.
fn observe_security(
    ep: &mut Endpoint,
    x: &Exchange,
    scan: &Scan,
    path: &[u8],
    tpl: &str,
    unauth_ok: bool,
    capped: &mut u64,
) {
    for h in &scan.hits {
        let a = PiiAdd {
            count: u64::from(h.count),
            confidence: h.confidence,
            sample: &h.sample,
            detail: h.detail.as_deref(),
        };
        ep.add_pii((h.kind, h.location, &h.field), &a, capped);
        let sensitive = matches!(h.kind.class(), Class::Personal | Class::Financial);
        if unauth_ok
            && sensitive
            && h.location == Location::ResponseBody
            && h.confidence >= Confidence::Medium
        {
            ep.unauth_sensitive.insert(h.kind);
        }
        if h.kind == Kind::Jwt
            && h.location != Location::ResponseBody
            && h.detail
                .as_deref()
                .is_some_and(|d| d.starts_with("alg=none"))
        {
            ep.jwt_alg_none += 1;
        }
    }
    let ip = x.client.ip();
    let client = client_hash(ip);
    ep.clients.insert(client);
    if is_public(ip) {
        ep.external_requests += 1;
    }
    // The raw values at the template's parameter positions are the object ids read.
    let raw = path.split(|c| *c == b'/').filter(|s| !s.is_empty());
    let tsegs = tpl.split('/').filter(|s| !s.is_empty());
    let mut ids = Distinct::<ENUMERATION_IDS>::default();
    for (r, t) in raw.zip(tsegs) {
        if t.starts_with('{') {
            ids.insert(hash64(r));
        }
    }
    if ids.estimate() > 0 {
        ep.ids_by_client.entry(client).or_default().merge(&ids);
        while ep.ids_by_client.len() > MAX_ID_CLIENTS {
            ep.ids_by_client.pop_last();
        }
    }
    if let Some(e) = scan.error_leak {
        match ep.error_leaks.get_mut(e) {
            Some(n) => *n += 1,
            None => {
                ep.error_leaks.insert(e.to_string(), 1);
            }
        }
    }
    let ok = x
        .response
        .as_ref()
        .is_some_and(|r| (200..300).contains(&r.status));
    if let (true, Some(sh)) = (ok, scan.response_shape) {
        *ep.shapes.entry(sh).or_default() += 1;
        // Keep the smallest fingerprints, so the result does not depend on merge order.
        while ep.shapes.len() > MAX_SHAPES {
            ep.shapes.pop_last();
            *capped += 1;
        }
    }
    if ok {
        ep.response_schema.add_sample(&scan.response_leaves, capped);
    }
    ep.request_schema.add_sample(&scan.request_leaves, capped);
    if let (Some(q), Some(r)) = (&x.request, &x.response) {
        if r.ts_end >= q.ts {
            *ep.latency
                .entry(latency_bucket((r.ts_end - q.ts) / 1000))
                .or_default() += 1;
        }
    }
    // Each detail counts once per exchange.
    let mut details: Vec<String> = Vec::new();
    for h in &scan.hits {
        let request_side = matches!(
            h.location,
            Location::RequestHeader | Location::RequestCookie | Location::RequestQuery
        );
        if !request_side {
            continue;
        }
        match (h.kind, &h.detail) {
            (Kind::Jwt, Some(d)) => {
                for part in d
                    .split(' ')
                    .filter(|p| p.starts_with("alg=") || p.starts_with("iss="))
                {
                    details.push(format!("jwt {part}"));
                }
            }
            (Kind::ApiKey | Kind::GoogleApiKey | Kind::StripeKey | Kind::OpenaiKey, _) => {
                let place = if h.location == Location::RequestQuery {
                    "query"
                } else {
                    "header"
                };
                details.push(format!("api_key {place} {}", h.field));
            }
            (Kind::SessionToken, _) => details.push(format!("session cookie {}", h.field)),
            _ => {}
        }
    }
    details.sort_unstable();
    details.dedup();
    for d in &details {
        add_capped(&mut ep.auth_details, d, 1, MAX_AUTH_DETAILS, capped);
    }
}

/// A client address as counted in `Endpoint::clients`: the hash of its text.
fn client_hash(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(a) => {
            let mut text = [0u8; 15];
            let mut n = 0;
            for (i, o) in a.octets().into_iter().enumerate() {
                if i > 0 {
                    text[n] = b'.';
                    n += 1;
                }
                for c in itoa::Buffer::new().format(o).bytes() {
                    text[n] = c;
                    n += 1;
                }
            }
            hash64(&text[..n])
        }
        IpAddr::V6(_) => hash64(ip.to_string().as_bytes()),
    }
}

/// The media type of a Content-Type value, lower-cased, without parameters.
/// Longest media type counted.
const MAX_CONTENT_TYPE: usize = 100;

/// The media type of a Content-Type value, lower-cased (into `buf` when it is ASCII).
fn content_type_in<'b>(
    v: Option<&[u8]>,
    buf: &'b mut [u8; MAX_CONTENT_TYPE],
) -> Option<Cow<'b, str>> {
    let mt = v?.split(|c| *c == b';').next()?.trim_ascii();
    if mt.is_empty() || mt.len() > MAX_CONTENT_TYPE {
        return None;
    }
    if !mt.is_ascii() {
        return Some(Cow::Owned(String::from_utf8_lossy(mt).to_ascii_lowercase()));
    }
    let out = &mut buf[..mt.len()];
    out.copy_from_slice(mt);
    out.make_ascii_lowercase();
    std::str::from_utf8(out).ok().map(Cow::Borrowed)
}

/// Distinct parameter names of a query string, in order of first appearance.
fn query_names(q: &[u8]) -> Vec<(String, u8)> {
    let mut names: Vec<(String, u8)> = Vec::new();
    for kv in q.split(|c| *c == b'&' || *c == b';') {
        let mut it = kv.splitn(2, |c| *c == b'=');
        let name = it.next().unwrap_or(&[]);
        if name.is_empty() || name.len() > 128 {
            continue;
        }
        let t = value_type(it.next().unwrap_or(&[]));
        let name = String::from_utf8_lossy(name).into_owned();
        match names.iter_mut().find(|(n, _)| *n == name) {
            Some(e) => e.1 |= t,
            None => names.push((name, t)),
        }
    }
    names
}

/// The JSON type a query value looks like (bits of apitap_pii's T_*).
fn value_type(v: &[u8]) -> u8 {
    use apitap_pii::{T_BOOLEAN, T_INTEGER, T_NUMBER, T_STRING};
    let digits = |b: &[u8]| !b.is_empty() && b.iter().all(u8::is_ascii_digit);
    let body = v.strip_prefix(b"-").unwrap_or(v);
    if digits(body) {
        T_INTEGER
    } else if body.iter().filter(|c| **c == b'.').count() == 1
        && body.split(|c| *c == b'.').all(digits)
    {
        T_NUMBER
    } else if v.eq_ignore_ascii_case(b"true") || v.eq_ignore_ascii_case(b"false") {
        T_BOOLEAN
    } else {
        T_STRING
    }
}

/// Latency histogram: bucket `i` holds latencies below 2^(i/4) microseconds.
fn latency_bucket(us: u64) -> u16 {
    if us == 0 {
        return 0;
    }
    let l = (us as f64).log2() * 4.0;
    (l.floor() as u16 + 1).min(200)
}

fn bucket_upper_ms(b: u16) -> f64 {
    2f64.powf(f64::from(b) / 4.0) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles_from_the_histogram() {
        let mut e = Endpoint::default();
        // 90 fast (1 ms), 9 slow (100 ms), 1 very slow (2 s).
        for (ms, n) in [(1u64, 90u64), (100, 9), (2000, 1)] {
            *e.latency.entry(latency_bucket(ms * 1000)).or_default() += n;
        }
        let [p50, p95, p99] = e.latency_percentiles().expect("samples");
        assert!((1.0..1.2).contains(&p50), "{p50}");
        assert!((100.0..120.0).contains(&p95), "{p95}");
        assert!((100.0..120.0).contains(&p99), "{p99}");
        assert_eq!(Endpoint::default().latency_percentiles(), None);
    }

    /// An exchange with credentials, query parameters and a JSON body holding personal data.
    fn exchange(i: u64, uri: &str, auth: (&str, &str), status: Option<u16>) -> Exchange {
        use apitap_http::{Body, Headers, Request, Response};
        let body = format!(
            r#"{{"id":{i},"email":"user{i}@example.org","ip":"203.0.113.{i}","tags":["a"]}}"#
        );
        Exchange {
            client: format!(
                "{}.{}:4000{}",
                ["93.184.216", "10.1.1"][(i % 2) as usize],
                i % 3,
                i % 7
            )
            .parse()
            .expect("addr"),
            server: "10.0.0.2:80".parse().expect("addr"),
            tunnel: 0,
            request: Some(Request {
                ts: 1_000 * i,
                method: "GET".into(),
                uri: uri.as_bytes().to_vec(),
                version: 11,
                headers: Headers::from_pairs([
                    ("Host", &b"api.example.com"[..]),
                    (auth.0, auth.1.as_bytes()),
                    ("Content-Type", b"Application/JSON; charset=utf-8"),
                ]),
                body: Body::default(),
                gap: i % 5 == 0,
            }),
            response: status.map(|status| Response {
                ts: 1_000 * i + 500,
                ts_end: 1_000 * i + 900 * (i % 4),
                status,
                reason: "OK".into(),
                version: 11,
                headers: Headers::from_pairs([("Content-Type", &b"application/json"[..])]),
                body: Body {
                    len: body.len() as u64,
                    data: body.into_bytes(),
                    ..Body::default()
                },
                gap: false,
            }),
        }
    }

    #[test]
    fn observing_in_place_equals_merging_one_exchange_endpoints() {
        const JWT: &str = "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwiaXNzIjoiaHR0cHM6Ly9pZHAuZXhhbXBsZS5vcmcifQ.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl";
        let scanner = apitap_pii::Scanner::new();
        let auths = [
            ("Authorization", JWT),
            (
                "Cookie",
                "sessionid=8f14e45fceea167a5a36dedd4bea2543; theme=dark",
            ),
            ("X-Api-Key", "k_3f9a8b7c6d5e4f3a2b1c"),
            ("User-Agent", "curl/8.0"),
        ];
        let mut one_by_one = Inventory::new(100);
        let mut merged = Inventory::new(100);
        for i in 1..=40u64 {
            let resource = ["users", "carts", "teams"][(i % 3) as usize];
            let uri = format!(
                "/v1/{resource}/{i}/orders?page={}&q=x&email=a{i}@b.co",
                i % 3
            );
            let status = [Some(200), Some(401), None, Some(500)][(i % 4) as usize];
            let x = exchange(i, &uri, auths[(i % 4) as usize], status);
            let scan = scanner.scan(&x);
            let seen = one_by_one.observe(&x, &scan);
            let mut single = Inventory::new(100);
            assert_eq!(single.observe(&x, &scan), seen);
            let mut capped = 0;
            for (k, e) in &single.endpoints {
                merged
                    .endpoints
                    .entry(k.clone())
                    .or_default()
                    .merge_from(e, &mut capped);
            }
            merged.values_capped += single.values_capped + capped;
        }
        assert_eq!(one_by_one.endpoints.len(), 3);
        let e = one_by_one.endpoints.values().next().expect("an endpoint");
        assert!(e.hits > 0 && !e.pii.is_empty() && !e.auth_details.is_empty());
        assert!(e.response_schema.samples > 0 && !e.latency.is_empty());
        assert_eq!(one_by_one, merged);
    }

    #[test]
    fn endpoints_past_the_cap_are_counted_not_kept() {
        let scanner = apitap_pii::Scanner::new();
        let mut inv = Inventory::new(2);
        let ua = ("User-Agent", "curl/8.0");
        for (i, uri) in ["/a", "/b", "/c", "/a", "/d", "/b"].iter().enumerate() {
            let x = exchange(i as u64 + 1, uri, ua, Some(200));
            let seen = inv.observe(&x, &scanner.scan(&x));
            assert_eq!(seen.is_some(), !matches!(*uri, "/c" | "/d"), "{uri}");
        }
        assert_eq!(inv.endpoints.len(), 2);
        assert_eq!(inv.endpoints_dropped, 2);
        let hits: Vec<u64> = inv.endpoints.values().map(|e| e.hits).collect();
        assert_eq!(hits, [2, 2], "known endpoints still counted at the cap");
    }

    #[test]
    fn a_cut_head_is_no_evidence_of_a_call_without_authentication() {
        // The same 200 with no credential header: whole, it is a call without
        // authentication; cut by a gap after its first lines, its silence proves nothing.
        let scanner = apitap_pii::Scanner::new();
        for (cut, unauth) in [(false, true), (true, false)] {
            let mut x = exchange(1, "/v1/users/1", ("User-Agent", "curl/8.0"), Some(200));
            if let Some(r) = x.request.as_mut() {
                r.gap = cut;
            }
            let mut inv = Inventory::new(10);
            let seen = inv.observe(&x, &scanner.scan(&x)).expect("observed");
            let e = inv.endpoints.values().next().expect("an endpoint");
            assert_eq!(e.unauthenticated_success, unauth, "cut {cut}");
            assert_eq!(e.auth.contains(&AuthKind::None), unauth, "cut {cut}");
            assert_eq!(seen.auth.is_empty(), cut);
            assert_eq!(e.unauth_sensitive.is_empty(), !unauth, "cut {cut}");
        }
    }

    #[test]
    fn query_value_types() {
        let names = query_names(b"page=2&limit=10&price=9.99&active=true&q=shoes&page=x");
        let t: BTreeMap<String, u8> = names.into_iter().collect();
        use apitap_pii::{T_BOOLEAN, T_INTEGER, T_NUMBER, T_STRING};
        assert_eq!(t["limit"], T_INTEGER);
        assert_eq!(t["price"], T_NUMBER);
        assert_eq!(t["active"], T_BOOLEAN);
        assert_eq!(t["q"], T_STRING);
        assert_eq!(t["page"], T_INTEGER | T_STRING, "mixed values widen");
    }
}
