//! The action kinds hush can run, one module each. A kind owns its spec, its rendering
//! and its execution; it never fetches secrets itself (the executor hands them in).

pub mod http;
