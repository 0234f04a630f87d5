//! The Store port: where registrations, agent records, metric reports and the audit log live.
//!
//! Implementations: `adapters::embedded::SqliteStore` (default, a local file). Writes of
//! mutable records use optimistic concurrency: every record carries a version, and a write
//! names the version it read; a write against a stale version fails with
//! [`ErrorKind::Conflict`](crate::error::ErrorKind::Conflict) and the caller re-reads and retries.

use crate::domain::analysis::AnalysisResult;
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
    /// The agent's own report on itself, refreshed every second while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<AgentHealth>,
}

/// An agent's health, refreshed every second and kept in its record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentHealth {
    pub started_at: Option<DateTime<Utc>>,
    /// Refreshed at every health tick; a stale value means the agent is not running.
    pub updated_at: Option<DateTime<Utc>>,
    /// The queue it consumes.
    #[serde(default)]
    pub queue: String,
    /// Consuming right now (false while reconnecting).
    pub connected: bool,
    /// Deliveries handled (stored, duplicate or dead-lettered).
    pub received: u64,
    /// Store transactions (batches) they took; received / batches is the batch size.
    #[serde(default)]
    pub batches: u64,
    /// Reports stored for the first time.
    pub stored: u64,
    /// Redelivered reports that were already stored.
    pub duplicates: u64,
    pub dead_lettered: u64,
    /// Deliveries per second, smoothed over a few seconds.
    pub rate_per_s: f64,
    /// Messages waiting in the queue, when the bus can tell: the agent's lag.
    pub queue_depth: Option<u64>,
    pub last_report_at: Option<DateTime<Utc>>,
    /// The last window analysed, and what the analyses found in all.
    pub windows: u64,
    /// Reports flagged as outliers, once per feature group however many overlapping windows
    /// flag them (a report without a timestamp counts per window: it cannot be matched).
    pub anomalies: u64,
    pub violations: u64,
    /// Window runs skipped because the analysis was still busy.
    pub analyses_skipped: u64,
    pub window_rows: usize,
    pub errors: u64,
    pub last_error: Option<String>,
}

impl AgentHealth {
    /// Seconds since the last report, at `now`.
    pub fn last_report_age(&self, now: DateTime<Utc>) -> Option<f64> {
        self.last_report_at
            .map(|t| (now - t).num_milliseconds() as f64 / 1000.0)
    }
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

/// A report's JSON text as it arrived: stored as is, never re-encoded (the agent stores
/// thousands a second, and encoding a parsed body again cost more than storing it).
///
/// Serialises as the JSON value it holds, not as a string, like the `serde_json::Value` it
/// replaces. [`value`](Self::value) parses it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportJson(String);

impl ReportJson {
    /// Wrap text the caller has already parsed as JSON (the agent decodes every body before
    /// storing it). Text that is not JSON is kept, and [`value`](Self::value) reports it.
    pub fn from_parsed_text(text: String) -> ReportJson {
        ReportJson(text)
    }

    /// Check that `text` is one JSON value, then wrap it.
    pub fn parse(text: String) -> serde_json::Result<ReportJson> {
        serde_json::from_str::<serde::de::IgnoredAny>(&text)?;
        Ok(ReportJson(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The parsed report.
    pub fn value(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_str(&self.0)
    }
}

impl From<serde_json::Value> for ReportJson {
    fn from(v: serde_json::Value) -> ReportJson {
        ReportJson(v.to_string())
    }
}

impl Serialize for ReportJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.value()
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ReportJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        serde_json::Value::deserialize(d).map(ReportJson::from)
    }
}

/// A raw metric report as stored: the report's own JSON plus where and when it arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredReport {
    pub app_id: uuid::Uuid,
    /// Unique per application; a redelivered report with the same id is stored once.
    pub report_id: String,
    /// The application's run when the report arrived: the `metric_collection_<run_id>` it
    /// belongs to (rohe-spec §1.3).
    #[serde(default)]
    pub run_id: String,
    pub received_at: DateTime<Utc>,
    /// The report's JSON text exactly as it arrived.
    pub body: ReportJson,
}

/// One analysis document: one feature group over one window, as the agent stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAnalysis {
    pub app_id: uuid::Uuid,
    /// `w<seq>`: unique per application; the agent resumes the sequence after a restart.
    pub window_id: String,
    pub run_id: String,
    /// When the window was analysed.
    pub at: DateTime<Utc>,
    pub result: AnalysisResult,
}

impl StoredAnalysis {
    /// The group's key within its window (its columns joined by `+`).
    pub fn group_key(&self) -> String {
        self.result.group.join("+")
    }
}

/// A time range (by arrival time) and a bound on how many records to return.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeRange {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// At most this many records: the newest ones, returned oldest first.
    pub limit: usize,
}

impl TimeRange {
    pub fn last(span: chrono::Duration, limit: usize) -> TimeRange {
        TimeRange {
            since: Some(Utc::now() - span),
            until: None,
            limit,
        }
    }
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

    // Named documents with optimistic concurrency: the orchestration state (inventory,
    // services, placements), the simulated cluster, the orchestrator's record.
    async fn get_doc(&self, key: &str) -> Result<Option<Versioned<serde_json::Value>>>;
    /// `expected = None` creates (conflict if the key exists); `Some(v)` replaces version `v`
    /// (conflict if it moved on). The audit entry, when given, is written in the same
    /// transaction. Returns the new version.
    async fn put_doc(
        &self,
        key: &str,
        value: &serde_json::Value,
        expected: Option<u64>,
        audit: Option<&AuditEntry>,
    ) -> Result<u64>;

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
    /// Stored reports received within the range (inclusive), oldest first.
    async fn query_reports(
        &self,
        app_id: uuid::Uuid,
        range: TimeRange,
    ) -> Result<Vec<StoredReport>>;
    /// Store analysis documents; one already stored for (app_id, window_id, group) is kept.
    async fn insert_analysis(&self, docs: &[StoredAnalysis]) -> Result<u64>;
    /// Analysis documents analysed within the range, oldest first.
    async fn query_analysis(
        &self,
        app_id: uuid::Uuid,
        range: TimeRange,
    ) -> Result<Vec<StoredAnalysis>>;
    /// The highest window sequence stored for the application (0 when none).
    async fn last_window_seq(&self, app_id: uuid::Uuid) -> Result<u64>;
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
