//! apitap-pii: sensitive data and secrets in HTTP exchanges. Finds personal, financial,
//! network and credential values in bodies (JSON leaf by leaf, forms, text), query
//! strings, path segments, headers and cookies, and reports each with its type, where it
//! travelled, a confidence and a redacted sample.
//!
//! Invariants:
//! - Raw values never leave this crate: a [`Hit`] carries a redacted sample only.
//! - Work is bounded by the input: bodies are already capped by the HTTP layer, JSON
//!   walks stop at [`json::MAX_LEAVES`] leaves and 64 levels, free text is scanned in one
//!   multi-pattern pass plus one linear digit pass.
//! - Precision first: a value matches as a whole, is validated (checksums, ranges, length
//!   tables), and field names raise or veto types (docs/detections.md).
#![forbid(unsafe_code)]

pub mod detect;
pub mod json;
mod redact;
pub mod text;
pub mod triggers;
pub mod validate;

use apitap_http::{split_target, Coding, Exchange, Headers};
use detect::{Key, Match};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

pub use redact::redact;

/// Types of sensitive values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Email,
    Phone,
    PersonName,
    StreetAddress,
    DateOfBirth,
    Gender,
    Age,
    UsSsn,
    UkNino,
    CaSin,
    BrCpf,
    EsDni,
    NlBsn,
    InAadhaar,
    CreditCard,
    Iban,
    UsRoutingNumber,
    IpAddress,
    MacAddress,
    Jwt,
    PrivateKey,
    AwsAccessKeyId,
    AwsSecretKey,
    GithubToken,
    SlackToken,
    StripeKey,
    GoogleApiKey,
    TwilioKey,
    SendgridKey,
    OpenaiKey,
    AnthropicKey,
    Password,
    BasicAuth,
    BearerToken,
    SessionToken,
    ApiKey,
}

/// Broad classes of sensitive data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    Personal,
    Financial,
    Network,
    Secret,
}

