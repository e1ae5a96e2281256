//! Reading a ring the way a user does: the OzoneManagerRing's status and conditions, the ring's
//! ozone-site.xml from its ConfigMap, a failover client resolving pod names at the cluster DNS,
//! and the nodes' own view (roles, digests).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::Client;
use om_client::tls::{security_enabled, Credentials, Pem, ReloadingCredentials};
use om_client::wire::{ReadOp, ReadResponse, Role};
use om_client::{FailoverClient, OzoneConfig, RetryPolicy};
use serde_json::Value;

use super::{wait_for, HarnessError, Result};

/// `omring.io/v1alpha1` `OzoneManagerRing`, read as a dynamic object (the test asserts on the
/// JSON a user sees, independent of the operator's Rust types).
pub fn omr_resource() -> ApiResource {
    ApiResource {
        group: "omring.io".into(),
        version: "v1alpha1".into(),
        api_version: "omring.io/v1alpha1".into(),
        kind: "OzoneManagerRing".into(),
        plural: "ozonemanagerrings".into(),
    }
}

pub fn omr_api(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &omr_resource())
}

/// The ring's `.status` (Null when absent).
pub async fn omr_status(client: &Client, ns: &str, name: &str) -> Result<Value> {
    let obj = omr_api(client, ns)
        .get(name)
        .await
        .map_err(|source| HarnessError::Kube { what: format!("get omr {ns}/{name}"), source })?;
    Ok(obj.data.get("status").cloned().unwrap_or(Value::Null))
}

/// (status, reason, message) of a condition in a status object.
pub fn condition(status: &Value, type_: &str) -> Option<(String, String, String)> {
    let conds = status.get("conditions")?.as_array()?;
    let c = conds.iter().find(|c| c.get("type").and_then(Value::as_str) == Some(type_))?;
    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    Some((s("status"), s("reason"), s("message")))
}

/// Waits until the ring's Available condition is True for the current generation and
/// `readyReplicas` equals `replicas`; returns the status.
pub async fn wait_available(client: &Client, ns: &str, name: &str, replicas: i64, timeout: Duration) -> Result<Value> {
    wait_status(client, ns, name, replicas, timeout, false).await
}

/// Like [`wait_available`], and the operator has finished what the spec asks (Progressing is
/// False): what a user waits for after `kubectl scale`.
pub async fn wait_settled(client: &Client, ns: &str, name: &str, replicas: i64, timeout: Duration) -> Result<Value> {
    wait_status(client, ns, name, replicas, timeout, true).await
}

async fn wait_status(
    client: &Client,
    ns: &str,
    name: &str,
    replicas: i64,
    timeout: Duration,
    settled: bool,
) -> Result<Value> {
    let what = if settled { "settled" } else { "Available" };
    wait_for(&format!("omr {ns}/{name} {what} with {replicas} ready"), timeout, Duration::from_millis(500), || async {
        let obj = omr_api(client, ns).get(name).await.map_err(|e| e.to_string())?;
        let status = obj.data.get("status").cloned().unwrap_or(Value::Null);
        let generation = obj.metadata.generation.unwrap_or(0);
        let observed = status.get("observedGeneration").and_then(Value::as_i64).unwrap_or(-1);
        let ready = status.get("readyReplicas").and_then(Value::as_i64).unwrap_or(0);
        let available = condition(&status, "Available").is_some_and(|c| c.0 == "True");
        let progressing = condition(&status, "Progressing").is_none_or(|c| c.0 == "True");
        if available && (!settled || !progressing) && ready == replicas && observed == generation {
            Ok(Some(status))
        } else {
            Err(format!("generation {generation} observed {observed}, ready {ready}, status {status}"))
        }
    })
    .await
}

