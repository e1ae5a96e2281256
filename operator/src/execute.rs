//! Carrying out the plan's one ring operation: deleting a stale volume, raising the
//! StatefulSet, join, decommission, leadership transfer, pod restart (one, or every pod at once
//! when TLS is switched), and the two steps of replacing a member stranded by its volume's
//! Node (removal from Raft, then its volume and pod).
//!
//! Ring calls go through the ring client the reconcile hands in, which carries the operator's
//! credentials for this ring when it runs with TLS.
//!
//! [`execute`] returns what it did (the Progressing report, the events, a member it removed);
//! the reconcile publishes the events, so every event of a reconcile goes out in one place.

use std::collections::BTreeSet;
use std::time::Instant;

use k8s_openapi::api::core::v1::{ObjectReference, PersistentVolumeClaim, Pod, PodTemplateSpec};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Preconditions};
use kube::runtime::events::EventType;
use om_client::wire::JoinRequest;
use om_client::ServiceConfig;

use crate::apply::{apply, delete_if_present, kube_err, mark_removed_member_volume, set_role_labels, Error};
use crate::builders::statefulset;
use crate::context::Context;
use crate::maintenance::REPLACING_MEMBER;
use crate::metrics::{Outcome, TransferLabels};
use crate::model::RingModel;
use crate::names::{RingNames, ROLE_FOLLOWER, ROLE_LEADER};
use crate::plan::{self, Discard, Observed, Plan, Removal, RestartReason, Step, TransferReason};
use crate::ringclient::RingClient;
use crate::siteconfig::{configured_node, node_address};
use crate::status::StepReport;

/// An event to publish on the ring, optionally about one of its objects.
#[derive(Debug, Clone)]
pub struct Note {
    pub type_: EventType,
    pub reason: &'static str,
    pub action: &'static str,
    /// The pod or volume the event is about (the event's `related` object).
    pub about: Option<ObjectReference>,
    pub note: String,
}

impl Note {
    pub fn ring(type_: EventType, reason: &'static str, action: &'static str, note: String) -> Self {
        Self { type_, reason, action, about: None, note }
    }
    pub fn about(
        about: Option<ObjectReference>,
        type_: EventType,
        reason: &'static str,
        action: &'static str,
        note: String,
    ) -> Self {
        Self { type_, reason, action, about, note }
    }
}

/// What executing a step did.
#[derive(Debug)]
pub struct Executed {
    /// The Progressing condition's reason and message.
    pub report: StepReport,
    /// Events to publish, in order.
    pub events: Vec<Note>,
    /// A member removed from the ring by this step, to record in the status.
    pub removed_member: Option<u32>,
}

/// The members that answered: who ring operations talk to.
fn reachable_members(o: &Observed, except: Option<u32>) -> ServiceConfig {
    let members: BTreeSet<u32> = plan::leader(&o.nodes)
        .map(|(_, s)| s.members.iter().filter_map(|m| o.names.ordinal_of(&m.node_id)).collect())
        .unwrap_or_default();
    let service_id = o
        .nodes
        .iter()
        .find_map(|n| n.status.as_ref().ok().map(|s| s.service_id.clone()))
        .unwrap_or_else(|| o.names.name.clone());
    ServiceConfig {
        service_id,
        nodes: o
            .nodes
            .iter()
            .filter(|n| members.contains(&n.ordinal) && n.status.is_ok() && Some(n.ordinal) != except)
            .map(|n| node_address(&o.names, n.ordinal))
            .collect(),
        decommissioned: Vec::new(),
    }
}

