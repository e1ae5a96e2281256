//! End-to-end testing of omring on a real Kubernetes control plane.
//!
//! There is no container runtime on the machines this runs on, so [`agent`] plays the kubelet:
//! it registers Nodes and runs the pods scheduled to them as local processes (the locally built
//! binaries stand in for the images). [`harness`] starts the control plane from
//! `e2e/controlplane/`, the agent, the operator and the chart, and offers the waits and the
//! client load that the scenario tests in `tests/` are written with.

pub mod agent;
pub mod harness;
