//! The double buffer on real RocksDB: reads see applied-but-unflushed data, deletes hide
//! flushed rows, and a reopened store resumes from TRANSACTIONINFO.

use futures::stream;
use om_client::wire::*;
use om_node::metrics::NodeMetrics;
use om_node::namespace::{Table, TableRead};
use om_node::store::StateMachineStore;
use om_node::types::{Command, Entry, NodeId, Proposal, TypeConfig};
use openraft::storage::RaftStateMachine;
use openraft::EntryPayload;

fn entry(index: u64, op: WriteOp) -> Entry {
    Entry {
        log_id: openraft::testing::log_id::<TypeConfig>(1, NodeId::from("om1"), index),
        payload: EntryPayload::Normal(Proposal::One(Command {
            request_id: format!("r{index}"),
            op: op.into(),
            now_ms: 1000 + index,
            open_client_id: index,
        })),
    }
}

async fn apply(sm: &mut StateMachineStore, entries: Vec<Entry>) {
    let items = entries.into_iter().map(|e| Ok((e, None)));
    sm.apply(stream::iter(items)).await.unwrap();
}

/// The store's digest of the namespace tables, read as a client's digest request is.
fn digest_of(sm: &StateMachineStore) -> String {
    match sm.read(&ReadOp::Digest).unwrap() {
        ReadResponse::Digest { digest, .. } => digest,
        other => panic!("{other:?}"),
    }
}

