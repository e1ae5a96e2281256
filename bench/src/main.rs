//! `omring-bench`: runs the side-by-side comparison (see the crate docs) or re-renders a report.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand};
use omring_bench::results::{Results, ResultsError};
use omring_bench::scale::{parse_keys, Scale, ScaleSettings, Shape};
use omring_bench::scale_results::ScaleResults;
use omring_bench::suite::{Settings, Suite};

#[derive(Parser)]
#[command(about = "omring vs etcd vs Apache Ozone OM, side by side; omring as the namespace grows")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Measure and write results.json, results.md under --out.
    Run {
        /// Comma list of omring, etcd, ozone.
        #[arg(long, default_value = "omring,etcd,ozone")]
        systems: String,
        #[arg(long, default_value = "1,16,64,256")]
        clients: String,
        /// Comma list of workloads (key-create-commit, bucket-create, write-256B,
        /// linearizable-read, om-echo); default all.
        #[arg(long, default_value = "")]
        workloads: String,
        /// Seconds per workload step (steady state: at least 60).
        #[arg(long, default_value_t = 60.0)]
        secs: f64,
        /// Availability trials per event.
        #[arg(long, default_value_t = 5)]
        trials: usize,
        /// Runs of every step (systems alternate in ABBA order); the report gives the median
        /// and range of all of them.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        #[arg(long, default_value = "bench/results")]
        out: PathBuf,
        /// Scratch directory for data dirs and logs (default: a fresh temp dir).
        #[arg(long)]
        work: Option<PathBuf>,
        /// The om-node binary (default: $CARGO_TARGET_DIR/perf/om-node, else the checkout's target/perf/om-node:
        /// `cargo build --profile perf --workspace --bins`).
        #[arg(long)]
        om_node: Option<PathBuf>,
        /// Directory with etcd and benchmark (bench/scripts/setup-peers.sh prints it).
        #[arg(long)]
        etcd_bin: Option<PathBuf>,
        /// Directory with the Ozone jars.
        #[arg(long)]
        ozone_lib: Option<PathBuf>,
        /// Directory with the compiled OmDriver.class.
        #[arg(long)]
        ozone_driver: Option<PathBuf>,
        #[arg(long, default_value_t = 300)]
        fsync_samples: usize,
        /// Exit non-zero unless every system/workload/client step completed operations and
        /// every availability event was measured (the CI smoke run).
        #[arg(long)]
        check: bool,
        /// Extra ozone-site.xml property for our ring, KEY=VALUE (repeatable; for experiments).
        #[arg(long = "omring-set", value_name = "KEY=VALUE")]
        omring_set: Vec<String>,
        /// The command line recorded in the report as "reproduce".
        #[arg(long)]
        reproduce: Option<String>,
    },
    /// Re-render results.md from results.json in DIR.
    Report { dir: PathBuf },
    /// Merge the results.json of runs that measured different systems into DIR's results.json
    /// and results.md (every row of every part; a note names each part's commit).
    Merge {
        dir: PathBuf,
        /// The parts' results.json files, the run whose commit heads the report first; as
        /// FILE=SYSTEM,SYSTEM to keep only those systems' rows (and freon's against them).
        #[arg(required = true)]
        parts: Vec<String>,
    },
    /// How omring's costs grow with the namespace: scale.json, scale.md, scale.png under --out.
    Scale {
        /// Ascending key counts; each is reached by preloading from the previous one.
        #[arg(long, default_value = "0,100000,1000000,10000000")]
        keys: String,
        /// Comma list of one-bucket and <N>-buckets.
        #[arg(long, default_value = "one-bucket,1000-buckets")]
        shapes: String,
        /// Seconds of every create and lookup step.
        #[arg(long, default_value_t = 60.0)]
        secs: f64,
        /// Concurrent clients of the create and lookup steps.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Concurrent tasks creating the preloaded keys.
        #[arg(long, default_value_t = 64)]
        preload_tasks: usize,
        /// Runs of every timed measurement at each size (the report gives median and range).
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// List pages timed per repeat.
        #[arg(long, default_value_t = 30)]
        list_samples: usize,
        #[arg(long, default_value = "bench/results/scale")]
        out: PathBuf,
        /// Scratch directory for the rings' data (default: a fresh temp dir, removed after).
        #[arg(long)]
        work: Option<PathBuf>,
        /// The om-node binary (default as for `run`).
        #[arg(long)]
        om_node: Option<PathBuf>,
        /// A python3 with matplotlib for scale.png (default: ~/.cache/omring/bench-venv's).
        #[arg(long)]
        python: Option<PathBuf>,
        /// Longest wait in seconds for one restart, catch-up or prepare.
        #[arg(long, default_value_t = 1800)]
        deadline_secs: u64,
        /// Exit non-zero unless every size and measurement completed (the CI smoke run).
        #[arg(long)]
        check: bool,
        /// The command line recorded in the report as "reproduce".
        #[arg(long)]
        reproduce: Option<String>,
    },
    /// Re-render scale.md from scale.json in DIR.
    ScaleReport { dir: PathBuf },
}

/// The om-node the benchmarks measure: the `perf` profile's (fully optimized; the dev build's
/// om-node is at opt-level 1, see Cargo.toml).
fn default_om_node() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("perf/om-node")
}

