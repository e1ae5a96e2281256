//! Pure builders: one function per Kubernetes object of a ring, from the validated model.
//!
//! They take no client and read no clock, so each is unit-tested against a golden YAML file
//! (`operator/testdata/golden/`; regenerate with `UPDATE_GOLDEN=1 cargo test -p omring-operator`).
//! The reconciler applies their output with server-side apply in a fixed order.

pub mod certificates;
pub mod configmap;
pub mod networkpolicy;
pub mod pdbs;
pub mod secrets;
pub mod serviceaccount;
pub mod services;
pub mod statefulset;
pub mod tokenreview;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::model::RingModel;

/// Metadata of a child object: name, namespace, the ring's labels, owner reference.
pub fn child_meta(model: &RingModel, name: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(model.names.namespace.clone()),
        labels: Some(model.names.labels()),
        owner_references: Some(vec![model.owner.clone()]),
        ..Default::default()
    }
}

#[cfg(test)]
pub(crate) mod golden {
    use std::path::PathBuf;

    use crate::model::tests::ring;
    use crate::model::{RingModel, Settings};

    /// The model every golden file is rendered from: a 3-node ring with some of everything.
    pub(crate) fn model() -> RingModel {
        let spec = serde_json::json!({
            "replicas": 3,
            "image": "omring/om-node:test",
            "imagePullPolicy": "IfNotPresent",
            "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
            "storage": {"size": "10Gi", "storageClassName": "fast"},
            "config": {"ozone.om.ratis.log.purge.gap": "5000", "ozone.om.nodes.om": "ignored"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "om", "effect": "NoSchedule"}],
            "pvcRetentionPolicy": {"whenScaled": "Delete", "whenDeleted": "Retain"}
        });
        RingModel::from_resource(&ring("om", spec), &Settings::default()).unwrap()
    }

    /// Compares `value` as YAML with `testdata/golden/<name>.yaml` (or rewrites it).
    pub(crate) fn check<T: serde::Serialize>(name: &str, value: &T) {
        let yaml = serde_yaml::to_string(value).unwrap();
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/golden").join(format!("{name}.yaml"));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &yaml).unwrap();
            return;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run UPDATE_GOLDEN=1 cargo test -p omring-operator", path.display()));
        if want != yaml {
            panic!(
                "{} differs from the builder's output; if the change is intended run \
                 UPDATE_GOLDEN=1 cargo test -p omring-operator\n--- got ---\n{yaml}",
                path.display()
            );
        }
    }
}
