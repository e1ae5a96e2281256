//! RocksDB storage of a node: the Raft log (`raft-log/`) and the state machine (`om-state/`).
//!
//! The state machine is split by concern, each file using only the ones before it: `schema`
//! (the database's layout), `double_buffer` (applied state in memory over RocksDB), `snapshot`
//! (checkpoint archives), and `state_machine` (what openraft drives). `disk` checks free space.

mod disk;
mod double_buffer;
mod log_store;
mod schema;
mod snapshot;
mod state_machine;

pub use disk::free_bytes;
pub use double_buffer::DEFAULT_MAX_UNFLUSHED;
pub use log_store::{LogMemory, LogMemoryProbe, LogStore};
pub use schema::{DbMemory, DbMemoryUsage, SNAPSHOT_DIR};
pub use snapshot::SnapshotFile;
pub use state_machine::StateMachineStore;

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// An I/O error with `e`'s message: the error type openraft's storage traits take.
fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Storage threads (log syncers, double-buffer flushers) still running. Each may close a RocksDB
/// database as it ends; a process must not exit while that happens (RocksDB aborts when its
/// static state is torn down under an open database).
static LIVE_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Held by a storage thread for its whole life; dropped after everything it owned.
pub(crate) struct ThreadGuard(());

impl ThreadGuard {
    pub(crate) fn new() -> Self {
        LIVE_THREADS.fetch_add(1, Ordering::SeqCst);
        ThreadGuard(())
    }
}

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        LIVE_THREADS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits up to `timeout` until every storage thread has ended (all stores were dropped and
/// their databases closed). Returns whether they did.
pub fn wait_for_storage_threads(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while LIVE_THREADS.load(Ordering::SeqCst) > 0 {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}
