//! ACLs travel in snapshots: a follower that missed a purged stretch of the log installs a
//! snapshot and then answers the same ACLs, prefix entries included, as the leader.

use std::time::Duration;

use om_client::acl::OzoneAcl;
use om_client::wire::*;

use crate::common::{assert_digests_equal, metric, wait_for, Ring, SID};

pub async fn a_snapshot_carries_acls_and_prefix_entries() {
    let mut ring = Ring::start(
        3,
        &[("ozone.om.ratis.snapshot.auto.trigger.threshold", "100"), ("ozone.om.ratis.log.purge.gap", "20")],
    );
    let leader = ring.wait_leader(Duration::from_secs(30)).await;
    let follower = ring.nodes.iter().map(|n| n.id.clone()).find(|n| *n != leader).unwrap();
    let fi = ring.index_of(&follower);
    let client = ring.client();
    client.write(WriteOp::create_volume("vol")).await.unwrap();
    client.write(WriteOp::create_bucket("vol", "bkt")).await.unwrap();
    assert_eq!(ring.terminate(fi), Some(0));
    let prefix = |i: usize| AclTarget::Prefix { volume: "vol".into(), bucket: "bkt".into(), prefix: format!("p{i}/") };
    for i in 0..400 {
        client.add_acl(prefix(i), OzoneAcl::parse(&format!("user:u{i}:rw[DEFAULT]")).unwrap()).await.unwrap();
    }
    let volume = AclTarget::Volume { volume: "vol".into() };
    client.add_acl(volume.clone(), OzoneAcl::parse("group:dev:rl").unwrap()).await.unwrap();
    let service = ring.conf.service(Some(SID)).unwrap();
    // Only once the leader has purged past what the follower has can it catch up by snapshot
    // alone (it had a handful of entries when it stopped).
    let leader_http = service.node(&leader).unwrap().http_address();
    wait_for("the leader to purge its log behind a snapshot", Duration::from_secs(60), || async {
        (metric(&leader_http, "om_raft_purged_index").await? >= 50.0).then_some(())
    })
    .await;
    ring.start_node(fi);
    let node = service.node(&follower).unwrap();
    let http = node.http_address();
    wait_for("the follower to install a snapshot", Duration::from_secs(60), || async {
        (metric(&http, "om_snapshots_installed").await? >= 1.0).then_some(())
    })
    .await;
    assert_digests_equal(&service.nodes, &client).await;
    let at = client.nodes().iter().find(|n| n.node_id == follower).unwrap().clone();
    for (target, expected) in [(prefix(7), "user:u7:rw[DEFAULT]"), (volume, "group:dev:rl[ACCESS]")] {
        let Ok(ReadResponse::Acls { acls }) = client.read_stale_from(&at, ReadOp::GetAcl { target }).await else {
            panic!("no ACLs from {follower}");
        };
        assert!(acls.iter().any(|a| a.to_string() == expected), "{follower}: {acls:?}");
    }
}
