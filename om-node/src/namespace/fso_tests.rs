//! FILE_SYSTEM_OPTIMIZED buckets over [`MemTables`]: the rules of Ozone's FSO key requests.

use super::fso::normalize;
use super::tests::Ring;
use super::*;

/// A ring with `vol1/fso` (FILE_SYSTEM_OPTIMIZED, namespace quota `quota`) and `vol1/obs`.
pub(super) fn fso_ring(quota: Option<i64>) -> Ring {
    let mut r = Ring::new();
    r.write(WriteOp::create_volume("vol1")).unwrap();
    let mut fso = WriteOp::create_bucket("vol1", "fso");
    if let WriteOp::CreateBucket { layout, quota_in_namespace, .. } = &mut fso {
        *layout = Some(BucketLayout::FileSystemOptimized);
        *quota_in_namespace = quota;
    }
    r.write(fso).unwrap();
    r.write(WriteOp::create_bucket("vol1", "obs")).unwrap();
    r
}

/// Key operations on `vol1`, reads of `vol1/fso`.
pub(super) trait KeyOps {
    fn open(&mut self, bucket: &str, key: &str) -> CommandResult;
    fn commit(&mut self, bucket: &str, key: &str) -> CommandResult;
    fn put(&mut self, key: &str) -> Result<(), ApiError>;
    fn delete(&mut self, key: &str) -> CommandResult;
    fn rename(&mut self, key: &str, to: &str) -> CommandResult;
    fn names(&self, bucket: &str) -> Vec<String>;
    fn info(&self, key: &str) -> Result<KeyInfo, ApiError>;
    fn used_namespace(&self) -> u64;
}

impl KeyOps for Ring {
    fn open(&mut self, bucket: &str, key: &str) -> CommandResult {
        self.write(WriteOp::OpenKey {
            volume: "vol1".into(),
            bucket: bucket.into(),
            key: key.into(),
            size: 1,
            replication: None,
            metadata: Default::default(),
        })
    }
    fn commit(&mut self, bucket: &str, key: &str) -> CommandResult {
        self.write(WriteOp::CommitKey {
            volume: "vol1".into(),
            bucket: bucket.into(),
            key: key.into(),
            client_id: 7,
            size: None,
        })
    }
    fn put(&mut self, key: &str) -> Result<(), ApiError> {
        self.open("fso", key)?;
        self.commit("fso", key).map(|_| ())
    }
    fn delete(&mut self, key: &str) -> CommandResult {
        self.write(WriteOp::DeleteKey { volume: "vol1".into(), bucket: "fso".into(), key: key.into() })
    }
    fn rename(&mut self, key: &str, to: &str) -> CommandResult {
        self.write(WriteOp::RenameKey {
            volume: "vol1".into(),
            bucket: "fso".into(),
            key: key.into(),
            to_key: to.into(),
        })
    }
    fn names(&self, bucket: &str) -> Vec<String> {
        let op = ReadOp::ListKeys {
            volume: "vol1".into(),
            bucket: bucket.into(),
            prefix: String::new(),
            start_after: String::new(),
            max: None,
        };
        match query(&self.tables, &op).unwrap() {
            ReadResponse::Keys { keys } => keys.into_iter().map(|k| k.name).collect(),
            other => panic!("{other:?}"),
        }
    }
    fn info(&self, key: &str) -> Result<KeyInfo, ApiError> {
        let op = ReadOp::KeyInfo { volume: "vol1".into(), bucket: "fso".into(), key: key.into() };
        query(&self.tables, &op).map(|r| match r {
            ReadResponse::Key { key } => key,
            other => panic!("{other:?}"),
        })
    }
    fn used_namespace(&self) -> u64 {
        match query(&self.tables, &ReadOp::BucketInfo { volume: "vol1".into(), bucket: "fso".into() }).unwrap() {
            ReadResponse::Bucket { bucket } => bucket.used_namespace,
            other => panic!("{other:?}"),
        }
    }
}

fn err(r: CommandResult) -> ApiError {
    r.unwrap_err()
}

