//! The nemesis: faults drawn from the run's seed, injected one at a time while traffic runs,
//! each held for a while and then healed.
//!
//! The schedule (which fault, how long, which role it hits) comes from the seed alone, so
//! `make faults SEED=S` replays it; which node holds a role (the leader, a follower) is looked
//! up when the fault starts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use strum::{EnumIter, EnumString, IntoEnumIterator, IntoStaticStr};

use crate::cluster::{Cluster, SERVICE_ID};
use crate::{say, Result};

/// Every fault the nemesis can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, EnumString, IntoStaticStr, Serialize)]
#[strum(serialize_all = "kebab-case")]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// SIGKILL of the leader, restarted after a while.
    KillLeader,
    /// SIGKILL of a follower, restarted after a while.
    KillFollower,
    /// SIGKILL of every node at once; the old leader restarts first, the others a while later.
    KillAll,
    /// SIGSTOP of the leader, SIGCONT after a while.
    PauseLeader,
    /// The leader cannot reach any peer, nor they it.
    IsolateLeader,
    /// The leader is in the smaller side of a partition.
    LeaderInMinority,
    /// The leader is in the larger side of a partition.
    LeaderInMajority,
    /// Two sides that cannot see each other, and one node that sees both.
    BridgePartition,
    /// Packets from the leader to its followers are dropped, or those back, not both.
    OneWayDrop,
    /// Every node drops a random share of the packets it receives.
    PacketLoss,
    /// A follower is decommissioned, stopped, wiped and bootstrapped again.
    MemberReplace,
    /// A follower is cut off until the leader purged the log it needs, then killed with SIGKILL
    /// while it installs the snapshot.
    SnapshotInstallKill,
    /// The node with the small disk finds it full.
    DiskFull,
    /// Leadership moves to a follower (`ozone admin om transfer -r`).
    TransferLeader,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        self.into()
    }

    pub fn all() -> Vec<FaultKind> {
        FaultKind::iter().collect()
    }

    /// Parses a comma-separated list of kind names (`all` for every kind).
    pub fn parse_list(s: &str) -> std::result::Result<Vec<FaultKind>, String> {
        if s.trim() == "all" {
            return Ok(Self::all());
        }
        s.split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| {
                k.parse::<FaultKind>().map_err(|_| {
                    let names: Vec<&str> = Self::all().into_iter().map(FaultKind::name).collect();
                    format!("unknown fault kind {k:?}; the kinds are: {}", names.join(", "))
                })
            })
            .collect()
    }
}

/// One planned fault.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedFault {
    pub kind: FaultKind,
    /// How long the fault lasts before it is healed.
    pub hold_ms: u64,
    /// A number that picks among candidate nodes (a follower, a partition's members).
    pub pick: u64,
    /// Loss probability for packet loss; which direction for one-way drops.
    pub intensity: f64,
    /// Pause after healing before the next fault.
    pub gap_ms: u64,
}

/// The schedule of a run: drawn from its seed.
pub fn plan(seed: u64, kinds: &[FaultKind], faults_secs: u64) -> Vec<PlannedFault> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut budget = faults_secs * 1000;
    // Each kind in turn, in an order drawn from the seed, so a short run still covers its kinds.
    let mut order: Vec<FaultKind> = kinds.to_vec();
    order.shuffle(&mut rng);
    let mut i = 0;
    while budget > 0 && !order.is_empty() {
        let kind = order[i % order.len()];
        i += 1;
        let hold_ms = match kind {
            FaultKind::KillAll => rng.random_range(50..800),
            FaultKind::TransferLeader => 0,
            _ => rng.random_range(1000..4000),
        };
        let f = PlannedFault {
            kind,
            hold_ms,
            pick: rng.random(),
            intensity: rng.random_range(0.05..0.3),
            gap_ms: rng.random_range(500..2000),
        };
        budget = budget.saturating_sub(f.hold_ms + f.gap_ms + 1000);
        out.push(f);
        if i % order.len() == 0 {
            order.shuffle(&mut rng);
        }
    }
    out
}

/// What happened when a fault was injected.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRecord {
    pub kind: FaultKind,
    pub at_ms: u64,
    pub healed_ms: u64,
    /// Which nodes it hit and how.
    pub detail: String,
    /// The fault could not be injected as planned (no leader, a step of it refused).
    pub skipped: Option<String>,
}

