//! Node maintenance: members whose data volume is pinned to a Kubernetes Node (a local
//! PersistentVolume's nodeAffinity) that is cordoned, NotReady or gone. Part of the pure
//! planner: a function of [`Observed`] and [`Desired`] only.
//!
//! Such a member's pod cannot run anywhere else with its data. `spec.nodeMaintenance.reusePVC`
//! (default true, CloudNativePG's name and default) keeps the volume and waits for the Node,
//! the others keeping the quorum; the status names the member, its volume and the Node. With
//! false the member is replaced, one at a time, in three reconciles, each resumable from what
//! the API server and the ring say:
//! 1. [`Step::RemoveMember`]: the leader removes it from Raft (never the leader itself, and only
//!    while a majority of the current voters stays healthy), then its volume is marked.
//! 2. [`Step::DiscardVolume`]: its volume and pod are deleted (marked volume, not a member).
//! 3. The StatefulSet recreates pod and volume on a schedulable Node, and the scale-up path
//!    joins the node as a new member, as it joins any new pod. The node never forms a ring of
//!    its own: a node with empty storage that sees a ring without itself waits to be added.
//!
//! The node keeps its id and addresses throughout, so it is not listed as decommissioned (that
//! would have to be undone, on every member, before it could rejoin): the removal is Ozone's
//! `decommission --force`, the config check skipped. Its volume is recognised by the mark on
//! the object, not by name, so the new volume of the same ordinal is never taken for stale.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::plan::{wait, Desired, Discard, NodeTrouble, ObjectId, Observed, PvcView, Removal, Step};

/// Progressing reason: a member waits for the Node its volume is pinned to.
pub const WAITING_FOR_NODE: &str = "WaitingForNode";
/// Progressing reason: a member should be replaced, but it is not safe now.
pub const REPLACEMENT_BLOCKED: &str = "ReplacementBlocked";
/// Progressing reason (and event reason) of the steps of a replacement.
pub const REPLACING_MEMBER: &str = "ReplacingMember";
/// Waits that last until the cluster changes; polled at the steady period.
pub const LONG_WAITS: &[&str] = &[WAITING_FOR_NODE, REPLACEMENT_BLOCKED];

/// What node maintenance asks of this reconcile.
#[derive(Debug, Default)]
pub(crate) struct Maintenance {
    /// A step of a replacement, done before scale-up joins.
    pub step: Option<Step>,
    /// Why a member stays down, reported when nothing else is to be done.
    pub waiting: Option<Step>,
}

/// A node whose pod cannot run because of the Node its volume is pinned to.
struct Stranded<'a> {
    ordinal: u32,
    pvc: &'a PvcView,
    node: &'a str,
    trouble: NodeTrouble,
}

/// The ordinal's pod is down and its volume's Node is why. On a cordoned or missing Node a
/// pod that still runs is left alone (it may be serving); on a NotReady one it is down once
/// not ready. A node that says it is ready is never stranded.
fn stranded(o: &Observed, ordinal: u32) -> Option<Stranded<'_>> {
    let pvc = o.pvc(ordinal).filter(|v| !v.terminating)?;
    let node = pvc.node.as_deref()?;
    let trouble = *o.node_trouble.get(node)?;
    let pod = o.pod(ordinal).filter(|p| !p.terminating);
    let down = match trouble {
        NodeTrouble::Missing | NodeTrouble::Cordoned => !pod.is_some_and(|p| p.running),
        NodeTrouble::NotReady { .. } => !pod.is_some_and(|p| p.ready),
    };
    let answers_ready = o.node(ordinal).is_some_and(|s| s.ready);
    (down && !answers_ready).then_some(Stranded { ordinal, pvc, node, trouble })
}

/// Time left before a stranded member may be replaced (zero: now).
fn time_left(trouble: NodeTrouble, d: &Desired) -> Duration {
    match trouble {
        NodeTrouble::NotReady { since } => d.node_maintenance.replace_after.saturating_sub(since),
        NodeTrouble::Missing | NodeTrouble::Cordoned => Duration::ZERO,
    }
}

