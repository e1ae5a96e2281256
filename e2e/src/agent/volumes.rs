//! Files of ConfigMap, Secret, downward API and projected volumes, written the way the kubelet
//! writes them so a process never reads a half-updated volume.
//!
//! The files live in a timestamped directory `..<time>`; `..data` is a symlink to it and every
//! top-level name is a symlink through `..data`. An update writes a new directory and swaps
//! `..data` with one rename, which is what lets processes re-read a ConfigMap safely.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

use k8s_openapi::api::core::v1::{ConfigMap, KeyToPath, Secret};

/// Relative path -> (content, mode).
pub type Payload = BTreeMap<String, (Vec<u8>, u32)>;

const DATA_LINK: &str = "..data";

/// Errors building or writing a volume.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("{what} not found")]
    Missing { what: String },
    #[error("{what}: key {key} not found")]
    MissingKey { what: String, key: String },
    #[error("invalid path {path:?} in volume")]
    BadPath { path: String },
    #[error("writing volume at {dir}: {source}")]
    Io { dir: String, source: io::Error },
}

fn check_rel(path: &str) -> Result<(), VolumeError> {
    let p = Path::new(path);
    let ok = !path.is_empty() && !path.starts_with("..") && p.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(VolumeError::BadPath { path: path.into() })
    }
}

/// Adds `data` (all keys, or only `items`) to `out`.
pub fn project_items(
    out: &mut Payload,
    what: &str,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    default_mode: u32,
    optional: bool,
) -> Result<(), VolumeError> {
    match items {
        None => {
            for (k, v) in data {
                check_rel(k)?;
                out.insert(k.clone(), (v.clone(), default_mode));
            }
        }
        Some(items) => {
            for it in items {
                check_rel(&it.path)?;
                match data.get(&it.key) {
                    Some(v) => {
                        let mode = it.mode.map(|m| m as u32).unwrap_or(default_mode);
                        out.insert(it.path.clone(), (v.clone(), mode));
                    }
                    None if optional => {}
                    None => return Err(VolumeError::MissingKey { what: what.into(), key: it.key.clone() }),
                }
            }
        }
    }
    Ok(())
}

/// Data and binaryData of a ConfigMap, as bytes.
pub fn config_map_data(cm: &ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> =
        cm.data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect();
    for (k, v) in cm.binary_data.iter().flatten() {
        out.insert(k.clone(), v.0.clone());
    }
    out
}

/// Data and stringData of a Secret, as bytes.
pub fn secret_data(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut out: BTreeMap<String, Vec<u8>> = s.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect();
    for (k, v) in s.string_data.iter().flatten() {
        out.insert(k.clone(), v.clone().into_bytes());
    }
    out
}

/// Writes `payload` into `dir` atomically; returns whether anything changed.
pub fn write_atomic(dir: &Path, payload: &Payload) -> Result<bool, VolumeError> {
    let io_err = |source| VolumeError::Io { dir: dir.display().to_string(), source };
    std::fs::create_dir_all(dir).map_err(io_err)?;
    let data_dir = dir.join(DATA_LINK);
    if unchanged(&data_dir, payload) {
        return Ok(false);
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let ts_name = format!("..{nanos}");
    let ts_dir = dir.join(&ts_name);
    std::fs::create_dir_all(&ts_dir).map_err(io_err)?;
    for (rel, (content, mode)) in payload {
        let p = ts_dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(io_err)?;
        }
        std::fs::write(&p, content).map_err(io_err)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode & 0o777)).map_err(io_err)?;
    }
    let old_target = std::fs::read_link(&data_dir).ok();
    let tmp_link = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp_link);
    std::os::unix::fs::symlink(&ts_name, &tmp_link).map_err(io_err)?;
    std::fs::rename(&tmp_link, &data_dir).map_err(io_err)?;
    // Top-level names point through ..data; stale ones go.
    let tops: std::collections::BTreeSet<String> =
        payload.keys().filter_map(|k| k.split('/').next().map(str::to_string)).collect();
    for top in &tops {
        let link = dir.join(top);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new(DATA_LINK).join(top), &link).map_err(io_err)?;
        }
    }
    for entry in std::fs::read_dir(dir).map_err(io_err)?.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.starts_with("..") && !tops.contains(&name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    if let Some(old) = old_target {
        if old != Path::new(&ts_name) {
            let _ = std::fs::remove_dir_all(dir.join(old));
        }
    }
    Ok(true)
}

fn unchanged(data_dir: &Path, payload: &Payload) -> bool {
    if !data_dir.exists() {
        return false;
    }
    let mut count = 0usize;
    let mut stack = vec![data_dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { return false };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                count += 1;
            }
        }
    }
    count == payload.len()
        && payload.iter().all(|(rel, (content, mode))| {
            let p = data_dir.join(rel);
            std::fs::read(&p).is_ok_and(|c| &c == content)
                && std::fs::metadata(&p).is_ok_and(|m| m.permissions().mode() & 0o777 == mode & 0o777)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_swap_the_data_link_and_drop_removed_keys() {
        let dir = tempfile::tempdir().unwrap();
        let vol = dir.path().join("config");
        let mut p = Payload::new();
        p.insert("ozone-site.xml".into(), (b"<configuration/>".to_vec(), 0o644));
        p.insert("sub/log.conf".into(), (b"x".to_vec(), 0o600));
        assert!(write_atomic(&vol, &p).unwrap());
        assert!(!write_atomic(&vol, &p).unwrap(), "same payload: no rewrite");
        assert_eq!(std::fs::read_to_string(vol.join("ozone-site.xml")).unwrap(), "<configuration/>");
        assert_eq!(std::fs::read_to_string(vol.join("sub/log.conf")).unwrap(), "x");
        let first = std::fs::read_link(vol.join(DATA_LINK)).unwrap();

        p.insert("ozone-site.xml".into(), (b"<configuration>2</configuration>".to_vec(), 0o644));
        p.remove("sub/log.conf");
        assert!(write_atomic(&vol, &p).unwrap());
        assert_eq!(std::fs::read_to_string(vol.join("ozone-site.xml")).unwrap(), "<configuration>2</configuration>");
        assert!(!vol.join("sub").exists(), "removed key is gone");
        assert!(!vol.join(&first).exists(), "old generation removed");
    }

    #[test]
    fn items_select_keys_and_reject_escaping_paths() {
        let data: BTreeMap<String, Vec<u8>> =
            [("a".to_string(), b"1".to_vec()), ("b".to_string(), b"2".to_vec())].into();
        let items = vec![KeyToPath { key: "b".into(), path: "dir/b.txt".into(), mode: Some(0o600) }];
        let mut out = Payload::new();
        project_items(&mut out, "configmap x", &data, Some(&items), 0o644, false).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out["dir/b.txt"], (b"2".to_vec(), 0o600));
        let bad = vec![KeyToPath { key: "a".into(), path: "../etc/passwd".into(), mode: None }];
        assert!(project_items(&mut out, "x", &data, Some(&bad), 0o644, false).is_err());
        let missing = vec![KeyToPath { key: "zz".into(), path: "zz".into(), mode: None }];
        assert!(project_items(&mut out, "x", &data, Some(&missing), 0o644, false).is_err());
        assert!(project_items(&mut out, "x", &data, Some(&missing), 0o644, true).is_ok());
    }
}
