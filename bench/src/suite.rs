//! One run of the whole comparison: our ring and etcd side by side with their steps back to
//! back (one system loaded at a time), then Ozone alone; each phase ends with the availability
//! trials. Results are saved after every step so a failure later keeps what was measured.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::etcd::{EtcdCluster, EtcdError};
use crate::freon::{Freon, FreonError, FreonRun};
use crate::omring::{self, OmRing, RingError};
use crate::ozone::{OzoneCluster, OzoneError};
use crate::procstat;
use crate::results::*;

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error(transparent)]
    Ring(#[from] RingError),
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    #[error(transparent)]
    Ozone(#[from] OzoneError),
    #[error(transparent)]
    Freon(#[from] FreonError),
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{0}")]
    Missing(String),
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub systems: Vec<String>,
    pub clients: Vec<usize>,
    pub step: Duration,
    pub trials: usize,
    /// Runs of every step; systems of a phase alternate in ABBA order across repeats.
    pub repeats: usize,
    pub out: PathBuf,
    pub work: PathBuf,
    pub om_node: PathBuf,
    pub etcd_bin: Option<PathBuf>,
    pub ozone_lib: Option<PathBuf>,
    pub ozone_driver: Option<PathBuf>,
    pub fsync_samples: usize,
    pub command: String,
    /// Only these workloads (empty: all).
    pub workloads: Vec<String>,
    /// Extra ozone-site.xml properties for our ring (experiments; the report notes them).
    pub omring_set: Vec<(String, String)>,
}

impl Settings {
    fn wants(&self, workload: &str) -> bool {
        self.workloads.is_empty() || self.workloads.iter().any(|w| w == workload)
    }
}

pub(crate) fn log(msg: impl AsRef<str>) {
    eprintln!("[omring-bench {}] {}", chrono_like_now(), msg.as_ref());
}

pub(crate) fn chrono_like_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    format!("{h:02}:{m:02}:{s:02}Z")
}

pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string()))
        })
        .unwrap_or_default()
}

