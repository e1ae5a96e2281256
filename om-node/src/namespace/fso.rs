//! FILE_SYSTEM_OPTIMIZED buckets: keys are paths, and every directory on a path exists.
//!
//! Ozone keeps FSO directories in a table of their own, linked by parent object id. omring
//! keeps them in the key table as rows named with a trailing `/` (`a/`, `a/b/`), beside the
//! files (`a/b/c`). The rules a client sees follow Ozone's FSO requests (`OMKeyCreateRequestWithFSO`,
//! `OMKeyCommitRequestWithFSO`, `OMKeyDeleteRequestWithFSO`, `OMKeyRenameRequestWithFSO`):
//! - names are normalized (`/a//b/./c` is `a/b/c`); `..` above the bucket, `:` or nothing left
//!   is `INVALID_KEY_NAME`;
//! - opening a file creates its missing parent directories at once, counted in the bucket's
//!   namespace; a file on the path or a directory at the name is `NOT_A_FILE`;
//! - a commit whose parent directory is gone is `DIRECTORY_NOT_FOUND`;
//! - a directory with entries is not deleted (`DIRECTORY_NOT_EMPTY`);
//! - a rename moves a directory with everything under it in one command, and a rename onto a
//!   directory moves the source into it, like `mv`.
//!
//! The difference: renaming a directory rewrites one row per entry under it (Ozone rewrites one),
//! so it is refused above [`MAX_RENAMED_ENTRIES`]; and lists come in flat byte order, where
//! Ozone walks the tree (`a-b` sorts before `a/` here).

use om_client::acl::{acls_for_key, inherit_default_acls, AclScope, OzoneAcl};
use om_client::wire::{
    AclTarget, ApiError, BucketInfo, BucketLayout, ErrorCode, KeyInfo, ReadOp, WriteOp, WriteOutcome,
};

use super::tables::{decode, deleted_key_key};
use super::validate::validate_key_name;
use super::{bucket_key, key_key, volume_key, Lookup, Rows, Table, Tx};

/// Most rows one directory rename rewrites (the directory and everything under it).
pub const MAX_RENAMED_ENTRIES: usize = 100_000;

/// Whether keys of `bucket` are paths with directories.
pub(super) fn is_fso(bucket: &BucketInfo) -> bool {
    bucket.layout == BucketLayout::FileSystemOptimized
}

/// Ozone's FSO key normalization (`OmUtils.normalizeKey`, then `OzoneFSUtils.isValidKeyPath`):
/// empty components and `.` go, `..` takes back the component before it.
pub fn normalize(key: &str) -> Result<String, ApiError> {
    let invalid = || ApiError::new(ErrorCode::InvalidKeyName, format!("Invalid KeyPath {key}"));
    let mut parts: Vec<&str> = Vec::new();
    for part in key.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop().ok_or_else(invalid)?;
            }
            p if p.contains(':') => return Err(invalid()),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidKeyName, "Invalid KeyPath, empty keyName"));
    }
    Ok(parts.join("/"))
}

/// Puts the key names of a request on a FILE_SYSTEM_OPTIMIZED bucket in their normal form, on
/// the leader before the request is authorized, so the authorization and the apply see the
/// same name (`/a//b` is `a/b`). Other buckets' names are left as they are.
pub fn normalize_write(lookup: &Lookup<'_>, op: &mut WriteOp) -> Result<(), ApiError> {
    match op {
        WriteOp::OpenKey { volume, bucket, key, .. }
        | WriteOp::CommitKey { volume, bucket, key, .. }
        | WriteOp::DeleteKey { volume, bucket, key } => normalize_in(lookup, volume, bucket, key),
        WriteOp::RenameKey { volume, bucket, key, to_key } => {
            normalize_in(lookup, volume, bucket, key)?;
            // An empty destination (the bucket's root) stays as it is.
            if to_key.split('/').all(|p| p.is_empty()) {
                return Ok(());
            }
            normalize_in(lookup, volume, bucket, to_key)
        }
        WriteOp::AddAcl { target, .. } | WriteOp::RemoveAcl { target, .. } | WriteOp::SetAcl { target, .. } => {
            normalize_target(lookup, target)
        }
        _ => Ok(()),
    }
}

/// As [`normalize_write`], for reads.
pub fn normalize_read(lookup: &Lookup<'_>, op: &mut ReadOp) -> Result<(), ApiError> {
    match op {
        ReadOp::KeyInfo { volume, bucket, key } => normalize_in(lookup, volume, bucket, key),
        ReadOp::GetAcl { target } => normalize_target(lookup, target),
        _ => Ok(()),
    }
}

