//! The OzoneManagerRing operator: a kube-rs controller that runs rings of om-node processes as
//! StatefulSets, forms them, scales them through Raft membership changes, moves leadership
//! away from pods about to be disrupted and restarts nodes in a safe order.
//!
//! Reconcile is a pipeline: read ([`observe`]), validate into a typed model ([`model`]), render
//! with pure builders ([`builders`]), decide with a pure planner ([`plan`]), then apply in a
//! fixed order, act on the ring, and write the status ([`reconcile`], [`status`]). Members
//! stranded by a drained or down Kubernetes Node are the planner's too ([`maintenance`]).
//! Every ring gets TLS by default with certificates the operator issues, renews and rotates
//! itself ([`pki`], [`certs`]), a NetworkPolicy, and pods that pass the `restricted` Pod
//! Security Standard (docs/security.md is the contract with the node).

pub mod apply;
pub mod builders;
pub mod cabundle;
pub mod certmanager;
pub mod certs;
pub mod cli;
pub mod context;
pub mod crd;
pub mod crdgen;
pub mod duration;
pub mod execute;
pub mod maintenance;
pub mod metrics;
pub mod model;
pub mod names;
pub mod observe;
pub mod pki;
pub mod plan;
pub mod reconcile;
pub mod ringclient;
pub mod run;
pub mod server;
pub mod siteconfig;
pub mod status;
pub mod tls;
pub mod webhook;

#[cfg(test)]
mod reconcile_certmanager_tests;
#[cfg(test)]
mod reconcile_tests;
#[cfg(test)]
mod reconcile_tls_tests;
#[cfg(test)]
pub(crate) mod testing;
