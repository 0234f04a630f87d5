//! The headless face: `rohe <noun> <verb>`. Every command builds the same `ops::Request` the
//! console builds for the same action, so both faces behave identically.

pub mod agents;
pub mod doctor;
pub mod import;
pub mod orchestration;
pub mod output;
pub mod placement;
pub mod profile;
pub mod registry;
pub mod serve;

use crate::config::{self, Loaded, Overrides};
use crate::error::{Error, Result};
use crate::ops::{Ops, Request, Response, Source};
use clap::{Args, CommandFactory, Parser, Subcommand};
use output::{Format, Table, emit, kv};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "rohe",
    version,
    about = "Operations console for ROHE: observe and orchestrate ML inference pipelines on edge clusters",
    long_about = "Operations console for ROHE.\n\nWithout a command, opens the interactive console. \
                  With a command, runs it headless for scripts and CI.\n\nExit codes: 0 ok, 1 runtime \
                  failure, 2 invalid input or usage, 3 not found, 4 conflict."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Configuration file (else $ROHE_CONFIG, else $XDG_CONFIG_HOME/rohe/rohe.yaml, else config/rohe.yaml)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format of headless commands
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// Refuse every state-changing action
    #[arg(long, global = true)]
    pub readonly: bool,
    /// The embedded store's file (overrides store.path)
    #[arg(long, global = true, value_name = "PATH")]
    pub store: Option<PathBuf>,
    /// Keymap file for the console (else $XDG_CONFIG_HOME/rohe/keymap.yaml)
    #[arg(long, global = true, value_name = "FILE")]
    pub keymap: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register, inspect and remove applications
    #[command(subcommand)]
    App(AppCommand),
    /// Observation agents: start, stop, status, logs, stream config
    #[command(subcommand)]
    Agent(agents::AgentCommand),
    /// Stored metrics and live analysis results
    #[command(subcommand)]
    Metrics(agents::MetricsCommand),
    /// Publish realistic QoA4ML reports (SPE2024 latency profiles) for a registered application
    Demo(agents::DemoArgs),
    /// The log of state-changing operations
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Show or check the effective configuration
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check or print the console's keymap
    #[command(subcommand)]
    Keymap(KeymapCommand),
    /// Plan where service instances go on nodes, offline (no store, no changes)
    #[command(subcommand)]
    Placement(placement::PlacementCommand),
    /// Service requirements and categories from profiling data (SPE2024 layout), offline
    #[command(subcommand)]
    Profile(profile::ProfileCommand),
    /// ROHE's observationConfig.yaml or orchestrationConfig.yaml as rohe configuration, showing
    /// what was mapped and what was ignored (offline)
    Import(import::ImportArgs),
    /// The node inventory: add, list, show, remove, cordon, uncordon (fail/recover in simulation)
    #[command(subcommand)]
    Node(orchestration::NodeCommand),
    /// Deployable services: add, list, show, remove
    #[command(subcommand)]
    Service(orchestration::ServiceCommand),
    /// Preview the next reconciliation: what would start or stop where, and why
    Plan,
    /// Reconcile once: place, remove, and apply the manifests to the cluster
    Apply(orchestration::ApplyArgs),
    /// Set a service's replicas (validated against capacity) and reconcile
    Scale(orchestration::ScaleArgs),
    /// An application's Kubernetes objects (Deployments, Services, ConfigMap) as YAML
    Manifests { app: String },
    /// Autoscaling policies: set, list, remove
    #[command(subcommand)]
    Autoscale(orchestration::AutoscaleCommand),
    /// The background reconciler: start, stop, status
    #[command(subcommand)]
    Orchestrator(orchestration::OrchestratorCommand),
    /// Check every configured backend and say what is wrong and how to fix it
    Doctor,
    /// Serve ROHE's observation (5010) and orchestration (5002) REST APIs.
    Serve(serve::ServeArgs),
    /// Microservice registry (Consul or embedded): register, deregister, pass, list, discover
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// Print shell completions
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Register an application from a description file (re-registering keeps its app_id)
    Register {
        /// Application description (YAML), e.g. example/applications/cctvs.yaml
        #[arg(long, short = 'f', value_name = "FILE")]
        file: PathBuf,
        /// Validate and show the result without storing anything
        #[arg(long)]
        dry_run: bool,
    },
    /// List registered applications
    List,
    /// Show an application: IDs, routing, database, history
    Show { name: String },
    /// Remove an application's registration
    Unregister {
        name: String,
        /// Also delete its stored metric reports and analysis results
        #[arg(long)]
        purge: bool,
        /// Unregister even while its observation agent runs
        #[arg(long)]
        force: bool,
        /// Do not ask for confirmation
        #[arg(long, short = 'y')]
        yes: bool,
        /// Show what would be removed without removing it
        #[arg(long)]
        dry_run: bool,
    },
    /// QoA4ML client configurations: printed, or written one YAML per microservice with --out
    QoaConfig {
        name: String,
        /// Only this microservice (name, stage.name or microservice ID)
        #[arg(long, value_name = "ID")]
        microservice: Option<String>,
        /// Write files to DIR/<app>/<stage>.<microservice>.yaml instead of printing
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit entries, oldest first
    List {
        /// Only entries since a time: RFC 3339 (2026-11-28T10:00:00Z) or a duration ago (90m, 2h, 7d)
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// At most this many (the newest)
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeymapCommand {
    /// Validate a keymap file (default: --keymap, else $XDG_CONFIG_HOME/rohe/keymap.yaml) and
    /// warn about keys that terminals or tmux usually intercept; exit 2 when invalid
    Check {
        /// The keymap file to check
        file: Option<PathBuf>,
    },
    /// Print the effective keymap (every action, its context and keys) as YAML
    Show {
        /// Print the built-in defaults, ignoring any keymap file
        #[arg(long)]
        default: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration, secrets redacted
    Show,
    /// Validate the configuration; exit 0 when valid, 2 when not
    Check,
}

impl GlobalArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config_file: self.config.clone(),
            readonly: self.readonly,
            store_path: self.store.clone(),
        }
    }
}

