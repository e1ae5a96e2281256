//! The tables the namespace is stored in, how their rows and keys are written, and how they are
//! read: [`TableRead`] with its typed [`TableError`], and [`MemTables`] over plain maps.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use om_client::wire::{ApiError, ErrorCode};
use serde::{de::DeserializeOwned, Serialize};

/// The tables of the namespace, one RocksDB column family each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Volumes,
    Buckets,
    Keys,
    OpenKeys,
    DeletedKeys,
    /// Prefix ACLs (Ozone's prefix table): `/volume/bucket/dir/` -> [`super::PrefixInfo`].
    Prefixes,
    /// request id -> (leader's time of the request, applied result), so a retried write is
    /// answered, not re-applied. See [`super::retry_row_expired`] for how rows go away.
    RetryCache,
    /// State of the ring as a whole that the log decides: the prepare marker
    /// ([`super::prepared_index`]).
    RingState,
}

impl Table {
    pub const ALL: [Table; 8] = [
        Table::Volumes,
        Table::Buckets,
        Table::Keys,
        Table::OpenKeys,
        Table::DeletedKeys,
        Table::Prefixes,
        Table::RetryCache,
        Table::RingState,
    ];
    /// Whether replicas must agree on the table (what the digest covers): all but the retry
    /// cache, whose rows expire by each replica's compactions.
    pub fn in_digest(self) -> bool {
        self != Table::RetryCache
    }

    /// Tables held whole in memory as well as in RocksDB: few rows, read by nearly every
    /// write, so neither apply nor an ACL check searches RocksDB for them. Ozone does the same:
    /// a *full table cache* for volumes and buckets, and an in-memory tree of every prefix
    /// (`PrefixManagerImpl`), which every key write looks up for its prefix ACLs and DEFAULT
    /// ACLs to inherit, and which is nearly always a miss.
    pub fn fully_cached(self) -> bool {
        matches!(self, Table::Volumes | Table::Buckets | Table::Prefixes | Table::RingState)
    }

    pub fn cf_name(self) -> &'static str {
        match self {
            Table::Volumes => "volumeTable",
            Table::Buckets => "bucketTable",
            Table::Keys => "keyTable",
            Table::OpenKeys => "openKeyTable",
            Table::DeletedKeys => "deletedTable",
            Table::Prefixes => "prefixTable",
            Table::RetryCache => "retryCache",
            Table::RingState => "ringStateTable",
        }
    }
}

/// A table by its column family name.
impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.cf_name())
    }
}

pub type Value = Arc<[u8]>;

/// One change to a table: `None` deletes the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    pub table: Table,
    pub key: Vec<u8>,
    pub value: Option<Value>,
    /// The row did not exist before this change. A row created and deleted within one
    /// double-buffer flush never needs to reach RocksDB (an open key committed soon after).
    pub created: bool,
}

/// Read access to the tables (the double buffer's cache over RocksDB).
pub trait TableRead {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Value>, TableError>;
    /// Entries whose key starts with `prefix` and sorts after `start_after`, at most `max`.
    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        start_after: &[u8],
        max: usize,
    ) -> Result<Vec<(Vec<u8>, Value)>, TableError>;
}

/// What a table read was doing when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableAccess {
    /// A point lookup ([`TableRead::get`]).
    Get,
    /// A range read ([`TableRead::scan`]).
    Scan,
    /// Decoding a row that was read.
    Decode,
}

impl fmt::Display for TableAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TableAccess::Get => "get",
            TableAccess::Scan => "scan",
            TableAccess::Decode => "decode",
        })
    }
}

/// Why a table could not be read. Each names the table and the access that failed; all of them
/// mean the state machine cannot answer (never that a row is absent), and all become the same
/// client answer (see the `From` impl below).
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The state database is closed: a snapshot installation could not reopen it.
    #[error("{access} of {table}: the state database could not be reopened after a snapshot installation")]
    DatabaseClosed { table: Table, access: TableAccess },
    /// The database has no column family for the table.
    #[error("{access} of {table}: column family missing")]
    MissingColumnFamily { table: Table, access: TableAccess },
    /// The storage engine failed the read.
    #[error("{access} of {table}: {source}")]
    Storage {
        table: Table,
        access: TableAccess,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A row is not in a form this version writes.
    #[error("{access} of {table}: corrupt record: {detail}")]
    CorruptRow { table: Table, access: TableAccess, detail: String },
}

/// The one mapping of table errors to client answers: an internal error of the state machine.
impl From<TableError> for ApiError {
    fn from(e: TableError) -> Self {
        ApiError::new(ErrorCode::InternalError, format!("state machine: {e}"))
    }
}

/// The first byte of a volume, bucket or key row: the row follows in postcard's compact binary
/// form. Postcard encodes fields by position and enum variants by number, so a change to these
/// structs needs a new format byte (and an upgrade path for the rows on disk).
const ROW_FORMAT_BIN: u8 = 1;

