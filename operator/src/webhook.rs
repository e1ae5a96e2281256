//! The validating webhook on `pods/eviction`: a drain never takes a ring's leader first.
//!
//! The request carries an Eviction, not the Pod, so the pod is fetched. If it belongs to a
//! ring and its node says it is the leader, the eviction is denied with HTTP 429 (what
//! `kubectl drain` retries) and a leadership transfer starts in the background; once
//! leadership moved, the next attempt finds a follower and is allowed (the followers' budget
//! still limits them to one at a time). Anything else, including a node that does not answer,
//! is allowed: the webhook only ever adds a delay, and `failurePolicy: Ignore` keeps drains
//! working when the operator is down. Dry-run requests get the same answer without the
//! transfer.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use kube::core::error_boundary::DeserializeGuard;
use kube::core::{DynamicObject, Status};
use kube::runtime::reflector::ObjectRef;
use kube::Resource;
use om_client::wire::Role;
use tokio::sync::mpsc;

use crate::context::Context;
use crate::crd::OzoneManagerRing;
use crate::metrics::{Decision, DecisionLabels};
use crate::model::RingModel;
use crate::names::{APP_NAME, LABEL_INSTANCE, LABEL_NAME};
use crate::observe::{observe, Recollection};
use crate::plan::{self, Step};
use crate::reconcile;
use crate::siteconfig::node_address;

/// Path the webhook is served on.
pub const PATH: &str = "/validate-eviction";

/// Triggers a reconcile of a ring (the controller's `reconcile_on` stream).
pub type Trigger = mpsc::Sender<ObjectRef<DeserializeGuard<OzoneManagerRing>>>;

/// What the webhook answers for one eviction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow(String),
    /// Denied for now: the pod leads `ring` (namespace, name).
    RetryLater {
        message: String,
        namespace: String,
        ring: String,
    },
}

/// Decides about one eviction. Reads the pod, the ring and the pod's node; changes nothing.
pub async fn judge(ctx: &Context, namespace: &str, pod_name: &str) -> Verdict {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let pod = match pods.get_opt(pod_name).await {
        Ok(Some(p)) => p,
        Ok(None) => return Verdict::Allow("pod not found".into()),
        Err(e) => return Verdict::Allow(format!("cannot read the pod: {e}")),
    };
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    if labels.get(LABEL_NAME).map(String::as_str) != Some(APP_NAME) {
        return Verdict::Allow("not an omring pod".into());
    }
    let Some(ring_name) = labels.get(LABEL_INSTANCE) else {
        return Verdict::Allow("omring pod without an instance label".into());
    };
    let rings: Api<OzoneManagerRing> = Api::namespaced(ctx.client.clone(), namespace);
    let ring = match rings.get_opt(ring_name).await {
        Ok(Some(r)) => r,
        Ok(None) => return Verdict::Allow(format!("ring {ring_name} not found")),
        Err(e) => return Verdict::Allow(format!("cannot read ring {ring_name}: {e}")),
    };
    let Ok(model) = RingModel::from_resource(&ring, &ctx.settings) else {
        return Verdict::Allow(format!("ring {ring_name} is invalid"));
    };
    let Some(ordinal) = model.names.ordinal_of(pod_name) else {
        return Verdict::Allow("not one of the ring's ordinals".into());
    };
    match ctx.ring.node_status(&model.service_id, &node_address(&model.names, ordinal)).await {
        Ok(s) if s.role == Role::Leader && model.replicas > 1 => Verdict::RetryLater {
            message: format!(
                "{pod_name} is the leader of ring {namespace}/{ring_name}; the operator is moving leadership to \
                 another node, retry the eviction in a few seconds"
            ),
            namespace: namespace.into(),
            ring: ring_name.clone(),
        },
        Ok(s) => Verdict::Allow(format!("{pod_name} is {}", s.role)),
        Err(e) => Verdict::Allow(format!("{pod_name} does not answer ({e})")),
    }
}

