//! Property test of the operator's first step: an `OzoneManagerRing` as the API server hands it
//! over (JSON) turned into the typed model, and the model into the objects the operator applies.
//! No spec may panic the operator, a refused spec is refused with the field at fault named, and
//! an accepted one renders an `ozone-site.xml` that reads back to the same membership and the
//! user's own settings.
//!
//! `make test` runs proptest's default number of cases; `make fuzz` sets PROPTEST_CASES.

use std::collections::BTreeMap;

use om_client::config::OzoneConfig;
use omring_operator::builders;
use omring_operator::crd::OzoneManagerRing;
use omring_operator::model::{RingModel, Settings};
use omring_operator::siteconfig::{self, Membership};
use proptest::prelude::*;
use serde_json::{json, Value};

fn base() -> Value {
    json!({
        "apiVersion": "omring.io/v1alpha1",
        "kind": "OzoneManagerRing",
        "metadata": {"name": "om", "namespace": "default", "uid": "0b7f1c9e-0000-4000-8000-000000000001", "generation": 1},
        "spec": {
            "replicas": 3,
            "image": "omring/om-node:0.1.0",
            "storage": {"size": "10Gi"},
            "config": {"ozone.om.ratis.snapshot.auto.trigger.threshold": "400000"}
        }
    })
}

/// Values a field might hold: well-formed, odd, or of the wrong type.
fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        (-3i64..12).prop_map(Value::from),
        "\\PC{0,70}".prop_map(Value::from),
        "[a-z][a-z0-9-]{0,70}".prop_map(Value::from),
        "[0-9]{1,4}(Ki|Mi|Gi|Ti|m|k|M|G|)".prop_map(Value::from),
        "[0-9]{1,5}(\\.[0-9])?(h|m|s|ms|d|)".prop_map(Value::from),
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        proptest::collection::btree_map("\\PC{0,20}", "\\PC{0,20}", 0..4).prop_map(|m| json!(m)),
    ]
}

/// Places in the resource to change.
const PATHS: &[&[&str]] = &[
    &["metadata", "name"],
    &["metadata", "namespace"],
    &["metadata", "uid"],
    &["spec", "replicas"],
    &["spec", "serviceId"],
    &["spec", "image"],
    &["spec", "imagePullPolicy"],
    &["spec", "storage", "size"],
    &["spec", "storage", "storageClassName"],
    &["spec", "config"],
    &["spec", "podDisruptionBudget"],
    &["spec", "pvcRetentionPolicy"],
    &["spec", "nodeSelector"],
    &["spec", "nodeMaintenance"],
    &["spec", "nodeMaintenance", "reusePVC"],
    &["spec", "nodeMaintenance", "replaceAfterSeconds"],
    &["spec", "tls"],
    &["spec", "tls", "enabled"],
    &["spec", "tls", "certificateDuration"],
    &["spec", "tls", "renewBefore"],
    &["spec", "networkPolicy"],
    &["spec", "networkPolicy", "enabled"],
    &["spec", "networkPolicy", "clientFrom"],
];

fn set(v: &mut Value, path: &[&str], to: Value) {
    let mut cur = v;
    for (i, p) in path.iter().enumerate() {
        if i + 1 == path.len() {
            if let Some(obj) = cur.as_object_mut() {
                obj.insert(p.to_string(), to);
            }
            return;
        }
        if !cur.get(p).is_some_and(Value::is_object) {
            if let Some(obj) = cur.as_object_mut() {
                obj.insert(p.to_string(), json!({}));
            }
        }
        match cur.get_mut(p) {
            Some(next) => cur = next,
            None => return,
        }
    }
}

fn resource() -> impl Strategy<Value = Value> {
    proptest::collection::vec((0..PATHS.len(), field_value()), 0..4).prop_map(|changes| {
        let mut v = base();
        for (p, to) in changes {
            set(&mut v, PATHS[p], to);
        }
        v
    })
}

fn user_config() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map("[a-z][a-z0-9.]{0,30}", "[a-zA-Z0-9 <>&\"'=/.,:-]{0,30}", 0..6)
        .prop_map(|m| m.into_iter().map(|(k, v)| (k, v.trim().to_string())).collect())
}

proptest! {
    #[test]
    fn fuzz_ring_specs_become_models_or_name_the_field_at_fault(v in resource(), config in user_config()) {
        let mut v = v;
        if v["spec"]["config"].as_object().is_some_and(|c| c.len() == 1) {
            set(&mut v, &["spec", "config"], json!(config));
        }
        let ring: OzoneManagerRing = match serde_json::from_value(v.clone()) {
            Ok(r) => r,
            // The API server's schema refuses such objects before the operator sees them.
            Err(e) => {
                prop_assert!(!e.to_string().is_empty());
                return Ok(());
            }
        };
        let model = match RingModel::from_resource(&ring, &Settings::default()) {
            Ok(m) => m,
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.starts_with("spec.") || msg.starts_with("metadata."), "{msg}");
                return Ok(());
            }
        };
        prop_assert!(model.replicas >= 1);
        // The builders take any model.
        let membership = Membership::first(model.replicas);
        let site = siteconfig::render(&model, &membership);
        let template = builders::statefulset::pod_template(&model, &site.restart_hash);
        let _ = builders::statefulset::build(&model, model.replicas, template);
        let _ = builders::services::headless(&model);
        let _ = builders::services::client(&model);
        let _ = builders::pdbs::followers(&model, model.replicas);
        let _ = builders::configmap::build(&model, &site);
        if let Some(np) = &model.network_policy {
            let _ = builders::networkpolicy::build(&model, np, &Settings::default());
        }
        // The rendered file reads back: membership, and every setting the user gave.
        let back = siteconfig::read_membership(&site.xml, &model.names, &model.service_id)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{}", site.xml)))?;
        prop_assert_eq!(back, membership);
        let conf = OzoneConfig::parse_xml(&site.xml).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (k, val) in &model.user_config {
            if k == "ozone.administrators" && model.tls.is_some() {
                // The operator stays an administrator of a ring it manages with TLS.
                let got = conf.get(k).unwrap_or_default();
                prop_assert!(got.contains("omring-operator"), "{}", got);
                continue;
            }
            prop_assert_eq!(conf.get(k), Some(val.as_str()), "{}", k);
        }
        // TLS is on exactly when the spec and the user's configuration both allow it.
        if model.tls.is_some() && !model.user_config.contains_key("ozone.security.enabled") {
            prop_assert_eq!(conf.get("ozone.security.enabled"), Some("true"));
            prop_assert_eq!(conf.get("omring.tls.certificate.file"), Some("/etc/omring/tls/tls.crt"));
        }
    }

    #[test]
    fn fuzz_arbitrary_json_never_panics_the_operator(v in any::<Option<(String, i64, bool)>>().prop_map(|o| json!({"spec": o}))) {
        if let Ok(ring) = serde_json::from_value::<OzoneManagerRing>(v) {
            let _ = RingModel::from_resource(&ring, &Settings::default());
        }
    }
}
