//! OMRequest → omring operation → OMResponse. Each served request type becomes the same
//! [`WriteOp`] or [`ReadOp`] the JSON API takes and goes through the same paths
//! ([`crate::server::serve_write`], [`crate::server::serve_read`]): the same leader checks, the
//! same retry cache, the same audit log and metrics. Nothing here touches the namespace itself.
//!
//! Results come back the way Ozone's client expects them:
//! - namespace errors as a SUCCESS RPC reply carrying an OMResponse with `status` (mapped in
//!   [`super::status`]) and `message`;
//! - leadership errors as an RPC ERROR with `OMNotLeaderException` or
//!   `OMLeaderNotReadyException`, which make the client's failover proxy try the next OM;
//! - request types not served as an OMResponse with NOT_SUPPORTED_OPERATION naming the type.
//!
//! A write's retry-cache id is `hrpc-<RPC client id>-<call id>`: Ozone's client resends a call
//! with the same client id and call id on every retry and failover, so a write that was applied
//! but whose reply was lost returns its first answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use om_client::wire::*;
use prost::Message;

use super::convert;
use super::frame;
use super::proto::hadoop::{RpcErrorCode, RpcStatus};
use super::proto::{hdds, om};
use super::status::{st, status_of, type_name};
use crate::security::identity::PrincipalSource;
use crate::security::Principal;
use crate::state::OmNode;

/// The `OzoneManagerVersion` advertised in ServiceList: 4, LIGHTWEIGHT_LIST_KEYS. The client
/// then uses GetKeyInfo (≥ 3) and ListKeysLight (≥ 4), both served, and does not send object
/// tags (≥ 5) or atomic rewrites (≥ 6), which are not.
pub const OM_VERSION: i32 = 4;

/// What the client side of Hadoop RPC calls `InvalidProtocolBufferException`: the class a
/// Hadoop server names for a request it cannot parse; Ozone's client gives up on it at once.
pub const INVALID_PROTOBUF: &str = "com.google.protobuf.InvalidProtocolBufferException";
const NOT_LEADER: &str = "org.apache.hadoop.ozone.om.exceptions.OMNotLeaderException";
const LEADER_NOT_READY: &str = "org.apache.hadoop.ozone.om.exceptions.OMLeaderNotReadyException";

/// Who is on the other end of a connection (from its connection context).
#[derive(Debug)]
pub struct Caller {
    pub user: String,
    pub remote: SocketAddr,
}

impl Caller {
    /// The principal requests of this connection run as: the user its connection context
    /// names, unauthenticated (Hadoop RPC is served with security off only).
    pub(super) fn principal(&self) -> Principal {
        Principal { user: self.user.clone(), groups: Vec::new(), source: PrincipalSource::Unauthenticated }
    }

    /// (user, address) for the audit log.
    pub(super) fn audit_caller(&self) -> (String, String) {
        (self.user.clone(), self.remote.ip().to_string())
    }
}

/// A decoded call: OzoneManagerProtocol's `submitRequest`, or an OMAdminProtocol call.
pub enum Call {
    Om { retry_count: i32, request: Box<om::OmRequest> },
    Admin(super::admin::AdminCall),
}

/// Why a request gets no normal answer.
pub(super) enum Refusal {
    Api(ApiError),
    NotSupported(String),
    /// An Ozone status with no omring [`ErrorCode`] of its own (ACCESS_DENIED,
    /// INVALID_PATH_IN_ACL_REQUEST), and its message.
    Status(i32, String),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Api(e)
    }
}

pub(super) fn missing(what: &str) -> Refusal {
    Refusal::Api(ApiError::new(ErrorCode::InvalidRequest, format!("the OMRequest has no {what}")))
}

