//! The interactive console: `rohe` without a subcommand.
//!
//! Shape (see DESIGN.md §2): one UI task owns the [`app::App`] state. Terminal input (read on
//! a thread of its own), a 1 s tick, signals and the results of background work all arrive as
//! [`event::Event`]s on one channel. The reducer [`app::App::update`] turns each event into
//! state changes and [`event::Effect`]s; effects that touch a backend run in tokio tasks and
//! report back as events, so a slow or dead store never blocks a key press. The screen is
//! redrawn only when the state changed (or the terminal was resized). Every state-changing
//! action is an `ops::Request` executed by `Ops::execute`, as in the CLI, so it is audited.
//!
//! Diagnostics: with `ROHE_CONSOLE_DIAG=FILE` set, the console exits as soon as it has drawn
//! the loaded Applications list and writes one JSON line to FILE with `first_frame_ms` (from
//! the start of [`run`] to the first frame on screen), `loaded_ms` (to the first frame showing
//! the store's applications), `apps` and `rss_kb` (resident memory at that point, from
//! `/proc/self/status`). `benches/tui.rs` uses it to measure start-up time and memory.

pub mod app;
pub mod command;
pub mod event;
pub mod keymap;
pub mod tabs;
pub mod theme;
pub mod ui;
pub mod widgets;

#[cfg(test)]
mod tests;

use crate::cli::GlobalArgs;
use crate::error::{Error, Result};
use crate::ops::{Ops, Source};
use app::{App, StatusInfo};
use event::{CompletionTarget, Effect, Event};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::sync::watch;

/// Loads give up after this long and report a timeout (the UI never waits on them).
const LOAD_TIMEOUT: Duration = Duration::from_secs(10);
/// The environment variable of the start-up diagnostic (see the module documentation).
pub const DIAG_ENV: &str = "ROHE_CONSOLE_DIAG";

static PANICKED: AtomicBool = AtomicBool::new(false);

/// Open the console and run it until the user quits.
pub async fn run(global: &GlobalArgs) -> Result<()> {
    let started = Instant::now();
    let loaded = crate::config::load(&global.overrides())?;
    let (keymap, warnings) = keymap::Keymap::load(global.keymap.as_deref())?;
    let theme_file = (!loaded.config.console.theme.is_empty())
        .then(|| PathBuf::from(&loaded.config.console.theme));
    let theme = theme::Theme::load(theme_file.as_deref(), theme::no_color_from_env())?;
    init_logging(&loaded.config);
    for w in &warnings {
        tracing::warn!(warning = %w, "keymap");
    }
    // The store opens in the background (creating a new one can take a while): the first
    // frame does not wait for it, and a store that cannot be opened shows as an error that
    // is retried with backoff.
    let info = StatusInfo {
        store_backend: match loaded.config.store.backend {
            crate::config::StoreBackend::Embedded => "embedded".into(),
            crate::config::StoreBackend::Mongodb => "mongodb".into(),
        },
        store_location: match loaded.config.store.backend {
            crate::config::StoreBackend::Embedded => {
                loaded.config.store_path().display().to_string()
            }
            crate::config::StoreBackend::Mongodb => {
                crate::config::redact_url(&loaded.config.store.url)
            }
        },
        config_file: loaded.file.as_ref().map(|p| p.display().to_string()),
    };
    let ops = OpsSlot::new(loaded.clone());
    let mut app = App::new(
        keymap,
        loaded.config.console.readonly,
        Duration::from_millis(loaded.config.console.refresh_ms),
        info,
    );
    if let Some(w) = warnings.first() {
        app.last = Some(app::Outcome {
            ok: false,
            text: format!("keymap warning: {w} (rohe keymap check)"),
            at: Instant::now(),
        });
    }
    let diag = std::env::var_os(DIAG_ENV).map(PathBuf::from);
    tracing::info!(readonly = app.readonly, "console starting");

    let mut term = Terminal::enter()?;
    let result = event_loop(&mut term, &mut app, &theme, ops, started, diag.as_deref()).await;
    term.leave();
    if let Err(e) = &result {
        tracing::error!(error = %e, "console stopped with an error");
    } else {
        tracing::info!("console closed");
    }
    result
}

fn init_logging(config: &crate::config::Config) {
    let path = config.log_path();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let file = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        Ok(f) => f,
        // Logging must not stop the console, and nothing may be printed under it.
        Err(_) => return,
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
}

type Backend = ratatui::backend::CrosstermBackend<std::io::Stdout>;

