//! Linearizable reads on the leader share leadership checks.
//!
//! A linearizable read must not be answered before a quorum has confirmed, after the read
//! arrived, that this node still leads (Raft's ReadIndex). Asking openraft for that once per
//! read sends one message to its core per read, and every message is a turn of the core's loop
//! (which also rebuilds and publishes its metrics). Under load that loop was a sixth of the
//! leader's CPU on the read benchmark.
//!
//! So reads queue here, and one task checks in rounds, as etcd's read loop does: a round takes
//! every read queued so far, runs one check, and answers all of them with its result. A read
//! that arrives while a check runs waits for the next round, because that check may have been
//! confirmed before the read arrived. Only one check runs at a time; an idle leader still
//! starts a check as soon as a read arrives.

use std::future::Future;

use om_client::wire::{ApiError, ErrorCode};
use tokio::sync::{mpsc, oneshot};

/// How many reads may queue for the next round before a new one waits to queue.
const QUEUED_READS: usize = 8_192;

/// Reads waiting for a leadership check.
pub struct ReadBarrier {
    queue: mpsc::Sender<oneshot::Sender<Result<(), ApiError>>>,
}

/// The receiving end [`run_rounds`] drains (the node's task passes openraft's ReadIndex check).
pub type ReadQueue = mpsc::Receiver<oneshot::Sender<Result<(), ApiError>>>;

impl ReadBarrier {
    /// A barrier and the queue its task drains.
    pub fn new() -> (Self, ReadQueue) {
        let (queue, rx) = mpsc::channel(QUEUED_READS);
        (ReadBarrier { queue }, rx)
    }

    /// Returns once a quorum confirmed this node's leadership after the call, and this node
    /// applied everything committed by then: a read answered after it is linearizable.
    pub async fn wait(&self) -> Result<(), ApiError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(reply).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Each round takes every waiter queued so far, runs `check` once and answers them all with
/// its result. Waiters that queue during a check are left for the next round.
pub async fn run_rounds<T, F, Fut>(mut queue: mpsc::Receiver<oneshot::Sender<T>>, mut check: F)
where
    T: Clone,
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    while let Some(first) = queue.recv().await {
        let mut round = vec![first];
        while let Ok(next) = queue.try_recv() {
            round.push(next);
        }
        let result = check().await;
        for waiter in round {
            // A reader that gave up (its connection closed) needs no answer.
            let _ = waiter.send(result.clone());
        }
    }
}

/// The answer to a read when the node is stopping.
pub fn stopped() -> ApiError {
    ApiError::new(ErrorCode::InternalError, "the node is shutting down; its read barrier has stopped")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(10), f).await.unwrap_or_else(|_| panic!("{what}: no answer in 10 s"))
    }

    /// A read that arrives while a check runs is answered by a later check, never by the one
    /// that was already under way; reads queued together share one check.
    #[tokio::test]
    async fn a_read_never_joins_a_check_already_under_way() {
        let (tx, rx) = mpsc::channel::<oneshot::Sender<u32>>(16);
        let checks = Arc::new(AtomicU32::new(0));
        let (started_tx, mut started) = mpsc::unbounded_channel::<u32>();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let (c, g) = (Arc::clone(&checks), Arc::clone(&gate));
        tokio::spawn(run_rounds(rx, move || {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            let (g, s) = (Arc::clone(&g), started_tx.clone());
            async move {
                let _ = s.send(n);
                g.acquire().await.map(|p| p.forget()).ok();
                n
            }
        }));
        // Queues a read and yields its answer's receiver, to be awaited later on purpose.
        #[allow(clippy::async_yields_async)]
        let read = |tx: &mpsc::Sender<oneshot::Sender<u32>>| {
            let (reply, answer) = oneshot::channel();
            let tx = tx.clone();
            async move {
                tx.send(reply).await.ok();
                answer
            }
        };

        let first = read(&tx).await;
        assert_eq!(within("check 1 starts", started.recv()).await, Some(1));
        // Queued while check 1 runs.
        let second = read(&tx).await;
        let third = read(&tx).await;
        gate.add_permits(1);
        assert_eq!(within("first read", first).await, Ok(1));
        gate.add_permits(1);
        assert_eq!(within("second read", second).await, Ok(2), "it arrived during check 1");
        assert_eq!(within("third read", third).await, Ok(2), "queued with the second, it shares check 2");
        assert_eq!(checks.load(Ordering::SeqCst), 2);
    }
}
