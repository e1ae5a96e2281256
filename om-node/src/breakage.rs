//! Deliberate bugs, for the fault suite to prove that it catches them.
//!
//! Only a build with the `broken-for-tests` feature has them, and then only those named in
//! `OMRING_BREAK` (comma-separated) are on. Product builds compile every check here to `false`.
//! - `leader-restore`: a restarted leader may lead again in its old term without an election
//!   (the stale read after a whole-ring crash, fixed in [`crate::settings`]).
//! - `stale-reads`: linearizable reads skip the leadership check and the read index, and any
//!   node answers them from its own applied state.

#[cfg(feature = "broken-for-tests")]
fn broken(name: &str) -> bool {
    std::env::var("OMRING_BREAK").map(|v| v.split(',').any(|b| b.trim() == name)).unwrap_or(false)
}

#[cfg(not(feature = "broken-for-tests"))]
fn broken(_name: &str) -> bool {
    false
}

/// Whether openraft may restore a restarted leader without an election.
pub fn leader_restore() -> bool {
    broken("leader-restore")
}

/// Whether linearizable reads are answered from local state without any check.
pub fn stale_reads() -> bool {
    broken("stale-reads")
}

/// The breakages this process runs with, for a warning at start.
pub fn active() -> Vec<&'static str> {
    [("leader-restore", leader_restore()), ("stale-reads", stale_reads())]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect()
}
