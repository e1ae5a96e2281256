//! What a run measured, kept as `results.json` so the report and the chart can be redrawn
//! without re-running.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Workload names (stable: the report and chart key on them).
pub const KEY: &str = "key-create-commit";
pub const BUCKET: &str = "bucket-create";
pub const PUT256: &str = "write-256B";
pub const READ: &str = "linearizable-read";
/// freon `om-echo --ratis` on both rings: a replicated entry that changes nothing (the
/// ceiling of a write, Ozone's own tool for it).
pub const ECHO: &str = "om-echo";

/// System names.
pub const OMRING: &str = "omring";
pub const ETCD: &str = "etcd";
pub const OZONE: &str = "ozone";
/// Ozone measured by its own tool (freon).
pub const OZONE_FREON: &str = "ozone-freon";
/// freon (Ozone's own load generator, the same jars and arguments) against omring.
pub const OMRING_FREON: &str = "omring-freon";

/// One system, one workload, one client count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub system: String,
    pub workload: String,
    pub clients: usize,
    pub ops: u64,
    pub errors: u64,
    pub secs: f64,
    pub ops_per_sec: f64,
    /// None when the tool does not report latencies (freon when its timer line is missing).
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Server CPU seconds (all voters) per 1,000 successful operations.
    pub cpu_s_per_1k: Option<f64>,
    /// CPU seconds of the load generator per 1,000 operations (it shares the machine with the
    /// servers): omring-bench's own process, etcd's `benchmark`, Ozone's OmDriver JVM.
    #[serde(default)]
    pub client_cpu_s_per_1k: Option<f64>,
    /// RSS of each voter after the step, MiB.
    pub rss_mib: Vec<f64>,
    /// /proc/loadavg when the step started.
    pub load_before: String,
    /// /proc/loadavg when it ended.
    #[serde(default)]
    pub load_after: String,
    /// Share of the machine's CPU time stolen by the hypervisor during the step, % (from
    /// /proc/stat).
    #[serde(default)]
    pub steal_pct: Option<f64>,
    /// Which repeat of this system, workload and client count (0-based).
    #[serde(default)]
    pub repeat: usize,
    /// Throughput of each whole 10 s window of the step, ops/s: whether it was flat (omring's
    /// client and OmDriver count them; etcd's `benchmark` and freon report totals only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub window_ops_per_sec: Vec<f64>,
    #[serde(default)]
    pub note: Option<String>,
}

/// Repeated timings of one availability event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Availability {
    pub system: String,
    /// `kill-leader` (kill -9, then time to the first successful write) or `transfer`
    /// (requested leader transfer, time until the transfer call returned and until the first
    /// write on the new leader succeeded).
    pub event: String,
    /// Milliseconds to the first successful write after the event, one per trial.
    pub to_first_write_ms: Vec<f64>,
    /// For transfers: how long the transfer call itself took, one per trial.
    #[serde(default)]
    pub call_ms: Vec<f64>,
    /// For kills (where measured): when the survivors first agreed on a ready new leader, one
    /// per trial; the rest of `to_first_write_ms` is the client finding it.
    #[serde(default)]
    pub leader_ms: Vec<f64>,
    #[serde(default)]
    pub note: Option<String>,
}

impl Availability {
    pub fn new(system: &str, event: &str) -> Self {
        Availability {
            system: system.into(),
            event: event.into(),
            to_first_write_ms: Vec::new(),
            call_ms: Vec::new(),
            leader_ms: Vec::new(),
            note: None,
        }
    }
}

