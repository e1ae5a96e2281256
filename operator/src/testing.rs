//! Test doubles: an in-memory Kubernetes API server behind `kube::Client`, and a fake ring.
//!
//! The fake API server understands what the operator sends (GET, LIST with label selectors,
//! server-side apply, merge patch, status patch, DELETE with preconditions, POST of events),
//! keeps objects by path, logs every request in order, and can be told to fail requests, so
//! reconcile tests assert on the resulting objects and on the order of calls rather than on
//! a fixed script.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use futures::future::BoxFuture;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use om_client::wire::{ConfiguredNode, JoinRequest, MemberInfo, MembershipChange, NodeStatus, Role, TransferResponse};
use om_client::{NodeAddress, ServiceConfig};
use serde_json::{json, Value};

use crate::builders::{configmap, secrets, statefulset};
use crate::context::{Clock, Context, Timing};
use crate::crd::OzoneManagerRing;
use crate::metrics::Metrics;
use crate::model::{RingModel, Settings};
use crate::names::{ANNOTATION_POD_SPEC_HASH, ANNOTATION_TLS, LABEL_ROLE};
use crate::reconcile::{reconcile, Error};
use crate::ringclient::{Disagreements, RingClient, RingCredentials, RingError};
use crate::siteconfig::{render, Membership};
use kube::core::error_boundary::DeserializeGuard;
use kube::runtime::controller::Action;

const COLLECTIONS: &[&str] = &[
    "configmaps",
    "pods",
    "statefulsets",
    "persistentvolumeclaims",
    "services",
    "serviceaccounts",
    "poddisruptionbudgets",
    "events",
    "nodes",
    "persistentvolumes",
    "ozonemanagerrings",
    "leases",
    "validatingwebhookconfigurations",
    "secrets",
    "networkpolicies",
    "certificates",
];

/// One request as the fake API server saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Option<Value>,
}

#[derive(Debug)]
struct Failure {
    method: Method,
    path_contains: String,
    code: u16,
    remaining: usize,
}

#[derive(Debug, Default)]
struct State {
    objects: BTreeMap<String, Value>,
    log: Vec<Logged>,
    failures: Vec<Failure>,
    version: u64,
}

/// An in-memory API server; clone freely (shared state).
#[derive(Clone, Default)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                if let Ok(b) = u8::from_str_radix(hex, 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn labels_match(obj: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let (k, v) = term.split_once('=').unwrap_or((term, ""));
        obj["metadata"]["labels"][k].as_str() == Some(v)
    })
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

impl FakeApi {
    pub fn new() -> Self {
        Self::default()
    }

