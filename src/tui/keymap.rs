//! The console's one action registry and the keymap built from it.
//!
//! Every action the console knows is listed once in [`REGISTRY`]: its name, the context it
//! applies in, its default keys and a description. Everything else is derived from it: the
//! key lookup, the help overlay, the command palette, `rohe keymap show` and the shipped
//! `keymaps/default.yaml` (a test keeps that file identical to the registry).
//!
//! Users override keys in `$XDG_CONFIG_HOME/rohe/keymap.yaml` or `--keymap FILE`, in the same
//! format as `keymaps/default.yaml`; only the listed actions change. A key used twice among
//! the contexts that are active together is an error naming both actions. The tab contexts
//! (`applications`, `agents`, `nodes`, `deployments`, `metrics`) are active only on their
//! tab, on top of global, navigation and table: `e` may export on one tab and edit an
//! agent's config on another. No tab may reuse a key of global or navigation; a tab may take
//! over a key of the table context on its own tab (the Nodes tab's `c` cordons where the
//! application tabs' `c` copies an app_id), and the tab's action wins there.

use crate::error::{Error, Result};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where an action applies. Contexts in the same [`Layer`] are active at the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Context {
    /// Everywhere outside dialogs, forms and text prompts.
    Global,
    /// Moving in tables, detail views, text views and the help overlay.
    Navigation,
    /// Acting on the selected row (also from its detail view), or on the Metrics tab's
    /// application.
    Table,
    /// The Applications tab only.
    Applications,
    /// The Agents tab only.
    Agents,
    /// The Nodes tab only.
    Nodes,
    /// The Deployments tab only.
    Deployments,
    /// The Metrics tab only.
    Metrics,
    /// Confirmation dialogs.
    Dialog,
    /// Forms (register, export).
    Form,
    /// One-line prompts: filter, command line, palette.
    Prompt,
}

impl Context {
    pub const ALL: [Context; 11] = [
        Context::Global,
        Context::Navigation,
        Context::Table,
        Context::Applications,
        Context::Agents,
        Context::Nodes,
        Context::Deployments,
        Context::Metrics,
        Context::Dialog,
        Context::Form,
        Context::Prompt,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Context::Global => "global",
            Context::Navigation => "navigation",
            Context::Table => "table",
            Context::Applications => "applications",
            Context::Agents => "agents",
            Context::Nodes => "nodes",
            Context::Deployments => "deployments",
            Context::Metrics => "metrics",
            Context::Dialog => "dialog",
            Context::Form => "form",
            Context::Prompt => "prompt",
        }
    }
    pub fn parse(s: &str) -> Option<Context> {
        Context::ALL.into_iter().find(|c| c.name() == s)
    }
    pub fn layer(self) -> Layer {
        match self {
            Context::Global | Context::Navigation | Context::Table => Layer::Main,
            Context::Applications => Layer::Applications,
            Context::Agents => Layer::Agents,
            Context::Nodes => Layer::Nodes,
            Context::Deployments => Layer::Deployments,
            Context::Metrics => Layer::Metrics,
            Context::Dialog => Layer::Dialog,
            Context::Form => Layer::Form,
            Context::Prompt => Layer::Prompt,
        }
    }
}

/// Contexts that are active together; a key must be unique within a layer. A tab's layer is
/// active together with [`Layer::Main`], so its keys must not be used there either, except
/// keys of the table context, which the tab takes over on its own tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    Main,
    Applications,
    Agents,
    Nodes,
    Deployments,
    Metrics,
    Dialog,
    Form,
    Prompt,
}

impl Layer {
    /// Layers in which printable characters are typed into a text field.
    fn takes_text(self) -> bool {
        matches!(self, Layer::Dialog | Layer::Form | Layer::Prompt)
    }
    /// The layers of one tab, active on top of the main layer.
    fn is_tab(self) -> bool {
        matches!(
            self,
            Layer::Applications
                | Layer::Agents
                | Layer::Nodes
                | Layer::Deployments
                | Layer::Metrics
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    Help,
    CommandLine,
    Palette,
    NextTab,
    PrevTab,
    TabApplications,
    TabAgents,
    TabNodes,
    TabDeployments,
    TabMetrics,
    Refresh,
    Back,
    MoveDown,
    MoveUp,
    PageDown,
    PageUp,
    Top,
    Bottom,
    Filter,
    SortNext,
    SortReverse,
    Details,
    Yaml,
    CopyId,
    Register,
    Unregister,
    Purge,
    Export,
    AgentStart,
    Demo,
    AgentStop,
    AgentRestart,
    AgentLogs,
    AgentConfig,
    NodeCordon,
    NodeFail,
    NodeRecover,
    ScaleUp,
    ScaleDown,
    ScaleSet,
    PlanPreview,
    ApplyPlan,
    MetricsPrevApp,
    MetricsNextApp,
    MetricsRange,
    MetricsHistory,
    MetricsLive,
    DialogNext,
    DialogPrev,
    DialogConfirm,
    DialogCancel,
    FormNext,
    FormPrev,
    FormSubmit,
    FormCancel,
    PromptSubmit,
    PromptCancel,
    PromptComplete,
    PromptNext,
    PromptPrev,
}

/// One entry of the registry.
#[derive(Debug, Clone, Copy)]
pub struct ActionDef {
    pub action: Action,
    pub name: &'static str,
    pub context: Context,
    pub keys: &'static [&'static str],
    pub description: &'static str,
    /// Hidden and refused in read-only mode.
    pub changes_state: bool,
}

const fn def(
    action: Action,
    name: &'static str,
    context: Context,
    keys: &'static [&'static str],
    description: &'static str,
) -> ActionDef {
    ActionDef {
        action,
        name,
        context,
        keys,
        description,
        changes_state: false,
    }
}

