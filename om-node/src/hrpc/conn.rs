//! One Hadoop RPC connection: preamble, connection context, then calls until the client closes.
//!
//! A reader loop takes frames off the socket; each call runs as its own task (several are in
//! flight per connection, Ozone's client pipelines them) and hands its whole response frame to
//! the one writer task, so replies go out as calls finish and never interleave. Pings are
//! dropped. Bytes that cannot be a frame get a FATAL reply and the connection closes; a call
//! whose header or body does not decode gets an ERROR reply and the connection stays.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Semaphore};

use super::admin::AdminCall;
use super::dispatch::{self, Call, Caller};
use super::frame::{self, FrameError, Preamble, NO_CALL};
use super::proto::admin::OmConfigurationRequest;
use super::proto::hadoop::{
    IpcConnectionContext, RequestHeader, RpcErrorCode, RpcRequestHeader, RpcStatus, RPC_CLOSE_CONNECTION,
    RPC_PROTOCOL_BUFFER,
};
use crate::state::OmNode;

/// Call ids with a meaning of their own.
const CALL_CONNECTION_CONTEXT: i32 = -3;
const CALL_PING: i32 = -4;
const CALL_SASL: i32 = -33;

/// A connection with nothing arriving for this long is closed. Ozone's client closes idle
/// connections after 10 s itself and pings every 60 s while it waits for a slow call.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Calls of one connection running at once; the reader waits for a free slot beyond that.
const CALLS_IN_FLIGHT: usize = 256;
/// Reply frames waiting for the writer.
const REPLY_QUEUE: usize = 64;

/// The class of every FATAL reply but the authentication ones. Any class not known to Ozone's
/// retry policy makes the client fail over to another OM.
const RPC_SERVER_EXCEPTION: &str = "org.apache.hadoop.ipc.RpcServerException";
/// Ozone's client tries each OM once and then gives up on this class: right for "this server
/// will not take your authentication".
const ACCESS_CONTROL_EXCEPTION: &str = "org.apache.hadoop.security.AccessControlException";

/// Serves a connection whose first bytes were `hrpc`, until the client closes it, it idles out,
/// a FATAL error, or `stop`.
pub async fn serve(node: Arc<OmNode>, tcp: TcpStream, remote: SocketAddr, mut stop: watch::Receiver<bool>) {
    let (rd, mut wr) = tcp.into_split();
    let mut rd = BufReader::new(rd);
    let (replies, mut outbox) = mpsc::channel::<Vec<u8>>(REPLY_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(frame) = outbox.recv().await {
            if let Err(e) = wr.write_all(&frame).await {
                tracing::debug!(%remote, error = %e, "Hadoop RPC client went away before its reply");
                return;
            }
        }
        let _ = wr.shutdown().await;
    });
    let reading = read_calls(&node, &mut rd, remote, &replies);
    let ended = tokio::select! {
        ended = reading => ended,
        _ = stop.wait_for(|s| *s) => Ended::Stopping,
    };
    match ended {
        Ended::Closed | Ended::Stopping => {}
        Ended::Fatal { call_id, detail, class, message } => {
            tracing::info!(%remote, %message, "Hadoop RPC connection refused or broken");
            let reply = frame::failure(call_id, RpcStatus::Fatal, detail, class, &message, None);
            let _ = replies.send(reply).await;
        }
    }
    // The writer ends once every running call has sent its reply and dropped its sender.
    drop(replies);
    let _ = writer.await;
}

/// How the reading side of a connection ended.
enum Ended {
    Closed,
    Stopping,
    Fatal { call_id: u32, detail: RpcErrorCode, class: &'static str, message: String },
}

impl Ended {
    fn fatal(detail: RpcErrorCode, message: impl Into<String>) -> Self {
        Ended::Fatal { call_id: NO_CALL, detail, class: RPC_SERVER_EXCEPTION, message: message.into() }
    }

