//! The three listeners of a node: client API (`ozone.om.address`), peer Raft RPC
//! (`ozone.om.ratis.port`) and health/metrics (`ozone.om.http-address`).

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures::StreamExt;
use openraft::raft::{AppendEntriesRequest, TransferLeaderRequest, VoteRequest};
use tokio::io::AsyncWriteExt;

use om_client::wire::*;

use crate::listener::ConnInfo;
use crate::network::*;
use crate::security::Principal;
use crate::state::OmNode;
use crate::store::SnapshotFile;
use crate::types::{decode_bin, encode_bin, Command, SnapshotMeta, TypeConfig, Vote};

/// An [`ApiError`] as an HTTP response.
pub struct ApiFailure(pub ApiError);

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.0)).into_response()
    }
}

impl From<ApiError> for ApiFailure {
    fn from(e: ApiError) -> Self {
        ApiFailure(e)
    }
}

fn bad_json(rej: JsonRejection) -> ApiFailure {
    ApiFailure(ApiError::new(ErrorCode::InvalidRequest, format!("invalid request body: {}", rej.body_text())))
}

/// Routes of the client API; every request is authenticated first.
pub fn client_router(node: Arc<OmNode>) -> Router {
    Router::new()
        .route(PATH_WRITE, post(write))
        .route(PATH_READ, post(read))
        .route(PATH_STATUS, get(status))
        .route(PATH_ADMIN_RELOAD_CONFIG, post(reload_config))
        .route(PATH_ADMIN_JOIN, post(join))
        .route(PATH_ADMIN_TRANSFER, post(transfer))
        .route(PATH_ADMIN_DECOMMISSION, post(decommission))
        .route(PATH_ADMIN_PREPARE, post(prepare))
        .route(PATH_ADMIN_CANCEL_PREPARE, post(cancel_prepare))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&node), authenticate))
        .with_state(node)
}

/// Puts the request's [`Principal`] into its extensions, or answers 401 UNAUTHENTICATED
/// saying what is missing.
async fn authenticate(State(node): State<Arc<OmNode>>, mut req: Request, next: axum::middleware::Next) -> Response {
    let certificate = req.extensions().get::<ConnInfo>().and_then(|c| c.certificate.clone());
    let authorization =
        req.headers().get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    match node.authn.authenticate(certificate.as_ref(), authorization.as_deref()).await {
        Ok(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Err(e) => {
            let remote = req.extensions().get::<ConnInfo>().map(|c| c.remote.to_string()).unwrap_or_default();
            tracing::info!(%remote, path = %req.uri().path(), error = %e, "unauthenticated request refused");
            node.metrics.observe_request(
                "Unauthenticated",
                ErrorCode::Unauthenticated.as_str(),
                std::time::Duration::ZERO,
            );
            ApiFailure(ApiError::new(ErrorCode::Unauthenticated, e.to_string())).into_response()
        }
    }
}

/// Routes of peer Raft RPC.
pub fn peer_router(node: Arc<OmNode>) -> Router {
    Router::new()
        .route(PATH_APPEND, post(append))
        .route(PATH_VOTE, post(vote))
        .route(PATH_PRE_VOTE, post(pre_vote))
        .route(PATH_TRANSFER_LEADER, post(transfer_leader))
        .route(PATH_SNAPSHOT, post(install_snapshot))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(PEER_BODY_LIMIT))
        .with_state(node)
}

/// Routes of the HTTP port: health and metrics.
pub fn http_router(node: Arc<OmNode>) -> Router {
    Router::new()
        .route(PATH_LIVE, get(live))
        .route(PATH_READY, get(ready))
        .route(PATH_METRICS, get(metrics))
        .route(PATH_STATUS, get(status))
        .fallback(not_found)
        .with_state(node)
}

async fn not_found(req: Request) -> ApiFailure {
    ApiFailure(ApiError::new(
        ErrorCode::InvalidRequest,
        format!("no such endpoint: {} {}", req.method(), req.uri().path()),
    ))
}