const fn mutating(mut d: ActionDef) -> ActionDef {
    d.changes_state = true;
    d
}

use Action as A;
use Context as C;

/// Every action of the console. The order is the order of the help overlay.
pub const REGISTRY: &[ActionDef] = &[
    def(A::Quit, "quit", C::Global, &["q", "ctrl-c"], "Quit rohe"),
    def(A::Help, "help", C::Global, &["?"], "Show or hide this help"),
    def(
        A::CommandLine,
        "command_line",
        C::Global,
        &[":"],
        "Command line (the CLI's commands, with completion)",
    ),
    def(
        A::Palette,
        "palette",
        C::Global,
        &["ctrl-p"],
        "Command palette: every action with its key",
    ),
    def(A::NextTab, "next_tab", C::Global, &["tab"], "Next tab"),
    def(
        A::PrevTab,
        "prev_tab",
        C::Global,
        &["shift-tab"],
        "Previous tab",
    ),
    def(
        A::TabApplications,
        "tab_applications",
        C::Global,
        &["1"],
        "Applications tab",
    ),
    def(A::TabAgents, "tab_agents", C::Global, &["2"], "Agents tab"),
    def(A::TabNodes, "tab_nodes", C::Global, &["3"], "Nodes tab"),
    def(
        A::TabDeployments,
        "tab_deployments",
        C::Global,
        &["4"],
        "Deployments tab",
    ),
    def(
        A::TabMetrics,
        "tab_metrics",
        C::Global,
        &["5"],
        "Metrics tab",
    ),
    def(
        A::Refresh,
        "refresh",
        C::Global,
        &["ctrl-r"],
        "Refresh the visible view now",
    ),
    def(
        A::Back,
        "back",
        C::Global,
        &["esc"],
        "Back: close the view or overlay, or clear the filter",
    ),
    def(
        A::MoveDown,
        "move_down",
        C::Navigation,
        &["j", "down"],
        "Down",
    ),
    def(A::MoveUp, "move_up", C::Navigation, &["k", "up"], "Up"),
    def(
        A::PageDown,
        "page_down",
        C::Navigation,
        &["pagedown"],
        "Page down",
    ),
    def(A::PageUp, "page_up", C::Navigation, &["pageup"], "Page up"),
    def(A::Top, "top", C::Navigation, &["g", "home"], "First row"),
    def(
        A::Bottom,
        "bottom",
        C::Navigation,
        &["G", "end"],
        "Last row",
    ),
    def(
        A::Filter,
        "filter",
        C::Table,
        &["/"],
        "Filter rows (substring, any column)",
    ),
    def(
        A::SortNext,
        "sort_next",
        C::Table,
        &["o"],
        "Sort by the next column",
    ),
    def(
        A::SortReverse,
        "sort_reverse",
        C::Table,
        &["O"],
        "Reverse the sort order",
    ),
    def(
        A::Details,
        "details",
        C::Table,
        &["enter"],
        "Open the selected row's details",
    ),
    def(
        A::Yaml,
        "yaml",
        C::Table,
        &["y"],
        "Show the selected object as YAML",
    ),
    def(
        A::CopyId,
        "copy_id",
        C::Table,
        &["c"],
        "Copy the selected app_id to the clipboard (OSC 52)",
    ),
    mutating(def(
        A::AgentStart,
        "agent_start",
        C::Table,
        &["s"],
        "Start the application's observation agent",
    )),
    mutating(def(
        A::Demo,
        "demo",
        C::Table,
        &["D"],
        "Start or stop the demo pipeline (10 reports/s; starts the agent first)",
    )),
    mutating(def(
        A::Register,
        "register",
        C::Applications,
        &["a"],
        "Register an application (form)",
    )),
    mutating(def(
        A::Unregister,
        "unregister",
        C::Applications,
        &["d"],
        "Unregister the selected application (asks first)",
    )),
    mutating(def(
        A::Purge,
        "purge",
        C::Applications,
        &["P"],
        "Unregister and purge its stored metrics (type the name)",
    )),
    def(
        A::Export,
        "export",
        C::Applications,
        &["e"],
        "Export the selected application's QoA4ML configs to a directory",
    ),
    mutating(def(
        A::AgentStop,
        "agent_stop",
        C::Agents,
        &["x"],
        "Stop the selected agent (asks first: data stops flowing)",
    )),
    mutating(def(
        A::AgentRestart,
        "agent_restart",
        C::Agents,
        &["r"],
        "Restart the selected agent with its stored config (asks first)",
    )),
    def(
        A::AgentLogs,
        "agent_logs",
        C::Agents,
        &["l"],
        "Show the selected agent's last 200 log lines",
    ),
    mutating(def(
        A::AgentConfig,
        "agent_config",
        C::Agents,
        &["e"],
        "Replace the selected agent's stream config from a file",
    )),
    mutating(def(
        A::NodeCordon,
        "node_cordon",
        C::Nodes,
        &["c"],
        "Cordon the selected node (asks first) or uncordon it",
    )),
    mutating(def(
        A::NodeFail,
        "node_fail",
        C::Nodes,
        &["F"],
        "Simulated cluster: fail the selected node (asks first; its services are re-placed)",
    )),
    mutating(def(
        A::NodeRecover,
        "node_recover",
        C::Nodes,
        &["R"],
        "Simulated cluster: the selected failed node is ready again",
    )),
    mutating(def(
        A::ScaleUp,
        "scale_up",
        C::Deployments,
        &["+"],
        "One more replica of the selected service (refused when nothing fits)",
    )),
    mutating(def(
        A::ScaleDown,
        "scale_down",
        C::Deployments,
        &["-"],
        "One replica fewer of the selected service",
    )),
    mutating(def(
        A::ScaleSet,
        "scale_set",
        C::Deployments,
        &["s"],
        "Set the selected service's replicas (form)",
    )),
    def(
        A::PlanPreview,
        "plan",
        C::Deployments,
        &["p"],
        "Plan: what a reconciliation would start and stop where, and why",
    ),
    mutating(def(
        A::ApplyPlan,
        "apply",
        C::Deployments,
        &["A"],
        "Apply: reconcile the cluster with the plan (asks first, showing it)",
    )),
    def(
        A::MetricsPrevApp,
        "metrics_prev_app",
        C::Metrics,
        &["left", "["],
        "Previous application",
    ),
    def(
        A::MetricsNextApp,
        "metrics_next_app",
        C::Metrics,
        &["right", "]"],
        "Next application",
    ),
    def(
        A::MetricsRange,
        "metrics_range",
        C::Metrics,
        &["t"],
        "Live range: the last 1, 5, 15 or 60 minutes (cycles)",
    ),
    def(
        A::MetricsHistory,
        "metrics_history",
        C::Metrics,
        &["h"],
        "History: show a fixed time range (since/until)",
    ),
    def(
        A::MetricsLive,
        "metrics_live",
        C::Metrics,
        &["L"],
        "Back to live metrics",
    ),
    def(
        A::DialogNext,
        "dialog_next",
        C::Dialog,
        &["tab", "right"],
        "Next button",
    ),
    def(
        A::DialogPrev,
        "dialog_prev",
        C::Dialog,
        &["shift-tab", "left"],
        "Previous button",
    ),
    def(
        A::DialogConfirm,
        "dialog_confirm",
        C::Dialog,
        &["enter"],
        "Press the focused button",
    ),
    def(
        A::DialogCancel,
        "dialog_cancel",
        C::Dialog,
        &["esc"],
        "Cancel",
    ),
    def(
        A::FormNext,
        "form_next",
        C::Form,
        &["tab", "down"],
        "Next field (in a path field, complete the path first)",
    ),
    def(
        A::FormPrev,
        "form_prev",
        C::Form,
        &["shift-tab", "up"],
        "Previous field",
    ),
    def(A::FormSubmit, "form_submit", C::Form, &["enter"], "Submit"),
    def(A::FormCancel, "form_cancel", C::Form, &["esc"], "Cancel"),
    def(
        A::PromptSubmit,
        "prompt_submit",
        C::Prompt,
        &["enter"],
        "Run / apply",
    ),
    def(
        A::PromptCancel,
        "prompt_cancel",
        C::Prompt,
        &["esc"],
        "Cancel (clears a filter)",
    ),
    def(
        A::PromptComplete,
        "prompt_complete",
        C::Prompt,
        &["tab"],
        "Complete",
    ),
    def(
        A::PromptNext,
        "prompt_next",
        C::Prompt,
        &["down"],
        "Next suggestion",
    ),
    def(
        A::PromptPrev,
        "prompt_prev",
        C::Prompt,
        &["up"],
        "Previous suggestion",
    ),
];

