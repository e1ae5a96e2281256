//! The replicated state machine: the namespace tables in RocksDB (`<db dir>/om.db`) behind
//! Ozone's *double buffer*.
//!
//! Applying an entry runs the namespace logic, puts its mutations into an in-memory table cache
//! (tagged with the log index), answers the client, and queues the mutations for the flusher.
//! The flusher thread gathers applied transactions for a few milliseconds and writes them in one
//! RocksDB `WriteBatch` together with `TRANSACTIONINFO` (the last applied log id) and the
//! membership, then evicts the cache entries it wrote (open keys excepted, up to a bound: their
//! commit is coming). Reads go through the cache first, so they see applied but unflushed data.
//! A semaphore bounds the unflushed transactions: when RocksDB falls behind, apply waits.
//!
//! The volume and bucket tables are also held whole in memory (Ozone's full table cache): a
//! read of them never reaches RocksDB, and a miss there means the row does not exist. The other
//! tables have bloom filters in their SST files and memtables, so the lookups that miss (a new
//! key, a new request id in the retry cache) skip the skip-list and file searches.
//!
//! The state database writes no WAL: the Raft log is its write-ahead log. Its column families
//! are flushed atomically, so after a crash every table and `TRANSACTIONINFO` are at the same
//! earlier point, and openraft replays the log from there. The log is purged only behind a
//! snapshot, and building one (a checkpoint) flushes the memtables first, so the entries a
//! replay needs are still there.
//!
//! On restart the applied log id comes from `TRANSACTIONINFO`; openraft replays the log after it.
//!
//! Snapshots are RocksDB checkpoints packed as a tar file; installing one swaps the database
//! directory with two renames, so a crash at any point leaves a usable database. A superseded
//! archive is deleted only when nothing holds it any more: the leader may be streaming it to a
//! follower while the next snapshot is built.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};
use rocksdb::{
    checkpoint::Checkpoint, BlockBasedOptions, ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch,
    WriteOptions, DB,
};
use sha2::{Digest, Sha256};

use om_client::wire::{ApiError, ErrorCode, WriteOutcome, WriteResponse};

use crate::metrics::NodeMetrics;
use crate::namespace::{self, MemTables, Mutation, Table, TableRead, TxnId, Value};
use crate::types::{LogId, Proposal, SnapshotMeta, StoredMembership, TypeConfig};

const CF_META: &str = "meta";
const KEY_TRANSACTION_INFO: &[u8] = b"TRANSACTIONINFO";
const KEY_MEMBERSHIP: &[u8] = b"MEMBERSHIP";
const DB_NAME: &str = "om.db";
const DB_OLD: &str = "om.db.old";
const DB_INCOMING: &str = "om.db.incoming";
const SNAPSHOT_DIR: &str = "snapshots";

/// Default bound on applied-but-unflushed transactions (`ozone.om.unflushed.transaction.max.count`).
pub const DEFAULT_MAX_UNFLUSHED: usize = 10_000;

/// How long the flusher gathers applied transactions before it writes them. Clients are
/// answered at apply, so this adds no latency; it makes batches larger, and an open key
/// committed within it is never written to RocksDB (see [`final_writes`]).
const FLUSH_INTERVAL: Duration = Duration::from_millis(20);

/// Open keys stay in the cache after they are flushed, up to this many, so the commit that
/// follows an open reads its open key from memory rather than RocksDB. The commit's delete
/// replaces the entry and is evicted once flushed, so only keys still open are kept.
const OPEN_KEYS_KEPT: usize = 65_536;

/// The snapshot payload: a tar of a RocksDB checkpoint on local disk.
#[derive(Debug, Clone)]
pub struct SnapshotFile {
    pub path: PathBuf,
    /// Keeps a stored snapshot's archive on disk while this payload exists (`None` for an
    /// incoming one, which belongs to its receiver until installed).
    _held: Option<Arc<SnapshotArchive>>,
}

impl SnapshotFile {
    /// A payload for an archive at `path` that nothing else deletes.
    pub fn at(path: PathBuf) -> Self {
        Self { path, _held: None }
    }
}

/// A stored snapshot archive. Once superseded it is deleted when its last holder drops it.
#[derive(Debug)]
struct SnapshotArchive {
    path: PathBuf,
    superseded: AtomicBool,
}

impl SnapshotArchive {
    fn new(path: PathBuf) -> Arc<Self> {
        Arc::new(Self { path, superseded: AtomicBool::new(false) })
    }

    /// A payload that keeps this archive on disk while it exists.
    fn payload(self: &Arc<Self>) -> SnapshotFile {
        SnapshotFile { path: self.path.clone(), _held: Some(Arc::clone(self)) }
    }
}

impl Drop for SnapshotArchive {
    fn drop(&mut self) {
        if *self.superseded.get_mut() {
            if let Err(e) = std::fs::remove_file(&self.path) {
                tracing::warn!(path = %self.path.display(), error = %e, "could not delete a superseded snapshot");
            }
        }
    }
}

