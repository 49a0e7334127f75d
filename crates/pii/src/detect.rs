//! Whole-value classifiers: one value, the words of its field name, and what it is.
//!
//! A value is matched as a whole (a JSON leaf, a query parameter, a header, a path
//! segment); free text goes through [`crate::text`], which cuts candidate tokens first.
//! Each detector validates (checksum, range, length table) and weighs the field name:
//! some types are only believed under a telling name (a 9-digit number is an SSN only
//! under `ssn`), and names like `order_id` or `version` veto look-alikes.

use crate::validate as v;
use crate::{Confidence, Kind};

/// The words of a field name: `dateOfBirth`, `date_of_birth` and `date-of-birth` all give
/// `["date", "of", "birth"]`.
#[derive(Debug, Default, Clone)]
pub struct Key {
    pub words: Vec<String>,
    pub joined: String,
    /// What the name says the value is, decided once per name.
    pub hint: Hint,
    /// The `Names` sets the name belongs to (bit `Names as u16`), decided once per name:
    /// detectors ask per value, and a name's words are compared with a list only here.
    names: u16,
}

/// Sets of field names the detectors ask about per value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// Identifiers, codes and counters: digits under them are no personal number.
    Identifier,
    /// Other numbered things: they veto even a well-formed SSN.
    OtherNumber,
    Card,
    Phone,
    /// Versions and object ids: dotted numbers under them are no address.
    Version,
    /// Addresses, hosts and sources.
    Network,
    /// A secret or AWS name: the AWS secret key has no prefix, only its name tells.
    SecretOrAws,
    /// A number of a kind stored as a JSON number (cards, phones, national ids).
    NumberKind,
    Ssn,
    Cpf,
    Bsn,
    Aadhaar,
    Sin,
    Routing,
}

impl Names {
    const ALL: [Names; 14] = [
        Names::Identifier,
        Names::OtherNumber,
        Names::Card,
        Names::Phone,
        Names::Version,
        Names::Network,
        Names::SecretOrAws,
        Names::NumberKind,
        Names::Ssn,
        Names::Cpf,
        Names::Bsn,
        Names::Aadhaar,
        Names::Sin,
        Names::Routing,
    ];

    /// Whether `key` names one of the set.
    fn hold(self, key: &Key) -> bool {
        match self {
            Names::Identifier => {
                key.has(IDENTIFIER_WORDS)
                    && !key.has(&["card", "pan", "ssn", "phone", "iban", "account"])
            }
            Names::OtherNumber => key.has(&[
                "order",
                "tracking",
                "sku",
                "invoice",
                "reference",
                "serial",
                "product",
                "item",
                "isbn",
                "zip",
                "postal",
                "postcode",
                "phone",
                "part",
                "model",
                "case",
                "ticket",
            ]),
            Names::Card => {
                key.has(&["card", "cc", "pan", "ccnumber"])
                    || key.contains(&["creditcard", "cardnumber"])
            }
            Names::Phone => {
                key.has(&[
                    "phone",
                    "mobile",
                    "tel",
                    "telephone",
                    "cell",
                    "msisdn",
                    "fax",
                    "whatsapp",
                ]) || key.contains(&["phonenumber", "contactnumber"])
            }
            Names::Version => {
                key.has(&["version", "ver", "build", "release", "v", "semver", "oid"])
            }
            Names::Network => key.has(&[
                "ip",
                "ips",
                "addr",
                "address",
                "host",
                "client",
                "remote",
                "forwarded",
                "source",
                "src",
                "origin",
            ]),
            Names::SecretOrAws => key.has(&["secret", "aws"]),
            Names::NumberKind => key.has(&[
                "card", "pan", "phone", "mobile", "ssn", "cpf", "bsn", "aadhaar", "sin", "routing",
                "aba",
            ]),
            Names::Ssn => key.has(&["ssn", "ssns"]) || key.contains(&["socialsecurity"]),
            Names::Cpf => key.has(&["cpf"]),
            Names::Bsn => key.has(&["bsn"]) || key.contains(&["burgerservicenummer"]),
            Names::Aadhaar => key.has(&["aadhaar", "aadhar"]),
            Names::Sin => key.has(&["sin"]) || key.contains(&["socialinsurance"]),
            Names::Routing => key.has(&["routing", "aba", "rtn"]),
        }
    }
}

/// The personal or credential attribute a field name announces.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    #[default]
    None,
    Dob,
    Gender,
    Age,
    Name,
    Address,
    Password,
    Token,
}