/// Who asked, from where: what the audit log records.
fn caller(who: &Principal, conn: &Option<Extension<ConnInfo>>) -> (String, String) {
    (who.user.clone(), conn.as_ref().map(|c| c.remote.ip().to_string()).unwrap_or_default())
}

fn audit<T>(
    node: &OmNode,
    (user, ip): (String, String),
    (op, params): (&'static str, serde_json::Map<String, serde_json::Value>),
    result: &Result<T, ApiError>,
) {
    node.audit.record(crate::audit::Record {
        user,
        ip,
        op,
        params,
        result: result.as_ref().map(|_| ()).map_err(|e| (e.code.as_str().to_string(), e.message.clone())),
    });
}

async fn write(
    State(node): State<Arc<OmNode>>,
    Extension(who): Extension<Principal>,
    conn: Option<Extension<ConnInfo>>,
    body: Result<Json<WriteRequest>, JsonRejection>,
) -> Response {
    let started = Instant::now();
    let req = match body {
        Ok(Json(r)) => r,
        Err(rej) => return bad_json(rej).into_response(),
    };
    let result = serve_write(&node, &who, caller(&who, &conn), started, req).await;
    to_response(result)
}

/// A client's write from either front end (this JSON API or Hadoop RPC, [`crate::hrpc`]):
/// proposed, audited and counted the same way. `caller` is (user, remote IP) for the audit log.
pub(crate) async fn serve_write(
    node: &Arc<OmNode>,
    who: &Principal,
    caller: (String, String),
    started: Instant,
    mut req: WriteRequest,
) -> Result<WriteResponse, ApiError> {
    let op_kind = req.op.kind();
    // Before the audit line, which names the layout the bucket gets, as Ozone's does.
    crate::authz::fill_defaults(&mut req.op, node.settings.default_bucket_layout);
    let action = crate::audit::of_write(&req.op);
    let result = submit(node, who, req).await;
    audit(node, caller, action, &result);
    observe(node, op_kind, started, &result);
    result
}

/// A client's read from either front end, audited and counted the same way.
pub(crate) async fn serve_read(
    node: &Arc<OmNode>,
    who: &Principal,
    caller: (String, String),
    started: Instant,
    req: ReadRequest,
) -> Result<ReadResponse, ApiError> {
    let op_kind = req.op.kind();
    let action = crate::audit::of_read(&req.op);
    let result = run_read(node, who.clone(), req).await;
    audit(node, caller, action, &result);
    observe(node, op_kind, started, &result);
    result
}

/// Records the request in the metrics.
fn observe<T>(node: &OmNode, op: &'static str, started: Instant, result: &Result<T, ApiError>) {
    node.metrics.observe_result(op, started, result);
}

fn to_response<T: serde::Serialize>(result: Result<T, ApiError>) -> Response {
    match result {
        Ok(r) => Json(r).into_response(),
        Err(e) => ApiFailure(e).into_response(),
    }
}

/// Records the request in the metrics and turns its result into the HTTP answer.
fn answer<T: serde::Serialize>(
    node: &OmNode,
    op: &'static str,
    started: Instant,
    result: Result<T, ApiError>,
) -> Response {
    observe(node, op, started, &result);
    to_response(result)
}

/// Proposes a client's write on the leader: authorized first (with security on), then turned
/// into its log form with everything non-deterministic fixed.
async fn submit(node: &Arc<OmNode>, who: &Principal, req: WriteRequest) -> Result<WriteResponse, ApiError> {
    if req.request_id.is_empty() || req.request_id.len() > 256 {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "request_id must have 1 to 256 characters"));
    }
    node.check_leader()?;
    let mut req = req;
    crate::namespace::normalize_write(&node.sm.lookup(), &mut req.op)?;
    if node.settings.security.enabled {
        // Like Ozone's preExecute: decided on the leader's state before the write is proposed.
        // Inline, not on the blocking pool: a few point reads of hot rows (microseconds) cost
        // less than the thread hand-off, which made a secure write measurably dearer.
        crate::authz::check_write(&node.authz_context(who), &node.sm.lookup(), &req.op)?;
    }
    let open_client_id = match req.op {
        WriteOp::OpenKey { .. } => rand::random::<u64>() >> 1 | 1,
        _ => 0,
    };
    let op = node.log_op(who, req.op);
    crate::prepare::check_write(node, &req.request_id, &op)?;
    node.writes.write(Command { request_id: req.request_id, op, now_ms: crate::state::now_ms(), open_client_id }).await
}

