//! The certificate state machine driven by a fake clock: first issue, idle passes, renewal,
//! host name changes, a whole CA rotation step by step, and recovery from damaged Secrets.
//! Each pass starts from the Secrets as the previous pass left them, as a restarted operator
//! would.

use std::time::Duration;

use super::*;
use crate::certs::read_bundle;

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

fn policy() -> Policy {
    Policy { certificate_duration: 10 * HOUR, renew_before: 2 * HOUR, propagation: 5 * MINUTE }
}

fn names() -> RingNames {
    RingNames::new("om", "ns", "cluster.local")
}

fn start() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

/// What the API server holds after the pass's writes.
fn store(pki: &Pki, before: &StoredSecrets) -> StoredSecrets {
    let keep = |c: &SecretContent, old: &Option<Stored>| -> Option<Stored> {
        if !c.write {
            return old.clone();
        }
        let version = old.as_ref().and_then(|o| o.resource_version.clone()).unwrap_or_default() + "1";
        Some(Stored {
            resource_version: Some(version),
            data: c.data.clone(),
            annotations: c.annotations.clone(),
            owners: Vec::new(),
        })
    };
    StoredSecrets {
        ca: keep(&pki.ca, &before.ca),
        tls: keep(&pki.tls, &before.tls),
        admin: keep(&pki.admin, &before.admin),
    }
}

fn reasons(pki: &Pki) -> Vec<&'static str> {
    pki.events.iter().map(|e| e.reason).collect()
}

fn pem(s: &Option<Stored>, key: &str) -> String {
    String::from_utf8(s.as_ref().unwrap().data[key].clone()).unwrap()
}

fn leaf(s: &Option<Stored>) -> CertInfo {
    certs::read_cert(&pem(s, TLS_CRT)).unwrap()
}

fn ca(s: &StoredSecrets) -> CertInfo {
    certs::read_cert(&pem(&s.ca, CA_CRT)).unwrap()
}

fn bundle_names(s: &Option<Stored>) -> Vec<String> {
    read_bundle(&pem(s, CA_CRT)).unwrap().into_iter().map(|c| c.common_name.unwrap()).collect()
}

/// A pass at `now` over `s`; returns the outcome and the Secrets after it.
fn pass(s: &StoredSecrets, now: Timestamp) -> (Pki, StoredSecrets) {
    pass_asked(s, None, now)
}

/// A pass with the ring's `omring.io/rotate-ca` annotation at `request`.
fn pass_asked(s: &StoredSecrets, request: Option<&str>, now: Timestamp) -> (Pki, StoredSecrets) {
    let pki = reconcile(s, &names(), &policy(), request, now).unwrap();
    let after = store(&pki, s);
    (pki, after)
}

