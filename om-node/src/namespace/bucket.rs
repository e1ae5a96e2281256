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

/// The fields of [`crate::types::LogOp::SetBucketProperty`].
pub(super) struct BucketChange<'a> {
    pub volume: &'a str,
    pub bucket: &'a str,
    pub owner: &'a Option<String>,
    pub versioning: Option<bool>,
    pub quota_in_bytes: Option<i64>,
    pub quota_in_namespace: Option<i64>,
}

/// Ozone's OMBucketSetPropertyRequest and OMBucketSetOwnerRequest: the fields given replace the
/// bucket's. A space quota may not drop below the bytes used, may not be cleared while the
/// volume has one, and together with the other buckets' quotas may not exceed the volume's; a
/// namespace quota may not drop below the keys stored.
pub(super) fn set_property(tx: &mut Tx<'_>, change: BucketChange<'_>) -> Result<WriteOutcome, ApiError> {
    let BucketChange { volume, bucket, owner, versioning, quota_in_bytes, quota_in_namespace } = change;
    let mut info = tx.read.bucket(volume, bucket)?;
    if let Some(o) = owner {
        if o.trim().is_empty() {
            return Err(ApiError::new(ErrorCode::InvalidRequest, "owner must not be empty"));
        }
        info.owner = o.clone();
    }
    if let Some(v) = versioning {
        info.versioning = v;
    }
    if quota_in_bytes.is_some() {
        let qb = validate_quota("quota_in_bytes", quota_in_bytes)?;
        let vol = tx.read.volume(volume)?;
        // Ozone refuses any -1 here; re-sending -1 for a bucket without a quota (what Ozone's
        // `setquota --namespace-quota` does) clears nothing, so omring lets it pass.
        if qb < 0 && info.quota_in_bytes >= 0 && vol.quota_in_bytes >= 0 {
            return Err(ApiError::new(
                ErrorCode::QuotaError,
                format!("cannot clear the space quota of bucket {volume}/{bucket}: volume {volume} has one"),
            ));
        }
        if qb >= 0 && (qb as u64) < info.used_bytes {
            return Err(ApiError::new(
                ErrorCode::QuotaError,
                format!("space quota {qb} of bucket {volume}/{bucket} is below the {} bytes it uses", info.used_bytes),
            ));
        }
        if qb >= 0 && vol.quota_in_bytes >= 0 {
            let total = qb.saturating_add(other_bucket_quotas(tx, volume, bucket)?);
            if total > vol.quota_in_bytes {
                return Err(ApiError::new(
                    ErrorCode::QuotaExceeded,
                    format!(
                        "the space quotas of volume {volume}'s buckets would total {total}, more than the volume's {}",
                        vol.quota_in_bytes
                    ),
                ));
            }
        }
        info.quota_in_bytes = qb;
    }
    if quota_in_namespace.is_some() {
        let qn = validate_quota("quota_in_namespace", quota_in_namespace)?;
        if qn >= 0 && (qn as u64) < info.used_namespace {
            return Err(ApiError::new(
                ErrorCode::QuotaError,
                format!("bucket {volume}/{bucket} already has {} keys, more than {qn}", info.used_namespace),
            ));
        }
        info.quota_in_namespace = qn;
    }
    info.modification_time = tx.now;
    info.update_id = tx.txn.log_index;
    tx.put(Table::Buckets, bucket_key(volume, bucket), &info);
    Ok(WriteOutcome::Bucket { bucket: info })
}

/// The sum of the space quotas set on `volume`'s buckets other than `bucket`.
fn other_bucket_quotas(tx: &Tx<'_>, volume: &str, bucket: &str) -> Result<i64, ApiError> {
    let parent = format!("/{volume}/");
    let mut total = 0i64;
    let mut start_after = Vec::new();
    loop {
        let page = tx.read.view.scan(Table::Buckets, parent.as_bytes(), &start_after, 1000)?;
        let Some((last, _)) = page.last() else { break };
        start_after = last.clone();
        for (_, row) in &page {
            let other: BucketInfo = super::tables::decode(Table::Buckets, row)?;
            if other.name != bucket && other.quota_in_bytes > 0 {
                total = total.saturating_add(other.quota_in_bytes);
            }
        }
    }
    Ok(total)
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
