//! Certificates from cert-manager (`spec.tls.issuerRef`): the operator makes no CA and issues
//! nothing; it keeps two cert-manager `Certificate`s ([`crate::builders::certificates`]) and
//! reads what cert-manager wrote.
//!
//! - `Certificate` `<name>-tls` writes Secret `<name>-tls` (`tls.crt`, `tls.key`, `ca.crt`): the
//!   node certificate, as [`crate::pki::node_leaf`] says.
//! - `Certificate` `<name>-admin-tls` writes Secret `<name>-admin-tls`: the operator's client
//!   certificate, as [`crate::pki::admin_leaf`] says.
//!
//! The trust bundle is the `ca.crt` cert-manager writes beside each certificate (CA,
//! self-signed and Vault issuers fill it; ACME ones do not). A Secret without it, or whose
//! `ca.crt` does not hold the CA that signed its certificate, would start nodes that cannot
//! trust each other: the ring is held ([`Assessed::hold`]: no pods are made or changed) and the
//! `CertificatesReady` condition and a Warning event name the Secret and the key.
//!
//! Renewal, re-issue and CA rotation are cert-manager's and the issuer's: cert-manager rewrites
//! the Secrets in place, the kubelet updates the mounted files and the nodes reload them, so
//! nothing restarts. The `omring.io/rotate-ca` annotation gets a Warning event instead.
//!
//! [`assess`] is a pure function of what was read, like [`crate::pki::reconcile`].

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::CustomResource;
use serde::{Deserialize, Serialize};

use crate::apply::{kube_err, Error};
use crate::builders::certificates;
use crate::certs::{self, CertInfo};
use crate::crd::TlsStatus;
use crate::execute::Note;
use crate::model::{IssuerModel, RingModel, TlsModel};
use crate::names::{RingNames, CA_CRT, FIELD_MANAGER, TLS_CRT, TLS_KEY};
use crate::pki::{secret_ref, Stored, StoredSecrets};
use crate::ringclient::RingCredentials;

/// The part of cert-manager's `Certificate` (cert-manager.io/v1) the operator writes.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "cert-manager.io",
    version = "v1",
    kind = "Certificate",
    plural = "certificates",
    namespaced,
    status = "CertificateStatus",
    schema = "disabled",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSpec {
    pub secret_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_template: Option<SecretTemplate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Subject>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_before: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usages: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<PrivateKey>,
    pub issuer_ref: CertIssuerRef,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct SecretTemplate {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Subject {
    #[serde(default)]
    pub organizations: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PrivateKey {
    pub algorithm: String,
    pub size: u32,
    pub encoding: String,
    pub rotation_policy: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct CertIssuerRef {
    pub name: String,
    pub kind: String,
    pub group: String,
}

/// What cert-manager reports on a Certificate; every field optional, as it may not have
/// looked at it yet.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct CertificateStatus {
    #[serde(default)]
    pub conditions: Option<Vec<CertificateCondition>>,
    #[serde(default)]
    pub not_after: Option<String>,
    #[serde(default)]
    pub renewal_time: Option<String>,
    #[serde(default)]
    pub revision: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct CertificateCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub observed_generation: Option<i64>,
}

/// The type of the ring's condition about its certificates (both modes).
pub const CERTIFICATES_READY: &str = "CertificatesReady";

/// Why the Certificates could not be written at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// The API server does not serve certificates.cert-manager.io/v1: cert-manager's CRDs are
    /// not installed.
    NoCertManager,
    /// The operator may not write them (its ClusterRole predates cert-manager support).
    Forbidden(String),
}

/// Server-side applies the ring's two Certificates and returns them as the API server has
/// them (with cert-manager's status). A missing CRD or missing permission is an answer, not
/// an error: only rings with `issuerRef` need them, and the status says what is wrong.
pub async fn apply_certificates(
    client: &kube::Client,
    model: &RingModel,
    tls: &TlsModel,
    issuer: &IssuerModel,
) -> Result<Result<Vec<Certificate>, Unavailable>, Error> {
    let api: Api<Certificate> = Api::namespaced(client.clone(), &model.names.namespace);
    let mut applied = Vec::new();
    for cert in [certificates::node(model, tls, issuer), certificates::admin(model, tls, issuer)] {
        let name = cert.metadata.name.clone().unwrap_or_default();
        match api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&cert)).await {
            Ok(c) => applied.push(c),
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(Err(Unavailable::NoCertManager)),
            Err(kube::Error::Api(s)) if s.code == 403 => return Ok(Err(Unavailable::Forbidden(s.message))),
            Err(e) => return Err(kube_err(format!("applying Certificate {name}"))(e)),
        }
    }
    Ok(Ok(applied))
}

