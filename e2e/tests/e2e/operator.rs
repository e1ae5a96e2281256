//! The operator on a real API server, installed with helm from the chart and running as the
//! chart's ServiceAccount, driving rings of om-node pods run by the node agent. Every scenario
//! runs client load through the failover client and checks at the end that every acknowledged
//! write is readable; where the issue says no write may fail, none may.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, EvictParams};
use om_client::wire::{Role, WriteOp};
use om_client::FailoverClient;
use omring_e2e::harness::cluster::ClusterSpec;
use omring_e2e::harness::operator::{lease_holder, Operator};
use omring_e2e::harness::{repo_root, ring, step, wait_for, Cluster, Load};
use serde_json::Value;

const NS: &str = "rings";
const RING: &str = "om";
const SELECTOR: &str = "app.kubernetes.io/instance=om";
/// The webhook's record of a refused eviction (operator/src/names.rs).
const EVICTION_RECORD: &str = "omring.io/eviction-requested-at";

async fn setup(name: &str, nodes: usize) -> (Cluster, Operator) {
    let cluster = Cluster::start(ClusterSpec::new(name, nodes)).await.expect("cluster");
    let op = Operator::install(&cluster, &[]).await.expect("helm install + operator");
    cluster.kubectl(&["create", "namespace", NS]).await.expect("namespace");
    (cluster, op)
}

fn ring_yaml(replicas: u32, config: &[(&str, &str)]) -> String {
    let mut conf = String::new();
    for (k, v) in config {
        conf.push_str(&format!("    {k}: \"{v}\"\n"));
    }
    format!(
        "apiVersion: omring.io/v1alpha1\nkind: OzoneManagerRing\nmetadata: {{name: {RING}, namespace: {NS}}}\n\
         spec:\n  replicas: {replicas}\n  image: omring/om-node:0.1.0\n  storage: {{size: 1Gi}}\n  config:\n{}",
        if conf.is_empty() { "    {}\n".to_string() } else { conf }
    )
}

/// Creates the ring and waits until it is Available; returns a client built from its ConfigMap.
async fn create_ring(cluster: &Cluster, replicas: u32, config: &[(&str, &str)]) -> Arc<FailoverClient> {
    let t0 = Instant::now();
    cluster.apply(&ring_yaml(replicas, config)).await.expect("apply ring");
    ring::wait_available(&cluster.client, NS, RING, replicas as i64, Duration::from_secs(240))
        .await
        .expect("Available");
    step(format!("ring of {replicas} Available {:.1}s after kubectl apply", t0.elapsed().as_secs_f64()));
    client_for(cluster).await
}

async fn client_for(cluster: &Cluster) -> Arc<FailoverClient> {
    let conf = ring::config_from_configmap(&cluster.client, NS, &format!("{RING}-config")).await.expect("config");
    ring::failover_client(&conf, cluster.agent.hosts_file()).expect("client")
}

