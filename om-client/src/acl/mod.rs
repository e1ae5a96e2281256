//! Ozone's native ACL model: who ([`AclIdentityType`] and a name) may do what ([`AclRights`])
//! on a volume, bucket, key or prefix, and whether the entry is for the object itself or handed
//! down to the children created under it ([`AclScope`]).
//!
//! It lives here, not in om-node, because ACLs travel in the client API (`addacl`, `getacl`),
//! are parsed by the CLI and are stored in Raft log entries and namespace rows. The behaviour
//! follows Apache Ozone 2.2.0's code as recorded in `docs/ozone-notes/security.md` (classes
//! `OzoneAcl`, `OzoneAclUtil`, `IAccessAuthorizer`); where omring differs, the item says so:
//!
//! * `client_ip` entries are refused. Ozone accepts `client_ip:` but never matches addresses, so
//!   such an entry grants every caller (like `world`); refusing it avoids that surprise.
//! * `ASSUME_ROLE` (`m`, new in 2.2.0 for STS) is refused: omring has no STS.
//! * A name may contain `:` (Kubernetes principals such as `system:serviceaccount:ns:sa`): the
//!   first field is the type, the last the rights, everything between is the name. Ozone would
//!   silently drop the fields after the third instead.
//! * A malformed scope (`rw[default]`) is reported as a scope error; Ozone reports `[[] ACL right
//!   is not recognized`. Both refuse the same strings.
//!
//! Serialized forms are stable: JSON (the API) writes rights as Ozone's letters (`"rw"`), compact
//! binary (postcard, the Raft log and rows) writes Ozone's bitmask as a `u16`. Enum variants are
//! encoded by position in postcard: never reorder them.

mod json;
mod list;
mod parse;

#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use strum::{EnumIter, IntoEnumIterator, IntoStaticStr};

pub use json::{format_acl_line, getacl_json, AclJson};
pub use list::{
    acls_for_bucket, acls_for_key, acls_for_volume, add_acl, grants, inherit_default_acls, remove_acl, set_acls,
    CreatorRights, GROUP_RIGHTS_KEY, USER_RIGHTS_KEY,
};

/// Everything that can be wrong with an ACL, its text or its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    /// Ozone's message for an empty string or list element.
    #[error("ACLs cannot be null or empty")]
    Empty,
    /// Fewer than three `:`-separated fields.
    #[error("ACLs are not in expected format: {acl:?} (expected type:name:rights[SCOPE], e.g. user:bob:rw)")]
    BadFormat { acl: String },
    #[error("unknown ACL identity type {found:?}: expected user, group, world or anonymous")]
    UnknownIdentityType { found: String },
    #[error("client_ip ACLs are not supported: Ozone never matches the address, so the entry would grant every caller; write world::<rights> if that is meant")]
    ClientIpUnsupported,
    /// Ozone's message for a right letter it does not know.
    #[error("[{letter}] ACL right is not recognized")]
    UnknownRight { letter: char },
    #[error("[m] ACL right (ASSUME_ROLE) is not supported")]
    AssumeRoleUnsupported,
    #[error("ACL scope in {rights:?} is not recognized: expected [ACCESS] or [DEFAULT] (upper case)")]
    UnknownScope { rights: String },
    /// Ozone's message for a user or group entry without a name.
    #[error("{identity_type} name is required")]
    NameRequired { identity_type: AclIdentityType },
    /// Ozone's message for a world or anonymous entry with a name.
    #[error("Expected name {expected}, but was: {found}")]
    UnexpectedName { expected: &'static str, found: String },
    /// A right name in a configuration value (`ozone.om.user.rights`).
    #[error(
        "unknown ACL right {found:?}: expected READ, WRITE, CREATE, LIST, DELETE, READ_ACL, WRITE_ACL, ALL or NONE"
    )]
    UnknownRightName { found: String },
    #[error("no ACL right given: name one, or NONE for no rights")]
    NoRightNamed,
    /// Bits outside Ozone's nine rights in a stored bitmask.
    #[error("ACL rights bitmask {bits:#x} has bits outside the nine known rights")]
    UnknownRightBits { bits: u16 },
    /// A configuration key with a bad value.
    #[error("{key}: {source}")]
    Config { key: &'static str, source: Box<AclError> },
}

