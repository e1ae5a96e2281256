//! Failures a ring meets on real Nodes, under client load: `kubectl delete pod` of the leader,
//! and a Node that loses power (its kubelet, containerd and pods killed at once). Each shows what
//! the operator and the ring do while it lasts and after.

use std::time::{Duration, Instant};

use crate::common;
use crate::scenario::*;
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use om_client::wire::Role;
use omring_e2e::harness::{ring, step, wait_for, Load};

/// The Node's Ready condition status ("True", "False", "Unknown").
async fn node_ready(cluster: &omring_e2e::harness::Cluster, node: &str) -> String {
    Api::<Node>::all(cluster.client.clone())
        .get(node)
        .await
        .ok()
        .and_then(|n| n.status?.conditions?.into_iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status)
        .unwrap_or_default()
}

/// `kubectl delete pod` of the leader: the pod gets SIGTERM and the operator sees it
/// terminating; leadership moves before the process exits, the StatefulSet recreates the pod on
/// its volume, and no write fails.
pub fn kubectl_delete_pod_of_the_leader_under_load() {
    common::run("delete leader pod", Duration::from_secs(600), async {
        let (cluster, _op) = setup("delpod", 3).await;
        let client = create_ring(&cluster, 3, &[]).await;
        let load = Load::start(client.clone(), "e2e", "delpod", 4).await.expect("load");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes");
        let leader = ring::wait_leader(&client, Duration::from_secs(60)).await.expect("leader");
        let old = pod(&cluster, &leader).await.expect("leader pod");
        let watch = Watch::start(&cluster, client.clone(), &leader);
        let t0 = Instant::now();
        cluster.kubectl(&["-n", NS, "delete", "pod", &leader, "--wait=false"]).await.expect("kubectl delete pod");
        wait_for("the deleted pod back and ready", Duration::from_secs(120), Duration::from_millis(300), || async {
            let p = pod(&cluster, &leader).await.ok_or("no pod")?;
            Ok((p.metadata.uid != old.metadata.uid && ring::pod_ready(&p)).then_some(()))
        })
        .await
        .expect("recreated");
        step(format!("{leader} deleted and back ready in {:.1}s", t0.elapsed().as_secs_f64()));
        let (moved, terminating) = watch.times(Duration::from_secs(30)).await;
        let moved = moved.expect("leadership moved away from the deleted pod");
        let terminating = terminating.expect("the pod was seen terminating");
        step(format!(
            "leadership moved {:.2}s after the pod was seen terminating",
            moved.saturating_duration_since(terminating).as_secs_f64()
        ));
        let back = pod(&cluster, &leader).await.and_then(|p| p.spec?.node_name);
        assert_eq!(back, old.spec.as_ref().and_then(|s| s.node_name.clone()), "recreated on its volume's Node");
        let status = ring::wait_settled(&cluster.client, NS, RING, 3, Duration::from_secs(120)).await.expect("settled");
        assert_eq!(status_nodes(&status).iter().filter(|n| n.1 == "LEADER").count(), 1, "{status}");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes after the deletion");
        finish_load(load, &client, true).await;
        ring::wait_replicas_identical(&client, Duration::from_secs(60)).await.expect("identical replicas");
    });
}

