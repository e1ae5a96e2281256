//! [`LocalRing`]: the configuration and the node processes of one ring under a directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use om_client::config::{OzoneConfig, RetryPolicy};
use om_client::wire::Role;
use om_client::{ClientError, FailoverClient};

use crate::child::{self, Termination};

pub use om_client::ports::free_port;

/// What went wrong configuring, starting or stopping the ring's processes.
#[derive(Debug, thiserror::Error)]
pub enum LocalRingError {
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{0} is already running")]
    AlreadyRunning(String),
    #[error("{id} still runs after {waited:?}")]
    StillRunning { id: String, waited: Duration },
    #[error("{id} did not exit within {waited:?} of SIGTERM")]
    IgnoredSigterm { id: String, waited: Duration },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LocalRingError {
    let what = what.into();
    move |source| LocalRingError::Io { what, source }
}

/// How much of the ring must be ready before [`LocalRing::agreed_leader_via`] names a leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agreement {
    /// A ready leader that every running node names (what the tests and `dev ring` wait for).
    LeaderReady,
    /// As [`Agreement::LeaderReady`], and every running node says it is ready too (the
    /// benchmark's failover time: until the whole surviving ring serves again).
    AllReady,
}

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
    /// Nodes get SIGKILL when the thread that started them exits ([`child::tie_to_parent`]):
    /// for harnesses that must not leave a ring behind when they are killed themselves.
    pub die_with_parent: bool,
    /// `OMRING_LOG` of the nodes; `None` leaves this process's environment to them.
    pub node_log: Option<String>,
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
    ) -> Result<Self, LocalRingError> {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let port = || free_port().map_err(io("picking a free port"));
        let mut conf = OzoneConfig::new();
        conf.set("ozone.om.service.ids", service_id);
        let ids: Vec<String> = (1..=n).map(|i| format!("om{i}")).collect();
        conf.set(&format!("ozone.om.nodes.{service_id}"), ids.join(","));
        for id in &ids {
            conf.set(&format!("ozone.om.address.{service_id}.{id}"), format!("127.0.0.1:{}", port()?));
            conf.set(&format!("ozone.om.ratis.port.{service_id}.{id}"), port()?.to_string());
            conf.set(&format!("ozone.om.http-address.{service_id}.{id}"), format!("127.0.0.1:{}", port()?));
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
            die_with_parent: false,
            node_log: None,
        };
        ring.write_conf()?;
        Ok(ring)
    }

    /// Writes [`Self::conf`] to the shared file (used by clients and the CLI) and to every
    /// node's own file. Running nodes see it on their next reload.
    pub fn write_conf(&self) -> Result<(), LocalRingError> {
        std::fs::write(&self.conf_path, self.conf.to_xml())
            .map_err(io(format!("writing {}", self.conf_path.display())))?;
        for i in 0..self.nodes.len() {
            self.write_node_conf(i, &self.conf)?;
        }
        Ok(())
    }

    /// Writes `conf` as node `i`'s own file only.
    pub fn write_node_conf(&self, i: usize, conf: &OzoneConfig) -> Result<(), LocalRingError> {
        let path = &self.nodes[i].conf_path;
        let tmp = path.with_extension("xml.tmp");
        std::fs::write(&tmp, conf.to_xml()).map_err(io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, path).map_err(io(format!("replacing {}", path.display())))
    }

    /// `ozone.om.nodes.<sid>` as configured.
    pub fn nodes_key(&self) -> String {
        format!("ozone.om.nodes.{}", self.service_id)
    }

    /// Starts every node that is not running.
    pub fn start_all(&mut self) -> Result<(), LocalRingError> {
        for i in 0..self.nodes.len() {
            if self.nodes[i].child.is_none() {
                self.start_node(i)?;
            }
        }
        Ok(())
    }

    /// Starts node `i` (`om-node om` with `ozone.om.node.id` and its own db dir).
    pub fn start_node(&mut self, i: usize) -> Result<(), LocalRingError> {
        self.start_node_with(i, &[])
    }

    /// Starts node `i` with extra arguments after `om` (e.g. `--bootstrap`).
    pub fn start_node_with(&mut self, i: usize, om_args: &[&str]) -> Result<(), LocalRingError> {
        let node = &mut self.nodes[i];
        if node.child.is_some() {
            return Err(LocalRingError::AlreadyRunning(node.id.clone()));
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log_path)
            .map_err(io(format!("opening {}", node.log_path.display())))?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--conf")
            .arg(&node.conf_path)
            .arg("-D")
            .arg(format!("ozone.om.node.id={}", node.id))
            .arg("-D")
            .arg(format!("ozone.om.db.dirs={}", node.db_dir.display()))
            .arg("om")
            .args(om_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(filter) = &self.node_log {
            cmd.env("OMRING_LOG", filter);
        }
        if self.die_with_parent {
            child::tie_to_parent(&mut cmd);
        }
        let spawned = cmd.spawn().map_err(io(format!("starting {} ({})", node.id, self.bin.display())))?;
        node.child = Some(spawned);
        Ok(())
    }

    /// Waits up to `timeout` for node `i`'s process to exit by itself; its exit code.
    pub fn wait_exit(&mut self, i: usize, timeout: Duration) -> Result<Option<i32>, LocalRingError> {
        let deadline = Instant::now() + timeout;
        loop {
            let node = &mut self.nodes[i];
            let Some(c) = node.child.as_mut() else { return Ok(None) };
            if let Some(status) = c.try_wait().map_err(io(format!("waiting for {}", node.id)))? {
                node.child = None;
                return Ok(status.code());
            }
            if Instant::now() > deadline {
                return Err(LocalRingError::StillRunning { id: node.id.clone(), waited: timeout });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            child::kill(&mut c);
        }
    }

    /// SIGTERM and wait up to `timeout` for the exit (SIGKILL after that, and an error);
    /// returns the exit code.
    pub fn terminate(&mut self, i: usize, timeout: Duration) -> Result<Option<i32>, LocalRingError> {
        let node = &mut self.nodes[i];
        let Some(mut c) = node.child.take() else { return Ok(None) };
        match child::terminate(&mut c, timeout).map_err(io(format!("stopping {}", node.id)))? {
            Termination::Exited(status) => Ok(status.code()),
            Termination::Killed => Err(LocalRingError::IgnoredSigterm { id: node.id.clone(), waited: timeout }),
        }
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// Process ids of the running nodes.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().filter_map(|n| n.child.as_ref().map(Child::id)).collect()
    }

    /// A failover client with short retry pauses.
    pub fn client(&self) -> Result<Arc<FailoverClient>, ClientError> {
        let service = self.conf.service(Some(&self.service_id))?;
        Ok(Arc::new(
            FailoverClient::builder(service)
                .retry_policy(RetryPolicy { max_attempts: 400, wait_between_rounds: Duration::from_millis(100) })
                .request_timeout(Duration::from_secs(10))
                .connect_timeout(Duration::from_millis(300))
                // With security on: the nodes' own certificate (the ring's files).
                .security_from_config(&self.conf, &Default::default(), None)?
                .build()?,
        ))
    }

    /// Runs the CLI binary with this ring's config.
    pub fn cli(&self, args: &[&str]) -> Result<Output, LocalRingError> {
        Command::new(&self.bin)
            .arg("--conf")
            .arg(&self.conf_path)
            .args(args)
            .env("OMRING_LOG", "error")
            .output()
            .map_err(io(format!("running {}", self.bin.display())))
    }

    /// The leader every running node agrees on, if there is one and it is ready (asked through
    /// a fresh client).
    pub async fn agreed_leader(&self) -> Option<String> {
        let client = self.client().ok()?;
        self.agreed_leader_via(&client, Agreement::LeaderReady).await
    }

    /// The leader every running node agrees on, asked through `client`, when `agreement` holds.
    /// None while any running node does not answer.
    pub async fn agreed_leader_via(&self, client: &FailoverClient, agreement: Agreement) -> Option<String> {
        let running: Vec<&str> = self.nodes.iter().filter(|n| n.child.is_some()).map(|n| n.id.as_str()).collect();
        let mut leader = None;
        let mut seen = Vec::new();
        for (addr, s) in client.ring_status().await {
            if !running.contains(&addr.node_id.as_str()) {
                continue;
            }
            let s = s.ok()?;
            if s.role == Role::Leader && s.ready {
                leader = Some(s.node_id.clone());
            }
            seen.push((s.leader_id, s.ready));
        }
        let l = leader?;
        let all_ready = agreement == Agreement::LeaderReady || seen.iter().all(|(_, ready)| *ready);
        (all_ready && seen.iter().all(|(x, _)| x.as_deref() == Some(l.as_str()))).then_some(l)
    }

    /// Waits up to `timeout` for [`Self::agreed_leader`].
    pub async fn wait_leader(&self, timeout: Duration) -> Option<String> {
        poll_until(timeout, || self.agreed_leader()).await
    }

    /// Waits up to `timeout` for [`Self::agreed_leader_via`].
    pub async fn wait_leader_via(
        &self,
        client: &FailoverClient,
        agreement: Agreement,
        timeout: Duration,
    ) -> Option<String> {
        poll_until(timeout, || self.agreed_leader_via(client, agreement)).await
    }

    /// Node `i`'s log so far (empty when there is none).
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log_path).unwrap_or_default()
    }
}

