//! Reconcile as a pipeline: read the ring, validate it into a [`RingModel`], render what it
//! should be ([`Desired`]), observe what is ([`observe`]), plan ([`plan::plan`]), apply the
//! objects, act on the ring ([`execute`]), publish the events, write the status.
//!
//! The decisions live in [`crate::plan`] and the ring operations in [`crate::execute`].
//! Kubernetes objects are applied with server-side apply in one fixed order (ServiceAccount,
//! the TLS Secrets, ConfigMap, headless Service, client Service, StatefulSet,
//! PodDisruptionBudgets, NetworkPolicy), so certificates and configuration always reach the
//! API server before the pods that read them; owned objects the plan no longer wants are
//! swept afterwards. Every event of a reconcile is published by [`publish`], here.
//!
//! A ring with TLS first has its certificates checked ([`crate::pki`], from the Secrets as
//! read): the operator talks to the ring with its own client certificate from them, and the
//! reconcile comes back before the next renewal or CA rotation step is due.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference, PodTemplateSpec, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::core::error_boundary::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};

pub use crate::apply::Error;
use crate::apply::{apply, apply_cluster, clear_eviction_records, delete_if_present, kube_err, set_role_labels, sweep};
use crate::builders::{configmap, networkpolicy, pdbs, secrets, serviceaccount, services, statefulset, tokenreview};
use crate::certmanager::{self, Assessed, Certificate, CERTIFICATES_READY};
use crate::context::{Context, Timing};
use crate::crd::{OzoneManagerRing, OzoneManagerRingStatus, TlsStatus};
use crate::execute::{execute, Note};
use crate::metrics::{Outcome, ResultLabels, StepLabels};
use crate::model::RingModel;
use crate::names::{RingNames, FIELD_MANAGER, FINALIZER};
use crate::observe::{observe, tls_secrets};
use crate::pki::{self, Pki};
use crate::plan::{self, Desired, Step};
use crate::ringclient::RingCredentials;
use crate::siteconfig::{self, Membership};
use crate::status;

