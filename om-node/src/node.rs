//! Starting and stopping one node: storage, Raft, listeners, ring formation.
//!
//! [`start_node`] is the one entry point, used by the binary and by tests alike.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use om_client::config::{ConfigError, OzoneConfig, ServiceConfig};
use om_client::wire::*;
use om_client::FailoverClient;
use openraft::async_runtime::WatchReceiver;
use openraft::error::{ClientWriteError, RaftError};
use openraft::{RaftMetrics, ServerState, SnapshotPolicy};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::metrics::NodeMetrics;
use crate::network::PeerNetwork;
use crate::propose::{run_proposer, Proposer};
use crate::server;
use crate::store::{LogStore, StateMachineStore, DEFAULT_MAX_UNFLUSHED};
use crate::types::{Node, NodeId, Raft, TypeConfig};

pub const KEY_HEARTBEAT_MS: &str = "omring.raft.heartbeat.interval.ms";
pub const KEY_ELECTION_MIN_MS: &str = "omring.raft.election.timeout.min.ms";
pub const KEY_ELECTION_MAX_MS: &str = "omring.raft.election.timeout.max.ms";
pub const KEY_SNAPSHOT_THRESHOLD: &str = "ozone.om.ratis.snapshot.auto.trigger.threshold";
pub const KEY_PURGE_GAP: &str = "ozone.om.ratis.log.purge.gap";
pub const KEY_MAX_UNFLUSHED: &str = "ozone.om.unflushed.transaction.max.count";
pub const KEY_JOIN_TIMEOUT_MS: &str = "omring.join.catchup.timeout.ms";
pub const KEY_SHUTDOWN_TRANSFER_MS: &str = "omring.shutdown.leader.transfer.timeout.ms";
pub const KEY_OPEN_KEY_EXPIRE: &str = "ozone.om.open.key.expire.threshold";
pub const KEY_OPEN_KEY_CLEANUP_INTERVAL: &str = "ozone.om.open.key.cleanup.service.interval";
pub const KEY_OPEN_KEY_CLEANUP_LIMIT: &str = "ozone.om.open.key.cleanup.limit.per.task";
pub const KEY_PROPOSALS_IN_FLIGHT: &str = "omring.raft.proposals.in.flight";

/// Default of `omring.raft.proposals.in.flight`.
pub const DEFAULT_PROPOSALS_IN_FLIGHT: u64 = 2;
const MAX_PROPOSALS_IN_FLIGHT: usize = 1024;

/// Where the configuration came from, so `reload-config` can read it again.
#[derive(Debug, Clone)]
pub struct ReloadSource {
    pub path: PathBuf,
    /// `-D` overrides, applied again after every reload.
    pub overrides: Vec<String>,
}

/// How a node with empty storage finds its ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// Form the ring with every configured node when no peer has one; otherwise wait to be
    /// replicated to (a member) or added (not yet a member).
    FormOrWait,
    /// Never form a ring: `om --bootstrap` joins an existing one.
    Join,
}

/// Errors starting or running a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("invalid setting {key}: {reason}")]
    Setting { key: &'static str, reason: String },
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("cannot listen on {addr} ({purpose}): {source}")]
    Bind { addr: String, purpose: &'static str, source: std::io::Error },
    #[error("Raft: {0}")]
    Raft(String),
}

/// Everything a node needs to start, validated.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    pub service: ServiceConfig,
    pub node_id: String,
    pub db_dir: PathBuf,
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    pub snapshot_threshold: u64,
    pub purge_gap: u64,
    pub max_unflushed: usize,
    /// How long a joining learner may take to catch up before join gives up.
    pub join_timeout_ms: u64,
    /// How long a leader stopping on SIGTERM tries to hand leadership over.
    pub shutdown_transfer_ms: u64,
    /// Open keys older than this are expired by the leader (Ozone: 7 days).
    pub open_key_expire_ms: u64,
    /// How often the leader looks for expired open keys (Ozone: 24 hours).
    pub open_key_cleanup_interval_ms: u64,
    /// At most this many open keys are expired per run (Ozone: 1000).
    pub open_key_cleanup_limit: usize,
    /// Entries of coalesced client writes a leader keeps replicating at once (see
    /// [`crate::propose`]).
    pub proposals_in_flight: usize,
    pub reload_source: Option<ReloadSource>,
    pub start_mode: StartMode,
}

