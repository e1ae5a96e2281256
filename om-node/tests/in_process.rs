//! A ring of three nodes started in this test's process through [`om_node::start_node`], the
//! function the binary's `om` command runs: settings from one ozone-site.xml, real RocksDB,
//! real sockets on free loopback ports.

use std::time::{Duration, Instant};

use om_client::wire::*;
use om_client::FailoverClient;
use om_localring::LocalRing;
use om_node::{start_node, NodeSettings, RunningNode};

const SID: &str = "inproc";

fn settings(ring: &LocalRing, i: usize) -> NodeSettings {
    let mut conf = ring.conf.clone();
    conf.set("ozone.om.node.id", ring.nodes[i].id.clone());
    conf.set("ozone.om.db.dirs", ring.nodes[i].db_dir.display().to_string());
    NodeSettings::from_config(&conf, Some(SID)).expect("settings")
}

/// The node every started node names as leader and that says it is ready, within `within`.
async fn agreed_leader(nodes: &[&RunningNode], within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let statuses: Vec<_> = nodes.iter().map(|n| n.node.status()).collect();
        if let Some(leader) = statuses.iter().find(|s| s.role == Role::Leader && s.ready) {
            if statuses.iter().all(|s| s.leader_id.as_deref() == Some(leader.node_id.as_str())) {
                return leader.node_id.clone();
            }
        }
        assert!(Instant::now() < deadline, "no agreed leader within {within:?}: {statuses:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_started_in_process_form_a_ring_hand_over_and_restart_from_their_storage() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The binary path is never used: nothing here starts a process.
    let ring = LocalRing::configure(std::path::Path::new("om-node"), dir.path(), SID, 3, &[]).expect("configure");
    let mut running = Vec::new();
    for i in 0..3 {
        running.push(Some(start_node(settings(&ring, i)).await.expect("start_node")));
    }
    let all: Vec<&RunningNode> = running.iter().flatten().collect();
    let leader = agreed_leader(&all, Duration::from_secs(30)).await;

    let client = FailoverClient::from_config(&ring.conf, Some(SID)).expect("client");
    client.write(WriteOp::create_volume("vol1")).await.expect("create vol1");
    let info = client.read(ReadOp::VolumeInfo { volume: "vol1".into() }).await.expect("read vol1");
    assert!(matches!(info, ReadResponse::Volume { ref volume } if volume.name == "vol1"), "{info:?}");

    // The leader stops as SIGTERM stops it: hand-off first, then shutdown.
    let li = ring.index_of(&leader).expect("leader index");
    let old = running[li].take().expect("leader running");
    let successor = old.hand_off_leadership().await.expect("a follower took over");
    assert_ne!(successor, leader);
    // As a connection still being served when the node stops: a holder of the node must not
    // keep its storage open for the restart below.
    let lingering = old.node.clone();
    old.shutdown().await.expect("shutdown");
    let rest: Vec<&RunningNode> = running.iter().flatten().collect();
    assert_eq!(agreed_leader(&rest, Duration::from_secs(30)).await, successor);
    client.write(WriteOp::create_volume("vol2")).await.expect("create vol2 without the old leader");

    // The old leader comes back from its own storage and catches up.
    running[li] = Some(start_node(settings(&ring, li)).await.expect("restart"));
    let back = running[li].as_ref().expect("restarted");
    drop(lingering);
    let deadline = Instant::now() + Duration::from_secs(30);
    while back.node.status().applied_index < rest_applied(&running) {
        assert!(Instant::now() < deadline, "the restarted node never caught up: {:?}", back.node.status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let volumes = back
        .node
        .sm
        .read(&ReadOp::ListVolumes { prefix: String::new(), start_after: String::new(), max: None, owner: None })
        .expect("list on the restarted node");
    let ReadResponse::Volumes { volumes } = volumes else { panic!("{volumes:?}") };
    let names: Vec<_> = volumes.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["vol1", "vol2"]);

    for node in running.into_iter().flatten() {
        node.shutdown().await.expect("shutdown");
    }
}

/// The highest applied index among the running nodes.
fn rest_applied(running: &[Option<RunningNode>]) -> u64 {
    running.iter().flatten().map(|n| n.node.status().applied_index).max().unwrap_or(0)
}

/// The HTTP listener binds every interface by default, as Ozone's; `ozone.om.http-bind-host`
/// (per node, else for all) narrows it, while the configured `ozone.om.http-address` stays what
/// others dial.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_listener_binds_the_configured_bind_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ring = LocalRing::configure(std::path::Path::new("om-node"), dir.path(), SID, 1, &[]).expect("configure");
    let node = start_node(settings(&ring, 0)).await.expect("start_node");
    assert!(node.http_addr.ip().is_unspecified(), "unset: every interface, as Ozone; bound {}", node.http_addr);
    node.shutdown().await.expect("shutdown");
    let mut conf = ring.conf.clone();
    conf.set("ozone.om.node.id", ring.nodes[0].id.clone());
    conf.set("ozone.om.db.dirs", ring.nodes[0].db_dir.display().to_string());
    conf.set("ozone.om.http-bind-host", "127.0.0.2");
    conf.set(&format!("ozone.om.http-bind-host.{SID}.{}", ring.nodes[0].id), "127.0.0.1");
    let s = NodeSettings::from_config(&conf, Some(SID)).expect("settings");
    assert_eq!(s.http_bind_host.as_deref(), Some("127.0.0.1"), "the node's own key wins");
    let node = start_node(s).await.expect("start_node");
    assert_eq!(node.http_addr.ip().to_string(), "127.0.0.1", "bound {}", node.http_addr);
    assert!(node.client_addr.ip().is_loopback(), "the client port keeps its address: {}", node.client_addr);
    node.shutdown().await.expect("shutdown");
}

/// `ozone.om.ratis.storage.dir` and `ozone.om.ratis.snapshot.dir` move the Raft log and the
/// snapshot archives. A node whose data is still in the old place refuses to start with an
/// empty new place (it would forget its log); once the operator moved the data it starts from
/// it, and its snapshots are written to the configured directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ratis_storage_and_snapshot_dirs_are_honoured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ring = LocalRing::configure(std::path::Path::new("om-node"), dir.path(), SID, 1, &[]).expect("configure");
    let db_dir = ring.nodes[0].db_dir.clone();
    let (storage, snapshots) = (dir.path().join("ratis"), dir.path().join("ratis-snapshots"));
    let moved = |threshold: &str| {
        let mut conf = ring.conf.clone();
        conf.set("ozone.om.node.id", ring.nodes[0].id.clone());
        conf.set("ozone.om.db.dirs", db_dir.display().to_string());
        conf.set("ozone.om.ratis.storage.dir", storage.display().to_string());
        conf.set(&format!("ozone.om.ratis.snapshot.dir.{SID}.{}", ring.nodes[0].id), snapshots.display().to_string());
        conf.set("ozone.om.ratis.snapshot.auto.trigger.threshold", threshold);
        NodeSettings::from_config(&conf, Some(SID)).expect("settings")
    };
    let node = start_node(settings(&ring, 0)).await.expect("start with the default directories");
    agreed_leader(&[&node], Duration::from_secs(30)).await;
    let client = FailoverClient::from_config(&ring.conf, Some(SID)).expect("client");
    client.write(WriteOp::create_volume("vol1")).await.expect("create vol1");
    node.shutdown().await.expect("shutdown");

    let refused = start_node(moved("400000")).await.err().expect("refused: the log is still in the old place");
    let message = refused.to_string();
    assert!(message.contains("ozone.om.ratis.storage.dir") && message.contains("holds this node's data"), "{message}");

    std::fs::create_dir_all(&storage).expect("storage dir");
    std::fs::rename(db_dir.join("raft-log"), storage.join("raft-log")).expect("move the log");
    std::fs::rename(db_dir.join("om-state").join("snapshots"), &snapshots).expect("move the snapshots");
    let node = start_node(moved("5")).await.expect("start from the moved directories");
    agreed_leader(&[&node], Duration::from_secs(30)).await;
    let info = client.read(ReadOp::VolumeInfo { volume: "vol1".into() }).await.expect("vol1 survived the move");
    assert!(matches!(info, ReadResponse::Volume { .. }), "{info:?}");
    for i in 2..12 {
        client.write(WriteOp::create_volume(format!("vol{i}"))).await.expect("create");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let archive = |d: &std::path::Path| {
        std::fs::read_dir(d).into_iter().flatten().flatten().any(|e| e.path().extension().is_some_and(|x| x == "tar"))
    };
    while !archive(&snapshots) {
        assert!(Instant::now() < deadline, "no snapshot archive in {}", snapshots.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!db_dir.join("raft-log").exists() && !db_dir.join("om-state").join("snapshots").exists());
    node.shutdown().await.expect("shutdown");
}
