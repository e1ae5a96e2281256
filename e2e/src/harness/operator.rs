//! The operator as users install it: `helm install` of `charts/omring-operator` with the real
//! helm, its Deployment's pods (2 replicas, leader election through a Lease, the eviction
//! webhook served from the pods through the chart's Service) run by the Nodes' kubelets from
//! the operator image of this build.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;

use super::cluster::Cluster;
use super::{repo_root, ring, step, HarnessError, Result};

pub const RELEASE: &str = "omring-operator";
pub const NAMESPACE: &str = "omring-system";
/// The chart's leader-election Lease (`<fullname>-leader`).
pub const LEASE: &str = "omring-operator-leader";
/// The label selector of the chart's operator pods.
pub const SELECTOR: &str = "app.kubernetes.io/name=omring-operator,app.kubernetes.io/instance=omring-operator";

pub fn chart_dir() -> PathBuf {
    repo_root().join("charts/omring-operator")
}

pub fn crd_file() -> PathBuf {
    repo_root().join("crds/omring.io_ozonemanagerrings.yaml")
}

/// The installed chart.
#[derive(Debug, Clone)]
pub struct Operator {
    pub replicas: usize,
}

impl Operator {
    /// `helm install --wait` of the chart, debug logs for the operator's own modules; waits
    /// until one replica holds the Lease.
    pub async fn install(cluster: &Cluster, extra_helm_args: &[&str]) -> Result<Operator> {
        let chart = chart_dir();
        if !chart.join("Chart.yaml").is_file() {
            return Err(HarnessError::Setup(format!("no chart at {}", chart.display())));
        }
        let chart_s = chart.display().to_string();
        let mut args = vec![
            "install",
            RELEASE,
            &chart_s,
            "--namespace",
            NAMESPACE,
            "--create-namespace",
            "--set",
            r"logLevel=info\,omring_operator=debug",
            "--wait",
            "--timeout",
            "3m",
        ];
        args.extend_from_slice(extra_helm_args);
        let t0 = Instant::now();
        cluster.helm(&args).await?;
        let pods = ring::pods(&cluster.client, NAMESPACE, SELECTOR).await?;
        let replicas = pods.iter().filter(|p| ring::pod_ready(p)).count();
        super::wait_for(
            "an operator replica holds the Lease",
            Duration::from_secs(90),
            Duration::from_millis(300),
            || async { Ok(lease_holder(cluster).await.map(|_| ())) },
        )
        .await?;
        step(format!(
            "helm install {RELEASE}: {replicas} operator pods ready in {:.1}s, Lease held by {:?}",
            t0.elapsed().as_secs_f64(),
            lease_holder(cluster).await
        ));
        Ok(Operator { replicas })
    }

    /// The operator pods' names.
    pub async fn pods(&self, cluster: &Cluster) -> Result<Vec<String>> {
        let pods = ring::pods(&cluster.client, NAMESPACE, SELECTOR).await?;
        Ok(pods.into_iter().filter_map(|p| p.metadata.name).collect())
    }

    /// `kubectl logs --since` of one operator pod: what it logged in the last `since` (the
    /// operator is shared by every scenario of a run).
    pub async fn logs(&self, cluster: &Cluster, pod: &str, since: Duration) -> Result<String> {
        let since = format!("--since={}s", since.as_secs() + 1);
        cluster.kubectl(&["-n", NAMESPACE, "logs", pod, &since]).await
    }
}

/// The holder of the chart's leader-election Lease, if any.
pub async fn lease_holder(cluster: &Cluster) -> Option<String> {
    let api: Api<Lease> = Api::namespaced(cluster.client.clone(), NAMESPACE);
    api.get_opt(LEASE).await.ok().flatten()?.spec?.holder_identity
}