fn hint(key: &Key) -> Hint {
    if key.has(&["dob", "birthday", "birthdate"])
        || key.contains(&["dateofbirth", "birthdate", "bornon"])
    {
        return Hint::Dob;
    }
    if key.is(&["gender", "sex"]) || key.has(&["gender"]) {
        return Hint::Gender;
    }
    if key.words.last().is_some_and(|w| w == "age") && !key.has(&["max", "min", "cache", "ttl"]) {
        return Hint::Age;
    }
    if key.is(&[
        "firstname",
        "lastname",
        "givenname",
        "familyname",
        "surname",
        "fullname",
        "middlename",
        "maidenname",
        "legalname",
        "cardholdername",
        "holdername",
        "nameoncard",
        "forename",
        "customername",
        "patientname",
        "contactname",
        "billingname",
    ]) {
        return Hint::Name;
    }
    if (key.has(&["street", "address", "addr", "line1", "line2"])
        || key.contains(&["addressline", "streetaddress"]))
        && !key.has(&[
            "ip",
            "email",
            "mail",
            "mac",
            "web",
            "url",
            "wallet",
            "bitcoin",
            "eth",
            "host",
            "server",
            "remote",
            "local",
            "billing_email",
        ])
    {
        return Hint::Address;
    }
    if (key.has(&["password", "passwd", "pwd", "passphrase", "pass"])
        || key.contains(&["password", "passwd"]))
        && !(key.has(&[
            "hint", "policy", "reset", "expires", "expiry", "changed", "updated", "length",
            "strength", "required", "min", "max",
        ]))
    {
        return Hint::Password;
    }
    if (key.has(&["token", "secret", "apikey", "credential", "credentials"])
        || key.contains(&[
            "apikey",
            "accesstoken",
            "refreshtoken",
            "clientsecret",
            "privatekey",
            "authtoken",
            "sessiontoken",
            "secretkey",
        ]))
        && !(key.has(&[
            "type", "expires", "expiry", "url", "uri", "name", "id", "hint", "ttl", "count",
            "length",
        ]))
    {
        return Hint::Token;
    }
    Hint::None
}

impl Key {
    pub fn new(k: &str) -> Key {
        let mut words: Vec<String> = Vec::new();
        let mut cur = String::new();
        let mut prev_lower = false;
        for ch in k.chars().take(64) {
            if !ch.is_alphanumeric() {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                prev_lower = false;
                continue;
            }
            if ch.is_uppercase() && prev_lower && !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = ch.is_lowercase() || ch.is_ascii_digit();
            cur.extend(ch.to_lowercase());
        }
        if !cur.is_empty() {
            words.push(cur);
        }
        let joined = words.concat();
        let mut k = Key {
            words,
            joined,
            hint: Hint::None,
            names: 0,
        };
        k.hint = hint(&k);
        k.names = Names::ALL
            .iter()
            .filter(|n| n.hold(&k))
            .fold(0, |bits, n| bits | 1 << *n as u16);
        k
    }

    /// Whether the name is one of the set `n` (decided when the key was made).
    pub fn names(&self, n: Names) -> bool {
        self.names & 1 << n as u16 != 0
    }

    pub fn has(&self, w: &[&str]) -> bool {
        self.words.iter().any(|x| w.contains(&x.as_str()))
    }

    /// The whole name, words joined, is one of `names`.
    pub fn is(&self, names: &[&str]) -> bool {
        names.contains(&self.joined.as_str())
    }

    pub fn contains(&self, parts: &[&str]) -> bool {
        parts.iter().any(|p| self.joined.contains(p))
    }
}

/// The words of identifier names (`Names::Identifier`).
const IDENTIFIER_WORDS: &[&str] = &[
    "id",
    "ids",
    "uuid",
    "guid",
    "sku",
    "order",
    "invoice",
    "tracking",
    "reference",
    "ref",
    "sequence",
    "seq",
    "version",
    "build",
    "count",
    "total",
    "amount",
    "price",
    "qty",
    "quantity",
    "timestamp",
    "created",
    "updated",
    "ts",
    "hash",
    "checksum",
    "code",
    "isbn",
    "ean",
    "upc",
    "gtin",
    "barcode",
    "serial",
    "transaction",
    "txn",
    "request",
    "trace",
    "span",
    "nonce",
    "etag",
    "cursor",
    "offset",
    "page",
    "size",
    "product",
    "item",
    "batch",
    "lot",
    "shipment",
    "confirmation",
    "booking",
];

