//! Ozone's `EchoRPC` (freon `om-echo`): a request that carries a payload each way and touches
//! no namespace. With `readOnly = false` (`om-echo --ratis`) it goes through Raft as a
//! [`LogOp::Echo`] entry, queued, coalesced, replicated and applied like any write, and
//! applying it changes nothing. It measures what a request costs the ring apart from the
//! namespace: the ceiling the key and bucket rows of the benchmark compare to, on both omring
//! and Ozone's OM.

use std::sync::Arc;
use std::time::Instant;

use om_client::wire::{ApiError, ErrorCode};

use crate::command::{Command, LogOp};
use crate::state::{now_ms, OmNode};

/// The largest answer payload served: Ozone allows up to 2 GiB; the reply has to fit in one
/// Hadoop RPC frame ([`crate::hrpc`]'s 64 MiB) with room for its headers.
pub const MAX_ECHO_PAYLOAD: usize = 32 << 20;

/// The metric label of an echo.
const METRIC: &str = "EchoRPC";

/// Answers an echo on the leader (Ozone's OM answers read-only requests on its leader too):
/// through Raft when `through_raft`. `request_id` names the entry in logs.
pub async fn echo(node: &Arc<OmNode>, request_id: String, through_raft: bool) -> Result<(), ApiError> {
    let started = Instant::now();
    let result = run(node, request_id, through_raft).await;
    node.metrics.observe_result(METRIC, started, &result);
    result
}

async fn run(node: &Arc<OmNode>, request_id: String, through_raft: bool) -> Result<(), ApiError> {
    node.check_leader()?;
    if !through_raft {
        return Ok(());
    }
    let op = LogOp::Echo;
    crate::prepare::check_write(node, &request_id, &op)?;
    node.writes.write(Command { request_id, op, now_ms: now_ms(), open_client_id: 0 }).await?;
    Ok(())
}

/// The answer payload's size from the request's `payloadSizeResp`: 0 when unset, refused when
/// negative or over [`MAX_ECHO_PAYLOAD`].
pub fn payload_size(requested: Option<i32>) -> Result<usize, ApiError> {
    let n = requested.unwrap_or(0);
    match usize::try_from(n) {
        Ok(size) if size <= MAX_ECHO_PAYLOAD => Ok(size),
        _ => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("EchoRPC payloadSizeResp {n} is out of range: 0 to {MAX_ECHO_PAYLOAD} bytes"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_size_is_bounded() {
        assert_eq!(payload_size(None).unwrap(), 0);
        assert_eq!(payload_size(Some(1024)).unwrap(), 1024);
        assert_eq!(payload_size(Some(MAX_ECHO_PAYLOAD as i32)).unwrap(), MAX_ECHO_PAYLOAD);
        for bad in [-1, MAX_ECHO_PAYLOAD as i32 + 1, i32::MAX] {
            let e = payload_size(Some(bad)).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequest);
            assert!(e.message.contains(&bad.to_string()), "{}", e.message);
        }
    }
}
