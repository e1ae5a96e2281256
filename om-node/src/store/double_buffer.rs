//! Ozone's *double buffer*: applied state in memory over RocksDB, written behind the clients'
//! answers.
//!
//! Applying an entry runs the namespace logic, puts its mutations into an in-memory table cache
//! (tagged with the log index), answers the client, and queues the mutations for the flusher.
//! The flusher thread gathers applied transactions for a few milliseconds and writes them in one
//! RocksDB `WriteBatch` together with `TRANSACTIONINFO` (the last applied log id) and the
//! membership, then evicts the cache entries it wrote (open keys excepted, up to a bound: their
//! commit is coming). Reads go through the cache first, so they see applied but unflushed data.
//! A semaphore bounds the unflushed transactions: when RocksDB falls behind, apply waits.
//!
//! The volume, bucket and prefix tables are also held whole in memory
//! ([`Table::fully_cached`]): a read of them never reaches RocksDB, and a miss there means the
//! row does not exist.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, RwLock, RwLockWriteGuard, Weak};
use std::time::{Duration, Instant};

use rocksdb::{Direction, IteratorMode, WriteBatch, WriteOptions, DB};

use crate::metrics::NodeMetrics;
use crate::namespace::{MemTables, Mutation, Table, TableAccess, TableError, TableRead, Value};
use crate::types::{LogId, StoredMembership};

use super::io_err;
use super::schema::{load_full_tables, read_applied, write_applied, Applied, DbMemory};

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

struct CacheEntry {
    epoch: u64,
    value: Option<Value>,
}

/// One applied log entry on its way to RocksDB.
pub(super) struct FlushTx {
    pub log_id: LogId,
    pub muts: Vec<Mutation>,
    pub membership: Option<StoredMembership>,
    /// Client commands in the entry (one for an entry without any).
    pub transactions: usize,
    /// Backpressure permits the entry holds until it is flushed.
    pub permits: u32,
}

enum FlushMsg {
    /// Applied transactions, in log order.
    Txs(Vec<FlushTx>),
    Barrier(mpsc::SyncSender<()>),
}

/// The state as applied: the table cache and full tables over the database, the applied and
/// flushed positions, and the flusher's queue. Shared by apply, the flusher, readers and
/// snapshots.
pub(super) struct DoubleBuffer {
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
    /// The block cache and memtable budget every opening of the database shares.
    memory: DbMemory,
    metrics: Arc<NodeMetrics>,
}

impl DoubleBuffer {
    /// Serves `db` (opened with `retry_horizon`) from its recorded applied position, and starts
    /// the flusher thread.
    pub(super) fn start(
        db: DB,
        retry_horizon: Arc<AtomicU64>,
        memory: DbMemory,
        max_unflushed: usize,
        metrics: Arc<NodeMetrics>,
    ) -> Result<Arc<Self>, io::Error> {
        let applied = read_applied(&db)?;
        let full = load_full_tables(&db)?;
        let flushed = applied.last_applied.as_ref().map(|l| l.index).unwrap_or(0);
        let (tx, rx) = mpsc::channel();
        let buffer = Arc::new(DoubleBuffer {
            db: RwLock::new(Some(Arc::new(db))),
            cache: RwLock::new(HashMap::new()),
            full: RwLock::new(full),
            applied: Mutex::new(applied),
            flusher: Mutex::new(tx),
            permits: Arc::new(tokio::sync::Semaphore::new(max_unflushed.max(1))),
            max_unflushed: max_unflushed.max(1),
            flushed_index: AtomicU64::new(flushed),
            retry_horizon,
            memory,
            metrics,
        });
        let weak = Arc::downgrade(&buffer);
        let alive = super::ThreadGuard::new();
        std::thread::Builder::new().name("double-buffer".into()).spawn(move || {
            let _alive = alive;
            run_flusher(weak, rx, (max_unflushed / 2).max(1))
        })?;
        Ok(buffer)
    }

    pub(super) fn db(&self) -> Result<Arc<DB>, io::Error> {
        self.db.read().unwrap_or_else(|p| p.into_inner()).clone().ok_or_else(|| {
            io_err("the state database is closed (the node stopped, or a snapshot installation could not reopen it)")
        })
    }

