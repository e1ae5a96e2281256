//! How the operator talks to a ring's nodes: a trait, so reconcile decisions can be tested
//! against a fake ring, and its implementation over om-client's `FailoverClient`.
//!
//! Every call names the nodes it may talk to (a `ServiceConfig`), because the operator often
//! wants a subset: agreement checks ask only current members, status asks every pod.
//!
//! A ring with TLS is asked with the operator's own client certificate for that ring, read
//! from the API server (the `<name>-admin-tls` Secret, [`RingCredentials`]), never from a
//! file: [`RingClient::with_credentials`] gives a client that presents it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Secret;
use om_client::tls::{Credentials, Pem, ReloadingCredentials, TlsError};
use om_client::wire::{ConfiguredNode, JoinRequest, MembershipChange, NodeStatus, TransferResponse};
use om_client::{ClientError, FailoverClient, NodeAddress, RetryPolicy, ServiceConfig};

/// A failed call to the ring. The text says which node and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// Nothing answered (connection refused, timeout, DNS).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// A node answered with an error.
    #[error("{0}")]
    Rejected(String),
}

impl From<ClientError> for RingError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Unreachable { .. } | ClientError::GaveUp { .. } => RingError::Unreachable(e.to_string()),
            other => RingError::Rejected(other.to_string()),
        }
    }
}

/// Per-node disagreement: (node id, reason).
pub type Disagreements = Vec<(String, String)>;

/// What the operator presents to a ring with TLS: the trust bundle the servers are checked
/// against and its client certificate (CN `omring-operator`) with the key, all PEM, as the
/// `<name>-admin-tls` Secret holds them.
#[derive(Clone, PartialEq, Eq)]
pub struct RingCredentials {
    pub ca_pem: Vec<u8>,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for RingCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingCredentials")
            .field("ca_pem", &String::from_utf8_lossy(&self.ca_pem))
            .field("cert_pem", &String::from_utf8_lossy(&self.cert_pem))
            .finish_non_exhaustive()
    }
}

/// Why a Secret does not hold usable credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Secret {secret} has no {key}")]
pub struct CredentialsError {
    pub secret: String,
    pub key: &'static str,
}

impl RingCredentials {
    /// The client side of a TLS connection: the admin certificate and the ring's CA.
    pub fn to_tls(&self) -> Result<Credentials, TlsError> {
        let origin = Path::new("Secret");
        Credentials::from_pem(
            Some((Pem { bytes: &self.cert_pem, origin }, Pem { bytes: &self.key_pem, origin })),
            Pem { bytes: &self.ca_pem, origin },
        )
    }

    /// The credentials a `kubernetes.io/tls` Secret with a `ca.crt` holds.
    pub fn from_secret(secret: &Secret) -> Result<Self, CredentialsError> {
        let name = secret.metadata.name.clone().unwrap_or_default();
        let get = |key: &'static str| {
            secret
                .data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|b| b.0.clone())
                .filter(|b| !b.is_empty())
                .ok_or_else(|| CredentialsError { secret: name.clone(), key })
        };
        Ok(Self {
            ca_pem: get(crate::names::CA_CRT)?,
            cert_pem: get(crate::names::TLS_CRT)?,
            key_pem: get(crate::names::TLS_KEY)?,
        })
    }
}

