//! Cluster DNS as hosts files.
//!
//! Pods here have loopback addresses, which the API server refuses in Endpoints and
//! EndpointSlices, so the endpoint controllers cannot publish them and there is no CoreDNS.
//! The agent computes the same records those two would produce from Services and Pods:
//! `<svc>.<ns>.svc.cluster.local` for the ready pods a Service selects (all of them with
//! `publishNotReadyAddresses`), and for a headless Service `<hostname>.<svc>.<ns>.svc.cluster.local`
//! for pods whose `subdomain` names it. A Service's name maps to its pods' addresses directly,
//! standing in for kube-proxy. Every pod also gets its own file with what the kubelet puts in a
//! pod's `/etc/hosts` (its own names) plus the short names its DNS search path would resolve.
//! Processes read these files through `OMRING_HOSTS_FILE`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use k8s_openapi::api::core::v1::{Pod, Service};

pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// DNS name -> addresses.
pub type Records = BTreeMap<String, BTreeSet<String>>;

pub fn is_pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn is_terminal(p: &Pod) -> bool {
    matches!(p.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded") | Some("Failed"))
}

fn pod_ip(p: &Pod) -> Option<&str> {
    p.status.as_ref().and_then(|s| s.pod_ip.as_deref()).filter(|ip| !ip.is_empty())
}

/// The records cluster DNS would serve for these Services and Pods.
pub fn cluster_records<'a>(services: impl IntoIterator<Item = &'a Service>, pods: &[&'a Pod]) -> Records {
    let mut records = Records::new();
    for svc in services {
        let (Some(name), Some(ns)) = (svc.metadata.name.as_deref(), svc.metadata.namespace.as_deref()) else {
            continue;
        };
        let Some(spec) = svc.spec.as_ref() else { continue };
        let Some(selector) = spec.selector.as_ref().filter(|s| !s.is_empty()) else { continue };
        let headless = spec.cluster_ip.as_deref() == Some("None");
        let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false);
        for p in pods {
            if p.metadata.namespace.as_deref() != Some(ns) || is_terminal(p) {
                continue;
            }
            let labels = p.metadata.labels.as_ref();
            if !selector.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v)) {
                continue;
            }
            let Some(ip) = pod_ip(p) else { continue };
            let serving = publish_not_ready || (is_pod_ready(p) && p.metadata.deletion_timestamp.is_none());
            if !serving {
                continue;
            }
            let svc_fqdn = format!("{name}.{ns}.svc.{CLUSTER_DOMAIN}");
            let mut names = vec![svc_fqdn.clone(), format!("{name}.{ns}.svc"), format!("{name}.{ns}")];
            let spec = p.spec.as_ref();
            if let (true, Some(host), Some(sub)) =
                (headless, spec.and_then(|s| s.hostname.as_deref()), spec.and_then(|s| s.subdomain.as_deref()))
            {
                if sub == name {
                    names.push(format!("{host}.{svc_fqdn}"));
                    names.push(format!("{host}.{name}.{ns}.svc"));
                    names.push(format!("{host}.{name}.{ns}"));
                }
            }
            for n in names {
                records.entry(n).or_default().insert(ip.to_string());
            }
        }
    }
    records
}

fn render(out: &mut String, records: &Records) {
    for (name, ips) in records {
        for ip in ips {
            out.push_str(ip);
            out.push(' ');
            out.push_str(name);
            out.push('\n');
        }
    }
}

/// The shared file: cluster records only (for the operator, tests and users on this machine).
pub fn cluster_hosts_file(records: &Records) -> String {
    let mut out = String::from("# cluster DNS of the omring node agent (generated)\n");
    render(&mut out, records);
    out
}