/// The snapshot openraft sees as current, and its archive.
type CurrentSnapshot = Option<(SnapshotMeta, Arc<SnapshotArchive>)>;

type Snapshot = openraft::alias::SnapshotOf<TypeConfig, SnapshotFile>;

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

struct CacheEntry {
    epoch: u64,
    value: Option<Value>,
}

/// Applied state as openraft sees it.
#[derive(Default, Clone)]
struct Applied {
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

struct FlushTx {
    log_id: LogId,
    muts: Vec<Mutation>,
    membership: Option<StoredMembership>,
    /// Client commands in the entry (one for an entry without any).
    transactions: usize,
    /// Backpressure permits the entry holds until it is flushed.
    permits: u32,
}

enum FlushMsg {
    /// Applied transactions, in log order.
    Txs(Vec<FlushTx>),
    Barrier(mpsc::SyncSender<()>),
}

/// State shared by the state machine, the flusher, readers and snapshot builders.
pub struct Shared {
    dir: PathBuf,
    /// `None` only while a snapshot installation swaps the database (under the write lock).
    db: RwLock<Option<Arc<DB>>>,
    cache: RwLock<HashMap<Table, BTreeMap<Vec<u8>, CacheEntry>>>,
    /// Every row of the [`Table::fully_cached`] tables, updated at apply.
    full: RwLock<MemTables>,
    applied: Mutex<Applied>,
    flusher: Mutex<mpsc::Sender<FlushMsg>>,
    permits: Arc<tokio::sync::Semaphore>,
    /// The semaphore's size (`ozone.om.unflushed.transaction.max.count`).
    max_unflushed: usize,
    flushed_index: AtomicU64,
    /// Latest request time (`Command::now_ms`) applied; the retry cache's compaction filter
    /// reads it.
    retry_horizon: Arc<AtomicU64>,
    metrics: Arc<NodeMetrics>,
    /// Mirrors `snapshots/current.json`; replaced under this lock, so a reader never sees a
    /// pointer to an archive that is already gone.
    current_snapshot: Mutex<CurrentSnapshot>,
}

/// The state machine handle given to openraft (also its snapshot builder).
#[derive(Clone)]
pub struct StateMachineStore {
    shared: Arc<Shared>,
}

/// Options of a table's column family: bloom filters on SST files (10 bits per key, about 1%
/// false positives) and on the memtable, so point lookups of absent keys are cheap.
/// The retry cache's compaction filter removes rows far behind `horizon` (the latest request
/// time applied here; 0 removes nothing).
fn table_options(table: Table, horizon: &Arc<AtomicU64>) -> Options {
    let mut block = BlockBasedOptions::default();
    block.set_bloom_filter(10.0, false);
    let mut opts = Options::default();
    opts.set_block_based_table_factory(&block);
    opts.set_memtable_prefix_bloom_ratio(0.02);
    opts.set_memtable_whole_key_filtering(true);
    if table == Table::RetryCache {
        let horizon = Arc::clone(horizon);
        opts.set_compaction_filter("retry-cache-expiry", move |_level, _key: &[u8], row: &[u8]| {
            if namespace::retry_row_expired(row, horizon.load(Ordering::Relaxed)) {
                rocksdb::CompactionDecision::Remove
            } else {
                rocksdb::CompactionDecision::Keep
            }
        });
    }
    opts
}

fn open_db(path: &Path, horizon: &Arc<AtomicU64>) -> Result<DB, io::Error> {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    // Without a WAL, only atomic flushes keep the tables and TRANSACTIONINFO consistent on disk.
    opts.set_atomic_flush(true);
    let mut cfs: Vec<ColumnFamilyDescriptor> =
        Table::ALL.iter().map(|t| ColumnFamilyDescriptor::new(t.cf_name(), table_options(*t, horizon))).collect();
    cfs.push(ColumnFamilyDescriptor::new(CF_META, Options::default()));
    // A database with other column families is not ours: RocksDB refuses to open it and says
    // which it did not expect.
    DB::open_cf_descriptors(&opts, path, cfs)
        .map_err(|e| io::Error::other(format!("cannot open state database {}: {e}", path.display())))
}

fn read_applied(db: &DB) -> Result<Applied, io::Error> {
    let cf = db.cf_handle(CF_META).ok_or_else(|| io_err("meta column family missing"))?;
    let last_applied = match db.get_cf(cf, KEY_TRANSACTION_INFO).map_err(io_err)? {
        Some(b) => serde_json::from_slice(&b).map_err(io_err)?,
        None => None,
    };
    let membership = match db.get_cf(cf, KEY_MEMBERSHIP).map_err(io_err)? {
        Some(b) => serde_json::from_slice(&b).map_err(io_err)?,
        None => StoredMembership::default(),
    };
    Ok(Applied { last_applied, membership })
}

fn load_full_tables(db: &DB) -> Result<MemTables, io::Error> {
    let mut full = MemTables::default();
    for t in Table::ALL.into_iter().filter(|t| t.fully_cached()) {
        let cf = db.cf_handle(t.cf_name()).ok_or_else(|| io_err(format!("{} column family missing", t.cf_name())))?;
        for kv in db.iterator_cf(cf, IteratorMode::Start) {
            let (k, v) = kv.map_err(io_err)?;
            full.insert(t, k.to_vec(), Value::from(v));
        }
    }
    Ok(full)
}

/// Finishes or rolls back a snapshot installation that a crash interrupted.
fn recover_dirs(dir: &Path) -> Result<(), io::Error> {
    let db = dir.join(DB_NAME);
    let old = dir.join(DB_OLD);
    if !db.exists() && old.exists() {
        std::fs::rename(&old, &db)?;
    }
    for leftover in [old, dir.join(DB_INCOMING)] {
        if leftover.exists() {
            std::fs::remove_dir_all(&leftover)?;
        }
    }
    Ok(())
}

impl StateMachineStore {
    /// Opens the state database under `dir` and starts the flusher thread.
    pub fn open(dir: &Path, max_unflushed: usize, metrics: Arc<NodeMetrics>) -> Result<Self, io::Error> {
        std::fs::create_dir_all(dir.join(SNAPSHOT_DIR))?;
        recover_dirs(dir)?;
        let current_snapshot = load_current_snapshot(&dir.join(SNAPSHOT_DIR))?;
        let retry_horizon = Arc::new(AtomicU64::new(0));
        let db = open_db(&dir.join(DB_NAME), &retry_horizon)?;
        let applied = read_applied(&db)?;
        let full = load_full_tables(&db)?;
        let flushed = applied.last_applied.as_ref().map(|l| l.index).unwrap_or(0);
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            db: RwLock::new(Some(Arc::new(db))),
            cache: RwLock::new(HashMap::new()),
            full: RwLock::new(full),
            applied: Mutex::new(applied),
            flusher: Mutex::new(tx),
            permits: Arc::new(tokio::sync::Semaphore::new(max_unflushed.max(1))),
            max_unflushed: max_unflushed.max(1),
            flushed_index: AtomicU64::new(flushed),
            retry_horizon,
            metrics,
            current_snapshot: Mutex::new(current_snapshot),
        });
        let weak = Arc::downgrade(&shared);
        let alive = super::ThreadGuard::new();
        std::thread::Builder::new().name("double-buffer".into()).spawn(move || {
            let _alive = alive;
            run_flusher(weak, rx, (max_unflushed / 2).max(1))
        })?;
        Ok(Self { shared })
    }

    /// Answers a query from the current state (this node's, whatever its role: callers check
    /// leadership and the read index first). The one way requests read the namespace.
    pub fn read(
        &self,
        op: &om_client::wire::ReadOp,
    ) -> Result<om_client::wire::ReadResponse, om_client::wire::ApiError> {
        use om_client::wire::{ReadOp, ReadResponse};
        let view = self.view();
        match op {
            ReadOp::Digest => {
                let applied_index = view.applied_index();
                let (digest, entries) = view.digest().map_err(store_error)?;
                Ok(ReadResponse::Digest { digest, applied_index, entries })
            }
            op => namespace::query(view, op),
        }
    }

    /// Table-level access to the current state (cache over RocksDB), for the state machine's
    /// own background work and tests.
    pub fn view(&self) -> &Shared {
        &self.shared
    }

    /// Highest log index written to RocksDB.
    pub fn flushed_index(&self) -> u64 {
        self.shared.flushed_index.load(Ordering::Acquire)
    }

    /// Highest log index applied (possibly not yet flushed).
    pub fn applied_index(&self) -> u64 {
        self.shared.applied_index()
    }

    /// Blocks until everything applied so far is written to RocksDB.
    pub fn flush(&self) -> Result<(), io::Error> {
        self.shared.barrier()
    }

    fn snapshot_dir(&self) -> PathBuf {
        self.shared.dir.join(SNAPSHOT_DIR)
    }

    /// A path where an incoming snapshot can be written before it is installed.
    pub fn incoming_snapshot_path(&self) -> PathBuf {
        self.snapshot_dir().join(format!("incoming-{:016x}.tar", rand::random::<u64>()))
    }

    /// The current snapshot; its archive stays on disk while the returned payload exists.
    fn latest_snapshot(&self) -> Option<Snapshot> {
        let current = self.shared.current_snapshot.lock().unwrap_or_else(|p| p.into_inner());
        current.as_ref().map(|(meta, archive)| Snapshot { meta: meta.clone(), snapshot: archive.payload() })
    }

    /// Makes the archive at `path` the current snapshot. The previous archive is deleted once
    /// no replication stream holds it.
    fn set_current_snapshot(&self, meta: &SnapshotMeta, path: &Path) -> Result<Snapshot, io::Error> {
        let name = snapshot_file_name(meta);
        let dest = self.snapshot_dir().join(&name);
        let mut current = self.shared.current_snapshot.lock().unwrap_or_else(|p| p.into_inner());
        if path != dest {
            std::fs::rename(path, &dest)?;
        }
        let tmp = self.snapshot_dir().join(CURRENT_SNAPSHOT_TMP);
        std::fs::write(&tmp, serde_json::to_vec(&(meta, &name)).map_err(io_err)?)?;
        std::fs::rename(&tmp, self.snapshot_dir().join(CURRENT_SNAPSHOT))?;
        let archive = match current.take() {
            // The same archive again (a rename onto itself): keep its holders' handle.
            Some((_, same)) if same.path == dest => same,
            previous => {
                if let Some((_, old)) = previous {
                    old.superseded.store(true, Ordering::Release);
                }
                SnapshotArchive::new(dest)
            }
        };
        let snapshot = Snapshot { meta: meta.clone(), snapshot: archive.payload() };
        *current = Some((meta.clone(), archive));
        Ok(snapshot)
    }
}

