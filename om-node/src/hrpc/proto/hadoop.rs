//! Hadoop IPC's own messages (package `hadoop.common`): the headers around every call and the
//! connection context. Field numbers are those of Hadoop 3.4.3's `RpcHeader.proto`,
//! `IpcConnectionContext.proto` and `ProtobufRpcEngine2.proto` (the client Ozone 2.2.0 runs);
//! fields omring never reads (tracing, caller context, router state) are left out and skipped
//! when they arrive.

/// `RpcKindProto`: how the call's payload is serialized. Ozone always sends protobuf.
pub const RPC_PROTOCOL_BUFFER: i32 = 2;

/// `OperationProto::RPC_CLOSE_CONNECTION`: the client asks the server to close.
pub const RPC_CLOSE_CONNECTION: i32 = 2;

/// `RpcRequestHeaderProto`: first part of every request frame.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcRequestHeader {
    #[prost(int32, optional, tag = "1")]
    pub rpc_kind: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub rpc_op: Option<i32>,
    /// ≥ 0 for calls; -3 the connection context, -4 a ping, -33 SASL.
    #[prost(sint32, required, tag = "3")]
    pub call_id: i32,
    /// 16 bytes, one per Java `Client` object; with the call id it names a call across retries.
    #[prost(bytes = "vec", required, tag = "4")]
    pub client_id: Vec<u8>,
    #[prost(sint32, optional, tag = "5")]
    pub retry_count: Option<i32>,
}

/// `RpcResponseHeaderProto::RpcStatusProto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum RpcStatus {
    Success = 0,
    /// The call failed; the connection stays.
    Error = 1,
    /// The connection is unusable: the client fails all its calls and closes it.
    Fatal = 2,
}

/// `RpcResponseHeaderProto::RpcErrorCodeProto` values omring sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum RpcErrorCode {
    Application = 1,
    NoSuchMethod = 2,
    NoSuchProtocol = 3,
    RpcServer = 4,
    FatalInvalidRpcHeader = 12,
    FatalDeserializingRequest = 13,
    FatalVersionMismatch = 14,
    FatalUnauthorized = 15,
}

/// `RpcResponseHeaderProto`: first (on ERROR and FATAL: only) part of every response frame.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcResponseHeader {
    /// The request's call id as unsigned (Hadoop's `-1` for "no call" is `u32::MAX`).
    #[prost(uint32, required, tag = "1")]
    pub call_id: u32,
    #[prost(int32, required, tag = "2")]
    pub status: i32,
    #[prost(uint32, optional, tag = "3")]
    pub server_ipc_version_num: Option<u32>,
    #[prost(string, optional, tag = "4")]
    pub exception_class_name: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub error_msg: Option<String>,
    #[prost(int32, optional, tag = "6")]
    pub error_detail: Option<i32>,
    /// Echoed; the client checks it equals its own id when present.
    #[prost(bytes = "vec", optional, tag = "7")]
    pub client_id: Option<Vec<u8>>,
    #[prost(sint32, optional, tag = "8")]
    pub retry_count: Option<i32>,
}

/// `RequestHeaderProto` (ProtobufRpcEngine2): which protocol and method a call is for.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestHeader {
    #[prost(string, required, tag = "1")]
    pub method_name: String,
    #[prost(string, required, tag = "2")]
    pub declaring_class_protocol_name: String,
    #[prost(uint64, required, tag = "3")]
    pub client_protocol_version: u64,
}

/// `UserInformationProto`: with security off, the only statement of who calls.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserInformation {
    #[prost(string, optional, tag = "1")]
    pub effective_user: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub real_user: Option<String>,
}

/// `IpcConnectionContextProto`: sent once, as call id -3, right after the preamble.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IpcConnectionContext {
    #[prost(message, optional, tag = "2")]
    pub user_info: Option<UserInformation>,
    #[prost(string, optional, tag = "3")]
    pub protocol: Option<String>,
}
