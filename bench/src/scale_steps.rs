//! The measurements `omring-bench scale` takes at each size (see [`crate::scale`] for the
//! order), the completeness check of the CI smoke run, and the charts.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use om_client::wire::{ReadOp, ReadResponse};
use om_client::FailoverClient;

use crate::load::{self, LoadResult};
use crate::procstat;
use crate::scale::{create, key_name, Scale, ScaleError, Shape, PAGE, VOLUME};
use crate::scale_results::*;
use crate::scale_ring::ScaleRing;
use crate::suite::log;

/// Load average and CPU ticks when a measurement started.
struct Start {
    load: String,
    ticks: Option<(u64, u64)>,
}

fn start() -> Start {
    Start { load: procstat::loadavg(), ticks: procstat::cpu_ticks() }
}

fn stamp(mut s: Sample, st: &Start) -> Sample {
    s.load_before = st.load.clone();
    s.load_after = procstat::loadavg();
    s.steal_pct = procstat::steal_pct(st.ticks, procstat::cpu_ticks());
    s
}

fn from_load(mut s: Sample, r: &LoadResult) -> Sample {
    s.ops = r.ops;
    s.errors = r.errors;
    s.secs = r.secs;
    s.ops_per_sec = r.ops_per_sec();
    s.p50_ms = (r.ops > 0).then(|| r.percentile_ms(0.5));
    s.p99_ms = (r.ops > 0).then(|| r.percentile_ms(0.99));
    s.note = r.first_error.as_ref().map(|e| format!("first error: {e}"));
    s
}

