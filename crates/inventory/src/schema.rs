//! Body schemas learned from samples: every distinct JSON leaf path with the types and
//! formats seen there and how many samples had it, merged across exchanges in bounded
//! memory, and turned into a JSON Schema (types, formats, nested objects and arrays,
//! `required` where every sample had the field).

use apitap_pii::{
    LeafInfo, F_DATE, F_DATE_TIME, F_EMAIL, F_IPV4, F_IPV6, F_URI, F_UUID, T_BOOLEAN, T_INTEGER,
    T_NULL, T_NUMBER, T_STRING,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Leaf paths kept per schema.
const MAX_PATHS: usize = 256;

/// What the samples of one body (request or 2xx response) of an endpoint looked like.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SchemaAcc {
    pub samples: u64,
    /// path -> (types, formats, samples that had it)
    pub paths: BTreeMap<String, (u8, u8, u64)>,
}

impl SchemaAcc {
    pub fn add_sample(&mut self, leaves: &[LeafInfo], capped: &mut u64) {
        if leaves.is_empty() {
            return;
        }
        self.samples += 1;
        for l in leaves {
            self.put(&l.path, (l.types, l.formats, 1), capped);
        }
    }

    fn put(&mut self, path: &str, (t, f, n): (u8, u8, u64), capped: &mut u64) {
        if let Some(e) = self.paths.get_mut(path) {
            e.0 |= t;
            e.1 |= f;
            e.2 += n;
        } else if self.paths.len() < MAX_PATHS {
            self.paths.insert(path.to_string(), (t, f, n));
        } else {
            *capped += 1;
        }
    }

    pub fn merge(&mut self, o: &SchemaAcc, capped: &mut u64) {
        self.samples += o.samples;
        for (p, v) in &o.paths {
            self.put(p, *v, capped);
        }
        // Keep the first paths in order, so the result does not depend on merge order.
        while self.paths.len() > MAX_PATHS {
            self.paths.pop_last();
        }
    }

    /// The JSON Schema, or `None` without samples.
    pub fn to_json_schema(&self) -> Option<Value> {
        if self.samples == 0 {
            return None;
        }
        let mut root = Node::default();
        for (p, (t, f, n)) in &self.paths {
            let Some(rest) = p.strip_prefix('$') else {
                continue;
            };
            root.insert(&tokens(rest), *t, *f, *n);
        }
        Some(root.schema(self.samples))
    }
}

#[derive(Debug)]
enum Tok<'a> {
    Key(&'a str),
    Item,
}

/// `.users[*].email` -> Key(users), Item, Key(email)
fn tokens(mut s: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    while !s.is_empty() {
        if let Some(r) = s.strip_prefix("[*]") {
            out.push(Tok::Item);
            s = r;
        } else if let Some(r) = s.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            out.push(Tok::Key(&r[..end]));
            s = &r[end..];
        } else {
            break;
        }
    }
    out
}

#[derive(Debug, Default)]
struct Node {
    leaf: Option<(u8, u8, u64)>,
    props: BTreeMap<String, Node>,
    items: Option<Box<Node>>,
}

