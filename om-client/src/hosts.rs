//! Name resolution with an optional hosts file in front of the system resolver.
//!
//! `OMRING_HOSTS_FILE` names a file in `/etc/hosts` format that is consulted (re-read on every
//! lookup, so it can change while a process runs) before DNS. The end-to-end node agent uses it
//! to give each pod's stable DNS name its own loopback address without touching `/etc/hosts`.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// Environment variable naming the hosts file.
pub const ENV_HOSTS_FILE: &str = "OMRING_HOSTS_FILE";

/// The hosts file named by the environment, if any.
pub fn hosts_file_from_env() -> Option<PathBuf> {
    std::env::var_os(ENV_HOSTS_FILE).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// Addresses `name` has in the hosts file at `path` (empty when absent or unreadable).
pub fn lookup_in_file(path: &Path, name: &str) -> Vec<IpAddr> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    let name = name.trim_end_matches('.');
    text.lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            let ip: IpAddr = fields.next()?.parse().ok()?;
            fields.any(|h| h.trim_end_matches('.').eq_ignore_ascii_case(name)).then_some(ip)
        })
        .collect()
}

/// Resolves `host:port` through the hosts file (if configured), else the system resolver.
pub fn resolve(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    if let Some(file) = hosts_file_from_env() {
        let found = lookup_in_file(&file, host);
        if !found.is_empty() {
            return Ok(found.into_iter().map(|ip| SocketAddr::new(ip, port)).collect());
        }
    }
    Ok((host, port).to_socket_addrs()?.collect())
}

/// A reqwest resolver backed by [`resolve`].
#[derive(Debug, Clone, Default)]
pub struct HostsFileResolver;

impl reqwest::dns::Resolve for HostsFileResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = tokio::task::spawn_blocking(move || resolve(&host, 0))
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_lines_match_names_case_insensitively_and_skip_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        std::fs::write(&path, "# comment\n127.0.0.5 om-0.om.ns.svc.cluster.local om-0 # pod\nbad line\n::1 om-1\n")
            .unwrap();
        assert_eq!(lookup_in_file(&path, "OM-0"), vec!["127.0.0.5".parse::<IpAddr>().unwrap()]);
        assert_eq!(
            lookup_in_file(&path, "om-0.om.ns.svc.cluster.local."),
            vec!["127.0.0.5".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(lookup_in_file(&path, "om-1"), vec!["::1".parse::<IpAddr>().unwrap()]);
        assert!(lookup_in_file(&path, "pod").is_empty());
        assert!(lookup_in_file(&dir.path().join("missing"), "om-0").is_empty());
    }
}
