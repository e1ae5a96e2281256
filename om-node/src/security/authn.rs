//! Authentication of client requests: the client certificate (already checked by TLS), or a
//! bearer token resolved through a static token file or the Kubernetes TokenReview API.
//!
//! TokenReview answers are cached for a minute (tokens are checked on every request; the API
//! server should not be), keyed by a hash of the token, and the cache is bounded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use om_client::tls::{Credentials, Pem, ReloadingCredentials};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::identity::{Principal, PrincipalSource};
use super::SecuritySettings;

/// The pod's ServiceAccount token, used to call TokenReview.
pub const SA_TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// The API server's CA as mounted in pods.
pub const SA_CA_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
const REVIEW_TTL: Duration = Duration::from_secs(60);
const REVIEW_CACHE_MAX: usize = 4096;

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthnError {
    #[error("security is on (ozone.security.enabled) and the request carries no principal: present a client certificate of the ring's CA (omring.client.certificate.file, --cert-file) or a bearer token (omring.client.token.file, --token-file)")]
    Missing,
    #[error("the bearer token was not accepted: {0}")]
    Rejected(String),
    #[error("the Authorization header is not 'Bearer <token>'")]
    Malformed,
    #[error("bearer tokens are not accepted here: neither omring.security.token.file nor TokenReview (omring.security.tokenreview.enabled) is configured")]
    NoTokenSource,
    #[error("cannot check the bearer token: {0}")]
    Unavailable(String),
}

/// One line of a static token file: `token,user,uid,"group1,group2"`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StaticToken {
    user: String,
    groups: Vec<String>,
}

/// Parses kube-apiserver's token file format. Blank lines and `#` comments are skipped; a
/// malformed line is an error naming it.
fn parse_token_file(text: &str, origin: &Path) -> Result<HashMap<String, StaticToken>, String> {
    let mut out = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = split_csv(line);
        if fields.len() < 3 || fields[0].is_empty() || fields[1].is_empty() {
            return Err(format!("{} line {}: expected token,user,uid[,\"group1,group2\"]", origin.display(), i + 1));
        }
        let groups = fields
            .get(3)
            .map(|g| g.split(',').map(str::trim).filter(|g| !g.is_empty()).map(str::to_string).collect())
            .unwrap_or_default();
        out.insert(fields[0].clone(), StaticToken { user: fields[1].clone(), groups });
    }
    Ok(out)
}

/// Splits one CSV line; double quotes group a field (and `""` is a quote inside one).
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur).trim().to_string()),
            c => cur.push(c),
        }
    }
    fields.push(cur.trim().to_string());
    fields
}

/// The static token file, re-read when it changes.
struct TokenFile {
    path: PathBuf,
    state: Mutex<TokenFileState>,
}

/// What was read from the token file, and when.
struct TokenFileState {
    /// The file's modification time when it was read.
    mtime: Option<SystemTime>,
    /// When the modification time was last compared.
    checked: Instant,
    /// The tokens, or why the file could not be used.
    tokens: Result<HashMap<String, StaticToken>, String>,
}

impl TokenFile {
    fn load(path: &Path) -> Result<HashMap<String, StaticToken>, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        parse_token_file(&text, path)
    }

    fn new(path: PathBuf) -> Self {
        let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let tokens = Self::load(&path);
        TokenFile { path, state: Mutex::new(TokenFileState { mtime, checked: Instant::now(), tokens }) }
    }

    fn lookup(&self, token: &str) -> Result<Option<StaticToken>, String> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.checked.elapsed() > Duration::from_secs(2) {
            st.checked = Instant::now();
            let mtime = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
            if mtime != st.mtime {
                st.mtime = mtime;
                st.tokens = Self::load(&self.path);
            }
        }
        match &st.tokens {
            Ok(map) => Ok(map.get(token).cloned()),
            Err(e) => Err(e.clone()),
        }
    }
}

/// Kubernetes TokenReview through the API server, as the pod's ServiceAccount.
struct TokenReview {
    http: reqwest::Client,
    url: String,
    cache: Mutex<HashMap<[u8; 32], CachedReview>>,
}

/// When the API server answered a review, and its answer (the principal, or why not).
type CachedReview = (Instant, Result<Principal, String>);

