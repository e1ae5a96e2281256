//! The failover client: finds the leader of a service and keeps a call going across failovers.
//!
//! Follows Ozone's `OMFailoverProxyProvider`: start at the last known leader, follow NOT_LEADER
//! hints, retry the same node with growing backoff on LEADER_NOT_READY, move round-robin on
//! connection failures, pause `ozone.client.wait.between.retries.millis` after a round in which
//! every node failed, and give up after `ozone.client.failover.max.attempts` requests.
//!
//! Unlike Ozone's client, host names are resolved again on every new connection (a failed
//! connection is never reused), so a pod that comes back with a new IP is found again.
//! When a round only met nodes that are alive but know no leader (an election is running) the
//! pause is a short growing backoff instead of the full wait, so failover is not slowed down.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::{ConfigError, NodeAddress, OzoneConfig, RetryPolicy, ServiceConfig};
use crate::tls::{ClientTlsOverrides, ReloadingCredentials, TlsError, TlsFiles};
use crate::wire::*;

/// Errors of the failover client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The ring answered with an error that retrying cannot fix.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Every attempt failed; `last` is the last failure seen.
    #[error("gave up after {attempts} attempts on service {service_id}; last error: {last}")]
    GaveUp { service_id: String, attempts: u32, last: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A single node could not be reached (only from calls addressed to one node).
    #[error("node {node_id} at {address}: {reason}")]
    Unreachable { node_id: String, address: String, reason: String },
    #[error("cannot build HTTP client: {0}")]
    Http(String),
    /// The TLS credentials or the token could not be loaded.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

impl ClientError {
    /// The API error code, when the ring answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api(e) => Some(e.code),
            _ => None,
        }
    }
}

/// Result of one request to one node.
enum Attempt<T> {
    Ok(T),
    Api(ApiError),
    Transport(String),
    /// The TLS handshake failed (certificate not trusted, or ours refused).
    Handshake(String),
}

/// Lets a shared trait object serve as reqwest's resolver.
struct SharedResolver(Arc<dyn reqwest::dns::Resolve>);

impl reqwest::dns::Resolve for SharedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        self.0.resolve(name)
    }
}

/// Builder for [`FailoverClient`].
pub struct FailoverClientBuilder {
    service: ServiceConfig,
    policy: RetryPolicy,
    request_timeout: Duration,
    connect_timeout: Duration,
    resolver: Option<Arc<dyn reqwest::dns::Resolve>>,
    tls: Option<Arc<ReloadingCredentials>>,
    token: Option<String>,
}

