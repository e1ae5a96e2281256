//! The namespace end to end over [`MemTables`]: commands through [`execute`], reads through
//! [`query`].

use super::*;
use crate::types::OpenKeyId;

/// Tables and a log index: commands applied one entry each. Shared with the other namespace
/// tests.
pub(super) struct Ring {
    pub(super) tables: MemTables,
    pub(super) index: u64,
}

impl Ring {
    pub(super) fn new() -> Self {
        Ring { tables: MemTables::default(), index: 0 }
    }
    pub(super) fn write(&mut self, op: impl Into<LogOp>) -> CommandResult {
        self.index += 1;
        let cmd = Command {
            request_id: format!("r{}", self.index),
            op: op.into(),
            now_ms: 1000 + self.index,
            open_client_id: 7,
        };
        let (res, muts) = execute(&self.tables, &cmd, TxnId::single(self.index));
        self.tables.apply(&muts);
        res
    }
    fn code(&mut self, op: impl Into<LogOp>) -> ErrorCode {
        self.write(op).unwrap_err().code
    }
}

fn vol(v: &str) -> WriteOp {
    WriteOp::create_volume(v)
}
fn bkt(v: &str, b: &str) -> WriteOp {
    WriteOp::create_bucket(v, b)
}
fn open(k: &str, size: u64) -> WriteOp {
    WriteOp::OpenKey {
        volume: "vol1".into(),
        bucket: "bkt1".into(),
        key: k.into(),
        size,
        replication: None,
        metadata: Default::default(),
    }
}
fn commit(k: &str) -> WriteOp {
    WriteOp::CommitKey { volume: "vol1".into(), bucket: "bkt1".into(), key: k.into(), client_id: 7, size: None }
}

#[test]
fn volume_bucket_key_lifecycle_and_error_codes() {
    let mut r = Ring::new();
    r.write(vol("vol1")).unwrap();
    assert_eq!(r.code(vol("vol1")), ErrorCode::VolumeAlreadyExists);
    assert_eq!(r.code(bkt("nope", "bkt1")), ErrorCode::VolumeNotFound);
    r.write(bkt("vol1", "bkt1")).unwrap();
    assert_eq!(r.code(bkt("vol1", "bkt1")), ErrorCode::BucketAlreadyExists);
    assert_eq!(r.code(WriteOp::DeleteVolume { volume: "vol1".into() }), ErrorCode::VolumeNotEmpty);
    assert_eq!(r.code(commit("k1")), ErrorCode::KeyNotFound);
    r.write(open("k1", 10)).unwrap();
    let committed = r.write(commit("k1")).unwrap();
    assert!(matches!(committed.outcome, WriteOutcome::Key { ref key } if key.size == 10));
    assert_eq!(
        r.code(WriteOp::DeleteBucket { volume: "vol1".into(), bucket: "bkt1".into() }),
        ErrorCode::BucketNotEmpty
    );
    let info = query(&r.tables, &ReadOp::BucketInfo { volume: "vol1".into(), bucket: "bkt1".into() }).unwrap();
    assert!(matches!(info, ReadResponse::Bucket { bucket } if bucket.used_bytes == 10 && bucket.used_namespace == 1));
    r.write(WriteOp::RenameKey { volume: "vol1".into(), bucket: "bkt1".into(), key: "k1".into(), to_key: "k2".into() })
        .unwrap();
    let q = query(&r.tables, &ReadOp::KeyInfo { volume: "vol1".into(), bucket: "bkt1".into(), key: "k1".into() });
    assert_eq!(q.unwrap_err().code, ErrorCode::KeyNotFound);
    r.write(WriteOp::DeleteKey { volume: "vol1".into(), bucket: "bkt1".into(), key: "k2".into() }).unwrap();
    assert_eq!(r.tables.scan(Table::DeletedKeys, b"", b"", 10).unwrap().len(), 1);
    r.write(WriteOp::DeleteBucket { volume: "vol1".into(), bucket: "bkt1".into() }).unwrap();
    r.write(WriteOp::DeleteVolume { volume: "vol1".into() }).unwrap();
    assert_eq!(r.code(WriteOp::DeleteVolume { volume: "vol1".into() }), ErrorCode::VolumeNotFound);
}

