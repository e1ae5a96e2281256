//! HA operations on real multi-process rings over loopback: bootstrap, leader transfer,
//! roles, decommission, snapshot installation and the SIGTERM handoff, each under client load
//! through the failover client, driven through the same CLI a user runs.

mod common;

use std::time::{Duration, Instant};

use common::*;
use om_client::wire::*;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: std::process::Output) -> String {
    assert!(o.status.success(), "command failed ({:?}): {}{}", o.status, stdout(&o), stderr(&o));
    stdout(&o)
}

/// Voter ids as the leader reports them.
async fn voters(ring: &Ring) -> Vec<String> {
    let client = ring.client();
    for (_, st) in client.ring_status().await {
        if let Ok(st) = st {
            if st.role == Role::Leader {
                return st.members.iter().filter(|m| m.voter).map(|m| m.node_id.clone()).collect();
            }
        }
    }
    Vec::new()
}

async fn wait_voters(ring: &Ring, want: &[&str]) {
    wait_for(&format!("voters {want:?}"), Duration::from_secs(60), || async {
        let v = voters(ring).await;
        (v == want).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_grows_a_live_ring_to_five_and_decommission_shrinks_it_back() {
    // Five nodes are allocated (clients and the CLI know all of them); the ring starts with three.
    let mut ring = Ring::configure(5, &[]);
    let nodes_key = ring.nodes_key();
    let mut three = ring.conf.clone();
    three.set(&nodes_key, "om1,om2,om3");
    for i in 0..3 {
        ring.write_node_conf(i, &three).unwrap();
    }
    for i in 0..3 {
        ring.start_node(i);
    }
    ring.wait_leader(Duration::from_secs(30)).await;
    let client = ring.client();
    let load = Load::start(&client, 6, "b").await;
    load.wait_more(50, Duration::from_secs(30)).await;

    // om4's bootstrap is refused while om3's file does not list it, naming om3.
    let mut four = ring.conf.clone();
    four.set(&nodes_key, "om1,om2,om3,om4");
    for i in [0, 1, 3] {
        ring.write_node_conf(i, &four).unwrap();
    }
    // Started without --bootstrap, om4 says it is not a member and waits: no second ring.
    ring.start_node(3);
    wait_for("om4 to say it is not a member", Duration::from_secs(30), || async {
        ring.log(3).contains("om4 is not a member of ring omservice").then_some(())
    })
    .await;
    let om4 = ring.conf.service(Some(SID)).unwrap().node("om4").unwrap().clone();
    let st = client.node_status(&om4).await.unwrap();
    assert_eq!((st.role, st.ready, st.members.len()), (Role::Unknown, false, 0), "{st:?}");
    assert_eq!(ring.terminate(3), Some(0));

    ring.start_node_with(3, &["--bootstrap"]);
    let code = ring.wait_exit(3, Duration::from_secs(30)).unwrap();
    assert_eq!(code, Some(1), "refused bootstrap exits 1");
    let log = ring.log(3);
    assert!(log.contains("cannot bootstrap om4") && log.contains("om3"), "{log}");
    assert!(!log.contains("om1:") && !log.contains("om2:"), "only om3 is named: {log}");

    // With every file updated, om4 joins under load: learner, catch up, voter.
    ring.write_node_conf(2, &four).unwrap();
    ring.start_node_with(3, &["--bootstrap"]);
    wait_voters(&ring, &["om1", "om2", "om3", "om4"]).await;

    // om5 too, then om4's bootstrap re-run is a no-op.
    let mut five = ring.conf.clone();
    five.set(&nodes_key, "om1,om2,om3,om4,om5");
    for i in 0..5 {
        ring.write_node_conf(i, &five).unwrap();
    }
    ring.start_node_with(4, &["--bootstrap"]);
    wait_voters(&ring, &["om1", "om2", "om3", "om4", "om5"]).await;
    assert_eq!(ring.terminate(3), Some(0));
    ring.start_node_with(3, &["--bootstrap"]);
    wait_for("om4's second bootstrap to find it already a voter", Duration::from_secs(30), || async {
        ring.log(3).contains("already a voter").then_some(())
    })
    .await;
    load.wait_more(50, Duration::from_secs(30)).await;

    // Decommission is refused until every remaining node's file lists om5 as decommissioned.
    // As Ozone's users type it; the host must be the one the configuration gives the node.
    let o = ring.cli(&["admin", "om", "decommission", "-id", SID, "-nodeid", "om5", "-hostname=localhost"]);
    assert_eq!(o.status.code(), Some(255), "{}", stderr(&o));
    assert!(stderr(&o).contains("ozone.om.decommissioned.nodes.omservice"), "{}", stderr(&o));
    let o = ring.cli(&["admin", "om", "decommission", "-id", SID, "-nodeid", "om5", "-hostname=10.255.255.1"]);
    assert_eq!(o.status.code(), Some(255), "{}", stderr(&o));
    assert!(stderr(&o).contains("does not match the provided host address 10.255.255.1"), "{}", stderr(&o));
    let o = ring.cli(&["admin", "om", "decommission", "-id", SID, "-nodeid", "om5"]);
    assert_eq!(o.status.code(), Some(2), "no host: a usage error, not help and success: {}", stderr(&o));
    let o =
        ring.cli(&["admin", "om", "decommission", "-id", SID, "--nodeid", "om5", "--node-host-address", "127.0.0.1"]);
    assert_eq!(o.status.code(), Some(255), "{}", stderr(&o));
    assert!(stderr(&o).contains("ozone.om.decommissioned.nodes.omservice"), "{}", stderr(&o));
    assert_eq!(voters(&ring).await.len(), 5, "a refused decommission changes nothing");

    // om5 leads when it is removed: leadership moves first, transparently.
    // (refused while om5 still lags more than 100 entries behind: retry like a user would)
    let o = wait_for("transfer to om5", Duration::from_secs(30), || async {
        let o = ring.cli(&["admin", "om", "transfer", "-id", SID, "-n", "om5"]);
        o.status.success().then(|| stdout(&o))
    })
    .await;
    assert_eq!(o.trim(), "Transfer leadership successfully to om5.");
    let key = "ozone.om.decommissioned.nodes.omservice";
    ring.conf.set(key, "om5");
    ring.write_conf().unwrap();
    let o = ok(ring.cli(&["admin", "om", "decommission", "-id", SID, "-nodeid", "om5", "-hostname=localhost"]));
    assert_eq!(o.trim(), "Successfully decommissioned OM om5", "Ozone's words");
    wait_voters(&ring, &["om1", "om2", "om3", "om4"]).await;
    ring.conf.set(key, "om5,om4");
    ring.write_conf().unwrap();
    ok(ring.cli(&["admin", "om", "decommission", "-id", SID, "--nodeid", "om4", "--node-host-address", "localhost"]));
    wait_voters(&ring, &["om1", "om2", "om3"]).await;
    // Idempotent: removing it again changes nothing.
    let again = ok(ring.cli(&[
        "admin",
        "om",
        "decommission",
        "-id",
        SID,
        "-nodeid",
        "om4",
        "-hostname",
        "localhost",
        "--force",
    ]));
    assert!(again.contains("not a member"), "{again}");
    ring.terminate(3);
    ring.terminate(4);
    load.wait_more(50, Duration::from_secs(30)).await;

    let (acked, failures) = load.stop().await;
    assert!(failures.is_empty(), "{} client requests failed, e.g. {:?}", failures.len(), &failures[..1]);
    assert_all_present(&client, &acked).await;
    let remaining: Vec<_> = ring.conf.service(Some(SID)).unwrap().nodes.into_iter().take(3).collect();
    assert_digests_equal(&remaining, &client).await;
    eprintln!("bootstrap 3 -> 5 -> 3 under load: {} keys acknowledged, none failed", acked.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_by_name_and_at_random_and_sigterm_hand_off_lose_no_request() {
    let mut ring = Ring::start(3, &[]);
    let leader = ring.wait_leader(Duration::from_secs(30)).await;
    let client = ring.client();
    let load = Load::start(&client, 6, "t").await;
    load.wait_more(50, Duration::from_secs(30)).await;

    // Refusals name the reason.
    let o = ring.cli(&["admin", "om", "transfer", "-id", SID, "-n", "om9"]);
    assert_eq!(o.status.code(), Some(255));
    assert!(stderr(&o).contains("om9 is not a member"), "{}", stderr(&o));
    let o = ring.cli(&["admin", "om", "transfer", "-id", SID]);
    assert_eq!(o.status.code(), Some(2), "-n or -r is required: {}", stderr(&o));

    // -n: to a named follower; time from the request to the new leader accepting a write.
    let target = ring.nodes.iter().map(|n| n.id.clone()).find(|n| *n != leader).unwrap();
    let started = Instant::now();
    let o = ok(ring.cli(&["admin", "om", "transfer", "-id", SID, "-n", &target]));
    assert_eq!(o.trim(), format!("Transfer leadership successfully to {target}."));
    client.write(WriteOp::create_volume("after-transfer-n")).await.unwrap();
    eprintln!("transfer -n {target}: CLI request to first write accepted by the new leader {:?}", started.elapsed());
    assert_eq!(ring.wait_leader(Duration::from_secs(10)).await, target);

    // -r: a caught-up follower at random, through the client library.
    let started = Instant::now();
    let r = client.transfer_leader(None).await.unwrap();
    client.write(WriteOp::create_volume("after-transfer-r")).await.unwrap();
    eprintln!(
        "transfer -r to {}: {} ms inside the leader, {:?} from request to first accepted write",
        r.new_leader,
        r.elapsed_ms,
        started.elapsed()
    );
    assert_eq!(r.previous_leader, target);
    assert_ne!(r.new_leader, target);
    let o = ok(ring.cli(&["admin", "om", "transfer", "-id", SID, "-r"]));
    assert!(o.starts_with("Transfer leadership successfully to om"), "{o}");
    load.wait_more(50, Duration::from_secs(30)).await;

    // SIGTERM of the leader under load: it hands over first and exits 0.
    let leader = ring.wait_leader(Duration::from_secs(10)).await;
    let li = ring.index_of(&leader);
    let stopped_at = Instant::now();
    assert_eq!(ring.terminate(li), Some(0), "leader exits 0 on SIGTERM");
    let log = ring.log(li);
    assert!(log.contains("handed leadership over before stopping"), "{log}");
    let new_leader = ring.wait_leader(Duration::from_secs(10)).await;
    eprintln!("SIGTERM of leader {leader}: {new_leader} leads, agreed {:?} after the signal", stopped_at.elapsed());
    load.wait_more(50, Duration::from_secs(30)).await;
    ring.start_node(li);
    load.wait_more(50, Duration::from_secs(30)).await;

    let (acked, failures) = load.stop().await;
    assert!(failures.is_empty(), "{} client requests failed, e.g. {:?}", failures.len(), &failures[..1]);
    assert_all_present(&client, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_in_all_three_formats_mark_a_silent_node_unreachable() {
    let mut ring = Ring::start(3, &[]);
    let leader = ring.wait_leader(Duration::from_secs(30)).await;
    let down = ring.nodes.iter().map(|n| n.id.clone()).find(|n| *n != leader).unwrap();
    let di = ring.index_of(&down);
    ring.kill9(di);

    let plain = ok(ring.cli(&["admin", "om", "roles", "-id", SID]));
    let lines: Vec<&str> = plain.lines().collect();
    assert_eq!(lines.len(), 3, "{plain}");
    for id in ["om1", "om2", "om3"] {
        let role = if id == leader {
            "LEADER"
        } else if id == down {
            "UNREACHABLE"
        } else {
            "FOLLOWER"
        };
        assert!(lines.contains(&format!("{id} : {role} (127.0.0.1)").as_str()), "{plain}");
    }

    let json: serde_json::Value = serde_json::from_str(&ok(ring.cli(&["admin", "om", "roles", "-id", SID, "--json"])))
        .expect("roles --json is JSON");
    let list = json.as_array().expect("a list");
    assert_eq!(list.len(), 3);
    for entry in list {
        let obj = entry.as_object().expect("one-key objects");
        assert_eq!(obj.len(), 1);
        let (id, inner) = obj.iter().next().unwrap();
        assert_eq!(inner["hostname"], "127.0.0.1");
        let role = inner["serverRole"].as_str().unwrap();
        if *id == down {
            assert_eq!(role, "UNREACHABLE");
            assert!(inner.get("term").is_none());
        } else {
            assert_eq!(role, if *id == leader { "LEADER" } else { "FOLLOWER" });
            assert!(inner["term"].as_u64().unwrap() >= 1 && inner["appliedIndex"].as_u64().is_some());
            assert!(inner["lag"].as_u64().is_some());
        }
    }
    // jq '.[] | .[] | select(.serverRole=="LEADER")' finds exactly the leader
    let leaders: Vec<_> =
        list.iter().flat_map(|e| e.as_object().unwrap().values()).filter(|v| v["serverRole"] == "LEADER").collect();
    assert_eq!(leaders.len(), 1);

    let table = ok(ring.cli(&["admin", "om", "roles", "-id", SID, "--table"]));
    // Ozone's box: title, header and rows between borders, then a blank line.
    assert!(table.ends_with("+\n\n"), "{table:?}");
    let t: Vec<&str> = table.lines().filter(|l| !l.is_empty()).collect();
    fn cells(l: &str) -> Vec<&str> {
        l.trim_matches('|').split('|').map(str::trim).collect()
    }
    assert_eq!(cells(t[1]), ["Ozone Manager Roles"]);
    assert!(t[2].starts_with("+-") && t[4] == t[2] && t[t.len() - 1] == t[2], "{table}");
    assert_eq!(cells(t[3]), ["Host Name", "Node ID", "Role"]);
    let rows: Vec<Vec<&str>> = t[5..t.len() - 1].iter().map(|l| cells(l)).collect();
    assert_eq!(rows.len(), 3);
    assert!(rows.contains(&vec!["127.0.0.1", down.as_str(), "UNREACHABLE"]), "{table}");
    assert!(rows.contains(&vec!["127.0.0.1", leader.as_str(), "LEADER"]), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_behind_the_purged_log_catches_up_by_snapshot() {
    let mut ring = Ring::start(
        3,
        &[("ozone.om.ratis.snapshot.auto.trigger.threshold", "300"), ("ozone.om.ratis.log.purge.gap", "20")],
    );
    let leader = ring.wait_leader(Duration::from_secs(30)).await;
    let follower = ring.nodes.iter().map(|n| n.id.clone()).find(|n| *n != leader).unwrap();
    let fi = ring.index_of(&follower);
    let client = ring.client();
    let load = Load::start(&client, 8, "s").await;
    load.wait_more(20, Duration::from_secs(30)).await;
    let service = ring.conf.service(Some(SID)).unwrap().clone();
    let http = service.node(&follower).unwrap().http_address();
    let follower_last = metric(&http, "om_raft_last_log_index").await.expect("follower metrics");
    assert_eq!(ring.terminate(fi), Some(0));
    // Writes share log entries when they arrive together, so a key count says little about the
    // log: write until every live node has purged past the stopped follower's last entry.
    let live: Vec<String> = service.nodes.iter().filter(|n| n.node_id != follower).map(|n| n.http_address()).collect();
    wait_for("the live nodes to purge past the stopped follower's log", Duration::from_secs(120), || async {
        for h in &live {
            if metric(h, "om_raft_purged_index").await? <= follower_last {
                return None;
            }
        }
        Some(())
    })
    .await;
    ring.start_node(fi);
    wait_for("the follower to install a snapshot", Duration::from_secs(60), || async {
        (metric(&http, "om_snapshots_installed").await? >= 1.0).then_some(())
    })
    .await;
    let bytes = metric(&http, "om_snapshot_received_bytes").await.expect("metrics");
    let secs = metric(&http, "om_snapshot_receive_seconds").await.expect("metrics");
    eprintln!(
        "snapshot transfer to {follower}: {bytes} bytes in {:.3} s = {:.1} MB/s",
        secs,
        bytes / 1e6 / secs.max(1e-6)
    );
    assert!(bytes > 0.0);
    load.wait_more(100, Duration::from_secs(30)).await;
    let (acked, failures) = load.stop().await;
    assert!(failures.is_empty(), "{} client requests failed, e.g. {:?}", failures.len(), &failures[..1]);
    assert_all_present(&client, &acked).await;
    assert_digests_equal(&ring.conf.service(Some(SID)).unwrap().nodes, &client).await;
}

/// A disk fault stops a node's Raft core (openraft treats storage errors as fatal). The process
/// must exit non-zero, so its supervisor restarts it, rather than live on answering every peer
/// with errors; restarted on a mended disk it catches up with nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_raft_stops_on_a_storage_error_exits_and_recovers_on_restart() {
    let mut ring = Ring::start(3, &[("ozone.om.ratis.snapshot.auto.trigger.threshold", "100")]);
    let leader = ring.wait_leader(Duration::from_secs(30)).await;
    let follower = ring.nodes.iter().map(|n| n.id.clone()).find(|n| *n != leader).unwrap();
    let fi = ring.index_of(&follower);
    // The follower's next snapshot build cannot create its working directory.
    let snapshots = ring.nodes[fi].db_dir.join("om-state").join("snapshots");
    std::fs::remove_dir_all(&snapshots).unwrap();
    std::fs::write(&snapshots, b"not a directory").unwrap();

    let client = ring.client();
    let load = Load::start(&client, 4, "fatal").await;
    let code = ring.wait_exit(fi, Duration::from_secs(60)).unwrap();
    assert_eq!(code, Some(1), "{follower} exits 1");
    let log = ring.log(fi);
    assert!(log.contains("Raft stopped"), "the log says why the node stopped:\n{log}");

    std::fs::remove_file(&snapshots).unwrap();
    ring.start_node(fi);
    let http = ring.conf.service(Some(SID)).unwrap().node(&follower).unwrap().http_address();
    wait_for("the restarted node to be ready", Duration::from_secs(60), || async {
        (metric(&http, "om_ready").await? >= 1.0).then_some(())
    })
    .await;
    load.wait_more(50, Duration::from_secs(30)).await;
    let (acked, failures) = load.stop().await;
    assert!(failures.is_empty(), "{} client requests failed, e.g. {:?}", failures.len(), &failures[..1]);
    assert_all_present(&client, &acked).await;
    assert_digests_equal(&ring.conf.service(Some(SID)).unwrap().nodes, &client).await;
}
