//! The failover client against scripted fake nodes on real sockets.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use om_client::config::{NodeAddress, RetryPolicy, ServiceConfig};
use om_client::wire::*;
use om_client::{ClientError, FailoverClient};

/// What a fake node answers, request by request (the last answer repeats).
#[derive(Clone)]
enum Answer {
    Ok,
    NotLeader(Option<&'static str>),
    NotReady,
    Fail(ErrorCode),
}

#[derive(Clone)]
struct Fake {
    script: Arc<Vec<Answer>>,
    calls: Arc<AtomicUsize>,
    request_ids: Arc<Mutex<Vec<String>>>,
}

async fn handle(State(f): State<Fake>, Json(req): Json<WriteRequest>) -> Response {
    let n = f.calls.fetch_add(1, Ordering::SeqCst);
    f.request_ids.lock().unwrap().push(req.request_id);
    let answer = f.script.get(n).or(f.script.last()).cloned().unwrap_or(Answer::Ok);
    let err = |code: ErrorCode, leader: Option<&str>| {
        let mut e = ApiError::new(code, "scripted");
        e.leader_id = leader.map(str::to_string);
        (StatusCode::from_u16(code.http_status()).unwrap(), Json(e)).into_response()
    };
    match answer {
        Answer::Ok => {
            Json(WriteResponse { outcome: WriteOutcome::Deleted, log_index: 1, replayed: false }).into_response()
        }
        Answer::NotLeader(l) => err(ErrorCode::NotLeader, l),
        Answer::NotReady => err(ErrorCode::LeaderNotReady, None),
        Answer::Fail(c) => err(c, None),
    }
}

/// Stops a fake node for good: listener and every open connection.
struct Stop(tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>);

impl Stop {
    async fn stop(self) {
        let _ = self.0.send(());
        let _ = self.1.await;
    }
}

async fn spawn_fake(script: Vec<Answer>) -> (SocketAddr, Fake, Stop) {
    spawn_fake_at("127.0.0.1:0".parse().unwrap(), script).await
}

async fn spawn_fake_at(at: SocketAddr, script: Vec<Answer>) -> (SocketAddr, Fake, Stop) {
    let fake = Fake { script: Arc::new(script), calls: Arc::default(), request_ids: Arc::default() };
    let app = Router::new().route(PATH_WRITE, post(handle)).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind(at).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let h = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (addr, fake, Stop(tx, h))
}

fn node(id: &str, host: &str, port: u16) -> NodeAddress {
    NodeAddress {
        node_id: id.into(),
        host: host.into(),
        rpc_port: port,
        ratis_port: 1,
        http_host: host.into(),
        http_port: 1,
    }
}

fn service(nodes: Vec<NodeAddress>) -> ServiceConfig {
    ServiceConfig { service_id: "svc".into(), nodes, decommissioned: vec![] }
}

fn policy(max: u32) -> RetryPolicy {
    RetryPolicy { max_attempts: max, wait_between_rounds: Duration::from_millis(20) }
}

fn op() -> WriteOp {
    WriteOp::DeleteVolume { volume: "v".into() }
}

#[tokio::test]
async fn follows_not_leader_hints_and_reuses_the_request_id() {
    let (a, fa, _h1) = spawn_fake(vec![Answer::NotLeader(Some("om2"))]).await;
    let (b, fb, _h2) = spawn_fake(vec![Answer::Ok]).await;
    let svc = service(vec![node("om1", "127.0.0.1", a.port()), node("om2", "127.0.0.1", b.port())]);
    let client = FailoverClient::builder(svc).retry_policy(policy(10)).build().unwrap();
    for _ in 0..3 {
        client.write(op()).await.unwrap();
    }
    assert_eq!(fb.calls.load(Ordering::SeqCst), 3);
    // once the leader is known the client goes there first
    assert!(fa.calls.load(Ordering::SeqCst) <= 1);
    let first_a = fa.request_ids.lock().unwrap().first().cloned();
    let first_b = fb.request_ids.lock().unwrap().first().cloned();
    if first_a.is_some() {
        assert_eq!(first_a, first_b, "a retry carries the same request id");
    }
}

#[tokio::test]
async fn retries_the_same_node_while_the_leader_is_not_ready() {
    let (a, fa, _h) = spawn_fake(vec![Answer::NotReady, Answer::NotReady, Answer::Ok]).await;
    let client = FailoverClient::builder(service(vec![node("om1", "127.0.0.1", a.port())]))
        .retry_policy(policy(10))
        .build()
        .unwrap();
    client.write(op()).await.unwrap();
    assert_eq!(fa.calls.load(Ordering::SeqCst), 3);
    let ids = fa.request_ids.lock().unwrap().clone();
    assert!(ids.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn non_retriable_errors_come_back_at_once() {
    let (a, fa, _h) = spawn_fake(vec![Answer::Fail(ErrorCode::VolumeNotFound)]).await;
    let client = FailoverClient::builder(service(vec![node("om1", "127.0.0.1", a.port())]))
        .retry_policy(policy(10))
        .build()
        .unwrap();
    let err = client.write(op()).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::VolumeNotFound));
    assert_eq!(fa.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn gives_up_after_max_attempts_naming_the_last_error() {
    // nothing listens on these ports
    let dead: Vec<u16> =
        (0..2).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()).collect();
    let svc = service(vec![node("om1", "127.0.0.1", dead[0]), node("om2", "127.0.0.1", dead[1])]);
    let client = FailoverClient::builder(svc).retry_policy(policy(5)).build().unwrap();
    let started = Instant::now();
    match client.write(op()).await.unwrap_err() {
        ClientError::GaveUp { attempts, last, service_id } => {
            assert_eq!((attempts, service_id.as_str()), (5, "svc"));
            assert!(last.contains("cannot connect"), "{last}");
        }
        other => panic!("expected GaveUp, got {other}"),
    }
    // two full rounds of two nodes each -> two pauses of 20 ms
    assert!(started.elapsed() >= Duration::from_millis(40));
}

/// A resolver whose answers the test changes, like a pod's DNS record after a restart.
#[derive(Clone, Default)]
struct SwitchableDns {
    map: Arc<Mutex<HashMap<String, SocketAddr>>>,
    lookups: Arc<AtomicUsize>,
}

impl reqwest::dns::Resolve for SwitchableDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let addr = self.map.lock().unwrap().get(name.as_str()).copied();
        Box::pin(async move {
            match addr {
                Some(a) => Ok(Box::new(std::iter::once(a)) as reqwest::dns::Addrs),
                None => Err("no such host".into()),
            }
        })
    }
}

#[tokio::test]
async fn resolves_the_host_again_after_a_connection_failure() {
    let (old, _f1, old_server) = spawn_fake(vec![Answer::Ok]).await;
    let dns = SwitchableDns::default();
    dns.map.lock().unwrap().insert("om1.ring.test".into(), old);
    // the port in the config is the name's port; the fake resolver supplies the full address
    let svc = service(vec![node("om1", "om1.ring.test", old.port())]);
    let client = FailoverClient::builder(svc).retry_policy(policy(50)).resolver(Arc::new(dns.clone())).build().unwrap();
    client.write(op()).await.unwrap();

    // The pod moves: its old address is gone and DNS now answers with a new IP (same port).
    let (new, fnew, _h) =
        spawn_fake_at(SocketAddr::new("127.0.0.2".parse().unwrap(), old.port()), vec![Answer::Ok]).await;
    old_server.stop().await;
    dns.map.lock().unwrap().insert("om1.ring.test".into(), new);
    client.write(op()).await.unwrap();
    assert_eq!(fnew.calls.load(Ordering::SeqCst), 1, "the write reached the node at its new address");
}
