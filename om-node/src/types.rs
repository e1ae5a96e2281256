//! The Raft type configuration, declared once for the whole node.

use std::fmt;

use om_client::wire::{ApiError, WriteOp, WriteResponse};
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

/// One replicated transaction: a client write with everything non-deterministic fixed by the
/// leader before it entered the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub request_id: String,
    pub op: WriteOp,
    /// Leader's wall clock in milliseconds since the epoch.
    pub now_ms: u64,
    /// Client id of an `OpenKey`, chosen by the leader.
    #[serde(default)]
    pub open_client_id: u64,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.op.kind(), self.request_id)
    }
}

/// The result of applying a [`Command`]: what the client is answered.
pub type CommandResult = Result<WriteResponse, ApiError>;

openraft::declare_raft_types!(
    /// The ring's Raft types.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
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