const CURRENT_SNAPSHOT: &str = "current.json";
const CURRENT_SNAPSHOT_TMP: &str = "current.json.tmp";

/// Reads `current.json` and deletes whatever else a previous run left in the snapshot
/// directory (superseded archives, unfinished builds and uploads).
fn load_current_snapshot(snapshots: &Path) -> Result<CurrentSnapshot, io::Error> {
    let current = match std::fs::read(snapshots.join(CURRENT_SNAPSHOT)) {
        Ok(bytes) => {
            let (meta, file): (SnapshotMeta, String) = serde_json::from_slice(&bytes).map_err(|e| {
                io_err(format!("{} is not a snapshot pointer: {e}", snapshots.join(CURRENT_SNAPSHOT).display()))
            })?;
            let path = snapshots.join(&file);
            if path.exists() {
                Some((meta, SnapshotArchive::new(path)))
            } else {
                tracing::warn!(file, "the current snapshot's archive is missing; starting without a snapshot");
                None
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    for entry in std::fs::read_dir(snapshots)? {
        let path = entry?.path();
        let keep = path.file_name().is_some_and(|n| n == CURRENT_SNAPSHOT)
            || current.as_ref().is_some_and(|(_, a)| a.path == path);
        if !keep {
            let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            if let Err(e) = removed {
                tracing::warn!(path = %path.display(), error = %e, "could not delete a leftover snapshot file");
            }
        }
    }
    Ok(current)
}

fn snapshot_file_name(meta: &SnapshotMeta) -> String {
    match &meta.last_log_id {
        Some(l) => format!("snapshot-{}-{}.tar", l.leader_id.term, l.index),
        None => "snapshot-empty.tar".to_string(),
    }
}

impl Shared {
    fn db(&self) -> Result<Arc<DB>, io::Error> {
        self.db
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| io_err("the state database could not be reopened after a snapshot installation"))
    }

    /// Puts applied mutations where reads find them: the full table cache, else the table
    /// cache tagged with the entry's index (evicted once that index is flushed).
    fn stage(&self, index: u64, muts: &[Mutation]) {
        if muts.iter().any(|m| m.table.fully_cached()) {
            let mut full = self.full.write().unwrap_or_else(|p| p.into_inner());
            full.apply(muts.iter().filter(|m| m.table.fully_cached()));
        }
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        for m in muts.iter().filter(|m| !m.table.fully_cached()) {
            cache
                .entry(m.table)
                .or_default()
                .insert(m.key.clone(), CacheEntry { epoch: index, value: m.value.clone() });
        }
    }

    fn lock_applied(&self) -> std::sync::MutexGuard<'_, Applied> {
        self.applied.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, msg: FlushMsg) -> Result<(), io::Error> {
        self.flusher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(msg)
            .map_err(|_| io_err("double-buffer flusher has stopped"))
    }

    fn barrier(&self) -> Result<(), io::Error> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(FlushMsg::Barrier(tx))?;
        rx.recv().map_err(|_| io_err("double-buffer flusher has stopped"))
    }

    /// SHA-256 over every namespace table as of now; equal on replicas at the same index.
    pub fn digest(&self) -> Result<(String, u64), String> {
        let mut h = Sha256::new();
        let mut n = 0u64;
        for t in Table::NAMESPACE {
            for (k, v) in self.scan(t, b"", b"", usize::MAX)? {
                h.update(t.cf_name().as_bytes());
                h.update((k.len() as u64).to_be_bytes());
                h.update(&k);
                h.update((v.len() as u64).to_be_bytes());
                h.update(&v);
                n += 1;
            }
        }
        Ok((hex::encode(h.finalize()), n))
    }

    pub fn applied_index(&self) -> u64 {
        self.lock_applied().last_applied.as_ref().map(|l| l.index).unwrap_or(0)
    }
}