    fn of_frame_error(e: FrameError) -> Self {
        match e {
            FrameError::Closed => Ended::Closed,
            FrameError::Io(_) => Ended::Closed,
            FrameError::TooLarge(_) | FrameError::Empty => {
                Ended::fatal(RpcErrorCode::FatalInvalidRpcHeader, format!("omring: {e}"))
            }
            FrameError::Undecodable { .. } => {
                Ended::fatal(RpcErrorCode::FatalInvalidRpcHeader, format!("omring cannot read this connection: {e}"))
            }
        }
    }
}

/// Why a preamble is refused, if it is.
fn check_preamble(p: Preamble, security_enabled: bool) -> Result<(), Ended> {
    if p.version != frame::IPC_VERSION {
        return Err(Ended::fatal(
            RpcErrorCode::FatalVersionMismatch,
            format!("Hadoop RPC version {} is not served: omring speaks version {}", p.version, frame::IPC_VERSION),
        ));
    }
    let refuse_auth = |message: String| Ended::Fatal {
        call_id: NO_CALL,
        detail: RpcErrorCode::FatalUnauthorized,
        class: ACCESS_CONTROL_EXCEPTION,
        message,
    };
    if security_enabled {
        return Err(refuse_auth(
            "omring serves Hadoop RPC with security off only (no SASL/Kerberos); with ozone.security.enabled=true \
             use omring's JSON API over TLS (the om-node CLI) on this port"
                .into(),
        ));
    }
    match p.auth_protocol {
        frame::AUTH_NONE => Ok(()),
        frame::AUTH_SASL => Err(refuse_auth(
            "omring's Hadoop RPC does not negotiate SASL (security is off): connect with auth NONE, \
             i.e. without Kerberos credentials or delegation tokens"
                .into(),
        )),
        other => Err(Ended::fatal(
            RpcErrorCode::FatalUnauthorized,
            format!("unknown Hadoop RPC auth protocol {other:#04x}; omring takes NONE (0)"),
        )),
    }
}

async fn read_calls<R>(node: &Arc<OmNode>, rd: &mut R, remote: SocketAddr, replies: &mpsc::Sender<Vec<u8>>) -> Ended
where
    R: tokio::io::AsyncRead + Unpin,
{
    let preamble = match tokio::time::timeout(IDLE_TIMEOUT, frame::read_preamble(rd)).await {
        Err(_) => return Ended::Closed,
        Ok(Err(e)) => return Ended::of_frame_error(e),
        Ok(Ok(p)) => p,
    };
    if let Err(refused) = check_preamble(preamble, node.settings.security.enabled) {
        return refused;
    }
    let slots = Arc::new(Semaphore::new(CALLS_IN_FLIGHT));
    let mut caller: Option<Arc<Caller>> = None;
    loop {
        let frame = match tokio::time::timeout(IDLE_TIMEOUT, frame::read_frame(rd)).await {
            Err(_) => {
                tracing::debug!(%remote, "idle Hadoop RPC connection closed");
                return Ended::Closed;
            }
            Ok(Err(e)) => return Ended::of_frame_error(e),
            Ok(Ok(f)) => f,
        };
        let mut buf = &frame[..];
        let header: RpcRequestHeader = match frame::next_delimited(&mut buf, "RpcRequestHeaderProto") {
            Ok(h) => h,
            Err(e) => return Ended::of_frame_error(e),
        };
        if header.rpc_op == Some(RPC_CLOSE_CONNECTION) {
            return Ended::Closed;
        }
        match (header.call_id, &caller) {
            (CALL_PING, _) => continue,
            (CALL_CONNECTION_CONTEXT, None) => {
                let context: IpcConnectionContext = match frame::next_delimited(&mut buf, "IpcConnectionContextProto") {
                    Ok(c) => c,
                    Err(e) => return Ended::of_frame_error(e),
                };
                let user = context
                    .user_info
                    .and_then(|u| u.effective_user)
                    .filter(|u| !u.is_empty())
                    .unwrap_or_else(|| "anonymous".into());
                caller = Some(Arc::new(Caller { user, remote }));
            }
            (CALL_CONNECTION_CONTEXT, Some(_)) => {
                return Ended::fatal(RpcErrorCode::FatalInvalidRpcHeader, "a second connection context was sent");
            }
            (CALL_SASL, _) => {
                return Ended::fatal(RpcErrorCode::FatalUnauthorized, "SASL was not negotiated on this connection");
            }
            (id, None) if id >= 0 => {
                return Ended::fatal(
                    RpcErrorCode::FatalInvalidRpcHeader,
                    format!("call {id} arrived before the connection context (call id -3)"),
                );
            }
            (id, Some(who)) if id >= 0 => {
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { return Ended::Closed };
                let call = match parse_call(&header, buf) {
                    Ok(call) => call,
                    Err(reply) => {
                        if replies.send(reply).await.is_err() {
                            return Ended::Closed;
                        }
                        continue;
                    }
                };
                let (node, who, replies) = (Arc::clone(node), Arc::clone(who), replies.clone());
                let client_id = header.client_id.clone();
                tokio::spawn(async move {
                    let reply = dispatch::answer(&node, &who, id, &client_id, call).await;
                    let _ = replies.send(reply).await;
                    drop(slot);
                });
            }
            (id, _) => {
                return Ended::fatal(RpcErrorCode::FatalInvalidRpcHeader, format!("unknown special call id {id}"));
            }
        }
    }
}

/// The protocols' names and the methods served of each.
pub const OM_PROTOCOL: &str = "org.apache.hadoop.ozone.om.protocol.OzoneManagerProtocol";
pub const OM_ADMIN_PROTOCOL: &str = "org.apache.hadoop.ozone.om.protocol.OMAdminProtocol";
const SUBMIT_REQUEST: &str = "submitRequest";
const GET_OM_CONFIGURATION: &str = "getOMConfiguration";
const DECOMMISSION: &str = "decommission";

/// A call's request header and body, or the ERROR reply that refuses it.
fn parse_call(header: &RpcRequestHeader, mut buf: &[u8]) -> Result<Call, Vec<u8>> {
    let error = |detail: RpcErrorCode, class: &str, message: String| {
        frame::failure(header.call_id as u32, RpcStatus::Error, detail, class, &message, Some(&header.client_id))
    };
    if header.rpc_kind.unwrap_or(RPC_PROTOCOL_BUFFER) != RPC_PROTOCOL_BUFFER {
        return Err(error(
            RpcErrorCode::NoSuchProtocol,
            "org.apache.hadoop.ipc.RpcNoSuchProtocolException",
            format!("rpcKind {:?} is not served: omring takes RPC_PROTOCOL_BUFFER calls only", header.rpc_kind),
        ));
    }
    let bad_body = |e: FrameError| {
        error(RpcErrorCode::RpcServer, dispatch::INVALID_PROTOBUF, format!("omring: call {}: {e}", header.call_id))
    };
    let request: RequestHeader = frame::next_delimited(&mut buf, "RequestHeaderProto").map_err(bad_body)?;
    match (request.declaring_class_protocol_name.as_str(), request.method_name.as_str()) {
        (OM_PROTOCOL, SUBMIT_REQUEST) => {
            let om = frame::next_delimited(&mut buf, "OMRequest").map_err(bad_body)?;
            Ok(Call::Om { retry_count: header.retry_count.unwrap_or(-1), request: Box::new(om) })
        }
        (OM_ADMIN_PROTOCOL, GET_OM_CONFIGURATION) => {
            let _: OmConfigurationRequest =
                frame::next_delimited(&mut buf, "OMConfigurationRequest").map_err(bad_body)?;
            Ok(Call::Admin(AdminCall::Configuration))
        }
        (OM_ADMIN_PROTOCOL, DECOMMISSION) => {
            let req = frame::next_delimited(&mut buf, "DecommissionOMRequest").map_err(bad_body)?;
            Ok(Call::Admin(AdminCall::Decommission(req)))
        }
        (protocol @ (OM_PROTOCOL | OM_ADMIN_PROTOCOL), method) => Err(error(
            RpcErrorCode::NoSuchMethod,
            "org.apache.hadoop.ipc.RpcNoSuchMethodException",
            format!("Unknown method {method} called on {protocol} protocol."),
        )),
        (protocol, _) => Err(error(
            RpcErrorCode::NoSuchProtocol,
            "org.apache.hadoop.ipc.RpcNoSuchProtocolException",
            format!("Unknown protocol: {protocol}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(p: Preamble, security: bool) -> Option<(RpcErrorCode, &'static str, String)> {
        match check_preamble(p, security) {
            Ok(()) => None,
            Err(Ended::Fatal { detail, class, message, .. }) => Some((detail, class, message)),
            Err(_) => panic!("a refusal is FATAL"),
        }
    }

    #[test]
    fn preambles_are_refused_with_the_reason() {
        let ok = Preamble { version: 9, service_class: 0, auth_protocol: frame::AUTH_NONE };
        assert!(refusal(ok, false).is_none());
        let (detail, class, message) = refusal(ok, true).expect("security on refuses Hadoop RPC");
        assert_eq!((detail, class), (RpcErrorCode::FatalUnauthorized, ACCESS_CONTROL_EXCEPTION));
        assert!(message.contains("SASL/Kerberos") && message.contains("JSON API"), "{message}");
        let sasl = Preamble { auth_protocol: frame::AUTH_SASL, ..ok };
        assert!(refusal(sasl, false).expect("SASL refused").2.contains("SASL"));
        let old = Preamble { version: 7, ..ok };
        assert_eq!(refusal(old, false).expect("version refused").0, RpcErrorCode::FatalVersionMismatch);
    }
}
