//! A ring's certificates over time: issue, renew, rotate the CA. The decision is a pure
//! function of the three Secrets as read, the policy and the time ([`reconcile`]), so the
//! state lives in the API server (the Secrets and two annotations on the CA Secret), never
//! in the operator's memory, and a restarted operator resumes a rotation where it stopped.
//!
//! - Secret `<name>-ca` (`ca.crt`, `ca.key`; `previous.crt` during a rotation): the ring's own
//!   CA, never shared with another ring. It lasts [`CA_LIFETIMES`] certificate lifetimes.
//! - Secret `<name>-tls` (`tls.crt`, `tls.key`, `ca.crt`): the node certificate every pod
//!   mounts, CN `<name>-node`, O `omring:nodes`, every DNS name of the pods.
//! - Secret `<name>-admin-tls` (same layout): the operator's client certificate, CN
//!   `omring-operator`.
//!
//! A certificate is (re)issued when it is missing or unreadable, its key does not match, it
//! names other hosts or another subject (the cluster domain changed), a CA other than the
//! current one signed it, or less than `renewBefore` is left. Renewal rewrites the Secret in
//! place: the kubelet updates the mounted files and the node reloads them, nothing restarts.
//!
//! The CA rotates with an overlapping trust bundle when less than [`CA_ROTATE_LIFETIMES`]
//! certificate lifetimes are left:
//! 1. `TrustNewCA`: a new CA becomes `ca.crt`, the old one moves to `previous.crt`, and the
//!    bundle (`ca.crt` of the leaf Secrets) holds both; the certificates stay as they are.
//! 2. `SignWithNewCA`, once the pods have had the propagation delay to load that bundle: the
//!    certificates are re-issued by the new CA.
//! 3. Once the pods have had the delay again to load them, the old CA leaves the bundle and
//!    `previous.crt` goes; the rotation is over.
//!
//! A rotation also starts when a user sets a new value of the ring's `omring.io/rotate-ca`
//! annotation; the CA Secret's `omring.io/ca-rotation-request` keeps the last value acted on,
//! and a value set during a rotation starts another once that one is over.
//!
//! The step and when it started are the CA Secret's `omring.io/ca-rotation` and
//! `omring.io/ca-rotation-since` annotations. A certificate that must be issued during step 1
//! (deleted, or its hosts changed) is issued by the new CA at once and the rotation moves to
//! step 2 then: no old CA key is kept.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::events::EventType;

use crate::certs::{self, CertError, CertInfo, Issued, LeafSpec};
use crate::crd::{CaRotationStatus, TlsStatus};
use crate::duration;
use crate::execute::Note;
use crate::model::TlsModel;
use crate::names::{
    RingNames, ANNOTATION_CA_ROTATION, ANNOTATION_CA_ROTATION_REQUEST, ANNOTATION_CA_ROTATION_SINCE,
    ANNOTATION_ROTATE_CA, CA_CRT, CA_KEY, PREVIOUS_CRT, TLS_CRT, TLS_KEY,
};
use crate::ringclient::RingCredentials;

/// The organisation that marks a ring member (`omring.security.node.group`'s default).
pub const NODE_GROUP: &str = "omring:nodes";
/// The operator's user name on every ring (CN of its client certificate).
pub const OPERATOR_USER: &str = "omring-operator";
/// The CA lasts this many certificate lifetimes (900 days with the default 90)...
pub const CA_LIFETIMES: u32 = 10;
/// ...and is rotated when fewer than this many are left (180 days with the default).
pub const CA_ROTATE_LIFETIMES: u32 = 2;
/// Certificates are valid from this long before they are made, for nodes whose clocks lag.
const BACKDATE: Duration = Duration::from_secs(300);

/// How long certificates live, when they are renewed, and how long pods get to load a new
/// trust bundle before a CA rotation moves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub certificate_duration: Duration,
    pub renew_before: Duration,
    pub propagation: Duration,
}