/// A voter that would keep the ring going: pod ready and the node ready by its own account.
fn healthy(o: &Observed, ordinal: u32) -> bool {
    o.pod(ordinal).is_some_and(|p| p.ready && !p.terminating) && o.node(ordinal).is_some_and(|s| s.ready)
}

/// Deletes what is left of a removed member: its volume, then its pod.
fn discard(o: &Observed, ordinal: u32, v: &PvcView) -> Step {
    let pod = o.pod(ordinal);
    // A NotReady or missing Node cannot confirm a graceful deletion: the pod would stay
    // Terminating and block its replacement. It left the ring already, so nothing is lost.
    let force = pod
        .and_then(|p| p.node_name.as_ref())
        .and_then(|n| o.node_trouble.get(n))
        .is_some_and(|t| matches!(t, NodeTrouble::NotReady { .. } | NodeTrouble::Missing));
    let pod = pod.filter(|p| !p.terminating || force).map(|p| ObjectId { name: p.name.clone(), uid: p.uid.clone() });
    let pvc = (!v.terminating).then(|| ObjectId { name: v.name.clone(), uid: v.uid.clone() });
    if pvc.is_none() && pod.is_none() {
        return wait(
            REPLACING_MEMBER,
            format!("waiting for volume {} and pod {} of the removed member to be gone", v.name, o.names.pod(ordinal)),
        );
    }
    Step::DiscardVolume(Discard { ordinal, pvc, pod, node: v.node.clone(), force })
}

/// What to do about members stranded by their volume's Node. `members` is the leader's view
/// (ordinal -> voter), `target` the desired ordinals.
pub(crate) fn assess(
    o: &Observed,
    d: &Desired,
    leader: u32,
    members: &BTreeMap<u32, bool>,
    target: &BTreeSet<u32>,
) -> Maintenance {
    let reuse = d.node_maintenance.reuse_pvc;

    // A replacement under way: a desired node that is not a member and still has the old
    // volume (marked, or, if the mark was never written, pinned to a Node past its delay).
    for &ord in target.iter().filter(|t| !members.contains_key(t)) {
        let Some(v) = o.pvc(ord) else { continue };
        let stale = v.removed_member || (!reuse && stranded(o, ord).is_some_and(|s| time_left(s.trouble, d).is_zero()));
        if stale {
            return Maintenance { step: Some(discard(o, ord, v)), waiting: None };
        }
    }

    let voters: Vec<u32> = members.iter().filter(|(_, v)| **v).map(|(m, _)| *m).collect();
    let settled = target.iter().all(|t| members.get(t) == Some(&true));
    let mut waiting = None;
    for &m in voters.iter().filter(|m| **m != leader && target.contains(m)) {
        let Some(s) = stranded(o, m) else { continue };
        let who = o.names.pod(s.ordinal);
        let (pvc, node, trouble) = (&s.pvc.name, s.node, s.trouble);
        let left = time_left(trouble, d);
        let why = if reuse {
            wait(
                WAITING_FOR_NODE,
                format!(
                    "{who} waits for Node {node}: its volume {pvc} is pinned there and the Node {trouble}; \
                     the other members keep the quorum (spec.nodeMaintenance.reusePVC=false would replace \
                     {who} on another Node)"
                ),
            )
        } else if !left.is_zero() {
            wait(
                WAITING_FOR_NODE,
                format!(
                    "{who} waits for Node {node}: its volume {pvc} is pinned there and the Node {trouble}; \
                     it is replaced on another Node in {}s (spec.nodeMaintenance.replaceAfterSeconds={})",
                    left.as_secs(),
                    d.node_maintenance.replace_after.as_secs()
                ),
            )
        } else if !settled {
            wait(
                REPLACEMENT_BLOCKED,
                format!(
                    "{who} (volume {pvc} on Node {node}, which {trouble}) is replaced once the membership \
                     change under way is done"
                ),
            )
        } else {
            // Removing a voter commits with a majority of the current voters, and the ring must
            // keep one afterwards: both need that many healthy voters besides this one.
            let need = voters.len() / 2 + 1;
            let others: Vec<u32> = voters.iter().copied().filter(|v| *v != m).collect();
            let fit = others.iter().filter(|v| healthy(o, **v)).count();
            if fit >= need {
                let pvc = ObjectId { name: s.pvc.name.clone(), uid: s.pvc.uid.clone() };
                return Maintenance {
                    step: Some(Step::RemoveMember(Removal { ordinal: m, pvc, node: node.to_string(), trouble })),
                    waiting: None,
                };
            }
            let unfit: Vec<String> = others.iter().filter(|v| !healthy(o, **v)).map(|v| o.names.pod(*v)).collect();
            wait(
                REPLACEMENT_BLOCKED,
                format!(
                    "not replacing {who} (volume {pvc} on Node {node}, which {trouble}): only {fit} of the other \
                     {} voters are healthy (not: {}), and removing a member needs {need} of the {} voters; \
                     waiting for them to recover",
                    others.len(),
                    unfit.join(", "),
                    voters.len()
                ),
            )
        };
        waiting.get_or_insert(why);
    }
    Maintenance { step: None, waiting }
}