async fn read(
    State(node): State<Arc<OmNode>>,
    Extension(who): Extension<Principal>,
    conn: Option<Extension<ConnInfo>>,
    body: Result<Json<ReadRequest>, JsonRejection>,
) -> Response {
    let started = Instant::now();
    let req = match body {
        Ok(Json(r)) => r,
        Err(rej) => return bad_json(rej).into_response(),
    };
    let result = serve_read(&node, &who, caller(&who, &conn), started, req).await;
    to_response(result)
}

/// Answers a read once it is linearizable (unless stale), authorized on the same state it is
/// answered from (with security on).
async fn run_read(node: &Arc<OmNode>, who: Principal, req: ReadRequest) -> Result<ReadResponse, ApiError> {
    if !req.stale && !crate::breakage::stale_reads() {
        node.check_leader()?;
        node.reads.wait().await?;
    }
    if crate::namespace::answered_from_memory(&req.op) {
        return answer_read(node, &who, req.op);
    }
    let node = Arc::clone(node);
    tokio::task::spawn_blocking(move || answer_read(&node, &who, req.op))
        .await
        .map_err(|e| ApiError::new(ErrorCode::InternalError, e.to_string()))?
}

/// Normalizes, authorizes (with security on) and answers a read from the current state.
fn answer_read(node: &OmNode, who: &Principal, mut op: ReadOp) -> Result<ReadResponse, ApiError> {
    crate::namespace::normalize_read(&node.sm.lookup(), &mut op)?;
    if node.settings.security.enabled {
        crate::authz::check_read(&node.authz_context(who), &node.sm.lookup(), &op)?;
    }
    node.sm.read(&op)
}

async fn reload_config(State(node): State<Arc<OmNode>>, Extension(who): Extension<Principal>) -> Response {
    let started = Instant::now();
    let result = node.require_admin(&who, "reload-config").and_then(|()| crate::admin::reload_config(&node));
    answer(&node, "ReloadConfig", started, result)
}

async fn join(
    State(node): State<Arc<OmNode>>,
    Extension(who): Extension<Principal>,
    body: Result<Json<JoinRequest>, JsonRejection>,
) -> Response {
    let started = Instant::now();
    let result = match (node.require_admin(&who, "join"), body) {
        (Err(e), _) => Err(e),
        (Ok(()), Ok(Json(req))) => crate::admin::join(&node, req).await,
        (Ok(()), Err(rej)) => Err(bad_json(rej).0),
    };
    answer(&node, "Join", started, result)
}

async fn transfer(
    State(node): State<Arc<OmNode>>,
    Extension(who): Extension<Principal>,
    conn: Option<Extension<ConnInfo>>,
    body: Result<Json<TransferRequest>, JsonRejection>,
) -> Response {
    let started = Instant::now();
    let req = match body {
        Ok(Json(req)) => req,
        Err(rej) => {
            // A non-administrator hears PERMISSION_DENIED whatever it sent; either refusal is
            // audited.
            let result = node.require_admin(&who, "transfer").and(Err::<(), _>(bad_json(rej).0));
            audit(&node, caller(&who, &conn), ("TRANSFER_LEADERSHIP", serde_json::Map::new()), &result);
            return answer(&node, "TransferLeader", started, result);
        }
    };
    to_response(serve_transfer(&node, &who, caller(&who, &conn), started, req).await)
}