impl FailoverClientBuilder {
    /// Speak TLS (https) with these credentials: the CA bundle checks the servers, the
    /// identity (if any) is the client certificate. They may follow their files.
    pub fn tls(mut self, creds: Option<Arc<ReloadingCredentials>>) -> Self {
        self.tls = creds;
        self
    }
    /// Send `Authorization: Bearer <token>` with every request.
    pub fn bearer_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }
    /// TLS and token from `ozone-site.xml` (`omring.client.*`, falling back to the node's
    /// `omring.tls.*`), with CLI overrides; TLS only when `ozone.security.enabled` is true.
    pub fn security_from_config(
        mut self,
        conf: &OzoneConfig,
        overrides: &ClientTlsOverrides,
        token_file: Option<&std::path::Path>,
    ) -> Result<Self, ClientError> {
        if crate::tls::security_enabled(conf)? {
            let files = TlsFiles::client(conf, overrides)?.ok_or_else(|| {
                crate::tls::TlsError::Incomplete(format!(
                    "{} is true but no CA bundle is configured to check the servers with: set {} or {} (or --ca-file)",
                    crate::tls::OZONE_SECURITY_ENABLED,
                    crate::tls::CLIENT_TLS_CA_FILE,
                    crate::tls::TLS_CA_FILE
                ))
            })?;
            self.tls = Some(ReloadingCredentials::from_files(files)?);
        }
        let token_file = token_file.map(std::path::Path::to_path_buf).or_else(|| {
            conf.get_trimmed(crate::tls::CLIENT_TOKEN_FILE).filter(|v| !v.is_empty()).map(std::path::PathBuf::from)
        });
        if let Some(f) = token_file {
            self.token = Some(crate::tls::read_token(&f)?);
        }
        Ok(self)
    }
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }
    /// Upper bound for one request to one node (default 30 s).
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }
    /// Replaces the system resolver (tests; service discovery).
    pub fn resolver(mut self, r: Arc<dyn reqwest::dns::Resolve>) -> Self {
        self.resolver = Some(r);
        self
    }
    pub fn build(self) -> Result<FailoverClient, ClientError> {
        if self.service.active_nodes().next().is_none() {
            return Err(ClientError::Config(ConfigError::Missing {
                key: format!("{}.{}", crate::config::OZONE_OM_NODES, self.service.service_id),
                hint: "the service has no active nodes".into(),
            }));
        }
        let mut http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true);
        if let Some(r) = self.resolver {
            http = http.dns_resolver(Arc::new(SharedResolver(r)));
        }
        let scheme = match &self.tls {
            Some(creds) => {
                http = http.use_preconfigured_tls(crate::tls::client_config(Arc::clone(creds))?);
                "https"
            }
            None => "http",
        };
        if let Some(token) = &self.token {
            let mut headers = reqwest::header::HeaderMap::new();
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                ClientError::Http("the bearer token holds characters an HTTP header cannot carry".into())
            })?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
            http = http.default_headers(headers);
        }
        let http = http.build().map_err(|e| ClientError::Http(e.to_string()))?;
        let nodes: Vec<NodeAddress> = self.service.active_nodes().cloned().collect();
        let start = rand::rng().random_range(0..nodes.len());
        Ok(FailoverClient {
            service_id: self.service.service_id,
            nodes,
            http,
            scheme,
            policy: self.policy,
            current: AtomicUsize::new(start),
            client_uuid: format!("{:032x}", rand::rng().random::<u128>()),
            seq: AtomicU64::new(0),
        })
    }
}

/// A client for one service id that survives leader changes. Cheap to share behind an `Arc`.
pub struct FailoverClient {
    service_id: String,
    nodes: Vec<NodeAddress>,
    http: reqwest::Client,
    /// "https" with TLS.
    scheme: &'static str,
    policy: RetryPolicy,
    current: AtomicUsize,
    client_uuid: String,
    seq: AtomicU64,
}

