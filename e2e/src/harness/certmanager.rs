//! cert-manager for the scenarios that use it: its CRDs (from the module zip the Go module proxy
//! serves, templating stripped by `e2e/cert-manager/crds.sh`) applied to the cluster, and its
//! certificate controllers (`e2e/cert-manager/build.sh`) run as a host process with the admin
//! kubeconfig. No webhook and no cainjector: nothing here needs them. Dropping the handle stops
//! the process; the CRDs stay (other scenarios ignore them).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::cluster::Cluster;
use super::{repo_root, step, wait_for, HarnessError, Result};

/// The namespace of ClusterIssuers' Secrets (the controller's --cluster-resource-namespace).
pub const NAMESPACE: &str = "cert-manager";

/// The running controller process.
pub struct CertManager {
    child: Child,
    pub log: PathBuf,
}

/// Runs one of the scripts in `e2e/cert-manager/` and returns the directory it prints.
fn script(name: &str) -> Result<PathBuf> {
    let path = repo_root().join("e2e/cert-manager").join(name);
    let out = Command::new(&path)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| HarnessError::Io { what: path.display().to_string(), source })?;
    if !out.status.success() {
        return Err(HarnessError::Setup(format!("{} failed ({})", path.display(), out.status)));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

impl CertManager {
    /// Applies the CRDs, waits until they are served, and starts the controllers.
    pub async fn start(cluster: &Cluster) -> Result<Self> {
        let (crds, bin) =
            tokio::task::spawn_blocking(|| Ok::<_, HarnessError>((script("crds.sh")?, script("build.sh")?)))
                .await
                .map_err(|e| HarnessError::Setup(format!("cert-manager setup: {e}")))??;
        let crds = crds.join("crds.yaml").display().to_string();
        cluster.kubectl(&["apply", "--server-side", "--force-conflicts", "-f", &crds]).await?;
        for crd in ["certificates", "certificaterequests", "issuers", "clusterissuers"] {
            let crd = format!("crd/{crd}.cert-manager.io");
            cluster.kubectl(&["wait", "--for=condition=Established", &crd, "--timeout=60s"]).await?;
        }
        cluster.apply(&format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n")).await?;
        let log = cluster.dir.join("logs/cert-manager.log");
        let file = std::fs::File::create(&log)
            .map_err(|source| HarnessError::Io { what: log.display().to_string(), source })?;
        let err = file.try_clone().map_err(|source| HarnessError::Io { what: log.display().to_string(), source })?;
        let program = bin.join("omring-cert-manager");
        let child = Command::new(&program)
            .arg(format!("--kubeconfig={}", cluster.kubeconfig.display()))
            .arg(format!("--cluster-resource-namespace={NAMESPACE}"))
            .arg("--v=2")
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|source| HarnessError::Io { what: program.display().to_string(), source })?;
        step(format!("cert-manager controllers running (pid {}), log {}", child.id(), log.display()));
        Ok(Self { child, log })
    }

    /// Waits until cert-manager reports `kind`/`name` Ready (kubectl's view, as a user's).
    pub async fn wait_ready(&self, cluster: &Cluster, kind: &str, ns: Option<&str>, name: &str) -> Result<()> {
        let mut args = vec!["get", kind, name, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"];
        if let Some(ns) = ns {
            args.extend(["-n", ns]);
        }
        wait_for(&format!("{kind} {name} Ready"), Duration::from_secs(120), Duration::from_millis(500), || async {
            let out = cluster.kubectl(&args).await.map_err(|e| e.to_string())?;
            Ok((out.trim() == "True").then_some(()))
        })
        .await
    }
}

impl Drop for CertManager {
    fn drop(&mut self) {
        // SIGTERM first (it stops its controllers), then make sure it is gone.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
