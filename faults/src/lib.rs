//! omring's fault-injection suite, after etcd's robustness tests.
//!
//! A run starts a ring of real `om-node` processes from one `ozone-site.xml`, each in a network
//! namespace of its own on a bridge the run makes ([`net`], [`cluster`]). Clients drive a mix of
//! volume, bucket and key operations through the failover client and record every call as a
//! history ([`traffic`], [`history`]), while a nemesis injects faults on a schedule drawn from
//! the run's seed ([`nemesis`]). After the last heal, [`checks`] asks: is the history
//! linearizable (porcupine judges), did every acknowledged write survive, do the replicas agree,
//! and does the ring elect a leader that takes writes again? [`run`] ties one run together and
//! keeps everything of a failed one; [`campaign`] repeats runs and tabulates them.
//!
//! Named regression scenarios ([`scenario`]) replay the fault patterns of bugs found so far.

pub mod campaign;
pub mod checks;
pub mod cluster;
pub mod history;
pub mod nemesis;
pub mod net;
pub mod run;
pub mod scenario;
pub mod traffic;

use std::sync::OnceLock;
use std::time::Instant;

/// Errors of the suite itself (not findings about the ring: those are in a run's report).
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// The machine cannot run the suite (not root, a tool missing, a binary not built).
    #[error("cannot run the fault suite: {0}")]
    Setup(String),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("`{command}` failed ({status}): {stderr}")]
    Command { command: String, status: String, stderr: String },
    /// The ring did something the harness needed and could not get (a leader, a status).
    #[error("{0}")]
    Ring(String),
    #[error("{what}: {reason}")]
    Parse { what: String, reason: String },
}

pub type Result<T, E = FaultError> = std::result::Result<T, E>;

/// Milliseconds since the first call in this process, for log lines.
pub fn elapsed_ms() -> u128 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis()
}

/// A progress line on stderr, stamped with the time since the process started.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        eprintln!("[faults {:>7}ms] {}", $crate::elapsed_ms(), format!($($arg)*))
    };
}
