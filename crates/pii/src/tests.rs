//! Scanner tests on whole exchanges: every location, free text, and what must stay quiet.

use super::*;
use apitap_http::{Body, Exchange, Request, Response};

fn exchange(
    uri: &str,
    req_headers: &[(&str, &str)],
    req_body: &str,
    resp_headers: &[(&str, &str)],
    resp_body: &str,
) -> Exchange {
    let h = |v: &[(&str, &str)]| Headers::from_pairs(v.iter().map(|(k, v)| (*k, v.as_bytes())));
    let body = |b: &str| Body {
        len: b.len() as u64,
        data: b.as_bytes().to_vec(),
        ..Body::default()
    };
    Exchange {
        client: "198.51.100.7:40000".parse().expect("addr"),
        server: "10.0.0.2:80".parse().expect("addr"),
        tunnel: 0,
        request: Some(Request {
            ts: 1,
            method: "POST".into(),
            uri: uri.as_bytes().to_vec(),
            version: 11,
            headers: h(req_headers),
            body: body(req_body),
            gap: false,
        }),
        response: Some(Response {
            ts: 2,
            ts_end: 2,
            status: 200,
            reason: "OK".into(),
            version: 11,
            headers: h(resp_headers),
            body: body(resp_body),
            gap: false,
        }),
    }
}

fn found(s: &Scan) -> Vec<(Kind, Location, String)> {
    let mut v: Vec<_> = s
        .hits
        .iter()
        .map(|h| (h.kind, h.location, h.field.clone()))
        .collect();
    v.sort();
    v
}

