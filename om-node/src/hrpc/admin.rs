//! OMAdminProtocol over Hadoop RPC: what `ozone admin om decommission` calls.
//! - `getOMConfiguration`, asked of every remaining OM: the nodes it runs with, and the nodes
//!   its configuration file lists now (re-read from disk, as Ozone reloads it), each ACTIVE or
//!   DECOMMISSIONED by `ozone.om.decommissioned.nodes.<sid>`. Ozone's CLI goes on only if every
//!   OM's file lists the node as decommissioned at the address it was given.
//! - `decommission`, sent to the leader: the same removal as the JSON API's (administrators
//!   only with security on, audited, never leaving the ring without a majority). A follower
//!   answers `OMNotLeaderException`, so the client's failover proxy moves on to the leader.

use std::sync::Arc;
use std::time::Instant;

use om_client::wire::DecommissionRequest;
use om_client::ServiceConfig;
use prost::Message;

use super::dispatch::{is_leadership, leader_failure, Caller};
use super::frame;
use super::proto::admin::{
    DecommissionOmRequest, DecommissionOmResponse, OmConfigurationResponse, OmNodeInfo, NODE_ACTIVE,
    NODE_DECOMMISSIONED,
};
use crate::state::OmNode;

/// A decoded OMAdminProtocol call.
pub enum AdminCall {
    Configuration,
    Decommission(DecommissionOmRequest),
}

/// Runs one admin call and returns its whole reply frame.
pub async fn answer(node: &Arc<OmNode>, who: &Caller, call_id: i32, client_id: &[u8], call: AdminCall) -> Vec<u8> {
    let body = match call {
        AdminCall::Configuration => configuration(node).encode_to_vec(),
        AdminCall::Decommission(req) => {
            let started = Instant::now();
            let req = DecommissionRequest { node_id: req.node_id };
            let result =
                crate::server::serve_decommission(node, &who.principal(), who.audit_caller(), started, req).await;
            let resp = match result {
                Ok(change) if change.changed => DecommissionOmResponse { success: true, error_msg: None },
                // Ozone: "OM node not present in the OM peer list."
                Ok(change) => DecommissionOmResponse { success: false, error_msg: Some(change.message) },
                Err(e) if is_leadership(&e) => return leader_failure(node, &e, call_id, client_id),
                Err(e) => {
                    DecommissionOmResponse { success: false, error_msg: Some(format!("{} {}", e.code, e.message)) }
                }
            };
            resp.encode_to_vec()
        }
    };
    frame::success(call_id, client_id, &body)
}

/// The nodes this node runs with and those of its configuration file now.
fn configuration(node: &OmNode) -> OmConfigurationResponse {
    // As Ozone's: the nodes in memory leave out decommissioned ones, the file's keep them.
    let in_memory =
        nodes_of(&node.settings.service).into_iter().filter(|n| n.node_state != Some(NODE_DECOMMISSIONED)).collect();
    match crate::admin::reload_service(node) {
        Ok(now) => OmConfigurationResponse {
            success: true,
            error_msg: None,
            nodes_in_memory: in_memory,
            nodes_in_new_conf: nodes_of(&now),
        },
        Err(e) => OmConfigurationResponse {
            success: false,
            error_msg: Some(e.message),
            nodes_in_memory: in_memory,
            nodes_in_new_conf: Vec::new(),
        },
    }
}

fn nodes_of(service: &ServiceConfig) -> Vec<OmNodeInfo> {
    service
        .nodes
        .iter()
        .map(|n| OmNodeInfo {
            node_id: n.node_id.clone(),
            host_address: n.host.clone(),
            rpc_port: u32::from(n.rpc_port),
            ratis_port: u32::from(n.ratis_port),
            node_state: Some(if service.decommissioned.contains(&n.node_id) {
                NODE_DECOMMISSIONED
            } else {
                NODE_ACTIVE
            }),
        })
        .collect()
}
