//! The action editor of the web page in a real headless Chromium (the harness of
//! `web.rs`: a real hush with a worker over a real redis-server, a local target on
//! 127.0.0.1, and a recording proxy between the browser and hush).
//!
//! A member builds a Send API Request whose bearer token is a key inserted through a
//! field's + menu (by keyboard), creates a second key from inside the action, saves it,
//! test-runs it (the target gets exactly the values; the page shows them redacted),
//! edits and saves it again; a key the member may not Use is refused in the picker and at
//! save, at the field that holds it. A Run Code action (a component, bound to a key with
//! the same picker) is built, test-run, edited and saved again.
//!
//! On every view and open dialog, axe-core (vendored in `tests/fixtures/axe-core`, never
//! served) must report no violation; no value may be in any answer the browser got, the
//! DOM, storage or a URL. Screenshots of each step at 1280 and 390 px land in
//! `$CARGO_TARGET_DIR/web-screenshots/editor-*.png`.

use crate::common;
use crate::web::{Hush, Log, Page, in_browser, snapshot};

use common::api::{Client as ApiClient, user_token};
use common::{assert_no_value_in, user};
use fantoccini::key::Key;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const STRIPE: &str = "sk_live_editor_5e6f7a8b9c0d1e2f3a4b";
const PARTNER: &str = "partner_editor_0a1b2c3d4e5f6a7b";
const OPS: &str = "ops_editor_value_99887766554433";
const VALUES: &[&str] = &[STRIPE, PARTNER, OPS];

/// axe-core on the page as it is (see `Page::axe`); `Page::shot` runs it too.
async fn axe(page: &Page, what: &str) {
    page.axe(what).await;
}

async fn sign_in(page: &Page, proxy: &str, token: &str) {
    page.c.goto(&format!("{proxy}/")).await.unwrap();
    page.wait(
        "the sign-in form",
        "!document.getElementById('view-signin').hidden",
    )
    .await;
    page.js(
        "window.__violations = []; document.addEventListener('securitypolicyviolation', \
         e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));",
    )
    .await;
    axe(page, "on the sign-in view").await;
    page.fill("#signin-token", token).await;
    page.click("#signin-form button[type=submit]").await;
    page.wait(
        "the secret keys",
        "!document.getElementById('view-secrets').hidden",
    )
    .await;
}

/// Sends `keys` to whatever has focus.
async fn keys(page: &Page, keys: &str) {
    page.c
        .active_element()
        .await
        .unwrap()
        .send_keys(keys)
        .await
        .unwrap();
}

async fn focused(page: &Page) -> Value {
    page.js("const a = document.activeElement; return a.dataset.op || a.id || a.textContent;")
        .await
}

/// The chips (key ids) in the value field at `path`.
async fn chips(page: &Page, path: &str) -> Value {
    page.js_with(
        "return [...document.querySelectorAll(`#view-action [data-path=\"${arguments[0]}\"] .chip`)]
           .map(c => c.querySelector('.chip-name').textContent + '=' + c.dataset.secret);",
        vec![json!(path)],
    )
    .await
}

/// Opens the + menu of the value field at `path` and picks `op`.
async fn plus(page: &Page, path: &str, op: &str) {
    page.click(&format!("#view-action [data-path='{path}'] button.plus"))
        .await;
    page.wait(
        "the + menu",
        "!document.getElementById('insert-menu').hidden",
    )
    .await;
    page.click(&format!("#insert-menu [data-op='{op}']")).await;
}

async fn save_and_wait(page: &Page) -> String {
    page.js("document.getElementById('action-saved').textContent = '';")
        .await;
    page.click("#action-save").await;
    page.wait(
        "the save",
        "document.getElementById('action-saved').textContent.startsWith('Saved as') || \
         !document.getElementById('action-error').hidden",
    )
    .await;
    page.text("#action-saved").await
}

/// Test-runs the action in the editor with `inputs` and waits for it to end.
async fn test_run(page: &Page, inputs: &str, shot: &str) -> String {
    page.fill("#test-inputs", inputs).await;
    // Forget the last run's status and result, so only this run's can satisfy the waits
    // (a fast run may end before its start is seen).
    page.js("document.getElementById('test-status').textContent = ''; \
         document.getElementById('test-result').textContent = 'Not yet';")
        .await;
    page.click("#test-submit").await;
    page.wait(
        "the run to start",
        "['queued', 'running', 'succeeded', 'failed'].includes(document.getElementById('test-status').textContent)",
    )
    .await;
    page.shot(shot).await;
    page.wait(
        "the run to end",
        "['succeeded', 'failed'].includes(document.getElementById('test-status').textContent) && \
         !document.getElementById('test-result').textContent.startsWith('Not yet')",
    )
    .await;
    page.text("#test-status").await
}

