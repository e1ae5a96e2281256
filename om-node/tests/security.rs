//! A ring with security on, driven through the CLI and raw TLS connections: TLS on every port,
//! 401 for a client with neither certificate nor token, tokens from the static token file,
//! admin-only operations refused to others with PERMISSION_DENIED, peers of another CA (or
//! ring-CA certificates outside the node group) refused on the peer port, and a certificate
//! replaced on disk used by the next connection without a restart; Hadoop RPC refused with the
//! reason (it would need SASL).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::pki::TestCa;
use common::{wait_for, Ring};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn ca(name: &str) -> TestCa {
    TestCa::new(name).unwrap()
}

/// A leaf certificate (server and client auth) of `ca`: (cert PEM, key PEM, DER).
fn leaf(ca: &TestCa, cn: &str, orgs: &[&str]) -> (String, String, Vec<u8>) {
    let l = ca.leaf(cn, orgs).unwrap();
    (l.cert_pem, l.key_pem, l.der)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn out(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A raw TLS connection to `addr` presenting `identity` (cert, key PEM), trusting `ca_pem`.
/// Returns the server's certificate, or the handshake's error.
async fn handshake(
    addr: SocketAddr,
    ca_pem: &str,
    identity: Option<(&str, &str)>,
) -> Result<(Vec<u8>, tokio_rustls::client::TlsStream<tokio::net::TcpStream>), String> {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = write(dir.path(), "ca.pem", ca_pem);
    let creds = match identity {
        Some((c, k)) => {
            let (cf, kf) = (write(dir.path(), "c.pem", c), write(dir.path(), "k.pem", k));
            om_client::tls::TlsFiles { identity: Some((cf, kf)), ca: ca_file }
        }
        None => om_client::tls::TlsFiles { identity: None, ca: ca_file },
    };
    let creds = om_client::tls::ReloadingCredentials::from_files(creds).map_err(|e| e.to_string())?;
    let cfg = om_client::tls::client_config(creds).map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let server: CertificateDer<'_> = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    // TLS 1.3 client auth is judged after the handshake: a refused client sees the connection
    // fail on its first exchange.
    tls.write_all(b"POST /raft/vote HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => Ok((server.to_vec(), tls)),
        Ok(Ok(_)) => Err("connection closed by the server".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer".into()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secure_ring_authenticates_authorizes_and_reloads_its_certificates() {
    let files = tempfile::tempdir().unwrap();
    let d = files.path();
    let ring_ca = ca("ring CA");
    let (node_cert, node_key, node_der) = leaf(&ring_ca, "om-node", &["omring:nodes"]);
    let (alice_cert, alice_key, _) = leaf(&ring_ca, "alice", &["dev"]);
    let rogue_ca = ca("rogue CA");
    let (rogue_cert, rogue_key, _) = leaf(&rogue_ca, "om-node", &["omring:nodes"]);
    let ca_file = write(d, "ca.pem", &ring_ca.cert_pem);
    let cert_file = write(d, "node.pem", &node_cert);
    let key_file = write(d, "node.key", &node_key);
    let tokens = write(d, "tokens.csv", "bob-token,bob,1001,\"dev\"\nroot-token,root,0\n");
    let extra = [
        ("ozone.security.enabled", "true"),
        ("omring.tls.certificate.file", cert_file.to_str().unwrap()),
        ("omring.tls.private.key.file", key_file.to_str().unwrap()),
        ("omring.tls.ca.file", ca_file.to_str().unwrap()),
        ("omring.tls.reload.interval.ms", "200"),
        ("omring.security.token.file", tokens.to_str().unwrap()),
        ("ozone.administrators", "root"),
    ];
    let ring = Ring::start(3, &extra);
    let leader = ring.wait_leader(Duration::from_secs(60)).await;
    let leader_i = ring.index_of(&leader);

    // A client that trusts the ring's CA but has no certificate and no token: 401.
    let anon = write(
        d,
        "client.xml",
        &ring.conf.to_xml().replace(cert_file.to_str().unwrap(), "").replace(key_file.to_str().unwrap(), ""),
    );
    let cli = |conf: &Path, args: &[&str]| {
        std::process::Command::new(common::BIN)
            .arg("--conf")
            .arg(conf)
            .args(args)
            .env("OMRING_LOG", "error")
            .output()
            .unwrap()
    };
    let o = cli(&anon, &["sh", "volume", "list"]);
    assert!(!o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("UNAUTHENTICATED") && out(&o).contains("bearer token"), "{}", out(&o));

    // A token from the static file; a user certificate.
    let bob = write(d, "bob.token", "bob-token\n");
    let o = cli(&anon, &["--token-file", bob.to_str().unwrap(), "sh", "volume", "list"]);
    assert!(o.status.success(), "bob's token: {}", out(&o));
    let bad = write(d, "bad.token", "nope\n");
    let o = cli(&anon, &["--token-file", bad.to_str().unwrap(), "sh", "volume", "list"]);
    assert!(out(&o).contains("UNAUTHENTICATED") && out(&o).contains("not accepted"), "{}", out(&o));
    let (ac, ak) = (write(d, "alice.pem", &alice_cert), write(d, "alice.key", &alice_key));
    let alice = ["--cert-file", ac.to_str().unwrap(), "--key-file", ak.to_str().unwrap()];
    let o = cli(&anon, &[&alice[..], &["sh", "volume", "list"]].concat());
    assert!(o.status.success(), "alice's certificate: {}", out(&o));

    // Admin-only: alice and bob may not move leadership; root (ozone.administrators) and the
    // nodes' own certificate (the node group) may.
    let o = cli(&anon, &[&alice[..], &["admin", "om", "transfer", "-r"]].concat());
    assert!(out(&o).contains("PERMISSION_DENIED") && out(&o).contains("alice"), "{}", out(&o));
    let o = cli(&anon, &["--token-file", bob.to_str().unwrap(), "admin", "om", "transfer", "-r"]);
    assert!(out(&o).contains("PERMISSION_DENIED"), "{}", out(&o));
    for what in ["prepare", "cancelprepare", "list-open-files"] {
        let o = cli(&anon, &["--token-file", bob.to_str().unwrap(), "admin", "om", what]);
        assert!(out(&o).contains("PERMISSION_DENIED"), "bob's {what}: {}", out(&o));
    }
    // The JSON API checks the administrator role before it reads the request: a non-admin's
    // malformed transfer is PERMISSION_DENIED too, not a parse error.
    let ca_pem = std::fs::read(&ca_file).unwrap();
    let creds =
        om_client::tls::Credentials::from_pem(None, om_client::tls::Pem { bytes: &ca_pem, origin: &ca_file }).unwrap();
    let tls = om_client::tls::client_config(om_client::tls::ReloadingCredentials::fixed(creds)).unwrap();
    let https = reqwest::Client::builder().use_preconfigured_tls(tls).build().unwrap();
    let rpc_of_leader = ring.conf.service(None).unwrap().node(&leader).unwrap().rpc_address();
    let url = format!("https://{rpc_of_leader}{}", om_client::wire::PATH_ADMIN_TRANSFER);
    let refused = https.post(&url).bearer_auth("bob-token").body("{not json").send().await.unwrap();
    let text = refused.text().await.unwrap();
    assert!(text.contains("PERMISSION_DENIED"), "bob's malformed transfer: {text}");
    let root = write(d, "root.token", "root-token");
    let o = cli(&anon, &["--token-file", root.to_str().unwrap(), "admin", "om", "transfer", "-r"]);
    assert!(o.status.success(), "root transfers: {}", out(&o));
    let o = ring.cli(&["admin", "om", "roles"]);
    assert!(o.status.success(), "the node certificate (in the ring's file) is admin: {}", out(&o));
    // An administrator prepares and cancels.
    let o = cli(&anon, &["--token-file", root.to_str().unwrap(), "admin", "om", "prepare", "-pct", "1"]);
    assert!(out(&o).contains("All OMs are prepared"), "root prepares: {}", out(&o));
    let o = cli(&anon, &["--token-file", root.to_str().unwrap(), "admin", "om", "cancelprepare"]);
    assert!(o.status.success(), "root cancels the prepare: {}", out(&o));

    // Plain HTTP to a TLS port gets nowhere.
    let rpc: SocketAddr = ring.conf.service(None).unwrap().node(&leader).unwrap().rpc_address().parse().unwrap();
    let plain = reqwest::Client::new().get(format!("http://{rpc}/v1/om/status")).send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success(), "plain HTTP must not be served");

    // Hadoop RPC (Ozone's own clients) needs SASL/Kerberos with security on, which omring does
    // not serve: a FATAL reply saying so, then the connection closes.
    let mut hrpc = tokio::net::TcpStream::connect(rpc).await.unwrap();
    hrpc.write_all(b"hrpc\x09\x00\x00").await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), hrpc.read_to_end(&mut reply)).await.unwrap().unwrap();
    let mut frame = reply.get(4..).unwrap_or_default();
    let header =
        <om_node::hrpc::proto::hadoop::RpcResponseHeader as prost::Message>::decode_length_delimited(&mut frame)
            .expect("a response header");
    assert_eq!(header.status, 2, "FATAL: {header:?}");
    assert!(header.error_msg.unwrap_or_default().contains("SASL/Kerberos"), "the reason is given");

    // The peer port: the ring's node certificate passes; no certificate, another CA's
    // certificate, or a ring certificate outside the node group are refused (and logged).
    let peer: SocketAddr = ring.conf.service(None).unwrap().node(&leader).unwrap().ratis_address().parse().unwrap();
    assert!(handshake(peer, &ring_ca.cert_pem, Some((&node_cert, &node_key))).await.is_ok());
    let none = handshake(peer, &ring_ca.cert_pem, None).await;
    assert!(none.is_err(), "no client certificate on the peer port: {none:?}");
    let rogue = handshake(peer, &ring_ca.cert_pem, Some((&rogue_cert, &rogue_key))).await;
    assert!(rogue.is_err(), "another CA's certificate on the peer port: {:?}", rogue.map(|r| r.0.len()));
    let outsider = handshake(peer, &ring_ca.cert_pem, Some((&alice_cert, &alice_key))).await;
    assert!(outsider.is_err(), "a user's certificate on the peer port: {:?}", outsider.map(|r| r.0.len()));
    let log = wait_for("the refusals logged", Duration::from_secs(5), || async {
        let log = ring.log(leader_i);
        (log.contains("refused a TLS connection") && log.contains("not a ring member")).then_some(log)
    })
    .await;
    assert!(log.contains("peer Raft"), "{log}");

    // A new certificate written over the old files is served by the next connection.
    let (new_cert, new_key, new_der) = leaf(&ring_ca, "om-node", &["omring:nodes"]);
    assert_ne!(new_der, node_der);
    let tmp_key = write(d, "node.key.new", &new_key);
    let tmp_cert = write(d, "node.pem.new", &new_cert);
    std::fs::rename(&tmp_key, &key_file).unwrap();
    std::fs::rename(&tmp_cert, &cert_file).unwrap();
    wait_for("the renewed certificate served", Duration::from_secs(10), || async {
        match handshake(rpc, &ring_ca.cert_pem, Some((&new_cert, &new_key))).await {
            Ok((served, _)) => (served == new_der).then_some(()),
            Err(_) => None,
        }
    })
    .await;
    let o = cli(&anon, &[&alice[..], &["sh", "volume", "create", "/afterreload"]].concat());
    assert!(o.status.success() || out(&o).contains("PERMISSION_DENIED"), "{}", out(&o));
    let o = ring.cli(&["sh", "volume", "create", "/afterreload2"]);
    assert!(o.status.success(), "the ring works on the renewed certificate: {}", out(&o));
}
