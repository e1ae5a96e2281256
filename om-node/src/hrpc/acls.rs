//! The ACL requests of OzoneManagerProtocol (AddAcl, RemoveAcl, SetAcl, GetAcl) and
//! CheckVolumeAccess. They become the same ACL operations the JSON API and `omring sh ...
//! addacl` use, so the same rights checks and audit lines apply.

use om_client::acl::OzoneAcl;
use om_client::wire::*;

use super::convert;
use super::dispatch::{missing, unexpected, Ctx, Refusal};
use super::proto::om;
use super::status::st;

fn target(obj: Option<&om::OzoneObj>, what: &str) -> Result<AclTarget, Refusal> {
    let obj = obj.ok_or_else(|| missing(what))?;
    convert::target_from(obj).map_err(|m| Refusal::Status(st::INVALID_PATH_IN_ACL_REQUEST, m))
}

fn acl(info: &om::OzoneAclInfo) -> Result<OzoneAcl, Refusal> {
    convert::acl_from(info).map_err(|m| Refusal::Api(ApiError::new(ErrorCode::InvalidRequest, m)))
}

/// Serves request types 13 and 75–78 into `resp`.
pub(super) async fn handle(
    cx: &Ctx<'_>,
    cmd: i32,
    req: &om::OmRequest,
    resp: &mut om::OmResponse,
) -> Result<(), Refusal> {
    match cmd {
        13 => {
            let r = req.check_volume_access_request.as_ref().ok_or_else(|| missing("checkVolumeAccessRequest"))?;
            let asked = acl(r.user_acl.as_ref().ok_or_else(|| missing("checkVolumeAccessRequest.userAcl"))?)?;
            let volume = match cx.read(ReadOp::VolumeInfo { volume: r.volume_name.clone() }).await? {
                ReadResponse::Volume { volume } => volume,
                other => return Err(unexpected("VolumeInfo", other)),
            };
            if !has_access(&volume.acls, &asked) {
                return Err(Refusal::Status(
                    st::ACCESS_DENIED,
                    format!("{asked} is not granted on volume {}", r.volume_name),
                ));
            }
            resp.check_volume_access_response = Some(om::Empty {});
        }
        75 | 76 => {
            let r = if cmd == 75 { &req.add_acl_request } else { &req.remove_acl_request };
            let r = r.as_ref().ok_or_else(|| missing(if cmd == 75 { "addAclRequest" } else { "removeAclRequest" }))?;
            let target = target(r.obj.as_ref(), "obj")?;
            let [info] = r.acl.as_slice() else {
                return Err(Refusal::Api(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("expected exactly one acl, got {}", r.acl.len()),
                )));
            };
            let acl = acl(info)?;
            let op = if cmd == 75 { WriteOp::AddAcl { target, acl } } else { WriteOp::RemoveAcl { target, acl } };
            let changed = match cx.write(op).await? {
                WriteOutcome::Acl { changed, .. } => changed,
                other => return Err(unexpected("AddAcl/RemoveAcl", other)),
            };
            let answer = Some(om::BoolResponse { response: Some(changed) });
            if cmd == 75 {
                resp.add_acl_response = answer;
            } else {
                resp.remove_acl_response = answer;
            }
        }
        77 => {
            let r = req.set_acl_request.as_ref().ok_or_else(|| missing("setAclRequest"))?;
            let target = target(r.obj.as_ref(), "obj")?;
            let acls = r.acl.iter().map(acl).collect::<Result<Vec<_>, _>>()?;
            match cx.write(WriteOp::SetAcl { target, acls }).await? {
                WriteOutcome::Acl { .. } => resp.set_acl_response = Some(om::BoolResponse { response: Some(true) }),
                other => return Err(unexpected("SetAcl", other)),
            }
        }
        78 => {
            let r = req.get_acl_request.as_ref().ok_or_else(|| missing("getAclRequest"))?;
            let target = target(r.obj.as_ref(), "obj")?;
            match cx.read(ReadOp::GetAcl { target }).await? {
                ReadResponse::Acls { acls } => {
                    resp.get_acl_response =
                        Some(om::GetAclResponse { acls: acls.iter().map(convert::acl_to).collect() })
                }
                other => return Err(unexpected("GetAcl", other)),
            }
        }
        other => return Err(unexpected("ACL request dispatch", other)),
    }
    Ok(())
}

/// Ozone's `OmOzoneAclMap.hasAccess`: the volume's ACCESS entry for exactly this identity
/// shares a right with the asked ones (or holds ALL), and does not hold NONE.
fn has_access(acls: &[OzoneAcl], asked: &OzoneAcl) -> bool {
    use om_client::acl::{AclRight, AclScope};
    let entry = acls.iter().find(|a| {
        a.scope() == AclScope::Access && a.identity_type() == asked.identity_type() && a.name() == asked.name()
    });
    let Some(entry) = entry else { return false };
    let held = entry.rights();
    let shared = asked.rights().iter().any(|r| held.contains(r));
    (shared || held.contains(AclRight::All)) && !held.contains(AclRight::None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_access_follows_ozones_acl_map() {
        let acls: Vec<OzoneAcl> =
            ["user:alice:rw", "user:bob:a", "user:eve:rn", "group:dev:l"].iter().map(|a| a.parse().unwrap()).collect();
        let asks = |a: &str| has_access(&acls, &a.parse().unwrap());
        assert!(asks("user:alice:r"));
        assert!(asks("user:alice:rd"), "one shared right is enough");
        assert!(!asks("user:alice:d"));
        assert!(asks("user:bob:x"), "ALL");
        assert!(!asks("user:eve:r"), "NONE");
        assert!(!asks("user:carol:r"), "no entry");
        assert!(asks("group:dev:l"));
        assert!(!asks("user:dev:l"), "the type must match");
    }
}
