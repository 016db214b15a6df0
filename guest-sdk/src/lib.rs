//! The SDK for writing hush **Run Code** actions in Rust: it owns the guest side of
//! `wit/hush.wit` and must never copy a secret's plaintext into guest memory unless the
//! action calls [`Secret::reveal`].
//!
//! An action is a function from a JSON input to a JSON output, compiled to a WebAssembly
//! component and run by hush in a wasmtime sandbox. The sandbox gives it no filesystem,
//! no environment and no sockets; what it can do goes through [`Ctx`]:
//!
//! - [`Ctx::secret`] gives a [`Secret`]: an opaque handle to a secret bound to the action
//!   by its spec. Attach it to an HTTP request with [`Request::bearer`],
//!   [`Request::header_secret`], [`Request::query_secret`] or [`Request::basic_auth`]:
//!   the host inserts the value, which never enters the guest. [`Secret::hmac_sha256`] and
//!   [`Secret::hmac_sha512`] sign with it, in the host. [`Secret::reveal`] returns the
//!   plaintext only when the binding says `"reveal": true` and the secret's managers
//!   approved the component to reveal it.
//! - [`Ctx::http`] gives [`Http`], whose requests the host makes for the action (allowed
//!   hosts, network policy and call caps enforced) and answers with a [`Response`].
//! - [`Ctx::log`] gives [`Log`], whose lines go to the run's (redacted) logs.
//!
//! Failures are one type, [`Error`] (a code and a message); [`export!`] turns a plain
//! function into the component's `run` export, parsing its input (a bad one fails with
//! code `bad_input`) and serializing its output.
//!
//! # Example
//!
//! ```no_run
//! use hush_guest::{Ctx, Error};
//!
//! #[derive(serde::Deserialize)]
//! struct Input {
//!     amount: u64,
//! }
//!
//! #[derive(serde::Serialize)]
//! struct Output {
//!     id: String,
//! }
//!
//! fn run(input: Input, ctx: &Ctx) -> Result<Output, Error> {
//!     let stripe = ctx.secret("stripe")?;
//!     let resp = ctx
//!         .http()
//!         .post("https://api.stripe.com/v1/charges")
//!         .bearer(&stripe)
//!         .json(&serde_json::json!({ "amount": input.amount }))?
//!         .send()?;
//!     ctx.log().info(&format!("status {}", resp.status()));
//!     let body: serde_json::Value = resp.json()?;
//!     Ok(Output { id: body["id"].as_str().unwrap_or_default().into() })
//! }
//!
//! hush_guest::export!(run);
//! # fn main() {}
//! ```
//!
//! The action's crate is a `cdylib` depending on `hush-guest`, `serde` and `serde_json`;
//! one command builds it to a component:
//!
//! ```text
//! cargo build --release --target wasm32-wasip2 -p my-action
//! # -> target/wasm32-wasip2/release/my_action.wasm
//! ```

#![deny(missing_docs)]

mod error;
mod http;
mod log;

pub use error::Error;
pub use http::{Http, Method, Request, Response};
pub use log::Log;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The bindings generated from `wit/hush.wit`, for [`export!`] only: not a stable API.
#[doc(hidden)]
#[allow(missing_docs)]
pub mod __bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "hush:action/action",
        pub_export_macro: true,
        export_macro_name: "__export_action",
        default_bindings_module: "::hush_guest::__bindings",
    });
}
pub(crate) use __bindings as bindings;

use bindings::hush::action::secrets as host_secrets;

/// What an action can reach: its secrets, HTTP through the host, and the run's logs.
/// [`export!`] hands one to the action function.
#[derive(Debug)]
pub struct Ctx {
    _private: (),
}

impl Ctx {
    /// The secret bound to the action under `binding` (the name in the spec's
    /// `"secrets"`, e.g. `stripe`).
    ///
    /// # Errors
    ///
    /// An `unbound_secret` error naming `binding` when nothing is bound under it.
    pub fn secret(&self, binding: &str) -> Result<Secret, Error> {
        host_secrets::get(binding)
            .map(|inner| Secret { inner })
            .map_err(|message| Error::new("unbound_secret", message))
    }

