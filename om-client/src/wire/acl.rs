//! What an ACL request is about: Ozone's `OzoneObj` (resource type and names).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The kind of object an ACL request names: Ozone's `OzoneObj.ObjectType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclResource {
    Volume,
    Bucket,
    Key,
    Prefix,
}

/// The object of `addacl`, `removeacl`, `setacl` and `getacl`.
///
/// Externally tagged (`{"KEY":{"volume":"v","bucket":"b","key":"k"}}`), so the same derive
/// serves the JSON API and the compact binary Raft log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
pub enum AclTarget {
    Volume {
        volume: String,
    },
    Bucket {
        volume: String,
        bucket: String,
    },
    Key {
        volume: String,
        bucket: String,
        key: String,
    },
    /// A key-name prefix inside a bucket; it ends with `/` (`dir/`, `a/b/`), as Ozone's prefix
    /// paths do.
    Prefix {
        volume: String,
        bucket: String,
        prefix: String,
    },
}

impl AclTarget {
    /// Ozone's resource type name: `VOLUME`, `BUCKET`, `KEY`, `PREFIX`.
    pub fn resource_type(&self) -> &'static str {
        match self {
            AclTarget::Volume { .. } => "VOLUME",
            AclTarget::Bucket { .. } => "BUCKET",
            AclTarget::Key { .. } => "KEY",
            AclTarget::Prefix { .. } => "PREFIX",
        }
    }

    pub fn volume(&self) -> &str {
        match self {
            AclTarget::Volume { volume }
            | AclTarget::Bucket { volume, .. }
            | AclTarget::Key { volume, .. }
            | AclTarget::Prefix { volume, .. } => volume,
        }
    }

    /// The bucket, for everything but volumes.
    pub fn bucket(&self) -> Option<&str> {
        match self {
            AclTarget::Volume { .. } => None,
            AclTarget::Bucket { bucket, .. } | AclTarget::Key { bucket, .. } | AclTarget::Prefix { bucket, .. } => {
                Some(bucket)
            }
        }
    }

    /// The key name or prefix path inside the bucket.
    pub fn name_in_bucket(&self) -> Option<&str> {
        match self {
            AclTarget::Volume { .. } | AclTarget::Bucket { .. } => None,
            AclTarget::Key { key, .. } => Some(key),
            AclTarget::Prefix { prefix, .. } => Some(prefix),
        }
    }
}

impl AclTarget {
    /// The object of kind `kind` at `path`: `/volume`, `/volume/bucket`, `/volume/bucket/key`
    /// (the key may hold `/`) or `/volume/bucket/dir/` (a prefix ends with `/`). The error says
    /// what shape was expected.
    pub fn from_path(kind: AclResource, path: &str) -> Result<AclTarget, String> {
        let p = path.trim_start_matches('/');
        let want = match kind {
            AclResource::Volume => 1,
            AclResource::Bucket => 2,
            AclResource::Key | AclResource::Prefix => 3,
        };
        let mut parts: Vec<String> = if want == 3 {
            p.splitn(3, '/').map(str::to_string).collect()
        } else {
            p.trim_end_matches('/').split('/').map(str::to_string).collect()
        };
        if parts.len() != want || parts.iter().any(|s| s.is_empty()) {
            let shape = ["/volume", "/volume/bucket", "/volume/bucket/key"][want - 1];
            return Err(format!("invalid path {path:?}: expected {shape}"));
        }
        Ok(match kind {
            AclResource::Volume => AclTarget::Volume { volume: parts.remove(0) },
            AclResource::Bucket => AclTarget::Bucket { bucket: parts.remove(1), volume: parts.remove(0) },
            AclResource::Key => {
                AclTarget::Key { key: parts.remove(2), bucket: parts.remove(1), volume: parts.remove(0) }
            }
            AclResource::Prefix => {
                if !parts[2].ends_with('/') {
                    return Err(format!(
                        "invalid prefix path {path:?}: a prefix path ends with '/', e.g. /volume/bucket/dir/"
                    ));
                }
                AclTarget::Prefix { prefix: parts.remove(2), bucket: parts.remove(1), volume: parts.remove(0) }
            }
        })
    }
}

/// The object's path: `/vol`, `/vol/bucket`, `/vol/bucket/key`, `/vol/bucket/dir/`.
impl fmt::Display for AclTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.volume())?;
        if let Some(b) = self.bucket() {
            write!(f, "/{b}")?;
        }
        if let Some(k) = self.name_in_bucket() {
            write!(f, "/{k}")?;
        }
        Ok(())
    }
}
