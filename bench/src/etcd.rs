//! etcd as the peer for plain replicated writes and linearizable reads: a 3-member cluster on
//! loopback (fsync is always on in etcd), loaded by etcd's official `benchmark` tool; leader
//! status, transfer (`MoveLeader`, what `etcdctl move-leader` calls) and probe writes go through
//! etcd's own JSON gateway on the client port.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::omring::free_port;

#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{0}")]
    Timeout(String),
    #[error("benchmark failed ({status}): {stderr}")]
    Benchmark { status: String, stderr: String },
    #[error("cannot parse benchmark output: {0}")]
    Parse(String),
    #[error("gateway call {path} on {endpoint}: {reason}")]
    Gateway { endpoint: String, path: String, reason: String },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> EtcdError {
    let what = what.into();
    move |source| EtcdError::Io { what, source }
}

struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

pub struct EtcdCluster {
    bin_dir: PathBuf,
    dir: PathBuf,
    members: Vec<Member>,
    http: reqwest::Client,
}

impl EtcdCluster {
    pub fn start(bin_dir: &Path, dir: &Path, n: usize) -> Result<Self, EtcdError> {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let mut members = Vec::new();
        for i in 1..=n {
            members.push(Member {
                name: format!("e{i}"),
                client_port: free_port().map_err(io("picking a port"))?,
                peer_port: free_port().map_err(io("picking a port"))?,
                child: None,
            });
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| EtcdError::Io { what: "building HTTP client".into(), source: std::io::Error::other(e) })?;
        let mut c = EtcdCluster { bin_dir: bin_dir.to_path_buf(), dir: dir.to_path_buf(), members, http };
        for i in 0..n {
            c.start_member(i)?;
        }
        Ok(c)
    }

