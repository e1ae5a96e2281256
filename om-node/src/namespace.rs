//! The volume/bucket/key namespace: how a replicated [`Command`] changes the tables.
//!
//! Pure with respect to storage: [`execute`] reads through a [`TableRead`] view and returns
//! the mutations to make, so the same code runs on every replica and in unit tests. All input
//! that varies between replicas (time, ids) comes from the command or the log index.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use om_client::wire::*;
use serde::{de::DeserializeOwned, Serialize};

use crate::types::{Command, CommandResult, LogOp, OpenKeyId, MAX_BATCH_COMMANDS};

/// The tables of the namespace, one RocksDB column family each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Volumes,
    Buckets,
    Keys,
    OpenKeys,
    DeletedKeys,
    /// request id -> (leader's time of the request, applied result), so a retried write is
    /// answered, not re-applied. See [`retry_row_expired`] for how rows go away.
    RetryCache,
}

impl Table {
    pub const ALL: [Table; 6] =
        [Table::Volumes, Table::Buckets, Table::Keys, Table::OpenKeys, Table::DeletedKeys, Table::RetryCache];
    /// The tables that make up the namespace (what the digest covers).
    pub const NAMESPACE: [Table; 5] =
        [Table::Volumes, Table::Buckets, Table::Keys, Table::OpenKeys, Table::DeletedKeys];

    /// Tables held whole in memory as well as in RocksDB (Ozone's *full table cache* for the
    /// volume and bucket tables): few rows, read by nearly every write, so apply never searches
    /// RocksDB for them.
    pub fn fully_cached(self) -> bool {
        matches!(self, Table::Volumes | Table::Buckets)
    }

    pub fn cf_name(self) -> &'static str {
        match self {
            Table::Volumes => "volumeTable",
            Table::Buckets => "bucketTable",
            Table::Keys => "keyTable",
            Table::OpenKeys => "openKeyTable",
            Table::DeletedKeys => "deletedTable",
            Table::RetryCache => "retryCache",
        }
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
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Value>, String>;
    /// Entries whose key starts with `prefix` and sorts after `start_after`, at most `max`.
    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        start_after: &[u8],
        max: usize,
    ) -> Result<Vec<(Vec<u8>, Value)>, String>;
}

/// How long a request id is remembered (`ozone.om.ratis.server.retry.cache.timeout`).
pub const RETRY_CACHE_TTL_MS: u64 = 600_000;

/// A retry-cache row: the leader's time of the request (8 bytes, big-endian), then the result
/// as JSON. The time's first byte is 0 until the year 2.2 million, which tells these rows from
/// the bare JSON rows of earlier versions (never replayed, removed by compaction).
fn retry_row(now_ms: u64, result: &CommandResult) -> Value {
    let mut row = now_ms.to_be_bytes().to_vec();
    // Serializing our own plain types cannot fail.
    serde_json::to_writer(&mut row, result).unwrap_or_default();
    row.into()
}

fn retry_row_time(row: &[u8]) -> Option<u64> {
    let time = u64::from_be_bytes(row.get(..8)?.try_into().ok()?);
    (row[0] == 0).then_some(time)
}

/// The result a retry-cache row answers a request at `now_ms` with: `None` once the row is
/// older than the TTL. Deterministic: it depends only on the row and the command's time.
fn live_retry_result(row: &[u8], now_ms: u64) -> Option<CommandResult> {
    let time = retry_row_time(row)?;
    if now_ms.saturating_sub(time) >= RETRY_CACHE_TTL_MS {
        return None;
    }
    serde_json::from_slice(&row[8..]).ok()
}

/// Whether compaction may remove a retry-cache row, given the latest request time applied on
/// this replica (`horizon_ms`). Rows are removed only at twice the TTL behind it: expiry itself
/// is decided by [`live_retry_result`] from the command's time, so a removal can change no
/// answer unless a later leader's clock is more than a TTL behind an earlier one's.
pub fn retry_row_expired(row: &[u8], horizon_ms: u64) -> bool {
    match retry_row_time(row) {
        Some(time) => time.saturating_add(2 * RETRY_CACHE_TTL_MS) < horizon_ms,
        None => true,
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
fn open_key_key(v: &str, b: &str, k: &str, client_id: u64) -> Vec<u8> {
    format!("/{v}/{b}/{k}/{client_id}").into_bytes()
}
fn deleted_key_key(v: &str, b: &str, k: &str, object_id: u64) -> Vec<u8> {
    format!("/{v}/{b}/{k}/{object_id}").into_bytes()
}

/// Checks a volume or bucket name like Ozone and S3 do.
pub fn validate_resource_name(kind: &str, name: &str) -> Result<(), ApiError> {
    let bad = |why: &str| Err(ApiError::new(ErrorCode::InvalidName, format!("invalid {kind} name {name:?}: {why}")));
    if name.len() < 3 || name.len() > 63 {
        return bad("length must be between 3 and 63");
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.') {
        return bad("only lowercase letters, digits, '-' and '.' are allowed");
    }
    let first = name.as_bytes()[0];
    let last = name.as_bytes()[name.len() - 1];
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return bad("must start and end with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return bad("'..', '.-' and '-.' are not allowed");
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return bad("must not look like an IP address");
    }
    Ok(())
}

/// Checks a key name: non-empty, at most 1024 bytes, no NUL.
pub fn validate_key_name(name: &str) -> Result<(), ApiError> {
    let bad = |why: &str| Err(ApiError::new(ErrorCode::InvalidName, format!("invalid key name {name:?}: {why}")));
    if name.is_empty() {
        return bad("must not be empty");
    }
    if name.len() > 1024 {
        return bad("longer than 1024 bytes");
    }
    if name.contains('\0') {
        return bad("contains NUL");
    }
    Ok(())
}

fn validate_quota(field: &str, q: Option<i64>) -> Result<i64, ApiError> {
    match q {
        None | Some(-1) => Ok(-1),
        Some(n) if n > 0 => Ok(n),
        Some(n) => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("{field} must be positive or -1 (unlimited), got {n}"),
        )),
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::InternalError, e.to_string())
}