pub fn def_of(action: Action) -> &'static ActionDef {
    // The registry lists every variant; a test checks it.
    REGISTRY
        .iter()
        .find(|d| d.action == action)
        .unwrap_or(&REGISTRY[0])
}

pub fn by_name(name: &str) -> Option<&'static ActionDef> {
    REGISTRY.iter().find(|d| d.name == name)
}

/// A key with its modifiers, normalised so that `G`, `shift-g` and a terminal's
/// `Char('G') + SHIFT` compare equal, as do `shift-tab` and `BackTab`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    pub fn new(code: KeyCode, mods: KeyModifiers) -> Key {
        let mut mods = mods & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match code {
            KeyCode::BackTab => {
                mods |= KeyModifiers::SHIFT;
                KeyCode::Tab
            }
            KeyCode::Char(c) => {
                // The character already says whether shift was held.
                mods.remove(KeyModifiers::SHIFT);
                if mods.contains(KeyModifiers::CONTROL) && c.is_ascii_uppercase() {
                    KeyCode::Char(c.to_ascii_lowercase())
                } else {
                    KeyCode::Char(c)
                }
            }
            other => other,
        };
        Key { code, mods }
    }

    pub fn from_event(ev: &KeyEvent) -> Key {
        Key::new(ev.code, ev.modifiers)
    }

    pub fn ctrl(c: char) -> Key {
        Key::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    /// A printable character typed without ctrl or alt.
    pub fn is_printable(&self) -> bool {
        matches!(self.code, KeyCode::Char(_))
            && !self
                .mods
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
    }

    pub fn parse(s: &str) -> std::result::Result<Key, String> {
        let mut rest = s.trim();
        if rest.is_empty() {
            return Err("empty key".into());
        }
        let mut mods = KeyModifiers::NONE;
        loop {
            let lower = rest.to_ascii_lowercase();
            let mut stripped = false;
            for (prefix, m) in [
                ("ctrl", KeyModifiers::CONTROL),
                ("control", KeyModifiers::CONTROL),
                ("c", KeyModifiers::CONTROL),
                ("alt", KeyModifiers::ALT),
                ("meta", KeyModifiers::ALT),
                ("m", KeyModifiers::ALT),
                ("shift", KeyModifiers::SHIFT),
                ("s", KeyModifiers::SHIFT),
            ] {
                for sep in ['-', '+'] {
                    let p = format!("{prefix}{sep}");
                    if lower.starts_with(&p) && rest.len() > p.len() {
                        mods |= m;
                        rest = &rest[p.len()..];
                        stripped = true;
                        break;
                    }
                }
                if stripped {
                    break;
                }
            }
            if !stripped {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => {
                if mods.contains(KeyModifiers::SHIFT) && c.is_ascii_alphabetic() {
                    mods.remove(KeyModifiers::SHIFT);
                    KeyCode::Char(c.to_ascii_uppercase())
                } else {
                    KeyCode::Char(c)
                }
            }
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" => KeyCode::Tab,
                "backtab" => {
                    mods |= KeyModifiers::SHIFT;
                    KeyCode::Tab
                }
                "space" => KeyCode::Char(' '),
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "insert" | "ins" => KeyCode::Insert,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "pageup" | "pgup" => KeyCode::PageUp,
                "pagedown" | "pgdn" | "pgdown" => KeyCode::PageDown,
                f if f.starts_with('f') && f.len() <= 3 => match f[1..].parse::<u8>() {
                    Ok(n) if (1..=12).contains(&n) => KeyCode::F(n),
                    _ => return Err(format!("unknown key {s:?}")),
                },
                _ => return Err(format!("unknown key {s:?}")),
            },
        };
        Ok(Key::new(code, mods))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            write!(f, "ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            write!(f, "alt-")?;
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            write!(f, "shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => write!(f, "space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => write!(f, "enter"),
            KeyCode::Esc => write!(f, "esc"),
            KeyCode::Tab => write!(f, "tab"),
            KeyCode::Backspace => write!(f, "backspace"),
            KeyCode::Delete => write!(f, "delete"),
            KeyCode::Insert => write!(f, "insert"),
            KeyCode::Up => write!(f, "up"),
            KeyCode::Down => write!(f, "down"),
            KeyCode::Left => write!(f, "left"),
            KeyCode::Right => write!(f, "right"),
            KeyCode::Home => write!(f, "home"),
            KeyCode::End => write!(f, "end"),
            KeyCode::PageUp => write!(f, "pageup"),
            KeyCode::PageDown => write!(f, "pagedown"),
            KeyCode::F(n) => write!(f, "f{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Keys that terminals, shells or tmux commonly take before an application sees them.
pub fn intercepted(key: &Key) -> Option<&'static str> {
    let ctrl = key.mods.contains(KeyModifiers::CONTROL);
    if ctrl {
        return match key.code {
            KeyCode::Char('a') => Some("the prefix key of GNU screen and of many tmux setups"),
            KeyCode::Char('b') => Some("tmux's default prefix key"),
            KeyCode::Char('s') | KeyCode::Char('q') => {
                Some("XON/XOFF flow control on many terminals")
            }
            KeyCode::Char('z') => Some("suspends programs in most shells"),
            KeyCode::Char(' ') => Some("switches the input method on many desktops"),
            KeyCode::Char('h') => Some("sent as backspace by many terminals"),
            KeyCode::Char('i') => Some("indistinguishable from tab"),
            KeyCode::Char('m') => Some("indistinguishable from enter"),
            KeyCode::Char('[') => Some("indistinguishable from esc"),
            KeyCode::Char('j') | KeyCode::Char('k') | KeyCode::Char('l') => {
                Some("pane navigation in common tmux and vim setups")
            }
            KeyCode::Char('\\') => Some("sends SIGQUIT outside raw mode"),
            KeyCode::Char('w') => Some("closes the tab in many terminal emulators"),
            _ => None,
        };
    }
    if key.mods.contains(KeyModifiers::ALT) {
        return Some("macOS terminals type a character for option-keys unless configured");
    }
    match key.code {
        KeyCode::F(11) => Some("toggles full screen in many terminal emulators"),
        KeyCode::F(1) => Some("opens help in some terminal emulators"),
        _ => None,
    }
}

/// A problem that does not stop the keymap from working.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    pub action: String,
    pub key: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.action, self.message)
        } else {
            write!(f, "{} ({}): {}", self.key, self.action, self.message)
        }
    }
}

