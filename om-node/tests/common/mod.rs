//! Test helpers over [`om_node::localring::LocalRing`].
#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use om_client::wire::*;
use om_client::FailoverClient;
use om_node::localring::LocalRing;

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
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ring = LocalRing::configure(Path::new(BIN), dir.path(), SID, n, extra).expect("configure ring");
        ring.start_all().expect("start ring");
        Ring { ring, _dir: dir }
    }

    pub fn start_node(&mut self, i: usize) {
        self.ring.start_node(i).expect("start node");
    }

    pub fn terminate(&mut self, i: usize) -> Option<i32> {
        self.ring.terminate(i, Duration::from_secs(20)).expect("node stops on SIGTERM")
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