impl Scale {
    /// Every measurement at one size; keys are created last.
    pub(crate) async fn measure_size(
        &mut self,
        ring: &mut ScaleRing,
        shape: Shape,
        target: u64,
        next: &Arc<AtomicU64>,
    ) -> Result<(), ScaleError> {
        let s = self.settings.clone();
        let name = shape.name();
        let keys = next.load(Ordering::SeqCst);
        let base = Sample {
            shape: name.clone(),
            target_keys: target,
            keys_before: keys,
            keys_after: keys,
            ..Default::default()
        };
        let reps = s.repeats.max(1);
        if keys > 0 {
            for repeat in 0..reps {
                let st = start();
                let r = lookups(&ring.client, shape, keys, s.clients, s.secs).await;
                let sample = stamp(from_load(Sample { measure: LOOKUP.into(), repeat, ..base.clone() }, &r), &st);
                log(format!(
                    "{name} @{keys}: lookup {:.0} ops/s p99 {:.2} ms",
                    sample.ops_per_sec,
                    sample.p99_ms.unwrap_or(0.0)
                ));
                self.results.samples.push(sample);
            }
            for repeat in 0..reps {
                let st = start();
                let sample = list_pages(&ring.client, shape, keys, s.list_samples).await?;
                let sample = Sample {
                    measure: LIST.into(),
                    repeat,
                    shape: name.clone(),
                    target_keys: target,
                    keys_before: keys,
                    keys_after: keys,
                    ..sample
                };
                let sample = stamp(sample, &st);
                log(format!(
                    "{name} @{keys}: list page p50 {:.1} ms p99 {:.1} ms",
                    sample.p50_ms.unwrap_or(0.0),
                    sample.p99_ms.unwrap_or(0.0)
                ));
                self.results.samples.push(sample);
            }
        } else if !self.results.notes.iter().any(|n| n.starts_with("At 0 keys")) {
            self.results.notes.push("At 0 keys there is nothing to look up or list: those cells are empty.".into());
        }
        let pids = ring.voter_pids();
        let leader = ring.leader_id().await;
        let memory = ring.voter_memory().await;
        self.results.points.push(Point {
            leader,
            memory,
            shape: name.clone(),
            target_keys: target,
            keys,
            buckets: shape.buckets,
            rss_mib: ring.voter_dirs().into_iter().map(|(id, _)| id).zip(procstat::rss_mib(&pids)).collect(),
            disk: ring.voter_dirs().into_iter().map(|(id, dir)| node_disk(id, &dir)).collect(),
            load: procstat::loadavg(),
        });
        self.save()?;

        for repeat in 0..reps {
            let st = start();
            match ring.restart_follower(repeat, s.deadline).await {
                Ok(r) => {
                    log(format!("{name} @{keys}: restart of {} ready in {:.2} s", r.node, r.ready_secs));
                    let mut sample = Sample {
                        measure: RESTART.into(),
                        repeat,
                        secs: r.ready_secs,
                        node: Some(r.node),
                        ..base.clone()
                    };
                    sample.detail.insert("stop_secs".into(), r.stop_secs);
                    sample.detail.insert("applied_index".into(), r.applied_index as f64);
                    self.results.samples.push(stamp(sample, &st));
                }
                Err(e) => {
                    self.results.notes.push(format!("{name} at {keys} keys: restart {repeat} failed: {e}"));
                    break;
                }
            }
        }
        self.save()?;

        match ring.snapshot_and_purge(s.deadline).await {
            Err(e) => self.results.notes.push(format!(
                "{name} at {keys} keys: prepare (snapshot and purge) failed, catch-up not measured: {e}"
            )),
            Ok(txn) => {
                for repeat in 0..reps {
                    let st = start();
                    match ring.add_fresh_node(s.deadline).await {
                        Ok(c) => {
                            log(format!(
                                "{name} @{keys}: {} caught up in {:.2} s ({} snapshot(s), {:.1} MiB)",
                                c.node,
                                c.secs,
                                c.snapshots_installed,
                                c.snapshot_bytes / 1048576.0
                            ));
                            let mut sample = Sample {
                                measure: CATCH_UP.into(),
                                repeat,
                                secs: c.secs,
                                node: Some(c.node),
                                ..base.clone()
                            };
                            for (k, v) in [
                                ("snapshots_installed", c.snapshots_installed),
                                ("snapshot_bytes", c.snapshot_bytes),
                                ("snapshot_receive_secs", c.snapshot_receive_secs),
                                ("target_index", c.target_index as f64),
                                ("leader_purged_index", c.leader_purged_index),
                                ("prepare_index", txn as f64),
                            ] {
                                sample.detail.insert(k.into(), v);
                            }
                            if c.snapshots_installed < 1.0 {
                                sample.note = Some("caught up from the log: no snapshot was installed".into());
                            }
                            self.results.samples.push(stamp(sample, &st));
                        }
                        Err(e) => {
                            self.results.notes.push(format!("{name} at {keys} keys: catch-up {repeat} failed: {e}"));
                            break;
                        }
                    }
                    self.save()?;
                }
            }
        }

        for repeat in 0..reps {
            let st = start();
            let before = next.load(Ordering::SeqCst);
            let r = creates(&ring.client, shape, next, s.clients, s.secs).await;
            let after = next.load(Ordering::SeqCst);
            let sample =
                Sample { measure: CREATE.into(), repeat, keys_before: before, keys_after: after, ..base.clone() };
            let sample = stamp(from_load(sample, &r), &st);
            log(format!(
                "{name} @{before}: create {:.0} ops/s p99 {:.1} ms",
                sample.ops_per_sec,
                sample.p99_ms.unwrap_or(0.0)
            ));
            self.results.samples.push(sample);
        }
        Ok(())
    }

