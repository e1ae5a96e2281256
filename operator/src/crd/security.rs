//! The security parts of the resource: `spec.tls`, `spec.networkPolicy` and `status.tls`.
//!
//! Both are on by default (docs/security.md is the contract: the operator turns all of it on).
//! Durations are Go-style strings as everywhere in Kubernetes (`2160h`), checked by CEL with
//! the same grammar the operator parses ([`crate::duration`]), so a bad value never reaches
//! the operator from an API server that enforces the rules.

use k8s_openapi::api::networking::v1::NetworkPolicyPeer;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::default_true;

/// TLS for a ring: certificates the operator makes and renews itself, one CA per ring, or
/// certificates cert-manager issues from `issuerRef`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!self.certificateDuration.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') || !self.renewBefore.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self.renewBefore) < duration(self.certificateDuration)")
        .message("tls.renewBefore must be shorter than tls.certificateDuration"),
    validation = Rule::new("!has(self.issuerRef) || !self.certificateDuration.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') || !self.renewBefore.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') || (duration(self.certificateDuration) >= duration('1h') && duration(self.renewBefore) >= duration('5m'))")
        .message("with tls.issuerRef, cert-manager needs tls.certificateDuration of at least 1h and tls.renewBefore of at least 5m")
)]
pub struct TlsSpec {
    /// TLS on the client and peer ports, authenticated clients and ACLs (ozone.security.enabled
    /// and the keys of docs/security.md), with certificates in the Secrets NAME-ca, NAME-tls and
    /// NAME-admin-tls. Turning it off (or setting ozone.security.enabled=false in spec.config)
    /// runs the ring in plaintext. Switching it on or off restarts every pod at once: plaintext
    /// and TLS nodes cannot talk to each other. Default: true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Lifetime of the node and operator certificates, a Go duration ("2160h" = 90 days; at
    /// least 2m, at most 87600h). The ring's CA lasts ten times as long. A change applies from
    /// the next renewal.
    #[serde(default = "default_certificate_duration")]
    #[schemars(length(max = 32))]
    #[x_kube(
        validation = Rule::new("self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('2m') && duration(self) <= duration('87600h')")
            .message("tls.certificateDuration must be a duration such as 2160h or 90m, between 2m and 87600h")
    )]
    pub certificate_duration: String,
    /// How long before a certificate expires it is renewed, a Go duration ("168h" = 7 days;
    /// at least 1m, less than certificateDuration). Renewal rewrites the Secret in place: the
    /// nodes load the new files without a restart.
    #[serde(default = "default_renew_before")]
    #[schemars(length(max = 32))]
    #[x_kube(
        validation = Rule::new("self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) >= duration('1m')")
            .message("tls.renewBefore must be a duration such as 168h or 30m, at least 1m")
    )]
    pub renew_before: String,
    /// The cert-manager issuer of the ring's certificates. When set, the operator makes no CA
    /// and issues nothing itself: it keeps two cert-manager Certificates (NAME-tls and
    /// NAME-admin-tls, same subjects, names, usages and lifetimes) that write the Secrets
    /// NAME-tls and NAME-admin-tls, and the Secret NAME-ca is removed. The issuer must fill
    /// ca.crt (CA, self-signed and Vault issuers do): it is the ring's trust bundle.
    /// cert-manager needs certificateDuration of at least 1h and renewBefore of at least 5m.
    /// Absent: the operator's own CA (docs/security.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_ref: Option<IssuerRef>,
}

/// A cert-manager issuer: an Issuer in the ring's namespace or a ClusterIssuer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.group != 'cert-manager.io' || self.kind == 'Issuer' || self.kind == 'ClusterIssuer'")
        .message("tls.issuerRef.kind must be Issuer or ClusterIssuer for the group cert-manager.io")
)]
pub struct IssuerRef {
    /// Name of the Issuer (in the ring's namespace) or ClusterIssuer.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(
        validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')")
            .message("tls.issuerRef.name must be a lower-case DNS name such as ca-issuer")
    )]
    pub name: String,
    /// Issuer (default; in the ring's namespace) or ClusterIssuer; an external issuer's kind
    /// with its own group.
    #[serde(default = "default_issuer_kind")]
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(
        validation = Rule::new("self.matches('^[A-Z][A-Za-z0-9]*$')")
            .message("tls.issuerRef.kind must be a kind such as Issuer or ClusterIssuer")
    )]
    pub kind: String,
    /// API group of the issuer. Default: cert-manager.io.
    #[serde(default = "default_issuer_group")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(
        validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')")
            .message("tls.issuerRef.group must be an API group such as cert-manager.io")
    )]
    pub group: String,
}

/// cert-manager's API group: the default of `issuerRef.group`.
pub const CERT_MANAGER_GROUP: &str = "cert-manager.io";
pub const ISSUER: &str = "Issuer";
pub const CLUSTER_ISSUER: &str = "ClusterIssuer";