impl TableRead for Shared {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Value>, String> {
        if table.fully_cached() {
            return self.full.read().unwrap_or_else(|p| p.into_inner()).get(table, key);
        }
        {
            let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = cache.get(&table).and_then(|m| m.get(key)) {
                return Ok(e.value.clone());
            }
        }
        let db = self.db().map_err(|e| e.to_string())?;
        let cf = db.cf_handle(table.cf_name()).ok_or("column family missing")?;
        db.get_cf(cf, key).map(|o| o.map(Value::from)).map_err(|e| e.to_string())
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        start_after: &[u8],
        max: usize,
    ) -> Result<Vec<(Vec<u8>, Value)>, String> {
        if table.fully_cached() {
            return self.full.read().unwrap_or_else(|p| p.into_inner()).scan(table, prefix, start_after, max);
        }
        let lower: Vec<u8> = if start_after > prefix { start_after.to_vec() } else { prefix.to_vec() };
        let in_range = |k: &[u8]| k.starts_with(prefix) && k > start_after;
        // Copy the cache's part of the range first: an entry evicted after this is in RocksDB.
        // Entries past the `max`-th live one cannot be in the answer.
        let overlay: Vec<(Vec<u8>, Option<Value>)> = {
            let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
            let mut live = 0;
            match cache.get(&table) {
                None => Vec::new(),
                Some(m) => m
                    .range(lower.clone()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .filter(|(k, _)| in_range(k))
                    .take_while(|(_, e)| {
                        let more = live < max;
                        live += usize::from(e.value.is_some());
                        more
                    })
                    .map(|(k, e)| (k.clone(), e.value.clone()))
                    .collect(),
            }
        };
        let db = self.db().map_err(|e| e.to_string())?;
        let cf = db.cf_handle(table.cf_name()).ok_or("column family missing")?;
        let mut disk = db
            .iterator_cf(cf, IteratorMode::From(&lower, Direction::Forward))
            .map(|kv| kv.map_err(|e| e.to_string()))
            .take_while(|kv| kv.as_ref().map(|(k, _)| k.starts_with(prefix)).unwrap_or(true))
            .filter(|kv| kv.as_ref().map(|(k, _)| in_range(k)).unwrap_or(true))
            .peekable();
        let mut cached = overlay.into_iter().peekable();
        let mut out = Vec::new();
        while out.len() < max {
            let take_cache = match (cached.peek(), disk.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((ck, _)), Some(Ok((dk, _)))) => ck.as_slice() <= dk.as_ref(),
                (Some(_), Some(Err(_))) => false,
            };
            if take_cache {
                let Some((k, v)) = cached.next() else { break };
                // The cache wins over RocksDB for the same key.
                if let Some(Ok((dk, _))) = disk.peek() {
                    if dk.as_ref() == k.as_slice() {
                        disk.next();
                    }
                }
                if let Some(v) = v {
                    out.push((k, v));
                }
            } else {
                let Some(item) = disk.next() else { break };
                let (k, v) = item?;
                out.push((k.to_vec(), Value::from(v)));
            }
        }
        Ok(out)
    }
}

