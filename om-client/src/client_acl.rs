//! The failover client's ACL calls: Ozone's `addAcl`, `removeAcl`, `setAcl` and `getAcl` of
//! `ObjectStore`, on a volume, bucket, key or prefix.

use crate::acl::OzoneAcl;
use crate::client::{ClientError, FailoverClient};
use crate::wire::*;

/// What an ACL change did: whether anything changed, and the object's ACLs after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclChange {
    pub changed: bool,
    pub acls: Vec<OzoneAcl>,
}

impl FailoverClient {
    /// Merges `acl` into the object's ACLs; `changed` is false when it was already there.
    pub async fn add_acl(&self, target: AclTarget, acl: OzoneAcl) -> Result<AclChange, ClientError> {
        self.acl_write(WriteOp::AddAcl { target, acl }).await
    }

    /// Clears `acl`'s rights from the object's entry of its type, name and scope; `changed` is
    /// false when there was nothing to clear.
    pub async fn remove_acl(&self, target: AclTarget, acl: OzoneAcl) -> Result<AclChange, ClientError> {
        self.acl_write(WriteOp::RemoveAcl { target, acl }).await
    }

    /// Replaces the object's ACLs.
    pub async fn set_acl(&self, target: AclTarget, acls: Vec<OzoneAcl>) -> Result<AclChange, ClientError> {
        self.acl_write(WriteOp::SetAcl { target, acls }).await
    }

    /// The object's ACLs.
    pub async fn get_acl(&self, target: AclTarget) -> Result<Vec<OzoneAcl>, ClientError> {
        match self.read(ReadOp::GetAcl { target }).await? {
            ReadResponse::Acls { acls } => Ok(acls),
            other => Err(unexpected(format!("getacl answered {other:?}"))),
        }
    }

    async fn acl_write(&self, op: WriteOp) -> Result<AclChange, ClientError> {
        match self.write(op).await?.outcome {
            WriteOutcome::Acl { changed, acls } => Ok(AclChange { changed, acls }),
            other => Err(unexpected(format!("ACL change answered {other:?}"))),
        }
    }
}

fn unexpected(message: String) -> ClientError {
    ClientError::Api(ApiError::new(ErrorCode::InternalError, message))
}
