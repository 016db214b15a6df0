//! Example action `call-api`: calls an HTTP API authenticated with the secret bound as
//! `api`, attached as a bearer token by the host; the action never reveals it.

use hush_guest::{Ctx, Error, Method};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `url`, or `base_url` + `path`; an optional method (default GET) and JSON body.
#[derive(Deserialize)]
struct Input {
    url: Option<String>,
    base_url: Option<String>,
    path: Option<String>,
    #[serde(default)]
    method: Option<String>,
    body: Option<Value>,
}

#[derive(Serialize)]
struct Output {
    status: u16,
    ok: bool,
    /// The response body as JSON, or as a string when it is not JSON.
    body: Value,
    truncated: bool,
}

fn run(input: Input, ctx: &Ctx) -> Result<Output, Error> {
    let url = match (input.url, input.base_url, input.path) {
        (Some(url), _, _) => url,
        (None, Some(base), Some(path)) => {
            format!(
                "{}/{}",
                base.trim_end_matches('/'),
                path.trim_start_matches('/')
            )
        }
        _ => return Err(Error::bad_input("give `url`, or `base_url` and `path`")),
    };
    let method = match input
        .method
        .as_deref()
        .unwrap_or("GET")
        .to_ascii_uppercase()
        .as_str()
    {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        other => return Err(Error::bad_input(format!("unsupported method `{other}`"))),
    };

    let api = ctx.secret("api")?;
    let mut request = ctx
        .http()
        .request(method, &url)
        .bearer(&api)
        .header("Accept", "application/json");
    if let Some(body) = &input.body {
        request = request.json(body)?;
    }
    let resp = request.send()?;
    ctx.log()
        .info(&format!("{method:?} {url} -> {}", resp.status()));

    let body = resp
        .json::<Value>()
        .unwrap_or_else(|_| Value::String(resp.text()));
    Ok(Output {
        status: resp.status(),
        ok: resp.is_success(),
        body,
        truncated: resp.truncated(),
    })
}

hush_guest::export!(run);
