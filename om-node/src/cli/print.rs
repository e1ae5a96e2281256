//! How `sh` commands print what the ring answered: JSON with `--json`, else for people; and
//! listings, page by page.

use om_client::wire::*;
use om_client::{ClientError, FailoverClient};
use serde::Serialize;

use super::{CliError, ListArgs};

pub(super) fn print<T: Serialize>(json: bool, value: &T, human: impl FnOnce() -> String) {
    if json {
        println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
    } else {
        println!("{}", human());
    }
}

pub(super) fn human_volume(v: &VolumeInfo) -> String {
    format!(
        "volume {}\n  owner: {}\n  quota: {} bytes, {} buckets\n  used: {} bytes, {} buckets\n  created: {} (object id {})",
        v.name, v.owner, quota_str(v.quota_in_bytes), quota_str(v.quota_in_namespace), v.used_bytes, v.used_namespace, v.creation_time, v.object_id
    )
}

pub(super) fn human_bucket(b: &BucketInfo) -> String {
    format!(
        "bucket /{}/{}\n  owner: {}\n  layout: {}\n  versioning: {}\n  quota: {} bytes, {} keys\n  used: {} bytes, {} keys\n  created: {} (object id {})",
        b.volume, b.name, b.owner, b.layout.as_str(), b.versioning, quota_str(b.quota_in_bytes), quota_str(b.quota_in_namespace), b.used_bytes, b.used_namespace, b.creation_time, b.object_id
    )
}

pub(super) fn human_key(k: &KeyInfo) -> String {
    let meta: Vec<String> = k.metadata.iter().map(|(a, b)| format!("{a}={b}")).collect();
    format!(
        "key /{}/{}/{}\n  size: {}\n  replication: {}\n  metadata: {}\n  modified: {} (object id {})",
        k.volume,
        k.bucket,
        k.name,
        k.size,
        k.replication,
        meta.join(","),
        k.modification_time,
        k.object_id
    )
}

fn quota_str(q: i64) -> String {
    if q < 0 {
        "unlimited".into()
    } else {
        q.to_string()
    }
}

/// Prints the record a write produced, as JSON or for humans.
pub(super) fn print_outcome(json: bool, r: &WriteResponse) {
    match &r.outcome {
        WriteOutcome::Volume { volume } => print(json, volume, || human_volume(volume)),
        WriteOutcome::Bucket { bucket } => print(json, bucket, || human_bucket(bucket)),
        WriteOutcome::Key { key } | WriteOutcome::Renamed { key } => print(json, key, || human_key(key)),
        other => print(json, r, || format!("{other:?}")),
    }
}

/// Prints the record itself (not the tagged envelope), as JSON or for humans.
pub(super) fn print_read(json: bool, r: &ReadResponse) {
    match r {
        ReadResponse::Volume { volume } => print(json, volume, || human_volume(volume)),
        ReadResponse::Bucket { bucket } => print(json, bucket, || human_bucket(bucket)),
        ReadResponse::Key { key } => print(json, key, || human_key(key)),
        other => print(json, other, || format!("{other:?}")),
    }
}

/// Prints one page of a listing, or every page with `--all`.
pub(super) async fn list_all(
    client: &FailoverClient,
    list: &ListArgs,
    json: bool,
    page: impl Fn(String) -> ReadOp,
) -> Result<(), CliError> {
    let mut start = list.start.clone();
    let mut all: Vec<serde_json::Value> = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    loop {
        let (names, values): (Vec<String>, Vec<serde_json::Value>) = match client.read(page(start.clone())).await? {
            ReadResponse::Volumes { volumes } => {
                volumes.iter().map(|v| (v.name.clone(), serde_json::to_value(v).unwrap_or_default())).unzip()
            }
            ReadResponse::Buckets { buckets } => {
                buckets.iter().map(|b| (b.name.clone(), serde_json::to_value(b).unwrap_or_default())).unzip()
            }
            ReadResponse::Keys { keys } => {
                keys.iter().map(|k| (k.name.clone(), serde_json::to_value(k).unwrap_or_default())).unzip()
            }
            other => {
                return Err(CliError::Client(ClientError::Api(ApiError::new(
                    ErrorCode::InternalError,
                    format!("unexpected answer {other:?}"),
                ))))
            }
        };
        let n = names.len();
        if let Some(last) = names.last() {
            start = last.clone();
        }
        lines.extend(names);
        all.extend(values);
        if !list.all || n < list.length as usize || n == 0 {
            break;
        }
    }
    print(json, &all, || lines.join("\n"));
    Ok(())
}
