//! A 3-node ring of real processes on loopback, driven only through the CLI and the client
//! library, as users drive it.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use om_client::wire::*;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: std::process::Output) -> String {
    assert!(o.status.success(), "command failed: {}\nstdout: {}", stderr(&o), stdout(&o));
    stdout(&o)
}

#[track_caller]
/// The names in a listing as Ozone prints it (a JSON array of objects).
fn names(listing: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(listing).unwrap_or_else(|e| panic!("{e}: {listing}"));
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {listing}"))
        .iter()
        .map(|e| e["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn fails_with(o: std::process::Output, code: &str) {
    assert_eq!(o.status.code(), Some(255), "expected failure {code}, got {:?}: {}{}", o.status, stdout(&o), stderr(&o));
    assert!(stderr(&o).contains(code), "expected {code} in: {}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_drives_the_namespace_and_reports_ozone_error_codes() {
    let ring = Ring::start(3, &[]);
    ring.wait_leader(Duration::from_secs(30)).await;

    // Silent, as Ozone's create is, unless --verbose.
    assert_eq!(ok(ring.cli(&["sh", "volume", "create", "/vol1", "--user", "alice", "--quota", "1GB"])), "");
    assert!(ok(ring.cli(&["sh", "volume", "create", "/vol2", "--verbose"])).contains("vol2"));
    // Ozone's volume list --user: the volumes alice owns.
    assert_eq!(names(&ok(ring.cli(&["sh", "volume", "list", "--user", "alice"]))), ["vol1"]);
    assert_eq!(ok(ring.cli(&["sh", "volume", "list", "-u", "nobody"])).trim(), "[ ]");
    fails_with(ring.cli(&["sh", "volume", "create", "/vol1"]), "VOLUME_ALREADY_EXISTS");
    fails_with(ring.cli(&["sh", "volume", "create", "/Bad_Name"]), "INVALID_VOLUME_NAME");
    let info: VolumeInfo = serde_json::from_str(&ok(ring.cli(&["sh", "volume", "info", "/vol1", "--json"]))).unwrap();
    assert_eq!((info.owner.as_str(), info.quota_in_bytes), ("alice", 1 << 30));
    fails_with(ring.cli(&["sh", "volume", "info", "/nope"]), "VOLUME_NOT_FOUND");
    // setquota and clrquota: silent, as in Ozone; clrquota names what it clears.
    assert_eq!(
        ok(ring.cli(&["sh", "volume", "setquota", "/vol2", "--space-quota", "2GB", "--namespace-quota", "7"])),
        ""
    );
    assert_eq!(ok(ring.cli(&["sh", "volume", "clrquota", "/vol2", "--space-quota"])), "");
    let info: VolumeInfo = serde_json::from_str(&ok(ring.cli(&["sh", "volume", "info", "/vol2", "--json"]))).unwrap();
    assert_eq!((info.quota_in_bytes, info.quota_in_namespace), (-1, 7));
    let usage = ring.cli(&["sh", "volume", "clrquota", "/vol2"]);
    assert_eq!(usage.status.code(), Some(2), "{}", stderr(&usage));
    assert!(stderr(&usage).contains("--space-quota and/or --namespace-quota"), "{}", stderr(&usage));
    // o3:// addresses as Ozone reads them: the service named, or one OM's host:port; a port
    // with a service id is a usage error.
    ok(ring.cli(&["sh", "volume", "info", &format!("o3://{SID}/vol1")]));
    let om1 = ring.conf.get(&format!("ozone.om.address.{SID}.om1")).expect("om1's address").to_string();
    ok(ring.cli(&["sh", "volume", "info", &format!("o3://{om1}/vol1")]));
    let o = ring.cli(&["sh", "volume", "info", &format!("o3://{SID}:9862/vol1")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("is a logical (HA) OzoneManager"), "{}", stderr(&o));
    // As Ozone's shell prints an OMException: code, space, message; exit 255.
    assert_eq!(
        stderr(&ring.cli(&["sh", "volume", "info", "/nope"])).trim_end(),
        "VOLUME_NOT_FOUND Volume nope is not found"
    );

    // -id is accepted like Ozone's
    ok(ring.cli(&["sh", "bucket", "create", "/vol1/bkt1", "-id", SID, "--layout", "FILE_SYSTEM_OPTIMIZED"]));
    fails_with(ring.cli(&["sh", "bucket", "create", "/vol1/bkt1"]), "BUCKET_ALREADY_EXISTS");
    fails_with(ring.cli(&["sh", "bucket", "create", "/nope/bkt1"]), "VOLUME_NOT_FOUND");
    fails_with(ring.cli(&["sh", "bucket", "info", "/vol1/nope"]), "BUCKET_NOT_FOUND");
    let b: BucketInfo = serde_json::from_str(&ok(ring.cli(&["sh", "bucket", "info", "/vol1/bkt1", "--json"]))).unwrap();
    assert_eq!(b.layout, BucketLayout::FileSystemOptimized);

    for i in 0..7 {
        ok(ring.cli(&[
            "sh",
            "key",
            "create",
            &format!("/vol1/bkt1/dir/key{i}"),
            "--size",
            "10",
            "--meta",
            "color=blue",
        ]));
    }
    ok(ring.cli(&["sh", "key", "create", "/vol1/bkt1/other", "--size", "5"]));
    let k: KeyInfo =
        serde_json::from_str(&ok(ring.cli(&["sh", "key", "info", "/vol1/bkt1/dir/key3", "--json"]))).unwrap();
    assert_eq!((k.size, k.metadata.get("color").map(String::as_str)), (10, Some("blue")));
    fails_with(ring.cli(&["sh", "key", "info", "/vol1/bkt1/missing"]), "KEY_NOT_FOUND");

    // paging: prefix, exclusive start, small pages, --all (the bucket is FILE_SYSTEM_OPTIMIZED,
    // so `dir/` is an entry too)
    let page = ok(ring.cli(&["sh", "key", "list", "/vol1/bkt1", "--prefix", "dir/", "--length", "3"]));
    assert_eq!(names(&page), ["dir/", "dir/key0", "dir/key1"]);
    let next =
        ok(ring.cli(&["sh", "key", "list", "/vol1/bkt1", "--prefix", "dir/", "--length", "3", "--start", "dir/key2"]));
    assert_eq!(names(&next), ["dir/key3", "dir/key4", "dir/key5"]);
    let all = ok(ring.cli(&["sh", "key", "list", "/vol1/bkt1", "--length", "2", "--all"]));
    assert_eq!(names(&all).len(), 9);
    fails_with(ring.cli(&["sh", "key", "list", "/vol1/bkt1", "--length", "1001"]), "INVALID_REQUEST");

    ok(ring.cli(&["sh", "key", "rename", "/vol1/bkt1/other", "renamed"]));
    fails_with(ring.cli(&["sh", "key", "info", "/vol1/bkt1/other"]), "KEY_NOT_FOUND");
    fails_with(ring.cli(&["sh", "bucket", "delete", "/vol1/bkt1"]), "BUCKET_NOT_EMPTY");
    fails_with(ring.cli(&["sh", "volume", "delete", "/vol1"]), "VOLUME_NOT_EMPTY");

    // quota
    ok(ring.cli(&["sh", "bucket", "create", "/vol1/small", "--quota", "15"]));
    ok(ring.cli(&["sh", "key", "create", "/vol1/small/a", "--size", "10"]));
    fails_with(ring.cli(&["sh", "key", "create", "/vol1/small/b", "--size", "10"]), "QUOTA_EXCEEDED");

    // deletes
    let keys = ok(ring.cli(&["sh", "key", "list", "/vol1/bkt1", "--all", "--length", "1000"]));
    // Files before their directory: a directory with entries is not deleted.
    for k in names(&keys).iter().rev() {
        ok(ring.cli(&["sh", "key", "delete", &format!("/vol1/bkt1/{k}")]));
    }
    ok(ring.cli(&["sh", "bucket", "delete", "/vol1/bkt1"]));
    let buckets = ok(ring.cli(&["sh", "bucket", "list", "/vol1"]));
    assert_eq!(names(&buckets), ["small"]);

    // roles, plain
    let roles = ok(ring.cli(&["admin", "om", "roles", "-id", SID]));
    assert_eq!(roles.lines().filter(|l| l.contains(": LEADER (127.0.0.1)")).count(), 1, "{roles}");
    assert_eq!(roles.lines().filter(|l| l.contains(": FOLLOWER (127.0.0.1)")).count(), 2, "{roles}");

    // health and metrics on every node's HTTP port
    let http = reqwest::Client::new();
    let leader = ring.wait_leader(Duration::from_secs(10)).await;
    for n in ring.conf.service(Some(SID)).unwrap().nodes {
        let live = http.get(format!("http://{}{PATH_LIVE}", n.http_address())).send().await.unwrap();
        assert_eq!(live.status().as_u16(), 200);
        let url = format!("http://{}{PATH_READY}", n.http_address());
        wait_for("node ready", Duration::from_secs(10), || {
            let (http, url) = (http.clone(), url.clone());
            async move { (http.get(&url).send().await.ok()?.status().as_u16() == 200).then_some(()) }
        })
        .await;
        let metrics =
            http.get(format!("http://{}{PATH_METRICS}", n.http_address())).send().await.unwrap().text().await.unwrap();
        let is_leader = if n.node_id == leader { 1 } else { 0 };
        assert!(metrics.contains(&format!("om_raft_is_leader {is_leader}")), "{metrics}");
        assert!(metrics.contains("om_double_buffer_flush_batch_size_bucket"), "{metrics}");
        assert!(metrics.contains("om_raft_applied_index"), "{metrics}");
        if n.node_id == leader {
            assert!(
                metrics.contains(r#"om_requests_total{op="CreateVolume",result="VOLUME_ALREADY_EXISTS"} 1"#),
                "{metrics}"
            );
            assert!(metrics.contains(r#"om_request_seconds_count{op="CommitKey"}"#), "{metrics}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_the_node_keeps_serving() {
    let ring = Ring::start(3, &[]);
    let leader = ring.wait_leader(Duration::from_secs(30)).await;
    let addr = ring.conf.service(Some(SID)).unwrap().node(&leader).unwrap().rpc_address();
    let http = reqwest::Client::new();

    // garbage JSON and unknown fields: 400 INVALID_REQUEST with a message
    for body in [
        "{not json",
        r#"{"request_id":"x","op":{"type":"Explode"}}"#,
        r#"{"request_id":"x","op":{"type":"CreateVolume","volume":"v1","extra":1}}"#,
    ] {
        let r = http
            .post(format!("http://{addr}{PATH_WRITE}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{body}");
        let e: ApiError = r.json().await.unwrap();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.message.contains("invalid request body"), "{}", e.message);
    }
    let r = http.get(format!("http://{addr}/v1/nope")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);

    // a follower answers NOT_LEADER with the leader's id and address
    let follower = ring.nodes.iter().find(|n| n.id != leader).unwrap().id.clone();
    let faddr = ring.conf.service(Some(SID)).unwrap().node(&follower).unwrap().rpc_address();
    let req = WriteRequest { request_id: "r1".into(), op: WriteOp::create_volume("vol1") };
    let r = http.post(format!("http://{faddr}{PATH_WRITE}")).json(&req).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 421);
    let e: ApiError = r.json().await.unwrap();
    assert_eq!((e.code, e.leader_id.as_deref()), (ErrorCode::NotLeader, Some(leader.as_str())));
    assert_eq!(e.leader_address.as_deref(), Some(addr.as_str()));

    // still serving
    ring.client().write(WriteOp::create_volume("vol1")).await.unwrap();

    // CLI-level bad input
    let bad_xml = ring.path().join("bad.xml");
    std::fs::write(&bad_xml, "<configuration><property><name>x</name>").unwrap();
    let o =
        std::process::Command::new(BIN).arg("--conf").arg(&bad_xml).args(["sh", "volume", "list"]).output().unwrap();
    assert_eq!(o.status.code(), Some(255));
    assert!(stderr(&o).contains("malformed configuration XML") && stderr(&o).contains("bad.xml"), "{}", stderr(&o));
    let o = ring.cli(&["sh", "volume", "list", "--service-id", "nosuch"]);
    assert!(stderr(&o).contains("unknown service id \"nosuch\"") && stderr(&o).contains(SID), "{}", stderr(&o));
    let o = ring.cli(&["sh", "volume", "info", "vol1/too/deep"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("expected /volume"), "{}", stderr(&o));
    let o = ring.cli(&["sh", "volume", "create", "/vol9", "--quota", "10XB"]);
    assert!(stderr(&o).contains("invalid size unit"), "{}", stderr(&o));

    // a node refuses to start on a config that does not name it, saying which key is wrong
    let o = std::process::Command::new(BIN)
        .arg("--conf")
        .arg(&ring.conf_path)
        .args(["-D", "ozone.om.node.id=om9", "-D", "ozone.om.db.dirs=/tmp/never", "om"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("ozone.om.node.id") && stderr(&o).contains("om9"), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_loses_no_acknowledged_write_and_restart_keeps_everything() {
    let mut ring = Ring::start(
        3,
        &[("ozone.om.ratis.snapshot.auto.trigger.threshold", "200"), ("ozone.om.ratis.log.purge.gap", "50")],
    );
    let leader = ring.wait_leader(Duration::from_secs(30)).await;
    let client = ring.client();
    client.write(WriteOp::create_volume("vol1")).await.unwrap();
    client.write(WriteOp::create_bucket("vol1", "bkt1")).await.unwrap();

    let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    // (sent, acknowledged) of every acknowledged key
    let ack_times: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::default();
    let failures = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (client, acked, failures, stop) =
            (Arc::clone(&client), Arc::clone(&acked), Arc::clone(&failures), Arc::clone(&stop));
        let ack_times = Arc::clone(&ack_times);
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let k = format!("w{w}/k{i:05}");
                let sent = Instant::now();
                match put_key(&client, "vol1", "bkt1", &k).await {
                    Ok(_) => {
                        acked.lock().unwrap().insert(k);
                        ack_times.lock().unwrap().push((sent, Instant::now()));
                    }
                    Err(e) => {
                        eprintln!("write {k} failed: {e}");
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                i += 1;
            }
        }));
    }
    let count = |acked: &Arc<Mutex<BTreeSet<String>>>| acked.lock().unwrap().len();
    wait_for("writes before the kill", Duration::from_secs(60), || async { (count(&acked) >= 150).then_some(()) })
        .await;

    // kill -9 the leader under load
    let before = count(&acked);
    let killed_at = Instant::now();
    let leader_index = ring.index_of(&leader);
    ring.kill9(leader_index);
    wait_for("a write acknowledged after the kill", Duration::from_secs(30), || async {
        (count(&acked) > before + 8).then_some(())
    })
    .await;
    // the first key whose open was sent after the kill
    let first_after =
        ack_times.lock().unwrap().iter().filter(|(sent, _)| *sent > killed_at).map(|(_, done)| *done).min();
    if let Some(t) = first_after {
        eprintln!(
            "failover: first key created after kill -9 of leader {leader} committed {:?} after the kill",
            t - killed_at
        );
    }
    let new_leader = ring.wait_leader(Duration::from_secs(30)).await;
    assert_ne!(new_leader, leader);

    // the killed node comes back and catches up (through a snapshot if the log was purged)
    ring.start_node(leader_index);
    let target = count(&acked) + 200;
    wait_for("more writes with the old leader back", Duration::from_secs(60), || async {
        (count(&acked) >= target).then_some(())
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(failures.load(Ordering::Relaxed), 0, "client requests failed during failover");
    let acked: BTreeSet<String> = acked.lock().unwrap().clone();
    eprintln!("{} keys acknowledged in total", acked.len());
    let rejoined = ring.log(leader_index);
    eprintln!("old leader caught up through a snapshot: {}", rejoined.contains("installed snapshot"));

    // every acknowledged key is readable
    assert_all_present(&client, &acked).await;
    // replicas converge to identical state
    assert_digests_equal(&ring.conf.service(Some(SID)).unwrap().nodes, &client).await;

    // restart every node: all acknowledged data is still there
    for i in 0..3 {
        assert_eq!(ring.terminate(i), Some(0), "node exits 0 on SIGTERM");
    }
    for i in 0..3 {
        ring.start_node(i);
    }
    ring.wait_leader(Duration::from_secs(30)).await;
    assert_all_present(&client, &acked).await;
    assert_digests_equal(&ring.conf.service(Some(SID)).unwrap().nodes, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_keys_never_committed_expire_and_a_late_commit_is_refused() {
    let ring = Ring::start(
        3,
        &[("ozone.om.open.key.expire.threshold", "1s"), ("ozone.om.open.key.cleanup.service.interval", "200ms")],
    );
    ring.wait_leader(Duration::from_secs(30)).await;
    let client = ring.client();
    client.write(WriteOp::create_volume("vol1")).await.unwrap();
    client.write(WriteOp::create_bucket("vol1", "bkt1")).await.unwrap();
    let open = |key: &str| WriteOp::OpenKey {
        volume: "vol1".into(),
        bucket: "bkt1".into(),
        key: key.into(),
        size: 1,
        replication: None,
        metadata: Default::default(),
    };
    let WriteOutcome::OpenKey { client_id, .. } = client.write(open("abandoned")).await.unwrap().outcome else {
        panic!("open answered without a client id")
    };
    put_key(&client, "vol1", "bkt1", "committed").await.unwrap();

    // A client cannot propose the leader's own operation: the API has no such operation.
    let leader = ring.wait_leader(Duration::from_secs(10)).await;
    let addr = ring.conf.service(Some(SID)).unwrap().node(&leader).unwrap().rpc_address();
    let body = r#"{"request_id":"x","op":{"type":"ExpireOpenKeys","keys":[],"created_before_ms":0}}"#;
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}{}", om_client::wire::PATH_WRITE))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let e: om_client::wire::ApiError = resp.json().await.unwrap();
    assert_eq!(e.code, ErrorCode::InvalidRequest, "{e}");
    assert!(e.message.contains("ExpireOpenKeys"), "the refusal names the operation: {e}");

    let https: Vec<String> = ring.conf.service(Some(SID)).unwrap().nodes.iter().map(|n| n.http_address()).collect();
    wait_for("the leader to expire the abandoned open key", Duration::from_secs(30), || async {
        let mut expired = 0.0;
        for http in &https {
            expired += metric(http, "om_open_keys_expired").await?;
        }
        (expired >= 1.0).then_some(())
    })
    .await;
    let late = WriteOp::CommitKey {
        volume: "vol1".into(),
        bucket: "bkt1".into(),
        key: "abandoned".into(),
        client_id,
        size: None,
    };
    match client.write(late).await {
        Err(om_client::ClientError::Api(e)) => assert_eq!(e.code, ErrorCode::KeyNotFound, "{e}"),
        other => panic!("a commit after expiry was not refused: {other:?}"),
    }
    let ReadResponse::Keys { keys } = client
        .read(ReadOp::ListKeys {
            volume: "vol1".into(),
            bucket: "bkt1".into(),
            prefix: String::new(),
            start_after: String::new(),
            max: None,
        })
        .await
        .unwrap()
    else {
        panic!("list answered with another record")
    };
    assert_eq!(keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), ["committed"]);
    assert_digests_equal(&ring.conf.service(Some(SID)).unwrap().nodes, &client).await;
}

/// 64 clients at once: the leader coalesces their writes into shared Raft entries, and each
/// still gets its own answer. Racing creates of one volume have exactly one winner even when
/// they share an entry, every key gets its own object id, and the replicas stay identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_raft_entries_and_each_gets_its_own_answer() {
    let ring = Ring::start(3, &[]);
    let leader = ring.wait_leader(Duration::from_secs(30)).await;
    let nodes = ring.conf.service(Some(SID)).unwrap().nodes;
    let leader_http = nodes.iter().find(|n| n.node_id == leader).unwrap().http_address();
    let client = ring.client();
    client.write(WriteOp::create_volume("vol1")).await.unwrap();
    client.write(WriteOp::create_bucket("vol1", "bkt1")).await.unwrap();

    let mut keys = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut round = 0;
    let batched = loop {
        round += 1;
        let race = format!("race{round}");
        let mut tasks = Vec::new();
        for i in 0..64 {
            let (client, race) = (Arc::clone(&client), race.clone());
            tasks.push(tokio::spawn(async move {
                let created = client.write(WriteOp::create_volume(&race)).await;
                let key = format!("r{round}/k{i:02}");
                put_key(&client, "vol1", "bkt1", &key).await.unwrap();
                (created.map(|_| ()).map_err(|e| e.code()), key)
            }));
        }
        let mut winners = 0;
        for t in tasks {
            let (created, key) = t.await.unwrap();
            match created {
                Ok(()) => winners += 1,
                Err(code) => assert_eq!(code, Some(ErrorCode::VolumeAlreadyExists)),
            }
            keys.insert(key);
        }
        assert_eq!(winners, 1, "exactly one of 64 racing creates of {race} wins");
        let entries = metric(&leader_http, "om_proposal_commands_count").await.unwrap_or(0.0);
        let commands = metric(&leader_http, "om_proposal_commands_sum").await.unwrap_or(0.0);
        eprintln!("round {round}: {commands} client writes in {entries} entries");
        if commands > entries {
            break commands / entries;
        }
        assert!(Instant::now() < deadline, "no Raft entry carried more than one client write in {round} rounds");
    };
    eprintln!("mean client writes per entry on the leader: {batched:.2}");

    let mut object_ids = BTreeSet::new();
    let mut listed = BTreeSet::new();
    for k in list_all_keys(&client).await {
        assert!(object_ids.insert(k.object_id), "object id {} of {} is not unique", k.object_id, k.name);
        listed.insert(k.name);
    }
    assert_eq!(listed, keys, "every acknowledged key is listed, and nothing else");
    assert_digests_equal(&nodes, &client).await;

    // Where the leader's memory went, part by part, each within its size key.
    let mut parts = Vec::new();
    for name in [
        "om_memory_resident_bytes",
        "om_memory_block_cache_bytes",
        "om_memory_memtable_bytes{db=\"state\"}",
        "om_memory_memtable_bytes{db=\"raft_log\"}",
        "om_memory_raft_log_cache_bytes",
        "om_memory_raft_log_cache_entries",
        "om_memory_whole_tables_rows",
        "om_memory_whole_tables_bytes",
        "om_memory_c_heap_bytes{state=\"in_use\"}",
        "om_memory_c_heap_bytes{state=\"free\"}",
    ] {
        parts.push((name, metric(&leader_http, name).await.unwrap_or(0.0)));
    }
    eprintln!("leader memory: {parts:?}");
    let (resident, cache, log_bytes, log_entries) = (parts[0].1, parts[1].1, parts[4].1, parts[5].1);
    assert!(parts.iter().filter(|(n, _)| n.contains("memtable")).all(|(_, v)| *v > 0.0), "memtables: {parts:?}");
    assert!((1.0..=8192.0).contains(&log_entries) && log_bytes > 0.0, "the log's cache: {parts:?}");
    assert!(resident > cache + log_bytes && cache <= 64.0 * 1024.0 * 1024.0, "{parts:?}");
    // RocksDB allocates its cache and memtables from glibc's heap, so that heap holds at least them.
    let rocksdb = cache + parts[2].1 + parts[3].1;
    assert!(parts[8].1 >= rocksdb, "the C heap holds RocksDB's {rocksdb} bytes: {parts:?}");
    assert!(metric(&leader_http, "om_memory_c_heap_bytes{state=\"free\"}").await.is_some(), "no C heap free gauge");
    // The volumes (vol1 and the race's) and the bucket are held whole; the keys are not.
    let (whole_rows, whole_bytes) = (parts[6].1, parts[7].1);
    assert!(
        (2.0..64.0).contains(&whole_rows) && whole_bytes > whole_rows * 64.0 && whole_bytes < whole_rows * 1024.0,
        "whole tables: {parts:?}"
    );

    // Reads run on a bounded pool of blocking threads: 256 at once do not give the leader a
    // thread each (with Tokio's default of 512 they did, about 1 MiB of RSS apiece).
    for _ in 0..3 {
        let reads: Vec<_> = (0..256)
            .map(|i| {
                let client = Arc::clone(&client);
                let key = format!("r1/k{:02}", i % 64);
                tokio::spawn(async move {
                    client.read(ReadOp::KeyInfo { volume: "vol1".into(), bucket: "bkt1".into(), key }).await
                })
            })
            .collect();
        for r in reads {
            r.await.unwrap().expect("read");
        }
    }
    let threads = metric(&leader_http, "om_memory_threads").await.expect("om_memory_threads");
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as f64;
    // Tokio's workers, its blocking pool (main.rs: 4 per core, at least 8), RocksDB's and the
    // process's own few.
    let bound = cores + (4.0 * cores).max(8.0) + 16.0;
    eprintln!("leader threads after 3 x 256 concurrent reads: {threads} (bound {bound})");
    assert!(threads > 0.0 && threads <= bound, "leader threads {threads}, more than {bound}");
}

/// Followers answer NOT_LEADER (with the leader's address, which they read from Raft's state)
/// while the leader replicates a steady load, so Raft keeps publishing new state on every
/// follower. Every answer must come: building that error once read Raft's state twice under
/// one borrow, and a publish in between froze the follower for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_keep_answering_not_leader_while_the_leader_is_busy() {
    let ring = Ring::start(3, &[]);
    let leader = ring.wait_leader(Duration::from_secs(30)).await;
    let service = ring.conf.service(Some(SID)).unwrap();
    let followers: Vec<String> =
        service.nodes.iter().filter(|n| n.node_id != leader).map(|n| n.rpc_address()).collect();
    let load = Load::start(&ring.client(), 8, "busy").await;
    load.wait_more(50, Duration::from_secs(60)).await;

    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let mut askers = Vec::new();
    for (a, addr) in followers.iter().cycle().take(4).enumerate() {
        let (http, addr, leader) = (http.clone(), addr.clone(), leader.clone());
        askers.push(tokio::spawn(async move {
            for i in 0..1000 {
                let body = WriteRequest { request_id: format!("ask{a}-{i}"), op: WriteOp::create_volume("nope") };
                let r = http.post(format!("http://{addr}{PATH_WRITE}")).json(&body).send().await;
                let r = r.unwrap_or_else(|e| panic!("follower {addr} did not answer request {i}: {e}"));
                assert_eq!(r.status().as_u16(), 421, "follower {addr}");
                let e: ApiError = r.json().await.unwrap();
                assert_eq!((e.code, e.leader_id.as_deref()), (ErrorCode::NotLeader, Some(leader.as_str())));
                assert!(e.leader_address.is_some(), "{e:?}");
            }
        }));
    }
    for a in askers {
        a.await.unwrap();
    }
    let (acked, failures) = load.stop().await;
    assert!(failures.is_empty(), "{failures:?}");
    assert_all_present(&ring.client(), &acked).await;
}

/// FILE_SYSTEM_OPTIMIZED buckets through the CLI as a user types it: keys are paths, parent
/// directories appear, and Ozone's FSO refusals come back with its codes and exit 255.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fso_bucket_keys_are_paths_through_the_cli() {
    let ring = Ring::start(3, &[]);
    ring.wait_leader(Duration::from_secs(30)).await;
    ok(ring.cli(&["sh", "volume", "create", "/vol1"]));
    ok(ring.cli(&["sh", "bucket", "create", "/vol1/fso", "--layout", "FILE_SYSTEM_OPTIMIZED"]));
    ok(ring.cli(&["sh", "key", "create", "/vol1/fso//dir1/./dir2/file1", "--size", "5"]));
    let listed = |ring: &Ring| names(&ok(ring.cli(&["sh", "key", "list", "/vol1/fso"])));
    assert_eq!(listed(&ring), ["dir1/", "dir1/dir2/", "dir1/dir2/file1"]);
    let info: serde_json::Value =
        serde_json::from_str(&ok(ring.cli(&["sh", "key", "info", "/vol1/fso/dir1/dir2"]))).unwrap();
    assert_eq!(info["name"], "dir1/dir2/", "{info}");

    fails_with(ring.cli(&["sh", "key", "create", "/vol1/fso/dir1/dir2/file1/x"]), "NOT_A_FILE");
    fails_with(ring.cli(&["sh", "key", "create", "/vol1/fso/dir1"]), "NOT_A_FILE");
    fails_with(ring.cli(&["sh", "key", "create", "/vol1/fso/../up"]), "INVALID_KEY_NAME");
    let o = ring.cli(&["sh", "key", "delete", "/vol1/fso/dir1"]);
    fails_with(o.clone(), "DIRECTORY_NOT_EMPTY");
    assert_eq!(stderr(&o).trim(), "DIRECTORY_NOT_EMPTY Directory is not empty. Key:dir1");
    fails_with(ring.cli(&["sh", "key", "rename", "/vol1/fso/dir1", "no/such/dir"]), "KEY_RENAME_ERROR");
    fails_with(ring.cli(&["sh", "key", "rename", "/vol1/fso/dir1", "dir1/dir2/x"]), "KEY_RENAME_ERROR");

    ok(ring.cli(&["sh", "key", "rename", "/vol1/fso/dir1", "top"]));
    assert_eq!(listed(&ring), ["top/", "top/dir2/", "top/dir2/file1"]);
    ok(ring.cli(&["sh", "key", "delete", "/vol1/fso/top/dir2/file1"]));
    ok(ring.cli(&["sh", "key", "delete", "/vol1/fso/top/dir2"]));
    ok(ring.cli(&["sh", "key", "delete", "/vol1/fso/top"]));
    assert!(listed(&ring).is_empty());
    let bucket: BucketInfo =
        serde_json::from_str(&ok(ring.cli(&["sh", "bucket", "info", "/vol1/fso", "--json"]))).unwrap();
    assert_eq!((bucket.used_namespace, bucket.used_bytes), (0, 0));
    ok(ring.cli(&["sh", "bucket", "delete", "/vol1/fso"]));
}

/// Ozone's upgrade flow through the CLI: `prepare` waits until every node reports
/// PREPARE_COMPLETED (applied and snapshotted), writes are then refused on every path while
/// reads go on, a restarted node stays prepared, and `cancelprepare` takes writes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_refuses_writes_until_cancelled_across_a_restart() {
    let mut ring = Ring::start(3, &[]);
    let leader = ring.wait_leader(Duration::from_secs(30)).await;
    ok(ring.cli(&["sh", "volume", "create", "/vol1"]));
    assert_eq!(ok(ring.cli(&["admin", "om", "finalizationstatus", "-id", SID])).trim(), "ALREADY_FINALIZED");

    let out = ok(ring.cli(&["admin", "om", "prepare", "-id", SID, "-pct", "1", "-pt", "60"]));
    let first = out.lines().next().unwrap_or_default();
    let txn: u64 = first
        .strip_prefix("Ozone Manager Prepare Request successfully returned with Transaction Id : [")
        .and_then(|r| r.strip_suffix("]."))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(out.contains("Checking individual OM instances for prepare request completion..."), "{out}");
    assert!(out.contains(&format!("Prepare Status : [PREPARE_COMPLETED], Current Transaction Id : [{txn}]")), "{out}");
    assert!(
        out.ends_with(
            "\nOM Preparation successful! \nAll OMs are prepared\nNo new write requests will be allowed until \
             preparation is cancelled or upgrade/downgrade is done.\n"
        ),
        "{out}"
    );
    let client = ring.client();
    for (node, st) in client.ring_status().await {
        let st = st.unwrap_or_else(|e| panic!("{}: {e}", node.node_id));
        assert_eq!((st.prepare.status, st.prepare.index), (PrepareStatus::PrepareCompleted, txn as i64));
    }

    let o = ring.cli(&["sh", "volume", "create", "/vol2"]);
    fails_with(o.clone(), "NOT_SUPPORTED_OPERATION_WHEN_PREPARED");
    assert!(
        stderr(&o).contains("Cannot apply write request CreateVolume when OM is in prepare mode."),
        "{}",
        stderr(&o)
    );
    fails_with(ring.cli(&["sh", "bucket", "create", "/vol1/b1"]), "NOT_SUPPORTED_OPERATION_WHEN_PREPARED");
    let e = client.write(WriteOp::DeleteVolume { volume: "vol1".into() }).await.unwrap_err();
    assert!(e.to_string().contains("NOT_SUPPORTED_OPERATION_WHEN_PREPARED"), "{e}");
    assert!(ok(ring.cli(&["sh", "volume", "info", "/vol1"])).contains("\"name\" : \"vol1\""));

    // A follower restarted while prepared is still prepared: the marker is in its state.
    let follower = (0..3).find(|&i| ring.index_of(&leader) != i).unwrap();
    assert_eq!(ring.terminate(follower), Some(0));
    ring.start_node(follower);
    let node = ring.conf.service(Some(SID)).unwrap().nodes[follower].clone();
    let st = wait_for("restarted follower ready", Duration::from_secs(30), || {
        let (client, node) = (Arc::clone(&client), node.clone());
        async move { client.node_status(&node).await.ok().filter(|s| s.ready) }
    })
    .await;
    assert_eq!(st.prepare.status, PrepareStatus::PrepareCompleted);
    fails_with(ring.cli(&["sh", "volume", "create", "/vol2"]), "NOT_SUPPORTED_OPERATION_WHEN_PREPARED");

    assert_eq!(
        ok(ring.cli(&["admin", "om", "cancelprepare", "-id", SID])),
        "Cancel prepare succeeded, cluster can now accept write requests.\n"
    );
    ok(ring.cli(&["sh", "volume", "create", "/vol2"]));
    wait_for("every node no longer prepared", Duration::from_secs(10), || {
        let client = Arc::clone(&client);
        async move {
            let all = client.ring_status().await;
            all.iter().all(|(_, st)| st.as_ref().is_ok_and(|s| s.prepare == PrepareState::default())).then_some(())
        }
    })
    .await;
}

/// `admin om list-open-files` (`lof`) as Ozone prints it: keys opened and not committed, under
/// a path, a page at a time with a continuation token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_open_files_pages_through_open_keys() {
    let ring = Ring::start(3, &[]);
    ring.wait_leader(Duration::from_secs(30)).await;
    let client = ring.client();
    client.write(WriteOp::create_volume("vol1")).await.unwrap();
    for b in ["bk1", "bk2"] {
        client.write(WriteOp::create_bucket("vol1", b)).await.unwrap();
    }
    let mut ids = Vec::new();
    for (b, k) in [("bk1", "a"), ("bk1", "dir/c"), ("bk2", "z")] {
        let open = WriteOp::OpenKey {
            volume: "vol1".into(),
            bucket: b.into(),
            key: k.into(),
            size: 0,
            replication: None,
            metadata: Default::default(),
        };
        let WriteOutcome::OpenKey { client_id, .. } = client.write(open).await.unwrap().outcome else { panic!() };
        ids.push(client_id);
    }
    put_key(&client, "vol1", "bk1", "committed").await.unwrap();

    let all = ok(ring.cli(&["admin", "om", "list-open-files", "-id", SID]));
    assert!(
        all.starts_with("3 total open files. Showing 3 open files (limit 100) under path prefix:\n  /\n\n"),
        "{all}"
    );
    assert!(all.contains(&format!("\n{}\t", ids[2])) && all.contains("\tNo\t\t/vol1/bk2/z\n"), "{all}");
    assert!(all.ends_with("\nReached the end of the list.\n") && !all.contains("committed"), "{all}");

    let first = ok(ring.cli(&["admin", "om", "lof", "-id", SID, "--prefix", "/vol1/bk1", "-l", "1"]));
    assert!(first.starts_with("2 total open files. Showing 1 open files (limit 1)"), "{first}");
    assert!(first.contains("/vol1/bk1/a\n"), "{first}");
    let token = first.rsplit_once("--start=").map(|(_, t)| t.trim().to_string()).unwrap_or_else(|| panic!("{first}"));
    let next = ok(ring.cli(&["admin", "om", "lof", "-id", SID, "-p", "/vol1/bk1", "-l", "1", "-s", &token]));
    assert!(next.contains(&format!("after continuation token:\n  {token}\n")), "{next}");
    assert!(next.contains("/vol1/bk1/dir/c\n") && next.ends_with("Reached the end of the list.\n"), "{next}");

    let json: OpenKeyPage =
        serde_json::from_str(&ok(ring.cli(&["admin", "om", "lof", "-id", SID, "-p", "/vol1/bk2", "--json"]))).unwrap();
    assert_eq!((json.total, json.keys[0].client_id, json.keys[0].key.name.as_str()), (1, ids[2], "z"));
    fails_with(ring.cli(&["admin", "om", "lof", "-id", SID, "-p", "/vol1"]), "INVALID_REQUEST");
}
