//! A secure ring with ACLs on, and its users: a CA (rcgen) and the nodes' certificate (the node
//! group), users from a static token file, clients and CLI runs as each of them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use om_client::tls::{ReloadingCredentials, TlsFiles};
use om_client::{FailoverClient, RetryPolicy};

use crate::common::pki::TestCa;
use crate::common::{Ring, BIN};

/// The users of the token file: (user, groups). `admin` is in `ozone.administrators`.
pub const USERS: [(&str, &[&str]); 7] = [
    ("admin", &[]),
    ("olive", &["owners"]),
    ("grace", &["staff"]),
    ("gina", &["readers"]),
    ("walt", &[]),
    ("nora", &["nobodies"]),
    ("carol", &["dev"]),
];

pub struct SecureRing {
    pub ring: Ring,
    files: tempfile::TempDir,
    ca_file: PathBuf,
    /// The ring's configuration without the nodes' certificate: a client of it has no
    /// principal unless it brings a token.
    client_conf: PathBuf,
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn token(user: &str) -> String {
    format!("{user}-token")
}

impl SecureRing {
    /// Starts `n` nodes with security and ACLs on and waits for a leader.
    pub async fn start(n: usize) -> SecureRing {
        let files = tempfile::tempdir().unwrap();
        let d = files.path();
        let ca = TestCa::new("ring CA").unwrap();
        let node = ca.leaf("om-node", &["omring:nodes"]).unwrap();
        let ca_file = write(d, "ca.pem", &ca.cert_pem);
        let cert_file = write(d, "node.pem", &node.cert_pem);
        let key_file = write(d, "node.key", &node.key_pem);
        let lines: Vec<String> = USERS
            .iter()
            .enumerate()
            .map(|(i, (user, groups))| format!("{},{user},{},\"{}\"", token(user), 1000 + i, groups.join(",")))
            .collect();
        let tokens = write(d, "tokens.csv", &(lines.join("\n") + "\n"));
        let extra = [
            ("ozone.security.enabled", "true"),
            ("ozone.acl.enabled", "true"),
            ("omring.tls.certificate.file", cert_file.to_str().unwrap()),
            ("omring.tls.private.key.file", key_file.to_str().unwrap()),
            ("omring.tls.ca.file", ca_file.to_str().unwrap()),
            ("omring.security.token.file", tokens.to_str().unwrap()),
            ("ozone.administrators", "admin"),
        ];
        let ring = Ring::start(n, &extra);
        ring.wait_leader(Duration::from_secs(60)).await;
        let client_conf = write(
            d,
            "client.xml",
            &ring.conf.to_xml().replace(cert_file.to_str().unwrap(), "").replace(key_file.to_str().unwrap(), ""),
        );
        SecureRing { ring, files, ca_file, client_conf }
    }

    /// A client acting as `user` (by its bearer token), or with no principal at all.
    pub fn client(&self, user: Option<&str>) -> Arc<FailoverClient> {
        let creds = ReloadingCredentials::from_files(TlsFiles { identity: None, ca: self.ca_file.clone() }).unwrap();
        let service = self.ring.conf.service(None).unwrap();
        Arc::new(
            FailoverClient::builder(service)
                .retry_policy(RetryPolicy { max_attempts: 400, wait_between_rounds: Duration::from_millis(100) })
                .request_timeout(Duration::from_secs(20))
                .tls(Some(creds))
                .bearer_token(user.map(token))
                .build()
                .unwrap(),
        )
    }

    /// Runs the CLI binary as `user` (its token in a file).
    pub fn cli_as(&self, user: &str, args: &[&str]) -> std::process::Output {
        let token_file = write(self.files.path(), &format!("{user}.token"), &token(user));
        std::process::Command::new(BIN)
            .arg("--conf")
            .arg(&self.client_conf)
            .arg("--token-file")
            .arg(&token_file)
            .args(args)
            .env("OMRING_LOG", "error")
            .output()
            .unwrap()
    }

    /// The CA bundle, for raw HTTPS requests.
    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(&self.ca_file).unwrap()
    }

    /// `https://host:port` of the leader's client API.
    pub async fn leader_url(&self) -> String {
        let leader = self.ring.wait_leader(Duration::from_secs(30)).await;
        let node = self.ring.conf.service(None).unwrap().node(&leader).unwrap().rpc_address();
        format!("https://{node}")
    }

    pub fn bearer(user: &str) -> String {
        format!("Bearer {}", token(user))
    }
}

/// Stdout and stderr of a CLI run, for messages.
pub fn out(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}
