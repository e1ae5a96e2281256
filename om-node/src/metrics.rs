//! Prometheus metrics of one node. Labels are bounded: operation kinds and result codes only.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Operation kind (`CreateVolume`, `ListKeys`, ...).
    pub op: &'static str,
    /// `OK` or the error code.
    pub result: &'static str,
}

/// Which of a node's two RocksDB databases.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DbLabels {
    /// `state` (the namespace) or `raft_log`.
    pub db: &'static str,
}

/// Where a node's memory goes, read when `/metrics` is scraped. Each part has a size key
/// (README, "Memory").
pub struct MemoryGauges {
    /// The process's resident set (`/proc/self/statm`).
    pub resident: Gauge,
    /// The process's threads (`/proc/self/status`): each costs a stack and an allocator heap.
    pub threads: Gauge,
    /// The block cache both databases share (`omring.db.block.cache.size`).
    pub block_cache: Gauge,
    /// Memtables per database (`omring.db.write.buffer.size` each).
    pub memtables: Family<DbLabels, Gauge>,
    /// SST readers' index and filter blocks per database, outside the block cache (they grow
    /// with the data; README, "Memory").
    pub table_readers: Family<DbLabels, Gauge>,
    /// glibc's malloc heap, where RocksDB allocates (its memtables, cache and readers are part of
    /// it): bytes in use and bytes freed but kept by the allocator.
    pub c_heap: Family<HeapLabels, Gauge>,
    /// The Raft log's in-memory suffix (`omring.raft.log.cache.entries` / `.size`).
    pub log_cache_bytes: Gauge,
    pub log_cache_entries: Gauge,
    /// The volume, bucket and prefix tables, held whole (they grow with their rows; no size key).
    pub whole_tables_rows: Gauge,
    pub whole_tables_bytes: Gauge,
}

