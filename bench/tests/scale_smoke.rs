//! The CI smoke run of `omring-bench scale`: one shape at 0 and 5,000 keys, one-second steps,
//! one repeat of everything (restart, catch-up by snapshot included), then the completeness
//! check and what scale.json and scale.md hold. Seconds, not minutes; it checks the harness,
//! not the figures. Needs the `om-node` binary built next to this test (`make test` builds all
//! targets first).

use std::path::PathBuf;
use std::time::Duration;

use omring_bench::scale::{Scale, ScaleSettings, Shape};
use omring_bench::scale_results::{ScaleResults, CATCH_UP, CREATE, LIST, LOOKUP, RESTART};

fn target_dir() -> PathBuf {
    // <target>/debug/deps/scale_smoke-<hash>
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent().and_then(|d| d.parent()).expect("target dir").to_path_buf()
}

#[test]
fn scale_harness_measures_every_size_and_writes_the_report() {
    let om_node = target_dir().join("om-node");
    assert!(om_node.exists(), "{} is missing: build it first (make test builds all targets)", om_node.display());
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("scale");
    let keys = vec![0, 5_000];
    let mut scale = Scale::new(ScaleSettings {
        keys: keys.clone(),
        shapes: vec![Shape::parse("one-bucket").unwrap()],
        secs: Duration::from_secs(1),
        clients: 4,
        preload_tasks: 16,
        repeats: 1,
        list_samples: 3,
        out: out.clone(),
        work: work.path().join("work"),
        om_node,
        // The chart is optional (matplotlib may be missing); the tables are not.
        python: Some(PathBuf::from("/nonexistent/python")),
        command: "cargo test -p omring-bench --test scale_smoke".into(),
        deadline: Duration::from_secs(120),
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(scale.run()).unwrap();
    let problems = scale.completeness_problems();
    assert!(problems.is_empty(), "incomplete scale run: {problems:#?}");

    // What was saved is what was measured.
    let saved = ScaleResults::load(&out.join("scale.json")).unwrap();
    assert_eq!(saved.samples.len(), scale.results.samples.len());
    assert_eq!(saved.meta.git_commit.len(), 40, "{:?}", saved.meta.git_commit);
    let sizes: Vec<u64> = saved.points.iter().map(|p| p.keys).collect();
    assert_eq!(sizes.len(), keys.len(), "a point per size: {sizes:?}");
    assert!(sizes.windows(2).all(|w| w[0] < w[1]) && sizes[1] >= 5_000, "key counts grew: {sizes:?}");
    for (p, target) in saved.points.iter().zip(&keys) {
        assert_eq!(p.target_keys, *target);
        assert_eq!(p.rss_mib.len(), 3, "{p:?}");
        assert!(p.leader.as_ref().is_some_and(|l| p.rss_mib.iter().any(|(id, _)| id == l)), "{p:?}");
        assert!(p.disk.iter().all(|d| d.bytes > 0 && d.apparent_bytes > 0), "{p:?}");
        // Every voter's memory gauges, read with its RSS: the parts fit inside the resident set.
        assert_eq!(p.memory.len(), 3, "{p:?}");
        for m in &p.memory {
            let resident = m.part("resident").unwrap_or(0.0);
            assert!(resident > 0.0 && m.part("block cache").is_some() && m.threads.unwrap_or(0.0) > 0.0, "{m:?}");
            assert!(m.c_heap_in_use.unwrap_or(0.0) > 0.0 && m.c_heap_free.is_some(), "{m:?}");
            let rest = m.rest().unwrap_or(-1.0);
            assert!(rest > 0.0 && rest < resident, "the parts of {m:?} do not fit in its RSS");
        }
        let one = |m: &str| {
            let v = saved.samples(&p.shape, *target, m);
            assert_eq!(v.len(), 1, "{m} at {target}: {v:?}");
            v[0].clone()
        };
        let c = one(CREATE);
        assert!(c.ops > 0 && c.keys_after > c.keys_before && c.p99_ms.unwrap_or(0.0) > 0.0, "{c:?}");
        assert!(one(RESTART).secs > 0.0);
        let catch_up = one(CATCH_UP);
        assert!(catch_up.detail["snapshots_installed"] >= 1.0, "caught up by snapshot: {catch_up:?}");
        if p.keys > 0 {
            assert!(one(LOOKUP).ops > 0 && one(LOOKUP).errors == 0, "{:?}", one(LOOKUP));
            let list = one(LIST);
            assert_eq!(list.latencies_ms.len(), 3, "{list:?}");
            assert_eq!(list.detail["keys_per_page"], 1000.0, "{list:?}");
        }
    }
    assert!(saved.preloads.iter().any(|p| p.to == 5_000 && p.keys_per_sec > 0.0), "{:?}", saved.preloads);
    let md = std::fs::read_to_string(out.join("scale.md")).unwrap();
    assert!(md.contains("## one-bucket") && md.contains("| 5,000 |"), "{md}");
    assert!(md.contains("Where each voter's memory goes") && md.contains("| 5,000 | om1"), "{md}");
    assert!(md.contains("Charts skipped: cannot run /nonexistent/python"), "{md}");
}
