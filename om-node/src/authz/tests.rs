use std::collections::BTreeSet;

use om_client::acl::{AclRights, OzoneAcl};
use om_client::wire::{ApiError, ErrorCode};
use strum::IntoEnumIterator;

use super::*;

const VOLUME: &str = "vol1";
const BUCKET: &str = "b1";
const KEY: &str = "k1";
/// The ListKeys prefix and the prefix path of prefix operations.
const PREFIX: &str = "dir/";
const TO_KEY: &str = "k2";
const VOLUME_OWNER: &str = "vowner";
const BUCKET_OWNER: &str = "bowner";

fn admins() -> Admins {
    Admins::from_config("root", "wheel", DEFAULT_NODE_GROUP)
}

fn acls(list: &str) -> Vec<OzoneAcl> {
    if list.is_empty() {
        return Vec::new();
    }
    OzoneAcl::parse_list(list).unwrap_or_else(|e| panic!("{list}: {e}"))
}

/// The callers of the table, in the order of each row's pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    VolumeOwner,
    BucketOwner,
    Admin,
    RingMember,
    /// Granted by `user:grace:` entries.
    Granted,
    /// Granted by `world::` entries.
    World,
    /// Granted by `anonymous::` entries.
    Anonymous,
    /// Granted by `group:staff:` entries.
    GroupMember,
    /// In group `others`; the entries are for grace and group staff.
    Nobody,
}

const CALLERS: [Who; 9] = [
    Who::VolumeOwner,
    Who::BucketOwner,
    Who::Admin,
    Who::RingMember,
    Who::Granted,
    Who::World,
    Who::Anonymous,
    Who::GroupMember,
    Who::Nobody,
];

impl Who {
    fn user(self) -> &'static str {
        match self {
            Who::VolumeOwner => VOLUME_OWNER,
            Who::BucketOwner => BUCKET_OWNER,
            Who::Admin => "root",
            Who::RingMember => "om-1",
            Who::Granted => "grace",
            Who::World => "wanda",
            Who::Anonymous => "andy",
            Who::GroupMember => "gus",
            Who::Nobody => "nobody",
        }
    }

    fn groups(self) -> Vec<String> {
        let groups: &[&str] = match self {
            Who::RingMember => &[DEFAULT_NODE_GROUP],
            Who::GroupMember => &["staff"],
            Who::Nobody => &["others"],
            _ => &[],
        };
        groups.iter().map(|g| g.to_string()).collect()
    }

    /// The entries granting `letters` in this caller's fixture (none for no letters).
    fn grant(self, letters: &str) -> Vec<OzoneAcl> {
        if letters.is_empty() {
            return Vec::new();
        }
        match self {
            Who::World => acls(&format!("world::{letters}")),
            Who::Anonymous => acls(&format!("anonymous::{letters}")),
            Who::GroupMember => acls(&format!("group:staff:{letters}")),
            _ => acls(&format!("user:grace:{letters},group:staff:{letters}")),
        }
    }
}

/// One operation: the names it gives (`v`olume, `b`ucket, `k`ey), the letters a granted caller
/// gets on the volume, the bucket and the key (or prefix entry), the outcome per caller in
/// [`CALLERS`] order (`A` allowed, `D` PERMISSION_DENIED) and the denial message (`{u}`: user).
struct Row {
    op: Op,
    names: &'static str,
    volume: &'static str,
    bucket: &'static str,
    key: &'static str,
    outcome: &'static str,
    denial: &'static str,
}

