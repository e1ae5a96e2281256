//! The ring's NetworkPolicy (ingress only; egress is not restricted):
//! - the peer (Raft) port only from the ring's own pods;
//! - the client port from the ring's own pods, the operator and `spec.networkPolicy.clientFrom`
//!   (absent: from anywhere; an empty list: nobody else);
//! - the HTTP port (health and metrics, nothing else) from anywhere, so monitoring reaches it;
//!   the kubelet's probes come from the Node, which NetworkPolicies do not block anyway;
//! - every port from the operator's pods (its namespace and pod labels).

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use om_client::config::{DEFAULT_HTTP_PORT, DEFAULT_OM_PORT, DEFAULT_RATIS_PORT};

use super::child_meta;
use crate::model::{NetworkPolicyModel, RingModel, Settings};

/// Label every namespace carries with its own name (Kubernetes sets it).
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

fn port(p: u16) -> Option<Vec<NetworkPolicyPort>> {
    Some(vec![NetworkPolicyPort {
        port: Some(IntOrString::Int(p.into())),
        protocol: Some("TCP".into()),
        ..Default::default()
    }])
}

fn ring_pods(model: &RingModel) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(LabelSelector { match_labels: Some(model.names.selector_labels()), ..Default::default() }),
        ..Default::default()
    }
}

fn operator_pods(settings: &Settings) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some([(NAMESPACE_NAME_LABEL.to_string(), settings.operator_namespace.clone())].into()),
            ..Default::default()
        }),
        pod_selector: Some(LabelSelector {
            match_labels: Some(settings.operator_pod_labels.clone()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The policy, for a ring that wants one.
pub fn build(model: &RingModel, policy: &NetworkPolicyModel, settings: &Settings) -> NetworkPolicy {
    // No `from` at all admits every source; otherwise the listed ones.
    let client_from = policy.client_from.as_ref().map(|extra| {
        let mut from = vec![ring_pods(model), operator_pods(settings)];
        from.extend(extra.iter().cloned());
        from
    });
    NetworkPolicy {
        metadata: child_meta(model, model.names.network_policy()),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(model.names.selector_labels()),
                ..Default::default()
            }),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![
                NetworkPolicyIngressRule { from: Some(vec![ring_pods(model)]), ports: port(DEFAULT_RATIS_PORT) },
                NetworkPolicyIngressRule { from: client_from, ports: port(DEFAULT_OM_PORT) },
                NetworkPolicyIngressRule { from: None, ports: port(DEFAULT_HTTP_PORT) },
                NetworkPolicyIngressRule { from: Some(vec![operator_pods(settings)]), ports: None },
            ]),
            ..Default::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::golden;

    #[test]
    fn golden_default() {
        let m = golden::model();
        golden::check("networkpolicy", &build(&m, m.network_policy.as_ref().unwrap(), &Settings::default()));
    }

    #[test]
    fn golden_with_client_sources() {
        let m = golden::model();
        let peers: Vec<NetworkPolicyPeer> = serde_json::from_value(serde_json::json!([
            {"namespaceSelector": {"matchLabels": {"team": "apps"}}},
            {"ipBlock": {"cidr": "10.0.0.0/8"}}
        ]))
        .unwrap();
        let settings = Settings {
            operator_namespace: "omring-system".into(),
            operator_pod_labels: [
                ("app.kubernetes.io/name".to_string(), "omring-operator".to_string()),
                ("app.kubernetes.io/instance".to_string(), "ops".to_string()),
            ]
            .into(),
            ..Settings::default()
        };
        golden::check(
            "networkpolicy-client-from",
            &build(&m, &NetworkPolicyModel { client_from: Some(peers) }, &settings),
        );
    }

    #[test]
    fn the_raft_port_admits_only_the_ring_and_an_empty_list_closes_the_client_port() {
        let m = golden::model();
        let np = build(&m, &NetworkPolicyModel { client_from: Some(vec![]) }, &Settings::default());
        let rules = np.spec.unwrap().ingress.unwrap();
        let by_port = |p: u16| {
            rules
                .iter()
                .find(|r| r.ports.as_ref().is_some_and(|ps| ps[0].port == Some(IntOrString::Int(p.into()))))
                .unwrap()
        };
        let raft = by_port(9872).from.as_ref().unwrap();
        assert_eq!(raft.len(), 1);
        assert_eq!(raft[0].pod_selector.as_ref().unwrap().match_labels, Some(m.names.selector_labels()));
        assert!(raft[0].namespace_selector.is_none(), "the ring's own namespace only");
        let client = by_port(9862).from.as_ref().unwrap();
        assert_eq!(client.len(), 2, "ring pods and the operator, nobody else");
        assert!(by_port(9874).from.is_none(), "health and metrics from anywhere");
        let operator = rules.iter().find(|r| r.ports.is_none()).unwrap();
        let peer = &operator.from.as_ref().unwrap()[0];
        assert_eq!(
            peer.namespace_selector.as_ref().unwrap().match_labels.as_ref().unwrap()["kubernetes.io/metadata.name"],
            "default"
        );
    }
}
