//! API tokens: bearer credentials for a user of an org, or for a service principal (an
//! orchestrator) that may act for any member of its org and no one else.
//!
//! A token is `hush_<org>_<52 random base32 characters>` (260 random bits). It is
//! returned once, by [`Tokens::create`]; the store keeps only its SHA-256 (hex) as the
//! field of the org's [`Table::Tokens`], mapping to the token's record. The org in the
//! token's text tells which org's table to look in, so a token, its record and its
//! revocation live under the org's key prefix and change atomically with it, with an
//! audit entry (id and principal) for each creation and revocation. This module
//! never logs a token, and no `Debug` or `Serialize` of a stored type holds one.
//!
//! A user token belongs to one incarnation of its user: it records when that user was
//! added, and authenticates only while the org has a user of that id added at that very
//! time. Removing the user deletes its tokens in the same transaction
//! ([`Directory::remove_user`]); a token that escaped that (issued concurrently) still
//! never works for a user re-added under the same id.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::audit::{AuditAction, AuditEntry};
use crate::directory::{Directory, UserRecord};
use crate::error::{Error, Result};
use crate::model::{OrgId, Timestamp, UserId, now};
use crate::store::{Backend, Commit, Table, Txn, retry_on_conflict};

/// Every token starts with this.
pub const PREFIX: &str = "hush_";
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const SECRET_CHARS: usize = 52;

/// `n` random characters of lowercase base32 (5 random bits each).
pub(crate) fn random_base32(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
        .iter()
        .map(|b| ALPHABET[(*b & 31) as usize] as char)
        .collect()
}

/// Whom a token stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    /// A user of the org; the token acts only as that user.
    User {
        /// The user.
        user: UserId,
    },
    /// A service principal; the token may act for any member of its org.
    Service {
        /// The service's name (1-64 of letters, digits, '.', '_', '-').
        service: String,
    },
}

impl Principal {
    /// A service principal named `name`.
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) for a name outside the rule.
    pub fn service(name: &str) -> Result<Self> {
        let mut chars = name.chars();
        let ok = name.len() <= 64
            && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && chars.all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if ok {
            Ok(Principal::Service {
                service: name.to_owned(),
            })
        } else {
            Err(Error::invalid(
                "service name",
                format!(
                    "{name:?} must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit"
                ),
            ))
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::User { user } => write!(f, "user {user}"),
            Principal::Service { service } => write!(f, "service {service}"),
        }
    }
}

/// A token's stored record: what it stands for, never the token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The token's id (`tok_…`), for listing and revoking.
    pub id: String,
    /// Its org.
    pub org: OrgId,
    /// Whom it stands for.
    #[serde(flatten)]
    pub principal: Principal,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    /// For a user token: when its user was added, which names the incarnation of the
    /// user id it was issued to. (Absent in tokens issued before it was recorded: those
    /// count for the user added before the token was created.)
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub user_added_at: Option<Timestamp>,
}

impl TokenRecord {
    /// Whether this token was issued to the user of `record` (and not to an earlier user
    /// of the same id).
    fn issued_to(&self, record: &UserRecord) -> bool {
        match self.user_added_at {
            Some(added_at) => added_at == record.added_at,
            None => record.holds_since(self.created_at),
        }
    }
}

/// A token just created: the only time its text exists outside the caller's hands.
pub struct IssuedToken {
    /// The token's text; show it once.
    pub token: Zeroizing<String>,
    /// Its record.
    pub record: TokenRecord,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"***")
            .field("record", &self.record)
            .finish()
    }
}

/// The store field of a token: its SHA-256, hex.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The org a token's text names, when the text has a token's shape (not proof of anything:
/// only [`Tokens::authenticate`] says whether the token is real).
pub(crate) fn token_org(token: &str) -> Option<OrgId> {
    let rest = token.strip_prefix(PREFIX)?;
    let (org, secret) = rest.rsplit_once('_')?;
    let shaped = secret.len() == SECRET_CHARS && secret.bytes().all(|b| ALPHABET.contains(&b));
    shaped.then(|| OrgId::parse(org).ok()).flatten()
}