#[test]
fn every_location_is_scanned() {
    let jwt = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxMjMiLCJleHAiOjE3MDAwMDAwMDB9.c2lnbmF0dXJlc2lnbmF0dXJl";
    let x = exchange(
        "/v1/users/jane.doe@acme-corp.com/orders?api_key=AIzaSyD3x7Qp9LmN2vB8kR4tY6wE1uI0oP5aSdF&page=2",
        &[
            ("Authorization", &format!("Bearer {jwt}")),
            ("Cookie", "theme=dark; sessionid=Zk3j9QmX2pLw8RtY"),
            ("X-Forwarded-For", "203.0.113.9, 10.0.0.1"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "email=omar%40fastmail.fm&password=hunter2hunter2&remember=1",
        &[("Content-Type", "application/json")],
        r#"{"user":{"first_name":"Jane","email":"jane.doe@acme-corp.com","cards":[{"number":"4539 5787 6362 1486"}]}}"#,
    );
    let s = Scanner::new().scan(&x);
    let f = found(&s);
    let expect = [
        (Kind::Email, Location::RequestPath, "path[2]"),
        (Kind::GoogleApiKey, Location::RequestQuery, "api_key"),
        (Kind::Jwt, Location::RequestHeader, "authorization"),
        (Kind::SessionToken, Location::RequestCookie, "sessionid"),
        (Kind::IpAddress, Location::RequestHeader, "x-forwarded-for"),
        (Kind::Email, Location::RequestBody, "email"),
        (Kind::Password, Location::RequestBody, "password"),
        (
            Kind::PersonName,
            Location::ResponseBody,
            "$.user.first_name",
        ),
        (Kind::Email, Location::ResponseBody, "$.user.email"),
        (
            Kind::CreditCard,
            Location::ResponseBody,
            "$.user.cards[*].number",
        ),
    ];
    for (k, l, fld) in expect {
        assert!(
            f.contains(&(k, l, fld.to_string())),
            "missing {k:?} {l:?} {fld}: {f:#?}"
        );
    }
    assert_eq!(f.len(), expect.len(), "{f:#?}");
    // The JWT's header is read; the IPs are both reported under one entry.
    let j = s.hits.iter().find(|h| h.kind == Kind::Jwt).expect("jwt");
    assert_eq!(j.detail.as_deref(), Some("alg=none exp=1700000000"));
    let ip = s
        .hits
        .iter()
        .find(|h| h.kind == Kind::IpAddress)
        .expect("ip");
    assert_eq!(ip.count, 2);
    // No raw value leaves: no sample contains a whole value.
    for h in &s.hits {
        for raw in [
            "jane.doe@acme-corp.com",
            "hunter2hunter2",
            "4539 5787 6362 1486",
            "203.0.113.9",
            jwt,
        ] {
            assert!(!h.sample.contains(raw), "{h:?}");
        }
    }
}

#[test]
fn free_text_and_error_pages() {
    let html = "<html><body><p>Contact: priya.n@uni-heidelberg.de or call.</p>\
        <pre>card 4539-5787-6362-1486, ssn 536-22-1234, build 1.2.3.4, order 4111 2222 3333 4444</pre>\
        <code>AWS key AKIAQ3EGRZ7JMPLK4WTV</code>\
        Traceback (most recent call last):\n  File \"app.py\", line 3</body></html>";
    let x = exchange("/", &[], "", &[("Content-Type", "text/html")], html);
    let s = Scanner::new().scan(&x);
    let kinds: Vec<Kind> = s.hits.iter().map(|h| h.kind).collect();
    assert_eq!(
        kinds,
        vec![
            Kind::Email,
            Kind::AwsAccessKeyId,
            Kind::CreditCard,
            Kind::UsSsn
        ],
        "{:#?}",
        s.hits
    );
    assert_eq!(s.error_leak, Some("python traceback"));
}

#[test]
fn look_alikes_stay_quiet() {
    let body = r#"{"id":"0b8a3d2e-6f1c-4b7a-9e2d-5c4f3a2b1c0d","order_id":"4929178642354694",
        "created_at":"2024-03-01T12:00:00Z","version":"10.2.0.1","sku":"12345678Z",
        "sha1":"da39a3ee5e6b4b0d3255bfef95601890afd80709","account_number":"Xq7vN2pL9mR4tY8wK1jH5gF3dS6aZ0cB2nM4xV7e",
        "logo":"logo@2x.png","reply_to":"noreply@acme-corp.com","token_type":"Bearer","expires_in":3600,
        "total":"4539578763621486","name":"Deluxe Widget","phone_ext":"204","page":3}"#;
    let x = exchange(
        "/orders/4929178642354694",
        &[("Content-Type", "application/json")],
        "",
        &[("Content-Type", "application/json")],
        body,
    );
    let s = Scanner::new().scan(&x);
    assert!(s.hits.is_empty(), "{:#?}", s.hits);
}

#[test]
fn hostile_json_is_bounded() {
    // Deep nesting, a cut document, invalid escapes, huge strings: no panic, bounded work.
    let deep = "[".repeat(100_000);
    let cut = r#"{"user":{"email":"jane.doe@acme-corp.com","name":"Ja"#;
    let bad = r#"{"a":"\ud800\u00zz","b":"\"#;
    let wide = format!("[{}]", vec!["\"x@y.co\""; 50_000].join(","));
    for b in [deep.as_str(), cut, bad, &wide] {
        let mut hits = Vec::new();
        Scanner::new().bytes(
            Some(b"application/json"),
            b.as_bytes(),
            Location::ResponseBody,
            &mut hits,
        );
        assert!(hits.len() <= 256);
    }
    let mut hits = Vec::new();
    Scanner::new().bytes(
        Some(b"application/json"),
        cut.as_bytes(),
        Location::ResponseBody,
        &mut hits,
    );
    assert_eq!(hits.len(), 1, "the leaf before the cut is found");
}

mod hostile {
    use super::*;
    use proptest::prelude::*;

    /// JSON-ish text: the grammar's bytes in any order, with quotes, escapes and digits.
    fn jsonish() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                Just(b'{'),
                Just(b'}'),
                Just(b'['),
                Just(b']'),
                Just(b':'),
                Just(b','),
                Just(b'"'),
                Just(b'\\'),
                Just(b'u'),
                Just(b'@'),
                Just(b'.'),
                Just(b'-'),
                Just(b' '),
                (b'0'..=b'9'),
                (b'a'..=b'z'),
                any::<u8>(),
            ],
            0..400,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn any_bytes_in_any_place_never_panic(body in jsonish(), text in proptest::collection::vec(any::<u8>(), 0..300)) {
            let s = Scanner::new();
            for ct in [&b"application/json"[..], b"text/html", b"application/x-www-form-urlencoded"] {
                let mut hits = Vec::new();
                s.bytes(Some(ct), &body, Location::ResponseBody, &mut hits);
                s.bytes(Some(ct), &text, Location::RequestBody, &mut hits);
                prop_assert!(hits.len() <= 2 * 256);
            }
            let uri = String::from_utf8_lossy(&text).replace(' ', "");
            let hdr = String::from_utf8_lossy(&body).replace(['\r', '\n'], "");
            let x = exchange(&format!("/{uri}"), &[("Authorization", &format!("Bearer {hdr}")), ("Cookie", &hdr)], "", &[], "");
            let _ = s.scan(&x);
        }
    }
}

