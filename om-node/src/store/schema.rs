//! How the state database is laid out: its directory, column families and their options, the
//! applied position it records, and the directory repair after an interrupted installation.
//!
//! One column family per [`Table`], plus `meta` with `TRANSACTIONINFO` (the last applied log id)
//! and the membership. The tables have bloom filters in their SST files and memtables, so the
//! lookups that miss (a new key, a new request id in the retry cache) skip the skip-list and file
//! searches.
//!
//! The state database writes no WAL: the Raft log is its write-ahead log. Its column families
//! are flushed atomically, so after a crash every table and `TRANSACTIONINFO` are at the same
//! earlier point, and openraft replays the log from there. The log is purged only behind a
//! snapshot, and building one (a checkpoint) flushes the memtables first, so the entries a
//! replay needs are still there.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rocksdb::{BlockBasedOptions, ColumnFamilyDescriptor, IteratorMode, Options, WriteBatch, DB};

use crate::namespace::{self, MemTables, Table, Value};
use crate::types::{LogId, StoredMembership};

use super::io_err;

const CF_META: &str = "meta";
const KEY_TRANSACTION_INFO: &[u8] = b"TRANSACTIONINFO";
const KEY_MEMBERSHIP: &[u8] = b"MEMBERSHIP";
/// How the rows of this database are encoded; written when the database is created.
const KEY_FORMAT: &[u8] = b"STATE_FORMAT";
/// The rows' encoding: postcard of the `om_client::wire` records and the node's own rows.
/// Postcard encodes fields by position, so any change to a stored type needs a new value here.
/// `rows-2`: volume, bucket and key rows carry ACLs, and prefix ACLs have their table.
const FORMAT: &[u8] = b"rows-2";
/// The state database, under the state directory.
pub(super) const DB_NAME: &str = "om.db";
/// The database an installation moved aside, until the new one is in place.
pub(super) const DB_OLD: &str = "om.db.old";
/// A snapshot being unpacked, until it replaces the database.
pub(super) const DB_INCOMING: &str = "om.db.incoming";
/// The snapshot archives' directory under the state directory, unless configured elsewhere.
pub const SNAPSHOT_DIR: &str = "snapshots";

/// Memory a node's RocksDB databases may use: one LRU block cache shared by every column
/// family of both (`omring.db.block.cache.size`) and, per database, one budget for all its
/// memtables (`omring.db.write.buffer.size`; reaching it flushes them). Without them RocksDB
/// gives every column family its own 32 MiB cache and up to two 64 MiB memtables.
#[derive(Clone)]
pub struct DbMemory {
    cache: rocksdb::Cache,
    write_buffer_bytes: usize,
}

impl DbMemory {
    pub fn new(block_cache_bytes: usize, write_buffer_bytes: usize) -> Self {
        DbMemory { cache: rocksdb::Cache::new_lru_cache(block_cache_bytes), write_buffer_bytes }
    }

    /// Bytes held in the shared block cache now.
    pub fn block_cache_usage(&self) -> u64 {
        self.cache.get_usage() as u64
    }

    /// Options of a database within this budget.
    pub(super) fn db_options(&self) -> Options {
        let mut opts = Options::default();
        opts.set_db_write_buffer_size(self.write_buffer_bytes);
        opts
    }

    /// Options of a column family using the shared block cache, with `block` for the rest of
    /// its table format. The SST files' index and filter blocks stay outside the cache, in each
    /// open file's reader (`om_memory_table_reader_bytes`, about 13 MiB per million keys): kept in
    /// the cache, full or partitioned, they made lookups 1.6-2.6x and creates 1.9-2.8x slower at
    /// a million keys (omring-bench scale, README "Memory").
    pub(super) fn column_options(&self, mut block: BlockBasedOptions) -> Options {
        block.set_block_cache(&self.cache);
        let mut opts = Options::default();
        opts.set_block_based_table_factory(&block);
        opts.set_write_buffer_size(self.write_buffer_bytes.min(64 << 20));
        opts
    }
}

