//! The ring's TLS Secrets, from the content [`crate::pki`] decided: `<name>-ca` (Opaque:
//! `ca.crt`, `ca.key`, `previous.crt` during a CA rotation, the rotation's annotations),
//! `<name>-tls` and `<name>-admin-tls` (`kubernetes.io/tls` with the trust bundle in `ca.crt`).
//!
//! Owned by the ring, so they go with it. An update carries the resourceVersion that was read:
//! the API server refuses it if the Secret changed meanwhile, and the next reconcile decides
//! again from what is there (keys are never overwritten from a stale view).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;

use super::child_meta;
use crate::model::RingModel;
use crate::pki::SecretContent;

/// Type of the leaf Secrets: what ingress controllers and cert-manager use too.
pub const TLS_TYPE: &str = "kubernetes.io/tls";
pub const OPAQUE_TYPE: &str = "Opaque";

fn build(model: &RingModel, name: String, type_: &str, content: &SecretContent) -> Secret {
    let mut metadata = child_meta(model, name);
    if !content.annotations.is_empty() {
        metadata.annotations = Some(content.annotations.clone());
    }
    metadata.resource_version = content.resource_version.clone();
    let data: BTreeMap<String, ByteString> =
        content.data.iter().map(|(k, v)| (k.clone(), ByteString(v.clone()))).collect();
    Secret { metadata, type_: Some(type_.into()), data: Some(data), ..Default::default() }
}

/// `<name>-ca`: the ring's CA.
pub fn ca(model: &RingModel, content: &SecretContent) -> Secret {
    build(model, model.names.ca_secret(), OPAQUE_TYPE, content)
}

/// `<name>-tls`: the node certificate the pods mount.
pub fn tls(model: &RingModel, content: &SecretContent) -> Secret {
    build(model, model.names.tls_secret(), TLS_TYPE, content)
}

/// `<name>-admin-tls`: the operator's client certificate.
pub fn admin(model: &RingModel, content: &SecretContent) -> Secret {
    build(model, model.names.admin_tls_secret(), TLS_TYPE, content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::golden;

    fn content(annotations: &[(&str, &str)], version: Option<&str>) -> SecretContent {
        SecretContent {
            data: BTreeMap::from([("ca.crt".to_string(), b"CA".to_vec()), ("ca.key".to_string(), b"KEY".to_vec())]),
            annotations: annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            resource_version: version.map(String::from),
            write: true,
        }
    }

    #[test]
    fn golden_ca_during_a_rotation() {
        let c = content(
            &[("omring.io/ca-rotation", "TrustNewCA"), ("omring.io/ca-rotation-since", "2026-01-01T00:00:00Z")],
            Some("41"),
        );
        golden::check("secret-ca", &ca(&golden::model(), &c));
    }

    #[test]
    fn leaf_secrets_are_tls_typed_owned_and_created_without_a_version() {
        let m = golden::model();
        let s = tls(&m, &content(&[], None));
        assert_eq!(s.metadata.name.as_deref(), Some("om-tls"));
        assert_eq!(s.type_.as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(s.metadata.resource_version, None);
        assert_eq!(s.metadata.annotations, None);
        assert_eq!(s.metadata.owner_references.as_ref().unwrap()[0].kind, "OzoneManagerRing");
        assert_eq!(s.metadata.labels.as_ref().unwrap()["app.kubernetes.io/instance"], "om");
        assert_eq!(s.data.as_ref().unwrap()["ca.crt"].0, b"CA");
        let a = admin(&m, &content(&[], Some("7")));
        assert_eq!(a.metadata.name.as_deref(), Some("om-admin-tls"));
        assert_eq!(a.metadata.resource_version.as_deref(), Some("7"));
    }
}