pub type Match = (Kind, Confidence, Option<String>);

/// Values that are clearly stand-ins.
pub fn is_placeholder(s: &str) -> bool {
    const WHOLE: &[&str] = &[
        "test",
        "none",
        "null",
        "n/a",
        "na",
        "string",
        "password",
        "secret",
        "token",
        "value",
        "changeme",
        "redacted",
        "hidden",
        "masked",
        "undefined",
        "todo",
        "tbd",
        "empty",
    ];
    const PART: &[&str] = &[
        "example",
        "xxxx",
        "****",
        "dummy",
        "placeholder",
        "changeme",
        "your_",
        "your-",
        "<",
        ">",
        "redacted",
        "sample",
        "lorem",
        "foobar",
        "•••",
    ];
    static PARTS: std::sync::OnceLock<Option<aho_corasick::AhoCorasick>> =
        std::sync::OnceLock::new();
    let parts = PARTS.get_or_init(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(PART)
            .ok()
    });
    WHOLE.iter().any(|w| w.eq_ignore_ascii_case(s)) || parts.as_ref().is_some_and(|p| p.is_match(s))
}

fn digits_only(s: &str) -> Option<Vec<u8>> {
    let seps_ok = s
        .bytes()
        .all(|c| c.is_ascii_digit() || c == b' ' || c == b'-' || c == b'.');
    if !seps_ok {
        return None;
    }
    let d: Vec<u8> = s.bytes().filter(u8::is_ascii_digit).collect();
    (!d.is_empty()).then_some(d)
}

/// Digits of `s` when it is digits in groups separated consistently by one separator.
fn grouped(s: &str, sep: u8, groups: &[usize]) -> Option<Vec<u8>> {
    if s.len() != groups.iter().sum::<usize>() + groups.len() - 1 {
        return None;
    }
    let parts: Vec<&[u8]> = s.as_bytes().split(|c| *c == sep).collect();
    if parts.len() != groups.len() {
        return None;
    }
    for (p, n) in parts.iter().zip(groups) {
        if p.len() != *n || !p.iter().all(u8::is_ascii_digit) {
            return None;
        }
    }
    Some(parts.concat())
}

pub fn email(s: &str) -> Option<Match> {
    let at = s.find('@')?;
    let (local, domain) = (&s[..at], &s[at + 1..]);
    if local.is_empty() || local.len() > 64 || domain.len() < 4 || domain.len() > 253 {
        return None;
    }
    // Internationalised addresses (RFC 6531) have letters of any script.
    let ok_local = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-' | '\'');
    let lok = if local.is_ascii() {
        local.bytes().all(|c| ok_local(c as char))
    } else {
        local.chars().all(ok_local)
    };
    if !lok
        || local.starts_with('.')
        || local.ends_with('.')
        || local.as_bytes().windows(2).any(|w| w == b"..")
    {
        return None;
    }
    let (mut n, mut sld, mut tld) = (0usize, "", "");
    for l in domain.split('.') {
        let ok = |c: char| c.is_alphanumeric() || c == '-';
        let chars_ok = if l.is_ascii() {
            l.bytes().all(|c| ok(c as char))
        } else {
            l.chars().all(ok)
        };
        if l.is_empty() || l.len() > 63 || l.starts_with('-') || l.ends_with('-') || !chars_ok {
            return None;
        }
        n += 1;
        sld = tld;
        tld = l;
    }
    if n < 2 {
        return None;
    }
    if tld.len() < 2 || !tld.bytes().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }

    // Not a person's address: automated senders and stand-ins.
    const ROBOT: &[&str] = &[
        "noreply",
        "no-reply",
        "donotreply",
        "do-not-reply",
        "mailer-daemon",
        "postmaster",
        "user",
        "username",
        "email",
        "name",
        "test",
        "foo",
        "someone",
        "somebody",
        "example",
    ];
    if ROBOT.iter().any(|r| r.eq_ignore_ascii_case(local))
        || (local.contains('x') && local.contains("xxxx"))
    {
        return None;
    }
    // Image names such as logo@2x.png look alike.
    if ["png", "jpg", "jpeg", "gif", "svg", "webp", "css", "js"].contains(&tld) {
        return None;
    }
    // RFC 2606 / 6761 names: example.com, .org, .net and the reserved TLDs.
    let reserved = (sld.eq_ignore_ascii_case("example")
        && ["com", "org", "net"]
            .iter()
            .any(|t| tld.eq_ignore_ascii_case(t)))
        || ["example", "test", "invalid", "localhost"]
            .iter()
            .any(|t| tld.eq_ignore_ascii_case(t));
    let conf = if reserved {
        Confidence::Medium
    } else {
        Confidence::High
    };
    Some((Kind::Email, conf, None))
}