const fn row(
    op: Op,
    names: &'static str,
    letters: [&'static str; 3],
    outcome: &'static str,
    denial: &'static str,
) -> Row {
    Row { op, names, volume: letters[0], bucket: letters[1], key: letters[2], outcome, denial }
}

const V_READ: &str = "User {u} doesn't have READ permission to access VOLUME Volume:vol1 ";
const VB_READ: &str = "User {u} doesn't have READ permission to access VOLUME Volume:vol1 Bucket:b1 ";
const VBK_READ: &str = "User {u} doesn't have READ permission to access VOLUME Volume:vol1 Bucket:b1 Key:k1";
const VBP_READ: &str = "User {u} doesn't have READ permission to access VOLUME Volume:vol1 Bucket:b1 Key:dir/";
/// Everyone with the rights passes; nobody does not.
const ACL: &str = "AAAAAAAAD";
/// Administrators and ring members only.
const ADMIN: &str = "DDAADDDDD";

#[rustfmt::skip]
const TABLE: &[Row] = &[
    row(Op::CreateVolume, "v", ["", "", ""], ADMIN, "User {u} doesn't have CREATE permission to access VOLUME Volume:vol1 "),
    row(Op::InfoVolume, "v", ["r", "", ""], ACL, V_READ),
    row(Op::ListVolumes, "", ["", "", ""], "AAAAAAAAA", ""),
    row(Op::SetVolumeProperty, "v", ["w", "", ""], ACL, "User {u} doesn't have WRITE permission to access VOLUME Volume:vol1 "),
    row(Op::SetVolumeOwner, "v", ["y", "", ""], ACL, "User {u} doesn't have WRITE_ACL permission to access VOLUME Volume:vol1 "),
    row(Op::DeleteVolume, "v", ["d", "", ""], ACL, "User {u} doesn't have DELETE permission to access VOLUME Volume:vol1 "),
    row(Op::GetVolumeAcl, "v", ["x", "", ""], ACL, "User {u} doesn't have READ_ACL permission to access VOLUME Volume:vol1 "),
    row(Op::AddVolumeAcl, "v", ["y", "", ""], ACL, "User {u} doesn't have WRITE_ACL permission to access VOLUME Volume:vol1 "),
    row(Op::RemoveVolumeAcl, "v", ["y", "", ""], ACL, "User {u} doesn't have WRITE_ACL permission to access VOLUME Volume:vol1 "),
    row(Op::SetVolumeAcl, "v", ["y", "", ""], ACL, "User {u} doesn't have WRITE_ACL permission to access VOLUME Volume:vol1 "),
    row(Op::CreateBucket, "vb", ["w", "", ""], ACL, "User {u} doesn't have WRITE permission to access VOLUME Volume:vol1 Bucket:b1 "),
    row(Op::InfoBucket, "vb", ["r", "r", ""], ACL, VB_READ),
    row(Op::ListBuckets, "v", ["l", "", ""], ACL, "User {u} doesn't have LIST permission to access VOLUME Volume:vol1 "),
    row(Op::SetBucketProperty, "vb", ["", "", ""], "DAAADDDDD", "Bucket properties are allowed to changed by Admin and Owner"),
    row(Op::SetBucketOwner, "vb", ["r", "y", ""], ACL, VB_READ),
    row(Op::DeleteBucket, "vb", ["r", "d", ""], ACL, VB_READ),
    row(Op::GetBucketAcl, "vb", ["r", "x", ""], ACL, VB_READ),
    row(Op::AddBucketAcl, "vb", ["r", "y", ""], ACL, VB_READ),
    row(Op::RemoveBucketAcl, "vb", ["r", "y", ""], ACL, VB_READ),
    row(Op::SetBucketAcl, "vb", ["r", "y", ""], ACL, VB_READ),
    row(Op::CreateKey, "vbk", ["r", "w", ""], ACL, VBK_READ),
    row(Op::CommitKey, "vbk", ["r", "w", "w"], ACL, VBK_READ),
    row(Op::InfoKey, "vbk", ["r", "r", "r"], ACL, VBK_READ),
    row(Op::ListKeys, "vbk", ["r", "l", ""], ACL, VBP_READ),
    row(Op::DeleteKey, "vbk", ["r", "r", "d"], ACL, VBK_READ),
    row(Op::RenameKey, "vbk", ["r", "rw", "d"], ACL, VBK_READ),
    row(Op::GetKeyAcl, "vbk", ["r", "r", "x"], ACL, VBK_READ),
    row(Op::AddKeyAcl, "vbk", ["r", "r", "y"], ACL, VBK_READ),
    row(Op::RemoveKeyAcl, "vbk", ["r", "r", "y"], ACL, VBK_READ),
    row(Op::SetKeyAcl, "vbk", ["r", "r", "y"], ACL, VBK_READ),
    row(Op::GetPrefixAcl, "vbk", ["r", "r", "x"], ACL, VBP_READ),
    row(Op::AddPrefixAcl, "vbk", ["r", "r", "y"], ACL, VBP_READ),
    row(Op::RemovePrefixAcl, "vbk", ["r", "r", "y"], ACL, VBP_READ),
    row(Op::SetPrefixAcl, "vbk", ["r", "r", "y"], ACL, VBP_READ),
    row(Op::Status, "", ["", "", ""], "AAAAAAAAA", ""),
    row(Op::Digest, "", ["", "", ""], ADMIN, "Only Ozone admins are allowed to read the namespace digest."),
    row(Op::TransferLeadership, "", ["", "", ""], ADMIN, "Only Ozone admins are allowed to transfer raft leadership."),
    row(Op::Decommission, "", ["", "", ""], ADMIN, "Only administrators are authorized to perform decommission."),
    row(Op::Join, "", ["", "", ""], ADMIN, "Only Ozone admins are allowed to add a node to the ring."),
    row(Op::ReloadConfig, "", ["", "", ""], ADMIN, "Only Ozone admins are allowed to startReconfiguration"),
    row(Op::ListOpenFiles, "", ["", "", ""], ADMIN, "Only Ozone admins are allowed to list open files."),
    row(Op::Prepare, "", ["", "", ""], ADMIN, "Superuser privilege is required to prepare upgrade/downgrade."),
    row(Op::CancelPrepare, "", ["", "", ""], ADMIN, "Superuser privilege is required to cancel ozone manager preparation."),
];

/// The stored ACLs of one case.
struct Fixture {
    volume: Vec<OzoneAcl>,
    bucket: Vec<OzoneAcl>,
    key: Vec<OzoneAcl>,
}

impl Fixture {
    /// What `who` is given for `row`: the row's letters through `who`'s kind of entry; the
    /// bucket owner gets only the volume's letters, as a user entry.
    fn for_caller(who: Who, row: &Row) -> Self {
        if who == Who::BucketOwner {
            let volume = if row.volume.is_empty() { Vec::new() } else { acls(&format!("user:bowner:{}", row.volume)) };
            return Fixture { volume, bucket: Vec::new(), key: Vec::new() };
        }
        Fixture { volume: who.grant(row.volume), bucket: who.grant(row.bucket), key: who.grant(row.key) }
    }

    /// The objects of `row` over these ACLs: rows missing where the operation creates them.
    fn objects<'a>(&'a self, row: &Row) -> Objects<'a> {
        if !row.names.contains('v') {
            return Objects::default();
        }
        let exists = |created_by: Op| row.op != created_by;
        let volume_row = AclRow { owner: VOLUME_OWNER, acls: &self.volume };
        let mut objects = Objects::volume(VOLUME, exists(Op::CreateVolume).then_some(volume_row));
        if row.names.contains('b') {
            let bucket_row = AclRow { owner: BUCKET_OWNER, acls: &self.bucket };
            objects = objects.bucket(BUCKET, exists(Op::CreateBucket).then_some(bucket_row));
        }
        if row.names.contains('k') {
            let on_prefix = matches!(row.op.rule(), Rule::Acl(Resource::Prefix, _)) || row.op == Op::ListKeys;
            let name = if on_prefix { PREFIX } else { KEY };
            objects = objects.key(name, exists(Op::CreateKey).then_some(self.key.as_slice()));
        }
        if row.op == Op::RenameKey {
            objects = objects.rename_to(TO_KEY);
        }
        objects
    }
}

