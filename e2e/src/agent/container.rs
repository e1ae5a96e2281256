//! Turning a container spec into a process: environment (with the downward API and `$(VAR)`
//! expansion as the kubelet does it), the binary that stands in for the image, and rebasing of
//! volume mount paths.
//!
//! Processes share the machine's file system, so a mount path such as `/etc/ozone` cannot exist
//! per pod. Instead every string the container is given (command, args, env values) and every
//! file the agent projects into a volume (ConfigMap contents) has its mount paths rewritten to
//! the directories that back them. This is the one place where a pod here differs from a pod
//! under a real kubelet; everything else is taken from the pod spec as written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Errors turning a container spec into a process.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("container {container}: no binary for {what} (looked in {dirs}); build it or pass --bin-dir")]
    NoBinary { container: String, what: String, dirs: String },
    #[error("container {container}: env {name}: {reason}")]
    Env { container: String, name: String, reason: String },
    #[error("container {container}: neither command nor image entrypoint")]
    NoCommand { container: String },
}

/// Volume mount paths of one container and the host directories behind them.
#[derive(Debug, Clone, Default)]
pub struct MountMap {
    /// (mount path without trailing '/', host path), longest mount path first.
    mounts: Vec<(String, PathBuf)>,
}

impl MountMap {
    pub fn new(mut mounts: Vec<(String, PathBuf)>) -> Self {
        for (m, _) in &mut mounts {
            while m.len() > 1 && m.ends_with('/') {
                m.pop();
            }
        }
        mounts.retain(|(m, _)| m.starts_with('/') && m != "/");
        mounts.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Self { mounts }
    }

    pub fn mounts(&self) -> &[(String, PathBuf)] {
        &self.mounts
    }

    /// The host path of a container path, if it lies under a mount.
    pub fn host_path(&self, container_path: &str) -> Option<PathBuf> {
        for (m, host) in &self.mounts {
            if let Some(rest) = container_path.strip_prefix(m.as_str()) {
                if rest.is_empty() {
                    return Some(host.clone());
                }
                if let Some(rel) = rest.strip_prefix('/') {
                    return Some(host.join(rel));
                }
            }
        }
        None
    }

    /// Rewrites every mount path in `text` that starts a path (at the start or after a
    /// character that cannot be part of a path) and ends at a path boundary.
    pub fn rebase(&self, text: &str) -> String {
        if self.mounts.is_empty() {
            return text.to_string();
        }
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        while i < bytes.len() {
            let at_start = i == 0 || !is_path_byte(bytes[i - 1]);
            if bytes[i] == b'/' && at_start {
                if let Some((m, host)) = self.mounts.iter().find(|(m, _)| {
                    text[i..].starts_with(m.as_str())
                        && bytes.get(i + m.len()).is_none_or(|&c| c == b'/' || !is_path_byte(c))
                }) {
                    out.push_str(&host.to_string_lossy());
                    i += m.len();
                    continue;
                }
            }
            // Copy one whole UTF-8 character.
            let ch_len = text[i..].chars().next().map(char::len_utf8).unwrap_or(1);
            out.push_str(&text[i..i + ch_len]);
            i += ch_len;
        }
        out
    }
}

fn is_path_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'/' | b'.' | b'-' | b'_' | b'+' | b'~' | b'@' | b'%')
}

/// Expands `$(VAR)` references as Kubernetes does: `$$` is a literal `$`, an unknown or
/// unterminated reference is left as written.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(close) => {
                    let name = &inner[..close];
                    match lookup(name) {
                        Some(v) => out.push_str(&v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &inner[close + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = inner;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Where binaries that stand in for images are found.
#[derive(Debug, Clone, Default)]
pub struct BinaryResolver {
    pub bin_dirs: Vec<PathBuf>,
    /// Image name (last path segment, no tag) -> binary name, for containers without a command.
    pub image_entrypoints: BTreeMap<String, String>,
}

impl BinaryResolver {
    fn in_bin_dirs(&self, name: &str) -> Option<PathBuf> {
        self.bin_dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p))
    }

    /// The binary for `command[0]`: by file name in the bin dirs first (so `/usr/bin/om-node` in
    /// a pod spec finds the locally built `om-node`), else the host path or `PATH` (for `sh`).
    pub fn resolve_command(&self, cmd: &str) -> Option<PathBuf> {
        let file_name = cmd.rsplit('/').next().unwrap_or(cmd);
        if let Some(p) = self.in_bin_dirs(file_name) {
            return Some(p);
        }
        if cmd.contains('/') {
            let p = PathBuf::from(cmd);
            return is_executable(&p).then_some(p);
        }
        std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).map(|d| d.join(cmd)).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .find(|p| is_executable(p))
    }

    /// The entrypoint binary of an image: the mapped name, else the image's last path segment.
    pub fn resolve_image(&self, image: &str) -> Option<PathBuf> {
        let name = image_name(image);
        let bin = self.image_entrypoints.get(name).map(String::as_str).unwrap_or(name);
        self.in_bin_dirs(bin)
    }

    pub fn dirs_shown(&self) -> String {
        self.bin_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
    }
}

