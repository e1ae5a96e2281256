//! Side-by-side benchmark of omring against etcd and Apache Ozone's Ozone Manager, and
//! `scale` ([`scale`]): how omring's costs grow with the namespace.
//!
//! Users choose between these three for replicated metadata, so each runs here as a 3-voter
//! cluster on loopback with fsync on, driven at the same client counts, and the harness reads
//! CPU time and RSS of every server process from `/proc` the same way for all of them.
//! The peers come from the registries (see `bench/scripts/setup-peers.sh`); this crate only
//! starts processes and measures.

pub mod child;
pub mod etcd;
pub mod freon;
pub mod fsync;
pub mod jvm;
pub mod load;
pub mod omring;
pub mod ozone;
pub mod procstat;
pub mod report;
pub mod results;
pub mod scale;
pub mod scale_results;
pub mod scale_ring;
pub mod scale_steps;
pub mod suite;
