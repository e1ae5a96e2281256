//! A ring of real `om-node` processes on loopback, started from one ozone-site.xml
//! ([`LocalRing`]), and the child-process helpers the harnesses share ([`child`]).
//!
//! One launcher for `om-node dev ring`, om-node's multi-process tests and its benchmark, and the
//! side-by-side benchmark (bench/), so what the tests exercise is what a user starts locally and
//! what the benchmark measures. It is a crate of its own rather than part of om-client because
//! om-client is the library the operator and other programs link to talk to a ring; starting,
//! signalling and killing local processes is for development and test harnesses only. It
//! depends on om-client alone (no RocksDB), so the harnesses stay quick to build.

pub mod child;
mod ring;

pub use ring::{free_port, Agreement, LocalRing, LocalRingError, NodeProc};