/// `registry:5000/org/om-node:1.2@sha256:..` -> `om-node`.
pub fn image_name(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split(':').next().unwrap_or(last)
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// What the downward API and `valueFrom` references read from.
pub struct EnvSources<'a> {
    pub pod: &'a Pod,
    pub node: Option<&'a Node>,
    pub pod_ip: &'a str,
    pub host_ip: &'a str,
    /// ConfigMap data by name (the pod's namespace).
    pub config_map: &'a dyn Fn(&str) -> Option<BTreeMap<String, String>>,
    /// Secret data by name, decoded.
    pub secret: &'a dyn Fn(&str) -> Option<BTreeMap<String, String>>,
}

/// The container's environment in definition order (later entries win), without the agent's own
/// additions. Fails like the kubelet does on a missing non-optional reference.
pub fn container_env(c: &Container, src: &EnvSources<'_>) -> Result<Vec<(String, String)>, ContainerError> {
    let err = |name: &str, reason: String| ContainerError::Env { container: c.name.clone(), name: name.into(), reason };
    let mut env: Vec<(String, String)> = Vec::new();
    let set = |env: &mut Vec<(String, String)>, k: String, v: String| {
        env.retain(|(ek, _)| *ek != k);
        env.push((k, v));
    };
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let (data, optional, what) = if let Some(r) = &from.config_map_ref {
            ((src.config_map)(&r.name), r.optional.unwrap_or(false), format!("configmap {}", r.name))
        } else if let Some(r) = &from.secret_ref {
            ((src.secret)(&r.name), r.optional.unwrap_or(false), format!("secret {}", r.name))
        } else {
            continue;
        };
        match data {
            Some(data) => {
                for (k, v) in data {
                    set(&mut env, format!("{prefix}{k}"), v);
                }
            }
            None if optional => {}
            None => return Err(err("envFrom", format!("{what} not found"))),
        }
    }
    for e in c.env.iter().flatten() {
        let value = if let Some(v) = &e.value {
            let lookup = |name: &str| env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            expand(v, &lookup)
        } else if let Some(from) = &e.value_from {
            if let Some(f) = &from.field_ref {
                field_value(src, &f.field_path)
                    .ok_or_else(|| err(&e.name, format!("unsupported field {}", f.field_path)))?
            } else if let Some(r) = &from.resource_field_ref {
                resource_value(c, src.node, &r.resource, r.divisor.as_ref())
                    .ok_or_else(|| err(&e.name, format!("unsupported resource {}", r.resource)))?
            } else if let Some(r) = &from.config_map_key_ref {
                match (src.config_map)(&r.name).and_then(|d| d.get(&r.key).cloned()) {
                    Some(v) => v,
                    None if r.optional.unwrap_or(false) => continue,
                    None => return Err(err(&e.name, format!("key {} of configmap {} not found", r.key, r.name))),
                }
            } else if let Some(r) = &from.secret_key_ref {
                match (src.secret)(&r.name).and_then(|d| d.get(&r.key).cloned()) {
                    Some(v) => v,
                    None if r.optional.unwrap_or(false) => continue,
                    None => return Err(err(&e.name, format!("key {} of secret {} not found", r.key, r.name))),
                }
            } else {
                return Err(err(&e.name, "valueFrom without a source".into()));
            }
        } else {
            String::new()
        };
        set(&mut env, e.name.clone(), value);
    }
    Ok(env)
}