impl Node {
    fn insert(&mut self, toks: &[Tok<'_>], t: u8, f: u8, n: u64) {
        match toks.first() {
            None => {
                let l = self.leaf.get_or_insert((0, 0, 0));
                l.0 |= t;
                l.1 |= f;
                l.2 = l.2.max(n);
            }
            Some(Tok::Key(k)) => {
                self.props
                    .entry((*k).to_string())
                    .or_default()
                    .insert(&toks[1..], t, f, n)
            }
            Some(Tok::Item) => {
                self.items
                    .get_or_insert_with(Box::default)
                    .insert(&toks[1..], t, f, n)
            }
        }
    }

    /// Samples that reached this node (the most of any leaf under it).
    fn count(&self) -> u64 {
        let mut c = self.leaf.map_or(0, |l| l.2);
        for p in self.props.values() {
            c = c.max(p.count());
        }
        if let Some(i) = &self.items {
            c = c.max(i.count());
        }
        c
    }

    fn schema(&self, parent: u64) -> Value {
        let mut alts: Vec<Value> = Vec::new();
        if !self.props.is_empty() {
            let mut props = Map::new();
            let mut required = Vec::new();
            let here = self.count().min(parent);
            for (k, p) in &self.props {
                props.insert(k.clone(), p.schema(here));
                if p.count() >= here {
                    required.push(json!(k));
                }
            }
            let mut o = json!({"type": "object", "properties": props});
            if !required.is_empty() {
                o["required"] = Value::Array(required);
            }
            alts.push(o);
        }
        if let Some(i) = &self.items {
            alts.push(json!({"type": "array", "items": i.schema(i.count())}));
        }
        if let Some((t, f, _)) = self.leaf {
            alts.push(scalar(t, f));
        }
        match alts.len() {
            0 => json!({}),
            1 => alts.pop().unwrap_or_default(),
            _ => json!({ "anyOf": alts }),
        }
    }
}

fn scalar(t: u8, f: u8) -> Value {
    let mut types = Vec::new();
    if t & T_STRING != 0 {
        types.push("string");
    }
    if t & T_NUMBER != 0 {
        types.push("number");
    } else if t & T_INTEGER != 0 {
        types.push("integer");
    }
    if t & T_BOOLEAN != 0 {
        types.push("boolean");
    }
    if t & T_NULL != 0 {
        types.push("null");
    }
    let mut v = if types.len() == 1 {
        json!({"type": types[0]})
    } else {
        json!({"type": types})
    };
    // A format only when every sample agreed on one.
    let fmt = match f {
        F_EMAIL => Some("email"),
        F_UUID => Some("uuid"),
        F_DATE_TIME => Some("date-time"),
        F_DATE => Some("date"),
        F_IPV4 => Some("ipv4"),
        F_IPV6 => Some("ipv6"),
        F_URI => Some("uri"),
        _ => None,
    };
    if let (Some(fmt), true) = (fmt, t & T_STRING != 0) {
        v["format"] = json!(fmt);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(body: &str) -> Vec<LeafInfo> {
        let x = apitap_http::Exchange {
            client: "10.0.0.1:1".parse().expect("addr"),
            server: "10.0.0.2:80".parse().expect("addr"),
            tunnel: 0,
            request: None,
            response: Some(apitap_http::Response {
                ts: 0,
                ts_end: 0,
                status: 200,
                reason: String::new(),
                version: 11,
                headers: apitap_http::Headers::from_pairs([(
                    "Content-Type",
                    &b"application/json"[..],
                )]),
                body: apitap_http::Body {
                    len: body.len() as u64,
                    data: body.as_bytes().to_vec(),
                    ..Default::default()
                },
                gap: false,
            }),
        };
        apitap_pii::Scanner::new().scan(&x).response_leaves
    }

    #[test]
    fn types_formats_nesting_and_required() {
        let mut acc = SchemaAcc::default();
        let mut capped = 0;
        acc.add_sample(&leaves(r#"{"id":1,"email":"a@acme-corp.com","tags":["x"],"owner":{"uuid":"0b8a3d2e-6f1c-4b7a-9e2d-5c4f3a2b1c0d"},"at":"2024-03-01T12:00:00Z","score":1.5}"#), &mut capped);
        acc.add_sample(&leaves(r#"{"id":2,"email":"b@acme-corp.com","tags":[],"owner":{"uuid":"1b8a3d2e-6f1c-4b7a-9e2d-5c4f3a2b1c0d"},"at":"2024-03-02T12:00:00Z","score":null,"note":"n"}"#), &mut capped);
        let s = acc.to_json_schema().expect("schema");
        assert_eq!(s["type"], "object");
        assert_eq!(s["properties"]["id"], json!({"type": "integer"}));
        assert_eq!(
            s["properties"]["email"],
            json!({"type": "string", "format": "email"})
        );
        assert_eq!(s["properties"]["at"]["format"], "date-time");
        assert_eq!(
            s["properties"]["owner"]["properties"]["uuid"]["format"],
            "uuid"
        );
        assert_eq!(
            s["properties"]["tags"],
            json!({"type": "array", "items": {"type": "string"}})
        );
        assert_eq!(
            s["properties"]["score"],
            json!({"type": ["number", "null"]})
        );
        let req: Vec<&str> = s["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            req,
            ["at", "email", "id", "owner", "score"],
            "note appeared once, tags once"
        );
    }
}