/// `git ARGS` in the current directory (the checkout `make bench-compare` runs from), trimmed.
pub(crate) fn git(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn row(system: &str, workload: &str, clients: usize, load_before: String) -> Row {
    Row {
        system: system.into(),
        workload: workload.into(),
        clients,
        ops: 0,
        errors: 0,
        secs: 0.0,
        ops_per_sec: 0.0,
        p50_ms: None,
        p99_ms: None,
        cpu_s_per_1k: None,
        rss_mib: Vec::new(),
        load_before,
        load_after: String::new(),
        steal_pct: None,
        repeat: 0,
        note: None,
        client_cpu_s_per_1k: None,
        window_ops_per_sec: Vec::new(),
    }
}

fn cpu_per_1k(cpu: f64, ops: u64) -> Option<f64> {
    (ops > 0).then(|| cpu / ops as f64 * 1000.0)
}

pub struct Suite {
    pub settings: Settings,
    pub results: Results,
}

impl Suite {
    pub fn new(settings: Settings) -> Self {
        let results = Results {
            meta: Meta {
                started: format!("{} (unix {})", chrono_like_now(), unix_now()),
                command: settings.command.clone(),
                cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
                cpu_model: cpu_model(),
                load_at_start: procstat::loadavg(),
                git_commit: git(&["rev-parse", "HEAD"]).unwrap_or_default(),
                git_dirty: git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty()),
                ..Default::default()
            },
            ..Default::default()
        };
        Suite { settings, results }
    }

    fn save(&mut self) -> Result<(), SuiteError> {
        std::fs::create_dir_all(&self.settings.out)
            .map_err(|source| SuiteError::Io { what: format!("creating {}", self.settings.out.display()), source })?;
        self.results.meta.load_at_end = procstat::loadavg();
        self.results.save(&self.settings.out.join("results.json"))?;
        std::fs::write(self.settings.out.join("results.md"), crate::report::render(&self.results))
            .map_err(|source| SuiteError::Io { what: "writing results.md".into(), source })
    }

    pub async fn run(&mut self) -> Result<(), SuiteError> {
        let s = self.settings.clone();
        self.results.meta.settings = vec![
            ("client counts".into(), format!("{:?}", s.clients)),
            ("seconds per step".into(), format!("{:.1}", s.step.as_secs_f64())),
            ("availability trials per event".into(), s.trials.to_string()),
            ("repeats per step (ABBA order)".into(), s.repeats.to_string()),
        ];
        self.results.notes.extend([
            "256-byte write: omring and Ozone create a volume carrying 256 bytes of metadata (one Raft entry, \
                 fsynced on a majority, applied to RocksDB, a new key each time); etcd runs `benchmark put` with \
                 8-byte keys and 256-byte values over a 10^9 key space (a new revision each time). Both are one \
                 durable replicated write of a small record, acknowledged after commit."
                .to_string(),
            "Linearizable read: omring `VolumeInfo` (leader confirms leadership before answering); etcd \
                 `benchmark range --consistency=l` (ReadIndex)."
                .to_string(),
            "etcd's benchmark is run with --target-leader at 1, clients/10 (the ratio of etcd's performance \
                 guide) and one gRPC connection per client; each is a full step and the best is reported (the \
                 row's note lists all three). omring's FailoverClient sends to the leader over pooled HTTP/1.1."
                .to_string(),
            "Ozone load: OmDriver.java (this repo) calls the client API freon's generators call (openKey + \
                 commitKey; createBucket; createVolume) from N threads sharing one client, and times every \
                 operation. freon (omkg, ombg and `om-echo --ratis`), with the same arguments, runs against both \
                 rings (omring serves Hadoop RPC on its client port): its table compares equal client work, with \
                 freon's own p50/p99 (its Dropwizard timer, logged through the `metrics` logger). The OM JVMs get a \
                 3 s unmeasured warm-up."
                .to_string(),
            "Ozone from Maven Central: 2.2.1 cannot be resolved (its parent POM org.apache.ozone:ozone:2.2.1 \
                 is not published), so 2.2.0 is used; 2.2.0's POMs name a parent \
                 org.apache.ozone:hdds-hadoop-dependency-client that is not published either, so \
                 bench/scripts/setup-peers.sh installs a stand-in POM declaring the Hadoop client libraries \
                 into the local Maven repository. The OM's optional native RocksDB tools library fails to load \
                 (needs a newer libstdc++ than Debian 12's); it is only used for snapshot diffs."
                .to_string(),
            "Load generators run on the same 2-core machine as the servers, for all three systems; their CPU \
                 is reported in its own column, not in the server column."
                .to_string(),
            format!(
                "CPU pinning: none. With {} CPUs, giving servers and load generators CPUs of their own would \
                 leave one core for three voters; every process shares every core, the same for all systems.",
                std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
            ),
            "Snapshots: not matched. omring and Ozone use Ozone's default, a snapshot every 400,000 log \
                 entries (ozone.om.ratis.snapshot.auto.trigger.threshold); etcd keeps its own default, \
                 --snapshot-count 10,000. Each system runs as its users run it; etcd snapshots 40 times as \
                 often, which costs it throughput in the long write steps."
                .to_string(),
        ]);
        if s.fsync_samples > 0 {
            log("fsync probe");
            match crate::fsync::probe(&s.work.join("fsync"), s.fsync_samples) {
                Ok(p) => self.results.fsync = Some(p),
                Err(e) => self.results.notes.push(format!("fsync probe failed: {e}")),
            }
        }
        // Two phases. etcd runs beside our ring and their steps alternate, so the close
        // comparison (writes, reads) sees the same background load on a shared machine. Ozone's
        // JVMs cost CPU even when idle, so Ozone runs alone afterwards (its margin is wide).
        let phases: Vec<Vec<String>> = vec![
            s.systems.iter().filter(|x| x.as_str() != OZONE).cloned().collect(),
            s.systems.iter().filter(|x| x.as_str() == OZONE).cloned().collect(),
        ];
        for phase in phases.into_iter().filter(|p| !p.is_empty()) {
            self.run_phase(&phase).await?;
        }
        self.save()
    }

    async fn run_phase(&mut self, systems: &[String]) -> Result<(), SuiteError> {
        let s = self.settings.clone();
        let mut running: Vec<System> = Vec::new();
        for system in systems {
            match self.start_system(system).await {
                Ok(sys) => {
                    // What keeping it up costs: server CPU while nothing is asked of it.
                    let pids = sys.server_pids();
                    let cpu0 = procstat::total_cpu(&pids);
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    let idle = (procstat::total_cpu(&pids) - cpu0) / 3.0;
                    self.results.notes.push(format!(
                        "{system}: idle server CPU after start-up {idle:.3} cores (3 voters{})",
                        if system == OZONE { ", OMs only" } else { "" }
                    ));
                    running.push(sys)
                }
                Err(e) => {
                    log(format!("{system} did not start: {e}"));
                    self.results.notes.push(format!("{system}: run stopped early: {e}"));
                }
            }
            self.save()?;
        }
        for &w in ALL_WORKLOADS.iter().filter(|w| s.wants(w)) {
            for &c in &s.clients {
                for repeat in 0..s.repeats.max(1) {
                    // ABBA: A then B in even repeats, B then A in odd ones, so neither system
                    // always runs first (after the other's load, or on a warmer machine).
                    let mut order: Vec<usize> = (0..running.len()).collect();
                    if repeat % 2 == 1 {
                        order.reverse();
                    }
                    for i in order {
                        if !running[i].serves(w) {
                            continue;
                        }
                        let name = running[i].name();
                        let ticks = procstat::cpu_ticks();
                        match running[i].step(w, c, repeat, &s).await {
                            Ok(mut rows) => {
                                let steal = procstat::steal_pct(ticks, procstat::cpu_ticks());
                                for r in rows.iter_mut() {
                                    r.repeat = repeat;
                                    r.load_after = procstat::loadavg();
                                    r.steal_pct = steal;
                                }
                                self.results.rows.extend(rows)
                            }
                            Err(e) => {
                                log(format!("{name} {w} at {c} clients failed: {e}"));
                                self.results.notes.push(format!("{name}: run stopped early: {w} at {c} clients: {e}"));
                            }
                        }
                    }
                    self.save()?;
                }
            }
        }
        for sys in running.iter_mut() {
            let name = sys.name();
            match sys.availability(&s).await {
                Ok((avail, notes)) => {
                    self.results.availability.extend(avail);
                    self.results.notes.extend(notes);
                }
                Err(e) => {
                    log(format!("{name} availability failed: {e}"));
                    self.results.notes.push(format!("{name}: run stopped early: availability: {e}"));
                }
            }
            self.save()?;
        }
        Ok(())
    }

    async fn start_system(&mut self, name: &str) -> Result<System, SuiteError> {
        let s = self.settings.clone();
        match name {
            OMRING => {
                if !s.om_node.exists() {
                    return Err(SuiteError::Missing(format!("om-node binary not found at {}", s.om_node.display())));
                }
                self.results.meta.versions.push(("omring".into(), format!("om-node at {}", s.om_node.display())));
                let dir = s.work.join("omring");
                let _ = std::fs::remove_dir_all(&dir);
                let ring = OmRing::start(&s.om_node, &dir, 3, &s.omring_set)?;
                if !s.omring_set.is_empty() {
                    self.results.notes.push(format!("omring ran with extra settings {:?}", s.omring_set));
                }
                let client = ring.client()?;
                let leader = ring.wait_leader(&client, Duration::from_secs(60)).await?;
                log(format!("omring: leader {leader}"));
                omring::prepare(&client).await?;
                let freon = match s.ozone_lib.as_deref().filter(|l| l.exists()) {
                    Some(lib) => Some(Freon::for_ring(lib, &s.work.join("omring-freon"), &ring.ozone_site_xml())?),
                    None => {
                        self.results.notes.push("no Ozone jars (--ozone-lib): no freon rows against omring".into());
                        None
                    }
                };
                Ok(System::Omring { ring, client, freon })
            }
            ETCD => {
                let bin = s.etcd_bin.clone().ok_or_else(|| SuiteError::Missing("--etcd-bin not given".into()))?;
                if !bin.join("etcd").exists() || !bin.join("benchmark").exists() {
                    return Err(SuiteError::Missing(format!("etcd or benchmark missing in {}", bin.display())));
                }
                let version = std::process::Command::new(bin.join("etcd"))
                    .arg("--version")
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or_default().to_string())
                    .unwrap_or_default();
                self.results
                    .meta
                    .versions
                    .push(("etcd".into(), format!("{version} (+ tools/benchmark), {}", bin.display())));
                let dir = s.work.join("etcd");
                let _ = std::fs::remove_dir_all(&dir);
                let cluster = EtcdCluster::start(&bin, &dir, 3)?;
                let (leader, _) = cluster.wait_leader(Duration::from_secs(60)).await?;
                log(format!("etcd: leader {leader}"));
                let ep = cluster.endpoint(&leader).unwrap_or_default();
                cluster.put(&ep, "bench-read", &"v".repeat(256)).await?;
                Ok(System::Etcd { cluster })
            }
            OZONE => {
                let lib = s.ozone_lib.clone().ok_or_else(|| SuiteError::Missing("--ozone-lib not given".into()))?;
                let drv =
                    s.ozone_driver.clone().ok_or_else(|| SuiteError::Missing("--ozone-driver not given".into()))?;
                if !drv.join("OmDriver.class").exists() {
                    return Err(SuiteError::Missing(format!("OmDriver.class missing in {}", drv.display())));
                }
                let version = lib
                    .parent()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                self.results
                    .meta
                    .versions
                    .push(("Apache Ozone".into(), format!("{version} jars from Maven Central ({})", lib.display())));
                let dir = s.work.join("ozone");
                let _ = std::fs::remove_dir_all(&dir);
                log("ozone: init + start SCM and 3 OMs (JVM start-up takes a while)");
                let cluster = OzoneCluster::start(&lib, &drv, &dir)?;
                self.results.meta.settings.extend(cluster.settings());
                cluster.wait_oms_listening(Duration::from_secs(180))?;
                let mut driver = cluster.driver()?;
                let leader = driver.wait_leader(Duration::from_secs(120))?;
                log(format!("ozone: leader {leader}"));
                driver.call("setup", Duration::from_secs(120))?;
                // JIT warm-up, not measured (the JVMs are fresh; ours needs none).
                let _ = driver.load("key", 16, 3.0, "warm")?;
                Ok(System::Ozone { cluster, driver })
            }
            other => Err(SuiteError::Missing(format!("unknown system {other}"))),
        }
    }
}