impl Default for DbMemory {
    fn default() -> Self {
        DbMemory::new(64 << 20, 64 << 20)
    }
}

/// Applied state as openraft sees it.
#[derive(Default, Clone)]
pub(super) struct Applied {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
}

/// Options of a table's column family: bloom filters on SST files (10 bits per key, about 1%
/// false positives) and on the memtable, so point lookups of absent keys are cheap.
/// The retry cache's compaction filter removes rows far behind `horizon` (the latest request
/// time applied here; 0 removes nothing).
fn table_options(table: Table, horizon: &Arc<AtomicU64>, memory: &DbMemory) -> Options {
    let mut block = BlockBasedOptions::default();
    block.set_bloom_filter(10.0, false);
    let mut opts = memory.column_options(block);
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

pub(super) fn open_db(path: &Path, horizon: &Arc<AtomicU64>, memory: &DbMemory) -> Result<DB, io::Error> {
    let mut opts = memory.db_options();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    // Without a WAL, only atomic flushes keep the tables and TRANSACTIONINFO consistent on disk.
    opts.set_atomic_flush(true);
    let mut cfs: Vec<ColumnFamilyDescriptor> = Table::ALL
        .iter()
        .map(|t| ColumnFamilyDescriptor::new(t.cf_name(), table_options(*t, horizon, memory)))
        .collect();
    cfs.push(ColumnFamilyDescriptor::new(CF_META, memory.column_options(BlockBasedOptions::default())));
    // A database with other column families is not ours: RocksDB refuses to open it and says
    // which it did not expect.
    let db = DB::open_cf_descriptors(&opts, path, cfs)
        .map_err(|e| io::Error::other(format!("cannot open state database {}: {e}", path.display())))?;
    check_format(&db, path)?;
    Ok(db)
}

/// Refuses a database whose rows are in another encoding (an older om-node's, whose rows have
/// no ACLs: postcard would misread them) with a message saying so, and marks a new database
/// with the current one.
fn check_format(db: &DB, path: &Path) -> Result<(), io::Error> {
    let meta = db.cf_handle(CF_META).ok_or_else(|| io_err("meta column family missing"))?;
    match db.get_cf(meta, KEY_FORMAT).map_err(io_err)? {
        Some(f) if f == FORMAT => Ok(()),
        Some(f) => Err(io_err(format!(
            "state database {} is in format {:?}; this om-node reads {:?}",
            path.display(),
            String::from_utf8_lossy(&f),
            String::from_utf8_lossy(FORMAT)
        ))),
        None => {
            let used = db.get_cf(meta, KEY_TRANSACTION_INFO).map_err(io_err)?.is_some()
                || Table::ALL.iter().any(|t| {
                    db.cf_handle(t.cf_name()).is_some_and(|cf| db.iterator_cf(cf, IteratorMode::Start).next().is_some())
                });
            if used {
                return Err(io_err(format!(
                    "state database {} was written by an older om-node (rows without ACLs, format \
                     before {:?}) and cannot be read: remove the node's data directory and let the \
                     node rejoin the ring",
                    path.display(),
                    String::from_utf8_lossy(FORMAT)
                )));
            }
            // The database writes no WAL of its own otherwise: this one write is synced so the
            // mark survives a crash before the first flush.
            let mut wo = rocksdb::WriteOptions::default();
            wo.set_sync(true);
            db.put_cf_opt(meta, KEY_FORMAT, FORMAT, &wo).map_err(io_err)
        }
    }
}

pub(super) fn read_applied(db: &DB) -> Result<Applied, io::Error> {
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

/// Adds to `batch` what [`read_applied`] reads back: `last_applied`, and the membership if it
/// changed.
pub(super) fn write_applied(
    db: &DB,
    batch: &mut WriteBatch,
    last_applied: Option<&LogId>,
    membership: Option<&StoredMembership>,
) -> Result<(), io::Error> {
    let meta = db.cf_handle(CF_META).ok_or_else(|| io_err("meta column family missing"))?;
    batch.put_cf(meta, KEY_TRANSACTION_INFO, serde_json::to_vec(&last_applied).map_err(io_err)?);
    if let Some(mem) = membership {
        batch.put_cf(meta, KEY_MEMBERSHIP, serde_json::to_vec(mem).map_err(io_err)?);
    }
    Ok(())
}

/// Every row of the [`Table::fully_cached`] tables.
pub(super) fn load_full_tables(db: &DB) -> Result<MemTables, io::Error> {
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
pub(super) fn recover_dirs(dir: &Path) -> Result<(), io::Error> {
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

/// Memory one RocksDB database holds outside the block cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DbMemoryUsage {
    /// Memtables, flushed or not yet.
    pub memtables: u64,
    /// Open SST files' readers: their index and filter blocks unless those are in the block cache.
    pub table_readers: u64,
}

/// What `db` holds in memory now (zeros when RocksDB cannot say).
pub(super) fn db_memory_usage(db: &DB) -> DbMemoryUsage {
    match rocksdb::perf::get_memory_usage_stats(Some(&[db]), None) {
        Ok(m) => DbMemoryUsage { memtables: m.mem_table_total, table_readers: m.mem_table_readers_total },
        Err(_) => DbMemoryUsage::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_of_another_format_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        // An older om-node's database: its tables (no prefix table) and a row, no format mark.
        let old = dir.path().join("old.db");
        {
            let mut opts = Options::default();
            opts.create_if_missing(true);
            opts.create_missing_column_families(true);
            let names = Table::ALL.iter().filter(|t| **t != Table::Prefixes).map(|t| t.cf_name()).chain([CF_META]);
            let db = DB::open_cf(&opts, &old, names).unwrap();
            db.put_cf(db.cf_handle(Table::Volumes.cf_name()).unwrap(), b"/vol", b"\x01row").unwrap();
        }
        let err = open_db(&old, &Arc::default(), &DbMemory::default()).unwrap_err().to_string();
        assert!(err.contains("written by an older om-node") && err.contains("\"rows-2\""), "{err}");
        // A new database is marked and opens again; another mark is refused, naming both.
        let new = dir.path().join("new.db");
        drop(open_db(&new, &Arc::default(), &DbMemory::default()).unwrap());
        let db = open_db(&new, &Arc::default(), &DbMemory::default()).unwrap();
        db.put_cf(db.cf_handle(CF_META).unwrap(), KEY_FORMAT, b"rows-9").unwrap();
        drop(db);
        let err = open_db(&new, &Arc::default(), &DbMemory::default()).unwrap_err().to_string();
        assert!(err.contains("in format \"rows-9\"; this om-node reads \"rows-2\""), "{err}");
    }

    /// The SST readers' memory, which grows with the data outside the block cache, shows in the
    /// gauge the node reports.
    #[test]
    fn sst_readers_memory_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let memory = DbMemory::new(8 << 20, 4 << 20);
        let db = open_db(&dir.path().join("om.db"), &Arc::default(), &memory).unwrap();
        let keys = db.cf_handle(Table::Keys.cf_name()).unwrap();
        let empty = db_memory_usage(&db).table_readers;
        for chunk in 0..20u32 {
            let mut batch = WriteBatch::default();
            for i in 0..10_000u32 {
                let n = chunk * 10_000 + i;
                batch.put_cf(&keys, format!("/vol/bucket/key-{n:08x}"), [7u8; 64]);
            }
            db.write_without_wal(batch).unwrap();
        }
        db.flush_cf(&keys).unwrap();
        db.compact_range_cf(&keys, None::<&[u8]>, None::<&[u8]>);
        let usage = db_memory_usage(&db);
        // Measured: 437 KB for 200,000 keys (index and bloom filter, about 2.2 bytes a key);
        // 50 KB when they were kept in the block cache instead.
        assert!(
            usage.table_readers > empty + (200 << 10),
            "SST readers hold {} bytes (empty: {empty})",
            usage.table_readers
        );
    }
}