#[test]
fn names_are_normalized_like_ozone() {
    for (raw, want) in [
        ("/a/b/c/file1", "a/b/c/file1"),
        ("///a/b///c///file5", "a/b/c/file5"),
        ("././r1/r2/", "r1/r2"),
        ("a/x/../b", "a/b"),
    ] {
        assert_eq!(normalize(raw).unwrap(), want, "{raw}");
    }
    for raw in ["../a/b", "/../a/b", "../../b/c", ":/c/", "", "/////", "a/b:c"] {
        assert_eq!(normalize(raw).unwrap_err().code, ErrorCode::InvalidKeyName, "{raw}");
    }
    let mut r = fso_ring(None);
    r.put("/a//b/./c").unwrap();
    assert_eq!(r.names("fso"), ["a/", "a/b/", "a/b/c"]);
    assert_eq!(r.info("a/b/c").unwrap().name, "a/b/c");
    assert_eq!(r.info("//a/b/c/").unwrap().name, "a/b/c", "lookups are normalized too");
    assert_eq!(err(r.open("fso", "../up")).code, ErrorCode::InvalidKeyName);
    // OBJECT_STORE keys are names, not paths.
    r.open("obs", "/a//b/").unwrap();
    r.commit("obs", "/a//b/").unwrap();
    assert_eq!(r.names("obs"), ["/a//b/"]);
}

#[test]
fn open_creates_parent_directories_counted_in_the_namespace() {
    let mut r = fso_ring(None);
    r.open("fso", "a/b/c").unwrap();
    assert_eq!(r.names("fso"), ["a/", "a/b/"], "directories exist once the file is opened");
    assert_eq!(r.used_namespace(), 2);
    r.commit("fso", "a/b/c").unwrap();
    assert_eq!(r.used_namespace(), 3);
    let dir = r.info("a/b").unwrap();
    assert_eq!((dir.name.as_str(), dir.size), ("a/b/", 0), "a directory is returned with its slash");
    r.put("a/d").unwrap();
    assert_eq!(r.names("fso"), ["a/", "a/b/", "a/b/c", "a/d"]);
    assert_eq!(r.used_namespace(), 4);
    assert_eq!(
        err(r.write(WriteOp::DeleteBucket { volume: "vol1".into(), bucket: "fso".into() })).code,
        ErrorCode::BucketNotEmpty
    );
}

#[test]
fn a_namespace_quota_counts_the_new_directories() {
    let mut r = fso_ring(Some(3));
    let e = err(r.open("fso", "a/b/c/d"));
    assert_eq!(e.code, ErrorCode::QuotaExceeded, "{e}");
    assert!(r.names("fso").is_empty(), "nothing is created");
    r.put("a/b/c").unwrap();
    assert_eq!(r.used_namespace(), 3);
}

#[test]
fn a_file_on_the_path_or_a_directory_at_the_name_is_not_a_file() {
    let mut r = fso_ring(None);
    r.put("a/b").unwrap();
    let e = err(r.open("fso", "a/b/c"));
    assert_eq!(e.code, ErrorCode::NotAFile);
    assert_eq!(e.message, "Can not create file: a/b/c as there is already file in the given path");
    let e = err(r.open("fso", "a"));
    assert_eq!(e.code, ErrorCode::NotAFile);
    assert!(e.message.starts_with("Cannot write to directory."), "{e}");
    assert!(r.info("a/b/c").is_err());
    // Writing a file again is an overwrite.
    r.put("a/b").unwrap();
    assert_eq!(r.used_namespace(), 2);
}

#[test]
fn a_commit_whose_directory_is_gone_fails() {
    let mut r = fso_ring(None);
    r.open("fso", "a/x").unwrap();
    // Only the open file is under a/, so the directory is empty and may go.
    r.delete("a").unwrap();
    let e = err(r.commit("fso", "a/x"));
    assert_eq!(e.code, ErrorCode::DirectoryNotFound);
    assert_eq!(e.message, "Cannot create file : a/x as parent directory doesn't exist");
}