fn decide(who: Who, acl_enabled: bool, row: &Row, fixture: &Fixture) -> Result<(), AuthzError> {
    let groups = who.groups();
    let caller = Caller { user: who.user(), groups: &groups };
    authorize(&caller, &admins(), acl_enabled, row.op, &fixture.objects(row))
}

#[test]
fn every_operation_for_every_kind_of_caller() {
    let covered: BTreeSet<&str> = TABLE.iter().map(|r| r.op.name()).collect();
    let all: BTreeSet<&str> = Op::iter().map(Op::name).collect();
    assert_eq!(covered, all, "the table covers every operation once");
    assert_eq!(TABLE.len(), all.len());

    let mut wrong = Vec::new();
    for row in TABLE {
        assert_eq!(row.outcome.len(), CALLERS.len(), "{:?}", row.op);
        for (who, expected) in CALLERS.into_iter().zip(row.outcome.chars()) {
            let got = decide(who, true, row, &Fixture::for_caller(who, row));
            let denial = row.denial.replace("{u}", who.user());
            let ok = match (expected, &got) {
                ('A', Ok(())) => true,
                ('D', Err(AuthzError::PermissionDenied(d))) => {
                    d.message == denial && d.code() == ErrorCode::PermissionDenied
                }
                _ => false,
            };
            if !ok {
                wrong.push(format!("{:?} by {who:?}: expected {expected} {denial:?}, got {got:?}", row.op));
            }
        }
    }
    assert!(wrong.is_empty(), "{} wrong decisions:\n{}", wrong.len(), wrong.join("\n"));
}

