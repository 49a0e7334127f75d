//! How a request authenticates, from its headers and query string. Names only: credentials
//! themselves are never stored.

use apitap_http::{Headers, Request};
use serde::{Deserialize, Serialize};

/// Kinds of authentication seen on requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    None,
    Basic,
    Bearer,
    Digest,
    ApiKey,
    Cookie,
    /// An Authorization scheme we do not classify (AWS4-HMAC-SHA256, Negotiate, ...).
    OtherAuthorization,
}

impl AuthKind {
    /// The stable snake_case name used in outputs.
    pub fn name(self) -> &'static str {
        match self {
            AuthKind::None => "none",
            AuthKind::Basic => "basic",
            AuthKind::Bearer => "bearer",
            AuthKind::Digest => "digest",
            AuthKind::ApiKey => "api_key",
            AuthKind::Cookie => "cookie",
            AuthKind::OtherAuthorization => "other_authorization",
        }
    }
}

use apitap_http::API_KEY_HEADERS as KEY_HEADERS;
const KEY_QUERY: &[&str] = &[
    "api_key",
    "apikey",
    "api-key",
    "key",
    "access_token",
    "token",
    "auth_token",
    "apitoken",
];

/// The auth kinds of a request, `query` being its query string. A head a gap cut lost the
/// headers past the cut: what it shows counts, but its silence is not evidence of a call
/// without authentication, so it has no kinds rather than `[None]`.
pub fn request_auth(req: &Request, query: Option<&[u8]>) -> Vec<AuthKind> {
    let mut kinds = classify_auth(&req.headers, query);
    if req.gap && kinds == [AuthKind::None] {
        kinds.clear();
    }
    kinds
}

/// The auth kinds present on a request (sorted, deduplicated); `[None]` when there are none.
pub fn classify_auth(h: &Headers, query: Option<&[u8]>) -> Vec<AuthKind> {
    let mut kinds = Vec::new();
    for v in h
        .get_all("authorization")
        .chain(h.get_all("proxy-authorization"))
    {
        let scheme = v.trim_ascii().split(|c| *c == b' ').next().unwrap_or(&[]);
        kinds.push(if scheme.eq_ignore_ascii_case(b"basic") {
            AuthKind::Basic
        } else if scheme.eq_ignore_ascii_case(b"bearer") {
            AuthKind::Bearer
        } else if scheme.eq_ignore_ascii_case(b"digest") {
            AuthKind::Digest
        } else {
            AuthKind::OtherAuthorization
        });
    }
    if h.iter().any(|(n, _)| {
        KEY_HEADERS
            .iter()
            .any(|k| n.eq_ignore_ascii_case(k.as_bytes()))
    }) {
        kinds.push(AuthKind::ApiKey);
    }
    if let Some(q) = query {
        let has_key = q.split(|c| *c == b'&').any(|kv| {
            let name = kv.split(|c| *c == b'=').next().unwrap_or(&[]);
            KEY_QUERY
                .iter()
                .any(|k| name.eq_ignore_ascii_case(k.as_bytes()))
        });
        if has_key {
            kinds.push(AuthKind::ApiKey);
        }
    }
    if h.get("cookie").is_some() {
        kinds.push(AuthKind::Cookie);
    }
    kinds.sort_unstable();
    kinds.dedup();
    if kinds.is_empty() {
        kinds.push(AuthKind::None);
    }
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(h: &[(&str, &[u8])], q: Option<&[u8]>) -> Vec<AuthKind> {
        classify_auth(&Headers::from_pairs(h.iter().copied()), q)
    }

    #[test]
    fn schemes_keys_and_cookies() {
        assert_eq!(
            kinds(&[("Authorization", b"Basic dXNlcjpwYXNz")], None),
            vec![AuthKind::Basic]
        );
        assert_eq!(
            kinds(&[("authorization", b"bearer eyJ...")], None),
            vec![AuthKind::Bearer]
        );
        assert_eq!(kinds(&[("X-API-Key", b"k")], None), vec![AuthKind::ApiKey]);
        assert_eq!(kinds(&[], Some(b"a=1&api_key=zzz")), vec![AuthKind::ApiKey]);
        assert_eq!(
            kinds(
                &[("Cookie", b"sid=1"), ("Authorization", b"Bearer x")],
                None
            ),
            vec![AuthKind::Bearer, AuthKind::Cookie]
        );
        assert_eq!(
            kinds(&[("Accept", b"*/*")], Some(b"keyword=x")),
            vec![AuthKind::None]
        );
    }
}