/// Nothing of a value in any answer, a URL, the DOM or storage; no CSP violation and
/// no console error.
async fn assert_clean(page: &Page, log: &Log, token: &str, when: &str) {
    page.assert_no_value_of(when, VALUES).await;
    for e in snapshot(log) {
        let place = format!("the answer to {} {}", e.method, e.uri);
        let headers: String = e
            .response_headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}\n"))
            .collect();
        assert_no_value_in(&format!("{place} (headers)"), headers.as_bytes(), VALUES);
        assert_no_value_in(&place, &e.body, VALUES);
        assert_no_value_in(&format!("the URL {}", e.uri), e.uri.as_bytes(), VALUES);
        assert!(!e.uri.contains(token), "a URL holds the token: {}", e.uri);
        assert!(e.status < 500, "{place}: {}", e.status);
    }
    assert_eq!(page.js("return window.__violations").await, json!([]));
    let errors: Vec<String> = page
        .console_errors()
        .await
        .into_iter()
        // Refusals the test provokes on purpose are logged by the browser as failed loads.
        .filter(|e| !e.contains("403") && !e.contains("400"))
        .collect();
    assert!(errors.is_empty(), "console errors {when}: {errors:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_builds_saves_test_runs_and_edits_a_send_api_request_with_keys_from_the_plus_menu()
{
    in_browser(
        "chromedriver-editor-http.log",
        |page, hush, proxy, log| async move {
            build_a_send_api_request(&page, &hush, &proxy, &log).await;
        },
    )
    .await;
}

async fn build_a_send_api_request(page: &Page, hush: &Hush, proxy: &str, log: &Log) {
    let api = ApiClient::new(hush.base.clone(), VALUES);
    let mia = user_token(&hush.h, "mia").await;
    let ada = user_token(&hush.h, "ada").await;
    let stripe = hush
        .h
        .create("ada", common::team("Stripe live", STRIPE))
        .await
        .id;
    // Restricted to max: mia may not use it.
    let ops = hush
        .h
        .create(
            "ada",
            common::restricted("Ops only", OPS, &["user:max=use"]),
        )
        .await
        .id;

    // ---- sign in: who am I ----
    sign_in(page, proxy, &mia).await;
    page.wait("who I am", "document.getElementById('who-org').textContent")
        .await;
    assert_eq!(page.text("#who-text").await, "Signed in as mia");
    assert_eq!(
        page.text("#who-org").await,
        format!("Org {}", hush.h.org.as_str())
    );
    page.wait(
        "the keys",
        &format!("document.getElementById('key-{stripe}')"),
    )
    .await;
    axe(page, "on the secret keys").await;
    // mia holds no Manage on Stripe live: its menu offers only what Use allows.
    page.key_menu(stripe.as_str(), "reference").await;
    page.wait(
        "the reference dialog",
        "document.getElementById('reference-dialog').open",
    )
    .await;
    page.click("#reference-dialog [data-close]").await;
    page.click(&format!("button[data-menu='{stripe}']")).await;
    let offered = page
        .js("return [...document.querySelectorAll('#key-menu li')].filter(li => !li.hidden).map(li => li.textContent.trim());")
        .await;
    assert_eq!(
        offered,
        json!(["Insert reference"]),
        "no Manage item for a Use-only key"
    );
    page.click(&format!("button[data-menu='{stripe}']")).await;
    page.shot("editor-01-keys-as-member").await;

    // ---- the actions view, empty ----
    page.click("#nav-actions").await;
    page.wait(
        "the actions",
        "!document.getElementById('actions-empty').hidden",
    )
    .await;
    axe(page, "on the empty actions list").await;
    page.shot("editor-02-actions-empty").await;

    // ---- a new Send API Request ----
    page.click("#new-http").await;
    page.wait(
        "the editor",
        "document.querySelector(\"#view-action [data-path='url'] input\")",
    )
    .await;
    page.fill("#action-name", "Charge customer").await;
    assert_eq!(
        page.js("return document.getElementById('action-id').value")
            .await,
        json!("act_charge-customer"),
        "the id follows the name"
    );
    page.select("#view-action [data-path='method'] select", "POST")
        .await;
    page.fill(
        "#view-action [data-path='url'] input",
        &format!("{}/charge", hush.target),
    )
    .await;
    page.select("#view-action [data-path='auth'] select", "bearer")
        .await;
    axe(page, "on the Send API Request editor").await;

    // The token: + menu by keyboard, Insert a Secret Key, search, pick.
    let plus_button = page
        .find("#view-action [data-path='auth.token'] button.plus")
        .await;
    plus_button
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    page.wait(
        "the + menu",
        "!document.getElementById('insert-menu').hidden",
    )
    .await;
    assert_eq!(
        focused(page).await,
        json!("key"),
        "the menu's first item has focus"
    );
    keys(page, &Key::Down.to_string()).await;
    assert_eq!(focused(page).await, json!("create"));
    keys(page, &Key::Up.to_string()).await;
    axe(page, "with the + menu open").await;
    page.shot("editor-03-plus-menu").await;
    keys(page, &Key::Enter.to_string()).await;
    page.wait(
        "the picker",
        &format!("document.getElementById('picker-dialog').open && document.querySelector(\"#picker-list [data-secret='{ops}']\")"),
    )
    .await;
    // The key mia may not use is there, refused.
    assert_eq!(
        page.js_with(
            "return document.querySelector(`#picker-list [data-secret=\"${arguments[0]}\"]`).getAttribute('aria-disabled');",
            vec![json!(ops.as_str())],
        )
        .await,
        json!("true")
    );
    page.click(&format!("#picker-list [data-secret='{ops}']"))
        .await;
    page.wait(
        "the refusal",
        "!document.getElementById('picker-note').hidden",
    )
    .await;
    assert!(
        page.text("#picker-note")
            .await
            .contains("may not use Ops only")
    );
    assert!(
        page.js("return document.getElementById('picker-dialog').open")
            .await
            == json!(true)
    );
    axe(page, "with the key picker open").await;
    page.shot("editor-04-picker").await;
    page.find("#picker-search")
        .await
        .send_keys("stripe")
        .await
        .unwrap();
    page.wait(
        "the search",
        "document.querySelectorAll('#picker-list button').length === 1",
    )
    .await;
    keys(page, &Key::Down.to_string()).await;
    keys(page, &Key::Enter.to_string()).await;
    page.wait(
        "the chip",
        "!document.getElementById('picker-dialog').open && \
         document.querySelector(\"#view-action [data-path='auth.token'] .chip\")",
    )
    .await;
    assert_eq!(
        chips(page, "auth.token").await,
        json!([format!("Stripe live={stripe}")]),
        "the key shows as a named chip"
    );
    let token_text = page
        .js("return [...document.querySelectorAll(\"#view-action [data-path='auth.token'] input\")].map(i => i.value).join('|')")
        .await;
    assert!(
        !token_text.as_str().unwrap().contains("secret"),
        "no template text shows: {token_text}"
    );

    // A header whose value is a key created from inside the action.
    page.click("#view-action button[data-add='headers']").await;
    page.fill(
        "#view-action [data-path='headers[0].name'] input",
        "X-Partner-Key",
    )
    .await;
    plus(page, "headers[0].value", "create").await;
    page.wait(
        "the create dialog",
        "document.getElementById('create-dialog').open",
    )
    .await;
    page.fill("#create-name", "Partner key").await;
    page.fill("#create-value", PARTNER).await;
    axe(page, "with Create Secret Key open from the editor").await;
    page.shot("editor-05-create-key-inside").await;
    page.click("#create-form button[type=submit]").await;
    page.wait(
        "the new key's chip",
        "!document.getElementById('create-dialog').open && \
         document.querySelector(\"#view-action [data-path='headers[0].value'] .chip\")",
    )
    .await;
    assert_eq!(
        page.js("return document.getElementById('create-value').value")
            .await,
        json!("")
    );
    let partner = chips(page, "headers[0].value").await[0]
        .as_str()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    assert!(partner.starts_with("sec_"), "{partner}");

    // A query parameter from an input.
    page.click("#view-action button[data-add='query']").await;
    page.fill("#view-action [data-path='query[0].name'] input", "customer")
        .await;
    plus(page, "query[0].value", "input").await;
    page.wait(
        "the input dialog",
        "document.getElementById('input-dialog').open",
    )
    .await;
    page.fill("#input-name", "customer_id").await;
    axe(page, "with Insert an input open").await;
    page.click("#input-form button[type=submit]").await;
    page.wait(
        "the input reference",
        "document.querySelector(\"#view-action [data-path='query[0].value'] input\").value === '{{inputs.customer_id}}'",
    )
    .await;
    // A JSON body field.
    page.select("#view-action [data-path='body'] select", "json")
        .await;
    page.click("#view-action button[data-add='body.value']")
        .await;
    page.fill(
        "#view-action [data-path='body.value[0].name'] input",
        "amount",
    )
    .await;
    page.fill(
        "#view-action [data-path='body.value.amount'] input",
        "{{inputs.amount}}",
    )
    .await;
    page.shot("editor-06-send-api-request").await;

    // ---- save ----
    let saved = save_and_wait(page).await;
    assert!(
        saved.starts_with("Saved as act_charge-customer by mia"),
        "{saved}"
    );
    assert_eq!(
        page.js("return location.hash").await,
        json!("#/actions/act_charge-customer")
    );
    let (status, action) = api.get("/v1/actions/act_charge-customer", &mia).await;
    assert_eq!(status, StatusCode::OK, "{action}");
    let spec = &action["spec"];
    assert_eq!(spec["method"], "POST");
    assert_eq!(
        spec["auth"],
        json!({"type": "bearer", "token": format!("{{{{secret \"{stripe}\"}}}}")})
    );
    assert_eq!(
        spec["headers"],
        json!([{"name": "X-Partner-Key", "value": format!("{{{{secret \"{partner}\"}}}}")}])
    );
    assert_eq!(
        spec["query"],
        json!([{"name": "customer", "value": "{{inputs.customer_id}}"}])
    );
    assert_eq!(
        spec["body"],
        json!({"type": "json", "value": {"amount": "{{inputs.amount}}"}})
    );
    assert_eq!(action["name"], "Charge customer");

    // ---- test run, live ----
    let status = test_run(
        page,
        r#"{"customer_id": "cus_42", "amount": "12"}"#,
        "editor-07-test-run-live",
    )
    .await;
    assert_eq!(status, "succeeded", "{}", page.text("#test-result").await);
    let result = page.text("#test-result").await;
    assert!(
        result.contains("[REDACTED:Stripe live]"),
        "the result shows the value redacted: {result}"
    );
    let used = page.text("#test-secrets").await;
    assert!(
        used.contains("Stripe live") && used.contains("Partner key"),
        "{used}"
    );
    {
        let headers = hush.received_headers.lock().unwrap();
        let got = headers.last().expect("the target was called");
        assert_eq!(
            got["authorization"],
            format!("Bearer {STRIPE}"),
            "exactly the value"
        );
        assert_eq!(got["x-partner-key"], PARTNER, "exactly the value");
    }
    axe(page, "on the editor after a test run").await;
    page.shot("editor-08-test-run-done").await;
    assert_clean(page, log, &mia, "after the test run").await;

    // ---- the list ----
    page.click("a[href='#/actions']").await;
    page.wait(
        "the saved action",
        "document.querySelector('#actions-body tr')",
    )
    .await;
    let row = page.text("#actions-body tr").await;
    for expected in [
        "Charge customer",
        "Send API Request",
        "Stripe live",
        "Partner key",
        "mia",
    ] {
        assert!(row.contains(expected), "{expected:?} not in {row}");
    }
    axe(page, "on the actions list").await;
    page.shot("editor-09-actions-list").await;

    // ---- edit and save again: a key mia may use, then may not ----
    page.click("#actions-body a").await;
    page.wait(
        "the editor",
        "document.querySelector(\"#view-action [data-path='auth.token'] .chip\")",
    )
    .await;
    assert_eq!(
        chips(page, "auth.token").await,
        json!([format!("Stripe live={stripe}")])
    );
    // The partner header goes; the URL changes.
    page.click("#view-action .pair button.remove[aria-label='Remove header 1']")
        .await;
    page.fill(
        "#view-action [data-path='url'] input",
        &format!("{}/refund", hush.target),
    )
    .await;
    let saved = save_and_wait(page).await;
    assert!(saved.starts_with("Saved as act_charge-customer"), "{saved}");
    let (_, action) = api.get("/v1/actions/act_charge-customer", &mia).await;
    assert_eq!(action["spec"]["headers"], json!([]));
    assert_eq!(action["spec"]["url"], format!("{}/refund", hush.target));
    assert_eq!(action["secrets"], json!([stripe.as_str()]));

    // ada takes mia's Use of Stripe live away (restricted, no grant); mia saves again.
    let (status, _) = api
        .json(
            Method::PATCH,
            &format!("/v1/secrets/{stripe}"),
            &ada,
            &json!({"access": "restricted", "grants": []}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let saved = save_and_wait(page).await;
    assert!(
        !saved.starts_with("Saved as"),
        "the save was refused: {saved}"
    );
    let at_field = page
        .text("#view-action [data-path='auth.token'] .field-error")
        .await;
    assert!(at_field.contains("needs the Use permission"), "{at_field}");
    assert!(at_field.contains("Stripe live"), "{at_field}");
    assert_eq!(
        page.js("return document.querySelector(\"#view-action [data-path='auth.token'] .chip\").classList.contains('refused-now')").await,
        json!(true)
    );
    axe(page, "with a refusal at a field").await;
    page.shot("editor-10-refused-at-save").await;
    // And the picker now shows it refused.
    plus(page, "auth.token", "key").await;
    page.wait(
        "the picker",
        &format!("document.querySelector(\"#picker-list [data-secret='{stripe}'][aria-disabled='true']\")"),
    )
    .await;
    page.shot("editor-11-refused-in-picker").await;
    page.click("#picker-dialog [data-close]").await;
    // A template error from the API lands at the field it names.
    page.fill("#view-action [data-path='url'] input", "ftp://nowhere")
        .await;
    save_and_wait(page).await;
    let at_url = page
        .text("#view-action [data-path='url'] .field-error")
        .await;
    assert!(at_url.starts_with("invalid url"), "{at_url}");
    page.shot("editor-12-error-at-field").await;

    // Leaving the view closes dialogs.
    plus(page, "auth.token", "key").await;
    page.wait(
        "the picker",
        "document.getElementById('picker-dialog').open",
    )
    .await;
    page.js("location.hash = '#/runs'").await;
    page.wait("the runs", "!document.getElementById('view-runs').hidden")
        .await;
    assert_eq!(
        page.js("return document.querySelectorAll('dialog[open]').length")
            .await,
        json!(0)
    );
    page.wait(
        "the run in the list",
        "document.querySelector('#runs-body a')",
    )
    .await;
    axe(page, "on the runs list").await;
    page.click("#runs-body a").await;
    page.wait(
        "the run",
        "document.getElementById('run-status').textContent === 'succeeded'",
    )
    .await;
    axe(page, "on a run").await;

    assert_clean(page, log, &mia, "at the end").await;
    assert_eq!(
        hush.received.lock().unwrap().as_slice(),
        [format!("Bearer {STRIPE}")],
        "one call, with the value itself"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_builds_edits_and_test_runs_a_run_code_action_with_a_key_bound_through_the_picker()
{
    in_browser(
        "chromedriver-editor-code.log",
        |page, hush, proxy, log| async move {
            build_a_run_code_action(&page, &hush, &proxy, &log).await;
        },
    )
    .await;
}

async fn build_a_run_code_action(page: &Page, hush: &Hush, proxy: &str, log: &Log) {
    let api = ApiClient::new(hush.base.clone(), VALUES);
    let max = user_token(&hush.h, "max").await;
    let stripe = hush
        .h
        .create("ada", common::team("Stripe live", STRIPE))
        .await
        .id;
    let component = hush
        .code
        .add_component(
            &hush.h.org,
            &user("max"),
            std::fs::read(hush::guests::CALL_API).unwrap(),
        )
        .await
        .unwrap();

    sign_in(page, proxy, &max).await;
    page.click("#nav-actions").await;
    page.wait(
        "the actions",
        "!document.getElementById('actions-empty').hidden",
    )
    .await;
    page.click("#new-code").await;
    page.wait(
        "the code editor",
        "document.querySelector(\"#view-action [data-path='code'] textarea\")",
    )
    .await;
    page.fill("#action-name", "Call the API").await;
    // JavaScript: the code editor with line numbers.
    page.fill(
        "#view-action [data-path='code'] textarea",
        "export default async function run(inputs) {\n  return inputs;\n}",
    )
    .await;
    assert_eq!(
        page.js("return document.querySelector('#view-action .gutter').textContent")
            .await,
        json!("1\n2\n3")
    );
    axe(page, "on the Run Code editor").await;
    page.shot("editor-20-run-code-javascript").await;
    // JavaScript saves and test-runs as it is written.
    let saved = save_and_wait(page).await;
    assert!(
        saved.starts_with("Saved as act_call-the-api by max"),
        "{saved}"
    );
    let (status, action) = api.get("/v1/actions/act_call-the-api", &max).await;
    assert_eq!(status, StatusCode::OK, "{action}");
    assert_eq!(action["spec"]["language"], "javascript", "{action}");
    let status = test_run(page, r#"{"echoed": 7}"#, "editor-21-javascript-live").await;
    assert_eq!(status, "succeeded", "{}", page.text("#test-result").await);
    let result = page.text("#test-result").await;
    assert!(
        result.contains("echoed") && result.contains('7'),
        "{result}"
    );

    // A component instead, bound to a key through the picker.
    page.select("#view-action [data-path='language'] select", "component")
        .await;
    page.fill("#view-action [data-path='component'] input", &component)
        .await;
    page.click("#view-action button[data-add='secrets']").await;
    page.wait("the picker", "document.getElementById('picker-dialog').open && document.querySelector('#picker-list button')")
        .await;
    page.click(&format!("#picker-list [data-secret='{stripe}']"))
        .await;
    page.wait(
        "the binding",
        "document.querySelector('#view-action .binding .chip')",
    )
    .await;
    page.fill("#view-action .binding input[type=text]", "api")
        .await;
    page.fill(
        "#view-action [data-path='allowed_hosts'] textarea",
        "127.0.0.1",
    )
    .await;
    page.fill(
        "#view-action [data-path='limits.timeout_ms'] input",
        "10000",
    )
    .await;
    axe(page, "on the Run Code editor with a binding").await;
    page.shot("editor-22-run-code-component").await;
    let saved = save_and_wait(page).await;
    assert!(
        saved.starts_with("Saved as act_call-the-api by max"),
        "{saved}"
    );
    let (status, action) = api.get("/v1/actions/act_call-the-api", &max).await;
    assert_eq!(status, StatusCode::OK, "{action}");
    assert_eq!(action["spec"]["component"], json!(component));
    assert_eq!(action["spec"]["secrets"], json!({"api": stripe.as_str()}));
    assert_eq!(action["spec"]["allowed_hosts"], json!(["127.0.0.1"]));
    assert_eq!(action["spec"]["limits"]["timeout_ms"], 10000);

    let inputs = json!({"url": format!("{}/charge", hush.target)}).to_string();
    let status = test_run(page, &inputs, "editor-23-run-code-live").await;
    assert_eq!(status, "succeeded", "{}", page.text("#test-result").await);
    let result = page.text("#test-result").await;
    assert!(result.contains("[REDACTED:Stripe live]"), "{result}");
    assert_eq!(
        hush.received.lock().unwrap().as_slice(),
        [format!("Bearer {STRIPE}")],
        "the target got exactly the value"
    );
    axe(page, "on the Run Code editor after a run").await;
    page.shot("editor-24-run-code-done").await;

    // Edit: a limit out of range is refused at its field; then a good one saves.
    page.fill(
        "#view-action [data-path='limits.timeout_ms'] input",
        "999999999",
    )
    .await;
    save_and_wait(page).await;
    let at = page
        .text("#view-action [data-path='limits.timeout_ms'] .field-error")
        .await;
    assert!(at.contains("limits.timeout_ms"), "{at}");
    page.shot("editor-25-limit-refused").await;
    page.fill(
        "#view-action [data-path='limits.timeout_ms'] input",
        "15000",
    )
    .await;
    let saved = save_and_wait(page).await;
    assert!(saved.starts_with("Saved as"), "{saved}");
    let (_, action) = api.get("/v1/actions/act_call-the-api", &max).await;
    assert_eq!(action["spec"]["limits"]["timeout_ms"], 15000);
    assert_clean(page, log, &max, "after the Run Code action").await;
}
