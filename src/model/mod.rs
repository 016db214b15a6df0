//! Plain identifiers and timestamps shared by every room.
//!
//! Every identifier is validated when it is parsed, so a value of one of these types is
//! always safe to embed in a storage key (no `{`, `}`, `:` or control characters).

pub mod secret;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A point in time, serialized as RFC 3339 in UTC.
pub type Timestamp = time::OffsetDateTime;

/// Where a run's log lines go as they happen (for live views): each line already redacted.
pub type LiveLog = tokio::sync::mpsc::UnboundedSender<String>;

/// The current time in UTC.
pub fn now() -> Timestamp {
    time::OffsetDateTime::now_utc()
}

fn slug_ok(s: &str, max: usize, extra: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    s.len() <= max
        && first.is_ascii_alphanumeric()
        && chars.all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $what:literal, $rule:literal, |$s:ident| $valid:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and validates; the error names `field` and the rule broken.
            pub fn parse_field(field: &str, $s: &str) -> Result<Self> {
                if $valid {
                    Ok($name($s.to_owned()))
                } else {
                    Err(Error::invalid(field, format!("{:?} is not a valid {}: {}", $s, $what, $rule)))
                }
            }

            /// Parses and validates, naming the field after the type.
            pub fn parse(s: &str) -> Result<Self> {
                Self::parse_field($what, s)
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::parse(s)
            }
        }
    };
}

identifier!(
    /// An organization: the unit of isolation for users, groups and secrets.
    OrgId, "org", "1-63 characters of a-z, 0-9, '-' or '_', starting with a letter or digit",
    |s| slug_ok(s, 63, "-_") && !s.chars().any(|c| c.is_ascii_uppercase())
);
identifier!(
    /// A user of an org (a person or a service account), e.g. `alice` or `alice@example.com`.
    UserId, "user", "1-128 characters of letters, digits, '.', '_', '-', '@' or '+', starting with a letter or digit",
    |s| slug_ok(s, 128, "._-@+")
);
identifier!(
    /// A group of users inside an org.
    GroupId, "group", "1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit",
    |s| slug_ok(s, 64, "._-")
);
identifier!(
    /// A secret key's stable id (`sec_` and 26 base32 characters); it never changes on rename.
    SecretId, "secret id", "'sec_' followed by 26 characters of a-z and 2-7",
    |s| s.len() == 30 && s.starts_with("sec_") && s[4..].bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7'))
);
identifier!(
    /// The id of one run of an action, as the orchestrator names it.
    RunId, "run id", "1-128 characters of letters, digits, '.', '_', ':' or '-', starting with a letter or digit",
    |s| slug_ok(s, 128, "._:-")
);

identifier!(
    /// A saved action's id: `act_` and 1-64 characters of a-z, 0-9, '-' or '_', chosen by
    /// whoever saves it (e.g. `act_create-charge`).
    ActionId, "action id", "'act_' followed by 1-64 characters of a-z, 0-9, '-' or '_'",
    |s| s.len() > 4 && s.len() <= 68 && s.starts_with("act_")
        && s[4..].bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_'))
);

identifier!(
    /// A Run Code component's id: `sha256:` and the 64 lower-case hex digits of its bytes'
    /// SHA-256 (what `hush component add` prints).
    ComponentId, "component id", "'sha256:' followed by 64 lower-case hex digits",
    |s| s.len() == 71 && s.starts_with("sha256:")
        && s[7..].bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
);

impl ComponentId {
    /// The id of a component with the hex SHA-256 `hex` (64 lower-case hex digits).
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) when `hex` is not such a digest.
    pub fn from_hex(hex: &str) -> Result<Self> {
        Self::parse(&format!("sha256:{hex}"))
    }

    /// The 64 hex digits, without `sha256:`.
    pub fn hex(&self) -> &str {
        &self.0[7..]
    }
}

impl SecretId {
    /// A fresh random id.
    pub fn generate() -> Self {
        const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
        let mut bytes = [0u8; 26];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        let tail: String = bytes
            .iter()
            .map(|b| ALPHABET[(*b & 31) as usize] as char)
            .collect();
        SecretId(format!("sec_{tail}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_refuse_characters_that_would_break_storage_keys() {
        for bad in ["", "a{b}", "a:b", "a b", "-lead", "a\nb", "Org"] {
            assert!(OrgId::parse(bad).is_err(), "{bad:?} accepted as org");
        }
        assert!(OrgId::parse("acme-corp_2").is_ok());
        assert!(UserId::parse("alice@example.com").is_ok());
        assert!(UserId::parse("al{ice}").is_err());
        assert!(GroupId::parse(&"g".repeat(65)).is_err());
    }

    #[test]
    fn component_ids_are_sha256_and_lower_case_hex() {
        let hex = "0123456789abcdef".repeat(4);
        let id = ComponentId::from_hex(&hex).unwrap();
        assert_eq!(id.as_str(), format!("sha256:{hex}"));
        assert_eq!(id.hex(), hex);
        for bad in [
            hex.clone(),
            format!("sha256:{}", hex.to_uppercase()),
            format!("sha256:{}", &hex[1..]),
            format!("sha512:{hex}"),
            "/dev/zero".to_owned(),
        ] {
            assert!(ComponentId::parse(&bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn generated_secret_ids_parse_and_differ() {
        let a = SecretId::generate();
        let b = SecretId::generate();
        assert_ne!(a, b);
        assert_eq!(SecretId::parse(a.as_str()).unwrap(), a);
        assert!(SecretId::parse("sec_short").is_err());
    }

    #[test]
    fn action_ids_start_with_act_and_keep_to_lowercase_slugs() {
        assert!(ActionId::parse("act_create-charge_2").is_ok());
        for bad in [
            "",
            "act_",
            "act",
            "create",
            "act_Upper",
            "act_a:b",
            "act_a{b}",
            &format!("act_{}", "a".repeat(65)),
        ] {
            assert!(
                ActionId::parse(bad).is_err(),
                "{bad:?} accepted as action id"
            );
        }
    }
}
