//! Reconcile of a ring whose certificates come from cert-manager (`spec.tls.issuerRef`),
//! against the in-memory API server, with the test playing cert-manager: the Certificates the
//! operator keeps, the ring waiting until their Secrets can be trusted, re-issue without a
//! restart, a cluster without cert-manager, and switching to and from the operator's own CA.

use http::Method;
use k8s_openapi::jiff::{Timestamp, ToSpan};
use serde_json::json;

use crate::certs::{self, Issued, LeafSpec};
use crate::names::ANNOTATION_POD_SPEC_HASH;
use crate::pki::{admin_leaf, node_leaf};
use crate::ringclient::RingCredentials;
use crate::siteconfig::Membership;
use crate::testing::{secret_path, world, world_with, World, RING, STS};

const CERTS: &str = "/apis/cert-manager.io/v1/namespaces/ns/certificates";

fn issuer_spec() -> serde_json::Value {
    json!({"replicas": 3, "tls": {"issuerRef": {"name": "ring-ca", "kind": "ClusterIssuer"}}})
}

fn test_ca() -> Issued {
    let now = Timestamp::now();
    certs::new_ca("cert-manager test CA", now - 1.hour(), now + 5000.hours()).unwrap()
}

/// What cert-manager does: writes the Secret (labels from secretTemplate, no owner) and
/// reports the Certificate Ready.
fn cert_manager_issues(w: &World, ca: &Issued, secret: &str, leaf: &LeafSpec, hours: i64, with_ca: bool) {
    let now = Timestamp::now();
    let cert = certs::issue(leaf, ca, now - 1.hour(), now + hours.hours()).unwrap();
    let b64 = |s: &str| k8s_openapi::ByteString(s.as_bytes().to_vec());
    let mut data = json!({"tls.crt": b64(&cert.cert_pem), "tls.key": b64(&cert.key_pem)});
    if with_ca {
        data["ca.crt"] = serde_json::to_value(b64(&ca.cert_pem)).unwrap();
    }
    let mut existing = w.api.get(&secret_path(secret)).unwrap_or(json!({"metadata": {}}));
    existing["apiVersion"] = json!("v1");
    existing["kind"] = json!("Secret");
    existing["type"] = json!("kubernetes.io/tls");
    existing["metadata"]["name"] = json!(secret);
    existing["metadata"]["namespace"] = json!("ns");
    existing["metadata"]["labels"] = json!({"app.kubernetes.io/name": "omring", "app.kubernetes.io/instance": "om"});
    existing["metadata"].as_object_mut().unwrap().remove("resourceVersion");
    existing["data"] = data;
    w.api.insert(&secret_path(secret), existing);
    let path = format!("{CERTS}/{secret}");
    let mut c = w.api.get(&path).expect("the operator applied the Certificate");
    c["status"] = json!({"conditions": [{"type": "Ready", "status": "True", "reason": "Ready",
        "message": "Certificate is up to date and has not expired", "observedGeneration": c["metadata"]["generation"]}],
        "notAfter": cert_not_after(&cert), "renewalTime": "2030-01-01T00:00:00Z"});
    w.api.insert(&path, c);
}

fn cert_not_after(c: &Issued) -> String {
    certs::read_cert(&c.cert_pem).unwrap().not_after.to_string()
}

fn both_issued(w: &World, ca: &Issued) {
    let names = w.model().names;
    cert_manager_issues(w, ca, "om-tls", &node_leaf(&names), 2160, true);
    cert_manager_issues(w, ca, "om-admin-tls", &admin_leaf(), 2160, true);
}

fn leaf_of(w: &World, secret: &str) -> certs::CertInfo {
    certs::read_cert(std::str::from_utf8(&w.secret_data(secret).unwrap()["tls.crt"]).unwrap()).unwrap()
}

