//! A node's settings: read from `ozone-site.xml`, checked against each other, and turned into
//! openraft's configuration. Every key a node reads is named here.

use std::path::PathBuf;

use om_client::config::{ConfigError, OzoneConfig, ServiceConfig};
use om_client::wire::BucketLayout;
use om_client::ClientError;
use openraft::SnapshotPolicy;

use crate::security::{SecurityError, SecuritySettings};
use crate::store::DEFAULT_MAX_UNFLUSHED;
use crate::types::Node;

pub const KEY_HEARTBEAT_MS: &str = "omring.raft.heartbeat.interval.ms";
pub const KEY_ELECTION_MIN_MS: &str = "omring.raft.election.timeout.min.ms";
pub const KEY_ELECTION_MAX_MS: &str = "omring.raft.election.timeout.max.ms";
pub const KEY_SNAPSHOT_THRESHOLD: &str = "ozone.om.ratis.snapshot.auto.trigger.threshold";
pub const KEY_PURGE_GAP: &str = "ozone.om.ratis.log.purge.gap";
pub const KEY_PURGE_PRESERVATION: &str = "ozone.om.ratis.log.purge.preservation.log.num";
pub const KEY_PURGE_UPTO_SNAPSHOT: &str = "ozone.om.ratis.log.purge.upto.snapshot.index";
pub const KEY_MAX_UNFLUSHED: &str = "ozone.om.unflushed.transaction.max.count";
pub const KEY_JOIN_TIMEOUT_MS: &str = "omring.join.catchup.timeout.ms";
pub const KEY_SHUTDOWN_TRANSFER_MS: &str = "omring.shutdown.leader.transfer.timeout.ms";
pub const KEY_OPEN_KEY_EXPIRE: &str = "ozone.om.open.key.expire.threshold";
pub const KEY_OPEN_KEY_CLEANUP_INTERVAL: &str = "ozone.om.open.key.cleanup.service.interval";
pub const KEY_OPEN_KEY_CLEANUP_LIMIT: &str = "ozone.om.open.key.cleanup.limit.per.task";
pub const KEY_PROPOSALS_IN_FLIGHT: &str = "omring.raft.proposals.in.flight";
pub const KEY_HTTP_BIND_HOST: &str = "ozone.om.http-bind-host";
pub const KEY_HTTPS_BIND_HOST: &str = "ozone.om.https-bind-host";
pub const KEY_DB_BLOCK_CACHE: &str = "omring.db.block.cache.size";
pub const KEY_DB_WRITE_BUFFER: &str = "omring.db.write.buffer.size";
pub const KEY_LOG_CACHE_ENTRIES: &str = "omring.raft.log.cache.entries";
pub const KEY_LOG_CACHE_SIZE: &str = "omring.raft.log.cache.size";
pub const KEY_RATIS_STORAGE_DIR: &str = "ozone.om.ratis.storage.dir";
pub const KEY_RATIS_SNAPSHOT_DIR: &str = "ozone.om.ratis.snapshot.dir";
/// The layout of a bucket created without one (Ozone's key and default).
pub const KEY_DEFAULT_BUCKET_LAYOUT: &str = "ozone.default.bucket.layout";

/// Default of `omring.raft.proposals.in.flight`.
pub const DEFAULT_PROPOSALS_IN_FLIGHT: u64 = 2;
const MAX_PROPOSALS_IN_FLIGHT: usize = 1024;

/// The caches and buffers that make up most of a node's memory, each with its key. The double
/// buffer's unflushed transactions are bounded by `ozone.om.unflushed.transaction.max.count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySettings {
    /// One LRU block cache for every table of both databases.
    pub block_cache_bytes: u64,
    /// Memtables of each database (the state and the Raft log), all tables together.
    pub write_buffer_bytes: u64,
    /// The Raft log's in-memory suffix (entries replication and apply read without RocksDB).
    pub log_cache_entries: u64,
    pub log_cache_bytes: u64,
}

impl MemorySettings {
    fn from_config(conf: &OzoneConfig) -> Result<Self, ConfigError> {
        let log = crate::store::LogMemory::default();
        Ok(MemorySettings {
            block_cache_bytes: conf.get_size_bytes(KEY_DB_BLOCK_CACHE, 64 << 20)?,
            write_buffer_bytes: conf.get_size_bytes(KEY_DB_WRITE_BUFFER, 64 << 20)?,
            log_cache_entries: conf.get_u64(KEY_LOG_CACHE_ENTRIES, log.cache_entries as u64)?,
            log_cache_bytes: conf.get_size_bytes(KEY_LOG_CACHE_SIZE, log.cache_bytes as u64)?,
        })
    }

