//! The embedded Store: one SQLite file (WAL mode) under `$XDG_DATA_HOME/rohe/`.
//!
//! Why SQLite (see ARCHITECTURE.md for the measurements): the store holds documents *and*
//! time-ordered metric reports that the Metrics tab queries by time range, so it needs
//! indexes and transactions, not only keys and values; WAL lets a console read while an agent
//! writes, and several `rohe` processes share one file safely through SQLite's own locking.
//! A committed transaction survives `kill -9` of the process (WAL + `synchronous=NORMAL`);
//! `sync: full` in the config also makes it survive a power loss, at a cost per commit.

use super::report_log::{self, ReportLogs, Unreadable, reports_dir};
use crate::domain::app::{Application, RegistrationEvent};
use crate::error::{Error, Result};
use crate::ports::store::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bumped when the schema changes; a newer file is refused rather than misread. Version 4
/// moved the metric tables into their own file (see [`METRICS_SCHEMA`]).
const SCHEMA_VERSION: i64 = 4;

/// The metrics file's own schema version. Version 2 moved report bodies into per-application
/// logs ([`super::report_log`]): rows written since carry `log_at`/`log_len` and an empty `doc`;
/// rows from before keep their body in `doc`.
const METRICS_SCHEMA_VERSION: i64 = 2;

/// Reports and analyses live in a second file beside the store ([`metrics_path`]), and report
/// bodies in logs beside that ([`super::report_log`]), for reasons measured on the agent
/// (BENCHMARKS.md):
/// * its own page size ([`METRICS_PAGE_SIZE`]);
/// * its own write lock and WAL: a registration no longer waits for an agent's batch commit;
/// * rowid tables with unique indexes, not `WITHOUT ROWID` tables keyed by (app, id): such a
///   row is its key, a report spilled into overflow pages that every key comparison of an
///   insert read back, and 58% of the agent's time went to SQLite.
const METRICS_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS metric_reports (
    app_id      TEXT NOT NULL,
    report_id   TEXT NOT NULL,
    received_us INTEGER NOT NULL,
    doc         TEXT NOT NULL,
    run_id      TEXT NOT NULL DEFAULT '',
    log_at      INTEGER,
    log_len     INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS metric_reports_by_id ON metric_reports(app_id, report_id);
CREATE INDEX IF NOT EXISTS metric_reports_by_time ON metric_reports(app_id, received_us);
CREATE TABLE IF NOT EXISTS analysis_results (
    app_id    TEXT NOT NULL,
    window_id TEXT NOT NULL,
    grp       TEXT NOT NULL,
    at_us     INTEGER NOT NULL,
    doc       TEXT NOT NULL,
    window_seq INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS analysis_results_by_id ON analysis_results(app_id, window_id, grp);
CREATE INDEX IF NOT EXISTS analysis_results_by_time ON analysis_results(app_id, at_us);
";

/// Page size of a new metrics file (an existing file keeps the one it was made with). Every
/// commit rewrites the last page of the table and of each index whatever it holds, so at a
/// steady rate smaller pages write fewer bytes per report. While bodies were rows, larger
/// pages drained a backlog faster (4/8/16/32 KB: ~32k/40k/44k/48k reports per CPU-second) and
/// 8 KB was the balance; with ~150-byte rows 4 KB is as fast in bulk (68.6k vs 62.5k per
/// CPU-second) and writes 13 instead of 18 KB per report at 1,000 reports/s.
const METRICS_PAGE_SIZE: u32 = 4 * 1024;

// Every index is written on every commit: registrations touch applications, history and audit,
// so those carry only the indexes their reads need (the audit log is read newest-first by seq;
// app_ids are fresh UUIDv4s and need no uniqueness index).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS applications (
    name    TEXT PRIMARY KEY,
    app_id  TEXT NOT NULL,
    version INTEGER NOT NULL,
    doc     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS registration_history (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    name   TEXT NOT NULL,
    app_id TEXT NOT NULL,
    doc    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS registration_history_by_name ON registration_history(name, seq);
CREATE TABLE IF NOT EXISTS agents (
    name    TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    doc     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    key     TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    doc     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    at_us INTEGER NOT NULL,
    doc   TEXT NOT NULL
);

";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Durable across a process crash (kill -9); the default.
    #[default]
    Normal,
    /// Durable across a power loss too: one fsync per commit.
    Full,
}

pub struct SqliteStore {
    /// Applications, agents, documents, history and audit.
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    /// Metric reports and analyses.
    metrics: Arc<Mutex<Connection>>,
    metrics_path: PathBuf,
    /// The bodies of metric reports. Locked only inside `with_metrics`, after the connection.
    logs: Arc<Mutex<ReportLogs>>,
    sync: SyncMode,
}

/// Where the metrics of the store at `path` live: `rohe.db` -> `rohe.metrics.db`, beside it.
pub fn metrics_path(path: &Path) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.metrics.{}", ext.to_string_lossy()),
        None => format!("{stem}.metrics"),
    };
    path.with_file_name(name)
}