fn default_issuer_kind() -> String {
    ISSUER.into()
}

fn default_issuer_group() -> String {
    CERT_MANAGER_GROUP.into()
}

/// The default certificate lifetime: 90 days.
pub const DEFAULT_CERTIFICATE_DURATION: &str = "2160h";
/// The default renewal margin: 7 days.
pub const DEFAULT_RENEW_BEFORE: &str = "168h";

fn default_certificate_duration() -> String {
    DEFAULT_CERTIFICATE_DURATION.into()
}

fn default_renew_before() -> String {
    DEFAULT_RENEW_BEFORE.into()
}

impl Default for TlsSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            certificate_duration: default_certificate_duration(),
            renew_before: default_renew_before(),
            issuer_ref: None,
        }
    }
}

/// A NetworkPolicy for the ring's pods (ingress only).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// A NetworkPolicy NAME selecting the ring's pods: the peer (Raft) port 9872 only from the
    /// ring's own pods; the client port 9862 from the ring's pods, the operator and clientFrom;
    /// the HTTP port 9874 (health, metrics) from anywhere; every port from the operator's pods.
    /// Egress is not restricted. Default: true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Who else may reach the client port 9862. Absent: any source. An empty list: only the
    /// ring's own pods and the operator. Otherwise these peers (podSelector,
    /// namespaceSelector, ipBlock), as in a NetworkPolicy rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_from: Option<Vec<NetworkPolicyPeer>>,
}

impl Default for NetworkPolicySpec {
    fn default() -> Self {
        Self { enabled: true, client_from: None }
    }
}

/// The ring's certificates as the operator last checked them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TlsStatus {
    /// When the node certificate (Secret NAME-tls) expires, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_certificate_not_after: Option<String>,
    /// When the operator's client certificate (Secret NAME-admin-tls) expires, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_certificate_not_after: Option<String>,
    /// When the ring's CA (Secret NAME-ca) expires, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_not_after: Option<String>,
    /// When the operator next renews a certificate or moves a CA rotation on, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_time: Option<String>,
    /// A CA rotation under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_rotation: Option<CaRotationStatus>,
    /// With spec.tls.issuerRef: the cert-manager issuer of the certificates ("ClusterIssuer
    /// NAME (GROUP)"); absent while the operator's own CA issues them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// With spec.tls.issuerRef: the last omring.io/rotate-ca value that was not acted on
    /// (rotating the CA is the issuer's business then); a Warning event said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored_rotate_ca: Option<String>,
}

