//! The ring of the scale benchmark: three `om-node` voters started by [`LocalRing`] (as
//! `omring-bench run` starts them), plus spare node ids configured from the start so that a
//! fresh node can be bootstrapped into the live ring (`om --bootstrap`, as om-node's ha tests
//! grow a ring) and decommissioned again, once per catch-up sample.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use om_client::wire::{PrepareStatus, Role};
use om_client::{FailoverClient, NodeAddress, OzoneConfig};
use om_localring::{Agreement, LocalRing};

use crate::scale::ScaleError;
use crate::scale_results::{NodeMemory, MEMORY_PARTS};

const SERVICE_ID: &str = "scale";
/// Voters of the ring under test.
pub const VOTERS: usize = 3;
/// How often conditions are polled.
const POLL: Duration = Duration::from_millis(50);

/// One restart of a follower: stop (SIGTERM) and start until caught up.
#[derive(Debug, Clone)]
pub struct Restart {
    pub node: String,
    pub stop_secs: f64,
    /// From spawning the process to it answering as a ready follower at the leader's applied
    /// index.
    pub ready_secs: f64,
    pub applied_index: u64,
}

/// One fresh node bootstrapped into the ring.
#[derive(Debug, Clone)]
pub struct CatchUp {
    pub node: String,
    /// From spawning `om --bootstrap` to a ready voter at the leader's applied index.
    pub secs: f64,
    pub target_index: u64,
    /// The new node's own counters (`/metrics`).
    pub snapshots_installed: f64,
    pub snapshot_bytes: f64,
    pub snapshot_receive_secs: f64,
    /// The leader's first log index still kept (`om_raft_purged_index` + 1) when the node started.
    pub leader_purged_index: f64,
}

pub struct ScaleRing {
    ring: LocalRing,
    /// Every configured node (voters and spares): addresses for status and metrics.
    all: OzoneConfig,
    next_spare: usize,
    pub client: Arc<FailoverClient>,
}

impl ScaleRing {
    /// Configures `VOTERS + spares` nodes under `dir` and starts the voters; every file lists
    /// only the voters, so the spares are no members until bootstrapped.
    pub fn start(bin: &Path, dir: &Path, spares: usize) -> Result<Self, ScaleError> {
        let _ = std::fs::remove_dir_all(dir);
        let mut ring = LocalRing::configure(bin, dir, SERVICE_ID, VOTERS + spares, &[])?;
        ring.die_with_parent = true;
        ring.node_log = Some("warn".into());
        let all = ring.conf.clone();
        let key = ring.nodes_key();
        ring.conf.set(&key, voter_ids().join(","));
        ring.write_conf()?;
        for i in 0..VOTERS {
            ring.start_node(i)?;
        }
        let client = ring.client()?;
        Ok(ScaleRing { ring, all, next_spare: VOTERS, client })
    }

    pub fn dir(&self) -> &Path {
        &self.ring.dir
    }

    pub async fn wait_leader(&self, timeout: Duration) -> Result<String, ScaleError> {
        self.ring.wait_leader_via(&self.client, Agreement::AllReady, timeout).await.ok_or_else(|| {
            ScaleError::Timeout(format!(
                "no agreed, ready leader within {timeout:?} (logs in {})",
                self.ring.dir.display()
            ))
        })
    }

    /// Process ids of the voters, in node order.
    pub fn voter_pids(&self) -> Vec<u32> {
        self.ring.nodes[..VOTERS].iter().filter_map(|n| n.child.as_ref().map(|c| c.id())).collect()
    }

    /// (node id, data dir) of the voters.
    pub fn voter_dirs(&self) -> Vec<(String, PathBuf)> {
        self.ring.nodes[..VOTERS].iter().map(|n| (n.id.clone(), n.db_dir.clone())).collect()
    }

    fn addr(&self, id: &str) -> Result<NodeAddress, ScaleError> {
        let service = self.all.service(Some(SERVICE_ID))?;
        service.node(id).cloned().ok_or_else(|| ScaleError::Failed(format!("node {id} is not configured")))
    }

    async fn status_of(&self, id: &str) -> Option<om_client::wire::NodeStatus> {
        let addr = self.addr(id).ok()?;
        self.client.node_status(&addr).await.ok()
    }

    /// The status of the voter that leads and is ready (asked of each voter in turn, so a node
    /// still catching up does not hold the answer back).
    async fn leader_status(&self) -> Result<om_client::wire::NodeStatus, ScaleError> {
        self.poll(Duration::from_secs(120), "a ready leader among the voters", || async {
            for id in voter_ids() {
                if let Some(s) = self.status_of(&id).await {
                    if s.role == Role::Leader && s.ready {
                        return Some(s);
                    }
                }
            }
            None
        })
        .await
    }

