//! One node of the omring metadata ring: openraft over RocksDB, Ozone's double buffer, the
//! HTTP client API, peer RPC, health and metrics, and the Ozone-style CLI.

pub mod admin;
pub mod breakage;
pub mod cli;
pub mod localring;
pub mod metrics;
pub mod namespace;
pub mod network;
pub mod node;
pub mod propose;
pub mod roles;
pub mod server;
pub mod store;
pub mod types;

pub use node::{start_node, NodeError, NodeSettings, OmNode, ReloadSource, RunningNode, StartMode};
