//! Wiring: the Kubernetes client, the HTTP endpoints, the webhook, leader election and the
//! controller, with a graceful shutdown on SIGTERM or Ctrl-C.
//!
//! Every replica serves /metrics, /healthz, /readyz and the webhook (the webhook Service may
//! route to any of them); only the replica holding the Lease runs the controller. A replica
//! that loses the Lease stops its controller and exits, so it never acts on stale leadership.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::Api;
use kube::core::error_boundary::DeserializeGuard;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{predicates, watcher, WatchStreamExt};
use tokio::sync::watch;

use crate::certmanager::Certificate;
use crate::cli::Cli;
use crate::context::{Context, Timing};
use crate::crd::OzoneManagerRing;
use crate::metrics::Metrics;
use crate::names::{APP_NAME, LABEL_INSTANCE, LABEL_NAME};
use crate::reconcile::{error_policy, reconcile};
use crate::ringclient::{HttpRingClient, RingTimeouts};
use crate::server::{self, HealthState};
use crate::{cabundle, tls, webhook};

/// Why the operator stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot create a Kubernetes client (kubeconfig or in-cluster config): {0}")]
    Client(#[source] kube::Error),
    #[error("cannot bind {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("leader election: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
    #[error("lost the leader Lease; exiting so a fresh start re-elects")]
    LostLeadership,
}

type Ring = DeserializeGuard<OzoneManagerRing>;

/// Resolves once SIGTERM or SIGINT arrives (the signals om-node stops on too).
async fn termination_signal() {
    om_client::shutdown::stop_signal().await;
}

/// Resolves when `rx` turns true (or its sender is gone).
async fn until_true(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Runs the operator until a termination signal.
pub async fn run(cli: Cli) -> Result<(), RunError> {
    let client = kube::Client::try_default().await.map_err(RunError::Client)?;
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop_rx) = watch::channel(false);
    {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            termination_signal().await;
            tracing::info!("termination signal: shutting down");
            let _ = stop_tx.send(true);
        });
    }

    // /metrics, /healthz, /readyz.
    let listener = tokio::net::TcpListener::bind(cli.metrics_addr)
        .await
        .map_err(|source| RunError::Bind { addr: cli.metrics_addr, source })?;
    let app = server::router(HealthState { metrics: metrics.clone(), ready: ready.clone() });
    let stop = until_true(stop_rx.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
            tracing::error!("metrics server: {e}");
        }
    });
    tracing::info!(addr = %cli.metrics_addr, "serving /metrics, /healthz, /readyz");

    let timing = Timing { steady_requeue: cli.status_period(), ..Timing::default() };
    let ring_client = HttpRingClient::new(RingTimeouts { status: cli.node_timeout(), ..RingTimeouts::default() });
    let ctx = Arc::new(Context::new(
        client.clone(),
        Arc::new(ring_client),
        cli.settings(),
        metrics.clone(),
        cli.identity.clone(),
        timing,
    ));

    // The eviction webhook, on every replica.
    if let Some(config_name) = cli.webhook_config_name.clone() {
        start_webhook(&cli, &client, &ctx, config_name, stop_rx.clone()).await?;
    } else {
        tracing::info!("no --webhook-config-name: the eviction webhook is not served");
    }

    // Ready once the API server answers.
    loop {
        match client.apiserver_version().await {
            Ok(v) => {
                tracing::info!(version = %v.git_version, "connected to the API server");
                break;
            }
            Err(e) => {
                tracing::warn!("API server not reachable yet: {e}");
                tokio::select! {
                    _ = until_true(stop_rx.clone()) => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
        }
    }
    ready.store(true, Ordering::Relaxed);

    // Leader election.
    let mut lease = None;
    if cli.leader_election {
        let identity = cli.identity.clone().unwrap_or_else(|| format!("omring-operator-{:08x}", rand::random::<u32>()));
        let manager = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), &cli.lease_name)
            .with_namespace(&cli.namespace)
            .with_identity(&identity)
            .with_duration(15)
            .with_grace(5)
            .build()
            .await?;
        let (mut rx, task) = manager.watch().await;
        tracing::info!(lease = %cli.lease_name, namespace = %cli.namespace, %identity, "waiting for the leader Lease");
        let mut stop = stop_rx.clone();
        loop {
            if *rx.borrow_and_update() {
                break;
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return Err(RunError::LostLeadership) },
                _ = stop.changed() => {
                    release(rx, task).await;
                    return Ok(());
                }
            }
        }
        tracing::info!(%identity, "holding the leader Lease: starting the controller");
        lease = Some((rx, task));
    }
    metrics.is_leader.set(1);

    // Stop the controller on a signal, or when the Lease is lost.
    let (lost_tx, lost_rx) = watch::channel(false);
    let mut held = None;
    if let Some((mut rx, task)) = lease {
        let metrics = metrics.clone();
        let mut stop = stop_rx.clone();
        // Watches the Lease until it is lost or the operator stops; hands the receiver back so
        // that dropping it releases the Lease at the end (a successor starts at once).
        held = Some((
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        changed = rx.changed() => {
                            if changed.is_err() || !*rx.borrow() {
                                metrics.is_leader.set(0);
                                let _ = lost_tx.send(true);
                                return rx;
                            }
                        }
                        _ = stop.changed() => return rx,
                    }
                }
            }),
            task,
        ));
    }
    let stop_or_lost = {
        let stop = until_true(stop_rx.clone());
        let lost = until_true(lost_rx.clone());
        async move {
            tokio::select! {
                _ = stop => {}
                _ = lost => {}
            }
        }
    };
    run_controller(ctx, cli.watch_namespace.clone(), stop_or_lost).await;
    if let Some((watcher, task)) = held {
        if let Ok(rx) = watcher.await {
            release(rx, task).await;
        }
    }
    if *lost_rx.borrow() {
        return Err(RunError::LostLeadership);
    }
    tracing::info!("controller stopped");
    Ok(())
}

