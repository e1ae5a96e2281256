//! ACL operations and inheritance over [`MemTables`]: creator ACLs, DEFAULT ACLs handed down
//! one level (volume → bucket, bucket or prefix → key, prefix → prefix), add/remove/set on every
//! object type, prefix entries created and dropped, and the digest covering them.

use om_client::acl::OzoneAcl;

use super::*;

struct Ring {
    tables: MemTables,
    index: u64,
}

impl Ring {
    fn new() -> Self {
        Ring { tables: MemTables::default(), index: 0 }
    }
    fn write(&mut self, op: LogOp) -> CommandResult {
        self.index += 1;
        let cmd = Command { request_id: format!("r{}", self.index), op, now_ms: 1000 + self.index, open_client_id: 7 };
        let (res, muts) = execute(&self.tables, &cmd, TxnId::single(self.index));
        self.tables.apply(&muts);
        res
    }
    fn acl_change(&mut self, op: WriteOp) -> (bool, Vec<String>) {
        match self.write(op.into()).unwrap().outcome {
            WriteOutcome::Acl { changed, acls } => (changed, strings(&acls)),
            other => panic!("not an ACL outcome: {other:?}"),
        }
    }
    fn get(&self, target: AclTarget) -> Result<Vec<String>, ErrorCode> {
        match query(&self.tables, &ReadOp::GetAcl { target }) {
            Ok(ReadResponse::Acls { acls }) => Ok(strings(&acls)),
            Ok(other) => panic!("not ACLs: {other:?}"),
            Err(e) => Err(e.code),
        }
    }
}

fn acls(text: &str) -> Vec<OzoneAcl> {
    OzoneAcl::parse_list(text).unwrap()
}
fn acl(text: &str) -> OzoneAcl {
    OzoneAcl::parse(text).unwrap()
}
fn strings(acls: &[OzoneAcl]) -> Vec<String> {
    acls.iter().map(ToString::to_string).collect()
}
fn volume(v: &str) -> AclTarget {
    AclTarget::Volume { volume: v.into() }
}
fn bucket(b: &str) -> AclTarget {
    AclTarget::Bucket { volume: "vol".into(), bucket: b.into() }
}
fn key(k: &str) -> AclTarget {
    AclTarget::Key { volume: "vol".into(), bucket: "bkt".into(), key: k.into() }
}
fn prefix(p: &str) -> AclTarget {
    AclTarget::Prefix { volume: "vol".into(), bucket: "bkt".into(), prefix: p.into() }
}
fn create_volume(owner_acls: &str) -> LogOp {
    LogOp::from_client(WriteOp::create_volume("vol"), acls(owner_acls))
}
fn create_bucket(b: &str, creator: &str) -> LogOp {
    LogOp::from_client(WriteOp::create_bucket("vol", b), acls(creator))
}
fn create_key(r: &mut Ring, k: &str, creator: &str) -> KeyInfo {
    let open = WriteOp::OpenKey {
        volume: "vol".into(),
        bucket: "bkt".into(),
        key: k.into(),
        size: 1,
        replication: None,
        metadata: Default::default(),
    };
    r.write(LogOp::from_client(open, acls(creator))).unwrap();
    let commit =
        WriteOp::CommitKey { volume: "vol".into(), bucket: "bkt".into(), key: k.into(), client_id: 7, size: None };
    match r.write(commit.into()).unwrap().outcome {
        WriteOutcome::Key { key } => key,
        other => panic!("{other:?}"),
    }
}

#[test]
fn default_acls_are_handed_down_one_level_as_access_entries() {
    let mut r = Ring::new();
    r.write(create_volume("user:admin:a,user:carol:r[DEFAULT]")).unwrap();
    assert_eq!(r.get(volume("vol")).unwrap(), ["user:admin:a[ACCESS]", "user:carol:r[DEFAULT]"]);
    r.write(create_bucket("bkt", "user:bob:a,group:dev:rl")).unwrap();
    // The volume's DEFAULT entry reaches the bucket as ACCESS; it does not stay DEFAULT.
    assert_eq!(r.get(bucket("bkt")).unwrap(), ["user:bob:a[ACCESS]", "group:dev:rl[ACCESS]", "user:carol:r[ACCESS]"]);
    let k = create_key(&mut r, "plain", "user:bob:a");
    assert_eq!(strings(&k.acls), ["user:bob:a[ACCESS]"], "volume DEFAULT ACLs do not reach keys");

    r.acl_change(WriteOp::AddAcl { target: bucket("bkt"), acl: acl("user:dave:rw[DEFAULT]") });
    let k = create_key(&mut r, "dir/k1", "user:bob:a");
    assert_eq!(strings(&k.acls), ["user:bob:a[ACCESS]", "user:dave:rw[ACCESS]"]);

    // A prefix entry with DEFAULT ACLs on the key's path wins over the bucket's.
    let (changed, after) = r.acl_change(WriteOp::AddAcl { target: prefix("dir/"), acl: acl("user:erin:r[DEFAULT]") });
    assert!(changed);
    assert_eq!(after, ["user:dave:rw[ACCESS]", "user:erin:r[DEFAULT]"], "a new prefix inherits the bucket's DEFAULTs");
    let k = create_key(&mut r, "dir/sub/k2", "user:bob:a");
    assert_eq!(strings(&k.acls), ["user:bob:a[ACCESS]", "user:erin:r[ACCESS]"]);
    // A deeper prefix inherits from the deepest prefix above it.
    let (_, deeper) = r.acl_change(WriteOp::AddAcl { target: prefix("dir/sub/"), acl: acl("user:fay:r") });
    assert_eq!(deeper, ["user:erin:r[ACCESS]", "user:fay:r[ACCESS]"]);

    // Writing an existing key again keeps its ACLs.
    r.acl_change(WriteOp::AddAcl { target: key("plain"), acl: acl("user:gus:r") });
    let k = create_key(&mut r, "plain", "user:other:a");
    assert_eq!(strings(&k.acls), ["user:bob:a[ACCESS]", "user:gus:r[ACCESS]"]);
}

