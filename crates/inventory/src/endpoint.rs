//! Endpoints and the inventory that aggregates exchanges into them.

use crate::auth::{classify_auth, AuthKind};
use crate::services::{unparsed_key, EncryptedService};
use crate::sketch::{hash64, Distinct};
use crate::template::{host_of, split_target, template_path, ParamType};
use apitap_http::{Exchange, TlsSeen, UnparsedStream};
use apitap_pii::{Class, Confidence, Kind, Location, Scan};
use serde::{Deserialize, Serialize};
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

impl PiiSeen {
    fn merge(&mut self, o: &PiiSeen) {
        self.count += o.count;
        self.confidence = self.confidence.max(o.confidence);
        if o.sample < self.sample {
            self.sample.clone_from(&o.sample);
        }
        if o.detail.is_some() && (self.detail.is_none() || o.detail < self.detail) {
            self.detail.clone_from(&o.detail);
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
        self.merge(o, capped);
    }

    fn merge(&mut self, o: &Endpoint, capped: &mut u64) {
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
        add_capped(
            &mut self.query_params,
            o.query_params.iter(),
            MAX_QUERY_PARAMS,
            capped,
        );
        add_capped(
            &mut self.request_content_types,
            o.request_content_types.iter(),
            MAX_CONTENT_TYPES,
            capped,
        );
        add_capped(
            &mut self.response_content_types,
            o.response_content_types.iter(),
            MAX_CONTENT_TYPES,
            capped,
        );
        self.request_body_bytes += o.request_body_bytes;
        self.response_body_bytes += o.response_body_bytes;
        self.damaged += o.damaged;
        self.bodies_scanned += o.bodies_scanned;
        for (k, p) in &o.pii {
            if let Some(mine) = self.pii.get_mut(k) {
                mine.merge(p);
            } else if self.pii.len() < MAX_PII_FIELDS {
                self.pii.insert(k.clone(), p.clone());
            } else {
                *capped += 1;
            }
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
        add_capped(
            &mut self.auth_details,
            o.auth_details.iter(),
            MAX_AUTH_DETAILS,
            capped,
        );
        self.request_schema.merge(&o.request_schema, capped);
        self.response_schema.merge(&o.response_schema, capped);
        // Keep the smallest fingerprints, so the result does not depend on merge order.
        while self.shapes.len() > MAX_SHAPES {
            self.shapes.pop_last();
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

fn add_capped<'a>(
    into: &mut BTreeMap<String, u64>,
    from: impl Iterator<Item = (&'a String, &'a u64)>,
    cap: usize,
    capped: &mut u64,
) {
    for (k, v) in from {
        if let Some(n) = into.get_mut(k) {
            *n += v;
        } else if into.len() < cap {
            into.insert(k.clone(), *v);
        } else {
            *capped += 1;
        }
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
}

impl Inventory {
    pub fn new(max_endpoints: usize) -> Inventory {
        Inventory {
            max_endpoints,
            ..Inventory::default()
        }
    }

    /// Count one exchange with what the sensitive-data scan found in it. Responses without
    /// a request name no endpoint: `None`.
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
        if !self.endpoints.contains_key(&key) && self.endpoints.len() >= self.max_endpoints {
            self.endpoints_dropped += 1;
            return None;
        }
        let mut one = Endpoint {
            hits: 1,
            first_seen: req.ts,
            last_seen: req.ts,
            path_params: tpl.params,
            ..Endpoint::default()
        };
        match &x.response {
            Some(r) => {
                one.status_codes.insert(r.status, 1);
                one.last_seen = one.last_seen.max(r.ts);
                one.response_body_bytes = r.body.len;
                if let Some(ct) = content_type(r.headers.get("content-type")) {
                    one.response_content_types.insert(ct, 1);
                }
            }
            None => one.no_response = 1,
        }
        let auth = classify_auth(&req.headers, query);
        let success = x
            .response
            .as_ref()
            .is_some_and(|r| (200..300).contains(&r.status));
        one.unauthenticated_success = success && auth == [AuthKind::None];
        one.auth.extend(auth.iter().copied());
        if let Some(q) = query {
            for (name, t) in query_names(q) {
                *one.query_types.entry(name.clone()).or_default() |= t;
                *one.query_params.entry(name).or_default() += 1;
            }
        }
        if let Some(ct) = content_type(req.headers.get("content-type")) {
            one.request_content_types.insert(ct, 1);
        }
        one.request_body_bytes = req.body.len;
        one.damaged = u64::from(x.gap());
        one.bodies_scanned = u64::from(scan.bodies_scanned);
        self.observe_security(
            &mut one,
            x,
            scan,
            path,
            &key.2,
            success && auth == [AuthKind::None],
        );
        let observed = Observed {
            host: key.0.clone(),
            path: key.2.clone(),
            auth,
        };
        let mut capped = 0;
        self.endpoints
            .entry(key)
            .or_default()
            .merge(&one, &mut capped);
        self.values_capped += capped;
        Some(observed)
    }

    /// What an exchange tells about the endpoint's exposure: sensitive values, clients,
    /// object ids read, leaked errors.
    fn observe_security(
        &self,
        one: &mut Endpoint,
        x: &Exchange,
        scan: &Scan,
        path: &[u8],
        tpl: &str,
        unauth_ok: bool,
    ) {
        for h in &scan.hits {
            let seen = PiiSeen {
                count: u64::from(h.count),
                confidence: h.confidence,
                sample: h.sample.clone(),
                detail: h.detail.clone(),
            };
            let k = (h.kind, h.location, h.field.clone());
            let room = one.pii.len() < MAX_PII_FIELDS;
            match one.pii.get_mut(&k) {
                Some(p) => p.merge(&seen),
                None if room => {
                    one.pii.insert(k, seen);
                }
                None => {}
            }
            let sensitive = matches!(h.kind.class(), Class::Personal | Class::Financial);
            if unauth_ok
                && sensitive
                && h.location == Location::ResponseBody
                && h.confidence >= Confidence::Medium
            {
                one.unauth_sensitive.insert(h.kind);
            }
            if h.kind == Kind::Jwt
                && h.location != Location::ResponseBody
                && h.detail
                    .as_deref()
                    .is_some_and(|d| d.starts_with("alg=none"))
            {
                one.jwt_alg_none += 1;
            }
        }
        let ip = x.client.ip();
        let client = hash64(ip.to_string().as_bytes());
        one.clients.insert(client);
        if is_public(ip) {
            one.external_requests = 1;
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
            one.ids_by_client.insert(client, ids);
        }
        if let Some(e) = scan.error_leak {
            one.error_leaks.insert(e.to_string(), 1);
        }
        let ok = x
            .response
            .as_ref()
            .is_some_and(|r| (200..300).contains(&r.status));
        if let (true, Some(sh)) = (ok, scan.response_shape) {
            one.shapes.insert(sh, 1);
        }
        let mut capped = 0;
        if ok {
            one.response_schema
                .add_sample(&scan.response_leaves, &mut capped);
        }
        one.request_schema
            .add_sample(&scan.request_leaves, &mut capped);
        if let (Some(q), Some(r)) = (&x.request, &x.response) {
            if r.ts_end >= q.ts {
                one.latency
                    .insert(latency_bucket((r.ts_end - q.ts) / 1000), 1);
            }
        }
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
                        one.auth_details.insert(format!("jwt {part}"), 1);
                    }
                }
                (Kind::ApiKey | Kind::GoogleApiKey | Kind::StripeKey | Kind::OpenaiKey, _) => {
                    let place = if h.location == Location::RequestQuery {
                        "query"
                    } else {
                        "header"
                    };
                    one.auth_details
                        .insert(format!("api_key {place} {}", h.field), 1);
                }
                (Kind::SessionToken, _) => {
                    one.auth_details
                        .insert(format!("session cookie {}", h.field), 1);
                }
                _ => {}
            }
        }
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
                .merge(e, &mut capped);
            self.values_capped += capped;
        }
        self.endpoints_dropped += other.endpoints_dropped;
        self.values_capped += other.values_capped;
    }
}

/// The media type of a Content-Type value, lower-cased, without parameters.
fn content_type(v: Option<&[u8]>) -> Option<String> {
    let v = v?;
    let mt = v.split(|c| *c == b';').next()?.trim_ascii();
    if mt.is_empty() || mt.len() > 100 {
        return None;
    }
    Some(String::from_utf8_lossy(mt).to_ascii_lowercase())
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
