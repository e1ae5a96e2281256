//! Command-line flags of the operator binary; every flag can also come from an environment
//! variable (shown in `--help`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

use crate::model::Settings;

/// `k=v,k=v` label lists.
fn parse_labels(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(|| format!("{pair:?} is not key=value"))?;
        if k.trim().is_empty() {
            return Err(format!("{pair:?} has an empty key"));
        }
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    if out.is_empty() {
        return Err("no labels: the NetworkPolicies would admit every pod of the namespace".into());
    }
    Ok(out)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::duration::parse(s).map_err(|e| e.to_string())
}

/// The OzoneManagerRing operator.
#[derive(Parser, Debug, Clone)]
#[command(name = "omring-operator", version, about = "Kubernetes operator for OzoneManagerRing resources")]
pub struct Cli {
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "OMRING_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,

    /// Address the eviction webhook listens on (HTTPS). Served only with --webhook-config-name.
    #[arg(long, env = "OMRING_WEBHOOK_ADDR", default_value = "0.0.0.0:8443")]
    pub webhook_addr: SocketAddr,

    /// Service in front of the webhook; its DNS names go into the serving certificate.
    #[arg(long, env = "OMRING_WEBHOOK_SERVICE_NAME")]
    pub webhook_service_name: Option<String>,

    /// ValidatingWebhookConfiguration whose caBundle the operator fills with its own CA.
    /// Without it the webhook is not served.
    #[arg(long, env = "OMRING_WEBHOOK_CONFIG_NAME")]
    pub webhook_config_name: Option<String>,

    /// Extra names or IP addresses for the webhook's certificate (hosts of URL client configs
    /// found in the webhook configuration are added automatically).
    #[arg(long = "webhook-host", env = "OMRING_WEBHOOK_HOSTS", value_delimiter = ',')]
    pub webhook_hosts: Vec<String>,

    /// The operator's own namespace (leader-election Lease, webhook Service).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub namespace: String,

    /// Elect one active replica through a Lease in --namespace.
    #[arg(long, env = "OMRING_LEADER_ELECTION")]
    pub leader_election: bool,

    /// Name of the leader-election Lease.
    #[arg(long, env = "OMRING_LEASE_NAME", default_value = "omring-operator")]
    pub lease_name: String,

    /// Identity of this replica in the Lease and in events (default: a random one).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,

    /// DNS suffix of the cluster, used in the nodes' stable addresses.
    #[arg(long, env = "OMRING_CLUSTER_DOMAIN", default_value = "cluster.local")]
    pub cluster_domain: String,

    /// Only manage rings in this namespace (default: all namespaces).
    #[arg(long, env = "OMRING_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,

    /// Seconds between refreshes of a ring with nothing to do (roles in the status).
    #[arg(long, env = "OMRING_STATUS_PERIOD_SECONDS", default_value_t = 10)]
    pub status_period_seconds: u64,

    /// Timeout of one node status request, in milliseconds.
    #[arg(long, env = "OMRING_NODE_TIMEOUT_MS", default_value_t = 2000)]
    pub node_timeout_ms: u64,

    /// Labels of the operator's own pods (k=v,...): the rings' NetworkPolicies let pods with
    /// these labels in --namespace reach every port.
    #[arg(
        long,
        env = "OMRING_OPERATOR_POD_LABELS",
        default_value = "app.kubernetes.io/name=omring-operator",
        value_parser = parse_labels
    )]
    pub operator_pod_labels: BTreeMap<String, String>,

    /// How long pods get to load a changed trust bundle (the kubelet's Secret sync, about a
    /// minute, plus the node's reload) before a CA rotation takes its next step (Go duration).
    #[arg(long, env = "OMRING_TLS_PROPAGATION_DELAY", default_value = "5m", value_parser = parse_duration)]
    pub tls_propagation_delay: Duration,
}

impl Cli {
    pub fn status_period(&self) -> Duration {
        Duration::from_secs(self.status_period_seconds.max(1))
    }
    pub fn node_timeout(&self) -> Duration {
        Duration::from_millis(self.node_timeout_ms.max(100))
    }
    /// The settings every ring is rendered with.
    pub fn settings(&self) -> Settings {
        Settings {
            cluster_domain: self.cluster_domain.clone(),
            operator_namespace: self.namespace.clone(),
            operator_pod_labels: self.operator_pod_labels.clone(),
            tls_propagation: self.tls_propagation_delay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_the_charts_flags_parse() {
        let cli = Cli::try_parse_from(["omring-operator"]).unwrap();
        assert_eq!(cli.metrics_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(cli.webhook_addr.to_string(), "0.0.0.0:8443");
        assert_eq!(cli.cluster_domain, "cluster.local");
        assert!(!cli.leader_election);
        assert_eq!(cli.settings(), Settings::default(), "the defaults agree");
        let cli = Cli::try_parse_from([
            "omring-operator",
            "--metrics-addr=0.0.0.0:9090",
            "--webhook-addr=0.0.0.0:9443",
            "--webhook-service-name=omring-operator-webhook",
            "--webhook-config-name=omring-operator",
            "--leader-election",
            "--cluster-domain=k8s.example",
            "--watch-namespace=rings",
            "--namespace=ops",
            "--webhook-host=127.0.0.1,localhost",
            "--operator-pod-labels=app.kubernetes.io/name=omring-operator, app.kubernetes.io/instance=ops",
            "--tls-propagation-delay=90s",
        ])
        .unwrap();
        let settings = cli.settings();
        assert_eq!(settings.operator_namespace, "ops");
        assert_eq!(settings.operator_pod_labels["app.kubernetes.io/instance"], "ops");
        assert_eq!(settings.operator_pod_labels.len(), 2);
        assert_eq!(settings.tls_propagation, Duration::from_secs(90));
        assert_eq!(settings.cluster_domain, "k8s.example");
        for bad in ["--operator-pod-labels=", "--operator-pod-labels=novalue", "--tls-propagation-delay=5"] {
            assert!(Cli::try_parse_from(["omring-operator", bad]).is_err(), "{bad}");
        }
        assert!(cli.leader_election);
        assert_eq!(cli.watch_namespace.as_deref(), Some("rings"));
        assert_eq!(cli.webhook_hosts, ["127.0.0.1", "localhost"]);
        assert!(Cli::try_parse_from(["omring-operator", "--metrics-addr=nope"]).is_err());
    }
}
