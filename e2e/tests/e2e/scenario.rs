//! What the operator scenarios share: the ring's namespace and names, its manifest, creating it
//! and a client for it, reading its status, and the load's final checks.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use om_client::wire::Role;
use om_client::FailoverClient;
use omring_e2e::harness::operator::Operator;
use omring_e2e::harness::{ring, step, Cluster, Load};
use serde_json::Value;

pub const NS: &str = "rings";
pub const RING: &str = "om";
pub const SELECTOR: &str = "app.kubernetes.io/instance=om";
/// The om-node container of a ring pod (operator/src/names.rs).
pub const CONTAINER: &str = "om";
/// The ring's peer (Raft) port.
pub const RAFT_PORT: u16 = om_client::config::DEFAULT_RATIS_PORT;
/// The webhook's record of a refused eviction (operator/src/names.rs).
pub const EVICTION_RECORD: &str = "omring.io/eviction-requested-at";

/// The shared cluster (at least `nodes` Nodes) with the operator, and the scenario's namespace
/// for its ring; `name` labels the scenario's client load.
pub async fn setup(name: &str, nodes: usize) -> (Cluster, Operator) {
    let (cluster, op) = crate::common::shared(nodes).await;
    cluster.kubectl(&["create", "namespace", NS]).await.expect("namespace");
    // The API server refuses pods that break the restricted Pod Security Standard here: the
    // operator's pods must pass it.
    cluster
        .kubectl(&["label", "namespace", NS, "pod-security.kubernetes.io/enforce=restricted"])
        .await
        .expect("label the namespace restricted");
    step(format!("scenario {name}: namespace {NS} (Pod Security Standard restricted, enforced)"));
    (cluster, op)
}

/// The ring's manifest; `extra_spec` is more of its spec as YAML lines indented by two spaces.
pub fn ring_yaml(replicas: u32, config: &[(&str, &str)], extra_spec: &str) -> String {
    let mut conf = String::new();
    for (k, v) in config {
        conf.push_str(&format!("    {k}: \"{v}\"\n"));
    }
    format!(
        "apiVersion: omring.io/v1alpha1\nkind: OzoneManagerRing\nmetadata: {{name: {RING}, namespace: {NS}}}\n\
         spec:\n  replicas: {replicas}\n  image: omring/om-node:0.1.0\n  storage: {{size: 1Gi}}\n{extra_spec}  config:\n{}",
        if conf.is_empty() { "    {}\n".to_string() } else { conf }
    )
}

/// Creates the ring and waits until it is Available; returns a client built from its ConfigMap.
pub async fn create_ring(cluster: &Cluster, replicas: u32, config: &[(&str, &str)]) -> Arc<FailoverClient> {
    create_ring_with(cluster, replicas, config, "").await
}

/// [`create_ring`] with more of the spec (see [`ring_yaml`]).
pub async fn create_ring_with(
    cluster: &Cluster,
    replicas: u32,
    config: &[(&str, &str)],
    extra_spec: &str,
) -> Arc<FailoverClient> {
    let t0 = Instant::now();
    cluster.apply(&ring_yaml(replicas, config, extra_spec)).await.expect("apply ring");
    ring::wait_available(&cluster.client, NS, RING, replicas as i64, Duration::from_secs(240))
        .await
        .expect("Available");
    step(format!("ring of {replicas} Available {:.1}s after kubectl apply", t0.elapsed().as_secs_f64()));
    wait_names_resolve(replicas).await;
    client_for(cluster).await
}

/// Waits until the cluster DNS answers every ring pod's name on several lookups in a row. A pod
/// enters its headless Service's records a moment after it turns Ready, and either CoreDNS
/// replica may still answer from a cached "no such name" of before (up to its 5 s TTL). A client
/// sent to the leader right after Available could fail there: CI once saw alice's first read give
/// up on om-0 "does not resolve" although om-0 had answered a moment before.
pub async fn wait_names_resolve(replicas: u32) {
    const IN_A_ROW: u32 = 5;
    let dns = omring_e2e::harness::dns::ClusterDns::new();
    let names: Vec<String> =
        (0..replicas).map(|i| format!("{RING}-{i}.{RING}-headless.{NS}.svc.cluster.local")).collect();
    let streak = Mutex::new(0u32);
    let t0 = Instant::now();
    omring_e2e::harness::wait_for(
        &format!("the cluster DNS answers {names:?} {IN_A_ROW} times in a row"),
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            for name in &names {
                if let Err(e) = dns.lookup(name).await {
                    *streak.lock().unwrap_or_else(|p| p.into_inner()) = 0;
                    return Err(e.to_string());
                }
            }
            let mut streak = streak.lock().unwrap_or_else(|p| p.into_inner());
            *streak += 1;
            Ok((*streak >= IN_A_ROW).then_some(()))
        },
    )
    .await
    .expect("ring pods in the cluster DNS");
    step(format!("every ring pod resolves at the cluster DNS ({:.1}s after Available)", t0.elapsed().as_secs_f64()));
}

