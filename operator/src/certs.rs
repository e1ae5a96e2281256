//! The ring's certificates: made with rcgen (ECDSA P-256) and read back with x509-parser.
//!
//! Everything here is a function of its inputs and of the random keys it draws: no clock, no
//! API server. [`crate::pki`] decides what to issue and when; this file knows how, and how to
//! tell what an existing certificate says (who it is for, until when, who signed it, whether
//! a key belongs to it), so the decision can be made from the Secrets alone.

use k8s_openapi::jiff::Timestamp;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SerialNumber,
};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

/// Errors making a certificate.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("making a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("the signing CA is unusable: {0}")]
    Signer(String),
    #[error("certificate time {0} is out of range")]
    Time(Timestamp),
}

/// A certificate and its private key, both PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").field("cert_pem", &self.cert_pem).finish_non_exhaustive()
    }
}

/// Whom a leaf certificate is for and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafSpec {
    pub common_name: String,
    pub organizations: Vec<String>,
    pub dns_names: Vec<String>,
    pub server_auth: bool,
    pub client_auth: bool,
}

/// What a certificate says, read back from its PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub common_name: Option<String>,
    pub organizations: Vec<String>,
    /// DNS subject alternative names, sorted.
    pub dns_names: Vec<String>,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub is_ca: bool,
    pub server_auth: bool,
    pub client_auth: bool,
    /// The certificate, DER (for signature checks).
    pub der: Vec<u8>,
    /// The subject's raw public key (to match a private key against).
    public_key: Vec<u8>,
}

fn timestamp(t: i64) -> Result<Timestamp, String> {
    Timestamp::from_second(t).map_err(|e| format!("time out of range: {e}"))
}

fn info(x: &X509Certificate<'_>, der: &[u8]) -> Result<CertInfo, String> {
    let text = |a: &x509_parser::x509::AttributeTypeAndValue<'_>| a.as_str().ok().map(str::to_string);
    let mut dns_names: Vec<String> = match x.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|g| match g {
                GeneralName::DNSName(d) => Some(d.to_string()),
                _ => None,
            })
            .collect(),
        Ok(None) => Vec::new(),
        Err(e) => return Err(format!("bad subjectAltName: {e}")),
    };
    dns_names.sort();
    let (server_auth, client_auth) = match x.extended_key_usage() {
        Ok(Some(eku)) => (eku.value.server_auth, eku.value.client_auth),
        Ok(None) => (false, false),
        Err(e) => return Err(format!("bad extendedKeyUsage: {e}")),
    };
    Ok(CertInfo {
        common_name: x.subject().iter_common_name().next().and_then(text),
        organizations: x.subject().iter_organization().filter_map(text).collect(),
        dns_names,
        not_before: timestamp(x.validity().not_before.timestamp())?,
        not_after: timestamp(x.validity().not_after.timestamp())?,
        is_ca: x.is_ca(),
        server_auth,
        client_auth,
        der: der.to_vec(),
        public_key: x.public_key().subject_public_key.data.to_vec(),
    })
}

/// Every certificate of a PEM bundle, in order (other PEM blocks are skipped).
pub fn read_bundle(pem: &str) -> Result<Vec<CertInfo>, String> {
    let mut out = Vec::new();
    for block in Pem::iter_from_buffer(pem.as_bytes()) {
        let block = block.map_err(|e| format!("bad PEM: {e}"))?;
        if block.label != "CERTIFICATE" {
            continue;
        }
        let x = block.parse_x509().map_err(|e| format!("bad certificate: {e}"))?;
        out.push(info(&x, &block.contents)?);
    }
    Ok(out)
}

/// The first certificate of a PEM (a leaf before its chain).
pub fn read_cert(pem: &str) -> Result<CertInfo, String> {
    read_bundle(pem)?.into_iter().next().ok_or_else(|| "no certificate in the PEM".to_string())
}

impl CertInfo {
    /// Says exactly what `spec` asks for: subject, names and key usages.
    pub fn matches(&self, spec: &LeafSpec) -> bool {
        let mut want_names = spec.dns_names.clone();
        want_names.sort();
        let mut orgs = self.organizations.clone();
        orgs.sort();
        let mut want_orgs = spec.organizations.clone();
        want_orgs.sort();
        self.common_name.as_deref() == Some(spec.common_name.as_str())
            && orgs == want_orgs
            && self.dns_names == want_names
            && self.server_auth == spec.server_auth
            && self.client_auth == spec.client_auth
            && !self.is_ca
    }

