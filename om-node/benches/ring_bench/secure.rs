//! The "secure" configuration: a per-run CA (rcgen), the node certificate, the bench users'
//! client certificates, the ring settings that turn TLS and ACLs on, and a check that the ring
//! really refuses what it should.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::pki::TestCa;
use om_client::config::RetryPolicy;
use om_client::tls::{self, ClientTlsOverrides, ReloadingCredentials, TlsFiles};
use om_client::wire::{ErrorCode, PATH_STATUS};
use om_client::{ClientError, FailoverClient};
use om_localring::LocalRing;

type Error = Box<dyn std::error::Error>;

/// The administrator (`ozone.administrators`); it only creates the volume.
pub const ADMIN: &str = "bench-admin";
/// The measured clients' user: owns the volume, is not an administrator.
pub const USER: &str = "bench-user";
/// A user with no rights on the volume (the ACL check must refuse it).
const OTHER: &str = "bench-other";

/// A certificate and its key, as files.
pub struct Identity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The files of one secure run, under the run's directory.
pub struct Secure {
    ca_file: PathBuf,
    node: Identity,
    pub admin: Identity,
    pub user: Identity,
    other: Identity,
}

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf, Error> {
    let p = dir.join(name);
    std::fs::write(&p, text).map_err(|e| format!("writing {}: {e}", p.display()))?;
    Ok(p)
}

/// A leaf certificate of `ca` for `cn` with organisations `orgs` (see [`TestCa::leaf`]),
/// written as `<name>.pem` and `<name>.key`.
fn leaf(dir: &Path, name: &str, ca: &TestCa, cn: &str, orgs: &[&str]) -> Result<Identity, Error> {
    let l = ca.leaf(cn, orgs)?;
    Ok(Identity {
        cert: write(dir, &format!("{name}.pem"), &l.cert_pem)?,
        key: write(dir, &format!("{name}.key"), &l.key_pem)?,
    })
}

impl Secure {
    /// A fresh CA and its certificates under `dir`.
    pub fn create(dir: &Path) -> Result<Self, Error> {
        let ca = TestCa::new("omring bench CA")?;
        let ca_file = write(dir, "ca.pem", &ca.cert_pem)?;
        Ok(Secure {
            ca_file,
            // The node group (O) makes it a ring member, as the operator's node certificate.
            node: leaf(dir, "node", &ca, "om-node", &["omring:nodes"])?,
            admin: leaf(dir, ADMIN, &ca, ADMIN, &["bench"])?,
            user: leaf(dir, USER, &ca, USER, &["bench"])?,
            other: leaf(dir, OTHER, &ca, OTHER, &["bench"])?,
        })
    }

