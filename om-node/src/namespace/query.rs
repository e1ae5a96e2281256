//! Reads of the namespace: client queries, the open keys the leader's cleanup expires, and the
//! digest replicas compare.

use om_client::wire::*;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::types::OpenKeyId;

use super::tables::decode;
use super::validate::page_size;
use super::{Rows, Table, TableError, TableRead};

/// Whether `op` is answered, normalization and authorization included, from the tables held
/// whole in memory ([`Table::fully_cached`]) alone. Such a read never waits on RocksDB, so a
/// server can answer it on the thread that received it instead of handing it to a blocking pool
/// and back (two thread switches, the larger part of a cached read's cost). The authz tests check
/// that every op listed here touches no other table.
pub fn answered_from_memory(op: &ReadOp) -> bool {
    matches!(op, ReadOp::VolumeInfo { .. } | ReadOp::BucketInfo { .. })
}

/// Answers a query from the current state.
pub fn query(view: &dyn TableRead, op: &ReadOp) -> Result<ReadResponse, ApiError> {
    let rows = Rows { view };
    match op {
        ReadOp::VolumeInfo { volume } => Ok(ReadResponse::Volume { volume: rows.volume(volume)? }),
        ReadOp::ListVolumes { prefix, start_after, max, owner: None } => {
            let n = page_size(*max)?;
            let volumes = list(view, Table::Volumes, "/", prefix, start_after, n)?;
            Ok(ReadResponse::Volumes { volumes })
        }
        ReadOp::ListVolumes { prefix, start_after, max, owner: Some(owner) } => {
            let n = page_size(*max)?;
            let mut volumes: Vec<VolumeInfo> = Vec::with_capacity(n);
            let mut after = start_after.clone();
            // Pages of every volume, keeping the owner's, until the page is full.
            loop {
                let page: Vec<VolumeInfo> = list(view, Table::Volumes, "/", prefix, &after, LIST_MAX as usize)?;
                let last_page = page.len() < LIST_MAX as usize;
                if let Some(last) = page.last() {
                    after = last.name.clone();
                }
                volumes.extend(page.into_iter().filter(|v| &v.owner == owner).take(n - volumes.len()));
                if last_page || volumes.len() >= n {
                    return Ok(ReadResponse::Volumes { volumes });
                }
            }
        }
        ReadOp::BucketInfo { volume, bucket } => Ok(ReadResponse::Bucket { bucket: rows.bucket(volume, bucket)? }),
        ReadOp::ListBuckets { volume, prefix, start_after, max } => {
            let n = page_size(*max)?;
            rows.volume(volume)?;
            let buckets = list(view, Table::Buckets, &format!("/{volume}/"), prefix, start_after, n)?;
            Ok(ReadResponse::Buckets { buckets })
        }
        ReadOp::KeyInfo { volume, bucket, key } => {
            if super::fso::is_fso(&rows.bucket(volume, bucket)?) {
                return Ok(ReadResponse::Key { key: super::fso::lookup(rows, volume, bucket, key)? });
            }
            let info = rows.key(volume, bucket, key)?.ok_or_else(|| {
                ApiError::new(ErrorCode::KeyNotFound, format!("key {volume}/{bucket}/{key} not found"))
            })?;
            Ok(ReadResponse::Key { key: info })
        }
        ReadOp::ListKeys { volume, bucket, prefix, start_after, max } => {
            let n = page_size(*max)?;
            rows.bucket(volume, bucket)?;
            let keys = list(view, Table::Keys, &format!("/{volume}/{bucket}/"), prefix, start_after, n)?;
            Ok(ReadResponse::Keys { keys })
        }
        ReadOp::ListStatus { volume, bucket, key, start_key, max, recursive, allow_partial_prefix } => {
            let req = super::status::ListStatus {
                volume,
                bucket,
                key,
                start_key,
                max: page_size(*max)?,
                recursive: *recursive,
                allow_partial_prefix: *allow_partial_prefix,
            };
            Ok(ReadResponse::Statuses { statuses: super::status::list(rows, &req)? })
        }
        ReadOp::GetAcl { target } => Ok(ReadResponse::Acls { acls: super::acl::get(rows, target)? }),
        ReadOp::Digest => Err(ApiError::new(ErrorCode::InternalError, "digest is computed by the store")),
        ReadOp::ListOpenKeys { path, start_after, max } => {
            Ok(ReadResponse::OpenKeys(open_keys(view, path, start_after, page_size(*max)?)?))
        }
    }
}