#[test]
fn first_pass_issues_the_ca_and_both_certificates() {
    let now = start();
    let (pki, s) = pass(&StoredSecrets::default(), now);
    assert_eq!(reasons(&pki), ["CAIssued", "CertificateIssued", "CertificateIssued"]);
    assert!(pki.ca.write && pki.tls.write && pki.admin.write);
    assert_eq!(pki.ca.resource_version, None, "a create, not an update");

    let ca_info = ca(&s);
    assert!(ca_info.is_ca);
    assert_eq!(ca_info.not_after, now + 100 * HOUR, "the CA lasts ten certificate lifetimes");
    assert!(ca_info.common_name.as_deref().unwrap().starts_with("omring CA ns/om "));

    let node = leaf(&s.tls);
    assert_eq!(node.common_name.as_deref(), Some("om-node"));
    assert_eq!(node.organizations, ["omring:nodes"]);
    let mut want = names().certificate_dns_names();
    want.sort();
    assert_eq!(node.dns_names, want);
    assert!(node.server_auth && node.client_auth && !node.is_ca);
    assert_eq!((node.not_before, node.not_after), (now - 5 * MINUTE, now + 10 * HOUR));
    assert!(node.signed_by(&ca_info) && node.key_matches(&pem(&s.tls, TLS_KEY)));

    let admin = leaf(&s.admin);
    assert_eq!(admin.common_name.as_deref(), Some("omring-operator"));
    assert!(admin.organizations.is_empty() && admin.dns_names.is_empty());
    assert!(admin.client_auth && !admin.server_auth);
    assert!(admin.signed_by(&ca_info));
    // The trust bundle of both leaf Secrets is the CA.
    assert_eq!(pem(&s.tls, CA_CRT), pem(&s.ca, CA_CRT));
    assert_eq!(pem(&s.admin, CA_CRT), pem(&s.ca, CA_CRT));
    assert!(s.ca.as_ref().unwrap().annotations.is_empty());

    // Status and the next time something is due: the renewal.
    assert_eq!(pki.status.node_certificate_not_after, Some((now + 10 * HOUR).to_string()));
    assert_eq!(pki.status.admin_certificate_not_after, Some((now + 10 * HOUR).to_string()));
    assert_eq!(pki.status.ca_not_after, Some((now + 100 * HOUR).to_string()));
    assert_eq!(pki.status.ca_rotation, None);
    assert_eq!(pki.next_due, now + 8 * HOUR);
    assert_eq!(pki.status.renewal_time, Some((now + 8 * HOUR).to_string()));
    // The operator's credentials are the admin Secret's.
    let creds = pki.admin_credentials();
    assert_eq!(creds.cert_pem, s.admin.as_ref().unwrap().data[TLS_CRT]);
    assert_eq!(creds.ca_pem, s.admin.as_ref().unwrap().data[CA_CRT]);
}

#[test]
fn an_idle_pass_writes_nothing_and_renewal_comes_at_renew_before() {
    let (_, s) = pass(&StoredSecrets::default(), start());
    let (pki, s2) = pass(&s, start() + HOUR);
    assert!(pki.events.is_empty(), "{:?}", reasons(&pki));
    assert!(!pki.ca.write && !pki.tls.write && !pki.admin.write);
    assert_eq!(s2, s);

    // One second before the renewal point: still nothing.
    let renew_at = start() + 8 * HOUR;
    let (pki, _) = pass(&s, renew_at - Duration::from_secs(1));
    assert!(!pki.tls.write && pki.events.is_empty());

    // At it: both certificates are renewed in place, the CA stays.
    let (pki, s3) = pass(&s, renew_at);
    assert_eq!(reasons(&pki), ["CertificateRenewed", "CertificateRenewed"]);
    assert!(pki.events[0].note.contains("it expires at 2026-01-01T10:00:00Z"), "{}", pki.events[0].note);
    assert!(!pki.ca.write && pki.tls.write && pki.admin.write);
    assert_eq!(pki.tls.resource_version, s.tls.as_ref().unwrap().resource_version, "an update of what was read");
    assert_eq!(leaf(&s3.tls).not_after, renew_at + 10 * HOUR);
    assert_ne!(pem(&s3.tls, TLS_KEY), pem(&s.tls, TLS_KEY), "a new key with every certificate");
    assert_eq!(pem(&s3.ca, CA_CRT), pem(&s.ca, CA_CRT));
    assert!(leaf(&s3.tls).signed_by(&ca(&s3)));
    assert_eq!(pki.next_due, renew_at + 8 * HOUR);
}

#[test]
fn a_changed_cluster_domain_or_a_damaged_secret_reissues_only_that_certificate() {
    let (_, s) = pass(&StoredSecrets::default(), start());
    let elsewhere = RingNames::new("om", "ns", "example.org");
    let pki = reconcile(&s, &elsewhere, &policy(), None, start() + HOUR).unwrap();
    assert_eq!(reasons(&pki), ["CertificateRenewed"]);
    assert!(pki.events[0].note.contains("host names changed"), "{}", pki.events[0].note);
    assert!(pki.tls.write && !pki.admin.write && !pki.ca.write);
    let after = store(&pki, &s);
    assert!(leaf(&after.tls).dns_names.contains(&"*.om-headless.ns.svc.example.org".to_string()));

    // A key that is not the certificate's.
    let mut broken = s.clone();
    let other_key = pem(&s.admin, TLS_KEY);
    broken.tls.as_mut().unwrap().data.insert(TLS_KEY.into(), other_key.into_bytes());
    let (pki, fixed) = pass(&broken, start() + HOUR);
    assert_eq!(reasons(&pki), ["CertificateRenewed"]);
    assert!(pki.events[0].note.contains("key did not match"));
    assert!(leaf(&fixed.tls).key_matches(&pem(&fixed.tls, TLS_KEY)));

    // Garbage, and a Secret deleted by hand.
    let mut garbage = s.clone();
    garbage.admin.as_mut().unwrap().data.insert(TLS_CRT.into(), b"nope".to_vec());
    garbage.tls = None;
    let (pki, _) = pass(&garbage, start() + HOUR);
    assert_eq!(reasons(&pki), ["CertificateIssued", "CertificateRenewed"]);
    assert!(pki.events[1].note.contains("unreadable"), "{}", pki.events[1].note);
}