/// Field manager of the ring's owner reference on the Secrets cert-manager writes. Not the
/// operator's own manager, whose server-side applies must never claim their data.
pub const OWNER_FIELD_MANAGER: &str = "omring-operator-owner";

/// Makes the ring an owner (not the controller) of the Secrets cert-manager wrote, so they go
/// with the ring like the Certificates: cert-manager leaves a Secret behind when its
/// Certificate goes, and `<name>-admin-tls` holds a key every ring of that issuer trusts as
/// the operator. A strategic merge patch adds the reference beside any other (cert-manager's
/// own with `--enable-certificate-owner-ref`) and, carrying the resourceVersion read, never
/// creates a Secret or writes over one that changed meanwhile (the next pass does it then).
pub async fn adopt_secrets(client: &kube::Client, model: &RingModel, stored: &StoredSecrets) -> Result<(), Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &model.names.namespace);
    let mut owner = model.owner.clone();
    owner.controller = Some(false);
    for (name, found) in [(model.names.tls_secret(), &stored.tls), (model.names.admin_tls_secret(), &stored.admin)] {
        let Some(s) = found.as_ref().filter(|s| !s.owners.contains(&owner.uid)) else { continue };
        let patch = serde_json::json!({"metadata": {
            "resourceVersion": s.resource_version, "ownerReferences": [owner]
        }});
        let params = PatchParams { field_manager: Some(OWNER_FIELD_MANAGER.into()), ..Default::default() };
        match api.patch(&name, &params, &Patch::Strategic(&patch)).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if [404, 409, 422].contains(&e.code) => {}
            Err(e) => return Err(kube_err(format!("adding the ring as an owner of Secret {name}"))(e)),
        }
    }
    Ok(())
}

/// What one pass made of the ring's cert-manager certificates.
#[derive(Debug, Clone)]
pub struct Assessed {
    pub status: TlsStatus,
    /// The `CertificatesReady` condition: status, reason, message.
    pub ready: bool,
    pub reason: &'static str,
    pub message: String,
    /// A Secret is missing or would start nodes with a broken trust: the ring waits.
    pub hold: bool,
    /// The operator's client certificate and trust bundle, once usable.
    pub credentials: Option<RingCredentials>,
    pub events: Vec<Note>,
}

/// What is wrong with a Secret cert-manager should have written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    Missing,
    NoKey(&'static str),
    Unreadable(&'static str, String),
    NoTrustBundle,
    Untrusted,
}

impl Problem {
    fn reason(&self) -> &'static str {
        match self {
            Problem::Missing | Problem::NoKey(_) | Problem::Unreadable(..) => "WaitingForCertificates",
            Problem::NoTrustBundle => "TrustBundleMissing",
            Problem::Untrusted => "TrustBundleMismatch",
        }
    }
    fn describe(&self, secret: &str, issuer: &IssuerModel) -> String {
        match self {
            Problem::Missing => format!("Secret {secret} does not exist yet"),
            Problem::NoKey(key) => format!("Secret {secret} has no {key} yet"),
            Problem::Unreadable(key, why) => format!("{key} of Secret {secret} is unreadable: {why}"),
            Problem::NoTrustBundle => format!(
                "Secret {secret} has no {CA_CRT}: the {issuer} does not hand out the CA that signs the \
                 certificates, and the nodes trust each other only through {CA_CRT}; use an issuer that fills it \
                 (CA, self-signed or Vault)"
            ),
            Problem::Untrusted => format!(
                "{CA_CRT} of Secret {secret} does not hold the CA that signed its {TLS_CRT}: nodes would not trust \
                 each other"
            ),
        }
    }
}