/// Open the configured backends and bind the use cases to them. The console hosts
/// in-process agents; a one-shot command does not.
pub fn open_ops(loaded: &Loaded, source: Source) -> Result<Ops> {
    open_ops_with(loaded, source, source == Source::Tui)
}

/// Like [`open_ops`], saying whether this process stays up to host in-process agents.
pub fn open_ops_with(loaded: &Loaded, source: Source, hosts_agents: bool) -> Result<Ops> {
    let c = &loaded.config;
    let store = crate::backends::open_store(c)?;
    let bus = crate::backends::open_bus(c);
    let runtime = crate::backends::open_runtime(c, &store, &bus)?;
    Ok(Ops::new(store, c.connector_settings(), source)
        .readonly(c.console.readonly)
        .with_agents(crate::ops::AgentBackends {
            bus,
            runtime,
            hosts_agents,
            stop_timeout: std::time::Duration::from_secs(c.agent.stop_timeout_s),
        }))
}

/// Parse `--since`: an RFC 3339 time, or a duration before now.
pub fn parse_since(s: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let d = humantime::parse_duration(s).map_err(|_| {
        Error::invalid(format!("{s:?} is neither a time nor a duration"))
            .field("--since")
            .hint("use 2026-11-28T10:00:00Z, or a duration such as 90m, 2h or 7d")
    })?;
    let d = chrono::Duration::from_std(d)
        .map_err(|_| Error::invalid("duration too large").field("--since"))?;
    Ok(chrono::Utc::now() - d)
}

