//! HA operations: configuration reload (every node), and, on the leader, join (learner, catch
//! up, voter), leader transfer and decommission.
//!
//! Each is idempotent and refuses, with the reason, what would hurt the ring: a transfer to a
//! lagging or silent node, or a removal that leaves no majority of live voters. Membership
//! changes run one at a time (one lock per node; only the leader changes membership).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use om_client::wire::*;
use om_client::OzoneConfig;
use openraft::async_runtime::WatchReceiver;
use openraft::{ChangeMembers, RaftMetrics};
use rand::seq::IndexedRandom;

use crate::state::OmNode;
use crate::types::{Node, NodeId, TypeConfig};

/// A follower further behind the leader's last log index than this is "lagging": it is not a
/// transfer target.
pub const CAUGHT_UP_GAP: u64 = 100;

fn precondition(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::FailedPrecondition, msg)
}

/// Re-reads the node's configuration file (with its `-D` overrides) and reports the service.
pub fn reload_config(node: &OmNode) -> Result<ConfigView, ApiError> {
    let service = reload_service(node)?;
    let view = ConfigView {
        node_id: node.node_id.to_string(),
        service_id: service.service_id.clone(),
        nodes: service.nodes.iter().map(|n| n.configured()).collect(),
        decommissioned: service.decommissioned.clone(),
    };
    tracing::info!(nodes = ?service.node_ids(), decommissioned = ?service.decommissioned, "reloaded configuration");
    Ok(view)
}

/// This node's service as its configuration file states it now (with the node's `-D`
/// overrides).
pub fn reload_service(node: &OmNode) -> Result<om_client::ServiceConfig, ApiError> {
    let Some(source) = &node.settings.reload_source else {
        return Err(precondition(format!(
            "{} was not started from a configuration file, so there is nothing to reload",
            node.node_id
        )));
    };
    let fail = |e: om_client::ConfigError| {
        precondition(format!("{} cannot reload {}: {e}", node.node_id, source.path.display()))
    };
    let mut conf = OzoneConfig::load(&source.path).map_err(fail)?;
    conf.apply_overrides(&source.overrides).map_err(fail)?;
    conf.service(Some(&node.settings.service.service_id)).map_err(fail)
}

/// Members as the API reports them.
pub fn members(node: &OmNode) -> Vec<MemberInfo> {
    node.status().members
}

fn metrics(node: &OmNode) -> RaftMetrics<TypeConfig> {
    node.raft.metrics().borrow_watched().clone()
}

/// Highest index known replicated to `id` (leader only).
fn matched(m: &RaftMetrics<TypeConfig>, id: &NodeId) -> Option<u64> {
    m.replication.as_ref()?.get(id).map(|l| l.as_ref().map(|l| l.index).unwrap_or(0))
}

/// Time since `id` last acknowledged the leader (leader only; `None`: never).
fn silence(m: &RaftMetrics<TypeConfig>, id: &NodeId) -> Option<Duration> {
    let acked = m.heartbeat.as_ref()?.get(id)?.as_ref()?;
    Some(openraft::Instant::elapsed(&**acked))
}

/// How long a follower may be silent and still count as live.
fn live_window(node: &OmNode) -> Duration {
    Duration::from_millis(node.settings.election_max_ms * 2)
}

/// Why `id` cannot take over leadership now, if it cannot.
fn unfit_successor(node: &OmNode, m: &RaftMetrics<TypeConfig>, id: &NodeId) -> Option<String> {
    let membership = m.membership_config.membership();
    if membership.get_node(id).is_none() {
        let known: Vec<String> = membership.nodes().map(|(n, _)| n.to_string()).collect();
        return Some(format!("{id} is not a member of the ring (members: {})", known.join(", ")));
    }
    if !membership.voter_ids().any(|v| &v == id) {
        return Some(format!("{id} is a learner, not a voter"));
    }
    let last = m.last_log_index.unwrap_or(0);
    let lag = last.saturating_sub(matched(m, id).unwrap_or(0));
    if lag > CAUGHT_UP_GAP {
        return Some(format!("{id} lags {lag} entries behind the leader (at most {CAUGHT_UP_GAP} allowed)"));
    }
    match silence(m, id) {
        Some(s) if s <= live_window(node) => None,
        Some(s) => Some(format!("{id} has not answered the leader for {} ms", s.as_millis())),
        None => Some(format!("{id} has never answered the leader")),
    }
}

