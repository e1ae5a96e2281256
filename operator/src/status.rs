//! The ring's status, computed from what was observed and what the reconcile did.
//!
//! Pure, like the planner: roles come from the nodes' own answers (a node that does not
//! answer is UNREACHABLE and not ready), conditions carry reason, message and the generation
//! they describe, and a condition keeps its transition time while its status does not change
//! (so an unchanged ring does not rewrite its status).

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use om_client::wire::Role;

use crate::crd::{OzoneManagerRingStatus, RingNodeStatus};
use crate::model::RingModel;
use crate::plan::{leader, Observed, Plan, Step};

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const DEGRADED: &str = "Degraded";
pub const CONFIG_ACCEPTED: &str = "ConfigAccepted";

/// What the reconcile's step achieved, in words for the Progressing condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    /// PascalCase reason (bounded set).
    pub reason: &'static str,
    pub message: String,
}

impl StepReport {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self { reason, message: message.into() }
    }
}

fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    Condition {
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: reason.into(),
        message,
        observed_generation: generation,
        last_transition_time: now.clone(),
    }
}

/// Keeps the previous transition time of conditions whose status did not change.
fn carry_transition_times(new: &mut [Condition], old: &[Condition]) {
    for c in new {
        if let Some(prev) = old.iter().find(|p| p.type_ == c.type_ && p.status == c.status) {
            c.last_transition_time = prev.last_transition_time.clone();
        }
    }
}

/// Nodes shown in the status: configured, member or running a pod.
fn shown_ordinals(o: &Observed) -> BTreeSet<u32> {
    let mut s: BTreeSet<u32> = o.nodes.iter().map(|n| n.ordinal).collect();
    s.extend(o.pods.iter().map(|p| p.ordinal));
    s
}

