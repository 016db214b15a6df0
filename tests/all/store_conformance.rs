//! The store conformance suite: every operation and every permission rule, run against
//! both backends (a real redis-server, and the embedded store) through one macro.

use crate::common;
use common::{Harness, group, restricted, run, team, user, value};
use hush::audit::{AuditAction, Outcome};
use hush::directory::Role;
use hush::error::ErrorKind;
use hush::model::{OrgId, SecretId};
use hush::secrets::{Access, Filter, HostPattern, Permission, Principal};

on_both_backends!(
    create_returns_metadata_that_show_and_list_agree_on,
    names_are_unique_ignoring_case,
    concurrent_creates_of_one_name_exactly_one_wins,
    list_filters_and_paginates_in_name_order,
    rename_keeps_the_id_and_frees_the_old_name,
    set_value_bumps_the_version_and_resolve_returns_the_new_value,
    set_access_and_set_allowed_hosts_replace_the_old_settings,
    delete_makes_resolve_fail_as_deleted_or_unknown,
    team_secrets_are_usable_by_every_member_and_no_outsider,
    restricted_secrets_are_usable_only_by_grants_creator_and_admins,
    removal_from_a_group_revokes_at_the_next_resolve,
    managing_needs_manage_and_use_grants_do_not_give_it,
    a_role_change_takes_effect_at_the_next_call,
    other_orgs_secrets_are_invisible_and_unusable_even_by_id,
    resolve_fetches_several_secrets_and_refuses_the_whole_run_if_one_is_denied,
    every_manage_operation_and_resolve_is_audited_allowed_or_denied,
    bad_input_is_refused_clearly_and_nothing_is_stored,
    grants_to_unknown_users_or_groups_are_refused,
    directory_operations_keep_users_and_groups_in_step,
    rotating_the_master_key_twice_keeps_every_value_readable,
    removing_an_org_removes_its_secrets,
    a_second_process_with_the_same_key_file_reads_the_same_values,
);

async fn create_returns_metadata_that_show_and_list_agree_on(h: Harness) {
    let mut new = team("Stripe live", "sk_live_0123456789");
    new.description = Some("billing".into());
    new.allowed_hosts = vec![HostPattern::parse("api.stripe.com").unwrap()];
    let meta = h.create("mia", new).await;
    assert!(meta.id.as_str().starts_with("sec_"));
    assert_eq!(meta.name, "Stripe live");
    assert_eq!(meta.version, 1);
    assert_eq!(meta.created_by, user("mia"));
    assert_eq!(meta.updated_by, user("mia"));
    assert_eq!(meta.description.as_deref(), Some("billing"));
    let shown = h
        .secrets
        .show(&h.org, &user("max"), &meta.id)
        .await
        .unwrap();
    assert_eq!(shown, meta);
    let page = h
        .secrets
        .list(&h.org, &user("max"), Filter::All, None, 50)
        .await
        .unwrap();
    assert_eq!(page.items, vec![meta.clone()]);
    let json = serde_json::to_string(&page).unwrap();
    assert!(!json.contains("sk_live_0123456789"), "{json}");
    assert_eq!(
        h.use_as("max", &meta.id).await.unwrap(),
        "sk_live_0123456789"
    );
}

async fn names_are_unique_ignoring_case(h: Harness) {
    h.create("mia", team("GitHub Token", "ghp_aaaaaaaaaa"))
        .await;
    let err = h
        .secrets
        .create(&h.org, &user("max"), team("github token", "ghp_bbbbbbbbbb"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.message().contains("already exists"), "{err}");
    let page = h
        .secrets
        .list(&h.org, &user("mia"), Filter::All, None, 50)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
}

async fn concurrent_creates_of_one_name_exactly_one_wins(h: Harness) {
    let mut tasks = Vec::new();
    for i in 0..16 {
        let secrets = h.secrets.clone();
        let org = h.org.clone();
        tasks.push(tokio::spawn(async move {
            let name = if i % 2 == 0 { "Race" } else { "RACE" };
            secrets
                .create(
                    &org,
                    &user("mia"),
                    team(name, &format!("value-number-{i:04}")),
                )
                .await
        }));
    }
    let mut won = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(meta) => won.push(meta),
            Err(e) => assert_eq!(e.kind(), ErrorKind::Conflict, "{e}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one create wins");
    let page = h
        .secrets
        .list(&h.org, &user("mia"), Filter::All, None, 50)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, won[0].id);
    let stored = h.use_as("mia", &won[0].id).await.unwrap();
    assert!(stored.starts_with("value-number-"));
}

