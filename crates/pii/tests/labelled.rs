//! The labelled test set: realistic JSON responses with planted sensitive values and planted
//! decoys (look-alikes that fail a checksum, sit under an identifier's name, or are
//! well-known placeholders), generated from a fixed seed. Every planted value is labelled
//! with its type and JSON path; the scanner's hits are scored against the labels per type.
//!
//! `cargo test -p apitap-pii --release --test labelled -- --nocapture` prints the table.

use apitap_pii::{validate, Kind, Location, Scanner};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
    fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n).map(|_| char::from(*self.pick(alphabet))).collect()
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX: &[u8] = b"0123456789abcdef";
const FIRST: &[&str] = &[
    "Jane", "Omar", "Li", "Sofía", "Priya", "Lars", "Chiara", "Kwame", "Yuki", "Mateus", "Zoë",
    "Ahmed",
];
const LAST: &[&str] = &[
    "Doe",
    "Haddad",
    "Wei",
    "García",
    "Natarajan",
    "Øberg",
    "Rossi",
    "Mensah",
    "Tanaka",
    "Silva",
    "O'Brien",
    "Kowalski",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "acme-corp.com",
    "fastmail.fm",
    "company.co.uk",
    "uni-heidelberg.de",
];
const STREETS: &[&str] = &[
    "Main St",
    "Elm Avenue",
    "Rue de Rivoli",
    "Baker Street",
    "Hauptstraße",
    "Calle Mayor",
];

fn luhn_complete(prefix: &str, len: usize, r: &mut Rng) -> String {
    let mut s = prefix.to_string();
    s.push_str(&r.digits(len - prefix.len() - 1));
    for d in 0..10 {
        let c = format!("{s}{d}");
        if validate::luhn(c.as_bytes()) {
            return c;
        }
    }
    unreachable!("one check digit always fits")
}

fn complete_with(mut s: String, ok: impl Fn(&[u8]) -> bool) -> Option<String> {
    for d in 0..10 {
        s.push(char::from(b'0' + d));
        if ok(s.as_bytes()) {
            return Some(s);
        }
        s.pop();
    }
    None
}

fn card(r: &mut Rng) -> String {
    let (p, n) = *r.pick(&[
        ("4", 16),
        ("51", 16),
        ("55", 16),
        ("2221", 16),
        ("34", 15),
        ("37", 15),
        ("6011", 16),
        ("3530", 16),
    ]);
    let c = luhn_complete(p, n, r);
    if validate::is_test_card(c.as_bytes()) {
        return card(r);
    }
    if r.chance(50) {
        let b = c.as_bytes();
        b.chunks(4)
            .map(|x| std::str::from_utf8(x).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        c
    }
}

fn iban(r: &mut Rng) -> String {
    let (cc, n) = *r.pick(&[("GB", 22), ("DE", 22), ("FR", 27), ("NL", 18), ("ES", 24)]);
    let bban = if cc == "GB" || cc == "NL" {
        format!(
            "{}{}",
            r.chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4),
            r.digits(n - 8)
        )
    } else {
        r.digits(n - 4)
    };
    for ck in 2..99 {
        let s = format!("{cc}{ck:02}{bban}");
        if validate::iban(s.as_bytes()) {
            return s;
        }
    }
    unreachable!("mod 97 has a solution")
}

fn ssn(r: &mut Rng) -> String {
    loop {
        let s = format!(
            "{:03}-{:02}-{:04}",
            1 + r.below(899),
            1 + r.below(98),
            1 + r.below(9998)
        );
        let d: Vec<u8> = s.bytes().filter(u8::is_ascii_digit).collect();
        if validate::us_ssn(&d) {
            return s;
        }
    }
}

fn nino(r: &mut Rng) -> String {
    loop {
        let s = format!(
            "{}{}{}",
            r.chars(b"ABCEGHJKLMNPRSTWXYZ", 2),
            r.digits(6),
            r.chars(b"ABCD", 1)
        );
        if validate::uk_nino(s.as_bytes()) {
            return s;
        }
    }
}