fn keys_of(sm: &StateMachineStore) -> Vec<String> {
    let op = ReadOp::ListKeys {
        volume: "vol1".into(),
        bucket: "bkt1".into(),
        prefix: String::new(),
        start_after: String::new(),
        max: Some(1000),
    };
    match sm.read(&op).unwrap() {
        ReadResponse::Keys { keys } => keys.into_iter().map(|k| k.name).collect(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_merge_cache_and_rocksdb_and_restart_resumes_from_transaction_info() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = NodeMetrics::new();
    let mut sm = StateMachineStore::open(dir.path(), 16, metrics.clone()).unwrap();
    let mut entries = vec![entry(1, WriteOp::create_volume("vol1")), entry(2, WriteOp::create_bucket("vol1", "bkt1"))];
    let mut index = 2;
    for i in 0..40 {
        index += 1;
        let key = format!("k{i:02}");
        entries.push(entry(
            index,
            WriteOp::OpenKey {
                volume: "vol1".into(),
                bucket: "bkt1".into(),
                key: key.clone(),
                size: 1,
                replication: None,
                metadata: Default::default(),
            },
        ));
        let client_id = index;
        index += 1;
        entries.push(entry(
            index,
            WriteOp::CommitKey { volume: "vol1".into(), bucket: "bkt1".into(), key, client_id, size: None },
        ));
    }
    // 82 transactions through a buffer that allows 16 unflushed: apply waits for the flusher.
    apply(&mut sm, entries).await;
    assert_eq!(sm.applied_index(), index);
    assert_eq!(keys_of(&sm).len(), 40, "everything applied is visible, flushed or not");
    sm.flush().unwrap();
    assert_eq!(sm.flushed_index(), index);

    // Deletes sit in the cache as tombstones over rows already in RocksDB.
    let mut deletes = Vec::new();
    for i in (0..40).step_by(2) {
        index += 1;
        deletes.push(entry(
            index,
            WriteOp::DeleteKey { volume: "vol1".into(), bucket: "bkt1".into(), key: format!("k{i:02}") },
        ));
    }
    apply(&mut sm, deletes).await;
    let after = keys_of(&sm);
    assert_eq!(after.len(), 20);
    assert!(after.iter().all(|k| k[1..].parse::<u32>().unwrap() % 2 == 1), "{after:?}");
    let page = sm.tables().scan(Table::Keys, b"/vol1/bkt1/", b"/vol1/bkt1/k05", 3).unwrap();
    let names: Vec<String> = page.iter().map(|(k, _)| String::from_utf8_lossy(k).into_owned()).collect();
    assert_eq!(names, ["/vol1/bkt1/k07", "/vol1/bkt1/k09", "/vol1/bkt1/k11"]);
    let digest = digest_of(&sm);
    assert!(metrics.mean_flush_batch() >= 1.0);

    // Reopen: applied state and data come back from RocksDB.
    sm.flush().unwrap();
    drop(sm);
    let mut sm = StateMachineStore::open(dir.path(), 16, NodeMetrics::new()).unwrap();
    let (applied, _) = sm.applied_state().await.unwrap();
    assert_eq!(applied.map(|l| l.index), Some(index));
    assert_eq!(keys_of(&sm), after);
    assert_eq!(digest_of(&sm), digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_in_the_middle_of_a_snapshot_installation_leaves_the_old_state_usable() {
    let dir = tempfile::tempdir().unwrap();
    let mut sm = StateMachineStore::open(dir.path(), 16, NodeMetrics::new()).unwrap();
    apply(&mut sm, vec![entry(1, WriteOp::create_volume("vol1")), entry(2, WriteOp::create_bucket("vol1", "bkt1"))])
        .await;
    let digest = digest_of(&sm);
    sm.flush().unwrap();
    drop(sm);
    let db = dir.path().join("om.db");
    let old = dir.path().join("om.db.old");
    let incoming = dir.path().join("om.db.incoming");

    // Crash while the snapshot was being unpacked: a partial incoming database is discarded.
    std::fs::create_dir_all(&incoming).unwrap();
    std::fs::write(incoming.join("000001.sst"), b"half a file").unwrap();
    let sm = StateMachineStore::open(dir.path(), 16, NodeMetrics::new()).unwrap();
    assert_eq!(digest_of(&sm), digest);
    assert!(!incoming.exists());
    drop(sm);

    // Crash between moving the old database aside and moving the new one in: the old returns.
    std::fs::rename(&db, &old).unwrap();
    std::fs::create_dir_all(&incoming).unwrap();
    let mut sm = StateMachineStore::open(dir.path(), 16, NodeMetrics::new()).unwrap();
    assert_eq!(digest_of(&sm), digest);
    let (applied, _) = sm.applied_state().await.unwrap();
    assert_eq!(applied.map(|l| l.index), Some(2));
    assert!(!old.exists() && !incoming.exists());
}

fn volumes_of(sm: &StateMachineStore) -> Vec<String> {
    let op = ReadOp::ListVolumes { prefix: String::new(), start_after: String::new(), max: Some(1000), owner: None };
    match sm.read(&op).unwrap() {
        ReadResponse::Volumes { volumes } => volumes.into_iter().map(|v| v.name).collect(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installed_snapshot_replaces_the_in_memory_volume_and_bucket_tables() {
    use openraft::storage::RaftSnapshotBuilder;
    let leader_dir = tempfile::tempdir().unwrap();
    let mut leader = StateMachineStore::open(leader_dir.path(), 16, NodeMetrics::new()).unwrap();
    apply(
        &mut leader,
        vec![entry(1, WriteOp::create_volume("vol2")), entry(2, WriteOp::create_bucket("vol2", "bkt2"))],
    )
    .await;
    let snapshot = leader.get_snapshot_builder().await.build_snapshot().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut sm = StateMachineStore::open(dir.path(), 16, NodeMetrics::new()).unwrap();
    apply(&mut sm, vec![entry(1, WriteOp::create_volume("vol1"))]).await;
    assert_eq!(volumes_of(&sm), ["vol1"]);
    let incoming = sm.incoming_snapshot_path();
    std::fs::copy(&snapshot.snapshot.path, &incoming).unwrap();
    sm.install_snapshot(&snapshot.meta, om_node::store::SnapshotFile::at(incoming)).await.unwrap();
    assert_eq!(volumes_of(&sm), ["vol2"], "the snapshot's volumes, not the ones applied before");
    let bucket = ReadOp::BucketInfo { volume: "vol2".into(), bucket: "bkt2".into() };
    assert!(sm.read(&bucket).is_ok());
    assert_eq!(digest_of(&sm), digest_of(&leader));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_with_a_table_this_version_does_not_know_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut sm = StateMachineStore::open(dir.path(), 16, NodeMetrics::new()).unwrap();
    apply(&mut sm, vec![entry(1, WriteOp::create_volume("vol1"))]).await;
    sm.flush().unwrap();
    drop(sm);
    let path = dir.path().join("om.db");
    {
        let opts = rocksdb::Options::default();
        let cfs = rocksdb::DB::list_cf(&opts, &path).unwrap();
        let mut db = rocksdb::DB::open_cf(&opts, &path, &cfs).unwrap();
        db.create_cf("fromTheFuture", &opts).unwrap();
    }
    let err = StateMachineStore::open(dir.path(), 16, NodeMetrics::new()).err().expect("refused");
    assert!(err.to_string().contains("fromTheFuture") && err.to_string().contains("om.db"), "{err}");
}

/// The leader streams its current snapshot to a follower while it builds the next one: the
/// archive being sent must stay readable until the stream drops it (CI once saw openraft
/// stop the leader on "snapshot not found" from this race).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superseded_snapshot_stays_on_disk_while_it_is_being_sent() {
    use openraft::storage::RaftSnapshotBuilder;
    let dir = tempfile::tempdir().unwrap();
    let mut sm = StateMachineStore::open(dir.path(), 16, NodeMetrics::new()).unwrap();
    apply(&mut sm, vec![entry(1, WriteOp::create_volume("vol1"))]).await;
    drop(sm.get_snapshot_builder().await.build_snapshot().await.unwrap());
    let sending = sm.get_current_snapshot().await.unwrap().expect("a current snapshot");
    let first = sending.snapshot.path.clone();

    apply(&mut sm, vec![entry(2, WriteOp::create_volume("vol2"))]).await;
    let second = sm.get_snapshot_builder().await.build_snapshot().await.unwrap();
    assert_ne!(second.snapshot.path, first);
    let current = sm.get_current_snapshot().await.unwrap().expect("a current snapshot");
    assert_eq!(current.meta.last_log_id.as_ref().map(|l| l.index), Some(2));
    assert!(first.exists(), "the archive being sent was deleted under the sender");
    drop(sending);
    assert!(!first.exists(), "a superseded archive no one holds is deleted");
    assert!(current.snapshot.path.exists());

    // A restart keeps the current archive and clears what a crash left behind.
    let stray = dir.path().join("snapshots").join("build-00000000000000ff");
    std::fs::create_dir_all(&stray).unwrap();
    let upload = sm.incoming_snapshot_path();
    std::fs::write(&upload, b"half an upload").unwrap();
    let kept = current.snapshot.path.clone();
    drop((current, second, sm));
    let mut sm = StateMachineStore::open(dir.path(), 16, NodeMetrics::new()).unwrap();
    let reopened = sm.get_current_snapshot().await.unwrap().expect("the snapshot survives a restart");
    assert_eq!(reopened.snapshot.path, kept);
    assert_eq!(reopened.meta.last_log_id.map(|l| l.index), Some(2));
    assert!(!stray.exists() && !upload.exists());
}

/// One entry carrying three client writes (a batch the leader coalesced), with a bound of two
/// unflushed transactions: apply runs them in order (the second create of vol2 sees the first),
/// gives each its own object id, counts each as a transaction, and a reopened store has them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_entry_applies_its_commands_in_order_with_their_own_ids() {
    use om_node::namespace::TxnId;
    let dir = tempfile::tempdir().unwrap();
    let metrics = NodeMetrics::new();
    let mut sm = StateMachineStore::open(dir.path(), 2, metrics.clone()).unwrap();
    let cmd = |id: &str, op: WriteOp| Command { request_id: id.into(), op: op.into(), now_ms: 2000, open_client_id: 0 };
    let batch = Entry {
        log_id: openraft::testing::log_id::<TypeConfig>(1, NodeId::from("om1"), 2),
        payload: EntryPayload::Normal(Proposal::Batch(vec![
            cmd("a", WriteOp::create_volume("vol2")),
            cmd("b", WriteOp::create_volume("vol2")),
            cmd("c", WriteOp::create_bucket("vol2", "bkt2")),
        ])),
    };
    apply(&mut sm, vec![entry(1, WriteOp::create_volume("vol1")), batch, entry(3, WriteOp::create_volume("vol3"))])
        .await;
    let check = |sm: &StateMachineStore| {
        assert_eq!(volumes_of(sm), ["vol1", "vol2", "vol3"]);
        let vol = |v: &str| match sm.read(&ReadOp::VolumeInfo { volume: v.into() }).unwrap() {
            ReadResponse::Volume { volume } => volume,
            other => panic!("{other:?}"),
        };
        assert_eq!(vol("vol1").object_id, 1);
        assert_eq!(vol("vol2").object_id, TxnId::in_batch(2, 0).object_id);
        assert_eq!(vol("vol2").update_id, 2, "update ids are log indexes, increasing with the log");
        assert_eq!(vol("vol3").object_id, 3);
        let bucket = ReadOp::BucketInfo { volume: "vol2".into(), bucket: "bkt2".into() };
        match sm.read(&bucket).unwrap() {
            ReadResponse::Bucket { bucket } => assert_eq!(bucket.object_id, TxnId::in_batch(2, 2).object_id),
            other => panic!("{other:?}"),
        }
        // The losing create's answer is in the retry cache, under its own request id.
        let row = sm.tables().get(Table::RetryCache, b"b").unwrap().expect("retry row of b");
        assert!(String::from_utf8_lossy(&row).contains("VOLUME_ALREADY_EXISTS"));
    };
    check(&sm);
    sm.flush().unwrap();
    assert_eq!(metrics.flushed_transactions.get(), 5, "the batch counts as three transactions");
    drop(sm);
    let sm = StateMachineStore::open(dir.path(), 2, NodeMetrics::new()).unwrap();
    check(&sm);
    assert_ne!(TxnId::in_batch(2, 0).object_id, TxnId::in_batch(2, 1).object_id);
    assert!(TxnId::in_batch(1, 0).object_id > u64::from(u32::MAX), "batch ids are far from log indexes");
}
