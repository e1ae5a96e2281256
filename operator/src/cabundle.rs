//! Keeps the operator's CA in the caBundle of the eviction webhook configuration.
//!
//! Every operator replica serves the webhook with its own CA, and the Service may route a
//! review to any replica, so the bundle holds several CAs: each replica puts its own first and
//! keeps up to [`MAX_CAS`] - 1 others (a replica whose CA was pushed out puts it back on its
//! next check). Writes carry the resourceVersion read, so two replicas never overwrite each
//! other; a conflict is simply retried on the next tick.

use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::ByteString;
use kube::api::{Api, Patch, PatchParams};

/// Most CA certificates kept in one bundle.
pub const MAX_CAS: usize = 4;

/// Errors updating the bundle.
#[derive(Debug, thiserror::Error)]
pub enum CaBundleError {
    #[error("ValidatingWebhookConfiguration {0} does not exist")]
    Missing(String),
    #[error("reading or patching ValidatingWebhookConfiguration {name}: {source}")]
    Kube {
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// The PEM certificate blocks of a bundle, normalized (one block per entry, trimmed).
pub fn pem_blocks(bundle: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in bundle.lines().map(str::trim) {
        if line == "-----BEGIN CERTIFICATE-----" {
            current.clear();
        }
        current.push_str(line);
        current.push('\n');
        if line == "-----END CERTIFICATE-----" && current.starts_with("-----BEGIN CERTIFICATE-----") {
            blocks.push(std::mem::take(&mut current));
        }
    }
    blocks
}

/// The bundle with `ours` first and at most `MAX_CAS - 1` of the others.
pub fn merged_bundle(existing: &str, ours: &str) -> String {
    let ours_blocks = pem_blocks(ours);
    let mut out = ours_blocks.clone();
    for b in pem_blocks(existing) {
        if out.len() >= MAX_CAS {
            break;
        }
        if !out.contains(&b) {
            out.push(b);
        }
    }
    out.concat()
}

fn contains_ca(bundle: Option<&ByteString>, ours: &str) -> bool {
    let existing = bundle.map(|b| String::from_utf8_lossy(&b.0).into_owned()).unwrap_or_default();
    let have = pem_blocks(&existing);
    pem_blocks(ours).iter().all(|b| have.contains(b))
}

/// Hosts of URL client configs (`https://host:port/path`), for the serving certificate.
pub fn url_hosts(config: &ValidatingWebhookConfiguration) -> Vec<String> {
    config
        .webhooks
        .iter()
        .flatten()
        .filter_map(|w| w.client_config.url.as_deref())
        .filter_map(|u| {
            let rest = u.strip_prefix("https://")?;
            let authority = rest.split('/').next()?;
            let host = match authority.strip_prefix('[') {
                Some(v6) => v6.split(']').next()?.to_string(),
                None => authority.rsplit_once(':').map_or(authority, |(h, _)| h).to_string(),
            };
            (!host.is_empty()).then_some(host)
        })
        .collect()
}

/// Reads the configuration (None when it does not exist).
pub async fn read(client: &kube::Client, name: &str) -> Result<Option<ValidatingWebhookConfiguration>, CaBundleError> {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    api.get_opt(name).await.map_err(|source| CaBundleError::Kube { name: name.into(), source })
}

/// Makes sure every webhook of the configuration trusts `ca_pem`. Returns whether it wrote.
pub async fn ensure(client: &kube::Client, name: &str, ca_pem: &str) -> Result<bool, CaBundleError> {
    let config = read(client, name).await?.ok_or_else(|| CaBundleError::Missing(name.into()))?;
    let mut webhooks = config.webhooks.clone().unwrap_or_default();
    if webhooks.iter().all(|w| contains_ca(w.client_config.ca_bundle.as_ref(), ca_pem)) {
        return Ok(false);
    }
    for w in &mut webhooks {
        let existing =
            w.client_config.ca_bundle.as_ref().map(|b| String::from_utf8_lossy(&b.0).into_owned()).unwrap_or_default();
        w.client_config.ca_bundle = Some(ByteString(merged_bundle(&existing, ca_pem).into_bytes()));
    }
    // The resourceVersion makes this a compare-and-swap: a concurrent writer gets a conflict.
    let patch = serde_json::json!({
        "metadata": {"resourceVersion": config.metadata.resource_version},
        "webhooks": webhooks,
    });
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|source| CaBundleError::Kube { name: name.into(), source })?;
    Ok(true)
}

/// Keeps the CA in the bundle: at once, then every `period`, until `shutdown` resolves.
pub async fn keep(
    client: kube::Client,
    name: String,
    ca_pem: String,
    period: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = match ensure(&client, &name, &ca_pem).await {
            Ok(true) => {
                tracing::info!(config = %name, "wrote the webhook CA bundle");
                period
            }
            Ok(false) => period,
            Err(e) => {
                tracing::warn!("cannot update the webhook CA bundle: {e}");
                Duration::from_secs(5).min(period)
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeApi;

    const CFG: &str = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/omring-eviction";

    fn pem(tag: &str) -> String {
        format!("-----BEGIN CERTIFICATE-----\n{tag}\n-----END CERTIFICATE-----\n")
    }

    #[test]
    fn bundle_keeps_ours_first_and_bounds_the_others() {
        let existing = [pem("a"), pem("b"), pem("c"), pem("d")].concat();
        let merged = merged_bundle(&existing, &pem("mine"));
        assert_eq!(pem_blocks(&merged), vec![pem("mine"), pem("a"), pem("b"), pem("c")]);
        // Already present: not duplicated.
        let again = merged_bundle(&merged, &pem("mine"));
        assert_eq!(pem_blocks(&again), pem_blocks(&merged));
        assert_eq!(pem_blocks("garbage\n"), Vec::<String>::new());
    }

    #[test]
    fn url_hosts_of_client_configs() {
        let cfg: ValidatingWebhookConfiguration = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "x"},
            "webhooks": [
                {"name": "a", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                 "clientConfig": {"url": "https://10.0.0.1:8443/validate-eviction"}},
                {"name": "b", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                 "clientConfig": {"url": "https://[::1]:8443/x"}},
                {"name": "c", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                 "clientConfig": {"service": {"name": "s", "namespace": "n"}}}
            ]
        }))
        .unwrap();
        assert_eq!(url_hosts(&cfg), ["10.0.0.1", "::1"]);
    }

    #[tokio::test]
    async fn ensure_writes_once_with_a_resource_version_precondition() {
        let api = FakeApi::new();
        api.insert(
            CFG,
            serde_json::json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                "metadata": {"name": "omring-eviction", "resourceVersion": "7"},
                "webhooks": [{"name": "eviction.omring.io", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                              "clientConfig": {"service": {"name": "s", "namespace": "n"}}}]}),
        );
        let client = api.client();
        assert!(ensure(&client, "omring-eviction", &pem("mine")).await.unwrap());
        let patch = api.log().into_iter().find(|l| l.method == http::Method::PATCH).unwrap();
        assert_eq!(patch.body.as_ref().unwrap()["metadata"]["resourceVersion"], "7");
        let stored: ValidatingWebhookConfiguration = serde_json::from_value(api.get(CFG).unwrap()).unwrap();
        let bundle = stored.webhooks.unwrap()[0].client_config.ca_bundle.clone().unwrap();
        assert_eq!(String::from_utf8(bundle.0).unwrap(), pem("mine"));
        // Second call: nothing to do.
        api.clear_log();
        assert!(!ensure(&client, "omring-eviction", &pem("mine")).await.unwrap());
        assert!(api.writes().is_empty());
        // Missing configuration is an error that names it.
        let err = ensure(&client, "nope", &pem("mine")).await.unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
