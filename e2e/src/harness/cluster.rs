//! A throw-away cluster: the control plane from `e2e/controlplane/` in a temp directory, and
//! the node agent as a process playing the kubelet for a few Nodes. Dropping it stops both;
//! when the test is failing the directory (logs of every component and pod) is kept.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use kube::Client;
use om_localring::child;

use super::{bins, repo_root, step, HarnessError, Result};
use crate::agent::control::{self, ContainerRecord};
use crate::agent::AgentInfo;

/// A running control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler).
pub struct ControlPlane {
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    /// kubectl, helm, ... of the pinned versions.
    pub bin: PathBuf,
    up: bool,
}

impl ControlPlane {
    /// Builds (cached) and starts a control plane with state and logs under `dir`.
    pub async fn start(dir: &Path) -> Result<Self> {
        let bin = tokio::task::spawn_blocking(bins::control_plane_bin)
            .await
            .map_err(|e| HarnessError::Setup(format!("build task: {e}")))??;
        let script = repo_root().join("e2e/controlplane/up.sh");
        let t0 = Instant::now();
        let out = tokio::process::Command::new(&script)
            .arg(dir)
            .stderr(Stdio::piped())
            .output()
            .await
            .map_err(|source| HarnessError::Io { what: script.display().to_string(), source })?;
        if !out.status.success() {
            return Err(HarnessError::Command {
                cmd: format!("{} {}", script.display(), dir.display()),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        let kubeconfig = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        step(format!("control plane up in {:.1}s ({})", t0.elapsed().as_secs_f64(), dir.display()));
        Ok(Self { dir: dir.to_path_buf(), kubeconfig, bin, up: true })
    }

    pub async fn client(&self) -> Result<Client> {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig)
            .map_err(|e| HarnessError::Setup(format!("kubeconfig {}: {e}", self.kubeconfig.display())))?;
        let mut cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .map_err(|e| HarnessError::Setup(format!("kubeconfig: {e}")))?;
        // kube's client retries 429 answers on its own; tests must see them (evictions refused
        // by a disruption budget or the operator's webhook answer 429).
        cfg.default_retry = false;
        Client::try_from(cfg).map_err(|source| HarnessError::Kube { what: "client".into(), source })
    }

    /// Runs a binary of the control plane's bin dir (kubectl, helm) with the admin kubeconfig.
    pub async fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
        run_tool(&self.bin.join(program), &self.kubeconfig, args, stdin).await
    }

    pub async fn kubectl(&self, args: &[&str]) -> Result<String> {
        self.run("kubectl", args, None).await
    }

    /// `kubectl apply -f -` of `yaml`.
    pub async fn apply(&self, yaml: &str) -> Result<String> {
        self.run("kubectl", &["apply", "-f", "-"], Some(yaml)).await
    }

    pub fn stop(&mut self) {
        if !self.up {
            return;
        }
        self.up = false;
        let script = repo_root().join("e2e/controlplane/down.sh");
        match std::process::Command::new(&script).arg(&self.dir).stderr(Stdio::null()).status() {
            Ok(st) if st.success() => {}
            other => eprintln!("down.sh {}: {other:?}", self.dir.display()),
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `program args` with `KUBECONFIG`, feeding `stdin`; Ok(stdout) on success.
pub async fn run_tool(program: &Path, kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Result<String> {
    use tokio::io::AsyncWriteExt;
    let shown = format!("{} {}", program.file_name().map(|f| f.to_string_lossy()).unwrap_or_default(), args.join(" "));
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| HarnessError::Io { what: shown.clone(), source })?;
    if let (Some(input), Some(mut w)) = (stdin, child.stdin.take()) {
        w.write_all(input.as_bytes()).await.map_err(|source| HarnessError::Io { what: shown.clone(), source })?;
    }
    let out = child.wait_with_output().await.map_err(|source| HarnessError::Io { what: shown.clone(), source })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(HarnessError::Command {
            cmd: shown,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// The node agent running as its own process.
pub struct AgentProcess {
    child: Option<std::process::Child>,
    pub dir: PathBuf,
    pub info: AgentInfo,
    pub log: PathBuf,
}

impl AgentProcess {
    /// Starts `omring-node-agent run` for `nodes` (name, zone) and waits until it is serving.
    pub async fn start(
        kubeconfig: &Path,
        dir: &Path,
        nodes: &[(String, Option<String>)],
        backoff_ms: u64,
    ) -> Result<Self> {
        let bin = bins::node_agent()?;
        let om_node = bins::om_node()?;
        let bin_dir = om_node.parent().map(Path::to_path_buf).unwrap_or_default();
        std::fs::create_dir_all(dir).map_err(|source| HarnessError::Io { what: dir.display().to_string(), source })?;
        let log = dir.join("agent.log");
        let log_file = std::fs::File::create(&log)
            .map_err(|source| HarnessError::Io { what: log.display().to_string(), source })?;
        let err_file =
            log_file.try_clone().map_err(|source| HarnessError::Io { what: log.display().to_string(), source })?;
        let mut cmd = std::process::Command::new(&bin);
        cmd.arg("--dir").arg(dir).arg("run").arg("--kubeconfig").arg(kubeconfig);
        cmd.arg("--bin-dir").arg(&bin_dir).arg("--backoff-initial-ms").arg(backoff_ms.to_string());
        cmd.arg("--agent-id").arg(dir.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default());
        for (name, zone) in nodes {
            cmd.arg("--node").arg(match zone {
                Some(z) => format!("{name}:{z}"),
                None => name.clone(),
            });
        }
        cmd.env("RUST_LOG", std::env::var("OMRING_AGENT_LOG").unwrap_or_else(|_| "info,kube=warn".into()))
            .stdout(log_file)
            .stderr(err_file)
            .stdin(Stdio::null());
        // The agent (and through it every pod) dies with the test.
        child::tie_to_parent(&mut cmd);
        let _ = std::fs::remove_file(AgentInfo::path(dir));
        let mut child = cmd.spawn().map_err(|source| HarnessError::Io { what: bin.display().to_string(), source })?;
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(60);
        let info = loop {
            if let Some(info) = AgentInfo::read(dir).filter(|i| i.pid == pid) {
                break info;
            }
            if let Ok(Some(st)) = child.try_wait() {
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(HarnessError::Setup(format!("node agent exited ({st}): {tail}")));
            }
            if Instant::now() > deadline {
                child::kill(&mut child);
                return Err(HarnessError::Setup("node agent did not start within 60 s".into()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        step(format!("node agent up: nodes {:?}, pods on 127.{}.0.0/16", info.nodes, info.loopback_octet));
        Ok(Self { child: Some(child), dir: dir.to_path_buf(), info, log })
    }

    /// The cluster DNS as a hosts file (for `OMRING_HOSTS_FILE`).
    pub fn hosts_file(&self) -> &Path {
        &self.info.hosts_file
    }

    /// Sends `signal` to a pod's container (SIGKILL: a crash).
    pub fn signal(&self, ns: &str, pod: &str, container: Option<&str>, signal: i32) -> Result<ContainerRecord> {
        control::signal_container(&self.dir, ns, pod, container, signal).map_err(|e| HarnessError::Check(e.to_string()))
    }

    /// Keeps a container from restarting after it exits (or lets it restart again).
    pub fn hold(&self, ns: &str, pod: &str, container: &str, hold: bool) -> Result<()> {
        control::set_hold(&self.dir, ns, pod, container, hold).map_err(|e| HarnessError::Check(e.to_string()))
    }

    /// Runs `argv` in a pod container's environment (like `kubectl exec`); Ok(stdout).
    pub async fn exec(&self, ns: &str, pod: &str, container: Option<&str>, argv: &[&str]) -> Result<String> {
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let cmd = control::exec_command(&self.dir, ns, pod, container, &argv)
            .map_err(|e| HarnessError::Check(e.to_string()))?;
        let mut cmd = tokio::process::Command::from(cmd);
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|source| HarnessError::Io { what: format!("exec in {ns}/{pod}"), source })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(HarnessError::Command {
                cmd: format!("exec {ns}/{pod} -- {}", argv.join(" ")),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    /// SIGTERM (pods get a few seconds), then SIGKILL.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = child::terminate(&mut c, Duration::from_secs(15));
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A control plane plus a node agent, in one temp directory.
pub struct Cluster {
    pub dir: PathBuf,
    pub agent: AgentProcess,
    pub cp: ControlPlane,
    pub client: Client,
    keep: bool,
}

/// How many Nodes and in which zones.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub name: String,
    /// (node name, zone)
    pub nodes: Vec<(String, Option<String>)>,
    pub backoff_ms: u64,
}

impl ClusterSpec {
    /// `n` Nodes `node-1..n`, each in its own zone `zone-a`, `zone-b`, ...
    pub fn new(name: &str, n: usize) -> Self {
        let nodes = (1..=n)
            .map(|i| (format!("node-{i}"), Some(format!("zone-{}", (b'a' + ((i - 1) % 26) as u8) as char))))
            .collect();
        Self { name: name.into(), nodes, backoff_ms: 2000 }
    }
}

impl Cluster {
    pub async fn start(spec: ClusterSpec) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("omring-e2e-{}-", spec.name))
            .tempdir()
            .map_err(|source| HarnessError::Io { what: "temp dir".into(), source })?
            .keep();
        step(format!("cluster {} in {}", spec.name, dir.display()));
        reap_orphans(&dir);
        let _ = std::fs::write(dir.join("owner.pid"), std::process::id().to_string());
        let cp = ControlPlane::start(&dir.join("cp")).await?;
        let agent = AgentProcess::start(&cp.kubeconfig, &dir.join("agent"), &spec.nodes, spec.backoff_ms).await?;
        let client = cp.client().await?;
        Ok(Self { dir, agent, cp, client, keep: false })
    }

    /// Keep the directory after the test (it is kept anyway when the test panics).
    pub fn keep_dir(&mut self) {
        self.keep = true;
    }

    pub async fn kubectl(&self, args: &[&str]) -> Result<String> {
        self.cp.kubectl(args).await
    }

    pub async fn apply(&self, yaml: &str) -> Result<String> {
        self.cp.apply(yaml).await
    }

    pub async fn helm(&self, args: &[&str]) -> Result<String> {
        self.cp.run("helm", args, None).await
    }
}

/// Stops control planes left running by test processes that died without cleaning up (a killed
/// CI job), found through the `owner.pid` of their directories next to `dir`.
fn reap_orphans(dir: &Path) {
    let Some(parent) = dir.parent() else { return };
    let Ok(rd) = std::fs::read_dir(parent) else { return };
    for e in rd.flatten() {
        let d = e.path();
        if d == dir || !e.file_name().to_string_lossy().starts_with("omring-e2e-") {
            continue;
        }
        let Some(owner) = std::fs::read_to_string(d.join("owner.pid")).ok().and_then(|s| s.trim().parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let owner_alive = unsafe { libc::kill(owner, 0) } == 0;
        if !owner_alive && d.join("cp/pids").is_dir() {
            eprintln!("stopping the control plane of a dead test run in {}", d.display());
            let _ = std::process::Command::new(repo_root().join("e2e/controlplane/down.sh"))
                .arg(d.join("cp"))
                .stderr(Stdio::null())
                .status();
            let _ = std::fs::remove_file(d.join("owner.pid"));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.agent.stop();
        self.cp.stop();
        if std::thread::panicking() || self.keep {
            eprintln!("kept {} (control plane logs in cp/logs, agent and pod logs in agent/)", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
