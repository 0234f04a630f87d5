//! What the UI task reacts to ([`Event`]) and what it asks the runtime to do ([`Effect`]).
//!
//! Input, ticks and the results of background work all arrive as events on one channel; the
//! reducer ([`super::app::App::update`]) turns each into state changes and effects. Effects are
//! data, so tests can assert exactly which `ops::Request` a key sequence produces.

use crate::domain::app::{AppSummary, ApplicationSpec};
use crate::ops::demo::DemoStats;
use crate::ops::metrics::MetricsView;
use crate::ops::orchestration::CycleReport;
use crate::ops::{AgentStatus, AppDetail, Request, Response};
use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

#[derive(Debug, Clone)]
pub enum Event {
    Key(KeyEvent),
    /// Bracketed paste.
    Paste(String),
    Resize(u16, u16),
    /// The clock: drives refreshes, retries and data ages.
    Tick(Instant),
    /// The application list: summaries (the detail of one is loaded on its own).
    AppsLoaded(Result<Vec<AppSummary>, String>),
    /// Every agent with its real state and health (`Ops::agent_status`).
    AgentsLoaded(Result<Vec<AgentStatus>, String>),
    /// What finding the agents again at start changed (`Ops::adopt_agents`).
    AgentsAdopted(Result<Vec<String>, String>),
    /// Whether a `rohe serve` is running on this store (`serve::status`).
    ServeChecked(Option<crate::serve::ServeStatus>),
    /// An agent's last log lines.
    AgentLogs {
        name: String,
        result: Result<Vec<String>, String>,
    },
    /// The inventory's nodes with the cluster's readiness (the Nodes tab).
    NodesLoaded(Result<super::tabs::nodes::NodesData, String>),
    /// Every service with its placement and pods (the Deployments tab).
    DeploymentsLoaded(Result<Vec<super::tabs::deployments::DeploymentRow>, String>),
    /// A reconciliation previewed (`rohe plan`), to show or to confirm before applying.
    PlanLoaded {
        purpose: PlanPurpose,
        result: Result<Box<CycleReport>, String>,
    },
    /// A metrics summary for the Metrics tab.
    MetricsLoaded {
        name: String,
        range: MetricsRange,
        result: Result<Box<MetricsView>, String>,
    },
    /// The demo pipeline of an application published more (about once a second).
    DemoProgress {
        name: String,
        stats: DemoStats,
    },
    /// The demo pipeline of an application ended (stopped, or failed).
    DemoFinished {
        name: String,
        result: Result<DemoStats, String>,
    },
    DetailLoaded {
        name: String,
        result: Result<Box<AppDetail>, String>,
    },
    /// An application description file was read and validated (or not).
    SpecLoaded {
        path: PathBuf,
        purpose: SpecPurpose,
        result: Result<ApplicationSpec, String>,
    },
    /// A state-changing operation finished.
    OpFinished {
        action: &'static str,
        result: Result<Response, String>,
    },
    /// Candidates for a path being typed.
    PathCompleted {
        target: CompletionTarget,
        value: String,
        candidates: Vec<String>,
    },
    /// Text for the text view (e.g. `:app qoa-config NAME`).
    TextLoaded {
        title: String,
        result: Result<String, String>,
    },
    /// Quit from outside (a signal).
    Shutdown(&'static str),
}

/// Why a plan is previewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanPurpose {
    /// Show it (`p`, `:plan`).
    Preview,
    /// Ask to apply it, showing what it does (`A`, `:apply`).
    Apply,
}

/// Why a description file is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecPurpose {
    /// Inline validation of the register form's file field.
    FormCheck,
    /// The form was submitted: register when valid.
    FormSubmit,
    /// `:app register FILE`.
    Command { dry_run: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionTarget {
    /// The focused field of the open form.
    FormField(usize),
    /// The last word of the command line.
    CommandLine,
}

/// The time range of a metrics query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsRange {
    /// The last `minutes` up to now, refreshed (the range moves with the clock).
    Live { minutes: u32 },
    /// A fixed range: the view is frozen on it.
    History {
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    LoadApps,
    /// `Ops::agent_status(None)`.
    LoadAgents,
    /// `Ops::adopt_agents()`, once at start.
    AdoptAgents,
    /// `serve::status(store)`: is a `rohe serve` running on this store? (the status bar)
    CheckServe,
    /// `Ops::agent_logs(name, 200)`.
    LoadAgentLogs(String),
    /// `Ops::nodes_view` with the cluster's kind.
    LoadNodes,
    /// `Ops::services_view(None)` with the cluster's pods of each service.
    LoadDeployments,
    /// `Request::Apply { dry_run: true }` through `Ops::execute`, as `rohe plan` does.
    LoadPlan(PlanPurpose),
    /// `Ops::metrics_view` of one application over a range.
    LoadMetrics {
        name: String,
        range: MetricsRange,
    },
    /// Run the demo pipeline of an application inside this process (one per application).
    StartDemo {
        name: String,
        rate: f64,
    },
    StopDemo(String),
    LoadDetail(String),
    LoadSpec {
        path: PathBuf,
        purpose: SpecPurpose,
    },
    /// Run a state-changing operation through `Ops::execute` (and so the audit log).
    Execute(Request),
    CompletePath {
        target: CompletionTarget,
        value: String,
    },
    LoadQoaConfigs {
        name: String,
        microservice: Option<String>,
    },
    /// Put text on the clipboard with OSC 52 (works over SSH).
    Copy(String),
    Quit,
}

/// Read terminal input on a thread of its own and forward it as events. Polls so that it can
/// stop promptly when `stop` is set, before the terminal is handed back to the shell.
pub fn spawn_input_thread(
    tx: UnboundedSender<Event>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("rohe-input".into())
        .spawn(move || {
            use crossterm::event::{self, Event as CtEvent, KeyEventKind};
            while !stop.load(Ordering::Relaxed) {
                match event::poll(Duration::from_millis(50)) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::error!(error = %e, "reading terminal input failed");
                        let _ = tx.send(Event::Shutdown("the terminal input failed"));
                        return;
                    }
                }
                let ev = match event::read() {
                    Ok(ev) => ev,
                    Err(e) => {
                        tracing::error!(error = %e, "reading terminal input failed");
                        let _ = tx.send(Event::Shutdown("the terminal input failed"));
                        return;
                    }
                };
                let out = match ev {
                    CtEvent::Key(k) if k.kind != KeyEventKind::Release => Event::Key(k),
                    CtEvent::Resize(w, h) => Event::Resize(w, h),
                    CtEvent::Paste(s) => Event::Paste(s),
                    _ => continue,
                };
                if tx.send(out).is_err() {
                    return;
                }
            }
        })
}
