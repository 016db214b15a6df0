//! The Send API Request action kind: spec, templates, sending. It owns turning a spec,
//! inputs and resolved secrets into an HTTP request; it never fetches a secret (the
//! executor hands them in) and never logs a rendered request.
//!
//! - `spec`: the JSON spec ([`HttpAction`]) and its validation;
//! - `template`: [`references`] (before fetching), rendering, and [`echo`] for records;
//! - [`HttpSender`]: the shared client that renders, checks and sends, and reads the
//!   response into an [`HttpResult`].
//!
//! ```
//! use hush::actions::http::{HttpAction, echo, references};
//! use hush::model::SecretId;
//!
//! let spec = HttpAction::from_json(r#"{"kind": "send_api_request", "method": "GET",
//!     "url": "https://api.example.com/v1/me",
//!     "headers": [{"name": "Authorization",
//!                  "value": "Bearer {{secret \"sec_aaaaaaaaaaaaaaaaaaaaaaaaaa\"}}"}]}"#)?;
//! // Which secrets to fetch, known before any is fetched:
//! let ids = references(&spec)?;
//! assert_eq!(ids, [SecretId::parse("sec_aaaaaaaaaaaaaaaaaaaaaaaaaa")?]);
//! // What a run record shows: the secret by name, never its value.
//! let shown = echo(&spec, &[(ids[0].clone(), "Stripe live".into())]);
//! assert_eq!(shown["headers"][0]["value"], r#"Bearer {{secret "Stripe live"}}"#);
//! # Ok::<(), hush::Error>(())
//! ```

mod outgoing;
mod send;
pub(crate) mod spec;
pub(crate) mod template;

pub use crate::net::NetworkPolicy;
pub use outgoing::{Outgoing, RawResponse};
pub use send::{HttpResult, HttpSender, MAX_REDIRECTS};
pub use spec::{Auth, Body, HttpAction, Method, NameValue};
pub use template::{Templates, echo, references};
