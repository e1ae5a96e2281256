//! omring's wire types ↔ Ozone's protobuf messages: volume, bucket and key infos, ACLs,
//! replication and quotas, with the encoding traps of Ozone's protos handled here once (quotas
//! that are uint64 in some messages and int64 in others, "not set" as -2, a KeyInfo that must
//! carry one KeyLocationList).

use std::collections::BTreeMap;

use om_client::acl::{AclIdentityType, AclRights, AclScope, OzoneAcl};
use om_client::wire::{self, AclResource, AclTarget, BucketLayout};

use super::proto::hdds::{self, KeyValue};
use super::proto::om;

/// A quota from a uint64 field: `u64::MAX` is the client's -1 (unlimited); values below -1
/// (Ozone's -2, "not set") leave the quota unset.
pub fn quota_from_u64(q: Option<u64>) -> Option<i64> {
    quota_from_i64(q.map(|v| v as i64))
}

/// A quota from an int64 field (-2, the proto default, means not set).
pub fn quota_from_i64(q: Option<i64>) -> Option<i64> {
    q.filter(|v| *v >= -1)
}

pub fn metadata_from(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter().map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default())).collect()
}

fn metadata_to(m: &BTreeMap<String, String>) -> Vec<KeyValue> {
    m.iter().map(|(k, v)| KeyValue { key: k.clone(), value: Some(v.clone()) }).collect()
}

/// `OzoneAclInfo`: rights as Java's `BitSet.toByteArray` (little-endian, no trailing zero bytes).
pub fn acl_to(a: &OzoneAcl) -> om::OzoneAclInfo {
    let r#type = match a.identity_type() {
        AclIdentityType::User => 1,
        AclIdentityType::Group => 2,
        AclIdentityType::World => 3,
        AclIdentityType::Anonymous => 4,
    };
    let mut rights = a.rights().bits().to_le_bytes().to_vec();
    while rights.last() == Some(&0) {
        rights.pop();
    }
    let acl_scope = match a.scope() {
        AclScope::Access => 0,
        AclScope::Default => 1,
    };
    om::OzoneAclInfo { r#type, name: a.name().to_string(), rights, acl_scope }
}

/// An `OzoneAclInfo` from a client; the error names the field at fault.
pub fn acl_from(info: &om::OzoneAclInfo) -> Result<OzoneAcl, String> {
    let identity_type = match info.r#type {
        1 => AclIdentityType::User,
        2 => AclIdentityType::Group,
        3 => AclIdentityType::World,
        4 => AclIdentityType::Anonymous,
        5 => return Err(om_client::acl::AclError::ClientIpUnsupported.to_string()),
        t => return Err(format!("unknown OzoneAclInfo.type {t}: expected USER, GROUP, WORLD or ANONYMOUS")),
    };
    if info.rights.iter().skip(2).any(|b| *b != 0) {
        return Err(format!("OzoneAclInfo.rights has bits beyond the nine known rights: {:02x?}", info.rights));
    }
    let bits =
        u16::from_le_bytes([info.rights.first().copied().unwrap_or(0), info.rights.get(1).copied().unwrap_or(0)]);
    let rights = AclRights::from_bits(bits).map_err(|e| e.to_string())?;
    let scope = match info.acl_scope {
        0 => AclScope::Access,
        1 => AclScope::Default,
        s => return Err(format!("unknown OzoneAclInfo.aclScope {s}: expected ACCESS or DEFAULT")),
    };
    OzoneAcl::new(identity_type, info.name.clone(), rights, scope).map_err(|e| e.to_string())
}

/// The object of an `OzoneObj` (resource type and path); the error names what is wrong.
pub fn target_from(obj: &om::OzoneObj) -> Result<AclTarget, String> {
    let kind = match obj.res_type {
        1 => AclResource::Volume,
        2 => AclResource::Bucket,
        3 => AclResource::Key,
        4 => AclResource::Prefix,
        t => return Err(format!("unknown OzoneObj.resType {t}: expected VOLUME, BUCKET, KEY or PREFIX")),
    };
    AclTarget::from_path(kind, &obj.path)
}

