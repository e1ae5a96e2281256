//! The Raft type configuration, declared once for the whole node.

use std::fmt;

use om_client::wire::{ApiError, WriteResponse};
use serde::{Deserialize, Serialize};

/// A node id as Ozone names it (`om1`), used directly as the Raft node id.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub String);

impl NodeId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for NodeId {
    fn from(s: &str) -> Self {
        NodeId(s.to_string())
    }
}

/// Needed by openraft's storage test suite, which names nodes by number.
impl From<u64> for NodeId {
    fn from(n: u64) -> Self {
        NodeId(format!("n{n}"))
    }
}

/// What the ring records about a member: where to reach it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Client API `host:port`.
    pub rpc_addr: String,
    /// Peer Raft `host:port`.
    pub ratis_addr: String,
    /// Health/metrics/snapshot `host:port`.
    pub http_addr: String,
    pub hostname: String,
}

pub use crate::command::{Command, LogOp, OpenKeyId, Proposal, MAX_BATCH_COMMANDS};

/// The result of applying a [`Command`]: what the client is answered.
pub type CommandResult = Result<WriteResponse, ApiError>;

/// The results of a [`Proposal`]'s commands, in order.
pub type ProposalResult = Vec<CommandResult>;

openraft::declare_raft_types!(
    /// The ring's Raft types.
    pub TypeConfig:
        D = Proposal,
        R = ProposalResult,
        NodeId = NodeId,
        Node = Node,
);

pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
pub type Membership = openraft::Membership<NodeId, Node>;

/// Encodes a value in the compact binary form of the Raft log and of peer RPC bodies (postcard).
pub fn encode_bin<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    postcard::to_allocvec(value).map_err(|e| format!("cannot encode: {e}"))
}

