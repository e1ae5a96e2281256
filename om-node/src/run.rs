//! Running a node: [`start_node`] opens storage, starts Raft, the listeners and the background
//! tasks (the write proposer, ring formation, open-key cleanup); [`run`] is the whole life of
//! the `om` command around it: bootstrap checks and join, serving until SIGTERM or a Raft
//! failure, leadership hand-off and shutdown.
//!
//! [`start_node`] is used by the binary and by tests alike (see `tests/in_process.rs`).

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use om_client::wire::*;
use om_client::FailoverClient;
use openraft::async_runtime::WatchReceiver;
use openraft::ReadPolicy;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::listener::PortSecurity;
use crate::metrics::NodeMetrics;
use crate::network::PeerNetwork;
use crate::propose::run_proposer;
use crate::read_barrier::{ReadBarrier, ReadQueue};
use crate::security::authn::Authenticator;
use crate::security::server_tls::{server_config, ClientAuth};
use crate::server;
use crate::settings::{NodeError, NodeSettings, StartMode};
use crate::state::{fatal_reason, OmNode, Raft, WriteQueue};
use crate::store::{LogStore, StateMachineStore};
use crate::types::{LogOp, NodeId};
use om_client::tls::ReloadingCredentials;

/// How the `om` command starts a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Start from stored state, or form the ring with the configured nodes if it is new.
    Start,
    /// `om --bootstrap`: join a running ring as a new member. Unless `force`, every current
    /// member must list this node in its configuration first.
    Bootstrap { force: bool },
}

/// Runs a node until SIGTERM (or Ctrl-C) or until Raft stops on its own; then hands
/// leadership over and shuts down.
pub async fn run(mut settings: NodeSettings, mode: RunMode) -> Result<(), NodeError> {
    // Before anything slow: a SIGTERM while the node starts (a pod deleted, a test stopping a
    // node it just started) then waits for the start and stops gracefully, instead of killing
    // the process mid-start with SIGTERM's default action.
    let stop = om_client::shutdown::StopSignal::install();
    if let RunMode::Bootstrap { force } = mode {
        settings.start_mode = StartMode::Join;
        if !force {
            check_bootstrap_config(&settings).await?;
        }
    }
    let running = start_node(settings).await?;
    if matches!(mode, RunMode::Bootstrap { .. }) {
        if let Err(e) = join_ring(&running).await {
            let _ = running.shutdown().await;
            return Err(e);
        }
    }
    tokio::select! {
        () = stop.wait() => {}
        reason = running.raft_failed() => {
            // Exit so the supervisor (kubelet, systemd) restarts the node from its stored state;
            // a node whose Raft stopped answers peers with errors for ever.
            tracing::error!(%reason, "Raft stopped; exiting");
            let _ = running.shutdown().await;
            return Err(NodeError::Raft(format!("stopped: {reason}")));
        }
    }
    tracing::info!("stopping");
    if let Some(successor) = running.hand_off_leadership().await {
        tracing::info!(%successor, "handed leadership over before stopping");
    }
    running.shutdown().await
}

/// How long [`RunningNode::shutdown`] waits for each aborted task, and for the Raft log's
/// database to close.
const SHUTDOWN_STEP_TIMEOUT: Duration = Duration::from_secs(10);

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
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            // An aborted task ends at its next await and drops what it holds; bounded, as a
            // task stuck outside an await would never end.
            let _ = tokio::time::timeout(SHUTDOWN_STEP_TIMEOUT, t).await;
        }
        // Closed explicitly: a connection still finishing may hold the node for a while, and
        // a node started again in this process must find the database's lock released.
        let sm = self.node.sm.clone();
        tokio::task::spawn_blocking(move || sm.close())
            .await
            .map_err(|e| NodeError::Raft(e.to_string()))?
            .map_err(|source| NodeError::Io { what: "final flush and close of the state database".into(), source })?;
        // The log's sync thread drops the last handle of its database after Raft dropped the
        // log; a node started again in this process must find the database's lock released.
        let closed_by = Instant::now() + SHUTDOWN_STEP_TIMEOUT;
        while !self.node.log.is_closed() && Instant::now() < closed_by {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if !self.node.log.is_closed() {
            tracing::warn!("the Raft log was still open {SHUTDOWN_STEP_TIMEOUT:?} after shutdown");
        }
        raft_result.map_err(|e| NodeError::Raft(e.to_string()))
    }
}

fn bind_addr(host: &str, port: u16) -> Result<SocketAddr, std::io::Error> {
    std::net::ToSocketAddrs::to_socket_addrs(&(host, port))?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{host} resolves to no address")))
}

