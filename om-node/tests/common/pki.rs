//! A throwaway CA and its leaf certificates (rcgen) for the secure rings of the tests and of
//! `make bench` (which includes this file by path: benches cannot import a test's modules).

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};

/// A self-signed CA.
pub struct TestCa {
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate, its key, and the certificate's DER.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl TestCa {
    pub fn new(common_name: &str) -> Result<Self, rcgen::Error> {
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, common_name);
        let key = KeyPair::generate()?;
        let cert_pem = p.self_signed(&key)?.pem();
        Ok(TestCa { cert_pem, issuer: Issuer::new(p, key) })
    }

    /// A certificate for `cn` with organisations `orgs` (groups; `omring:nodes` makes a ring
    /// member), for server and client auth, valid for `localhost` and `127.0.0.1`.
    pub fn leaf(&self, cn: &str, orgs: &[&str]) -> Result<Leaf, rcgen::Error> {
        let mut p = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
        p.distinguished_name.push(DnType::CommonName, cn);
        for o in orgs {
            p.distinguished_name.push(DnType::OrganizationName, *o);
        }
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &self.issuer)?;
        Ok(Leaf { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().to_vec() })
    }
}
