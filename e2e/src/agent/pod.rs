//! One pod's life on a Node, as the kubelet runs it: an address, volumes, init containers in
//! order, then every container as a supervised process with probes, restarts with back-off,
//! status reported to the API server, and on deletion SIGTERM, the grace period, SIGKILL and the
//! final delete that removes the object.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Container, ObjectReference, Pod, ServiceAccount, Volume};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::Resource;
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};

use super::container::{self, EnvSources, MountMap};
use super::control::{self, ContainerRecord};
use super::probe::{self, Outcome, Timing};
use super::process::{ExitInfo, ProcessHandle, SpawnSpec};
use super::volumes::{self, Payload};
use super::{dns, Shared};

/// What the dispatcher tells a pod worker.
#[derive(Debug, Clone)]
pub enum PodUpdate {
    /// The pod as last seen in the API.
    Present(Arc<Pod>),
    /// The object is gone (force-deleted): kill everything now.
    Gone,
    /// The agent stops: stop the processes, leave the API object alone.
    Shutdown,
}

/// A pod whose containers all ended for good.
pub fn is_finished(p: &Pod) -> bool {
    matches!(p.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded") | Some("Failed"))
}

fn now() -> String {
    super::now_rfc3339()
}

#[derive(Debug, Clone)]
struct Term {
    exit_code: i32,
    signal: Option<i32>,
    reason: String,
    started_at: String,
    finished_at: String,
    container_id: String,
}

#[derive(Debug, Clone)]
enum Run {
    Waiting { reason: String, message: String },
    Running { started_at: String, handle: ProcessHandle },
    Terminated(Term),
}

#[derive(Debug)]
struct CState {
    run: Run,
    last: Option<Term>,
    restart_count: i32,
    ready: bool,
    started: bool,
    ever_ran: bool,
    /// Ended and will not run again.
    done: bool,
    program: Option<PathBuf>,
    last_spec: Option<SpawnSpec>,
    backoff: Option<Duration>,
    backoff_at: Option<Instant>,
}

struct Slot {
    spec: Container,
    init: bool,
    st: Mutex<CState>,
    /// Some(deadline for SIGKILL) once the container is to stop.
    stop: watch::Sender<Option<Instant>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Slot {
    fn new(spec: Container, init: bool, restart_count: i32) -> Arc<Self> {
        let (stop, _) = watch::channel(None);
        Arc::new(Self {
            spec,
            init,
            st: Mutex::new(CState {
                run: Run::Waiting { reason: "ContainerCreating".into(), message: String::new() },
                last: None,
                restart_count,
                ready: false,
                started: false,
                ever_ran: false,
                done: false,
                program: None,
                last_spec: None,
                backoff: None,
                backoff_at: None,
            }),
            stop,
            task: Mutex::new(None),
        })
    }

    fn with<R>(&self, f: impl FnOnce(&mut CState) -> R) -> R {
        let mut g = self.st.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    fn is_sidecar(&self) -> bool {
        self.init && self.spec.restart_policy.as_deref() == Some("Always")
    }
}

/// What supervisors share with their pod worker.
struct Ctx {
    sh: Arc<Shared>,
    uid: String,
    ns: String,
    name: String,
    node: String,
    ip: Ipv4Addr,
    host_ip: Ipv4Addr,
    dir: PathBuf,
    log_dir: PathBuf,
    pod: Mutex<Arc<Pod>>,
    mounts: Mutex<BTreeMap<String, MountMap>>,
    changed: Notify,
    recorder: Recorder,
    pod_ref: ObjectReference,
}

impl Ctx {
    fn pod(&self) -> Arc<Pod> {
        self.pod.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn event(&self, type_: EventType, reason: &str, action: &str, note: String) {
        let ev = Event { type_, reason: reason.into(), note: Some(note), action: action.into(), secondary: None };
        if let Err(e) = self.recorder.publish(&ev, &self.pod_ref).await {
            tracing::debug!("event for {}/{}: {e}", self.ns, self.name);
        }
    }

    fn restart_policy(&self) -> String {
        self.pod().spec.as_ref().and_then(|s| s.restart_policy.clone()).unwrap_or_else(|| "Always".into())
    }

    fn config_map_strings(&self, name: &str) -> Option<BTreeMap<String, String>> {
        let cm = self.sh.stores.config_maps.get(&ObjectRef::new(name).within(&self.ns))?;
        Some(
            volumes::config_map_data(&cm)
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
                .collect(),
        )
    }

    fn secret_strings(&self, name: &str) -> Option<BTreeMap<String, String>> {
        let s = self.sh.stores.secrets.get(&ObjectRef::new(name).within(&self.ns))?;
        Some(volumes::secret_data(&s).into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect())
    }

    /// Everything needed to start `c` now.
    fn spawn_spec(&self, c: &Container, restart_count: i32) -> Result<SpawnSpec, String> {
        let pod = self.pod();
        let mounts = self.mounts.lock().unwrap_or_else(|e| e.into_inner()).get(&c.name).cloned().unwrap_or_default();
        let node = self.sh.stores.nodes.get(&ObjectRef::new(&self.node));
        let (ip, host_ip) = (self.ip.to_string(), self.host_ip.to_string());
        let cm = |n: &str| self.config_map_strings(n);
        let secret = |n: &str| self.secret_strings(n);
        let src = EnvSources {
            pod: &pod,
            node: node.as_deref(),
            pod_ip: &ip,
            host_ip: &host_ip,
            config_map: &cm,
            secret: &secret,
        };
        let user_env = container::container_env(c, &src).map_err(|e| e.to_string())?;
        let user_env: Vec<(String, String)> = user_env.into_iter().map(|(k, v)| (k, mounts.rebase(&v))).collect();
        let (program, args) =
            container::command_line(c, &user_env, &self.sh.cfg.bins, &mounts).map_err(|e| e.to_string())?;
        let hostname = pod.spec.as_ref().and_then(|s| s.hostname.clone()).unwrap_or_else(|| self.name.clone());
        let rootfs = self.dir.join("rootfs");
        let cwd = match c.working_dir.as_deref() {
            Some(w) => mounts.host_path(w).unwrap_or_else(|| rootfs.join(w.trim_start_matches('/'))),
            None => rootfs.clone(),
        };
        std::fs::create_dir_all(&cwd).map_err(|e| format!("creating working directory {}: {e}", cwd.display()))?;
        let mut path = self.sh.cfg.bins.bin_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>();
        path.push("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
        let (api_host, api_port) = api_host_port(&self.sh.api_server);
        let mut env = vec![
            ("PATH".to_string(), path.join(":")),
            ("HOSTNAME".to_string(), hostname),
            ("HOME".to_string(), rootfs.display().to_string()),
            (om_client::hosts::ENV_HOSTS_FILE.to_string(), self.dir.join("hosts").display().to_string()),
            ("KUBERNETES_SERVICE_HOST".to_string(), api_host),
            ("KUBERNETES_SERVICE_PORT".to_string(), api_port),
        ];
        for (k, v) in user_env {
            env.retain(|(ek, _)| *ek != k);
            env.push((k, v));
        }
        let log_dir = self.log_dir.join(&c.name);
        std::fs::create_dir_all(&log_dir).map_err(|e| format!("creating {}: {e}", log_dir.display()))?;
        Ok(SpawnSpec { program, args, env, cwd, log: log_dir.join(format!("{restart_count}.log")) })
    }
}

fn api_host_port(url: &str) -> (String, String) {
    let rest = url.split("://").nth(1).unwrap_or(url).trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.to_string()),
        None => (rest.to_string(), "443".into()),
    }
}

/// Runs one pod until it is deleted, gone or the agent stops.
pub async fn run_worker(sh: Arc<Shared>, pod: Arc<Pod>, mut updates: watch::Receiver<PodUpdate>) {
    let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let name = pod.metadata.name.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
    let host_ip = sh.node_ips.get(&node).copied().unwrap_or(Ipv4Addr::LOCALHOST);
    // Keep the address an earlier agent gave this pod, if it is still free.
    let old_ip: Option<Ipv4Addr> = pod.status.as_ref().and_then(|s| s.pod_ip.as_deref()).and_then(|s| s.parse().ok());
    let ip = {
        let mut pools = sh.pools.lock().unwrap_or_else(|e| e.into_inner());
        let Some(pool) = pools.get_mut(&node) else { return };
        match old_ip {
            Some(ip) if pool.reserve(ip) => Some(ip),
            _ => pool.allocate(),
        }
    };
    let Some(ip) = ip else {
        tracing::error!("node {node} has no free pod address for {ns}/{name}");
        return;
    };
    let dir = sh.pods_dir().join(control::pod_dir_name(&ns, &name, &uid));
    let log_dir = sh.logs_dir().join(control::pod_dir_name(&ns, &name, &uid));
    let _ = std::fs::create_dir_all(dir.join("rootfs"));
    let _ = std::fs::create_dir_all(&log_dir);
    let recorder =
        Recorder::new(sh.client.clone(), Reporter { controller: "kubelet".into(), instance: Some(node.clone()) });
    let pod_ref = pod.object_ref(&());
    let ctx = Arc::new(Ctx {
        sh: sh.clone(),
        uid: uid.clone(),
        ns: ns.clone(),
        name: name.clone(),
        node: node.clone(),
        ip,
        host_ip,
        dir: dir.clone(),
        log_dir,
        pod: Mutex::new(pod.clone()),
        mounts: Mutex::new(BTreeMap::new()),
        changed: Notify::new(),
        recorder,
        pod_ref,
    });
    let spec = pod.spec.clone().unwrap_or_default();
    let prev_count = |c: &str, init: bool| -> i32 {
        let st = pod.status.as_ref();
        let list = if init {
            st.and_then(|s| s.init_container_statuses.as_ref())
        } else {
            st.and_then(|s| s.container_statuses.as_ref())
        };
        list.and_then(|l| l.iter().find(|s| s.name == c)).map(|s| s.restart_count).unwrap_or(0)
    };
    let policy = spec.restart_policy.clone().unwrap_or_else(|| "Always".into());
    let init: Vec<Arc<Slot>> =
        spec.init_containers.iter().flatten().map(|c| Slot::new(c.clone(), true, prev_count(&c.name, true))).collect();
    let main: Vec<Arc<Slot>> =
        spec.containers.iter().map(|c| Slot::new(c.clone(), false, prev_count(&c.name, false))).collect();
    // Adopted from an earlier agent: containers that completed for good stay completed (the API
    // server refuses a terminated container going back to waiting unless restartPolicy Always).
    let st = pod.status.as_ref();
    for (slots, list) in [
        (&init, st.and_then(|s| s.init_container_statuses.as_ref())),
        (&main, st.and_then(|s| s.container_statuses.as_ref())),
    ] {
        for slot in slots {
            let t = list
                .and_then(|l| l.iter().find(|c| c.name == slot.spec.name))
                .and_then(|c| c.state.as_ref()?.terminated.clone());
            let Some(t) = t else { continue };
            let final_ok = t.exit_code == 0 && (slot.init || policy != "Always");
            let final_failed = t.exit_code != 0 && policy == "Never";
            if (final_ok && !slot.is_sidecar()) || final_failed {
                let fmt = |x: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
                    x.as_ref().map(|t| t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
                };
                slot.with(|s| {
                    s.run = Run::Terminated(Term {
                        exit_code: t.exit_code,
                        signal: t.signal,
                        reason: t.reason.clone().unwrap_or_default(),
                        started_at: fmt(&t.started_at),
                        finished_at: fmt(&t.finished_at),
                        container_id: t.container_id.clone().unwrap_or_default(),
                    });
                    s.ever_ran = true;
                    s.done = true;
                });
            }
        }
    }
    let mut w = Worker {
        ctx,
        init,
        main,
        start_time: pod
            .status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .map(|t| t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_else(now),
        conditions: BTreeMap::new(),
        last_status: None,
        volume_error: None,
        tokens: BTreeMap::new(),
    };
    w.run(&mut updates).await;
    sh.pools.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&node).map(|p| p.release(ip));
}

struct Worker {
    ctx: Arc<Ctx>,
    init: Vec<Arc<Slot>>,
    main: Vec<Arc<Slot>>,
    start_time: String,
    /// type -> (status, lastTransitionTime, reason, message)
    conditions: BTreeMap<String, (String, String, Option<String>, Option<String>)>,
    last_status: Option<Value>,
    volume_error: Option<String>,
    /// (volume, path) -> (token, refresh after)
    tokens: BTreeMap<(String, String), (String, Instant)>,
}

enum End {
    Deleted,
    Gone,
    Shutdown,
    Finished,
}

impl Worker {
    fn all_slots(&self) -> impl Iterator<Item = &Arc<Slot>> {
        self.init.iter().chain(self.main.iter())
    }

    async fn run(&mut self, updates: &mut watch::Receiver<PodUpdate>) {
        let mut records = self.ctx.sh.records.clone();
        let mut world = self.ctx.sh.world.clone();
        let end = loop {
            let update = updates.borrow_and_update().clone();
            match update {
                PodUpdate::Gone => break End::Gone,
                PodUpdate::Shutdown => break End::Shutdown,
                PodUpdate::Present(p) => *self.ctx.pod.lock().unwrap_or_else(|e| e.into_inner()) = p,
            }
            let pod = self.ctx.pod();
            if pod.metadata.deletion_timestamp.is_some() {
                break End::Deleted;
            }
            tracing::trace!("{}/{}: sync", self.ctx.ns, self.ctx.name);
            self.write_hosts(&records.borrow_and_update());
            match self.sync_volumes().await {
                Ok(()) => {
                    if self.volume_error.take().is_some() {
                        tracing::info!("{}/{}: volumes ready", self.ctx.ns, self.ctx.name);
                    }
                    self.start_containers();
                }
                Err(e) => {
                    if self.volume_error.as_deref() != Some(e.as_str()) {
                        self.ctx.event(EventType::Warning, "FailedMount", "Mount", e.clone()).await;
                    }
                    self.volume_error = Some(e);
                }
            }
            self.push_status().await;
            if self.phase() == "Succeeded" || self.phase() == "Failed" {
                break End::Finished;
            }
            let changed = self.ctx.clone();
            tokio::select! {
                _ = updates.changed() => {}
                _ = records.changed() => {}
                _ = world.changed() => {}
                _ = changed.changed.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        };
        match end {
            End::Deleted => self.terminate(updates).await,
            End::Gone => {
                self.stop_all(Instant::now(), updates).await;
                self.cleanup();
            }
            End::Shutdown => {
                self.stop_all(Instant::now() + Duration::from_secs(5), updates).await;
            }
            End::Finished => {
                self.stop_all(Instant::now(), updates).await;
                self.push_status().await;
                self.cleanup();
            }
        }
    }

    fn write_hosts(&self, records: &dns::Records) {
        let content = dns::pod_hosts_file(&self.ctx.pod(), &self.ctx.ip.to_string(), records);
        if let Err(e) = dns::write_if_changed(&self.ctx.dir.join("hosts"), &content) {
            tracing::warn!("{}/{}: writing hosts file: {e}", self.ctx.ns, self.ctx.name);
        }
    }

    /// Starts whatever may run now: init containers one by one, then all containers.
    fn start_containers(&mut self) {
        for slot in &self.init {
            let (running, done) = slot.with(|s| (matches!(s.run, Run::Running { .. }), s.done));
            let started_task = slot.task.lock().unwrap_or_else(|e| e.into_inner()).is_some();
            if !started_task && !done {
                self.spawn_supervisor(slot.clone());
                return;
            }
            if slot.is_sidecar() {
                if !(running && slot.with(|s| s.started)) {
                    return;
                }
                continue;
            }
            if !done {
                return;
            }
            let ok = slot.with(|s| matches!(&s.run, Run::Terminated(t) if t.exit_code == 0));
            if !ok {
                return; // failed for good (restartPolicy Never): the pod fails
            }
        }
        for slot in self.main.clone() {
            if slot.task.lock().unwrap_or_else(|e| e.into_inner()).is_none() && !slot.with(|s| s.done) {
                self.spawn_supervisor(slot);
            }
        }
    }

    fn spawn_supervisor(&self, slot: Arc<Slot>) {
        let t = tokio::spawn(supervise(self.ctx.clone(), slot.clone(), slot.stop.subscribe()));
        *slot.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
    }

    /// Stops every container: SIGTERM now, SIGKILL at `deadline`; follows a shortened grace
    /// period or a force delete while waiting.
    async fn stop_all(&mut self, deadline: Instant, updates: &mut watch::Receiver<PodUpdate>) {
        let mut deadline = deadline;
        for s in self.all_slots() {
            s.stop.send_replace(Some(deadline));
        }
        let tasks: Vec<_> =
            self.all_slots().filter_map(|s| s.task.lock().unwrap_or_else(|e| e.into_inner()).take()).collect();
        let all = futures::future::join_all(tasks);
        tokio::pin!(all);
        let mut closed = false;
        loop {
            tokio::select! {
                _ = &mut all => return,
                r = updates.changed(), if !closed => {
                    let new_deadline = match (r.is_err(), &*updates.borrow()) {
                        (true, _) | (_, PodUpdate::Gone) => Some(Instant::now()),
                        (_, PodUpdate::Present(p)) => p
                            .metadata
                            .deletion_grace_period_seconds
                            .map(|g| Instant::now() + Duration::from_secs(g.max(0) as u64)),
                        _ => None,
                    };
                    closed = r.is_err();
                    if let Some(d) = new_deadline.filter(|d| *d < deadline) {
                        deadline = d;
                        for s in self.all_slots() {
                            s.stop.send_replace(Some(deadline));
                        }
                    }
                }
            }
        }
    }

    /// Graceful deletion: stop containers within the grace period, report the final status,
    /// then delete the object with grace 0 (the kubelet's part of a pod deletion).
    async fn terminate(&mut self, updates: &mut watch::Receiver<PodUpdate>) {
        let pod = self.ctx.pod();
        let grace = pod
            .metadata
            .deletion_grace_period_seconds
            .or_else(|| pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds))
            .unwrap_or(30)
            .max(0) as u64;
        for s in &self.main {
            if s.with(|st| matches!(st.run, Run::Running { .. })) {
                self.ctx
                    .event(EventType::Normal, "Killing", "Kill", format!("Stopping container {}", s.spec.name))
                    .await;
            }
        }
        for s in self.all_slots() {
            s.with(|st| st.ready = false);
        }
        self.push_status().await;
        self.stop_all(Instant::now() + Duration::from_secs(grace), updates).await;
        self.push_status().await;
        self.cleanup();
        let api: Api<Pod> = Api::namespaced(self.ctx.sh.client.clone(), &self.ctx.ns);
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions { uid: Some(self.ctx.uid.clone()), resource_version: None }),
            ..Default::default()
        };
        match api.delete(&self.ctx.name, &dp).await {
            Ok(_) => tracing::info!("{}/{}: deleted", self.ctx.ns, self.ctx.name),
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => tracing::warn!("{}/{}: final delete: {e}", self.ctx.ns, self.ctx.name),
        }
    }

    fn cleanup(&self) {
        let _ = std::fs::remove_dir_all(&self.ctx.dir);
    }

    // ---- volumes

    async fn sync_volumes(&mut self) -> Result<(), String> {
        let pod = self.ctx.pod();
        let spec = pod.spec.clone().unwrap_or_default();
        let vol_root = self.ctx.dir.join("volumes");
        let mut dirs: BTreeMap<String, PathBuf> = BTreeMap::new();
        let mut projected: Vec<&Volume> = Vec::new();
        for v in spec.volumes.iter().flatten() {
            let dir = if let Some(c) = &v.persistent_volume_claim {
                self.claim_dir(&c.claim_name)?
            } else if let Some(h) = &v.host_path {
                let p = PathBuf::from(&h.path);
                if matches!(h.type_.as_deref(), None | Some("") | Some("DirectoryOrCreate")) {
                    std::fs::create_dir_all(&p).map_err(|e| format!("hostPath {}: {e}", p.display()))?;
                }
                p
            } else if v.empty_dir.is_some() {
                let p = vol_root.join(&v.name);
                std::fs::create_dir_all(&p).map_err(|e| format!("emptyDir {}: {e}", p.display()))?;
                p
            } else if v.config_map.is_some() || v.secret.is_some() || v.downward_api.is_some() || v.projected.is_some()
            {
                projected.push(v);
                vol_root.join(&v.name)
            } else {
                return Err(format!("volume {}: this type is not supported by the omring node agent", v.name));
            };
            dirs.insert(v.name.clone(), dir);
        }
        let mut per_container = BTreeMap::new();
        let mut union: Vec<(String, PathBuf)> = Vec::new();
        for c in spec.init_containers.iter().flatten().chain(spec.containers.iter()) {
            let mut pairs = Vec::new();
            for m in c.volume_mounts.iter().flatten() {
                let base = dirs.get(&m.name).ok_or_else(|| format!("container {}: no volume {}", c.name, m.name))?;
                let host = match m.sub_path.as_deref().filter(|s| !s.is_empty()) {
                    Some(sub) => {
                        let p = base.join(sub);
                        if !projected.iter().any(|v| v.name == m.name) {
                            std::fs::create_dir_all(&p).map_err(|e| format!("subPath {}: {e}", p.display()))?;
                        }
                        p
                    }
                    None => base.clone(),
                };
                pairs.push((m.mount_path.clone(), host.clone()));
                if !union.iter().any(|(mp, _)| *mp == m.mount_path) {
                    union.push((m.mount_path.clone(), host));
                }
            }
            per_container.insert(c.name.clone(), MountMap::new(pairs));
        }
        let union = MountMap::new(union);
        for v in projected {
            let mut payload = self.payload(v).await?;
            for (content, _) in payload.values_mut() {
                if let Ok(text) = std::str::from_utf8(content) {
                    let rebased = union.rebase(text);
                    if rebased != text {
                        *content = rebased.into_bytes();
                    }
                }
            }
            let dir = &dirs[&v.name];
            volumes::write_atomic(dir, &payload).map_err(|e| e.to_string())?;
        }
        *self.ctx.mounts.lock().unwrap_or_else(|e| e.into_inner()) = per_container;
        Ok(())
    }

    fn claim_dir(&self, claim: &str) -> Result<PathBuf, String> {
        let stores = &self.ctx.sh.stores;
        let pvc = stores
            .pvcs
            .get(&ObjectRef::new(claim).within(&self.ctx.ns))
            .ok_or_else(|| format!("persistentvolumeclaim \"{claim}\" not found"))?;
        let vol = pvc
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.clone())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("persistentvolumeclaim \"{claim}\" is not bound"))?;
        let pv =
            stores.pvs.get(&ObjectRef::new(&vol)).ok_or_else(|| format!("persistentvolume \"{vol}\" not found"))?;
        let dir = super::storage::volume_dir(&pv)
            .ok_or_else(|| format!("persistentvolume \"{vol}\" is neither hostPath nor local"))?;
        std::fs::create_dir_all(&dir).map_err(|e| format!("volume {}: {e}", dir.display()))?;
        Ok(dir)
    }

    async fn payload(&mut self, v: &Volume) -> Result<Payload, String> {
        let mut out = Payload::new();
        let mode = |m: Option<i32>| m.map(|m| m as u32).unwrap_or(0o644);
        if let Some(c) = &v.config_map {
            self.add_config_map(
                &mut out,
                &c.name,
                c.items.as_deref(),
                mode(c.default_mode),
                c.optional.unwrap_or(false),
            )?;
        } else if let Some(s) = &v.secret {
            let name = s.secret_name.clone().unwrap_or_default();
            self.add_secret(&mut out, &name, s.items.as_deref(), mode(s.default_mode), s.optional.unwrap_or(false))?;
        } else if let Some(d) = &v.downward_api {
            self.add_downward(&mut out, d.items.as_deref().unwrap_or_default(), mode(d.default_mode))?;
        } else if let Some(p) = &v.projected {
            let dm = mode(p.default_mode);
            for src in p.sources.iter().flatten() {
                if let Some(c) = &src.config_map {
                    self.add_config_map(&mut out, &c.name, c.items.as_deref(), dm, c.optional.unwrap_or(false))?;
                } else if let Some(s) = &src.secret {
                    self.add_secret(&mut out, &s.name, s.items.as_deref(), dm, s.optional.unwrap_or(false))?;
                } else if let Some(d) = &src.downward_api {
                    self.add_downward(&mut out, d.items.as_deref().unwrap_or_default(), dm)?;
                } else if let Some(t) = &src.service_account_token {
                    let token = self.token(&v.name, &t.path, t.audience.clone(), t.expiration_seconds).await?;
                    out.insert(t.path.clone(), (token.into_bytes(), dm));
                } else {
                    return Err(format!("volume {}: projected source not supported by the omring node agent", v.name));
                }
            }
        }
        Ok(out)
    }

    fn add_config_map(
        &self,
        out: &mut Payload,
        name: &str,
        items: Option<&[k8s_openapi::api::core::v1::KeyToPath]>,
        mode: u32,
        optional: bool,
    ) -> Result<(), String> {
        let what = format!("configmap \"{name}\"");
        match self.ctx.sh.stores.config_maps.get(&ObjectRef::new(name).within(&self.ctx.ns)) {
            Some(cm) => volumes::project_items(out, &what, &volumes::config_map_data(&cm), items, mode, optional)
                .map_err(|e| e.to_string()),
            None if optional => Ok(()),
            None => Err(format!("{what} not found")),
        }
    }

    fn add_secret(
        &self,
        out: &mut Payload,
        name: &str,
        items: Option<&[k8s_openapi::api::core::v1::KeyToPath]>,
        mode: u32,
        optional: bool,
    ) -> Result<(), String> {
        let what = format!("secret \"{name}\"");
        match self.ctx.sh.stores.secrets.get(&ObjectRef::new(name).within(&self.ctx.ns)) {
            Some(s) => volumes::project_items(out, &what, &volumes::secret_data(&s), items, mode, optional)
                .map_err(|e| e.to_string()),
            None if optional => Ok(()),
            None => Err(format!("{what} not found")),
        }
    }

    fn add_downward(
        &self,
        out: &mut Payload,
        items: &[k8s_openapi::api::core::v1::DownwardAPIVolumeFile],
        mode: u32,
    ) -> Result<(), String> {
        let pod = self.ctx.pod();
        let (ip, host_ip) = (self.ctx.ip.to_string(), self.ctx.host_ip.to_string());
        let none = |_: &str| None;
        let src =
            EnvSources { pod: &pod, node: None, pod_ip: &ip, host_ip: &host_ip, config_map: &none, secret: &none };
        for it in items {
            let value = match &it.field_ref {
                Some(f) => container::field_value(&src, &f.field_path)
                    .ok_or_else(|| format!("downward API field {} not supported", f.field_path))?,
                None => return Err(format!("downward API item {}: only fieldRef is supported", it.path)),
            };
            out.insert(it.path.clone(), (value.into_bytes(), it.mode.map(|m| m as u32).unwrap_or(mode)));
        }
        Ok(())
    }

    async fn token(
        &mut self,
        vol: &str,
        path: &str,
        audience: Option<String>,
        exp: Option<i64>,
    ) -> Result<String, String> {
        let key = (vol.to_string(), path.to_string());
        if let Some((t, refresh)) = self.tokens.get(&key) {
            if Instant::now() < *refresh {
                return Ok(t.clone());
            }
        }
        let pod = self.ctx.pod();
        let sa = pod.spec.as_ref().and_then(|s| s.service_account_name.clone()).unwrap_or_else(|| "default".into());
        let exp = exp.unwrap_or(3600).max(600);
        let req = TokenRequest {
            spec: TokenRequestSpec {
                audiences: audience.into_iter().collect(),
                expiration_seconds: Some(exp),
                bound_object_ref: Some(BoundObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Pod".into()),
                    name: Some(self.ctx.name.clone()),
                    uid: Some(self.ctx.uid.clone()),
                }),
            },
            ..Default::default()
        };
        let api: Api<ServiceAccount> = Api::namespaced(self.ctx.sh.client.clone(), &self.ctx.ns);
        let resp = api
            .create_token_request(&sa, &PostParams::default(), &req)
            .await
            .map_err(|e| format!("token for service account {sa}: {e}"))?;
        let token = resp.status.map(|s| s.token).unwrap_or_default();
        self.tokens.insert(key, (token.clone(), Instant::now() + Duration::from_secs(exp as u64 * 8 / 10)));
        Ok(token)
    }

    // ---- status

    /// Every init container completed (sidecars: started).
    fn init_complete(&self) -> bool {
        self.init.iter().all(|s| {
            if s.is_sidecar() {
                s.with(|st| st.started)
            } else {
                s.with(|st| st.done && matches!(&st.run, Run::Terminated(t) if t.exit_code == 0))
            }
        })
    }

    fn phase(&self) -> &'static str {
        let policy = self.ctx.restart_policy();
        let init_failed = self.init.iter().any(|s| {
            !s.is_sidecar() && s.with(|st| st.done && matches!(&st.run, Run::Terminated(t) if t.exit_code != 0))
        });
        if init_failed {
            return "Failed";
        }
        if !self.init_complete() {
            return "Pending";
        }
        let (mut never_ran, mut running, mut failed, mut finished) = (0, 0, 0, 0);
        for s in &self.main {
            s.with(|st| {
                if !st.ever_ran {
                    never_ran += 1;
                }
                if matches!(st.run, Run::Running { .. }) {
                    running += 1;
                }
                if st.done {
                    finished += 1;
                    if matches!(&st.run, Run::Terminated(t) if t.exit_code != 0) {
                        failed += 1;
                    }
                }
            })
        }
        if never_ran > 0 {
            return "Pending";
        }
        if running > 0 || finished < self.main.len() || policy == "Always" {
            return "Running";
        }
        if failed > 0 {
            "Failed"
        } else {
            "Succeeded"
        }
    }

    fn set_condition(&mut self, type_: &str, ok: bool, reason: Option<&str>, message: Option<String>) {
        let status = if ok { "True" } else { "False" }.to_string();
        let entry = self.conditions.entry(type_.to_string()).or_insert_with(|| (String::new(), now(), None, None));
        if entry.0 != status {
            entry.0 = status;
            entry.1 = now();
        }
        entry.2 = reason.map(str::to_string);
        entry.3 = message;
    }

    fn container_status(&self, s: &Slot) -> Value {
        s.with(|st| {
            let term = |t: &Term| {
                json!({"terminated": {"exitCode": t.exit_code, "signal": t.signal, "reason": t.reason,
                    "startedAt": t.started_at, "finishedAt": t.finished_at, "containerID": t.container_id}})
            };
            let (state, cid) = match &st.run {
                Run::Waiting { reason, message } => {
                    (json!({"waiting": {"reason": reason, "message": (!message.is_empty()).then_some(message)}}), None)
                }
                Run::Running { started_at, handle } => {
                    (json!({"running": {"startedAt": started_at}}), Some(format!("omring://{}", handle.pid)))
                }
                Run::Terminated(t) => (term(t), Some(t.container_id.clone())),
            };
            let image = s.spec.image.clone().unwrap_or_default();
            let image_id = st.program.as_ref().map(|p| format!("omring-binary://{}", p.display())).unwrap_or_default();
            json!({
                "name": s.spec.name, "image": image, "imageID": image_id, "containerID": cid,
                "ready": st.ready, "started": st.started, "restartCount": st.restart_count,
                "state": state, "lastState": st.last.as_ref().map(term).unwrap_or_else(|| json!({})),
            })
        })
    }

    fn build_status(&mut self) -> Value {
        let pod = self.ctx.pod();
        let phase = self.phase();
        let init_done = self.init_complete();
        let main_ready = self.main.iter().all(|s| s.with(|st| st.ready));
        let gates_ok = pod
            .spec
            .as_ref()
            .and_then(|s| s.readiness_gates.as_ref())
            .map(|gates| {
                let conds = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
                gates.iter().all(|g| {
                    conds.is_some_and(|cs| cs.iter().any(|c| c.type_ == g.condition_type && c.status == "True"))
                })
            })
            .unwrap_or(true);
        let not_ready: Vec<String> =
            self.main.iter().filter(|s| !s.with(|st| st.ready)).map(|s| s.spec.name.clone()).collect();
        let msg = (!not_ready.is_empty()).then(|| format!("containers with unready status: [{}]", not_ready.join(" ")));
        let reason = (!not_ready.is_empty()).then_some("ContainersNotReady");
        self.set_condition("PodReadyToStartContainers", true, None, None);
        self.set_condition("Initialized", init_done, (!init_done).then_some("ContainersNotInitialized"), None);
        self.set_condition("ContainersReady", main_ready, reason, msg.clone());
        self.set_condition("Ready", main_ready && gates_ok, reason, msg);
        let conditions: Vec<Value> = self
            .conditions
            .iter()
            .map(|(t, (s, ltt, r, m))| {
                json!({"type": t, "status": s, "lastTransitionTime": ltt, "lastProbeTime": null, "reason": r, "message": m})
            })
            .collect();
        let ip = self.ctx.ip.to_string();
        let host_ip = self.ctx.host_ip.to_string();
        json!({
            "phase": phase,
            // Replace (not merge) the address lists: an address from an earlier agent must go.
            "podIP": ip, "podIPs": [{"$patch": "replace"}, {"ip": ip}],
            "hostIP": host_ip, "hostIPs": [{"$patch": "replace"}, {"ip": host_ip}],
            "startTime": self.start_time,
            "conditions": conditions,
            "containerStatuses": self.main.iter().map(|s| self.container_status(s)).collect::<Vec<_>>(),
            "initContainerStatuses": self.init.iter().map(|s| self.container_status(s)).collect::<Vec<_>>(),
        })
    }

    async fn push_status(&mut self) {
        let status = self.build_status();
        if self.last_status.as_ref() == Some(&status) {
            return;
        }
        let api: Api<Pod> = Api::namespaced(self.ctx.sh.client.clone(), &self.ctx.ns);
        let patch = json!({"metadata": {"uid": self.ctx.uid}, "status": status});
        match api.patch_status(&self.ctx.name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
            Ok(_) => {
                tracing::debug!("{}/{}: status {}", self.ctx.ns, self.ctx.name, status["phase"]);
                self.last_status = Some(status);
            }
            Err(e) => tracing::warn!("{}/{}: status update: {e}", self.ctx.ns, self.ctx.name),
        }
    }
}

