//! Shared by the scenario tests: one scenario at a time per test binary (each starts its own
//! control plane, and the machine may have two cores), a deadline per scenario, and failures
//! that panic while the cluster is still alive so its directory (all logs) is kept.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `scenario` on a fresh runtime; panics if it does not finish within `deadline`.
pub fn run<F: Future<Output = ()>>(name: &str, deadline: Duration, scenario: F) {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    let t0 = Instant::now();
    omring_e2e::harness::step(format!("scenario {name}: start (deadline {}s)", deadline.as_secs()));
    rt.block_on(async {
        tokio::pin!(scenario);
        tokio::select! {
            _ = &mut scenario => {}
            _ = tokio::time::sleep(deadline) => panic!("scenario {name} exceeded its deadline of {deadline:?}"),
        }
    });
    omring_e2e::harness::step(format!("scenario {name}: passed in {:.1}s", t0.elapsed().as_secs_f64()));
}
