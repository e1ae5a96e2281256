//! The Raft type configuration, declared once for the whole node.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use om_client::wire::{ApiError, BucketLayout, OpenKeyId, WriteOp, WriteResponse};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

/// One replicated transaction: a client write with everything non-deterministic fixed by the
/// leader before it entered the log.
///
/// Serialized as JSON in human-readable formats and compactly (see [`encode_bin`]) in the
/// Raft log and in peer RPC bodies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub request_id: String,
    pub op: WriteOp,
    /// Leader's wall clock in milliseconds since the epoch.
    pub now_ms: u64,
    /// Client id of an `OpenKey`, chosen by the leader.
    pub open_client_id: u64,
}

/// The JSON form of a [`Command`] (borrowed for writing, owned for reading).
#[derive(Serialize, Deserialize)]
struct CommandJson<S, O> {
    request_id: S,
    op: O,
    now_ms: u64,
    #[serde(default)]
    open_client_id: u64,
}

/// The binary form of a [`Command`]: the operation as an externally tagged enum, which binary
/// formats can read (`WriteOp`'s JSON form is internally tagged and needs a self-describing format).
#[derive(Serialize, Deserialize)]
struct CommandBin<'a> {
    request_id: Cow<'a, str>,
    op: OpBin<'a>,
    now_ms: u64,
    open_client_id: u64,
}

type Meta<'a> = Cow<'a, BTreeMap<String, String>>;

/// [`WriteOp`] variant for variant; the exhaustive conversions below make a new variant or
/// field a compile error here rather than a silently dropped field.
#[derive(Serialize, Deserialize)]
enum OpBin<'a> {
    CreateVolume {
        volume: Cow<'a, str>,
        owner: Option<Cow<'a, str>>,
        quota_in_bytes: Option<i64>,
        quota_in_namespace: Option<i64>,
        metadata: Meta<'a>,
    },
    SetVolumeProperty {
        volume: Cow<'a, str>,
        owner: Option<Cow<'a, str>>,
        quota_in_bytes: Option<i64>,
        quota_in_namespace: Option<i64>,
    },
    DeleteVolume {
        volume: Cow<'a, str>,
    },
    CreateBucket {
        volume: Cow<'a, str>,
        bucket: Cow<'a, str>,
        owner: Option<Cow<'a, str>>,
        layout: Option<BucketLayout>,
        versioning: bool,
        quota_in_bytes: Option<i64>,
        quota_in_namespace: Option<i64>,
        metadata: Meta<'a>,
    },
    DeleteBucket {
        volume: Cow<'a, str>,
        bucket: Cow<'a, str>,
    },
    OpenKey {
        volume: Cow<'a, str>,
        bucket: Cow<'a, str>,
        key: Cow<'a, str>,
        size: u64,
        replication: Option<Cow<'a, str>>,
        metadata: Meta<'a>,
    },
    CommitKey {
        volume: Cow<'a, str>,
        bucket: Cow<'a, str>,
        key: Cow<'a, str>,
        client_id: u64,
        size: Option<u64>,
    },
    DeleteKey {
        volume: Cow<'a, str>,
        bucket: Cow<'a, str>,
        key: Cow<'a, str>,
    },
    RenameKey {
        volume: Cow<'a, str>,
        bucket: Cow<'a, str>,
        key: Cow<'a, str>,
        to_key: Cow<'a, str>,
    },
    /// Appended last: postcard numbers variants, so earlier logs still decode.
    ExpireOpenKeys {
        keys: Cow<'a, [OpenKeyId]>,
        created_before_ms: u64,
    },
    /// The commands of a [`Proposal::Batch`]; never a client's operation and never nested.
    Batch(Vec<CommandBin<'a>>),
}

fn b(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s)
}

fn bo(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(Cow::Borrowed)
}

fn o(s: Cow<'_, str>) -> String {
    s.into_owned()
}

fn oo(s: Option<Cow<'_, str>>) -> Option<String> {
    s.map(Cow::into_owned)
}

