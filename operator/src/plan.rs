//! The reconcile decisions, as a pure function of what was observed.
//!
//! `plan(&Observed, &Desired) -> Plan` says what the ConfigMap should list, how many pods the StatefulSet
//! should run, which role label each pod should carry, and the one ring operation to perform
//! now. At most one operation per reconcile (one membership change, one transfer or one
//! restart at a time, as etcd-operator and CloudNativePG do), and everything is derived from
//! the live state (Raft membership as the leader reports it, the ConfigMap's node list, pods,
//! volumes), so an operator that restarts halfway through resumes where it stopped.
//!
//! Order of priorities:
//! 1. No ConfigMap or StatefulSet yet: form the ring from all nodes at once. Pods on the other
//!    transport (TLS switched on or off) restart all at once: plaintext and TLS nodes cannot
//!    talk to each other, so a rolling restart would stall half way.
//! 2. No leader: change nothing about membership (a ring is forming or lost quorum); only
//!    replace outdated pods that are stuck not ready (a bad image must be fixable).
//! 3. Move leadership away from a leader pod that is being deleted, was granted an eviction,
//!    was asked to be evicted, or runs on a cordoned node.
//! 4. Scale down: decommission the highest removed member, then shrink StatefulSet and config.
//! 5. Node maintenance ([`crate::maintenance`]): finish a replacement under way (delete the
//!    removed member's volume and pod), or start one (remove from Raft a member whose volume's
//!    Node is drained or down, when `spec.nodeMaintenance.reusePVC` is false).
//! 6. Scale up: clear volumes that hold a removed member's old data, wait until every member's
//!    configuration lists the new nodes, raise the StatefulSet, join new nodes one at a time
//!    (a replaced member rejoins this way).
//! 7. Replace outdated pods stuck not ready; then say which member waits for its Node, if one does.
//! 8. Rolling restart: followers one at a time (highest ordinal first), each only when every
//!    member is ready and caught up; then leadership moves and the old leader restarts last.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use om_client::wire::{NodeStatus, Role};

use crate::maintenance;
use crate::model::NodeMaintenance;
use crate::names::{RingNames, ROLE_FOLLOWER, ROLE_LEADER};
use crate::siteconfig::Membership;

/// A pod of the ring as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    pub name: String,
    pub ordinal: u32,
    pub uid: String,
    /// The pod's Ready condition.
    pub ready: bool,
    /// How long the pod has not been ready (None while ready or unknown).
    pub not_ready_for: Option<Duration>,
    /// Phase is Running.
    pub running: bool,
    /// Has a deletion timestamp.
    pub terminating: bool,
    /// Has the DisruptionTarget condition (an eviction or deletion was granted).
    pub disruption_target: bool,
    /// Kubernetes node the pod runs on.
    pub node_name: Option<String>,
    /// The pod's `omring.io/pod-spec-hash` annotation.
    pub spec_hash: Option<String>,
    /// The pod's current `omring.io/role` label.
    pub role_label: Option<String>,
    /// How long ago the eviction webhook recorded a denied attempt to evict this pod (its
    /// `omring.io/eviction-requested-at` annotation); None without one.
    pub eviction_requested_ago: Option<Duration>,
    /// The pod's `omring.io/tls` annotation: whether its node speaks TLS (None: no
    /// annotation, a plaintext pod).
    pub tls: Option<bool>,
}

/// A data volume of the ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvcView {
    pub name: String,
    pub ordinal: u32,
    pub uid: String,
    pub terminating: bool,
    /// Marked by the operator after it removed the member whose data this is from the ring
    /// (a node-maintenance replacement): never reused, only deleted. A new volume of the same
    /// ordinal is a new object without the mark.
    pub removed_member: bool,
    /// The Kubernetes Node the volume is pinned to (its PersistentVolume's nodeAffinity);
    /// read only for volumes whose pod is not ready. None: not pinned to one Node, or not read.
    pub node: Option<String>,
}

/// Why a Kubernetes Node cannot run a pod now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeTrouble {
    /// No Node of that name exists (any more).
    Missing,
    /// Unschedulable (`kubectl cordon`, `kubectl drain`).
    Cordoned,
    /// Its Ready condition is not True, for this long.
    NotReady { since: Duration },
}