fn normalize_target(lookup: &Lookup<'_>, target: &mut AclTarget) -> Result<(), ApiError> {
    match target {
        AclTarget::Key { volume, bucket, key } => normalize_in(lookup, volume, bucket, key),
        _ => Ok(()),
    }
}

fn normalize_in(lookup: &Lookup<'_>, volume: &str, bucket: &str, key: &mut String) -> Result<(), ApiError> {
    let normal = normalize(key);
    // A name already in normal form stays in every layout: no need to read the bucket.
    if normal.as_ref().is_ok_and(|n| n == key) {
        return Ok(());
    }
    if lookup.bucket(volume, bucket)?.is_some_and(|b| is_fso(&b)) {
        *key = normal?;
    }
    Ok(())
}

/// The name a key of `bucket` is stored under: normalized in a FILE_SYSTEM_OPTIMIZED bucket,
/// as given elsewhere.
pub(super) fn stored_name(bucket: &BucketInfo, key: &str) -> Result<String, ApiError> {
    if is_fso(bucket) {
        normalize(key)
    } else {
        Ok(key.to_string())
    }
}

/// The row a key request names, with its name: the key's own row, else in a
/// FILE_SYSTEM_OPTIMIZED bucket the directory's (`a/b` names `a/b/`, as Ozone resolves a path
/// to a file or a directory).
pub(super) fn named_row(rows: Rows<'_>, bkt: &BucketInfo, key: &str) -> Result<Option<(String, KeyInfo)>, ApiError> {
    if let Some(info) = rows.key(&bkt.volume, &bkt.name, key)? {
        return Ok(Some((key.to_string(), info)));
    }
    if !is_fso(bkt) || key.ends_with('/') {
        return Ok(None);
    }
    let row = dir(key);
    Ok(rows.key(&bkt.volume, &bkt.name, &row)?.map(|info| (row, info)))
}

/// The row name of directory `path`.
pub(super) fn dir(path: &str) -> String {
    format!("{path}/")
}

/// The directories above `path`, outermost first: `a`, `a/b` for `a/b/c`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// The parent directory of `path`, if it is not at the bucket's root.
pub(super) fn parent(path: &str) -> Option<&str> {
    path.rsplit_once('/').map(|(p, _)| p)
}

/// What a normalized name is in a bucket.
enum Entry {
    File(KeyInfo),
    Dir(KeyInfo),
    Missing,
}

fn entry(rows: Rows<'_>, v: &str, b: &str, path: &str) -> Result<Entry, ApiError> {
    if let Some(file) = rows.key(v, b, path)? {
        return Ok(Entry::File(file));
    }
    Ok(match rows.key(v, b, &dir(path))? {
        Some(d) => Entry::Dir(d),
        None => Entry::Missing,
    })
}

/// A lookup by name: the file, else the directory (named with its trailing `/`, as Ozone
/// returns it).
pub(super) fn lookup(rows: Rows<'_>, v: &str, b: &str, key: &str) -> Result<KeyInfo, ApiError> {
    let path = normalize(key)?;
    match entry(rows, v, b, &path)? {
        Entry::File(info) | Entry::Dir(info) => Ok(info),
        Entry::Missing => Err(ApiError::new(ErrorCode::KeyNotFound, format!("Key:{path} not found"))),
    }
}

/// Checks the path of a file about to be opened and creates its missing parent directories.
/// Returns the ACLs of the nearest parent directory, for the file to inherit from.
pub(super) fn open_parents(
    tx: &mut Tx<'_>,
    bkt: &mut BucketInfo,
    path: &str,
    creator_acls: &[OzoneAcl],
) -> Result<Option<Vec<OzoneAcl>>, ApiError> {
    let (v, b) = (bkt.volume.clone(), bkt.name.clone());
    let mut nearest: Option<Vec<OzoneAcl>> = None;
    let mut missing = Vec::new();
    for up in ancestors(path) {
        match entry(tx.read, &v, &b, up)? {
            Entry::File(_) => {
                return Err(ApiError::new(
                    ErrorCode::NotAFile,
                    format!("Can not create file: {path} as there is already file in the given path"),
                ))
            }
            Entry::Dir(d) => nearest = Some(d.acls),
            Entry::Missing => missing.push(up),
        }
    }
    if let Entry::Dir(_) = entry(tx.read, &v, &b, path)? {
        return Err(ApiError::new(
            ErrorCode::NotAFile,
            format!(
                "Cannot write to directory. createIntermediateDirs behavior is enabled and hence / has special \
                 interpretation: {path}"
            ),
        ));
    }
    if missing.is_empty() {
        return Ok(nearest);
    }
    // The directories and the file itself must fit the namespace quota (the file is counted
    // again at its commit).
    let count = missing.len() as u64;
    if bkt.quota_in_namespace >= 0 && bkt.used_namespace + count + 1 > bkt.quota_in_namespace as u64 {
        return Err(ApiError::new(
            ErrorCode::QuotaExceeded,
            format!("bucket {v}/{b} allows {} keys and directories", bkt.quota_in_namespace),
        ));
    }
    // Every new directory gets the creator's defaults and, kept DEFAULT so they reach further
    // down, the DEFAULT ACLs of the nearest existing directory, else of the bucket.
    let mut acls = creator_acls.to_vec();
    inherit_default_acls(&mut acls, nearest.as_deref().unwrap_or(&bkt.acls), AclScope::Default);
    for up in missing {
        let info = KeyInfo {
            volume: v.clone(),
            bucket: b.clone(),
            name: dir(up),
            size: 0,
            replication: String::new(),
            metadata: Default::default(),
            creation_time: tx.now,
            modification_time: tx.now,
            object_id: tx.txn.object_id,
            update_id: tx.txn.log_index,
            acls: acls.clone(),
        };
        tx.put_row(Table::Keys, key_key(&v, &b, &dir(up)), &info, true);
    }
    bkt.used_namespace += count;
    bkt.update_id = tx.txn.log_index;
    tx.put(Table::Buckets, bucket_key(&v, &b), bkt);
    Ok(Some(acls))
}