/// fsync latency of the disk under the results directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FsyncProbe {
    pub path: String,
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    /// fsyncs per second with three writers syncing their own files at once (three voters on
    /// one disk).
    pub concurrent3_fsyncs_per_sec: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Meta {
    pub started: String,
    pub command: String,
    pub cpus: usize,
    pub cpu_model: String,
    pub load_at_start: String,
    pub load_at_end: String,
    pub versions: Vec<(String, String)>,
    pub settings: Vec<(String, String)>,
    /// `git rev-parse HEAD` of the checkout the run was made from.
    #[serde(default)]
    pub git_commit: String,
    /// Whether that checkout had uncommitted changes (`git status --porcelain`).
    #[serde(default)]
    pub git_dirty: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    pub meta: Meta,
    pub rows: Vec<Row>,
    pub availability: Vec<Availability>,
    pub fsync: Option<FsyncProbe>,
    /// What did not work, or was measured differently, and why.
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("writing {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("parsing {path}: {source}")]
    Parse { path: String, source: serde_json::Error },
    #[error("encoding {path} as JSON: {source}")]
    Encode { path: String, source: serde_json::Error },
}

/// Writes `value` as pretty JSON to `path` through a temporary file, so a reader never sees half
/// a file (the results are rewritten after every step).
pub(crate) fn save_json<T: Serialize>(value: &T, path: &Path) -> Result<(), ResultsError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|source| ResultsError::Encode { path: path.display().to_string(), source })?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|source| ResultsError::Write { path: path.display().to_string(), source })
}

/// Reads what [`save_json`] wrote.
pub(crate) fn load_json<T: DeserializeOwned>(path: &Path) -> Result<T, ResultsError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ResultsError::Read { path: path.display().to_string(), source })?;
    serde_json::from_str(&text).map_err(|source| ResultsError::Parse { path: path.display().to_string(), source })
}

impl Results {
    /// One report from runs that measured different systems (a phase re-run alone, as
    /// `make bench-compare` runs Ozone's phase after the others anyway): every row, event and
    /// note of every part, the first part's fsync probe, and a note per part naming its file,
    /// commit, start and systems. The first part's commit heads the report.
    /// A part given with systems keeps only those (and freon's rows against them).
    pub fn merge(parts: Vec<(String, Results, Option<Vec<String>>)>) -> Results {
        let mut out = Results::default();
        for (i, (name, mut part, only)) in parts.into_iter().enumerate() {
            if let Some(keep) = only {
                let kept = |system: &str| keep.iter().any(|k| system == k || system == format!("{k}-freon"));
                let dropped: Vec<String> =
                    part.rows.iter().filter(|r| !kept(&r.system)).map(|r| r.system.clone()).collect();
                part.rows.retain(|r| kept(&r.system));
                part.availability.retain(|a| kept(&a.system));
                // Settings and versions of a system left out (their names carry its name).
                let left_out = |(name, _): &(String, String)| {
                    let name = name.to_lowercase();
                    dropped.iter().any(|d| !kept(d) && name.contains(d.trim_end_matches("-freon")))
                };
                part.meta.settings.retain(|kv| !left_out(kv));
                part.meta.versions.retain(|kv| !left_out(kv));
                if !dropped.is_empty() {
                    let mut dropped = dropped;
                    dropped.sort();
                    dropped.dedup();
                    out.notes.push(format!("{name}: its rows of {} are left out of this report", dropped.join(", ")));
                }
            }
            let mut systems: Vec<&str> = part.rows.iter().map(|r| r.system.as_str()).collect();
            systems.sort_unstable();
            systems.dedup();
            out.notes.push(format!(
                "Merged part {}: {name}, commit {}{}, started {}, rows of {}; its command: {}",
                i + 1,
                part.meta.git_commit,
                if part.meta.git_dirty { " (dirty)" } else { "" },
                part.meta.started,
                systems.join(", "),
                part.meta.command
            ));
            if i == 0 {
                out.meta = part.meta.clone();
                out.fsync = part.fsync.clone();
            } else {
                out.meta.git_dirty |= part.meta.git_dirty;
                out.meta.load_at_end = part.meta.load_at_end.clone();
                for kv in part.meta.versions.iter().chain(&part.meta.settings) {
                    let list =
                        if part.meta.versions.contains(kv) { &mut out.meta.versions } else { &mut out.meta.settings };
                    if !list.contains(kv) {
                        list.push(kv.clone());
                    }
                }
            }
            out.rows.extend(part.rows);
            out.availability.extend(part.availability);
            out.notes.extend(part.notes);
        }
        out
    }

    pub fn save(&self, path: &Path) -> Result<(), ResultsError> {
        save_json(self, path)
    }

