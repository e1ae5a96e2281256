//! The state every request handler shares: [`OmNode`] (Raft, the state machine, the write
//! queue, metrics), the leader checks, the node's status, and the one mapping from Raft's
//! errors to the client's.
//!
//! This is the leaf the serving modules build on; it starts nothing itself (see
//! [`crate::run`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use om_client::wire::*;
use openraft::async_runtime::WatchReceiver;
use openraft::error::{ClientWriteError, LinearizableReadError, RaftError};
use openraft::{RaftMetrics, ServerState};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::NodeMetrics;
use crate::security::authn::Authenticator;
use crate::security::Principal;
use crate::settings::NodeSettings;
use crate::store::StateMachineStore;
use crate::types::{Command, CommandResult, NodeId, TypeConfig, MAX_BATCH_COMMANDS};
use om_client::tls::ReloadingCredentials;

/// The node's Raft instance.
pub type Raft = openraft::Raft<TypeConfig, StateMachineStore>;

/// What a Raft API error means for the client.
pub enum RaftRefusal {
    /// Not (or no longer) the leader; retry at this one if known.
    Forward(Option<NodeId>),
    /// A membership change Raft will not make now.
    Membership(String),
    /// The leader cannot answer yet (no quorum, a precondition not met).
    NotReady(String),
}

impl From<ClientWriteError<TypeConfig>> for RaftRefusal {
    fn from(e: ClientWriteError<TypeConfig>) -> Self {
        match e {
            ClientWriteError::ForwardToLeader(f) | ClientWriteError::LogEntryDiscarded(f) => {
                RaftRefusal::Forward(f.leader_id)
            }
            ClientWriteError::ChangeMembershipError(c) => RaftRefusal::Membership(c.to_string()),
            other => RaftRefusal::NotReady(other.to_string()),
        }
    }
}

impl From<LinearizableReadError<TypeConfig>> for RaftRefusal {
    fn from(e: LinearizableReadError<TypeConfig>) -> Self {
        match e {
            LinearizableReadError::ForwardToLeader(f) => RaftRefusal::Forward(f.leader_id),
            other => RaftRefusal::NotReady(other.to_string()),
        }
    }
}

/// A client write waiting for its entry.
pub struct Queued {
    pub cmd: Command,
    pub reply: oneshot::Sender<CommandResult>,
}

/// The queue client writes wait in until [`crate::propose::run_proposer`] puts them in an entry.
pub struct WriteQueue {
    queue: mpsc::Sender<Queued>,
}

impl WriteQueue {
    /// A queue and the receiving end the proposer drains.
    pub fn new() -> (Self, mpsc::Receiver<Queued>) {
        let (queue, rx) = mpsc::channel(4 * MAX_BATCH_COMMANDS);
        (WriteQueue { queue }, rx)
    }

