//! Security settings and the pieces that enforce them: TLS on the three ports
//! ([`server_tls`]), who a request comes from ([`identity`], [`authn`]).
//!
//! Ozone's key names where Ozone has them (`ozone.security.enabled`, `hdds.grpc.tls.enabled`,
//! `ozone.http.policy`, `ozone.om.https-address`, `ozone.acl.enabled`, `ozone.administrators`);
//! `omring.*` keys for the certificate files and token sources. docs/security.md has the table.

pub mod authn;
pub mod identity;
pub mod server_tls;

use std::path::PathBuf;
use std::time::Duration;

use om_client::acl::CreatorRights;
use om_client::config::{ConfigError, OzoneConfig};
use om_client::tls::{self, TlsFiles};

pub use identity::Principal;

pub const KEY_HTTP_POLICY: &str = "ozone.http.policy";
pub const KEY_HTTPS_ADDRESS: &str = "ozone.om.https-address";
pub const DEFAULT_HTTPS_PORT: u16 = 9875;
pub const KEY_NODE_GROUP: &str = "omring.security.node.group";
pub const DEFAULT_NODE_GROUP: &str = "omring:nodes";
pub const KEY_TOKEN_FILE: &str = "omring.security.token.file";
pub const KEY_TOKENREVIEW: &str = "omring.security.tokenreview.enabled";
pub const KEY_ACL_ENABLED: &str = "ozone.acl.enabled";
pub const KEY_ADMINISTRATORS: &str = "ozone.administrators";
pub const KEY_ADMINISTRATOR_GROUPS: &str = "ozone.administrators.groups";
pub const KEY_USER_RIGHTS: &str = "ozone.om.user.rights";
pub const KEY_GROUP_RIGHTS: &str = "ozone.om.group.rights";
pub const KEY_AUDIT_LOG_FILE: &str = "omring.audit.log.file";

/// `ozone.http.policy`: which of HTTP and HTTPS the health/metrics port serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum HttpPolicy {
    HttpOnly,
    HttpsOnly,
    HttpAndHttps,
}

impl HttpPolicy {
    pub fn http(self) -> bool {
        self != HttpPolicy::HttpsOnly
    }
    pub fn https(self) -> bool {
        self != HttpPolicy::HttpOnly
    }
}

/// A node's security settings, validated against each other.
#[derive(Debug, Clone)]
pub struct SecuritySettings {
    /// TLS on the client port and a principal on every client request.
    pub enabled: bool,
    /// Mutual TLS on the peer port.
    pub peer_tls: bool,
    pub http_policy: HttpPolicy,
    /// The HTTPS listener of the health/metrics port (host, port), when the policy has one.
    pub https_address: Option<(String, u16)>,
    pub tls_files: Option<TlsFiles>,
    pub reload_interval: Duration,
    /// The certificate organisation that marks ring members.
    pub node_group: String,
    pub token_file: Option<PathBuf>,
    pub token_review: bool,
    pub acl_enabled: bool,
    pub administrators: Vec<String>,
    pub administrator_groups: Vec<String>,
    /// What the creator of an object (and its first group) get on it: `ozone.om.user.rights`,
    /// `ozone.om.group.rights`.
    pub creator_rights: CreatorRights,
    /// The audit log; None turns it off.
    pub audit_file: Option<PathBuf>,
}

/// Why the security settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("invalid setting {key}: {reason}")]
    Setting { key: &'static str, reason: String },
}

/// True inside a Kubernetes pod (its ServiceAccount token is mounted).
pub fn in_kubernetes() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() && std::path::Path::new(authn::SA_TOKEN_FILE).exists()
}

