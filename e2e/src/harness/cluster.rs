//! A throw-away real cluster: `e2e/nodes/up.sh` in a temp directory (control plane, a containerd
//! and a kubelet per Node, kube-proxy, CoreDNS, local-path storage), with the om-node and
//! operator images of this build imported into every Node. Dropping it runs `down.sh`, which
//! also restores the host; when the test is failing the directory (every log) is kept.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client};

use super::{bins, repo_root, step, HarnessError, Result};

/// How many Nodes (node-1..node-N, in zones zone-a, zone-b, ...).
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub name: String,
    pub nodes: usize,
}

impl ClusterSpec {
    pub fn new(name: &str, nodes: usize) -> Self {
        Self { name: name.into(), nodes }
    }
}

/// Where a running cluster lives: enough to attach to it from another test or runtime.
#[derive(Debug, Clone)]
pub struct ClusterInfo {
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub bin: PathBuf,
    pub nodes: usize,
}

/// Stops the cluster of `info` (down.sh, which restores the host) and removes its directory
/// unless `keep`.
pub fn teardown(info: &ClusterInfo, keep: bool) {
    let script = repo_root().join("e2e/nodes/down.sh");
    match std::process::Command::new(&script).arg(&info.dir).stderr(Stdio::null()).status() {
        Ok(st) if st.success() => {}
        other => eprintln!("down.sh {}: {other:?}", info.dir.display()),
    }
    if keep {
        eprintln!("kept {} (logs in logs/, cp/logs/, nodes/*/pod-logs/)", info.dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&info.dir);
    }
}

/// A running cluster, or a handle attached to one (which leaves it running when dropped).
pub struct Cluster {
    /// up.sh's directory: `cp/` (control plane), `nodes/node-N/`, `logs/`.
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
    /// kubectl, helm, ... of the pinned versions.
    pub bin: PathBuf,
    pub client: Client,
    pub nodes: usize,
    /// This handle started the cluster and stops it when dropped.
    owned: bool,
    up: bool,
    keep: bool,
}

/// The chain that holds the rules tests add on the host (down.sh removes it).
pub const FAULT_CHAIN: &str = "OMRING-E2E-FAULTS";

