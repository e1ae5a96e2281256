//! A ring run by plain Kubernetes objects (no operator): a hand-written ozone-site.xml in a
//! ConfigMap, a headless Service and a StatefulSet of om-node pods from the om-node image,
//! placed by the real scheduler and run by real kubelets. The ring forms from pods started at
//! once, a kill -9 of the leader's container is survived without failed writes, a deleted pod
//! comes back with its volume and a new address, and a ConfigMap change reaches the pods' files.

use crate::common;
use std::time::{Duration, Instant};

use om_client::wire::{Role, WriteOp};
use omring_e2e::harness::{ring, step, Cluster, Load};
use serde_json::Value;

const NS: &str = "plain";
const CONTAINER: &str = "om";

fn manifests() -> String {
    let nodes = ["om-0", "om-1", "om-2"];
    let mut props = vec![
        ("ozone.om.service.ids".to_string(), "plainsvc".to_string()),
        ("ozone.om.nodes.plainsvc".to_string(), nodes.join(",")),
        ("ozone.om.db.dirs".to_string(), "/data/om".to_string()),
    ];
    for n in nodes {
        let host = format!("{n}.om-peers.{NS}.svc.cluster.local");
        props.push((format!("ozone.om.address.plainsvc.{n}"), format!("{host}:9862")));
        props.push((format!("ozone.om.http-address.plainsvc.{n}"), format!("{host}:9874")));
    }
    let xml: String = props
        .iter()
        .map(|(k, v)| format!("        <property><name>{k}</name><value>{v}</value></property>\n"))
        .collect();
    let version = env!("CARGO_PKG_VERSION");
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata: {{name: {NS}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: om-config, namespace: {NS}}}
data:
  ozone-site.xml: |
    <configuration>
{xml}    </configuration>
---
apiVersion: v1
kind: Service
metadata: {{name: om-peers, namespace: {NS}}}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {{app: om}}
  ports: [{{name: rpc, port: 9862}}, {{name: ratis, port: 9872}}, {{name: http, port: 9874}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: om, namespace: {NS}}}
spec:
  serviceName: om-peers
  replicas: 3
  podManagementPolicy: Parallel
  selector: {{matchLabels: {{app: om}}}}
  template:
    metadata: {{labels: {{app: om}}}}
    spec:
      terminationGracePeriodSeconds: 20
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {{matchLabels: {{app: om}}}}
            topologyKey: kubernetes.io/hostname
      containers:
      - name: om
        image: omring/om-node:{version}
        imagePullPolicy: Never
        command: [om-node, om, --conf, /etc/ozone/ozone-site.xml, "-Dozone.om.node.id=$(POD_NAME)"]
        env:
        - name: POD_NAME
          valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}
        ports: [{{name: rpc, containerPort: 9862}}, {{name: http, containerPort: 9874}}]
        readinessProbe: {{httpGet: {{path: /health/ready, port: http}}, periodSeconds: 1, failureThreshold: 2}}
        livenessProbe: {{httpGet: {{path: /health/live, port: http}}, initialDelaySeconds: 5, periodSeconds: 5, failureThreshold: 6}}
        volumeMounts:
        - {{name: config, mountPath: /etc/ozone}}
        - {{name: data, mountPath: /data}}
      volumes:
      - name: config
        configMap: {{name: om-config}}
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}
"#
    )
}

/// `om-node admin om roles --json` run in a pod (`kubectl exec`): node id -> role.
async fn roles_in_pod(cluster: &Cluster, pod: &str) -> Vec<(String, String)> {
    let out = cluster
        .exec(NS, pod, CONTAINER, &["om-node", "--conf", "/etc/ozone/ozone-site.xml", "admin", "om", "roles", "--json"])
        .await
        .expect("kubectl exec: roles in pod");
    let list: Vec<Value> = serde_json::from_str(&out).expect("roles JSON");
    list.iter()
        .filter_map(|o| o.as_object())
        .flat_map(|o| o.iter())
        .map(|(id, v)| (id.clone(), v["serverRole"].as_str().unwrap_or_default().to_string()))
        .collect()
}

