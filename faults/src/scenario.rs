//! Named regression scenarios: the fault pattern of every bug the suite found, replayed with
//! a fixed schedule so that the bug, if it came back, shows again.

use crate::nemesis::{FaultKind, PlannedFault};
use crate::run::RunConfig;
use crate::traffic::TrafficSpec;

/// One regression scenario.
pub struct Scenario {
    pub name: &'static str,
    /// The bug it guards against, and where it was fixed.
    pub about: &'static str,
    pub nodes: usize,
    pub secs: u64,
    schedule: fn() -> Vec<PlannedFault>,
    /// The traffic's shape, when the bug needs one.
    traffic: fn(&mut TrafficSpec),
}

impl Scenario {
    /// The scenario's run, with `seed` for the traffic.
    pub fn config(&self, seed: u64) -> RunConfig {
        let schedule = (self.schedule)();
        let mut kinds: Vec<FaultKind> = schedule.iter().map(|f| f.kind).collect();
        kinds.sort();
        kinds.dedup();
        let mut cfg = RunConfig::new(seed, self.secs, kinds);
        cfg.nodes = Some(self.nodes);
        cfg.schedule = Some(schedule);
        (self.traffic)(&mut cfg.traffic);
        cfg
    }
}

fn fault(kind: FaultKind, hold_ms: u64, gap_ms: u64) -> PlannedFault {
    PlannedFault { kind, hold_ms, pick: 0, intensity: 0.1, gap_ms }
}

/// Every scenario, in the order the bugs were found.
pub fn all() -> Vec<Scenario> {
    vec![Scenario {
        name: "stale-read-after-whole-ring-crash",
        about: "kill -9 of every node right after writes were acknowledged: the old leader came \
                back as leader of its old term without an election (openraft's leader restore), \
                and its read index was behind writes whose commit it had not yet persisted, so a \
                linearizable read returned the value from before an acknowledged write. Fixed by \
                turning leader restore off (om-node/src/settings.rs): every leader now commits a blank \
                entry of a new term before it reads.",
        nodes: 3,
        secs: 30,
        // Gaps long enough for the traffic to flow again before the next crash: only a crash
        // under load leaves acknowledged writes whose commit no later append carried.
        schedule: || (0..10).map(|i| fault(FaultKind::KillAll, 300 + 200 * (i % 4), 2500)).collect(),
        // Few writers, so that the last acknowledged write is often the newest entry; many
        // readers of it, waiting at the restored leader when its quorum comes back.
        traffic: |t| {
            t.clients = 2;
            t.readers = 12;
            t.latest_read_share = 0.9;
        },
    }]
}

pub fn find(name: &str) -> Option<Scenario> {
    all().into_iter().find(|s| s.name == name)
}
