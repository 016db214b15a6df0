//! The `hush` command line: parses arguments with clap, opens the store, calls the
//! directory and secret operations, and prints the result (human text, or JSON with
//! `--json`).
//!
//! A secret value enters only through `--value-stdin` or `--value-file`, never argv, and
//! is never printed. A refusal exits non-zero with a one-line reason on stderr.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use zeroize::Zeroizing;

use crate::app::Hush;
use crate::config::Config;
use crate::directory::Role;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{ComponentId, GroupId, OrgId, UserId};
use crate::saved::{SavedActions, SecretDeletion};
use crate::secrets::model::MAX_VALUE_BYTES;
use crate::secrets::model::Permission;
use crate::secrets::{Access, Filter, Grant, HostPattern, NewSecret, SecretValue};

mod demo;
mod output;
mod run;
mod serve;
mod token;

use output::Out;

/// hush: a workflow action runtime with encrypted secret keys.
///
/// Without HUSH_REDIS_URL, data lives in the embedded store under HUSH_DATA_DIR
/// (default ~/.local/share/hush).
#[derive(Parser, Debug)]
#[command(name = "hush", version, about, long_about = None)]
pub struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Walk through the secret store on the embedded default, printing each step.
    Demo,
    /// Create, list and remove orgs.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Add, list and remove an org's users and set their roles.
    #[command(subcommand)]
    User(UserCommand),
    /// Create and remove groups and change their members.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Create, list and manage secret keys (values are never shown).
    #[command(subcommand)]
    Secret(SecretCommand),
    /// List an org's audit trail.
    Audit(AuditArgs),
    /// Run an action file (Send API Request or Run Code) for a user and print its run record.
    Run(run::RunArgs),
    /// Add Run Code components (WebAssembly) to an org's store.
    #[command(subcommand)]
    Component(ComponentCommand),
    /// Manage master keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Create, list and revoke API tokens for `hush serve`.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Serve the HTTP API (bearer tokens; runs, run history, live events). Needs Redis.
    Serve(serve::ServeArgs),
    /// Drain the work queue: run queued actions until SIGTERM. Needs Redis; start as many
    /// as you like, on any machines.
    Worker(serve::WorkArgs),
}