/// A leadership transfer from either front end: administrators only (with security on),
/// audited and counted the same way.
pub(crate) async fn serve_transfer(
    node: &Arc<OmNode>,
    who: &Principal,
    caller: (String, String),
    started: Instant,
    req: TransferRequest,
) -> Result<TransferResponse, ApiError> {
    let params =
        crate::audit::params(&[("newLeaderId", req.target.clone().map(serde_json::Value::String).unwrap_or_default())]);
    let op = AdminOp { what: "transfer", audit: "TRANSFER_LEADERSHIP", metric: "TransferLeader" };
    as_admin(node, who, caller, started, op, params, crate::admin::transfer(node, req)).await
}

/// How an administrators-only operation is named: in refusals, the audit log and metrics.
struct AdminOp {
    what: &'static str,
    audit: &'static str,
    metric: &'static str,
}

/// Runs `run` if `who` is an administrator (or security is off), then audits and counts the
/// result the same way from either front end.
async fn as_admin<T>(
    node: &OmNode,
    who: &Principal,
    caller: (String, String),
    started: Instant,
    op: AdminOp,
    params: serde_json::Map<String, serde_json::Value>,
    run: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let result = match node.require_admin(who, op.what) {
        Err(e) => Err(e),
        Ok(()) => run.await,
    };
    audit(node, caller, (op.audit, params), &result);
    observe(node, op.metric, started, &result);
    result
}

async fn decommission(
    State(node): State<Arc<OmNode>>,
    Extension(who): Extension<Principal>,
    conn: Option<Extension<ConnInfo>>,
    body: Result<Json<DecommissionRequest>, JsonRejection>,
) -> Response {
    let started = Instant::now();
    let req = match body {
        Ok(Json(req)) => req,
        Err(rej) => {
            let result = node.require_admin(&who, "decommission").and(Err::<(), _>(bad_json(rej).0));
            audit(&node, caller(&who, &conn), ("DECOMMISSION", serde_json::Map::new()), &result);
            return answer(&node, "Decommission", started, result);
        }
    };
    to_response(serve_decommission(&node, &who, caller(&who, &conn), started, req).await)
}

/// A decommission from either front end (the JSON API, Hadoop RPC's OMAdminProtocol):
/// administrators only (with security on), audited and counted the same way.
pub(crate) async fn serve_decommission(
    node: &Arc<OmNode>,
    who: &Principal,
    caller: (String, String),
    started: Instant,
    req: DecommissionRequest,
) -> Result<MembershipChange, ApiError> {
    let params = crate::audit::params(&[("nodeId", serde_json::Value::String(req.node_id.clone()))]);
    let op = AdminOp { what: "decommission", audit: "DECOMMISSION", metric: "Decommission" };
    as_admin(node, who, caller, started, op, params, crate::admin::decommission(node, req)).await
}

async fn prepare(
    State(node): State<Arc<OmNode>>,
    Extension(who): Extension<Principal>,
    conn: Option<Extension<ConnInfo>>,
) -> Response {
    to_response(serve_prepare(&node, &who, caller(&who, &conn), Instant::now()).await)
}

async fn cancel_prepare(
    State(node): State<Arc<OmNode>>,
    Extension(who): Extension<Principal>,
    conn: Option<Extension<ConnInfo>>,
) -> Response {
    to_response(serve_cancel_prepare(&node, &who, caller(&who, &conn), Instant::now()).await)
}

/// `prepare` from either front end: administrators only (with security on), audited and
/// counted.
pub(crate) async fn serve_prepare(
    node: &Arc<OmNode>,
    who: &Principal,
    caller: (String, String),
    started: Instant,
) -> Result<PrepareResponse, ApiError> {
    let op = AdminOp { what: "prepare", audit: "PREPARE", metric: "Prepare" };
    as_admin(node, who, caller, started, op, serde_json::Map::new(), crate::prepare::prepare(node)).await
}