#[test]
fn quotas_are_enforced() {
    let mut r = Ring::new();
    r.write(vol("vol1")).unwrap();
    r.write(WriteOp::CreateBucket {
        volume: "vol1".into(),
        bucket: "bkt1".into(),
        owner: None,
        layout: Some(BucketLayout::FileSystemOptimized),
        versioning: false,
        quota_in_bytes: Some(15),
        quota_in_namespace: Some(5),
        metadata: Default::default(),
    })
    .unwrap();
    r.write(open("a", 10)).unwrap();
    r.write(commit("a")).unwrap();
    r.write(open("b", 10)).unwrap();
    assert_eq!(r.code(commit("b")), ErrorCode::QuotaExceeded);
    // overwriting `a` with a smaller size fits
    r.write(open("a", 5)).unwrap();
    r.write(commit("a")).unwrap();
    r.write(WriteOp::SetVolumeProperty {
        volume: "vol1".into(),
        owner: None,
        quota_in_bytes: None,
        quota_in_namespace: Some(1),
    })
    .unwrap();
    assert_eq!(r.code(bkt("vol1", "bkt2")), ErrorCode::QuotaExceeded);
}

fn set_bucket(owner: Option<&str>, versioning: Option<bool>, qb: Option<i64>, qn: Option<i64>) -> WriteOp {
    WriteOp::SetBucketProperty {
        volume: "vol1".into(),
        bucket: "bkt1".into(),
        owner: owner.map(str::to_string),
        versioning,
        quota_in_bytes: qb,
        quota_in_namespace: qn,
    }
}

fn bucket_info(r: &Ring) -> BucketInfo {
    match query(&r.tables, &ReadOp::BucketInfo { volume: "vol1".into(), bucket: "bkt1".into() }).unwrap() {
        ReadResponse::Bucket { bucket } => bucket,
        other => panic!("not a bucket: {other:?}"),
    }
}

#[test]
fn bucket_properties_change_only_what_is_given_within_usage_and_the_volume_quota() {
    let mut r = Ring::new();
    r.write(vol("vol1")).unwrap();
    r.write(bkt("vol1", "bkt1")).unwrap();
    r.write(bkt("vol1", "bkt2")).unwrap();
    let before = bucket_info(&r);
    r.write(set_bucket(Some("alice"), None, None, None)).unwrap();
    r.write(set_bucket(None, Some(true), Some(100), None)).unwrap();
    let after = bucket_info(&r);
    assert_eq!((after.owner.as_str(), after.versioning, after.quota_in_bytes), ("alice", true, 100));
    assert_eq!(after.quota_in_namespace, before.quota_in_namespace, "an absent field stays");
    assert_eq!(after.creation_time, before.creation_time);
    assert!(after.modification_time > before.modification_time);
    assert_eq!(r.code(set_bucket(Some(" "), None, None, None)), ErrorCode::InvalidRequest);
    assert_eq!(r.code(set_bucket(None, None, Some(0), None)), ErrorCode::InvalidRequest);

    // usage bounds the new quotas
    r.write(open("k", 40)).unwrap();
    r.write(commit("k")).unwrap();
    assert_eq!(r.code(set_bucket(None, None, Some(39), None)), ErrorCode::QuotaError);
    r.write(set_bucket(None, None, Some(40), Some(1))).unwrap();
    r.write(open("k2", 0)).unwrap();
    assert_eq!(r.code(commit("k2")), ErrorCode::QuotaExceeded, "the new namespace quota holds");
    r.write(set_bucket(None, None, None, Some(-1))).unwrap();
    r.write(commit("k2")).unwrap();
    assert_eq!(r.code(set_bucket(None, None, None, Some(1))), ErrorCode::QuotaError);

    // with a volume space quota: the buckets' quotas together stay within it, and a set one
    // cannot be cleared
    r.write(WriteOp::SetVolumeProperty {
        volume: "vol1".into(),
        owner: None,
        quota_in_bytes: Some(100),
        quota_in_namespace: None,
    })
    .unwrap();
    r.write(WriteOp::SetBucketProperty {
        volume: "vol1".into(),
        bucket: "bkt2".into(),
        owner: None,
        versioning: None,
        quota_in_bytes: Some(60),
        quota_in_namespace: None,
    })
    .unwrap();
    assert_eq!(r.code(set_bucket(None, None, Some(41), None)), ErrorCode::QuotaExceeded);
    r.write(set_bucket(None, None, Some(40), None)).unwrap();
    assert_eq!(r.code(set_bucket(None, None, Some(-1), None)), ErrorCode::QuotaError);
    assert_eq!(bucket_info(&r).quota_in_bytes, 40, "a refused change leaves the bucket as it was");
    let missing = WriteOp::SetBucketProperty {
        volume: "vol1".into(),
        bucket: "nope".into(),
        owner: None,
        versioning: Some(true),
        quota_in_bytes: None,
        quota_in_namespace: None,
    };
    assert_eq!(r.code(missing), ErrorCode::BucketNotFound);
}

