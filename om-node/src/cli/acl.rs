//! `sh volume|bucket|key|prefix addacl|removeacl|setacl|getacl <path>`: Ozone's ACL commands,
//! with Ozone's options (`-a/--acl`, also `--acls`) and output (`ACL user:bob:rw[ACCESS] added
//! successfully.`, `getacl` as Ozone's JSON array).

use clap::Subcommand;
use om_client::acl::{format_acl_line, getacl_json, OzoneAcl};
use om_client::wire::{AclResource, AclTarget};
use om_client::FailoverClient;

use super::{print::print, CliError};

/// The ACL commands every object type has.
#[derive(Subcommand, Debug, Clone)]
pub enum AclOp {
    /// Add ACLs: each is merged into the entry of the same type, name and scope, or appended.
    #[command(name = "addacl")]
    AddAcl {
        path: String,
        /// ACLs as type:name:rights[SCOPE], comma-separated: user:bob:rw, group:dev:rl[DEFAULT], world::r.
        /// Rights: r(ead) w(rite) c(reate) l(ist) d(elete) x (read_acl) y (write_acl) a(ll) n(one).
        #[arg(short = 'a', long = "acl", visible_alias = "acls", value_name = "ACLS")]
        acl: String,
    },
    /// Remove ACLs: each one's rights are cleared from the entry of the same type, name and scope.
    #[command(name = "removeacl")]
    RemoveAcl {
        path: String,
        /// ACLs as type:name:rights[SCOPE], comma-separated.
        #[arg(short = 'a', long = "acl", visible_alias = "acls", value_name = "ACLS")]
        acl: String,
    },
    /// Replace all ACLs of the object.
    #[command(name = "setacl")]
    SetAcl {
        path: String,
        /// The new ACLs as type:name:rights[SCOPE], comma-separated.
        #[arg(short = 'a', long = "acl", visible_alias = "acls", value_name = "ACLS")]
        acl: String,
    },
    /// Print the object's ACLs as Ozone's JSON array.
    #[command(name = "getacl")]
    GetAcl {
        path: String,
        /// One comma-separated line of ACL strings instead of JSON (Ozone's --json=false).
        #[arg(long = "no-json")]
        no_json: bool,
    },
}

impl AclOp {
    /// The object's path as given.
    pub(super) fn path(&self) -> &str {
        match self {
            AclOp::AddAcl { path, .. }
            | AclOp::RemoveAcl { path, .. }
            | AclOp::SetAcl { path, .. }
            | AclOp::GetAcl { path, .. } => path,
        }
    }
}

/// The object of `path` for commands on `kind` (an `o3://service/` prefix is allowed).
pub fn target(kind: AclResource, path: &str) -> Result<AclTarget, CliError> {
    AclTarget::from_path(kind, super::strip_service(path)).map_err(CliError::Usage)
}

/// Parses `-a`: comma-separated ACL strings. An error names the ACL at fault.
pub fn parse_acls(text: &str) -> Result<Vec<OzoneAcl>, CliError> {
    OzoneAcl::parse_list(text).map_err(|list_error| {
        let (at_fault, error) = text
            .split(',')
            .filter(|part| !part.trim().is_empty())
            .find_map(|part| OzoneAcl::parse(part).err().map(|e| (part.trim(), e)))
            .unwrap_or((text, list_error));
        CliError::Usage(format!("invalid ACL {at_fault:?}: {error}"))
    })
}

/// Runs one ACL command on an object of `kind`.
pub async fn run(client: &FailoverClient, kind: AclResource, op: &AclOp, json: bool) -> Result<(), CliError> {
    match op {
        AclOp::AddAcl { path, acl } | AclOp::RemoveAcl { path, acl } => {
            let target = target(kind, path)?;
            let adding = matches!(op, AclOp::AddAcl { .. });
            for acl in parse_acls(acl)? {
                let change = if adding {
                    client.add_acl(target.clone(), acl.clone()).await?
                } else {
                    client.remove_acl(target.clone(), acl.clone()).await?
                };
                let value = serde_json::json!({"acl": acl.to_string(), "changed": change.changed, "acls": change.acls});
                print(json, &value, || match (adding, change.changed) {
                    (true, true) => format!("ACL {acl} added successfully."),
                    (true, false) => format!("ACL {acl} already exists."),
                    (false, true) => format!("ACL {acl} removed successfully."),
                    (false, false) => format!("ACL {acl} doesn't exist."),
                });
            }
        }
        AclOp::SetAcl { path, acl } => {
            let target = target(kind, path)?;
            let change = client.set_acl(target, parse_acls(acl)?).await?;
            print(json, &serde_json::json!({"acls": change.acls}), || "ACLs set successfully.".to_string());
        }
        AclOp::GetAcl { path, no_json } => {
            let acls = client.get_acl(target(kind, path)?).await?;
            if *no_json {
                println!("{}", format_acl_line(&acls));
            } else {
                println!("{}", getacl_json(&acls));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_objects() {
        assert_eq!(target(AclResource::Volume, "/v").unwrap(), AclTarget::Volume { volume: "v".into() });
        assert_eq!(
            target(AclResource::Key, "o3://om/v/b/a/b").unwrap(),
            AclTarget::Key { volume: "v".into(), bucket: "b".into(), key: "a/b".into() }
        );
        assert_eq!(
            target(AclResource::Prefix, "/v/b/dir/").unwrap(),
            AclTarget::Prefix { volume: "v".into(), bucket: "b".into(), prefix: "dir/".into() }
        );
        let e = target(AclResource::Prefix, "/v/b/dir").unwrap_err().to_string();
        assert!(e.contains("ends with '/'"), "{e}");
        assert!(target(AclResource::Bucket, "/v").is_err());
    }

    #[test]
    fn a_bad_acl_is_named_in_the_error() {
        assert_eq!(parse_acls("user:bob:rw,group:dev:rl[DEFAULT]").unwrap().len(), 2);
        let e = parse_acls("user:bob:rw, user:eve:rq").unwrap_err().to_string();
        assert!(e.contains("\"user:eve:rq\"") && e.contains("[q] ACL right is not recognized"), "{e}");
        let e = parse_acls("bob:rw").unwrap_err().to_string();
        assert!(e.contains("\"bob:rw\"") && e.contains("not in expected format"), "{e}");
        let e = parse_acls("").unwrap_err().to_string();
        assert!(e.contains("cannot be null or empty"), "{e}");
        assert!(matches!(parse_acls("fish:bob:r"), Err(CliError::Usage(_))));
    }
}