/// Build the request a command asks for. Pure except for reading the description file, so
/// tests can compare it with what the console builds.
pub fn request_for(cmd: &AppCommand) -> Result<Option<Request>> {
    Ok(match cmd {
        AppCommand::Register { file, dry_run } => Some(Request::RegisterApp {
            spec: crate::ops::registration::read_spec_file(file)?,
            file: Some(file.clone()),
            dry_run: *dry_run,
        }),
        AppCommand::Unregister {
            name,
            purge,
            force,
            dry_run,
            ..
        } => Some(Request::UnregisterApp {
            name: name.clone(),
            purge: *purge,
            force: *force,
            dry_run: *dry_run,
        }),
        AppCommand::QoaConfig {
            name,
            microservice,
            out: Some(dir),
        } => Some(Request::ExportQoaConfig {
            name: name.clone(),
            microservice: microservice.clone(),
            out_dir: dir.clone(),
        }),
        _ => None,
    })
}

/// Run one headless command.
pub async fn run(global: &GlobalArgs, command: Command) -> Result<()> {
    let fmt = global.output;
    match command {
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "rohe", &mut std::io::stdout());
            Ok(())
        }
        Command::Config(c) => run_config(global, c),
        Command::Placement(c) => placement::run(fmt, c),
        Command::Profile(c) => profile::run(fmt, c),
        Command::Import(a) => import::run(fmt, &a),
        Command::Keymap(KeymapCommand::Check { file }) => {
            let lines = crate::tui::keymap::check(file.as_deref(), global.keymap.as_deref())?;
            let doc = serde_json::json!({ "valid": true, "messages": lines });
            emit(fmt, &doc, |out| {
                for l in &lines {
                    writeln!(out, "{}", crate::domain::sanitize::terminal_safe(l))?;
                }
                Ok(())
            })
        }
        Command::Keymap(KeymapCommand::Show { default }) => {
            let text = crate::tui::keymap::show(default, global.keymap.as_deref())?;
            std::io::stdout()
                .write_all(text.as_bytes())
                .map_err(|e| Error::runtime(format!("writing output: {e}")))
        }
        Command::Agent(cmd) => agents::run_agent_cmd(global, cmd).await,
        Command::Node(cmd) => orchestration::run_node(global, cmd).await,
        Command::Service(cmd) => orchestration::run_service(global, cmd).await,
        Command::Plan => orchestration::run_plan(global).await,
        Command::Apply(a) => orchestration::run_apply(global, a).await,
        Command::Scale(a) => orchestration::run_scale(global, a).await,
        Command::Manifests { app } => orchestration::run_manifests(global, app).await,
        Command::Autoscale(cmd) => orchestration::run_autoscale(global, cmd).await,
        Command::Orchestrator(cmd) => orchestration::run_orchestrator(global, cmd).await,
        Command::Registry(cmd) => registry::run(global, cmd).await,
        Command::Doctor => doctor::run(global).await,
        Command::Serve(a) => serve::run(global, a).await,
        Command::Metrics(cmd) => agents::run_metrics(global, cmd).await,
        Command::Demo(args) => agents::run_demo(global, args).await,
        Command::App(cmd) => {
            let loaded = config::load(&global.overrides())?;
            let ops = open_ops(&loaded, Source::Cli)?;
            run_app(&ops, &loaded.config, fmt, cmd).await
        }
        Command::Audit(AuditCommand::List { since, limit }) => {
            let since = since.as_deref().map(parse_since).transpose()?;
            let loaded = config::load(&global.overrides())?;
            let ops = open_ops(&loaded, Source::Cli)?;
            let entries = ops.list_audit(since, limit).await?;
            emit(fmt, &entries, |out| {
                let mut t = Table::new(vec!["TIME", "ACTOR", "SOURCE", "ACTION", "OK", "RESULT"]);
                for e in &entries {
                    t.row(vec![
                        e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                        e.actor.clone(),
                        e.source.clone(),
                        e.action.clone(),
                        if e.ok { "ok".into() } else { "FAILED".into() },
                        e.result.clone(),
                    ]);
                }
                t.write(out)
            })
        }
    }
}

