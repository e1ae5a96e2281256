//! Our ring: three real `om-node` processes on loopback started from one ozone-site.xml (the
//! way `om-node dev ring` and the tests start it), driven through `FailoverClient`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use om_client::config::RetryPolicy;
use om_client::wire::{ReadOp, Role, WriteOp};
use om_client::{ClientError, FailoverClient, OzoneConfig};

use crate::load::{self, LoadResult};

#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Config(#[from] om_client::ConfigError),
    #[error("{0}")]
    Timeout(String),
    #[error("node {0} is not configured")]
    UnknownNode(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RingError {
    let what = what.into();
    move |source| RingError::Io { what, source }
}

pub use om_client::ports::free_port;

pub const SERVICE_ID: &str = "bench";

/// Three `om-node` processes and their config.
pub struct OmRing {
    bin: PathBuf,
    dir: PathBuf,
    conf_path: PathBuf,
    conf: OzoneConfig,
    pub ids: Vec<String>,
    children: Vec<Option<Child>>,
}

impl OmRing {
    /// Writes the config for `n` voters under `dir` and starts them all at once.
    pub fn start(bin: &Path, dir: &Path, n: usize, extra: &[(String, String)]) -> Result<Self, RingError> {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let mut conf = OzoneConfig::new();
        conf.set("ozone.om.service.ids", SERVICE_ID);
        let ids: Vec<String> = (1..=n).map(|i| format!("om{i}")).collect();
        conf.set(&format!("ozone.om.nodes.{SERVICE_ID}"), ids.join(","));
        for id in &ids {
            let p = || free_port().map_err(io("picking a port"));
            conf.set(&format!("ozone.om.address.{SERVICE_ID}.{id}"), format!("127.0.0.1:{}", p()?));
            conf.set(&format!("ozone.om.ratis.port.{SERVICE_ID}.{id}"), p()?.to_string());
            conf.set(&format!("ozone.om.http-address.{SERVICE_ID}.{id}"), format!("127.0.0.1:{}", p()?));
        }
        conf.set("ozone.client.wait.between.retries.millis", "100");
        for (k, v) in extra {
            conf.set(k, v.as_str());
        }
        let conf_path = dir.join("ozone-site.xml");
        std::fs::write(&conf_path, conf.to_xml()).map_err(io("writing ozone-site.xml"))?;
        let mut ring = OmRing {
            bin: bin.to_path_buf(),
            dir: dir.to_path_buf(),
            conf_path,
            conf,
            children: ids.iter().map(|_| None).collect(),
            ids,
        };
        for i in 0..n {
            ring.start_node(i)?;
        }
        Ok(ring)
    }

    fn start_node(&mut self, i: usize) -> Result<(), RingError> {
        let id = &self.ids[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{id}.log")))
            .map_err(io("opening node log"))?;
        let mut cmd = Command::new(&self.bin);
        crate::child::tie_to_parent(&mut cmd);
        let child = cmd
            .arg("--conf")
            .arg(&self.conf_path)
            .args(["-D", &format!("ozone.om.node.id={id}")])
            .args(["-D", &format!("ozone.om.db.dirs={}", self.dir.join(id).display())])
            .arg("om")
            .env("OMRING_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(io(format!("starting {}", self.bin.display())))?;
        self.children[i] = Some(child);
        Ok(())
    }

    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().flatten().map(|c| c.id()).collect()
    }

    pub fn client(&self) -> Result<Arc<FailoverClient>, RingError> {
        let service = self.conf.service(Some(SERVICE_ID))?;
        Ok(Arc::new(
            FailoverClient::builder(service)
                .retry_policy(RetryPolicy { max_attempts: 400, wait_between_rounds: Duration::from_millis(100) })
                .request_timeout(Duration::from_secs(10))
                .connect_timeout(Duration::from_millis(300))
                .build()?,
        ))
    }

    /// The leader every running node agrees on, when it is ready.
    pub async fn agreed_leader(&self, client: &FailoverClient) -> Option<String> {
        let running: Vec<&str> =
            self.ids.iter().zip(&self.children).filter(|(_, c)| c.is_some()).map(|(id, _)| id.as_str()).collect();
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
            seen.push((s.leader_id.clone(), s.ready));
        }
        let l = leader?;
        seen.iter().all(|(x, ready)| *ready && x.as_deref() == Some(l.as_str())).then_some(l)
    }

    pub async fn wait_leader(&self, client: &FailoverClient, timeout: Duration) -> Result<String, RingError> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(l) = self.agreed_leader(client).await {
                return Ok(l);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(RingError::Timeout(format!("no agreed, ready leader within {timeout:?} (logs in {})", self.dir.display())))
    }

    pub fn kill9(&mut self, id: &str) -> Result<(), RingError> {
        let i = self.index(id)?;
        if let Some(mut c) = self.children[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        Ok(())
    }

    pub fn restart(&mut self, id: &str) -> Result<(), RingError> {
        let i = self.index(id)?;
        if self.children[i].is_none() {
            self.start_node(i)?;
        }
        Ok(())
    }

    fn index(&self, id: &str) -> Result<usize, RingError> {
        self.ids.iter().position(|x| x == id).ok_or_else(|| RingError::UnknownNode(id.to_string()))
    }
}

impl Drop for OmRing {
    fn drop(&mut self) {
        for c in self.children.iter_mut() {
            if let Some(mut c) = c.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

pub const VOLUME: &str = "bench";
pub const BUCKET: &str = "keys";
/// The volume the read workload reads.
pub const READ_VOLUME: &str = "bench-read";

/// Creates what the workloads write into.
pub async fn prepare(client: &FailoverClient) -> Result<(), RingError> {
    for op in
        [WriteOp::create_volume(VOLUME), WriteOp::create_bucket(VOLUME, BUCKET), WriteOp::create_volume(READ_VOLUME)]
    {
        match client.write(op).await {
            Ok(_) => {}
            Err(e) if e.code() == Some(om_client::wire::ErrorCode::VolumeAlreadyExists) => {}
            Err(e) if e.code() == Some(om_client::wire::ErrorCode::BucketAlreadyExists) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// One workload step. `tag` keeps names unique across steps.
pub async fn run_workload(
    client: Arc<FailoverClient>,
    workload: &str,
    clients: usize,
    duration: Duration,
    tag: &str,
) -> LoadResult {
    let tag = tag.to_string();
    let value = "v".repeat(256);
    match workload {
        crate::results::KEY => {
            load::run(clients, duration, move |w, i| {
                let client = Arc::clone(&client);
                let key = format!("{tag}/w{w}/k{i}");
                async move { client.create_key(VOLUME, BUCKET, &key, 0, None, BTreeMap::new()).await.map(|_| ()) }
            })
            .await
        }
        crate::results::BUCKET => {
            load::run(clients, duration, move |w, i| {
                let client = Arc::clone(&client);
                let op = WriteOp::create_bucket(VOLUME, format!("{tag}-w{w}-b{i}"));
                async move { client.write(op).await.map(|_| ()) }
            })
            .await
        }
        crate::results::PUT256 => {
            load::run(clients, duration, move |w, i| {
                let client = Arc::clone(&client);
                let op = WriteOp::CreateVolume {
                    volume: format!("{tag}-w{w}-v{i}"),
                    owner: None,
                    quota_in_bytes: None,
                    quota_in_namespace: None,
                    metadata: BTreeMap::from([("v".to_string(), value.clone())]),
                };
                async move { client.write(op).await.map(|_| ()) }
            })
            .await
        }
        _ => {
            load::run(clients, duration, move |_, _| {
                let client = Arc::clone(&client);
                async move { client.read(ReadOp::VolumeInfo { volume: READ_VOLUME.into() }).await.map(|_| ()) }
            })
            .await
        }
    }
}

/// Writes until one succeeds; returns how long it took from `since`.
pub async fn first_write_after(client: &FailoverClient, since: Instant, name: &str) -> Result<Duration, RingError> {
    let deadline = since + Duration::from_secs(60);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match client.write(WriteOp::create_volume(format!("{name}-{attempt}"))).await {
            Ok(_) => return Ok(since.elapsed()),
            Err(e) if Instant::now() > deadline => {
                return Err(RingError::Timeout(format!("no successful write within 60 s: {e}")))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// When the running nodes first agree on a ready leader other than `old` (polled every 10 ms
/// with a status client of its own, for up to 30 s).
pub async fn new_leader_after(ring: &OmRing, old: &str, since: Instant) -> Option<Duration> {
    let client = ring.client().ok()?;
    while since.elapsed() < Duration::from_secs(30) {
        if let Some(l) = ring.agreed_leader(&client).await {
            if l != old {
                return Some(since.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}
