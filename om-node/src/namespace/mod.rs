//! The volume/bucket/key namespace: how a replicated [`Command`] changes the tables.
//!
//! Pure with respect to storage: [`execute`] reads through a [`TableRead`] view and returns
//! the mutations to make, so the same code runs on every replica and in unit tests. All input
//! that varies between replicas (time, ids) comes from the command or the log index.
//!
//! [`execute`] answers retries from the retry cache ([`retry`]) and dispatches every other
//! command to one function per operation: [`volume`], [`bucket`], [`key`] (with [`fso`] for
//! FILE_SYSTEM_OPTIMIZED buckets), [`acl`], [`prepare`]. Reads are in
//! [`query`]; the tables, their rows and read errors in [`tables`].

mod acl;
mod bucket;
mod fso;
mod key;
mod lookup;
mod prepare;
mod query;
mod retry;
mod status;
mod tables;
mod validate;
mod volume;

#[cfg(test)]
mod acl_tests;
#[cfg(test)]
mod fso_tests;
#[cfg(test)]
mod status_tests;
#[cfg(test)]
mod tests;

use om_client::wire::*;
use serde::Serialize;

use crate::types::{Command, CommandResult, LogOp, MAX_BATCH_COMMANDS};

pub use acl::PrefixInfo;
pub use fso::{normalize_read, normalize_write, MAX_RENAMED_ENTRIES};
pub use lookup::Lookup;
pub use prepare::{prepare_state, prepared_index, refused_when_prepared};
pub use query::{answered_from_memory, digest, expired_open_keys, query};
pub use retry::{retry_row_expired, RETRY_CACHE_TTL_MS};
pub use tables::{
    bucket_key, key_key, prefix_key, volume_key, Footprint, MemTables, Mutation, Table, TableAccess, TableError,
    TableRead, Value,
};
pub use validate::{page_size, validate_bucket_name, validate_key_name, validate_volume_name};
pub use volume::DEFAULT_VOLUME_OWNER;

use retry::{live_retry_result, retry_row};
use tables::{encode, get_typed};

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

/// Typed reads of the namespace rows, with the not-found answers clients get.
#[derive(Clone, Copy)]
struct Rows<'a> {
    view: &'a dyn TableRead,
}

impl Rows<'_> {
    fn volume(&self, v: &str) -> Result<VolumeInfo, ApiError> {
        get_typed(self.view, Table::Volumes, &volume_key(v))?
            .ok_or_else(|| ApiError::new(ErrorCode::VolumeNotFound, format!("Volume {v} is not found")))
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
        Ok(get_typed(self.view, Table::Keys, &key_key(v, b, k))?)
    }
    /// The prefix entry at exactly `path` (`dir/`), if there is one.
    fn prefix(&self, v: &str, b: &str, path: &str) -> Result<Option<PrefixInfo>, ApiError> {
        Ok(get_typed(self.view, Table::Prefixes, &prefix_key(v, b, path))?)
    }
    /// The deepest prefix entry above `path`: of `a/`, `a/b/` for `a/b/c`.
    fn deepest_prefix(&self, v: &str, b: &str, path: &str) -> Result<Option<PrefixInfo>, ApiError> {
        let mut deepest = None;
        for (i, _) in path.match_indices('/') {
            if let Some(p) = self.prefix(v, b, &path[..=i])? {
                deepest = Some(p);
            }
        }
        Ok(deepest)
    }
    /// Whether a row exists, without decoding it.
    fn exists(&self, t: Table, key: &[u8]) -> Result<bool, ApiError> {
        Ok(self.view.get(t, key)?.is_some())
    }
    fn has_children(&self, t: Table, prefix: &[u8]) -> Result<bool, ApiError> {
        Ok(!self.view.scan(t, prefix, b"", 1)?.is_empty())
    }
}

/// One command being applied: what it reads, the mutations it collects, and the inputs it may
/// use that are the same on every replica.
struct Tx<'a> {
    read: Rows<'a>,
    muts: Vec<Mutation>,
    /// The leader's time of the request.
    now: u64,
    txn: TxnId,
    /// The client id the leader drew for a key this command opens.
    open_client_id: u64,
}

impl Tx<'_> {
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
}