/// A CA rotation under way: step 1 trusts the new CA beside the old one, step 2 has the
/// certificates signed by the new CA, then the old CA leaves the trust bundle.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaRotationStatus {
    /// 1 (TrustNewCA) or 2 (SignWithNewCA).
    pub step: i32,
    /// TrustNewCA or SignWithNewCA.
    pub phase: String,
    /// When the step started, RFC 3339.
    pub since: String,
    /// What the step is waiting for.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use crate::crd::tests::{ring, schema, validate};
    use crate::crd::OzoneManagerRing;

    #[test]
    fn defaults_turn_security_on() {
        let r: OzoneManagerRing = serde_json::from_value(ring(serde_json::json!({}))).unwrap();
        assert!(r.spec.tls.enabled);
        assert_eq!(r.spec.tls.certificate_duration, "2160h");
        assert_eq!(r.spec.tls.renew_before, "168h");
        assert!(r.spec.network_policy.enabled);
        assert_eq!(r.spec.network_policy.client_from, None);
        let s = schema();
        let spec = &s["properties"]["spec"]["properties"];
        assert_eq!(
            spec["tls"]["default"],
            serde_json::json!({"enabled": true, "certificateDuration": "2160h", "renewBefore": "168h"})
        );
        assert_eq!(spec["networkPolicy"]["default"], serde_json::json!({"enabled": true}));
        assert_eq!(spec["tls"]["properties"]["certificateDuration"]["maxLength"], 32);
        // Partial objects keep the other defaults.
        let r: OzoneManagerRing =
            serde_json::from_value(ring(serde_json::json!({"tls": {"renewBefore": "24h"}}))).unwrap();
        assert!(r.spec.tls.enabled);
        assert_eq!(r.spec.tls.certificate_duration, "2160h");
    }

    #[test]
    fn cel_checks_durations_like_the_operator_parses_them() {
        let with = |d: &str, r: &str| ring(serde_json::json!({"tls": {"certificateDuration": d, "renewBefore": r}}));
        validate(&with("2160h", "168h"), None).unwrap();
        validate(&with("90m", "1h"), None).unwrap();
        validate(&with("1h30m", "1.5m"), None).unwrap();
        validate(&with("2m", "1m"), None).unwrap();
        for bad in ["90d", "1 h", "-1h", "h", "1.h", "10"] {
            let err = validate(&with(bad, "1m"), None).unwrap_err();
            assert!(err.contains("tls.certificateDuration must be a duration"), "{bad}: {err}");
            assert!(crate::duration::parse(bad).is_err(), "{bad}");
        }
        let err = validate(&with("1m", "30s"), None).unwrap_err();
        assert!(err.contains("between 2m and 87600h"), "{err}");
        let err = validate(&with("87601h", "1h"), None).unwrap_err();
        assert!(err.contains("between 2m and 87600h"), "{err}");
        let err = validate(&with("1h", "30s"), None).unwrap_err();
        assert!(err.contains("tls.renewBefore must be a duration"), "{err}");
        let err = validate(&with("1h", "1h"), None).unwrap_err();
        assert!(err.contains("renewBefore must be shorter than tls.certificateDuration"), "{err}");
        let err = validate(&with("1h", "90m"), None).unwrap_err();
        assert!(err.contains("renewBefore must be shorter"), "{err}");
    }

    #[test]
    fn issuer_refs_are_checked_with_clear_messages() {
        let with = |tls: serde_json::Value| ring(serde_json::json!({ "tls": tls }));
        let obj = with(serde_json::json!({"issuerRef": {"name": "ring-ca"}}));
        validate(&obj, None).unwrap();
        let r: OzoneManagerRing = serde_json::from_value(obj).unwrap();
        let i = r.spec.tls.issuer_ref.unwrap();
        assert_eq!((i.name.as_str(), i.kind.as_str(), i.group.as_str()), ("ring-ca", "Issuer", "cert-manager.io"));
        validate(&with(serde_json::json!({"issuerRef": {"name": "ca", "kind": "ClusterIssuer"}})), None).unwrap();
        // An external issuer brings its own kinds.
        let external = serde_json::json!({"issuerRef": {"name": "ca", "kind": "StepClusterIssuer", "group": "certmanager.step.sm"}});
        validate(&with(external), None).unwrap();
        let cases = [
            (
                serde_json::json!({"issuerRef": {"name": "ca", "kind": "Secret"}}),
                "kind must be Issuer or ClusterIssuer",
            ),
            (
                serde_json::json!({"issuerRef": {"name": "Bad_Name"}}),
                "tls.issuerRef.name must be a lower-case DNS name",
            ),
            (
                serde_json::json!({"issuerRef": {"name": "ca", "group": "Not A Group"}}),
                "tls.issuerRef.group must be an API group",
            ),
            (serde_json::json!({"issuerRef": {"name": "ca", "kind": "issuer"}}), "tls.issuerRef.kind must be a kind"),
            (
                serde_json::json!({"issuerRef": {"name": "ca"}, "certificateDuration": "30m", "renewBefore": "10m"}),
                "cert-manager needs tls.certificateDuration of at least 1h and tls.renewBefore of at least 5m",
            ),
            (
                serde_json::json!({"issuerRef": {"name": "ca"}, "certificateDuration": "2h", "renewBefore": "4m"}),
                "cert-manager needs",
            ),
        ];
        for (tls, want) in cases {
            let err = validate(&with(tls.clone()), None).unwrap_err();
            assert!(err.contains(want), "{tls}: {err}");
        }
        // The name is required by the schema (the API server's structural check, not CEL).
        let s = schema();
        let issuer_ref = &s["properties"]["spec"]["properties"]["tls"]["properties"]["issuerRef"];
        assert_eq!(issuer_ref["required"], serde_json::json!(["name"]));
        assert_eq!(issuer_ref["properties"]["kind"]["default"], "Issuer");
        assert_eq!(issuer_ref["properties"]["group"]["default"], "cert-manager.io");
        // The same short durations are fine for the operator's own CA.
        validate(&with(serde_json::json!({"certificateDuration": "30m", "renewBefore": "4m"})), None).unwrap();
        validate(
            &with(serde_json::json!({"issuerRef": {"name": "ca"}, "certificateDuration": "1h", "renewBefore": "5m"})),
            None,
        )
        .unwrap();
    }

    #[test]
    fn client_sources_are_network_policy_peers() {
        let obj = ring(serde_json::json!({"networkPolicy": {"clientFrom": [
            {"namespaceSelector": {"matchLabels": {"team": "a"}}},
            {"ipBlock": {"cidr": "10.0.0.0/8"}}
        ]}}));
        validate(&obj, None).unwrap();
        let r: OzoneManagerRing = serde_json::from_value(obj).unwrap();
        let from = r.spec.network_policy.client_from.unwrap();
        assert_eq!(from.len(), 2);
        assert_eq!(from[1].ip_block.as_ref().unwrap().cidr, "10.0.0.0/8");
        assert!(r.spec.network_policy.enabled);
    }
}
