//! Two PodDisruptionBudgets split by the role label: the leader pod is never evictable (the
//! operator moves leadership away first, then the label follows), followers one at a time.
//! Not-ready pods may always be evicted, so a crashed node never blocks a drain. A one-node
//! ring gets none: with nobody to take over, a leader budget would block every drain.

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

fn budget(model: &RingModel, name: String, role: &str, max_unavailable: i32) -> PodDisruptionBudget {
    let mut labels: BTreeMap<String, String> = model.names.selector_labels();
    labels.insert(LABEL_ROLE.into(), role.into());
    PodDisruptionBudget {
        metadata: child_meta(model, name),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(max_unavailable)),
            selector: Some(LabelSelector { match_labels: Some(labels), ..Default::default() }),
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `<name>-leader`: no voluntary disruption of the leader pod.
pub fn leader(model: &RingModel) -> PodDisruptionBudget {
    budget(model, model.names.leader_pdb(), ROLE_LEADER, 0)
}

/// `<name>-followers`: one follower at a time.
pub fn followers(model: &RingModel) -> PodDisruptionBudget {
    budget(model, model.names.followers_pdb(), ROLE_FOLLOWER, 1)
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
        golden::check("pdb-followers", &followers(&golden::model()));
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
