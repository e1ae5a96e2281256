//! Reconcile: read, validate, render, plan, apply in a fixed order, act on the ring, write status.
//!
//! The decisions live in [`crate::plan`]; this module carries them out. Kubernetes objects are
//! applied with server-side apply in one fixed order (ServiceAccount, ConfigMap, headless
//! Service, client Service, StatefulSet, PodDisruptionBudgets), so the configuration always
//! reaches the API server before the pods that read it. Every ring operation publishes an
//! event and counts in the metrics.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::{ObjectReference, PersistentVolumeClaim, Pod, PodTemplateSpec};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::core::error_boundary::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use om_client::wire::JoinRequest;
use om_client::ServiceConfig;
use serde::Serialize;

use crate::builders::{configmap, pdbs, serviceaccount, services, statefulset};
use crate::context::Context;
use crate::crd::{OzoneManagerRing, OzoneManagerRingStatus};
use crate::metrics::{Outcome, ResultLabels, StepLabels, TransferLabels};
use crate::model::RingModel;
use crate::names::{RingNames, FIELD_MANAGER, LABEL_ROLE, ROLE_FOLLOWER, ROLE_LEADER};
use crate::observe::{observe, ObserveError, Recollection};
use crate::plan::{self, Observed, Plan, RestartReason, Step, TransferReason};
use crate::siteconfig::{self, configured_node, node_address, Membership};
use crate::status::{self, StepReport};

/// Errors that make a reconcile retry with backoff. Ring nodes that do not answer are not
/// errors (they show in the status); these are API server failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Observe(#[from] ObserveError),
    #[error("{action}: {source}")]
    Kube {
        action: String,
        #[source]
        source: kube::Error,
    },
}

fn kube_err(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let action = action.into();
    move |source| Error::Kube { action, source }
}

/// Server-side apply of one object as the operator's field manager.
async fn apply<K>(client: &kube::Client, ns: &str, obj: &K) -> Result<(), Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(obj))
        .await
        .map_err(kube_err(format!("applying {} {name}", K::kind(&()))))?;
    Ok(())
}

/// Deletes an object, treating "already gone" as done.
async fn delete_if_present<K>(api: &Api<K>, name: &str, dp: &DeleteParams) -> Result<bool, kube::Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, dp).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

fn ring_key(names: &RingNames) -> String {
    format!("{}/{}", names.namespace, names.name)
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

/// The pod template the ring should run and its hash. The configuration hash in it leaves out
/// the membership keys, so it does not depend on which nodes are listed.
pub fn desired_template(model: &RingModel) -> (PodTemplateSpec, String) {
    let restart_hash = siteconfig::render(model, &Membership::first(1)).restart_hash;
    let template = statefulset::pod_template(model, &restart_hash);
    let hash = statefulset::desired_pod_spec_hash(&template);
    (template, hash)
}

/// One reconcile of one ring.
pub async fn reconcile(obj: Arc<DeserializeGuard<OzoneManagerRing>>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = match &obj.0 {
        Ok(cached) => match fresh(&ctx, cached).await {
            Ok(Some(ring)) => reconcile_ring(&ring, &ctx).await,
            Ok(None) => Ok(Action::await_change()),
            Err(e) => Err(e),
        },
        Err(invalid) => {
            // Unreadable objects are reported and left alone; the others keep being served.
            ctx.metrics.invalid_objects.inc();
            tracing::warn!(name = ?invalid.metadata.name, namespace = ?invalid.metadata.namespace,
                error = %invalid.error, "cannot read OzoneManagerRing");
            let reference = DeserializeGuard::<OzoneManagerRing>::object_ref(&obj, &());
            publish(
                &ctx,
                &reference,
                EventType::Warning,
                "InvalidObject",
                "Read",
                format!("cannot read the resource: {}", invalid.error),
            )
            .await;
            Ok(Action::await_change())
        }
    };
    ctx.metrics.reconcile_seconds.observe(started.elapsed().as_secs_f64());
    let outcome = if result.is_ok() { Outcome::Ok } else { Outcome::Error };
    ctx.metrics.reconciles.get_or_create(&ResultLabels { result: outcome }).inc();
    if result.is_ok() {
        ctx.failures.reset(&format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any()));
    }
    result
}