/// The table's letters are the least that works: without any one of them, or with every other
/// right instead, a granted caller is refused.
#[test]
fn each_granted_letter_is_needed() {
    let mut wrong = Vec::new();
    for row in TABLE {
        for level in 0..3 {
            let letters = [row.volume, row.bucket, row.key][level];
            let needed = AclRights::parse_letters(letters).unwrap();
            let others = AclRights::parse_letters("rwcldxy").unwrap().without(needed).letters();
            let variants = needed.iter().map(|r| letters.replace(r.letter(), "")).chain(
                // Everything else instead (only meaningful when something was needed).
                (!letters.is_empty()).then_some(others),
            );
            for variant in variants {
                let mut f = Fixture::for_caller(Who::Granted, row);
                let entries = Who::Granted.grant(&variant);
                match level {
                    0 => f.volume = entries,
                    1 => f.bucket = entries,
                    _ => f.key = entries,
                }
                match decide(Who::Granted, true, row, &f) {
                    Err(AuthzError::PermissionDenied(d)) if d.message.starts_with("User grace doesn't have ") => {}
                    got => wrong.push(format!("{:?} with level {level} = {variant:?}: {got:?}", row.op)),
                }
            }
        }
    }
    assert!(wrong.is_empty(), "allowed with less than the table says:\n{}", wrong.join("\n"));
}

#[test]
fn the_bucket_owner_still_needs_the_volume_right() {
    for row in TABLE.iter().filter(|r| r.names.contains('b') && r.op != Op::SetBucketProperty) {
        let mut f = Fixture::for_caller(Who::BucketOwner, row);
        f.volume.clear();
        match decide(Who::BucketOwner, true, row, &f) {
            Err(AuthzError::PermissionDenied(d)) => {
                assert!(d.message.starts_with("User bowner doesn't have "), "{:?}: {}", row.op, d.message);
                assert!(d.message.contains(" permission to access VOLUME Volume:vol1 Bucket:b1 "), "{}", d.message);
            }
            got => panic!("{:?}: bucket owner without volume right: {got:?}", row.op),
        }
    }
}

#[test]
fn with_acls_off_only_admin_operations_are_checked() {
    let empty = Fixture { volume: Vec::new(), bucket: Vec::new(), key: Vec::new() };
    for row in TABLE {
        let got = decide(Who::Nobody, false, row, &empty);
        if matches!(row.op.rule(), Rule::AdminOnly(_)) {
            match got {
                Err(AuthzError::PermissionDenied(d)) => assert_eq!(d.message, row.denial),
                other => panic!("{:?}: {other:?}", row.op),
            }
            assert_eq!(decide(Who::Admin, false, row, &empty), Ok(()));
            assert_eq!(decide(Who::RingMember, false, row, &empty), Ok(()));
        } else {
            assert_eq!(got, Ok(()), "{:?} is open with ACLs off", row.op);
        }
    }
}

fn bob() -> (String, Vec<String>) {
    ("bob".to_string(), Vec::new())
}