    pub fn load(path: &Path) -> Result<Self, ResultsError> {
        load_json(path)
    }

    /// Every repeat of one step, in repeat order.
    pub fn repeats(&self, system: &str, workload: &str, clients: usize) -> Vec<&Row> {
        let mut rows: Vec<&Row> =
            self.rows.iter().filter(|r| r.system == system && r.workload == workload && r.clients == clients).collect();
        rows.sort_by_key(|r| r.repeat);
        rows
    }

    /// One step summarised over its repeats: each number is the median of the repeats' (RSS:
    /// the largest per voter), errors are summed. `None` when the step was not run.
    pub fn row(&self, system: &str, workload: &str, clients: usize) -> Option<Row> {
        let reps = self.repeats(system, workload, clients);
        let first = reps.first()?;
        let med = |f: &dyn Fn(&Row) -> f64| median(&reps.iter().map(|r| f(r)).collect::<Vec<_>>());
        let med_opt = |f: &dyn Fn(&Row) -> Option<f64>| {
            let v: Vec<f64> = reps.iter().filter_map(|r| f(r)).collect();
            (!v.is_empty()).then(|| median(&v))
        };
        let voters = reps.iter().map(|r| r.rss_mib.len()).max().unwrap_or(0);
        let rss_mib =
            (0..voters).map(|i| reps.iter().filter_map(|r| r.rss_mib.get(i).copied()).fold(0.0, f64::max)).collect();
        Some(Row {
            ops: med(&|r| r.ops as f64) as u64,
            errors: reps.iter().map(|r| r.errors).sum(),
            secs: med(&|r| r.secs),
            ops_per_sec: med(&|r| r.ops_per_sec),
            p50_ms: med_opt(&|r| r.p50_ms),
            p99_ms: med_opt(&|r| r.p99_ms),
            cpu_s_per_1k: med_opt(&|r| r.cpu_s_per_1k),
            client_cpu_s_per_1k: med_opt(&|r| r.client_cpu_s_per_1k),
            rss_mib,
            steal_pct: med_opt(&|r| r.steal_pct),
            repeat: reps.len(),
            note: reps.iter().find_map(|r| r.note.clone()),
            ..(*first).clone()
        })
    }

    /// (min, max, repeats) of a step's ops/s.
    pub fn ops_range(&self, system: &str, workload: &str, clients: usize) -> Option<(f64, f64, usize)> {
        let v: Vec<f64> = self.repeats(system, workload, clients).iter().map(|r| r.ops_per_sec).collect();
        let min = v.iter().copied().reduce(f64::min)?;
        let max = v.iter().copied().reduce(f64::max)?;
        Some((min, max, v.len()))
    }

    /// The ratio ours/theirs of ops/s per repeat (repeats paired by number): (median, min, max).
    pub fn paired_ratio(&self, ours: &str, theirs: &str, workload: &str, clients: usize) -> Option<(f64, f64, f64)> {
        let (a, b) = (self.repeats(ours, workload, clients), self.repeats(theirs, workload, clients));
        let ratios: Vec<f64> = a
            .iter()
            .filter_map(|x| b.iter().find(|y| y.repeat == x.repeat).map(|y| (x.ops_per_sec, y.ops_per_sec)))
            .filter(|(_, t)| *t > 0.0)
            .map(|(o, t)| o / t)
            .collect();
        let min = ratios.iter().copied().reduce(f64::min)?;
        let max = ratios.iter().copied().reduce(f64::max)?;
        Some((median(&ratios), min, max))
    }

