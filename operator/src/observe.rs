//! The read step of reconcile: what the API server and the nodes say about one ring, turned
//! into the planner's [`Observed`]. Reads only; a node that does not answer is recorded as
//! such, never treated as an error of the reconcile.
//!
//! Kubernetes Nodes are read for the pods (cordoned ones move leadership) and for the volumes
//! of pods that are not ready: a PersistentVolume pinned to one Node (nodeAffinity, as local
//! volumes have) strands its member when that Node is cordoned, NotReady or gone. Volumes of
//! ready pods are not looked at, so a healthy ring costs no PersistentVolume reads.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    ConfigMap, Node, NodeSelectorRequirement, PersistentVolume, PersistentVolumeClaim, Pod, Secret,
};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};

use crate::model::RingModel;
use crate::names::{
    RingNames, ANNOTATION_EVICTION_REQUESTED_AT, ANNOTATION_POD_SPEC_HASH, ANNOTATION_REMOVED_MEMBER, ANNOTATION_TLS,
    CONFIG_FILE, LABEL_HOSTNAME, LABEL_ROLE,
};
use crate::pki::{Stored, StoredSecrets};
use crate::plan::{NodeTrouble, NodeView, Observed, PodView, PvcView};
use crate::ringclient::RingClient;
use crate::siteconfig::{node_address, read_membership, Membership};

/// A failed read, with what was being read.
#[derive(Debug, thiserror::Error)]
#[error("reading {what}: {source}")]
pub struct ObserveError {
    pub what: String,
    #[source]
    pub source: kube::Error,
}

fn err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> ObserveError {
    let what = what.into();
    move |source| ObserveError { what, source }
}

fn condition_true(pod: &Pod, type_: &str) -> Option<bool> {
    pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == type_).map(|c| c.status == "True")
}

/// The planner's view of one pod.
pub fn pod_view(pod: &Pod, ordinal: u32, now: Timestamp) -> PodView {
    let meta = &pod.metadata;
    let ready = condition_true(pod, "Ready") == Some(true);
    let not_ready_for = if ready {
        None
    } else {
        let since = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
            .and_then(|c| c.last_transition_time.as_ref())
            .map(|t| t.0)
            .or_else(|| meta.creation_timestamp.as_ref().map(|t| t.0));
        since.map(|s| Duration::try_from(now.duration_since(s)).unwrap_or_default())
    };
    let annotation = |key: &str| meta.annotations.as_ref().and_then(|a| a.get(key));
    // An unreadable time counts as no record: the webhook writes the next attempt afresh.
    let eviction_requested_ago = annotation(ANNOTATION_EVICTION_REQUESTED_AT)
        .and_then(|t| t.parse::<Timestamp>().ok())
        .map(|t| Duration::try_from(now.duration_since(t)).unwrap_or_default());
    PodView {
        name: meta.name.clone().unwrap_or_default(),
        ordinal,
        uid: meta.uid.clone().unwrap_or_default(),
        ready,
        not_ready_for,
        running: pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"),
        terminating: meta.deletion_timestamp.is_some(),
        disruption_target: condition_true(pod, "DisruptionTarget") == Some(true),
        node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        spec_hash: annotation(ANNOTATION_POD_SPEC_HASH).cloned(),
        role_label: meta.labels.as_ref().and_then(|l| l.get(LABEL_ROLE).cloned()),
        eviction_requested_ago,
        tls: annotation(ANNOTATION_TLS).map(|v| v == "true"),
    }
}

/// A Secret as the certificate logic reads it.
pub fn stored_secret(secret: &Secret) -> Stored {
    Stored {
        resource_version: secret.metadata.resource_version.clone(),
        data: secret.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect(),
        annotations: secret.metadata.annotations.clone().unwrap_or_default(),
        owners: secret.metadata.owner_references.iter().flatten().map(|r| r.uid.clone()).collect(),
    }
}

/// Reads the ring's three TLS Secrets (a missing one is None).
pub async fn tls_secrets(client: &kube::Client, names: &RingNames) -> Result<StoredSecrets, ObserveError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &names.namespace);
    let read = |name: String| {
        let api = api.clone();
        async move {
            let secret = api.get_opt(&name).await.map_err(err(format!("Secret {name}")))?;
            Ok::<_, ObserveError>(secret.as_ref().map(stored_secret))
        }
    };
    Ok(StoredSecrets {
        ca: read(names.ca_secret()).await?,
        tls: read(names.tls_secret()).await?,
        admin: read(names.admin_tls_secret()).await?,
    })
}

