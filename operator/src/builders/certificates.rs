//! The ring's cert-manager `Certificate`s (`spec.tls.issuerRef`): `<name>-tls` writes the
//! node certificate's Secret and `<name>-admin-tls` the operator's client certificate's, with
//! the subjects, DNS names and usages of the certificates the operator would issue itself
//! ([`crate::pki::node_leaf`], [`crate::pki::admin_leaf`]), the ring's lifetimes, and an
//! ECDSA P-256 key that is new at every issuance.
//!
//! Owned by the ring, so they go with it; the Secrets carry the ring's labels
//! (`secretTemplate`), so the operator hears when cert-manager writes them.

use crate::certmanager::{CertIssuerRef, Certificate, CertificateSpec, PrivateKey, SecretTemplate, Subject};
use crate::certs::LeafSpec;
use crate::duration;
use crate::model::{IssuerModel, RingModel, TlsModel};
use crate::pki::{admin_leaf, node_leaf};

use super::child_meta;

/// cert-manager's names for the key usages the operator's own certificates carry.
fn usages(leaf: &LeafSpec) -> Vec<String> {
    let mut u = vec!["digital signature".to_string()];
    if leaf.server_auth {
        u.push("server auth".into());
    }
    if leaf.client_auth {
        u.push("client auth".into());
    }
    u
}

fn build(model: &RingModel, tls: &TlsModel, issuer: &IssuerModel, secret: String, leaf: LeafSpec) -> Certificate {
    let spec = CertificateSpec {
        secret_name: secret.clone(),
        secret_template: Some(SecretTemplate { labels: model.names.labels() }),
        common_name: Some(leaf.common_name.clone()),
        subject: (!leaf.organizations.is_empty()).then(|| Subject { organizations: leaf.organizations.clone() }),
        dns_names: leaf.dns_names.clone(),
        duration: Some(duration::format(tls.certificate_duration)),
        renew_before: Some(duration::format(tls.renew_before)),
        usages: usages(&leaf),
        private_key: Some(PrivateKey {
            algorithm: "ECDSA".into(),
            size: 256,
            encoding: "PKCS8".into(),
            rotation_policy: "Always".into(),
        }),
        issuer_ref: CertIssuerRef { name: issuer.name.clone(), kind: issuer.kind.clone(), group: issuer.group.clone() },
    };
    let mut cert = Certificate::new(&secret, spec);
    cert.metadata = child_meta(model, secret);
    cert
}

/// `<name>-tls`: the node certificate every pod mounts.
pub fn node(model: &RingModel, tls: &TlsModel, issuer: &IssuerModel) -> Certificate {
    build(model, tls, issuer, model.names.tls_secret(), node_leaf(&model.names))
}

/// `<name>-admin-tls`: the operator's client certificate for this ring.
pub fn admin(model: &RingModel, tls: &TlsModel, issuer: &IssuerModel) -> Certificate {
    build(model, tls, issuer, model.names.admin_tls_secret(), admin_leaf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::golden;

    fn issuer() -> IssuerModel {
        IssuerModel { name: "ring-ca".into(), kind: "ClusterIssuer".into(), group: "cert-manager.io".into() }
    }

    #[test]
    fn golden_node_and_admin_certificates() {
        let m = golden::model();
        let tls = m.tls.clone().unwrap();
        golden::check("certificate-node", &node(&m, &tls, &issuer()));
        golden::check("certificate-admin", &admin(&m, &tls, &issuer()));
    }

    #[test]
    fn they_ask_for_what_the_operator_would_issue() {
        let m = golden::model();
        let tls = m.tls.clone().unwrap();
        let n = node(&m, &tls, &issuer());
        let want = node_leaf(&m.names);
        assert_eq!(n.spec.common_name.as_deref(), Some("om-node"));
        assert_eq!(n.spec.subject.as_ref().unwrap().organizations, ["omring:nodes"]);
        assert_eq!(n.spec.dns_names, want.dns_names);
        assert_eq!(n.spec.usages, ["digital signature", "server auth", "client auth"]);
        assert_eq!(n.spec.secret_name, "om-tls");
        assert_eq!((n.spec.duration.as_deref(), n.spec.renew_before.as_deref()), (Some("2160h0m0s"), Some("168h0m0s")));
        assert_eq!(n.metadata.owner_references.as_ref().unwrap()[0].kind, "OzoneManagerRing");
        assert_eq!(n.spec.secret_template.as_ref().unwrap().labels["app.kubernetes.io/instance"], "om");
        let a = admin(&m, &tls, &issuer());
        assert_eq!(a.spec.common_name.as_deref(), Some("omring-operator"));
        assert_eq!(a.spec.subject, None);
        assert!(a.spec.dns_names.is_empty());
        assert_eq!(a.spec.usages, ["digital signature", "client auth"]);
        assert_eq!(a.spec.secret_name, "om-admin-tls");
        let key = a.spec.private_key.as_ref().unwrap();
        assert_eq!((key.algorithm.as_str(), key.size, key.rotation_policy.as_str()), ("ECDSA", 256, "Always"));
    }
}