fn cpf(r: &mut Rng) -> String {
    loop {
        let base = r.digits(9);
        if let Some(a) = (0..100)
            .map(|k| format!("{base}{k:02}"))
            .find(|c| validate::br_cpf(c.as_bytes()))
        {
            return format!("{}.{}.{}-{}", &a[0..3], &a[3..6], &a[6..9], &a[9..11]);
        }
    }
}

fn dni(r: &mut Rng) -> String {
    let n = r.digits(8);
    let v: u32 = n.parse().unwrap_or(0);
    let l = b"TRWAGMYFPDXBNJZSQVHLCKE"[(v % 23) as usize] as char;
    format!("{n}{l}")
}

fn aadhaar(r: &mut Rng) -> String {
    loop {
        let base = format!("{}{}", 2 + r.below(8), r.digits(10));
        if let Some(s) = complete_with(base, validate::in_aadhaar) {
            return format!("{} {} {}", &s[0..4], &s[4..8], &s[8..12]);
        }
    }
}

fn bsn(r: &mut Rng) -> String {
    loop {
        if let Some(s) = complete_with(r.digits(8), validate::nl_bsn) {
            if s.as_bytes()[0] != b'0' {
                return s;
            }
        }
    }
}

fn sin(r: &mut Rng) -> String {
    luhn_complete(&format!("{}", 1 + r.below(7)), 9, r)
}

fn routing(r: &mut Rng) -> String {
    loop {
        let p = *r.pick(&[
            "01", "02", "03", "04", "05", "06", "07", "08", "09", "11", "12", "21", "26", "31",
            "32", "61", "67", "71",
        ]);
        if let Some(s) = complete_with(format!("{p}{}", r.digits(6)), validate::aba_routing) {
            return s;
        }
    }
}

fn phone(r: &mut Rng) -> String {
    match r.below(5) {
        0 => format!("+1 {}-555-{}", 200 + r.below(799), r.digits(4)),
        1 => format!("+44 7{} {}", r.digits(3), r.digits(6)),
        2 => format!("+49 30 {}", r.digits(8)),
        3 => format!(
            "+33 6 {} {} {} {}",
            r.digits(2),
            r.digits(2),
            r.digits(2),
            r.digits(2)
        ),
        _ => format!("+91 9{}", r.digits(9)),
    }
}

