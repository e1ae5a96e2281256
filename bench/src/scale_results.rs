//! What `omring-bench scale` measured, kept as `scale.json` (every repeat of every timed
//! measurement), and `scale.md` rendered from it: medians with min–max, never a chosen run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::results::{median, Meta, ResultsError};

/// Measurement names (stable: the report and the chart key on them).
pub const CREATE: &str = "create";
pub const LOOKUP: &str = "lookup";
pub const LIST: &str = "list";
pub const RESTART: &str = "restart";
pub const CATCH_UP: &str = "catch-up";

/// One repeat of one timed measurement at one size.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sample {
    pub shape: String,
    pub target_keys: u64,
    pub measure: String,
    pub repeat: usize,
    /// Keys in the namespace when the measurement started and ended (creates add keys).
    pub keys_before: u64,
    pub keys_after: u64,
    pub ops: u64,
    pub errors: u64,
    /// Length of a load step; for restart and catch-up the measured time itself.
    pub secs: f64,
    pub ops_per_sec: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Every page time of a list sample, ms.
    #[serde(default)]
    pub latencies_ms: Vec<f64>,
    /// The node restarted or added.
    #[serde(default)]
    pub node: Option<String>,
    /// Further figures of the sample (keys per page, snapshot bytes, stop time, ...).
    #[serde(default)]
    pub detail: BTreeMap<String, f64>,
    pub load_before: String,
    pub load_after: String,
    pub steal_pct: Option<f64>,
    #[serde(default)]
    pub note: Option<String>,
}

/// One preload segment (keys created through the client to reach a size).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Preload {
    pub shape: String,
    pub from: u64,
    pub to: u64,
    pub secs: f64,
    pub keys_per_sec: f64,
    /// Failed attempts that were retried.
    pub retries: u64,
    pub load_before: String,
    pub load_after: String,
    pub steal_pct: Option<f64>,
}

/// Bytes under one node's data dir, and by its top-level entries.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NodeDisk {
    pub node: String,
    /// Allocated (what `du` counts; RocksDB preallocates its write-ahead logs).
    pub bytes: u64,
    /// Sum of file lengths (what `du --apparent-size` counts).
    #[serde(default)]
    pub apparent_bytes: u64,
    /// Allocated bytes by top-level entry.
    pub parts: Vec<(String, u64)>,
}

/// One size of one shape: memory and disk when the size was reached.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Point {
    pub shape: String,
    pub target_keys: u64,
    /// Keys in the namespace at this point (more than the target when an earlier create step
    /// already passed it; see the notes).
    pub keys: u64,
    pub buckets: usize,
    /// RSS per voter, MiB, after the lookup and list steps.
    pub rss_mib: Vec<(String, f64)>,
    /// The voter that led when RSS was read.
    #[serde(default)]
    pub leader: Option<String>,
    pub disk: Vec<NodeDisk>,
    /// Where each voter's memory went, from its `/metrics`, read with the RSS.
    #[serde(default)]
    pub memory: Vec<NodeMemory>,
    pub load: String,
}

/// The memory gauges of one node (`om_memory_*`), in bytes, by part.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NodeMemory {
    pub node: String,
    /// (part, bytes) in [`MEMORY_PARTS`] order; a part the node did not report is left out.
    pub parts: Vec<(String, f64)>,
    /// `om_memory_threads`.
    pub threads: Option<f64>,
    /// glibc's heap (`om_memory_c_heap_bytes`): in use (RocksDB's parts above are in it) and
    /// freed but kept.
    #[serde(default)]
    pub c_heap_in_use: Option<f64>,
    #[serde(default)]
    pub c_heap_free: Option<f64>,
}

/// The parts of [`MEMORY_PARTS`] RocksDB allocates from glibc's heap.
const ROCKSDB_PARTS: [&str; 5] =
    ["block cache", "memtables state", "memtables raft log", "SST readers state", "SST readers raft log"];