/// Settings the nemesis needs from the run.
#[derive(Debug, Clone)]
pub struct NemesisSpec {
    pub snapshot_threshold: u64,
    pub purge_gap: u64,
}

pub struct Nemesis {
    pub cluster: Arc<Cluster>,
    pub spec: NemesisSpec,
    pub stop: Arc<AtomicBool>,
}

fn pick<T: Copy>(v: &[T], n: u64) -> Option<T> {
    (!v.is_empty()).then(|| v[(n % v.len() as u64) as usize])
}

impl Nemesis {
    /// Injects each planned fault in turn until the plan or `until` runs out.
    pub async fn run(&self, plan: &[PlannedFault], until: Instant) -> Vec<FaultRecord> {
        let mut records = Vec::new();
        for f in plan {
            if Instant::now() + Duration::from_millis(f.hold_ms) >= until || self.stop.load(Ordering::Relaxed) {
                break;
            }
            let at_ms = self.cluster.now_ms();
            say!("fault {} (hold {} ms)", f.kind.name(), f.hold_ms);
            let (detail, skipped) = match self.inject(f).await {
                Ok(d) => (d, None),
                Err(e) => (String::new(), Some(e.to_string())),
            };
            if let Some(s) = &skipped {
                say!("fault {} not injected as planned: {s}", f.kind.name());
            }
            if let Err(e) = self.heal_all().await {
                say!("healing after {}: {e}", f.kind.name());
            }
            let healed_ms = self.cluster.now_ms();
            records.push(FaultRecord { kind: f.kind, at_ms, healed_ms, detail, skipped });
            tokio::time::sleep(Duration::from_millis(f.gap_ms)).await;
            // Let the ring settle before the next fault, so faults do not pile up unseen.
            if !self.cluster.wait_settled(Duration::from_secs(30)).await {
                say!("the ring did not settle within 30 s of healing {}", f.kind.name());
            }
        }
        records
    }

    /// Heals everything: network rules, paused and held processes, full disks.
    pub async fn heal_all(&self) -> Result<()> {
        let c = &self.cluster;
        c.net.heal()?;
        for i in 0..c.len() {
            c.signal(i, libc::SIGCONT);
            if c.spec.small_disk == Some(i) {
                c.free_disk(i)?;
                c.set_disk_full(i, false);
            }
        }
        Ok(())
    }

    async fn leader(&self) -> Result<usize> {
        self.cluster
            .wait_leader(Duration::from_secs(10))
            .await
            .ok_or_else(|| crate::FaultError::Ring("no leader to aim the fault at".into()))
    }

    async fn hold(&self, f: &PlannedFault) {
        tokio::time::sleep(Duration::from_millis(f.hold_ms)).await;
    }

