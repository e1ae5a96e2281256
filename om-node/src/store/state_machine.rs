//! The replicated state machine: the namespace tables in RocksDB (`<db dir>/om.db`) behind
//! Ozone's *double buffer*.
//!
//! [`StateMachineStore`] is what openraft drives: apply runs each command through
//! [`namespace::execute`] and stages its mutations in the [`DoubleBuffer`], which writes them
//! to RocksDB behind the clients' answers; snapshots are built and installed by [`Snapshots`].
//! Requests read the state only through [`StateMachineStore::read`].
//!
//! On restart the applied log id comes from `TRANSACTIONINFO` (see [`super::schema`]);
//! openraft replays the log after it.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};

use om_client::wire::{ApiError, ReadOp, ReadResponse, WriteOutcome, WriteResponse};

use crate::metrics::NodeMetrics;
use crate::namespace::{self, Table, TableRead, TxnId};
use crate::types::{LogId, OpenKeyId, Proposal, SnapshotMeta, StoredMembership, TypeConfig};

use super::double_buffer::{DoubleBuffer, FlushTx};
use super::io_err;
use super::schema::{open_db, recover_dirs, DbMemory, DB_NAME, SNAPSHOT_DIR};
use super::snapshot::{Snapshot, SnapshotFile, Snapshots};

/// The state machine handle given to openraft (also its snapshot builder).
#[derive(Clone)]
pub struct StateMachineStore {
    buffer: Arc<DoubleBuffer>,
    snapshots: Arc<Snapshots>,
}

impl StateMachineStore {
    /// Opens the state database under `dir` with the default memory bounds and starts the
    /// flusher thread.
    pub fn open(dir: &Path, max_unflushed: usize, metrics: Arc<NodeMetrics>) -> Result<Self, io::Error> {
        Self::open_with(dir, &dir.join(SNAPSHOT_DIR), max_unflushed, DbMemory::default(), metrics)
    }

    /// Opens the state database under `dir` within `memory` and starts the flusher thread.
    pub fn open_with(
        dir: &Path,
        snapshot_dir: &Path,
        max_unflushed: usize,
        memory: DbMemory,
        metrics: Arc<NodeMetrics>,
    ) -> Result<Self, io::Error> {
        std::fs::create_dir_all(snapshot_dir)?;
        recover_dirs(dir)?;
        let snapshots = Arc::new(Snapshots::load(dir, snapshot_dir)?);
        let retry_horizon = Arc::new(AtomicU64::new(0));
        let db = open_db(&dir.join(DB_NAME), &retry_horizon, &memory)?;
        let buffer = DoubleBuffer::start(db, retry_horizon, memory, max_unflushed, metrics)?;
        Ok(Self { buffer, snapshots })
    }

    /// What the state database holds in memory outside the block cache, and the shared block
    /// cache's usage (the Raft log's database shares it).
    pub fn memory_usage(&self) -> (super::DbMemoryUsage, u64) {
        let db = self.buffer.db().map(|db| super::schema::db_memory_usage(&db)).unwrap_or_default();
        (db, self.buffer.memory().block_cache_usage())
    }

    /// Rows and estimated bytes of the volume, bucket and prefix tables, which are held whole in
    /// memory (a miss there means the row does not exist, so they cannot be bounded like a cache).
    pub fn whole_tables(&self) -> namespace::Footprint {
        self.buffer.whole_tables()
    }

    /// Answers a query from the current state (this node's, whatever its role: callers check
    /// leadership and the read index first). The one way requests read the namespace.
    pub fn read(&self, op: &ReadOp) -> Result<ReadResponse, ApiError> {
        match op {
            ReadOp::Digest => {
                let applied_index = self.buffer.applied_index();
                let (digest, entries) = namespace::digest(&*self.buffer)?;
                Ok(ReadResponse::Digest { digest, applied_index, entries })
            }
            op => namespace::query(&*self.buffer, op),
        }
    }