/// The terminal in raw mode on the alternate screen; restored by [`Terminal::leave`], on drop
/// and by the panic hook, whichever comes first.
struct Terminal {
    inner: ratatui::Terminal<Backend>,
    active: bool,
}

fn restore_terminal() {
    use crossterm::{cursor, event, execute, terminal};
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        event::DisableBracketedPaste,
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
}

impl Terminal {
    fn enter() -> Result<Terminal> {
        use crossterm::{cursor, event, execute, terminal};
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.store(true, Ordering::SeqCst);
            restore_terminal();
            tracing::error!(panic = %info, "panic");
            prev(info);
        }));
        terminal::enable_raw_mode().map_err(|e| {
            Error::runtime(format!("cannot put the terminal in raw mode: {e}")).hint(
                "the console needs a terminal; use the headless commands (rohe app ...) in scripts",
            )
        })?;
        let mut out = std::io::stdout();
        if let Err(e) = execute!(
            out,
            terminal::EnterAlternateScreen,
            event::EnableBracketedPaste,
            cursor::Hide
        ) {
            restore_terminal();
            return Err(Error::runtime(format!("cannot set up the terminal: {e}")));
        }
        match ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(out)) {
            Ok(inner) => Ok(Terminal {
                inner,
                active: true,
            }),
            Err(e) => {
                restore_terminal();
                Err(Error::runtime(format!("cannot set up the terminal: {e}")))
            }
        }
    }

    fn leave(&mut self) {
        if self.active {
            self.active = false;
            restore_terminal();
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.leave();
    }
}

async fn event_loop(
    term: &mut Terminal,
    app: &mut App,
    theme: &theme::Theme,
    ops: OpsSlot,
    started: Instant,
    diag: Option<&Path>,
) -> Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let stop = Arc::new(AtomicBool::new(false));
    let input = event::spawn_input_thread(tx.clone(), stop.clone())
        .map_err(|e| Error::runtime(format!("cannot start the input thread: {e}")))?;
    let ticker = {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(Duration::from_secs(1));
            iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                iv.tick().await;
                if tx.send(Event::Tick(Instant::now())).is_err() {
                    break;
                }
            }
        })
    };
    spawn_signal_watch(tx.clone());
    if let Ok(size) = term.inner.size() {
        app.size = (size.width, size.height);
    }
    let runner = Runner {
        ops,
        tx: tx.clone(),
        demos: Arc::default(),
    };
    for fx in app.start() {
        runner.run(fx);
    }
    let mut first_frame: Option<Duration> = None;
    let result = loop {
        if PANICKED.load(Ordering::SeqCst) {
            break Err(Error::runtime(
                "the console stopped after an internal error; see the log file",
            ));
        }
        if app.dirty {
            app.dirty = false;
            if let Err(e) = term.inner.draw(|f| ui::draw(f, app, theme)) {
                break Err(Error::runtime(format!("cannot draw: {e}")));
            }
            if first_frame.is_none() {
                first_frame = Some(started.elapsed());
            }
            if let (Some(path), Some(ff)) = (diag, first_frame)
                && (app.apps.data.is_some() || app.apps.error.is_some())
            {
                write_diag(path, ff, started.elapsed(), app);
                break Ok(());
            }
        }
        if app.quit {
            break Ok(());
        }
        let Some(ev) = rx.recv().await else {
            break Ok(());
        };
        let mut batch = vec![ev];
        // Drain what is already queued so that a burst is drawn once.
        while let Ok(ev) = rx.try_recv() {
            batch.push(ev);
            if batch.len() >= 64 {
                break;
            }
        }
        let mut ticks = 0;
        for ev in batch {
            if matches!(ev, Event::Tick(_)) {
                ticks += 1;
                if ticks > 1 {
                    continue; // a stall must not replay a backlog of ticks
                }
            }
            if let Event::Resize(..) = ev {
                let _ = term.inner.autoresize();
            }
            for fx in app.update(ev) {
                match fx {
                    Effect::Quit => app.quit = true,
                    Effect::Copy(text) => copy_osc52(&text),
                    other => runner.run(other),
                }
            }
        }
    };
    stop.store(true, Ordering::Relaxed);
    ticker.abort();
    runner.stop_demos();
    // The input thread stops within one poll interval; wait for it so that it cannot swallow
    // a key meant for the shell. But never wait long: when the terminal has hung up,
    // crossterm's read can stay inside itself, and the process must still exit.
    let deadline = Instant::now() + Duration::from_millis(300);
    while !input.is_finished() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if input.is_finished() {
        let _ = input.join();
    } else {
        tracing::warn!("the input thread did not stop; leaving it behind");
    }
    result
}