pub fn card(s: &str, key: &Key) -> Option<Match> {
    // A card number has 13 to 19 digits: most values leave before any copy.
    if !(13..=19).contains(&s.bytes().filter(u8::is_ascii_digit).count()) {
        return None;
    }
    let d = digits_only(s)?;
    if !(13..=19).contains(&d.len()) || s.contains('.') {
        return None;
    }
    let positive = key.names(Names::Card);
    if key.names(Names::Identifier) && !positive {
        return None;
    }
    let brand = v::card_brand(&d)?;
    if !v::luhn(&d) {
        return None;
    }
    if v::is_test_card(&d) {
        return Some((
            Kind::CreditCard,
            Confidence::Low,
            Some(format!("{brand} test number")),
        ));
    }
    // A bare run of digits is weaker than a formatted or well-named one.
    let formatted = s.contains(' ') || s.contains('-');
    let conf = if positive || formatted {
        Confidence::High
    } else {
        Confidence::Medium
    };
    Some((Kind::CreditCard, conf, Some(brand.to_string())))
}

pub fn iban(s: &str) -> Option<Match> {
    // At most 34 characters and 8 spaces; two letters first.
    if s.len() > 42
        || !s.as_bytes()[..2.min(s.len())]
            .iter()
            .all(u8::is_ascii_alphabetic)
    {
        return None;
    }
    let mut compact = [0u8; 42];
    let mut n = 0;
    for c in s.bytes().filter(|c| *c != b' ') {
        compact[n] = c.to_ascii_uppercase();
        n += 1;
    }
    v::iban(&compact[..n]).then_some((Kind::Iban, Confidence::High, None))
}

/// National identifiers. `key` decides for the formats that are only digits.
pub fn national_id(s: &str, key: &Key) -> Option<Match> {
    let t = s.trim();
    let hi = |k: Kind| Some((k, Confidence::High, None));
    if let Some(d) = grouped(t, b'-', &[3, 2, 4]).or_else(|| grouped(t, b' ', &[3, 2, 4])) {
        // The format is distinctive: only names of other numbered things veto it.
        if v::us_ssn(&d) && !key.names(Names::OtherNumber) {
            return hi(Kind::UsSsn);
        }
        return None;
    }
    // National ids are short and ASCII: anything else leaves early.
    if t.len() > 16 || !t.is_ascii() {
        return None;
    }
    let mut compact = [0u8; 16];
    let mut n = 0;
    for c in t.bytes().filter(|c| *c != b' ') {
        compact[n] = c;
        n += 1;
    }
    let cb = &compact[..n];
    // Written in capitals, as issued.
    if cb.len() == 9
        && cb[0].is_ascii_alphabetic()
        && cb[1].is_ascii_alphabetic()
        && !cb.iter().any(u8::is_ascii_lowercase)
        && v::uk_nino(cb)
    {
        return hi(Kind::UkNino);
    }
    if t.len() == 14
        && t.as_bytes()[3] == b'.'
        && t.as_bytes()[7] == b'.'
        && t.as_bytes()[11] == b'-'
    {
        let d: Vec<u8> = t.bytes().filter(u8::is_ascii_digit).collect();
        if d.len() == 11 && v::br_cpf(&d) {
            return hi(Kind::BrCpf);
        }
        return None;
    }
    if cb.len() == 9 && v::es_dni(cb) && !key.names(Names::Identifier) {
        let named = key.has(&["dni", "nie", "nif", "document", "national", "identity"]);
        let conf = if named {
            Confidence::High
        } else {
            Confidence::Medium
        };
        return Some((Kind::EsDni, conf, None));
    }
    if let Some(d) = grouped(t, b' ', &[4, 4, 4]).or_else(|| grouped(t, b'-', &[4, 4, 4])) {
        if v::in_aadhaar(&d) && !key.names(Names::Identifier) {
            return hi(Kind::InAadhaar);
        }
    }
    // Digits alone: believed only under their own name (copied only then).
    let (kind, valid): (Kind, fn(&[u8]) -> bool) = if key.names(Names::Ssn) {
        (Kind::UsSsn, |d| d.len() == 9 && v::us_ssn(d))
    } else if key.names(Names::Cpf) {
        (Kind::BrCpf, v::br_cpf)
    } else if key.names(Names::Bsn) {
        (Kind::NlBsn, v::nl_bsn)
    } else if key.names(Names::Aadhaar) {
        (Kind::InAadhaar, v::in_aadhaar)
    } else if key.names(Names::Sin) {
        (Kind::CaSin, v::ca_sin)
    } else if key.names(Names::Routing) {
        (Kind::UsRoutingNumber, v::aba_routing)
    } else {
        return None;
    };
    let d = digits_only(t)?;
    valid(&d).then_some((kind, Confidence::High, None))
}

