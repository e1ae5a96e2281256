//! What the Raft log carries: [`LogOp`]s, the node's own operation type, wrapped in
//! [`Command`]s and [`Proposal`]s.
//!
//! A client's [`WriteOp`] becomes a `LogOp` when the leader takes it; the leader's own
//! operations (the open-key cleanup's [`LogOp::ExpireOpenKeys`]) and the administrators'
//! ([`LogOp::Prepare`]) exist only here, so a client write cannot be one. `LogOp` is externally tagged, which compact binary formats read (the API's
//! `WriteOp` is internally tagged for JSON), and one derive serves the log and peer bodies.
//! The log's format is versioned as a whole by [`crate::store::LogStore`].

use std::collections::BTreeMap;
use std::fmt;

use om_client::acl::OzoneAcl;
use om_client::wire::{AclTarget, BucketLayout, WriteOp};
use serde::{Deserialize, Deserializer, Serialize};

/// An open key: the key's path and the client id its open returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenKeyId {
    pub volume: String,
    pub bucket: String,
    pub key: String,
    pub client_id: u64,
}

/// A replicated operation on the namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
pub enum LogOp {
    CreateVolume {
        volume: String,
        owner: Option<String>,
        quota_in_bytes: Option<i64>,
        quota_in_namespace: Option<i64>,
        metadata: BTreeMap<String, String>,
        /// The owner's default ACLs, fixed by the leader (see [`LogOp::from_client`]).
        acls: Vec<OzoneAcl>,
    },
    SetVolumeProperty {
        volume: String,
        owner: Option<String>,
        quota_in_bytes: Option<i64>,
        quota_in_namespace: Option<i64>,
    },
    DeleteVolume {
        volume: String,
    },
    CreateBucket {
        volume: String,
        bucket: String,
        owner: Option<String>,
        layout: Option<BucketLayout>,
        versioning: bool,
        quota_in_bytes: Option<i64>,
        quota_in_namespace: Option<i64>,
        metadata: BTreeMap<String, String>,
        /// The creator's default ACLs; apply adds the volume's DEFAULT ACLs.
        acls: Vec<OzoneAcl>,
    },
    DeleteBucket {
        volume: String,
        bucket: String,
    },
    OpenKey {
        volume: String,
        bucket: String,
        key: String,
        size: u64,
        replication: Option<String>,
        metadata: BTreeMap<String, String>,
        /// The creator's default ACLs; apply adds the DEFAULT ACLs of the deepest prefix entry
        /// or the bucket (an existing key keeps its own ACLs instead).
        acls: Vec<OzoneAcl>,
    },
    CommitKey {
        volume: String,
        bucket: String,
        key: String,
        client_id: u64,
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
    /// Proposed by the leader's open-key cleanup (Ozone's OpenKeyCleanupService): moves each
    /// listed open key created before `created_before_ms` to the deleted-keys table; keys
    /// committed or expired since they were listed are skipped.
    ExpireOpenKeys {
        keys: Vec<OpenKeyId>,
        created_before_ms: u64,
    },
    AddAcl {
        target: AclTarget,
        acl: OzoneAcl,
    },
    RemoveAcl {
        target: AclTarget,
        acl: OzoneAcl,
    },
    SetAcl {
        target: AclTarget,
        acls: Vec<OzoneAcl>,
    },
    SetBucketProperty {
        volume: String,
        bucket: String,
        owner: Option<String>,
        versioning: Option<bool>,
        quota_in_bytes: Option<i64>,
        quota_in_namespace: Option<i64>,
    },
    /// `admin om prepare`: from this entry on every replica refuses writes, and each takes a
    /// snapshot covering it (Ozone's prepare for upgrade).
    Prepare,
    /// `admin om cancelprepare`: writes are taken again.
    CancelPrepare,
    /// Ozone's `EchoRPC` with `readOnly = false` (freon `om-echo --ratis`): replicated and
    /// applied like a write, and changes nothing, not even the retry cache (see
    /// [`crate::echo`]).
    #[strum(serialize = "EchoRPC")]
    Echo,
}

impl LogOp {
    /// A bounded label for metrics and logs (the variant's name).
    pub fn kind(&self) -> &'static str {
        self.into()
    }
}

/// Field for field, with no creator ACLs (objects then get only what their parents hand down):
/// for tests and tools; the leader uses [`LogOp::from_client`].
impl From<WriteOp> for LogOp {
    fn from(op: WriteOp) -> Self {
        LogOp::from_client(op, Vec::new())
    }
}

