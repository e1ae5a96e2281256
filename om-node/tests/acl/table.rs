//! The rights table, enforced: every volume, bucket, key and prefix endpoint, called over real
//! sockets by every kind of caller, is allowed or refused as `om_node::authz`'s table says.
//!
//! Each case gets fresh objects made by the administrator: volume `volN` owned by `olive`,
//! bucket `bkt` owned by `carl` (not a caller, so no bucket-owner shortcut), and what the endpoint needs
//! (a key `k`, an open key `d/k-open`, a prefix entry `dir/`). Then the rights the table names
//! for the operation are granted, on exactly the objects it names, to `grace` (USER entries),
//! the group `readers` of `gina` (GROUP entries) or everyone (WORLD entries); for `grace` also
//! with each single right left out, which must be refused. The open key's right is handed down
//! through a DEFAULT entry on prefix `d/` (an open key has no ACL endpoint of its own).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use om_client::acl::{AclIdentityType, AclRight, AclRights, AclScope, OzoneAcl};
use om_client::wire::*;
use om_client::{ClientError, FailoverClient};
use om_node::authz::{bucket_right_for_key, volume_right_for_bucket, Op, Resource, Rule};
use strum::IntoEnumIterator;

use crate::setup::SecureRing;

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Admin,
    VolumeOwner,
    /// `grace`, granted the rights by USER entries.
    UserGranted,
    /// `gina`, granted them through her group `readers`.
    GroupGranted,
    /// `walt`, granted them by WORLD entries.
    WorldGranted,
    /// `nora`: no entries name her.
    NoRights,
    /// No certificate, no token.
    Unauthenticated,
}

impl Caller {
    const ALL: [Caller; 7] = [
        Caller::Admin,
        Caller::VolumeOwner,
        Caller::UserGranted,
        Caller::GroupGranted,
        Caller::WorldGranted,
        Caller::NoRights,
        Caller::Unauthenticated,
    ];

    fn user(self) -> Option<&'static str> {
        match self {
            Caller::Admin => Some("admin"),
            Caller::VolumeOwner => Some("olive"),
            Caller::UserGranted => Some("grace"),
            Caller::GroupGranted => Some("gina"),
            Caller::WorldGranted => Some("walt"),
            Caller::NoRights => Some("nora"),
            Caller::Unauthenticated => None,
        }
    }

    /// The identity the grants of a case are made to.
    fn grantee(self) -> Option<(AclIdentityType, &'static str)> {
        match self {
            Caller::UserGranted => Some((AclIdentityType::User, "grace")),
            Caller::GroupGranted => Some((AclIdentityType::Group, "readers")),
            Caller::WorldGranted => Some((AclIdentityType::World, "")),
            _ => None,
        }
    }
}

/// Where a right is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum On {
    Volume,
    Bucket,
    /// The committed key `k`.
    Key,
    /// The open key `d/k-open`, through a DEFAULT entry on prefix `d/` made before it is opened.
    OpenKey,
    /// The prefix entry `dir/`.
    Prefix,
}

/// What a case's objects are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Setup {
    Volume,
    Bucket,
    Key,
    OpenKey,
    Prefix,
}