/// One right, with Ozone's bit position (`IAccessAuthorizer.ACLType` ordinal), which is also the
/// order letters and names are printed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, EnumIter, IntoStaticStr)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum AclRight {
    Read = 0,
    Write = 1,
    Create = 2,
    List = 3,
    Delete = 4,
    ReadAcl = 5,
    WriteAcl = 6,
    /// Every right.
    All = 7,
    /// No right: an entry carrying it grants nothing, whatever else it has.
    None = 8,
}

impl AclRight {
    /// The letter of the ACL string form (`r w c l d x y a n`).
    pub fn letter(self) -> char {
        match self {
            AclRight::Read => 'r',
            AclRight::Write => 'w',
            AclRight::Create => 'c',
            AclRight::List => 'l',
            AclRight::Delete => 'd',
            AclRight::ReadAcl => 'x',
            AclRight::WriteAcl => 'y',
            AclRight::All => 'a',
            AclRight::None => 'n',
        }
    }

    /// The right of a letter; case-sensitive as in Ozone.
    pub fn from_letter(letter: char) -> Option<Self> {
        AclRight::iter().find(|r| r.letter() == letter)
    }

    /// Ozone's enum name (`READ_ACL`), as in `getacl` JSON and configuration values.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The right of an enum name, ignoring case and surrounding spaces (configuration values).
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim();
        AclRight::iter().find(|r| r.name().eq_ignore_ascii_case(name))
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for AclRight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of rights: Ozone's bitmask, bit i = the right with ordinal i.
///
/// The ALL and NONE bits are kept as given (so `a` prints as `a`, as in Ozone); what a set
/// *grants* is answered by [`AclRights::grants`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AclRights(u16);

impl AclRights {
    pub const EMPTY: AclRights = AclRights(0);
    /// Bits of the nine known rights.
    const KNOWN: u16 = (1 << 9) - 1;

    /// The set of a stored bitmask; refuses unknown bits.
    pub fn from_bits(bits: u16) -> Result<Self, AclError> {
        if bits & !Self::KNOWN != 0 {
            return Err(AclError::UnknownRightBits { bits });
        }
        Ok(AclRights(bits))
    }

    pub fn bits(self) -> u16 {
        self.0
    }

    /// Whether the bit of `right` is set (not what it grants: see [`AclRights::grants`]).
    pub fn contains(self, right: AclRight) -> bool {
        self.0 & right.bit() != 0
    }

    /// Ozone's `OzoneAcl.checkAccess`: the right's bit or ALL is set, and NONE is not.
    pub fn grants(self, right: AclRight) -> bool {
        (self.contains(right) || self.contains(AclRight::All)) && !self.contains(AclRight::None)
    }

    pub fn with(self, right: AclRight) -> Self {
        AclRights(self.0 | right.bit())
    }

    pub fn union(self, other: AclRights) -> Self {
        AclRights(self.0 | other.0)
    }

