//! The decisions about cert-manager's certificates, from Secrets and Certificates as read.

use std::collections::BTreeMap;

use k8s_openapi::jiff::{Timestamp, ToSpan};
use serde_json::json;

use super::*;
use crate::certs::{Issued, LeafSpec};
use crate::pki::{admin_leaf, node_leaf};

fn names() -> RingNames {
    RingNames::new("om", "ns", "cluster.local")
}

fn issuer() -> IssuerModel {
    IssuerModel { name: "ring-ca".into(), kind: "ClusterIssuer".into(), group: "cert-manager.io".into() }
}

fn now() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).unwrap()
}

fn ca() -> Issued {
    certs::new_ca("test CA", now() - 1.hour(), now() + 1000.hours()).unwrap()
}

/// A Secret as cert-manager writes it: the leaf signed by `ca`, and `ca.crt` (if any).
fn secret(ca: &Issued, leaf: &LeafSpec, bundle: Option<&str>, hours: i64) -> Stored {
    let cert = certs::issue(leaf, ca, now() - 1.hour(), now() + hours.hours()).unwrap();
    let mut data = BTreeMap::from([
        (TLS_CRT.to_string(), cert.cert_pem.into_bytes()),
        (TLS_KEY.to_string(), cert.key_pem.into_bytes()),
    ]);
    if let Some(b) = bundle {
        data.insert(CA_CRT.to_string(), b.as_bytes().to_vec());
    }
    Stored { resource_version: Some("1".into()), data, ..Default::default() }
}

fn issued(ca: &Issued) -> StoredSecrets {
    StoredSecrets {
        ca: None,
        tls: Some(secret(ca, &node_leaf(&names()), Some(&ca.cert_pem), 2160)),
        admin: Some(secret(ca, &admin_leaf(), Some(&ca.cert_pem), 2160)),
    }
}

