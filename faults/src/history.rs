//! What the clients did and saw, and its projection onto single objects for porcupine.
//!
//! Every client call becomes one [`Event`]: the operation, when it was called and when it
//! returned (by one monotonic clock), and its [`Outcome`]. A call whose fate is unknown (the
//! client gave up after sending, or an error that does not say whether the write happened)
//! has no return time: it may take effect at any later moment, or never.
//!
//! [`project`] turns the events into operations on single objects (a volume, a bucket, a key),
//! each of which must behave as one linearizable register of "absent or present with a value".
//! A rename is a delete of its source and a create of its target at the same moment; a list
//! that is complete over a range is a read of every object ever named in that range.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::{FaultError, Result};

/// Objects of each kind live under a name prefix the traffic owns.
pub const REGISTER_VOLUME_PREFIX: &str = "rv";
/// The volume holding the register buckets.
pub const BUCKET_VOLUME: &str = "fbv";
pub const REGISTER_BUCKET_PREFIX: &str = "rb";
/// The volume and bucket holding the keys.
pub const KEY_VOLUME: &str = "fkv";
pub const KEY_BUCKET: &str = "keys";

/// One client call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    CreateVolume {
        volume: String,
        owner: String,
    },
    SetVolumeOwner {
        volume: String,
        owner: String,
    },
    VolumeInfo {
        volume: String,
    },
    DeleteVolume {
        volume: String,
    },
    ListVolumes {
        prefix: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        start_after: String,
    },
    CreateBucket {
        bucket: String,
        owner: String,
    },
    BucketInfo {
        bucket: String,
    },
    DeleteBucket {
        bucket: String,
    },
    ListBuckets {
        prefix: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        start_after: String,
    },
    /// Open and commit; `size` identifies this write of the key.
    CreateKey {
        key: String,
        size: u64,
    },
    KeyInfo {
        key: String,
    },
    DeleteKey {
        key: String,
    },
    /// `size` is the source key's, so the target's value is known.
    RenameKey {
        key: String,
        to: String,
        size: u64,
    },
    ListKeys {
        prefix: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        start_after: String,
    },
}

/// What the client got back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// The write took effect.
    Ok,
    /// A read found the object with this value.
    Found { value: String },
    /// A list returned these objects (name, value); `complete` unless it filled a page.
    Listed { entries: Vec<(String, String)>, complete: bool },
    /// The ring answered with this error code: the call took effect as a failure.
    Failed { code: String },
    /// Nobody knows whether the call took effect.
    Unknown { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub client: usize,
    /// Nanoseconds since the history began.
    pub call: u64,
    /// `None` with [`Outcome::Unknown`].
    #[serde(rename = "return")]
    pub ret: Option<u64>,
    #[serde(flatten)]
    pub op: Op,
    pub outcome: Outcome,
}

impl Op {
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            Op::VolumeInfo { .. }
                | Op::ListVolumes { .. }
                | Op::BucketInfo { .. }
                | Op::ListBuckets { .. }
                | Op::KeyInfo { .. }
                | Op::ListKeys { .. }
        )
    }
}

impl Event {
    pub fn is_write(&self) -> bool {
        !self.op.is_read()
    }
}

/// Collects events from every client.
pub struct Recorder {
    start: Instant,
    events: Mutex<Vec<Event>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder { start: Instant::now(), events: Mutex::new(Vec::new()) }
    }
}

impl Recorder {
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    pub fn push(&self, e: Event) {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).push(e);
    }

    pub fn events(&self) -> Vec<Event> {
        let mut v = self.events.lock().unwrap_or_else(|p| p.into_inner()).clone();
        v.sort_by_key(|e| e.call);
        v
    }

    /// Events that returned (with any outcome) before `until_ns`.
    pub fn completed_before(&self, until_ns: u64) -> usize {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|e| e.ret.is_some_and(|r| r < until_ns))
            .count()
    }
}

