//! Reconcile with security on (the default) against the in-memory API server and a fake ring
//! with a fake clock: the Secrets a first reconcile creates, renewal in place without a
//! restart, the operator's own credentials, the NetworkPolicy, and switching TLS on or off.

use std::time::Duration;

use http::Method;
use kube::runtime::controller::Action;
use serde_json::json;

use crate::context::Timing;
use crate::names::ANNOTATION_POD_SPEC_HASH;
use crate::ringclient::RingCredentials;
use crate::siteconfig::Membership;
use crate::testing::{secret_path, world, world_with, CM, RING, STS};

const NP: &str = "/apis/networking.k8s.io/v1/namespaces/ns/networkpolicies/om";
const MINUTE: Duration = Duration::from_secs(60);

fn cert_of(w: &crate::testing::World, secret: &str) -> crate::certs::CertInfo {
    let data = w.secret_data(secret).unwrap();
    crate::certs::read_cert(std::str::from_utf8(&data["tls.crt"]).unwrap()).unwrap()
}

#[tokio::test]
async fn a_new_ring_gets_its_secrets_before_its_config_and_a_network_policy_after_its_pods() {
    let w = world(3);
    w.reconcile().await.unwrap();
    let writes: Vec<String> = w.api.writes().into_iter().filter(|x| !x.ends_with("/events")).collect();
    assert_eq!(
        writes,
        [
            "PATCH /api/v1/namespaces/ns/serviceaccounts/om",
            "PATCH /apis/omring.io/v1alpha1/namespaces/ns/ozonemanagerrings/om",
            "PATCH /apis/rbac.authorization.k8s.io/v1/clusterrolebindings/omring:ns:om:token-review",
            "PATCH /api/v1/namespaces/ns/secrets/om-ca",
            "PATCH /api/v1/namespaces/ns/secrets/om-tls",
            "PATCH /api/v1/namespaces/ns/secrets/om-admin-tls",
            "PATCH /api/v1/namespaces/ns/configmaps/om-config",
            "PATCH /api/v1/namespaces/ns/services/om-headless",
            "PATCH /api/v1/namespaces/ns/services/om",
            "PATCH /apis/apps/v1/namespaces/ns/statefulsets/om",
            "PATCH /apis/policy/v1/namespaces/ns/poddisruptionbudgets/om-leader",
            "PATCH /apis/policy/v1/namespaces/ns/poddisruptionbudgets/om-followers",
            "PATCH /apis/networking.k8s.io/v1/namespaces/ns/networkpolicies/om",
            "PATCH /apis/omring.io/v1alpha1/namespaces/ns/ozonemanagerrings/om/status",
        ]
    );
    // The Secrets: typed, owned by the ring (they go with it), holding what the contract says.
    for (name, type_, keys) in [
        ("om-ca", "Opaque", vec!["ca.crt", "ca.key"]),
        ("om-tls", "kubernetes.io/tls", vec!["ca.crt", "tls.crt", "tls.key"]),
        ("om-admin-tls", "kubernetes.io/tls", vec!["ca.crt", "tls.crt", "tls.key"]),
    ] {
        let s = w.api.get(&secret_path(name)).unwrap();
        assert_eq!(s["type"], type_, "{name}");
        assert_eq!(s["metadata"]["ownerReferences"][0]["uid"], "ring-uid", "{name}");
        assert_eq!(s["metadata"]["labels"]["app.kubernetes.io/instance"], "om", "{name}");
        assert_eq!(w.secret_data(name).unwrap().keys().map(String::as_str).collect::<Vec<_>>(), keys, "{name}");
    }
    assert_eq!(cert_of(&w, "om-tls").common_name.as_deref(), Some("om-node"));
    assert_eq!(cert_of(&w, "om-admin-tls").common_name.as_deref(), Some("omring-operator"));
    let events = w.events();
    assert_eq!(&events[..3], ["CAIssued", "CertificateIssued", "CertificateIssued"]);

    // The configuration turns security on; the pods mount the node certificate.
    let xml = w.api.get(CM).unwrap()["data"]["ozone-site.xml"].as_str().unwrap().to_string();
    for key in ["ozone.security.enabled", "hdds.grpc.tls.enabled", "omring.tls.certificate.file"] {
        assert!(xml.contains(key), "{key}");
    }
    let sts = w.api.get(STS).unwrap();
    let volumes = sts["spec"]["template"]["spec"]["volumes"].as_array().unwrap().clone();
    assert!(volumes.iter().any(|v| v["secret"]["secretName"] == "om-tls"));
    assert_eq!(sts["spec"]["template"]["metadata"]["annotations"]["omring.io/tls"], "true");

    // The status shows when the certificates expire.
    let tls = &w.status()["tls"];
    assert_eq!(tls["nodeCertificateNotAfter"], cert_of(&w, "om-tls").not_after.to_string());
    assert_eq!(tls["adminCertificateNotAfter"], cert_of(&w, "om-admin-tls").not_after.to_string());
    assert!(tls["caNotAfter"].is_string() && tls["renewalTime"].is_string());
    assert!(tls.get("caRotation").is_none());
    assert!(w.api.get(NP).is_some());
}

