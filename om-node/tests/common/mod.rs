//! Test helpers over [`om_localring::LocalRing`].
#![allow(dead_code)]

pub mod pki;

use std::collections::BTreeSet;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use om_client::wire::*;
use om_client::FailoverClient;
use om_localring::LocalRing;

pub const BIN: &str = env!("CARGO_BIN_EXE_om-node");
pub const SID: &str = "omservice";

/// Polls `f` until it returns Some, or panics naming `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A started ring in a temporary directory; prints node logs when a test panics.
pub struct Ring {
    pub ring: LocalRing,
    _dir: tempfile::TempDir,
}

impl Deref for Ring {
    type Target = LocalRing;
    fn deref(&self) -> &LocalRing {
        &self.ring
    }
}

impl DerefMut for Ring {
    fn deref_mut(&mut self) -> &mut LocalRing {
        &mut self.ring
    }
}

impl Ring {
    pub fn start(n: usize, extra: &[(&str, &str)]) -> Ring {
        let mut ring = Ring::configure(n, extra);
        ring.start_all().expect("start ring");
        ring
    }

    /// Configures `n` nodes without starting any.
    pub fn configure(n: usize, extra: &[(&str, &str)]) -> Ring {
        let dir = tempfile::tempdir().expect("tempdir");
        let ring = LocalRing::configure(Path::new(BIN), dir.path(), SID, n, extra).expect("configure ring");
        Ring { ring, _dir: dir }
    }

    pub fn start_node_with(&mut self, i: usize, args: &[&str]) {
        self.ring.start_node_with(i, args).expect("start node");
    }

    pub fn start_node(&mut self, i: usize) {
        self.ring.start_node(i).expect("start node");
    }

    /// SIGTERM, then the exit code (None: ended by a signal). Any ending but exit code 0 prints
    /// the end of the node's log, so a failed assertion on it says why.
    pub fn terminate(&mut self, i: usize) -> Option<i32> {
        let code = self.ring.terminate(i, Duration::from_secs(20)).expect("node stops on SIGTERM");
        if code != Some(0) {
            let log = self.ring.log(i);
            let tail: Vec<&str> = log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
            eprintln!("node {} ended with {code:?}; the end of its log:\n{}", self.ring.nodes[i].id, tail.join("\n"));
        }
        code
    }

    pub fn index_of(&self, id: &str) -> usize {
        self.ring.index_of(id).expect("known node id")
    }

    pub fn client(&self) -> Arc<FailoverClient> {
        self.ring.client().expect("client")
    }

    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.ring.cli(args).expect("run CLI")
    }

    pub async fn wait_leader(&self, timeout: Duration) -> String {
        match self.ring.wait_leader(timeout).await {
            Some(l) => l,
            None => panic!("no agreed ready leader within {timeout:?}"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.ring.dir
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for (i, n) in self.ring.nodes.iter().enumerate() {
                eprintln!("===== {} =====\n{}", n.id, self.ring.log(i));
            }
        }
    }
}

/// Open + commit of a 1-byte key through the failover client.
pub async fn put_key(client: &FailoverClient, v: &str, b: &str, k: &str) -> Result<KeyInfo, om_client::ClientError> {
    client.create_key(v, b, k, 1, None, Default::default()).await
}

