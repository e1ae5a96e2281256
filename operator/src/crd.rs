//! The `OzoneManagerRing` custom resource (group `omring.io`, version `v1alpha1`).
//!
//! The schema, its CEL rules, the status and scale subresources and the printer columns are all
//! declared here; `crdgen` renders them into `crds/`, so this file is the single source of the
//! CRD. Rules the schema alone cannot express (replicas >= 1, service id syntax, immutable
//! fields) are CEL rules, so the API server rejects bad objects with a readable message before
//! the operator ever sees them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

mod security;
pub use security::{
    CaRotationStatus, IssuerRef, NetworkPolicySpec, TlsSpec, TlsStatus, CERT_MANAGER_GROUP, CLUSTER_ISSUER,
    DEFAULT_CERTIFICATE_DURATION, DEFAULT_RENEW_BEFORE, ISSUER,
};

/// API group of the resource.
pub const GROUP: &str = "omring.io";
/// API version of the resource.
pub const VERSION: &str = "v1alpha1";
/// Longest resource name: pods are `<name>-<ordinal>` and the StatefulSet controller adds a
/// revision hash label `<name>-<10 chars>` that must fit 63 characters.
pub const MAX_NAME_LEN: usize = 52;

/// The desired state of a ring of Ozone Manager nodes.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "omring.io",
    version = "v1alpha1",
    kind = "OzoneManagerRing",
    plural = "ozonemanagerrings",
    shortname = "omr",
    namespaced,
    status = "OzoneManagerRingStatus",
    derive = "PartialEq",
    doc = "A ring of Ozone Manager nodes replicated with Raft, run as a StatefulSet.",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(name = "Replicas", type_ = "integer", json_path = ".spec.replicas", description = "Desired nodes"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas", description = "Ready nodes"),
    printcolumn(name = "Leader", type_ = "string", json_path = ".status.leader", description = "Node id of the leader"),
    printcolumn(
        name = "Available",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Available\")].status",
        description = "A leader is elected and a quorum of voters is ready"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(
        name = "Cert-Expires",
        type_ = "string",
        json_path = ".status.tls.nodeCertificateNotAfter",
        description = "When the node certificate expires (renewed spec.tls.renewBefore earlier)",
        priority = "1"
    ),
    validation = Rule::new("size(self.metadata.name) <= 52")
        .message("metadata.name must be at most 52 characters (pod names and StatefulSet revision labels derive from it)")
)]
#[x_kube(
    validation = Rule::new("has(self.serviceId) == has(oldSelf.serviceId) && (!has(self.serviceId) || self.serviceId == oldSelf.serviceId)")
        .message("serviceId cannot change after creation: the ring's Raft group is derived from it")
)]
#[serde(rename_all = "camelCase")]
pub struct OzoneManagerRingSpec {
    /// Number of Ozone Manager nodes. Each is a Raft voter; 3 tolerates one node down, 5 two.
    #[serde(default = "default_replicas")]
    #[x_kube(validation = Rule::new("self >= 1").message("replicas must be at least 1"))]
    pub replicas: i32,

    /// Logical service id (`ozone.om.service.ids`). Defaults to the resource name; immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    #[x_kube(
        validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')")
            .message("serviceId must be a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters")
    )]
    pub service_id: Option<String>,

    /// The om-node container image.
    #[serde(default = "default_image")]
    pub image: String,

    /// Pull policy of the om-node image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<ImagePullPolicy>,

    /// Compute resources of the om-node container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// The data volume of each node. Immutable (StatefulSet volume claim templates are).
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("storage cannot change after creation"))]
    pub storage: StorageSpec,

    /// Extra `ozone-site.xml` properties. They override the operator's defaults and computed
    /// values, except the node list, node addresses, node id and database directory, which the
    /// operator owns (a status condition names any such key that was ignored).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,

    /// Node selector of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,

    /// Tolerations of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,

    /// Affinity of the pods. Default: prefer spreading the nodes over Kubernetes nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,

    /// PodDisruptionBudgets: the leader unevictable, followers one at a time.
    #[serde(default)]
    pub pod_disruption_budget: PodDisruptionBudgetSpec,

    /// What happens to data volumes of nodes removed by a scale-down or with the resource.
    #[serde(default)]
    pub pvc_retention_policy: PvcRetentionPolicy,

    /// What happens to a node whose data volume is pinned to a Kubernetes Node (a local
    /// volume) that is drained or down.
    #[serde(default)]
    pub node_maintenance: NodeMaintenanceSpec,

    /// TLS with certificates the operator manages (on by default).
    #[serde(default)]
    pub tls: TlsSpec,

    /// A NetworkPolicy limiting who reaches the ring's ports (on by default).
    #[serde(default)]
    pub network_policy: NetworkPolicySpec,
}

