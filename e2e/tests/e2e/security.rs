//! Security on real Nodes, as the operator sets it up by default: TLS on the client and peer
//! ports with certificates from the ring's own CA, renewed by the operator and loaded by the
//! nodes from their Secret volume without a restart, under client load; and callers without a
//! principal, with another CA's certificate, or without the administrator role refused.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::common;
use crate::scenario::*;
use om_client::acl::OzoneAcl;
use om_client::tls::ReloadingCredentials;
use om_client::wire::{AclTarget, ErrorCode, ReadOp, WriteOp};
use om_client::{FailoverClient, RetryPolicy};
use omring_e2e::harness::{dns, ring, step, wait_for, Cluster, Load};
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair};

const NODES: [&str; 3] = ["om-0", "om-1", "om-2"];

async fn secret_key(cluster: &Cluster, secret: &str, key: &str) -> Result<Vec<u8>, String> {
    ring::secret_data(&cluster.client, NS, secret, key).await.map_err(|e| e.to_string())
}

/// When the certificate in `secret`'s tls.crt expires (seconds since the epoch).
async fn secret_not_after(cluster: &Cluster, secret: &str) -> Result<i64, String> {
    let pem = secret_key(cluster, secret, "tls.crt").await?;
    let (_, block) = x509_parser::pem::parse_x509_pem(&pem).map_err(|e| e.to_string())?;
    let cert = block.parse_x509().map_err(|e| e.to_string())?;
    Ok(cert.validity().not_after.timestamp())
}

/// Waits until every node serves the certificate that expires at `not_after`.
async fn wait_served(http: &reqwest::Client, not_after: i64, timeout: Duration) {
    let last = std::sync::Mutex::new(BTreeMap::new());
    wait_for(
        &format!("every node serves the certificate expiring at {not_after}"),
        timeout,
        Duration::from_secs(1),
        || async {
            let mut served = BTreeMap::new();
            for n in NODES {
                served.insert(n, node_metric(http, n, "om_tls_certificate_not_after_seconds").await? as i64);
            }
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            if *last != served {
                step(format!("certificate expiry each node serves: {served:?}"));
                *last = served.clone();
            }
            Ok(served.values().all(|v| *v == not_after).then_some(()))
        },
    )
    .await
    .expect("certificate served");
}

/// (uid, restarts) of the ring's pods.
async fn pod_lives(cluster: &Cluster) -> Vec<(String, i32)> {
    let mut lives = Vec::new();
    for n in NODES {
        let p = pod(cluster, n).await.expect("pod");
        lives.push((p.metadata.uid.clone().unwrap_or_default(), ring::restart_count(&p)));
    }
    lives
}

/// A client of the ring presenting `tls` (or plain HTTP when None), that gives up quickly.
async fn client_with(cluster: &Cluster, tls: Option<Arc<ReloadingCredentials>>) -> FailoverClient {
    let conf = ring::config_from_configmap(&cluster.client, NS, &format!("{RING}-config")).await.expect("config");
    let service = conf.service(None).expect("service");
    FailoverClient::builder(service)
        .tls(tls)
        .retry_policy(RetryPolicy { max_attempts: 6, wait_between_rounds: Duration::from_millis(200) })
        .request_timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(2))
        .resolver(Arc::new(dns::ClusterDns::new()))
        .build()
        .expect("client")
}

fn credentials(identity: Option<(&str, &str)>, ca_pem: &[u8]) -> Arc<ReloadingCredentials> {
    let identity = identity.map(|(c, k)| (c.as_bytes(), k.as_bytes()));
    ring::pem_credentials(identity, ca_pem, "e2e").expect("credentials")
}

/// A client certificate for `user` signed by the CA in (`ca_pem`, `ca_key_pem`): (cert, key).
fn user_certificate(user: &str, ca_pem: &str, ca_key_pem: &str) -> (String, String) {
    let ca_key = KeyPair::from_pem(ca_key_pem).expect("CA key");
    let issuer = Issuer::from_ca_cert_pem(ca_pem, ca_key).expect("CA");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.distinguished_name.push(DnType::CommonName, user);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().expect("key");
    let cert = p.signed_by(&key, &issuer).expect("sign");
    (cert.pem(), key.serialize_pem())
}

