//! What the UI task reacts to ([`Event`]) and what it asks the runtime to do ([`Effect`]).
//!
//! Input, ticks and the results of background work all arrive as events on one channel; the
//! reducer ([`super::app::App::update`]) turns each into state changes and effects. Effects are
//! data, so tests can assert exactly which `ops::Request` a key sequence produces.

use crate::domain::app::{AppSummary, ApplicationSpec};
use crate::ops::{AppDetail, Request, Response};
use crate::ports::AgentRecord;
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
    AgentsLoaded(Result<Vec<AgentRecord>, String>),
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

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    LoadApps,
    LoadAgents,
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