fn summarize(disagreements: &[(String, String)]) -> String {
    let mut s = disagreements.iter().map(|(_, why)| why.as_str()).collect::<Vec<_>>().join("; ");
    if s.len() > 600 {
        let mut cut = 600;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// A reference to an object of the ring's namespace, for the `related` field of events (it
/// also keeps events about different pods apart instead of folding them into one series).
fn related(kind: &str, api_version: &str, namespace: &str, name: &str) -> Option<ObjectReference> {
    Some(ObjectReference {
        api_version: Some(api_version.into()),
        kind: Some(kind.into()),
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        ..Default::default()
    })
}

fn pod_ref(names: &RingNames, pod: &str) -> Option<ObjectReference> {
    related("Pod", "v1", &names.namespace, pod)
}

/// Carries out the plan's step and says what it did; publishes nothing itself.
pub async fn execute(
    ctx: &Context,
    ring: &dyn RingClient,
    model: &RingModel,
    o: &Observed,
    plan: &Plan,
    template: &PodTemplateSpec,
) -> Result<Executed, Error> {
    let names = &model.names;
    let ns = names.namespace.as_str();
    let mut events = Vec::new();
    let mut removed_member = None;
    let report = match &plan.step {
        Step::Idle => StepReport::new(
            "Stable",
            format!(
                "{} nodes as specified{}",
                model.replicas,
                plan::leader(&o.nodes).map(|(l, _)| format!(", leader {}", names.pod(l))).unwrap_or_default()
            ),
        ),
        Step::Wait { reason, message } => StepReport::new(reason, message.clone()),
        Step::DeletePvc { name, .. } => {
            let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), ns);
            delete_if_present(&api, name, &DeleteParams::default())
                .await
                .map_err(kube_err(format!("deleting PersistentVolumeClaim {name}")))?;
            let note = format!(
                "deleted volume {name}: it holds a removed member's data and its ordinal is about to be reused"
            );
            let pvc = related("PersistentVolumeClaim", "v1", ns, name);
            events.push(Note::about(pvc, EventType::Normal, "StaleVolumeDeleted", "DeleteVolume", note.clone()));
            StepReport::new("DeletingStaleVolume", note)
        }
        Step::ScaleUp { to, candidates } => {
            let members = reachable_members(o, None);
            let mut disagreements = Vec::new();
            for c in candidates {
                disagreements.extend(ring.config_disagreements(&members, &configured_node(names, *c)).await);
            }
            if disagreements.is_empty() {
                apply(&ctx.client, ns, &statefulset::build(model, *to, template.clone())).await?;
                let new: Vec<String> = candidates.iter().map(|c| names.pod(*c)).collect();
                let note = format!("every member lists {}; starting them, they join one at a time", new.join(", "));
                events.push(Note::ring(EventType::Normal, "Bootstrapping", "ScaleUp", note.clone()));
                StepReport::new("ScalingUp", note)
            } else {
                StepReport::new(
                    "WaitingForConfig",
                    format!(
                        "waiting until every member's ozone-site.xml lists the new nodes: {}",
                        summarize(&disagreements)
                    ),
                )
            }
        }
        Step::Join { ordinal } => {
            let node = configured_node(names, *ordinal);
            let members = reachable_members(o, Some(*ordinal));
            let disagreements = ring.config_disagreements(&members, &node).await;
            if !disagreements.is_empty() {
                StepReport::new(
                    "WaitingForConfig",
                    format!("{} cannot join yet: {}", node.node_id, summarize(&disagreements)),
                )
            } else {
                let req = JoinRequest { node: node.clone(), hostname: Some(names.host(*ordinal)) };
                match ring.join(&members, &req).await {
                    Ok(change) => {
                        let note = format!(
                            "{} joined the ring ({}); members: {}",
                            node.node_id,
                            change.message,
                            change.members.iter().map(|m| m.node_id.as_str()).collect::<Vec<_>>().join(",")
                        );
                        let pod = pod_ref(names, &node.node_id);
                        events.push(Note::about(pod, EventType::Normal, "MemberAdded", "Join", note.clone()));
                        StepReport::new("MemberAdded", note)
                    }
                    Err(e) => {
                        let note = format!("join of {} not finished: {e}; will ask again", node.node_id);
                        let pod = pod_ref(names, &node.node_id);
                        events.push(Note::about(pod, EventType::Warning, "JoinFailed", "Join", note.clone()));
                        StepReport::new("JoinFailed", note)
                    }
                }
            }
        }
        Step::Decommission { ordinal } => {
            let node_id = names.pod(*ordinal);
            let members = reachable_members(o, None);
            let others = reachable_members(o, Some(*ordinal));
            let disagreements = ring.decommission_disagreements(&others, &node_id).await;
            if !disagreements.is_empty() {
                StepReport::new(
                    "WaitingForConfig",
                    format!(
                        "waiting until every member lists {node_id} as decommissioned: {}",
                        summarize(&disagreements)
                    ),
                )
            } else {
                match ring.decommission(&members, &node_id).await {
                    Ok(change) => {
                        let note = format!(
                            "{node_id} left the ring ({}); members: {}",
                            change.message,
                            change.members.iter().map(|m| m.node_id.as_str()).collect::<Vec<_>>().join(",")
                        );
                        let pod = pod_ref(names, &node_id);
                        events.push(Note::about(pod, EventType::Normal, "MemberRemoved", "Decommission", note.clone()));
                        removed_member = Some(*ordinal);
                        StepReport::new("MemberRemoved", note)
                    }
                    Err(e) => {
                        let note = format!("decommission of {node_id} not finished: {e}; will ask again");
                        let pod = pod_ref(names, &node_id);
                        events.push(Note::about(
                            pod,
                            EventType::Warning,
                            "DecommissionFailed",
                            "Decommission",
                            note.clone(),
                        ));
                        StepReport::new("DecommissionFailed", note)
                    }
                }
            }
        }
        Step::TransferLeader { from, to, reason } => {
            transfer(ctx, ring, model, o, *from, *to, *reason, &mut events).await?
        }
        Step::RemoveMember(r) => remove_member(ctx, ring, model, o, r, &mut events).await,
        Step::RestartAll { pods, tls } => {
            let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
            for p in pods {
                let dp = DeleteParams {
                    preconditions: Some(Preconditions { uid: Some(p.uid.clone()), resource_version: None }),
                    ..Default::default()
                };
                delete_if_present(&api, &p.name, &dp).await.map_err(kube_err(format!("deleting pod {}", p.name)))?;
            }
            let note = format!(
                "switching the ring {}: restarting {} at once (nodes with and without TLS cannot talk to each \
                 other, so the ring re-forms from its volumes in a few seconds)",
                if *tls { "to TLS" } else { "to plaintext" },
                pods.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
            );
            events.push(Note::ring(EventType::Normal, "TransportSwitch", "RestartPods", note.clone()));
            StepReport::new("SwitchingTransport", note)
        }
        Step::DiscardVolume(d) => discard_volume(ctx, model, d, &mut events).await?,
        Step::DeletePod { name, uid, reason, .. } => {
            let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
            let dp = DeleteParams {
                preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }),
                ..Default::default()
            };
            delete_if_present(&api, name, &dp).await.map_err(kube_err(format!("deleting pod {name}")))?;
            let note = match reason {
                RestartReason::Rollout => {
                    format!("restarting {name} for the new pod template (followers first, leader last)")
                }
                RestartReason::Stuck => format!("restarting {name}: outdated and not ready for a while"),
            };
            events.push(Note::about(pod_ref(names, name), EventType::Normal, "Restart", "RestartPod", note.clone()));
            StepReport::new("RollingRestart", note)
        }
    };
    Ok(Executed { report, events, removed_member })
}

