//! Key create+commit throughput and latency on a 3-node ring of real processes on loopback,
//! at 1, 16 and 64 concurrent clients, the double buffer's mean batch size and the leader's mean
//! client writes per Raft entry.
//!
//! `make bench` (the workspace build's bench executable); `OMRING_BENCH_SECS` sets the time per step
//! (default 10), `OMRING_BENCH_CLIENTS` the comma-separated client counts, `OMRING_BENCH_NODE_BIN`
//! another om-node executable to run the ring with (to compare two builds), `OMRING_BENCH_SET`
//! extra settings (`key=value,key=value`).
//!
//! Besides throughput it prints the CPU time per key of the three nodes together and of this
//! process (the clients). On a shared machine throughput moves with the neighbours' load; CPU per
//! key moves much less, so it is the figure to compare two builds by.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use om_client::wire::*;
use om_client::FailoverClient;
use om_localring::LocalRing;

const BIN: &str = env!("CARGO_BIN_EXE_om-node");

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn scrape(http_addr: &str) -> String {
    match reqwest::get(format!("http://{http_addr}{PATH_METRICS}")).await {
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

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let secs: u64 = std::env::var("OMRING_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let clients: Vec<usize> = std::env::var("OMRING_BENCH_CLIENTS")
        .unwrap_or_else(|_| "1,16,64".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let dir = tempfile::tempdir()?;
    let bin = std::env::var("OMRING_BENCH_NODE_BIN").unwrap_or_else(|_| BIN.to_string());
    // `OMRING_BENCH_SET="key=value,key=value"`: extra ozone-site.xml settings, for tuning runs.
    let set = std::env::var("OMRING_BENCH_SET").unwrap_or_default();
    let extra: Vec<(&str, &str)> = set.split(',').filter_map(|kv| kv.split_once('=')).collect();
    let mut ring = LocalRing::configure(Path::new(&bin), dir.path(), "bench", 3, &extra)?;
    ring.node_log = Some("warn".into());
    ring.start_all()?;
    let Some(leader) = ring.wait_leader(Duration::from_secs(30)).await else {
        let logs: Vec<String> =
            (0..ring.nodes.len()).map(|i| format!("--- node {i} log ---\n{}", ring.log(i))).collect();
        return Err(format!("no leader within 30 s\n{}", logs.join("\n")).into());
    };
    let service = ring.conf.service(Some("bench"))?;
    let leader_http = service.node(&leader).ok_or("leader not configured")?.http_address();
    let client: Arc<FailoverClient> = ring.client()?;
    client.write(WriteOp::create_volume("bench")).await?;
    client.write(WriteOp::create_bucket("bench", "keys")).await?;

    println!("omring key create+commit (open + commit = 2 Raft writes per key), 3 voters, fsync on, loopback");
    println!(
        "{:>8} {:>10} {:>12} {:>10} {:>10} {:>12} {:>12} {:>8} {:>14} {:>14}",
        "clients",
        "keys",
        "keys/s",
        "p50 ms",
        "p99 ms",
        "batch mean",
        "entry mean",
        "errors",
        "node cpu us/key",
        "client us/key"
    );
    let node_pids: Vec<String> = ring.pids().iter().map(u32::to_string).collect();
    let cpu = || (node_pids.iter().map(|p| cpu_secs(p)).sum::<f64>(), cpu_secs("self"));
    for &c in &clients {
        let before = scrape(&leader_http).await;
        let (nodes_cpu_before, client_cpu_before) = cpu();
        let deadline = Instant::now() + Duration::from_secs(secs);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..c {
            let client = Arc::clone(&client);
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match client
                        .create_key("bench", "keys", &format!("c{c}/w{w}/k{i}"), 1, None, Default::default())
                        .await
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
        let elapsed = started.elapsed().as_secs_f64();
        let (nodes_cpu_after, client_cpu_after) = cpu();
        lat.sort();
        let after = scrape(&leader_http).await;
        let flushes =
            metric(&after, "om_double_buffer_flushes_total") - metric(&before, "om_double_buffer_flushes_total");
        let txs = metric(&after, "om_double_buffer_flushed_transactions_total")
            - metric(&before, "om_double_buffer_flushed_transactions_total");
        let batch = if flushes > 0.0 { txs / flushes } else { 0.0 };
        let delta = |name: &str| metric(&after, name) - metric(&before, name);
        let entries = delta("om_proposal_commands_count");
        let entry_mean = if entries > 0.0 { delta("om_proposal_commands_sum") / entries } else { 0.0 };
        let per_key = |secs: f64| if lat.is_empty() { 0.0 } else { secs * 1e6 / lat.len() as f64 };
        println!(
            "{:>8} {:>10} {:>12.0} {:>10.2} {:>10.2} {:>12.1} {:>12.1} {:>8} {:>14.0} {:>14.0}",
            c,
            lat.len(),
            lat.len() as f64 / elapsed,
            percentile(&lat, 0.50).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3,
            batch,
            entry_mean,
            errors,
            per_key(nodes_cpu_after - nodes_cpu_before),
            per_key(client_cpu_after - client_cpu_before),
        );
    }
    for i in 0..ring.nodes.len() {
        let _ = ring.terminate(i, Duration::from_secs(20));
    }
    Ok(())
}
