//! `omring-bench`: runs the side-by-side comparison (see the crate docs) or re-renders a report.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use omring_bench::results::Results;
use omring_bench::suite::{Settings, Suite};

#[derive(Parser)]
#[command(about = "omring vs etcd vs Apache Ozone OM, side by side")]
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
        /// linearizable-read); default all.
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
        /// The om-node binary (default: $CARGO_TARGET_DIR/debug/om-node, else the checkout's target/debug/om-node).
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
}

fn default_om_node() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("debug/om-node")
}

fn main() {
    let code = match Cli::parse().cmd {
        Cmd::Report { dir } => match Results::load(&dir.join("results.json")) {
            Ok(r) => match std::fs::write(dir.join("results.md"), omring_bench::report::render(&r)) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("writing results.md: {e}");
                    1
                }
            },
            Err(e) => {
                eprintln!("{e}");
                1
            }
        },
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
            let tmp = match work {
                Some(w) => Ok((w, None)),
                None => std::env::temp_dir()
                    .join(format!("omring-bench-{}", std::process::id()))
                    .canonicalize()
                    .or_else(|_| {
                        let d = std::env::temp_dir().join(format!("omring-bench-{}", std::process::id()));
                        std::fs::create_dir_all(&d).map(|_| d)
                    })
                    .map(|d| (d.clone(), Some(d))),
            };
            let (work, cleanup) = match tmp {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("cannot create a work directory: {e}");
                    std::process::exit(1);
                }
            };
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
                command: reproduce.unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" ")),
            };
            let mut suite = Suite::new(settings);
            let rt = tokio::runtime::Runtime::new();
            let outcome = match rt {
                Ok(rt) => rt.block_on(suite.run()).map_err(|e| e.to_string()),
                Err(e) => Err(format!("tokio runtime: {e}")),
            };
            if let Some(d) = cleanup {
                let _ = std::fs::remove_dir_all(d);
            }
            match outcome {
                Err(e) => {
                    eprintln!("benchmark failed: {e}");
                    1
                }
                Ok(()) => {
                    println!("{}", omring_bench::report::render(&suite.results));
                    let problems = if check { suite.completeness_problems() } else { Vec::new() };
                    for p in &problems {
                        eprintln!("check failed: {p}");
                    }
                    i32::from(!problems.is_empty())
                }
            }
        }
    };
    std::process::exit(code);
}
