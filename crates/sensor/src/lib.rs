//! apitap-sensor: the pipeline. Decodes packets on a dispatcher thread, shards them by flow
//! hash to worker threads (flow table + HTTP + inventory per worker) over bounded crossbeam
//! channels in batches, merges exchange records into one deterministic stream on a writer
//! thread, and merges the per-worker inventories at the end.
//!
//! Invariants:
//! - No protocol logic lives here: only threads, channels, ordering and counters.
//! - Output does not depend on the number of workers: packets carry a global index; flow
//!   timeouts are driven by ticks broadcast at fixed packet indices; exchange records are
//!   merged by (packet index, flow key, sequence); inventories merge commutatively.
//! - Channels are bounded: a slow stage applies back-pressure to the reader, never drops.
//! - Which bodies get the full sensitive-data scan is decided per connection from that
//!   connection's exchanges alone (`sampling`), so it too is independent of the workers.
#![forbid(unsafe_code)]

mod pipeline;
mod record;
pub mod sampling;
mod stats;
mod writer;

pub use pipeline::{Frames, Gauges, Pipeline, SensorConfig, Snapshot, Taking};
pub use record::Renderer;
pub use sampling::{ScanMode, ScanStats};
pub use stats::{DispatchStats, Totals};
