//! State shared by every reconcile and by the eviction webhook.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// How long an eviction attempt seen by the webhook counts as a reason to move leadership.
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

/// Recent eviction attempts per pod (`namespace/name`), as the webhook saw them.
#[derive(Debug, Default)]
pub struct EvictionBook {
    seen: Mutex<HashMap<(String, String), Instant>>,
}

impl EvictionBook {
    pub fn record(&self, namespace: &str, pod: &str) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert((namespace.to_string(), pod.to_string()), Instant::now());
        }
    }

    /// Forgets a pod (its eviction went through, or it is no longer the leader).
    pub fn forget(&self, namespace: &str, pod: &str) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.remove(&(namespace.to_string(), pod.to_string()));
        }
    }

    /// Pods of `namespace` with an attempt younger than `memory`; forgets older ones.
    pub fn recent(&self, namespace: &str, memory: Duration) -> BTreeSet<String> {
        let Ok(mut seen) = self.seen.lock() else { return BTreeSet::new() };
        seen.retain(|_, at| at.elapsed() < memory);
        seen.keys().filter(|(ns, _)| ns == namespace).map(|(_, pod)| pod.clone()).collect()
    }
}

/// At most one leadership transfer per ring at a time from this process.
#[derive(Debug, Default)]
pub struct TransferGuard {
    running: Mutex<HashSet<String>>,
}

/// Held while a transfer runs; releases the ring on drop.
pub struct TransferPermit<'a> {
    guard: &'a TransferGuard,
    key: String,
}

impl TransferGuard {
    pub fn try_begin(&self, ring_key: &str) -> Option<TransferPermit<'_>> {
        let mut running = self.running.lock().ok()?;
        running.insert(ring_key.to_string()).then(|| TransferPermit { guard: self, key: ring_key.to_string() })
    }
}

impl Drop for TransferPermit<'_> {
    fn drop(&mut self) {
        if let Ok(mut running) = self.guard.running.lock() {
            running.remove(&self.key);
        }
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
    pub evictions: EvictionBook,
    pub transfers: TransferGuard,
    pub failures: FailureCounts,
    pub timing: Timing,
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
            evictions: EvictionBook::default(),
            transfers: TransferGuard::default(),
            failures: FailureCounts::default(),
            timing,
        }
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
    fn eviction_book_forgets_old_attempts_and_separates_namespaces() {
        let book = EvictionBook::default();
        book.record("a", "om-0");
        book.record("b", "om-1");
        assert_eq!(book.recent("a", Duration::from_secs(60)), BTreeSet::from(["om-0".to_string()]));
        book.forget("b", "om-1");
        assert!(book.recent("b", Duration::from_secs(60)).is_empty());
        assert!(book.recent("a", Duration::ZERO).is_empty());
    }

    #[test]
    fn one_transfer_per_ring() {
        let g = TransferGuard::default();
        let first = g.try_begin("ns/om");
        assert!(first.is_some());
        assert!(g.try_begin("ns/om").is_none());
        assert!(g.try_begin("ns/other").is_some());
        drop(first);
        assert!(g.try_begin("ns/om").is_some());
    }

    #[test]
    fn failure_counts_grow_and_reset() {
        let f = FailureCounts::default();
        assert_eq!(f.fail("x"), 1);
        assert_eq!(f.fail("x"), 2);
        f.reset("x");
        assert_eq!(f.fail("x"), 1);
    }
}