impl FailoverClient {
    pub fn builder(service: ServiceConfig) -> FailoverClientBuilder {
        FailoverClientBuilder {
            service,
            policy: RetryPolicy::default(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(3),
            resolver: None,
            tls: None,
            token: None,
        }
    }

    /// A client for `service_id` (or the configured default) with the config's retry policy,
    /// TLS and token (see [`FailoverClientBuilder::security_from_config`]).
    pub fn from_config(conf: &OzoneConfig, service_id: Option<&str>) -> Result<Self, ClientError> {
        let service = conf.service(service_id)?;
        Self::builder(service)
            .retry_policy(conf.retry_policy()?)
            .security_from_config(conf, &ClientTlsOverrides::default(), None)?
            .build()
    }

    pub fn service_id(&self) -> &str {
        &self.service_id
    }

    pub fn nodes(&self) -> &[NodeAddress] {
        &self.nodes
    }

    /// A fresh request id; reuse it when retrying the same logical call by hand.
    pub fn next_request_id(&self) -> String {
        format!("{}-{}", self.client_uuid, self.seq.fetch_add(1, Ordering::Relaxed))
    }

    /// Submits a write, retrying across failovers with one request id (never applied twice).
    pub async fn write(&self, op: WriteOp) -> Result<WriteResponse, ClientError> {
        let req = WriteRequest { request_id: self.next_request_id(), op };
        self.call(PATH_WRITE, &req).await
    }

    /// Creates a key the way Ozone clients do: open it, then commit it. Each phase is one
    /// replicated write, retried across failovers on its own.
    pub async fn create_key(
        &self,
        volume: &str,
        bucket: &str,
        key: &str,
        size: u64,
        replication: Option<String>,
        metadata: std::collections::BTreeMap<String, String>,
    ) -> Result<KeyInfo, ClientError> {
        let opened = self
            .write(WriteOp::OpenKey {
                volume: volume.into(),
                bucket: bucket.into(),
                key: key.into(),
                size,
                replication,
                metadata,
            })
            .await?;
        let WriteOutcome::OpenKey { client_id, .. } = opened.outcome else {
            return Err(ClientError::Api(ApiError::new(
                ErrorCode::InternalError,
                "open key answered without a client id",
            )));
        };
        let done = self
            .write(WriteOp::CommitKey {
                volume: volume.into(),
                bucket: bucket.into(),
                key: key.into(),
                client_id,
                size: Some(size),
            })
            .await?;
        match done.outcome {
            WriteOutcome::Key { key } => Ok(key),
            other => {
                Err(ClientError::Api(ApiError::new(ErrorCode::InternalError, format!("commit answered {other:?}"))))
            }
        }
    }

    /// Runs a linearizable read on the leader.
    pub async fn read(&self, op: ReadOp) -> Result<ReadResponse, ClientError> {
        self.call(PATH_READ, &ReadRequest { op, stale: false }).await
    }

    /// Reads from one node's own applied state, without a leadership check.
    pub async fn read_stale_from(&self, node: &NodeAddress, op: ReadOp) -> Result<ReadResponse, ClientError> {
        let req = ReadRequest { op, stale: true };
        let attempt = self.send::<_, ReadResponse>(node, PATH_READ, Some(&req)).await;
        self.single(node, attempt)
    }

    /// One node's status (no failover: this asks that node).
    pub async fn node_status(&self, node: &NodeAddress) -> Result<NodeStatus, ClientError> {
        let attempt = self.send::<(), NodeStatus>(node, PATH_STATUS, None).await;
        self.single(node, attempt)
    }

    /// Every configured node's status, asked concurrently.
    pub async fn ring_status(&self) -> Vec<(NodeAddress, Result<NodeStatus, ClientError>)> {
        let futs = self.nodes.iter().map(|n| async move { (n.clone(), self.node_status(n).await) });
        futures::future::join_all(futs).await
    }

    /// Asks one node to re-read its `ozone-site.xml` and say what it now configures.
    pub async fn reload_config(&self, node: &NodeAddress) -> Result<ConfigView, ClientError> {
        let attempt = self.send::<(), ConfigView>(node, PATH_ADMIN_RELOAD_CONFIG, Some(&())).await;
        self.single(node, attempt)
    }

    /// Re-reads every configured node's file except `except`; returns, per node, why it does
    /// not accept `candidate` as an active member (unreachable nodes included). Empty: all agree.
    pub async fn config_disagreements(&self, candidate: &ConfiguredNode, except: &str) -> Vec<(String, String)> {
        self.config_disagreements_among(candidate, self.nodes.iter().filter(|n| n.node_id != except)).await
    }

    /// Like [`Self::config_disagreements`], asking only `nodes` (e.g. the ring's members).
    pub async fn config_disagreements_among<'a>(
        &self,
        candidate: &ConfiguredNode,
        nodes: impl Iterator<Item = &'a NodeAddress>,
    ) -> Vec<(String, String)> {
        let futs = nodes.map(|n| async move {
            let verdict = match self.reload_config(n).await {
                Ok(view) => view.disagreement_about(candidate),
                Err(e) => Some(format!("cannot reload its configuration: {e}")),
            };
            verdict.map(|v| (n.node_id.clone(), v))
        });
        futures::future::join_all(futs).await.into_iter().flatten().collect()
    }

    /// Re-reads every configured node's file except `node_id`'s; returns the nodes whose file
    /// does not list `node_id` in `ozone.om.decommissioned.nodes.<sid>`, with the reason.
    pub async fn decommission_disagreements(&self, node_id: &str) -> Vec<(String, String)> {
        let futs = self.nodes.iter().filter(|n| n.node_id != node_id).map(|n| async move {
            let verdict = match self.reload_config(n).await {
                Ok(view) if view.decommissioned.iter().any(|d| d == node_id) => None,
                Ok(view) => Some(format!(
                    "{} does not list {node_id} in ozone.om.decommissioned.nodes.{}",
                    view.node_id, view.service_id
                )),
                Err(e) => Some(format!("cannot reload its configuration: {e}")),
            };
            verdict.map(|v| (n.node_id.clone(), v))
        });
        futures::future::join_all(futs).await.into_iter().flatten().collect()
    }