/// Status of a ring the operator could observe.
pub fn compute(
    model: &RingModel,
    o: &Observed,
    plan: &Plan,
    report: &StepReport,
    old: Option<&OzoneManagerRingStatus>,
    now: Time,
) -> OzoneManagerRingStatus {
    let names = &model.names;
    let gen = model.generation;
    let leader = leader(&o.nodes);
    let leader_applied = leader.map(|(_, s)| s.applied_index);
    // Pods this reconcile just deleted were observed ready, but are not any more.
    let deleted_now: Vec<u32> = match &plan.step {
        crate::plan::Step::DeletePod { ordinal, .. } => vec![*ordinal],
        crate::plan::Step::RestartAll { pods, .. } => pods.iter().filter_map(|p| names.ordinal_of(&p.name)).collect(),
        _ => Vec::new(),
    };
    let pod_ready =
        |ord: u32| !deleted_now.contains(&ord) && o.pods.iter().any(|p| p.ordinal == ord && p.ready && !p.terminating);

    let mut nodes = Vec::new();
    let mut ready_replicas = 0;
    for ord in shown_ordinals(o) {
        let view = o.nodes.iter().find(|n| n.ordinal == ord);
        let mut entry = RingNodeStatus {
            node_id: names.pod(ord),
            pod: names.pod(ord),
            role: Role::Unreachable.as_str().into(),
            hostname: names.host(ord),
            ..Default::default()
        };
        if let Some(Ok(s)) = view.map(|v| &v.status) {
            entry.role = if leader.is_some_and(|(l, _)| l == ord) || s.role != Role::Leader {
                s.role.as_str().into()
            } else {
                // A node still claiming leadership in an older term.
                Role::Follower.as_str().into()
            };
            entry.term = i64::try_from(s.term).ok();
            entry.applied_index = i64::try_from(s.applied_index).ok();
            entry.lag = leader_applied.and_then(|l| i64::try_from(l.saturating_sub(s.applied_index)).ok());
            entry.ready = s.ready && pod_ready(ord);
        }
        if entry.ready {
            ready_replicas += 1;
        }
        nodes.push(entry);
    }

    // Available: a leader and a ready quorum of voters.
    let (available, avail_reason, avail_msg) = match leader {
        None => (false, "NoLeader", "no node reports being the leader".to_string()),
        Some((lord, ls)) => {
            let voters: Vec<u32> =
                ls.members.iter().filter(|m| m.voter).filter_map(|m| names.ordinal_of(&m.node_id)).collect();
            let ready_voters =
                voters.iter().filter(|v| nodes.iter().any(|n| n.node_id == names.pod(**v) && n.ready)).count();
            let quorum = voters.len() / 2 + 1;
            let msg = format!(
                "leader {}; {ready_voters} of {} voters ready (quorum {quorum})",
                names.pod(lord),
                voters.len()
            );
            if ready_voters >= quorum {
                (true, "QuorumReady", msg)
            } else {
                (false, "QuorumNotReady", msg)
            }
        }
    };

    // Degraded: a desired node or a member is not ready.
    let mut expected: BTreeSet<u32> = model.desired_ordinals().collect();
    if let Some((_, ls)) = leader {
        expected.extend(ls.members.iter().filter_map(|m| names.ordinal_of(&m.node_id)));
    }
    let not_ready: Vec<String> = expected
        .iter()
        .filter(|ord| !nodes.iter().any(|n| n.node_id == names.pod(**ord) && n.ready))
        .map(|ord| {
            let role = nodes.iter().find(|n| n.node_id == names.pod(*ord)).map_or("no pod", |n| n.role.as_str());
            format!("{} ({role})", names.pod(*ord))
        })
        .collect();
    let (degraded, deg_reason, deg_msg) = if not_ready.is_empty() {
        (false, "AllNodesReady", format!("{} nodes ready", expected.len()))
    } else {
        (true, "NodesNotReady", format!("not ready: {}", not_ready.join(", ")))
    };

    let progressing = !matches!(plan.step, Step::Idle);
    let (config_ok, cfg_reason, cfg_msg) = if model.ignored_config_keys.is_empty() {
        (true, "Accepted", "every spec.config key is in ozone-site.xml".to_string())
    } else {
        (
            false,
            "OperatorOwnedKeys",
            format!(
                "ignored spec.config keys the operator owns (node lists, addresses, node id, database directory): {}",
                model.ignored_config_keys.join(", ")
            ),
        )
    };

    let mut conditions = vec![
        condition(AVAILABLE, available, avail_reason, avail_msg, gen, &now),
        condition(PROGRESSING, progressing, report.reason, report.message.clone(), gen, &now),
        condition(DEGRADED, degraded, deg_reason, deg_msg, gen, &now),
        condition(CONFIG_ACCEPTED, config_ok, cfg_reason, cfg_msg, gen, &now),
    ];
    if let Some(old) = old {
        carry_transition_times(&mut conditions, &old.conditions);
    }

    OzoneManagerRingStatus {
        replicas: o.pods.iter().filter(|p| !p.terminating).count() as i32,
        ready_replicas,
        selector: names.selector_string(),
        leader: leader.map(|(l, _)| names.pod(l)),
        nodes,
        conditions,
        observed_generation: gen,
        removed_members: plan.removed_members.iter().map(|r| names.pod(*r)).collect(),
        // The reconcile fills in the certificates' status (crate::pki).
        tls: None,
    }
}

/// Status of a ring whose spec is invalid: the previous node list stays, Degraded says why.
pub fn invalid_spec(
    old: Option<&OzoneManagerRingStatus>,
    generation: Option<i64>,
    selector: String,
    message: String,
    now: Time,
) -> OzoneManagerRingStatus {
    held(old, generation, selector, "InvalidSpec", message, now)
}

/// Sets (or replaces) one condition, keeping its transition time while its status stays.
#[allow(clippy::too_many_arguments)]
pub fn set_condition(
    status: &mut OzoneManagerRingStatus,
    old: Option<&OzoneManagerRingStatus>,
    type_: &str,
    value: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: Time,
) {
    let mut c = [condition(type_, value, reason, message, generation, &now)];
    if let Some(old) = old {
        carry_transition_times(&mut c, &old.conditions);
    }
    status.conditions.retain(|x| x.type_ != type_);
    status.conditions.extend(c);
}

