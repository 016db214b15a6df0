//! A secret key's metadata: who may use or manage it (access, grants, principals), where
//! its value may go (allowed hosts), which components may reveal it, and the checks on its
//! name and description. Plain data with no value in it (the value type is
//! [`crate::secrets::SecretValue`]), kept here at the bottom so that every room that
//! reads secret metadata (the directory, dropping a removed principal's grants; the
//! secret store; the API) depends on a plain type and not on the secret store.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{ComponentId, GroupId, SecretId, Timestamp, UserId};

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
/// The most allowed-host patterns per secret.
pub const MAX_ALLOWED_HOSTS: usize = 50;
/// The most grants per secret.
pub const MAX_GRANTS: usize = 200;
/// The most components one secret may be revealed to.
pub const MAX_REVEAL_COMPONENTS: usize = 50;

/// Who may use a secret besides its grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Every member of the org may use it.
    Team,
    /// Only the grants (and the creator and admins) may.
    Restricted,
}

/// A permission on a secret. `Manage` implies `Use`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Use the value in a run.
    Use,
    /// Rename, re-value, re-permission or delete it (and use it).
    Manage,
}

/// Who a grant is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Principal {
    /// One user.
    User(UserId),
    /// Every member of a group.
    Group(GroupId),
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::User(u) => write!(f, "user:{u}"),
            Principal::Group(g) => write!(f, "group:{g}"),
        }
    }
}

/// A permission given to a user or group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Who.
    pub principal: Principal,
    /// What.
    pub permission: Permission,
}

impl std::str::FromStr for Grant {
    type Err = Error;

    /// Parses `user:ID=use|manage` or `group:ID=use|manage`.
    fn from_str(s: &str) -> Result<Self> {
        const SHAPE: &str = "expected user:ID=use|manage or group:ID=use|manage";
        let (who, permission) = s
            .split_once('=')
            .ok_or_else(|| Error::invalid("grant", format!("{s:?}: {SHAPE}")))?;
        let permission = match permission {
            "use" => Permission::Use,
            "manage" => Permission::Manage,
            other => {
                return Err(Error::invalid(
                    "grant",
                    format!("{s:?}: permission {other:?} is neither use nor manage"),
                ));
            }
        };
        let principal = match who.split_once(':') {
            Some(("user", id)) => Principal::User(UserId::parse_field("grant", id)?),
            Some(("group", id)) => Principal::Group(GroupId::parse_field("grant", id)?),
            _ => return Err(Error::invalid("grant", format!("{s:?}: {SHAPE}"))),
        };
        Ok(Grant {
            principal,
            permission,
        })
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = match self.permission {
            Permission::Use => "use",
            Permission::Manage => "manage",
        };
        write!(f, "{}={p}", self.principal)
    }
}

/// A host a secret may be sent to: `api.stripe.com`, or `*.hubspot.com` for any subdomain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostPattern(String);

impl HostPattern {
    /// Parses and lower-cases a pattern.
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) naming `allowed host`.
    pub fn parse(s: &str) -> Result<Self> {
        let lower = s.to_ascii_lowercase();
        let host = lower.strip_prefix("*.").unwrap_or(&lower);
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
            return Err(Error::invalid(
                "allowed host",
                format!(
                    "{s:?} is not a host name or a `*.`-prefixed host pattern (e.g. api.stripe.com, *.hubspot.com)"
                ),
            ));
        }
        Ok(HostPattern(lower))
    }

    /// Whether `host` matches: exactly, or as any subdomain for a `*.` pattern.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match self.0.strip_prefix("*.") {
            Some(suffix) => host.len() > suffix.len() + 1 && host.ends_with(&format!(".{suffix}")),
            None => host == self.0,
        }
    }

    /// The pattern as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HostPattern {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Self::parse(&s)
    }
}

impl From<HostPattern> for String {
    fn from(p: HostPattern) -> String {
        p.0
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything about a secret except its value. Safe to show any member of the org.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretMeta {
    /// Stable id, used by actions.
    pub id: SecretId,
    /// Display name, unique in the org ignoring case.
    pub name: String,
    /// Optional free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Team or restricted.
    pub access: Access,
    /// Per-user and per-group permissions.
    #[serde(default)]
    pub grants: Vec<Grant>,
    /// Hosts the value may be sent to; empty means any host.
    #[serde(default)]
    pub allowed_hosts: Vec<HostPattern>,
    /// The Run Code components its managers approved to reveal the value (a binding's
    /// `"reveal": true` runs only in one of these); empty: none may.
    #[serde(default)]
    pub reveal_components: Vec<ComponentId>,
    /// Who created it.
    pub created_by: UserId,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    /// Who changed it last.
    pub updated_by: UserId,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
    /// The value's version: 1 at creation, +1 at every set-value.
    pub version: u32,
}

/// Validates a secret name: 1–100 characters, no control characters, no leading or
/// trailing white space.
///
/// # Errors
/// [`Invalid`](crate::error::ErrorKind::Invalid) naming `name`.
pub fn validate_name(name: &str) -> Result<()> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(Error::invalid(
            "name",
            format!("it has {chars} characters; a name has 1 to {MAX_NAME_CHARS}"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid("name", "it contains a control character"));
    }
    if name.trim() != name {
        return Err(Error::invalid("name", "it starts or ends with white space"));
    }
    Ok(())
}

/// The key that makes names unique ignoring case.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// Validates a description.
///
/// # Errors
/// [`Invalid`](crate::error::ErrorKind::Invalid) naming `description`.
pub fn validate_description(text: &str) -> Result<()> {
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Error::invalid(
            "description",
            format!("it is longer than {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(Error::invalid(
            "description",
            "it contains a control character",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_parse_both_principals_and_refuse_other_shapes() {
        let g: Grant = "group:eng=manage".parse().unwrap();
        assert_eq!(
            g.principal,
            Principal::Group(GroupId::parse("eng").unwrap())
        );
        assert_eq!(g.permission, Permission::Manage);
        assert_eq!(g.to_string(), "group:eng=manage");
        for bad in [
            "user:bob",
            "user:bob=read",
            "team:x=use",
            "user:=use",
            "bob=use",
        ] {
            assert!(bad.parse::<Grant>().is_err(), "{bad}");
        }
    }
    #[test]
    fn host_patterns_match_exact_hosts_and_wildcard_subdomains() {
        let exact = HostPattern::parse("API.Stripe.com").unwrap();
        assert!(exact.matches("api.stripe.com"));
        assert!(!exact.matches("evil-api.stripe.com"));
        let wild = HostPattern::parse("*.hubspot.com").unwrap();
        assert!(wild.matches("api.hubspot.com"));
        assert!(wild.matches("a.b.hubspot.com"));
        assert!(!wild.matches("hubspot.com"));
        assert!(!wild.matches("evilhubspot.com"));
        for bad in [
            "",
            "*",
            "a..b",
            "-a.com",
            "http://x.com",
            "x.com/path",
            "a b",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
    }
    #[test]
    fn names_are_checked_for_length_controls_and_spaces() {
        assert!(validate_name("Stripe live key").is_ok());
        assert!(validate_name(&"é".repeat(100)).is_ok());
        assert!(validate_name(&"a".repeat(101)).is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name("a\u{7}b").is_err());
        assert!(validate_name(" padded").is_err());
        assert_eq!(name_key("Stripe KEY"), name_key("stripe key"));
    }
}
