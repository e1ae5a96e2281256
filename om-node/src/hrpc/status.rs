//! The one translation table between omring's result codes and Ozone's: [`status_of`] maps an
//! [`ErrorCode`] to the `hadoop.ozone.Status` number the Java client turns back into
//! `OMException.ResultCodes`, and [`type_name`] names the `hadoop.ozone.Type` values of Ozone
//! 2.2.0 (for NOT_SUPPORTED_OPERATION messages and logs).
//!
//! Never send a number that is not in Ozone 2.2.0's enums: Java proto2 treats an unknown value
//! of a required enum field as missing and rejects the whole response.

use om_client::wire::ErrorCode;

/// Defines [`st`]'s constants and the name of each from one list.
macro_rules! statuses {
    ($($name:ident = $value:literal,)*) => {
        /// `hadoop.ozone.Status` values omring sends.
        pub mod st {
            $(pub const $name: i32 = $value;)*
        }
        /// Each status omring sends with its name.
        const STATUS_NAMES: &[(i32, &str)] = &[$(($value, stringify!($name)),)*];
    };
}

statuses! {
    OK = 1,
    VOLUME_NOT_FOUND = 3,
    VOLUME_NOT_EMPTY = 4,
    VOLUME_ALREADY_EXISTS = 5,
    BUCKET_NOT_FOUND = 8,
    BUCKET_NOT_EMPTY = 9,
    BUCKET_ALREADY_EXISTS = 10,
    KEY_ALREADY_EXISTS = 11,
    KEY_NOT_FOUND = 12,
    KEY_RENAME_ERROR = 18,
    INVALID_KEY_NAME = 13,
    ACCESS_DENIED = 14,
    INTERNAL_ERROR = 15,
    INVALID_REQUEST = 39,
    PERMISSION_DENIED = 48,
    FILE_NOT_FOUND = 44,
    DIRECTORY_NOT_FOUND = 45,
    NOT_A_FILE = 47,
    TIMEOUT = 49,
    INVALID_PATH_IN_ACL_REQUEST = 53,
    INVALID_BUCKET_NAME = 58,
    INVALID_VOLUME_NAME = 61,
    PARTIAL_DELETE = 62,
    NOT_SUPPORTED_OPERATION = 64,
    QUOTA_EXCEEDED = 66,
    QUOTA_ERROR = 67,
    DIRECTORY_NOT_EMPTY = 68,
    NOT_SUPPORTED_OPERATION_WHEN_PREPARED = 74,
    UNAUTHORIZED = 91,
}

/// The name of a status omring sends (the `errorCode` strings of DeleteKeys' per-key errors,
/// which are `OMException.ResultCodes` names); INTERNAL_ERROR for any other number.
pub fn status_name(status: i32) -> &'static str {
    STATUS_NAMES.iter().find(|(v, _)| *v == status).map_or("INTERNAL_ERROR", |(_, name)| name)
}

/// Ozone's status for an omring error code. `NOT_LEADER` and `LEADER_NOT_READY` never get here:
/// they travel as RPC errors (see [`super::dispatch`]), and map to INTERNAL_ERROR if they do.
pub fn status_of(code: ErrorCode) -> i32 {
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
        ErrorCode::QuotaError => st::QUOTA_ERROR,
        ErrorCode::NotAFile => st::NOT_A_FILE,
        ErrorCode::DirectoryNotFound => st::DIRECTORY_NOT_FOUND,
        ErrorCode::FileNotFound => st::FILE_NOT_FOUND,
        ErrorCode::DirectoryNotEmpty => st::DIRECTORY_NOT_EMPTY,
        ErrorCode::KeyRenameError => st::KEY_RENAME_ERROR,
        ErrorCode::NotSupportedOperationWhenPrepared => st::NOT_SUPPORTED_OPERATION_WHEN_PREPARED,
        ErrorCode::InvalidVolumeName => st::INVALID_VOLUME_NAME,
        ErrorCode::InvalidBucketName => st::INVALID_BUCKET_NAME,
        ErrorCode::InvalidKeyName => st::INVALID_KEY_NAME,
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
            let s = status_of(code);
            assert!(defined(s), "{code} → {s}");
            assert_ne!(s, st::OK, "{code} must not map to OK");
        }
        assert_eq!(status_of(ErrorCode::VolumeNotFound), 3);
        assert_eq!(status_of(ErrorCode::BucketAlreadyExists), 10);
        assert_eq!(status_of(ErrorCode::InvalidBucketName), 58);
        assert_eq!(status_of(ErrorCode::PermissionDenied), 48);
    }

    #[test]
    fn every_error_code_has_its_status_name() {
        for code in ErrorCode::iter() {
            let status = status_of(code);
            assert!(status == st::INTERNAL_ERROR || status_name(status) != "INTERNAL_ERROR", "{code:?}");
            // A code with an Ozone result code of the same name is sent as that one.
            if STATUS_NAMES.iter().any(|(_, name)| *name == code.as_str()) {
                assert_eq!(status_name(status), code.as_str(), "{code:?}");
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