#[tokio::test]
async fn the_operator_asks_the_ring_with_its_own_certificate() {
    let w = world(3);
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    // The ring refuses anyone without a client certificate.
    w.ring.require_credentials(true);
    w.reconcile().await.unwrap();
    let secret: k8s_openapi::api::core::v1::Secret =
        serde_json::from_value(w.api.get(&secret_path("om-admin-tls")).unwrap()).unwrap();
    assert_eq!(w.ring.last_credentials(), Some(Some(RingCredentials::from_secret(&secret).unwrap())));
    assert_eq!(w.condition("Available")["status"], "True");
    assert_eq!(w.status()["leader"], "om-0");
}

#[tokio::test]
async fn certificates_are_renewed_in_place_on_time_without_restarting_pods() {
    let w = world_with(json!({"replicas": 3, "tls": {"certificateDuration": "10m", "renewBefore": "2m"}}));
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    let before = cert_of(&w, "om-tls");
    let hash = w.api.get(STS).unwrap()["spec"]["template"]["metadata"]["annotations"][ANNOTATION_POD_SPEC_HASH].clone();

    // Idle: nothing is written, and the reconcile comes back in the steady period.
    w.api.clear_log();
    assert_eq!(w.reconcile().await.unwrap(), Action::requeue(Timing::default().steady_requeue));
    assert!(!w.api.writes().iter().any(|x| x.contains("/secrets/")), "{:?}", w.api.writes());

    // Three seconds before the renewal is due, the reconcile comes back exactly then.
    w.clock.advance(8 * MINUTE - Duration::from_secs(3));
    assert_eq!(w.reconcile().await.unwrap(), Action::requeue(Duration::from_secs(3)));

    // When it is due: both certificates are rewritten in place, the CA is not, nothing restarts.
    w.clock.advance(Duration::from_secs(3));
    w.api.clear_log();
    w.reconcile().await.unwrap();
    let secret_writes: Vec<String> = w.api.writes().into_iter().filter(|x| x.contains("/secrets/")).collect();
    assert_eq!(
        secret_writes,
        ["PATCH /api/v1/namespaces/ns/secrets/om-tls", "PATCH /api/v1/namespaces/ns/secrets/om-admin-tls"]
    );
    // The update carries the resourceVersion it read.
    let patch =
        w.api.log().into_iter().find(|l| l.method != Method::GET && l.path.ends_with("/secrets/om-tls")).unwrap();
    assert!(patch.body.unwrap()["metadata"]["resourceVersion"].is_string());
    let after = cert_of(&w, "om-tls");
    assert_eq!(after.not_after, w.clock_now() + 10 * MINUTE);
    assert!(after.not_after > before.not_after);
    assert!(w.events().iter().filter(|e| *e == "CertificateRenewed").count() == 2, "{:?}", w.events());
    assert!(!w.api.writes().iter().any(|x| x.starts_with("DELETE")), "no pod restarts: {:?}", w.api.writes());
    assert_eq!(w.api.get(STS).unwrap()["spec"]["template"]["metadata"]["annotations"][ANNOTATION_POD_SPEC_HASH], hash);
    assert_eq!(w.status()["tls"]["nodeCertificateNotAfter"], after.not_after.to_string());
    // The pods keep their template: the planner sees nothing to roll.
    assert_eq!(w.condition("Progressing")["reason"], "Stable");
}

#[tokio::test]
async fn a_secret_changed_meanwhile_is_not_overwritten() {
    let w = world_with(json!({"replicas": 3, "tls": {"certificateDuration": "10m", "renewBefore": "2m"}}));
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    w.clock.advance(9 * MINUTE);
    // Someone writes the Secret between the operator's read and its write.
    w.api.fail(Method::PATCH, "/secrets/om-tls", 409, 1);
    let err = w.reconcile().await.unwrap_err();
    assert!(err.to_string().contains("applying Secret om-tls"), "{err}");
    // The next reconcile decides again from what is there.
    w.reconcile().await.unwrap();
    assert_eq!(cert_of(&w, "om-tls").not_after, w.clock_now() + 10 * MINUTE);
}

#[tokio::test]
async fn a_deleted_secret_is_issued_again() {
    let w = world(3);
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    let ca_before = w.secret_data("om-ca").unwrap();
    w.api.remove(&secret_path("om-tls"));
    w.reconcile().await.unwrap();
    assert!(w.events().contains(&"CertificateIssued".to_string()), "{:?}", w.events());
    assert_eq!(w.secret_data("om-ca").unwrap(), ca_before, "the CA stays");
    let ca = crate::certs::read_cert(std::str::from_utf8(&ca_before["ca.crt"]).unwrap()).unwrap();
    assert!(cert_of(&w, "om-tls").signed_by(&ca));
}

