//! A first look at a body, about ten times cheaper than the full scan: which anchors of
//! distinctive values it holds (`@`, token prefixes, PEM armour, long digit runs, dotted
//! quads) and a bitmap of its JSON field names. The sensor compares this with what the
//! bodies already scanned on the same endpoint and connection held, and scans again in
//! full only when something is new (docs/performance.md, "adaptive scanning").
//!
//! Invariant: every value the full scan can find raises an anchor bit or sits under a
//! field name whose bit is set; a body whose anchors and names were all seen before can
//! differ from the scanned ones only in values of kinds already found there or in
//! key-less values of the same anchors.

/// Anchor bits follow `text::ANCHORS` (bit 0 is `@`); these come after them.
const DIGIT_RUN: u32 = 1 << 30;
const DOTTED_QUAD: u32 = 1 << 31;
/// Bits in the field-name bitmap.
const NAME_BITS: usize = 512;
/// Field names looked at per body.
const MAX_NAMES: usize = 4096;

/// What a body holds, coarsely.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Triggers {
    pub anchors: u32,
    pub names: [u64; NAME_BITS / 64],
}

impl Triggers {
    /// Whether `self` holds an anchor or a field name that `seen` lacks.
    pub fn novel_against(&self, seen: &Triggers) -> bool {
        self.anchors & !seen.anchors != 0
            || self
                .names
                .iter()
                .zip(seen.names.iter())
                .any(|(a, b)| a & !b != 0)
    }

    pub fn absorb(&mut self, o: &Triggers) {
        self.anchors |= o.anchors;
        for (a, b) in self.names.iter_mut().zip(o.names.iter()) {
            *a |= b;
        }
    }
}

impl crate::Scanner {
    /// The anchors and field names of `data` (any content type).
    pub fn triggers(&self, data: &[u8]) -> Triggers {
        let mut t = Triggers::default();
        if memchr::memchr(b'@', data).is_some() {
            t.anchors |= 1;
        }
        for m in self.text.anchors_iter(data) {
            t.anchors |= 1 << m.min(29);
        }
        t.anchors |= digit_runs(data);
        field_names(data, &mut t.names);
        t
    }
}

/// Whether an 8-byte word holds an ASCII digit (SWAR: no branch per byte).
fn word_has_digit(w: u64) -> bool {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let y = w & LOW7;
    // Per byte, y + 0x50 reaches 0x80 from '0' up and y + 0x46 from ':' up; no carries
    // cross bytes because y < 0x80. Bytes with the top bit set are not digits.
    let ge0 = y.wrapping_add(0x5050_5050_5050_5050);
    let gt9 = y.wrapping_add(0x4646_4646_4646_4646);
    ge0 & !gt9 & !w & HIGH != 0
}

/// Runs of 9 or more digits (cards, phone numbers, national ids, accounts; single
/// separators between digits allowed) and dotted quads (IPv4 addresses).
fn digit_runs(b: &[u8]) -> u32 {
    let mut bits = 0;
    let n = b.len();
    let mut i = 0;
    while i < n {
        // Skip eight bytes at a time while no digit is in sight.
        while let Some(w) = b.get(i..i + 8) {
            let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            if word_has_digit(w) {
                break;
            }
            i += 8;
        }
        while i < n && !b[i].is_ascii_digit() {
            i += 1;
        }
        if i >= n {
            break;
        }
        let (mut digits, mut dots) = (0u32, 0u32);
        loop {
            while i < n && b[i].is_ascii_digit() {
                digits += 1;
                i += 1;
            }
            let sep = i + 1 < n
                && matches!(b[i], b' ' | b'-' | b'.' | b'/' | b')' | b'(')
                && b[i + 1].is_ascii_digit();
            if !sep {
                break;
            }
            dots += u32::from(b[i] == b'.');
            i += 1;
        }
        if digits >= 9 {
            bits |= DIGIT_RUN;
        }
        if dots >= 3 && digits >= 4 {
            bits |= DOTTED_QUAD;
        }
    }
    bits
}

/// Set the bit of the name that ends `before` and starts after its last `starts` byte
/// (case-folded, hashed backwards; names past 64 bytes are cut).
fn set_name(names: &mut [u64; NAME_BITS / 64], before: &[u8], starts: impl Fn(u8) -> bool) {
    let mut h: u32 = 0x811c_9dc5;
    for &c in before.iter().rev().take(64) {
        if starts(c) {
            break;
        }
        h = (h ^ u32::from(c.to_ascii_lowercase())).wrapping_mul(0x0100_0193);
    }
    let bit = (h.wrapping_mul(0x9e37_79b1) >> 23) as usize % NAME_BITS;
    names[bit / 64] |= 1 << (bit % 64);
}

/// Set a bit for each quoted string followed by `:` (a JSON member name), or for each
/// `name=` of a form when the body is not JSON.
fn field_names(b: &[u8], names: &mut [u64; NAME_BITS / 64]) {
    let json = b
        .iter()
        .find(|c| !c.is_ascii_whitespace())
        .is_some_and(|c| matches!(c, b'{' | b'['));
    if !json {
        return form_names(b, names);
    }
    for (n, i) in memchr::memchr_iter(b':', b).enumerate() {
        if n >= MAX_NAMES {
            break;
        }
        let mut j = i;
        while j > 0 && matches!(b[j - 1], b' ' | b'\t' | b'\r' | b'\n') {
            j -= 1;
        }
        if j == 0 || b[j - 1] != b'"' {
            continue;
        }
        set_name(names, &b[..j - 1], |c| c == b'"');
    }
}

fn form_names(b: &[u8], names: &mut [u64; NAME_BITS / 64]) {
    for (n, i) in memchr::memchr_iter(b'=', b).enumerate() {
        if n >= MAX_NAMES {
            break;
        }
        set_name(names, &b[..i], |c| {
            matches!(c, b'&' | b'?' | b'\n' | b' ' | b'"' | b';')
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scanner;

    #[test]
    fn anchors_and_names() {
        let s = Scanner::new();
        let a = s.triggers(br#"{"id":1,"email":"a@b.co"}"#);
        let b = s.triggers(br#"{"id":2,"email":"c@d.co"}"#);
        assert!(!b.novel_against(&a), "same names and anchors");
        let c = s.triggers(br#"{"id":3,"email":"e@f.co","ssn":"078-05-1120"}"#);
        assert!(c.novel_against(&a), "a new field name");
        let d = s.triggers(br#"{"id":4,"email":"AKIAIOSFODNN7EXAMPLE"}"#);
        assert!(d.novel_against(&a), "a new anchor");
        let e = s.triggers(br#"{"id":5,"email":"card 4111 1111 1111 1111"}"#);
        assert!(e.anchors & DIGIT_RUN != 0 && e.novel_against(&a));
        for n in 0..=255u8 {
            let w = u64::from_le_bytes([b'a', n, 0xff, b'/', b':', 0, 0x80, b'z']);
            assert_eq!(word_has_digit(w), n.is_ascii_digit(), "byte {n}");
        }
        let f = s.triggers(b"ip 10.1.2.3 at 2024-01-02T10:11:12Z");
        assert_eq!(f.anchors & (DIGIT_RUN | DOTTED_QUAD), DOTTED_QUAD);
        let g = s.triggers(b"user=bob&password=hunter2");
        assert!(g.novel_against(&s.triggers(b"user=alice")));
    }
}
