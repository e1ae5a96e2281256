//! RocksDB storage of a node: the Raft log (`raft-log/`) and the state machine (`om-state/`).

mod log_store;
mod state_machine;

pub use log_store::LogStore;
pub use state_machine::{free_bytes, store_error, Shared, SnapshotFile, StateMachineStore, DEFAULT_MAX_UNFLUSHED};