/// The file format of `keymaps/default.yaml` and of user keymaps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeymapFile {
    #[serde(default)]
    pub version: Option<u32>,
    #[serde(default)]
    pub actions: Vec<KeymapEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeymapEntry {
    pub name: String,
    #[serde(default)]
    pub context: Option<String>,
    pub keys: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// The effective keymap: every registry action with its keys.
#[derive(Debug, Clone)]
pub struct Keymap {
    keys: HashMap<Action, Vec<Key>>,
    lookup: HashMap<(Layer, Key), Action>,
    /// The file the overrides came from.
    pub source: Option<PathBuf>,
}

impl Keymap {
    /// The registry's defaults.
    pub fn defaults() -> Keymap {
        let mut keys = HashMap::new();
        for d in REGISTRY {
            let parsed: Vec<Key> = d.keys.iter().filter_map(|k| Key::parse(k).ok()).collect();
            keys.insert(d.action, parsed);
        }
        // The defaults are checked by a test; should they ever clash, the later action loses
        // the key rather than the console refusing to start.
        let (lookup, _) = build_lookup(&keys);
        Keymap {
            keys,
            lookup,
            source: None,
        }
    }

    /// Apply the overrides in `text` (a keymap file) on top of the defaults.
    pub fn with_overrides(text: &str, source: &str) -> Result<(Keymap, Vec<Warning>)> {
        let file: KeymapFile = crate::yaml::parse(text, source)?;
        if let Some(v) = file.version
            && v != 1
        {
            return Err(
                Error::invalid(format!("keymap version {v} is not supported"))
                    .field("version")
                    .file(source)
                    .hint("this rohe reads version 1"),
            );
        }
        let mut keys = Keymap::defaults().keys;
        let mut warnings = Vec::new();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, e) in file.actions.iter().enumerate() {
            let at = format!("actions[{i}]");
            let line = find_line(text, &e.name);
            let Some(d) = by_name(&e.name) else {
                return Err(Error::invalid(format!("unknown action {:?}", e.name))
                    .field(format!("{at}.name"))
                    .file(source)
                    .line(line)
                    .hint(suggest(&e.name)));
            };
            if let Some(prev) = seen.insert(d.name, i) {
                return Err(Error::invalid(format!(
                    "action {} is listed twice (also actions[{prev}])",
                    d.name
                ))
                .field(format!("{at}.name"))
                .file(source)
                .line(line));
            }
            if let Some(ctx) = &e.context
                && ctx != d.context.name()
            {
                return Err(Error::invalid(format!(
                    "action {} belongs to context {}, not {ctx:?}",
                    d.name,
                    d.context.name()
                ))
                .field(format!("{at}.context"))
                .file(source)
                .line(line)
                .hint("contexts are fixed by the action; leave `context` out or fix it"));
            }
            let mut parsed = Vec::new();
            for (j, k) in e.keys.iter().enumerate() {
                let key = Key::parse(k).map_err(|m| {
                    Error::invalid(m)
                        .field(format!("{at}.keys[{j}]"))
                        .file(source)
                        .line(line)
                        .hint("write keys like q, G, ctrl-r, shift-tab, alt-x, enter, pagedown, f5")
                })?;
                if !parsed.contains(&key) {
                    parsed.push(key);
                }
            }
            if parsed.is_empty() {
                warnings.push(Warning {
                    action: d.name.into(),
                    key: String::new(),
                    message: "has no key; reach it from the command palette".into(),
                });
            }
            keys.insert(d.action, parsed);
        }
        let km = Keymap::from_keys(keys, source)?;
        warnings.extend(km.warnings());
        Ok((km, warnings))
    }

    fn from_keys(keys: HashMap<Action, Vec<Key>>, source: &str) -> Result<Keymap> {
        let quit_key = Key::ctrl('c');
        for d in REGISTRY {
            let ks = keys.get(&d.action).map(Vec::as_slice).unwrap_or(&[]);
            for k in ks {
                if *k == quit_key && d.action != Action::Quit {
                    return Err(Error::invalid(format!(
                        "ctrl-c is reserved: it always quits, so it cannot run {}",
                        d.name
                    ))
                    .file(source));
                }
                if d.context.layer().takes_text() && k.is_printable() {
                    return Err(Error::invalid(format!(
                        "key {k} for {} would make it impossible to type \"{k}\" in a text field",
                        d.name
                    ))
                    .file(source)
                    .hint("use a named key (enter, tab, up, ...) or a ctrl- or alt- key here"));
                }
            }
        }
        let (lookup, clashes) = build_lookup(&keys);
        if let Some((key, a, b)) = clashes.into_iter().next() {
            let (da, db) = (def_of(a), def_of(b));
            return Err(Error::invalid(format!(
                "key {key} is bound to both {} ({}) and {} ({})",
                da.name,
                da.context.name(),
                db.name,
                db.context.name()
            ))
            .file(source)
            .hint(
                "a key may be used once among contexts active together \
                 (global, navigation and table share the screen; each tab's context \
                 adds to them and may take over a table key on its tab)",
            ));
        }
        Ok(Keymap {
            keys,
            lookup,
            source: Some(PathBuf::from(source)),
        })
    }

    /// Keys that are commonly intercepted before they reach the console.
    pub fn warnings(&self) -> Vec<Warning> {
        let mut out = Vec::new();
        for d in REGISTRY {
            for k in self.keys(d.action) {
                if let Some(why) = intercepted(k) {
                    out.push(Warning {
                        action: d.name.into(),
                        key: k.to_string(),
                        message: format!("{why}; it may never reach rohe"),
                    });
                }
            }
        }
        out
    }

    /// Load the user's keymap: `explicit` (from `--keymap`), else
    /// `$XDG_CONFIG_HOME/rohe/keymap.yaml` when it exists, else the defaults.
    pub fn load(explicit: Option<&Path>) -> Result<(Keymap, Vec<Warning>)> {
        let path = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => {
                let p = user_keymap_path();
                p.is_file().then_some(p)
            }
        };
        let Some(path) = path else {
            return Ok((Keymap::defaults(), Vec::new()));
        };
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::invalid(format!("cannot read the keymap: {e}"))
                .file(&shown)
                .field("--keymap")
        })?;
        Keymap::with_overrides(&text, &shown)
    }

    pub fn keys(&self, action: Action) -> &[Key] {
        self.keys.get(&action).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The action a key press means in `layer`.
    pub fn action(&self, layer: Layer, key: Key) -> Option<Action> {
        self.lookup.get(&(layer, key)).copied()
    }

    /// The action a key press means outside overlays: the visible tab's own keys (`tab`, a
    /// tab layer) first, then the keys active everywhere.
    pub fn screen_action(&self, tab: Option<Layer>, key: Key) -> Option<Action> {
        tab.and_then(|l| self.action(l, key))
            .or_else(|| self.action(Layer::Main, key))
    }

    /// `j/down`, or `-` when unbound.
    pub fn label(&self, action: Action) -> String {
        let ks = self.keys(action);
        if ks.is_empty() {
            "-".into()
        } else {
            ks.iter().map(Key::to_string).collect::<Vec<_>>().join("/")
        }
    }

    /// The first key of an action, for compact hints.
    pub fn short(&self, action: Action) -> String {
        self.keys(action)
            .first()
            .map(Key::to_string)
            .unwrap_or_else(|| "-".into())
    }

    /// The keymap in the file format, every action listed (what `keymaps/default.yaml` holds).
    pub fn to_yaml(&self) -> String {
        let mut out = String::from(
            "# rohe console keymap: every action with its context, keys and description.\n\
             # Generated from the action registry (src/tui/keymap.rs) by `rohe keymap show --default`;\n\
             # a test keeps this file identical to the registry.\n\
             # Copy it to $XDG_CONFIG_HOME/rohe/keymap.yaml (or pass --keymap FILE) and keep only\n\
             # the actions you rebind. Contexts global, navigation and table are active together,\n\
             # so a key may appear once among them; a tab's context (applications, agents,\n\
             # nodes, deployments, metrics) adds to them on its tab, so its keys must differ\n\
             # from global and navigation keys (a table key is taken over on that tab) but may\n\
             # repeat another tab's. Key syntax: q, G, ctrl-r, shift-tab, alt-x, enter, esc,\n\
             # space, up, pagedown, home, f5. ctrl-c always quits.\n\
             version: 1\nactions:\n",
        );
        for d in REGISTRY {
            let keys: Vec<String> = self
                .keys(d.action)
                .iter()
                .map(|k| yaml_scalar(&k.to_string()))
                .collect();
            out.push_str(&format!(
                "  - name: {}\n    context: {}\n    keys: [{}]\n    description: {}\n",
                d.name,
                d.context.name(),
                keys.join(", "),
                yaml_scalar(d.description)
            ));
        }
        out
    }
}