/// Runs one call and returns its whole reply frame.
pub async fn answer(node: &Arc<OmNode>, who: &Caller, call_id: i32, client_id: &[u8], call: Call) -> Vec<u8> {
    let (retry_count, req) = match call {
        Call::Om { retry_count, request } => (retry_count, request),
        Call::Admin(admin) => return super::admin::answer(node, who, call_id, client_id, admin).await,
    };
    let cmd = req.cmd_type;
    let started = Instant::now();
    let ctx = Ctx { node, who, started, request_id: format!("hrpc-{}-{call_id}", hex::encode(client_id)) };
    let result = handle(&ctx, &req).await;
    let mut resp = match result {
        Ok(resp) => resp,
        Err(Refusal::Api(e)) if is_leadership(&e) => {
            tracing::debug!(call_id, retry = retry_count, "Hadoop RPC call refused: not the leader");
            return leader_failure(node, &e, call_id, client_id);
        }
        Err(Refusal::Api(e)) => om::OmResponse {
            success: Some(false),
            message: Some(e.message),
            status: status_of(e.code),
            ..Default::default()
        },
        Err(Refusal::Status(status, message)) => {
            om::OmResponse { success: Some(false), message: Some(message), status, ..Default::default() }
        }
        Err(Refusal::NotSupported(message)) => om::OmResponse {
            success: Some(false),
            message: Some(message),
            status: st::NOT_SUPPORTED_OPERATION,
            ..Default::default()
        },
    };
    resp.cmd_type = cmd;
    resp.trace_id = req.trace_id;
    frame::success(call_id, client_id, &resp.encode_to_vec())
}

/// Whether `e` says another node must answer (not the leader, or not ready yet).
pub(super) fn is_leadership(e: &ApiError) -> bool {
    matches!(e.code, ErrorCode::NotLeader | ErrorCode::LeaderNotReady)
}

/// The ERROR reply of a leadership refusal: `OMNotLeaderException` or
/// `OMLeaderNotReadyException`, which make Ozone's failover proxy try the next OM.
pub(super) fn leader_failure(node: &OmNode, e: &ApiError, call_id: i32, client_id: &[u8]) -> Vec<u8> {
    let (class, message) = leader_refusal(node, e);
    frame::failure(call_id as u32, RpcStatus::Error, RpcErrorCode::Application, class, &message, Some(client_id))
}

/// The exception class and message of a leadership refusal, in Ozone's words (the message
/// shows in the client's logs; its parser does not read it).
fn leader_refusal(node: &OmNode, e: &ApiError) -> (&'static str, String) {
    if e.code == ErrorCode::LeaderNotReady {
        return (LEADER_NOT_READY, format!("{} is Leader but not ready to process request yet.", node.node_id));
    }
    let message = match (&e.leader_id, &e.leader_address) {
        (Some(id), Some(addr)) => {
            format!("OM:{} is not the leader. Suggested leader is OM:{id}[{addr}].", node.node_id)
        }
        (Some(id), None) => format!("OM:{} is not the leader. Suggested leader is OM:{id}.", node.node_id),
        _ => format!("OM:{} is not the leader. Could not determine the leader node.", node.node_id),
    };
    (NOT_LEADER, message)
}

/// What every request handler needs.
pub(super) struct Ctx<'a> {
    node: &'a Arc<OmNode>,
    who: &'a Caller,
    started: Instant,
    request_id: String,
}

impl Ctx<'_> {
    fn principal(&self) -> Principal {
        self.who.principal()
    }

    fn audit_caller(&self) -> (String, String) {
        self.who.audit_caller()
    }

    pub(super) async fn write(&self, op: WriteOp) -> Result<WriteOutcome, Refusal> {
        self.write_as(self.request_id.clone(), op).await
    }

    /// Part `part` of a request that makes several writes (DeleteKeys): each part has a
    /// retry-cache id of its own, so a retried call applies none of them twice.
    pub(super) async fn write_part(&self, part: usize, op: WriteOp) -> Result<WriteOutcome, Refusal> {
        self.write_as(format!("{}-{part}", self.request_id), op).await
    }

    async fn write_as(&self, request_id: String, op: WriteOp) -> Result<WriteOutcome, Refusal> {
        let req = WriteRequest { request_id, op };
        let r =
            crate::server::serve_write(self.node, &self.principal(), self.audit_caller(), self.started, req).await?;
        Ok(r.outcome)
    }

    pub(super) async fn read(&self, op: ReadOp) -> Result<ReadResponse, Refusal> {
        let req = ReadRequest { op, stale: false };
        Ok(crate::server::serve_read(self.node, &self.principal(), self.audit_caller(), self.started, req).await?)
    }
}

pub(super) fn unexpected(what: &str, got: impl std::fmt::Debug) -> Refusal {
    Refusal::Api(ApiError::new(ErrorCode::InternalError, format!("{what} answered unexpectedly: {got:?}")))
}