    /// A kube client talking to this server.
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.clone(), "default")
    }

    /// Stores an object at its API path (e.g. `/api/v1/namespaces/ns/pods/om-0`).
    pub fn insert(&self, path: &str, mut obj: Value) {
        let mut s = self.state.lock().unwrap();
        s.version += 1;
        let v = s.version;
        let meta = obj["metadata"].as_object_mut().expect("object has metadata");
        meta.entry("resourceVersion").or_insert(json!(v.to_string()));
        meta.entry("uid").or_insert(json!(format!("uid-{v}")));
        meta.entry("generation").or_insert(json!(1));
        s.objects.insert(path.to_string(), obj);
    }

    pub fn get(&self, path: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.get(path).cloned()
    }

    pub fn remove(&self, path: &str) {
        self.state.lock().unwrap().objects.remove(path);
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Logged> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn clear_log(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// `METHOD path` of the requests that changed something (not GET).
    pub fn writes(&self) -> Vec<String> {
        self.log().iter().filter(|l| l.method != Method::GET).map(|l| format!("{} {}", l.method, l.path)).collect()
    }

    /// Makes the next `times` requests with this method and a path containing `path_contains`
    /// fail with `code`.
    pub fn fail(&self, method: Method, path_contains: &str, code: u16, times: usize) {
        self.state.lock().unwrap().failures.push(Failure {
            method,
            path_contains: path_contains.into(),
            code,
            remaining: times,
        });
    }

    fn handle(&self, method: Method, path: &str, query: &str, content_type: &str, body: Option<Value>) -> (u16, Value) {
        let mut s = self.state.lock().unwrap();
        s.log.push(Logged {
            method: method.clone(),
            path: path.into(),
            query: query.into(),
            content_type: content_type.into(),
            body: body.clone(),
        });
        if let Some(f) =
            s.failures.iter_mut().find(|f| f.remaining > 0 && f.method == method && path.contains(&f.path_contains))
        {
            f.remaining -= 1;
            let code = f.code;
            return (code, status_body(code, "InternalError", "injected failure"));
        }
        let last = path.rsplit('/').next().unwrap_or("");
        let is_collection = COLLECTIONS.contains(&last);
        let (object_path, subresource) = match path.strip_suffix("/status") {
            Some(p) if !is_collection => (p.to_string(), Some("status")),
            _ => (path.to_string(), None),
        };
        s.version += 1;
        let version = s.version;
        match method {
            Method::GET if is_collection => {
                let selector = query_param(query, "labelSelector").unwrap_or_default();
                let prefix = format!("{path}/");
                let items: Vec<Value> = s
                    .objects
                    .iter()
                    .filter(|(p, _)| p.starts_with(&prefix) && !p[prefix.len()..].contains('/'))
                    .map(|(_, o)| o.clone())
                    .filter(|o| labels_match(o, &selector))
                    .collect();
                (
                    200,
                    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": version.to_string()}, "items": items}),
                )
            }
            Method::GET => match s.objects.get(&object_path) {
                Some(o) => (200, o.clone()),
                None => (404, status_body(404, "NotFound", &format!("{object_path} not found"))),
            },
            Method::POST if is_collection => {
                let mut obj = body.unwrap_or(json!({}));
                let name = obj["metadata"]["name"].as_str().unwrap_or("unnamed").to_string();
                obj["metadata"]["uid"] = json!(format!("uid-{version}"));
                s.objects.insert(format!("{path}/{name}"), obj.clone());
                (201, obj)
            }
            Method::PATCH => {
                let patch = body.unwrap_or(json!({}));
                let apply = content_type.starts_with("application/apply-patch");
                // A resourceVersion in an apply is a precondition, as in the API server.
                if let Some(want) =
                    patch["metadata"]["resourceVersion"].as_str().filter(|_| apply && subresource.is_none())
                {
                    let have = s.objects.get(&object_path).and_then(|o| o["metadata"]["resourceVersion"].as_str());
                    if have != Some(want) {
                        return (409, status_body(409, "Conflict", "the object has been modified"));
                    }
                }
                match (s.objects.get_mut(&object_path), subresource) {
                    (None, Some(_)) | (None, None) if !apply => {
                        (404, status_body(404, "NotFound", &format!("{object_path} not found")))
                    }
                    (Some(existing), Some(_)) => {
                        if apply {
                            existing["status"] = patch["status"].clone();
                        } else {
                            merge(existing, &json!({"status": patch["status"].clone()}));
                        }
                        existing["metadata"]["resourceVersion"] = json!(version.to_string());
                        (200, existing.clone())
                    }
                    (Some(existing), None) => {
                        if apply {
                            let mut next = patch.clone();
                            for keep in ["uid", "creationTimestamp", "deletionTimestamp"] {
                                if let Some(v) = existing["metadata"].get(keep) {
                                    next["metadata"][keep] = v.clone();
                                }
                            }
                            // Labels set by others (the role label) survive the operator's apply.
                            if let Some(labels) = existing["metadata"]["labels"].as_object() {
                                for (k, v) in labels {
                                    if next["metadata"]["labels"].get(k).is_none() {
                                        next["metadata"]["labels"][k] = v.clone();
                                    }
                                }
                            }
                            let generation = existing["metadata"]["generation"].as_i64().unwrap_or(1);
                            let spec_changed = existing.get("spec") != next.get("spec");
                            next["metadata"]["generation"] = json!(generation + i64::from(spec_changed));
                            if let Some(st) = existing.get("status") {
                                next["status"] = st.clone();
                            }
                            *existing = next;
                        } else {
                            merge(existing, &patch);
                        }
                        existing["metadata"]["resourceVersion"] = json!(version.to_string());
                        (200, existing.clone())
                    }
                    (None, _) => {
                        let mut obj = patch.clone();
                        obj["metadata"]["uid"] = json!(format!("uid-{version}"));
                        obj["metadata"]["generation"] = json!(1);
                        obj["metadata"]["resourceVersion"] = json!(version.to_string());
                        s.objects.insert(object_path.clone(), obj.clone());
                        (201, obj)
                    }
                }
            }
            Method::DELETE => {
                let want_uid = body.as_ref().and_then(|b| b["preconditions"]["uid"].as_str().map(String::from));
                match s.objects.get(&object_path) {
                    None => (404, status_body(404, "NotFound", &format!("{object_path} not found"))),
                    Some(o) if want_uid.as_deref().is_some_and(|u| o["metadata"]["uid"].as_str() != Some(u)) => {
                        (409, status_body(409, "Conflict", "precondition failed: uid"))
                    }
                    Some(_) => {
                        let o = s.objects.remove(&object_path).unwrap_or(json!({}));
                        (200, o)
                    }
                }
            }
            _ => (405, status_body(405, "MethodNotAllowed", "not supported by the fake")),
        }
    }
}

impl tower::Service<Request<kube::client::Body>> for FakeApi {
    type Response = Response<kube::client::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<kube::client::Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
            let body: Option<Value> = if bytes.is_empty() { None } else { serde_json::from_slice(&bytes).ok() };
            let content_type =
                parts.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let (code, value) =
                this.handle(parts.method, parts.uri.path(), parts.uri.query().unwrap_or(""), &content_type, body);
            let mut resp = Response::new(kube::client::Body::from(serde_json::to_vec(&value).unwrap_or_default()));
            *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
            Ok(resp)
        })
    }
}

