//! One node of the omring metadata ring: openraft over RocksDB, Ozone's double buffer, the
//! HTTP client API, peer RPC, health and metrics, and the Ozone-style CLI.
//!
//! Modules depend on each other in one direction only:
//! `types`, `command` → `store`, `namespace` → `security` → `settings` → `state` (the shared
//! [`OmNode`]) → `propose`, `admin`, `prepare`, `echo`, `network`, `listener`, `server` → `hrpc` (Ozone's Hadoop
//! RPC on the client port) → `run` ([`start_node`], [`run`]) → `cli` → the binary.

pub mod admin;
pub mod audit;
pub mod authz;
pub mod breakage;
pub mod cli;
pub mod command;
pub mod echo;
pub mod hrpc;
pub mod listener;
pub mod metrics;
pub mod namespace;
pub mod network;
pub mod prepare;
pub mod propose;
pub mod read_barrier;
pub mod run;
pub mod security;
pub mod server;
pub mod settings;
pub mod state;
pub mod store;
pub mod types;

pub use run::{run, start_node, RunMode, RunningNode};
pub use settings::{NodeError, NodeSettings, ReloadSource, StartMode};
pub use state::OmNode;