/// The ring as the API server has it now. The controller's cache can lag behind the status
/// this operator wrote a moment ago (removed members, transition times), so a reconcile starts
/// from a fresh read.
async fn fresh(ctx: &Context, cached: &OzoneManagerRing) -> Result<Option<OzoneManagerRing>, Error> {
    let api: Api<OzoneManagerRing> = Api::namespaced(ctx.client.clone(), &cached.namespace().unwrap_or_default());
    api.get_opt(&cached.name_any()).await.map_err(kube_err(format!("reading OzoneManagerRing {}", cached.name_any())))
}

/// Requeue with a growing backoff; logs the error.
pub fn error_policy(obj: Arc<DeserializeGuard<OzoneManagerRing>>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any());
    let n = ctx.failures.fail(&key);
    let wait = ctx.backoff(n);
    tracing::warn!(ring = %key, failures = n, retry_in = ?wait, "reconcile failed: {error}");
    Action::requeue(wait)
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

async fn publish(
    ctx: &Context,
    reference: &ObjectReference,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    publish_about(ctx, reference, None, type_, reason, action, note).await
}

async fn publish_about(
    ctx: &Context,
    reference: &ObjectReference,
    secondary: Option<ObjectReference>,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let ev = Event { type_, reason: reason.into(), note: Some(note), action: action.into(), secondary };
    if let Err(e) = ctx.recorder.publish(&ev, reference).await {
        tracing::debug!("cannot publish event {reason}: {e}");
    }
}

fn removed_ordinals(ring: &OzoneManagerRing, names: &RingNames) -> BTreeSet<u32> {
    ring.status.iter().flat_map(|s| s.removed_members.iter()).filter_map(|id| names.ordinal_of(id)).collect()
}

async fn write_status(ctx: &Context, ring: &OzoneManagerRing, status: &OzoneManagerRingStatus) -> Result<(), Error> {
    if !status::changed(ring.status.as_ref(), status) {
        return Ok(());
    }
    let api: Api<OzoneManagerRing> = Api::namespaced(ctx.client.clone(), &ring.namespace().unwrap_or_default());
    let body = serde_json::json!({
        "apiVersion": OzoneManagerRing::api_version(&()),
        "kind": OzoneManagerRing::kind(&()),
        "status": status,
    });
    api.patch_status(&ring.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body))
        .await
        .map_err(kube_err("writing status"))?;
    Ok(())
}

