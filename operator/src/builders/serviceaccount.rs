//! The pods' ServiceAccount. The node never calls the Kubernetes API, so no token is mounted.

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
