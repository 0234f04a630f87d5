//! Observation agent management: start (idempotent), stop, restart, status, logs, config.
//!
//! The store keeps each agent's record: its desired state, the stream config it runs with
//! (persisted *before* it starts, so a crash between the two leaves a record that says what
//! was meant), the runtime and its handle, and the agent's last health report. A runtime only
//! runs processes or tasks; status compares the record with what the runtime says.

use super::{AuditCtx, Ops};
use crate::agent::AgentHealth;
use crate::domain::app::Application;
use crate::domain::stream::{self, StreamConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::ports::runtime::Runtime;
use crate::ports::{AgentRecord, AgentState, Bus};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The agent machinery an [`Ops`] can drive.
#[derive(Clone)]
pub struct AgentBackends {
    pub bus: Arc<dyn Bus>,
    pub runtime: Arc<dyn Runtime>,
    /// This process stays up to host in-process agents (the console, `rohe demo`). A one-shot
    /// command must not start an in-process agent: it would die with the command.
    pub hosts_agents: bool,
    pub stop_timeout: Duration,
}

/// What a start, stop, restart or config change did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentOutcome {
    pub application_name: String,
    /// `started`, `already_running`, `stopped`, `not_running`, `restarted`, `configured`,
    /// or `would_*` for a dry run.
    pub action: String,
    pub state: AgentState,
    pub runtime: String,
    pub handle: String,
    /// Where the stream config came from: a file, the stored record, or the default.
    pub config_source: String,
    /// For a ROHE start file: what was carried over and what was left out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mapped: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
}

impl AgentOutcome {
    pub fn summary(&self) -> String {
        let what = self.action.replace('_', " ");
        if self.handle.is_empty() {
            format!("agent of {}: {what}", self.application_name)
        } else {
            format!(
                "agent of {}: {what} ({} {})",
                self.application_name, self.runtime, self.handle
            )
        }
    }
}

/// An agent as `rohe agent status` and the Agents tab show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentStatus {
    pub application_name: String,
    /// What the record says was asked for.
    pub desired: AgentState,
    /// What is true: `running`, `stopped`, or `failed` when it should run and does not.
    pub state: AgentState,
    /// Why the state differs from the desired one, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub runtime: String,
    pub handle: String,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<AgentHealth>,
}

/// A stream config read from a file, with what an import mapped and ignored.
pub struct ConfigFile {
    pub config: StreamConfig,
    pub source: String,
    pub mapped: Vec<String>,
    pub ignored: Vec<String>,
}

/// Where a stream config given to `agent start` comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum GivenConfig<'a> {
    File(&'a Path),
    /// ROHE's `stream_config` object of a `POST /agent/start` body, for the named application.
    Inline(&'a str, &'a serde_json::Value),
}

impl GivenConfig<'_> {
    fn read(self) -> Result<ConfigFile> {
        match self {
            GivenConfig::File(p) => read_config_file(p),
            GivenConfig::Inline(app, v) => {
                let doc = serde_json::json!({ "application_name": app, "stream_config": v });
                read_config_text(&doc.to_string(), super::orchestration::REQUEST_BODY)
            }
        }
    }
}

/// Read a stream config file in rohe's clean form or as a ROHE agent start file.
pub fn read_config_file(path: &Path) -> Result<ConfigFile> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::invalid(format!("cannot read {shown}: {e}"))
            .field("--config-file")
            .hint("give a stream config (example/agents/cctvs.yaml) or a ROHE agent start file")
    })?;
    read_config_text(&text, &shown)
}

/// Read a stream config given as text (`shown` names it in errors).
pub fn read_config_text(text: &str, shown: &str) -> Result<ConfigFile> {
    let shown = shown.to_string();
    let loaded = stream::load(text, &shown)?;
    let config = loaded.config().clone();
    config.validate()?;
    Ok(match loaded {
        stream::Loaded::Clean(_) => ConfigFile {
            config,
            source: shown,
            mapped: vec![],
            ignored: vec![],
        },
        stream::Loaded::Rohe(r) => ConfigFile {
            config,
            source: format!("{shown} (ROHE start file)"),
            mapped: r.mapped,
            ignored: r.ignored,
        },
    })
}