#[test]
fn open_keys_created_before_the_cutoff_expire_and_committed_ones_stay() {
    let mut r = Ring::new();
    r.write(vol("vol1")).unwrap();
    r.write(bkt("vol1", "bkt1")).unwrap();
    // Ring::write stamps now_ms = 1000 + index and client id 7: "old" is opened at 1003.
    r.write(open("dir/old", 1)).unwrap();
    r.write(open("done", 1)).unwrap();
    r.write(commit("done")).unwrap();
    let cutoff = 1_004;
    let expired = expired_open_keys(&r.tables, cutoff, 10).unwrap();
    assert_eq!(expired.iter().map(|k| k.key.as_str()).collect::<Vec<_>>(), ["dir/old"]);
    assert_eq!(expired[0].client_id, 7);
    r.write(open("fresh", 1)).unwrap();
    let mut listed = expired.clone();
    listed.push(OpenKeyId { volume: "vol1".into(), bucket: "bkt1".into(), key: "fresh".into(), client_id: 7 });
    listed.push(OpenKeyId { volume: "vol1".into(), bucket: "bkt1".into(), key: "gone".into(), client_id: 7 });
    let res = r.write(LogOp::ExpireOpenKeys { keys: listed, created_before_ms: cutoff }).unwrap();
    assert_eq!(res.outcome, WriteOutcome::OpenKeysExpired { count: 1 }, "only dir/old was open and old enough");
    assert_eq!(r.code(commit("dir/old")), ErrorCode::KeyNotFound);
    r.write(commit("fresh")).unwrap();
    assert_eq!(r.tables.scan(Table::DeletedKeys, b"", b"", 10).unwrap().len(), 1);
    assert!(expired_open_keys(&r.tables, u64::MAX, 10).unwrap().is_empty());
    let future = LogOp::ExpireOpenKeys { keys: Vec::new(), created_before_ms: u64::MAX };
    assert_eq!(r.code(future), ErrorCode::InvalidRequest);
}

#[test]
fn retried_request_is_answered_from_the_retry_cache() {
    let mut r = Ring::new();
    let cmd = Command { request_id: "same".into(), op: vol("vol1").into(), now_ms: 5, open_client_id: 0 };
    let (first, muts) = execute(&r.tables, &cmd, TxnId::single(1));
    r.tables.apply(&muts);
    let (second, muts) = execute(&r.tables, &cmd, TxnId::single(2));
    assert!(muts.is_empty());
    let (first, second) = (first.unwrap(), second.unwrap());
    assert!(!first.replayed && second.replayed);
    assert_eq!(first.outcome, second.outcome);
    assert_eq!(second.log_index, 1);
    r.index = 2;
    assert_eq!(r.code(vol("vol1")), ErrorCode::VolumeAlreadyExists);
}

#[test]
fn listing_pages_with_prefix_and_start_after() {
    let mut r = Ring::new();
    r.write(vol("vol1")).unwrap();
    r.write(bkt("vol1", "bkt1")).unwrap();
    for i in 0..25 {
        r.write(open(&format!("dir/k{i:02}"), 1)).unwrap();
        r.write(commit(&format!("dir/k{i:02}"))).unwrap();
    }
    r.write(open("other", 1)).unwrap();
    r.write(commit("other")).unwrap();
    let mut seen = Vec::new();
    let mut start = String::new();
    loop {
        let op = ReadOp::ListKeys {
            volume: "vol1".into(),
            bucket: "bkt1".into(),
            prefix: "dir/".into(),
            start_after: start.clone(),
            max: Some(10),
        };
        let ReadResponse::Keys { keys } = query(&r.tables, &op).unwrap() else { panic!() };
        if keys.is_empty() {
            break;
        }
        start = keys.last().unwrap().name.clone();
        seen.extend(keys.into_iter().map(|k| k.name));
    }
    assert_eq!(seen.len(), 25);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    let big = ReadOp::ListVolumes { prefix: String::new(), start_after: String::new(), max: Some(1001), owner: None };
    assert_eq!(query(&r.tables, &big).unwrap_err().code, ErrorCode::InvalidRequest);
}

