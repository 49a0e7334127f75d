//! Checksums and range rules that turn a look-alike into a match.

/// Luhn (mod 10) over ASCII digits.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !digits.is_empty() && sum % 10 == 0
}

/// Card brand from the issuer prefix (IIN) and length; `None` if no brand issues it.
pub fn card_brand(d: &[u8]) -> Option<&'static str> {
    let n = d.len();
    let p = |k: usize| -> u32 {
        d.iter()
            .take(k)
            .fold(0u32, |a, c| a * 10 + u32::from(c - b'0'))
    };
    match d.first()? {
        b'4' if matches!(n, 13 | 16 | 19) => Some("visa"),
        b'5' if n == 16 && (51..=55).contains(&p(2)) => Some("mastercard"),
        b'2' if n == 16 && (2221..=2720).contains(&p(4)) => Some("mastercard"),
        b'3' if n == 15 && matches!(p(2), 34 | 37) => Some("amex"),
        b'3' if (16..=19).contains(&n) && (3528..=3589).contains(&p(4)) => Some("jcb"),
        b'3' if n == 14 && ((300..=305).contains(&p(3)) || matches!(p(2), 36 | 38 | 39)) => {
            Some("diners")
        }
        b'6' if (16..=19).contains(&n)
            && (p(4) == 6011 || (644..=649).contains(&p(3)) || p(2) == 65) =>
        {
            Some("discover")
        }
        b'6' if (16..=19).contains(&n) && p(2) == 62 => Some("unionpay"),
        _ => None,
    }
}

/// Test card numbers published by payment processors: not anyone's card.
pub fn is_test_card(d: &[u8]) -> bool {
    const TEST: &[&[u8]] = &[
        b"4111111111111111",
        b"4242424242424242",
        b"4012888888881881",
        b"4000056655665556",
        b"5555555555554444",
        b"5105105105105100",
        b"5200828282828210",
        b"378282246310005",
        b"371449635398431",
        b"6011111111111117",
        b"6011000990139424",
        b"3530111333300000",
        b"30569309025904",
    ];
    TEST.contains(&d)
}

/// IBAN lengths by country (SWIFT registry).
fn iban_len(cc: &[u8]) -> Option<usize> {
    const T: &[(&[u8; 2], usize)] = &[
        (b"AD", 24),
        (b"AE", 23),
        (b"AL", 28),
        (b"AT", 20),
        (b"AZ", 28),
        (b"BA", 20),
        (b"BE", 16),
        (b"BG", 22),
        (b"BH", 22),
        (b"BR", 29),
        (b"BY", 28),
        (b"CH", 21),
        (b"CR", 22),
        (b"CY", 28),
        (b"CZ", 24),
        (b"DE", 22),
        (b"DK", 18),
        (b"DO", 28),
        (b"EE", 20),
        (b"EG", 29),
        (b"ES", 24),
        (b"FI", 18),
        (b"FO", 18),
        (b"FR", 27),
        (b"GB", 22),
        (b"GE", 22),
        (b"GI", 23),
        (b"GL", 18),
        (b"GR", 27),
        (b"GT", 28),
        (b"HR", 21),
        (b"HU", 28),
        (b"IE", 22),
        (b"IL", 23),
        (b"IQ", 23),
        (b"IS", 26),
        (b"IT", 27),
        (b"JO", 30),
        (b"KW", 30),
        (b"KZ", 20),
        (b"LB", 28),
        (b"LC", 32),
        (b"LI", 21),
        (b"LT", 20),
        (b"LU", 20),
        (b"LV", 21),
        (b"MC", 27),
        (b"MD", 24),
        (b"ME", 22),
        (b"MK", 19),
        (b"MR", 27),
        (b"MT", 31),
        (b"MU", 30),
        (b"NL", 18),
        (b"NO", 15),
        (b"PK", 24),
        (b"PL", 28),
        (b"PS", 29),
        (b"PT", 25),
        (b"QA", 29),
        (b"RO", 24),
        (b"RS", 22),
        (b"SA", 24),
        (b"SC", 31),
        (b"SE", 24),
        (b"SI", 19),
        (b"SK", 24),
        (b"SM", 27),
        (b"ST", 25),
        (b"SV", 28),
        (b"TL", 23),
        (b"TN", 24),
        (b"TR", 26),
        (b"UA", 29),
        (b"VA", 22),
        (b"VG", 24),
        (b"XK", 20),
    ];
    T.iter().find(|(c, _)| &c[..] == cc).map(|(_, n)| *n)
}

