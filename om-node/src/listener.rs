//! The node's accept loops: plain TCP or TLS, one HTTP/1.1 connection per socket, served by an
//! axum router with the connection's facts ([`ConnInfo`]) as a request extension.
//!
//! A listener may also serve a second protocol told apart by a connection's first bytes
//! ([`Sniffed`]; the client port's Hadoop RPC, which starts with `hrpc`): those bytes are only
//! peeked at, so every other connection reaches HTTP or TLS exactly as it arrived.
//!
//! A TLS listener logs every refused handshake (no certificate, another CA's certificate) with
//! the remote address; the peer listener also refuses ring certificates outside the node group.
//! Stopping waits for requests in flight, up to a deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use futures::future::BoxFuture;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::security::identity::{self, Principal};

/// What the handlers may know about a request's connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    /// The verified client certificate's subject.
    pub certificate: Option<Principal>,
}

/// How a listener secures its connections.
#[derive(Clone)]
pub enum PortSecurity {
    Plain,
    Tls {
        config: Arc<rustls::ServerConfig>,
        /// Only certificates carrying this group (O) may talk (the peer port's node group).
        require_group: Option<String>,
    },
}

/// A protocol served beside HTTP on the same port: connections whose first bytes are `magic`
/// go to `serve` (before any TLS), all others to HTTP.
#[derive(Clone)]
pub struct Sniffed {
    pub magic: &'static [u8],
    pub serve: Arc<dyn Fn(TcpStream, SocketAddr) -> BoxFuture<'static, ()> + Send + Sync>,
}

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may take to send the bytes that tell the protocols apart; after that
/// it goes to HTTP, which has timeouts of its own.
const SNIFF_TIMEOUT: Duration = Duration::from_secs(30);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    security: PortSecurity,
    router: Router,
    sniffed: Option<Sniffed>,
    mut stop: watch::Receiver<bool>,
    purpose: &'static str,
) {
    let graceful = GracefulShutdown::new();
    let acceptor = match &security {
        PortSecurity::Tls { config, .. } => Some(TlsAcceptor::from(Arc::clone(config))),
        PortSecurity::Plain => None,
    };
    let require_group = match &security {
        PortSecurity::Tls { require_group, .. } => require_group.clone(),
        PortSecurity::Plain => None,
    };
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    tokio::pin!(stopped);
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(purpose, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stopped => break,
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        let require_group = require_group.clone();
        let sniffed = sniffed.clone();
        tokio::spawn(async move {
            if let Some(other) = sniffed {
                if starts_with(&tcp, other.magic).await {
                    (other.serve)(tcp, remote).await;
                    return;
                }
            }
            match acceptor {
                None => {
                    let info = ConnInfo { remote, certificate: None };
                    serve_connection(TokioIo::new(tcp), router, info, watcher).await;
                }
                Some(acceptor) => {
                    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::warn!(purpose, %remote, error = %e, "refused a TLS connection");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(purpose, %remote, "TLS handshake timed out");
                            return;
                        }
                    };
                    let certificate = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .and_then(identity::from_certificate);
                    if let Some(group) = &require_group {
                        if !certificate.as_ref().is_some_and(|p| p.in_group(group)) {
                            tracing::warn!(
                                purpose,
                                %remote,
                                subject = ?certificate.as_ref().map(|p| (&p.user, &p.groups)),
                                required_group = %group,
                                "refused a connection: the certificate is not a ring member's"
                            );
                            return;
                        }
                    }
                    let info = ConnInfo { remote, certificate };
                    serve_connection(TokioIo::new(tls), router, info, watcher).await;
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::debug!(purpose, "requests still in flight at shutdown were dropped");
    }
}

/// Whether the connection's first bytes are `magic`, without consuming them. Decided as soon as
/// the bytes so far differ from `magic` (an HTTP method or a TLS record at once); a connection
/// that closes or stays silent is not a match.
async fn starts_with(tcp: &TcpStream, magic: &[u8]) -> bool {
    let deadline = tokio::time::Instant::now() + SNIFF_TIMEOUT;
    let mut buf = vec![0u8; magic.len()];
    loop {
        let n = match tokio::time::timeout_at(deadline, tcp.peek(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) | Err(_) => return false,
        };
        if n == 0 || buf[..n] != magic[..n] {
            return false;
        }
        if n == magic.len() {
            return true;
        }
        // A prefix of `magic` so far: peek returns at once while those bytes wait, so pause
        // before looking again (only a client sending `h`, `hr`, `hrp` gets here).
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn serve_connection<I>(
    io: TokioIo<I>,
    router: Router,
    info: ConnInfo,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(router.layer(axum::Extension(info)));
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .serve_connection(io, service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
