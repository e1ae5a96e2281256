//! Reconcile against the in-memory API server and a fake ring: what gets applied, in which
//! order, which ring operations run, and what the status says, including API errors and
//! nodes that do not answer.

use std::sync::Arc;

use http::Method;
use kube::core::error_boundary::DeserializeGuard;
use kube::runtime::controller::Action;
use om_client::wire::Role;
use serde_json::json;

use crate::context::Timing;
use crate::crd::OzoneManagerRing;
use crate::names::{ANNOTATION_POD_SPEC_HASH, LABEL_ROLE};
use crate::reconcile::error_policy;
use crate::siteconfig::Membership;
use crate::testing::{node_status, world, world_with, CM, RING, STS};

#[tokio::test]
async fn new_ring_applies_every_object_in_order_and_reports_forming() {
    let w = world(3);
    let action = w.reconcile().await.unwrap();
    assert_eq!(action, Action::requeue(Timing::default().busy_requeue));
    let writes: Vec<String> = w.api.writes().into_iter().filter(|x| !x.ends_with("/events")).collect();
    assert_eq!(
        writes,
        [
            "PATCH /api/v1/namespaces/ns/serviceaccounts/om",
            "PATCH /apis/omring.io/v1alpha1/namespaces/ns/ozonemanagerrings/om",
            "PATCH /apis/rbac.authorization.k8s.io/v1/clusterrolebindings/omring:ns:om:token-review",
            "PATCH /api/v1/namespaces/ns/secrets/om-ca",
            "PATCH /api/v1/namespaces/ns/secrets/om-tls",
            "PATCH /api/v1/namespaces/ns/secrets/om-admin-tls",
            "PATCH /api/v1/namespaces/ns/configmaps/om-config",
            "PATCH /api/v1/namespaces/ns/services/om-headless",
            "PATCH /api/v1/namespaces/ns/services/om",
            "PATCH /apis/apps/v1/namespaces/ns/statefulsets/om",
            "PATCH /apis/policy/v1/namespaces/ns/poddisruptionbudgets/om-leader",
            "PATCH /apis/policy/v1/namespaces/ns/poddisruptionbudgets/om-followers",
            "PATCH /apis/networking.k8s.io/v1/namespaces/ns/networkpolicies/om",
            "PATCH /apis/omring.io/v1alpha1/namespaces/ns/ozonemanagerrings/om/status",
        ]
    );
    // Server-side apply, forced, as the operator's field manager.
    let sts_apply =
        w.api.log().into_iter().find(|l| l.method == Method::PATCH && l.path.ends_with("statefulsets/om")).unwrap();
    assert!(sts_apply.content_type.starts_with("application/apply-patch"), "{}", sts_apply.content_type);
    assert!(
        sts_apply.query.contains("fieldManager=omring-operator") && sts_apply.query.contains("force=true"),
        "{}",
        sts_apply.query
    );
    assert_eq!(w.configured(), Membership::first(3));
    let sts = w.api.get(STS).unwrap();
    assert_eq!(sts["spec"]["replicas"], 3);
    assert_eq!(sts["spec"]["podManagementPolicy"], "Parallel");
    assert_eq!(sts["spec"]["updateStrategy"]["type"], "OnDelete");
    let progressing = w.condition("Progressing");
    assert_eq!((progressing["status"].as_str(), progressing["reason"].as_str()), (Some("True"), Some("Forming")));
    assert_eq!(w.condition("Available")["status"], "False");
    assert_eq!(w.status()["selector"], "app.kubernetes.io/instance=om,app.kubernetes.io/name=omring");
    assert!(w.ring.calls().is_empty(), "no membership call while forming: {:?}", w.ring.calls());
}