#[test]
fn a_directory_with_entries_is_not_deleted() {
    let mut r = fso_ring(None);
    r.put("a/b/c").unwrap();
    let e = err(r.delete("a/b"));
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::DirectoryNotEmpty, "Directory is not empty. Key:a/b"));
    assert_eq!(err(r.delete("a")).code, ErrorCode::DirectoryNotEmpty);
    let e = err(r.delete("a/nope"));
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::KeyNotFound, "Key not found. Key:a/nope"));
    r.delete("/a/b/c").unwrap();
    assert_eq!(r.names("fso"), ["a/", "a/b/"], "a file's directories stay");
    r.delete("a/b/").unwrap();
    r.delete("a").unwrap();
    assert!(r.names("fso").is_empty());
    assert_eq!(r.used_namespace(), 0);
    r.write(WriteOp::DeleteBucket { volume: "vol1".into(), bucket: "fso".into() }).unwrap();
}

#[test]
fn renaming_a_directory_moves_everything_under_it() {
    let mut r = fso_ring(None);
    for k in ["a/b/c", "a/b/d", "a/e", "ab"] {
        r.put(k).unwrap();
    }
    let WriteOutcome::Renamed { key } = r.rename("a", "x").unwrap().outcome else { panic!() };
    assert_eq!(key.name, "x/");
    assert_eq!(r.names("fso"), ["ab", "x/", "x/b/", "x/b/c", "x/b/d", "x/e"]);
    assert_eq!(r.info("x/b/c").unwrap().name, "x/b/c");
    assert_eq!(r.used_namespace(), 6, "a rename creates nothing");
    // Onto a directory: into it, like mv.
    r.rename("ab", "x/b").unwrap();
    assert!(r.names("fso").contains(&"x/b/ab".to_string()));
    r.rename("x/b", "").unwrap();
    assert_eq!(r.names("fso"), ["b/", "b/ab", "b/c", "b/d", "x/", "x/e"], "an empty destination is the root");
}

#[test]
fn renames_ozone_refuses() {
    let mut r = fso_ring(None);
    for k in ["a/b/c", "f", "d/g"] {
        r.put(k).unwrap();
    }
    let code_msg = |r: CommandResult| {
        let e = err(r);
        (e.code, e.message)
    };
    assert_eq!(
        code_msg(r.rename("a", "f")),
        (ErrorCode::KeyAlreadyExists, "Failed to rename, key already exists f".into())
    );
    assert_eq!(code_msg(r.rename("nope", "x")), (ErrorCode::KeyNotFound, "Key not found nope".into()));
    assert_eq!(
        code_msg(r.rename("f", "no/such/f")),
        (ErrorCode::KeyRenameError, "Failed to get parent dir no/such, no/such doesn't exist".into())
    );
    assert_eq!(
        code_msg(r.rename("a", "f/x")),
        (ErrorCode::KeyRenameError, "Failed to get parent dir f, f is a file".into())
    );
    assert_eq!(
        code_msg(r.rename("a", "a/b/x")),
        (ErrorCode::KeyRenameError, "Cannot rename a directory to its own subdirectory".into())
    );
    assert_eq!(code_msg(r.rename("a", "a")), (ErrorCode::KeyAlreadyExists, "Key already exists a".into()));
    r.put("d/a").unwrap();
    assert_eq!(
        code_msg(r.rename("a", "d")),
        (ErrorCode::KeyAlreadyExists, "Failed to rename a to d, file already exists or not empty!".into())
    );
    assert_eq!(r.rename("f", "/f/").unwrap().outcome, WriteOutcome::Renamed { key: r.info("f").unwrap() });
    assert_eq!(r.names("fso"), ["a/", "a/b/", "a/b/c", "d/", "d/a", "d/g", "f"], "nothing moved");
}

