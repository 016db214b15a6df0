//! Templates of a Send API Request: parsing, secret references, rendering with escaping
//! chosen by where the value lands, and the echo shown in run records. It never fetches
//! a secret, and the echo never holds a value (it names secrets by name).
//!
//! The language is a small, strict subset of handlebars: literal text, comments,
//! `{{inputs.…}}` (a path into the run's inputs; unknown paths are errors) and
//! `{{secret "sec_…"}}`. Blocks, partials, other helpers and `{{{…}}}` (which would skip
//! escaping) are refused when the spec is validated, before any secret is fetched.

use std::sync::Arc;

use handlebars::template::{Parameter, TemplateElement};
use handlebars::{PathSeg, Template};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::spec::{Auth, Body, HttpAction};
use crate::error::{Error, Result};
use crate::model::SecretId;

/// Every byte but the unreserved ones (`A-Z a-z 0-9 - . _ ~`) is percent-encoded.
const URL_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How a value inserted by an expression is escaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escape {
    /// Inserted as is (headers, query values and form fields, which are encoded whole
    /// afterwards; JSON leaves, which become `serde_json` strings).
    None,
    /// Percent-encoded as a URL component, so a value cannot add path segments, query
    /// parameters or change the host.
    UrlComponent,
}

/// A parsed template: its source and the secrets it refers to, in order of appearance.
struct Parsed {
    template: Template,
    secrets: Vec<SecretId>,
}

/// Parsed templates by source and run-record echoes by spec and names, kept by whoever
/// runs actions again and again (the executor's [`super::HttpSender`] holds one), so an
/// action is compiled and echoed once. A template's source never holds a value (secrets
/// are referenced by id) and an echo names secrets by name, so it holds no secret. Each
/// map is cleared when it grows past its limit, and a template's source longer than
/// [`KEPT_SOURCE_LIMIT`] is parsed each time. The free function [`references`] (every
/// spec's validation) shares one process-wide instance; [`echo`] keeps nothing.
#[derive(Default)]
pub struct Templates {
    parsed: std::sync::Mutex<std::collections::HashMap<String, Arc<Parsed>>>,
    echoes: std::sync::Mutex<std::collections::HashMap<u64, Vec<Echoed>>>,
    keys: std::hash::RandomState,
    /// False for a throwaway (uncached) instance.
    keep: bool,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parsed = self.parsed.lock().map_or(0, |m| m.len());
        let echoes = self.echoes.lock().map_or(0, |m| m.len());
        f.debug_struct("Templates")
            .field("parsed", &parsed)
            .field("echoes", &echoes)
            .finish_non_exhaustive()
    }
}

/// The most parsed templates kept at once.
const PARSED_CACHE_LIMIT: usize = 4096;
/// The longest template source kept parsed (bytes): with [`PARSED_CACHE_LIMIT`], a bound
/// on what a dispatcher's specs can make a process hold.
const KEPT_SOURCE_LIMIT: usize = 1024;

/// The parsed templates every spec's validation shares ([`references`]).
static SHARED: std::sync::LazyLock<Templates> = std::sync::LazyLock::new(Templates::new);

impl Templates {
    /// An empty cache.
    pub fn new() -> Self {
        Templates {
            keep: true,
            ..Templates::default()
        }
    }

    /// Parses `source` (from the cache when it was parsed before); errors name `field`.
    fn parse(&self, field: &str, source: &str) -> Result<Arc<Parsed>> {
        if !self.keep || source.len() > KEPT_SOURCE_LIMIT {
            return compile(field, source).map(Arc::new);
        }
        let cache = || self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(parsed) = cache().get(source) {
            return Ok(Arc::clone(parsed));
        }
        let parsed = Arc::new(compile(field, source)?);
        let mut cached = cache();
        if cached.len() >= PARSED_CACHE_LIMIT {
            cached.clear();
        }
        cached.insert(source.to_owned(), Arc::clone(&parsed));
        Ok(parsed)
    }
}

