//! Validation of an `OzoneManagerRing` into the typed model every later step works on.
//!
//! The API server already enforces the CRD's CEL rules; this repeats the checks the operator
//! depends on (so an object stored before the rules existed cannot drive it into a bad state),
//! fills defaults, and splits `spec.config` into the keys it accepts and the operator-owned
//! keys it ignores. Builders and the planner never look at the raw resource again.
//!
//! Security is decided here once: TLS is on when `spec.tls.enabled` is true and the user's
//! `spec.config` does not say `ozone.security.enabled=false` (docs/security.md); everything
//! downstream (configuration, pod volumes, certificates) follows `RingModel::tls`.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Affinity, ResourceRequirements, Toleration};
use k8s_openapi::api::networking::v1::NetworkPolicyPeer;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;

use crate::crd::{
    IssuerRef, OzoneManagerRing, PvcRetentionPolicy, StorageSpec, TlsSpec, CERT_MANAGER_GROUP, CLUSTER_ISSUER, ISSUER,
    MAX_NAME_LEN,
};
use crate::duration::{self, DurationError};
use crate::names::RingNames;
use crate::siteconfig::{OZONE_SECURITY_ENABLED, TLS_FILE_KEYS};

/// Why a resource cannot be turned into a model. Each names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("metadata.{0} is missing")]
    MissingMetadata(&'static str),
    #[error("metadata.name {name:?} is longer than {MAX_NAME_LEN} characters")]
    NameTooLong { name: String },
    #[error("spec.replicas is {0}; it must be at least 1")]
    Replicas(i32),
    #[error("spec.serviceId {0:?} is not a DNS label (lower-case letters, digits, '-', at most 63 characters)")]
    ServiceId(String),
    #[error("spec.image is empty")]
    EmptyImage,
    #[error("spec.storage.size {0:?} is not a quantity")]
    StorageSize(String),
    #[error("spec.config has an empty key")]
    EmptyConfigKey,
    #[error("spec.nodeMaintenance.replaceAfterSeconds is {0}; it must not be negative")]
    ReplaceAfter(i32),
    #[error("spec.tls.{field} {value:?} is not a duration such as 2160h or 90m: {why}")]
    Duration { field: &'static str, value: String, why: DurationError },
    #[error("spec.tls.{field} {value:?} is out of range: it must be {range}")]
    DurationRange { field: &'static str, value: String, range: &'static str },
    #[error("spec.tls.renewBefore ({renew_before}) must be shorter than spec.tls.certificateDuration ({certificate_duration})")]
    RenewBefore { renew_before: String, certificate_duration: String },
    #[error(
        "spec.tls.{field} {value:?} is too short for cert-manager (spec.tls.issuerRef): it must be at least {min}"
    )]
    CertManagerMinimum { field: &'static str, value: String, min: &'static str },
    #[error("spec.tls.issuerRef.{field} {value:?} is invalid: {why}")]
    IssuerRef { field: &'static str, value: String, why: &'static str },
}

/// Operator settings that shape every ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// DNS suffix of the cluster (`cluster.local`).
    pub cluster_domain: String,
    /// The operator's own namespace and pod labels: the rings' NetworkPolicies let these pods
    /// reach every port.
    pub operator_namespace: String,
    pub operator_pod_labels: BTreeMap<String, String>,
    /// How long pods are given to load a changed trust bundle (kubelet Secret sync plus the
    /// node's file reload) before a CA rotation takes its next step.
    pub tls_propagation: Duration,
}

/// Labels of the operator's pods when none are configured (the chart's selector labels).
pub fn default_operator_pod_labels() -> BTreeMap<String, String> {
    BTreeMap::from([("app.kubernetes.io/name".to_string(), "omring-operator".to_string())])
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cluster_domain: "cluster.local".into(),
            operator_namespace: "default".into(),
            operator_pod_labels: default_operator_pod_labels(),
            tls_propagation: Duration::from_secs(300),
        }
    }
}

