//! The `hadoop.ozone` messages of `OmClientProtocol.proto` (Ozone 2.2.0) that omring serves,
//! with only the fields it reads or writes; field numbers are Ozone's (see
//! `docs/ozone-notes/hadoop-rpc.md` §5–6). Fields a client sends that are not listed here are
//! skipped on decode. `required` fields are always encoded: Ozone's Java client rejects a
//! message that lacks one.

use super::hdds::KeyValue;

/// `OMRequest`: one call of `OzoneManagerService.submitRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OmRequest {
    #[prost(int32, required, tag = "1")]
    pub cmd_type: i32,
    #[prost(string, optional, tag = "2")]
    pub trace_id: Option<String>,
    #[prost(string, required, tag = "3")]
    pub client_id: String,
    #[prost(uint32, optional, tag = "5")]
    pub version: Option<u32>,
    #[prost(message, optional, tag = "11")]
    pub create_volume_request: Option<CreateVolumeRequest>,
    #[prost(message, optional, tag = "12")]
    pub set_volume_property_request: Option<SetVolumePropertyRequest>,
    #[prost(message, optional, tag = "13")]
    pub check_volume_access_request: Option<CheckVolumeAccessRequest>,
    #[prost(message, optional, tag = "14")]
    pub info_volume_request: Option<VolumeNameRequest>,
    #[prost(message, optional, tag = "15")]
    pub delete_volume_request: Option<VolumeNameRequest>,
    #[prost(message, optional, tag = "16")]
    pub list_volume_request: Option<ListVolumeRequest>,
    #[prost(message, optional, tag = "21")]
    pub create_bucket_request: Option<CreateBucketRequest>,
    #[prost(message, optional, tag = "22")]
    pub info_bucket_request: Option<BucketNameRequest>,
    #[prost(message, optional, tag = "23")]
    pub set_bucket_property_request: Option<SetBucketPropertyRequest>,
    #[prost(message, optional, tag = "24")]
    pub delete_bucket_request: Option<BucketNameRequest>,
    #[prost(message, optional, tag = "25")]
    pub list_buckets_request: Option<ListBucketsRequest>,
    #[prost(message, optional, tag = "31")]
    pub create_key_request: Option<KeyArgsRequest>,
    #[prost(message, optional, tag = "32")]
    pub lookup_key_request: Option<KeyArgsRequest>,
    #[prost(message, optional, tag = "33")]
    pub rename_key_request: Option<RenameKeyRequest>,
    #[prost(message, optional, tag = "34")]
    pub delete_key_request: Option<KeyArgsRequest>,
    /// Also the request of ListKeysLight.
    #[prost(message, optional, tag = "35")]
    pub list_keys_request: Option<ListKeysRequest>,
    #[prost(message, optional, tag = "36")]
    pub commit_key_request: Option<CommitKeyRequest>,
    #[prost(message, optional, tag = "38")]
    pub delete_keys_request: Option<DeleteKeysRequest>,
    /// GetFileStatusRequest: `keyArgs = 1`.
    #[prost(message, optional, tag = "70")]
    pub get_file_status_request: Option<KeyArgsRequest>,
    /// Also the request of ListStatusLight.
    #[prost(message, optional, tag = "74")]
    pub list_status_request: Option<ListStatusRequest>,
    #[prost(message, optional, tag = "75")]
    pub add_acl_request: Option<AclChangeRequest>,
    #[prost(message, optional, tag = "76")]
    pub remove_acl_request: Option<AclChangeRequest>,
    #[prost(message, optional, tag = "77")]
    pub set_acl_request: Option<AclChangeRequest>,
    #[prost(message, optional, tag = "78")]
    pub get_acl_request: Option<GetAclRequest>,
    #[prost(message, optional, tag = "110")]
    pub echo_rpc_request: Option<EchoRpcRequest>,
    #[prost(message, optional, tag = "111")]
    pub get_key_info_request: Option<KeyArgsRequest>,
    #[prost(message, optional, tag = "117")]
    pub transfer_om_leadership_request: Option<super::hdds::TransferLeadershipRequest>,
}

