//! `ozone-site.xml` for a ring: rendered from three layers and read back from the ConfigMap.
//!
//! Precedence is defaults < operator-computed < the user's `spec.config`, except the keys the
//! operator owns (service ids, node lists, addresses, node id, database directory), which the
//! model has already removed from the user's layer. The membership written here is decided by
//! the planner; the file is read back from the live ConfigMap to learn what the nodes were last
//! told, which is what makes scale-up and scale-down resumable after an operator restart.
//!
//! With TLS on (docs/security.md) the computed layer turns security on, points the node at
//! the certificate files of the mounted Secret and lists the operator among the
//! administrators; the user may still override every key but the certificate files, and
//! `ozone.administrators` keeps the operator whatever the user lists.

use std::collections::BTreeMap;

use om_client::config::{
    OzoneConfig, DEFAULT_HTTP_PORT, DEFAULT_OM_PORT, DEFAULT_RATIS_PORT, OZONE_OM_ADDRESS, OZONE_OM_DB_DIRS,
    OZONE_OM_DECOMMISSIONED_NODES, OZONE_OM_HTTP_ADDRESS, OZONE_OM_INTERNAL_SERVICE_ID, OZONE_OM_NODES,
    OZONE_OM_RATIS_PORT, OZONE_OM_SERVICE_IDS,
};
use om_client::wire::ConfiguredNode;
use om_client::NodeAddress;

use crate::model::RingModel;
use crate::names::{short_hash, RingNames, DB_DIR, TLS_MOUNT};
use crate::pki::OPERATOR_USER;

/// Security keys of docs/security.md, spelled once here.
pub const OZONE_SECURITY_ENABLED: &str = "ozone.security.enabled";
pub const HDDS_GRPC_TLS_ENABLED: &str = "hdds.grpc.tls.enabled";
pub const OZONE_HTTP_POLICY: &str = "ozone.http.policy";
pub const OZONE_ACL_ENABLED: &str = "ozone.acl.enabled";
pub const OZONE_ADMINISTRATORS: &str = "ozone.administrators";
pub const TLS_CERTIFICATE_FILE: &str = "omring.tls.certificate.file";
pub const TLS_PRIVATE_KEY_FILE: &str = "omring.tls.private.key.file";
pub const TLS_CA_FILE: &str = "omring.tls.ca.file";
pub const TOKENREVIEW_ENABLED: &str = "omring.security.tokenreview.enabled";
/// The keys naming the certificate files: the operator's while it mounts the Secret.
pub const TLS_FILE_KEYS: &[&str] = &[TLS_CERTIFICATE_FILE, TLS_PRIVATE_KEY_FILE, TLS_CA_FILE];

/// The computed security layer of a ring with TLS. The HTTP port stays plain HTTP so the
/// kubelet's probes keep working. The pods mount no ServiceAccount token, so bearer tokens
/// cannot be checked with TokenReview: client certificates (and a static token file the user
/// configures) authenticate.
fn security_layer() -> Vec<(&'static str, String)> {
    vec![
        (OZONE_SECURITY_ENABLED, "true".into()),
        (HDDS_GRPC_TLS_ENABLED, "true".into()),
        (OZONE_HTTP_POLICY, "HTTP_ONLY".into()),
        (OZONE_ACL_ENABLED, "true".into()),
        (OZONE_ADMINISTRATORS, OPERATOR_USER.into()),
        (TOKENREVIEW_ENABLED, "true".into()),
        (TLS_CERTIFICATE_FILE, format!("{TLS_MOUNT}/tls.crt")),
        (TLS_PRIVATE_KEY_FILE, format!("{TLS_MOUNT}/tls.key")),
        (TLS_CA_FILE, format!("{TLS_MOUNT}/ca.crt")),
    ]
}

/// The user's administrators with the operator added (unless everyone is one already).
fn with_operator_admin(users: &str) -> String {
    let mut list: Vec<&str> = users.split(',').map(str::trim).filter(|u| !u.is_empty()).collect();
    if !list.iter().any(|u| *u == OPERATOR_USER || *u == "*") {
        list.push(OPERATOR_USER);
    }
    list.join(",")
}