#[test]
fn add_remove_and_set_on_every_object_type() {
    let mut r = Ring::new();
    r.write(create_volume("user:admin:a")).unwrap();
    r.write(create_bucket("bkt", "user:bob:a")).unwrap();
    create_key(&mut r, "k", "user:bob:a");
    for target in [volume("vol"), bucket("bkt"), key("k")] {
        let before = r.get(target.clone()).unwrap();
        let (changed, after) = r.acl_change(WriteOp::AddAcl { target: target.clone(), acl: acl("user:zed:r") });
        assert!(changed && after.len() == before.len() + 1, "{target}: {after:?}");
        let (changed, after) = r.acl_change(WriteOp::AddAcl { target: target.clone(), acl: acl("user:zed:w") });
        assert!(changed && after.contains(&"user:zed:rw[ACCESS]".to_string()), "merged: {after:?}");
        let (changed, _) = r.acl_change(WriteOp::AddAcl { target: target.clone(), acl: acl("user:zed:r") });
        assert!(!changed, "{target}: adding what is there changes nothing");
        let (changed, after) = r.acl_change(WriteOp::RemoveAcl { target: target.clone(), acl: acl("user:zed:rw") });
        assert!(changed && after == before, "{target}: {after:?}");
        let (changed, _) = r.acl_change(WriteOp::RemoveAcl { target: target.clone(), acl: acl("user:zed:rw") });
        assert!(!changed, "{target}: removing what is not there changes nothing");
        let (changed, after) =
            r.acl_change(WriteOp::SetAcl { target: target.clone(), acls: acls("world::r,user:x:a") });
        assert!(changed);
        assert_eq!(after, ["world:WORLD:r[ACCESS]", "user:x:a[ACCESS]"]);
        assert_eq!(r.get(target).unwrap(), after);
    }
    // A prefix entry exists while it has entries.
    assert_eq!(r.get(prefix("p/")).unwrap(), Vec::<String>::new());
    let (changed, _) = r.acl_change(WriteOp::RemoveAcl { target: prefix("p/"), acl: acl("user:zed:r") });
    assert!(!changed);
    r.acl_change(WriteOp::AddAcl { target: prefix("p/"), acl: acl("user:zed:r") });
    assert_eq!(r.get(prefix("p/")).unwrap(), ["user:zed:r[ACCESS]"]);
    r.acl_change(WriteOp::RemoveAcl { target: prefix("p/"), acl: acl("user:zed:r") });
    assert!(r.tables.get(Table::Prefixes, &prefix_key("vol", "bkt", "p/")).unwrap().is_none(), "empty entry dropped");

    // Errors: missing objects, bad prefixes.
    let err = |r: &mut Ring, target| r.write(WriteOp::AddAcl { target, acl: acl("user:z:r") }.into()).unwrap_err().code;
    assert_eq!(err(&mut r, volume("nope")), ErrorCode::VolumeNotFound);
    assert_eq!(err(&mut r, bucket("nope")), ErrorCode::BucketNotFound);
    assert_eq!(err(&mut r, key("nope")), ErrorCode::KeyNotFound);
    assert_eq!(err(&mut r, prefix("no-slash")), ErrorCode::InvalidRequest);
    assert_eq!(r.get(prefix("/abs/")), Err(ErrorCode::InvalidRequest));
    assert_eq!(r.get(key("nope")), Err(ErrorCode::KeyNotFound));
}

#[test]
fn prefix_acls_are_in_the_digest_and_go_with_their_bucket() {
    let mut r = Ring::new();
    r.write(create_volume("user:admin:a")).unwrap();
    r.write(create_bucket("bkt", "user:bob:a")).unwrap();
    let (before, rows) = digest(&r.tables).unwrap();
    r.acl_change(WriteOp::AddAcl { target: prefix("d/"), acl: acl("user:zed:r") });
    let (after, rows_after) = digest(&r.tables).unwrap();
    assert_ne!(before, after);
    assert_eq!(rows_after, rows + 1, "the prefix row counts");
    r.write(WriteOp::DeleteBucket { volume: "vol".into(), bucket: "bkt".into() }.into()).unwrap();
    r.write(create_bucket("bkt", "user:bob:a")).unwrap();
    assert_eq!(
        r.get(prefix("d/")).unwrap(),
        Vec::<String>::new(),
        "a new bucket of the same name has no old prefix ACLs"
    );
}
