//! A local-directory volume provisioner, like rancher's local-path provisioner: a default
//! StorageClass, a directory and a PersistentVolume for each claim of that class, and the
//! directory deleted when a released volume's reclaim policy says Delete. The kube-controller-
//! manager's PV controller does the binding. Volumes have no node affinity: every simulated Node
//! reaches every directory, as with network-attached disks, so a pod can move between Nodes.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::json;

use super::nodes::FIELD_MANAGER;

pub const PROVISIONER: &str = "omring.io/local-dir";
pub const STORAGE_CLASS: &str = "omring-local";
const ANN_PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
const ANN_STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";

/// Creates the default StorageClass served by this provisioner.
pub async fn ensure_storage_class(client: &Client) -> Result<(), kube::Error> {
    let api: Api<StorageClass> = Api::all(client.clone());
    let sc = json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS,
                     "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": true,
    });
    api.patch(STORAGE_CLASS, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&sc)).await?;
    Ok(())
}

/// True for an unbound claim this provisioner should serve.
pub fn wants_volume(pvc: &PersistentVolumeClaim) -> bool {
    let spec = pvc.spec.as_ref();
    let unbound = spec.and_then(|s| s.volume_name.as_deref()).is_none_or(str::is_empty);
    let ours = spec.and_then(|s| s.storage_class_name.as_deref()) == Some(STORAGE_CLASS)
        || pvc.metadata.annotations.as_ref().and_then(|a| a.get(ANN_STORAGE_PROVISIONER)).map(String::as_str)
            == Some(PROVISIONER);
    unbound && ours && pvc.metadata.deletion_timestamp.is_none()
}

pub fn pv_name(pvc: &PersistentVolumeClaim) -> String {
    format!("pvc-{}", pvc.metadata.uid.as_deref().unwrap_or("unknown"))
}

/// Creates the directory and the PersistentVolume pre-bound to `pvc`.
pub async fn provision(client: &Client, pvc: &PersistentVolumeClaim, volumes_dir: &Path) -> Result<String, String> {
    let name = pv_name(pvc);
    let dir = volumes_dir.join(&name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let spec = pvc.spec.as_ref();
    let size = spec
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .map(|q| q.0.clone())
        .unwrap_or_else(|| "1Gi".into());
    let modes = spec.and_then(|s| s.access_modes.clone()).unwrap_or_else(|| vec!["ReadWriteOnce".into()]);
    let pv = json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": {ANN_PROVISIONED_BY: PROVISIONER},
                     "labels": {"omring.io/claim": pvc.metadata.name.clone().unwrap_or_default()}},
        "spec": {
            "capacity": {"storage": size}, "accessModes": modes,
            "persistentVolumeReclaimPolicy": "Delete", "storageClassName": STORAGE_CLASS,
            "volumeMode": spec.and_then(|s| s.volume_mode.clone()).unwrap_or_else(|| "Filesystem".into()),
            "hostPath": {"path": dir.display().to_string(), "type": "DirectoryOrCreate"},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "namespace": pvc.metadata.namespace, "name": pvc.metadata.name, "uid": pvc.metadata.uid},
        }
    });
    let pv: PersistentVolume = serde_json::from_value(pv).map_err(|e| e.to_string())?;
    let api: Api<PersistentVolume> = Api::all(client.clone());
    match api.create(&PostParams::default(), &pv).await {
        Ok(_) => Ok(name),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(name),
        Err(e) => Err(format!("creating PersistentVolume {name}: {e}")),
    }
}

/// The directory behind a PersistentVolume this agent can mount.
pub fn volume_dir(pv: &PersistentVolume) -> Option<PathBuf> {
    let spec = pv.spec.as_ref()?;
    spec.host_path
        .as_ref()
        .map(|h| PathBuf::from(&h.path))
        .or_else(|| spec.local.as_ref().map(|l| PathBuf::from(&l.path)))
}

/// Deletes a released volume of ours (directory first, then the object).
pub async fn reclaim_if_released(client: &Client, pv: &PersistentVolume, volumes_dir: &Path) -> Result<bool, String> {
    let ours = pv.metadata.annotations.as_ref().and_then(|a| a.get(ANN_PROVISIONED_BY)).map(String::as_str)
        == Some(PROVISIONER);
    let released = pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Released");
    let delete =
        pv.spec.as_ref().and_then(|s| s.persistent_volume_reclaim_policy.as_deref()).unwrap_or("Delete") == "Delete";
    if !(ours && released && delete) || pv.metadata.deletion_timestamp.is_some() {
        return Ok(false);
    }
    let name = pv.metadata.name.clone().unwrap_or_default();
    if let Some(dir) = volume_dir(pv).filter(|d| d.starts_with(volumes_dir)) {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(format!("removing {}: {e}", dir.display()));
            }
        }
    }
    let api: Api<PersistentVolume> = Api::all(client.clone());
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(true),
        Err(e) => Err(format!("deleting PersistentVolume {name}: {e}")),
    }
}