    /// Replicates and applies `cmd`, alone or with others, and returns its own result.
    pub async fn write(&self, cmd: Command) -> CommandResult {
        let (reply, answer) = oneshot::channel();
        self.queue.send(Queued { cmd, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The wall clock in milliseconds since the epoch: the time a leader fixes in a command.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn stopped() -> ApiError {
    ApiError::new(ErrorCode::InternalError, "the node is shutting down; its write queue has stopped")
}

/// A running node: what the HTTP handlers share.
pub struct OmNode {
    pub node_id: NodeId,
    pub settings: NodeSettings,
    pub raft: Raft,
    pub sm: StateMachineStore,
    /// The Raft log's memory figures (a weak handle: Raft owns the log).
    pub log: crate::store::LogMemoryProbe,
    pub metrics: Arc<NodeMetrics>,
    /// Client writes go through it; [`crate::propose`] coalesces them into Raft entries.
    pub writes: WriteQueue,
    /// Linearizable reads wait here for a leadership check they share with the reads queued
    /// with them ([`crate::read_barrier`]).
    pub reads: crate::read_barrier::ReadBarrier,
    /// Held by whoever changes membership: one change at a time.
    pub membership_lock: tokio::sync::Mutex<()>,
    /// Who a client request comes from.
    pub authn: Arc<Authenticator>,
    /// The node's certificate and CA bundle when any listener speaks TLS; also its identity
    /// when it calls other nodes.
    pub credentials: Option<Arc<ReloadingCredentials>>,
    /// One line per client request (off unless configured or security is on).
    pub audit: crate::audit::AuditLog,
    /// The administrators (`ozone.administrators[.groups]` and the node group).
    pub admins: crate::authz::Admins,
}

impl OmNode {
    /// Administrators: ring members (the node group), `ozone.administrators` users (`*`: all)
    /// and `ozone.administrators.groups` members.
    pub fn is_admin(&self, p: &Principal) -> bool {
        self.admins.is_admin(&Self::caller(p))
    }

    fn caller(p: &Principal) -> crate::authz::Caller<'_> {
        crate::authz::Caller { user: &p.user, groups: &p.groups }
    }

    /// What the authorization of `p`'s requests is decided with.
    pub fn authz_context<'a>(&'a self, p: &'a Principal) -> crate::authz::Context<'a> {
        crate::authz::Context {
            caller: Self::caller(p),
            admins: &self.admins,
            acl_enabled: self.settings.security.acl_enabled,
        }
    }

    /// The log form of `p`'s write: the owner and creator ACLs of what it creates, fixed here
    /// on the leader.
    pub fn log_op(&self, p: &Principal, op: WriteOp) -> crate::command::LogOp {
        let sec = &self.settings.security;
        crate::authz::log_op(op, &Self::caller(p), &sec.creator_rights, sec.enabled)
    }

    /// Admin-only operations: with security on, only administrators may run them.
    pub fn require_admin(&self, p: &Principal, what: &str) -> Result<(), ApiError> {
        if !self.settings.security.enabled || self.is_admin(p) {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorCode::PermissionDenied,
            format!("User {} doesn't have the administrator role needed for {what} (ozone.administrators, ozone.administrators.groups)", p.user),
        ))
    }

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

    /// The client's error for a request Raft did not take: the one place a Raft error becomes
    /// an [`ApiError`]. `what` names the request in the message.
    pub fn raft_error<E: Into<RaftRefusal>>(&self, what: &str, e: RaftError<TypeConfig, E>) -> ApiError {
        match e {
            RaftError::APIError(e) => match e.into() {
                RaftRefusal::Forward(leader) => {
                    self.not_leader(leader.as_ref().map(|l| l.as_str()), "leadership changed")
                }
                RaftRefusal::Membership(why) => {
                    ApiError::new(ErrorCode::FailedPrecondition, format!("{what} refused by Raft: {why}"))
                }
                RaftRefusal::NotReady(why) => ApiError::new(ErrorCode::LeaderNotReady, format!("{what}: {why}")),
            },
            RaftError::Fatal(f) => ApiError::new(ErrorCode::InternalError, format!("{what}: Raft stopped: {f}")),
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
            prepare: crate::namespace::prepare_state(self.sm.prepared_index(), m.snapshot.as_ref().map(|l| l.index)),
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
        let not_after = self
            .credentials
            .as_ref()
            .and_then(|c| c.current().identity.as_ref().and_then(|id| id.cert.first().cloned()))
            .and_then(|cert| crate::security::identity::not_after(&cert));
        g.tls_certificate_not_after.set(not_after.unwrap_or(0));
        self.refresh_memory_gauges();
    }

    fn refresh_memory_gauges(&self) {
        let m = &self.metrics.memory;
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let (state, block_cache) = self.sm.memory_usage();
        let (entries, bytes, log) = self.log.memory_usage().unwrap_or_default();
        m.block_cache.set(gauge(block_cache));
        for (db, usage) in [("state", state), ("raft_log", log)] {
            m.memtables.get_or_create(&crate::metrics::DbLabels { db }).set(gauge(usage.memtables));
            m.table_readers.get_or_create(&crate::metrics::DbLabels { db }).set(gauge(usage.table_readers));
        }
        m.log_cache_bytes.set(gauge(bytes as u64));
        m.log_cache_entries.set(gauge(entries as u64));
        let whole = self.sm.whole_tables();
        m.whole_tables_rows.set(gauge(whole.rows));
        m.whole_tables_bytes.set(gauge(whole.bytes));
        if let Some(heap) = c_heap() {
            use crate::metrics::{HeapLabels, HEAP_FREE, HEAP_IN_USE};
            m.c_heap.get_or_create(&HeapLabels { state: HEAP_IN_USE }).set(gauge(heap.in_use));
            m.c_heap.get_or_create(&HeapLabels { state: HEAP_FREE }).set(gauge(heap.free));
        }
        m.resident.set(gauge(resident_bytes().unwrap_or(0)));
        m.threads.set(gauge(thread_count().unwrap_or(0)));
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
pub(crate) fn fatal_reason(m: &RaftMetrics<TypeConfig>) -> Option<String> {
    match &m.running_state {
        Err(openraft::error::Fatal::Stopped) | Ok(()) => None,
        Err(fatal) => Some(fatal.to_string()),
    }
}

/// The threads of this process, from `/proc/self/status`.
fn thread_count() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix("Threads:"))?.trim().parse().ok()
}

/// glibc's malloc heap: bytes handed out (chunks in its arenas and chunks it mapped alone) and
/// bytes freed into its arenas but kept there.
struct CHeap {
    in_use: u64,
    free: u64,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn c_heap() -> Option<CHeap> {
    // SAFETY: mallinfo2 (glibc 2.33 and later) only reads the allocator's counters.
    let m = unsafe { libc::mallinfo2() };
    Some(CHeap { in_use: (m.uordblks + m.hblkhd) as u64, free: m.fordblks as u64 })
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn c_heap() -> Option<CHeap> {
    None
}

/// The resident set of this process, from `/proc/self/statm` (pages × page size).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}