/// Open one SQLite file the way the store uses it: WAL, the sync mode, a 4 MB page cache.
/// `page_size` applies when the file is new.
fn open_file(path: &Path, sync: SyncMode, page_size: Option<u32>) -> Result<Connection> {
    let err = store_err(path);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(&err)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(&err)?;
    if let Some(size) = page_size {
        // Before journal_mode: a WAL file's page size cannot change afterwards.
        conn.execute_batch(&format!("PRAGMA page_size={size}"))
            .map_err(&err)?;
    }
    // journal_mode answers with a row; a non-database file fails here with a clear code.
    // Switching a new file to WAL needs its exclusive lock, and SQLite answers "busy" at once
    // instead of waiting when another process is doing the same (several rohe processes
    // creating one store): retry for as long as the busy timeout.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mode: String = loop {
        match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)) {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            r => break r.map_err(&err)?,
        }
    };
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::runtime(format!(
            "store {}: cannot use write-ahead logging (journal mode is {mode})",
            path.display()
        ))
        .hint("put the store on a local file system"));
    }
    let sync_pragma = match sync {
        SyncMode::Normal => "PRAGMA synchronous=NORMAL",
        SyncMode::Full => "PRAGMA synchronous=FULL",
    };
    conn.execute_batch(sync_pragma).map_err(&err)?;
    // Checkpoint every ~16 MB of WAL instead of 4 MB: measured 12% of registration time
    // went to checkpoints at the default.
    // A 4 MB page cache (SQLite's default is 2 MB): 16 MB made neither registrations nor
    // the agent faster and was a third of a running agent's memory (53 -> 40.5 MB RSS).
    let page: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .map_err(&err)?;
    conn.execute_batch(&format!(
        "PRAGMA wal_autocheckpoint={}; PRAGMA cache_size=-4000;",
        (16 << 20) / page.max(512)
    ))
    .map_err(&err)?;
    Ok(conn)
}

fn user_version(conn: &Connection, path: &Path) -> Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(store_err(path))
}

fn newer_file(path: &Path, version: i64, known: i64) -> Error {
    Error::runtime(format!(
        "store {} has schema version {version}; this rohe understands up to {known}",
        path.display()
    ))
    .hint("upgrade rohe, or point store.path at another file")
}

fn store_err(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| {
        let busy = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        let not_db = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::NotADatabase)
        );
        let err = Error::runtime(format!("store {}: {e}", path.display()));
        if busy {
            err.hint("another rohe process has held the store's write lock for over 5 s; retry, or find it with `fuser` on the file")
        } else if not_db {
            err.hint("this file is not a rohe store: set store.path in the config to another file")
        } else {
            err
        }
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::runtime(format!("encoding a record: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| {
        Error::runtime(format!("the store holds an unreadable {what} record: {e}"))
            .hint("the file may have been written by another program")
    })
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default()
}

fn range_micros(range: &TimeRange) -> (i64, i64) {
    (
        range.since.map_or(i64::MIN, micros),
        range.until.map_or(i64::MAX, micros),
    )
}