    fn start_member(&mut self, i: usize) -> Result<(), EtcdError> {
        let initial: Vec<String> =
            self.members.iter().map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port)).collect();
        let m = &self.members[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{}.log", m.name)))
            .map_err(io("opening etcd log"))?;
        let client_url = format!("http://127.0.0.1:{}", m.client_port);
        let peer_url = format!("http://127.0.0.1:{}", m.peer_port);
        let mut cmd = Command::new(self.bin_dir.join("etcd"));
        crate::child::tie_to_parent(&mut cmd);
        let child = cmd
            .arg(format!("--name={}", m.name))
            .arg(format!("--data-dir={}", self.dir.join(&m.name).display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster={}", initial.join(",")))
            .arg("--initial-cluster-state=new")
            .arg("--initial-cluster-token=omring-bench")
            .arg("--log-level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(io("starting etcd"))?;
        self.members[i].child = Some(child);
        Ok(())
    }

    pub fn pids(&self) -> Vec<u32> {
        self.members.iter().filter_map(|m| m.child.as_ref().map(|c| c.id())).collect()
    }

    pub fn endpoint(&self, name: &str) -> Option<String> {
        self.members.iter().find(|m| m.name == name).map(|m| format!("127.0.0.1:{}", m.client_port))
    }

    fn running(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.child.is_some())
    }

    async fn gateway(&self, endpoint: &str, path: &str, body: Value) -> Result<Value, EtcdError> {
        let err = |reason: String| EtcdError::Gateway { endpoint: endpoint.into(), path: path.into(), reason };
        let resp = self
            .http
            .post(format!("http://{endpoint}{path}"))
            .json(&body)
            .send()
            .await
            .map_err(|e| err(e.to_string()))?;
        let status = resp.status();
        let v: Value = resp.json().await.map_err(|e| err(e.to_string()))?;
        if !status.is_success() || v.get("error").is_some() || v.get("code").is_some() {
            return Err(err(format!("{status}: {v}")));
        }
        Ok(v)
    }

    /// (member name, member id) of the leader all running members agree on.
    pub async fn agreed_leader(&self) -> Option<(String, String)> {
        let mut leader_ids = Vec::new();
        let mut ids = Vec::new();
        for m in self.running() {
            let ep = format!("127.0.0.1:{}", m.client_port);
            let v = self.gateway(&ep, "/v3/maintenance/status", json!({})).await.ok()?;
            leader_ids.push(v.get("leader")?.as_str()?.to_string());
            ids.push((m.name.clone(), v.get("header")?.get("member_id")?.as_str()?.to_string()));
        }
        let first = leader_ids.first()?.clone();
        if first == "0" || !leader_ids.iter().all(|l| *l == first) {
            return None;
        }
        ids.into_iter().find(|(_, id)| *id == first)
    }

    pub async fn wait_leader(&self, timeout: Duration) -> Result<(String, String), EtcdError> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(l) = self.agreed_leader().await {
                return Ok(l);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(EtcdError::Timeout(format!("etcd: no agreed leader within {timeout:?} (logs in {})", self.dir.display())))
    }

    /// A member id by name (asked of that member).
    pub async fn member_id(&self, name: &str) -> Result<String, EtcdError> {
        let ep = self.endpoint(name).unwrap_or_default();
        let v = self.gateway(&ep, "/v3/maintenance/status", json!({})).await?;
        Ok(v["header"]["member_id"].as_str().unwrap_or_default().to_string())
    }

    pub async fn put(&self, endpoint: &str, key: &str, value: &str) -> Result<(), EtcdError> {
        self.gateway(endpoint, "/v3/kv/put", json!({"key": b64(key.as_bytes()), "value": b64(value.as_bytes())}))
            .await
            .map(|_| ())
    }

    /// Puts through the running members in turn until one succeeds; time from `since`. Each
    /// attempt gets 300 ms (a proposal made while there is no leader is dropped, so waiting longer
    /// on one attempt only hides when the new leader became available).
    pub async fn first_write_after(&self, since: Instant) -> Result<Duration, EtcdError> {
        let eps: Vec<String> = self.running().map(|m| format!("127.0.0.1:{}", m.client_port)).collect();
        let mut i = 0usize;
        loop {
            let ep = &eps[i % eps.len()];
            let key = format!("probe-{i}");
            let attempt = tokio::time::timeout(Duration::from_millis(300), self.put(ep, &key, "x")).await;
            if matches!(attempt, Ok(Ok(()))) {
                return Ok(since.elapsed());
            }
            if since.elapsed() > Duration::from_secs(60) {
                return Err(EtcdError::Timeout("etcd: no successful put within 60 s".into()));
            }
            i += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// MoveLeader to `target_id`, sent to the current leader (as etcdctl move-leader does).
    pub async fn move_leader(&self, leader_name: &str, target_id: &str) -> Result<(), EtcdError> {
        let ep = self.endpoint(leader_name).unwrap_or_default();
        self.gateway(&ep, "/v3/maintenance/transfer-leadership", json!({"targetID": target_id})).await.map(|_| ())
    }

    pub fn kill9(&mut self, name: &str) {
        if let Some(m) = self.members.iter_mut().find(|m| m.name == name) {
            if let Some(mut c) = m.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    pub fn restart(&mut self, name: &str) -> Result<(), EtcdError> {
        if let Some(i) = self.members.iter().position(|m| m.name == name && m.child.is_none()) {
            self.start_member(i)?;
        }
        Ok(())
    }

    /// Names of members, in order.
    pub fn names(&self) -> Vec<String> {
        self.members.iter().map(|m| m.name.clone()).collect()
    }

    /// Runs etcd's `benchmark` against the leader (`--target-leader`).
    pub fn benchmark(
        &self,
        clients: usize,
        conns: usize,
        args: &[String],
        timeout: Duration,
    ) -> Result<BenchOutput, EtcdError> {
        let eps: Vec<String> = self.running().map(|m| format!("127.0.0.1:{}", m.client_port)).collect();
        let out = crate::child::output_within(
            Command::new(self.bin_dir.join("benchmark"))
                .arg(format!("--endpoints={}", eps.join(",")))
                .arg("--target-leader")
                .arg(format!("--clients={clients}"))
                .arg(format!("--conns={conns}"))
                .arg("--precise")
                .args(args),
            timeout,
        )
        .map_err(io("running etcd benchmark"))?;
        if !out.status.success() {
            return Err(EtcdError::Benchmark {
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).chars().take(2000).collect(),
            });
        }
        parse_benchmark(&String::from_utf8_lossy(&out.stdout))
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for m in self.members.iter_mut() {
            if let Some(mut c) = m.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// gRPC connection counts tried at a client count, best reported: one, the 1:10 ratio of
/// etcd's performance guide (100 connections for 1,000 clients), and one per client.
pub fn conns_sweep(clients: usize) -> Vec<usize> {
    let mut v = vec![1, clients.div_ceil(10).max(1), clients.max(1)];
    v.dedup();
    v
}

/// What etcd's `benchmark` printed.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchOutput {
    pub total_secs: f64,
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
}

pub fn parse_benchmark(text: &str) -> Result<BenchOutput, EtcdError> {
    let field = |name: &str| -> Option<f64> {
        text.lines().find_map(|l| l.trim().strip_prefix(name)).and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    let pct = |p: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{p}% in ")))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map(|s| s * 1e3)
    };
    let errors = text
        .split_once("Error distribution:")
        .map(|(_, rest)| {
            rest.lines().filter_map(|l| l.trim().strip_prefix('[')?.split_once(']')?.0.parse::<u64>().ok()).sum()
        })
        .unwrap_or(0);
    Ok(BenchOutput {
        total_secs: field("Total:").ok_or_else(|| EtcdError::Parse(format!("no Total in {text:.300}")))?,
        requests_per_sec: field("Requests/sec:").ok_or_else(|| EtcdError::Parse("no Requests/sec".into()))?,
        p50_ms: pct("50").ok_or_else(|| EtcdError::Parse("no 50% line".into()))?,
        p99_ms: pct("99").ok_or_else(|| EtcdError::Parse("no 99% line".into()))?,
        errors,
    })
}

/// Standard base64 (the JSON gateway's encoding of bytes).
pub fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for (k, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if k <= chunk.len() {
                out.push(A[(n >> shift & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(b64(b""), "");
        assert_eq!(b64(b"f"), "Zg==");
        assert_eq!(b64(b"fo"), "Zm8=");
        assert_eq!(b64(b"foo"), "Zm9v");
        assert_eq!(b64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn parses_benchmark_summary() {
        let text = "\nSummary:\n  Total:\t2.5000 secs.\n  Slowest:\t0.0300 secs.\n  Requests/sec:\t4000.1234\n\n\
Latency distribution:\n  10% in 0.0010 secs.\n  50% in 0.0021 secs.\n  99% in 0.0150 secs.\n\n\
Error distribution:\n  [3]\tetcdserver: leader changed\n  [2]\tcontext deadline exceeded\n";
        let b = parse_benchmark(text).unwrap();
        assert_eq!(b.total_secs, 2.5);
        assert_eq!(b.requests_per_sec, 4000.1234);
        assert!((b.p50_ms - 2.1).abs() < 1e-9);
        assert!((b.p99_ms - 15.0).abs() < 1e-9);
        assert_eq!(b.errors, 5);
        assert!(parse_benchmark("garbage").is_err());
    }

    #[test]
    fn connection_ratio() {
        assert_eq!(conns_sweep(1), [1]);
        assert_eq!(conns_sweep(16), [1, 2, 16]);
        assert_eq!(conns_sweep(256), [1, 26, 256]);
    }
}
