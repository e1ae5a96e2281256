//! One real cluster for every scenario. Starting a control plane and its Nodes and installing
//! the chart costs about a minute, so the first scenario brings them up and the rest attach to
//! them; after each scenario, passed or failed, the cluster is put back as it was (scenario
//! namespaces deleted, every Node running, uncordoned and Ready, fault rules gone). A cluster
//! that cannot be put back is torn down (its directory kept) and the next scenario starts a new
//! one. Scenarios run one at a time, each on a fresh runtime with a deadline.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::FutureExt;
use libtest_mimic::{Failed, Trial};
use omring_e2e::harness::cluster::teardown;
use omring_e2e::harness::operator::{Operator, NAMESPACE as OPERATOR_NAMESPACE};
use omring_e2e::harness::{step, Cluster, ClusterInfo, ClusterSpec};

/// Nodes of the shared cluster: three for a ring spread over zones, one spare for a member
/// that must move (node maintenance).
pub const NODES: usize = 4;

struct Shared {
    info: ClusterInfo,
    operator: Operator,
}

static SHARED: Mutex<Option<Shared>> = Mutex::new(None);
/// Any scenario failed: the last cluster's directory is kept for its logs.
static FAILED: Mutex<bool> = Mutex::new(false);

/// A scenario as a libtest trial named `name`.
pub fn trial(name: &str, scenario: fn()) -> Trial {
    Trial::test(name, move || {
        std::panic::catch_unwind(scenario).map_err(|e| {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "scenario panicked".into());
            Failed::from(msg)
        })
    })
}

/// The shared cluster and the installed operator, attached on the calling runtime; started
/// on first use.
pub async fn shared(nodes: usize) -> (Cluster, Operator) {
    assert!(nodes <= NODES, "a scenario asked for {nodes} Nodes; the shared cluster has {NODES}");
    let existing =
        SHARED.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|s| (s.info.clone(), s.operator.clone()));
    if let Some((info, operator)) = existing {
        return (Cluster::attach(&info).await.expect("attach to the shared cluster"), operator);
    }
    let cluster = Cluster::start(ClusterSpec::new("shared", NODES)).await.expect("cluster");
    // The Nodes' kubelets refresh Secret volumes within their 20 s sync period (e2e/nodes/
    // kubelet.yaml), so a CA rotation step may follow the last after 60 s instead of 5 min.
    let operator = match Operator::install(&cluster, &["--set", "tlsPropagationDelay=60s"]).await {
        Ok(op) => op,
        Err(e) => {
            *FAILED.lock().unwrap_or_else(|e| e.into_inner()) = true;
            panic!("helm install + operator: {e}");
        }
    };
    let info = cluster.disown();
    *SHARED.lock().unwrap_or_else(|e| e.into_inner()) = Some(Shared { info: info.clone(), operator: operator.clone() });
    (Cluster::attach(&info).await.expect("attach to the shared cluster"), operator)
}

/// Runs `scenario` on a fresh runtime; fails if it does not finish within `deadline`. The
/// shared cluster is reset afterwards either way.
pub fn run<F: Future<Output = ()>>(name: &str, deadline: Duration, scenario: F) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().expect("runtime");
    let t0 = Instant::now();
    step(format!("scenario {name}: start (deadline {}s)", deadline.as_secs()));
    let outcome = rt.block_on(async {
        let outcome = AssertUnwindSafe(tokio::time::timeout(deadline, scenario)).catch_unwind().await;
        reset().await;
        outcome
    });
    match outcome {
        Ok(Ok(())) => step(format!("scenario {name}: passed in {:.1}s", t0.elapsed().as_secs_f64())),
        Ok(Err(_)) => {
            *FAILED.lock().unwrap_or_else(|e| e.into_inner()) = true;
            panic!("scenario {name} exceeded its deadline of {deadline:?}");
        }
        Err(panic) => {
            *FAILED.lock().unwrap_or_else(|e| e.into_inner()) = true;
            std::panic::resume_unwind(panic);
        }
    }
}

/// Puts the shared cluster back; one that cannot be is torn down (directory kept).
async fn reset() {
    let info = SHARED.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|s| s.info.clone());
    let Some(info) = info else { return };
    let result = match Cluster::attach(&info).await {
        Ok(c) => c.reset(&[OPERATOR_NAMESPACE]).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        step(format!("the shared cluster could not be reset ({e}); the next scenario starts a new one"));
        *FAILED.lock().unwrap_or_else(|e| e.into_inner()) = true;
        SHARED.lock().unwrap_or_else(|e| e.into_inner()).take();
        tokio::task::spawn_blocking(move || teardown(&info, true)).await.ok();
    }
}

/// Stops the shared cluster after the last scenario; keeps its directory if any failed.
pub fn finish() {
    let shared = SHARED.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(s) = shared {
        teardown(&s.info, *FAILED.lock().unwrap_or_else(|e| e.into_inner()));
    }
}