pub fn phone(s: &str, key: &Key) -> Option<Match> {
    let t = s.trim();
    if t.len() > 32
        || !t
            .bytes()
            .all(|c| c.is_ascii_digit() || b"+-. ()/x".contains(&c))
    {
        return None;
    }
    let plus = t.starts_with('+') || t.starts_with("00");
    let named = key.names(Names::Phone);
    if !named && !plus {
        // Without a name only the international form is believed (below).
        return None;
    }
    let body = t.split('x').next().unwrap_or(t);
    let mut d: Vec<u8> = body.bytes().filter(u8::is_ascii_digit).collect();
    if t.starts_with("00") {
        d.drain(..2);
    }
    if named {
        if !(7..=15).contains(&d.len()) || d.iter().all(|c| *c == d[0]) {
            return None;
        }
        let conf = if !plus || v::e164_plausible(&d) {
            Confidence::High
        } else {
            Confidence::Medium
        };
        return Some((Kind::Phone, conf, None));
    }
    // Without a name only the international form is distinctive, and only formatted as a
    // phone number is written (separators, or a plus sign).
    if plus && v::e164_plausible(&d) && !key.names(Names::Identifier) {
        return Some((Kind::Phone, Confidence::Medium, None));
    }
    None
}

pub fn network(s: &str, key: &Key) -> Option<Match> {
    let t = s.trim();
    if key.names(Names::Version) {
        return None;
    }
    let named = key.names(Names::Network);
    if t.bytes().filter(|c| *c == b'.').count() == 3 {
        if let Ok(ip) = t.parse::<std::net::Ipv4Addr>() {
            if ip.is_unspecified() || ip.is_broadcast() {
                return None;
            }
            let conf = if named {
                Confidence::High
            } else {
                Confidence::Medium
            };
            return Some((Kind::IpAddress, conf, None));
        }
        return None;
    }
    if t.contains(':') && t.len() <= 45 && t.bytes().filter(|c| *c == b':').count() >= 2 {
        if let Ok(ip) = t.parse::<std::net::Ipv6Addr>() {
            if ip.is_unspecified() || ip.is_loopback() {
                return None;
            }
            return Some((Kind::IpAddress, Confidence::High, Some("ipv6".into())));
        }
    }
    let b = t.as_bytes();
    if b.len() == 17 {
        let sep = b[2];
        if (sep == b':' || sep == b'-')
            && (0..6).all(|i| b[i * 3].is_ascii_hexdigit() && b[i * 3 + 1].is_ascii_hexdigit())
            && (0..5).all(|i| b[i * 3 + 2] == sep)
        {
            let lower = t.to_ascii_lowercase();
            if lower == "00:00:00:00:00:00" || lower == "ff:ff:ff:ff:ff:ff" {
                return None;
            }
            return Some((Kind::MacAddress, Confidence::High, None));
        }
    }
    None
}

/// A date written the usual ways, with a plausible birth year.
fn birth_date(s: &str) -> bool {
    let t = s.trim();
    let digits: Vec<&str> = t.split(['-', '/', '.', 'T', ' ']).take(3).collect();
    if digits.len() != 3
        || !digits
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    let n: Vec<u32> = digits.iter().map(|p| p.parse().unwrap_or(0)).collect();
    let (y, m, d) = if digits[0].len() == 4 {
        (n[0], n[1], n[2])
    } else if digits[2].len() == 4 {
        // DD/MM/YYYY or MM/DD/YYYY: either way both small numbers must fit.
        (n[2], n[1].min(n[0]), n[0].max(n[1]))
    } else {
        return false;
    };
    (1900..=2026).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d)
}