async fn reconcile_ring(ring: &OzoneManagerRing, ctx: &Context) -> Result<Action, Error> {
    if ring.meta().deletion_timestamp.is_some() {
        // Children go with their owner reference; volumes follow pvcRetentionPolicy.whenDeleted.
        return Ok(Action::await_change());
    }
    let reference = ring.object_ref(&());
    let model = match RingModel::from_resource(ring, &ctx.settings) {
        Ok(m) => m,
        Err(e) => {
            ctx.metrics.invalid_objects.inc();
            publish(ctx, &reference, EventType::Warning, "InvalidSpec", "Validate", e.to_string()).await;
            let names =
                RingNames::new(&ring.name_any(), &ring.namespace().unwrap_or_default(), &ctx.settings.cluster_domain);
            let status = status::invalid_spec(
                ring.status.as_ref(),
                ring.meta().generation,
                names.selector_string(),
                e.to_string(),
                Time(Timestamp::now()),
            );
            write_status(ctx, ring, &status).await?;
            return Ok(Action::await_change());
        }
    };
    let names = model.names.clone();
    let ns = names.namespace.clone();

    // Read.
    let memory = Recollection {
        removed_members: removed_ordinals(ring, &names),
        eviction_requests: ctx.evictions.recent(&ns, ctx.timing.eviction_memory),
    };
    let mut observed = observe(&ctx.client, ctx.ring.as_ref(), &model, memory, ctx.timing.stuck_after).await?;

    // Render and decide.
    let (template, desired_hash) = desired_template(&model);
    observed.desired_pod_hash = desired_hash;
    let plan = plan::plan(&observed);
    tracing::debug!(ring = %ring_key(&names), step = ?plan.step, sts = plan.sts_replicas, "planned");

    // Apply, in a fixed order.
    let site = siteconfig::render(&model, &plan.membership);
    apply(&ctx.client, &ns, &serviceaccount::build(&model)).await?;
    apply(&ctx.client, &ns, &configmap::build(&model, &site)).await?;
    apply(&ctx.client, &ns, &services::headless(&model)).await?;
    apply(&ctx.client, &ns, &services::client(&model)).await?;
    apply(&ctx.client, &ns, &statefulset::build(&model, plan.sts_replicas, template.clone())).await?;
    let pdb_api: Api<PodDisruptionBudget> = Api::namespaced(ctx.client.clone(), &ns);
    if pdbs::wanted(&model) {
        apply(&ctx.client, &ns, &pdbs::leader(&model)).await?;
        let ring_size = model.replicas.max(plan.sts_replicas).max(plan.membership.nodes.len() as u32);
        apply(&ctx.client, &ns, &pdbs::followers(&model, ring_size)).await?;
    } else {
        for name in [names.leader_pdb(), names.followers_pdb()] {
            delete_if_present(&pdb_api, &name, &DeleteParams::default())
                .await
                .map_err(kube_err(format!("deleting PodDisruptionBudget {name}")))?;
        }
    }

    // Role labels follow the nodes' live roles (leader first).
    set_role_labels(ctx, &ns, &plan.labels).await?;

    // Act on the ring.
    let (report, newly_removed) = execute(ctx, &model, &observed, &plan, &template, &reference).await?;
    let step_outcome = if report.reason.ends_with("Failed") { Outcome::Error } else { Outcome::Ok };
    if !matches!(plan.step, Step::Idle | Step::Wait { .. }) {
        ctx.metrics.steps.get_or_create(&StepLabels { step: plan.step.kind(), result: step_outcome }).inc();
    }

    // Status.
    let mut plan_for_status = plan.clone();
    if let Some(r) = newly_removed {
        plan_for_status.removed_members.insert(r);
    }
    let status =
        status::compute(&model, &observed, &plan_for_status, &report, ring.status.as_ref(), Time(Timestamp::now()));
    leader_events(ctx, &reference, ring.status.as_ref(), &status).await;
    write_status(ctx, ring, &status).await?;

    Ok(match plan.step {
        Step::Idle => Action::requeue(ctx.timing.steady_requeue),
        _ => Action::requeue(ctx.timing.busy_requeue),
    })
}

/// Patches `omring.io/role` on pods (a null value removes it).
pub async fn set_role_labels(ctx: &Context, ns: &str, changes: &[plan::LabelChange]) -> Result<(), Error> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    for (pod, value) in changes {
        let patch = serde_json::json!({"metadata": {"labels": {LABEL_ROLE: value}}});
        match api.patch(pod, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(kube_err(format!("labelling pod {pod}"))(e)),
        }
    }
    Ok(())
}

fn transferred_last_time(old: Option<&OzoneManagerRingStatus>) -> bool {
    old.is_some_and(|s| s.conditions.iter().any(|c| c.type_ == status::PROGRESSING && c.reason == "LeaderTransferred"))
}