/// The `ozone-site.xml` a ConfigMap holds.
pub async fn config_from_configmap(client: &Client, ns: &str, name: &str) -> Result<OzoneConfig> {
    let cm = Api::<ConfigMap>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .map_err(|source| HarnessError::Kube { what: format!("get configmap {ns}/{name}"), source })?;
    let xml = cm
        .data
        .as_ref()
        .and_then(|d| d.get("ozone-site.xml"))
        .ok_or_else(|| HarnessError::Check(format!("configmap {ns}/{name} has no ozone-site.xml")))?;
    OzoneConfig::parse_xml(xml).map_err(|e| HarnessError::Check(format!("configmap {ns}/{name}: {e}")))
}

/// A failover client for the service in `conf`, resolving through the cluster DNS, patient
/// enough to ride out elections and restarts (it gives up after about a minute). `tls` is
/// what it presents when the ring has `ozone.security.enabled` (see [`admin_credentials`]).
pub fn failover_client(conf: &OzoneConfig, tls: Option<Arc<ReloadingCredentials>>) -> Result<Arc<FailoverClient>> {
    let service = conf.service(None).map_err(|e| HarnessError::Check(e.to_string()))?;
    let client = FailoverClient::builder(service)
        .tls(tls)
        .retry_policy(RetryPolicy { max_attempts: 600, wait_between_rounds: Duration::from_millis(100) })
        .request_timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(1))
        .resolver(Arc::new(super::dns::ClusterDns::new()))
        .build()
        .map_err(|e| HarnessError::Check(e.to_string()))?;
    Ok(Arc::new(client))
}

/// The value of `key` in Secret `ns/name`.
pub async fn secret_data(client: &Client, ns: &str, name: &str, key: &str) -> Result<Vec<u8>> {
    let secret = Api::<Secret>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .map_err(|source| HarnessError::Kube { what: format!("get secret {ns}/{name}"), source })?;
    secret
        .data
        .and_then(|d| d.get(key).map(|b| b.0.clone()))
        .ok_or_else(|| HarnessError::Check(format!("secret {ns}/{name} has no {key}")))
}

/// Fixed client credentials from PEM: an optional (certificate, key) and the CA bundle;
/// `origin` names where they came from in errors.
pub fn pem_credentials(identity: Option<(&[u8], &[u8])>, ca: &[u8], origin: &str) -> Result<Arc<ReloadingCredentials>> {
    let path = std::path::Path::new(origin);
    let identity = identity.map(|(cert, key)| (Pem { bytes: cert, origin: path }, Pem { bytes: key, origin: path }));
    let creds = Credentials::from_pem(identity, Pem { bytes: ca, origin: path })
        .map_err(|e| HarnessError::Check(format!("{origin}: {e}")))?;
    Ok(ReloadingCredentials::fixed(creds))
}

/// The credentials in a `kubernetes.io/tls` Secret with a `ca.crt` (the operator's
/// `<ring>-admin-tls` gives an administrator of the ring).
pub async fn secret_credentials(client: &Client, ns: &str, name: &str) -> Result<Arc<ReloadingCredentials>> {
    let cert = secret_data(client, ns, name, "tls.crt").await?;
    let key = secret_data(client, ns, name, "tls.key").await?;
    let ca = secret_data(client, ns, name, "ca.crt").await?;
    pem_credentials(Some((&cert, &key)), &ca, &format!("secret {ns}/{name}"))
}

/// A client for the operator-managed ring `name` in `ns`: its ConfigMap's service, and the
/// operator's admin certificate when the ring runs with security on.
pub async fn operator_ring_client(client: &Client, ns: &str, name: &str) -> Result<Arc<FailoverClient>> {
    let conf = config_from_configmap(client, ns, &format!("{name}-config")).await?;
    let tls = if security_enabled(&conf).map_err(|e| HarnessError::Check(e.to_string()))? {
        Some(secret_credentials(client, ns, &format!("{name}-admin-tls")).await?)
    } else {
        None
    };
    failover_client(&conf, tls)
}

/// node id -> role, as every node reports itself.
pub async fn roles(client: &FailoverClient) -> BTreeMap<String, Role> {
    client
        .ring_status()
        .await
        .into_iter()
        .map(|(n, r)| (n.node_id, r.map(|s| s.role).unwrap_or(Role::Unreachable)))
        .collect()
}