/// The ACLs a new FSO file inherits from: the deepest prefix entry, the nearest directory, the
/// bucket (Ozone's order).
pub(super) fn file_acls(
    creator_acls: &[OzoneAcl],
    prefix: Option<&[OzoneAcl]>,
    nearest_dir: Option<&[OzoneAcl]>,
    bucket: &[OzoneAcl],
) -> Vec<OzoneAcl> {
    let parents: Vec<&[OzoneAcl]> = prefix.into_iter().chain(nearest_dir).chain([bucket]).collect();
    acls_for_key(creator_acls.to_vec(), &[], &parents)
}

/// Checks, at commit, that the file's directory still exists and no directory took its name.
pub(super) fn check_commit(rows: Rows<'_>, v: &str, b: &str, path: &str) -> Result<(), ApiError> {
    if let Some(up) = parent(path) {
        if !matches!(entry(rows, v, b, up)?, Entry::Dir(_)) {
            return Err(ApiError::new(
                ErrorCode::DirectoryNotFound,
                format!("Cannot create file : {path} as parent directory doesn't exist"),
            ));
        }
    }
    if let Entry::Dir(_) = entry(rows, v, b, path)? {
        return Err(ApiError::new(
            ErrorCode::NotAFile,
            format!("Can not create file: {path} as there is already directory in the given path"),
        ));
    }
    Ok(())
}

/// Deletes a file, or a directory without entries.
pub(super) fn delete(tx: &mut Tx<'_>, mut bkt: BucketInfo, key: &str) -> Result<WriteOutcome, ApiError> {
    let (v, b) = (bkt.volume.clone(), bkt.name.clone());
    let path = normalize(key)?;
    let mut vol = tx.read.volume(&v)?;
    match entry(tx.read, &v, &b, &path)? {
        Entry::Missing => Err(ApiError::new(ErrorCode::KeyNotFound, format!("Key not found. Key:{path}"))),
        Entry::Dir(_) => {
            let below = key_key(&v, &b, &dir(&path));
            // The first row after the directory's own that starts with its name.
            if !tx.read.view.scan(Table::Keys, &below, &below, 1)?.is_empty() {
                return Err(ApiError::new(ErrorCode::DirectoryNotEmpty, format!("Directory is not empty. Key:{path}")));
            }
            bkt.used_namespace = bkt.used_namespace.saturating_sub(1);
            bkt.update_id = tx.txn.log_index;
            tx.delete(Table::Keys, below);
            tx.put(Table::Buckets, bucket_key(&v, &b), &bkt);
            Ok(WriteOutcome::Deleted)
        }
        Entry::File(old) => {
            bkt.used_bytes = bkt.used_bytes.saturating_sub(old.size);
            bkt.used_namespace = bkt.used_namespace.saturating_sub(1);
            bkt.update_id = tx.txn.log_index;
            vol.used_bytes = vol.used_bytes.saturating_sub(old.size);
            vol.update_id = tx.txn.log_index;
            tx.put(Table::DeletedKeys, deleted_key_key(&v, &b, &path, old.object_id), &old);
            tx.delete(Table::Keys, key_key(&v, &b, &path));
            tx.put(Table::Buckets, bucket_key(&v, &b), &bkt);
            tx.put(Table::Volumes, volume_key(&v), &vol);
            Ok(WriteOutcome::Deleted)
        }
    }
}