    /// These rights without `other`'s bits.
    pub fn without(self, other: AclRights) -> Self {
        AclRights(self.0 & !other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The rights in Ozone's order.
    pub fn iter(self) -> impl Iterator<Item = AclRight> {
        AclRight::iter().filter(move |r| self.contains(*r))
    }

    /// Ozone's letters in Ozone's order, e.g. `rl`; empty for no rights.
    pub fn letters(self) -> String {
        self.iter().map(AclRight::letter).collect()
    }

    /// Parses letters (`rw`, `a`); every letter must be known. Empty is no rights.
    pub fn parse_letters(letters: &str) -> Result<Self, AclError> {
        letters.chars().try_fold(AclRights::EMPTY, |set, c| match AclRight::from_letter(c) {
            Some(r) => Ok(set.with(r)),
            None if c == 'm' => Err(AclError::AssumeRoleUnsupported),
            None => Err(AclError::UnknownRight { letter: c }),
        })
    }

    /// Parses a configuration value: comma-separated names, any case, spaces allowed
    /// (`ALL`, `READ, LIST`, `read_acl`).
    pub fn parse_names(value: &str) -> Result<Self, AclError> {
        let mut set = AclRights::EMPTY;
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let right = AclRight::from_name(name).ok_or_else(|| AclError::UnknownRightName { found: name.into() })?;
            set = set.with(right);
        }
        if set.is_empty() {
            return Err(AclError::NoRightNamed);
        }
        Ok(set)
    }
}

impl From<AclRight> for AclRights {
    fn from(right: AclRight) -> Self {
        AclRights(right.bit())
    }
}

impl FromIterator<AclRight> for AclRights {
    fn from_iter<I: IntoIterator<Item = AclRight>>(iter: I) -> Self {
        iter.into_iter().fold(AclRights::EMPTY, AclRights::with)
    }
}

impl std::ops::BitOr for AclRights {
    type Output = AclRights;
    fn bitor(self, other: AclRights) -> AclRights {
        self.union(other)
    }
}

impl fmt::Display for AclRights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.letters())
    }
}

impl fmt::Debug for AclRights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AclRights({:?})", self.letters())
    }
}

impl std::str::FromStr for AclRights {
    type Err = AclError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AclRights::parse_letters(s)
    }
}

/// Letters for people (JSON), the bitmask for compact binary (postcard).
impl Serialize for AclRights {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.letters())
        } else {
            s.serialize_u16(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for AclRights {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        if d.is_human_readable() {
            let letters = String::deserialize(d)?;
            AclRights::parse_letters(&letters).map_err(D::Error::custom)
        } else {
            AclRights::from_bits(u16::deserialize(d)?).map_err(D::Error::custom)
        }
    }
}

/// Whom an entry is for (`IAccessAuthorizer.ACLIdentityType`, without `CLIENT_IP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, EnumIter, IntoStaticStr)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum AclIdentityType {
    /// One user, by (short) name.
    User,
    /// Every member of a group.
    Group,
    /// Every caller. With security on every caller is authenticated, so: every principal.
    World,
    /// Every caller, exactly as WORLD (Ozone's authorizer does not tell them apart).
    Anonymous,
}

impl AclIdentityType {
    /// The printed form: `user`, `group`, `world`, `anonymous`.
    pub fn as_str(self) -> &'static str {
        match self {
            AclIdentityType::User => "user",
            AclIdentityType::Group => "group",
            AclIdentityType::World => "world",
            AclIdentityType::Anonymous => "anonymous",
        }
    }

    /// Ozone's enum name (`USER`), as in `getacl` JSON; also the stored name of world and
    /// anonymous entries.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Whether entries of this type name a user or group (else they match every caller).
    pub fn is_named(self) -> bool {
        matches!(self, AclIdentityType::User | AclIdentityType::Group)
    }
}

impl fmt::Display for AclIdentityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AclIdentityType {
    type Err = AclError;
    /// Any case, as Ozone upper-cases before looking the type up.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("client_ip") || s.eq_ignore_ascii_case("ip") {
            return Err(AclError::ClientIpUnsupported);
        }
        AclIdentityType::iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| AclError::UnknownIdentityType { found: s.to_string() })
    }
}

/// Whether an entry is for the object itself or copied to children created under it.
///
/// Access checks look at both (as Ozone's code does): a DEFAULT entry on a bucket also grants
/// its rights on the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, EnumIter, IntoStaticStr)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum AclScope {
    #[default]
    Access,
    Default,
}

impl AclScope {
    /// `ACCESS` or `DEFAULT`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for AclScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One ACL entry. Built only through [`OzoneAcl::new`] or parsing, so a user or group entry
/// always has a name and a world or anonymous entry always carries its type's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "StoredAcl", into = "StoredAcl")]
pub struct OzoneAcl {
    identity_type: AclIdentityType,
    name: String,
    rights: AclRights,
    scope: AclScope,
}

/// The serialized shape of [`OzoneAcl`]; deserializing goes through [`OzoneAcl::new`]'s checks.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredAcl {
    #[serde(rename = "type")]
    identity_type: AclIdentityType,
    #[serde(default)]
    name: String,
    #[serde(default)]
    rights: AclRights,
    #[serde(default)]
    scope: AclScope,
}

