//! Agents as tasks inside this process: the runtime for the in-process bus, whose messages
//! only exist inside one process (the console, `rohe demo`).
//!
//! Handles are `inprocess:<pid>`: another rohe process reading the record can tell whether
//! the process that runs the agent is still alive.

use crate::agent::{AgentHealth, AgentIo, AgentOptions, LogRing, ResultBatch, lock, run_agent};
use crate::domain::app::Application;
use crate::domain::stream::StreamConfig;
use crate::error::{Error, Result};
use crate::ports::runtime::Runtime;
use crate::ports::{Bus, Store};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    io: AgentIo,
}

pub struct InProcessRuntime {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    opts: AgentOptions,
    agents: Mutex<HashMap<String, Running>>,
    /// Logs outlive a stopped agent, so `logs` can show why it stopped.
    logs: Mutex<HashMap<String, Arc<LogRing>>>,
}

impl InProcessRuntime {
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>, opts: AgentOptions) -> Self {
        InProcessRuntime {
            store,
            bus,
            opts,
            agents: Mutex::new(HashMap::new()),
            logs: Mutex::new(HashMap::new()),
        }
    }

    pub fn handle() -> String {
        format!("inprocess:{}", std::process::id())
    }

    fn log_of(&self, app: &str) -> Arc<LogRing> {
        lock(&self.logs)
            .entry(app.to_string())
            .or_insert_with(|| Arc::new(LogRing::new(500)))
            .clone()
    }
}

/// The pid in an `inprocess:<pid>` handle.
fn pid_of(handle: &str) -> Option<u32> {
    handle.strip_prefix("inprocess:")?.parse().ok()
}

#[async_trait]
impl Runtime for InProcessRuntime {
    fn kind(&self) -> &'static str {
        "inprocess"
    }

    async fn start(&self, app: &Application, cfg: &StreamConfig) -> Result<String> {
        cfg.validate()?;
        let name = app.application_name.clone();
        let mut agents = lock(&self.agents);
        if let Some(r) = agents.get(&name)
            && !r.task.is_finished()
        {
            return Ok(Self::handle());
        }
        let log = self.log_of(&name);
        let io = AgentIo::new(self.store.clone(), self.bus.clone(), log.clone());
        let (stop, rx) = watch::channel(false);
        let (app, cfg, opts, io2) = (app.clone(), cfg.clone(), self.opts.clone(), io.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = run_agent(app, cfg, io2, opts, rx).await {
                log.push(format!("agent failed: {e}"));
            }
        });
        agents.insert(name, Running { stop, task, io });
        Ok(Self::handle())
    }

    async fn stop(&self, app_name: &str, _handle: &str, timeout: Duration) -> Result<()> {
        let running = lock(&self.agents).remove(app_name);
        let Some(r) = running else {
            return Ok(());
        };
        let _ = r.stop.send(true);
        let abort = r.task.abort_handle();
        match tokio::time::timeout(timeout, r.task).await {
            Ok(_) => Ok(()),
            Err(_) => {
                abort.abort();
                Err(Error::runtime(format!(
                    "the agent of {app_name} did not stop within {}s and was aborted; its unacknowledged reports will be delivered again",
                    timeout.as_secs()
                )))
            }
        }
    }

    async fn is_running(&self, app_name: &str, handle: &str) -> Result<bool> {
        match pid_of(handle) {
            Some(pid) if pid == std::process::id() => Ok(lock(&self.agents)
                .get(app_name)
                .is_some_and(|r| !r.task.is_finished())),
            // Another process runs it: alive as long as that process is.
            Some(pid) => Ok(std::path::Path::new(&format!("/proc/{pid}")).exists()),
            None => Ok(false),
        }
    }

    async fn logs(&self, app_name: &str, _handle: &str, lines: usize) -> Result<Vec<String>> {
        Ok(self.log_of(app_name).tail(lines))
    }

    fn live_health(&self, app_name: &str) -> Option<AgentHealth> {
        lock(&self.agents)
            .get(app_name)
            .map(|r| lock(&r.io.health).clone())
    }

    fn subscribe_results(&self, app_name: &str) -> Option<broadcast::Receiver<ResultBatch>> {
        lock(&self.agents)
            .get(app_name)
            .map(|r| r.io.results.subscribe())
    }
}