impl std::fmt::Display for NodeTrouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeTrouble::Missing => write!(f, "no longer exists"),
            NodeTrouble::Cordoned => write!(f, "is cordoned"),
            NodeTrouble::NotReady { since } => write!(f, "has been NotReady for {}s", since.as_secs()),
        }
    }
}

/// A Kubernetes object to delete: its name, and its uid as a delete precondition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectId {
    pub name: String,
    pub uid: String,
}

/// What one node said about itself, or why it did not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    pub ordinal: u32,
    pub status: Result<NodeStatus, String>,
}

/// What the API server and the nodes say now: everything the planner looks at besides
/// [`Desired`].
#[derive(Debug, Clone)]
pub struct Observed {
    pub names: RingNames,
    /// The live ConfigMap's membership; None before the ring's first reconcile.
    pub configured: Option<Membership>,
    /// The live StatefulSet's `spec.replicas`; None when it does not exist.
    pub sts_replicas: Option<u32>,
    pub pods: Vec<PodView>,
    pub pvcs: Vec<PvcView>,
    /// One entry per node asked (configured nodes and pods).
    pub nodes: Vec<NodeView>,
    /// Kubernetes nodes marked unschedulable.
    pub cordoned: BTreeSet<String>,
    /// Kubernetes Nodes of pods and pinned volumes that cannot run a pod (a cordoned and
    /// NotReady Node is Cordoned; a missing one Missing).
    pub node_trouble: BTreeMap<String, NodeTrouble>,
    /// Ordinals removed from the ring whose volume may hold stale data (from the status).
    pub removed_members: BTreeSet<u32>,
}

/// What the ring should be: rendered from its spec and the operator's settings, never read
/// back from the cluster.
#[derive(Debug, Clone)]
pub struct Desired {
    /// `spec.replicas`.
    pub replicas: u32,
    /// The pod-spec hash of the pod template rendered from the spec.
    pub pod_hash: String,
    /// An outdated pod not ready for this long is replaced without waiting for the others.
    pub stuck_after: Duration,
    /// How long a recorded eviction attempt counts as a reason to move leadership.
    pub eviction_memory: Duration,
    /// `spec.nodeMaintenance`: wait for a member's Node, or replace the member.
    pub node_maintenance: NodeMaintenance,
    /// Whether the nodes speak TLS.
    pub tls: bool,
}

impl Desired {
    /// The pod's node speaks the other transport: it cannot talk to nodes of this template.
    fn other_transport(&self, p: &PodView) -> bool {
        p.tls.unwrap_or(false) != self.tls
    }
    fn outdated(&self, p: &PodView) -> bool {
        p.spec_hash.as_deref() != Some(self.pod_hash.as_str())
    }
    fn stuck(&self, p: &PodView) -> bool {
        !p.terminating && !p.ready && (!p.running || p.not_ready_for.is_some_and(|d| d >= self.stuck_after))
    }
    /// An eviction of the pod was attempted recently.
    fn eviction_requested(&self, p: &PodView) -> bool {
        p.eviction_requested_ago.is_some_and(|ago| ago < self.eviction_memory)
    }
}

/// Why leadership moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
pub enum TransferReason {
    PodDeleting,
    DisruptionTarget,
    EvictionRequested,
    NodeCordoned,
    Restart,
}

impl TransferReason {
    /// A bounded label for metrics and events.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Why a pod is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartReason {
    /// Its template is outdated and it is part of an ordered rolling restart.
    Rollout,
    /// Its template is outdated and it has not been ready for a while.
    Stuck,
}

/// The one ring operation of this reconcile.
#[derive(Debug, Clone, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Step {
    /// Nothing to do: the ring is as specified.
    Idle,
    /// Something must happen first (pods starting, nodes catching up, an election).
    Wait { reason: &'static str, message: String },
    /// Delete a volume that holds a removed member's data before its ordinal is used again.
    DeletePvc { ordinal: u32, name: String },
    /// Raise the StatefulSet to `to` pods once every member's configuration lists `candidates`.
    ScaleUp { to: u32, candidates: Vec<u32> },
    /// Ask the leader to add this node (learner, catch up, voter).
    Join { ordinal: u32 },
    /// Once every other member lists it as decommissioned, ask the leader to remove it.
    Decommission { ordinal: u32 },
    /// Move leadership from `from` to `to` (None: the leader picks).
    TransferLeader { from: u32, to: Option<u32>, reason: TransferReason },
    /// Delete a pod so the StatefulSet recreates it from the current template.
    DeletePod { ordinal: u32, name: String, uid: String, reason: RestartReason },
    /// Delete every pod on the other transport at once (TLS switched on or off).
    RestartAll { pods: Vec<ObjectId>, tls: bool },
    /// Remove a member stranded by its volume's Node from Raft (first step of a replacement).
    RemoveMember(Removal),
    /// Delete a removed member's volume and pod (second step of a replacement).
    DiscardVolume(Discard),
}

