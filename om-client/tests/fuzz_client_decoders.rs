//! Property tests of the decoders of bytes from outside: `ozone-site.xml` and the client API's
//! JSON bodies. Each asserts that no input panics, that a refusal says what is wrong, and that
//! what the encoder writes decodes to the same value.
//!
//! `make test` runs proptest's default number of cases; `make fuzz` sets PROPTEST_CASES.

use std::collections::BTreeMap;

use om_client::config::OzoneConfig;
use om_client::wire::*;
use proptest::prelude::*;

/// Names and values as people write them: trimmed, with the characters XML must escape.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._<>&\"'/=:, -]{0,24}".prop_map(|s| s.trim().to_string())
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9._-]{0,30}"
}

/// A value exactly as written, surrounding spaces and all (Hadoop keeps them).
fn raw_value() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._<>&\"'/=:, \u{a0}-]{0,24}"
}

/// A valid ozone-site.xml with arbitrary properties.
fn config() -> impl Strategy<Value = OzoneConfig> {
    proptest::collection::vec((text().prop_filter("a name", |s| !s.is_empty()), raw_value()), 0..12).prop_map(|props| {
        let mut c = OzoneConfig::new();
        for (k, v) in props {
            c.set(&k, v);
        }
        c
    })
}

/// Bytes near valid XML: a valid document with some bytes replaced, cut or repeated.
fn mutated(base: String) -> impl Strategy<Value = String> {
    let len = base.len().max(1);
    (proptest::collection::vec((0..len, any::<u8>()), 0..6), 0..=len, any::<bool>()).prop_map(
        move |(flips, cut, dup)| {
            let mut b = base.clone().into_bytes();
            for (i, byte) in flips {
                if i < b.len() {
                    b[i] = byte;
                }
            }
            b.truncate(cut.max(1));
            if dup {
                let tail = b.clone();
                b.extend_from_slice(&tail);
            }
            String::from_utf8_lossy(&b).into_owned()
        },
    )
}

fn opt_i64() -> impl Strategy<Value = Option<i64>> {
    proptest::option::of(any::<i64>())
}

fn meta() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map(text(), text(), 0..3)
}

fn write_op() -> impl Strategy<Value = WriteOp> {
    prop_oneof![
        (name(), proptest::option::of(name()), opt_i64(), opt_i64(), meta()).prop_map(
            |(volume, owner, qb, qn, metadata)| {
                WriteOp::CreateVolume { volume, owner, quota_in_bytes: qb, quota_in_namespace: qn, metadata }
            }
        ),
        (name(), proptest::option::of(name()), opt_i64(), opt_i64()).prop_map(|(volume, owner, qb, qn)| {
            WriteOp::SetVolumeProperty { volume, owner, quota_in_bytes: qb, quota_in_namespace: qn }
        }),
        name().prop_map(|volume| WriteOp::DeleteVolume { volume }),
        (name(), name(), any::<bool>(), opt_i64(), meta()).prop_map(|(volume, bucket, versioning, qb, metadata)| {
            WriteOp::CreateBucket {
                volume,
                bucket,
                owner: None,
                layout: Some(BucketLayout::ObjectStore),
                versioning,
                quota_in_bytes: qb,
                quota_in_namespace: None,
                metadata,
            }
        }),
        (name(), name()).prop_map(|(volume, bucket)| WriteOp::DeleteBucket { volume, bucket }),
        (name(), name(), text(), any::<u64>(), meta()).prop_map(|(volume, bucket, key, size, metadata)| {
            WriteOp::OpenKey { volume, bucket, key, size, replication: None, metadata }
        }),
        (name(), name(), text(), any::<u64>(), proptest::option::of(any::<u64>())).prop_map(
            |(volume, bucket, key, client_id, size)| WriteOp::CommitKey { volume, bucket, key, client_id, size }
        ),
        (name(), name(), text()).prop_map(|(volume, bucket, key)| WriteOp::DeleteKey { volume, bucket, key }),
        (name(), name(), text(), text()).prop_map(|(volume, bucket, key, to_key)| WriteOp::RenameKey {
            volume,
            bucket,
            key,
            to_key
        }),
    ]
}

fn read_op() -> impl Strategy<Value = ReadOp> {
    prop_oneof![
        name().prop_map(|volume| ReadOp::VolumeInfo { volume }),
        (text(), text(), proptest::option::of(any::<u32>()))
            .prop_map(|(prefix, start_after, max)| ReadOp::ListVolumes { prefix, start_after, max, owner: None }),
        (name(), name()).prop_map(|(volume, bucket)| ReadOp::BucketInfo { volume, bucket }),
        (name(), name(), text()).prop_map(|(volume, bucket, key)| ReadOp::KeyInfo { volume, bucket, key }),
        (name(), name(), text(), proptest::option::of(any::<u32>())).prop_map(|(volume, bucket, prefix, max)| {
            ReadOp::ListKeys { volume, bucket, prefix, start_after: String::new(), max }
        }),
        Just(ReadOp::Digest),
    ]
}

