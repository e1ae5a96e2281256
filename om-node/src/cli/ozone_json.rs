//! `sh volume|bucket|key info` as Ozone's shell prints them: the client objects (`OzoneVolume`,
//! `OzoneBucket`, `OzoneKeyDetails`) through Jackson, with camelCase fields in Ozone's order,
//! ISO-8601 times and null fields left out. The field lists are what Ozone 2.2.0's CLI prints
//! for the same objects served by this ring (the golden tests compare both).
//!
//! Fields Ozone fills from parts omring does not have are constant: no links (`link` false,
//! `sourcePathExist` true), no pending deletes, no data blocks (`ozoneKeyLocations` empty).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat};
use om_client::acl::AclJson;
use om_client::wire::{BucketInfo, KeyInfo, VolumeInfo};
use serde::Serialize;

/// Ozone's client lists this many entries per page (`ozone.client.list.cache`).
const LIST_CACHE_SIZE: u32 = 1000;

/// Epoch milliseconds as Java's `Instant.toString()`: `2026-12-06T06:51:55.788Z`, no fraction
/// when it is zero.
pub(super) fn iso(ms: u64) -> String {
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| ms.to_string())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OzoneVolume<'a> {
    metadata: &'a BTreeMap<String, String>,
    name: &'a str,
    admin: &'a str,
    owner: &'a str,
    quota_in_bytes: i64,
    quota_in_namespace: i64,
    used_namespace: u64,
    creation_time: String,
    modification_time: String,
    acls: Vec<AclJson>,
    ref_count: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OzoneBucket<'a> {
    metadata: &'a BTreeMap<String, String>,
    volume_name: &'a str,
    name: &'a str,
    storage_type: &'a str,
    versioning: bool,
    list_cache_size: u32,
    used_bytes: u64,
    used_namespace: u64,
    creation_time: String,
    modification_time: String,
    source_path_exist: bool,
    quota_in_bytes: i64,
    quota_in_namespace: i64,
    bucket_layout: &'static str,
    owner: &'a str,
    pending_delete_bytes: u64,
    pending_delete_namespace: u64,
    link: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReplicationConfig<'a> {
    replication_factor: &'a str,
    required_nodes: u32,
    minimum_nodes: u32,
    replication_type: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OzoneKey<'a> {
    volume_name: &'a str,
    bucket_name: &'a str,
    name: &'a str,
    data_size: u64,
    creation_time: String,
    modification_time: String,
    replication_config: ReplicationConfig<'a>,
    metadata: &'a BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
    ozone_key_locations: [(); 0],
    generation: u64,
    file: bool,
}

/// An `OzoneKey` as `sh key list` prints it. `owner` is empty: Ozone 2.2.0's CLI printed ""
/// for keys it wrote to this ring (omring does not record a key's owner).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListedKey<'a> {
    volume_name: &'a str,
    bucket_name: &'a str,
    name: &'a str,
    owner: &'a str,
    data_size: u64,
    creation_time: String,
    modification_time: String,
    replication_config: ReplicationConfig<'a>,
    metadata: &'a BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
    file: bool,
}

/// `sh volume info`.
pub fn volume(v: &VolumeInfo) -> String {
    om_client::jackson::to_string(&ozone_volume(v))
}

/// `sh volume list`: a JSON array of what `info` prints for each (Ozone's `printAsJsonArray`).
pub fn volumes(list: &[VolumeInfo]) -> String {
    om_client::jackson::to_string(&list.iter().map(ozone_volume).collect::<Vec<_>>())
}

/// `sh bucket list`: as `info` prints each bucket, in an array.
pub fn buckets(list: &[BucketInfo]) -> String {
    om_client::jackson::to_string(&list.iter().map(ozone_bucket).collect::<Vec<_>>())
}

/// `sh key list`: Ozone lists `OzoneKey`s, which carry the owner where `info`'s
/// `OzoneKeyDetails` carry locations and the generation.
pub fn keys(list: &[KeyInfo]) -> String {
    let listed: Vec<ListedKey<'_>> = list
        .iter()
        .map(|k| {
            let d = ozone_key(k);
            ListedKey {
                volume_name: d.volume_name,
                bucket_name: d.bucket_name,
                name: d.name,
                owner: "",
                data_size: d.data_size,
                creation_time: d.creation_time,
                modification_time: d.modification_time,
                replication_config: d.replication_config,
                metadata: d.metadata,
                tags: d.tags,
                file: d.file,
            }
        })
        .collect();
    om_client::jackson::to_string(&listed)
}

