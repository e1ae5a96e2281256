//! Key create+commit throughput and latency on a 3-node ring of real processes on loopback,
//! at 1, 16 and 64 concurrent clients, with security off ("plain") and on ("secure"), the
//! double buffer's mean batch size and the leader's mean client writes per Raft entry.
//!
//! Issue 17's target: security costs at most 15% of the throughput at 64 clients.
//!
//! `make bench` (the workspace build's bench executable). Environment:
//! - `OMRING_BENCH_SECS`: seconds per client count (default 10).
//! - `OMRING_BENCH_CLIENTS`: comma-separated client counts (default `1,16,64`).
//! - `OMRING_BENCH_REPEATS`: runs per configuration (default 5).
//! - `OMRING_BENCH_SECURITY`: `both` (default), `plain` or `secure`.
//! - `OMRING_BENCH_NODE_BIN`: another om-node executable to run the ring with (to compare two
//!   builds).
//! - `OMRING_BENCH_SET`: extra settings for both configurations (`key=value,key=value`); they
//!   cannot turn security down in "secure", the check below fails the run.
//!
//! Every run starts a fresh ring in a fresh directory (an empty database, no warm caches
//! carried over) and measures the client counts in order on it. With both configurations the
//! runs go in ABBA order (plain, secure, secure, plain, ...), so a drift in the machine's load
//! falls on both alike. The report lists every run, then per configuration and client count
//! the median and min-max of keys/s and the medians of the runs' p50/p99 latencies, and the
//! secure/plain ratio of the medians.
//!
//! "secure" has the operator's security settings: `ozone.security.enabled` (TLS and a
//! principal on the client port), `hdds.grpc.tls.enabled` (mutual TLS between peers) and
//! `ozone.acl.enabled`, with certificates from a CA made for the run (rcgen). The measured
//! clients present a client certificate of `bench-user`, who owns the volume but is no
//! administrator: an administrator skips the ACL checks' row lookups, so it would not measure
//! them. An administrator's certificate (`bench-admin`) only creates the volume. Unlike the
//! operator (plain HTTP, for the kubelet's probes) the health/metrics port is HTTPS too
//! (`ozone.http.policy=HTTPS_ONLY`), so every port speaks TLS; the bench scrapes it only between
//! steps, so the choice does not touch the measured path. Before measuring, each secure ring is
//! checked to refuse plain HTTP, a client without certificate and a user without rights.
//!
//! Besides throughput it prints the CPU time per key of the three nodes together and of this
//! process (the clients). On a shared machine throughput moves with the neighbours' load; CPU per
//! key moves much less, so it is the figure to compare two builds by.

// Shared with the tests; the bench leaves some of it unused.
#[allow(dead_code)]
#[path = "../../tests/common/pki.rs"]
mod pki;
mod report;
mod secure;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use om_client::wire::*;
use om_client::FailoverClient;
use om_localring::LocalRing;

use report::{Mode, Step};
use secure::Secure;

const BIN: &str = env!("CARGO_BIN_EXE_om-node");

type Error = Box<dyn std::error::Error>;

/// The run's settings, from the environment.
struct Opts {
    secs: u64,
    clients: Vec<usize>,
    repeats: usize,
    modes: Vec<Mode>,
    bin: PathBuf,
    extra: Vec<(String, String)>,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T, Error> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().map_err(|_| format!("{name}={v:?} is not a valid value").into()),
        Err(_) => Ok(default),
    }
}