#[test]
fn an_unusable_ca_is_replaced_and_everything_reissued() {
    let (_, s) = pass(&StoredSecrets::default(), start());
    let mut broken = s.clone();
    broken.ca.as_mut().unwrap().data.insert(CA_KEY.into(), pem(&s.tls, TLS_KEY).into_bytes());
    let (pki, after) = pass(&broken, start() + HOUR);
    assert_eq!(reasons(&pki), ["CAReplaced", "CertificateRenewed", "CertificateRenewed"]);
    assert_eq!(pki.events[0].type_, EventType::Warning);
    assert!(pki.events[0].note.contains("ca.key is not the key of ca.crt"), "{}", pki.events[0].note);
    assert!(pki.events[1].note.contains("not signed by the ring's current CA"));
    assert!(leaf(&after.tls).signed_by(&ca(&after)));
    // An expired CA too.
    let (pki, _) = pass(&s, start() + 101 * HOUR);
    assert_eq!(reasons(&pki)[0], "CAReplaced");
    assert!(pki.events[0].note.contains("expired"));
}

/// The Secrets just before the CA's rotation is due at 80 h (of its 100 h), certificates kept
/// fresh on the way: last renewed at 73 h, so their next renewal (81 h) is after it.
fn until_rotation() -> StoredSecrets {
    let (_, mut s) = pass(&StoredSecrets::default(), start());
    let mut now = start();
    while now + 8 * HOUR <= start() + 64 * HOUR {
        now += 8 * HOUR;
        (_, s) = pass(&s, now);
    }
    let (pki, s) = pass(&s, start() + 73 * HOUR);
    assert_eq!(reasons(&pki), ["CertificateRenewed", "CertificateRenewed"]);
    s
}