impl NodeSettings {
    /// Reads the settings of this node from `ozone-site.xml`.
    pub fn from_config(conf: &OzoneConfig, service_id: Option<&str>) -> Result<Self, NodeError> {
        let service = conf.service(service_id)?;
        let node_id = conf.resolve_self_node(&service)?;
        let heartbeat_ms = conf.get_u64(KEY_HEARTBEAT_MS, 100)?;
        let election_min_ms = conf.get_u64(KEY_ELECTION_MIN_MS, 300)?;
        let election_max_ms = conf.get_u64(KEY_ELECTION_MAX_MS, election_min_ms * 2)?;
        let settings = Self {
            db_dir: conf.db_dir()?,
            service,
            node_id,
            heartbeat_ms,
            election_min_ms,
            election_max_ms,
            snapshot_threshold: conf.get_u64(KEY_SNAPSHOT_THRESHOLD, 400_000)?,
            purge_gap: conf.get_u64(KEY_PURGE_GAP, 1_000_000)?,
            max_unflushed: conf.get_u64(KEY_MAX_UNFLUSHED, DEFAULT_MAX_UNFLUSHED as u64)? as usize,
            join_timeout_ms: conf.get_u64(KEY_JOIN_TIMEOUT_MS, 600_000)?,
            shutdown_transfer_ms: conf.get_u64(KEY_SHUTDOWN_TRANSFER_MS, 5_000)?,
            open_key_expire_ms: conf.get_duration_ms(KEY_OPEN_KEY_EXPIRE, 7 * 86_400_000)?,
            open_key_cleanup_interval_ms: conf.get_duration_ms(KEY_OPEN_KEY_CLEANUP_INTERVAL, 86_400_000)?,
            open_key_cleanup_limit: conf.get_u64(KEY_OPEN_KEY_CLEANUP_LIMIT, 1_000)? as usize,
            proposals_in_flight: conf.get_u64(KEY_PROPOSALS_IN_FLIGHT, DEFAULT_PROPOSALS_IN_FLIGHT)? as usize,
            reload_source: conf.source().map(|p| ReloadSource { path: p.to_path_buf(), overrides: Vec::new() }),
            start_mode: StartMode::FormOrWait,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Checks the settings against each other.
    pub fn validate(&self) -> Result<(), NodeError> {
        let bad = |key, reason: String| Err(NodeError::Setting { key, reason });
        if self.heartbeat_ms == 0 {
            return bad(KEY_HEARTBEAT_MS, "must be positive".into());
        }
        if self.election_min_ms <= self.heartbeat_ms {
            return bad(KEY_ELECTION_MIN_MS, format!("must exceed the heartbeat interval {} ms", self.heartbeat_ms));
        }
        if self.election_max_ms <= self.election_min_ms {
            return bad(KEY_ELECTION_MAX_MS, format!("must exceed the minimum {} ms", self.election_min_ms));
        }
        let counts = [
            (KEY_SNAPSHOT_THRESHOLD, self.snapshot_threshold),
            (KEY_JOIN_TIMEOUT_MS, self.join_timeout_ms),
            (KEY_MAX_UNFLUSHED, self.max_unflushed as u64),
            (KEY_OPEN_KEY_EXPIRE, self.open_key_expire_ms),
            (KEY_OPEN_KEY_CLEANUP_INTERVAL, self.open_key_cleanup_interval_ms),
            (KEY_OPEN_KEY_CLEANUP_LIMIT, self.open_key_cleanup_limit as u64),
            (KEY_PROPOSALS_IN_FLIGHT, self.proposals_in_flight as u64),
        ];
        if let Some((key, _)) = counts.into_iter().find(|(_, value)| *value == 0) {
            return bad(key, "must be positive".into());
        }
        if self.proposals_in_flight > MAX_PROPOSALS_IN_FLIGHT {
            return bad(KEY_PROPOSALS_IN_FLIGHT, format!("must be at most {MAX_PROPOSALS_IN_FLIGHT}"));
        }
        if self.service.node(&self.node_id).is_none() {
            return bad("ozone.om.node.id", format!("{} is not a node of {}", self.node_id, self.service.service_id));
        }
        Ok(())
    }

    fn raft_config(&self) -> Result<openraft::Config, NodeError> {
        openraft::Config {
            cluster_name: self.service.service_id.clone(),
            heartbeat_interval: self.heartbeat_ms,
            election_timeout_min: self.election_min_ms,
            election_timeout_max: self.election_max_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_threshold),
            max_in_snapshot_log_to_keep: self.purge_gap,
            enable_pre_vote: Some(true),
            // A restarted leader must win an election in a new term, and so propose (and commit)
            // a blank entry of that term before it reads: with leader restore it would lead
            // again in its old term, and its read index would be the blank entry of the term's
            // first start, behind writes acknowledged before the crash whose commit the node had
            // not persisted yet (the stale read of the whole-ring crash regression scenario).
            enable_leader_restore: Some(crate::breakage::leader_restore()),
            install_snapshot_timeout: 60_000,
            ..Default::default()
        }
        .validate()
        .map_err(|e| NodeError::Raft(e.to_string()))
    }

    /// The Raft node record of a configured node.
    pub fn raft_node(&self, node_id: &str) -> Option<Node> {
        self.service.node(node_id).map(|n| Node {
            rpc_addr: n.rpc_address(),
            ratis_addr: n.ratis_address(),
            http_addr: n.http_address(),
            hostname: n.host.clone(),
        })
    }
}

/// A running node: what the HTTP handlers share.
pub struct OmNode {
    pub node_id: NodeId,
    pub settings: NodeSettings,
    pub raft: Raft,
    pub sm: StateMachineStore,
    pub metrics: Arc<NodeMetrics>,
    /// Client writes go through it: it coalesces them into Raft entries.
    pub proposer: Proposer,
    /// Held by whoever changes membership: one change at a time.
    pub membership_lock: tokio::sync::Mutex<()>,
}

impl OmNode {
    fn hostname(&self) -> String {
        self.settings.service.node(self.node_id.as_str()).map(|n| n.host.clone()).unwrap_or_default()
    }