#[cfg(test)]
mod tests {
    use om_client::wire::Role;

    use super::*;
    use crate::model::NodeMaintenance;
    use crate::plan::plan;
    use crate::plan::tests::{desired, healthy as ring, pod_mut, set_node, status};
    use crate::siteconfig::Membership;

    /// A 3-ring whose members' volumes are pinned to node-<ordinal>; `om-1`'s Node has
    /// `trouble` and its pod is Pending (not scheduled, not running).
    fn stranded_ring(trouble: NodeTrouble) -> Observed {
        let mut o = ring(3);
        for v in &mut o.pvcs {
            v.node = Some(format!("node-{}", v.ordinal));
        }
        o.node_trouble.insert("node-1".into(), trouble);
        if trouble == NodeTrouble::Cordoned {
            o.cordoned.insert("node-1".into());
        }
        let p = pod_mut(&mut o, 1);
        p.running = false;
        p.ready = false;
        p.node_name = None;
        set_node(&mut o, 1, Err("connection refused".into()));
        o
    }

    fn replacing(mut d: Desired) -> Desired {
        d.node_maintenance = NodeMaintenance { reuse_pvc: false, replace_after: Duration::from_secs(300) };
        d
    }

    fn voters(list: &[u32]) -> Vec<(u32, bool)> {
        list.iter().map(|o| (*o, true)).collect()
    }

    /// The ring after the leader removed om-1.
    fn removed_from_raft(o: &mut Observed) {
        let m = voters(&[0, 2]);
        set_node(o, 0, Ok(status(0, Role::Leader, &m, 100)));
        set_node(o, 2, Ok(status(2, Role::Follower, &m, 100)));
    }

    fn wait_of(step: &Step) -> (&'static str, &str) {
        match step {
            Step::Wait { reason, message } => (reason, message.as_str()),
            other => panic!("expected a wait, got {other:?}"),
        }
    }

    #[test]
    fn by_default_a_member_waits_for_its_node_and_the_status_says_so() {
        let o = stranded_ring(NodeTrouble::Cordoned);
        let p = plan(&o, &desired(3));
        let (reason, message) = wait_of(&p.step);
        assert_eq!(reason, WAITING_FOR_NODE);
        for part in ["om-1 waits for Node node-1", "data-om-1", "is cordoned", "reusePVC=false"] {
            assert!(message.contains(part), "{part}: {message}");
        }
        assert!(p.step.waits_on_the_cluster());
        assert_eq!(p.sts_replicas, 3);
    }