pub fn volume_to(v: &wire::VolumeInfo) -> om::VolumeInfo {
    om::VolumeInfo {
        admin_name: v.admin.clone(),
        owner_name: v.owner.clone(),
        volume: v.name.clone(),
        quota_in_bytes: Some(v.quota_in_bytes as u64),
        metadata: metadata_to(&v.metadata),
        volume_acls: v.acls.iter().map(acl_to).collect(),
        creation_time: Some(v.creation_time),
        object_id: Some(v.object_id),
        update_id: Some(v.update_id),
        modification_time: Some(v.modification_time),
        quota_in_namespace: Some(v.quota_in_namespace),
        used_namespace: Some(v.used_namespace),
        ref_count: None,
    }
}

pub fn layout_from(l: Option<i32>) -> Option<BucketLayout> {
    match l? {
        om::LAYOUT_LEGACY => Some(BucketLayout::Legacy),
        om::LAYOUT_FSO => Some(BucketLayout::FileSystemOptimized),
        om::LAYOUT_OBJECT_STORE => Some(BucketLayout::ObjectStore),
        _ => None,
    }
}

fn layout_to(l: BucketLayout) -> i32 {
    match l {
        BucketLayout::Legacy => om::LAYOUT_LEGACY,
        BucketLayout::FileSystemOptimized => om::LAYOUT_FSO,
        BucketLayout::ObjectStore => om::LAYOUT_OBJECT_STORE,
    }
}

fn storage_type_to(s: &str) -> i32 {
    match s {
        "SSD" => 2,
        "ARCHIVE" => 3,
        "RAM_DISK" => 4,
        _ => hdds::DISK,
    }
}

pub fn bucket_to(b: &wire::BucketInfo) -> om::BucketInfo {
    om::BucketInfo {
        volume_name: b.volume.clone(),
        bucket_name: b.name.clone(),
        acls: b.acls.iter().map(acl_to).collect(),
        is_version_enabled: b.versioning,
        storage_type: storage_type_to(&b.storage_type),
        creation_time: Some(b.creation_time),
        metadata: metadata_to(&b.metadata),
        object_id: Some(b.object_id),
        update_id: Some(b.update_id),
        modification_time: Some(b.modification_time),
        used_bytes: Some(b.used_bytes),
        quota_in_bytes: Some(b.quota_in_bytes),
        quota_in_namespace: Some(b.quota_in_namespace),
        used_namespace: Some(b.used_namespace),
        bucket_layout: Some(layout_to(b.layout)),
        owner: Some(b.owner.clone()),
    }
}

/// omring's replication string for a request's type and factor; None leaves the server default.
pub fn replication_from(r#type: Option<i32>, factor: Option<i32>) -> Option<String> {
    let kind = match r#type? {
        hdds::RATIS => "RATIS",
        hdds::STAND_ALONE => "STAND_ALONE",
        _ => return None,
    };
    let factor = match factor {
        Some(hdds::FACTOR_ONE) => "ONE",
        _ => "THREE",
    };
    Some(format!("{kind}/{factor}"))
}

/// (type, factor) of a stored replication string; anything the client could not use (EC
/// without its parameters) reads as RATIS/THREE.
fn replication_to(r: &str) -> (i32, i32) {
    let (kind, factor) = r.split_once('/').unwrap_or((r, "THREE"));
    let kind = if kind == "STAND_ALONE" { hdds::STAND_ALONE } else { hdds::RATIS };
    let factor = if factor == "ONE" { hdds::FACTOR_ONE } else { hdds::FACTOR_THREE };
    (kind, factor)
}

