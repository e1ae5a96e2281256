//! The one translation table between omring's result codes and Ozone's: [`status_of`] maps an
//! [`ErrorCode`] to the `hadoop.ozone.Status` number the Java client turns back into
//! `OMException.ResultCodes`, and [`type_name`] names the `hadoop.ozone.Type` values of Ozone
//! 2.2.0 (for NOT_SUPPORTED_OPERATION messages and logs).
//!
//! Never send a number that is not in Ozone 2.2.0's enums: Java proto2 treats an unknown value
//! of a required enum field as missing and rejects the whole response.

use om_client::wire::ErrorCode;

/// `hadoop.ozone.Status` values omring sends.
pub mod st {
    pub const OK: i32 = 1;
    pub const VOLUME_NOT_FOUND: i32 = 3;
    pub const VOLUME_NOT_EMPTY: i32 = 4;
    pub const VOLUME_ALREADY_EXISTS: i32 = 5;
    pub const BUCKET_NOT_FOUND: i32 = 8;
    pub const BUCKET_NOT_EMPTY: i32 = 9;
    pub const BUCKET_ALREADY_EXISTS: i32 = 10;
    pub const KEY_ALREADY_EXISTS: i32 = 11;
    pub const KEY_NOT_FOUND: i32 = 12;
    pub const INVALID_KEY_NAME: i32 = 13;
    pub const ACCESS_DENIED: i32 = 14;
    pub const INTERNAL_ERROR: i32 = 15;
    pub const INVALID_REQUEST: i32 = 39;
    pub const PERMISSION_DENIED: i32 = 48;
    pub const TIMEOUT: i32 = 49;
    pub const INVALID_PATH_IN_ACL_REQUEST: i32 = 53;
    pub const INVALID_BUCKET_NAME: i32 = 58;
    pub const INVALID_VOLUME_NAME: i32 = 61;
    pub const PARTIAL_DELETE: i32 = 62;
    pub const NOT_SUPPORTED_OPERATION: i32 = 64;
    pub const QUOTA_EXCEEDED: i32 = 66;
    pub const UNAUTHORIZED: i32 = 91;
}

/// The name of a status omring sends (the `errorCode` strings of DeleteKeys' per-key errors,
/// which are `OMException.ResultCodes` names).
pub fn status_name(status: i32) -> &'static str {
    match status {
        st::OK => "OK",
        st::VOLUME_NOT_FOUND => "VOLUME_NOT_FOUND",
        st::VOLUME_NOT_EMPTY => "VOLUME_NOT_EMPTY",
        st::VOLUME_ALREADY_EXISTS => "VOLUME_ALREADY_EXISTS",
        st::BUCKET_NOT_FOUND => "BUCKET_NOT_FOUND",
        st::BUCKET_NOT_EMPTY => "BUCKET_NOT_EMPTY",
        st::BUCKET_ALREADY_EXISTS => "BUCKET_ALREADY_EXISTS",
        st::KEY_ALREADY_EXISTS => "KEY_ALREADY_EXISTS",
        st::KEY_NOT_FOUND => "KEY_NOT_FOUND",
        st::INVALID_KEY_NAME => "INVALID_KEY_NAME",
        st::ACCESS_DENIED => "ACCESS_DENIED",
        st::INTERNAL_ERROR => "INTERNAL_ERROR",
        st::INVALID_REQUEST => "INVALID_REQUEST",
        st::PERMISSION_DENIED => "PERMISSION_DENIED",
        st::TIMEOUT => "TIMEOUT",
        st::INVALID_PATH_IN_ACL_REQUEST => "INVALID_PATH_IN_ACL_REQUEST",
        st::INVALID_BUCKET_NAME => "INVALID_BUCKET_NAME",
        st::INVALID_VOLUME_NAME => "INVALID_VOLUME_NAME",
        st::PARTIAL_DELETE => "PARTIAL_DELETE",
        st::NOT_SUPPORTED_OPERATION => "NOT_SUPPORTED_OPERATION",
        st::QUOTA_EXCEEDED => "QUOTA_EXCEEDED",
        st::UNAUTHORIZED => "UNAUTHORIZED",
        _ => "INTERNAL_ERROR",
    }
}