    /// Client address of a member, from the ring's membership, else from the configuration.
    fn member_address(&self, id: &str) -> Option<String> {
        let m = self.raft.metrics().borrow_watched().membership_config.clone();
        m.membership()
            .get_node(&NodeId::from(id))
            .map(|n| n.rpc_addr.clone())
            .or_else(|| self.settings.service.node(id).map(|n| n.rpc_address()))
    }

    /// A NOT_LEADER error with the leader's id and address when known.
    pub fn not_leader(&self, leader: Option<&str>, why: &str) -> ApiError {
        let mut e = ApiError::new(
            ErrorCode::NotLeader,
            match leader {
                Some(l) => format!("{} is not the leader ({why}); leader is {l}", self.node_id),
                None => format!("{} is not the leader and no leader is known ({why})", self.node_id),
            },
        );
        e.leader_id = leader.map(str::to_string);
        e.leader_address = leader.and_then(|l| self.member_address(l));
        e
    }

    /// Ok if this node is the leader and has applied everything before its term.
    pub fn check_leader(&self) -> Result<(), ApiError> {
        // The borrow ends with this statement: building a NOT_LEADER error reads the metrics
        // again, and a second borrow on the same thread would deadlock behind Raft's writer.
        let view = LeaderView::of(&self.raft.metrics().borrow_watched());
        self.leader_check(view)
    }

