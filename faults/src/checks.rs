//! The checks after the last heal: a leader that takes writes, every acknowledged write still
//! there, replicas that agree, the history linearizable (porcupine judges), no node panicked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use om_client::wire::{ReadOp, ReadResponse, WriteOp};
use om_client::FailoverClient;
use serde::{Deserialize, Serialize};

use crate::cluster::Cluster;
use crate::history::*;
use crate::traffic::execute;
use crate::{FaultError, Result};

/// How the ring came back after the last heal.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Recovery {
    pub leader: Option<String>,
    /// From the last heal to the first acknowledged write.
    pub first_write_ms: Option<u64>,
}

/// Waits for one leader that every node agrees on and a write it acknowledges.
pub async fn recovery(cluster: &Cluster, client: &FailoverClient, healed: Instant, deadline: Duration) -> Recovery {
    let until = healed + deadline;
    let mut r = Recovery::default();
    let mut n = 0;
    while Instant::now() < until {
        n += 1;
        let op = WriteOp::create_volume(format!("probe{n}"));
        if tokio::time::timeout(Duration::from_secs(5), client.write(op)).await.is_ok_and(|w| w.is_ok()) {
            r.first_write_ms = Some(healed.elapsed().as_millis() as u64);
            break;
        }
    }
    let rest = until.saturating_duration_since(Instant::now()).max(Duration::from_secs(5));
    r.leader = cluster.wait_leader(rest).await.map(|l| cluster.id(l));
    r
}

/// Lists everything the traffic owns through `client`, recording the lists in the history as
/// calls of client `id`. Returns the keys found (name to size).
pub async fn final_reads(
    client: &FailoverClient,
    recorder: &Recorder,
    id: usize,
    clients: usize,
) -> Result<BTreeMap<String, String>> {
    let mut keys = BTreeMap::new();
    let mut lists: Vec<Op> = vec![
        Op::ListVolumes { prefix: REGISTER_VOLUME_PREFIX.into(), start_after: String::new() },
        Op::ListBuckets { prefix: REGISTER_BUCKET_PREFIX.into(), start_after: String::new() },
    ];
    lists.extend((0..clients).map(|c| Op::ListKeys { prefix: format!("c{c}-"), start_after: String::new() }));
    while let Some(op) = lists.pop() {
        let mut attempt = 0;
        let (call, outcome, ret) = loop {
            attempt += 1;
            let call = recorder.now();
            let outcome = execute(client, &op, Duration::from_secs(20)).await;
            if !matches!(outcome, Outcome::Unknown { .. }) || attempt >= 5 {
                let ret = (!matches!(outcome, Outcome::Unknown { .. })).then(|| recorder.now());
                break (call, outcome, ret);
            }
        };
        if let (Op::ListKeys { prefix, .. }, Outcome::Listed { entries, complete }) = (&op, &outcome) {
            keys.extend(entries.iter().cloned());
            if !complete {
                if let Some((last, _)) = entries.last() {
                    lists.push(Op::ListKeys { prefix: prefix.clone(), start_after: last.clone() });
                }
            }
        }
        let failed = matches!(outcome, Outcome::Unknown { .. } | Outcome::Failed { .. });
        let desc = format!("{op:?}");
        recorder.push(Event { client: id, call, ret, op, outcome: outcome.clone() });
        if failed {
            return Err(FaultError::Ring(format!("the final read {desc} failed: {outcome:?}")));
        }
    }
    Ok(keys)
}

/// Acknowledged writes missing from the final state, and objects in it nobody wrote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Durability {
    /// Keys whose acknowledged create (or rename into) is gone.
    pub lost: Vec<String>,
    /// Keys whose acknowledged delete (or rename away) was undone.
    pub undone: Vec<String>,
    /// Keys present that no client ever tried to write, or with a size nobody wrote.
    pub phantoms: Vec<String>,
    pub acknowledged_writes: usize,
}

/// Compares the final keys with what the history says must and must not be there. Each key
/// has one life (created once, deleted or renamed at most once), so the answer is exact.
pub fn durability(events: &[Event], final_keys: &BTreeMap<String, String>) -> Durability {
    let mut d = Durability::default();
    let mut attempted: BTreeMap<String, String> = BTreeMap::new();
    let mut must_exist: BTreeMap<String, String> = BTreeMap::new();
    let mut must_not: BTreeSet<String> = BTreeSet::new();
    let mut touched: BTreeSet<String> = BTreeSet::new();
    for e in events {
        let ok = e.outcome == Outcome::Ok;
        if ok && e.is_write() {
            d.acknowledged_writes += 1;
        }
        match &e.op {
            Op::CreateKey { key, size } => {
                attempted.insert(key.clone(), size.to_string());
                if ok {
                    must_exist.insert(key.clone(), size.to_string());
                }
            }
            Op::DeleteKey { key } => {
                touched.insert(key.clone());
                if ok {
                    must_not.insert(key.clone());
                }
            }
            Op::RenameKey { key, to, size } => {
                touched.insert(key.clone());
                attempted.insert(to.clone(), size.to_string());
                if ok {
                    must_not.insert(key.clone());
                    must_exist.insert(to.clone(), size.to_string());
                }
            }
            _ => {}
        }
    }
    for (k, size) in &must_exist {
        if touched.contains(k) {
            continue;
        }
        match final_keys.get(k) {
            None => d.lost.push(k.clone()),
            Some(s) if s != size => d.lost.push(format!("{k} (size {s}, acknowledged {size})")),
            Some(_) => {}
        }
    }
    d.undone = must_not.iter().filter(|k| final_keys.contains_key(*k)).cloned().collect();
    for (k, s) in final_keys {
        match attempted.get(k) {
            None => d.phantoms.push(k.clone()),
            Some(size) if size != s => d.phantoms.push(format!("{k} (size {s}, written {size})")),
            Some(_) => {}
        }
    }
    d
}