/// Defaults the operator writes unless the user overrides them (Ozone's own values, spelled out
/// so `kubectl get cm` shows what the ring runs with).
const DEFAULTS: &[(&str, &str)] =
    &[("ozone.om.ratis.log.purge.gap", "1000000"), ("ozone.om.ratis.snapshot.auto.trigger.threshold", "400000")];

/// Which nodes the configuration lists: ordinals, all of them in `ozone.om.nodes.<sid>` and
/// some of them also in `ozone.om.decommissioned.nodes.<sid>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    pub nodes: Vec<u32>,
    pub decommissioned: Vec<u32>,
}

impl Membership {
    /// `0..n`, nothing decommissioned.
    pub fn first(n: u32) -> Self {
        Self { nodes: (0..n).collect(), decommissioned: Vec::new() }
    }
    /// Nodes listed and not decommissioned.
    pub fn active(&self) -> impl Iterator<Item = u32> + '_ {
        self.nodes.iter().copied().filter(|o| !self.decommissioned.contains(o))
    }
    pub fn contains(&self, ordinal: u32) -> bool {
        self.nodes.contains(&ordinal)
    }
    /// One past the highest listed ordinal (0 when empty).
    pub fn end(&self) -> u32 {
        self.nodes.iter().max().map_or(0, |m| m + 1)
    }
    fn normalized(mut self) -> Self {
        self.nodes.sort_unstable();
        self.nodes.dedup();
        self.decommissioned.retain(|d| self.nodes.contains(d));
        self.decommissioned.sort_unstable();
        self.decommissioned.dedup();
        self
    }
}