type Lookup = HashMap<(Layer, Key), Action>;
/// A key bound to two actions of one layer.
type Clash = (Key, Action, Action);

fn build_lookup(keys: &HashMap<Action, Vec<Key>>) -> (Lookup, Vec<Clash>) {
    let mut lookup = HashMap::new();
    let mut clashes = Vec::new();
    // Registry order, so that errors name actions in a stable order.
    for d in REGISTRY {
        for k in keys.get(&d.action).map(Vec::as_slice).unwrap_or(&[]) {
            let layer = d.context.layer();
            match lookup.get(&(layer, *k)) {
                Some(&other) if other != d.action => clashes.push((*k, other, d.action)),
                Some(_) => {}
                None => {
                    lookup.insert((layer, *k), d.action);
                }
            }
        }
    }
    // A tab's keys are active together with the main layer's: they must not overlap with
    // global or navigation keys. A table key is taken over by the tab on its own tab (the tab
    // layer is looked up first). On a clash the tab's binding is the one dropped from the
    // lookup (the defaults never clash; a test says so).
    let mut shadowed = Vec::new();
    for (&(layer, key), &action) in &lookup {
        if layer.is_tab()
            && let Some(&main) = lookup.get(&(Layer::Main, key))
            && def_of(main).context != Context::Table
        {
            shadowed.push((layer, key, main, action));
        }
    }
    // Registry order again, for stable messages.
    let pos = |a: Action| REGISTRY.iter().position(|d| d.action == a).unwrap_or(0);
    shadowed.sort_by_key(|&(_, _, main, tab)| (pos(main), pos(tab)));
    for (layer, key, main, tab) in shadowed {
        lookup.remove(&(layer, key));
        clashes.push((key, main, tab));
    }
    (lookup, clashes)
}

