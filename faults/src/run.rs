//! One run: network, ring, traffic, nemesis, heal, checks, and a report. A run that does not
//! pass keeps its whole directory (seed, schedule, history, porcupine's view, node logs and
//! data) and says where.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::checks::{self, Durability, Recovery, Replicas, Verdict};
use crate::cluster::{Cluster, ClusterSpec, ExitRecord};
use crate::history::{project, write_jsonl, Anomaly, Recorder};
use crate::nemesis::{self, FaultKind, FaultRecord, Nemesis, NemesisSpec, PlannedFault};
use crate::net::{self, Net, Slot};
use crate::traffic::{self, TrafficSpec};
use crate::{say, FaultError, Result};

/// Snapshot settings of every run: low, so that snapshots are built and installed under
/// faults, and a follower kept away for seconds needs one.
pub const SNAPSHOT_THRESHOLD: u64 = 500;
pub const PURGE_GAP: u64 = 100;

/// What one run does.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub seed: u64,
    /// Traffic time, from the first call to the last heal.
    pub secs: u64,
    /// Ring size; drawn from the seed when `None` (5 nodes in one run of four).
    pub nodes: Option<usize>,
    pub kinds: Vec<FaultKind>,
    /// A fixed schedule instead of one drawn from the seed (regression scenarios).
    pub schedule: Option<Vec<PlannedFault>>,
    pub warmup_secs: u64,
    /// Fewer operations a second than this before the first fault makes the run invalid.
    pub min_rate: f64,
    pub traffic: TrafficSpec,
    pub bin: PathBuf,
    pub checker: PathBuf,
    pub breakages: Option<String>,
    /// Run directories go under it.
    pub out_dir: PathBuf,
    /// Keep the directory of a run that passed too.
    pub keep: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    /// The run did not load the ring enough to mean anything.
    Invalid,
}

/// Everything a run found.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub seed: u64,
    pub nodes: usize,
    pub secs: u64,
    pub outcome: Outcome,
    /// Why it did not pass.
    pub problems: Vec<String>,
    pub faults: Vec<FaultRecord>,
    pub ops: usize,
    pub unknown_ops: usize,
    pub warmup_ops_per_sec: f64,
    pub linearizability: Verdict,
    pub durability: Durability,
    pub replicas: Replicas,
    pub recovery: Recovery,
    pub exits: Vec<ExitRecord>,
    pub anomalies: Vec<Anomaly>,
    pub panics: Vec<String>,
    /// Where the run's files are, when kept.
    pub dir: Option<PathBuf>,
}

impl RunReport {
    /// A run that stopped early because the ring did not do what the run needed.
    pub fn failed(seed: u64, nodes: usize, secs: u64, why: String) -> RunReport {
        RunReport {
            seed,
            nodes,
            secs,
            outcome: Outcome::Fail,
            problems: vec![why],
            faults: Vec::new(),
            ops: 0,
            unknown_ops: 0,
            warmup_ops_per_sec: 0.0,
            linearizability: Verdict::default(),
            durability: Durability::default(),
            replicas: Replicas::default(),
            recovery: Recovery::default(),
            exits: Vec::new(),
            anomalies: Vec::new(),
            panics: Vec::new(),
            dir: None,
        }
    }
}

/// The om-node build and the checker, next to the running executable's build.
pub fn default_paths() -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = std::env::var_os("OMRING_NODE_BIN").map(PathBuf::from).unwrap_or_else(|| dir.join("om-node"));
    let checker = std::env::var_os("OMRING_PORCUPINE").map(PathBuf::from).unwrap_or_else(|| {
        let out = std::process::Command::new(repo_root().join("scripts/tools.sh"))
            .stderr(std::process::Stdio::inherit())
            .output();
        let bin_dir = out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default();
        PathBuf::from(bin_dir).join("omring-porcupine")
    });
    (bin, checker)
}

/// The repository this crate was built from.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Where runs keep their files unless told otherwise: `$OMRING_FAULTS_DIR`, else `faults/`
/// in the build directory.
pub fn default_out_dir() -> PathBuf {
    std::env::var_os("OMRING_FAULTS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap_or_default();
        exe.ancestors()
            .find(|p| p.ends_with("debug"))
            .map(|p| p.join("faults"))
            .unwrap_or_else(|| PathBuf::from("/tmp/omring-faults"))
    })
}