/// One operation on one object, as porcupine's model reads it (scripts/tools/porcupine-check).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelOp {
    pub key: String,
    pub client: usize,
    pub call: u64,
    #[serde(rename = "return")]
    pub ret: Option<u64>,
    pub input: ModelInput,
    pub output: ModelOutput,
    pub desc: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelInput {
    pub op: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelOutput {
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Something in the history that no model step explains, found while projecting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    pub what: String,
}

/// The object key of a volume, bucket or key name.
pub fn volume_key(v: &str) -> String {
    format!("volume/{v}")
}
pub fn bucket_key(b: &str) -> String {
    format!("bucket/{b}")
}
pub fn key_key(k: &str) -> String {
    format!("key/{k}")
}

/// The error codes each operation may fail with as a definite answer; any other code is an
/// anomaly (the traffic never provokes it).
fn expected_failure(op: &Op, code: &str) -> Option<&'static str> {
    match (op, code) {
        (Op::CreateVolume { .. }, "VOLUME_ALREADY_EXISTS") | (Op::CreateBucket { .. }, "BUCKET_ALREADY_EXISTS") => {
            Some("exists")
        }
        (Op::SetVolumeOwner { .. } | Op::VolumeInfo { .. } | Op::DeleteVolume { .. }, "VOLUME_NOT_FOUND")
        | (Op::BucketInfo { .. } | Op::DeleteBucket { .. }, "BUCKET_NOT_FOUND")
        | (Op::KeyInfo { .. } | Op::DeleteKey { .. } | Op::RenameKey { .. }, "KEY_NOT_FOUND") => Some("not_found"),
        _ => None,
    }
}

/// The projection of a history, and anything in it that cannot be projected.
pub struct Projection {
    pub ops: Vec<ModelOp>,
    pub anomalies: Vec<Anomaly>,
}

/// Every object name of each kind that any call named (the universe a complete list covers).
fn universe(events: &[Event]) -> BTreeSet<String> {
    let mut u = BTreeSet::new();
    for e in events {
        match &e.op {
            Op::CreateVolume { volume, .. }
            | Op::SetVolumeOwner { volume, .. }
            | Op::VolumeInfo { volume }
            | Op::DeleteVolume { volume } => {
                u.insert(volume_key(volume));
            }
            Op::CreateBucket { bucket, .. } | Op::BucketInfo { bucket } | Op::DeleteBucket { bucket } => {
                u.insert(bucket_key(bucket));
            }
            Op::CreateKey { key, .. } | Op::KeyInfo { key } | Op::DeleteKey { key } => {
                u.insert(key_key(key));
            }
            Op::RenameKey { key, to, .. } => {
                u.insert(key_key(key));
                u.insert(key_key(to));
            }
            Op::ListVolumes { .. } | Op::ListBuckets { .. } | Op::ListKeys { .. } => {}
        }
    }
    u
}

