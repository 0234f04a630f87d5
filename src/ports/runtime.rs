//! The Runtime port: where observation agents run.
//!
//! Implementations: `adapters::embedded::InProcessRuntime` (tasks inside this process, for the
//! in-process bus: the console and `rohe demo`), `adapters::process::ProcessRuntime` (one
//! `rohe agent run --app NAME` process per agent, for a real broker) and
//! `adapters::docker::DockerRuntime` (one container per agent, `agent.runtime: docker`).
//! A runtime only runs and stops agents; `ops::agents` keeps the records (desired state,
//! stream config, handle) in the store, so a restarted console finds its agents again.

use crate::agent::{AgentHealth, ResultBatch};
use crate::domain::app::Application;
use crate::domain::stream::StreamConfig;
use crate::error::Result;
use async_trait::async_trait;
use std::time::Duration;
use tokio::sync::broadcast;

#[async_trait]
pub trait Runtime: Send + Sync {
    /// `inprocess`, `process`, `docker`: written into the agent's record.
    fn kind(&self) -> &'static str;
    /// Start the application's agent; returns its handle (a pid, a container id).
    async fn start(&self, app: &Application, cfg: &StreamConfig) -> Result<String>;
    /// Stop it gracefully, forcibly after `timeout`. Stopping a stopped agent is not an error.
    async fn stop(&self, app_name: &str, handle: &str, timeout: Duration) -> Result<()>;
    /// Whether the agent behind `handle` still runs.
    async fn is_running(&self, app_name: &str, handle: &str) -> Result<bool>;
    /// Its last `lines` log lines, oldest first.
    async fn logs(&self, app_name: &str, handle: &str, lines: usize) -> Result<Vec<String>>;
    /// Live health, when this runtime holds the agent (else the record's copy is used).
    fn live_health(&self, _app_name: &str) -> Option<AgentHealth> {
        None
    }
    /// Analysis results as they are produced, when this runtime holds the agent.
    fn subscribe_results(&self, _app_name: &str) -> Option<broadcast::Receiver<ResultBatch>> {
        None
    }
}