#[derive(Subcommand, Debug)]
enum ComponentCommand {
    /// Check a component against the hush:action world, store it content-addressed and
    /// print its id (`sha256:…`), for an action's `component` field.
    Add {
        #[command(flatten)]
        org: OrgArg,
        /// The member adding it.
        #[arg(long = "as")]
        actor: String,
        /// The component file (.wasm), e.g. built with
        /// `cargo build --release --target wasm32-wasip2 -p my-action`.
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum OrgCommand {
    /// Create an org.
    Create { name: String },
    /// List orgs.
    List,
    /// Remove an org with all its users, groups, secrets and audit trail.
    Remove { name: String },
}

#[derive(Args, Debug)]
struct OrgArg {
    /// The org.
    #[arg(long)]
    org: String,
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Add a user to an org.
    Add {
        #[command(flatten)]
        org: OrgArg,
        /// member or admin.
        #[arg(long, default_value = "member")]
        role: String,
        user: String,
    },
    /// List an org's users.
    List {
        #[command(flatten)]
        org: OrgArg,
    },
    /// Change a user's role.
    SetRole {
        #[command(flatten)]
        org: OrgArg,
        /// member or admin.
        #[arg(long)]
        role: String,
        user: String,
    },
    /// Remove a user from an org (and its groups).
    Remove {
        #[command(flatten)]
        org: OrgArg,
        user: String,
    },
}

#[derive(Subcommand, Debug)]
enum GroupCommand {
    /// Create a group.
    Create {
        #[command(flatten)]
        org: OrgArg,
        name: String,
    },
    /// List groups and their members.
    List {
        #[command(flatten)]
        org: OrgArg,
    },
    /// Remove a group.
    Remove {
        #[command(flatten)]
        org: OrgArg,
        name: String,
    },
    /// Add a user to a group.
    AddMember {
        #[command(flatten)]
        org: OrgArg,
        group: String,
        user: String,
    },
    /// Remove a user from a group.
    RemoveMember {
        #[command(flatten)]
        org: OrgArg,
        group: String,
        user: String,
    },
}

#[derive(Args, Debug)]
struct Actor {
    /// The org.
    #[arg(long)]
    org: String,
    /// The user acting.
    #[arg(long = "as", value_name = "USER")]
    actor: String,
}

#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
struct ValueSource {
    /// Read the value from standard input (one trailing newline is dropped).
    #[arg(long)]
    value_stdin: bool,
    /// Read the value from a file (one trailing newline is dropped).
    #[arg(long, value_name = "PATH")]
    value_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum SecretCommand {
    /// Create a secret key; prints its metadata, never the value.
    Create {
        #[command(flatten)]
        actor: Actor,
        /// Display name, unique in the org ignoring case.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        value: ValueSource,
        /// Only the grants (plus the creator and admins) may use it; default: the whole team.
        #[arg(long)]
        restricted: bool,
        /// user:ID=use|manage or group:ID=use|manage (repeatable); =use needs --restricted.
        #[arg(long = "grant", value_name = "GRANT")]
        grants: Vec<String>,
        /// A host the value may be sent to, e.g. api.stripe.com or *.hubspot.com (repeatable).
        #[arg(long = "allowed-host", value_name = "HOST")]
        allowed_hosts: Vec<String>,
        /// A description.
        #[arg(long)]
        description: Option<String>,
    },
    /// List secret keys (metadata only).
    List {
        #[command(flatten)]
        actor: Actor,
        /// all, team, restricted, usable or manageable.
        #[arg(long, default_value = "all")]
        filter: String,
        /// Continue from a previous page's cursor.
        #[arg(long)]
        cursor: Option<String>,
        /// Page size (1-500).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show one secret key's metadata.
    Show {
        #[command(flatten)]
        actor: Actor,
        /// Secret id (sec_…) or name.
        secret: String,
    },
    /// Rename a secret key; its id stays.
    Rename {
        #[command(flatten)]
        actor: Actor,
        /// Secret id (sec_…) or name.
        secret: String,
        /// The new name.
        new_name: String,
    },
    /// Give a secret key a new value (the version goes up).
    SetValue {
        #[command(flatten)]
        actor: Actor,
        /// Secret id (sec_…) or name.
        secret: String,
        #[command(flatten)]
        value: ValueSource,
    },
    /// Set team/restricted access and the grants (replacing the old ones).
    SetAccess {
        #[command(flatten)]
        actor: Actor,
        /// Secret id (sec_…) or name.
        secret: String,
        /// Every member may use it.
        #[arg(
            long,
            conflicts_with = "restricted",
            required_unless_present = "restricted"
        )]
        team: bool,
        /// Only the grants may use it.
        #[arg(long)]
        restricted: bool,
        /// user:ID=use|manage or group:ID=use|manage (repeatable).
        #[arg(long = "grant", value_name = "GRANT")]
        grants: Vec<String>,
    },
    /// Set the hosts the value may be sent to (none given: any host).
    SetAllowedHosts {
        #[command(flatten)]
        actor: Actor,
        /// Secret id (sec_…) or name.
        secret: String,
        /// A host pattern (repeatable).
        #[arg(long = "allowed-host", value_name = "HOST")]
        allowed_hosts: Vec<String>,
    },
    /// Set the Run Code components that may reveal the value to their code (none given:
    /// none may; every other component attaches it to requests without seeing it).
    SetRevealComponents {
        #[command(flatten)]
        actor: Actor,
        /// Secret id (sec_…) or name.
        secret: String,
        /// A component id, `sha256:…` as `hush component add` prints it (repeatable).
        #[arg(long = "component", value_name = "SHA256")]
        components: Vec<String>,
    },
    /// Delete a secret key (refused while saved actions use it, unless --force).
    Delete {
        #[command(flatten)]
        actor: Actor,
        /// Secret id (sec_…) or name.
        secret: String,
        /// Delete it even when saved actions use it (they will fail at their next run).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Args, Debug)]
struct AuditArgs {
    /// The org.
    #[arg(long)]
    org: String,
    /// Start after this entry id.
    #[arg(long)]
    after: Option<String>,
    /// How many entries (1-1000).
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Add a new master key version and re-wrap every org's data key with it.
    Rotate,
    /// Show the master key versions configured.
    Status,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init();
    let out = Out::new(cli.json);
    // The server handles requests on every core; a one-shot command needs one thread.
    let mut builder = if matches!(cli.command, Command::Serve(_) | Command::Worker(_)) {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hush: error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli.command, &out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !out.reported() {
                out.error(&e);
            }
            ExitCode::from(exit_code(e.kind()))
        }
    }
}

/// The exit code for each kind of failure, the one rule for every command, with or
/// without `--json` (the README's table; 2 is also clap's code for bad usage).
fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Invalid => 2,
        ErrorKind::NotFound => 3,
        ErrorKind::Denied => 4,
        ErrorKind::Conflict => 5,
        ErrorKind::Unavailable => 6,
        ErrorKind::Crypto => 7,
        ErrorKind::Limit | ErrorKind::Trapped | ErrorKind::ActionFailed => 8,
        _ => 1,
    }
}

async fn open() -> Result<Hush> {
    let hush = Hush::open(&Config::from_env()).await?;
    for notice in &hush.notices {
        eprintln!("hush: {notice}");
    }
    Ok(hush)
}

fn org(text: &str) -> Result<OrgId> {
    OrgId::parse_field("--org", text)
}

fn user(text: &str) -> Result<UserId> {
    UserId::parse_field("user", text)
}

fn group(text: &str) -> Result<GroupId> {
    GroupId::parse_field("group", text)
}

fn grants(texts: &[String]) -> Result<Vec<Grant>> {
    texts.iter().map(|g| g.parse()).collect()
}

fn hosts(texts: &[String]) -> Result<Vec<HostPattern>> {
    texts.iter().map(|h| HostPattern::parse(h)).collect()
}

/// A file that could not be read, said the same way for every file the CLI reads:
/// `invalid FIELD: cannot read PATH: <the system's reason, e.g. no such file or
/// directory>` (exit code 2).
fn cannot_read(field: &str, path: &Path, e: &std::io::Error) -> Error {
    let reason = e.to_string();
    // "No such file or directory (os error 2)": the number says nothing to a person.
    let reason = match reason.find(" (os error") {
        Some(at) => &reason[..at],
        None => &reason,
    };
    let mut chars = reason.chars();
    let reason: String = chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default();
    Error::invalid(field, format!("cannot read {}: {reason}", path.display()))
}

/// Checks, without reading it, that `path` is a regular file this process can open.
fn check_readable_file(field: &str, path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| cannot_read(field, path, &e))?;
    if !meta.is_file() {
        return Err(Error::invalid(
            field,
            format!("cannot read {}: not a regular file", path.display()),
        ));
    }
    std::fs::File::open(path).map_err(|e| cannot_read(field, path, &e))?;
    Ok(())
}