fn compile(field: &str, source: &str) -> Result<Parsed> {
    let template = Template::compile(source).map_err(|e| {
        let at = e
            .pos()
            .map(|(line, col)| format!(" at line {line}, column {col}"))
            .unwrap_or_default();
        Error::invalid(
            field,
            format!("template does not parse{at}: {}", e.reason()),
        )
    })?;
    let mut secrets = Vec::new();
    for element in &template.elements {
        match element {
            TemplateElement::RawString(_) | TemplateElement::Comment(_) => {}
            TemplateElement::Expression(h) => {
                let name = h.name.as_name().unwrap_or("");
                if name == "secret" {
                    let id = match (h.params.as_slice(), h.hash.is_empty()) {
                        ([Parameter::Literal(Value::String(id))], true) => id,
                        _ => {
                            return Err(Error::invalid(
                                field,
                                "write a secret as {{secret \"sec_…\"}} with one quoted id",
                            ));
                        }
                    };
                    let id = SecretId::parse_field(field, id)?;
                    if !secrets.contains(&id) {
                        secrets.push(id);
                    }
                } else if !h.params.is_empty() || !h.hash.is_empty() {
                    return Err(Error::invalid(
                        field,
                        format!("unknown helper `{name}`; only `secret` exists"),
                    ));
                } else if !(name == "inputs"
                    || name.starts_with("inputs.")
                    || name.starts_with("inputs/")
                    || name.starts_with("inputs.["))
                    || !matches!(h.name, Parameter::Path(_) | Parameter::Name(_))
                {
                    return Err(Error::invalid(
                        field,
                        format!(
                            "unknown variable `{name}`; a template can use `inputs.…` and \
                             {{{{secret \"sec_…\"}}}}"
                        ),
                    ));
                }
            }
            TemplateElement::HtmlExpression(_) => {
                return Err(Error::invalid(
                    field,
                    "`{{{…}}}` is not supported (values are always escaped for where they land); use `{{…}}`",
                ));
            }
            TemplateElement::HelperBlock(_) => {
                return Err(Error::invalid(
                    field,
                    "block helpers `{{#…}}` are not supported",
                ));
            }
            _ => {
                return Err(Error::invalid(
                    field,
                    "partials and decorators are not supported",
                ));
            }
        }
    }
    Ok(Parsed { template, secrets })
}

/// Calls `f(field, template)` for every template of `spec`, in a fixed order.
fn for_each_template(spec: &HttpAction, f: &mut dyn FnMut(&str, &str) -> Result<()>) -> Result<()> {
    f("url", &spec.url)?;
    for (i, h) in spec.headers.iter().enumerate() {
        f(&format!("headers[{i}].value"), &h.value)?;
    }
    for (i, q) in spec.query.iter().enumerate() {
        f(&format!("query[{i}].value"), &q.value)?;
    }
    match &spec.auth {
        Some(Auth::Basic { username, password }) => {
            f("auth.username", username)?;
            f("auth.password", password)?;
        }
        Some(Auth::Bearer { token }) => f("auth.token", token)?,
        None => {}
    }
    match &spec.body {
        Some(Body::Json { value }) => json_leaves("body.value", value, f)?,
        Some(Body::Form { fields }) => {
            for (i, p) in fields.iter().enumerate() {
                f(&format!("body.fields[{i}].value"), &p.value)?;
            }
        }
        Some(Body::Raw { value, .. }) => f("body.value", value)?,
        None => {}
    }
    Ok(())
}

fn json_leaves(
    field: &str,
    value: &Value,
    f: &mut dyn FnMut(&str, &str) -> Result<()>,
) -> Result<()> {
    match value {
        Value::String(s) => f(field, s),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| json_leaves(&format!("{field}[{i}]"), v, f)),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, v)| json_leaves(&format!("{field}.{k}"), v, f)),
        _ => Ok(()),
    }
}

impl HttpAction {
    /// Parses and validates a spec from JSON.
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) naming the field that is wrong.
    pub fn from_json(text: &str) -> Result<Self> {
        Self::parse(text)
    }

    pub(crate) fn parse(json: impl crate::actions::SpecJson) -> Result<Self> {
        let spec: HttpAction = json.spec()?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks bounds, names and every template (syntax and secret ids).
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) naming the exact field, e.g.
    /// `headers[1].name` or `body.value.amount`.
    pub fn validate(&self) -> Result<()> {
        references(self).map(|_| ())
    }
}

