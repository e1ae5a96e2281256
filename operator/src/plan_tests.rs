//! The planner's tests: each builds an observation and checks the steps `plan` chooses.

use super::*;
use om_client::wire::MemberInfo;

pub(crate) const HASH: &str = "new";

pub(crate) fn names() -> RingNames {
    RingNames::new("om", "ns", "cluster.local")
}

/// A node status as a node of a healthy ring reports it.
pub(crate) fn status(ord: u32, role: Role, members: &[(u32, bool)], applied: u64) -> NodeStatus {
    let n = names();
    NodeStatus {
        service_id: "om".into(),
        node_id: n.pod(ord),
        hostname: n.host(ord),
        role,
        term: 3,
        leader_id: Some(n.pod(0)),
        last_log_index: applied,
        commit_index: applied,
        applied_index: applied,
        flushed_index: applied,
        ready: matches!(role, Role::Leader | Role::Follower),
        members: members
            .iter()
            .map(|(o, voter)| MemberInfo {
                node_id: n.pod(*o),
                hostname: n.host(*o),
                rpc_address: format!("{}:9862", n.host(*o)),
                voter: *voter,
                matched_index: None,
            })
            .collect(),
        prepare: Default::default(),
    }
}

pub(crate) fn pod(ord: u32) -> PodView {
    PodView {
        name: names().pod(ord),
        ordinal: ord,
        uid: format!("uid-{ord}"),
        ready: true,
        not_ready_for: None,
        running: true,
        terminating: false,
        disruption_target: false,
        node_name: Some(format!("node-{ord}")),
        spec_hash: Some(HASH.into()),
        role_label: Some(if ord == 0 { ROLE_LEADER } else { ROLE_FOLLOWER }.into()),
        eviction_requested_ago: None,
        tls: Some(true),
    }
}

/// The data volume of an ordinal, bound, unmarked, not pinned to a Node.
pub(crate) fn pvc(ord: u32) -> PvcView {
    PvcView {
        name: names().pvc(ord),
        ordinal: ord,
        uid: format!("pvc-uid-{ord}"),
        terminating: false,
        removed_member: false,
        node: None,
    }
}

/// A healthy ring of `n` voters, leader om-0, everything up to date.
pub(crate) fn healthy(n: u32) -> Observed {
    let members: Vec<(u32, bool)> = (0..n).map(|o| (o, true)).collect();
    Observed {
        names: names(),
        configured: Some(Membership::first(n)),
        sts_replicas: Some(n),
        pods: (0..n).map(pod).collect(),
        pvcs: (0..n).map(pvc).collect(),
        nodes: (0..n)
            .map(|o| NodeView {
                ordinal: o,
                status: Ok(status(o, if o == 0 { Role::Leader } else { Role::Follower }, &members, 100)),
            })
            .collect(),
        cordoned: BTreeSet::new(),
        node_trouble: BTreeMap::new(),
        removed_members: BTreeSet::new(),
    }
}

/// What a ring of `n` nodes with the current template wants.
pub(crate) fn desired(n: u32) -> Desired {
    Desired {
        replicas: n,
        pod_hash: HASH.into(),
        stuck_after: Duration::from_secs(120),
        eviction_memory: Duration::from_secs(60),
        node_maintenance: NodeMaintenance::default(),
        tls: true,
    }
}

pub(crate) fn set_node(o: &mut Observed, ord: u32, status: Result<NodeStatus, String>) {
    o.nodes.retain(|n| n.ordinal != ord);
    o.nodes.push(NodeView { ordinal: ord, status });
}

pub(crate) fn pod_mut(o: &mut Observed, ord: u32) -> &mut PodView {
    o.pods.iter_mut().find(|p| p.ordinal == ord).unwrap()
}

#[test]
fn new_ring_forms_from_all_nodes_at_once() {
    let mut o = healthy(3);
    let d = desired(3);
    o.configured = None;
    o.sts_replicas = None;
    o.pods.clear();
    o.nodes.clear();
    let p = plan(&o, &d);
    assert_eq!(p.membership, Membership::first(3));
    assert_eq!(p.sts_replicas, 3);
    assert!(matches!(p.step, Step::Wait { reason: "Forming", .. }));
}

#[test]
fn healthy_ring_is_idle_and_labels_are_kept() {
    let p = plan(&healthy(3), &desired(3));
    assert_eq!(p.step, Step::Idle);
    assert_eq!(p.membership, Membership::first(3));
    assert_eq!(p.sts_replicas, 3);
    assert!(p.labels.is_empty());
}