/// The grants of a new access setting. A Use grant on a team secret is refused: every
/// member may already use it, and the grant reads as if it restricted the secret. A
/// Manage grant is meaningful on either.
fn grants_for(access: Access, texts: &[String]) -> Result<Vec<Grant>> {
    let grants = grants(texts)?;
    if access == Access::Team
        && let Some(g) = grants.iter().find(|g| g.permission == Permission::Use)
    {
        return Err(Error::invalid(
            "--grant",
            format!(
                "{g} on a team secret changes nothing (every member may use it); \
                 add --restricted to allow only the grants, or grant =manage"
            ),
        ));
    }
    Ok(grants)
}

/// Reads a value from stdin or a file, refusing anything over the size limit without
/// reading it all.
fn read_value(source: &ValueSource) -> Result<SecretValue> {
    let limit = (MAX_VALUE_BYTES + 3) as u64;
    let mut bytes = Zeroizing::new(Vec::new());
    if let Some(path) = &source.value_file {
        let file = open_value_file(path)?;
        file.take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| cannot_read("--value-file", path, &e))?;
    } else {
        std::io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| {
                Error::invalid("--value-stdin", format!("cannot read standard input: {e}"))
            })?;
    }
    if bytes.is_empty() {
        let from = if source.value_stdin {
            "standard input"
        } else {
            "the file"
        };
        return Err(Error::invalid(
            "value",
            format!("{from} is empty; a new value is required"),
        ));
    }
    SecretValue::from_input(bytes)
}

