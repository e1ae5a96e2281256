//! Ozone's `listStatus`: a bucket read as a file system, one directory level at a time.
//!
//! Ozone's Java client lists a FILE_SYSTEM_OPTIMIZED bucket (`ozone sh key list`, `ofs://`) by
//! walking it: it asks for the entries directly in a directory, pushes the directories it gets,
//! and resumes a level from the last name it saw. The answers follow Ozone's
//! `OzoneListStatusHelper.listStatusFSO`:
//! - a directory lists its direct entries, from the start key on (included: the client drops it);
//! - a file lists itself;
//! - a start key must be in the directory or beside it, else the answer is empty; with no
//!   directory, the start key's parent is listed;
//! - a name that is nothing is FILE_NOT_FOUND, or with `allow_partial_prefix` a filter on the
//!   names in its parent directory.
//!
//! Rows are flat (`a/`, `a/b`, `a/c/`, `a/c/d`), so a directory's entries are found by skipping
//! over each subdirectory's rows. An OBJECT_STORE bucket has no directory rows: a name with a
//! `/` then stands for a directory, as in Ozone's listing of such buckets.

use om_client::wire::{ApiError, BucketInfo, ErrorCode, FileStatus, KeyInfo};

use super::fso::{self, dir as dir_row};
use super::tables::{decode, key_key};
use super::{Rows, Table};

/// Rows read from the store per scan.
const SCAN_BATCH: usize = 256;

/// What a [`list`] call asks for.
pub(super) struct ListStatus<'a> {
    pub volume: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    pub start_key: &'a str,
    pub max: usize,
    pub recursive: bool,
    pub allow_partial_prefix: bool,
}

/// The entries [`ListStatus`] names, in row order.
pub(super) fn list(rows: Rows<'_>, req: &ListStatus<'_>) -> Result<Vec<FileStatus>, ApiError> {
    let (v, b) = (req.volume, req.bucket);
    let bkt = rows.bucket(v, b)?;
    let name = |s: &str| path_of(&bkt, s);
    let mut dir = name(req.key)?;
    let start = name(req.start_key)?;
    if !start.is_empty() {
        if dir.is_empty() {
            dir = parent(&start).to_string();
        } else if parent(&start) != parent(&dir) && parent(&start) != dir {
            return Ok(Vec::new());
        }
    }
    // The rows to walk, and the directory the entries' names are relative to.
    let (scan, level) = if dir.is_empty() {
        (String::new(), String::new())
    } else {
        match kind(rows, v, b, &dir)? {
            Kind::Dir => (dir_row(&dir), dir_row(&dir)),
            Kind::File(info) if !req.allow_partial_prefix => return Ok(vec![FileStatus::file(info)]),
            Kind::Missing if !req.allow_partial_prefix => {
                return Err(ApiError::new(
                    ErrorCode::FileNotFound,
                    format!("Unable to get file status: volume: {v} bucket: {b} key: {dir}"),
                ))
            }
            // A partial name: the entries of its parent that start with it.
            Kind::File(_) | Kind::Missing => {
                let up = parent(&dir);
                if !up.is_empty() && !matches!(kind(rows, v, b, up)?, Kind::Dir) {
                    return Ok(Vec::new());
                }
                let level = if up.is_empty() { String::new() } else { dir_row(up) };
                (dir.clone(), level)
            }
        }
    };
    let base = key_key(v, b, "");
    let full = |name: &str| [base.as_slice(), name.as_bytes()].concat();
    let mut after = if start.is_empty() { Vec::new() } else { just_before(&full(&start_row(rows, v, b, &start)?)) };
    let mut out = Vec::new();
    'scan: while out.len() < req.max {
        let page = rows.view.scan(Table::Keys, &full(&scan), &after, SCAN_BATCH)?;
        let last_page = page.len() < SCAN_BATCH;
        for (row_key, row) in page {
            let Some(name) = std::str::from_utf8(&row_key[base.len()..]).ok() else { continue };
            let rest = name.get(level.len()..).unwrap_or_default();
            after = row_key.clone();
            if rest.is_empty() {
                continue; // the directory's own row
            }
            match rest.find('/') {
                None => out.push(FileStatus::file(decode(Table::Keys, &row)?)),
                Some(_) if req.recursive => out.push(FileStatus::of_row(decode(Table::Keys, &row)?)),
                Some(i) => {
                    let child = &name[..level.len() + i];
                    let info = if i + 1 == rest.len() { decode(Table::Keys, &row)? } else { implicit(&bkt, child) };
                    out.push(FileStatus::directory(info));
                    // Past every row under the child: 0xFF follows no byte of a UTF-8 name.
                    after = [full(&dir_row(child)), vec![0xFF]].concat();
                    if out.len() < req.max {
                        continue 'scan;
                    }
                }
            }
            if out.len() == req.max {
                break 'scan;
            }
        }
        if last_page {
            break;
        }
    }
    Ok(out)
}

/// A name in the bucket's form: normalized in an FSO bucket, without a trailing `/` in any.
fn path_of(bkt: &BucketInfo, name: &str) -> Result<String, ApiError> {
    match name.trim_matches('/') {
        "" => Ok(String::new()),
        trimmed => fso::stored_name(bkt, trimmed),
    }
}

/// The directory `path` is in; empty at the bucket's root.
fn parent(path: &str) -> &str {
    fso::parent(path).unwrap_or("")
}

enum Kind {
    File(KeyInfo),
    Dir,
    Missing,
}

/// What `path` is: a file row, a directory row, or (in any layout) a name rows sit under.
fn kind(rows: Rows<'_>, v: &str, b: &str, path: &str) -> Result<Kind, ApiError> {
    if let Some(info) = rows.key(v, b, path)? {
        return Ok(Kind::File(info));
    }
    if rows.has_children(Table::Keys, &key_key(v, b, &dir_row(path)))? {
        return Ok(Kind::Dir);
    }
    Ok(Kind::Missing)
}

/// Where a listing from `start` begins: its file row, else its directory's rows. The order of
/// rows puts `a-b` between the file `a` and the directory `a/`, so a directory resumes at `a/`
/// and an entry listed before it is not listed twice.
fn start_row(rows: Rows<'_>, v: &str, b: &str, start: &str) -> Result<String, ApiError> {
    Ok(match kind(rows, v, b, start)? {
        Kind::Dir => dir_row(start),
        Kind::File(_) | Kind::Missing => start.to_string(),
    })
}

/// A row key that sorts right before `key` and after every row key smaller than it: the scan
/// "after" it starts at `key` itself. Row keys are UTF-8 without NUL, so no row key lies
/// between `key` with its last byte lowered, followed by 0xFF (never in UTF-8), and `key`.
fn just_before(key: &[u8]) -> Vec<u8> {
    match key.split_last() {
        Some((&last, head)) if last > 0 => [head, &[last - 1, 0xFF]].concat(),
        _ => Vec::new(),
    }
}

/// The entry of a directory that has no row of its own (a `/` in an OBJECT_STORE key name).
fn implicit(bkt: &BucketInfo, path: &str) -> KeyInfo {
    KeyInfo {
        volume: bkt.volume.clone(),
        bucket: bkt.name.clone(),
        name: path.to_string(),
        size: 0,
        replication: String::new(),
        metadata: Default::default(),
        creation_time: bkt.creation_time,
        modification_time: bkt.modification_time,
        object_id: 0,
        update_id: 0,
        acls: Vec::new(),
    }
}
