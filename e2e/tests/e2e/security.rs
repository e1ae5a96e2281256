//! Security on real Nodes, as the operator sets it up by default: TLS on the client and peer
//! ports with certificates from the ring's own CA, renewed by the operator and loaded by the
//! nodes from their Secret volume without a restart, under client load; a CA rotation; and
//! callers without a principal, with another CA's certificate, a forged token, or without the
//! administrator role (a user certificate, a ServiceAccount token) refused.

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

pub(crate) async fn secret_key(cluster: &Cluster, secret: &str, key: &str) -> Result<Vec<u8>, String> {
    ring::secret_data(&cluster.client, NS, secret, key).await.map_err(|e| e.to_string())
}

/// When the certificate in `secret`'s tls.crt expires (seconds since the epoch).
pub(crate) async fn secret_not_after(cluster: &Cluster, secret: &str) -> Result<i64, String> {
    let pem = secret_key(cluster, secret, "tls.crt").await?;
    let (_, block) = x509_parser::pem::parse_x509_pem(&pem).map_err(|e| e.to_string())?;
    let cert = block.parse_x509().map_err(|e| e.to_string())?;
    Ok(cert.validity().not_after.timestamp())
}

/// Waits until every node serves the certificate that expires at `not_after`.
pub(crate) async fn wait_served(http: &reqwest::Client, not_after: i64, timeout: Duration) {
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
pub(crate) async fn pod_lives(cluster: &Cluster) -> Vec<(String, i32)> {
    let mut lives = Vec::new();
    for n in NODES {
        let p = pod(cluster, n).await.expect("pod");
        lives.push((p.metadata.uid.clone().unwrap_or_default(), ring::restart_count(&p)));
    }
    lives
}

/// A client of the ring presenting `tls` (or plain HTTP when None), that gives up quickly.
pub(crate) async fn client_with(cluster: &Cluster, tls: Option<Arc<ReloadingCredentials>>) -> FailoverClient {
    client_with_token(cluster, tls, None).await
}

/// As [`client_with`], sending `token` as a bearer token.
async fn client_with_token(
    cluster: &Cluster,
    tls: Option<Arc<ReloadingCredentials>>,
    token: Option<String>,
) -> FailoverClient {
    let conf = ring::config_from_configmap(&cluster.client, NS, &format!("{RING}-config")).await.expect("config");
    let service = conf.service(None).expect("service");
    FailoverClient::builder(service)
        .tls(tls)
        .bearer_token(token)
        .retry_policy(RetryPolicy { max_attempts: 6, wait_between_rounds: Duration::from_millis(200) })
        .request_timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(2))
        .resolver(Arc::new(dns::ClusterDns::new()))
        .build()
        .expect("client")
}

pub(crate) fn credentials(identity: Option<(&str, &str)>, ca_pem: &[u8]) -> Arc<ReloadingCredentials> {
    let identity = identity.map(|(c, k)| (c.as_bytes(), k.as_bytes()));
    ring::pem_credentials(identity, ca_pem, "e2e").expect("credentials")
}