/// An IBAN without separators: country length and mod 97 == 1.
pub fn iban(s: &[u8]) -> bool {
    if s.len() < 15 || s.len() > 34 || !s[..2].iter().all(u8::is_ascii_uppercase) {
        return false;
    }
    if iban_len(&s[..2]) != Some(s.len()) || !s[2..4].iter().all(u8::is_ascii_digit) {
        return false;
    }
    if !s[4..]
        .iter()
        .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    {
        return false;
    }
    let mut rem = 0u32;
    for &c in s[4..].iter().chain(&s[..4]) {
        if c.is_ascii_digit() {
            rem = (rem * 10 + u32::from(c - b'0')) % 97;
        } else {
            let v = u32::from(c - b'A') + 10;
            rem = (rem * 100 + v) % 97;
        }
    }
    rem == 1
}

/// US Social Security Number AAA GG SSSS (digits only): SSA's never-issued ranges and
/// the numbers famous from advertising are rejected.
pub fn us_ssn(d: &[u8]) -> bool {
    if d.len() != 9 {
        return false;
    }
    let n = |a: usize, b: usize| {
        d[a..b]
            .iter()
            .fold(0u32, |x, c| x * 10 + u32::from(c - b'0'))
    };
    let (area, group, serial) = (n(0, 3), n(3, 5), n(5, 9));
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && d != b"078051120"
        && d != b"219099999"
        && d != b"123456789"
}

/// UK National Insurance number: two prefix letters (with HMRC's exclusions), six digits,
/// suffix A-D.
pub fn uk_nino(s: &[u8]) -> bool {
    if s.len() != 9 {
        return false;
    }
    let (a, b) = (s[0], s[1]);
    let bad1 = b"DFIQUV";
    let bad2 = b"DFIOQUV";
    let bad_prefix: [&[u8]; 7] = [b"BG", b"GB", b"KN", b"NK", b"NT", b"TN", b"ZZ"];
    a.is_ascii_uppercase()
        && b.is_ascii_uppercase()
        && !bad1.contains(&a)
        && !bad2.contains(&b)
        && !bad_prefix.contains(&&s[..2])
        && s[2..8].iter().all(u8::is_ascii_digit)
        && (b'A'..=b'D').contains(&s[8])
}

/// Brazilian CPF: 11 digits, two mod-11 check digits, not all equal.
pub fn br_cpf(d: &[u8]) -> bool {
    if d.len() != 11 || d.iter().all(|c| *c == d[0]) {
        return false;
    }
    let v: Vec<u32> = d.iter().map(|c| u32::from(c - b'0')).collect();
    let check = |n: usize| {
        let s: u32 = (0..n).map(|i| v[i] * (n as u32 + 1 - i as u32)).sum();
        let r = (s * 10) % 11;
        if r == 10 {
            0
        } else {
            r
        }
    };
    check(9) == v[9] && check(10) == v[10]
}

/// Spanish DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter), letter = mod 23.
pub fn es_dni(s: &[u8]) -> bool {
    const L: &[u8] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    if s.len() != 9 || !s[8].is_ascii_uppercase() {
        return false;
    }
    let lead = match s[0] {
        b'X' => 0,
        b'Y' => 1,
        b'Z' => 2,
        c if c.is_ascii_digit() => u32::from(c - b'0'),
        _ => return false,
    };
    if !s[1..8].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n = s[1..8]
        .iter()
        .fold(lead, |x, c| x * 10 + u32::from(c - b'0'));
    L[(n % 23) as usize] == s[8]
}

/// Dutch BSN: 9 digits, the "11-proef" with weight -1 on the last digit.
pub fn nl_bsn(d: &[u8]) -> bool {
    if d.len() != 9 || d.iter().all(|c| *c == b'0') {
        return false;
    }
    let s: i32 = d
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let w = if i == 8 { -1 } else { 9 - i as i32 };
            w * i32::from(c - b'0')
        })
        .sum();
    s % 11 == 0
}