fn run_config(global: &GlobalArgs, c: ConfigCommand) -> Result<()> {
    let loaded = config::load(&global.overrides())?;
    let source = loaded
        .file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "built-in defaults".into());
    match c {
        ConfigCommand::Show => {
            let value = config::redact(&crate::yaml::to_value(&loaded.config)?);
            emit(global.output, &value, |out| {
                writeln!(out, "# effective configuration; file: {source}")?;
                if !loaded.env_keys.is_empty() {
                    writeln!(out, "# overridden by: {}", loaded.env_keys.join(", "))?;
                }
                writeln!(
                    out,
                    "# store file: {}",
                    loaded.config.store_path().display()
                )?;
                let text = crate::yaml::to_string(&value)
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                out.write_all(text.as_bytes())
            })
        }
        ConfigCommand::Check => {
            let doc = serde_json::json!({ "valid": true, "file": source });
            emit(global.output, &doc, |out| {
                writeln!(out, "configuration is valid ({source})")
            })
        }
    }
}

async fn run_app(
    ops: &Ops,
    config: &crate::config::Config,
    fmt: Format,
    cmd: AppCommand,
) -> Result<()> {
    match &cmd {
        AppCommand::List => {
            // 10,000 applications are tens of megabytes of JSON: pass the stored documents
            // through to a program, decode only what a table or a person needs.
            if fmt == Format::Json && !std::io::stdout().is_terminal() {
                return output::emit_json_array(&ops.list_apps_json().await?);
            }
            if fmt != Format::Table {
                return emit(fmt, &ops.list_apps().await?, |_| Ok(()));
            }
            let apps = ops.list_app_summaries().await?;
            return emit(fmt, &apps, |out| {
                let mut t = Table::new(vec![
                    "NAME",
                    "APP ID",
                    "RUN",
                    "USER",
                    "STAGES",
                    "MICROSERVICES",
                    "CLIENTS",
                    "UPDATED",
                ]);
                for a in &apps {
                    t.row(vec![
                        a.application_name.clone(),
                        a.app_id.to_string(),
                        a.run_id.clone(),
                        a.user_id.clone(),
                        a.stage_count().to_string(),
                        a.microservice_count().to_string(),
                        a.client_count.to_string(),
                        a.updated_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    ]);
                }
                t.write(out)
            });
        }
        AppCommand::Show { name } => {
            let mut d = ops.show_app(name).await?;
            let registry = crate::backends::open_registry(config, ops.store())?;
            d.registry =
                Some(crate::ops::registration::registry_view(&*registry, &d.application).await);
            return emit(fmt, &d, |out| write_detail(out, &d));
        }
        AppCommand::QoaConfig {
            name,
            microservice,
            out: None,
        } => {
            let configs = ops.qoa_configs(name, microservice.as_deref()).await?;
            let docs: Vec<_> = configs.iter().map(|(_, c)| c).collect();
            return emit(fmt, &docs, |out| {
                for (stem, c) in &configs {
                    writeln!(out, "---\n# {stem}")?;
                    let text = crate::yaml::to_string(c)
                        .map_err(|e| std::io::Error::other(e.to_string()))?;
                    out.write_all(text.as_bytes())?;
                }
                Ok(())
            });
        }
        AppCommand::Unregister {
            name, yes, dry_run, ..
        } if !yes && !dry_run => {
            confirm(&format!("Unregister application {name}?"), name)?;
        }
        _ => {}
    }
    let Some(req) = request_for(&cmd)? else {
        return Ok(());
    };
    let resp = ops.execute(req).await?;
    print_response(fmt, &resp)
}

fn print_response(fmt: Format, resp: &Response) -> Result<()> {
    emit(fmt, resp, |out| match resp {
        Response::Registered(r) => {
            writeln!(out, "{}", r.message)?;
            if r.dry_run {
                writeln!(out, "(dry run: nothing was stored)")?;
            }
            write_app(out, &r.application)
        }
        Response::Orchestration(o) => {
            if !o.message.is_empty() {
                writeln!(out, "{}", o.message)?;
            }
            match &o.cycle {
                Some(c) => orchestration::write_cycle(out, c),
                None => Ok(()),
            }
        }
        Response::Unregistered(_)
        | Response::Exported(_)
        | Response::Agent(_)
        | Response::ClientRegistered(_)
        | Response::Agents(_) => {
            writeln!(out, "{}", resp.summary())?;
            if let Response::Exported(files) = resp {
                for f in files {
                    writeln!(out, "  {}  ({})", f.path.display(), f.routing_key)?;
                }
            }
            Ok(())
        }
    })
}

