//! `omring-bench scale`: how omring's costs grow with the namespace (issue 20).
//!
//! For each shape (all keys in one bucket, or spread over N buckets) one ring is preloaded
//! through the normal client path (`FailoverClient::create_key`, many tasks) up to each size in
//! turn, continuing from the previous size. At each size, in this order: key lookups (random
//! existing keys), listing one 1,000-key page from a random start, RSS and on-disk size of
//! every voter, restart-to-ready of a follower, a fresh node's catch-up by snapshot, and
//! finally key creates (open + commit), which add keys that the next size's preload counts.
//! Every timed measurement runs `repeats` times; `scale.json` keeps every repeat and
//! `scale.md` gives medians with their range (see [`crate::scale_results`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use om_client::wire::WriteOp;
use om_client::FailoverClient;

use crate::procstat;
use crate::results::{Meta, ResultsError};
use crate::scale_results::*;
use crate::scale_ring::ScaleRing;
use crate::suite::{chrono_like_now, cpu_model, git, log, unix_now};

#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    #[error(transparent)]
    Local(#[from] om_localring::LocalRingError),
    #[error(transparent)]
    Client(#[from] om_client::ClientError),
    #[error(transparent)]
    Config(#[from] om_client::ConfigError),
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Failed(String),
    #[error("{0}")]
    Usage(String),
}

/// The volume every shape's buckets live in.
pub(crate) const VOLUME: &str = "scale";
/// Keys per list page (the server's largest page).
pub(crate) const PAGE: u32 = om_client::wire::LIST_MAX;
/// Attempts per preloaded key before the run gives up.
const PRELOAD_ATTEMPTS: u32 = 5;

/// How the keys are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub buckets: usize,
}

impl Shape {
    /// `one-bucket` or `<N>-buckets`.
    pub fn parse(s: &str) -> Result<Shape, ScaleError> {
        let s = s.trim();
        if s == "one-bucket" {
            return Ok(Shape { buckets: 1 });
        }
        s.strip_suffix("-buckets")
            .and_then(|n| n.replace('_', "").parse::<usize>().ok())
            .filter(|n| (1..=100_000).contains(n))
            .map(|buckets| Shape { buckets })
            .ok_or_else(|| ScaleError::Usage(format!("unknown shape {s:?}: one-bucket or <N>-buckets")))
    }

    pub fn name(&self) -> String {
        if self.buckets == 1 {
            "one-bucket".into()
        } else {
            format!("{}-buckets", self.buckets)
        }
    }

    fn bucket_name(b: usize) -> String {
        format!("b{b:05}")
    }

    /// Key number `i` lives in bucket `i mod buckets`.
    pub(crate) fn bucket_of(&self, i: u64) -> String {
        Self::bucket_name((i % self.buckets as u64) as usize)
    }
}

/// Key number `i`'s name: 16 hex digits of a bijective mix of `i`, so names are unique, spread
/// evenly over the key space (inserts land all over the table, as real names do) and any
/// existing key can be named from its number alone.
pub fn key_name(i: u64) -> String {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    format!("{:016x}", z ^ (z >> 31))
}

#[derive(Debug, Clone)]
pub struct ScaleSettings {
    pub keys: Vec<u64>,
    pub shapes: Vec<Shape>,
    pub secs: Duration,
    pub clients: usize,
    pub preload_tasks: usize,
    pub repeats: usize,
    pub list_samples: usize,
    pub out: PathBuf,
    pub work: PathBuf,
    pub om_node: PathBuf,
    /// A python with matplotlib for the charts (None: look in the cache's bench-venv).
    pub python: Option<PathBuf>,
    pub command: String,
    /// Longest wait for a restart, a catch-up or a prepare.
    pub deadline: Duration,
}

/// Comma list of key counts (`_` allowed as separator: 1_000_000), ascending.
pub fn parse_keys(s: &str) -> Result<Vec<u64>, ScaleError> {
    let keys: Vec<u64> = s
        .split(',')
        .map(|k| {
            k.trim().replace('_', "").parse::<u64>().map_err(|_| ScaleError::Usage(format!("bad key count {k:?}")))
        })
        .collect::<Result<_, _>>()?;
    if keys.is_empty() || keys.windows(2).any(|w| w[0] >= w[1]) {
        return Err(ScaleError::Usage(format!("--keys must be ascending and not empty, got {s:?}")));
    }
    Ok(keys)
}

pub struct Scale {
    pub settings: ScaleSettings,
    pub results: ScaleResults,
}

impl Scale {
    pub fn new(settings: ScaleSettings) -> Self {
        let porcelain = git(&["status", "--porcelain"]).unwrap_or_default();
        let s = &settings;
        let meta = Meta {
            started: format!("{} (unix {})", chrono_like_now(), unix_now()),
            command: s.command.clone(),
            cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            cpu_model: cpu_model(),
            load_at_start: procstat::loadavg(),
            git_commit: git(&["rev-parse", "HEAD"]).unwrap_or_default(),
            git_dirty: !porcelain.is_empty(),
            versions: vec![("omring".into(), format!("om-node at {}", s.om_node.display()))],
            settings: vec![
                ("key counts".into(), format!("{:?}", s.keys)),
                ("shapes".into(), s.shapes.iter().map(Shape::name).collect::<Vec<_>>().join(", ")),
                ("seconds per create and lookup step".into(), format!("{:.1}", s.secs.as_secs_f64())),
                ("clients (create, lookup)".into(), s.clients.to_string()),
                ("preload tasks".into(), s.preload_tasks.to_string()),
                ("repeats of every timed measurement".into(), s.repeats.to_string()),
                ("list pages per repeat".into(), s.list_samples.to_string()),
            ],
            ..Default::default()
        };
        let results = ScaleResults {
            meta,
            dirty_paths: porcelain.lines().map(|l| l.trim().to_string()).collect(),
            notes: base_notes(s),
            ..Default::default()
        };
        Scale { settings, results }
    }

    /// Writes scale.json and scale.md under `out`.
    pub fn save(&mut self) -> Result<(), ScaleError> {
        let out = &self.settings.out;
        std::fs::create_dir_all(out)
            .map_err(|source| ScaleError::Io { what: format!("creating {}", out.display()), source })?;
        self.results.meta.load_at_end = procstat::loadavg();
        self.results.save(&out.join("scale.json"))?;
        std::fs::write(out.join("scale.md"), render(&self.results))
            .map_err(|source| ScaleError::Io { what: "writing scale.md".into(), source })
    }

    pub async fn run(&mut self) -> Result<(), ScaleError> {
        if !self.settings.om_node.exists() {
            return Err(ScaleError::Failed(format!("om-node binary not found at {}", self.settings.om_node.display())));
        }
        self.save()?;
        for shape in self.settings.shapes.clone() {
            let outcome = self.run_shape(shape).await;
            if let Err(e) = &outcome {
                log(format!("{}: {e}", shape.name()));
                self.results.notes.push(format!("{}: run stopped early: {e}", shape.name()));
            }
            self.save()?;
        }
        self.draw_charts();
        self.save()
    }

    async fn run_shape(&mut self, shape: Shape) -> Result<(), ScaleError> {
        let s = self.settings.clone();
        let name = shape.name();
        let mut ring: Option<ScaleRing> = None;
        let mut next = Arc::new(AtomicU64::new(0));
        let mut rings = 0;
        for (si, &target) in s.keys.iter().enumerate() {
            // The previous size's create step may have passed this size: start over on a fresh
            // ring rather than measure this size at a larger namespace.
            let have = next.load(Ordering::SeqCst);
            if ring.is_some() && have > target {
                self.results.notes.push(format!(
                    "{name}: the create step at the previous size left {have} keys, more than the next size \
                     {target}; that size was measured on a fresh ring preloaded from zero"
                ));
                discard(ring.take());
            }
            if ring.is_none() {
                rings += 1;
                let dir = s.work.join(format!("{name}-ring{rings}"));
                let spares = s.repeats.max(1) * (s.keys.len() - si);
                log(format!("{name}: starting a ring under {}", dir.display()));
                let r = ScaleRing::start(&s.om_node, &dir, spares)?;
                r.wait_leader(Duration::from_secs(60)).await?;
                make_buckets(&r.client, shape, s.preload_tasks).await?;
                next = Arc::new(AtomicU64::new(0));
                ring = Some(r);
            }
            let Some(r) = ring.as_mut() else { return Err(ScaleError::Failed("no ring".into())) };
            if next.load(Ordering::SeqCst) < target {
                let p = preload(&r.client, shape, &next, target, s.preload_tasks, &name).await?;
                self.results.preloads.push(p);
                self.save()?;
            }
            self.measure_size(r, shape, target, &next).await?;
            self.save()?;
        }
        discard(ring);
        Ok(())
    }
}

/// Stops a ring and deletes its data.
fn discard(ring: Option<ScaleRing>) {
    if let Some(r) = ring {
        let dir = r.dir().to_path_buf();
        drop(r);
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Notes every report carries.
fn base_notes(s: &ScaleSettings) -> Vec<String> {
    vec![
        "Keys are created as Ozone clients create them, open then commit (two replicated writes), in \
         OBJECT_STORE buckets of one volume, size 0, names of 16 hex digits spread over the key space. \
         om-client has no batch write, so the preload uses the same create_key as the timed step."
            .into(),
        format!(
            "Lookup: linearizable KeyInfo of a uniformly random existing key from {} clients. List: ListKeys of \
             {PAGE} keys in a random bucket after a random start name chosen so that a full page usually \
             follows (a bucket with fewer keys returns them all: see `keys per page`), one request at a time.",
            s.clients
        ),
        "Restart-to-ready: a follower (never the leader) gets SIGTERM, is started again, and is timed from the \
         spawn until its status answers FOLLOWER, ready, at the leader's applied index. Followers alternate \
         between repeats."
            .into(),
        "Catch-up: before the first sample at each size the ring runs Ozone's prepare (every voter snapshots \
         past the prepare entry and purges the log behind it) and cancelprepare, so a new node cannot be sent \
         the log from the start. Each sample then starts a fresh node with `om --bootstrap` (learner, catch \
         up, voter, as om-node's ha tests grow a ring) and times it from the spawn until it is a ready voter \
         at the leader's applied index; `snapshots installed` is that node's own counter. The node is \
         decommissioned, stopped and deleted afterwards, so every sample starts from three voters."
            .into(),
        "Disk: allocated bytes (as `du`) of every file under each voter's data dir, hard links counted once; RocksDB \
         preallocates its write-ahead logs, so even an empty node takes tens of MiB; `file bytes` sums the \
         file lengths instead. RSS: \
         VmRSS of each voter process."
            .into(),
        format!(
            "Load generator and servers share the machine ({} CPUs, no pinning); no other setting differs from \
             om-node's defaults (snapshot every 400,000 log entries).",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
        ),
    ]
}

/// Creates the volume and the shape's buckets.
async fn make_buckets(client: &Arc<FailoverClient>, shape: Shape, tasks: usize) -> Result<(), ScaleError> {
    ignore_exists(client.write(WriteOp::create_volume(VOLUME)).await)?;
    let next = Arc::new(AtomicU64::new(0));
    let mut handles: Vec<tokio::task::JoinHandle<Result<(), ScaleError>>> = Vec::new();
    for _ in 0..tasks.clamp(1, shape.buckets) {
        let (client, next) = (Arc::clone(client), Arc::clone(&next));
        handles.push(tokio::spawn(async move {
            loop {
                let b = next.fetch_add(1, Ordering::SeqCst) as usize;
                if b >= shape.buckets {
                    return Ok(());
                }
                ignore_exists(client.write(WriteOp::create_bucket(VOLUME, Shape::bucket_name(b))).await)?;
            }
        }));
    }
    for h in handles {
        h.await.map_err(|e| ScaleError::Failed(format!("bucket task: {e}")))??;
    }
    Ok(())
}

fn ignore_exists(r: Result<om_client::wire::WriteResponse, om_client::ClientError>) -> Result<(), ScaleError> {
    use om_client::wire::ErrorCode::{BucketAlreadyExists, VolumeAlreadyExists};
    match r {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.code(), Some(VolumeAlreadyExists) | Some(BucketAlreadyExists)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn create(client: &FailoverClient, shape: Shape, i: u64) -> Result<(), om_client::ClientError> {
    client.create_key(VOLUME, &shape.bucket_of(i), &key_name(i), 0, None, BTreeMap::new()).await.map(|_| ())
}

/// Creates keys `next..to` from `tasks` tasks, each key retried a few times.
async fn preload(
    client: &Arc<FailoverClient>,
    shape: Shape,
    next: &Arc<AtomicU64>,
    to: u64,
    tasks: usize,
    name: &str,
) -> Result<Preload, ScaleError> {
    let from = next.load(Ordering::SeqCst);
    log(format!("{name}: preloading keys {from}..{to}"));
    let (load_before, ticks) = (procstat::loadavg(), procstat::cpu_ticks());
    let t = Instant::now();
    let retries = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for _ in 0..tasks.max(1) {
        let (client, next, retries) = (Arc::clone(client), Arc::clone(next), Arc::clone(&retries));
        handles.push(tokio::spawn(async move {
            while let Ok(i) = next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| (v < to).then_some(v + 1)) {
                let mut attempt = 1;
                while let Err(e) = create(&client, shape, i).await {
                    if attempt >= PRELOAD_ATTEMPTS {
                        return Err(ScaleError::Failed(format!("preloading key {i} failed {attempt} times: {e}")));
                    }
                    attempt += 1;
                    retries.fetch_add(1, Ordering::SeqCst);
                }
            }
            Ok(())
        }));
    }
    let progress = {
        let next = Arc::clone(next);
        let name = name.to_string();
        tokio::spawn(async move {
            let start = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(30)).await;
                let n = next.load(Ordering::SeqCst);
                let rate = (n - from) as f64 / start.elapsed().as_secs_f64();
                log(format!("{name}: preload at {n} of {to} keys ({rate:.0} keys/s)"));
            }
        })
    };
    let mut failed = None;
    for h in handles {
        match h.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed = failed.or(Some(e)),
            Err(e) => failed = failed.or(Some(ScaleError::Failed(format!("preload task: {e}")))),
        }
    }
    progress.abort();
    if let Some(e) = failed {
        return Err(e);
    }
    let secs = t.elapsed().as_secs_f64();
    let p = Preload {
        shape: name.to_string(),
        from,
        to,
        secs,
        keys_per_sec: (to - from) as f64 / secs.max(1e-9),
        retries: retries.load(Ordering::SeqCst),
        load_before,
        load_after: procstat::loadavg(),
        steal_pct: procstat::steal_pct(ticks, procstat::cpu_ticks()),
    };
    log(format!("{name}: preloaded {from}..{to} at {:.0} keys/s", p.keys_per_sec));
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_unique_fixed_width_and_spread() {
        let names: std::collections::HashSet<String> = (0..100_000).map(key_name).collect();
        assert_eq!(names.len(), 100_000);
        assert!(names.iter().all(|n| n.len() == 16));
        // Spread: the first hex digit of consecutive numbers takes every value.
        let firsts: std::collections::HashSet<char> = (0..200).filter_map(|i| key_name(i).chars().next()).collect();
        assert_eq!(firsts.len(), 16);
    }

    #[test]
    fn shapes_and_key_counts_parse() {
        assert_eq!(Shape::parse("one-bucket").unwrap().buckets, 1);
        assert_eq!(Shape::parse("1000-buckets").unwrap().buckets, 1000);
        assert_eq!(Shape::parse("1000-buckets").unwrap().name(), "1000-buckets");
        assert_eq!(Shape::parse("1000-buckets").unwrap().bucket_of(1234), "b00234");
        assert!(Shape::parse("many").is_err());
        assert_eq!(parse_keys("0,100_000,1000000").unwrap(), [0, 100_000, 1_000_000]);
        assert!(parse_keys("10,5").is_err());
        assert!(parse_keys("x").is_err());
    }
}