/// What a request names, for the one code (`INVALID_NAME`) whose Ozone status depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Volume,
    Bucket,
    Key,
    Other,
}

/// Ozone's status for an omring error code. `NOT_LEADER` and `LEADER_NOT_READY` never get here:
/// they travel as RPC errors (see [`super::dispatch`]), and map to INTERNAL_ERROR if they do.
pub fn status_of(code: ErrorCode, subject: Subject) -> i32 {
    match code {
        ErrorCode::VolumeAlreadyExists => st::VOLUME_ALREADY_EXISTS,
        ErrorCode::VolumeNotFound => st::VOLUME_NOT_FOUND,
        ErrorCode::VolumeNotEmpty => st::VOLUME_NOT_EMPTY,
        ErrorCode::BucketAlreadyExists => st::BUCKET_ALREADY_EXISTS,
        ErrorCode::BucketNotFound => st::BUCKET_NOT_FOUND,
        ErrorCode::BucketNotEmpty => st::BUCKET_NOT_EMPTY,
        ErrorCode::KeyNotFound => st::KEY_NOT_FOUND,
        ErrorCode::KeyAlreadyExists => st::KEY_ALREADY_EXISTS,
        ErrorCode::QuotaExceeded => st::QUOTA_EXCEEDED,
        ErrorCode::InvalidName => match subject {
            Subject::Volume => st::INVALID_VOLUME_NAME,
            Subject::Bucket => st::INVALID_BUCKET_NAME,
            Subject::Key => st::INVALID_KEY_NAME,
            Subject::Other => st::INVALID_REQUEST,
        },
        ErrorCode::InvalidRequest | ErrorCode::FailedPrecondition => st::INVALID_REQUEST,
        ErrorCode::Timeout => st::TIMEOUT,
        ErrorCode::PermissionDenied => st::PERMISSION_DENIED,
        ErrorCode::Unauthenticated => st::UNAUTHORIZED,
        ErrorCode::InternalError | ErrorCode::NotLeader | ErrorCode::LeaderNotReady => st::INTERNAL_ERROR,
    }
}