#[tokio::test]
async fn formed_ring_is_stable_labelled_and_reported() {
    let w = world(3);
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    let action = w.reconcile().await.unwrap();
    assert_eq!(action, Action::requeue(Timing::default().steady_requeue));
    assert_eq!(w.role_label(0).as_deref(), Some("leader"));
    assert_eq!(w.role_label(1).as_deref(), Some("follower"));
    let s = w.status();
    assert_eq!(s["leader"], "om-0");
    assert_eq!(s["readyReplicas"], 3);
    assert_eq!(s["replicas"], 3);
    assert_eq!(s["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(s["nodes"][1]["role"], "FOLLOWER");
    assert_eq!(s["nodes"][1]["hostname"], "om-1.om-headless.ns.svc.cluster.local");
    assert_eq!(w.condition("Available")["status"], "True");
    assert_eq!(w.condition("Progressing")["reason"], "Stable");
    assert_eq!(w.condition("Degraded")["status"], "False");
    assert_eq!(w.condition("Available")["observedGeneration"], 1);
    assert_eq!(s["observedGeneration"], 1);
    assert!(w.events().contains(&"Formed".to_string()), "{:?}", w.events());
    assert!(w.ring.calls().is_empty());
    // A second pass with nothing new writes no status.
    w.api.clear_log();
    w.reconcile().await.unwrap();
    assert!(!w.api.writes().iter().any(|x| x.ends_with("/status")), "{:?}", w.api.writes());
}

#[tokio::test]
async fn scale_up_config_first_then_pods_then_one_join_at_a_time() {
    let w = world(3);
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    w.reconcile().await.unwrap();
    w.set_replicas(5);
    w.ring.set_config_disagreements(vec![("om-1".into(), "om-1 does not list om-3 in ozone.om.nodes.om".into())]);
    w.reconcile().await.unwrap();
    assert_eq!(w.configured(), Membership::first(5), "the configuration lists the new nodes first");
    assert_eq!(w.sts_replicas(), 3, "no new pod before every member sees them");
    assert_eq!(w.condition("Progressing")["reason"], "WaitingForConfig");
    assert!(w.condition("Progressing")["message"].as_str().unwrap().contains("om-1 does not list om-3"));
    assert!(w.ring.calls().iter().all(|c| c.contains("asking om-0,om-1,om-2")), "{:?}", w.ring.calls());

    // Members agree: the StatefulSet grows to 5.
    w.ring.set_config_disagreements(vec![]);
    w.reconcile().await.unwrap();
    assert_eq!(w.sts_replicas(), 5);
    assert!(w.events().contains(&"Bootstrapping".to_string()));

    // Both new pods run and wait; only om-3 is joined.
    let hash = w.desired_hash();
    w.pod(3, false, &hash);
    w.pod(4, false, &hash);
    let infos = node_status("om", 0, Role::Leader, 0, &[], 1).members;
    w.ring.set("om-3", Ok(node_status("om", 3, Role::Unknown, 0, &infos, 0)));
    w.ring.set("om-4", Ok(node_status("om", 4, Role::Unknown, 0, &infos, 0)));
    w.ring.clear_calls();
    w.reconcile().await.unwrap();
    let joins: Vec<String> = w.ring.calls().into_iter().filter(|c| c.starts_with("join")).collect();
    assert_eq!(joins, ["join om-3 via om-0,om-1,om-2"]);
    assert!(w.events().contains(&"MemberAdded".to_string()));

    // om-3 is a member now: om-4 next.
    w.ring.healthy("om", &[0, 1, 2, 3], 0, 42);
    w.ring.clear_calls();
    w.reconcile().await.unwrap();
    let joins: Vec<String> = w.ring.calls().into_iter().filter(|c| c.starts_with("join")).collect();
    assert_eq!(joins, ["join om-4 via om-0,om-1,om-2,om-3"]);
}

#[tokio::test]
async fn failed_join_is_reported_and_retried() {
    let w = world(4);
    w.running(Membership::first(4), 4);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    w.ring.set("om-3", Ok(node_status("om", 3, Role::Unknown, 0, &[], 0)));
    w.ring.fail_joins(Some("TIMEOUT: learner still catching up"));
    w.reconcile().await.unwrap();
    assert_eq!(w.condition("Progressing")["reason"], "JoinFailed");
    assert!(w.events().contains(&"JoinFailed".to_string()));
    w.ring.fail_joins(None);
    w.reconcile().await.unwrap();
    assert_eq!(w.ring.calls().iter().filter(|c| c.starts_with("join om-3")).count(), 2);
}

#[tokio::test]
async fn scale_down_marks_waits_decommissions_then_shrinks() {
    let w = world(5);
    w.running(Membership::first(5), 5);
    w.ring.healthy("om", &[0, 1, 2, 3, 4], 0, 42);
    w.reconcile().await.unwrap();
    w.set_replicas(3);
    w.ring.set_decommission_disagreements(vec![("om-2".into(), "om-2 does not list om-4".into())]);
    w.reconcile().await.unwrap();
    assert_eq!(w.configured(), Membership { nodes: vec![0, 1, 2, 3, 4], decommissioned: vec![4] });
    assert!(!w.ring.calls().iter().any(|c| c.starts_with("decommission om-")), "{:?}", w.ring.calls());
    assert_eq!(w.condition("Progressing")["reason"], "WaitingForConfig");

    w.ring.set_decommission_disagreements(vec![]);
    w.ring.clear_calls();
    w.reconcile().await.unwrap();
    assert_eq!(
        w.ring.calls(),
        [
            "decommission_disagreements om-4 asking om-0,om-1,om-2,om-3",
            "decommission om-4 via om-0,om-1,om-2,om-3,om-4"
        ]
    );
    assert_eq!(w.status()["removedMembers"], json!(["om-4"]));
    assert!(w.events().contains(&"MemberRemoved".to_string()));
    assert_eq!(w.sts_replicas(), 5, "shrinks only once the ring no longer lists it");

    // The ring let om-4 go: the StatefulSet shrinks, om-3 is next.
    w.ring.healthy("om", &[0, 1, 2, 3], 0, 42);
    w.ring.set("om-4", Ok(node_status("om", 4, Role::Unknown, 0, &[], 42)));
    w.reconcile().await.unwrap();
    assert_eq!(w.sts_replicas(), 4);
    assert_eq!(w.configured(), Membership { nodes: vec![0, 1, 2, 3, 4], decommissioned: vec![3, 4] });
    // The pod of om-4 is gone; so is its volume (whenScaled: Delete): its record is dropped
    // while om-3, decommissioned in this pass, is recorded.
    w.api.remove("/api/v1/namespaces/ns/pods/om-4");
    w.reconcile().await.unwrap();
    assert_eq!(w.configured(), Membership { nodes: vec![0, 1, 2, 3], decommissioned: vec![3] });
    assert_eq!(w.status()["removedMembers"], json!(["om-3"]));
}

#[tokio::test]
async fn reused_ordinal_gets_a_fresh_volume() {
    let w = world(4);
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    w.pvc(3);
    w.reconcile().await.unwrap();
    assert!(w.api.writes().contains(&"DELETE /api/v1/namespaces/ns/persistentvolumeclaims/data-om-3".to_string()));
    assert_eq!(w.sts_replicas(), 3, "no pod for om-3 while its old volume exists");
    assert!(w.events().contains(&"StaleVolumeDeleted".to_string()));
}

#[tokio::test]
async fn cordoned_leader_node_moves_leadership_and_labels() {
    let w = world(3);
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    w.api.insert(
        "/api/v1/nodes/node-0",
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-0"}, "spec": {"unschedulable": true}}),
    );
    w.reconcile().await.unwrap();
    assert_eq!(w.ring.calls(), ["transfer_leader om-1 via om-0,om-1,om-2"]);
    assert_eq!(w.role_label(1).as_deref(), Some("leader"));
    assert_eq!(w.role_label(0).as_deref(), Some("follower"));
    assert!(w.events().contains(&"LeaderTransferred".to_string()));
    // The new leader's label is written before the old leader loses its own.
    let label_writes: Vec<String> = w
        .api
        .log()
        .iter()
        .filter(|l| l.method == Method::PATCH && l.path.contains("/pods/"))
        .map(|l| {
            format!(
                "{} {}",
                l.path.rsplit('/').next().unwrap(),
                l.body.as_ref().unwrap()["metadata"]["labels"][LABEL_ROLE]
            )
        })
        .collect();
    let last_two = &label_writes[label_writes.len() - 2..];
    assert_eq!(last_two, ["om-1 \"leader\"", "om-0 \"follower\""]);
}

#[tokio::test]
async fn failed_transfer_is_reported_and_counted() {
    let w = world(3);
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    w.record_eviction(0, "2s");
    w.ring.fail_transfers(Some("timed out"));
    w.reconcile().await.unwrap();
    assert_eq!(w.condition("Progressing")["reason"], "LeaderTransferFailed");
    assert!(w.ctx.metrics.render().contains("reason=\"EvictionRequested\",result=\"Error\"} 1"));
    assert_eq!(w.role_label(0).as_deref(), Some("leader"), "labels stay with the real leader");
}

#[tokio::test]
async fn config_change_restarts_followers_first_with_uid_precondition() {
    let w = world(3);
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    let mut cr = w.api.get(RING).unwrap();
    cr["spec"]["config"] = json!({"ozone.om.ratis.log.purge.gap": "5000"});
    w.api.insert(RING, cr);
    w.reconcile().await.unwrap();
    let delete = w.api.log().into_iter().find(|l| l.method == Method::DELETE).unwrap();
    assert_eq!(delete.path, "/api/v1/namespaces/ns/pods/om-2");
    assert_eq!(delete.body.unwrap()["preconditions"]["uid"], "pod-uid-2");
    assert_eq!(w.condition("Progressing")["reason"], "RollingRestart");
    assert!(w.events().contains(&"Restart".to_string()));
    // The StatefulSet carries the new template, so the recreated pod gets it.
    let sts = w.api.get(STS).unwrap();
    assert_eq!(sts["spec"]["template"]["metadata"]["annotations"][ANNOTATION_POD_SPEC_HASH], w.desired_hash());
}

#[tokio::test]
async fn unreachable_nodes_change_nothing_and_degrade() {
    let w = world(5);
    w.running(Membership::first(3), 3);
    w.reconcile().await.unwrap();
    assert!(w.ring.calls().is_empty());
    assert_eq!(w.configured(), Membership::first(3));
    assert_eq!(w.sts_replicas(), 3);
    let s = w.status();
    assert!(s["nodes"].as_array().unwrap().iter().all(|n| n["role"] == "UNREACHABLE" && n["ready"] == false));
    assert_eq!(w.condition("Degraded")["status"], "True");
    assert_eq!(w.condition("Available")["reason"], "NoLeader");
    assert_eq!(w.condition("Progressing")["reason"], "NoLeader");
}

#[tokio::test]
async fn api_errors_fail_the_reconcile_with_context_and_back_off() {
    let w = world(3);
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    w.api.fail(Method::PATCH, "/statefulsets/om", 500, 1);
    let err = w.reconcile().await.unwrap_err();
    assert!(err.to_string().contains("applying StatefulSet om"), "{err}");
    assert!(w.ring.calls().is_empty(), "no ring operation after a failed apply");
    let guard: Arc<DeserializeGuard<OzoneManagerRing>> =
        Arc::new(serde_json::from_value(w.api.get(RING).unwrap()).unwrap());
    let first = error_policy(guard.clone(), &err, w.ctx.clone());
    let second = error_policy(guard.clone(), &err, w.ctx.clone());
    assert_eq!(first, Action::requeue(std::time::Duration::from_secs(1)));
    assert_eq!(second, Action::requeue(std::time::Duration::from_secs(2)));
    // Reads fail too.
    w.api.fail(Method::GET, "/pods", 503, 1);
    let err = w.reconcile().await.unwrap_err();
    assert!(err.to_string().contains("reading pods"), "{err}");
    // And then it works again.
    w.reconcile().await.unwrap();
}

#[tokio::test]
async fn unreadable_object_does_not_stall_the_controller() {
    let w = world(3);
    let mut cr = w.api.get(RING).unwrap();
    cr["spec"]["replicas"] = json!("three");
    w.api.insert(RING, cr);
    let action = w.reconcile().await.unwrap();
    assert_eq!(action, Action::await_change());
    assert_eq!(w.events(), ["InvalidObject"]);
    assert!(w.ctx.metrics.render().contains("omring_operator_invalid_objects_total 1"));
    assert!(w.api.get(STS).is_none());
}

#[tokio::test]
async fn invalid_spec_is_reported_in_status_and_nothing_is_applied() {
    let w = world(3);
    let mut cr = w.api.get(RING).unwrap();
    cr["spec"]["replicas"] = json!(0);
    w.api.insert(RING, cr);
    assert_eq!(w.reconcile().await.unwrap(), Action::await_change());
    let d = w.condition("Degraded");
    assert_eq!((d["status"].as_str(), d["reason"].as_str()), (Some("True"), Some("InvalidSpec")));
    assert!(d["message"].as_str().unwrap().contains("spec.replicas is 0"));
    assert!(w.api.get(CM).is_none() && w.api.get(STS).is_none());
}

#[tokio::test]
async fn disabled_budgets_are_deleted() {
    let w = world_with(json!({"replicas": 3, "podDisruptionBudget": {"enabled": false}}));
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    // Budgets an earlier reconcile applied: labelled and owned by the ring.
    let uid = w.cr().metadata.uid.clone().unwrap();
    for name in ["om-leader", "om-followers"] {
        w.api.insert(
            &format!("/apis/policy/v1/namespaces/ns/poddisruptionbudgets/{name}"),
            json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name, "namespace": "ns",
                "labels": {"app.kubernetes.io/name": "omring", "app.kubernetes.io/instance": "om"},
                "ownerReferences": [{"apiVersion": "omring.io/v1alpha1", "kind": "OzoneManagerRing", "name": "om", "uid": uid}]}}),
        );
    }
    w.reconcile().await.unwrap();
    let writes = w.api.writes();
    assert!(writes.contains(&"DELETE /apis/policy/v1/namespaces/ns/poddisruptionbudgets/om-leader".to_string()));
    assert!(writes.contains(&"DELETE /apis/policy/v1/namespaces/ns/poddisruptionbudgets/om-followers".to_string()));
    assert!(w.api.get("/apis/policy/v1/namespaces/ns/poddisruptionbudgets/om-leader").is_none());
    assert!(w.api.get("/apis/policy/v1/namespaces/ns/poddisruptionbudgets/om-followers").is_none());
}

