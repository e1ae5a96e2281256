//! The ClusterRoleBinding that lets a ring's pods check bearer tokens with the TokenReview API
//! (`system:auth-delegator`), so that Kubernetes ServiceAccounts can call a secure ring.
//!
//! It is cluster-scoped, so it cannot carry an owner reference to the ring: the operator
//! deletes it itself, behind the ring's finalizer ([`crate::names::FINALIZER`]).

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::model::RingModel;

/// The ClusterRole Kubernetes ships for delegated authentication.
pub const AUTH_DELEGATOR: &str = "system:auth-delegator";

pub fn build(model: &RingModel) -> ClusterRoleBinding {
    let names = &model.names;
    ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(names.token_review_binding()),
            labels: Some(names.cluster_object_labels()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: AUTH_DELEGATOR.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: names.service_account(),
            namespace: Some(names.namespace.clone()),
            ..Default::default()
        }]),
    }
}

#[cfg(test)]
mod tests {
    use crate::builders::golden;

    #[test]
    fn golden() {
        golden::check("tokenreview", &super::build(&golden::model()));
    }
}
