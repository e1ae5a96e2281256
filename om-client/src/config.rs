//! `ozone-site.xml`: Hadoop configuration XML and the Ozone Manager HA keys read from it.
//!
//! The node, the CLI and the operator all read the same file, so parsing, defaults and the
//! resolution of a service's nodes live here once. Unknown keys are kept in order so a file
//! round-trips through [`OzoneConfig::to_xml`] unchanged apart from formatting.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Comma-separated list of logical service ids.
pub const OZONE_OM_SERVICE_IDS: &str = "ozone.om.service.ids";
/// Which of the listed service ids this server belongs to.
pub const OZONE_OM_INTERNAL_SERVICE_ID: &str = "ozone.om.internal.service.id";
/// Prefix of `ozone.om.nodes.<sid>`: the node ids of one service.
pub const OZONE_OM_NODES: &str = "ozone.om.nodes";
/// Prefix of `ozone.om.address.<sid>.<nid>`: client API address (default port 9862).
pub const OZONE_OM_ADDRESS: &str = "ozone.om.address";
/// Prefix of `ozone.om.ratis.port.<sid>.<nid>`: peer Raft port (default 9872).
pub const OZONE_OM_RATIS_PORT: &str = "ozone.om.ratis.port";
/// Prefix of `ozone.om.http-address.<sid>.<nid>`: health, metrics, snapshots (default 9874).
pub const OZONE_OM_HTTP_ADDRESS: &str = "ozone.om.http-address";
/// Explicit id of this node.
pub const OZONE_OM_NODE_ID: &str = "ozone.om.node.id";
/// Prefix of `ozone.om.decommissioned.nodes.<sid>`.
pub const OZONE_OM_DECOMMISSIONED_NODES: &str = "ozone.om.decommissioned.nodes";
/// Where the node keeps its databases (falls back to `ozone.metadata.dirs`).
pub const OZONE_OM_DB_DIRS: &str = "ozone.om.db.dirs";
pub const OZONE_METADATA_DIRS: &str = "ozone.metadata.dirs";
pub const OZONE_CLIENT_FAILOVER_MAX_ATTEMPTS: &str = "ozone.client.failover.max.attempts";
pub const OZONE_CLIENT_WAIT_BETWEEN_RETRIES_MILLIS: &str = "ozone.client.wait.between.retries.millis";

pub const DEFAULT_OM_PORT: u16 = 9862;
pub const DEFAULT_RATIS_PORT: u16 = 9872;
pub const DEFAULT_HTTP_PORT: u16 = 9874;
pub const DEFAULT_FAILOVER_MAX_ATTEMPTS: u32 = 500;
pub const DEFAULT_WAIT_BETWEEN_RETRIES_MILLIS: u64 = 2000;

/// Errors from reading or interpreting `ozone-site.xml`. Each names the key or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("malformed configuration XML{}: {reason}", in_file(.path))]
    Malformed { path: Option<PathBuf>, reason: String },
    #[error("missing configuration key {key}: {hint}")]
    Missing { key: String, hint: String },
    #[error("invalid value {value:?} for {key}: {reason}")]
    Invalid { key: String, value: String, reason: String },
    #[error("unknown service id {service_id:?}; {OZONE_OM_SERVICE_IDS} lists: {known}")]
    UnknownServiceId { service_id: String, known: String },
    #[error("{0}")]
    SelfNode(String),
    #[error("invalid override {0:?}: expected key=value")]
    Override(String),
}

fn in_file(path: &Option<PathBuf>) -> String {
    path.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default()
}

/// An ordered set of configuration properties, as read from Hadoop configuration XML.
///
/// [`OzoneConfig::get`] and the typed getters answer with `${var}` references expanded
/// ([`crate::hadoop_vars`]); [`OzoneConfig::iter`], [`OzoneConfig::get_raw`] and
/// [`OzoneConfig::to_xml`] keep values as written, as Hadoop's iterator and `getRaw` do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OzoneConfig {
    props: Vec<(String, String)>,
    /// `props`' values with references expanded, same order.
    expanded: Vec<String>,
    /// Keys whose expansion failed, with the reason (their raw value stands in `expanded`).
    unexpandable: Vec<(String, String)>,
    index: HashMap<String, usize>,
    source: Option<PathBuf>,
}