fn status_nodes(status: &Value) -> Vec<(String, String, bool)> {
    status["nodes"]
        .as_array()
        .map(|ns| {
            ns.iter()
                .map(|n| {
                    (
                        n["nodeId"].as_str().unwrap_or_default().to_string(),
                        n["role"].as_str().unwrap_or_default().to_ascii_uppercase(),
                        n["ready"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn pod(cluster: &Cluster, name: &str) -> Option<Pod> {
    Api::<Pod>::namespaced(cluster.client.clone(), NS).get_opt(name).await.ok().flatten()
}

/// A sample's value from a ring pod's `/metrics` page (0 when the page lacks it).
async fn node_metric(http: &reqwest::Client, pod: &str, name: &str) -> Result<f64, String> {
    let url = format!("http://{pod}.{RING}-headless.{NS}.svc.cluster.local:9874/metrics");
    let text = http.get(url).send().await.map_err(|e| e.to_string())?.text().await.map_err(|e| e.to_string())?;
    Ok(text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0))
}

/// Stops the load and checks: no failure (when `no_failures`), every acknowledged key readable.
async fn finish_load(load: Load, client: &FailoverClient, no_failures: bool) {
    let report = load.stop().await;
    step(format!("load: {}", report.summary()));
    if no_failures {
        report.expect_no_failures().expect("no failed client writes");
    }
    report.verify_readable(client).await.expect("every acknowledged write is readable");
}

/// Polls the ring's leader and `pod`'s deletion in the background; reports when the leader
/// first was someone other than `old_leader` and when the pod first was terminating or gone.
struct Watch {
    moved: Arc<Mutex<Option<Instant>>>,
    terminating: Arc<Mutex<Option<Instant>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watch {
    fn start(cluster: &Cluster, client: Arc<FailoverClient>, old_leader: &str) -> Watch {
        let (moved, terminating) = (Arc::new(Mutex::new(None)), Arc::new(Mutex::new(None)));
        let (m, t) = (moved.clone(), terminating.clone());
        let api = Api::<Pod>::namespaced(cluster.client.clone(), NS);
        let old = old_leader.to_string();
        let uid = Arc::new(Mutex::new(None::<String>));
        let task = tokio::spawn(async move {
            loop {
                let now = Instant::now();
                if m.lock().unwrap().is_none() {
                    if let Some(l) = ring::leader(&client).await {
                        if l != old {
                            *m.lock().unwrap() = Some(now);
                        }
                    }
                }
                if t.lock().unwrap().is_none() {
                    match api.get_opt(&old).await {
                        Ok(Some(p)) => {
                            let mut u = uid.lock().unwrap();
                            let same = u.get_or_insert_with(|| p.metadata.uid.clone().unwrap_or_default()).as_str()
                                == p.metadata.uid.as_deref().unwrap_or_default();
                            if p.metadata.deletion_timestamp.is_some() || !same {
                                *t.lock().unwrap() = Some(now);
                            }
                        }
                        Ok(None) => *t.lock().unwrap() = Some(now),
                        Err(_) => {}
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Watch { moved, terminating, task }
    }

    fn times(&self) -> (Option<Instant>, Option<Instant>) {
        (*self.moved.lock().unwrap(), *self.terminating.lock().unwrap())
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// 1. helm install + kubectl apply of the example ring: Available, `kubectl get omr` shows the
/// leader, status lists 3 nodes with one LEADER, and the CLI in a pod agrees.
#[test]
fn example_ring_becomes_available_and_status_matches_the_cli() {
    common::run("example ring", Duration::from_secs(600), async {
        let (cluster, _op) = setup("example", 3).await;
        let example = repo_root().join("manifests/examples/ring-3.yaml");
        let t0 = Instant::now();
        cluster.kubectl(&["-n", NS, "apply", "-f", &example.display().to_string()]).await.expect("apply example");
        let status =
            ring::wait_available(&cluster.client, NS, RING, 3, Duration::from_secs(240)).await.expect("Available");
        step(format!("example ring Available {:.1}s after kubectl apply", t0.elapsed().as_secs_f64()));

        let nodes = status_nodes(&status);
        assert_eq!(nodes.len(), 3, "status lists 3 nodes: {status}");
        let leaders: Vec<_> = nodes.iter().filter(|n| n.1 == "LEADER").collect();
        assert_eq!(leaders.len(), 1, "one LEADER: {status}");
        assert_eq!(nodes.iter().filter(|n| n.1 == "FOLLOWER").count(), 2, "{status}");
        assert!(nodes.iter().all(|n| n.2), "all ready: {status}");
        let leader = leaders[0].0.clone();
        assert_eq!(status["leader"].as_str(), Some(leader.as_str()));

        let table = cluster.kubectl(&["-n", NS, "get", "omr", RING]).await.expect("kubectl get omr");
        step(format!("kubectl get omr:\n{table}"));
        let row = table.lines().nth(1).unwrap_or_default();
        assert!(row.contains(&leader) && row.contains("True"), "leader and Available in {row:?}");

        let out = cluster
            .agent
            .exec(
                NS,
                "om-0",
                None,
                &["om-node", "--conf", "/etc/ozone/ozone-site.xml", "admin", "om", "roles", "--json"],
            )
            .await
            .expect("roles in pod");
        let cli: Vec<Value> = serde_json::from_str(&out).expect("roles JSON");
        let mut cli_roles: Vec<(String, String)> = cli
            .iter()
            .filter_map(|o| o.as_object())
            .flat_map(|o| o.iter())
            .map(|(id, v)| (id.clone(), v["serverRole"].as_str().unwrap_or_default().to_string()))
            .collect();
        cli_roles.sort();
        let mut status_roles: Vec<(String, String)> = nodes.iter().map(|n| (n.0.clone(), n.1.clone())).collect();
        status_roles.sort();
        assert_eq!(cli_roles, status_roles, "CLI in a pod and status agree");

        let leader_pod = pod(&cluster, &leader).await.expect("leader pod");
        let role_label = leader_pod.metadata.labels.as_ref().and_then(|l| l.get("omring.io/role")).cloned();
        assert_eq!(role_label.as_deref(), Some("leader"), "the leader pod carries the leader role label");

        let client = client_for(&cluster).await;
        let load = Load::start(client.clone(), "e2e", "example", 2).await.expect("load");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes");
        finish_load(load, &client, true).await;
    });
}

/// 3. kubectl scale to 5: two nodes bootstrap; status shows 5 voters; no write fails.
#[test]
fn scale_up_from_3_to_5_under_load() {
    common::run("scale 3 to 5", Duration::from_secs(900), async {
        let (cluster, _op) = setup("scaleup", 5).await;
        let client = create_ring(&cluster, 3, &[]).await;
        let load = Load::start(client.clone(), "e2e", "scaleup", 4).await.expect("load");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes");
        let t0 = Instant::now();
        cluster.kubectl(&["-n", NS, "scale", &format!("omr/{RING}"), "--replicas=5"]).await.expect("scale");
        let status = ring::wait_settled(&cluster.client, NS, RING, 5, Duration::from_secs(300)).await.expect("5 ready");
        step(format!("scaled to 5 in {:.1}s", t0.elapsed().as_secs_f64()));
        let nodes = status_nodes(&status);
        assert_eq!(nodes.len(), 5, "{status}");
        assert!(nodes.iter().all(|n| n.1 == "LEADER" || n.1 == "FOLLOWER"), "5 voters: {status}");
        let five = client_for(&cluster).await;
        let st = five.ring_status().await;
        let members =
            st.iter().find_map(|(_, r)| r.as_ref().ok().filter(|s| s.role == Role::Leader)).map(|s| s.members.clone());
        let members = members.expect("a leader answers");
        assert_eq!(members.len(), 5, "{members:?}");
        assert!(members.iter().all(|m| m.voter), "all voters: {members:?}");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes after scaling");
        finish_load(load, &five, true).await;
        ring::wait_replicas_identical(&five, Duration::from_secs(60)).await.expect("5 identical replicas");
    });
}

/// 4. kubectl drain of the leader's Node: leadership moves before the leader pod is evicted,
/// the drain completes, no write fails.
#[test]
fn drain_of_the_leaders_node_moves_leadership_first() {
    common::run("drain leader node", Duration::from_secs(900), async {
        let (cluster, _op) = setup("drain", 4).await;
        let client = create_ring(&cluster, 3, &[]).await;
        let load = Load::start(client.clone(), "e2e", "drain", 4).await.expect("load");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes");
        let leader = ring::leader(&client).await.expect("leader");
        let node = pod(&cluster, &leader).await.and_then(|p| p.spec?.node_name).expect("leader's node");
        let watch = Watch::start(&cluster, client.clone(), &leader);
        let t0 = Instant::now();
        cluster
            .kubectl(&["drain", &node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=240s"])
            .await
            .expect("kubectl drain completes");
        step(format!("drained {node} (leader {leader}) in {:.1}s", t0.elapsed().as_secs_f64()));
        let (moved, terminating) = watch.times();
        let (moved, terminating) = (moved.expect("leadership moved"), terminating.expect("leader pod evicted"));
        assert!(moved < terminating, "leadership moved {:?} before the eviction", terminating - moved);
        step(format!("leadership moved {:.2}s before the leader pod was evicted", (terminating - moved).as_secs_f64()));
        ring::wait_available(&cluster.client, NS, RING, 3, Duration::from_secs(240)).await.expect("Available again");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes after drain");
        cluster.kubectl(&["uncordon", &node]).await.expect("uncordon");
        finish_load(load, &client, true).await;
    });
}

/// 5. An eviction of the leader pod through the Eviction API (no cordon): refused with "retry
/// later" until leadership moved, then allowed. Two operator replicas run, and the webhook is
/// served by the one that does not hold the Lease: it only records the attempt on the pod, and
/// the leading replica's controller moves leadership.
#[test]
fn eviction_of_the_leader_is_refused_until_leadership_moved() {
    common::run("evict leader", Duration::from_secs(900), async {
        let cluster = Cluster::start(ClusterSpec::new("evict", 3)).await.expect("cluster");
        let (lead_op, webhook_op) = Operator::install_two(&cluster).await.expect("helm install + two operators");
        cluster.kubectl(&["create", "namespace", NS]).await.expect("namespace");
        let client = create_ring(&cluster, 3, &[]).await;
        let load = Load::start(client.clone(), "e2e", "evict", 4).await.expect("load");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes");
        let leader = ring::leader(&client).await.expect("leader");
        let pods = Api::<Pod>::namespaced(cluster.client.clone(), NS);
        let old_uid = pod(&cluster, &leader).await.and_then(|p| p.metadata.uid);
        let first = pods.evict(&leader, &EvictParams::default()).await;
        match &first {
            Err(kube::Error::Api(s)) if s.code == 429 => step(format!("first eviction of {leader}: 429 {}", s.message)),
            other => panic!("the first eviction of the leader must be refused with 429, got {other:?}"),
        }
        let record = pod(&cluster, &leader).await.and_then(|p| p.metadata.annotations?.remove(EVICTION_RECORD));
        assert!(record.is_some(), "the refused eviction is recorded on the pod");
        let t0 = Instant::now();
        let mut refusals = 1;
        loop {
            assert!(t0.elapsed() < Duration::from_secs(120), "eviction still refused after {refusals} attempts");
            tokio::time::sleep(Duration::from_millis(500)).await;
            match pods.evict(&leader, &EvictParams::default()).await {
                Ok(_) => break,
                Err(kube::Error::Api(s)) if s.code == 429 => refusals += 1,
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
        // The replica that served the webhook never reconciled; the Lease holder made the move.
        assert_eq!(lease_holder(&cluster).await.as_deref(), Some("omring-operator-a"));
        let (lead_log, webhook_log) = (lead_op.log_text(), webhook_op.log_text());
        assert!(webhook_log.contains("leader eviction denied"), "webhook replica log:\n{}", webhook_op.log_tail(40));
        assert!(!webhook_log.contains("planned"), "the webhook replica reconciled:\n{}", webhook_op.log_tail(40));
        assert!(lead_log.contains("EvictionRequested"), "leading replica log:\n{}", lead_op.log_tail(40));
    });
}

/// 6. A spec.config change: rolling restart, followers first, leader last, no write fails.
#[test]
fn config_change_restarts_followers_first_and_the_leader_last() {
    common::run("rolling restart", Duration::from_secs(900), async {
        let (cluster, _op) = setup("roll", 3).await;
        let client = create_ring(&cluster, 3, &[]).await;
        let load = Load::start(client.clone(), "e2e", "roll", 4).await.expect("load");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes");
        let leader = ring::leader(&client).await.expect("leader");
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
        let file = cluster.agent.exec(NS, "om-0", None, &["cat", "/etc/ozone/ozone-site.xml"]).await.expect("cat");
        assert!(file.contains("400001"), "the new property reached the pods");
        finish_load(load, &client, true).await;
    });
}

/// 7. kill -9 of the leader's process: one leader again, the pod restarts and rejoins; the time
/// to the first successful write after the kill is printed.
#[test]
fn kill_9_of_the_leader_process() {
    common::run("kill -9 leader", Duration::from_secs(600), async {
        let (cluster, _op) = setup("kill", 3).await;
        let client = create_ring(&cluster, 3, &[]).await;
        let load = Load::start(client.clone(), "e2e", "kill", 4).await.expect("load");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes");
        let leader = ring::leader(&client).await.expect("leader");
        let before = pod(&cluster, &leader).await.expect("pod");
        let t0 = Instant::now();
        cluster.agent.signal(NS, &leader, Some("om"), libc::SIGKILL).expect("kill -9");
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

/// 8. A follower kept down while more entries than the purge threshold are written comes back
/// through snapshot installation.
#[test]
fn follower_behind_the_purged_log_catches_up_by_snapshot() {
    common::run("stale follower snapshot", Duration::from_secs(900), async {
        let (cluster, _op) = setup("snapshot", 3).await;
        let config =
            [("ozone.om.ratis.snapshot.auto.trigger.threshold", "200"), ("ozone.om.ratis.log.purge.gap", "100")];
        let client = create_ring(&cluster, 3, &config).await;
        let leader = ring::leader(&client).await.expect("leader");
        let follower = ["om-0", "om-1", "om-2"].into_iter().find(|n| *n != leader).expect("follower").to_string();
        cluster.agent.hold(NS, &follower, "om", true).expect("hold");
        cluster.agent.signal(NS, &follower, Some("om"), libc::SIGKILL).expect("kill follower");
        step(format!("{follower} is down and held"));
        let load = Load::start(client.clone(), "e2e", "snapshot", 4).await.expect("load");
        load.wait_progress(1000, Duration::from_secs(120)).await.expect("2000 entries written with a node down");
        // The leader must have purged past what the follower holds, or it would send it log.
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(ring::FileResolver(cluster.agent.hosts_file().to_path_buf())))
            .build()
            .expect("http");
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
        step(format!("while {follower} was down: {}", report.summary()));
        report.expect_no_failures().expect("no failed writes with one node down");
        cluster.agent.hold(NS, &follower, "om", false).expect("release");
        ring::wait_available(&cluster.client, NS, RING, 3, Duration::from_secs(180)).await.expect("Available again");
        ring::wait_replicas_identical(&client, Duration::from_secs(60)).await.expect("identical replicas");
        // The node's own metric says how it caught up.
        let installed = node_metric(&http, &follower, "om_snapshots_installed_total").await.expect("metrics");
        assert!(installed >= 1.0, "{follower} installed a snapshot (om_snapshots_installed_total = {installed})");
        report.verify_readable(&client).await.expect("acknowledged writes readable");
    });
}

/// 9. Scale down 5 -> 3, then back to 5 reusing the ordinals: no stale member, ring healthy.
#[test]
fn scale_down_to_3_and_up_to_5_again() {
    common::run("scale 5-3-5", Duration::from_secs(1200), async {
        let (cluster, _op) = setup("scaledown", 5).await;
        let client = create_ring(&cluster, 5, &[]).await;
        let load = Load::start(client.clone(), "e2e", "scaledown", 4).await.expect("load");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes");
        cluster.kubectl(&["-n", NS, "scale", &format!("omr/{RING}"), "--replicas=3"]).await.expect("scale to 3");
        let status = ring::wait_settled(&cluster.client, NS, RING, 3, Duration::from_secs(300)).await.expect("3 ready");
        let mut ids: Vec<String> = status_nodes(&status).into_iter().map(|n| n.0).collect();
        ids.sort();
        assert_eq!(ids, ["om-0", "om-1", "om-2"], "{status}");
        let members = wait_for("3 members", Duration::from_secs(60), Duration::from_millis(300), || async {
            let st = client.ring_status().await;
            let m = st
                .iter()
                .find_map(|(_, r)| r.as_ref().ok().filter(|s| s.role == Role::Leader))
                .map(|s| s.members.clone());
            match m {
                Some(m) if m.len() == 3 => Ok(Some(m)),
                other => Err(format!("{other:?}")),
            }
        })
        .await
        .expect("members");
        assert!(members.iter().all(|m| ["om-0", "om-1", "om-2"].contains(&m.node_id.as_str())), "{members:?}");
        wait_for("volumes of removed nodes deleted", Duration::from_secs(120), Duration::from_millis(500), || async {
            let pvcs = Api::<PersistentVolumeClaim>::namespaced(cluster.client.clone(), NS)
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?;
            let names: Vec<String> = pvcs.items.iter().filter_map(|p| p.metadata.name.clone()).collect();
            if names.iter().any(|n| n.ends_with("-3") || n.ends_with("-4")) {
                Err(format!("{names:?}"))
            } else {
                Ok(Some(()))
            }
        })
        .await
        .expect("PVCs of om-3 and om-4 deleted (whenScaled: Delete)");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes at 3");

        cluster.kubectl(&["-n", NS, "scale", &format!("omr/{RING}"), "--replicas=5"]).await.expect("scale to 5");
        let status = ring::wait_settled(&cluster.client, NS, RING, 5, Duration::from_secs(300)).await.expect("5 ready");
        assert!(status_nodes(&status).iter().all(|n| (n.1 == "LEADER" || n.1 == "FOLLOWER") && n.2), "{status}");
        let st = client.ring_status().await;
        let members = st
            .iter()
            .find_map(|(_, r)| r.as_ref().ok().filter(|s| s.role == Role::Leader))
            .map(|s| s.members.clone())
            .expect("leader");
        assert_eq!(members.len(), 5, "{members:?}");
        assert!(members.iter().all(|m| m.voter), "{members:?}");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes at 5");
        finish_load(load, &client, true).await;
        ring::wait_replicas_identical(&client, Duration::from_secs(60)).await.expect("5 identical replicas");
    });
}