    /// The RocksDB memory both databases share (one block cache) or each have (a memtable
    /// budget).
    pub fn databases(&self) -> crate::store::DbMemory {
        crate::store::DbMemory::new(self.block_cache_bytes as usize, self.write_buffer_bytes as usize)
    }

    /// The Raft log's in-memory suffix.
    pub fn log(&self) -> crate::store::LogMemory {
        crate::store::LogMemory {
            cache_entries: self.log_cache_entries as usize,
            cache_bytes: self.log_cache_bytes as usize,
        }
    }
}

/// `key.<sid>.<nid>`, else `key` (Ozone's node-specific keys), if set and not empty.
/// The Raft log's directory name (under `db_dir` or `ozone.om.ratis.storage.dir`).
pub const RAFT_LOG_DIR: &str = "raft-log";
/// The state directory's name under `db_dir`.
pub const STATE_DIR: &str = "om-state";

fn node_key(conf: &OzoneConfig, key: &str, sid: &str, nid: &str) -> Option<String> {
    [format!("{key}.{sid}.{nid}"), key.to_string()]
        .iter()
        .find_map(|k| conf.get_trimmed(k).filter(|v| !v.is_empty()).map(str::to_string))
}

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
    /// `ozone-site.xml` does not describe this node's ring.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A setting has a value the node cannot run with.
    #[error("invalid setting {key}: {reason}")]
    Setting { key: &'static str, reason: String },
    /// The node's directories or databases could not be opened or written.
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    /// A listener's address is taken or cannot be resolved.
    #[error("cannot listen on {addr} ({purpose}): {source}")]
    Bind { addr: String, purpose: &'static str, source: std::io::Error },
    /// Raft refused to start, or stopped on its own.
    #[error("Raft: {0}")]
    Raft(String),
    /// Asking the ring (to bootstrap into it) failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A safety check refused to start the node; the message says what to fix.
    #[error("{0}")]
    Refused(String),
}

/// Everything a node needs to start, validated.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    pub service: ServiceConfig,
    pub node_id: String,
    pub db_dir: PathBuf,
    /// Where the Raft log lives: `raft-log` under `ozone.om.ratis.storage.dir`, else under
    /// `db_dir`.
    pub raft_log_dir: PathBuf,
    /// Where snapshot archives live: `ozone.om.ratis.snapshot.dir`, else `om-state/snapshots`
    /// under `db_dir`.
    pub snapshot_dir: PathBuf,
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    pub snapshot_threshold: u64,
    /// Log entries are purged only once at least this many can go at once (Ratis' purge gap).
    pub purge_gap: u64,
    /// Entries already in a snapshot that are kept when the log is purged.
    pub purge_preservation: u64,
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
    /// Where a node's memory goes, each bounded by a key (see [`MemorySettings`]).
    pub memory: MemorySettings,
    /// The addresses the HTTP and HTTPS listeners bind (`ozone.om.http(s)-bind-host`, per node
    /// or for all); unset: every interface, as Ozone (`0.0.0.0`, or `::` for an IPv6 address).
    pub http_bind_host: Option<String>,
    pub https_bind_host: Option<String>,
    pub reload_source: Option<ReloadSource>,
    pub start_mode: StartMode,
    /// TLS, authentication, ACLs and the audit log.
    pub security: SecuritySettings,
    /// The layout the leader gives a bucket created without one (`ozone.default.bucket.layout`;
    /// FILE_SYSTEM_OPTIMIZED, as Ozone).
    pub default_bucket_layout: BucketLayout,
}