const ALL_WORKLOADS: &[&str] = &[KEY, BUCKET, PUT256, READ, ECHO];

/// One etcd `benchmark` step with `conns` gRPC connections. A short calibration run sizes
/// `--total` so the step lasts about as long as the others'.
fn etcd_step(
    cluster: &EtcdCluster,
    base: &[String],
    w: &str,
    c: usize,
    conns: usize,
    s: &Settings,
) -> Result<Row, SuiteError> {
    let mut cal = base.to_vec();
    cal.push(format!("--total={}", (c * 20).max(200)));
    let probe = cluster.benchmark(c, conns, &cal, Duration::from_secs(120))?;
    let total = ((probe.requests_per_sec * s.step.as_secs_f64()) as usize).max(c * 10);
    let mut args = base.to_vec();
    args.push(format!("--total={total}"));
    let pids = cluster.pids();
    let mut r = row(ETCD, w, c, procstat::loadavg());
    let (cpu0, kids0) = (procstat::total_cpu(&pids), procstat::children_cpu());
    let b = cluster.benchmark(c, conns, &args, s.step * 3 + Duration::from_secs(60))?;
    let cpu = procstat::total_cpu(&pids) - cpu0;
    let bench_cpu = procstat::children_cpu() - kids0;
    let ok = (total as u64).saturating_sub(b.errors);
    r.ops = ok;
    r.errors = b.errors;
    r.secs = b.total_secs;
    r.ops_per_sec = ok as f64 / b.total_secs.max(1e-9);
    r.p50_ms = Some(b.p50_ms);
    r.p99_ms = Some(b.p99_ms);
    r.cpu_s_per_1k = cpu_per_1k(cpu, ok);
    r.client_cpu_s_per_1k = cpu_per_1k(bench_cpu, ok);
    r.rss_mib = procstat::rss_mib(&pids);
    Ok(r)
}

