//! The operator as users install it: the chart from `charts/omring-operator` with the real
//! helm (CRD, RBAC, webhook configuration), its in-cluster Deployment scaled to 0, and the
//! locally built operator run beside it as a process whose kubeconfig carries a token of the
//! chart's ServiceAccount, so every API call goes through the chart's RBAC rules.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use om_localring::child;

use super::cluster::Cluster;
use super::{bins, repo_root, step, wait_for, HarnessError, Result};

pub const RELEASE: &str = "omring-operator";
pub const NAMESPACE: &str = "omring-system";
/// The chart's names for release `omring-operator` (fullname = release name).
pub const SERVICE_ACCOUNT: &str = "omring-operator";
pub const WEBHOOK_CONFIG: &str = "omring-operator-omring-system-eviction";
pub const WEBHOOK_SERVICE: &str = "omring-operator-webhook";
pub const WEBHOOK_PATH: &str = "/validate-eviction";
/// The chart's leader-election Lease (`<fullname>-leader`).
pub const LEASE: &str = "omring-operator-leader";

pub fn chart_dir() -> PathBuf {
    repo_root().join("charts/omring-operator")
}

pub fn crd_file() -> PathBuf {
    repo_root().join("crds/omring.io_ozonemanagerrings.yaml")
}

fn free_port() -> Result<u16> {
    om_client::ports::free_port().map_err(|source| HarnessError::Io { what: "free port".into(), source })
}

/// The operator process.
pub struct Operator {
    child: Option<std::process::Child>,
    pub log: PathBuf,
    pub metrics_port: u16,
    pub webhook_port: u16,
    pub kubeconfig: PathBuf,
}

impl Operator {
    /// `helm install` of the chart (operator Deployment at 0 replicas, webhook pointed at the
    /// local process), then the operator process with the ServiceAccount's token.
    pub async fn install(cluster: &Cluster, extra_helm_args: &[&str]) -> Result<Operator> {
        let bin = bins::operator()?;
        let webhook_port = free_port()?;
        helm_install(cluster, &webhook_url(webhook_port), extra_helm_args).await?;
        let kubeconfig = service_account_kubeconfig(cluster, NAMESPACE, SERVICE_ACCOUNT).await?;
        Self::spawn(cluster, &bin, &kubeconfig, webhook_port, "omring-operator-e2e").await
    }

    /// Two replicas, as the chart's Deployment runs them (leader election on both). The first
    /// (`omring-operator-a`) starts alone and takes the Lease; the webhook configuration points
    /// at the second (`omring-operator-b`), so every eviction is reviewed by the replica that
    /// does not lead. Returns (leader, webhook replica).
    pub async fn install_two(cluster: &Cluster) -> Result<(Operator, Operator)> {
        let bin = bins::operator()?;
        let standby_port = free_port()?;
        helm_install(cluster, &webhook_url(standby_port), &[]).await?;
        let kubeconfig = service_account_kubeconfig(cluster, NAMESPACE, SERVICE_ACCOUNT).await?;
        let leader = Self::spawn(cluster, &bin, &kubeconfig, free_port()?, "omring-operator-a").await?;
        wait_for("operator-a holds the Lease", Duration::from_secs(60), Duration::from_millis(200), || async {
            match lease_holder(cluster).await {
                Some(h) if h == "omring-operator-a" => Ok(Some(())),
                other => Err(format!("holder {other:?}")),
            }
        })
        .await?;
        let standby = Self::spawn(cluster, &bin, &kubeconfig, standby_port, "omring-operator-b").await?;
        Ok((leader, standby))
    }