fn default_replicas() -> i32 {
    3
}

/// The om-node image matching this operator's version.
pub fn default_image() -> String {
    format!("omring/om-node:{}", env!("CARGO_PKG_VERSION"))
}

/// Container image pull policy.
#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    schemars::JsonSchema,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
pub enum ImagePullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl ImagePullPolicy {
    /// The name Kubernetes uses (and serde sends).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Size and class of each node's data volume.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// Requested size of each node's volume.
    #[serde(default = "default_storage_size")]
    pub size: Quantity,
    /// StorageClass of the volumes; default: the cluster's default class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

fn default_storage_size() -> Quantity {
    Quantity("1Gi".into())
}

impl Default for StorageSpec {
    fn default() -> Self {
        Self { size: default_storage_size(), storage_class_name: None }
    }
}

/// Whether PodDisruptionBudgets are created.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodDisruptionBudgetSpec {
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_true() -> bool {
    true
}

impl Default for PodDisruptionBudgetSpec {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// Delete or keep a volume.
#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    schemars::JsonSchema,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
pub enum RetentionAction {
    Retain,
    Delete,
}

impl RetentionAction {
    /// The name Kubernetes uses (and serde sends).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Volume retention. A retained volume of a removed node is never reused as is: it is deleted
/// before its ordinal is created again, so stale Raft state cannot rejoin the ring.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PvcRetentionPolicy {
    /// Volumes of nodes removed by a scale-down. Default: Delete.
    #[serde(default = "default_when_scaled")]
    pub when_scaled: RetentionAction,
    /// Volumes left when the resource is deleted. Default: Retain.
    #[serde(default = "default_when_deleted")]
    pub when_deleted: RetentionAction,
}

fn default_when_scaled() -> RetentionAction {
    RetentionAction::Delete
}

fn default_when_deleted() -> RetentionAction {
    RetentionAction::Retain
}

impl Default for PvcRetentionPolicy {
    fn default() -> Self {
        Self { when_scaled: default_when_scaled(), when_deleted: default_when_deleted() }
    }
}

/// Node maintenance: a node whose pod cannot run because the Kubernetes Node its volume is
/// pinned to (PersistentVolume nodeAffinity, as local volumes have) is cordoned, NotReady or
/// gone. CloudNativePG's `nodeMaintenanceWindow.reusePVC`, with the same name and default.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeMaintenanceSpec {
    /// Keep the node's volume and wait for its Kubernetes Node to come back; the other members
    /// keep the quorum meanwhile. With false, a non-leader member whose pod is not running
    /// because its volume's Node is cordoned, gone, or NotReady for replaceAfterSeconds is
    /// removed from the ring, its volume and pod are deleted, and the StatefulSet starts it
    /// afresh on another Node, where it joins as a new member (a full copy of the data is
    /// sent to it). One member at a time, and only while the others keep a healthy majority.
    /// Default: true.
    #[serde(default = "default_true", rename = "reusePVC")]
    pub reuse_pvc: bool,
    /// With reusePVC false: how long the volume's Node must have been NotReady before the
    /// member is replaced (a cordoned or deleted Node needs no wait). Default: 300, Kubernetes'
    /// default not-ready toleration.
    #[serde(default = "default_replace_after_seconds")]
    #[x_kube(validation = Rule::new("self >= 0").message("nodeMaintenance.replaceAfterSeconds must not be negative"))]
    pub replace_after_seconds: i32,
}

fn default_replace_after_seconds() -> i32 {
    300
}

impl Default for NodeMaintenanceSpec {
    fn default() -> Self {
        Self { reuse_pvc: true, replace_after_seconds: default_replace_after_seconds() }
    }
}

/// The observed state of a ring, refreshed from the nodes' live roles.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OzoneManagerRingStatus {
    /// Nodes running (pods of the StatefulSet); the scale subresource reads it.
    #[serde(default)]
    pub replicas: i32,
    /// Nodes that are members, know the leader and have caught up.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Label selector of the pods (scale subresource).
    #[serde(default)]
    pub selector: String,
    /// Node id of the current leader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    /// One entry per node: its role as the node itself reports it.
    #[serde(default)]
    pub nodes: Vec<RingNodeStatus>,
    /// Available, Progressing, Degraded and ConfigAccepted.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Node ids removed from the ring whose volume may still hold their old data; such a volume
    /// is deleted before the ordinal is used again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_members: Vec<String>,
    /// The ring's certificates (absent while TLS is off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsStatus>,
}

