//! The part of the kubelet's HTTPS API the API server proxies to: container logs, so that
//! `kubectl logs [-f] [--previous] [--tail N]` works on the agent's pods. (exec, attach and
//! port-forward need SPDY streams and are not served; `omring-node-agent exec` stands in.)
//!
//! Each Node gets a listener on its address (port 10250 when free) with a self-signed
//! certificate; the API server does not verify kubelet serving certificates unless
//! `--kubelet-certificate-authority` is set, which the local control plane does not set.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum KubeletApiError {
    #[error("certificate: {0}")]
    Cert(String),
    #[error("listening on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
}

#[derive(Clone)]
struct Ctx {
    logs_dir: PathBuf,
    pods_dir: PathBuf,
}

/// Binds one listener per node address (10250, else any free port) and serves the API on all of
/// them; returns the port of each address.
pub async fn start(ips: &[IpAddr], logs_dir: PathBuf, pods_dir: PathBuf) -> Result<Vec<u16>, KubeletApiError> {
    let mut sans: Vec<String> = ips.iter().map(|ip| ip.to_string()).collect();
    sans.push("localhost".into());
    let key = rcgen::generate_simple_self_signed(sans).map_err(|e| KubeletApiError::Cert(e.to_string()))?;
    let cert_der = key.cert.der().clone();
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| KubeletApiError::Cert(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![cert_der], key_der)
        .map_err(|e| KubeletApiError::Cert(e.to_string()))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/containerLogs/{ns}/{pod}/{container}", get(container_logs))
        .with_state(Ctx { logs_dir, pods_dir });
    let mut ports = Vec::new();
    for ip in ips {
        let listener = match TcpListener::bind(SocketAddr::new(*ip, 10250)).await {
            Ok(l) => l,
            Err(_) => TcpListener::bind(SocketAddr::new(*ip, 0))
                .await
                .map_err(|source| KubeletApiError::Bind { addr: format!("{ip}:0"), source })?,
        };
        ports.push(listener.local_addr().map(|a| a.port()).unwrap_or(10250));
        tokio::spawn(serve(listener, acceptor.clone(), app.clone()));
    }
    Ok(ports)
}

async fn serve(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor, app: Router) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let svc = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                .await;
        });
    }
}

#[derive(Debug, serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct LogQuery {
    follow: Option<bool>,
    previous: Option<bool>,
    tail_lines: Option<usize>,
    limit_bytes: Option<usize>,
}

/// The log directory of the newest incarnation of a pod's container.
fn container_dir(logs_dir: &Path, ns: &str, pod: &str, container: &str) -> Option<PathBuf> {
    let prefix = format!("{ns}_{pod}_");
    std::fs::read_dir(logs_dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .filter_map(|e| Some((e.metadata().and_then(|m| m.modified()).ok()?, e.path().join(container))))
        .filter(|(_, p)| p.is_dir())
        .max()
        .map(|(_, p)| p)
}

/// Run numbers of the container's log files, ascending.
fn runs(dir: &Path) -> Vec<u64> {
    let mut n: Vec<u64> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten().filter_map(|e| e.file_name().to_string_lossy().strip_suffix(".log")?.parse().ok()).collect()
        })
        .unwrap_or_default();
    n.sort_unstable();
    n
}

fn tail(bytes: &[u8], lines: usize) -> &[u8] {
    let mut count = 0;
    let end = if bytes.ends_with(b"\n") { bytes.len() - 1 } else { bytes.len() };
    for i in (0..end).rev() {
        if bytes[i] == b'\n' {
            count += 1;
            if count == lines {
                return &bytes[i + 1..];
            }
        }
    }
    bytes
}

async fn container_logs(
    State(ctx): State<Ctx>,
    UrlPath((ns, pod, container)): UrlPath<(String, String, String)>,
    Query(q): Query<LogQuery>,
) -> Response {
    let Some(dir) = container_dir(&ctx.logs_dir, &ns, &pod, &container) else {
        return (StatusCode::NOT_FOUND, format!("container {container} of pod {ns}/{pod} not found\n")).into_response();
    };
    let all_runs = runs(&dir);
    let pick = if q.previous.unwrap_or(false) { all_runs.len().checked_sub(2) } else { all_runs.len().checked_sub(1) };
    let Some(run) = pick.map(|i| all_runs[i]) else {
        return (
            StatusCode::BAD_REQUEST,
            format!("previous terminated container \"{container}\" in pod \"{pod}\" not found\n"),
        )
            .into_response();
    };
    let path = dir.join(format!("{run}.log"));
    let bytes = tokio::fs::read(&path).await.unwrap_or_default();
    let mut first = match q.tail_lines {
        Some(n) => tail(&bytes, n).to_vec(),
        None => bytes.clone(),
    };
    if let Some(limit) = q.limit_bytes {
        first.truncate(limit);
    }
    if !q.follow.unwrap_or(false) || q.previous.unwrap_or(false) {
        return (StatusCode::OK, first).into_response();
    }
    // Follow: send what is appended until the container stops running (its record is gone) or
    // runs again (a newer log).
    let offset = bytes.len() as u64;
    let record = dir
        .parent()
        .and_then(|d| d.file_name())
        .map(|pod_dir| ctx.pods_dir.join(pod_dir).join(format!("{container}.json")))
        .unwrap_or_default();
    let stream =
        futures::stream::unfold((path, dir, run, offset, Some(first)), move |(path, dir, run, offset, first)| {
            let record = record.clone();
            async move {
                if let Some(f) = first {
                    return Some((Ok::<_, std::io::Error>(f), (path, dir, run, offset, None)));
                }
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let len = tokio::fs::metadata(&path).await.map(|m| m.len()).unwrap_or(0);
                    if len > offset {
                        let data = match tokio::fs::read(&path).await {
                            Ok(d) => d,
                            Err(e) => return Some((Err(e), (path, dir, run, offset, None))),
                        };
                        let chunk = data.get(offset as usize..).unwrap_or_default().to_vec();
                        let new_offset = data.len() as u64;
                        return Some((Ok(chunk), (path, dir, run, new_offset, None)));
                    }
                    let newer = runs(&dir).last().is_some_and(|n| *n > run);
                    if newer || !record.exists() {
                        return None;
                    }
                }
            }
        });
    (StatusCode::OK, axum::body::Body::from_stream(stream)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(tail(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(tail(b"a\n", 5), b"a\n");
        assert_eq!(tail(b"", 1), b"");
    }
}