async fn list_filters_and_paginates_in_name_order(h: Harness) {
    let names = [
        "delta", "Alpha", "echo", "charlie", "bravo", "foxtrot", "golf",
    ];
    for (i, name) in names.iter().enumerate() {
        let new = if i % 2 == 0 {
            team(name, "value-0000000000")
        } else {
            restricted(name, "value-0000000000", &["user:max=use"])
        };
        h.create("ada", new).await;
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = h
            .secrets
            .list(&h.org, &user("mia"), Filter::All, cursor.as_deref(), 3)
            .await
            .unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|m| m.name.clone()));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "Alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"
        ]
    );
    let all = [
        "Alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
    ];
    let cases: &[(&str, Filter, usize, &[&str])] = &[
        ("mia", Filter::Team, 50, &["bravo", "delta", "echo", "golf"]),
        (
            "mia",
            Filter::Restricted,
            50,
            &["Alpha", "charlie", "foxtrot"],
        ),
        (
            "mia",
            Filter::UsableByMe,
            50,
            &["bravo", "delta", "echo", "golf"],
        ),
        ("max", Filter::UsableByMe, 2, &["Alpha", "bravo"]),
        ("max", Filter::ManageableByMe, 50, &[]),
        ("ada", Filter::ManageableByMe, 50, &all),
    ];
    for (actor, filter, limit, expected) in cases {
        let page = h
            .secrets
            .list(&h.org, &user(actor), *filter, None, *limit)
            .await
            .unwrap();
        let names: Vec<String> = page.items.into_iter().map(|m| m.name).collect();
        assert_eq!(names, *expected, "{actor} {filter:?}");
    }
    let bad = h
        .secrets
        .list(&h.org, &user("mia"), Filter::All, Some("!!not a cursor"), 3)
        .await
        .unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::Invalid);
    let outsider = h
        .secrets
        .list(&h.org, &user("zed"), Filter::All, None, 3)
        .await
        .unwrap_err();
    assert_eq!(outsider.kind(), ErrorKind::Denied);
}

async fn rename_keeps_the_id_and_frees_the_old_name(h: Harness) {
    let meta = h.create("mia", team("Old name", "value-rename-01")).await;
    let other = h.create("mia", team("Taken", "value-rename-02")).await;
    let renamed = h
        .secrets
        .rename(&h.org, &user("mia"), &meta.id, "New name")
        .await
        .unwrap();
    assert_eq!(renamed.id, meta.id);
    assert_eq!(renamed.name, "New name");
    assert_eq!(renamed.version, 1);
    assert_eq!(h.use_as("mia", &meta.id).await.unwrap(), "value-rename-01");
    assert_eq!(h.secrets.find(&h.org, "new NAME").await.unwrap(), meta.id);
    assert!(h.secrets.find(&h.org, "Old name").await.is_err());
    h.create("mia", team("Old name", "value-rename-03")).await;
    let clash = h
        .secrets
        .rename(&h.org, &user("mia"), &meta.id, "TAKEN")
        .await
        .unwrap_err();
    assert_eq!(clash.kind(), ErrorKind::Conflict);
    let case_only = h
        .secrets
        .rename(&h.org, &user("mia"), &other.id, "TAKEN")
        .await
        .unwrap();
    assert_eq!(case_only.name, "TAKEN");
}

async fn set_value_bumps_the_version_and_resolve_returns_the_new_value(h: Harness) {
    let meta = h.create("mia", team("Rotating", "first-value-1")).await;
    let updated = h
        .secrets
        .set_value(&h.org, &user("mia"), &meta.id, &value("second-value-2"))
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(h.use_as("max", &meta.id).await.unwrap(), "second-value-2");
    let again = h
        .secrets
        .set_value(&h.org, &user("ada"), &meta.id, &value("third-value-3"))
        .await
        .unwrap();
    assert_eq!(again.version, 3);
    assert_eq!(again.updated_by, user("ada"));
    assert_eq!(h.use_as("max", &meta.id).await.unwrap(), "third-value-3");
}