    /// Adds a node to the ring (learner, catch up, voter) through the leader. Idempotent.
    pub async fn join(&self, req: &JoinRequest) -> Result<MembershipChange, ClientError> {
        self.call(PATH_ADMIN_JOIN, req).await
    }

    /// Moves leadership to `target`, or to a caught-up follower chosen at random.
    pub async fn transfer_leader(&self, target: Option<&str>) -> Result<TransferResponse, ClientError> {
        self.call(PATH_ADMIN_TRANSFER, &TransferRequest { target: target.map(str::to_string) }).await
    }

    /// Removes a member through the leader (leadership moves first if it is the leader).
    pub async fn decommission(&self, node_id: &str) -> Result<MembershipChange, ClientError> {
        self.call(PATH_ADMIN_DECOMMISSION, &DecommissionRequest { node_id: node_id.to_string() }).await
    }

    /// Prepares the ring for an upgrade through the leader: from the answered log index on,
    /// every node refuses writes. Preparing again moves the marker to a new index.
    pub async fn prepare(&self) -> Result<PrepareResponse, ClientError> {
        self.call(PATH_ADMIN_PREPARE, &()).await
    }

    /// Ends a prepare through the leader; writes are taken again. Idempotent.
    pub async fn cancel_prepare(&self) -> Result<WriteResponse, ClientError> {
        self.call(PATH_ADMIN_CANCEL_PREPARE, &()).await
    }

    /// The result of a call addressed to one node (no failover).
    fn single<T>(&self, node: &NodeAddress, attempt: Attempt<T>) -> Result<T, ClientError> {
        match attempt {
            Attempt::Ok(r) => Ok(r),
            Attempt::Api(e) => Err(ClientError::Api(e)),
            Attempt::Transport(reason) => {
                Err(ClientError::Unreachable { node_id: node.node_id.clone(), address: node.rpc_address(), reason })
            }
            Attempt::Handshake(reason) => Err(ClientError::Tls(TlsError::Handshake {
                node: node.node_id.clone(),
                address: node.rpc_address(),
                reason,
            })),
        }
    }

