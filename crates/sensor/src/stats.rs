//! Counters of every stage, summed across workers, and their JSON form in the inventory.

use crate::pipeline::Snapshot;
use apitap_capture::{FileStats, LiveStats};
use apitap_flow::{DefragStats, FlowStats};
use apitap_http::HttpStats;
use apitap_wire::Anomaly;
use serde_json::{json, Map, Value};

/// Counters of the dispatcher (decode stage).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchStats {
    pub packets: u64,
    pub bytes: u64,
    pub tcp: u64,
    pub udp: u64,
    pub other_ip: u64,
    /// IP fragments seen (reassembly counters in `defrag`).
    pub ip_fragments: u64,
    pub defrag: DefragStats,
    /// Packets whose payload the capture cut short.
    pub truncated_packets: u64,
    pub tunnelled: u64,
    /// Batches that found their worker's queue full and waited (back-pressure). Timing, not
    /// traffic: in the metrics, never in the inventory (which must not depend on timing).
    pub backpressure: u64,
    /// Decode anomalies by kind, indexed like [`Anomaly::ALL`].
    pub anomalies: [u64; Anomaly::ALL.len()],
    /// Workers that stopped on an internal error (a panic: a bug). What they held is missing
    /// from the results.
    pub workers_failed: u64,
    /// Packets handed to a worker after it had stopped, not analysed.
    pub packets_of_failed_workers: u64,
}

impl DispatchStats {
    pub fn anomaly(&mut self, a: Anomaly) {
        if let Some(i) = Anomaly::ALL.iter().position(|k| *k == a) {
            self.anomalies[i] += 1;
        }
    }

    pub fn decode_errors(&self) -> u64 {
        // Non-IP frames (ARP, LLDP, ...) are normal on a wire, not errors.
        Anomaly::ALL
            .iter()
            .zip(self.anomalies)
            .filter(|(k, _)| **k != Anomaly::NotIp)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Everything counted during a run.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub dispatch: DispatchStats,
    pub files: FileStats,
    pub live: Option<LiveStats>,
    pub flow: FlowStats,
    pub http: HttpStats,
    pub scan: crate::ScanStats,
    pub endpoints: u64,
    pub endpoints_dropped: u64,
    pub values_capped: u64,
}

impl Totals {
    /// The counters of a run: the dispatcher's, the source's and the workers' snapshot.
    pub fn of(
        dispatch: DispatchStats,
        files: FileStats,
        live: Option<LiveStats>,
        snap: &Snapshot,
    ) -> Totals {
        Totals {
            dispatch,
            files,
            live,
            flow: snap.flow,
            http: snap.http,
            scan: snap.scan,
            endpoints: snap.inventory.endpoints.len() as u64,
            endpoints_dropped: snap.inventory.endpoints_dropped,
            values_capped: snap.inventory.values_capped,
        }
    }

    /// The counters of a running live capture, from the workers' published gauges (the
    /// inventory's own counters stay at zero: they need a snapshot).
    pub fn of_gauges(
        dispatch: DispatchStats,
        live: Option<LiveStats>,
        g: &crate::Gauges,
    ) -> Totals {
        Totals {
            dispatch,
            live,
            flow: g.flow,
            http: g.http,
            scan: g.scan,
            endpoints: g.endpoints,
            ..Totals::default()
        }
    }

    /// Packets, bytes or messages lost or not analysed, by reason (non-zero only).
    pub fn dropped(&self) -> Vec<(&'static str, u64)> {
        let mut v = self.dropped_all();
        v.retain(|(_, n)| *n > 0);
        v
    }

    /// Every loss reason with its count, zero or not (the kernel's only for live capture).
    pub fn dropped_all(&self) -> Vec<(&'static str, u64)> {
        let s = &self.flow.streams;
        let mut v = vec![
            ("decode_errors", self.dispatch.decode_errors()),
            ("ip_fragments_dropped", self.dispatch.defrag.dropped()),
            ("truncated_packets", self.dispatch.truncated_packets),
            ("corrupt_capture_records", self.files.corrupt_records),
            ("truncated_capture_files", self.files.truncated_files),
            (
                "flows_dropped_table_full",
                self.flow.flows_dropped_table_full,
            ),
            ("tcp_gaps", s.gaps),
            ("tcp_gap_bytes", s.gap_bytes),
            ("ooo_cap_gaps", s.ooo_cap_gaps),
            ("http_heads_too_large", self.http.head_too_large),
            ("http_bad_heads", self.http.bad_heads),
            ("http_body_bytes_not_kept", self.http.body_bytes_not_kept),
            ("http_pending_overflow", self.http.pending_overflow),
            (
                "http_bodies_not_decoded",
                self.http.decode_errors + self.http.decode_unsupported + self.http.decode_too_deep,
            ),
            (
                "http_decoding_capped",
                self.http.decode_limit + self.http.decode_bombs,
            ),
            ("endpoints_dropped", self.endpoints_dropped),
            ("workers_failed", self.dispatch.workers_failed),
            (
                "packets_of_failed_workers",
                self.dispatch.packets_of_failed_workers,
            ),
        ];
        if let Some(l) = self.live {
            v.push(("kernel_dropped", l.dropped + l.if_dropped));
        }
        v
    }