/// Moves leadership away from `pod` if it still leads: observes the ring, plans with the
/// eviction recorded, and runs the transfer the planner picks.
pub async fn transfer_for_eviction(ctx: Arc<Context>, namespace: String, ring_name: String) {
    let rings: Api<OzoneManagerRing> = Api::namespaced(ctx.client.clone(), &namespace);
    let ring = match rings.get_opt(&ring_name).await {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(ring = %ring_name, "eviction transfer: cannot read the ring: {e}");
            return;
        }
    };
    let Ok(model) = RingModel::from_resource(&ring, &ctx.settings) else { return };
    let memory = Recollection {
        removed_members: Default::default(),
        eviction_requests: ctx.evictions.recent(&namespace, ctx.timing.eviction_memory),
    };
    let mut observed = match observe(&ctx.client, ctx.ring.as_ref(), &model, memory, ctx.timing.stuck_after).await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(ring = %ring_name, "eviction transfer: {e}");
            return;
        }
    };
    observed.desired_pod_hash = reconcile::desired_template(&model).1;
    match plan::plan(&observed).step {
        Step::TransferLeader { from, to, reason } => {
            let reference = ring.object_ref(&());
            if let Err(e) = reconcile::transfer(&ctx, &model, &observed, from, to, reason, &reference).await {
                tracing::warn!(ring = %ring_name, "eviction transfer: {e}");
            }
        }
        other => tracing::info!(ring = %ring_name, step = ?other, "eviction seen; no transfer to make now"),
    }
}

/// Shared state of the HTTP handler.
#[derive(Clone)]
pub struct WebhookState {
    pub ctx: Arc<Context>,
    /// Reconcile trigger of the controller, when this replica runs it.
    pub trigger: Option<Trigger>,
}

fn response_for(req: &AdmissionRequest<DynamicObject>, verdict: &Verdict) -> AdmissionResponse {
    let resp = AdmissionResponse::from(req);
    match verdict {
        Verdict::Allow(_) => resp,
        Verdict::RetryLater { message, .. } => {
            let mut denied = resp.deny(message.clone());
            denied.result = Status::failure(message, "TooManyRequests").with_code(429);
            denied
        }
    }
}

/// Answers one review, and on a leader eviction starts the transfer (not on dry runs).
pub async fn handle(state: &WebhookState, req: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    let is_eviction = req.resource.resource == "pods" && req.sub_resource.as_deref() == Some("eviction");
    let namespace = req.namespace.clone().unwrap_or_default();
    let verdict = if is_eviction {
        judge(&state.ctx, &namespace, &req.name).await
    } else {
        Verdict::Allow("not a pod eviction".into())
    };
    let decision = match &verdict {
        Verdict::Allow(why) => {
            tracing::debug!(pod = %req.name, %namespace, "eviction allowed: {why}");
            // An earlier denied attempt no longer counts once the pod may go.
            if !req.dry_run {
                state.ctx.evictions.forget(&namespace, &req.name);
            }
            Decision::Allowed
        }
        Verdict::RetryLater { namespace, ring, .. } => {
            tracing::info!(pod = %req.name, %namespace, %ring, dry_run = req.dry_run, "leader eviction denied for now");
            if !req.dry_run {
                state.ctx.evictions.record(namespace, &req.name);
                if let Some(t) = &state.trigger {
                    let _ = t.try_send(ObjectRef::new(ring).within(namespace));
                }
                tokio::spawn(transfer_for_eviction(state.ctx.clone(), namespace.clone(), ring.clone()));
            }
            Decision::Denied
        }
    };
    state.ctx.metrics.evictions_reviewed.get_or_create(&DecisionLabels { decision }).inc();
    response_for(req, &verdict)
}

async fn review(
    State(state): State<WebhookState>,
    Json(review): Json<AdmissionReview<DynamicObject>>,
) -> Result<Json<AdmissionReview<DynamicObject>>, (StatusCode, String)> {
    let req: AdmissionRequest<DynamicObject> =
        review.try_into().map_err(|e| (StatusCode::BAD_REQUEST, format!("not an admission request: {e}")))?;
    Ok(Json(handle(&state, &req).await.into_review()))
}

