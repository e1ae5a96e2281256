//! `kubectl scale` of a ring on real Nodes, under client load: 3 → 5 → 3 → 5. With
//! `whenScaled: Retain` the volumes of the removed members stay after the scale-down; when their
//! ordinals are added again, the operator must not let a new member start on a removed member's
//! old data (etcd-operator's "non-empty data dir on a reused PVC"): it replaces those volumes,
//! and the new members join as fresh learners, become voters and hold the same state as the rest.
//! A final scale-down with `whenScaled: Delete` removes the volumes with the members.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common;
use crate::scenario::*;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::Api;
use om_client::wire::{MemberInfo, Role};
use om_client::FailoverClient;
use omring_e2e::harness::{ring, step, wait_for, Cluster, Load};

/// The leader's member list once it has `n` members.
async fn members(client: &FailoverClient, n: usize) -> Vec<MemberInfo> {
    wait_for(&format!("{n} members"), Duration::from_secs(120), Duration::from_millis(300), || async {
        let st = client.ring_status().await;
        let m =
            st.iter().find_map(|(_, r)| r.as_ref().ok().filter(|s| s.role == Role::Leader)).map(|s| s.members.clone());
        match m {
            Some(m) if m.len() == n => Ok(Some(m)),
            other => Err(format!("{other:?}")),
        }
    })
    .await
    .expect("members")
}

/// The ring's volumes: claim name → uid.
async fn volumes(cluster: &Cluster) -> BTreeMap<String, String> {
    Api::<PersistentVolumeClaim>::namespaced(cluster.client.clone(), NS)
        .list(&Default::default())
        .await
        .expect("list PVCs")
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| Some((p.metadata.name?, p.metadata.uid?)))
        .collect()
}

async fn scale(cluster: &Cluster, to: u32) -> serde_json::Value {
    let t0 = Instant::now();
    cluster.kubectl(&["-n", NS, "scale", &format!("omr/{RING}"), &format!("--replicas={to}")]).await.expect("scale");
    let status =
        ring::wait_settled(&cluster.client, NS, RING, to as i64, Duration::from_secs(300)).await.expect("settled");
    step(format!("scaled to {to} in {:.1}s", t0.elapsed().as_secs_f64()));
    let nodes = status_nodes(&status);
    assert_eq!(nodes.len(), to as usize, "{status}");
    assert!(nodes.iter().all(|n| (n.1 == "LEADER" || n.1 == "FOLLOWER") && n.2), "{to} ready voters: {status}");
    status
}

pub fn scale_3_5_3_5_under_load_with_retained_volumes_replaced_on_reuse() {
    common::run("scale 3-5-3-5", Duration::from_secs(1500), async {
        let (cluster, _op) = setup("scale", 4).await;
        let retain = "  pvcRetentionPolicy: {whenScaled: Retain}\n";
        let client = create_ring_with(&cluster, 3, &[], retain).await;
        let load = Load::start(client.clone(), "e2e", "scale", 4).await.expect("load");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes");

        // 3 → 5: two members bootstrap and become voters.
        scale(&cluster, 5).await;
        let five = client_for(&cluster).await;
        let m = members(&five, 5).await;
        assert!(m.iter().all(|m| m.voter), "all voters: {m:?}");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes at 5");
        let first = volumes(&cluster).await;
        assert_eq!(first.len(), 5, "{first:?}");

        // 5 → 3: om-4, then om-3 decommissioned; their volumes stay (Retain), with their data.
        scale(&cluster, 3).await;
        let m = members(&client, 3).await;
        assert!(m.iter().all(|m| ["om-0", "om-1", "om-2"].contains(&m.node_id.as_str())), "{m:?}");
        let kept = volumes(&cluster).await;
        for v in ["data-om-3", "data-om-4"] {
            assert_eq!(kept.get(v), first.get(v), "{v} is retained after the scale-down: {kept:?}");
        }
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes at 3");

        // 3 → 5 again: the retained volumes hold removed members' data; they are replaced, and
        // the new om-3 and om-4 join fresh.
        scale(&cluster, 5).await;
        let again = volumes(&cluster).await;
        for v in ["data-om-3", "data-om-4"] {
            assert!(again.contains_key(v), "{v} exists again: {again:?}");
            assert_ne!(again.get(v), first.get(v), "{v} was replaced, not reused with stale data");
        }
        for v in ["data-om-0", "data-om-1", "data-om-2"] {
            assert_eq!(again.get(v), first.get(v), "{v} is untouched");
        }
        let events = cluster
            .kubectl(&[
                "-n",
                NS,
                "get",
                "events",
                "--field-selector",
                &format!("involvedObject.name={RING}"),
                "-o",
                "wide",
            ])
            .await
            .expect("events");
        step(format!("ring events:\n{events}"));
        let m = members(&five, 5).await;
        assert!(m.iter().all(|m| m.voter), "all voters: {m:?}");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes at 5 again");
        // Replicas can only agree while nothing is written: the first load ends here.
        finish_load(load, &five, true).await;
        ring::wait_replicas_identical(&five, Duration::from_secs(90)).await.expect("5 identical replicas");
        let load = Load::start(client.clone(), "e2e", "scaledown", 4).await.expect("load");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes");

        // whenScaled: Delete, then 5 → 3: the volumes go with the members.
        cluster
            .kubectl(&[
                "-n",
                NS,
                "patch",
                &format!("omr/{RING}"),
                "--type=merge",
                "-p",
                r#"{"spec":{"pvcRetentionPolicy":{"whenScaled":"Delete"}}}"#,
            ])
            .await
            .expect("patch retention");
        scale(&cluster, 3).await;
        wait_for(
            "volumes of removed members deleted",
            Duration::from_secs(120),
            Duration::from_millis(500),
            || async {
                let names: Vec<String> = volumes(&cluster).await.into_keys().collect();
                if names.iter().any(|n| n.ends_with("-3") || n.ends_with("-4")) {
                    Err(format!("{names:?}"))
                } else {
                    Ok(Some(()))
                }
            },
        )
        .await
        .expect("PVCs of om-3 and om-4 deleted (whenScaled: Delete)");
        finish_load(load, &client, true).await;
        ring::wait_replicas_identical(&client, Duration::from_secs(60)).await.expect("3 identical replicas");
    });
}

pub fn trials() -> Vec<libtest_mimic::Trial> {
    vec![common::trial(
        "scaling::scale_3_5_3_5_under_load_with_retained_volumes_replaced_on_reuse",
        scale_3_5_3_5_under_load_with_retained_volumes_replaced_on_reuse,
    )]
}