impl Policy {
    pub fn new(tls: &TlsModel, propagation: Duration) -> Self {
        Self { certificate_duration: tls.certificate_duration, renew_before: tls.renew_before, propagation }
    }
    fn ca_duration(&self) -> Duration {
        self.certificate_duration.saturating_mul(CA_LIFETIMES)
    }
    fn ca_rotate_before(&self) -> Duration {
        self.certificate_duration.saturating_mul(CA_ROTATE_LIFETIMES)
    }
}

/// One of the ring's TLS Secrets as read from the API server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    pub resource_version: Option<String>,
    pub data: BTreeMap<String, Vec<u8>>,
    pub annotations: BTreeMap<String, String>,
    /// uids of the Secret's owners.
    pub owners: Vec<String>,
}

/// The three Secrets (None: not there).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredSecrets {
    pub ca: Option<Stored>,
    pub tls: Option<Stored>,
    pub admin: Option<Stored>,
}

/// What a Secret should hold. `write` says whether that differs from what is stored;
/// `resource_version` is the stored one, a precondition of the write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretContent {
    pub data: BTreeMap<String, Vec<u8>>,
    pub annotations: BTreeMap<String, String>,
    pub resource_version: Option<String>,
    pub write: bool,
}

/// The step of a CA rotation under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Step 1: the bundle trusts both CAs; certificates still from the old one.
    TrustNewCa,
    /// Step 2: certificates from the new CA; the bundle still trusts both.
    SignWithNewCa,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::TrustNewCa => "TrustNewCA",
            Phase::SignWithNewCa => "SignWithNewCA",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [Phase::TrustNewCa, Phase::SignWithNewCa].into_iter().find(|p| p.as_str() == s)
    }
    fn step(self) -> i32 {
        match self {
            Phase::TrustNewCa => 1,
            Phase::SignWithNewCa => 2,
        }
    }
}

/// A rotation step and when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub phase: Phase,
    pub since: Timestamp,
}

/// The outcome of one pass: what the Secrets should hold, what happened, and when the next
/// pass is due at the latest.
#[derive(Debug)]
pub struct Pki {
    pub ca: SecretContent,
    pub tls: SecretContent,
    pub admin: SecretContent,
    pub events: Vec<Note>,
    pub status: TlsStatus,
    /// The earliest renewal or rotation step ahead.
    pub next_due: Timestamp,
    pub rotation: Option<Rotation>,
}

impl Pki {
    /// What the operator presents to the ring: its client certificate and the trust bundle.
    pub fn admin_credentials(&self) -> RingCredentials {
        let get = |k: &str| self.admin.data.get(k).cloned().unwrap_or_default();
        RingCredentials { ca_pem: get(CA_CRT), cert_pem: get(TLS_CRT), key_pem: get(TLS_KEY) }
    }
}