/// A list page size from a client's count: 1 to [`LIST_MAX`], 100 when unset or not positive.
pub(super) fn page(count: Option<i64>) -> u32 {
    match count {
        Some(n) if n > 0 => n.min(i64::from(LIST_MAX)) as u32,
        _ => 100,
    }
}

async fn handle(cx: &Ctx<'_>, req: &om::OmRequest) -> Result<om::OmResponse, Refusal> {
    let mut resp = om::OmResponse { success: Some(true), status: st::OK, ..Default::default() };
    match req.cmd_type {
        51 => resp.service_list_response = Some(service_list(cx.node)?),
        55..=58 => prepare(cx, req.cmd_type, &mut resp).await?,
        11 => {
            let v = req.create_volume_request.as_ref().and_then(|r| r.volume_info.as_ref());
            let v = v.ok_or_else(|| missing("createVolumeRequest.volumeInfo"))?;
            let owner = Some(v.owner_name.clone()).filter(|o| !o.is_empty());
            cx.write(WriteOp::CreateVolume {
                volume: v.volume.clone(),
                owner,
                quota_in_bytes: convert::quota_from_u64(v.quota_in_bytes),
                quota_in_namespace: convert::quota_from_i64(v.quota_in_namespace),
                metadata: convert::metadata_from(&v.metadata),
            })
            .await?;
            resp.create_volume_response = Some(om::Empty {});
        }
        12 => {
            let r = req.set_volume_property_request.as_ref().ok_or_else(|| missing("setVolumePropertyRequest"))?;
            cx.write(WriteOp::SetVolumeProperty {
                volume: r.volume_name.clone(),
                owner: r.owner_name.clone().filter(|o| !o.is_empty()),
                quota_in_bytes: convert::quota_from_u64(r.quota_in_bytes),
                quota_in_namespace: convert::quota_from_u64(r.quota_in_namespace),
            })
            .await?;
            resp.set_volume_property_response = Some(om::BoolResponse { response: Some(true) });
        }
        14 => {
            let r = req.info_volume_request.as_ref().ok_or_else(|| missing("infoVolumeRequest"))?;
            match cx.read(ReadOp::VolumeInfo { volume: r.volume_name.clone() }).await? {
                ReadResponse::Volume { volume } => {
                    resp.info_volume_response =
                        Some(om::InfoVolumeResponse { volume_info: Some(convert::volume_to(&volume)) })
                }
                other => return Err(unexpected("VolumeInfo", other)),
            }
        }
        15 => {
            let r = req.delete_volume_request.as_ref().ok_or_else(|| missing("deleteVolumeRequest"))?;
            cx.write(WriteOp::DeleteVolume { volume: r.volume_name.clone() }).await?;
            resp.delete_volume_response = Some(om::Empty {});
        }
        16 => {
            let r = req.list_volume_request.as_ref().ok_or_else(|| missing("listVolumeRequest"))?;
            resp.list_volume_response = Some(list_volumes(cx, r).await?);
        }
        21 => {
            let b = req.create_bucket_request.as_ref().and_then(|r| r.bucket_info.as_ref());
            let b = b.ok_or_else(|| missing("createBucketRequest.bucketInfo"))?;
            cx.write(WriteOp::CreateBucket {
                volume: b.volume_name.clone(),
                bucket: b.bucket_name.clone(),
                owner: b.owner.clone().filter(|o| !o.is_empty()),
                layout: convert::layout_from(b.bucket_layout),
                versioning: b.is_version_enabled,
                quota_in_bytes: convert::quota_from_i64(b.quota_in_bytes),
                quota_in_namespace: convert::quota_from_i64(b.quota_in_namespace),
                metadata: convert::metadata_from(&b.metadata),
            })
            .await?;
            resp.create_bucket_response = Some(om::Empty {});
        }
        22 => {
            let r = req.info_bucket_request.as_ref().ok_or_else(|| missing("infoBucketRequest"))?;
            let op = ReadOp::BucketInfo { volume: r.volume_name.clone(), bucket: r.bucket_name.clone() };
            match cx.read(op).await? {
                ReadResponse::Bucket { bucket } => {
                    resp.info_bucket_response =
                        Some(om::InfoBucketResponse { bucket_info: Some(convert::bucket_to(&bucket)) })
                }
                other => return Err(unexpected("BucketInfo", other)),
            }
        }
        23 => {
            let r = req.set_bucket_property_request.as_ref().and_then(|r| r.bucket_args.as_ref());
            let r = r.ok_or_else(|| missing("setBucketPropertyRequest.bucketArgs"))?;
            // Applying the rest and dropping these would report success for a change not made.
            if r.default_replication_config.is_some() || r.bek_info.is_some() || !r.metadata.is_empty() {
                return Err(Refusal::NotSupported(
                    "omring does not change a bucket's default replication, encryption key or metadata \
                     (SetBucketProperty serves owner, versioning and quotas)"
                        .into(),
                ));
            }
            cx.write(WriteOp::SetBucketProperty {
                volume: r.volume_name.clone(),
                bucket: r.bucket_name.clone(),
                owner: r.owner_name.clone().filter(|o| !o.is_empty()),
                versioning: r.is_version_enabled,
                quota_in_bytes: convert::quota_from_u64(r.quota_in_bytes),
                quota_in_namespace: convert::quota_from_u64(r.quota_in_namespace),
            })
            .await?;
            resp.set_bucket_property_response = Some(om::BoolResponse { response: Some(true) });
        }
        24 => {
            let r = req.delete_bucket_request.as_ref().ok_or_else(|| missing("deleteBucketRequest"))?;
            cx.write(WriteOp::DeleteBucket { volume: r.volume_name.clone(), bucket: r.bucket_name.clone() }).await?;
            resp.delete_bucket_response = Some(om::Empty {});
        }
        25 => {
            let r = req.list_buckets_request.as_ref().ok_or_else(|| missing("listBucketsRequest"))?;
            let op = ReadOp::ListBuckets {
                volume: r.volume_name.clone(),
                prefix: r.prefix.clone().unwrap_or_default(),
                start_after: r.start_key.clone().unwrap_or_default(),
                max: Some(page(r.count.map(i64::from))),
            };
            match cx.read(op).await? {
                ReadResponse::Buckets { buckets } => {
                    resp.list_buckets_response =
                        Some(om::ListBucketsResponse { bucket_info: buckets.iter().map(convert::bucket_to).collect() })
                }
                other => return Err(unexpected("ListBuckets", other)),
            }
        }
        cmd @ (31..=36 | 38 | 111 | 126) => super::keys::handle(cx, cmd, req, &mut resp).await?,
        cmd @ (13 | 75..=78) => super::acls::handle(cx, cmd, req, &mut resp).await?,
        cmd @ (70 | 74 | 129) => super::fs::handle(cx, cmd, req, &mut resp).await?,
        110 => {
            // freon `om-echo`: through Raft with `--ratis` (readOnly false), else answered here.
            let r = req.echo_rpc_request.as_ref().ok_or_else(|| missing("EchoRPCRequest"))?;
            let size = crate::echo::payload_size(r.payload_size_resp)?;
            crate::echo::echo(cx.node, cx.request_id.clone(), !r.read_only.unwrap_or(true)).await?;
            resp.echo_rpc_response = Some(om::EchoRpcResponse { payload: Some(vec![0; size]) });
        }
        117 => {
            // `ozone admin om transfer -n NODE | -r`: answered once the new leader is known.
            let r =
                req.transfer_om_leadership_request.as_ref().ok_or_else(|| missing("TransferOmLeadershipRequest"))?;
            let target = Some(r.new_leader_id.trim().to_string()).filter(|t| !t.is_empty());
            let req = TransferRequest { target };
            crate::server::serve_transfer(cx.node, &cx.principal(), cx.audit_caller(), cx.started, req).await?;
            resp.transfer_om_leadership_response = Some(om::Empty {});
        }
        cmd => {
            let name = type_name(cmd).map(str::to_string).unwrap_or_else(|| format!("request type {cmd}"));
            return Err(Refusal::NotSupported(format!(
                "omring does not serve {name} over Hadoop RPC yet (served: ServiceList, volume and bucket \
                 create/info/list/delete, SetVolumeProperty, SetBucketProperty, CheckVolumeAccess, empty-key CreateKey/CommitKey, \
                 LookupKey, GetKeyInfo, ListKeys, ListKeysLight, GetFileStatus, ListStatus, ListStatusLight, DeleteKey, DeleteKeys, RenameKey, AddAcl, \
                 RemoveAcl, SetAcl, GetAcl, TransferLeadership, EchoRPC, Prepare, PrepareStatus, CancelPrepare, \
                 FinalizeUpgradeProgress)"
            )));
        }
    }
    Ok(resp)
}

