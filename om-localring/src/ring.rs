//! A ring of real `om-node` processes on loopback, started from one ozone-site.xml.
//!
//! One launcher for the integration tests, the benchmark and `om-node dev ring`, so what the
//! tests exercise is what a user starts locally.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use om_client::config::{OzoneConfig, RetryPolicy};
use om_client::wire::Role;
use om_client::{ClientError, FailoverClient};

pub use om_client::ports::free_port;

/// One node process of the ring.
pub struct NodeProc {
    pub id: String,
    /// This node's own copy of ozone-site.xml (so tests can make one node's file differ).
    pub conf_path: PathBuf,
    pub db_dir: PathBuf,
    pub log_path: PathBuf,
    pub child: Option<Child>,
}

/// Processes of one ring, their config and data under `dir`.
pub struct LocalRing {
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub conf_path: PathBuf,
    pub conf: OzoneConfig,
    pub service_id: String,
    pub nodes: Vec<NodeProc>,
    /// Kill the processes when dropped.
    pub kill_on_drop: bool,
}

impl LocalRing {
    /// Writes ozone-site.xml for `n` nodes on free loopback ports (plus `extra` properties)
    /// under `dir`, without starting anything.
    pub fn configure(
        bin: &Path,
        dir: &Path,
        service_id: &str,
        n: usize,
        extra: &[(&str, &str)],
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut conf = OzoneConfig::new();
        conf.set("ozone.om.service.ids", service_id);
        let ids: Vec<String> = (1..=n).map(|i| format!("om{i}")).collect();
        conf.set(&format!("ozone.om.nodes.{service_id}"), ids.join(","));
        for id in &ids {
            conf.set(&format!("ozone.om.address.{service_id}.{id}"), format!("127.0.0.1:{}", free_port()?));
            conf.set(&format!("ozone.om.ratis.port.{service_id}.{id}"), free_port()?.to_string());
            conf.set(&format!("ozone.om.http-address.{service_id}.{id}"), format!("127.0.0.1:{}", free_port()?));
        }
        conf.set("ozone.client.wait.between.retries.millis", "100");
        conf.set("ozone.client.failover.max.attempts", "400");
        for (k, v) in extra {
            conf.set(k, *v);
        }
        let conf_path = dir.join("ozone-site.xml");
        let nodes = ids
            .iter()
            .map(|id| NodeProc {
                id: id.clone(),
                conf_path: dir.join(format!("{id}-ozone-site.xml")),
                db_dir: dir.join(id),
                log_path: dir.join(format!("{id}.log")),
                child: None,
            })
            .collect();
        let ring = LocalRing {
            bin: bin.to_path_buf(),
            dir: dir.to_path_buf(),
            conf_path,
            conf,
            service_id: service_id.to_string(),
            nodes,
            kill_on_drop: true,
        };
        ring.write_conf()?;
        Ok(ring)
    }

    /// Writes [`Self::conf`] to the shared file (used by clients and the CLI) and to every
    /// node's own file. Running nodes see it on their next reload.
    pub fn write_conf(&self) -> std::io::Result<()> {
        std::fs::write(&self.conf_path, self.conf.to_xml())?;
        for i in 0..self.nodes.len() {
            self.write_node_conf(i, &self.conf)?;
        }
        Ok(())
    }

    /// Writes `conf` as node `i`'s own file only.
    pub fn write_node_conf(&self, i: usize, conf: &OzoneConfig) -> std::io::Result<()> {
        let path = &self.nodes[i].conf_path;
        let tmp = path.with_extension("xml.tmp");
        std::fs::write(&tmp, conf.to_xml())?;
        std::fs::rename(tmp, path)
    }

    /// `ozone.om.nodes.<sid>` as configured.
    pub fn nodes_key(&self) -> String {
        format!("ozone.om.nodes.{}", self.service_id)
    }

    /// Starts every node that is not running.
    pub fn start_all(&mut self) -> std::io::Result<()> {
        for i in 0..self.nodes.len() {
            if self.nodes[i].child.is_none() {
                self.start_node(i)?;
            }
        }
        Ok(())
    }