fn spawn_signal_watch(tx: UnboundedSender<Event>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        let why = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = hup.recv() => "SIGHUP",
            _ = int.recv() => "SIGINT",
        };
        let _ = tx.send(Event::Shutdown(why));
    });
}

/// OSC 52: the terminal (or tmux, or the SSH client's terminal) sets its clipboard.
fn copy_osc52(text: &str) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    let mut out = std::io::stdout();
    let _ = write!(out, "\x1b]52;c;{b64}\x07");
    let _ = out.flush();
}

fn rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn write_diag(path: &Path, first: Duration, loaded: Duration, app: &App) {
    let doc = serde_json::json!({
        "first_frame_ms": first.as_secs_f64() * 1000.0,
        "loaded_ms": loaded.as_secs_f64() * 1000.0,
        "apps": app.apps.data.as_ref().map_or(0, Vec::len),
        "rss_kb": rss_kb(),
    });
    if let Err(e) = std::fs::write(path, format!("{doc}\n")) {
        tracing::error!(error = %e, "cannot write the diagnostic file");
    }
}

/// The use cases, opened on first use and shared by the background tasks. Opening is retried
/// by the next task when it failed.
#[derive(Clone)]
struct OpsSlot {
    ops: Arc<tokio::sync::Mutex<Option<Ops>>>,
    loaded: Arc<crate::config::Loaded>,
}

impl OpsSlot {
    fn new(loaded: crate::config::Loaded) -> OpsSlot {
        OpsSlot {
            ops: Arc::new(tokio::sync::Mutex::new(None)),
            loaded: Arc::new(loaded),
        }
    }

    async fn get(&self) -> Result<Ops> {
        let mut slot = self.ops.lock().await;
        if let Some(ops) = slot.as_ref() {
            return Ok(ops.clone());
        }
        let loaded = self.loaded.clone();
        let ops = tokio::task::spawn_blocking(move || crate::cli::open_ops(&loaded, Source::Tui))
            .await
            .map_err(|e| Error::runtime(format!("opening the store failed: {e}")))??;
        tracing::info!(store = %ops.store().info().location, "store opened");
        // The Nodes and Deployments tabs drive the configured cluster, as `rohe node|apply`
        // do. A cluster that cannot be bound leaves the other tabs working: the orchestration
        // requests then fail with the reason.
        let ops = match crate::backends::with_orchestration(ops.clone(), &self.loaded.config).await
        {
            Ok(bound) => bound,
            Err(e) => {
                tracing::warn!(error = %e, "orchestration is not available in the console");
                ops
            }
        };
        *slot = Some(ops.clone());
        Ok(ops)
    }
}

/// Carries out effects in background tasks; each reports back as one event.
struct Runner {
    ops: OpsSlot,
    tx: UnboundedSender<Event>,
    /// The stop switch of each running demo pipeline, by application.
    demos: Arc<std::sync::Mutex<HashMap<String, watch::Sender<bool>>>>,
}

async fn timed<T>(fut: impl std::future::Future<Output = Result<T>>) -> Result<T, String> {
    match tokio::time::timeout(LOAD_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "the store did not answer within {}s",
            LOAD_TIMEOUT.as_secs()
        )),
    }
}