#[test]
fn no_leader_keeps_membership_even_if_replicas_changed() {
    let mut o = healthy(3);
    let mut d = desired(3);
    d.replicas = 5;
    for ord in 0..3 {
        set_node(&mut o, ord, Err("connection refused".into()));
    }
    let p = plan(&o, &d);
    assert_eq!(p.membership, Membership::first(3));
    assert_eq!(p.sts_replicas, 3);
    assert!(matches!(p.step, Step::Wait { reason: "NoLeader", .. }));
    // Unreachable nodes lose their role labels, so no budget protects a dead pod.
    assert_eq!(p.labels.len(), 3);
    assert!(p.labels.iter().all(|(_, v)| v.is_none()));
}

#[test]
fn no_leader_still_replaces_a_stuck_outdated_pod() {
    let mut o = healthy(3);
    let d = desired(3);
    for ord in 0..3 {
        set_node(&mut o, ord, Err("crash loop".into()));
        let p = pod_mut(&mut o, ord);
        p.ready = false;
        p.not_ready_for = Some(Duration::from_secs(600));
        p.spec_hash = Some("old".into());
    }
    let p = plan(&o, &d);
    assert!(matches!(p.step, Step::DeletePod { ordinal: 2, reason: RestartReason::Stuck, .. }), "{:?}", p.step);
}

#[test]
fn scale_up_lists_new_nodes_first_then_raises_the_statefulset() {
    let o = healthy(3);
    let mut d = desired(3);
    d.replicas = 5;
    let p = plan(&o, &d);
    assert_eq!(p.membership, Membership::first(5));
    assert_eq!(p.sts_replicas, 3, "pods come only after the members agree");
    assert_eq!(p.step, Step::ScaleUp { to: 5, candidates: vec![3, 4] });
}

#[test]
fn scale_up_joins_new_nodes_one_at_a_time_lowest_first() {
    let mut o = healthy(3);
    let mut d = desired(3);
    d.replicas = 5;
    o.configured = Some(Membership::first(5));
    o.sts_replicas = Some(5);
    o.pods.push(pod(3));
    o.pods.push(pod(4));
    let members: Vec<(u32, bool)> = (0..3).map(|x| (x, true)).collect();
    set_node(&mut o, 3, Ok(status(3, Role::Unknown, &[], 0)));
    set_node(&mut o, 4, Ok(status(4, Role::Unknown, &[], 0)));
    let p = plan(&o, &d);
    assert_eq!(p.step, Step::Join { ordinal: 3 });
    assert_eq!(p.sts_replicas, 5);
    // om-3 joined: om-4 is next.
    let members4: Vec<(u32, bool)> = members.iter().copied().chain([(3, true)]).collect();
    set_node(&mut o, 0, Ok(status(0, Role::Leader, &members4, 100)));
    set_node(&mut o, 3, Ok(status(3, Role::Follower, &members4, 100)));
    assert_eq!(plan(&o, &d).step, Step::Join { ordinal: 4 });
}

#[test]
fn scale_up_waits_for_a_new_pod_that_does_not_answer() {
    let mut o = healthy(3);
    let mut d = desired(3);
    d.replicas = 4;
    o.configured = Some(Membership::first(4));
    o.sts_replicas = Some(4);
    let mut p3 = pod(3);
    p3.running = false;
    p3.ready = false;
    o.pods.push(p3);
    set_node(&mut o, 3, Err("connection refused".into()));
    assert!(matches!(plan(&o, &d).step, Step::Wait { reason: "WaitingForPod", .. }));
}

#[test]
fn scale_up_promotes_a_learner_left_behind() {
    let mut o = healthy(3);
    let d = desired(3);
    let members = [(0, true), (1, true), (2, false)];
    set_node(&mut o, 0, Ok(status(0, Role::Leader, &members, 100)));
    assert_eq!(plan(&o, &d).step, Step::Join { ordinal: 2 });
}

#[test]
fn scale_up_deletes_a_leftover_volume_before_the_ordinal_is_reused() {
    let mut o = healthy(3);
    let mut d = desired(3);
    d.replicas = 4;
    o.pvcs.push(pvc(3));
    let p = plan(&o, &d);
    assert_eq!(p.step, Step::DeletePvc { ordinal: 3, name: "data-om-3".into() });
    assert_eq!(p.sts_replicas, 3);
    o.pvcs.last_mut().unwrap().terminating = true;
    assert!(matches!(plan(&o, &d).step, Step::Wait { reason: "DeletingStaleVolume", .. }));
}

