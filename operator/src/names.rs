//! Names, labels and annotations shared by the builders, the planner and the webhook.
//!
//! Everything another component relies on (pod names, DNS names, label keys) is spelled here
//! once, so the contract with the node, the chart and the end-to-end suite cannot drift.

use std::collections::BTreeMap;

/// `app.kubernetes.io/name` of every object the operator creates for a ring.
pub const APP_NAME: &str = "omring";
pub const LABEL_NAME: &str = "app.kubernetes.io/name";
pub const LABEL_INSTANCE: &str = "app.kubernetes.io/instance";
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The pod's Raft role as last seen by the operator: `leader` or `follower` (absent when the
/// node is not a member or did not answer). The PodDisruptionBudgets select on it.
pub const LABEL_ROLE: &str = "omring.io/role";
pub const ROLE_LEADER: &str = "leader";
pub const ROLE_FOLLOWER: &str = "follower";
/// Hash of the rendered configuration (membership keys excluded), on the pod template.
pub const ANNOTATION_CONFIG_HASH: &str = "omring.io/config-hash";
/// Hash of the whole pod template; a pod whose value differs from the desired one restarts.
pub const ANNOTATION_POD_SPEC_HASH: &str = "omring.io/pod-spec-hash";
/// On a ring pod: when the eviction webhook last denied an eviction of it (RFC 3339). The
/// controller reads it to move leadership away; it is the only record of the attempt.
pub const ANNOTATION_EVICTION_REQUESTED_AT: &str = "omring.io/eviction-requested-at";
/// On a data volume (PVC): the member whose data it holds was removed from the ring to be
/// replaced on another Kubernetes Node (RFC 3339 time of the removal). Such a volume is only
/// ever deleted; the new volume the StatefulSet makes for the ordinal has no mark.
pub const ANNOTATION_REMOVED_MEMBER: &str = "omring.io/removed-member";
/// On the ring's CA Secret: the step of a CA rotation under way (`TrustNewCA`, then
/// `SignWithNewCA`); absent when none is. With [`ANNOTATION_CA_ROTATION_SINCE`] it is the whole
/// state of a rotation, so a restarted operator resumes it.
pub const ANNOTATION_CA_ROTATION: &str = "omring.io/ca-rotation";
/// On the ring's CA Secret: when the current rotation step started (RFC 3339).
pub const ANNOTATION_CA_ROTATION_SINCE: &str = "omring.io/ca-rotation-since";
/// On an OzoneManagerRing, set by a user: any value asks for one CA rotation now (after a key
/// leak, say); a new value asks for another. `kubectl annotate omring NAME
/// omring.io/rotate-ca="$(date +%s)" --overwrite`.
pub const ANNOTATION_ROTATE_CA: &str = "omring.io/rotate-ca";
/// On the ring's CA Secret: the last [`ANNOTATION_ROTATE_CA`] value a rotation was started for.
pub const ANNOTATION_CA_ROTATION_REQUEST: &str = "omring.io/ca-rotation-request";
/// On the pod template and so on every pod of a ring with TLS: `true` (absent: plaintext). A
/// pod whose transport differs from the template's cannot talk to the others at all, so such
/// a change restarts every pod at once instead of one at a time.
pub const ANNOTATION_TLS: &str = "omring.io/tls";
/// On a ring's cluster-scoped objects (which have no namespace): the ring's namespace.
pub const LABEL_RING_NAMESPACE: &str = "omring.io/ring-namespace";
/// The ring's finalizer: the operator deletes the ring's cluster-scoped objects (which owner
/// references cannot tie to a namespaced ring) before the ring goes.
pub const FINALIZER: &str = "omring.io/cluster-objects";
/// Node label that local PersistentVolumes pin themselves to.
pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
/// Field manager of server-side apply.
pub const FIELD_MANAGER: &str = "omring-operator";
/// Name of the data volume claim template (PVCs are `data-<pod>`).
pub const DATA_VOLUME: &str = "data";
/// Where the data volume is mounted and where the node keeps its databases.
pub const DATA_MOUNT: &str = "/data";
pub const DB_DIR: &str = "/data/om";
/// Where the ConfigMap is mounted.
pub const CONFIG_MOUNT: &str = "/etc/ozone";
pub const CONFIG_FILE: &str = "ozone-site.xml";
/// The node's container name.
pub const CONTAINER: &str = "om";
/// Where the node's TLS Secret is mounted (docs/security.md).
pub const TLS_MOUNT: &str = "/etc/omring/tls";
/// Keys of the TLS Secrets (the `kubernetes.io/tls` layout plus the trust bundle).
pub const TLS_CRT: &str = "tls.crt";
pub const TLS_KEY: &str = "tls.key";
pub const CA_CRT: &str = "ca.crt";
/// Keys of the CA Secret: the CA, and during a rotation the CA it replaces.
pub const CA_KEY: &str = "ca.key";
pub const PREVIOUS_CRT: &str = "previous.crt";