/// The first byte of a volume, bucket or key row: the row follows in postcard's compact binary
/// form. Postcard encodes fields by position and enum variants by number, so a change to these
/// structs needs a new format byte (and an upgrade path for the rows on disk).
const ROW_FORMAT_BIN: u8 = 1;

fn decode<T: DeserializeOwned>(v: &[u8]) -> Result<T, ApiError> {
    match v.split_first() {
        Some((&ROW_FORMAT_BIN, row)) => {
            crate::types::decode_bin(row).map_err(|e| internal(format!("corrupt record: {e}")))
        }
        Some((other, _)) => Err(internal(format!("corrupt record: unknown row format {other}"))),
        None => Err(internal("corrupt record: empty row")),
    }
}

fn encode<T: Serialize>(v: &T) -> Value {
    // Serializing our own plain structs into memory cannot fail.
    postcard::to_extend(v, vec![ROW_FORMAT_BIN]).unwrap_or_default().into()
}

fn get_typed<T: DeserializeOwned>(view: &dyn TableRead, t: Table, key: &[u8]) -> Result<Option<T>, ApiError> {
    match view.get(t, key).map_err(internal)? {
        None => Ok(None),
        Some(v) => decode(&v).map(Some),
    }
}

/// Collects the mutations of one command.
struct Tx<'a> {
    view: &'a dyn TableRead,
    muts: Vec<Mutation>,
}

impl<'a> Tx<'a> {
    fn put<T: Serialize>(&mut self, table: Table, key: Vec<u8>, value: &T) {
        self.put_row(table, key, value, false);
    }
    /// A put that says whether the caller found the row absent (see [`Mutation::created`]).
    fn put_row<T: Serialize>(&mut self, table: Table, key: Vec<u8>, value: &T, created: bool) {
        self.muts.push(Mutation { table, key, value: Some(encode(value)), created });
    }
    fn delete(&mut self, table: Table, key: Vec<u8>) {
        self.muts.push(Mutation { table, key, value: None, created: false });
    }
    fn volume(&self, v: &str) -> Result<VolumeInfo, ApiError> {
        get_typed(self.view, Table::Volumes, &volume_key(v))?
            .ok_or_else(|| ApiError::new(ErrorCode::VolumeNotFound, format!("volume {v} not found")))
    }
    fn bucket(&self, v: &str, b: &str) -> Result<BucketInfo, ApiError> {
        match get_typed(self.view, Table::Buckets, &bucket_key(v, b))? {
            Some(info) => Ok(info),
            None => {
                self.volume(v)?;
                Err(ApiError::new(ErrorCode::BucketNotFound, format!("bucket {v}/{b} not found")))
            }
        }
    }
    fn key(&self, v: &str, b: &str, k: &str) -> Result<Option<KeyInfo>, ApiError> {
        get_typed(self.view, Table::Keys, &key_key(v, b, k))
    }
    fn has_children(&self, t: Table, prefix: &[u8]) -> Result<bool, ApiError> {
        Ok(!self.view.scan(t, prefix, b"", 1).map_err(internal)?.is_empty())
    }
}

/// Where a command sits in the log, and the id of what it creates.
///
/// Updates record the log index (`update_id`, increasing with the log as in Ozone). A command
/// alone in its entry gives what it creates the entry's index as object id. Commands coalesced into one
/// entry ([`crate::types::Proposal::Batch`]) need an id each: [`TxnId::in_batch`] sets bit 62
/// and puts the index above the command's position, so ids stay unique among batches and never
/// meet an index (which would need 2^62 entries). Ozone likewise shifts the transaction index
/// left to make room for several objects per transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnId {
    pub log_index: u64,
    pub object_id: u64,
}

impl TxnId {
    /// Bits below the index in a batched command's id (a batch has at most 2^10 commands).
    pub const BATCH_POSITION_BITS: u32 = MAX_BATCH_COMMANDS.trailing_zeros();
    const BATCH_BIT: u64 = 1 << 62;

    pub fn single(log_index: u64) -> Self {
        TxnId { log_index, object_id: log_index }
    }