#[test]
fn deeper_denials_name_the_requested_right_and_object_as_ozone_does() {
    let (user, groups) = bob();
    let caller = Caller { user: &user, groups: &groups };
    let volume_acls = acls("user:bob:r");
    let volume = AclRow { owner: VOLUME_OWNER, acls: &volume_acls };
    let bucket_acls = acls("user:bob:x");
    let bucket = AclRow { owner: BUCKET_OWNER, acls: &bucket_acls };
    let key_acls = acls("user:bob:r");
    let deny = |op: Op, objects: Objects<'_>| match authorize(&caller, &admins(), true, op, &objects) {
        Err(AuthzError::PermissionDenied(d)) => d.message,
        other => panic!("{op:?}: {other:?}"),
    };
    let in_bucket = || Objects::volume(VOLUME, Some(volume)).bucket(BUCKET, Some(bucket));
    assert_eq!(
        deny(Op::ListKeys, in_bucket().key("", None)),
        "User bob doesn't have LIST permission to access BUCKET Volume:vol1 Bucket:b1 Key:"
    );
    assert_eq!(
        deny(Op::InfoKey, in_bucket().key(KEY, Some(&key_acls))),
        "User bob doesn't have READ permission to access KEY Volume:vol1 Bucket:b1 Key:k1",
        "the bucket lacks READ, yet the KEY check is named"
    );
    assert_eq!(
        deny(Op::DeleteBucket, in_bucket()),
        "User bob doesn't have DELETE permission to access BUCKET Volume:vol1 Bucket:b1 "
    );
    let rw_acls = acls("user:bob:r,user:bob:d");
    let bucket_r = AclRow { owner: BUCKET_OWNER, acls: &volume_acls };
    let rename = Objects::volume(VOLUME, Some(volume)).bucket(BUCKET, Some(bucket_r)).key(KEY, Some(&rw_acls));
    assert_eq!(
        deny(Op::RenameKey, rename.rename_to(TO_KEY)),
        "User bob doesn't have CREATE permission to access KEY Volume:vol1 Bucket:b1 Key:k2",
        "the source may be deleted but the target not created"
    );
}

#[test]
fn missing_rows_answer_not_found_as_ozone_does() {
    let (user, groups) = bob();
    let caller = Caller { user: &user, groups: &groups };
    let everything = acls("user:bob:a");
    let owned = AclRow { owner: VOLUME_OWNER, acls: &everything };
    let check = |op: Op, objects: Objects<'_>| authorize(&caller, &admins(), true, op, &objects);

    let e = check(Op::InfoVolume, Objects::volume(VOLUME, None)).unwrap_err();
    assert_eq!((e.code(), e.to_string()), (ErrorCode::VolumeNotFound, "Volume vol1 is not found".into()));
    let e = check(Op::InfoBucket, Objects::volume(VOLUME, Some(owned)).bucket(BUCKET, None)).unwrap_err();
    assert_eq!((e.code(), e.to_string()), (ErrorCode::BucketNotFound, "Bucket b1 is not found".into()));

    let in_bucket = || Objects::volume(VOLUME, Some(owned)).bucket(BUCKET, Some(owned));
    assert_eq!(check(Op::InfoKey, in_bucket().key(KEY, None)), Ok(()), "READ on a missing key passes");
    let e = check(Op::DeleteKey, in_bucket().key(KEY, None)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::KeyNotFound);
    assert_eq!(e.to_string(), "Key not found, checkAccess failed. Key:/vol1/b1/k1");
    assert_eq!(check(Op::AddPrefixAcl, in_bucket().key(PREFIX, None)), Ok(()), "no prefix entry: nothing to check");

    let root = ("root".to_string(), Vec::new());
    let admin = Caller { user: &root.0, groups: &root.1 };
    let objects = Objects::volume(VOLUME, None);
    assert_eq!(authorize(&admin, &admins(), true, Op::DeleteVolume, &objects), Ok(()), "the operation reports it");

    let e = check(Op::InfoBucket, Objects::volume(VOLUME, Some(owned))).unwrap_err();
    assert_eq!(
        (e.code(), e.to_string()),
        (ErrorCode::InternalError, "authorization of InfoBucket needs the bucket name".into())
    );
    let api: ApiError = e.into();
    assert_eq!(api.code, ErrorCode::InternalError);
}

#[test]
fn a_prefix_entry_at_the_key_path_gates_key_writes() {
    let (user, groups) = bob();
    let caller = Caller { user: &user, groups: &groups };
    let volume_acls = acls("user:bob:r");
    let bucket_acls = acls("user:bob:w");
    let read_only = acls("user:bob:r");
    let writable = acls("group:g:r,user:bob:w");
    let in_bucket = Objects::volume(VOLUME, Some(AclRow { owner: VOLUME_OWNER, acls: &volume_acls }))
        .bucket(BUCKET, Some(AclRow { owner: BUCKET_OWNER, acls: &bucket_acls }))
        .key(KEY, None);
    let e = authorize(&caller, &admins(), true, Op::CreateKey, &in_bucket.prefix_entry(&read_only)).unwrap_err();
    assert_eq!(e.to_string(), "User bob doesn't have CREATE permission to access KEY Volume:vol1 Bucket:b1 Key:k1");
    assert_eq!(authorize(&caller, &admins(), true, Op::CreateKey, &in_bucket.prefix_entry(&writable)), Ok(()));
    assert_eq!(authorize(&caller, &admins(), true, Op::CreateKey, &in_bucket), Ok(()), "no entry, no check");
}

