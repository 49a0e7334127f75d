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
//!
//! Digit runs and member names come from one pass over 64-byte blocks whose digits,
//! quotes and colons are found sixteen bytes at a time (SSE2 compares through `wide`, no
//! unsafe here); tests hold both to plain byte-by-byte readings.

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
        let json = data
            .iter()
            .find(|c| !c.is_ascii_whitespace())
            .is_some_and(|c| matches!(c, b'{' | b'['));
        t.anchors |= blocks(data, json.then_some(&mut t.names));
        if !json {
            form_names(data, &mut t.names);
        }
        t
    }
}

/// Where the digits, double quotes and colons of a 64-byte block are (bit j for byte j),
/// sixteen bytes at a time.
struct Masks {
    digit: u64,
    quote: u64,
    colon: u64,
}

fn masks(block: &[u8; 64]) -> Masks {
    use wide::u8x16;
    let (zero, nine) = (u8x16::splat(b'0'), u8x16::splat(9));
    let (quote, colon) = (u8x16::splat(b'"'), u8x16::splat(b':'));
    let mut m = Masks {
        digit: 0,
        quote: 0,
        colon: 0,
    };
    for (k, w) in block.chunks_exact(16).enumerate() {
        let v = u8x16::new(w.try_into().unwrap_or([0; 16]));
        let bits = |x: u8x16| u64::from(x.move_mask() as u16) << (16 * k);
        // Digits are the bytes that stay under ten once '0' is taken away (wrapping).
        let t = v - zero;
        m.digit |= bits(t.min(nine).cmp_eq(t));
        m.quote |= bits(v.cmp_eq(quote));
        m.colon |= bits(v.cmp_eq(colon));
    }
    m
}

/// One pass over `b` in 64-byte blocks: the digit-run anchors, and with `names` (a JSON
/// body) the bit of each member name: a quoted string followed by `:`, read from the
/// quote before its closing one (so `"a\"b":` names `b`), at most 64 bytes back, and at
/// most `MAX_NAMES` of them.
fn blocks(b: &[u8], mut names: Option<&mut [u64; NAME_BITS / 64]>) -> u32 {
    let mut runs = Runs::default();
    // The last double quote of the blocks before this one.
    let mut last_quote: Option<usize> = None;
    let mut named = 0;
    let mut at = 0;
    while at < b.len() {
        // Full blocks are read in place; the last one is padded with zeros.
        let mut tail = [0u8; 64];
        let block: &[u8; 64] = match b.get(at..at + 64).and_then(|w| w.try_into().ok()) {
            Some(full) => full,
            None => {
                tail[..b.len() - at].copy_from_slice(&b[at..]);
                &tail
            }
        };
        let m = masks(block);
        if runs.bits != DIGIT_RUN | DOTTED_QUAD {
            let next_digit = b.get(at + 64).is_some_and(u8::is_ascii_digit);
            runs.block(block, m.digit, next_digit);
        }
        if let Some(names) = names.as_deref_mut() {
            let mut colons = m.colon;
            while colons != 0 && named < MAX_NAMES {
                let i = at + colons.trailing_zeros() as usize;
                colons &= colons - 1;
                let mut close = i;
                while close > 0 && matches!(b[close - 1], b' ' | b'\t' | b'\r' | b'\n') {
                    close -= 1;
                }
                if close == 0 || b[close - 1] != b'"' {
                    continue;
                }
                close -= 1;
                let floor = close.saturating_sub(64);
                let open = if close >= at {
                    // Quotes of this block before the closing one, else the blocks before.
                    let before = m.quote & ((1u64 << (close - at)) - 1);
                    if before != 0 {
                        Some(at + 63 - before.leading_zeros() as usize)
                    } else {
                        last_quote
                    }
                } else {
                    // Blank space from the closing quote into this block: look back.
                    memchr::memrchr(b'"', &b[floor..close]).map(|q| floor + q)
                };
                let start = open.map_or(floor, |q| (q + 1).max(floor));
                let bit = name_bit(&b[start..close]);
                names[bit / 64] |= 1 << (bit % 64);
                named += 1;
            }
        }
        if m.quote != 0 {
            last_quote = Some(at + 63 - m.quote.leading_zeros() as usize);
        }
        at += 64;
    }
    runs.finish()
}

