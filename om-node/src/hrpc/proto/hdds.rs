//! The few `hadoop.hdds` messages (Ozone's `hdds.proto`) that OM messages carry, and the enum
//! values omring sends in them.

/// `ReplicationType`.
pub const RATIS: i32 = 1;
pub const STAND_ALONE: i32 = 2;
/// `ReplicationFactor`.
pub const FACTOR_ONE: i32 = 1;
pub const FACTOR_THREE: i32 = 3;
/// `StorageTypeProto` (also `hadoop.ozone.StorageTypeProto`, same numbers).
pub const DISK: i32 = 1;
/// `NodeType`.
pub const NODE_OM: i32 = 1;

/// `KeyValue`: metadata entries.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    #[prost(string, required, tag = "1")]
    pub key: String,
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// `TransferLeadershipRequestProto`: `newLeaderId` "" asks for any follower.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TransferLeadershipRequest {
    #[prost(string, required, tag = "1")]
    pub new_leader_id: String,
}