impl RunConfig {
    /// A run of `secs` seconds over `kinds`, with the default binaries.
    pub fn new(seed: u64, secs: u64, kinds: Vec<FaultKind>) -> RunConfig {
        let (bin, checker) = default_paths();
        RunConfig {
            seed,
            secs,
            nodes: None,
            kinds,
            schedule: None,
            warmup_secs: 3,
            min_rate: 100.0,
            traffic: TrafficSpec::default(),
            bin,
            checker,
            breakages: None,
            out_dir: default_out_dir(),
            keep: false,
        }
    }

    fn ring_size(&self) -> usize {
        self.nodes
            .unwrap_or_else(|| if StdRng::seed_from_u64(self.seed ^ 0x5eed).random_range(0..4) == 0 { 5 } else { 3 })
    }
}

/// Runs one seed. `Err` means the suite could not run (setup), not that the ring misbehaved.
pub async fn run(cfg: &RunConfig) -> Result<RunReport> {
    say!(
        "seed {} ({} s, faults: {})",
        cfg.seed,
        cfg.secs,
        cfg.kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(",")
    );
    net::check_privileges()?;
    for (what, p) in [("om-node", &cfg.bin), ("the porcupine checker", &cfg.checker)] {
        if !p.is_file() {
            return Err(FaultError::Setup(format!("{what} not found at {} (run `make build`)", p.display())));
        }
    }
    let nodes = cfg.ring_size();
    let schedule = match &cfg.schedule {
        Some(s) => s.clone(),
        None => nemesis::plan(cfg.seed, &cfg.kinds, cfg.secs.saturating_sub(cfg.warmup_secs)),
    };
    let wants_disk = schedule.iter().any(|f| f.kind == FaultKind::DiskFull);
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let dir = cfg.out_dir.join(format!("run-{}-{stamp}", cfg.seed));
    std::fs::create_dir_all(&dir)
        .map_err(|source| FaultError::Io { what: format!("creating {}", dir.display()), source })?;
    std::fs::write(dir.join("seed.txt"), format!("{}\n", cfg.seed))
        .map_err(|source| FaultError::Io { what: "writing seed.txt".into(), source })?;
    write_json(&dir.join("schedule.json"), &schedule)?;

    let slot = Slot::acquire()?;
    let net = Net::create(slot, nodes)?;
    let spec = ClusterSpec {
        nodes,
        small_disk: wants_disk.then(|| (cfg.seed as usize) % nodes),
        small_disk_mib: 384,
        settings: vec![
            ("ozone.om.ratis.snapshot.auto.trigger.threshold".into(), SNAPSHOT_THRESHOLD.to_string()),
            ("ozone.om.ratis.log.purge.gap".into(), PURGE_GAP.to_string()),
        ],
        breakages: cfg.breakages.clone(),
        bin: cfg.bin.clone(),
    };
    let cluster = Cluster::start(net, &dir, spec)?;
    let result = drive(cfg, &cluster, &schedule).await;
    let mut report = match result {
        Ok(r) => r,
        Err(e @ FaultError::Setup(_)) => {
            cluster.shutdown(true);
            say!("run of seed {} could not finish: {e}; its files are in {}", cfg.seed, dir.display());
            return Err(e);
        }
        // The ring did not do what the run needed (elect a leader, take the first writes).
        Err(e) => RunReport::failed(cfg.seed, nodes, cfg.secs, e.to_string()),
    };
    let keep = cfg.keep || report.outcome != Outcome::Pass;
    cluster.shutdown(keep);
    drop(cluster);
    if keep {
        report.dir = Some(dir.clone());
        write_json(&dir.join("report.json"), &report)?;
        say!("seed {}: {:?}; everything is kept in {}", cfg.seed, report.outcome, dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
        say!("seed {}: pass", cfg.seed);
    }
    Ok(report)
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| FaultError::Parse { what: path.display().to_string(), reason: e.to_string() })?;
    std::fs::write(path, text).map_err(|source| FaultError::Io { what: format!("writing {}", path.display()), source })
}

async fn drive(cfg: &RunConfig, cluster: &Arc<Cluster>, schedule: &[PlannedFault]) -> Result<RunReport> {
    let stop_supervisor = Arc::new(AtomicBool::new(false));
    let supervisor = tokio::spawn(Arc::clone(cluster).supervise(Arc::clone(&stop_supervisor)));
    let result = drive_supervised(cfg, cluster, schedule).await;
    stop_supervisor.store(true, Ordering::Relaxed);
    let _ = supervisor.await;
    result
}