/// Gives the Lease up: closing the channel makes the manager release it; waits a little for it.
async fn release(
    rx: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>>,
) {
    drop(rx);
    match tokio::time::timeout(Duration::from_secs(5), task).await {
        Ok(Ok(Ok(_))) => tracing::info!("released the leader Lease"),
        Ok(Ok(Err(e))) => tracing::warn!("releasing the leader Lease: {e}"),
        Ok(Err(e)) => tracing::warn!("lease task: {e}"),
        Err(_) => tracing::warn!("releasing the leader Lease timed out; it expires on its own"),
    }
}

async fn start_webhook(
    cli: &Cli,
    client: &kube::Client,
    ctx: &Arc<Context>,
    config_name: String,
    stop_rx: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into()];
    if let Some(svc) = &cli.webhook_service_name {
        hosts.extend(tls::service_hosts(svc, &cli.namespace, &cli.cluster_domain));
    }
    hosts.extend(cli.webhook_hosts.iter().cloned());
    // Hosts of URL client configs (an operator run outside the cluster) go into the certificate.
    for attempt in 0..5 {
        match cabundle::read(client, &config_name).await {
            Ok(Some(cfg)) => {
                hosts.extend(cabundle::url_hosts(&cfg));
                break;
            }
            Ok(None) => tracing::info!(config = %config_name, "webhook configuration not there yet"),
            Err(e) => tracing::warn!("{e}"),
        }
        if attempt < 4 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    let cert = tls::generate(&hosts)?;
    tracing::info!(hosts = ?cert.hosts, "generated the webhook certificate");
    let listener = tls::bind(cli.webhook_addr).await?;
    let config = tls::server_config(&cert)?;
    let router = webhook::router(webhook::WebhookState { ctx: ctx.clone() });
    tokio::spawn(tls::serve(listener, config, router, until_true(stop_rx.clone())));
    tracing::info!(addr = %cli.webhook_addr, path = webhook::PATH, "serving the eviction webhook");
    tokio::spawn(cabundle::keep(
        client.clone(),
        config_name,
        cert.ca_pem.clone(),
        Duration::from_secs(60),
        until_true(stop_rx),
    ));
    Ok(())
}

/// Maps an object labelled with a ring's instance label to that ring.
fn ring_of(obj: &impl kube::Resource) -> Option<ObjectRef<Ring>> {
    let labels = obj.meta().labels.as_ref()?;
    if labels.get(LABEL_NAME).map(String::as_str) != Some(APP_NAME) {
        return None;
    }
    let name = labels.get(LABEL_INSTANCE)?;
    Some(ObjectRef::new(name).within(obj.meta().namespace.as_deref()?))
}