fn open_value_file(path: &Path) -> Result<std::fs::File> {
    let field = "--value-file";
    let meta = std::fs::metadata(path).map_err(|e| cannot_read(field, path, &e))?;
    if meta.is_dir() {
        return Err(Error::invalid(
            field,
            format!("cannot read {}: is a directory", path.display()),
        ));
    }
    std::fs::File::open(path).map_err(|e| cannot_read(field, path, &e))
}

async fn run(command: Command, out: &Out) -> Result<()> {
    match command {
        Command::Demo => demo::run(out).await,
        Command::Run(args) => run::run(args, out).await,
        Command::Token(cmd) => token::run(cmd, out).await,
        Command::Serve(args) => serve::run(args, out).await,
        Command::Worker(args) => serve::work(args, out).await,
        Command::Org(cmd) => run_org(cmd, out).await,
        Command::User(cmd) => run_user(cmd, out).await,
        Command::Group(cmd) => run_group(cmd, out).await,
        Command::Secret(cmd) => run_secret(cmd, out).await,
        Command::Audit(args) => {
            let org = org(&args.org)?;
            let hush = open().await?;
            hush.directory.org(&org).await?;
            let page = hush
                .audit
                .list(&org, args.after.as_deref(), args.limit)
                .await?;
            out.audit(&page);
            Ok(())
        }
        Command::Component(ComponentCommand::Add {
            org: o,
            actor,
            file,
        }) => {
            check_readable_file("component", &file)?;
            let bytes = crate::actions::code::read_component_file(&file).await?;
            let hush = open().await?;
            let code = hush.code_runtime(crate::actions::http::HttpSender::new(
                crate::actions::http::NetworkPolicy::closed(),
            )?)?;
            let id = code
                .add_component(&org(&o.org)?, &user(&actor)?, bytes)
                .await?;
            out.value(&serde_json::json!({ "component": id }), || id.clone());
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate) => {
            let hush = open().await?;
            let (version, rewrapped) = hush.secrets.rotate_master_key().await?;
            // Every org's trail says when its data key came under the new version.
            let entry =
                crate::audit::AuditEntry::new(None, crate::audit::AuditAction::MasterKeyRotate)
                    .detail(format!("master key version {version} is current"));
            let orgs = hush.backend.orgs().await?;
            let entries = orgs
                .into_iter()
                .map(|org| (org, entry.to_bytes()))
                .collect();
            hush.backend.append_audit(entries).await?;
            out.rotated(version, rewrapped);
            Ok(())
        }
        Command::Keys(KeysCommand::Status) => {
            let hush = open().await?;
            let (versions, current) = hush.secrets.key_versions();
            out.key_status(&versions, current, &hush.backend.describe());
            Ok(())
        }
    }
}

async fn run_org(cmd: OrgCommand, out: &Out) -> Result<()> {
    match cmd {
        OrgCommand::Create { name } => {
            let id = OrgId::parse_field("org name", &name)?;
            let record = open().await?.directory.create_org(&id).await?;
            out.value(&record, || format!("created org {}", record.id));
        }
        OrgCommand::List => {
            let orgs = open().await?.directory.list_orgs().await?;
            out.value(&orgs, || {
                orgs.iter()
                    .map(|o| format!("{o}\n"))
                    .collect::<String>()
                    .trim_end()
                    .to_owned()
            });
        }
        OrgCommand::Remove { name } => {
            let id = OrgId::parse_field("org name", &name)?;
            open().await?.directory.remove_org(&id).await?;
            out.value(&serde_json::json!({"removed": id}), || {
                format!("removed org {id}")
            });
        }
    }
    Ok(())
}

