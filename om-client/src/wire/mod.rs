//! Wire types of the client API: requests, responses, errors and node roles.
//!
//! The node serves them, the CLI and the operator send them; keeping them in one place means
//! the three cannot drift apart. The API is RPC-shaped like Ozone's `OmClientProtocol`: one
//! write endpoint taking a tagged request, one read endpoint, one status endpoint.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use strum::{EnumIter, IntoStaticStr};

use crate::acl::OzoneAcl;

mod acl;
mod ring;
#[cfg(test)]
mod tests;

pub use acl::{AclResource, AclTarget};
pub use ring::*;

/// `POST`: body [`WriteRequest`], answer [`WriteResponse`].
pub const PATH_WRITE: &str = "/v1/om/write";
/// `POST`: body [`ReadRequest`], answer [`ReadResponse`].
pub const PATH_READ: &str = "/v1/om/read";
/// `GET`: this node's [`NodeStatus`] (answered by every node, leader or not).
pub const PATH_STATUS: &str = "/v1/om/status";
/// `GET` on the HTTP port: 200 while the process serves.
pub const PATH_LIVE: &str = "/health/live";
/// `GET` on the HTTP port: 200 when part of a ring with a known leader and caught up.
pub const PATH_READY: &str = "/health/ready";
/// `GET` on the HTTP port: Prometheus text format.
pub const PATH_METRICS: &str = "/metrics";

/// `POST` on the client port, any node: re-read `ozone-site.xml` from disk; answer [`ConfigView`].
pub const PATH_ADMIN_RELOAD_CONFIG: &str = "/v1/om/admin/reload-config";
/// `POST` on the client port, leader: body [`JoinRequest`], answer [`MembershipChange`].
/// Adds the node as a learner, waits until it caught up, then promotes it to voter.
pub const PATH_ADMIN_JOIN: &str = "/v1/om/admin/join";
/// `POST` on the client port, leader: body [`TransferRequest`], answer [`TransferResponse`].
pub const PATH_ADMIN_TRANSFER: &str = "/v1/om/admin/transfer";
/// `POST` on the client port, leader: body [`DecommissionRequest`], answer [`MembershipChange`].
pub const PATH_ADMIN_DECOMMISSION: &str = "/v1/om/admin/decommission";

/// `POST` on the client port, leader: no body; answer [`PrepareResponse`]. Writes are refused
/// from the prepare entry on, on every node.
pub const PATH_ADMIN_PREPARE: &str = "/v1/om/admin/prepare";
/// `POST` on the client port, leader: no body; answer [`WriteResponse`]. Writes are taken again.
pub const PATH_ADMIN_CANCEL_PREPARE: &str = "/v1/om/admin/cancel-prepare";

/// Largest page a list request returns (`ozone.om.server.list.max.size`).
pub const LIST_MAX: u32 = 1000;

/// Ozone's result codes, as the API reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumIter)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    VolumeAlreadyExists,
    VolumeNotFound,
    VolumeNotEmpty,
    BucketAlreadyExists,
    BucketNotFound,
    BucketNotEmpty,
    KeyNotFound,
    KeyAlreadyExists,
    QuotaExceeded,
    /// A volume name Ozone's rules refuse (3-63 characters of `a-z0-9.-`, ...).
    InvalidVolumeName,
    /// A bucket name Ozone's rules refuse (the same rules as volume names).
    InvalidBucketName,
    /// An empty key name, one over 1024 bytes, or one with a NUL.
    InvalidKeyName,
    /// The request is malformed (bad JSON, bad field value, list too large).
    InvalidRequest,
    /// This node is not the leader; `leader_id`/`leader_address` say who is, if known.
    NotLeader,
    /// This node is leader but has not applied its predecessors' entries yet: retry here.
    LeaderNotReady,
    /// Membership or configuration precondition failed (HA operations).
    FailedPrecondition,
    /// The request timed out inside the ring.
    Timeout,
    InternalError,
    /// The caller lacks the ACL right or administrator role the operation needs.
    PermissionDenied,
    /// Security is on and the request carries no principal (no client certificate, no valid
    /// bearer token).
    Unauthenticated,
    /// A quota change the stored usage or the volume's quota rules out (Ozone's QUOTA_ERROR).
    QuotaError,
    /// A file where a FILE_SYSTEM_OPTIMIZED path needs a directory, or a directory where it
    /// needs a file.
    NotAFile,
    /// A commit in a FILE_SYSTEM_OPTIMIZED bucket whose parent directory is gone.
    DirectoryNotFound,
    /// A delete of a FILE_SYSTEM_OPTIMIZED directory that still has entries.
    DirectoryNotEmpty,
    /// A FILE_SYSTEM_OPTIMIZED rename whose destination cannot be: a missing parent, a directory
    /// into itself.
    KeyRenameError,
    /// The ring is prepared for an upgrade (`admin om prepare`): writes wait for
    /// `admin om cancelprepare`.
    NotSupportedOperationWhenPrepared,
    /// A path that names neither a file nor a directory (Ozone's `getFileStatus` and
    /// `listStatus`).
    FileNotFound,
}

