//! Whether a caller may run an operation: Ozone's native authorizer as a pure function.
//!
//! [`authorize`] takes the caller, the administrators, the ACL switch, the [`Op`] and the stored
//! owners and ACLs of what the operation touches ([`Objects`]), and answers allowed or why not.
//! It reads nothing itself, so the node can call it on the leader before proposing a write (as
//! Ozone's `preExecute` does) and on any node before a read, and tests can run every case.
//!
//! The order follows Ozone 2.2.0 (`docs/ozone-notes/security.md` §2.2, §5):
//! 1. [`Rule::Anyone`] operations pass; [`Rule::AdminOnly`] ones need an administrator whenever
//!    security is on, ACLs or not.
//! 2. With `ozone.acl.enabled=false` everything else passes.
//! 3. Administrators pass everything: `ozone.administrators` users (`*`: everyone),
//!    `ozone.administrators.groups` members, and ring members (the node group; Ozone counts the
//!    user that started the OM).
//! 4. The native check: the volume owner may do anything on the volume and under it; the
//!    bucket owner anything in the bucket, but still needs the volume right (READ, WRITE to
//!    create a bucket); everyone else needs ACL entries granting the right on the object and
//!    the parents' rights of [`table`]. Volume CREATE is never granted, so only administrators
//!    create volumes.
//!
//! Entries match by USER name, GROUP membership, or always (WORLD, ANONYMOUS). The scope is
//! not looked at: a DEFAULT entry grants on its own object too, as Ozone's code does.
//!
//! Not modelled: Ozone's blacklists and read-only administrators, and
//! `ozone.om.volume.listall.allowed=false` (listing volumes is open to every caller, Ozone's
//! default). Call [`authorize`] only with security on: with it off Ozone checks nothing.

mod creation;
mod request;
mod table;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use om_client::acl::{grants, AclRight, OzoneAcl};
use om_client::wire::{ApiError, ErrorCode};

pub use creation::{fill_defaults, log_op};
pub use request::{check_read, check_write, Context};
pub use table::{bucket_right_for_key, rights_table_markdown, volume_right_for_bucket, Op, Resource, Rule};

/// The group ring members' certificates carry (`omring.security.node.group`).
pub const DEFAULT_NODE_GROUP: &str = "omring:nodes";

/// Who asks: the authenticated user (short name) and its groups.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub user: &'a str,
    pub groups: &'a [String],
}

impl Caller<'_> {
    fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    fn granted(&self, acls: &[OzoneAcl], right: AclRight) -> bool {
        grants(acls, self.user, self.groups, right)
    }
}

/// The administrators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admins {
    pub users: BTreeSet<String>,
    pub groups: BTreeSet<String>,
    /// `ozone.administrators` holds `*`.
    pub everyone: bool,
    /// Members of this group are ring members, hence administrators.
    pub node_group: Option<String>,
}

impl Admins {
    /// From `ozone.administrators`, `ozone.administrators.groups` (comma-separated, spaces
    /// ignored) and the node group (empty: none).
    pub fn from_config(administrators: &str, administrator_groups: &str, node_group: &str) -> Self {
        let names = |value: &str| -> BTreeSet<String> {
            value.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_string).collect()
        };
        let mut users = names(administrators);
        let everyone = users.remove("*");
        let node_group = Some(node_group.trim().to_string()).filter(|g| !g.is_empty());
        Admins { users, groups: names(administrator_groups), everyone, node_group }
    }

    pub fn is_admin(&self, caller: &Caller<'_>) -> bool {
        self.everyone
            || self.users.contains(caller.user)
            || caller.groups.iter().any(|g| self.groups.contains(g))
            || self.node_group.as_deref().is_some_and(|g| caller.in_group(g))
    }
}

/// The authorization fields of a stored volume or bucket row.
#[derive(Debug, Clone, Copy)]
pub struct AclRow<'a> {
    pub owner: &'a str,
    pub acls: &'a [OzoneAcl],
}

