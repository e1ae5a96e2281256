//! Command-line flags of the operator binary; every flag can also come from an environment
//! variable (shown in `--help`).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

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
}

impl Cli {
    pub fn status_period(&self) -> Duration {
        Duration::from_secs(self.status_period_seconds.max(1))
    }
    pub fn node_timeout(&self) -> Duration {
        Duration::from_millis(self.node_timeout_ms.max(100))
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
        ])
        .unwrap();
        assert!(cli.leader_election);
        assert_eq!(cli.watch_namespace.as_deref(), Some("rings"));
        assert_eq!(cli.webhook_hosts, ["127.0.0.1", "localhost"]);
        assert!(Cli::try_parse_from(["omring-operator", "--metrics-addr=nope"]).is_err());
    }
}
