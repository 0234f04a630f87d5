//! The console's state and its reducer. [`App::update`] is pure: it takes one [`Event`],
//! changes the state and returns the [`Effect`]s to carry out (loads, `ops::Request`s, the
//! clipboard). No I/O happens here, so key sequences can be tested without a terminal.

use super::command::{self, Command, Completion};
use super::event::{CompletionTarget, Effect, Event, MetricsRange, PlanPurpose, SpecPurpose};
use super::keymap::{Action, Context, Key, Keymap, Layer, REGISTRY};
use super::tabs::deployments::DeploymentRow;
use super::tabs::metrics::series_order;
use super::tabs::nodes::NodesData;
use crate::cli::AppCommand;
use crate::domain::app::{AppSummary, ApplicationSpec};
use crate::domain::sanitize::terminal_safe;
use crate::ops::metrics::MetricsView;
use crate::ops::{AgentStatus, AppDetail, Request, Response};
use crate::ports::AgentState;
use chrono::{DateTime, Utc};
use crossterm::event::{Event as CtEvent, KeyCode, KeyEvent, KeyModifiers};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

/// The detail pane sits beside the table from this width on; below it collapses.
pub const SIDE_PANE_MIN_WIDTH: u16 = 120;
/// The Agents tab's table is wider: its detail pane needs more room beside it.
pub const AGENTS_SIDE_PANE_MIN_WIDTH: u16 = 160;
/// So are the Nodes and Deployments tabs' tables (bars, placements).
pub const CLUSTER_SIDE_PANE_MIN_WIDTH: u16 = 160;
/// Longest wait between retries of a failing backend.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Reports per second the demo pipeline publishes.
pub const DEMO_RATE: f64 = 10.0;
/// Log lines the agent log view shows.
pub const AGENT_LOG_LINES: usize = 200;
/// The live ranges of the Metrics tab, in minutes; the range key cycles through them.
pub const LIVE_RANGES: [u32; 4] = [1, 5, 15, 60];
/// The live range the Metrics tab opens with (5 minutes).
pub const DEFAULT_LIVE: usize = 1;
/// How often the console looks for a `rohe serve` on its store (the status bar item).
pub const SERVE_CHECK_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Applications,
    Agents,
    Nodes,
    Deployments,
    Metrics,
}

impl Tab {
    pub const ALL: [Tab; 5] = [
        Tab::Applications,
        Tab::Agents,
        Tab::Nodes,
        Tab::Deployments,
        Tab::Metrics,
    ];
    pub fn title(self) -> &'static str {
        match self {
            Tab::Applications => "Applications",
            Tab::Agents => "Agents",
            Tab::Nodes => "Nodes",
            Tab::Deployments => "Deployments",
            Tab::Metrics => "Metrics",
        }
    }
    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
    fn has_rows(self) -> bool {
        matches!(
            self,
            Tab::Applications | Tab::Agents | Tab::Nodes | Tab::Deployments
        )
    }
    /// The keymap layer of the tab's own keys.
    pub fn layer(self) -> Option<Layer> {
        match self {
            Tab::Applications => Some(Layer::Applications),
            Tab::Agents => Some(Layer::Agents),
            Tab::Nodes => Some(Layer::Nodes),
            Tab::Deployments => Some(Layer::Deployments),
            Tab::Metrics => Some(Layer::Metrics),
        }
    }
    /// The keymap context of the tab's own keys.
    pub fn context(self) -> Option<Context> {
        match self {
            Tab::Applications => Some(Context::Applications),
            Tab::Agents => Some(Context::Agents),
            Tab::Nodes => Some(Context::Nodes),
            Tab::Deployments => Some(Context::Deployments),
            Tab::Metrics => Some(Context::Metrics),
        }
    }
}

/// Data from a backend, with its age, its last error and the refresh bookkeeping.
#[derive(Debug, Clone)]
pub struct Resource<T> {
    pub data: Option<T>,
    pub loaded_at: Option<Instant>,
    pub error: Option<String>,
    pub failures: u32,
    pub in_flight: bool,
    /// A refresh was asked for while one was in flight: run one more when it returns.
    pub queued: bool,
    pub next_due: Option<Instant>,
}

impl<T> Default for Resource<T> {
    fn default() -> Self {
        Resource {
            data: None,
            loaded_at: None,
            error: None,
            failures: 0,
            in_flight: false,
            queued: false,
            next_due: None,
        }
    }
}

impl<T> Resource<T> {
    /// Start a load unless one is in flight; a request during a load coalesces into one more.
    pub fn request(&mut self) -> bool {
        if self.in_flight {
            self.queued = true;
            false
        } else {
            self.in_flight = true;
            true
        }
    }
    pub fn due(&self, now: Instant) -> bool {
        !self.in_flight && self.next_due.is_none_or(|t| now >= t)
    }
    /// Record a result; returns whether a queued refresh should start now.
    pub fn finish(&mut self, r: Result<T, String>, now: Instant, refresh: Duration) -> bool {
        self.in_flight = false;
        match r {
            Ok(v) => {
                self.data = Some(v);
                self.loaded_at = Some(now);
                self.error = None;
                self.failures = 0;
                self.next_due = Some(now + refresh);
            }
            Err(e) => {
                self.error = Some(e);
                self.failures = self.failures.saturating_add(1);
                self.next_due = Some(now + backoff(self.failures));
            }
        }
        let q = self.queued;
        self.queued = false;
        if q {
            self.in_flight = true;
        }
        q
    }
    pub fn retry_in(&self, now: Instant) -> Option<Duration> {
        self.error.as_ref()?;
        self.next_due.map(|t| t.saturating_duration_since(now))
    }
}

/// 1 s, 2 s, 4 s, ... up to [`MAX_BACKOFF`].
pub fn backoff(failures: u32) -> Duration {
    let secs = 1u64 << failures.saturating_sub(1).min(5);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}

/// A filtered, sorted window onto a list.
#[derive(Debug, Default)]
pub struct ListView {
    pub filter: String,
    pub sort: usize,
    pub desc: bool,
    /// Indices into the data, in display order.
    pub rows: Vec<usize>,
    /// Position in `rows`.
    pub selected: usize,
    /// First visible row (adjusted while drawing to keep the selection visible).
    pub offset: Cell<usize>,
    /// Every row in sort order, kept while the data and the sort stay the same, so that a
    /// filter keystroke only filters.
    order: Vec<usize>,
    order_for: Option<(usize, bool, u64)>,
    /// Bumped when new data arrives.
    generation: u64,
}

impl ListView {
    fn move_by(&mut self, delta: isize) {
        if self.rows.is_empty() {
            self.selected = 0;
            return;
        }
        let max = self.rows.len() - 1;
        self.selected = (self.selected as isize + delta).clamp(0, max as isize) as usize;
    }
    pub fn selected_index(&self) -> Option<usize> {
        self.rows.get(self.selected).copied()
    }
}

pub const APP_SORTS: &[&str] = &["name", "run", "user", "stages", "clients", "updated"];
pub const AGENT_SORTS: &[&str] = &["application", "state", "rate", "stored", "lag", "updated"];
/// The Nodes tab keeps the inventory's order: placement visits the nodes in it.
pub const NODE_SORTS: &[&str] = &["inventory order"];
pub const DEPLOYMENT_SORTS: &[&str] = &["application"];