    async fn inject(&self, f: &PlannedFault) -> Result<String> {
        let c = &self.cluster;
        let n = c.len();
        match f.kind {
            FaultKind::KillLeader | FaultKind::KillFollower => {
                let l = self.leader().await?;
                let victim = if f.kind == FaultKind::KillLeader { l } else { pick(&c.others(l), f.pick).unwrap_or(l) };
                c.kill_and_hold(victim).await;
                self.hold(f).await;
                c.release(victim, &[])?;
                Ok(format!("killed {}", c.id(victim)))
            }
            FaultKind::KillAll => {
                // The old leader comes back first and alone for `hold_ms`: clients then find only
                // it, as after a power cut where one machine boots faster.
                let first = c.leader().await;
                for i in 0..n {
                    c.hold(i, true);
                    c.signal(i, libc::SIGKILL);
                }
                for i in 0..n {
                    c.kill_and_hold(i).await;
                }
                let mut back = String::new();
                if let Some(l) = first {
                    c.release(l, &[])?;
                    // What the lone node says of itself once it answers.
                    let until = Instant::now() + Duration::from_millis(f.hold_ms);
                    while Instant::now() < until {
                        if let Some(Some(st)) = c.statuses().await.get(l).cloned() {
                            back = format!(
                                " ({} back as {:?} of term {}, commit {} of {} logged)",
                                c.id(l),
                                st.role,
                                st.term,
                                st.commit_index,
                                st.last_log_index
                            );
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
                } else {
                    self.hold(f).await;
                }
                for i in 0..n {
                    c.release(i, &[])?;
                }
                Ok(match first {
                    Some(l) => {
                        format!("killed every node; {} restarted {} ms before the others{back}", c.id(l), f.hold_ms)
                    }
                    None => "killed every node".into(),
                })
            }
            FaultKind::PauseLeader => {
                let l = self.leader().await?;
                c.signal(l, libc::SIGSTOP);
                self.hold(f).await;
                c.signal(l, libc::SIGCONT);
                Ok(format!("paused {}", c.id(l)))
            }
            FaultKind::IsolateLeader | FaultKind::LeaderInMinority | FaultKind::LeaderInMajority => {
                let l = self.leader().await?;
                let mut others = c.others(l);
                others.shuffle(&mut StdRng::seed_from_u64(f.pick));
                // How many followers stay on the leader's side: none; enough for the smaller
                // side ((n-1)/2 nodes); enough for the larger side (n/2+1 nodes).
                let side = match f.kind {
                    FaultKind::IsolateLeader => 0,
                    FaultKind::LeaderInMinority => (n - 1) / 2 - 1,
                    _ => n / 2,
                };
                let mut a = vec![l];
                a.extend(others.iter().take(side));
                let b: Vec<usize> = others.iter().skip(side).copied().collect();
                for &x in &a {
                    for &y in &b {
                        c.net.cut(x, y)?;
                    }
                }
                self.hold(f).await;
                Ok(format!("{} | {}", ids(c, &a), ids(c, &b)))
            }
            FaultKind::BridgePartition => {
                let l = self.leader().await?;
                let mut others = c.others(l);
                others.shuffle(&mut StdRng::seed_from_u64(f.pick));
                let a_len = (n - 1) / 2;
                let mut a = vec![l];
                a.extend(others.iter().take(a_len - 1));
                let bridge = others[a_len - 1];
                let rest: Vec<usize> = others.iter().skip(a_len).copied().collect();
                for &x in &a {
                    for &y in &rest {
                        c.net.cut(x, y)?;
                    }
                }
                self.hold(f).await;
                Ok(format!("{} | bridge {} | {}", ids(c, &a), c.id(bridge), ids(c, &rest)))
            }
            FaultKind::OneWayDrop => {
                let l = self.leader().await?;
                let outbound = f.intensity < 0.175;
                for y in c.others(l) {
                    if outbound {
                        c.net.drop_to(l, y)?;
                    } else {
                        c.net.drop_from(l, y)?;
                    }
                }
                self.hold(f).await;
                Ok(format!("{} {} its followers", c.id(l), if outbound { "cannot send to" } else { "cannot hear" }))
            }
            FaultKind::PacketLoss => {
                for i in 0..n {
                    c.net.lose(i, f.intensity)?;
                }
                self.hold(f).await;
                Ok(format!("{:.0}% loss on every node", f.intensity * 100.0))
            }
            FaultKind::TransferLeader => {
                let out = c.cli(&["admin", "om", "transfer", "-id", SERVICE_ID, "-r"])?;
                let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
                if !out.status.success() {
                    return Err(crate::FaultError::Ring(format!("transfer refused: {}", text.trim())));
                }
                Ok(text.trim().to_string())
            }
            FaultKind::MemberReplace => self.member_replace(f).await,
            FaultKind::SnapshotInstallKill => self.snapshot_install_kill(f).await,
            FaultKind::DiskFull => {
                let Some(d) = c.spec.small_disk else {
                    return Err(crate::FaultError::Ring("this run has no small disk".into()));
                };
                c.set_disk_full(d, true);
                let filled = c.fill_disk(d)?;
                self.hold(f).await;
                c.free_disk(d)?;
                // Exits up to here were the full disk's; later ones are not.
                c.reap_and_restart()?;
                c.set_disk_full(d, false);
                Ok(format!("{}'s disk full ({} MiB filler)", c.id(d), filled >> 20))
            }
        }
    }

    /// Decommission, stop, wipe and bootstrap one follower, as an operator replaces a member.
    async fn member_replace(&self, f: &PlannedFault) -> Result<String> {
        let c = &self.cluster;
        let l = self.leader().await?;
        let victim = pick(&c.others(l), f.pick).unwrap_or(l);
        let id = c.id(victim);
        let key = format!("ozone.om.decommissioned.nodes.{SERVICE_ID}");
        for i in c.others(victim) {
            c.write_node_conf(i, &[(key.clone(), id.clone())])?;
        }
        let host = c.net.slot.node_ip(victim).to_string();
        let out = c.cli(&["admin", "om", "decommission", "-id", SERVICE_ID, "-nodeid", &id, "-hostname", &host])?;
        let restore = |c: &Cluster| -> Result<()> {
            for i in c.others(victim) {
                c.write_node_conf(i, &[])?;
            }
            Ok(())
        };
        if !out.status.success() {
            restore(c)?;
            return Err(crate::FaultError::Ring(format!(
                "decommission of {id} refused: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        c.stop_and_hold(victim, Duration::from_secs(10)).await;
        c.wipe(victim)?;
        restore(c)?;
        c.release(victim, &["--bootstrap"])?;
        // The bootstrap is done when the node is a voter again; until then the supervisor
        // restarts it with --bootstrap, as a retrying operator would.
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let st = c.statuses().await;
            let voter = st.iter().flatten().any(|s| s.members.iter().any(|m| m.node_id == id && m.voter));
            if voter {
                break;
            }
            if Instant::now() >= until {
                c.clear_start_args(victim);
                return Err(crate::FaultError::Ring(format!("{id} did not become a voter again within 60 s")));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        c.clear_start_args(victim);
        self.hold(f).await;
        Ok(format!("replaced {id}"))
    }

    /// Cut a follower off until it needs a snapshot, heal, and kill it during the install.
    async fn snapshot_install_kill(&self, f: &PlannedFault) -> Result<String> {
        let c = &self.cluster;
        let l = self.leader().await?;
        let victim = pick(&c.others(l), f.pick).unwrap_or(l);
        let id = c.id(victim);
        let behind_at = c.statuses().await.get(victim).cloned().flatten().map(|s| s.last_log_index).unwrap_or(0);
        for y in c.others(victim) {
            c.net.cut(victim, y)?;
        }
        // Far enough ahead that a snapshot was taken past the follower and the log purged.
        let need = behind_at + 2 * self.spec.snapshot_threshold + self.spec.purge_gap + 50;
        let until = Instant::now() + Duration::from_secs(40);
        let mut ahead = false;
        while Instant::now() < until && !self.stop.load(Ordering::Relaxed) {
            let st = c.statuses().await;
            if st.iter().flatten().any(|s| s.role == om_client::wire::Role::Leader && s.last_log_index >= need) {
                ahead = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        c.net.heal()?;
        if !ahead {
            return Err(crate::FaultError::Ring(format!(
                "the leader did not get {need} entries ahead of {id} in time"
            )));
        }
        // The incoming archive exists from the first byte received until the install ends.
        let snapshots = c.data_dir(victim).join("db/om-state/snapshots");
        let until = Instant::now() + Duration::from_secs(15);
        let mut seen = false;
        while Instant::now() < until {
            let incoming = std::fs::read_dir(&snapshots)
                .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("incoming-")))
                .unwrap_or(false);
            if incoming {
                seen = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        c.kill_and_hold(victim).await;
        self.hold(f).await;
        c.release(victim, &[])?;
        if seen {
            Ok(format!("killed {id} while it received or installed a snapshot"))
        } else {
            Err(crate::FaultError::Ring(format!("{id} caught up without a snapshot install; killed it anyway")))
        }
    }
}

fn ids(c: &Cluster, v: &[usize]) -> String {
    v.iter().map(|&i| c.id(i)).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_one_schedule_covering_every_kind() {
        let kinds = FaultKind::all();
        let a = plan(7, &kinds, 200);
        let b = plan(7, &kinds, 200);
        assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
        for k in &kinds {
            assert!(a.iter().any(|f| f.kind == *k), "{k:?} missing from {a:?}");
        }
        assert_ne!(serde_json::to_string(&plan(8, &kinds, 200)).unwrap(), serde_json::to_string(&a).unwrap());
    }

    #[test]
    fn kind_lists_parse_and_name_what_is_wrong() {
        assert_eq!(
            FaultKind::parse_list("kill-all, pause-leader").unwrap(),
            [FaultKind::KillAll, FaultKind::PauseLeader]
        );
        assert_eq!(FaultKind::parse_list("all").unwrap().len(), FaultKind::iter().count());
        let e = FaultKind::parse_list("kill-everything").unwrap_err();
        assert!(e.contains("kill-everything") && e.contains("snapshot-install-kill"), "{e}");
    }
}