/// `hadoop.ozone.Type` of Ozone 2.2.0: (value, name).
const TYPES: &[(i32, &str)] = &[
    (0, "UnknownCommand"),
    (11, "CreateVolume"),
    (12, "SetVolumeProperty"),
    (13, "CheckVolumeAccess"),
    (14, "InfoVolume"),
    (15, "DeleteVolume"),
    (16, "ListVolume"),
    (21, "CreateBucket"),
    (22, "InfoBucket"),
    (23, "SetBucketProperty"),
    (24, "DeleteBucket"),
    (25, "ListBuckets"),
    (31, "CreateKey"),
    (32, "LookupKey"),
    (33, "RenameKey"),
    (34, "DeleteKey"),
    (35, "ListKeys"),
    (36, "CommitKey"),
    (37, "AllocateBlock"),
    (38, "DeleteKeys"),
    (39, "RenameKeys"),
    (40, "DeleteOpenKeys"),
    (45, "InitiateMultiPartUpload"),
    (46, "CommitMultiPartUpload"),
    (47, "CompleteMultiPartUpload"),
    (48, "AbortMultiPartUpload"),
    (49, "GetS3Secret"),
    (50, "ListMultiPartUploadParts"),
    (51, "ServiceList"),
    (53, "DBUpdates"),
    (54, "FinalizeUpgrade"),
    (55, "FinalizeUpgradeProgress"),
    (56, "Prepare"),
    (57, "PrepareStatus"),
    (58, "CancelPrepare"),
    (61, "GetDelegationToken"),
    (62, "RenewDelegationToken"),
    (63, "CancelDelegationToken"),
    (70, "GetFileStatus"),
    (71, "CreateDirectory"),
    (72, "CreateFile"),
    (73, "LookupFile"),
    (74, "ListStatus"),
    (75, "AddAcl"),
    (76, "RemoveAcl"),
    (77, "SetAcl"),
    (78, "GetAcl"),
    (81, "PurgeKeys"),
    (82, "ListMultipartUploads"),
    (91, "ListTrash"),
    (92, "RecoverTrash"),
    (93, "RevokeS3Secret"),
    (94, "PurgePaths"),
    (95, "PurgeDirectories"),
    (96, "CreateTenant"),
    (97, "DeleteTenant"),
    (98, "ListTenant"),
    (99, "TenantGetUserInfo"),
    (100, "TenantAssignUserAccessId"),
    (101, "TenantRevokeUserAccessId"),
    (102, "TenantAssignAdmin"),
    (103, "TenantRevokeAdmin"),
    (104, "GetS3VolumeContext"),
    (105, "TenantListUser"),
    (106, "SetS3Secret"),
    (107, "SetRangerServiceVersion"),
    (109, "RangerBGSync"),
    (110, "EchoRPC"),
    (111, "GetKeyInfo"),
    (112, "CreateSnapshot"),
    (113, "ListSnapshot"),
    (114, "SnapshotDiff"),
    (115, "DeleteSnapshot"),
    (116, "SnapshotMoveDeletedKeys"),
    (117, "TransferLeadership"),
    (118, "SnapshotPurge"),
    (119, "RecoverLease"),
    (120, "SetTimes"),
    (121, "RefetchSecretKey"),
    (122, "ListSnapshotDiffJobs"),
    (123, "CancelSnapshotDiff"),
    (124, "SetSafeMode"),
    (125, "PrintCompactionLogDag"),
    (126, "ListKeysLight"),
    (127, "AbortExpiredMultiPartUploads"),
    (128, "SetSnapshotProperty"),
    (129, "ListStatusLight"),
    (130, "GetSnapshotInfo"),
    (131, "RenameSnapshot"),
    (132, "ListOpenFiles"),
    (133, "QuotaRepair"),
    (135, "GetQuotaRepairStatus"),
    (136, "StartQuotaRepair"),
    (137, "SnapshotMoveTableKeys"),
    (140, "PutObjectTagging"),
    (141, "GetObjectTagging"),
    (142, "DeleteObjectTagging"),
    (143, "SubmitSnapshotDiff"),
];

/// The name of an OM request type, or None for a number Ozone 2.2.0 does not define.
pub fn type_name(cmd_type: i32) -> Option<&'static str> {
    TYPES.iter().find(|(v, _)| *v == cmd_type).map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn every_error_code_maps_to_a_status_ozone_defines() {
        // Status numbers of Ozone 2.2.0 (0, 22, 23 and 51 do not exist).
        let defined = |s: i32| (1..=101).contains(&s) && ![22, 23, 51].contains(&s);
        for code in ErrorCode::iter() {
            for subject in [Subject::Volume, Subject::Bucket, Subject::Key, Subject::Other] {
                let s = status_of(code, subject);
                assert!(defined(s), "{code} → {s}");
                assert_ne!(s, st::OK, "{code} must not map to OK");
            }
        }
        assert_eq!(status_of(ErrorCode::VolumeNotFound, Subject::Volume), 3);
        assert_eq!(status_of(ErrorCode::BucketAlreadyExists, Subject::Bucket), 10);
        assert_eq!(status_of(ErrorCode::InvalidName, Subject::Bucket), 58);
        assert_eq!(status_of(ErrorCode::PermissionDenied, Subject::Key), 48);
    }

    #[test]
    fn every_error_code_has_its_status_name() {
        for code in ErrorCode::iter() {
            for subject in [Subject::Volume, Subject::Bucket, Subject::Key, Subject::Other] {
                let status = status_of(code, subject);
                assert!(status == st::INTERNAL_ERROR || status_name(status) != "INTERNAL_ERROR", "{code:?}");
            }
        }
        assert_eq!(status_name(st::KEY_NOT_FOUND), "KEY_NOT_FOUND");
    }

    #[test]
    fn type_names_follow_ozone() {
        assert_eq!(type_name(51), Some("ServiceList"));
        assert_eq!(type_name(126), Some("ListKeysLight"));
        assert_eq!(type_name(52), None);
        assert!(TYPES.windows(2).all(|w| w[0].0 < w[1].0), "sorted, no duplicates");
    }
}