impl SqliteStore {
    /// Open (and create when missing) the store at `path`.
    pub fn open(path: &Path, sync: SyncMode) -> Result<Self> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::runtime(format!(
                    "cannot create the store directory {}: {e}",
                    dir.display()
                ))
                .field("store.path")
            })?;
        }
        let conn = open_file(path, sync, None)?;
        let version = user_version(&conn, path)?;
        if version > SCHEMA_VERSION {
            return Err(newer_file(path, version, SCHEMA_VERSION));
        }
        let mpath = metrics_path(path);
        let metrics = open_file(&mpath, sync, Some(METRICS_PAGE_SIZE))?;
        let mversion = user_version(&metrics, &mpath)?;
        if mversion > METRICS_SCHEMA_VERSION {
            return Err(newer_file(&mpath, mversion, METRICS_SCHEMA_VERSION));
        }
        if mversion < METRICS_SCHEMA_VERSION {
            upgrade_metrics(&metrics, &mpath)?;
        }
        if version < SCHEMA_VERSION {
            if (1..4).contains(&version) {
                move_metrics_out(&conn, path, &mpath, version)?;
            }
            // CREATE IF NOT EXISTS leaves existing tables as they are (and adds version 3's
            // documents table).
            conn.execute_batch(&format!(
                "BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
            ))
            .map_err(store_err(path))?;
        }
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
            metrics: Arc::new(Mutex::new(metrics)),
            metrics_path: mpath,
            logs: Arc::new(Mutex::new(ReportLogs::new(reports_dir(path)))),
            sync,
        })
    }

    /// Run blocking SQLite work off the async executor.
    async fn with<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Path) -> Result<T> + Send + 'static,
    {
        run_on(&self.conn, &self.path, f).await
    }

    /// The same on the metrics file.
    async fn with_metrics<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Path) -> Result<T> + Send + 'static,
    {
        run_on(&self.metrics, &self.metrics_path, f).await
    }
}

/// Run blocking SQLite work on `conn` off the async executor.
async fn run_on<T, F>(conn: &Arc<Mutex<Connection>>, path: &Path, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection, &Path) -> Result<T> + Send + 'static,
{
    let conn = conn.clone();
    let path = path.to_path_buf();
    let work = move || {
        let mut guard = conn
            .lock()
            .map_err(|_| Error::runtime("the store connection was poisoned by a panic"))?;
        f(&mut guard, &path)
    };
    // Store calls take microseconds; handing each to the blocking pool costs two thread
    // wake-ups, more than the call itself. On a multi-threaded runtime run it in place
    // (tokio moves this worker's other tasks elsewhere meanwhile).
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| Error::runtime(format!("store task failed: {e}")))?,
    }
}

