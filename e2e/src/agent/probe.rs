//! Running a container's probes (httpGet, tcpSocket, exec) the way the kubelet does.

use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Probe timing with the Kubernetes defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl Timing {
    pub fn of(p: &Probe) -> Self {
        let secs = |v: Option<i32>, d: i32| Duration::from_secs(v.unwrap_or(d).max(0) as u64);
        Self {
            initial_delay: secs(p.initial_delay_seconds, 0),
            period: secs(p.period_seconds, 10).max(Duration::from_secs(1)),
            timeout: secs(p.timeout_seconds, 1).max(Duration::from_secs(1)),
            success_threshold: p.success_threshold.unwrap_or(1).max(1) as u32,
            failure_threshold: p.failure_threshold.unwrap_or(3).max(1) as u32,
        }
    }
}

/// What one probe run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure(String),
}

/// How to run an exec probe: the agent supplies the container's environment.
pub type ExecRunner<'a> = &'a (dyn Fn(Vec<String>, Duration) -> futures::future::BoxFuture<'static, Outcome> + Sync);

/// Runs `probe` once against a container of a pod at `pod_ip`.
pub async fn run_once(
    probe: &Probe,
    container: &Container,
    pod_ip: &str,
    http: &reqwest::Client,
    exec: ExecRunner<'_>,
) -> Outcome {
    let timing = Timing::of(probe);
    if let Some(h) = &probe.http_get {
        let Some(port) = resolve_port(&h.port, container) else {
            return Outcome::Failure(format!("unknown port {:?}", h.port));
        };
        let scheme = h.scheme.as_deref().unwrap_or("HTTP").to_ascii_lowercase();
        if scheme != "http" {
            return Outcome::Failure(format!("scheme {scheme} is not supported by the omring node agent"));
        }
        let host = h.host.as_deref().filter(|s| !s.is_empty()).unwrap_or(pod_ip);
        let path = h.path.as_deref().unwrap_or("/");
        let url = format!("http://{host}:{port}{}{path}", if path.starts_with('/') { "" } else { "/" });
        let mut req = http.get(&url).timeout(timing.timeout).header("User-Agent", "kube-probe/1.34");
        for hh in h.http_headers.iter().flatten() {
            req = req.header(hh.name.as_str(), hh.value.as_str());
        }
        return match req.send().await {
            Ok(r) if (200..400).contains(&r.status().as_u16()) => Outcome::Success,
            Ok(r) => Outcome::Failure(format!("HTTP probe failed with statuscode: {}", r.status().as_u16())),
            Err(e) => Outcome::Failure(format!("Get \"{url}\": {e}")),
        };
    }
    if let Some(t) = &probe.tcp_socket {
        let Some(port) = resolve_port(&t.port, container) else {
            return Outcome::Failure(format!("unknown port {:?}", t.port));
        };
        let host = t.host.as_deref().filter(|s| !s.is_empty()).unwrap_or(pod_ip);
        let addr: Result<SocketAddr, _> = format!("{host}:{port}").parse();
        let Ok(addr) = addr else { return Outcome::Failure(format!("bad address {host}:{port}")) };
        return match tokio::time::timeout(timing.timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => Outcome::Success,
            Ok(Err(e)) => Outcome::Failure(format!("dial tcp {addr}: {e}")),
            Err(_) => Outcome::Failure(format!("dial tcp {addr}: timeout")),
        };
    }
    if let Some(e) = &probe.exec {
        let cmd = e.command.clone().unwrap_or_default();
        if cmd.is_empty() {
            return Outcome::Failure("exec probe without a command".into());
        }
        return exec(cmd, timing.timeout).await;
    }
    Outcome::Failure("probe type not supported by the omring node agent (grpc?)".into())
}

/// A numeric port, or the container port with that name.
pub fn resolve_port(port: &IntOrString, c: &Container) -> Option<u16> {
    match port {
        IntOrString::Int(p) => u16::try_from(*p).ok().filter(|p| *p > 0),
        IntOrString::String(name) => name.parse::<u16>().ok().or_else(|| {
            c.ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok())
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerPort, HTTPGetAction, TCPSocketAction};

    fn container() -> Container {
        Container {
            name: "om".into(),
            ports: Some(vec![ContainerPort { name: Some("http".into()), container_port: 0, ..Default::default() }]),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn http_and_tcp_probes_against_a_real_listener() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum_like_server(listener);
        let server = tokio::spawn(app);
        let mut c = container();
        c.ports.as_mut().unwrap()[0].container_port = port as i32;
        let http = reqwest::Client::new();
        let no_exec = |_: Vec<String>, _: Duration| -> futures::future::BoxFuture<'static, Outcome> {
            Box::pin(async { Outcome::Failure("no".into()) })
        };
        let get = |path: &str| Probe {
            http_get: Some(HTTPGetAction {
                path: Some(path.into()),
                port: IntOrString::String("http".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(run_once(&get("/ok"), &c, "127.0.0.1", &http, &no_exec).await, Outcome::Success);
        assert!(
            matches!(run_once(&get("/bad"), &c, "127.0.0.1", &http, &no_exec).await, Outcome::Failure(m) if m.contains("503"))
        );
        let tcp = Probe {
            tcp_socket: Some(TCPSocketAction { port: IntOrString::Int(port as i32), ..Default::default() }),
            ..Default::default()
        };
        assert_eq!(run_once(&tcp, &c, "127.0.0.1", &http, &no_exec).await, Outcome::Success);
        server.abort();
        let _ = server.await;
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let closed = Probe {
            tcp_socket: Some(TCPSocketAction { port: IntOrString::Int(free as i32), ..Default::default() }),
            ..Default::default()
        };
        assert!(matches!(run_once(&closed, &c, "127.0.0.1", &http, &no_exec).await, Outcome::Failure(_)));
        assert_eq!(resolve_port(&IntOrString::String("nope".into()), &c), None);
    }

    /// A tiny HTTP/1.0 server: 200 for /ok, 503 otherwise.
    async fn axum_like_server(l: tokio::net::TcpListener) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let Ok((mut s, _)) = l.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]);
                let status = if req.starts_with("GET /ok ") { "200 OK" } else { "503 Service Unavailable" };
                let _ = s.write_all(format!("HTTP/1.0 {status}\r\ncontent-length: 0\r\n\r\n").as_bytes()).await;
            });
        }
    }
}
