//! What `getacl` prints: Ozone's JSON array (Jackson's default pretty printer) or, with
//! `--json=false`, one line of ACL strings.

use std::io;

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
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, JacksonPretty::default());
    // Plain structs of strings into memory: serializing cannot fail.
    if view.serialize(&mut ser).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
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

/// Jackson's `DefaultPrettyPrinter`: objects break lines and indent two spaces per level,
/// arrays stay on one line with a space inside the brackets, keys and values are separated by
/// ` : `.
#[derive(Default)]
struct JacksonPretty {
    depth: usize,
    /// Per open object: whether it has had an entry.
    object_has_entries: Vec<bool>,
}

impl JacksonPretty {
    fn newline_indent<W: ?Sized + io::Write>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(b"\n")?;
        for _ in 0..self.depth {
            w.write_all(b"  ")?;
        }
        Ok(())
    }
}

impl serde_json::ser::Formatter for JacksonPretty {
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b" ]")
    }

    fn begin_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        let separator: &[u8] = if first { b" " } else { b", " };
        w.write_all(separator)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        Ok(())
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.object_has_entries.push(false);
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        if self.object_has_entries.pop().unwrap_or(false) {
            self.newline_indent(w)?;
        } else {
            w.write_all(b" ")?;
        }
        w.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if let Some(has) = self.object_has_entries.last_mut() {
            *has = true;
        }
        if !first {
            w.write_all(b",")?;
        }
        self.newline_indent(w)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b" : ")
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        Ok(())
    }
}