impl OzoneConfig {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let mut conf = Self::parse_xml_in(&text, path.parent()).map_err(|e| match e {
            ConfigError::Malformed { reason, .. } => ConfigError::Malformed { path: Some(path.to_path_buf()), reason },
            other => other,
        })?;
        conf.source = Some(path.to_path_buf());
        Ok(conf)
    }

    /// The file this configuration came from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// Parses Hadoop configuration XML as Hadoop reads it ([`crate::hadoop_xml`]).
    pub fn parse_xml(text: &str) -> Result<Self, ConfigError> {
        Self::parse_xml_in(text, None)
    }

    /// [`Self::parse_xml`] with relative `xi:include`s read from `base_dir`.
    fn parse_xml_in(text: &str, base_dir: Option<&Path>) -> Result<Self, ConfigError> {
        let props =
            crate::hadoop_xml::parse(text, base_dir).map_err(|reason| ConfigError::Malformed { path: None, reason })?;
        let mut conf = OzoneConfig::new();
        for (name, value) in props {
            conf.set_raw(&name, value);
        }
        conf.expand_all();
        conf.check_expanded()?;
        Ok(conf)
    }

    /// Renders Hadoop configuration XML with the properties in their original order.
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<configuration>\n");
        for (k, v) in &self.props {
            out.push_str("  <property>\n    <name>");
            out.push_str(&escape(k));
            out.push_str("</name>\n    <value>");
            out.push_str(&escape(v));
            out.push_str("</value>\n  </property>\n");
        }
        out.push_str("</configuration>\n");
        out
    }

    /// A key's value with `${var}` references expanded.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.index.get(key).map(|&i| self.expanded[i].as_str())
    }

    /// A key's value as written.
    pub fn get_raw(&self, key: &str) -> Option<&str> {
        self.index.get(key).map(|&i| self.props[i].1.as_str())
    }

    /// A key's value with surrounding whitespace removed; empty values count as unset.
    pub fn get_trimmed(&self, key: &str) -> Option<&str> {
        self.get(key).map(hadoop_trim).filter(|v| !v.is_empty())
    }

    /// Sets a key; every value referring to it follows. A value needing more than 20
    /// substitutions reads as written (loading a file or an override names it as an error).
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.set_raw(key, value.into());
        self.expand_all();
    }

    fn set_raw(&mut self, key: &str, value: String) {
        match self.index.get(key) {
            Some(&i) => self.props[i].1 = value,
            None => {
                self.index.insert(key.to_string(), self.props.len());
                self.props.push((key.to_string(), value));
            }
        }
    }

    /// Recomputes every expanded value (a set may change what others refer to).
    fn expand_all(&mut self) {
        let process = crate::hadoop_vars::this_process();
        let raw = |name: &str| self.get_raw(name).map(str::to_string);
        let mut expanded = Vec::with_capacity(self.props.len());
        let mut unexpandable = Vec::new();
        for (key, value) in &self.props {
            if !value.contains("${") {
                expanded.push(value.clone());
                continue;
            }
            match crate::hadoop_vars::expand(value, &raw, &process) {
                Ok(v) => expanded.push(v),
                Err(reason) => {
                    unexpandable.push((key.clone(), reason));
                    expanded.push(value.clone());
                }
            }
        }
        self.expanded = expanded;
        self.unexpandable = unexpandable;
    }

    /// The first value whose references could not be expanded, as an error naming its key.
    fn check_expanded(&self) -> Result<(), ConfigError> {
        match self.unexpandable.first() {
            Some((key, reason)) => Err(ConfigError::Invalid {
                key: key.clone(),
                value: self.get_raw(key).unwrap_or_default().to_string(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Every key with its value as written, in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.props.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Applies `key=value` overrides (the CLI's `-D`).
    pub fn apply_overrides<S: AsRef<str>>(&mut self, overrides: &[S]) -> Result<(), ConfigError> {
        for o in overrides {
            let o = o.as_ref();
            let (k, v) = o.split_once('=').ok_or_else(|| ConfigError::Override(o.to_string()))?;
            let k = k.trim();
            if k.is_empty() {
                return Err(ConfigError::Override(o.to_string()));
            }
            self.set_raw(k, v.trim().to_string());
        }
        self.expand_all();
        self.check_expanded()
    }

    /// Comma-separated list value, empty entries removed.
    pub fn get_list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| v.split(',').map(hadoop_trim).filter(|s| !s.is_empty()).map(String::from).collect())
            .unwrap_or_default()
    }

    pub fn get_u64(&self, key: &str, default: u64) -> Result<u64, ConfigError> {
        match self.get_trimmed(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                key: key.to_string(),
                value: v.to_string(),
                reason: "expected a non-negative integer".into(),
            }),
        }
    }

    /// A time duration in milliseconds, written the Hadoop way: a number with an optional unit
    /// (`ns`, `us`, `ms`, `s`, `m`, `h`, `d`; none means milliseconds), e.g. `7d`, `300s`.
    pub fn get_duration_ms(&self, key: &str, default_ms: u64) -> Result<u64, ConfigError> {
        self.get_with_unit(key, default_ms, "ns, us, ms, s, m, h or d", |unit| match unit {
            "ns" => Some((1, 1_000_000)),
            "us" => Some((1, 1_000)),
            "" | "ms" => Some((1, 1)),
            "s" => Some((1_000, 1)),
            "m" => Some((60_000, 1)),
            "h" => Some((3_600_000, 1)),
            "d" => Some((86_400_000, 1)),
            _ => None,
        })
    }

    /// A size in bytes, written the Hadoop way: a number with an optional unit (`b`, `kb`, `mb`,
    /// `gb`, `tb`, or `k`, `m`, `g`, `t`; none means bytes), e.g. `64MB`, `1g`.
    pub fn get_size_bytes(&self, key: &str, default: u64) -> Result<u64, ConfigError> {
        self.get_with_unit(key, default, "b, kb, mb, gb or tb", |unit| match unit {
            "" | "b" => Some((1, 1)),
            "k" | "kb" => Some((1 << 10, 1)),
            "m" | "mb" => Some((1 << 20, 1)),
            "g" | "gb" => Some((1 << 30, 1)),
            "t" | "tb" => Some((1 << 40, 1)),
            _ => None,
        })
    }

    /// A whole number followed by an optional unit, which `scale` turns into a multiplier and a
    /// divisor (None: not a unit; `units` lists them for the error).
    fn get_with_unit(
        &self,
        key: &str,
        default: u64,
        units: &str,
        scale: impl Fn(&str) -> Option<(u64, u64)>,
    ) -> Result<u64, ConfigError> {
        let Some(v) = self.get_trimmed(key) else { return Ok(default) };
        let invalid = |reason: &str| ConfigError::Invalid {
            key: key.to_string(),
            value: v.to_string(),
            reason: reason.to_string(),
        };
        let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
        let number: u64 = v[..digits].parse().map_err(|_| invalid("expected a number with an optional unit"))?;
        let (num, den) = scale(v[digits..].trim().to_ascii_lowercase().as_str())
            .ok_or_else(|| invalid(&format!("unknown unit; use {units}")))?;
        number.checked_mul(num).map(|n| n / den).ok_or_else(|| invalid("too large"))
    }

    pub fn get_bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get_trimmed(key) {
            None => Ok(default),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ConfigError::Invalid {
                    key: key.to_string(),
                    value: v.to_string(),
                    reason: "expected true or false".into(),
                }),
            },
        }
    }

    /// The service ids listed in `ozone.om.service.ids`.
    pub fn service_ids(&self) -> Vec<String> {
        self.get_list(OZONE_OM_SERVICE_IDS)
    }

    /// Picks the service id: the explicit one, else `ozone.om.internal.service.id`, else the
    /// only listed one. Several listed and none chosen is an error.
    pub fn resolve_service_id(&self, explicit: Option<&str>) -> Result<String, ConfigError> {
        let ids = self.service_ids();
        let chosen =
            explicit.map(str::to_string).or_else(|| self.get_trimmed(OZONE_OM_INTERNAL_SERVICE_ID).map(str::to_string));
        match chosen {
            Some(sid) => {
                if ids.iter().any(|s| s == &sid) {
                    Ok(sid)
                } else {
                    Err(ConfigError::UnknownServiceId {
                        service_id: sid,
                        known: if ids.is_empty() { "(nothing)".into() } else { ids.join(",") },
                    })
                }
            }
            None => match ids.as_slice() {
                [only] => Ok(only.clone()),
                [] => Err(ConfigError::Missing {
                    key: OZONE_OM_SERVICE_IDS.into(),
                    hint: "list the ring's logical service id".into(),
                }),
                _ => Err(ConfigError::Missing {
                    key: OZONE_OM_INTERNAL_SERVICE_ID.into(),
                    hint: format!("{OZONE_OM_SERVICE_IDS} lists {}; choose one with --service-id", ids.join(",")),
                }),
            },
        }
    }

    /// Resolves one service: its nodes and their addresses, with Ozone's default ports.
    pub fn service(&self, explicit_service_id: Option<&str>) -> Result<ServiceConfig, ConfigError> {
        let service_id = self.resolve_service_id(explicit_service_id)?;
        let nodes_key = format!("{OZONE_OM_NODES}.{service_id}");
        let node_ids = self.get_list(&nodes_key);
        if node_ids.is_empty() {
            return Err(ConfigError::Missing { key: nodes_key, hint: "list the node ids of the service".into() });
        }
        let mut nodes = Vec::with_capacity(node_ids.len());
        for nid in &node_ids {
            if nodes.iter().any(|n: &NodeAddress| &n.node_id == nid) {
                return Err(ConfigError::Invalid {
                    key: nodes_key.clone(),
                    value: node_ids.join(","),
                    reason: format!("node id {nid} is listed twice"),
                });
            }
            nodes.push(self.node_address(&service_id, nid)?);
        }
        let decommissioned = self.get_list(&format!("{OZONE_OM_DECOMMISSIONED_NODES}.{service_id}"));
        Ok(ServiceConfig { service_id, nodes, decommissioned })
    }

    fn node_address(&self, sid: &str, nid: &str) -> Result<NodeAddress, ConfigError> {
        let addr_key = format!("{OZONE_OM_ADDRESS}.{sid}.{nid}");
        let raw = self.get_trimmed(&addr_key).ok_or_else(|| ConfigError::Missing {
            key: addr_key.clone(),
            hint: format!("give node {nid} of service {sid} a host or host:port"),
        })?;
        let (host, rpc_port) = split_host_port(&addr_key, raw, DEFAULT_OM_PORT)?;
        let ratis_key = format!("{OZONE_OM_RATIS_PORT}.{sid}.{nid}");
        let ratis_port = match self.get_trimmed(&ratis_key) {
            None => DEFAULT_RATIS_PORT,
            Some(v) => parse_port(&ratis_key, v)?,
        };
        let http_key = format!("{OZONE_OM_HTTP_ADDRESS}.{sid}.{nid}");
        let (http_host, http_port) = match self.get_trimmed(&http_key) {
            None => (host.clone(), DEFAULT_HTTP_PORT),
            Some(v) => {
                let (h, p) = split_host_port(&http_key, v, DEFAULT_HTTP_PORT)?;
                // 0.0.0.0 means "listen everywhere"; peers reach it through the RPC host.
                if h == "0.0.0.0" || h == "::" {
                    (host.clone(), p)
                } else {
                    (h, p)
                }
            }
        };
        Ok(NodeAddress { node_id: nid.to_string(), host, rpc_port, ratis_port, http_host, http_port })
    }

    /// The service and node id of the node this file configures. With a service id given or
    /// chosen by `ozone.om.internal.service.id`, or only one listed: that service and
    /// [`Self::resolve_self_node`]. With several listed and none chosen, as Ozone's
    /// `OMHANodeDetails` does: the one node among all services whose RPC address is local (and
    /// whose id is `ozone.om.node.id`, when set); none or several is an error.
    pub fn own_service(&self, explicit: Option<&str>) -> Result<(ServiceConfig, String), ConfigError> {
        let ids = self.service_ids();
        if explicit.is_some() || self.get_trimmed(OZONE_OM_INTERNAL_SERVICE_ID).is_some() || ids.len() < 2 {
            let service = self.service(explicit)?;
            let node_id = self.resolve_self_node(&service)?;
            return Ok((service, node_id));
        }
        let wanted = self.get_trimmed(OZONE_OM_NODE_ID);
        let mut found: Vec<(ServiceConfig, String)> = Vec::new();
        for sid in &ids {
            let service = self.service(Some(sid))?;
            let local: Vec<String> = service
                .nodes
                .iter()
                .filter(|n| wanted.is_none_or(|id| id == n.node_id) && is_local_host(&n.host))
                .map(|n| n.node_id.clone())
                .collect();
            found.extend(local.into_iter().map(|nid| (service.clone(), nid)));
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(ConfigError::Missing {
                key: OZONE_OM_INTERNAL_SERVICE_ID.into(),
                hint: format!(
                    "{OZONE_OM_SERVICE_IDS} lists {} and no node of them has a local address; choose one",
                    ids.join(",")
                ),
            }),
            _ => Err(ConfigError::SelfNode(format!(
                "nodes of several services have local addresses ({}); set {OZONE_OM_INTERNAL_SERVICE_ID} and \
                 {OZONE_OM_NODE_ID}",
                found.iter().map(|(s, n)| format!("{}.{n}", s.service_id)).collect::<Vec<_>>().join(",")
            ))),
        }
    }

    /// Finds this node's id: `ozone.om.node.id` if set (it must be listed), else the one node
    /// whose RPC address is an address of this machine.
    pub fn resolve_self_node(&self, service: &ServiceConfig) -> Result<String, ConfigError> {
        if let Some(nid) = self.get_trimmed(OZONE_OM_NODE_ID) {
            if service.node(nid).is_some() {
                return Ok(nid.to_string());
            }
            return Err(ConfigError::Invalid {
                key: OZONE_OM_NODE_ID.into(),
                value: nid.into(),
                reason: format!(
                    "not one of the nodes of service {} ({})",
                    service.service_id,
                    service.node_ids().join(",")
                ),
            });
        }
        let local: Vec<&NodeAddress> = service.nodes.iter().filter(|n| is_local_host(&n.host)).collect();
        match local.as_slice() {
            [one] => Ok(one.node_id.clone()),
            [] => Err(ConfigError::SelfNode(format!(
                "none of the addresses of service {} is local to this machine; set {OZONE_OM_NODE_ID}",
                service.service_id
            ))),
            many => Err(ConfigError::SelfNode(format!(
                "several nodes of service {} have local addresses ({}); set {OZONE_OM_NODE_ID}",
                service.service_id,
                many.iter().map(|n| n.node_id.as_str()).collect::<Vec<_>>().join(",")
            ))),
        }
    }

    /// Directory for this node's databases.
    pub fn db_dir(&self) -> Result<PathBuf, ConfigError> {
        self.db_dir_of(None)
    }

    /// Where node `nid` of service `sid` keeps its databases: Ozone's node-specific
    /// `ozone.om.db.dirs.<sid>.<nid>` first (its `OMHANodeDetails` copies it over the generic
    /// key), then as [`OzoneConfig::db_dir`].
    pub fn node_db_dir(&self, sid: &str, nid: &str) -> Result<PathBuf, ConfigError> {
        self.db_dir_of(self.get_trimmed(&format!("{OZONE_OM_DB_DIRS}.{sid}.{nid}")))
    }

    fn db_dir_of(&self, node_specific: Option<&str>) -> Result<PathBuf, ConfigError> {
        node_specific
            .or_else(|| self.get_trimmed(OZONE_OM_DB_DIRS))
            .or_else(|| self.get_trimmed(OZONE_METADATA_DIRS))
            .map(|v| PathBuf::from(v.split(',').next().unwrap_or(v).trim()))
            .ok_or_else(|| ConfigError::Missing {
                key: OZONE_OM_DB_DIRS.into(),
                hint: format!("set {OZONE_OM_DB_DIRS} or {OZONE_METADATA_DIRS} to a writable directory"),
            })
    }

    /// The client retry policy from `ozone.client.*`.
    pub fn retry_policy(&self) -> Result<RetryPolicy, ConfigError> {
        let max = self.get_u64(OZONE_CLIENT_FAILOVER_MAX_ATTEMPTS, DEFAULT_FAILOVER_MAX_ATTEMPTS as u64)?;
        let wait = self.get_u64(OZONE_CLIENT_WAIT_BETWEEN_RETRIES_MILLIS, DEFAULT_WAIT_BETWEEN_RETRIES_MILLIS)?;
        Ok(RetryPolicy {
            max_attempts: u32::try_from(max.max(1)).unwrap_or(u32::MAX),
            wait_between_rounds: Duration::from_millis(wait),
        })
    }
}