/// Personal attributes recognised by their field name.
pub fn personal(s: &str, key: &Key) -> Option<Match> {
    if !matches!(
        key.hint,
        Hint::Dob | Hint::Gender | Hint::Age | Hint::Name | Hint::Address
    ) {
        return None;
    }
    let t = s.trim();
    if t.is_empty() || is_placeholder(t) {
        return None;
    }
    let hi = |k: Kind| Some((k, Confidence::High, None));
    if key.hint == Hint::Dob && birth_date(t) {
        return hi(Kind::DateOfBirth);
    }
    if key.hint == Hint::Gender {
        const G: &[&str] = &[
            "m",
            "f",
            "male",
            "female",
            "man",
            "woman",
            "nonbinary",
            "non-binary",
            "non_binary",
            "other",
            "x",
            "diverse",
            "transgender",
            "agender",
        ];
        return G.contains(&t.to_ascii_lowercase().as_str()).then_some((
            Kind::Gender,
            Confidence::High,
            None,
        ));
    }
    if key.hint == Hint::Age {
        let n: u32 = t.parse().ok()?;
        return (n <= 120).then_some((Kind::Age, Confidence::Medium, None));
    }
    let is_name_key = key.hint == Hint::Name;
    if is_name_key && person_name(t) {
        return hi(Kind::PersonName);
    }
    let addr_key = key.hint == Hint::Address;
    if addr_key && street_address(t) {
        return hi(Kind::StreetAddress);
    }
    None
}

/// Words of letters (any script), apostrophes, hyphens and dots; 1 to 5 words.
pub fn person_name(t: &str) -> bool {
    if t.len() < 2 || t.len() > 320 || t.bytes().any(|c| c.is_ascii_digit()) {
        return false;
    }
    let words = t.split_whitespace().count();
    (1..=5).contains(&words)
        && t.chars().count() <= 80
        && t.chars().any(char::is_alphabetic)
        && t.chars()
            .all(|c| c.is_alphabetic() || c.is_whitespace() || "'-.’".contains(c))
}

/// A house number and a street, or a street and a number.
fn street_address(t: &str) -> bool {
    t.len() >= 6
        && t.len() <= 200
        && t.chars().any(|c| c.is_ascii_digit())
        && t.split_whitespace()
            .filter(|w| w.chars().any(char::is_alphabetic))
            .count()
            >= 1
        && t.split_whitespace().count() >= 2
        && !t.contains("://")
}