// ---- one container

/// Waits for a stop request; resolves with the SIGKILL deadline.
async fn stop_requested(stop: &mut watch::Receiver<Option<Instant>>) -> Instant {
    loop {
        if let Some(d) = *stop.borrow_and_update() {
            return d;
        }
        if stop.changed().await.is_err() {
            return Instant::now();
        }
    }
}

/// Runs one container: start, watch, restart per policy with back-off, stop on request.
async fn supervise(ctx: Arc<Ctx>, slot: Arc<Slot>, mut stop: watch::Receiver<Option<Instant>>) {
    let name = slot.spec.name.clone();
    loop {
        if stop.borrow().is_some() {
            slot.with(|s| s.done = true);
            ctx.changed.notify_one();
            return;
        }
        let restart_count = slot.with(|s| s.restart_count);
        let spec = match ctx.spawn_spec(&slot.spec, restart_count) {
            Ok(s) => s,
            Err(msg) => {
                let first = slot.with(|s| {
                    let first = !matches!(&s.run, Run::Waiting { message, .. } if *message == msg);
                    s.run = Run::Waiting { reason: "CreateContainerConfigError".into(), message: msg.clone() };
                    first
                });
                ctx.changed.notify_one();
                if first {
                    ctx.event(EventType::Warning, "Failed", "Create", format!("Error: {msg}")).await;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = stop_requested(&mut stop) => continue,
                }
            }
        };
        let (handle, mut exit_rx) = match ctx.sh.spawner.spawn(spec.clone()).await {
            Ok(x) => x,
            Err(e) => {
                let msg = format!("starting {}: {e}", spec.program.display());
                slot.with(|s| s.run = Run::Waiting { reason: "RunContainerError".into(), message: msg.clone() });
                ctx.changed.notify_one();
                ctx.event(EventType::Warning, "Failed", "Start", msg).await;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                    _ = stop_requested(&mut stop) => continue,
                }
            }
        };
        let started_at = now();
        let has_startup = slot.spec.startup_probe.is_some();
        let has_readiness = slot.spec.readiness_probe.is_some();
        slot.with(|s| {
            s.run = Run::Running { started_at: started_at.clone(), handle: handle.clone() };
            s.ever_ran = true;
            s.started = !has_startup;
            s.ready = !has_readiness && !has_startup && !slot.init;
            s.program = Some(spec.program.clone());
            s.last_spec = Some(spec.clone());
        });
        let record = ContainerRecord {
            namespace: ctx.ns.clone(),
            pod: ctx.name.clone(),
            uid: ctx.uid.clone(),
            container: name.clone(),
            pid: handle.pid,
            program: spec.program.clone(),
            args: spec.args.clone(),
            env: spec.env.clone(),
            cwd: spec.cwd.clone(),
            mounts: ctx
                .mounts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&name)
                .map(|m| m.mounts().to_vec())
                .unwrap_or_default(),
            log: spec.log.clone(),
            restart_count,
        };
        if let Ok(j) = serde_json::to_vec_pretty(&record) {
            let _ = std::fs::write(control::record_path(&ctx.dir, &name), j);
        }
        ctx.changed.notify_one();
        ctx.event(
            EventType::Normal,
            "Started",
            "Start",
            format!("Started container {name} ({} pid {})", spec.program.display(), handle.pid),
        )
        .await;
        let probes = start_probes(ctx.clone(), slot.clone(), handle.clone());

        let mut stopping = false;
        let info = tokio::select! {
            r = &mut exit_rx => r.unwrap_or(ExitInfo { code: None, signal: Some(libc::SIGKILL) }),
            deadline = stop_requested(&mut stop) => {
                stopping = true;
                handle.signal(libc::SIGTERM);
                let mut deadline = deadline;
                loop {
                    tokio::select! {
                        r = &mut exit_rx => break r.unwrap_or(ExitInfo { code: None, signal: Some(libc::SIGKILL) }),
                        _ = tokio::time::sleep_until(deadline.into()) => {
                            handle.signal(libc::SIGKILL);
                            deadline = Instant::now() + Duration::from_secs(3600);
                        }
                        r = stop.changed() => {
                            match (r, *stop.borrow()) {
                                (Ok(()), Some(d)) if d < deadline => deadline = d,
                                (Err(_), _) => deadline = Instant::now(),
                                _ => {}
                            }
                        }
                    }
                }
            }
        };
        probes.abort();
        let _ = std::fs::remove_file(control::record_path(&ctx.dir, &name));
        let term = Term {
            exit_code: info.exit_code(),
            signal: info.signal,
            reason: if info.exit_code() == 0 { "Completed" } else { "Error" }.into(),
            started_at,
            finished_at: now(),
            container_id: format!("omring://{}", handle.pid),
        };
        tracing::info!(
            "{}/{} container {name} exited: code {} signal {:?}",
            ctx.ns,
            ctx.name,
            term.exit_code,
            info.signal
        );
        slot.with(|s| {
            s.run = Run::Terminated(term.clone());
            s.ready = false;
            s.started = false;
        });
        ctx.changed.notify_one();
        if stopping {
            slot.with(|s| s.done = true);
            return;
        }
        let policy = ctx.restart_policy();
        let restart = if slot.is_sidecar() {
            true
        } else if slot.init {
            term.exit_code != 0 && policy != "Never"
        } else {
            match policy.as_str() {
                "Never" => false,
                "OnFailure" => term.exit_code != 0,
                _ => true,
            }
        };
        if !restart {
            slot.with(|s| s.done = true);
            ctx.changed.notify_one();
            return;
        }
        let delay = slot.with(|s| {
            let b = ctx.sh.cfg.backoff;
            let now = Instant::now();
            if s.backoff_at.is_some_and(|t| now.duration_since(t) > b.max * 2) {
                s.backoff = None;
            }
            let delay = s.backoff.unwrap_or(Duration::ZERO);
            s.backoff = Some(match s.backoff {
                None => b.initial,
                Some(d) => (d * 2).min(b.max),
            });
            s.backoff_at = Some(now);
            delay
        });
        let hold = control::hold_path(&ctx.dir, &name);
        if delay > Duration::ZERO || hold.exists() {
            let (reason, message) = if hold.exists() {
                ("ContainerHeld".to_string(), "restart held (omring-node-agent hold)".to_string())
            } else {
                (
                    "CrashLoopBackOff".to_string(),
                    format!("back-off {}s restarting failed container={name} pod={}", delay.as_secs(), ctx.name),
                )
            };
            slot.with(|s| {
                s.last = Some(term.clone());
                s.run = Run::Waiting { reason: reason.clone(), message: message.clone() };
            });
            ctx.changed.notify_one();
            ctx.event(EventType::Warning, "BackOff", "Start", message).await;
            let until = Instant::now() + delay;
            loop {
                if Instant::now() >= until && !hold.exists() {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = stop_requested(&mut stop) => {
                        slot.with(|s| s.done = true);
                        ctx.changed.notify_one();
                        return;
                    }
                }
            }
        }
        slot.with(|s| {
            s.last = Some(term);
            s.restart_count += 1;
        });
    }
}

