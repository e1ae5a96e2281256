//! Volume operations: create, change owner or quotas, delete when empty.

use std::collections::BTreeMap;

use om_client::acl::{acls_for_volume, OzoneAcl};
use om_client::wire::{ApiError, ErrorCode, VolumeInfo, WriteOutcome};

use super::validate::{validate_quota, validate_volume_name};
use super::{volume_key, Table, Tx};

/// The owner of a volume created without one (the leader names the caller instead when
/// security is on).
pub const DEFAULT_VOLUME_OWNER: &str = "hadoop";

pub(super) fn create(
    tx: &mut Tx<'_>,
    volume: &str,
    owner: &Option<String>,
    (quota_in_bytes, quota_in_namespace): (Option<i64>, Option<i64>),
    metadata: &BTreeMap<String, String>,
    owner_acls: &[OzoneAcl],
) -> Result<WriteOutcome, ApiError> {
    validate_volume_name(volume)?;
    let qb = validate_quota("quota_in_bytes", quota_in_bytes)?;
    let qn = validate_quota("quota_in_namespace", quota_in_namespace)?;
    if tx.read.exists(Table::Volumes, &volume_key(volume))? {
        return Err(ApiError::new(ErrorCode::VolumeAlreadyExists, format!("volume {volume} already exists")));
    }
    let owner = owner.clone().unwrap_or_else(|| DEFAULT_VOLUME_OWNER.to_string());
    let info = VolumeInfo {
        name: volume.to_string(),
        admin: owner.clone(),
        owner,
        quota_in_bytes: qb,
        quota_in_namespace: qn,
        used_bytes: 0,
        used_namespace: 0,
        metadata: metadata.clone(),
        creation_time: tx.now,
        modification_time: tx.now,
        object_id: tx.txn.object_id,
        update_id: tx.txn.log_index,
        acls: acls_for_volume(owner_acls.to_vec(), &[]),
    };
    tx.put(Table::Volumes, volume_key(volume), &info);
    Ok(WriteOutcome::Volume { volume: info })
}

pub(super) fn set_property(
    tx: &mut Tx<'_>,
    volume: &str,
    owner: &Option<String>,
    quota_in_bytes: Option<i64>,
    quota_in_namespace: Option<i64>,
) -> Result<WriteOutcome, ApiError> {
    let mut info = tx.read.volume(volume)?;
    if let Some(o) = owner {
        if o.trim().is_empty() {
            return Err(ApiError::new(ErrorCode::InvalidRequest, "owner must not be empty"));
        }
        info.owner = o.clone();
    }
    if quota_in_bytes.is_some() {
        info.quota_in_bytes = validate_quota("quota_in_bytes", quota_in_bytes)?;
    }
    if quota_in_namespace.is_some() {
        let qn = validate_quota("quota_in_namespace", quota_in_namespace)?;
        if qn >= 0 && (qn as u64) < info.used_namespace {
            return Err(ApiError::new(
                ErrorCode::QuotaExceeded,
                format!("volume {volume} already has {} buckets, more than {qn}", info.used_namespace),
            ));
        }
        info.quota_in_namespace = qn;
    }
    info.modification_time = tx.now;
    info.update_id = tx.txn.log_index;
    tx.put(Table::Volumes, volume_key(volume), &info);
    Ok(WriteOutcome::Volume { volume: info })
}

pub(super) fn delete(tx: &mut Tx<'_>, volume: &str) -> Result<WriteOutcome, ApiError> {
    tx.read.volume(volume)?;
    if tx.read.has_children(Table::Buckets, format!("/{volume}/").as_bytes())? {
        return Err(ApiError::new(ErrorCode::VolumeNotEmpty, format!("volume {volume} is not empty")));
    }
    tx.delete(Table::Volumes, volume_key(volume));
    Ok(WriteOutcome::Deleted)
}