impl Runner {
    fn demo_switches(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<bool>>> {
        // A panic while holding this lock cannot leave the map inconsistent: take it anyway.
        self.demos.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ask every demo pipeline to stop (the console is closing).
    fn stop_demos(&self) {
        for (_, stop) in self.demo_switches().drain() {
            let _ = stop.send(true);
        }
    }

    fn run(&self, fx: Effect) {
        let ops = self.ops.clone();
        let tx = self.tx.clone();
        match fx {
            Effect::LoadApps => {
                tokio::spawn(async move {
                    let r = timed(async { ops.get().await?.list_app_summaries().await }).await;
                    let _ = tx.send(Event::AppsLoaded(r));
                });
            }
            Effect::LoadAgents => {
                tokio::spawn(async move {
                    let r = timed(async { ops.get().await?.agent_status(None).await }).await;
                    let _ = tx.send(Event::AgentsLoaded(r));
                });
            }
            Effect::CheckServe => {
                tokio::spawn(async move {
                    // An unreachable store reads as "no server": the store's own health is
                    // shown by the loads that failed.
                    let status = match ops.get().await {
                        Ok(ops) => crate::serve::status(ops.store()).await,
                        Err(_) => None,
                    };
                    let _ = tx.send(Event::ServeChecked(status));
                });
            }
            Effect::AdoptAgents => {
                tokio::spawn(async move {
                    let r = timed(async { ops.get().await?.adopt_agents().await }).await;
                    if let Ok(notes) = &r {
                        for n in notes {
                            tracing::info!(note = %n, "agents adopted");
                        }
                    }
                    let _ = tx.send(Event::AgentsAdopted(r));
                });
            }
            Effect::LoadAgentLogs(name) => {
                tokio::spawn(async move {
                    let r = timed(async {
                        ops.get()
                            .await?
                            .agent_logs(&name, app::AGENT_LOG_LINES)
                            .await
                    })
                    .await;
                    let _ = tx.send(Event::AgentLogs { name, result: r });
                });
            }
            Effect::LoadNodes => {
                tokio::spawn(async move {
                    let r = timed(async {
                        let ops = ops.get().await?;
                        let nodes = ops.nodes_view().await?;
                        let simulated = ops.cluster_info().is_some_and(|c| c.kind == "simulated");
                        Ok(tabs::nodes::NodesData { simulated, nodes })
                    })
                    .await;
                    let _ = tx.send(Event::NodesLoaded(r));
                });
            }
            Effect::LoadDeployments => {
                tokio::spawn(async move {
                    let r = timed(async {
                        let ops = ops.get().await?;
                        let services = ops.services_view(None).await?;
                        // The pods of each service, as the cluster reports them (unknown when
                        // it cannot be asked: the rows still show rohe's bookkeeping).
                        // The console lives long enough for a watch to pay off.
                        let workloads = match ops.orch() {
                            Ok(o) => {
                                let ns = &o.config.namespace;
                                if let Err(e) = o.cluster.watch(ns).await {
                                    tracing::warn!(error = %e, "cannot watch the cluster");
                                }
                                o.cluster.workloads_view(ns, None).await.ok()
                            }
                            Err(_) => None,
                        };
                        Ok(tabs::deployments::rows(services, workloads.as_deref()))
                    })
                    .await;
                    let _ = tx.send(Event::DeploymentsLoaded(r));
                });
            }
            Effect::LoadPlan(purpose) => {
                tokio::spawn(async move {
                    // `rohe plan`: the apply request as a dry run, through `Ops::execute`.
                    let r = timed(async {
                        let ops = ops.get().await?;
                        match ops
                            .execute(crate::ops::Request::Apply { dry_run: true })
                            .await?
                        {
                            crate::ops::Response::Orchestration(o) => {
                                o.cycle.map(Box::new).ok_or_else(|| {
                                    Error::runtime("the plan came back without a cycle report")
                                })
                            }
                            _ => Err(Error::runtime(
                                "the plan came back as another kind of answer",
                            )),
                        }
                    })
                    .await;
                    let _ = tx.send(Event::PlanLoaded { purpose, result: r });
                });
            }
            Effect::LoadMetrics { name, range } => {
                tokio::spawn(async move {
                    let q = metrics_query(range, chrono::Utc::now());
                    let r = timed(async { ops.get().await?.metrics_view(&name, &q).await })
                        .await
                        .map(Box::new);
                    let _ = tx.send(Event::MetricsLoaded {
                        name,
                        range,
                        result: r,
                    });
                });
            }
            Effect::StartDemo { name, rate } => {
                let (stop_tx, stop_rx) = watch::channel(false);
                {
                    let mut demos = self.demo_switches();
                    if demos.contains_key(&name) {
                        return; // one demo per application
                    }
                    demos.insert(name.clone(), stop_tx);
                }
                let demos = self.demos.clone();
                tokio::spawn(async move {
                    // A fresh seed: the same seed would publish reports the store already
                    // holds (their ids repeat), and they would be dropped as duplicates.
                    let seed = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos() as u64)
                        .unwrap_or(1);
                    let opts = crate::ops::demo::DemoOptions {
                        rate,
                        duration: None,
                        count: None,
                        seed,
                    };
                    let progress_tx = tx.clone();
                    let progress_name = name.clone();
                    let result = match timed(ops.get()).await {
                        Ok(ops) => ops
                            .run_demo(&name, &opts, stop_rx, move |s| {
                                let _ = progress_tx.send(Event::DemoProgress {
                                    name: progress_name.clone(),
                                    stats: s.clone(),
                                });
                            })
                            .await
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e),
                    };
                    demos
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&name);
                    match &result {
                        Ok(s) => tracing::info!(app = %name, published = s.published, "demo ended"),
                        Err(e) => tracing::warn!(app = %name, error = %e, "demo failed"),
                    }
                    let _ = tx.send(Event::DemoFinished { name, result });
                });
            }
            Effect::StopDemo(name) => {
                match self.demo_switches().get(&name) {
                    Some(stop) => {
                        let _ = stop.send(true);
                    }
                    // Already over: say so, so that the console forgets it.
                    None => {
                        let _ = tx.send(Event::DemoFinished {
                            name,
                            result: Err("it had already ended".into()),
                        });
                    }
                }
            }
            Effect::LoadDetail(name) => {
                tokio::spawn(async move {
                    let r = timed(async {
                        let o = ops.get().await?;
                        let mut d = o.show_app(&name).await?;
                        let registry =
                            crate::backends::open_registry(&ops.loaded.config, o.store())?;
                        d.registry = Some(
                            crate::ops::registration::registry_view(&*registry, &d.application)
                                .await,
                        );
                        Ok(d)
                    })
                    .await
                    .map(Box::new);
                    let _ = tx.send(Event::DetailLoaded { name, result: r });
                });
            }
            Effect::LoadSpec { path, purpose } => {
                tokio::task::spawn_blocking(move || {
                    let result =
                        crate::ops::registration::read_spec_file(&path).map_err(|e| e.to_string());
                    let _ = tx.send(Event::SpecLoaded {
                        path,
                        purpose,
                        result,
                    });
                });
            }
            Effect::Execute(req) => {
                tokio::spawn(async move {
                    let action = req.action();
                    tracing::info!(action, "executing");
                    let result = match timed(ops.get()).await {
                        Ok(ops) => ops.execute(req).await.map_err(|e| e.to_string()),
                        Err(e) => Err(e),
                    };
                    let _ = tx.send(Event::OpFinished { action, result });
                });
            }
            Effect::CompletePath { target, value } => {
                tokio::task::spawn_blocking(move || {
                    let word = match target {
                        CompletionTarget::CommandLine => command::last_word(&value),
                        CompletionTarget::FormField(_) => value.clone(),
                    };
                    let candidates = complete_path(&word);
                    let _ = tx.send(Event::PathCompleted {
                        target,
                        value,
                        candidates,
                    });
                });
            }
            Effect::LoadQoaConfigs { name, microservice } => {
                tokio::spawn(async move {
                    let r = timed(async {
                        ops.get()
                            .await?
                            .qoa_configs(&name, microservice.as_deref())
                            .await
                    })
                    .await
                    .and_then(|configs| {
                        let mut text = String::new();
                        for (stem, c) in configs {
                            text.push_str(&format!("---\n# {stem}\n"));
                            text.push_str(&crate::yaml::to_string(&c).map_err(|e| e.to_string())?);
                        }
                        Ok(text)
                    });
                    let _ = tx.send(Event::TextLoaded {
                        title: format!("QoA4ML configs of {name}"),
                        result: r,
                    });
                });
            }
            // Handled by the UI task itself.
            Effect::Copy(_) | Effect::Quit => {}
        }
    }
}