fn text(stored: &Stored, key: &'static str) -> Result<String, Problem> {
    let bytes = stored.data.get(key).filter(|b| !b.is_empty()).ok_or(Problem::NoKey(key))?;
    String::from_utf8(bytes.clone()).map_err(|_| Problem::Unreadable(key, "not UTF-8 text".into()))
}

/// The leaf and the first CA of a Secret cert-manager wrote, if it can be used as it is.
fn usable(stored: Option<&Stored>) -> Result<(CertInfo, CertInfo), Problem> {
    let stored = stored.ok_or(Problem::Missing)?;
    let chain = certs::read_bundle(&text(stored, TLS_CRT)?).map_err(|e| Problem::Unreadable(TLS_CRT, e))?;
    let leaf = chain.first().cloned().ok_or_else(|| Problem::Unreadable(TLS_CRT, "no certificate".into()))?;
    text(stored, TLS_KEY)?;
    let bundle = match text(stored, CA_CRT) {
        Err(Problem::NoKey(_)) => return Err(Problem::NoTrustBundle),
        other => certs::read_bundle(&other?).map_err(|e| Problem::Unreadable(CA_CRT, e))?,
    };
    let ca = bundle.first().cloned().ok_or(Problem::NoTrustBundle)?;
    // The leaf's signer is in the bundle, or is an intermediate sent along in tls.crt.
    if !bundle.iter().chain(chain.iter().skip(1)).any(|c| leaf.signed_by(c)) {
        return Err(Problem::Untrusted);
    }
    Ok((leaf, ca))
}

/// What cert-manager says about one Certificate: None when Ready for its current spec.
fn not_ready(cert: &Certificate) -> Option<String> {
    let name = cert.metadata.name.clone().unwrap_or_default();
    let generation = cert.metadata.generation;
    let conditions = cert.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let Some(ready) = conditions.iter().find(|c| c.type_ == "Ready") else {
        return Some(format!("cert-manager has not reported on Certificate {name} yet (is it running?)"));
    };
    let current = match (ready.observed_generation, generation) {
        (Some(seen), Some(g)) => seen >= g,
        _ => true,
    };
    if ready.status == "True" && current {
        return None;
    }
    let why = [ready.reason.as_deref(), ready.message.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(": ");
    Some(if current {
        format!("Certificate {name} is not Ready ({why})")
    } else {
        format!("cert-manager has not caught up with the latest spec of Certificate {name} yet")
    })
}

fn credentials(stored: Option<&Stored>) -> Option<RingCredentials> {
    let s = stored?;
    let get = |k: &str| s.data.get(k).cloned().filter(|b| !b.is_empty());
    Some(RingCredentials { ca_pem: get(CA_CRT)?, cert_pem: get(TLS_CRT)?, key_pem: get(TLS_KEY)? })
}

/// Everything [`assess`] looks at.
pub struct Input<'a> {
    pub names: &'a RingNames,
    pub issuer: &'a IssuerModel,
    /// The Certificates as applied, or why they could not be.
    pub certificates: Result<&'a [Certificate], &'a Unavailable>,
    pub stored: &'a StoredSecrets,
    /// The ring's `omring.io/rotate-ca` annotation.
    pub rotate_request: Option<&'a str>,
    /// The ring's previous `status.tls` and `CertificatesReady` condition.
    pub old_status: Option<&'a TlsStatus>,
    pub old_condition: Option<&'a Condition>,
}