fn write_app(out: &mut dyn Write, a: &crate::domain::app::Application) -> std::io::Result<()> {
    kv(
        out,
        &[
            ("application", a.application_name.clone()),
            ("app_id", a.app_id.to_string()),
            ("run_id", a.run_id.clone()),
            ("user_id", a.user_id.clone()),
            ("db", a.db.clone()),
            ("metric collection", a.metric_collection.clone()),
            ("exchange", a.exchange.clone()),
            ("agent binding", a.binding_key.clone()),
            ("client count", a.client_count.to_string()),
            ("registered", a.registered_at.to_rfc3339()),
            ("updated", a.updated_at.to_rfc3339()),
        ],
    )?;
    if a.stages.is_empty() {
        writeln!(out, "routing key        {}", a.app_routing_key())?;
    }
    for s in &a.stages {
        writeln!(
            out,
            "stage {} ({})",
            crate::domain::sanitize::terminal_safe(&s.name),
            s.stage_id
        )?;
        for m in &s.microservices {
            writeln!(
                out,
                "  microservice {} ({})",
                crate::domain::sanitize::terminal_safe(&m.name),
                m.microservice_id
            )?;
            kv(
                out,
                &[
                    ("    instance_id", m.instance_id.to_string()),
                    ("    functionality", m.functionality.clone()),
                    ("    role", m.role.clone()),
                    ("    routing key", m.routing_key.clone()),
                    (
                        "    tags",
                        m.tags
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                ],
            )?;
        }
    }
    Ok(())
}

fn write_detail(out: &mut dyn Write, d: &crate::ops::AppDetail) -> std::io::Result<()> {
    write_app(out, &d.application)?;
    let agent = d.agent.as_ref().map_or("none".to_string(), |a| {
        format!("{:?} ({})", a.state, a.runtime)
    });
    kv(
        out,
        &[
            ("agent", agent),
            ("stored reports", d.stored_reports.to_string()),
        ],
    )?;
    if let Some(r) = &d.registry {
        writeln!(
            out,
            "registry ({} instances, {})",
            r.instances.len(),
            r.backend
        )?;
        if let Some(e) = &r.error {
            writeln!(
                out,
                "  unreachable: {}",
                crate::domain::sanitize::terminal_safe(e)
            )?;
        }
        for i in &r.instances {
            writeln!(
                out,
                "  {}  {}:{}  {}  {}",
                crate::domain::sanitize::terminal_safe(&i.name),
                crate::domain::sanitize::terminal_safe(&i.address),
                i.port,
                crate::domain::sanitize::terminal_safe(&i.health),
                crate::domain::sanitize::terminal_safe(&i.id)
            )?;
        }
    }
    writeln!(out, "history")?;
    for h in &d.history {
        writeln!(
            out,
            "  {}  {:?}  clients={}  run={}  user={}  by {}",
            h.at.format("%Y-%m-%d %H:%M:%S"),
            h.action,
            h.client_count,
            crate::domain::sanitize::terminal_safe(&h.run_id),
            crate::domain::sanitize::terminal_safe(&h.user_id),
            crate::domain::sanitize::terminal_safe(&h.actor)
        )?;
    }
    Ok(())
}

/// Ask on the terminal; in scripts (no terminal) require `--yes`.
pub(crate) fn confirm(question: &str, name: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::invalid("refusing without confirmation")
            .field("--yes")
            .hint("pass --yes in scripts, or --dry-run to see what would be removed"));
    }
    eprint!("{question} Type its name to confirm: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    if line.trim() == name {
        Ok(())
    } else {
        Err(Error::invalid("not confirmed; nothing was changed"))
    }
}
