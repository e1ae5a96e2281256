//! The node agent: plays the kubelet for one or more Nodes of a real API server.
//!
//! It registers its Nodes (Ready, capacity, zone labels, heartbeat and Lease), runs every pod
//! the scheduler binds to them as local processes ([`pod`]), provisions a directory-backed
//! PersistentVolume for each claim of its StorageClass ([`storage`]), and publishes the cluster's
//! DNS names as hosts files ([`dns`]) because pods here live on loopback addresses ([`ipam`]).
//! Deviations from a kubelet are listed where they happen; the main ones: no images (a binary
//! named like the command or image stands in), no mount namespaces (mount paths are rebased,
//! see [`container`]), no network namespaces (one loopback address per pod, DNS via hosts files).

pub mod container;
pub mod control;
pub mod dns;
pub mod ipam;
pub mod kubelet_api;
pub mod nodes;
pub mod pod;
pub mod probe;
pub mod process;
pub mod storage;
pub mod volumes;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Node, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Service};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use container::BinaryResolver;
pub use nodes::NodeSpec;

/// Errors starting the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("kubeconfig {path}: {reason}")]
    Kubeconfig { path: String, reason: String },
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{what}: {source}")]
    Api { what: String, source: kube::Error },
    #[error("the agent needs at least one node and at most 250")]
    Nodes,
}

/// Crash-loop back-off: the first restart is immediate, later ones wait `initial`, doubling up
/// to `max`; a container that ran for `2 * max` starts over (the kubelet's rules).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { initial: Duration::from_secs(10), max: Duration::from_secs(300) }
    }
}

/// How to run an agent.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Kubeconfig of the API server (None: the usual inference, `KUBECONFIG` etc.).
    pub kubeconfig: Option<PathBuf>,
    /// State, pod directories, volumes and logs.
    pub dir: PathBuf,
    pub bins: BinaryResolver,
    pub nodes: Vec<NodeSpec>,
    /// The 127.X.0.0/16 to use (None: any free one).
    pub loopback_octet: Option<u8>,
    /// Label value on the agent's Nodes.
    pub agent_id: String,
    pub backoff: Backoff,
    /// Serve the default StorageClass and provision volumes for it.
    pub provision_volumes: bool,
}

/// What a running agent publishes in `<dir>/agent.json` for tests and the CLI.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AgentInfo {
    pub agent_id: String,
    pub pid: u32,
    pub loopback_octet: u8,
    /// The cluster DNS hosts file (give it to clients as `OMRING_HOSTS_FILE`).
    pub hosts_file: PathBuf,
    pub nodes: Vec<(String, Ipv4Addr)>,
    pub bin_dirs: Vec<PathBuf>,
    pub api_server: String,
}

impl AgentInfo {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("agent.json")
    }
    pub fn read(dir: &Path) -> Option<Self> {
        std::fs::read(Self::path(dir)).ok().and_then(|b| serde_json::from_slice(&b).ok())
    }
}

/// Local caches of the objects the agent reads.
#[derive(Clone)]
pub struct Stores {
    pub pods: Store<Pod>,
    pub config_maps: Store<ConfigMap>,
    pub secrets: Store<Secret>,
    pub services: Store<Service>,
    pub pvcs: Store<PersistentVolumeClaim>,
    pub pvs: Store<PersistentVolume>,
    pub nodes: Store<Node>,
}

/// What pod workers share.
pub struct Shared {
    pub client: Client,
    pub cfg: AgentConfig,
    pub stores: Stores,
    pub spawner: process::Spawner,
    pub pools: Mutex<BTreeMap<String, ipam::NodePool>>,
    pub node_ips: BTreeMap<String, Ipv4Addr>,
    pub records: watch::Receiver<Arc<dns::Records>>,
    /// Bumped on every watch event (ConfigMaps, Secrets, claims...): workers re-sync volumes.
    pub world: watch::Receiver<u64>,
    pub api_server: String,
    pub http: reqwest::Client,
}

impl Shared {
    pub fn pods_dir(&self) -> PathBuf {
        self.cfg.dir.join("pods")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.cfg.dir.join("logs")
    }
    pub fn volumes_dir(&self) -> PathBuf {
        self.cfg.dir.join("volumes")
    }
}