async fn listen(host: &str, port: u16, purpose: &'static str) -> Result<TcpListener, NodeError> {
    let shown = format!("{host}:{port}");
    let addr = bind_addr(host, port).map_err(|source| NodeError::Bind { addr: shown.clone(), purpose, source })?;
    TcpListener::bind(addr).await.map_err(|source| NodeError::Bind { addr: shown, purpose, source })
}

/// The node's TLS credentials (certificate, key, CA bundle), following their files; None
/// when no listener speaks TLS.
pub fn node_credentials(settings: &NodeSettings) -> Result<Option<Arc<ReloadingCredentials>>, NodeError> {
    let sec = &settings.security;
    match (&sec.tls_files, sec.any_tls()) {
        (Some(files), true) => ReloadingCredentials::from_files(files.clone())
            .map(Some)
            .map_err(|e| NodeError::Setting { key: om_client::tls::TLS_CERTIFICATE_FILE, reason: e.to_string() }),
        _ => Ok(None),
    }
}

/// A client of the ring's client ports as this node: TLS with its own certificate when the
/// client port speaks TLS.
fn ring_client(
    settings: &NodeSettings,
    creds: &Option<Arc<ReloadingCredentials>>,
) -> om_client::client::FailoverClientBuilder {
    let tls = if settings.security.enabled { creds.clone() } else { None };
    FailoverClient::builder(settings.service.clone()).tls(tls)
}

fn tls_port(
    creds: &Option<Arc<ReloadingCredentials>>,
    auth: ClientAuth,
    require_group: Option<String>,
) -> Result<PortSecurity, NodeError> {
    let creds = creds.as_ref().ok_or_else(|| NodeError::Setting {
        key: om_client::tls::TLS_CERTIFICATE_FILE,
        reason: "a TLS listener has no certificate".into(),
    })?;
    let config = server_config(creds, auth)
        .map_err(|e| NodeError::Setting { key: om_client::tls::TLS_CERTIFICATE_FILE, reason: e.to_string() })?;
    Ok(PortSecurity::Tls { config, require_group })
}

/// Ozone's default HTTP(S) bind host (`0.0.0.0`, every interface), or `::` for an IPv6
/// address.
fn wildcard(host: &str) -> &'static str {
    match host.trim_matches(|c| c == '[' || c == ']').parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(_)) => "::",
        _ => "0.0.0.0",
    }
}