/// One pod's file: its own names (as the kubelet writes a pod's /etc/hosts), the namespace's
/// short names (its DNS search path), then the cluster records.
pub fn pod_hosts_file(pod: &Pod, ip: &str, records: &Records) -> String {
    let mut out = String::from("# pod hosts file of the omring node agent (generated)\n127.0.0.1 localhost\n");
    let spec = pod.spec.as_ref();
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let hostname =
        spec.and_then(|s| s.hostname.clone()).or_else(|| pod.metadata.name.clone()).unwrap_or_else(|| "pod".into());
    match spec.and_then(|s| s.subdomain.as_deref()) {
        Some(sub) => out.push_str(&format!("{ip} {hostname}.{sub}.{ns}.svc.{CLUSTER_DOMAIN} {hostname}\n")),
        None => out.push_str(&format!("{ip} {hostname}\n")),
    }
    for alias in spec.and_then(|s| s.host_aliases.as_ref()).into_iter().flatten() {
        if let Some(names) = alias.hostnames.as_ref().filter(|h| !h.is_empty()) {
            out.push_str(&format!("{} {}\n", alias.ip, names.join(" ")));
        }
    }
    let suffix = format!(".{ns}.svc.{CLUSTER_DOMAIN}");
    let mut short = Records::new();
    for (name, ips) in records {
        if let Some(s) = name.strip_suffix(&suffix) {
            short.insert(s.to_string(), ips.clone());
        }
    }
    render(&mut out, &short);
    render(&mut out, records);
    out
}

/// Replaces `path` with `content` atomically (readers re-read it on every lookup) if it differs.
pub fn write_if_changed(path: &Path, content: &str) -> std::io::Result<bool> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == content) {
        return Ok(false);
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, path)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus, ServiceSpec};
    use kube::api::ObjectMeta;

    fn svc(name: &str, headless: bool, publish: bool) -> Service {
        Service {
            metadata: ObjectMeta { name: Some(name.into()), namespace: Some("ns".into()), ..Default::default() },
            spec: Some(ServiceSpec {
                cluster_ip: Some(if headless { "None".into() } else { "10.0.0.7".into() }),
                selector: Some([("app".to_string(), "om".to_string())].into()),
                publish_not_ready_addresses: Some(publish),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod(name: &str, ip: &str, ready: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                labels: Some([("app".to_string(), "om".to_string())].into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                hostname: Some(name.into()),
                subdomain: Some("om-peers".into()),
                ..Default::default()
            }),
            status: Some(PodStatus {
                pod_ip: Some(ip.into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn headless_names_follow_publish_not_ready_and_client_service_only_ready_pods() {
        let services = [svc("om-peers", true, true), svc("om", false, false)];
        let p0 = pod("om-0", "127.9.1.2", true);
        let p1 = pod("om-1", "127.9.2.2", false);
        let mut p2 = pod("om-2", "127.9.3.2", true);
        p2.metadata.namespace = Some("other".into());
        let recs = cluster_records(services.iter(), &[&p0, &p1, &p2]);
        let ips = |n: &str| recs.get(n).map(|s| s.iter().cloned().collect::<Vec<_>>()).unwrap_or_default();
        assert_eq!(ips("om-1.om-peers.ns.svc.cluster.local"), vec!["127.9.2.2"], "not ready but published");
        assert_eq!(ips("om-peers.ns.svc.cluster.local"), vec!["127.9.1.2", "127.9.2.2"]);
        assert_eq!(ips("om.ns.svc.cluster.local"), vec!["127.9.1.2"], "only ready pods behind the client service");
        assert!(ips("om-0.om.ns.svc.cluster.local").is_empty(), "no pod names under a service with a cluster IP");
        assert!(ips("om-2.om-peers.ns.svc.cluster.local").is_empty(), "other namespace");

        let file = pod_hosts_file(&p0, "127.9.1.2", &recs);
        assert!(file.contains("127.9.1.2 om-0.om-peers.ns.svc.cluster.local om-0\n"));
        assert!(file.contains("127.9.2.2 om-1.om-peers\n"), "short name of the search path: {file}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        assert!(write_if_changed(&path, &file).unwrap());
        assert!(!write_if_changed(&path, &file).unwrap());
        assert_eq!(om_client::hosts::lookup_in_file(&path, "om-1.om-peers").len(), 1);
    }
}