/// The endpoints under test; every other [`Op`] must be listed in [`NOT_NAMESPACE`].
fn request(op: Op, v: &str, client_id: u64) -> Option<(Setup, Request)> {
    use Request::{Read, Write};
    let (vol, b, k) = (v.to_string(), "bkt".to_string(), "k".to_string());
    let zed = || OzoneAcl::parse("user:zed:r").unwrap();
    let target = |on: On| match on {
        On::Volume => AclTarget::Volume { volume: vol.clone() },
        On::Bucket => AclTarget::Bucket { volume: vol.clone(), bucket: b.clone() },
        On::Key | On::OpenKey => AclTarget::Key { volume: vol.clone(), bucket: b.clone(), key: k.clone() },
        On::Prefix => AclTarget::Prefix { volume: vol.clone(), bucket: b.clone(), prefix: "dir/".into() },
    };
    // The four ACL endpoints of one object, in the order of the op lists below.
    let pick = |on: On, setup: Setup, ops: [Op; 4]| -> Option<(Setup, Request)> {
        let t = target(on);
        let requests = [
            Read(ReadOp::GetAcl { target: t.clone() }),
            Write(WriteOp::AddAcl { target: t.clone(), acl: zed() }),
            Write(WriteOp::RemoveAcl { target: t.clone(), acl: zed() }),
            Write(WriteOp::SetAcl { target: t, acls: vec![zed()] }),
        ];
        let i = ops.iter().position(|o| *o == op)?;
        requests.into_iter().nth(i).map(|r| (setup, r))
    };
    let volume_acl = [Op::GetVolumeAcl, Op::AddVolumeAcl, Op::RemoveVolumeAcl, Op::SetVolumeAcl];
    let bucket_acl = [Op::GetBucketAcl, Op::AddBucketAcl, Op::RemoveBucketAcl, Op::SetBucketAcl];
    let key_acl = [Op::GetKeyAcl, Op::AddKeyAcl, Op::RemoveKeyAcl, Op::SetKeyAcl];
    let prefix_acl = [Op::GetPrefixAcl, Op::AddPrefixAcl, Op::RemovePrefixAcl, Op::SetPrefixAcl];
    let set_volume = |owner: Option<String>, quota: Option<i64>| WriteOp::SetVolumeProperty {
        volume: vol.clone(),
        owner,
        quota_in_bytes: quota,
        quota_in_namespace: None,
    };
    let set_bucket = |owner: Option<String>, versioning: Option<bool>| WriteOp::SetBucketProperty {
        volume: vol.clone(),
        bucket: b.clone(),
        owner,
        versioning,
        quota_in_bytes: None,
        quota_in_namespace: None,
    };
    Some(match op {
        Op::CreateVolume => (Setup::Volume, Write(WriteOp::create_volume(format!("{v}-new")))),
        Op::InfoVolume => (Setup::Volume, Read(ReadOp::VolumeInfo { volume: vol })),
        Op::ListVolumes => (
            Setup::Volume,
            Read(ReadOp::ListVolumes { prefix: String::new(), start_after: String::new(), max: None, owner: None }),
        ),
        Op::SetVolumeProperty => (Setup::Volume, Write(set_volume(None, Some(1 << 30)))),
        Op::SetVolumeOwner => (Setup::Volume, Write(set_volume(Some("oscar".into()), None))),
        Op::DeleteVolume => (Setup::Volume, Write(WriteOp::DeleteVolume { volume: vol })),
        Op::CreateBucket => (Setup::Volume, Write(WriteOp::create_bucket(vol, "b-new"))),
        Op::InfoBucket => (Setup::Bucket, Read(ReadOp::BucketInfo { volume: vol, bucket: b })),
        Op::ListBuckets => (
            Setup::Bucket,
            Read(ReadOp::ListBuckets { volume: vol, prefix: String::new(), start_after: String::new(), max: None }),
        ),
        Op::SetBucketProperty => (Setup::Bucket, Write(set_bucket(None, Some(true)))),
        Op::SetBucketOwner => (Setup::Bucket, Write(set_bucket(Some("oscar".into()), None))),
        Op::DeleteBucket => (Setup::Bucket, Write(WriteOp::DeleteBucket { volume: vol, bucket: b })),
        Op::CreateKey => (
            Setup::Bucket,
            Write(WriteOp::OpenKey {
                volume: vol,
                bucket: b,
                key: "k-new".into(),
                size: 1,
                replication: None,
                metadata: Default::default(),
            }),
        ),
        Op::CommitKey => (
            Setup::OpenKey,
            Write(WriteOp::CommitKey { volume: vol, bucket: b, key: "d/k-open".into(), client_id, size: Some(1) }),
        ),
        Op::InfoKey => (Setup::Key, Read(ReadOp::KeyInfo { volume: vol, bucket: b, key: k })),
        Op::ListKeys => (
            Setup::Key,
            Read(ReadOp::ListKeys {
                volume: vol,
                bucket: b,
                prefix: String::new(),
                start_after: String::new(),
                max: None,
            }),
        ),
        Op::DeleteKey => (Setup::Key, Write(WriteOp::DeleteKey { volume: vol, bucket: b, key: k })),
        Op::RenameKey => {
            (Setup::Key, Write(WriteOp::RenameKey { volume: vol, bucket: b, key: k, to_key: "k-renamed".into() }))
        }
        Op::Digest => (Setup::Volume, Read(ReadOp::Digest)),
        op if volume_acl.contains(&op) => return pick(On::Volume, Setup::Volume, volume_acl),
        op if bucket_acl.contains(&op) => return pick(On::Bucket, Setup::Bucket, bucket_acl),
        op if key_acl.contains(&op) => return pick(On::Key, Setup::Key, key_acl),
        op if prefix_acl.contains(&op) => return pick(On::Prefix, Setup::Prefix, prefix_acl),
        _ => return None,
    })
}