    /// The client's error for a write Raft did not take.
    pub fn write_error(&self, e: RaftError<TypeConfig, ClientWriteError<TypeConfig>>) -> ApiError {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f))
            | RaftError::APIError(ClientWriteError::LogEntryDiscarded(f)) => {
                self.not_leader(f.leader_id.as_ref().map(|l| l.as_str()), "leadership changed")
            }
            RaftError::APIError(e) => ApiError::new(ErrorCode::LeaderNotReady, e.to_string()),
            RaftError::Fatal(f) => ApiError::new(ErrorCode::Internal, format!("Raft stopped: {f}")),
        }
    }

    fn leader_check(&self, v: LeaderView) -> Result<(), ApiError> {
        match v.leader {
            Some(ref l) if l == &self.node_id => {
                if v.is_leader && v.applied_term == v.term {
                    Ok(())
                } else {
                    Err(ApiError::new(
                        ErrorCode::LeaderNotReady,
                        format!("{} is leader of term {} but still applying earlier entries", self.node_id, v.term),
                    ))
                }
            }
            Some(ref l) => Err(self.not_leader(Some(l.as_str()), "request sent to a follower")),
            None => Err(self.not_leader(None, "election in progress")),
        }
    }

    /// What this node knows about itself and the ring.
    pub fn status(&self) -> NodeStatus {
        let m = self.raft.metrics().borrow_watched().clone();
        let membership = m.membership_config.membership().clone();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let is_member = membership.get_node(&self.node_id).is_some();
        let role = match m.state {
            ServerState::Leader => Role::Leader,
            ServerState::Candidate => Role::Candidate,
            ServerState::Follower if voters.contains(&self.node_id) => Role::Follower,
            ServerState::Follower | ServerState::Learner if is_member => Role::Learner,
            _ => Role::Unknown,
        };
        let replication = m.replication.clone().unwrap_or_default();
        let members = membership
            .nodes()
            .map(|(id, n)| MemberInfo {
                node_id: id.to_string(),
                hostname: n.hostname.clone(),
                rpc_address: n.rpc_addr.clone(),
                voter: voters.contains(id),
                matched_index: replication.get(id).map(|l| l.as_ref().map(|l| l.index).unwrap_or(0)),
            })
            .collect();
        let applied = m.last_applied.as_ref().map(|l| l.index).unwrap_or(0);
        let committed = m.cluster_committed.as_ref().or(m.local_committed.as_ref()).map(|l| l.index).unwrap_or(0);
        let ready = is_member
            && match m.current_leader {
                Some(ref l) if l == &self.node_id => self.leader_check(LeaderView::of(&m)).is_ok(),
                Some(_) => applied >= committed,
                None => false,
            };
        NodeStatus {
            service_id: self.settings.service.service_id.clone(),
            node_id: self.node_id.to_string(),
            hostname: self.hostname(),
            role,
            term: m.current_term,
            leader_id: m.current_leader.map(|l| l.to_string()),
            last_log_index: m.last_log_index.unwrap_or(0),
            commit_index: committed,
            applied_index: applied,
            flushed_index: self.sm.flushed_index(),
            ready,
            members,
        }
    }

    /// Why Raft stopped on its own (a storage error or a panic in its core), if it did. Such a
    /// node cannot take part in the ring again until it restarts from its stored state.
    pub fn raft_failure(&self) -> Option<String> {
        fatal_reason(&self.raft.metrics().borrow_watched())
    }

    /// Copies Raft state into the Prometheus gauges (called on scrape).
    pub fn refresh_gauges(&self) {
        let s = self.status();
        let g = &self.metrics;
        g.raft_term.set(s.term as i64);
        g.raft_is_leader.set(i64::from(s.role == Role::Leader));
        g.raft_last_log_index.set(s.last_log_index as i64);
        g.raft_commit_index.set(s.commit_index as i64);
        g.raft_applied_index.set(s.applied_index as i64);
        let purged = self.raft.metrics().borrow_watched().purged.as_ref().map(|l| l.index).unwrap_or(0);
        g.raft_purged_index.set(purged as i64);
        g.flushed_index.set(s.flushed_index as i64);
        g.ready.set(i64::from(s.ready));
    }
}

