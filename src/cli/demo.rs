//! `hush demo`: a walkthrough of the secret store on the configured store (the embedded
//! default when nothing is configured), printing each step. The demo's secret value is
//! generated here and never printed; only its length is.

use zeroize::Zeroizing;

use std::sync::{Arc, Mutex};

use super::output::Out;
use crate::actions::code::CodeAction;
use crate::actions::http::{HttpAction, HttpSender, NetworkPolicy};
use crate::directory::Role;
use crate::error::{Error, Result};
use crate::executor::{Executor, RunRequest};
use crate::model::{GroupId, OrgId, UserId};
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
    let run = |_: u32| crate::runs::new_run_id();
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

    let target = send_api_request(&hush, &org, &alice, &carol, &meta.id, &new_value).await?;
    run_code(&hush, &org, &alice, &carol, &meta.id, target).await?;

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

/// What the demo's local target saw in the Authorization header of each request.
type Seen = Arc<Mutex<Vec<String>>>;

/// A local HTTP target on 127.0.0.1 that records the Authorization header it receives and
/// echoes it back in its response, as a careless API might.
async fn start_target() -> Result<(std::net::SocketAddr, Seen)> {
    use axum::extract::State;
    use axum::http::HeaderMap;
    let seen: Seen = Arc::default();
    async fn charge(State(seen): State<Seen>, headers: HeaderMap) -> axum::Json<serde_json::Value> {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        seen.lock().expect("target log").push(auth.clone());
        axum::Json(
            serde_json::json!({"id": "ch_demo_1", "status": "succeeded", "echo": {"authorization": auth}}),
        )
    }
    let app = axum::Router::new()
        .route("/v1/charges", axum::routing::post(charge))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Error::unavailable(format!("cannot start the demo target: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::unavailable(format!("cannot start the demo target: {e}")))?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, seen))
}

/// The Send API Request part of the walkthrough: a run authenticates to a local target with
/// the secret; the target receives the value, the run record shows it redacted.
async fn send_api_request(
    hush: &crate::app::Hush,
    org: &OrgId,
    alice: &UserId,
    carol: &UserId,
    id: &crate::model::SecretId,
    value: &SecretValue,
) -> Result<(std::net::SocketAddr, Seen)> {
    let (addr, seen) = start_target().await?;
    step(&format!(
        "Send API Request: carol runs an action that calls a local target at {addr} with the secret"
    ));
    let action = HttpAction::from_json(
        &serde_json::json!({
            "kind": "send_api_request",
            "name": "Create charge",
            "method": "POST",
            "url": format!("http://{addr}/v1/charges?customer={{{{inputs.customer}}}}"),
            "headers": [{"name": "Authorization", "value": format!("Bearer {{{{secret \"{id}\"}}}}")}],
            "body": {"type": "json", "value": {"amount": "{{inputs.amount}}"}},
        })
        .to_string(),
    )?;
    let inputs = serde_json::json!({"customer": "cus_42", "amount": "1999"});
    let request = |_: u32| RunRequest {
        run_id: crate::runs::new_run_id(),
        org: org.clone(),
        actor: carol.clone(),
        action: action.clone().into(),
        inputs: inputs.clone(),
    };
    // The default network policy refuses loopback; the demo opens 127.0.0.1/32 only.
    let closed = Executor::new(
        Arc::clone(&hush.secrets),
        HttpSender::new(NetworkPolicy::closed())?,
    );
    let loopback = "127.0.0.1/32".parse().expect("a valid network");
    let open = Executor::new(
        Arc::clone(&hush.secrets),
        HttpSender::new(NetworkPolicy::allowing([loopback]))?,
    );
    let record = open.run(request(1)).await;
    println!("   {:?}: {}", record.status, error_of(&record));
    hush.secrets
        .set_allowed_hosts(
            org,
            alice,
            id,
            vec![
                HostPattern::parse("api.stripe.com")?,
                HostPattern::parse("127.0.0.1")?,
            ],
        )
        .await?;
    println!("   alice adds 127.0.0.1 to the secret's allowed hosts");
    let record = closed.run(request(2)).await;
    println!(
        "   with the default network policy: {:?}: {}",
        record.status,
        error_of(&record)
    );
    println!("   with 127.0.0.1/32 opened for this demo's target only:");
    let record = open.run(request(3)).await;
    let received = seen
        .lock()
        .expect("target log")
        .last()
        .cloned()
        .unwrap_or_default();
    let matches = received == format!("Bearer {}", value.expose());
    println!(
        "   the target received \"Authorization: Bearer <{} bytes>\"; it is exactly the stored value: {}",
        received.len().saturating_sub(7),
        if matches { "yes" } else { "NO" }
    );
    println!(
        "   the run record (the target echoed the header back; the record shows it redacted):"
    );
    let json = serde_json::to_string_pretty(&record).expect("a run record serializes");
    for line in json.lines() {
        println!("     {line}");
    }
    if !matches {
        return Err(Error::internal(
            "the demo target did not receive the secret's value",
        ));
    }
    Ok((addr, seen))
}

/// Run Code: alice adds two example components; carol runs one that attaches the secret
/// to a request without ever holding it, and one that has the host sign a payload with
/// it; then tries to reveal it to code, which its managers never approved.
async fn run_code(
    hush: &crate::app::Hush,
    org: &OrgId,
    alice: &UserId,
    carol: &UserId,
    id: &crate::model::SecretId,
    (addr, seen): (std::net::SocketAddr, Seen),
) -> Result<()> {
    step("Run Code: alice adds two example components (WebAssembly, built from actions/)");
    let loopback = "127.0.0.1/32".parse().expect("a valid network");
    let http = HttpSender::new(NetworkPolicy::allowing([loopback]))?;
    let code = hush.code_runtime(http.clone())?;
    let executor = Executor::new(Arc::clone(&hush.secrets), http).with_code(Arc::clone(&code));
    let mut components = Vec::new();
    for (name, bytes) in [
        ("call-api", crate::guests::CALL_API_BYTES),
        ("hmac-sign", crate::guests::HMAC_SIGN_BYTES),
    ] {
        let bytes = bytes.to_vec();
        let component = code.add_component(org, alice, bytes).await?;
        println!("   {name}: {component}");
        components.push(component);
    }
    let run_code = |_: u32, spec: serde_json::Value, inputs: serde_json::Value| {
        let action = CodeAction::from_json(&spec.to_string());
        let executor = executor.clone();
        async move {
            let request = RunRequest {
                run_id: crate::runs::new_run_id(),
                org: org.clone(),
                actor: carol.clone(),
                action: action?.into(),
                inputs,
            };
            Ok::<_, Error>(executor.run(request).await)
        }
    };

    step(
        "carol runs call-api: the host attaches the secret as a bearer token; the guest never sees it",
    );
    let record = run_code(
        1,
        serde_json::json!({"kind": "run_code", "name": "Call API", "component": components[0],
            "secrets": {"api": id.as_str()}, "allowed_hosts": ["127.0.0.1"]}),
        serde_json::json!({"base_url": format!("http://{addr}"), "path": "/v1/charges",
            "method": "POST", "body": {"amount": 1999}}),
    )
    .await?;
    let received = seen
        .lock()
        .expect("target log")
        .last()
        .cloned()
        .unwrap_or_default();
    println!(
        "   {:?}; the target received a bearer token of {} bytes; the guest saw the echo as {}",
        record.status,
        received.len().saturating_sub(7),
        record
            .result
            .as_ref()
            .and_then(|r| r["body"]["echo"]["authorization"].as_str())
            .unwrap_or("(nothing)")
    );

    step("carol runs hmac-sign: the host signs the payload with the key; the guest never sees it");
    let record = run_code(
        2,
        serde_json::json!({"kind": "run_code", "name": "Sign payload", "component": components[1],
            "secrets": {"signing_key": id.as_str()}}),
        serde_json::json!({"payload": {"order": 42, "status": "paid"}, "timestamp": 1_700_000_000}),
    )
    .await?;
    println!("   the run record:");
    let json = serde_json::to_string_pretty(&serde_json::json!({
        "status": record.status, "result": record.result, "logs": record.logs,
        "secrets_used": record.secrets_used, "error": record.error,
    }))
    .expect("a run record serializes");
    for line in json.lines() {
        println!("     {line}");
    }

    step(
        "carol binds the key with \"reveal\": true to see it in code: Use is not enough, the key's managers must approve the component",
    );
    let record = run_code(
        3,
        serde_json::json!({"kind": "run_code", "name": "Sign payload", "component": components[1],
            "secrets": {"signing_key": {"id": id.as_str(), "reveal": true}}}),
        serde_json::json!({"payload": "x"}),
    )
    .await?;
    println!("   {:?}: {}", record.status, error_of(&record));
    Ok(())
}

fn error_of(record: &crate::executor::RunRecord) -> String {
    record
        .error
        .as_ref()
        .map_or_else(|| "no error".to_owned(), |e| e.message.clone())
}