#[test]
fn a_prepared_ring_refuses_every_write_until_cancelled() {
    let mut r = Ring::new();
    r.write(vol("vol1")).unwrap();
    assert_eq!(prepared_index(&r.tables).unwrap(), None);
    assert_eq!(r.write(LogOp::Prepare).unwrap().outcome, WriteOutcome::Prepared);
    assert_eq!(prepared_index(&r.tables).unwrap(), Some(r.index));
    let e = r.write(vol("vol2")).unwrap_err();
    assert_eq!(e.code, ErrorCode::NotSupportedOperationWhenPrepared);
    assert_eq!(e.message, "Cannot apply write request CreateVolume when OM is in prepare mode.");
    let expire = LogOp::ExpireOpenKeys { keys: Vec::new(), created_before_ms: 0 };
    assert_eq!(r.code(expire), ErrorCode::NotSupportedOperationWhenPrepared);
    // Preparing again moves the marker; reads go on.
    r.write(LogOp::Prepare).unwrap();
    assert_eq!(prepared_index(&r.tables).unwrap(), Some(r.index));
    assert!(query(&r.tables, &ReadOp::VolumeInfo { volume: "vol1".into() }).is_ok());
    assert_eq!(r.write(LogOp::CancelPrepare).unwrap().outcome, WriteOutcome::PrepareCancelled);
    assert_eq!(prepared_index(&r.tables).unwrap(), None);
    r.write(vol("vol2")).unwrap();
    assert_eq!(prepare_state(None, Some(9)), om_client::wire::PrepareState::default());
    assert_eq!(prepare_state(Some(5), Some(4)).status, om_client::wire::PrepareStatus::PrepareGateEnabled);
    assert_eq!(prepare_state(Some(5), Some(5)).status, om_client::wire::PrepareStatus::PrepareCompleted);
}

#[test]
fn an_echo_changes_no_row_and_is_refused_when_prepared() {
    let mut r = Ring::new();
    let cmd = Command { request_id: "echo-1".into(), op: LogOp::Echo, now_ms: 1, open_client_id: 0 };
    let (res, muts) = execute(&r.tables, &cmd, TxnId::single(4));
    assert_eq!(res.unwrap(), WriteResponse { outcome: WriteOutcome::Noop, log_index: 4, replayed: false });
    assert!(muts.is_empty(), "an echo wrote {muts:?}");
    r.write(LogOp::Prepare).unwrap();
    let e = r.write(LogOp::Echo).unwrap_err();
    assert_eq!(e.message, "Cannot apply write request EchoRPC when OM is in prepare mode.");
}

/// The footprint the node's `om_memory_whole_tables_*` gauges show follows every insert,
/// replacement and delete, and is what a recount of the tables gives.
#[test]
fn whole_table_footprint_follows_inserts_replacements_and_deletes() {
    let recount = |t: &MemTables| {
        let mut f = Footprint::default();
        for table in Table::ALL {
            for (k, v) in t.scan(table, b"", b"", usize::MAX).unwrap() {
                f.rows += 1;
                f.bytes += (k.len() + v.len()) as u64 + tables::ROW_OVERHEAD;
            }
        }
        f
    };
    let mut r = Ring::new();
    assert_eq!(r.tables.footprint(), Footprint::default());
    r.write(vol("vol1")).unwrap();
    r.write(bkt("vol1", "bkt1")).unwrap();
    r.write(bkt("vol1", "bkt2")).unwrap();
    assert_eq!(r.tables.footprint(), recount(&r.tables));
    // Deletes the bucket's row and replaces the volume's (its bucket count).
    r.write(WriteOp::DeleteBucket { volume: "vol1".into(), bucket: "bkt2".into() }).unwrap();
    assert_eq!(r.tables.footprint(), recount(&r.tables));
    r.write(open("k1", 10)).unwrap();
    r.write(commit("k1")).unwrap();
    r.tables.apply(&[Mutation { table: Table::Keys, key: b"/vol1/bkt1/nope".to_vec(), value: None, created: false }]);
    assert_eq!(r.tables.footprint(), recount(&r.tables));
    // A row replaced by a larger one.
    let value: Value = vec![0u8; 1000].into();
    r.tables.insert(Table::Buckets, b"/vol1/bkt1".to_vec(), value);
    assert_eq!(r.tables.footprint(), recount(&r.tables));
}