    /// Writes everything queued to RocksDB and closes the database, releasing its lock, once
    /// in-flight readers let go of it (bounded by [`CLOSE_TIMEOUT`]). Later reads fail with
    /// [`TableError::DatabaseClosed`]. A node stopping calls this: whoever still holds the
    /// node (a connection finishing) must not keep the database open for a restart in the
    /// same process.
    pub(super) fn close(&self) -> Result<(), io::Error> {
        self.barrier()?;
        close_slot(&mut self.lock_db()).map_err(|e| io_err(format!("{e}, when the node stopped")))
    }

    /// The database for a read of `table`, or why there is none.
    fn db_for(&self, table: Table, access: TableAccess) -> Result<Arc<DB>, TableError> {
        self.db.read().unwrap_or_else(|p| p.into_inner()).clone().ok_or(TableError::DatabaseClosed { table, access })
    }

    /// Exclusive use of the database slot, for a snapshot installation: readers of RocksDB wait
    /// until the guard is dropped. See [`Self::reset`].
    pub(super) fn lock_db(&self) -> RwLockWriteGuard<'_, Option<Arc<DB>>> {
        self.db.write().unwrap_or_else(|p| p.into_inner())
    }

    /// After a snapshot installation put a new database in the slot (under [`Self::lock_db`]):
    /// serves its full tables, drops the cache, and takes `applied` as both the applied and the
    /// flushed position.
    pub(super) fn reset(&self, full: MemTables, applied: Applied) {
        *self.full.write().unwrap_or_else(|p| p.into_inner()) = full;
        self.cache.write().unwrap_or_else(|p| p.into_inner()).clear();
        let flushed = applied.last_applied.as_ref().map(|l| l.index).unwrap_or(0);
        *self.lock_applied() = applied;
        self.flushed_index.store(flushed, Ordering::Release);
    }

    /// What the retry cache's compaction filter compares rows with (see
    /// [`super::schema::open_db`]).
    pub(super) fn retry_horizon(&self) -> &Arc<AtomicU64> {
        &self.retry_horizon
    }

    /// What the [`Table::fully_cached`] tables hold in memory.
    pub(super) fn whole_tables(&self) -> crate::namespace::Footprint {
        self.full.read().unwrap_or_else(|p| p.into_inner()).footprint()
    }

    /// The block cache and memtable budget the database is opened with.
    pub(super) fn memory(&self) -> &DbMemory {
        &self.memory
    }

    /// Records the time of an applied request for the retry cache's compaction filter.
    pub(super) fn note_request_time(&self, now_ms: u64) {
        self.retry_horizon.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// Puts applied mutations where reads find them: the full table cache, else the table
    /// cache tagged with the entry's index (evicted once that index is flushed).
    pub(super) fn stage(&self, index: u64, muts: &[Mutation]) {
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

    /// Backpressure: takes the permits of an entry of `transactions` client commands, waiting
    /// while too many transactions are unflushed. Hands `pending` to the flusher before it
    /// waits, or the flusher could never release the permits. A batch takes a permit per
    /// command, or the whole bound if it is larger. Returns the permits taken.
    pub(super) async fn reserve(&self, transactions: usize, pending: &mut Vec<FlushTx>) -> Result<u32, io::Error> {
        let permits = transactions.min(self.max_unflushed) as u32;
        match self.permits.try_acquire_many(permits) {
            Ok(p) => p.forget(),
            Err(_) => {
                self.submit(std::mem::take(pending))?;
                self.permits.acquire_many(permits).await.map_err(|_| io_err("double buffer closed"))?.forget();
            }
        }
        Ok(permits)
    }

    pub(super) fn lock_applied(&self) -> MutexGuard<'_, Applied> {
        self.applied.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Highest log index applied (possibly not yet flushed).
    pub(super) fn applied_index(&self) -> u64 {
        self.lock_applied().last_applied.as_ref().map(|l| l.index).unwrap_or(0)
    }

    /// Highest log index written to RocksDB.
    pub(super) fn flushed_index(&self) -> u64 {
        self.flushed_index.load(Ordering::Acquire)
    }

    /// Queues applied transactions, in log order, for the flusher.
    pub(super) fn submit(&self, txs: Vec<FlushTx>) -> Result<(), io::Error> {
        self.send(FlushMsg::Txs(txs))
    }

    fn send(&self, msg: FlushMsg) -> Result<(), io::Error> {
        self.flusher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(msg)
            .map_err(|_| io_err("double-buffer flusher has stopped"))
    }

    /// Blocks until everything queued so far is written to RocksDB.
    pub(super) fn barrier(&self) -> Result<(), io::Error> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(FlushMsg::Barrier(tx))?;
        rx.recv().map_err(|_| io_err("double-buffer flusher has stopped"))
    }
}

