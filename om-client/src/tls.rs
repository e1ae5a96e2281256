//! TLS credentials for every omring connection: the PEM files named in `ozone-site.xml`,
//! loaded into rustls and loaded again when the files change.
//!
//! A Kubernetes Secret update replaces the files under a running process; renewed certificates
//! that are never loaded are how clusters die after a year. [`ReloadingCredentials`] re-reads
//! the files on an interval and swaps in what it read once it is consistent (a certificate
//! whose key does not match, caught mid-update, keeps the previous credentials). The rustls
//! hooks below ask for the current credentials on every handshake, so every connection opened
//! after a change uses the new files while open ones keep going.
//!
//! TLS 1.3 only: every party is omring's own code.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::config::{ConfigError, OzoneConfig};

/// TLS on the client port and an authenticated principal on every client request.
pub const OZONE_SECURITY_ENABLED: &str = "ozone.security.enabled";
/// Mutual TLS on the peer (Raft) port; defaults to [`OZONE_SECURITY_ENABLED`].
pub const HDDS_GRPC_TLS_ENABLED: &str = "hdds.grpc.tls.enabled";
/// PEM certificate chain of this node.
pub const TLS_CERTIFICATE_FILE: &str = "omring.tls.certificate.file";
/// PEM private key of [`TLS_CERTIFICATE_FILE`].
pub const TLS_PRIVATE_KEY_FILE: &str = "omring.tls.private.key.file";
/// PEM bundle of trusted CAs.
pub const TLS_CA_FILE: &str = "omring.tls.ca.file";
/// How often the files are checked for changes.
pub const TLS_RELOAD_INTERVAL_MS: &str = "omring.tls.reload.interval.ms";
pub const DEFAULT_TLS_RELOAD_INTERVAL_MS: u64 = 5000;
/// Client side: CAs trusted for the ring's servers (default [`TLS_CA_FILE`]).
pub const CLIENT_TLS_CA_FILE: &str = "omring.client.tls.ca.file";
/// Client side: the client certificate (default [`TLS_CERTIFICATE_FILE`]).
pub const CLIENT_CERTIFICATE_FILE: &str = "omring.client.certificate.file";
/// Client side: its key (default [`TLS_PRIVATE_KEY_FILE`]).
pub const CLIENT_PRIVATE_KEY_FILE: &str = "omring.client.private.key.file";
/// Client side: a file holding a bearer token.
pub const CLIENT_TOKEN_FILE: &str = "omring.client.token.file";

/// Why credentials could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {source}")]
    Read { what: &'static str, path: PathBuf, source: std::io::Error },
    /// The file holds no PEM block of the expected kind.
    #[error("{what} {path} holds no {expected}")]
    Empty { what: &'static str, path: PathBuf, expected: &'static str },
    /// The PEM is there but unusable (bad encoding, unsupported key, key not matching the certificate).
    #[error("{what} {path}: {reason}")]
    Invalid { what: &'static str, path: PathBuf, reason: String },
    /// A certificate without its key, or the other way round.
    #[error("{0}")]
    Incomplete(String),
    #[error("TLS setup: {0}")]
    Rustls(String),
    /// Every node refused the handshake, or presented a certificate the CA bundle does not
    /// trust.
    #[error("TLS handshake with {node} ({address}) failed: {reason}; check the CA bundle ({CLIENT_TLS_CA_FILE} or {TLS_CA_FILE}, --ca-file) and the client certificate")]
    Handshake { node: String, address: String, reason: String },
}

/// The ring's cryptography: rustls with *ring*.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Where the PEM files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain and key (both or neither).
    pub identity: Option<(PathBuf, PathBuf)>,
    /// Trusted CAs.
    pub ca: PathBuf,
}

impl TlsFiles {
    /// The node's own files (`omring.tls.*`), if the CA bundle is configured.
    pub fn server(conf: &OzoneConfig) -> Result<Option<TlsFiles>, TlsError> {
        Self::from_keys(conf, TLS_CERTIFICATE_FILE, TLS_PRIVATE_KEY_FILE, TLS_CA_FILE)
    }