/// How the failover client retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts (requests sent) before giving up.
    pub max_attempts: u32,
    /// Pause after every node was tried once without success.
    pub wait_between_rounds: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_FAILOVER_MAX_ATTEMPTS,
            wait_between_rounds: Duration::from_millis(DEFAULT_WAIT_BETWEEN_RETRIES_MILLIS),
        }
    }
}

/// One resolved service: its id, nodes and decommissioned node ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    pub service_id: String,
    pub nodes: Vec<NodeAddress>,
    pub decommissioned: Vec<String>,
}

impl ServiceConfig {
    pub fn node(&self, node_id: &str) -> Option<&NodeAddress> {
        self.nodes.iter().find(|n| n.node_id == node_id)
    }
    pub fn node_ids(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.node_id.clone()).collect()
    }
    /// Nodes that are not decommissioned: the ones clients and peers talk to.
    pub fn active_nodes(&self) -> impl Iterator<Item = &NodeAddress> {
        self.nodes.iter().filter(|n| !self.decommissioned.contains(&n.node_id))
    }
}

/// Addresses of one node, as configured (host names are resolved at connect time).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
pub struct NodeAddress {
    pub node_id: String,
    pub host: String,
    pub rpc_port: u16,
    pub ratis_port: u16,
    pub http_host: String,
    pub http_port: u16,
}