impl ErrorCode {
    /// The HTTP status this code is served with.
    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            VolumeNotFound | BucketNotFound | KeyNotFound => 404,
            VolumeAlreadyExists | BucketAlreadyExists | KeyAlreadyExists | VolumeNotEmpty | BucketNotEmpty => 409,
            QuotaExceeded => 403,
            QuotaError => 400,
            NotAFile | DirectoryNotEmpty => 409,
            DirectoryNotFound | FileNotFound => 404,
            KeyRenameError => 400,
            NotSupportedOperationWhenPrepared => 503,
            InvalidVolumeName | InvalidBucketName | InvalidKeyName | InvalidRequest => 400,
            NotLeader => 421,
            FailedPrecondition => 412,
            LeaderNotReady => 503,
            Timeout => 504,
            InternalError => 500,
            PermissionDenied => 403,
            Unauthenticated => 401,
        }
    }

    /// The name on the wire (serde and strum derive the same SCREAMING_SNAKE_CASE form).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the failover client should try again (possibly elsewhere).
    pub fn is_retriable(self) -> bool {
        matches!(self, ErrorCode::NotLeader | ErrorCode::LeaderNotReady | ErrorCode::Timeout)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every error the API returns: `{code, message}` plus the leader hint on NOT_LEADER.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_address: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), leader_id: None, leader_address: None }
    }
}

/// How a bucket lays out its keys (recorded, as Ozone does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, IntoStaticStr, EnumIter)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum BucketLayout {
    #[default]
    ObjectStore,
    FileSystemOptimized,
    Legacy,
}

impl BucketLayout {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl std::str::FromStr for BucketLayout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().replace('-', "_").as_str() {
            "OBJECT_STORE" | "OBS" => Ok(BucketLayout::ObjectStore),
            "FILE_SYSTEM_OPTIMIZED" | "FSO" => Ok(BucketLayout::FileSystemOptimized),
            "LEGACY" => Ok(BucketLayout::Legacy),
            other => {
                Err(format!("unknown bucket layout {other:?}; expected OBJECT_STORE, FILE_SYSTEM_OPTIMIZED or LEGACY"))
            }
        }
    }
}