/// Adds a node: learner, wait until caught up, then voter. Idempotent.
pub async fn join(node: &OmNode, req: JoinRequest) -> Result<MembershipChange, ApiError> {
    let id = NodeId(req.node.node_id.trim().to_string());
    if id.0.is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "node.node_id must not be empty"));
    }
    for (what, addr) in [
        ("rpc_address", &req.node.rpc_address),
        ("ratis_address", &req.node.ratis_address),
        ("http_address", &req.node.http_address),
    ] {
        let ok = addr.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !ok {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("node.{what} must be host:port, got {addr:?}"),
            ));
        }
    }
    let hostname = req
        .hostname
        .clone()
        .unwrap_or_else(|| req.node.rpc_address.rsplit_once(':').map(|(h, _)| h.to_string()).unwrap_or_default());
    let wanted = Node {
        rpc_addr: req.node.rpc_address.clone(),
        ratis_addr: req.node.ratis_address.clone(),
        http_addr: req.node.http_address.clone(),
        hostname,
    };
    node.check_leader()?;
    let _one_change = node.membership_lock.lock().await;
    let m = metrics(node);
    let membership = m.membership_config.membership().clone();
    if let Some(existing) = membership.get_node(&id) {
        if existing.rpc_addr != wanted.rpc_addr || existing.ratis_addr != wanted.ratis_addr {
            return Err(precondition(format!(
                "{id} is already a member with rpc {} and ratis {}; decommission it before adding it with other addresses",
                existing.rpc_addr, existing.ratis_addr
            )));
        }
        if membership.voter_ids().any(|v| v == id) {
            return Ok(MembershipChange {
                changed: false,
                members: members(node),
                message: format!("{id} is already a voter; nothing to do"),
            });
        }
    } else {
        tracing::info!(node = %id, "adding learner");
        node.raft.add_learner(id.clone(), wanted, false).await.map_err(|e| node.raft_error("add learner", e))?;
    }
    wait_caught_up(node, &id).await?;
    tracing::info!(node = %id, "learner caught up; promoting to voter");
    let voters = BTreeSet::from([id.clone()]);
    node.raft
        .change_membership(ChangeMembers::AddVoterIds(voters), false)
        .await
        .map_err(|e| node.raft_error("promote to voter", e))?;
    tracing::info!(node = %id, "member added");
    Ok(MembershipChange { changed: true, members: members(node), message: format!("{id} joined the ring as a voter") })
}

/// Waits until the learner holds everything the leader had when the wait began (under
/// continuous load "within N entries of the moving end" may never hold on a slow machine; the
/// entries written meanwhile follow through normal replication after the promotion).
async fn wait_caught_up(node: &OmNode, id: &NodeId) -> Result<(), ApiError> {
    let deadline = Instant::now() + Duration::from_millis(node.settings.join_timeout_ms);
    let mut rx = node.raft.metrics();
    let target = rx.borrow_watched().last_log_index.unwrap_or(0);
    loop {
        let m = rx.borrow_watched().clone();
        if m.current_leader.as_ref() != Some(&node.node_id) {
            return Err(node.not_leader(m.current_leader.as_ref().map(|l| l.as_str()), "leadership changed"));
        }
        let got = matched(&m, id).unwrap_or(0);
        if got > 0 && got >= target {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ApiError::new(
                ErrorCode::Timeout,
                format!(
                    "{id} did not catch up within {} ms (replicated up to {got} of {target}); it stays a learner, retry to promote it",
                    node.settings.join_timeout_ms
                ),
            ));
        }
        let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), rx.changed()).await;
    }
}

/// The most caught-up live voter other than this node.
fn best_successor(node: &OmNode, m: &RaftMetrics<TypeConfig>, exclude: &NodeId) -> Option<NodeId> {
    m.membership_config
        .membership()
        .voter_ids()
        .filter(|v| v != &node.node_id && v != exclude)
        .filter(|v| unfit_successor(node, m, v).is_none())
        .max_by_key(|v| matched(m, v).unwrap_or(0))
}