/// Secrets with a recognisable shape.
pub fn secret(s: &str, key: &Key) -> Option<Match> {
    let t = s.trim();
    let b = t.as_bytes();
    if t.len() < 16 || t.len() > 8192 {
        return None;
    }
    // Every shape below starts with one of these bytes, except the AWS secret key, which
    // only its field name announces: most values leave here.
    let aws_named = key.names(Names::SecretOrAws);
    if !matches!(b[0], b'-' | b'e' | b'A' | b'g' | b'x' | b's' | b'r' | b'S') && !aws_named {
        return None;
    }
    if b[0] == b'-' && t.starts_with("-----BEGIN") && t.contains("PRIVATE KEY-----") {
        return Some((Kind::PrivateKey, Confidence::High, None));
    }
    if t.contains(char::is_whitespace) {
        return None;
    }
    if let Some(m) = jwt(t) {
        return Some(m);
    }
    let alnum = |r: &[u8]| r.iter().all(u8::is_ascii_alphanumeric);
    let tokenish = |r: &[u8]| {
        r.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
    };
    let random = |r: &[u8], floor: f64| v::entropy(r) >= floor && !is_placeholder(t);
    if b.len() == 20
        && ["AKIA", "ASIA", "ABIA", "ACCA"]
            .iter()
            .any(|p| t.starts_with(p))
        && b[4..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(c))
    {
        return (random(&b[4..], 3.0) && !t.ends_with("EXAMPLE")).then_some((
            Kind::AwsAccessKeyId,
            Confidence::High,
            None,
        ));
    }
    for p in ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"] {
        if let Some(r) = t.strip_prefix(p) {
            return (r.len() == 36 && alnum(r.as_bytes()) && random(r.as_bytes(), 3.5))
                .then_some((Kind::GithubToken, Confidence::High, None));
        }
    }
    if let Some(r) = t.strip_prefix("github_pat_") {
        return (r.len() >= 70 && tokenish(r.as_bytes()) && random(r.as_bytes(), 3.5)).then_some((
            Kind::GithubToken,
            Confidence::High,
            None,
        ));
    }
    if t.starts_with("xox") && b.len() > 15 && b"baprse".contains(&b[3]) && b[4] == b'-' {
        return (tokenish(&b[5..]) && random(&b[5..], 3.0)).then_some((
            Kind::SlackToken,
            Confidence::High,
            None,
        ));
    }
    for p in ["sk_live_", "rk_live_", "sk_test_", "rk_test_"] {
        if let Some(r) = t.strip_prefix(p) {
            let live = p.contains("live");
            let conf = if live {
                Confidence::High
            } else {
                Confidence::Medium
            };
            return (r.len() >= 16 && alnum(r.as_bytes()) && random(r.as_bytes(), 3.5)).then(
                || {
                    (
                        Kind::StripeKey,
                        conf,
                        Some(if live { "live" } else { "test" }.into()),
                    )
                },
            );
        }
    }
    if let Some(r) = t.strip_prefix("AIza") {
        return (r.len() == 35 && tokenish(r.as_bytes()) && random(r.as_bytes(), 3.5)).then_some((
            Kind::GoogleApiKey,
            Confidence::High,
            None,
        ));
    }
    if let Some(r) = t.strip_prefix("SG.") {
        let parts: Vec<&str> = r.split('.').collect();
        return (parts.len() == 2
            && parts[0].len() == 22
            && parts[1].len() == 43
            && parts.iter().all(|p| tokenish(p.as_bytes()))
            && random(r.as_bytes(), 3.5))
        .then_some((Kind::SendgridKey, Confidence::High, None));
    }
    if b.len() == 34
        && t.starts_with("SK")
        && b[2..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    {
        return random(&b[2..], 3.0).then_some((Kind::TwilioKey, Confidence::High, None));
    }
    if let Some(r) = t.strip_prefix("sk-ant-") {
        return (r.len() >= 80 && tokenish(r.as_bytes()) && random(r.as_bytes(), 4.0)).then_some((
            Kind::AnthropicKey,
            Confidence::High,
            None,
        ));
    }
    if let Some(r) = t.strip_prefix("sk-") {
        let ok = (r.starts_with("proj-")
            || r.starts_with("svcacct-")
            || r.starts_with("admin-")
            || r.len() == 48)
            && r.len() >= 40
            && tokenish(r.as_bytes())
            && random(r.as_bytes(), 4.0);
        return ok.then_some((Kind::OpenaiKey, Confidence::High, None));
    }
    // The AWS secret key has no prefix: only its field name tells.
    if b.len() == 40
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'/' || *c == b'+')
        && aws_named
        && (key.contains(&["secretaccesskey", "awssecret", "secretkey"]) || key.has(&["aws"]))
    {
        return (random(b, 4.0) && !t.contains("EXAMPLE")).then_some((
            Kind::AwsSecretKey,
            Confidence::High,
            None,
        ));
    }
    None
}

/// A JSON Web Token: three base64url parts whose header is JSON naming an algorithm.
pub fn jwt(t: &str) -> Option<Match> {
    if !t.starts_with("eyJ") {
        return None;
    }
    let parts: Vec<&str> = t.split('.').collect();
    if parts.len() != 3 && parts.len() != 5 {
        return None;
    }
    let header = b64url(parts[0])?;
    let h = String::from_utf8(header).ok()?;
    let alg = json_str_field(&h, "alg")?;
    let mut detail = format!("alg={alg}");
    if let Some(payload) = b64url(parts[1]).and_then(|p| String::from_utf8(p).ok()) {
        if let Some(exp) = json_num_field(&payload, "exp") {
            detail.push_str(&format!(" exp={exp}"));
        }
        if let Some(iss) = json_str_field(&payload, "iss") {
            let iss: String = iss.chars().take(80).collect();
            detail.push_str(&format!(" iss={iss}"));
        }
    }
    Some((Kind::Jwt, Confidence::High, Some(detail)))
}