/// The default stream config of an application: per-stage latency, end-to-end latency,
/// confidence and accuracy, with LOF as ROHE runs it.
pub fn default_config(app: &Application) -> StreamConfig {
    let stages: Vec<String> = app.stages.iter().map(|s| s.name.clone()).collect();
    StreamConfig::default_for_app(&app.application_name, &stages)
}

fn check_app_name(cfg: &StreamConfig, app: &str) -> Result<()> {
    match &cfg.application_name {
        Some(n) if n != app => Err(Error::invalid(format!(
            "the stream config is for application {n:?}, not {app:?}"
        ))
        .field("application_name")
        .hint("use the application's own config, or remove application_name from the file")),
        _ => Ok(()),
    }
}

impl Ops {
    pub fn with_agents(mut self, agents: AgentBackends) -> Self {
        self.agents = Some(agents);
        self
    }

    pub fn agents(&self) -> Result<&AgentBackends> {
        self.agents
            .as_ref()
            .ok_or_else(|| Error::runtime("this rohe process was opened without an agent runtime"))
    }

    fn hosting_runtime(&self) -> Result<&AgentBackends> {
        let a = self.agents()?;
        if a.runtime.kind() == "inprocess" && !a.hosts_agents {
            return Err(Error::conflict(
                "the in-process bus (bus.backend: memory) only reaches agents inside one rohe process, and this command exits when done",
            )
            .field("bus.backend")
            .hint("start the agent from the console (`rohe`, Agents tab), run `rohe demo --app NAME` (agent and demo in one process), or set bus.backend: amqp to run agents as their own processes"));
        }
        Ok(a)
    }

    /// The stream config an agent would start with, and where it comes from.
    async fn resolve_config(
        &self,
        app: &Application,
        given: Option<GivenConfig<'_>>,
        record: Option<&AgentRecord>,
    ) -> Result<ConfigFile> {
        if let Some(given) = given {
            let f = given.read()?;
            check_app_name(&f.config, &app.application_name)?;
            return Ok(f);
        }
        if let Some(rec) = record
            && !rec.config.is_null()
        {
            match serde_json::from_value::<StreamConfig>(rec.config.clone()) {
                Ok(c) if c.validate().is_ok() => {
                    return Ok(ConfigFile {
                        config: c,
                        source: "stored".into(),
                        mapped: vec![],
                        ignored: vec![],
                    });
                }
                _ => tracing::warn!(
                    app = %app.application_name,
                    "the stored stream config is unreadable; using the default"
                ),
            }
        }
        Ok(ConfigFile {
            config: default_config(app),
            source: "default".into(),
            mapped: vec![],
            ignored: vec![],
        })
    }

