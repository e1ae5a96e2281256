//! Writes to the API server, shared by the reconcile steps and the eviction webhook: server-side
//! apply as the operator's field manager, deletes that treat "already gone" as done, pod
//! label and annotation patches, and the sweep of owned objects the plan no longer wants.

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::Resource;
use serde::Serialize;

use crate::names::{ANNOTATION_EVICTION_REQUESTED_AT, ANNOTATION_REMOVED_MEMBER, FIELD_MANAGER, LABEL_ROLE};
use crate::observe::ObserveError;
use crate::plan::LabelChange;

/// Errors that make a reconcile retry with backoff. Ring nodes that do not answer are not
/// errors (they show in the status); these are API server failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Observe(#[from] ObserveError),
    #[error("certificates: {0}")]
    Certificates(#[from] crate::certs::CertError),
    #[error("{action}: {source}")]
    Kube {
        action: String,
        #[source]
        source: kube::Error,
    },
}

pub fn kube_err(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let action = action.into();
    move |source| Error::Kube { action, source }
}

/// Server-side apply of one object as the operator's field manager.
pub async fn apply<K>(client: &kube::Client, ns: &str, obj: &K) -> Result<(), Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    apply_with(Api::namespaced(client.clone(), ns), obj).await
}

/// Server-side apply of one cluster-scoped object as the operator's field manager.
pub async fn apply_cluster<K>(client: &kube::Client, obj: &K) -> Result<(), Error>
where
    K: Resource<Scope = k8s_openapi::ClusterResourceScope, DynamicType = ()>
        + Clone
        + Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    apply_with(Api::all(client.clone()), obj).await
}

/// The apply itself, through `api` (namespaced or cluster-wide).
async fn apply_with<K>(api: Api<K>, obj: &K) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(obj))
        .await
        .map_err(kube_err(format!("applying {} {name}", K::kind(&()))))?;
    Ok(())
}

/// Deletes an object, treating "already gone" as done.
pub async fn delete_if_present<K>(api: &Api<K>, name: &str, dp: &DeleteParams) -> Result<bool, kube::Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, dp).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Merge-patches the metadata of each pod; a pod that is gone needs no change. `what` names
/// the change in errors ("labelling pod").
async fn patch_pods(
    client: &kube::Client,
    ns: &str,
    patches: Vec<(&str, serde_json::Value)>,
    what: &str,
) -> Result<(), Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    for (pod, metadata) in patches {
        let patch = serde_json::json!({ "metadata": metadata });
        match api.patch(pod, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(kube_err(format!("{what} {pod}"))(e)),
        }
    }
    Ok(())
}

/// Patches `omring.io/role` on pods (a null value removes it).
pub async fn set_role_labels(client: &kube::Client, ns: &str, changes: &[LabelChange]) -> Result<(), Error> {
    let patches =
        changes.iter().map(|(pod, value)| (pod.as_str(), serde_json::json!({"labels": {LABEL_ROLE: value}}))).collect();
    patch_pods(client, ns, patches, "labelling pod").await
}

/// Removes expired eviction records from pods.
pub async fn clear_eviction_records(client: &kube::Client, ns: &str, pods: &[String]) -> Result<(), Error> {
    let clear = serde_json::json!({"annotations": {ANNOTATION_EVICTION_REQUESTED_AT: null}});
    let patches = pods.iter().map(|p| (p.as_str(), clear.clone())).collect();
    patch_pods(client, ns, patches, "clearing the eviction record of pod").await
}

/// Records on the pod that an eviction of it was just denied (the controller moves leadership
/// away when it sees the record).
pub async fn record_eviction_request(client: &kube::Client, ns: &str, pod: &str, at: Timestamp) -> Result<(), Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let patch = serde_json::json!({"metadata": {"annotations": {ANNOTATION_EVICTION_REQUESTED_AT: at.to_string()}}});
    api.patch(pod, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(kube_err(format!("recording the eviction request on pod {pod}")))?;
    Ok(())
}

/// Marks a data volume as holding a removed member's data (see [`ANNOTATION_REMOVED_MEMBER`]).
/// The uid in the patch makes the API server refuse it if the name now belongs to another
/// volume.
pub async fn mark_removed_member_volume(
    client: &kube::Client,
    ns: &str,
    pvc: &str,
    uid: &str,
    at: Timestamp,
) -> Result<(), Error> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let patch =
        serde_json::json!({"metadata": {"uid": uid, "annotations": {ANNOTATION_REMOVED_MEMBER: at.to_string()}}});
    api.patch(pvc, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(kube_err(format!("marking PersistentVolumeClaim {pvc} as a removed member's")))?;
    Ok(())
}

/// Deletes the objects of kind `K` that match `selector`, are owned by the object with
/// `owner_uid`, and are not named in `wanted`. Returns the names it deleted.
pub async fn sweep<K>(
    client: &kube::Client,
    ns: &str,
    selector: &str,
    owner_uid: &str,
    wanted: &[String],
) -> Result<Vec<String>, Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let kind = K::kind(&());
    let existing =
        api.list(&ListParams::default().labels(selector)).await.map_err(kube_err(format!("listing {kind}s")))?;
    let mut deleted = Vec::new();
    for obj in existing.items {
        let meta = obj.meta();
        let Some(name) = meta.name.clone() else { continue };
        let owned = meta.owner_references.iter().flatten().any(|r| r.uid == owner_uid);
        if !owned || wanted.contains(&name) {
            continue;
        }
        if delete_if_present(&api, &name, &DeleteParams::default())
            .await
            .map_err(kube_err(format!("deleting {kind} {name}")))?
        {
            deleted.push(name);
        }
    }
    Ok(deleted)
}
