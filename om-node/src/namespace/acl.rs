//! ACL operations (Ozone's `addacl`, `removeacl`, `setacl`, `getacl`) on volumes, buckets, keys
//! and prefixes, and the prefix table they need.
//!
//! Prefix entries exist only to carry ACLs: one is created by the first add or set on its path
//! (starting from the DEFAULT ACLs of the deepest parent prefix entry, else of the bucket, as
//! ACCESS entries: Ozone's `PrefixManagerImpl.inheritParentAcl`), and removed once its last entry
//! is. Deleting a bucket removes its prefix entries.

use om_client::acl::{add_acl, inherit_default_acls, remove_acl, set_acls, AclScope, OzoneAcl};
use om_client::wire::{AclTarget, ApiError, ErrorCode, WriteOutcome};
use serde::{Deserialize, Serialize};

use super::tables::prefix_key;
use super::{bucket_key, key_key, volume_key, Rows, Table, Tx};

/// A row of the prefix table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixInfo {
    pub volume: String,
    pub bucket: String,
    /// The prefix path inside the bucket, ending with `/`.
    pub name: String,
    pub acls: Vec<OzoneAcl>,
    pub creation_time: u64,
    pub modification_time: u64,
    pub object_id: u64,
    pub update_id: u64,
}

/// One ACL change as the client asked for it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Edit<'a> {
    Add(&'a OzoneAcl),
    Remove(&'a OzoneAcl),
    Set(&'a [OzoneAcl]),
}

impl Edit<'_> {
    /// Changes `acls`; whether anything changed (a set always counts as a change, as in Ozone).
    fn apply(self, acls: &mut Vec<OzoneAcl>) -> bool {
        match self {
            Edit::Add(acl) => add_acl(acls, acl),
            Edit::Remove(acl) => remove_acl(acls, acl),
            Edit::Set(new) => {
                set_acls(acls, new.to_vec());
                true
            }
        }
    }
}

/// A prefix path must be a relative path ending with `/` (`dir/`, `a/b/`).
pub(super) fn validate_prefix(prefix: &str) -> Result<(), ApiError> {
    if prefix.is_empty() || prefix.starts_with('/') || !prefix.ends_with('/') || prefix.contains("//") {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("invalid prefix {prefix:?}: a prefix is a path inside the bucket ending with '/', e.g. dir/"),
        ));
    }
    Ok(())
}

/// Applies `edit` to the ACLs of `target`.
pub(super) fn change(tx: &mut Tx<'_>, target: &AclTarget, edit: Edit<'_>) -> Result<WriteOutcome, ApiError> {
    let (now, update_id) = (tx.now, tx.txn.log_index);
    match target {
        AclTarget::Volume { volume } => {
            let mut info = tx.read.volume(volume)?;
            let changed = edit.apply(&mut info.acls);
            if changed {
                (info.modification_time, info.update_id) = (now, update_id);
                tx.put(Table::Volumes, volume_key(volume), &info);
            }
            Ok(WriteOutcome::Acl { changed, acls: info.acls })
        }
        AclTarget::Bucket { volume, bucket } => {
            let mut info = tx.read.bucket(volume, bucket)?;
            let changed = edit.apply(&mut info.acls);
            if changed {
                (info.modification_time, info.update_id) = (now, update_id);
                tx.put(Table::Buckets, bucket_key(volume, bucket), &info);
            }
            Ok(WriteOutcome::Acl { changed, acls: info.acls })
        }
        AclTarget::Key { volume, bucket, key } => {
            let bkt = tx.read.bucket(volume, bucket)?;
            let (row, mut info) =
                super::fso::named_row(tx.read, &bkt, key)?.ok_or_else(|| key_not_found(volume, bucket, key))?;
            let changed = edit.apply(&mut info.acls);
            if changed {
                (info.modification_time, info.update_id) = (now, update_id);
                tx.put(Table::Keys, key_key(volume, bucket, &row), &info);
            }
            Ok(WriteOutcome::Acl { changed, acls: info.acls })
        }
        AclTarget::Prefix { volume, bucket, prefix } => change_prefix(tx, volume, bucket, prefix, edit),
    }
}

fn change_prefix(
    tx: &mut Tx<'_>,
    volume: &str,
    bucket: &str,
    prefix: &str,
    edit: Edit<'_>,
) -> Result<WriteOutcome, ApiError> {
    validate_prefix(prefix)?;
    let bucket_row = tx.read.bucket(volume, bucket)?;
    let row_key = prefix_key(volume, bucket, prefix);
    let existing = tx.read.prefix(volume, bucket, prefix)?;
    let exists = existing.is_some();
    if !exists && matches!(edit, Edit::Remove(_)) {
        return Ok(WriteOutcome::Acl { changed: false, acls: Vec::new() });
    }
    let mut info = match existing {
        Some(info) => info,
        None => {
            let mut acls = Vec::new();
            let parent = tx.read.deepest_prefix(volume, bucket, prefix.trim_end_matches('/'))?;
            let parent_acls = parent.as_ref().map(|p| p.acls.as_slice()).unwrap_or(&bucket_row.acls);
            inherit_default_acls(&mut acls, parent_acls, AclScope::Access);
            PrefixInfo {
                volume: volume.to_string(),
                bucket: bucket.to_string(),
                name: prefix.to_string(),
                acls,
                creation_time: tx.now,
                modification_time: tx.now,
                object_id: tx.txn.object_id,
                update_id: tx.txn.log_index,
            }
        }
    };
    let changed = edit.apply(&mut info.acls);
    if info.acls.is_empty() {
        if exists {
            tx.delete(Table::Prefixes, row_key);
        }
    } else if changed || !exists {
        (info.modification_time, info.update_id) = (tx.now, tx.txn.log_index);
        tx.put_row(Table::Prefixes, row_key, &info, !exists);
    }
    Ok(WriteOutcome::Acl { changed, acls: info.acls })
}

/// The ACLs of `target` (`getacl`); a prefix without an entry has none.
pub(super) fn get(rows: Rows<'_>, target: &AclTarget) -> Result<Vec<OzoneAcl>, ApiError> {
    match target {
        AclTarget::Volume { volume } => Ok(rows.volume(volume)?.acls),
        AclTarget::Bucket { volume, bucket } => Ok(rows.bucket(volume, bucket)?.acls),
        AclTarget::Key { volume, bucket, key } => {
            let bkt = rows.bucket(volume, bucket)?;
            Ok(super::fso::named_row(rows, &bkt, key)?.ok_or_else(|| key_not_found(volume, bucket, key))?.1.acls)
        }
        AclTarget::Prefix { volume, bucket, prefix } => {
            validate_prefix(prefix)?;
            rows.bucket(volume, bucket)?;
            Ok(rows.prefix(volume, bucket, prefix)?.map(|p| p.acls).unwrap_or_default())
        }
    }
}

/// Removes every prefix entry of a bucket (when the bucket is deleted).
pub(super) fn delete_bucket_prefixes(tx: &mut Tx<'_>, volume: &str, bucket: &str) -> Result<(), ApiError> {
    let under = format!("/{volume}/{bucket}/");
    for (row_key, _) in tx.read.view.scan(Table::Prefixes, under.as_bytes(), b"", usize::MAX)? {
        tx.delete(Table::Prefixes, row_key);
    }
    Ok(())
}

fn key_not_found(volume: &str, bucket: &str, key: &str) -> ApiError {
    ApiError::new(ErrorCode::KeyNotFound, format!("key {volume}/{bucket}/{key} not found"))
}