/// Polls `check` every 50 ms until it yields a value or `timeout` has passed.
async fn poll_until<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(v) = check().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configure_writes_one_service_on_distinct_ports_and_a_file_per_node() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ring =
            LocalRing::configure(Path::new("om-node"), dir.path(), "svc", 3, &[("omring.x", "1")]).expect("configure");
        let text = std::fs::read_to_string(&ring.conf_path).expect("shared file");
        let conf = OzoneConfig::parse_xml(&text).expect("parse");
        assert_eq!(conf.get("omring.x"), Some("1"));
        let service = conf.service(Some("svc")).expect("service");
        let ids: Vec<&str> = service.nodes.iter().map(|n| n.node_id.as_str()).collect();
        assert_eq!(ids, ["om1", "om2", "om3"]);
        let mut addrs: Vec<String> = service.nodes.iter().flat_map(|n| [n.rpc_address(), n.http_address()]).collect();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), 6, "{addrs:?}");
        for n in &ring.nodes {
            assert_eq!(std::fs::read_to_string(&n.conf_path).expect("node file"), text);
        }
        assert_eq!(ring.nodes_key(), "ozone.om.nodes.svc");
        assert!(ring.pids().is_empty());
    }

    #[test]
    fn a_node_that_cannot_start_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("no-such-binary");
        let mut ring = LocalRing::configure(&missing, dir.path(), "svc", 1, &[]).expect("configure");
        let err = ring.start_all().expect_err("no binary");
        assert!(err.to_string().starts_with("starting om1 ("), "{err}");
        assert_eq!(ring.terminate(0, Duration::from_secs(1)).expect("nothing to stop"), None);
    }
}
