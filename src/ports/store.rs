//! The Store port: where registrations, agent records, metric reports and the audit log live.
//!
//! Implementations: `adapters::embedded::SqliteStore` (default, a local file). Writes of
//! mutable records use optimistic concurrency: every record carries a version, and a write
//! names the version it read; a write against a stale version fails with
//! [`ErrorKind::Conflict`](crate::error::ErrorKind::Conflict) and the caller re-reads and retries.

use crate::domain::app::{Application, RegistrationEvent};
use crate::error::Result;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A record and the version it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

/// One state-changing operation, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Assigned by the store, increasing.
    #[serde(default)]
    pub seq: u64,
    pub at: DateTime<Utc>,
    /// `$USER@host`.
    pub actor: String,
    /// `cli`, `tui`, `serve`.
    pub source: String,
    /// `app.register`, `app.unregister`, ...
    pub action: String,
    /// The operation's arguments, secrets redacted.
    pub args: serde_json::Value,
    pub ok: bool,
    /// The result in one line: what changed, or the error.
    pub result: String,
}

/// What rohe knows about an application's observation agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub application_name: String,
    pub app_id: uuid::Uuid,
    pub state: AgentState,
    /// Which runtime runs it (`local`, `docker`) and its handle there.
    pub runtime: String,
    #[serde(default)]
    pub handle: String,
    pub updated_at: DateTime<Utc>,
    /// The stream configuration the agent runs with, persisted before it starts.
    #[serde(default)]
    pub config: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    Starting,
    Running,
    Stopping,
    Stopped,
    Failed,
}

impl AgentState {
    /// States in which the agent may still be consuming reports.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            AgentState::Starting | AgentState::Running | AgentState::Stopping
        )
    }
}

/// A raw metric report as stored: the report's own JSON plus where and when it arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredReport {
    pub app_id: uuid::Uuid,
    /// Unique per application; a redelivered report with the same id is stored once.
    pub report_id: String,
    pub received_at: DateTime<Utc>,
    pub body: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreInfo {
    /// `embedded` or the real backend's name.
    pub backend: &'static str,
    /// Where the data is (a path or a redacted URL).
    pub location: String,
}

#[async_trait]
pub trait Store: Send + Sync {
    fn info(&self) -> StoreInfo;

    // Applications: the current view, with the registration history beside it.
    async fn get_app(&self, name: &str) -> Result<Option<Versioned<Application>>>;
    async fn list_apps(&self) -> Result<Vec<Application>>;
    /// The applications as JSON documents (the serde form of [`Application`]), sorted by name,
    /// for callers that pass them through without decoding (`rohe app list --output json`).
    async fn list_apps_json(&self) -> Result<Vec<String>>;
    /// Write the current view and append `event` to the history, atomically, together with
    /// the audit entry that records the change (when given).
    /// `expected = None` creates (conflict if the name exists); `Some(v)` updates version `v`.
    /// Returns the new version.
    async fn put_app(
        &self,
        app: &Application,
        expected: Option<u64>,
        event: &RegistrationEvent,
        audit: Option<&AuditEntry>,
    ) -> Result<u64>;
    /// Remove the application and its history (conflict if the version moved on), atomically
    /// with its audit entry (when given).
    async fn delete_app(&self, name: &str, expected: u64, audit: Option<&AuditEntry>)
    -> Result<()>;
    async fn app_history(&self, name: &str) -> Result<Vec<RegistrationEvent>>;

    // Agents.
    async fn get_agent(&self, app_name: &str) -> Result<Option<Versioned<AgentRecord>>>;
    async fn list_agents(&self) -> Result<Vec<AgentRecord>>;
    async fn put_agent(&self, agent: &AgentRecord, expected: Option<u64>) -> Result<u64>;
    async fn delete_agent(&self, app_name: &str) -> Result<()>;

    // Metric reports and analysis results.
    /// Store reports; a report whose (app_id, report_id) is already stored is skipped.
    /// Returns how many were new.
    async fn insert_reports(&self, reports: &[StoredReport]) -> Result<u64>;
    async fn count_reports(&self, app_id: uuid::Uuid) -> Result<u64>;
    /// Remove every stored report and analysis result of an application; returns how many.
    async fn purge_metrics(&self, app_id: uuid::Uuid) -> Result<u64>;

    // Audit log.
    async fn append_audit(&self, entry: &AuditEntry) -> Result<u64>;
    async fn list_audit(
        &self,
        since: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>>;
}