    /// Ring settings: TLS on the client, peer and HTTP ports, ACLs on, [`ADMIN`] the only
    /// administrator besides the ring members.
    pub fn settings(&self) -> Vec<(String, String)> {
        let path = |p: &Path| p.display().to_string();
        [
            (tls::OZONE_SECURITY_ENABLED, "true".to_string()),
            (tls::HDDS_GRPC_TLS_ENABLED, "true".to_string()),
            ("ozone.acl.enabled", "true".to_string()),
            ("ozone.http.policy", "HTTPS_ONLY".to_string()),
            ("ozone.administrators", ADMIN.to_string()),
            (tls::TLS_CERTIFICATE_FILE, path(&self.node.cert)),
            (tls::TLS_PRIVATE_KEY_FILE, path(&self.node.key)),
            (tls::TLS_CA_FILE, path(&self.ca_file)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Places each node's HTTPS listener and says which scheme the metrics port speaks:
    /// HTTPS_ONLY (ours, unless `OMRING_BENCH_SET` says otherwise) puts it on the HTTP port, so
    /// `http_address()` stays the metrics address; HTTP_AND_HTTPS gives it a free port and the
    /// plain listener is scraped. Call before starting the ring.
    pub fn place_https(ring: &mut LocalRing) -> Result<&'static str, Error> {
        let policy = ring.conf.get_trimmed("ozone.http.policy").unwrap_or("HTTP_ONLY").to_ascii_uppercase();
        let (https_only, scheme) = match policy.as_str() {
            "HTTPS_ONLY" => (true, "https"),
            "HTTP_AND_HTTPS" => (false, "http"),
            _ => return Ok("http"),
        };
        let service = ring.conf.service(Some(&ring.service_id))?;
        for n in &service.nodes {
            let addr = match https_only {
                true => n.http_address(),
                false => format!("127.0.0.1:{}", om_localring::free_port()?),
            };
            ring.conf.set(&format!("ozone.om.https-address.{}.{}", ring.service_id, n.node_id), addr);
        }
        ring.write_conf()?;
        Ok(scheme)
    }

    /// An HTTP client that trusts the ring's CA, for the metrics scrape.
    pub fn scrape_client(&self) -> Result<reqwest::Client, Error> {
        let creds = ReloadingCredentials::from_files(TlsFiles { identity: None, ca: self.ca_file.clone() })?;
        Ok(reqwest::Client::builder()
            .use_preconfigured_tls(tls::client_config(creds)?)
            .timeout(Duration::from_secs(10))
            .build()?)
    }

    /// Checks the ring enforces security: plain HTTP on the client port gets no answer, a TLS
    /// client without a certificate gets UNAUTHENTICATED, and a user without rights on the
    /// bench bucket gets PERMISSION_DENIED creating a key there. A one-line summary.
    pub async fn check_enforced(&self, ring: &LocalRing, leader_rpc: &str) -> Result<String, Error> {
        let plain = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?
            .get(format!("http://{leader_rpc}{PATH_STATUS}"))
            .send()
            .await;
        if let Ok(r) = &plain {
            if r.status().is_success() {
                return Err(format!("plain HTTP to the secure client port {leader_rpc} was served").into());
            }
        }
        let anon = client(ring, None, 2)?;
        let refused = |r: Result<_, ClientError>, who: &str, want: ErrorCode| match r {
            Err(e) if e.code() == Some(want) => Ok(()),
            Err(e) => Err(format!("{who}: expected {want:?}, got: {e}")),
            Ok(_) => Err(format!("{who}: expected {want:?}, but it succeeded")),
        };
        refused(
            anon.create_key("bench", "keys", "anon", 1, None, Default::default()).await,
            "a client without certificate",
            ErrorCode::Unauthenticated,
        )?;
        let other = client(ring, Some(&self.other), 2)?;
        refused(
            other.create_key("bench", "keys", "other", 1, None, Default::default()).await,
            OTHER,
            ErrorCode::PermissionDenied,
        )?;
        Ok(format!(
            "secure ring checked: plain HTTP on the client port refused, no certificate -> UNAUTHENTICATED, {OTHER} -> PERMISSION_DENIED"
        ))
    }
}

/// A failover client as [`LocalRing::client`] builds it (same retries and timeouts), presenting
/// `identity` when security is on; `attempts` bounds its retries.
pub fn client(ring: &LocalRing, identity: Option<&Identity>, attempts: u32) -> Result<Arc<FailoverClient>, Error> {
    let service = ring.conf.service(Some(&ring.service_id))?;
    let overrides =
        ClientTlsOverrides { ca: None, cert: identity.map(|i| i.cert.clone()), key: identity.map(|i| i.key.clone()) };
    let mut conf = ring.conf.clone();
    if identity.is_none() {
        // Else the client falls back to the node's own certificate.
        conf.set(tls::TLS_CERTIFICATE_FILE, "");
        conf.set(tls::TLS_PRIVATE_KEY_FILE, "");
    }
    Ok(Arc::new(
        FailoverClient::builder(service)
            .retry_policy(RetryPolicy { max_attempts: attempts, wait_between_rounds: Duration::from_millis(100) })
            .request_timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_millis(300))
            .security_from_config(&conf, &overrides, None)?
            .build()?,
    ))
}