#[test]
fn the_ca_rotates_in_three_steps_with_an_overlapping_bundle() {
    let s = until_rotation();
    let old_ca = ca(&s);
    let rotate_at = start() + 80 * HOUR;
    let (pki, s) = pass(&s, rotate_at - Duration::from_secs(1));
    assert!(pki.events.is_empty(), "{:?}", reasons(&pki));
    assert_eq!(pki.next_due, rotate_at);

    // Step 1: a new CA, trusted beside the old one; the certificates stay as they are.
    let (pki, s1) = pass(&s, rotate_at);
    assert_eq!(reasons(&pki), ["CARotationStarted"]);
    let new_ca = ca(&s1);
    assert_ne!(new_ca.der, old_ca.der);
    assert_eq!(new_ca.not_after, rotate_at + 100 * HOUR);
    let prev = certs::read_cert(&pem(&s1.ca, PREVIOUS_CRT)).unwrap();
    assert_eq!(prev.der, old_ca.der);
    let ann = &s1.ca.as_ref().unwrap().annotations;
    assert_eq!(ann[ANNOTATION_CA_ROTATION], "TrustNewCA");
    assert_eq!(ann[ANNOTATION_CA_ROTATION_SINCE], rotate_at.to_string());
    assert_eq!(pem(&s1.tls, TLS_CRT), pem(&s.tls, TLS_CRT), "no new certificate in step 1");
    assert_eq!(bundle_names(&s1.tls), [new_ca.common_name.clone().unwrap(), old_ca.common_name.clone().unwrap()]);
    assert_eq!(bundle_names(&s1.admin).len(), 2);
    assert!(pki.tls.write && pki.admin.write, "the bundle changed");
    let r = pki.status.ca_rotation.as_ref().unwrap();
    assert_eq!((r.step, r.phase.as_str(), r.since.clone()), (1, "TrustNewCA", rotate_at.to_string()));
    assert_eq!(pki.next_due, rotate_at + 5 * MINUTE);

    // Until the pods had the delay, nothing moves.
    let (pki, same) = pass(&s1, rotate_at + 5 * MINUTE - Duration::from_secs(1));
    assert!(pki.events.is_empty() && !pki.ca.write && !pki.tls.write);
    assert_eq!(same, s1);

    // Step 2: the certificates are re-issued by the new CA; the bundle still has both.
    let t2 = rotate_at + 5 * MINUTE;
    let (pki, s2) = pass(&s1, t2);
    assert_eq!(reasons(&pki), ["CARotationSigning", "CertificateRenewed", "CertificateRenewed"]);
    assert!(leaf(&s2.tls).signed_by(&new_ca) && leaf(&s2.admin).signed_by(&new_ca));
    assert!(!leaf(&s2.tls).signed_by(&old_ca));
    assert_eq!(bundle_names(&s2.tls).len(), 2);
    assert_eq!(s2.ca.as_ref().unwrap().annotations[ANNOTATION_CA_ROTATION], "SignWithNewCA");
    assert_eq!(pki.status.ca_rotation.as_ref().unwrap().step, 2);
    assert_eq!(pki.next_due, t2 + 5 * MINUTE);

    // A pass in between changes nothing.
    let (pki, same) = pass(&s2, t2 + MINUTE);
    assert!(pki.events.is_empty() && !pki.ca.write && !pki.tls.write && !pki.admin.write);
    assert_eq!(same, s2);

    // Step 3: the old CA leaves the bundle and the CA Secret.
    let t3 = t2 + 5 * MINUTE;
    let (pki, s3) = pass(&s2, t3);
    assert_eq!(reasons(&pki), ["CARotated"]);
    assert_eq!(bundle_names(&s3.tls), [new_ca.common_name.clone().unwrap()]);
    assert_eq!(bundle_names(&s3.admin), [new_ca.common_name.clone().unwrap()]);
    assert!(!s3.ca.as_ref().unwrap().data.contains_key(PREVIOUS_CRT));
    assert!(s3.ca.as_ref().unwrap().annotations.is_empty());
    assert_eq!(pem(&s3.tls, TLS_CRT), pem(&s2.tls, TLS_CRT), "no new certificate in step 3");
    assert_eq!(pki.status.ca_rotation, None);
    assert_eq!(pki.status.ca_not_after, Some(new_ca.not_after.to_string()));

    // And then it is quiet again.
    let (pki, _) = pass(&s3, t3 + MINUTE);
    assert!(pki.events.is_empty() && !pki.ca.write && !pki.tls.write && !pki.admin.write);
}

#[test]
fn a_certificate_needed_during_step_one_comes_from_the_new_ca_and_moves_to_step_two() {
    let s = until_rotation();
    let rotate_at = start() + 80 * HOUR;
    let (_, s1) = pass(&s, rotate_at + MINUTE);
    assert_eq!(s1.ca.as_ref().unwrap().annotations[ANNOTATION_CA_ROTATION], "TrustNewCA");
    let mut deleted = s1.clone();
    deleted.tls = None;
    let (pki, s2) = pass(&deleted, rotate_at + 2 * MINUTE);
    assert_eq!(reasons(&pki), ["CARotationSigning", "CertificateIssued", "CertificateRenewed"]);
    assert!(pki.events[0].note.contains("before the delay was over"), "{}", pki.events[0].note);
    assert!(leaf(&s2.tls).signed_by(&ca(&s2)) && leaf(&s2.admin).signed_by(&ca(&s2)));
    assert_eq!(s2.ca.as_ref().unwrap().annotations[ANNOTATION_CA_ROTATION], "SignWithNewCA");
    assert_eq!(bundle_names(&s2.tls).len(), 2, "the old CA stays trusted for the pods still using it");
}