pub fn project(events: &[Event]) -> Projection {
    let names = universe(events);
    let mut ops = Vec::new();
    let mut anomalies = Vec::new();
    for e in events {
        let desc = serde_json::to_string(&e.op).unwrap_or_default();
        let mut emit =
            |key: String, op: &'static str, value: Option<String>, result: &'static str, out: Option<String>| {
                ops.push(ModelOp {
                    key,
                    client: e.client,
                    call: e.call,
                    ret: if result == "unknown" { None } else { e.ret },
                    input: ModelInput { op, value },
                    output: ModelOutput { result, value: out },
                    desc: desc.clone(),
                })
            };
        let result: Option<&'static str> = match &e.outcome {
            Outcome::Ok => Some("ok"),
            Outcome::Unknown { .. } => Some("unknown"),
            Outcome::Failed { code } => match expected_failure(&e.op, code) {
                Some(r) => Some(r),
                None => {
                    anomalies.push(Anomaly { what: format!("unexpected answer {code} to {desc}") });
                    None
                }
            },
            Outcome::Found { .. } | Outcome::Listed { .. } => None,
        };
        match (&e.op, &e.outcome) {
            // Reads with an unknown outcome say nothing.
            (_, Outcome::Unknown { .. }) if !e.is_write() => {}
            (Op::CreateVolume { volume, owner }, _) | (Op::SetVolumeOwner { volume, owner }, _) => {
                let op = if matches!(e.op, Op::CreateVolume { .. }) { "create" } else { "put" };
                if let Some(r) = result {
                    emit(volume_key(volume), op, Some(owner.clone()), r, None);
                }
            }
            (Op::CreateBucket { bucket, owner }, _) => {
                if let Some(r) = result {
                    emit(bucket_key(bucket), "create", Some(owner.clone()), r, None);
                }
            }
            (Op::CreateKey { key, size }, _) => {
                if let Some(r) = result {
                    emit(key_key(key), "create", Some(size.to_string()), r, None);
                }
            }
            (Op::DeleteVolume { volume }, _) => {
                if let Some(r) = result {
                    emit(volume_key(volume), "delete", None, r, None);
                }
            }
            (Op::DeleteBucket { bucket }, _) => {
                if let Some(r) = result {
                    emit(bucket_key(bucket), "delete", None, r, None);
                }
            }
            (Op::DeleteKey { key }, _) => {
                if let Some(r) = result {
                    emit(key_key(key), "delete", None, r, None);
                }
            }
            (Op::RenameKey { key, to, size }, _) => {
                if let Some(r) = result {
                    emit(key_key(key), "rename_from", None, r, None);
                    let target = if r == "not_found" { "skipped" } else { r };
                    emit(key_key(to), "rename_to", Some(size.to_string()), target, None);
                }
            }
            (Op::VolumeInfo { volume }, out) => read(&mut emit, volume_key(volume), out, result, &mut anomalies, &desc),
            (Op::BucketInfo { bucket }, out) => read(&mut emit, bucket_key(bucket), out, result, &mut anomalies, &desc),
            (Op::KeyInfo { key }, out) => read(&mut emit, key_key(key), out, result, &mut anomalies, &desc),
            (Op::ListVolumes { prefix, start_after }, Outcome::Listed { entries, complete }) => {
                let range = ListRange { to_key: volume_key, prefix, start_after, complete: *complete };
                list(&mut emit, &names, &range, entries, &mut anomalies, &desc)
            }
            (Op::ListBuckets { prefix, start_after }, Outcome::Listed { entries, complete }) => {
                let range = ListRange { to_key: bucket_key, prefix, start_after, complete: *complete };
                list(&mut emit, &names, &range, entries, &mut anomalies, &desc)
            }
            (Op::ListKeys { prefix, start_after }, Outcome::Listed { entries, complete }) => {
                let range = ListRange { to_key: key_key, prefix, start_after, complete: *complete };
                list(&mut emit, &names, &range, entries, &mut anomalies, &desc)
            }
            (Op::ListVolumes { .. } | Op::ListBuckets { .. } | Op::ListKeys { .. }, other) => {
                if !matches!(other, Outcome::Failed { .. }) {
                    anomalies.push(Anomaly { what: format!("a list answered {other:?}: {desc}") });
                }
            }
        }
    }
    Projection { ops, anomalies }
}

type Emit<'a> = dyn FnMut(String, &'static str, Option<String>, &'static str, Option<String>) + 'a;

fn read(
    emit: &mut Emit<'_>,
    key: String,
    out: &Outcome,
    result: Option<&'static str>,
    anomalies: &mut Vec<Anomaly>,
    desc: &str,
) {
    match (out, result) {
        (Outcome::Found { value }, _) => emit(key, "get", None, "found", Some(value.clone())),
        (_, Some("not_found")) => emit(key, "get", None, "not_found", None),
        (_, None) => {}
        (other, _) => anomalies.push(Anomaly { what: format!("a read answered {other:?}: {desc}") }),
    }
}

/// The names a list answer speaks for: after `start_after`, with `prefix`, and (unless the
/// answer was complete) up to its last entry.
struct ListRange<'a> {
    to_key: fn(&str) -> String,
    prefix: &'a str,
    start_after: &'a str,
    complete: bool,
}

fn list(
    emit: &mut Emit<'_>,
    names: &BTreeSet<String>,
    range: &ListRange<'_>,
    entries: &[(String, String)],
    anomalies: &mut Vec<Anomaly>,
    desc: &str,
) {
    let listed: BTreeMap<String, &String> = entries.iter().map(|(n, v)| ((range.to_key)(n), v)).collect();
    let prefix = (range.to_key)(range.prefix);
    let after = (!range.start_after.is_empty()).then(|| (range.to_key)(range.start_after));
    // A full page covers names up to its last entry only.
    let last = if range.complete { None } else { listed.keys().next_back().cloned() };
    for (k, v) in &listed {
        if !names.contains(k) {
            anomalies.push(Anomaly { what: format!("{k} was listed but no client ever wrote it: {desc}") });
            continue;
        }
        if !k.starts_with(&prefix) || after.as_ref().is_some_and(|a| k <= a) {
            anomalies.push(Anomaly { what: format!("{k} is outside the listed range: {desc}") });
            continue;
        }
        emit(k.clone(), "get", None, "found", Some((*v).clone()));
    }
    for k in names.range(prefix.clone()..).take_while(|k| k.starts_with(&prefix)) {
        if after.as_ref().is_some_and(|a| k <= a) {
            continue;
        }
        if last.as_ref().is_some_and(|l| k > l) {
            break;
        }
        if !listed.contains_key(k) {
            emit(k.clone(), "get", None, "not_found", None);
        }
    }
}

