//! Key operations. A key is written in two phases: open (a row in the open-key table under the
//! client id the leader drew) and commit (moved to the key table, counted against the bucket's
//! and volume's quotas). A replaced, deleted or expired key goes to the deleted-keys table.
//! In FILE_SYSTEM_OPTIMIZED buckets keys are paths: [`super::fso`] adds its rules.

use std::collections::BTreeMap;

use om_client::acl::OzoneAcl;
use om_client::wire::{ApiError, ErrorCode, KeyInfo, WriteOutcome};

use crate::types::OpenKeyId;

use super::fso;
use super::tables::{deleted_key_key, open_key_key};
use super::validate::validate_key_name;
use super::{bucket_key, get_typed, key_key, volume_key, Table, Tx};

/// The fields of [`crate::types::LogOp::OpenKey`].
pub(super) struct NewKey<'a> {
    pub volume: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    pub size: u64,
    pub replication: &'a Option<String>,
    pub metadata: &'a BTreeMap<String, String>,
    /// The creator's default ACLs.
    pub acls: &'a [OzoneAcl],
}

/// Opens a key for writing. A key that exists keeps its ACLs when it is written again; a new
/// one gets its creator's defaults and the DEFAULT ACLs of the deepest prefix entry above it
/// that has any, else of the bucket (as ACCESS entries).
pub(super) fn open(tx: &mut Tx<'_>, new: NewKey<'_>) -> Result<WriteOutcome, ApiError> {
    let NewKey { volume, bucket, key, size, replication, metadata, acls } = new;
    let mut bkt = tx.read.bucket(volume, bucket)?;
    let path = fso::stored_name(&bkt, key)?;
    let key = path.as_str();
    validate_key_name(key)?;
    let nearest_dir = if fso::is_fso(&bkt) { fso::open_parents(tx, &mut bkt, key, acls)? } else { None };
    let acls = match tx.read.key(volume, bucket, key)? {
        Some(existing) => existing.acls,
        None => {
            let prefix = tx.read.deepest_prefix(volume, bucket, key)?;
            fso::file_acls(acls, prefix.as_ref().map(|p| p.acls.as_slice()), nearest_dir.as_deref(), &bkt.acls)
        }
    };
    let info = KeyInfo {
        volume: volume.to_string(),
        bucket: bucket.to_string(),
        name: key.to_string(),
        size,
        replication: replication.clone().unwrap_or_else(|| "RATIS/THREE".into()),
        metadata: metadata.clone(),
        creation_time: tx.now,
        modification_time: tx.now,
        object_id: tx.txn.object_id,
        update_id: tx.txn.log_index,
        acls,
    };
    let open_k = open_key_key(volume, bucket, key, tx.open_client_id);
    // Client ids are random, so the row is new unless two opens drew the same id.
    let created = !tx.read.exists(Table::OpenKeys, &open_k)?;
    tx.put_row(Table::OpenKeys, open_k, &info, created);
    Ok(WriteOutcome::OpenKey { client_id: tx.open_client_id, key: info })
}

pub(super) fn commit(
    tx: &mut Tx<'_>,
    volume: &str,
    bucket: &str,
    key: &str,
    client_id: u64,
    size: Option<u64>,
) -> Result<WriteOutcome, ApiError> {
    let mut bkt = tx.read.bucket(volume, bucket)?;
    let path = fso::stored_name(&bkt, key)?;
    let key = path.as_str();
    validate_key_name(key)?;
    let open_k = open_key_key(volume, bucket, key, client_id);
    let mut info: KeyInfo = get_typed(tx.read.view, Table::OpenKeys, &open_k)?.ok_or_else(|| {
        ApiError::new(ErrorCode::KeyNotFound, format!("no open key {volume}/{bucket}/{key} with client id {client_id}"))
    })?;
    if fso::is_fso(&bkt) {
        fso::check_commit(tx.read, volume, bucket, key)?;
    }
    if let Some(s) = size {
        info.size = s;
    }
    info.modification_time = tx.now;
    info.update_id = tx.txn.log_index;
    let old = tx.read.key(volume, bucket, key)?;
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
    let mut vol = tx.read.volume(volume)?;
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
    bkt.update_id = tx.txn.log_index;
    vol.used_bytes = vol_bytes;
    vol.update_id = tx.txn.log_index;
    tx.delete(Table::OpenKeys, open_k);
    tx.put_row(Table::Keys, key_key(volume, bucket, key), &info, !replaced);
    tx.put(Table::Buckets, bucket_key(volume, bucket), &bkt);
    tx.put(Table::Volumes, volume_key(volume), &vol);
    Ok(WriteOutcome::Key { key: info })
}

