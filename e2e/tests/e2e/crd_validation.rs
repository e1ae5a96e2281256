//! The OzoneManagerRing API as installed by the chart: invalid objects are refused by the API
//! server itself (schema and CEL rules) with a message a user can act on, before any operator
//! sees them; valid ones get the printer columns and the scale subresource.

use crate::common;
use std::time::Duration;

use omring_e2e::harness::{step, Cluster, HarnessError};

const NS: &str = "crd";

fn ring(name: &str, spec: &str) -> String {
    format!("apiVersion: omring.io/v1alpha1\nkind: OzoneManagerRing\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n{spec}")
}

/// Applies `yaml` expecting the API server to refuse it with a message containing `expect`.
async fn refused(cluster: &Cluster, what: &str, yaml: &str, expect: &str) {
    match cluster.apply(yaml).await {
        Ok(out) => panic!("{what}: accepted ({out})"),
        Err(HarnessError::Command { stderr, .. }) => {
            assert!(stderr.contains(expect), "{what}: message {stderr:?} does not say {expect:?}");
            step(format!("{what}: refused: {}", stderr.lines().last().unwrap_or_default()));
        }
        Err(e) => panic!("{what}: {e}"),
    }
}

pub fn invalid_rings_are_refused_with_readable_messages() {
    common::run("invalid CRs", Duration::from_secs(300), async {
        let (cluster, _op) = common::shared(1).await;
        cluster.kubectl(&["create", "namespace", NS]).await.expect("namespace");

        refused(&cluster, "replicas 0", &ring("zero", "  replicas: 0\n"), "replicas must be at least 1").await;
        refused(&cluster, "replicas -2", &ring("negative", "  replicas: -2\n"), "replicas must be at least 1").await;
        refused(
            &cluster,
            "bad serviceId",
            &ring("badsid", "  serviceId: Bad_Service!\n"),
            "serviceId must be a DNS label",
        )
        .await;
        refused(&cluster, "unknown field", &ring("typo", "  replicaz: 3\n"), "unknown field \"spec.replicaz\"").await;
        refused(&cluster, "wrong type", &ring("wrongtype", "  replicas: three\n"), "spec.replicas").await;
        let long = "r".repeat(53);
        refused(
            &cluster,
            "name too long",
            &ring(&long, "  replicas: 3\n"),
            "metadata.name must be at most 52 characters",
        )
        .await;

        // A valid ring is accepted; immutable fields stay immutable.
        cluster
            .apply(&ring("good", "  replicas: 3\n  serviceId: goodsvc\n  storage: {size: 1Gi}\n"))
            .await
            .expect("valid ring");
        refused(
            &cluster,
            "serviceId change",
            &ring("good", "  replicas: 3\n  serviceId: othersvc\n  storage: {size: 1Gi}\n"),
            "serviceId cannot change after creation",
        )
        .await;
        refused(
            &cluster,
            "storage change",
            &ring("good", "  replicas: 3\n  serviceId: goodsvc\n  storage: {size: 2Gi}\n"),
            "storage cannot change after creation",
        )
        .await;

        // The scale subresource and the printer columns a user sees.
        cluster.kubectl(&["-n", NS, "scale", "omr/good", "--replicas=5"]).await.expect("kubectl scale");
        let replicas =
            cluster.kubectl(&["-n", NS, "get", "omr", "good", "-o", "jsonpath={.spec.replicas}"]).await.expect("get");
        assert_eq!(replicas.trim(), "5", "kubectl scale went through the scale subresource");
        match cluster.kubectl(&["-n", NS, "scale", "omr/good", "--replicas=0"]).await {
            Err(HarnessError::Command { stderr, .. }) if stderr.contains("replicas must be at least 1") => {
                step("kubectl scale --replicas=0: refused")
            }
            other => panic!("kubectl scale --replicas=0 should be refused: {other:?}"),
        }
        let table = cluster.kubectl(&["-n", NS, "get", "omr"]).await.expect("get omr");
        let header = table.lines().next().unwrap_or_default().to_string();
        for col in ["NAME", "REPLICAS", "READY", "LEADER", "AVAILABLE", "AGE"] {
            assert!(header.contains(col), "column {col} in {header:?}");
        }
        step(format!("kubectl get omr:\n{table}"));
    });
}

pub fn trials() -> Vec<libtest_mimic::Trial> {
    vec![common::trial(
        "crd_validation::invalid_rings_are_refused_with_readable_messages",
        invalid_rings_are_refused_with_readable_messages,
    )]
}
