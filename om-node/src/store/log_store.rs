//! The Raft log and vote in their own RocksDB (`<db dir>/raft-log`).
//!
//! Appends are written to RocksDB at once (so they are readable when `append` returns) and
//! acknowledged to openraft only after a background syncer fsynced the WAL. The syncer takes
//! every append queued while it was syncing into one fsync: group commit, without blocking the
//! Raft core on the disk. The vote is written with a synchronous fsync before it is answered.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{mpsc, Arc};

use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::OptionalSend;
use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use serde::{de::DeserializeOwned, Serialize};

use crate::types::{Entry, LogId, TypeConfig, Vote};

const CF_LOGS: &str = "logs";
const CF_META: &str = "meta";
const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_LAST_PURGED: &[u8] = b"last_purged";

/// Log storage; cloning shares the same database (the clone is also the log reader).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
    syncer: mpsc::Sender<IOFlushed<TypeConfig>>,
}

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

impl LogStore {
    /// Opens (or creates) the log database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, io::Error> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let cfs = [CF_LOGS, CF_META].map(|n| ColumnFamilyDescriptor::new(n, Options::default()));
        let db = Arc::new(
            DB::open_cf_descriptors(&opts, dir, cfs)
                .map_err(|e| io::Error::other(format!("cannot open Raft log database {}: {e}", dir.display())))?,
        );
        let (tx, rx) = mpsc::channel::<IOFlushed<TypeConfig>>();
        let sync_db = Arc::clone(&db);
        let alive = super::ThreadGuard::new();
        std::thread::Builder::new().name("raft-log-sync".into()).spawn(move || {
            let _alive = alive;
            run_syncer(sync_db, rx)
        })?;
        Ok(Self { db, syncer: tx })
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
                let (_, v) = kv.map_err(io_err)?;
                let entry: Entry = serde_json::from_slice(&v).map_err(io_err)?;
                Ok(Some(entry.log_id))
            }
        }
    }
}

/// Fsyncs the WAL for every batch of queued appends and then acknowledges them in order.
fn run_syncer(db: Arc<DB>, rx: mpsc::Receiver<IOFlushed<TypeConfig>>) {
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
        let cf = self.cf(CF_LOGS)?;
        let mut out = Vec::new();
        for kv in self.db.iterator_cf(cf, IteratorMode::From(&index_key(start), Direction::Forward)) {
            let (k, v) = kv.map_err(io_err)?;
            let idx = u64::from_be_bytes(k.as_ref().try_into().map_err(io_err)?);
            if !range.contains(&idx) {
                break;
            }
            out.push(serde_json::from_slice(&v).map_err(io_err)?);
        }
        Ok(out)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.get_meta(KEY_VOTE)
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
        self.put_meta(KEY_VOTE, vote, true)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        self.put_meta(KEY_COMMITTED, &committed, false)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.get_meta::<Option<LogId>>(KEY_COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let cf = self.cf(CF_LOGS)?;
        let mut batch = WriteBatch::default();
        for entry in entries {
            let bytes = serde_json::to_vec(&entry).map_err(io_err)?;
            batch.put_cf(cf, index_key(entry.log_id.index), bytes);
        }
        self.db.write(batch).map_err(io_err)?;
        self.syncer.send(callback).map_err(|_| io_err("Raft log syncer thread has stopped"))
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map(|l| l.index + 1).unwrap_or(0);
        let cf = self.cf(CF_LOGS)?;
        self.db.delete_range_cf(cf, index_key(from), index_key(u64::MAX)).map_err(io_err)?;
        self.db.delete_cf(cf, index_key(u64::MAX)).map_err(io_err)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_META)?, KEY_LAST_PURGED, serde_json::to_vec(&log_id).map_err(io_err)?);
        batch.delete_range_cf(self.cf(CF_LOGS)?, index_key(0), index_key(log_id.index + 1));
        self.db.write(batch).map_err(io_err)
    }
}