    /// Starts node `i` (`om-node om` with `ozone.om.node.id` and its own db dir).
    pub fn start_node(&mut self, i: usize) -> std::io::Result<()> {
        self.start_node_with(i, &[])
    }

    /// Starts node `i` with extra arguments after `om` (e.g. `--bootstrap`).
    pub fn start_node_with(&mut self, i: usize, om_args: &[&str]) -> std::io::Result<()> {
        let node = &mut self.nodes[i];
        if node.child.is_some() {
            return Err(std::io::Error::other(format!("{} is already running", node.id)));
        }
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&node.log_path)?;
        let child = Command::new(&self.bin)
            .arg("--conf")
            .arg(&node.conf_path)
            .arg("-D")
            .arg(format!("ozone.om.node.id={}", node.id))
            .arg("-D")
            .arg(format!("ozone.om.db.dirs={}", node.db_dir.display()))
            .arg("om")
            .args(om_args)
            .envs(std::env::var("OMRING_LOG").ok().map(|v| ("OMRING_LOG", v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        node.child = Some(child);
        Ok(())
    }

    /// Waits up to `timeout` for node `i`'s process to exit by itself; its exit code.
    pub fn wait_exit(&mut self, i: usize, timeout: Duration) -> std::io::Result<Option<i32>> {
        let deadline = Instant::now() + timeout;
        loop {
            let Some(c) = self.nodes[i].child.as_mut() else { return Ok(None) };
            if let Some(status) = c.try_wait()? {
                self.nodes[i].child = None;
                return Ok(status.code());
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other(format!("{} still runs after {timeout:?}", self.nodes[i].id)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait up to `timeout` for the exit; returns the exit code.
    pub fn terminate(&mut self, i: usize, timeout: Duration) -> std::io::Result<Option<i32>> {
        let Some(mut c) = self.nodes[i].child.take() else { return Ok(None) };
        // SAFETY: kill(2) on a child pid we own.
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = c.try_wait()? {
                return Ok(status.code());
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return Err(std::io::Error::other(format!(
                    "{} did not exit within {timeout:?} of SIGTERM",
                    self.nodes[i].id
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// A failover client with short retry pauses.
    pub fn client(&self) -> Result<Arc<FailoverClient>, ClientError> {
        let service = self.conf.service(Some(&self.service_id))?;
        Ok(Arc::new(
            FailoverClient::builder(service)
                .retry_policy(RetryPolicy { max_attempts: 400, wait_between_rounds: Duration::from_millis(100) })
                .request_timeout(Duration::from_secs(10))
                .connect_timeout(Duration::from_millis(300))
                .build()?,
        ))
    }

    /// Runs the CLI binary with this ring's config.
    pub fn cli(&self, args: &[&str]) -> std::io::Result<Output> {
        Command::new(&self.bin).arg("--conf").arg(&self.conf_path).args(args).env("OMRING_LOG", "error").output()
    }

    /// The leader every running node agrees on, if there is one and it is ready.
    pub async fn agreed_leader(&self) -> Option<String> {
        let client = self.client().ok()?;
        let running: Vec<&str> = self.nodes.iter().filter(|n| n.child.is_some()).map(|n| n.id.as_str()).collect();
        let statuses = client.ring_status().await;
        let mut leader = None;
        let mut leaders_seen = Vec::new();
        for (addr, s) in &statuses {
            if !running.contains(&addr.node_id.as_str()) {
                continue;
            }
            let s = s.as_ref().ok()?;
            if s.role == Role::Leader && s.ready {
                leader = Some(s.node_id.clone());
            }
            leaders_seen.push(s.leader_id.clone());
        }
        let l = leader?;
        leaders_seen.iter().all(|x| x.as_deref() == Some(l.as_str())).then_some(l)
    }

    /// Waits up to `timeout` for [`Self::agreed_leader`].
    pub async fn wait_leader(&self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(l) = self.agreed_leader().await {
                return Some(l);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log_path).unwrap_or_default()
    }
}

impl Drop for LocalRing {
    fn drop(&mut self) {
        if self.kill_on_drop {
            for i in 0..self.nodes.len() {
                self.kill9(i);
            }
        }
    }
}