/// Errors reading a ConfigMap's membership back.
#[derive(Debug, thiserror::Error)]
pub enum SiteConfigError {
    #[error("ConfigMap has no {0}")]
    MissingFile(&'static str),
    #[error("cannot parse the ConfigMap's ozone-site.xml: {0}")]
    Parse(#[from] om_client::ConfigError),
}

/// The rendered file and the hash that restarts pods when it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteConfig {
    pub xml: String,
    /// Hash of every property except the membership keys, which nodes reload without a restart.
    pub restart_hash: String,
}

/// Addresses of one ordinal as the node and its peers use them.
pub fn node_address(names: &RingNames, ordinal: u32) -> NodeAddress {
    let host = names.host(ordinal);
    NodeAddress {
        node_id: names.pod(ordinal),
        host: host.clone(),
        rpc_port: DEFAULT_OM_PORT,
        ratis_port: DEFAULT_RATIS_PORT,
        http_host: host,
        http_port: DEFAULT_HTTP_PORT,
    }
}

/// The node's addresses as a join request states them.
pub fn configured_node(names: &RingNames, ordinal: u32) -> ConfiguredNode {
    let a = node_address(names, ordinal);
    ConfiguredNode {
        node_id: a.node_id.clone(),
        rpc_address: a.rpc_address(),
        ratis_address: a.ratis_address(),
        http_address: a.http_address(),
    }
}

fn is_membership_key(key: &str, sid: &str) -> bool {
    key == format!("{OZONE_OM_NODES}.{sid}")
        || key == format!("{OZONE_OM_DECOMMISSIONED_NODES}.{sid}")
        || [OZONE_OM_ADDRESS, OZONE_OM_RATIS_PORT, OZONE_OM_HTTP_ADDRESS]
            .iter()
            .any(|p| key.starts_with(&format!("{p}.{sid}.")))
}

/// Renders `ozone-site.xml` for `membership`.
pub fn render(model: &RingModel, membership: &Membership) -> SiteConfig {
    let membership = membership.clone().normalized();
    let sid = &model.service_id;
    let names = &model.names;
    let mut props: BTreeMap<String, String> = DEFAULTS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    props.insert(OZONE_OM_SERVICE_IDS.into(), sid.clone());
    props.insert(OZONE_OM_INTERNAL_SERVICE_ID.into(), sid.clone());
    props.insert(OZONE_OM_DB_DIRS.into(), DB_DIR.into());
    props.insert(
        format!("{OZONE_OM_NODES}.{sid}"),
        membership.nodes.iter().map(|o| names.pod(*o)).collect::<Vec<_>>().join(","),
    );
    if !membership.decommissioned.is_empty() {
        props.insert(
            format!("{OZONE_OM_DECOMMISSIONED_NODES}.{sid}"),
            membership.decommissioned.iter().map(|o| names.pod(*o)).collect::<Vec<_>>().join(","),
        );
    }
    for &o in &membership.nodes {
        let a = node_address(names, o);
        props.insert(format!("{OZONE_OM_ADDRESS}.{sid}.{}", a.node_id), a.rpc_address());
        props.insert(format!("{OZONE_OM_RATIS_PORT}.{sid}.{}", a.node_id), a.ratis_port.to_string());
        props.insert(format!("{OZONE_OM_HTTP_ADDRESS}.{sid}.{}", a.node_id), a.http_address());
    }
    if model.tls.is_some() {
        for (k, v) in security_layer() {
            props.insert(k.into(), v);
        }
    }
    // The user's layer wins over defaults and computed values (owned keys were removed from it).
    for (k, v) in &model.user_config {
        props.insert(k.clone(), v.clone());
    }
    // ...except that the operator stays an administrator of a ring it manages with TLS.
    if model.tls.is_some() {
        if let Some(admins) = props.get_mut(OZONE_ADMINISTRATORS) {
            *admins = with_operator_admin(admins);
        }
    }
    let mut conf = OzoneConfig::new();
    let mut hashed = String::new();
    for (k, v) in &props {
        conf.set(k, v.clone());
        if !is_membership_key(k, sid) {
            hashed.push_str(k);
            hashed.push('\0');
            hashed.push_str(v);
            hashed.push('\n');
        }
    }
    SiteConfig { xml: conf.to_xml(), restart_hash: short_hash(hashed.as_bytes()) }
}

/// The membership a rendered file states (node ids that are not this ring's ordinals are
/// dropped: the operator never writes them).
pub fn read_membership(xml: &str, names: &RingNames, service_id: &str) -> Result<Membership, SiteConfigError> {
    let conf = OzoneConfig::parse_xml(xml)?;
    let ordinals =
        |key: String| -> Vec<u32> { conf.get_list(&key).iter().filter_map(|id| names.ordinal_of(id)).collect() };
    Ok(Membership {
        nodes: ordinals(format!("{OZONE_OM_NODES}.{service_id}")),
        decommissioned: ordinals(format!("{OZONE_OM_DECOMMISSIONED_NODES}.{service_id}")),
    }
    .normalized())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::ring;
    use crate::model::{RingModel, Settings};

    fn model(spec: serde_json::Value) -> RingModel {
        RingModel::from_resource(&ring("om", spec), &Settings::default()).unwrap()
    }

    #[test]
    fn renders_a_service_the_client_can_resolve() {
        let m = model(serde_json::json!({"serviceId": "svc"}));
        let site = render(&m, &Membership::first(3));
        let conf = OzoneConfig::parse_xml(&site.xml).unwrap();
        let svc = conf.service(None).unwrap();
        assert_eq!(svc.service_id, "svc");
        assert_eq!(svc.node_ids(), ["om-0", "om-1", "om-2"]);
        assert_eq!(svc.node("om-1").unwrap(), &node_address(&m.names, 1));
        assert_eq!(svc.node("om-1").unwrap().rpc_address(), "om-1.om-headless.ns.svc.cluster.local:9862");
        assert_eq!(conf.db_dir().unwrap(), std::path::PathBuf::from("/data/om"));
        assert!(svc.decommissioned.is_empty());
    }

    #[test]
    fn precedence_defaults_then_computed_then_user_but_owned_keys_stay() {
        let m = model(serde_json::json!({"config": {
            "ozone.om.ratis.log.purge.gap": "10",
            "custom.key": "v",
            "ozone.om.nodes.om": "hijack",
            "ozone.om.db.dirs": "/tmp",
        }}));
        let conf = OzoneConfig::parse_xml(&render(&m, &Membership::first(1)).xml).unwrap();
        assert_eq!(conf.get("ozone.om.ratis.log.purge.gap"), Some("10"));
        assert_eq!(conf.get("ozone.om.ratis.snapshot.auto.trigger.threshold"), Some("400000"));
        assert_eq!(conf.get("custom.key"), Some("v"));
        assert_eq!(conf.get("ozone.om.nodes.om"), Some("om-0"));
        assert_eq!(conf.get("ozone.om.db.dirs"), Some("/data/om"));
    }

    #[test]
    fn membership_changes_keep_the_restart_hash_and_user_changes_alter_it() {
        let m = model(serde_json::json!({}));
        let three = render(&m, &Membership::first(3));
        let five = render(&m, &Membership::first(5));
        let leaving = render(&m, &Membership { nodes: vec![0, 1, 2], decommissioned: vec![2] });
        assert_ne!(three.xml, five.xml);
        assert_eq!(three.restart_hash, five.restart_hash);
        assert_eq!(three.restart_hash, leaving.restart_hash);
        let tuned = render(&model(serde_json::json!({"config": {"a.b": "c"}})), &Membership::first(3));
        assert_ne!(tuned.restart_hash, three.restart_hash);
    }

    #[test]
    fn tls_turns_security_on_with_the_mounted_files_and_the_operator_as_administrator() {
        let conf = |spec| OzoneConfig::parse_xml(&render(&model(spec), &Membership::first(3)).xml).unwrap();
        let on = conf(serde_json::json!({}));
        for (k, v) in [
            ("ozone.security.enabled", "true"),
            ("hdds.grpc.tls.enabled", "true"),
            ("ozone.http.policy", "HTTP_ONLY"),
            ("ozone.acl.enabled", "true"),
            ("ozone.administrators", "omring-operator"),
            ("omring.security.tokenreview.enabled", "true"),
            ("omring.tls.certificate.file", "/etc/omring/tls/tls.crt"),
            ("omring.tls.private.key.file", "/etc/omring/tls/tls.key"),
            ("omring.tls.ca.file", "/etc/omring/tls/ca.crt"),
        ] {
            assert_eq!(on.get(k), Some(v), "{k}");
        }
        // The user's keys win, but the operator stays an administrator and owns the files.
        let tuned = conf(serde_json::json!({"config": {
            "ozone.acl.enabled": "false",
            "ozone.administrators": "alice, bob",
            "omring.tls.ca.file": "/elsewhere",
        }}));
        assert_eq!(tuned.get("ozone.acl.enabled"), Some("false"));
        assert_eq!(tuned.get("ozone.administrators"), Some("alice,bob,omring-operator"));
        assert_eq!(tuned.get("omring.tls.ca.file"), Some("/etc/omring/tls/ca.crt"));
        let everyone = conf(serde_json::json!({"config": {"ozone.administrators": "*"}}));
        assert_eq!(everyone.get("ozone.administrators"), Some("*"));
        // Off: none of it, and the user's own value of the switch is passed on.
        let off = conf(serde_json::json!({"tls": {"enabled": false}}));
        assert_eq!(off.get("ozone.security.enabled"), None);
        assert_eq!(off.get("omring.tls.certificate.file"), None);
        let off = conf(serde_json::json!({"config": {"ozone.security.enabled": "false"}}));
        assert_eq!(off.get("ozone.security.enabled"), Some("false"));
        assert_eq!(off.get("hdds.grpc.tls.enabled"), None);
        assert_eq!(off.get("ozone.administrators"), None);
    }

    #[test]
    fn turning_tls_on_or_off_changes_the_restart_hash() {
        let on = render(&model(serde_json::json!({})), &Membership::first(3));
        let off = render(&model(serde_json::json!({"tls": {"enabled": false}})), &Membership::first(3));
        assert_ne!(on.restart_hash, off.restart_hash);
    }

    #[test]
    fn membership_round_trips_through_the_file() {
        let m = model(serde_json::json!({}));
        let want = Membership { nodes: vec![0, 1, 2, 3], decommissioned: vec![3] };
        let xml = render(&m, &want).xml;
        assert_eq!(read_membership(&xml, &m.names, "om").unwrap(), want);
        assert!(read_membership("<nope/>", &m.names, "om").is_err());
        // Ids of another ring are not ours.
        let foreign = xml.replace("om-3", "other-3");
        assert_eq!(read_membership(&foreign, &m.names, "om").unwrap(), Membership::first(3));
    }
}