impl TryFrom<StoredAcl> for OzoneAcl {
    type Error = AclError;
    fn try_from(s: StoredAcl) -> Result<Self, AclError> {
        OzoneAcl::new(s.identity_type, s.name, s.rights, s.scope)
    }
}

impl From<OzoneAcl> for StoredAcl {
    fn from(a: OzoneAcl) -> Self {
        StoredAcl { identity_type: a.identity_type, name: a.name, rights: a.rights, scope: a.scope }
    }
}

impl OzoneAcl {
    /// Checks the name as Ozone does: required for user and group; for world and anonymous
    /// empty, `WORLD` or `ANONYMOUS`, and stored as the type's own name.
    pub fn new(
        identity_type: AclIdentityType,
        name: impl Into<String>,
        rights: AclRights,
        scope: AclScope,
    ) -> Result<Self, AclError> {
        let mut name = name.into();
        if identity_type.is_named() {
            if name.is_empty() {
                return Err(AclError::NameRequired { identity_type });
            }
        } else {
            let allowed = [AclIdentityType::World.name(), AclIdentityType::Anonymous.name(), ""];
            if !allowed.contains(&name.as_str()) {
                return Err(AclError::UnexpectedName { expected: identity_type.name(), found: name });
            }
            name = identity_type.name().to_string();
        }
        Ok(OzoneAcl { identity_type, name, rights, scope })
    }

    pub fn identity_type(&self) -> AclIdentityType {
        self.identity_type
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn rights(&self) -> AclRights {
        self.rights
    }

    pub fn scope(&self) -> AclScope {
        self.scope
    }

    /// The same entry with another scope.
    pub fn with_scope(&self, scope: AclScope) -> Self {
        OzoneAcl { scope, ..self.clone() }
    }

    /// The same entry with other rights.
    pub fn with_rights(&self, rights: AclRights) -> Self {
        OzoneAcl { rights, ..self.clone() }
    }

    /// Whether two entries are for the same identity in the same scope (what add and remove
    /// merge on).
    pub fn same_slot(&self, other: &OzoneAcl) -> bool {
        self.identity_type == other.identity_type && self.name == other.name && self.scope == other.scope
    }

    /// Whether the entry is about this caller: USER by name, GROUP by membership, WORLD and
    /// ANONYMOUS always.
    pub fn applies_to(&self, user: &str, groups: &[String]) -> bool {
        match self.identity_type {
            AclIdentityType::User => self.name == user,
            AclIdentityType::Group => groups.contains(&self.name),
            AclIdentityType::World | AclIdentityType::Anonymous => true,
        }
    }

    /// Whether the entry grants `right` to this caller. The scope is not looked at.
    pub fn grants(&self, user: &str, groups: &[String], right: AclRight) -> bool {
        self.applies_to(user, groups) && self.rights.grants(right)
    }

    /// Parses Ozone's `type:name:rights[SCOPE]`: `user:bob:rw`, `group:dev:rl[DEFAULT]`,
    /// `world::r`. Surrounding spaces are trimmed; the type is case-insensitive, letters and the
    /// scope are not; no scope means ACCESS; `user:bob:[DEFAULT]` is an entry without rights.
    pub fn parse(acl: &str) -> Result<Self, AclError> {
        parse::parse_acl(acl)
    }

    /// Parses a comma-separated list of ACL strings.
    pub fn parse_list(acls: &str) -> Result<Vec<Self>, AclError> {
        parse::parse_acl_list(acls)
    }
}

impl std::str::FromStr for OzoneAcl {
    type Err = AclError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OzoneAcl::parse(s)
    }
}

/// Ozone's printed form: `user:bob:rw[ACCESS]`, `world:WORLD:r[ACCESS]`.
impl fmt::Display for OzoneAcl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}[{}]", self.identity_type, self.name, self.rights, self.scope)
    }
}
