//! Ozone's prepare for upgrade, on a node: the administrators' `prepare` and `cancelprepare`,
//! and the snapshot every node takes once the prepare entry is applied.
//!
//! The marker and the write gate are replicated state ([`crate::namespace::prepared_index`]);
//! here the leader proposes them, refuses writes before proposing while prepared, and each node
//! snapshots past the marker (openraft then purges the log behind the snapshot), which is when
//! it reports PREPARE_COMPLETED.

use std::sync::Arc;
use std::time::{Duration, Instant};

use om_client::wire::{ApiError, PrepareResponse, WriteOutcome, WriteResponse};
use openraft::async_runtime::WatchReceiver;

use crate::command::{Command, LogOp};
use crate::state::{now_ms, OmNode};

/// How often a node looks for a prepare entry it has not snapshotted yet.
const CHECK_EVERY: Duration = Duration::from_millis(200);
/// How long before a snapshot that did not show up is asked for again.
const SNAPSHOT_RETRY: Duration = Duration::from_secs(10);

/// Proposes the prepare entry on the leader; answers its log index once applied here.
pub async fn prepare(node: &OmNode) -> Result<PrepareResponse, ApiError> {
    let r = propose(node, LogOp::Prepare).await?;
    Ok(PrepareResponse { txn_id: r.log_index })
}

/// Proposes the end of prepare on the leader.
pub async fn cancel(node: &OmNode) -> Result<WriteResponse, ApiError> {
    propose(node, LogOp::CancelPrepare).await
}

async fn propose(node: &OmNode, op: LogOp) -> Result<WriteResponse, ApiError> {
    node.check_leader()?;
    let request_id = format!("om-{}-{}-{:016x}", op.kind(), node.node_id, rand::random::<u64>());
    let r = node.writes.write(Command { request_id, op, now_ms: now_ms(), open_client_id: 0 }).await?;
    match r.outcome {
        WriteOutcome::Prepared | WriteOutcome::PrepareCancelled => Ok(r),
        other => Err(ApiError::new(om_client::wire::ErrorCode::InternalError, format!("prepare answered {other:?}"))),
    }
}

/// The leader's check before it proposes a client write: refused while prepared, so the log
/// stops growing (apply refuses too, for writes proposed before the marker was applied). A
/// retry of a write applied before the prepare goes on, so apply answers it from the retry
/// cache.
pub fn check_write(node: &OmNode, request_id: &str, op: &LogOp) -> Result<(), ApiError> {
    if node.sm.prepared_index().is_none() || node.sm.has_retry_row(request_id) {
        return Ok(());
    }
    Err(crate::namespace::refused_when_prepared(op))
}

/// Runs on every node: once a prepare entry is applied and no snapshot covers it, asks
/// openraft for one (again after [`SNAPSHOT_RETRY`] if none came), then for the log before the
/// marker to be purged.
pub async fn snapshot_when_prepared(node: Arc<OmNode>) {
    let mut asked: Option<(u64, Instant)> = None;
    let mut purged_to = 0;
    let mut ticks = tokio::time::interval(CHECK_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(index) = node.sm.prepared_index() else { continue };
        let m = node.raft.metrics().borrow_watched().clone();
        let snapshot = m.snapshot.as_ref().map(|l| l.index);
        if snapshot.is_some_and(|s| s >= index) {
            if purged_to < index {
                match node.raft.trigger().purge_log(index).await {
                    Ok(()) => purged_to = index,
                    Err(e) => tracing::warn!(error = %e, index, "cannot purge the log behind the prepare snapshot"),
                }
            }
            continue;
        }
        let applied = m.last_applied.as_ref().map(|l| l.index).unwrap_or(0);
        let due = asked.is_none_or(|(i, at)| i != index || at.elapsed() >= SNAPSHOT_RETRY);
        if applied >= index && due {
            asked = Some((index, Instant::now()));
            tracing::info!(index, "prepared for upgrade: taking a snapshot past the prepare entry");
            if let Err(e) = node.raft.trigger().snapshot().await {
                tracing::warn!(error = %e, index, "cannot ask for the prepare snapshot");
            }
        }
    }
}