/// Validates `spec` and every template in it, and lists the secrets it refers to (each
/// once, in order of appearance). Call it before fetching any secret.
///
/// # Errors
/// [`Invalid`](crate::error::ErrorKind::Invalid) naming the field whose template does
/// not parse, uses an unsupported construct, or holds a malformed secret id.
pub fn references(spec: &HttpAction) -> Result<Vec<SecretId>> {
    SHARED.references(spec)
}

/// The process-wide parsed templates that every spec's validation shares.
pub(crate) fn shared() -> &'static Templates {
    &SHARED
}

impl Templates {
    /// [`references`], parsing each template once per cache.
    ///
    /// # Errors
    /// As [`references`].
    pub fn references(&self, spec: &HttpAction) -> Result<Vec<SecretId>> {
        spec.validate_shape()?;
        let mut all: Vec<SecretId> = Vec::new();
        for_each_template(spec, &mut |field, source| {
            let parsed = self.parse(field, source)?;
            if field == "url" {
                check_url_authority(&parsed)?;
            }
            for id in &parsed.secrets {
                if !all.contains(id) {
                    all.push(id.clone());
                }
            }
            Ok(())
        })?;
        Ok(all)
    }
}

/// Refuses a URL template that puts a secret in the URL's scheme, host or port (its
/// userinfo may hold one: it becomes the `Authorization` header). A URL parser
/// lower-cases and IDNA-encodes a host, resolvers look it up in plain text and libraries
/// print it in errors and debug lines, so a value there would leave hush in forms its
/// redaction of the value as written does not all cover.
fn check_url_authority(parsed: &Parsed) -> Result<()> {
    if parsed.secrets.is_empty() {
        return Ok(());
    }
    // The template's text with one placeholder character per expression: an input is
    // percent-encoded when rendered, so it cannot end the authority or add an `@`.
    let mut text = String::new();
    let mut secrets_at = Vec::new();
    for element in &parsed.template.elements {
        match element {
            TemplateElement::RawString(raw) => text.push_str(raw),
            TemplateElement::Comment(_) => {}
            TemplateElement::Expression(h) if h.name.as_name() == Some("secret") => {
                secrets_at.push(text.len());
                text.push('\u{1}');
            }
            _ => text.push('\u{2}'),
        }
    }
    let start = text.find("://").map_or(0, |i| i + 3);
    let end = text[start..]
        .find(['/', '?', '#', '\\'])
        .map_or(text.len(), |i| start + i);
    // The last `@` of the authority ends the userinfo (as URL parsers read it).
    let host_start = text[start..end].rfind('@').map_or(start, |i| start + i + 1);
    if secrets_at
        .iter()
        .any(|&at| at < start || (host_start..end).contains(&at))
    {
        return Err(Error::invalid(
            "url",
            "a secret cannot be part of the URL's scheme, host or port (a host is \
             lower-cased, IDNA-encoded, looked up in DNS and shown in errors); put it in the \
             path, the query, a header or the body",
        ));
    }
    Ok(())
}

/// The spec as JSON with every `{{secret "sec_…"}}` written with the secret's name
/// instead (`{{secret "Stripe live"}}`), for the run record. It holds no value: it is
/// built from the spec's templates, never from rendered output.
///
/// An action runs again and again with the same secrets, so echoes are kept by the spec
/// and the names (a rename is another key); like the parsed templates they hold no value.
pub fn echo(spec: &HttpAction, names: &[(SecretId, String)]) -> Value {
    Arc::unwrap_or_clone(Templates::default().echo(spec, names))
}