impl TokenReview {
    fn new() -> Result<Self, String> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| "KUBERNETES_SERVICE_HOST is not set")?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
        let ca = std::fs::read(SA_CA_FILE).map_err(|e| format!("cannot read {SA_CA_FILE}: {e}"))?;
        let creds = Credentials::from_pem(None, Pem { bytes: &ca, origin: Path::new(SA_CA_FILE) })
            .map_err(|e| e.to_string())?;
        let tls = om_client::tls::client_config(ReloadingCredentials::fixed(creds)).map_err(|e| e.to_string())?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        Ok(TokenReview {
            http,
            url: format!("https://{host}:{port}/apis/authentication.k8s.io/v1/tokenreviews"),
            cache: Mutex::new(HashMap::new()),
        })
    }

    async fn review(&self, token: &str) -> Result<Principal, AuthnError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some((at, answer)) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            if at.elapsed() < REVIEW_TTL {
                return answer.clone().map_err(AuthnError::Rejected);
            }
        }
        let own = std::fs::read_to_string(SA_TOKEN_FILE)
            .map_err(|e| AuthnError::Unavailable(format!("cannot read {SA_TOKEN_FILE}: {e}")))?;
        let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}});
        let resp = self
            .http
            .post(&self.url)
            .bearer_auth(own.trim())
            .json(&body)
            .send()
            .await
            .map_err(|e| AuthnError::Unavailable(format!("TokenReview: {e}")))?;
        let status = resp.status();
        let v: Value = resp.json().await.map_err(|e| AuthnError::Unavailable(format!("TokenReview answer: {e}")))?;
        if !status.is_success() {
            let msg = v["message"].as_str().unwrap_or("no message").to_string();
            return Err(AuthnError::Unavailable(format!(
                "TokenReview refused ({status}): {msg} (the ring's ServiceAccount needs the system:auth-delegator ClusterRole)"
            )));
        }
        let st = &v["status"];
        let answer = if st["authenticated"].as_bool() == Some(true) {
            let user = st["user"]["username"].as_str().unwrap_or_default().to_string();
            let groups = st["user"]["groups"]
                .as_array()
                .map(|g| g.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            if user.is_empty() {
                Err("TokenReview named no user".to_string())
            } else {
                Ok(Principal { user, groups, source: PrincipalSource::TokenReview })
            }
        } else {
            Err(st["error"]
                .as_str()
                .filter(|e| !e.is_empty())
                .unwrap_or("not authenticated by the API server")
                .to_string())
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= REVIEW_CACHE_MAX {
            cache.retain(|_, (at, _)| at.elapsed() < REVIEW_TTL);
            if cache.len() >= REVIEW_CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(key, (Instant::now(), answer.clone()));
        answer.map_err(AuthnError::Rejected)
    }
}

/// Resolves a request's principal.
pub struct Authenticator {
    enabled: bool,
    token_file: Option<TokenFile>,
    token_review: Option<TokenReview>,
}

impl Authenticator {
    pub fn new(settings: &SecuritySettings) -> Arc<Self> {
        let token_review = if settings.enabled && settings.token_review {
            match TokenReview::new() {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::warn!(error = %e, "TokenReview is on but cannot be used; bearer tokens are checked against the token file only");
                    None
                }
            }
        } else {
            None
        };
        let token_file = settings.token_file.clone().filter(|_| settings.enabled).map(TokenFile::new);
        Arc::new(Authenticator { enabled: settings.enabled, token_file, token_review })
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The principal of a request: its client certificate's, else its bearer token's. With
    /// security off every request is the anonymous stand-in.
    pub async fn authenticate(
        &self,
        certificate: Option<&Principal>,
        authorization: Option<&str>,
    ) -> Result<Principal, AuthnError> {
        if !self.enabled {
            return Ok(certificate.cloned().unwrap_or_else(Principal::anonymous));
        }
        if let Some(p) = certificate {
            return Ok(p.clone());
        }
        let Some(header) = authorization else { return Err(AuthnError::Missing) };
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthnError::Malformed)?;
        if let Some(file) = &self.token_file {
            match file.lookup(token) {
                Ok(Some(t)) => {
                    return Ok(Principal { user: t.user, groups: t.groups, source: PrincipalSource::StaticToken })
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "static token file unusable"),
            }
        }
        match &self.token_review {
            Some(r) => r.review(token).await,
            None if self.token_file.is_some() => Err(AuthnError::Rejected("unknown token".into())),
            None => Err(AuthnError::NoTokenSource),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_lines_as_kube_apiserver_reads_them() {
        let text = "# comment\n\ntok1,alice,1\ntok2,bob,2,\"dev,ops\"\n";
        let m = parse_token_file(text, Path::new("t")).unwrap();
        assert_eq!(m["tok1"], StaticToken { user: "alice".into(), groups: vec![] });
        assert_eq!(m["tok2"], StaticToken { user: "bob".into(), groups: vec!["dev".into(), "ops".into()] });
        let bad = parse_token_file("tok3,carol\n", Path::new("t")).unwrap_err();
        assert!(bad.contains("line 1") && bad.contains("token,user,uid"), "{bad}");
    }

    #[tokio::test]
    async fn principals_from_certificate_token_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens");
        std::fs::write(&file, "s3cret,bob,7,\"dev\"\n").unwrap();
        let on = SecuritySettings { token_file: Some(file.clone()), ..settings(true) };
        let a = Authenticator::new(&on);
        let cert = Principal { user: "om-node".into(), groups: vec![], source: PrincipalSource::ClientCertificate };
        assert_eq!(a.authenticate(Some(&cert), Some("Bearer s3cret")).await.unwrap().user, "om-node");
        let bob = a.authenticate(None, Some("Bearer s3cret")).await.unwrap();
        assert_eq!((bob.user.as_str(), bob.groups.as_slice()), ("bob", &["dev".to_string()][..]));
        assert_eq!(a.authenticate(None, None).await, Err(AuthnError::Missing));
        assert_eq!(a.authenticate(None, Some("Basic x")).await, Err(AuthnError::Malformed));
        assert!(matches!(a.authenticate(None, Some("Bearer nope")).await, Err(AuthnError::Rejected(_))));
        let off = Authenticator::new(&settings(false));
        assert_eq!(off.authenticate(None, None).await.unwrap(), Principal::anonymous());
    }

    fn settings(enabled: bool) -> SecuritySettings {
        SecuritySettings {
            enabled,
            peer_tls: false,
            http_policy: super::super::HttpPolicy::HttpOnly,
            https_address: None,
            tls_files: None,
            reload_interval: Duration::from_secs(5),
            node_group: "omring:nodes".into(),
            token_file: None,
            token_review: false,
            acl_enabled: false,
            administrators: vec![],
            administrator_groups: vec![],
            creator_rights: Default::default(),
            audit_file: None,
        }
    }
}