    /// What a complete run must have: per shape and size a point, every repeat of every
    /// measurement with work done, key counts that grew, catch-ups by snapshot, no failure note.
    pub fn completeness_problems(&self) -> Vec<String> {
        let s = &self.settings;
        let r = &self.results;
        let mut problems = Vec::new();
        for shape in &s.shapes {
            let name = shape.name();
            let mut last: Option<u64> = None;
            for &target in &s.keys {
                let Some(p) = r.points.iter().find(|p| p.shape == name && p.target_keys == target) else {
                    problems.push(format!("{name} at {target} keys was not measured"));
                    continue;
                };
                if p.keys < target || last.is_some_and(|l| p.keys <= l) {
                    problems.push(format!("{name}: {} keys at the size {target} (previous size {last:?})", p.keys));
                }
                last = Some(p.keys);
                if p.rss_mib.len() != 3
                    || p.rss_mib.iter().any(|(_, v)| *v <= 0.0)
                    || p.disk.iter().any(|d| d.bytes == 0)
                {
                    problems.push(format!("{name} at {target}: RSS {:?} or disk of a voter missing", p.rss_mib));
                }
                let parts = |m: &NodeMemory| m.parts.len();
                if p.memory.len() != 3 || p.memory.iter().any(|m| parts(m) != MEMORY_PARTS.len()) {
                    let got: Vec<_> = p.memory.iter().map(|m| (m.node.as_str(), parts(m))).collect();
                    problems.push(format!(
                        "{name} at {target}: memory gauges of the voters {got:?}, want {} parts of 3 voters",
                        MEMORY_PARTS.len()
                    ));
                }
                let mut wanted = vec![CREATE, RESTART, CATCH_UP];
                if p.keys > 0 {
                    wanted.extend([LOOKUP, LIST]);
                }
                for m in wanted {
                    let v = r.samples(&name, target, m);
                    let done = v.iter().filter(|x| x.ops > 0 || (m != CREATE && m != LOOKUP && x.secs > 0.0)).count();
                    if v.len() != s.repeats.max(1) || done != v.len() {
                        problems.push(format!("{name} at {target}: {m} has {done} good of {} samples", v.len()));
                    }
                    if m == CATCH_UP
                        && v.iter().any(|x| x.detail.get("snapshots_installed").copied().unwrap_or(0.0) < 1.0)
                    {
                        problems.push(format!("{name} at {target}: a new node caught up without a snapshot"));
                    }
                }
            }
        }
        problems.extend(r.notes.iter().filter(|n| n.contains("failed") || n.contains("stopped early")).cloned());
        problems
    }

    /// scale.png from scale.json with the bench venv's matplotlib, or a note why not.
    pub(crate) fn draw_charts(&mut self) {
        let out = &self.settings.out;
        let Some(python) = self.settings.python.clone().or_else(cached_python) else {
            self.results.charts_skipped = Some(
                "no python with matplotlib (pass --python, or run `ONLY=python bench/scripts/setup-peers.sh`, \
                 which installs one into ~/.cache/omring/bench-venv)"
                    .into(),
            );
            return;
        };
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/scale_chart.py");
        let run = std::process::Command::new(&python)
            .arg(&script)
            .arg(out.join("scale.json"))
            .arg(out.join("scale.png"))
            .output();
        match run {
            Ok(o) if o.status.success() => {
                self.results.charts = vec!["scale.png".into()];
                self.results.charts_skipped = None;
            }
            Ok(o) => {
                let err = String::from_utf8_lossy(&o.stderr);
                self.results.charts_skipped =
                    Some(format!("{} failed: {}", script.display(), err.lines().last().unwrap_or("").trim()));
            }
            Err(e) => self.results.charts_skipped = Some(format!("cannot run {}: {e}", python.display())),
        }
    }
}

/// The bench venv's python (bench/scripts/setup-peers.sh), if installed.
fn cached_python() -> Option<PathBuf> {
    let cache = std::env::var_os("OMRING_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/omring")))?;
    let p = cache.join("bench-venv/bin/python");
    p.exists().then_some(p)
}

async fn lookups(client: &Arc<FailoverClient>, shape: Shape, keys: u64, clients: usize, secs: Duration) -> LoadResult {
    let client = Arc::clone(client);
    load::run(clients, secs, move |_, _| {
        let client = Arc::clone(&client);
        let i = rand::random_range(0..keys);
        let op = ReadOp::KeyInfo { volume: VOLUME.into(), bucket: shape.bucket_of(i), key: key_name(i) };
        async move { client.read(op).await.map(|_| ()) }
    })
    .await
}

async fn creates(
    client: &Arc<FailoverClient>,
    shape: Shape,
    next: &Arc<AtomicU64>,
    clients: usize,
    secs: Duration,
) -> LoadResult {
    let (client, next) = (Arc::clone(client), Arc::clone(next));
    load::run(clients, secs, move |_, _| {
        let client = Arc::clone(&client);
        let i = next.fetch_add(1, Ordering::SeqCst);
        async move { create(&client, shape, i).await }
    })
    .await
}

