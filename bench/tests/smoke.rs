//! The CI smoke run of the benchmark harness: our ring (and etcd when its binaries are already
//! in the cache; a cold CI machine has none and skips it) at 1 and 4 clients for one second per
//! step, one availability trial each, then the report and the completeness check. Seconds, not
//! minutes; Apache Ozone is never part of it (its JVM start-up alone takes about a minute).
//! Needs the `om-node` binary built next to this test (`make test` builds all targets first).

use std::path::PathBuf;
use std::time::Duration;

use omring_bench::results::Results;
use omring_bench::suite::{Settings, Suite};

fn target_dir() -> PathBuf {
    // <target>/debug/deps/smoke-<hash>
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent().and_then(|d| d.parent()).expect("target dir").to_path_buf()
}

fn cached_etcd() -> Option<PathBuf> {
    let cache = std::env::var_os("OMRING_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/omring")))?;
    std::fs::read_dir(cache).ok()?.flatten().map(|e| e.path().join("bin")).find(|b| {
        b.parent().and_then(|p| p.file_name()).is_some_and(|n| n.to_string_lossy().starts_with("bench-etcd-"))
            && b.join("etcd").exists()
            && b.join("benchmark").exists()
    })
}

#[test]
fn harness_measures_every_step_and_writes_the_report() {
    let om_node = target_dir().join("om-node");
    assert!(
        om_node.exists(),
        "{} is missing: build it first (cargo build -p om-node --bin om-node, or make test)",
        om_node.display()
    );
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("results");
    let etcd_bin = cached_etcd();
    let mut systems = vec!["omring".to_string()];
    if etcd_bin.is_some() {
        systems.push("etcd".into());
    }
    eprintln!("smoke: systems {systems:?} (etcd only when cached)");
    let mut suite = Suite::new(Settings {
        systems,
        clients: vec![1, 4],
        step: Duration::from_secs(1),
        trials: 1,
        repeats: 2,
        out: out.clone(),
        work: work.path().join("work"),
        om_node,
        etcd_bin,
        ozone_lib: None,
        ozone_driver: None,
        fsync_samples: 20,
        omring_set: Vec::new(),
        workloads: Vec::new(),
        command: "cargo test -p omring-bench --test smoke".into(),
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(suite.run()).unwrap();
    let problems = suite.completeness_problems();
    assert!(problems.is_empty(), "incomplete smoke run: {problems:#?}");

    // What was saved is what was measured, and the report renders from it.
    let saved = Results::load(&out.join("results.json")).unwrap();
    assert_eq!(saved.rows.len(), suite.results.rows.len());
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(md.contains("## Key create+commit"), "{md}");
    assert!(md.contains("| omring |"), "{md}");
    let fsync = saved.fsync.as_ref().expect("fsync probe");
    assert!(fsync.p50_ms > 0.0);
    for r in &saved.rows {
        assert!(r.ops_per_sec > 0.0 && r.p99_ms.unwrap_or(0.0) > 0.0, "{r:?}");
        assert_eq!(r.rss_mib.len(), 3, "RSS of three voters expected: {r:?}");
        assert!(!r.load_after.is_empty(), "load after each step: {r:?}");
    }
    // Every step twice, both kept; the report gives the median and the range; the run names
    // its commit.
    let reps = saved.repeats("omring", omring_bench::results::KEY, 4);
    assert_eq!(reps.iter().map(|r| r.repeat).collect::<Vec<_>>(), [0, 1], "{reps:?}");
    assert!(
        md.contains(&format!("{:.0} (", saved.row("omring", omring_bench::results::KEY, 4).unwrap().ops_per_sec)),
        "{md}"
    );
    assert_eq!(saved.meta.git_commit.len(), 40, "{:?}", saved.meta.git_commit);
}