#[derive(Debug, Default)]
struct RingState {
    statuses: HashMap<String, Result<NodeStatus, String>>,
    config_disagreements: Disagreements,
    decommission_disagreements: Disagreements,
    join_error: Option<String>,
    transfer_error: Option<String>,
    decommission_error: Option<String>,
    calls: Vec<String>,
    /// What the last client handed out was given (None: none was asked for yet).
    credentials: Option<Option<RingCredentials>>,
    /// Refuse calls without a client certificate, as a ring with TLS does.
    require_credentials: bool,
}

/// A ring that answers from a table the test fills in, and records every call. Clones share
/// the table (what [`RingClient::with_credentials`] hands out).
#[derive(Debug, Default, Clone)]
pub struct FakeRing {
    state: Arc<Mutex<RingState>>,
    credentials: Option<RingCredentials>,
}

fn ids(service: &ServiceConfig) -> String {
    service.nodes.iter().map(|n| n.node_id.as_str()).collect::<Vec<_>>().join(",")
}

impl FakeRing {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A healthy ring: `members` voters, `leader` leads, each at `applied`.
    pub fn healthy(&self, ring: &str, members: &[u32], leader: u32, applied: u64) {
        let infos: Vec<MemberInfo> = members
            .iter()
            .map(|o| MemberInfo {
                node_id: format!("{ring}-{o}"),
                hostname: format!("{ring}-{o}"),
                rpc_address: format!("{ring}-{o}:9862"),
                voter: true,
                matched_index: None,
            })
            .collect();
        let mut s = self.state.lock().unwrap();
        for o in members {
            let role = if *o == leader { Role::Leader } else { Role::Follower };
            s.statuses.insert(format!("{ring}-{o}"), Ok(node_status(ring, *o, role, leader, &infos, applied)));
        }
    }

    pub fn set(&self, node_id: &str, status: Result<NodeStatus, String>) {
        self.state.lock().unwrap().statuses.insert(node_id.into(), status);
    }

    pub fn set_config_disagreements(&self, d: Disagreements) {
        self.state.lock().unwrap().config_disagreements = d;
    }

    pub fn set_decommission_disagreements(&self, d: Disagreements) {
        self.state.lock().unwrap().decommission_disagreements = d;
    }

    pub fn fail_transfers(&self, why: Option<&str>) {
        self.state.lock().unwrap().transfer_error = why.map(String::from);
    }

    pub fn fail_joins(&self, why: Option<&str>) {
        self.state.lock().unwrap().join_error = why.map(String::from);
    }

