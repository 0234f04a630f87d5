//! The console's state and its reducer. [`App::update`] is pure: it takes one [`Event`],
//! changes the state and returns the [`Effect`]s to carry out (loads, `ops::Request`s, the
//! clipboard). No I/O happens here, so key sequences can be tested without a terminal.

use super::command::{self, Command, Completion};
use super::event::{CompletionTarget, Effect, Event, SpecPurpose};
use super::keymap::{Action, Context, Key, Keymap, Layer, REGISTRY};
use crate::cli::AppCommand;
use crate::domain::app::{AppSummary, ApplicationSpec};
use crate::domain::sanitize::terminal_safe;
use crate::ops::{AppDetail, Request, Response};
use crate::ports::AgentRecord;
use crossterm::event::{Event as CtEvent, KeyCode, KeyEvent, KeyModifiers};
use std::cell::Cell;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

/// The detail pane sits beside the table from this width on; below it collapses.
pub const SIDE_PANE_MIN_WIDTH: u16 = 120;
/// Longest wait between retries of a failing backend.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

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
        matches!(self, Tab::Applications | Tab::Agents)
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
pub const AGENT_SORTS: &[&str] = &["application", "state", "runtime", "updated"];

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
        matches!(self.id, FieldId::File | FieldId::OutDir)
    }
    pub fn value(&self) -> &str {
        self.input.value()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum FormKind {
    Register,
    Export { app: String },
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
    pub fn title(&self) -> String {
        match &self.kind {
            FormKind::Register => "Register an application".into(),
            FormKind::Export { app } => {
                format!("Export QoA4ML configs of {}", terminal_safe(app))
            }
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
            FieldId::File | FieldId::OutDir => {}
            FieldId::Name if !v.is_empty() => {
                f.error = crate::domain::names::validate_app_name("application_name", &v)
                    .err()
                    .map(|e| e.message);
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

/// The unregister confirmation.
#[derive(Debug, Clone)]
pub struct Dialog {
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

pub struct App {
    pub keymap: Keymap,
    pub readonly: bool,
    pub refresh: Duration,
    pub info: StatusInfo,
    pub now: Instant,
    pub size: (u16, u16),
    pub tab: Tab,
    pub view: View,
    pub overlay: Overlay,
    pub apps: Resource<Vec<AppSummary>>,
    pub agents: Resource<Vec<AgentRecord>>,
    pub apps_list: ListView,
    pub agents_list: ListView,
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
            size: (80, 24),
            tab: Tab::Applications,
            view: View::Table,
            overlay: Overlay::None,
            apps: Resource::default(),
            agents: Resource::default(),
            apps_list: ListView::default(),
            agents_list: ListView::default(),
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

    /// The effects to run at start: load the first tab.
    pub fn start(&mut self) -> Vec<Effect> {
        let mut fx = Vec::new();
        self.load_tab(self.tab, &mut fx);
        fx
    }

    /// Whether an action is available (read-only mode hides state-changing ones).
    pub fn allowed(&self, action: Action) -> bool {
        !(self.readonly && super::keymap::def_of(action).changes_state)
    }

    pub fn side_pane(&self) -> bool {
        self.size.0 >= SIDE_PANE_MIN_WIDTH && self.tab.has_rows() && self.view == View::Table
    }

    /// Rows of a table that fit on screen (tab bar, hints, status, borders, header).
    pub fn page_rows(&self) -> usize {
        (self.size.1 as usize).saturating_sub(6).max(1)
    }

    pub fn selected_app(&self) -> Option<&AppSummary> {
        let i = self.apps_list.selected_index()?;
        self.apps.data.as_ref()?.get(i)
    }

    pub fn selected_agent(&self) -> Option<&AgentRecord> {
        let i = self.agents_list.selected_index()?;
        self.agents.data.as_ref()?.get(i)
    }

    fn list_mut(&mut self) -> Option<&mut ListView> {
        match self.tab {
            Tab::Applications => Some(&mut self.apps_list),
            Tab::Agents => Some(&mut self.agents_list),
            _ => None,
        }
    }

    pub fn list(&self) -> Option<&ListView> {
        match self.tab {
            Tab::Applications => Some(&self.apps_list),
            Tab::Agents => Some(&self.agents_list),
            _ => None,
        }
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
                }
            }
            Event::AgentsLoaded(r) => {
                let now = self.now;
                if self.agents.finish(r, now, self.refresh) {
                    fx.push(Effect::LoadAgents);
                }
                if self.agents.error.is_none() {
                    self.rebuild_agents();
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
        self.now = now.max(self.now);
        // Data ages and retry countdowns on screen change every second.
        if self.tab.has_rows() || self.last.is_some() {
            self.dirty = true;
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
            _ => {}
        }
    }

    fn load_tab(&mut self, tab: Tab, fx: &mut Vec<Effect>) {
        let started = match tab {
            Tab::Applications => self.apps.request().then_some(Effect::LoadApps),
            Tab::Agents => self.agents.request().then_some(Effect::LoadAgents),
            _ => None,
        };
        fx.extend(started);
    }

    fn switch_tab(&mut self, tab: Tab, fx: &mut Vec<Effect>) {
        if self.tab != tab {
            self.tab = tab;
            self.view = View::Table;
            let stale = match tab {
                Tab::Applications => self.apps.due(self.now),
                Tab::Agents => self.agents.due(self.now),
                _ => false,
            };
            if stale {
                self.load_tab(tab, fx);
            }
            self.want_detail(fx);
        }
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
                if let Some(a) = self.keymap.action(Layer::Main, key) {
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
            Action::Details if self.view == View::Table => {
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
                    self.overlay = Overlay::Dialog(Dialog {
                        name,
                        purge: a == Action::Purge,
                        force: false,
                        dry_run: false,
                        typed: Input::default(),
                        focus: DialogFocus::Cancel,
                        error: None,
                    });
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

    /// Name of the selected row's application (Applications or Agents tab).
    pub fn selected_app_name(&self) -> Option<String> {
        match self.tab {
            Tab::Applications => self.selected_app().map(|a| a.application_name.clone()),
            Tab::Agents => self.selected_agent().map(|a| a.application_name.clone()),
            _ => None,
        }
    }

    fn selected_name(&self) -> Option<String> {
        self.selected_app_name()
    }

    fn selected_id(&self) -> Option<(&'static str, String)> {
        match self.tab {
            Tab::Applications => self
                .selected_app()
                .map(|a| ("app_id", a.app_id.to_string())),
            Tab::Agents => self
                .selected_agent()
                .map(|a| ("app_id", a.app_id.to_string())),
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
            _ => return self.say(false, "nothing selected"),
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
            _ => {}
        }
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
                    || format!("{:?}", a.state).to_lowercase().contains(&f)
            })
            .collect();
        let key = l.sort;
        rows.sort_by(|&a, &b| {
            let (x, y) = (&agents[a], &agents[b]);
            let o = match key {
                1 => format!("{:?}", x.state).cmp(&format!("{:?}", y.state)),
                2 => x.runtime.cmp(&y.runtime),
                3 => x.updated_at.cmp(&y.updated_at),
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
                )
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
                    self.overlay = Overlay::Dialog(Dialog {
                        name,
                        purge,
                        force,
                        dry_run,
                        typed: Input::default(),
                        focus: DialogFocus::Cancel,
                        error: None,
                    });
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
            Some(Action::FormSubmit) => self.submit_form(&mut f, fx),
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

    fn submit_form(&mut self, f: &mut Form, fx: &mut Vec<Effect>) {
        f.error = None;
        for i in 0..f.fields.len() {
            f.validate_field(i);
        }
        match f.kind.clone() {
            FormKind::Export { app } => {
                let dir = f.fields[0].value().trim().to_string();
                if dir.is_empty() {
                    f.fields[0].error = Some("give a directory".into());
                    return;
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
                    return;
                }
                if !file.is_empty() {
                    f.submitting = true;
                    fx.push(Effect::LoadSpec {
                        path: PathBuf::from(file),
                        purpose: SpecPurpose::FormSubmit,
                    });
                    return;
                }
                if !by_fields {
                    if let Some(x) = f.field_mut(FieldId::File) {
                        x.error =
                            Some("give a description file, or fill in the fields below".into());
                    }
                    return;
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
                    return;
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
                    return;
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
        if result.is_ok() && !matches!(result, Ok(Response::Exported(_))) {
            self.detail = None;
            if self.apps.request() {
                fx.push(Effect::LoadApps);
            }
            if self.tab == Tab::Agents && self.agents.request() {
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
                        self.execute(
                            Request::UnregisterApp {
                                name: d.name,
                                purge: d.purge,
                                force: d.force,
                                dry_run: d.dry_run,
                            },
                            fx,
                        );
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