    /// The id of the command at `position` in the batch at `log_index`. Batches longer than
    /// [`MAX_BATCH_COMMANDS`] do not decode, so the position fits its bits.
    pub fn in_batch(log_index: u64, position: usize) -> Self {
        let position = (position as u64) & ((1 << Self::BATCH_POSITION_BITS) - 1);
        TxnId { log_index, object_id: Self::BATCH_BIT | log_index << Self::BATCH_POSITION_BITS | position }
    }
}

/// Applies one command: returns the client's answer and the table mutations.
/// An error answer changes nothing but the retry cache.
pub fn execute(view: &dyn TableRead, cmd: &Command, txn: TxnId) -> (CommandResult, Vec<Mutation>) {
    if let Some(cached) = view
        .get(Table::RetryCache, cmd.request_id.as_bytes())
        .ok()
        .flatten()
        .and_then(|row| live_retry_result(&row, cmd.now_ms))
    {
        let replay = cached.map(|mut r| {
            r.replayed = true;
            r
        });
        return (replay, Vec::new());
    }
    let mut tx = Tx { view, muts: Vec::new() };
    let result =
        run(&mut tx, cmd, txn).map(|outcome| WriteResponse { outcome, log_index: txn.log_index, replayed: false });
    let mut muts = if result.is_ok() { tx.muts } else { Vec::new() };
    muts.push(Mutation {
        table: Table::RetryCache,
        key: cmd.request_id.as_bytes().to_vec(),
        value: Some(retry_row(cmd.now_ms, &result)),
        created: false,
    });
    (result, muts)
}