/// Removes a stranded member from Raft through the leader, then marks its volume. No
/// decommissioned listing is asked for (it comes back under the same id); the leader still
/// refuses a removal that would leave no live majority.
async fn remove_member(
    ctx: &Context,
    ring: &dyn RingClient,
    model: &RingModel,
    o: &Observed,
    r: &Removal,
    events: &mut Vec<Note>,
) -> StepReport {
    let Removal { ordinal, pvc, node, trouble } = r;
    let ordinal = *ordinal;
    let names = &model.names;
    let node_id = names.pod(ordinal);
    let pod = pod_ref(names, &node_id);
    let members = reachable_members(o, Some(ordinal));
    match ring.decommission(&members, &node_id).await {
        Ok(change) => {
            // A failed mark is not fatal: the planner also recognises the volume by its Node.
            let mark = mark_removed_member_volume(&ctx.client, &names.namespace, &pvc.name, &pvc.uid, Timestamp::now())
                .await
                .err()
                .map(|e| format!(" (marking the volume failed: {e})"))
                .unwrap_or_default();
            let note = format!(
                "{node_id} left the ring ({}) to be replaced: its volume {} is pinned to Node {node}, which {trouble}, \
                 and spec.nodeMaintenance.reusePVC is false; next its volume and pod are deleted and it rejoins as \
                 a new member on another Node{mark}",
                change.message, pvc.name
            );
            events.push(Note::about(pod, EventType::Normal, REPLACING_MEMBER, "RemoveMember", note.clone()));
            StepReport::new(REPLACING_MEMBER, note)
        }
        Err(e) => {
            let note = format!("removing {node_id} from the ring to replace it failed: {e}; will ask again");
            events.push(Note::about(pod, EventType::Warning, "ReplaceFailed", "RemoveMember", note.clone()));
            StepReport::new("ReplaceFailed", note)
        }
    }
}

