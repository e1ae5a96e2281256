//! The operator as users install it: the chart from `charts/omring-operator` with the real
//! helm (CRD, RBAC, webhook configuration), its in-cluster Deployment scaled to 0, and the
//! locally built operator run beside it as a process whose kubeconfig carries a token of the
//! chart's ServiceAccount, so every API call goes through the chart's RBAC rules.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

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
        let (metrics_port, webhook_port) = (free_port()?, free_port()?);
        let url = format!("https://127.0.0.1:{webhook_port}{WEBHOOK_PATH}");
        helm_install(cluster, &url, extra_helm_args).await?;
        let kubeconfig = service_account_kubeconfig(cluster, NAMESPACE, SERVICE_ACCOUNT).await?;
        let help = std::process::Command::new(&bin).arg("--help").output().map(|o| o.stdout).unwrap_or_default();
        let help = String::from_utf8_lossy(&help).to_string();
        let mut flags = vec![
            format!("--metrics-addr=127.0.0.1:{metrics_port}"),
            format!("--webhook-addr=127.0.0.1:{webhook_port}"),
            format!("--webhook-config-name={WEBHOOK_CONFIG}"),
            "--cluster-domain=cluster.local".to_string(),
        ];
        if help.contains("--webhook-service-name") {
            flags.push(format!("--webhook-service-name={WEBHOOK_SERVICE}"));
        }
        if help.contains("--webhook-host") {
            flags.push("--webhook-host=127.0.0.1".into());
        }
        if help.contains("--leader-election") {
            flags.push("--leader-election".into());
        }
        if help.contains("--lease-name") {
            flags.push(format!("--lease-name={LEASE}"));
        }
        let log = cluster.dir.join("operator.log");
        let out = std::fs::File::create(&log)
            .map_err(|source| HarnessError::Io { what: log.display().to_string(), source })?;
        let err = out.try_clone().map_err(|source| HarnessError::Io { what: log.display().to_string(), source })?;
        let mut cmd = std::process::Command::new(&bin);
        cmd.args(&flags)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("KUBECONFIG", &kubeconfig)
            .env("POD_NAMESPACE", NAMESPACE)
            .env("POD_NAME", "omring-operator-e2e")
            .env(
                "RUST_LOG",
                std::env::var("OMRING_OPERATOR_LOG").unwrap_or_else(|_| "info,omring_operator=debug".into()),
            )
            .env(om_client::hosts::ENV_HOSTS_FILE, cluster.agent.hosts_file())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|source| HarnessError::Io { what: bin.display().to_string(), source })?;
        let mut op = Operator { child: Some(child), log, metrics_port, webhook_port, kubeconfig };
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
            let tail = std::fs::read_to_string(&op.log).unwrap_or_default();
            let tail: String =
                tail.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
            return Err(HarnessError::Setup(format!("{e}\noperator log:\n{tail}")));
        }
        step(format!("operator running as ServiceAccount {NAMESPACE}/{SERVICE_ACCOUNT} (log {})", op.log.display()));
        Ok(op)
    }

    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.stop();
    }
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