impl<'a> From<&'a WriteOp> for OpBin<'a> {
    fn from(op: &'a WriteOp) -> Self {
        match op {
            WriteOp::CreateVolume { volume, owner, quota_in_bytes, quota_in_namespace, metadata } => {
                OpBin::CreateVolume {
                    volume: b(volume),
                    owner: bo(owner),
                    quota_in_bytes: *quota_in_bytes,
                    quota_in_namespace: *quota_in_namespace,
                    metadata: Cow::Borrowed(metadata),
                }
            }
            WriteOp::SetVolumeProperty { volume, owner, quota_in_bytes, quota_in_namespace } => {
                OpBin::SetVolumeProperty {
                    volume: b(volume),
                    owner: bo(owner),
                    quota_in_bytes: *quota_in_bytes,
                    quota_in_namespace: *quota_in_namespace,
                }
            }
            WriteOp::DeleteVolume { volume } => OpBin::DeleteVolume { volume: b(volume) },
            WriteOp::CreateBucket {
                volume,
                bucket,
                owner,
                layout,
                versioning,
                quota_in_bytes,
                quota_in_namespace,
                metadata,
            } => OpBin::CreateBucket {
                volume: b(volume),
                bucket: b(bucket),
                owner: bo(owner),
                layout: *layout,
                versioning: *versioning,
                quota_in_bytes: *quota_in_bytes,
                quota_in_namespace: *quota_in_namespace,
                metadata: Cow::Borrowed(metadata),
            },
            WriteOp::DeleteBucket { volume, bucket } => OpBin::DeleteBucket { volume: b(volume), bucket: b(bucket) },
            WriteOp::OpenKey { volume, bucket, key, size, replication, metadata } => OpBin::OpenKey {
                volume: b(volume),
                bucket: b(bucket),
                key: b(key),
                size: *size,
                replication: bo(replication),
                metadata: Cow::Borrowed(metadata),
            },
            WriteOp::CommitKey { volume, bucket, key, client_id, size } => OpBin::CommitKey {
                volume: b(volume),
                bucket: b(bucket),
                key: b(key),
                client_id: *client_id,
                size: *size,
            },
            WriteOp::DeleteKey { volume, bucket, key } => {
                OpBin::DeleteKey { volume: b(volume), bucket: b(bucket), key: b(key) }
            }
            WriteOp::RenameKey { volume, bucket, key, to_key } => {
                OpBin::RenameKey { volume: b(volume), bucket: b(bucket), key: b(key), to_key: b(to_key) }
            }
            WriteOp::ExpireOpenKeys { keys, created_before_ms } => {
                OpBin::ExpireOpenKeys { keys: Cow::Borrowed(keys), created_before_ms: *created_before_ms }
            }
        }
    }
}

impl TryFrom<OpBin<'_>> for WriteOp {
    type Error = &'static str;

    fn try_from(op: OpBin<'_>) -> Result<Self, Self::Error> {
        Ok(match op {
            OpBin::CreateVolume { volume, owner, quota_in_bytes, quota_in_namespace, metadata } => {
                WriteOp::CreateVolume {
                    volume: o(volume),
                    owner: oo(owner),
                    quota_in_bytes,
                    quota_in_namespace,
                    metadata: metadata.into_owned(),
                }
            }
            OpBin::SetVolumeProperty { volume, owner, quota_in_bytes, quota_in_namespace } => {
                WriteOp::SetVolumeProperty { volume: o(volume), owner: oo(owner), quota_in_bytes, quota_in_namespace }
            }
            OpBin::DeleteVolume { volume } => WriteOp::DeleteVolume { volume: o(volume) },
            OpBin::CreateBucket {
                volume,
                bucket,
                owner,
                layout,
                versioning,
                quota_in_bytes,
                quota_in_namespace,
                metadata,
            } => WriteOp::CreateBucket {
                volume: o(volume),
                bucket: o(bucket),
                owner: oo(owner),
                layout,
                versioning,
                quota_in_bytes,
                quota_in_namespace,
                metadata: metadata.into_owned(),
            },
            OpBin::DeleteBucket { volume, bucket } => WriteOp::DeleteBucket { volume: o(volume), bucket: o(bucket) },
            OpBin::OpenKey { volume, bucket, key, size, replication, metadata } => WriteOp::OpenKey {
                volume: o(volume),
                bucket: o(bucket),
                key: o(key),
                size,
                replication: oo(replication),
                metadata: metadata.into_owned(),
            },
            OpBin::CommitKey { volume, bucket, key, client_id, size } => {
                WriteOp::CommitKey { volume: o(volume), bucket: o(bucket), key: o(key), client_id, size }
            }
            OpBin::DeleteKey { volume, bucket, key } => {
                WriteOp::DeleteKey { volume: o(volume), bucket: o(bucket), key: o(key) }
            }
            OpBin::RenameKey { volume, bucket, key, to_key } => {
                WriteOp::RenameKey { volume: o(volume), bucket: o(bucket), key: o(key), to_key: o(to_key) }
            }
            OpBin::ExpireOpenKeys { keys, created_before_ms } => {
                WriteOp::ExpireOpenKeys { keys: keys.into_owned(), created_before_ms }
            }
            OpBin::Batch(_) => return Err("a batch where one command belongs"),
        })
    }
}