#[test]
fn a_rotation_resumes_from_the_secrets_alone() {
    let rotate_at = start() + 80 * HOUR;
    let (_, s) = pass(&until_rotation(), rotate_at);
    assert_eq!(s.ca.as_ref().unwrap().annotations[ANNOTATION_CA_ROTATION], "TrustNewCA");
    // The step's annotations were lost (edited by hand): the rotation finishes safely, giving
    // the pods the delay from now.
    let mut lost = s.clone();
    lost.ca.as_mut().unwrap().annotations.clear();
    let (pki, s2) = pass(&lost, rotate_at + MINUTE);
    assert_eq!(s2.ca.as_ref().unwrap().annotations[ANNOTATION_CA_ROTATION], "SignWithNewCA");
    assert_eq!(s2.ca.as_ref().unwrap().annotations[ANNOTATION_CA_ROTATION_SINCE], (rotate_at + MINUTE).to_string());
    assert!(leaf(&s2.tls).signed_by(&ca(&s2)), "re-issued by the new CA");
    assert_eq!(pki.status.ca_rotation.as_ref().unwrap().step, 2);
    // A previous CA that expired is dropped at once.
    let (pki, s3) = pass(&s2, start() + 100 * HOUR + MINUTE);
    assert!(!s3.ca.as_ref().unwrap().data.contains_key(PREVIOUS_CRT));
    assert_eq!(pki.status.ca_rotation, None);
}

#[test]
fn a_users_annotation_rotates_the_ca_once_per_value() {
    // A ring created with the annotation already set: its new CA answers it.
    let (_, s) = pass_asked(&StoredSecrets::default(), Some("1"), start());
    assert_eq!(s.ca.as_ref().unwrap().annotations[ANNOTATION_CA_ROTATION_REQUEST], "1");
    let (pki, s) = pass_asked(&s, Some("1"), start() + HOUR);
    assert!(pki.events.is_empty(), "{:?}", reasons(&pki));

    // A new value starts a rotation long before the CA ages, and is remembered.
    let old_ca = ca(&s);
    let t1 = start() + 2 * HOUR;
    let (pki, s1) = pass_asked(&s, Some("2"), t1);
    assert_eq!(reasons(&pki), ["CARotationStarted"]);
    assert!(pki.events[0].note.contains("omring.io/rotate-ca=2"), "{}", pki.events[0].note);
    assert_ne!(ca(&s1).der, old_ca.der);
    let ann = &s1.ca.as_ref().unwrap().annotations;
    assert_eq!(
        (ann[ANNOTATION_CA_ROTATION].as_str(), ann[ANNOTATION_CA_ROTATION_REQUEST].as_str()),
        ("TrustNewCA", "2")
    );

    // The steps run as for an ageing CA; a value set meanwhile waits for the end.
    let (_, s2) = pass_asked(&s1, Some("3"), t1 + 5 * MINUTE);
    assert_eq!(s2.ca.as_ref().unwrap().annotations[ANNOTATION_CA_ROTATION], "SignWithNewCA");
    assert!(leaf(&s2.tls).signed_by(&ca(&s2)));
    let (pki, s3) = pass_asked(&s2, Some("3"), t1 + 10 * MINUTE);
    assert_eq!(reasons(&pki), ["CARotated"]);
    assert_eq!(s3.ca.as_ref().unwrap().annotations[ANNOTATION_CA_ROTATION_REQUEST], "2");
    let (pki, _) = pass_asked(&s3, Some("2"), t1 + 11 * MINUTE);
    assert!(pki.events.is_empty(), "the same value asks for nothing more: {:?}", reasons(&pki));
    let (pki, s4) = pass_asked(&s3, Some("3"), t1 + 11 * MINUTE);
    assert_eq!(reasons(&pki), ["CARotationStarted"], "the value set during the rotation, after it");
    assert_eq!(s4.ca.as_ref().unwrap().annotations[ANNOTATION_CA_ROTATION_REQUEST], "3");
}
