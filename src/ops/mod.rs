//! Use cases, written once and called by both faces (CLI and TUI).
//!
//! A face turns user input into a [`Request`]; [`Ops::execute`] carries it out and writes the
//! audit log. Because both faces build the same `Request` values, a test can assert that a key
//! press and a command line ask for exactly the same thing.

pub mod agents;
pub mod demo;
pub mod metrics;
pub mod orchestration;
pub mod registration;

use crate::domain::app::{ApplicationSpec, RegistrationEvent};
use crate::domain::qoa4ml::ConnectorSettings;
use crate::error::{Error, Result};
use crate::ports::{AuditEntry, Store};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

pub use agents::{AgentBackends, AgentOutcome, AgentStatus};

/// Wait before retrying a read-modify-write that lost an optimistic-concurrency race: a random
/// time up to 2^attempt ms (at most 64 ms). Retrying at once let a quick writer win every race
/// against a slower one: a scale (read, plan, write) lost eight in a row to node adds in
/// tests/orchestration.rs. Only a conflict waits.
pub(crate) async fn after_conflict(attempt: usize) {
    let cap_us = 1000u64 << attempt.min(6);
    let jitter_us = (uuid::Uuid::new_v4().as_u128() as u64) % (cap_us + 1);
    tokio::time::sleep(std::time::Duration::from_micros(jitter_us)).await;
}
pub use orchestration::{
    CycleReport, NodeView, OrchestrationBackends, OrchestrationOutcome, ServiceView,
};
pub use registration::{
    AppDetail, ExportedConfig, RegisterOutcome, RegistryView, UnregisterOutcome,
};

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
    /// Start the application's observation agent (idempotent).
    AgentStart {
        name: String,
        /// A stream config file (rohe's form or a ROHE start file); else the stored or default one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        config: Option<PathBuf>,
        dry_run: bool,
    },
    AgentStop {
        name: String,
        dry_run: bool,
    },
    AgentRestart {
        name: String,
    },
    /// Replace the agent's stream config (restarting it when it runs).
    AgentConfigure {
        name: String,
        file: PathBuf,
        dry_run: bool,
    },
    /// Add nodes to the inventory, or update known ones (by MAC address).
    NodeAdd {
        file: PathBuf,
        dry_run: bool,
    },
    /// Remove a node; its instances are re-placed at once.
    NodeRemove {
        name: String,
        dry_run: bool,
    },
    /// Keep a node out of placement (`cordoned: true`) or let it take instances again.
    NodeCordon {
        name: String,
        cordoned: bool,
        dry_run: bool,
    },
    /// Simulation only: the node stops and its instances are re-placed.
    NodeFail {
        name: String,
    },
    /// Simulation only: the node is ready again.
    NodeRecover {
        name: String,
    },
    /// Add services, or update known ones (by service_id); `rohe apply` places them.
    ServiceAdd {
        file: PathBuf,
        dry_run: bool,
    },
    /// Remove a service and its cluster objects.
    ServiceRemove {
        app: String,
        service: String,
        force: bool,
        dry_run: bool,
    },
    /// One reconciliation cycle: place, remove, apply the manifests.
    Apply {
        dry_run: bool,
    },
    /// Set a service's replicas and reconcile.
    Scale {
        app: String,
        service: String,
        replicas: u32,
        /// Keep replicas that fit nowhere pending instead of refusing.
        force: bool,
        dry_run: bool,
    },
    /// Set (or replace) a service's autoscaling policy.
    AutoscaleSet {
        policy: crate::domain::inventory::ScalePolicy,
        dry_run: bool,
    },
    /// Remove a service's autoscaling policy.
    AutoscaleRemove {
        app: String,
        service: String,
        dry_run: bool,
    },
    /// A QoA4ML client registering itself (`POST /registration/` of `rohe serve`): register or
    /// re-register the application by name, keeping its stages, and hand back the client's
    /// connector.
    RegisterClient {
        client: registration::ClientRegistration,
    },
    /// Start an agent with a stream config given inline (ROHE's `POST /agent/start` body).
    AgentStartInline {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stream_config: Option<serde_json::Value>,
        dry_run: bool,
    },
    /// Stop every active agent (ROHE's `kill-all`).
    AgentStopAll,
    /// Stop the application's agent and remove its registration (ROHE's `POST /agent/delete`).
    AgentDelete {
        name: String,
    },
    /// Add or update nodes given as a document (ROHE's `add-node` body) instead of a file.
    NodeAddDoc {
        document: serde_json::Value,
        dry_run: bool,
    },
    /// Add or update services given as a document (ROHE's `add-service` body).
    ServiceAddDoc {
        document: serde_json::Value,
        dry_run: bool,
    },
    /// Remove every node; their instances cannot be re-placed.
    NodeRemoveAll {
        dry_run: bool,
    },
    /// Remove every service, releasing their instances.
    ServiceRemoveAll {
        dry_run: bool,
    },
}