/// The flusher: gathers applied transactions for up to [`FLUSH_INTERVAL`] (or until they hold
/// `flush_at` permits, or a barrier), writes them in one batch, evicts, releases permits.
fn run_flusher(shared: std::sync::Weak<Shared>, rx: mpsc::Receiver<FlushMsg>, flush_at: usize) {
    while let Ok(first) = rx.recv() {
        let mut txs = Vec::new();
        let mut barriers = Vec::new();
        // Returns the permits the gathered transactions hold: apply waits when they reach the bound.
        let mut gather = |msg: FlushMsg, txs: &mut Vec<FlushTx>| match msg {
            FlushMsg::Txs(t) => {
                let permits = t.iter().map(|t| t.permits as usize).sum::<usize>();
                txs.extend(t);
                permits
            }
            FlushMsg::Barrier(b) => {
                barriers.push(b);
                0
            }
        };
        // A barrier flushes at once; transactions wait for more to join them.
        let mut wait = matches!(first, FlushMsg::Txs(_));
        let mut held = gather(first, &mut txs);
        let deadline = Instant::now() + FLUSH_INTERVAL;
        while wait && held < flush_at {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(msg) => {
                    wait = matches!(msg, FlushMsg::Txs(_));
                    held += gather(msg, &mut txs);
                }
                Err(_) => wait = false,
            }
        }
        for msg in rx.try_iter() {
            gather(msg, &mut txs);
        }
        let Some(shared) = shared.upgrade() else { return };
        if !txs.is_empty() {
            let started = Instant::now();
            let mut backoff = Duration::from_millis(100);
            while let Err(e) = write_batch(&shared, &txs) {
                tracing::error!(error = %e, "double buffer cannot write to RocksDB; retrying");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            let last = txs.last().map(|t| t.log_id.index).unwrap_or(0);
            {
                let mut cache = shared.cache.write().unwrap_or_else(|p| p.into_inner());
                for t in &txs {
                    for m in &t.muts {
                        if let Some(table) = cache.get_mut(&m.table) {
                            if table.get(&m.key).is_some_and(|e| e.epoch <= last) {
                                let keep =
                                    m.table == Table::OpenKeys && m.value.is_some() && table.len() <= OPEN_KEYS_KEPT;
                                if !keep {
                                    table.remove(&m.key);
                                }
                            }
                        }
                    }
                }
            }
            shared.flushed_index.store(last, Ordering::Release);
            shared.permits.add_permits(txs.iter().map(|t| t.permits as usize).sum());
            shared.metrics.observe_flush(txs.iter().map(|t| t.transactions).sum(), started.elapsed());
        }
        // Release our reference before acknowledging barriers: whoever waited on a barrier may
        // drop the store and reopen the database at once, which needs the last Arc to be gone.
        drop(shared);
        for b in barriers {
            let _ = b.send(());
        }
    }
}

