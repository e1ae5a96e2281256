//! Prometheus metrics of the operator. Every label takes values from a fixed set (results,
//! step kinds, transfer reasons, webhook decisions): never ring or pod names.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Outcome {
    Ok,
    Error,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    /// `Step::kind()`: a fixed set.
    pub step: &'static str,
    pub result: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransferLabels {
    /// `TransferReason::as_str()`: a fixed set.
    pub reason: &'static str,
    pub result: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Decision {
    Allowed,
    Denied,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub decision: Decision,
}

/// All metrics, registered once.
pub struct Metrics {
    pub registry: Registry,
    pub reconciles: Family<ResultLabels, Counter>,
    pub reconcile_seconds: Histogram,
    pub steps: Family<StepLabels, Counter>,
    pub leader_transfers: Family<TransferLabels, Counter>,
    pub evictions_reviewed: Family<DecisionLabels, Counter>,
    pub invalid_objects: Counter,
    pub is_leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("omring_operator");
        let reconciles = Family::<ResultLabels, Counter>::default();
        registry.register("reconciles", "Reconciles of rings by result", reconciles.clone());
        let reconcile_seconds = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register("reconcile_duration_seconds", "Time one reconcile took", reconcile_seconds.clone());
        let steps = Family::<StepLabels, Counter>::default();
        registry.register("steps", "Ring operations performed by kind and result", steps.clone());
        let leader_transfers = Family::<TransferLabels, Counter>::default();
        registry.register("leader_transfers", "Leadership transfers by reason and result", leader_transfers.clone());
        let evictions_reviewed = Family::<DecisionLabels, Counter>::default();
        registry.register("evictions_reviewed", "Pod evictions reviewed by the webhook", evictions_reviewed.clone());
        let invalid_objects = Counter::default();
        registry.register("invalid_objects", "Rings that could not be read or validated", invalid_objects.clone());
        let is_leader = Gauge::default();
        registry.register("is_leader", "1 while this replica holds the leader Lease", is_leader.clone());
        Self {
            registry,
            reconciles,
            reconcile_seconds,
            steps,
            leader_transfers,
            evictions_reviewed,
            invalid_objects,
            is_leader,
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_bounded_labels() {
        let m = Metrics::new();
        m.reconciles.get_or_create(&ResultLabels { result: Outcome::Ok }).inc();
        m.steps.get_or_create(&StepLabels { step: "join", result: Outcome::Error }).inc();
        m.leader_transfers.get_or_create(&TransferLabels { reason: "NodeCordoned", result: Outcome::Ok }).inc();
        let text = m.render();
        assert!(text.contains("omring_operator_reconciles_total{result=\"Ok\"} 1"), "{text}");
        assert!(text.contains("omring_operator_steps_total{step=\"join\",result=\"Error\"} 1"), "{text}");
        assert!(text.contains("omring_operator_leader_transfers_total{reason=\"NodeCordoned\",result=\"Ok\"} 1"));
    }
}
