//! The mergeable state behind an inventory document, saved in it as `state`.
//!
//! A document shows endpoints after learning (slug positions merged into parameters) and
//! after the spec re-keyed them; neither step can be undone, so two documents cannot be
//! merged from what they show. The state is the [`Inventory`] before both steps: endpoints
//! keyed by their stateless template, with every counter, sketch and histogram in the form
//! [`Inventory::merge`] combines. Merging the states of two runs and building the document
//! again gives what one run over both captures gives (`apitap merge`), and a sensor that
//! starts from its last snapshot keeps accumulating (`--state`).
//!
//! Invariants: the state is versioned ([`STATE_VERSION`]); reading it back gives an equal
//! [`Inventory`]; what it holds is what the document already shows about the traffic
//! (paths, names, counts, hashes, redacted samples), never a raw sensitive value.

use crate::doc::{CaptureInfo, Document};
use crate::endpoint::Inventory;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Version of the state format inside the document's `state`.
pub const STATE_VERSION: u32 = 1;

/// The state as read (the version was checked before).
#[derive(Deserialize)]
struct Saved {
    inventory: Inventory,
}

#[derive(Serialize)]
struct SavedRef<'a> {
    version: u32,
    inventory: &'a Inventory,
}

/// The state of `inv`, as stored in the document: compact JSON, written straight from the
/// inventory (no copy, no value tree: a state can be tens of megabytes).
pub fn encode(inv: &Inventory) -> Box<RawValue> {
    let text = serde_json::to_string(&SavedRef {
        version: STATE_VERSION,
        inventory: inv,
    })
    .unwrap_or_else(|_| "null".into());
    RawValue::from_string(text).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// The inventory saved in a document's `state`.
pub fn decode(raw: &RawValue) -> Result<Inventory, String> {
    #[derive(Deserialize)]
    struct Version {
        version: Option<u64>,
    }
    let version = serde_json::from_str::<Version>(raw.get())
        .map_err(|e| format!("damaged state: {e}"))?
        .version;
    if version != Some(u64::from(STATE_VERSION)) {
        return Err(format!(
            "state format {} is not supported (expected {STATE_VERSION})",
            version.map_or("missing".into(), |n| n.to_string())
        ));
    }
    serde_json::from_str::<Saved>(raw.get())
        .map(|s| s.inventory)
        .map_err(|e| format!("damaged state: {e}"))
}

/// What several runs add up to: the merged inventory, where the traffic came from, and the
/// counters summed. Build the merged document from these with
/// [`Document::build_with_spec`], exactly as a run over all the traffic would.
#[derive(Debug, Clone, Default)]
pub struct Merged {
    pub inventory: Inventory,
    pub capture: CaptureInfo,
    pub stats: Map<String, Value>,
    runs: usize,
}

impl Merged {
    /// Add one run: its inventory (before learning and the spec), capture and counters.
    pub fn add(&mut self, inv: &Inventory, capture: &CaptureInfo, stats: &Map<String, Value>) {
        if self.runs == 0 {
            self.inventory = inv.clone();
        } else {
            self.inventory.max_endpoints = self.inventory.max_endpoints.max(inv.max_endpoints);
            self.inventory.merge(inv);
        }
        merge_capture(&mut self.capture, capture, self.runs == 0);
        add_counters(&mut self.stats, stats);
        self.runs += 1;
    }

    /// Add a document through its saved state; `name` (its file) prefixes errors.
    pub fn add_document(&mut self, name: &str, d: &Document) -> Result<(), String> {
        let state = d.state.as_ref().ok_or_else(|| {
            format!("{name}: no `state` (written by an older apitap): replay the capture again")
        })?;
        let one = decode(state).map_err(|e| format!("{name}: {e}"))?;
        self.add(&one, &d.capture, &d.stats);
        Ok(())
    }
}

/// What several documents add up to (see [`Merged`]). Each document comes with a name for
/// errors (its file).
pub fn merge_documents<'a>(
    docs: impl IntoIterator<Item = (&'a str, &'a Document)>,
) -> Result<(Inventory, CaptureInfo, Map<String, Value>), String> {
    let mut m = Merged::default();
    for (name, d) in docs {
        m.add_document(name, d)?;
    }
    if m.runs == 0 {
        return Err("nothing to merge".into());
    }
    Ok((m.inventory, m.capture, m.stats))
}