/// Quote a YAML scalar when a plain one would be misread.
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ' ' | '.' | '(' | ')'))
        && !s.starts_with([' ', '-'])
        && !s.ends_with(' ')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "true" | "false" | "on" | "off" | "null" | "~"
        )
        && s.parse::<f64>().is_err();
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn find_line(text: &str, name: &str) -> Option<usize> {
    text.lines().enumerate().find_map(|(i, l)| {
        let t = l.trim_start().trim_start_matches("- ").trim();
        let v = t.strip_prefix("name:")?.trim().trim_matches(['"', '\'']);
        (v == name).then_some(i + 1)
    })
}

fn suggest(name: &str) -> String {
    let best = REGISTRY
        .iter()
        .map(|d| (edit_distance(name, d.name), d.name))
        .min();
    match best {
        Some((d, n)) if d <= 3 => {
            format!("did you mean {n}? `rohe keymap show` lists every action")
        }
        _ => "`rohe keymap show` lists every action".into(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

pub fn user_keymap_path() -> PathBuf {
    crate::config::xdg::config_home()
        .join("rohe")
        .join("keymap.yaml")
}

/// `rohe keymap check [FILE]`: validate a keymap file (or the effective one) and print its
/// warnings. Returns the lines to print.
pub fn check(file: Option<&Path>, explicit: Option<&Path>) -> Result<Vec<String>> {
    let target = file.or(explicit);
    let (km, warnings) = Keymap::load(target)?;
    let mut lines = Vec::new();
    match &km.source {
        Some(p) => lines.push(format!("keymap {} is valid", p.display())),
        None => lines.push(format!(
            "no keymap file ({} does not exist); the built-in defaults are valid",
            user_keymap_path().display()
        )),
    }
    let warnings = if km.source.is_none() {
        km.warnings()
    } else {
        warnings
    };
    for w in warnings {
        lines.push(format!("warning: {w}"));
    }
    Ok(lines)
}

/// `rohe keymap show [--default]`: the effective keymap (or the defaults) as YAML.
pub fn show(default: bool, explicit: Option<&Path>) -> Result<String> {
    if default {
        return Ok(Keymap::defaults().to_yaml());
    }
    Ok(Keymap::load(explicit)?.0.to_yaml())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_lists_each_action_once_with_valid_keys() {
        let mut names = std::collections::HashSet::new();
        let mut actions = std::collections::HashSet::new();
        for d in REGISTRY {
            assert!(names.insert(d.name), "duplicate name {}", d.name);
            assert!(actions.insert(d.action), "duplicate action {:?}", d.action);
            for k in d.keys {
                Key::parse(k).unwrap_or_else(|e| panic!("{}: {e}", d.name));
            }
        }
        // The defaults themselves must pass the checks users' files pass.
        let mut keys = HashMap::new();
        for d in REGISTRY {
            keys.insert(
                d.action,
                d.keys.iter().map(|k| Key::parse(k).unwrap()).collect(),
            );
        }
        Keymap::from_keys(keys, "defaults").unwrap();
    }

    #[test]
    fn shipped_default_yaml_matches_the_registry() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/keymaps/default.yaml");
        let text = std::fs::read_to_string(path).expect("keymaps/default.yaml exists");
        assert_eq!(
            text,
            Keymap::defaults().to_yaml(),
            "keymaps/default.yaml is out of date: regenerate it with \
             `cargo run -q -- keymap show --default > keymaps/default.yaml`"
        );
        // And it parses back to exactly the registry.
        let file: KeymapFile = crate::yaml::parse(&text, "default.yaml").unwrap();
        assert_eq!(file.actions.len(), REGISTRY.len());
        for (e, d) in file.actions.iter().zip(REGISTRY) {
            assert_eq!(e.name, d.name);
            assert_eq!(e.context.as_deref(), Some(d.context.name()));
            assert_eq!(e.description.as_deref(), Some(d.description));
            let parsed: Vec<Key> = e.keys.iter().map(|k| Key::parse(k).unwrap()).collect();
            let want: Vec<Key> = d.keys.iter().map(|k| Key::parse(k).unwrap()).collect();
            assert_eq!(parsed, want, "{}", d.name);
        }
        let (km, _) = Keymap::with_overrides(&text, "default.yaml").unwrap();
        assert_eq!(km.to_yaml(), text);
    }

    #[test]
    fn key_syntax_round_trips_and_normalises() {
        for s in [
            "q",
            "G",
            "ctrl-c",
            "shift-tab",
            "alt-x",
            "enter",
            "pagedown",
            "f5",
            "space",
            "?",
        ] {
            assert_eq!(Key::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Key::parse("shift-g").unwrap(), Key::parse("G").unwrap());
        assert_eq!(Key::parse("Ctrl+C").unwrap(), Key::ctrl('c'));
        assert_eq!(
            Key::parse("backtab").unwrap(),
            Key::parse("shift-tab").unwrap()
        );
        let ev = KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT);
        assert_eq!(Key::from_event(&ev), Key::parse("shift-tab").unwrap());
        let ev = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(Key::from_event(&ev), Key::parse("G").unwrap());
        assert!(Key::parse("hyper-x").is_err());
        assert!(Key::parse("f13").is_err());
    }

    #[test]
    fn duplicate_key_names_both_actions() {
        let text = "actions:\n  - name: unregister\n    keys: [j]\n";
        let e = Keymap::with_overrides(text, "k.yaml").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("move_down") && msg.contains("unregister"),
            "{msg}"
        );
        // Different layers may share a key.
        let text = "actions:\n  - name: form_submit\n    keys: [enter, ctrl-s]\n";
        let (_, warnings) = Keymap::with_overrides(text, "k.yaml").unwrap();
        assert!(warnings.iter().any(|w| w.key == "ctrl-s"), "{warnings:?}");
    }

    #[test]
    fn tab_contexts_share_keys_with_each_other_but_not_with_the_main_layer() {
        let km = Keymap::defaults();
        let e = Key::parse("e").unwrap();
        assert_eq!(
            km.screen_action(Some(Layer::Applications), e),
            Some(Action::Export)
        );
        assert_eq!(
            km.screen_action(Some(Layer::Agents), e),
            Some(Action::AgentConfig)
        );
        assert_eq!(km.screen_action(Some(Layer::Metrics), e), None);
        // Keys of the main layer work on every tab.
        let d = Key::parse("D").unwrap();
        for l in [Layer::Applications, Layer::Agents, Layer::Metrics] {
            assert_eq!(km.screen_action(Some(l), d), Some(Action::Demo));
        }
        // A tab key that the main layer uses is an error naming both actions.
        let text = "actions:\n  - name: agent_logs\n    keys: [j]\n";
        let msg = Keymap::with_overrides(text, "k.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("move_down") && msg.contains("agent_logs"),
            "{msg}"
        );
        // Two tabs may use one key.
        let text = "actions:\n  - name: metrics_live\n    keys: [x]\n";
        let (km, _) = Keymap::with_overrides(text, "k.yaml").unwrap();
        let x = Key::parse("x").unwrap();
        assert_eq!(
            km.screen_action(Some(Layer::Metrics), x),
            Some(Action::MetricsLive)
        );
        assert_eq!(
            km.screen_action(Some(Layer::Agents), x),
            Some(Action::AgentStop)
        );
    }

    #[test]
    fn overrides_apply_and_bad_files_are_explained() {
        let text = "actions:\n  - name: quit\n    keys: [Q, ctrl-c]\n  - name: palette\n    keys: [ctrl-a]\n";
        let (km, warnings) = Keymap::with_overrides(text, "k.yaml").unwrap();
        assert_eq!(
            km.action(Layer::Main, Key::parse("Q").unwrap()),
            Some(Action::Quit)
        );
        assert_eq!(km.action(Layer::Main, Key::parse("q").unwrap()), None);
        assert!(
            warnings
                .iter()
                .any(|w| w.key == "ctrl-a" && w.message.contains("prefix"))
        );
        let e = Keymap::with_overrides("actions:\n  - name: qiut\n    keys: [x]\n", "k.yaml")
            .unwrap_err();
        assert!(e.to_string().contains("did you mean quit"), "{e}");
        assert_eq!(e.line, Some(2));
        let e = Keymap::with_overrides("actions:\n  - name: form_next\n    keys: [n]\n", "k")
            .unwrap_err();
        assert!(e.to_string().contains("impossible to type"), "{e}");
        let e = Keymap::with_overrides("actions:\n  - name: help\n    keys: [ctrl-c]\n", "k")
            .unwrap_err();
        assert!(e.to_string().contains("reserved"), "{e}");
        let e = Keymap::with_overrides(
            "actions:\n  - name: help\n    context: table\n    keys: [h]\n",
            "k",
        )
        .unwrap_err();
        assert!(e.to_string().contains("belongs to context global"), "{e}");
        let e = Keymap::with_overrides("actions:\n  - name: help\n    keys: [hyper-h]\n", "k")
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("actions[0].keys[0]"));
    }
}
