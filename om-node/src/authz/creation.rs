//! What the leader fixes about a write's new object before proposing it: a bucket's layout when
//! the request names none ([`fill_defaults`]), its owner and its creator's default ACLs
//! (Ozone's `OzoneAclUtil.getDefaultAclList`: the creator gets `ozone.om.user.rights`, the
//! creator's first group `ozone.om.group.rights`). What parents hand
//! down (their DEFAULT ACLs) is added when the write is applied, from the state it applies to.
//!
//! A volume's defaults are its owner's, not the caller's (Ozone builds them for the owner); the
//! owner's group is known only when the owner is the caller. With security on, a volume or bucket
//! without a requested owner is owned by its creator (Ozone's client sends the current user).
//! With security off the node keeps its earlier owners, and since nobody is authenticated then,
//! buckets and keys get no creator entries (only what their parents hand down); volumes still
//! get their owner's.

use om_client::acl::{CreatorRights, OzoneAcl};
use om_client::wire::{BucketLayout, WriteOp};

use crate::command::LogOp;
use crate::namespace::DEFAULT_VOLUME_OWNER;

use super::Caller;

/// Fills in what a request left to the ring's settings: a bucket's layout
/// (`ozone.default.bucket.layout`). Called once, where a write enters the node, before it is
/// audited and proposed: only a leader proposes, so every replica applies the leader's choice.
pub fn fill_defaults(op: &mut WriteOp, default_layout: BucketLayout) {
    if let WriteOp::CreateBucket { layout, .. } = op {
        layout.get_or_insert(default_layout);
    }
}

/// The log form of a client's write, with the owner and creator ACLs of what it creates.
pub fn log_op(op: WriteOp, caller: &Caller<'_>, rights: &CreatorRights, security: bool) -> LogOp {
    let defaults = |user: &str, groups: &[String]| rights.default_acls(user, groups).unwrap_or_default();
    // With security off the caller is a stand-in, not a user: it gets no entries.
    let creator = || if security { defaults(caller.user, caller.groups) } else { Vec::new() };
    match op {
        WriteOp::CreateVolume { volume, owner, quota_in_bytes, quota_in_namespace, metadata } => {
            let owner = match owner {
                Some(o) => Some(o),
                None if security => Some(caller.user.to_string()),
                None => None,
            };
            let owner_name = owner.as_deref().unwrap_or(DEFAULT_VOLUME_OWNER);
            let acls: Vec<OzoneAcl> =
                if security && owner_name == caller.user { creator() } else { defaults(owner_name, &[]) };
            LogOp::from_client(
                WriteOp::CreateVolume { volume, owner, quota_in_bytes, quota_in_namespace, metadata },
                acls,
            )
        }
        WriteOp::CreateBucket {
            owner: None,
            volume,
            bucket,
            layout,
            versioning,
            quota_in_bytes,
            quota_in_namespace,
            metadata,
        } if security => {
            let op = WriteOp::CreateBucket {
                owner: Some(caller.user.to_string()),
                volume,
                bucket,
                layout,
                versioning,
                quota_in_bytes,
                quota_in_namespace,
                metadata,
            };
            LogOp::from_client(op, creator())
        }
        op @ (WriteOp::CreateBucket { .. } | WriteOp::OpenKey { .. }) => LogOp::from_client(op, creator()),
        other => LogOp::from_client(other, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acls_of(op: &LogOp) -> Vec<String> {
        let acls = match op {
            LogOp::CreateVolume { acls, .. } | LogOp::CreateBucket { acls, .. } | LogOp::OpenKey { acls, .. } => acls,
            _ => return Vec::new(),
        };
        acls.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn creators_get_the_configured_rights_and_volumes_their_owners() {
        let groups = vec!["dev".to_string(), "ops".to_string()];
        let bob = Caller { user: "bob", groups: &groups };
        let rights = CreatorRights::default();
        let op = log_op(WriteOp::create_bucket("v", "b"), &bob, &rights, true);
        assert_eq!(acls_of(&op), ["user:bob:a[ACCESS]", "group:dev:rl[ACCESS]"]);
        assert!(matches!(&op, LogOp::CreateBucket { owner: Some(o), .. } if o == "bob"));
        let op = log_op(WriteOp::create_volume("v"), &bob, &rights, true);
        assert!(matches!(&op, LogOp::CreateVolume { owner: Some(o), .. } if o == "bob"));
        assert_eq!(acls_of(&op), ["user:bob:a[ACCESS]", "group:dev:rl[ACCESS]"]);
        let for_alice = WriteOp::CreateVolume {
            volume: "v".into(),
            owner: Some("alice".into()),
            quota_in_bytes: None,
            quota_in_namespace: None,
            metadata: Default::default(),
        };
        assert_eq!(acls_of(&log_op(for_alice, &bob, &rights, true)), ["user:alice:a[ACCESS]"]);
        // Security off: the owner stays as asked (the node's default), and its defaults are used;
        // the unauthenticated caller gets nothing.
        let op = log_op(WriteOp::create_volume("v"), &bob, &rights, false);
        assert!(matches!(&op, LogOp::CreateVolume { owner: None, .. }));
        assert_eq!(acls_of(&op), ["user:hadoop:a[ACCESS]"]);
        let op = log_op(WriteOp::create_bucket("v", "b"), &bob, &rights, false);
        assert!(matches!(&op, LogOp::CreateBucket { owner: None, .. }));
        assert!(acls_of(&op).is_empty());
        let rw = CreatorRights::from_config(Some("READ,WRITE"), Some("READ")).unwrap();
        let op = log_op(WriteOp::create_bucket("v", "b"), &bob, &rw, true);
        assert_eq!(acls_of(&op), ["user:bob:rw[ACCESS]", "group:dev:r[ACCESS]"]);
        assert!(acls_of(&log_op(WriteOp::DeleteVolume { volume: "v".into() }, &bob, &rights, true)).is_empty());
    }

    #[test]
    fn a_bucket_without_a_layout_gets_the_configured_default_and_a_named_one_stays() {
        let layout_of = |mut op: WriteOp, default_layout| {
            fill_defaults(&mut op, default_layout);
            match op {
                WriteOp::CreateBucket { layout, .. } => layout,
                other => panic!("{other:?}"),
            }
        };
        let unnamed = || {
            let mut op = WriteOp::create_bucket("v", "b");
            if let WriteOp::CreateBucket { layout, .. } = &mut op {
                *layout = None;
            }
            op
        };
        assert_eq!(layout_of(unnamed(), BucketLayout::FileSystemOptimized), Some(BucketLayout::FileSystemOptimized));
        assert_eq!(layout_of(unnamed(), BucketLayout::ObjectStore), Some(BucketLayout::ObjectStore));
        assert_eq!(
            layout_of(WriteOp::create_bucket("v", "b"), BucketLayout::FileSystemOptimized),
            Some(BucketLayout::ObjectStore)
        );
    }
}