/// Validated `spec.tls` of a ring that runs with TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsModel {
    /// Lifetime of the node and operator certificates (the CA lasts ten times as long).
    pub certificate_duration: Duration,
    /// A certificate is renewed when less than this is left.
    pub renew_before: Duration,
    /// cert-manager issues the certificates from this issuer; None: the operator's own CA.
    pub issuer: Option<IssuerModel>,
}

/// A validated `spec.tls.issuerRef`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerModel {
    pub name: String,
    pub kind: String,
    pub group: String,
}

impl std::fmt::Display for IssuerModel {
    /// `ClusterIssuer ca-issuer (cert-manager.io)`: how events and the status name it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({})", self.kind, self.name, self.group)
    }
}

/// cert-manager's own floor for a certificate's lifetime and renewal margin (its webhook
/// refuses shorter ones: `MinimumCertificateDuration`, `MinimumRenewBefore`).
pub const CERT_MANAGER_MIN_DURATION: Duration = Duration::from_secs(3600);
pub const CERT_MANAGER_MIN_RENEW_BEFORE: Duration = Duration::from_secs(300);

fn is_dns_subdomain(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 253
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'.')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

impl IssuerModel {
    fn from_spec(r: &IssuerRef) -> Result<Self, ValidationError> {
        let bad = |field: &'static str, value: &str, why: &'static str| ValidationError::IssuerRef {
            field,
            value: value.to_string(),
            why,
        };
        if !is_dns_subdomain(&r.name) {
            return Err(bad("name", &r.name, "it must be a lower-case DNS name such as ca-issuer"));
        }
        if !is_dns_subdomain(&r.group) {
            return Err(bad("group", &r.group, "it must be an API group such as cert-manager.io"));
        }
        let kind_ok = r.kind.len() <= 63
            && r.kind.starts_with(|c: char| c.is_ascii_uppercase())
            && r.kind.chars().all(|c| c.is_ascii_alphanumeric());
        if !kind_ok || (r.group == CERT_MANAGER_GROUP && r.kind != ISSUER && r.kind != CLUSTER_ISSUER) {
            return Err(bad("kind", &r.kind, "it must be Issuer or ClusterIssuer for the group cert-manager.io"));
        }
        Ok(Self { name: r.name.clone(), kind: r.kind.clone(), group: r.group.clone() })
    }
}

/// Shortest certificate lifetime and renewal margin (the CRD's CEL rules say the same).
const MIN_CERTIFICATE_DURATION: Duration = Duration::from_secs(120);
const MAX_CERTIFICATE_DURATION: Duration = Duration::from_secs(87_600 * 3600);
const MIN_RENEW_BEFORE: Duration = Duration::from_secs(60);

impl TlsModel {
    /// Checks `spec.tls`'s durations (whether or not TLS is on, as the CRD does).
    pub fn from_spec(spec: &TlsSpec) -> Result<Self, ValidationError> {
        let parse = |field: &'static str, value: &str| {
            duration::parse(value).map_err(|why| ValidationError::Duration { field, value: value.into(), why })
        };
        let certificate_duration = parse("certificateDuration", &spec.certificate_duration)?;
        let renew_before = parse("renewBefore", &spec.renew_before)?;
        if !(MIN_CERTIFICATE_DURATION..=MAX_CERTIFICATE_DURATION).contains(&certificate_duration) {
            return Err(ValidationError::DurationRange {
                field: "certificateDuration",
                value: spec.certificate_duration.clone(),
                range: "between 2m and 87600h",
            });
        }
        if renew_before < MIN_RENEW_BEFORE {
            return Err(ValidationError::DurationRange {
                field: "renewBefore",
                value: spec.renew_before.clone(),
                range: "at least 1m",
            });
        }
        if renew_before >= certificate_duration {
            return Err(ValidationError::RenewBefore {
                renew_before: spec.renew_before.clone(),
                certificate_duration: spec.certificate_duration.clone(),
            });
        }
        let issuer = spec.issuer_ref.as_ref().map(IssuerModel::from_spec).transpose()?;
        if issuer.is_some() {
            if certificate_duration < CERT_MANAGER_MIN_DURATION {
                return Err(ValidationError::CertManagerMinimum {
                    field: "certificateDuration",
                    value: spec.certificate_duration.clone(),
                    min: "1h",
                });
            }
            if renew_before < CERT_MANAGER_MIN_RENEW_BEFORE {
                return Err(ValidationError::CertManagerMinimum {
                    field: "renewBefore",
                    value: spec.renew_before.clone(),
                    min: "5m",
                });
            }
        }
        Ok(Self { certificate_duration, renew_before, issuer })
    }
}