/// `cancelprepare` from either front end, as [`serve_prepare`].
pub(crate) async fn serve_cancel_prepare(
    node: &Arc<OmNode>,
    who: &Principal,
    caller: (String, String),
    started: Instant,
) -> Result<WriteResponse, ApiError> {
    let op = AdminOp { what: "cancelprepare", audit: "CANCEL_PREPARE", metric: "CancelPrepare" };
    as_admin(node, who, caller, started, op, serde_json::Map::new(), crate::prepare::cancel(node)).await
}

async fn status(State(node): State<Arc<OmNode>>) -> Json<NodeStatus> {
    Json(node.status())
}

/// Alive unless Raft stopped on its own: then the node must be restarted.
async fn live(State(node): State<Arc<OmNode>>) -> Response {
    match node.raft_failure() {
        None => "OK".into_response(),
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("Raft stopped: {reason}")).into_response(),
    }
}

async fn ready(State(node): State<Arc<OmNode>>) -> Response {
    let s = node.status();
    if s.ready {
        (StatusCode::OK, Json(s)).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(s)).into_response()
    }
}

async fn metrics(State(node): State<Arc<OmNode>>) -> Response {
    node.refresh_gauges();
    (
        [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        node.metrics.encode(),
    )
        .into_response()
}

fn raft_failure(e: impl std::fmt::Display) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
}

/// Peer RPC bodies up to this size are accepted (an AppendEntries batch can carry many entries,
/// each as large as a client request).
const PEER_BODY_LIMIT: usize = 1 << 30;

/// Decodes a peer RPC body, which is always in the binary form of [`encode_bin`]; another
/// content type is answered 415 and a body that does not decode 400, each with the reason.
// The error is the handler's answer, returned at once: boxing it would only add an allocation.
#[allow(clippy::result_large_err)]
fn peer_request<T: serde::de::DeserializeOwned>(what: &str, headers: &HeaderMap, body: &[u8]) -> Result<T, Response> {
    let content_type =
        headers.get(axum::http::header::CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if content_type.as_deref() != Some(CONTENT_TYPE_BIN) {
        let msg = format!(
            "{what} request bodies are {CONTENT_TYPE_BIN}, not {}",
            content_type.as_deref().unwrap_or("untyped")
        );
        tracing::warn!("bad {what} request from a peer: {msg}");
        return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, msg).into_response());
    }
    decode_bin(body).map_err(|e| {
        tracing::warn!(error = %e, "bad {what} request from a peer");
        (StatusCode::BAD_REQUEST, format!("bad {what} request: {e}")).into_response()
    })
}

/// Answers a peer RPC in the binary form.
fn peer_answer<T: serde::Serialize>(value: &T) -> Response {
    match encode_bin(value) {
        Ok(bytes) => ([(axum::http::header::CONTENT_TYPE, CONTENT_TYPE_BIN)], bytes).into_response(),
        Err(e) => raft_failure(format!("answer: {e}")),
    }
}