fn merge_capture(all: &mut CaptureInfo, c: &CaptureInfo, first: bool) {
    if first {
        *all = c.clone();
        return;
    }
    if all.mode != c.mode {
        all.mode = "merged".into();
    }
    all.sources.extend(c.sources.iter().cloned());
    // RFC 3339 UTC with a fixed number of digits: text order is time order.
    all.first_packet = match (all.first_packet.take(), c.first_packet.clone()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    all.last_packet = match (all.last_packet.take(), c.last_packet.clone()) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    all.link_types.extend(c.link_types.iter().copied());
    all.link_types.sort_unstable();
    all.link_types.dedup();
}

/// Add the counters of `b` into `a`: numbers add, objects recurse, `null` (not measured)
/// gives way to a number. Lists are derived from the inventory and rebuilt with it.
pub fn add_counters(a: &mut Map<String, Value>, b: &Map<String, Value>) {
    for (k, vb) in b {
        match (a.get_mut(k), vb) {
            (None, _) => {
                a.insert(k.clone(), vb.clone());
            }
            (Some(Value::Object(ma)), Value::Object(mb)) => add_counters(ma, mb),
            (Some(va @ Value::Number(_)), Value::Number(nb)) => {
                let sum = match (va.as_u64(), nb.as_u64()) {
                    (Some(x), Some(y)) => Value::from(x.saturating_add(y)),
                    _ => Value::from(va.as_f64().unwrap_or(0.0) + nb.as_f64().unwrap_or(0.0)),
                };
                *va = sum;
            }
            (Some(va @ Value::Null), _) => *va = vb.clone(),
            _ => {}
        }
    }
}

/// Maps whose keys are not strings, saved as lists of `[key, value]` pairs.
pub(crate) mod entries {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer, K: Serialize, V: Serialize>(
        m: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter())
    }

    pub fn deserialize<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        D: Deserializer<'de>,
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counters_add_and_unmeasured_gives_way() {
        let mut a = json!({"packets": 3, "capture": {"kernel_dropped": null, "records": 2},
                           "unparsed": [1], "ratio": 0.5})
        .as_object()
        .cloned()
        .unwrap_or_default();
        let b = json!({"packets": 4, "capture": {"kernel_dropped": 7, "records": 5},
                       "unparsed": [2], "ratio": 0.25, "new": 1})
        .as_object()
        .cloned()
        .unwrap_or_default();
        add_counters(&mut a, &b);
        assert_eq!(
            Value::Object(a),
            json!({"packets": 7, "capture": {"kernel_dropped": 7, "records": 7},
                   "unparsed": [1], "ratio": 0.75, "new": 1})
        );
    }

    #[test]
    fn a_wrong_version_or_damaged_state_is_refused() {
        let raw = |v: Value| {
            RawValue::from_string(v.to_string()).unwrap_or_else(|_| encode(&Inventory::default()))
        };
        let inv = Inventory::new(10);
        assert_eq!(decode(&encode(&inv)), Ok(inv));
        let e = decode(&raw(json!({"version": 99, "inventory": {}})))
            .err()
            .unwrap_or_default();
        assert!(e.contains("format 99"), "{e}");
        let e = decode(&raw(
            json!({"version": STATE_VERSION, "inventory": {"endpoints": 3}}),
        ))
        .err()
        .unwrap_or_default();
        assert!(e.starts_with("damaged state"), "{e}");
    }
}