/// Hands leadership to `target`, or to a caught-up voter at random.
pub async fn transfer(node: &OmNode, req: TransferRequest) -> Result<TransferResponse, ApiError> {
    let started = Instant::now();
    node.check_leader()?;
    let m = metrics(node);
    let target = match req.target.as_deref().map(str::trim) {
        Some("") => return Err(ApiError::new(ErrorCode::InvalidRequest, "target must not be empty")),
        Some(t) if t == node.node_id.as_str() => {
            return Ok(TransferResponse { previous_leader: t.to_string(), new_leader: t.to_string(), elapsed_ms: 0 })
        }
        Some(t) => {
            let t = NodeId::from(t);
            if let Some(why) = unfit_successor(node, &m, &t) {
                return Err(precondition(format!("cannot transfer leadership to {t}: {why}")));
            }
            t
        }
        None => {
            let fit: Vec<NodeId> = m
                .membership_config
                .membership()
                .voter_ids()
                .filter(|v| v != &node.node_id && unfit_successor(node, &m, v).is_none())
                .collect();
            match fit.choose(&mut rand::rng()) {
                Some(t) => t.clone(),
                None => {
                    let reasons: Vec<String> = m
                        .membership_config
                        .membership()
                        .voter_ids()
                        .filter(|v| v != &node.node_id)
                        .filter_map(|v| unfit_successor(node, &m, &v))
                        .collect();
                    return Err(precondition(format!(
                        "no follower can take over: {}",
                        if reasons.is_empty() { "the ring has no other voter".to_string() } else { reasons.join("; ") }
                    )));
                }
            }
        }
    };
    hand_over(node, &target, Duration::from_millis(node.settings.election_max_ms * 4)).await?;
    Ok(TransferResponse {
        previous_leader: node.node_id.to_string(),
        new_leader: target.to_string(),
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

/// Triggers a transfer to `target` and waits until this node sees it lead.
async fn hand_over(node: &OmNode, target: &NodeId, within: Duration) -> Result<(), ApiError> {
    tracing::info!(to = %target, "transferring leadership");
    node.raft
        .trigger()
        .transfer_leader(target.clone())
        .await
        .map_err(|e| ApiError::new(ErrorCode::InternalError, format!("transfer leadership: {e}")))?;
    let mut rx = node.raft.metrics();
    let deadline = Instant::now() + within;
    loop {
        let leader = rx.borrow_watched().current_leader.clone();
        if leader.as_ref() == Some(target) {
            tracing::info!(to = %target, "leadership transferred");
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ApiError::new(
                ErrorCode::Timeout,
                format!(
                    "{target} did not take over within {} ms (leader now: {})",
                    within.as_millis(),
                    leader.map(|l| l.to_string()).unwrap_or_else(|| "none".into())
                ),
            ));
        }
        let _ = tokio::time::timeout(left.min(Duration::from_millis(50)), rx.changed()).await;
    }
}

/// Moves leadership to the most caught-up follower, if this node leads and one exists.
/// Used on SIGTERM; returns who took over.
pub async fn step_down(node: &OmNode, within: Duration) -> Option<NodeId> {
    let m = metrics(node);
    if m.current_leader.as_ref() != Some(&node.node_id) {
        return None;
    }
    let Some(target) = best_successor(node, &m, &node.node_id) else {
        tracing::warn!("no caught-up follower to hand leadership to");
        return None;
    };
    match hand_over(node, &target, within).await {
        Ok(()) => Some(target),
        Err(e) => {
            tracing::warn!(error = %e.message, "leadership handoff failed");
            None
        }
    }
}

/// Removes a member; leadership moves first when the leader itself is removed.
pub async fn decommission(node: &OmNode, req: DecommissionRequest) -> Result<MembershipChange, ApiError> {
    let id = NodeId(req.node_id.trim().to_string());
    if id.0.is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "node_id must not be empty"));
    }
    node.check_leader()?;
    let _one_change = node.membership_lock.lock().await;
    let m = metrics(node);
    let membership = m.membership_config.membership().clone();
    if membership.get_node(&id).is_none() {
        return Ok(MembershipChange {
            changed: false,
            members: members(node),
            message: format!("{id} is not a member; nothing to do"),
        });
    }
    let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
    let is_voter = voters.contains(&id);
    if is_voter {
        let remaining: Vec<&NodeId> = voters.iter().filter(|v| **v != id).collect();
        if remaining.is_empty() {
            return Err(precondition(format!("{id} is the only voter; removing it would leave no ring")));
        }
        let live: Vec<&NodeId> = remaining
            .iter()
            .copied()
            .filter(|v| **v == node.node_id || silence(&m, v).is_some_and(|s| s <= live_window(node)))
            .collect();
        let need = remaining.len() / 2 + 1;
        if live.len() < need {
            let silent: Vec<String> = remaining.iter().filter(|v| !live.contains(v)).map(|v| v.to_string()).collect();
            return Err(precondition(format!(
                "removing {id} would leave {} voters of which only {} answer ({} silent: {}); a majority needs {need}",
                remaining.len(),
                live.len(),
                silent.len(),
                silent.join(", ")
            )));
        }
    }
    if id == node.node_id {
        let Some(successor) = best_successor(node, &m, &id) else {
            return Err(precondition(format!("{id} leads and no caught-up follower can take over before it leaves")));
        };
        hand_over(node, &successor, Duration::from_millis(node.settings.election_max_ms * 4)).await?;
        // The new leader removes this node: the client follows the hint and retries there.
        return Err(node.not_leader(Some(successor.as_str()), "leadership moved away from the node being removed"));
    }
    let change = if is_voter {
        ChangeMembers::RemoveVoters(BTreeSet::from([id.clone()]))
    } else {
        ChangeMembers::RemoveNodes(BTreeSet::from([id.clone()]))
    };
    node.raft.change_membership(change, false).await.map_err(|e| node.raft_error("remove member", e))?;
    tracing::info!(node = %id, "member removed");
    Ok(MembershipChange { changed: true, members: members(node), message: format!("{id} was removed from the ring") })
}

/// Node records of the configured nodes, for ring formation.
pub fn configured_members(node: &OmNode) -> BTreeMap<NodeId, Node> {
    node.settings
        .service
        .active_nodes()
        .filter_map(|n| node.settings.raft_node(&n.node_id).map(|rn| (NodeId(n.node_id.clone()), rn)))
        .collect()
}