/// Operations of the table that are not volume, bucket, key or prefix endpoints (the admin
/// endpoints have their own test in tests/security.rs), or that omring has no endpoint for.
const NOT_NAMESPACE: [Op; 8] = [
    Op::Status,
    Op::TransferLeadership,
    Op::Decommission,
    Op::Join,
    Op::ReloadConfig,
    Op::ListOpenFiles,
    Op::Prepare,
    Op::CancelPrepare,
];

#[derive(Debug, Clone)]
enum Request {
    Write(WriteOp),
    Read(ReadOp),
}

/// The rights the table says a caller who is neither admin nor owner needs, and where.
fn needed(op: Op) -> BTreeMap<On, AclRights> {
    use AclRight::{Create, Delete, Read};
    let mut need: BTreeMap<On, AclRights> = BTreeMap::new();
    let mut add = |on: On, right: AclRight| {
        let rights = need.entry(on).or_default();
        *rights = rights.with(right);
    };
    match op.rule() {
        Rule::Acl(Resource::Volume, right) => add(On::Volume, right),
        Rule::Acl(Resource::Bucket, Create) => add(On::Volume, volume_right_for_bucket(Create)),
        Rule::Acl(Resource::Bucket, right) => {
            add(On::Volume, volume_right_for_bucket(right));
            add(On::Bucket, right);
        }
        Rule::Acl(Resource::Key, right) => {
            add(On::Volume, Read);
            add(On::Bucket, bucket_right_for_key(right));
            match (right, op) {
                (Create, _) => {}
                (_, Op::CommitKey) => add(On::OpenKey, right),
                _ => add(On::Key, right),
            }
        }
        Rule::Acl(Resource::Prefix, right) => {
            add(On::Volume, Read);
            add(On::Bucket, bucket_right_for_key(right));
            add(On::Prefix, right);
        }
        Rule::RenameKey => {
            add(On::Volume, Read);
            add(On::Bucket, bucket_right_for_key(Delete));
            add(On::Key, Delete);
            add(On::Bucket, bucket_right_for_key(Create));
        }
        Rule::Anyone | Rule::AdminOnly(_) | Rule::AdminOrBucketOwner(_) => {}
    }
    need
}