/// JSON near a valid body: bytes of its encoding replaced or cut.
fn near_json(valid: Vec<u8>, flips: Vec<(usize, u8)>, cut: usize) -> Vec<u8> {
    let mut b = valid;
    for (i, byte) in flips {
        let n = b.len().max(1);
        if let Some(slot) = b.get_mut(i % n) {
            *slot = byte;
        }
    }
    b.truncate(cut.min(b.len()));
    b
}

/// A refusal must say something.
fn assert_explains<T>(r: Result<T, serde_json::Error>) {
    if let Err(e) = r {
        assert!(!e.to_string().trim().is_empty(), "an empty error message");
    }
}

proptest! {
    #[test]
    fn fuzz_site_xml_round_trips(conf in config()) {
        let xml = conf.to_xml();
        let back = OzoneConfig::parse_xml(&xml).map_err(|e| TestCaseError::fail(format!("{e}\n{xml}")))?;
        let a: Vec<_> = conf.iter().collect();
        let b: Vec<_> = back.iter().collect();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn fuzz_site_xml_never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
        if let Err(e) = OzoneConfig::parse_xml(&text) {
            prop_assert!(!e.to_string().trim().is_empty());
        }
    }

    #[test]
    fn fuzz_site_xml_never_panics_near_valid_documents(doc in config().prop_flat_map(|c| mutated(c.to_xml()))) {
        match OzoneConfig::parse_xml(&doc) {
            Ok(c) => {
                // Whatever it accepts renders and reads back the same.
                let again = OzoneConfig::parse_xml(&c.to_xml()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(c.iter().collect::<Vec<_>>(), again.iter().collect::<Vec<_>>());
            }
            Err(e) => prop_assert!(e.to_string().contains("malformed") || !e.to_string().is_empty()),
        }
    }

    #[test]
    fn fuzz_write_request_json_round_trips(op in write_op(), id in text()) {
        let req = WriteRequest { request_id: id, op };
        let json = serde_json::to_vec(&req).unwrap();
        prop_assert_eq!(serde_json::from_slice::<WriteRequest>(&json).unwrap(), req);
    }

    #[test]
    fn fuzz_read_request_json_round_trips(op in read_op(), stale in any::<bool>()) {
        let req = ReadRequest { op, stale };
        let json = serde_json::to_vec(&req).unwrap();
        prop_assert_eq!(serde_json::from_slice::<ReadRequest>(&json).unwrap(), req);
    }

    #[test]
    fn fuzz_client_bodies_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        assert_explains(serde_json::from_slice::<WriteRequest>(&bytes));
        assert_explains(serde_json::from_slice::<ReadRequest>(&bytes));
        assert_explains(serde_json::from_slice::<JoinRequest>(&bytes));
        assert_explains(serde_json::from_slice::<TransferRequest>(&bytes));
        assert_explains(serde_json::from_slice::<DecommissionRequest>(&bytes));
        assert_explains(serde_json::from_slice::<ApiError>(&bytes));
    }

    #[test]
    fn fuzz_client_bodies_never_panic_near_valid_ones(
        op in write_op(),
        read in read_op(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in any::<usize>(),
    ) {
        let w = serde_json::to_vec(&WriteRequest { request_id: "r-1".into(), op }).unwrap();
        let cut_w = cut % (w.len() + 1);
        assert_explains(serde_json::from_slice::<WriteRequest>(&near_json(w, flips.clone(), cut_w)));
        let r = serde_json::to_vec(&ReadRequest { op: read, stale: false }).unwrap();
        let cut_r = cut % (r.len() + 1);
        assert_explains(serde_json::from_slice::<ReadRequest>(&near_json(r, flips, cut_r)));
    }
}

#[test]
fn unknown_operations_and_fields_are_named() {
    let e = serde_json::from_str::<WriteRequest>(r#"{"request_id":"x","op":{"type":"DropEverything"}}"#).unwrap_err();
    assert!(e.to_string().contains("DropEverything"), "{e}");
    let e = serde_json::from_str::<WriteRequest>(
        r#"{"request_id":"x","op":{"type":"DeleteVolume","volume":"v","force":true}}"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("force"), "{e}");
}