fn run(tx: &mut Tx<'_>, cmd: &Command, txn: TxnId) -> Result<WriteOutcome, ApiError> {
    let now = cmd.now_ms;
    match &cmd.op {
        LogOp::CreateVolume { volume, owner, quota_in_bytes, quota_in_namespace, metadata } => {
            validate_resource_name("volume", volume)?;
            let qb = validate_quota("quota_in_bytes", *quota_in_bytes)?;
            let qn = validate_quota("quota_in_namespace", *quota_in_namespace)?;
            if tx.view.get(Table::Volumes, &volume_key(volume)).map_err(internal)?.is_some() {
                return Err(ApiError::new(ErrorCode::VolumeAlreadyExists, format!("volume {volume} already exists")));
            }
            let owner = owner.clone().unwrap_or_else(|| "hadoop".to_string());
            let info = VolumeInfo {
                name: volume.clone(),
                admin: owner.clone(),
                owner,
                quota_in_bytes: qb,
                quota_in_namespace: qn,
                used_bytes: 0,
                used_namespace: 0,
                metadata: metadata.clone(),
                creation_time: now,
                modification_time: now,
                object_id: txn.object_id,
                update_id: txn.log_index,
            };
            tx.put(Table::Volumes, volume_key(volume), &info);
            Ok(WriteOutcome::Volume { volume: info })
        }
        LogOp::SetVolumeProperty { volume, owner, quota_in_bytes, quota_in_namespace } => {
            let mut info = tx.volume(volume)?;
            if let Some(o) = owner {
                if o.trim().is_empty() {
                    return Err(ApiError::new(ErrorCode::InvalidRequest, "owner must not be empty"));
                }
                info.owner = o.clone();
            }
            if quota_in_bytes.is_some() {
                info.quota_in_bytes = validate_quota("quota_in_bytes", *quota_in_bytes)?;
            }
            if quota_in_namespace.is_some() {
                let qn = validate_quota("quota_in_namespace", *quota_in_namespace)?;
                if qn >= 0 && (qn as u64) < info.used_namespace {
                    return Err(ApiError::new(
                        ErrorCode::QuotaExceeded,
                        format!("volume {volume} already has {} buckets, more than {qn}", info.used_namespace),
                    ));
                }
                info.quota_in_namespace = qn;
            }
            info.modification_time = now;
            info.update_id = txn.log_index;
            tx.put(Table::Volumes, volume_key(volume), &info);
            Ok(WriteOutcome::Volume { volume: info })
        }
        LogOp::DeleteVolume { volume } => {
            tx.volume(volume)?;
            if tx.has_children(Table::Buckets, format!("/{volume}/").as_bytes())? {
                return Err(ApiError::new(ErrorCode::VolumeNotEmpty, format!("volume {volume} is not empty")));
            }
            tx.delete(Table::Volumes, volume_key(volume));
            Ok(WriteOutcome::Deleted)
        }
        LogOp::CreateBucket {
            volume,
            bucket,
            owner,
            layout,
            versioning,
            quota_in_bytes,
            quota_in_namespace,
            metadata,
        } => {
            validate_resource_name("bucket", bucket)?;
            let qb = validate_quota("quota_in_bytes", *quota_in_bytes)?;
            let qn = validate_quota("quota_in_namespace", *quota_in_namespace)?;
            let mut vol = tx.volume(volume)?;
            if tx.view.get(Table::Buckets, &bucket_key(volume, bucket)).map_err(internal)?.is_some() {
                return Err(ApiError::new(
                    ErrorCode::BucketAlreadyExists,
                    format!("bucket {volume}/{bucket} already exists"),
                ));
            }
            if vol.quota_in_namespace >= 0 && vol.used_namespace + 1 > vol.quota_in_namespace as u64 {
                return Err(ApiError::new(
                    ErrorCode::QuotaExceeded,
                    format!("volume {volume} allows {} buckets", vol.quota_in_namespace),
                ));
            }
            if vol.quota_in_bytes >= 0 && qb > vol.quota_in_bytes {
                return Err(ApiError::new(
                    ErrorCode::QuotaExceeded,
                    format!("bucket quota {qb} exceeds volume {volume} quota {}", vol.quota_in_bytes),
                ));
            }
            let info = BucketInfo {
                volume: volume.clone(),
                name: bucket.clone(),
                owner: owner.clone().unwrap_or_else(|| vol.owner.clone()),
                layout: layout.unwrap_or_default(),
                versioning: *versioning,
                storage_type: "DISK".into(),
                quota_in_bytes: qb,
                quota_in_namespace: qn,
                used_bytes: 0,
                used_namespace: 0,
                metadata: metadata.clone(),
                creation_time: now,
                modification_time: now,
                object_id: txn.object_id,
                update_id: txn.log_index,
            };
            vol.used_namespace += 1;
            vol.update_id = txn.log_index;
            tx.put(Table::Volumes, volume_key(volume), &vol);
            tx.put(Table::Buckets, bucket_key(volume, bucket), &info);
            Ok(WriteOutcome::Bucket { bucket: info })
        }
        LogOp::DeleteBucket { volume, bucket } => {
            tx.bucket(volume, bucket)?;
            if tx.has_children(Table::Keys, format!("/{volume}/{bucket}/").as_bytes())? {
                return Err(ApiError::new(ErrorCode::BucketNotEmpty, format!("bucket {volume}/{bucket} is not empty")));
            }
            let mut vol = tx.volume(volume)?;
            vol.used_namespace = vol.used_namespace.saturating_sub(1);
            vol.update_id = txn.log_index;
            tx.put(Table::Volumes, volume_key(volume), &vol);
            tx.delete(Table::Buckets, bucket_key(volume, bucket));
            Ok(WriteOutcome::Deleted)
        }
        LogOp::OpenKey { volume, bucket, key, size, replication, metadata } => {
            validate_key_name(key)?;
            tx.bucket(volume, bucket)?;
            let info = KeyInfo {
                volume: volume.clone(),
                bucket: bucket.clone(),
                name: key.clone(),
                size: *size,
                replication: replication.clone().unwrap_or_else(|| "RATIS/THREE".into()),
                metadata: metadata.clone(),
                creation_time: now,
                modification_time: now,
                object_id: txn.object_id,
                update_id: txn.log_index,
            };
            let open_k = open_key_key(volume, bucket, key, cmd.open_client_id);
            // Client ids are random, so the row is new unless two opens drew the same id.
            let created = tx.view.get(Table::OpenKeys, &open_k).map_err(internal)?.is_none();
            tx.put_row(Table::OpenKeys, open_k, &info, created);
            Ok(WriteOutcome::OpenKey { client_id: cmd.open_client_id, key: info })
        }
        LogOp::CommitKey { volume, bucket, key, client_id, size } => {
            validate_key_name(key)?;
            let mut bkt = tx.bucket(volume, bucket)?;
            let open_k = open_key_key(volume, bucket, key, *client_id);
            let mut info: KeyInfo = get_typed(tx.view, Table::OpenKeys, &open_k)?.ok_or_else(|| {
                ApiError::new(
                    ErrorCode::KeyNotFound,
                    format!("no open key {volume}/{bucket}/{key} with client id {client_id}"),
                )
            })?;
            if let Some(s) = size {
                info.size = *s;
            }
            info.modification_time = now;
            info.update_id = txn.log_index;
            let old = tx.key(volume, bucket, key)?;
            let old_size = old.as_ref().map(|o| o.size).unwrap_or(0);
            let new_bytes = bkt.used_bytes.saturating_sub(old_size) + info.size;
            if bkt.quota_in_bytes >= 0 && new_bytes > bkt.quota_in_bytes as u64 {
                return Err(ApiError::new(
                    ErrorCode::QuotaExceeded,
                    format!("bucket {volume}/{bucket} quota of {} bytes exceeded", bkt.quota_in_bytes),
                ));
            }
            let new_count = bkt.used_namespace + u64::from(old.is_none());
            if bkt.quota_in_namespace >= 0 && new_count > bkt.quota_in_namespace as u64 {
                return Err(ApiError::new(
                    ErrorCode::QuotaExceeded,
                    format!("bucket {volume}/{bucket} allows {} keys", bkt.quota_in_namespace),
                ));
            }
            let mut vol = tx.volume(volume)?;
            let vol_bytes = vol.used_bytes.saturating_sub(old_size) + info.size;
            if vol.quota_in_bytes >= 0 && vol_bytes > vol.quota_in_bytes as u64 {
                return Err(ApiError::new(
                    ErrorCode::QuotaExceeded,
                    format!("volume {volume} quota of {} bytes exceeded", vol.quota_in_bytes),
                ));
            }
            let replaced = old.is_some();
            if let Some(old) = old {
                tx.put(Table::DeletedKeys, deleted_key_key(volume, bucket, key, old.object_id), &old);
            }
            bkt.used_bytes = new_bytes;
            bkt.used_namespace = new_count;
            bkt.update_id = txn.log_index;
            vol.used_bytes = vol_bytes;
            vol.update_id = txn.log_index;
            tx.delete(Table::OpenKeys, open_k);
            tx.put_row(Table::Keys, key_key(volume, bucket, key), &info, !replaced);
            tx.put(Table::Buckets, bucket_key(volume, bucket), &bkt);
            tx.put(Table::Volumes, volume_key(volume), &vol);
            Ok(WriteOutcome::Key { key: info })
        }
        LogOp::DeleteKey { volume, bucket, key } => {
            let mut bkt = tx.bucket(volume, bucket)?;
            let old = tx.key(volume, bucket, key)?.ok_or_else(|| {
                ApiError::new(ErrorCode::KeyNotFound, format!("key {volume}/{bucket}/{key} not found"))
            })?;
            let mut vol = tx.volume(volume)?;
            bkt.used_bytes = bkt.used_bytes.saturating_sub(old.size);
            bkt.used_namespace = bkt.used_namespace.saturating_sub(1);
            bkt.update_id = txn.log_index;
            vol.used_bytes = vol.used_bytes.saturating_sub(old.size);
            vol.update_id = txn.log_index;
            tx.put(Table::DeletedKeys, deleted_key_key(volume, bucket, key, old.object_id), &old);
            tx.delete(Table::Keys, key_key(volume, bucket, key));
            tx.put(Table::Buckets, bucket_key(volume, bucket), &bkt);
            tx.put(Table::Volumes, volume_key(volume), &vol);
            Ok(WriteOutcome::Deleted)
        }
        LogOp::ExpireOpenKeys { keys, created_before_ms } => {
            if *created_before_ms > now {
                return Err(ApiError::new(ErrorCode::InvalidRequest, "cannot expire open keys created in the future"));
            }
            let mut count = 0;
            for id in keys {
                let open_k = open_key_key(&id.volume, &id.bucket, &id.key, id.client_id);
                let Some(info) = get_typed::<KeyInfo>(tx.view, Table::OpenKeys, &open_k)? else { continue };
                if info.creation_time >= *created_before_ms {
                    continue;
                }
                tx.put(Table::DeletedKeys, deleted_key_key(&id.volume, &id.bucket, &id.key, info.object_id), &info);
                tx.delete(Table::OpenKeys, open_k);
                count += 1;
            }
            Ok(WriteOutcome::OpenKeysExpired { count })
        }
        LogOp::RenameKey { volume, bucket, key, to_key } => {
            validate_key_name(to_key)?;
            tx.bucket(volume, bucket)?;
            let mut info = tx.key(volume, bucket, key)?.ok_or_else(|| {
                ApiError::new(ErrorCode::KeyNotFound, format!("key {volume}/{bucket}/{key} not found"))
            })?;
            if key == to_key {
                return Ok(WriteOutcome::Renamed { key: info });
            }
            if tx.key(volume, bucket, to_key)?.is_some() {
                return Err(ApiError::new(
                    ErrorCode::KeyAlreadyExists,
                    format!("key {volume}/{bucket}/{to_key} already exists"),
                ));
            }
            info.name = to_key.clone();
            info.modification_time = now;
            info.update_id = txn.log_index;
            tx.delete(Table::Keys, key_key(volume, bucket, key));
            tx.put(Table::Keys, key_key(volume, bucket, to_key), &info);
            Ok(WriteOutcome::Renamed { key: info })
        }
    }
}