    /// What a client uses (`omring.client.*`, falling back to `omring.tls.*`), with any of the
    /// three overridden (CLI flags).
    pub fn client(conf: &OzoneConfig, overrides: &ClientTlsOverrides) -> Result<Option<TlsFiles>, TlsError> {
        let pick = |flag: &Option<PathBuf>, key: &str, fallback: &str| -> Option<PathBuf> {
            flag.clone().or_else(|| path_of(conf, key)).or_else(|| path_of(conf, fallback))
        };
        let ca = pick(&overrides.ca, CLIENT_TLS_CA_FILE, TLS_CA_FILE);
        let cert = pick(&overrides.cert, CLIENT_CERTIFICATE_FILE, TLS_CERTIFICATE_FILE);
        let key = pick(&overrides.key, CLIENT_PRIVATE_KEY_FILE, TLS_PRIVATE_KEY_FILE);
        let Some(ca) = ca else {
            return if cert.is_some() || key.is_some() {
                Err(TlsError::Incomplete(format!(
                    "a client certificate is configured but no CA bundle to check the servers with: set {CLIENT_TLS_CA_FILE} or {TLS_CA_FILE} (or --ca-file)"
                )))
            } else {
                Ok(None)
            };
        };
        let identity = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            (Some(c), None) => {
                return Err(TlsError::Incomplete(format!(
                    "client certificate {} has no key: set {CLIENT_PRIVATE_KEY_FILE} (or --key-file)",
                    c.display()
                )))
            }
            (None, Some(k)) => {
                return Err(TlsError::Incomplete(format!(
                    "client key {} has no certificate: set {CLIENT_CERTIFICATE_FILE} (or --cert-file)",
                    k.display()
                )))
            }
        };
        Ok(Some(TlsFiles { identity, ca }))
    }

    fn from_keys(
        conf: &OzoneConfig,
        cert_key: &str,
        key_key: &str,
        ca_key: &str,
    ) -> Result<Option<TlsFiles>, TlsError> {
        let (cert, key, ca) = (path_of(conf, cert_key), path_of(conf, key_key), path_of(conf, ca_key));
        let identity = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            (Some(_), None) => return Err(TlsError::Incomplete(format!("{cert_key} is set but {key_key} is not"))),
            (None, Some(_)) => return Err(TlsError::Incomplete(format!("{key_key} is set but {cert_key} is not"))),
        };
        match ca {
            Some(ca) => Ok(Some(TlsFiles { identity, ca })),
            None if identity.is_some() => Err(TlsError::Incomplete(format!("{cert_key} is set but {ca_key} is not"))),
            None => Ok(None),
        }
    }
}

fn path_of(conf: &OzoneConfig, key: &str) -> Option<PathBuf> {
    conf.get_trimmed(key).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// CLI flags that override the client's TLS keys.
#[derive(Debug, Clone, Default)]
pub struct ClientTlsOverrides {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// Whether the ring's client port speaks TLS (`ozone.security.enabled`).
pub fn security_enabled(conf: &OzoneConfig) -> Result<bool, ConfigError> {
    conf.get_bool(OZONE_SECURITY_ENABLED, false)
}

/// Credentials as loaded: the identity (if any), the trusted roots, and verifiers built from
/// them once, not per handshake.
pub struct Credentials {
    pub identity: Option<Arc<CertifiedKey>>,
    pub roots: Arc<RootCertStore>,
    pub server_verifier: Arc<WebPkiServerVerifier>,
    /// SHA-256 over the files' bytes: what a reload compares.
    pub fingerprint: [u8; 32],
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("identity", &self.identity.is_some())
            .field("roots", &self.roots.len())
            .field("fingerprint", &hex::encode(&self.fingerprint[..8]))
            .finish()
    }
}

/// PEM bytes and where they came from (for messages).
pub struct Pem<'a> {
    pub bytes: &'a [u8],
    pub origin: &'a Path,
}

impl Credentials {
    /// Parses PEM certificate chain + key (optional) and a CA bundle.
    pub fn from_pem(identity: Option<(Pem<'_>, Pem<'_>)>, ca: Pem<'_>) -> Result<Credentials, TlsError> {
        let provider = provider();
        let mut hash = Sha256::new();
        let identity = match identity {
            None => None,
            Some((cert, key)) => {
                hash.update(cert.bytes);
                hash.update(key.bytes);
                let chain = CertificateDer::pem_slice_iter(cert.bytes)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| invalid("certificate", cert.origin, e))?;
                if chain.is_empty() {
                    return Err(TlsError::Empty {
                        what: "certificate",
                        path: cert.origin.into(),
                        expected: "CERTIFICATE block",
                    });
                }
                let der = PrivateKeyDer::from_pem_slice(key.bytes).map_err(|e| match e {
                    rustls::pki_types::pem::Error::NoItemsFound => {
                        TlsError::Empty { what: "private key", path: key.origin.into(), expected: "PRIVATE KEY block" }
                    }
                    e => invalid("private key", key.origin, e),
                })?;
                let ck = CertifiedKey::from_der(chain, der, &provider).map_err(|e| TlsError::Invalid {
                    what: "private key",
                    path: key.origin.into(),
                    reason: format!("does not fit certificate {}: {e}", cert.origin.display()),
                })?;
                Some(Arc::new(ck))
            }
        };
        hash.update(ca.bytes);
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca.bytes) {
            let c = c.map_err(|e| invalid("CA bundle", ca.origin, e))?;
            roots.add(c).map_err(|e| invalid("CA bundle", ca.origin, e))?;
        }
        if roots.is_empty() {
            return Err(TlsError::Empty { what: "CA bundle", path: ca.origin.into(), expected: "CERTIFICATE block" });
        }
        let roots = Arc::new(roots);
        let server_verifier = WebPkiServerVerifier::builder_with_provider(Arc::clone(&roots), provider)
            .build()
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        Ok(Credentials { identity, roots, server_verifier, fingerprint: hash.finalize().into() })
    }

    /// Reads and parses the files.
    pub fn load(files: &TlsFiles) -> Result<Credentials, TlsError> {
        let read = |what: &'static str, path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read { what, path: path.to_path_buf(), source })
        };
        let ca = read("CA bundle", &files.ca)?;
        match &files.identity {
            Some((c, k)) => {
                let (cert, key) = (read("certificate", c)?, read("private key", k)?);
                Credentials::from_pem(
                    Some((Pem { bytes: &cert, origin: c }, Pem { bytes: &key, origin: k })),
                    Pem { bytes: &ca, origin: &files.ca },
                )
            }
            None => Credentials::from_pem(None, Pem { bytes: &ca, origin: &files.ca }),
        }
    }
}