/// Now, as the API server writes times (RFC 3339, whole seconds).
pub fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Now with microseconds (Lease renew times).
pub fn now_rfc3339_micros() -> String {
    k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> AgentError {
    let what = what.into();
    move |source| AgentError::Io { what, source }
}

async fn client_for(cfg: &AgentConfig) -> Result<Client, AgentError> {
    let shown = cfg.kubeconfig.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "(default)".into());
    let err = |reason: String| AgentError::Kubeconfig { path: shown.clone(), reason };
    let config = match &cfg.kubeconfig {
        Some(p) => {
            let kc = kube::config::Kubeconfig::read_from(p).map_err(|e| err(e.to_string()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.map_err(|e| err(e.to_string()))?
        }
        None => kube::Config::infer().await.map_err(|e| err(e.to_string()))?,
    };
    Client::try_from(config).map_err(|e| err(e.to_string()))
}

/// Starts a reflector for `api`; every event bumps `world`.
fn reflect<K>(api: Api<K>, world: watch::Sender<u64>) -> (Store<K>, JoinHandle<()>)
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let task = tokio::spawn(async move {
        let stream = watcher(api, watcher::Config::default()).default_backoff().reflect(writer);
        futures::pin_mut!(stream);
        while let Some(ev) = stream.next().await {
            if let Err(e) = ev {
                tracing::debug!("watch error: {e}");
            }
            world.send_modify(|g| *g = g.wrapping_add(1));
        }
    });
    (store, task)
}

/// A running agent: dropping it stops everything (processes die with the spawner thread).
pub struct Agent {
    pub info: AgentInfo,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), AgentError>>>,
    _range: ipam::LoopbackRange,
}