/// Indian Aadhaar: 12 digits, first 2-9, Verhoeff check digit.
pub fn in_aadhaar(d: &[u8]) -> bool {
    const M: [[u8; 10]; 10] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ];
    const P: [[u8; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    if d.len() != 12 || d[0] < b'2' {
        return false;
    }
    let mut c = 0usize;
    for (i, x) in d.iter().rev().enumerate() {
        c = M[c][P[i % 8][usize::from(x - b'0')] as usize] as usize;
    }
    c == 0
}

/// Canadian SIN: 9 digits, Luhn, first digit not 0 or 8.
pub fn ca_sin(d: &[u8]) -> bool {
    d.len() == 9 && d[0] != b'0' && d[0] != b'8' && luhn(d)
}

/// US ABA routing number: valid Federal Reserve prefix and the 3-7-1 checksum.
pub fn aba_routing(d: &[u8]) -> bool {
    if d.len() != 9 {
        return false;
    }
    let v: Vec<u32> = d.iter().map(|c| u32::from(c - b'0')).collect();
    let prefix = v[0] * 10 + v[1];
    let ok_prefix =
        prefix <= 12 || (21..=32).contains(&prefix) || (61..=72).contains(&prefix) || prefix == 80;
    let s = 3 * (v[0] + v[3] + v[6]) + 7 * (v[1] + v[4] + v[7]) + (v[2] + v[5] + v[8]);
    ok_prefix && s % 10 == 0 && d.iter().any(|c| *c != b'0')
}

/// Shannon entropy in bits per byte.
pub fn entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &c in s {
        counts[c as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Phone country calling codes (ITU E.164) with the national significant number lengths
/// they use; unlisted codes accept 7 to 12 digits.
pub fn e164_plausible(digits: &[u8]) -> bool {
    if digits.len() < 8 || digits.len() > 15 || digits[0] == b'0' {
        return false;
    }
    let s = std::str::from_utf8(digits).unwrap_or("");
    let fixed: &[(&str, &[usize])] = &[
        ("1", &[10]),
        ("7", &[10]),
        ("20", &[9, 10]),
        ("27", &[9]),
        ("30", &[10]),
        ("31", &[9]),
        ("32", &[8, 9]),
        ("33", &[9]),
        ("34", &[9]),
        ("36", &[8, 9]),
        ("39", &[6, 7, 8, 9, 10, 11]),
        ("41", &[9]),
        ("43", &[4, 5, 6, 7, 8, 9, 10, 11, 12, 13]),
        ("44", &[9, 10]),
        ("45", &[8]),
        ("46", &[7, 8, 9, 10, 11, 12, 13]),
        ("47", &[8]),
        ("48", &[9]),
        ("49", &[6, 7, 8, 9, 10, 11, 12, 13]),
        ("52", &[10]),
        ("55", &[10, 11]),
        ("61", &[9]),
        ("62", &[9, 10, 11, 12]),
        ("63", &[10]),
        ("64", &[8, 9, 10]),
        ("65", &[8]),
        ("81", &[9, 10]),
        ("82", &[9, 10]),
        ("86", &[11]),
        ("90", &[10]),
        ("91", &[10]),
        ("351", &[9]),
        ("353", &[7, 8, 9]),
        ("358", &[5, 6, 7, 8, 9, 10, 11, 12]),
        ("971", &[8, 9]),
        ("972", &[8, 9]),
    ];
    // Longest matching code first.
    let mut best: Option<(&str, &[usize])> = None;
    for (cc, lens) in fixed {
        if s.starts_with(cc) && best.is_none_or(|(b, _)| cc.len() > b.len()) {
            best = Some((cc, lens));
        }
    }
    match best {
        Some((cc, lens)) => lens.contains(&(s.len() - cc.len())),
        // Zones 2-9 hold two- and three-digit codes we do not list.
        None => (9..=14).contains(&s.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_accept_published_examples_and_reject_neighbours() {
        assert!(luhn(b"4539578763621486") && !luhn(b"4539578763621487"));
        assert_eq!(card_brand(b"4539578763621486"), Some("visa"));
        assert_eq!(card_brand(b"9539578763621486"), None);
        assert!(iban(b"GB82WEST12345698765432") && !iban(b"GB82WEST12345698765433"));
        assert!(iban(b"DE89370400440532013000") && !iban(b"DE8937040044053201300"));
        assert!(us_ssn(b"536221234") && !us_ssn(b"666221234") && !us_ssn(b"900221234"));
        assert!(!us_ssn(b"536001234") && !us_ssn(b"536220000") && !us_ssn(b"078051120"));
        assert!(uk_nino(b"AB123456C") && !uk_nino(b"QQ123456C") && !uk_nino(b"GB123456A"));
        assert!(br_cpf(b"52998224725") && !br_cpf(b"52998224726") && !br_cpf(b"11111111111"));
        assert!(es_dni(b"12345678Z") && !es_dni(b"12345678A") && es_dni(b"X1234567L"));
        assert!(nl_bsn(b"111222333") && !nl_bsn(b"111222334"));
        assert!(in_aadhaar(b"234123412346") && !in_aadhaar(b"234123412347"));
        assert!(ca_sin(b"130692544") && !ca_sin(b"130692545") && !ca_sin(b"046454286"));
        assert!(aba_routing(b"011000015") && !aba_routing(b"011000016"));
        assert!(e164_plausible(b"14155552671") && !e164_plausible(b"1415555267"));
        assert!(e164_plausible(b"447911123456"));
    }
}