/// What an operation touches: the names the request gives (they fill denial messages, as
/// Ozone's `OzoneObj`), and the stored rows (`None`: no such row).
///
/// Give the names Ozone gives: the volume for volume operations and ListBuckets; volume and
/// bucket for bucket operations; for ListKeys also `key` = the listing's prefix (possibly
/// empty); for prefix operations `key` = the prefix path and `key_acls` its entry.
#[derive(Debug, Clone, Copy, Default)]
pub struct Objects<'a> {
    pub volume: Option<&'a str>,
    pub bucket: Option<&'a str>,
    /// The key, the ListKeys prefix, or the prefix path of prefix ACL operations.
    pub key: Option<&'a str>,
    /// RenameKey's new name.
    pub to_key: Option<&'a str>,
    pub volume_row: Option<AclRow<'a>>,
    pub bucket_row: Option<AclRow<'a>>,
    /// ACLs of the key (CommitKey: of the open key), or of the prefix entry of prefix
    /// operations; `None` when there is no such key or entry.
    pub key_acls: Option<&'a [OzoneAcl]>,
    /// Key operations: ACLs of a prefix entry at exactly the key's path, if there is one.
    pub prefix_acls: Option<&'a [OzoneAcl]>,
}

impl<'a> Objects<'a> {
    /// A volume and its row.
    pub fn volume(name: &'a str, row: Option<AclRow<'a>>) -> Self {
        Objects { volume: Some(name), volume_row: row, ..Objects::default() }
    }

    /// Adds a bucket and its row.
    pub fn bucket(self, name: &'a str, row: Option<AclRow<'a>>) -> Self {
        Objects { bucket: Some(name), bucket_row: row, ..self }
    }

    /// Adds a key (or listing prefix, or prefix path) and its ACLs.
    pub fn key(self, name: &'a str, acls: Option<&'a [OzoneAcl]>) -> Self {
        Objects { key: Some(name), key_acls: acls, ..self }
    }

    /// Adds the ACLs of a prefix entry at exactly the key's path.
    pub fn prefix_entry(self, acls: &'a [OzoneAcl]) -> Self {
        Objects { prefix_acls: Some(acls), ..self }
    }

    /// Adds RenameKey's new name.
    pub fn rename_to(self, to_key: &'a str) -> Self {
        Objects { to_key: Some(to_key), ..self }
    }
}

/// A refusal for lack of a right, with Ozone's message; its result code is PERMISSION_DENIED.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denied {
    pub message: String,
}

impl Denied {
    /// Ozone's `OmMetadataReader.checkAcls` message: `User <u> doesn't have <RIGHT> permission
    /// to access <TYPE> Volume:<v> Bucket:<b> Key:<k>`, each name part only when given; the
    /// volume and bucket parts end in a space, so a message may end in one.
    pub fn lacking(
        user: &str,
        right: AclRight,
        resource: Resource,
        volume: Option<&str>,
        bucket: Option<&str>,
        key: Option<&str>,
    ) -> Self {
        let mut message = format!("User {user} doesn't have {right} permission to access {} ", resource.as_str());
        if let Some(v) = volume {
            message.push_str(&format!("Volume:{v} "));
        }
        if let Some(b) = bucket {
            message.push_str(&format!("Bucket:{b} "));
        }
        if let Some(k) = key {
            message.push_str(&format!("Key:{k}"));
        }
        Denied { message }
    }

    pub fn code(&self) -> ErrorCode {
        ErrorCode::PermissionDenied
    }
}