fn certificate(name: &str, ready: Option<(&str, &str)>, renewal: &str) -> Certificate {
    let conditions: Vec<serde_json::Value> = ready
        .map(|(status, reason)| {
            vec![json!({"type": "Ready", "status": status, "reason": reason, "message": "as told", "observedGeneration": 1})]
        })
        .unwrap_or_default();
    serde_json::from_value(json!({
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": name, "namespace": "ns", "generation": 1},
        "spec": {"secretName": name, "issuerRef": {"name": "ring-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}},
        "status": {"conditions": conditions, "renewalTime": renewal},
    }))
    .unwrap()
}

fn ready_certificates() -> Vec<Certificate> {
    vec![
        certificate("om-tls", Some(("True", "Ready")), "2030-01-02T00:00:00Z"),
        certificate("om-admin-tls", Some(("True", "Ready")), "2030-01-01T00:00:00Z"),
    ]
}

fn run(certificates: Result<&[Certificate], &Unavailable>, stored: &StoredSecrets) -> Assessed {
    let (n, i) = (names(), issuer());
    assess(&Input {
        names: &n,
        issuer: &i,
        certificates,
        stored,
        rotate_request: None,
        old_status: None,
        old_condition: None,
    })
}

fn reasons(a: &Assessed) -> Vec<&'static str> {
    a.events.iter().map(|e| e.reason).collect()
}

#[test]
fn issued_certificates_are_used_and_shown_as_cert_manager_wrote_them() {
    let ca = ca();
    let stored = issued(&ca);
    let certs = ready_certificates();
    let a = run(Ok(&certs), &stored);
    assert!(a.ready && !a.hold, "{a:?}");
    assert_eq!(a.reason, "Issued");
    assert!(a.message.contains("ClusterIssuer ring-ca (cert-manager.io)"), "{}", a.message);
    let leaf = |s: &Option<Stored>| certs::read_cert(std::str::from_utf8(&s.as_ref().unwrap().data[TLS_CRT]).unwrap());
    assert_eq!(a.status.node_certificate_not_after, Some(leaf(&stored.tls).unwrap().not_after.to_string()));
    assert_eq!(a.status.admin_certificate_not_after, Some(leaf(&stored.admin).unwrap().not_after.to_string()));
    assert_eq!(a.status.ca_not_after, Some(certs::read_cert(&ca.cert_pem).unwrap().not_after.to_string()));
    // The earlier of the two renewals cert-manager plans.
    assert_eq!(a.status.renewal_time.as_deref(), Some("2030-01-01T00:00:00Z"));
    assert_eq!(a.status.issuer.as_deref(), Some("ClusterIssuer ring-ca (cert-manager.io)"));
    assert_eq!(a.status.ca_rotation, None);
    let admin = stored.admin.as_ref().unwrap();
    let creds = a.credentials.clone().unwrap();
    assert_eq!(creds.cert_pem, admin.data[TLS_CRT]);
    assert_eq!(creds.ca_pem, ca.cert_pem.as_bytes());
    assert_eq!(reasons(&a), ["Issued"]);
}

#[test]
fn a_secret_without_its_trust_bundle_holds_the_ring_and_says_which_key() {
    let ca = ca();
    let mut stored = issued(&ca);
    stored.tls = Some(secret(&ca, &node_leaf(&names()), None, 2160));
    let certs = ready_certificates();
    let a = run(Ok(&certs), &stored);
    assert!(a.hold && !a.ready);
    assert_eq!(a.reason, "TrustBundleMissing");
    assert!(a.message.contains("Secret om-tls has no ca.crt"), "{}", a.message);
    assert!(a.message.contains("ClusterIssuer ring-ca"), "{}", a.message);
    let e = &a.events[0];
    assert_eq!((e.reason, e.type_), ("TrustBundleMissing", EventType::Warning));
    assert_eq!(e.about.as_ref().unwrap().name.as_deref(), Some("om-tls"));
    // An empty ca.crt is no bundle either.
    stored.tls = Some(secret(&ca, &node_leaf(&names()), Some(""), 2160));
    assert_eq!(run(Ok(&certs), &stored).reason, "TrustBundleMissing");
}

#[test]
fn a_bundle_that_does_not_hold_the_signer_holds_the_ring() {
    let (ca, other) = (ca(), ca());
    let mut stored = issued(&ca);
    stored.admin = Some(secret(&ca, &admin_leaf(), Some(&other.cert_pem), 2160));
    let certs = ready_certificates();
    let a = run(Ok(&certs), &stored);
    assert!(a.hold);
    assert_eq!(a.reason, "TrustBundleMismatch");
    assert!(a.message.contains("ca.crt of Secret om-admin-tls does not hold the CA"), "{}", a.message);
    assert_eq!(a.credentials, None, "the operator does not talk with an untrusted bundle");
    // A chain: the leaf signed by an intermediate sent along in tls.crt is trusted.
    let leaf = certs::issue(&admin_leaf(), &ca, now() - 1.hour(), now() + 10.hours()).unwrap();
    let mut chained = secret(&ca, &admin_leaf(), Some(&other.cert_pem), 1);
    chained.data.insert(TLS_CRT.into(), format!("{}{}", leaf.cert_pem, ca.cert_pem).into_bytes());
    chained.data.insert(TLS_KEY.into(), leaf.key_pem.into_bytes());
    stored.admin = Some(chained);
    assert!(!run(Ok(&certs), &stored).hold);
}

#[test]
fn before_cert_manager_issues_the_ring_waits_and_says_what_cert_manager_reported() {
    let stored = StoredSecrets::default();
    let certs = vec![certificate("om-tls", Some(("False", "Issuing")), ""), certificate("om-admin-tls", None, "")];
    let a = run(Ok(&certs), &stored);
    assert!(a.hold && !a.ready);
    assert_eq!(a.reason, "WaitingForCertificates");
    assert!(a.message.contains("Secret om-tls does not exist yet"), "{}", a.message);
    assert!(a.message.contains("Certificate om-tls is not Ready (Issuing: as told)"), "{}", a.message);
    assert!(a.message.contains("has not reported on Certificate om-admin-tls"), "{}", a.message);
    assert_eq!(a.status.node_certificate_not_after, None);
    assert_eq!(a.status.renewal_time, None);
    assert_eq!(a.credentials, None);
}

#[test]
fn usable_secrets_of_a_certificate_being_reissued_keep_the_ring_going() {
    let ca = ca();
    let stored = issued(&ca);
    let mut certs = ready_certificates();
    certs[0] = certificate("om-tls", Some(("False", "DoesNotMatch")), "");
    let a = run(Ok(&certs), &stored);
    assert!(!a.hold && !a.ready);
    assert_eq!(a.reason, "Issuing");
    assert!(a.message.contains("Certificate om-tls is not Ready (DoesNotMatch: as told)"), "{}", a.message);
    assert_eq!(a.events[0].type_, EventType::Normal);
    // A Ready condition for an older spec is not Ready for this one.
    certs[0] = certificate("om-tls", Some(("True", "Ready")), "");
    certs[0].metadata.generation = Some(2);
    let a = run(Ok(&certs), &stored);
    assert!(a.message.contains("has not caught up with the latest spec of Certificate om-tls"), "{}", a.message);
}

#[test]
fn without_cert_manager_the_status_says_so() {
    let a = run(Err(&Unavailable::NoCertManager), &StoredSecrets::default());
    assert!(a.hold && !a.ready);
    assert_eq!(a.reason, "CertManagerMissing");
    assert!(a.message.contains("does not serve certificates.cert-manager.io/v1"), "{}", a.message);
    assert_eq!(a.events[0].type_, EventType::Warning);
    let a = run(Err(&Unavailable::Forbidden("no".into())), &issued(&ca()));
    assert!(!a.hold);
    assert_eq!(a.reason, "CertificatesForbidden");
    assert!(a.message.contains("ClusterRole"), "{}", a.message);
}

#[test]
fn events_come_with_changes_not_with_every_pass() {
    let ca = ca();
    let (n, i) = (names(), issuer());
    let stored = issued(&ca);
    let certs = ready_certificates();
    let first = run(Ok(&certs), &stored);
    let condition = Condition {
        type_: CERTIFICATES_READY.into(),
        status: "True".into(),
        reason: first.reason.into(),
        message: first.message.clone(),
        observed_generation: None,
        last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now()),
    };
    let input = |stored, old_status, rotate_request| Input {
        names: &n,
        issuer: &i,
        certificates: Ok(&certs),
        stored,
        rotate_request,
        old_status,
        old_condition: Some(&condition),
    };
    let again = assess(&input(&stored, Some(&first.status), None));
    assert!(again.events.is_empty(), "{:?}", again.events);

    // A re-issue: the node certificate's expiry moved.
    let mut renewed = stored.clone();
    renewed.tls = Some(secret(&ca, &node_leaf(&n), Some(&ca.cert_pem), 3000));
    let a = assess(&input(&renewed, Some(&first.status), None));
    assert_eq!(reasons(&a), ["CertificateRenewed"]);
    assert!(a.events[0].note.contains("Secret om-tls"), "{}", a.events[0].note);
    assert_ne!(a.status.node_certificate_not_after, first.status.node_certificate_not_after);

    // omring.io/rotate-ca: a Warning once per value.
    let a = assess(&input(&stored, Some(&first.status), Some("1")));
    assert_eq!(reasons(&a), ["CARotationByIssuer"]);
    assert_eq!(a.events[0].type_, EventType::Warning);
    assert!(a.events[0].note.contains("rotating the CA is the issuer's business"), "{}", a.events[0].note);
    assert_eq!(a.status.ignored_rotate_ca.as_deref(), Some("1"));
    let b = assess(&input(&stored, Some(&a.status), Some("1")));
    assert!(b.events.is_empty());
    let c = assess(&input(&stored, Some(&a.status), Some("2")));
    assert_eq!(reasons(&c), ["CARotationByIssuer"]);
}