    /// The binding names of every secret bound to the action.
    pub fn bindings(&self) -> Vec<String> {
        host_secrets::bindings()
    }

    /// Makes HTTP requests through the host.
    pub fn http(&self) -> Http {
        Http::new()
    }

    /// Writes to the run's logs.
    pub fn log(&self) -> Log {
        Log::new()
    }
}

/// A secret bound to the action: an opaque handle whose plaintext stays in the host.
///
/// Attach it to a request ([`Request::bearer`] and friends) to use it without seeing it.
/// Its `Debug` output shows only the binding name.
pub struct Secret {
    pub(crate) inner: host_secrets::Secret,
}

impl Secret {
    /// The binding name this secret was bound under (e.g. `stripe`).
    pub fn binding(&self) -> String {
        self.inner.binding()
    }

    /// The plaintext value.
    ///
    /// Only for bindings with `"reveal": true` in the action's spec, in a component the
    /// secret's managers approved (`hush secret set-reveal-components`); most actions
    /// never need it: attach the secret to a request, or sign with [`Secret::hmac_sha256`].
    /// A revealed value is still redacted from the run's output, logs and errors, but
    /// only in the encodings the host knows; and once a value is revealed, every HTTP
    /// call of the run is held to that secret's allowed hosts.
    ///
    /// # Errors
    ///
    /// A `reveal_denied` error when the binding does not allow revealing.
    pub fn reveal(&self) -> Result<String, Error> {
        self.inner
            .reveal()
            .map_err(|message| Error::new("reveal_denied", message))
    }

    /// HMAC-SHA256 of `data`, keyed with the secret's value, computed by the host: the
    /// value never enters the guest, and no reveal is needed.
    pub fn hmac_sha256(&self, data: &[u8]) -> [u8; 32] {
        self.inner
            .hmac_sha256(data)
            .try_into()
            .expect("the host returns 32 bytes of HMAC-SHA256")
    }

    /// HMAC-SHA512 of `data`, keyed with the secret's value, computed by the host.
    pub fn hmac_sha512(&self, data: &[u8]) -> [u8; 64] {
        self.inner
            .hmac_sha512(data)
            .try_into()
            .expect("the host returns 64 bytes of HMAC-SHA512")
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("binding", &self.binding())
            .finish_non_exhaustive()
    }
}

/// Runs `action` on the JSON `input`: the glue behind [`export!`].
#[doc(hidden)]
pub fn __run<I, O, F>(input: String, action: F) -> Result<String, bindings::ActionError>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(I, &Ctx) -> Result<O, Error>,
{
    let input: I = serde_json::from_str(&input).map_err(|e| Error::bad_input(e.to_string()))?;
    let output = action(input, &Ctx { _private: () })?;
    Ok(serde_json::to_string(&output).map_err(|e| Error::new("bad_output", e.to_string()))?)
}

/// Makes `$run` the component's `run` export.
///
/// `$run` is a function `fn(I, &Ctx) -> Result<O, Error>` where `I: serde::Deserialize`
/// (use `serde_json::Value` to take any JSON) and `O: serde::Serialize`. Use it once, at
/// the crate root of a `cdylib`:
///
/// ```no_run
/// fn run(input: serde_json::Value, _ctx: &hush_guest::Ctx) -> Result<serde_json::Value, hush_guest::Error> {
///     Ok(input)
/// }
/// hush_guest::export!(run);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export {
    ($run:path) => {
        #[doc(hidden)]
        struct __HushAction;

        impl $crate::__bindings::Guest for __HushAction {
            fn run(
                input: ::std::string::String,
            ) -> ::std::result::Result<::std::string::String, $crate::__bindings::ActionError>
            {
                $crate::__run(input, $run)
            }
        }

        $crate::__bindings::__export_action!(__HushAction with_types_in $crate::__bindings);
    };
}
