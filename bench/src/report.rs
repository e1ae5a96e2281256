//! Renders `results.json` as the markdown report: bars, per-workload tables with ratios,
//! availability, the fsync ceiling, and what did not work.

use std::fmt::Write;

use crate::results::*;

fn f(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => "–".into(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn rss(r: Option<&Row>) -> String {
    match r {
        Some(r) if !r.rss_mib.is_empty() => {
            let max = r.rss_mib.iter().cloned().fold(0.0, f64::max);
            format!("{max:.0}")
        }
        _ => "–".into(),
    }
}

/// (workload, peer system, peer label) pairs the issue compares.
pub const COMPARISONS: &[(&str, &str, &str)] =
    &[(KEY, OZONE, "Ozone OM"), (BUCKET, OZONE, "Ozone OM"), (PUT256, ETCD, "etcd"), (READ, ETCD, "etcd")];

fn workload_title(w: &str) -> &'static str {
    match w {
        KEY => "Key create+commit (open + commit: 2 replicated writes per key)",
        BUCKET => "Bucket create (1 replicated write)",
        PUT256 => "Single replicated write of a 256-byte value",
        _ => "Linearizable read",
    }
}

pub fn clients_of(r: &Results) -> Vec<usize> {
    let mut c: Vec<usize> = r.rows.iter().map(|x| x.clients).collect();
    c.sort_unstable();
    c.dedup();
    c
}

fn avail_summary(a: Option<&Availability>) -> (String, String, String) {
    match a {
        Some(a) if !a.to_first_write_ms.is_empty() => {
            let max = a.to_first_write_ms.iter().cloned().fold(0.0, f64::max);
            let call = if a.call_ms.is_empty() { "–".into() } else { format!("{:.0}", median(&a.call_ms)) };
            (format!("{:.0}", median(&a.to_first_write_ms)), format!("{max:.0}"), call)
        }
        _ => ("–".into(), "–".into(), "–".into()),
    }
}

/// A step's ops/s: the median of its repeats, with (min–max) when there were several.
fn spread(r: &Results, sys: &str, w: &str, c: usize) -> String {
    match (r.row(sys, w, c), r.ops_range(sys, w, c)) {
        (Some(x), Some((lo, hi, n))) if n > 1 => format!("{:.0} ({lo:.0}–{hi:.0})", x.ops_per_sec),
        (Some(x), _) => format!("{:.0}", x.ops_per_sec),
        _ => "–".into(),
    }
}

/// ours/theirs: the median of the per-repeat ratios, else the ratio of the medians (systems
/// measured in different repeats).
fn median_ratio(r: &Results, ours: &str, theirs: &str, w: &str, c: usize) -> Option<f64> {
    r.paired_ratio(ours, theirs, w, c)
        .map(|(m, _, _)| m)
        .or_else(|| ratio(r.row(ours, w, c).map(|x| x.ops_per_sec), r.row(theirs, w, c).map(|x| x.ops_per_sec)))
}

/// [`median_ratio`] with the range of the per-repeat ratios when they differ.
fn ratio_cell(r: &Results, ours: &str, theirs: &str, w: &str, c: usize) -> String {
    match r.paired_ratio(ours, theirs, w, c) {
        Some((m, lo, hi)) if (hi - lo).abs() > f64::EPSILON => format!("{m:.2} ({lo:.2}–{hi:.2})"),
        _ => f(median_ratio(r, ours, theirs, w, c), 2),
    }
}

/// The cells both comparison tables share: each system's ops/s (with range), p50 and p99, then
/// the paired ratio ours/theirs.
fn pair_cells(r: &Results, ours: &str, theirs: &str, w: &str, c: usize) -> String {
    let (a, b) = (r.row(ours, w, c), r.row(theirs, w, c));
    format!(
        "{} | {} | {} | {} | {} | {} | {}",
        spread(r, ours, w, c),
        f(a.as_ref().and_then(|x| x.p50_ms), 2),
        f(a.as_ref().and_then(|x| x.p99_ms), 2),
        spread(r, theirs, w, c),
        f(b.as_ref().and_then(|x| x.p50_ms), 2),
        f(b.as_ref().and_then(|x| x.p99_ms), 2),
        ratio_cell(r, ours, theirs, w, c),
    )
}

/// The same client on both rings: Ozone 2.2.0's freon with the same arguments and client
/// settings, over Hadoop RPC, with its own percentiles.
fn freon_table(s: &mut String, r: &Results, clients: &[usize]) {
    let generators = [(KEY, "omkg"), (BUCKET, "ombg"), (ECHO, "om-echo --ratis")];
    let mut lines = Vec::new();
    for (w, generator) in generators {
        for &c in clients {
            let (ours, theirs) = (r.row(OMRING_FREON, w, c), r.row(OZONE_FREON, w, c));
            if ours.is_none() && theirs.is_none() {
                continue;
            }
            let (ours, theirs) = (ours.as_ref(), theirs.as_ref());
            lines.push(format!(
                "| {generator} | {c} | {} | {} / {} | {} / {} |",
                pair_cells(r, OMRING_FREON, OZONE_FREON, w, c),
                f(ours.and_then(|x| x.cpu_s_per_1k), 3),
                f(theirs.and_then(|x| x.cpu_s_per_1k), 3),
                rss(ours),
                rss(theirs),
            ));
        }
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(s, "## freon against both rings\n");
    let _ = writeln!(
        s,
        "Ozone 2.2.0's freon, the same arguments and ozone-site.xml client settings, against each ring \
         over Hadoop RPC: equal client work on both sides. `om-echo --ratis` writes a log entry that \
         changes nothing (Ozone: through Ratis and the double buffer; omring: through its proposal queue, \
         Raft and apply), so it is the ceiling of a replicated write on each ring. ops/s is freon's count \
         over its whole-second total time; p50/p99 come from freon's timer (a decaying sample of 1,028 \
         operations), the median over the repeats.\n"
    );
    let _ = writeln!(
        s,
        "| freon | clients | omring ops/s | p50 ms | p99 ms | Ozone OM ops/s | p50 ms | p99 ms | omring / Ozone | \
         server CPU s per 1k ops (omring / Ozone) | max RSS MiB per node (omring / Ozone) |\n|{}",
        "---|".repeat(11)
    );
    for l in lines {
        let _ = writeln!(s, "{l}");
    }
    let errs: Vec<String> = r
        .rows
        .iter()
        .filter(|x| x.system == OMRING_FREON || x.system == OZONE_FREON)
        .filter(|x| x.errors > 0 || x.note.is_some())
        .map(|x| format!("{} {} at {} clients: {}", x.system, x.workload, x.clients, x.note.as_deref().unwrap_or("")))
        .collect();
    if !errs.is_empty() {
        let _ = writeln!(s, "\nErrors/notes: {}", errs.join("; "));
    }
    let _ = writeln!(s);
}

/// Whether each step's throughput was flat: its 10 s windows against the step's own median.
fn steady_state(s: &mut String, r: &Results, clients: &[usize]) {
    let mut lines = Vec::new();
    for (w, _, _) in COMPARISONS {
        for sys in [OMRING, OZONE] {
            for &c in clients {
                if let Some(st) = r.steadiness(sys, w, c) {
                    let series: Vec<String> = st.windows.iter().map(|x| format!("{x:.0}")).collect();
                    let pct = |(m, lo, hi): (f64, f64, f64)| format!("{m:+.1} ({lo:+.1} to {hi:+.1})");
                    lines.push(format!(
                        "| {sys} | {w} | {c} | {} | {} | {:.1} ({:.1}–{:.1}) | {} |",
                        series.join(" "),
                        pct(st.first_pct),
                        st.widest_pct.0,
                        st.widest_pct.1,
                        st.widest_pct.2,
                        st.repeats
                    ));
                }
            }
        }
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Steady state: throughput in 10 s windows\n");
    let _ = writeln!(
        s,
        "Each step's successful operations counted per whole 10 s window (omring's client and \
         OmDriver; etcd's `benchmark` and freon print totals only). The series is the median \
         of each window over the repeats. A window's deviation is its ops/s against the median \
         window of its own step, in %: the first window shows a warm-up still under way (below \
         0), the widest shows stalls (compactions, GC pauses, elections). Median over the repeats \
         (smallest to largest).\n"
    );
    let _ =
        writeln!(s, "| system | workload | clients | ops/s per window | first window % | widest window % | repeats |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    for l in lines {
        let _ = writeln!(s, "{l}");
    }
    let _ = writeln!(s);
}

pub fn render(r: &Results) -> String {
    let mut s = String::new();
    let m = &r.meta;
    let _ = writeln!(s, "# omring vs etcd vs Apache Ozone OM, side by side\n");
    let _ = writeln!(s, "Reproduce: `{}`\n", m.command);
    let _ = writeln!(
        s,
        "Run started {} on {} CPUs ({}). Load average at start: `{}`; at end: `{}`. \
         Every system: 3 voters on loopback, fsync on. omring and etcd run side by side and their \
         steps alternate (one system loaded at a time) so both see the same background load; Ozone \
         runs alone afterwards (its idle JVMs cost CPU). Server CPU time and RSS are read from \
         `/proc/<pid>` of the voter processes.\n",
        m.started, m.cpus, m.cpu_model, m.load_at_start, m.load_at_end
    );
    let _ = writeln!(
        s,
        "Commit `{}`{}. Every number below is the median of the step's repeats, with the smallest and \
         largest in brackets; ratios are medians of per-repeat ratios (repeats paired by number; omring \
         and etcd alternate in ABBA order). Every repeat is in results.json.\n",
        if m.git_commit.is_empty() { "unknown" } else { &m.git_commit },
        if m.git_dirty { " **with uncommitted changes**" } else { "" }
    );
    let steal: Vec<f64> = r.rows.iter().filter_map(|x| x.steal_pct).collect();
    if let Some(worst) = steal.iter().copied().reduce(f64::max) {
        let _ = writeln!(s, "- CPU steal during steps: median {:.2}%, worst {worst:.2}%", median(&steal));
    }
    for sys in [OMRING, ETCD, OZONE] {
        let loads: Vec<f64> = r
            .rows
            .iter()
            .filter(|x| x.system == sys)
            .filter_map(|x| x.load_before.split_whitespace().next()?.parse().ok())
            .collect();
        if !loads.is_empty() {
            let lo = loads.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = loads.iter().cloned().fold(0.0, f64::max);
            let _ = writeln!(s, "- 1-minute load average before each {sys} step: {lo:.2} to {hi:.2}");
        }
    }
    for (k, v) in &m.versions {
        let _ = writeln!(s, "- {k}: {v}");
    }
    for (k, v) in &m.settings {
        let _ = writeln!(s, "- {k}: {v}");
    }
    let _ = writeln!(s);

    // Bars at 64 clients.
    let _ = writeln!(s, "## Bars (issue 7)\n");
    let _ = writeln!(s, "| bar | measured | target | met |\n|---|---|---|---|");
    let bar_c = 64;
    let key_ratio = median_ratio(r, OMRING, OZONE, KEY, bar_c);
    let put_ratio = median_ratio(r, OMRING, ETCD, PUT256, bar_c);
    let yes = |v: Option<bool>| match v {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "not measured",
    };
    let _ = writeln!(
        s,
        "| key create+commit, 64 clients, omring / Ozone OM | {}x | >= 3x | {} |",
        f(key_ratio, 2),
        yes(key_ratio.map(|x| x >= 3.0))
    );
    let _ = writeln!(
        s,
        "| 256-byte write, 64 clients, omring / etcd | {}x | >= 1.0x | {} |",
        f(put_ratio, 2),
        yes(put_ratio.map(|x| x >= 1.0))
    );
    let kill = r.availability(OMRING, "kill-leader").filter(|a| !a.to_first_write_ms.is_empty());
    let kill_max = kill.map(|a| a.to_first_write_ms.iter().cloned().fold(0.0, f64::max));
    let _ = writeln!(
        s,
        "| omring kill -9 leader -> first write (worst of {} trials) | {} ms | < 1500 ms | {} |",
        kill.map(|a| a.to_first_write_ms.len()).unwrap_or(0),
        f(kill_max, 0),
        yes(kill_max.map(|x| x < 1500.0))
    );
    let tr = r.availability(OMRING, "transfer").filter(|a| !a.to_first_write_ms.is_empty());
    let tr_max = tr.map(|a| a.to_first_write_ms.iter().cloned().fold(0.0, f64::max));
    let _ = writeln!(
        s,
        "| omring leader transfer -> first write on new leader (worst of {} trials) | {} ms | < 300 ms | {} |\n",
        tr.map(|a| a.to_first_write_ms.len()).unwrap_or(0),
        f(tr_max, 0),
        yes(tr_max.map(|x| x < 300.0))
    );

    let clients = clients_of(r);
    for (w, peer, label) in COMPARISONS {
        let _ = writeln!(s, "## {}\n", workload_title(w));
        let _ = write!(
            s,
            "| clients | omring ops/s | p50 ms | p99 ms | {label} ops/s | p50 ms | p99 ms | omring / {label} |"
        );
        let _ = writeln!(
            s,
            " server CPU s per 1k ops (omring / {label}) | load generator CPU s per 1k ops (omring / {label}) | \
             max RSS MiB per node (omring / {label}) |"
        );
        let _ = writeln!(s, "|{}", "---|".repeat(11));
        for &c in &clients {
            let (ours, theirs) = (r.row(OMRING, w, c), r.row(peer, w, c));
            let (ours, theirs) = (ours.as_ref(), theirs.as_ref());
            if ours.is_none() && theirs.is_none() {
                continue;
            }
            let _ = write!(s, "| {c} | {} |", pair_cells(r, OMRING, peer, w, c));
            let _ = writeln!(
                s,
                " {} / {} | {} / {} | {} / {} |",
                f(ours.and_then(|x| x.cpu_s_per_1k), 3),
                f(theirs.and_then(|x| x.cpu_s_per_1k), 3),
                f(ours.and_then(|x| x.client_cpu_s_per_1k), 3),
                f(theirs.and_then(|x| x.client_cpu_s_per_1k), 3),
                rss(ours),
                rss(theirs)
            );
        }
        let errs: Vec<String> = r
            .rows
            .iter()
            .filter(|x| x.workload == *w && (x.system == OMRING || x.system == *peer))
            .filter(|x| x.errors > 0 || x.note.is_some())
            .map(|x| {
                format!(
                    "{} at {} clients: {} errors{}",
                    x.system,
                    x.clients,
                    x.errors,
                    x.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
                )
            })
            .collect();
        if !errs.is_empty() {
            let _ = writeln!(s, "\nErrors/notes: {}", errs.join("; "));
        }
        let _ = writeln!(s);
    }

    freon_table(&mut s, r, &clients);

    steady_state(&mut s, r, &clients);

    let _ = writeln!(s, "## Availability\n");
    let _ = writeln!(
        s,
        "| system | kill -9 leader -> first write, median / max ms | transfer call, median ms | \
         transfer -> first write, median / max ms | trials |\n|---|---|---|---|---|"
    );
    for sys in [OMRING, ETCD, OZONE] {
        let k = r.availability(sys, "kill-leader");
        let t = r.availability(sys, "transfer");
        if k.is_none() && t.is_none() {
            continue;
        }
        let (km, kx, _) = avail_summary(k);
        let (tm, tx, tc) = avail_summary(t);
        let n =
            k.map(|a| a.to_first_write_ms.len()).unwrap_or(0).max(t.map(|a| a.to_first_write_ms.len()).unwrap_or(0));
        let _ = writeln!(s, "| {sys} | {km} / {kx} | {tc} | {tm} / {tx} | {n} |");
    }
    if let Some(k) = r.availability(OMRING, "kill-leader").filter(|a| !a.leader_ms.is_empty()) {
        let _ = writeln!(
            s,
            "\nomring kill -9: survivors agreed on a ready new leader after {} ms (median; trials: {:?}); \
             the rest of the time to the first write is the client finding it.",
            f(Some(median(&k.leader_ms)), 0),
            k.leader_ms.iter().map(|x| x.round()).collect::<Vec<_>>()
        );
    }
    let notes: Vec<String> = r
        .availability
        .iter()
        .filter_map(|a| a.note.as_ref().map(|n| format!("- {} {}: {n}", a.system, a.event)))
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(s, "\n{}", notes.join("\n"));
    }
    let _ = writeln!(s);

    if let Some(fs) = &r.fsync {
        let one = 1000.0 / fs.p50_ms.max(1e-6);
        let _ = writeln!(s, "## fsync ceiling\n");
        let _ = writeln!(
            s,
            "4 KiB append + fdatasync on `{}`: p50 {:.2} ms, p99 {:.2} ms, mean {:.2} ms ({} samples); \
             three writers at once: {:.0} fsyncs/s in total. Measured once, at the start of the run: on a \
             disk shared with other work its latency moves with their I/O, so a system can beat a ceiling \
             computed from a slow moment.\n",
            fs.path, fs.p50_ms, fs.p99_ms, fs.mean_ms, fs.samples, fs.concurrent3_fsyncs_per_sec
        );
        let _ = writeln!(
            s,
            "- One writer, one fsync per replicated write (leader and a follower sync in parallel): \
             at most ~{one:.0} writes/s, i.e. latency >= {:.2} ms per write.",
            fs.p50_ms
        );
        let _ = writeln!(
            s,
            "- Group commit: each fsync makes a whole batch durable, so the ceiling is \
             batch size x {:.0} batches/s per voter (three voters share this disk: ~{:.0} fsyncs/s \
             each); throughput is then bounded by CPU, not the disk.",
            fs.concurrent3_fsyncs_per_sec / 3.0,
            fs.concurrent3_fsyncs_per_sec / 3.0
        );
        for (sys, w) in [(OMRING, PUT256), (ETCD, PUT256), (OZONE, BUCKET)] {
            if let Some(x) = r.row(sys, w, 1) {
                let _ = writeln!(
                    s,
                    "- {sys}, 1 client, {w}: {:.0} ops/s = {:.0}% of the one-writer ceiling.",
                    x.ops_per_sec,
                    x.ops_per_sec / one * 100.0
                );
            }
        }
        let _ = writeln!(s);
    }

    if !r.notes.is_empty() {
        let _ = writeln!(s, "## Notes: what differs, what did not work\n");
        for n in &r.notes {
            let _ = writeln!(s, "- {n}");
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "Chart: `throughput.png` (ops/s against clients, one panel per workload).");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(system: &str, repeat: usize, windows: Vec<f64>) -> Row {
        Row {
            system: system.into(),
            workload: KEY.into(),
            clients: 64,
            ops: 600,
            errors: 0,
            secs: 60.0,
            ops_per_sec: 10.0,
            p50_ms: None,
            p99_ms: None,
            cpu_s_per_1k: None,
            client_cpu_s_per_1k: None,
            rss_mib: Vec::new(),
            load_before: String::new(),
            load_after: String::new(),
            steal_pct: None,
            repeat,
            note: None,
            window_ops_per_sec: windows,
        }
    }

    #[test]
    fn the_steady_state_table_shows_every_repeat_with_windows() {
        let mut r = Results::default();
        r.rows.push(row(OMRING, 0, vec![100.0, 100.0, 100.0]));
        r.rows.push(row(OMRING, 1, vec![100.0, 110.0, 100.0]));
        r.rows.push(row(OZONE, 0, vec![20.0, 40.0, 40.0]));
        r.rows.push(row(OZONE, 1, vec![30.0, 40.0, 40.0]));
        let text = render(&r);
        assert!(text.contains("## Steady state"), "{text}");
        assert!(
            text.contains(
                "| omring | key-create-commit | 64 | 100 105 100 | +0.0 (+0.0 to +0.0) | 5.0 (0.0–10.0) | 2 |"
            ),
            "{text}"
        );
        assert!(text.contains("| ozone | key-create-commit | 64 | 25 40 40 | -37.5 (-50.0 to -25.0) |"), "{text}");

        // Steps with totals only (etcd, freon, runs from before windows were counted): no table.
        for x in r.rows.iter_mut() {
            x.window_ops_per_sec.clear();
        }
        assert!(!render(&r).contains("## Steady state"));
    }

    #[test]
    fn the_freon_table_gives_both_rings_percentiles_and_the_paired_ratio() {
        let mut r = Results::default();
        for (system, repeat, ops_per_sec, p99) in [
            (OMRING_FREON, 0, 1500.0, 6.5),
            (OZONE_FREON, 0, 300.0, 40.0),
            (OMRING_FREON, 1, 1400.0, 7.5),
            (OZONE_FREON, 1, 200.0, 50.0),
        ] {
            let mut x = row(system, repeat, Vec::new());
            x.workload = ECHO.into();
            x.ops_per_sec = ops_per_sec;
            x.p50_ms = Some(p99 / 3.0);
            x.p99_ms = Some(p99);
            r.rows.push(x);
        }
        let text = render(&r);
        assert!(text.contains("## freon against both rings"), "{text}");
        // Medians 1450 and 250 ops/s; p99 7.00 and 45.00 ms; per-repeat ratios 5 and 7.
        assert!(
            text.contains("| om-echo --ratis | 64 | 1450 (1400–1500) | 2.33 | 7.00 | 250 (200–300) | 15.00 | 45.00 | 6.00 (5.00–7.00) |"),
            "{text}"
        );
        // No freon row: no freon table.
        r.rows.clear();
        assert!(!render(&r).contains("## freon against both rings"));
    }
}