/// A mutation, as a client asks for it. The leader fixes times and ids before replication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum WriteOp {
    CreateVolume {
        volume: String,
        #[serde(default)]
        owner: Option<String>,
        /// -1 or absent: unlimited.
        #[serde(default)]
        quota_in_bytes: Option<i64>,
        #[serde(default)]
        quota_in_namespace: Option<i64>,
        #[serde(default)]
        metadata: BTreeMap<String, String>,
    },
    SetVolumeProperty {
        volume: String,
        #[serde(default)]
        owner: Option<String>,
        #[serde(default)]
        quota_in_bytes: Option<i64>,
        #[serde(default)]
        quota_in_namespace: Option<i64>,
    },
    DeleteVolume {
        volume: String,
    },
    CreateBucket {
        volume: String,
        bucket: String,
        #[serde(default)]
        owner: Option<String>,
        #[serde(default)]
        layout: Option<BucketLayout>,
        #[serde(default)]
        versioning: bool,
        #[serde(default)]
        quota_in_bytes: Option<i64>,
        #[serde(default)]
        quota_in_namespace: Option<i64>,
        #[serde(default)]
        metadata: BTreeMap<String, String>,
    },
    DeleteBucket {
        volume: String,
        bucket: String,
    },
    /// First phase of a key write: returns the open key's client id.
    OpenKey {
        volume: String,
        bucket: String,
        key: String,
        #[serde(default)]
        size: u64,
        #[serde(default)]
        replication: Option<String>,
        #[serde(default)]
        metadata: BTreeMap<String, String>,
    },
    /// Second phase: moves the open key into the key table.
    CommitKey {
        volume: String,
        bucket: String,
        key: String,
        client_id: u64,
        #[serde(default)]
        size: Option<u64>,
    },
    DeleteKey {
        volume: String,
        bucket: String,
        key: String,
    },
    RenameKey {
        volume: String,
        bucket: String,
        key: String,
        to_key: String,
    },
    /// Ozone's `addacl`: merges the entry into the one of the same type, name and scope, or
    /// appends it.
    AddAcl {
        target: AclTarget,
        acl: OzoneAcl,
    },
    /// Ozone's `removeacl`: clears the entry's rights from the one of the same type, name and
    /// scope (dropping it once empty).
    RemoveAcl {
        target: AclTarget,
        acl: OzoneAcl,
    },
    /// Ozone's `setacl`: the object's ACLs become exactly these.
    SetAcl {
        target: AclTarget,
        acls: Vec<OzoneAcl>,
    },
    /// Ozone's SetBucketProperty: each field given replaces the bucket's, the rest stay.
    SetBucketProperty {
        volume: String,
        bucket: String,
        #[serde(default)]
        owner: Option<String>,
        #[serde(default)]
        versioning: Option<bool>,
        /// -1: unlimited (refused while the volume has a space quota).
        #[serde(default)]
        quota_in_bytes: Option<i64>,
        #[serde(default)]
        quota_in_namespace: Option<i64>,
    },
}

impl WriteOp {
    /// A volume with default owner and no quota.
    pub fn create_volume(volume: impl Into<String>) -> Self {
        WriteOp::CreateVolume {
            volume: volume.into(),
            owner: None,
            quota_in_bytes: None,
            quota_in_namespace: None,
            metadata: BTreeMap::new(),
        }
    }

    /// An OBJECT_STORE bucket with default owner, no versioning and no quota.
    pub fn create_bucket(volume: impl Into<String>, bucket: impl Into<String>) -> Self {
        WriteOp::CreateBucket {
            volume: volume.into(),
            bucket: bucket.into(),
            owner: None,
            // Named, so the ring's default (`ozone.default.bucket.layout`) does not apply.
            layout: Some(BucketLayout::ObjectStore),
            versioning: false,
            quota_in_bytes: None,
            quota_in_namespace: None,
            metadata: BTreeMap::new(),
        }
    }

    /// A bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            WriteOp::CreateVolume { .. } => "CreateVolume",
            WriteOp::SetVolumeProperty { .. } => "SetVolumeProperty",
            WriteOp::DeleteVolume { .. } => "DeleteVolume",
            WriteOp::CreateBucket { .. } => "CreateBucket",
            WriteOp::SetBucketProperty { .. } => "SetBucketProperty",
            WriteOp::DeleteBucket { .. } => "DeleteBucket",
            WriteOp::OpenKey { .. } => "OpenKey",
            WriteOp::CommitKey { .. } => "CommitKey",
            WriteOp::DeleteKey { .. } => "DeleteKey",
            WriteOp::RenameKey { .. } => "RenameKey",
            WriteOp::AddAcl { .. } => "AddAcl",
            WriteOp::RemoveAcl { .. } => "RemoveAcl",
            WriteOp::SetAcl { .. } => "SetAcl",
        }
    }
}

/// The body of `POST /v1/om/write`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteRequest {
    /// Unique per logical call and reused on every retry of it: the retry cache key.
    pub request_id: String,
    pub op: WriteOp,
}