fn cordoned(node: &Node) -> bool {
    let spec = node.spec.as_ref();
    spec.and_then(|s| s.unschedulable).unwrap_or(false)
        || spec
            .and_then(|s| s.taints.as_ref())
            .is_some_and(|ts| ts.iter().any(|t| t.key == "node.kubernetes.io/unschedulable"))
}

fn elapsed(now: Timestamp, since: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(since)).unwrap_or_default()
}

/// Why a Node cannot run a pod now (None: it can). `None` for the Node means none exists.
fn node_trouble(node: Option<&Node>, now: Timestamp) -> Option<NodeTrouble> {
    let Some(node) = node else { return Some(NodeTrouble::Missing) };
    if cordoned(node) {
        return Some(NodeTrouble::Cordoned);
    }
    let ready =
        node.status.as_ref().and_then(|s| s.conditions.as_ref()).and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    if ready.is_some_and(|c| c.status == "True") {
        return None;
    }
    // Unknown (the kubelet stopped reporting) and False both count; a Node with no Ready
    // condition yet is NotReady since it registered.
    let since = ready
        .and_then(|c| c.last_transition_time.as_ref())
        .or(node.metadata.creation_timestamp.as_ref())
        .map(|t| elapsed(now, t.0));
    Some(NodeTrouble::NotReady { since: since.unwrap_or_default() })
}

/// Where a PersistentVolume's nodeAffinity pins it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pin {
    /// `kubernetes.io/hostname In [value]` (local volumes, local-path-provisioner).
    Hostname(String),
    /// `metadata.name In [value]` (a field selector term).
    Name(String),
}

/// The one Node a PersistentVolume can be used on, if its nodeAffinity names exactly one;
/// None for volumes usable on several Nodes (zonal disks, network storage).
fn pinned_to(pv: &PersistentVolume) -> Option<Pin> {
    let terms = &pv.spec.as_ref()?.node_affinity.as_ref()?.required.as_ref()?.node_selector_terms;
    // Terms are alternatives: more than one means more than one place.
    let [term] = terms.as_slice() else { return None };
    let single = |reqs: &Option<Vec<NodeSelectorRequirement>>, key: &str| {
        reqs.iter().flatten().find(|r| r.key == key && r.operator == "In").and_then(|r| match r.values.as_deref() {
            Some([v]) => Some(v.clone()),
            _ => None,
        })
    };
    single(&term.match_fields, "metadata.name")
        .map(Pin::Name)
        .or_else(|| single(&term.match_expressions, LABEL_HOSTNAME).map(Pin::Hostname))
}

