//! `listStatus` over [`MemTables`]: the answers Ozone's client walks an FSO bucket with.

use super::fso_tests::{fso_ring, KeyOps};
use super::tests::Ring;
use super::*;

struct Ask<'a> {
    bucket: &'a str,
    key: &'a str,
    start: &'a str,
    max: u32,
    recursive: bool,
    partial: bool,
}

fn ask<'a>(key: &'a str, start: &'a str) -> Ask<'a> {
    Ask { bucket: "fso", key, start, max: 1000, recursive: false, partial: false }
}

fn list(r: &Ring, a: Ask<'_>) -> Result<Vec<String>, ApiError> {
    let op = ReadOp::ListStatus {
        volume: "vol1".into(),
        bucket: a.bucket.into(),
        key: a.key.into(),
        start_key: a.start.into(),
        max: Some(a.max),
        recursive: a.recursive,
        allow_partial_prefix: a.partial,
    };
    match query(&r.tables, &op)? {
        ReadResponse::Statuses { statuses } => Ok(statuses
            .into_iter()
            .map(|s| if s.is_directory { format!("{}/", s.key.name) } else { s.key.name })
            .collect()),
        other => panic!("{other:?}"),
    }
}

/// a/, a/b/, a/b/k1, a/b/k2, a/b-x, a/c/, a/c/k3, top, z/, z/k4
fn tree() -> Ring {
    let mut r = fso_ring(None);
    for k in ["a/b/k1", "a/b/k2", "a/b-x", "a/c/k3", "top", "z/k4"] {
        r.put(k).unwrap();
    }
    r
}

#[test]
fn a_directory_lists_its_direct_entries_only() {
    let r = tree();
    assert_eq!(list(&r, ask("", "")).unwrap(), ["a/", "top", "z/"]);
    assert_eq!(list(&r, ask("a", "")).unwrap(), ["a/b-x", "a/b/", "a/c/"]);
    assert_eq!(list(&r, ask("/a//b/", "")).unwrap(), ["a/b/k1", "a/b/k2"]);
    // A file lists itself.
    assert_eq!(list(&r, ask("a/b/k1", "")).unwrap(), ["a/b/k1"]);
}

#[test]
fn pages_resume_at_the_start_key_without_repeats() {
    let r = tree();
    // The client resumes a level from the last name it got (which comes back first).
    let mut seen = Vec::new();
    let mut start = String::new();
    loop {
        let page = list(&r, Ask { max: 2, ..ask("a", &start) }).unwrap();
        let fresh: Vec<String> = page.iter().filter(|n| n.trim_end_matches('/') != start).cloned().collect();
        if fresh.is_empty() {
            break;
        }
        start = fresh.last().unwrap().trim_end_matches('/').to_string();
        seen.extend(fresh);
    }
    assert_eq!(seen, ["a/b-x", "a/b/", "a/c/"]);
    // With no directory, the start key's parent is listed; one elsewhere lists nothing.
    assert_eq!(list(&r, ask("", "a/c")).unwrap(), ["a/c/"]);
    assert_eq!(list(&r, ask("a/b", "z/k4")).unwrap(), Vec::<String>::new());
}

#[test]
fn a_missing_name_is_file_not_found_or_a_partial_prefix() {
    let r = tree();
    let e = list(&r, ask("a/nope", "")).unwrap_err();
    assert_eq!(e.code, ErrorCode::FileNotFound);
    assert_eq!(e.message, "Unable to get file status: volume: vol1 bucket: fso key: a/nope");
    let dir = list(&r, Ask { partial: true, ..ask("a/b", "") }).unwrap();
    assert_eq!(dir, ["a/b/k1", "a/b/k2"], "a directory lists its entries either way");
    assert_eq!(list(&r, Ask { partial: true, ..ask("a/b/k", "") }).unwrap(), ["a/b/k1", "a/b/k2"]);
    assert_eq!(list(&r, Ask { partial: true, ..ask("a/b-", "") }).unwrap(), ["a/b-x"]);
    assert_eq!(list(&r, Ask { partial: true, ..ask("nothing/x", "") }).unwrap(), Vec::<String>::new());
    let e = list(&r, Ask { bucket: "gone", ..ask("", "") }).unwrap_err();
    assert_eq!(e.code, ErrorCode::BucketNotFound);
}

#[test]
fn recursive_lists_everything_below() {
    let r = tree();
    let all = list(&r, Ask { recursive: true, ..ask("a", "") }).unwrap();
    assert_eq!(all, ["a/b-x", "a/b/", "a/b/k1", "a/b/k2", "a/c/", "a/c/k3"]);
}

#[test]
fn object_store_names_with_slashes_list_as_directories() {
    let mut r = fso_ring(None);
    for k in ["x/y/1", "x/2", "x3"] {
        r.open("obs", k).unwrap();
        r.commit("obs", k).unwrap();
    }
    assert_eq!(list(&r, Ask { bucket: "obs", ..ask("", "") }).unwrap(), ["x/", "x3"]);
    assert_eq!(list(&r, Ask { bucket: "obs", ..ask("x", "") }).unwrap(), ["x/2", "x/y/"]);
}