/// Names of one ring's objects, derived from the resource name and namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingNames {
    pub name: String,
    pub namespace: String,
    pub cluster_domain: String,
}

impl RingNames {
    pub fn new(name: &str, namespace: &str, cluster_domain: &str) -> Self {
        Self { name: name.into(), namespace: namespace.into(), cluster_domain: cluster_domain.into() }
    }

    /// StatefulSet, client Service and ServiceAccount share the resource name.
    pub fn statefulset(&self) -> String {
        self.name.clone()
    }
    pub fn client_service(&self) -> String {
        self.name.clone()
    }
    pub fn service_account(&self) -> String {
        self.name.clone()
    }
    /// The headless Service that gives every pod a stable DNS name.
    pub fn headless_service(&self) -> String {
        format!("{}-headless", self.name)
    }
    pub fn configmap(&self) -> String {
        format!("{}-config", self.name)
    }
    pub fn leader_pdb(&self) -> String {
        format!("{}-leader", self.name)
    }
    pub fn followers_pdb(&self) -> String {
        format!("{}-followers", self.name)
    }
    /// The NetworkPolicy of the ring's pods.
    pub fn network_policy(&self) -> String {
        self.name.clone()
    }
    /// The ClusterRoleBinding for TokenReview (cluster-scoped, so the namespace is in the name).
    pub fn token_review_binding(&self) -> String {
        format!("omring:{}:{}:token-review", self.namespace, self.name)
    }
    /// Labels of the ring's cluster-scoped objects: its own, plus its namespace.
    pub fn cluster_object_labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.labels();
        labels.insert(LABEL_RING_NAMESPACE.into(), self.namespace.clone());
        labels
    }
    /// The ring's own CA (`ca.crt`, `ca.key`).
    pub fn ca_secret(&self) -> String {
        format!("{}-ca", self.name)
    }
    /// The node certificate every pod mounts (`tls.crt`, `tls.key`, `ca.crt`).
    pub fn tls_secret(&self) -> String {
        format!("{}-tls", self.name)
    }
    /// The operator's client certificate for this ring.
    pub fn admin_tls_secret(&self) -> String {
        format!("{}-admin-tls", self.name)
    }
    /// DNS names the node certificate carries: every name the pods are reached by
    /// (docs/security.md).
    pub fn certificate_dns_names(&self) -> Vec<String> {
        let (name, ns, domain, headless) = (&self.name, &self.namespace, &self.cluster_domain, self.headless_service());
        vec![
            format!("*.{headless}.{ns}.svc.{domain}"),
            format!("*.{headless}.{ns}.svc"),
            format!("{headless}.{ns}.svc.{domain}"),
            format!("{name}.{ns}.svc.{domain}"),
            format!("{name}.{ns}.svc"),
            format!("{name}.{ns}"),
            name.clone(),
        ]
    }

    /// Pod name of an ordinal; also the node id.
    pub fn pod(&self, ordinal: u32) -> String {
        format!("{}-{ordinal}", self.name)
    }
    /// The PVC the StatefulSet creates for an ordinal.
    pub fn pvc(&self, ordinal: u32) -> String {
        format!("{DATA_VOLUME}-{}-{ordinal}", self.name)
    }
    /// The ordinal of a pod name or node id of this ring, if it is one.
    pub fn ordinal_of(&self, pod_or_node_id: &str) -> Option<u32> {
        let rest = pod_or_node_id.strip_prefix(&self.name)?.strip_prefix('-')?;
        if rest.is_empty() || (rest.len() > 1 && rest.starts_with('0')) || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        rest.parse().ok()
    }
    /// The ordinal of a PVC name of this ring's data volumes.
    pub fn ordinal_of_pvc(&self, pvc: &str) -> Option<u32> {
        self.ordinal_of(pvc.strip_prefix(DATA_VOLUME)?.strip_prefix('-')?)
    }
    /// Stable DNS name of a pod through the headless Service.
    pub fn host(&self, ordinal: u32) -> String {
        format!("{}.{}.{}.svc.{}", self.pod(ordinal), self.headless_service(), self.namespace, self.cluster_domain)
    }

    /// Labels on every object of the ring.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut l = self.selector_labels();
        l.insert(LABEL_MANAGED_BY.into(), FIELD_MANAGER.into());
        l.insert(LABEL_COMPONENT.into(), "ozone-manager".into());
        l
    }
    /// Labels selecting the ring's pods.
    pub fn selector_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(LABEL_NAME.into(), APP_NAME.into()), (LABEL_INSTANCE.into(), self.name.clone())])
    }
    /// `status.selector`: the selector labels as a label selector string.
    pub fn selector_string(&self) -> String {
        self.selector_labels().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
    }
}