/// freon's row for workload `w` at `c` threads (key create+commit: `omkg` for the step's
/// length; bucket create: `ombg`, which ignores the duration, for `sized` buckets, the count
/// the step's own driver made; echo: `om-echo --ratis` for the step's length), with the
/// servers' CPU and RSS; `None` for other workloads. `run(generator, count, prefix)` runs freon
/// against the system.
#[allow(clippy::too_many_arguments)]
fn freon_row(
    system: &str,
    w: &str,
    c: usize,
    s: &Settings,
    pids: &[u32],
    sized: u64,
    tag: &str,
    run: impl FnOnce(&str, u64, &str) -> Result<FreonRun, String>,
) -> Option<Row> {
    let generator = match w {
        KEY => "omkg",
        BUCKET => "ombg",
        ECHO => "om-echo",
        _ => return None,
    };
    let mut fr = row(system, w, c, procstat::loadavg());
    let cpu0 = procstat::total_cpu(pids);
    let count = if generator == "ombg" { sized.max(c as u64 * 10) } else { 1_000_000_000 };
    // Names are prefix + counter: "frc1r0n" + "60" must not equal "frc16r0n" + "0".
    match run(generator, count, &format!("fr{tag}n")) {
        Ok(f) => {
            let cpu = procstat::total_cpu(pids) - cpu0;
            fr.ops = f.ok;
            fr.secs = f.secs;
            fr.ops_per_sec = f.ok as f64 / f.secs.max(1.0);
            fr.p50_ms = f.p50_ms;
            fr.p99_ms = f.p99_ms;
            fr.cpu_s_per_1k = cpu_per_1k(cpu, f.ok);
            fr.rss_mib = procstat::rss_mib(pids);
            if f.p99_ms.is_none() {
                fr.note = Some("freon logged no timer line: no percentiles".into());
            }
            log(format!(
                "{system} {generator} t={c}: {} in {} s, p99 {:?} ms (step {:?})",
                f.ok, f.secs, f.p99_ms, s.step
            ));
        }
        Err(e) => fr.note = Some(format!("freon failed: {e}")),
    }
    Some(fr)
}