    #[test]
    fn a_cordoned_node_gets_its_member_removed_then_its_volume_deleted_then_joined_again() {
        let d = replacing(desired(3));
        let mut o = stranded_ring(NodeTrouble::Cordoned);
        let p = plan(&o, &d);
        assert_eq!(
            p.step,
            Step::RemoveMember(Removal {
                ordinal: 1,
                pvc: ObjectId { name: "data-om-1".into(), uid: "pvc-uid-1".into() },
                node: "node-1".into(),
                trouble: NodeTrouble::Cordoned,
            })
        );
        // The configuration keeps listing om-1, not as decommissioned: it rejoins under its id.
        assert_eq!(p.membership, Membership::first(3));

        // Removed from Raft, volume marked: its volume and pod go.
        removed_from_raft(&mut o);
        o.pvcs[1].removed_member = true;
        let p = plan(&o, &d);
        assert_eq!(
            p.step,
            Step::DiscardVolume(Discard {
                ordinal: 1,
                pvc: Some(ObjectId { name: "data-om-1".into(), uid: "pvc-uid-1".into() }),
                pod: Some(ObjectId { name: "om-1".into(), uid: "uid-1".into() }),
                node: Some("node-1".into()),
                force: false,
            })
        );
        assert_eq!(p.membership, Membership::first(3));
        assert_eq!(p.sts_replicas, 3);
        assert!(p.removed_members.is_empty(), "a replaced member is not a scale-down leftover");

        // The volume is being deleted and the pod gone: wait.
        o.pvcs[1].terminating = true;
        o.pods.retain(|p| p.ordinal != 1);
        assert_eq!(wait_of(&plan(&o, &d).step).0, REPLACING_MEMBER);

        // The StatefulSet made a new volume (another object, no mark) and pod on node-3: it
        // joins like a scale-up pod, and its new volume is not taken for stale data.
        o.pvcs[1] = crate::plan::tests::pvc(1);
        o.pvcs[1].uid = "pvc-uid-1b".into();
        o.pvcs[1].node = Some("node-3".into());
        let mut fresh = crate::plan::tests::pod(1);
        fresh.uid = "uid-1b".into();
        fresh.node_name = Some("node-3".into());
        fresh.ready = false;
        fresh.role_label = None;
        o.pods.push(fresh);
        set_node(&mut o, 1, Ok(status(1, Role::Unknown, &[], 0)));
        let p = plan(&o, &d);
        assert_eq!(p.step, Step::Join { ordinal: 1 });
        assert_eq!(p.sts_replicas, 3);

        // Joined: the ring is whole again, even with node-1 still cordoned.
        let m = voters(&[0, 1, 2]);
        for ord in 0..3 {
            let role = if ord == 0 { Role::Leader } else { Role::Follower };
            set_node(&mut o, ord, Ok(status(ord, role, &m, 100)));
        }
        pod_mut(&mut o, 1).ready = true;
        assert_eq!(plan(&o, &d).step, Step::Idle);
    }

    #[test]
    fn a_removed_members_pod_on_a_not_ready_node_is_force_deleted() {
        let d = replacing(desired(3));
        let mut o = stranded_ring(NodeTrouble::NotReady { since: Duration::from_secs(400) });
        let p = pod_mut(&mut o, 1);
        p.running = true;
        p.terminating = true;
        p.node_name = Some("node-1".into());
        removed_from_raft(&mut o);
        o.pvcs[1].removed_member = true;
        o.pvcs[1].terminating = true;
        match plan(&o, &d).step {
            Step::DiscardVolume(Discard { pvc: None, pod: Some(pod), force: true, .. }) => assert_eq!(pod.name, "om-1"),
            other => panic!("expected a forced pod deletion, got {other:?}"),
        }
    }

    #[test]
    fn a_not_ready_node_is_waited_for_until_the_delay_then_replaced() {
        let d = replacing(desired(3));
        let early = stranded_ring(NodeTrouble::NotReady { since: Duration::from_secs(40) });
        let p = plan(&early, &d);
        let (reason, message) = wait_of(&p.step);
        assert_eq!(reason, WAITING_FOR_NODE);
        assert!(message.contains("NotReady for 40s") && message.contains("in 260s"), "{message}");
        // Pods of a NotReady Node keep phase Running; not being ready is what counts.
        let mut late = stranded_ring(NodeTrouble::NotReady { since: Duration::from_secs(300) });
        let p = pod_mut(&mut late, 1);
        p.running = true;
        p.node_name = Some("node-1".into());
        assert!(
            matches!(plan(&late, &d).step, Step::RemoveMember(Removal { ordinal: 1, .. })),
            "{:?}",
            plan(&late, &d).step
        );
    }