/// Events for a formed ring and for leadership changes nobody asked for.
async fn leader_events(
    ctx: &Context,
    reference: &ObjectReference,
    old: Option<&OzoneManagerRingStatus>,
    new: &OzoneManagerRingStatus,
) {
    let old_leader = old.and_then(|s| s.leader.clone());
    match (&old_leader, &new.leader) {
        (None, Some(l)) => {
            let was_available = old
                .map(|s| s.conditions.iter().any(|c| c.type_ == status::AVAILABLE && c.reason != "NoLeader"))
                .unwrap_or(false);
            let (reason, note) = if was_available {
                ("LeaderElected", format!("{l} is the leader"))
            } else {
                ("Formed", format!("the ring formed with {} nodes; {l} is the leader", new.nodes.len()))
            };
            publish(ctx, reference, EventType::Normal, reason, "Observe", note).await;
        }
        // A transfer the operator made already has its LeaderTransferred event.
        (Some(a), Some(b)) if a != b && !transferred_last_time(old) => {
            publish(
                ctx,
                reference,
                EventType::Normal,
                "LeaderChanged",
                "Observe",
                format!("leadership moved from {a} to {b}"),
            )
            .await;
        }
        (Some(a), None) => {
            publish(
                ctx,
                reference,
                EventType::Warning,
                "NoLeader",
                "Observe",
                format!("{a} was the leader; no node reports being the leader now"),
            )
            .await;
        }
        _ => {}
    }
}

/// Carries out the plan's step. Returns the Progressing report and, after a successful
/// decommission, the ordinal to record as removed.
async fn execute(
    ctx: &Context,
    model: &RingModel,
    o: &Observed,
    plan: &Plan,
    template: &PodTemplateSpec,
    reference: &ObjectReference,
) -> Result<(StepReport, Option<u32>), Error> {
    let names = &model.names;
    let ns = names.namespace.as_str();
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
            publish_about(ctx, reference, pvc, EventType::Normal, "StaleVolumeDeleted", "DeleteVolume", note.clone())
                .await;
            StepReport::new("DeletingStaleVolume", note)
        }
        Step::ScaleUp { to, candidates } => {
            let members = reachable_members(o, None);
            let mut disagreements = Vec::new();
            for c in candidates {
                disagreements.extend(ctx.ring.config_disagreements(&members, &configured_node(names, *c)).await);
            }
            if disagreements.is_empty() {
                apply(&ctx.client, ns, &statefulset::build(model, *to, template.clone())).await?;
                let new: Vec<String> = candidates.iter().map(|c| names.pod(*c)).collect();
                let note = format!("every member lists {}; starting them, they join one at a time", new.join(", "));
                publish(ctx, reference, EventType::Normal, "Bootstrapping", "ScaleUp", note.clone()).await;
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
            let disagreements = ctx.ring.config_disagreements(&members, &node).await;
            if !disagreements.is_empty() {
                StepReport::new(
                    "WaitingForConfig",
                    format!("{} cannot join yet: {}", node.node_id, summarize(&disagreements)),
                )
            } else {
                let req = JoinRequest { node: node.clone(), hostname: Some(names.host(*ordinal)) };
                match ctx.ring.join(&members, &req).await {
                    Ok(change) => {
                        let note = format!(
                            "{} joined the ring ({}); members: {}",
                            node.node_id,
                            change.message,
                            change.members.iter().map(|m| m.node_id.as_str()).collect::<Vec<_>>().join(",")
                        );
                        let pod = pod_ref(names, &node.node_id);
                        publish_about(ctx, reference, pod, EventType::Normal, "MemberAdded", "Join", note.clone())
                            .await;
                        StepReport::new("MemberAdded", note)
                    }
                    Err(e) => {
                        let note = format!("join of {} not finished: {e}; will ask again", node.node_id);
                        let pod = pod_ref(names, &node.node_id);
                        publish_about(ctx, reference, pod, EventType::Warning, "JoinFailed", "Join", note.clone())
                            .await;
                        StepReport::new("JoinFailed", note)
                    }
                }
            }
        }
        Step::Decommission { ordinal } => {
            let node_id = names.pod(*ordinal);
            let members = reachable_members(o, None);
            let others = reachable_members(o, Some(*ordinal));
            let disagreements = ctx.ring.decommission_disagreements(&others, &node_id).await;
            if !disagreements.is_empty() {
                StepReport::new(
                    "WaitingForConfig",
                    format!(
                        "waiting until every member lists {node_id} as decommissioned: {}",
                        summarize(&disagreements)
                    ),
                )
            } else {
                match ctx.ring.decommission(&members, &node_id).await {
                    Ok(change) => {
                        let note = format!(
                            "{node_id} left the ring ({}); members: {}",
                            change.message,
                            change.members.iter().map(|m| m.node_id.as_str()).collect::<Vec<_>>().join(",")
                        );
                        let pod = pod_ref(names, &node_id);
                        publish_about(
                            ctx,
                            reference,
                            pod,
                            EventType::Normal,
                            "MemberRemoved",
                            "Decommission",
                            note.clone(),
                        )
                        .await;
                        return Ok((StepReport::new("MemberRemoved", note), Some(*ordinal)));
                    }
                    Err(e) => {
                        let note = format!("decommission of {node_id} not finished: {e}; will ask again");
                        let pod = pod_ref(names, &node_id);
                        publish_about(
                            ctx,
                            reference,
                            pod,
                            EventType::Warning,
                            "DecommissionFailed",
                            "Decommission",
                            note.clone(),
                        )
                        .await;
                        StepReport::new("DecommissionFailed", note)
                    }
                }
            }
        }
        Step::TransferLeader { from, to, reason } => transfer(ctx, model, o, *from, *to, *reason, reference).await?,
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
            publish_about(
                ctx,
                reference,
                pod_ref(names, name),
                EventType::Normal,
                "Restart",
                "RestartPod",
                note.clone(),
            )
            .await;
            StepReport::new("RollingRestart", note)
        }
    };
    Ok((report, None))
}

