//! Bucket operations: create within a volume's quotas, delete when empty. A volume counts its
//! buckets in `used_namespace`. A new bucket's ACLs are its creator's defaults and the volume's
//! DEFAULT ACLs (as ACCESS entries).

use std::collections::BTreeMap;

use om_client::acl::{acls_for_bucket, OzoneAcl};
use om_client::wire::{ApiError, BucketInfo, BucketLayout, ErrorCode, WriteOutcome};

use super::validate::{validate_bucket_name, validate_quota};
use super::{bucket_key, volume_key, Table, Tx};

/// The fields of [`crate::types::LogOp::CreateBucket`].
pub(super) struct NewBucket<'a> {
    pub volume: &'a str,
    pub bucket: &'a str,
    pub owner: &'a Option<String>,
    pub layout: Option<BucketLayout>,
    pub versioning: bool,
    pub quota_in_bytes: Option<i64>,
    pub quota_in_namespace: Option<i64>,
    pub metadata: &'a BTreeMap<String, String>,
    /// The creator's default ACLs.
    pub acls: &'a [OzoneAcl],
}

pub(super) fn create(tx: &mut Tx<'_>, new: NewBucket<'_>) -> Result<WriteOutcome, ApiError> {
    let NewBucket { volume, bucket, owner, layout, versioning, quota_in_bytes, quota_in_namespace, metadata, acls } =
        new;
    validate_bucket_name(bucket)?;
    let qb = validate_quota("quota_in_bytes", quota_in_bytes)?;
    let qn = validate_quota("quota_in_namespace", quota_in_namespace)?;
    let mut vol = tx.read.volume(volume)?;
    if tx.read.exists(Table::Buckets, &bucket_key(volume, bucket))? {
        return Err(ApiError::new(ErrorCode::BucketAlreadyExists, format!("bucket {volume}/{bucket} already exists")));
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
        volume: volume.to_string(),
        name: bucket.to_string(),
        owner: owner.clone().unwrap_or_else(|| vol.owner.clone()),
        layout: layout.unwrap_or_default(),
        versioning,
        storage_type: "DISK".into(),
        quota_in_bytes: qb,
        quota_in_namespace: qn,
        used_bytes: 0,
        used_namespace: 0,
        metadata: metadata.clone(),
        creation_time: tx.now,
        modification_time: tx.now,
        object_id: tx.txn.object_id,
        update_id: tx.txn.log_index,
        acls: acls_for_bucket(acls.to_vec(), &[], &vol.acls),
    };
    vol.used_namespace += 1;
    vol.update_id = tx.txn.log_index;
    tx.put(Table::Volumes, volume_key(volume), &vol);
    tx.put(Table::Buckets, bucket_key(volume, bucket), &info);
    Ok(WriteOutcome::Bucket { bucket: info })
}

pub(super) fn delete(tx: &mut Tx<'_>, volume: &str, bucket: &str) -> Result<WriteOutcome, ApiError> {
    tx.read.bucket(volume, bucket)?;
    if tx.read.has_children(Table::Keys, format!("/{volume}/{bucket}/").as_bytes())? {
        return Err(ApiError::new(ErrorCode::BucketNotEmpty, format!("bucket {volume}/{bucket} is not empty")));
    }
    let mut vol = tx.read.volume(volume)?;
    vol.used_namespace = vol.used_namespace.saturating_sub(1);
    vol.update_id = tx.txn.log_index;
    tx.put(Table::Volumes, volume_key(volume), &vol);
    tx.delete(Table::Buckets, bucket_key(volume, bucket));
    super::acl::delete_bucket_prefixes(tx, volume, bucket)?;
    Ok(WriteOutcome::Deleted)
}