#[tokio::test]
async fn operator_owned_config_is_ignored_and_named_in_status() {
    let w = world_with(json!({"replicas": 3, "config": {"ozone.om.address.om.om-0": "evil:1"}}));
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    w.reconcile().await.unwrap();
    let xml = w.api.get(CM).unwrap()["data"]["ozone-site.xml"].as_str().unwrap().to_string();
    assert!(!xml.contains("evil:1"));
    let c = w.condition("ConfigAccepted");
    assert_eq!(c["status"], "False");
    assert!(c["message"].as_str().unwrap().contains("ozone.om.address.om.om-0"));
}

#[tokio::test]
async fn failed_decommission_keeps_the_node_and_retries() {
    let w = world(2);
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    w.ring.fail_decommissions(Some("FAILED_PRECONDITION: not leader ready"));
    w.reconcile().await.unwrap();
    assert_eq!(w.condition("Progressing")["reason"], "DecommissionFailed");
    assert_eq!(w.status().get("removedMembers"), None);
    assert_eq!(w.sts_replicas(), 3);
    assert!(w.events().contains(&"DecommissionFailed".to_string()));
    w.ring.fail_decommissions(None);
    w.reconcile().await.unwrap();
    assert_eq!(w.status()["removedMembers"], json!(["om-2"]));
}