/// Applies one command: returns the client's answer and the table mutations.
/// An error answer changes nothing but the retry cache.
pub fn execute(view: &dyn TableRead, cmd: &Command, txn: TxnId) -> (CommandResult, Vec<Mutation>) {
    if cmd.op == LogOp::Echo {
        // No row, not even a retry row: an echo applied twice is still nothing.
        let result = prepare::gate(view, &cmd.op).map(|()| WriteResponse {
            outcome: WriteOutcome::Noop,
            log_index: txn.log_index,
            replayed: false,
        });
        return (result, Vec::new());
    }
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
    let mut tx = Tx { read: Rows { view }, muts: Vec::new(), now: cmd.now_ms, txn, open_client_id: cmd.open_client_id };
    let result =
        run(&mut tx, &cmd.op).map(|outcome| WriteResponse { outcome, log_index: txn.log_index, replayed: false });
    let mut muts = if result.is_ok() { tx.muts } else { Vec::new() };
    muts.push(Mutation {
        table: Table::RetryCache,
        key: cmd.request_id.as_bytes().to_vec(),
        value: Some(retry_row(cmd.now_ms, &result)),
        created: false,
    });
    (result, muts)
}

/// One operation, one function.
fn run(tx: &mut Tx<'_>, op: &LogOp) -> Result<WriteOutcome, ApiError> {
    prepare::gate(tx.read.view, op)?;
    match op {
        LogOp::CreateVolume { volume, owner, quota_in_bytes, quota_in_namespace, metadata, acls } => {
            volume::create(tx, volume, owner, (*quota_in_bytes, *quota_in_namespace), metadata, acls)
        }
        LogOp::SetVolumeProperty { volume, owner, quota_in_bytes, quota_in_namespace } => {
            volume::set_property(tx, volume, owner, *quota_in_bytes, *quota_in_namespace)
        }
        LogOp::DeleteVolume { volume } => volume::delete(tx, volume),
        LogOp::CreateBucket {
            volume,
            bucket,
            owner,
            layout,
            versioning,
            quota_in_bytes,
            quota_in_namespace,
            metadata,
            acls,
        } => bucket::create(
            tx,
            bucket::NewBucket {
                volume,
                bucket,
                owner,
                layout: *layout,
                versioning: *versioning,
                quota_in_bytes: *quota_in_bytes,
                quota_in_namespace: *quota_in_namespace,
                metadata,
                acls,
            },
        ),
        LogOp::SetBucketProperty { volume, bucket, owner, versioning, quota_in_bytes, quota_in_namespace } => {
            bucket::set_property(
                tx,
                bucket::BucketChange {
                    volume,
                    bucket,
                    owner,
                    versioning: *versioning,
                    quota_in_bytes: *quota_in_bytes,
                    quota_in_namespace: *quota_in_namespace,
                },
            )
        }
        LogOp::DeleteBucket { volume, bucket } => bucket::delete(tx, volume, bucket),
        LogOp::OpenKey { volume, bucket, key, size, replication, metadata, acls } => {
            key::open(tx, key::NewKey { volume, bucket, key, size: *size, replication, metadata, acls })
        }
        LogOp::CommitKey { volume, bucket, key, client_id, size } => {
            key::commit(tx, volume, bucket, key, *client_id, *size)
        }
        LogOp::DeleteKey { volume, bucket, key } => key::delete(tx, volume, bucket, key),
        LogOp::ExpireOpenKeys { keys, created_before_ms } => key::expire_open(tx, keys, *created_before_ms),
        LogOp::RenameKey { volume, bucket, key, to_key } => key::rename(tx, volume, bucket, key, to_key),
        LogOp::AddAcl { target, acl } => acl::change(tx, target, acl::Edit::Add(acl)),
        LogOp::RemoveAcl { target, acl } => acl::change(tx, target, acl::Edit::Remove(acl)),
        LogOp::SetAcl { target, acls } => acl::change(tx, target, acl::Edit::Set(acls)),
        LogOp::Prepare => prepare::prepare(tx),
        LogOp::CancelPrepare => prepare::cancel(tx),
        LogOp::Echo => Ok(WriteOutcome::Noop),
    }
}