/// `samples` list requests of one page each, one at a time, in random buckets from random
/// start names.
async fn list_pages(client: &FailoverClient, shape: Shape, keys: u64, samples: usize) -> Result<Sample, ScaleError> {
    let per_bucket = keys as f64 / shape.buckets as f64;
    let mut lat = Vec::new();
    let mut returned = Vec::new();
    let t0 = Instant::now();
    for _ in 0..samples.max(1) {
        let bucket = (rand::random_range(0..shape.buckets.min(keys.max(1) as usize))) as u64;
        // Names are spread evenly over 16 hex digits: start early enough that about 1.2 pages
        // follow on average.
        let room = 1.0 - 1.2 * PAGE as f64 / per_bucket;
        let start_after = if room > 0.0 {
            format!("{:016x}", (rand::random::<f64>() * room * u64::MAX as f64) as u64)
        } else {
            String::new()
        };
        let op = ReadOp::ListKeys {
            volume: VOLUME.into(),
            bucket: shape.bucket_of(bucket),
            prefix: String::new(),
            start_after,
            max: Some(PAGE),
        };
        let t = Instant::now();
        let r = client.read(op).await?;
        lat.push(t.elapsed());
        returned.push(match r {
            ReadResponse::Keys { keys } => keys.len() as f64,
            _ => 0.0,
        });
    }
    let secs = t0.elapsed().as_secs_f64();
    let mut sorted = lat.clone();
    sorted.sort();
    let mut s = Sample {
        ops: lat.len() as u64,
        secs,
        ops_per_sec: lat.len() as f64 / secs.max(1e-9),
        p50_ms: Some(load::percentile(&sorted, 0.5).as_secs_f64() * 1e3),
        p99_ms: Some(load::percentile(&sorted, 0.99).as_secs_f64() * 1e3),
        latencies_ms: lat.iter().map(|d| d.as_secs_f64() * 1e3).collect(),
        ..Default::default()
    };
    s.detail.insert("keys_per_page".into(), crate::results::median(&returned));
    Ok(s)
}

/// Bytes under `dir`: allocated in total and by top-level entry, and file lengths in total
/// (hard links counted once).
pub fn node_disk(node: String, dir: &Path) -> NodeDisk {
    let mut seen = HashSet::new();
    let mut parts = Vec::new();
    let mut apparent_bytes = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        names.sort();
        for p in names {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let (allocated, len) = walk(&p, &mut seen);
            apparent_bytes += len;
            parts.push((name, allocated));
        }
    }
    NodeDisk { node, bytes: parts.iter().map(|(_, b)| b).sum(), apparent_bytes, parts }
}

/// (allocated, length) of the files under `path`.
fn walk(path: &Path, seen: &mut HashSet<(u64, u64)>) -> (u64, u64) {
    // Files come and go under a running RocksDB (compactions): a vanished one counts 0.
    let Ok(md) = std::fs::symlink_metadata(path) else { return (0, 0) };
    if md.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else { return (0, 0) };
        entries.flatten().map(|e| walk(&e.path(), seen)).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    } else if md.is_file() && seen.insert((md.dev(), md.ino())) {
        (md.blocks() * 512, md.len())
    } else {
        (0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_counts_hard_links_once_and_by_top_level_entry() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(d.path().join("a/b")).expect("mkdir");
        std::fs::write(d.path().join("a/b/f"), vec![1u8; 64 * 1024]).expect("write");
        std::fs::hard_link(d.path().join("a/b/f"), d.path().join("a/g")).expect("link");
        std::fs::write(d.path().join("c"), vec![1u8; 8192]).expect("write");
        let n = node_disk("om1".into(), d.path());
        assert_eq!(n.parts.len(), 2, "{n:?}");
        assert!(n.parts[0].1 >= 64 * 1024 && n.parts[0].1 < 2 * 64 * 1024, "{n:?}");
        assert_eq!(n.bytes, n.parts[0].1 + n.parts[1].1);
        assert_eq!(n.apparent_bytes, 64 * 1024 + 8192, "{n:?}");
    }
}
