//! Which checks a client request gets, and the stored rows they are decided on: every write
//! and read of the API becomes one or more [`Op`]s of the rights table, with the owners and
//! ACLs of the volume, bucket, key or prefix it names, read through a [`Lookup`] of the current
//! state. The node runs [`check_write`] on the leader before proposing (Ozone's `preExecute`)
//! and [`check_read`] before answering, whenever security is on.

use om_client::acl::OzoneAcl;
use om_client::wire::{AclTarget, ApiError, BucketInfo, BucketLayout, ReadOp, VolumeInfo, WriteOp};

use crate::namespace::Lookup;

use super::{authorize, AclRow, Admins, Caller, Objects, Op};

/// Who asks and under which settings.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub caller: Caller<'a>,
    pub admins: &'a Admins,
    /// `ozone.acl.enabled`.
    pub acl_enabled: bool,
}

/// Decides a write.
pub fn check_write(ctx: &Context<'_>, rows: &Lookup<'_>, op: &WriteOp) -> Result<(), ApiError> {
    let d = Decider { ctx, rows };
    match op {
        WriteOp::CreateVolume { volume, .. } => d.volume(Op::CreateVolume, volume),
        WriteOp::SetVolumeProperty { volume, owner, quota_in_bytes, quota_in_namespace } => {
            if quota_in_bytes.is_some() || quota_in_namespace.is_some() || owner.is_none() {
                d.volume(Op::SetVolumeProperty, volume)?;
            }
            if owner.is_some() {
                d.volume(Op::SetVolumeOwner, volume)?;
            }
            Ok(())
        }
        WriteOp::DeleteVolume { volume } => d.volume(Op::DeleteVolume, volume),
        WriteOp::CreateBucket { volume, bucket, .. } => d.bucket(Op::CreateBucket, volume, bucket),
        WriteOp::SetBucketProperty { volume, bucket, owner, versioning, quota_in_bytes, quota_in_namespace } => {
            // Ozone sends an owner change as a request of its own (OMBucketSetOwnerRequest); one
            // that changes both needs both rights.
            if versioning.is_some() || quota_in_bytes.is_some() || quota_in_namespace.is_some() || owner.is_none() {
                d.bucket(Op::SetBucketProperty, volume, bucket)?;
            }
            if owner.is_some() {
                d.bucket(Op::SetBucketOwner, volume, bucket)?;
            }
            Ok(())
        }
        WriteOp::DeleteBucket { volume, bucket } => d.bucket(Op::DeleteBucket, volume, bucket),
        WriteOp::OpenKey { volume, bucket, key, .. } => d.key(Op::CreateKey, volume, bucket, key, KeyRow::None),
        WriteOp::CommitKey { volume, bucket, key, client_id, .. } => {
            d.key(Op::CommitKey, volume, bucket, key, KeyRow::Open(*client_id))
        }
        WriteOp::DeleteKey { volume, bucket, key } => d.key(Op::DeleteKey, volume, bucket, key, KeyRow::Committed),
        WriteOp::RenameKey { volume, bucket, key, to_key } => d.rename(volume, bucket, key, to_key),
        WriteOp::AddAcl { target, .. } => {
            d.target(target, [Op::AddVolumeAcl, Op::AddBucketAcl, Op::AddKeyAcl, Op::AddPrefixAcl])
        }
        WriteOp::RemoveAcl { target, .. } => {
            d.target(target, [Op::RemoveVolumeAcl, Op::RemoveBucketAcl, Op::RemoveKeyAcl, Op::RemovePrefixAcl])
        }
        WriteOp::SetAcl { target, .. } => {
            d.target(target, [Op::SetVolumeAcl, Op::SetBucketAcl, Op::SetKeyAcl, Op::SetPrefixAcl])
        }
    }
}

/// Decides a read.
pub fn check_read(ctx: &Context<'_>, rows: &Lookup<'_>, op: &ReadOp) -> Result<(), ApiError> {
    let d = Decider { ctx, rows };
    match op {
        ReadOp::VolumeInfo { volume } => d.volume(Op::InfoVolume, volume),
        ReadOp::ListVolumes { .. } => d.decide(Op::ListVolumes, &Objects::default()),
        ReadOp::BucketInfo { volume, bucket } => d.bucket(Op::InfoBucket, volume, bucket),
        ReadOp::ListBuckets { volume, .. } => d.volume(Op::ListBuckets, volume),
        ReadOp::KeyInfo { volume, bucket, key } => d.key(Op::InfoKey, volume, bucket, key, KeyRow::Committed),
        // Ozone passes the listing's prefix as the key name (denials name it).
        ReadOp::ListKeys { volume, bucket, prefix, .. } => d.key(Op::ListKeys, volume, bucket, prefix, KeyRow::None),
        ReadOp::ListStatus { volume, bucket, key, .. } => d.key(Op::ListKeys, volume, bucket, key, KeyRow::None),
        ReadOp::Digest => d.decide(Op::Digest, &Objects::default()),
        ReadOp::GetAcl { target } => {
            d.target(target, [Op::GetVolumeAcl, Op::GetBucketAcl, Op::GetKeyAcl, Op::GetPrefixAcl])
        }
        ReadOp::ListOpenKeys { .. } => d.decide(Op::ListOpenFiles, &Objects::default()),
    }
}