/// Power loss of the leader's Node. While it lasts: a new leader is elected among the other
/// two and writes go on; the Node turns NotReady; the ring reports 2 of 3 ready and names the
/// missing member; its pod stays bound to the Node (its volume is there). When the Node
/// returns, the kubelet starts the pod again on its volume, the member catches up and the ring
/// is Available with 3 of 3.
pub fn a_node_failure_and_its_return() {
    common::run("node failure", Duration::from_secs(900), async {
        let (cluster, _op) = setup("nodefail", 3).await;
        let client = create_ring(&cluster, 3, &[]).await;
        let load = Load::start(client.clone(), "e2e", "nodefail", 4).await.expect("load");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes");
        let leader = ring::wait_leader(&client, Duration::from_secs(60)).await.expect("leader");
        let node = pod(&cluster, &leader).await.and_then(|p| p.spec?.node_name).expect("leader's Node");
        let t0 = Instant::now();
        cluster.stop_node(&node).await.expect("stop the Node");

        let new_leader =
            wait_for("a new leader among the others", Duration::from_secs(60), Duration::from_millis(200), || async {
                Ok(ring::leader(&client).await.filter(|l| *l != leader))
            })
            .await
            .expect("new leader");
        step(format!("{new_leader} leads {:.1}s after {node} went down", t0.elapsed().as_secs_f64()));
        load.wait_progress(100, Duration::from_secs(60)).await.expect("writes with the Node down");

        wait_for("the Node NotReady", Duration::from_secs(120), Duration::from_millis(500), || async {
            let s = node_ready(&cluster, &node).await;
            Ok((s != "True").then_some(s))
        })
        .await
        .expect("NotReady");
        step(format!("{node} NotReady {:.1}s after it went down", t0.elapsed().as_secs_f64()));
        let status =
            wait_for("the status shows 2 of 3 ready", Duration::from_secs(60), Duration::from_millis(500), || async {
                let s = ring::omr_status(&cluster.client, NS, RING).await.map_err(|e| e.to_string())?;
                let missing = status_nodes(&s).into_iter().find(|n| n.0 == leader).map(|n| !n.2).unwrap_or(true);
                Ok((s["readyReplicas"].as_i64() == Some(2) && missing).then_some(s))
            })
            .await
            .expect("status while the Node is down");
        step(format!(
            "while {node} is down: readyReplicas 2, leader {:?}, conditions {}",
            status["leader"].as_str(),
            status["conditions"]
        ));
        assert_eq!(status["leader"].as_str(), Some(new_leader.as_str()), "status names the new leader: {status}");
        let roles = ring::roles(&client).await;
        assert_eq!(roles.values().filter(|r| **r == Role::Leader).count(), 1, "{roles:?}");
        let still_there = pod(&cluster, &leader).await.and_then(|p| p.spec?.node_name);
        assert_eq!(still_there.as_deref(), Some(node.as_str()), "the pod stays bound to its volume's Node");

        // The operator says why the member stays down: its volume is on that Node, and by
        // default (spec.nodeMaintenance.reusePVC) it waits for the Node with quorum kept.
        let waiting = wait_for(
            "Progressing says the member waits for its Node",
            Duration::from_secs(60),
            Duration::from_millis(500),
            || async {
                let s = ring::omr_status(&cluster.client, NS, RING).await.map_err(|e| e.to_string())?;
                match ring::condition(&s, "Progressing") {
                    Some((_, reason, message)) if reason == "WaitingForNode" && message.contains(&node) => {
                        Ok(Some(message))
                    }
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await
        .expect("WaitingForNode");
        step(format!("Progressing WaitingForNode: {waiting}"));

        let back = Instant::now();
        cluster.start_node(&node).await.expect("start the Node again");
        wait_for("the Node Ready again", Duration::from_secs(120), Duration::from_millis(500), || async {
            Ok((node_ready(&cluster, &node).await == "True").then_some(()))
        })
        .await
        .expect("Ready");
        let status =
            ring::wait_settled(&cluster.client, NS, RING, 3, Duration::from_secs(240)).await.expect("settled again");
        step(format!(
            "{node} back: ring settled with 3 of 3 {:.1}s after the Node started",
            back.elapsed().as_secs_f64()
        ));
        assert!(status_nodes(&status).iter().any(|n| n.0 == leader && n.2), "{leader} rejoined: {status}");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes after the Node returned");
        finish_load(load, &client, true).await;
        ring::wait_replicas_identical(&client, Duration::from_secs(90)).await.expect("identical replicas");
    });
}

pub fn trials() -> Vec<libtest_mimic::Trial> {
    vec![
        common::trial(
            "failures::kubectl_delete_pod_of_the_leader_under_load",
            kubectl_delete_pod_of_the_leader_under_load,
        ),
        common::trial("failures::a_node_failure_and_its_return", a_node_failure_and_its_return),
    ]
}