/// The ring operations the operator uses.
pub trait RingClient: Send + Sync {
    /// The same client presenting `credentials` (None: plaintext), for one ring.
    fn with_credentials(&self, credentials: Option<RingCredentials>) -> Arc<dyn RingClient>;
    /// One node's own status.
    fn node_status<'a>(
        &'a self,
        service_id: &'a str,
        node: &'a NodeAddress,
    ) -> BoxFuture<'a, Result<NodeStatus, RingError>>;
    /// Asks each of `service`'s nodes to reload its file; who does not accept `candidate`.
    fn config_disagreements<'a>(
        &'a self,
        service: &'a ServiceConfig,
        candidate: &'a ConfiguredNode,
    ) -> BoxFuture<'a, Disagreements>;
    /// Asks each of `service`'s nodes (except `node_id`) to reload; who does not list it as
    /// decommissioned.
    fn decommission_disagreements<'a>(
        &'a self,
        service: &'a ServiceConfig,
        node_id: &'a str,
    ) -> BoxFuture<'a, Disagreements>;
    /// Adds a node through the leader (learner, catch up, voter); idempotent.
    fn join<'a>(
        &'a self,
        service: &'a ServiceConfig,
        req: &'a JoinRequest,
    ) -> BoxFuture<'a, Result<MembershipChange, RingError>>;
    /// Moves leadership to `target` (or a follower the leader picks).
    fn transfer_leader<'a>(
        &'a self,
        service: &'a ServiceConfig,
        target: Option<&'a str>,
    ) -> BoxFuture<'a, Result<TransferResponse, RingError>>;
    /// Removes a member through the leader; idempotent.
    fn decommission<'a>(
        &'a self,
        service: &'a ServiceConfig,
        node_id: &'a str,
    ) -> BoxFuture<'a, Result<MembershipChange, RingError>>;
}

/// Timeouts of the HTTP implementation.
#[derive(Debug, Clone, Copy)]
pub struct RingTimeouts {
    /// One status request to one node (reconcile asks every node each time).
    pub status: Duration,
    /// Admin calls (join waits for the new node to catch up; a timeout only means "ask again").
    pub admin: Duration,
}

impl Default for RingTimeouts {
    fn default() -> Self {
        Self { status: Duration::from_secs(2), admin: Duration::from_secs(30) }
    }
}

/// The real ring client: om-client's failover client, built per call for the nodes asked.
#[derive(Debug, Clone, Default)]
pub struct HttpRingClient {
    pub timeouts: RingTimeouts,
    /// The operator's credentials for the ring this client is for (None: plaintext).
    pub credentials: Option<Arc<RingCredentials>>,
}

impl HttpRingClient {
    pub fn new(timeouts: RingTimeouts) -> Self {
        Self { timeouts, credentials: None }
    }

    fn client(&self, service: &ServiceConfig, timeout: Duration) -> Result<FailoverClient, RingError> {
        let n = service.nodes.len().max(1) as u32;
        let tls = match self.credentials.as_deref() {
            None => None,
            Some(c) => Some(ReloadingCredentials::fixed(c.to_tls().map_err(|e| RingError::Rejected(e.to_string()))?)),
        };
        FailoverClient::builder(service.clone())
            .tls(tls)
            .request_timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            // Bounded: a reconcile that cannot reach the ring reports it and comes back later.
            .retry_policy(RetryPolicy { max_attempts: 2 * n + 1, wait_between_rounds: Duration::from_millis(200) })
            .build()
            .map_err(RingError::from)
    }
}

fn unreachable_all(service: &ServiceConfig, e: &RingError) -> Disagreements {
    service.nodes.iter().map(|n| (n.node_id.clone(), format!("cannot ask it: {e}"))).collect()
}

impl RingClient for HttpRingClient {
    fn with_credentials(&self, credentials: Option<RingCredentials>) -> Arc<dyn RingClient> {
        Arc::new(Self { timeouts: self.timeouts, credentials: credentials.map(Arc::new) })
    }

