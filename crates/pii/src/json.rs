//! A tolerant, allocation-light JSON walker: reports every scalar leaf with its path
//! (`$.users[*].email`) and key, and every object's start and end. A body cut by the
//! sample cap or a gap is walked up to the cut; malformed input stops the walk, never panics.

use std::borrow::Cow;

/// Deepest nesting followed; deeper values are skipped.
const MAX_DEPTH: usize = 64;
/// Longest path kept; longer keys are shortened in the path.
const MAX_KEY_IN_PATH: usize = 64;
/// Leaves visited per document.
pub const MAX_LEAVES: usize = 20_000;

/// A scalar value.
#[derive(Debug, Clone, PartialEq)]
pub enum Leaf<'a> {
    Str(Cow<'a, str>),
    /// A number, as written.
    Num(&'a str),
    Bool(bool),
    Null,
}

/// What the walker reports.
pub trait Visit {
    fn leaf(&mut self, path: &str, key: Option<&str>, value: &Leaf<'_>);
    /// An object starts (`true`) or an array (`false`).
    fn open(&mut self, _object: bool) {}
    fn close(&mut self, _object: bool) {}
}

#[derive(Clone, Copy, PartialEq)]
enum Frame {
    Obj,
    Arr,
}

struct Walker<'a> {
    /// The body's valid UTF-8 prefix (all of it, usually), validated once: strings and
    /// numbers are cut from it without validating each again.
    text: &'a str,
    b: &'a [u8],
    /// The body goes on past `text` with bytes that are not UTF-8.
    invalid_tail: bool,
    i: usize,
    path: String,
    /// (container, path length to restore when it closes, where the current key starts)
    stack: Vec<(Frame, usize, usize)>,
    leaves: usize,
}

/// Walk `body`; returns whether the whole document was well-formed.
pub fn walk(body: &[u8], v: &mut impl Visit) -> bool {
    let (text, invalid_tail) = match std::str::from_utf8(body) {
        Ok(t) => (t, false),
        Err(e) => (
            std::str::from_utf8(&body[..e.valid_up_to()]).unwrap_or_default(),
            true,
        ),
    };
    let mut w = Walker {
        text,
        b: text.as_bytes(),
        invalid_tail,
        i: 0,
        path: String::from("$"),
        stack: Vec::new(),
        leaves: 0,
    };
    w.run(v).is_some()
}

impl<'a> Walker<'a> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn run(&mut self, v: &mut impl Visit) -> Option<()> {
        // Top level: one value, or several (JSON lines).
        loop {
            if self.peek().is_none() {
                // Bytes that are not UTF-8 end the walk, malformed, wherever they are.
                return (!self.invalid_tail).then_some(());
            }
            self.value(None, v)?;
            // Close whatever the value opened, one container at a time.
            while let Some(&(frame, ..)) = self.stack.last() {
                self.after_value(frame, v)?;
            }
        }
    }

    /// Parse one value; containers are pushed and continue in `after_value`.
    fn value(&mut self, key: Option<&str>, v: &mut impl Visit) -> Option<()> {
        match self.peek()? {
            b'{' => {
                self.i += 1;
                if self.stack.len() >= MAX_DEPTH {
                    return None;
                }
                self.stack
                    .push((Frame::Obj, self.path.len(), self.path.len()));
                v.open(true);
                self.object_key(v)
            }
            b'[' => {
                self.i += 1;
                if self.stack.len() >= MAX_DEPTH {
                    return None;
                }
                self.stack
                    .push((Frame::Arr, self.path.len(), self.path.len()));
                self.path.push_str("[*]");
                v.open(false);
                if self.peek()? == b']' {
                    return Some(());
                }
                self.value(None, v)
            }
            b'"' => {
                let s = self.string()?;
                self.emit(key, &Leaf::Str(s), v)
            }
            b't' => self.literal(b"true", Leaf::Bool(true), key, v),
            b'f' => self.literal(b"false", Leaf::Bool(false), key, v),
            b'n' => self.literal(b"null", Leaf::Null, key, v),
            c if c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.b.len()
                    && matches!(
                        self.b[self.i],
                        b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'
                    )
                {
                    self.i += 1;
                }
                if self.i == self.b.len() && !self.invalid_tail {
                    return None; // cut: the number may go on
                }
                let n = self.text.get(start..self.i)?;
                self.emit(key, &Leaf::Num(n), v)
            }
            _ => None,
        }
    }

    fn emit(&mut self, key: Option<&str>, leaf: &Leaf<'_>, v: &mut impl Visit) -> Option<()> {
        self.leaves += 1;
        if self.leaves > MAX_LEAVES {
            return None;
        }
        v.leaf(&self.path, key, leaf);
        Some(())
    }

    fn literal(
        &mut self,
        word: &[u8],
        leaf: Leaf<'_>,
        key: Option<&str>,
        v: &mut impl Visit,
    ) -> Option<()> {
        if !self.b[self.i..].starts_with(word) {
            return None;
        }
        self.i += word.len();
        self.emit(key, &leaf, v)
    }

    /// Inside an object, before a key (or its end).
    fn object_key(&mut self, v: &mut impl Visit) -> Option<()> {
        if self.peek()? == b'}' {
            return Some(());
        }
        if self.peek()? != b'"' {
            return None;
        }
        let key = self.string()?;
        if self.peek()? != b':' {
            return None;
        }
        self.i += 1;
        if let Some(top) = self.stack.last_mut() {
            top.2 = self.path.len();
        }
        self.path.push('.');
        let k: &str = &key;
        let cut = k
            .char_indices()
            .nth(MAX_KEY_IN_PATH)
            .map_or(k.len(), |(i, _)| i);
        self.path.push_str(&k[..cut]);
        self.value(Some(k), v)
    }

    /// After a value inside `frame`: a comma and the next member, or the container's end.
    fn after_value(&mut self, frame: Frame, v: &mut impl Visit) -> Option<()> {
        let c = self.peek()?;
        let (_, restore, _) = *self.stack.last()?;
        match (frame, c) {
            (Frame::Obj, b'}') | (Frame::Arr, b']') => {
                self.i += 1;
                self.stack.pop();
                self.path.truncate(restore);
                v.close(frame == Frame::Obj);
                // The container was itself a member of its parent: drop its key.
                if let Some(&(Frame::Obj, ..)) = self.stack.last() {
                    self.trim_key();
                }
                Some(())
            }
            (Frame::Obj, b',') => {
                self.i += 1;
                self.trim_key();
                self.object_key(v)
            }
            (Frame::Arr, b',') => {
                self.i += 1;
                self.value(None, v)
            }
            _ => None,
        }
    }

    /// Remove the last `.key` segment from the path.
    fn trim_key(&mut self) {
        if let Some(&(_, _, key_at)) = self.stack.last() {
            self.path.truncate(key_at);
        }
    }

    /// A string at `self.i` (the opening quote), unescaped.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let b: &'a [u8] = self.b;
        let text: &'a str = self.text;
        let start = self.i + 1;
        let mut j = start;
        let mut escaped = false;
        loop {
            let n = memchr::memchr2(b'"', b'\\', b.get(j..)?)?;
            j += n;
            if b[j] == b'"' {
                break;
            }
            escaped = true;
            j += 2;
        }
        self.i = j + 1;
        if !escaped {
            return text.get(start..j).map(Cow::Borrowed);
        }
        unescape(&b[start..j]).map(Cow::Owned)
    }
}