fn write_batch(shared: &Shared, txs: &[FlushTx]) -> Result<(), String> {
    let db = shared.db().map_err(|e| e.to_string())?;
    let mut batch = WriteBatch::default();
    for m in final_writes(txs) {
        let cf = db.cf_handle(m.table.cf_name()).ok_or("column family missing")?;
        match &m.value {
            Some(v) => batch.put_cf(cf, &m.key, v),
            None => batch.delete_cf(cf, &m.key),
        }
    }
    let membership = txs.iter().rev().find_map(|t| t.membership.as_ref());
    let meta = db.cf_handle(CF_META).ok_or("meta column family missing")?;
    let last = txs.last().map(|t| Some(t.log_id.clone()));
    batch.put_cf(meta, KEY_TRANSACTION_INFO, serde_json::to_vec(&last.flatten()).map_err(|e| e.to_string())?);
    if let Some(mem) = membership {
        batch.put_cf(meta, KEY_MEMBERSHIP, serde_json::to_vec(mem).map_err(|e| e.to_string())?);
    }
    let mut no_wal = WriteOptions::default();
    no_wal.disable_wal(true);
    db.write_opt(batch, &no_wal).map_err(|e| e.to_string())
}

/// What a batch writes: the last mutation of every (table, key) in `txs`, sorted by table and
/// key, leaving out rows the batch both created and deleted.
///
/// The batch is written atomically, so earlier writes of a row in it are dead: a bucket's usage
/// counters change with every key commit. A row whose first change in the batch created it and
/// whose last deletes it was absent before and is absent after (an open key committed within
/// the flush interval), so it is not written at all, not even as a tombstone.
/// Sorted input lets RocksDB's skip list reuse the previous insert position.
fn final_writes(txs: &[FlushTx]) -> Vec<&Mutation> {
    // (table, key) -> (created by its first change in the batch, its last change)
    let mut rows: HashMap<(Table, &[u8]), (bool, &Mutation)> = HashMap::new();
    for m in txs.iter().flat_map(|t| t.muts.iter()) {
        rows.entry((m.table, m.key.as_slice())).and_modify(|(_, last)| *last = m).or_insert((m.created, m));
    }
    let mut out: Vec<&Mutation> =
        rows.into_values().filter(|(created, last)| !(*created && last.value.is_none())).map(|(_, m)| m).collect();
    out.sort_unstable_by(|a, b| (a.table, &a.key).cmp(&(b.table, &b.key)));
    out
}