impl Templates {
    /// [`echo`], kept by spec and names (a rename is another key), and shared: a run's
    /// record holds the kept echo itself, not a copy.
    pub fn echo(&self, spec: &HttpAction, names: &[(SecretId, String)]) -> Arc<Value> {
        if !self.keep {
            let mut value = serde_json::to_value(spec).unwrap_or(Value::Null);
            rename_secrets(&mut value, names);
            return Arc::new(value);
        }
        let key = echo_key(&self.keys, spec, names);
        let cache = || self.echoes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bucket) = cache().get(&key)
            && let Some((_, _, value)) = bucket
                .iter()
                .find(|(s, n, _)| s == spec && n.as_slice() == names)
        {
            return Arc::clone(value);
        }
        let mut value = serde_json::to_value(spec).unwrap_or(Value::Null);
        rename_secrets(&mut value, names);
        let value = Arc::new(value);
        let mut cached = cache();
        if cached.len() >= ECHO_CACHE_LIMIT {
            cached.clear();
        }
        cached
            .entry(key)
            .or_default()
            .push((spec.clone(), names.to_vec(), Arc::clone(&value)));
        value
    }
}

/// A spec, the names its secrets had, and its echo.
type Echoed = (HttpAction, Vec<(SecretId, String)>, Arc<Value>);

/// The most echo keys kept at once.
const ECHO_CACHE_LIMIT: usize = 1024;

/// A hash of the parts of a spec that tell actions apart, and of the names. It need not
/// cover every field: a hit is confirmed by comparing the whole spec and the names.
fn echo_key(keys: &std::hash::RandomState, spec: &HttpAction, names: &[(SecretId, String)]) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = keys.build_hasher();
    spec.name.hash(&mut h);
    spec.url.hash(&mut h);
    for pair in spec.headers.iter().chain(&spec.query) {
        (&pair.name, &pair.value).hash(&mut h);
    }
    names.hash(&mut h);
    h.finish()
}

fn rename_secrets(value: &mut Value, names: &[(SecretId, String)]) {
    match value {
        Value::String(s) => {
            for (id, name) in names {
                if s.contains(id.as_str()) {
                    *s = s
                        .replace(&format!("\"{id}\""), &format!("{name:?}"))
                        .replace(id.as_str(), name);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_secrets(v, names)),
        Value::Object(map) => map.values_mut().for_each(|v| rename_secrets(v, names)),
        _ => {}
    }
}

/// A rendered template and the secrets it placed.
#[derive(Debug)]
pub struct Rendered<T> {
    /// The output.
    pub value: T,
    /// The secrets whose values the output carries.
    pub secrets: Vec<SecretId>,
}

/// Renders templates over one run's inputs and resolved secret values. It walks the
/// template that [`Template::compile`] parsed (the subset [`references`] accepts: text,
/// comments, `{{inputs.…}}` and `{{secret "…"}}`), so a run builds no handlebars
/// registry and compiles each template once.
pub struct Renderer<'a> {
    templates: &'a Templates,
    inputs: &'a Value,
    secrets: &'a [(SecretId, &'a str)],
}