impl SecuritySettings {
    /// Reads the keys; `service_id`/`node_id` pick the suffixed HTTPS address, `http_host` is
    /// its default host and `db_dir` the default audit log's directory.
    pub fn from_config(
        conf: &OzoneConfig,
        service_id: &str,
        node_id: &str,
        http_host: &str,
        db_dir: &std::path::Path,
    ) -> Result<Self, SecurityError> {
        let enabled = conf.get_bool(tls::OZONE_SECURITY_ENABLED, false)?;
        let peer_tls = conf.get_bool(tls::HDDS_GRPC_TLS_ENABLED, enabled)?;
        let policy_text = conf.get_trimmed(KEY_HTTP_POLICY).filter(|v| !v.is_empty()).unwrap_or("HTTP_ONLY");
        let http_policy: HttpPolicy = policy_text.to_ascii_uppercase().parse().map_err(|_| SecurityError::Setting {
            key: KEY_HTTP_POLICY,
            reason: format!("'{policy_text}' is not HTTP_ONLY, HTTPS_ONLY or HTTP_AND_HTTPS"),
        })?;
        let https_address = if http_policy.https() {
            let key = [format!("{KEY_HTTPS_ADDRESS}.{service_id}.{node_id}"), KEY_HTTPS_ADDRESS.to_string()];
            let value = key.iter().find_map(|k| conf.get_trimmed(k).filter(|v| !v.is_empty()));
            Some(match value {
                None => (http_host.to_string(), DEFAULT_HTTPS_PORT),
                Some(v) => split_host_port(v, http_host).ok_or_else(|| SecurityError::Setting {
                    key: KEY_HTTPS_ADDRESS,
                    reason: format!("'{v}' is not host[:port]"),
                })?,
            })
        } else {
            None
        };
        let tls_files = TlsFiles::server(conf)?;
        let reload_ms = conf.get_u64(tls::TLS_RELOAD_INTERVAL_MS, tls::DEFAULT_TLS_RELOAD_INTERVAL_MS)?;
        let path = |k: &str| conf.get_trimmed(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let audit_file = match conf.get(KEY_AUDIT_LOG_FILE) {
            Some(v) if v.trim().is_empty() => None,
            Some(v) => Some(PathBuf::from(v.trim())),
            None if enabled => Some(db_dir.join("om-audit.log")),
            None => None,
        };
        let s = SecuritySettings {
            enabled,
            peer_tls,
            http_policy,
            https_address,
            tls_files,
            reload_interval: Duration::from_millis(reload_ms.max(100)),
            node_group: conf.get_trimmed(KEY_NODE_GROUP).filter(|v| !v.is_empty()).unwrap_or(DEFAULT_NODE_GROUP).into(),
            token_file: path(KEY_TOKEN_FILE),
            token_review: conf.get_bool(KEY_TOKENREVIEW, in_kubernetes())?,
            acl_enabled: conf.get_bool(KEY_ACL_ENABLED, false)?,
            administrators: conf.get_list(KEY_ADMINISTRATORS),
            administrator_groups: conf.get_list(KEY_ADMINISTRATOR_GROUPS),
            creator_rights: creator_rights(conf)?,
            audit_file,
        };
        s.validate()?;
        Ok(s)
    }

    /// The administrators, as the authorizer takes them.
    pub fn admins(&self) -> crate::authz::Admins {
        let mut users: std::collections::BTreeSet<String> = self.administrators.iter().cloned().collect();
        let everyone = users.remove("*");
        crate::authz::Admins {
            users,
            groups: self.administrator_groups.iter().cloned().collect(),
            everyone,
            node_group: Some(self.node_group.clone()).filter(|g| !g.is_empty()),
        }
    }

    /// Any listener speaks TLS.
    pub fn any_tls(&self) -> bool {
        self.enabled || self.peer_tls || self.http_policy.https()
    }

    fn validate(&self) -> Result<(), SecurityError> {
        if !self.any_tls() {
            return Ok(());
        }
        let why = if self.enabled {
            format!("{} is true", tls::OZONE_SECURITY_ENABLED)
        } else if self.peer_tls {
            format!("{} is true", tls::HDDS_GRPC_TLS_ENABLED)
        } else {
            format!("{KEY_HTTP_POLICY} is {}", <&str>::from(self.http_policy))
        };
        match &self.tls_files {
            Some(f) if f.identity.is_some() => Ok(()),
            _ => Err(SecurityError::Setting {
                key: tls::TLS_CERTIFICATE_FILE,
                reason: format!(
                    "{why}, so the node needs its certificate, key and CA bundle: set {}, {} and {}",
                    tls::TLS_CERTIFICATE_FILE,
                    tls::TLS_PRIVATE_KEY_FILE,
                    tls::TLS_CA_FILE
                ),
            }),
        }
    }
}

/// `ozone.om.user.rights` and `ozone.om.group.rights` (right names, comma-separated).
fn creator_rights(conf: &OzoneConfig) -> Result<CreatorRights, SecurityError> {
    let value = |key: &str| conf.get_trimmed(key).filter(|v| !v.is_empty());
    CreatorRights::from_config(value(KEY_USER_RIGHTS), value(KEY_GROUP_RIGHTS)).map_err(|e| match e {
        om_client::acl::AclError::Config { key, source } => SecurityError::Setting { key, reason: source.to_string() },
        other => SecurityError::Setting { key: KEY_USER_RIGHTS, reason: other.to_string() },
    })
}

fn split_host_port(v: &str, default_host: &str) -> Option<(String, u16)> {
    match v.rsplit_once(':') {
        Some((h, p)) => {
            let port = p.parse().ok()?;
            let host = if h.is_empty() || h == "0.0.0.0" { default_host } else { h };
            Some((host.to_string(), port))
        }
        None => Some((v.to_string(), DEFAULT_HTTPS_PORT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> OzoneConfig {
        let mut c = OzoneConfig::new();
        for (k, v) in pairs {
            c.set(k, *v);
        }
        c
    }

    #[test]
    fn plaintext_by_default_and_tls_needs_files() {
        let d = std::path::Path::new("/db");
        let s = SecuritySettings::from_config(&conf(&[]), "s", "n1", "h", d).unwrap();
        assert!(!s.enabled && !s.peer_tls && !s.any_tls() && s.audit_file.is_none());
        let e = SecuritySettings::from_config(&conf(&[("ozone.security.enabled", "true")]), "s", "n1", "h", d)
            .unwrap_err()
            .to_string();
        assert!(e.contains("omring.tls.certificate.file") && e.contains("ozone.security.enabled is true"), "{e}");
        let files = [
            ("ozone.security.enabled", "true"),
            ("omring.tls.certificate.file", "/c"),
            ("omring.tls.private.key.file", "/k"),
            ("omring.tls.ca.file", "/ca"),
        ];
        let s = SecuritySettings::from_config(&conf(&files), "s", "n1", "h", d).unwrap();
        assert!(s.enabled && s.peer_tls, "peer TLS follows ozone.security.enabled");
        assert_eq!(s.audit_file.as_deref(), Some(std::path::Path::new("/db/om-audit.log")));
    }

    #[test]
    fn http_policy_and_https_address() {
        let d = std::path::Path::new("/db");
        let base = [
            ("omring.tls.certificate.file", "/c"),
            ("omring.tls.private.key.file", "/k"),
            ("omring.tls.ca.file", "/ca"),
        ];
        let mut pairs = base.to_vec();
        pairs.push(("ozone.http.policy", "https_only"));
        pairs.push(("ozone.om.https-address.s.n1", "0.0.0.0:19875"));
        let s = SecuritySettings::from_config(&conf(&pairs), "s", "n1", "h1", d).unwrap();
        assert_eq!(s.http_policy, HttpPolicy::HttpsOnly);
        assert_eq!(s.https_address, Some(("h1".into(), 19875)));
        let bad = SecuritySettings::from_config(&conf(&[("ozone.http.policy", "SOMETIMES")]), "s", "n1", "h", d)
            .unwrap_err()
            .to_string();
        assert!(bad.contains("SOMETIMES") && bad.contains("HTTP_AND_HTTPS"), "{bad}");
    }

    #[test]
    fn creator_rights_come_from_ozones_keys() {
        let d = std::path::Path::new("/db");
        let s = SecuritySettings::from_config(&conf(&[]), "s", "n1", "h", d).unwrap();
        assert_eq!(s.creator_rights, CreatorRights::default());
        let pairs = [("ozone.om.user.rights", "READ, WRITE"), ("ozone.om.group.rights", "read")];
        let s = SecuritySettings::from_config(&conf(&pairs), "s", "n1", "h", d).unwrap();
        assert_eq!(s.creator_rights.user.letters(), "rw");
        assert_eq!(s.creator_rights.group.letters(), "r");
        let bad = SecuritySettings::from_config(&conf(&[("ozone.om.group.rights", "READ,FLY")]), "s", "n1", "h", d)
            .unwrap_err()
            .to_string();
        assert!(bad.contains("ozone.om.group.rights") && bad.contains("FLY"), "{bad}");
    }
}
