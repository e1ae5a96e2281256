//! Peer Raft RPC over HTTP on each node's ratis port.
//!
//! Bodies are in the compact binary form of [`encode_bin`] (content type [`CONTENT_TYPE_BIN`]),
//! both ways. The server side is [`crate::server::peer_router`]; the paths below are shared by both.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use om_client::tls::ReloadingCredentials;

use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest, TransferLeaderResponse,
    VoteRequest, VoteResponse,
};
use serde::{de::DeserializeOwned, Serialize};

use crate::store::SnapshotFile;
use crate::types::{decode_bin, encode_bin, Node, NodeId, SnapshotMeta, TypeConfig, Vote};

pub const PATH_APPEND: &str = "/raft/append";
pub const PATH_VOTE: &str = "/raft/vote";
pub const PATH_PRE_VOTE: &str = "/raft/pre-vote";
pub const PATH_SNAPSHOT: &str = "/raft/snapshot";
pub const PATH_TRANSFER_LEADER: &str = "/raft/transfer-leader";
/// Content type of binary peer RPC bodies.
pub const CONTENT_TYPE_BIN: &str = "application/x-omring-postcard";
/// Header carrying the leader's vote (JSON) with a snapshot upload.
pub const HEADER_VOTE: &str = "x-omring-vote";
/// Header carrying the snapshot metadata (JSON) with a snapshot upload.
pub const HEADER_SNAPSHOT_META: &str = "x-omring-snapshot-meta";
/// Header carrying the snapshot archive's size in bytes, so the receiver can check its disk first.
pub const HEADER_SNAPSHOT_SIZE: &str = "x-omring-snapshot-size";

/// Creates one HTTP client per peer; connections are pooled by reqwest. With peer TLS
/// (`hdds.grpc.tls.enabled`) it speaks https and presents the node's certificate, both
/// following their files.
#[derive(Clone)]
pub struct PeerNetwork {
    http: reqwest::Client,
    scheme: &'static str,
}

impl PeerNetwork {
    pub fn new(tls: Option<Arc<ReloadingCredentials>>) -> Result<Self, String> {
        let mut http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(500))
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30));
        let scheme = match tls {
            Some(creds) => {
                http = http.use_preconfigured_tls(om_client::tls::client_config(creds).map_err(|e| e.to_string())?);
                "https"
            }
            None => "http",
        };
        Ok(Self { http: http.build().map_err(|e| e.to_string())?, scheme })
    }
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> Self::Network {
        PeerClient { http: self.http.clone(), target, base: format!("{}://{}", self.scheme, node.ratis_addr) }
    }
}

/// The connection to one peer.
pub struct PeerClient {
    http: reqwest::Client,
    target: NodeId,
    base: String,
}

fn unreachable(target: &NodeId, e: impl std::fmt::Display) -> RPCError<TypeConfig> {
    RPCError::Unreachable(Unreachable::from_string(format!("{target}: {e}")))
}

impl PeerClient {
    async fn post<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<TypeConfig>> {
        let body = encode_bin(req)
            .map_err(|e| RPCError::Network(NetworkError::from_string(format!("{} {path}: {e}", self.target))))?;
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .timeout(option.hard_ttl())
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE_BIN)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    unreachable(&self.target, e)
                } else {
                    RPCError::Network(NetworkError::from_string(format!("{}: {e}", self.target)))
                }
            })?;
        decode(&self.target, resp).await.map_err(|e| RPCError::Network(NetworkError::from_string(e)))
    }
}

/// Reads a binary answer.
async fn decode<T: DeserializeOwned>(target: &NodeId, resp: reqwest::Response) -> Result<T, String> {
    let status = resp.status();
    let binary =
        resp.headers().get(reqwest::header::CONTENT_TYPE).is_some_and(|v| v.as_bytes() == CONTENT_TYPE_BIN.as_bytes());
    let bytes = resp.bytes().await.map_err(|e| format!("{target}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{target} answered HTTP {status}: {}", String::from_utf8_lossy(&bytes)));
    }
    if !binary {
        return Err(format!("{target} answered without the {CONTENT_TYPE_BIN} content type"));
    }
    decode_bin(&bytes).map_err(|e| format!("{target}: bad answer: {e}"))
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotFile;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.post(PATH_APPEND, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.post(PATH_VOTE, &rpc, &option).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.post(PATH_PRE_VOTE, &rpc, &option).await
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.post(PATH_TRANSFER_LEADER, &req, &option).await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: openraft::alias::SnapshotOf<TypeConfig, SnapshotFile>,
        cancel: impl Future<Output = ReplicationClosed> + openraft::OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let net = |e: String| StreamingError::Network(NetworkError::from_string(e));
        let meta: &SnapshotMeta = &snapshot.meta;
        let vote_json = serde_json::to_string(&vote).map_err(|e| net(e.to_string()))?;
        let meta_json = serde_json::to_string(meta).map_err(|e| net(e.to_string()))?;
        let file = tokio::fs::File::open(&snapshot.snapshot.path)
            .await
            .map_err(|e| net(format!("cannot open snapshot {}: {e}", snapshot.snapshot.path.display())))?;
        let size = file.metadata().await.map_err(|e| net(format!("cannot stat snapshot: {e}")))?.len();
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20));
        let send = self
            .http
            .post(format!("{}{PATH_SNAPSHOT}", self.base))
            .header(HEADER_VOTE, vote_json)
            .header(HEADER_SNAPSHOT_META, meta_json)
            .header(HEADER_SNAPSHOT_SIZE, size.to_string())
            .body(body)
            .send();
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            resp = send => {
                let resp = resp.map_err(|e| {
                    if e.is_connect() {
                        StreamingError::Unreachable(Unreachable::from_string(format!("{}: {e}", self.target)))
                    } else {
                        net(format!("{}: {e}", self.target))
                    }
                })?;
                decode(&self.target, resp).await.map_err(net)
            }
        }
    }
}