/// `state` of the C heap's bytes: [`HEAP_IN_USE`] or [`HEAP_FREE`].
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HeapLabels {
    pub state: &'static str,
}
pub const HEAP_IN_USE: &str = "in_use";
pub const HEAP_FREE: &str = "free";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabels {
    pub op: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

/// All metrics of a node, registered once at start.
pub struct NodeMetrics {
    pub registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_seconds: Family<OpLabels, Histogram, fn() -> Histogram>,
    pub flush_batch_size: Histogram,
    pub flushes: Counter,
    pub flushed_transactions: Counter,
    pub flush_seconds: Histogram,
    /// Client writes per Raft entry this node proposed as leader.
    pub proposal_commands: Histogram,
    pub raft_term: Gauge,
    pub raft_is_leader: Gauge,
    pub raft_last_log_index: Gauge,
    pub raft_commit_index: Gauge,
    pub raft_applied_index: Gauge,
    /// Last log index purged behind a snapshot (entries up to it can only be sent as a snapshot).
    pub raft_purged_index: Gauge,
    pub flushed_index: Gauge,
    pub ready: Gauge,
    pub tls_certificate_not_after: Gauge,
    /// Snapshots received and installed from a leader.
    pub snapshots_installed: Counter,
    pub snapshot_received_bytes: Counter,
    /// Seconds spent receiving snapshot bytes (rate = bytes / seconds).
    pub snapshot_receive_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    /// Open keys this node, as leader, expired (moved to the deleted-keys table).
    pub open_keys_expired: Counter,
    pub memory: MemoryGauges,
}

impl NodeMetrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("om");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("requests", "Client requests by operation and result", requests.clone());
        let request_seconds = Family::<OpLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register("request_seconds", "Client request latency", request_seconds.clone());
        let flush_batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 16));
        registry.register(
            "double_buffer_flush_batch_size",
            "Transactions written per double-buffer flush",
            flush_batch_size.clone(),
        );
        let flushes = Counter::default();
        registry.register("double_buffer_flushes", "Double-buffer flushes", flushes.clone());
        let flushed_transactions = Counter::default();
        registry.register(
            "double_buffer_flushed_transactions",
            "Transactions written by the double buffer",
            flushed_transactions.clone(),
        );
        let flush_seconds = latency_histogram();
        registry.register("double_buffer_flush_seconds", "Time to write one flush batch", flush_seconds.clone());
        let proposal_commands = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        registry.register(
            "proposal_commands",
            "Client writes per Raft entry proposed by this node as leader",
            proposal_commands.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let raft_term = gauge(&mut registry, "raft_term", "Current Raft term");
        let raft_is_leader = gauge(&mut registry, "raft_is_leader", "1 if this node is the leader");
        let raft_last_log_index = gauge(&mut registry, "raft_last_log_index", "Last Raft log index");
        let raft_commit_index = gauge(&mut registry, "raft_commit_index", "Raft commit index");
        let raft_applied_index = gauge(&mut registry, "raft_applied_index", "Last applied log index");
        let raft_purged_index = gauge(&mut registry, "raft_purged_index", "Last log index purged behind a snapshot");
        let snapshots_installed = Counter::default();
        registry.register(
            "snapshots_installed",
            "Snapshots received from a leader and installed",
            snapshots_installed.clone(),
        );
        let snapshot_received_bytes = Counter::default();
        registry.register(
            "snapshot_received_bytes",
            "Snapshot bytes received from a leader",
            snapshot_received_bytes.clone(),
        );
        let snapshot_receive_seconds = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "snapshot_receive_seconds",
            "Seconds spent receiving snapshots",
            snapshot_receive_seconds.clone(),
        );
        let open_keys_expired = Counter::default();
        registry.register(
            "open_keys_expired",
            "Open keys older than ozone.om.open.key.expire.threshold moved to the deleted-keys table by this node as leader",
            open_keys_expired.clone(),
        );
        let flushed_index = gauge(&mut registry, "double_buffer_flushed_index", "Last log index written to RocksDB");
        let ready = gauge(&mut registry, "ready", "1 if the node is ready");
        let tls_certificate_not_after = gauge(
            &mut registry,
            "tls_certificate_not_after_seconds",
            "Expiry (seconds since the epoch) of the TLS certificate this node serves now; 0 without TLS",
        );
        let memtables = Family::<DbLabels, Gauge>::default();
        registry.register("memory_memtable_bytes", "Bytes in RocksDB memtables, per database", memtables.clone());
        let table_readers = Family::<DbLabels, Gauge>::default();
        registry.register(
            "memory_table_reader_bytes",
            "Bytes of RocksDB's open SST file readers (their index and filter blocks, outside the block cache), per database",
            table_readers.clone(),
        );
        let c_heap = Family::<HeapLabels, Gauge>::default();
        registry.register(
            "memory_c_heap_bytes",
            "Bytes of glibc's malloc heap, where RocksDB allocates (in om-node, Rust's own allocations go to mimalloc), by state: in_use or free (freed but kept)",
            c_heap.clone(),
        );
        let memory = MemoryGauges {
            c_heap,
            resident: gauge(&mut registry, "memory_resident_bytes", "Resident set size of the node process"),
            threads: gauge(&mut registry, "memory_threads", "Threads of the node process"),
            block_cache: gauge(&mut registry, "memory_block_cache_bytes", "Bytes in the shared RocksDB block cache"),
            memtables,
            table_readers,
            log_cache_bytes: gauge(
                &mut registry,
                "memory_raft_log_cache_bytes",
                "Bytes of Raft log entries kept in memory",
            ),
            log_cache_entries: gauge(&mut registry, "memory_raft_log_cache_entries", "Raft log entries kept in memory"),
            whole_tables_rows: gauge(
                &mut registry,
                "memory_whole_tables_rows",
                "Rows of the volume, bucket and prefix tables, which every node holds whole in memory",
            ),
            whole_tables_bytes: gauge(
                &mut registry,
                "memory_whole_tables_bytes",
                "Estimated bytes of the volume, bucket and prefix tables held in memory (keys, values, 64 bytes a row)",
            ),
        };
        Arc::new(Self {
            memory,
            registry,
            requests,
            request_seconds,
            flush_batch_size,
            flushes,
            flushed_transactions,
            flush_seconds,
            proposal_commands,
            raft_term,
            raft_is_leader,
            raft_last_log_index,
            raft_commit_index,
            raft_applied_index,
            raft_purged_index,
            flushed_index,
            snapshots_installed,
            snapshot_received_bytes,
            snapshot_receive_seconds,
            open_keys_expired,
            ready,
            tls_certificate_not_after,
        })
    }

    pub fn observe_flush(&self, transactions: usize, took: Duration) {
        self.flush_batch_size.observe(transactions as f64);
        self.flushes.inc();
        self.flushed_transactions.inc_by(transactions as u64);
        self.flush_seconds.observe(took.as_secs_f64());
    }

    /// Records one request, started at `started`, by its result: `OK` or its error code.
    pub fn observe_result<T>(
        &self,
        op: &'static str,
        started: std::time::Instant,
        result: &Result<T, om_client::wire::ApiError>,
    ) {
        let code = result.as_ref().err().map(|e| e.code.as_str()).unwrap_or("OK");
        self.observe_request(op, code, started.elapsed());
    }

    pub fn observe_request(&self, op: &'static str, result: &'static str, took: Duration) {
        self.requests.get_or_create(&RequestLabels { op, result }).inc();
        self.request_seconds.get_or_create(&OpLabels { op }).observe(took.as_secs_f64());
    }

    /// Mean transactions per double-buffer flush so far.
    pub fn mean_flush_batch(&self) -> f64 {
        let f = self.flushes.get();
        if f == 0 {
            0.0
        } else {
            self.flushed_transactions.get() as f64 / f as f64
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
