//! `omring-node-agent`: plays the kubelet for local Nodes (see `omring_e2e::agent`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use omring_e2e::agent::{self, control, AgentConfig, Backoff, BinaryResolver, NodeSpec};

#[derive(Parser, Debug)]
#[command(name = "omring-node-agent", version, about = "Runs the pods of local Kubernetes Nodes as processes")]
struct Cli {
    /// Agent directory (state, pod volumes, logs).
    #[arg(long, global = true, env = "OMRING_AGENT_DIR", default_value = ".omring/node-agent")]
    dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Register the Nodes and run their pods until SIGTERM/SIGINT.
    Run {
        /// Kubeconfig of the API server [default: $KUBECONFIG, ~/.kube/config].
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// A Node to play: NAME or NAME:ZONE (repeatable).
        #[arg(long = "node", required = true)]
        nodes: Vec<String>,
        /// Directory with binaries standing in for images (repeatable; searched in order).
        #[arg(long = "bin-dir")]
        bin_dirs: Vec<PathBuf>,
        /// IMAGE=BINARY for containers without a command (default: the image's last path segment).
        #[arg(long = "image-entrypoint", value_name = "IMAGE=BINARY")]
        image_entrypoints: Vec<String>,
        /// Use 127.N.0.0/16 for pod addresses [default: any free N].
        #[arg(long)]
        loopback_octet: Option<u8>,
        /// Label value `omring.io/node-agent` on the Nodes.
        #[arg(long, default_value = "local")]
        agent_id: String,
        /// First crash-loop back-off in milliseconds (the kubelet uses 10 s).
        #[arg(long, default_value_t = 10_000)]
        backoff_initial_ms: u64,
        /// Do not serve the default StorageClass (another provisioner does).
        #[arg(long)]
        no_provision: bool,
    },
    /// Send a signal to a container's processes (default KILL: a crash).
    Kill {
        pod: String,
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
        #[arg(short = 'c', long)]
        container: Option<String>,
        /// KILL, TERM, STOP, CONT, or a number.
        #[arg(long, default_value = "KILL")]
        signal: String,
    },
    /// Keep a container from being restarted after it exits (`--release` undoes it).
    Hold {
        pod: String,
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
        #[arg(short = 'c', long)]
        container: String,
        #[arg(long)]
        release: bool,
    },
    /// Run a command in a container's environment (like `kubectl exec`).
    Exec {
        pod: String,
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
        #[arg(short = 'c', long)]
        container: Option<String>,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Print a container's current log.
    Logs {
        pod: String,
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
        #[arg(short = 'c', long)]
        container: Option<String>,
    },
}

fn signal_number(s: &str) -> Option<i32> {
    Some(match s.trim_start_matches("SIG").to_ascii_uppercase().as_str() {
        "KILL" => libc::SIGKILL,
        "TERM" => libc::SIGTERM,
        "STOP" => libc::SIGSTOP,
        "CONT" => libc::SIGCONT,
        "INT" => libc::SIGINT,
        "HUP" => libc::SIGHUP,
        other => other.parse().ok()?,
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            kubeconfig,
            nodes,
            bin_dirs,
            image_entrypoints,
            loopback_octet,
            agent_id,
            backoff_initial_ms,
            no_provision,
        } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info,kube=warn,hyper=warn,tower=warn".into()),
                )
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .init();
            let nodes = nodes
                .iter()
                .map(|n| match n.split_once(':') {
                    Some((name, zone)) => NodeSpec::new(name, Some(zone.to_string())),
                    None => NodeSpec::new(n.as_str(), None),
                })
                .collect();
            let mut entrypoints = std::collections::BTreeMap::new();
            for m in &image_entrypoints {
                let Some((i, b)) = m.split_once('=') else {
                    eprintln!("--image-entrypoint wants IMAGE=BINARY, got {m}");
                    return ExitCode::from(2);
                };
                entrypoints.insert(i.to_string(), b.to_string());
            }
            let cfg = AgentConfig {
                kubeconfig,
                dir: cli.dir,
                bins: BinaryResolver { bin_dirs, image_entrypoints: entrypoints },
                nodes,
                loopback_octet,
                agent_id,
                backoff: Backoff {
                    initial: std::time::Duration::from_millis(backoff_initial_ms),
                    ..Backoff::default()
                },
                provision_volumes: !no_provision,
            };
            let rt = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("omring-node-agent: {e}");
                    return ExitCode::FAILURE;
                }
            };
            rt.block_on(async move {
                let mut agent = match agent::Agent::start(cfg).await {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("omring-node-agent: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("omring-node-agent: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                let failed = tokio::select! {
                    _ = tokio::signal::ctrl_c() => None,
                    _ = term.recv() => None,
                    r = agent.wait() => Some(r),
                };
                if let Some(r) = failed {
                    eprintln!("omring-node-agent stopped: {r:?}");
                    return ExitCode::FAILURE;
                }
                match agent.stop().await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("omring-node-agent: {e}");
                        ExitCode::FAILURE
                    }
                }
            })
        }
        Command::Kill { pod, namespace, container, signal } => {
            let Some(sig) = signal_number(&signal) else {
                eprintln!("unknown signal {signal}");
                return ExitCode::from(2);
            };
            match control::signal_container(&cli.dir, &namespace, &pod, container.as_deref(), sig) {
                Ok(rec) => {
                    println!("sent SIG{signal} to {namespace}/{pod} container {} (pid {})", rec.container, rec.pid);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Hold { pod, namespace, container, release } => {
            match control::set_hold(&cli.dir, &namespace, &pod, &container, !release) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Exec { pod, namespace, container, command } => {
            match control::exec_command(&cli.dir, &namespace, &pod, container.as_deref(), &command) {
                Ok(mut cmd) => match cmd.status() {
                    Ok(st) => ExitCode::from(st.code().unwrap_or(1).clamp(0, 255) as u8),
                    Err(e) => {
                        eprintln!("exec: {e}");
                        ExitCode::FAILURE
                    }
                },
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Logs { pod, namespace, container } => {
            match control::read_record(&cli.dir, &namespace, &pod, container.as_deref()) {
                Ok(rec) => match std::fs::read(&rec.log) {
                    Ok(b) => {
                        use std::io::Write;
                        let _ = std::io::stdout().write_all(&b);
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("{}: {e}", rec.log.display());
                        ExitCode::FAILURE
                    }
                },
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
