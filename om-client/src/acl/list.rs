//! ACL lists: how `addacl`, `removeacl` and `setacl` change them (Ozone's `OzoneAclUtil`), what a
//! new volume, bucket or key starts with, and whether a list grants a caller a right.
//!
//! Lists keep Ozone's order and may hold several entries for one identity (the creator's
//! defaults and the ACLs a client sent are concatenated, as in Ozone); only add, remove and
//! inheritance merge into an existing entry of the same type, name and scope.

use super::{AclError, AclIdentityType, AclRight, AclRights, AclScope, OzoneAcl};

/// Rights of an object's creator on it (default ALL).
pub const USER_RIGHTS_KEY: &str = "ozone.om.user.rights";
/// Rights of the creator's first group on it (default READ, LIST).
pub const GROUP_RIGHTS_KEY: &str = "ozone.om.group.rights";

/// `addacl`: ORs the rights into the entry with the same type, name and scope, or appends the
/// entry. False when nothing changed (Ozone then prints `ACL ... already exists.`).
pub fn add_acl(acls: &mut Vec<OzoneAcl>, acl: &OzoneAcl) -> bool {
    match acls.iter_mut().find(|a| a.same_slot(acl)) {
        Some(existing) => {
            let merged = existing.rights.union(acl.rights);
            let changed = merged != existing.rights;
            existing.rights = merged;
            changed
        }
        None => {
            acls.push(acl.clone());
            true
        }
    }
}

/// `removeacl`: clears the rights' bits from the entry with the same type, name and scope and
/// drops the entry once it has none left. False when there is no such entry or no bit changed
/// (bits, not meaning: removing `r` from `a` changes nothing, as in Ozone).
pub fn remove_acl(acls: &mut Vec<OzoneAcl>, acl: &OzoneAcl) -> bool {
    let Some(at) = acls.iter().position(|a| a.same_slot(acl)) else {
        return false;
    };
    let left = acls[at].rights.without(acl.rights);
    if left.is_empty() {
        acls.remove(at);
        return true;
    }
    let changed = left != acls[at].rights;
    acls[at].rights = left;
    changed
}

/// `setacl`: the list becomes exactly `new`, in its order and without merging.
pub fn set_acls(acls: &mut Vec<OzoneAcl>, new: Vec<OzoneAcl>) {
    *acls = new;
}

/// Adds the DEFAULT entries of `parent` to `acls`, as `scope` entries, merging like
/// [`add_acl`]. True when the parent had DEFAULT entries (whether or not they changed `acls`).
pub fn inherit_default_acls(acls: &mut Vec<OzoneAcl>, parent: &[OzoneAcl], scope: AclScope) -> bool {
    let mut inherited = false;
    for acl in parent.iter().filter(|a| a.scope == AclScope::Default) {
        add_acl(acls, &acl.with_scope(scope));
        inherited = true;
    }
    inherited
}

/// A new volume's ACLs: the owner's defaults (see [`CreatorRights::default_acls`]; Ozone builds
/// them for the owner, not the caller), then the ACLs the client sent. Pass no client ACLs for
/// `ozone.om.object.creation.ignore.client.acls=true`.
pub fn acls_for_volume(owner_defaults: Vec<OzoneAcl>, client_acls: &[OzoneAcl]) -> Vec<OzoneAcl> {
    let mut acls = owner_defaults;
    acls.extend_from_slice(client_acls);
    acls
}

/// A new bucket's ACLs: the creator's defaults, the client's ACLs, then the volume's DEFAULT
/// entries as ACCESS entries. They do not stay DEFAULT, so a volume's DEFAULT ACLs reach its
/// buckets but not their keys.
pub fn acls_for_bucket(
    creator_defaults: Vec<OzoneAcl>,
    client_acls: &[OzoneAcl],
    volume_acls: &[OzoneAcl],
) -> Vec<OzoneAcl> {
    let mut acls = acls_for_volume(creator_defaults, client_acls);
    inherit_default_acls(&mut acls, volume_acls, AclScope::Access);
    acls
}

/// A new key's ACLs: the creator's defaults, the client's ACLs, then as ACCESS entries the
/// DEFAULT entries of the first of `parents` that has any. Ozone's order of parents is: the
/// deepest prefix entry on the key's path, the nearest parent directory, the bucket. When
/// something was inherited, exact duplicates are removed (Ozone's `getAclsForKey`).
pub fn acls_for_key(
    creator_defaults: Vec<OzoneAcl>,
    client_acls: &[OzoneAcl],
    parents: &[&[OzoneAcl]],
) -> Vec<OzoneAcl> {
    let mut acls = acls_for_volume(creator_defaults, client_acls);
    if parents.iter().any(|parent| inherit_default_acls(&mut acls, parent, AclScope::Access)) {
        let mut unique: Vec<OzoneAcl> = Vec::with_capacity(acls.len());
        for acl in acls {
            if !unique.contains(&acl) {
                unique.push(acl);
            }
        }
        acls = unique;
    }
    acls
}

/// Whether any entry grants `right` to the caller (Ozone's `checkAclRights`). There are no deny
/// entries; the scope is not looked at, so DEFAULT entries grant on the object too.
pub fn grants(acls: &[OzoneAcl], user: &str, groups: &[String], right: AclRight) -> bool {
    acls.iter().any(|a| a.grants(user, groups, right))
}

/// What the creator of an object gets on it, from `ozone.om.user.rights` and
/// `ozone.om.group.rights`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreatorRights {
    pub user: AclRights,
    pub group: AclRights,
}

impl Default for CreatorRights {
    /// Ozone 2.x: ALL for the user, READ and LIST for the group.
    fn default() -> Self {
        CreatorRights { user: AclRight::All.into(), group: AclRights::from_iter([AclRight::Read, AclRight::List]) }
    }
}

impl CreatorRights {
    /// From the two keys' values (`None`: not configured, the default). Values are right names
    /// as Hadoop configuration writes them: `ALL`, `READ, LIST`, `read,list`.
    pub fn from_config(user_rights: Option<&str>, group_rights: Option<&str>) -> Result<Self, AclError> {
        let parse = |key: &'static str, value: &str| {
            AclRights::parse_names(value).map_err(|e| AclError::Config { key, source: Box::new(e) })
        };
        let defaults = CreatorRights::default();
        Ok(CreatorRights {
            user: user_rights.map(|v| parse(USER_RIGHTS_KEY, v)).transpose()?.unwrap_or(defaults.user),
            group: group_rights.map(|v| parse(GROUP_RIGHTS_KEY, v)).transpose()?.unwrap_or(defaults.group),
        })
    }

    /// ACCESS entries for `user` and for its first group (Ozone's primary group), if it has one.
    pub fn default_acls(&self, user: &str, groups: &[String]) -> Result<Vec<OzoneAcl>, AclError> {
        let mut acls = vec![OzoneAcl::new(AclIdentityType::User, user, self.user, AclScope::Access)?];
        if let Some(group) = groups.first() {
            acls.push(OzoneAcl::new(AclIdentityType::Group, group.as_str(), self.group, AclScope::Access)?);
        }
        Ok(acls)
    }
}
