//! The web page of `hush serve`: secret keys, saved actions and run results for org members, as plain
//! HTML, CSS and JavaScript modules embedded in the binary (no build step, no Node at run
//! time). It owns only the static files under `assets/` and the headers they are served
//! with; every piece of data the page shows it reads from the `/v1` API with the bearer
//! token the person signed in with.
//!
//! It must never serve, template or embed a secret value, a token or any other data into
//! a page: the files are the same bytes for everyone, served with a strict
//! Content-Security-Policy (scripts and styles from this origin only, no inline script,
//! no framing, no form posts), `X-Content-Type-Options: nosniff`,
//! `Referrer-Policy: no-referrer` and `Cache-Control: no-store`.
//!
//! | route | answers |
//! | --- | --- |
//! | `GET /`, `GET /ui/` | the page (`index.html`) |
//! | `GET /ui/{file}` | one embedded asset (JavaScript module, stylesheet, icon) |

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The page's Content-Security-Policy: everything from this origin only, no inline script
/// or style, no plugins, no framing, no form submissions (the page sends its forms with
/// `fetch`, so a form that is submitted natively — a value in a URL — is refused), and
/// Trusted Types enforced so no string can reach an HTML sink.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; \
     manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
     object-src 'none'; require-trusted-types-for 'script'; trusted-types 'none'";

/// One embedded file: its name under `/ui/`, its media type and its bytes.
struct Asset {
    name: &'static str,
    media_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $media_type:expr) => {
        Asset {
            name: $name,
            media_type: $media_type,
            bytes: include_bytes!(concat!("assets/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the page is made of.
static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("secrets.js", JS),
    asset!("runs.js", JS),
    asset!("sse.js", JS),
    asset!("keys.js", JS),
    asset!("actions.js", JS),
];

/// The page's routes (no token needed: the files hold no data), for any router state:
/// the page reads nothing from it, so `web` imports nothing from the API it is served by.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/ui/", get(index))
        .route("/ui/{file}", get(file))
}

async fn index() -> Response {
    serve("index.html")
}

async fn file(Path(name): Path<String>) -> Response {
    serve(&name)
}

fn serve(name: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return with_page_headers(
            (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "no such file",
            )
                .into_response(),
        );
    };
    with_page_headers(([(header::CONTENT_TYPE, asset.media_type)], asset.bytes).into_response())
}

fn with_page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::CACHE_CONTROL, "no-store");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(
        headers,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        headers,
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), payment=()",
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_page_imports_is_embedded() {
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(asset.bytes).unwrap();
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let module = line
                    .rsplit_once("'./")
                    .map(|(_, rest)| rest.trim_end_matches("';"))
                    .unwrap_or_else(|| panic!("{}: import without './': {line}", asset.name));
                assert!(
                    ASSETS.iter().any(|a| a.name == module),
                    "{} imports {module}, which is not embedded",
                    asset.name
                );
            }
        }
    }

    #[test]
    fn the_page_has_no_inline_script_or_style_and_sets_no_html_from_strings() {
        let html = std::str::from_utf8(ASSETS[0].bytes).unwrap();
        assert!(!html.contains("<script>") && !html.contains(" style="));
        assert!(!html.contains("onclick") && !html.contains("<style"));
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(asset.bytes).unwrap();
            for sink in [
                "innerHTML",
                "outerHTML =",
                "insertAdjacentHTML",
                "eval(",
                "localStorage",
            ] {
                assert!(!text.contains(sink), "{} uses {sink}", asset.name);
            }
        }
    }
}
