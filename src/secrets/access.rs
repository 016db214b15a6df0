//! Who may use or manage a secret: the one place the access rules live.
//!
//! Team means every member may Use; restricted means only the grants; Manage implies
//! Use; the creator and org admins always hold Manage. Someone who is not (or no longer)
//! a member of the org holds nothing, whatever the grants say, and a user added under the
//! id of a removed creator is not the creator.

use super::model::{Access, Permission, Principal, SecretMeta};
use crate::directory::{Role, UserRecord};
use crate::model::UserId;

/// The strongest permission `actor` holds on `meta`, given the actor's directory record
/// (`None` when the actor is not a member of the org).
pub fn permission(
    meta: &SecretMeta,
    actor: &UserId,
    record: Option<&UserRecord>,
) -> Option<Permission> {
    let record = record?;
    // The creator's Manage belongs to the user who created it, not to a later user of the
    // same id: that user was added after the secret was created.
    let creator = &meta.created_by == actor && record.holds_since(meta.created_at);
    if record.role == Role::Admin || creator {
        return Some(Permission::Manage);
    }
    let mut best = (meta.access == Access::Team).then_some(Permission::Use);
    for grant in &meta.grants {
        let applies = match &grant.principal {
            Principal::User(user) => user == actor,
            Principal::Group(group) => record.groups.contains(group),
        };
        if applies {
            best = best.max(Some(grant.permission));
        }
    }
    best
}

/// Whether `actor` holds at least `needed`.
pub fn allows(
    meta: &SecretMeta,
    actor: &UserId,
    record: Option<&UserRecord>,
    needed: Permission,
) -> bool {
    permission(meta, actor, record).is_some_and(|held| held >= needed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GroupId, SecretId, now};
    use crate::secrets::model::Grant;

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    fn record(id: &str, role: Role, groups: &[&str]) -> UserRecord {
        UserRecord {
            id: user(id),
            role,
            groups: groups.iter().map(|g| GroupId::parse(g).unwrap()).collect(),
            added_at: now(),
        }
    }

    fn secret(access: Access, grants: &[&str]) -> SecretMeta {
        SecretMeta {
            id: SecretId::generate(),
            name: "k".into(),
            description: None,
            access,
            grants: grants.iter().map(|g| g.parse::<Grant>().unwrap()).collect(),
            allowed_hosts: vec![],
            reveal_components: vec![],
            created_by: user("creator"),
            created_at: now(),
            updated_by: user("creator"),
            updated_at: now(),
            version: 1,
        }
    }

    #[test]
    fn the_access_rules_as_a_table() {
        use Permission::*;
        let cases: &[(Access, &[&str], UserRecord, Option<Permission>)] = &[
            (
                Access::Team,
                &[],
                record("bob", Role::Member, &[]),
                Some(Use),
            ),
            (
                Access::Restricted,
                &[],
                record("bob", Role::Member, &[]),
                None,
            ),
            (
                Access::Restricted,
                &["user:bob=use"],
                record("bob", Role::Member, &[]),
                Some(Use),
            ),
            (
                Access::Restricted,
                &["user:bob=manage"],
                record("bob", Role::Member, &[]),
                Some(Manage),
            ),
            (
                Access::Restricted,
                &["group:eng=use"],
                record("bob", Role::Member, &["eng"]),
                Some(Use),
            ),
            (
                Access::Restricted,
                &["group:eng=use"],
                record("bob", Role::Member, &["ops"]),
                None,
            ),
            (
                Access::Restricted,
                &["group:eng=use", "user:bob=manage"],
                record("bob", Role::Member, &["eng"]),
                Some(Manage),
            ),
            (
                Access::Team,
                &["group:eng=manage"],
                record("bob", Role::Member, &["eng"]),
                Some(Manage),
            ),
            (
                Access::Restricted,
                &[],
                record("boss", Role::Admin, &[]),
                Some(Manage),
            ),
            (
                Access::Restricted,
                &[],
                record("creator", Role::Member, &[]),
                Some(Manage),
            ),
        ];
        for (access, grants, rec, want) in cases {
            let got = permission(&secret(*access, grants), &rec.id, Some(rec));
            assert_eq!(got, *want, "{access:?} {grants:?} {rec:?}");
        }
    }

    #[test]
    fn a_non_member_holds_nothing_even_with_a_grant_or_as_creator() {
        let meta = secret(Access::Team, &["user:bob=manage"]);
        assert_eq!(permission(&meta, &user("bob"), None), None);
        assert_eq!(permission(&meta, &user("creator"), None), None);
    }

    #[test]
    fn manage_implies_use() {
        let meta = secret(Access::Restricted, &["user:bob=manage"]);
        let bob = record("bob", Role::Member, &[]);
        assert!(allows(&meta, &bob.id, Some(&bob), Permission::Use));
        assert!(allows(&meta, &bob.id, Some(&bob), Permission::Manage));
    }
}