/// The bit of a JSON member name of up to 64 bytes, case-folded (`| 0x20`: exact for
/// letters, a harmless merge for a few symbols). A name of up to 16 bytes is read as the
/// two words that determine it (`short_name_words`, as for the key cache) and mixed with
/// one multiplication; a longer one word by word.
fn name_bit(n: &[u8]) -> usize {
    const FOLD: u64 = 0x2020_2020_2020_2020;
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let (first, last) = crate::short_name_words(n).unwrap_or_else(|| {
        let word = |w: &[u8]| w.try_into().map_or(0, u64::from_le_bytes);
        let mut h = 0u64;
        let mut words = n.chunks_exact(8);
        for w in words.by_ref() {
            h = (h ^ (word(w) | FOLD)).wrapping_mul(K);
            h ^= h >> 29;
        }
        // The last eight bytes (overlapping the words before), and the length.
        (h, word(&n[n.len() - 8..]) ^ (n.len() as u64) << 56)
    });
    let x = (first | FOLD) ^ (last | FOLD).rotate_left(29);
    (x.wrapping_mul(K) >> 55) as usize % NAME_BITS
}

/// Runs of 9 or more digits (cards, phone numbers, national ids, accounts; single
/// separators between digits allowed) and dotted quads (IPv4 addresses).
///
/// A run is `digit (digit | sep digit)*` with `sep` one of ` -./()`. The body is read 64
/// bytes at a time as bitmasks: digits, then the single bytes between two digits that are
/// separators (a handful per block, looked at one by one). A run's digits and dots are
/// counted with popcounts; a run open at the end of a block carries into the next.
#[derive(Default)]
struct Runs {
    /// (digits, dots) of the run reaching the end of the previous block.
    open: Option<(u32, u32)>,
    bits: u32,
    /// Whether the previous block ended with a digit (bit 0).
    prev_last_digit: u64,
}

impl Runs {
    fn eval(&mut self, (digits, dots): (u32, u32)) {
        if digits >= 9 {
            self.bits |= DIGIT_RUN;
        }
        if dots >= 3 && digits >= 4 {
            self.bits |= DOTTED_QUAD;
        }
    }

    /// One block, its digit mask `d`, and whether the byte after it is a digit.
    fn block(&mut self, block: &[u8; 64], d: u64, next_digit: bool) {
        // Single non-digits with a digit on both sides.
        let mut gaps =
            !d & (d << 1 | self.prev_last_digit) & (d >> 1 | u64::from(next_digit) << 63);
        // Most blocks hold no stretch of seven digits and single gaps of any byte (which
        // every run long enough to count lies in) and none that a neighbour block could
        // continue: nothing to count there.
        let loose = d | gaps;
        let two = loose & (loose >> 1);
        let four = two & (two >> 2);
        let continued = loose >> 63 != 0 || (loose & 1 != 0 && self.open.is_some());
        if four & (four >> 3) == 0 && !continued {
            if let Some(o) = self.open.take() {
                self.eval(o);
            }
            self.prev_last_digit = d >> 63;
            return;
        }
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
            if let Some(o) = self.open.take() {
                self.eval(o);
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
            let carried = start == 0 && self.open.is_some();
            if len < 7 && !carried && start + len < 64 {
                // Too short for either (a dotted quad takes 7 bytes, a long run 9).
                continue;
            }
            let here = ((d & mask).count_ones(), (dot & mask).count_ones());
            let run = match self.open.take() {
                Some((digits, dots)) if start == 0 => (digits + here.0, dots + here.1),
                _ => here,
            };
            if start + len == 64 {
                self.open = Some(run);
            } else {
                self.eval(run);
            }
        }
        self.prev_last_digit = d >> 63;
    }

