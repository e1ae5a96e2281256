//! A ring whose certificates come from cert-manager (`spec.tls.issuerRef`), with cert-manager's
//! own controllers (harness::certmanager): a self-signed ClusterIssuer makes a CA, a CA
//! ClusterIssuer signs the ring's certificates; the ring becomes Ready, clients of that CA
//! reach it over TLS, a forced re-issue under load is loaded by the nodes without a restart or
//! a failed write, and deleting the ring takes its Certificates and Secrets along.

use std::time::Duration;

use crate::common;
use crate::scenario::*;
use crate::security::{
    client_with, credentials, pod_lives, secret_key, secret_not_after, user_certificate, wait_served,
};
use om_client::wire::ReadOp;
use omring_e2e::harness::certmanager::{CertManager, NAMESPACE as CM_NAMESPACE};
use omring_e2e::harness::{dns, ring, step, wait_for, Load};

const ISSUERS: &str = "apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: e2e-selfsigned}
spec: {selfSigned: {}}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: e2e-ring-ca, namespace: cert-manager}
spec:
  isCA: true
  commonName: e2e ring CA
  secretName: e2e-ring-ca
  privateKey: {algorithm: ECDSA, size: 256, encoding: PKCS8}
  issuerRef: {name: e2e-selfsigned, kind: ClusterIssuer, group: cert-manager.io}
---
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata: {name: e2e-ring-ca}
spec: {ca: {secretName: e2e-ring-ca}}
";

/// `status.tls` field `field` as seconds since the epoch.
async fn status_time(cluster: &omring_e2e::harness::Cluster, field: &str) -> Result<i64, String> {
    let status = ring::omr_status(&cluster.client, NS, RING).await.map_err(|e| e.to_string())?;
    let text = status["tls"][field].as_str().ok_or(format!("no status.tls.{field}"))?.to_string();
    let t: k8s_openapi::jiff::Timestamp = text.parse().map_err(|e| format!("status.tls.{field} {text}: {e}"))?;
    Ok(t.as_second())
}