/// Whether the table allows `caller` to run `op` given the grants.
fn expected(op: Op, caller: Caller) -> Expect {
    match (caller, op.rule()) {
        (Caller::Unauthenticated, _) => Expect::Unauthenticated,
        (Caller::Admin, _) | (_, Rule::Anyone) => Expect::Allowed,
        // The bucket's owner (carl) is not among the callers; the volume's owner is not exempt.
        (_, Rule::AdminOnly(_) | Rule::AdminOrBucketOwner(_)) => Expect::Denied,
        (_, Rule::Acl(Resource::Volume, AclRight::Create)) => Expect::Denied,
        (Caller::NoRights, _) => Expect::Denied,
        _ => Expect::Allowed,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Allowed,
    Denied,
    Unauthenticated,
}

/// One call: an endpoint, a caller, and the grants it is made with.
#[derive(Debug, Clone)]
struct Case {
    op: Op,
    caller: Caller,
    grants: BTreeMap<On, AclRights>,
    expect: Expect,
    /// Set for the cases with one right left out: which.
    left_out: Option<(On, AclRight)>,
}

fn cases() -> Vec<Case> {
    let mut all = Vec::new();
    for op in Op::iter() {
        if NOT_NAMESPACE.contains(&op) {
            continue;
        }
        assert!(request(op, "vol", 0).is_some(), "{op:?} has no request in this test: add it");
        let need = needed(op);
        for caller in Caller::ALL {
            let grants = if caller.grantee().is_some() { need.clone() } else { BTreeMap::new() };
            all.push(Case { op, caller, grants, expect: expected(op, caller), left_out: None });
        }
        if expected(op, Caller::UserGranted) == Expect::Allowed {
            for (on, rights) in &need {
                for right in rights.iter() {
                    let mut fewer = need.clone();
                    let left = rights.without(right.into());
                    if left.is_empty() {
                        fewer.remove(on);
                    } else {
                        fewer.insert(*on, left);
                    }
                    all.push(Case {
                        op,
                        caller: Caller::UserGranted,
                        grants: fewer,
                        expect: Expect::Denied,
                        left_out: Some((*on, right)),
                    });
                }
            }
        }
    }
    all
}

struct Clients {
    by_caller: Vec<(Caller, Arc<FailoverClient>)>,
}

impl Clients {
    fn of(&self, caller: Caller) -> &FailoverClient {
        &self.by_caller.iter().find(|(c, _)| *c == caller).expect("a client per caller").1
    }
}

fn acl(grantee: (AclIdentityType, &str), rights: AclRights, scope: AclScope) -> OzoneAcl {
    OzoneAcl::new(grantee.0, grantee.1, rights, scope).unwrap()
}

/// Makes the case's objects and grants as the administrator; returns the open key's client id.
async fn prepare(admin: &FailoverClient, case: &Case, v: &str, setup: Setup) -> u64 {
    let ok = |what: &str, r: Result<WriteResponse, ClientError>| match r {
        Ok(resp) => resp,
        Err(e) => panic!("setting up {case:?}: {what}: {e}"),
    };
    let volume = WriteOp::CreateVolume {
        volume: v.into(),
        owner: Some("olive".into()),
        quota_in_bytes: None,
        quota_in_namespace: None,
        metadata: Default::default(),
    };
    ok("volume", admin.write(volume).await);
    if setup >= Setup::Bucket {
        let mut bucket = WriteOp::create_bucket(v, "bkt");
        if let WriteOp::CreateBucket { owner, .. } = &mut bucket {
            *owner = Some("carl".into());
        }
        ok("bucket", admin.write(bucket).await);
    }
    let grantee = case.caller.grantee();
    let grant = |on: On| grantee.zip(case.grants.get(&on).copied());
    let vol_t = AclTarget::Volume { volume: v.into() };
    let bkt_t = AclTarget::Bucket { volume: v.into(), bucket: "bkt".into() };
    if let Some((g, rights)) = grant(On::Volume) {
        admin.add_acl(vol_t, acl(g, rights, AclScope::Access)).await.expect("volume grant");
    }
    if let Some((g, rights)) = grant(On::Bucket) {
        admin.add_acl(bkt_t, acl(g, rights, AclScope::Access)).await.expect("bucket grant");
    }
    if setup == Setup::Key {
        admin.create_key(v, "bkt", "k", 1, None, Default::default()).await.expect("key");
        if let Some((g, rights)) = grant(On::Key) {
            let key_t = AclTarget::Key { volume: v.into(), bucket: "bkt".into(), key: "k".into() };
            admin.add_acl(key_t, acl(g, rights, AclScope::Access)).await.expect("key grant");
        }
    }
    if setup == Setup::Prefix {
        let prefix_t = AclTarget::Prefix { volume: v.into(), bucket: "bkt".into(), prefix: "dir/".into() };
        let admin_all = OzoneAcl::parse("user:admin:a").unwrap();
        admin.set_acl(prefix_t.clone(), vec![admin_all]).await.expect("prefix entry");
        if let Some((g, rights)) = grant(On::Prefix) {
            admin.add_acl(prefix_t, acl(g, rights, AclScope::Access)).await.expect("prefix grant");
        }
    }
    if setup == Setup::OpenKey {
        if let Some((g, rights)) = grant(On::OpenKey) {
            let d = AclTarget::Prefix { volume: v.into(), bucket: "bkt".into(), prefix: "d/".into() };
            admin.add_acl(d, acl(g, rights, AclScope::Default)).await.expect("open key grant");
        }
        let open = WriteOp::OpenKey {
            volume: v.into(),
            bucket: "bkt".into(),
            key: "d/k-open".into(),
            size: 1,
            replication: None,
            metadata: Default::default(),
        };
        match ok("open key", admin.write(open).await).outcome {
            WriteOutcome::OpenKey { client_id, .. } => return client_id,
            other => panic!("open key answered {other:?}"),
        }
    }
    0
}

/// Runs one case; `Err` says how it went against the table.
async fn run(clients: &Clients, case: &Case, n: usize) -> Result<(), String> {
    let v = format!("vol{n}");
    let (setup, _) = request(case.op, &v, 0).expect("a request");
    let client_id = if case.expect == Expect::Unauthenticated {
        0
    } else {
        prepare(clients.of(Caller::Admin), case, &v, setup).await
    };
    let (_, req) = request(case.op, &v, client_id).expect("a request");
    let client = clients.of(case.caller);
    let result = match req {
        Request::Write(op) => client.write(op).await.map(|_| ()),
        Request::Read(op) => client.read(op).await.map(|_| ()),
    };
    let user = case.caller.user().unwrap_or("-");
    match (case.expect, result) {
        (Expect::Allowed, Ok(())) => Ok(()),
        (Expect::Denied, Err(ClientError::Api(e))) if e.code == ErrorCode::PermissionDenied => {
            let rule_message = match case.op.rule() {
                Rule::AdminOnly(m) | Rule::AdminOrBucketOwner(m) => Some(m),
                _ => None,
            };
            let ozone_message = e.message.starts_with(&format!("User {user} doesn't have "))
                || e.message.starts_with("Only Ozone admins are allowed")
                || rule_message.is_some_and(|m| e.message == m);
            if ozone_message {
                Ok(())
            } else {
                Err(format!("denied with another message: {}", e.message))
            }
        }
        (Expect::Unauthenticated, Err(ClientError::Api(e))) if e.code == ErrorCode::Unauthenticated => Ok(()),
        (expect, got) => Err(format!("expected {expect:?}, got {:?}", got.map_err(|e| e.to_string()))),
    }
}

pub async fn every_endpoint_allows_and_refuses_as_the_rights_table_says(ring: &SecureRing) {
    let clients = Clients { by_caller: Caller::ALL.iter().map(|c| (*c, ring.client(c.user()))).collect() };
    let cases = cases();
    let counter = AtomicUsize::new(0);
    let results: Vec<(Case, Result<(), String>)> = futures::stream::iter(cases.iter().cloned())
        .map(|case| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let clients = &clients;
            async move {
                let r = run(clients, &case, n).await;
                (case, r)
            }
        })
        .buffer_unordered(12)
        .collect()
        .await;
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(case, r)| {
            r.as_ref().err().map(|why| {
                let left_out =
                    case.left_out.map(|(on, right)| format!(" without {right} on {on:?}")).unwrap_or_default();
                format!("{:?} by {:?}{left_out}: {why}", case.op, case.caller)
            })
        })
        .collect();
    let ops: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.op.name()).collect();
    let denied = results.iter().filter(|(c, _)| c.expect == Expect::Denied).count();
    eprintln!("rights table: {} cases over {} endpoints, {denied} expected refusals", cases.len(), ops.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases disagree with the table:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// A refusal is HTTP 403 with `{"code":"PERMISSION_DENIED"}` and Ozone's message; no principal
/// is 401; a malformed ACL is 400 INVALID_REQUEST.
pub async fn refusals_are_403_with_ozones_message(ring: &SecureRing) {
    let admin = ring.client(Some("admin"));
    admin.write(WriteOp::create_volume("raw")).await.unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ring.ca_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let url = format!("{}{PATH_READ}", ring.leader_url().await);
    let body = serde_json::json!({"op": {"type": "VolumeInfo", "volume": "raw"}});
    let resp = http.post(&url).header("authorization", SecureRing::bearer("nora")).json(&body).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let e: ApiError = resp.json().await.unwrap();
    assert_eq!(e.code, ErrorCode::PermissionDenied);
    assert_eq!(e.message, "User nora doesn't have READ permission to access VOLUME Volume:raw ");
    let resp = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = http.post(&url).header("authorization", SecureRing::bearer("admin")).json(&body).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // A malformed ACL in the API is a 400 naming what is wrong, before anything is decided.
    let write = url.replace(PATH_READ, PATH_WRITE);
    let bad = serde_json::json!({"request_id": "bad-acl", "op": {"type": "AddAcl", "target": {"VOLUME": {"volume": "raw"}},
        "acl": {"type": "USER", "name": "bob", "rights": "rq", "scope": "ACCESS"}}});
    let resp = http.post(&write).header("authorization", SecureRing::bearer("admin")).json(&bad).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let e: ApiError = resp.json().await.unwrap();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(e.message.contains("[q] ACL right is not recognized"), "{}", e.message);
}
