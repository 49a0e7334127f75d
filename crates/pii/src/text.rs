//! Free text (HTML, plain text, long JSON strings, header values): one multi-pattern pass
//! finds the anchors of distinctive values (`@`, token prefixes, PEM armour), and digit runs
//! are cut into card and SSN candidates; each candidate is then validated as a whole value.

use crate::detect::{self, Key, Match};
use crate::Kind;
use aho_corasick::{AhoCorasick, MatchKind};

/// Anchors of values worth a closer look in text.
pub(crate) const ANCHORS: &[&str] = &[
    "@",
    "AKIA",
    "ASIA",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xoxr-",
    "xoxs-",
    "xoxe-",
    "sk_live_",
    "rk_live_",
    "sk_test_",
    "rk_test_",
    "AIza",
    "SG.",
    "sk-",
    "-----BEGIN",
    "eyJ",
];

/// Markers of error pages that leak internals (stack traces, SQL errors, debug pages).
pub const ERROR_MARKERS: &[(&str, &str)] = &[
    ("Traceback (most recent call last)", "python traceback"),
    ("Exception in thread \"", "java exception"),
    ("\tat java.", "java stack trace"),
    ("at org.springframework.", "java stack trace"),
    ("java.lang.NullPointerException", "java exception"),
    ("System.NullReferenceException", ".NET exception"),
    ("Server Error in '/' Application", "ASP.NET error page"),
    ("   at System.", ".NET stack trace"),
    ("You have an error in your SQL syntax", "SQL error"),
    ("SQLSTATE[", "SQL error"),
    ("ORA-00933", "SQL error"),
    ("ORA-01756", "SQL error"),
    ("PG::SyntaxError", "SQL error"),
    ("psycopg2.errors", "SQL error"),
    ("SQLite3::SQLException", "SQL error"),
    (
        "Unclosed quotation mark after the character string",
        "SQL error",
    ),
    ("Werkzeug Debugger", "debug page"),
    ("DEBUG = True", "debug page"),
    ("Whoops! There was an error", "debug page"),
    (
        "<title>Action Controller: Exception caught</title>",
        "debug page",
    ),
    ("Fatal error: Uncaught", "php error"),
    ("on line <b>", "php error"),
    ("    at Object.<anonymous>", "node stack trace"),
    ("    at Module._compile", "node stack trace"),
    ("goroutine 1 [running]", "go panic"),
    ("panicked at ", "rust panic"),
];

/// The automata, built once per worker.
#[derive(Debug)]
pub struct Text {
    anchors: AhoCorasick,
    /// `ANCHORS` without `@` (found with memchr), for [`crate::triggers`].
    prefixes: AhoCorasick,
    errors: AhoCorasick,
    /// Words that announce a phone number in text (`call`, `phone`, `whatsapp`, ...).
    phone_words: AhoCorasick,
}

/// Words after which a number in text is a phone number (whole words, any case).
const PHONE_WORDS: &[&str] = &[
    "phone", "call", "tel", "mobile", "cell", "whatsapp", "sms", "fax", "text me", "ring",
];

fn token_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"_-.+/=%'".contains(&c)
}