/// Deletes a removed member's volume, then its pod (uid preconditions: never a newer object
/// of the same name), so the StatefulSet makes both afresh on a schedulable Node.
async fn discard_volume(
    ctx: &Context,
    model: &RingModel,
    d: &Discard,
    events: &mut Vec<Note>,
) -> Result<StepReport, Error> {
    let (pvc, pod, force) = (d.pvc.as_ref(), d.pod.as_ref(), d.force);
    let names = &model.names;
    let ns = names.namespace.as_str();
    let precondition = |uid: &str| Some(Preconditions { uid: Some(uid.to_string()), resource_version: None });
    // The volume first: once marked for deletion the StatefulSet does not start a pod on it.
    if let Some(v) = pvc {
        let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), ns);
        let dp = DeleteParams { preconditions: precondition(&v.uid), ..Default::default() };
        delete_if_present(&api, &v.name, &dp)
            .await
            .map_err(kube_err(format!("deleting PersistentVolumeClaim {}", v.name)))?;
    }
    if let Some(p) = pod {
        let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
        let dp = DeleteParams {
            preconditions: precondition(&p.uid),
            grace_period_seconds: force.then_some(0),
            ..Default::default()
        };
        delete_if_present(&api, &p.name, &dp).await.map_err(kube_err(format!("deleting pod {}", p.name)))?;
    }
    let what: Vec<String> =
        pvc.map(|v| format!("volume {}", v.name))
            .into_iter()
            .chain(pod.map(|p| {
                format!("pod {}{}", p.name, if force { " (forced: its Node is NotReady or gone)" } else { "" })
            }))
            .collect();
    let node_id = names.pod(d.ordinal);
    let note = format!(
        "deleted {} of {node_id}, removed from the ring{}: the StatefulSet recreates it with a new volume on a \
         schedulable Node, where it joins as a new member",
        what.join(" and "),
        d.node.as_ref().map(|n| format!(" (its old volume is pinned to Node {n})")).unwrap_or_default()
    );
    let about = match pvc {
        Some(v) => related("PersistentVolumeClaim", "v1", ns, &v.name),
        None => pod_ref(names, &node_id),
    };
    events.push(Note::about(about, EventType::Normal, "VolumeDiscarded", "DiscardVolume", note.clone()));
    Ok(StepReport::new(REPLACING_MEMBER, note))
}

/// Moves leadership from `from` to `to` and moves the role labels right away, new leader
/// first, so the budgets follow. Only the controller transfers, and it never reconciles one
/// ring twice at once, so two transfers of a ring never overlap.
#[allow(clippy::too_many_arguments)]
async fn transfer(
    ctx: &Context,
    ring: &dyn RingClient,
    model: &RingModel,
    o: &Observed,
    from: u32,
    to: Option<u32>,
    reason: TransferReason,
    events: &mut Vec<Note>,
) -> Result<StepReport, Error> {
    let names = &model.names;
    let members = reachable_members(o, None);
    let target = to.map(|t| names.pod(t));
    let started = Instant::now();
    let result = ring.transfer_leader(&members, target.as_deref()).await;
    let outcome = if result.is_ok() { Outcome::Ok } else { Outcome::Error };
    ctx.metrics.leader_transfers.get_or_create(&TransferLabels { reason: reason.as_str(), result: outcome }).inc();
    match result {
        Ok(resp) => {
            let note = format!(
                "leadership moved from {} to {} ({}) in {} ms",
                resp.previous_leader,
                resp.new_leader,
                reason.as_str(),
                resp.elapsed_ms.max(started.elapsed().as_millis() as u64)
            );
            let pod = pod_ref(names, &resp.new_leader);
            events.push(Note::about(pod, EventType::Normal, "LeaderTransferred", "TransferLeader", note.clone()));
            let mut labels = Vec::new();
            if names.ordinal_of(&resp.new_leader).is_some() {
                labels.push((resp.new_leader.clone(), Some(ROLE_LEADER)));
            }
            if names.ordinal_of(&resp.previous_leader).is_some() && resp.previous_leader != resp.new_leader {
                labels.push((resp.previous_leader.clone(), Some(ROLE_FOLLOWER)));
            }
            set_role_labels(&ctx.client, &names.namespace, &labels).await?;
            Ok(StepReport::new("LeaderTransferred", note))
        }
        Err(e) => {
            let note = format!("moving leadership away from {} ({}) failed: {e}", names.pod(from), reason.as_str());
            let pod = pod_ref(names, &names.pod(from));
            events.push(Note::about(pod, EventType::Warning, "LeaderTransferFailed", "TransferLeader", note.clone()));
            Ok(StepReport::new("LeaderTransferFailed", note))
        }
    }
}
