//! apitap-flow: per-connection state. IP defragmentation, the flow table, TCP reassembly of
//! both directions, gaps, idle timeouts and the caps that keep all of it bounded.
//!
//! Invariants:
//! - Flows are keyed by the canonical 5-tuple plus the tunnel id: the same addresses in two
//!   mirror sessions are two flows.
//! - Sequence numbers are compared with wrapping arithmetic at the wire and become 64-bit
//!   stream offsets inside the reassembler; offsets never wrap.
//! - Each direction delivers its bytes to the [`Handler`] exactly once, in order. Bytes that
//!   will never arrive are delivered as a gap of known length, never silently skipped.
//! - Every buffer is capped (out-of-order bytes per stream and per table, flows per table);
//!   every cap hit is counted in [`FlowStats`].
//! - The table never decides anything about application protocols: that is the handler's job.
#![forbid(unsafe_code)]

mod defrag;
mod key;
mod stream;
mod table;

pub use defrag::{Defrag, DefragConfig, DefragStats};
pub use key::{Dir, FlowKey};
pub use stream::{Delivery, Seg, Stream, StreamConfig, StreamCounters};
pub use table::{CloseReason, FlowConfig, FlowCtx, FlowStats, FlowTable, Handler, TcpPacket};

#[cfg(test)]
mod tests;
