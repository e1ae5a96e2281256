//! The read step of reconcile: what the API server and the nodes say about one ring, turned
//! into the planner's [`Observed`]. Reads only; a node that does not answer is recorded as
//! such, never treated as an error of the reconcile.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Node, PersistentVolumeClaim, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};

use crate::model::RingModel;
use crate::names::{ANNOTATION_EVICTION_REQUESTED_AT, ANNOTATION_POD_SPEC_HASH, CONFIG_FILE, LABEL_ROLE};
use crate::plan::{NodeView, Observed, PodView, PvcView};
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
    }
}

fn cordoned(node: &Node) -> bool {
    let spec = node.spec.as_ref();
    spec.and_then(|s| s.unschedulable).unwrap_or(false)
        || spec
            .and_then(|s| s.taints.as_ref())
            .is_some_and(|ts| ts.iter().any(|t| t.key == "node.kubernetes.io/unschedulable"))
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

    let pvc_api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let pvcs: Vec<PvcView> = pvc_api
        .list(&selector)
        .await
        .map_err(err("persistent volume claims"))?
        .items
        .iter()
        .filter_map(|v| {
            let name = v.metadata.name.clone()?;
            let ordinal = names.ordinal_of_pvc(&name)?;
            Some(PvcView { name, ordinal, terminating: v.metadata.deletion_timestamp.is_some() })
        })
        .collect();

    let node_api: Api<Node> = Api::all(client.clone());
    let mut cordoned_nodes = BTreeSet::new();
    let k8s_nodes: BTreeSet<&String> = pods.iter().filter_map(|p| p.node_name.as_ref()).collect();
    for n in k8s_nodes {
        if let Some(node) = node_api.get_opt(n).await.map_err(err(format!("node {n}")))? {
            if cordoned(&node) {
                cordoned_nodes.insert(n.clone());
            }
        }
    }

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
}