/// A RocksDB failure of a read of `table`.
fn storage(table: Table, access: TableAccess) -> impl Fn(rocksdb::Error) -> TableError {
    move |e| TableError::Storage { table, access, source: Box::new(e) }
}

impl TableRead for DoubleBuffer {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Value>, TableError> {
        if table.fully_cached() {
            return self.full.read().unwrap_or_else(|p| p.into_inner()).get(table, key);
        }
        {
            let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = cache.get(&table).and_then(|m| m.get(key)) {
                return Ok(e.value.clone());
            }
        }
        let access = TableAccess::Get;
        let db = self.db_for(table, access)?;
        let cf = db.cf_handle(table.cf_name()).ok_or(TableError::MissingColumnFamily { table, access })?;
        db.get_cf(cf, key).map(|o| o.map(Value::from)).map_err(storage(table, access))
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        start_after: &[u8],
        max: usize,
    ) -> Result<Vec<(Vec<u8>, Value)>, TableError> {
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
        let access = TableAccess::Scan;
        let db = self.db_for(table, access)?;
        let cf = db.cf_handle(table.cf_name()).ok_or(TableError::MissingColumnFamily { table, access })?;
        let mut disk = db
            .iterator_cf(cf, IteratorMode::From(&lower, Direction::Forward))
            .map(|kv| kv.map_err(storage(table, access)))
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

/// How long closing the database waits for in-flight readers to release it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Closes the database in `slot` (held under [`DoubleBuffer::lock_db`]) once in-flight readers
/// released their handles, leaving the slot empty; an empty slot is already closed. If they
/// do not within [`CLOSE_TIMEOUT`], the database stays in the slot and the error says so.
pub(super) fn close_slot(slot: &mut Option<Arc<DB>>) -> Result<(), String> {
    let Some(mut db) = slot.take() else { return Ok(()) };
    let deadline = Instant::now() + CLOSE_TIMEOUT;
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
            Err(shared) => {
                *slot = Some(shared);
                return Err(format!("the state database is still in use after {CLOSE_TIMEOUT:?}"));
            }
        }
    }
}

/// The flusher: gathers applied transactions for up to [`FLUSH_INTERVAL`] (or until they hold
/// `flush_at` permits, or a barrier), writes them in one batch, evicts, releases permits.
fn run_flusher(buffer: Weak<DoubleBuffer>, rx: mpsc::Receiver<FlushMsg>, flush_at: usize) {
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
        let Some(buffer) = buffer.upgrade() else { return };
        if !txs.is_empty() {
            let started = Instant::now();
            let mut backoff = Duration::from_millis(100);
            while let Err(e) = write_batch(&buffer, &txs) {
                tracing::error!(error = %e, "double buffer cannot write to RocksDB; retrying");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            let last = txs.last().map(|t| t.log_id.index).unwrap_or(0);
            {
                let mut cache = buffer.cache.write().unwrap_or_else(|p| p.into_inner());
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
            buffer.flushed_index.store(last, Ordering::Release);
            buffer.permits.add_permits(txs.iter().map(|t| t.permits as usize).sum());
            buffer.metrics.observe_flush(txs.iter().map(|t| t.transactions).sum(), started.elapsed());
        }
        // Release our reference before acknowledging barriers: whoever waited on a barrier may
        // drop the store and reopen the database at once, which needs the last Arc to be gone.
        drop(buffer);
        for b in barriers {
            let _ = b.send(());
        }
    }
}

fn write_batch(buffer: &DoubleBuffer, txs: &[FlushTx]) -> Result<(), io::Error> {
    let db = buffer.db()?;
    let mut batch = WriteBatch::default();
    for m in final_writes(txs) {
        let cf = db.cf_handle(m.table.cf_name()).ok_or_else(|| io_err("column family missing"))?;
        match &m.value {
            Some(v) => batch.put_cf(cf, &m.key, v),
            None => batch.delete_cf(cf, &m.key),
        }
    }
    let membership = txs.iter().rev().find_map(|t| t.membership.as_ref());
    write_applied(&db, &mut batch, txs.last().map(|t| &t.log_id), membership)?;
    let mut no_wal = WriteOptions::default();
    no_wal.disable_wal(true);
    db.write_opt(batch, &no_wal).map_err(io_err)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::TypeConfig;

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
