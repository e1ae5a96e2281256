//! OzoneManagerProtocol and OMAdminProtocol over Hadoop RPC, so Apache Ozone's own clients
//! (`ozone sh`, `ozone admin om roles|transfer|decommission`, the Java `OzoneClient`) work
//! against the ring unchanged.
//!
//! It shares the client port (`ozone.om.address`) with the JSON API: the listener looks at a
//! connection's first bytes and hands those starting with `hrpc` here ([`sniffer`]). Security
//! must be off: Hadoop RPC's authentication is SASL (Kerberos, delegation tokens), which omring
//! does not serve, so with `ozone.security.enabled=true` every Hadoop RPC connection gets a
//! FATAL reply saying so, and clients use the JSON API over TLS.
//!
//! Layers: [`frame`] (bytes ↔ frames), [`conn`] (a connection's life), [`dispatch`], [`keys`]
//! and [`acls`] (OMRequest ↔ the node's operations), [`admin`] (OMAdminProtocol), [`convert`] and [`status`] (the translation
//! tables), [`proto`] (the messages, hand-written prost structs).

mod acls;
pub mod admin;
pub mod conn;
pub mod convert;
pub mod dispatch;
pub mod frame;
mod fs;
mod keys;
pub mod proto;
pub mod status;

use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::listener::Sniffed;
use crate::state::OmNode;

/// The listener's hook for connections that start with `hrpc`.
pub fn sniffer(node: Arc<OmNode>, stop: watch::Receiver<bool>) -> Sniffed {
    Sniffed {
        magic: frame::MAGIC,
        serve: Arc::new(move |tcp: TcpStream, remote: SocketAddr| -> BoxFuture<'static, ()> {
            let (node, stop) = (Arc::clone(&node), stop.clone());
            Box::pin(conn::serve(node, tcp, remote, stop))
        }),
    }
}