/// Open keys created before `created_before_ms`, at most `limit`, in key order: what the
/// leader's open-key cleanup proposes to expire. Scans the open-key table in pages.
pub fn expired_open_keys(
    view: &dyn TableRead,
    created_before_ms: u64,
    limit: usize,
) -> Result<Vec<OpenKeyId>, ApiError> {
    let mut found = Vec::new();
    let mut start_after = Vec::new();
    while found.len() < limit {
        let page = view.scan(Table::OpenKeys, b"", &start_after, 1000).map_err(internal)?;
        let Some((last, _)) = page.last() else { break };
        start_after = last.clone();
        for (row_key, row) in &page {
            let info: KeyInfo = decode(row)?;
            if info.creation_time >= created_before_ms {
                continue;
            }
            // The row key ends with the client id: /volume/bucket/key/<client id>.
            let Some(client_id) = std::str::from_utf8(row_key)
                .ok()
                .and_then(|k| k.rsplit_once('/'))
                .and_then(|(_, id)| id.parse::<u64>().ok())
            else {
                continue;
            };
            found.push(OpenKeyId { volume: info.volume, bucket: info.bucket, key: info.name, client_id });
            if found.len() == limit {
                break;
            }
        }
    }
    Ok(found)
}

/// Checks a list page size: default 100, at most [`LIST_MAX`].
pub fn page_size(max: Option<u32>) -> Result<usize, ApiError> {
    match max {
        None => Ok(100),
        Some(0) => Err(ApiError::new(ErrorCode::InvalidRequest, "max must be at least 1")),
        Some(n) if n > LIST_MAX => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("max {n} exceeds the largest page of {LIST_MAX}; page with start_after"),
        )),
        Some(n) => Ok(n as usize),
    }
}