fn plus(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

fn minus(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_sub(d).unwrap_or(Timestamp::MIN)
}

fn text(stored: Option<&Stored>, key: &str) -> Option<String> {
    stored?.data.get(key).and_then(|b| String::from_utf8(b.clone()).ok())
}

/// The node certificate's identity (docs/security.md).
pub fn node_leaf(names: &RingNames) -> LeafSpec {
    LeafSpec {
        common_name: format!("{}-node", names.name),
        organizations: vec![NODE_GROUP.into()],
        dns_names: names.certificate_dns_names(),
        server_auth: true,
        client_auth: true,
    }
}

/// The operator's client certificate's identity.
pub fn admin_leaf() -> LeafSpec {
    LeafSpec {
        common_name: OPERATOR_USER.into(),
        organizations: Vec::new(),
        dns_names: Vec::new(),
        server_auth: false,
        client_auth: true,
    }
}

struct Ca {
    issued: Issued,
    info: CertInfo,
}

struct CaState {
    current: Ca,
    /// The CA being replaced, PEM and what it says.
    previous: Option<(String, CertInfo)>,
    rotation: Option<Rotation>,
    /// The last `omring.io/rotate-ca` value a rotation was started for.
    request_done: Option<String>,
}

impl CaState {
    fn bundle(&self) -> String {
        let mut b = self.current.issued.cert_pem.clone();
        if let Some((pem, _)) = &self.previous {
            b.push_str(pem);
        }
        b
    }
}

/// The CA Secret's state, or why it cannot be used.
fn read_ca(stored: Option<&Stored>, now: Timestamp) -> Result<CaState, String> {
    let Some(s) = stored else { return Err("missing".into()) };
    let cert_pem = text(Some(s), CA_CRT).ok_or("no ca.crt")?;
    let key_pem = text(Some(s), CA_KEY).ok_or("no ca.key")?;
    let info = certs::read_cert(&cert_pem)?;
    if !info.is_ca {
        return Err("ca.crt is not a CA certificate".into());
    }
    if !info.key_matches(&key_pem) {
        return Err("ca.key is not the key of ca.crt".into());
    }
    if info.not_after <= now {
        return Err(format!("the CA expired at {}", info.not_after));
    }
    // An unreadable or expired previous CA has nothing left to vouch for.
    let previous = text(Some(s), PREVIOUS_CRT)
        .and_then(|pem| certs::read_cert(&pem).ok().map(|i| (pem, i)))
        .filter(|(_, i)| i.not_after > now);
    let phase = s.annotations.get(ANNOTATION_CA_ROTATION).and_then(|p| Phase::parse(p));
    let since = s.annotations.get(ANNOTATION_CA_ROTATION_SINCE).and_then(|t| t.parse::<Timestamp>().ok());
    let rotation = match (&previous, phase, since) {
        (None, _, _) => None,
        (Some(_), Some(phase), Some(since)) => Some(Rotation { phase, since: since.min(now) }),
        // A previous CA without a readable step: finish safely, giving the pods the delay.
        (Some(_), _, _) => Some(Rotation { phase: Phase::SignWithNewCa, since: now }),
    };
    let request_done = s.annotations.get(ANNOTATION_CA_ROTATION_REQUEST).cloned();
    Ok(CaState { current: Ca { issued: Issued { cert_pem, key_pem }, info }, previous, rotation, request_done })
}

fn ca_name(names: &RingNames, now: Timestamp) -> String {
    let mut cn = format!("omring CA {}/{} {}", names.namespace, names.name, now.strftime("%Y%m%dT%H%M%SZ"));
    // X.509 bounds a common name to 64 characters.
    while cn.len() > 64 {
        cn.remove(11);
    }
    cn
}

fn new_ca(names: &RingNames, policy: &Policy, now: Timestamp) -> Result<Ca, CertError> {
    let issued = certs::new_ca(&ca_name(names, now), minus(now, BACKDATE), plus(now, policy.ca_duration()))?;
    let info = certs::read_cert(&issued.cert_pem).map_err(CertError::Signer)?;
    Ok(Ca { issued, info })
}

/// Why a certificate must be (re)issued.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Trouble {
    Missing,
    Unreadable(String),
    KeyMismatch,
    Identity,
    OtherCa,
    Expiring(Timestamp),
}

impl std::fmt::Display for Trouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trouble::Missing => write!(f, "it did not exist"),
            Trouble::Unreadable(why) => write!(f, "it was unreadable: {why}"),
            Trouble::KeyMismatch => write!(f, "its key did not match"),
            Trouble::Identity => write!(f, "its subject or host names changed"),
            Trouble::OtherCa => write!(f, "it was not signed by the ring's current CA"),
            Trouble::Expiring(at) => write!(f, "it expires at {at}"),
        }
    }
}

/// What is wrong with a stored leaf certificate, if anything; and what it says.
fn leaf_trouble(
    stored: Option<&Stored>,
    spec: &LeafSpec,
    signers: &[&CertInfo],
    policy: &Policy,
    now: Timestamp,
) -> Result<CertInfo, Trouble> {
    if stored.is_none() {
        return Err(Trouble::Missing);
    }
    let pem = text(stored, TLS_CRT).ok_or_else(|| Trouble::Unreadable("no tls.crt".into()))?;
    let info = certs::read_cert(&pem).map_err(Trouble::Unreadable)?;
    if !text(stored, TLS_KEY).is_some_and(|k| info.key_matches(&k)) {
        return Err(Trouble::KeyMismatch);
    }
    if !info.matches(spec) {
        return Err(Trouble::Identity);
    }
    if !signers.iter().any(|ca| info.signed_by(ca)) {
        return Err(Trouble::OtherCa);
    }
    if now >= minus(info.not_after, policy.renew_before) {
        return Err(Trouble::Expiring(info.not_after));
    }
    Ok(info)
}