/// The one node that says it leads (with the highest term), if any.
pub async fn leader(client: &FailoverClient) -> Option<String> {
    leader_or_roles(client).await.ok()
}

/// The leader with the highest term, or what each node answered instead.
async fn leader_or_roles(client: &FailoverClient) -> std::result::Result<String, String> {
    let (mut seen, mut leaders) = (Vec::new(), Vec::new());
    for (node, answer) in client.ring_status().await {
        match answer {
            Ok(s) if s.role == Role::Leader => leaders.push((s.term, node.node_id)),
            Ok(s) => seen.push(format!("{}: {:?}", node.node_id, s.role)),
            Err(e) => seen.push(format!("{}: {e}", node.node_id)),
        }
    }
    leaders.into_iter().max().map(|(_, id)| id).ok_or_else(|| seen.join("; "))
}

/// Waits until some node reports itself leader: right after a ring turns Available a
/// just-ready pod's DNS record or the first election can still be in flight.
pub async fn wait_leader(client: &FailoverClient, timeout: Duration) -> Result<String> {
    wait_for("a leader", timeout, Duration::from_millis(200), || async { leader_or_roles(client).await.map(Some) })
        .await
}

/// Waits until every configured node answers with the same applied index and the same
/// namespace digest (replicas hold identical state); returns (digest, index).
pub async fn wait_replicas_identical(client: &FailoverClient, timeout: Duration) -> Result<(String, u64)> {
    wait_for("identical replicas", timeout, Duration::from_millis(300), || async {
        let mut seen = Vec::new();
        for n in client.nodes() {
            match client.read_stale_from(n, ReadOp::Digest).await {
                Ok(ReadResponse::Digest { digest, applied_index, .. }) => {
                    seen.push((n.node_id.clone(), digest, applied_index))
                }
                Ok(other) => return Err(format!("{}: unexpected answer {other:?}", n.node_id)),
                Err(e) => return Err(format!("{}: {e}", n.node_id)),
            }
        }
        let first = seen.first().cloned().ok_or("no nodes")?;
        if seen.iter().all(|(_, d, i)| *d == first.1 && *i == first.2) {
            Ok(Some((first.1, first.2)))
        } else {
            Err(format!("{seen:?}"))
        }
    })
    .await
}

/// Pods matching `selector` in `ns`.
pub async fn pods(client: &Client, ns: &str, selector: &str) -> Result<Vec<Pod>> {
    Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(selector))
        .await
        .map(|l| l.items)
        .map_err(|source| HarnessError::Kube { what: format!("list pods {selector}"), source })
}

/// Ready (its Ready condition True) and not being deleted.
pub fn pod_ready(p: &Pod) -> bool {
    let ready = p
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    ready && p.metadata.deletion_timestamp.is_none()
}

pub fn restart_count(p: &Pod) -> i32 {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| cs.iter().map(|c| c.restart_count).sum())
        .unwrap_or(0)
}

/// Waits until exactly `n` pods match and all are Ready.
pub async fn wait_pods_ready(
    client: &Client,
    ns: &str,
    selector: &str,
    n: usize,
    timeout: Duration,
) -> Result<Vec<Pod>> {
    wait_for(&format!("{n} ready pods {selector} in {ns}"), timeout, Duration::from_millis(300), || async {
        let ps = pods(client, ns, selector).await.map_err(|e| e.to_string())?;
        let ready = ps.iter().filter(|p| pod_ready(p)).count();
        if ps.len() == n && ready == n {
            Ok(Some(ps))
        } else {
            Err(format!(
                "{} pods, {ready} ready: {:?}",
                ps.len(),
                ps.iter()
                    .map(|p| format!(
                        "{}={}",
                        p.metadata.name.as_deref().unwrap_or(""),
                        p.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default()
                    ))
                    .collect::<Vec<_>>()
            ))
        }
    })
    .await
}