/// A client certificate for `user` signed by the CA in (`ca_pem`, `ca_key_pem`): (cert, key).
pub(crate) fn user_certificate(user: &str, ca_pem: &str, ca_key_pem: &str) -> (String, String) {
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

/// `matchLabels` of a label selector as kubectl's `-l` form.
fn selector(v: &serde_json::Value) -> String {
    let labels = v["matchLabels"].as_object().cloned().unwrap_or_default();
    labels.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(",")
}

/// Names of the pods in `ns` that `-l sel` selects.
async fn selected(cluster: &Cluster, ns: &str, sel: &str) -> Vec<String> {
    let out = cluster.kubectl(&["-n", ns, "get", "pods", "-l", sel, "-o", "name"]).await.expect("kubectl get pods");
    out.lines().map(|l| l.trim_start_matches("pod/").to_string()).collect()
}

/// The ring's NetworkPolicy as the API server holds it: its selectors pick exactly the ring's
/// pods and the operator's, and the Raft port admits only the ring's own pods.
async fn check_network_policy(cluster: &Cluster) {
    let json = cluster.kubectl(&["-n", NS, "get", "networkpolicy", RING, "-o", "json"]).await.expect("NetworkPolicy");
    let np: serde_json::Value = serde_json::from_str(&json).expect("NetworkPolicy JSON");
    let spec = &np["spec"];
    assert_eq!(spec["policyTypes"], serde_json::json!(["Ingress"]), "{spec}");
    let mut ring_pods = selected(cluster, NS, &selector(&spec["podSelector"])).await;
    ring_pods.sort();
    assert_eq!(ring_pods, NODES, "the policy applies to the ring's pods: {spec}");
    let rules = spec["ingress"].as_array().cloned().unwrap_or_default();
    let raft: Vec<_> = rules.iter().filter(|r| r["ports"][0]["port"] == RAFT_PORT).collect();
    assert_eq!(raft.len(), 1, "one rule for the Raft port: {spec}");
    let from = raft[0]["from"].as_array().cloned().unwrap_or_default();
    assert_eq!(from.len(), 1, "the Raft port admits one kind of peer: {spec}");
    assert!(from[0].get("namespaceSelector").is_none(), "only from the ring's namespace: {spec}");
    let mut peers = selected(cluster, NS, &selector(&from[0]["podSelector"])).await;
    peers.sort();
    assert_eq!(peers, NODES, "the Raft port admits the ring's pods and no others: {spec}");
    let operator = rules.iter().find(|r| r.get("ports").is_none()).expect("a rule for the operator");
    let peer = &operator["from"][0];
    let ns = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"].as_str().expect("namespace");
    let op_pods = selected(cluster, ns, &selector(&peer["podSelector"])).await;
    assert_eq!(op_pods.len(), 2, "the operator rule selects the operator's 2 pods: {op_pods:?}");
    step(format!("NetworkPolicy {RING}: applies to {ring_pods:?}; Raft port from {peers:?} only; every port from operator pods {op_pods:?} in {ns}"));
}

/// Certificates that last 4 minutes and are renewed 3 minutes before expiry: the operator
/// renews both (node and admin) about a minute after issuing them, the kubelet updates the
/// Secret volume in the pods, and every node serves the new certificate without a restart,
/// while writes go on without a failure. Then a CA rotation a user asks for, under the same
/// load, after which a certificate of the old CA is refused. Then the outsiders.
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
        check_network_policy(&cluster).await;

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

        // A CA rotation asked for by a user, under the same load: the new CA joins the trust
        // bundle, then signs the certificates, then the old one leaves, without a restart.
        let ca_secret = format!("{RING}-ca");
        let ca_text = |key: &'static str| {
            let cluster = &cluster;
            let ca_secret = &ca_secret;
            async move { String::from_utf8(secret_key(cluster, ca_secret, key).await?).map_err(|e| e.to_string()) }
        };
        let (old_ca, old_ca_key) = (ca_text("ca.crt").await.expect("CA"), ca_text("ca.key").await.expect("CA key"));
        let (bob_cert, bob_key) = user_certificate("bob", &old_ca, &old_ca_key);
        let annotate = ["-n", NS, "annotate", "omr", RING, "omring.io/rotate-ca=e2e-1", "--overwrite"];
        cluster.kubectl(&annotate).await.expect("kubectl annotate omring.io/rotate-ca");
        let phase = std::sync::Mutex::new(String::new());
        let new_ca =
            wait_for("the operator rotated the CA", Duration::from_secs(420), Duration::from_secs(1), || async {
                let status = ring::omr_status(&cluster.client, NS, RING).await.map_err(|e| e.to_string())?;
                let now = status["tls"]["caRotation"]["phase"].as_str().unwrap_or("none").to_string();
                {
                    let mut seen = phase.lock().unwrap_or_else(|e| e.into_inner());
                    if *seen != now {
                        step(format!("status.tls.caRotation: {now}"));
                        *seen = now.clone();
                    }
                }
                let ca = ca_text("ca.crt").await?;
                let bundle =
                    String::from_utf8(secret_key(&cluster, &tls_secret, "ca.crt").await?).map_err(|e| e.to_string())?;
                Ok((ca != old_ca && now == "none" && bundle == ca).then_some(ca))
            })
            .await
            .expect("CA rotated");
        step("the CA rotated: the bundle holds only the new CA");
        // The nodes load the last bundle from their Secret volume: then a certificate of the
        // old CA no longer passes on new connections (a fresh client each time: connections
        // opened before keep the identity they were opened with), and the new CA's
        // certificates are served.
        let list =
            || ReadOp::ListVolumes { prefix: String::new(), start_after: String::new(), max: Some(10), owner: None };
        let refused = wait_for(
            "every node refuses a client certificate of the old CA",
            Duration::from_secs(180),
            Duration::from_secs(2),
            || async {
                let bob =
                    client_with(&cluster, Some(credentials(Some((&bob_cert, &bob_key)), new_ca.as_bytes()))).await;
                for n in NODES {
                    let at = bob.nodes().iter().find(|a| a.node_id == n).cloned().ok_or("no such node")?;
                    if bob.read_stale_from(&at, list()).await.is_ok() {
                        return Ok(None);
                    }
                }
                Ok(Some(bob.read(list()).await.expect_err("refused")))
            },
        )
        .await
        .expect("old CA distrusted");
        step(format!("a certificate of the old CA after the rotation: {refused}"));
        let served = secret_not_after(&cluster, &tls_secret).await.expect("node certificate");
        wait_served(&http, served, Duration::from_secs(180)).await;
        load.wait_progress(50, Duration::from_secs(30)).await.expect("writes after the CA rotation");
        assert_eq!(pod_lives(&cluster).await, lives, "no pod was restarted or recreated by the CA rotation");

        // Outsiders.
        let ca = secret_key(&cluster, &tls_secret, "ca.crt").await.expect("CA bundle");
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

        // A Kubernetes ServiceAccount's token, which the nodes check with TokenReview (the
        // operator binds system:auth-delegator to the ring's ServiceAccount): carol reads, but
        // is no administrator.
        cluster.kubectl(&["-n", NS, "create", "serviceaccount", "carol"]).await.expect("ServiceAccount carol");
        let token = cluster.kubectl(&["-n", NS, "create", "token", "carol", "--duration=10m"]).await.expect("token");
        let carol = client_with_token(&cluster, Some(credentials(None, &ca)), Some(token.trim().to_string())).await;
        carol.read(list()).await.expect("carol's ServiceAccount token is accepted");
        let err = carol.transfer_leader(None).await.expect_err("carol is no administrator");
        assert_eq!(err.code(), Some(ErrorCode::PermissionDenied), "{err}");
        assert!(err.to_string().contains("system:serviceaccount:rings:carol"), "the refusal names carol: {err}");
        step(format!("ServiceAccount carol's leadership transfer: {err}"));
        let forged =
            client_with_token(&cluster, Some(credentials(None, &ca)), Some(format!("{}x", token.trim()))).await;
        let err = forged.read(list()).await.expect_err("a forged token");
        assert_eq!(err.code(), Some(ErrorCode::Unauthenticated), "{err}");
        step(format!("a forged token: {err}"));

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

        // The TokenReview binding is cluster-scoped: the ring's finalizer has it deleted with
        // the ring.
        let binding = format!("omring:{NS}:{RING}:token-review");
        cluster.kubectl(&["get", "clusterrolebinding", &binding]).await.expect("the TokenReview binding");
        cluster.kubectl(&["-n", NS, "delete", "omr", RING, "--timeout=120s"]).await.expect("ring deleted");
        let left = cluster.kubectl(&["get", "clusterrolebinding", &binding, "--ignore-not-found", "-o", "name"]).await;
        assert_eq!(left.expect("kubectl get").trim(), "", "{binding} went with the ring");
        step(format!("ring deleted; ClusterRoleBinding {binding} deleted by the operator first"));
    });
}

pub fn trials() -> Vec<libtest_mimic::Trial> {
    vec![common::trial(
        "security::certificates_are_renewed_under_load_and_outsiders_are_refused",
        certificates_are_renewed_under_load_and_outsiders_are_refused,
    )]
}