pub(super) fn delete(tx: &mut Tx<'_>, volume: &str, bucket: &str, key: &str) -> Result<WriteOutcome, ApiError> {
    let mut bkt = tx.read.bucket(volume, bucket)?;
    if fso::is_fso(&bkt) {
        return fso::delete(tx, bkt, key);
    }
    let old = tx
        .read
        .key(volume, bucket, key)?
        .ok_or_else(|| ApiError::new(ErrorCode::KeyNotFound, format!("key {volume}/{bucket}/{key} not found")))?;
    let mut vol = tx.read.volume(volume)?;
    bkt.used_bytes = bkt.used_bytes.saturating_sub(old.size);
    bkt.used_namespace = bkt.used_namespace.saturating_sub(1);
    bkt.update_id = tx.txn.log_index;
    vol.used_bytes = vol.used_bytes.saturating_sub(old.size);
    vol.update_id = tx.txn.log_index;
    tx.put(Table::DeletedKeys, deleted_key_key(volume, bucket, key, old.object_id), &old);
    tx.delete(Table::Keys, key_key(volume, bucket, key));
    tx.put(Table::Buckets, bucket_key(volume, bucket), &bkt);
    tx.put(Table::Volumes, volume_key(volume), &vol);
    Ok(WriteOutcome::Deleted)
}

/// Moves the listed open keys that are still open and were created before `created_before_ms`
/// to the deleted-keys table (the leader's cleanup, see [`super::expired_open_keys`]). Keys
/// committed or reopened since they were listed are left alone.
pub(super) fn expire_open(
    tx: &mut Tx<'_>,
    keys: &[OpenKeyId],
    created_before_ms: u64,
) -> Result<WriteOutcome, ApiError> {
    if created_before_ms > tx.now {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "cannot expire open keys created in the future"));
    }
    let mut count = 0;
    for id in keys {
        let open_k = open_key_key(&id.volume, &id.bucket, &id.key, id.client_id);
        let Some(info) = get_typed::<KeyInfo>(tx.read.view, Table::OpenKeys, &open_k)? else { continue };
        if info.creation_time >= created_before_ms {
            continue;
        }
        tx.put(Table::DeletedKeys, deleted_key_key(&id.volume, &id.bucket, &id.key, info.object_id), &info);
        tx.delete(Table::OpenKeys, open_k);
        count += 1;
    }
    Ok(WriteOutcome::OpenKeysExpired { count })
}

pub(super) fn rename(
    tx: &mut Tx<'_>,
    volume: &str,
    bucket: &str,
    key: &str,
    to_key: &str,
) -> Result<WriteOutcome, ApiError> {
    let bkt = tx.read.bucket(volume, bucket)?;
    if fso::is_fso(&bkt) {
        return fso::rename(tx, &bkt, key, to_key);
    }
    validate_key_name(to_key)?;
    let mut info = tx
        .read
        .key(volume, bucket, key)?
        .ok_or_else(|| ApiError::new(ErrorCode::KeyNotFound, format!("key {volume}/{bucket}/{key} not found")))?;
    if key == to_key {
        return Ok(WriteOutcome::Renamed { key: info });
    }
    if tx.read.key(volume, bucket, to_key)?.is_some() {
        return Err(ApiError::new(
            ErrorCode::KeyAlreadyExists,
            format!("key {volume}/{bucket}/{to_key} already exists"),
        ));
    }
    info.name = to_key.to_string();
    info.modification_time = tx.now;
    info.update_id = tx.txn.log_index;
    tx.delete(Table::Keys, key_key(volume, bucket, key));
    tx.put(Table::Keys, key_key(volume, bucket, to_key), &info);
    Ok(WriteOutcome::Renamed { key: info })
}