/// Renames a file or a directory with everything under it. An empty destination is the
/// bucket's root; a destination that is a directory receives the source under its own name.
pub(super) fn rename(tx: &mut Tx<'_>, bkt: &BucketInfo, key: &str, to_key: &str) -> Result<WriteOutcome, ApiError> {
    let (v, b) = (bkt.volume.as_str(), bkt.name.as_str());
    let from = normalize(key)?;
    let to_root = to_key.split('/').all(|p| p.is_empty());
    let to = if to_root { String::new() } else { normalize(to_key)? };
    let file = match entry(tx.read, v, b, &from)? {
        Entry::Missing => return Err(ApiError::new(ErrorCode::KeyNotFound, format!("Key not found {from}"))),
        Entry::Dir(_) if from == to => {
            return Err(ApiError::new(ErrorCode::KeyAlreadyExists, format!("Key already exists {to}")))
        }
        Entry::File(info) if from == to => return Ok(WriteOutcome::Renamed { key: info }),
        Entry::Dir(_) => None,
        Entry::File(info) => Some(info),
    };
    let rename_error = |m: String| ApiError::new(ErrorCode::KeyRenameError, m);
    let into_dir = |target: String| -> Result<String, ApiError> {
        match entry(tx.read, v, b, &target)? {
            Entry::Missing => Ok(target),
            _ => Err(ApiError::new(
                ErrorCode::KeyAlreadyExists,
                format!("Failed to rename {from} to {to}, file already exists or not empty!"),
            )),
        }
    };
    let base = from.rsplit('/').next().unwrap_or(&from);
    let target = if to_root {
        into_dir(base.to_string())?
    } else {
        match entry(tx.read, v, b, &to)? {
            Entry::File(_) => {
                return Err(ApiError::new(
                    ErrorCode::KeyAlreadyExists,
                    format!("Failed to rename, key already exists {to}"),
                ))
            }
            Entry::Dir(_) => into_dir(format!("{to}/{base}"))?,
            Entry::Missing => {
                if let Some(up) = parent(&to) {
                    match entry(tx.read, v, b, up)? {
                        Entry::Dir(_) => {}
                        Entry::File(_) => {
                            return Err(rename_error(format!("Failed to get parent dir {up}, {up} is a file")))
                        }
                        Entry::Missing => {
                            return Err(rename_error(format!("Failed to get parent dir {up}, {up} doesn't exist")))
                        }
                    }
                }
                to.clone()
            }
        }
    };
    validate_key_name(&target)?;
    if let Some(mut info) = file {
        info.name = target.clone();
        info.modification_time = tx.now;
        info.update_id = tx.txn.log_index;
        tx.delete(Table::Keys, key_key(v, b, &from));
        tx.put(Table::Keys, key_key(v, b, &target), &info);
        return Ok(WriteOutcome::Renamed { key: info });
    }
    if target.starts_with(&dir(&from)) {
        return Err(rename_error("Cannot rename a directory to its own subdirectory".into()));
    }
    move_dir(tx, v, b, &from, &target)
}

/// Moves directory `from`'s row and every row under it to `to`, in pages.
fn move_dir(tx: &mut Tx<'_>, v: &str, b: &str, from: &str, to: &str) -> Result<WriteOutcome, ApiError> {
    let below = key_key(v, b, &dir(from));
    let (old_dir, new_dir) = (dir(from), dir(to));
    let mut moved = 0usize;
    let mut after = Vec::new();
    let mut renamed = None;
    loop {
        let page = tx.read.view.scan(Table::Keys, &below, &after, 1000)?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        moved += page.len();
        if moved > MAX_RENAMED_ENTRIES {
            return Err(ApiError::new(
                ErrorCode::KeyRenameError,
                format!(
                    "directory {from} has more than {MAX_RENAMED_ENTRIES} entries; omring renames a directory \
                     entry by entry and refuses larger ones"
                ),
            ));
        }
        for (row_key, row) in page {
            let mut info: KeyInfo = decode(Table::Keys, &row)?;
            let Some(rest) = info.name.strip_prefix(&old_dir).map(str::to_string) else { continue };
            info.name = format!("{new_dir}{rest}");
            validate_key_name(&info.name)?;
            if rest.is_empty() {
                info.modification_time = tx.now;
                info.update_id = tx.txn.log_index;
                renamed = Some(info.clone());
            }
            tx.delete(Table::Keys, row_key);
            tx.put(Table::Keys, key_key(v, b, &info.name), &info);
        }
    }
    let info = renamed.ok_or_else(|| ApiError::new(ErrorCode::InternalError, format!("directory {from} vanished")))?;
    Ok(WriteOutcome::Renamed { key: info })
}
