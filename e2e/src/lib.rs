//! End-to-end testing of omring on real Kubernetes: a control plane, real Nodes (containerd,
//! kubelet, CNI, kube-proxy, CoreDNS) from `e2e/nodes/`, the project's images and its chart.
//! [`harness`] brings the cluster up and offers the waits and the client load that the scenario
//! tests in `tests/` are written with.

pub mod harness;