/// A CA of our own, not the ring's: its PEM and a client certificate it signed for `user`.
fn foreign_ca_certificate(user: &str) -> (String, String) {
    let ca_key = KeyPair::generate().expect("key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, "not the ring's CA");
    let ca = p.self_signed(&ca_key).expect("self-signed");
    user_certificate(user, &ca.pem(), &ca_key.serialize_pem())
}

/// Certificates that last 4 minutes and are renewed 3 minutes before expiry: the operator
/// renews both (node and admin) about a minute after issuing them, the kubelet updates the
/// Secret volume in the pods, and every node serves the new certificate without a restart,
/// while writes go on without a failure. Then the outsiders.
pub fn certificates_are_renewed_under_load_and_outsiders_are_refused() {
    common::run("tls renewal", Duration::from_secs(900), async {
        let (cluster, _op) = setup("tls", 3).await;
        let client = create_ring_with(&cluster, 3, &[], "  tls: {certificateDuration: 4m, renewBefore: 3m}\n").await;
        let tls_secret = format!("{RING}-tls");
        let http = dns::http_client().expect("http");
        let first = secret_not_after(&cluster, &tls_secret).await.expect("issued certificate");
        wait_served(&http, first, Duration::from_secs(60)).await;
        let lives = pod_lives(&cluster).await;
        let status_expiry = || async {
            let status = ring::omr_status(&cluster.client, NS, RING).await.expect("status");
            status["tls"]["nodeCertificateNotAfter"].as_str().unwrap_or_default().to_string()
        };
        let first_status = status_expiry().await;
        assert!(!first_status.is_empty(), "status.tls.nodeCertificateNotAfter is shown");
        let policy = cluster.kubectl(&["-n", NS, "get", "networkpolicy", RING, "-o", "jsonpath={.spec.ingress}"]).await;
        step(format!("NetworkPolicy {RING} ingress: {}", policy.expect("the ring's NetworkPolicy")));

        let load = Load::start(client.clone(), "e2e", "tls", 4).await.expect("load");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes");
        let renewed = wait_for(
            "the operator renewed the node certificate",
            Duration::from_secs(240),
            Duration::from_secs(1),
            || async {
                let now = secret_not_after(&cluster, &tls_secret).await?;
                Ok((now > first).then_some(now))
            },
        )
        .await
        .expect("renewed");
        step(format!("{tls_secret} renewed: expiry {first} -> {renewed}"));
        // The kubelet refreshes Secret volumes on its sync period (about a minute), the nodes
        // poll their files every 5 s.
        wait_served(&http, renewed, Duration::from_secs(180)).await;
        step("every node serves the renewed certificate");
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes after the renewal");
        assert_eq!(pod_lives(&cluster).await, lives, "no pod was restarted or recreated by the renewal");
        // The operator's own client certificate was renewed too and it still reaches the ring.
        let admin_renewed = secret_not_after(&cluster, &format!("{RING}-admin-tls")).await.expect("admin certificate");
        assert!(admin_renewed > first, "the admin certificate was renewed too: {admin_renewed} vs {first}");
        ring::wait_settled(&cluster.client, NS, RING, 3, Duration::from_secs(120)).await.expect("operator settled");
        let renewed_status = status_expiry().await;
        assert_ne!(renewed_status, first_status, "status.tls.nodeCertificateNotAfter follows the renewal");
        step(format!("status.tls.nodeCertificateNotAfter: {first_status} -> {renewed_status}"));

        // Outsiders.
        let ca = secret_key(&cluster, &tls_secret, "ca.crt").await.expect("CA bundle");
        let list = || ReadOp::ListVolumes { prefix: String::new(), start_after: String::new(), max: Some(10) };
        let plain = client_with(&cluster, None).await;
        let err = plain.read(list()).await.expect_err("plain HTTP to the TLS port");
        step(format!("plain HTTP: {err}"));
        let anonymous = client_with(&cluster, Some(credentials(None, &ca))).await;
        let err = anonymous.read(list()).await.expect_err("no certificate, no token");
        assert_eq!(err.code(), Some(ErrorCode::Unauthenticated), "{err}");
        step(format!("no certificate or token: {err}"));
        let (foreign_cert, foreign_key) = foreign_ca_certificate("mallory");
        let foreign = client_with(&cluster, Some(credentials(Some((&foreign_cert, &foreign_key)), &ca))).await;
        let err = foreign.read(list()).await.expect_err("another CA's certificate");
        step(format!("another CA's certificate: {err}"));
        let ca_pem = String::from_utf8(secret_key(&cluster, &format!("{RING}-ca"), "ca.crt").await.expect("CA cert"))
            .expect("PEM");
        let ca_key = String::from_utf8(secret_key(&cluster, &format!("{RING}-ca"), "ca.key").await.expect("CA key"))
            .expect("PEM");
        let (alice_cert, alice_key) = user_certificate("alice", &ca_pem, &ca_key);
        let alice = client_with(&cluster, Some(credentials(Some((&alice_cert, &alice_key)), &ca))).await;
        alice.read(list()).await.expect("alice, a user of the ring's CA, lists volumes");
        let err = alice.transfer_leader(None).await.expect_err("alice is no administrator");
        assert_eq!(err.code(), Some(ErrorCode::PermissionDenied), "{err}");
        step(format!("alice's leadership transfer: {err}"));

        // Ozone's native ACLs (ozone.acl.enabled, set by the operator): alice may not create a
        // volume, nor a bucket in the admin's volume until the admin grants her the right.
        let err = alice.write(WriteOp::create_volume("alices")).await.expect_err("only admins create volumes");
        assert_eq!(err.code(), Some(ErrorCode::PermissionDenied), "{err}");
        step(format!("alice creates a volume: {err}"));
        client.write(WriteOp::create_volume("shared")).await.expect("the admin creates volume shared");
        let err = alice.write(WriteOp::create_bucket("shared", "alices")).await.expect_err("no right on shared yet");
        assert_eq!(err.code(), Some(ErrorCode::PermissionDenied), "{err}");
        step(format!("alice creates a bucket in shared: {err}"));
        let target = AclTarget::Volume { volume: "shared".into() };
        client.add_acl(target.clone(), OzoneAcl::parse("user:alice:rwc").expect("ACL")).await.expect("addacl");
        alice.write(WriteOp::create_bucket("shared", "alices")).await.expect("alice's bucket after the grant");
        let acls = client.get_acl(AclTarget::Bucket { volume: "shared".into(), bucket: "alices".into() }).await;
        step(format!("shared/alices after user:alice:rwc on shared: ACLs {:?}", acls.expect("getacl")));

        finish_load(load, &client, true).await;
    });
}

pub fn trials() -> Vec<libtest_mimic::Trial> {
    vec![common::trial(
        "security::certificates_are_renewed_under_load_and_outsiders_are_refused",
        certificates_are_renewed_under_load_and_outsiders_are_refused,
    )]
}
