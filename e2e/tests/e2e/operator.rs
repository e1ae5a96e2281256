//! The operator on real Kubernetes Nodes, installed with helm from the chart (its Deployment's
//! two replicas run from the operator image of this build), driving rings of om-node pods that
//! the Nodes' kubelets run from the om-node image, on local PersistentVolumes pinned to their
//! Node. Every scenario runs client load through the failover client and checks at the end that
//! every acknowledged write is readable; where the issue says no write may fail, none may.

use std::time::{Duration, Instant};

use crate::common;
use crate::scenario::*;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, EvictParams};
use om_client::wire::WriteOp;
use omring_e2e::harness::operator::lease_holder;
use omring_e2e::harness::{dns, repo_root, ring, step, wait_for, Load};
use serde_json::Value;

/// 1. helm install + kubectl apply of the example ring: Available, `kubectl get omr` shows the
///    leader, status lists 3 nodes with one LEADER, and the CLI in a pod agrees.
pub fn example_ring_becomes_available_and_status_matches_the_cli() {
    common::run("example ring", Duration::from_secs(600), async {
        let (cluster, _op) = setup("example", 3).await;
        let example = repo_root().join("manifests/examples/ring-3.yaml");
        let t0 = Instant::now();
        cluster.kubectl(&["-n", NS, "apply", "-f", &example.display().to_string()]).await.expect("apply example");
        ring::wait_available(&cluster.client, NS, RING, 3, Duration::from_secs(240)).await.expect("Available");
        step(format!("example ring Available {:.1}s after kubectl apply", t0.elapsed().as_secs_f64()));

        // The status and `kubectl get omr` are read together until they show one settled view:
        // right after formation a slow node may miss a status poll, and the operator then
        // reports it honestly for a moment, so one read is not the check (it failed once so).
        let (nodes, leader) = wait_for(
            "status: 1 LEADER, 2 FOLLOWERs, all ready, and kubectl get omr shows the leader and Available",
            Duration::from_secs(60),
            Duration::from_millis(500),
            || async {
                let status = ring::omr_status(&cluster.client, NS, RING).await.map_err(|e| e.to_string())?;
                let nodes = status_nodes(&status);
                let leaders: Vec<String> = nodes.iter().filter(|n| n.1 == "LEADER").map(|n| n.0.clone()).collect();
                let followers = nodes.iter().filter(|n| n.1 == "FOLLOWER").count();
                let [leader] = leaders.as_slice() else { return Err(format!("leaders {leaders:?}: {status}")) };
                if nodes.len() != 3 || followers != 2 || !nodes.iter().all(|n| n.2) {
                    return Err(format!("nodes {nodes:?}"));
                }
                if status["leader"].as_str() != Some(leader.as_str()) {
                    return Err(format!("status.leader {} is not {leader}", status["leader"]));
                }
                let table = cluster.kubectl(&["-n", NS, "get", "omr", RING]).await.map_err(|e| e.to_string())?;
                let row = table.lines().nth(1).unwrap_or_default();
                if !(row.contains(leader.as_str()) && row.contains("True")) {
                    return Err(format!("leader {leader} and Available not in {row:?}"));
                }
                step(format!("kubectl get omr:\n{table}"));
                Ok(Some((nodes.clone(), leader.clone())))
            },
        )
        .await
        .expect("a settled status");
        let mut status_roles: Vec<(String, String)> = nodes.iter().map(|n| (n.0.clone(), n.1.clone())).collect();
        status_roles.sort();
        // The CLI asks every node once, as Ozone's does; a node it cannot reach yet a moment
        // after the ring formed (its pod's DNS name new to the cluster DNS) shows UNREACHABLE,
        // so it is asked again until it agrees with the status, within a deadline.
        let t_cli = Instant::now();
        wait_for(
            "the CLI in a pod agrees with the status",
            Duration::from_secs(60),
            Duration::from_secs(1),
            || async {
                let out = cluster
                    .exec(NS, "om-0", CONTAINER, &["om-node", "admin", "om", "roles", "--json"])
                    .await
                    .map_err(|e| format!("kubectl exec om-0 -- om-node admin om roles --json: {e}"))?;
                let cli: Vec<Value> = serde_json::from_str(&out).map_err(|e| format!("roles JSON: {e}: {out}"))?;
                let mut cli_roles: Vec<(String, String)> = cli
                    .iter()
                    .filter_map(|o| o.as_object())
                    .flat_map(|o| o.iter())
                    .map(|(id, v)| (id.clone(), v["serverRole"].as_str().unwrap_or_default().to_string()))
                    .collect();
                cli_roles.sort();
                if cli_roles == status_roles {
                    Ok(Some(()))
                } else {
                    Err(format!("CLI {cli_roles:?}, status {status_roles:?}"))
                }
            },
        )
        .await
        .expect("CLI in a pod and status agree");
        step(format!(
            "the CLI in om-0 agrees with the status {:.1}s after it was settled",
            t_cli.elapsed().as_secs_f64()
        ));

        // What the README tells users to type: the bordered table, through the kubelet's exec.
        let table = cluster
            .kubectl(&["-n", NS, "exec", "om-0", "--", "om-node", "admin", "om", "roles", "--table"])
            .await
            .expect("kubectl exec om-0 -- om-node admin om roles --table");
        step(format!("kubectl exec om-0 -- om-node admin om roles --table:\n{table}"));
        assert!(
            table.lines().any(|l| {
                let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
                cells.len() == 3 && cells[1] == leader && cells[2] == "LEADER"
            }),
            "the table names {leader} LEADER:\n{table}"
        );
        // kubectl logs reads the container's log through the kubelet.
        let logs = cluster.kubectl(&["-n", NS, "logs", &leader, "-c", CONTAINER]).await.expect("kubectl logs");
        assert!(logs.contains("node started"), "kubectl logs {leader} shows the node's start:\n{logs}");

        let leader_pod = pod(&cluster, &leader).await.expect("leader pod");
        let role_label = leader_pod.metadata.labels.as_ref().and_then(|l| l.get("omring.io/role")).cloned();
        assert_eq!(role_label.as_deref(), Some("leader"), "the leader pod carries the leader role label");

        let client = client_for(&cluster).await;
        let load = Load::start(client.clone(), "e2e", "example", 2).await.expect("load");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes");
        finish_load(load, &client, true).await;
    });
}