async fn set_access_and_set_allowed_hosts_replace_the_old_settings(h: Harness) {
    let meta = h.create("mia", team("Shared", "value-access-01")).await;
    let grants = vec![
        "group:eng=use".parse().unwrap(),
        "user:max=manage".parse().unwrap(),
    ];
    let m = h
        .secrets
        .set_access(&h.org, &user("mia"), &meta.id, Access::Restricted, grants)
        .await
        .unwrap();
    assert_eq!(m.access, Access::Restricted);
    assert_eq!(m.grants.len(), 2);
    assert_eq!(m.grants[1].principal, Principal::User(user("max")));
    assert_eq!(m.grants[1].permission, Permission::Manage);
    let hosts = vec![
        HostPattern::parse("api.stripe.com").unwrap(),
        HostPattern::parse("*.stripe.net").unwrap(),
    ];
    let m = h
        .secrets
        .set_allowed_hosts(&h.org, &user("max"), &meta.id, hosts.clone())
        .await
        .unwrap();
    assert_eq!(m.allowed_hosts, hosts);
    let m = h
        .secrets
        .set_allowed_hosts(&h.org, &user("max"), &meta.id, vec![])
        .await
        .unwrap();
    assert!(m.allowed_hosts.is_empty());
    let m = h
        .secrets
        .set_access(&h.org, &user("max"), &meta.id, Access::Team, vec![])
        .await
        .unwrap();
    assert_eq!(m.access, Access::Team);
    assert!(m.grants.is_empty());
    assert_eq!(
        h.secrets
            .show(&h.org, &user("max"), &meta.id)
            .await
            .unwrap(),
        m
    );
}