async fn append(State(node): State<Arc<OmNode>>, headers: HeaderMap, body: Bytes) -> Response {
    let req = match peer_request::<AppendEntriesRequest<TypeConfig>>("append", &headers, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    match node.raft.append_entries(req).await {
        Ok(r) => peer_answer(&r),
        Err(e) => raft_failure(e),
    }
}

async fn vote(State(node): State<Arc<OmNode>>, headers: HeaderMap, body: Bytes) -> Response {
    let req = match peer_request::<VoteRequest<TypeConfig>>("vote", &headers, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    match node.raft.vote(req).await {
        Ok(r) => peer_answer(&r),
        Err(e) => raft_failure(e),
    }
}

async fn pre_vote(State(node): State<Arc<OmNode>>, headers: HeaderMap, body: Bytes) -> Response {
    let req = match peer_request::<VoteRequest<TypeConfig>>("pre-vote", &headers, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    match node.raft.pre_vote(req).await {
        Ok(r) => peer_answer(&r),
        Err(e) => raft_failure(e),
    }
}

async fn transfer_leader(State(node): State<Arc<OmNode>>, headers: HeaderMap, body: Bytes) -> Response {
    let req = match peer_request::<TransferLeaderRequest<TypeConfig>>("transfer-leader", &headers, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    match node.raft.handle_transfer_leader(req).await {
        Ok(r) => peer_answer(&r),
        Err(e) => raft_failure(e),
    }
}

/// Receives a snapshot tar as the request body, then hands it to openraft to install.
async fn install_snapshot(State(node): State<Arc<OmNode>>, headers: HeaderMap, body: Body) -> Response {
    let header_json = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (Some(vote_json), Some(meta_json)) = (header_json(HEADER_VOTE), header_json(HEADER_SNAPSHOT_META)) else {
        return (StatusCode::BAD_REQUEST, "missing snapshot vote or metadata header").into_response();
    };
    let (vote, meta): (Vote, SnapshotMeta) = match (serde_json::from_str(&vote_json), serde_json::from_str(&meta_json))
    {
        (Ok(v), Ok(m)) => (v, m),
        _ => return (StatusCode::BAD_REQUEST, "malformed snapshot vote or metadata header").into_response(),
    };
    let declared: Option<u64> = header_json(HEADER_SNAPSHOT_SIZE).and_then(|v| v.parse().ok());
    let path = node.sm.incoming_snapshot_path();
    // The archive and the database unpacked from it both need room.
    if let Some(size) = declared {
        let dir = path.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
        match crate::store::free_bytes(&dir) {
            Ok(free) if free < size.saturating_mul(2) => {
                let msg = format!(
                    "{} cannot take a snapshot of {size} bytes: {} has {free} bytes free, at least {} needed",
                    node.node_id,
                    dir.display(),
                    size.saturating_mul(2)
                );
                tracing::error!("{msg}");
                return (StatusCode::INSUFFICIENT_STORAGE, msg).into_response();
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot check free disk space"),
        }
    }
    let started = Instant::now();
    let received = async {
        let mut file = tokio::fs::File::create(&path).await?;
        let mut stream = body.into_data_stream();
        let mut bytes = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(std::io::Error::other)?;
            bytes += chunk.len() as u64;
            if declared.is_some_and(|d| bytes > d) {
                return Err(std::io::Error::other(format!("snapshot is larger than the declared {declared:?} bytes")));
            }
            file.write_all(&chunk).await?;
        }
        if declared.is_some_and(|d| bytes != d) {
            return Err(std::io::Error::other(format!("snapshot truncated: got {bytes} of {declared:?} bytes")));
        }
        file.sync_all().await?;
        Ok::<_, std::io::Error>(bytes)
    }
    .await;
    let bytes = match received {
        Ok(b) => b,
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            tracing::warn!(error = %e, "snapshot transfer failed; the leader will retry");
            return raft_failure(format!("receiving snapshot: {e}"));
        }
    };
    let took = started.elapsed();
    node.metrics.snapshot_received_bytes.inc_by(bytes);
    node.metrics.snapshot_receive_seconds.inc_by(took.as_secs_f64());
    tracing::info!(
        bytes,
        ms = took.as_millis() as u64,
        mb_per_s = bytes as f64 / 1e6 / took.as_secs_f64().max(1e-6),
        "received snapshot"
    );
    let snapshot =
        openraft::alias::SnapshotOf::<TypeConfig, SnapshotFile> { meta, snapshot: SnapshotFile::at(path.clone()) };
    let result = node.raft.install_full_snapshot(vote, snapshot).await;
    if path.exists() {
        let _ = tokio::fs::remove_file(&path).await;
    }
    match result {
        Ok(r) => {
            node.metrics.snapshots_installed.inc();
            peer_answer(&r)
        }
        Err(e) => raft_failure(e),
    }
}
