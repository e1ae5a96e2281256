//! What the scenario tests are written with: a real cluster of `e2e/nodes/` ([`cluster`]), the
//! operator installed with helm from the chart ([`operator`]), names resolved at the cluster's
//! CoreDNS ([`dns`]), ring helpers that read what a user would read ([`ring`]) and a client load
//! that counts acknowledged and failed writes ([`load`]).

pub mod bins;
pub mod certmanager;
pub mod cluster;
pub mod dns;
pub mod load;
pub mod operator;
pub mod ring;

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use cluster::{Cluster, ClusterInfo, ClusterSpec};
pub use load::{Load, LoadReport};

/// Errors of the harness (setup, commands, waits).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Command { cmd: String, status: String, stderr: String },
    #[error("timed out after {waited:?} waiting for {what}; last seen: {last}")]
    Timeout { what: String, waited: Duration, last: String },
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{what}: {source}")]
    Kube { what: String, source: kube::Error },
    #[error("{0}")]
    Setup(String),
    #[error("{0}")]
    Check(String),
}

pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// The repository root (the e2e crate's parent directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."))
}

/// Polls `check` every `every` until it yields `Ok(Some(_))`, or fails with the last thing it
/// saw (`Err(text)` or `Ok(None)` keep it polling; the text goes into the timeout message).
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, every: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<Option<T>, String>>,
{
    let start = Instant::now();
    let mut last = String::from("(nothing yet)");
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = e,
        }
        if start.elapsed() >= timeout {
            return Err(HarnessError::Timeout { what: what.into(), waited: start.elapsed(), last });
        }
        tokio::time::sleep(every).await;
    }
}

/// Prints a timestamped progress line (visible with `--nocapture` and in CI logs on failure).
pub fn step(msg: impl AsRef<str>) {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = t.as_secs() % 86400;
    eprintln!("[{:02}:{:02}:{:02}] {}", secs / 3600, (secs / 60) % 60, secs % 60, msg.as_ref());
}
