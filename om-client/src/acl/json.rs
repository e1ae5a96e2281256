//! What `getacl` prints: Ozone's JSON array (Jackson's default pretty printer) or, with
//! `--json=false`, one line of ACL strings.

use serde::{Deserialize, Serialize};

use super::{AclIdentityType, AclRight, AclScope, OzoneAcl};

/// One ACL as Ozone 2.2.0's `getacl` JSON shows it, fields in Ozone's order. `aclSet` repeats
/// `aclList` (2.2.0 serializes both getters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclJson {
    #[serde(rename = "type")]
    pub identity_type: AclIdentityType,
    pub name: String,
    #[serde(rename = "aclScope")]
    pub scope: AclScope,
    #[serde(rename = "aclList")]
    pub acl_list: Vec<AclRight>,
    #[serde(rename = "aclSet")]
    pub acl_set: Vec<AclRight>,
}

impl From<&OzoneAcl> for AclJson {
    fn from(acl: &OzoneAcl) -> Self {
        let rights: Vec<AclRight> = acl.rights().iter().collect();
        AclJson {
            identity_type: acl.identity_type(),
            name: acl.name().to_string(),
            scope: acl.scope(),
            acl_list: rights.clone(),
            acl_set: rights,
        }
    }
}

/// `getacl`'s output: the ACLs as a JSON array, laid out as Jackson's default pretty printer does
/// (`"key" : value`, objects indented by two, arrays on one line: `[ "READ", "LIST" ]`, `[ ]`).
pub fn getacl_json(acls: &[OzoneAcl]) -> String {
    let view: Vec<AclJson> = acls.iter().map(AclJson::from).collect();
    crate::jackson::to_string(&view)
}

/// `getacl --json=false`: the ACL strings joined by commas, `[ACCESS]` left out
/// (`user:bob:a,group:dev:rl,user:carol:r[DEFAULT]`).
pub fn format_acl_line(acls: &[OzoneAcl]) -> String {
    let access_suffix = format!("[{}]", AclScope::Access);
    acls.iter()
        .map(|a| {
            let text = a.to_string();
            text.strip_suffix(access_suffix.as_str()).map(str::to_string).unwrap_or(text)
        })
        .collect::<Vec<_>>()
        .join(",")
}