#[tokio::test]
async fn without_tls_nothing_is_mounted_and_the_ring_is_asked_in_plaintext() {
    let w = world_with(json!({"replicas": 3, "tls": {"enabled": false}}));
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    w.reconcile().await.unwrap();
    assert!(w.api.get(&secret_path("om-ca")).is_none());
    assert_eq!(w.ring.last_credentials(), Some(None));
    let xml = w.api.get(CM).unwrap()["data"]["ozone-site.xml"].as_str().unwrap().to_string();
    assert!(!xml.contains("ozone.security.enabled"));
    assert!(w.status().get("tls").is_none());
    assert_eq!(w.condition("Progressing")["reason"], "Stable");
}

#[tokio::test]
async fn switching_tls_on_restarts_every_pod_at_once() {
    let w = world_with(json!({"replicas": 3, "tls": {"enabled": false}}));
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    w.reconcile().await.unwrap();
    let mut cr = w.api.get(RING).unwrap();
    cr["spec"]["tls"] = json!({"enabled": true});
    w.api.insert(RING, cr);
    w.api.clear_log();
    w.reconcile().await.unwrap();
    let deletes: Vec<String> = w.api.writes().into_iter().filter(|x| x.starts_with("DELETE")).collect();
    assert_eq!(
        deletes,
        [
            "DELETE /api/v1/namespaces/ns/pods/om-0",
            "DELETE /api/v1/namespaces/ns/pods/om-1",
            "DELETE /api/v1/namespaces/ns/pods/om-2"
        ]
    );
    // The certificates and the new template were there before the pods went.
    let first_delete = w.api.log().iter().position(|l| l.method == Method::DELETE).unwrap();
    let secret_write = w.api.log().iter().position(|l| l.path.ends_with("/secrets/om-tls")).unwrap();
    let sts_write = w.api.log().iter().position(|l| l.path.ends_with("/statefulsets/om")).unwrap();
    assert!(secret_write < first_delete && sts_write < first_delete);
    assert!(w.events().contains(&"TransportSwitch".to_string()));
    assert_eq!(w.condition("Progressing")["reason"], "SwitchingTransport");
    assert_eq!(w.status()["readyReplicas"], 0);
}

#[tokio::test]
async fn a_disabled_network_policy_is_swept() {
    let w = world(3);
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    w.reconcile().await.unwrap();
    assert!(w.api.get(NP).is_some());
    let mut cr = w.api.get(RING).unwrap();
    cr["spec"]["networkPolicy"] = json!({"enabled": false});
    w.api.insert(RING, cr);
    w.reconcile().await.unwrap();
    assert!(w.api.get(NP).is_none());
    assert!(w.api.writes().contains(&format!("DELETE {NP}")));
}

const CRB: &str = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/omring:ns:om:token-review";

#[tokio::test]
async fn a_secure_ring_binds_token_review_and_its_finalizer_removes_the_binding_on_deletion() {
    let w = world(3);
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    w.reconcile().await.unwrap();
    let crb = w.api.get(CRB).expect("the TokenReview binding");
    assert_eq!(crb["roleRef"]["name"], "system:auth-delegator");
    assert_eq!(crb["subjects"], json!([{"kind": "ServiceAccount", "name": "om", "namespace": "ns"}]));
    assert_eq!(w.api.get(RING).unwrap()["metadata"]["finalizers"], json!(["omring.io/cluster-objects"]));
    let sts = w.api.get(STS).unwrap();
    assert_eq!(sts["spec"]["template"]["spec"]["automountServiceAccountToken"], true);
    // A second pass writes no finalizer again.
    w.api.clear_log();
    w.reconcile().await.unwrap();
    assert!(!w.api.writes().contains(&format!("PATCH {RING}")), "{:?}", w.api.writes());

    // Deletion: the binding goes, then the finalizer, another's finalizer stays.
    let mut cr = w.api.get(RING).unwrap();
    cr["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    cr["metadata"]["finalizers"] = json!(["example.com/other", "omring.io/cluster-objects"]);
    w.api.insert(RING, cr);
    w.api.clear_log();
    assert_eq!(w.reconcile().await.unwrap(), Action::await_change());
    assert_eq!(w.api.writes(), [format!("DELETE {CRB}"), format!("PATCH {RING}")]);
    assert!(w.api.get(CRB).is_none());
    assert_eq!(w.api.get(RING).unwrap()["metadata"]["finalizers"], json!(["example.com/other"]));
}

#[tokio::test]
async fn turning_security_off_removes_the_binding_and_the_finalizer() {
    let w = world(3);
    w.running(Membership::first(3), 3);
    w.ring.healthy("om", &[0, 1, 2], 0, 42);
    w.reconcile().await.unwrap();
    assert!(w.api.get(CRB).is_some());
    let mut cr = w.api.get(RING).unwrap();
    cr["spec"]["tls"] = json!({"enabled": false});
    w.api.insert(RING, cr);
    w.reconcile().await.unwrap();
    assert!(w.api.get(CRB).is_none());
    assert_eq!(w.api.get(RING).unwrap()["metadata"]["finalizers"], json!([]));
    let sts = w.api.get(STS).unwrap();
    assert_eq!(sts["spec"]["template"]["spec"]["automountServiceAccountToken"], false);
}