/// A reference to one of the ring's Secrets, for the events about it.
pub(crate) fn secret_ref(names: &RingNames, secret: &str) -> Option<ObjectReference> {
    Some(ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Secret".into()),
        name: Some(secret.into()),
        namespace: Some(names.namespace.clone()),
        ..Default::default()
    })
}

/// The content of a leaf Secret, issuing its certificate if `trouble` says so.
#[allow(clippy::too_many_arguments)]
fn leaf_content(
    names: &RingNames,
    secret: &str,
    stored: Option<&Stored>,
    found: Result<CertInfo, Trouble>,
    spec: &LeafSpec,
    state: &CaState,
    policy: &Policy,
    now: Timestamp,
    events: &mut Vec<Note>,
) -> Result<(SecretContent, CertInfo), CertError> {
    let bundle = state.bundle();
    let (cert, key, info) = match found {
        Ok(info) => (text(stored, TLS_CRT).unwrap_or_default(), text(stored, TLS_KEY).unwrap_or_default(), info),
        Err(trouble) => {
            let not_after = plus(now, policy.certificate_duration).min(state.current.info.not_after);
            let issued = certs::issue(spec, &state.current.issued, minus(now, BACKDATE), not_after)?;
            let info = certs::read_cert(&issued.cert_pem).map_err(CertError::Signer)?;
            let (reason, note) = if trouble == Trouble::Missing {
                (
                    "CertificateIssued",
                    format!(
                        "issued the certificate of {} in Secret {secret}, valid until {}",
                        spec.common_name, info.not_after
                    ),
                )
            } else {
                (
                    "CertificateRenewed",
                    format!(
                        "renewed the certificate of {} in Secret {secret} ({trouble}); valid until {}",
                        spec.common_name, info.not_after
                    ),
                )
            };
            events.push(Note::about(secret_ref(names, secret), EventType::Normal, reason, "ManageCertificates", note));
            (issued.cert_pem, issued.key_pem, info)
        }
    };
    let data = BTreeMap::from([
        (TLS_CRT.to_string(), cert.into_bytes()),
        (TLS_KEY.to_string(), key.into_bytes()),
        (CA_CRT.to_string(), bundle.into_bytes()),
    ]);
    let write = stored.is_none_or(|s| s.data != data);
    let content = SecretContent {
        data,
        annotations: BTreeMap::new(),
        resource_version: stored.and_then(|s| s.resource_version.clone()),
        write,
    };
    Ok((content, info))
}

fn rotation_note(names: &RingNames, reason: &'static str, note: String) -> Note {
    Note::about(secret_ref(names, &names.ca_secret()), EventType::Normal, reason, "RotateCA", note)
}