/// Ozone's upgrade flow: `admin om prepare` (Prepare, then PrepareStatus on every node, which
/// any node answers from its own state), `cancelprepare`, and `finalizationstatus` (omring has
/// one layout version, so it is always finalized).
async fn prepare(cx: &Ctx<'_>, cmd: i32, resp: &mut om::OmResponse) -> Result<(), Refusal> {
    use om_client::wire::PrepareStatus;
    match cmd {
        55 => {
            let status = om::UpgradeFinalizationStatus { status: om::ALREADY_FINALIZED, messages: Vec::new() };
            resp.finalize_upgrade_progress_response = Some(om::FinalizeUpgradeProgressResponse { status });
        }
        56 => {
            let r = crate::server::serve_prepare(cx.node, &cx.principal(), cx.audit_caller(), cx.started).await?;
            resp.prepare_response = Some(om::PrepareResponse { txn_id: r.txn_id });
        }
        57 => {
            let state = cx.node.status().prepare;
            let status = match state.status {
                PrepareStatus::NotPrepared => 1,
                PrepareStatus::PrepareGateEnabled => 2,
                PrepareStatus::PrepareCompleted => 3,
            };
            // Java reads the unsigned field as a long: -1 arrives as -1.
            let current_txn_index = Some(state.index as u64);
            resp.prepare_status_response = Some(om::PrepareStatusResponse { status, current_txn_index });
        }
        _ => {
            crate::server::serve_cancel_prepare(cx.node, &cx.principal(), cx.audit_caller(), cx.started).await?;
            resp.cancel_prepare_response = Some(om::Empty {});
        }
    }
    Ok(())
}

