//! Registering the agent's Nodes and keeping them alive (status heartbeat and node Lease), as a
//! kubelet does, so the scheduler places pods on them and `kubectl get nodes` shows them Ready.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use kube::Client;
use serde_json::json;

pub const FIELD_MANAGER: &str = "omring-node-agent";
/// Label on every Node of an agent: its id, so tests can tell their Nodes apart.
pub const AGENT_LABEL: &str = "omring.io/node-agent";

/// One Node the agent plays the kubelet for.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NodeSpec {
    pub name: String,
    /// `topology.kubernetes.io/zone`.
    pub zone: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub cpu: String,
    pub memory: String,
    pub pods: u32,
}

impl NodeSpec {
    pub fn new(name: impl Into<String>, zone: Option<String>) -> Self {
        Self { name: name.into(), zone, labels: BTreeMap::new(), cpu: "4".into(), memory: "8Gi".into(), pods: 110 }
    }
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Creates or updates the Node object (labels, taints untouched) and its status.
pub async fn register(
    client: &Client,
    spec: &NodeSpec,
    ip: Ipv4Addr,
    agent_id: &str,
    kubelet_port: u16,
    since: &str,
) -> Result<(), kube::Error> {
    let api: Api<Node> = Api::all(client.clone());
    let mut labels = spec.labels.clone();
    labels.insert("kubernetes.io/hostname".into(), spec.name.clone());
    labels.insert("kubernetes.io/os".into(), "linux".into());
    labels.insert("kubernetes.io/arch".into(), arch().into());
    labels.insert(AGENT_LABEL.into(), agent_id.into());
    if let Some(z) = &spec.zone {
        labels.insert("topology.kubernetes.io/zone".into(), z.clone());
        labels.insert("topology.kubernetes.io/region".into(), "local".into());
    }
    let node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": spec.name, "labels": labels},
    });
    api.patch(&spec.name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&node)).await?;
    heartbeat(client, spec, ip, kubelet_port, since).await
}

/// Refreshes the Ready condition (Ready since `since`) and the node Lease.
pub async fn heartbeat(
    client: &Client,
    spec: &NodeSpec,
    ip: Ipv4Addr,
    kubelet_port: u16,
    since: &str,
) -> Result<(), kube::Error> {
    let now = super::now_rfc3339();
    let api: Api<Node> = Api::all(client.clone());
    let alloc =
        json!({"cpu": spec.cpu, "memory": spec.memory, "pods": spec.pods.to_string(), "ephemeral-storage": "100Gi"});
    let cond = |t: &str, status: &str, reason: &str, msg: &str| {
        json!({"type": t, "status": status, "reason": reason, "message": msg,
               "lastHeartbeatTime": now, "lastTransitionTime": since})
    };
    let status = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": spec.name},
        "status": {
            "capacity": alloc, "allocatable": alloc,
            // Only the address: the API server dials the first of Hostname, InternalIP, ... it
            // finds, and node names do not resolve here.
            "addresses": [{"type": "InternalIP", "address": ip.to_string()}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
            "nodeInfo": {
                "machineID": format!("omring-{}", spec.name), "systemUUID": format!("omring-{}", spec.name),
                "bootID": format!("omring-{}", std::process::id()), "kernelVersion": kernel_version(),
                "osImage": "omring node agent (local processes)", "containerRuntimeVersion": "omring-agent://0.1.0",
                "kubeletVersion": "v1.34.12-omring-agent", "kubeProxyVersion": "",
                "operatingSystem": "linux", "architecture": arch(),
            },
            "conditions": [
                cond("Ready", "True", "KubeletReady", "omring node agent is posting ready status"),
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "no memory pressure"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "no PID pressure"),
            ],
        }
    });
    api.patch_status(&spec.name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&status)).await?;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let micro = super::now_rfc3339_micros();
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": spec.name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": spec.name, "leaseDurationSeconds": 40, "renewTime": micro},
    });
    leases.patch(&spec.name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&lease)).await?;
    Ok(())
}

/// Marks the Node NotReady (the agent is stopping; its pods no longer run).
pub async fn mark_not_ready(client: &Client, name: &str) -> Result<(), kube::Error> {
    let now = super::now_rfc3339();
    let api: Api<Node> = Api::all(client.clone());
    let status = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletStopped",
        "message": "omring node agent stopped", "lastHeartbeatTime": now, "lastTransitionTime": now}]}});
    api.patch_status(name, &PatchParams::default(), &Patch::Strategic(&status)).await?;
    Ok(())
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_default()
}