#[derive(Debug, Clone, PartialEq)]
pub enum View {
    Table,
    Detail {
        scroll: usize,
    },
    Text {
        title: String,
        lines: Vec<String>,
        scroll: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldId {
    File,
    Name,
    RunId,
    UserId,
    OutDir,
    /// A stream config file for an agent.
    ConfigFile,
    /// The start of a metrics history range.
    Since,
    /// Its end.
    Until,
    /// A service's replicas.
    Replicas,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub id: FieldId,
    pub label: &'static str,
    pub hint: &'static str,
    pub input: Input,
    pub error: Option<String>,
    pub ok: Option<String>,
    pub candidates: Vec<String>,
}

impl Field {
    fn new(id: FieldId, label: &'static str, hint: &'static str) -> Field {
        Field {
            id,
            label,
            hint,
            input: Input::default(),
            error: None,
            ok: None,
            candidates: Vec::new(),
        }
    }
    pub fn is_path(&self) -> bool {
        matches!(
            self.id,
            FieldId::File | FieldId::OutDir | FieldId::ConfigFile
        )
    }
    pub fn value(&self) -> &str {
        self.input.value()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum FormKind {
    Register,
    Export {
        app: String,
    },
    /// Replace an agent's stream config.
    AgentConfig {
        app: String,
    },
    /// Freeze the Metrics tab on a time range.
    History,
    /// Set a service's replicas.
    Replicas {
        app: String,
        service: String,
    },
}

#[derive(Debug, Clone)]
pub struct Form {
    pub kind: FormKind,
    pub fields: Vec<Field>,
    pub focus: usize,
    pub error: Option<String>,
    /// Submitted and waiting for the file check or the operation.
    pub submitting: bool,
}

impl Form {
    pub fn register() -> Form {
        Form {
            kind: FormKind::Register,
            fields: vec![
                Field::new(
                    FieldId::File,
                    "Description file",
                    "a YAML description; tab completes the path",
                ),
                Field::new(
                    FieldId::Name,
                    "or name",
                    "lowercase, digits, '-', '_'; at most 14",
                ),
                Field::new(FieldId::RunId, "run_id", "letters, digits, '-', '_'"),
                Field::new(FieldId::UserId, "user_id", "letters, digits, '-', '_'"),
            ],
            focus: 0,
            error: None,
            submitting: false,
        }
    }
    pub fn export(app: &str) -> Form {
        let mut dir = Field::new(
            FieldId::OutDir,
            "Directory",
            "files go to DIR/<app>/<stage>.<microservice>.yaml",
        );
        dir.input = Input::new("qoa4ml".into());
        Form {
            kind: FormKind::Export { app: app.into() },
            fields: vec![dir],
            focus: 0,
            error: None,
            submitting: false,
        }
    }
    pub fn agent_config(app: &str) -> Form {
        Form {
            kind: FormKind::AgentConfig { app: app.into() },
            fields: vec![Field::new(
                FieldId::ConfigFile,
                "Stream config",
                "example/agents/cctvs.yaml or a ROHE start file; tab completes",
            )],
            focus: 0,
            error: None,
            submitting: false,
        }
    }
    /// The history form, pre-filled with the range on screen.
    pub fn history(since: &str, until: &str) -> Form {
        let mut s = Field::new(
            FieldId::Since,
            "Since",
            "a duration ago (2h, 90m) or an RFC 3339 time",
        );
        s.input = Input::new(since.into());
        let mut u = Field::new(
            FieldId::Until,
            "Until",
            "the same; empty: now (the range stays fixed)",
        );
        u.input = Input::new(until.into());
        Form {
            kind: FormKind::History,
            fields: vec![s, u],
            focus: 0,
            error: None,
            submitting: false,
        }
    }
    /// The replica form, pre-filled with the current count.
    pub fn replicas(app: &str, service: &str, current: u32) -> Form {
        let mut f = Field::new(
            FieldId::Replicas,
            "Replicas",
            "a whole number, 0 or more; checked against the nodes' capacity",
        );
        f.input = Input::new(current.to_string());
        Form {
            kind: FormKind::Replicas {
                app: app.into(),
                service: service.into(),
            },
            fields: vec![f],
            focus: 0,
            error: None,
            submitting: false,
        }
    }
    pub fn title(&self) -> String {
        match &self.kind {
            FormKind::Replicas { app, service } => {
                format!("Scale {}/{}", terminal_safe(app), terminal_safe(service))
            }
            FormKind::Register => "Register an application".into(),
            FormKind::Export { app } => {
                format!("Export QoA4ML configs of {}", terminal_safe(app))
            }
            FormKind::AgentConfig { app } => {
                format!("Stream config of the agent of {}", terminal_safe(app))
            }
            FormKind::History => "Metrics history: a fixed time range".into(),
        }
    }
    fn field(&self, id: FieldId) -> Option<&Field> {
        self.fields.iter().find(|f| f.id == id)
    }
    fn field_mut(&mut self, id: FieldId) -> Option<&mut Field> {
        self.fields.iter_mut().find(|f| f.id == id)
    }
    /// Check one field's value on its own (no I/O).
    fn validate_field(&mut self, i: usize) {
        let Some(f) = self.fields.get_mut(i) else {
            return;
        };
        let v = f.input.value().to_string();
        f.error = None;
        f.ok = None;
        match f.id {
            FieldId::File | FieldId::OutDir | FieldId::ConfigFile => {}
            FieldId::Since | FieldId::Until if !v.trim().is_empty() => {
                f.error = crate::cli::parse_since(v.trim()).err().map(|e| e.message);
            }
            FieldId::Name if !v.is_empty() => {
                f.error = crate::domain::names::validate_app_name("application_name", &v)
                    .err()
                    .map(|e| e.message);
            }
            FieldId::Replicas => {
                f.error = parse_replicas(&v).err();
            }
            FieldId::RunId | FieldId::UserId if !v.is_empty() => {
                f.error = crate::domain::names::validate_id("id", &v)
                    .err()
                    .map(|e| e.message);
            }
            _ => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogFocus {
    Input,
    Cancel,
    Confirm,
}

/// What a confirmation dialog confirms.
#[derive(Debug, Clone, PartialEq)]
pub enum DialogKind {
    /// Unregister (and maybe purge) an application: `purge`, `force` and `dry_run` apply.
    Unregister,
    AgentStop,
    AgentRestart,
    /// Replace the stream config of a running agent (which restarts it).
    AgentConfigure {
        file: PathBuf,
    },
    /// Keep a node out of placement.
    NodeCordon,
    /// Simulated cluster: stop a node; its instances are re-placed.
    NodeFail,
    /// Reconcile; the lines are the plan it would carry out (`rohe plan`).
    Apply {
        summary: String,
        lines: Vec<String>,
    },
}

/// A confirmation: unregister, or an agent action that interrupts the data flow.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub kind: DialogKind,
    pub name: String,
    pub purge: bool,
    pub force: bool,
    pub dry_run: bool,
    /// The name, typed again (required with purge).
    pub typed: Input,
    pub focus: DialogFocus,
    pub error: Option<String>,
}

impl Dialog {
    fn unregister(name: String, purge: bool, force: bool, dry_run: bool) -> Dialog {
        Dialog {
            kind: DialogKind::Unregister,
            name,
            purge,
            force,
            dry_run,
            typed: Input::default(),
            focus: DialogFocus::Cancel,
            error: None,
        }
    }
    /// A confirmation that is not about an application (nodes, apply).
    fn cluster(kind: DialogKind, name: String) -> Dialog {
        Dialog::agent(kind, name)
    }
    fn agent(kind: DialogKind, name: String) -> Dialog {
        Dialog {
            kind,
            name,
            purge: false,
            force: false,
            dry_run: false,
            typed: Input::default(),
            focus: DialogFocus::Cancel,
            error: None,
        }
    }
    /// The request the confirm button sends.
    pub fn request(&self) -> Request {
        let name = self.name.clone();
        match &self.kind {
            DialogKind::Unregister => Request::UnregisterApp {
                name,
                purge: self.purge,
                force: self.force,
                dry_run: self.dry_run,
            },
            DialogKind::AgentStop => Request::AgentStop {
                name,
                dry_run: false,
            },
            DialogKind::AgentRestart => Request::AgentRestart { name },
            DialogKind::AgentConfigure { file } => Request::AgentConfigure {
                name,
                file: file.clone(),
                dry_run: false,
            },
            DialogKind::NodeCordon => Request::NodeCordon {
                name,
                cordoned: true,
                dry_run: false,
            },
            DialogKind::NodeFail => Request::NodeFail { name },
            DialogKind::Apply { .. } => Request::Apply { dry_run: false },
        }
    }
    fn order(&self) -> Vec<DialogFocus> {
        if self.purge {
            vec![
                DialogFocus::Input,
                DialogFocus::Cancel,
                DialogFocus::Confirm,
            ]
        } else {
            vec![DialogFocus::Cancel, DialogFocus::Confirm]
        }
    }
    pub fn confirm_enabled(&self) -> bool {
        !self.purge || self.typed.value() == self.name
    }
}

#[derive(Debug, Clone, Default)]
pub struct Prompt {
    pub input: Input,
    /// Suggestions shown above the prompt.
    pub suggestions: Vec<String>,
    pub selected: Option<usize>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Overlay {
    None,
    Help { scroll: usize },
    Palette(Prompt),
    Command(Prompt),
    Filter(Input),
    Form(Form),
    Dialog(Dialog),
}

/// The result of the last operation, for the status bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub ok: bool,
    pub text: String,
    pub at: Instant,
}

/// What the status bar shows about the environment.
#[derive(Debug, Clone, Default)]
pub struct StatusInfo {
    /// `embedded` or the real backend's name.
    pub store_backend: String,
    pub store_location: String,
    /// The configuration file, or `None` for built-in defaults.
    pub config_file: Option<String>,
}

/// A demo pipeline running inside the console.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoState {
    pub rate: f64,
    pub published: u64,
    pub failed: u64,
    /// Asked to stop; gone once its task reports back.
    pub stopping: bool,
    pub last_error: Option<String>,
}

/// The Metrics tab: which application, which range, and the last summary.
#[derive(Debug)]
pub struct MetricsState {
    /// The application shown (None until one is registered).
    pub app: Option<String>,
    /// Chosen by the user, or by default once the agents were known: it stays.
    settled: bool,
    /// Index into [`LIVE_RANGES`].
    pub live: usize,
    /// A fixed range; None: live.
    pub history: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub view: Resource<Box<MetricsView>>,
    /// The query the view (or the error) answers.
    pub view_for: Option<(String, MetricsRange)>,
    /// The query in flight.
    in_flight_for: Option<(String, MetricsRange)>,
    /// The rows of the series table, in display order (indices into `view.series`).
    pub list: ListView,
}

impl Default for MetricsState {
    fn default() -> Self {
        MetricsState {
            app: None,
            settled: false,
            live: DEFAULT_LIVE,
            history: None,
            view: Resource::default(),
            view_for: None,
            in_flight_for: None,
            list: ListView::default(),
        }
    }
}

impl MetricsState {
    pub fn range(&self) -> MetricsRange {
        match self.history {
            Some((since, until)) => MetricsRange::History { since, until },
            None => MetricsRange::Live {
                minutes: LIVE_RANGES[self.live.min(LIVE_RANGES.len() - 1)],
            },
        }
    }
    /// The view, when it answers the current selection.
    pub fn current(&self) -> Option<&MetricsView> {
        let app = self.app.as_ref()?;
        match &self.view_for {
            Some((n, r)) if n == app && *r == self.range() => self.view.data.as_deref(),
            _ => None,
        }
    }
}

pub struct App {
    pub keymap: Keymap,
    pub readonly: bool,
    pub refresh: Duration,
    pub info: StatusInfo,
    pub now: Instant,
    /// The wall clock at `now` (for the age of reports and the metrics ranges).
    pub wall: DateTime<Utc>,
    pub size: (u16, u16),
    pub tab: Tab,
    pub view: View,
    pub overlay: Overlay,
    pub apps: Resource<Vec<AppSummary>>,
    pub agents: Resource<Vec<AgentStatus>>,
    pub apps_list: ListView,
    pub agents_list: ListView,
    /// The Nodes tab: the inventory with the cluster's view.
    pub nodes: Resource<NodesData>,
    pub nodes_list: ListView,
    /// The Deployments tab: every service with its placement and pods.
    pub deployments: Resource<Vec<DeploymentRow>>,
    pub deployments_list: ListView,
    /// A plan preview is being computed (one at a time).
    pub plan_in_flight: Option<PlanPurpose>,
    pub metrics: MetricsState,
    /// Demo pipelines running in this console, by application.
    pub demos: BTreeMap<String, DemoState>,
    /// The `rohe serve` running on this store, if any (shown in the status bar).
    pub serve: Option<crate::serve::ServeStatus>,
    /// When the serve record was last asked for, and whether an answer is awaited.
    serve_checked: Option<Instant>,
    serve_in_flight: bool,
    /// Start the demo of this application once its agent has started.
    pending_demo: Option<String>,
    /// The detail of one application, by name.
    pub detail: Option<(String, Result<Box<AppDetail>, String>)>,
    detail_in_flight: Option<String>,
    detail_wanted: Option<String>,
    /// Select this application once it appears (after registering it).
    select_after_load: Option<String>,
    /// Show this application as YAML once its detail has loaded.
    yaml_pending: Option<String>,
    pub last: Option<Outcome>,
    /// Operations in flight.
    pub busy: usize,
    /// How far the detail or text view can scroll (set while drawing).
    pub scroll_max: Cell<usize>,
    pub dirty: bool,
    pub quit: bool,
}

impl App {
    pub fn new(keymap: Keymap, readonly: bool, refresh: Duration, info: StatusInfo) -> App {
        App {
            keymap,
            readonly,
            refresh,
            info,
            now: Instant::now(),
            wall: Utc::now(),
            size: (80, 24),
            tab: Tab::Applications,
            view: View::Table,
            overlay: Overlay::None,
            apps: Resource::default(),
            agents: Resource::default(),
            apps_list: ListView::default(),
            agents_list: ListView::default(),
            nodes: Resource::default(),
            nodes_list: ListView::default(),
            deployments: Resource::default(),
            deployments_list: ListView::default(),
            plan_in_flight: None,
            metrics: MetricsState::default(),
            demos: BTreeMap::new(),
            serve: None,
            serve_checked: None,
            serve_in_flight: false,
            pending_demo: None,
            detail: None,
            detail_in_flight: None,
            detail_wanted: None,
            select_after_load: None,
            yaml_pending: None,
            last: None,
            busy: 0,
            scroll_max: Cell::new(usize::MAX),
            dirty: true,
            quit: false,
        }
    }

    /// The effects to run at start: load the first tab, and find the agents that should run
    /// (an in-process agent of a previous console is started again here). A read-only console
    /// starts nothing: its Agents tab shows such agents as failed.
    pub fn start(&mut self) -> Vec<Effect> {
        let mut fx = Vec::new();
        self.load_tab(self.tab, &mut fx);
        if !self.readonly {
            fx.push(Effect::AdoptAgents);
        }
        self.check_serve(&mut fx);
        fx
    }

    /// Ask whether a `rohe serve` runs on this store, unless an answer is awaited.
    fn check_serve(&mut self, fx: &mut Vec<Effect>) {
        if !self.serve_in_flight {
            self.serve_in_flight = true;
            self.serve_checked = Some(self.now);
            fx.push(Effect::CheckServe);
        }
    }

    /// Whether an action is available (read-only mode hides state-changing ones).
    pub fn allowed(&self, action: Action) -> bool {
        !(self.readonly && super::keymap::def_of(action).changes_state)
    }

    pub fn side_pane(&self) -> bool {
        let min = match self.tab {
            Tab::Agents => AGENTS_SIDE_PANE_MIN_WIDTH,
            Tab::Nodes | Tab::Deployments => CLUSTER_SIDE_PANE_MIN_WIDTH,
            _ => SIDE_PANE_MIN_WIDTH,
        };
        self.size.0 >= min && self.tab.has_rows() && self.view == View::Table
    }

    /// Rows of a table that fit on screen (tab bar, hints, status, borders, header).
    pub fn page_rows(&self) -> usize {
        (self.size.1 as usize).saturating_sub(6).max(1)
    }

    pub fn selected_app(&self) -> Option<&AppSummary> {
        let i = self.apps_list.selected_index()?;
        self.apps.data.as_ref()?.get(i)
    }

    pub fn selected_agent(&self) -> Option<&AgentStatus> {
        let i = self.agents_list.selected_index()?;
        self.agents.data.as_ref()?.get(i)
    }

    /// The node selected on the Nodes tab.
    pub fn selected_node(&self) -> Option<&crate::ops::NodeView> {
        let i = self.nodes_list.selected_index()?;
        self.nodes.data.as_ref()?.nodes.get(i)
    }

    /// The service selected on the Deployments tab.
    pub fn selected_deployment(&self) -> Option<&DeploymentRow> {
        let i = self.deployments_list.selected_index()?;
        self.deployments.data.as_ref()?.get(i)
    }

    fn list_mut(&mut self) -> Option<&mut ListView> {
        match self.tab {
            Tab::Applications => Some(&mut self.apps_list),
            Tab::Agents => Some(&mut self.agents_list),
            Tab::Nodes => Some(&mut self.nodes_list),
            Tab::Deployments => Some(&mut self.deployments_list),
            Tab::Metrics => Some(&mut self.metrics.list),
        }
    }

    pub fn list(&self) -> Option<&ListView> {
        match self.tab {
            Tab::Applications => Some(&self.apps_list),
            Tab::Agents => Some(&self.agents_list),
            Tab::Nodes => Some(&self.nodes_list),
            Tab::Deployments => Some(&self.deployments_list),
            Tab::Metrics => Some(&self.metrics.list),
        }
    }

    /// The status of an application's agent, when the agents have been loaded.
    pub fn agent_of(&self, name: &str) -> Option<&AgentStatus> {
        self.agents
            .data
            .as_ref()?
            .iter()
            .find(|a| a.application_name == name)
    }

    fn say(&mut self, ok: bool, text: impl Into<String>) {
        self.last = Some(Outcome {
            ok,
            text: text.into(),
            at: self.now,
        });
    }

    /// React to one event.
    pub fn update(&mut self, ev: Event) -> Vec<Effect> {
        let mut fx = Vec::new();
        if !matches!(ev, Event::Tick(_)) {
            self.now = Instant::now().max(self.now);
            self.wall = Utc::now().max(self.wall);
            self.dirty = true;
        }
        match ev {
            Event::Key(k) => self.on_key(k, &mut fx),
            Event::Paste(s) => self.on_paste(&s, &mut fx),
            Event::Resize(w, h) => {
                self.size = (w, h);
                self.want_detail(&mut fx);
            }
            Event::Tick(now) => self.on_tick(now, &mut fx),
            Event::AppsLoaded(r) => {
                let now = self.now;
                let again = self.apps.finish(r, now, self.refresh);
                if again {
                    fx.push(Effect::LoadApps);
                }
                if self.apps.error.is_none() {
                    self.apps_list.generation += 1;
                    self.rebuild_apps();
                    // The detail may be stale now.
                    if self.detail_in_flight.is_none() {
                        self.detail = None;
                    }
                    self.want_detail(&mut fx);
                    self.pick_metrics_app(&mut fx);
                }
            }
            Event::AgentsLoaded(r) => {
                let now = self.now;
                if self.agents.finish(r, now, self.refresh) {
                    fx.push(Effect::LoadAgents);
                }
                if self.agents.error.is_none() {
                    self.rebuild_agents();
                    self.pick_metrics_app(&mut fx);
                }
            }
            Event::NodesLoaded(r) => {
                let now = self.now;
                if self.nodes.finish(r, now, self.refresh) {
                    fx.push(Effect::LoadNodes);
                }
                if self.nodes.error.is_none() {
                    self.rebuild_nodes();
                }
            }
            Event::DeploymentsLoaded(r) => {
                let now = self.now;
                if self.deployments.finish(r, now, self.refresh) {
                    fx.push(Effect::LoadDeployments);
                }
                if self.deployments.error.is_none() {
                    self.rebuild_deployments();
                }
            }
            Event::PlanLoaded { purpose, result } => self.on_plan(purpose, result),
            Event::ServeChecked(status) => {
                self.serve_in_flight = false;
                if self.serve != status {
                    self.serve = status;
                    self.dirty = true;
                }
            }
            Event::AgentsAdopted(r) => match r {
                Ok(notes) if notes.is_empty() => {}
                Ok(notes) => {
                    self.say(true, notes.join("; "));
                    if matches!(self.tab, Tab::Agents | Tab::Metrics) && self.agents.request() {
                        fx.push(Effect::LoadAgents);
                    }
                }
                Err(e) => self.say(false, format!("finding the agents again failed: {e}")),
            },
            Event::AgentLogs { name, result } => match result {
                Ok(lines) => {
                    let text = if lines.is_empty() {
                        "(no log lines: the agent has not logged anything in this console)"
                            .to_string()
                    } else {
                        lines.join("\n")
                    };
                    self.show_text(format!("log of the agent of {name}"), &text);
                    // The newest lines are the interesting ones: start at the end.
                    if let View::Text { scroll, .. } = &mut self.view {
                        *scroll = usize::MAX / 2;
                    }
                }
                Err(e) => self.say(false, format!("agent logs of {name}: {e}")),
            },
            Event::MetricsLoaded {
                name,
                range,
                result,
            } => self.on_metrics(name, range, result, &mut fx),
            Event::DemoProgress { name, stats } => {
                if let Some(d) = self.demos.get_mut(&name) {
                    d.published = stats.published;
                    d.failed = stats.failed;
                    d.last_error = stats.last_error;
                }
            }
            Event::DemoFinished { name, result } => {
                self.demos.remove(&name);
                match result {
                    Ok(s) => self.say(
                        true,
                        format!(
                            "demo of {name} stopped: {} reports published in {:.0}s",
                            s.published, s.elapsed_s
                        ),
                    ),
                    Err(e) => self.say(false, format!("demo of {name} failed: {e}")),
                }
            }
            Event::DetailLoaded { name, result } => {
                self.detail_in_flight = None;
                if self.yaml_pending.as_deref() == Some(name.as_str()) {
                    self.yaml_pending = None;
                    match &result {
                        Ok(d) => match crate::yaml::to_string(&d.application) {
                            Ok(t) => self.show_text(format!("{name} (YAML)"), &t),
                            Err(e) => self.say(false, e.to_string()),
                        },
                        Err(e) => self.say(false, e.clone()),
                    }
                }
                self.detail = Some((name.clone(), result));
                let next = self.detail_wanted.clone().or(self.yaml_pending.clone());
                if let Some(w) = next
                    && w != name
                {
                    self.detail_in_flight = Some(w.clone());
                    fx.push(Effect::LoadDetail(w));
                }
            }
            Event::SpecLoaded {
                path,
                purpose,
                result,
            } => self.on_spec(path, purpose, result, &mut fx),
            Event::OpFinished { action, result } => self.on_op_finished(action, result, &mut fx),
            Event::PathCompleted {
                target,
                value,
                candidates,
            } => self.on_path_completed(target, &value, candidates, &mut fx),
            Event::TextLoaded { title, result } => match result {
                Ok(text) => self.show_text(title, &text),
                Err(e) => self.say(false, e),
            },
            Event::Shutdown(why) => {
                tracing::info!(why, "shutting down");
                self.quit = true;
                fx.push(Effect::Quit);
            }
        }
        fx
    }

    fn on_tick(&mut self, now: Instant, fx: &mut Vec<Effect>) {
        let step = now.saturating_duration_since(self.now);
        self.now = now.max(self.now);
        self.wall =
            (self.wall + chrono::Duration::from_std(step).unwrap_or_default()).max(Utc::now());
        // Data ages and retry countdowns on screen change every second.
        if self.tab.has_rows() || self.tab == Tab::Metrics || self.last.is_some() {
            self.dirty = true;
        }
        if self
            .serve_checked
            .is_none_or(|at| self.now.saturating_duration_since(at) >= SERVE_CHECK_EVERY)
        {
            self.check_serve(fx);
        }
        match self.tab {
            Tab::Applications if self.apps.due(self.now) => {
                self.apps.request();
                fx.push(Effect::LoadApps);
            }
            Tab::Agents if self.agents.due(self.now) => {
                self.agents.request();
                fx.push(Effect::LoadAgents);
            }
            // Pods start and nodes fail between two looks: keep polling while visible.
            Tab::Nodes if self.nodes.due(self.now) => {
                self.nodes.request();
                fx.push(Effect::LoadNodes);
            }
            Tab::Deployments if self.deployments.due(self.now) => {
                self.deployments.request();
                fx.push(Effect::LoadDeployments);
            }
            Tab::Metrics => {
                // The agent's state and health sit in the header; live metrics move with the
                // clock. A refresh never queues behind one in flight (`due` is false then).
                if self.agents.due(self.now) {
                    self.agents.request();
                    fx.push(Effect::LoadAgents);
                }
                if self.metrics.history.is_none() && self.metrics.view.due(self.now) {
                    self.request_metrics(fx);
                }
            }
            _ => {}
        }
    }

    fn load_tab(&mut self, tab: Tab, fx: &mut Vec<Effect>) {
        match tab {
            Tab::Applications => fx.extend(self.apps.request().then_some(Effect::LoadApps)),
            Tab::Agents => fx.extend(self.agents.request().then_some(Effect::LoadAgents)),
            Tab::Nodes => fx.extend(self.nodes.request().then_some(Effect::LoadNodes)),
            Tab::Deployments => fx.extend(
                self.deployments
                    .request()
                    .then_some(Effect::LoadDeployments),
            ),
            Tab::Metrics => {
                // The picker needs the applications, the default choice the agents.
                if self.apps.data.is_none() || self.apps.due(self.now) {
                    fx.extend(self.apps.request().then_some(Effect::LoadApps));
                }
                fx.extend(self.agents.request().then_some(Effect::LoadAgents));
                self.pick_metrics_app(fx);
                self.request_metrics(fx);
            }
        }
    }

    fn switch_tab(&mut self, tab: Tab, fx: &mut Vec<Effect>) {
        if self.tab != tab {
            self.tab = tab;
            self.view = View::Table;
            match tab {
                Tab::Applications if self.apps.due(self.now) => self.load_tab(tab, fx),
                Tab::Agents if self.agents.due(self.now) => self.load_tab(tab, fx),
                Tab::Nodes if self.nodes.due(self.now) => self.load_tab(tab, fx),
                Tab::Deployments if self.deployments.due(self.now) => self.load_tab(tab, fx),
                Tab::Metrics => {
                    if self.apps.data.is_none() || self.apps.due(self.now) {
                        fx.extend(self.apps.request().then_some(Effect::LoadApps));
                    }
                    if self.agents.due(self.now) {
                        fx.extend(self.agents.request().then_some(Effect::LoadAgents));
                    }
                    self.pick_metrics_app(fx);
                    let fresh =
                        self.metrics.current().is_some() && !self.metrics.view.due(self.now);
                    if !fresh {
                        self.request_metrics(fx);
                    }
                }
                _ => {}
            }
            self.want_detail(fx);
        }
    }

    // ---- metrics ----------------------------------------------------------------------

    /// Names of the registered applications, sorted (the Metrics tab's picker).
    pub fn metrics_candidates(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.app_names();
        names.sort_unstable();
        names
    }

    /// Choose the Metrics tab's application when none is chosen (or it was unregistered):
    /// the first one with an agent, else the first one. Waits for the agents while they load.
    fn pick_metrics_app(&mut self, fx: &mut Vec<Effect>) {
        if self.tab != Tab::Metrics {
            return;
        }
        let names: Vec<String> = self
            .metrics_candidates()
            .into_iter()
            .map(String::from)
            .collect();
        let registered = |n: &str| names.iter().any(|x| x == n);
        let gone = self
            .metrics
            .app
            .as_deref()
            .is_some_and(|a| self.apps.data.is_some() && !registered(a));
        if self.metrics.settled && self.metrics.app.is_some() && !gone {
            return;
        }
        if self.agents.data.is_none() && self.agents.in_flight {
            return;
        }
        let with_agent = self.agents.data.as_ref().and_then(|ags| {
            ags.iter()
                .map(|a| a.application_name.as_str())
                .filter(|n| registered(n))
                .min()
                .map(String::from)
        });
        let choice = with_agent.or_else(|| names.first().cloned());
        self.metrics.settled = choice.is_some();
        if choice != self.metrics.app {
            self.metrics.app = choice;
            self.metrics_selection_changed(fx);
        }
    }

    /// Load the Metrics tab's view for the current selection. One query runs at a time;
    /// asking while one runs makes one more run when it returns, for the selection then.
    fn request_metrics(&mut self, fx: &mut Vec<Effect>) {
        let Some(name) = self.metrics.app.clone() else {
            return;
        };
        let range = self.metrics.range();
        if self.metrics.in_flight_for.as_ref() == Some(&(name.clone(), range)) {
            return; // the query in flight already answers it
        }
        if self.metrics.view.request() {
            self.metrics.in_flight_for = Some((name.clone(), range));
            fx.push(Effect::LoadMetrics { name, range });
        }
    }

    /// The selection changed: what is on screen no longer answers it.
    fn metrics_selection_changed(&mut self, fx: &mut Vec<Effect>) {
        let m = &mut self.metrics;
        m.list = ListView::default();
        m.view.data = None;
        m.view.loaded_at = None;
        m.view.error = None;
        m.view.failures = 0;
        m.view.next_due = None;
        m.view_for = None;
        self.request_metrics(fx);
    }

    fn on_metrics(
        &mut self,
        name: String,
        range: MetricsRange,
        result: Result<Box<MetricsView>, String>,
        fx: &mut Vec<Effect>,
    ) {
        let m = &mut self.metrics;
        let wanted = m.app.as_deref() == Some(name.as_str()) && m.range() == range;
        m.in_flight_for = None;
        let queued = std::mem::take(&mut m.view.queued);
        m.view.in_flight = false;
        if wanted {
            m.view.finish(result, self.now, self.refresh);
            m.view_for = Some((name, range));
            self.rebuild_metrics();
        }
        // The selection changed (or a refresh was asked for) while this one ran: one more,
        // for what is selected now.
        if queued || !wanted {
            self.request_metrics(fx);
        }
    }

    fn rebuild_metrics(&mut self) {
        let keep = self.metrics.list.selected;
        let Some(view) = self.metrics.view.data.as_deref() else {
            return;
        };
        let f = self.metrics.list.filter.to_lowercase();
        let mut rows: Vec<usize> = (0..view.series.len())
            .filter(|&i| {
                let r = &view.series[i];
                f.is_empty()
                    || r.metric.to_lowercase().contains(&f)
                    || r.stage
                        .as_deref()
                        .unwrap_or("pipeline")
                        .to_lowercase()
                        .contains(&f)
                    || r.instance
                        .as_deref()
                        .is_some_and(|x| x.to_lowercase().contains(&f))
            })
            .collect();
        rows.sort_by_key(|&i| series_order(&view.series[i]));
        let l = &mut self.metrics.list;
        l.selected = keep.min(rows.len().saturating_sub(1));
        l.rows = rows;
    }

    // ---- keys -------------------------------------------------------------------------

    fn on_key(&mut self, k: KeyEvent, fx: &mut Vec<Effect>) {
        let key = Key::from_event(&k);
        // ctrl-c always quits, whatever is open.
        if key == Key::ctrl('c') {
            self.quit = true;
            fx.push(Effect::Quit);
            return;
        }
        match std::mem::replace(&mut self.overlay, Overlay::None) {
            Overlay::None => {
                if let Some(a) = self.keymap.screen_action(self.tab.layer(), key) {
                    self.run_action(a, fx);
                }
            }
            Overlay::Help { mut scroll } => {
                match self.keymap.action(Layer::Main, key) {
                    Some(Action::Back | Action::Help) => return,
                    Some(Action::Quit) => {
                        self.quit = true;
                        fx.push(Effect::Quit);
                    }
                    Some(Action::MoveDown) => scroll += 1,
                    Some(Action::MoveUp) => scroll = scroll.saturating_sub(1),
                    Some(Action::PageDown) => scroll += self.page_rows(),
                    Some(Action::PageUp) => scroll = scroll.saturating_sub(self.page_rows()),
                    Some(Action::Top) => scroll = 0,
                    Some(Action::Bottom) => scroll = usize::MAX / 2,
                    _ => {}
                }
                self.overlay = Overlay::Help { scroll };
            }
            Overlay::Filter(input) => self.on_filter_key(input, key, k),
            Overlay::Palette(p) => self.on_palette_key(p, key, k, fx),
            Overlay::Command(p) => self.on_command_key(p, key, k, fx),
            Overlay::Form(f) => self.on_form_key(f, key, k, fx),
            Overlay::Dialog(d) => self.on_dialog_key(d, key, k, fx),
        }
    }

    fn on_paste(&mut self, s: &str, fx: &mut Vec<Effect>) {
        // Pasted text goes into the focused field, one line, without control characters.
        let clean: String = s
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        for c in clean.chars() {
            let ev = KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
            match &self.overlay {
                Overlay::None | Overlay::Help { .. } => return,
                _ => self.on_key(ev, fx),
            }
        }
    }

    /// Carry out an action of the main layer.
    pub fn run_action(&mut self, a: Action, fx: &mut Vec<Effect>) {
        if !self.allowed(a) {
            self.say(
                false,
                format!(
                    "{} is refused: rohe runs read-only",
                    super::keymap::def_of(a).name
                ),
            );
            return;
        }
        let page = self.page_rows() as isize;
        match a {
            Action::Quit => {
                self.quit = true;
                fx.push(Effect::Quit);
            }
            Action::Help => self.overlay = Overlay::Help { scroll: 0 },
            Action::CommandLine => {
                let mut p = Prompt::default();
                self.refresh_suggestions(&mut p);
                self.overlay = Overlay::Command(p);
            }
            Action::Palette => {
                self.overlay = Overlay::Palette(Prompt {
                    selected: Some(0),
                    ..Prompt::default()
                });
            }
            Action::NextTab | Action::PrevTab => {
                let d = if a == Action::NextTab { 1 } else { 4 };
                self.switch_tab(Tab::ALL[(self.tab.index() + d) % 5], fx);
            }
            Action::TabApplications => self.switch_tab(Tab::Applications, fx),
            Action::TabAgents => self.switch_tab(Tab::Agents, fx),
            Action::TabNodes => self.switch_tab(Tab::Nodes, fx),
            Action::TabDeployments => self.switch_tab(Tab::Deployments, fx),
            Action::TabMetrics => self.switch_tab(Tab::Metrics, fx),
            Action::Refresh => {
                self.load_tab(self.tab, fx);
                if self.tab == Tab::Applications {
                    self.detail = None;
                    self.want_detail(fx);
                }
            }
            Action::AgentStart => match self.target_app() {
                Some(name) => self.execute(
                    Request::AgentStart {
                        name,
                        config: None,
                        dry_run: false,
                    },
                    fx,
                ),
                None => self.say(false, "select an application first"),
            },
            Action::Demo => match self.target_app() {
                Some(name) => self.toggle_demo(name, fx),
                None => self.say(
                    false,
                    "select an application first (register one on the Applications tab)",
                ),
            },
            Action::AgentStop | Action::AgentRestart => match self.selected_agent() {
                Some(ag) => {
                    let kind = if a == Action::AgentStop {
                        DialogKind::AgentStop
                    } else {
                        DialogKind::AgentRestart
                    };
                    self.overlay =
                        Overlay::Dialog(Dialog::agent(kind, ag.application_name.clone()));
                }
                None => self.say(false, "select an agent first"),
            },
            Action::AgentLogs => match self.selected_agent() {
                Some(ag) => fx.push(Effect::LoadAgentLogs(ag.application_name.clone())),
                None => self.say(false, "select an agent first"),
            },
            Action::AgentConfig => match self.selected_agent() {
                Some(ag) => self.overlay = Overlay::Form(Form::agent_config(&ag.application_name)),
                None => self.say(false, "select an agent first"),
            },
            Action::NodeCordon => match self.selected_node() {
                Some(v) if v.node.cordoned => {
                    // Uncordoning only lets placement use the node again: no confirmation.
                    let name = v.node.node_name.clone();
                    self.execute(
                        Request::NodeCordon {
                            name,
                            cordoned: false,
                            dry_run: false,
                        },
                        fx,
                    );
                }
                Some(v) => {
                    let name = v.node.node_name.clone();
                    self.overlay = Overlay::Dialog(Dialog::cluster(DialogKind::NodeCordon, name));
                }
                None => self.say(false, "select a node first"),
            },
            Action::NodeFail => match self.selected_node() {
                Some(v) => {
                    let name = v.node.node_name.clone();
                    self.ask_fail(name);
                }
                None => self.say(false, "select a node first"),
            },
            Action::NodeRecover => match self.selected_node() {
                Some(v) => {
                    let name = v.node.node_name.clone();
                    self.execute(Request::NodeRecover { name }, fx);
                }
                None => self.say(false, "select a node first"),
            },
            Action::ScaleUp | Action::ScaleDown => match self.selected_deployment() {
                Some(r) => {
                    let s = &r.service;
                    let (app, service, current) =
                        (s.application.clone(), s.service_name.clone(), s.replicas);
                    let replicas = if a == Action::ScaleUp {
                        current.checked_add(1)
                    } else {
                        current.checked_sub(1)
                    };
                    match replicas {
                        Some(replicas) => self.scale(app, service, replicas, fx),
                        None => self.say(
                            false,
                            format!("{app}/{service} has {current} replicas: cannot go lower"),
                        ),
                    }
                }
                None => self.say(false, "select a service first"),
            },
            Action::ScaleSet => match self.selected_deployment() {
                Some(r) => {
                    let s = &r.service;
                    self.overlay =
                        Overlay::Form(Form::replicas(&s.application, &s.service_name, s.replicas));
                }
                None => self.say(false, "select a service first"),
            },
            Action::PlanPreview => self.request_plan(PlanPurpose::Preview, fx),
            Action::ApplyPlan => self.request_plan(PlanPurpose::Apply, fx),
            Action::MetricsPrevApp | Action::MetricsNextApp => {
                let names = self.metrics_candidates();
                if names.is_empty() {
                    return self.say(false, "no applications are registered");
                }
                let cur = self
                    .metrics
                    .app
                    .as_deref()
                    .and_then(|c| names.iter().position(|n| *n == c));
                let n = names.len();
                let next = match (cur, a == Action::MetricsNextApp) {
                    (None, _) => 0,
                    (Some(i), true) => (i + 1) % n,
                    (Some(i), false) => (i + n - 1) % n,
                };
                let pick = names[next].to_string();
                self.metrics.settled = true;
                if self.metrics.app.as_deref() != Some(pick.as_str()) {
                    self.metrics.app = Some(pick);
                    self.metrics_selection_changed(fx);
                }
            }
            Action::MetricsRange => {
                self.metrics.live = (self.metrics.live + 1) % LIVE_RANGES.len();
                self.metrics.history = None;
                self.metrics_selection_changed(fx);
            }
            Action::MetricsLive if self.metrics.history.is_some() => {
                self.metrics.history = None;
                self.metrics_selection_changed(fx);
            }
            Action::MetricsHistory => {
                let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
                let (since, until) = match self.metrics.range() {
                    MetricsRange::History { since, until } => (fmt(since), fmt(until)),
                    MetricsRange::Live { minutes } => (format!("{minutes}m"), String::new()),
                };
                self.overlay = Overlay::Form(Form::history(&since, &until));
            }
            Action::Back => {
                if self.view != View::Table {
                    self.view = View::Table;
                    self.want_detail(fx);
                } else if let Some(l) = self.list_mut()
                    && !l.filter.is_empty()
                {
                    l.filter.clear();
                    self.rebuild_current();
                }
            }
            Action::MoveDown => self.move_by(1, fx),
            Action::MoveUp => self.move_by(-1, fx),
            Action::PageDown => self.move_by(page, fx),
            Action::PageUp => self.move_by(-page, fx),
            Action::Top => self.move_by(isize::MIN / 2, fx),
            Action::Bottom => self.move_by(isize::MAX / 2, fx),
            Action::Filter => {
                if let Some(l) = self.list() {
                    let input = Input::new(l.filter.clone());
                    self.view = View::Table;
                    self.overlay = Overlay::Filter(input);
                }
            }
            Action::SortNext | Action::SortReverse => {
                let n = match self.tab {
                    Tab::Applications => APP_SORTS.len(),
                    Tab::Agents => AGENT_SORTS.len(),
                    _ => return,
                };
                if let Some(l) = self.list_mut() {
                    if a == Action::SortNext {
                        l.sort = (l.sort + 1) % n;
                    } else {
                        l.desc = !l.desc;
                    }
                }
                self.rebuild_current();
            }
            Action::Details if self.view == View::Table && self.tab.has_rows() => {
                if self.selected_name().is_some() {
                    self.view = View::Detail { scroll: 0 };
                    self.want_detail(fx);
                } else {
                    self.say(false, "nothing selected");
                }
            }
            Action::Yaml => self.show_yaml(fx),
            Action::CopyId => match self.selected_id() {
                Some((what, id)) => {
                    fx.push(Effect::Copy(id.clone()));
                    self.say(true, format!("copied {what} {id} (OSC 52 clipboard)"));
                }
                None => self.say(false, "nothing selected to copy"),
            },
            Action::Register => {
                self.overlay = Overlay::Form(Form::register());
            }
            Action::Unregister | Action::Purge => match self.selected_app_name() {
                Some(name) => {
                    self.overlay =
                        Overlay::Dialog(Dialog::unregister(name, a == Action::Purge, false, false));
                }
                None => self.say(false, "select an application first"),
            },
            Action::Export => match self.selected_app_name() {
                Some(name) => self.overlay = Overlay::Form(Form::export(&name)),
                None => self.say(false, "select an application first"),
            },
            // Actions of other layers do nothing here.
            _ => {}
        }
    }

    fn move_by(&mut self, delta: isize, fx: &mut Vec<Effect>) {
        match &mut self.view {
            View::Table => {
                if let Some(l) = self.list_mut() {
                    l.move_by(delta);
                }
                self.want_detail(fx);
            }
            View::Detail { scroll } | View::Text { scroll, .. } => {
                let max = self.scroll_max.get().min(1_000_000) as isize;
                *scroll = (*scroll as isize).saturating_add(delta).clamp(0, max) as usize;
            }
        }
    }

    /// The application an agent or demo action is for: the selected row's, or the one the
    /// Metrics tab shows.
    pub fn target_app(&self) -> Option<String> {
        match self.tab {
            Tab::Metrics => self.metrics.app.clone(),
            _ => self.selected_app_name(),
        }
    }

    /// Start the demo pipeline of `name` (its agent first, unless it runs), or stop it.
    fn toggle_demo(&mut self, name: String, fx: &mut Vec<Effect>) {
        if let Some(d) = self.demos.get_mut(&name) {
            if d.stopping {
                return self.say(true, format!("the demo of {name} is stopping…"));
            }
            d.stopping = true;
            fx.push(Effect::StopDemo(name.clone()));
            return self.say(true, format!("stopping the demo of {name}…"));
        }
        if self.pending_demo.as_deref() == Some(name.as_str()) {
            self.pending_demo = None;
            return self.say(true, format!("the demo of {name} will not start"));
        }
        let running = self
            .agent_of(&name)
            .is_some_and(|a| a.state == AgentState::Running);
        if running {
            self.start_demo(name, fx);
        } else {
            // The reports need a consumer: start the agent, then the demo (on success).
            self.pending_demo = Some(name.clone());
            self.execute(
                Request::AgentStart {
                    name,
                    config: None,
                    dry_run: false,
                },
                fx,
            );
        }
    }

    fn start_demo(&mut self, name: String, fx: &mut Vec<Effect>) {
        self.demos.insert(
            name.clone(),
            DemoState {
                rate: DEMO_RATE,
                published: 0,
                failed: 0,
                stopping: false,
                last_error: None,
            },
        );
        self.say(
            true,
            format!("demo of {name} started ({DEMO_RATE} reports/s); D stops it"),
        );
        fx.push(Effect::StartDemo {
            name,
            rate: DEMO_RATE,
        });
    }

    /// Set a service's replicas (`+`, `-`, the replica form, `:scale`): the request of
    /// `rohe scale APP SERVICE N`, which refuses what fits on no node.
    fn scale(&mut self, app: String, service: String, replicas: u32, fx: &mut Vec<Effect>) {
        self.execute(
            Request::Scale {
                app,
                service,
                replicas,
                force: false,
                dry_run: false,
            },
            fx,
        );
    }

    /// Ask before failing a node: its instances stop and are re-placed.
    fn ask_fail(&mut self, name: String) {
        let simulated = self.nodes.data.as_ref().map(|d| d.simulated);
        if simulated == Some(false) {
            return self.say(
                false,
                format!("cannot fail node {name}: only the simulated cluster can fail a node"),
            );
        }
        self.overlay = Overlay::Dialog(Dialog::cluster(DialogKind::NodeFail, name));
    }

    /// Preview the reconciliation (`rohe plan`), to show it or to confirm applying it.
    fn request_plan(&mut self, purpose: PlanPurpose, fx: &mut Vec<Effect>) {
        if purpose == PlanPurpose::Apply && self.readonly {
            return self.say(false, "apply is refused: rohe runs read-only");
        }
        if self.plan_in_flight.is_some() {
            // The one in flight answers for what is asked now.
            self.plan_in_flight = Some(purpose);
            return;
        }
        self.plan_in_flight = Some(purpose);
        self.say(true, "planning…");
        fx.push(Effect::LoadPlan(purpose));
    }

    fn on_plan(
        &mut self,
        purpose: PlanPurpose,
        result: Result<Box<crate::ops::CycleReport>, String>,
    ) {
        let purpose = self.plan_in_flight.take().unwrap_or(purpose);
        let report = match result {
            Ok(r) => r,
            Err(e) => return self.say(false, format!("plan failed: {e}")),
        };
        let lines = plan_lines(&report);
        let summary = report.summary();
        match purpose {
            PlanPurpose::Preview => {
                self.say(true, summary);
                self.show_text("plan (rohe plan): esc closes".into(), &lines.join("\n"));
            }
            PlanPurpose::Apply => {
                self.say(true, summary.clone());
                self.overlay = Overlay::Dialog(Dialog::cluster(
                    DialogKind::Apply { summary, lines },
                    String::new(),
                ));
            }
        }
    }

    /// Name of the selected row's application (Applications or Agents tab).
    pub fn selected_app_name(&self) -> Option<String> {
        match self.tab {
            Tab::Applications => self.selected_app().map(|a| a.application_name.clone()),
            Tab::Agents => self.selected_agent().map(|a| a.application_name.clone()),
            _ => None,
        }
    }

    fn selected_name(&self) -> Option<String> {
        match self.tab {
            Tab::Nodes => self.selected_node().map(|v| v.node.node_name.clone()),
            Tab::Deployments => self
                .selected_deployment()
                .map(|r| format!("{}/{}", r.service.application, r.service.service_name)),
            _ => self.selected_app_name(),
        }
    }

    fn selected_id(&self) -> Option<(&'static str, String)> {
        match self.tab {
            Tab::Applications => self
                .selected_app()
                .map(|a| ("app_id", a.app_id.to_string())),
            Tab::Agents => {
                let name = &self.selected_agent()?.application_name;
                self.apps
                    .data
                    .as_ref()?
                    .iter()
                    .find(|a| a.application_name == *name)
                    .map(|a| ("app_id", a.app_id.to_string()))
            }
            _ => None,
        }
    }

    fn show_yaml(&mut self, fx: &mut Vec<Effect>) {
        let (title, text) = match self.tab {
            Tab::Applications => {
                let Some(name) = self.selected_app().map(|a| a.application_name.clone()) else {
                    return self.say(false, "nothing selected");
                };
                match &self.detail {
                    Some((n, Ok(d))) if *n == name => (
                        format!("{name} (YAML)"),
                        crate::yaml::to_string(&d.application),
                    ),
                    _ => {
                        // The list holds summaries: fetch the whole application first.
                        self.yaml_pending = Some(name.clone());
                        if self.detail_in_flight.is_none() {
                            self.detail_in_flight = Some(name.clone());
                            fx.push(Effect::LoadDetail(name));
                        }
                        return;
                    }
                }
            }
            Tab::Agents => match self.selected_agent() {
                Some(a) => (
                    format!("agent of {} (YAML)", a.application_name),
                    crate::yaml::to_string(a),
                ),
                None => return self.say(false, "nothing selected"),
            },
            Tab::Metrics => match self.metrics.current() {
                Some(v) => (
                    format!("metrics of {} (YAML)", v.application_name),
                    crate::yaml::to_string(v),
                ),
                None => return self.say(false, "nothing selected"),
            },
            Tab::Nodes => match self.selected_node() {
                Some(v) => (
                    format!("node {} (YAML)", v.node.node_name),
                    crate::yaml::to_string(v),
                ),
                None => return self.say(false, "nothing selected"),
            },
            Tab::Deployments => match self.selected_deployment() {
                Some(r) => (
                    format!(
                        "{}/{} (YAML)",
                        r.service.application, r.service.service_name
                    ),
                    crate::yaml::to_string(&r.service),
                ),
                None => return self.say(false, "nothing selected"),
            },
        };
        match text {
            Ok(t) => self.show_text(title, &t),
            Err(e) => self.say(false, e.to_string()),
        }
    }

    fn show_text(&mut self, title: String, text: &str) {
        self.view = View::Text {
            title: terminal_safe(&title).into_owned(),
            lines: text
                .lines()
                .map(|l| terminal_safe(l).into_owned())
                .collect(),
            scroll: 0,
        };
    }

    /// Make sure the detail of the selected application is loaded when it is visible.
    fn want_detail(&mut self, fx: &mut Vec<Effect>) {
        let visible = self.tab == Tab::Applications
            && (self.side_pane() || matches!(self.view, View::Detail { .. }));
        if !visible {
            self.detail_wanted = None;
            return;
        }
        let Some(name) = self.selected_app().map(|a| a.application_name.clone()) else {
            self.detail_wanted = None;
            return;
        };
        self.detail_wanted = Some(name.clone());
        if self.detail.as_ref().is_some_and(|(n, _)| *n == name) {
            return;
        }
        if self.detail_in_flight.is_none() {
            self.detail_in_flight = Some(name.clone());
            fx.push(Effect::LoadDetail(name));
        }
    }

    // ---- lists ------------------------------------------------------------------------

    fn rebuild_current(&mut self) {
        match self.tab {
            Tab::Applications => self.rebuild_apps(),
            Tab::Agents => self.rebuild_agents(),
            Tab::Nodes => self.rebuild_nodes(),
            Tab::Deployments => self.rebuild_deployments(),
            Tab::Metrics => self.rebuild_metrics(),
        }
    }

    /// Nodes in inventory order (the order placement visits them), filtered.
    fn rebuild_nodes(&mut self) {
        let keep = self.selected_node().map(|v| v.node.node_name.clone());
        let Some(data) = self.nodes.data.as_ref() else {
            return;
        };
        let l = &mut self.nodes_list;
        let f = l.filter.to_lowercase();
        let rows: Vec<usize> = (0..data.nodes.len())
            .filter(|&i| {
                let v = &data.nodes[i];
                f.is_empty()
                    || v.node.node_name.to_lowercase().contains(&f)
                    || super::tabs::nodes::status(v, data.simulated)
                        .to_lowercase()
                        .contains(&f)
                    || v.instances.iter().any(|(a, s, _)| {
                        a.to_lowercase().contains(&f) || s.to_lowercase().contains(&f)
                    })
            })
            .collect();
        l.selected = keep
            .and_then(|n| rows.iter().position(|&i| data.nodes[i].node.node_name == n))
            .unwrap_or(l.selected)
            .min(rows.len().saturating_sub(1));
        l.rows = rows;
    }

    /// Services in the state's order (by application as added), filtered.
    fn rebuild_deployments(&mut self) {
        let key = |r: &DeploymentRow| (r.service.application.clone(), r.service.service_id.clone());
        let keep = self.selected_deployment().map(key);
        let Some(data) = self.deployments.data.as_ref() else {
            return;
        };
        let l = &mut self.deployments_list;
        let f = l.filter.to_lowercase();
        let rows: Vec<usize> = (0..data.len())
            .filter(|&i| {
                let s = &data[i].service;
                f.is_empty()
                    || s.application.to_lowercase().contains(&f)
                    || s.service_name.to_lowercase().contains(&f)
                    || s.status.to_lowercase().contains(&f)
                    || s.placement
                        .iter()
                        .any(|(n, _)| n.to_lowercase().contains(&f))
            })
            .collect();
        l.selected = keep
            .and_then(|k| rows.iter().position(|&i| key(&data[i]) == k))
            .unwrap_or(l.selected)
            .min(rows.len().saturating_sub(1));
        l.rows = rows;
    }

    fn rebuild_apps(&mut self) {
        let keep = self
            .select_after_load
            .take()
            .or_else(|| self.selected_app().map(|a| a.application_name.clone()));
        let Some(apps) = self.apps.data.as_ref() else {
            return;
        };
        let l = &mut self.apps_list;
        let key = (l.sort, l.desc, l.generation);
        if l.order_for != Some(key) {
            let mut order: Vec<usize> = (0..apps.len()).collect();
            order.sort_by(|&a, &b| {
                let (x, y) = (&apps[a], &apps[b]);
                let o = match l.sort {
                    1 => x.run_id.cmp(&y.run_id),
                    2 => x.user_id.cmp(&y.user_id),
                    3 => x.stage_count().cmp(&y.stage_count()),
                    4 => x.client_count.cmp(&y.client_count),
                    5 => x.updated_at.cmp(&y.updated_at),
                    _ => std::cmp::Ordering::Equal,
                };
                o.then_with(|| x.application_name.cmp(&y.application_name))
            });
            if l.desc {
                order.reverse();
            }
            l.order = order;
            l.order_for = Some(key);
        }
        let f = l.filter.to_lowercase();
        let rows: Vec<usize> = l
            .order
            .iter()
            .copied()
            .filter(|&i| f.is_empty() || app_matches(&apps[i], &f))
            .collect();
        l.selected = keep
            .and_then(|n| rows.iter().position(|&i| apps[i].application_name == n))
            .unwrap_or(l.selected)
            .min(rows.len().saturating_sub(1));
        l.rows = rows;
    }

    fn rebuild_agents(&mut self) {
        let keep = self.selected_agent().map(|a| a.application_name.clone());
        let Some(agents) = self.agents.data.as_ref() else {
            return;
        };
        let l = &mut self.agents_list;
        let f = l.filter.to_lowercase();
        let mut rows: Vec<usize> = (0..agents.len())
            .filter(|&i| {
                let a = &agents[i];
                f.is_empty()
                    || a.application_name.to_lowercase().contains(&f)
                    || a.runtime.to_lowercase().contains(&f)
                    || a.handle.to_lowercase().contains(&f)
                    || super::tabs::agents::state_label(a)
                        .to_lowercase()
                        .contains(&f)
            })
            .collect();
        let key = l.sort;
        let health = |a: &AgentStatus| a.health.clone().unwrap_or_default();
        rows.sort_by(|&a, &b| {
            let (x, y) = (&agents[a], &agents[b]);
            let o = match key {
                1 => super::tabs::agents::state_label(x).cmp(&super::tabs::agents::state_label(y)),
                2 => health(x).rate_per_s.total_cmp(&health(y).rate_per_s),
                3 => health(x).stored.cmp(&health(y).stored),
                4 => health(x).queue_depth.cmp(&health(y).queue_depth),
                5 => x.updated_at.cmp(&y.updated_at),
                _ => std::cmp::Ordering::Equal,
            };
            o.then_with(|| x.application_name.cmp(&y.application_name))
        });
        if l.desc {
            rows.reverse();
        }
        l.selected = keep
            .and_then(|n| rows.iter().position(|&i| agents[i].application_name == n))
            .unwrap_or(l.selected)
            .min(rows.len().saturating_sub(1));
        l.rows = rows;
    }

    // ---- prompts ----------------------------------------------------------------------

    fn on_filter_key(&mut self, mut input: Input, key: Key, k: KeyEvent) {
        match self.keymap.action(Layer::Prompt, key) {
            Some(Action::PromptSubmit) => return,
            Some(Action::PromptCancel) => {
                if let Some(l) = self.list_mut() {
                    l.filter.clear();
                }
                self.rebuild_current();
                return;
            }
            Some(_) => {}
            None => {
                if input.handle_event(&CtEvent::Key(k)).is_some() {
                    let v = input.value().to_string();
                    if let Some(l) = self.list_mut() {
                        l.filter = v;
                        l.selected = 0;
                    }
                    self.rebuild_current();
                }
            }
        }
        self.overlay = Overlay::Filter(input);
    }

    /// Entries of the command palette matching `filter`.
    pub fn palette_entries(&self, filter: &str) -> Vec<Action> {
        let f = filter.to_lowercase();
        REGISTRY
            .iter()
            .filter(|d| {
                matches!(
                    d.context,
                    Context::Global | Context::Navigation | Context::Table
                ) || Some(d.context) == self.tab.context()
            })
            .filter(|d| d.action != Action::Palette && self.allowed(d.action))
            .filter(|d| {
                f.is_empty() || d.name.contains(&f) || d.description.to_lowercase().contains(&f)
            })
            .map(|d| d.action)
            .collect()
    }

    fn on_palette_key(&mut self, mut p: Prompt, key: Key, k: KeyEvent, fx: &mut Vec<Effect>) {
        let n = self.palette_entries(p.input.value()).len();
        match self.keymap.action(Layer::Prompt, key) {
            Some(Action::PromptCancel) => return,
            Some(Action::PromptSubmit) => {
                let entries = self.palette_entries(p.input.value());
                if let Some(a) = entries.get(p.selected.unwrap_or(0)) {
                    self.run_action(*a, fx);
                }
                return;
            }
            Some(Action::PromptNext) if n > 0 => {
                p.selected = Some((p.selected.unwrap_or(0) + 1).min(n - 1));
            }
            Some(Action::PromptPrev) => {
                p.selected = Some(p.selected.unwrap_or(0).saturating_sub(1));
            }
            Some(_) => {}
            None => {
                if p.input.handle_event(&CtEvent::Key(k)).is_some() {
                    p.selected = Some(0);
                }
            }
        }
        self.overlay = Overlay::Palette(p);
    }

    fn app_names(&self) -> Vec<&str> {
        self.apps
            .data
            .as_ref()
            .map(|v| v.iter().map(|a| a.application_name.as_str()).collect())
            .unwrap_or_default()
    }

    fn refresh_suggestions(&self, p: &mut Prompt) {
        p.suggestions = match command::complete(p.input.value(), &self.app_names()) {
            Completion::Words(w) => w,
            Completion::Path => Vec::new(),
        };
        p.selected = None;
    }

    fn on_command_key(&mut self, mut p: Prompt, key: Key, k: KeyEvent, fx: &mut Vec<Effect>) {
        match self.keymap.action(Layer::Prompt, key) {
            Some(Action::PromptCancel) => return,
            Some(Action::PromptSubmit) => {
                // A highlighted suggestion is taken first, as in a shell's menu completion.
                if let Some(s) = p.selected.and_then(|i| p.suggestions.get(i)).cloned() {
                    let line = command::replace_last_word(p.input.value(), &s, true);
                    p.input = Input::new(line);
                    self.refresh_suggestions(&mut p);
                    self.overlay = Overlay::Command(p);
                    return;
                }
                let line = p.input.value().to_string();
                match command::parse(&line) {
                    Ok(cmd) => self.run_command(cmd, fx),
                    Err(e) => {
                        p.error = Some(e);
                        self.overlay = Overlay::Command(p);
                    }
                }
                return;
            }
            Some(Action::PromptComplete) => {
                match command::complete(p.input.value(), &self.app_names()) {
                    Completion::Path => fx.push(Effect::CompletePath {
                        target: CompletionTarget::CommandLine,
                        value: p.input.value().to_string(),
                    }),
                    Completion::Words(w) => {
                        if w.len() == 1 {
                            let line = command::replace_last_word(p.input.value(), &w[0], true);
                            p.input = Input::new(line);
                            self.refresh_suggestions(&mut p);
                        } else if w.len() > 1 {
                            let prefix = command::common_prefix(&w);
                            let line = command::replace_last_word(p.input.value(), &prefix, false);
                            p.input = Input::new(line);
                            p.suggestions = w;
                        }
                    }
                }
            }
            Some(Action::PromptNext) if !p.suggestions.is_empty() => {
                p.selected = Some(match p.selected {
                    None => 0,
                    Some(i) => (i + 1).min(p.suggestions.len() - 1),
                });
            }
            Some(Action::PromptPrev) => {
                p.selected = p.selected.and_then(|i| i.checked_sub(1));
            }
            Some(_) => {}
            None => {
                if p.input.handle_event(&CtEvent::Key(k)).is_some() {
                    p.error = None;
                    self.refresh_suggestions(&mut p);
                }
            }
        }
        self.overlay = Overlay::Command(p);
    }

    fn run_command(&mut self, cmd: Command, fx: &mut Vec<Effect>) {
        match cmd {
            Command::Quit => {
                self.quit = true;
                fx.push(Effect::Quit);
            }
            Command::Help => self.overlay = Overlay::Help { scroll: 0 },
            Command::Refresh => self.run_action(Action::Refresh, fx),
            Command::Tab(t) => self.switch_tab(t, fx),
            Command::App(c) => self.run_app_command(c, fx),
            Command::Node(c) => self.run_node_command(c, fx),
            Command::Plan => {
                self.switch_tab(Tab::Deployments, fx);
                self.request_plan(PlanPurpose::Preview, fx);
            }
            Command::Apply => {
                self.switch_tab(Tab::Deployments, fx);
                self.request_plan(PlanPurpose::Apply, fx);
            }
            Command::Scale {
                app,
                service,
                replicas,
            } => {
                if self.readonly {
                    return self.say(false, "scale is refused: rohe runs read-only");
                }
                self.switch_tab(Tab::Deployments, fx);
                self.scale(app, service, replicas, fx);
            }
        }
    }

    /// `:node cordon|uncordon|fail|recover NAME`: the requests of `rohe node ...`. Failing a
    /// node asks first, as `F` does.
    fn run_node_command(&mut self, c: command::NodeCmd, fx: &mut Vec<Effect>) {
        if self.readonly {
            return self.say(false, "node changes are refused: rohe runs read-only");
        }
        self.switch_tab(Tab::Nodes, fx);
        match c {
            command::NodeCmd::Cordon { node } => self.execute(
                Request::NodeCordon {
                    name: node,
                    cordoned: true,
                    dry_run: false,
                },
                fx,
            ),
            command::NodeCmd::Uncordon { node } => self.execute(
                Request::NodeCordon {
                    name: node,
                    cordoned: false,
                    dry_run: false,
                },
                fx,
            ),
            command::NodeCmd::Fail { node } => self.ask_fail(node),
            command::NodeCmd::Recover { node } => {
                self.execute(Request::NodeRecover { name: node }, fx)
            }
        }
    }

    /// `:app ...`: the CLI's commands, through the same requests.
    fn run_app_command(&mut self, c: AppCommand, fx: &mut Vec<Effect>) {
        let refuse = |app: &mut App, what: &str| {
            app.say(false, format!("{what} is refused: rohe runs read-only"));
        };
        match c {
            AppCommand::Register { file, dry_run } => {
                if self.readonly && !dry_run {
                    return refuse(self, "app register");
                }
                fx.push(Effect::LoadSpec {
                    path: file,
                    purpose: SpecPurpose::Command { dry_run },
                });
            }
            AppCommand::List => self.switch_tab(Tab::Applications, fx),
            AppCommand::Show { name } => {
                self.switch_tab(Tab::Applications, fx);
                self.apps_list.filter.clear();
                self.rebuild_apps();
                let pos = self.apps.data.as_ref().and_then(|apps| {
                    self.apps_list
                        .rows
                        .iter()
                        .position(|&i| apps[i].application_name == name)
                });
                match pos {
                    Some(p) => {
                        self.apps_list.selected = p;
                        self.view = View::Detail { scroll: 0 };
                        self.want_detail(fx);
                    }
                    None => self.say(
                        false,
                        format!("no application named {name:?} is registered"),
                    ),
                }
            }
            AppCommand::Unregister {
                name,
                purge,
                force,
                yes,
                dry_run,
            } => {
                if self.readonly && !dry_run {
                    return refuse(self, "app unregister");
                }
                let req = Request::UnregisterApp {
                    name: name.clone(),
                    purge,
                    force,
                    dry_run,
                };
                if yes || dry_run {
                    self.execute(req, fx);
                } else {
                    self.overlay = Overlay::Dialog(Dialog::unregister(name, purge, force, dry_run));
                }
            }
            AppCommand::QoaConfig {
                name,
                microservice,
                out: Some(out_dir),
            } => self.execute(
                Request::ExportQoaConfig {
                    name,
                    microservice,
                    out_dir,
                },
                fx,
            ),
            AppCommand::QoaConfig {
                name,
                microservice,
                out: None,
            } => fx.push(Effect::LoadQoaConfigs { name, microservice }),
        }
    }

    fn execute(&mut self, req: Request, fx: &mut Vec<Effect>) {
        if let Request::RegisterApp {
            spec,
            dry_run: false,
            ..
        } = &req
        {
            self.select_after_load = Some(spec.application_name.clone());
        }
        self.busy += 1;
        self.say(true, format!("{}…", req.action()));
        fx.push(Effect::Execute(req));
    }

    // ---- forms ------------------------------------------------------------------------

    fn on_form_key(&mut self, mut f: Form, key: Key, k: KeyEvent, fx: &mut Vec<Effect>) {
        match self.keymap.action(Layer::Form, key) {
            Some(Action::FormCancel) => return,
            Some(Action::FormSubmit) => {
                if self.submit_form(&mut f, fx) {
                    return;
                }
            }
            Some(Action::FormNext) => {
                let field = &f.fields[f.focus];
                if field.is_path() && !field.value().is_empty() && field.ok.is_none() {
                    // Complete first; the completion result moves on when nothing is left.
                    fx.push(Effect::CompletePath {
                        target: CompletionTarget::FormField(f.focus),
                        value: field.value().to_string(),
                    });
                } else {
                    Self::leave_field(&f, fx);
                    f.focus = (f.focus + 1) % f.fields.len();
                }
            }
            Some(Action::FormPrev) => {
                Self::leave_field(&f, fx);
                f.focus = (f.focus + f.fields.len() - 1) % f.fields.len();
            }
            Some(_) => {}
            None => {
                let i = f.focus;
                if f.fields[i].input.handle_event(&CtEvent::Key(k)).is_some() {
                    f.fields[i].candidates.clear();
                    f.error = None;
                    f.validate_field(i);
                }
            }
        }
        self.overlay = Overlay::Form(f);
    }

    /// Leaving the file field checks the file in the background.
    fn leave_field(f: &Form, fx: &mut Vec<Effect>) {
        let field = &f.fields[f.focus];
        if field.id == FieldId::File && !field.value().is_empty() && field.ok.is_none() {
            fx.push(Effect::LoadSpec {
                path: PathBuf::from(field.value()),
                purpose: SpecPurpose::FormCheck,
            });
        }
    }

    /// Submit the form; true when it is done with (closed, or replaced by a dialog).
    fn submit_form(&mut self, f: &mut Form, fx: &mut Vec<Effect>) -> bool {
        f.error = None;
        for i in 0..f.fields.len() {
            f.validate_field(i);
        }
        match f.kind.clone() {
            FormKind::Replicas { app, service } => match parse_replicas(f.fields[0].value()) {
                Ok(n) => {
                    self.scale(app, service, n, fx);
                    f.submitting = true;
                }
                Err(e) => {
                    f.fields[0].error = Some(e);
                    return false;
                }
            },
            FormKind::AgentConfig { app } => {
                let file = f.fields[0].value().trim().to_string();
                if file.is_empty() {
                    f.fields[0].error = Some("give a stream config file".into());
                    return false;
                }
                let file = PathBuf::from(file);
                // A running agent restarts with the new config: its data flow stops for a
                // moment, so ask first.
                if self.agent_of(&app).is_some_and(|a| a.state.is_active()) {
                    self.overlay =
                        Overlay::Dialog(Dialog::agent(DialogKind::AgentConfigure { file }, app));
                    return true;
                }
                self.execute(
                    Request::AgentConfigure {
                        name: app,
                        file,
                        dry_run: false,
                    },
                    fx,
                );
                f.submitting = true;
            }
            FormKind::History => {
                if f.fields.iter().any(|x| x.error.is_some()) {
                    return false;
                }
                let value = |i: usize| f.fields[i].value().trim().to_string();
                let (since, until) = (value(0), value(1));
                if since.is_empty() {
                    f.fields[0].error = Some("required".into());
                    return false;
                }
                let (Ok(since), until) = (
                    crate::cli::parse_since(&since),
                    if until.is_empty() {
                        Ok(self.wall)
                    } else {
                        crate::cli::parse_since(&until)
                    },
                ) else {
                    return false; // validate_field has explained it
                };
                let Ok(until) = until else {
                    return false;
                };
                if since >= until {
                    f.error = Some("the range is empty: since must come before until".into());
                    return false;
                }
                self.metrics.history = Some((since, until));
                self.metrics_selection_changed(fx);
                return true;
            }
            FormKind::Export { app } => {
                let dir = f.fields[0].value().trim().to_string();
                if dir.is_empty() {
                    f.fields[0].error = Some("give a directory".into());
                    return false;
                }
                self.execute(
                    Request::ExportQoaConfig {
                        name: app,
                        microservice: None,
                        out_dir: PathBuf::from(dir),
                    },
                    fx,
                );
                f.submitting = true;
            }
            FormKind::Register => {
                let get = |id| {
                    f.field(id)
                        .map(|x| x.value().trim().to_string())
                        .unwrap_or_default()
                };
                let (file, name, run, user) = (
                    get(FieldId::File),
                    get(FieldId::Name),
                    get(FieldId::RunId),
                    get(FieldId::UserId),
                );
                let by_fields = !(name.is_empty() && run.is_empty() && user.is_empty());
                if !file.is_empty() && by_fields {
                    f.error = Some(
                        "give either a description file, or name, run_id and user_id; not both"
                            .into(),
                    );
                    return false;
                }
                if !file.is_empty() {
                    f.submitting = true;
                    fx.push(Effect::LoadSpec {
                        path: PathBuf::from(file),
                        purpose: SpecPurpose::FormSubmit,
                    });
                    return false;
                }
                if !by_fields {
                    if let Some(x) = f.field_mut(FieldId::File) {
                        x.error =
                            Some("give a description file, or fill in the fields below".into());
                    }
                    return false;
                }
                for (id, v) in [
                    (FieldId::Name, &name),
                    (FieldId::RunId, &run),
                    (FieldId::UserId, &user),
                ] {
                    if v.is_empty()
                        && let Some(x) = f.field_mut(id)
                    {
                        x.error = Some("required".into());
                    }
                }
                if f.fields.iter().any(|x| x.error.is_some()) {
                    return false;
                }
                let spec = ApplicationSpec {
                    application_name: name,
                    run_id: run,
                    user_id: user,
                    description: None,
                    stages: Vec::new(),
                };
                if let Err(e) = spec.validate() {
                    f.error = Some(e.to_string());
                    return false;
                }
                f.submitting = true;
                self.execute(
                    Request::RegisterApp {
                        spec,
                        file: None,
                        dry_run: false,
                    },
                    fx,
                );
            }
        }
        false
    }

    fn on_spec(
        &mut self,
        path: PathBuf,
        purpose: SpecPurpose,
        result: Result<ApplicationSpec, String>,
        fx: &mut Vec<Effect>,
    ) {
        match purpose {
            SpecPurpose::Command { dry_run } => match result {
                Ok(spec) => self.execute(
                    Request::RegisterApp {
                        spec,
                        file: Some(path),
                        dry_run,
                    },
                    fx,
                ),
                Err(e) => self.say(false, e),
            },
            SpecPurpose::FormCheck | SpecPurpose::FormSubmit => {
                let Overlay::Form(f) = &mut self.overlay else {
                    return;
                };
                let Some(field) = f.field_mut(FieldId::File) else {
                    return;
                };
                if path.as_path() != std::path::Path::new(field.value().trim()) {
                    return; // typed on since
                }
                match result {
                    Ok(spec) => {
                        field.error = None;
                        field.ok = Some(format!(
                            "{}: {} stage(s), {} microservice(s)",
                            spec.application_name,
                            spec.stages.len(),
                            spec.stages
                                .iter()
                                .map(|s| s.microservices.len())
                                .sum::<usize>()
                        ));
                        if purpose == SpecPurpose::FormSubmit && f.submitting {
                            self.execute(
                                Request::RegisterApp {
                                    spec,
                                    file: Some(path),
                                    dry_run: false,
                                },
                                fx,
                            );
                        }
                    }
                    Err(e) => {
                        field.ok = None;
                        field.error = Some(e);
                        f.submitting = false;
                    }
                }
            }
        }
    }

    fn on_path_completed(
        &mut self,
        target: CompletionTarget,
        value: &str,
        candidates: Vec<String>,
        fx: &mut Vec<Effect>,
    ) {
        match (target, &mut self.overlay) {
            (CompletionTarget::FormField(i), Overlay::Form(f)) if f.focus == i => {
                let Some(field) = f.fields.get_mut(i) else {
                    return;
                };
                if field.value() != value {
                    return;
                }
                let done =
                    candidates.is_empty() || (candidates.len() == 1 && candidates[0] == value);
                if done {
                    field.candidates.clear();
                    let mut form = f.clone();
                    Self::leave_field(&form, fx);
                    form.focus = (form.focus + 1) % form.fields.len();
                    self.overlay = Overlay::Form(form);
                    return;
                }
                let next = if candidates.len() == 1 {
                    candidates[0].clone()
                } else {
                    command::common_prefix(&candidates)
                };
                if next.len() > value.len() {
                    field.input = Input::new(next.clone());
                }
                field.candidates = if candidates.len() > 1 {
                    candidates
                } else {
                    Vec::new()
                };
                field.error = None;
                field.ok = None;
                if field.id == FieldId::File && !next.ends_with('/') && field.candidates.is_empty()
                {
                    fx.push(Effect::LoadSpec {
                        path: PathBuf::from(next),
                        purpose: SpecPurpose::FormCheck,
                    });
                }
            }
            (CompletionTarget::CommandLine, Overlay::Command(p)) => {
                if p.input.value() != value {
                    return;
                }
                let current = command::last_word(value);
                if candidates.len() == 1 {
                    let dir = candidates[0].ends_with('/');
                    let line = command::replace_last_word(value, &candidates[0], !dir);
                    p.input = Input::new(line);
                    p.suggestions.clear();
                } else if candidates.len() > 1 {
                    let prefix = command::common_prefix(&candidates);
                    if prefix.len() > current.len() {
                        let line = command::replace_last_word(value, &prefix, false);
                        p.input = Input::new(line);
                    }
                    p.suggestions = candidates;
                } else {
                    p.error = Some(format!("no file matches {}", terminal_safe(&current)));
                }
                p.selected = None;
            }
            _ => {}
        }
    }

    fn on_op_finished(
        &mut self,
        action: &'static str,
        result: Result<Response, String>,
        fx: &mut Vec<Effect>,
    ) {
        self.busy = self.busy.saturating_sub(1);
        match &result {
            Ok(r) => self.say(true, r.summary()),
            Err(e) => self.say(false, format!("{action} failed: {e}")),
        }
        // A form waiting for this operation closes on success and shows the error otherwise.
        if let Overlay::Form(f) = &mut self.overlay
            && f.submitting
        {
            match &result {
                Ok(_) => self.overlay = Overlay::None,
                Err(e) => {
                    f.submitting = false;
                    f.error = Some(e.clone());
                }
            }
        }
        if let Ok(Response::Unregistered(u)) = &result
            && !u.dry_run
        {
            if self
                .detail
                .as_ref()
                .is_some_and(|(n, _)| *n == u.application_name)
            {
                self.detail = None;
            }
            if matches!(self.view, View::Detail { .. }) {
                self.view = View::Table;
            }
        }
        if let Ok(Response::Registered(r)) = &result
            && r.dry_run
        {
            self.select_after_load = None;
        }
        // The demo waiting for its agent starts once the agent runs.
        if action == "agent.start"
            && let Some(name) = self.pending_demo.take()
        {
            match &result {
                Ok(Response::Agent(o)) if o.application_name == name => self.start_demo(name, fx),
                Ok(_) => self.pending_demo = Some(name),
                Err(_) => {
                    if let Some(o) = &self.last {
                        let text = format!("{}; the demo of {name} did not start", o.text);
                        self.say(false, text);
                    }
                }
            }
        }
        if let Ok(Response::Orchestration(_)) = &result {
            // Placement changed: both cluster tabs are stale; reload the visible one now.
            self.nodes.next_due = None;
            self.deployments.next_due = None;
            match self.tab {
                Tab::Nodes => fx.extend(self.nodes.request().then_some(Effect::LoadNodes)),
                Tab::Deployments => fx.extend(
                    self.deployments
                        .request()
                        .then_some(Effect::LoadDeployments),
                ),
                _ => {}
            }
            return;
        }
        if result.is_ok() && !matches!(result, Ok(Response::Exported(_))) {
            self.detail = None;
            if !matches!(result, Ok(Response::Agent(_))) && self.apps.request() {
                fx.push(Effect::LoadApps);
            }
            if matches!(self.tab, Tab::Agents | Tab::Metrics) && self.agents.request() {
                fx.push(Effect::LoadAgents);
            }
        } else if result.is_err() {
            self.select_after_load = None;
        }
    }

    // ---- dialogs ----------------------------------------------------------------------

    fn on_dialog_key(&mut self, mut d: Dialog, key: Key, k: KeyEvent, fx: &mut Vec<Effect>) {
        let order = d.order();
        let pos = order.iter().position(|f| *f == d.focus).unwrap_or(0);
        match self.keymap.action(Layer::Dialog, key) {
            Some(Action::DialogCancel) => return,
            Some(Action::DialogNext) => d.focus = order[(pos + 1) % order.len()],
            Some(Action::DialogPrev) => d.focus = order[(pos + order.len() - 1) % order.len()],
            Some(Action::DialogConfirm) => match d.focus {
                DialogFocus::Cancel => return,
                DialogFocus::Input => {
                    if d.confirm_enabled() {
                        d.focus = DialogFocus::Confirm;
                        d.error = None;
                    } else {
                        d.error = Some("the name does not match".into());
                    }
                }
                DialogFocus::Confirm => {
                    if !d.confirm_enabled() {
                        d.error = Some(format!(
                            "type {} to confirm purging its metrics",
                            terminal_safe(&d.name)
                        ));
                    } else {
                        self.execute(d.request(), fx);
                        return;
                    }
                }
            },
            Some(_) => {}
            None => {
                if d.focus == DialogFocus::Input && d.typed.handle_event(&CtEvent::Key(k)).is_some()
                {
                    d.error = None;
                }
            }
        }
        self.overlay = Overlay::Dialog(d);
    }
}

/// A replica count typed by the user: a whole number, 0 or more.
pub fn parse_replicas(v: &str) -> Result<u32, String> {
    let v = v.trim();
    if v.is_empty() {
        return Err("required: a whole number of replicas".into());
    }
    v.parse::<u32>().map_err(|_| {
        format!(
            "{:?} is not a number: give a whole number, 0 or more",
            terminal_safe(v)
        )
    })
}

/// A plan as the CLI prints it (`rohe plan`), one line per change.
pub fn plan_lines(report: &crate::ops::CycleReport) -> Vec<String> {
    let mut buf = Vec::new();
    if crate::cli::orchestration::write_cycle(&mut buf, report).is_err() {
        return vec![report.summary()];
    }
    String::from_utf8_lossy(&buf)
        .lines()
        .map(str::to_string)
        .collect()
}

fn app_matches(a: &AppSummary, f: &str) -> bool {
    let has = |s: &str| {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            s.to_lowercase().contains(f)
        } else {
            s.contains(f)
        }
    };
    has(&a.application_name) || has(&a.run_id) || has(&a.user_id) || {
        // Only look at the ID when the filter could be part of one; no allocation.
        f.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') && {
            let mut buf = [0u8; 36];
            let id: &str = a.app_id.hyphenated().encode_lower(&mut buf);
            id.contains(f)
        }
    }
}
