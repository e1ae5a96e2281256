//! The Raft log and vote in their own RocksDB (`<db dir>/raft-log`).
//!
//! Appends are written to RocksDB at once (so they are readable when `append` returns) and
//! acknowledged to openraft only after a background syncer fsynced the WAL. The syncer takes
//! every append queued while it was syncing into one fsync: group commit, without blocking the
//! Raft core on the disk. The vote is written with a synchronous fsync before it is answered.
//!
//! Entries are stored in the compact binary form of [`encode_bin`]. The most recently appended
//! entries are also kept in memory (a bounded suffix of the log), so replication to followers
//! and apply read them without going back to RocksDB and decoding them again; the vote is kept
//! in memory too (openraft reads it twice for every replication read).

use std::collections::VecDeque;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};

use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::OptionalSend;
use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, WriteBatch, WriteOptions, DB};
use serde::{de::DeserializeOwned, Serialize};

use crate::types::{decode_bin, encode_bin, Entry, LogId, TypeConfig, Vote};

use super::io_err;
use super::schema::DbMemory;

const CF_LOGS: &str = "logs";
const CF_META: &str = "meta";
const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_LAST_PURGED: &[u8] = b"last_purged";
/// How the entries of this database are encoded; written when the first log is created.
const KEY_FORMAT: &[u8] = b"log_format";
/// The log's encoding: postcard of [`crate::command::Proposal`] entries. Any change to the
/// encoded types needs a new value here (and an upgrade path). `postcard-3`: creates carry the
/// creator's ACLs, and the ACL operations exist.
const FORMAT: &[u8] = b"postcard-3";

/// Bounds of the log's in-memory suffix (`omring.raft.log.cache.entries`,
/// `omring.raft.log.cache.size`); its RocksDB memory is a [`DbMemory`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogMemory {
    pub cache_entries: usize,
    pub cache_bytes: usize,
}

impl Default for LogMemory {
    fn default() -> Self {
        LogMemory { cache_entries: 8192, cache_bytes: 64 << 20 }
    }
}

/// The log's database, and a flag raised once it is closed. Fields drop in order: the flag is
/// raised only after RocksDB's own close (and the release of its lock) returned. The count of
/// handles alone cannot say that: it reaches zero before the last handle's drop runs.
struct LogDb {
    db: DB,
    _closed: ClosedFlag,
}

impl std::ops::Deref for LogDb {
    type Target = DB;
    fn deref(&self) -> &DB {
        &self.db
    }
}

struct ClosedFlag(Arc<AtomicBool>);

impl Drop for ClosedFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Log storage; cloning shares the same database and memory (the clone is also the log reader).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<LogDb>,
    closed: Arc<AtomicBool>,
    syncer: mpsc::Sender<IOFlushed<TypeConfig>>,
    mem: Arc<Mutex<Memory>>,
}

/// See [`LogStore::memory_probe`].
#[derive(Clone)]
pub struct LogMemoryProbe {
    db: std::sync::Weak<LogDb>,
    mem: std::sync::Weak<Mutex<Memory>>,
    closed: Arc<AtomicBool>,
}

impl LogMemoryProbe {
    /// The entries and bytes of the in-memory suffix, and what the log's database holds in
    /// memory; `None` once the log is closed.
    pub fn memory_usage(&self) -> Option<(usize, usize, super::DbMemoryUsage)> {
        let (db, mem) = (self.db.upgrade()?, self.mem.upgrade()?);
        let (entries, bytes) = {
            let m = mem.lock().unwrap_or_else(|p| p.into_inner());
            (m.recent.len(), m.recent_bytes)
        };
        Some((entries, bytes, super::schema::db_memory_usage(&db)))
    }

    /// Whether the log's database is closed (its lock released): every handle, the sync
    /// thread's last, has been dropped and RocksDB's close has returned.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// What the log keeps in memory beside RocksDB.
#[derive(Default)]
struct Memory {
    /// Bounds of `recent`.
    max_entries: usize,
    max_bytes: usize,
    /// The last appended entries, contiguous by index, with their encoded sizes. Always a
    /// suffix of the log: every append lands here, truncation and purge cut it like the log.
    recent: VecDeque<(Entry, usize)>,
    recent_bytes: usize,
    /// The vote, once read or saved (`None` until then).
    vote: Option<Option<Vote>>,
    /// The committed log id openraft reported last, not yet written: it goes into the next
    /// append's write batch instead of a write of its own.
    committed: Option<Option<LogId>>,
}

impl Memory {
    fn first_index(&self) -> Option<u64> {
        self.recent.front().map(|(e, _)| e.log_id.index)
    }