/// What a leader check needs from Raft's metrics, copied out of them.
struct LeaderView {
    leader: Option<NodeId>,
    is_leader: bool,
    term: u64,
    /// Term of the last applied entry: the leader's own blank entry applied means it is ready.
    applied_term: u64,
}

impl LeaderView {
    fn of(m: &RaftMetrics<TypeConfig>) -> Self {
        LeaderView {
            leader: m.current_leader.clone(),
            is_leader: m.state == ServerState::Leader,
            term: m.current_term,
            applied_term: m.last_applied.as_ref().map(|l| l.leader_id.term).unwrap_or(0),
        }
    }
}

/// Why Raft stopped, unless it is running or was shut down on purpose.
fn fatal_reason(m: &RaftMetrics<TypeConfig>) -> Option<String> {
    match &m.running_state {
        Err(openraft::error::Fatal::Stopped) | Ok(()) => None,
        Err(fatal) => Some(fatal.to_string()),
    }
}

/// A started node and its background tasks.
pub struct RunningNode {
    pub node: Arc<OmNode>,
    pub client_addr: SocketAddr,
    pub peer_addr: SocketAddr,
    pub http_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningNode {
    /// On a leader: hands leadership to the most caught-up follower (bounded by
    /// `omring.shutdown.leader.transfer.timeout.ms`). Returns who took over.
    pub async fn hand_off_leadership(&self) -> Option<String> {
        let within = Duration::from_millis(self.node.settings.shutdown_transfer_ms);
        crate::admin::step_down(&self.node, within).await.map(|n| n.to_string())
    }

    /// Resolves when Raft stops on its own, with the reason (see [`OmNode::raft_failure`]).
    pub async fn raft_failed(&self) -> String {
        let mut rx = self.node.raft.metrics();
        loop {
            if let Some(reason) = fatal_reason(&rx.borrow_watched()) {
                return reason;
            }
            if rx.changed().await.is_err() {
                return "Raft's state channel closed".into();
            }
        }
    }

    /// Stops serving, stops Raft and writes everything applied to RocksDB.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        let _ = self.stop.send(true);
        let raft_result = self.node.raft.shutdown().await;
        for t in self.tasks {
            t.abort();
        }
        let sm = self.node.sm.clone();
        tokio::task::spawn_blocking(move || sm.flush())
            .await
            .map_err(|e| NodeError::Raft(e.to_string()))?
            .map_err(|source| NodeError::Io { what: "final flush".into(), source })?;
        raft_result.map_err(|e| NodeError::Raft(e.to_string()))
    }
}

fn bind_addr(host: &str, port: u16) -> Result<SocketAddr, std::io::Error> {
    om_client::hosts::resolve(host, port)?
        .into_iter()
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{host} resolves to no address")))
}

async fn listen(host: &str, port: u16, purpose: &'static str) -> Result<TcpListener, NodeError> {
    let shown = format!("{host}:{port}");
    let addr = bind_addr(host, port).map_err(|source| NodeError::Bind { addr: shown.clone(), purpose, source })?;
    TcpListener::bind(addr).await.map_err(|source| NodeError::Bind { addr: shown, purpose, source })
}