#[test]
fn default_scope_entries_grant_on_their_own_object() {
    let (user, groups) = bob();
    let caller = Caller { user: &user, groups: &groups };
    let volume_acls = acls("user:bob:r[DEFAULT]");
    let objects = Objects::volume(VOLUME, Some(AclRow { owner: VOLUME_OWNER, acls: &volume_acls }));
    assert_eq!(authorize(&caller, &admins(), true, Op::InfoVolume, &objects), Ok(()));
}

#[test]
fn administrators_come_from_config_and_the_node_group() {
    let admins = Admins::from_config(" root, alice ,", "wheel, ops", "omring:nodes");
    let is = |user: &str, groups: &[&str]| {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        admins.is_admin(&Caller { user, groups: &groups })
    };
    assert!(is("root", &[]) && is("alice", &[]));
    assert!(is("zed", &["ops"]) && is("zed", &["x", "wheel"]));
    assert!(is("om-2", &["omring:nodes"]), "ring members are administrators");
    assert!(!is("zed", &["staff"]) && !is("wheel", &[]) && !is("Root", &[]));
    assert!(!admins.everyone);

    let everyone = Admins::from_config("*", "", "");
    assert!(everyone.everyone && everyone.users.is_empty() && everyone.node_group.is_none());
    assert!(everyone.is_admin(&Caller { user: "anyone", groups: &[] }));
    let nobody = Admins::from_config("", " , ", "");
    assert_eq!(nobody, Admins::default());
    assert!(!nobody.is_admin(&Caller { user: "om-1", groups: &["omring:nodes".to_string()] }));
}

#[test]
fn the_table_reads_as_the_notes_do() {
    let needs = "READ on volume + READ on bucket";
    let key = |right: &str, parent: &str| {
        format!("READ on volume + {parent} on bucket + {right} on key (+ {parent} on a prefix entry at the key's path)")
    };
    let expected: Vec<(Op, String)> = vec![
        (Op::CreateVolume, "admins only (volume CREATE is never granted)".into()),
        (Op::InfoVolume, "READ on volume".into()),
        (Op::ListVolumes, "any authenticated caller".into()),
        (Op::SetVolumeProperty, "WRITE on volume".into()),
        (Op::SetVolumeOwner, "WRITE_ACL on volume".into()),
        (Op::DeleteVolume, "DELETE on volume".into()),
        (Op::GetVolumeAcl, "READ_ACL on volume".into()),
        (Op::AddVolumeAcl, "WRITE_ACL on volume".into()),
        (Op::RemoveVolumeAcl, "WRITE_ACL on volume".into()),
        (Op::SetVolumeAcl, "WRITE_ACL on volume".into()),
        (Op::CreateBucket, "WRITE on volume".into()),
        (Op::InfoBucket, needs.into()),
        (Op::ListBuckets, "LIST on volume".into()),
        (Op::SetBucketProperty, "admins or the bucket owner only".into()),
        (Op::SetBucketOwner, "READ on volume + WRITE_ACL on bucket".into()),
        (Op::DeleteBucket, "READ on volume + DELETE on bucket".into()),
        (Op::GetBucketAcl, "READ on volume + READ_ACL on bucket".into()),
        (Op::AddBucketAcl, "READ on volume + WRITE_ACL on bucket".into()),
        (Op::RemoveBucketAcl, "READ on volume + WRITE_ACL on bucket".into()),
        (Op::SetBucketAcl, "READ on volume + WRITE_ACL on bucket".into()),
        (Op::CreateKey, "READ on volume + WRITE on bucket (+ WRITE on a prefix entry at the key's path)".into()),
        (Op::CommitKey, key("WRITE", "WRITE")),
        (Op::InfoKey, key("READ", "READ")),
        (Op::ListKeys, "READ on volume + LIST on bucket".into()),
        (Op::DeleteKey, key("DELETE", "READ")),
        (
            Op::RenameKey,
            "READ on volume + READ on bucket + DELETE on key, then WRITE on bucket (creating the target)".into(),
        ),
        (Op::GetKeyAcl, key("READ_ACL", "READ")),
        (Op::AddKeyAcl, key("WRITE_ACL", "READ")),
        (Op::RemoveKeyAcl, key("WRITE_ACL", "READ")),
        (Op::SetKeyAcl, key("WRITE_ACL", "READ")),
        (Op::GetPrefixAcl, "READ on volume + READ on bucket + READ_ACL on prefix (if it has an entry)".into()),
        (Op::AddPrefixAcl, "READ on volume + READ on bucket + WRITE_ACL on prefix (if it has an entry)".into()),
        (Op::RemovePrefixAcl, "READ on volume + READ on bucket + WRITE_ACL on prefix (if it has an entry)".into()),
        (Op::SetPrefixAcl, "READ on volume + READ on bucket + WRITE_ACL on prefix (if it has an entry)".into()),
        (Op::Status, "any authenticated caller".into()),
        (Op::Digest, "admins only (also with ACLs off)".into()),
        (Op::TransferLeadership, "admins only (also with ACLs off)".into()),
        (Op::Decommission, "admins only (also with ACLs off)".into()),
        (Op::Join, "admins only (also with ACLs off)".into()),
        (Op::ReloadConfig, "admins only (also with ACLs off)".into()),
        (Op::ListOpenFiles, "admins only (also with ACLs off)".into()),
        (Op::Prepare, "admins only (also with ACLs off)".into()),
        (Op::CancelPrepare, "admins only (also with ACLs off)".into()),
    ];
    assert_eq!(expected.iter().map(|(op, _)| *op).collect::<Vec<_>>(), Op::iter().collect::<Vec<_>>());
    for (op, needs) in &expected {
        assert_eq!(&op.requirement(), needs, "{op:?}");
    }
    let markdown = rights_table_markdown();
    assert_eq!(markdown.lines().count(), 2 + expected.len());
    assert!(markdown.contains(
        "| SetBucketProperty | admins or the bucket owner only | bucket owner (not the volume owner) | OMBucketSetPropertyRequest |"
    ));
    assert!(markdown.contains("| DeleteVolume | DELETE on volume | volume owner | OMVolumeDeleteRequest |"));
}

