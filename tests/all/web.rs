//! The web page of `hush serve` in a real headless Chromium, driven over WebDriver
//! (chromedriver) by fantoccini: sign in with a token, create a restricted secret key,
//! run a saved action that uses it against a local target, watch the run live and read
//! its redacted result, rename the key, give it a new value, change its permissions and
//! allowed hosts, see the reference warning on delete, and delete it with force.
//!
//! Every request of the browser goes through a recording reverse proxy in this test, so
//! the test can assert that no response the browser received (page, API answer, event
//! stream) holds a secret value in any known encoding, that the token never appears in a
//! URL, and that the page's security headers are there. The DOM, the form fields,
//! `localStorage` and `sessionStorage` are checked for the values too.
//!
//! At each step axe-core checks the page (WCAG 2.1 AA and best practices: any violation
//! fails the test). Screenshots of each step at 1280 and 390 px wide land in
//! `$CARGO_TARGET_DIR/web-screenshots/` (or `target/web-screenshots/`).
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium chromium-driver`;
//! `scripts/test` installs them when run as root), or `HUSH_CHROMIUM` and
//! `HUSH_CHROMEDRIVER` naming them. Without them the test fails and says so.

use crate::common;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::Response;
use common::api::{Client as ApiClient, user_token};
use common::{Harness, Kind, assert_no_value_in};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::{FutureExt, StreamExt};
use hush::actions::http::NetworkPolicy;
use hush::api::{ApiState, app};
use hush::runs::DEFAULT_RETENTION;
use hush::runs::redis::RedisRuns;
use hush::runs::worker::{self, WorkerConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The value typed into the Create Secret Key form.
const VALUE: &str = "sk_live_web_4f9a8b7c6d5e4f3a2b1c0d9e";
/// The value typed into Edit value.
const NEW_VALUE: &str = "sk_live_web_rotated_77aa88bb99cc00dd";
const VALUES: &[&str] = &[VALUE, NEW_VALUE];
/// axe-core, vendored for the tests only.
const AXE: &str = include_str!("../fixtures/axe-core/axe.min.js");
/// How long the local target takes to answer, so the run is seen while it goes on.
const TARGET_DELAY: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------------------------------
// Finding Chromium and chromedriver

/// The path of the first of `names` on PATH, or of `$env` when set.
fn program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

fn browser_programs() -> (PathBuf, PathBuf) {
    const HOW: &str = "install them with `apt-get install -y chromium chromium-driver` (Debian; \
                       scripts/test does this when run as root), or set HUSH_CHROMIUM and \
                       HUSH_CHROMEDRIVER to their paths";
    let chromium = program(
        "HUSH_CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    );
    let driver = program("HUSH_CHROMEDRIVER", &["chromedriver"]);
    match (chromium, driver) {
        (Some(c), Some(d)) => (c, d),
        (None, Some(_)) => panic!("tests/web.rs needs Chromium, which is not installed: {HOW}"),
        (Some(_), None) => panic!("tests/web.rs needs chromedriver, which is not installed: {HOW}"),
        (None, None) => {
            panic!("tests/web.rs needs Chromium and chromedriver, neither is installed: {HOW}")
        }
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver, ended when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver(driver: &Path, log: &Path) -> Driver {
    let port = free_port();
    let log_file = std::fs::File::create(log).unwrap();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", driver.display()));
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(res) = reqwest::get(format!("{}/status", driver.url)).await
            && res.status().is_success()
        {
            return driver;
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not answer on {} (see {})",
            driver.url,
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_browser(chromium: &Path, driver: &Driver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--lang=en-US", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",
                "--disable-domain-reliability", "--hide-scrollbars",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("chromedriver could not start {}: {e}", chromium.display()))
}

/// chromedriver's `POST /session/{id}/se/log`: the browser's console messages since the
/// last call.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (Method, Option<String>) {
        (Method::POST, Some(json!({"type": "browser"}).to_string()))
    }
}

// ---------------------------------------------------------------------------------------
// The recording proxy between the browser and hush

/// One request the browser sent and the answer it got, as it passed the proxy.
#[derive(Clone, Debug, Default)]
pub(crate) struct Exchange {
    pub(crate) method: String,
    pub(crate) uri: String,
    pub(crate) request_headers: Vec<(String, String)>,
    pub(crate) status: u16,
    pub(crate) response_headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Exchange {
    pub(crate) fn response_header(&self, name: &str) -> Option<&str> {
        self.response_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) type Log = Arc<Mutex<Vec<Arc<Mutex<Exchange>>>>>;

/// A copy of every exchange so far.
pub(crate) fn snapshot(log: &Log) -> Vec<Exchange> {
    let list = log.lock().unwrap().clone();
    list.iter().map(|e| e.lock().unwrap().clone()).collect()
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    log: Log,
}

/// Forwards one request to hush and streams the answer back (server-sent events too),
/// keeping a copy of every byte of it.
async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20).await.unwrap();
    let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut out = proxy
        .http
        .request(parts.method.clone(), format!("{}{path}", proxy.upstream));
    let mut exchange = Exchange {
        method: parts.method.to_string(),
        uri: path.to_owned(),
        ..Exchange::default()
    };
    for (name, value) in &parts.headers {
        exchange.request_headers.push((
            name.to_string(),
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        ));
        let hop = [
            header::HOST,
            header::CONTENT_LENGTH,
            header::CONNECTION,
            header::TRANSFER_ENCODING,
            header::ACCEPT_ENCODING,
        ];
        if !hop.contains(name) {
            out = out.header(name, value);
        }
    }
    let answer = out.body(body).send().await.unwrap();
    exchange.status = answer.status().as_u16();
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        exchange.response_headers.push((
            name.to_string(),
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        ));
        if ![
            header::CONTENT_LENGTH,
            header::CONNECTION,
            header::TRANSFER_ENCODING,
        ]
        .contains(name)
        {
            response = response.header(name, value);
        }
    }
    let exchange = Arc::new(Mutex::new(exchange));
    proxy.log.lock().unwrap().push(Arc::clone(&exchange));
    let stream = answer.bytes_stream().map(move |chunk| {
        if let Ok(bytes) = &chunk {
            exchange.lock().unwrap().body.extend_from_slice(bytes);
        }
        chunk
    });
    response.body(Body::from_stream(stream)).unwrap()
}

async fn start_proxy(upstream: String) -> (String, Log) {
    let log: Log = Arc::default();
    let proxy = Proxy {
        upstream,
        http: reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        log: Arc::clone(&log),
    };
    let router = axum::Router::new().fallback(forward).with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, log)
}

// ---------------------------------------------------------------------------------------
// hush with a worker, and the local target

pub(crate) struct Hush {
    pub(crate) h: Harness,
    pub(crate) base: String,
    pub(crate) target: String,
    pub(crate) received: Arc<Mutex<Vec<String>>>,
    /// Every request's headers, as the target got them.
    pub(crate) received_headers: Arc<Mutex<Vec<axum::http::HeaderMap>>>,
    /// The Run Code runtime the executor runs components with.
    pub(crate) code: Arc<hush::actions::code::CodeRuntime>,
    stop: Arc<AtomicBool>,
    worker: Mutex<Option<tokio::task::JoinHandle<hush::Result<()>>>>,
}

async fn start_hush() -> Hush {
    let h = Harness::isolated(Kind::Redis).await;

    // The target: answers after TARGET_DELAY with the Authorization header it got, so the
    // run's result holds the value (and hush must redact it).
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let received_headers: Arc<Mutex<Vec<axum::http::HeaderMap>>> = Arc::default();
    let seen = Arc::clone(&received);
    let seen_headers = Arc::clone(&received_headers);
    let target_app = axum::Router::new().fallback(move |request: Request| {
        let seen = Arc::clone(&seen);
        let seen_headers = Arc::clone(&seen_headers);
        async move {
            seen_headers.lock().unwrap().push(request.headers().clone());
            let auth = request
                .headers()
                .get(header::AUTHORIZATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            seen.lock().unwrap().push(auth.clone());
            tokio::time::sleep(TARGET_DELAY).await;
            axum::Json(json!({"charged": true, "echo": {"authorization": auth}}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, target_app).await.unwrap() });

    let policy = NetworkPolicy::allowing(["127.0.0.1/32".parse().unwrap()]);
    let (code, executor) = h.code_executor(policy);
    let runs = RedisRuns::connect(&h.redis_url(), DEFAULT_RETENTION)
        .await
        .unwrap();
    let state = ApiState::new(
        Arc::clone(&h.backend),
        Arc::new(runs.clone()),
        executor.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app(state)).await.unwrap() });
    let stop = Arc::new(AtomicBool::new(false));
    let worker = tokio::spawn(worker::work(
        runs,
        executor,
        WorkerConfig {
            concurrency: 4,
            ..WorkerConfig::named("web-test-worker")
        },
        Arc::clone(&stop),
    ));
    Hush {
        h,
        base,
        target,
        received,
        received_headers,
        code,
        stop,
        worker: Mutex::new(Some(worker)),
    }
}

// ---------------------------------------------------------------------------------------
// The page, as a person uses it

pub(crate) struct Page {
    pub(crate) c: Client,
    pub(crate) shots: PathBuf,
}

fn truthy(v: &Value) -> bool {
    !matches!(v, Value::Null | Value::Bool(false))
        && v.as_str() != Some("")
        && v.as_f64() != Some(0.0)
}

impl Page {
    pub(crate) async fn js(&self, script: &str) -> Value {
        self.c
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    pub(crate) async fn js_with(&self, script: &str, args: Vec<Value>) -> Value {
        self.c
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls the expression `condition` until it is truthy and returns its value.
    pub(crate) async fn wait(&self, what: &str, condition: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.js(&format!("return ({condition});")).await;
            if truthy(&got) {
                return got;
            }
            if Instant::now() > deadline {
                let text = self.js("return document.body.innerText;").await;
                panic!("timed out waiting for {what} ({condition}); the page reads:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
    }

    pub(crate) async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("could not click {css}: {e}"));
    }

    pub(crate) async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    pub(crate) async fn select(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("could not choose {value} in {css}: {e}"));
    }

    pub(crate) async fn visible(&self, css: &str) -> bool {
        self.js_with(
            "const n = document.querySelector(arguments[0]); \
             return !!n && n.getClientRects().length > 0;",
            vec![json!(css)],
        )
        .await
        .as_bool()
        .unwrap()
    }

    pub(crate) async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// Opens the menu of the key `id` with the keyboard and picks `item`.
    pub(crate) async fn key_menu(&self, id: &str, item: &str) {
        // The list shown and loaded (the rows are rebuilt after every change).
        self.wait(
            "the key's menu button",
            &format!(
                "!document.querySelector('[aria-busy]') && \
                 document.querySelector(\"button[data-menu='{id}']\")?.getClientRects().length > 0"
            ),
        )
        .await;
        self.click(&format!("button[data-menu='{id}']")).await;
        self.wait(
            "the key menu",
            "!document.getElementById('key-menu').hidden",
        )
        .await;
        self.click(&format!("#key-menu [data-op='{item}']")).await;
    }

    /// Runs axe-core (every WCAG 2.0/2.1 A and AA rule, and the best practices) on the
    /// page as it is and fails on any violation. axe-core is a test fixture
    /// (`tests/fixtures/axe-core`), injected over WebDriver: hush never serves it.
    pub(crate) async fn axe(&self, what: &str) {
        if self.js("return typeof window.axe === 'object';").await != json!(true) {
            self.c.execute(AXE, vec![]).await.expect("axe-core loads");
        }
        let got = self
            .c
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then(r => done(r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                     nodes: v.nodes.map(n => n.target.join(' ') + ' — ' + n.failureSummary) }))))
                   .catch(e => done('axe failed: ' + e));",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(got, json!([]), "axe-core finds violations {what}");
    }

    /// Checks the page with axe-core, then screenshots it as it is, 1280 and 390 px
    /// wide, named `name`.
    pub(crate) async fn shot(&self, name: &str) {
        self.axe(&format!("at step {name}")).await;
        for (width, height) in [(1280, 900), (390, 844)] {
            self.c.set_window_size(width, height).await.unwrap();
            let inner = self
                .wait(
                    "the resize",
                    &format!("window.innerWidth === {width} && window.innerWidth"),
                )
                .await;
            assert_eq!(inner, json!(width));
            // The narrow layout must not scroll sideways.
            let overflow = self
                .js("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
                .await;
            assert!(
                overflow.as_i64().unwrap() <= 0,
                "{name} at {width} px scrolls sideways by {overflow} px"
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
            let png = self.c.screenshot().await.unwrap();
            std::fs::write(self.shots.join(format!("{name}-{width}.png")), png).unwrap();
        }
        self.c.set_window_size(1280, 900).await.unwrap();
    }

    /// Fails if the DOM (with every field's current value), localStorage or
    /// sessionStorage holds a value in any known encoding.
    pub(crate) async fn assert_no_value(&self, when: &str) {
        self.assert_no_value_of(when, VALUES).await;
    }

    /// As [`Page::assert_no_value`], for `values`.
    pub(crate) async fn assert_no_value_of(&self, when: &str, values: &[&str]) {
        let dom = self
            .js(
                "return document.documentElement.outerHTML + '\\n' + \
                 [...document.querySelectorAll('input, textarea, select')].map(f => f.value).join('\\n');",
            )
            .await;
        assert_no_value_in(
            &format!("the DOM {when}"),
            dom.as_str().unwrap().as_bytes(),
            values,
        );
        for storage in ["localStorage", "sessionStorage"] {
            let held = self
                .js(&format!(
                    "return JSON.stringify(Object.entries({storage}));"
                ))
                .await;
            assert_no_value_in(
                &format!("{storage} {when}"),
                held.as_str().unwrap().as_bytes(),
                values,
            );
        }
    }

    /// The browser's console messages of level SEVERE since the last call.
    pub(crate) async fn console_errors(&self) -> Vec<String> {
        let entries = self.c.issue_cmd(BrowserLog).await.unwrap();
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("web-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---------------------------------------------------------------------------------------

/// Runs `flow` against hush (with a worker and the target) behind the recording proxy,
/// in a fresh headless Chromium; ends the browser and the worker whatever happens.
pub(crate) async fn in_browser<F, Fut>(driver_log: &str, flow: F)
where
    F: FnOnce(Page, Arc<Hush>, String, Log) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (chromium, chromedriver) = browser_programs();
    let shots = artifacts_dir();
    let hush = Arc::new(start_hush().await);
    let (proxy, log) = start_proxy(hush.base.clone()).await;
    let profile = tempfile::tempdir().unwrap();
    let driver = start_driver(&chromedriver, &shots.join(driver_log)).await;
    let client = start_browser(&chromium, &driver, profile.path()).await;
    let page = Page {
        c: client.clone(),
        shots,
    };
    let outcome = std::panic::AssertUnwindSafe(flow(page, Arc::clone(&hush), proxy, log))
        .catch_unwind()
        .await;
    let _ = client.close().await;
    drop(driver);
    hush.stop.store(true, Ordering::Relaxed);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    let worker = hush.worker.lock().unwrap().take();
    if let Some(worker) = worker {
        let _ = tokio::time::timeout(Duration::from_secs(10), worker).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_manages_a_secret_key_and_reads_a_redacted_run_in_a_real_browser() {
    in_browser("chromedriver.log", |page, hush, proxy, log| async move {
        walk_the_flow(&page, &hush, &proxy, &log).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_token_signs_in_acting_for_a_member_it_names() {
    in_browser("chromedriver-service.log", |page, hush, proxy, log| async move {
        let token = common::api::service_token(&hush.h).await;
        page.c.goto(&format!("{proxy}/")).await.unwrap();
        page.wait("the sign-in form", "!document.getElementById('view-signin').hidden")
            .await;
        page.fill("#signin-token", &token).await;
        page.click("#signin-form button[type=submit]").await;
        page.wait("the refusal", "!document.getElementById('signin-error').hidden")
            .await;
        assert!(
            page.text("#signin-error").await.contains("service token"),
            "a service token without a member to act as is told what is missing"
        );
        assert_eq!(page.js("return sessionStorage.length").await, json!(0));
        page.fill("#signin-actor", "mia").await;
        page.click("#signin-form button[type=submit]").await;
        page.wait("the secret keys", "!document.getElementById('view-secrets').hidden")
            .await;
        assert_eq!(page.text("#who-text").await, "Acting as mia");
        page.wait("who I am", "document.getElementById('who-org').textContent")
            .await;
        assert!(
            page.text("#who-org")
                .await
                .starts_with("via service orchestrator · Org "),
            "the header names the service token's service and the org"
        );
        page.click("#create-open").await;
        page.wait("the create dialog", "document.getElementById('create-dialog').open")
            .await;
        page.fill("#create-name", "Mia's key").await;
        page.fill("#create-value", VALUE).await;
        page.click("#create-form button[type=submit]").await;
        page.wait(
            "the created key",
            "document.querySelector('#secrets-body td[data-label=Updated]')?.textContent.includes('by mia')",
        )
        .await;
        page.assert_no_value("after a service token created a key").await;
        let _ = page.console_errors().await;
        let exchanges = snapshot(&log);
        let created = exchanges
            .iter()
            .find(|e| e.method == "POST" && e.uri.starts_with("/v1/secrets"))
            .expect("the key was created through the proxy");
        assert_eq!(created.uri, "/v1/secrets?actor=mia");
        assert_eq!(created.status, 201);
        for e in &exchanges {
            assert_no_value_in(&format!("the answer to {}", e.uri), &e.body, VALUES);
            assert!(!e.uri.contains(&token), "a URL holds the token: {}", e.uri);
        }
    })
    .await;
}

async fn walk_the_flow(page: &Page, hush: &Hush, proxy: &str, log: &Log) {
    let api = ApiClient::new(hush.base.clone(), VALUES);
    let token = user_token(&hush.h, "ada").await;

    // ---- sign in ----
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
    assert_eq!(page.c.title().await.unwrap(), "Sign in · hush");
    assert!(page.visible("label[for=signin-token]").await);
    page.shot("01-sign-in").await;
    page.fill("#signin-token", "hush_not_a_real_token").await;
    page.click("#signin-form button[type=submit]").await;
    page.wait(
        "the refusal",
        "!document.getElementById('signin-error').hidden",
    )
    .await;
    assert!(page.text("#signin-error").await.contains("not valid"));
    // The browser logs the refused request; nothing else may go wrong from here on.
    let errors = page.console_errors().await;
    assert!(
        errors.iter().all(|e| e.contains("401")),
        "console errors: {errors:#?}"
    );
    page.fill("#signin-token", &token).await;
    page.click("#signin-form button[type=submit]").await;
    page.wait(
        "the secret keys",
        "!document.getElementById('view-secrets').hidden",
    )
    .await;
    page.wait(
        "the empty list",
        "!document.getElementById('secrets-empty').hidden",
    )
    .await;
    assert_eq!(
        page.js("return document.getElementById('signin-token').value")
            .await,
        json!(""),
        "the token field is cleared after sign-in"
    );
    assert_eq!(
        page.text("#who-text").await,
        "Signed in as ada (admin)",
        "the header names the signed-in member"
    );
    page.wait("who I am", "document.getElementById('who-org').textContent")
        .await;
    assert_eq!(
        page.text("#who-org").await,
        format!("Org {}", hush.h.org),
        "the header names the org"
    );
    // The token lives in sessionStorage only: nothing in localStorage, no cookie.
    assert_eq!(
        page.js("return sessionStorage.getItem('hush.token')").await,
        json!(token)
    );
    assert_eq!(page.js("return localStorage.length").await, json!(0));
    assert_eq!(page.js("return document.cookie").await, json!(""));
    page.shot("02-secret-keys-empty").await;

    // ---- create a restricted key ----
    page.click("#create-open").await;
    page.wait(
        "the create dialog",
        "document.getElementById('create-dialog').open",
    )
    .await;
    assert!(
        page.text("#create-warning")
            .await
            .contains("will not be shown again"),
        "the form warns that the value is shown only once"
    );
    page.fill("#create-name", "Stripe live").await;
    page.click("#create-access-restricted").await;
    page.wait(
        "the grants editor",
        "!document.getElementById('create-grants').hidden",
    )
    .await;
    page.wait(
        "people and groups",
        "document.querySelectorAll('#create-grant-who option').length >= 4",
    )
    .await;
    page.select("#create-grant-who", "group:eng").await;
    page.select("#create-grant-permission", "use").await;
    page.click("#create-grant-add").await;
    page.select("#create-grant-who", "user:mia").await;
    page.select("#create-grant-permission", "manage").await;
    page.click("#create-grant-add").await;
    page.wait(
        "two grants",
        "document.querySelectorAll('#create-grant-list li').length === 2",
    )
    .await;
    page.fill("#create-hosts", "127.0.0.1").await;
    page.fill("#create-description", "Charges in production")
        .await;
    page.shot("03-create-secret-key").await;
    page.fill("#create-value", VALUE).await;
    page.click("#create-form button[type=submit]").await;
    page.wait(
        "the created key",
        "!document.getElementById('create-dialog').open && document.querySelector('#secrets-body tr')",
    )
    .await;
    assert_eq!(
        page.js("return document.getElementById('create-value').value")
            .await,
        json!(""),
        "the value field is cleared once the form is sent"
    );
    page.assert_no_value("after the key was created").await;
    let id = page
        .js("return document.querySelector('#secrets-body tr').dataset.id")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert!(id.starts_with("sec_"), "{id}");
    let row = page.text(&format!("#key-{id}")).await;
    for expected in [
        "Stripe live",
        "Restricted",
        "group eng (Use)",
        "mia (Manage)",
        "127.0.0.1",
        "Charges in production",
    ] {
        assert!(
            row.contains(expected),
            "{expected:?} is not in the row: {row}"
        );
    }
    let (status, meta) = api.get(&format!("/v1/secrets/{id}"), &token).await;
    assert_eq!(status, StatusCode::OK, "{meta}");
    assert_eq!(meta["access"], "restricted");
    assert_eq!(meta["grants"].as_array().unwrap().len(), 2);

    // A team key, to see the filter tabs at work.
    let (status, _) = api
        .json(
            Method::POST,
            "/v1/secrets",
            &token,
            &json!({"name": "Slack webhook", "value": "xoxb-team-0000-1111-2222", "access": "team"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // A saved action that uses the restricted key, made through the API.
    let spec = json!({
        "kind": "send_api_request", "name": "Charge", "method": "POST",
        "url": format!("{}/charge", hush.target),
        "headers": [{"name": "Authorization", "value": format!("Bearer {{{{secret \"{id}\"}}}}")}],
    });
    let (status, saved) = api
        .json(
            Method::PUT,
            "/v1/actions/act_charge",
            &token,
            &json!({"spec": spec, "name": "Charge customer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");

    // ---- the filter tabs ----
    let names = "[...document.querySelectorAll('#secrets-body tr .name')].map(n => n.textContent).join(',')";
    for (tab, expected) in [
        ("all", "Slack webhook,Stripe live"),
        ("team", "Slack webhook"),
        ("restricted", "Stripe live"),
        ("usable", "Slack webhook,Stripe live"),
        ("all", "Slack webhook,Stripe live"),
    ] {
        page.click(&format!("#tab-{tab}")).await;
        page.wait(
            &format!("the {tab} tab"),
            &format!("{names} === {}", json!(expected)),
        )
        .await;
        assert_eq!(
            page.js(&format!(
                "return document.getElementById('tab-{tab}').getAttribute('aria-selected')"
            ))
            .await,
            json!("true")
        );
    }
    // Arrow keys move between tabs.
    page.find("#tab-all")
        .await
        .send_keys(&fantoccini::key::Key::Right.to_string())
        .await
        .unwrap();
    page.wait(
        "the team tab by keyboard",
        &format!("{names} === 'Slack webhook'"),
    )
    .await;
    assert_eq!(
        page.js("return document.activeElement.id").await,
        json!("tab-team")
    );
    page.click("#tab-all").await;
    page.wait(
        "all keys",
        &format!("{names} === 'Slack webhook,Stripe live'"),
    )
    .await;
    page.shot("04-secret-keys").await;

    // ---- the key menu, by keyboard; insert reference ----
    let menu_button = page.find(&format!("button[data-menu='{id}']")).await;
    menu_button
        .send_keys(&fantoccini::key::Key::Enter.to_string())
        .await
        .unwrap();
    page.wait("the menu", "!document.getElementById('key-menu').hidden")
        .await;
    assert_eq!(
        page.js("return document.activeElement.dataset.op").await,
        json!("reference"),
        "the menu's first item has focus"
    );
    page.js("document.activeElement.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowDown', bubbles: true}))")
        .await;
    assert_eq!(
        page.js("return document.activeElement.dataset.op").await,
        json!("rename")
    );
    page.shot("05-key-menu").await;
    page.js("document.activeElement.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true}))")
        .await;
    page.wait(
        "the menu to close",
        "document.getElementById('key-menu').hidden",
    )
    .await;
    assert_eq!(
        page.js("return document.activeElement.dataset.menu").await,
        json!(id),
        "Escape gives focus back to the menu button"
    );
    page.key_menu(&id, "reference").await;
    page.wait(
        "the reference dialog",
        "document.getElementById('reference-dialog').open",
    )
    .await;
    assert_eq!(
        page.js("return document.getElementById('reference-text').value")
            .await,
        json!(format!("{{{{secret \"{id}\"}}}}"))
    );
    page.click("#reference-form button[type=submit]").await;
    page.wait(
        "the copy status",
        "document.getElementById('reference-status').textContent",
    )
    .await;
    page.shot("06-insert-reference").await;
    page.click("#reference-dialog [data-close]").await;

    // ---- run the saved action from the page, and watch it live ----
    page.click("#nav-runs").await;
    page.wait(
        "the runs view",
        "!document.getElementById('view-runs').hidden",
    )
    .await;
    page.click("#dispatch-box summary").await;
    page.wait(
        "the saved actions",
        "[...document.querySelectorAll('#dispatch-action option')].some(o => o.value === 'act_charge')",
    )
    .await;
    page.select("#dispatch-action", "act_charge").await;
    page.fill("#dispatch-workflow", "wf-web-1").await;
    page.shot("07-run-a-saved-action").await;
    page.click("#dispatch-submit").await;
    let run_id = page
        .wait(
            "the run page",
            "location.hash.startsWith('#/runs/run') && location.hash.slice(7)",
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();
    page.wait(
        "the live view",
        "!document.getElementById('run-live').hidden",
    )
    .await;
    page.wait(
        "the run to start",
        "document.getElementById('run-status').textContent === 'running'",
    )
    .await;
    page.shot("08-run-live").await;
    page.wait(
        "the run to end",
        "document.getElementById('run-status').textContent === 'succeeded' && \
         document.getElementById('run-live').hidden && \
         document.getElementById('run-result').textContent.includes('charged')",
    )
    .await;
    let result = page.text("#run-result").await;
    assert!(
        result.contains("[REDACTED:Stripe live]"),
        "the result shows the value redacted by name: {result}"
    );
    assert!(
        result.contains("\"charged\": true"),
        "pretty-printed: {result}"
    );
    assert_eq!(page.text("#run-secrets").await, "Stripe live");
    let facts = page.text("#run-facts").await;
    for expected in ["act_charge", "ada", "wf-web-1", "Duration"] {
        assert!(facts.contains(expected), "{expected:?} not in {facts}");
    }
    assert_eq!(
        hush.received.lock().unwrap().as_slice(),
        [format!("Bearer {VALUE}")],
        "the target got the value itself, once"
    );
    page.assert_no_value("on the run page").await;
    page.shot("09-run").await;
    // The live view read the run's events with the token in a header, not in the URL.
    let exchanges = snapshot(log);
    let events = exchanges
        .iter()
        .find(|e| e.uri == format!("/v1/runs/{run_id}/events"))
        .expect("the page followed the run's events");
    assert!(
        events
            .request_headers
            .iter()
            .any(|(n, v)| n == "authorization" && *v == format!("Bearer {token}"))
    );
    assert_eq!(
        events.response_header("content-type"),
        Some("text/event-stream")
    );
    let stream = String::from_utf8_lossy(&events.body);
    assert!(stream.contains("\"status\":\"running\""), "{stream}");
    assert!(stream.contains("\"status\":\"succeeded\""), "{stream}");

    // ---- the runs list, by status and workflow run ----
    // A second run, in another workflow run, that fails: nothing listens on port 9.
    let (status, failed) = api
        .json(
            Method::POST,
            "/v1/runs?wait=true",
            &token,
            &json!({"action": {"kind": "send_api_request", "method": "GET", "url": "http://127.0.0.1:9/nothing"},
                    "workflow_run_id": "wf-web-2"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{failed}");
    assert_eq!(failed["status"], "failed", "{failed}");
    page.click("a[href='#/runs']").await;
    let rows = "[...document.querySelectorAll('#runs-body tr')].map(r => r.dataset.id).join(',')";
    page.wait("two runs", &format!("{rows}.split(',').length === 2"))
        .await;
    page.select("#runs-status", "succeeded").await;
    page.wait(
        "the succeeded run",
        &format!("{rows} === {}", json!(run_id)),
    )
    .await;
    page.select("#runs-status", "").await;
    page.fill("#runs-workflow", "wf-web-2").await;
    page.click("#runs-filter button[type=submit]").await;
    page.wait(
        "the other workflow's run",
        &format!("{rows} === {}", json!(failed["id"])),
    )
    .await;
    assert_eq!(page.text("#runs-body .badge").await, "failed");
    page.click("#runs-clear").await;
    page.wait("both runs", &format!("{rows}.split(',').length === 2"))
        .await;
    page.shot("10-runs").await;

    // ---- rename ----
    page.click("#nav-secrets").await;
    page.wait("the keys", &format!("document.getElementById('key-{id}')"))
        .await;
    page.key_menu(&id, "rename").await;
    page.wait(
        "the rename dialog",
        "document.getElementById('rename-dialog').open",
    )
    .await;
    page.fill("#rename-name", "Stripe live (2024)").await;
    page.shot("11-rename").await;
    page.click("#rename-form button[type=submit]").await;
    page.wait(
        "the new name",
        &format!("document.querySelector('#key-{id} .name')?.textContent === 'Stripe live (2024)'"),
    )
    .await;

    // ---- a new value: the old one is never shown ----
    page.key_menu(&id, "value").await;
    page.wait(
        "the value dialog",
        "document.getElementById('value-dialog').open",
    )
    .await;
    assert_eq!(
        page.js("return document.getElementById('value-value').value")
            .await,
        json!(""),
        "the old value is not shown"
    );
    page.shot("12-edit-value").await;
    page.fill("#value-value", NEW_VALUE).await;
    page.click("#value-form button[type=submit]").await;
    page.wait(
        "version 2",
        &format!("document.querySelector('#key-{id} td[data-label=Version]')?.textContent === '2'"),
    )
    .await;
    assert_eq!(
        page.js("return document.getElementById('value-value').value")
            .await,
        json!("")
    );
    page.assert_no_value("after the value was changed").await;

    // ---- permissions ----
    page.key_menu(&id, "permissions").await;
    page.wait(
        "the permissions dialog",
        "document.getElementById('permissions-dialog').open && \
         document.querySelectorAll('#permissions-grant-list li').length === 2",
    )
    .await;
    page.select(
        "#permissions-grant-list select[aria-label='Permission for mia']",
        "use",
    )
    .await;
    page.wait(
        "people and groups",
        "document.querySelectorAll('#permissions-grant-who option').length >= 4",
    )
    .await;
    page.select("#permissions-grant-who", "user:max").await;
    page.click("#permissions-grant-add").await;
    page.shot("13-permissions").await;
    page.click("#permissions-form button[type=submit]").await;
    page.wait(
        "the new permissions",
        &format!(
            "!document.getElementById('permissions-dialog').open && \
             document.getElementById('key-{id}')?.textContent.includes('mia (Use)') && \
             document.getElementById('key-{id}')?.textContent.includes('max (Use)')"
        ),
    )
    .await;

    // ---- allowed hosts ----
    page.key_menu(&id, "hosts").await;
    page.wait(
        "the hosts dialog",
        "document.getElementById('hosts-dialog').open",
    )
    .await;
    assert_eq!(
        page.js("return document.getElementById('hosts-hosts').value")
            .await,
        json!("127.0.0.1")
    );
    page.fill("#hosts-hosts", "127.0.0.1\napi.stripe.com").await;
    page.shot("14-allowed-hosts").await;
    page.click("#hosts-form button[type=submit]").await;
    page.wait(
        "the new hosts",
        &format!("document.querySelector('#key-{id} td[data-label=\"Allowed hosts\"]')?.textContent === '127.0.0.1, api.stripe.com'"),
    )
    .await;
    let (_, meta) = api.get(&format!("/v1/secrets/{id}"), &token).await;
    assert_eq!(meta["name"], "Stripe live (2024)");
    assert_eq!(meta["version"], 2);
    assert_eq!(
        meta["allowed_hosts"],
        json!(["127.0.0.1", "api.stripe.com"])
    );

    // ---- components that may reveal the value ----
    page.key_menu(&id, "reveal").await;
    page.wait(
        "the reveal dialog",
        "document.getElementById('reveal-dialog').open",
    )
    .await;
    assert_eq!(
        page.js("return document.getElementById('reveal-components').value")
            .await,
        json!("")
    );
    let component = format!("sha256:{}", "0f".repeat(32));
    page.fill("#reveal-components", &component).await;
    page.shot("14b-reveal-components").await;
    page.click("#reveal-form button[type=submit]").await;
    page.wait(
        "the reveal dialog closed",
        "!document.getElementById('reveal-dialog').open",
    )
    .await;
    let (_, meta) = api.get(&format!("/v1/secrets/{id}"), &token).await;
    assert_eq!(meta["reveal_components"], json!([component]));

    // ---- delete: the references first, then with force ----
    page.key_menu(&id, "delete").await;
    page.wait(
        "the references",
        "document.getElementById('delete-dialog').open && \
         !document.getElementById('delete-references').hidden && \
         document.getElementById('delete-actions').textContent.includes('Charge customer')",
    )
    .await;
    let refs = page.text("#delete-actions").await;
    assert!(refs.contains("act_charge"), "{refs}");
    assert_eq!(page.text("#delete-confirm").await, "Delete anyway");
    page.shot("15-delete").await;
    page.click("#delete-confirm").await;
    page.wait(
        "the key to go",
        &format!(
            "!document.getElementById('delete-dialog').open && !document.getElementById('key-{id}')"
        ),
    )
    .await;
    let (status, _) = api.get(&format!("/v1/secrets/{id}"), &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    page.shot("16-deleted").await;
    page.assert_no_value("at the end").await;

    // ---- nothing went wrong in the page ----
    assert_eq!(page.js("return window.__violations").await, json!([]));
    let errors = page.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    // ---- sign out ----
    page.click("#sign-out").await;
    page.wait(
        "the sign-in form",
        "!document.getElementById('view-signin').hidden",
    )
    .await;
    assert_eq!(page.js("return sessionStorage.length").await, json!(0));

    // ---- what crossed the wire ----
    let exchanges = snapshot(log);
    assert!(
        exchanges.len() > 20,
        "only {} requests were recorded",
        exchanges.len()
    );
    for e in &exchanges {
        let place = format!("the answer to {} {}", e.method, e.uri);
        let headers: String = e
            .response_headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}\n"))
            .collect();
        assert_no_value_in(&format!("{place} (headers)"), headers.as_bytes(), VALUES);
        assert_no_value_in(&place, &e.body, VALUES);
        assert!(
            !e.uri.contains(&token) && !e.uri.contains("hush_"),
            "a URL holds the token: {}",
            e.uri
        );
        assert!(e.status < 500, "{place}: {}", e.status);
        if e.uri.starts_with("/v1/") {
            assert_eq!(
                e.response_header("x-content-type-options"),
                Some("nosniff"),
                "{place}"
            );
            let cache = e.response_header("cache-control").unwrap_or_default();
            assert!(
                cache.contains("no-store") || cache.contains("no-cache"),
                "{place}: {cache}"
            );
        }
    }
    let index = exchanges
        .iter()
        .find(|e| e.uri == "/")
        .expect("the page was loaded");
    let csp = index.response_header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(
        index.response_header("referrer-policy"),
        Some("no-referrer")
    );
    assert_eq!(
        index.response_header("x-content-type-options"),
        Some("nosniff")
    );
    assert_eq!(index.response_header("cache-control"), Some("no-store"));
    // The key was created by the page, through the proxy.
    assert!(
        exchanges
            .iter()
            .any(|e| e.method == "POST" && e.uri.starts_with("/v1/secrets") && e.status == 201),
        "the key was created through the proxy"
    );
}
