//! Ozone's prepare for upgrade: a replicated marker that makes every replica refuse writes.
//!
//! `admin om prepare` proposes [`LogOp::Prepare`]; applying it records its log index in the
//! ring-state table, and from there on every other write is answered
//! `NOT_SUPPORTED_OPERATION_WHEN_PREPARED` on every replica (the leader also refuses before
//! proposing, so the log stops growing). Each node then takes a snapshot covering the marker
//! (see [`crate::run`]), so a new binary starts from a snapshot, not from old log entries.
//! [`LogOp::CancelPrepare`] removes the marker. The marker is a row, so it survives restarts
//! and travels in snapshots.

use om_client::wire::{ApiError, ErrorCode, PrepareState, PrepareStatus, WriteOutcome};

use crate::types::LogOp;

use super::tables::decode;
use super::{Table, TableError, TableRead, Tx};

const PREPARED: &[u8] = b"PREPARED";

/// The log index of the applied prepare entry, while the ring is prepared.
pub fn prepared_index(view: &dyn TableRead) -> Result<Option<u64>, TableError> {
    view.get(Table::RingState, PREPARED)?.map(|row| decode(Table::RingState, &row)).transpose()
}

/// A node's prepare status: prepared at `prepared`, with its latest snapshot at `snapshot`.
pub fn prepare_state(prepared: Option<u64>, snapshot: Option<u64>) -> PrepareState {
    match prepared {
        None => PrepareState::default(),
        Some(p) if snapshot.is_some_and(|s| s >= p) => {
            PrepareState { status: PrepareStatus::PrepareCompleted, index: p as i64 }
        }
        Some(p) => PrepareState { status: PrepareStatus::PrepareGateEnabled, index: p as i64 },
    }
}

/// The refusal of a write while prepared (Ozone's message, naming the operation).
pub fn refused_when_prepared(op: &LogOp) -> ApiError {
    ApiError::new(
        ErrorCode::NotSupportedOperationWhenPrepared,
        format!("Cannot apply write request {} when OM is in prepare mode.", op.kind()),
    )
}

/// Lets through only Prepare and CancelPrepare while the ring is prepared.
pub(super) fn gate(view: &dyn TableRead, op: &LogOp) -> Result<(), ApiError> {
    if matches!(op, LogOp::Prepare | LogOp::CancelPrepare) || prepared_index(view)?.is_none() {
        return Ok(());
    }
    Err(refused_when_prepared(op))
}

/// Records the prepare marker at this entry's index (again, if already prepared).
pub(super) fn prepare(tx: &mut Tx<'_>) -> Result<WriteOutcome, ApiError> {
    let index = tx.txn.log_index;
    tx.put(Table::RingState, PREPARED.to_vec(), &index);
    Ok(WriteOutcome::Prepared)
}

/// Removes the marker; a ring that is not prepared stays as it is.
pub(super) fn cancel(tx: &mut Tx<'_>) -> Result<WriteOutcome, ApiError> {
    tx.delete(Table::RingState, PREPARED.to_vec());
    Ok(WriteOutcome::PrepareCancelled)
}