    fn last_index(&self) -> Option<u64> {
        self.recent.back().map(|(e, _)| e.log_id.index)
    }

    fn clear(&mut self) {
        self.recent.clear();
        self.recent_bytes = 0;
    }

    /// Drops every entry at `index` and after.
    fn truncate_from(&mut self, index: u64) {
        while self.last_index().is_some_and(|last| last >= index) {
            if let Some((_, n)) = self.recent.pop_back() {
                self.recent_bytes -= n;
            }
        }
    }

    /// Drops every entry up to and including `index`.
    fn purge_to(&mut self, index: u64) {
        while self.first_index().is_some_and(|first| first <= index) {
            if let Some((_, n)) = self.recent.pop_front() {
                self.recent_bytes -= n;
            }
        }
    }

    fn push(&mut self, entry: Entry, size: usize) {
        let index = entry.log_id.index;
        match (self.first_index(), self.last_index()) {
            (Some(_), Some(last)) if index == last + 1 => {}
            (Some(first), Some(last)) if index >= first && index <= last => self.truncate_from(index),
            _ => self.clear(),
        }
        self.recent.push_back((entry, size));
        self.recent_bytes += size;
        while self.recent.len() > self.max_entries || (self.recent_bytes > self.max_bytes && self.recent.len() > 1) {
            if let Some((_, n)) = self.recent.pop_front() {
                self.recent_bytes -= n;
            }
        }
    }
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

impl LogStore {
    /// Opens (or creates) the log database in `dir` with the default memory bounds.
    pub fn open(dir: &Path) -> Result<Self, io::Error> {
        Self::open_with(dir, LogMemory::default(), &DbMemory::default())
    }

    /// Opens (or creates) the log database in `dir`, within `memory` and `db`.
    pub fn open_with(dir: &Path, memory: LogMemory, db: &DbMemory) -> Result<Self, io::Error> {
        let mut opts = db.db_options();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let cfs = [CF_LOGS, CF_META]
            .map(|n| ColumnFamilyDescriptor::new(n, db.column_options(rocksdb::BlockBasedOptions::default())));
        let closed = Arc::new(AtomicBool::new(false));
        let db = DB::open_cf_descriptors(&opts, dir, cfs)
            .map_err(|e| io::Error::other(format!("cannot open Raft log database {}: {e}", dir.display())))?;
        let db = Arc::new(LogDb { db, _closed: ClosedFlag(Arc::clone(&closed)) });
        check_format(&db, dir)?;
        let (tx, rx) = mpsc::channel::<IOFlushed<TypeConfig>>();
        let sync_db = Arc::clone(&db);
        let alive = super::ThreadGuard::new();
        std::thread::Builder::new().name("raft-log-sync".into()).spawn(move || {
            let _alive = alive;
            run_syncer(sync_db, rx)
        })?;
        let mem = Memory { max_entries: memory.cache_entries, max_bytes: memory.cache_bytes, ..Memory::default() };
        Ok(Self { db, closed, syncer: tx, mem: Arc::new(Mutex::new(mem)) })
    }

    /// A handle for reading the log's memory figures that does not keep the log open: the
    /// database closes when Raft drops the log, whoever holds the probe.
    pub fn memory_probe(&self) -> LogMemoryProbe {
        LogMemoryProbe {
            db: Arc::downgrade(&self.db),
            mem: Arc::downgrade(&self.mem),
            closed: Arc::clone(&self.closed),
        }
    }

    fn mem(&self) -> MutexGuard<'_, Memory> {
        self.mem.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily, io::Error> {
        self.db.cf_handle(name).ok_or_else(|| io_err(format!("column family {name} missing")))
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, io::Error> {
        match self.db.get_cf(self.cf(CF_META)?, key).map_err(io_err)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(io_err),
        }
    }