/// The pod template the ring should run, and what the planner is told the ring should be. The
/// configuration hash in the template leaves out the membership keys, so it does not depend on
/// which nodes are listed.
pub fn desired(model: &RingModel, timing: &Timing) -> (PodTemplateSpec, Desired) {
    let restart_hash = siteconfig::render(model, &Membership::first(1)).restart_hash;
    let template = statefulset::pod_template(model, &restart_hash);
    let desired = Desired {
        replicas: model.replicas,
        pod_hash: statefulset::desired_pod_spec_hash(&template),
        stuck_after: timing.stuck_after,
        eviction_memory: timing.eviction_memory,
        node_maintenance: model.node_maintenance,
        tls: model.tls.is_some(),
    };
    (template, desired)
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
            let note = format!("cannot read the resource: {}", invalid.error);
            publish(&ctx, &reference, &[Note::ring(EventType::Warning, "InvalidObject", "Read", note)]).await;
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

/// Publishes events on the ring, in order. The one place events leave the operator.
async fn publish(ctx: &Context, reference: &ObjectReference, notes: &[Note]) {
    for n in notes {
        let ev = Event {
            type_: n.type_,
            reason: n.reason.into(),
            note: Some(n.note.clone()),
            action: n.action.into(),
            secondary: n.about.clone(),
        };
        if let Err(e) = ctx.recorder.publish(&ev, reference).await {
            tracing::debug!("cannot publish event {}: {e}", n.reason);
        }
    }
}

/// The ring's certificates, by whoever issues them.
enum Certificates {
    /// The operator's own CA ([`crate::pki`]).
    Own(Pki),
    /// cert-manager, from `spec.tls.issuerRef` ([`crate::certmanager`]).
    Issuer(Assessed),
}

impl Certificates {
    fn credentials(&self) -> Option<RingCredentials> {
        match self {
            Certificates::Own(p) => Some(p.admin_credentials()),
            Certificates::Issuer(a) => a.credentials.clone(),
        }
    }
    fn status(&self) -> TlsStatus {
        match self {
            Certificates::Own(p) => p.status.clone(),
            Certificates::Issuer(a) => a.status.clone(),
        }
    }
    fn events(&self) -> Vec<Note> {
        match self {
            Certificates::Own(p) => p.events.clone(),
            Certificates::Issuer(a) => a.events.clone(),
        }
    }
    /// The `CertificatesReady` condition: status, reason, message.
    fn condition(&self, names: &RingNames) -> (bool, &'static str, String) {
        match self {
            Certificates::Own(_) => (
                true,
                "OperatorCA",
                format!(
                    "the operator issues and renews the certificates with the ring's own CA (Secret {})",
                    names.ca_secret()
                ),
            ),
            Certificates::Issuer(a) => (a.ready, a.reason, a.message.clone()),
        }
    }
    /// Writes `status.tls` and the `CertificatesReady` condition (transition time carried over
    /// from `old`).
    fn show_in(
        &self,
        status: &mut OzoneManagerRingStatus,
        old: Option<&OzoneManagerRingStatus>,
        names: &RingNames,
        generation: Option<i64>,
    ) {
        status.tls = Some(self.status());
        let (ready, reason, message) = self.condition(names);
        status::set_condition(
            status,
            old,
            CERTIFICATES_READY,
            ready,
            reason,
            message,
            generation,
            Time(Timestamp::now()),
        );
    }
    /// The ring must wait: its certificates cannot be trusted yet.
    fn hold(&self) -> bool {
        matches!(self, Certificates::Issuer(a) if a.hold)
    }
    /// When a renewal or CA rotation step is due (cert-manager keeps its own time).
    fn next_due(&self) -> Option<Timestamp> {
        match self {
            Certificates::Own(p) => Some(p.next_due),
            Certificates::Issuer(_) => None,
        }
    }
}

/// Deletes the ring's cert-manager Certificates that are no longer wanted (TLS off, or the
/// operator's own CA again). A cluster without cert-manager (404) or an operator without the
/// permission (403) has none of them to delete.
async fn sweep_certificates(ctx: &Context, names: &RingNames, uid: &str, wanted: &[String]) -> Result<(), Error> {
    match sweep::<Certificate>(&ctx.client, &names.namespace, &names.selector_string(), uid, wanted).await {
        Err(Error::Kube { source: kube::Error::Api(s), .. }) if s.code == 404 || s.code == 403 => Ok(()),
        other => other.map(|_| ()),
    }
}

/// The ring's certificates checked at `now` (None while TLS is off).
async fn certificates(
    ctx: &Context,
    ring: &OzoneManagerRing,
    model: &RingModel,
    now: Timestamp,
) -> Result<Option<Certificates>, Error> {
    let issuer = model.tls.as_ref().and_then(|t| t.issuer.as_ref());
    if issuer.is_none() {
        // Before the operator writes the Secrets itself, cert-manager must stop writing them.
        sweep_certificates(ctx, &model.names, &model.owner.uid, &[]).await?;
    }
    let Some(tls) = &model.tls else { return Ok(None) };
    let stored = tls_secrets(&ctx.client, &model.names).await?;
    let Some(issuer) = issuer else {
        let policy = pki::Policy::new(tls, ctx.settings.tls_propagation);
        let pki = pki::reconcile(&stored, &model.names, &policy, model.ca_rotation_request.as_deref(), now)?;
        return Ok(Some(Certificates::Own(pki)));
    };
    let applied = certmanager::apply_certificates(&ctx.client, model, tls, issuer).await?;
    certmanager::adopt_secrets(&ctx.client, model, &stored).await?;
    let old = ring.status.as_ref();
    let input = certmanager::Input {
        names: &model.names,
        issuer,
        certificates: applied.as_ref().map(Vec::as_slice),
        stored: &stored,
        rotate_request: model.ca_rotation_request.as_deref(),
        old_status: old.and_then(|s| s.tls.as_ref()),
        old_condition: old.and_then(|s| s.conditions.iter().find(|c| c.type_ == CERTIFICATES_READY)),
    };
    Ok(Some(Certificates::Issuer(certmanager::assess(&input))))
}

/// Writes the Secrets a certificate pass changed: the CA first, so a certificate is never
/// stored before the CA that signed it.
async fn write_certificates(ctx: &Context, model: &RingModel, pki: &Pki) -> Result<(), Error> {
    let ns = &model.names.namespace;
    if pki.ca.write {
        apply(&ctx.client, ns, &secrets::ca(model, &pki.ca)).await?;
    }
    if pki.tls.write {
        apply(&ctx.client, ns, &secrets::tls(model, &pki.tls)).await?;
    }
    if pki.admin.write {
        apply(&ctx.client, ns, &secrets::admin(model, &pki.admin)).await?;
    }
    Ok(())
}

/// How long until `due`, at least a second.
fn until(now: Timestamp, due: Timestamp) -> Duration {
    Duration::try_from(now.duration_until(due)).unwrap_or_default().max(Duration::from_secs(1))
}

/// The ring's finalizers with ours added (`add`) or removed, written with the ring's
/// resourceVersion as a precondition; nothing is written when the list would not change.
async fn set_finalizer(ctx: &Context, ring: &OzoneManagerRing, add: bool) -> Result<(), Error> {
    let mut finalizers = ring.meta().finalizers.clone().unwrap_or_default();
    if finalizers.iter().any(|f| f == FINALIZER) == add {
        return Ok(());
    }
    finalizers.retain(|f| f != FINALIZER);
    if add {
        finalizers.push(FINALIZER.to_string());
    }
    let api: Api<OzoneManagerRing> = Api::namespaced(ctx.client.clone(), &ring.namespace().unwrap_or_default());
    let patch = serde_json::json!({
        "metadata": {"finalizers": finalizers, "resourceVersion": ring.meta().resource_version}
    });
    api.patch(&ring.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(kube_err(format!("{} finalizer {FINALIZER}", if add { "adding" } else { "removing" })))?;
    Ok(())
}

/// Deletes the ring's cluster-scoped objects (the TokenReview binding) and, when a ring with
/// cert-manager certificates is being deleted, those in order; then drops the finalizer that kept the ring
/// until they were gone. Without our finalizer there is nothing.
async fn release_cluster_objects(ctx: &Context, ring: &OzoneManagerRing, names: &RingNames) -> Result<(), Error> {
    if !ring.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    if ring.meta().deletion_timestamp.is_some() && ring.spec.tls.issuer_ref.is_some() {
        release_certificates(ctx, names).await?;
    }
    let binding = names.token_review_binding();
    let api: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(ctx.client.clone());
    delete_if_present(&api, &binding, &Default::default())
        .await
        .map_err(kube_err(format!("deleting ClusterRoleBinding {binding}")))?;
    set_finalizer(ctx, ring, false).await
}

/// cert-manager's Certificates before the Secrets they write. Left to the garbage collector,
/// which deletes both in no set order, a Secret deleted while its Certificate still exists is
/// issued again by cert-manager, without the ring as owner, and outlives the ring. (A cluster
/// without cert-manager answers 404 for the Certificates: nothing to do.)
async fn release_certificates(ctx: &Context, names: &RingNames) -> Result<(), Error> {
    let secrets = [names.tls_secret(), names.admin_tls_secret()];
    let certs: Api<Certificate> = Api::namespaced(ctx.client.clone(), &names.namespace);
    for name in &secrets {
        delete_if_present(&certs, name, &Default::default())
            .await
            .map_err(kube_err(format!("deleting Certificate {name}")))?;
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &names.namespace);
    for name in &secrets {
        delete_if_present(&api, name, &Default::default())
            .await
            .map_err(kube_err(format!("deleting Secret {name}")))?;
    }
    Ok(())
}

async fn reconcile_ring(ring: &OzoneManagerRing, ctx: &Context) -> Result<Action, Error> {
    // The names need no valid spec: a ring being deleted or refused still has them.
    let names = RingNames::new(&ring.name_any(), &ring.namespace().unwrap_or_default(), &ctx.settings.cluster_domain);
    if ring.meta().deletion_timestamp.is_some() {
        // Children go with their owner reference; volumes follow pvcRetentionPolicy.whenDeleted.
        // Cluster-scoped objects have none: the finalizer holds the ring until they are gone.
        release_cluster_objects(ctx, ring, &names).await?;
        return Ok(Action::await_change());
    }
    let reference = ring.object_ref(&());
    let model = match RingModel::from_resource(ring, &ctx.settings) {
        Ok(m) => m,
        Err(e) => {
            ctx.metrics.invalid_objects.inc();
            publish(ctx, &reference, &[Note::ring(EventType::Warning, "InvalidSpec", "Validate", e.to_string())]).await;
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

    // Certificates first: the pods mount them, and the operator talks to the ring with its own.
    let now = ctx.clock.now();
    let certs = certificates(ctx, ring, &model, now).await?;
    let pki = match &certs {
        Some(Certificates::Own(p)) => Some(p),
        _ => None,
    };
    if let Some(c) = certs.as_ref().filter(|c| c.hold()) {
        // Nodes started now could not trust each other: nothing is made or changed until
        // the certificates can be trusted; the watches on the Certificates and Secrets bring
        // the ring back as soon as cert-manager writes them.
        let (_, _, message) = c.condition(&names);
        publish(ctx, &reference, &c.events()).await;
        let mut status = status::held(
            ring.status.as_ref(),
            model.generation,
            names.selector_string(),
            "WaitingForCertificates",
            message,
            Time(Timestamp::now()),
        );
        c.show_in(&mut status, ring.status.as_ref(), &names, model.generation);
        write_status(ctx, ring, &status).await?;
        return Ok(Action::requeue(ctx.timing.steady_requeue));
    }
    let ring_client = ctx.ring.with_credentials(certs.as_ref().and_then(Certificates::credentials));

    // Render, read and decide.
    let (template, desired) = desired(&model, &ctx.timing);
    let observed = observe(&ctx.client, ring_client.as_ref(), &model, removed_ordinals(ring, &names)).await?;
    let plan = plan::plan(&observed, &desired);
    tracing::debug!(ring = %format!("{ns}/{}", names.name), step = ?plan.step, sts = plan.sts_replicas, "planned");

    // Apply, in a fixed order, then sweep what is no longer wanted.
    let site = siteconfig::render(&model, &plan.membership);
    let configmap = configmap::build(&model, &site);
    let headless = services::headless(&model);
    let client_service = services::client(&model);
    apply(&ctx.client, &ns, &serviceaccount::build(&model)).await?;
    // A secure ring checks ServiceAccount tokens with TokenReview, which needs a cluster-wide
    // binding; the finalizer goes first so the binding never outlives the ring.
    if model.tls.is_some() {
        set_finalizer(ctx, ring, true).await?;
        apply_cluster(&ctx.client, &tokenreview::build(&model)).await?;
    } else {
        release_cluster_objects(ctx, ring, &names).await?;
    }
    if let Some(p) = pki {
        write_certificates(ctx, &model, p).await?;
    }
    apply(&ctx.client, &ns, &configmap).await?;
    apply(&ctx.client, &ns, &headless).await?;
    apply(&ctx.client, &ns, &client_service).await?;
    apply(&ctx.client, &ns, &statefulset::build(&model, plan.sts_replicas, template.clone())).await?;
    let mut budgets = Vec::new();
    if pdbs::wanted(&model) {
        let ring_size = model.replicas.max(plan.sts_replicas).max(plan.membership.nodes.len() as u32);
        budgets = vec![pdbs::leader(&model), pdbs::followers(&model, ring_size)];
    }
    for pdb in &budgets {
        apply(&ctx.client, &ns, pdb).await?;
    }
    let policy = model.network_policy.as_ref().map(|np| networkpolicy::build(&model, np, &ctx.settings));
    if let Some(np) = &policy {
        apply(&ctx.client, &ns, np).await?;
    }
    let uid = ring.meta().uid.clone().unwrap_or_default();
    let selector = names.selector_string();
    let wanted = |objs: &[&kube::api::ObjectMeta]| objs.iter().filter_map(|m| m.name.clone()).collect::<Vec<_>>();
    sweep::<ConfigMap>(&ctx.client, &ns, &selector, &uid, &wanted(&[&configmap.metadata])).await?;
    sweep::<Service>(&ctx.client, &ns, &selector, &uid, &wanted(&[&headless.metadata, &client_service.metadata]))
        .await?;
    let budget_meta: Vec<&kube::api::ObjectMeta> = budgets.iter().map(|b| &b.metadata).collect();
    sweep::<PodDisruptionBudget>(&ctx.client, &ns, &selector, &uid, &wanted(&budget_meta)).await?;
    let policy_meta: Vec<&kube::api::ObjectMeta> = policy.iter().map(|p| &p.metadata).collect();
    sweep::<NetworkPolicy>(&ctx.client, &ns, &selector, &uid, &wanted(&policy_meta)).await?;
    // The certificate Secrets stay while TLS is off, so turning it on again keeps the CA; with
    // cert-manager the ring has no CA of its own, and its key goes.
    let mut certificate_secrets = vec![names.tls_secret(), names.admin_tls_secret()];
    if !matches!(certs, Some(Certificates::Issuer(_))) {
        certificate_secrets.push(names.ca_secret());
    }
    sweep::<Secret>(&ctx.client, &ns, &selector, &uid, &certificate_secrets).await?;

    // Pod metadata follows the plan: role labels after the nodes' live roles (leader first),
    // and expired eviction records cleared.
    set_role_labels(&ctx.client, &ns, &plan.labels).await?;
    clear_eviction_records(&ctx.client, &ns, &plan.expired_eviction_records).await?;

    // Act on the ring.
    let executed = execute(ctx, ring_client.as_ref(), &model, &observed, &plan, &template).await?;
    let step_outcome = if executed.report.reason.ends_with("Failed") { Outcome::Error } else { Outcome::Ok };
    if !matches!(plan.step, Step::Idle | Step::Wait { .. }) {
        ctx.metrics.steps.get_or_create(&StepLabels { step: plan.step.kind(), result: step_outcome }).inc();
    }

    // Status and events.
    let mut plan_for_status = plan.clone();
    if let Some(r) = executed.removed_member {
        plan_for_status.removed_members.insert(r);
    }
    let mut status = status::compute(
        &model,
        &observed,
        &plan_for_status,
        &executed.report,
        ring.status.as_ref(),
        Time(Timestamp::now()),
    );
    if let Some(c) = &certs {
        c.show_in(&mut status, ring.status.as_ref(), &names, model.generation);
    }
    let mut events: Vec<Note> = certs.as_ref().map(Certificates::events).unwrap_or_default();
    events.extend(executed.events);
    events.extend(leader_event(ring.status.as_ref(), &status));
    publish(ctx, &reference, &events).await;
    write_status(ctx, ring, &status).await?;

    // Waiting for a Node can take hours: the Node watch wakes the ring when it changes. A
    // renewal or CA rotation step brings the ring back on time even when nothing else does.
    let after = match plan.step {
        Step::Idle => ctx.timing.steady_requeue,
        ref s if s.waits_on_the_cluster() => ctx.timing.steady_requeue,
        _ => ctx.timing.busy_requeue,
    };
    Ok(Action::requeue(match certs.as_ref().and_then(Certificates::next_due) {
        Some(due) => after.min(until(now, due)),
        None => after,
    }))
}

fn transferred_last_time(old: Option<&OzoneManagerRingStatus>) -> bool {
    old.is_some_and(|s| s.conditions.iter().any(|c| c.type_ == status::PROGRESSING && c.reason == "LeaderTransferred"))
}

/// The event for a formed ring or a leadership change nobody asked for, if there is one.
fn leader_event(old: Option<&OzoneManagerRingStatus>, new: &OzoneManagerRingStatus) -> Option<Note> {
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
            Some(Note::ring(EventType::Normal, reason, "Observe", note))
        }
        // A transfer the operator made already has its LeaderTransferred event.
        (Some(a), Some(b)) if a != b && !transferred_last_time(old) => {
            Some(Note::ring(EventType::Normal, "LeaderChanged", "Observe", format!("leadership moved from {a} to {b}")))
        }
        (Some(a), None) => Some(Note::ring(
            EventType::Warning,
            "NoLeader",
            "Observe",
            format!("{a} was the leader; no node reports being the leader now"),
        )),
        _ => None,
    }
}