/// Every node's digest once they have applied the same index.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Replicas {
    pub agree: bool,
    /// node, applied index, digest
    pub digests: Vec<(String, u64, String)>,
    pub detail: String,
}

pub async fn replicas_agree(cluster: &Cluster, deadline: Duration) -> Replicas {
    let until = Instant::now() + deadline;
    let probe = match crate::traffic::client(&cluster.service, &Default::default()) {
        Ok(p) => p,
        Err(e) => return Replicas { detail: e.to_string(), ..Default::default() },
    };
    loop {
        let mut digests = Vec::new();
        for (i, node) in cluster.service.nodes.iter().enumerate() {
            let answer = probe.read_stale_from(node, ReadOp::Digest).await.ok();
            if let Some(ReadResponse::Digest { digest, applied_index, .. }) = answer {
                digests.push((cluster.id(i), applied_index, digest));
            }
        }
        let all = digests.len() == cluster.len();
        let same_index = digests.windows(2).all(|w| w[0].1 == w[1].1);
        let same_digest = digests.windows(2).all(|w| w[0].2 == w[1].2);
        let mut last = Replicas { agree: all && same_index && same_digest, digests, detail: String::new() };
        if last.agree {
            return last;
        }
        if all && same_index && !same_digest {
            last.detail = "replicas at the same applied index hold different state".into();
            return last;
        }
        if Instant::now() >= until {
            last.detail = if all {
                "replicas did not reach the same applied index".into()
            } else {
                "not every node answered".into()
            };
            return last;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// porcupine's verdict (scripts/tools/porcupine-check).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Verdict {
    pub result: String,
    pub ops: usize,
    pub partitions: usize,
    #[serde(default)]
    pub unknown_outcomes: usize,
    #[serde(default)]
    pub illegal_partitions: Vec<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub seconds: f64,
}

impl Verdict {
    pub fn linearizable(&self) -> bool {
        self.result == "Ok"
    }
}

/// Runs the porcupine checker over projected operations; `html` gets the view of the
/// partitions that are not linearizable.
pub fn porcupine(checker: &Path, ops: &Path, html: &Path) -> Result<Verdict> {
    let out = std::process::Command::new(checker)
        .arg("-ops")
        .arg(ops)
        .arg("-html")
        .arg(html)
        .arg("-timeout")
        .arg("300s")
        .output()
        .map_err(|source| FaultError::Io { what: format!("running {}", checker.display()), source })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| FaultError::Parse {
        what: format!("porcupine's verdict ({})", out.status),
        reason: format!("{e}: {line:?} {}", String::from_utf8_lossy(&out.stderr)),
    })
}

/// Lines of the node logs that show a panic.
pub fn panics(cluster: &Cluster) -> Vec<String> {
    let mut found = Vec::new();
    for i in 0..cluster.len() {
        let path: PathBuf = cluster.log_path(i);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for line in text.lines().filter(|l| l.contains("panicked at")) {
            found.push(format!("{}: {line}", cluster.id(i)));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(op: Op, outcome: Outcome) -> Event {
        Event { client: 0, call: 0, ret: Some(1), op, outcome }
    }

    #[test]
    fn lost_undone_and_phantom_keys_are_named() {
        let events = [
            ev(Op::CreateKey { key: "c0-1".into(), size: 1 }, Outcome::Ok),
            ev(Op::CreateKey { key: "c0-2".into(), size: 2 }, Outcome::Ok),
            ev(Op::DeleteKey { key: "c0-2".into() }, Outcome::Ok),
            ev(Op::CreateKey { key: "c0-3".into(), size: 3 }, Outcome::Unknown { reason: "t".into() }),
            ev(Op::CreateKey { key: "c0-4".into(), size: 4 }, Outcome::Ok),
            ev(Op::RenameKey { key: "c0-4".into(), to: "c0-4r".into(), size: 4 }, Outcome::Ok),
        ];
        let good: BTreeMap<String, String> =
            [("c0-1", "1"), ("c0-3", "3"), ("c0-4r", "4")].into_iter().map(|(a, b)| (a.into(), b.into())).collect();
        let d = durability(&events, &good);
        assert!(d.lost.is_empty() && d.undone.is_empty() && d.phantoms.is_empty(), "{d:?}");
        assert_eq!(d.acknowledged_writes, 5);

        let bad: BTreeMap<String, String> = [("c0-2", "2"), ("c0-4", "4"), ("c9-9", "9"), ("c0-3", "7")]
            .into_iter()
            .map(|(a, b)| (a.into(), b.into()))
            .collect();
        let d = durability(&events, &bad);
        assert_eq!(d.lost, ["c0-1", "c0-4r"]);
        assert_eq!(d.undone, ["c0-2", "c0-4"]);
        assert_eq!(d.phantoms, ["c0-3 (size 7, written 3)", "c9-9"]);
    }
}