#[test]
fn scale_up_removes_a_removed_members_pod_before_reuse() {
    // om-3 was decommissioned but its pod is still there when replicas go back to 4.
    let mut o = healthy(3);
    let mut d = desired(3);
    d.replicas = 4;
    o.sts_replicas = Some(4);
    o.configured = Some(Membership { nodes: vec![0, 1, 2, 3], decommissioned: vec![3] });
    o.pods.push(pod(3));
    o.pvcs.push(pvc(3));
    o.removed_members.insert(3);
    let p = plan(&o, &d);
    assert_eq!(p.sts_replicas, 3);
    assert!(matches!(p.step, Step::Wait { reason: "RemovingStaleMember", .. }));
    assert_eq!(p.removed_members, BTreeSet::from([3]));
}

#[test]
fn removed_members_drop_out_once_pod_and_volume_are_gone() {
    let mut o = healthy(3);
    let d = desired(3);
    o.removed_members = BTreeSet::from([3, 4]);
    o.pvcs.push(pvc(4));
    assert_eq!(plan(&o, &d).removed_members, BTreeSet::from([4]));
}

#[test]
fn scale_down_decommissions_the_highest_ordinal_first() {
    let o = healthy(5);
    let mut d = desired(5);
    d.replicas = 3;
    let p = plan(&o, &d);
    assert_eq!(p.step, Step::Decommission { ordinal: 4 });
    assert_eq!(p.membership, Membership { nodes: vec![0, 1, 2, 3, 4], decommissioned: vec![4] });
    assert_eq!(p.sts_replicas, 5, "the pod stays until the ring let it go");
}

#[test]
fn scale_down_shrinks_statefulset_then_config_after_removal() {
    let mut o = healthy(5);
    let mut d = desired(5);
    d.replicas = 3;
    let members: Vec<(u32, bool)> = (0..4).map(|x| (x, true)).collect();
    set_node(&mut o, 0, Ok(status(0, Role::Leader, &members, 100)));
    set_node(&mut o, 4, Ok(status(4, Role::Unknown, &[], 100)));
    let p = plan(&o, &d);
    assert_eq!(p.sts_replicas, 4);
    // om-4 still listed (its pod runs) but decommissioned; om-3 is next.
    assert_eq!(p.membership, Membership { nodes: vec![0, 1, 2, 3, 4], decommissioned: vec![3, 4] });
    assert_eq!(p.step, Step::Decommission { ordinal: 3 });
    // Once the pod of om-4 is gone the configuration forgets it.
    o.pods.retain(|p| p.ordinal != 4);
    o.sts_replicas = Some(4);
    let p = plan(&o, &d);
    assert_eq!(p.membership, Membership { nodes: vec![0, 1, 2, 3], decommissioned: vec![3] });
}

#[test]
fn scale_down_is_progressing_until_the_removed_pods_are_gone() {
    let mut o = healthy(5);
    let mut d = desired(5);
    d.replicas = 3;
    let members: Vec<(u32, bool)> = (0..3).map(|x| (x, true)).collect();
    for ord in 0..3 {
        let role = if ord == 0 { Role::Leader } else { Role::Follower };
        set_node(&mut o, ord, Ok(status(ord, role, &members, 100)));
    }
    for ord in 3..5 {
        set_node(&mut o, ord, Ok(status(ord, Role::Unknown, &[], 100)));
    }
    pod_mut(&mut o, 4).terminating = true;
    let p = plan(&o, &d);
    assert_eq!(p.sts_replicas, 3);
    match &p.step {
        Step::Wait { reason: "ScalingDown", message } => assert!(message.contains("om-3, om-4"), "{message}"),
        other => panic!("expected ScalingDown, got {other:?}"),
    }
    o.pods.retain(|p| p.ordinal < 3);
    o.nodes.retain(|n| n.ordinal < 3);
    o.sts_replicas = Some(3);
    // The configuration still lists the removed nodes: not done yet.
    o.configured = Some(Membership { nodes: vec![0, 1, 2, 3, 4], decommissioned: vec![3, 4] });
    let p = plan(&o, &d);
    assert!(matches!(p.step, Step::Wait { reason: "ScalingDown", .. }), "{:?}", p.step);
    assert_eq!(p.membership, Membership::first(3));
    o.configured = Some(p.membership);
    assert_eq!(plan(&o, &d).step, Step::Idle);
}

#[test]
fn scale_down_of_the_leader_is_left_to_decommission() {
    let mut o = healthy(3);
    let mut d = desired(3);
    d.replicas = 2;
    let members: Vec<(u32, bool)> = (0..3).map(|x| (x, true)).collect();
    set_node(&mut o, 0, Ok(status(0, Role::Follower, &members, 100)));
    set_node(&mut o, 2, Ok(status(2, Role::Leader, &members, 100)));
    assert_eq!(plan(&o, &d).step, Step::Decommission { ordinal: 2 });
}

