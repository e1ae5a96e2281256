//! Hadoop RPC's framing: the 7-byte connection preamble, 4-byte big-endian length frames, the
//! varint-delimited messages inside them, and response frames.
//!
//! Everything here reads bytes from a client, so nothing panics on them: a frame that cannot be
//! a frame is a [`FrameError`] the connection answers with a FATAL reply before closing.

use bytes::Buf;
use prost::Message;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::proto::hadoop::{RpcErrorCode, RpcResponseHeader, RpcStatus};

/// `hrpc`: the first bytes of every Hadoop RPC connection.
pub const MAGIC: &[u8; 4] = b"hrpc";
/// The IPC version Hadoop 3 clients speak.
pub const IPC_VERSION: u8 = 9;
/// Auth protocol byte: no authentication (security off).
pub const AUTH_NONE: u8 = 0;
/// Auth protocol byte of SASL (-33 as a signed byte).
pub const AUTH_SASL: u8 = 0xDF;
/// Largest request frame accepted. Ozone's own server allows 128 MiB
/// (`ipc.maximum.data.length`); no OM request of the served kinds comes near this.
pub const MAX_FRAME: u32 = 64 << 20;
/// The call id of replies that answer no particular call (Hadoop's -1 as unsigned).
pub const NO_CALL: u32 = u32::MAX;

/// What is wrong with the bytes of a connection.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("reading from the client: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame length {0} is over the limit of {MAX_FRAME} bytes")]
    TooLarge(u32),
    #[error("frame length 0: a frame holds at least an RpcRequestHeaderProto")]
    Empty,
    #[error("{what} does not decode: {reason}")]
    Undecodable { what: &'static str, reason: String },
}

/// The connection preamble after `hrpc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preamble {
    pub version: u8,
    pub service_class: u8,
    pub auth_protocol: u8,
}

/// Reads the 7-byte preamble; the caller checks version and auth.
pub async fn read_preamble<R: AsyncRead + Unpin>(r: &mut R) -> Result<Preamble, FrameError> {
    let mut buf = [0u8; 7];
    read_exact(r, &mut buf).await?;
    if &buf[..4] != MAGIC {
        return Err(FrameError::Undecodable {
            what: "the connection preamble",
            reason: format!("starts with {:02x?}, not \"hrpc\"", &buf[..4]),
        });
    }
    Ok(Preamble { version: buf[4], service_class: buf[5], auth_protocol: buf[6] })
}

async fn read_exact<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> Result<(), FrameError> {
    match r.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(FrameError::Closed),
        Err(e) => Err(FrameError::Io(e)),
    }
}

/// Reads one frame's length, checks it against [`MAX_FRAME`], then reads the frame.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Vec<u8>, FrameError> {
    let mut len = [0u8; 4];
    read_exact(r, &mut len).await?;
    let len = u32::from_be_bytes(len);
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    if len == 0 {
        return Err(FrameError::Empty);
    }
    let mut frame = vec![0u8; len as usize];
    read_exact(r, &mut frame).await?;
    Ok(frame)
}

/// Decodes the next varint-delimited message of a frame, advancing `buf` past it.
pub fn next_delimited<M: Message + Default>(buf: &mut &[u8], what: &'static str) -> Result<M, FrameError> {
    if !buf.has_remaining() {
        return Err(FrameError::Undecodable { what, reason: "missing: the frame ended before it".into() });
    }
    M::decode_length_delimited(buf).map_err(|e| FrameError::Undecodable { what, reason: e.to_string() })
}

/// A whole response frame: length, the delimited header, and on SUCCESS the delimited body.
pub fn response_frame(header: &RpcResponseHeader, body: Option<&[u8]>) -> Vec<u8> {
    let mut inner = header.encode_length_delimited_to_vec();
    if let Some(body) = body {
        prost::encoding::encode_varint(body.len() as u64, &mut inner);
        inner.extend_from_slice(body);
    }
    let mut frame = Vec::with_capacity(4 + inner.len());
    frame.extend_from_slice(&(inner.len() as u32).to_be_bytes());
    frame.extend_from_slice(&inner);
    frame
}