impl NodeSettings {
    /// Reads the settings of this node from `ozone-site.xml`.
    pub fn from_config(conf: &OzoneConfig, service_id: Option<&str>) -> Result<Self, NodeError> {
        let (service, node_id) = conf.own_service(service_id)?;
        let heartbeat_ms = conf.get_u64(KEY_HEARTBEAT_MS, 100)?;
        let election_min_ms = conf.get_u64(KEY_ELECTION_MIN_MS, 300)?;
        let election_max_ms = conf.get_u64(KEY_ELECTION_MAX_MS, election_min_ms * 2)?;
        let db_dir = conf.node_db_dir(&service.service_id, &node_id)?;
        let http_host = service.node(&node_id).map(|n| n.http_host.clone()).unwrap_or_default();
        let http_bind_host = node_key(conf, KEY_HTTP_BIND_HOST, &service.service_id, &node_id);
        let https_bind_host = node_key(conf, KEY_HTTPS_BIND_HOST, &service.service_id, &node_id);
        let security = SecuritySettings::from_config(conf, &service.service_id, &node_id, &http_host, &db_dir)
            .map_err(|e| match e {
                SecurityError::Config(c) => NodeError::Config(c),
                SecurityError::Setting { key, reason } => NodeError::Setting { key, reason },
                SecurityError::Tls(t) => {
                    NodeError::Setting { key: om_client::tls::TLS_CERTIFICATE_FILE, reason: t.to_string() }
                }
            })?;
        let (sid, nid) = (&service.service_id, &node_id);
        let raft_log_dir = node_key(conf, KEY_RATIS_STORAGE_DIR, sid, nid)
            .map_or_else(|| db_dir.join(RAFT_LOG_DIR), |d| PathBuf::from(d).join(RAFT_LOG_DIR));
        let snapshot_dir = node_key(conf, KEY_RATIS_SNAPSHOT_DIR, sid, nid)
            .map_or_else(|| db_dir.join(STATE_DIR).join(crate::store::SNAPSHOT_DIR), PathBuf::from);
        let default_bucket_layout = match conf.get(KEY_DEFAULT_BUCKET_LAYOUT) {
            None => BucketLayout::FileSystemOptimized,
            Some(v) => {
                v.trim().parse().map_err(|reason| NodeError::Setting { key: KEY_DEFAULT_BUCKET_LAYOUT, reason })?
            }
        };
        let settings = Self {
            default_bucket_layout,
            raft_log_dir,
            snapshot_dir,
            db_dir,
            security,
            service,
            node_id,
            heartbeat_ms,
            election_min_ms,
            election_max_ms,
            snapshot_threshold: conf.get_u64(KEY_SNAPSHOT_THRESHOLD, 400_000)?,
            purge_gap: conf.get_u64(KEY_PURGE_GAP, 1_000_000)?,
            purge_preservation: conf.get_u64(KEY_PURGE_PRESERVATION, 0)?,
            max_unflushed: conf.get_u64(KEY_MAX_UNFLUSHED, DEFAULT_MAX_UNFLUSHED as u64)? as usize,
            join_timeout_ms: conf.get_u64(KEY_JOIN_TIMEOUT_MS, 600_000)?,
            shutdown_transfer_ms: conf.get_u64(KEY_SHUTDOWN_TRANSFER_MS, 5_000)?,
            open_key_expire_ms: conf.get_duration_ms(KEY_OPEN_KEY_EXPIRE, 7 * 86_400_000)?,
            open_key_cleanup_interval_ms: conf.get_duration_ms(KEY_OPEN_KEY_CLEANUP_INTERVAL, 86_400_000)?,
            open_key_cleanup_limit: conf.get_u64(KEY_OPEN_KEY_CLEANUP_LIMIT, 1_000)? as usize,
            proposals_in_flight: conf.get_u64(KEY_PROPOSALS_IN_FLIGHT, DEFAULT_PROPOSALS_IN_FLIGHT)? as usize,
            memory: MemorySettings::from_config(conf)?,
            http_bind_host,
            https_bind_host,
            reload_source: conf.source().map(|p| ReloadSource { path: p.to_path_buf(), overrides: Vec::new() }),
            start_mode: StartMode::FormOrWait,
        };
        // Ozone's `false` purges only what every follower has committed too; openraft purges by
        // the snapshot alone, so the node refuses to start rather than silently purge more.
        if !conf.get_bool(KEY_PURGE_UPTO_SNAPSHOT, true)? {
            return Err(NodeError::Setting {
                key: KEY_PURGE_UPTO_SNAPSHOT,
                reason: "false is not supported: omring purges the log up to its snapshot index (raise \
                         ozone.om.ratis.log.purge.preservation.log.num to keep more entries for slow followers)"
                    .into(),
            });
        }
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
            (KEY_PURGE_GAP, self.purge_gap),
            (KEY_JOIN_TIMEOUT_MS, self.join_timeout_ms),
            (KEY_MAX_UNFLUSHED, self.max_unflushed as u64),
            (KEY_OPEN_KEY_EXPIRE, self.open_key_expire_ms),
            (KEY_OPEN_KEY_CLEANUP_INTERVAL, self.open_key_cleanup_interval_ms),
            (KEY_OPEN_KEY_CLEANUP_LIMIT, self.open_key_cleanup_limit as u64),
            (KEY_PROPOSALS_IN_FLIGHT, self.proposals_in_flight as u64),
            (KEY_DB_BLOCK_CACHE, self.memory.block_cache_bytes),
            (KEY_DB_WRITE_BUFFER, self.memory.write_buffer_bytes),
            (KEY_LOG_CACHE_ENTRIES, self.memory.log_cache_entries),
            (KEY_LOG_CACHE_SIZE, self.memory.log_cache_bytes),
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

    pub(crate) fn raft_config(&self) -> Result<openraft::Config, NodeError> {
        openraft::Config {
            cluster_name: self.service.service_id.clone(),
            heartbeat_interval: self.heartbeat_ms,
            election_timeout_min: self.election_min_ms,
            election_timeout_max: self.election_max_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_threshold),
            // Ratis purges up to the snapshot index less the preserved entries, and only in steps
            // of at least the purge gap; openraft's two settings say the same.
            max_in_snapshot_log_to_keep: self.purge_preservation,
            purge_batch_size: self.purge_gap,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<NodeSettings, NodeError> {
        let mut conf = OzoneConfig::new();
        let base = [
            ("ozone.om.service.ids", "svc"),
            ("ozone.om.nodes.svc", "om1,om2"),
            ("ozone.om.address.svc.om1", "127.0.0.1:9862"),
            ("ozone.om.address.svc.om2", "127.0.0.1:9863"),
            ("ozone.om.node.id", "om1"),
            ("ozone.om.db.dirs", "/var/lib/om"),
        ];
        for (k, v) in base.iter().chain(pairs) {
            conf.set(k, *v);
        }
        NodeSettings::from_config(&conf, None)
    }

    #[test]
    fn log_purge_follows_ozones_keys() {
        let raft = settings(&[]).unwrap().raft_config().unwrap();
        assert_eq!((raft.max_in_snapshot_log_to_keep, raft.purge_batch_size), (0, 1_000_000), "Ozone's defaults");
        let s = settings(&[(KEY_PURGE_GAP, "50"), (KEY_PURGE_PRESERVATION, "300")]).unwrap();
        let raft = s.raft_config().unwrap();
        assert_eq!((raft.max_in_snapshot_log_to_keep, raft.purge_batch_size), (300, 50));
        assert!(settings(&[(KEY_PURGE_UPTO_SNAPSHOT, "true")]).is_ok());
        let e = settings(&[(KEY_PURGE_UPTO_SNAPSHOT, "false")]).unwrap_err().to_string();
        assert!(e.contains(KEY_PURGE_UPTO_SNAPSHOT) && e.contains("not supported"), "{e}");
        let e = settings(&[(KEY_PURGE_GAP, "0")]).unwrap_err().to_string();
        assert!(e.contains(KEY_PURGE_GAP) && e.contains("positive"), "{e}");
        let e = settings(&[(KEY_PURGE_PRESERVATION, "lots")]).unwrap_err().to_string();
        assert!(e.contains(KEY_PURGE_PRESERVATION), "{e}");
    }

    #[test]
    fn buckets_without_a_layout_get_ozones_default_or_the_configured_one() {
        assert_eq!(settings(&[]).unwrap().default_bucket_layout, BucketLayout::FileSystemOptimized);
        let obs = settings(&[(KEY_DEFAULT_BUCKET_LAYOUT, "OBJECT_STORE")]).unwrap();
        assert_eq!(obs.default_bucket_layout, BucketLayout::ObjectStore);
        let bad = settings(&[(KEY_DEFAULT_BUCKET_LAYOUT, "FLAT")]).unwrap_err().to_string();
        assert!(bad.contains(KEY_DEFAULT_BUCKET_LAYOUT) && bad.contains("FLAT"), "{bad}");
    }

    #[test]
    fn every_cache_has_a_size_key() {
        let m = settings(&[]).unwrap().memory;
        assert_eq!(
            (m.block_cache_bytes, m.write_buffer_bytes, m.log_cache_entries, m.log_cache_bytes),
            (64 << 20, 64 << 20, 8192, 64 << 20),
            "defaults"
        );
        let s = settings(&[
            (KEY_DB_BLOCK_CACHE, "256MB"),
            (KEY_DB_WRITE_BUFFER, "32m"),
            (KEY_LOG_CACHE_ENTRIES, "1000"),
            (KEY_LOG_CACHE_SIZE, "8MB"),
        ])
        .unwrap();
        assert_eq!(s.memory.log(), crate::store::LogMemory { cache_entries: 1000, cache_bytes: 8 << 20 });
        assert_eq!((s.memory.block_cache_bytes, s.memory.write_buffer_bytes), (256 << 20, 32 << 20));
        for key in [KEY_DB_BLOCK_CACHE, KEY_DB_WRITE_BUFFER, KEY_LOG_CACHE_ENTRIES, KEY_LOG_CACHE_SIZE] {
            let e = settings(&[(key, "0")]).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains("positive"), "{e}");
        }
        let e = settings(&[(KEY_DB_BLOCK_CACHE, "64XB")]).unwrap_err().to_string();
        assert!(e.contains(KEY_DB_BLOCK_CACHE) && e.contains("unit"), "{e}");
    }
}