#[test]
fn leader_on_cordoned_node_transfers_to_a_healthy_follower() {
    let mut o = healthy(3);
    let d = desired(3);
    o.cordoned.insert("node-0".into());
    // om-2 is the most caught up, but om-1 is on a cordoned node too and om-2 is fine.
    o.cordoned.insert("node-1".into());
    let p = plan(&o, &d);
    assert_eq!(p.step, Step::TransferLeader { from: 0, to: Some(2), reason: TransferReason::NodeCordoned });
}

#[test]
fn transfer_prefers_the_most_caught_up_follower() {
    let mut o = healthy(3);
    let d = desired(3);
    o.cordoned.insert("node-0".into());
    let members: Vec<(u32, bool)> = (0..3).map(|x| (x, true)).collect();
    set_node(&mut o, 1, Ok(status(1, Role::Follower, &members, 90)));
    set_node(&mut o, 2, Ok(status(2, Role::Follower, &members, 100)));
    assert_eq!(plan(&o, &d).step, Step::TransferLeader { from: 0, to: Some(2), reason: TransferReason::NodeCordoned });
}

#[test]
fn every_disruption_signal_moves_leadership() {
    type Setup = fn(&mut Observed);
    let cases: [(Setup, TransferReason); 3] = [
        (|o| pod_mut(o, 0).terminating = true, TransferReason::PodDeleting),
        (|o| pod_mut(o, 0).disruption_target = true, TransferReason::DisruptionTarget),
        (|o| pod_mut(o, 0).eviction_requested_ago = Some(Duration::from_secs(5)), TransferReason::EvictionRequested),
    ];
    for (setup, reason) in cases {
        let mut o = healthy(3);
        let d = desired(3);
        setup(&mut o);
        assert_eq!(plan(&o, &d).step, Step::TransferLeader { from: 0, to: Some(1), reason });
    }
}

#[test]
fn an_expired_eviction_record_moves_nothing_and_is_cleared() {
    let mut o = healthy(3);
    let d = desired(3);
    pod_mut(&mut o, 0).eviction_requested_ago = Some(Duration::from_secs(61));
    let p = plan(&o, &d);
    assert_eq!(p.step, Step::Idle);
    assert_eq!(p.expired_eviction_records, vec!["om-0".to_string()]);
    pod_mut(&mut o, 0).eviction_requested_ago = Some(Duration::from_secs(59));
    let p = plan(&o, &d);
    assert!(p.expired_eviction_records.is_empty());
    assert!(matches!(p.step, Step::TransferLeader { reason: TransferReason::EvictionRequested, .. }));
}

#[test]
fn a_follower_being_evicted_is_not_a_transfer_target() {
    let mut o = healthy(3);
    let d = desired(3);
    pod_mut(&mut o, 0).terminating = true;
    pod_mut(&mut o, 1).eviction_requested_ago = Some(Duration::from_secs(1));
    assert_eq!(plan(&o, &d).step, Step::TransferLeader { from: 0, to: Some(2), reason: TransferReason::PodDeleting });
}

#[test]
fn follower_signals_do_not_move_leadership() {
    let mut o = healthy(3);
    let d = desired(3);
    o.cordoned.insert("node-1".into());
    pod_mut(&mut o, 2).disruption_target = true;
    assert_eq!(plan(&o, &d).step, Step::Idle);
}

#[test]
fn no_healthy_follower_means_wait_not_a_blind_transfer() {
    let mut o = healthy(3);
    let d = desired(3);
    o.cordoned.insert("node-0".into());
    set_node(&mut o, 1, Err("down".into()));
    set_node(&mut o, 2, Err("down".into()));
    assert!(matches!(plan(&o, &d).step, Step::Wait { reason: "NoTransferTarget", .. }));
}

#[test]
fn role_labels_follow_the_leader_leader_first() {
    let mut o = healthy(3);
    let d = desired(3);
    let members: Vec<(u32, bool)> = (0..3).map(|x| (x, true)).collect();
    set_node(&mut o, 0, Ok(status(0, Role::Follower, &members, 100)));
    set_node(&mut o, 2, Ok(status(2, Role::Leader, &members, 100)));
    let p = plan(&o, &d);
    assert_eq!(p.labels, vec![("om-2".to_string(), Some(ROLE_LEADER)), ("om-0".to_string(), Some(ROLE_FOLLOWER))]);
}