    pub fn fail_decommissions(&self, why: Option<&str>) {
        self.state.lock().unwrap().decommission_error = why.map(String::from);
    }

    /// Calls other than status, in order.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn clear_calls(&self) {
        self.state.lock().unwrap().calls.clear();
    }

    /// The credentials the operator last asked for a client with.
    pub fn last_credentials(&self) -> Option<Option<RingCredentials>> {
        self.state.lock().unwrap().credentials.clone()
    }

    /// Make every call without a client certificate fail, as a ring with TLS does.
    pub fn require_credentials(&self, on: bool) {
        self.state.lock().unwrap().require_credentials = on;
    }

    fn refused(&self) -> Option<RingError> {
        (self.state.lock().unwrap().require_credentials && self.credentials.is_none())
            .then(|| RingError::Unreachable("TLS handshake failed: no client certificate".into()))
    }

    fn leader_of(&self) -> Option<NodeStatus> {
        self.state
            .lock()
            .unwrap()
            .statuses
            .values()
            .filter_map(|s| s.as_ref().ok())
            .find(|s| s.role == Role::Leader)
            .cloned()
    }
}

/// A node's status in a ring named `ring` whose leader is `leader`.
pub fn node_status(
    ring: &str,
    ordinal: u32,
    role: Role,
    leader: u32,
    members: &[MemberInfo],
    applied: u64,
) -> NodeStatus {
    NodeStatus {
        service_id: ring.into(),
        node_id: format!("{ring}-{ordinal}"),
        hostname: format!("{ring}-{ordinal}"),
        role,
        term: 1,
        leader_id: Some(format!("{ring}-{leader}")),
        last_log_index: applied,
        commit_index: applied,
        applied_index: applied,
        flushed_index: applied,
        ready: matches!(role, Role::Leader | Role::Follower),
        members: members.to_vec(),
        prepare: Default::default(),
    }
}

impl RingClient for FakeRing {
    fn with_credentials(&self, credentials: Option<RingCredentials>) -> Arc<dyn RingClient> {
        self.state.lock().unwrap().credentials = Some(credentials.clone());
        Arc::new(FakeRing { state: self.state.clone(), credentials })
    }

    fn node_status<'a>(
        &'a self,
        _service_id: &'a str,
        node: &'a NodeAddress,
    ) -> BoxFuture<'a, Result<NodeStatus, RingError>> {
        let refused = self.refused();
        let answer = self.state.lock().unwrap().statuses.get(&node.node_id).cloned();
        Box::pin(async move {
            if let Some(e) = refused {
                return Err(e);
            }
            match answer {
                Some(Ok(s)) => Ok(s),
                Some(Err(e)) => Err(RingError::Unreachable(e)),
                None => Err(RingError::Unreachable(format!("{}: connection refused", node.node_id))),
            }
        })
    }

    fn config_disagreements<'a>(
        &'a self,
        service: &'a ServiceConfig,
        candidate: &'a ConfiguredNode,
    ) -> BoxFuture<'a, Disagreements> {
        let mut s = self.state.lock().unwrap();
        s.calls.push(format!("config_disagreements {} asking {}", candidate.node_id, ids(service)));
        let d = s.config_disagreements.clone();
        Box::pin(async move { d })
    }

    fn decommission_disagreements<'a>(
        &'a self,
        service: &'a ServiceConfig,
        node_id: &'a str,
    ) -> BoxFuture<'a, Disagreements> {
        let mut s = self.state.lock().unwrap();
        s.calls.push(format!("decommission_disagreements {node_id} asking {}", ids(service)));
        let d = s.decommission_disagreements.clone();
        Box::pin(async move { d })
    }

    fn join<'a>(
        &'a self,
        service: &'a ServiceConfig,
        req: &'a JoinRequest,
    ) -> BoxFuture<'a, Result<MembershipChange, RingError>> {
        let mut s = self.state.lock().unwrap();
        s.calls.push(format!("join {} via {}", req.node.node_id, ids(service)));
        let result = match &s.join_error {
            Some(e) => Err(RingError::Rejected(e.clone())),
            None => Ok(MembershipChange { changed: true, members: Vec::new(), message: "added".into() }),
        };
        Box::pin(async move { result })
    }

    fn transfer_leader<'a>(
        &'a self,
        service: &'a ServiceConfig,
        target: Option<&'a str>,
    ) -> BoxFuture<'a, Result<TransferResponse, RingError>> {
        let previous = self.leader_of().map(|l| l.node_id).unwrap_or_default();
        let mut s = self.state.lock().unwrap();
        s.calls.push(format!("transfer_leader {} via {}", target.unwrap_or("-"), ids(service)));
        let result = match &s.transfer_error {
            Some(e) => Err(RingError::Unreachable(e.clone())),
            None => Ok(TransferResponse {
                previous_leader: previous,
                new_leader: target.unwrap_or("unknown").to_string(),
                elapsed_ms: 5,
            }),
        };
        Box::pin(async move { result })
    }

    fn decommission<'a>(
        &'a self,
        service: &'a ServiceConfig,
        node_id: &'a str,
    ) -> BoxFuture<'a, Result<MembershipChange, RingError>> {
        let mut s = self.state.lock().unwrap();
        s.calls.push(format!("decommission {node_id} via {}", ids(service)));
        let result = match &s.decommission_error {
            Some(e) => Err(RingError::Rejected(e.clone())),
            None => Ok(MembershipChange { changed: true, members: Vec::new(), message: "removed".into() }),
        };
        Box::pin(async move { result })
    }
}

