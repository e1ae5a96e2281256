//! What a run measured, kept as `results.json` so the report and the chart can be redrawn
//! without re-running.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Workload names (stable: the report and chart key on them).
pub const KEY: &str = "key-create-commit";
pub const BUCKET: &str = "bucket-create";
pub const PUT256: &str = "write-256B";
pub const READ: &str = "linearizable-read";

/// System names.
pub const OMRING: &str = "omring";
pub const ETCD: &str = "etcd";
pub const OZONE: &str = "ozone";
/// Ozone measured by its own tool (freon), ops/s only.
pub const OZONE_FREON: &str = "ozone-freon";
/// freon (Ozone's own load generator, the same jars and arguments) against omring.
pub const OMRING_FREON: &str = "omring-freon";

/// One system, one workload, one client count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub system: String,
    pub workload: String,
    pub clients: usize,
    pub ops: u64,
    pub errors: u64,
    pub secs: f64,
    pub ops_per_sec: f64,
    /// None when the tool does not report latencies (freon).
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Server CPU seconds (all voters) per 1,000 successful operations.
    pub cpu_s_per_1k: Option<f64>,
    /// CPU seconds of the load generator per 1,000 operations (it shares the machine with the
    /// servers): omring-bench's own process, etcd's `benchmark`, Ozone's OmDriver JVM.
    #[serde(default)]
    pub client_cpu_s_per_1k: Option<f64>,
    /// RSS of each voter after the step, MiB.
    pub rss_mib: Vec<f64>,
    /// /proc/loadavg when the step started.
    pub load_before: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// Repeated timings of one availability event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Availability {
    pub system: String,
    /// `kill-leader` (kill -9, then time to the first successful write) or `transfer`
    /// (requested leader transfer, time until the transfer call returned and until the first
    /// write on the new leader succeeded).
    pub event: String,
    /// Milliseconds to the first successful write after the event, one per trial.
    pub to_first_write_ms: Vec<f64>,
    /// For transfers: how long the transfer call itself took, one per trial.
    #[serde(default)]
    pub call_ms: Vec<f64>,
    /// For kills (where measured): when the survivors first agreed on a ready new leader, one
    /// per trial; the rest of `to_first_write_ms` is the client finding it.
    #[serde(default)]
    pub leader_ms: Vec<f64>,
    #[serde(default)]
    pub note: Option<String>,
}

impl Availability {
    pub fn new(system: &str, event: &str) -> Self {
        Availability {
            system: system.into(),
            event: event.into(),
            to_first_write_ms: Vec::new(),
            call_ms: Vec::new(),
            leader_ms: Vec::new(),
            note: None,
        }
    }
}

/// fsync latency of the disk under the results directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FsyncProbe {
    pub path: String,
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    /// fsyncs per second with three writers syncing their own files at once (three voters on
    /// one disk).
    pub concurrent3_fsyncs_per_sec: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Meta {
    pub started: String,
    pub command: String,
    pub cpus: usize,
    pub cpu_model: String,
    pub load_at_start: String,
    pub load_at_end: String,
    pub versions: Vec<(String, String)>,
    pub settings: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    pub meta: Meta,
    pub rows: Vec<Row>,
    pub availability: Vec<Availability>,
    pub fsync: Option<FsyncProbe>,
    /// What did not work, or was measured differently, and why.
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("writing {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("parsing {path}: {source}")]
    Parse { path: String, source: serde_json::Error },
}

impl Results {
    pub fn save(&self, path: &Path) -> Result<(), ResultsError> {
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|source| ResultsError::Write { path: path.display().to_string(), source })
    }

    pub fn load(path: &Path) -> Result<Self, ResultsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ResultsError::Read { path: path.display().to_string(), source })?;
        serde_json::from_str(&text).map_err(|source| ResultsError::Parse { path: path.display().to_string(), source })
    }

    pub fn row(&self, system: &str, workload: &str, clients: usize) -> Option<&Row> {
        self.rows.iter().find(|r| r.system == system && r.workload == workload && r.clients == clients)
    }

    pub fn availability(&self, system: &str, event: &str) -> Option<&Availability> {
        self.availability.iter().find(|a| a.system == system && a.event == event)
    }
}

/// Median of samples (0 when empty).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[s.len() / 2]
}
