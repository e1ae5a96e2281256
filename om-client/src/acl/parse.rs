//! The ACL string syntax, `type:name:rights[SCOPE]`, as Ozone's `OzoneAcl.parseAcl` reads it.
//!
//! Steps, and the error each one gives:
//! 1. empty (after trimming) → [`AclError::Empty`];
//! 2. split on `:`, trailing empty fields dropped (Java's `split`, so `user:bob:rw:` is fine);
//!    fewer than three fields → [`AclError::BadFormat`] (`user:bob`, `user:bob:`);
//! 3. the first field is the type, any case → [`AclError::UnknownIdentityType`] or
//!    [`AclError::ClientIpUnsupported`];
//! 4. the last field is the rights, optionally ending in `[ACCESS]` or `[DEFAULT]`; any other
//!    bracket → [`AclError::UnknownScope`];
//! 5. each rights letter must be one of `rwcldxyan` → [`AclError::UnknownRight`];
//! 6. the fields between type and rights, joined by `:`, are the name (omring: names may hold
//!    `:`) → [`AclError::NameRequired`] / [`AclError::UnexpectedName`].

use super::{AclError, AclIdentityType, AclRights, AclScope, OzoneAcl};

pub(super) fn parse_acl(acl: &str) -> Result<OzoneAcl, AclError> {
    let acl = acl.trim();
    if acl.is_empty() {
        return Err(AclError::Empty);
    }
    let mut fields: Vec<&str> = acl.split(':').collect();
    while fields.last().is_some_and(|f| f.is_empty()) {
        fields.pop();
    }
    let (Some(type_field), Some(rights_field), true) = (fields.first(), fields.last(), fields.len() >= 3) else {
        return Err(AclError::BadFormat { acl: acl.to_string() });
    };
    let identity_type: AclIdentityType = type_field.parse()?;
    let (letters, scope) = split_scope(rights_field)?;
    let rights = AclRights::parse_letters(letters)?;
    let name = fields[1..fields.len() - 1].join(":");
    OzoneAcl::new(identity_type, name, rights, scope)
}

/// Splits `rw[DEFAULT]` into its letters and scope; no bracket means ACCESS.
fn split_scope(field: &str) -> Result<(&str, AclScope), AclError> {
    for scope in [AclScope::Access, AclScope::Default] {
        let suffix = format!("[{scope}]");
        if let Some(letters) = field.strip_suffix(suffix.as_str()) {
            if !letters.contains(['[', ']']) {
                return Ok((letters, scope));
            }
        }
    }
    if field.contains(['[', ']']) {
        return Err(AclError::UnknownScope { rights: field.to_string() });
    }
    Ok((field, AclScope::Access))
}

/// Comma-separated ACLs, each parsed by [`parse_acl`] (so spaces around each are fine).
/// Trailing empty elements are dropped as Java's `split` does; an empty one inside is an error.
pub(super) fn parse_acl_list(acls: &str) -> Result<Vec<OzoneAcl>, AclError> {
    let acls = acls.trim();
    if acls.is_empty() {
        return Err(AclError::Empty);
    }
    let mut parts: Vec<&str> = acls.split(',').collect();
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    if parts.is_empty() {
        return Err(AclError::BadFormat { acl: acls.to_string() });
    }
    parts.into_iter().map(parse_acl).collect()
}