pub fn a_ring_takes_its_certificates_from_cert_manager() {
    common::run("cert-manager", Duration::from_secs(900), async {
        let (cluster, _op) = setup("cert-manager", 3).await;
        let cm = CertManager::start(&cluster).await.expect("cert-manager");
        cluster.apply(ISSUERS).await.expect("issuers");
        cm.wait_ready(&cluster, "clusterissuer", None, "e2e-selfsigned").await.expect("self-signed issuer");
        cm.wait_ready(&cluster, "certificate", Some(CM_NAMESPACE), "e2e-ring-ca").await.expect("CA certificate");
        cm.wait_ready(&cluster, "clusterissuer", None, "e2e-ring-ca").await.expect("CA issuer");
        step("cert-manager: self-signed ClusterIssuer -> CA Certificate -> CA ClusterIssuer e2e-ring-ca");

        let spec =
            "  tls: {issuerRef: {name: e2e-ring-ca, kind: ClusterIssuer}, certificateDuration: 2h, renewBefore: 1h}\n";
        let client = create_ring_with(&cluster, 3, &[], spec).await;
        let tls_secret = format!("{RING}-tls");
        let status = ring::omr_status(&cluster.client, NS, RING).await.expect("status");
        assert_eq!(status["tls"]["issuer"], "ClusterIssuer e2e-ring-ca (cert-manager.io)", "{status}");
        let ready = status["conditions"].as_array().into_iter().flatten().find(|c| c["type"] == "CertificatesReady");
        assert_eq!(ready.map(|c| c["status"].clone()), Some("True".into()), "{status}");
        let ca_secret = format!("{RING}-ca");
        let none = cluster.kubectl(&["-n", NS, "get", "secret", &ca_secret, "--ignore-not-found", "-o", "name"]).await;
        assert_eq!(none.expect("kubectl get").trim(), "", "no CA of the ring's own");
        let first = secret_not_after(&cluster, &tls_secret).await.expect("issued certificate");
        assert_eq!(status_time(&cluster, "nodeCertificateNotAfter").await, Ok(first), "status.tls follows the Secret");
        let http = dns::http_client().expect("http");
        wait_served(&http, first, Duration::from_secs(120)).await;

        // A user certificate from the same CA reaches every node over TLS.
        let ca_text = |key: &'static str| {
            let client = cluster.client.clone();
            async move {
                let bytes =
                    ring::secret_data(&client, CM_NAMESPACE, "e2e-ring-ca", key).await.expect("the CA's Secret");
                String::from_utf8(bytes).expect("PEM")
            }
        };
        let (ca_pem, ca_key) = (ca_text("tls.crt").await, ca_text("tls.key").await);
        let bundle = secret_key(&cluster, &tls_secret, "ca.crt").await.expect("ca.crt");
        assert_eq!(String::from_utf8_lossy(&bundle), ca_pem, "the trust bundle is the issuer's CA");
        let (alice_cert, alice_key) = user_certificate("alice", &ca_pem, &ca_key);
        let alice = client_with(&cluster, Some(credentials(Some((&alice_cert, &alice_key)), &bundle))).await;
        let list =
            || ReadOp::ListVolumes { prefix: String::new(), start_after: String::new(), max: Some(10), owner: None };
        alice.read(list()).await.expect("alice, with a certificate of the issuer's CA, reads");

        // A forced re-issue under load: the Secret is deleted, cert-manager writes a new one,
        // the nodes load it from their volume; no restart, no failed write.
        let lives = pod_lives(&cluster).await;
        let load = Load::start(client.clone(), "e2e", "cert-manager", 4).await.expect("load");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes");
        cluster.kubectl(&["-n", NS, "delete", "secret", &tls_secret]).await.expect("delete the Secret");
        let reissued = wait_for(
            "cert-manager re-issued the node certificate",
            Duration::from_secs(120),
            Duration::from_secs(1),
            || async {
                let now = secret_not_after(&cluster, &tls_secret).await?;
                Ok((now > first).then_some(now))
            },
        )
        .await
        .expect("re-issued");
        step(format!("{tls_secret} re-issued by cert-manager: expiry {first} -> {reissued}"));
        wait_served(&http, reissued, Duration::from_secs(180)).await;
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes after the re-issue");
        assert_eq!(pod_lives(&cluster).await, lives, "no pod was restarted or recreated by the re-issue");
        wait_for("status.tls follows the re-issue", Duration::from_secs(60), Duration::from_secs(1), || async {
            Ok((status_time(&cluster, "nodeCertificateNotAfter").await? == reissued).then_some(()))
        })
        .await
        .expect("status follows");
        finish_load(load, &client, true).await;

        // The ring goes with its Certificates and the Secrets cert-manager wrote.
        cluster.kubectl(&["-n", NS, "delete", "omr", RING, "--timeout=120s"]).await.expect("ring deleted");
        wait_for(
            "the ring's Certificates and Secrets are gone",
            Duration::from_secs(120),
            Duration::from_secs(1),
            || async {
                let get = |kind: &'static str| {
                    let cluster = &cluster;
                    async move {
                        let out = cluster.kubectl(&["-n", NS, "get", kind, "-l", SELECTOR, "-o", "name"]).await;
                        out.map(|o| o.trim().to_string()).map_err(|e| e.to_string())
                    }
                };
                let left = format!("{} {}", get("certificates.cert-manager.io").await?, get("secrets").await?);
                Ok(left.trim().is_empty().then_some(()).or_else(|| {
                    step(format!("still there: {left}"));
                    None
                }))
            },
        )
        .await
        .expect("cleaned up");
        cluster.kubectl(&["delete", "clusterissuer", "e2e-ring-ca", "e2e-selfsigned"]).await.expect("issuers deleted");
        drop(cm);
        step("ring, Certificates and Secrets deleted; cert-manager stopped");
    });
}

pub fn trials() -> Vec<libtest_mimic::Trial> {
    vec![common::trial(
        "certmanager::a_ring_takes_its_certificates_from_cert_manager",
        a_ring_takes_its_certificates_from_cert_manager,
    )]
}