/// What a write produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum WriteOutcome {
    Volume {
        volume: VolumeInfo,
    },
    Bucket {
        bucket: BucketInfo,
    },
    OpenKey {
        client_id: u64,
        key: KeyInfo,
    },
    Key {
        key: KeyInfo,
    },
    Deleted,
    Renamed {
        key: KeyInfo,
    },
    /// A Raft-internal entry (leader blank entry, membership change): no namespace change.
    Noop,
    /// Open keys moved to the deleted-keys table by the leader's open-key cleanup.
    OpenKeysExpired {
        count: u64,
    },
    /// An ACL change: whether it changed anything (Ozone's `addacl` prints `already exists`,
    /// `removeacl` `doesn't exist` when not), and the object's ACLs after it.
    Acl {
        changed: bool,
        acls: Vec<OzoneAcl>,
    },
    /// The ring refuses writes from here on (`admin om prepare`).
    Prepared,
    /// The ring takes writes again (`admin om cancelprepare`).
    PrepareCancelled,
}

/// The answer to a successful write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteResponse {
    pub outcome: WriteOutcome,
    /// Raft log index the write was applied at.
    pub log_index: u64,
    /// True when the answer came from the retry cache (the write had already been applied).
    #[serde(default)]
    pub replayed: bool,
}

/// A query. Linearizable unless `stale` is set (then any node answers from its own state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ReadOp {
    VolumeInfo {
        volume: String,
    },
    ListVolumes {
        #[serde(default)]
        prefix: String,
        #[serde(default)]
        start_after: String,
        #[serde(default)]
        max: Option<u32>,
        /// Only the volumes this user owns (Ozone's `volume list --user`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<String>,
    },
    BucketInfo {
        volume: String,
        bucket: String,
    },
    ListBuckets {
        volume: String,
        #[serde(default)]
        prefix: String,
        #[serde(default)]
        start_after: String,
        #[serde(default)]
        max: Option<u32>,
    },
    KeyInfo {
        volume: String,
        bucket: String,
        key: String,
    },
    ListKeys {
        volume: String,
        bucket: String,
        #[serde(default)]
        prefix: String,
        #[serde(default)]
        start_after: String,
        #[serde(default)]
        max: Option<u32>,
    },
    /// Ozone's `listStatus` (what `ozone sh key list` and `ofs://` send for a
    /// FILE_SYSTEM_OPTIMIZED bucket): the entries directly in directory `key` (`""`: the
    /// bucket's root), from the entry `start_key` on (a full path, included), at most `max`.
    /// `key` naming a file lists that file; with `allow_partial_prefix`, a `key` that names
    /// nothing lists the entries of its parent whose names start with its last part; with
    /// `recursive`, everything below `key` instead of its direct entries.
    ListStatus {
        volume: String,
        bucket: String,
        #[serde(default)]
        key: String,
        #[serde(default)]
        start_key: String,
        #[serde(default)]
        max: Option<u32>,
        #[serde(default)]
        recursive: bool,
        #[serde(default)]
        allow_partial_prefix: bool,
    },
    /// A digest of the whole namespace (volumes, buckets, keys, open and deleted keys, prefix
    /// ACLs) at the applied index: replicas with equal digests hold identical state.
    Digest,
    /// Ozone's `getacl`: the object's ACLs (a prefix without an entry has none).
    GetAcl {
        target: AclTarget,
    },
    /// Ozone's `admin om list-open-files` (administrators only): keys opened and not yet
    /// committed, under `path` (`/`, `/vol/bucket` or deeper), after `start_after` (a
    /// continuation token from an earlier page).
    ListOpenKeys {
        #[serde(default = "root_path")]
        path: String,
        #[serde(default)]
        start_after: String,
        #[serde(default)]
        max: Option<u32>,
    },
}

fn root_path() -> String {
    "/".into()
}

impl ReadOp {
    pub fn kind(&self) -> &'static str {
        match self {
            ReadOp::VolumeInfo { .. } => "VolumeInfo",
            ReadOp::ListVolumes { .. } => "ListVolumes",
            ReadOp::BucketInfo { .. } => "BucketInfo",
            ReadOp::ListBuckets { .. } => "ListBuckets",
            ReadOp::KeyInfo { .. } => "KeyInfo",
            ReadOp::ListKeys { .. } => "ListKeys",
            ReadOp::ListStatus { .. } => "ListStatus",
            ReadOp::Digest => "Digest",
            ReadOp::GetAcl { .. } => "GetAcl",
            ReadOp::ListOpenKeys { .. } => "ListOpenKeys",
        }
    }
}