/// The parts of a node's memory its `/metrics` names: (report column, metric). Each is bounded
/// by a size key except the whole tables (they grow with volumes, buckets and prefixes).
pub const MEMORY_PARTS: [(&str, &str); 8] = [
    ("resident", "om_memory_resident_bytes"),
    ("block cache", "om_memory_block_cache_bytes"),
    ("memtables state", "om_memory_memtable_bytes{db=\"state\"}"),
    ("memtables raft log", "om_memory_memtable_bytes{db=\"raft_log\"}"),
    ("SST readers state", "om_memory_table_reader_bytes{db=\"state\"}"),
    ("SST readers raft log", "om_memory_table_reader_bytes{db=\"raft_log\"}"),
    ("raft log cache", "om_memory_raft_log_cache_bytes"),
    ("whole tables", "om_memory_whole_tables_bytes"),
];

impl NodeMemory {
    pub fn part(&self, name: &str) -> Option<f64> {
        self.parts.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// What glibc's heap holds in use besides RocksDB's block cache, memtables and readers.
    pub fn c_heap_other(&self) -> Option<f64> {
        let rocksdb: f64 = self.parts.iter().filter(|(n, _)| ROCKSDB_PARTS.contains(&n.as_str())).map(|(_, v)| v).sum();
        Some((self.c_heap_in_use? - rocksdb).max(0.0))
    }

    /// The resident set less every part the node accounts for, and less glibc's heap (in use and
    /// kept): mostly Rust's own heap (mimalloc: requests in flight, the double buffer, openraft),
    /// threads' stacks and code. Heap pages kept but not resident make it read low.
    pub fn rest(&self) -> Option<f64> {
        let resident = self.part("resident")?;
        let parts: f64 = self.parts.iter().filter(|(n, _)| n != "resident").map(|(_, v)| v).sum();
        Some(resident - parts - self.c_heap_other().unwrap_or(0.0) - self.c_heap_free.unwrap_or(0.0))
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScaleResults {
    pub meta: Meta,
    /// `git status --porcelain` of the checkout at the start (what a dirty flag means).
    pub dirty_paths: Vec<String>,
    pub points: Vec<Point>,
    pub samples: Vec<Sample>,
    pub preloads: Vec<Preload>,
    pub notes: Vec<String>,
    /// PNG files written beside scale.md, or why none were.
    pub charts: Vec<String>,
    pub charts_skipped: Option<String>,
}

impl ScaleResults {
    pub fn save(&self, path: &Path) -> Result<(), ResultsError> {
        crate::results::save_json(self, path)
    }

    pub fn load(path: &Path) -> Result<Self, ResultsError> {
        crate::results::load_json(path)
    }

    pub fn samples(&self, shape: &str, target: u64, measure: &str) -> Vec<&Sample> {
        let mut v: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| s.shape == shape && s.target_keys == target && s.measure == measure)
            .collect();
        v.sort_by_key(|s| s.repeat);
        v
    }

    /// (median, min, max, n) of `f` over the repeats of one measurement.
    pub fn stat(&self, shape: &str, target: u64, measure: &str, f: impl Fn(&Sample) -> Option<f64>) -> Option<Stat> {
        let v: Vec<f64> = self.samples(shape, target, measure).into_iter().filter_map(f).collect();
        Stat::of(&v)
    }

    pub fn shapes(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for p in &self.points {
            if !v.contains(&p.shape) {
                v.push(p.shape.clone());
            }
        }
        v
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Stat {
    pub fn of(v: &[f64]) -> Option<Stat> {
        let min = v.iter().copied().reduce(f64::min)?;
        let max = v.iter().copied().reduce(f64::max)?;
        Some(Stat { median: median(v), min, max, n: v.len() })
    }

    /// `median (min–max)` with `digits` decimals; the range only with more than one repeat.
    fn show(&self, digits: usize) -> String {
        if self.n > 1 {
            format!("{:.d$} ({:.d$}–{:.d$})", self.median, self.min, self.max, d = digits)
        } else {
            format!("{:.d$}", self.median, d = digits)
        }
    }
}

fn cell(s: Option<Stat>, digits: usize) -> String {
    s.map(|s| s.show(digits)).unwrap_or_else(|| "–".into())
}

fn mib(b: u64) -> f64 {
    b as f64 / 1048576.0
}

fn thousands(n: u64) -> String {
    let digits: Vec<char> = n.to_string().chars().rev().collect();
    let groups: Vec<String> = digits.chunks(3).map(|c| c.iter().rev().collect()).collect();
    groups.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn size_label(p: &Point) -> String {
    if p.keys == p.target_keys {
        thousands(p.keys)
    } else {
        format!("{} (target {})", thousands(p.keys), thousands(p.target_keys))
    }
}

/// First figures of every load line of a measurement (`1-minute load` before each repeat).
fn load_range(samples: &[&Sample]) -> String {
    let v: Vec<f64> = samples
        .iter()
        .flat_map(|s| [&s.load_before, &s.load_after])
        .filter_map(|l| l.split_whitespace().next().and_then(|x| x.parse().ok()))
        .collect();
    match Stat::of(&v) {
        Some(s) => format!("{:.1}–{:.1}", s.min, s.max),
        None => "–".into(),
    }
}

/// The whole report.
pub fn render(r: &ScaleResults) -> String {
    let mut s = String::new();
    let m = &r.meta;
    let _ = writeln!(s, "# omring as the namespace grows (issue 20)\n");
    let _ = writeln!(s, "Reproduce: `{}`\n", m.command);
    let _ = writeln!(
        s,
        "Commit `{}`{}. Run started {} on {} CPUs ({}). Load average at start `{}`, at end `{}`. \
         3 voters on loopback (`om-node` processes as `omring-bench run` starts them), fsync on, \
         default settings.\n",
        if m.git_commit.is_empty() { "unknown" } else { &m.git_commit },
        if m.git_dirty {
            format!(" with uncommitted changes in {}", r.dirty_paths.join(", "))
        } else {
            " (clean tree)".into()
        },
        m.started,
        m.cpus,
        m.cpu_model,
        m.load_at_start,
        m.load_at_end
    );
    for (k, v) in &m.settings {
        let _ = writeln!(s, "- {k}: {v}");
    }
    let _ = writeln!(s);
    for shape in r.shapes() {
        let points: Vec<&Point> = r.points.iter().filter(|p| p.shape == shape).collect();
        let _ = writeln!(s, "## {shape}\n");
        let _ = writeln!(
            s,
            "Each cell: median over the repeats (smallest–largest). Creates run last at each size, so \
             the namespace grows during them (`keys during create`).\n"
        );
        let _ = writeln!(
            s,
            "| keys | create ops/s | create p50 / p99 ms | keys during create | lookup ops/s | lookup p50 / p99 ms | \
             list 1,000-key page p50 / p99 ms | keys per page |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        for p in &points {
            let st = |m: &str, f: &dyn Fn(&Sample) -> Option<f64>| r.stat(&shape, p.target_keys, m, f);
            let creates = r.samples(&shape, p.target_keys, CREATE);
            let grew = match (creates.first(), creates.last()) {
                (Some(a), Some(b)) => format!("{} → {}", thousands(a.keys_before), thousands(b.keys_after)),
                _ => "–".into(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} / {} | {} | {} | {} / {} | {} / {} | {} |",
                size_label(p),
                cell(st(CREATE, &|x| (x.ops > 0).then_some(x.ops_per_sec)), 0),
                cell(st(CREATE, &|x| x.p50_ms), 1),
                cell(st(CREATE, &|x| x.p99_ms), 1),
                grew,
                cell(st(LOOKUP, &|x| (x.ops > 0).then_some(x.ops_per_sec)), 0),
                cell(st(LOOKUP, &|x| x.p50_ms), 2),
                cell(st(LOOKUP, &|x| x.p99_ms), 2),
                cell(st(LIST, &|x| x.p50_ms), 1),
                cell(st(LIST, &|x| x.p99_ms), 1),
                cell(st(LIST, &|x| x.detail.get("keys_per_page").copied()), 0),
            );
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "| keys | RSS MiB per voter | disk MiB per voter (allocated) | file bytes MiB per voter | new follower \
             catch-up s | snapshot MiB received | snapshots installed | restart-to-ready s | stop (SIGTERM) s |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
        for p in &points {
            let st = |m: &str, f: &dyn Fn(&Sample) -> Option<f64>| r.stat(&shape, p.target_keys, m, f);
            let rss: Vec<String> = p
                .rss_mib
                .iter()
                .map(
                    |(id, v)| {
                        if p.leader.as_ref() == Some(id) {
                            format!("{v:.0} (leader)")
                        } else {
                            format!("{v:.0}")
                        }
                    },
                )
                .collect();
            let disk: Vec<String> = p.disk.iter().map(|d| format!("{:.0}", mib(d.bytes))).collect();
            let apparent: Vec<String> = p.disk.iter().map(|d| format!("{:.0}", mib(d.apparent_bytes))).collect();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                size_label(p),
                rss.join(" / "),
                disk.join(" / "),
                apparent.join(" / "),
                cell(st(CATCH_UP, &|x| Some(x.secs)), 2),
                cell(st(CATCH_UP, &|x| x.detail.get("snapshot_bytes").map(|b| b / 1048576.0)), 1),
                cell(st(CATCH_UP, &|x| x.detail.get("snapshots_installed").copied()), 0),
                cell(st(RESTART, &|x| Some(x.secs)), 2),
                cell(st(RESTART, &|x| x.detail.get("stop_secs").copied()), 2),
            );
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "Where the disk goes (first voter, MiB by top-level entry of its data dir):\n");
        for p in &points {
            if let Some(d) = p.disk.first() {
                let parts: Vec<String> = d.parts.iter().map(|(n, b)| format!("{n} {:.1}", mib(*b))).collect();
                let _ = writeln!(s, "- {}: {}", size_label(p), parts.join(", "));
            }
        }
        let _ = writeln!(s);
        write_memory_table(&mut s, &points);
        let _ =
            writeln!(s, "Machine during each size (1-minute load average, before and after each repeat; CPU steal):\n");
        let _ =
            writeln!(s, "| keys | create load | lookup load | restart / catch-up load | steal % (max of any step) |");
        let _ = writeln!(s, "|---|---|---|---|---|");
        for p in &points {
            let all: Vec<&Sample> =
                r.samples.iter().filter(|x| x.shape == shape && x.target_keys == p.target_keys).collect();
            let steal = all.iter().filter_map(|x| x.steal_pct).reduce(f64::max);
            let mut rc = r.samples(&shape, p.target_keys, RESTART);
            rc.extend(r.samples(&shape, p.target_keys, CATCH_UP));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                size_label(p),
                load_range(&r.samples(&shape, p.target_keys, CREATE)),
                load_range(&r.samples(&shape, p.target_keys, LOOKUP)),
                load_range(&rc),
                steal.map(|v| format!("{v:.1}")).unwrap_or_else(|| "–".into())
            );
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "Preload (keys created through `FailoverClient::create_key` to reach each size):\n");
        let _ = writeln!(s, "| from | to | keys/s | seconds | retried | load before → after |");
        let _ = writeln!(s, "|---|---|---|---|---|---|");
        for pl in r.preloads.iter().filter(|p| p.shape == shape) {
            let _ = writeln!(
                s,
                "| {} | {} | {:.0} | {:.1} | {} | `{}` → `{}` |",
                thousands(pl.from),
                thousands(pl.to),
                pl.keys_per_sec,
                pl.secs,
                pl.retries,
                first3(&pl.load_before),
                first3(&pl.load_after)
            );
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "## Notes\n");
    for n in &r.notes {
        let _ = writeln!(s, "- {n}");
    }
    let _ = writeln!(s);
    match (&r.charts_skipped, r.charts.is_empty()) {
        (Some(why), _) => {
            let _ = writeln!(s, "Charts skipped: {why}");
        }
        (None, false) => {
            let _ = writeln!(
                s,
                "Charts: {}",
                r.charts.iter().map(|c| format!("![{c}]({c})")).collect::<Vec<_>>().join(" ")
            );
        }
        (None, true) => {}
    }
    s
}

fn first3(load: &str) -> String {
    load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// Where the voters' memory went at each size: one row per voter, MiB from its own gauges, and
/// what the resident set holds besides them.
fn write_memory_table(s: &mut String, points: &[&Point]) {
    if points.iter().all(|p| p.memory.is_empty()) {
        return;
    }
    let _ = writeln!(
        s,
        "Where each voter's memory goes (MiB, from its `om_memory_*` gauges, read with the RSS above). RocksDB's \
         parts live in glibc's heap; \"C heap, other in use\" is what else that heap hands out, \"free kept\" what it \
         keeps after frees. The rest is the RSS less all of these: mostly Rust's own heap (mimalloc), the threads' \
         stacks and code.\n"
    );
    let names: Vec<&str> = MEMORY_PARTS.iter().map(|(n, _)| *n).collect();
    let _ = writeln!(
        s,
        "| keys | voter | {} | C heap, other in use | C heap, free kept | rest | threads |",
        names.join(" | ")
    );
    let _ = writeln!(s, "|---|---|{}---|---|---|---|", "---|".repeat(names.len()));
    let mib_of = |v: Option<f64>| v.map_or("–".into(), |v| format!("{:.1}", v / 1048576.0));
    for p in points {
        for m in &p.memory {
            let cells: Vec<String> = names.iter().map(|n| mib_of(m.part(n))).collect();
            let who = if p.leader.as_ref() == Some(&m.node) { format!("{} (leader)", m.node) } else { m.node.clone() };
            let (other, free, rest) = (mib_of(m.c_heap_other()), mib_of(m.c_heap_free), mib_of(m.rest()));
            let threads = m.threads.map_or("–".into(), |t| format!("{t:.0}"));
            let _ = writeln!(
                s,
                "| {} | {who} | {} | {other} | {free} | {rest} | {threads} |",
                size_label(p),
                cells.join(" | ")
            );
        }
    }
    let _ = writeln!(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(repeat: usize, ops_per_sec: f64) -> Sample {
        Sample {
            shape: "one-bucket".into(),
            target_keys: 100,
            measure: CREATE.into(),
            repeat,
            ops: 10,
            ops_per_sec,
            p99_ms: Some(ops_per_sec / 10.0),
            keys_before: 100 + repeat as u64 * 10,
            keys_after: 110 + repeat as u64 * 10,
            ..Default::default()
        }
    }

    #[test]
    fn cells_are_medians_with_the_range_of_every_repeat() {
        let mut r = ScaleResults::default();
        r.points.push(Point { shape: "one-bucket".into(), target_keys: 100, keys: 100, ..Default::default() });
        for (i, v) in [300.0, 100.0, 200.0].into_iter().enumerate() {
            r.samples.push(sample(i, v));
        }
        let st = r.stat("one-bucket", 100, CREATE, |x| Some(x.ops_per_sec)).expect("stat");
        assert_eq!((st.median, st.min, st.max, st.n), (200.0, 100.0, 300.0, 3));
        let md = render(&r);
        assert!(md.contains("| 100 | 200 (100–300) | – / 20.0 (10.0–30.0) | 100 → 130 |"), "{md}");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(0), "0");
    }
}