    fn finish(mut self) -> u32 {
        if let Some(o) = self.open.take() {
            self.eval(o);
        }
        self.bits
    }
}

/// The digit-run anchors of `b` alone.
#[cfg(test)]
fn digit_runs(b: &[u8]) -> u32 {
    blocks(b, None)
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

    #[test]
    fn block_masks_agree_with_a_byte_loop() {
        // Every byte value at every position of a block.
        for shift in 0..64 {
            let mut block = [0u8; 64];
            for (j, c) in block.iter_mut().enumerate() {
                *c = ((j * 4 + shift * 7) % 256) as u8;
            }
            let m = masks(&block);
            let want =
                |f: fn(u8) -> bool| (0..64).fold(0u64, |acc, j| acc | u64::from(f(block[j])) << j);
            assert_eq!(m.digit, want(|c| c.is_ascii_digit()), "shift {shift}");
            assert_eq!(m.quote, want(|c| c == b'"'), "shift {shift}");
            assert_eq!(m.colon, want(|c| c == b':'), "shift {shift}");
        }
    }

    /// The plain reading of member names the block pass must agree with: every `:` whose
    /// previous non-blank byte is `"`, the name starting after the quote before that one,
    /// at most 64 bytes back.
    fn names_reference(b: &[u8]) -> [u64; NAME_BITS / 64] {
        let mut names = [0u64; NAME_BITS / 64];
        let colons = b.iter().enumerate().filter(|(_, c)| **c == b':');
        for (i, _) in colons.take(MAX_NAMES) {
            let mut j = i;
            while j > 0 && b[j - 1].is_ascii_whitespace() && b[j - 1] != 0x0c {
                j -= 1;
            }
            if j == 0 || b[j - 1] != b'"' {
                continue;
            }
            let close = j - 1;
            let floor = close.saturating_sub(64);
            let start = b[floor..close]
                .iter()
                .rposition(|c| *c == b'"')
                .map_or(floor, |q| floor + q + 1);
            let bit = name_bit(&b[start..close]);
            names[bit / 64] |= 1 << (bit % 64);
        }
        names
    }

    #[test]
    fn member_names_agree_with_the_plain_reading() {
        // Names placed across block edges, blank space before colons (also across an
        // edge), escaped quotes, names longer than 64 bytes, colons inside values.
        let long = "n".repeat(80);
        for pad in 0..140 {
            for member in [
                r#""email":"a""#,
                r#""first_name" : 1"#,
                "\"Street\"\n\t:\"x\"",
                r#""a\"b":2"#,
                r#""t":"12:00:00""#,
                &format!(r#""{long}":1"#),
                r#""":0"#,
            ] {
                let b = format!(r#"{{"{}":0,{member}}}"#, "p".repeat(pad));
                let b = b.as_bytes();
                let mut names = [0u64; NAME_BITS / 64];
                blocks(b, Some(&mut names));
                assert_eq!(names, names_reference(b), "{member} at {pad}");
            }
        }
        // Random bodies over an alphabet dense in quotes, colons and blanks.
        for b in random_bodies(b"\"\":: \n\tab9\\{}", 300, 20) {
            let mut names = [0u64; NAME_BITS / 64];
            blocks(&b, Some(&mut names));
            assert_eq!(names, names_reference(&b), "{b:?}");
        }
    }

    /// `per_len` bodies of every length below `max_len` over `alphabet` (xorshift: the
    /// same bytes every run).
    fn random_bodies(
        alphabet: &[u8],
        max_len: usize,
        per_len: usize,
    ) -> impl Iterator<Item = Vec<u8>> + '_ {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..max_len * per_len).map(move |i| {
            (0..i / per_len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    alphabet[(x % alphabet.len() as u64) as usize]
                })
                .collect()
        })
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
        for b in random_bodies(b"0123456789012345 -./()x:\"\xc3", 400, 40) {
            assert_eq!(digit_runs(&b), digit_runs_reference(&b), "{b:?}");
        }
    }
}