/// `OMResponse`. On an error only the header fields are set.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OmResponse {
    #[prost(int32, required, tag = "1")]
    pub cmd_type: i32,
    #[prost(string, optional, tag = "2")]
    pub trace_id: Option<String>,
    #[prost(bool, optional, tag = "3")]
    pub success: Option<bool>,
    #[prost(string, optional, tag = "4")]
    pub message: Option<String>,
    #[prost(int32, required, tag = "5")]
    pub status: i32,
    #[prost(message, optional, tag = "11")]
    pub create_volume_response: Option<Empty>,
    #[prost(message, optional, tag = "12")]
    pub set_volume_property_response: Option<BoolResponse>,
    #[prost(message, optional, tag = "13")]
    pub check_volume_access_response: Option<Empty>,
    #[prost(message, optional, tag = "14")]
    pub info_volume_response: Option<InfoVolumeResponse>,
    #[prost(message, optional, tag = "15")]
    pub delete_volume_response: Option<Empty>,
    #[prost(message, optional, tag = "16")]
    pub list_volume_response: Option<ListVolumeResponse>,
    #[prost(message, optional, tag = "21")]
    pub create_bucket_response: Option<Empty>,
    #[prost(message, optional, tag = "22")]
    pub info_bucket_response: Option<InfoBucketResponse>,
    #[prost(message, optional, tag = "23")]
    pub set_bucket_property_response: Option<BoolResponse>,
    #[prost(message, optional, tag = "24")]
    pub delete_bucket_response: Option<Empty>,
    #[prost(message, optional, tag = "25")]
    pub list_buckets_response: Option<ListBucketsResponse>,
    #[prost(message, optional, tag = "31")]
    pub create_key_response: Option<KeyInfoResponse>,
    #[prost(message, optional, tag = "32")]
    pub lookup_key_response: Option<KeyInfoResponse>,
    #[prost(message, optional, tag = "33")]
    pub rename_key_response: Option<Empty>,
    #[prost(message, optional, tag = "34")]
    pub delete_key_response: Option<Empty>,
    #[prost(message, optional, tag = "35")]
    pub list_keys_response: Option<ListKeysResponse>,
    #[prost(message, optional, tag = "36")]
    pub commit_key_response: Option<Empty>,
    #[prost(message, optional, tag = "38")]
    pub delete_keys_response: Option<DeleteKeysResponse>,
    #[prost(message, optional, tag = "70")]
    pub get_file_status_response: Option<GetFileStatusResponse>,
    #[prost(message, optional, tag = "74")]
    pub list_status_response: Option<ListStatusResponse>,
    #[prost(message, optional, tag = "75")]
    pub add_acl_response: Option<BoolResponse>,
    #[prost(message, optional, tag = "76")]
    pub remove_acl_response: Option<BoolResponse>,
    #[prost(message, optional, tag = "77")]
    pub set_acl_response: Option<BoolResponse>,
    #[prost(message, optional, tag = "78")]
    pub get_acl_response: Option<GetAclResponse>,
    #[prost(message, optional, tag = "51")]
    pub service_list_response: Option<ServiceListResponse>,
    #[prost(message, optional, tag = "55")]
    pub finalize_upgrade_progress_response: Option<FinalizeUpgradeProgressResponse>,
    #[prost(message, optional, tag = "56")]
    pub prepare_response: Option<PrepareResponse>,
    #[prost(message, optional, tag = "57")]
    pub prepare_status_response: Option<PrepareStatusResponse>,
    #[prost(message, optional, tag = "58")]
    pub cancel_prepare_response: Option<Empty>,
    #[prost(message, optional, tag = "110")]
    pub echo_rpc_response: Option<EchoRpcResponse>,
    #[prost(message, optional, tag = "111")]
    pub get_key_info_response: Option<GetKeyInfoResponse>,
    #[prost(message, optional, tag = "117")]
    pub transfer_om_leadership_response: Option<Empty>,
    #[prost(message, optional, tag = "126")]
    pub list_keys_light_response: Option<ListKeysLightResponse>,
    #[prost(message, optional, tag = "129")]
    pub list_status_light_response: Option<ListStatusLightResponse>,
}