/// One pass over a ring's certificates at time `now`: see the module documentation.
/// `request` is the ring's `omring.io/rotate-ca` annotation.
pub fn reconcile(
    stored: &StoredSecrets,
    names: &RingNames,
    policy: &Policy,
    request: Option<&str>,
    now: Timestamp,
) -> Result<Pki, CertError> {
    let mut events = Vec::new();
    let ca_secret = names.ca_secret();
    let delay = duration::format(policy.propagation);

    // The CA: as stored, or a new one.
    let mut state = match read_ca(stored.ca.as_ref(), now) {
        Ok(s) => s,
        Err(why) => {
            let ca = new_ca(names, policy, now)?;
            events.push(if stored.ca.is_none() {
                Note::about(
                    secret_ref(names, &ca_secret),
                    EventType::Normal,
                    "CAIssued",
                    "ManageCertificates",
                    format!("created the ring's CA in Secret {ca_secret}, valid until {}", ca.info.not_after),
                )
            } else {
                Note::about(
                    secret_ref(names, &ca_secret),
                    EventType::Warning,
                    "CAReplaced",
                    "ManageCertificates",
                    format!(
                        "the CA in Secret {ca_secret} was unusable ({why}); made a new one valid until {}: nodes \
                         trust each other again once they load the new certificates",
                        ca.info.not_after
                    ),
                )
            });
            // A new CA answers any request made so far.
            CaState { current: ca, previous: None, rotation: None, request_done: request.map(str::to_string) }
        }
    };

    // Step 1: a CA nearing its end, or one a user asked to replace, is joined by its
    // successor in the bundle.
    let requested = request.filter(|r| state.request_done.as_deref() != Some(*r));
    let ageing = now >= minus(state.current.info.not_after, policy.ca_rotate_before());
    if state.rotation.is_none() && (ageing || requested.is_some()) {
        let new = new_ca(names, policy, now)?;
        let why = match requested {
            Some(r) if !ageing => format!("as asked by the ring's annotation {ANNOTATION_ROTATE_CA}={r}"),
            _ => format!("as the current one expires at {}", state.current.info.not_after),
        };
        events.push(rotation_note(
            names,
            "CARotationStarted",
            format!(
                "CA rotation step 1/3: a new CA (valid until {}) is trusted beside the current one, {why}; the \
                 certificates are re-issued by it in {delay}",
                new.info.not_after
            ),
        ));
        if requested.is_some() {
            state.request_done = requested.map(str::to_string);
        }
        let old = std::mem::replace(&mut state.current, new);
        state.previous = Some((old.issued.cert_pem, old.info));
        state.rotation = Some(Rotation { phase: Phase::TrustNewCa, since: now });
    }
    let step_two = |state: &mut CaState, events: &mut Vec<Note>, why: &str| {
        state.rotation = Some(Rotation { phase: Phase::SignWithNewCa, since: now });
        events.push(rotation_note(
            names,
            "CARotationSigning",
            format!("CA rotation step 2/3: {why}; the certificates are now issued by the new CA"),
        ));
    };
    // Step 2 once the pods have had the time to trust the new CA.
    if let Some(r) = state.rotation.filter(|r| r.phase == Phase::TrustNewCa && now >= plus(r.since, policy.propagation))
    {
        let why = format!("the pods have trusted the new CA since {}", r.since);
        step_two(&mut state, &mut events, &why);
    }

    // The certificates, against the CAs that may have signed them now.
    let node_spec = node_leaf(names);
    let admin_spec = admin_leaf();
    let check = |state: &CaState| {
        let mut signers = vec![&state.current.info];
        if state.rotation.is_some_and(|r| r.phase == Phase::TrustNewCa) {
            signers.extend(state.previous.as_ref().map(|(_, i)| i));
        }
        (
            leaf_trouble(stored.tls.as_ref(), &node_spec, &signers, policy, now),
            leaf_trouble(stored.admin.as_ref(), &admin_spec, &signers, policy, now),
        )
    };
    let (mut node, mut admin) = check(&state);
    if state.rotation.is_some_and(|r| r.phase == Phase::TrustNewCa) && (node.is_err() || admin.is_err()) {
        step_two(&mut state, &mut events, "a certificate had to be issued before the delay was over");
        (node, admin) = check(&state);
    }
    // Step 3 once the pods have had the time to load certificates of the new CA; a
    // certificate of the old CA re-issued now restarts that wait.
    if let Some(r) = state.rotation.filter(|r| r.phase == Phase::SignWithNewCa) {
        if [&node, &admin].iter().any(|c| matches!(c, Err(Trouble::OtherCa))) {
            state.rotation = Some(Rotation { phase: Phase::SignWithNewCa, since: now.max(r.since) });
        } else if now >= plus(r.since, policy.propagation) {
            let old_expiry = state.previous.as_ref().map(|(_, i)| i.not_after.to_string()).unwrap_or_default();
            state.previous = None;
            state.rotation = None;
            events.push(rotation_note(
                names,
                "CARotated",
                format!(
                    "CA rotation step 3/3: the old CA (valid until {old_expiry}) left the trust bundle; the ring \
                     trusts only the CA valid until {}",
                    state.current.info.not_after
                ),
            ));
        }
    }

    let (tls, node_info) = leaf_content(
        names,
        &names.tls_secret(),
        stored.tls.as_ref(),
        node,
        &node_spec,
        &state,
        policy,
        now,
        &mut events,
    )?;
    let (admin, admin_info) = leaf_content(
        names,
        &names.admin_tls_secret(),
        stored.admin.as_ref(),
        admin,
        &admin_spec,
        &state,
        policy,
        now,
        &mut events,
    )?;
    let ca = ca_content(stored.ca.as_ref(), &state);

    // The next thing due: a renewal, the start of a rotation, or its next step.
    let mut due = vec![
        minus(node_info.not_after, policy.renew_before),
        minus(admin_info.not_after, policy.renew_before),
        minus(state.current.info.not_after, policy.ca_rotate_before()),
    ];
    if let Some(r) = state.rotation {
        due.push(plus(r.since, policy.propagation));
    }
    due.extend(state.previous.as_ref().map(|(_, i)| i.not_after));
    let next_due = due.into_iter().min().unwrap_or(now).max(now);

    let status = TlsStatus {
        node_certificate_not_after: Some(node_info.not_after.to_string()),
        admin_certificate_not_after: Some(admin_info.not_after.to_string()),
        ca_not_after: Some(state.current.info.not_after.to_string()),
        renewal_time: Some(next_due.to_string()),
        ca_rotation: state.rotation.map(|r| CaRotationStatus {
            step: r.phase.step(),
            phase: r.phase.as_str().into(),
            since: r.since.to_string(),
            message: match r.phase {
                Phase::TrustNewCa => {
                    format!("pods load a bundle with both CAs; certificates are re-issued by the new CA after {delay}")
                }
                Phase::SignWithNewCa => {
                    format!("certificates are from the new CA; the old CA leaves the bundle after {delay}")
                }
            },
        }),
        issuer: None,
        ignored_rotate_ca: None,
    };
    Ok(Pki { ca, tls, admin, events, status, next_due, rotation: state.rotation })
}

