//! rustls server configurations for the node's listeners, following the node's reloading
//! credentials: every handshake takes the current certificate and CA bundle, so a renewed
//! certificate or a rotated CA is used by the next connection without a restart.
//!
//! The peer port requires a client certificate of a trusted CA (and, checked after the
//! handshake by the listener, the node group); the client port asks for one but also takes
//! connections without (their callers then need a bearer token).

use std::sync::Arc;

use om_client::tls::{provider, ReloadingCredentials, TlsError};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// Whether a listener demands a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Peer port: no certificate, no connection.
    Required,
    /// Client port: a certificate if the client has one.
    Optional,
    /// Health/metrics HTTPS: never asked.
    None,
}

#[derive(Debug)]
struct CurrentServerCert(Arc<ReloadingCredentials>);

impl ResolvesServerCert for CurrentServerCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.current().identity.clone()
    }
}

/// Checks client certificates against the current CA bundle.
#[derive(Debug)]
struct CurrentClientVerifier {
    creds: Arc<ReloadingCredentials>,
    required: bool,
}

impl CurrentClientVerifier {
    fn inner(&self) -> Result<Arc<dyn ClientCertVerifier>, rustls::Error> {
        let roots = Arc::clone(&self.creds.current().roots);
        let builder = WebPkiClientVerifier::builder_with_provider(roots, provider());
        let builder = if self.required { builder } else { builder.allow_unauthenticated() };
        builder.build().map_err(|e| rustls::Error::General(format!("client certificate verifier: {e}")))
    }
}

impl ClientCertVerifier for CurrentClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.required
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // Clients have one certificate each; hints would go stale with a rotated CA.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner()?.verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider().signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS 1.3 server configuration following `creds`.
pub fn server_config(
    creds: &Arc<ReloadingCredentials>,
    auth: ClientAuth,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Required | ClientAuth::Optional => {
            builder.with_client_cert_verifier(Arc::new(CurrentClientVerifier {
                creds: Arc::clone(creds),
                required: auth == ClientAuth::Required,
            }))
        }
    };
    let mut cfg = builder.with_cert_resolver(Arc::new(CurrentServerCert(Arc::clone(creds))));
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
