//! Names resolved the way a pod resolves them: by asking the cluster's CoreDNS (the kube-dns
//! Service of `e2e/nodes/up.sh`, reached from the host through kube-proxy's rules).
//!
//! The tests run on the host, whose resolver knows nothing of `*.svc.cluster.local`; rather than
//! changing the host's resolver, every client the harness builds gets this one.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;

use super::{HarnessError, Result};

/// The kube-dns Service address of `e2e/nodes/lib.sh`.
pub const CLUSTER_DNS: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 10));

/// A resolver asking only the cluster DNS, for reqwest and the failover client.
#[derive(Clone)]
pub struct ClusterDns(Arc<TokioResolver>);

impl ClusterDns {
    pub fn new() -> Self {
        let servers = NameServerConfigGroup::from_ips_clear(&[CLUSTER_DNS], 53, true);
        let mut opts = ResolverOpts::default();
        // Pods come back with new addresses; CoreDNS's own TTL is 5 s, keep less than that.
        opts.positive_max_ttl = Some(Duration::from_secs(1));
        opts.negative_max_ttl = Some(Duration::from_secs(1));
        opts.timeout = Duration::from_secs(1);
        opts.attempts = 2;
        opts.ndots = 0;
        let resolver = TokioResolver::builder_with_config(
            ResolverConfig::from_parts(None, vec![], servers),
            TokioConnectionProvider::default(),
        )
        .with_options(opts)
        .build();
        ClusterDns(Arc::new(resolver))
    }

    /// The addresses of `name` (an IP literal is its own answer).
    pub async fn lookup(&self, name: &str) -> Result<Vec<IpAddr>> {
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let answer = self.0.lookup_ip(name).await.map_err(|e| {
            HarnessError::Check(format!("{name} does not resolve at the cluster DNS {CLUSTER_DNS}: {e}"))
        })?;
        Ok(answer.iter().collect())
    }
}

impl Default for ClusterDns {
    fn default() -> Self {
        Self::new()
    }
}

impl reqwest::dns::Resolve for ClusterDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let dns = self.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let ips = dns.lookup(&host).await.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            let addrs: Vec<SocketAddr> = ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// An HTTP client that reaches pods and Services by their cluster names.
pub fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(ClusterDns::new()))
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| HarnessError::Setup(format!("HTTP client: {e}")))
}
