//! The `hadoop.ozone` messages of `OMAdminProtocol.proto` (Ozone 2.2.0) that omring serves:
//! `getOMConfiguration` and `decommission` of `OzoneManagerAdminService`, what
//! `ozone admin om decommission` calls. Field numbers are Ozone's.

/// `OMConfigurationRequest`: empty.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OmConfigurationRequest {}

/// `OMConfigurationResponse`: the nodes the OM runs with, and those of its configuration file
/// as it is on disk now.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OmConfigurationResponse {
    #[prost(bool, required, tag = "1")]
    pub success: bool,
    #[prost(string, optional, tag = "2")]
    pub error_msg: Option<String>,
    #[prost(message, repeated, tag = "3")]
    pub nodes_in_memory: Vec<OmNodeInfo>,
    #[prost(message, repeated, tag = "4")]
    pub nodes_in_new_conf: Vec<OmNodeInfo>,
}

/// `NodeState`.
pub const NODE_ACTIVE: i32 = 1;
pub const NODE_DECOMMISSIONED: i32 = 2;

/// `OMNodeInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OmNodeInfo {
    #[prost(string, required, tag = "1")]
    pub node_id: String,
    #[prost(string, required, tag = "2")]
    pub host_address: String,
    #[prost(uint32, required, tag = "3")]
    pub rpc_port: u32,
    #[prost(uint32, required, tag = "4")]
    pub ratis_port: u32,
    #[prost(int32, optional, tag = "5")]
    pub node_state: Option<i32>,
}

/// `DecommissionOMRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DecommissionOmRequest {
    #[prost(string, required, tag = "1")]
    pub node_id: String,
    #[prost(string, required, tag = "2")]
    pub node_address: String,
}

/// `DecommissionOMResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DecommissionOmResponse {
    #[prost(bool, required, tag = "1")]
    pub success: bool,
    #[prost(string, optional, tag = "3")]
    pub error_msg: Option<String>,
}
