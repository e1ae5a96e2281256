//! What every reconcile and the eviction webhook share: clients, settings, metrics, timing.
//! Nothing here decides what happens to a ring (that state lives in the API server: the ring's
//! status, pod labels and annotations); the per-ring failure count only paces retries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::events::{Recorder, Reporter};

use crate::metrics::Metrics;
use crate::model::Settings;
use crate::ringclient::RingClient;

/// Periods and thresholds of the reconcile loop.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Requeue of a ring with nothing to do: how often roles in the status are refreshed.
    pub steady_requeue: Duration,
    /// Requeue while an operation is under way.
    pub busy_requeue: Duration,
    /// An outdated pod not ready for this long is replaced out of order.
    pub stuck_after: Duration,
    /// How long an eviction attempt recorded by the webhook counts as a reason to move leadership.
    pub eviction_memory: Duration,
    /// Longest error backoff.
    pub max_backoff: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            steady_requeue: Duration::from_secs(10),
            busy_requeue: Duration::from_secs(2),
            stuck_after: Duration::from_secs(120),
            eviction_memory: Duration::from_secs(60),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// The time certificates are judged by: the system clock, or a test's.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Consecutive failures per ring, for the error backoff (kube-runtime has none per object).
#[derive(Debug, Default)]
pub struct FailureCounts {
    counts: Mutex<HashMap<String, u32>>,
}

impl FailureCounts {
    pub fn fail(&self, key: &str) -> u32 {
        let Ok(mut c) = self.counts.lock() else { return 1 };
        let n = c.entry(key.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }
    pub fn reset(&self, key: &str) {
        if let Ok(mut c) = self.counts.lock() {
            c.remove(key);
        }
    }
}

/// Everything a reconcile needs.
pub struct Context {
    pub client: kube::Client,
    pub ring: Arc<dyn RingClient>,
    pub settings: Settings,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub failures: FailureCounts,
    pub timing: Timing,
    pub clock: Arc<dyn Clock>,
}

impl Context {
    pub fn new(
        client: kube::Client,
        ring: Arc<dyn RingClient>,
        settings: Settings,
        metrics: Arc<Metrics>,
        instance: Option<String>,
        timing: Timing,
    ) -> Self {
        let reporter = Reporter { controller: crate::names::FIELD_MANAGER.into(), instance };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            ring,
            settings,
            metrics,
            failures: FailureCounts::default(),
            timing,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same context judging time by `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Backoff after `n` consecutive failures: 1 s doubling up to the maximum.
    pub fn backoff(&self, n: u32) -> Duration {
        let secs = 1u64.checked_shl(n.saturating_sub(1).min(16)).unwrap_or(u64::MAX);
        Duration::from_secs(secs).min(self.timing.max_backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_counts_grow_and_reset() {
        let f = FailureCounts::default();
        assert_eq!(f.fail("x"), 1);
        assert_eq!(f.fail("x"), 2);
        f.reset("x");
        assert_eq!(f.fail("x"), 1);
    }
}