impl Kind {
    pub const ALL: [Kind; 36] = [
        Kind::Email,
        Kind::Phone,
        Kind::PersonName,
        Kind::StreetAddress,
        Kind::DateOfBirth,
        Kind::Gender,
        Kind::Age,
        Kind::UsSsn,
        Kind::UkNino,
        Kind::CaSin,
        Kind::BrCpf,
        Kind::EsDni,
        Kind::NlBsn,
        Kind::InAadhaar,
        Kind::CreditCard,
        Kind::Iban,
        Kind::UsRoutingNumber,
        Kind::IpAddress,
        Kind::MacAddress,
        Kind::Jwt,
        Kind::PrivateKey,
        Kind::AwsAccessKeyId,
        Kind::AwsSecretKey,
        Kind::GithubToken,
        Kind::SlackToken,
        Kind::StripeKey,
        Kind::GoogleApiKey,
        Kind::TwilioKey,
        Kind::SendgridKey,
        Kind::OpenaiKey,
        Kind::AnthropicKey,
        Kind::Password,
        Kind::BasicAuth,
        Kind::BearerToken,
        Kind::SessionToken,
        Kind::ApiKey,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::PersonName => "person_name",
            Kind::StreetAddress => "street_address",
            Kind::DateOfBirth => "date_of_birth",
            Kind::Gender => "gender",
            Kind::Age => "age",
            Kind::UsSsn => "us_ssn",
            Kind::UkNino => "uk_nino",
            Kind::CaSin => "ca_sin",
            Kind::BrCpf => "br_cpf",
            Kind::EsDni => "es_dni",
            Kind::NlBsn => "nl_bsn",
            Kind::InAadhaar => "in_aadhaar",
            Kind::CreditCard => "credit_card",
            Kind::Iban => "iban",
            Kind::UsRoutingNumber => "us_routing_number",
            Kind::IpAddress => "ip_address",
            Kind::MacAddress => "mac_address",
            Kind::Jwt => "jwt",
            Kind::PrivateKey => "private_key",
            Kind::AwsAccessKeyId => "aws_access_key_id",
            Kind::AwsSecretKey => "aws_secret_access_key",
            Kind::GithubToken => "github_token",
            Kind::SlackToken => "slack_token",
            Kind::StripeKey => "stripe_key",
            Kind::GoogleApiKey => "google_api_key",
            Kind::TwilioKey => "twilio_api_key",
            Kind::SendgridKey => "sendgrid_api_key",
            Kind::OpenaiKey => "openai_api_key",
            Kind::AnthropicKey => "anthropic_api_key",
            Kind::Password => "password",
            Kind::BasicAuth => "basic_auth_credentials",
            Kind::BearerToken => "bearer_token",
            Kind::SessionToken => "session_token",
            Kind::ApiKey => "api_key",
        }
    }

    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    pub fn class(self) -> Class {
        use Kind::*;
        match self {
            CreditCard | Iban | UsRoutingNumber => Class::Financial,
            IpAddress | MacAddress => Class::Network,
            Jwt | PrivateKey | AwsAccessKeyId | AwsSecretKey | GithubToken | SlackToken
            | StripeKey | GoogleApiKey | TwilioKey | SendgridKey | OpenaiKey | AnthropicKey
            | Password | BasicAuth | BearerToken | SessionToken | ApiKey => Class::Secret,
            _ => Class::Personal,
        }
    }

    /// Values that make the object they sit in a person's record.
    fn marks_person(self) -> bool {
        matches!(
            self,
            Kind::Email
                | Kind::Phone
                | Kind::DateOfBirth
                | Kind::Gender
                | Kind::StreetAddress
                | Kind::PersonName
                | Kind::UsSsn
                | Kind::UkNino
                | Kind::Age
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn name(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// Where in an exchange a value travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Location {
    #[serde(rename = "request.path")]
    RequestPath,
    #[serde(rename = "request.query")]
    RequestQuery,
    #[serde(rename = "request.header")]
    RequestHeader,
    #[serde(rename = "request.cookie")]
    RequestCookie,
    #[serde(rename = "request.body")]
    RequestBody,
    #[serde(rename = "response.header")]
    ResponseHeader,
    #[serde(rename = "response.body")]
    ResponseBody,
}

impl Location {
    pub fn name(self) -> &'static str {
        match self {
            Location::RequestPath => "request.path",
            Location::RequestQuery => "request.query",
            Location::RequestHeader => "request.header",
            Location::RequestCookie => "request.cookie",
            Location::RequestBody => "request.body",
            Location::ResponseHeader => "response.header",
            Location::ResponseBody => "response.body",
        }
    }
}

/// One sensitive value type at one place of an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub kind: Kind,
    pub location: Location,
    /// JSON path with `[*]` for array indices, a header, cookie or query parameter name, or
    /// `path[N]` for the N-th path segment.
    pub field: String,
    pub confidence: Confidence,
    /// Redacted: never the raw value.
    pub sample: String,
    /// Non-sensitive facts (JWT algorithm and expiry, card brand).
    pub detail: Option<String>,
    /// Occurrences in this exchange.
    pub count: u32,
}

/// What one exchange revealed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    pub hits: Vec<Hit>,
    /// The response shows an internal error (stack trace, SQL error, debug page).
    pub error_leak: Option<&'static str>,
    /// A fingerprint of the JSON response's structure (the set of its leaf paths), for
    /// telling endpoints that return the same kind of object from those that do not.
    pub response_shape: Option<u64>,
    /// Distinct leaf paths of a JSON request body with their type and format.
    pub request_leaves: Vec<LeafInfo>,
    /// Distinct leaf paths of a JSON response body with their type and format.
    pub response_leaves: Vec<LeafInfo>,
    /// Whether the bodies were scanned (see [`Scanner::scan_with`]).
    pub bodies_scanned: bool,
}

/// One distinct JSON leaf path of a body: `$.users[*].email`, string, email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafInfo {
    pub path: String,
    /// Bit set of [`T_STRING`], [`T_INTEGER`], [`T_NUMBER`], [`T_BOOLEAN`], [`T_NULL`].
    pub types: u8,
    /// Bit set of [`F_EMAIL`], [`F_UUID`], [`F_DATE_TIME`], [`F_DATE`], [`F_IPV4`], [`F_IPV6`], [`F_URI`].
    pub formats: u8,
}

pub const T_STRING: u8 = 1;
pub const T_INTEGER: u8 = 2;
pub const T_NUMBER: u8 = 4;
pub const T_BOOLEAN: u8 = 8;
pub const T_NULL: u8 = 16;
pub const F_EMAIL: u8 = 1;
pub const F_UUID: u8 = 2;
pub const F_DATE_TIME: u8 = 4;
pub const F_DATE: u8 = 8;
pub const F_IPV4: u8 = 16;
pub const F_IPV6: u8 = 32;
pub const F_URI: u8 = 64;