/// Validated `spec.networkPolicy` of a ring that gets a NetworkPolicy.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkPolicyModel {
    /// Who else may reach the client port: None is anyone, an empty list nobody else.
    pub client_from: Option<Vec<NetworkPolicyPeer>>,
}

/// What to do with a member whose volume's Kubernetes Node is unavailable (validated
/// `spec.nodeMaintenance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeMaintenance {
    /// Wait for the Node (true) or replace the member on another Node (false).
    pub reuse_pvc: bool,
    /// With `reuse_pvc` false: how long a NotReady Node is waited for.
    pub replace_after: Duration,
}

impl Default for NodeMaintenance {
    fn default() -> Self {
        Self { reuse_pvc: true, replace_after: Duration::from_secs(300) }
    }
}

/// A validated ring: what the builders and the planner work from.
#[derive(Debug, Clone, PartialEq)]
pub struct RingModel {
    pub names: RingNames,
    pub uid: String,
    pub generation: Option<i64>,
    pub service_id: String,
    pub replicas: u32,
    pub image: String,
    pub image_pull_policy: Option<String>,
    pub resources: Option<ResourceRequirements>,
    pub storage: StorageSpec,
    /// `spec.config` without the operator-owned keys.
    pub user_config: BTreeMap<String, String>,
    /// Operator-owned keys the user set; ignored, and reported in a status condition.
    pub ignored_config_keys: Vec<String>,
    pub node_selector: Option<BTreeMap<String, String>>,
    pub tolerations: Option<Vec<Toleration>>,
    pub affinity: Option<Affinity>,
    pub pdb_enabled: bool,
    pub pvc_retention: PvcRetentionPolicy,
    pub node_maintenance: NodeMaintenance,
    /// TLS settings when the ring runs with TLS; None: plaintext.
    pub tls: Option<TlsModel>,
    /// The NetworkPolicy's settings when the ring gets one.
    pub network_policy: Option<NetworkPolicyModel>,
    /// The value of the ring's `omring.io/rotate-ca` annotation: a request to rotate the CA.
    pub ca_rotation_request: Option<String>,
    /// Owner reference pointing at the resource, for every child object.
    pub owner: OwnerReference,
}

/// Exact keys of `ozone-site.xml` the operator owns.
const OWNED_KEYS: &[&str] = &[
    om_client::config::OZONE_OM_SERVICE_IDS,
    om_client::config::OZONE_OM_INTERNAL_SERVICE_ID,
    om_client::config::OZONE_OM_NODE_ID,
    om_client::config::OZONE_OM_DB_DIRS,
];

/// Key prefixes (`<prefix>` or `<prefix>.<anything>`) the operator owns: node lists and addresses.
const OWNED_PREFIXES: &[&str] = &[
    om_client::config::OZONE_OM_NODES,
    om_client::config::OZONE_OM_ADDRESS,
    om_client::config::OZONE_OM_RATIS_PORT,
    om_client::config::OZONE_OM_HTTP_ADDRESS,
    om_client::config::OZONE_OM_DECOMMISSIONED_NODES,
    "ozone.om.listener.nodes",
];

/// True for keys the operator computes and a user may not override; with TLS on, the
/// certificate files are the operator's too (they name the files of the Secret it mounts).
pub fn is_operator_owned_key(key: &str, tls: bool) -> bool {
    OWNED_KEYS.contains(&key)
        || (tls && TLS_FILE_KEYS.contains(&key))
        || OWNED_PREFIXES.iter().any(|p| key == *p || key.strip_prefix(p).is_some_and(|rest| rest.starts_with('.')))
}

