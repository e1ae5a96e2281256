//! The ring under test: real `om-node` processes, each inside its own network namespace,
//! started from one `ozone-site.xml` (a copy per node, differing only in its data directory),
//! and a supervisor that restarts a node that exits, as a kubelet would.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use om_client::config::{OzoneConfig, RetryPolicy, ServiceConfig};
use om_client::wire::{NodeStatus, Role};
use om_client::FailoverClient;

use crate::net::{sh, Net};
use crate::{say, FaultError, Result};

pub const SERVICE_ID: &str = "omfaults";

/// What the ring is started with.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub nodes: usize,
    /// The node whose data directory is a small tmpfs (for the full-disk fault).
    pub small_disk: Option<usize>,
    pub small_disk_mib: u64,
    /// Extra `ozone-site.xml` properties.
    pub settings: Vec<(String, String)>,
    /// `OMRING_BREAK` for every node (needs the `broken-for-tests` build).
    pub breakages: Option<String>,
    pub bin: PathBuf,
}

/// Why a node process ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExitRecord {
    pub node: String,
    pub at_ms: u64,
    pub status: String,
    /// The harness killed it (or stopped it on purpose).
    pub expected: bool,
    /// It exited while its disk was full: a node whose storage fails stops on purpose.
    pub during_disk_full: bool,
}

struct NodeProc {
    id: String,
    data_dir: PathBuf,
    conf_path: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
    /// While held, the supervisor leaves the node down.
    held: bool,
    /// The harness signalled it to die: its next exit is expected.
    kill_sent: bool,
    /// The process running now lived through a full disk (its exit is the disk's doing).
    disk_full: bool,
    /// The disk is full right now.
    disk_filled: bool,
    /// Arguments of every start until cleared (`--bootstrap` while a member replace runs).
    start_args: Vec<String>,
    exited_at: Option<Instant>,
    starts: u32,
}

/// A running ring and its supervisor's state.
pub struct Cluster {
    pub net: Net,
    pub dir: PathBuf,
    pub spec: ClusterSpec,
    /// The configuration every client and the CLI use (all nodes, no data directory).
    pub client_conf_path: PathBuf,
    pub service: ServiceConfig,
    base_conf: OzoneConfig,
    nodes: Mutex<Vec<NodeProc>>,
    exits: Mutex<Vec<ExitRecord>>,
    started: Instant,
    /// Answers status queries; short timeouts, few attempts.
    probe: FailoverClient,
    mounts: Vec<PathBuf>,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> FaultError {
    let what = what.into();
    move |source| FaultError::Io { what, source }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Cluster {
    /// Writes the configuration, mounts the small disk and starts every node.
    pub fn start(net: Net, dir: &Path, spec: ClusterSpec) -> Result<Arc<Cluster>> {
        for sub in ["conf", "logs", "data"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(io(format!("creating {}", dir.join(sub).display())))?;
        }
        let ids: Vec<String> = (1..=spec.nodes).map(|i| format!("om{i}")).collect();
        let mut conf = OzoneConfig::new();
        conf.set("ozone.om.service.ids", SERVICE_ID);
        conf.set(&format!("ozone.om.nodes.{SERVICE_ID}"), ids.join(","));
        for (i, id) in ids.iter().enumerate() {
            let ip = net.slot.node_ip(i);
            conf.set(&format!("ozone.om.address.{SERVICE_ID}.{id}"), format!("{ip}:9862"));
            conf.set(&format!("ozone.om.ratis.port.{SERVICE_ID}.{id}"), "9872");
            conf.set(&format!("ozone.om.http-address.{SERVICE_ID}.{id}"), format!("{ip}:9874"));
        }
        conf.set("ozone.client.wait.between.retries.millis", "100");
        conf.set("ozone.client.failover.max.attempts", "40");
        for (k, v) in &spec.settings {
            conf.set(k, v.as_str());
        }
        let client_conf_path = dir.join("conf/ozone-site.xml");
        std::fs::write(&client_conf_path, conf.to_xml()).map_err(io("writing ozone-site.xml"))?;
        let service = conf.service(Some(SERVICE_ID)).map_err(|e| FaultError::Setup(e.to_string()))?;
        let probe = FailoverClient::builder(service.clone())
            .retry_policy(RetryPolicy { max_attempts: 3, wait_between_rounds: Duration::from_millis(50) })
            .request_timeout(Duration::from_millis(1500))
            .connect_timeout(Duration::from_millis(500))
            .build()
            .map_err(|e| FaultError::Setup(e.to_string()))?;
        let mut mounts = Vec::new();
        let nodes = ids
            .iter()
            .map(|id| NodeProc {
                id: id.clone(),
                data_dir: dir.join("data").join(id),
                conf_path: dir.join("conf").join(format!("{id}-ozone-site.xml")),
                log_path: dir.join("logs").join(format!("{id}.log")),
                child: None,
                held: false,
                kill_sent: false,
                disk_full: false,
                disk_filled: false,
                start_args: Vec::new(),
                exited_at: None,
                starts: 0,
            })
            .collect::<Vec<_>>();
        for (i, n) in nodes.iter().enumerate() {
            std::fs::create_dir_all(&n.data_dir).map_err(io(format!("creating {}", n.data_dir.display())))?;
            if spec.small_disk == Some(i) {
                let size = format!("size={}m", spec.small_disk_mib);
                net.slot.record_mount(&n.data_dir)?;
                sh("mount", &["-t", "tmpfs", "-o", &size, "omring-faults", &n.data_dir.to_string_lossy()])?;
                mounts.push(n.data_dir.clone());
            }
        }
        let cluster = Arc::new(Cluster {
            net,
            dir: dir.to_path_buf(),
            spec,
            client_conf_path,
            service,
            base_conf: conf,
            nodes: Mutex::new(nodes),
            exits: Mutex::new(Vec::new()),
            started: Instant::now(),
            probe,
            mounts,
        });
        for i in 0..cluster.spec.nodes {
            cluster.write_node_conf(i, &[])?;
            cluster.spawn(i)?;
        }
        Ok(cluster)
    }

    pub fn len(&self) -> usize {
        self.spec.nodes
    }

    pub fn is_empty(&self) -> bool {
        self.spec.nodes == 0
    }

    pub fn id(&self, i: usize) -> String {
        format!("om{}", i + 1)
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        id.strip_prefix("om")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| (1..=self.spec.nodes).contains(n))
            .map(|n| n - 1)
    }

    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.join("data").join(self.id(i))
    }