/// Writes values as JSON lines.
pub fn write_jsonl<T: Serialize>(path: &Path, items: &[T]) -> Result<()> {
    let f = std::fs::File::create(path)
        .map_err(|source| FaultError::Io { what: format!("writing {}", path.display()), source })?;
    let mut w = std::io::BufWriter::new(f);
    for item in items {
        let line = serde_json::to_string(item)
            .map_err(|e| FaultError::Parse { what: "a history line".into(), reason: e.to_string() })?;
        writeln!(w, "{line}")
            .map_err(|source| FaultError::Io { what: format!("writing {}", path.display()), source })?;
    }
    w.flush().map_err(|source| FaultError::Io { what: format!("writing {}", path.display()), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(client: usize, call: u64, ret: Option<u64>, op: Op, outcome: Outcome) -> Event {
        Event { client, call, ret, op, outcome }
    }

    #[test]
    fn a_rename_is_a_delete_and_a_create_at_one_moment() {
        let p = project(&[
            ev(0, 0, Some(5), Op::CreateKey { key: "c0-1".into(), size: 7 }, Outcome::Ok),
            ev(0, 10, Some(15), Op::RenameKey { key: "c0-1".into(), to: "c0-1r".into(), size: 7 }, Outcome::Ok),
        ]);
        assert!(p.anomalies.is_empty());
        let shape: Vec<_> = p.ops.iter().map(|o| (o.key.as_str(), o.input.op, o.output.result, o.call)).collect();
        assert_eq!(
            shape,
            [
                ("key/c0-1", "create", "ok", 0),
                ("key/c0-1", "rename_from", "ok", 10),
                ("key/c0-1r", "rename_to", "ok", 10)
            ]
        );
    }

    #[test]
    fn a_complete_list_reads_every_named_object_in_its_range() {
        let p = project(&[
            ev(0, 0, Some(5), Op::CreateKey { key: "c0-1".into(), size: 7 }, Outcome::Ok),
            ev(1, 1, None, Op::CreateKey { key: "c0-2".into(), size: 8 }, Outcome::Unknown { reason: "t".into() }),
            ev(2, 2, Some(3), Op::KeyInfo { key: "c1-1".into() }, Outcome::Failed { code: "KEY_NOT_FOUND".into() }),
            ev(
                3,
                10,
                Some(12),
                Op::ListKeys { prefix: "c0-".into(), start_after: String::new() },
                Outcome::Listed { entries: vec![("c0-1".into(), "7".into())], complete: true },
            ),
        ]);
        assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
        let reads: Vec<_> = p
            .ops
            .iter()
            .filter(|o| o.call == 10)
            .map(|o| (o.key.as_str(), o.output.result, o.output.value.as_deref()))
            .collect();
        assert_eq!(reads, [("key/c0-1", "found", Some("7")), ("key/c0-2", "not_found", None)]);
        // The unknown create has no return time.
        assert_eq!(p.ops[1].ret, None);
    }

    #[test]
    fn a_listed_object_nobody_wrote_and_an_unexpected_code_are_anomalies() {
        let p = project(&[
            ev(
                0,
                0,
                Some(1),
                Op::ListVolumes { prefix: "rv".into(), start_after: String::new() },
                Outcome::Listed { entries: vec![("rv99".into(), "x".into())], complete: true },
            ),
            ev(
                0,
                2,
                Some(3),
                Op::CreateVolume { volume: "rv01".into(), owner: "o".into() },
                Outcome::Failed { code: "QUOTA_EXCEEDED".into() },
            ),
        ]);
        assert_eq!(p.anomalies.len(), 2, "{:?}", p.anomalies);
    }

    #[test]
    fn events_round_trip_as_json_lines() {
        let e =
            ev(3, 1, None, Op::DeleteBucket { bucket: "rb1".into() }, Outcome::Unknown { reason: "timed out".into() });
        let line = serde_json::to_string(&e).unwrap();
        assert!(line.contains("\"op\":\"delete_bucket\"") && line.contains("\"return\":null"), "{line}");
        assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), e);
    }
}