/// The body of `POST /v1/om/read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadRequest {
    pub op: ReadOp,
    /// Serve from this node's applied state without a leadership check.
    #[serde(default)]
    pub stale: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ReadResponse {
    Volume { volume: VolumeInfo },
    Volumes { volumes: Vec<VolumeInfo> },
    Bucket { bucket: BucketInfo },
    Buckets { buckets: Vec<BucketInfo> },
    Key { key: KeyInfo },
    Keys { keys: Vec<KeyInfo> },
    Digest { digest: String, applied_index: u64, entries: u64 },
    Acls { acls: Vec<OzoneAcl> },
    OpenKeys(OpenKeyPage),
    Statuses { statuses: Vec<FileStatus> },
}

/// One entry of a [`ReadOp::ListStatus`] answer: a file, or a directory whose `key.name` is its
/// path without the trailing `/` (as Ozone's `OzoneFileStatus` names it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStatus {
    pub key: KeyInfo,
    pub is_directory: bool,
}

impl FileStatus {
    pub fn file(key: KeyInfo) -> FileStatus {
        FileStatus { key, is_directory: false }
    }

    /// A directory's entry, named without its trailing `/`.
    pub fn directory(mut key: KeyInfo) -> FileStatus {
        key.name.truncate(key.name.trim_end_matches('/').len());
        FileStatus { key, is_directory: true }
    }

    /// The entry of a key row: a directory when its name ends with `/` (a directory row).
    pub fn of_row(key: KeyInfo) -> FileStatus {
        if key.name.ends_with('/') {
            FileStatus::directory(key)
        } else {
            FileStatus::file(key)
        }
    }
}

/// A page of open keys (Ozone's `ListOpenFilesResult`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenKeyPage {
    /// Open keys under the path, on every page.
    pub total: u64,
    pub keys: Vec<OpenKeyEntry>,
    /// Pass it as `start_after` for the next page; `None` on the last one.
    pub continuation_token: Option<String>,
}

/// One open key: the client id its open returned, and the key as opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenKeyEntry {
    pub client_id: u64,
    pub key: KeyInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeInfo {
    pub name: String,
    pub admin: String,
    pub owner: String,
    /// -1: unlimited.
    pub quota_in_bytes: i64,
    /// Buckets allowed; -1: unlimited.
    pub quota_in_namespace: i64,
    pub used_bytes: u64,
    /// Buckets in the volume.
    pub used_namespace: u64,
    pub metadata: BTreeMap<String, String>,
    /// Milliseconds since the epoch, fixed by the leader.
    pub creation_time: u64,
    pub modification_time: u64,
    pub object_id: u64,
    pub update_id: u64,
    /// Ozone's native ACLs of the volume.
    #[serde(default)]
    pub acls: Vec<OzoneAcl>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketInfo {
    pub volume: String,
    pub name: String,
    pub owner: String,
    pub layout: BucketLayout,
    pub versioning: bool,
    pub storage_type: String,
    pub quota_in_bytes: i64,
    /// Keys allowed; -1: unlimited.
    pub quota_in_namespace: i64,
    pub used_bytes: u64,
    /// Committed keys in the bucket.
    pub used_namespace: u64,
    pub metadata: BTreeMap<String, String>,
    pub creation_time: u64,
    pub modification_time: u64,
    pub object_id: u64,
    pub update_id: u64,
    /// Ozone's native ACLs of the bucket.
    #[serde(default)]
    pub acls: Vec<OzoneAcl>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    pub volume: String,
    pub bucket: String,
    pub name: String,
    pub size: u64,
    pub replication: String,
    pub metadata: BTreeMap<String, String>,
    pub creation_time: u64,
    pub modification_time: u64,
    pub object_id: u64,
    pub update_id: u64,
    /// Ozone's native ACLs of the key.
    #[serde(default)]
    pub acls: Vec<OzoneAcl>,
}