/// Rows and log entries hold ACLs in postcard: Ozone's bitmask, a few bytes an entry.
#[test]
fn acls_are_compact_in_postcard() {
    let list = acls("user:bob:rw,world::a[DEFAULT]");
    let bytes = postcard::to_allocvec(&list).unwrap();
    let expected: Vec<u8> = vec![2, 0, 3, b'b', b'o', b'b', 3, 0, 2, 5, b'W', b'O', b'R', b'L', b'D', 0x80, 0x01, 1];
    assert_eq!(bytes, expected);
    assert_eq!(postcard::from_bytes::<Vec<OzoneAcl>>(&bytes).unwrap(), list);
    let mut bad = bytes.clone();
    bad[6] = 0x80; // rights of bob: bit 7 continues the varint
    bad.insert(7, 0x04); // ... into bit 9, which no right has
    assert!(postcard::from_bytes::<Vec<OzoneAcl>>(&bad).is_err());
    let unnamed_user = [1, 0, 0, 1, 0];
    assert!(postcard::from_bytes::<Vec<OzoneAcl>>(&unnamed_user).is_err(), "checked on the way in");
}

/// docs/security.md shows the table the code enforces.
#[test]
fn the_docs_show_the_rights_table() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/security.md")).unwrap();
    let table = rights_table_markdown();
    assert!(docs.contains(&table), "docs/security.md should hold the rights table as the code has it:\n{table}");
}

/// A view that records which tables a read touched.
struct Recorded<'a> {
    rows: &'a crate::namespace::MemTables,
    touched: std::cell::RefCell<BTreeSet<crate::namespace::Table>>,
}

impl crate::namespace::TableRead for Recorded<'_> {
    fn get(
        &self,
        table: crate::namespace::Table,
        key: &[u8],
    ) -> Result<Option<crate::namespace::Value>, crate::namespace::TableError> {
        self.touched.borrow_mut().insert(table);
        self.rows.get(table, key)
    }
    fn scan(
        &self,
        table: crate::namespace::Table,
        prefix: &[u8],
        start_after: &[u8],
        max: usize,
    ) -> Result<Vec<(Vec<u8>, crate::namespace::Value)>, crate::namespace::TableError> {
        self.touched.borrow_mut().insert(table);
        self.rows.scan(table, prefix, start_after, max)
    }
}