/// A running system under test.
enum System {
    /// `freon`: Ozone's freon pointed at this ring, when Ozone's jars are there.
    Omring {
        ring: OmRing,
        client: Arc<om_client::FailoverClient>,
        freon: Option<Freon>,
    },
    Etcd {
        cluster: EtcdCluster,
    },
    Ozone {
        cluster: OzoneCluster,
        driver: crate::ozone::Driver,
    },
}

impl System {
    fn name(&self) -> &'static str {
        match self {
            System::Omring { .. } => OMRING,
            System::Etcd { .. } => ETCD,
            System::Ozone { .. } => OZONE,
        }
    }

    fn server_pids(&self) -> Vec<u32> {
        match self {
            System::Omring { ring, .. } => ring.pids(),
            System::Etcd { cluster } => cluster.pids(),
            System::Ozone { cluster, .. } => cluster.om_pids(),
        }
    }

    fn serves(&self, workload: &str) -> bool {
        match self {
            System::Omring { freon, .. } => workload != ECHO || freon.is_some(),
            System::Etcd { .. } => workload == PUT256 || workload == READ,
            System::Ozone { .. } => workload != READ,
        }
    }

    /// One workload step at `c` clients: its row(s).
    /// One workload step at `c` clients, repeat `repeat`: its row(s). Names the step creates
    /// carry both, so no repeat meets another's volumes, buckets or keys.
    async fn step(&mut self, w: &str, c: usize, repeat: usize, s: &Settings) -> Result<Vec<Row>, SuiteError> {
        let tag = format!("c{c}r{repeat}");
        match self {
            System::Omring { ring, client, freon } => {
                let pids = ring.pids();
                if w == ECHO {
                    // Served only over Hadoop RPC: freon is the one client of this step.
                    let freon = freon.as_ref().ok_or_else(|| SuiteError::Missing("om-echo needs freon".into()))?;
                    return Ok(freon_row(OMRING_FREON, w, c, s, &pids, 0, &tag, |g, n, p| {
                        freon.run(g, c, s.step.as_secs().max(1), n, p).map_err(|e| e.to_string())
                    })
                    .into_iter()
                    .collect());
                }
                let mut r = row(OMRING, w, c, procstat::loadavg());
                let me = [std::process::id()];
                let (cpu0, own0) = (procstat::total_cpu(&pids), procstat::total_cpu(&me));
                let res = omring::run_workload(Arc::clone(client), w, c, s.step, &tag).await;
                let cpu = procstat::total_cpu(&pids) - cpu0;
                r.client_cpu_s_per_1k = cpu_per_1k(procstat::total_cpu(&me) - own0, res.ops);
                r.ops = res.ops;
                r.errors = res.errors;
                r.secs = res.secs;
                r.ops_per_sec = res.ops_per_sec();
                r.p50_ms = Some(res.percentile_ms(0.5));
                r.p99_ms = Some(res.percentile_ms(0.99));
                r.window_ops_per_sec = res.window_ops_per_sec();
                r.cpu_s_per_1k = cpu_per_1k(cpu, res.ops);
                r.rss_mib = procstat::rss_mib(&pids);
                r.note = res.first_error.map(|e| format!("first error: {e}"));
                log(format!("omring {w} c={c}: {:.0} ops/s p99 {:.1} ms", r.ops_per_sec, r.p99_ms.unwrap_or(0.0)));
                let sized = res.ops;
                let mut rows = vec![r];
                if let Some(freon) = freon {
                    rows.extend(freon_row(OMRING_FREON, w, c, s, &pids, sized, &tag, |g, n, p| {
                        freon.run(g, c, s.step.as_secs().max(1), n, p).map_err(|e| e.to_string())
                    }));
                }
                Ok(rows)
            }
            System::Etcd { cluster } => {
                let base: Vec<String> = if w == PUT256 {
                    vec![
                        "put".into(),
                        "--key-size=8".into(),
                        "--val-size=256".into(),
                        "--key-space-size=1000000000".into(),
                    ]
                } else {
                    vec!["range".into(), "bench-read".into(), "--consistency=l".into()]
                };
                // Each connection count gets a full step; the best one is reported, and the note
                // lists them all.
                let mut best: Option<Row> = None;
                let mut tried = Vec::new();
                for conns in crate::etcd::conns_sweep(c) {
                    let r = etcd_step(cluster, &base, w, c, conns, s)?;
                    tried.push(format!("--conns={conns}: {:.0} ops/s", r.ops_per_sec));
                    if best.as_ref().is_none_or(|b| r.ops_per_sec > b.ops_per_sec) {
                        best = Some(r);
                    }
                }
                let mut r = best.ok_or_else(|| SuiteError::Missing("no etcd connection count ran".into()))?;
                r.note = Some(format!("best of {}", tried.join(", ")));
                log(format!(
                    "etcd {w} c={c}: {:.0} ops/s p99 {:.1} ms ({})",
                    r.ops_per_sec,
                    r.p99_ms.unwrap_or(0.0),
                    tried.join(", ")
                ));
                Ok(vec![r])
            }
            System::Ozone { cluster, driver } => {
                let name = match w {
                    KEY => "key",
                    BUCKET => "bucket",
                    _ => "volume256",
                };
                let mut rows = Vec::new();
                let pids = cluster.om_pids();
                if w == ECHO {
                    return Ok(freon_row(OZONE_FREON, w, c, s, &pids, 0, &tag, |g, n, p| {
                        cluster.freon(g, c, s.step.as_secs().max(1), n, p).map_err(|e| e.to_string())
                    })
                    .into_iter()
                    .collect());
                }
                let mut r = row(OZONE, w, c, procstat::loadavg());
                let drv = [driver.pid()];
                let (cpu0, drv0) = (procstat::total_cpu(&pids), procstat::total_cpu(&drv));
                let d = driver.load(name, c, s.step.as_secs_f64(), &tag)?;
                let cpu = procstat::total_cpu(&pids) - cpu0;
                r.client_cpu_s_per_1k = cpu_per_1k(procstat::total_cpu(&drv) - drv0, d.ops);
                r.ops = d.ops;
                r.errors = d.errors;
                r.secs = d.secs;
                r.ops_per_sec = d.ops as f64 / d.secs.max(1e-9);
                r.p50_ms = Some(d.p50_ms);
                r.p99_ms = Some(d.p99_ms);
                r.window_ops_per_sec = d.window_ops_per_sec();
                r.cpu_s_per_1k = cpu_per_1k(cpu, d.ops);
                r.rss_mib = procstat::rss_mib(&pids);
                if !d.first_error.is_empty() {
                    r.note = Some(format!("first error: {}", d.first_error));
                }
                log(format!("ozone {w} c={c}: {:.0} ops/s p99 {:.1} ms", r.ops_per_sec, d.p99_ms));
                rows.push(r);
                rows.extend(freon_row(OZONE_FREON, w, c, s, &pids, d.ops, &tag, |g, n, p| {
                    cluster.freon(g, c, s.step.as_secs().max(1), n, p).map_err(|e| e.to_string())
                }));
                Ok(rows)
            }
        }
    }

    /// kill -9 of the leader and requested transfers, `s.trials` times each.
    async fn availability(&mut self, s: &Settings) -> Result<(Vec<Availability>, Vec<String>), SuiteError> {
        match self {
            System::Omring { ring, client, .. } => {
                let mut kill = Availability::new(OMRING, "kill-leader");
                for t in 0..s.trials {
                    let leader = ring.wait_leader(client, Duration::from_secs(60)).await?;
                    let t0 = Instant::now();
                    ring.kill9(&leader)?;
                    // Watch the survivors while the client looks for the new leader.
                    let name = format!("kill{t}");
                    let (took, elected) = tokio::join!(
                        omring::first_write_after(client, t0, &name),
                        omring::new_leader_after(ring, &leader, t0)
                    );
                    let took = took?;
                    kill.to_first_write_ms.push(took.as_secs_f64() * 1e3);
                    if let Some(e) = elected {
                        kill.leader_ms.push(e.as_secs_f64() * 1e3);
                    }
                    log(format!(
                        "omring kill -9 {leader}: new leader agreed after {:.0} ms, first write after {:.0} ms",
                        elected.map(|e| e.as_secs_f64() * 1e3).unwrap_or(f64::NAN),
                        took.as_secs_f64() * 1e3
                    ));
                    ring.restart(&leader)?;
                }
                let mut tr = Availability::new(OMRING, "transfer");
                for t in 0..s.trials {
                    let leader = ring.wait_leader(client, Duration::from_secs(60)).await?;
                    let target = ring.ids().find(|x| *x != leader).map(str::to_string).unwrap_or_default();
                    // A node restarted by the kill trials may still be catching up and the leader
                    // refuses lagging targets: retry until it is fit (only fit attempts are timed).
                    let fit_by = Instant::now() + Duration::from_secs(60);
                    let mut t0 = Instant::now();
                    let mut result = client.transfer_leader(Some(&target)).await;
                    while matches!(&result, Err(om_client::ClientError::Api(e)) if e.code == om_client::ErrorCode::FailedPrecondition)
                        && Instant::now() < fit_by
                    {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        t0 = Instant::now();
                        result = client.transfer_leader(Some(&target)).await;
                    }
                    match result {
                        Ok(resp) => {
                            let call = t0.elapsed();
                            let took = omring::first_write_after(client, t0, &format!("transfer{t}")).await?;
                            tr.call_ms.push(call.as_secs_f64() * 1e3);
                            tr.to_first_write_ms.push(took.as_secs_f64() * 1e3);
                            log(format!(
                                "omring transfer {leader}->{}: call {:.0} ms (server says {} ms), first write {:.0} ms",
                                resp.new_leader,
                                call.as_secs_f64() * 1e3,
                                resp.elapsed_ms,
                                took.as_secs_f64() * 1e3
                            ));
                            if resp.new_leader != target {
                                tr.note = Some(format!("asked for {target}, leadership went to {}", resp.new_leader));
                            }
                        }
                        Err(e) => {
                            tr.note = Some(format!("transfer_leader failed: {e}"));
                            break;
                        }
                    }
                }
                Ok((vec![kill, tr], vec![]))
            }
            System::Etcd { cluster } => {
                let mut kill = Availability::new(ETCD, "kill-leader");
                for _ in 0..s.trials {
                    let (leader, _) = cluster.wait_leader(Duration::from_secs(60)).await?;
                    let t0 = Instant::now();
                    cluster.kill9(&leader);
                    let took = cluster.first_write_after(t0).await?;
                    kill.to_first_write_ms.push(took.as_secs_f64() * 1e3);
                    log(format!("etcd kill -9 {leader}: first put after {:.0} ms", took.as_secs_f64() * 1e3));
                    cluster.restart(&leader)?;
                }
                kill.note = Some(
                    "etcd defaults: heartbeat 100 ms, election timeout 1000 ms; puts retried every 300 ms at most"
                        .into(),
                );
                let mut tr = Availability::new(ETCD, "transfer");
                for _ in 0..s.trials {
                    let (leader, _) = cluster.wait_leader(Duration::from_secs(60)).await?;
                    let target = cluster.names().into_iter().find(|n| *n != leader).unwrap_or_default();
                    let target_id = cluster.member_id(&target).await?;
                    let t0 = Instant::now();
                    cluster.move_leader(&leader, &target_id).await?;
                    let call = t0.elapsed();
                    let took = cluster.first_write_after(t0).await?;
                    tr.call_ms.push(call.as_secs_f64() * 1e3);
                    tr.to_first_write_ms.push(took.as_secs_f64() * 1e3);
                    log(format!(
                        "etcd move-leader {leader}->{target}: call {:.0} ms, first put {:.0} ms",
                        call.as_secs_f64() * 1e3,
                        took.as_secs_f64() * 1e3
                    ));
                }
                tr.note = Some("MoveLeader RPC (what `etcdctl move-leader` sends) through etcd's JSON gateway".into());
                Ok((vec![kill, tr], vec![]))
            }
            System::Ozone { cluster, driver } => {
                let mut kill = Availability::new(OZONE, "kill-leader");
                for t in 0..s.trials {
                    let leader = driver.wait_leader(Duration::from_secs(120))?;
                    let t0 = Instant::now();
                    cluster.kill9(&leader);
                    driver.write(&format!("kill{t}"))?;
                    let took = t0.elapsed();
                    kill.to_first_write_ms.push(took.as_secs_f64() * 1e3);
                    log(format!("ozone kill -9 {leader}: first write after {:.0} ms", took.as_secs_f64() * 1e3));
                    cluster.restart(&leader)?;
                    driver.write(&format!("rejoin{t}"))?;
                }
                kill.note = Some(
                    "Ozone defaults: ozone.om.ratis.minimum.timeout 5 s, pre-vote on; client retry pause 100 ms".into(),
                );
                let mut tr = Availability::new(OZONE, "transfer");
                for t in 0..s.trials {
                    let leader = driver.wait_leader(Duration::from_secs(120))?;
                    let target = cluster.ids().into_iter().find(|x| *x != leader).unwrap_or_default();
                    let t0 = Instant::now();
                    let call = driver.transfer(&target)?;
                    driver.write(&format!("transfer{t}"))?;
                    let took = t0.elapsed();
                    tr.call_ms.push(call);
                    tr.to_first_write_ms.push(took.as_secs_f64() * 1e3);
                    log(format!(
                        "ozone transfer {leader}->{target}: call {call:.0} ms, first write {:.0} ms",
                        took.as_secs_f64() * 1e3
                    ));
                }
                // The official CLI, once: proves `ozone admin om transfer` works here; its time
                // includes JVM start.
                let leader = driver.wait_leader(Duration::from_secs(120))?;
                let target = cluster.ids().into_iter().find(|x| *x != leader).unwrap_or_default();
                tr.note = Some(match cluster.admin_transfer(&target) {
                    Ok((d, out)) => format!(
                        "timed through OzoneManagerProtocol.transferLeadership (what the CLI calls); \
                         `ozone admin om transfer -n {target}` itself took {:.1} s wall including JVM start and printed \"{out}\"",
                        d.as_secs_f64()
                    ),
                    Err(e) => format!("timed through OzoneManagerProtocol.transferLeadership; the admin CLI failed: {e}"),
                });
                let mut notes = Vec::new();
                if let Some(pid) = cluster.scm_pid() {
                    let rss = procstat::rss_mib(&[pid]);
                    notes.push(format!(
                        "Ozone's SCM ran beside the OMs (needed to start them, idle for these workloads): {:.0} MiB RSS, \
                         not counted in Ozone's CPU or RSS columns",
                        rss.first().copied().unwrap_or(0.0)
                    ));
                }
                Ok((vec![kill, tr], notes))
            }
        }
    }
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Suite {
    /// Steps that completed no operation, and availability events without a sample.
    pub fn completeness_problems(&self) -> Vec<String> {
        let s = &self.settings;
        let mut problems = Vec::new();
        for sys in &s.systems {
            let freon_system = if sys == OMRING { OMRING_FREON } else { OZONE_FREON };
            let with_freon = s.ozone_lib.is_some() && sys != ETCD;
            // (the row's system, workload): the system's own driver, and freon where it runs.
            let mut steps: Vec<(&str, &str)> = match sys.as_str() {
                OMRING => vec![KEY, BUCKET, PUT256, READ],
                ETCD => vec![PUT256, READ],
                _ => vec![KEY, BUCKET, PUT256],
            }
            .into_iter()
            .map(|w| (sys.as_str(), w))
            .collect();
            if with_freon {
                steps.extend([KEY, BUCKET, ECHO].map(|w| (freon_system, w)));
            }
            for (sys, w) in steps.into_iter().filter(|(_, w)| s.wants(w)) {
                for &c in &s.clients {
                    match self.results.row(sys, w, c) {
                        Some(r) if r.ops > 0 => {}
                        Some(r) => {
                            problems.push(format!("{sys} {w} at {c} clients completed no operation ({:?})", r.note))
                        }
                        None => problems.push(format!("{sys} {w} at {c} clients was not measured")),
                    }
                }
            }
            for ev in ["kill-leader", "transfer"] {
                match self.results.availability(sys, ev) {
                    Some(a) if !a.to_first_write_ms.is_empty() => {}
                    Some(a) => problems.push(format!("{sys} {ev} has no sample ({:?})", a.note)),
                    None => problems.push(format!("{sys} {ev} was not measured")),
                }
            }
        }
        problems.extend(self.results.notes.iter().filter(|n| n.contains("run stopped early")).cloned());
        problems
    }
}