    /// Starts one operator process named `identity` (its Lease identity), serving the webhook
    /// on `webhook_port`, and waits until it is ready.
    async fn spawn(
        cluster: &Cluster,
        bin: &Path,
        kubeconfig: &Path,
        webhook_port: u16,
        identity: &str,
    ) -> Result<Operator> {
        let metrics_port = free_port()?;
        let flags = vec![
            format!("--metrics-addr=127.0.0.1:{metrics_port}"),
            format!("--webhook-addr=127.0.0.1:{webhook_port}"),
            format!("--webhook-config-name={WEBHOOK_CONFIG}"),
            "--cluster-domain=cluster.local".to_string(),
            format!("--webhook-service-name={WEBHOOK_SERVICE}"),
            "--webhook-host=127.0.0.1".into(),
            "--leader-election".into(),
            format!("--lease-name={LEASE}"),
        ];
        let log = cluster.dir.join(format!("{identity}.log"));
        let out = std::fs::File::create(&log)
            .map_err(|source| HarnessError::Io { what: log.display().to_string(), source })?;
        let err = out.try_clone().map_err(|source| HarnessError::Io { what: log.display().to_string(), source })?;
        let mut cmd = std::process::Command::new(bin);
        cmd.args(&flags)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAMESPACE", NAMESPACE)
            .env("POD_NAME", identity)
            .env(
                "RUST_LOG",
                std::env::var("OMRING_OPERATOR_LOG").unwrap_or_else(|_| "info,omring_operator=debug".into()),
            )
            .env(om_client::hosts::ENV_HOSTS_FILE, cluster.agent.hosts_file())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        child::tie_to_parent(&mut cmd);
        let child = cmd.spawn().map_err(|source| HarnessError::Io { what: bin.display().to_string(), source })?;
        let mut op =
            Operator { child: Some(child), log, metrics_port, webhook_port, kubeconfig: kubeconfig.to_path_buf() };
        let http = reqwest::Client::new();
        let ready = format!("http://127.0.0.1:{metrics_port}/readyz");
        let res = wait_for("operator /readyz", Duration::from_secs(60), Duration::from_millis(200), || {
            let exited = op.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            let (http, ready) = (http.clone(), ready.clone());
            async move {
                if let Some(st) = exited {
                    return Err(format!("operator exited: {st}"));
                }
                match http.get(&ready).send().await {
                    Ok(r) if r.status().is_success() => Ok(Some(())),
                    Ok(r) => Err(format!("{ready}: {}", r.status())),
                    Err(e) => Err(format!("{ready}: {e}")),
                }
            }
        })
        .await;
        if let Err(e) = res {
            return Err(HarnessError::Setup(format!("{e}\noperator log:\n{}", op.log_tail(30))));
        }
        step(format!(
            "operator {identity} running as ServiceAccount {NAMESPACE}/{SERVICE_ACCOUNT} (log {})",
            op.log.display()
        ));
        Ok(op)
    }

    /// The last `n` lines of the operator's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The whole log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = child::terminate(&mut c, Duration::from_secs(10));
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.stop();
    }
}

fn webhook_url(port: u16) -> String {
    format!("https://127.0.0.1:{port}{WEBHOOK_PATH}")
}

/// The holder of the chart's leader-election Lease, if any.
pub async fn lease_holder(cluster: &Cluster) -> Option<String> {
    let api: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(cluster.client.clone(), NAMESPACE);
    api.get_opt(LEASE).await.ok().flatten()?.spec?.holder_identity
}

/// `helm install` of the chart with the in-cluster operator scaled to 0 and the eviction
/// webhook sent to `webhook_url` (where the operator process listens).
pub async fn helm_install(cluster: &Cluster, webhook_url: &str, extra_helm_args: &[&str]) -> Result<()> {
    let chart = chart_dir();
    if !chart.join("Chart.yaml").is_file() {
        return Err(HarnessError::Setup(format!("no chart at {}", chart.display())));
    }
    let chart_s = chart.display().to_string();
    let set_url = format!("webhook.url={webhook_url}");
    let mut args = vec![
        "install",
        RELEASE,
        &chart_s,
        "--namespace",
        NAMESPACE,
        "--create-namespace",
        "--set",
        "replicaCount=0",
        "--set",
        &set_url,
        "--wait",
        "--timeout",
        "2m",
    ];
    args.extend_from_slice(extra_helm_args);
    let t0 = Instant::now();
    cluster.helm(&args).await?;
    step(format!("helm install {RELEASE} in {:.1}s", t0.elapsed().as_secs_f64()));
    Ok(())
}

/// A kubeconfig that authenticates as a ServiceAccount (token from `kubectl create token`).
pub async fn service_account_kubeconfig(cluster: &Cluster, ns: &str, sa: &str) -> Result<PathBuf> {
    let token = cluster.kubectl(&["create", "token", sa, "-n", ns, "--duration=24h"]).await?;
    let admin = kube::config::Kubeconfig::read_from(&cluster.cp.kubeconfig)
        .map_err(|e| HarnessError::Setup(format!("reading admin kubeconfig: {e}")))?;
    let cluster_entry = admin
        .clusters
        .first()
        .and_then(|c| c.cluster.clone())
        .ok_or_else(|| HarnessError::Setup("admin kubeconfig has no cluster".into()))?;
    let server = cluster_entry.server.unwrap_or_default();
    let ca = cluster_entry.certificate_authority_data.unwrap_or_default();
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: e2e, cluster: {{server: \"{server}\", certificate-authority-data: {ca}}}}}]\n\
         users: [{{name: {sa}, user: {{token: {}}}}}]\ncontexts: [{{name: {sa}, context: {{cluster: e2e, user: {sa}, namespace: {ns}}}}}]\n\
         current-context: {sa}\n",
        token.trim()
    );
    let path = cluster.dir.join(format!("{sa}.kubeconfig"));
    write_private(&path, &text)?;
    Ok(path)
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| HarnessError::Io { what: path.display().to_string(), source })?;
    std::io::Write::write_all(&mut f, text.as_bytes())
        .map_err(|source| HarnessError::Io { what: path.display().to_string(), source })
}
