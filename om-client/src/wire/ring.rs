//! Wire types of the ring itself: node roles and status, and the administration requests
//! (reload-config, join, transfer, decommission, prepare).

use std::fmt;

use serde::{Deserialize, Serialize};
use strum::{EnumIter, IntoStaticStr};

/// A node's Raft role, with Ozone's spelling (`serverRole`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumIter)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Leader,
    Follower,
    Candidate,
    Learner,
    /// Did not answer (reported by whoever asked, never by the node itself).
    Unreachable,
    /// Not (yet) a member of the ring.
    Unknown,
}

impl Role {
    /// Ozone's spelling, as on the wire.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member of the Raft group as the node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub node_id: String,
    pub hostname: String,
    pub rpc_address: String,
    pub voter: bool,
    /// Leader only: highest log index known replicated to this member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_index: Option<u64>,
}

/// `GET /v1/om/status`: what one node knows about itself and the ring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub service_id: String,
    pub node_id: String,
    pub hostname: String,
    pub role: Role,
    pub term: u64,
    pub leader_id: Option<String>,
    pub last_log_index: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    /// Highest index the double buffer has written to RocksDB.
    pub flushed_index: u64,
    /// Part of a ring with a known leader and caught up with it.
    pub ready: bool,
    pub members: Vec<MemberInfo>,
    /// Where this node is in Ozone's prepare-for-upgrade flow.
    #[serde(default)]
    pub prepare: PrepareState,
}

/// Ozone's `PrepareStatus`, as one node reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, IntoStaticStr, EnumIter)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum PrepareStatus {
    /// Writes are taken.
    #[default]
    NotPrepared,
    /// The prepare entry is applied, so writes are refused, but no snapshot covers it yet.
    PrepareGateEnabled,
    /// Applied, and a snapshot at or after the prepare index is taken (the log before it purged).
    PrepareCompleted,
}

impl PrepareStatus {
    /// Ozone's spelling, as on the wire.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A node's prepare status and the log index of the prepare entry (-1 when not prepared, as
/// Ozone's `currentTxnIndex`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepareState {
    pub status: PrepareStatus,
    pub index: i64,
}

impl Default for PrepareState {
    fn default() -> Self {
        PrepareState { status: PrepareStatus::NotPrepared, index: -1 }
    }
}

/// Answer of `POST /v1/om/admin/prepare`: the log index of the prepare entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepareResponse {
    pub txn_id: u64,
}

/// One node's addresses as a configuration file states them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfiguredNode {
    pub node_id: String,
    /// `host:port` of the client API (`ozone.om.address.<sid>.<nid>`).
    pub rpc_address: String,
    /// `host:port` of peer Raft traffic (`ozone.om.ratis.port.<sid>.<nid>`).
    pub ratis_address: String,
    /// `host:port` of health and metrics (`ozone.om.http-address.<sid>.<nid>`).
    pub http_address: String,
}

/// `POST /v1/om/admin/reload-config`: the service as the node's freshly re-read file states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigView {
    /// The node that answered.
    pub node_id: String,
    pub service_id: String,
    /// Every node of `ozone.om.nodes.<sid>`, decommissioned ones included.
    pub nodes: Vec<ConfiguredNode>,
    /// `ozone.om.decommissioned.nodes.<sid>`.
    pub decommissioned: Vec<String>,
}

impl ConfigView {
    /// Why this view does not accept `node` as an active member, if it does not.
    pub fn disagreement_about(&self, node: &ConfiguredNode) -> Option<String> {
        match self.nodes.iter().find(|n| n.node_id == node.node_id) {
            None => {
                Some(format!("{} does not list {} in ozone.om.nodes.{}", self.node_id, node.node_id, self.service_id))
            }
            Some(_) if self.decommissioned.contains(&node.node_id) => Some(format!(
                "{} lists {} in ozone.om.decommissioned.nodes.{}",
                self.node_id, node.node_id, self.service_id
            )),
            Some(n) if n != node => Some(format!(
                "{} has other addresses for {} (rpc {}, ratis {}, http {}; expected rpc {}, ratis {}, http {})",
                self.node_id,
                node.node_id,
                n.rpc_address,
                n.ratis_address,
                n.http_address,
                node.rpc_address,
                node.ratis_address,
                node.http_address
            )),
            Some(_) => None,
        }
    }
}

/// Body of `POST /v1/om/admin/join`: the node to add, with its addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    pub node: ConfiguredNode,
    /// Host name shown in roles; defaults to the host of `rpc_address`.
    #[serde(default)]
    pub hostname: Option<String>,
}

/// Body of `POST /v1/om/admin/transfer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// The voter to hand leadership to; `None` picks a caught-up follower at random.
    #[serde(default)]
    pub target: Option<String>,
}

/// Answer of `POST /v1/om/admin/transfer`, sent once the new leader is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferResponse {
    pub previous_leader: String,
    pub new_leader: String,
    /// From receiving the request to seeing the new leader's term.
    pub elapsed_ms: u64,
}

/// Body of `POST /v1/om/admin/decommission`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecommissionRequest {
    pub node_id: String,
}

/// Answer of membership changes (join, decommission).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipChange {
    /// False when the ring already was as requested (the call is idempotent).
    pub changed: bool,
    /// The membership after the change.
    pub members: Vec<MemberInfo>,
    pub message: String,
}