impl<'a> From<&'a Command> for CommandBin<'a> {
    fn from(c: &'a Command) -> Self {
        CommandBin {
            request_id: b(&c.request_id),
            op: OpBin::from(&c.op),
            now_ms: c.now_ms,
            open_client_id: c.open_client_id,
        }
    }
}

impl TryFrom<CommandBin<'_>> for Command {
    type Error = &'static str;

    fn try_from(c: CommandBin<'_>) -> Result<Self, Self::Error> {
        Ok(Command {
            request_id: c.request_id.into_owned(),
            op: c.op.try_into()?,
            now_ms: c.now_ms,
            open_client_id: c.open_client_id,
        })
    }
}

impl Serialize for Command {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            CommandJson {
                request_id: self.request_id.as_str(),
                op: &self.op,
                now_ms: self.now_ms,
                open_client_id: self.open_client_id,
            }
            .serialize(s)
        } else {
            CommandBin::from(self).serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Command {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let c = CommandJson::<String, WriteOp>::deserialize(d)?;
            Ok(Command { request_id: c.request_id, op: c.op, now_ms: c.now_ms, open_client_id: c.open_client_id })
        } else {
            CommandBin::deserialize(d)?.try_into().map_err(serde::de::Error::custom)
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.op.kind(), self.request_id)
    }
}

/// The most commands one [`Proposal::Batch`] may carry; a longer one does not decode.
pub const MAX_BATCH_COMMANDS: usize = 1024;

/// What one Raft entry carries: one client write, or several that the leader coalesced (see
/// [`crate::propose`]). Applying a batch applies its commands in order, each seeing the ones
/// before it, exactly as if each had its own entry; only their object ids differ
/// ([`crate::namespace::TxnId`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Proposal {
    One(Command),
    Batch(Vec<Command>),
}

impl Proposal {
    pub fn commands(&self) -> &[Command] {
        match self {
            Proposal::One(c) => std::slice::from_ref(c),
            Proposal::Batch(cs) => cs,
        }
    }
}

/// The JSON form of a batch: `{"batch": [command, ...]}`; a single command keeps its own form.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum ProposalJson<C> {
    Batch { batch: Vec<C> },
    One(C),
}