fn invalid(what: &'static str, path: &Path, e: impl fmt::Display) -> TlsError {
    TlsError::Invalid { what, path: path.to_path_buf(), reason: e.to_string() }
}

/// Credentials that follow their files (or fixed ones, from memory).
pub struct ReloadingCredentials {
    files: Option<TlsFiles>,
    current: RwLock<Arc<Credentials>>,
}

impl fmt::Debug for ReloadingCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingCredentials").field("files", &self.files).field("current", &self.current()).finish()
    }
}

impl ReloadingCredentials {
    /// Credentials that never change (e.g. built from a Kubernetes Secret's data).
    pub fn fixed(creds: Credentials) -> Arc<Self> {
        Arc::new(Self { files: None, current: RwLock::new(Arc::new(creds)) })
    }

    /// Loads the files; [`Self::reload`] or [`Self::watch`] follow them afterwards.
    pub fn from_files(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let creds = Credentials::load(&files)?;
        Ok(Arc::new(Self { files: Some(files), current: RwLock::new(Arc::new(creds)) }))
    }

    pub fn current(&self) -> Arc<Credentials> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Reads the files again: Ok(true) when they changed and the new credentials are in use;
    /// an error leaves the previous ones in use.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let Some(files) = &self.files else { return Ok(false) };
        let fresh = Credentials::load(files)?;
        let mut cur = self.current.write().unwrap_or_else(|e| e.into_inner());
        if cur.fingerprint == fresh.fingerprint {
            return Ok(false);
        }
        *cur = Arc::new(fresh);
        Ok(true)
    }

    /// Checks the files every `every` on a thread of its own, for as long as `self` lives.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        if self.files.is_none() {
            return;
        }
        let weak: Weak<Self> = Arc::downgrade(self);
        let spawned = std::thread::Builder::new().name("tls-reload".into()).spawn(move || {
            let mut last_error = String::new();
            loop {
                std::thread::sleep(every);
                let Some(me) = weak.upgrade() else { return };
                match me.reload() {
                    Ok(true) => {
                        last_error.clear();
                        tracing::info!(files = ?me.files, "TLS files changed: new connections use the new certificates")
                    }
                    Ok(false) => last_error.clear(),
                    Err(e) => {
                        let msg = e.to_string();
                        if msg != last_error {
                            tracing::warn!(error = %msg, "TLS files could not be loaded; the previous certificates stay in use");
                            last_error = msg;
                        }
                    }
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the TLS reload thread; certificates will not be reloaded");
        }
    }
}

/// Checks servers against the current CA bundle.
#[derive(Debug)]
struct CurrentServerVerifier(Arc<ReloadingCredentials>);

impl ServerCertVerifier for CurrentServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.0.current().server_verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.current().server_verifier.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.current().server_verifier.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.current().server_verifier.supported_verify_schemes()
    }
}

/// Presents the current client certificate, if there is one.
#[derive(Debug)]
struct CurrentClientCert(Arc<ReloadingCredentials>);

impl ResolvesClientCert for CurrentClientCert {
    fn resolve(&self, _root_hint_subjects: &[&[u8]], _sigschemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.0.current().identity.clone()
    }

    fn has_certs(&self) -> bool {
        self.0.current().identity.is_some()
    }
}

/// A rustls client configuration that follows `creds` (TLS 1.3).
pub fn client_config(creds: Arc<ReloadingCredentials>) -> Result<rustls::ClientConfig, TlsError> {
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(CurrentServerVerifier(Arc::clone(&creds))))
        .with_client_cert_resolver(Arc::new(CurrentClientCert(creds)));
    Ok(cfg)
}

/// Reads a bearer token file (surrounding whitespace removed).
pub fn read_token(path: &Path) -> Result<String, TlsError> {
    let text = std::fs::read_to_string(path).map_err(|source| TlsError::Read {
        what: "token file",
        path: path.to_path_buf(),
        source,
    })?;
    let token = text.trim().to_string();
    if token.is_empty() {
        return Err(TlsError::Empty { what: "token file", path: path.to_path_buf(), expected: "token" });
    }
    Ok(token)
}