    #[test]
    fn two_members_down_in_a_three_ring_are_not_replaced_and_the_reason_is_given() {
        let d = replacing(desired(3));
        let mut o = stranded_ring(NodeTrouble::Cordoned);
        // om-2 is down too (its Node is fine): only the leader is healthy.
        set_node(&mut o, 2, Err("connection refused".into()));
        pod_mut(&mut o, 2).ready = false;
        let p = plan(&o, &d);
        let (reason, message) = wait_of(&p.step);
        assert_eq!(reason, REPLACEMENT_BLOCKED);
        assert!(message.contains("only 1 of the other 2 voters are healthy (not: om-2)"), "{message}");
        assert!(message.contains("needs 2 of the 3 voters"), "{message}");
        // Both stranded: still nothing removed.
        o.pvcs[2].node = Some("node-2".into());
        o.node_trouble.insert("node-2".into(), NodeTrouble::Cordoned);
        pod_mut(&mut o, 2).running = false;
        assert_eq!(wait_of(&plan(&o, &d).step).0, REPLACEMENT_BLOCKED);
    }

    #[test]
    fn a_five_ring_replaces_one_member_at_a_time() {
        let d = replacing(desired(5));
        let mut o = ring(5);
        for v in &mut o.pvcs {
            v.node = Some(format!("node-{}", v.ordinal));
        }
        for ord in [1, 2] {
            o.node_trouble.insert(format!("node-{ord}"), NodeTrouble::Missing);
            pod_mut(&mut o, ord).running = false;
            pod_mut(&mut o, ord).ready = false;
            set_node(&mut o, ord, Err("gone".into()));
        }
        assert!(matches!(plan(&o, &d).step, Step::RemoveMember(Removal { ordinal: 1, .. })));
        // om-1 is out and its volume marked: om-2 waits until om-1 is back.
        let m = voters(&[0, 2, 3, 4]);
        set_node(&mut o, 0, Ok(status(0, Role::Leader, &m, 100)));
        o.pvcs[1].removed_member = true;
        assert!(matches!(plan(&o, &d).step, Step::DiscardVolume(Discard { ordinal: 1, .. })));
        o.pvcs.retain(|v| v.ordinal != 1);
        o.pods.retain(|p| p.ordinal != 1);
        let p = plan(&o, &d);
        assert_eq!(wait_of(&p.step).0, "WaitingForPod", "scale-up path waits for the new om-1");
    }

    #[test]
    fn the_leader_is_never_replaced() {
        let d = replacing(desired(3));
        let mut o = ring(3);
        for v in &mut o.pvcs {
            v.node = Some(format!("node-{}", v.ordinal));
        }
        // The leader's Node went NotReady long ago, but om-0 still answers as leader.
        o.node_trouble.insert("node-0".into(), NodeTrouble::NotReady { since: Duration::from_secs(900) });
        pod_mut(&mut o, 0).ready = false;
        let p = plan(&o, &d);
        assert!(!matches!(p.step, Step::RemoveMember(_) | Step::DiscardVolume(_)), "{:?}", p.step);
        // Even if its own status says not ready, the leader is not a candidate.
        let mut s = status(0, Role::Leader, &voters(&[0, 1, 2]), 100);
        s.ready = false;
        set_node(&mut o, 0, Ok(s));
        let p = plan(&o, &d);
        assert!(!matches!(p.step, Step::RemoveMember(_) | Step::DiscardVolume(_)), "{:?}", p.step);
    }

    #[test]
    fn a_running_pod_on_a_cordoned_node_is_left_alone() {
        let d = replacing(desired(3));
        let mut o = ring(3);
        for v in &mut o.pvcs {
            v.node = Some(format!("node-{}", v.ordinal));
        }
        o.cordoned.insert("node-1".into());
        o.node_trouble.insert("node-1".into(), NodeTrouble::Cordoned);
        assert_eq!(plan(&o, &d).step, Step::Idle);
        // Not ready but still running there (restarting): not stranded either.
        pod_mut(&mut o, 1).ready = false;
        assert!(!matches!(plan(&o, &d).step, Step::RemoveMember(_)));
    }

    #[test]
    fn a_volume_not_pinned_to_a_node_is_not_a_node_maintenance_matter() {
        let d = replacing(desired(3));
        let mut o = stranded_ring(NodeTrouble::Cordoned);
        o.pvcs[1].node = None;
        assert!(!matches!(plan(&o, &d).step, Step::RemoveMember(_) | Step::Wait { reason: WAITING_FOR_NODE, .. }));
    }
}