pub fn key_to(k: &wire::KeyInfo) -> om::KeyInfo {
    let (r#type, factor) = replication_to(&k.replication);
    om::KeyInfo {
        volume_name: k.volume.clone(),
        bucket_name: k.bucket.clone(),
        key_name: k.name.clone(),
        data_size: k.size,
        r#type,
        factor: Some(factor),
        // The client reads blocks from the last list; an empty key has one, without blocks.
        key_location_list: vec![om::KeyLocationList { version: Some(0) }],
        creation_time: k.creation_time,
        modification_time: k.modification_time,
        latest_version: Some(0),
        metadata: metadata_to(&k.metadata),
        acls: k.acls.iter().map(acl_to).collect(),
        object_id: Some(k.object_id),
        update_id: Some(k.update_id),
        // An FSO directory's row is named with its trailing `/`.
        is_file: Some(!k.name.ends_with('/')),
    }
}

pub fn basic_key_to(k: &wire::KeyInfo) -> om::BasicKeyInfo {
    let (r#type, factor) = replication_to(&k.replication);
    om::BasicKeyInfo {
        key_name: Some(k.name.clone()),
        data_size: Some(k.size),
        creation_time: Some(k.creation_time),
        modification_time: Some(k.modification_time),
        r#type: Some(r#type),
        factor: Some(factor),
        is_file: Some(!k.name.ends_with('/')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_read_minus_one_from_either_encoding_and_ignore_unset() {
        assert_eq!(quota_from_u64(Some(u64::MAX)), Some(-1));
        assert_eq!(quota_from_u64(Some(1 << 30)), Some(1 << 30));
        assert_eq!(quota_from_u64(None), None);
        assert_eq!(quota_from_i64(Some(-2)), None);
        assert_eq!(quota_from_i64(Some(-1)), Some(-1));
    }

    #[test]
    fn acls_and_objects_from_the_client_round_trip() {
        for text in ["user:alice:a", "group:dev:rw[DEFAULT]", "world::n", "anonymous::rl", "user:bob:rwcldxy"] {
            let acl: OzoneAcl = text.parse().expect("acl");
            assert_eq!(acl_from(&acl_to(&acl)), Ok(acl), "{text}");
        }
        let bad =
            |r#type, rights: Vec<u8>, acl_scope| om::OzoneAclInfo { r#type, name: "bob".into(), rights, acl_scope };
        assert!(acl_from(&bad(5, vec![1], 0)).unwrap_err().contains("client_ip"));
        assert!(acl_from(&bad(9, vec![1], 0)).unwrap_err().contains("OzoneAclInfo.type 9"));
        assert!(acl_from(&bad(1, vec![0, 0, 1], 0)).unwrap_err().contains("beyond"));
        assert!(acl_from(&bad(1, vec![0, 2], 0)).unwrap_err().contains("bits outside"));
        assert!(acl_from(&bad(1, vec![1], 3)).unwrap_err().contains("aclScope 3"));
        assert!(acl_from(&bad(2, vec![1], 0).clone()).is_ok());
        let obj = |res_type, path: &str| om::OzoneObj { res_type, store_type: 1, path: path.into() };
        assert_eq!(target_from(&obj(1, "/v")), Ok(AclTarget::Volume { volume: "v".into() }));
        assert_eq!(
            target_from(&obj(3, "/v/b/a/b")),
            Ok(AclTarget::Key { volume: "v".into(), bucket: "b".into(), key: "a/b".into() })
        );
        assert!(target_from(&obj(4, "/v/b/dir")).unwrap_err().contains("ends with '/'"));
        assert!(target_from(&obj(2, "/v")).unwrap_err().contains("expected /volume/bucket"));
        assert!(target_from(&obj(7, "/v")).unwrap_err().contains("resType 7"));
    }

    #[test]
    fn acl_rights_are_a_little_endian_bit_set_without_trailing_zeros() {
        let all: OzoneAcl = "user:alice:a".parse().expect("acl");
        let info = acl_to(&all);
        assert_eq!(
            (info.r#type, info.name.as_str(), info.rights.as_slice(), info.acl_scope),
            (1, "alice", &[0x80][..], 0)
        );
        let rw: OzoneAcl = "group:dev:rw[DEFAULT]".parse().expect("acl");
        assert_eq!((acl_to(&rw).rights, acl_to(&rw).acl_scope), (vec![0x03], 1));
        let none: OzoneAcl = "world::n".parse().expect("acl");
        assert_eq!(acl_to(&none).rights, vec![0x00, 0x01]);
    }

    #[test]
    fn replication_round_trips_and_unknown_kinds_read_as_ratis_three() {
        assert_eq!(replication_from(Some(1), Some(1)).as_deref(), Some("RATIS/ONE"));
        assert_eq!(replication_from(None, None), None);
        assert_eq!(replication_to("RATIS/ONE"), (1, 1));
        assert_eq!(replication_to("EC/rs-3-2-1024k"), (1, 3));
    }
}