// --- A whole test world --------------------------------------------------------------------

pub const RING: &str = "/apis/omring.io/v1alpha1/namespaces/ns/ozonemanagerrings/om";
pub const CM: &str = "/api/v1/namespaces/ns/configmaps/om-config";
pub const STS: &str = "/apis/apps/v1/namespaces/ns/statefulsets/om";

/// A clock a test moves by hand.
#[derive(Debug)]
pub struct FakeClock {
    now: Mutex<k8s_openapi::jiff::Timestamp>,
}

impl FakeClock {
    pub fn new(now: k8s_openapi::jiff::Timestamp) -> Arc<Self> {
        Arc::new(Self { now: Mutex::new(now) })
    }
    pub fn advance(&self, by: std::time::Duration) {
        let mut now = self.now.lock().unwrap();
        *now = now.checked_add(by).unwrap();
    }
}

impl Clock for FakeClock {
    fn now(&self) -> k8s_openapi::jiff::Timestamp {
        *self.now.lock().unwrap()
    }
}

/// A ring resource in a fake API server, a fake ring and a context over both.
pub struct World {
    pub api: FakeApi,
    pub ring: Arc<FakeRing>,
    pub ctx: Arc<Context>,
    /// The time certificates are judged by; starts at the real time.
    pub clock: Arc<FakeClock>,
}

pub fn world(replicas: u32) -> World {
    world_with(json!({"replicas": replicas}))
}

pub fn world_with(spec: Value) -> World {
    let api = FakeApi::new();
    let ring = FakeRing::new();
    // A whole second: certificates keep whole seconds, so times compare exactly.
    let clock = FakeClock::new(
        k8s_openapi::jiff::Timestamp::from_second(k8s_openapi::jiff::Timestamp::now().as_second()).unwrap(),
    );
    let ctx = Arc::new(
        Context::new(
            api.client(),
            ring.clone(),
            Settings::default(),
            Arc::new(Metrics::new()),
            Some("test".into()),
            Timing::default(),
        )
        .with_clock(clock.clone()),
    );
    api.insert(
        RING,
        json!({"apiVersion": "omring.io/v1alpha1", "kind": "OzoneManagerRing",
               "metadata": {"name": "om", "namespace": "ns", "uid": "ring-uid", "generation": 1},
               "spec": spec}),
    );
    World { api, ring, ctx, clock }
}

/// Path of a Secret of the test namespace.
pub fn secret_path(name: &str) -> String {
    format!("/api/v1/namespaces/ns/secrets/{name}")
}

impl World {
    pub fn cr(&self) -> OzoneManagerRing {
        serde_json::from_value(self.api.get(RING).unwrap()).unwrap()
    }

    pub fn set_replicas(&self, n: u32) {
        let mut cr = self.api.get(RING).unwrap();
        cr["spec"]["replicas"] = json!(n);
        cr["metadata"]["generation"] = json!(cr["metadata"]["generation"].as_i64().unwrap() + 1);
        self.api.insert(RING, cr);
    }