/// A member whose volume's Node is unavailable, to remove from Raft without a decommissioned
/// listing (it rejoins under the same id); its volume is then marked as a removed member's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub ordinal: u32,
    pub pvc: ObjectId,
    /// The Node the volume is pinned to, and what is wrong with it.
    pub node: String,
    pub trouble: NodeTrouble,
}

/// What is left of a removed member: its volume and pod to delete (None: already going), so
/// the StatefulSet starts it afresh with a new volume elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discard {
    pub ordinal: u32,
    pub pvc: Option<ObjectId>,
    pub pod: Option<ObjectId>,
    /// The Node the old volume is pinned to, if known.
    pub node: Option<String>,
    /// Delete the pod with grace period 0: its Node cannot confirm a graceful deletion.
    pub force: bool,
}

impl Step {
    /// A bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        self.into()
    }
    /// A wait on something outside the operator (a Node coming back): polled at the steady
    /// period rather than the busy one.
    pub fn waits_on_the_cluster(&self) -> bool {
        matches!(self, Step::Wait { reason, .. } if maintenance::LONG_WAITS.contains(reason))
    }
}

/// A role label change: pod name and the new value (None removes the label).
pub type LabelChange = (String, Option<&'static str>);

/// The planner's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// What the ConfigMap lists.
    pub membership: Membership,
    /// `spec.replicas` of the StatefulSet (a ScaleUp step may raise it after its check).
    pub sts_replicas: u32,
    pub step: Step,
    /// Role labels to change, leader first (so a leader is never unprotected in between).
    pub labels: Vec<LabelChange>,
    /// The removed-members list to record (entries whose volume and pod are gone drop out).
    pub removed_members: BTreeSet<u32>,
    /// Pods whose eviction record has expired, to be cleared.
    pub expired_eviction_records: Vec<String>,
}

/// The leader: the node reporting LEADER with the highest term.
pub fn leader(nodes: &[NodeView]) -> Option<(u32, &NodeStatus)> {
    nodes
        .iter()
        .filter_map(|n| n.status.as_ref().ok().map(|s| (n.ordinal, s)))
        .filter(|(_, s)| s.role == Role::Leader)
        .max_by_key(|(o, s)| (s.term, std::cmp::Reverse(*o)))
}

impl Observed {
    pub(crate) fn pod(&self, ordinal: u32) -> Option<&PodView> {
        self.pods.iter().find(|p| p.ordinal == ordinal)
    }
    pub(crate) fn pvc(&self, ordinal: u32) -> Option<&PvcView> {
        self.pvcs.iter().find(|v| v.ordinal == ordinal)
    }
    pub(crate) fn node(&self, ordinal: u32) -> Option<&NodeStatus> {
        self.nodes.iter().find(|n| n.ordinal == ordinal).and_then(|n| n.status.as_ref().ok())
    }
    fn on_cordoned_node(&self, p: &PodView) -> bool {
        p.node_name.as_ref().is_some_and(|n| self.cordoned.contains(n))
    }
}

/// Raft membership as the leader reports it: ordinal -> voter.
fn members(o: &Observed, leader: &NodeStatus) -> BTreeMap<u32, bool> {
    leader.members.iter().filter_map(|m| o.names.ordinal_of(&m.node_id).map(|ord| (ord, m.voter))).collect()
}

/// Role labels from the nodes' own answers; the leader's change comes first.
fn role_labels(o: &Observed, leader: Option<u32>) -> Vec<LabelChange> {
    let mut changes: Vec<LabelChange> = Vec::new();
    for p in &o.pods {
        let want = match o.node(p.ordinal).map(|s| s.role) {
            _ if Some(p.ordinal) == leader => Some(ROLE_LEADER),
            Some(Role::Leader | Role::Follower | Role::Candidate | Role::Learner) => Some(ROLE_FOLLOWER),
            _ => None,
        };
        if p.role_label.as_deref() != want {
            changes.push((p.name.clone(), want));
        }
    }
    changes.sort_by_key(|(_, v)| *v != Some(ROLE_LEADER));
    changes
}