pub fn statefulset_ring_forms_survives_kill_and_pod_deletion() {
    common::run("plain statefulset ring", Duration::from_secs(600), async {
        let (cluster, _op) = common::shared(3).await;
        cluster.apply(&manifests()).await.expect("apply");
        let t0 = Instant::now();
        let pods =
            ring::wait_pods_ready(&cluster.client, NS, "app=om", 3, Duration::from_secs(180)).await.expect("pods");
        step(format!("3 pods ready {:.1}s after apply", t0.elapsed().as_secs_f64()));
        let mut nodes: Vec<String> = pods.iter().filter_map(|p| p.spec.as_ref()?.node_name.clone()).collect();
        nodes.sort();
        nodes.dedup();
        assert_eq!(nodes.len(), 3, "anti-affinity spreads the pods over the 3 Nodes");

        // The CLI inside a pod and the nodes' own status agree on one leader.
        let conf = ring::config_from_configmap(&cluster.client, NS, "om-config").await.expect("config");
        let client = ring::failover_client(&conf, None).expect("client");
        // A pod's name resolves once CoreDNS has its endpoint (and a miss before that is cached
        // for a few seconds), so the CLI may briefly find a peer unreachable.
        let in_pod = omring_e2e::harness::wait_for(
            "the CLI in om-0 sees one leader and two followers",
            Duration::from_secs(60),
            Duration::from_millis(500),
            || async {
                let in_pod = roles_in_pod(&cluster, "om-0").await;
                let count = |role: &str| in_pod.iter().filter(|(_, r)| r == role).count();
                if count("LEADER") == 1 && count("FOLLOWER") == 2 {
                    Ok(Some(in_pod))
                } else {
                    Err(format!("{in_pod:?}"))
                }
            },
        )
        .await
        .expect("roles in a pod");
        let leaders: Vec<_> = in_pod.iter().filter(|(_, r)| r == "LEADER").collect();
        let leader = leaders[0].0.clone();
        // From the host too (names resolved at the cluster DNS).
        omring_e2e::harness::wait_for(
            "the nodes name the same leader to the host",
            Duration::from_secs(30),
            Duration::from_millis(300),
            || async {
                match ring::leader(&client).await {
                    Some(l) if l == leader => Ok(Some(())),
                    other => Err(format!("leader {other:?}; nodes: {:?}", client.ring_status().await)),
                }
            },
        )
        .await
        .expect("leader seen from the host");

        let load = Load::start(client.clone(), "e2e", "plain", 4).await.expect("load");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes flow");

        // kill -9 of the leader's process: a new leader, the container restarts and rejoins.
        let before = ring::pods(&cluster.client, NS, "app=om").await.expect("pods");
        let old = before.iter().find(|p| p.metadata.name.as_deref() == Some(leader.as_str())).expect("leader pod");
        let killed_at = Instant::now();
        cluster.kill_container(NS, &leader, CONTAINER).await.expect("kill -9 through containerd");
        client.write(WriteOp::create_volume("after-kill")).await.expect("first write after kill");
        step(format!(
            "kill -9 of leader {leader}: first successful write {:.2}s later",
            killed_at.elapsed().as_secs_f64()
        ));
        let old_restarts = ring::restart_count(old);
        omring_e2e::harness::wait_for(
            "killed pod restarted and ready",
            Duration::from_secs(60),
            Duration::from_millis(300),
            || async {
                let ps = ring::pods(&cluster.client, NS, "app=om").await.map_err(|e| e.to_string())?;
                let p = ps.iter().find(|p| p.metadata.name.as_deref() == Some(leader.as_str())).ok_or("pod gone")?;
                let same_pod = p.metadata.uid == old.metadata.uid;
                let restarts = ring::restart_count(p);
                if same_pod && restarts == old_restarts + 1 && ring::pod_ready(p) {
                    Ok(Some(()))
                } else {
                    Err(format!("same pod {same_pod}, restarts {restarts}, ready {}", ring::pod_ready(p)))
                }
            },
        )
        .await
        .expect("restart");
        // The kubelet restarts a crashed container at once, and a node whose vote for itself
        // is committed resumes leadership when no one was elected meanwhile: either way the
        // ring has exactly one leader again and the restarted node is a member.
        let roles = ring::roles(&client).await;
        assert_eq!(roles.values().filter(|r| **r == Role::Leader).count(), 1, "{roles:?}");
        assert!(matches!(roles.get(&leader), Some(Role::Leader | Role::Follower)), "{leader} rejoined: {roles:?}");
        step(format!("after the kill: {roles:?}"));
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes flow after the kill");
        // kubectl logs goes through the API server to the kubelet.
        let current = cluster.kubectl(&["-n", NS, "logs", &leader, "--tail=50"]).await.expect("kubectl logs");
        let previous =
            cluster.kubectl(&["-n", NS, "logs", &leader, "--previous"]).await.expect("kubectl logs --previous");
        assert!(
            current.contains("node started") && previous.contains("node started"),
            "logs of both runs:\n{current}\n---\n{previous}"
        );

        // Graceful deletion of a follower: SIGTERM, the StatefulSet recreates it with its volume
        // and (being a new pod) a new address; it catches up.
        let follower = roles.iter().find(|(_, r)| **r == Role::Follower).map(|(id, _)| id.clone()).expect("follower");
        let old_ip = before
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(follower.as_str()))
            .and_then(|p| p.status.as_ref()?.pod_ip.clone());
        cluster.kubectl(&["-n", NS, "delete", "pod", &follower, "--wait=true"]).await.expect("delete pod");
        let pods =
            ring::wait_pods_ready(&cluster.client, NS, "app=om", 3, Duration::from_secs(90)).await.expect("recreated");
        let new_ip = pods
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(follower.as_str()))
            .and_then(|p| p.status.as_ref()?.pod_ip.clone());
        assert_ne!(old_ip, new_ip, "a recreated pod gets a new address");
        // Its name points at the new address once CoreDNS's answer for it is fresh (a TTL of a
        // few seconds), and it answers as a follower.
        omring_e2e::harness::wait_for(
            "the recreated follower answers",
            Duration::from_secs(30),
            Duration::from_millis(300),
            || async {
                match ring::roles(&client).await.get(&follower) {
                    Some(Role::Follower) => Ok(Some(())),
                    other => Err(format!("{follower}: {other:?}")),
                }
            },
        )
        .await
        .expect("follower back");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes flow after the deletion");

        // A ConfigMap change reaches the files of running pods (as the kubelet re-syncs them).
        let patched = manifests().replace(
            "</configuration>",
            "  <property><name>e2e.marker</name><value>42</value></property>\n    </configuration>",
        );
        cluster.apply(&patched).await.expect("update configmap");
        omring_e2e::harness::wait_for(
            "ConfigMap change in the pod's file",
            Duration::from_secs(120),
            Duration::from_millis(200),
            || async {
                let text =
                    cluster.configmap_file(NS, "om-0", "config", "ozone-site.xml").await.map_err(|e| e.to_string())?;
                Ok(text.contains("e2e.marker").then_some(()))
            },
        )
        .await
        .expect("configmap re-sync");

        let report = load.stop().await;
        step(format!("load: {}", report.summary()));
        report.expect_no_failures().expect("no failed writes");
        report.verify_readable(&client).await.expect("acknowledged writes readable");
        let (digest, index) =
            ring::wait_replicas_identical(&client, Duration::from_secs(30)).await.expect("replicas agree");
        step(format!("3 replicas identical at index {index} (digest {digest})"));
    });
}

pub fn trials() -> Vec<libtest_mimic::Trial> {
    vec![common::trial(
        "statefulset_ring::statefulset_ring_forms_survives_kill_and_pod_deletion",
        statefulset_ring_forms_survives_kill_and_pod_deletion,
    )]
}
