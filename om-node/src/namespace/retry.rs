//! The retry cache's rows: a retried write is answered from the row its first attempt left,
//! for [`RETRY_CACHE_TTL_MS`] by the command's own time, so every replica decides alike.

use crate::types::CommandResult;

use super::Value;

/// How long a request id is remembered (`ozone.om.ratis.server.retry.cache.timeout`).
pub const RETRY_CACHE_TTL_MS: u64 = 600_000;

/// A retry-cache row: the leader's time of the request (8 bytes, big-endian), then the result
/// as JSON. The time's first byte is 0 until the year 2.2 million, which tells these rows from
/// the bare JSON rows of earlier versions (never replayed, removed by compaction).
pub(super) fn retry_row(now_ms: u64, result: &CommandResult) -> Value {
    let mut row = now_ms.to_be_bytes().to_vec();
    // Serializing our own plain types cannot fail.
    serde_json::to_writer(&mut row, result).unwrap_or_default();
    row.into()
}

fn retry_row_time(row: &[u8]) -> Option<u64> {
    let time = u64::from_be_bytes(row.get(..8)?.try_into().ok()?);
    (row[0] == 0).then_some(time)
}

/// The result a retry-cache row answers a request at `now_ms` with: `None` once the row is
/// older than the TTL. Deterministic: it depends only on the row and the command's time.
pub(super) fn live_retry_result(row: &[u8], now_ms: u64) -> Option<CommandResult> {
    let time = retry_row_time(row)?;
    if now_ms.saturating_sub(time) >= RETRY_CACHE_TTL_MS {
        return None;
    }
    serde_json::from_slice(&row[8..]).ok()
}

/// Whether compaction may remove a retry-cache row, given the latest request time applied on
/// this replica (`horizon_ms`). Rows are removed only at twice the TTL behind it: expiry itself
/// is decided by [`live_retry_result`] from the command's time, so a removal can change no
/// answer unless a later leader's clock is more than a TTL behind an earlier one's.
pub fn retry_row_expired(row: &[u8], horizon_ms: u64) -> bool {
    match retry_row_time(row) {
        Some(time) => time.saturating_add(2 * RETRY_CACHE_TTL_MS) < horizon_ms,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use om_client::wire::*;

    use super::*;
    use crate::namespace::{execute, MemTables, Table, TxnId};
    use crate::types::Command;

    #[test]
    fn retry_cache_rows_expire_by_the_commands_time() {
        let mut r = MemTables::default();
        let cmd = |now: u64| Command {
            request_id: "same".into(),
            op: WriteOp::create_volume("vol1").into(),
            now_ms: now,
            open_client_id: 0,
        };
        let (first, m) = execute(&r, &cmd(1_000), TxnId::single(1));
        r.apply(&m);
        assert!(first.is_ok());
        let (within, m) = execute(&r, &cmd(1_000 + RETRY_CACHE_TTL_MS - 1), TxnId::single(2));
        assert!(within.unwrap().replayed && m.is_empty(), "a retry within the TTL is answered from the cache");
        let (after, m) = execute(&r, &cmd(1_000 + RETRY_CACHE_TTL_MS), TxnId::single(3));
        assert_eq!(
            after.unwrap_err().code,
            ErrorCode::VolumeAlreadyExists,
            "after the TTL the request is applied again"
        );
        let row = m.iter().find(|m| m.table == Table::RetryCache).and_then(|m| m.value.clone()).unwrap();
        assert_eq!(retry_row_time(&row), Some(1_000 + RETRY_CACHE_TTL_MS));
    }

    #[test]
    fn compaction_removes_retry_rows_only_at_twice_the_ttl_behind_the_applied_time() {
        let row = retry_row(5_000, &Err(ApiError::new(ErrorCode::InternalError, "x")));
        assert!(!retry_row_expired(&row, 5_000 + RETRY_CACHE_TTL_MS));
        assert!(!retry_row_expired(&row, 5_000 + 2 * RETRY_CACHE_TTL_MS));
        assert!(retry_row_expired(&row, 5_001 + 2 * RETRY_CACHE_TTL_MS));
        assert!(retry_row_expired(br#"{"Ok":{}}"#, 0), "rows of earlier versions go");
        assert!(live_retry_result(br#"{"Ok":{}}"#, 0).is_none(), "and are never replayed");
    }
}