#[tokio::test]
async fn reconcile_reads_the_ring_fresh_not_from_a_stale_cache() {
    let w = world(3);
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    // The cache still holds the object from before the last status write.
    let stale: DeserializeGuard<OzoneManagerRing> = serde_json::from_value(w.api.get(RING).unwrap()).unwrap();
    let mut cr = w.api.get(RING).unwrap();
    cr["status"] = json!({"removedMembers": ["om-4"]});
    w.api.insert(RING, cr);
    w.pvc(4);
    crate::reconcile::reconcile(Arc::new(stale), w.ctx.clone()).await.unwrap();
    assert_eq!(w.status()["removedMembers"], json!(["om-4"]));
    // A ring deleted meanwhile is left alone.
    let gone: DeserializeGuard<OzoneManagerRing> = serde_json::from_value(w.api.get(RING).unwrap()).unwrap();
    w.api.remove(RING);
    w.api.clear_log();
    assert_eq!(crate::reconcile::reconcile(Arc::new(gone), w.ctx.clone()).await.unwrap(), Action::await_change());
    assert!(w.api.writes().is_empty());
}

#[tokio::test]
async fn an_eviction_record_on_the_leader_moves_leadership_and_an_expired_one_is_cleared() {
    let w = world(3);
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    // What a webhook served by any replica leaves on the pod.
    w.record_eviction(0, "2s");
    w.reconcile().await.unwrap();
    assert!(w.ring.calls().iter().any(|c| c.starts_with("transfer_leader om-1")), "{:?}", w.ring.calls());
    assert_eq!(w.condition("Progressing")["reason"], "LeaderTransferred");
    assert!(w.ctx.metrics.render().contains("reason=\"EvictionRequested\",result=\"Ok\"} 1"));
    assert!(w.eviction_record("om-0").is_some(), "a recent record stays while the drain retries");

    // A record older than the memory moves nothing and is removed from the pod.
    let w = world(3);
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    w.record_eviction(0, "90s");
    w.reconcile().await.unwrap();
    assert!(w.ring.calls().iter().all(|c| !c.starts_with("transfer_leader")), "{:?}", w.ring.calls());
    assert_eq!(w.eviction_record("om-0"), None);
}

