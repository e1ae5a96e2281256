//! The ConfigMap holding `ozone-site.xml`, mounted at `/etc/ozone` in every pod.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::child_meta;
use crate::model::RingModel;
use crate::names::CONFIG_FILE;
use crate::siteconfig::SiteConfig;

pub fn build(model: &RingModel, site: &SiteConfig) -> ConfigMap {
    ConfigMap {
        metadata: child_meta(model, model.names.configmap()),
        data: Some(BTreeMap::from([(CONFIG_FILE.to_string(), site.xml.clone())])),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builders::golden;
    use crate::siteconfig::{render, Membership};

    #[test]
    fn golden() {
        let m = golden::model();
        golden::check("configmap", &build(&m, &render(&m, &Membership::first(3))));
    }

    #[test]
    fn golden_while_removing_a_node() {
        let m = golden::model();
        let leaving = Membership { nodes: vec![0, 1, 2, 3], decommissioned: vec![3] };
        golden::check("configmap-decommissioning", &build(&m, &render(&m, &leaving)));
    }
}