    pub fn model(&self) -> RingModel {
        RingModel::from_resource(&self.cr(), &Settings::default()).unwrap()
    }

    /// The pod-spec hash reconcile wants for this spec.
    pub fn desired_hash(&self) -> String {
        crate::reconcile::desired(&self.model(), &self.ctx.timing).1.pod_hash
    }

    pub async fn reconcile(&self) -> Result<Action, Error> {
        let guard: DeserializeGuard<OzoneManagerRing> = serde_json::from_value(self.api.get(RING).unwrap()).unwrap();
        reconcile(Arc::new(guard), self.ctx.clone()).await
    }

    /// The time certificates are judged by now.
    pub fn clock_now(&self) -> k8s_openapi::jiff::Timestamp {
        self.clock.now()
    }

    /// The TLS Secrets as a first reconcile leaves them (nothing without TLS).
    pub fn certificates(&self) {
        let m = self.model();
        let Some(tls) = &m.tls else { return };
        let policy = crate::pki::Policy::new(tls, self.ctx.settings.tls_propagation);
        let pki = crate::pki::reconcile(&Default::default(), &m.names, &policy, None, self.clock.now()).unwrap();
        for (path, secret) in [
            (secret_path(&m.names.ca_secret()), secrets::ca(&m, &pki.ca)),
            (secret_path(&m.names.tls_secret()), secrets::tls(&m, &pki.tls)),
            (secret_path(&m.names.admin_tls_secret()), secrets::admin(&m, &pki.admin)),
        ] {
            let mut v = serde_json::to_value(secret).unwrap();
            v["apiVersion"] = json!("v1");
            v["kind"] = json!("Secret");
            self.api.insert(&path, v);
        }
    }

    /// The data of a Secret, decoded.
    pub fn secret_data(&self, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        let v = self.api.get(&secret_path(name))?;
        let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(v).unwrap();
        Some(secret.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect())
    }

    /// ConfigMap, StatefulSet with `sts` pods, pods 0..sts (ready, current template), and the
    /// TLS Secrets.
    pub fn running(&self, configured: Membership, sts: u32) {
        self.certificates();
        let m = self.model();
        let cm = configmap::build(&m, &render(&m, &configured));
        self.api.insert(CM, serde_json::to_value(cm).unwrap());
        let t = statefulset::pod_template(&m, &render(&m, &Membership::first(1)).restart_hash);
        self.api.insert(STS, serde_json::to_value(statefulset::build(&m, sts, t)).unwrap());
        let hash = self.desired_hash();
        for o in 0..sts {
            self.pod(o, true, &hash);
        }
    }

    /// The `omring.io/tls` value pods of the current template carry.
    fn tls_annotation(&self) -> String {
        self.model().tls.is_some().to_string()
    }

    pub fn pod(&self, ordinal: u32, ready: bool, hash: &str) {
        self.api.insert(
            &format!("/api/v1/namespaces/ns/pods/om-{ordinal}"),
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": format!("om-{ordinal}"), "namespace": "ns", "uid": format!("pod-uid-{ordinal}"),
                                "labels": {"app.kubernetes.io/name": "omring", "app.kubernetes.io/instance": "om"},
                                "annotations": {ANNOTATION_POD_SPEC_HASH: hash, ANNOTATION_TLS: self.tls_annotation()}},
                   "spec": {"nodeName": format!("node-{ordinal}"), "containers": []},
                   "status": {"phase": "Running", "conditions": [
                       {"type": "Ready", "status": if ready { "True" } else { "False" },
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}),
        );
    }

    /// Writes the webhook's eviction record on pod `om-<ordinal>`, `ago` before now ("2s").
    pub fn record_eviction(&self, ordinal: u32, ago: &str) {
        let path = format!("/api/v1/namespaces/ns/pods/om-{ordinal}");
        let mut pod = self.api.get(&path).unwrap();
        let span: k8s_openapi::jiff::Span = ago.parse().unwrap();
        let at = k8s_openapi::jiff::Timestamp::now() - span;
        pod["metadata"]["annotations"][crate::names::ANNOTATION_EVICTION_REQUESTED_AT] = json!(at.to_string());
        self.api.insert(&path, pod);
    }