/// A downward API field of the pod.
pub fn field_value(src: &EnvSources<'_>, path: &str) -> Option<String> {
    let meta = &src.pod.metadata;
    let spec = src.pod.spec.as_ref();
    let indexed = |prefix: &str, map: Option<&BTreeMap<String, String>>| -> Option<Option<String>> {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        Some(map.and_then(|m| m.get(key).cloned()))
    };
    if let Some(v) = indexed("metadata.labels['", meta.labels.as_ref()) {
        return Some(v.unwrap_or_default());
    }
    if let Some(v) = indexed("metadata.annotations['", meta.annotations.as_ref()) {
        return Some(v.unwrap_or_default());
    }
    let join = |m: Option<&BTreeMap<String, String>>| {
        m.map(|m| m.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect::<Vec<_>>().join("\n")).unwrap_or_default()
    };
    Some(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => join(meta.labels.as_ref()),
        "metadata.annotations" => join(meta.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        "status.podIP" | "status.podIPs" => src.pod_ip.to_string(),
        "status.hostIP" | "status.hostIPs" => src.host_ip.to_string(),
        _ => return None,
    })
}

/// `limits.cpu`, `requests.memory`, ... of a container; limits default to the node's allocatable.
fn resource_value(c: &Container, node: Option<&Node>, resource: &str, divisor: Option<&Quantity>) -> Option<String> {
    let (kind, name) = resource.split_once('.')?;
    let res = c.resources.as_ref();
    let own = match kind {
        "limits" => res.and_then(|r| r.limits.as_ref()).and_then(|m| m.get(name)),
        "requests" => res.and_then(|r| r.requests.as_ref()).and_then(|m| m.get(name)),
        _ => return None,
    };
    let node_alloc =
        node.and_then(|n| n.status.as_ref()).and_then(|s| s.allocatable.as_ref()).and_then(|m| m.get(name));
    let value = match (own, kind) {
        (Some(q), _) => parse_quantity(&q.0)?,
        (None, "limits") => node_alloc.and_then(|q| parse_quantity(&q.0)).unwrap_or(0.0),
        (None, _) => 0.0,
    };
    let div = divisor.and_then(|q| parse_quantity(&q.0)).filter(|d| *d > 0.0).unwrap_or(1.0);
    Some(format!("{}", (value / div).ceil() as i64))
}

/// Parses a Kubernetes quantity (`500m`, `2`, `1Gi`, `1e3`, `10M`) into a number.
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q.find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E').unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0f64.powi(4),
        "Pi" => 1024.0f64.powi(5),
        _ => return None,
    };
    Some(n * mult)
}