#[tokio::test]
async fn a_new_ring_waits_for_cert_manager_then_starts_with_its_certificates() {
    let w = world_with(issuer_spec());
    w.reconcile().await.unwrap();
    // The operator keeps two Certificates and makes no CA and no pods yet.
    let writes: Vec<String> = w.api.writes().into_iter().filter(|x| !x.ends_with("/events")).collect();
    assert_eq!(
        writes,
        [format!("PATCH {CERTS}/om-tls"), format!("PATCH {CERTS}/om-admin-tls"), format!("PATCH {RING}/status"),]
    );
    let c = w.api.get(&format!("{CERTS}/om-tls")).unwrap();
    assert_eq!(c["spec"]["issuerRef"], json!({"name": "ring-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}));
    assert_eq!(c["metadata"]["ownerReferences"][0]["uid"], "ring-uid");
    assert!(w.api.get(&secret_path("om-ca")).is_none());
    assert!(w.api.get(STS).is_none(), "no pod starts without trusted certificates");
    let cond = w.condition("CertificatesReady");
    assert_eq!((cond["status"].as_str(), cond["reason"].as_str()), (Some("False"), Some("WaitingForCertificates")));
    assert!(cond["message"].as_str().unwrap().contains("Secret om-tls does not exist yet"), "{cond}");
    assert!(cond["message"].as_str().unwrap().contains("has not reported on Certificate om-tls"), "{cond}");
    assert_eq!(w.condition("Progressing")["reason"], "WaitingForCertificates");
    assert_eq!(w.status()["tls"]["issuer"], "ClusterIssuer ring-ca (cert-manager.io)");
    assert!(w.events().contains(&"WaitingForCertificates".to_string()), "{:?}", w.events());

    // cert-manager issues: the ring is made, the operator talks with its certificate.
    let ca = test_ca();
    both_issued(&w, &ca);
    w.api.clear_log();
    w.reconcile().await.unwrap();
    assert!(w.api.get(STS).is_some());
    let secret: k8s_openapi::api::core::v1::Secret =
        serde_json::from_value(w.api.get(&secret_path("om-admin-tls")).unwrap()).unwrap();
    assert_eq!(w.ring.last_credentials(), Some(Some(RingCredentials::from_secret(&secret).unwrap())));
    // The operator never wrote the Secrets' data, only made the ring an owner (not the controller).
    let data_writes: Vec<_> = w
        .api
        .log()
        .into_iter()
        .filter(|l| l.method == Method::PATCH && l.path.contains("/secrets/"))
        .map(|l| (l.path.clone(), l.content_type.clone(), l.body.unwrap()))
        .collect();
    assert_eq!(data_writes.len(), 2, "{data_writes:?}");
    for (path, content_type, body) in &data_writes {
        assert!(content_type.starts_with("application/strategic-merge-patch"), "{path}: {content_type}");
        assert!(body.get("data").is_none(), "{path}: {body}");
        assert_eq!(body["metadata"]["ownerReferences"][0]["controller"], false, "{path}");
    }
    assert_eq!(w.api.get(&secret_path("om-tls")).unwrap()["metadata"]["ownerReferences"][0]["uid"], "ring-uid");
    let tls = &w.status()["tls"];
    assert_eq!(tls["nodeCertificateNotAfter"], leaf_of(&w, "om-tls").not_after.to_string());
    assert_eq!(tls["adminCertificateNotAfter"], leaf_of(&w, "om-admin-tls").not_after.to_string());
    assert_eq!(tls["caNotAfter"], certs::read_cert(&ca.cert_pem).unwrap().not_after.to_string());
    assert_eq!(tls["renewalTime"], "2030-01-01T00:00:00Z");
    let cond = w.condition("CertificatesReady");
    assert_eq!((cond["status"].as_str(), cond["reason"].as_str()), (Some("True"), Some("Issued")));
    assert!(w.events().contains(&"Issued".to_string()), "{:?}", w.events());
}

#[tokio::test]
async fn a_reissued_certificate_is_shown_and_restarts_nothing() {
    let w = world_with(issuer_spec());
    w.reconcile().await.unwrap();
    let ca = test_ca();
    both_issued(&w, &ca);
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    w.reconcile().await.unwrap();
    let hash = w.api.get(STS).unwrap()["spec"]["template"]["metadata"]["annotations"][ANNOTATION_POD_SPEC_HASH].clone();
    let before = leaf_of(&w, "om-tls");

    cert_manager_issues(&w, &ca, "om-tls", &node_leaf(&w.model().names), 3000, true);
    w.api.clear_log();
    w.reconcile().await.unwrap();
    let after = leaf_of(&w, "om-tls");
    assert_ne!(before.not_after, after.not_after);
    assert_eq!(w.status()["tls"]["nodeCertificateNotAfter"], after.not_after.to_string());
    assert!(w.events().contains(&"CertificateRenewed".to_string()), "{:?}", w.events());
    assert!(!w.api.writes().iter().any(|x| x.starts_with("DELETE")), "no restarts: {:?}", w.api.writes());
    assert_eq!(w.api.get(STS).unwrap()["spec"]["template"]["metadata"]["annotations"][ANNOTATION_POD_SPEC_HASH], hash);
    assert_eq!(w.condition("Progressing")["reason"], "Stable");
}

#[tokio::test]
async fn a_secret_without_ca_crt_holds_the_ring_and_names_the_secret_and_key() {
    let w = world_with(issuer_spec());
    w.reconcile().await.unwrap();
    let ca = test_ca();
    cert_manager_issues(&w, &ca, "om-tls", &node_leaf(&w.model().names), 2160, false);
    cert_manager_issues(&w, &ca, "om-admin-tls", &admin_leaf(), 2160, false);
    w.reconcile().await.unwrap();
    assert!(w.api.get(STS).is_none());
    let cond = w.condition("CertificatesReady");
    assert_eq!(cond["reason"], "TrustBundleMissing");
    assert!(cond["message"].as_str().unwrap().contains("Secret om-tls has no ca.crt"), "{cond}");
    assert!(w.events().contains(&"TrustBundleMissing".to_string()), "{:?}", w.events());
}

#[tokio::test]
async fn without_cert_manager_the_ring_reports_it_and_the_operator_goes_on() {
    let w = world_with(issuer_spec());
    // The API server has no certificates.cert-manager.io.
    w.api.fail(Method::PATCH, "/certificates/", 404, 10);
    assert!(w.reconcile().await.is_ok());
    let cond = w.condition("CertificatesReady");
    assert_eq!(cond["reason"], "CertManagerMissing");
    assert!(cond["message"].as_str().unwrap().contains("install cert-manager"), "{cond}");
    assert!(w.api.get(STS).is_none());
    // A ring without issuerRef in the same cluster is not bothered (its sweep gets a 404).
    let plain = world(3);
    plain.api.fail(Method::GET, "/certificates", 404, 10);
    plain.reconcile().await.unwrap();
    assert!(plain.api.get(STS).is_some());
    assert_eq!(plain.condition("CertificatesReady")["reason"], "OperatorCA");
}

#[tokio::test]
async fn switching_to_cert_manager_and_back_restarts_no_pod() {
    let w = world(3);
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    w.reconcile().await.unwrap();
    assert!(w.api.get(&secret_path("om-ca")).is_some());
    let hash = w.api.get(STS).unwrap()["spec"]["template"]["metadata"]["annotations"][ANNOTATION_POD_SPEC_HASH].clone();

    // To cert-manager: until it re-issues, the operator's certificates are still good.
    let mut cr = w.api.get(RING).unwrap();
    cr["spec"]["tls"] = issuer_spec()["tls"].clone();
    w.api.insert(RING, cr);
    w.api.clear_log();
    w.reconcile().await.unwrap();
    assert!(w.api.get(&format!("{CERTS}/om-tls")).is_some());
    assert_eq!(w.condition("CertificatesReady")["reason"], "Issuing");
    assert!(w.api.get(&secret_path("om-ca")).is_none(), "the ring's own CA key goes");
    let ca = test_ca();
    both_issued(&w, &ca);
    w.reconcile().await.unwrap();
    assert_eq!(w.condition("CertificatesReady")["reason"], "Issued");
    let signer = certs::read_cert(&ca.cert_pem).unwrap();
    assert!(leaf_of(&w, "om-tls").signed_by(&signer));
    assert!(!w.api.writes().iter().any(|x| x.starts_with("DELETE /api/v1/namespaces/ns/pods")), "{:?}", w.api.writes());

    // Back to the operator's CA: the Certificates go first, then it issues again.
    let mut cr = w.api.get(RING).unwrap();
    cr["spec"]["tls"] = json!({"enabled": true});
    w.api.insert(RING, cr);
    w.api.clear_log();
    w.reconcile().await.unwrap();
    assert!(w.api.get(&format!("{CERTS}/om-tls")).is_none());
    let writes = w.api.writes();
    let deleted = writes.iter().position(|x| x == &format!("DELETE {CERTS}/om-tls")).unwrap();
    let written = writes.iter().position(|x| x == "PATCH /api/v1/namespaces/ns/secrets/om-tls").unwrap();
    assert!(deleted < written, "{writes:?}");
    assert!(w.api.get(&secret_path("om-ca")).is_some());
    assert!(!leaf_of(&w, "om-tls").signed_by(&signer));
    assert_eq!(w.condition("CertificatesReady")["reason"], "OperatorCA");
    assert!(!writes.iter().any(|x| x.starts_with("DELETE /api/v1/namespaces/ns/pods")), "{writes:?}");
    assert_eq!(w.api.get(STS).unwrap()["spec"]["template"]["metadata"]["annotations"][ANNOTATION_POD_SPEC_HASH], hash);
}

#[tokio::test]
async fn rotate_ca_gets_a_warning_once_with_cert_manager() {
    let w = world_with(issuer_spec());
    w.reconcile().await.unwrap();
    both_issued(&w, &test_ca());
    w.reconcile().await.unwrap();
    let mut cr = w.api.get(RING).unwrap();
    cr["metadata"]["annotations"] = json!({"omring.io/rotate-ca": "now"});
    w.api.insert(RING, cr);
    w.api.clear_log();
    w.reconcile().await.unwrap();
    assert_eq!(w.events().iter().filter(|e| *e == "CARotationByIssuer").count(), 1, "{:?}", w.events());
    assert_eq!(w.status()["tls"]["ignoredRotateCa"], "now");
    assert!(w.api.get(&secret_path("om-ca")).is_none(), "no CA is made");
    w.api.clear_log();
    w.reconcile().await.unwrap();
    assert!(!w.events().contains(&"CARotationByIssuer".to_string()), "{:?}", w.events());
}

#[tokio::test]
async fn a_deleted_ring_takes_its_certificates_before_their_secrets() {
    let w = world_with(issuer_spec());
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    w.reconcile().await.unwrap();
    both_issued(&w, &test_ca());
    w.reconcile().await.unwrap();
    let mut cr = w.api.get(RING).unwrap();
    assert!(cr["metadata"]["finalizers"].as_array().is_some_and(|f| !f.is_empty()), "{cr}");
    cr["metadata"]["deletionTimestamp"] = json!("2030-01-01T00:00:00Z");
    w.api.insert(RING, cr);
    w.api.clear_log();
    w.reconcile().await.unwrap();
    let writes = w.api.writes();
    let at = |w: &str| writes.iter().position(|x| x == w).unwrap_or_else(|| panic!("no {w}: {writes:?}"));
    for secret in ["om-tls", "om-admin-tls"] {
        let cert_deleted = at(&format!("DELETE {CERTS}/{secret}"));
        let secret_deleted = at(&format!("DELETE /api/v1/namespaces/ns/secrets/{secret}"));
        assert!(cert_deleted < secret_deleted, "{secret}: {writes:?}");
        assert!(w.api.get(&secret_path(secret)).is_none() && w.api.get(&format!("{CERTS}/{secret}")).is_none());
    }
    let finalizer_dropped = writes.iter().rposition(|x| x.starts_with("PATCH /apis/omring")).unwrap_or(usize::MAX);
    assert!(at(&format!("DELETE {CERTS}/om-tls")) < finalizer_dropped, "{writes:?}");
}