    /// The `stats` object of the inventory.
    pub fn to_json(&self) -> Map<String, Value> {
        let d = &self.dispatch;
        let f = &self.flow;
        let s = &f.streams;
        let h = &self.http;
        let decode: Map<String, Value> = Anomaly::ALL
            .iter()
            .zip(d.anomalies)
            .map(|(k, n)| (k.name().to_string(), json!(n)))
            .collect();
        let mut m = Map::new();
        m.insert("packets".into(), json!(d.packets));
        m.insert("bytes".into(), json!(d.bytes));
        m.insert("decode_errors".into(), json!(d.decode_errors()));
        m.insert("flows".into(), json!(f.flows));
        m.insert("tcp_gaps".into(), json!(s.gaps));
        m.insert("exchanges".into(), json!(h.exchanges));
        m.insert("unparsed_streams".into(), json!(h.unparsed_streams));
        m.insert("endpoints".into(), json!(self.endpoints));
        m.insert("capture".into(), json!({
            "records": self.files.records, "snaplen_cut": self.files.snaplen_cut,
            "corrupt_records": self.files.corrupt_records, "truncated_files": self.files.truncated_files,
            "unknown_interface": self.files.unknown_interface,
            "kernel_received": self.live.map(|l| l.received), "kernel_dropped": self.live.map(|l| l.dropped),
            "interface_dropped": self.live.map(|l| l.if_dropped),
        }));
        m.insert("decode".into(), json!({
            "tcp": d.tcp, "udp": d.udp, "other_ip": d.other_ip, "ip_fragments": d.ip_fragments,
            "truncated_packets": d.truncated_packets, "tunnelled": d.tunnelled, "anomalies": decode,
        }));
        let df = &d.defrag;
        m.insert(
            "defrag".into(),
            json!({
                "fragments": df.fragments, "reassembled": df.reassembled, "timed_out": df.timed_out,
                "too_big": df.too_big, "table_full": df.table_full,
                "inconsistent_overlaps": df.inconsistent_overlaps, "bad_length": df.bad_length,
            }),
        );
        m.insert("flow".into(), json!({
            "tcp_segments": f.tcp_segments, "tcp_payload_bytes": f.tcp_payload_bytes,
            "flows": f.flows, "flows_midstream": f.flows_midstream,
            "closed_fin": f.closed_fin, "closed_rst": f.closed_rst, "closed_timeout": f.closed_timeout,
            "closed_reused": f.closed_reused, "closed_end": f.closed_end,
            "flows_dropped_table_full": f.flows_dropped_table_full, "segments_without_flow": f.segments_without_flow, "segments_after_close": f.segments_after_close,
            "retransmitted_segments": s.retransmitted_segments, "overlap_bytes": s.overlap_bytes,
            "ooo_segments": s.ooo_segments, "gaps": s.gaps, "gap_bytes": s.gap_bytes,
            "ooo_cap_gaps": s.ooo_cap_gaps, "truncation_gaps": s.truncation_gaps,
            "data_before_start": s.data_before_start, "acked_gaps": s.acked_gaps, "inconsistent_overlaps": s.inconsistent_overlaps,
        }));
        m.insert("http".into(), json!({
            "requests": h.requests, "responses": h.responses, "interim_responses": h.interim_responses,
            "exchanges": h.exchanges, "unanswered_requests": h.unanswered_requests,
            "orphan_responses": h.orphan_responses, "early_responses": h.early_responses, "cut_heads": h.cut_heads,
            "http_streams": h.http_streams,
            "unparsed_streams": h.unparsed_streams, "upgrades": h.upgrades, "connect_tunnels": h.connect_tunnels,
            "gaps": h.gaps, "resyncs": h.resyncs, "resync_skipped_bytes": h.resync_skipped_bytes,
            "head_too_large": h.head_too_large, "too_many_headers": h.too_many_headers,
            "lenient_heads": h.lenient_heads, "bad_heads": h.bad_heads,
            "bad_content_length": h.bad_content_length, "bad_chunks": h.bad_chunks,
            "cl_te_conflicts": h.cl_te_conflicts, "body_bytes_not_kept": h.body_bytes_not_kept,
            "pending_overflow": h.pending_overflow, "sniff_budget_exhausted": h.sniff_budget_exhausted,
            "content_decoding": {
                "decoded": h.decoded_bodies, "errors": h.decode_errors, "output_limit": h.decode_limit,
                "bombs": h.decode_bombs, "unsupported": h.decode_unsupported, "too_many_layers": h.decode_too_deep,
            },
        }));
        m.insert(
            "scan".into(),
            json!({
                "bodies_scanned": self.scan.full, "bodies_sampled_out": self.scan.sampled_out,
                "memory_resets": self.scan.memory_resets,
                "knowledge_dropped": self.scan.knowledge_dropped,
            }),
        );
        m.insert(
            "inventory".into(),
            json!({
                "endpoints": self.endpoints, "endpoints_dropped": self.endpoints_dropped,
                "values_capped": self.values_capped,
            }),
        );
        let dropped: Map<String, Value> = self
            .dropped()
            .into_iter()
            .map(|(k, n)| (k.to_string(), json!(n)))
            .collect();
        m.insert("dropped".into(), Value::Object(dropped));
        m
    }
}
