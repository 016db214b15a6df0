//! The Send API Request action kind: spec, templates, SSRF guard. It owns turning a spec,
//! inputs and resolved secrets into an HTTP request; it never fetches a secret (the
//! executor hands them in) and never logs a rendered request.
//!
//! - [`spec`]: the JSON spec ([`HttpAction`]) and its validation;
//! - [`template`]: [`references`] (before fetching), rendering, and [`echo`] for records;
//! - [`guard`]: [`NetworkPolicy`] and the filtering resolver;
//! - [`HttpSender`]: the shared client that renders, checks and sends, and reads the
//!   response into an [`HttpResult`].

pub mod guard;
mod send;
pub mod spec;
pub mod template;

pub use guard::NetworkPolicy;
pub use send::{HttpResult, HttpSender, MAX_REDIRECTS};
pub use spec::{Auth, Body, HttpAction, Method, NameValue};
pub use template::{echo, references};