    /// Typed lookups of single rows in the current state: what the authorization of a request
    /// reads (the same state [`Self::read`] answers from).
    pub fn lookup(&self) -> namespace::Lookup<'_> {
        namespace::Lookup::new(&*self.buffer)
    }

    /// Open keys created before `created_before_ms`, at most `limit`: what the leader's
    /// open-key cleanup proposes to expire (see [`namespace::expired_open_keys`]).
    pub fn expired_open_keys(&self, created_before_ms: u64, limit: usize) -> Result<Vec<OpenKeyId>, ApiError> {
        namespace::expired_open_keys(&*self.buffer, created_before_ms, limit)
    }

    /// Raw rows of the tables (cache over RocksDB), for tests of the store itself that check
    /// rows no [`ReadOp`] answers, such as the retry cache. Requests read through
    /// [`Self::read`].
    pub fn tables(&self) -> &impl TableRead {
        &*self.buffer
    }

    /// The log index of the applied prepare entry while the ring is prepared for an upgrade
    /// (see [`namespace::prepared_index`]); `None` also when the marker cannot be read, which
    /// apply reports itself.
    pub fn prepared_index(&self) -> Option<u64> {
        namespace::prepared_index(&*self.buffer).ok().flatten()
    }

    /// Whether the retry cache holds an answer for `request_id` (a retried write).
    pub fn has_retry_row(&self, request_id: &str) -> bool {
        self.buffer.get(Table::RetryCache, request_id.as_bytes()).ok().flatten().is_some()
    }

    /// Highest log index written to RocksDB.
    pub fn flushed_index(&self) -> u64 {
        self.buffer.flushed_index()
    }

    /// Highest log index applied (possibly not yet flushed).
    pub fn applied_index(&self) -> u64 {
        self.buffer.applied_index()
    }

    /// Blocks until everything applied so far is written to RocksDB.
    pub fn flush(&self) -> Result<(), io::Error> {
        self.buffer.barrier()
    }

    /// Writes everything applied to RocksDB and closes the state database (see
    /// [`DoubleBuffer::close`]); reads fail afterwards. For a node that stops.
    pub fn close(&self) -> Result<(), io::Error> {
        self.buffer.close()
    }

    /// A path where an incoming snapshot can be written before it is installed.
    pub fn incoming_snapshot_path(&self) -> PathBuf {
        self.snapshots.incoming_path()
    }
}

fn noop_response(index: u64) -> WriteResponse {
    WriteResponse { outcome: WriteOutcome::Noop, log_index: index, replayed: false }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotFile;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let a = self.buffer.lock_applied().clone();
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
                    self.buffer.submit(std::mem::take(&mut pending))?;
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
                        let (res, cmd_muts) = namespace::execute(&*self.buffer, cmd, txn);
                        self.buffer.note_request_time(cmd.now_ms);
                        // Staged at once: the next command of a batch reads what this one wrote.
                        self.buffer.stage(index, &cmd_muts);
                        results.push(res);
                        muts.extend(cmd_muts);
                    }
                    (results, muts, None)
                }
                EntryPayload::Membership(m) => {
                    (vec![Ok(noop_response(index))], Vec::new(), Some(StoredMembership::new(Some(log_id.clone()), m)))
                }
            };
            let transactions = results.len().max(1);
            let permits = self.buffer.reserve(transactions, &mut pending).await?;
            {
                let mut a = self.buffer.lock_applied();
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
                self.buffer.submit(std::mem::take(&mut pending))?;
            }
        }
        if !pending.is_empty() {
            self.buffer.submit(pending)?;
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta, snapshot: SnapshotFile) -> Result<(), io::Error> {
        let this = self.clone();
        let meta = meta.clone();
        tokio::task::spawn_blocking(move || this.snapshots.install(&this.buffer, &meta, &snapshot.path))
            .await
            .map_err(io_err)?
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        Ok(self.snapshots.latest())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotFile;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.snapshots.build(&this.buffer)).await.map_err(io_err)?
    }
}