/// Starts the container's probes for one run; abort the handle when the run ends.
fn start_probes(ctx: Arc<Ctx>, slot: Arc<Slot>, handle: ProcessHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Some(p) = slot.spec.startup_probe.clone() {
            if !probe_loop(&ctx, &slot, &handle, &p, Kind::Startup).await {
                return;
            }
            slot.with(|s| {
                s.started = true;
                if slot.spec.readiness_probe.is_none() && !slot.init {
                    s.ready = true;
                }
            });
            ctx.changed.notify_one();
        }
        let mut tasks = Vec::new();
        if let Some(p) = slot.spec.readiness_probe.clone() {
            let (c, s, h) = (ctx.clone(), slot.clone(), handle.clone());
            tasks.push(tokio::spawn(async move {
                probe_loop(&c, &s, &h, &p, Kind::Readiness).await;
            }));
        }
        if let Some(p) = slot.spec.liveness_probe.clone() {
            let (c, s, h) = (ctx.clone(), slot.clone(), handle.clone());
            tasks.push(tokio::spawn(async move {
                probe_loop(&c, &s, &h, &p, Kind::Liveness).await;
            }));
        }
        // Abort the probe loops when this task is aborted.
        struct AbortAll(Vec<tokio::task::JoinHandle<()>>);
        impl Drop for AbortAll {
            fn drop(&mut self) {
                for t in &self.0 {
                    t.abort();
                }
            }
        }
        let _guard = AbortAll(tasks);
        futures::future::pending::<()>().await
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Startup,
    Readiness,
    Liveness,
}

