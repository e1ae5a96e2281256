//! The per-operation rights table: which check each client operation gets, taken from the Ozone
//! 2.2.0 request class or reader method named in [`Op::ozone_source`] and the native authorizer
//! (`OzoneNativeAuthorizer`, `OzoneAclUtils.checkAllAcls`, `OzoneAclUtils.getParentNativeAcl`).
//! See `docs/ozone-notes/security.md` §2 and §5.

use om_client::acl::AclRight;
use strum::{EnumIter, IntoEnumIterator, IntoStaticStr};

/// Every operation a client can ask a node for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, IntoStaticStr)]
pub enum Op {
    CreateVolume,
    InfoVolume,
    ListVolumes,
    /// Quota changes (a SetVolumeProperty that also changes the owner needs SetVolumeOwner too).
    SetVolumeProperty,
    SetVolumeOwner,
    DeleteVolume,
    GetVolumeAcl,
    AddVolumeAcl,
    RemoveVolumeAcl,
    SetVolumeAcl,
    CreateBucket,
    InfoBucket,
    ListBuckets,
    /// Quota, versioning and other bucket properties, not the owner.
    SetBucketProperty,
    SetBucketOwner,
    DeleteBucket,
    GetBucketAcl,
    AddBucketAcl,
    RemoveBucketAcl,
    SetBucketAcl,
    /// Opening a key for writing (Ozone's CreateKey / ALLOCATE_KEY).
    CreateKey,
    /// Committing an open key; the key's ACLs are the open key's.
    CommitKey,
    /// Key info and lookup.
    InfoKey,
    ListKeys,
    DeleteKey,
    RenameKey,
    GetKeyAcl,
    AddKeyAcl,
    RemoveKeyAcl,
    SetKeyAcl,
    GetPrefixAcl,
    AddPrefixAcl,
    RemovePrefixAcl,
    SetPrefixAcl,
    /// `GET /v1/om/status` (roles).
    Status,
    /// The namespace digest read.
    Digest,
    TransferLeadership,
    Decommission,
    Join,
    ReloadConfig,
    /// `admin om list-open-files`.
    ListOpenFiles,
    /// `admin om prepare`.
    Prepare,
    /// `admin om cancelprepare`.
    CancelPrepare,
}