/// `FinalizeUpgradeProgressResponse` (`ozone admin om finalizationstatus`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct FinalizeUpgradeProgressResponse {
    #[prost(message, required, tag = "1")]
    pub status: UpgradeFinalizationStatus,
}

/// `hadoop.hdds.UpgradeFinalizationStatus`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UpgradeFinalizationStatus {
    /// `Status`: ALREADY_FINALIZED = 1, ..., FINALIZATION_REQUIRED = 5.
    #[prost(int32, required, tag = "1")]
    pub status: i32,
    #[prost(string, repeated, tag = "2")]
    pub messages: Vec<String>,
}

/// `UpgradeFinalizationStatus.Status.ALREADY_FINALIZED`.
pub const ALREADY_FINALIZED: i32 = 1;

/// `PrepareResponse`: the log index of the prepare entry.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PrepareResponse {
    #[prost(uint64, required, tag = "1")]
    pub txn_id: u64,
}

/// `PrepareStatusResponse`: `status` NOT_PREPARED = 1, PREPARE_GATE_ENABLED = 2,
/// PREPARE_COMPLETED = 3.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PrepareStatusResponse {
    #[prost(int32, required, tag = "1")]
    pub status: i32,
    /// -1 (as Java reads the unsigned field) when not prepared.
    #[prost(uint64, optional, tag = "2")]
    pub current_txn_index: Option<u64>,
}

/// A response without fields (CreateVolumeResponse, DeleteBucketResponse, ...).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

/// `SetVolumePropertyResponse` and the like: `response = 1`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BoolResponse {
    #[prost(bool, optional, tag = "1")]
    pub response: Option<bool>,
}

/// `OzoneAclInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OzoneAclInfo {
    /// `OzoneAclType`: USER=1, GROUP=2, WORLD=3, ANONYMOUS=4, CLIENT_IP=5.
    #[prost(int32, required, tag = "1")]
    pub r#type: i32,
    #[prost(string, required, tag = "2")]
    pub name: String,
    /// Little-endian bit set; bit = Ozone's `ACLType` ordinal.
    #[prost(bytes = "vec", required, tag = "3")]
    pub rights: Vec<u8>,
    /// `OzoneAclScope`: ACCESS=0, DEFAULT=1.
    #[prost(int32, required, tag = "4")]
    pub acl_scope: i32,
}

/// `OzoneObj`: what an ACL request is about.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OzoneObj {
    /// `ObjectType`: VOLUME=1, BUCKET=2, KEY=3, PREFIX=4.
    #[prost(int32, required, tag = "1")]
    pub res_type: i32,
    /// `StoreType`: OZONE=1, S3=2.
    #[prost(int32, required, tag = "2")]
    pub store_type: i32,
    /// `/volume`, `/volume/bucket`, `/volume/bucket/key` or `/volume/bucket/prefix/`.
    #[prost(string, required, tag = "3")]
    pub path: String,
}

/// `AddAclRequest` and `RemoveAclRequest` (one `acl`) and `SetAclRequest` (any number).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AclChangeRequest {
    #[prost(message, optional, tag = "1")]
    pub obj: Option<OzoneObj>,
    #[prost(message, repeated, tag = "2")]
    pub acl: Vec<OzoneAclInfo>,
}

/// `GetAclRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetAclRequest {
    #[prost(message, optional, tag = "1")]
    pub obj: Option<OzoneObj>,
}

/// `GetAclResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetAclResponse {
    #[prost(message, repeated, tag = "1")]
    pub acls: Vec<OzoneAclInfo>,
}

/// `CheckVolumeAccessRequest`: may `userAcl`'s identity use its rights on the volume?
#[derive(Clone, PartialEq, prost::Message)]
pub struct CheckVolumeAccessRequest {
    #[prost(string, required, tag = "1")]
    pub volume_name: String,
    #[prost(message, optional, tag = "2")]
    pub user_acl: Option<OzoneAclInfo>,
}

/// `DeleteKeyArgs`: keys of one bucket.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeleteKeyArgs {
    #[prost(string, required, tag = "1")]
    pub volume_name: String,
    #[prost(string, required, tag = "2")]
    pub bucket_name: String,
    #[prost(string, repeated, tag = "3")]
    pub keys: Vec<String>,
}