/// What of a Node matters to rings: cordon, taints, and the status of its Ready condition.
fn node_change_hash(n: &Node) -> u64 {
    use std::hash::{Hash, Hasher};
    let spec = n.spec.as_ref();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    spec.and_then(|s| s.unschedulable).hash(&mut h);
    spec.and_then(|s| s.taints.as_ref())
        .map(|ts| ts.iter().map(|t| (t.key.clone(), t.effect.clone())).collect::<Vec<_>>())
        .hash(&mut h);
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.clone())
        .hash(&mut h);
    h.finish()
}

/// What of a ring starts a reconcile: its spec (the generation) and a CA rotation request.
/// Status writes change neither.
fn ring_change_hash(r: &Ring) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    predicates::generation(r).hash(&mut h);
    r.0.as_ref()
        .ok()
        .and_then(|k| k.metadata.annotations.as_ref()?.get(crate::names::ANNOTATION_ROTATE_CA))
        .hash(&mut h);
    h.finish()
}

/// Runs the controller until `shutdown` resolves.
pub async fn run_controller(
    ctx: Arc<Context>,
    watch_namespace: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    fn api<K>(client: &kube::Client, ns: &Option<String>) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match ns {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let selector = format!("{LABEL_NAME}={APP_NAME}");
    let children = watcher::Config::default().labels(&selector);

    // Rings: status writes do not trigger a reconcile (see ring_change_hash).
    let (reader, writer) = reflector::store::<Ring>();
    let rings = watcher(api::<Ring>(&client, &watch_namespace), watcher::Config::default().any_semantic())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(|r: &Ring| Some(ring_change_hash(r)), Default::default());

    // Nodes: cordons (leadership moves, stranded members) and Ready changes (a Node going
    // NotReady strands the members whose volumes it holds); heartbeats are not changes. Map
    // them to every ring (a few per cluster).
    let node_reader = reader.clone();
    let nodes = watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .predicate_filter(|n: &Node| Some(node_change_hash(n)), Default::default());

    let certificates =
        watcher(api::<Certificate>(&client, &watch_namespace), children.clone()).default_backoff().touched_objects();

    Controller::for_stream(rings, reader)
        .with_config(ControllerConfig::default().concurrency(8))
        .owns(api::<StatefulSet>(&client, &watch_namespace), children.clone())
        .owns(api::<ConfigMap>(&client, &watch_namespace), children.clone())
        .owns(api::<PodDisruptionBudget>(&client, &watch_namespace), children.clone())
        // A certificate Secret deleted or edited by hand is put right at once, and one
        // cert-manager wrote (it carries the ring's labels, not its owner) is read at once.
        .watches(api::<Secret>(&client, &watch_namespace), children.clone(), |s| ring_of(&s))
        .owns(api::<NetworkPolicy>(&client, &watch_namespace), children.clone())
        .watches(api::<Pod>(&client, &watch_namespace), children, |pod| ring_of(&pod))
        // cert-manager reporting on a ring's Certificates. Without cert-manager's CRDs the watch
        // fails and retries with backoff; only rings with spec.tls.issuerRef need it.
        .watches_stream(certificates, |c| ring_of(&c))
        .watches_stream(nodes, move |_node| {
            node_reader.state().iter().map(|r| ObjectRef::from_obj(r.as_ref())).collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => tracing::trace!(ring = %obj, "reconciled"),
                Err(e) => tracing::debug!("controller: {e}"),
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(unschedulable: bool, ready: &str, heartbeat: &str) -> Node {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n"}, "spec": {"unschedulable": unschedulable},
            "status": {"conditions": [{"type": "Ready", "status": ready, "lastHeartbeatTime": heartbeat}]}
        }))
        .unwrap()
    }

    #[test]
    fn cordons_and_ready_changes_wake_the_rings_but_heartbeats_do_not() {
        let base = node_change_hash(&node(false, "True", "2026-01-01T00:00:00Z"));
        assert_eq!(base, node_change_hash(&node(false, "True", "2026-01-01T00:00:40Z")));
        assert_ne!(base, node_change_hash(&node(false, "Unknown", "2026-01-01T00:00:00Z")));
        assert_ne!(base, node_change_hash(&node(true, "True", "2026-01-01T00:00:00Z")));
    }
}