/// Opens storage, starts Raft and the three listeners, and forms the ring if it is new.
pub async fn start_node(settings: NodeSettings) -> Result<RunningNode, NodeError> {
    let io = |what: &str| {
        let what = what.to_string();
        move |source| NodeError::Io { what, source }
    };
    let me = settings
        .service
        .node(&settings.node_id)
        .cloned()
        .ok_or_else(|| NodeError::Setting { key: "ozone.om.node.id", reason: "not configured".into() })?;
    std::fs::create_dir_all(&settings.db_dir).map_err(io("creating the db directory"))?;
    let breakages = crate::breakage::active();
    if !breakages.is_empty() {
        tracing::warn!(
            ?breakages,
            "this node runs with deliberate bugs (OMRING_BREAK): for fault-suite self-tests only"
        );
    }
    let metrics = NodeMetrics::new();
    let log_store = LogStore::open(&settings.db_dir.join("raft-log")).map_err(io("opening the Raft log"))?;
    let sm = StateMachineStore::open(&settings.db_dir.join("om-state"), settings.max_unflushed, Arc::clone(&metrics))
        .map_err(io("opening the state database"))?;
    // Listen before Raft starts so peers' first RPCs find us.
    let client_l = listen(&me.host, me.rpc_port, "client API").await?;
    let peer_l = listen(&me.host, me.ratis_port, "peer Raft").await?;
    let http_l = listen(&me.http_host, me.http_port, "health/metrics").await?;
    let network = PeerNetwork::new().map_err(|e| NodeError::Raft(e.to_string()))?;
    let raft =
        Raft::new(NodeId(settings.node_id.clone()), Arc::new(settings.raft_config()?), network, log_store, sm.clone())
            .await
            .map_err(|e| NodeError::Raft(e.to_string()))?;
    let (proposer, proposals) = Proposer::new();
    let in_flight = settings.proposals_in_flight;
    let node = Arc::new(OmNode {
        node_id: NodeId(settings.node_id.clone()),
        settings,
        raft,
        sm,
        metrics,
        proposer,
        membership_lock: tokio::sync::Mutex::new(()),
    });
    let (stop, stop_rx) = watch::channel(false);
    let addrs = (
        client_l.local_addr().map_err(io("client listener"))?,
        peer_l.local_addr().map_err(io("peer listener"))?,
        http_l.local_addr().map_err(io("http listener"))?,
    );
    let mut tasks = Vec::new();
    for (listener, router) in [
        (client_l, server::client_router(Arc::clone(&node))),
        (peer_l, server::peer_router(Arc::clone(&node))),
        (http_l, server::http_router(Arc::clone(&node))),
    ] {
        let mut rx = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
                tracing::error!(error = %e, "listener stopped");
            }
        }));
    }
    tasks.push(tokio::spawn(run_proposer(Arc::downgrade(&node), proposals, in_flight)));
    tasks.push(tokio::spawn(form_ring_if_new(Arc::clone(&node))));
    tasks.push(tokio::spawn(clean_up_open_keys(Arc::clone(&node))));
    tracing::info!(node = %node.node_id, service = %node.settings.service.service_id, client = %addrs.0, peer = %addrs.1, http = %addrs.2, "node started");
    Ok(RunningNode { node, client_addr: addrs.0, peer_addr: addrs.1, http_addr: addrs.2, stop, tasks })
}