/// The audit entry of a token's creation or revocation: its id and principal, never
/// the token or its hash.
fn audit_entry(action: AuditAction, record: &TokenRecord) -> Vec<u8> {
    AuditEntry::new(None, action)
        .detail(format!("{} for {}", record.id, record.principal))
        .to_bytes()
}

fn parse_record(bytes: &[u8]) -> Result<TokenRecord> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::internal(format!("a stored token record is unreadable: {e}")))
}

/// Creates, lists, revokes and checks tokens.
#[derive(Clone)]
pub struct Tokens {
    backend: Arc<dyn Backend>,
    directory: Directory,
}

impl Tokens {
    /// Works through `backend`.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Tokens {
            directory: Directory::new(Arc::clone(&backend)),
            backend,
        }
    }

    /// Creates a token for `principal` in `org` and returns its text (once).
    ///
    /// # Errors
    /// [`NotFound`](crate::error::ErrorKind::NotFound) for an unknown org, or a user who
    /// is not a member of it.
    pub async fn create(&self, org: &OrgId, principal: Principal) -> Result<IssuedToken> {
        self.directory.org(org).await?;
        retry_on_conflict("issuing the token", || self.try_create(org, &principal)).await
    }

    /// One attempt of [`Tokens::create`]: `None` when the user's record changed meanwhile.
    async fn try_create(&self, org: &OrgId, principal: &Principal) -> Result<Option<IssuedToken>> {
        // A user token is issued only while its user is in the org: the user's record is
        // compare-and-set with the token, so a removal in between makes it fail.
        let user_bytes = match principal {
            Principal::User { user } => {
                let got = self
                    .backend
                    .read(org, &[(Table::Users, user.as_str())])
                    .await?;
                match got.into_iter().next().flatten() {
                    Some(bytes) => Some((user.clone(), bytes)),
                    None => {
                        return Err(Error::not_found(format!(
                            "user {user} is not a member of org {org}"
                        )));
                    }
                }
            }
            Principal::Service { .. } => None,
        };
        let user_added_at = match &user_bytes {
            Some((_, bytes)) => Some(
                serde_json::from_slice::<UserRecord>(bytes)
                    .map_err(|e| Error::internal(format!("a stored user is unreadable: {e}")))?
                    .added_at,
            ),
            None => None,
        };
        let token = Zeroizing::new(format!("{PREFIX}{org}_{}", random_base32(SECRET_CHARS)));
        let record = TokenRecord {
            id: format!("tok_{}", random_base32(26)),
            org: org.clone(),
            principal: principal.clone(),
            created_at: now(),
            user_added_at,
        };
        let hash = token_hash(&token);
        let bytes = serde_json::to_vec(&record).expect("a token record serializes");
        let mut txn = Txn::new().expect(Table::Tokens, &hash, None);
        if let Some((user, user_bytes)) = &user_bytes {
            txn = txn.expect(Table::Users, user.as_str(), Some(user_bytes));
        }
        let txn = txn
            .put(Table::Tokens, &hash, bytes)
            .audit(audit_entry(AuditAction::TokenCreate, &record));
        match self.backend.commit(org, txn).await? {
            Commit::Applied => Ok(Some(IssuedToken { token, record })),
            // The user's record changed (read it again: removed, or only a new role).
            Commit::Conflict if user_bytes.is_some() => Ok(None),
            // 260 random bits: a clash means the random source is broken.
            Commit::Conflict => Err(Error::internal("a new token clashed with a stored one")),
        }
    }

    /// Every token of `org` (records only), oldest first.
    ///
    /// # Errors
    /// [`NotFound`](crate::error::ErrorKind::NotFound) for an unknown org.
    pub async fn list(&self, org: &OrgId) -> Result<Vec<TokenRecord>> {
        self.directory.org(org).await?;
        let mut records = self
            .backend
            .scan(org, Table::Tokens)
            .await?
            .iter()
            .map(|(_, bytes)| parse_record(bytes))
            .collect::<Result<Vec<_>>>()?;
        records.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(records)
    }

    /// Revokes the token `id` of `org`; it stops working at once.
    ///
    /// # Errors
    /// [`NotFound`](crate::error::ErrorKind::NotFound) for an unknown org or token.
    pub async fn revoke(&self, org: &OrgId, id: &str) -> Result<TokenRecord> {
        self.directory.org(org).await?;
        retry_on_conflict("revoking the token", || async {
            let rows = self.backend.scan(org, Table::Tokens).await?;
            for (hash, bytes) in rows {
                let record = parse_record(&bytes)?;
                if record.id == id {
                    let txn = Txn::new()
                        .expect(Table::Tokens, &hash, Some(&bytes))
                        .delete(Table::Tokens, &hash)
                        .audit(audit_entry(AuditAction::TokenRevoke, &record));
                    return Ok(match self.backend.commit(org, txn).await? {
                        Commit::Applied => Some(record),
                        Commit::Conflict => None,
                    });
                }
            }
            Err(Error::not_found(format!("org {org} has no token {id:?}")))
        })
        .await
    }

    /// The record of a live token, or `None` for text that is not one (malformed, never
    /// issued, revoked, of an org that was removed, or of a user who was removed, also
    /// when a user of the same id was added since).
    ///
    /// # Errors
    /// [`Unavailable`](crate::error::ErrorKind::Unavailable) when the store fails.
    pub async fn authenticate(&self, token: &str) -> Result<Option<TokenRecord>> {
        Ok(self
            .authenticate_user(token)
            .await?
            .map(|(record, _)| record))
    }

    /// As [`Tokens::authenticate`], with the directory record of the user a user token is
    /// issued to (`None` for a service token), read in the same check: as current as the
    /// token's own record, so a caller need not read it again.
    ///
    /// # Errors
    /// [`Unavailable`](crate::error::ErrorKind::Unavailable) when the store fails.
    pub async fn authenticate_user(
        &self,
        token: &str,
    ) -> Result<Option<(TokenRecord, Option<UserRecord>)>> {
        let Some(org) = token_org(token) else {
            return Ok(None);
        };
        let hash = token_hash(token);
        // The token's record and the org's data version in one round trip; the user it is
        // issued to is then read at that version (from the cache, when nothing changed).
        let (got, seen) = self
            .backend
            .read_at(&org, &[(Table::Tokens, &hash)])
            .await?;
        let Some(bytes) = got.into_iter().next().flatten() else {
            return Ok(None);
        };
        let record = parse_record(&bytes)?;
        // The record names its org too: a field copied into another org's table does not
        // authenticate there.
        if record.org != org {
            return Ok(None);
        }
        let mut member = None;
        if let Principal::User { user } = &record.principal {
            let Some(user) = self.directory.user_seen(&org, user, seen.as_ref()).await? else {
                return Ok(None);
            };
            if !record.issued_to(&user) {
                return Ok(None);
            }
            member = Some(user);
        }
        Ok(Some((record, member)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_org_and_only_a_well_shaped_one_parses() {
        let secret = random_base32(SECRET_CHARS);
        let org = token_org(&format!("hush_acme-corp_2_{secret}")).unwrap();
        assert_eq!(org.as_str(), "acme-corp_2");
        for bad in [
            String::new(),
            format!("hush_acme_{}", &secret[1..]),
            format!("hush_acme_{}", secret.to_uppercase()),
            format!("hush__{secret}"),
            format!("hx_acme_{secret}"),
        ] {
            assert!(token_org(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn an_issued_token_does_not_show_in_debug() {
        let issued = IssuedToken {
            token: Zeroizing::new("hush_acme_secretpart".into()),
            record: TokenRecord {
                id: "tok_x".into(),
                org: OrgId::parse("acme").unwrap(),
                principal: Principal::service("orchestrator").unwrap(),
                created_at: now(),
                user_added_at: None,
            },
        };
        assert!(!format!("{issued:?}").contains("secretpart"));
    }

    #[test]
    fn service_names_follow_the_rule() {
        assert!(Principal::service("orchestrator-1").is_ok());
        for bad in ["", "-x", "a b", "a:b", &"s".repeat(65)] {
            assert!(Principal::service(bad).is_err(), "{bad:?}");
        }
    }
}