    /// Each voter's memory gauges, in node order (a voter whose `/metrics` does not answer has
    /// no parts).
    pub async fn voter_memory(&self) -> Vec<NodeMemory> {
        let mut out = Vec::new();
        for id in voter_ids() {
            let text = match self.addr(&id) {
                Ok(a) => metrics_text(&a.http_address()).await,
                Err(_) => None,
            };
            let text = text.unwrap_or_default();
            let parts = MEMORY_PARTS
                .iter()
                .filter_map(|(part, name)| metric_in(&text, name).map(|v| (part.to_string(), v)))
                .collect();
            out.push(NodeMemory {
                node: id,
                parts,
                threads: metric_in(&text, "om_memory_threads"),
                c_heap_in_use: metric_in(&text, "om_memory_c_heap_bytes{state=\"in_use\"}"),
                c_heap_free: metric_in(&text, "om_memory_c_heap_bytes{state=\"free\"}"),
            });
        }
        out
    }

    /// The ready leader's id, if one answers within two minutes.
    pub async fn leader_id(&self) -> Option<String> {
        self.leader_status().await.ok().map(|s| s.node_id)
    }

    /// Stops follower number `nth` (counting followers only) with SIGTERM, starts it again and
    /// waits until it answers as a ready follower at the leader's applied index (at most
    /// `deadline`).
    pub async fn restart_follower(&mut self, nth: usize, deadline: Duration) -> Result<Restart, ScaleError> {
        let leader = self.leader_status().await?;
        let followers: Vec<String> = voter_ids().into_iter().filter(|id| *id != leader.node_id).collect();
        let id = followers
            .get(nth % followers.len().max(1))
            .cloned()
            .ok_or_else(|| ScaleError::Failed("no follower to restart".into()))?;
        let i = self.index(&id)?;
        let t = Instant::now();
        self.ring.terminate(i, Duration::from_secs(60))?;
        let stop_secs = t.elapsed().as_secs_f64();
        let target = self.leader_status().await?.applied_index;
        let t = Instant::now();
        self.ring.start_node(i)?;
        let applied = self
            .poll(deadline, &format!("{id} to answer as a ready follower at applied index {target}"), || async {
                let s = self.status_of(&id).await?;
                (s.role == Role::Follower && s.ready && s.applied_index >= target).then_some(s.applied_index)
            })
            .await?;
        Ok(Restart { node: id, stop_secs, ready_secs: t.elapsed().as_secs_f64(), applied_index: applied })
    }

    /// Makes every voter take a snapshot and purge its log behind it, so that a node added
    /// afterwards can only catch up by installing a snapshot: Ozone's prepare (every node
    /// snapshots past the prepare entry and purges the log before it), then cancelprepare.
    /// Returns the prepare entry's index.
    pub async fn snapshot_and_purge(&self, deadline: Duration) -> Result<u64, ScaleError> {
        let txn = self.client.prepare().await?.txn_id;
        self.poll(deadline, "every voter to report PREPARE_COMPLETED", || async {
            for id in voter_ids() {
                if self.status_of(&id).await?.prepare.status != PrepareStatus::PrepareCompleted {
                    return None;
                }
            }
            Some(())
        })
        .await?;
        // A node purges only while prepared (its prepare task stops at cancelprepare), and
        // some time after reporting PREPARE_COMPLETED: cancel only once every voter has.
        let https: Vec<String> =
            voter_ids().iter().map(|id| self.addr(id).map(|a| a.http_address())).collect::<Result<_, _>>()?;
        self.poll(deadline, &format!("every voter to purge its log up to {txn}"), || async {
            for h in &https {
                if metric(h, "om_raft_purged_index").await? < txn as f64 {
                    return None;
                }
            }
            Some(())
        })
        .await?;
        self.client.cancel_prepare().await?;
        Ok(txn)
    }

