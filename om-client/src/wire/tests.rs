//! Wire form tests.

use super::*;

/// The API, the CLI and metrics all print `as_str`: it must be what serde sends.
#[test]
fn every_wire_string_is_the_serde_form() {
    use strum::IntoEnumIterator;
    fn check<T: Serialize + IntoEnumIterator + Copy>(name: impl Fn(T) -> &'static str) {
        for v in T::iter() {
            assert_eq!(serde_json::to_value(v).unwrap(), serde_json::Value::from(name(v)));
        }
    }
    check(ErrorCode::as_str);
    check(BucketLayout::as_str);
    check(Role::as_str);
    assert_eq!(ErrorCode::InternalError.as_str(), "INTERNAL_ERROR", "Ozone's name");
}

#[test]
fn error_codes_use_ozone_spelling() {
    let e = ApiError::new(ErrorCode::VolumeNotFound, "x");
    let json = serde_json::to_string(&e).unwrap();
    assert_eq!(json, r#"{"code":"VOLUME_NOT_FOUND","message":"x"}"#);
    let back: ApiError = serde_json::from_str(&json).unwrap();
    assert_eq!(back, e);
    assert_eq!(ErrorCode::NotLeader.as_str(), serde_json::to_value(ErrorCode::NotLeader).unwrap());
}

#[test]
fn write_ops_are_tagged_and_strict() {
    let op: WriteOp = serde_json::from_str(r#"{"type":"CreateVolume","volume":"v1"}"#).unwrap();
    assert_eq!(op.kind(), "CreateVolume");
    assert!(serde_json::from_str::<WriteOp>(r#"{"type":"CreateVolume","volume":"v","bogus":1}"#).is_err());
    assert!(serde_json::from_str::<WriteOp>(r#"{"type":"Nope"}"#).is_err());
}

#[test]
fn layouts_parse_from_cli_spellings() {
    assert_eq!("fso".parse::<BucketLayout>().unwrap(), BucketLayout::FileSystemOptimized);
    assert_eq!("object-store".parse::<BucketLayout>().unwrap(), BucketLayout::ObjectStore);
    assert!("x".parse::<BucketLayout>().is_err());
}

#[test]
fn acl_requests_round_trip_as_json() {
    let acl = crate::acl::OzoneAcl::parse("user:bob:rw[DEFAULT]").unwrap();
    let op = WriteOp::AddAcl {
        target: AclTarget::Key { volume: "v".into(), bucket: "b".into(), key: "k".into() },
        acl: acl.clone(),
    };
    let json = serde_json::to_value(&op).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"type": "AddAcl", "target": {"KEY": {"volume": "v", "bucket": "b", "key": "k"}},
            "acl": {"type": "USER", "name": "bob", "rights": "rw", "scope": "DEFAULT"}})
    );
    assert_eq!(serde_json::from_value::<WriteOp>(json).unwrap(), op);
    let bad = serde_json::json!({"type": "AddAcl", "target": {"VOLUME": {"volume": "v"}},
        "acl": {"type": "USER", "name": "bob", "rights": "rq", "scope": "ACCESS"}});
    let err = serde_json::from_value::<WriteOp>(bad).unwrap_err().to_string();
    assert!(err.contains("[q] ACL right is not recognized"), "{err}");
    let get =
        ReadOp::GetAcl { target: AclTarget::Prefix { volume: "v".into(), bucket: "b".into(), prefix: "dir/".into() } };
    assert_eq!(serde_json::from_value::<ReadOp>(serde_json::to_value(&get).unwrap()).unwrap(), get);
    if let ReadOp::GetAcl { target } = &get {
        assert_eq!(target.to_string(), "/v/b/dir/");
        assert_eq!(target.resource_type(), "PREFIX");
    }
}

#[test]
fn rows_without_acls_read_as_none() {
    let v: VolumeInfo = serde_json::from_value(serde_json::json!({"name": "v", "admin": "a", "owner": "o",
        "quota_in_bytes": -1, "quota_in_namespace": -1, "used_bytes": 0, "used_namespace": 0, "metadata": {},
        "creation_time": 1, "modification_time": 1, "object_id": 1, "update_id": 1}))
    .unwrap();
    assert!(v.acls.is_empty());
}
