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

/// The records a listing gathered, page by page.
enum Listed {
    Volumes(Vec<VolumeInfo>),
    Buckets(Vec<BucketInfo>),
    Keys(Vec<KeyInfo>),
}

impl Listed {
    fn from_page(r: ReadResponse) -> Result<Listed, CliError> {
        match r {
            ReadResponse::Volumes { volumes } => Ok(Listed::Volumes(volumes)),
            ReadResponse::Buckets { buckets } => Ok(Listed::Buckets(buckets)),
            ReadResponse::Keys { keys } => Ok(Listed::Keys(keys)),
            other => Err(CliError::Client(ClientError::Api(ApiError::new(
                ErrorCode::InternalError,
                format!("a listing answered {other:?}"),
            )))),
        }
    }

    /// (entries, name of the last) of a page.
    fn page_end(&self) -> (usize, Option<String>) {
        match self {
            Listed::Volumes(v) => (v.len(), v.last().map(|x| x.name.clone())),
            Listed::Buckets(b) => (b.len(), b.last().map(|x| x.name.clone())),
            Listed::Keys(k) => (k.len(), k.last().map(|x| x.name.clone())),
        }
    }

    fn append(&mut self, page: Listed) {
        match (self, page) {
            (Listed::Volumes(all), Listed::Volumes(more)) => all.extend(more),
            (Listed::Buckets(all), Listed::Buckets(more)) => all.extend(more),
            (Listed::Keys(all), Listed::Keys(more)) => all.extend(more),
            _ => {}
        }
    }

    fn print(&self, json: bool) {
        match self {
            Listed::Volumes(v) => print(json, v, || ozone_json::volumes(v)),
            Listed::Buckets(b) => print(json, b, || ozone_json::buckets(b)),
            Listed::Keys(k) => print(json, k, || ozone_json::keys(k)),
        }
    }
}

/// Prints one page of a listing, or every page with `--all`: as Ozone prints it (a JSON array
/// of the objects), or with `--json` the API's records.
pub(super) async fn list_all(
    client: &FailoverClient,
    list: &ListArgs,
    json: bool,
    page: impl Fn(String) -> ReadOp,
) -> Result<(), CliError> {
    let mut start = list.start.clone();
    let mut listed: Option<Listed> = None;
    loop {
        let got = Listed::from_page(client.read(page(start.clone())).await?)?;
        let (n, last) = got.page_end();
        if let Some(last) = last {
            start = last;
        }
        match listed.as_mut() {
            Some(all) => all.append(got),
            None => listed = Some(got),
        }
        if !list.all || n < list.length as usize || n == 0 {
            break;
        }
    }
    if let Some(all) = listed {
        all.print(json);
    }
    Ok(())
}