/// Which key row's ACLs a key operation is decided on.
#[derive(Debug, Clone, Copy)]
enum KeyRow {
    /// None: the operation creates the key, or is about the bucket (a listing).
    None,
    Committed,
    /// The open key of this client id (a commit).
    Open(u64),
}

struct Decider<'a> {
    ctx: &'a Context<'a>,
    rows: &'a Lookup<'a>,
}

impl Decider<'_> {
    /// Whether the stored rows can matter: with ACLs off or for an administrator only the
    /// operation's rule does (admin-only or not), so nothing is read.
    fn needs_rows(&self) -> bool {
        self.ctx.acl_enabled && !self.ctx.admins.is_admin(&self.ctx.caller)
    }

    fn decide(&self, op: Op, objects: &Objects<'_>) -> Result<(), ApiError> {
        authorize(&self.ctx.caller, self.ctx.admins, self.ctx.acl_enabled, op, objects).map_err(ApiError::from)
    }

    fn volume(&self, op: Op, volume: &str) -> Result<(), ApiError> {
        if !self.needs_rows() {
            return self.decide(op, &Objects::default());
        }
        let v = self.rows.volume(volume)?;
        self.decide(op, &Objects::volume(volume, v.as_ref().map(volume_row)))
    }

    fn bucket(&self, op: Op, volume: &str, bucket: &str) -> Result<(), ApiError> {
        if !self.needs_rows() {
            return self.decide(op, &Objects::default());
        }
        let v = self.rows.volume(volume)?;
        let b = self.rows.bucket(volume, bucket)?;
        self.decide(op, &Objects::volume(volume, v.as_ref().map(volume_row)).bucket(bucket, b.as_ref().map(bucket_row)))
    }

    fn key(&self, op: Op, volume: &str, bucket: &str, key: &str, which: KeyRow) -> Result<(), ApiError> {
        self.in_bucket(op, volume, bucket, key, which, None)
    }

    fn rename(&self, volume: &str, bucket: &str, key: &str, to_key: &str) -> Result<(), ApiError> {
        self.in_bucket(Op::RenameKey, volume, bucket, key, KeyRow::Committed, Some(to_key))
    }

    /// A key operation: the volume, bucket, key (or open key) rows and a prefix entry at
    /// exactly the key's path.
    fn in_bucket(
        &self,
        op: Op,
        volume: &str,
        bucket: &str,
        key: &str,
        which: KeyRow,
        to_key: Option<&str>,
    ) -> Result<(), ApiError> {
        if !self.needs_rows() {
            return self.decide(op, &Objects::default());
        }
        let v = self.rows.volume(volume)?;
        let b = self.rows.bucket(volume, bucket)?;
        let key_acls: Option<Vec<OzoneAcl>> = match which {
            KeyRow::None => None,
            // In a FILE_SYSTEM_OPTIMIZED bucket a name is a file, else a directory (`name/`).
            KeyRow::Committed => match self.rows.key(volume, bucket, key)? {
                Some(k) => Some(k.acls),
                None if b.as_ref().is_some_and(|b| b.layout == BucketLayout::FileSystemOptimized) => {
                    self.rows.key(volume, bucket, &format!("{key}/"))?.map(|k| k.acls)
                }
                None => None,
            },
            KeyRow::Open(client_id) => self.rows.open_key(volume, bucket, key, client_id)?.map(|k| k.acls),
        };
        let prefix_acls = self.rows.prefix(volume, bucket, key)?.map(|p| p.acls);
        let mut objects = Objects::volume(volume, v.as_ref().map(volume_row))
            .bucket(bucket, b.as_ref().map(bucket_row))
            .key(key, key_acls.as_deref());
        if let Some(p) = prefix_acls.as_deref() {
            objects = objects.prefix_entry(p);
        }
        if let Some(t) = to_key {
            objects = objects.rename_to(t);
        }
        self.decide(op, &objects)
    }

    /// An ACL operation: `ops` are its volume, bucket, key and prefix forms.
    fn target(&self, target: &AclTarget, ops: [Op; 4]) -> Result<(), ApiError> {
        let [on_volume, on_bucket, on_key, on_prefix] = ops;
        match target {
            AclTarget::Volume { volume } => self.volume(on_volume, volume),
            AclTarget::Bucket { volume, bucket } => self.bucket(on_bucket, volume, bucket),
            AclTarget::Key { volume, bucket, key } => self.key(on_key, volume, bucket, key, KeyRow::Committed),
            AclTarget::Prefix { volume, bucket, prefix } => self.prefix(on_prefix, volume, bucket, prefix),
        }
    }

    /// A prefix operation: the prefix entry's ACLs stand as the object's.
    fn prefix(&self, op: Op, volume: &str, bucket: &str, prefix: &str) -> Result<(), ApiError> {
        if !self.needs_rows() {
            return self.decide(op, &Objects::default());
        }
        let v = self.rows.volume(volume)?;
        let b = self.rows.bucket(volume, bucket)?;
        let entry = self.rows.prefix(volume, bucket, prefix)?.map(|p| p.acls);
        let objects = Objects::volume(volume, v.as_ref().map(volume_row))
            .bucket(bucket, b.as_ref().map(bucket_row))
            .key(prefix, entry.as_deref());
        self.decide(op, &objects)
    }
}

fn volume_row(v: &VolumeInfo) -> AclRow<'_> {
    AclRow { owner: &v.owner, acls: &v.acls }
}

fn bucket_row(b: &BucketInfo) -> AclRow<'_> {
    AclRow { owner: &b.owner, acls: &b.acls }
}
