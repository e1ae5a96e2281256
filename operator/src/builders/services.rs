//! Services: a headless one that gives each pod its stable DNS name (published before the pod
//! is ready, since a ring must form before any node can be ready), and a client one.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use om_client::config::{DEFAULT_HTTP_PORT, DEFAULT_OM_PORT, DEFAULT_RATIS_PORT};

use super::child_meta;
use crate::model::RingModel;

fn port(name: &str, port: u16) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        port: port.into(),
        target_port: Some(IntOrString::String(name.into())),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

/// `<name>-headless`: DNS records for every pod, ready or not.
pub fn headless(model: &RingModel) -> Service {
    Service {
        metadata: child_meta(model, model.names.headless_service()),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            publish_not_ready_addresses: Some(true),
            selector: Some(model.names.selector_labels()),
            ports: Some(vec![
                port("om-rpc", DEFAULT_OM_PORT),
                port("om-ratis", DEFAULT_RATIS_PORT),
                port("om-http", DEFAULT_HTTP_PORT),
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `<name>`: one address for clients; any ready node answers and points at the leader.
pub fn client(model: &RingModel) -> Service {
    Service {
        metadata: child_meta(model, model.names.client_service()),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(model.names.selector_labels()),
            ports: Some(vec![port("om-rpc", DEFAULT_OM_PORT), port("om-http", DEFAULT_HTTP_PORT)]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use crate::builders::golden;

    #[test]
    fn golden_headless() {
        golden::check("service-headless", &super::headless(&golden::model()));
    }

    #[test]
    fn golden_client() {
        golden::check("service-client", &super::client(&golden::model()));
    }
}
