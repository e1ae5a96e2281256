//! Who a request comes from. A client certificate names its user in the subject's CN and its
//! groups in the subject's O values (the Kubernetes convention); a bearer token is resolved by
//! [`super::authn`]. Ring members carry the node group in their certificate.

use rustls::pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    pub user: String,
    pub groups: Vec<String>,
    /// How it was established, for the audit log and messages.
    pub source: PrincipalSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum PrincipalSource {
    ClientCertificate,
    StaticToken,
    TokenReview,
    /// Security is off: nobody is authenticated and this stands for the caller.
    Unauthenticated,
}

impl Principal {
    /// The stand-in principal when security is off.
    pub fn anonymous() -> Self {
        Principal { user: "anonymous".into(), groups: Vec::new(), source: PrincipalSource::Unauthenticated }
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// The subject of a certificate: CN as the user, O values as the groups. None when the
/// certificate cannot be parsed or has no CN.
pub fn from_certificate(cert: &CertificateDer<'_>) -> Option<Principal> {
    let (_, parsed) = X509Certificate::from_der(cert.as_ref()).ok()?;
    let subject = parsed.subject();
    let user = subject.iter_common_name().next()?.as_str().ok()?.to_string();
    let groups = subject.iter_organization().filter_map(|o| o.as_str().ok().map(str::to_string)).collect();
    Some(Principal { user, groups, source: PrincipalSource::ClientCertificate })
}

/// When a certificate expires, in seconds since the epoch; None when it cannot be parsed.
pub fn not_after(cert: &CertificateDer<'_>) -> Option<i64> {
    let (_, parsed) = X509Certificate::from_der(cert.as_ref()).ok()?;
    Some(parsed.validity().not_after.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_cn_is_the_user_and_o_values_are_groups() {
        let mut params = rcgen::CertificateParams::new(vec!["om-0".into()]).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, "om-node");
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "omring:nodes");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let p = from_certificate(&cert.der().clone()).unwrap();
        assert_eq!(p.user, "om-node");
        assert_eq!(p.groups, vec!["omring:nodes".to_string()]);
        assert!(p.in_group("omring:nodes"));
        assert!(from_certificate(&CertificateDer::from(vec![1u8, 2, 3])).is_none());
    }
}
