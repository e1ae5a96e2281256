//! Property tests of om-node's decoders of outside bytes: Raft log entries as read back from
//! disk, peer RPC bodies and snapshot archives. No input may panic, a refusal
//! must say what is wrong, what the encoder writes must decode to the same value, and a broken
//! snapshot archive must never replace the state it was installed over.
//!
//! `make test` runs proptest's default number of cases; `make fuzz` sets PROPTEST_CASES.

use std::sync::{Mutex, OnceLock};

use om_client::wire::*;
use om_node::metrics::NodeMetrics;
use om_node::store::{SnapshotFile, StateMachineStore};
use om_node::types::{
    decode_bin, encode_bin, Command, Entry, LogOp, NodeId, OpenKeyId, Proposal, SnapshotMeta, TypeConfig,
};
use openraft::raft::{AppendEntriesRequest, TransferLeaderRequest, VoteRequest};
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::EntryPayload;
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9.-]{0,20}"
}

fn op() -> impl Strategy<Value = LogOp> {
    prop_oneof![
        (name(), proptest::option::of(name()), proptest::option::of(any::<i64>())).prop_map(|(volume, owner, q)| {
            LogOp::CreateVolume {
                volume,
                owner,
                quota_in_bytes: q,
                quota_in_namespace: None,
                metadata: Default::default(),
                acls: Vec::new(),
            }
        }),
        (name(), name()).prop_map(|(v, b)| LogOp::from(WriteOp::create_bucket(v, b))),
        (name(), name(), "\\PC{0,30}", any::<u64>()).prop_map(|(volume, bucket, key, size)| LogOp::OpenKey {
            volume,
            bucket,
            key,
            size,
            replication: None,
            metadata: [("k".to_string(), "v".to_string())].into(),
            acls: om_client::acl::OzoneAcl::parse_list("user:u:a,group:g:rl").unwrap(),
        }),
        (name(), name(), "[a-z]{1,10}/", 0u16..512).prop_map(|(volume, bucket, prefix, bits)| LogOp::AddAcl {
            target: om_client::wire::AclTarget::Prefix { volume, bucket, prefix },
            acl: om_client::acl::OzoneAcl::new(
                om_client::acl::AclIdentityType::User,
                "bob",
                om_client::acl::AclRights::from_bits(bits).unwrap(),
                om_client::acl::AclScope::Default,
            )
            .unwrap(),
        }),
        (name(), name(), "\\PC{0,30}", any::<u64>()).prop_map(|(volume, bucket, key, client_id)| LogOp::CommitKey {
            volume,
            bucket,
            key,
            client_id,
            size: None
        }),
        (name(), name(), "\\PC{0,30}", "\\PC{0,30}").prop_map(|(volume, bucket, key, to_key)| LogOp::RenameKey {
            volume,
            bucket,
            key,
            to_key
        }),
        (proptest::collection::vec((name(), name(), any::<u64>()), 0..3), any::<u64>()).prop_map(|(keys, t)| {
            LogOp::ExpireOpenKeys {
                keys: keys
                    .into_iter()
                    .map(|(volume, bucket, client_id)| OpenKeyId { volume, bucket, key: "k".into(), client_id })
                    .collect(),
                created_before_ms: t,
            }
        }),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    ("\\PC{1,40}", op(), any::<u64>(), any::<u64>()).prop_map(|(request_id, op, now_ms, open_client_id)| Command {
        request_id,
        op,
        now_ms,
        open_client_id,
    })
}

fn entry() -> impl Strategy<Value = Entry> {
    let payload = prop_oneof![
        Just(EntryPayload::Blank),
        command().prop_map(|c| EntryPayload::Normal(Proposal::One(c))),
        proptest::collection::vec(command(), 2..5).prop_map(|cs| EntryPayload::Normal(Proposal::Batch(cs))),
    ];
    (1..u64::MAX / 2, 1..1_000_000u64, payload).prop_map(|(index, term, payload)| Entry {
        log_id: openraft::testing::log_id::<TypeConfig>(term, NodeId::from("om1"), index),
        payload,
    })
}

/// A valid encoding with some bytes replaced and the tail perhaps cut off.
fn damage(mut bytes: Vec<u8>, flips: &[(usize, u8)], cut: usize) -> Vec<u8> {
    let n = bytes.len().max(1);
    for &(i, b) in flips {
        if let Some(slot) = bytes.get_mut(i % n) {
            *slot = b;
        }
    }
    let keep = bytes.len() - cut % (bytes.len() + 1).min(8);
    bytes.truncate(keep);
    bytes
}

fn explains<T>(r: Result<T, String>) -> Result<(), TestCaseError> {
    if let Err(e) = r {
        prop_assert!(!e.trim().is_empty(), "an empty error message");
    }
    Ok(())
}

fn peer_bodies(bytes: &[u8]) -> Result<(), TestCaseError> {
    explains(decode_bin::<AppendEntriesRequest<TypeConfig>>(bytes))?;
    explains(decode_bin::<VoteRequest<TypeConfig>>(bytes))?;
    explains(decode_bin::<TransferLeaderRequest<TypeConfig>>(bytes))
}

fn append_request(entries: Vec<Entry>) -> AppendEntriesRequest<TypeConfig> {
    let leader = openraft::testing::log_id::<TypeConfig>(3, NodeId::from("om2"), 0).leader_id;
    AppendEntriesRequest {
        vote: openraft::Vote::new_committed(leader.term, leader.node_id.clone()),
        prev_log_id: None,
        entries,
        leader_commit: None,
    }
}

proptest! {
    #[test]
    fn fuzz_log_entries_round_trip(e in entry()) {
        let bin = encode_bin(&e).map_err(TestCaseError::fail)?;
        prop_assert_eq!(decode_bin::<Entry>(&bin).map_err(TestCaseError::fail)?, e);
    }

    #[test]
    fn fuzz_log_entries_never_panic_on_damaged_bytes(
        e in entry(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..5),
        cut in any::<usize>(),
    ) {
        let bin = encode_bin(&e).map_err(TestCaseError::fail)?;
        explains(decode_bin::<Entry>(&damage(bin, &flips, cut)))?;
    }

    #[test]
    fn fuzz_log_entries_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        explains(decode_bin::<Entry>(&bytes))?;
    }

    #[test]
    fn fuzz_peer_bodies_round_trip(entries in proptest::collection::vec(entry(), 0..4)) {
        let req = append_request(entries);
        let bin = encode_bin(&req).map_err(TestCaseError::fail)?;
        let back = decode_bin::<AppendEntriesRequest<TypeConfig>>(&bin).map_err(TestCaseError::fail)?;
        prop_assert_eq!(format!("{back:?}"), format!("{req:?}"));
    }

    #[test]
    fn fuzz_peer_bodies_never_panic(
        entries in proptest::collection::vec(entry(), 0..3),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..5),
        cut in any::<usize>(),
        noise in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let req = append_request(entries);
        peer_bodies(&damage(encode_bin(&req).map_err(TestCaseError::fail)?, &flips, cut))?;
        peer_bodies(&noise)?;
    }
}