/// Answers a query from the current state.
pub fn query(view: &dyn TableRead, op: &ReadOp) -> Result<ReadResponse, ApiError> {
    let tx = Tx { view, muts: Vec::new() };
    match op {
        ReadOp::VolumeInfo { volume } => Ok(ReadResponse::Volume { volume: tx.volume(volume)? }),
        ReadOp::ListVolumes { prefix, start_after, max } => {
            let n = page_size(*max)?;
            let rows = list(view, Table::Volumes, "/", prefix, start_after, n)?;
            Ok(ReadResponse::Volumes { volumes: rows })
        }
        ReadOp::BucketInfo { volume, bucket } => Ok(ReadResponse::Bucket { bucket: tx.bucket(volume, bucket)? }),
        ReadOp::ListBuckets { volume, prefix, start_after, max } => {
            let n = page_size(*max)?;
            tx.volume(volume)?;
            let rows = list(view, Table::Buckets, &format!("/{volume}/"), prefix, start_after, n)?;
            Ok(ReadResponse::Buckets { buckets: rows })
        }
        ReadOp::KeyInfo { volume, bucket, key } => {
            tx.bucket(volume, bucket)?;
            let info = tx.key(volume, bucket, key)?.ok_or_else(|| {
                ApiError::new(ErrorCode::KeyNotFound, format!("key {volume}/{bucket}/{key} not found"))
            })?;
            Ok(ReadResponse::Key { key: info })
        }
        ReadOp::ListKeys { volume, bucket, prefix, start_after, max } => {
            let n = page_size(*max)?;
            tx.bucket(volume, bucket)?;
            let rows = list(view, Table::Keys, &format!("/{volume}/{bucket}/"), prefix, start_after, n)?;
            Ok(ReadResponse::Keys { keys: rows })
        }
        ReadOp::Digest => Err(ApiError::new(ErrorCode::InternalError, "digest is computed by the store")),
    }
}

fn list<T: DeserializeOwned>(
    view: &dyn TableRead,
    table: Table,
    parent: &str,
    prefix: &str,
    start_after: &str,
    max: usize,
) -> Result<Vec<T>, ApiError> {
    let full_prefix = format!("{parent}{prefix}");
    let start = if start_after.is_empty() { String::new() } else { format!("{parent}{start_after}") };
    view.scan(table, full_prefix.as_bytes(), start.as_bytes(), max)
        .map_err(internal)?
        .into_iter()
        .map(|(_, v)| decode(&v))
        .collect()
}

/// A table view over plain maps: the unit tests' whole state, and the state machine's copy of
/// the [`Table::fully_cached`] tables.
#[derive(Default)]
pub struct MemTables {
    tables: HashMap<Table, BTreeMap<Vec<u8>, Value>>,
}

impl MemTables {
    pub fn apply<'m>(&mut self, muts: impl IntoIterator<Item = &'m Mutation>) {
        for m in muts {
            match &m.value {
                Some(v) => self.insert(m.table, m.key.clone(), v.clone()),
                None => {
                    if let Some(rows) = self.tables.get_mut(&m.table) {
                        rows.remove(&m.key);
                    }
                }
            }
        }
    }

    pub fn insert(&mut self, table: Table, key: Vec<u8>, value: Value) {
        self.tables.entry(table).or_default().insert(key, value);
    }
}