impl Cluster {
    pub async fn start(spec: ClusterSpec) -> Result<Self> {
        let images = tokio::task::spawn_blocking(bins::images)
            .await
            .map_err(|e| HarnessError::Setup(format!("image build task: {e}")))??;
        let dir = tempfile::Builder::new()
            .prefix(&format!("omring-e2e-{}-", spec.name))
            .tempdir()
            .map_err(|source| HarnessError::Io { what: "temp dir".into(), source })?
            .keep();
        step(format!("cluster {} ({} Nodes) in {}", spec.name, spec.nodes, dir.display()));
        let script = repo_root().join("e2e/nodes/up.sh");
        let list: Vec<String> = images.iter().map(|p| p.display().to_string()).collect();
        let t0 = Instant::now();
        let out = tokio::process::Command::new(&script)
            .arg(&dir)
            .arg(spec.nodes.to_string())
            .env("OMRING_NODE_IMAGES", list.join(" "))
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .await
            .map_err(|source| HarnessError::Io { what: script.display().to_string(), source })?;
        if !out.status.success() {
            return Err(HarnessError::Command {
                cmd: format!("{} {} {}", script.display(), dir.display(), spec.nodes),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        let kubeconfig = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let env = std::fs::read_to_string(dir.join("env"))
            .map_err(|source| HarnessError::Io { what: format!("{}/env", dir.display()), source })?;
        let bin = env
            .lines()
            .find_map(|l| l.strip_prefix("OMRING_CP_BIN="))
            .map(PathBuf::from)
            .ok_or_else(|| HarnessError::Setup(format!("{}/env names no OMRING_CP_BIN", dir.display())))?;
        let client = admin_client(&kubeconfig).await?;
        step(format!("cluster up in {:.1}s", t0.elapsed().as_secs_f64()));
        Ok(Self { dir, kubeconfig, bin, client, nodes: spec.nodes, owned: true, up: true, keep: false })
    }

    /// A handle to the running cluster of `info`, with a client of the calling runtime.
    pub async fn attach(info: &ClusterInfo) -> Result<Self> {
        let client = admin_client(&info.kubeconfig).await?;
        Ok(Self {
            dir: info.dir.clone(),
            kubeconfig: info.kubeconfig.clone(),
            bin: info.bin.clone(),
            client,
            nodes: info.nodes,
            owned: false,
            up: true,
            keep: true,
        })
    }

    pub fn info(&self) -> ClusterInfo {
        ClusterInfo {
            dir: self.dir.clone(),
            kubeconfig: self.kubeconfig.clone(),
            bin: self.bin.clone(),
            nodes: self.nodes,
        }
    }

    /// Keeps the cluster running past this handle; the caller stops it with [`teardown`].
    pub fn disown(mut self) -> ClusterInfo {
        self.owned = false;
        self.info()
    }

    /// Puts a shared cluster back as a scenario found it: every namespace but the cluster's own
    /// and the operator's deleted (rings, pods, volumes), every Node running, uncordoned and
    /// Ready, and the tests' fault rules gone.
    pub async fn reset(&self, keep_namespaces: &[&str]) -> Result<()> {
        use k8s_openapi::api::core::v1::{Namespace, Node};
        let base = ["default", "kube-system", "kube-public", "kube-node-lease"];
        let namespaces = Api::<Namespace>::all(self.client.clone());
        let list = namespaces
            .list(&Default::default())
            .await
            .map_err(|source| HarnessError::Kube { what: "list namespaces".into(), source })?;
        let doomed: Vec<String> = list
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .filter(|n| !base.contains(&n.as_str()) && !keep_namespaces.contains(&n.as_str()))
            .collect();
        for n in 1..=self.nodes {
            let node = format!("node-{n}");
            self.node_script("start", &node).await?;
            self.kubectl(&["uncordon", &node]).await?;
        }
        let _ = run_command("iptables", &["-F", FAULT_CHAIN], None, None).await;
        for ns in &doomed {
            self.kubectl(&["delete", "namespace", ns, "--wait=false"]).await?;
        }
        super::wait_for(
            "scenario namespaces deleted",
            std::time::Duration::from_secs(240),
            std::time::Duration::from_millis(500),
            || async {
                let left: Vec<String> = match namespaces.list(&Default::default()).await {
                    Ok(l) => {
                        l.items.into_iter().filter_map(|n| n.metadata.name).filter(|n| doomed.contains(n)).collect()
                    }
                    Err(e) => return Err(e.to_string()),
                };
                if left.is_empty() {
                    Ok(Some(()))
                } else {
                    Err(format!("still there: {left:?}"))
                }
            },
        )
        .await?;
        let nodes = Api::<Node>::all(self.client.clone());
        super::wait_for(
            "every Node Ready",
            std::time::Duration::from_secs(180),
            std::time::Duration::from_millis(500),
            || async {
                let list = nodes.list(&Default::default()).await.map_err(|e| e.to_string())?;
                let not_ready: Vec<String> = list
                    .items
                    .into_iter()
                    .filter(|n| {
                        !n.status
                            .as_ref()
                            .and_then(|s| s.conditions.as_ref())
                            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                    })
                    .filter_map(|n| n.metadata.name)
                    .collect();
                if not_ready.is_empty() {
                    Ok(Some(()))
                } else {
                    Err(format!("not Ready: {not_ready:?}"))
                }
            },
        )
        .await?;
        step(format!("cluster reset: deleted namespaces {doomed:?}; every Node running, uncordoned and Ready"));
        Ok(())
    }

    /// Keep the directory after the test (it is kept anyway when the test panics).
    pub fn keep_dir(&mut self) {
        self.keep = true;
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

    pub async fn helm(&self, args: &[&str]) -> Result<String> {
        self.run("helm", args, None).await
    }

    /// `kubectl exec POD -c CONTAINER -- argv`: Ok(stdout).
    pub async fn exec(&self, ns: &str, pod: &str, container: &str, argv: &[&str]) -> Result<String> {
        let mut args = vec!["-n", ns, "exec", pod, "-c", container, "--"];
        args.extend_from_slice(argv);
        self.kubectl(&args).await
    }

    /// The Node and containerd id of a pod's container.
    pub async fn container(&self, ns: &str, pod: &str, container: &str) -> Result<(String, String)> {
        let p = Api::<Pod>::namespaced(self.client.clone(), ns)
            .get(pod)
            .await
            .map_err(|source| HarnessError::Kube { what: format!("get pod {ns}/{pod}"), source })?;
        let node = p.spec.as_ref().and_then(|s| s.node_name.clone());
        let id = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.name == container))
            .and_then(|c| c.container_id.clone());
        match (node, id.as_deref().and_then(|i| i.strip_prefix("containerd://"))) {
            (Some(node), Some(id)) => Ok((node, id.to_string())),
            (node, _) => Err(HarnessError::Check(format!(
                "{ns}/{pod} has no running container {container} (node {node:?}, id {id:?})"
            ))),
        }
    }

    /// A file of a pod's ConfigMap volume as its kubelet wrote it on the Node (what the
    /// container sees at the volume's mount; the images have no `cat` to show it).
    pub async fn configmap_file(&self, ns: &str, pod: &str, volume: &str, file: &str) -> Result<String> {
        let p = Api::<Pod>::namespaced(self.client.clone(), ns)
            .get(pod)
            .await
            .map_err(|source| HarnessError::Kube { what: format!("get pod {ns}/{pod}"), source })?;
        let node = p.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
        let uid = p.metadata.uid.clone().unwrap_or_default();
        let path = self
            .dir
            .join("nodes")
            .join(&node)
            .join("kubelet/pods")
            .join(&uid)
            .join("volumes/kubernetes.io~configmap")
            .join(volume)
            .join(file);
        std::fs::read_to_string(&path).map_err(|source| HarnessError::Io { what: path.display().to_string(), source })
    }

    /// `ctr` against one Node's containerd, in the kubelet's namespace.
    pub async fn ctr(&self, node: &str, args: &[&str]) -> Result<String> {
        let sock = self.dir.join("nodes").join(node).join("containerd.sock");
        let sock = sock.display().to_string();
        let mut all = vec!["-a", sock.as_str(), "-n", "k8s.io"];
        all.extend_from_slice(args);
        run_command("ctr", &all, None, None).await
    }

    /// SIGKILL to a container's process through its Node's containerd (a crash, as the kubelet
    /// sees one).
    pub async fn kill_container(&self, ns: &str, pod: &str, container: &str) -> Result<()> {
        let (node, id) = self.container(ns, pod, container).await?;
        self.ctr(&node, &["tasks", "kill", "--signal", "SIGKILL", &id]).await?;
        step(format!("kill -9 of {ns}/{pod} container {container} ({id:.12} on {node})"));
        Ok(())
    }

    /// Drops (or, with `cut = false`, lets through again) the TCP traffic to `port` of `ip`
    /// and from `ip` to `port` anywhere: the pod is cut off from its peers on that port while
    /// the kubelet still probes it. The rules live in [`FAULT_CHAIN`], which down.sh removes.
    pub async fn cut_port(&self, ip: &str, port: u16, cut: bool) -> Result<()> {
        if cut {
            let _ = run_command("iptables", &["-N", FAULT_CHAIN], None, None).await;
            // Pod to pod traffic between Nodes is routed by the host, and within a Node's
            // bridge it passes FORWARD too (br_netfilter).
            if run_command("iptables", &["-C", "FORWARD", "-j", FAULT_CHAIN], None, None).await.is_err() {
                run_command("iptables", &["-I", "FORWARD", "-j", FAULT_CHAIN], None, None).await?;
            }
        }
        let port = port.to_string();
        let op = if cut { "-A" } else { "-D" };
        for dir in ["-s", "-d"] {
            run_command(
                "iptables",
                &[op, FAULT_CHAIN, dir, ip, "-p", "tcp", "--dport", &port, "-j", "DROP"],
                None,
                None,
            )
            .await?;
        }
        step(format!("{} TCP port {port} of {ip}", if cut { "cut" } else { "restored" }));
        Ok(())
    }

    /// A Node's power loss (`e2e/nodes/node.sh DIR stop NODE`): its kubelet, containerd and
    /// every process of its pods are killed; the API server learns of it only by the missing
    /// heartbeats.
    pub async fn stop_node(&self, node: &str) -> Result<()> {
        self.node_script("stop", node).await
    }

    /// The Node's containerd and kubelet start again (`node.sh DIR start NODE`).
    pub async fn start_node(&self, node: &str) -> Result<()> {
        self.node_script("start", node).await
    }

    async fn node_script(&self, action: &str, node: &str) -> Result<()> {
        let script = repo_root().join("e2e/nodes/node.sh");
        let dir = self.dir.display().to_string();
        run_command(&script.display().to_string(), &[&dir, action, node], None, None).await?;
        step(format!("{node}: {action}"));
        Ok(())
    }

    /// Stops the cluster this handle started (an attached handle never stops it).
    pub fn stop(&mut self) {
        if !self.up || !self.owned {
            return;
        }
        self.up = false;
        let script = repo_root().join("e2e/nodes/down.sh");
        match std::process::Command::new(&script).arg(&self.dir).stderr(Stdio::null()).status() {
            Ok(st) if st.success() => {}
            other => eprintln!("down.sh {}: {other:?}", self.dir.display()),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        self.stop();
        if std::thread::panicking() || self.keep {
            eprintln!("kept {} (logs in logs/, cp/logs/, nodes/*/pod-logs/)", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A client with the admin kubeconfig. kube's client retries 429 answers on its own; tests
/// must see them (evictions refused by a disruption budget or the operator's webhook).
pub async fn admin_client(kubeconfig: &Path) -> Result<Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)
        .map_err(|e| HarnessError::Setup(format!("kubeconfig {}: {e}", kubeconfig.display())))?;
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .map_err(|e| HarnessError::Setup(format!("kubeconfig: {e}")))?;
    cfg.default_retry = false;
    Client::try_from(cfg).map_err(|source| HarnessError::Kube { what: "client".into(), source })
}

/// Runs `program args` with `KUBECONFIG`, feeding `stdin`; Ok(stdout) on success.
pub async fn run_tool(program: &Path, kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Result<String> {
    run_command(&program.display().to_string(), args, stdin, Some(kubeconfig)).await
}

async fn run_command(program: &str, args: &[&str], stdin: Option<&str>, kubeconfig: Option<&Path>) -> Result<String> {
    use tokio::io::AsyncWriteExt;
    let name = Path::new(program).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let shown = format!("{name} {}", args.join(" "));
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(kc) = kubeconfig {
        cmd.env("KUBECONFIG", kc);
    }
    let mut child = cmd.spawn().map_err(|source| HarnessError::Io { what: shown.clone(), source })?;
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
