//! The node agent as a kubelet, with plain `sh` containers (the host's shell stands in for a
//! busybox image): init containers and emptyDir, env expansion and the downward API, ConfigMap
//! items and Secret volumes, restart policies and crash-loop back-off, readiness and liveness
//! probes, graceful deletion, and `kubectl logs`.

mod common;

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use omring_e2e::harness::cluster::ClusterSpec;
use omring_e2e::harness::{ring, step, wait_for, Cluster};

const NS: &str = "pods";

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: pods}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: pods}
data: {a: alpha, b: beta}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: pods}
stringData: {password: s3cret}
---
apiVersion: v1
kind: Pod
metadata: {name: basics, namespace: pods, labels: {team: storage}}
spec:
  restartPolicy: Never
  volumes:
  - {name: work, emptyDir: {}}
  - name: cfg
    configMap: {name: settings, items: [{key: b, path: renamed}]}
  - {name: sec, secret: {secretName: creds}}
  initContainers:
  - name: init
    image: busybox
    command: [sh, -c, "echo from-init > /work/init.txt"]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: main
    image: busybox
    command: [sh, -c]
    args: ["cat /work/init.txt; echo \"greeting=$GREETING ns=$POD_NAMESPACE ip=$POD_IP team=$TEAM\"; cat /cfg/renamed; echo; cat /sec/password; echo; test ! -e /cfg/a"]
    env:
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: POD_NAMESPACE
      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    - name: TEAM
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['team']"}}
    - name: GREETING
      value: "hi $(POD_NAME) $$(ESCAPED)"
    volumeMounts:
    - {name: work, mountPath: /work}
    - {name: cfg, mountPath: /cfg}
    - {name: sec, mountPath: /sec}
---
apiVersion: v1
kind: Pod
metadata: {name: crashy, namespace: pods}
spec:
  restartPolicy: OnFailure
  containers:
  - {name: main, image: busybox, command: [sh, -c, "echo crashing; exit 3"]}
---
apiVersion: v1
kind: Pod
metadata: {name: probed, namespace: pods}
spec:
  terminationGracePeriodSeconds: 30
  volumes: [{name: state, emptyDir: {}}]
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "trap 'echo got-term; exit 0' TERM; echo started; while true; do sleep 0.1; done"]
    volumeMounts: [{name: state, mountPath: /state}]
    readinessProbe:
      exec: {command: [test, -f, /state/ready]}
      periodSeconds: 1
    livenessProbe:
      exec: {command: [sh, -c, "test ! -f /state/die"]}
      periodSeconds: 1
      failureThreshold: 2
      terminationGracePeriodSeconds: 5
"#;

async fn get(cluster: &Cluster, name: &str) -> Pod {
    Api::<Pod>::namespaced(cluster.client.clone(), NS).get(name).await.expect("get pod")
}

fn phase(p: &Pod) -> String {
    p.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default()
}

#[test]
fn pods_run_like_under_a_kubelet() {
    common::run("agent pods", Duration::from_secs(300), async {
        let cluster = Cluster::start(ClusterSpec::new("pods", 1)).await.expect("cluster");
        cluster.apply(MANIFESTS).await.expect("apply");

        // Init container, emptyDir, env, downward API, ConfigMap items, Secret; Never -> Succeeded.
        wait_for("basics Succeeded", Duration::from_secs(60), Duration::from_millis(300), || async {
            let p = get(&cluster, "basics").await;
            match phase(&p).as_str() {
                "Succeeded" => Ok(Some(())),
                "Failed" => panic!("basics failed: {:?}", p.status),
                other => Err(other.to_string()),
            }
        })
        .await
        .expect("basics");
        let p = get(&cluster, "basics").await;
        let ip = p.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap_or_default();
        assert!(ip.starts_with("127."), "loopback pod address {ip}");
        let logs = cluster.kubectl(&["-n", NS, "logs", "basics", "-c", "main"]).await.expect("logs");
        step(format!("basics logs:\n{logs}"));
        assert!(logs.contains("from-init"), "init container wrote into the emptyDir");
        assert!(logs.contains(&format!("greeting=hi basics $(ESCAPED) ns={NS} ip={ip} team=storage")), "{logs}");
        assert!(logs.contains("beta") && logs.contains("s3cret"), "{logs}");

        // OnFailure restarts with back-off; the last state says why.
        wait_for("crashy restarted twice", Duration::from_secs(60), Duration::from_millis(300), || async {
            let p = get(&cluster, "crashy").await;
            let cs = p.status.as_ref().and_then(|s| s.container_statuses.clone()).unwrap_or_default();
            let c = cs.first().ok_or("no status")?;
            let last_code = c.last_state.as_ref().and_then(|s| s.terminated.as_ref()).map(|t| t.exit_code);
            if c.restart_count >= 2 && last_code == Some(3) {
                Ok(Some(()))
            } else {
                Err(format!("{c:?}"))
            }
        })
        .await
        .expect("crash loop");
        let previous = cluster.kubectl(&["-n", NS, "logs", "crashy", "--previous"]).await.expect("logs --previous");
        assert!(previous.contains("crashing"));

        // Readiness follows the probe; a failing liveness probe restarts the container.
        let probed = get(&cluster, "probed").await;
        assert!(!ring::pod_ready(&probed), "not ready before the probe passes");
        cluster.agent.exec(NS, "probed", None, &["touch", "/state/ready"]).await.expect("touch ready");
        wait_for("probed Ready", Duration::from_secs(30), Duration::from_millis(200), || async {
            Ok(ring::pod_ready(&get(&cluster, "probed").await).then_some(()))
        })
        .await
        .expect("ready");
        cluster.agent.exec(NS, "probed", None, &["touch", "/state/die"]).await.expect("touch die");
        wait_for("liveness restart", Duration::from_secs(30), Duration::from_millis(200), || async {
            Ok((ring::restart_count(&get(&cluster, "probed").await) >= 1).then_some(()))
        })
        .await
        .expect("restarted by liveness");
        cluster.agent.exec(NS, "probed", None, &["rm", "/state/die"]).await.expect("rm die");
        let previous = cluster.kubectl(&["-n", NS, "logs", "probed", "--previous"]).await.expect("logs --previous");
        assert!(previous.contains("got-term"), "liveness kill sends SIGTERM first: {previous}");

        // Graceful deletion: SIGTERM is trapped and the pod goes away well before the grace period.
        let t0 = std::time::Instant::now();
        cluster.kubectl(&["-n", NS, "delete", "pod", "probed", "--wait=true", "--timeout=60s"]).await.expect("delete");
        assert!(t0.elapsed() < Duration::from_secs(20), "deleted after {:?}", t0.elapsed());
        let events =
            cluster.kubectl(&["-n", NS, "get", "events", "-o", "custom-columns=REASON:.reason"]).await.expect("events");
        for reason in ["Started", "Killing", "BackOff", "Unhealthy"] {
            assert!(events.contains(reason), "event {reason} in {events}");
        }
    });
}