/// One pass over a ring's cert-manager certificates: see the module documentation.
pub fn assess(input: &Input<'_>) -> Assessed {
    let names = input.names;
    let issuer = input.issuer;
    let (tls_secret, admin_secret) = (names.tls_secret(), names.admin_tls_secret());
    let node = usable(input.stored.tls.as_ref());
    let admin = usable(input.stored.admin.as_ref());
    let mut events = Vec::new();

    let problem = [(&tls_secret, &node), (&admin_secret, &admin)]
        .into_iter()
        .find_map(|(s, r)| r.as_ref().err().map(|p| (s.clone(), p.clone())));
    let hold = problem.is_some();
    let pending: Vec<String> = match input.certificates {
        Ok(certs) => certs.iter().filter_map(not_ready).collect(),
        Err(_) => Vec::new(),
    };

    let (ready, reason, message) = match (input.certificates, &problem) {
        (Err(Unavailable::NoCertManager), _) => (
            false,
            "CertManagerMissing",
            format!(
                "the API server does not serve certificates.cert-manager.io/v1: install cert-manager to have the \
                 {issuer} issue the ring's certificates, or remove spec.tls.issuerRef{}",
                if hold { "; the ring waits for its certificates" } else { "" }
            ),
        ),
        (Err(Unavailable::Forbidden(why)), _) => (
            false,
            "CertificatesForbidden",
            format!(
                "the operator may not manage certificates.cert-manager.io ({why}): give its ClusterRole get, list, \
                 watch, create, patch and delete on them (the chart of this version does)"
            ),
        ),
        (Ok(_), Some((secret, p))) => {
            let mut m = p.describe(secret, issuer);
            if !pending.is_empty() {
                m.push_str(&format!("; {}", pending.join("; ")));
            }
            m.push_str("; the ring waits: no pod is started or changed until the certificates can be trusted");
            (false, p.reason(), m)
        }
        (Ok(_), None) if !pending.is_empty() => (false, "Issuing", pending.join("; ")),
        (Ok(_), None) => (true, "Issued", format!("cert-manager issued the certificates from the {issuer}")),
    };

    // An event when the condition changes (not at every pass), and one per re-issue seen.
    let old_reason = input.old_condition.map(|c| c.reason.as_str());
    if old_reason != Some(reason) {
        let type_ = if ready || reason == "Issuing" { EventType::Normal } else { EventType::Warning };
        let about = problem.as_ref().and_then(|(s, _)| secret_ref(names, s));
        events.push(Note::about(about, type_, reason, "ManageCertificates", message.clone()));
    }
    let old = input.old_status;
    for (secret, found, before) in [
        (&tls_secret, &node, old.and_then(|o| o.node_certificate_not_after.as_deref())),
        (&admin_secret, &admin, old.and_then(|o| o.admin_certificate_not_after.as_deref())),
    ] {
        if let (Ok((leaf, _)), Some(before)) = (found, before) {
            if before != leaf.not_after.to_string() {
                events.push(Note::about(
                    secret_ref(names, secret),
                    EventType::Normal,
                    "CertificateRenewed",
                    "ManageCertificates",
                    format!(
                        "cert-manager re-issued the certificate in Secret {secret} (was valid until {before}); valid \
                         until {}; the nodes load it without a restart",
                        leaf.not_after
                    ),
                ));
            }
        }
    }

    // omring.io/rotate-ca: the issuer's business; said once per value.
    let ignored_rotate_ca = input.rotate_request.map(str::to_string);
    if let Some(r) = input.rotate_request.filter(|r| old.and_then(|o| o.ignored_rotate_ca.as_deref()) != Some(*r)) {
        events.push(Note::ring(
            EventType::Warning,
            "CARotationByIssuer",
            "RotateCA",
            format!(
                "omring.io/rotate-ca={r} is ignored: the ring's certificates come from the {issuer} through \
                 cert-manager, so rotating the CA is the issuer's business (rotate the issuer's CA, keep the old one \
                 in ca.crt while the nodes move over, then re-issue the Certificates {tls_secret} and {admin_secret}, \
                 e.g. with cmctl renew)"
            ),
        ));
    }

    let renewal_time = match input.certificates {
        Ok(certs) => certs
            .iter()
            .filter_map(|c| c.status.as_ref()?.renewal_time.as_deref()?.parse::<Timestamp>().ok())
            .min()
            .map(|t| t.to_string()),
        Err(_) => None,
    };
    let status = TlsStatus {
        node_certificate_not_after: node.as_ref().ok().map(|(l, _)| l.not_after.to_string()),
        admin_certificate_not_after: admin.as_ref().ok().map(|(l, _)| l.not_after.to_string()),
        ca_not_after: node.as_ref().ok().map(|(_, ca)| ca.not_after.to_string()),
        renewal_time,
        ca_rotation: None,
        issuer: Some(issuer.to_string()),
        ignored_rotate_ca,
    };
    let credentials = admin.is_ok().then(|| credentials(input.stored.admin.as_ref())).flatten();
    Assessed { status, ready, reason, message, hold, credentials, events }
}

#[cfg(test)]
#[path = "certmanager_tests.rs"]
mod tests;