/// Why [`authorize`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthzError {
    #[error(transparent)]
    PermissionDenied(#[from] Denied),
    /// The decision needs the volume's row and there is none (Ozone's message).
    #[error("Volume {0} is not found")]
    VolumeNotFound(String),
    #[error("Bucket {0} is not found")]
    BucketNotFound(String),
    /// A right other than READ on a key that does not exist (READ passes; the lookup fails).
    #[error("Key not found, checkAccess failed. Key:/{volume}/{bucket}/{key}")]
    KeyNotFound { volume: String, bucket: String, key: String },
    /// The caller did not give a name the operation needs: a bug in the caller.
    #[error("authorization of {op:?} needs the {missing} name")]
    MissingName { op: Op, missing: &'static str },
}

impl AuthzError {
    /// The result code clients get.
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthzError::PermissionDenied(d) => d.code(),
            AuthzError::VolumeNotFound(_) => ErrorCode::VolumeNotFound,
            AuthzError::BucketNotFound(_) => ErrorCode::BucketNotFound,
            AuthzError::KeyNotFound { .. } => ErrorCode::KeyNotFound,
            AuthzError::MissingName { .. } => ErrorCode::InternalError,
        }
    }
}

impl From<AuthzError> for ApiError {
    fn from(e: AuthzError) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}

/// Decides whether `caller` may run `op` on `objects` (see the module docs for the order).
/// `acl_enabled` is `ozone.acl.enabled`; call this only when security is on.
pub fn authorize(
    caller: &Caller<'_>,
    admins: &Admins,
    acl_enabled: bool,
    op: Op,
    objects: &Objects<'_>,
) -> Result<(), AuthzError> {
    let rule = op.rule();
    match rule {
        Rule::Anyone => return Ok(()),
        Rule::AdminOnly(message) if !admins.is_admin(caller) => {
            return Err(Denied { message: message.to_string() }.into());
        }
        Rule::AdminOnly(_) => return Ok(()),
        _ if !acl_enabled || admins.is_admin(caller) => return Ok(()),
        _ => {}
    }
    let volume = objects.volume.ok_or(AuthzError::MissingName { op, missing: "volume" })?;
    if rule == Rule::Acl(Resource::Volume, AclRight::Create) {
        // Only administrators create volumes: the native authorizer never grants volume CREATE.
        return Err(Denied::lacking(caller.user, AclRight::Create, Resource::Volume, Some(volume), None, None).into());
    }
    let volume_row = || objects.volume_row.ok_or_else(|| AuthzError::VolumeNotFound(volume.to_string()));
    let bucket_name = || objects.bucket.ok_or(AuthzError::MissingName { op, missing: "bucket" });
    let bucket_row = |bucket: &str| objects.bucket_row.ok_or_else(|| AuthzError::BucketNotFound(bucket.to_string()));
    match rule {
        Rule::AdminOrBucketOwner(message) => {
            let row = bucket_row(bucket_name()?)?;
            if caller.user == row.owner {
                Ok(())
            } else {
                Err(Denied { message: message.to_string() }.into())
            }
        }
        Rule::Acl(Resource::Volume, right) => {
            let row = volume_row()?;
            if caller.user == row.owner || caller.granted(row.acls, right) {
                Ok(())
            } else {
                Err(Denied::lacking(caller.user, right, Resource::Volume, Some(volume), objects.bucket, objects.key)
                    .into())
            }
        }
        Rule::Acl(Resource::Bucket, AclRight::Create) => {
            // The bucket does not exist yet: only the volume is checked.
            let path = Path { volume, bucket: bucket_name()?, key: objects.key };
            check_volume(caller, &path, volume_row()?, AclRight::Create, Resource::Bucket)
        }
        Rule::Acl(resource, right) => {
            let bucket = bucket_name()?;
            let target = Target { path: Path { volume, bucket, key: objects.key }, acls: objects.key_acls };
            check_in_bucket(
                caller,
                op,
                resource,
                right,
                &target,
                objects.prefix_acls,
                volume_row()?,
                bucket_row(bucket)?,
            )
        }
        Rule::RenameKey => {
            let bucket = bucket_name()?;
            let (volume_row, bucket_row) = (volume_row()?, bucket_row(bucket)?);
            let from = Target { path: Path { volume, bucket, key: objects.key }, acls: objects.key_acls };
            check_in_bucket(
                caller,
                op,
                Resource::Key,
                AclRight::Delete,
                &from,
                objects.prefix_acls,
                volume_row,
                bucket_row,
            )?;
            let to_key = objects.to_key.ok_or(AuthzError::MissingName { op, missing: "to_key" })?;
            let to = Target { path: Path { volume, bucket, key: Some(to_key) }, acls: None };
            check_in_bucket(caller, op, Resource::Key, AclRight::Create, &to, None, volume_row, bucket_row)
        }
        Rule::Anyone | Rule::AdminOnly(_) => Ok(()),
    }
}