/// Bring the metrics file to [`METRICS_SCHEMA_VERSION`]. The version is read again under the
/// write lock: processes opening an old file together each saw the old version, and only the
/// first may add columns (`ALTER TABLE` is not idempotent as `CREATE IF NOT EXISTS` is).
fn upgrade_metrics(c: &Connection, p: &Path) -> Result<()> {
    let err = store_err(p);
    c.execute_batch("BEGIN IMMEDIATE").map_err(&err)?;
    let upgraded = user_version(c, p).and_then(|version| {
        if version >= METRICS_SCHEMA_VERSION {
            return Ok(());
        }
        // Version 1's report table lacks the log columns (CREATE IF NOT EXISTS keeps it).
        let add_log_columns = if version == 1 {
            "ALTER TABLE metric_reports ADD COLUMN log_at INTEGER;
             ALTER TABLE metric_reports ADD COLUMN log_len INTEGER;"
        } else {
            ""
        };
        c.execute_batch(&format!(
            "{METRICS_SCHEMA} {add_log_columns} PRAGMA user_version={METRICS_SCHEMA_VERSION};"
        ))
        .map_err(&err)
    });
    match upgraded {
        Ok(()) => c.execute_batch("COMMIT").map_err(&err),
        Err(e) => {
            let _ = c.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Store files before version 4 kept reports and analyses in their own tables: copy them into
/// the metrics file, then drop them here. Two transactions (SQLite does not commit two WAL
/// files atomically); the copy ignores rows already there, so a crash in between only means
/// the copy runs again at the next start.
fn move_metrics_out(conn: &Connection, path: &Path, mpath: &Path, version: i64) -> Result<()> {
    let err = store_err(path);
    // Version 1 had no run_id and window_seq columns.
    let (run_id, window_seq) = if version == 1 {
        ("''", "0")
    } else {
        ("run_id", "window_seq")
    };
    conn.execute("ATTACH DATABASE ?1 AS metrics", [mpath.to_string_lossy()])
        .map_err(&err)?;
    let copied = conn.execute_batch(&format!(
        "BEGIN IMMEDIATE;
         INSERT OR IGNORE INTO metrics.metric_reports (app_id, report_id, received_us, doc, run_id)
             SELECT app_id, report_id, received_us, doc, {run_id} FROM main.metric_reports
             ORDER BY received_us;
         INSERT OR IGNORE INTO metrics.analysis_results
             (app_id, window_id, grp, at_us, doc, window_seq)
             SELECT app_id, window_id, grp, at_us, doc, {window_seq} FROM main.analysis_results
             ORDER BY at_us;
         COMMIT;"
    ));
    if copied.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    let detached = conn.execute_batch("DETACH DATABASE metrics");
    copied.map_err(&err)?;
    detached.map_err(&err)?;
    conn.execute_batch(
        "BEGIN IMMEDIATE;
         DROP TABLE IF EXISTS main.metric_reports;
         DROP TABLE IF EXISTS main.analysis_results;
         COMMIT;",
    )
    .map_err(&err)
}

/// The `doc` column of every row a query returns, as text.
fn docs<P: rusqlite::Params>(
    c: &Connection,
    p: &Path,
    sql: &str,
    params: P,
) -> Result<Vec<String>> {
    let mut stmt = c.prepare_cached(sql).map_err(store_err(p))?;
    let rows = stmt
        .query_map(params, |r| r.get::<_, String>(0))
        .map_err(store_err(p))?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(store_err(p))
}

/// Decode every row's document.
fn decode_all<T: serde::de::DeserializeOwned>(docs: Vec<String>, what: &str) -> Result<Vec<T>> {
    docs.iter().map(|d| from_json(d, what)).collect()
}

/// One versioned record (`SELECT doc, version ... WHERE name = ?1`).
fn versioned<T: serde::de::DeserializeOwned>(
    c: &Connection,
    p: &Path,
    sql: &str,
    name: &str,
    what: &str,
) -> Result<Option<Versioned<T>>> {
    let row: Option<(String, i64)> = c
        .prepare_cached(sql)
        .and_then(|mut st| {
            st.query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(store_err(p))?;
    row.map(|(doc, v)| {
        Ok(Versioned {
            value: from_json(&doc, what)?,
            version: v as u64,
        })
    })
    .transpose()
}

fn audit_row(entry: &AuditEntry) -> Result<(i64, String)> {
    Ok((micros(entry.at), to_json(entry)?))
}

/// Insert an audit entry (inside the caller's transaction when given one); returns its seq.
fn insert_audit(c: &Connection, at: i64, doc: &str) -> rusqlite::Result<u64> {
    c.prepare_cached("INSERT INTO audit (at_us, doc) VALUES (?1, ?2)")?
        .execute(params![at, doc])?;
    Ok(c.last_insert_rowid() as u64)
}

fn version_conflict(what: &str, name: &str) -> Error {
    Error::conflict(format!(
        "{what} {name:?} was changed by someone else meanwhile"
    ))
    .hint("re-read it and try again")
}

#[async_trait]
impl Store for SqliteStore {
    fn info(&self) -> StoreInfo {
        StoreInfo {
            backend: "embedded",
            location: self.path.display().to_string(),
        }
    }

    async fn get_app(&self, name: &str) -> Result<Option<Versioned<Application>>> {
        let name = name.to_string();
        self.with(move |c, p| {
            versioned(
                c,
                p,
                "SELECT doc, version FROM applications WHERE name = ?1",
                &name,
                "application",
            )
        })
        .await
    }

    async fn list_apps(&self) -> Result<Vec<Application>> {
        let docs = self.list_apps_json().await?;
        decode_all(docs, "application")
    }

    async fn list_apps_json(&self) -> Result<Vec<String>> {
        self.with(|c, p| docs(c, p, "SELECT doc FROM applications ORDER BY name", []))
            .await
    }

    async fn put_app(
        &self,
        app: &Application,
        expected: Option<u64>,
        event: &RegistrationEvent,
        audit: Option<&AuditEntry>,
    ) -> Result<u64> {
        let doc = to_json(app)?;
        let ev = to_json(event)?;
        let audit = audit.map(audit_row).transpose()?;
        let name = app.application_name.clone();
        let app_id = app.app_id.to_string();
        self.with(move |c, p| {
            let err = store_err(p);
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(&err)?;
            let new_version = match expected {
                None => {
                    let n = tx
                        .prepare_cached(
                            "INSERT INTO applications (name, app_id, version, doc) VALUES (?1, ?2, 1, ?3)
                             ON CONFLICT DO NOTHING",
                        )
                        .and_then(|mut st| st.execute(params![name, app_id, doc]))
                        .map_err(&err)?;
                    if n == 0 {
                        return Err(version_conflict("application", &name));
                    }
                    1
                }
                Some(v) => {
                    let n = tx
                        .prepare_cached(
                            "UPDATE applications SET doc = ?1, version = version + 1
                             WHERE name = ?2 AND version = ?3 AND app_id = ?4",
                        )
                        .and_then(|mut st| st.execute(params![doc, name, v as i64, app_id]))
                        .map_err(&err)?;
                    if n == 0 {
                        return Err(version_conflict("application", &name));
                    }
                    v + 1
                }
            };
            tx.prepare_cached(
                "INSERT INTO registration_history (name, app_id, doc) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut st| st.execute(params![name, app_id, ev]))
            .map_err(&err)?;
            if let Some((at, doc)) = &audit {
                insert_audit(&tx, *at, doc).map_err(&err)?;
            }
            tx.commit().map_err(&err)?;
            Ok(new_version)
        })
        .await
    }

    async fn delete_app(
        &self,
        name: &str,
        expected: u64,
        audit: Option<&AuditEntry>,
    ) -> Result<()> {
        let name = name.to_string();
        let audit = audit.map(audit_row).transpose()?;
        self.with(move |c, p| {
            let err = store_err(p);
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(&err)?;
            let n = tx
                .execute(
                    "DELETE FROM applications WHERE name = ?1 AND version = ?2",
                    params![name, expected as i64],
                )
                .map_err(&err)?;
            if n == 0 {
                return Err(version_conflict("application", &name));
            }
            tx.execute("DELETE FROM registration_history WHERE name = ?1", [&name])
                .map_err(&err)?;
            if let Some((at, doc)) = &audit {
                insert_audit(&tx, *at, doc).map_err(&err)?;
            }
            tx.commit().map_err(&err)
        })
        .await
    }

    async fn app_history(&self, name: &str) -> Result<Vec<RegistrationEvent>> {
        let name = name.to_string();
        let docs = self
            .with(move |c, p| {
                docs(
                    c,
                    p,
                    "SELECT doc FROM registration_history WHERE name = ?1 ORDER BY seq",
                    [&name],
                )
            })
            .await?;
        decode_all(docs, "registration event")
    }

    async fn get_doc(&self, key: &str) -> Result<Option<Versioned<serde_json::Value>>> {
        let key = key.to_string();
        self.with(move |c, p| {
            versioned(
                c,
                p,
                "SELECT doc, version FROM documents WHERE key = ?1",
                &key,
                "document",
            )
        })
        .await
    }

    async fn put_doc(
        &self,
        key: &str,
        value: &serde_json::Value,
        expected: Option<u64>,
        audit: Option<&AuditEntry>,
    ) -> Result<u64> {
        let doc = to_json(value)?;
        let key = key.to_string();
        let audit = audit.map(audit_row).transpose()?;
        self.with(move |c, p| {
            let err = store_err(p);
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(&err)?;
            let n = match expected {
                None => tx.execute(
                    "INSERT INTO documents (key, version, doc) VALUES (?1, 1, ?2) ON CONFLICT DO NOTHING",
                    params![key, doc],
                ),
                Some(v) => tx.execute(
                    "UPDATE documents SET doc = ?1, version = version + 1 WHERE key = ?2 AND version = ?3",
                    params![doc, key, v as i64],
                ),
            }
            .map_err(&err)?;
            if n == 0 {
                return Err(version_conflict("document", &key));
            }
            if let Some((at, doc)) = &audit {
                insert_audit(&tx, *at, doc).map_err(&err)?;
            }
            tx.commit().map_err(&err)?;
            Ok(expected.map_or(1, |v| v + 1))
        })
        .await
    }

    async fn get_agent(&self, app_name: &str) -> Result<Option<Versioned<AgentRecord>>> {
        let name = app_name.to_string();
        self.with(move |c, p| {
            versioned(
                c,
                p,
                "SELECT doc, version FROM agents WHERE name = ?1",
                &name,
                "agent",
            )
        })
        .await
    }

    async fn list_agents(&self) -> Result<Vec<AgentRecord>> {
        let docs = self
            .with(|c, p| docs(c, p, "SELECT doc FROM agents ORDER BY name", []))
            .await?;
        decode_all(docs, "agent")
    }

    async fn put_agent(&self, agent: &AgentRecord, expected: Option<u64>) -> Result<u64> {
        let doc = to_json(agent)?;
        let name = agent.application_name.clone();
        self.with(move |c, p| {
            let err = store_err(p);
            let n = match expected {
                None => c.execute(
                    "INSERT INTO agents (name, version, doc) VALUES (?1, 1, ?2) ON CONFLICT DO NOTHING",
                    params![name, doc],
                ),
                Some(v) => c.execute(
                    "UPDATE agents SET doc = ?1, version = version + 1 WHERE name = ?2 AND version = ?3",
                    params![doc, name, v as i64],
                ),
            }
            .map_err(&err)?;
            if n == 0 {
                return Err(version_conflict("agent", &name));
            }
            Ok(expected.map_or(1, |v| v + 1))
        })
        .await
    }

    async fn delete_agent(&self, app_name: &str) -> Result<()> {
        let name = app_name.to_string();
        self.with(move |c, p| {
            c.execute("DELETE FROM agents WHERE name = ?1", [&name])
                .map_err(store_err(p))?;
            Ok(())
        })
        .await
    }

    async fn insert_reports(&self, reports: &[StoredReport]) -> Result<u64> {
        // Bodies are encoded here, as the records of each application's log (the one copy
        // that moves them to the connection's thread); rows point into those records.
        struct AppBatch {
            app_id: uuid::Uuid,
            id_text: String,
            records: Vec<u8>,
        }
        let mut apps: Vec<AppBatch> = Vec::with_capacity(1);
        let mut rows: Vec<(usize, String, i64, String, u64, i64)> =
            Vec::with_capacity(reports.len());
        for r in reports {
            let a = match apps.iter().position(|b| b.app_id == r.app_id) {
                Some(i) => i,
                None => {
                    apps.push(AppBatch {
                        app_id: r.app_id,
                        id_text: r.app_id.to_string(),
                        records: Vec::new(),
                    });
                    apps.len() - 1
                }
            };
            let body = r.body.as_str().as_bytes();
            let records = &mut apps[a].records;
            records.reserve(report_log::HEADER_BYTES + body.len());
            let at = report_log::encode(records, body)?;
            rows.push((
                a,
                r.report_id.clone(),
                micros(r.received_at),
                r.run_id.clone(),
                at,
                body.len() as i64,
            ));
        }
        let logs = self.logs.clone();
        let sync = self.sync == SyncMode::Full;
        self.with_metrics(move |c, p| {
            let err = store_err(p);
            // The write lock first: records are appended only while it is held.
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(&err)?;
            let mut logs = logs
                .lock()
                .map_err(|_| Error::runtime("the report logs were poisoned by a panic"))?;
            let mut base = Vec::with_capacity(apps.len());
            for app in &apps {
                base.push(logs.append(app.app_id, &app.records, sync)?);
            }
            let mut new = 0u64;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO metric_reports
                           (app_id, report_id, received_us, doc, run_id, log_at, log_len)
                         VALUES (?1, ?2, ?3, '', ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                    )
                    .map_err(&err)?;
                // A report already stored (a redelivery) keeps its first record; the new one
                // stays in the log unreferenced.
                for (a, id, t, run, at, len) in &rows {
                    new += stmt
                        .execute(params![
                            apps[*a].id_text,
                            id,
                            t,
                            run,
                            (base[*a] + at) as i64,
                            len
                        ])
                        .map_err(&err)? as u64;
                }
            }
            tx.commit().map_err(&err)?;
            Ok(new)
        })
        .await
    }

    async fn count_reports(&self, app_id: uuid::Uuid) -> Result<u64> {
        self.with_metrics(move |c, p| {
            c.query_row(
                "SELECT COUNT(*) FROM metric_reports WHERE app_id = ?1",
                [app_id.to_string()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(store_err(p))
        })
        .await
    }

    async fn query_reports(
        &self,
        app_id: uuid::Uuid,
        range: TimeRange,
    ) -> Result<Vec<StoredReport>> {
        let (since, until) = range_micros(&range);
        let logs = self.logs.clone();
        self.with_metrics(move |c, p| {
            let err = store_err(p);
            // The newest `limit` in the range, returned oldest first.
            let mut stmt = c
                .prepare_cached(
                    "SELECT report_id, received_us, doc, run_id, log_at, log_len FROM (
                       SELECT report_id, received_us, doc, run_id, log_at, log_len
                       FROM metric_reports
                       WHERE app_id = ?1 AND received_us BETWEEN ?2 AND ?3
                       ORDER BY received_us DESC LIMIT ?4)
                     ORDER BY received_us",
                )
                .map_err(&err)?;
            type Row = (String, i64, String, String, Option<i64>, Option<i64>);
            let rows = stmt
                .query_map(
                    params![app_id.to_string(), since, until, range.limit as i64],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                        ))
                    },
                )
                .map_err(&err)?
                .collect::<rusqlite::Result<Vec<Row>>>()
                .map_err(&err)?;
            let unreadable = |e: String| {
                Error::runtime(format!(
                    "the store holds an unreadable metric report record: {e}"
                ))
                .hint("the file may have been written by another program")
            };
            let mut reader = None;
            let mut lost = 0usize;
            let mut out = Vec::with_capacity(rows.len());
            for (report_id, at, doc, run_id, log_at, log_len) in rows {
                let doc = match (log_at, log_len) {
                    (Some(log_at), Some(log_len)) => {
                        if reader.is_none() {
                            let logs = logs.lock().map_err(|_| {
                                Error::runtime("the report logs were poisoned by a panic")
                            })?;
                            reader = Some(logs.reader(app_id)?);
                        }
                        let Some(Some(r)) = reader.as_mut() else {
                            lost += 1;
                            continue;
                        };
                        let read = r
                            .read(log_at as u64, log_len as usize)
                            .map_err(|e| unreadable(e.to_string()))?;
                        match read {
                            Ok(body) => String::from_utf8(body.to_vec())
                                .map_err(|e| unreadable(e.to_string()))?,
                            Err(Unreadable::Missing | Unreadable::Damaged) => {
                                lost += 1;
                                continue;
                            }
                        }
                    }
                    _ => doc,
                };
                let body = ReportJson::parse(doc).map_err(|e| unreadable(e.to_string()))?;
                out.push(StoredReport {
                    app_id,
                    report_id,
                    run_id,
                    received_at: from_micros(at),
                    body,
                });
            }
            if lost > 0 {
                // Records that never reached the disk before a power loss (see report_log).
                tracing::warn!(
                    "{lost} stored report(s) of application {app_id} have no readable body in {}; skipped",
                    logs.lock().map(|l| l.path(app_id)).unwrap_or_default().display()
                );
            }
            Ok(out)
        })
        .await
    }

    async fn insert_analysis(&self, docs: &[StoredAnalysis]) -> Result<u64> {
        let rows: Vec<(String, String, String, i64, i64, String)> = docs
            .iter()
            .map(|d| {
                Ok((
                    d.app_id.to_string(),
                    d.window_id.clone(),
                    d.group_key(),
                    micros(d.at),
                    d.result.window_seq as i64,
                    to_json(d)?,
                ))
            })
            .collect::<Result<_>>()?;
        self.with_metrics(move |c, p| {
            let err = store_err(p);
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(&err)?;
            let mut new = 0u64;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO analysis_results (app_id, window_id, grp, at_us, window_seq, doc)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                    )
                    .map_err(&err)?;
                for (a, w, g, t, seq, d) in &rows {
                    new += stmt.execute(params![a, w, g, t, seq, d]).map_err(&err)? as u64;
                }
            }
            tx.commit().map_err(&err)?;
            Ok(new)
        })
        .await
    }

    async fn query_analysis(
        &self,
        app_id: uuid::Uuid,
        range: TimeRange,
    ) -> Result<Vec<StoredAnalysis>> {
        let (since, until) = range_micros(&range);
        self.with_metrics(move |c, p| {
            let err = store_err(p);
            let mut stmt = c
                .prepare_cached(
                    "SELECT doc FROM (
                       SELECT at_us, window_seq, grp, doc FROM analysis_results
                       WHERE app_id = ?1 AND at_us BETWEEN ?2 AND ?3
                       ORDER BY at_us DESC, window_seq DESC LIMIT ?4)
                     ORDER BY at_us, window_seq, grp",
                )
                .map_err(&err)?;
            let rows = stmt
                .query_map(
                    params![app_id.to_string(), since, until, range.limit as i64],
                    |r| r.get::<_, String>(0),
                )
                .map_err(&err)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(from_json(&row.map_err(&err)?, "analysis")?);
            }
            Ok(out)
        })
        .await
    }

    async fn last_window_seq(&self, app_id: uuid::Uuid) -> Result<u64> {
        self.with_metrics(move |c, p| {
            c.query_row(
                "SELECT COALESCE(MAX(window_seq), 0) FROM analysis_results WHERE app_id = ?1",
                [app_id.to_string()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n.max(0) as u64)
            .map_err(store_err(p))
        })
        .await
    }

    async fn purge_metrics(&self, app_id: uuid::Uuid) -> Result<u64> {
        let logs = self.logs.clone();
        self.with_metrics(move |c, p| {
            let err = store_err(p);
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(&err)?;
            let id = app_id.to_string();
            let a = tx
                .execute("DELETE FROM metric_reports WHERE app_id = ?1", [&id])
                .map_err(&err)?;
            let b = tx
                .execute("DELETE FROM analysis_results WHERE app_id = ?1", [&id])
                .map_err(&err)?;
            // Inside the transaction, so no writer appends to the log in between; a failed
            // commit after this leaves rows whose bodies are gone, which queries skip.
            logs.lock()
                .map_err(|_| Error::runtime("the report logs were poisoned by a panic"))?
                .remove(app_id)?;
            tx.commit().map_err(&err)?;
            Ok((a + b) as u64)
        })
        .await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<u64> {
        let (at, doc) = audit_row(entry)?;
        self.with(move |c, p| insert_audit(c, at, &doc).map_err(store_err(p)))
            .await
    }

    async fn list_audit(
        &self,
        since: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        let since = since.map_or(i64::MIN, micros);
        self.with(move |c, p| {
            // The newest `limit` entries, returned oldest first.
            let mut stmt = c
                .prepare_cached(
                    "SELECT seq, doc FROM (SELECT seq, doc FROM audit WHERE at_us >= ?1
                     ORDER BY seq DESC LIMIT ?2) ORDER BY seq",
                )
                .map_err(store_err(p))?;
            let rows = stmt
                .query_map(params![since, limit as i64], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(store_err(p))?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, doc) = row.map_err(store_err(p))?;
                let mut e: AuditEntry = from_json(&doc, "audit")?;
                e.seq = seq as u64;
                out.push(e);
            }
            Ok(out)
        })
        .await
    }
}