    fn put_meta<T: Serialize>(&self, key: &[u8], value: &T, sync: bool) -> Result<(), io::Error> {
        let bytes = serde_json::to_vec(value).map_err(io_err)?;
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        self.db.put_cf_opt(self.cf(CF_META)?, key, bytes, &wo).map_err(io_err)
    }

    fn last_entry_log_id(&self) -> Result<Option<LogId>, io::Error> {
        let mut it = self.db.iterator_cf(self.cf(CF_LOGS)?, IteratorMode::End);
        match it.next() {
            None => Ok(None),
            Some(kv) => {
                let (k, v) = kv.map_err(io_err)?;
                Ok(Some(decode_entry(&k, &v)?.log_id))
            }
        }
    }
}

/// Refuses a log written in another encoding (om-node before the binary log wrote JSON) with a
/// message saying so, and marks a new log with the current one.
fn check_format(db: &DB, dir: &Path) -> Result<(), io::Error> {
    let meta = db.cf_handle(CF_META).ok_or_else(|| io_err("column family meta missing"))?;
    let logs = db.cf_handle(CF_LOGS).ok_or_else(|| io_err("column family logs missing"))?;
    match db.get_cf(meta, KEY_FORMAT).map_err(io_err)? {
        Some(f) if f == FORMAT => Ok(()),
        Some(f) => Err(io_err(format!(
            "Raft log {} is in format {:?}; this om-node reads {:?}",
            dir.display(),
            String::from_utf8_lossy(&f),
            String::from_utf8_lossy(FORMAT)
        ))),
        None => {
            let empty = db.iterator_cf(logs, IteratorMode::Start).next().is_none();
            if !empty {
                return Err(io_err(format!(
                    "Raft log {} was written by an older om-node (JSON entries); this version stores \
                     entries in binary form and cannot read it: remove the node's data directory \
                     and let the node rejoin the ring",
                    dir.display()
                )));
            }
            let mut wo = WriteOptions::default();
            wo.set_sync(true);
            db.put_cf_opt(meta, KEY_FORMAT, FORMAT, &wo).map_err(io_err)
        }
    }
}

fn decode_entry(key: &[u8], value: &[u8]) -> Result<Entry, io::Error> {
    decode_bin(value).map_err(|e| {
        let index = <[u8; 8]>::try_from(key).map(u64::from_be_bytes).map(|i| i.to_string());
        io_err(format!("Raft log entry {}: {e}", index.unwrap_or_else(|_| format!("{key:?}"))))
    })
}

/// Fsyncs the WAL for every batch of queued appends and then acknowledges them in order.
fn run_syncer(db: Arc<LogDb>, rx: mpsc::Receiver<IOFlushed<TypeConfig>>) {
    while let Ok(first) = rx.recv() {
        let mut waiting = vec![first];
        waiting.extend(rx.try_iter());
        let result = db.flush_wal(true).map_err(|e| e.to_string());
        for cb in waiting {
            cb.io_completed(result.clone().map_err(io::Error::other));
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        {
            // The memory holds a suffix of the log: a range starting inside it is all there.
            let mem = self.mem();
            if let Some(first) = mem.first_index().filter(|&f| f <= start) {
                let skip = usize::try_from(start - first).unwrap_or(usize::MAX);
                return Ok(mem
                    .recent
                    .iter()
                    .skip(skip)
                    .take_while(|(e, _)| range.contains(&e.log_id.index))
                    .map(|(e, _)| e.clone())
                    .collect());
            }
        }
        let cf = self.cf(CF_LOGS)?;
        let mut out = Vec::new();
        for kv in self.db.iterator_cf(cf, IteratorMode::From(&index_key(start), Direction::Forward)) {
            let (k, v) = kv.map_err(io_err)?;
            let idx = u64::from_be_bytes(k.as_ref().try_into().map_err(io_err)?);
            if !range.contains(&idx) {
                break;
            }
            out.push(decode_entry(&k, &v)?);
        }
        Ok(out)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        if let Some(v) = &self.mem().vote {
            return Ok(v.clone());
        }
        let vote: Option<Vote> = self.get_meta(KEY_VOTE)?;
        self.mem().vote.get_or_insert_with(|| vote.clone());
        Ok(vote)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged: Option<LogId> = self.get_meta(KEY_LAST_PURGED)?;
        let last = self.last_entry_log_id()?.or_else(|| last_purged.clone());
        Ok(LogState { last_purged_log_id: last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        // Held across the write so a concurrent first read cannot cache the older vote.
        let mut mem = self.mem.lock().unwrap_or_else(|p| p.into_inner());
        let written = self.put_meta(KEY_VOTE, vote, true);
        mem.vote = match written {
            Ok(()) => Some(Some(vote.clone())),
            Err(_) => None,
        };
        written
    }

    /// Kept in memory and written with the next append (openraft calls this for every commit
    /// and allows the stored value to lag: a restart then re-applies from an earlier point).
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        self.mem().committed = Some(committed);
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        if let Some(c) = &self.mem().committed {
            return Ok(c.clone());
        }
        Ok(self.get_meta::<Option<LogId>>(KEY_COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let cf = self.cf(CF_LOGS)?;
        let mut batch = WriteBatch::default();
        let mut kept = Vec::new();
        for entry in entries {
            let bytes = encode_bin(&entry).map_err(|e| io_err(format!("Raft log entry {}: {e}", entry.log_id)))?;
            batch.put_cf(cf, index_key(entry.log_id.index), &bytes);
            kept.push((entry, bytes.len()));
        }
        {
            // Under the lock, so readers see RocksDB and memory change together.
            let mut mem = self.mem();
            if let Some(committed) = mem.committed.take() {
                batch.put_cf(self.cf(CF_META)?, KEY_COMMITTED, serde_json::to_vec(&committed).map_err(io_err)?);
            }
            self.db.write(batch).map_err(io_err)?;
            for (entry, size) in kept {
                mem.push(entry, size);
            }
        }
        self.syncer.send(callback).map_err(|_| io_err("Raft log syncer thread has stopped"))
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map(|l| l.index + 1).unwrap_or(0);
        let cf = self.cf(CF_LOGS)?;
        let mut mem = self.mem();
        self.db.delete_range_cf(cf, index_key(from), index_key(u64::MAX)).map_err(io_err)?;
        self.db.delete_cf(cf, index_key(u64::MAX)).map_err(io_err)?;
        mem.truncate_from(from);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_META)?, KEY_LAST_PURGED, serde_json::to_vec(&log_id).map_err(io_err)?);
        batch.delete_range_cf(self.cf(CF_LOGS)?, index_key(0), index_key(log_id.index + 1));
        let mut mem = self.mem();
        self.db.write(batch).map_err(io_err)?;
        mem.purge_to(log_id.index);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::EntryPayload;

    fn entry(term: u64, index: u64) -> Entry {
        Entry {
            log_id: openraft::testing::log_id::<TypeConfig>(term, crate::types::NodeId::from("om1"), index),
            payload: EntryPayload::Blank,
        }
    }

    fn indexes(m: &Memory) -> Vec<(u64, u64)> {
        m.recent.iter().map(|(e, _)| (e.log_id.leader_id.term, e.log_id.index)).collect()
    }

    #[test]
    fn memory_stays_a_contiguous_suffix() {
        let limits = LogMemory::default();
        let mut m = Memory { max_entries: limits.cache_entries, max_bytes: limits.cache_bytes, ..Memory::default() };
        for i in 1..=5 {
            m.push(entry(1, i), 10);
        }
        // A conflicting append replaces the tail from its index on.
        m.push(entry(2, 4), 10);
        assert_eq!(indexes(&m), vec![(1, 1), (1, 2), (1, 3), (2, 4)]);
        assert_eq!(m.recent_bytes, 40);
        m.truncate_from(3);
        m.purge_to(1);
        assert_eq!(indexes(&m), vec![(1, 2)]);
        // A gap (e.g. after a snapshot) starts over.
        m.push(entry(3, 10), 10);
        assert_eq!(indexes(&m), vec![(3, 10)]);
        m.purge_to(10);
        assert!(m.recent.is_empty());
        assert_eq!(m.recent_bytes, 0);
        for i in 0..(limits.cache_entries as u64 + 5) {
            m.push(entry(3, 11 + i), 1);
        }
        assert_eq!(m.recent.len(), limits.cache_entries);
        assert_eq!(m.first_index(), Some(16));
    }
}