#[test]
fn a_stale_leader_with_a_lower_term_is_not_the_leader() {
    let mut o = healthy(3);
    let members: Vec<(u32, bool)> = (0..3).map(|x| (x, true)).collect();
    let mut newer = status(2, Role::Leader, &members, 100);
    newer.term = 4;
    set_node(&mut o, 2, Ok(newer));
    assert_eq!(leader(&o.nodes).map(|(ord, _)| ord), Some(2));
}

#[test]
fn rolling_restart_followers_highest_first_then_transfer_then_leader() {
    let mut o = healthy(3);
    let mut d = desired(3);
    d.pod_hash = "next".into();
    assert!(matches!(plan(&o, &d).step, Step::DeletePod { ordinal: 2, reason: RestartReason::Rollout, .. }));
    pod_mut(&mut o, 2).spec_hash = Some("next".into());
    assert!(matches!(plan(&o, &d).step, Step::DeletePod { ordinal: 1, .. }));
    pod_mut(&mut o, 1).spec_hash = Some("next".into());
    assert_eq!(plan(&o, &d).step, Step::TransferLeader { from: 0, to: Some(1), reason: TransferReason::Restart });
    // After the transfer om-0 is a follower: it restarts.
    let members: Vec<(u32, bool)> = (0..3).map(|x| (x, true)).collect();
    set_node(&mut o, 0, Ok(status(0, Role::Follower, &members, 100)));
    set_node(&mut o, 1, Ok(status(1, Role::Leader, &members, 100)));
    assert!(matches!(plan(&o, &d).step, Step::DeletePod { ordinal: 0, .. }));
    pod_mut(&mut o, 0).spec_hash = Some("next".into());
    assert_eq!(plan(&o, &d).step, Step::Idle);
}

#[test]
fn switching_tls_restarts_every_pod_of_the_other_transport_at_once() {
    // Pods from before the annotation are plaintext; the template now wants TLS.
    let mut o = healthy(3);
    for p in &mut o.pods {
        p.tls = None;
    }
    let mut d = desired(3);
    d.pod_hash = "with-tls".into();
    let p = plan(&o, &d);
    let Step::RestartAll { pods, tls: true } = &p.step else { panic!("{:?}", p.step) };
    assert_eq!(pods.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["om-0", "om-1", "om-2"]);
    assert_eq!(pods[1].uid, "uid-1", "deleted with uid preconditions");
    assert_eq!((p.membership.clone(), p.sts_replicas), (Membership::first(3), 3), "nothing else changes");
    // Half switched (a pod recreated by a Node failure) and no leader: still all the others.
    let mut half = healthy(3);
    pod_mut(&mut half, 2).tls = Some(false);
    pod_mut(&mut half, 1).tls = Some(false);
    pod_mut(&mut half, 1).terminating = true;
    half.nodes.clear();
    let step = plan(&half, &desired(3)).step;
    assert_eq!(step, Step::RestartAll { pods: vec![ObjectId { name: "om-2".into(), uid: "uid-2".into() }], tls: true });
    // Switching off works the same way; pods that match wait for nothing.
    let mut off = desired(3);
    off.tls = false;
    assert!(matches!(plan(&healthy(3), &off).step, Step::RestartAll { tls: false, ref pods } if pods.len() == 3));
    assert_eq!(plan(&healthy(3), &desired(3)).step, Step::Idle);
}

#[test]
fn rolling_restart_waits_until_the_restarted_node_caught_up() {
    let mut o = healthy(3);
    let mut d = desired(3);
    d.pod_hash = "next".into();
    pod_mut(&mut o, 2).spec_hash = Some("next".into());
    // om-2 is back (pod ready) but its node is still catching up.
    let members: Vec<(u32, bool)> = (0..3).map(|x| (x, true)).collect();
    let mut catching_up = status(2, Role::Follower, &members, 50);
    catching_up.ready = false;
    set_node(&mut o, 2, Ok(catching_up));
    assert!(matches!(plan(&o, &d).step, Step::Wait { reason: "WaitingForReady", .. }));
    pod_mut(&mut o, 1).terminating = true;
    assert!(matches!(plan(&o, &d).step, Step::Wait { reason: "WaitingForReady", .. }));
}

#[test]
fn one_node_ring_restarts_its_leader_directly() {
    let o = healthy(1);
    let mut d = desired(1);
    d.pod_hash = "next".into();
    assert!(matches!(plan(&o, &d).step, Step::DeletePod { ordinal: 0, .. }));
}

#[test]
fn unreachable_member_blocks_the_restart_but_not_the_status() {
    let mut o = healthy(3);
    let mut d = desired(3);
    d.pod_hash = "next".into();
    set_node(&mut o, 1, Err("timed out".into()));
    assert!(matches!(plan(&o, &d).step, Step::Wait { reason: "WaitingForReady", .. }));
}