    /// The eviction record on pod `pod`, if any.
    pub fn eviction_record(&self, pod: &str) -> Option<String> {
        let obj = self.api.get(&format!("/api/v1/namespaces/ns/pods/{pod}"))?;
        obj["metadata"]["annotations"][crate::names::ANNOTATION_EVICTION_REQUESTED_AT].as_str().map(String::from)
    }

    pub fn pvc(&self, ordinal: u32) {
        self.api.insert(
            &format!("/api/v1/namespaces/ns/persistentvolumeclaims/data-om-{ordinal}"),
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": format!("data-om-{ordinal}"), "namespace": "ns",
                                "labels": {"app.kubernetes.io/name": "omring", "app.kubernetes.io/instance": "om"}},
                   "spec": {}}),
        );
    }

    /// A Kubernetes Node labelled with its hostname, Ready or NotReady (since `since`), cordoned or not.
    pub fn k8s_node(&self, name: &str, cordoned: bool, ready: bool, since: &str) {
        self.api.insert(
            &format!("/api/v1/nodes/{name}"),
            json!({"apiVersion": "v1", "kind": "Node",
                   "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                   "spec": {"unschedulable": cordoned},
                   "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "Unknown" },
                                              "lastTransitionTime": since}]}}),
        );
    }

    /// Volume `data-om-<ordinal>` (uid `uid`) bound to a local PersistentVolume pinned to `node`.
    pub fn local_volume(&self, ordinal: u32, uid: &str, node: &str) {
        let pv = format!("pv-{uid}");
        self.api.insert(
            &format!("/api/v1/namespaces/ns/persistentvolumeclaims/data-om-{ordinal}"),
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": format!("data-om-{ordinal}"), "namespace": "ns", "uid": uid,
                                "labels": {"app.kubernetes.io/name": "omring", "app.kubernetes.io/instance": "om"}},
                   "spec": {"volumeName": pv}}),
        );
        self.api.insert(
            &format!("/api/v1/persistentvolumes/{pv}"),
            json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv},
                   "spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                       {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}}}),
        );
    }

    /// Pod `om-<ordinal>` as the StatefulSet makes it and the scheduler cannot place it.
    pub fn pending_pod(&self, ordinal: u32, hash: &str) {
        self.api.insert(
            &format!("/api/v1/namespaces/ns/pods/om-{ordinal}"),
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": format!("om-{ordinal}"), "namespace": "ns", "uid": format!("pod-uid-{ordinal}-pending"),
                                "labels": {"app.kubernetes.io/name": "omring", "app.kubernetes.io/instance": "om"},
                                "annotations": {ANNOTATION_POD_SPEC_HASH: hash, ANNOTATION_TLS: self.tls_annotation()}},
                   "spec": {"containers": []},
                   "status": {"phase": "Pending", "conditions": [
                       {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}}),
        );
    }

    pub fn status(&self) -> Value {
        self.api.get(RING).unwrap()["status"].clone()
    }

    pub fn condition(&self, type_: &str) -> Value {
        let s = self.status();
        s["conditions"].as_array().unwrap().iter().find(|c| c["type"] == type_).cloned().unwrap()
    }

    pub fn sts_replicas(&self) -> i64 {
        self.api.get(STS).unwrap()["spec"]["replicas"].as_i64().unwrap()
    }

    pub fn configured(&self) -> Membership {
        let xml = self.api.get(CM).unwrap()["data"]["ozone-site.xml"].as_str().unwrap().to_string();
        crate::siteconfig::read_membership(&xml, &self.model().names, "om").unwrap()
    }

    pub fn events(&self) -> Vec<String> {
        self.api
            .log()
            .iter()
            .filter(|l| l.method == Method::POST && l.path.ends_with("/events"))
            .filter_map(|l| l.body.as_ref().and_then(|b| b["reason"].as_str().map(String::from)))
            .collect()
    }

    pub fn role_label(&self, ordinal: u32) -> Option<String> {
        self.api.get(&format!("/api/v1/namespaces/ns/pods/om-{ordinal}")).unwrap()["metadata"]["labels"][LABEL_ROLE]
            .as_str()
            .map(String::from)
    }
}