async fn run_user(cmd: UserCommand, out: &Out) -> Result<()> {
    match cmd {
        UserCommand::Add {
            org: o,
            role,
            user: u,
        } => {
            let (o, u, role) = (org(&o.org)?, user(&u)?, role.parse::<Role>()?);
            let record = open().await?.directory.add_user(&o, &u, role).await?;
            out.value(&record, || {
                format!("added {} to {o} as {}", record.id, record.role)
            });
        }
        UserCommand::List { org: o } => {
            let users = open().await?.directory.list_users(&org(&o.org)?).await?;
            out.users(&users);
        }
        UserCommand::SetRole {
            org: o,
            role,
            user: u,
        } => {
            let (o, u, role) = (org(&o.org)?, user(&u)?, role.parse::<Role>()?);
            let record = open().await?.directory.set_role(&o, &u, role).await?;
            out.value(&record, || {
                format!("{} is now {} of {o}", record.id, record.role)
            });
        }
        UserCommand::Remove { org: o, user: u } => {
            let (o, u) = (org(&o.org)?, user(&u)?);
            open().await?.directory.remove_user(&o, &u).await?;
            out.value(&serde_json::json!({"removed": u}), || {
                format!("removed {u} from {o}")
            });
        }
    }
    Ok(())
}

async fn run_group(cmd: GroupCommand, out: &Out) -> Result<()> {
    match cmd {
        GroupCommand::Create { org: o, name } => {
            let (o, g) = (org(&o.org)?, group(&name)?);
            let record = open().await?.directory.create_group(&o, &g).await?;
            out.value(&record, || format!("created group {} in {o}", record.id));
        }
        GroupCommand::List { org: o } => {
            let groups = open().await?.directory.list_groups(&org(&o.org)?).await?;
            out.groups(&groups);
        }
        GroupCommand::Remove { org: o, name } => {
            let (o, g) = (org(&o.org)?, group(&name)?);
            open().await?.directory.remove_group(&o, &g).await?;
            out.value(&serde_json::json!({"removed": g}), || {
                format!("removed group {g} from {o}")
            });
        }
        GroupCommand::AddMember {
            org: o,
            group: g,
            user: u,
        } => {
            let (o, g, u) = (org(&o.org)?, group(&g)?, user(&u)?);
            let record = open().await?.directory.add_member(&o, &g, &u).await?;
            out.value(&record, || format!("{u} is in group {g}"));
        }
        GroupCommand::RemoveMember {
            org: o,
            group: g,
            user: u,
        } => {
            let (o, g, u) = (org(&o.org)?, group(&g)?, user(&u)?);
            let record = open().await?.directory.remove_member(&o, &g, &u).await?;
            out.value(&record, || format!("{u} is not in group {g}"));
        }
    }
    Ok(())
}