/// The store's digest of the namespace tables, read as a client's digest request is.
fn digest_of(sm: &StateMachineStore) -> Result<String, ApiError> {
    match sm.read(&ReadOp::Digest)? {
        ReadResponse::Digest { digest, .. } => Ok(digest),
        other => panic!("a digest request answered {other:?}"),
    }
}

/// A store with a few volumes, buckets and keys, its snapshot archive and that snapshot's
/// digest; and a second store that installed it, for the archive cases to be thrown at.
struct SnapshotFixture {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    runtime: tokio::runtime::Runtime,
    archive: Vec<u8>,
    meta: SnapshotMeta,
    target: Mutex<StateMachineStore>,
    digest: String,
}

fn entry_at(index: u64, op: WriteOp) -> Entry {
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

fn fixture() -> &'static SnapshotFixture {
    static F: OnceLock<SnapshotFixture> = OnceLock::new();
    F.get_or_init(|| {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let (src_dir, dst_dir) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
        let (archive, meta, target, digest) = runtime.block_on(async {
            let mut src = StateMachineStore::open(src_dir.path(), 16, NodeMetrics::new()).expect("open");
            let mut entries =
                vec![entry_at(1, WriteOp::create_volume("v1")), entry_at(2, WriteOp::create_bucket("v1", "b1"))];
            for i in 0..20u64 {
                entries.push(entry_at(
                    3 + 2 * i,
                    WriteOp::OpenKey {
                        volume: "v1".into(),
                        bucket: "b1".into(),
                        key: format!("k{i}"),
                        size: i,
                        replication: None,
                        metadata: Default::default(),
                    },
                ));
                entries.push(entry_at(
                    4 + 2 * i,
                    WriteOp::CommitKey {
                        volume: "v1".into(),
                        bucket: "b1".into(),
                        key: format!("k{i}"),
                        client_id: 3 + 2 * i,
                        size: None,
                    },
                ));
            }
            let items = entries.into_iter().map(|e| Ok((e, None)));
            src.apply(futures::stream::iter(items)).await.expect("apply");
            let snap = src.get_snapshot_builder().await.build_snapshot().await.expect("snapshot");
            let archive = std::fs::read(&snap.snapshot.path).expect("archive");
            let digest = digest_of(&src).expect("digest");
            let mut target = StateMachineStore::open(dst_dir.path(), 16, NodeMetrics::new()).expect("open");
            let path = target.incoming_snapshot_path();
            std::fs::write(&path, &archive).expect("copy");
            target.install_snapshot(&snap.meta, SnapshotFile::at(path)).await.expect("install the intact archive");
            (archive, snap.meta.clone(), target, digest)
        });
        SnapshotFixture { _dirs: (src_dir, dst_dir), runtime, archive, meta, target: Mutex::new(target), digest }
    })
}

proptest! {
    // Each case opens RocksDB: fewer by default than the pure decoders.
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(48), ..ProptestConfig::default() })]

    /// A damaged archive is refused, or (damage in padding) installs the very same state; the
    /// state it was installed over is never lost or changed.
    #[test]
    fn fuzz_snapshot_archives_never_replace_state_with_damage(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let f = fixture();
        let mut bytes = f.archive.clone();
        let n = bytes.len();
        for (i, b) in &flips {
            bytes[i % n] = *b;
        }
        if cut % 3 == 0 {
            bytes.truncate(cut % n);
        }
        let mut target = f.target.lock().unwrap_or_else(|p| p.into_inner());
        let path = target.incoming_snapshot_path();
        std::fs::write(&path, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let result = f.runtime.block_on(target.install_snapshot(&f.meta, SnapshotFile::at(path.clone())));
        let _ = std::fs::remove_file(&path);
        if let Err(e) = &result {
            prop_assert!(!e.to_string().trim().is_empty());
        }
        let digest = digest_of(&target).map_err(|e| TestCaseError::fail(format!("state unreadable after {result:?}: {e}")))?;
        prop_assert_eq!(&digest, &f.digest, "install returned {:?} and changed the state", result);
    }
}