/// ListVolume: by user (the volumes that user owns, as Ozone's user table lists them) or the
/// whole cluster, paged by `prevKey` (exclusive).
async fn list_volumes(cx: &Ctx<'_>, r: &om::ListVolumeRequest) -> Result<om::ListVolumeResponse, Refusal> {
    let owner = match r.scope {
        om::SCOPE_USER_VOLUMES | om::SCOPE_VOLUMES_BY_USER => {
            Some(r.user_name.clone().filter(|u| !u.is_empty()).unwrap_or_else(|| cx.who.user.clone()))
        }
        _ => None,
    };
    let op = ReadOp::ListVolumes {
        prefix: r.prefix.clone().unwrap_or_default(),
        start_after: r.prev_key.clone().unwrap_or_default(),
        max: Some(page(r.max_keys.map(i64::from))),
        owner,
    };
    match cx.read(op).await? {
        ReadResponse::Volumes { volumes } => {
            Ok(om::ListVolumeResponse { volume_info: volumes.iter().map(convert::volume_to).collect() })
        }
        other => Err(unexpected("ListVolumes", other)),
    }
}

/// One ServiceInfo per ring member with its role as this (leader) node sees it. Like Ozone's
/// OM, only the leader answers, so the roles are the leader's view.
fn service_list(node: &OmNode) -> Result<om::ServiceListResponse, Refusal> {
    node.check_leader()?;
    let status = node.status();
    let service_info = status
        .members
        .iter()
        .map(|m| {
            let port = m.rpc_address.rsplit_once(':').and_then(|(_, p)| p.parse::<u32>().ok()).unwrap_or(9862);
            let hostname = if m.hostname.is_empty() {
                m.rpc_address.rsplit_once(':').map(|(h, _)| h.to_string()).unwrap_or_default()
            } else {
                m.hostname.clone()
            };
            let role = if status.leader_id.as_deref() == Some(m.node_id.as_str()) { "LEADER" } else { "FOLLOWER" };
            om::ServiceInfo {
                node_type: hdds::NODE_OM,
                hostname,
                service_ports: vec![om::ServicePort { r#type: om::PORT_RPC, value: port }],
                om_role: Some(om::OmRoleInfo { node_id: m.node_id.clone(), server_role: role.to_string() }),
                om_version: Some(OM_VERSION),
            }
        })
        .collect();
    Ok(om::ServiceListResponse { service_info })
}