/// The CA Secret's content: the CA, the previous one during a rotation, and the step.
fn ca_content(stored: Option<&Stored>, state: &CaState) -> SecretContent {
    let mut data = BTreeMap::from([
        (CA_CRT.to_string(), state.current.issued.cert_pem.clone().into_bytes()),
        (CA_KEY.to_string(), state.current.issued.key_pem.clone().into_bytes()),
    ]);
    if let Some((pem, _)) = &state.previous {
        data.insert(PREVIOUS_CRT.into(), pem.clone().into_bytes());
    }
    let mut annotations = BTreeMap::new();
    if let Some(r) = state.rotation {
        annotations.insert(ANNOTATION_CA_ROTATION.to_string(), r.phase.as_str().to_string());
        annotations.insert(ANNOTATION_CA_ROTATION_SINCE.to_string(), r.since.to_string());
    }
    if let Some(r) = &state.request_done {
        annotations.insert(ANNOTATION_CA_ROTATION_REQUEST.to_string(), r.clone());
    }
    let ours = |s: &Stored| -> BTreeMap<String, String> {
        const OURS: [&str; 3] = [ANNOTATION_CA_ROTATION, ANNOTATION_CA_ROTATION_SINCE, ANNOTATION_CA_ROTATION_REQUEST];
        s.annotations.iter().filter(|(k, _)| OURS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    let write = stored.is_none_or(|s| s.data != data || ours(s) != annotations);
    SecretContent { data, annotations, resource_version: stored.and_then(|s| s.resource_version.clone()), write }
}

#[cfg(test)]
#[path = "pki_tests.rs"]
mod tests;
