//! The webhook's TLS: a self-signed CA and a serving certificate made at start-up, and an
//! HTTPS server for an axum router on top of rustls.
//!
//! The API server trusts the webhook through the CA bundle the operator writes into the
//! ValidatingWebhookConfiguration ([`crate::cabundle`]), so no cert-manager is needed. The
//! certificate names the webhook Service's DNS names and any host of a URL client config.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Errors creating certificates or the TLS server.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("configuring TLS: {0}")]
    Config(#[from] rustls::Error),
    #[error("binding {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// A CA and a serving certificate signed by it.
#[derive(Clone)]
pub struct ServingCert {
    /// PEM of the CA certificate: what goes into the caBundle.
    pub ca_pem: String,
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
    /// Names in the certificate.
    pub hosts: Vec<String>,
}

impl std::fmt::Debug for ServingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingCert").field("hosts", &self.hosts).finish_non_exhaustive()
    }
}

/// DNS names of a Service, as the API server dials it.
pub fn service_hosts(service: &str, namespace: &str, cluster_domain: &str) -> Vec<String> {
    vec![
        service.to_string(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.{cluster_domain}"),
    ]
}

/// Makes a new CA and a serving certificate for `hosts` (DNS names or IP addresses).
pub fn generate(hosts: &[String]) -> Result<ServingCert, TlsError> {
    let mut hosts: Vec<String> = hosts.iter().filter(|h| !h.is_empty()).cloned().collect();
    hosts.sort();
    hosts.dedup();

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.distinguished_name.push(DnType::CommonName, "omring-operator webhook CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params = CertificateParams::new(hosts.clone())?;
    params
        .distinguished_name
        .push(DnType::CommonName, hosts.first().cloned().unwrap_or_else(|| "omring-operator".into()));
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(ServingCert { ca_pem: ca_cert.pem(), cert_der: cert.der().to_vec(), key_der: key.serialize_der(), hosts })
}

/// A rustls server configuration serving `cert` (HTTP/1.1 and HTTP/2).
pub fn server_config(cert: &ServingCert) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_der.clone())),
        )?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Binds `addr`; returns the listener (so callers learn the port when binding port 0).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, TlsError> {
    TcpListener::bind(addr).await.map_err(|source| TlsError::Bind { addr, source })
}

/// Serves `router` over TLS until `shutdown` resolves; connections already accepted finish.
pub async fn serve(
    listener: TcpListener,
    config: rustls::ServerConfig,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(Arc::new(config));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("webhook accept failed: {e}");
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            if let Err(e) = ConnBuilder::new(TokioExecutor::new()).serve_connection(TokioIo::new(tls), service).await {
                tracing::debug!(%peer, "webhook connection ended: {e}");
            }
        });
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Sends one HTTP/1.1 request over TLS, trusting only `ca_pem`; returns the raw response.
    pub(crate) async fn https_request(addr: SocketAddr, server_name: &str, ca_pem: &str, request: String) -> String {
        let mut roots = rustls::RootCertStore::empty();
        let der = pem_to_der(ca_pem);
        roots.add(CertificateDer::from(der)).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from(server_name.to_string()).unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        tls.write_all(request.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        tls.read_to_end(&mut out).await.unwrap_or_default();
        String::from_utf8_lossy(&out).into_owned()
    }

    fn pem_to_der(pem: &str) -> Vec<u8> {
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64_decode(&b64)
    }

    fn base64_decode(s: &str) -> Vec<u8> {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        let mut buf = 0u32;
        let mut bits = 0;
        for c in s.bytes().filter(|c| *c != b'=') {
            let v = T.iter().position(|t| *t == c).unwrap() as u32;
            buf = (buf << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((buf >> bits) as u8);
                buf &= (1 << bits) - 1;
            }
        }
        out
    }

    #[tokio::test]
    async fn serves_https_that_the_ca_vouches_for() {
        let hosts: Vec<String> = service_hosts("omring-webhook", "ops", "cluster.local")
            .into_iter()
            .chain(["127.0.0.1".to_string()])
            .collect();
        let cert = generate(&hosts).unwrap();
        assert!(cert.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = axum::Router::new().route("/hello", axum::routing::get(|| async { "hi" }));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, server_config(&cert).unwrap(), router, async {
            let _ = stop_rx.await;
        }));
        let req = "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string();
        let resp = https_request(addr, "omring-webhook.ops.svc", &cert.ca_pem, req.clone()).await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        assert!(resp.ends_with("hi"), "{resp}");
        let resp = https_request(addr, "127.0.0.1", &cert.ca_pem, req).await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        stop_tx.send(()).unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_name_outside_the_certificate_is_refused() {
        let cert = generate(&["svc.ns.svc".to_string()]).unwrap();
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = axum::Router::new();
        tokio::spawn(serve(listener, server_config(&cert).unwrap(), router, std::future::pending()));
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(pem_to_der(&cert.ca_pem))).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("other.ns.svc".to_string()).unwrap();
        let result = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await;
        assert!(result.is_err());
    }
}