    /// Whether `issuer`'s key signed this certificate.
    pub fn signed_by(&self, issuer: &CertInfo) -> bool {
        let (Ok((_, me)), Ok((_, ca))) =
            (x509_parser::parse_x509_certificate(&self.der), x509_parser::parse_x509_certificate(&issuer.der))
        else {
            return false;
        };
        me.issuer() == ca.subject() && me.verify_signature(Some(ca.public_key())).is_ok()
    }

    /// Whether `key_pem` is this certificate's private key.
    pub fn key_matches(&self, key_pem: &str) -> bool {
        KeyPair::from_pem(key_pem).is_ok_and(|k| k.public_key_raw() == self.public_key.as_slice())
    }
}

fn to_time(t: Timestamp) -> Result<time::OffsetDateTime, CertError> {
    time::OffsetDateTime::from_unix_timestamp(t.as_second()).map_err(|_| CertError::Time(t))
}

/// A random positive 128-bit serial number.
fn serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    // Positive and of full length: the top bit clear, the next one set.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

/// A new self-signed CA that may sign leaf certificates (not other CAs).
pub fn new_ca(common_name: &str, not_before: Timestamp, not_after: Timestamp) -> Result<Issued, CertError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.distinguished_name.push(DnType::OrganizationName, "omring");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = to_time(not_before)?;
    params.not_after = to_time(not_after)?;
    params.serial_number = Some(serial());
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// A leaf certificate for `spec`, signed by `ca`, with a new key.
pub fn issue(spec: &LeafSpec, ca: &Issued, not_before: Timestamp, not_after: Timestamp) -> Result<Issued, CertError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(|e| CertError::Signer(format!("ca.key: {e}")))?;
    let issuer =
        Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(|e| CertError::Signer(format!("ca.crt: {e}")))?;
    let mut params = CertificateParams::new(spec.dns_names.clone())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, spec.common_name.as_str());
    for o in &spec.organizations {
        params.distinguished_name.push(DnType::OrganizationName, o.as_str());
    }
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = [
        spec.server_auth.then_some(ExtendedKeyUsagePurpose::ServerAuth),
        spec.client_auth.then_some(ExtendedKeyUsagePurpose::ClientAuth),
    ]
    .into_iter()
    .flatten()
    .collect();
    params.use_authority_key_identifier_extension = true;
    params.not_before = to_time(not_before)?;
    params.not_after = to_time(not_after)?;
    params.serial_number = Some(serial());
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn node_spec() -> LeafSpec {
        LeafSpec {
            common_name: "om-node".into(),
            organizations: vec!["omring:nodes".into()],
            dns_names: vec!["*.om-headless.ns.svc.cluster.local".into(), "om.ns.svc".into(), "om".into()],
            server_auth: true,
            client_auth: true,
        }
    }

    #[test]
    fn a_ca_and_a_leaf_read_back_as_made() {
        let ca = new_ca("omring CA ns/om", t("2026-01-01T00:00:00Z"), t("2030-01-01T00:00:00Z")).unwrap();
        let ca_info = read_cert(&ca.cert_pem).unwrap();
        assert!(ca_info.is_ca);
        assert_eq!(ca_info.common_name.as_deref(), Some("omring CA ns/om"));
        assert_eq!(ca_info.not_after, t("2030-01-01T00:00:00Z"));
        assert!(ca_info.key_matches(&ca.key_pem));
        assert!(ca_info.signed_by(&ca_info), "self-signed");

        let leaf = issue(&node_spec(), &ca, t("2026-01-02T00:00:00Z"), t("2026-04-02T00:00:00Z")).unwrap();
        let info = read_cert(&leaf.cert_pem).unwrap();
        assert_eq!(info.common_name.as_deref(), Some("om-node"));
        assert_eq!(info.organizations, ["omring:nodes"]);
        assert_eq!(info.dns_names, ["*.om-headless.ns.svc.cluster.local", "om", "om.ns.svc"]);
        assert!(info.server_auth && info.client_auth && !info.is_ca);
        assert_eq!((info.not_before, info.not_after), (t("2026-01-02T00:00:00Z"), t("2026-04-02T00:00:00Z")));
        assert!(info.matches(&node_spec()));
        assert!(info.signed_by(&ca_info));
        assert!(info.key_matches(&leaf.key_pem));
        assert!(!info.key_matches(&ca.key_pem));
        assert!(!info.key_matches("not a key"));
    }

    #[test]
    fn another_ca_or_another_identity_is_told_apart() {
        let when = (t("2026-01-01T00:00:00Z"), t("2027-01-01T00:00:00Z"));
        let a = new_ca("a", when.0, when.1).unwrap();
        let b = new_ca("b", when.0, when.1).unwrap();
        let same_name = new_ca("a", when.0, when.1).unwrap();
        let leaf = read_cert(&issue(&node_spec(), &a, when.0, when.1).unwrap().cert_pem).unwrap();
        assert!(leaf.signed_by(&read_cert(&a.cert_pem).unwrap()));
        assert!(!leaf.signed_by(&read_cert(&b.cert_pem).unwrap()));
        assert!(!leaf.signed_by(&read_cert(&same_name.cert_pem).unwrap()), "same subject, other key");
        let mut other = node_spec();
        other.dns_names.push("om.ns".into());
        assert!(!leaf.matches(&other));
        let mut client_only = node_spec();
        client_only.server_auth = false;
        assert!(!leaf.matches(&client_only));
        let mut other_group = node_spec();
        other_group.organizations = vec!["system:masters".into()];
        assert!(!leaf.matches(&other_group));
    }

    #[test]
    fn bundles_keep_their_order_and_garbage_is_refused() {
        let when = (t("2026-01-01T00:00:00Z"), t("2027-01-01T00:00:00Z"));
        let a = new_ca("a", when.0, when.1).unwrap();
        let b = new_ca("b", when.0, when.1).unwrap();
        let bundle = format!("{}{}", a.cert_pem, b.cert_pem);
        let names: Vec<_> = read_bundle(&bundle).unwrap().into_iter().map(|c| c.common_name.unwrap()).collect();
        assert_eq!(names, ["a", "b"]);
        // A key block in between is skipped.
        assert_eq!(read_bundle(&format!("{}{}", a.key_pem, b.cert_pem)).unwrap().len(), 1);
        assert!(read_cert("").is_err());
        assert!(read_cert("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").is_err());
        let bad_signer = Issued { cert_pem: a.cert_pem.clone(), key_pem: "nope".into() };
        assert!(matches!(issue(&node_spec(), &bad_signer, when.0, when.1), Err(CertError::Signer(_))));
    }

    /// The node certificate works where it is used: a rustls server presenting it and a client
    /// trusting only the ring's CA, each side checking the other (the peer port's mutual TLS).
    #[test]
    fn mutual_tls_with_the_ring_ca_verifies_both_ways() {
        use rustls::client::danger::ServerCertVerifier;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
        use std::time::Duration;
        let now = Timestamp::now();
        let ca = new_ca("ca", now - Duration::from_secs(60), now + Duration::from_secs(3600)).unwrap();
        let leaf = issue(&node_spec(), &ca, now - Duration::from_secs(60), now + Duration::from_secs(600)).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(read_cert(&ca.cert_pem).unwrap().der)).unwrap();
        let roots = Arc::new(roots);
        let chain = vec![CertificateDer::from(read_cert(&leaf.cert_pem).unwrap().der)];
        let key_der = KeyPair::from_pem(&leaf.key_pem).unwrap().serialize_der();
        let server_verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .unwrap();
        let client_verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone()).build().unwrap();
        let at = UnixTime::now();
        client_verifier
            .verify_server_cert(
                &chain[0],
                &[],
                &ServerName::try_from("om-2.om-headless.ns.svc.cluster.local").unwrap(),
                &[],
                at,
            )
            .unwrap();
        assert!(client_verifier
            .verify_server_cert(&chain[0], &[], &ServerName::try_from("om-2.other.ns.svc").unwrap(), &[], at)
            .is_err());
        server_verifier.verify_client_cert(&chain[0], &[], at).unwrap();
        // And the key loads into a server configuration.
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der)))
            .unwrap();
    }
}