/// The server answers [`crate::namespace::answered_from_memory`] reads on the thread that got
/// them: their normalization, authorization (ACLs on, as owner and as a stranger) and answer
/// must read only the tables held whole in memory. Every other read is run too, to show the
/// recording sees a table that is not held whole.
#[test]
fn reads_answered_from_memory_touch_only_tables_held_whole() {
    use crate::namespace::{answered_from_memory, execute, normalize_read, query, Lookup, MemTables, TxnId};
    use crate::types::Command;
    use om_client::wire::{AclTarget, ReadOp, WriteOp};

    // Ozone's name rules want three characters at least.
    const BUCKET: &str = "bkt1";
    let mut rows = MemTables::default();
    let mut fso = WriteOp::create_bucket(VOLUME, "fso");
    if let WriteOp::CreateBucket { layout, .. } = &mut fso {
        *layout = Some(om_client::wire::BucketLayout::FileSystemOptimized);
    }
    let open = |bucket: &str| WriteOp::OpenKey {
        volume: VOLUME.into(),
        bucket: bucket.into(),
        key: KEY.into(),
        size: 1,
        replication: None,
        metadata: Default::default(),
    };
    let commit = |bucket: &str| WriteOp::CommitKey {
        volume: VOLUME.into(),
        bucket: bucket.into(),
        key: KEY.into(),
        client_id: 7,
        size: None,
    };
    let writes =
        [WriteOp::create_volume(VOLUME), WriteOp::create_bucket(VOLUME, BUCKET), fso, open(BUCKET), commit(BUCKET)];
    for (i, op) in writes.into_iter().enumerate() {
        let index = i as u64 + 1;
        let cmd = Command { request_id: format!("r{index}"), op: op.into(), now_ms: 1000, open_client_id: 7 };
        let (res, muts) = execute(&rows, &cmd, TxnId::single(index));
        res.unwrap_or_else(|e| panic!("write {index}: {e:?}"));
        rows.apply(&muts);
    }

    let (v, b) = (VOLUME.to_string(), BUCKET.to_string());
    let reads = [
        ReadOp::VolumeInfo { volume: v.clone() },
        ReadOp::VolumeInfo { volume: "missing".into() },
        ReadOp::BucketInfo { volume: v.clone(), bucket: b.clone() },
        ReadOp::BucketInfo { volume: v.clone(), bucket: "fso".into() },
        ReadOp::BucketInfo { volume: v.clone(), bucket: "missing".into() },
        ReadOp::KeyInfo { volume: v.clone(), bucket: b.clone(), key: KEY.into() },
        ReadOp::KeyInfo { volume: v.clone(), bucket: "fso".into(), key: format!("/{KEY}") },
        ReadOp::ListKeys {
            volume: v.clone(),
            bucket: b.clone(),
            prefix: String::new(),
            start_after: String::new(),
            max: None,
        },
        ReadOp::GetAcl { target: AclTarget::Key { volume: v.clone(), bucket: b.clone(), key: KEY.into() } },
    ];
    let owner = (crate::namespace::DEFAULT_VOLUME_OWNER.to_string(), Vec::new());
    let stranger = bob();
    let mut saw_uncached = false;
    for op in reads {
        for (user, groups) in [&owner, &stranger] {
            let caller = Caller { user, groups };
            let admins = admins();
            let ctx = Context { caller, admins: &admins, acl_enabled: true };
            let view = Recorded { rows: &rows, touched: Default::default() };
            let lookup = Lookup::new(&view);
            let mut normal = op.clone();
            // Errors (not found, denied) are answers too: only the tables read matter here.
            let _ = normalize_read(&lookup, &mut normal)
                .and_then(|()| check_read(&ctx, &lookup, &normal))
                .and_then(|()| query(&view, &normal));
            let touched = view.touched.into_inner();
            let uncached: Vec<_> = touched.iter().filter(|t| !t.fully_cached()).collect();
            if answered_from_memory(&op) {
                assert!(uncached.is_empty(), "{op:?} as {user} read {uncached:?}, which RocksDB holds");
            }
            saw_uncached |= !uncached.is_empty();
        }
    }
    assert!(saw_uncached, "no read reached a table that is not held whole: the recording sees nothing");
}