impl NodeAddress {
    pub fn rpc_address(&self) -> String {
        join_host_port(&self.host, self.rpc_port)
    }
    pub fn ratis_address(&self) -> String {
        join_host_port(&self.host, self.ratis_port)
    }
    pub fn http_address(&self) -> String {
        join_host_port(&self.http_host, self.http_port)
    }
    /// A node known only from a NOT_LEADER hint (`host:port` of its client API).
    pub fn from_hint(node_id: &str, rpc_address: &str) -> Option<NodeAddress> {
        let (host, port) = rpc_address.rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let rpc_port: u16 = port.parse().ok()?;
        (!host.is_empty()).then(|| NodeAddress {
            node_id: node_id.to_string(),
            host: host.to_string(),
            rpc_port,
            ratis_port: 0,
            http_host: host.to_string(),
            http_port: 0,
        })
    }

    /// The addresses as the admin API exchanges them.
    pub fn configured(&self) -> crate::wire::ConfiguredNode {
        crate::wire::ConfiguredNode {
            node_id: self.node_id.clone(),
            rpc_address: self.rpc_address(),
            ratis_address: self.ratis_address(),
            http_address: self.http_address(),
        }
    }
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn parse_port(key: &str, v: &str) -> Result<u16, ConfigError> {
    match v.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(ConfigError::Invalid {
            key: key.to_string(),
            value: v.to_string(),
            reason: "expected a port number from 1 to 65535".into(),
        }),
    }
}