fn ozone_volume(v: &VolumeInfo) -> OzoneVolume<'_> {
    OzoneVolume {
        metadata: &v.metadata,
        name: &v.name,
        admin: &v.admin,
        owner: &v.owner,
        quota_in_bytes: v.quota_in_bytes,
        quota_in_namespace: v.quota_in_namespace,
        used_namespace: v.used_namespace,
        creation_time: iso(v.creation_time),
        modification_time: iso(v.modification_time),
        acls: v.acls.iter().map(AclJson::from).collect(),
        ref_count: 0,
    }
}

/// `sh bucket info`.
pub fn bucket(b: &BucketInfo) -> String {
    om_client::jackson::to_string(&ozone_bucket(b))
}

fn ozone_bucket(b: &BucketInfo) -> OzoneBucket<'_> {
    OzoneBucket {
        metadata: &b.metadata,
        volume_name: &b.volume,
        name: &b.name,
        storage_type: &b.storage_type,
        versioning: b.versioning,
        list_cache_size: LIST_CACHE_SIZE,
        used_bytes: b.used_bytes,
        used_namespace: b.used_namespace,
        creation_time: iso(b.creation_time),
        modification_time: iso(b.modification_time),
        source_path_exist: true,
        quota_in_bytes: b.quota_in_bytes,
        quota_in_namespace: b.quota_in_namespace,
        bucket_layout: b.layout.as_str(),
        owner: &b.owner,
        pending_delete_bytes: 0,
        pending_delete_namespace: 0,
        link: false,
    }
}

/// `sh key info`. A replication omring stores as `TYPE/FACTOR` (`RATIS/THREE`) is shown as
/// Ozone's RATIS config shows it; another is shown with its type and factor only.
pub fn key(k: &KeyInfo) -> String {
    om_client::jackson::to_string(&ozone_key(k))
}