    fn node_status<'a>(
        &'a self,
        service_id: &'a str,
        node: &'a NodeAddress,
    ) -> BoxFuture<'a, Result<NodeStatus, RingError>> {
        Box::pin(async move {
            let service = ServiceConfig {
                service_id: service_id.to_string(),
                nodes: vec![node.clone()],
                decommissioned: Vec::new(),
            };
            let client = self.client(&service, self.timeouts.status)?;
            Ok(client.node_status(node).await?)
        })
    }

    fn config_disagreements<'a>(
        &'a self,
        service: &'a ServiceConfig,
        candidate: &'a ConfiguredNode,
    ) -> BoxFuture<'a, Disagreements> {
        Box::pin(async move {
            match self.client(service, self.timeouts.status) {
                Ok(c) => c.config_disagreements(candidate, &candidate.node_id).await,
                Err(e) => unreachable_all(service, &e),
            }
        })
    }

    fn decommission_disagreements<'a>(
        &'a self,
        service: &'a ServiceConfig,
        node_id: &'a str,
    ) -> BoxFuture<'a, Disagreements> {
        Box::pin(async move {
            match self.client(service, self.timeouts.status) {
                Ok(c) => c.decommission_disagreements(node_id).await,
                Err(e) => unreachable_all(service, &e),
            }
        })
    }

    fn join<'a>(
        &'a self,
        service: &'a ServiceConfig,
        req: &'a JoinRequest,
    ) -> BoxFuture<'a, Result<MembershipChange, RingError>> {
        Box::pin(async move { Ok(self.client(service, self.timeouts.admin)?.join(req).await?) })
    }

    fn transfer_leader<'a>(
        &'a self,
        service: &'a ServiceConfig,
        target: Option<&'a str>,
    ) -> BoxFuture<'a, Result<TransferResponse, RingError>> {
        Box::pin(async move { Ok(self.client(service, self.timeouts.admin)?.transfer_leader(target).await?) })
    }

    fn decommission<'a>(
        &'a self,
        service: &'a ServiceConfig,
        node_id: &'a str,
    ) -> BoxFuture<'a, Result<MembershipChange, RingError>> {
        Box::pin(async move { Ok(self.client(service, self.timeouts.admin)?.decommission(node_id).await?) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unreachable_nodes_are_reported_not_hung_on() {
        // Port 9 on a TEST-NET address: nothing answers; the short timeouts bound the wait.
        let node = NodeAddress {
            node_id: "om-0".into(),
            host: "127.0.0.1".into(),
            rpc_port: 9,
            ratis_port: 9,
            http_host: "127.0.0.1".into(),
            http_port: 9,
        };
        let client =
            HttpRingClient::new(RingTimeouts { status: Duration::from_millis(300), admin: Duration::from_millis(300) });
        let err = client.node_status("om", &node).await.unwrap_err();
        assert!(matches!(err, RingError::Unreachable(_)), "{err}");
        let service = ServiceConfig { service_id: "om".into(), nodes: vec![node.clone()], decommissioned: vec![] };
        let d = client.decommission_disagreements(&service, "om-1").await;
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, "om-0");
        let err = client.transfer_leader(&service, None).await.unwrap_err();
        assert!(matches!(err, RingError::Unreachable(_)), "{err}");
    }

    #[test]
    fn credentials_come_from_the_admin_secret() {
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "om-admin-tls"},
            "type": "kubernetes.io/tls",
            // base64 of "ca", "crt", "key"
            "data": {"ca.crt": "Y2E=", "tls.crt": "Y3J0", "tls.key": "a2V5"}
        }))
        .unwrap();
        let creds = RingCredentials::from_secret(&secret).unwrap();
        assert_eq!(
            creds,
            RingCredentials { ca_pem: b"ca".to_vec(), cert_pem: b"crt".to_vec(), key_pem: b"key".to_vec() }
        );
        assert!(!format!("{creds:?}").contains("key"), "the key never reaches a log: {creds:?}");
        let mut missing = secret.clone();
        missing.data.as_mut().unwrap().remove("tls.key");
        let err = RingCredentials::from_secret(&missing).unwrap_err();
        assert_eq!(err.to_string(), "Secret om-admin-tls has no tls.key");
        // A client for the ring keeps the timeouts and carries the credentials.
        let client = HttpRingClient::new(RingTimeouts::default());
        assert!(client.credentials.is_none());
        let scoped = HttpRingClient { credentials: Some(Arc::new(creds)), ..client };
        assert!(scoped.credentials.is_some());
    }
}