#[tokio::test]
async fn owned_objects_the_plan_no_longer_wants_are_swept() {
    let w = world(3);
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    w.reconcile().await.unwrap();
    let uid = w.cr().metadata.uid.clone().unwrap();
    let labels = json!({"app.kubernetes.io/name": "omring", "app.kubernetes.io/instance": "om"});
    let owner = json!([{"apiVersion": "omring.io/v1alpha1", "kind": "OzoneManagerRing", "name": "om", "uid": uid}]);
    // A Service an older release rendered, one the ring does not own, and one of another ring.
    w.api.insert(
        "/api/v1/namespaces/ns/services/om-old",
        json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "om-old", "namespace": "ns", "labels": labels, "ownerReferences": owner}}),
    );
    w.api.insert(
        "/api/v1/namespaces/ns/services/om-mine",
        json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "om-mine", "namespace": "ns", "labels": labels}}),
    );
    let mut cr = w.api.get(RING).unwrap();
    cr["spec"]["podDisruptionBudget"] = json!({"enabled": false});
    w.api.insert(RING, cr);
    w.api.clear_log();
    w.reconcile().await.unwrap();
    let deletes: Vec<String> = w.api.writes().into_iter().filter(|x| x.starts_with("DELETE")).collect();
    assert_eq!(
        deletes,
        [
            "DELETE /api/v1/namespaces/ns/services/om-old",
            "DELETE /apis/policy/v1/namespaces/ns/poddisruptionbudgets/om-followers",
            "DELETE /apis/policy/v1/namespaces/ns/poddisruptionbudgets/om-leader",
        ]
    );
    assert!(w.api.get("/api/v1/namespaces/ns/services/om-mine").is_some());
    assert!(w.api.get("/api/v1/namespaces/ns/services/om").is_some());
}