impl TableRead for MemTables {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Value>, String> {
        Ok(self.tables.get(&table).and_then(|rows| rows.get(key)).cloned())
    }
    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        start_after: &[u8],
        max: usize,
    ) -> Result<Vec<(Vec<u8>, Value)>, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    struct Ring {
        tables: MemTables,
        index: u64,
    }

    impl Ring {
        fn new() -> Self {
            Ring { tables: MemTables::default(), index: 0 }
        }
        fn write(&mut self, op: impl Into<LogOp>) -> CommandResult {
            self.index += 1;
            let cmd = Command {
                request_id: format!("r{}", self.index),
                op: op.into(),
                now_ms: 1000 + self.index,
                open_client_id: 7,
            };
            let (res, muts) = execute(&self.tables, &cmd, TxnId::single(self.index));
            self.tables.apply(&muts);
            res
        }
        fn code(&mut self, op: impl Into<LogOp>) -> ErrorCode {
            self.write(op).unwrap_err().code
        }
    }

    fn vol(v: &str) -> WriteOp {
        WriteOp::create_volume(v)
    }
    fn bkt(v: &str, b: &str) -> WriteOp {
        WriteOp::create_bucket(v, b)
    }
    fn open(k: &str, size: u64) -> WriteOp {
        WriteOp::OpenKey {
            volume: "vol1".into(),
            bucket: "bkt1".into(),
            key: k.into(),
            size,
            replication: None,
            metadata: Default::default(),
        }
    }
    fn commit(k: &str) -> WriteOp {
        WriteOp::CommitKey { volume: "vol1".into(), bucket: "bkt1".into(), key: k.into(), client_id: 7, size: None }
    }

    #[test]
    fn names_are_validated() {
        for bad in ["ab", "Abc", "a_b", "-ab", "ab-", "a..b", "a.-b", "192.168.1.1", &"x".repeat(64)] {
            assert_eq!(validate_resource_name("volume", bad).unwrap_err().code, ErrorCode::InvalidName, "{bad}");
        }
        for good in ["abc", "a-b.c", "vol1", &"x".repeat(63)] {
            validate_resource_name("volume", good).unwrap();
        }
    }

    #[test]
    fn volume_bucket_key_lifecycle_and_error_codes() {
        let mut r = Ring::new();
        r.write(vol("vol1")).unwrap();
        assert_eq!(r.code(vol("vol1")), ErrorCode::VolumeAlreadyExists);
        assert_eq!(r.code(bkt("nope", "bkt1")), ErrorCode::VolumeNotFound);
        r.write(bkt("vol1", "bkt1")).unwrap();
        assert_eq!(r.code(bkt("vol1", "bkt1")), ErrorCode::BucketAlreadyExists);
        assert_eq!(r.code(WriteOp::DeleteVolume { volume: "vol1".into() }), ErrorCode::VolumeNotEmpty);
        assert_eq!(r.code(commit("k1")), ErrorCode::KeyNotFound);
        r.write(open("k1", 10)).unwrap();
        let committed = r.write(commit("k1")).unwrap();
        assert!(matches!(committed.outcome, WriteOutcome::Key { ref key } if key.size == 10));
        assert_eq!(
            r.code(WriteOp::DeleteBucket { volume: "vol1".into(), bucket: "bkt1".into() }),
            ErrorCode::BucketNotEmpty
        );
        let info = query(&r.tables, &ReadOp::BucketInfo { volume: "vol1".into(), bucket: "bkt1".into() }).unwrap();
        assert!(
            matches!(info, ReadResponse::Bucket { bucket } if bucket.used_bytes == 10 && bucket.used_namespace == 1)
        );
        r.write(WriteOp::RenameKey {
            volume: "vol1".into(),
            bucket: "bkt1".into(),
            key: "k1".into(),
            to_key: "k2".into(),
        })
        .unwrap();
        let q = query(&r.tables, &ReadOp::KeyInfo { volume: "vol1".into(), bucket: "bkt1".into(), key: "k1".into() });
        assert_eq!(q.unwrap_err().code, ErrorCode::KeyNotFound);
        r.write(WriteOp::DeleteKey { volume: "vol1".into(), bucket: "bkt1".into(), key: "k2".into() }).unwrap();
        assert_eq!(r.tables.scan(Table::DeletedKeys, b"", b"", 10).unwrap().len(), 1);
        r.write(WriteOp::DeleteBucket { volume: "vol1".into(), bucket: "bkt1".into() }).unwrap();
        r.write(WriteOp::DeleteVolume { volume: "vol1".into() }).unwrap();
        assert_eq!(r.code(WriteOp::DeleteVolume { volume: "vol1".into() }), ErrorCode::VolumeNotFound);
    }

    #[test]
    fn quotas_are_enforced() {
        let mut r = Ring::new();
        r.write(vol("vol1")).unwrap();
        r.write(WriteOp::CreateBucket {
            volume: "vol1".into(),
            bucket: "bkt1".into(),
            owner: None,
            layout: Some(BucketLayout::FileSystemOptimized),
            versioning: false,
            quota_in_bytes: Some(15),
            quota_in_namespace: Some(5),
            metadata: Default::default(),
        })
        .unwrap();
        r.write(open("a", 10)).unwrap();
        r.write(commit("a")).unwrap();
        r.write(open("b", 10)).unwrap();
        assert_eq!(r.code(commit("b")), ErrorCode::QuotaExceeded);
        // overwriting `a` with a smaller size fits
        r.write(open("a", 5)).unwrap();
        r.write(commit("a")).unwrap();
        r.write(WriteOp::SetVolumeProperty {
            volume: "vol1".into(),
            owner: None,
            quota_in_bytes: None,
            quota_in_namespace: Some(1),
        })
        .unwrap();
        assert_eq!(r.code(bkt("vol1", "bkt2")), ErrorCode::QuotaExceeded);
    }

    #[test]
    fn open_keys_created_before_the_cutoff_expire_and_committed_ones_stay() {
        let mut r = Ring::new();
        r.write(vol("vol1")).unwrap();
        r.write(bkt("vol1", "bkt1")).unwrap();
        // Ring::write stamps now_ms = 1000 + index and client id 7: "old" is opened at 1003.
        r.write(open("dir/old", 1)).unwrap();
        r.write(open("done", 1)).unwrap();
        r.write(commit("done")).unwrap();
        let cutoff = 1_004;
        let expired = expired_open_keys(&r.tables, cutoff, 10).unwrap();
        assert_eq!(expired.iter().map(|k| k.key.as_str()).collect::<Vec<_>>(), ["dir/old"]);
        assert_eq!(expired[0].client_id, 7);
        r.write(open("fresh", 1)).unwrap();
        let mut listed = expired.clone();
        listed.push(OpenKeyId { volume: "vol1".into(), bucket: "bkt1".into(), key: "fresh".into(), client_id: 7 });
        listed.push(OpenKeyId { volume: "vol1".into(), bucket: "bkt1".into(), key: "gone".into(), client_id: 7 });
        let res = r.write(LogOp::ExpireOpenKeys { keys: listed, created_before_ms: cutoff }).unwrap();
        assert_eq!(res.outcome, WriteOutcome::OpenKeysExpired { count: 1 }, "only dir/old was open and old enough");
        assert_eq!(r.code(commit("dir/old")), ErrorCode::KeyNotFound);
        r.write(commit("fresh")).unwrap();
        assert_eq!(r.tables.scan(Table::DeletedKeys, b"", b"", 10).unwrap().len(), 1);
        assert!(expired_open_keys(&r.tables, u64::MAX, 10).unwrap().is_empty());
        let future = LogOp::ExpireOpenKeys { keys: Vec::new(), created_before_ms: u64::MAX };
        assert_eq!(r.code(future), ErrorCode::InvalidRequest);
    }

    #[test]
    fn retried_request_is_answered_from_the_retry_cache() {
        let mut r = Ring::new();
        let cmd = Command { request_id: "same".into(), op: vol("vol1").into(), now_ms: 5, open_client_id: 0 };
        let (first, muts) = execute(&r.tables, &cmd, TxnId::single(1));
        r.tables.apply(&muts);
        let (second, muts) = execute(&r.tables, &cmd, TxnId::single(2));
        assert!(muts.is_empty());
        let (first, second) = (first.unwrap(), second.unwrap());
        assert!(!first.replayed && second.replayed);
        assert_eq!(first.outcome, second.outcome);
        assert_eq!(second.log_index, 1);
        r.index = 2;
        assert_eq!(r.code(vol("vol1")), ErrorCode::VolumeAlreadyExists);
    }

    #[test]
    fn retry_cache_rows_expire_by_the_commands_time() {
        let mut r = MemTables::default();
        let cmd =
            |now: u64| Command { request_id: "same".into(), op: vol("vol1").into(), now_ms: now, open_client_id: 0 };
        let (first, m) = execute(&r, &cmd(1_000), TxnId::single(1));
        r.apply(&m);
        assert!(first.is_ok());
        let (within, m) = execute(&r, &cmd(1_000 + RETRY_CACHE_TTL_MS - 1), TxnId::single(2));
        assert!(within.unwrap().replayed && m.is_empty(), "a retry within the TTL is answered from the cache");
        let (after, m) = execute(&r, &cmd(1_000 + RETRY_CACHE_TTL_MS), TxnId::single(3));
        assert_eq!(
            after.unwrap_err().code,
            ErrorCode::VolumeAlreadyExists,
            "after the TTL the request is applied again"
        );
        let row = m.iter().find(|m| m.table == Table::RetryCache).and_then(|m| m.value.clone()).unwrap();
        assert_eq!(retry_row_time(&row), Some(1_000 + RETRY_CACHE_TTL_MS));
    }

    #[test]
    fn compaction_removes_retry_rows_only_at_twice_the_ttl_behind_the_applied_time() {
        let row = retry_row(5_000, &Err(ApiError::new(ErrorCode::InternalError, "x")));
        assert!(!retry_row_expired(&row, 5_000 + RETRY_CACHE_TTL_MS));
        assert!(!retry_row_expired(&row, 5_000 + 2 * RETRY_CACHE_TTL_MS));
        assert!(retry_row_expired(&row, 5_001 + 2 * RETRY_CACHE_TTL_MS));
        assert!(retry_row_expired(br#"{"Ok":{}}"#, 0), "rows of earlier versions go");
        assert!(live_retry_result(br#"{"Ok":{}}"#, 0).is_none(), "and are never replayed");
    }

    #[test]
    fn listing_pages_with_prefix_and_start_after() {
        let mut r = Ring::new();
        r.write(vol("vol1")).unwrap();
        r.write(bkt("vol1", "bkt1")).unwrap();
        for i in 0..25 {
            r.write(open(&format!("dir/k{i:02}"), 1)).unwrap();
            r.write(commit(&format!("dir/k{i:02}"))).unwrap();
        }
        r.write(open("other", 1)).unwrap();
        r.write(commit("other")).unwrap();
        let mut seen = Vec::new();
        let mut start = String::new();
        loop {
            let op = ReadOp::ListKeys {
                volume: "vol1".into(),
                bucket: "bkt1".into(),
                prefix: "dir/".into(),
                start_after: start.clone(),
                max: Some(10),
            };
            let ReadResponse::Keys { keys } = query(&r.tables, &op).unwrap() else { panic!() };
            if keys.is_empty() {
                break;
            }
            start = keys.last().unwrap().name.clone();
            seen.extend(keys.into_iter().map(|k| k.name));
        }
        assert_eq!(seen.len(), 25);
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        let big = ReadOp::ListVolumes { prefix: String::new(), start_after: String::new(), max: Some(1001) };
        assert_eq!(query(&r.tables, &big).unwrap_err().code, ErrorCode::InvalidRequest);
    }
}
