//! The `om-node` binary: runs a node (`om`) or a client command (`sh`, `admin`).

use clap::Parser;
use om_node::cli::{self, Cli, CliError, Command};
use om_node::{NodeSettings, RunMode};

/// mimalloc instead of glibc malloc: the write path allocates per request and per log entry.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Default log filter of a node. openraft warns on every failed heartbeat (ten times a second
/// per silent peer); the node logs membership and leadership changes itself.
const NODE_LOG_FILTER: &str =
    "info,openraft=warn,openraft::core::heartbeat=error,openraft::replication=error,openraft::engine::handler::replication_handler=error";

/// Threads for blocking work: reads (RocksDB lookups, on the leader), snapshots, flushes.
/// Tokio's default of 512 let a leader under 64-256 concurrent readers grow a thread per
/// in-flight read, each with its stack and its allocator heap: about 1 MiB of RSS per thread,
/// hundreds of MiB more than a follower. Reads are CPU work on these cores, so a few threads per
/// core serve them as fast; the rest wait in the queue.
fn blocking_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (4 * cores).max(8)
}

fn main() {
    let args = cli::normalize_args(std::env::args());
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let is_node = matches!(cli.command, Command::Om(_) | Command::Dev { .. });
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OMRING_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(if is_node { NODE_LOG_FILTER } else { "warn" })),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: `kubectl logs` and log files get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().max_blocking_threads(blocking_threads()).enable_all().build()
        {
            Ok(r) => r,
            Err(e) => {
                eprintln!("cannot start the async runtime: {e}");
                std::process::exit(1);
            }
        };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Om(_) => run_node(&cli).await,
            Command::Dev { what: cli::DevCommand::Ring { nodes, dir, ring_service_id } } => {
                cli::run_dev_ring(*nodes, dir, ring_service_id).await
            }
            _ => cli::run_client_command(&cli).await,
        }
    });
    if let Err(e) = result {
        eprintln!("{}", e.user_message());
        // A node that cannot run exits 1, as `ozone om` does; client commands exit as Ozone's.
        let node_failed = is_node && !matches!(e, CliError::Usage(_));
        exit_now(if node_failed { 1 } else { e.exit_code() });
    }
}

/// Ends the process at once with `code`. `std::process::exit` runs C++ static destructors while
/// RocksDB's background threads still run, which now and then ended a failed node by SIGSEGV
/// or SIGABRT instead of its exit code. What the node wrote is in RocksDB's WAL already, so
/// skipping the destructors is no worse than a crash, which the ring tolerates by design.
fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stderr().flush();
    // SAFETY: _exit takes no pointers and never returns; nothing after it runs.
    unsafe { libc::_exit(code) }
}

async fn run_node(cli: &Cli) -> Result<(), CliError> {
    let Command::Om(args) = &cli.command else {
        return Err(CliError::Usage("not the om command".into()));
    };
    let conf = cli::load_config(cli)?;
    let mut settings = NodeSettings::from_config(&conf, cli.service_id.as_deref())?;
    if let Some(src) = settings.reload_source.as_mut() {
        src.overrides = cli.define.clone();
    }
    if args.init {
        println!(
            "OM {} of service {}: configuration valid; its storage ({}) is created on its first start, so there is \
             nothing to initialize",
            settings.node_id,
            settings.service.service_id,
            settings.db_dir.display()
        );
        return Ok(());
    }
    let mode = if args.bootstrap { RunMode::Bootstrap { force: args.force } } else { RunMode::Start };
    Ok(om_node::run(settings, mode).await?)
}