/// Refuses to start with a Raft log or snapshot directory that a changed
/// `ozone.om.ratis.storage.dir` / `ozone.om.ratis.snapshot.dir` points away from the data
/// already on disk: a voter that forgets its log could vote a stale node leader.
fn moved_dirs_check(settings: &NodeSettings) -> Result<(), NodeError> {
    let has_files = |dir: &std::path::Path| std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
    let defaults = [
        (
            crate::settings::KEY_RATIS_STORAGE_DIR,
            settings.db_dir.join(crate::settings::RAFT_LOG_DIR),
            &settings.raft_log_dir,
        ),
        (
            crate::settings::KEY_RATIS_SNAPSHOT_DIR,
            settings.db_dir.join(crate::settings::STATE_DIR).join(crate::store::SNAPSHOT_DIR),
            &settings.snapshot_dir,
        ),
    ];
    for (key, default, configured) in defaults {
        if &default != configured && has_files(&default) && !has_files(configured) {
            return Err(NodeError::Setting {
                key,
                reason: format!(
                    "{} holds this node's data but the key now points to the empty {}: stop the node and move the \
                     directory's contents there, or unset the key",
                    default.display(),
                    configured.display()
                ),
            });
        }
    }
    Ok(())
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
    let databases = settings.memory.databases();
    moved_dirs_check(&settings)?;
    let log_store = LogStore::open_with(&settings.raft_log_dir, settings.memory.log(), &databases)
        .map_err(io("opening the Raft log"))?;
    let sm = StateMachineStore::open_with(
        &settings.db_dir.join(crate::settings::STATE_DIR),
        &settings.snapshot_dir,
        settings.max_unflushed,
        databases,
        Arc::clone(&metrics),
    )
    .map_err(io("opening the state database"))?;
    let creds = node_credentials(&settings)?;
    if let Some(c) = &creds {
        c.watch(settings.security.reload_interval);
    }
    let sec = settings.security.clone();
    let client_security = if sec.enabled { tls_port(&creds, ClientAuth::Optional, None)? } else { PortSecurity::Plain };
    let peer_security = if sec.peer_tls {
        tls_port(&creds, ClientAuth::Required, Some(sec.node_group.clone()))?
    } else {
        PortSecurity::Plain
    };
    // Listen before Raft starts so peers' first RPCs find us.
    let client_l = listen(&me.host, me.rpc_port, "client API").await?;
    let peer_l = listen(&me.host, me.ratis_port, "peer Raft").await?;
    let http_l = match sec.http_policy.http() {
        true => {
            let host = settings.http_bind_host.as_deref().unwrap_or(wildcard(&me.http_host));
            Some(listen(host, me.http_port, "health/metrics").await?)
        }
        false => None,
    };
    let https_l = match &sec.https_address {
        Some((host, port)) => {
            let host = settings.https_bind_host.as_deref().unwrap_or(wildcard(host));
            Some(listen(host, *port, "health/metrics (HTTPS)").await?)
        }
        None => None,
    };
    let network = PeerNetwork::new(if sec.peer_tls { creds.clone() } else { None }).map_err(NodeError::Raft)?;
    let audit = match &sec.audit_file {
        Some(path) => crate::audit::AuditLog::open(path)
            .map_err(|source| NodeError::Io { what: format!("opening the audit log {}", path.display()), source })?,
        None => crate::audit::AuditLog::off(),
    };
    let log_probe = log_store.memory_probe();
    let raft =
        Raft::new(NodeId(settings.node_id.clone()), Arc::new(settings.raft_config()?), network, log_store, sm.clone())
            .await
            .map_err(|e| NodeError::Raft(e.to_string()))?;
    let (writes, proposals) = WriteQueue::new();
    let (reads, read_queue) = ReadBarrier::new();
    let in_flight = settings.proposals_in_flight;
    let node = Arc::new(OmNode {
        node_id: NodeId(settings.node_id.clone()),
        settings,
        raft,
        sm,
        log: log_probe,
        metrics,
        writes,
        reads,
        membership_lock: tokio::sync::Mutex::new(()),
        authn: Authenticator::new(&sec),
        credentials: creds.clone(),
        audit,
        admins: sec.admins(),
    });
    let (stop, stop_rx) = watch::channel(false);
    let http_addr = match (&http_l, &https_l) {
        (Some(l), _) | (None, Some(l)) => l.local_addr().map_err(io("http listener"))?,
        (None, None) => {
            return Err(NodeError::Setting { key: crate::security::KEY_HTTP_POLICY, reason: "no HTTP listener".into() })
        }
    };
    let addrs = (
        client_l.local_addr().map_err(io("client listener"))?,
        peer_l.local_addr().map_err(io("peer listener"))?,
        http_addr,
    );
    // The client port also speaks Hadoop RPC (Ozone's own clients), told apart by `hrpc`.
    let hadoop_rpc = crate::hrpc::sniffer(Arc::clone(&node), stop_rx.clone());
    let mut listeners = vec![
        (client_l, client_security, server::client_router(Arc::clone(&node)), Some(hadoop_rpc), "client API"),
        (peer_l, peer_security, server::peer_router(Arc::clone(&node)), None, "peer Raft"),
    ];
    if let Some(l) = http_l {
        listeners.push((l, PortSecurity::Plain, server::http_router(Arc::clone(&node)), None, "health/metrics"));
    }
    if let Some(l) = https_l {
        let tls = tls_port(&creds, ClientAuth::None, None)?;
        listeners.push((l, tls, server::http_router(Arc::clone(&node)), None, "health/metrics (HTTPS)"));
    }
    let mut tasks = Vec::new();
    for (listener, security, router, sniffed, purpose) in listeners {
        tasks.push(tokio::spawn(crate::listener::serve(listener, security, router, sniffed, stop_rx.clone(), purpose)));
    }
    tasks.push(tokio::spawn(run_proposer(Arc::downgrade(&node), proposals, in_flight)));
    tasks.push(tokio::spawn(check_reads(Arc::downgrade(&node), read_queue)));
    tasks.push(tokio::spawn(form_ring_if_new(Arc::clone(&node))));
    tasks.push(tokio::spawn(clean_up_open_keys(Arc::clone(&node))));
    tasks.push(tokio::spawn(crate::prepare::snapshot_when_prepared(Arc::clone(&node))));
    tracing::info!(node = %node.node_id, service = %node.settings.service.service_id, client = %addrs.0, peer = %addrs.1, http = %addrs.2, "node started");
    Ok(RunningNode { node, client_addr: addrs.0, peer_addr: addrs.1, http_addr: addrs.2, stop, tasks })
}

/// Confirms leadership for the queued linearizable reads in rounds (see
/// [`crate::read_barrier`]) until the node stops.
async fn check_reads(node: Weak<OmNode>, queue: ReadQueue) {
    crate::read_barrier::run_rounds(queue, || {
        let node = node.upgrade();
        async move {
            let node = node.ok_or_else(crate::read_barrier::stopped)?;
            node.raft
                .ensure_linearizable(ReadPolicy::ReadIndex)
                .await
                .map(|_| ())
                .map_err(|e| node.raft_error("read", e))
        }
    })
    .await
}

