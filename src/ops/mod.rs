//! Use cases, written once and called by both faces (CLI and TUI).
//!
//! A face turns user input into a [`Request`]; [`Ops::execute`] carries it out and writes the
//! audit log. Because both faces build the same `Request` values, a test can assert that a key
//! press and a command line ask for exactly the same thing.

pub mod registration;

use crate::domain::app::{ApplicationSpec, RegistrationEvent};
use crate::domain::qoa4ml::ConnectorSettings;
use crate::error::{Error, Result};
use crate::ports::{AuditEntry, Store};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

pub use registration::{AppDetail, ExportedConfig, RegisterOutcome, UnregisterOutcome};

/// Where a request came from, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Cli,
    Tui,
    Serve,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cli => "cli",
            Source::Tui => "tui",
            Source::Serve => "serve",
        }
    }
}

/// Every state-changing operation, as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    RegisterApp {
        spec: ApplicationSpec,
        /// The description file, when it came from one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<PathBuf>,
        dry_run: bool,
    },
    UnregisterApp {
        name: String,
        purge: bool,
        force: bool,
        dry_run: bool,
    },
    ExportQoaConfig {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        microservice: Option<String>,
        out_dir: PathBuf,
    },
}

impl Request {
    /// The audit log's name for the operation.
    pub fn action(&self) -> &'static str {
        match self {
            Request::RegisterApp { .. } => "app.register",
            Request::UnregisterApp { .. } => "app.unregister",
            Request::ExportQoaConfig { .. } => "app.qoa-config",
        }
    }
    pub fn is_dry_run(&self) -> bool {
        matches!(
            self,
            Request::RegisterApp { dry_run: true, .. }
                | Request::UnregisterApp { dry_run: true, .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Response {
    Registered(Box<RegisterOutcome>),
    Unregistered(UnregisterOutcome),
    Exported(Vec<ExportedConfig>),
}

impl Response {
    /// One line for status bars and audit entries.
    pub fn summary(&self) -> String {
        match self {
            Response::Registered(r) => r.summary(),
            Response::Unregistered(u) => u.summary(),
            Response::Exported(files) => format!("wrote {} QoA4ML config file(s)", files.len()),
        }
    }
}

/// The identity written to the audit log: `$USER@host`.
pub fn current_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    format!("{user}@{host}")
}

/// The use cases, bound to one set of backends.
#[derive(Clone)]
pub struct Ops {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) connector: ConnectorSettings,
    actor: String,
    source: Source,
    readonly: bool,
}

impl Ops {
    pub fn new(store: Arc<dyn Store>, connector: ConnectorSettings, source: Source) -> Self {
        Ops {
            store,
            connector,
            actor: current_actor(),
            source,
            readonly: false,
        }
    }

    pub fn readonly(mut self, readonly: bool) -> Self {
        self.readonly = readonly;
        self
    }

    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }

    pub fn is_readonly(&self) -> bool {
        self.readonly
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn connector(&self) -> &ConnectorSettings {
        &self.connector
    }

    /// Carry out a state-changing request and record it in the audit log. A change to the
    /// store commits together with its audit entry; failures and file exports are appended
    /// afterwards; dry runs are not recorded (they change nothing).
    pub async fn execute(&self, req: Request) -> Result<Response> {
        if self.readonly && !req.is_dry_run() && !matches!(req, Request::ExportQoaConfig { .. }) {
            return Err(Error::conflict(format!(
                "{} is refused: rohe runs read-only",
                req.action()
            ))
            .hint("restart without --readonly (or console.readonly: false) to change state"));
        }
        let action = req.action();
        let dry_run = req.is_dry_run();
        let audit = AuditCtx {
            ops: self,
            action,
            args: audit_args(&req),
        };
        let result = match req {
            Request::RegisterApp { spec, dry_run, .. } => self
                .register(&spec, dry_run, Some(&audit))
                .await
                .map(|r| Response::Registered(Box::new(r))),
            Request::UnregisterApp {
                name,
                purge,
                force,
                dry_run,
            } => self
                .unregister(&name, purge, force, dry_run, Some(&audit))
                .await
                .map(Response::Unregistered),
            Request::ExportQoaConfig {
                name,
                microservice,
                out_dir,
            } => self
                .export_qoa_configs(&name, microservice.as_deref(), &out_dir)
                .await
                .map(Response::Exported),
        };
        // Store changes were recorded in the same transaction as the change itself.
        let already_recorded = matches!(
            result,
            Ok(Response::Registered(_) | Response::Unregistered(_))
        );
        if !dry_run && !already_recorded {
            let entry = match &result {
                Ok(r) => audit.entry(true, r.summary()),
                Err(e) => audit.entry(false, e.to_string()),
            };
            // The operation has happened; losing its audit line must not turn success into
            // failure, but it must not pass silently either.
            if let Err(e) = self.store.append_audit(&entry).await {
                tracing::error!(error = %e, action, "could not write the audit log");
                if result.is_ok() {
                    return Err(Error::runtime(format!(
                        "{action} succeeded but the audit log could not be written: {e}"
                    )));
                }
            }
        }
        result
    }

    pub async fn list_audit(
        &self,
        since: Option<chrono::DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        self.store.list_audit(since, limit).await
    }

    pub(crate) fn event(
        &self,
        action: crate::domain::app::RegistrationAction,
        app: &crate::domain::app::Application,
    ) -> RegistrationEvent {
        RegistrationEvent {
            at: app.updated_at,
            action,
            client_count: app.client_count,
            run_id: app.run_id.clone(),
            user_id: app.user_id.clone(),
            actor: self.actor.clone(),
        }
    }
}

/// What an audit entry needs besides the result: who, from where, what, with which arguments.
pub(crate) struct AuditCtx<'a> {
    ops: &'a Ops,
    action: &'static str,
    args: serde_json::Value,
}

impl AuditCtx<'_> {
    pub(crate) fn entry(&self, ok: bool, result: String) -> AuditEntry {
        AuditEntry {
            seq: 0,
            at: Utc::now(),
            actor: self.ops.actor.clone(),
            source: self.ops.source.as_str().into(),
            action: self.action.into(),
            args: self.args.clone(),
            ok,
            result,
        }
    }
}

/// The request's arguments for the audit log, with secrets removed. An application
/// description is summarised (its name and file), not copied whole.
fn audit_args(req: &Request) -> serde_json::Value {
    match req {
        Request::RegisterApp {
            spec,
            file,
            dry_run,
        } => serde_json::json!({
            "application_name": spec.application_name,
            "run_id": spec.run_id,
            "user_id": spec.user_id,
            "stages": spec.stages.len(),
            "file": file,
            "dry_run": dry_run,
        }),
        other => {
            let mut v = serde_json::to_value(other).unwrap_or(serde_json::Value::Null);
            if let Some(m) = v.as_object_mut() {
                m.remove("op");
            }
            v
        }
    }
}