impl Opts {
    fn from_env() -> Result<Self, Error> {
        let clients: Vec<usize> = std::env::var("OMRING_BENCH_CLIENTS")
            .unwrap_or_else(|_| "1,16,64".into())
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .filter(|&c| c > 0)
            .collect();
        if clients.is_empty() {
            return Err("OMRING_BENCH_CLIENTS names no client count".into());
        }
        let modes = match std::env::var("OMRING_BENCH_SECURITY").as_deref().unwrap_or("both") {
            "both" => vec![Mode::Plain, Mode::Secure],
            "plain" => vec![Mode::Plain],
            "secure" => vec![Mode::Secure],
            other => return Err(format!("OMRING_BENCH_SECURITY={other:?}: expected both, plain or secure").into()),
        };
        let set = std::env::var("OMRING_BENCH_SET").unwrap_or_default();
        Ok(Opts {
            secs: env_or("OMRING_BENCH_SECS", 10)?,
            clients,
            repeats: env_or("OMRING_BENCH_REPEATS", 5usize)?.max(1),
            modes,
            bin: std::env::var_os("OMRING_BENCH_NODE_BIN").map_or_else(|| PathBuf::from(BIN), PathBuf::from),
            extra: set
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect(),
        })
    }

    /// The runs in order: ABBA over pairs with both modes.
    fn schedule(&self) -> Vec<Mode> {
        (0..self.repeats)
            .flat_map(|r| {
                let mut pair = self.modes.clone();
                if r % 2 == 1 {
                    pair.reverse();
                }
                pair
            })
            .collect()
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The leader's metrics page (empty when it cannot be read: the figures from it become 0).
async fn scrape(http: &reqwest::Client, url: &str) -> String {
    match http.get(url).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`.
fn cpu_secs(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) / hz
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Error> {
    let opts = Opts::from_env()?;
    let schedule = opts.schedule();
    println!(
        "omring key create+commit (open + commit = 2 Raft writes per key), 3 voters, fsync on, loopback; \
         {} s per client count, a fresh ring per run",
        opts.secs
    );
    if opts.modes.contains(&Mode::Secure) {
        println!(
            "secure: TLS on client, peer (mutual) and metrics ports, ACLs on; clients authenticate by certificate as \
             {} (owns the volume, not an administrator)",
            secure::USER
        );
    }
    let order: Vec<String> = schedule.iter().map(Mode::to_string).collect();
    println!("run order: {}", order.join(", "));
    report::print_step_header();
    let mut steps = Vec::new();
    let mut checked = None;
    for (i, &mode) in schedule.iter().enumerate() {
        let (run_steps, check) =
            measure_ring(&opts, mode, i + 1).await.map_err(|e| format!("run {} ({mode}): {e}", i + 1))?;
        checked = checked.or(check);
        steps.extend(run_steps);
    }
    if let Some(line) = checked {
        println!("{line} (every secure run)");
    }
    report::print_summary(&steps, &opts.modes, &opts.clients);
    Ok(())
}

/// One run: a fresh ring in `mode`, every client count measured on it. Also the secure
/// ring's enforcement check line.
async fn measure_ring(opts: &Opts, mode: Mode, run: usize) -> Result<(Vec<Step>, Option<String>), Error> {
    let dir = tempfile::tempdir()?;
    let sec = match mode {
        Mode::Secure => Some(Secure::create(dir.path())?),
        Mode::Plain => None,
    };
    // OMRING_BENCH_SET last, so it can override the secure settings.
    let mut settings = sec.as_ref().map(Secure::settings).unwrap_or_default();
    settings.extend(opts.extra.iter().cloned());
    let extra: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut ring = LocalRing::configure(&opts.bin, &dir.path().join("ring"), "bench", 3, &extra)?;
    let scheme = match &sec {
        Some(_) => Secure::place_https(&mut ring)?,
        None => "http",
    };
    ring.node_log = Some("warn".into());
    ring.start_all()?;
    let Some(leader) = ring.wait_leader(Duration::from_secs(30)).await else {
        let logs: Vec<String> =
            (0..ring.nodes.len()).map(|i| format!("--- node {i} log ---\n{}", ring.log(i))).collect();
        return Err(format!("no leader within 30 s\n{}", logs.join("\n")).into());
    };
    let service = ring.conf.service(Some("bench"))?;
    let leader_node = service.node(&leader).ok_or("leader not configured")?;
    let http = match &sec {
        Some(s) => s.scrape_client()?,
        None => reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
    };
    let metrics_url = format!("{scheme}://{}{PATH_METRICS}", leader_node.http_address());

    // The measured client; in secure mode an administrator makes the volume, owned by its user.
    let client = secure::client(&ring, sec.as_ref().map(|s| &s.user), 400)?;
    let mut check = None;
    match &sec {
        Some(s) => {
            let admin = secure::client(&ring, Some(&s.admin), 400)?;
            admin
                .write(WriteOp::CreateVolume {
                    volume: "bench".into(),
                    owner: Some(secure::USER.into()),
                    quota_in_bytes: None,
                    quota_in_namespace: None,
                    metadata: BTreeMap::new(),
                })
                .await?;
            client.write(WriteOp::create_bucket("bench", "keys")).await?;
            check = Some(s.check_enforced(&ring, &leader_node.rpc_address()).await?);
        }
        None => {
            client.write(WriteOp::create_volume("bench")).await?;
            client.write(WriteOp::create_bucket("bench", "keys")).await?;
        }
    }
    // One key first, so a client that cannot write fails the run instead of counting errors.
    client
        .create_key("bench", "keys", "warmup", 1, None, Default::default())
        .await
        .map_err(|e| format!("the first key: {e}"))?;

    let node_pids: Vec<String> = ring.pids().iter().map(u32::to_string).collect();
    let cpu = || (node_pids.iter().map(|p| cpu_secs(p)).sum::<f64>(), cpu_secs("self"));
    let mut steps = Vec::new();
    for &c in &opts.clients {
        let before = scrape(&http, &metrics_url).await;
        let (nodes_cpu_before, client_cpu_before) = cpu();
        let started = Instant::now();
        let (mut lat, errors) = drive(&client, c, started + Duration::from_secs(opts.secs)).await?;
        let elapsed = started.elapsed().as_secs_f64();
        let (nodes_cpu_after, client_cpu_after) = cpu();
        lat.sort();
        let after = scrape(&http, &metrics_url).await;
        let delta = |name: &str| metric(&after, name) - metric(&before, name);
        let ratio = |num: f64, den: f64| if den > 0.0 { num / den } else { 0.0 };
        let per_key = |secs: f64| ratio(secs * 1e6, lat.len() as f64);
        let step = Step {
            mode,
            run,
            clients: c,
            keys: lat.len(),
            keys_per_s: lat.len() as f64 / elapsed,
            p50_ms: percentile(&lat, 0.50).as_secs_f64() * 1e3,
            p99_ms: percentile(&lat, 0.99).as_secs_f64() * 1e3,
            batch: ratio(delta("om_double_buffer_flushed_transactions_total"), delta("om_double_buffer_flushes_total")),
            entry: ratio(delta("om_proposal_commands_sum"), delta("om_proposal_commands_count")),
            errors,
            node_us_per_key: per_key(nodes_cpu_after - nodes_cpu_before),
            client_us_per_key: per_key(client_cpu_after - client_cpu_before),
        };
        report::print_step(&step);
        steps.push(step);
    }
    for i in 0..ring.nodes.len() {
        if let Err(e) = ring.terminate(i, Duration::from_secs(20)) {
            eprintln!("run {run} ({mode}): {e}");
        }
    }
    Ok((steps, check))
}

/// `c` concurrent clients creating keys until `deadline`: the latencies of the keys created
/// and the number of failed creates.
async fn drive(client: &Arc<FailoverClient>, c: usize, deadline: Instant) -> Result<(Vec<Duration>, u64), Error> {
    let mut tasks = Vec::new();
    for w in 0..c {
        let client = Arc::clone(client);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut i = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                match client.create_key("bench", "keys", &format!("c{c}/w{w}/k{i}"), 1, None, Default::default()).await
                {
                    Ok(_) => lat.push(t.elapsed()),
                    Err(_) => errors += 1,
                }
                i += 1;
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        lat.extend(l);
        errors += e;
    }
    Ok((lat, errors))
}
