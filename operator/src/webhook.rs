//! The validating webhook on `pods/eviction`: a drain never takes a ring's leader first.
//!
//! The request carries an Eviction, not the Pod, so the pod is fetched. If it belongs to a
//! ring and its node says it is the leader, the eviction is denied with HTTP 429 (what
//! `kubectl drain` retries) and the attempt is recorded on the pod, in the
//! `omring.io/eviction-requested-at` annotation. The webhook does nothing else: any replica
//! may serve it, and only the controller (the replica holding the Lease) acts on rings. The
//! controller watches the ring's pods, sees the record, and moves leadership; the next attempt
//! then finds a follower and is allowed (the followers' budget still limits them to one at a
//! time). Anything else, including a node that does not answer, is allowed: the webhook only
//! ever adds a delay, and `failurePolicy: Ignore` keeps drains working when the operator is
//! down. Dry-run requests get the same answer and record nothing.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use kube::core::{DynamicObject, Status};
use om_client::wire::Role;

use crate::apply::record_eviction_request;
use crate::context::Context;
use crate::crd::OzoneManagerRing;
use crate::metrics::{Decision, DecisionLabels};
use crate::model::RingModel;
use crate::names::{APP_NAME, LABEL_INSTANCE, LABEL_NAME};
use crate::ringclient::RingCredentials;
use crate::siteconfig::node_address;

/// Path the webhook is served on.
pub const PATH: &str = "/validate-eviction";

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
    // A ring with TLS is asked with the operator's client certificate for it.
    let credentials = if model.tls.is_some() {
        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
        let name = model.names.admin_tls_secret();
        match secrets.get_opt(&name).await {
            Ok(Some(s)) => match RingCredentials::from_secret(&s) {
                Ok(c) => Some(c),
                Err(e) => return Verdict::Allow(format!("cannot ask {pod_name}: {e}")),
            },
            Ok(None) => return Verdict::Allow(format!("cannot ask {pod_name}: Secret {name} does not exist yet")),
            Err(e) => return Verdict::Allow(format!("cannot read Secret {name}: {e}")),
        }
    } else {
        None
    };
    let ring_client = ctx.ring.with_credentials(credentials);
    match ring_client.node_status(&model.service_id, &node_address(&model.names, ordinal)).await {
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

/// Shared state of the HTTP handler.
#[derive(Clone)]
pub struct WebhookState {
    pub ctx: Arc<Context>,
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

/// Answers one review, and records a denied leader eviction on its pod (not on dry runs).
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
            Decision::Allowed
        }
        Verdict::RetryLater { namespace, ring, .. } => {
            tracing::info!(pod = %req.name, %namespace, %ring, dry_run = req.dry_run, "leader eviction denied for now");
            if !req.dry_run {
                // Denied either way: without the record the next attempt writes it again.
                if let Err(e) = record_eviction_request(&state.ctx.client, namespace, &req.name, Timestamp::now()).await
                {
                    tracing::warn!(pod = %req.name, %namespace, "{e}");
                }
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
    use http::Method;
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
        let state = WebhookState { ctx: w.ctx.clone() };
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

    #[tokio::test]
    async fn leader_eviction_is_denied_with_429_and_recorded_on_the_pod_only() {
        let (w, state) = setup();
        let before = Timestamp::now();
        let resp = handle(&state, &request("om-0", false)).await;
        assert!(!resp.allowed);
        assert_eq!(resp.result.code, 429);
        assert_eq!(resp.result.reason, "TooManyRequests");
        assert!(resp.result.message.contains("om-0 is the leader"), "{}", resp.result.message);
        let at: Timestamp = w.eviction_record("om-0").expect("the attempt is recorded on the pod").parse().unwrap();
        assert!(at >= before && at <= Timestamp::now());
        // The webhook acts on nothing: the controller makes the transfer when it sees the record.
        assert!(w.ring.calls().iter().all(|c| !c.starts_with("transfer_leader")), "{:?}", w.ring.calls());
        assert!(state.ctx.metrics.render().contains("omring_operator_evictions_reviewed_total{decision=\"Denied\"} 1"));
    }

    #[tokio::test]
    async fn a_failed_record_still_denies() {
        let (w, state) = setup();
        w.api.fail(Method::PATCH, "/pods/om-0", 500, 1);
        let resp = handle(&state, &request("om-0", false)).await;
        assert!(!resp.allowed);
        assert_eq!(w.eviction_record("om-0"), None);
        // The drain's next attempt records it.
        assert!(!handle(&state, &request("om-0", false)).await.allowed);
        assert!(w.eviction_record("om-0").is_some());
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
        assert!((0..3).all(|o| w.eviction_record(&format!("om-{o}")).is_none()), "allowed evictions record nothing");
    }

    #[tokio::test]
    async fn a_ring_with_tls_is_asked_with_the_operators_certificate() {
        let (w, state) = setup();
        w.ring.require_credentials(true);
        assert!(!handle(&state, &request("om-0", false)).await.allowed, "the leader answers the operator");
        let creds = w.ring.last_credentials().flatten().expect("credentials were handed to the client");
        assert_eq!(creds.cert_pem, w.secret_data("om-admin-tls").unwrap()["tls.crt"]);
        // Without its Secret the operator cannot ask, and a drain is never blocked on that.
        w.api.remove(&crate::testing::secret_path("om-admin-tls"));
        let resp = handle(&state, &request("om-0", false)).await;
        assert!(resp.allowed);
    }

    #[tokio::test]
    async fn dry_run_gets_the_answer_without_side_effects() {
        let (w, state) = setup();
        let ring = &w.ring;
        let resp = handle(&state, &request("om-0", true)).await;
        assert!(!resp.allowed);
        assert_eq!(w.eviction_record("om-0"), None);
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