async fn drive_supervised(cfg: &RunConfig, cluster: &Arc<Cluster>, schedule: &[PlannedFault]) -> Result<RunReport> {
    let dir = cluster.dir.clone();
    if cluster.wait_leader(Duration::from_secs(60)).await.is_none() {
        return Err(FaultError::Ring("the ring elected no leader within 60 s of starting".into()));
    }
    let admin = traffic::client(&cluster.service, &cfg.traffic)?;
    traffic::prepare(&admin, Duration::from_secs(60)).await?;

    let recorder = Arc::new(Recorder::default());
    let stop_traffic = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let clients =
        traffic::start(&cfg.traffic, &cluster.service, cfg.seed, Arc::clone(&recorder), Arc::clone(&stop_traffic))?;
    tokio::time::sleep(Duration::from_secs(cfg.warmup_secs)).await;
    let warm_ops = recorder.completed_before(recorder.now());
    let warmup_rate = warm_ops as f64 / started.elapsed().as_secs_f64();
    say!("{warm_ops} operations before the first fault ({warmup_rate:.0}/s)");

    let stop_nemesis = Arc::new(AtomicBool::new(false));
    let nemesis = Nemesis {
        cluster: Arc::clone(cluster),
        spec: NemesisSpec { snapshot_threshold: SNAPSHOT_THRESHOLD, purge_gap: PURGE_GAP },
        stop: stop_nemesis,
    };
    let faults = nemesis.run(schedule, started + Duration::from_secs(cfg.secs)).await;
    nemesis.heal_all().await?;
    for i in 0..cluster.len() {
        cluster.release(i, &[])?;
    }
    let healed = Instant::now();
    say!("healed; waiting for a leader that takes writes");
    let recovery = checks::recovery(cluster, &admin, healed, Duration::from_secs(30)).await;
    stop_traffic.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }
    let mut problems = Vec::new();
    let final_keys =
        match checks::final_reads(&admin, &recorder, cfg.traffic.clients + cfg.traffic.readers, cfg.traffic.clients)
            .await
        {
            Ok(k) => Some(k),
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        };
    let replicas = checks::replicas_agree(cluster, Duration::from_secs(60)).await;

    let events = recorder.events();
    write_jsonl(&dir.join("history.jsonl"), &events)?;
    let projection = project(&events);
    let ops_path = dir.join("model-ops.jsonl");
    write_jsonl(&ops_path, &projection.ops)?;
    let linearizability = checks::porcupine(&cfg.checker, &ops_path, &dir.join("porcupine.html"))?;
    let durability = final_keys.as_ref().map(|k| checks::durability(&events, k)).unwrap_or_default();
    let panics = checks::panics(cluster);
    let exits = cluster.exits();

    let unknown_ops = events.iter().filter(|e| e.ret.is_none()).count();
    if !linearizability.linearizable() {
        problems.push(format!(
            "history not linearizable ({}): {}",
            linearizability.result,
            linearizability.illegal_partitions.join(", ")
        ));
    }
    for (what, v) in [
        ("lost acknowledged writes", &durability.lost),
        ("undone deletes", &durability.undone),
        ("phantom keys", &durability.phantoms),
    ] {
        if !v.is_empty() {
            problems.push(format!("{what}: {}", v.join(", ")));
        }
    }
    if !replicas.agree {
        problems.push(format!("replicas: {} {:?}", replicas.detail, replicas.digests));
    }
    match (&recovery.leader, recovery.first_write_ms) {
        (Some(_), Some(_)) => {}
        _ => problems.push(format!("no leader taking writes within 30 s of the last heal: {recovery:?}")),
    }
    for a in &projection.anomalies {
        problems.push(format!("anomaly: {}", a.what));
    }
    for p in &panics {
        problems.push(format!("panic: {p}"));
    }
    for e in exits.iter().filter(|e| !e.expected && !e.during_disk_full) {
        problems.push(format!("{} exited on its own at {} ms: {}", e.node, e.at_ms, e.status));
    }
    let outcome = if warmup_rate < cfg.min_rate {
        problems.push(format!(
            "invalid: {warmup_rate:.0} operations/s before the first fault (at least {} needed)",
            cfg.min_rate
        ));
        Outcome::Invalid
    } else if problems.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail
    };
    for p in &problems {
        say!("seed {}: {p}", cfg.seed);
    }
    Ok(RunReport {
        seed: cfg.seed,
        nodes: cluster.len(),
        secs: cfg.secs,
        outcome,
        problems,
        faults,
        ops: events.len(),
        unknown_ops,
        warmup_ops_per_sec: warmup_rate,
        linearizability,
        durability,
        replicas,
        recovery,
        exits,
        anomalies: projection.anomalies,
        panics,
        dir: None,
    })
}