/// JSON Schema `format` of a string, from cheap shape checks.
fn string_format(s: &str) -> u8 {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    let date = b.len() >= 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10);
    if date && b.len() == 10 {
        return F_DATE;
    }
    if date && b.len() >= 19 && (b[10] == b'T' || b[10] == b't' || b[10] == b' ') && b[13] == b':' {
        return F_DATE_TIME;
    }
    if b.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
        && b.iter()
            .enumerate()
            .all(|(i, c)| [8, 13, 18, 23].contains(&i) || c.is_ascii_hexdigit())
    {
        return F_UUID;
    }
    if s.starts_with("https://") || s.starts_with("http://") {
        return F_URI;
    }
    if s.contains('@') && detect::email(s).is_some() {
        return F_EMAIL;
    }
    if b.len() <= 39
        && b.iter().filter(|c| **c == b'.').count() == 3
        && s.parse::<std::net::Ipv4Addr>().is_ok()
    {
        return F_IPV4;
    }
    if s.contains(':') && b.len() <= 45 && s.parse::<std::net::Ipv6Addr>().is_ok() {
        return F_IPV6;
    }
    0
}

/// Distinct leaf paths that make up a shape.
const MAX_SHAPE_PATHS: usize = 128;
/// Fewer distinct leaf paths than this make no shape.
const MIN_SHAPE_PATHS: usize = 3;

fn fnv(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in b {
        h ^= u64::from(c);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Most hits kept per exchange.
const MAX_HITS: usize = 256;

struct Collector<'a> {
    loc: Location,
    hits: &'a mut Vec<Hit>,
}

impl Collector<'_> {
    fn add(&mut self, field: &str, raw: &str, (kind, confidence, detail): Match) {
        // Arrays repeat the same field: look from the most recent entries back.
        if let Some(h) = self
            .hits
            .iter_mut()
            .rev()
            .find(|h| h.kind == kind && h.location == self.loc && h.field == field)
        {
            h.count += 1;
            h.confidence = h.confidence.max(confidence);
            return;
        }
        if self.hits.len() >= MAX_HITS {
            return;
        }
        self.hits.push(Hit {
            kind,
            location: self.loc,
            field: field.to_string(),
            confidence,
            sample: redact(kind, raw),
            detail,
            count: 1,
        });
    }
}

/// Field names whose analysis is remembered per worker.
const KEY_CACHE: usize = 4096;

type KeyCache = std::collections::HashMap<Box<str>, std::rc::Rc<Key>, foldhash::fast::RandomState>;

/// The detectors, built once per worker (not shared between threads).
#[derive(Debug, Default)]
pub struct Scanner {
    text: text::Text,
    /// Field names already analysed (cleared when full).
    keys: std::cell::RefCell<KeyCache>,
    /// In front of `keys`: recent names of up to 16 bytes, direct-mapped by their words.
    front: std::cell::RefCell<Vec<FrontSlot>>,
    /// The analysis of every name that `names_nothing`: no words, no hint.
    nameless: std::rc::Rc<Key>,
}

/// Whether a field name is an identifier rather than a name (it holds a run of four or
/// more digits: a path segment `prd_00621430` before the next one, a JSON map keyed by
/// ids, `2024`), so that it says nothing of its value. Such names are mostly unique;
/// analysing and caching each would churn the key cache.
fn names_nothing(name: &str) -> bool {
    let mut run = 0;
    name.bytes().any(|c| {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        run >= 4
    })
}

/// Slots in front of the key cache.
const FRONT_SLOTS: usize = 256;

/// One recent short field name, as `short_name_words` reads it, and its analysis.
#[derive(Debug, Default, Clone)]
struct FrontSlot {
    words: (u64, u64),
    key: Option<std::rc::Rc<Key>>,
}