/// A node with empty storage never forms a second ring. When no peer has a ring and every
/// configured active node answers, all of them initialize it with the same membership (every
/// configured, not decommissioned node as a voter), so it forms once whatever order they start
/// in. When a ring exists, a listed node waits to be replicated to and an unlisted one waits to
/// be added (`om --bootstrap` or the operator's join). In [`StartMode::Join`] it only waits.
async fn form_ring_if_new(node: Arc<OmNode>) {
    let peers: Vec<_> =
        node.settings.service.active_nodes().filter(|n| n.node_id != node.node_id.as_str()).cloned().collect();
    let client = match FailoverClient::builder(node.settings.service.clone())
        .request_timeout(Duration::from_millis(800))
        .connect_timeout(Duration::from_millis(800))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build a client to probe peers");
            return;
        }
    };
    let mut said = String::new();
    let mut say = |msg: String| {
        if msg != said {
            tracing::warn!("{msg}");
            said = msg;
        }
    };
    loop {
        match node.raft.is_initialized().await {
            Ok(true) | Err(_) => return,
            Ok(false) => {}
        }
        let mut silent = Vec::new();
        let mut ring_seen = None;
        for peer in &peers {
            match client.node_status(peer).await {
                Ok(status) if !status.members.is_empty() => {
                    ring_seen = Some(status);
                    break;
                }
                Ok(_) => {}
                Err(_) => silent.push(peer.node_id.clone()),
            }
        }
        match ring_seen {
            Some(st) if st.members.iter().any(|m| m.node_id == node.node_id.as_str()) => {
                say(format!("ring {} exists and lists this node; waiting for its leader", st.service_id));
            }
            Some(st) => say(format!(
                "{} is not a member of ring {} (members: {}); waiting to be added (om --bootstrap, or the operator)",
                node.node_id,
                st.service_id,
                st.members.iter().map(|m| m.node_id.as_str()).collect::<Vec<_>>().join(", ")
            )),
            None if node.settings.start_mode == StartMode::Join => {
                say("no running ring found among the configured nodes yet; waiting to join one".to_string());
            }
            None if !silent.is_empty() => {
                say(format!(
                    "waiting for every configured node to start before forming the ring; silent: {}",
                    silent.join(", ")
                ));
            }
            None => {
                match node.raft.initialize(crate::admin::configured_members(&node)).await {
                    Ok(()) => tracing::info!("initialized a new ring"),
                    Err(e) => tracing::info!(error = %e, "ring already initialized"),
                }
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Ozone's OpenKeyCleanupService: every `ozone.om.open.key.cleanup.service.interval` the
/// leader lists open keys older than `ozone.om.open.key.expire.threshold` (at most
/// `ozone.om.open.key.cleanup.limit.per.task`) and replicates one `ExpireOpenKeys` entry that
/// moves them to the deleted-keys table. Apply checks each key again, so a key committed in
/// between stays committed. Keys whose writer vanished would otherwise stay open forever.
async fn clean_up_open_keys(node: Arc<OmNode>) {
    let every = Duration::from_millis(node.settings.open_key_cleanup_interval_ms);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if node.check_leader().is_err() {
            continue;
        }
        let created_before_ms = crate::server::now_ms().saturating_sub(node.settings.open_key_expire_ms);
        let (view_node, limit) = (Arc::clone(&node), node.settings.open_key_cleanup_limit);
        let listed = tokio::task::spawn_blocking(move || {
            crate::namespace::expired_open_keys(view_node.sm.view(), created_before_ms, limit)
        })
        .await;
        let keys = match listed {
            Ok(Ok(keys)) if keys.is_empty() => continue,
            Ok(Ok(keys)) => keys,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot list expired open keys");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "open-key listing task failed");
                continue;
            }
        };
        let cmd = crate::types::Command {
            request_id: format!("om-open-key-cleanup-{}-{created_before_ms}", node.node_id),
            op: WriteOp::ExpireOpenKeys { keys, created_before_ms },
            now_ms: crate::server::now_ms(),
            open_client_id: 0,
        };
        match node.proposer.write(cmd).await {
            Ok(WriteResponse { outcome: WriteOutcome::OpenKeysExpired { count }, .. }) => {
                node.metrics.open_keys_expired.inc_by(count);
                tracing::info!(count, created_before_ms, "expired open keys");
            }
            Ok(other) => tracing::warn!(outcome = ?other.outcome, "open-key cleanup answered unexpectedly"),
            Err(e) if e.code == ErrorCode::NotLeader => {
                tracing::info!(error = %e, "open-key cleanup not replicated (leadership changed)")
            }
            Err(e) => tracing::warn!(error = %e, "open-key cleanup refused"),
        }
    }
}