/// Whether the user's configuration turns security off (`ozone.security.enabled=false`).
fn config_turns_security_off(config: &BTreeMap<String, String>) -> bool {
    config.iter().any(|(k, v)| k.trim() == OZONE_SECURITY_ENABLED && v.trim().eq_ignore_ascii_case("false"))
}

/// True for DNS labels (RFC 1123): what service ids and names must be.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn is_quantity(s: &str) -> bool {
    let s = s.trim();
    let digits_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, suffix) = s.split_at(digits_end);
    !num.is_empty()
        && num.parse::<f64>().is_ok()
        && ["", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"].contains(&suffix)
}

impl RingModel {
    /// Validates a resource and fills defaults.
    pub fn from_resource(ring: &OzoneManagerRing, settings: &Settings) -> Result<Self, ValidationError> {
        let meta = ring.meta();
        let name = meta.name.clone().ok_or(ValidationError::MissingMetadata("name"))?;
        let namespace = meta.namespace.clone().ok_or(ValidationError::MissingMetadata("namespace"))?;
        let uid = meta.uid.clone().ok_or(ValidationError::MissingMetadata("uid"))?;
        if name.len() > MAX_NAME_LEN {
            return Err(ValidationError::NameTooLong { name });
        }
        let spec = &ring.spec;
        let replicas =
            u32::try_from(spec.replicas).ok().filter(|r| *r >= 1).ok_or(ValidationError::Replicas(spec.replicas))?;
        let service_id = spec.service_id.clone().unwrap_or_else(|| name.clone());
        if !is_dns_label(&service_id) {
            return Err(ValidationError::ServiceId(service_id));
        }
        if spec.image.trim().is_empty() {
            return Err(ValidationError::EmptyImage);
        }
        if !is_quantity(&spec.storage.size.0) {
            return Err(ValidationError::StorageSize(spec.storage.size.0.clone()));
        }
        let tls_settings = TlsModel::from_spec(&spec.tls)?;
        let tls = (spec.tls.enabled && !config_turns_security_off(&spec.config)).then_some(tls_settings);
        let mut user_config = BTreeMap::new();
        let mut ignored_config_keys = Vec::new();
        for (k, v) in &spec.config {
            let key = k.trim();
            if key.is_empty() {
                return Err(ValidationError::EmptyConfigKey);
            }
            if is_operator_owned_key(key, tls.is_some()) {
                ignored_config_keys.push(key.to_string());
            } else {
                user_config.insert(key.to_string(), v.clone());
            }
        }
        let nm = &spec.node_maintenance;
        let replace_after = u64::try_from(nm.replace_after_seconds)
            .map(Duration::from_secs)
            .map_err(|_| ValidationError::ReplaceAfter(nm.replace_after_seconds))?;
        let owner = ring.controller_owner_ref(&()).ok_or(ValidationError::MissingMetadata("name"))?;
        Ok(Self {
            names: RingNames::new(&name, &namespace, &settings.cluster_domain),
            uid,
            generation: meta.generation,
            service_id,
            replicas,
            image: spec.image.trim().to_string(),
            image_pull_policy: spec.image_pull_policy.map(|p| p.as_str().to_string()),
            resources: spec.resources.clone(),
            storage: spec.storage.clone(),
            user_config,
            ignored_config_keys,
            node_selector: spec.node_selector.clone(),
            tolerations: spec.tolerations.clone(),
            affinity: spec.affinity.clone(),
            pdb_enabled: spec.pod_disruption_budget.enabled,
            pvc_retention: spec.pvc_retention_policy.clone(),
            node_maintenance: NodeMaintenance { reuse_pvc: nm.reuse_pvc, replace_after },
            tls,
            network_policy: spec
                .network_policy
                .enabled
                .then(|| NetworkPolicyModel { client_from: spec.network_policy.client_from.clone() }),
            ca_rotation_request: meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(crate::names::ANNOTATION_ROTATE_CA))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty()),
            owner,
        })
    }

    /// Node ids of the desired ring: ordinals `0..replicas`.
    pub fn desired_ordinals(&self) -> std::ops::Range<u32> {
        0..self.replicas
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A ring as the API server would return it (defaults filled, uid and generation set).
    pub(crate) fn ring(name: &str, spec: serde_json::Value) -> OzoneManagerRing {
        let mut r: OzoneManagerRing = serde_json::from_value(serde_json::json!({
            "apiVersion": "omring.io/v1alpha1", "kind": "OzoneManagerRing",
            "metadata": {"name": name, "namespace": "ns", "uid": "uid-1", "generation": 1},
            "spec": spec,
        }))
        .unwrap();
        r.status = None;
        r
    }

    #[test]
    fn defaults_and_owner() {
        let m = RingModel::from_resource(&ring("om", serde_json::json!({})), &Settings::default()).unwrap();
        assert_eq!(m.service_id, "om");
        assert_eq!(m.replicas, 3);
        assert_eq!(m.names.host(0), "om-0.om-headless.ns.svc.cluster.local");
        assert_eq!(m.owner.kind, "OzoneManagerRing");
        assert_eq!(m.owner.controller, Some(true));
        assert!(m.pdb_enabled);
        assert_eq!(m.node_maintenance, NodeMaintenance { reuse_pvc: true, replace_after: Duration::from_secs(300) });
        let day = 24 * 3600;
        assert_eq!(
            m.tls,
            Some(TlsModel {
                certificate_duration: Duration::from_secs(90 * day),
                renew_before: Duration::from_secs(7 * day),
                issuer: None,
            })
        );
        assert_eq!(m.network_policy, Some(NetworkPolicyModel { client_from: None }));
    }

    #[test]
    fn tls_is_off_with_the_spec_switch_or_the_users_security_key() {
        let s = Settings::default();
        let off = RingModel::from_resource(&ring("om", serde_json::json!({"tls": {"enabled": false}})), &s).unwrap();
        assert_eq!(off.tls, None);
        let by_config = serde_json::json!({"config": {"ozone.security.enabled": " False "}});
        let off = RingModel::from_resource(&ring("om", by_config), &s).unwrap();
        assert_eq!(off.tls, None);
        assert_eq!(off.user_config.get("ozone.security.enabled").map(String::as_str), Some(" False "));
        let on = serde_json::json!({"config": {"ozone.security.enabled": "true"}});
        assert!(RingModel::from_resource(&ring("om", on), &s).unwrap().tls.is_some());
        let no_policy = serde_json::json!({"networkPolicy": {"enabled": false, "clientFrom": []}});
        assert_eq!(RingModel::from_resource(&ring("om", no_policy), &s).unwrap().network_policy, None);
    }

    #[test]
    fn an_issuer_ref_hands_the_certificates_to_cert_manager() {
        let spec = serde_json::json!({"tls": {"issuerRef": {"name": "ring-ca", "kind": "ClusterIssuer"}}});
        let m = RingModel::from_resource(&ring("om", spec), &Settings::default()).unwrap();
        let issuer = m.tls.unwrap().issuer.unwrap();
        assert_eq!(
            issuer,
            IssuerModel { name: "ring-ca".into(), kind: "ClusterIssuer".into(), group: "cert-manager.io".into() }
        );
        assert_eq!(issuer.to_string(), "ClusterIssuer ring-ca (cert-manager.io)");
    }

    #[test]
    fn the_certificate_files_belong_to_the_operator_only_with_tls() {
        let spec =
            serde_json::json!({"config": {"omring.tls.ca.file": "/mine", "omring.tls.reload.interval.ms": "100"}});
        let m = RingModel::from_resource(&ring("om", spec.clone()), &Settings::default()).unwrap();
        assert_eq!(m.ignored_config_keys, ["omring.tls.ca.file"]);
        assert_eq!(m.user_config.keys().collect::<Vec<_>>(), ["omring.tls.reload.interval.ms"]);
        let mut plain = spec;
        plain["tls"] = serde_json::json!({"enabled": false});
        let m = RingModel::from_resource(&ring("om", plain), &Settings::default()).unwrap();
        assert!(m.ignored_config_keys.is_empty());
    }

    #[test]
    fn rejects_what_the_cel_rules_reject() {
        let s = Settings::default();
        let cases = [
            (serde_json::json!({"replicas": 0}), "spec.replicas is 0"),
            (serde_json::json!({"replicas": -2}), "spec.replicas is -2"),
            (serde_json::json!({"serviceId": "Bad_Id"}), "spec.serviceId"),
            (serde_json::json!({"image": " "}), "spec.image is empty"),
            (serde_json::json!({"storage": {"size": "lots"}}), "spec.storage.size"),
            (serde_json::json!({"config": {" ": "x"}}), "empty key"),
            (
                serde_json::json!({"nodeMaintenance": {"replaceAfterSeconds": -5}}),
                "spec.nodeMaintenance.replaceAfterSeconds",
            ),
            (serde_json::json!({"tls": {"certificateDuration": "90d"}}), "spec.tls.certificateDuration \"90d\""),
            (serde_json::json!({"tls": {"renewBefore": "soon"}}), "spec.tls.renewBefore \"soon\""),
            (serde_json::json!({"tls": {"certificateDuration": "1m", "renewBefore": "1m"}}), "between 2m and 87600h"),
            (serde_json::json!({"tls": {"certificateDuration": "87601h"}}), "between 2m and 87600h"),
            (serde_json::json!({"tls": {"renewBefore": "59s"}}), "at least 1m"),
            (
                serde_json::json!({"tls": {"certificateDuration": "1h", "renewBefore": "60m"}}),
                "spec.tls.renewBefore (60m) must be shorter than spec.tls.certificateDuration (1h)",
            ),
            (
                serde_json::json!({"tls": {"issuerRef": {"name": "ca"}, "certificateDuration": "59m", "renewBefore": "5m"}}),
                "spec.tls.certificateDuration \"59m\" is too short for cert-manager (spec.tls.issuerRef): it must be at least 1h",
            ),
            (
                serde_json::json!({"tls": {"issuerRef": {"name": "ca"}, "renewBefore": "4m"}}),
                "spec.tls.renewBefore \"4m\" is too short for cert-manager",
            ),
            (
                serde_json::json!({"tls": {"issuerRef": {"name": "ca", "kind": "Secret"}}}),
                "spec.tls.issuerRef.kind \"Secret\" is invalid",
            ),
            (serde_json::json!({"tls": {"issuerRef": {"name": "-ca"}}}), "spec.tls.issuerRef.name \"-ca\" is invalid"),
            // The durations are checked even with TLS off, as the CRD does.
            (serde_json::json!({"tls": {"enabled": false, "renewBefore": "1d"}}), "spec.tls.renewBefore"),
        ];
        for (spec, want) in cases {
            let err = RingModel::from_resource(&ring("om", spec.clone()), &s).unwrap_err().to_string();
            assert!(err.contains(want), "{spec}: {err}");
        }
        let err = RingModel::from_resource(&ring(&"x".repeat(53), serde_json::json!({})), &s).unwrap_err();
        assert!(matches!(err, ValidationError::NameTooLong { .. }));
    }

    #[test]
    fn operator_owned_config_keys_are_ignored_and_named() {
        let spec = serde_json::json!({"config": {
            "ozone.om.nodes.om": "a,b",
            "ozone.om.address.om.om-0": "elsewhere:1",
            "ozone.om.node.id": "x",
            "ozone.om.db.dirs": "/tmp",
            "ozone.om.nodesx": "kept: not the owned prefix",
            "ozone.om.ratis.log.purge.gap": "5000",
        }});
        let m = RingModel::from_resource(&ring("om", spec), &Settings::default()).unwrap();
        assert_eq!(
            m.ignored_config_keys,
            ["ozone.om.address.om.om-0", "ozone.om.db.dirs", "ozone.om.node.id", "ozone.om.nodes.om"]
        );
        assert_eq!(m.user_config.keys().collect::<Vec<_>>(), ["ozone.om.nodesx", "ozone.om.ratis.log.purge.gap"]);
    }

    #[test]
    fn quantities() {
        for ok in ["1Gi", "500Mi", "10", "1.5G", "2Ti"] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "Gi", "1Gb", "1 Gi", "x"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }
}