/// A valid label value (so it can go into a label selector).
fn is_label_value(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Kubernetes Nodes read so far, by name (None: no such Node).
type NodeCache = BTreeMap<String, Option<Node>>;

async fn read_node(api: &Api<Node>, cache: &mut NodeCache, name: &str) -> Result<(), ObserveError> {
    if !cache.contains_key(name) {
        let node = api.get_opt(name).await.map_err(err(format!("node {name}")))?;
        cache.insert(name.to_string(), node);
    }
    Ok(())
}

/// The name of the Node a volume is pinned to (reading that Node into `cache`), if one.
async fn pinned_node(api: &Api<Node>, cache: &mut NodeCache, pin: Pin) -> Result<Option<String>, ObserveError> {
    let hostname = match pin {
        Pin::Name(name) => {
            read_node(api, cache, &name).await?;
            return Ok(Some(name));
        }
        Pin::Hostname(h) if is_label_value(&h) => h,
        Pin::Hostname(_) => return Ok(None),
    };
    let selector = format!("{LABEL_HOSTNAME}={hostname}");
    let found =
        api.list(&ListParams::default().labels(&selector)).await.map_err(err(format!("nodes {selector}")))?.items;
    match found.as_slice() {
        // No Node carries it any more: the volume's Node is gone.
        [] => {
            cache.insert(hostname.clone(), None);
            Ok(Some(hostname))
        }
        [node] => {
            let name = node.metadata.name.clone().unwrap_or(hostname);
            cache.insert(name.clone(), Some(node.clone()));
            Ok(Some(name))
        }
        _ => Ok(None),
    }
}

/// Reads the ring's objects and asks every relevant node for its status. `removed_members`
/// are the ordinals the ring's status records as removed.
pub async fn observe(
    client: &kube::Client,
    ring: &dyn RingClient,
    model: &RingModel,
    removed_members: BTreeSet<u32>,
) -> Result<Observed, ObserveError> {
    let names = &model.names;
    let ns = names.namespace.as_str();
    let selector = ListParams::default().labels(&names.selector_string());

    let cm_api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let cm = cm_api.get_opt(&names.configmap()).await.map_err(err(format!("ConfigMap {}", names.configmap())))?;
    let sts_api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    let sts =
        sts_api.get_opt(&names.statefulset()).await.map_err(err(format!("StatefulSet {}", names.statefulset())))?;
    let sts_replicas = sts.as_ref().map(|s| s.spec.as_ref().and_then(|sp| sp.replicas).unwrap_or(1).max(0) as u32);

    let configured = match cm.as_ref().and_then(|c| c.data.as_ref()).and_then(|d| d.get(CONFIG_FILE)) {
        Some(xml) => match read_membership(xml, names, &model.service_id) {
            Ok(m) if !m.nodes.is_empty() => Some(m),
            // A file someone broke: fall back to what the StatefulSet runs, never re-form.
            Ok(_) | Err(_) => {
                tracing::warn!(ring = %names.name, "ConfigMap {} has no readable node list", names.configmap());
                sts_replicas.map(Membership::first)
            }
        },
        None => None,
    };

    let now = Timestamp::now();
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pods: Vec<PodView> = pod_api
        .list(&selector)
        .await
        .map_err(err("pods"))?
        .items
        .iter()
        .filter_map(|p| {
            let ord = names.ordinal_of(p.metadata.name.as_deref()?)?;
            Some(pod_view(p, ord, now))
        })
        .collect();

    let node_api: Api<Node> = Api::all(client.clone());
    let mut k8s_nodes = NodeCache::new();
    let pvc_api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let pv_api: Api<PersistentVolume> = Api::all(client.clone());
    let mut pvcs = Vec::new();
    for v in pvc_api.list(&selector).await.map_err(err("persistent volume claims"))?.items {
        let Some(name) = v.metadata.name.clone() else { continue };
        let Some(ordinal) = names.ordinal_of_pvc(&name) else { continue };
        let terminating = v.metadata.deletion_timestamp.is_some();
        let pod_ready = pods.iter().any(|p| p.ordinal == ordinal && p.ready && !p.terminating);
        let mut node = None;
        let volume = v.spec.as_ref().and_then(|s| s.volume_name.as_deref()).filter(|n| !n.is_empty());
        if let (Some(pv_name), false, false) = (volume, pod_ready, terminating) {
            let pv = pv_api.get_opt(pv_name).await.map_err(err(format!("PersistentVolume {pv_name}")))?;
            if let Some(pin) = pv.as_ref().and_then(pinned_to) {
                node = pinned_node(&node_api, &mut k8s_nodes, pin).await?;
            }
        }
        pvcs.push(PvcView {
            name,
            ordinal,
            uid: v.metadata.uid.clone().unwrap_or_default(),
            terminating,
            removed_member: v.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(ANNOTATION_REMOVED_MEMBER)),
            node,
        });
    }

    for n in pods.iter().filter_map(|p| p.node_name.as_ref()) {
        read_node(&node_api, &mut k8s_nodes, n).await?;
    }
    let cordoned_nodes: BTreeSet<String> =
        k8s_nodes.iter().filter(|(_, n)| n.as_ref().is_some_and(cordoned)).map(|(name, _)| name.clone()).collect();
    let node_trouble: BTreeMap<String, NodeTrouble> =
        k8s_nodes.iter().filter_map(|(name, n)| node_trouble(n.as_ref(), now).map(|t| (name.clone(), t))).collect();

    // Ask every configured node and every pod for its status, concurrently.
    let mut ordinals: BTreeSet<u32> = configured.iter().flat_map(|m| m.nodes.iter().copied()).collect();
    ordinals.extend(pods.iter().map(|p| p.ordinal));
    let addresses: Vec<_> = ordinals.iter().map(|o| (*o, node_address(names, *o))).collect();
    let nodes = futures::future::join_all(addresses.iter().map(|(ord, addr)| async move {
        NodeView { ordinal: *ord, status: ring.node_status(&model.service_id, addr).await.map_err(|e| e.to_string()) }
    }))
    .await;

    Ok(Observed {
        names: names.clone(),
        configured,
        sts_replicas,
        pods,
        pvcs,
        nodes,
        cordoned: cordoned_nodes,
        node_trouble,
        removed_members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_view_reads_conditions_labels_and_annotations() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "om-1", "uid": "u1", "creationTimestamp": "2026-01-01T00:00:00Z",
                "deletionTimestamp": "2026-01-01T00:10:00Z",
                "labels": {"omring.io/role": "leader"},
                "annotations": {"omring.io/pod-spec-hash": "h1", "omring.io/eviction-requested-at": "2026-01-01T00:05:30Z"}
            },
            "spec": {"nodeName": "n1", "containers": []},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "False", "lastTransitionTime": "2026-01-01T00:05:00Z"},
                {"type": "DisruptionTarget", "status": "True"}
            ]}
        }))
        .unwrap();
        let now: Timestamp = "2026-01-01T00:06:00Z".parse().unwrap();
        let v = pod_view(&pod, 1, now);
        assert_eq!(v.name, "om-1");
        assert!(!v.ready && v.running && v.terminating && v.disruption_target);
        assert_eq!(v.not_ready_for, Some(Duration::from_secs(60)));
        assert_eq!(v.node_name.as_deref(), Some("n1"));
        assert_eq!(v.spec_hash.as_deref(), Some("h1"));
        assert_eq!(v.role_label.as_deref(), Some("leader"));
        assert_eq!(v.eviction_requested_ago, Some(Duration::from_secs(30)));
        assert_eq!(v.tls, None, "a pod from before the annotation");
        let mut unreadable = pod.clone();
        unreadable
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(ANNOTATION_EVICTION_REQUESTED_AT.into(), "soon".into());
        assert_eq!(pod_view(&unreadable, 1, now).eviction_requested_ago, None);
    }

    #[test]
    fn cordon_is_unschedulable_or_its_taint() {
        let plain: Node = serde_json::from_value(serde_json::json!({"metadata": {"name": "n"}})).unwrap();
        assert!(!cordoned(&plain));
        let flag: Node =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}}))
                .unwrap();
        assert!(cordoned(&flag));
        let taint: Node = serde_json::from_value(serde_json::json!({"metadata": {"name": "n"}, "spec": {"taints": [
            {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]}}))
        .unwrap();
        assert!(cordoned(&taint));
    }

    fn pv(affinity: serde_json::Value) -> PersistentVolume {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "pv"}, "spec": {"nodeAffinity": affinity}}))
            .unwrap()
    }

    #[test]
    fn a_volume_is_pinned_only_when_its_affinity_names_one_node() {
        let host = |values: serde_json::Value| {
            serde_json::json!({"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": values}]}]}})
        };
        assert_eq!(pinned_to(&pv(host(serde_json::json!(["n1"])))), Some(Pin::Hostname("n1".into())));
        assert_eq!(pinned_to(&pv(host(serde_json::json!(["n1", "n2"])))), None);
        let by_name = serde_json::json!({"required": {"nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["n3"]}]}]}});
        assert_eq!(pinned_to(&pv(by_name)), Some(Pin::Name("n3".into())));
        let zonal = serde_json::json!({"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}]}]}});
        assert_eq!(pinned_to(&pv(zonal)), None);
        let two_terms = serde_json::json!({"required": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]},
            {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["n2"]}]}]}});
        assert_eq!(pinned_to(&pv(two_terms)), None);
        assert_eq!(pinned_to(&pv(serde_json::Value::Null)), None);
        assert!(is_label_value("ip-10-0-0-1.ec2.internal") && !is_label_value("a b") && !is_label_value("-x"));
    }

    #[test]
    fn node_trouble_is_missing_cordoned_or_not_ready_since_the_transition() {
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        assert_eq!(node_trouble(None, now), Some(NodeTrouble::Missing));
        let node = |spec: serde_json::Value, ready: &str| -> Node {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "n", "creationTimestamp": "2026-01-01T00:00:00Z"}, "spec": spec,
                "status": {"conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": "2026-01-01T00:08:00Z"}]}
            }))
            .unwrap()
        };
        assert_eq!(node_trouble(Some(&node(serde_json::json!({}), "True")), now), None);
        assert_eq!(
            node_trouble(Some(&node(serde_json::json!({}), "Unknown")), now),
            Some(NodeTrouble::NotReady { since: Duration::from_secs(120) })
        );
        // Cordoned wins: no delay applies to it.
        assert_eq!(
            node_trouble(Some(&node(serde_json::json!({"unschedulable": true}), "False")), now),
            Some(NodeTrouble::Cordoned)
        );
        let fresh: Node = serde_json::from_value(
            serde_json::json!({"metadata": {"name": "n", "creationTimestamp": "2026-01-01T00:09:00Z"}}),
        )
        .unwrap();
        assert_eq!(node_trouble(Some(&fresh), now), Some(NodeTrouble::NotReady { since: Duration::from_secs(60) }));
    }
}
