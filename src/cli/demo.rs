//! `hush demo`: a walkthrough of the secret store on the configured store (the embedded
//! default when nothing is configured), printing each step. The demo's secret value is
//! generated here and never printed; only its length is.

use zeroize::Zeroizing;

use super::output::Out;
use crate::directory::Role;
use crate::error::{Error, Result};
use crate::model::{GroupId, OrgId, RunId, UserId};
use crate::secrets::{Access, Filter, Grant, HostPattern, NewSecret, SecretValue};

fn step(title: &str) {
    println!("\n== {title}");
}

fn random_hex(bytes: usize) -> Zeroizing<String> {
    let mut raw = Zeroizing::new(vec![0u8; bytes]);
    getrandom::fill(&mut raw).expect("the operating system's random source failed");
    Zeroizing::new(hex::encode(&*raw))
}

fn show_outcome(what: &str, result: &Result<Vec<crate::secrets::ResolvedSecret>>) {
    match result {
        Ok(resolved) => {
            for r in resolved {
                println!(
                    "   {what}: allowed — got {:?} version {}, value {} ({} bytes, held only in memory)",
                    r.meta.name,
                    r.meta.version,
                    r.value,
                    r.value.expose().len()
                );
            }
        }
        Err(e) => println!("   {what}: refused — {e}"),
    }
}

/// Runs the walkthrough.
pub async fn run(out: &Out) -> Result<()> {
    if out.is_json() {
        return Err(Error::invalid(
            "--json",
            "the demo prints a walkthrough; run it without --json",
        ));
    }
    let hush = super::open().await?;
    let suffix = random_hex(3);
    let org = OrgId::parse(&format!("demo-{}", &suffix[..])).expect("valid org id");
    let alice = UserId::parse("alice").expect("valid");
    let bob = UserId::parse("bob").expect("valid");
    let carol = UserId::parse("carol").expect("valid");
    let eng = GroupId::parse("eng").expect("valid");
    println!("hush demo on the {}", hush.backend.describe());

    step(&format!(
        "Directory: org {org}, alice (admin), bob and carol (members), group eng = [bob]"
    ));
    hush.directory.create_org(&org).await?;
    hush.directory.add_user(&org, &alice, Role::Admin).await?;
    hush.directory.add_user(&org, &bob, Role::Member).await?;
    hush.directory.add_user(&org, &carol, Role::Member).await?;
    hush.directory.create_group(&org, &eng).await?;
    hush.directory.add_member(&org, &eng, &bob).await?;
    println!("   done");

    step(
        "alice creates a restricted secret \"Stripe live key\" that group eng may use, for api.stripe.com only",
    );
    let value = SecretValue::new(format!("sk_live_{}", &random_hex(12)[..]))?;
    let length = value.expose().len();
    let meta = hush
        .secrets
        .create(
            &org,
            &alice,
            NewSecret {
                name: "Stripe live key".into(),
                value,
                access: Access::Restricted,
                grants: vec!["group:eng=use".parse::<Grant>()?],
                allowed_hosts: vec![HostPattern::parse("api.stripe.com")?],
                description: Some("demo key".into()),
            },
        )
        .await?;
    println!(
        "   created {} ({length}-byte value; it is never shown again, not even to alice)",
        meta.id
    );
    println!(
        "   an action refers to it as {{{{secret \"{}\"}}}}",
        meta.id
    );

    step("List the org's secrets, and those carol may use");
    let all = hush
        .secrets
        .list(&org, &carol, Filter::All, None, 50)
        .await?;
    let usable = hush
        .secrets
        .list(&org, &carol, Filter::UsableByMe, None, 50)
        .await?;
    println!(
        "   all: {:?}",
        all.items.iter().map(|m| &m.name).collect::<Vec<_>>()
    );
    println!(
        "   usable by carol: {:?}",
        usable.items.iter().map(|m| &m.name).collect::<Vec<_>>()
    );

    let ids = [meta.id.clone()];
    let run = |n: u32| RunId::parse(&format!("demo-run-{n}")).expect("valid run id");
    step("A run on behalf of bob resolves it (bob is in eng); one on behalf of carol is refused");
    show_outcome(
        "bob",
        &hush.secrets.resolve(&org, &bob, &ids, &run(1)).await,
    );
    show_outcome(
        "carol",
        &hush.secrets.resolve(&org, &carol, &ids, &run(2)).await,
    );

    step("alice renames it to \"Stripe key\" (the id stays) and sets a new value (version 2)");
    hush.secrets
        .rename(&org, &alice, &meta.id, "Stripe key")
        .await?;
    let new_value = SecretValue::new(format!("sk_live_{}", &random_hex(12)[..]))?;
    let meta = hush
        .secrets
        .set_value(&org, &alice, &meta.id, &new_value)
        .await?;
    println!(
        "   now {:?} {} version {}",
        meta.name, meta.id, meta.version
    );

    step("alice shares it with carol (use); bob leaves group eng");
    hush.secrets
        .set_access(
            &org,
            &alice,
            &meta.id,
            Access::Restricted,
            vec!["group:eng=use".parse()?, "user:carol=use".parse()?],
        )
        .await?;
    hush.directory.remove_member(&org, &eng, &bob).await?;
    show_outcome(
        "carol",
        &hush.secrets.resolve(&org, &carol, &ids, &run(3)).await,
    );
    show_outcome(
        "bob",
        &hush.secrets.resolve(&org, &bob, &ids, &run(4)).await,
    );

    step("bob may not delete it; alice deletes it, and the next run fails clearly");
    match hush.secrets.delete(&org, &bob, &meta.id).await {
        Ok(_) => println!("   bob: deleted (unexpected)"),
        Err(e) => println!("   bob: refused — {e}"),
    }
    hush.secrets.delete(&org, &alice, &meta.id).await?;
    println!("   alice: deleted");
    show_outcome(
        "carol",
        &hush.secrets.resolve(&org, &carol, &ids, &run(5)).await,
    );

    step("The audit trail (no values in it)");
    hush.secrets.flush().await;
    let page = hush.audit.list(&org, None, 100).await?;
    out.audit(&page);
    println!(
        "\nThe demo org stays for you to look at: `hush secret list --org {org} --as alice`, `hush audit --org {org}`;"
    );
    println!("remove it with `hush org remove {org}`.");
    Ok(())
}