    /// How flat a step's throughput was, over its repeats that counted windows: the median
    /// window series, and (median, min, max) over the repeats of each one's [`Flatness`].
    pub fn steadiness(&self, system: &str, workload: &str, clients: usize) -> Option<Steadiness> {
        let reps: Vec<&Row> =
            self.repeats(system, workload, clients).into_iter().filter(|r| r.window_ops_per_sec.len() >= 2).collect();
        let each: Vec<Flatness> = reps.iter().filter_map(|r| Flatness::of(&r.window_ops_per_sec)).collect();
        if each.is_empty() {
            return None;
        }
        let n = reps.iter().map(|r| r.window_ops_per_sec.len()).min().unwrap_or(0);
        let windows =
            (0..n).map(|i| median(&reps.iter().map(|r| r.window_ops_per_sec[i]).collect::<Vec<_>>())).collect();
        let spread = |f: &dyn Fn(&Flatness) -> f64| {
            let v: Vec<f64> = each.iter().map(f).collect();
            (
                median(&v),
                v.iter().copied().fold(f64::INFINITY, f64::min),
                v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            )
        };
        Some(Steadiness {
            windows,
            first_pct: spread(&|x| x.first_pct),
            widest_pct: spread(&|x| x.widest_pct),
            repeats: each.len(),
        })
    }

    pub fn availability(&self, system: &str, event: &str) -> Option<&Availability> {
        self.availability.iter().find(|a| a.system == system && a.event == event)
    }
}

/// How far one step's window throughputs stray from that step's median window, in %.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flatness {
    /// The first window against the median: negative while a system is still warming up.
    pub first_pct: f64,
    /// The window farthest from the median, either way (its absolute value).
    pub widest_pct: f64,
}

impl Flatness {
    /// `None` without two windows; a step whose median window is 0 (stalled for most of it)
    /// counts as -100% and 100%, so the worst repeat stays in the figures.
    pub fn of(windows: &[f64]) -> Option<Flatness> {
        let m = median(windows);
        if windows.len() < 2 {
            return None;
        }
        if m <= 0.0 {
            return Some(Flatness { first_pct: -100.0, widest_pct: 100.0 });
        }
        let dev = |x: f64| (x / m - 1.0) * 100.0;
        Some(Flatness {
            first_pct: dev(windows[0]),
            widest_pct: windows.iter().map(|&x| dev(x).abs()).fold(0.0, f64::max),
        })
    }
}

/// [`Flatness`] of a step over its repeats; the pairs are (median, min, max).
#[derive(Debug, Clone, PartialEq)]
pub struct Steadiness {
    /// The median over the repeats of each window's ops/s.
    pub windows: Vec<f64>,
    pub first_pct: (f64, f64, f64),
    pub widest_pct: (f64, f64, f64),
    pub repeats: usize,
}