/// Moves leadership from `from` to `to` and moves the role labels right away, new leader
/// first, so the budgets follow. Shared by reconcile and the eviction webhook.
pub async fn transfer(
    ctx: &Context,
    model: &RingModel,
    o: &Observed,
    from: u32,
    to: Option<u32>,
    reason: TransferReason,
    reference: &ObjectReference,
) -> Result<StepReport, Error> {
    let names = &model.names;
    let key = ring_key(names);
    let Some(_permit) = ctx.transfers.try_begin(&key) else {
        return Ok(StepReport::new("TransferringLeader", "a leadership transfer is already running"));
    };
    let members = reachable_members(o, None);
    let target = to.map(|t| names.pod(t));
    let started = Instant::now();
    let result = ctx.ring.transfer_leader(&members, target.as_deref()).await;
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
            publish_about(ctx, reference, pod, EventType::Normal, "LeaderTransferred", "TransferLeader", note.clone())
                .await;
            let mut labels = Vec::new();
            if names.ordinal_of(&resp.new_leader).is_some() {
                labels.push((resp.new_leader.clone(), Some(ROLE_LEADER)));
            }
            if names.ordinal_of(&resp.previous_leader).is_some() && resp.previous_leader != resp.new_leader {
                labels.push((resp.previous_leader.clone(), Some(ROLE_FOLLOWER)));
            }
            set_role_labels(ctx, &names.namespace, &labels).await?;
            Ok(StepReport::new("LeaderTransferred", note))
        }
        Err(e) => {
            let note = format!("moving leadership away from {} ({}) failed: {e}", names.pod(from), reason.as_str());
            let pod = pod_ref(names, &names.pod(from));
            publish_about(
                ctx,
                reference,
                pod,
                EventType::Warning,
                "LeaderTransferFailed",
                "TransferLeader",
                note.clone(),
            )
            .await;
            Ok(StepReport::new("LeaderTransferFailed", note))
        }
    }
}
