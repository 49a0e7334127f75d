//! Path templating, first version: stateless, segment by segment. A segment that has the
//! shape of an identifier (integer, UUID, hex id, date, email, prefixed or random token)
//! becomes a parameter; everything else stays literal. Stateless means the template of a
//! path never depends on what else was seen, so it is identical across workers and runs.

pub use apitap_http::split_target;
use std::net::SocketAddr;

/// The inferred type of a path parameter.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    Integer,
    Uuid,
    Hex,
    Date,
    Email,
    Token,
}

impl ParamType {
    /// JSON Schema / OpenAPI (type, format).
    pub fn schema(self) -> (&'static str, Option<&'static str>) {
        match self {
            ParamType::Integer => ("integer", None),
            ParamType::Uuid => ("string", Some("uuid")),
            ParamType::Hex => ("string", Some("hex")),
            ParamType::Date => ("string", Some("date")),
            ParamType::Email => ("string", Some("email")),
            ParamType::Token => ("string", None),
        }
    }
}

/// A templated path with the types of its parameters, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub path: String,
    pub params: Vec<(String, ParamType)>,
}

/// The authority of an absolute-form target (`http://host:port/...`), if any.
fn target_authority(uri: &[u8]) -> Option<&[u8]> {
    let rest = apitap_http::after_scheme(uri)?;
    let end = rest
        .iter()
        .position(|c| *c == b'/' || *c == b'?')
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The endpoint host: the Host header (or absolute-form authority) lower-cased without the
/// default port 80, else the server's `ip:port`.
pub fn host_of(host_header: Option<&[u8]>, uri: &[u8], server: SocketAddr) -> String {
    let raw = target_authority(uri)
        .or(host_header)
        .map(|h| h.trim_ascii())
        .filter(|h| !h.is_empty());
    match raw {
        Some(h) => {
            // '@' and ":80" are ASCII, so cutting the bytes first decodes the same text.
            let h = h
                .iter()
                .rposition(|&c| c == b'@')
                .map_or(h, |i| &h[i + 1..]);
            let h = match h.strip_suffix(b":80") {
                Some(s) if !s.is_empty() => s,
                _ => h,
            };
            String::from_utf8_lossy(h).to_ascii_lowercase()
        }
        None => server.to_string(),
    }
}

/// Template of a path (the part of the target before `?`).
pub fn template_path(path: &[u8]) -> Template {
    if path.is_empty() {
        return Template {
            path: "/".into(),
            params: Vec::new(),
        };
    }
    if path[0] != b'/' {
        // "*" (OPTIONS), authority-form (CONNECT) and other oddities stay literal.
        return Template {
            path: String::from_utf8_lossy(path).into_owned(),
            params: Vec::new(),
        };
    }
    let mut out = String::with_capacity(path.len());
    let mut params = Vec::new();
    let trimmed = if path.len() > 1 && path.ends_with(b"/") {
        &path[..path.len() - 1]
    } else {
        path
    };
    let mut prev: Option<&[u8]> = None;
    for seg in trimmed[1..].split(|c| *c == b'/') {
        out.push('/');
        // Versions: a bare small number right after `api` (Jira's `/rest/api/3`) or at the
        // start of the path (Trello's `/1/boards`, Twitter's `/2/tweets`), a date that starts
        // the path (Twilio's `/2010-04-01/Accounts`).
        let class = classify(seg);
        let small_number = (1..=2).contains(&seg.len()) && seg.iter().all(u8::is_ascii_digit);
        let version = match prev {
            Some(p) => p.eq_ignore_ascii_case(b"api") && small_number,
            None => small_number || class == Some(ParamType::Date),
        };
        prev = Some(seg);
        match class.filter(|_| !version) {
            Some(t) => {
                let name = if params.is_empty() {
                    "id".to_string()
                } else {
                    format!("id{}", params.len() + 1)
                };
                out.push('{');
                out.push_str(&name);
                out.push('}');
                params.push((name, t));
            }
            None => out.push_str(&String::from_utf8_lossy(seg)),
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Template { path: out, params }
}

/// The identifier class of a path segment, or None if it should stay literal.
pub fn classify(seg: &[u8]) -> Option<ParamType> {
    if seg.is_empty() {
        return None;
    }
    if seg.iter().all(u8::is_ascii_digit) {
        return Some(ParamType::Integer);
    }
    if is_uuid(seg) {
        return Some(ParamType::Uuid);
    }
    if is_hex_id(seg) {
        return Some(ParamType::Hex);
    }
    if is_date(seg) {
        return Some(ParamType::Date);
    }
    if is_email(seg) {
        return Some(ParamType::Email);
    }
    if is_token(seg) {
        return Some(ParamType::Token);
    }
    None
}

fn is_uuid(s: &[u8]) -> bool {
    s.len() == 36
        && s.iter().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

fn is_hex_id(s: &[u8]) -> bool {
    let all_hex = s.iter().all(u8::is_ascii_hexdigit);
    let digits = s.iter().filter(|c| c.is_ascii_digit()).count();
    all_hex
        && (matches!(s.len(), 24 | 32 | 40 | 64)
            || (s.len() >= 12 && digits > 0 && digits < s.len()))
}

fn is_date(s: &[u8]) -> bool {
    s.len() == 10
        && s.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

fn is_email(s: &[u8]) -> bool {
    let Some(at) = s.iter().position(|c| *c == b'@') else {
        return false;
    };
    at > 0 && s[at + 1..].contains(&b'.') && !s.contains(&b' ')
}

/// Random-looking identifiers: prefixed ids (`cus_9a8F7d6...`, `ord-2024-0001`) and
/// base62/base64url tokens. Words, slugs and versions (`v1`, `2.0`) do not qualify.
fn is_token(s: &[u8]) -> bool {
    let body = match s.iter().position(|c| *c == b'_' || *c == b'-') {
        // A short alphabetic prefix followed by a random or numeric part.
        Some(p) if p > 0 && p <= 8 && s[..p].iter().all(|c| c.is_ascii_alphabetic()) => &s[p + 1..],
        _ => s,
    };
    if body.len() < 8
        || !body
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
    {
        return false;
    }
    let digits = body.iter().filter(|c| c.is_ascii_digit()).count();
    let upper = body.iter().filter(|c| c.is_ascii_uppercase()).count();
    let lower = body.iter().filter(|c| c.is_ascii_lowercase()).count();
    let numeric_tail = body.len() >= 4 && digits * 2 >= body.len() && s.len() > body.len();
    let mixed =
        digits >= 2 && (upper + lower) >= 2 && (body.len() >= 16 || (upper > 0 && lower > 0));
    // Random text changes class (digit, upper, lower) often; words, `carol99`, `x509` and
    // camelCase names (`boxSkillsCards`: one capital per hump) do not.
    let class = |c: &u8| {
        if c.is_ascii_digit() {
            0
        } else if c.is_ascii_uppercase() {
            1
        } else {
            2
        }
    };
    let alnum: Vec<u8> = body
        .iter()
        .copied()
        .filter(u8::is_ascii_alphanumeric)
        .collect();
    let changes = alnum
        .windows(2)
        .filter(|w| class(&w[0]) != class(&w[1]))
        .count();
    let capital_runs = alnum
        .windows(2)
        .filter(|w| w[0].is_ascii_uppercase() && w[1].is_ascii_uppercase())
        .count();
    // Capitalised names with a number in them (`OrganizationalLevel1s`,
    // `ContactGroups2024Archive`) change class once every four characters or so; random
    // mixed-case text about every other one. (Lower-case ids with digits, `v5taau8637`,
    // change rarely too, and stay ids.)
    //
    // camelCase words around a digit or two (`l3FirewallRules`, `oauth2Clients`): the
    // letters are mostly in lower-case runs of three or more, which random text rarely is.
    let letters = upper + lower;
    let mut in_words = 0;
    for run in alnum.split(|c| !c.is_ascii_lowercase()) {
        if run.len() >= 3 {
            in_words += run.len();
        }
    }
    let camel = digits <= 2 && in_words * 4 >= letters * 3;
    let wordy = upper > 0 && (changes * 3 < alnum.len() || camel);
    let mixed = mixed && !wordy;
    let random_alnum =
        alnum.len() >= 10 && digits >= 1 && upper + lower >= 2 && changes >= 3 && !wordy;
    let random_cased =
        alnum.len() >= 12 && upper >= 3 && lower >= 3 && capital_runs >= 1 && changes >= 5;
    numeric_tail || mixed || random_alnum || random_cased
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(p: &str) -> String {
        template_path(p.as_bytes()).path
    }

    #[test]
    fn ids_become_parameters() {
        assert_eq!(t("/v1/users/42"), "/v1/users/{id}");
        assert_eq!(t("/v1/users/42/orders/7"), "/v1/users/{id}/orders/{id2}");
        assert_eq!(
            t("/items/3f2b8c1e-9d4a-4b7e-8f00-1234567890ab"),
            "/items/{id}"
        );
        assert_eq!(t("/objects/507f1f77bcf86cd799439011"), "/objects/{id}");
        assert_eq!(t("/customers/cus_9a8F7d6E5c4B"), "/customers/{id}");
        assert_eq!(t("/orders/ord-2024-0001"), "/orders/{id}");
        assert_eq!(t("/reports/2024-01-31"), "/reports/{id}");
        assert_eq!(t("/users/alice@example.com"), "/users/{id}");
        // Prefixed and bare random ids with few digits or none.
        assert_eq!(t("/gists/gis_4mvGbVQEAXjCKR"), "/gists/{id}");
        assert_eq!(t("/webhooks/web_PdcUviihJoMkXE"), "/webhooks/{id}");
        assert_eq!(t("/briefs/2pb7ll3lohdz7cn"), "/briefs/{id}");
        assert_eq!(t("/objects/xzw1o8qebu27e"), "/objects/{id}");
        assert_eq!(t("/subscriptions/v5taau8637"), "/subscriptions/{id}");
        // A bare small number after `api` is a version; elsewhere, or longer, an id.
        assert_eq!(t("/rest/api/3/issue/10042"), "/rest/api/3/issue/{id}");
        assert_eq!(t("/API/2/users"), "/API/2/users");
        assert_eq!(t("/api/v2/items/3"), "/api/v2/items/{id}");
        assert_eq!(t("/api/12345/items"), "/api/{id}/items");
        assert_eq!(t("/1/boards/42"), "/1/boards/{id}");
        assert_eq!(t("/2/tweets/1460323737035677698"), "/2/tweets/{id}");
        assert_eq!(t("/12345/items"), "/{id}/items");
        assert_eq!(t("/2010-04-01/Accounts/AC42"), "/2010-04-01/Accounts/AC42");
        assert_eq!(t("/reports/2024-01-31"), "/reports/{id}");
    }

    #[test]
    fn words_versions_and_slugs_stay_literal() {
        assert_eq!(t("/v1/users/me"), "/v1/users/me");
        assert_eq!(t("/api/v2/search"), "/api/v2/search");
        assert_eq!(t("/docs/getting-started"), "/docs/getting-started");
        assert_eq!(t("/static/app.min.js"), "/static/app.min.js");
        assert_eq!(t("/api/2.0/status"), "/api/2.0/status");
        for word in [
            "/files/boxSkillsCards",
            "/users/carol99",
            "/oauth2callback",
            "/XMLHttpRequest",
            "/shield_information_barrier_segment_members",
            "/v2beta1",
            "/sha256sums",
            "/OrganizationalLevel1s",
            "/ContactGroups2024Archive",
            "/l3FirewallRules",
            "/l7FirewallRules",
            "/oauth2Clients",
        ] {
            assert_eq!(t(word), word);
        }
        assert_eq!(t("/"), "/");
        assert_eq!(t("/users/"), "/users");
        assert_eq!(t("*"), "*");
    }

    #[test]
    fn targets_and_hosts() {
        assert_eq!(
            split_target(b"/a/b?x=1#f"),
            (&b"/a/b"[..], Some(&b"x=1"[..]))
        );
        assert_eq!(
            split_target(b"http://h.example:8080/p?q"),
            (&b"/p"[..], Some(&b"q"[..]))
        );
        let srv: SocketAddr = "10.1.2.3:8080".parse().expect("addr");
        assert_eq!(
            host_of(Some(b"API.Example.com:80"), b"/", srv),
            "api.example.com"
        );
        assert_eq!(
            host_of(Some(b"api.example.com:8443"), b"/", srv),
            "api.example.com:8443"
        );
        assert_eq!(host_of(None, b"/", srv), "10.1.2.3:8080");
        assert_eq!(
            host_of(Some(b"a"), b"http://proxied.example/x", srv),
            "proxied.example"
        );
    }
}