impl Request {
    /// The audit log's name for the operation.
    pub fn action(&self) -> &'static str {
        match self {
            Request::RegisterApp { .. } => "app.register",
            Request::UnregisterApp { .. } => "app.unregister",
            Request::ExportQoaConfig { .. } => "app.qoa-config",
            Request::AgentStart { .. } => "agent.start",
            Request::AgentStop { .. } => "agent.stop",
            Request::AgentRestart { .. } => "agent.restart",
            Request::AgentConfigure { .. } => "agent.config",
            Request::NodeAdd { .. } => "node.add",
            Request::NodeRemove { .. } => "node.remove",
            Request::NodeCordon { cordoned: true, .. } => "node.cordon",
            Request::NodeCordon {
                cordoned: false, ..
            } => "node.uncordon",
            Request::NodeFail { .. } => "node.fail",
            Request::NodeRecover { .. } => "node.recover",
            Request::ServiceAdd { .. } => "service.add",
            Request::ServiceRemove { .. } => "service.remove",
            Request::Apply { .. } => "apply",
            Request::Scale { .. } => "scale",
            Request::AutoscaleSet { .. } => "autoscale.set",
            Request::AutoscaleRemove { .. } => "autoscale.remove",
            Request::RegisterClient { .. } => "app.register-client",
            Request::AgentStartInline { .. } => "agent.start",
            Request::AgentStopAll => "agent.stop-all",
            Request::AgentDelete { .. } => "agent.delete",
            Request::NodeAddDoc { .. } => "node.add",
            Request::ServiceAddDoc { .. } => "service.add",
            Request::NodeRemoveAll { .. } => "node.remove-all",
            Request::ServiceRemoveAll { .. } => "service.remove-all",
        }
    }
    pub fn is_dry_run(&self) -> bool {
        matches!(
            self,
            Request::RegisterApp { dry_run: true, .. }
                | Request::UnregisterApp { dry_run: true, .. }
                | Request::AgentStart { dry_run: true, .. }
                | Request::AgentStop { dry_run: true, .. }
                | Request::AgentConfigure { dry_run: true, .. }
                | Request::NodeAdd { dry_run: true, .. }
                | Request::NodeRemove { dry_run: true, .. }
                | Request::NodeCordon { dry_run: true, .. }
                | Request::ServiceAdd { dry_run: true, .. }
                | Request::ServiceRemove { dry_run: true, .. }
                | Request::Apply { dry_run: true, .. }
                | Request::Scale { dry_run: true, .. }
                | Request::AutoscaleSet { dry_run: true, .. }
                | Request::AutoscaleRemove { dry_run: true, .. }
                | Request::AgentStartInline { dry_run: true, .. }
                | Request::NodeAddDoc { dry_run: true, .. }
                | Request::ServiceAddDoc { dry_run: true, .. }
                | Request::NodeRemoveAll { dry_run: true, .. }
                | Request::ServiceRemoveAll { dry_run: true, .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Response {
    Registered(Box<RegisterOutcome>),
    Unregistered(UnregisterOutcome),
    Exported(Vec<ExportedConfig>),
    Agent(AgentOutcome),
    Orchestration(Box<OrchestrationOutcome>),
    ClientRegistered(Box<registration::ClientRegistered>),
    Agents(Vec<AgentOutcome>),
}

impl Response {
    /// One line for status bars and audit entries.
    pub fn summary(&self) -> String {
        match self {
            Response::Registered(r) => r.summary(),
            Response::Unregistered(u) => u.summary(),
            Response::Exported(files) => format!("wrote {} QoA4ML config file(s)", files.len()),
            Response::Agent(a) => a.summary(),
            Response::Orchestration(o) => o.summary(),
            Response::ClientRegistered(c) => c.outcome.summary(),
            Response::Agents(a) => format!("{} agent(s) stopped", a.len()),
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
    pub(crate) agents: Option<AgentBackends>,
    pub(crate) orchestration: Option<orchestration::OrchestrationBackends>,
    actor: String,
    source: Source,
    readonly: bool,
}

impl Ops {
    pub fn new(store: Arc<dyn Store>, connector: ConnectorSettings, source: Source) -> Self {
        Ops {
            store,
            connector,
            agents: None,
            orchestration: None,
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
            Request::AgentStart {
                name,
                config,
                dry_run,
            } => self
                .agent_start(&name, config.as_deref(), dry_run, Some(&audit))
                .await
                .map(Response::Agent),
            Request::AgentStop { name, dry_run } => {
                self.agent_stop(&name, dry_run).await.map(Response::Agent)
            }
            Request::AgentRestart { name } => match self.agent_stop(&name, false).await {
                Ok(_) => self
                    .agent_start(&name, None, false, Some(&audit))
                    .await
                    .map(|mut o| {
                        o.action = "restarted".into();
                        Response::Agent(o)
                    }),
                Err(e) => Err(e),
            },
            Request::AgentConfigure {
                name,
                file,
                dry_run,
            } => self
                .agent_configure(&name, &file, dry_run)
                .await
                .map(Response::Agent),
            Request::RegisterClient { client } => self
                .register_client(&client, Some(&audit))
                .await
                .map(|r| Response::ClientRegistered(Box::new(r))),
            Request::AgentStartInline {
                name,
                stream_config,
                dry_run,
            } => self
                .agent_start_inline(&name, stream_config.as_ref(), dry_run)
                .await
                .map(Response::Agent),
            Request::AgentStopAll => self.agent_stop_all().await.map(Response::Agents),
            Request::AgentDelete { name } => match self.agent_stop(&name, false).await {
                Ok(_) => self
                    .unregister(&name, false, true, false, Some(&audit))
                    .await
                    .map(Response::Unregistered),
                Err(e) => Err(e),
            },
            other => self
                .execute_orchestration(other)
                .await
                .map(|o| Response::Orchestration(Box::new(o))),
        };
        // Store changes were recorded in the same transaction as the change itself.
        let already_recorded = matches!(
            result,
            Ok(Response::Registered(_) | Response::Unregistered(_) | Response::ClientRegistered(_))
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

    /// Audit an operation that is not a [`Request`] (registry changes): its outcome, in one line.
    pub async fn record<T>(
        &self,
        action: &str,
        result: &Result<T>,
        what: impl FnOnce() -> String,
    ) -> Result<()> {
        if self.readonly {
            return Err(
                Error::conflict(format!("{action} is refused: rohe runs read-only"))
                    .hint("restart without --readonly to change state"),
            );
        }
        let entry = match result {
            Ok(_) => self.audit_entry(action, true, what()),
            Err(e) => self.audit_entry(action, false, e.to_string()),
        };
        self.store.append_audit(&entry).await.map(|_| ())
    }

    /// An audit entry for an operation that is not a [`Request`] (orchestrator start/stop).
    pub(crate) fn audit_entry(&self, action: &str, ok: bool, result: String) -> AuditEntry {
        AuditEntry {
            seq: 0,
            at: Utc::now(),
            actor: self.actor.clone(),
            source: self.source.as_str().into(),
            action: action.into(),
            args: serde_json::Value::Null,
            ok,
            result,
        }
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