/// Splits `host`, `host:port`, `[v6]:port` or `[v6]`; errors name `key`.
pub fn split_host_port(key: &str, v: &str, default_port: u16) -> Result<(String, u16), ConfigError> {
    let invalid =
        |reason: &str| ConfigError::Invalid { key: key.to_string(), value: v.to_string(), reason: reason.to_string() };
    if let Some(rest) = v.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| invalid("unclosed '[' in IPv6 address"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => parse_port(key, p)?,
            None if after.is_empty() => default_port,
            None => return Err(invalid("expected ':port' after ']'")),
        };
        return Ok((host.to_string(), port));
    }
    match v.matches(':').count() {
        0 => Ok((v.to_string(), default_port)),
        1 => {
            let (h, p) = v.split_once(':').ok_or_else(|| invalid("expected host:port"))?;
            if h.is_empty() {
                return Err(invalid("empty host"));
            }
            Ok((h.to_string(), parse_port(key, p)?))
        }
        _ => Ok((v.to_string(), default_port)), // bare IPv6
    }
}

/// True when `host` resolves to an address that can be bound on this machine.
pub fn is_local_host(host: &str) -> bool {
    let addrs: Vec<IpAddr> = match std::net::ToSocketAddrs::to_socket_addrs(&(host, 0)) {
        Ok(it) => it.map(|a| a.ip()).collect(),
        Err(_) => return false,
    };
    addrs.into_iter().any(|ip| UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok())
}

/// Java's `String.trim()`, which Hadoop's Configuration uses: removes characters up to U+0020
/// (spaces, tabs, line breaks, other control characters) from both ends, nothing else (a
/// no-break space stays).
pub fn hadoop_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