    /// Write the record, retrying on a concurrent change by re-reading it.
    async fn put_record(
        &self,
        name: &str,
        mut f: impl FnMut(Option<AgentRecord>) -> AgentRecord,
    ) -> Result<()> {
        for attempt in 0..10 {
            let cur = self.store.get_agent(name).await?;
            let (value, version) = match cur {
                Some(v) => (f(Some(v.value)), Some(v.version)),
                None => (f(None), None),
            };
            match self.store.put_agent(&value, version).await {
                Ok(_) => return Ok(()),
                Err(e) if e.kind == ErrorKind::Conflict => {
                    super::after_conflict(attempt).await;
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::conflict("the agent's record kept changing; retry"))
    }

    pub(crate) async fn agent_start(
        &self,
        name: &str,
        file: Option<&Path>,
        dry_run: bool,
        _audit: Option<&AuditCtx<'_>>,
    ) -> Result<AgentOutcome> {
        self.agent_start_with(name, file.map(GivenConfig::File), dry_run)
            .await
    }

    /// Start with ROHE's inline `stream_config` (or the stored or default one when `None`).
    pub(crate) async fn agent_start_inline(
        &self,
        name: &str,
        stream_config: Option<&serde_json::Value>,
        dry_run: bool,
    ) -> Result<AgentOutcome> {
        let given = stream_config.map(|v| GivenConfig::Inline(name, v));
        self.agent_start_with(name, given, dry_run).await
    }

    /// Stop every active agent; the outcome of each one stopped.
    pub(crate) async fn agent_stop_all(&self) -> Result<Vec<AgentOutcome>> {
        let mut out = Vec::new();
        for rec in self.store.list_agents().await? {
            if rec.state.is_active() {
                out.push(self.agent_stop(&rec.application_name, false).await?);
            }
        }
        Ok(out)
    }

    async fn agent_start_with(
        &self,
        name: &str,
        given: Option<GivenConfig<'_>>,
        dry_run: bool,
    ) -> Result<AgentOutcome> {
        let app = self.get_app(name).await?;
        let backends = self.hosting_runtime()?;
        let runtime = &backends.runtime;
        let record = self.store.get_agent(name).await?.map(|v| v.value);
        let cfg = self.resolve_config(&app, given, record.as_ref()).await?;
        if let Some(rec) = &record
            && rec.state.is_active()
            && rec.runtime == runtime.kind()
            && runtime.is_running(name, &rec.handle).await?
        {
            return Ok(AgentOutcome {
                application_name: name.into(),
                action: if dry_run {
                    "would_do_nothing"
                } else {
                    "already_running"
                }
                .into(),
                state: AgentState::Running,
                runtime: rec.runtime.clone(),
                handle: rec.handle.clone(),
                config_source: cfg.source,
                mapped: cfg.mapped,
                ignored: cfg.ignored,
            });
        }
        if dry_run {
            return Ok(AgentOutcome {
                application_name: name.into(),
                action: "would_start".into(),
                state: AgentState::Stopped,
                runtime: runtime.kind().into(),
                handle: String::new(),
                config_source: cfg.source,
                mapped: cfg.mapped,
                ignored: cfg.ignored,
            });
        }
        let config_json = serde_json::to_value(&cfg.config)
            .map_err(|e| Error::runtime(format!("encoding the stream config: {e}")))?;
        // The config is persisted before the agent starts.
        let kind = runtime.kind().to_string();
        let base = |prev: Option<AgentRecord>, state, handle: &str| AgentRecord {
            application_name: name.into(),
            app_id: app.app_id,
            state,
            runtime: kind.clone(),
            handle: handle.into(),
            updated_at: Utc::now(),
            config: config_json.clone(),
            health: prev.and_then(|p| p.health),
        };
        self.put_record(name, |prev| base(prev, AgentState::Starting, ""))
            .await?;
        let handle = match runtime.start(&app, &cfg.config).await {
            Ok(h) => h,
            Err(e) => {
                let _ = self
                    .put_record(name, |prev| base(prev, AgentState::Failed, ""))
                    .await;
                return Err(e);
            }
        };
        self.put_record(name, |prev| base(prev, AgentState::Running, &handle))
            .await?;
        Ok(AgentOutcome {
            application_name: name.into(),
            action: "started".into(),
            state: AgentState::Running,
            runtime: kind,
            handle,
            config_source: cfg.source,
            mapped: cfg.mapped,
            ignored: cfg.ignored,
        })
    }

    pub(crate) async fn agent_stop(&self, name: &str, dry_run: bool) -> Result<AgentOutcome> {
        let backends = self.agents()?;
        let Some(rec) = self.store.get_agent(name).await?.map(|v| v.value) else {
            // Unknown app or never started: say which.
            self.get_app(name).await?;
            return Ok(AgentOutcome {
                application_name: name.into(),
                action: "not_running".into(),
                state: AgentState::Stopped,
                runtime: backends.runtime.kind().into(),
                handle: String::new(),
                config_source: String::new(),
                mapped: vec![],
                ignored: vec![],
            });
        };
        let outcome = |action: &str, state| AgentOutcome {
            application_name: name.into(),
            action: action.into(),
            state,
            runtime: rec.runtime.clone(),
            handle: rec.handle.clone(),
            config_source: "stored".into(),
            mapped: vec![],
            ignored: vec![],
        };
        if dry_run {
            return Ok(outcome(
                if rec.state.is_active() {
                    "would_stop"
                } else {
                    "would_do_nothing"
                },
                rec.state,
            ));
        }
        if rec.runtime != backends.runtime.kind() {
            return Err(Error::conflict(format!(
                "the agent of {name} runs on the {} runtime, and this rohe uses {}",
                rec.runtime,
                backends.runtime.kind()
            ))
            .hint("use the same bus.backend as the rohe that started it"));
        }
        let was_active = rec.state.is_active();
        self.put_record(name, |prev| {
            let mut r = prev.unwrap_or_else(|| rec.clone());
            r.state = AgentState::Stopping;
            r.updated_at = Utc::now();
            r
        })
        .await?;
        let stopped = backends
            .runtime
            .stop(name, &rec.handle, backends.stop_timeout)
            .await;
        self.put_record(name, |prev| {
            let mut r = prev.unwrap_or_else(|| rec.clone());
            r.state = AgentState::Stopped;
            r.updated_at = Utc::now();
            if let Some(h) = r.health.as_mut() {
                h.connected = false;
            }
            r
        })
        .await?;
        stopped?;
        Ok(outcome(
            if was_active { "stopped" } else { "not_running" },
            AgentState::Stopped,
        ))
    }

    pub(crate) async fn agent_configure(
        &self,
        name: &str,
        file: &Path,
        dry_run: bool,
    ) -> Result<AgentOutcome> {
        let app = self.get_app(name).await?;
        let cfg = read_config_file(file)?;
        check_app_name(&cfg.config, name)?;
        let record = self.store.get_agent(name).await?.map(|v| v.value);
        let running = record.as_ref().is_some_and(|r| r.state.is_active());
        if dry_run {
            return Ok(AgentOutcome {
                application_name: name.into(),
                action: if running {
                    "would_configure_and_restart"
                } else {
                    "would_configure"
                }
                .into(),
                state: record.as_ref().map_or(AgentState::Stopped, |r| r.state),
                runtime: record
                    .as_ref()
                    .map(|r| r.runtime.clone())
                    .unwrap_or_default(),
                handle: record
                    .as_ref()
                    .map(|r| r.handle.clone())
                    .unwrap_or_default(),
                config_source: cfg.source,
                mapped: cfg.mapped,
                ignored: cfg.ignored,
            });
        }
        if running {
            self.agent_stop(name, false).await?;
            let mut out = self.agent_start(name, Some(file), false, None).await?;
            out.action = "configured_and_restarted".into();
            return Ok(out);
        }
        let config_json = serde_json::to_value(&cfg.config)
            .map_err(|e| Error::runtime(format!("encoding the stream config: {e}")))?;
        let kind = self
            .agents
            .as_ref()
            .map(|a| a.runtime.kind().to_string())
            .unwrap_or_default();
        self.put_record(name, |prev| match prev {
            Some(mut r) => {
                r.config = config_json.clone();
                r.updated_at = Utc::now();
                r
            }
            None => AgentRecord {
                application_name: name.into(),
                app_id: app.app_id,
                state: AgentState::Stopped,
                runtime: kind.clone(),
                handle: String::new(),
                updated_at: Utc::now(),
                config: config_json.clone(),
                health: None,
            },
        })
        .await?;
        Ok(AgentOutcome {
            application_name: name.into(),
            action: "configured".into(),
            state: AgentState::Stopped,
            runtime: kind,
            handle: String::new(),
            config_source: cfg.source,
            mapped: cfg.mapped,
            ignored: cfg.ignored,
        })
    }

    /// Every agent (or one), with its real state.
    pub async fn agent_status(&self, name: Option<&str>) -> Result<Vec<AgentStatus>> {
        let records = match name {
            Some(n) => match self.store.get_agent(n).await? {
                Some(v) => vec![v.value],
                None => {
                    self.get_app(n).await?;
                    vec![]
                }
            },
            None => self.store.list_agents().await?,
        };
        let mut out = Vec::with_capacity(records.len());
        for rec in records {
            out.push(self.status_of(rec).await);
        }
        Ok(out)
    }

    async fn status_of(&self, rec: AgentRecord) -> AgentStatus {
        let runtime = self.agents.as_ref().map(|a| &a.runtime);
        let (state, reason) = if !rec.state.is_active() {
            (rec.state, None)
        } else {
            match runtime {
                Some(rt) if rt.kind() == rec.runtime => {
                    match rt.is_running(&rec.application_name, &rec.handle).await {
                        Ok(true) => (AgentState::Running, None),
                        Ok(false) => (
                            AgentState::Failed,
                            Some(format!("{} {} is gone", rec.runtime, rec.handle)),
                        ),
                        Err(e) => (rec.state, Some(format!("cannot check: {e}"))),
                    }
                }
                _ => (
                    rec.state,
                    Some(format!("runs on the {} runtime; not checked", rec.runtime)),
                ),
            }
        };
        let live = runtime.and_then(|rt| rt.live_health(&rec.application_name));
        AgentStatus {
            application_name: rec.application_name,
            desired: rec.state,
            state,
            reason,
            runtime: rec.runtime,
            handle: rec.handle,
            updated_at: rec.updated_at,
            health: live.or(rec.health),
        }
    }

    pub async fn agent_logs(&self, name: &str, lines: usize) -> Result<Vec<String>> {
        let backends = self.agents()?;
        let Some(rec) = self.store.get_agent(name).await?.map(|v| v.value) else {
            self.get_app(name).await?;
            return Ok(vec![]);
        };
        if rec.runtime == "inprocess"
            && rec.handle != crate::adapters::embedded::InProcessRuntime::handle()
            && !rec.handle.is_empty()
        {
            return Err(Error::conflict(format!(
                "the agent of {name} runs inside another rohe process ({})",
                rec.handle
            ))
            .hint("its log is in that console's Agents tab (l)"));
        }
        backends.runtime.logs(name, &rec.handle, lines).await
    }

    /// Find agents again after a restart: a running agent is adopted as it is; an in-process
    /// agent whose process is gone and that should run is started again here (when this
    /// process hosts agents); any other agent that should run and does not is marked failed.
    /// Returns one line per agent that changed.
    pub async fn adopt_agents(&self) -> Result<Vec<String>> {
        let Some(backends) = self.agents.clone() else {
            return Ok(vec![]);
        };
        let mut notes = Vec::new();
        for rec in self.store.list_agents().await? {
            if !rec.state.is_active() || rec.runtime != backends.runtime.kind() {
                continue;
            }
            let name = rec.application_name.clone();
            if backends.runtime.is_running(&name, &rec.handle).await? {
                continue;
            }
            if rec.runtime == "inprocess" && backends.hosts_agents {
                match self.agent_start(&name, None, false, None).await {
                    Ok(_) => notes.push(format!("restarted the agent of {name}")),
                    Err(e) => notes.push(format!("cannot restart the agent of {name}: {e}")),
                }
            } else {
                self.put_record(&name, |prev| {
                    let mut r = prev.unwrap_or_else(|| rec.clone());
                    r.state = AgentState::Failed;
                    r.updated_at = Utc::now();
                    r
                })
                .await?;
                notes.push(format!("the agent of {name} ({}) is gone", rec.handle));
            }
        }
        Ok(notes)
    }
}