/// A node with empty storage never forms a second ring. When no peer has a ring and every
/// configured active node answers, all of them initialize it with the same membership (every
/// configured, not decommissioned node as a voter), so it forms once whatever order they start
/// in. When a ring exists, a listed node waits to be replicated to and an unlisted one waits to
/// be added (`om --bootstrap` or the operator's join). In [`StartMode::Join`] it only waits.
async fn form_ring_if_new(node: Arc<OmNode>) {
    let peers: Vec<_> =
        node.settings.service.active_nodes().filter(|n| n.node_id != node.node_id.as_str()).cloned().collect();
    let client = match ring_client(&node.settings, &node.credentials)
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
        // A prepared ring takes no writes, the cleanup's included.
        if node.check_leader().is_err() || node.sm.prepared_index().is_some() {
            continue;
        }
        let created_before_ms = crate::state::now_ms().saturating_sub(node.settings.open_key_expire_ms);
        let (view_node, limit) = (Arc::clone(&node), node.settings.open_key_cleanup_limit);
        let listed =
            tokio::task::spawn_blocking(move || view_node.sm.expired_open_keys(created_before_ms, limit)).await;
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
            op: LogOp::ExpireOpenKeys { keys, created_before_ms },
            now_ms: crate::state::now_ms(),
            open_client_id: 0,
        };
        match node.writes.write(cmd).await {
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

/// `om --bootstrap` without `--force`: every current member must, after reloading its
/// configuration from disk, list this node with the same addresses and not as decommissioned.
async fn check_bootstrap_config(settings: &NodeSettings) -> Result<(), NodeError> {
    let me = settings
        .service
        .node(&settings.node_id)
        .ok_or_else(|| NodeError::Setting {
            key: "ozone.om.node.id",
            reason: format!("{} is not configured", settings.node_id),
        })?
        .configured();
    let client = ring_client(settings, &node_credentials(settings)?)
        .request_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(2))
        .build()?;
    let peers: Vec<_> = settings.service.active_nodes().filter(|n| n.node_id != settings.node_id).cloned().collect();
    let mut members = None;
    for (addr, status) in client.ring_status().await {
        if addr.node_id == settings.node_id {
            continue;
        }
        if let Ok(st) = status {
            if !st.members.is_empty() {
                members = Some(st.members);
                break;
            }
        }
    }
    let Some(members) = members else {
        return Err(NodeError::Refused(format!(
            "cannot bootstrap {}: no running ring answered among {}; start the ring first",
            settings.node_id,
            peers.iter().map(|p| p.node_id.as_str()).collect::<Vec<_>>().join(", ")
        )));
    };
    let mut problems: Vec<(String, String)> = members
        .iter()
        .filter(|m| m.node_id != settings.node_id && settings.service.node(&m.node_id).is_none())
        .map(|m| (m.node_id.clone(), format!("member {} is missing from this node's configuration", m.node_id)))
        .collect();
    let to_ask = settings
        .service
        .nodes
        .iter()
        .filter(|n| n.node_id != settings.node_id && members.iter().any(|m| m.node_id == n.node_id));
    problems.extend(client.config_disagreements_among(&me, to_ask).await);
    if problems.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = problems.iter().map(|(n, _)| n.as_str()).collect();
    Err(NodeError::Refused(format!(
        "cannot bootstrap {}: these nodes do not have it in their configuration: {}. {}. Update ozone-site.xml on them (or pass --force)",
        settings.node_id,
        names.join(", "),
        problems.iter().map(|(n, why)| format!("{n}: {why}")).collect::<Vec<_>>().join("; ")
    )))
}

/// Asks the ring's leader to add this (running) node: learner, catch up, voter.
async fn join_ring(running: &RunningNode) -> Result<(), NodeError> {
    let settings = &running.node.settings;
    let me = settings.service.node(&settings.node_id).ok_or_else(|| NodeError::Setting {
        key: "ozone.om.node.id",
        reason: format!("{} is not configured", settings.node_id),
    })?;
    let client = ring_client(settings, &running.node.credentials)
        .request_timeout(Duration::from_millis(settings.join_timeout_ms + 30_000))
        .connect_timeout(Duration::from_secs(2))
        .build()?;
    let req = JoinRequest { node: me.configured(), hostname: Some(me.host.clone()) };
    let r = client.join(&req).await?;
    tracing::info!(changed = r.changed, "{}", r.message);
    Ok(())
}