/// The webhook's router.
pub fn router(state: WebhookState) -> Router {
    Router::new().route(PATH, post(review)).with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::siteconfig::Membership;
    use crate::testing::{world, World};
    use serde_json::json;

    /// A healthy 3-node ring (leader om-0) and a pod of another application.
    fn setup() -> (World, WebhookState) {
        let w = world(3);
        w.running(Membership::first(3), 3);
        w.ring.healthy("om", &[0, 1, 2], 0, 10);
        w.api.insert(
            "/api/v1/namespaces/ns/pods/web-0",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0", "namespace": "ns"}, "spec": {"containers": []}}),
        );
        let state = WebhookState { ctx: w.ctx.clone(), trigger: None };
        (w, state)
    }

    fn review_json(pod: &str, dry_run: bool) -> serde_json::Value {
        json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "req-1",
                "kind": {"group": "policy", "version": "v1", "kind": "Eviction"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "subResource": "eviction",
                "requestKind": {"group": "policy", "version": "v1", "kind": "Eviction"},
                "requestResource": {"group": "", "version": "v1", "resource": "pods"},
                "requestSubResource": "eviction",
                "name": pod, "namespace": "ns", "operation": "CREATE",
                "userInfo": {"username": "admin"},
                "object": {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": "ns"}},
                "dryRun": dry_run
            }
        })
    }

    fn request(pod: &str, dry_run: bool) -> AdmissionRequest<DynamicObject> {
        let review: AdmissionReview<DynamicObject> = serde_json::from_value(review_json(pod, dry_run)).unwrap();
        review.try_into().unwrap()
    }

    async fn wait_for<F: Fn() -> bool>(what: &str, f: F) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while !f() {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn leader_eviction_is_denied_with_429_and_starts_a_transfer() {
        let (w, state) = setup();
        let ring = &w.ring;
        let resp = handle(&state, &request("om-0", false)).await;
        assert!(!resp.allowed);
        assert_eq!(resp.result.code, 429);
        assert_eq!(resp.result.reason, "TooManyRequests");
        assert!(resp.result.message.contains("om-0 is the leader"), "{}", resp.result.message);
        assert_eq!(state.ctx.evictions.recent("ns", std::time::Duration::from_secs(60)).len(), 1);
        wait_for("the transfer", || ring.calls().iter().any(|c| c.starts_with("transfer_leader om-1"))).await;
        assert!(state.ctx.metrics.render().contains("omring_operator_evictions_reviewed_total{decision=\"Denied\"} 1"));
    }

    #[tokio::test]
    async fn follower_foreign_and_silent_pods_are_allowed() {
        let (w, state) = setup();
        let ring = &w.ring;
        assert!(handle(&state, &request("om-1", false)).await.allowed);
        assert!(handle(&state, &request("web-0", false)).await.allowed);
        assert!(handle(&state, &request("gone-0", false)).await.allowed);
        ring.set("om-0", Err("connection refused".into()));
        assert!(handle(&state, &request("om-0", false)).await.allowed);
        assert!(ring.calls().is_empty());
    }

    #[tokio::test]
    async fn dry_run_gets_the_answer_without_side_effects() {
        let (w, state) = setup();
        let ring = &w.ring;
        let resp = handle(&state, &request("om-0", true)).await;
        assert!(!resp.allowed);
        assert!(state.ctx.evictions.recent("ns", std::time::Duration::from_secs(60)).is_empty());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(ring.calls().is_empty());
    }

    #[tokio::test]
    async fn http_round_trip_echoes_the_uid() {
        let (_w, state) = setup();
        let app = router(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let body = serde_json::to_vec(&review_json("om-1", false)).unwrap();
        let resp = reqwest_post(addr, PATH, &body).await;
        let review: serde_json::Value = serde_json::from_str(&resp).unwrap();
        assert_eq!(review["response"]["uid"], "req-1");
        assert_eq!(review["response"]["allowed"], true);
        let bad = reqwest_post(addr, PATH, b"{\"kind\":\"AdmissionReview\"}").await;
        assert!(bad.contains("not an admission request") || bad.contains("Failed to deserialize"), "{bad}");
    }

    /// A minimal HTTP/1.1 POST over plain TCP; returns the body.
    async fn reqwest_post(addr: std::net::SocketAddr, path: &str, body: &[u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(body).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or(out)
    }
}