fn noop_response(index: u64) -> WriteResponse {
    WriteResponse { outcome: WriteOutcome::Noop, log_index: index, replayed: false }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotFile;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let a = self.shared.lock_applied().clone();
        Ok((a.last_applied, a.membership))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        // Handed to the flusher once per call (or per 1024 entries), not once per entry.
        let mut pending = Vec::new();
        while let Some(item) = entries.next().await {
            let (entry, responder) = match item {
                Ok(x) => x,
                Err(e) => {
                    self.shared.send(FlushMsg::Txs(std::mem::take(&mut pending)))?;
                    return Err(e);
                }
            };
            let log_id = entry.log_id.clone();
            let index = log_id.index;
            let (results, muts, membership) = match entry.payload {
                EntryPayload::Blank => (vec![Ok(noop_response(index))], Vec::new(), None),
                EntryPayload::Normal(proposal) => {
                    let batched = matches!(proposal, Proposal::Batch(_));
                    let commands = proposal.commands();
                    let mut results = Vec::with_capacity(commands.len());
                    let mut muts = Vec::new();
                    for (position, cmd) in commands.iter().enumerate() {
                        let txn = if batched { TxnId::in_batch(index, position) } else { TxnId::single(index) };
                        let (res, cmd_muts) = namespace::execute(&*self.shared, cmd, txn);
                        self.shared.retry_horizon.fetch_max(cmd.now_ms, Ordering::Relaxed);
                        // Staged at once: the next command of a batch reads what this one wrote.
                        self.shared.stage(index, &cmd_muts);
                        results.push(res);
                        muts.extend(cmd_muts);
                    }
                    (results, muts, None)
                }
                EntryPayload::Membership(m) => {
                    (vec![Ok(noop_response(index))], Vec::new(), Some(StoredMembership::new(Some(log_id.clone()), m)))
                }
            };
            // Backpressure: wait while too many transactions are unflushed. Hand over what
            // this call holds first, or the flusher could never release the permits. A batch
            // takes a permit per command, or the whole bound if it is larger.
            let transactions = results.len().max(1);
            let permits = transactions.min(self.shared.max_unflushed) as u32;
            match self.shared.permits.try_acquire_many(permits) {
                Ok(p) => p.forget(),
                Err(_) => {
                    self.shared.send(FlushMsg::Txs(std::mem::take(&mut pending)))?;
                    self.shared
                        .permits
                        .acquire_many(permits)
                        .await
                        .map_err(|_| io_err("double buffer closed"))?
                        .forget();
                }
            }
            {
                let mut a = self.shared.lock_applied();
                a.last_applied = Some(log_id.clone());
                if let Some(m) = &membership {
                    a.membership = m.clone();
                }
            }
            pending.push(FlushTx { log_id, muts, membership, transactions, permits });
            if let Some(r) = responder {
                r.send(results);
            }
            if pending.len() >= 1024 {
                self.shared.send(FlushMsg::Txs(std::mem::take(&mut pending)))?;
            }
        }
        if !pending.is_empty() {
            self.shared.send(FlushMsg::Txs(pending))?;
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta, snapshot: SnapshotFile) -> Result<(), io::Error> {
        let this = self.clone();
        let meta = meta.clone();
        tokio::task::spawn_blocking(move || this.install_blocking(&meta, &snapshot.path)).await.map_err(io_err)?
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        Ok(self.latest_snapshot())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotFile;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.build_blocking()).await.map_err(io_err)?
    }
}

impl StateMachineStore {
    fn build_blocking(&self) -> Result<Snapshot, io::Error> {
        self.shared.barrier()?;
        let db = self.shared.db()?;
        db.flush_wal(true).map_err(io_err)?;
        let work = self.snapshot_dir().join(format!("build-{:016x}", rand::random::<u64>()));
        Checkpoint::new(&db).map_err(io_err)?.create_checkpoint(&work).map_err(io_err)?;
        drop(db);
        let result = (|| {
            // The checkpoint carries its own TRANSACTIONINFO: the snapshot's exact position.
            let applied = {
                let cp = open_db(&work, &Arc::default())?;
                read_applied(&cp)?
            };
            let meta = SnapshotMeta { last_log_id: applied.last_applied, last_membership: applied.membership };
            let tar_path = work.with_extension("tar");
            pack_dir(&work, &tar_path)?;
            self.set_current_snapshot(&meta, &tar_path)
        })();
        let _ = std::fs::remove_dir_all(&work);
        result
    }

    fn install_blocking(&self, meta: &SnapshotMeta, tar_path: &Path) -> Result<(), io::Error> {
        let started = Instant::now();
        self.shared.barrier()?;
        let dir = &self.shared.dir;
        let incoming = dir.join(DB_INCOMING);
        if incoming.exists() {
            std::fs::remove_dir_all(&incoming)?;
        }
        unpack_dir(tar_path, &incoming)?;
        {
            let check = open_db(&incoming, &Arc::default())?;
            let got = read_applied(&check)?;
            if got.last_applied != meta.last_log_id {
                drop(check);
                let _ = std::fs::remove_dir_all(&incoming);
                return Err(io_err(format!(
                    "snapshot content is at {:?} but its metadata says {:?}",
                    got.last_applied, meta.last_log_id
                )));
            }
        }
        {
            // Readers wait on the lock; the old database must be closed before the new one
            // opens at the same path (RocksDB locks files by path within a process).
            let mut guard = self.shared.db.write().unwrap_or_else(|p| p.into_inner());
            if let Some(old) = guard.take() {
                if let Err(still_used) = close_when_unshared(old) {
                    *guard = Some(still_used);
                    return Err(io_err("the state database is still in use after 30 s; snapshot not installed"));
                }
            }
            let swapped = std::fs::rename(dir.join(DB_NAME), dir.join(DB_OLD))
                .and_then(|_| std::fs::rename(&incoming, dir.join(DB_NAME)));
            if let Err(e) = swapped {
                // Put the old database back in service before reporting the failure.
                recover_dirs(dir)?;
                *guard = Some(Arc::new(open_db(&dir.join(DB_NAME), &self.shared.retry_horizon)?));
                return Err(e);
            }
            let db = open_db(&dir.join(DB_NAME), &self.shared.retry_horizon)?;
            let full = load_full_tables(&db)?;
            *guard = Some(Arc::new(db));
            *self.shared.full.write().unwrap_or_else(|p| p.into_inner()) = full;
            self.shared.cache.write().unwrap_or_else(|p| p.into_inner()).clear();
            let mut a = self.shared.lock_applied();
            a.last_applied = meta.last_log_id.clone();
            a.membership = meta.last_membership.clone();
            self.shared.flushed_index.store(meta.last_log_id.as_ref().map(|l| l.index).unwrap_or(0), Ordering::Release);
        }
        let _ = std::fs::remove_dir_all(dir.join(DB_OLD));
        drop(self.set_current_snapshot(meta, tar_path)?);
        tracing::info!(last_log_id = ?meta.last_log_id, elapsed_ms = started.elapsed().as_millis() as u64, "installed snapshot");
        Ok(())
    }
}