#[test]
fn phones_in_sentences_and_credentials_in_bodies() {
    let body = r#"{"a":"Please call me on +44 7911 123456 after 5pm",
        "b":"Customer asked for a callback, phone: (212) 736-5000",
        "c":"tel:+33 6 12 34 56 78",
        "d":"Order 212-736-5000 shipped, see invoice 2024-118812",
        "e":"Processed 2127365000 records in 12 ms (+14%)",
        "f":"Hotel 212-736-5000 is booked; recall 2127365000 later",
        "g":"call 1 - 2 - 3 - 4 - 5 - 6 - 7 - 8 - 9 - 0",
        "h":"Bearer 9fQx2LmA7kZpW3vR8tYc1NbH5sJd",
        "i":"Basic YWxpY2U6czNjcjN0UGFzcw==",
        "j":"Bearer <token>",
        "k":"Basic dXNlcm5hbWU6cGFzc3dvcmQ=",
        "l":"Bearer followed by your token, always"}"#;
    let x = exchange("/", &[], "", &[("Content-Type", "application/json")], body);
    let s = Scanner::new().scan(&x);
    let found: Vec<(Kind, &str)> = s.hits.iter().map(|h| (h.kind, h.field.as_str())).collect();
    assert_eq!(
        found,
        vec![
            (Kind::Phone, "$.a"),
            (Kind::Phone, "$.b"),
            (Kind::Phone, "$.c"),
            (Kind::BearerToken, "$.h"),
            (Kind::BasicAuth, "$.i"),
        ]
    );
    // Only the number is sampled, redacted, never the sentence around it.
    let a = &s.hits[0].sample;
    assert!(
        a.starts_with("+4") && !a.contains("7911") && !a.contains("call"),
        "{a}"
    );
}