pub async fn client_for(cluster: &Cluster) -> Arc<FailoverClient> {
    ring::operator_ring_client(&cluster.client, NS, RING).await.expect("client")
}

pub fn status_nodes(status: &Value) -> Vec<(String, String, bool)> {
    status["nodes"]
        .as_array()
        .map(|ns| {
            ns.iter()
                .map(|n| {
                    (
                        n["nodeId"].as_str().unwrap_or_default().to_string(),
                        n["role"].as_str().unwrap_or_default().to_ascii_uppercase(),
                        n["ready"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

pub async fn pod(cluster: &Cluster, name: &str) -> Option<Pod> {
    Api::<Pod>::namespaced(cluster.client.clone(), NS).get_opt(name).await.ok().flatten()
}

/// A sample's value from a ring pod's `/metrics` page (0 when the page lacks it).
pub async fn node_metric(http: &reqwest::Client, pod: &str, name: &str) -> Result<f64, String> {
    let url = format!("http://{pod}.{RING}-headless.{NS}.svc.cluster.local:9874/metrics");
    let text = http.get(url).send().await.map_err(|e| e.to_string())?.text().await.map_err(|e| e.to_string())?;
    Ok(text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0))
}

/// Stops the load and checks: no failure (when `no_failures`), every acknowledged key readable.
pub async fn finish_load(load: Load, client: &FailoverClient, no_failures: bool) {
    let report = load.stop().await;
    step(format!("load: {}", report.summary()));
    if no_failures {
        report.expect_no_failures().expect("no failed client writes");
    }
    report.verify_readable(client).await.expect("every acknowledged write is readable");
}

/// Polls the ring's leader and `pod`'s deletion in the background; reports when the leader
/// first was someone other than `old_leader` and when the pod first was terminating or gone.
/// Each member is polled on its own: a request to the stopping pod can hang until the client's
/// timeout, and must not hide that another member already leads.
pub struct Watch {
    moved: Arc<Mutex<Option<Instant>>>,
    terminating: Arc<Mutex<Option<Instant>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Watch {
    pub fn start(cluster: &Cluster, client: Arc<FailoverClient>, old_leader: &str) -> Watch {
        let (moved, terminating) = (Arc::new(Mutex::new(None)), Arc::new(Mutex::new(None)));
        let mut tasks = Vec::new();
        for node in client.nodes().iter().filter(|n| n.node_id != old_leader) {
            let (node, client, m) = (node.clone(), client.clone(), moved.clone());
            tasks.push(tokio::spawn(async move {
                while m.lock().unwrap().is_none() {
                    let now = Instant::now();
                    if matches!(client.node_status(&node).await, Ok(s) if s.role == Role::Leader) {
                        m.lock().unwrap().get_or_insert(now);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }));
        }
        let api = Api::<Pod>::namespaced(cluster.client.clone(), NS);
        let (old, t) = (old_leader.to_string(), terminating.clone());
        tasks.push(tokio::spawn(async move {
            let mut uid = None::<String>;
            while t.lock().unwrap().is_none() {
                let now = Instant::now();
                match api.get_opt(&old).await {
                    Ok(Some(p)) => {
                        let seen = p.metadata.uid.clone().unwrap_or_default();
                        let same = uid.get_or_insert_with(|| seen.clone()) == &seen;
                        if p.metadata.deletion_timestamp.is_some() || !same {
                            t.lock().unwrap().get_or_insert(now);
                        }
                    }
                    Ok(None) => {
                        t.lock().unwrap().get_or_insert(now);
                    }
                    Err(_) => {}
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
        Watch { moved, terminating, tasks }
    }

    /// When leadership was first seen away from the old leader and when its pod was first
    /// seen terminating, each waited for up to `within`.
    pub async fn times(&self, within: Duration) -> (Option<Instant>, Option<Instant>) {
        let deadline = Instant::now() + within;
        loop {
            let seen = (*self.moved.lock().unwrap(), *self.terminating.lock().unwrap());
            if (seen.0.is_some() && seen.1.is_some()) || Instant::now() >= deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