/// `work`, or a fresh temp dir that is removed afterwards (second value).
fn work_dir(work: Option<PathBuf>) -> (PathBuf, Option<PathBuf>) {
    if let Some(w) = work {
        return (w, None);
    }
    let d = std::env::temp_dir().join(format!("omring-bench-{}", std::process::id()));
    match std::fs::create_dir_all(&d).and_then(|_| d.canonicalize()) {
        Ok(d) => (d.clone(), Some(d)),
        Err(e) => {
            eprintln!("cannot create a work directory: {e}");
            std::process::exit(1);
        }
    }
}

/// Re-renders `md` in `dir` from `json` there: 0, or 1 with the error printed.
fn rerender(dir: &Path, json: &str, md: &str, render: impl FnOnce(&Path) -> Result<String, ResultsError>) -> i32 {
    let written = render(&dir.join(json))
        .map_err(|e| e.to_string())
        .and_then(|text| std::fs::write(dir.join(md), text).map_err(|e| format!("writing {md}: {e}")));
    match written {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// results.md from results.json in `dir`.
fn render_results(dir: &Path) -> i32 {
    rerender(dir, "results.json", "results.md", |json| Results::load(json).map(|r| omring_bench::report::render(&r)))
}

/// Runs a campaign on a fresh runtime, then removes its temporary work directory, if any.
fn run_campaign<E: std::fmt::Display>(
    cleanup: Option<PathBuf>,
    campaign: impl std::future::Future<Output = Result<(), E>>,
) -> Result<(), String> {
    let outcome = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt.block_on(campaign).map_err(|e| e.to_string()),
        Err(e) => Err(format!("tokio runtime: {e}")),
    };
    if let Some(d) = cleanup {
        let _ = std::fs::remove_dir_all(d);
    }
    outcome
}

/// The exit code of a finished campaign: with `--check`, 1 when any problem was found (each
/// printed).
fn check_exit(check: bool, problems: impl FnOnce() -> Vec<String>) -> i32 {
    let problems = if check { problems() } else { Vec::new() };
    for p in &problems {
        eprintln!("check failed: {p}");
    }
    i32::from(!problems.is_empty())
}

/// The command line a report names as "reproduce": the given one, else this process's.
fn reproduce_line(reproduce: Option<String>) -> String {
    reproduce.unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" "))
}

fn main() {
    let code = match Cli::parse().cmd {
        Cmd::Report { dir } => render_results(&dir),
        Cmd::Merge { dir, parts } => {
            let loaded: Result<Vec<_>, ResultsError> = parts
                .iter()
                .map(|p| {
                    let (file, only) = match p.split_once('=') {
                        Some((f, systems)) => (f, Some(systems.split(',').map(str::to_string).collect())),
                        None => (p.as_str(), None),
                    };
                    Results::load(Path::new(file)).map(|r| (file.to_string(), r, only))
                })
                .collect();
            let saved = loaded.and_then(|parts| Results::merge(parts).save(&dir.join("results.json")));
            match saved {
                Ok(()) => render_results(&dir),
                Err(e) => {
                    eprintln!("{e}");
                    1
                }
            }
        }
        Cmd::Run {
            systems,
            clients,
            workloads,
            secs,
            trials,
            repeats,
            out,
            work,
            om_node,
            etcd_bin,
            ozone_lib,
            ozone_driver,
            fsync_samples,
            check,
            omring_set,
            reproduce,
        } => {
            let (work, cleanup) = work_dir(work);
            let settings = Settings {
                systems: systems.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
                clients: clients.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
                workloads: workloads.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
                step: Duration::from_secs_f64(secs),
                trials,
                repeats,
                out,
                work,
                om_node: om_node.unwrap_or_else(default_om_node),
                etcd_bin,
                ozone_lib,
                ozone_driver,
                fsync_samples,
                omring_set: omring_set
                    .iter()
                    .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
                    .collect(),
                command: reproduce_line(reproduce),
            };
            let mut suite = Suite::new(settings);
            match run_campaign(cleanup, suite.run()) {
                Err(e) => {
                    eprintln!("benchmark failed: {e}");
                    1
                }
                Ok(()) => {
                    println!("{}", omring_bench::report::render(&suite.results));
                    check_exit(check, || suite.completeness_problems())
                }
            }
        }
        Cmd::Scale {
            keys,
            shapes,
            secs,
            clients,
            preload_tasks,
            repeats,
            list_samples,
            out,
            work,
            om_node,
            python,
            deadline_secs,
            check,
            reproduce,
        } => {
            let parsed = parse_keys(&keys).and_then(|k| {
                let s: Result<Vec<Shape>, _> =
                    shapes.split(',').filter(|s| !s.trim().is_empty()).map(Shape::parse).collect();
                s.map(|s| (k, s))
            });
            let (keys, shapes) = match parsed {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(2);
                }
            };
            let (work, cleanup) = work_dir(work);
            let mut scale = Scale::new(ScaleSettings {
                keys,
                shapes,
                secs: Duration::from_secs_f64(secs),
                clients,
                preload_tasks,
                repeats,
                list_samples,
                out,
                work,
                om_node: om_node.unwrap_or_else(default_om_node),
                python,
                command: reproduce_line(reproduce),
                deadline: Duration::from_secs(deadline_secs),
            });
            match run_campaign(cleanup, scale.run()) {
                Err(e) => {
                    eprintln!("scale benchmark failed: {e}");
                    1
                }
                Ok(()) => check_exit(check, || scale.completeness_problems()),
            }
        }
        Cmd::ScaleReport { dir } => rerender(&dir, "scale.json", "scale.md", |json| {
            ScaleResults::load(json).map(|r| omring_bench::scale_results::render(&r))
        }),
    };
    std::process::exit(code);
}
