//! Node maintenance with local volumes. A member's volume is pinned to its Node, so a drained
//! member cannot move with its data. By default the operator waits for the Node with quorum
//! kept (`operator::drain_of_the_leaders_node_moves_leadership_first`); with
//! `spec.nodeMaintenance.reusePVC: false` it gives the member up instead: removed from the ring,
//! its volume and pod deleted, and a fresh member bootstrapped on another Node from a copy of
//! the data, while writes go on.

use std::time::{Duration, Instant};

use crate::common;
use crate::scenario::*;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::Api;
use om_client::wire::Role;
use omring_e2e::harness::{ring, step, wait_for, Load};

/// Drain of a follower's Node with `reusePVC: false` on four Nodes (one spare): the member is
/// replaced on the spare Node, the drain completes, no write fails, and the ring is back to
/// three voters holding identical state.
pub fn drained_member_is_replaced_on_another_node_when_volumes_are_not_reused() {
    common::run("node maintenance, reusePVC false", Duration::from_secs(900), async {
        let (cluster, _op) = setup("maintenance", 4).await;
        let spec = "  nodeMaintenance: {reusePVC: false}\n";
        let client = create_ring_with(&cluster, 3, &[], spec).await;
        let load = Load::start(client.clone(), "e2e", "maintenance", 4).await.expect("load");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes");
        let leader = ring::wait_leader(&client, Duration::from_secs(60)).await.expect("leader");
        let member = ["om-0", "om-1", "om-2"].into_iter().find(|m| *m != leader).expect("a follower").to_string();
        let old_pod = pod(&cluster, &member).await.expect("member pod");
        let node = old_pod.spec.as_ref().and_then(|s| s.node_name.clone()).expect("member's Node");
        let pvcs = Api::<PersistentVolumeClaim>::namespaced(cluster.client.clone(), NS);
        let claim = format!("data-{member}");
        let old_uid = pvcs.get(&claim).await.expect("member's volume").metadata.uid;

        let t0 = Instant::now();
        cluster
            .kubectl(&["drain", &node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=300s"])
            .await
            .expect("kubectl drain completes");
        step(format!("drained {node} ({member}) in {:.1}s", t0.elapsed().as_secs_f64()));

        let status = wait_for(
            "the member replaced on another Node and the ring settled",
            Duration::from_secs(420),
            Duration::from_millis(500),
            || async {
                let p = pod(&cluster, &member).await.ok_or("no pod")?;
                let on = p.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
                let uid = pvcs.get_opt(&claim).await.map_err(|e| e.to_string())?.and_then(|c| c.metadata.uid);
                let s = ring::omr_status(&cluster.client, NS, RING).await.map_err(|e| e.to_string())?;
                let available = ring::condition(&s, "Available").is_some_and(|c| c.0 == "True");
                let settled = ring::condition(&s, "Progressing").is_some_and(|c| c.0 == "False");
                let ready = s["readyReplicas"].as_i64() == Some(3);
                if !on.is_empty() && on != node && uid.is_some() && uid != old_uid && available && settled && ready {
                    Ok(Some(s))
                } else {
                    Err(format!("{member} on {on:?}, volume uid {uid:?}, status {}", s["conditions"]))
                }
            },
        )
        .await
        .expect("replaced");
        let now_on = pod(&cluster, &member).await.and_then(|p| p.spec?.node_name).unwrap_or_default();
        step(format!("{member} moved from {node} to {now_on} in {:.1}s", t0.elapsed().as_secs_f64()));
        let nodes = status_nodes(&status);
        assert_eq!(nodes.len(), 3, "{status}");
        assert!(nodes.iter().all(|n| (n.1 == "LEADER" || n.1 == "FOLLOWER") && n.2), "3 ready voters: {status}");

        // The leader's view: three voters, the replaced one among them.
        let st = client.ring_status().await;
        let members = st
            .iter()
            .find_map(|(_, r)| r.as_ref().ok().filter(|s| s.role == Role::Leader))
            .map(|s| s.members.clone())
            .expect("a leader answers");
        assert_eq!(members.len(), 3, "{members:?}");
        assert!(members.iter().all(|m| m.voter), "{members:?}");
        assert!(members.iter().any(|m| m.node_id == member), "{member} is a member again: {members:?}");

        let events = cluster
            .kubectl(&["-n", NS, "get", "events", "--field-selector", &format!("involvedObject.name={RING}")])
            .await
            .expect("events");
        step(format!("ring events:\n{events}"));
        assert!(events.contains(&node), "an event names the drained Node {node}:\n{events}");

        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes after the replacement");
        finish_load(load, &client, true).await;
        ring::wait_replicas_identical(&client, Duration::from_secs(90)).await.expect("identical replicas");
    });
}

pub fn trials() -> Vec<libtest_mimic::Trial> {
    vec![common::trial(
        "maintenance::drained_member_is_replaced_on_another_node_when_volumes_are_not_reused",
        drained_member_is_replaced_on_another_node_when_volumes_are_not_reused,
    )]
}