    /// Bootstraps the next spare node (fresh data dir) and waits until it is a ready voter at
    /// the leader's applied index; then decommissions it, stops it and removes its data, so
    /// the ring is three voters again.
    pub async fn add_fresh_node(&mut self, deadline: Duration) -> Result<CatchUp, ScaleError> {
        let i = self.next_spare;
        if i >= self.ring.nodes.len() {
            return Err(ScaleError::Failed("no spare node id left (more catch-up samples than configured)".into()));
        }
        self.next_spare += 1;
        let id = self.ring.nodes[i].id.clone();
        let mut with_new = self.ring.conf.clone();
        let mut members = voter_ids();
        members.push(id.clone());
        with_new.set(&self.ring.nodes_key(), members.join(","));
        for n in (0..VOTERS).chain([i]) {
            self.ring.write_node_conf(n, &with_new)?;
        }
        let leader = self.leader_status().await?;
        let target = leader.applied_index;
        let purged = metric(&self.addr(&leader.node_id)?.http_address(), "om_raft_purged_index").await.unwrap_or(0.0);
        let t = Instant::now();
        self.ring.start_node_with(i, &["--bootstrap"])?;
        let end = t + deadline;
        let outcome = loop {
            // A refused bootstrap exits at once: say so rather than wait for the deadline.
            if let Ok(code) = self.ring.wait_exit(i, Duration::ZERO) {
                break Err(ScaleError::Failed(format!(
                    "{id} exited ({code:?}) while joining: {}",
                    self.ring.log(i).lines().rev().take(5).collect::<Vec<_>>().join(" | ")
                )));
            }
            if self.joined(&id, target).await {
                break Ok(());
            }
            if Instant::now() > end {
                break Err(ScaleError::Timeout(format!(
                    "waited {deadline:?} for {id} to join as a ready voter at applied index {target} (logs in {})",
                    self.ring.dir.display()
                )));
            }
            tokio::time::sleep(POLL).await;
        };
        let secs = t.elapsed().as_secs_f64();
        let http = self.addr(&id)?.http_address();
        let installed = metric(&http, "om_snapshots_installed").await.unwrap_or(0.0);
        let bytes = metric(&http, "om_snapshot_received_bytes").await.unwrap_or(0.0);
        let recv = metric(&http, "om_snapshot_receive_seconds").await.unwrap_or(0.0);
        let removed = self.remove_spare(i, &id).await;
        outcome?;
        removed?;
        Ok(CatchUp {
            node: id,
            secs,
            target_index: target,
            snapshots_installed: installed,
            snapshot_bytes: bytes,
            snapshot_receive_secs: recv,
            leader_purged_index: purged,
        })
    }

    /// Whether `id` is a ready follower at `target` and a voter in the leader's view.
    async fn joined(&self, id: &str, target: u64) -> bool {
        let Some(s) = self.status_of(id).await else { return false };
        if !(s.ready && s.role == Role::Follower && s.applied_index >= target) {
            return false;
        }
        let Ok(l) = self.leader_status().await else { return false };
        l.members.iter().any(|m| m.node_id == id && m.voter)
    }

    /// Decommissions spare `i`, stops it, removes its data and lists the voters alone again.
    async fn remove_spare(&mut self, i: usize, id: &str) -> Result<(), ScaleError> {
        let decommissioned = match self.client.decommission(id).await {
            Ok(_) => {
                self.poll(Duration::from_secs(120), &format!("{id} to leave the ring"), || async {
                    let l = self.leader_status().await.ok()?;
                    let voters = l.members.iter().filter(|m| m.voter).count();
                    (voters == VOTERS && !l.members.iter().any(|m| m.node_id == id)).then_some(())
                })
                .await
            }
            Err(e) => Err(e.into()),
        };
        let stopped = self.ring.terminate(i, Duration::from_secs(60)).map(|_| ()).map_err(ScaleError::from);
        self.ring.write_conf()?;
        let _ = std::fs::remove_dir_all(&self.ring.nodes[i].db_dir);
        decommissioned.and(stopped)
    }

    fn index(&self, id: &str) -> Result<usize, ScaleError> {
        self.ring.index_of(id).ok_or_else(|| ScaleError::Failed(format!("node {id} is not configured")))
    }

    /// Polls `check` until it yields a value or `deadline` passes.
    async fn poll<T, F, Fut>(&self, deadline: Duration, what: &str, mut check: F) -> Result<T, ScaleError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let end = Instant::now() + deadline;
        loop {
            if let Some(v) = check().await {
                return Ok(v);
            }
            if Instant::now() > end {
                return Err(ScaleError::Timeout(format!(
                    "waited {deadline:?} for {what} (logs in {})",
                    self.ring.dir.display()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

fn voter_ids() -> Vec<String> {
    (1..=VOTERS).map(|i| format!("om{i}")).collect()
}

/// One counter or gauge from a node's `/metrics` (Prometheus text; `_total` suffix accepted).
pub async fn metric(http_address: &str, name: &str) -> Option<f64> {
    metric_in(&metrics_text(http_address).await?, name)
}

async fn metrics_text(http_address: &str) -> Option<String> {
    reqwest::get(format!("http://{http_address}{}", om_client::wire::PATH_METRICS)).await.ok()?.text().await.ok()
}

/// One sample of `text` by its name with labels, as written (`om_x{db="state"}`).
fn metric_in(text: &str, name: &str) -> Option<f64> {
    let total = format!("{name}_total");
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == name || k == total).then(|| v.trim().parse().ok()).flatten()
    })
}
