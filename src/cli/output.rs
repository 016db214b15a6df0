//! How the command line prints: a short human text, or JSON with `--json`. Everything
//! printed here is metadata; no function takes a secret value.

use serde::Serialize;

use crate::audit::AuditPage;
use crate::directory::{GroupRecord, UserRecord};
use crate::error::Error;
use crate::secrets::{Access, SecretMeta, SecretPage};

/// The chosen output format.
pub struct Out {
    json: bool,
    /// Set when a command has already printed its whole answer for a failure (a failed
    /// run's record with `--json`), so the error is not printed a second time.
    reported: std::cell::Cell<bool>,
}

fn time(t: &crate::model::Timestamp) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(FORMAT).unwrap_or_else(|_| t.to_string())
}

impl Out {
    pub fn new(json: bool) -> Self {
        Out {
            json,
            reported: std::cell::Cell::new(false),
        }
    }

    /// Notes that the failure's answer is already printed (see [`Out::reported`]).
    pub fn mark_reported(&self) {
        self.reported.set(true);
    }

    /// Whether the failure's answer is already printed: the exit code still says it.
    pub fn reported(&self) -> bool {
        self.reported.get()
    }

    /// Whether output is JSON.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints `value` as JSON, or `text()` for people.
    pub fn value<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).expect("output serializes")
            );
        } else {
            let text = text();
            if !text.is_empty() {
                println!("{text}");
            }
        }
    }

    /// Prints a refusal or failure: one line.
    pub fn error(&self, error: &Error) {
        if self.json {
            let body = serde_json::json!({"error": {"code": error.kind().code(), "message": error.message()}});
            println!("{body}");
        } else {
            eprintln!("hush: error: {}", error.message().replace('\n', " "));
        }
    }

    pub fn users(&self, users: &[UserRecord]) {
        self.value(&users, || {
            users
                .iter()
                .map(|u| {
                    let groups: Vec<&str> = u.groups.iter().map(|g| g.as_str()).collect();
                    format!("{:<24} {:<7} {}", u.id, u.role, groups.join(","))
                })
                .collect::<Vec<_>>()
                .join("\n")
        });
    }

    pub fn groups(&self, groups: &[GroupRecord]) {
        self.value(&groups, || {
            groups
                .iter()
                .map(|g| {
                    let members: Vec<&str> = g.members.iter().map(|m| m.as_str()).collect();
                    format!("{:<24} {}", g.id, members.join(","))
                })
                .collect::<Vec<_>>()
                .join("\n")
        });
    }

    /// One secret's metadata, after `verb` (e.g. "created").
    pub fn secret(&self, meta: &SecretMeta, verb: &str) {
        self.value(meta, || {
            let mut lines = Vec::new();
            if !verb.is_empty() {
                lines.push(format!("{verb} secret {:?}", meta.name));
            }
            lines.push(format!("id:            {}", meta.id));
            lines.push(format!("name:          {}", meta.name));
            if let Some(d) = &meta.description {
                lines.push(format!("description:   {d}"));
            }
            lines.push(format!("access:        {}", access(meta.access)));
            let grants: Vec<String> = meta.grants.iter().map(ToString::to_string).collect();
            lines.push(format!(
                "grants:        {}",
                if grants.is_empty() {
                    "-".into()
                } else {
                    grants.join(", ")
                }
            ));
            let hosts: Vec<&str> = meta.allowed_hosts.iter().map(|h| h.as_str()).collect();
            lines.push(format!(
                "allowed hosts: {}",
                if hosts.is_empty() {
                    "any".into()
                } else {
                    hosts.join(", ")
                }
            ));
            let reveal: Vec<&str> = meta.reveal_components.iter().map(|c| c.as_str()).collect();
            lines.push(format!(
                "revealed to:   {}",
                if reveal.is_empty() {
                    "no component".into()
                } else {
                    reveal.join(", ")
                }
            ));
            lines.push(format!(
                "created:       {} by {}",
                time(&meta.created_at),
                meta.created_by
            ));
            lines.push(format!(
                "updated:       {} by {}",
                time(&meta.updated_at),
                meta.updated_by
            ));
            lines.push(format!("version:       {}", meta.version));
            lines.push(format!("reference:     {{{{secret \"{}\"}}}}", meta.id));
            lines.join("\n")
        });
    }

    pub fn secret_page(&self, page: &SecretPage) {
        self.value(page, || {
            let mut lines: Vec<String> = page
                .items
                .iter()
                .map(|m| {
                    format!(
                        "{}  {:<10}  v{:<3} {}",
                        m.id,
                        access(m.access),
                        m.version,
                        m.name
                    )
                })
                .collect();
            if lines.is_empty() {
                lines.push("no secrets".into());
            }
            if let Some(next) = &page.next_cursor {
                lines.push(format!("more: --cursor {next}"));
            }
            lines.join("\n")
        });
    }

    /// An audit page: as stored with `--json` (ids in store order, for `--after`); for
    /// people, by time. Resolves are stored in batches a moment after they happen, so
    /// store order is not time order.
    pub fn audit(&self, page: &AuditPage) {
        self.value(page, || {
            let mut rows: Vec<_> = page.entries.iter().collect();
            rows.sort_by_key(|row| row.entry.at);
            let mut lines: Vec<String> = rows
                .into_iter()
                .map(|row| {
                    let e = &row.entry;
                    let actor = e.actor.as_ref().map_or("-", |a| a.as_str());
                    let secrets: Vec<String> = e
                        .secrets
                        .iter()
                        .map(|s| match &s.name {
                            Some(n) => format!("{n:?} ({})", s.id),
                            None => s.id.to_string(),
                        })
                        .collect();
                    let mut line = format!(
                        "{}  {:<8} {:<26} {}",
                        time(&e.at),
                        serde_json::to_value(e.outcome)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        serde_json::to_value(e.action)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        actor
                    );
                    if !secrets.is_empty() {
                        line.push_str(&format!("  {}", secrets.join(", ")));
                    }
                    if let Some(run) = &e.run_id {
                        line.push_str(&format!("  run={run}"));
                    }
                    if let Some(d) = &e.detail {
                        line.push_str(&format!("  ({d})"));
                    }
                    line
                })
                .collect();
            if lines.is_empty() {
                lines.push("no audit entries".into());
            }
            if let Some(next) = &page.next {
                lines.push(format!("more: --after {next}"));
            }
            lines.join("\n")
        });
    }

    pub fn rotated(&self, version: u32, orgs: usize) {
        self.value(&serde_json::json!({"current_version": version, "orgs_rewrapped": orgs}), || {
            format!("master key version {version} is current; re-wrapped the data keys of {orgs} org(s)")
        });
    }

    pub fn key_status(&self, versions: &[u32], current: u32, store: &str) {
        self.value(
            &serde_json::json!({"versions": versions, "current": current, "store": store}),
            || format!("master key versions {versions:?}, current {current}; store: {store}"),
        );
    }
}

fn access(a: Access) -> &'static str {
    match a {
        Access::Team => "team",
        Access::Restricted => "restricted",
    }
}