/// Decode unpadded base64url (or standard base64), up to 4 KiB of output.
pub fn b64url(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().take(5462) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// `"name":"value"` in a small JSON text, without a full parse.
fn json_str_field(j: &str, name: &str) -> Option<String> {
    let pat = format!("\"{name}\"");
    let at = j.find(&pat)? + pat.len();
    let rest = j[at..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(rest[..end].to_string())
}

fn json_num_field(j: &str, name: &str) -> Option<u64> {
    let pat = format!("\"{name}\"");
    let at = j.find(&pat)? + pat.len();
    let rest = j[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Credentials named by their field: passwords and generic tokens or keys.
pub fn credential(s: &str, key: &Key) -> Option<Match> {
    if !matches!(key.hint, Hint::Password | Hint::Token) {
        return None;
    }
    let t = s.trim();
    if t.is_empty() || is_placeholder(t) || t.chars().all(|c| c == '*' || c == '•') {
        return None;
    }
    if key.hint == Hint::Password {
        return (t.len() >= 4 && t.len() <= 256).then_some((
            Kind::Password,
            Confidence::High,
            None,
        ));
    }
    if key.hint == Hint::Token
        && t.len() >= 16
        && t.len() <= 4096
        && !t.contains(char::is_whitespace)
        && v::entropy(t.as_bytes()) >= 3.5
    {
        return Some((Kind::ApiKey, Confidence::Medium, None));
    }
    None
}

/// Everything a whole value can be, most specific first. One pass over the value decides
/// which detectors can match at all, so most values are dismissed after a few comparisons.
pub fn classify(s: &str, key: &Key) -> Option<Match> {
    let t = s.trim();
    if t.is_empty() || t.len() > 8192 {
        return None;
    }
    let b = t.as_bytes();
    let (mut digits, mut dots, mut colons, mut space, mut at) =
        (0usize, 0usize, 0usize, false, false);
    for &c in b {
        match c {
            b'0'..=b'9' => digits += 1,
            b'.' => dots += 1,
            b':' => colons += 1,
            b'@' => at = true,
            b' ' | b'\t' | b'\n' | b'\r' => space = true,
            _ => {}
        }
    }
    if t.len() >= 16 && ((!space && !at) || b[0] == b'-') {
        if let Some(m) = secret(t, key) {
            return Some(m);
        }
    }
    if space && t.len() >= 14 && matches!(b[0], b'B' | b'b') {
        if let Some(m) = credentials(t) {
            return Some(m);
        }
    }
    if at {
        if let Some(m) = email(t) {
            return Some(m);
        }
    }
    if digits >= 13 {
        if let Some(m) = card(t, key) {
            return Some(m);
        }
    }
    if t.len() >= 15 && b[0].is_ascii_alphabetic() && b[1].is_ascii_alphabetic() && digits >= 8 {
        if let Some(m) = iban(t) {
            return Some(m);
        }
    }
    if digits >= 6 {
        if let Some(m) = national_id(t, key) {
            return Some(m);
        }
    }
    if (dots == 3 && digits >= 4) || colons >= 2 {
        if let Some(m) = network(t, key) {
            return Some(m);
        }
    }
    if digits >= 7 {
        if let Some(m) = phone(t, key) {
            return Some(m);
        }
    }
    personal(t, key).or_else(|| credential(t, key))
}

/// An `Authorization` value written into a body or text (`Basic dXNlcjpzM2NyZXQ=`, `Bearer
/// 9fQx2LmA...`), whatever the field is called: basic credentials that decode to `user:pass`,
/// or a bearer token of at least 16 token characters that is not a placeholder (a JWT or a
/// known token shape keeps its own type).
pub fn credentials(s: &str) -> Option<Match> {
    let (scheme, cred) = s.trim().split_once(' ')?;
    let cred = cred.trim();
    if cred.contains(char::is_whitespace) || is_placeholder(cred) {
        return None;
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let pair = b64url(cred)?;
        let (user, pass) = std::str::from_utf8(&pair).ok()?.split_once(':')?;
        let printable = |x: &str| !x.is_empty() && x.chars().all(|c| !c.is_control());
        return (printable(user) && printable(pass) && !is_placeholder(pass)).then_some((
            Kind::BasicAuth,
            Confidence::High,
            None,
        ));
    }
    if scheme.eq_ignore_ascii_case("bearer") && cred.len() >= 16 {
        let token = cred
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._~+/=".contains(&c));
        if !token || v::entropy(cred.as_bytes()) < 3.0 {
            return None;
        }
        return Some(
            jwt(cred)
                .or_else(|| secret(cred, &Key::default()))
                .unwrap_or((Kind::BearerToken, Confidence::High, None)),
        );
    }
    None
}

/// A JSON number under a telling name (ages, phone numbers and cards stored as numbers).
pub fn classify_number(n: &str, key: &Key) -> Option<Match> {
    if !n.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if key.words.last().is_some_and(|w| w == "age") {
        return personal(n, key);
    }
    if !key.names(Names::NumberKind) {
        return None;
    }
    card(n, key)
        .or_else(|| national_id(n, key))
        .or_else(|| phone(n, key))
}