    pub fn log_path(&self, i: usize) -> PathBuf {
        self.dir.join("logs").join(format!("{}.log", self.id(i)))
    }

    /// The configuration that node `i` reads, plus `extra` properties (a decommissioned list).
    pub fn write_node_conf(&self, i: usize, extra: &[(String, String)]) -> Result<()> {
        let mut conf = self.base_conf.clone();
        conf.set("ozone.om.db.dirs", self.db_dir(i).to_string_lossy().to_string());
        for (k, v) in extra {
            conf.set(k, v.as_str());
        }
        let path = lock(&self.nodes)[i].conf_path.clone();
        let tmp = path.with_extension("xml.tmp");
        std::fs::write(&tmp, conf.to_xml()).map_err(io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(io(format!("replacing {}", path.display())))
    }

    /// The database directory inside the node's data directory (the data directory itself may
    /// be a mount point, which also holds the full-disk filler).
    fn db_dir(&self, i: usize) -> PathBuf {
        self.data_dir(i).join("db")
    }

    fn spawn(&self, i: usize) -> Result<()> {
        self.spawn_unless(i, |_| false)
    }

    /// Starts node `i` unless it already runs or `skip` says so, both checked under the nodes'
    /// lock: the supervisor and the harness both restart nodes, and two restarts decided from
    /// the same observation would start a second process, which the first one's database lock
    /// then keeps failing while the first runs on untracked.
    fn spawn_unless(&self, i: usize, skip: impl Fn(&NodeProc) -> bool) -> Result<()> {
        let mut nodes = lock(&self.nodes);
        let n = &mut nodes[i];
        if n.child.is_some() || skip(n) {
            return Ok(());
        }
        let log = File::options().create(true).append(true).open(&n.log_path).map_err(io("opening a node log"))?;
        {
            use std::io::Write;
            let mut l = &log;
            let _ = writeln!(l, "=== omring-faults: start #{} of {} {:?} ===", n.starts + 1, n.id, n.start_args);
        }
        let err = log.try_clone().map_err(io("opening a node log"))?;
        let netns = File::open(self.net.netns_path(i)).map_err(io("opening the node's network namespace"))?;
        let netns_fd = netns.as_raw_fd();
        let mut cmd = Command::new(&self.spec.bin);
        cmd.arg("--conf").arg(&n.conf_path).arg("om").args(&n.start_args);
        cmd.stdin(Stdio::null()).stdout(log).stderr(err);
        if let Some(b) = &self.spec.breakages {
            cmd.env("OMRING_BREAK", b);
        }
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(netns_fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The node dies with the harness, even when the harness is SIGKILLed.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(io(format!("starting {} ({})", n.id, self.spec.bin.display())))?;
        drop(netns);
        n.child = Some(child);
        n.kill_sent = false;
        n.exited_at = None;
        n.starts += 1;
        n.disk_full = n.disk_filled;
        Ok(())
    }

    /// Milliseconds since the ring started.
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Reaps exited nodes and restarts those not held down (after 300 ms, as a restart
    /// backoff). Called by [`Cluster::supervise`] and before the harness looks at processes.
    pub fn reap_and_restart(&self) -> Result<()> {
        let mut restart = Vec::new();
        {
            let mut nodes = lock(&self.nodes);
            for (i, n) in nodes.iter_mut().enumerate() {
                if let Some(child) = n.child.as_mut() {
                    if let Ok(Some(status)) = child.try_wait() {
                        let rec = ExitRecord {
                            node: n.id.clone(),
                            at_ms: self.started.elapsed().as_millis() as u64,
                            status: status.to_string(),
                            expected: n.kill_sent,
                            during_disk_full: n.disk_full,
                        };
                        if !rec.expected {
                            let why = if rec.during_disk_full { " (its disk was full)" } else { "" };
                            say!("{} exited on its own: {}{why}", n.id, rec.status);
                        }
                        lock(&self.exits).push(rec);
                        n.child = None;
                        n.exited_at = Some(Instant::now());
                    }
                }
                if n.child.is_none() && !n.held && n.exited_at.is_none_or(|t| t.elapsed() >= Duration::from_millis(300))
                {
                    restart.push(i);
                }
            }
        }
        for i in restart {
            self.spawn_unless(i, |n| n.held)?;
        }
        Ok(())
    }

    /// The supervisor loop: until `stop` is set.
    pub async fn supervise(self: Arc<Self>, stop: Arc<std::sync::atomic::AtomicBool>) {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if let Err(e) = self.reap_and_restart() {
                say!("supervisor: {e}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn pid(&self, i: usize) -> Option<i32> {
        lock(&self.nodes)[i].child.as_ref().map(|c| c.id() as i32)
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.pid(i).is_some()
    }

    /// Sends a signal to node `i` (if it runs). SIGKILL and SIGTERM mark its exit expected.
    pub fn signal(&self, i: usize, sig: i32) {
        let mut nodes = lock(&self.nodes);
        let n = &mut nodes[i];
        if let Some(c) = n.child.as_ref() {
            if sig == libc::SIGKILL || sig == libc::SIGTERM {
                n.kill_sent = true;
            }
            // SAFETY: a signal to our own child process.
            unsafe {
                libc::kill(c.id() as i32, sig);
            }
        }
    }

    /// Keeps node `i` down (true) or lets the supervisor restart it (false).
    pub fn hold(&self, i: usize, held: bool) {
        lock(&self.nodes)[i].held = held;
    }

    /// Kills node `i` with SIGKILL, keeps it down and waits until it is gone.
    pub async fn kill_and_hold(&self, i: usize) {
        self.hold(i, true);
        self.signal(i, libc::SIGCONT);
        self.signal(i, libc::SIGKILL);
        self.wait_down(i).await;
    }

    /// Stops node `i` with SIGTERM (it hands leadership over if it leads), keeps it down.
    pub async fn stop_and_hold(&self, i: usize, deadline: Duration) {
        self.hold(i, true);
        self.signal(i, libc::SIGCONT);
        self.signal(i, libc::SIGTERM);
        let until = Instant::now() + deadline;
        while self.is_running(i) && Instant::now() < until {
            let _ = self.reap_and_restart();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if self.is_running(i) {
            self.kill_and_hold(i).await;
        }
    }

    async fn wait_down(&self, i: usize) {
        while self.is_running(i) {
            let _ = self.reap_and_restart();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Lets node `i` start again, now; with `args`, every start uses them until
    /// [`Cluster::clear_start_args`].
    pub fn release(&self, i: usize, args: &[&str]) -> Result<()> {
        {
            let mut nodes = lock(&self.nodes);
            nodes[i].held = false;
            if !args.is_empty() {
                nodes[i].start_args = args.iter().map(|s| s.to_string()).collect();
            }
            nodes[i].exited_at = None;
        }
        self.reap_and_restart()
    }

    pub fn clear_start_args(&self, i: usize) {
        lock(&self.nodes)[i].start_args.clear();
    }

    /// Marks node `i`'s disk full (its running process then lives through it) or free again
    /// (the next process starts on a free disk).
    pub fn set_disk_full(&self, i: usize, full: bool) {
        let mut nodes = lock(&self.nodes);
        nodes[i].disk_filled = full;
        if full {
            nodes[i].disk_full = true;
        }
    }

    /// Removes node `i`'s databases (it must be down).
    pub fn wipe(&self, i: usize) -> Result<()> {
        let db = self.db_dir(i);
        if db.exists() {
            std::fs::remove_dir_all(&db).map_err(io(format!("wiping {}", db.display())))?;
        }
        Ok(())
    }

    pub fn filler_path(&self, i: usize) -> PathBuf {
        self.data_dir(i).join("filler")
    }

    /// Fills node `i`'s small disk to the last byte.
    pub fn fill_disk(&self, i: usize) -> Result<u64> {
        use std::io::Write;
        let path = self.filler_path(i);
        let mut f = File::create(&path).map_err(io("creating the disk filler"))?;
        let chunk = vec![0u8; 1 << 20];
        let mut written = 0u64;
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => return Err(FaultError::Io { what: "filling the disk".into(), source: e }),
            }
        }
        // Smaller writes take the last partial pages.
        let small = [0u8; 4096];
        while let Ok(n) = f.write(&small) {
            if n == 0 {
                break;
            }
            written += n as u64;
        }
        Ok(written)
    }

    pub fn free_disk(&self, i: usize) -> Result<()> {
        let path = self.filler_path(i);
        if path.exists() {
            std::fs::remove_file(&path).map_err(io("removing the disk filler"))?;
        }
        Ok(())
    }

    /// Every node's status; `None` where a node does not answer.
    pub async fn statuses(&self) -> Vec<Option<NodeStatus>> {
        let futs = self.service.nodes.iter().map(|n| async move { self.probe.node_status(n).await.ok() });
        futures::future::join_all(futs).await
    }

    /// The node that says it leads in the highest term, if any.
    pub async fn leader(&self) -> Option<usize> {
        let st = self.statuses().await;
        st.iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().filter(|s| s.role == Role::Leader).map(|s| (s.term, i)))
            .max()
            .map(|(_, i)| i)
    }

    /// Waits for a leader that every answering node agrees on.
    pub async fn wait_leader(&self, deadline: Duration) -> Option<usize> {
        let until = Instant::now() + deadline;
        loop {
            let st = self.statuses().await;
            let leaders: Vec<usize> = st
                .iter()
                .enumerate()
                .filter(|(_, s)| s.as_ref().is_some_and(|s| s.role == Role::Leader))
                .map(|(i, _)| i)
                .collect();
            if let [l] = leaders[..] {
                let id = self.id(l);
                let agree = st.iter().flatten().all(|s| s.leader_id.as_deref() == Some(id.as_str()));
                if agree {
                    return Some(l);
                }
            }
            if Instant::now() >= until {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every node runs, answers, is ready, and all agree on one leader.
    pub async fn wait_settled(&self, deadline: Duration) -> bool {
        let until = Instant::now() + deadline;
        loop {
            if let Some(l) = self.wait_leader(until.saturating_duration_since(Instant::now())).await {
                let st = self.statuses().await;
                let lid = self.id(l);
                if (0..self.len()).all(|i| self.is_running(i))
                    && st
                        .iter()
                        .all(|s| s.as_ref().is_some_and(|s| s.ready && s.leader_id.as_deref() == Some(lid.as_str())))
                {
                    return true;
                }
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Followers of `leader` that are voters, by index.
    pub fn others(&self, leader: usize) -> Vec<usize> {
        (0..self.len()).filter(|&i| i != leader).collect()
    }

    /// Runs the user's CLI (`om-node sh|admin ...`) against the ring.
    pub fn cli(&self, args: &[&str]) -> Result<std::process::Output> {
        Command::new(&self.spec.bin)
            .arg("--conf")
            .arg(&self.client_conf_path)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(io("running the om-node CLI"))
    }

    pub fn exits(&self) -> Vec<ExitRecord> {
        lock(&self.exits).clone()
    }

    pub fn starts(&self) -> BTreeMap<String, u32> {
        lock(&self.nodes).iter().map(|n| (n.id.clone(), n.starts)).collect()
    }

    /// Kills every node, copies small-disk data next to the logs when `keep` is set, unmounts.
    pub fn shutdown(&self, keep: bool) {
        for i in 0..self.len() {
            self.hold(i, true);
            self.signal(i, libc::SIGCONT);
            self.signal(i, libc::SIGKILL);
        }
        {
            let mut nodes = lock(&self.nodes);
            for n in nodes.iter_mut() {
                if let Some(mut c) = n.child.take() {
                    let _ = c.wait();
                }
            }
        }
        for m in &self.mounts {
            if keep {
                let copy = m.with_file_name(format!(
                    "{}-small-disk",
                    m.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default()
                ));
                let _ = std::fs::remove_file(m.join("filler"));
                let _ = sh("cp", &["-a", &m.to_string_lossy(), &copy.to_string_lossy()]);
            }
            let _ = sh("umount", &["-l", &m.to_string_lossy()]);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown(false);
    }
}