/// Client load: writers creating keys through the failover client until stopped, recording
/// what was acknowledged, when, and what failed.
pub struct Load {
    pub acked: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
    /// (sent, acknowledged) of every acknowledged key.
    pub ack_times: Arc<std::sync::Mutex<Vec<(Instant, Instant)>>>,
    pub failures: Arc<std::sync::Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    writers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Creates `vol`/`bkt` if needed, then starts `n` writers of keys `<tag><w>/k<i>`.
    pub async fn start(client: &Arc<FailoverClient>, n: usize, tag: &str) -> Load {
        for op in [WriteOp::create_volume("vol1"), WriteOp::create_bucket("vol1", "bkt1")] {
            match client.write(op).await {
                Ok(_) => {}
                Err(om_client::ClientError::Api(e))
                    if matches!(e.code, ErrorCode::VolumeAlreadyExists | ErrorCode::BucketAlreadyExists) => {}
                Err(e) => panic!("setting up the load: {e}"),
            }
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let load = Load {
            acked: Arc::default(),
            ack_times: Arc::default(),
            failures: Arc::default(),
            stop: Arc::clone(&stop),
            writers: Vec::new(),
        };
        let mut writers = Vec::new();
        for w in 0..n {
            let (client, acked, times, failures, stop) = (
                Arc::clone(client),
                Arc::clone(&load.acked),
                Arc::clone(&load.ack_times),
                Arc::clone(&load.failures),
                Arc::clone(&stop),
            );
            let tag = tag.to_string();
            writers.push(tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let k = format!("{tag}{w}/k{i:05}");
                    let sent = Instant::now();
                    match put_key(&client, "vol1", "bkt1", &k).await {
                        Ok(_) => {
                            acked.lock().unwrap().insert(k);
                            times.lock().unwrap().push((sent, Instant::now()));
                        }
                        Err(e) => failures.lock().unwrap().push(format!("{k}: {e}")),
                    }
                    i += 1;
                }
            }));
        }
        Load { writers, ..load }
    }

    pub fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Waits until `more` further keys were acknowledged.
    pub async fn wait_more(&self, more: usize, timeout: Duration) {
        let target = self.acked_count() + more;
        wait_for(&format!("{more} more acknowledged writes"), timeout, || async {
            (self.acked_count() >= target).then_some(())
        })
        .await;
    }

    /// When the first key sent after `t` was acknowledged.
    pub fn first_ack_sent_after(&self, t: Instant) -> Option<Instant> {
        self.ack_times.lock().unwrap().iter().filter(|(sent, _)| *sent > t).map(|(_, done)| *done).min()
    }

    /// Stops the writers; returns what was acknowledged and what failed.
    pub async fn stop(self) -> (std::collections::BTreeSet<String>, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for w in self.writers {
            w.await.expect("writer task");
        }
        let acked = self.acked.lock().unwrap().clone();
        let failures = self.failures.lock().unwrap().clone();
        (acked, failures)
    }
}

/// Every key of vol1/bkt1, page by page, through linearizable reads.
pub async fn list_all_keys(client: &FailoverClient) -> Vec<KeyInfo> {
    let mut all: Vec<KeyInfo> = Vec::new();
    loop {
        let op = ReadOp::ListKeys {
            volume: "vol1".into(),
            bucket: "bkt1".into(),
            prefix: String::new(),
            start_after: all.last().map(|k| k.name.clone()).unwrap_or_default(),
            max: Some(1000),
        };
        let ReadResponse::Keys { keys } = client.read(op).await.unwrap() else { panic!("not a key list") };
        if keys.is_empty() {
            return all;
        }
        all.extend(keys);
    }
}

/// Every acknowledged key is listed by a linearizable read, and the bucket's count agrees.
pub async fn assert_all_present(client: &FailoverClient, acked: &BTreeSet<String>) {
    let listed: BTreeSet<String> = list_all_keys(client).await.into_iter().map(|k| k.name).collect();
    let missing: Vec<_> = acked.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged keys missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let ReadResponse::Bucket { bucket } =
        client.read(ReadOp::BucketInfo { volume: "vol1".into(), bucket: "bkt1".into() }).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(bucket.used_namespace, listed.len() as u64, "bucket key count matches the key table");
}

/// Every node in `nodes` reaches the same state digest at the same applied index.
pub async fn assert_digests_equal(nodes: &[om_client::NodeAddress], client: &FailoverClient) {
    wait_for("identical digests on every replica", Duration::from_secs(60), || async {
        let mut seen = Vec::new();
        for n in nodes {
            match client.read_stale_from(n, ReadOp::Digest).await {
                Ok(ReadResponse::Digest { digest, applied_index, entries }) => {
                    seen.push((digest, applied_index, entries))
                }
                _ => return None,
            }
        }
        let first = seen[0].clone();
        seen.iter().all(|s| s.0 == first.0 && s.1 == first.1).then_some(())
    })
    .await;
}

/// A node's counter or gauge from its /metrics; `None` while the node does not answer.
pub async fn metric(http_address: &str, name: &str) -> Option<f64> {
    let resp = reqwest::get(format!("http://{http_address}{PATH_METRICS}")).await.ok()?;
    let text = resp.text().await.ok()?;
    let value = text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == name || k == format!("{name}_total")).then(|| v.trim().parse().ok()).flatten()
    });
    Some(value.unwrap_or(0.0))
}