async fn delete_makes_resolve_fail_as_deleted_or_unknown(h: Harness) {
    let meta = h.create("mia", team("Doomed", "value-delete-01")).await;
    h.secrets
        .delete(&h.org, &user("mia"), &meta.id)
        .await
        .unwrap();
    let err = h.use_as("mia", &meta.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.message().contains("deleted or unknown"), "{err}");
    assert!(err.message().contains(meta.id.as_str()), "{err}");
    assert_eq!(
        h.secrets
            .show(&h.org, &user("mia"), &meta.id)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        h.secrets
            .delete(&h.org, &user("mia"), &meta.id)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    h.create("mia", team("Doomed", "value-delete-02")).await;
}

async fn team_secrets_are_usable_by_every_member_and_no_outsider(h: Harness) {
    let meta = h.create("mia", team("Team key", "value-team-0001")).await;
    for member in ["ada", "mia", "max"] {
        assert_eq!(
            h.use_as(member, &meta.id).await.unwrap(),
            "value-team-0001",
            "{member}"
        );
    }
    let err = h.use_as("zed", &meta.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied);
    assert!(!err.message().contains("value-team"), "{err}");
}

async fn restricted_secrets_are_usable_only_by_grants_creator_and_admins(h: Harness) {
    let by_user = h
        .create(
            "max",
            restricted("Only mia", "value-restricted-1", &["user:mia=use"]),
        )
        .await;
    let by_group = h
        .create(
            "max",
            restricted("Only eng", "value-restricted-2", &["group:eng=use"]),
        )
        .await;
    let nobody = h
        .create("max", restricted("Nobody", "value-restricted-3", &[]))
        .await;
    assert_eq!(
        h.use_as("mia", &by_user.id).await.unwrap(),
        "value-restricted-1"
    );
    assert_eq!(
        h.use_as("mia", &by_group.id).await.unwrap(),
        "value-restricted-2"
    );
    let denied = h.use_as("mia", &nobody.id).await.unwrap_err();
    assert_eq!(denied.kind(), ErrorKind::Denied);
    assert!(
        denied.message().contains("Nobody") && denied.message().contains(nobody.id.as_str()),
        "{denied}"
    );
    for id in [&by_user.id, &by_group.id, &nobody.id] {
        assert!(h.use_as("max", id).await.is_ok(), "the creator may use it");
        assert!(h.use_as("ada", id).await.is_ok(), "an admin may use it");
    }
    h.directory
        .add_user(&h.org, &user("nia"), Role::Member)
        .await
        .unwrap();
    assert_eq!(
        h.use_as("nia", &by_group.id).await.unwrap_err().kind(),
        ErrorKind::Denied
    );
    assert!(
        h.secrets
            .rename(&h.org, &user("ada"), &nobody.id, "Admin may")
            .await
            .is_ok()
    );
}

async fn removal_from_a_group_revokes_at_the_next_resolve(h: Harness) {
    let meta = h
        .create(
            "ada",
            restricted("Eng key", "value-group-0001", &["group:eng=use"]),
        )
        .await;
    assert!(h.use_as("mia", &meta.id).await.is_ok());
    h.directory
        .remove_member(&h.org, &group("eng"), &user("mia"))
        .await
        .unwrap();
    assert_eq!(
        h.use_as("mia", &meta.id).await.unwrap_err().kind(),
        ErrorKind::Denied
    );
    h.directory
        .add_member(&h.org, &group("eng"), &user("max"))
        .await
        .unwrap();
    assert!(h.use_as("max", &meta.id).await.is_ok());
    h.directory
        .remove_group(&h.org, &group("eng"))
        .await
        .unwrap();
    assert_eq!(
        h.use_as("max", &meta.id).await.unwrap_err().kind(),
        ErrorKind::Denied
    );
    h.directory.remove_user(&h.org, &user("ada")).await.unwrap();
    assert_eq!(
        h.use_as("ada", &meta.id).await.unwrap_err().kind(),
        ErrorKind::Denied,
        "a removed creator loses access"
    );
}

async fn managing_needs_manage_and_use_grants_do_not_give_it(h: Harness) {
    let meta = h
        .create(
            "ada",
            restricted(
                "Managed",
                "value-manage-01",
                &["user:mia=use", "user:max=manage"],
            ),
        )
        .await;
    let mia = user("mia");
    let denied = [
        h.secrets
            .rename(&h.org, &mia, &meta.id, "x-renamed")
            .await
            .unwrap_err(),
        h.secrets
            .set_value(&h.org, &mia, &meta.id, &value("value-manage-02"))
            .await
            .unwrap_err(),
        h.secrets
            .set_access(&h.org, &mia, &meta.id, Access::Team, vec![])
            .await
            .unwrap_err(),
        h.secrets
            .set_allowed_hosts(&h.org, &mia, &meta.id, vec![])
            .await
            .unwrap_err(),
        h.secrets.delete(&h.org, &mia, &meta.id).await.unwrap_err(),
    ];
    for err in denied {
        assert_eq!(err.kind(), ErrorKind::Denied, "{err}");
        assert!(err.message().contains("Manage"), "{err}");
    }
    let unchanged = h.secrets.show(&h.org, &mia, &meta.id).await.unwrap();
    assert_eq!(unchanged, meta);
    assert_eq!(h.use_as("mia", &meta.id).await.unwrap(), "value-manage-01");
    let max = user("max");
    h.secrets
        .rename(&h.org, &max, &meta.id, "Managed by max")
        .await
        .unwrap();
    h.secrets
        .set_value(&h.org, &max, &meta.id, &value("value-manage-03"))
        .await
        .unwrap();
    assert_eq!(h.use_as("max", &meta.id).await.unwrap(), "value-manage-03");
    h.secrets.delete(&h.org, &max, &meta.id).await.unwrap();
}

async fn a_role_change_takes_effect_at_the_next_call(h: Harness) {
    let meta = h
        .create("max", restricted("Role test", "value-role-0001", &[]))
        .await;
    assert_eq!(
        h.use_as("mia", &meta.id).await.unwrap_err().kind(),
        ErrorKind::Denied
    );
    h.directory
        .set_role(&h.org, &user("mia"), Role::Admin)
        .await
        .unwrap();
    assert!(h.use_as("mia", &meta.id).await.is_ok());
    h.secrets
        .rename(&h.org, &user("mia"), &meta.id, "Renamed by admin")
        .await
        .unwrap();
    h.directory
        .set_role(&h.org, &user("mia"), Role::Member)
        .await
        .unwrap();
    assert_eq!(
        h.use_as("mia", &meta.id).await.unwrap_err().kind(),
        ErrorKind::Denied
    );
}

async fn other_orgs_secrets_are_invisible_and_unusable_even_by_id(h: Harness) {
    let meta = h.create("mia", team("Ours", "value-org-00001")).await;
    let other = OrgId::parse(&common::unique("other")).unwrap();
    h.directory.create_org(&other).await.unwrap();
    h.directory
        .add_user(&other, &user("eve"), Role::Admin)
        .await
        .unwrap();
    let err = h
        .secrets
        .resolve(
            &other,
            &user("eve"),
            std::slice::from_ref(&meta.id),
            &run("r"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.message().contains("deleted or unknown"), "{err}");
    assert_eq!(
        h.secrets
            .show(&other, &user("eve"), &meta.id)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        h.secrets
            .delete(&other, &user("eve"), &meta.id)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    let page = h
        .secrets
        .list(&other, &user("eve"), Filter::All, None, 50)
        .await
        .unwrap();
    assert!(page.items.is_empty());
    // Someone of the other org acting in ours is not a member.
    assert_eq!(
        h.use_as("eve", &meta.id).await.unwrap_err().kind(),
        ErrorKind::Denied
    );
    assert_eq!(h.use_as("mia", &meta.id).await.unwrap(), "value-org-00001");
}

async fn resolve_fetches_several_secrets_and_refuses_the_whole_run_if_one_is_denied(h: Harness) {
    let a = h.create("ada", team("A", "value-multi-0001")).await;
    let b = h
        .create(
            "ada",
            restricted("B", "value-multi-0002", &["user:mia=use"]),
        )
        .await;
    let c = h
        .create("ada", restricted("C", "value-multi-0003", &[]))
        .await;
    let got = h
        .secrets
        .resolve(
            &h.org,
            &user("mia"),
            &[a.id.clone(), b.id.clone(), a.id.clone()],
            &run("r"),
        )
        .await
        .unwrap();
    let values: Vec<&str> = got.iter().map(|r| r.value.expose()).collect();
    assert_eq!(
        values,
        ["value-multi-0001", "value-multi-0002"],
        "duplicates are resolved once, in order"
    );
    let err = h
        .secrets
        .resolve(
            &h.org,
            &user("mia"),
            &[a.id.clone(), c.id.clone()],
            &run("r"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied);
    assert!(err.message().contains("\"C\""), "{err}");
    let missing = SecretId::generate();
    let err = h
        .secrets
        .resolve(
            &h.org,
            &user("mia"),
            &[a.id.clone(), missing.clone()],
            &run("r"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.message().contains(missing.as_str()));
    let formatted = format!("{got:?}");
    assert!(
        !formatted.contains("value-multi"),
        "Debug of resolved secrets shows no value: {formatted}"
    );
}

async fn every_manage_operation_and_resolve_is_audited_allowed_or_denied(h: Harness) {
    let meta = h
        .create("mia", restricted("Audited", "value-audit-0001", &[]))
        .await;
    h.secrets
        .rename(&h.org, &user("mia"), &meta.id, "Audited 2")
        .await
        .unwrap();
    h.secrets
        .set_value(&h.org, &user("mia"), &meta.id, &value("value-audit-0002"))
        .await
        .unwrap();
    h.secrets
        .set_access(
            &h.org,
            &user("mia"),
            &meta.id,
            Access::Restricted,
            vec!["user:max=use".parse().unwrap()],
        )
        .await
        .unwrap();
    h.secrets
        .set_allowed_hosts(
            &h.org,
            &user("mia"),
            &meta.id,
            vec![HostPattern::parse("example.com").unwrap()],
        )
        .await
        .unwrap();
    h.secrets
        .resolve(
            &h.org,
            &user("max"),
            std::slice::from_ref(&meta.id),
            &run("run-ok"),
        )
        .await
        .unwrap();
    h.secrets
        .resolve(
            &h.org,
            &user("ada"),
            std::slice::from_ref(&meta.id),
            &run("run-admin"),
        )
        .await
        .unwrap();
    let _ = h
        .secrets
        .resolve(
            &h.org,
            &user("zed"),
            std::slice::from_ref(&meta.id),
            &run("run-denied"),
        )
        .await;
    let _ = h.secrets.delete(&h.org, &user("max"), &meta.id).await;
    h.secrets
        .delete(&h.org, &user("mia"), &meta.id)
        .await
        .unwrap();
    h.secrets.flush().await;
    let page = h.audit.list(&h.org, None, 1000).await.unwrap();
    let secret_entries: Vec<_> = page
        .entries
        .iter()
        .filter(|r| !r.entry.secrets.is_empty())
        .collect();
    let summary: Vec<(AuditAction, Outcome, Option<&str>)> = secret_entries
        .iter()
        .map(|r| {
            (
                r.entry.action,
                r.entry.outcome,
                r.entry.actor.as_ref().map(|a| a.as_str()),
            )
        })
        .collect();
    use AuditAction::*;
    use Outcome::*;
    let mut expected = vec![
        (SecretCreate, Allowed, Some("mia")),
        (SecretRename, Allowed, Some("mia")),
        (SecretSetValue, Allowed, Some("mia")),
        (SecretSetAccess, Allowed, Some("mia")),
        (SecretSetAllowedHosts, Allowed, Some("mia")),
        (SecretResolve, Allowed, Some("max")),
        (SecretResolve, Allowed, Some("ada")),
        (SecretResolve, Denied, Some("zed")),
        (SecretDelete, Denied, Some("max")),
        (SecretDelete, Allowed, Some("mia")),
    ];
    // Allowed resolves are written in the background; their relative order may vary.
    let mut got = summary.clone();
    got.sort_by_key(|e| format!("{e:?}"));
    expected.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(got, expected);
    let resolve = secret_entries
        .iter()
        .find(|r| r.entry.run_id.as_ref().map(|r| r.as_str()) == Some("run-ok"))
        .unwrap();
    assert_eq!(resolve.entry.secrets[0].id, meta.id);
    let all = serde_json::to_string(&page).unwrap();
    assert!(!all.contains("value-audit"), "audit entries hold no value");
}

async fn bad_input_is_refused_clearly_and_nothing_is_stored(h: Harness) {
    let mia = user("mia");
    let good = h
        .secrets
        .create(&h.org, &mia, team("Keeper", "value-keeper-01"))
        .await
        .unwrap();
    let long_name = "n".repeat(101);
    let cases: Vec<(hush::secrets::NewSecret, &str)> = vec![
        (team("", "value-bad-00001"), "name"),
        (team(&long_name, "value-bad-00001"), "name"),
        (team("tab\there", "value-bad-00001"), "control character"),
        (team(" spaced", "value-bad-00001"), "white space"),
        (team("keeper", "value-bad-00001"), "already exists"),
        (
            restricted(
                "dup grants",
                "value-bad-00001",
                &["user:max=use", "user:max=manage"],
            ),
            "more than once",
        ),
        (
            restricted("ghost grant", "value-bad-00001", &["user:ghost=use"]),
            "ghost",
        ),
        (
            restricted("ghost group", "value-bad-00001", &["group:ghosts=use"]),
            "ghosts",
        ),
        (
            hush::secrets::NewSecret {
                description: Some("bell\u{7}".into()),
                ..team("desc", "value-bad-00001")
            },
            "description",
        ),
    ];
    for (new, expect) in cases {
        let name = new.name.clone();
        let err = h.secrets.create(&h.org, &mia, new).await.unwrap_err();
        assert!(err.message().contains(expect), "{name:?}: {err}");
    }
    assert_eq!(
        h.secrets
            .create(&h.org, &user("zed"), team("Outsider", "value-bad-00001"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Denied
    );
    let missing_org = OrgId::parse("no-such-org-anywhere").unwrap();
    assert_eq!(
        h.secrets
            .create(&missing_org, &mia, team("X", "value-bad-00001"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert!(h.secrets.rename(&h.org, &mia, &good.id, "").await.is_err());
    assert!(
        h.secrets
            .set_access(
                &h.org,
                &mia,
                &good.id,
                Access::Team,
                vec!["user:ghost=use".parse().unwrap()]
            )
            .await
            .is_err()
    );
    let page = h
        .secrets
        .list(&h.org, &mia, Filter::All, None, 50)
        .await
        .unwrap();
    assert_eq!(
        page.items,
        vec![good.clone()],
        "nothing else was stored and the good secret is unchanged"
    );
    assert_eq!(h.use_as("mia", &good.id).await.unwrap(), "value-keeper-01");
}

async fn grants_to_unknown_users_or_groups_are_refused(h: Harness) {
    let meta = h.create("mia", team("Grantable", "value-grant-001")).await;
    for grant in ["user:zed=use", "group:nobody=manage"] {
        let err = h
            .secrets
            .set_access(
                &h.org,
                &user("mia"),
                &meta.id,
                Access::Restricted,
                vec![grant.parse().unwrap()],
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{grant}: {err}");
    }
    assert_eq!(
        h.secrets
            .show(&h.org, &user("mia"), &meta.id)
            .await
            .unwrap(),
        meta
    );
}

async fn directory_operations_keep_users_and_groups_in_step(h: Harness) {
    let d = &h.directory;
    assert_eq!(
        d.create_org(&h.org).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    assert!(d.list_orgs().await.unwrap().contains(&h.org));
    assert_eq!(
        d.add_user(&h.org, &user("mia"), Role::Member)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        d.create_group(&h.org, &group("eng"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );
    d.create_group(&h.org, &group("ops")).await.unwrap();
    d.add_member(&h.org, &group("ops"), &user("mia"))
        .await
        .unwrap();
    d.add_member(&h.org, &group("ops"), &user("mia"))
        .await
        .unwrap();
    let users = d.list_users(&h.org).await.unwrap();
    let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["ada", "max", "mia"]);
    let mia = users.iter().find(|u| u.id == user("mia")).unwrap();
    assert_eq!(mia.groups, vec![group("eng"), group("ops")]);
    d.remove_user(&h.org, &user("mia")).await.unwrap();
    let groups = d.list_groups(&h.org).await.unwrap();
    assert!(
        groups.iter().all(|g| g.members.is_empty()),
        "removing a user removes them from every group: {groups:?}"
    );
    assert_eq!(
        d.add_member(&h.org, &group("ops"), &user("mia"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        d.add_member(&h.org, &group("nope"), &user("max"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        d.set_role(&h.org, &user("ghost"), Role::Admin)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    d.remove_group(&h.org, &group("ops")).await.unwrap();
    let groups: Vec<String> = d
        .list_groups(&h.org)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.id.to_string())
        .collect();
    assert_eq!(groups, ["eng"]);
}

async fn rotating_the_master_key_twice_keeps_every_value_readable(h: Harness) {
    // Rotation re-wraps every org in the store, so it runs on a store of its own.
    let h = Harness::isolated(h.kind).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            h.create(
                "mia",
                team(&format!("rot-{i}"), &format!("value-rotation-{i}")),
            )
            .await
            .id,
        );
    }
    let (v2, _) = h.secrets.rotate_master_key().await.unwrap();
    assert_eq!(v2, 2);
    let (v3, _) = h.secrets.rotate_master_key().await.unwrap();
    assert_eq!(v3, 3);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            h.use_as("mia", id).await.unwrap(),
            format!("value-rotation-{i}")
        );
    }
    // A fresh process that reads the key file sees the same values.
    let fresh = h.reopen();
    let got = fresh
        .resolve(&h.org, &user("mia"), &ids, &run("after-rotation"))
        .await
        .unwrap();
    assert_eq!(got.len(), 5);
    assert_eq!(fresh.key_versions(), (vec![1, 2, 3], 3));
}

async fn removing_an_org_removes_its_secrets(h: Harness) {
    let meta = h.create("mia", team("Gone soon", "value-gone-0001")).await;
    h.directory.remove_org(&h.org).await.unwrap();
    assert!(!h.directory.list_orgs().await.unwrap().contains(&h.org));
    assert_eq!(
        h.use_as("mia", &meta.id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        h.directory.remove_org(&h.org).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

async fn a_second_process_with_the_same_key_file_reads_the_same_values(h: Harness) {
    let meta = h
        .create("mia", team("Shared file", "value-second-01"))
        .await;
    let other = h.reopen();
    let got = other
        .resolve(
            &h.org,
            &user("max"),
            std::slice::from_ref(&meta.id),
            &run("r2"),
        )
        .await
        .unwrap();
    assert_eq!(got[0].value.expose(), "value-second-01");
}

#[tokio::test]
async fn a_long_running_store_survives_its_org_being_removed_and_created_again_elsewhere() {
    let h = Harness::new(common::Kind::Redis).await;
    let first = h.create("mia", team("before", "value-before-001")).await;
    assert_eq!(
        h.use_as("mia", &first.id).await.unwrap(),
        "value-before-001"
    );
    // Another process removes the org and builds it again: a new data key.
    let other = h.reopen();
    h.directory.remove_org(&h.org).await.unwrap();
    h.directory.create_org(&h.org).await.unwrap();
    h.directory
        .add_user(&h.org, &user("mia"), Role::Member)
        .await
        .unwrap();
    let again = other
        .create(&h.org, &user("mia"), team("after", "value-after-0001"))
        .await
        .unwrap();
    // This store still caches the old data key, and must not fail.
    assert_eq!(
        h.use_as("mia", &again.id).await.unwrap(),
        "value-after-0001"
    );
}
