//! Our ring: three real `om-node` processes on loopback started from one ozone-site.xml by
//! [`om_localring::LocalRing`] (what `om-node dev ring` and the tests start), driven through
//! `FailoverClient`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use om_client::wire::{ReadOp, WriteOp};
use om_client::{ClientError, FailoverClient};
use om_localring::{Agreement, LocalRing, LocalRingError};

use crate::load::{self, LoadResult};

#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error(transparent)]
    Local(#[from] LocalRingError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Timeout(String),
    #[error("node {0} is not configured")]
    UnknownNode(String),
}

pub use om_client::ports::free_port;

pub const SERVICE_ID: &str = "bench";

/// `om-node` voters started as [`LocalRing`] starts them, tied to the harness (a killed run
/// leaves no ring behind), addressed by node id, with a leader only once every voter is ready.
pub struct OmRing {
    ring: LocalRing,
}

impl OmRing {
    /// Writes the config for `n` voters under `dir` and starts them all at once.
    pub fn start(bin: &Path, dir: &Path, n: usize, extra: &[(String, String)]) -> Result<Self, RingError> {
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut ring = LocalRing::configure(bin, dir, SERVICE_ID, n, &extra)?;
        ring.die_with_parent = true;
        ring.node_log = Some("warn".into());
        ring.start_all()?;
        Ok(OmRing { ring })
    }

    /// The ring's ozone-site.xml for an Ozone client (freon), with the client retry pause the
    /// Ozone cluster's file sets too.
    pub fn ozone_site_xml(&self) -> String {
        let mut conf = self.ring.conf.clone();
        conf.set("ozone.client.wait.between.retries.millis", "100");
        conf.to_xml()
    }

    /// The configured node ids.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.ring.nodes.iter().map(|n| n.id.as_str())
    }

    pub fn pids(&self) -> Vec<u32> {
        self.ring.pids()
    }

    pub fn client(&self) -> Result<Arc<FailoverClient>, RingError> {
        Ok(self.ring.client()?)
    }

    /// The leader every running node agrees on, when every running node is ready.
    pub async fn agreed_leader(&self, client: &FailoverClient) -> Option<String> {
        self.ring.agreed_leader_via(client, Agreement::AllReady).await
    }

    pub async fn wait_leader(&self, client: &FailoverClient, timeout: Duration) -> Result<String, RingError> {
        self.ring.wait_leader_via(client, Agreement::AllReady, timeout).await.ok_or_else(|| {
            RingError::Timeout(format!(
                "no agreed, ready leader within {timeout:?} (logs in {})",
                self.ring.dir.display()
            ))
        })
    }

    pub fn kill9(&mut self, id: &str) -> Result<(), RingError> {
        let i = self.index(id)?;
        self.ring.kill9(i);
        Ok(())
    }

    pub fn restart(&mut self, id: &str) -> Result<(), RingError> {
        let i = self.index(id)?;
        if self.ring.nodes[i].child.is_none() {
            self.ring.start_node(i)?;
        }
        Ok(())
    }

    fn index(&self, id: &str) -> Result<usize, RingError> {
        self.ring.index_of(id).ok_or_else(|| RingError::UnknownNode(id.to_string()))
    }
}

/// Where the key workloads write: the names freon uses too.
pub use crate::freon::{BUCKET, VOLUME};
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
    // 256 random characters, drawn once per step as etcd's `benchmark put` draws its value
    // (OmDriver does the same for Ozone): no system gets a value that compresses to nothing.
    let value = random_value(256);
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

/// `len` random alphanumeric characters.
pub fn random_value(len: usize) -> String {
    use rand::Rng;
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(len).map(char::from).collect()
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