/// A stable hex digest (SHA-256, first 16 hex digits) of some bytes.
pub fn short_hash(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    hex::encode(&digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_names_dns_names_and_ordinals() {
        let n = RingNames::new("om", "ns", "cluster.local");
        assert_eq!(n.pod(2), "om-2");
        assert_eq!(n.host(2), "om-2.om-headless.ns.svc.cluster.local");
        assert_eq!(n.pvc(2), "data-om-2");
        assert_eq!(n.ordinal_of("om-12"), Some(12));
        assert_eq!(n.ordinal_of_pvc("data-om-3"), Some(3));
        for bad in ["om", "om-", "om-x", "om-01", "omx-1", "other-1", "om-1-2"] {
            assert_eq!(n.ordinal_of(bad), None, "{bad}");
        }
        // A ring named like another ring's prefix does not claim its pods.
        let n2 = RingNames::new("om-1", "ns", "cluster.local");
        assert_eq!(n2.ordinal_of("om-1-0"), Some(0));
        assert_eq!(n.ordinal_of("om-1-0"), None);
        assert_eq!(n.selector_string(), "app.kubernetes.io/instance=om,app.kubernetes.io/name=omring");
    }

    #[test]
    fn certificate_names_cover_every_address_of_the_pods() {
        let n = RingNames::new("om", "ns", "example.org");
        assert_eq!(
            n.certificate_dns_names(),
            [
                "*.om-headless.ns.svc.example.org",
                "*.om-headless.ns.svc",
                "om-headless.ns.svc.example.org",
                "om.ns.svc.example.org",
                "om.ns.svc",
                "om.ns",
                "om",
            ]
        );
        // The wildcard covers each pod's stable name.
        let host = n.host(4);
        let wildcard = &n.certificate_dns_names()[0];
        assert_eq!(host.split_once('.').unwrap().1, &wildcard[2..]);
        assert_eq!([n.ca_secret(), n.tls_secret(), n.admin_tls_secret()], ["om-ca", "om-tls", "om-admin-tls"]);
    }
}