fn ozone_key(k: &KeyInfo) -> OzoneKey<'_> {
    let (kind, factor) = k.replication.split_once('/').unwrap_or(("RATIS", "THREE"));
    let nodes = match factor {
        "ONE" => 1,
        "THREE" => 3,
        _ => 0,
    };
    OzoneKey {
        volume_name: &k.volume,
        bucket_name: &k.bucket,
        name: &k.name,
        data_size: k.size,
        creation_time: iso(k.creation_time),
        modification_time: iso(k.modification_time),
        replication_config: ReplicationConfig {
            replication_factor: factor,
            required_nodes: nodes,
            minimum_nodes: 1,
            replication_type: kind,
        },
        metadata: &k.metadata,
        tags: BTreeMap::new(),
        ozone_key_locations: [],
        generation: k.update_id,
        file: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use om_client::acl::OzoneAcl;
    use om_client::wire::BucketLayout;

    // Goldens: what Ozone 2.2.0's `ozone sh ... info` printed for these objects served by a
    // ring (a 1-node `dev ring`, 2026-12-06); the values below are those objects' rows.
    #[test]
    fn volume_info_is_ozones_json() {
        let v = VolumeInfo {
            name: "vol1".into(),
            admin: "root".into(),
            owner: "root".into(),
            quota_in_bytes: -1,
            quota_in_namespace: -1,
            used_bytes: 0,
            used_namespace: 0,
            metadata: BTreeMap::new(),
            creation_time: 1_796_539_915_788,
            modification_time: 1_796_539_915_788,
            object_id: 2,
            update_id: 5,
            acls: vec!["user:root:a".parse::<OzoneAcl>().unwrap()],
        };
        let want = r#"{
  "metadata" : { },
  "name" : "vol1",
  "admin" : "root",
  "owner" : "root",
  "quotaInBytes" : -1,
  "quotaInNamespace" : -1,
  "usedNamespace" : 0,
  "creationTime" : "2026-12-06T06:51:55.788Z",
  "modificationTime" : "2026-12-06T06:51:55.788Z",
  "acls" : [ {
    "type" : "USER",
    "name" : "root",
    "aclScope" : "ACCESS",
    "aclList" : [ "ALL" ],
    "aclSet" : [ "ALL" ]
  } ],
  "refCount" : 0
}"#;
        assert_eq!(volume(&v), want);
    }

    #[test]
    fn bucket_info_is_ozones_json() {
        let b = BucketInfo {
            volume: "vol1".into(),
            name: "bucket1".into(),
            owner: "root".into(),
            layout: BucketLayout::ObjectStore,
            versioning: false,
            storage_type: "DISK".into(),
            quota_in_bytes: -1,
            quota_in_namespace: -1,
            used_bytes: 0,
            used_namespace: 0,
            metadata: BTreeMap::new(),
            creation_time: 1_796_539_924_767,
            modification_time: 1_796_539_924_767,
            object_id: 3,
            update_id: 5,
            acls: vec![],
        };
        let want = r#"{
  "metadata" : { },
  "volumeName" : "vol1",
  "name" : "bucket1",
  "storageType" : "DISK",
  "versioning" : false,
  "listCacheSize" : 1000,
  "usedBytes" : 0,
  "usedNamespace" : 0,
  "creationTime" : "2026-12-06T06:52:04.767Z",
  "modificationTime" : "2026-12-06T06:52:04.767Z",
  "sourcePathExist" : true,
  "quotaInBytes" : -1,
  "quotaInNamespace" : -1,
  "bucketLayout" : "OBJECT_STORE",
  "owner" : "root",
  "pendingDeleteBytes" : 0,
  "pendingDeleteNamespace" : 0,
  "link" : false
}"#;
        assert_eq!(bucket(&b), want);
    }

    #[test]
    fn key_info_is_ozones_json() {
        let k = KeyInfo {
            volume: "vol1".into(),
            bucket: "bucket1".into(),
            name: "key1".into(),
            size: 0,
            replication: "RATIS/THREE".into(),
            metadata: BTreeMap::from([("a".to_string(), "b".to_string())]),
            creation_time: 1_796_539_927_483,
            modification_time: 1_796_539_927_487,
            object_id: 4,
            update_id: 5,
            acls: vec![],
        };
        let want = r#"{
  "volumeName" : "vol1",
  "bucketName" : "bucket1",
  "name" : "key1",
  "dataSize" : 0,
  "creationTime" : "2026-12-06T06:52:07.483Z",
  "modificationTime" : "2026-12-06T06:52:07.487Z",
  "replicationConfig" : {
    "replicationFactor" : "THREE",
    "requiredNodes" : 3,
    "minimumNodes" : 1,
    "replicationType" : "RATIS"
  },
  "metadata" : {
    "a" : "b"
  },
  "tags" : { },
  "ozoneKeyLocations" : [ ],
  "generation" : 5,
  "file" : true
}"#;
        assert_eq!(key(&k), want);
        assert!(iso(1_796_539_927_000).ends_with(":07Z"), "{}", iso(1_796_539_927_000));
    }

    #[test]
    fn lists_are_ozones_json_arrays() {
        // `ozone sh key list` of Ozone 2.2.0 against a 1-node ring, 2026-12-06.
        let k = KeyInfo {
            volume: "vl1".into(),
            bucket: "bk1".into(),
            name: "k1".into(),
            size: 0,
            replication: "RATIS/THREE".into(),
            metadata: BTreeMap::new(),
            creation_time: 1796552700654,
            modification_time: 1796552700698,
            object_id: 4,
            update_id: 5,
            acls: vec![],
        };
        let want = r#"[ {
  "volumeName" : "vl1",
  "bucketName" : "bk1",
  "name" : "k1",
  "owner" : "",
  "dataSize" : 0,
  "creationTime" : "2026-12-06T10:25:00.654Z",
  "modificationTime" : "2026-12-06T10:25:00.698Z",
  "replicationConfig" : {
    "replicationFactor" : "THREE",
    "requiredNodes" : 3,
    "minimumNodes" : 1,
    "replicationType" : "RATIS"
  },
  "metadata" : { },
  "tags" : { },
  "file" : true
} ]"#;
        assert_eq!(keys(std::slice::from_ref(&k)), want);
        let two = keys(&[k.clone(), KeyInfo { name: "k2".into(), ..k }]);
        assert!(two.starts_with("[ {\n") && two.contains("\n}, {\n") && two.ends_with("\n} ]"), "{two}");
        assert_eq!((volumes(&[]), buckets(&[]), keys(&[])), ("[ ]".into(), "[ ]".into(), "[ ]".into()));
    }
}