#[test]
fn jwt_header_and_claims_are_read_without_a_full_parse() {
    use crate::detect::jwt;
    let b64 = |s: &str| {
        let t = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let (mut out, mut acc, mut bits) = (String::new(), 0u32, 0u32);
        for &c in s.as_bytes() {
            acc = (acc << 8) | u32::from(c);
            bits += 8;
            while bits >= 6 {
                bits -= 6;
                out.push(t[((acc >> bits) & 63) as usize] as char);
            }
        }
        if bits > 0 {
            out.push(t[((acc << (6 - bits)) & 63) as usize] as char);
        }
        out
    };
    let tok = |h: &str, p: &str, extra: &str| format!("{}.{}.c2ln{extra}", b64(h), b64(p));
    let detail = |t: &str| jwt(t).and_then(|m| m.2);
    let t = tok(
        r#"{"typ":"JWT","alg":"RS256"}"#,
        r#"{"sub":"42","iss" : "https://id.example.org/","exp":1700000000}"#,
        "",
    );
    assert_eq!(
        detail(&t).as_deref(),
        Some("alg=RS256 exp=1700000000 iss=https://id.example.org/")
    );
    // A name inside another name or a value is not the field.
    let t = tok(
        r#"{"xalg":"no","alg":"HS256"}"#,
        r#"{"expires":"soon","issuer":"x","exp" :17}"#,
        "",
    );
    assert_eq!(detail(&t).as_deref(), Some("alg=HS256 exp=17"));
    // Five parts (JWE) are read too; two or four are not a JWT, nor is a header without alg.
    let five = format!("{}.a.b", tok(r#"{"alg":"dir"}"#, "{}", ""));
    assert_eq!(detail(&five).as_deref(), Some("alg=dir"));
    assert_eq!(jwt(&format!("{}.x", b64(r#"{"alg":"none"}"#))), None);
    assert_eq!(jwt(&format!("{}.x.y.z", b64(r#"{"alg":"none"}"#))), None);
    assert_eq!(jwt(&tok(r#"{"typ":"JWT"}"#, "{}", "")), None);
    // Issuers are cut at 80 characters.
    let long = "i".repeat(200);
    let t = tok(r#"{"alg":"ES256"}"#, &format!(r#"{{"iss":"{long}"}}"#), "");
    assert_eq!(detail(&t), Some(format!("alg=ES256 iss={}", &long[..80])));
}

#[test]
fn short_names_are_told_apart_by_their_words() {
    // Every name of up to 6 bytes over a small alphabet, and longer ones that share their
    // first and last 8 bytes or differ only in length: equal words iff equal names.
    let alphabet = [b'a', b'b', b'_', 0xc3];
    let mut names: Vec<Vec<u8>> = vec![Vec::new()];
    let mut frontier = names.clone();
    for _ in 0..6 {
        frontier = frontier
            .iter()
            .flat_map(|n| {
                alphabet.iter().map(move |c| {
                    let mut m = n.clone();
                    m.push(*c);
                    m
                })
            })
            .collect();
        names.extend(frontier.iter().cloned());
    }
    for mid in ["", "x", "xy", "xyz"] {
        names.push(format!("cust{mid}_addr").into_bytes());
        names.push(format!("cust{mid}addr").into_bytes());
    }
    let mut seen = std::collections::HashMap::new();
    for n in &names {
        let w = short_name_words(n).expect("16 bytes or fewer");
        if let Some(other) = seen.insert(w, n.clone()) {
            panic!("{n:?} and {other:?} share words {w:x?}");
        }
    }
    assert_eq!(short_name_words(&[b'a'; 17]), None);
}

#[test]
fn the_front_slots_give_each_name_its_own_analysis() {
    // More names than slots, so slots are overwritten; every answer must be the analysis of
    // the name asked for, whether from a slot, the cache behind, or fresh.
    let s = Scanner::new();
    let names: Vec<String> = (0..3 * FRONT_SLOTS)
        .map(|i| match i % 3 {
            0 => format!("email{i}"),
            1 => format!("date_of_birth_{i}"),
            _ => format!("a_much_longer_field_name_{i}"),
        })
        .collect();
    for round in 0..3 {
        for n in &names {
            let got = s.key(n);
            let want = Key::new(n);
            assert_eq!(got.joined, want.joined, "round {round}, {n}");
            assert_eq!(got.hint, want.hint, "round {round}, {n}");
        }
    }
    assert_eq!(s.key("dateOfBirth").hint, detect::Hint::Dob);
    assert_eq!(s.key("").hint, detect::Hint::None);
}

#[test]
fn identifiers_are_not_analysed_as_names() {
    let s = Scanner::new();
    for id in [
        "prd_00621430",
        "2024",
        "usr-12345678-abcd",
        "a_much_longer_id_0000123456789",
    ] {
        let k = s.key(id);
        assert!(k.words.is_empty() && k.hint == detect::Hint::None, "{id}");
    }
    assert!(
        s.keys.borrow().is_empty(),
        "identifiers stay out of the cache"
    );
    // Short digit runs are parts of names.
    for name in [
        "v1",
        "ssn_last4",
        "address2",
        "oauth2_token",
        "x-b3-traceid",
    ] {
        assert_eq!(s.key(name).words, Key::new(name).words, "{name}");
    }
    assert_eq!(s.keys.borrow().len(), 5);
    // A path segment after an id is scanned with no name; the value is still found.
    let x = exchange(
        "/api/v1/users/100234/alice.smith%40example.com",
        &[],
        "",
        &[],
        "",
    );
    let mut hits = Vec::new();
    s.path(&x.request.as_ref().expect("request").uri, &mut hits);
    assert!(hits.iter().any(|h| h.kind == Kind::Email), "{hits:?}");
}