/// Decodes a row of `table`.
pub(super) fn decode<T: DeserializeOwned>(table: Table, v: &[u8]) -> Result<T, TableError> {
    let corrupt = |detail: String| TableError::CorruptRow { table, access: TableAccess::Decode, detail };
    match v.split_first() {
        Some((&ROW_FORMAT_BIN, row)) => crate::types::decode_bin(row).map_err(corrupt),
        Some((other, _)) => Err(corrupt(format!("unknown row format {other}"))),
        None => Err(corrupt("empty row".to_string())),
    }
}

pub(super) fn encode<T: Serialize>(v: &T) -> Value {
    // Serializing our own plain structs into memory cannot fail.
    postcard::to_extend(v, vec![ROW_FORMAT_BIN]).unwrap_or_default().into()
}

/// Reads and decodes one row.
pub(super) fn get_typed<T: DeserializeOwned>(
    view: &dyn TableRead,
    t: Table,
    key: &[u8],
) -> Result<Option<T>, TableError> {
    match view.get(t, key)? {
        None => Ok(None),
        Some(v) => decode(t, &v).map(Some),
    }
}

pub fn volume_key(v: &str) -> Vec<u8> {
    format!("/{v}").into_bytes()
}
pub fn bucket_key(v: &str, b: &str) -> Vec<u8> {
    format!("/{v}/{b}").into_bytes()
}
pub fn key_key(v: &str, b: &str, k: &str) -> Vec<u8> {
    format!("/{v}/{b}/{k}").into_bytes()
}
/// A prefix entry's row key; `prefix` ends with `/`.
pub fn prefix_key(v: &str, b: &str, prefix: &str) -> Vec<u8> {
    format!("/{v}/{b}/{prefix}").into_bytes()
}
pub(super) fn open_key_key(v: &str, b: &str, k: &str, client_id: u64) -> Vec<u8> {
    format!("/{v}/{b}/{k}/{client_id}").into_bytes()
}
pub(super) fn deleted_key_key(v: &str, b: &str, k: &str, object_id: u64) -> Vec<u8> {
    format!("/{v}/{b}/{k}/{object_id}").into_bytes()
}

/// A table view over plain maps: the unit tests' whole state, and the state machine's copy of
/// the [`Table::fully_cached`] tables.
#[derive(Default)]
pub struct MemTables {
    tables: HashMap<Table, BTreeMap<Vec<u8>, Value>>,
    footprint: Footprint,
}

/// How much a [`MemTables`] holds: what the node's `om_memory_whole_tables_*` gauges show.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    pub rows: u64,
    /// Keys and values, plus [`ROW_OVERHEAD`] per row: an estimate, not the allocator's count.
    pub bytes: u64,
}

/// Bookkeeping per row beyond its key and value, estimated: the key's `Vec` (24 bytes), the
/// value's `Arc` pointer and counts (32) and a share of its B-tree node (8).
pub const ROW_OVERHEAD: u64 = 64;

fn row_bytes(key_len: usize, value_len: usize) -> u64 {
    (key_len + value_len) as u64 + ROW_OVERHEAD
}

impl MemTables {
    pub fn apply<'m>(&mut self, muts: impl IntoIterator<Item = &'m Mutation>) {
        for m in muts {
            match &m.value {
                Some(v) => self.insert(m.table, m.key.clone(), v.clone()),
                None => {
                    if let Some(old) = self.tables.get_mut(&m.table).and_then(|rows| rows.remove(&m.key)) {
                        self.footprint.rows -= 1;
                        self.footprint.bytes -= row_bytes(m.key.len(), old.len());
                    }
                }
            }
        }
    }

    pub fn insert(&mut self, table: Table, key: Vec<u8>, value: Value) {
        let (key_len, added) = (key.len(), row_bytes(key.len(), value.len()));
        match self.tables.entry(table).or_default().insert(key, value) {
            Some(old) => self.footprint.bytes -= row_bytes(key_len, old.len()),
            None => self.footprint.rows += 1,
        }
        self.footprint.bytes += added;
    }

    /// Rows held and their estimated bytes.
    pub fn footprint(&self) -> Footprint {
        self.footprint
    }
}

impl TableRead for MemTables {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Value>, TableError> {
        Ok(self.tables.get(&table).and_then(|rows| rows.get(key)).cloned())
    }
    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        start_after: &[u8],
        max: usize,
    ) -> Result<Vec<(Vec<u8>, Value)>, TableError> {
        let Some(rows) = self.tables.get(&table) else { return Ok(Vec::new()) };
        let lower = if start_after > prefix { start_after } else { prefix };
        Ok(rows
            .range::<[u8], _>((std::ops::Bound::Included(lower), std::ops::Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(k, _)| k.as_slice() > start_after)
            .take(max)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}