/// The best node to hand leadership to: a ready voting follower whose pod is up to date, not
/// going away and not on a cordoned node; among those the most caught-up, then lowest ordinal.
pub fn choose_transfer_target(o: &Observed, d: &Desired, leader: u32, members: &BTreeMap<u32, bool>) -> Option<u32> {
    members
        .iter()
        .filter(|(ord, voter)| **voter && **ord != leader)
        .filter_map(|(ord, _)| {
            let pod = o.pod(*ord)?;
            let status = o.node(*ord)?;
            let healthy = status.role == Role::Follower
                && status.ready
                && pod.ready
                && !pod.terminating
                && !pod.disruption_target
                && !d.eviction_requested(pod)
                && !o.on_cordoned_node(pod);
            healthy.then_some((*ord, d.outdated(pod), status.applied_index))
        })
        .min_by_key(|(ord, outdated, applied)| (*outdated, std::cmp::Reverse(*applied), *ord))
        .map(|(ord, _, _)| ord)
}

/// Why the leader pod must lose leadership now, if it must.
fn transfer_reason(o: &Observed, d: &Desired, leader: u32) -> Option<TransferReason> {
    let pod = o.pod(leader)?;
    if pod.terminating {
        Some(TransferReason::PodDeleting)
    } else if pod.disruption_target {
        Some(TransferReason::DisruptionTarget)
    } else if d.eviction_requested(pod) {
        Some(TransferReason::EvictionRequested)
    } else if o.on_cordoned_node(pod) {
        Some(TransferReason::NodeCordoned)
    } else {
        None
    }
}

pub(crate) fn wait(reason: &'static str, message: impl Into<String>) -> Step {
    Step::Wait { reason, message: message.into() }
}

/// Removed members whose volume or pod still exists.
fn pruned_removed(o: &Observed) -> BTreeSet<u32> {
    o.removed_members
        .iter()
        .copied()
        .filter(|r| o.pvcs.iter().any(|v| v.ordinal == *r) || o.pod(*r).is_some())
        .collect()
}

/// An outdated pod stuck not ready, highest ordinal first.
fn stuck_outdated<'a>(o: &'a Observed, d: &Desired) -> Option<&'a PodView> {
    o.pods.iter().filter(|p| d.outdated(p) && d.stuck(p)).max_by_key(|p| p.ordinal)
}

/// Pods carrying an eviction record older than the memory.
fn expired_eviction_records(o: &Observed, d: &Desired) -> Vec<String> {
    o.pods
        .iter()
        .filter(|p| p.eviction_requested_ago.is_some() && !d.eviction_requested(p))
        .map(|p| p.name.clone())
        .collect()
}

fn delete_pod(p: &PodView, reason: RestartReason) -> Step {
    Step::DeletePod { ordinal: p.ordinal, name: p.name.clone(), uid: p.uid.clone(), reason }
}