/// Drops the last reference to `db` once in-flight readers released theirs; gives it back if
/// they do not within 30 s.
fn close_when_unshared(mut db: Arc<DB>) -> Result<(), Arc<DB>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Arc::try_unwrap(db) {
            Ok(inner) => {
                drop(inner);
                return Ok(());
            }
            Err(shared) if Instant::now() < deadline => {
                db = shared;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(shared) => return Err(shared),
        }
    }
}

fn pack_dir(dir: &Path, tar_path: &Path) -> Result<(), io::Error> {
    let file = std::fs::File::create(tar_path)?;
    let mut builder = tar::Builder::new(io::BufWriter::new(file));
    builder.append_dir_all(".", dir)?;
    builder.into_inner()?.into_inner().map_err(|e| e.into_error())?.sync_all()
}

fn unpack_dir(tar_path: &Path, dest: &Path) -> Result<(), io::Error> {
    std::fs::create_dir_all(dest)?;
    let file = std::fs::File::open(tar_path)?;
    tar::Archive::new(io::BufReader::new(file)).unpack(dest)
}

/// Errors for answers that need the state machine but it cannot give them.
pub fn store_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::InternalError, format!("state machine: {e}"))
}

/// Bytes available to unprivileged users on the file system holding `dir`.
pub fn free_bytes(dir: &Path) -> Result<u64, io::Error> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(io_err)?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transaction of (table, key, value) changes; a key ending in `+` is created by it.
    fn tx(index: u64, muts: Vec<(Table, &str, Option<&str>)>) -> FlushTx {
        FlushTx {
            log_id: openraft::testing::log_id::<TypeConfig>(1, crate::types::NodeId::from("om1"), index),
            muts: muts
                .into_iter()
                .map(|(table, k, v)| Mutation {
                    table,
                    key: k.trim_end_matches('+').as_bytes().to_vec(),
                    value: v.map(|v| Value::from(v.as_bytes())),
                    created: k.ends_with('+'),
                })
                .collect(),
            membership: None,
            transactions: 1,
            permits: 1,
        }
    }

    #[test]
    fn a_batch_writes_the_last_value_of_every_row_once_in_key_order() {
        let txs = [
            tx(
                1,
                vec![
                    (Table::OpenKeys, "/v/b/k/1+", Some("open")),
                    (Table::OpenKeys, "/v/b/j/2", Some("reopened")),
                    (Table::Buckets, "/v/b", Some("used=0")),
                ],
            ),
            tx(
                2,
                vec![
                    (Table::OpenKeys, "/v/b/k/1", None),
                    (Table::OpenKeys, "/v/b/j/2", None),
                    (Table::Keys, "/v/b/k+", Some("k")),
                    (Table::Buckets, "/v/b", Some("used=1")),
                ],
            ),
            tx(3, vec![(Table::Keys, "/v/b/a", Some("a")), (Table::Buckets, "/v/b", Some("used=2"))]),
        ];
        let got: Vec<(Table, String, Option<String>)> = final_writes(&txs)
            .into_iter()
            .map(|m| {
                (
                    m.table,
                    String::from_utf8_lossy(&m.key).into_owned(),
                    m.value.as_ref().map(|v| String::from_utf8_lossy(v).into_owned()),
                )
            })
            .collect();
        // /v/b/k/1 was created and deleted within the batch: not written. /v/b/j/2 existed
        // before the batch: its delete is written.
        let want = [
            (Table::Buckets, "/v/b", Some("used=2")),
            (Table::Keys, "/v/b/a", Some("a")),
            (Table::Keys, "/v/b/k", Some("k")),
            (Table::OpenKeys, "/v/b/j/2", None),
        ]
        .map(|(t, k, v)| (t, k.to_string(), v.map(str::to_string)));
        assert_eq!(got, want);
    }
}
