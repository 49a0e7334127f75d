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

/// Per byte of an 8-byte word, the top bit set where the byte is an ASCII digit (SWAR: no
/// branch per byte).
fn digit_bytes(w: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let y = w & LOW7;
    // Per byte, y + 0x50 reaches 0x80 from '0' up and y + 0x46 from ':' up; no carries
    // cross bytes because y < 0x80. Bytes with the top bit set are not digits.
    let ge0 = y.wrapping_add(0x5050_5050_5050_5050);
    let gt9 = y.wrapping_add(0x4646_4646_4646_4646);
    ge0 & !gt9 & !w & HIGH
}

/// The eight top bits of `h` (bytes' bit 7) packed into the low byte, byte 0 first.
fn pack_high_bits(h: u64) -> u64 {
    // Bit 8k+7 moves to 56+k; no two products land on the same bit, so nothing carries.
    ((h >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// Bit j set where byte j of the 64-byte block is an ASCII digit.
fn digit_mask(block: &[u8; 64]) -> u64 {
    let mut m = 0;
    for (k, w) in block.chunks_exact(8).enumerate() {
        let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        m |= pack_high_bits(digit_bytes(w)) << (8 * k);
    }
    m
}

/// Runs of 9 or more digits (cards, phone numbers, national ids, accounts; single
/// separators between digits allowed) and dotted quads (IPv4 addresses).
///
/// A run is `digit (digit | sep digit)*` with `sep` one of ` -./()`. The body is read 64
/// bytes at a time as bitmasks: digits, then the single bytes between two digits that are
/// separators (a handful per block, looked at one by one). A run's digits and dots are
/// counted with popcounts; a run open at the end of a block carries into the next.
fn digit_runs(b: &[u8]) -> u32 {
    // (digits, dots) of the run reaching the end of the previous block.
    let mut open: Option<(u32, u32)> = None;
    let mut bits = 0;
    let eval = |bits: &mut u32, (digits, dots): (u32, u32)| {
        if digits >= 9 {
            *bits |= DIGIT_RUN;
        }
        if dots >= 3 && digits >= 4 {
            *bits |= DOTTED_QUAD;
        }
    };
    let mut prev_last_digit = 0u64;
    let mut at = 0;
    while at < b.len() && bits != DIGIT_RUN | DOTTED_QUAD {
        // Full blocks are read in place; the last one is padded with zeros (not digits).
        let mut tail = [0u8; 64];
        let block: &[u8; 64] = match b.get(at..at + 64).and_then(|w| w.try_into().ok()) {
            Some(full) => full,
            None => {
                tail[..b.len() - at].copy_from_slice(&b[at..]);
                &tail
            }
        };
        let next_digit = u64::from(b.get(at + 64).is_some_and(u8::is_ascii_digit));
        let d = digit_mask(block);
        // Single non-digits with a digit on both sides.
        let mut gaps = !d & (d << 1 | prev_last_digit) & (d >> 1 | next_digit << 63);
        let (mut sep, mut dot) = (0u64, 0u64);
        while gaps != 0 {
            let j = gaps.trailing_zeros();
            let c = block[j as usize];
            if matches!(c, b' ' | b'-' | b'.' | b'/' | b')' | b'(') {
                sep |= 1 << j;
                dot |= u64::from(c == b'.') << j;
            }
            gaps &= gaps - 1;
        }
        let mut c = d | sep;
        if c & 1 == 0 {
            if let Some(o) = open.take() {
                eval(&mut bits, o);
            }
        }
        while c != 0 {
            let start = c.trailing_zeros();
            let len = (!(c >> start)).trailing_zeros().min(64 - start);
            let mask = if len == 64 {
                !0
            } else {
                ((1u64 << len) - 1) << start
            };
            c &= !mask;
            let carried = start == 0 && open.is_some();
            if len < 7 && !carried && start + len < 64 {
                // Too short for either (a dotted quad takes 7 bytes, a long run 9).
                continue;
            }
            let here = ((d & mask).count_ones(), (dot & mask).count_ones());
            let run = match open.take() {
                Some((digits, dots)) if start == 0 => (digits + here.0, dots + here.1),
                _ => here,
            };
            if start + len == 64 {
                open = Some(run);
            } else {
                eval(&mut bits, run);
            }
        }
        prev_last_digit = d >> 63;
        at += 64;
    }
    if let Some(o) = open {
        eval(&mut bits, o);
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
        set_json_name(names, &b[..j - 1]);
    }
}

/// `set_name` for a JSON member name (it starts after the last `"` of `before`), eight
/// bytes at a time: the name's words, case-folded (`| 0x20`: exact for letters, a harmless
/// merge for a few symbols), are hashed with its length.
fn set_json_name(names: &mut [u64; NAME_BITS / 64], before: &[u8]) {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const QUOTES: u64 = 0x2222_2222_2222_2222;
    let mut h: u64 = 0x243f_6a88_85a3_08d3;
    let mut end = before.len();
    let limit = end.saturating_sub(64);
    while end > limit {
        let start = end.saturating_sub(8).max(limit);
        let mut x = match <[u8; 8]>::try_from(&before[start..end]) {
            Ok(w) => u64::from_le_bytes(w),
            Err(_) => {
                let mut w = [0u8; 8];
                w[8 - (end - start)..].copy_from_slice(&before[start..end]);
                u64::from_le_bytes(w)
            }
        };
        // Exact per-byte test for '"' (top bit of each matching byte; no borrows).
        let v = x ^ QUOTES;
        let quotes = !(((v & LOW7) + LOW7) | v | LOW7);
        let last_word = quotes != 0;
        if last_word {
            // The name starts after the quote nearest the end.
            let k = (63 - quotes.leading_zeros()) / 8;
            x = if k == 7 { 0 } else { x >> (8 * (k + 1)) };
            end -= 7 - k as usize;
        } else {
            end = start;
        }
        h = (h ^ (x | 0x2020_2020_2020_2020)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 29;
        if last_word {
            break;
        }
    }
    h = (h ^ (before.len() - end) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let bit = (h >> 55) as usize % NAME_BITS;
    names[bit / 64] |= 1 << (bit % 64);
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
            let want = if n.is_ascii_digit() { 0b10 } else { 0 };
            assert_eq!(pack_high_bits(digit_bytes(w)), want, "byte {n}");
        }
        for m in 0..=255u64 {
            let h = (0..8).fold(0, |h, k| h | ((m >> k) & 1) << (8 * k + 7));
            assert_eq!(pack_high_bits(h), m, "bit pattern {m:08b}");
        }
        let f = s.triggers(b"ip 10.1.2.3 at 2024-01-02T10:11:12Z");
        assert_eq!(f.anchors & (DIGIT_RUN | DOTTED_QUAD), DOTTED_QUAD);
        // Names are case-folded and read whole, however long, up to 64 bytes.
        let long = s.triggers(br#"{"customer_billing_address_line":"x"}"#);
        let upper = s.triggers(br#"{ "Customer_Billing_Address_LINE" : "y"}"#);
        assert!(!upper.novel_against(&long) && !long.novel_against(&upper));
        let other = s.triggers(br#"{"customer_shipping_address_line":"x"}"#);
        assert!(other.novel_against(&long), "a name differing in its middle");
        let escaped = s.triggers(br#"{"a\"b":1}"#);
        assert_eq!(
            escaped.names,
            s.triggers(br#"{"b":1}"#).names,
            "from the last quote"
        );
        let g = s.triggers(b"user=bob&password=hunter2");
        assert!(g.novel_against(&s.triggers(b"user=alice")));
    }

    /// The plain byte-by-byte reading `digit_runs` must agree with.
    fn digit_runs_reference(b: &[u8]) -> u32 {
        let mut bits = 0;
        let n = b.len();
        let mut i = 0;
        while i < n {
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

    #[test]
    fn digit_runs_agree_with_the_byte_by_byte_reading() {
        // Runs placed across block edges, and random bodies over a small alphabet dense in
        // digits and separators (xorshift: the same bytes every run).
        for pad in 0..130 {
            for run in [
                "123456789",
                "1234 5678",
                "10.1.2.3",
                "1.2.3",
                "1-2-3-4-5-6-7-8-9",
            ] {
                let mut b = vec![b'x'; pad];
                b.extend_from_slice(run.as_bytes());
                b.extend_from_slice(b"x y");
                assert_eq!(digit_runs(&b), digit_runs_reference(&b), "{run} at {pad}");
            }
        }
        let alphabet = b"0123456789012345 -./()x:\"\xc3";
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..400 {
            for _ in 0..40 {
                let b: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        alphabet[(x % alphabet.len() as u64) as usize]
                    })
                    .collect();
                assert_eq!(digit_runs(&b), digit_runs_reference(&b), "{b:?}");
            }
        }
    }
}
