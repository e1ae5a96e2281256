//! Many runs in a row, and the table that sums them up.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::nemesis::FaultKind;
use crate::run::{Outcome, RunReport};

/// The summary table of a campaign, as Markdown.
pub fn table(reports: &[RunReport], title: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {title}\n");
    let count = |o: Outcome| reports.iter().filter(|r| r.outcome == o).count();
    let ops: usize = reports.iter().map(|r| r.ops).sum();
    let unknown: usize = reports.iter().map(|r| r.unknown_ops).sum();
    let violations = reports.iter().filter(|r| !r.linearizability.linearizable()).count();
    let lost: usize = reports.iter().map(|r| r.durability.lost.len() + r.durability.undone.len()).sum();
    let diverged = reports.iter().filter(|r| !r.replicas.agree).count();
    let secs: u64 = reports.iter().map(|r| r.secs).sum();
    let _ = writeln!(out, "| runs | pass | fail | invalid | seconds of traffic | ops | indeterminate ops | linearizability violations | lost or undone writes | runs with diverged replicas |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {secs} | {ops} | {unknown} | {violations} | {lost} | {diverged} |\n",
        reports.len(),
        count(Outcome::Pass),
        count(Outcome::Fail),
        count(Outcome::Invalid)
    );
    let mut by_kind: BTreeMap<FaultKind, (usize, usize)> = FaultKind::all().into_iter().map(|k| (k, (0, 0))).collect();
    for f in reports.iter().flat_map(|r| &r.faults) {
        let e = by_kind.entry(f.kind).or_default();
        if f.skipped.is_some() {
            e.1 += 1;
        } else {
            e.0 += 1;
        }
    }
    let _ = writeln!(out, "| fault | injected | not as planned |");
    let _ = writeln!(out, "|---|---|---|");
    for (k, (done, skipped)) in &by_kind {
        let _ = writeln!(out, "| {} | {done} | {skipped} |", k.name());
    }
    let _ = writeln!(out, "\n| seed | nodes | outcome | faults | ops | indeterminate | ops/s before faults | first write after heal | problems |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for r in reports {
        let _ = writeln!(
            out,
            "| {} | {} | {:?} | {} | {} | {} | {:.0} | {} | {} |",
            r.seed,
            r.nodes,
            r.outcome,
            r.faults.len(),
            r.ops,
            r.unknown_ops,
            r.warmup_ops_per_sec,
            r.recovery.first_write_ms.map(|m| format!("{m} ms")).unwrap_or_else(|| "none".into()),
            r.problems.join("; ").replace('|', "\\|")
        );
    }
    out
}