/// Decodes what [`encode_bin`] wrote; trailing bytes are an error, not ignored.
pub fn decode_bin<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(format!("{} unexpected trailing bytes", rest.len())),
        Err(e) => Err(format!("cannot decode {} bytes: {e}", bytes.len())),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use om_client::wire::{BucketLayout, ErrorCode, WriteOp};

    use super::*;

    fn commands() -> Vec<Command> {
        let meta: BTreeMap<String, String> = [("color".to_string(), "blue".to_string())].into();
        let client_ops = vec![
            WriteOp::CreateVolume {
                volume: "vol1".into(),
                owner: Some("alice".into()),
                quota_in_bytes: Some(10),
                quota_in_namespace: None,
                metadata: meta.clone(),
            },
            WriteOp::SetVolumeProperty {
                volume: "vol1".into(),
                owner: None,
                quota_in_bytes: Some(-1),
                quota_in_namespace: Some(5),
            },
            WriteOp::DeleteVolume { volume: "vol1".into() },
            WriteOp::CreateBucket {
                volume: "vol1".into(),
                bucket: "b1".into(),
                owner: None,
                layout: Some(BucketLayout::FileSystemOptimized),
                versioning: true,
                quota_in_bytes: None,
                quota_in_namespace: Some(3),
                metadata: meta.clone(),
            },
            WriteOp::SetBucketProperty {
                volume: "vol1".into(),
                bucket: "b1".into(),
                owner: Some("bob".into()),
                versioning: Some(false),
                quota_in_bytes: Some(-1),
                quota_in_namespace: Some(7),
            },
            WriteOp::DeleteBucket { volume: "vol1".into(), bucket: "b1".into() },
            WriteOp::OpenKey {
                volume: "vol1".into(),
                bucket: "b1".into(),
                key: "dir/k".into(),
                size: 1024,
                replication: Some("RATIS/THREE".into()),
                metadata: meta,
            },
            WriteOp::CommitKey {
                volume: "vol1".into(),
                bucket: "b1".into(),
                key: "dir/k".into(),
                client_id: 77,
                size: Some(9),
            },
            WriteOp::DeleteKey { volume: "vol1".into(), bucket: "b1".into(), key: "k".into() },
            WriteOp::RenameKey { volume: "v".into(), bucket: "b".into(), key: "k".into(), to_key: "k2".into() },
        ];
        let mut ops: Vec<LogOp> = client_ops.into_iter().map(LogOp::from).collect();
        ops.push(LogOp::ExpireOpenKeys {
            keys: vec![OpenKeyId { volume: "v".into(), bucket: "b".into(), key: "dir/k".into(), client_id: 5 }],
            created_before_ms: 1_000,
        });
        ops.extend([LogOp::Prepare, LogOp::CancelPrepare, LogOp::Echo]);
        ops.into_iter()
            .enumerate()
            .map(|(i, op)| Command {
                request_id: format!("req-{i}"),
                op,
                now_ms: 1_700_000_000_000 + i as u64,
                open_client_id: i as u64,
            })
            .collect()
    }

    #[test]
    fn command_round_trips_in_both_encodings() {
        for cmd in commands() {
            let bin = encode_bin(&cmd).expect("encode");
            assert_eq!(decode_bin::<Command>(&bin).expect("decode"), cmd);
            let json = serde_json::to_vec(&cmd).expect("json");
            assert_eq!(serde_json::from_slice::<Command>(&json).expect("json back"), cmd);
            assert!(bin.len() < json.len(), "binary {} bytes, JSON {}", bin.len(), json.len());
        }
    }

    /// Log entries, snapshots and retry-cache rows are postcard, which writes an enum variant as
    /// its position: a variant inserted anywhere but at the end would make every later one
    /// decode as its neighbour after an upgrade. These positions are fixed forever.
    #[test]
    fn persisted_enum_variants_keep_their_positions() {
        let log_ops = [
            "CreateVolume",
            "SetVolumeProperty",
            "DeleteVolume",
            "CreateBucket",
            "DeleteBucket",
            "OpenKey",
            "CommitKey",
            "DeleteKey",
            "RenameKey",
            "ExpireOpenKeys",
            "AddAcl",
            "RemoveAcl",
            "SetAcl",
            "SetBucketProperty",
            "Prepare",
            "CancelPrepare",
            "EchoRPC",
        ];
        let mut seen = std::collections::BTreeSet::new();
        let target = om_client::wire::AclTarget::Volume { volume: "v".into() };
        let acl = om_client::acl::OzoneAcl::parse("user:a:r").unwrap();
        let acl_ops = [
            LogOp::AddAcl { target: target.clone(), acl: acl.clone() },
            LogOp::RemoveAcl { target: target.clone(), acl: acl.clone() },
            LogOp::SetAcl { target, acls: vec![acl] },
        ];
        for op in commands().into_iter().map(|c| c.op).chain(acl_ops) {
            let name: &'static str = (&op).into();
            let position =
                log_ops.iter().position(|n| *n == name).unwrap_or_else(|| panic!("{name}: add it at the end"));
            assert_eq!(encode_bin(&op).unwrap()[0] as usize, position, "{name}");
            seen.insert(name);
        }
        assert_eq!(seen.len(), log_ops.len(), "every LogOp variant is checked");
        let codes = [
            "VOLUME_ALREADY_EXISTS",
            "VOLUME_NOT_FOUND",
            "VOLUME_NOT_EMPTY",
            "BUCKET_ALREADY_EXISTS",
            "BUCKET_NOT_FOUND",
            "BUCKET_NOT_EMPTY",
            "KEY_NOT_FOUND",
            "KEY_ALREADY_EXISTS",
            "QUOTA_EXCEEDED",
            "INVALID_VOLUME_NAME",
            "INVALID_BUCKET_NAME",
            "INVALID_KEY_NAME",
            "INVALID_REQUEST",
            "NOT_LEADER",
            "LEADER_NOT_READY",
            "FAILED_PRECONDITION",
            "TIMEOUT",
            "INTERNAL_ERROR",
            "PERMISSION_DENIED",
            "UNAUTHENTICATED",
            "QUOTA_ERROR",
            "NOT_A_FILE",
            "DIRECTORY_NOT_FOUND",
            "DIRECTORY_NOT_EMPTY",
            "KEY_RENAME_ERROR",
            "NOT_SUPPORTED_OPERATION_WHEN_PREPARED",
            "FILE_NOT_FOUND",
        ];
        use strum::IntoEnumIterator;
        let all: Vec<ErrorCode> = ErrorCode::iter().collect();
        assert_eq!(all.len(), codes.len(), "a new ErrorCode goes at the end, and here");
        for code in all {
            let position = codes.iter().position(|n| *n == code.as_str()).expect("listed");
            assert_eq!(encode_bin(&code).unwrap()[0] as usize, position, "{code}");
        }
    }

    #[test]
    fn client_operations_keep_every_field_in_the_log() {
        let op =
            WriteOp::CommitKey { volume: "v".into(), bucket: "b".into(), key: "k".into(), client_id: 9, size: Some(3) };
        assert_eq!(
            LogOp::from(op),
            LogOp::CommitKey { volume: "v".into(), bucket: "b".into(), key: "k".into(), client_id: 9, size: Some(3) }
        );
        assert!(commands().iter().any(|c| c.op.kind() == "CommitKey"));
    }

    #[test]
    fn raft_messages_round_trip_in_binary() {
        use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse};
        use openraft::EntryPayload;
        let log_id = |i| openraft::testing::log_id::<TypeConfig>(3, NodeId::from("om1"), i);
        let mut entries: Vec<Entry> = commands()
            .into_iter()
            .enumerate()
            .map(|(i, c)| Entry { log_id: log_id(i as u64 + 1), payload: EntryPayload::Normal(Proposal::One(c)) })
            .collect();
        entries.push(Entry { log_id: log_id(19), payload: EntryPayload::Normal(Proposal::Batch(commands())) });
        entries.push(Entry { log_id: log_id(20), payload: EntryPayload::Blank });
        let node = |p: &str| Node {
            rpc_addr: format!("h:{p}1"),
            ratis_addr: format!("h:{p}2"),
            http_addr: format!("h:{p}3"),
            hostname: "h".into(),
        };
        let nodes: BTreeMap<NodeId, Node> = [("om1".into(), node("1")), ("om2".into(), node("2"))].into();
        let voters = [NodeId::from("om1"), NodeId::from("om2")].into();
        let membership = Membership::new(vec![voters], nodes).expect("membership");
        entries.push(Entry { log_id: log_id(21), payload: EntryPayload::Membership(membership) });
        for e in &entries {
            let back: Entry = decode_bin(&encode_bin(e).expect("encode")).expect("decode");
            assert_eq!(&back, e);
        }
        let req = AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(3, NodeId::from("om1")),
            prev_log_id: Some(log_id(0)),
            entries,
            leader_commit: Some(log_id(19)),
        };
        let back: AppendEntriesRequest<TypeConfig> = decode_bin(&encode_bin(&req).expect("encode")).expect("decode");
        assert_eq!(format!("{back:?}"), format!("{req:?}"));
        for resp in [
            AppendEntriesResponse::<TypeConfig>::Success,
            AppendEntriesResponse::PartialSuccess(Some(log_id(4))),
            AppendEntriesResponse::Conflict,
            AppendEntriesResponse::HigherVote(Vote::new(4, NodeId::from("om2"))),
        ] {
            let back: AppendEntriesResponse<TypeConfig> =
                decode_bin(&encode_bin(&resp).expect("encode")).expect("decode");
            assert_eq!(back, resp);
        }
    }

    #[test]
    fn a_batch_round_trips_in_both_encodings() {
        let batch = Proposal::Batch(commands());
        let bin = encode_bin(&batch).expect("encode");
        assert_eq!(decode_bin::<Proposal>(&bin).expect("decode"), batch);
        let json = serde_json::to_value(&batch).expect("json");
        assert_eq!(serde_json::from_value::<Proposal>(json).expect("json back"), batch);
        assert_eq!(batch.commands().len(), commands().len());
    }

    #[test]
    fn a_batch_over_the_limit_does_not_decode() {
        // postcard drops the messages of custom errors; that they are errors is what counts.
        let bin = encode_bin(&Proposal::Batch(commands())).expect("encode");
        assert!(decode_bin::<Command>(&bin).is_err());
        let cmd = commands().remove(2);
        let too_long = Proposal::Batch(vec![cmd; MAX_BATCH_COMMANDS + 1]);
        assert!(decode_bin::<Proposal>(&encode_bin(&too_long).expect("encode")).is_err());
        let err = serde_json::from_value::<Proposal>(serde_json::to_value(&too_long).expect("json")).unwrap_err();
        assert!(err.to_string().contains("a batch of 1025 commands (at most 1024)"), "{err}");
        let longest = Proposal::Batch(vec![commands().remove(2); MAX_BATCH_COMMANDS]);
        assert_eq!(decode_bin::<Proposal>(&encode_bin(&longest).expect("encode")).expect("decode"), longest);
    }

    #[test]
    fn bad_binary_input_is_an_error() {
        let bin = encode_bin(&commands()[0]).expect("encode");
        assert!(decode_bin::<Command>(&bin[..bin.len() / 2]).is_err());
        let mut long = bin.clone();
        long.push(0);
        assert!(decode_bin::<Command>(&long).unwrap_err().contains("trailing"));
        assert!(decode_bin::<Command>(&[0xff; 16]).is_err());
        assert!(decode_bin::<Entry>(b"{\"log_id\":1}").is_err());
    }
}