impl Text {
    pub fn new() -> Text {
        let build = |pats: Vec<&str>| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostFirst)
                .build(pats)
                .unwrap_or_else(|_| AhoCorasick::new(["\u{0}never"]).expect("a trivial automaton"))
        };
        Text {
            anchors: build(ANCHORS.to_vec()),
            prefixes: build(ANCHORS[1..].to_vec()),
            errors: build(ERROR_MARKERS.iter().map(|(p, _)| *p).collect()),
            phone_words: AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(PHONE_WORDS)
                .unwrap_or_else(|_| AhoCorasick::new(["\u{0}never"]).expect("a trivial automaton")),
        }
    }

    /// Indices into `ANCHORS` of the anchors (other than `@`) found in `data`.
    pub(crate) fn anchors_iter<'a>(&'a self, data: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
        self.prefixes
            .find_iter(data)
            .map(|m| m.pattern().as_usize() + 1)
    }

    /// What kind of internal error a response shows, if any.
    pub fn error_leak(&self, body: &[u8]) -> Option<&'static str> {
        self.errors
            .find(body)
            .map(|m| ERROR_MARKERS[m.pattern().as_usize()].1)
    }

    /// Scan free text; `f` gets each validated value (its bytes and what it is).
    pub fn scan(&self, text: &[u8], key: &Key, f: &mut dyn FnMut(&str, Match)) {
        let mut next = 0;
        for m in self.anchors.find_iter(text) {
            if m.start() < next {
                continue;
            }
            let (s, e) = if &text[m.start()..m.end()] == b"-----BEGIN" {
                let end = memchr::memmem::find(&text[m.start()..], b"-----END")
                    .map(|i| m.start() + i)
                    .and_then(|i| {
                        memchr::memmem::find(&text[i + 8..], b"-----").map(|j| i + 8 + j + 5)
                    })
                    .unwrap_or((m.start() + 200).min(text.len()));
                (m.start(), end.min(text.len()))
            } else {
                let mut s = m.start();
                while s > 0 && token_byte(text[s - 1]) {
                    s -= 1;
                }
                let mut e = m.end();
                while e < text.len() && token_byte(text[e]) {
                    e += 1;
                }
                // Sentence punctuation is not part of the value.
                while e > m.end() && matches!(text[e - 1], b'.' | b'\'' | b'-') {
                    e -= 1;
                }
                (s, e)
            };
            let Ok(tok) = std::str::from_utf8(&text[s..e]) else {
                continue;
            };
            let tok = tok.trim_matches(|c| c == '\'' || c == '.');
            let hit = detect::secret(tok, key).or_else(|| {
                if tok.contains('@') {
                    detect::email(tok.trim_start_matches("mailto:"))
                } else {
                    None
                }
            });
            if let Some(h) = hit {
                f(tok, h);
                next = e;
            }
        }
        self.digit_runs(text, key, f);
        if !key.names(detect::Names::Identifier) {
            self.phones(text, f);
        }
    }

    /// Phone numbers in text: in international form (`+44 7911 123456`, `+1 (212) 736-5000`:
    /// a plausible country code and length), or in any form of 10 to 15 digits right after a
    /// word that announces one (`call (212) 736-5000`, `phone: 212.736.5000`). Numbers
    /// without either (`order 212-736-5000`) are left alone.
    fn phones(&self, text: &[u8], f: &mut dyn FnMut(&str, Match)) {
        let word_end = |i: usize| text.get(i).is_none_or(|c| !c.is_ascii_alphanumeric());
        let mut next = 0;
        for i in memchr::memchr_iter(b'+', text) {
            if i < next || (i > 0 && text[i - 1].is_ascii_alphanumeric()) {
                continue;
            }
            if let Some((run, end)) = phone_run(text, i) {
                let d: Vec<u8> = run.bytes().filter(u8::is_ascii_digit).collect();
                if word_end(end) && crate::validate::e164_plausible(&d) {
                    f(run, (Kind::Phone, crate::Confidence::Medium, None));
                    next = end;
                }
            }
        }
        for m in self.phone_words.find_iter(text) {
            if (m.start() > 0 && text[m.start() - 1].is_ascii_alphabetic())
                || text.get(m.end()).is_some_and(u8::is_ascii_alphabetic)
            {
                continue;
            }
            // A few bytes of glue (`: `, ` me on `, ` us at `) before the number.
            let Some(off) = text[m.end()..]
                .iter()
                .take(12)
                .position(|c| c.is_ascii_digit() || *c == b'(' || *c == b'+')
            else {
                continue;
            };
            let start = m.end() + off;
            if start < next || text[m.end()..start].iter().any(|c| b".;\n".contains(c)) {
                continue;
            }
            if let Some((run, end)) = phone_run(text, start) {
                let d: Vec<u8> = run.bytes().filter(u8::is_ascii_digit).collect();
                let plus = run.starts_with('+');
                let ok = if plus {
                    crate::validate::e164_plausible(&d)
                } else {
                    (10..=15).contains(&d.len()) && d.iter().any(|c| *c != d[0])
                };
                if ok && word_end(end) {
                    f(run, (Kind::Phone, crate::Confidence::Medium, None));
                    next = end;
                }
            }
        }
    }

    /// Cards (13-19 digits, optionally in groups) and formatted SSNs in text.
    fn digit_runs(&self, text: &[u8], key: &Key, f: &mut dyn FnMut(&str, Match)) {
        let mut i = 0;
        while i < text.len() {
            if !text[i].is_ascii_digit()
                || (i > 0 && (text[i - 1].is_ascii_alphanumeric() || text[i - 1] == b'.'))
            {
                i += 1;
                continue;
            }
            let start = i;
            let mut end = i;
            let mut j = i;
            while j < text.len() && j - start < 24 {
                if text[j].is_ascii_digit() {
                    j += 1;
                    end = j;
                } else if (text[j] == b' ' || text[j] == b'-')
                    && text.get(j + 1).is_some_and(u8::is_ascii_digit)
                {
                    j += 1;
                } else {
                    break;
                }
            }
            let after_ok = text.get(end).is_none_or(|c| !c.is_ascii_alphanumeric());
            if after_ok {
                if let Ok(run) = std::str::from_utf8(&text[start..end]) {
                    let hit = detect::card(run, key)
                        .filter(|m| m.0 == Kind::CreditCard)
                        .or_else(|| {
                            if run.len() == 11 && run.matches('-').count() == 2 {
                                detect::national_id(run, key).filter(|m| m.0 == Kind::UsSsn)
                            } else {
                                None
                            }
                        });
                    if let Some(h) = hit {
                        f(run, h);
                    }
                }
            }
            i = end.max(i + 1);
        }
    }
}

/// The phone-number characters from `start` (digits, spaces, `-`, `.`, `(`, `)`, a leading
/// `+`), at most 24 bytes, separators trimmed at the end; with the index after it.
fn phone_run(text: &[u8], start: usize) -> Option<(&str, usize)> {
    let mut end = start;
    while end < text.len() && end - start < 24 {
        let c = text[end];
        let ok = c.is_ascii_digit()
            || (c == b'+' && end == start)
            || (b" -.()".contains(&c)
                && text
                    .get(end + 1)
                    .is_some_and(|n| n.is_ascii_digit() || b" (".contains(n)));
        if !ok {
            break;
        }
        end += 1;
    }
    while end > start && !text[end - 1].is_ascii_digit() {
        end -= 1;
    }
    let run = std::str::from_utf8(&text[start..end]).ok()?;
    // Balanced brackets only, and never two separators in a row (`1 - 2` is arithmetic).
    let open = run.bytes().filter(|c| *c == b'(').count();
    let close = run.bytes().filter(|c| *c == b')').count();
    let doubled = run
        .as_bytes()
        .windows(2)
        .any(|w| b"-.".contains(&w[0]) && b" -.".contains(&w[1]));
    (open == close && open <= 1 && !doubled).then_some((run, end))
}

impl Default for Text {
    fn default() -> Self {
        Text::new()
    }
}
