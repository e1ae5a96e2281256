//! The pods' ServiceAccount. Only a secure ring's nodes call the Kubernetes API (TokenReview,
//! through the binding in [`super::tokenreview`]); the pod template mounts the token then.

use k8s_openapi::api::core::v1::ServiceAccount;

use super::child_meta;
use crate::model::RingModel;

pub fn build(model: &RingModel) -> ServiceAccount {
    ServiceAccount {
        metadata: child_meta(model, model.names.service_account()),
        automount_service_account_token: Some(false),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use crate::builders::golden;

    #[test]
    fn golden() {
        golden::check("serviceaccount", &super::build(&golden::model()));
    }
}