/// Median of samples (0 when empty).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let mid = s.len() / 2;
    if s.len().is_multiple_of(2) {
        (s[mid - 1] + s[mid]) / 2.0
    } else {
        s[mid]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(system: &str, repeat: usize, ops_per_sec: f64, p99: f64) -> Row {
        Row {
            system: system.into(),
            workload: KEY.into(),
            clients: 4,
            ops: (ops_per_sec * 10.0) as u64,
            errors: 1,
            secs: 10.0,
            ops_per_sec,
            p50_ms: Some(1.0),
            p99_ms: Some(p99),
            cpu_s_per_1k: None,
            client_cpu_s_per_1k: None,
            rss_mib: vec![100.0 + repeat as f64, 50.0],
            load_before: String::new(),
            load_after: String::new(),
            steal_pct: None,
            repeat,
            note: None,
            window_ops_per_sec: Vec::new(),
        }
    }

    #[test]
    fn flatness_shows_a_warm_up_and_a_dip() {
        let flat = Flatness::of(&[100.0, 101.0, 99.0, 100.0]).unwrap();
        assert!(flat.first_pct.abs() < 1e-9 && flat.widest_pct <= 1.0 + 1e-9, "{flat:?}");
        // Still warming up: the first window is half the median.
        let warming = Flatness::of(&[50.0, 100.0, 100.0, 100.0, 100.0]).unwrap();
        assert_eq!((warming.first_pct, warming.widest_pct), (-50.0, 50.0));
        // A dip in the middle counts too.
        assert_eq!(Flatness::of(&[100.0, 100.0, 40.0, 100.0, 100.0]).unwrap().widest_pct, 60.0);
        assert!(Flatness::of(&[100.0]).is_none());
        assert_eq!(Flatness::of(&[0.0, 0.0, 5.0]), Some(Flatness { first_pct: -100.0, widest_pct: 100.0 }));
    }

    #[test]
    fn steadiness_summarises_every_repeat_that_counted_windows() {
        let mut r = Results::default();
        for (i, w) in
            [vec![50.0, 100.0, 100.0], vec![100.0, 100.0, 100.0], vec![90.0, 100.0, 110.0]].into_iter().enumerate()
        {
            let mut row = rep(OMRING, i, 100.0, 1.0);
            row.window_ops_per_sec = w;
            r.rows.push(row);
        }
        r.rows.push(rep(OMRING, 3, 100.0, 1.0)); // no windows (a tool that reports totals only)
        let s = r.steadiness(OMRING, KEY, 4).unwrap();
        assert_eq!(s.repeats, 3);
        assert_eq!(s.windows, vec![90.0, 100.0, 100.0]);
        let round = |(m, lo, hi): (f64, f64, f64)| ((m * 1e6).round() / 1e6, lo, hi);
        assert_eq!(round(s.first_pct), (-10.0, -50.0, 0.0));
        assert_eq!(round(s.widest_pct), (10.0, 0.0, 50.0));
        assert!(r.steadiness(ETCD, KEY, 4).is_none());
    }

    #[test]
    fn a_step_is_summarised_over_every_repeat_never_one_chosen() {
        let mut r = Results::default();
        for (i, (ops, p99)) in [(100.0, 9.0), (300.0, 1.0), (200.0, 5.0), (120.0, 7.0), (250.0, 2.0)].iter().enumerate()
        {
            r.rows.push(rep(OMRING, i, *ops, *p99));
            r.rows.push(rep(ETCD, i, 100.0, 1.0));
        }
        let s = r.row(OMRING, KEY, 4).unwrap();
        assert_eq!((s.ops_per_sec, s.p99_ms, s.errors, s.repeat), (200.0, Some(5.0), 5, 5));
        assert_eq!(s.rss_mib, vec![104.0, 50.0], "the largest RSS per voter");
        assert_eq!(r.ops_range(OMRING, KEY, 4), Some((100.0, 300.0, 5)));
        assert_eq!(r.paired_ratio(OMRING, ETCD, KEY, 4), Some((2.0, 1.0, 3.0)));
        assert!(r.row(OMRING, KEY, 5).is_none());
        assert_eq!(median(&[1.0, 4.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn a_merge_keeps_the_chosen_systems_of_each_part_and_names_every_part() {
        let part = |commit: &str, systems: &[&str]| {
            let mut r = Results::default();
            r.meta.git_commit = commit.into();
            r.rows = systems.iter().map(|s| rep(s, 0, 10.0, 1.0)).collect();
            r.availability = systems.iter().map(|s| Availability::new(s, "kill-leader")).collect();
            r
        };
        let mut first = part("aaa", &[OMRING, OMRING_FREON, OZONE, OZONE_FREON]);
        first.meta.settings = vec![("Ozone OM JVM".into(), "-Xmx1g".into()), ("seconds per step".into(), "60".into())];
        first.meta.versions = vec![("omring".into(), "om-node".into()), ("Apache Ozone".into(), "2.2.0".into())];
        let second = part("bbb", &[OZONE, OZONE_FREON]);
        let keep = Some(vec![OMRING.to_string()]);
        let m = Results::merge(vec![("one".into(), first, keep), ("two".into(), second, None)]);
        let systems: Vec<&str> = m.rows.iter().map(|r| r.system.as_str()).collect();
        assert_eq!(systems, [OMRING, OMRING_FREON, OZONE, OZONE_FREON]);
        assert_eq!(m.availability.len(), 4);
        assert_eq!(m.meta.git_commit, "aaa");
        assert_eq!(m.meta.settings, [("seconds per step".to_string(), "60".to_string())]);
        assert_eq!(m.meta.versions, [("omring".to_string(), "om-node".to_string())]);
        assert!(
            m.notes.iter().any(|n| n == "one: its rows of ozone, ozone-freon are left out of this report"),
            "{:?}",
            m.notes
        );
        assert!(m.notes.iter().any(|n| n.starts_with("Merged part 2: two, commit bbb,")), "{:?}", m.notes);
    }
}