/// A page of the open keys under `path` (`/`, or `/volume/bucket` and deeper: a prefix of
/// their names), after the row `start_after`, with the count of all of them (Ozone's
/// `listOpenFiles`). The continuation token is the last row's key.
fn open_keys(view: &dyn TableRead, path: &str, start_after: &str, max: usize) -> Result<OpenKeyPage, ApiError> {
    let depth = path.split('/').filter(|p| !p.is_empty()).count();
    if !path.starts_with('/') || (depth > 0 && depth < 2) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("Invalid path: {path}. Only root level or bucket level path is supported at this time"),
        ));
    }
    let prefix = if depth == 2 { format!("{}/", path.trim_end_matches('/')) } else { path.to_string() };
    let mut total = 0u64;
    let mut keys = Vec::new();
    let mut more = false;
    let mut after = Vec::new();
    loop {
        let page = view.scan(Table::OpenKeys, prefix.as_bytes(), &after, 1000)?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        total += page.len() as u64;
        for (row_key, row) in page {
            if row_key.as_slice() <= start_after.as_bytes() {
                continue;
            }
            if keys.len() == max {
                more = true;
                continue;
            }
            let Some(client_id) = client_id_of(&row_key) else { continue };
            keys.push((row_key, OpenKeyEntry { client_id, key: decode(Table::OpenKeys, &row)? }));
        }
    }
    let continuation_token =
        keys.last().filter(|_| more).map(|(row_key, _)| String::from_utf8_lossy(row_key).into_owned());
    Ok(OpenKeyPage { total, keys: keys.into_iter().map(|(_, e)| e).collect(), continuation_token })
}

/// The client id at the end of an open key's row key (`/volume/bucket/key/<client id>`).
fn client_id_of(row_key: &[u8]) -> Option<u64> {
    std::str::from_utf8(row_key).ok()?.rsplit_once('/')?.1.parse().ok()
}

/// One page of the rows under `parent` whose names start with `prefix` and sort after
/// `start_after`.
fn list<T: DeserializeOwned>(
    view: &dyn TableRead,
    table: Table,
    parent: &str,
    prefix: &str,
    start_after: &str,
    max: usize,
) -> Result<Vec<T>, TableError> {
    let full_prefix = format!("{parent}{prefix}");
    let start = if start_after.is_empty() { String::new() } else { format!("{parent}{start_after}") };
    view.scan(table, full_prefix.as_bytes(), start.as_bytes(), max)?
        .into_iter()
        .map(|(_, v)| decode(table, &v))
        .collect()
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
        let page = view.scan(Table::OpenKeys, b"", &start_after, 1000)?;
        let Some((last, _)) = page.last() else { break };
        start_after = last.clone();
        for (row_key, row) in &page {
            let info: KeyInfo = decode(Table::OpenKeys, row)?;
            if info.creation_time >= created_before_ms {
                continue;
            }
            let Some(client_id) = client_id_of(row_key) else { continue };
            found.push(OpenKeyId { volume: info.volume, bucket: info.bucket, key: info.name, client_id });
            if found.len() == limit {
                break;
            }
        }
    }
    Ok(found)
}

/// SHA-256 over every namespace table as of now, and the number of rows it covers; equal on
/// replicas at the same index.
pub fn digest(view: &dyn TableRead) -> Result<(String, u64), TableError> {
    let mut h = Sha256::new();
    let mut n = 0u64;
    for t in Table::ALL.into_iter().filter(|t| t.in_digest()) {
        for (k, v) in view.scan(t, b"", b"", usize::MAX)? {
            h.update(t.cf_name().as_bytes());
            h.update((k.len() as u64).to_be_bytes());
            h.update(&k);
            h.update((v.len() as u64).to_be_bytes());
            h.update(&v);
            n += 1;
        }
    }
    Ok((hex::encode(h.finalize()), n))
}