// --- Node maintenance -----------------------------------------------------------------------

const PVC1: &str = "/api/v1/namespaces/ns/persistentvolumeclaims/data-om-1";
const POD1: &str = "/api/v1/namespaces/ns/pods/om-1";

/// A 3-ring on local volumes pinned to node-0..2; node-1 is cordoned, or else NotReady since
/// 2020, and om-1 does not answer.
fn stranded_world(spec: serde_json::Value, cordoned: bool) -> crate::testing::World {
    let w = world_with(spec);
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    for o in 0..3 {
        let stranded = o == 1;
        w.k8s_node(&format!("node-{o}"), stranded && cordoned, !stranded || cordoned, "2020-01-01T00:00:00Z");
        w.local_volume(o, &format!("pvc-uid-{o}"), &format!("node-{o}"));
    }
    w.ring.set("om-1", Err("connection refused".into()));
    w
}

fn delete_requests(w: &crate::testing::World) -> Vec<(String, serde_json::Value)> {
    w.api
        .log()
        .into_iter()
        .filter(|l| l.method == Method::DELETE)
        .map(|l| (l.path, l.body.unwrap_or_default()))
        .collect()
}

fn event_notes(w: &crate::testing::World, reason: &str) -> Vec<String> {
    w.api
        .log()
        .iter()
        .filter(|l| l.method == Method::POST && l.path.ends_with("/events"))
        .filter_map(|l| l.body.as_ref())
        .filter(|b| b["reason"] == reason)
        .map(|b| b["note"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn by_default_a_member_on_a_drained_node_waits_for_it() {
    let w = stranded_world(json!({"replicas": 3}), true);
    w.pending_pod(1, &w.desired_hash());
    let action = w.reconcile().await.unwrap();
    assert!(w.ring.calls().is_empty(), "{:?}", w.ring.calls());
    assert!(delete_requests(&w).is_empty());
    let p = w.condition("Progressing");
    assert_eq!((p["status"].as_str(), p["reason"].as_str()), (Some("True"), Some("WaitingForNode")));
    let msg = p["message"].as_str().unwrap();
    for part in ["om-1 waits for Node node-1", "volume data-om-1", "is cordoned", "reusePVC=false"] {
        assert!(msg.contains(part), "{part}: {msg}");
    }
    assert_eq!(action, Action::requeue(Timing::default().steady_requeue), "a long wait is polled slowly");
    // Only the volume of the pod that is not ready was looked at.
    let pv_reads: Vec<String> =
        w.api.log().into_iter().filter(|l| l.path.contains("/persistentvolumes/")).map(|l| l.path).collect();
    assert_eq!(pv_reads, ["/api/v1/persistentvolumes/pv-pvc-uid-1"]);
}

#[tokio::test]
async fn without_reuse_a_member_on_a_drained_node_is_removed_dropped_and_joined_again() {
    let w = stranded_world(json!({"replicas": 3, "nodeMaintenance": {"reusePVC": false}}), true);
    let hash = w.desired_hash();
    w.pending_pod(1, &hash);

    // 1. The leader removes om-1 from Raft; its volume is marked as a removed member's.
    w.reconcile().await.unwrap();
    assert_eq!(w.ring.calls(), ["decommission om-1 via om-0,om-2"], "no decommissioned listing is awaited");
    assert!(w.api.get(PVC1).unwrap()["metadata"]["annotations"]["omring.io/removed-member"].is_string());
    assert_eq!(w.condition("Progressing")["reason"], "ReplacingMember");
    assert!(event_notes(&w, "ReplacingMember")[0].contains("pinned to Node node-1, which is cordoned"));
    assert_eq!(w.configured(), Membership::first(3), "om-1 keeps its id: never listed as decommissioned");
    assert_eq!(w.status().get("removedMembers"), None);
    assert!(delete_requests(&w).is_empty(), "one step per reconcile");

    // 2. The ring lets om-1 go: its volume, then its pod, are deleted, each by uid.
    w.ring.healthy("om", &[0, 2], 0, 42);
    w.ring.clear_calls();
    w.api.clear_log();
    w.reconcile().await.unwrap();
    let deletes = delete_requests(&w);
    assert_eq!(deletes.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(), [PVC1, POD1]);
    assert_eq!(deletes[0].1["preconditions"]["uid"], "pvc-uid-1");
    assert_eq!(deletes[1].1["preconditions"]["uid"], "pod-uid-1-pending");
    assert_eq!(deletes[1].1.get("gracePeriodSeconds"), None, "a cordoned Node's kubelet confirms deletions");
    assert!(event_notes(&w, "VolumeDiscarded")[0].contains("pinned to Node node-1"));
    assert!(w.ring.calls().is_empty());

    // 3. The StatefulSet recreated both on node-3; om-1 starts empty and is joined.
    w.k8s_node("node-3", false, true, "2026-01-01T00:00:00Z");
    w.local_volume(1, "pvc-uid-1b", "node-3");
    w.pod(1, false, &hash);
    let mut pod = w.api.get(POD1).unwrap();
    pod["spec"]["nodeName"] = json!("node-3");
    w.api.insert(POD1, pod);
    w.ring.set("om-1", Ok(node_status("om", 1, Role::Unknown, 0, &[], 0)));
    w.ring.clear_calls();
    w.api.clear_log();
    w.reconcile().await.unwrap();
    let joins: Vec<String> = w.ring.calls().into_iter().filter(|c| c.starts_with("join")).collect();
    assert_eq!(joins, ["join om-1 via om-0,om-2"]);
    assert!(delete_requests(&w).is_empty(), "the new volume is not stale data");

    // 4. A voter again: stable, with node-1 still cordoned.
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    w.pod(1, true, &hash);
    let mut pod = w.api.get(POD1).unwrap();
    pod["spec"]["nodeName"] = json!("node-3");
    w.api.insert(POD1, pod);
    w.reconcile().await.unwrap();
    assert_eq!(w.condition("Progressing")["reason"], "Stable");
}

#[tokio::test]
async fn a_member_on_a_node_not_ready_past_the_delay_is_replaced_with_a_forced_pod_deletion() {
    let w = stranded_world(
        json!({"replicas": 3, "nodeMaintenance": {"reusePVC": false, "replaceAfterSeconds": 60}}),
        false,
    );
    // The pod still says Running on node-1, but not ready: the kubelet stopped reporting.
    w.pod(1, false, &w.desired_hash());
    w.reconcile().await.unwrap();
    assert_eq!(w.ring.calls(), ["decommission om-1 via om-0,om-2"]);
    assert!(event_notes(&w, "ReplacingMember")[0].contains("has been NotReady for"));
    w.ring.healthy("om", &[0, 2], 0, 42);
    w.api.clear_log();
    w.reconcile().await.unwrap();
    let deletes = delete_requests(&w);
    assert_eq!(deletes.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(), [PVC1, POD1]);
    assert_eq!(deletes[1].1["gracePeriodSeconds"], 0, "a NotReady Node cannot confirm a graceful deletion");
}