/// What an ACL check is about (Ozone's `OzoneObj.ResourceType`), as denial messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, IntoStaticStr)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum Resource {
    Volume,
    Bucket,
    Key,
    Prefix,
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How an operation is decided, once the caller is authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Every authenticated caller.
    Anyone,
    /// Administrators only, whenever security is on, even with `ozone.acl.enabled=false`. The
    /// denial message.
    AdminOnly(&'static str),
    /// With ACLs on: administrators and the bucket's owner only, no ACL path (the volume owner is
    /// not exempt). The denial message.
    AdminOrBucketOwner(&'static str),
    /// With ACLs on: the native check of this right on this resource (plus the parents' rights
    /// that [`volume_right_for_bucket`] and [`bucket_right_for_key`] give).
    Acl(Resource, AclRight),
    /// With ACLs on: DELETE on the source key, then CREATE on the target key.
    RenameKey,
}

impl Op {
    /// The rule of this operation.
    pub fn rule(self) -> Rule {
        use AclRight::{Create, Delete, List, Read, ReadAcl, Write, WriteAcl};
        use Resource::{Bucket, Key, Prefix, Volume};
        match self {
            Op::CreateVolume => Rule::Acl(Volume, Create),
            Op::InfoVolume => Rule::Acl(Volume, Read),
            Op::ListVolumes => Rule::Anyone,
            Op::SetVolumeProperty => Rule::Acl(Volume, Write),
            Op::SetVolumeOwner => Rule::Acl(Volume, WriteAcl),
            Op::DeleteVolume => Rule::Acl(Volume, Delete),
            Op::GetVolumeAcl => Rule::Acl(Volume, ReadAcl),
            Op::AddVolumeAcl | Op::RemoveVolumeAcl | Op::SetVolumeAcl => Rule::Acl(Volume, WriteAcl),
            Op::CreateBucket => Rule::Acl(Bucket, Create),
            Op::InfoBucket => Rule::Acl(Bucket, Read),
            Op::ListBuckets => Rule::Acl(Volume, List),
            Op::SetBucketProperty => {
                Rule::AdminOrBucketOwner("Bucket properties are allowed to changed by Admin and Owner")
            }
            Op::SetBucketOwner => Rule::Acl(Bucket, WriteAcl),
            Op::DeleteBucket => Rule::Acl(Bucket, Delete),
            Op::GetBucketAcl => Rule::Acl(Bucket, ReadAcl),
            Op::AddBucketAcl | Op::RemoveBucketAcl | Op::SetBucketAcl => Rule::Acl(Bucket, WriteAcl),
            Op::CreateKey => Rule::Acl(Key, Create),
            Op::CommitKey => Rule::Acl(Key, Write),
            Op::InfoKey => Rule::Acl(Key, Read),
            Op::ListKeys => Rule::Acl(Bucket, List),
            Op::DeleteKey => Rule::Acl(Key, Delete),
            Op::RenameKey => Rule::RenameKey,
            Op::GetKeyAcl => Rule::Acl(Key, ReadAcl),
            Op::AddKeyAcl | Op::RemoveKeyAcl | Op::SetKeyAcl => Rule::Acl(Key, WriteAcl),
            Op::GetPrefixAcl => Rule::Acl(Prefix, ReadAcl),
            Op::AddPrefixAcl | Op::RemovePrefixAcl | Op::SetPrefixAcl => Rule::Acl(Prefix, WriteAcl),
            Op::Status => Rule::Anyone,
            Op::Digest => Rule::AdminOnly("Only Ozone admins are allowed to read the namespace digest."),
            Op::TransferLeadership => Rule::AdminOnly("Only Ozone admins are allowed to transfer raft leadership."),
            Op::Decommission => Rule::AdminOnly("Only administrators are authorized to perform decommission."),
            Op::Join => Rule::AdminOnly("Only Ozone admins are allowed to add a node to the ring."),
            Op::ReloadConfig => Rule::AdminOnly("Only Ozone admins are allowed to startReconfiguration"),
            Op::ListOpenFiles => Rule::AdminOnly("Only Ozone admins are allowed to list open files."),
            Op::Prepare => Rule::AdminOnly("Superuser privilege is required to prepare upgrade/downgrade."),
            Op::CancelPrepare => {
                Rule::AdminOnly("Superuser privilege is required to cancel ozone manager preparation.")
            }
        }
    }

    /// Where Ozone decides this operation (omring-only operations say so).
    pub fn ozone_source(self) -> &'static str {
        match self {
            Op::CreateVolume => "OMVolumeCreateRequest",
            Op::InfoVolume => "OzoneManager.getVolumeInfo",
            Op::ListVolumes => "OzoneManager.listAllVolumes (ozone.om.volume.listall.allowed, default true)",
            Op::SetVolumeProperty => "OMVolumeSetQuotaRequest",
            Op::SetVolumeOwner => "OMVolumeSetOwnerRequest",
            Op::DeleteVolume => "OMVolumeDeleteRequest",
            Op::GetVolumeAcl | Op::GetBucketAcl | Op::GetKeyAcl | Op::GetPrefixAcl => "OmMetadataReader.getAcl",
            Op::AddVolumeAcl => "OMVolumeAddAclRequest",
            Op::RemoveVolumeAcl => "OMVolumeRemoveAclRequest",
            Op::SetVolumeAcl => "OMVolumeSetAclRequest",
            Op::CreateBucket => "OMBucketCreateRequest",
            Op::InfoBucket => "OzoneManager.getBucketInfo",
            Op::ListBuckets => "OzoneManager.listBuckets",
            Op::SetBucketProperty => "OMBucketSetPropertyRequest",
            Op::SetBucketOwner => "OMBucketSetOwnerRequest",
            Op::DeleteBucket => "OMBucketDeleteRequest",
            Op::AddBucketAcl => "OMBucketAddAclRequest",
            Op::RemoveBucketAcl => "OMBucketRemoveAclRequest",
            Op::SetBucketAcl => "OMBucketSetAclRequest",
            Op::CreateKey => "OMKeyCreateRequest",
            Op::CommitKey => "OMKeyCommitRequest",
            Op::InfoKey => "OmMetadataReader.lookupKey / getKeyInfo",
            Op::ListKeys => "OmMetadataReader.listKeys",
            Op::DeleteKey => "OMKeyDeleteRequest",
            Op::RenameKey => "OMKeyRenameRequest",
            Op::AddKeyAcl => "OMKeyAddAclRequest",
            Op::RemoveKeyAcl => "OMKeyRemoveAclRequest",
            Op::SetKeyAcl => "OMKeySetAclRequest",
            Op::AddPrefixAcl => "OMPrefixAddAclRequest",
            Op::RemovePrefixAcl => "OMPrefixRemoveAclRequest",
            Op::SetPrefixAcl => "OMPrefixSetAclRequest",
            Op::Status => "omring (Ozone's getServiceList has no check)",
            Op::Digest => "omring only",
            Op::TransferLeadership => "OzoneManager.transferLeadership",
            Op::Decommission => "OMAdminProtocolServerSideImpl.decommission",
            Op::Join => "omring (Ozone's OM bootstrap)",
            Op::ReloadConfig => "ReconfigurationHandler (ozone admin reconfig start)",
            Op::ListOpenFiles => "OzoneManager.listOpenFiles",
            Op::Prepare => "OMPrepareRequest",
            Op::CancelPrepare => "OMCancelPrepareRequest",
        }
    }

    pub fn name(self) -> &'static str {
        self.into()
    }

    /// What a caller who is neither an administrator nor an owner needs, with ACLs on.
    pub fn requirement(self) -> String {
        let create = AclRight::Create;
        let read = AclRight::Read;
        match self.rule() {
            Rule::Anyone => "any authenticated caller".into(),
            Rule::AdminOnly(_) => "admins only (also with ACLs off)".into(),
            Rule::AdminOrBucketOwner(_) => "admins or the bucket owner only".into(),
            Rule::Acl(Resource::Volume, AclRight::Create) => "admins only (volume CREATE is never granted)".into(),
            Rule::Acl(Resource::Volume, right) => format!("{right} on volume"),
            Rule::Acl(Resource::Bucket, AclRight::Create) => format!("{} on volume", volume_right_for_bucket(create)),
            Rule::Acl(Resource::Bucket, right) => {
                format!("{} on volume + {right} on bucket", volume_right_for_bucket(right))
            }
            Rule::Acl(Resource::Key, right) => {
                let parent = bucket_right_for_key(right);
                let key = if right == create { String::new() } else { format!(" + {right} on key") };
                format!("{read} on volume + {parent} on bucket{key} (+ {parent} on a prefix entry at the key's path)")
            }
            Rule::Acl(Resource::Prefix, right) => format!(
                "{read} on volume + {} on bucket + {right} on prefix (if it has an entry)",
                bucket_right_for_key(right)
            ),
            Rule::RenameKey => format!(
                "{read} on volume + {} on bucket + {} on key, then {} on bucket (creating the target)",
                bucket_right_for_key(AclRight::Delete),
                AclRight::Delete,
                bucket_right_for_key(create)
            ),
        }
    }

    /// Who passes without ACL entries, with ACLs on.
    pub fn owners(self) -> &'static str {
        match self.rule() {
            Rule::Anyone | Rule::AdminOnly(_) | Rule::Acl(Resource::Volume, AclRight::Create) => "-",
            Rule::AdminOrBucketOwner(_) => "bucket owner (not the volume owner)",
            Rule::Acl(Resource::Volume, _) | Rule::Acl(Resource::Bucket, AclRight::Create) => "volume owner",
            Rule::Acl(_, _) | Rule::RenameKey => "volume owner; bucket owner, given the volume part",
        }
    }
}

/// The right a bucket operation needs on the volume (`getParentNativeAcl` for BUCKET): WRITE to
/// create a bucket, READ for everything else.
pub fn volume_right_for_bucket(right: AclRight) -> AclRight {
    if right == AclRight::Create {
        AclRight::Write
    } else {
        AclRight::Read
    }
}

/// The right a key or prefix operation needs on the bucket (and on a prefix entry at the key's
/// path; `getParentNativeAcl` for KEY and PREFIX): WRITE to create or write, READ otherwise.
/// The volume always needs READ.
pub fn bucket_right_for_key(right: AclRight) -> AclRight {
    match right {
        AclRight::Create | AclRight::Write => AclRight::Write,
        _ => AclRight::Read,
    }
}

/// The table as Markdown, one row per operation, for the docs.
pub fn rights_table_markdown() -> String {
    let mut out = String::from(
        "| operation | needs (ACLs on; not an admin or owner) | passes without entries | Ozone |\n|---|---|---|---|\n",
    );
    for op in Op::iter() {
        out.push_str(&format!("| {} | {} | {} | {} |\n", op.name(), op.requirement(), op.owners(), op.ozone_source()));
    }
    out
}