/// The program and its arguments, with `$(VAR)` expanded and mount paths rebased.
pub fn command_line(
    c: &Container,
    env: &[(String, String)],
    bins: &BinaryResolver,
    mounts: &MountMap,
) -> Result<(PathBuf, Vec<String>), ContainerError> {
    let lookup = |name: &str| env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let expand_all = |v: &[String]| v.iter().map(|a| mounts.rebase(&expand(a, &lookup))).collect::<Vec<_>>();
    let args = c.args.as_deref().map(expand_all).unwrap_or_default();
    match c.command.as_deref() {
        Some([cmd, rest @ ..]) => {
            let cmd = expand(cmd, &lookup);
            let bin = bins.resolve_command(&cmd).ok_or_else(|| ContainerError::NoBinary {
                container: c.name.clone(),
                what: format!("command {cmd}"),
                dirs: bins.dirs_shown(),
            })?;
            let mut all = expand_all(rest);
            all.extend(args);
            Ok((bin, all))
        }
        _ => {
            let image = c.image.as_deref().ok_or_else(|| ContainerError::NoCommand { container: c.name.clone() })?;
            let bin = bins.resolve_image(image).ok_or_else(|| ContainerError::NoBinary {
                container: c.name.clone(),
                what: format!("image {image}"),
                dirs: bins.dirs_shown(),
            })?;
            Ok((bin, args))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, PodSpec};
    use kube::api::ObjectMeta;

    #[test]
    fn expansion_follows_kubernetes_rules() {
        let lookup = |n: &str| match n {
            "POD_NAME" => Some("om-0".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(expand("-Dozone.om.node.id=$(POD_NAME)", &lookup), "-Dozone.om.node.id=om-0");
        assert_eq!(expand("$(MISSING) and $(EMPTY)x", &lookup), "$(MISSING) and x");
        assert_eq!(expand("$$(POD_NAME) $$ $x $(", &lookup), "$(POD_NAME) $ $x $(");
        assert_eq!(expand("$(POD_NAME", &lookup), "$(POD_NAME");
        assert_eq!(expand("a$", &lookup), "a$");
        assert_eq!(expand("ünï $(POD_NAME)", &lookup), "ünï om-0");
    }

    #[test]
    fn mount_paths_are_rebased_only_at_path_boundaries() {
        let m = MountMap::new(vec![
            ("/etc/ozone/".into(), PathBuf::from("/tmp/p/cm")),
            ("/data".into(), PathBuf::from("/tmp/p/pvc")),
            ("/data/logs".into(), PathBuf::from("/tmp/p/logs")),
        ]);
        assert_eq!(m.rebase("--conf=/etc/ozone/ozone-site.xml"), "--conf=/tmp/p/cm/ozone-site.xml");
        assert_eq!(m.rebase("/data"), "/tmp/p/pvc");
        assert_eq!(m.rebase("<value>/data/db</value>"), "<value>/tmp/p/pvc/db</value>");
        assert_eq!(m.rebase("/data/logs/x,/data2,/x/data"), "/tmp/p/logs/x,/data2,/x/data");
        assert_eq!(m.rebase("/etc/ozone-old /etc/ozone"), "/etc/ozone-old /tmp/p/cm");
        assert_eq!(m.host_path("/etc/ozone/a/b"), Some(PathBuf::from("/tmp/p/cm/a/b")));
        assert_eq!(m.host_path("/etc/ozonex"), None);
        assert_eq!(MountMap::new(vec![("/".into(), PathBuf::from("/x"))]).rebase("/etc"), "/etc");
    }

    #[test]
    fn image_names_and_quantities() {
        assert_eq!(image_name("ghcr.io/omring/om-node:0.1.0"), "om-node");
        assert_eq!(image_name("localhost:5000/omring-operator@sha256:abc"), "omring-operator");
        assert_eq!(image_name("om-node"), "om-node");
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("1Gi"), Some(1073741824.0));
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        assert_eq!(parse_quantity("12X"), None);
    }

    fn pod() -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("om-1".into()),
                namespace: Some("rings".into()),
                labels: Some([("app".to_string(), "om".to_string())].into()),
                ..Default::default()
            },
            spec: Some(PodSpec { node_name: Some("node-a".into()), ..Default::default() }),
            ..Default::default()
        }
    }

    fn field(name: &str, path: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector { field_path: path.into(), ..Default::default() }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn env_reads_the_downward_api_and_expands_earlier_variables() {
        let p = pod();
        let none = |_: &str| None;
        let src = EnvSources {
            pod: &p,
            node: None,
            pod_ip: "127.9.1.2",
            host_ip: "127.9.1.1",
            config_map: &none,
            secret: &none,
        };
        let c = Container {
            name: "om".into(),
            env: Some(vec![
                field("POD_NAME", "metadata.name"),
                field("POD_NAMESPACE", "metadata.namespace"),
                field("POD_IP", "status.podIP"),
                field("APP", "metadata.labels['app']"),
                EnvVar {
                    name: "ID".into(),
                    value: Some("$(POD_NAME).$(POD_NAMESPACE)/$(LATER)".into()),
                    ..Default::default()
                },
                EnvVar { name: "LATER".into(), value: Some("x".into()), ..Default::default() },
            ]),
            command: Some(vec!["om-node".into(), "om".into(), "-Dozone.om.node.id=$(POD_NAME)".into()]),
            args: Some(vec!["--conf".into(), "/etc/ozone/ozone-site.xml".into()]),
            ..Default::default()
        };
        let env = container_env(&c, &src).unwrap();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("POD_NAME"), Some("om-1"));
        assert_eq!(get("POD_IP"), Some("127.9.1.2"));
        assert_eq!(get("APP"), Some("om"));
        assert_eq!(get("ID"), Some("om-1.rings/$(LATER)"));

        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("om-node");
        std::fs::write(&bin, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let bins = BinaryResolver { bin_dirs: vec![dir.path().to_path_buf()], ..Default::default() };
        let mounts = MountMap::new(vec![("/etc/ozone".into(), PathBuf::from("/srv/cm"))]);
        let (prog, args) = command_line(&c, &env, &bins, &mounts).unwrap();
        assert_eq!(prog, bin);
        assert_eq!(args, vec!["om", "-Dozone.om.node.id=om-1", "--conf", "/srv/cm/ozone-site.xml"]);

        let missing = Container { name: "x".into(), command: Some(vec!["no-such-binary-here".into()]), ..c };
        assert!(matches!(command_line(&missing, &env, &bins, &mounts), Err(ContainerError::NoBinary { .. })));
    }
}