fn b64url(b: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |a, (i, x)| a | u32::from(*x) << (16 - 8 * i));
        for i in 0..=c.len() {
            out.push(char::from(T[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

fn jwt(r: &mut Rng) -> String {
    let alg = *r.pick(&["HS256", "RS256", "ES256", "none"]);
    let h = b64url(format!("{{\"alg\":\"{alg}\",\"typ\":\"JWT\"}}").as_bytes());
    let p = b64url(
        format!(
            "{{\"sub\":\"{}\",\"exp\":{},\"iss\":\"https://auth.acme-corp.com\"}}",
            r.digits(6),
            1_800_000_000 + r.below(1000)
        )
        .as_bytes(),
    );
    format!("{h}.{p}.{}", r.chars(ALNUM, 43))
}

/// One planted value: its type, or `None` for a decoy that must not be reported.
type Plant = (Option<Kind>, String, Value);

fn person_fields(r: &mut Rng) -> Vec<Plant> {
    let first = r.pick(FIRST).to_string();
    let last = r.pick(LAST).to_string();
    let mut v: Vec<Plant> = vec![
        (
            Some(Kind::Email),
            r.pick(&["email", "emailAddress", "contact_email"])
                .to_string(),
            json!(format!(
                "{}.{}{}@{}",
                first.to_lowercase(),
                last.to_lowercase().replace(['\'', 'ø', 'í', 'ë', 'á'], ""),
                r.below(99),
                r.pick(DOMAINS)
            )),
        ),
        (
            Some(Kind::PersonName),
            r.pick(&["first_name", "firstName", "given_name"])
                .to_string(),
            json!(first),
        ),
        (
            Some(Kind::PersonName),
            r.pick(&["last_name", "lastName", "surname"]).to_string(),
            json!(last),
        ),
    ];
    if r.chance(60) {
        v.push((
            Some(Kind::Phone),
            r.pick(&["phone", "mobile", "phoneNumber"]).to_string(),
            json!(phone(r)),
        ));
    }
    if r.chance(50) {
        v.push((
            Some(Kind::DateOfBirth),
            r.pick(&["dob", "date_of_birth", "birthDate"]).to_string(),
            json!(format!(
                "{}-{:02}-{:02}",
                1940 + r.below(65),
                1 + r.below(12),
                1 + r.below(28)
            )),
        ));
    }
    if r.chance(40) {
        v.push((
            Some(Kind::Gender),
            "gender".into(),
            json!(r.pick(&["female", "male", "non-binary", "F", "M"])),
        ));
    }
    if r.chance(40) {
        v.push((Some(Kind::Age), "age".into(), json!(18 + r.below(70))));
    }
    if r.chance(40) {
        v.push((
            Some(Kind::StreetAddress),
            r.pick(&["street", "address_line1", "streetAddress"])
                .to_string(),
            json!(format!("{} {}", 1 + r.below(400), r.pick(STREETS))),
        ));
    }
    if r.chance(30) {
        v.push((
            Some(Kind::PersonName),
            "name".into(),
            json!(format!("{first} {last}")),
        ));
    }
    v
}

fn sensitive(r: &mut Rng) -> Plant {
    let (k, name, val): (Kind, &str, String) = match r.below(30) {
        0 => (
            Kind::CreditCard,
            *r.pick(&["card_number", "cardNumber", "pan", "cc"]),
            card(r),
        ),
        1 => (
            Kind::Iban,
            *r.pick(&["iban", "account_iban", "payout_account"]),
            iban(r),
        ),
        2 => (
            Kind::UsSsn,
            *r.pick(&["ssn", "social_security_number", "taxId"]),
            ssn(r),
        ),
        3 => (
            Kind::UkNino,
            *r.pick(&["ni_number", "nino", "national_insurance"]),
            nino(r),
        ),
        4 => (
            Kind::BrCpf,
            *r.pick(&["cpf", "documento", "tax_number"]),
            cpf(r),
        ),
        5 => (
            Kind::EsDni,
            *r.pick(&["dni", "nif", "documentNumber"]),
            dni(r),
        ),
        6 => (
            Kind::InAadhaar,
            *r.pick(&["aadhaar", "aadhaar_number", "uid_number"]),
            aadhaar(r),
        ),
        7 => (
            Kind::NlBsn,
            *r.pick(&["bsn", "burgerservicenummer"]),
            bsn(r),
        ),
        8 => (
            Kind::CaSin,
            *r.pick(&["sin", "social_insurance_number"]),
            sin(r),
        ),
        9 => (
            Kind::UsRoutingNumber,
            *r.pick(&["routing_number", "aba", "routingNumber"]),
            routing(r),
        ),
        10 => (
            Kind::IpAddress,
            *r.pick(&["ip", "last_login_ip", "clientIp"]),
            format!(
                "{}.{}.{}.{}",
                11 + r.below(180),
                r.below(256),
                r.below(256),
                1 + r.below(254)
            ),
        ),
        11 => (
            Kind::IpAddress,
            *r.pick(&["ipv6", "ip6", "remote_addr"]),
            format!(
                "2001:db8:{:x}:{:x}::{:x}",
                r.below(65535),
                r.below(65535),
                1 + r.below(65534)
            ),
        ),
        12 => (
            Kind::MacAddress,
            *r.pick(&["mac", "mac_address", "deviceMac"]),
            (0..6)
                .map(|_| r.chars(HEX, 2))
                .collect::<Vec<_>>()
                .join(":"),
        ),
        13 => (
            Kind::Jwt,
            *r.pick(&["access_token", "id_token", "session"]),
            jwt(r),
        ),
        14 => (
            Kind::PrivateKey,
            *r.pick(&["private_key", "pem", "tls_key"]),
            format!(
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEow{}\n-----END RSA PRIVATE KEY-----",
                r.chars(B64, 120)
            ),
        ),
        15 => (
            Kind::AwsAccessKeyId,
            *r.pick(&["aws_access_key_id", "accessKeyId", "key_id"]),
            format!("AKIA{}", r.chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)),
        ),
        16 => (
            Kind::AwsSecretKey,
            *r.pick(&["aws_secret_access_key", "secretAccessKey", "aws_secret"]),
            r.chars(B64, 40),
        ),
        17 => (
            Kind::GithubToken,
            *r.pick(&["github_token", "gh_token", "token"]),
            format!("ghp_{}", r.chars(ALNUM, 36)),
        ),
        18 => (
            Kind::SlackToken,
            *r.pick(&["slack_token", "bot_token"]),
            format!(
                "xoxb-{}-{}-{}",
                r.digits(12),
                r.digits(12),
                r.chars(ALNUM, 24)
            ),
        ),
        19 => (
            Kind::StripeKey,
            *r.pick(&["stripe_key", "secret_key"]),
            format!("sk_live_{}", r.chars(ALNUM, 24)),
        ),
        20 => (
            Kind::GoogleApiKey,
            *r.pick(&["google_api_key", "maps_key"]),
            format!("AIza{}", r.chars(ALNUM, 35)),
        ),
        21 => (
            Kind::TwilioKey,
            *r.pick(&["twilio_sid", "twilio_key"]),
            format!("SK{}", r.chars(HEX, 32)),
        ),
        22 => (
            Kind::SendgridKey,
            *r.pick(&["sendgrid_key", "mail_api_key"]),
            format!("SG.{}.{}", r.chars(ALNUM, 22), r.chars(ALNUM, 43)),
        ),
        23 => (
            Kind::OpenaiKey,
            *r.pick(&["openai_key", "llm_key"]),
            format!("sk-proj-{}", r.chars(ALNUM, 64)),
        ),
        24 => (
            Kind::AnthropicKey,
            *r.pick(&["anthropic_key", "claude_key"]),
            format!("sk-ant-api03-{}", r.chars(ALNUM, 93)),
        ),
        25 => (
            Kind::Password,
            *r.pick(&["password", "db_password", "passwd"]),
            format!("{}{}!", r.chars(ALNUM, 10), r.digits(2)),
        ),
        // A phone number in a sentence, international or after a word that announces it.
        26 => (
            Kind::Phone,
            *r.pick(&["note", "message", "comment"]),
            match r.below(3) {
                0 => format!("Please call me on {} after 5pm", phone(r)),
                1 => format!(
                    "Customer asked for a callback, phone: ({}) {}-{}",
                    200 + r.below(799),
                    200 + r.below(799),
                    r.digits(4)
                ),
                _ => format!("WhatsApp {} for delivery updates", phone(r)),
            },
        ),
        // Credentials echoed in a body (a debug endpoint, a webhook log).
        27 => (
            Kind::BearerToken,
            *r.pick(&["authorization", "auth_header", "upstream_auth"]),
            format!("Bearer {}", r.chars(ALNUM, 32)),
        ),
        28 => (
            Kind::BasicAuth,
            *r.pick(&["authorization", "proxy_auth", "credentials"]),
            format!(
                "Basic {}",
                b64url(format!("{}:{}", r.chars(ALNUM, 6), r.chars(ALNUM, 12)).as_bytes())
            ),
        ),
        _ => (
            Kind::Phone,
            *r.pick(&["phone", "tel", "mobile_number"]),
            phone(r),
        ),
    };
    (Some(k), name.to_string(), json!(val))
}

/// Look-alikes that a careless detector reports.
fn decoy(r: &mut Rng) -> Plant {
    let (name, val): (&str, Value) = match r.below(34) {
        // A Luhn-valid number of a real brand under an identifier's name.
        0 => (
            *r.pick(&["order_id", "tracking_number", "invoice_number", "sku"]),
            json!(luhn_complete("4", 16, r)),
        ),
        // A card-shaped number that fails Luhn.
        1 => ("card_number", {
            let c = luhn_complete("4", 16, r);
            let last = (c.as_bytes()[15] - b'0' + 1) % 10;
            json!(format!("{}{}", &c[..15], last))
        }),
        // Luhn-valid but no issuer uses the prefix.
        2 => ("reference", json!(luhn_complete("9", 16, r))),
        // The account number that looks like an AWS secret key.
        3 => (
            *r.pick(&["account_number", "accountNumber", "signature", "checksum"]),
            json!(r.chars(B64, 40)),
        ),
        4 => ("commit", json!(r.chars(HEX, 40))),
        5 => ("aws_access_key_id", json!("AKIAIOSFODNN7EXAMPLE")),
        6 => (
            "aws_secret_access_key",
            json!("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ),
        7 => (
            "ssn",
            json!(format!(
                "666-{:02}-{:04}",
                1 + r.below(98),
                1 + r.below(9998)
            )),
        ),
        8 => (
            "ssn",
            json!(format!(
                "{}-{:02}-{:04}",
                900 + r.below(99),
                1 + r.below(98),
                1 + r.below(9998)
            )),
        ),
        9 => (
            *r.pick(&["account_id", "customer_number", "zip"]),
            json!(r.digits(9)),
        ),
        10 => (
            "id",
            json!(format!(
                "{}-{}-4{}-a{}-{}",
                r.chars(HEX, 8),
                r.chars(HEX, 4),
                r.chars(HEX, 3),
                r.chars(HEX, 3),
                r.chars(HEX, 12)
            )),
        ),
        11 => (
            *r.pick(&["created_at", "updated_at", "timestamp"]),
            json!(format!(
                "20{:02}-{:02}-{:02}T{:02}:00:00Z",
                10 + r.below(15),
                1 + r.below(12),
                1 + r.below(28),
                r.below(24)
            )),
        ),
        12 => (
            *r.pick(&["version", "app_version", "build"]),
            json!(format!(
                "{}.{}.{}.{}",
                r.below(9),
                r.below(20),
                r.below(50),
                r.below(999)
            )),
        ),
        13 => ("sender", json!("noreply@acme-corp.com")),
        14 => ("logo", json!("logo@2x.png")),
        15 => ("iban", {
            let i = iban(r);
            let d = (i.as_bytes()[i.len() - 1] - b'0' + 1) % 10;
            json!(format!("{}{}", &i[..i.len() - 1], d))
        }),
        16 => (
            "product_name",
            json!(format!("{} Widget", r.pick(&["Blue", "Deluxe", "Mini"]))),
        ),
        // A name that is not a person's: in the plan object nested in the user record.
        17 => (
            "plan",
            json!({ "id": r.below(9), "name": format!("{} plan", r.pick(&["Pro", "Team", "Enterprise"])) }),
        ),
        18 => (
            "github_token",
            json!("ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
        ),
        19 => ("password", json!("********")),
        20 => ("password_hint", json!("first pet")),
        21 => ("token_type", json!("Bearer")),
        22 => ("order_number", json!(format!("ORD-2024-{}", r.digits(4)))),
        23 => ("quantity", json!(r.below(500))),
        24 => (
            "price",
            json!(format!("{}.{:02}", r.below(900), r.below(100))),
        ),
        25 => ("page", json!(r.below(40))),
        26 => (
            "jwt_like",
            json!(format!(
                "eyJ{}.{}.{}",
                r.chars(ALNUM, 20),
                r.chars(ALNUM, 20),
                r.chars(ALNUM, 20)
            )),
        ),
        27 => ("phone_ext", json!(format!("{}", r.below(999)))),
        28 => ("sha256", json!(r.chars(HEX, 64))),
        // Phone-shaped numbers in text that nothing announces as phones.
        29 => (
            "note",
            json!(format!(
                "Order {}-{}-{} shipped, see invoice 2024-{}",
                200 + r.below(799),
                200 + r.below(799),
                r.digits(4),
                r.digits(6)
            )),
        ),
        30 => (
            "summary",
            json!(format!(
                "Processed {} records in {} ms (+{}%)",
                r.digits(10),
                r.below(900),
                r.below(99)
            )),
        ),
        // Credentials written as placeholders in documentation-like bodies.
        31 => (
            "authorization",
            json!(*r.pick(&[
                "Bearer <token>",
                "Bearer YOUR_ACCESS_TOKEN",
                "Bearer xxxxxxxxxxxxxxxxxxxxxxxx",
                "Basic dXNlcm5hbWU6cGFzc3dvcmQ=",
            ])),
        ),
        32 => (
            "hint",
            json!("Send the header as Bearer followed by your token"),
        ),
        _ => ("status_code", json!(200 + r.below(300))),
    };
    (None, name.to_string(), val)
}

fn insert(obj: &mut Map<String, Value>, path: &str, p: Plant, labels: &mut Vec<(Kind, String)>) {
    let mut name = p.1.clone();
    while obj.contains_key(&name) {
        name.push('_');
    }
    if let Some(k) = p.0 {
        labels.push((k, format!("{path}.{name}")));
    }
    obj.insert(name, p.2);
}

/// One response body with its labels.
fn response(r: &mut Rng) -> (Vec<u8>, Vec<(Kind, String)>) {
    let mut labels = Vec::new();
    let shape = r.below(3);
    let mut user = Map::new();
    user.insert("id".into(), json!(r.below(1_000_000)));
    for p in person_fields(r) {
        insert(&mut user, "$.data", p, &mut labels);
    }
    for _ in 0..1 + r.below(3) {
        let s = sensitive(r);
        insert(&mut user, "$.data", s, &mut labels);
    }
    for _ in 0..2 + r.below(4) {
        let d = decoy(r);
        insert(&mut user, "$.data", d, &mut labels);
    }
    let body = match shape {
        0 => {
            json!({ "data": user, "meta": { "request_id": format!("req_{}", r.chars(ALNUM, 12)) } })
        }
        1 => {
            // A list: labels move to $.data[*].
            for l in &mut labels {
                l.1 = l.1.replacen("$.data", "$.data[*]", 1);
            }
            json!({ "data": [user.clone(), user], "next": null })
        }
        _ => {
            let mut outer = Map::new();
            for (k, v) in user {
                outer.insert(k, v);
            }
            for l in &mut labels {
                l.1 = l.1.replacen("$.data", "$", 1);
            }
            Value::Object(outer)
        }
    };
    (serde_json::to_vec(&body).unwrap_or_default(), labels)
}

#[test]
fn labelled_set_precision_and_recall_per_type() {
    let scanner = Scanner::new();
    let mut r = Rng(0x5eed_1234_abcd_0001);
    // (tp, fp, fn) per type
    let mut score: BTreeMap<&'static str, (u32, u32, u32)> = BTreeMap::new();
    let mut fps: Vec<String> = Vec::new();
    let mut fns: Vec<String> = Vec::new();
    let mut bytes = 0;
    for _ in 0..3000 {
        let (body, labels) = response(&mut r);
        bytes += body.len();
        let mut hits = Vec::new();
        scanner.bytes(
            Some(b"application/json"),
            &body,
            Location::ResponseBody,
            &mut hits,
        );
        let truth: BTreeSet<(Kind, String)> = labels.into_iter().collect();
        let found: BTreeSet<(Kind, String)> =
            hits.iter().map(|h| (h.kind, h.field.clone())).collect();
        for h in &hits {
            assert!(
                !String::from_utf8_lossy(&body).contains(&h.sample) || h.sample.contains('*'),
                "sample not redacted: {}",
                h.sample
            );
        }
        for t in &truth {
            let e = score.entry(t.0.name()).or_default();
            if found.contains(t) {
                e.0 += 1;
            } else {
                e.2 += 1;
                if fns.len() < 20 {
                    fns.push(format!("{:?} {}", t.0, t.1));
                }
            }
        }
        for f in found.difference(&truth) {
            score.entry(f.0.name()).or_default().1 += 1;
            if fps.len() < 20 {
                let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                fps.push(format!("{:?} {} in {}", f.0, f.1, v));
            }
        }
    }
    println!("{bytes} bytes of JSON");
    println!(
        "{:<24} {:>6} {:>4} {:>4} {:>9} {:>7}",
        "type", "tp", "fp", "fn", "precision", "recall"
    );
    let mut bad = Vec::new();
    for (k, (tp, fp, fnn)) in &score {
        let p = f64::from(*tp) / f64::from(tp + fp).max(1.0);
        let rc = f64::from(*tp) / f64::from(tp + fnn).max(1.0);
        println!("{k:<24} {tp:>6} {fp:>4} {fnn:>4} {p:>9.4} {rc:>7.4}");
        if p < 0.99 || rc < 0.98 {
            bad.push(*k);
        }
    }
    assert!(
        bad.is_empty(),
        "below target: {bad:?}\nfalse positives: {fps:#?}\nmisses: {fns:#?}"
    );
    // Every type of the catalogue that JSON can carry was exercised.
    assert!(score.len() >= 30, "{} types", score.len());
}