/// Decides what to do; see the module documentation for the order.
pub fn plan(o: &Observed, d: &Desired) -> Plan {
    let target: BTreeSet<u32> = (0..d.replicas).collect();
    let leader_view = leader(&o.nodes);
    let leader_ord = leader_view.map(|(ord, _)| ord);
    let labels = role_labels(o, leader_ord);
    let removed_members = pruned_removed(o);
    let expired_eviction_records = expired_eviction_records(o, d);

    // 1. Formation: every node of the first configuration starts at once and they form the ring.
    let (Some(configured), Some(sts_now)) = (&o.configured, o.sts_replicas) else {
        let membership = o.configured.clone().unwrap_or_else(|| Membership::first(d.replicas));
        let sts_replicas = membership.end();
        return Plan {
            membership,
            sts_replicas,
            step: wait("Forming", format!("creating the ring's {sts_replicas} nodes; they form the ring together")),
            labels,
            removed_members,
            expired_eviction_records,
        };
    };

    // TLS switched on or off: every pod on the other transport restarts at once, leader or not
    // (a half-switched ring may have none).
    let other: Vec<ObjectId> = o
        .pods
        .iter()
        .filter(|p| !p.terminating && d.other_transport(p))
        .map(|p| ObjectId { name: p.name.clone(), uid: p.uid.clone() })
        .collect();
    if !other.is_empty() {
        return Plan {
            membership: configured.clone(),
            sts_replicas: sts_now,
            step: Step::RestartAll { pods: other, tls: d.tls },
            labels,
            removed_members,
            expired_eviction_records,
        };
    }

    // 2. No leader: a ring still forming, or one that lost its quorum.
    let Some((leader_ord, leader_status)) = leader_view else {
        let step = match stuck_outdated(o, d) {
            Some(p) => delete_pod(p, RestartReason::Stuck),
            None if o.nodes.iter().all(|n| n.status.is_err()) => wait("NoLeader", "no node answers yet"),
            None => wait("NoLeader", "waiting for the nodes to elect a leader"),
        };
        return Plan {
            membership: configured.clone(),
            sts_replicas: sts_now,
            step,
            labels,
            removed_members,
            expired_eviction_records,
        };
    };
    let members = members(o, leader_status);

    // The configuration lists the desired nodes, every member, and every pod still running,
    // so a node leaving the ring is listed (as decommissioned) until its pod is gone.
    let removing = members.keys().copied().filter(|m| !target.contains(m)).max();
    let listed: BTreeSet<u32> =
        target.iter().copied().chain(members.keys().copied()).chain(o.pods.iter().map(|p| p.ordinal)).collect();
    let membership = Membership {
        nodes: listed.iter().copied().collect(),
        decommissioned: listed
            .iter()
            .copied()
            .filter(|n| !target.contains(n) && (Some(*n) == removing || !members.contains_key(n)))
            .collect(),
    };
    // Pods beyond the desired nodes and the members are not needed (a removed member's pod).
    let needed_end = target.len().max(members.keys().max().map_or(0, |m| *m as usize + 1)) as u32;
    let mut sts_replicas = sts_now.min(needed_end);
    let done = |step: Step, sts_replicas: u32| Plan {
        membership: membership.clone(),
        sts_replicas,
        step,
        labels: labels.clone(),
        removed_members: removed_members.clone(),
        expired_eviction_records: expired_eviction_records.clone(),
    };

    // 3. Leadership leaves a leader pod that is going away.
    let mut blocked_transfer = None;
    if let Some(reason) = transfer_reason(o, d, leader_ord) {
        match choose_transfer_target(o, d, leader_ord, &members) {
            Some(to) => {
                return done(Step::TransferLeader { from: leader_ord, to: Some(to), reason }, sts_replicas);
            }
            None => blocked_transfer = Some(reason),
        }
    }

    // 4. Scale down, highest ordinal first, one at a time.
    if let Some(h) = removing {
        return done(Step::Decommission { ordinal: h }, sts_replicas);
    }

    // 5. Node maintenance: a replacement under way finishes first (before its ordinal is joined
    //    again); a new one starts only when every desired node is a voter.
    let maintenance = maintenance::assess(o, d, leader_ord, &members, &target);
    if let Some(step) = maintenance.step {
        return done(step, sts_replicas);
    }

    // 6. Scale up.
    let adding: Vec<u32> = target.iter().copied().filter(|t| !members.contains_key(t)).collect();
    if let Some(&first_new) = adding.first() {
        // A pod still running with a removed member's data must go before its ordinal rejoins.
        if let Some(stale) = adding.iter().copied().find(|a| removed_members.contains(a) && o.pod(*a).is_some()) {
            if members.keys().all(|m| *m < stale) {
                sts_replicas = sts_replicas.min(stale);
                return done(
                    wait(
                        "RemovingStaleMember",
                        format!("removing the pod of {} (a removed member) before it is reused", o.names.pod(stale)),
                    ),
                    sts_replicas,
                );
            }
            return done(
                wait(
                    "StaleMember",
                    format!(
                        "{} holds a removed member's data but a higher ordinal is a member; delete its pod and volume",
                        o.names.pod(stale)
                    ),
                ),
                sts_replicas,
            );
        }
        // Volumes of ordinals that have no pod yet hold old data: delete them first.
        for a in adding.iter().copied().filter(|a| *a >= sts_replicas) {
            if let Some(v) = o.pvcs.iter().find(|v| v.ordinal == a) {
                return done(
                    if v.terminating {
                        wait("DeletingStaleVolume", format!("waiting for volume {} to be deleted", v.name))
                    } else {
                        Step::DeletePvc { ordinal: a, name: v.name.clone() }
                    },
                    sts_replicas,
                );
            }
        }
        if sts_replicas < d.replicas {
            let candidates = adding.iter().copied().filter(|a| *a >= sts_replicas).collect();
            return done(Step::ScaleUp { to: d.replicas, candidates }, sts_replicas);
        }
        let pod_up = o.pod(first_new).is_some_and(|p| p.running && !p.terminating);
        let answers = o.node(first_new).is_some();
        if !pod_up || !answers {
            return done(
                wait("WaitingForPod", format!("waiting for {} to start before it joins", o.names.pod(first_new))),
                sts_replicas,
            );
        }
        return done(Step::Join { ordinal: first_new }, sts_replicas);
    }

    // A learner left half way (join interrupted): join again, which promotes it.
    if let Some((&learner, _)) = members.iter().find(|(m, voter)| !**voter && target.contains(m)) {
        return done(Step::Join { ordinal: learner }, sts_replicas);
    }

    // 7. Outdated pods stuck not ready go first (they serve nothing anyway).
    if let Some(p) = stuck_outdated(o, d) {
        return done(delete_pod(p, RestartReason::Stuck), sts_replicas);
    }

    if let Some(reason) = blocked_transfer {
        return done(
            wait(
                "NoTransferTarget",
                format!(
                    "leadership must leave {} ({}) but no follower is ready, up and on a schedulable node",
                    o.names.pod(leader_ord),
                    reason.as_str()
                ),
            ),
            sts_replicas,
        );
    }

    // A member down with its Node: say which, and why it is not replaced (yet).
    if let Some(w) = maintenance.waiting {
        return done(w, sts_replicas);
    }

    // 8. Rolling restart.
    let outdated: Vec<&PodView> =
        o.pods.iter().filter(|p| members.contains_key(&p.ordinal) && d.outdated(p) && !p.terminating).collect();
    if outdated.is_empty() {
        // A scale-down is done only when the removed members' pods are gone and neither the
        // StatefulSet nor the configuration lists them any more.
        let leaving: Vec<String> =
            o.pods.iter().filter(|p| !target.contains(&p.ordinal)).map(|p| o.names.pod(p.ordinal)).collect();
        if !leaving.is_empty() {
            return done(
                wait("ScalingDown", format!("waiting for the pods of removed members to stop: {}", leaving.join(", "))),
                sts_replicas,
            );
        }
        if sts_now != sts_replicas || configured != &membership {
            return done(
                wait(
                    "ScalingDown",
                    format!("shrinking the StatefulSet and ozone-site.xml to {} nodes", membership.nodes.len()),
                ),
                sts_replicas,
            );
        }
        return done(Step::Idle, sts_replicas);
    }
    let unready: Vec<String> = members
        .keys()
        .filter(|m| {
            let pod_ready = o.pod(**m).is_some_and(|p| p.ready && !p.terminating);
            let node_ready = o.node(**m).is_some_and(|s| s.ready);
            !(pod_ready && node_ready)
        })
        .map(|m| o.names.pod(*m))
        .collect();
    if !unready.is_empty() {
        return done(
            wait("WaitingForReady", format!("restart paused until {} ready and caught up", unready.join(", "))),
            sts_replicas,
        );
    }
    if let Some(p) = outdated.iter().filter(|p| p.ordinal != leader_ord).max_by_key(|p| p.ordinal) {
        return done(delete_pod(p, RestartReason::Rollout), sts_replicas);
    }
    // Only the leader is left.
    let leader_pod = outdated[0];
    if members.values().filter(|v| **v).count() <= 1 {
        return done(delete_pod(leader_pod, RestartReason::Rollout), sts_replicas);
    }
    match choose_transfer_target(o, d, leader_ord, &members) {
        Some(to) => {
            done(Step::TransferLeader { from: leader_ord, to: Some(to), reason: TransferReason::Restart }, sts_replicas)
        }
        None => {
            done(wait("NoTransferTarget", "no ready follower to take over before the leader restarts"), sts_replicas)
        }
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
pub(crate) mod tests;
