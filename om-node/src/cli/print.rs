//! How `sh` commands print what the ring answered: the API's record with `--json`, else as
//! Ozone's shell prints it ([`super::ozone_json`]); and listings, page by page.

use om_client::wire::*;
use om_client::{ClientError, FailoverClient};
use serde::Serialize;

use super::{ozone_json, CliError, ListArgs};

pub(super) fn print<T: Serialize>(json: bool, value: &T, human: impl FnOnce() -> String) {
    if json {
        println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
    } else {
        println!("{}", human());
    }
}

/// Prints the record a write produced.
pub(super) fn print_outcome(json: bool, r: &WriteResponse) {
    match &r.outcome {
        WriteOutcome::Volume { volume } => print(json, volume, || ozone_json::volume(volume)),
        WriteOutcome::Bucket { bucket } => print(json, bucket, || ozone_json::bucket(bucket)),
        WriteOutcome::Key { key } | WriteOutcome::Renamed { key } => print(json, key, || ozone_json::key(key)),
        other => print(json, r, || format!("{other:?}")),
    }
}

/// Prints the record itself (not the tagged envelope).
pub(super) fn print_read(json: bool, r: &ReadResponse) {
    match r {
        ReadResponse::Volume { volume } => print(json, volume, || ozone_json::volume(volume)),
        ReadResponse::Bucket { bucket } => print(json, bucket, || ozone_json::bucket(bucket)),
        ReadResponse::Key { key } => print(json, key, || ozone_json::key(key)),
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