/// Status of a ring the operator does not act on now (`reason`: an invalid spec, certificates
/// that cannot be trusted yet): the previous node list stays, Progressing and Degraded say why.
pub fn held(
    old: Option<&OzoneManagerRingStatus>,
    generation: Option<i64>,
    selector: String,
    reason: &str,
    message: String,
    now: Time,
) -> OzoneManagerRingStatus {
    let mut status = old.cloned().unwrap_or_default();
    status.selector = selector;
    status.observed_generation = generation;
    let mut conditions: Vec<Condition> =
        status.conditions.iter().filter(|c| c.type_ != DEGRADED && c.type_ != PROGRESSING).cloned().collect();
    conditions.push(condition(PROGRESSING, false, reason, message.clone(), generation, &now));
    conditions.push(condition(DEGRADED, true, reason, message, generation, &now));
    carry_transition_times(&mut conditions, &status.conditions);
    status.conditions = conditions;
    status
}

/// Whether two statuses differ in anything but noise (nothing is noise today; kept for clarity).
pub fn changed(old: Option<&OzoneManagerRingStatus>, new: &OzoneManagerRingStatus) -> bool {
    old != Some(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::ring;
    use crate::model::Settings;
    use crate::plan::tests::{desired, healthy, status};
    use crate::plan::{plan, NodeView};
    use k8s_openapi::jiff::Timestamp;

    fn model(replicas: u32) -> RingModel {
        RingModel::from_resource(&ring("om", serde_json::json!({"replicas": replicas})), &Settings::default()).unwrap()
    }

    fn t(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    fn cond<'a>(s: &'a OzoneManagerRingStatus, t: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == t).unwrap()
    }

    #[test]
    fn healthy_ring_status() {
        let o = healthy(3);
        let p = plan(&o, &desired(3));
        let s = compute(&model(3), &o, &p, &StepReport::new("Stable", "ok"), None, t(1));
        assert_eq!(s.leader.as_deref(), Some("om-0"));
        assert_eq!((s.replicas, s.ready_replicas), (3, 3));
        assert_eq!(s.selector, "app.kubernetes.io/instance=om,app.kubernetes.io/name=omring");
        assert_eq!(s.nodes.iter().map(|n| n.role.as_str()).collect::<Vec<_>>(), ["LEADER", "FOLLOWER", "FOLLOWER"]);
        assert_eq!(s.nodes[1].lag, Some(0));
        assert_eq!(cond(&s, AVAILABLE).status, "True");
        assert_eq!(cond(&s, PROGRESSING).status, "False");
        assert_eq!(cond(&s, DEGRADED).status, "False");
        assert_eq!(cond(&s, CONFIG_ACCEPTED).status, "True");
        assert!(s.conditions.iter().all(|c| c.observed_generation == Some(1)));
    }

    #[test]
    fn a_pod_deleted_by_this_reconcile_is_not_counted_ready() {
        let o = healthy(3);
        let mut p = plan(&o, &desired(3));
        let pod = o.pods.iter().find(|p| p.ordinal == 1).unwrap();
        p.step = crate::plan::Step::DeletePod {
            ordinal: 1,
            name: pod.name.clone(),
            uid: pod.uid.clone(),
            reason: crate::plan::RestartReason::Rollout,
        };
        let s = compute(&model(3), &o, &p, &StepReport::new("RollingRestart", "restarting om-1"), None, t(1));
        assert!(!s.nodes[1].ready);
        assert_eq!(s.ready_replicas, 2);
        assert_eq!(cond(&s, AVAILABLE).status, "True", "2 of 3 is a quorum");
        assert_eq!(cond(&s, PROGRESSING).status, "True");
    }

    #[test]
    fn unreachable_node_is_not_ready_and_degrades() {
        let mut o = healthy(3);
        o.nodes.retain(|n| n.ordinal != 2);
        o.nodes.push(NodeView { ordinal: 2, status: Err("timed out".into()) });
        let s = compute(&model(3), &o, &plan(&o, &desired(3)), &StepReport::new("Stable", "ok"), None, t(1));
        assert_eq!(s.nodes[2].role, "UNREACHABLE");
        assert!(!s.nodes[2].ready);
        assert_eq!(s.ready_replicas, 2);
        assert_eq!(cond(&s, AVAILABLE).status, "True", "2 of 3 is a quorum");
        let d = cond(&s, DEGRADED);
        assert_eq!((d.status.as_str(), d.reason.as_str()), ("True", "NodesNotReady"));
        assert!(d.message.contains("om-2 (UNREACHABLE)"), "{}", d.message);
    }

    #[test]
    fn lost_quorum_is_not_available() {
        let mut o = healthy(3);
        for ord in [1, 2] {
            o.nodes.retain(|n| n.ordinal != ord);
            o.nodes.push(NodeView { ordinal: ord, status: Err("down".into()) });
        }
        let s = compute(&model(3), &o, &plan(&o, &desired(3)), &StepReport::new("Stable", "ok"), None, t(1));
        assert_eq!(cond(&s, AVAILABLE).reason, "QuorumNotReady");
        o.nodes.retain(|n| n.ordinal != 0);
        let s = compute(&model(3), &o, &plan(&o, &desired(3)), &StepReport::new("NoLeader", "x"), None, t(1));
        assert_eq!(cond(&s, AVAILABLE).reason, "NoLeader");
        assert_eq!(s.leader, None);
    }

    #[test]
    fn transition_times_survive_unchanged_conditions() {
        let o = healthy(3);
        let p = plan(&o, &desired(3));
        let first = compute(&model(3), &o, &p, &StepReport::new("Stable", "ok"), None, t(1));
        let again = compute(&model(3), &o, &p, &StepReport::new("Stable", "ok"), Some(&first), t(50));
        assert!(!changed(Some(&first), &again));
        let mut o2 = o.clone();
        o2.nodes.retain(|n| n.ordinal != 1);
        o2.nodes.push(NodeView { ordinal: 1, status: Err("down".into()) });
        let later =
            compute(&model(3), &o2, &plan(&o2, &desired(3)), &StepReport::new("Stable", "ok"), Some(&first), t(99));
        assert_eq!(cond(&later, DEGRADED).last_transition_time, t(99));
        assert_eq!(cond(&later, AVAILABLE).last_transition_time, t(1));
    }

    #[test]
    fn ignored_config_keys_are_named() {
        let m = RingModel::from_resource(
            &ring("om", serde_json::json!({"config": {"ozone.om.nodes.om": "x"}})),
            &Settings::default(),
        )
        .unwrap();
        let o = healthy(3);
        let s = compute(&m, &o, &plan(&o, &desired(3)), &StepReport::new("Stable", "ok"), None, t(1));
        let c = cond(&s, CONFIG_ACCEPTED);
        assert_eq!(c.status, "False");
        assert!(c.message.contains("ozone.om.nodes.om"), "{}", c.message);
    }

    #[test]
    fn a_stale_leader_shows_as_follower() {
        let mut o = healthy(3);
        let members: Vec<(u32, bool)> = (0..3).map(|x| (x, true)).collect();
        let mut newer = status(2, Role::Leader, &members, 100);
        newer.term = 9;
        o.nodes.retain(|n| n.ordinal != 2);
        o.nodes.push(NodeView { ordinal: 2, status: Ok(newer) });
        let s = compute(&model(3), &o, &plan(&o, &desired(3)), &StepReport::new("Stable", "ok"), None, t(1));
        assert_eq!(s.leader.as_deref(), Some("om-2"));
        assert_eq!(s.nodes[0].role, "FOLLOWER");
    }

    #[test]
    fn invalid_spec_keeps_nodes_and_degrades() {
        let o = healthy(3);
        let good = compute(&model(3), &o, &plan(&o, &desired(3)), &StepReport::new("Stable", "ok"), None, t(1));
        let bad = invalid_spec(Some(&good), Some(2), good.selector.clone(), "spec.replicas is 0".into(), t(5));
        assert_eq!(bad.nodes, good.nodes);
        assert_eq!(bad.observed_generation, Some(2));
        assert_eq!(cond(&bad, DEGRADED).reason, "InvalidSpec");
        assert_eq!(cond(&bad, AVAILABLE).status, "True");
    }
}
