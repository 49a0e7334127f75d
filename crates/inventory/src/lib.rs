//! apitap-inventory: what the API surface looks like. Turns HTTP exchanges into endpoints
//! keyed by (host, method, path template) and owns the inventory document other tools read.
//!
//! Invariants:
//! - Observation is order-independent: the same multiset of exchanges gives the same
//!   inventory whatever the order or the number of workers, and [`Inventory::merge`] is
//!   commutative and associative (per-worker inventories merged at the end equal one).
//! - Memory per endpoint is bounded (capped maps, counted overflow).
//! - The document is versioned (`apitap_inventory`) and only grows additively.
//! - The document carries its own mergeable state (the inventory before learning and the
//!   spec), so documents merge exactly as the traffic behind them would (`state`).
#![forbid(unsafe_code)]

mod auth;
mod doc;
mod endpoint;
mod findings;
mod learn;
mod schema;
mod services;
mod sketch;
mod spec;
mod state;
pub mod template;

pub use auth::{classify_auth, request_auth, AuthKind};
pub use doc::{
    fold, format_ts, CaptureInfo, Document, EndpointOut, HostSummary, ParamOut, PiiOut, DOC_VERSION,
};
pub use endpoint::{is_public, Endpoint, Inventory, Observed, PiiSeen};
pub use findings::{findings, Finding, Severity};
pub use learn::{fold_into, learn};
pub use schema::SchemaAcc;
pub use services::{EncryptedService, Unparsed};
pub use sketch::{hash64, Distinct};
pub use spec::{judge, EndpointRef, Orphan, Spec, SpecDiff, Verdict};
pub use state::{add_counters, merge_documents, Merged, STATE_VERSION};
pub use template::{host_of, split_target, template_path, ParamType, Template};