/// Buckets of the Metrics tab's sparklines and chart.
pub const METRICS_BUCKETS: usize = 60;

/// The query behind a Metrics tab range at `now`: a live range ends now.
pub fn metrics_query(
    range: event::MetricsRange,
    now: chrono::DateTime<chrono::Utc>,
) -> crate::ops::metrics::MetricsQuery {
    let (since, until) = match range {
        event::MetricsRange::Live { minutes } => {
            (now - chrono::Duration::minutes(i64::from(minutes)), now)
        }
        event::MetricsRange::History { since, until } => (since, until),
    };
    crate::ops::metrics::MetricsQuery {
        since: Some(since),
        until: Some(until),
        stage: None,
        metric: None,
        buckets: METRICS_BUCKETS,
    }
}

/// File system entries that complete `word` (directories end with `/`), sorted.
pub fn complete_path(word: &str) -> Vec<String> {
    let (dir, prefix) = match word.rfind('/') {
        Some(i) => (&word[..=i], &word[i + 1..]),
        None => ("", word),
    };
    let expanded = if let Some(rest) = dir.strip_prefix("~/") {
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(rest))
            .unwrap_or_else(|| PathBuf::from(dir))
    } else if dir.is_empty() {
        PathBuf::from(".")
    } else {
        PathBuf::from(dir)
    };
    let Ok(entries) = std::fs::read_dir(&expanded) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with(prefix) || (name.starts_with('.') && !prefix.starts_with('.')) {
                return None;
            }
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false) || e.path().is_dir();
            Some(format!("{dir}{name}{}", if is_dir { "/" } else { "" }))
        })
        .take(500)
        .collect();
    out.sort();
    out
}