impl Agent {
    /// Registers the Nodes, starts watching and serving pods, and returns once the caches have
    /// synced and `<dir>/agent.json` is written.
    pub async fn start(cfg: AgentConfig) -> Result<Agent, AgentError> {
        if cfg.nodes.is_empty() || cfg.nodes.len() > 250 {
            return Err(AgentError::Nodes);
        }
        for d in ["pods", "logs", "volumes"] {
            std::fs::create_dir_all(cfg.dir.join(d)).map_err(io_err(format!("creating {}", cfg.dir.display())))?;
        }
        let client = client_for(&cfg).await?;
        let range = ipam::LoopbackRange::claim(cfg.loopback_octet).map_err(io_err("claiming a loopback range"))?;
        let spawner = process::Spawner::new().map_err(io_err("starting the spawner thread"))?;
        let api_err = |what: &str| {
            let what = what.to_string();
            move |source| AgentError::Api { what, source }
        };
        if cfg.provision_volumes {
            storage::ensure_storage_class(&client).await.map_err(api_err("creating the StorageClass"))?;
        }
        let since = now_rfc3339();
        let ips: Vec<std::net::IpAddr> =
            (0..cfg.nodes.len()).map(|i| std::net::IpAddr::V4(range.node_ip(i as u8 + 1))).collect();
        let ports = kubelet_api::start(&ips, cfg.dir.join("logs"), cfg.dir.join("pods"))
            .await
            .map_err(|e| AgentError::Io { what: "kubelet API".into(), source: std::io::Error::other(e) })?;
        let mut node_ips = BTreeMap::new();
        let mut kubelet_ports = BTreeMap::new();
        let mut pools = BTreeMap::new();
        for (i, n) in cfg.nodes.iter().enumerate() {
            let ip = range.node_ip(i as u8 + 1);
            nodes::register(&client, n, ip, &cfg.agent_id, ports[i], &since)
                .await
                .map_err(api_err(&format!("registering node {}", n.name)))?;
            node_ips.insert(n.name.clone(), ip);
            kubelet_ports.insert(n.name.clone(), ports[i]);
            pools.insert(n.name.clone(), ipam::NodePool::new(&range, i as u8 + 1));
        }

        let (world_tx, world_rx) = watch::channel(0u64);
        let mut tasks = Vec::new();
        let mut mk = |t: JoinHandle<()>| tasks.push(t);
        let (pods, t) = reflect(Api::<Pod>::all(client.clone()), world_tx.clone());
        mk(t);
        let (config_maps, t) = reflect(Api::<ConfigMap>::all(client.clone()), world_tx.clone());
        mk(t);
        let (secrets, t) = reflect(Api::<Secret>::all(client.clone()), world_tx.clone());
        mk(t);
        let (services, t) = reflect(Api::<Service>::all(client.clone()), world_tx.clone());
        mk(t);
        let (pvcs, t) = reflect(Api::<PersistentVolumeClaim>::all(client.clone()), world_tx.clone());
        mk(t);
        let (pvs, t) = reflect(Api::<PersistentVolume>::all(client.clone()), world_tx.clone());
        mk(t);
        let (node_store, t) = reflect(Api::<Node>::all(client.clone()), world_tx.clone());
        mk(t);
        let stores = Stores { pods, config_maps, secrets, services, pvcs, pvs, nodes: node_store };
        for ready in [
            stores.pods.wait_until_ready().await,
            stores.config_maps.wait_until_ready().await,
            stores.secrets.wait_until_ready().await,
            stores.services.wait_until_ready().await,
            stores.pvcs.wait_until_ready().await,
            stores.pvs.wait_until_ready().await,
            stores.nodes.wait_until_ready().await,
        ] {
            ready.map_err(|_| AgentError::Io {
                what: "watch caches".into(),
                source: std::io::Error::other("a watch ended before its cache was filled"),
            })?;
        }

        let (records_tx, records_rx) = watch::channel(Arc::new(dns::Records::new()));
        let hosts_file = cfg.dir.join("hosts");
        let api_server = client_url(&cfg).unwrap_or_default();
        let info = AgentInfo {
            agent_id: cfg.agent_id.clone(),
            pid: std::process::id(),
            loopback_octet: range.octet,
            hosts_file: hosts_file.clone(),
            nodes: node_ips.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            bin_dirs: cfg.bins.bin_dirs.clone(),
            api_server: api_server.clone(),
        };
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| AgentError::Io { what: "HTTP client".into(), source: std::io::Error::other(e) })?;
        let shared = Arc::new(Shared {
            client: client.clone(),
            cfg: cfg.clone(),
            stores,
            spawner,
            pools: Mutex::new(pools),
            node_ips,
            records: records_rx,
            world: world_rx.clone(),
            api_server,
            http,
        });
        // The DNS file must exist before anything reads it.
        let initial = compute_records(&shared);
        dns::write_if_changed(&hosts_file, &dns::cluster_hosts_file(&initial)).map_err(io_err("writing hosts"))?;
        records_tx.send_replace(Arc::new(initial));
        let json = serde_json::to_vec_pretty(&info).unwrap_or_default();
        let tmp = AgentInfo::path(&cfg.dir).with_extension("tmp");
        std::fs::write(&tmp, json).map_err(io_err("writing agent.json"))?;
        std::fs::rename(&tmp, AgentInfo::path(&cfg.dir)).map_err(io_err("writing agent.json"))?;

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(run(shared, records_tx, world_rx, stop_rx, tasks, kubelet_ports, since));
        tracing::info!(
            "node agent {} up: nodes {:?}, pods on 127.{}.0.0/16, DNS in {}",
            info.agent_id,
            info.nodes,
            info.loopback_octet,
            info.hosts_file.display()
        );
        Ok(Agent { info, shutdown: Some(stop_tx), task: Some(task), _range: range })
    }

    /// Stops all pods' processes (SIGTERM, then SIGKILL after a few seconds), marks the Nodes
    /// NotReady and waits for all of it.
    pub async fn stop(mut self) -> Result<(), AgentError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(t) => t.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }

    /// Resolves when the agent stopped on its own (an unrecoverable error).
    pub async fn wait(&mut self) -> Result<(), AgentError> {
        match self.task.as_mut() {
            Some(t) => t.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

fn client_url(cfg: &AgentConfig) -> Option<String> {
    let kc = match &cfg.kubeconfig {
        Some(p) => kube::config::Kubeconfig::read_from(p).ok()?,
        None => kube::config::Kubeconfig::read().ok()?,
    };
    let ctx_name = kc.current_context.clone()?;
    let ctx = kc.contexts.iter().find(|c| c.name == ctx_name)?.context.clone()?;
    let cluster = kc.clusters.iter().find(|c| c.name == ctx.cluster)?.cluster.clone()?;
    cluster.server
}

fn compute_records(sh: &Shared) -> dns::Records {
    let pods = sh.stores.pods.state();
    let pod_refs: Vec<&Pod> = pods.iter().map(|p| p.as_ref()).collect();
    let services = sh.stores.services.state();
    dns::cluster_records(services.iter().map(|s| s.as_ref()), &pod_refs)
}

struct WorkerEntry {
    tx: watch::Sender<pod::PodUpdate>,
    task: JoinHandle<()>,
}

async fn run(
    sh: Arc<Shared>,
    records_tx: watch::Sender<Arc<dns::Records>>,
    mut world: watch::Receiver<u64>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    watch_tasks: Vec<JoinHandle<()>>,
    kubelet_ports: BTreeMap<String, u16>,
    since: String,
) -> Result<(), AgentError> {
    let mut workers: HashMap<String, WorkerEntry> = HashMap::new();
    // Pods whose worker finished (terminal phase): never started again.
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut provisioning: BTreeSet<String> = BTreeSet::new();
    let (prov_done_tx, mut prov_done_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut heartbeat = tokio::time::interval(Duration::from_secs(10));
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let our_nodes: BTreeSet<String> = sh.cfg.nodes.iter().map(|n| n.name.clone()).collect();
    let hosts_file = sh.cfg.dir.join("hosts");
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = world.changed() => {
                // Let a burst of events settle.
                tokio::time::sleep(Duration::from_millis(20)).await;
                world.borrow_and_update();
            }
            _ = heartbeat.tick() => {
                for n in &sh.cfg.nodes {
                    let ip = sh.node_ips.get(&n.name).copied().unwrap_or(Ipv4Addr::LOCALHOST);
                    let port = kubelet_ports.get(&n.name).copied().unwrap_or(10250);
                    if let Err(e) = nodes::heartbeat(&sh.client, n, ip, port, &since).await {
                        tracing::warn!("heartbeat of node {}: {e}", n.name);
                    }
                }
            }
            Some(uid) = prov_done_rx.recv() => { provisioning.remove(&uid); }
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }

        // Cluster DNS.
        let records = compute_records(&sh);
        if **records_tx.borrow() != records {
            if let Err(e) = dns::write_if_changed(&hosts_file, &dns::cluster_hosts_file(&records)) {
                tracing::warn!("writing {}: {e}", hosts_file.display());
            }
            records_tx.send_replace(Arc::new(records));
        }

        // Volumes.
        if sh.cfg.provision_volumes {
            for pvc in sh.stores.pvcs.state() {
                let uid = pvc.metadata.uid.clone().unwrap_or_default();
                if storage::wants_volume(&pvc) && provisioning.insert(uid.clone()) {
                    let (sh2, tx) = (sh.clone(), prov_done_tx.clone());
                    tokio::spawn(async move {
                        match storage::provision(&sh2.client, &pvc, &sh2.volumes_dir()).await {
                            Ok(pv) => tracing::info!(
                                "provisioned {pv} for claim {}/{}",
                                pvc.metadata.namespace.as_deref().unwrap_or(""),
                                pvc.metadata.name.as_deref().unwrap_or("")
                            ),
                            Err(e) => tracing::warn!("{e}"),
                        }
                        // Retried on a later pass if the claim is still unbound.
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        let _ = tx.send(uid);
                    });
                }
            }
            for pv in sh.stores.pvs.state() {
                let sh2 = sh.clone();
                if storage::reclaim_if_released(&sh2.client, &pv, &sh2.volumes_dir()).await.unwrap_or_else(|e| {
                    tracing::warn!("{e}");
                    false
                }) {
                    tracing::info!("deleted released volume {}", pv.metadata.name.as_deref().unwrap_or(""));
                }
            }
        }

        // Pods.
        let mut present = BTreeSet::new();
        for p in sh.stores.pods.state() {
            let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) else { continue };
            if !our_nodes.contains(node) {
                continue;
            }
            let Some(uid) = p.metadata.uid.clone() else { continue };
            present.insert(uid.clone());
            if let Some(w) = workers.get(&uid) {
                w.tx.send_if_modified(|cur| match cur {
                    pod::PodUpdate::Present(old) if old.metadata.resource_version == p.metadata.resource_version => {
                        false
                    }
                    pod::PodUpdate::Present(_) => {
                        *cur = pod::PodUpdate::Present(p.clone());
                        true
                    }
                    _ => false,
                });
            } else if !done.contains(&uid) && !pod::is_finished(&p) {
                let (tx, rx) = watch::channel(pod::PodUpdate::Present(p.clone()));
                let task = tokio::spawn(pod::run_worker(sh.clone(), p.clone(), rx));
                workers.insert(uid, WorkerEntry { tx, task });
            }
        }
        for (uid, w) in &workers {
            if !present.contains(uid) {
                w.tx.send_if_modified(|cur| {
                    let changed = !matches!(cur, pod::PodUpdate::Gone);
                    *cur = pod::PodUpdate::Gone;
                    changed
                });
            }
        }
        workers.retain(|uid, w| {
            if w.task.is_finished() {
                done.insert(uid.clone());
                false
            } else {
                true
            }
        });
        done.retain(|uid| present.contains(uid));
    }

    tracing::info!("node agent stopping: stopping {} pods", workers.len());
    for w in workers.values() {
        let _ = w.tx.send(pod::PodUpdate::Shutdown);
    }
    for (_, w) in workers.drain() {
        let _ = w.task.await;
    }
    for n in &sh.cfg.nodes {
        if let Err(e) = nodes::mark_not_ready(&sh.client, &n.name).await {
            tracing::warn!("marking node {} NotReady: {e}", n.name);
        }
    }
    for t in watch_tasks {
        t.abort();
    }
    Ok(())
}