/// 4. kubectl drain of the leader's Node: leadership moves before the leader pod is evicted,
///    the drain completes, no write fails. The pod's local volume keeps it waiting for its Node
///    (quorum kept by the other two) until the Node is uncordoned.
pub fn drain_of_the_leaders_node_moves_leadership_first() {
    common::run("drain leader node", Duration::from_secs(900), async {
        let (cluster, _op) = setup("drain", 3).await;
        let client = create_ring(&cluster, 3, &[]).await;
        let load = Load::start(client.clone(), "e2e", "drain", 4).await.expect("load");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes");
        let leader = ring::wait_leader(&client, Duration::from_secs(60)).await.expect("leader");
        let node = pod(&cluster, &leader).await.and_then(|p| p.spec?.node_name).expect("leader's node");
        let watch = Watch::start(&cluster, client.clone(), &leader);
        let t0 = Instant::now();
        cluster
            .kubectl(&["drain", &node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=240s"])
            .await
            .expect("kubectl drain completes");
        step(format!("drained {node} (leader {leader}) in {:.1}s", t0.elapsed().as_secs_f64()));
        let (moved, terminating) = watch.times(Duration::from_secs(30)).await;
        let (moved, terminating) = (moved.expect("leadership moved"), terminating.expect("leader pod evicted"));
        assert!(moved < terminating, "leadership moved {:?} before the eviction", terminating - moved);
        step(format!("leadership moved {:.2}s before the leader pod was evicted", (terminating - moved).as_secs_f64()));
        // Its volume is a local one on the drained Node: the recreated pod waits for the Node
        // (the default), and the other two keep quorum meanwhile.
        let waiting = wait_for(
            "the recreated pod waiting for its Node",
            Duration::from_secs(60),
            Duration::from_millis(300),
            || async {
                let p = pod(&cluster, &leader).await.ok_or("no pod yet")?;
                let phase = p.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
                let scheduled = p.spec.as_ref().and_then(|s| s.node_name.clone());
                Ok((phase == "Pending" && scheduled.is_none()).then_some(phase))
            },
        )
        .await
        .expect("pending");
        step(format!("{leader} is {waiting} while {node} is cordoned"));
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes with 2 of 3 members");
        cluster.kubectl(&["uncordon", &node]).await.expect("uncordon");
        // The pod first: right after the eviction the ring's status can still show the member
        // it had a second earlier, all 3 ready.
        wait_for("the pod back and ready", Duration::from_secs(240), Duration::from_millis(500), || async {
            let p = pod(&cluster, &leader).await.ok_or("no pod")?;
            let on = p.spec.as_ref().and_then(|s| s.node_name.clone());
            if on.as_ref().is_some_and(|n| n != &node) {
                return Err(format!("{leader} scheduled on {on:?}, not on its volume's Node {node}"));
            }
            Ok((on.is_some() && ring::pod_ready(&p)).then_some(()))
        })
        .await
        .expect("back on its Node");
        let status =
            ring::wait_settled(&cluster.client, NS, RING, 3, Duration::from_secs(240)).await.expect("settled again");
        let back = pod(&cluster, &leader).await.and_then(|p| p.spec?.node_name);
        assert_eq!(back.as_deref(), Some(node.as_str()), "{leader} came back on its volume's Node: {status}");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes after uncordon");
        finish_load(load, &client, true).await;
    });
}

/// 5. An eviction of the leader pod through the Eviction API (no cordon): refused with "retry
///    later" until leadership moved, then allowed. The chart's two operator replicas run, and the
///    webhook Service sends reviews to either: the replica that does not hold the Lease only
///    records the attempt on the pod, and the Lease holder's controller moves leadership.
pub fn eviction_of_the_leader_is_refused_until_leadership_moved() {
    common::run("evict leader", Duration::from_secs(900), async {
        let started = Instant::now();
        let (cluster, op) = setup("evict", 3).await;
        assert_eq!(op.replicas, 2, "the chart runs two operator replicas");
        let client = create_ring(&cluster, 3, &[]).await;
        let load = Load::start(client.clone(), "e2e", "evict", 4).await.expect("load");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes");
        let leader = ring::wait_leader(&client, Duration::from_secs(60)).await.expect("leader");
        let pods = Api::<Pod>::namespaced(cluster.client.clone(), NS);
        let old_uid = pod(&cluster, &leader).await.and_then(|p| p.metadata.uid);
        // Refused with 429 and recorded by the webhook. Right after the ring formed, the
        // PodDisruptionBudget can refuse first (its status not computed yet) and the webhook
        // lets through what it cannot judge in time: like kubectl drain, try again.
        let t0 = Instant::now();
        loop {
            match pods.evict(&leader, &EvictParams::default()).await {
                Err(kube::Error::Api(s)) if s.code == 429 => {
                    step(format!("first eviction of {leader}: 429 {}", s.message));
                    let record =
                        pod(&cluster, &leader).await.and_then(|p| p.metadata.annotations?.remove(EVICTION_RECORD));
                    if record.is_some() {
                        break;
                    }
                    assert!(t0.elapsed() < Duration::from_secs(60), "no refused eviction was recorded on the pod");
                }
                other => {
                    panic!("an eviction of the leader before any was recorded must be refused with 429, got {other:?}")
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let t0 = Instant::now();
        let mut refusals = 1;
        loop {
            assert!(t0.elapsed() < Duration::from_secs(120), "eviction still refused after {refusals} attempts");
            tokio::time::sleep(Duration::from_millis(500)).await;
            match pods.evict(&leader, &EvictParams::default()).await {
                Ok(_) => break,
                // The webhook's refusals only: the PodDisruptionBudget answers 429 too, while
                // the pod that took leadership over is not yet counted healthy.
                Err(kube::Error::Api(s)) if s.code == 429 && s.message.contains("is the leader of ring") => {
                    refusals += 1
                }
                Err(kube::Error::Api(s)) if s.code == 429 => step(format!("refused by the budget: {}", s.message)),
                Err(e) => panic!("eviction: {e}"),
            }
        }
        let now_leader = ring::leader(&client).await;
        assert!(
            now_leader.is_some() && now_leader.as_deref() != Some(leader.as_str()),
            "leader when allowed: {now_leader:?}"
        );
        step(format!(
            "eviction allowed after {refusals} refusals ({:.1}s); leader now {now_leader:?}",
            t0.elapsed().as_secs_f64()
        ));
        wait_for("the evicted pod back and ready", Duration::from_secs(120), Duration::from_millis(300), || async {
            let p = pod(&cluster, &leader).await.ok_or("no pod")?;
            Ok((p.metadata.uid != old_uid && ring::pod_ready(&p)).then_some(()))
        })
        .await
        .expect("recreated");
        ring::wait_available(&cluster.client, NS, RING, 3, Duration::from_secs(240)).await.expect("Available again");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes after the eviction");
        finish_load(load, &client, true).await;
        // Only the Lease holder reconciled and made the move; whichever replica the Service
        // sent a review to denied it.
        let holder = lease_holder(&cluster).await.expect("Lease holder");
        let mut denials = 0;
        for name in op.pods(&cluster).await.expect("operator pods") {
            let log = op.logs(&cluster, &name, started.elapsed()).await.expect("kubectl logs of the operator");
            denials += log.matches("leader eviction denied").count();
            if name == holder {
                assert!(log.contains("EvictionRequested"), "the Lease holder {name} moved leadership:\n{log}");
            } else {
                assert!(!log.contains("planned"), "the standby replica {name} reconciled:\n{log}");
            }
        }
        assert!(denials >= refusals, "{denials} denials logged for {refusals} refused evictions");
    });
}

/// 6. A spec.config change: rolling restart, followers first, leader last, no write fails.
pub fn config_change_restarts_followers_first_and_the_leader_last() {
    common::run("rolling restart", Duration::from_secs(900), async {
        let (cluster, _op) = setup("roll", 3).await;
        let client = create_ring(&cluster, 3, &[]).await;
        let load = Load::start(client.clone(), "e2e", "roll", 4).await.expect("load");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes");
        let leader = ring::wait_leader(&client, Duration::from_secs(60)).await.expect("leader");
        let before: Vec<(String, String)> = ring::pods(&cluster.client, NS, SELECTOR)
            .await
            .expect("pods")
            .iter()
            .map(|p| (p.metadata.name.clone().unwrap_or_default(), p.metadata.uid.clone().unwrap_or_default()))
            .collect();
        assert_eq!(before.len(), 3);
        cluster
            .kubectl(&[
                "-n",
                NS,
                "patch",
                &format!("omr/{RING}"),
                "--type=merge",
                "-p",
                r#"{"spec":{"config":{"ozone.om.ratis.snapshot.auto.trigger.threshold":"400001"}}}"#,
            ])
            .await
            .expect("patch config");
        // Order in which pods were replaced (new uid or terminating), and who led at that moment.
        let mut replaced: Vec<(String, Option<String>)> = Vec::new();
        let t0 = Instant::now();
        while replaced.len() < 3 {
            assert!(t0.elapsed() < Duration::from_secs(480), "rolling restart incomplete: {replaced:?}");
            let now = ring::pods(&cluster.client, NS, SELECTOR).await.unwrap_or_default();
            for (name, uid) in &before {
                if replaced.iter().any(|(n, _)| n == name) {
                    continue;
                }
                let cur = now.iter().find(|p| p.metadata.name.as_deref() == Some(name.as_str()));
                let gone = match cur {
                    None => true,
                    Some(p) => {
                        p.metadata.deletion_timestamp.is_some() || p.metadata.uid.as_deref() != Some(uid.as_str())
                    }
                };
                if gone {
                    let l = ring::leader(&client).await;
                    step(format!("{name} restarting (leader then: {l:?})"));
                    replaced.push((name.clone(), l));
                }
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        assert_eq!(replaced[2].0, leader, "the leader restarts last: {replaced:?}");
        assert_ne!(replaced[2].1.as_deref(), Some(leader.as_str()), "leadership moved before the old leader restarted");
        // Settled, not just Available: the status read right after om-0's deletion may still be
        // the one from before it (CI saw Available 3/3 while om-0 had no running pod yet).
        ring::wait_settled(&cluster.client, NS, RING, 3, Duration::from_secs(240)).await.expect("settled after roll");
        let file = cluster.configmap_file(NS, "om-0", "config", "ozone-site.xml").await.expect("cat");
        assert!(file.contains("400001"), "the new property reached the pods");
        finish_load(load, &client, true).await;
    });
}

/// 7. kill -9 of the leader's process: one leader again, the pod restarts and rejoins; the time
///    to the first successful write after the kill is printed.
pub fn kill_9_of_the_leader_process() {
    common::run("kill -9 leader", Duration::from_secs(600), async {
        let (cluster, _op) = setup("kill", 3).await;
        let client = create_ring(&cluster, 3, &[]).await;
        let load = Load::start(client.clone(), "e2e", "kill", 4).await.expect("load");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes");
        let leader = ring::wait_leader(&client, Duration::from_secs(60)).await.expect("leader");
        let before = pod(&cluster, &leader).await.expect("pod");
        let t0 = Instant::now();
        cluster.kill_container(NS, &leader, CONTAINER).await.expect("kill -9 through containerd");
        client.write(WriteOp::create_volume("after-kill")).await.expect("write after kill");
        step(format!("kill -9 of leader {leader}: first successful write {:.2}s later", t0.elapsed().as_secs_f64()));
        wait_for("the killed pod restarted", Duration::from_secs(60), Duration::from_millis(300), || async {
            let p = pod(&cluster, &leader).await.ok_or("no pod")?;
            Ok((p.metadata.uid == before.metadata.uid && ring::restart_count(&p) > ring::restart_count(&before))
                .then_some(()))
        })
        .await
        .expect("restart");
        let status =
            ring::wait_available(&cluster.client, NS, RING, 3, Duration::from_secs(120)).await.expect("Available");
        let nodes = status_nodes(&status);
        assert_eq!(nodes.iter().filter(|n| n.1 == "LEADER").count(), 1, "{status}");
        assert!(nodes.iter().any(|n| n.0 == leader && n.2), "{leader} rejoined: {status}");
        finish_load(load, &client, true).await;
    });
}

/// 8. A follower cut off from its peers (its Raft port dropped on the host, while the kubelet
///    still probes it) while more entries than the purge threshold are written comes back through
///    snapshot installation.
pub fn follower_behind_the_purged_log_catches_up_by_snapshot() {
    common::run("stale follower snapshot", Duration::from_secs(900), async {
        let (cluster, _op) = setup("snapshot", 3).await;
        let config =
            [("ozone.om.ratis.snapshot.auto.trigger.threshold", "200"), ("ozone.om.ratis.log.purge.gap", "100")];
        let client = create_ring(&cluster, 3, &config).await;
        let leader = ring::wait_leader(&client, Duration::from_secs(60)).await.expect("leader");
        let follower = ["om-0", "om-1", "om-2"].into_iter().find(|n| *n != leader).expect("follower").to_string();
        let ip = pod(&cluster, &follower).await.and_then(|p| p.status?.pod_ip).expect("follower's pod IP");
        cluster.cut_port(&ip, RAFT_PORT, true).await.expect("cut the follower off");
        let load = Load::start(client.clone(), "e2e", "snapshot", 4).await.expect("load");
        load.wait_progress(1000, Duration::from_secs(120)).await.expect("1000 writes with a follower cut off");
        // The leader must have purged past what the follower holds, or it would send it log.
        let http = dns::http_client().expect("http");
        wait_for(
            "the leader purged its log past 1000 entries",
            Duration::from_secs(120),
            Duration::from_millis(200),
            || async {
                let purged = node_metric(&http, &leader, "om_raft_purged_index").await?;
                if purged >= 1000.0 {
                    Ok(Some(()))
                } else {
                    Err(format!("purged index {purged}"))
                }
            },
        )
        .await
        .expect("log purged");
        let report = load.stop().await;
        step(format!("while {follower} was cut off: {}", report.summary()));
        report.expect_no_failures().expect("no failed writes with one follower cut off");
        cluster.cut_port(&ip, RAFT_PORT, false).await.expect("reconnect the follower");
        ring::wait_available(&cluster.client, NS, RING, 3, Duration::from_secs(180)).await.expect("Available again");
        ring::wait_replicas_identical(&client, Duration::from_secs(60)).await.expect("identical replicas");
        // The node's own metric says how it caught up.
        let installed = node_metric(&http, &follower, "om_snapshots_installed_total").await.expect("metrics");
        assert!(installed >= 1.0, "{follower} installed a snapshot (om_snapshots_installed_total = {installed})");
        report.verify_readable(&client).await.expect("acknowledged writes readable");
    });
}

pub fn trials() -> Vec<libtest_mimic::Trial> {
    vec![
        common::trial(
            "operator::example_ring_becomes_available_and_status_matches_the_cli",
            example_ring_becomes_available_and_status_matches_the_cli,
        ),
        common::trial(
            "operator::drain_of_the_leaders_node_moves_leadership_first",
            drain_of_the_leaders_node_moves_leadership_first,
        ),
        common::trial(
            "operator::eviction_of_the_leader_is_refused_until_leadership_moved",
            eviction_of_the_leader_is_refused_until_leadership_moved,
        ),
        common::trial(
            "operator::config_change_restarts_followers_first_and_the_leader_last",
            config_change_restarts_followers_first_and_the_leader_last,
        ),
        common::trial("operator::kill_9_of_the_leader_process", kill_9_of_the_leader_process),
        common::trial(
            "operator::follower_behind_the_purged_log_catches_up_by_snapshot",
            follower_behind_the_purged_log_catches_up_by_snapshot,
        ),
    ]
}