#[test]
fn new_directories_hand_down_default_acls() {
    use om_client::acl::OzoneAcl;
    let mut r = fso_ring(None);
    let target = AclTarget::Bucket { volume: "vol1".into(), bucket: "fso".into() };
    r.write(LogOp::AddAcl { target, acl: OzoneAcl::parse("user:bob:r[DEFAULT]").unwrap() }).unwrap();
    r.put("a/b/c").unwrap();
    let bob = |k: &str| r.info(k).unwrap().acls.iter().any(|a| a.to_string().starts_with("user:bob:r"));
    assert!(bob("a") && bob("a/b") && bob("a/b/c"), "{:?}", r.info("a/b/c").unwrap().acls);
}

#[test]
fn requests_are_normalized_before_they_are_authorized() {
    let mut r = fso_ring(None);
    r.put("a/secret").unwrap();
    let lookup = Lookup::new(&r.tables);
    let mut read = ReadOp::KeyInfo { volume: "vol1".into(), bucket: "fso".into(), key: "/a//./secret".into() };
    normalize_read(&lookup, &mut read).unwrap();
    assert_eq!(read, ReadOp::KeyInfo { volume: "vol1".into(), bucket: "fso".into(), key: "a/secret".into() });
    let mut rename =
        WriteOp::RenameKey { volume: "vol1".into(), bucket: "fso".into(), key: "a//secret".into(), to_key: "/".into() };
    normalize_write(&lookup, &mut rename).unwrap();
    assert!(matches!(&rename, WriteOp::RenameKey { key, to_key, .. } if key == "a/secret" && to_key == "/"));
    let mut bad = WriteOp::DeleteKey { volume: "vol1".into(), bucket: "fso".into(), key: "../x".into() };
    assert_eq!(normalize_write(&lookup, &mut bad).unwrap_err().code, ErrorCode::InvalidKeyName);
    // OBJECT_STORE names are names.
    let mut obs = ReadOp::KeyInfo { volume: "vol1".into(), bucket: "obs".into(), key: "/a//b".into() };
    normalize_read(&lookup, &mut obs).unwrap();
    assert!(matches!(&obs, ReadOp::KeyInfo { key, .. } if key == "/a//b"));
}

#[test]
fn a_rename_checks_every_new_name() {
    let mut r = fso_ring(None);
    let long = "d".repeat(1000);
    r.put(&format!("{long}/k")).unwrap();
    assert_eq!(err(r.rename("nope", &"x".repeat(1100))).code, ErrorCode::KeyNotFound);
    r.put("f").unwrap();
    assert_eq!(err(r.rename("f", &"x".repeat(1100))).code, ErrorCode::InvalidKeyName);
    r.put("p/q").unwrap();
    let e = err(r.rename(&long, &format!("p/{}", "e".repeat(1022))));
    assert_eq!(e.code, ErrorCode::InvalidKeyName, "the children's names grow past 1024 bytes: {e}");
    assert!(r.names("fso").contains(&format!("{long}/k")), "nothing moved");
}

#[test]
fn key_acl_requests_on_a_directory_name_change_the_directory() {
    use om_client::acl::OzoneAcl;
    let mut r = fso_ring(None);
    r.put("a/b/c").unwrap();
    let target = AclTarget::Key { volume: "vol1".into(), bucket: "fso".into(), key: "a/b".into() };
    r.write(LogOp::AddAcl { target: target.clone(), acl: OzoneAcl::parse("user:carol:rw").unwrap() }).unwrap();
    let carol = |k: &str| r.info(k).unwrap().acls.iter().any(|a| a.to_string().starts_with("user:carol:rw"));
    assert!(carol("a/b") && !carol("a/b/c"), "the directory's ACLs changed: {:?}", r.info("a/b").unwrap().acls);
    match query(&r.tables, &ReadOp::GetAcl { target }).unwrap() {
        ReadResponse::Acls { acls } => {
            assert!(acls.iter().any(|a| a.to_string().starts_with("user:carol")), "{acls:?}")
        }
        other => panic!("{other:?}"),
    }
    let missing = AclTarget::Key { volume: "vol1".into(), bucket: "fso".into(), key: "a/x".into() };
    let e = query(&r.tables, &ReadOp::GetAcl { target: missing }).unwrap_err();
    assert_eq!(e.code, ErrorCode::KeyNotFound);
}
