//! What one measured step yields, the per-step line, and the summary over repeats: medians and
//! ranges per configuration and client count, and the secure/plain ratio.

use std::fmt;

/// The two configurations compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    Secure,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Mode::Plain => "plain",
            Mode::Secure => "secure",
        })
    }
}

/// Security may cost at most this share of throughput at [`TARGET_CLIENTS`] (issue 17).
pub const MAX_COST: f64 = 0.15;
pub const TARGET_CLIENTS: usize = 64;

/// One client count on one ring.
#[derive(Debug, Clone)]
pub struct Step {
    pub mode: Mode,
    pub run: usize,
    pub clients: usize,
    pub keys: usize,
    pub keys_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Double buffer: transactions per flush.
    pub batch: f64,
    /// Leader: client writes per Raft entry.
    pub entry: f64,
    pub errors: u64,
    pub node_us_per_key: f64,
    pub client_us_per_key: f64,
}

pub fn print_step_header() {
    println!(
        "{:>4} {:>7} {:>8} {:>9} {:>10} {:>9} {:>9} {:>10} {:>10} {:>7} {:>15} {:>13}",
        "run",
        "mode",
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
}

pub fn print_step(s: &Step) {
    println!(
        "{:>4} {:>7} {:>8} {:>9} {:>10.0} {:>9.2} {:>9.2} {:>10.1} {:>10.1} {:>7} {:>15.0} {:>13.0}",
        s.run,
        s.mode,
        s.clients,
        s.keys,
        s.keys_per_s,
        s.p50_ms,
        s.p99_ms,
        s.batch,
        s.entry,
        s.errors,
        s.node_us_per_key,
        s.client_us_per_key
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// The steps of `mode` at `clients`, one per repeat.
fn of(steps: &[Step], mode: Mode, clients: usize) -> Vec<&Step> {
    steps.iter().filter(|s| s.mode == mode && s.clients == clients).collect()
}

fn median_of(steps: &[&Step], f: impl Fn(&Step) -> f64) -> f64 {
    median(steps.iter().map(|s| f(s)).collect())
}

/// Prints the summary over repeats and, with both modes, the ratios and the verdict on the
/// 64-client target.
pub fn print_summary(steps: &[Step], modes: &[Mode], clients: &[usize]) {
    println!();
    println!("summary over repeats (median, with min-max of keys/s; latency and CPU are medians of the runs' figures)");
    println!(
        "{:>7} {:>8} {:>5} {:>10} {:>19} {:>9} {:>9} {:>10} {:>10} {:>15} {:>13} {:>7}",
        "mode",
        "clients",
        "runs",
        "keys/s",
        "keys/s min-max",
        "p50 ms",
        "p99 ms",
        "batch mean",
        "entry mean",
        "node cpu us/key",
        "client us/key",
        "errors"
    );
    for &mode in modes {
        for &c in clients {
            let s = of(steps, mode, c);
            if s.is_empty() {
                continue;
            }
            let tput: Vec<f64> = s.iter().map(|x| x.keys_per_s).collect();
            let (lo, hi) = tput.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &t| (lo.min(t), hi.max(t)));
            println!(
                "{:>7} {:>8} {:>5} {:>10.0} {:>19} {:>9.2} {:>9.2} {:>10.1} {:>10.1} {:>15.0} {:>13.0} {:>7}",
                mode,
                c,
                s.len(),
                median(tput),
                format!("{lo:.0}-{hi:.0}"),
                median_of(&s, |x| x.p50_ms),
                median_of(&s, |x| x.p99_ms),
                median_of(&s, |x| x.batch),
                median_of(&s, |x| x.entry),
                median_of(&s, |x| x.node_us_per_key),
                median_of(&s, |x| x.client_us_per_key),
                s.iter().map(|x| x.errors).sum::<u64>(),
            );
        }
    }
    if !(modes.contains(&Mode::Plain) && modes.contains(&Mode::Secure)) {
        return;
    }
    println!();
    println!("secure vs plain (ratio of median keys/s; cost = 1 - ratio)");
    println!("{:>8} {:>12} {:>13} {:>8} {:>8}", "clients", "plain keys/s", "secure keys/s", "ratio", "cost");
    let mut verdict = None;
    for &c in clients {
        let m = |mode| median(of(steps, mode, c).iter().map(|x| x.keys_per_s).collect());
        let (plain, secure) = (m(Mode::Plain), m(Mode::Secure));
        let ratio = secure / plain;
        println!("{:>8} {:>12.0} {:>13.0} {:>8.3} {:>7.1}%", c, plain, secure, ratio, (1.0 - ratio) * 100.0);
        if c == TARGET_CLIENTS {
            verdict = Some(ratio >= 1.0 - MAX_COST);
        }
    }
    match verdict {
        Some(ok) => println!(
            "security cost at {TARGET_CLIENTS} clients: {} the {:.0}% target",
            if ok { "within" } else { "NOT within" },
            MAX_COST * 100.0
        ),
        None => println!(
            "security cost at {TARGET_CLIENTS} clients: not measured (add {TARGET_CLIENTS} to OMRING_BENCH_CLIENTS)"
        ),
    }
}