/// One node of the ring, as it reports itself.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RingNodeStatus {
    /// Node id (the pod name).
    pub node_id: String,
    /// Pod name.
    pub pod: String,
    /// LEADER, FOLLOWER, CANDIDATE, LEARNER, UNKNOWN (not a member yet) or UNREACHABLE.
    pub role: String,
    /// Stable DNS name of the node.
    pub hostname: String,
    /// Raft term the node is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<i64>,
    /// Last log index applied to the node's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_index: Option<i64>,
    /// How far the node's applied index is behind the leader's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<i64>,
    /// Member, knows the leader and caught up.
    #[serde(default)]
    pub ready: bool,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use kube::CustomResourceExt;

    pub(crate) fn schema() -> serde_json::Value {
        let crd = OzoneManagerRing::crd();
        serde_json::to_value(crd.spec.versions[0].schema.as_ref().unwrap().open_api_v3_schema.as_ref().unwrap())
            .unwrap()
    }

    pub(crate) fn ring(spec: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "omring.io/v1alpha1", "kind": "OzoneManagerRing",
            "metadata": {"name": "om", "namespace": "ns"},
            "spec": spec,
        })
    }

    pub(crate) fn validate(obj: &serde_json::Value, old: Option<&serde_json::Value>) -> Result<(), String> {
        kube::core::cel::Validator::new().validate(&schema(), obj, old).map_err(|e| e.to_string())
    }

    #[test]
    fn as_str_is_the_serde_form() {
        use strum::IntoEnumIterator;
        for p in ImagePullPolicy::iter() {
            assert_eq!(serde_json::to_value(p).unwrap(), serde_json::Value::from(p.as_str()));
        }
        for r in RetentionAction::iter() {
            assert_eq!(serde_json::to_value(r).unwrap(), serde_json::Value::from(r.as_str()));
        }
    }

    #[test]
    fn crd_names_and_subresources() {
        let crd = OzoneManagerRing::crd();
        assert_eq!(crd.spec.group, "omring.io");
        assert_eq!(crd.spec.names.plural, "ozonemanagerrings");
        assert_eq!(crd.spec.names.short_names.as_deref(), Some(&["omr".to_string()][..]));
        assert_eq!(crd.spec.scope, "Namespaced");
        let v = &crd.spec.versions[0];
        assert_eq!(v.name, "v1alpha1");
        let sub = v.subresources.as_ref().unwrap();
        assert!(sub.status.is_some());
        let scale = sub.scale.as_ref().unwrap();
        assert_eq!(scale.spec_replicas_path, ".spec.replicas");
        assert_eq!(scale.status_replicas_path, ".status.replicas");
        assert_eq!(scale.label_selector_path.as_deref(), Some(".status.selector"));
        let cols: Vec<&str> = v.additional_printer_columns.as_ref().unwrap().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(cols, ["Replicas", "Ready", "Leader", "Available", "Age", "Cert-Expires"]);
        let expiry = v.additional_printer_columns.as_ref().unwrap().last().unwrap();
        assert_eq!((expiry.priority, expiry.json_path.as_str()), (Some(1), ".status.tls.nodeCertificateNotAfter"));
    }

    #[test]
    fn defaults_fill_a_minimal_spec() {
        let r: OzoneManagerRing = serde_json::from_value(ring(serde_json::json!({}))).unwrap();
        assert_eq!(r.spec.replicas, 3);
        assert_eq!(r.spec.image, default_image());
        assert_eq!(r.spec.storage.size.0, "1Gi");
        assert!(r.spec.pod_disruption_budget.enabled);
        assert_eq!(r.spec.pvc_retention_policy.when_scaled, RetentionAction::Delete);
        assert_eq!(r.spec.pvc_retention_policy.when_deleted, RetentionAction::Retain);
        assert_eq!(r.spec.node_maintenance, NodeMaintenanceSpec { reuse_pvc: true, replace_after_seconds: 300 });
    }

    #[test]
    fn node_maintenance_is_spelled_like_cloudnativepg_and_defaults_in_the_schema() {
        let s = schema();
        let nm = &s["properties"]["spec"]["properties"]["nodeMaintenance"];
        assert_eq!(nm["default"], serde_json::json!({"reusePVC": true, "replaceAfterSeconds": 300}));
        assert_eq!(nm["properties"]["reusePVC"]["type"], "boolean");
        assert_eq!(nm["properties"]["reusePVC"]["default"], true);
        assert_eq!(nm["properties"]["replaceAfterSeconds"]["default"], 300);
        let doc = nm["properties"]["reusePVC"]["description"].as_str().unwrap_or_default();
        assert!(doc.contains("Default: true") && doc.contains("removed from the ring"), "{doc}");
        // A partial object keeps the other field's default.
        let r: OzoneManagerRing =
            serde_json::from_value(ring(serde_json::json!({"nodeMaintenance": {"reusePVC": false}}))).unwrap();
        assert_eq!(r.spec.node_maintenance, NodeMaintenanceSpec { reuse_pvc: false, replace_after_seconds: 300 });
        // And serializes back under the same names.
        let back = serde_json::to_value(&r.spec.node_maintenance).unwrap();
        assert_eq!(back, serde_json::json!({"reusePVC": false, "replaceAfterSeconds": 300}));
    }

    #[test]
    fn cel_rejects_a_negative_replace_delay() {
        let bad = ring(serde_json::json!({"nodeMaintenance": {"reusePVC": false, "replaceAfterSeconds": -1}}));
        let err = validate(&bad, None).unwrap_err();
        assert!(err.contains("replaceAfterSeconds must not be negative"), "{err}");
        validate(&ring(serde_json::json!({"nodeMaintenance": {"replaceAfterSeconds": 0}})), None).unwrap();
    }

    #[test]
    fn cel_accepts_a_valid_ring() {
        validate(&ring(serde_json::json!({"replicas": 3, "serviceId": "om-1"})), None).unwrap();
        validate(&ring(serde_json::json!({"replicas": 1})), None).unwrap();
    }

    #[test]
    fn cel_rejects_zero_replicas() {
        let err = validate(&ring(serde_json::json!({"replicas": 0})), None).unwrap_err();
        assert!(err.contains("replicas must be at least 1"), "{err}");
    }

    #[test]
    fn cel_rejects_bad_service_ids() {
        for bad in ["Bad_Id", "-x", "x-", "a.b", ""] {
            let err = validate(&ring(serde_json::json!({"serviceId": bad})), None).unwrap_err();
            assert!(err.contains("serviceId must be a DNS label"), "{bad}: {err}");
        }
    }

    #[test]
    fn cel_rejects_long_names() {
        let mut obj = ring(serde_json::json!({}));
        obj["metadata"]["name"] = serde_json::json!("x".repeat(53));
        let err = validate(&obj, None).unwrap_err();
        assert!(err.contains("at most 52 characters"), "{err}");
        obj["metadata"]["name"] = serde_json::json!("x".repeat(52));
        validate(&obj, None).unwrap();
    }

    #[test]
    fn cel_keeps_service_id_and_storage_immutable() {
        let old = ring(serde_json::json!({"serviceId": "a", "storage": {"size": "1Gi"}}));
        let changed_sid = ring(serde_json::json!({"serviceId": "b", "storage": {"size": "1Gi"}}));
        let err = validate(&changed_sid, Some(&old)).unwrap_err();
        assert!(err.contains("serviceId cannot change"), "{err}");
        let dropped_sid = ring(serde_json::json!({"storage": {"size": "1Gi"}}));
        assert!(validate(&dropped_sid, Some(&old)).is_err());
        let changed_storage = ring(serde_json::json!({"serviceId": "a", "storage": {"size": "2Gi"}}));
        let err = validate(&changed_storage, Some(&old)).unwrap_err();
        assert!(err.contains("storage cannot change"), "{err}");
        let scaled = ring(serde_json::json!({"serviceId": "a", "replicas": 5, "storage": {"size": "1Gi"}}));
        validate(&scaled, Some(&old)).unwrap();
    }
}