    /// The retry loop shared by reads and writes.
    async fn call<B: Serialize, R: DeserializeOwned>(&self, path: &str, body: &B) -> Result<R, ClientError> {
        let n = self.nodes.len();
        let mut idx = self.current.load(Ordering::Relaxed) % n;
        let mut attempts = 0u32;
        let mut round_tries = 0usize;
        let mut round_saw_live_node = false;
        let mut not_ready_backoff = Duration::from_millis(20);
        let mut election_backoff = Duration::from_millis(20);
        let mut last;
        // Handshakes refused in a row: once every node refused one, retrying cannot help.
        let mut handshakes_refused = 0usize;
        // A leader this client's configuration does not list (added or being removed), reached
        // once through the address in a NOT_LEADER hint.
        let mut detour: Option<NodeAddress> = None;
        loop {
            attempts += 1;
            let via_detour = detour.take();
            let node = via_detour.as_ref().unwrap_or(&self.nodes[idx]);
            match self.send::<B, R>(node, path, Some(body)).await {
                Attempt::Ok(r) => {
                    if via_detour.is_none() {
                        self.current.store(idx, Ordering::Relaxed);
                    }
                    return Ok(r);
                }
                Attempt::Api(e) if e.code == ErrorCode::LeaderNotReady => {
                    last = format!("{}: {e}", node.node_id);
                    tokio::time::sleep(not_ready_backoff).await;
                    not_ready_backoff = (not_ready_backoff * 2).min(Duration::from_secs(1));
                }
                Attempt::Api(e) if e.code == ErrorCode::NotLeader => {
                    last = format!("{}: {e}", node.node_id);
                    round_saw_live_node = true;
                    round_tries += 1;
                    let hinted = e
                        .leader_id
                        .as_deref()
                        .and_then(|l| self.nodes.iter().position(|x| x.node_id == l))
                        .filter(|&h| h != idx || via_detour.is_some());
                    if hinted.is_none() && via_detour.is_none() {
                        detour = match (e.leader_id.as_deref(), e.leader_address.as_deref()) {
                            (Some(id), Some(addr)) if id != node.node_id => NodeAddress::from_hint(id, addr),
                            _ => None,
                        };
                    }
                    idx = match (hinted, &detour) {
                        (Some(h), _) => h,
                        (None, Some(_)) => idx,
                        (None, None) => (idx + 1) % n,
                    };
                }
                Attempt::Api(e) if e.code == ErrorCode::Timeout => {
                    last = format!("{}: {e}", node.node_id);
                    round_saw_live_node = true;
                    round_tries += 1;
                    idx = (idx + 1) % n;
                }
                Attempt::Api(e) => return Err(ClientError::Api(e)),
                Attempt::Transport(reason) => {
                    tracing::debug!(node = %node.node_id, %reason, "request failed, failing over");
                    last = format!("{} ({}): {reason}", node.node_id, node.rpc_address());
                    round_tries += 1;
                    idx = (idx + 1) % n;
                    handshakes_refused = 0;
                }
                Attempt::Handshake(reason) => {
                    tracing::debug!(node = %node.node_id, %reason, "TLS handshake failed, failing over");
                    handshakes_refused += 1;
                    if handshakes_refused >= n {
                        return Err(ClientError::Tls(TlsError::Handshake {
                            node: node.node_id.clone(),
                            address: node.rpc_address(),
                            reason,
                        }));
                    }
                    last = format!("{} ({}): TLS handshake: {reason}", node.node_id, node.rpc_address());
                    round_tries += 1;
                    idx = (idx + 1) % n;
                }
            }

            if attempts >= self.policy.max_attempts {
                return Err(ClientError::GaveUp { service_id: self.service_id.clone(), attempts, last });
            }
            if round_tries >= n {
                let pause = if round_saw_live_node {
                    let p = election_backoff.min(self.policy.wait_between_rounds);
                    election_backoff = (election_backoff * 2).min(Duration::from_millis(100));
                    p
                } else {
                    self.policy.wait_between_rounds
                };
                tokio::time::sleep(pause).await;
                round_tries = 0;
                round_saw_live_node = false;
            }
        }
    }

    async fn send<B: Serialize, R: DeserializeOwned>(
        &self,
        node: &NodeAddress,
        path: &str,
        body: Option<&B>,
    ) -> Attempt<R> {
        let url = format!("{}://{}{}", self.scheme, node.rpc_address(), path);
        let req = match body {
            Some(b) => self.http.post(&url).json(b),
            None => self.http.get(&url),
        };
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if is_tls_failure(&e) => return Attempt::Handshake(describe_reqwest(&e)),
            Err(e) => return Attempt::Transport(describe_reqwest(&e)),
        };
        let status = resp.status();
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return Attempt::Transport(describe_reqwest(&e)),
        };
        if status.is_success() {
            return match serde_json::from_slice::<R>(&bytes) {
                Ok(r) => Attempt::Ok(r),
                Err(e) => Attempt::Api(ApiError::new(
                    ErrorCode::InternalError,
                    format!("cannot decode answer of {} to {path}: {e}", node.node_id),
                )),
            };
        }
        match serde_json::from_slice::<ApiError>(&bytes) {
            Ok(e) => Attempt::Api(e),
            // Not our server's error shape (proxy, old version): retriable only if 5xx.
            Err(_) if status.is_server_error() => Attempt::Transport(format!("HTTP {status}")),
            Err(_) => Attempt::Api(ApiError::new(
                ErrorCode::InternalError,
                format!(
                    "{} answered HTTP {status}: {}",
                    node.node_id,
                    String::from_utf8_lossy(&bytes).chars().take(200).collect::<String>()
                ),
            )),
        }
    }
}

/// A TLS failure anywhere in the error's chain (rustls reports certificate problems).
fn is_tls_failure(e: &reqwest::Error) -> bool {
    use std::error::Error;
    let mut src = e.source();
    while let Some(s) = src {
        if s.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.get_ref().is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()) {
                return true;
            }
        }
        src = s.source();
    }
    false
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut msg = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}
