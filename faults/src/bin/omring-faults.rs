//! `omring-faults`: runs the fault suite (`make faults` calls it).
//!
//!   omring-faults run [--seed S] [--secs 60] [--nodes 3|5] [--faults all|k1,k2] [--keep]
//!   omring-faults campaign --runs 100 [--secs 60] [--first-seed S] [--out FILE]
//!   omring-faults scenario NAME [--seed S]
//!   omring-faults list
//!   omring-faults cleanup
//!
//! Exit status: 0 when every run passed, 1 when one failed or was invalid, 2 when the suite
//! could not run.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use omring_faults::nemesis::FaultKind;
use omring_faults::run::{self, Outcome, RunConfig, RunReport};
use omring_faults::{campaign, net, say, scenario};

#[derive(Parser)]
#[command(name = "omring-faults", about = "Fault injection and linearizability checks for omring")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// Seconds of traffic per run, faults included.
    #[arg(long, default_value_t = 60)]
    secs: u64,
    /// Ring size (default: drawn from the seed, 5 in one run of four).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(["3", "5"]))]
    nodes: Option<String>,
    /// Fault kinds: `all` or a comma-separated list (see `omring-faults list`).
    #[arg(long, default_value = "all", value_parser = parse_kinds)]
    faults: KindList,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Deliberate bugs for every node (`OMRING_BREAK`; needs the om-node-broken build).
    #[arg(long)]
    broken: Option<String>,
    /// The om-node binary (default: next to this one; om-node-broken with --broken).
    #[arg(long)]
    node_bin: Option<PathBuf>,
    /// Keep the files of passing runs too.
    #[arg(long)]
    keep: bool,
}

/// A comma-separated list of fault kinds, as one argument.
#[derive(Clone)]
struct KindList(Vec<FaultKind>);

fn parse_kinds(s: &str) -> Result<KindList, String> {
    FaultKind::parse_list(s).map(KindList)
}

#[derive(Subcommand)]
enum Cmd {
    /// One run; the seed is random unless given.
    Run {
        #[arg(long)]
        seed: Option<u64>,
        #[command(flatten)]
        common: Common,
    },
    /// Runs seeds first-seed, first-seed+1, ... and writes the summary table.
    Campaign {
        #[arg(long, default_value_t = 100)]
        runs: u64,
        #[arg(long)]
        first_seed: Option<u64>,
        /// The Markdown summary (default: faults/results/campaign.md).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// A named regression scenario.
    Scenario {
        name: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        broken: Option<String>,
        #[arg(long)]
        keep: bool,
    },
    /// The fault kinds and scenarios.
    List,
    /// Removes what runs killed with SIGKILL left behind (namespaces, bridges, mounts).
    Cleanup,
}

fn config(seed: u64, c: &Common) -> RunConfig {
    let mut cfg = RunConfig::new(seed, c.secs, c.faults.0.clone());
    cfg.nodes = c.nodes.as_deref().and_then(|n| n.parse().ok());
    cfg.traffic.clients = c.clients;
    cfg.keep = c.keep;
    apply_broken(&mut cfg, c.broken.clone(), c.node_bin.clone());
    cfg
}

fn apply_broken(cfg: &mut RunConfig, broken: Option<String>, node_bin: Option<PathBuf>) {
    if let Some(b) = broken {
        cfg.bin = cfg.bin.with_file_name("om-node-broken");
        cfg.breakages = Some(b);
    }
    if let Some(bin) = node_bin {
        cfg.bin = bin;
    }
}

fn random_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
        % 1_000_000_000
}

async fn run_all(configs: Vec<RunConfig>) -> Result<Vec<RunReport>, omring_faults::FaultError> {
    let mut reports = Vec::new();
    for cfg in configs {
        reports.push(run::run(&cfg).await?);
    }
    Ok(reports)
}

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = runtime.block_on(async move {
        // Ctrl-C and SIGTERM: remove what the runs made, then exit.
        tokio::spawn(async {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
                return;
            };
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
            say!("interrupted: removing namespaces, bridges, rules, mounts and processes");
            net::sweep_held_slots();
            std::process::exit(130);
        });
        match cli.command {
            Cmd::List => {
                for k in FaultKind::all() {
                    println!("fault    {}", k.name());
                }
                for s in scenario::all() {
                    println!("scenario {}: {}", s.name, s.about);
                }
                0
            }
            Cmd::Cleanup => {
                let mut n = 0;
                for slot in std::iter::from_fn(|| net::Slot::acquire().ok()).take(200) {
                    n += 1;
                    std::mem::forget(slot);
                }
                say!("swept {n} free slots");
                0
            }
            Cmd::Run { seed, common } => {
                finish(run_all(vec![config(seed.unwrap_or_else(random_seed), &common)]).await, None)
            }
            Cmd::Campaign { runs, first_seed, out, common } => {
                let first = first_seed.unwrap_or_else(random_seed);
                let out = out.unwrap_or_else(|| run::repo_root().join("faults/results/campaign.md"));
                let mut reports = Vec::new();
                for i in 0..runs {
                    match run::run(&config(first + i, &common)).await {
                        Ok(r) => reports.push(r),
                        Err(e) => return finish(Err(e), None),
                    }
                    // The table so far, so an interrupted campaign still leaves one.
                    let _ = write_table(&reports, &out);
                }
                finish(Ok(reports), Some(out))
            }
            Cmd::Scenario { name, seed, broken, keep } => {
                let Some(s) = scenario::find(&name) else {
                    let names: Vec<&str> = scenario::all().iter().map(|s| s.name).collect();
                    eprintln!("no scenario named {name:?}; the scenarios are: {}", names.join(", "));
                    return 2;
                };
                let mut cfg = s.config(seed);
                cfg.keep = keep;
                apply_broken(&mut cfg, broken, None);
                finish(run_all(vec![cfg]).await, None)
            }
        }
    });
    std::process::exit(code);
}

fn finish(result: Result<Vec<RunReport>, omring_faults::FaultError>, table: Option<PathBuf>) -> i32 {
    let reports = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    println!("{}", campaign::table(&reports, &title()));
    if let Some(path) = table {
        if let Err(e) = write_table(&reports, &path) {
            eprintln!("cannot write {}: {e}", path.display());
            return 2;
        }
        say!("summary written to {}", path.display());
    }
    if reports.iter().all(|r| r.outcome == Outcome::Pass) {
        0
    } else {
        1
    }
}

fn write_table(reports: &[RunReport], path: &std::path::Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, campaign::table(reports, &title()))
}

/// The table's title: the commit under test when `make faults` passes it (OMRING_COMMIT).
fn title() -> String {
    match std::env::var("OMRING_COMMIT") {
        Ok(c) if !c.is_empty() => format!("Fault campaign on {c}"),
        _ => "Fault campaign".into(),
    }
}
