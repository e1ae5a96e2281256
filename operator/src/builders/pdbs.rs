//! Two PodDisruptionBudgets split by the role label: the leader pod is never evictable (the
//! operator moves leadership away first, then the label follows), followers one at a time.
//! Not-ready pods may always be evicted, so a crashed node never blocks a drain. A one-node
//! ring gets none: with nobody to take over, a leader budget would block every drain.
//!
//! Both use an integer `minAvailable`: with `maxUnavailable` the disruption controller counts
//! the pods expected from the StatefulSet's scale (all N), not the pods the role selector
//! matches, and would never allow a follower eviction.

use std::collections::BTreeMap;

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::child_meta;
use crate::model::RingModel;
use crate::names::{LABEL_ROLE, ROLE_FOLLOWER, ROLE_LEADER};

/// Whether the ring gets budgets at all.
pub fn wanted(model: &RingModel) -> bool {
    model.pdb_enabled && model.replicas > 1
}

fn budget(model: &RingModel, name: String, role: &str, min_available: i32) -> PodDisruptionBudget {
    let mut labels: BTreeMap<String, String> = model.names.selector_labels();
    labels.insert(LABEL_ROLE.into(), role.into());
    PodDisruptionBudget {
        metadata: child_meta(model, name),
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(min_available)),
            selector: Some(LabelSelector { match_labels: Some(labels), ..Default::default() }),
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `<name>-leader`: the one leader pod must stay available.
pub fn leader(model: &RingModel) -> PodDisruptionBudget {
    budget(model, model.names.leader_pdb(), ROLE_LEADER, 1)
}

/// `<name>-followers`: one follower at a time out of a ring of `ring_size` nodes (the larger
/// of the desired size and the current membership, so a shrinking ring stays protected).
pub fn followers(model: &RingModel, ring_size: u32) -> PodDisruptionBudget {
    let min = i32::try_from(ring_size.saturating_sub(2)).unwrap_or(i32::MAX);
    budget(model, model.names.followers_pdb(), ROLE_FOLLOWER, min)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::golden;

    #[test]
    fn golden_leader() {
        golden::check("pdb-leader", &leader(&golden::model()));
    }

    #[test]
    fn golden_followers() {
        golden::check("pdb-followers", &followers(&golden::model(), 3));
    }

    #[test]
    fn followers_budget_leaves_one_follower_out_of_the_larger_ring() {
        let m = golden::model();
        let min = |size| followers(&m, size).spec.unwrap().min_available;
        assert_eq!(min(3), Some(IntOrString::Int(1)));
        assert_eq!(min(5), Some(IntOrString::Int(3)));
        assert_eq!(min(2), Some(IntOrString::Int(0)));
        assert_eq!(leader(&m).spec.unwrap().min_available, Some(IntOrString::Int(1)));
    }

    #[test]
    fn none_for_one_node_or_when_disabled() {
        let mut m = golden::model();
        assert!(wanted(&m));
        m.replicas = 1;
        assert!(!wanted(&m));
        m.replicas = 3;
        m.pdb_enabled = false;
        assert!(!wanted(&m));
    }
}
