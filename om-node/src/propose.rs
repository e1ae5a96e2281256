//! Coalescing client writes into Raft entries on the leader.
//!
//! Every Raft entry costs the same bookkeeping whatever it carries: a turn of openraft's core
//! loop, a log write, replication and an apply step on every replica. So the leader puts the
//! client writes that queue up while its earlier entries replicate into one entry
//! ([`Proposal::Batch`]). At most `omring.raft.proposals.in.flight` entries from this queue
//! replicate at a time; a write that finds a free slot is proposed at once, alone, so an idle
//! leader adds no wait. Under load the queue fills while the slots are busy, and the next entry
//! takes all of it (up to [`MAX_BATCH_COMMANDS`]).
//!
//! Each command keeps its own request id, retry-cache row and answer; apply runs them in order,
//! each seeing the ones before it (see [`crate::namespace::TxnId`] for their object ids).

use std::sync::{Arc, Weak};

use om_client::wire::{ApiError, ErrorCode};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::state::{OmNode, Queued};
use crate::types::{Command, Proposal, MAX_BATCH_COMMANDS};

/// Drains the queue into entries, keeping at most `in_flight` of them replicating.
pub async fn run_proposer(node: Weak<OmNode>, mut queue: mpsc::Receiver<Queued>, in_flight: usize) {
    let slots = Arc::new(Semaphore::new(in_flight.max(1)));
    while let Some(first) = queue.recv().await {
        // Wait for a slot before draining: what arrives meanwhile joins this entry.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { return };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_COMMANDS {
            match queue.try_recv() {
                Ok(q) => batch.push(q),
                Err(_) => break,
            }
        }
        let Some(node) = node.upgrade() else { return };
        tokio::spawn(propose(node, batch, slot));
    }
}

async fn propose(node: Arc<OmNode>, batch: Vec<Queued>, _slot: OwnedSemaphorePermit) {
    let (cmds, replies): (Vec<Command>, Vec<_>) = batch.into_iter().map(|q| (q.cmd, q.reply)).unzip();
    let count = cmds.len();
    node.metrics.proposal_commands.observe(count as f64);
    let proposal = match <[Command; 1]>::try_from(cmds) {
        Ok([only]) => Proposal::One(only),
        Err(cmds) => Proposal::Batch(cmds),
    };
    let results = match node.raft.client_write(proposal).await {
        Ok(resp) => resp.data,
        Err(e) => vec![Err(node.raft_error("write", e)); count],
    };
    let mut results = results.into_iter();
    for reply in replies {
        let result = results.next().unwrap_or_else(|| {
            Err(ApiError::new(
                ErrorCode::InternalError,
                format!("apply answered fewer than the {count} commands proposed"),
            ))
        });
        // The client may have gone; its write stands either way.
        let _ = reply.send(result);
    }
}