fn unescape(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *raw.get(i + 1)?;
        i += 2;
        let ch = match e {
            b'n' => '\n',
            b't' => '\t',
            b'r' => '\r',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'u' => {
                let hex = |k: usize| {
                    raw.get(k..k + 4)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                };
                let hi = hex(i)?;
                i += 4;
                let cp = if (0xd800..0xdc00).contains(&hi) && raw.get(i..i + 2) == Some(b"\\u") {
                    let lo = hex(i + 2)?;
                    i += 6;
                    0x10000 + ((hi - 0xd800) << 10) + (lo.wrapping_sub(0xdc00) & 0x3ff)
                } else {
                    hi
                };
                char::from_u32(cp).unwrap_or('\u{fffd}')
            }
            other => other as char,
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Paths(Vec<String>);

    impl Visit for Paths {
        fn leaf(&mut self, path: &str, _key: Option<&str>, value: &Leaf<'_>) {
            let v = match value {
                Leaf::Str(s) => s.to_string(),
                Leaf::Num(n) => n.to_string(),
                Leaf::Bool(b) => b.to_string(),
                Leaf::Null => "null".into(),
            };
            self.0.push(format!("{path}={v}"));
        }
    }

    fn leaves(body: &[u8]) -> (bool, Vec<String>) {
        let mut p = Paths::default();
        let ok = walk(body, &mut p);
        (ok, p.0)
    }

    #[test]
    fn bytes_that_are_not_utf8_end_the_walk_where_they_are() {
        let (ok, l) = leaves("{\"a\":\"é\",\"n\":[1,2.5],\"t\":true}".as_bytes());
        assert!(ok);
        assert_eq!(l, ["$.a=é", "$.n[*]=1", "$.n[*]=2.5", "$.t=true"]);
        // Inside a string: what came before is reported, the document is malformed.
        let (ok, l) = leaves(b"{\"a\":\"x\",\"n\":12,\"c\":\"\xff\",\"d\":1}");
        assert!(!ok);
        assert_eq!(l, ["$.a=x", "$.n=12"]);
        // Right after a number, and between top-level values (JSON lines).
        let (ok, l) = leaves(b"[7\xff]");
        assert!(!ok);
        assert_eq!(l, ["$[*]=7"]);
        let (ok, l) = leaves(b"{\"a\":1}\n\xfe{\"b\":2}");
        assert!(!ok);
        assert_eq!(l, ["$.a=1"]);
        // An escaped string, and a multi-byte character cut by the body's end.
        let (ok, l) = leaves(
            "{\"k\\u00e9\":\"a\\nb\",\"z\":\"é"
                .as_bytes()
                .split_last()
                .expect("a byte")
                .1,
        );
        assert!(!ok);
        assert_eq!(l, ["$.ké=a\nb"]);
    }
}