impl LogOp {
    /// The log form of a client's write. `creator_acls` are the default ACLs the leader fixed
    /// for what the write creates (a volume's owner, a bucket's or key's creator); other
    /// operations ignore them. Exhaustive, so a new client operation or field fails to compile
    /// here instead of being dropped.
    pub fn from_client(op: WriteOp, creator_acls: Vec<OzoneAcl>) -> Self {
        match op {
            WriteOp::CreateVolume { volume, owner, quota_in_bytes, quota_in_namespace, metadata } => {
                LogOp::CreateVolume { volume, owner, quota_in_bytes, quota_in_namespace, metadata, acls: creator_acls }
            }
            WriteOp::SetVolumeProperty { volume, owner, quota_in_bytes, quota_in_namespace } => {
                LogOp::SetVolumeProperty { volume, owner, quota_in_bytes, quota_in_namespace }
            }
            WriteOp::DeleteVolume { volume } => LogOp::DeleteVolume { volume },
            WriteOp::CreateBucket {
                volume,
                bucket,
                owner,
                layout,
                versioning,
                quota_in_bytes,
                quota_in_namespace,
                metadata,
            } => LogOp::CreateBucket {
                volume,
                bucket,
                owner,
                layout,
                versioning,
                quota_in_bytes,
                quota_in_namespace,
                metadata,
                acls: creator_acls,
            },
            WriteOp::SetBucketProperty { volume, bucket, owner, versioning, quota_in_bytes, quota_in_namespace } => {
                LogOp::SetBucketProperty { volume, bucket, owner, versioning, quota_in_bytes, quota_in_namespace }
            }
            WriteOp::DeleteBucket { volume, bucket } => LogOp::DeleteBucket { volume, bucket },
            WriteOp::OpenKey { volume, bucket, key, size, replication, metadata } => {
                LogOp::OpenKey { volume, bucket, key, size, replication, metadata, acls: creator_acls }
            }
            WriteOp::CommitKey { volume, bucket, key, client_id, size } => {
                LogOp::CommitKey { volume, bucket, key, client_id, size }
            }
            WriteOp::DeleteKey { volume, bucket, key } => LogOp::DeleteKey { volume, bucket, key },
            WriteOp::RenameKey { volume, bucket, key, to_key } => LogOp::RenameKey { volume, bucket, key, to_key },
            WriteOp::AddAcl { target, acl } => LogOp::AddAcl { target, acl },
            WriteOp::RemoveAcl { target, acl } => LogOp::RemoveAcl { target, acl },
            WriteOp::SetAcl { target, acls } => LogOp::SetAcl { target, acls },
        }
    }
}

/// One replicated transaction: an operation with everything non-deterministic fixed by the
/// leader before it entered the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub request_id: String,
    pub op: LogOp,
    /// Leader's wall clock in milliseconds since the epoch.
    pub now_ms: u64,
    /// Client id of an `OpenKey`, chosen by the leader.
    pub open_client_id: u64,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.op.kind(), self.request_id)
    }
}

/// The most commands one [`Proposal::Batch`] may carry; a longer one does not decode.
pub const MAX_BATCH_COMMANDS: usize = 1024;

/// What one Raft entry carries: one write, or several that the leader coalesced (see
/// [`crate::propose`]). Applying a batch applies its commands in order, each seeing the ones
/// before it, exactly as if each had its own entry; only their object ids differ
/// ([`crate::namespace::TxnId`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Proposal {
    One(Command),
    Batch(#[serde(deserialize_with = "bounded_batch")] Vec<Command>),
}

fn bounded_batch<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Command>, D::Error> {
    let batch = Vec::<Command>::deserialize(d)?;
    if batch.len() > MAX_BATCH_COMMANDS {
        return Err(serde::de::Error::custom(format!(
            "a batch of {} commands (at most {MAX_BATCH_COMMANDS})",
            batch.len()
        )));
    }
    Ok(batch)
}

impl Proposal {
    pub fn commands(&self) -> &[Command] {
        match self {
            Proposal::One(c) => std::slice::from_ref(c),
            Proposal::Batch(cs) => cs,
        }
    }
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proposal::One(c) => c.fmt(f),
            Proposal::Batch(cs) => write!(f, "batch of {}", cs.len()),
        }
    }
}