/// In the binary form a single command is encoded exactly as before batching existed (so
/// older logs decode unchanged), and a batch as a command whose operation is `Batch`.
impl Serialize for Proposal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self, s.is_human_readable()) {
            (Proposal::One(c), _) => c.serialize(s),
            (Proposal::Batch(cs), true) => ProposalJson::<&Command>::Batch { batch: cs.iter().collect() }.serialize(s),
            (Proposal::Batch(cs), false) => CommandBin {
                request_id: Cow::Borrowed(""),
                op: OpBin::Batch(cs.iter().map(CommandBin::from).collect()),
                now_ms: 0,
                open_client_id: 0,
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Proposal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let too_long = |n: usize| D::Error::custom(format!("a batch of {n} commands (at most {MAX_BATCH_COMMANDS})"));
        if d.is_human_readable() {
            return match ProposalJson::<Command>::deserialize(d)? {
                ProposalJson::Batch { batch } if batch.len() > MAX_BATCH_COMMANDS => Err(too_long(batch.len())),
                ProposalJson::Batch { batch } => Ok(Proposal::Batch(batch)),
                ProposalJson::One(c) => Ok(Proposal::One(c)),
            };
        }
        let c = CommandBin::deserialize(d)?;
        match c.op {
            OpBin::Batch(cs) if cs.len() > MAX_BATCH_COMMANDS => Err(too_long(cs.len())),
            OpBin::Batch(cs) => cs
                .into_iter()
                .map(Command::try_from)
                .collect::<Result<_, _>>()
                .map(Proposal::Batch)
                .map_err(D::Error::custom),
            _ => Command::try_from(c).map(Proposal::One).map_err(D::Error::custom),
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

pub type Raft = openraft::Raft<TypeConfig, crate::store::StateMachineStore>;
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
    use super::*;

    fn commands() -> Vec<Command> {
        let meta: BTreeMap<String, String> = [("color".to_string(), "blue".to_string())].into();
        let ops = vec![
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
            WriteOp::ExpireOpenKeys {
                keys: vec![OpenKeyId { volume: "v".into(), bucket: "b".into(), key: "dir/k".into(), client_id: 5 }],
                created_before_ms: 1_000,
            },
        ];
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

    #[test]
    fn json_form_is_unchanged() {
        let cmd = &commands()[6];
        let v: serde_json::Value = serde_json::to_value(cmd).expect("json");
        assert_eq!(v["request_id"], "req-6");
        assert_eq!(v["op"]["type"], "CommitKey");
        assert_eq!(v["open_client_id"], 6);
        // Older records without open_client_id still read.
        let old = r#"{"request_id":"r","op":{"type":"DeleteVolume","volume":"v"},"now_ms":1}"#;
        assert_eq!(serde_json::from_str::<Command>(old).expect("old").open_client_id, 0);
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
    fn a_single_command_proposal_is_encoded_as_the_command_alone() {
        for cmd in commands() {
            let old = encode_bin(&cmd).expect("encode");
            // Log entries written before batching existed decode as one-command proposals.
            assert_eq!(decode_bin::<Proposal>(&old).expect("decode"), Proposal::One(cmd.clone()));
            assert_eq!(encode_bin(&Proposal::One(cmd.clone())).expect("encode"), old);
            let json = serde_json::to_vec(&Proposal::One(cmd.clone())).expect("json");
            assert_eq!(json, serde_json::to_vec(&cmd).expect("json"));
        }
    }

    #[test]
    fn a_batch_round_trips_in_both_encodings() {
        let batch = Proposal::Batch(commands());
        let bin = encode_bin(&batch).expect("encode");
        assert_eq!(decode_bin::<Proposal>(&bin).expect("decode"), batch);
        let json = serde_json::to_value(&batch).expect("json");
        assert_eq!(json["batch"][6]["op"]["type"], "CommitKey");
        assert_eq!(serde_json::from_value::<Proposal>(json).expect("json back"), batch);
        assert_eq!(batch.commands().len(), commands().len());
    }

    #[test]
    fn a_batch_is_not_a_command_and_does_not_nest() {
        // postcard drops the messages of custom errors; that they are errors is what counts.
        let bin = encode_bin(&Proposal::Batch(commands())).expect("encode");
        assert!(decode_bin::<Command>(&bin).is_err());
        let nested = CommandBin {
            request_id: Cow::Borrowed(""),
            op: OpBin::Batch(vec![CommandBin {
                request_id: Cow::Borrowed(""),
                op: OpBin::Batch(Vec::new()),
                now_ms: 0,
                open_client_id: 0,
            }]),
            now_ms: 0,
            open_client_id: 0,
        };
        assert!(decode_bin::<Proposal>(&encode_bin(&nested).expect("encode")).is_err());
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