impl<'a> Renderer<'a> {
    /// A renderer over `inputs` (the run's inputs JSON, seen as `inputs` in templates)
    /// and the resolved secrets as `(id, value)` pairs, parsing through `templates`.
    pub fn new(
        templates: &'a Templates,
        inputs: &'a Value,
        secrets: &'a [(SecretId, &'a str)],
    ) -> Self {
        Renderer {
            templates,
            inputs,
            secrets,
        }
    }

    /// Renders one template, escaping every inserted value with `escape`. Strict: an
    /// input that does not exist is an error, never an empty string.
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) naming `field` when the template is
    /// not valid or refers to an input that does not exist.
    pub fn render(&self, field: &str, source: &str, escape: Escape) -> Result<Rendered<String>> {
        let parsed = self.templates.parse(field, source)?;
        self.check_scalars(field, &parsed)?;
        let mut text = String::with_capacity(source.len());
        let push = |text: &mut String, inserted: &str| match escape {
            Escape::None => text.push_str(inserted),
            Escape::UrlComponent => text.extend(utf8_percent_encode(inserted, URL_COMPONENT)),
        };
        for element in &parsed.template.elements {
            match element {
                TemplateElement::RawString(raw) => text.push_str(raw),
                TemplateElement::Comment(_) => {}
                TemplateElement::Expression(h) if h.name.as_name() == Some("secret") => {
                    let Some(Parameter::Literal(Value::String(id))) = h.params.first() else {
                        return Err(Error::invalid(field, "a secret needs one quoted id"));
                    };
                    let value = self
                        .secrets
                        .iter()
                        .find(|(s, _)| s.as_str() == id)
                        .map(|(_, v)| *v)
                        .ok_or_else(|| {
                            Error::invalid(field, format!("secret {id} was not resolved"))
                        })?;
                    push(&mut text, value);
                }
                TemplateElement::Expression(h) => {
                    let raw = h.name.as_name().unwrap_or("inputs");
                    let value = self.lookup(field, &h.name)?.ok_or_else(|| {
                        Error::invalid(
                            field,
                            format!("`{raw}` is not a plain path into the run's inputs"),
                        )
                    })?;
                    match value {
                        Value::String(s) => push(&mut text, s),
                        Value::Null => {}
                        other => push(&mut text, &other.to_string()),
                    }
                }
                // `parse` refuses every other element.
                _ => return Err(Error::invalid(field, "unsupported template construct")),
            }
        }
        Ok(Rendered {
            value: text,
            secrets: parsed.secrets.clone(),
        })
    }

    /// Renders a header value: like [`Self::render`], refusing CR, LF and NUL.
    ///
    /// # Errors
    /// As [`Self::render`], and when the output holds CR, LF or NUL.
    pub fn render_header(&self, field: &str, source: &str) -> Result<Rendered<String>> {
        let out = self.render(field, source, Escape::None)?;
        if out
            .value
            .bytes()
            .any(|b| matches!(b, b'\r' | b'\n' | b'\0'))
        {
            return Err(Error::invalid(
                field,
                "the rendered value holds a line break or NUL, which a header cannot carry",
            ));
        }
        Ok(out)
    }

    /// Renders a JSON body: every string leaf separately, into a new JSON value, so an
    /// inserted value can never change the document's structure. A leaf that is exactly
    /// one `{{inputs.…}}` expression takes the input's JSON value with its type.
    ///
    /// # Errors
    /// As [`Self::render`], naming the leaf (e.g. `body.value.amount`).
    pub fn render_json(&self, field: &str, value: &Value) -> Result<Rendered<Value>> {
        let mut secrets = Vec::new();
        let value = self.json_leaf(field, value, &mut secrets)?;
        Ok(Rendered { value, secrets })
    }

    fn json_leaf(&self, field: &str, value: &Value, secrets: &mut Vec<SecretId>) -> Result<Value> {
        Ok(match value {
            Value::String(s) => {
                if let Some(v) = self.whole_input(field, s)? {
                    return Ok(v);
                }
                let out = self.render(field, s, Escape::None)?;
                for id in out.secrets {
                    if !secrets.contains(&id) {
                        secrets.push(id);
                    }
                }
                Value::String(out.value)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.json_leaf(&format!("{field}[{i}]"), v, secrets))
                    .collect::<Result<_>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        Ok((
                            k.clone(),
                            self.json_leaf(&format!("{field}.{k}"), v, secrets)?,
                        ))
                    })
                    .collect::<Result<_>>()?,
            ),
            other => other.clone(),
        })
    }

    /// The input a template names when it is exactly one `{{inputs.…}}` expression.
    fn whole_input(&self, field: &str, source: &str) -> Result<Option<Value>> {
        let parsed = self.templates.parse(field, source)?;
        let [TemplateElement::Expression(h)] = parsed.template.elements.as_slice() else {
            return Ok(None);
        };
        self.lookup(field, &h.name).map(|v| v.cloned())
    }

    /// The input an `{{inputs.…}}` expression names, when its path is plain names.
    fn lookup(&self, field: &str, name: &Parameter) -> Result<Option<&'a Value>> {
        let Parameter::Path(handlebars::Path::Relative((segs, raw))) = name else {
            return Ok(None);
        };
        let mut names = Vec::with_capacity(segs.len());
        for seg in segs {
            match seg {
                PathSeg::Named(n) => names.push(n.as_str()),
                _ => return Ok(None),
            }
        }
        if names.first() != Some(&"inputs") {
            return Ok(None);
        }
        let mut at = self.inputs;
        for name in &names[1..] {
            let next = match at {
                Value::Object(map) => map.get(*name),
                Value::Array(items) => name.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            at = next.ok_or_else(|| missing(field, raw))?;
        }
        Ok(Some(at))
    }

    /// Refuses an object or array inserted into text (handlebars would write `[object]`).
    fn check_scalars(&self, field: &str, parsed: &Parsed) -> Result<()> {
        for element in &parsed.template.elements {
            if let TemplateElement::Expression(h) = element
                && let Some(value @ (Value::Object(_) | Value::Array(_))) =
                    self.lookup(field, &h.name)?
            {
                let what = if value.is_object() {
                    "an object"
                } else {
                    "an array"
                };
                return Err(Error::invalid(
                    field,
                    format!(
                        "`{}` is {what}; only strings, numbers, booleans and null can be \
                         inserted into text (a JSON body leaf that is only this expression \
                         takes the value whole)",
                        h.name.as_name().unwrap_or("inputs")
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn missing(field: &str, path: &str) -> Error {
    Error::invalid(field, format!("`{path}` is not in the run's inputs"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::http::spec::HttpAction;

    const A: &str = "sec_aaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sec_bbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn id(s: &str) -> SecretId {
        SecretId::parse(s).unwrap()
    }

    fn spec(json: &str) -> HttpAction {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn references_list_each_secret_once_in_order() {
        let s = spec(&format!(
            r#"{{"kind":"send_api_request","method":"POST","url":"https://x.example/{{{{secret \"{B}\"}}}}",
            "headers":[{{"name":"A","value":"Bearer {{{{secret \"{A}\"}}}}"}}],
            "body":{{"type":"json","value":{{"k":["{{{{secret \"{B}\"}}}}"]}}}}}}"#
        ));
        assert_eq!(references(&s).unwrap(), vec![id(B), id(A)]);
    }

    #[test]
    fn a_secret_in_the_url_host_or_port_is_refused_elsewhere_accepted() {
        let url_spec = |url: &str| {
            spec(&format!(
                r#"{{"kind":"send_api_request","method":"GET","url":{}}}"#,
                serde_json::to_string(url).unwrap()
            ))
        };
        let s = format!(r#"{{{{secret "{A}"}}}}"#);
        for url in [
            format!("https://{s}/x"),
            format!("https://{s}.example.com/x"),
            format!("https://api-{s}.example.com"),
            format!("https://api.example.com:{s}/x"),
            format!("https://u:p@{s}.example.com/x"),
            format!("https://{{{{inputs.sub}}}}{s}?q=1"),
            format!("http://x.example{s}#frag"),
        ] {
            let err = references(&url_spec(&url)).unwrap_err();
            assert!(err.message().starts_with("invalid url"), "{url}: {err:?}");
            assert!(
                err.message().contains("scheme, host or port"),
                "{url}: {err:?}"
            );
        }
        for url in [
            format!("https://api.example.com/{s}"),
            format!("https://api.example.com/v1?key={s}"),
            format!("https://api.example.com#{s}"),
            format!("https://api.example.com\\v1-{s}"),
            format!("https://user:{s}@api.example.com/x"),
            format!("https://{s}:{s}@api.example.com/x"),
            format!("https://{{{{inputs.host}}}}/x/{s}"),
        ] {
            assert_eq!(references(&url_spec(&url)).unwrap(), vec![id(A)], "{url}");
        }
    }

    #[test]
    fn invalid_templates_are_refused_naming_the_field() {
        let cases = [
            ("{{inputs.a", "does not parse"),
            ("{{{inputs.a}}}", "`{{{…}}}` is not supported"),
            ("{{#if inputs.a}}x{{/if}}", "block helpers"),
            ("{{> part}}", "partials"),
            ("{{lookup inputs 'a'}}", "unknown helper"),
            ("{{log inputs.a}}", "unknown helper"),
            ("{{other}}", "unknown variable"),
            ("{{secret}}", "one quoted id"),
            ("{{secret inputs.id}}", "one quoted id"),
            (r#"{{secret "sec_short"}}"#, "not a valid secret id"),
            (r#"{{secret "Stripe live"}}"#, "not a valid secret id"),
        ];
        for (source, want) in cases {
            let err = match Templates::new().parse("headers[0].value", source) {
                Ok(_) => panic!("{source:?} accepted"),
                Err(e) => e,
            };
            assert!(
                err.message().starts_with("invalid headers[0].value"),
                "{err:?}"
            );
            assert!(err.message().contains(want), "{source:?}: {err:?}");
        }
    }

    #[test]
    fn parsed_templates_are_kept_only_up_to_the_source_limit() {
        let templates = Templates::new();
        let kept = |t: &Templates| t.parsed.lock().unwrap().len();
        let short = "Bearer {{inputs.token}}";
        templates.parse("headers[0].value", short).unwrap();
        templates.parse("headers[0].value", short).unwrap();
        assert_eq!(kept(&templates), 1, "a short source is kept once");
        let long = format!("{}{{{{inputs.a}}}}", "x".repeat(KEPT_SOURCE_LIMIT));
        let parsed = templates.parse("body.value", &long).unwrap();
        assert!(parsed.secrets.is_empty());
        assert_eq!(
            kept(&templates),
            1,
            "a source over the limit is parsed, not kept"
        );
        // A source that does not parse is refused each time, never kept.
        for _ in 0..2 {
            assert!(templates.parse("url", "{{#if x}}").is_err());
        }
        assert_eq!(kept(&templates), 1);
    }

    #[test]
    fn rendering_escapes_for_where_the_value_lands() {
        let inputs = serde_json::json!({"q": "a b&c=d/e?\"'", "n": 5, "nested": {"x": "y"}});
        let secrets = [(id(A), "s3cr3t/value+=&")];
        let templates = Templates::new();
        let r = Renderer::new(&templates, &inputs, &secrets);
        let url = r
            .render(
                "url",
                &format!("https://x.example/p/{{{{inputs.q}}}}?k={{{{secret \"{A}\"}}}}"),
                Escape::UrlComponent,
            )
            .unwrap();
        assert_eq!(
            url.value,
            "https://x.example/p/a%20b%26c%3Dd%2Fe%3F%22%27?k=s3cr3t%2Fvalue%2B%3D%26"
        );
        assert_eq!(url.secrets, vec![id(A)]);
        let plain = r
            .render(
                "h",
                "<{{inputs.q}}> {{inputs.nested.x}} {{inputs.n}}",
                Escape::None,
            )
            .unwrap();
        assert_eq!(plain.value, "<a b&c=d/e?\"'> y 5");
        assert!(plain.secrets.is_empty());
    }

    #[test]
    fn unknown_inputs_are_errors_not_empty_strings() {
        let inputs = serde_json::json!({"a": 1});
        let templates = Templates::new();
        let r = Renderer::new(&templates, &inputs, &[]);
        let err = r
            .render("query[0].value", "x{{inputs.b}}", Escape::None)
            .unwrap_err();
        assert!(
            err.message().starts_with("invalid query[0].value"),
            "{err:?}"
        );
        assert!(err.message().contains("inputs.b"), "{err:?}");
        let err = r
            .render_json(
                "body.value",
                &serde_json::json!({"amount": "{{inputs.amount}}"}),
            )
            .unwrap_err();
        assert!(
            err.message().starts_with("invalid body.value.amount"),
            "{err:?}"
        );
    }

    #[test]
    fn objects_and_arrays_are_not_inserted_into_text() {
        let inputs = serde_json::json!({"obj": {"a": 1}, "list": [1, 2], "n": 1});
        let templates = Templates::new();
        let r = Renderer::new(&templates, &inputs, &[]);
        for source in ["x{{inputs.obj}}", "{{inputs.list}}"] {
            let err = r.render("url", source, Escape::UrlComponent).unwrap_err();
            assert!(err.message().starts_with("invalid url"), "{err:?}");
            assert!(err.message().contains("only strings, numbers"), "{err:?}");
        }
        assert_eq!(
            r.render("url", "{{inputs.list.[1]}}", Escape::None)
                .unwrap()
                .value,
            "2"
        );
    }

    #[test]
    fn headers_refuse_line_breaks_from_inputs() {
        let inputs = serde_json::json!({"v": "ok\r\nX-Injected: 1", "w": "a\nb"});
        let templates = Templates::new();
        let r = Renderer::new(&templates, &inputs, &[]);
        for source in ["{{inputs.v}}", "{{inputs.w}}"] {
            let err = r.render_header("headers[0].value", source).unwrap_err();
            assert!(err.message().contains("line break"), "{err:?}");
        }
    }

    #[test]
    fn json_leaves_cannot_break_the_document_or_be_rerendered() {
        let inputs = serde_json::json!({
            "evil": "\", \"admin\": true, \"x\": \"",
            "braces": "{{inputs.secret_path}} {{secret \"sec_aaaaaaaaaaaaaaaaaaaaaaaaaa\"}}",
            "amount": 1250,
            "obj": {"k": [1, 2]}
        });
        let templates = Templates::new();
        let r = Renderer::new(&templates, &inputs, &[]);
        let out = r
            .render_json(
                "body.value",
                &serde_json::json!({
                    "name": "{{inputs.evil}}",
                    "note": "n: {{inputs.braces}}",
                    "amount": "{{inputs.amount}}",
                    "obj": "{{inputs.obj}}",
                    "fixed": 3
                }),
            )
            .unwrap();
        assert_eq!(out.value["name"], "\", \"admin\": true, \"x\": \"");
        assert!(out.value.get("admin").is_none());
        assert_eq!(
            out.value["note"],
            "n: {{inputs.secret_path}} {{secret \"sec_aaaaaaaaaaaaaaaaaaaaaaaaaa\"}}"
        );
        assert_eq!(out.value["amount"], 1250);
        assert_eq!(out.value["obj"], serde_json::json!({"k": [1, 2]}));
        assert_eq!(out.value["fixed"], 3);
        assert!(out.secrets.is_empty());
    }

    #[test]
    fn echo_names_secrets_and_never_holds_values() {
        let s = spec(&format!(
            r#"{{"kind":"send_api_request","method":"GET","url":"https://x.example/",
            "headers":[{{"name":"Authorization","value":"Bearer {{{{secret \"{A}\"}}}}"}}]}}"#
        ));
        let echo = echo(&s, &[(id(A), "Stripe live".into())]);
        assert_eq!(
            echo["headers"][0]["value"],
            "Bearer {{secret \"Stripe live\"}}"
        );
        assert!(!echo.to_string().contains(A));
    }

    #[test]
    fn a_cached_echo_follows_renames_and_every_field_of_the_spec() {
        let json = |timeout: u64, amount: &str| {
            spec(&format!(
                r#"{{"kind":"send_api_request","method":"POST","url":"https://cache.example/",
                "headers":[{{"name":"Authorization","value":"Bearer {{{{secret \"{A}\"}}}}"}}],
                "body":{{"type":"json","value":{{"amount":"{amount}"}}}},"timeout_ms":{timeout}}}"#
            ))
        };
        let (s, names) = (json(1000, "1"), [(id(A), "Old".to_owned())]);
        for _ in 0..2 {
            let e = echo(&s, &names);
            assert_eq!(e["headers"][0]["value"], "Bearer {{secret \"Old\"}}");
            assert_eq!(e, fresh_echo(&s, &names));
        }
        let renamed = [(id(A), "New".to_owned())];
        assert_eq!(
            echo(&s, &renamed)["headers"][0]["value"],
            "Bearer {{secret \"New\"}}"
        );
        // Same URL, headers and names: told apart by the fields the key leaves out.
        for other in [json(2000, "1"), json(1000, "2")] {
            assert_eq!(echo(&other, &names), fresh_echo(&other, &names));
        }
    }

    fn fresh_echo(spec: &HttpAction, names: &[(SecretId, String)]) -> Value {
        let mut value = serde_json::to_value(spec).unwrap();
        rename_secrets(&mut value, names);
        value
    }
}