/// A name of up to 16 bytes as two words that, with its length, determine it: the first
/// and last 8 bytes (overlapping when shorter than 16), 4 bytes when shorter than 8, and
/// the first, middle and last bytes when shorter than 4. Read without a copy or a call.
fn short_name_words(b: &[u8]) -> Option<(u64, u64)> {
    let n = b.len();
    let w8 = |i: usize| {
        b.get(i..i + 8)
            .and_then(|w| w.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    };
    let w4 = |i: usize| {
        b.get(i..i + 4)
            .and_then(|w| w.try_into().ok())
            .map_or(0, |w| u64::from(u32::from_le_bytes(w)))
    };
    let (lo, hi) = match n {
        17.. => return None,
        8.. => (w8(0), w8(n - 8)),
        4.. => (w4(0), w4(n - 4)),
        1.. => (
            u64::from(b[0]) | u64::from(b[n / 2]) << 8,
            u64::from(b[n - 1]),
        ),
        0 => (0, 0),
    };
    Some((lo, hi ^ (n as u64) << 56))
}

/// How a body should be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Json,
    Form,
    Text,
    Skip,
}

fn body_kind(ct: Option<&[u8]>, data: &[u8]) -> BodyKind {
    let ct = ct
        .map(|c| {
            c.split(|b| *b == b';')
                .next()
                .unwrap_or(c)
                .trim_ascii()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let first = data.iter().find(|c| !c.is_ascii_whitespace()).copied();
    let jsonish = matches!(first, Some(b'{') | Some(b'['));
    if ct.ends_with(b"json") || ct.ends_with(b"+json") || ct == b"application/x-ndjson" {
        return BodyKind::Json;
    }
    if ct == b"application/x-www-form-urlencoded" {
        return BodyKind::Form;
    }
    let binary = [
        &b"image/"[..],
        b"video/",
        b"audio/",
        b"font/",
        b"application/octet-stream",
        b"application/zip",
        b"application/pdf",
        b"application/grpc",
        b"application/x-protobuf",
        b"application/gzip",
    ];
    if binary.iter().any(|b| ct.starts_with(b)) {
        return BodyKind::Skip;
    }
    if ct.is_empty()
        || ct.starts_with(b"text/")
        || ct.contains(&b'+')
        || ct.ends_with(b"xml")
        || ct.ends_with(b"javascript")
    {
        if jsonish {
            return BodyKind::Json;
        }
        // Without a type, only mostly printable bytes are text.
        let printable = data
            .iter()
            .take(512)
            .filter(|c| c.is_ascii_graphic() || c.is_ascii_whitespace() || **c >= 0x80)
            .count();
        if ct.is_empty() && printable * 10 < data.len().min(512) * 9 {
            return BodyKind::Skip;
        }
        return BodyKind::Text;
    }
    BodyKind::Skip
}

/// Percent-decode (and `+` to space in forms); borrowed when nothing is encoded.
fn pct(s: &[u8], plus: bool) -> Cow<'_, str> {
    if !s.iter().any(|c| *c == b'%' || (plus && *c == b'+')) {
        return String::from_utf8_lossy(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' if i + 2 < s.len() => {
                let h = std::str::from_utf8(&s[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The JSON visitor: classifies leaves, and holds back what only the rest of its object
/// can confirm (a bare `name` in a person's record; an AWS secret beside its key id).
struct JsonVisit<'a, 'b> {
    scanner: &'a Scanner,
    col: Collector<'b>,
    objs: Vec<ObjCtx>,
    /// Hashes of the distinct leaf paths, when the shape is wanted.
    shape: Option<Vec<u64>>,
    /// The distinct leaves (in step with `shape`).
    leaves: Vec<LeafInfo>,
    seen_leaves: usize,
}

/// Leaves of a body examined for its shape and schema.
const SHAPE_LEAVES: usize = 128;

#[derive(Default)]
struct ObjCtx {
    person: bool,
    aws_key_id: bool,
    names: Vec<(String, String)>,
    secrets: Vec<(String, String)>,
}

/// The field name of a path: its last key, looking through array indices.
fn key_of(path: &str) -> &str {
    let b = path.as_bytes();
    let mut end = b.len();
    while end >= 3 && &b[end - 3..end] == b"[*]" {
        end -= 3;
    }
    let start = memchr::memrchr(b'.', &b[..end]).map_or(end, |i| i + 1);
    path.get(start..end).unwrap_or("")
}

impl json::Visit for JsonVisit<'_, '_> {
    fn leaf(&mut self, path: &str, _key: Option<&str>, value: &json::Leaf<'_>) {
        self.seen_leaves += 1;
        // The structure shows in the first leaves (arrays repeat it): later ones are not
        // looked at for the shape and schema.
        if let Some(sh) = self
            .shape
            .as_mut()
            .filter(|_| self.seen_leaves <= SHAPE_LEAVES)
        {
            let h = fnv(path.as_bytes());
            // Types are cheap; a string's format is looked at on the path's first value only.
            let types = match value {
                json::Leaf::Str(_) => T_STRING,
                json::Leaf::Num(n) if n.bytes().all(|c| c.is_ascii_digit() || c == b'-') => {
                    T_INTEGER
                }
                json::Leaf::Num(_) => T_NUMBER,
                json::Leaf::Bool(_) => T_BOOLEAN,
                json::Leaf::Null => T_NULL,
            };
            match sh.iter().rposition(|x| *x == h) {
                Some(i) => {
                    if let Some(l) = self.leaves.get_mut(i) {
                        l.types |= types;
                    }
                }
                None if sh.len() < MAX_SHAPE_PATHS => {
                    let formats = match value {
                        json::Leaf::Str(s) => string_format(s),
                        _ => 0,
                    };
                    sh.push(h);
                    self.leaves.push(LeafInfo {
                        path: path.to_string(),
                        types,
                        formats,
                    });
                }
                None => {}
            }
        }
        let key = self.scanner.key(key_of(path));
        let key = &*key;
        let hit = match value {
            json::Leaf::Str(s) => {
                let m = detect::classify(s, key);
                if m.is_none() {
                    self.hold_back(path, s, key);
                    if s.len() >= 16 && (s.contains(' ') || s.contains('\n')) {
                        let col = &mut self.col;
                        self.scanner
                            .text
                            .scan(s.as_bytes(), key, &mut |raw, m| col.add(path, raw, m));
                    }
                }
                m.map(|m| (m, &**s))
            }
            json::Leaf::Num(n) => detect::classify_number(n, key).map(|m| (m, *n)),
            _ => None,
        };
        if let Some((m, raw)) = hit {
            if let Some(o) = self.objs.last_mut() {
                o.person |= m.0.marks_person();
                o.aws_key_id |= m.0 == Kind::AwsAccessKeyId;
            }
            self.col.add(path, raw, m);
        }
    }

    fn open(&mut self, object: bool) {
        if object && self.objs.len() < 64 {
            self.objs.push(ObjCtx::default());
        }
    }

    fn close(&mut self, object: bool) {
        if !object {
            return;
        }
        let Some(o) = self.objs.pop() else {
            return;
        };
        if o.person {
            for (p, v) in &o.names {
                self.col
                    .add(p, v, (Kind::PersonName, Confidence::High, None));
            }
        }
        if o.aws_key_id {
            for (p, v) in &o.secrets {
                self.col
                    .add(p, v, (Kind::AwsSecretKey, Confidence::High, None));
            }
        }
    }
}

impl JsonVisit<'_, '_> {
    fn hold_back(&mut self, path: &str, s: &str, key: &Key) {
        let Some(o) = self.objs.last_mut() else {
            return;
        };
        if key.is(&[
            "name",
            "displayname",
            "contact",
            "holder",
            "owner",
            "recipient",
        ]) && detect::person_name(s)
            && s.contains(' ')
            && o.names.len() < 8
        {
            o.names.push((path.to_string(), s.to_string()));
        }
        let b = s.as_bytes();
        if b.len() == 40
            && key.has(&["secret", "key"])
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'/' || *c == b'+')
            && validate::entropy(b) >= 4.0
            && !s.contains("EXAMPLE")
            && !detect::is_placeholder(s)
            && o.secrets.len() < 8
        {
            o.secrets.push((path.to_string(), s.to_string()));
        }
    }
}

const IP_HEADERS: &[&str] = &[
    "x-forwarded-for",
    "x-real-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "x-client-ip",
    "x-original-forwarded-for",
    "x-cluster-client-ip",
    "fastly-client-ip",
];
use apitap_http::API_KEY_HEADERS as KEY_HEADERS;
/// Headers that never carry sensitive values worth a scan (lower-case names).
fn is_plain_header(name: &str) -> bool {
    matches!(
        name,
        "host"
            | "user-agent"
            | "accept"
            | "accept-encoding"
            | "accept-language"
            | "content-type"
            | "content-length"
            | "connection"
            | "date"
            | "server"
            | "cache-control"
            | "etag"
            | "vary"
            | "transfer-encoding"
            | "content-encoding"
            | "last-modified"
            | "expires"
            | "pragma"
            | "age"
            | "keep-alive"
            | "upgrade-insecure-requests"
            | "sec-fetch-mode"
            | "sec-fetch-site"
            | "sec-fetch-dest"
            | "sec-ch-ua"
            | "sec-ch-ua-mobile"
            | "sec-ch-ua-platform"
            | "if-none-match"
            | "if-modified-since"
            | "range"
            | "content-range"
            | "accept-ranges"
            | "strict-transport-security"
            | "content-security-policy"
            | "referrer-policy"
            | "x-content-type-options"
            | "x-frame-options"
    )
}

impl Scanner {
    pub fn new() -> Scanner {
        Scanner::default()
    }

    /// The analysed field name `k`, from the cache when it was seen before.
    fn key(&self, k: &str) -> std::rc::Rc<Key> {
        let Some(words) = short_name_words(k.as_bytes()) else {
            return self.cached_key(k);
        };
        let slot = (words.0 ^ words.1.rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56;
        let mut front = self.front.borrow_mut();
        if front.is_empty() {
            front.resize(FRONT_SLOTS, FrontSlot::default());
        }
        let s = &mut front[slot as usize % FRONT_SLOTS];
        if let Some(key) = s.key.as_ref().filter(|_| s.words == words) {
            return key.clone();
        }
        let key = self.cached_key(k);
        *s = FrontSlot {
            words,
            key: Some(key.clone()),
        };
        key
    }

    /// `key` behind the front slots.
    fn cached_key(&self, k: &str) -> std::rc::Rc<Key> {
        if names_nothing(k) {
            return self.nameless.clone();
        }
        let mut cache = self.keys.borrow_mut();
        if let Some(key) = cache.get(k) {
            return key.clone();
        }
        if cache.len() >= KEY_CACHE {
            cache.clear();
        }
        let key = std::rc::Rc::new(Key::new(k));
        cache.insert(k.into(), key.clone());
        key
    }

    /// Everything sensitive in one exchange.
    pub fn scan(&self, x: &Exchange) -> Scan {
        self.scan_with(x, true)
    }

    /// The target, headers and cookies of one exchange always, and its bodies when
    /// `bodies` is set (otherwise no hits, shape or leaves come from them). Error pages
    /// are recognised either way.
    pub fn scan_with(&self, x: &Exchange, bodies: bool) -> Scan {
        let mut scan = Scan {
            bodies_scanned: bodies,
            ..Scan::default()
        };
        if let Some(q) = &x.request {
            let (path, query) = split_target(&q.uri);
            self.path(path, &mut scan.hits);
            if let Some(qs) = query {
                self.form(qs, Location::RequestQuery, &mut scan.hits);
            }
            self.headers(&q.headers, true, &mut scan.hits);
            if bodies && !q.body.data.is_empty() && q.body.coding != Coding::Undecodable {
                let (_, leaves) = self.walk(
                    q.headers.get("content-type"),
                    &q.body.data,
                    Location::RequestBody,
                    &mut scan.hits,
                );
                scan.request_leaves = leaves;
            }
        }
        if let Some(r) = &x.response {
            self.headers(&r.headers, false, &mut scan.hits);
            if bodies && !r.body.data.is_empty() && r.body.coding != Coding::Undecodable {
                let (shape, leaves) = self.walk(
                    r.headers.get("content-type"),
                    &r.body.data,
                    Location::ResponseBody,
                    &mut scan.hits,
                );
                scan.response_shape = shape;
                scan.response_leaves = leaves;
            }
            // Stack traces and SQL errors come in error responses and in pages, not in the
            // JSON of a success; those are looked at when the body is scanned in full.
            let telling = bodies
                || r.status >= 400
                || body_kind(r.headers.get("content-type"), &r.body.data) != BodyKind::Json;
            if telling && r.body.coding != Coding::Undecodable && !r.body.data.is_empty() {
                scan.error_leak = self.text.error_leak(&r.body.data);
            }
        }
        scan
    }

    /// Scan one body as its content type says.
    pub fn body(
        &self,
        ct: Option<&[u8]>,
        body: &apitap_http::Body,
        loc: Location,
        hits: &mut Vec<Hit>,
    ) {
        if body.data.is_empty() || body.coding == Coding::Undecodable {
            return;
        }
        self.bytes(ct, &body.data, loc, hits);
    }

    /// Scan body bytes as their content type says.
    pub fn bytes(&self, ct: Option<&[u8]>, data: &[u8], loc: Location, hits: &mut Vec<Hit>) {
        let _ = self.walk(ct, data, loc, hits);
    }

    /// Scan body bytes; for JSON, also return the shape fingerprint and the distinct leaves.
    fn walk(
        &self,
        ct: Option<&[u8]>,
        data: &[u8],
        loc: Location,
        hits: &mut Vec<Hit>,
    ) -> (Option<u64>, Vec<LeafInfo>) {
        let kind = body_kind(ct, data);
        match kind {
            BodyKind::Json => {
                let mut v = JsonVisit {
                    scanner: self,
                    col: Collector { loc, hits },
                    objs: Vec::new(),
                    shape: Some(Vec::new()),
                    leaves: Vec::new(),
                    seen_leaves: 0,
                };
                json::walk(data, &mut v);
                let mut sh = v.shape.unwrap_or_default();
                // Too small a structure (an empty envelope, {"ok":true}) tells objects apart
                // poorly: no shape.
                if sh.len() < MIN_SHAPE_PATHS {
                    return (None, v.leaves);
                }
                sh.sort_unstable();
                let bytes: Vec<u8> = sh.iter().flat_map(|h| h.to_le_bytes()).collect();
                return (Some(fnv(&bytes)), v.leaves);
            }
            BodyKind::Form => {
                self.form(data, loc, hits);
            }
            BodyKind::Text => {
                let mut col = Collector { loc, hits };
                self.text
                    .scan(data, &Key::default(), &mut |raw, m| col.add("$", raw, m));
            }
            BodyKind::Skip => {}
        }
        (None, Vec::new())
    }

    fn form(&self, data: &[u8], loc: Location, hits: &mut Vec<Hit>) {
        let mut col = Collector { loc, hits };
        for kv in data.split(|c| *c == b'&').take(256) {
            let mut it = kv.splitn(2, |c| *c == b'=');
            let (Some(k), Some(v)) = (it.next(), it.next()) else {
                continue;
            };
            let (k, v) = (pct(k, true), pct(v, true));
            let key = self.key(&k);
            if let Some(m) = detect::classify(&v, &key) {
                col.add(&k, &v, m);
            } else if v.len() >= 24 && v.contains(' ') {
                self.text
                    .scan(v.as_bytes(), &key, &mut |raw, m| col.add(&k, raw, m));
            }
        }
    }

    fn path(&self, path: &[u8], hits: &mut Vec<Hit>) {
        let mut col = Collector {
            loc: Location::RequestPath,
            hits,
        };
        let segs = path
            .split(|c| *c == b'/')
            .filter(|s| !s.is_empty())
            .take(32);
        let mut before = Cow::Borrowed("");
        for (i, seg) in segs.enumerate() {
            let v = pct(seg, false);
            // Cards, national ids, IBANs and phone numbers all hold digits; the addresses
            // looked for here are IPv6 ones; secrets are 16 bytes or more. Most segments
            // (`api`, `v1`, `users`) are none of these, and need no name.
            let digits = v.bytes().any(|c| c.is_ascii_digit());
            if v.len() < 16 && !digits && !v.contains(['@', ':']) {
                before = v;
                continue;
            }
            // The segment before names this one (`/users/{email}`).
            let key = self.key(&before);
            let m = detect::secret(&v, &key)
                .or_else(|| {
                    if v.contains('@') {
                        detect::email(&v)
                    } else {
                        None
                    }
                })
                .or_else(|| {
                    if !digits {
                        return None;
                    }
                    detect::card(&v, &key)
                        .filter(|m| m.1 == Confidence::High)
                        .or_else(|| detect::national_id(&v, &key))
                        .or_else(|| detect::iban(&v))
                        .or_else(|| detect::phone(&v, &key))
                })
                .or_else(|| {
                    if !v.contains(':') {
                        return None;
                    }
                    detect::network(&v, &key).filter(|m| m.0 == Kind::IpAddress)
                });
            if let Some(m) = m {
                col.add(&format!("path[{i}]"), &v, m);
            }
            before = v;
        }
    }

    fn headers(&self, h: &Headers, request: bool, hits: &mut Vec<Hit>) {
        let loc = if request {
            Location::RequestHeader
        } else {
            Location::ResponseHeader
        };
        let mut lower = [0u8; 64];
        for (name, value) in h.iter() {
            // Header names are tokens (ASCII); a longer or stranger one is no header we
            // look for, and is analysed as any other field name.
            let lname: Cow<'_, str> = match lower.get_mut(..name.len()) {
                Some(buf) if name.is_ascii() => {
                    buf.copy_from_slice(name);
                    buf.make_ascii_lowercase();
                    Cow::Borrowed(std::str::from_utf8(buf).unwrap_or(""))
                }
                _ => Cow::Owned(String::from_utf8_lossy(name).to_ascii_lowercase()),
            };
            let lname = &*lname;
            if is_plain_header(lname) {
                continue;
            }
            let Ok(v) = std::str::from_utf8(value) else {
                continue;
            };
            let v = v.trim();
            if lname == "cookie" && request {
                self.cookies(v, Location::RequestCookie, hits);
                continue;
            }
            if lname == "set-cookie" && !request {
                let first = v.split(';').next().unwrap_or("");
                self.cookies(first, Location::ResponseHeader, hits);
                continue;
            }
            let mut col = Collector {
                loc,
                hits: &mut *hits,
            };
            if lname == "authorization" || lname == "proxy-authorization" {
                let (scheme, cred) = v.split_once(' ').unwrap_or((v, ""));
                let cred = cred.trim();
                if scheme.eq_ignore_ascii_case("basic") {
                    let ok = detect::b64url(cred).is_some_and(|d| d.contains(&b':'));
                    if ok {
                        col.add(lname, cred, (Kind::BasicAuth, Confidence::High, None));
                    }
                } else if scheme.eq_ignore_ascii_case("bearer") && cred.len() >= 8 {
                    let m = detect::jwt(cred).or_else(|| detect::secret(cred, &Key::default()));
                    let m = m.unwrap_or((Kind::BearerToken, Confidence::High, None));
                    col.add(lname, cred, m);
                }
                continue;
            }
            if IP_HEADERS.contains(&lname) || lname == "forwarded" {
                for part in v.split([',', ';']) {
                    let p = part.trim();
                    let p = p.strip_prefix("for=").unwrap_or(p).trim_matches('"');
                    let p = p.trim_start_matches('[').split(']').next().unwrap_or(p);
                    if let Some(m) = detect::network(p, &self.key("ip")) {
                        col.add(lname, p, (m.0, Confidence::High, m.2));
                    }
                }
                continue;
            }
            if KEY_HEADERS.contains(&lname) && v.len() >= 8 {
                let m = detect::secret(v, &Key::default()).unwrap_or((
                    Kind::ApiKey,
                    Confidence::High,
                    None,
                ));
                col.add(lname, v, m);
                continue;
            }
            if v.len() < 8 {
                continue;
            }
            let key = self.key(lname);
            if let Some(m) = detect::secret(v, &key).or_else(|| detect::credential(v, &key)) {
                col.add(lname, v, m);
            } else {
                self.text
                    .scan(v.as_bytes(), &key, &mut |raw, m| col.add(lname, raw, m));
            }
        }
    }

    fn cookies(&self, v: &str, loc: Location, hits: &mut Vec<Hit>) {
        let mut col = Collector { loc, hits };
        for pair in v.split(';').take(64) {
            let Some((name, val)) = pair.trim().split_once('=') else {
                continue;
            };
            let val = val.trim_matches('"');
            let key = self.key(name);
            if let Some(m) = detect::classify(&pct(val.as_bytes(), false), &key) {
                col.add(name, val, m);
                continue;
            }
            let l = name.to_ascii_lowercase();
            let session = ["sess", "sid", "token", "auth", "jwt", "remember", "login"]
                .iter()
                .any(|p| l.contains(p));
            if session && val.len() >= 8 && !detect::is_placeholder(val) {
                col.add(name, val, (Kind::SessionToken, Confidence::High, None));
            }
        }
    }
}

#[cfg(test)]
mod tests;