/// `DeleteKeysRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeleteKeysRequest {
    #[prost(message, optional, tag = "1")]
    pub delete_keys: Option<DeleteKeyArgs>,
}

/// `DeleteKeyError`: why one key of a DeleteKeys was not deleted.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeleteKeyError {
    #[prost(string, optional, tag = "1")]
    pub key: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub error_code: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub error_msg: Option<String>,
}

/// `DeleteKeysResponse`: `status` true when every key was deleted.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeleteKeysResponse {
    #[prost(message, optional, tag = "1")]
    pub un_deleted_keys: Option<DeleteKeyArgs>,
    #[prost(bool, optional, tag = "2")]
    pub status: Option<bool>,
    #[prost(message, repeated, tag = "3")]
    pub errors: Vec<DeleteKeyError>,
}

/// `VolumeInfo`. Quota in bytes is uint64 on the wire: -1 (unlimited) arrives as `u64::MAX`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct VolumeInfo {
    #[prost(string, required, tag = "1")]
    pub admin_name: String,
    #[prost(string, required, tag = "2")]
    pub owner_name: String,
    #[prost(string, required, tag = "3")]
    pub volume: String,
    #[prost(uint64, optional, tag = "4")]
    pub quota_in_bytes: Option<u64>,
    #[prost(message, repeated, tag = "5")]
    pub metadata: Vec<KeyValue>,
    #[prost(message, repeated, tag = "6")]
    pub volume_acls: Vec<OzoneAclInfo>,
    #[prost(uint64, optional, tag = "7")]
    pub creation_time: Option<u64>,
    #[prost(uint64, optional, tag = "8")]
    pub object_id: Option<u64>,
    #[prost(uint64, optional, tag = "9")]
    pub update_id: Option<u64>,
    #[prost(uint64, optional, tag = "10")]
    pub modification_time: Option<u64>,
    #[prost(int64, optional, tag = "11")]
    pub quota_in_namespace: Option<i64>,
    #[prost(uint64, optional, tag = "12")]
    pub used_namespace: Option<u64>,
    #[prost(int64, optional, tag = "13")]
    pub ref_count: Option<i64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateVolumeRequest {
    #[prost(message, optional, tag = "1")]
    pub volume_info: Option<VolumeInfo>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SetVolumePropertyRequest {
    #[prost(string, required, tag = "1")]
    pub volume_name: String,
    #[prost(string, optional, tag = "2")]
    pub owner_name: Option<String>,
    #[prost(uint64, optional, tag = "3")]
    pub quota_in_bytes: Option<u64>,
    #[prost(uint64, optional, tag = "5")]
    pub quota_in_namespace: Option<u64>,
}

/// `InfoVolumeRequest` and `DeleteVolumeRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct VolumeNameRequest {
    #[prost(string, required, tag = "1")]
    pub volume_name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct InfoVolumeResponse {
    #[prost(message, optional, tag = "2")]
    pub volume_info: Option<VolumeInfo>,
}

/// `ListVolumeRequest.Scope`.
pub const SCOPE_USER_VOLUMES: i32 = 1;
pub const SCOPE_VOLUMES_BY_USER: i32 = 2;

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListVolumeRequest {
    #[prost(int32, required, tag = "1")]
    pub scope: i32,
    #[prost(string, optional, tag = "2")]
    pub user_name: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub prefix: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub prev_key: Option<String>,
    #[prost(uint32, optional, tag = "5")]
    pub max_keys: Option<u32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListVolumeResponse {
    #[prost(message, repeated, tag = "2")]
    pub volume_info: Vec<VolumeInfo>,
}

/// `BucketLayoutProto`.
pub const LAYOUT_LEGACY: i32 = 1;
pub const LAYOUT_FSO: i32 = 2;
pub const LAYOUT_OBJECT_STORE: i32 = 3;

/// `BucketInfo`. Quotas are int64 here (default -2: "not set").
#[derive(Clone, PartialEq, prost::Message)]
pub struct BucketInfo {
    #[prost(string, required, tag = "1")]
    pub volume_name: String,
    #[prost(string, required, tag = "2")]
    pub bucket_name: String,
    #[prost(message, repeated, tag = "3")]
    pub acls: Vec<OzoneAclInfo>,
    #[prost(bool, required, tag = "4")]
    pub is_version_enabled: bool,
    #[prost(int32, required, tag = "5")]
    pub storage_type: i32,
    #[prost(uint64, optional, tag = "6")]
    pub creation_time: Option<u64>,
    #[prost(message, repeated, tag = "7")]
    pub metadata: Vec<KeyValue>,
    #[prost(uint64, optional, tag = "9")]
    pub object_id: Option<u64>,
    #[prost(uint64, optional, tag = "10")]
    pub update_id: Option<u64>,
    #[prost(uint64, optional, tag = "11")]
    pub modification_time: Option<u64>,
    #[prost(uint64, optional, tag = "14")]
    pub used_bytes: Option<u64>,
    #[prost(int64, optional, tag = "15")]
    pub quota_in_bytes: Option<i64>,
    #[prost(int64, optional, tag = "16")]
    pub quota_in_namespace: Option<i64>,
    #[prost(uint64, optional, tag = "17")]
    pub used_namespace: Option<u64>,
    #[prost(int32, optional, tag = "18")]
    pub bucket_layout: Option<i32>,
    #[prost(string, optional, tag = "19")]
    pub owner: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateBucketRequest {
    #[prost(message, optional, tag = "1")]
    pub bucket_info: Option<BucketInfo>,
}

/// `InfoBucketRequest` and `DeleteBucketRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BucketNameRequest {
    #[prost(string, required, tag = "1")]
    pub volume_name: String,
    #[prost(string, required, tag = "2")]
    pub bucket_name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct InfoBucketResponse {
    #[prost(message, optional, tag = "2")]
    pub bucket_info: Option<BucketInfo>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListBucketsRequest {
    #[prost(string, required, tag = "1")]
    pub volume_name: String,
    #[prost(string, optional, tag = "2")]
    pub start_key: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub prefix: Option<String>,
    #[prost(int32, optional, tag = "4")]
    pub count: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListBucketsResponse {
    #[prost(message, repeated, tag = "2")]
    pub bucket_info: Vec<BucketInfo>,
}

/// `KeyArgs`: what a key request names. Replication type/factor default to NONE/ZERO when absent.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyArgs {
    #[prost(string, required, tag = "1")]
    pub volume_name: String,
    #[prost(string, required, tag = "2")]
    pub bucket_name: String,
    #[prost(string, required, tag = "3")]
    pub key_name: String,
    #[prost(uint64, optional, tag = "4")]
    pub data_size: Option<u64>,
    #[prost(int32, optional, tag = "5")]
    pub r#type: Option<i32>,
    #[prost(int32, optional, tag = "6")]
    pub factor: Option<i32>,
    #[prost(message, repeated, tag = "11")]
    pub metadata: Vec<KeyValue>,
    #[prost(bool, optional, tag = "17")]
    pub recursive: Option<bool>,
    #[prost(message, repeated, tag = "22")]
    pub tags: Vec<KeyValue>,
    #[prost(uint64, optional, tag = "23")]
    pub expected_data_generation: Option<u64>,
    #[prost(string, optional, tag = "24")]
    pub expected_e_tag: Option<String>,
}

/// CreateKeyRequest, LookupKeyRequest, DeleteKeyRequest, GetKeyInfoRequest: `keyArgs = 1`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyArgsRequest {
    #[prost(message, optional, tag = "1")]
    pub key_args: Option<KeyArgs>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CommitKeyRequest {
    #[prost(message, optional, tag = "1")]
    pub key_args: Option<KeyArgs>,
    #[prost(uint64, required, tag = "2")]
    pub client_id: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RenameKeyRequest {
    #[prost(message, optional, tag = "1")]
    pub key_args: Option<KeyArgs>,
    #[prost(string, required, tag = "2")]
    pub to_key_name: String,
}

/// `KeyLocationList`: the client needs at least one (version 0, no blocks for empty keys).
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyLocationList {
    #[prost(uint64, optional, tag = "1")]
    pub version: Option<u64>,
}

/// `KeyInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyInfo {
    #[prost(string, required, tag = "1")]
    pub volume_name: String,
    #[prost(string, required, tag = "2")]
    pub bucket_name: String,
    #[prost(string, required, tag = "3")]
    pub key_name: String,
    #[prost(uint64, required, tag = "4")]
    pub data_size: u64,
    #[prost(int32, required, tag = "5")]
    pub r#type: i32,
    #[prost(int32, optional, tag = "6")]
    pub factor: Option<i32>,
    #[prost(message, repeated, tag = "7")]
    pub key_location_list: Vec<KeyLocationList>,
    #[prost(uint64, required, tag = "8")]
    pub creation_time: u64,
    #[prost(uint64, required, tag = "9")]
    pub modification_time: u64,
    #[prost(uint64, optional, tag = "10")]
    pub latest_version: Option<u64>,
    #[prost(message, repeated, tag = "11")]
    pub metadata: Vec<KeyValue>,
    #[prost(message, repeated, tag = "13")]
    pub acls: Vec<OzoneAclInfo>,
    #[prost(uint64, optional, tag = "14")]
    pub object_id: Option<u64>,
    #[prost(uint64, optional, tag = "15")]
    pub update_id: Option<u64>,
    #[prost(bool, optional, tag = "19")]
    pub is_file: Option<bool>,
}

/// CreateKeyResponse and LookupKeyResponse: `keyInfo = 2, ID = 3, openVersion = 4`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyInfoResponse {
    #[prost(message, optional, tag = "2")]
    pub key_info: Option<KeyInfo>,
    #[prost(uint64, optional, tag = "3")]
    pub id: Option<u64>,
    #[prost(uint64, optional, tag = "4")]
    pub open_version: Option<u64>,
}

/// `GetKeyInfoResponse`: here `keyInfo` is field 1.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetKeyInfoResponse {
    #[prost(message, optional, tag = "1")]
    pub key_info: Option<KeyInfo>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListStatusRequest {
    #[prost(message, optional, tag = "1")]
    pub key_args: Option<KeyArgs>,
    #[prost(bool, required, tag = "2")]
    pub recursive: bool,
    #[prost(string, required, tag = "3")]
    pub start_key: String,
    #[prost(uint64, required, tag = "4")]
    pub num_entries: u64,
    #[prost(bool, optional, tag = "5")]
    pub allow_partial_prefix: Option<bool>,
}

/// `OzoneFileStatusProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OzoneFileStatus {
    #[prost(message, optional, tag = "2")]
    pub key_info: Option<KeyInfo>,
    #[prost(uint64, optional, tag = "3")]
    pub block_size: Option<u64>,
    #[prost(bool, optional, tag = "4")]
    pub is_directory: Option<bool>,
}

/// `OzoneFileStatusProtoLight`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OzoneFileStatusLight {
    #[prost(string, optional, tag = "1")]
    pub volume_name: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub bucket_name: Option<String>,
    #[prost(message, optional, tag = "3")]
    pub basic_key_info: Option<BasicKeyInfo>,
    #[prost(uint64, optional, tag = "4")]
    pub block_size: Option<u64>,
    #[prost(bool, optional, tag = "5")]
    pub is_directory: Option<bool>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetFileStatusResponse {
    #[prost(message, required, tag = "1")]
    pub status: OzoneFileStatus,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListStatusResponse {
    #[prost(message, repeated, tag = "1")]
    pub statuses: Vec<OzoneFileStatus>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListStatusLightResponse {
    #[prost(message, repeated, tag = "1")]
    pub statuses: Vec<OzoneFileStatusLight>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListKeysRequest {
    #[prost(string, required, tag = "1")]
    pub volume_name: String,
    #[prost(string, required, tag = "2")]
    pub bucket_name: String,
    #[prost(string, optional, tag = "3")]
    pub start_key: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub prefix: Option<String>,
    #[prost(int32, optional, tag = "5")]
    pub count: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListKeysResponse {
    #[prost(message, repeated, tag = "2")]
    pub key_info: Vec<KeyInfo>,
    #[prost(bool, optional, tag = "3")]
    pub is_truncated: Option<bool>,
}

/// `BasicKeyInfo` (ListKeysLight).
#[derive(Clone, PartialEq, prost::Message)]
pub struct BasicKeyInfo {
    #[prost(string, optional, tag = "1")]
    pub key_name: Option<String>,
    #[prost(uint64, optional, tag = "2")]
    pub data_size: Option<u64>,
    #[prost(uint64, optional, tag = "3")]
    pub creation_time: Option<u64>,
    #[prost(uint64, optional, tag = "4")]
    pub modification_time: Option<u64>,
    #[prost(int32, optional, tag = "5")]
    pub r#type: Option<i32>,
    #[prost(int32, optional, tag = "6")]
    pub factor: Option<i32>,
    #[prost(bool, optional, tag = "11")]
    pub is_file: Option<bool>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListKeysLightResponse {
    #[prost(message, repeated, tag = "1")]
    pub basic_key_info: Vec<BasicKeyInfo>,
    #[prost(bool, optional, tag = "2")]
    pub is_truncated: Option<bool>,
}

/// `ServicePort.Type`.
pub const PORT_RPC: i32 = 1;

#[derive(Clone, PartialEq, prost::Message)]
pub struct ServicePort {
    #[prost(int32, required, tag = "1")]
    pub r#type: i32,
    #[prost(uint32, required, tag = "2")]
    pub value: u32,
}

/// `OMRoleInfo`: what `ozone admin om roles` prints.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OmRoleInfo {
    #[prost(string, required, tag = "1")]
    pub node_id: String,
    #[prost(string, required, tag = "2")]
    pub server_role: String,
}

/// `ServiceInfo`: one per OM.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServiceInfo {
    #[prost(int32, required, tag = "1")]
    pub node_type: i32,
    #[prost(string, required, tag = "2")]
    pub hostname: String,
    #[prost(message, repeated, tag = "3")]
    pub service_ports: Vec<ServicePort>,
    #[prost(message, optional, tag = "4")]
    pub om_role: Option<OmRoleInfo>,
    /// `OzoneManagerVersion` the client adapts its calls to.
    #[prost(int32, optional, tag = "5")]
    pub om_version: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ServiceListResponse {
    #[prost(message, repeated, tag = "2")]
    pub service_info: Vec<ServiceInfo>,
}

/// `SetBucketPropertyRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SetBucketPropertyRequest {
    #[prost(message, optional, tag = "1")]
    pub bucket_args: Option<BucketArgs>,
}

/// `BucketArgs`: the bucket and the properties to change. The default replication config and
/// the encryption key are kept as raw bytes, only to refuse a request that carries them.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BucketArgs {
    #[prost(string, required, tag = "1")]
    pub volume_name: String,
    #[prost(string, required, tag = "2")]
    pub bucket_name: String,
    #[prost(bool, optional, tag = "5")]
    pub is_version_enabled: Option<bool>,
    #[prost(message, repeated, tag = "7")]
    pub metadata: Vec<KeyValue>,
    #[prost(bytes = "vec", optional, tag = "11")]
    pub default_replication_config: Option<Vec<u8>>,
    #[prost(bytes = "vec", optional, tag = "12")]
    pub bek_info: Option<Vec<u8>>,
    #[prost(uint64, optional, tag = "8")]
    pub quota_in_bytes: Option<u64>,
    #[prost(uint64, optional, tag = "9")]
    pub quota_in_namespace: Option<u64>,
    #[prost(string, optional, tag = "10")]
    pub owner_name: Option<String>,
}

/// `EchoRPCRequest` (freon `om-echo`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoRpcRequest {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub payload_req: Option<Vec<u8>>,
    #[prost(int32, optional, tag = "2")]
    pub payload_size_resp: Option<i32>,
    /// Ozone's default is true: only `om-echo --ratis` sends false.
    #[prost(bool, optional, tag = "3")]
    pub read_only: Option<bool>,
}

/// `EchoRPCResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoRpcResponse {
    #[prost(bytes = "vec", optional, tag = "1")]
    pub payload: Option<Vec<u8>>,
}