/// A SUCCESS reply carrying `body` (an encoded response message).
pub fn success(call_id: i32, client_id: &[u8], body: &[u8]) -> Vec<u8> {
    let header = RpcResponseHeader {
        call_id: call_id as u32,
        status: RpcStatus::Success as i32,
        server_ipc_version_num: Some(u32::from(IPC_VERSION)),
        client_id: Some(client_id.to_vec()),
        ..Default::default()
    };
    response_frame(&header, Some(body))
}

/// An ERROR (the call failed, the connection stays) or FATAL (the connection closes) reply:
/// the header only, as the client requires.
pub fn failure(
    call_id: u32,
    status: RpcStatus,
    detail: RpcErrorCode,
    exception_class: &str,
    message: &str,
    client_id: Option<&[u8]>,
) -> Vec<u8> {
    let header = RpcResponseHeader {
        call_id,
        status: status as i32,
        server_ipc_version_num: Some(u32::from(IPC_VERSION)),
        exception_class_name: Some(exception_class.to_string()),
        error_msg: Some(message.to_string()),
        error_detail: Some(detail as i32),
        client_id: client_id.map(<[u8]>::to_vec),
        retry_count: None,
    };
    response_frame(&header, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hrpc::proto::hadoop::RpcRequestHeader;

    #[tokio::test]
    async fn frames_over_the_limit_or_empty_are_refused_before_reading_them() {
        let mut big: &[u8] = &(MAX_FRAME + 1).to_be_bytes();
        assert!(matches!(read_frame(&mut big).await, Err(FrameError::TooLarge(_))));
        let mut empty: &[u8] = &0u32.to_be_bytes();
        assert!(matches!(read_frame(&mut empty).await, Err(FrameError::Empty)));
        let mut short: &[u8] = &[0, 0, 0, 9, 1, 2];
        assert!(matches!(read_frame(&mut short).await, Err(FrameError::Closed)));
    }

    #[test]
    fn delimited_messages_decode_in_order_and_garbage_is_an_error() {
        let h = RpcRequestHeader { call_id: -3, client_id: vec![7; 16], retry_count: Some(-1), ..Default::default() };
        let bytes = h.encode_length_delimited_to_vec();
        // sint32 -3 is zig-zag 5: field 3 varint → 0x18 0x05.
        assert!(bytes.windows(2).any(|w| w == [0x18, 0x05]), "{bytes:02x?}");
        let mut buf = &bytes[..];
        let back: RpcRequestHeader = next_delimited(&mut buf, "header").expect("decodes");
        assert_eq!(back, h);
        assert!(buf.is_empty());
        let err = next_delimited::<RpcRequestHeader>(&mut buf, "body").expect_err("nothing left");
        assert!(err.to_string().contains("body"), "{err}");
        let mut garbage: &[u8] = &[0x7f, 0xff, 0xff];
        assert!(next_delimited::<RpcRequestHeader>(&mut garbage, "header").is_err());
    }

    #[test]
    fn error_replies_have_no_body_and_success_replies_one() {
        let f = failure(5, RpcStatus::Error, RpcErrorCode::Application, "X", "m", None);
        let len = u32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize;
        assert_eq!(len, f.len() - 4);
        let mut rest = &f[4..];
        let h: RpcResponseHeader = next_delimited(&mut rest, "h").expect("header");
        assert_eq!((h.call_id, h.status), (5, RpcStatus::Error as i32));
        assert!(rest.is_empty(), "no body after an ERROR header");
        let s = success(6, &[1; 16], b"\x08\x01");
        let mut rest = &s[4..];
        let h: RpcResponseHeader = next_delimited(&mut rest, "h").expect("header");
        assert_eq!((h.call_id, h.client_id.as_deref()), (6, Some(&[1u8; 16][..])));
        assert_eq!(rest, &[2, 0x08, 0x01]);
    }
}