/// Runs one probe on its period. Startup returns true once it succeeded; liveness and startup
/// kill the container after `failureThreshold` failures; readiness sets `ready`.
async fn probe_loop(
    ctx: &Arc<Ctx>,
    slot: &Arc<Slot>,
    handle: &ProcessHandle,
    p: &k8s_openapi::api::core::v1::Probe,
    kind: Kind,
) -> bool {
    let timing = Timing::of(p);
    tokio::time::sleep(timing.initial_delay).await;
    let (mut successes, mut failures) = (0u32, 0u32);
    let ip = ctx.ip.to_string();
    loop {
        let env_spec = slot.with(|s| s.last_spec.clone());
        let mounts =
            ctx.mounts.lock().unwrap_or_else(|e| e.into_inner()).get(&slot.spec.name).cloned().unwrap_or_default();
        let exec = move |cmd: Vec<String>, timeout: Duration| -> futures::future::BoxFuture<'static, Outcome> {
            let spec = env_spec.clone();
            // Probe commands see the container's paths, like everything else it is given.
            let cmd: Vec<String> = cmd.iter().map(|a| mounts.rebase(a)).collect();
            Box::pin(async move { run_exec_probe(spec, cmd, timeout).await })
        };
        let outcome = probe::run_once(p, &slot.spec, &ip, &ctx.sh.http, &exec).await;
        match outcome {
            Outcome::Success => {
                successes += 1;
                failures = 0;
                match kind {
                    Kind::Startup => return true,
                    Kind::Readiness if successes >= timing.success_threshold => {
                        if !slot.with(|s| std::mem::replace(&mut s.ready, true)) {
                            ctx.changed.notify_one();
                        }
                    }
                    _ => {}
                }
            }
            Outcome::Failure(msg) => {
                failures += 1;
                successes = 0;
                let what = match kind {
                    Kind::Startup => "Startup",
                    Kind::Readiness => "Readiness",
                    Kind::Liveness => "Liveness",
                };
                if failures == 1 || failures % 10 == 0 {
                    ctx.event(EventType::Warning, "Unhealthy", "Probe", format!("{what} probe failed: {msg}")).await;
                }
                match kind {
                    Kind::Readiness => {
                        if failures >= timing.failure_threshold && slot.with(|s| std::mem::replace(&mut s.ready, false))
                        {
                            ctx.changed.notify_one();
                        }
                    }
                    Kind::Liveness | Kind::Startup if failures >= timing.failure_threshold => {
                        ctx.event(
                            EventType::Normal,
                            "Killing",
                            "Kill",
                            format!("Container {} failed {what} probe, will be restarted", slot.spec.name),
                        )
                        .await;
                        let grace = p
                            .termination_grace_period_seconds
                            .or_else(|| ctx.pod().spec.as_ref().and_then(|s| s.termination_grace_period_seconds))
                            .unwrap_or(30)
                            .max(0) as u64;
                        handle.signal(libc::SIGTERM);
                        let h = handle.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_secs(grace)).await;
                            h.signal(libc::SIGKILL);
                        });
                        return false;
                    }
                    _ => {}
                }
            }
        }
        tokio::time::sleep(timing.period).await;
    }
}

async fn run_exec_probe(spec: Option<SpawnSpec>, cmd: Vec<String>, timeout: Duration) -> Outcome {
    let Some(spec) = spec else { return Outcome::Failure("container not started".into()) };
    let Some((first, rest)) = cmd.split_first() else { return Outcome::Failure("empty command".into()) };
    let path = spec.env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone()).unwrap_or_default();
    let program = if first.contains('/') {
        PathBuf::from(first)
    } else {
        std::env::split_paths(&path)
            .map(|d| d.join(first))
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from(first))
    };
    let mut c = tokio::process::Command::new(program);
    c.args(rest).env_clear().envs(spec.env.iter().map(|(k, v)| (k, v))).current_dir(&spec.cwd).kill_on_drop(true);
    match tokio::time::timeout(timeout, c.output()).await {
        Ok(Ok(out)) if out.status.success() => Outcome::Success,
        Ok(Ok(out)) => Outcome::Failure(format!(
            "command exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim()
        )),
        Ok(Err(e)) => Outcome::Failure(format!("exec: {e}")),
        Err(_) => Outcome::Failure(format!("command timed out after {}s", timeout.as_secs())),
    }
}