async fn run_secret(cmd: SecretCommand, out: &Out) -> Result<()> {
    match cmd {
        SecretCommand::Create {
            actor,
            name,
            value,
            restricted,
            grants: g,
            allowed_hosts,
            description,
        } => {
            let (o, a) = (org(&actor.org)?, user(&actor.actor)?);
            let access = if restricted {
                Access::Restricted
            } else {
                Access::Team
            };
            let new = NewSecret {
                name,
                access,
                grants: grants_for(access, &g)?,
                allowed_hosts: hosts(&allowed_hosts)?,
                description,
                value: read_value(&value)?,
            };
            let meta = open().await?.secrets.create(&o, &a, new).await?;
            out.secret(&meta, "created");
        }
        SecretCommand::List {
            actor,
            filter,
            cursor,
            limit,
        } => {
            let (o, a, filter) = (
                org(&actor.org)?,
                user(&actor.actor)?,
                filter.parse::<Filter>()?,
            );
            let page = open()
                .await?
                .secrets
                .list(&o, &a, filter, cursor.as_deref(), limit)
                .await?;
            out.secret_page(&page);
        }
        SecretCommand::Show { actor, secret } => {
            let (o, a) = (org(&actor.org)?, user(&actor.actor)?);
            let hush = open().await?;
            let id = hush.secrets.find(&o, &secret).await?;
            let meta = hush.secrets.show(&o, &a, &id).await?;
            out.secret(&meta, "");
        }
        SecretCommand::Rename {
            actor,
            secret,
            new_name,
        } => {
            let (o, a) = (org(&actor.org)?, user(&actor.actor)?);
            let hush = open().await?;
            let id = hush.secrets.find(&o, &secret).await?;
            let meta = hush.secrets.rename(&o, &a, &id, &new_name).await?;
            out.secret(&meta, "renamed");
        }
        SecretCommand::SetValue {
            actor,
            secret,
            value,
        } => {
            let (o, a, value) = (org(&actor.org)?, user(&actor.actor)?, read_value(&value)?);
            let hush = open().await?;
            let id = hush.secrets.find(&o, &secret).await?;
            let meta = hush.secrets.set_value(&o, &a, &id, &value).await?;
            out.secret(&meta, "new value stored for");
        }
        SecretCommand::SetAccess {
            actor,
            secret,
            team: _,
            restricted,
            grants: g,
        } => {
            let access = if restricted {
                Access::Restricted
            } else {
                Access::Team
            };
            let (o, a, g) = (
                org(&actor.org)?,
                user(&actor.actor)?,
                grants_for(access, &g)?,
            );
            let hush = open().await?;
            let id = hush.secrets.find(&o, &secret).await?;
            let meta = hush.secrets.set_access(&o, &a, &id, access, g).await?;
            out.secret(&meta, "access updated for");
        }
        SecretCommand::SetAllowedHosts {
            actor,
            secret,
            allowed_hosts,
        } => {
            let (o, a, h) = (
                org(&actor.org)?,
                user(&actor.actor)?,
                hosts(&allowed_hosts)?,
            );
            let hush = open().await?;
            let id = hush.secrets.find(&o, &secret).await?;
            let meta = hush.secrets.set_allowed_hosts(&o, &a, &id, h).await?;
            out.secret(&meta, "allowed hosts updated for");
        }
        SecretCommand::SetRevealComponents {
            actor,
            secret,
            components,
        } => {
            let (o, a) = (org(&actor.org)?, user(&actor.actor)?);
            let c = components
                .iter()
                .map(|c| ComponentId::parse_field("component", c))
                .collect::<Result<Vec<_>>>()?;
            let hush = open().await?;
            let id = hush.secrets.find(&o, &secret).await?;
            let meta = hush.secrets.set_reveal_components(&o, &a, &id, c).await?;
            out.secret(&meta, "reveal components updated for");
        }
        SecretCommand::Delete {
            actor,
            secret,
            force,
        } => {
            let (o, a) = (org(&actor.org)?, user(&actor.actor)?);
            let hush = open().await?;
            let id = hush.secrets.find(&o, &secret).await?;
            let saved = SavedActions::new(std::sync::Arc::clone(&hush.backend));
            let meta = match saved
                .delete_secret(&hush.secrets, &o, &a, &id, force)
                .await?
            {
                SecretDeletion::Deleted(meta) => *meta,
                SecretDeletion::Referenced(actions) => {
                    let actions: Vec<String> = actions.iter().map(ToString::to_string).collect();
                    return Err(Error::conflict(format!(
                        "secret {id} is used by saved action {}; change or delete them first, \
                         or pass --force (they will then fail at their next run)",
                        actions.join(", ")
                    )));
                }
            };
            out.value(
                &serde_json::json!({"deleted": meta.id, "name": meta.name}),
                || format!("deleted secret {:?} ({})", meta.name, meta.id),
            );
        }
    }
    Ok(())
}