/// The names of one checked object, for messages.
struct Path<'a> {
    volume: &'a str,
    bucket: &'a str,
    key: Option<&'a str>,
}

impl Path<'_> {
    fn denied(&self, caller: &Caller<'_>, right: AclRight, resource: Resource) -> AuthzError {
        Denied::lacking(caller.user, right, resource, Some(self.volume), Some(self.bucket), self.key).into()
    }
}

/// A key or prefix object: its names and its ACLs (`None`: it does not exist).
struct Target<'a> {
    path: Path<'a>,
    acls: Option<&'a [OzoneAcl]>,
}

/// The first of `checkAllAcls`'s two calls: the volume owner passes; others need the parent
/// right on the volume (reported as a VOLUME denial of that right).
fn check_volume(
    caller: &Caller<'_>,
    path: &Path<'_>,
    volume: AclRow<'_>,
    right: AclRight,
    resource: Resource,
) -> Result<(), AuthzError> {
    let volume_right = if resource == Resource::Bucket { volume_right_for_bucket(right) } else { AclRight::Read };
    if caller.user == volume.owner || caller.granted(volume.acls, volume_right) {
        Ok(())
    } else {
        Err(path.denied(caller, volume_right, Resource::Volume))
    }
}

/// A bucket, key or prefix check: the volume part, then the object with the bucket owner
/// exempt. Failures of the object part report the requested right on the object's type.
#[allow(clippy::too_many_arguments)]
fn check_in_bucket(
    caller: &Caller<'_>,
    op: Op,
    resource: Resource,
    right: AclRight,
    target: &Target<'_>,
    prefix_entry: Option<&[OzoneAcl]>,
    volume: AclRow<'_>,
    bucket: AclRow<'_>,
) -> Result<(), AuthzError> {
    let path = &target.path;
    if caller.user == volume.owner {
        return Ok(());
    }
    check_volume(caller, path, volume, right, resource)?;
    if caller.user == bucket.owner {
        return Ok(());
    }
    let allowed = match resource {
        Resource::Bucket => caller.granted(bucket.acls, right),
        Resource::Key | Resource::Prefix => {
            let parent_right = bucket_right_for_key(right);
            let own = match (right, target.acls) {
                // The object does not exist yet when it is created.
                (AclRight::Create, _) => true,
                (_, Some(acls)) => caller.granted(acls, right),
                // No prefix entry: nothing to check. A missing key passes READ (the lookup
                // then fails) and fails anything else.
                (_, None) if resource == Resource::Prefix || right == AclRight::Read => true,
                (_, None) => {
                    let key = path.key.ok_or(AuthzError::MissingName { op, missing: "key" })?;
                    return Err(AuthzError::KeyNotFound {
                        volume: path.volume.to_string(),
                        bucket: path.bucket.to_string(),
                        key: key.to_string(),
                    });
                }
            };
            let prefix_ok =
                resource == Resource::Prefix || prefix_entry.is_none_or(|p| caller.granted(p, parent_right));
            own && prefix_ok && caller.granted(bucket.acls, parent_right)
        }
        Resource::Volume => caller.granted(volume.acls, right),
    };
    if allowed {
        Ok(())
    } else {
        Err(path.denied(caller, right, resource))
    }
}
