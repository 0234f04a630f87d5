//! The MongoDB Store: everything the embedded store holds, in a MongoDB-wire server.
//!
//! Layout (rohe-spec §1.3):
//! - `<database>.registration` (default database `rohe_observation`): the registration log.
//!   Every registration, re-registration and removal appends a document; the application's
//!   current view is its latest document (highest `version`). The documents carry ROHE's
//!   fields (`application_name, run_id, user_id, app_id, db, timestamp, client_count`) plus
//!   `version`, the full `app` and the `event`. A removal appends a tombstone (`deleted: true`)
//!   and then deletes the older documents of that name.
//! - `<database>.registration_names`: one document per application name ever created, so
//!   that listing needs no scan of the log.
//! - `<database>.documents`, `<database>.agents`: named versioned records (orchestration
//!   state, agent records), one document per version, older versions garbage-collected.
//! - `<database>.audit`: the audit log, `_id` = the sequence number; `<database>.counters`
//!   hands out sequence numbers.
//! - `<database>.metric_databases`: app_id -> the application's metric database, kept after
//!   the application is removed so that its metrics can still be purged.
//! - `application_<name>_<app_id>.metric_collection_<run_id>`: raw reports, `_id` = the
//!   report id (a redelivered report is stored once); `...analysis_results` beside them.
//!
//! **Concurrency without transactions.** FerretDB 1.x has no multi-document transactions, and
//! its conditional updates are not atomic either (an `update` with a filter reads the
//! matching document, then rewrites it by `_id`), so a version-filtered `find_one_and_update`
//! can lose an update there. Every mutable record is therefore written as an *insert* of its
//! next version, whose `_id` is `<key>@<version>`: the unique `_id` index, which every
//! MongoDB-wire server enforces atomically, lets exactly one writer win each version.
//! Concurrent first registrations all try version 1 (or the version after a tombstone) and
//! exactly one succeeds; the others get a conflict, re-read and re-register. An
//! application's current view and its history are the same documents, so they cannot
//! disagree.
//!
//! A version slot must never be freed while a writer could still aim at it, or a stale
//! writer would win a slot nobody reads. The registration log frees none: a removal strips
//! the old documents to their `_id` and marks them `removed`. Named records (orchestration
//! documents, agent records, refreshed every second) keep the payload of the newest version
//! only and delete slots more than `HORIZON` (32) versions down; a writer checks after its
//! insert that the newest version is not more than `HORIZON` above its own, which a writer
//! that won its slot sees only if 32 writes were built on it in the meantime. In that case
//! the write is taken back and reported as an error whose outcome is unknown (never as a
//! conflict, which would invite a retry that could apply it twice).
//!
//! **Audit atomically with the change.** The audit entry travels inside the version document
//! (`audit`, `audit_pending: true`); after the insert it is copied into the audit log under
//! an idempotency key (`op` = collection/`_id`, unique index), and the pending flag is
//! cleared. A crash in between leaves the flag set; the copy is repeated when a store opens,
//! and cannot produce a duplicate.
//!
//! **Credentials** come from `store.url` (`${VAR}` expanded by the config loader). The URL is
//! never written to a document, and every message shows it with the password replaced.
//!
//! **Outages.** The client is created, the indexes ensured and pending audit copies finished
//! on first use, and again on the next call after a failure, so a store that was unreachable
//! at start works once the server is back. Server selection gives up after 5 s (unless the
//! URL sets `serverSelectionTimeoutMS`), so a call fails in bounded time and the caller (the
//! console's refresh, the agent's retry loop) decides what to do.

use crate::domain::app::{Application, RegistrationEvent};
use crate::error::{Error, Result};
use crate::ports::store::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::OnceCell;
use uuid::Uuid;

/// The control database when `store.database` is not set (rohe-spec §1.3).
pub const DEFAULT_DATABASE: &str = "rohe_observation";

const REGISTRATION: &str = "registration";
const NAMES: &str = "registration_names";
const DOCUMENTS: &str = "documents";
const AGENTS: &str = "agents";
const AUDIT: &str = "audit";
const COUNTERS: &str = "counters";
const METRIC_DBS: &str = "metric_databases";
const REPORTS_PREFIX: &str = "metric_collection_";
const ANALYSIS: &str = "analysis_results";

/// Versions of a named record kept below the newest (their slots stay taken, so a writer
/// fewer than this many versions behind gets a plain conflict).
const HORIZON: u64 = 32;

/// How long a call waits for a reachable server unless the URL says otherwise.
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A versioned collection: which field holds the key, and whether old versions are history.
#[derive(Clone, Copy)]
struct Slot {
    coll: &'static str,
    key_field: &'static str,
    /// The registration log keeps every version; named records keep only the latest.
    keep_history: bool,
    what: &'static str,
}

const REG: Slot = Slot {
    coll: REGISTRATION,
    key_field: "application_name",
    keep_history: true,
    what: "application",
};
const DOC: Slot = Slot {
    coll: DOCUMENTS,
    key_field: "key",
    keep_history: false,
    what: "document",
};
const AGENT: Slot = Slot {
    coll: AGENTS,
    key_field: "key",
    keep_history: false,
    what: "agent",
};

struct Inner {
    db: Database,
    client: Client,
}

pub struct MongoStore {
    /// The URL as configured: it may hold a password, so it is only handed to the driver.
    url: String,
    database: String,
    /// The URL with the password replaced, for messages.
    shown: String,
    /// The password, to scrub from any message a driver error might carry.
    secret: Option<String>,
    inner: OnceCell<Inner>,
    /// app_id -> metric database.
    metric_dbs: Mutex<HashMap<Uuid, String>>,
    /// (database, collection) pairs whose indexes this process has ensured.
    ensured: Mutex<HashSet<(String, String)>>,
}

/// A MongoDB URL with its password replaced by `***` (works for multi-host URLs, which a
/// generic URL parser rejects).
pub fn redact_mongo_url(url: &str) -> String {
    match split_userinfo(url) {
        Some((before, user, Some(_), after)) => format!("{before}{user}:***@{after}"),
        _ => url.to_string(),
    }
}

/// `scheme://user:password@rest` -> (`scheme://`, user, password, rest).
fn split_userinfo(url: &str) -> Option<(&str, &str, Option<&str>, &str)> {
    let start = url.find("://")? + 3;
    let authority_end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| start + i);
    let at = url[start..authority_end].rfind('@')? + start;
    let userinfo = &url[start..at];
    let (user, pass) = match userinfo.split_once(':') {
        Some((u, p)) => (u, Some(p)),
        None => (userinfo, None),
    };
    Some((&url[..start], user, pass, &url[at + 1..]))
}

/// Where the FerretDB that `.ci/run` starts listens.
pub const CI_FERRETDB_URL: &str = "mongodb://127.0.0.1:37017/";

/// The MongoDB-wire server tests and benchmarks use: `$ROHE_TEST_MONGODB_URL` when set (a real
/// MongoDB, or any compatible server), else the FerretDB of `.ci/run` when something listens
/// at [`CI_FERRETDB_URL`]. `Err` says why there is none.
pub async fn test_server_url() -> std::result::Result<String, String> {
    if let Ok(url) = std::env::var("ROHE_TEST_MONGODB_URL")
        && !url.is_empty()
    {
        return Ok(url);
    }
    let probe = tokio::time::timeout(
        Duration::from_secs(1),
        tokio::net::TcpStream::connect("127.0.0.1:37017"),
    )
    .await;
    match probe {
        Ok(Ok(_)) => Ok(CI_FERRETDB_URL.to_string()),
        _ => Err(
            "ROHE_TEST_MONGODB_URL is unset and nothing listens at 127.0.0.1:37017 (.ci/run starts FerretDB there)"
                .into(),
        ),
    }
}

/// Checks a `store.url` without contacting anything.
pub fn check_url(url: &str) -> std::result::Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("is not a URL".into());
    };
    if !matches!(scheme, "mongodb" | "mongodb+srv") {
        return Err(format!("has scheme {scheme:?}, not mongodb or mongodb+srv"));
    }
    let hosts = rest.split(['/', '?']).next().unwrap_or("");
    let hosts = hosts.rsplit_once('@').map_or(hosts, |(_, h)| h);
    if hosts.is_empty() || hosts.split(',').any(|h| h.is_empty()) {
        return Err("names no host".into());
    }
    Ok(())
}

/// A valid database name on MongoDB and FerretDB: letters, digits, `_` and `-`, 1-63 bytes.
pub fn is_database_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn is_duplicate(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        ErrorKind::InsertMany(m) => {
            m.write_concern_error.is_none()
                && m.write_errors
                    .as_ref()
                    .is_some_and(|ws| !ws.is_empty() && ws.iter().all(|w| w.code == 11000))
        }
        _ => false,
    }
}

/// How many documents of an unordered insert_many were refused as duplicates, when that is
/// the only thing that went wrong.
fn duplicates_only(e: &mongodb::error::Error) -> Option<u64> {
    use mongodb::error::ErrorKind;
    match e.kind.as_ref() {
        ErrorKind::InsertMany(m) if is_duplicate(e) => {
            Some(m.write_errors.as_ref().map_or(0, |w| w.len() as u64))
        }
        _ => None,
    }
}

fn version_conflict(what: &str, name: &str) -> Error {
    Error::conflict(format!(
        "{what} {name:?} was changed by someone else meanwhile"
    ))
    .hint("re-read it and try again")
}

/// The key of a record kept as JSON text because a BSON document could not hold it portably.
const JSON_TEXT: &str = "rohe_json";

/// A record as BSON; one that not every MongoDB-wire server accepts (nested arrays, which
/// FerretDB 1.x refuses; keys with `.` or `$`; integers beyond i64) is kept as its JSON text
/// under [`JSON_TEXT`], which [`from_bson`] reads back.
fn to_bson<T: serde::Serialize + ?Sized>(v: &T, what: &str) -> Result<Bson> {
    let encode =
        |e: &dyn std::fmt::Display| Error::runtime(format!("encoding a {what} record: {e}"));
    let value = serde_json::to_value(v).map_err(|e| encode(&e))?;
    if storable(&value) {
        bson::to_bson(v).map_err(|e| encode(&e))
    } else {
        Ok(Bson::Document(doc! { JSON_TEXT: value.to_string() }))
    }
}

fn from_bson<T: serde::de::DeserializeOwned>(b: Bson, what: &str) -> Result<T> {
    if let Bson::Document(d) = &b
        && d.len() == 1
        && let Ok(text) = d.get_str(JSON_TEXT)
    {
        return serde_json::from_str(text).map_err(|e| {
            Error::runtime(format!("the store holds an unreadable {what} record: {e}"))
                .hint("the database may have been written by another program")
        });
    }
    bson::from_bson(b).map_err(|e| {
        Error::runtime(format!("the store holds an unreadable {what} record: {e}"))
            .hint("the database may have been written by another program")
    })
}

fn field<T: serde::de::DeserializeOwned>(d: &mut Document, key: &str, what: &str) -> Result<T> {
    from_bson(d.remove(key).unwrap_or(Bson::Null), what)
}

fn int(d: &Document, key: &str) -> i64 {
    match d.get(key) {
        Some(Bson::Int64(v)) => *v,
        Some(Bson::Int32(v)) => i64::from(*v),
        Some(Bson::Double(v)) => *v as i64,
        _ => 0,
    }
}

fn version_of(d: &Document) -> u64 {
    int(d, "version").max(0) as u64
}

fn is_tombstone(d: &Document) -> bool {
    d.get_bool("deleted").unwrap_or(false)
}

fn slot_id(key: &str, version: u64) -> String {
    format!("{key}@{version:020}")
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

/// A report body (or a record) is stored as a BSON document when every key is one both MongoDB
/// and FerretDB accept as a field name and no array sits directly in an array; otherwise (and
/// for numbers BSON cannot hold) as JSON text.
fn storable(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(m) => m.iter().all(|(k, v)| {
            !k.is_empty() && !k.starts_with('$') && !k.contains(['.', '\0']) && storable(v)
        }),
        // FerretDB 1.x refuses arrays directly inside arrays.
        serde_json::Value::Array(a) => a.iter().all(|v| !v.is_array() && storable(v)),
        serde_json::Value::Number(n) => n.is_i64() || n.is_f64(),
        _ => true,
    }
}

fn collection_for_run(run_id: &str) -> String {
    let clean: String = run_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    format!("{REPORTS_PREFIX}{clean}")
}

/// The metric database of an application: `application_<name>_<app_id>` as rohe-spec §1.3
/// names it, or `application_<app_id>` when that is not a valid name.
fn metric_db_name(app: &Application) -> String {
    if is_database_name(&app.db) {
        app.db.clone()
    } else {
        format!("application_{}", app.app_id)
    }
}

/// A report as stored in `metric_collection_<run_id>`.
pub fn report_document(r: &StoredReport) -> Result<Document> {
    let mut d = doc! {
        "_id": &r.report_id,
        "app_id": r.app_id.to_string(),
        "run_id": &r.run_id,
        "received_us": micros(r.received_at),
        "received_at": bson::DateTime::from_millis(r.received_at.timestamp_millis()),
    };
    // The body arrives as the text the publisher sent: a storable one becomes a BSON document
    // (queryable by field), anything else is kept as that text, byte for byte.
    match r.body.value() {
        Ok(value) if storable(&value) => {
            d.insert("body", to_bson(&value, "metric report")?);
        }
        _ => {
            d.insert("body_json", r.body.as_str());
        }
    }
    Ok(d)
}

fn decode_report(app_id: Uuid, mut d: Document) -> Result<StoredReport> {
    let body = match d.remove("body") {
        Some(b) => ReportJson::from(from_bson::<serde_json::Value>(b, "metric report")?),
        None => ReportJson::from_parsed_text(d.get_str("body_json").unwrap_or("null").to_string()),
    };
    Ok(StoredReport {
        app_id,
        report_id: match d.get("_id") {
            Some(Bson::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        },
        run_id: d.get_str("run_id").unwrap_or("").to_string(),
        received_at: from_micros(int(&d, "received_us")),
        body,
    })
}

fn audit_document(seq: i64, op: &str, entry: &AuditEntry) -> Result<Document> {
    Ok(doc! {
        "_id": seq,
        "op": op,
        "at_us": micros(entry.at),
        "entry": to_bson(entry, "audit")?,
    })
}

impl MongoStore {
    /// A store at `url` using `database` for its control collections. Nothing is contacted
    /// here: the connection, the indexes and the repair of interrupted writes happen on first
    /// use (and again after a failure), so an unreachable server does not stop rohe starting.
    pub fn open(url: &str, database: &str) -> Result<Self> {
        let shown = redact_mongo_url(url);
        check_url(url).map_err(|m| {
            Error::invalid(format!("{shown} {m}"))
                .field("store.url")
                .hint("use mongodb://user:${MONGODB_PASSWORD}@host:27017/")
        })?;
        if !is_database_name(database) {
            return Err(
                Error::invalid(format!("{database:?} is not a database name"))
                    .field("store.database")
                    .hint("use letters, digits, '_' and '-', e.g. rohe_observation"),
            );
        }
        let secret = split_userinfo(url)
            .and_then(|(_, _, p, _)| p)
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        Ok(MongoStore {
            url: url.to_string(),
            database: database.to_string(),
            shown,
            secret,
            inner: OnceCell::new(),
            metric_dbs: Mutex::new(HashMap::new()),
            ensured: Mutex::new(HashSet::new()),
        })
    }

    /// Connect now (and ensure the indexes): for callers that want an unreachable server to
    /// be an error at once.
    pub async fn connect(&self) -> Result<()> {
        self.inner().await.map(|_| ())
    }

    /// The control database's name.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Drop the control database (tests and benchmarks clean up with it; metric databases
    /// go with `purge_metrics`).
    pub async fn drop_database(&self) -> Result<()> {
        let inner = self.inner().await?;
        inner
            .db
            .drop()
            .await
            .map_err(|e| self.err("dropping the database", e))
    }

    /// A driver error as a rohe error, with the password scrubbed and a hint for outages.
    fn err(&self, doing: &str, e: mongodb::error::Error) -> Error {
        let mut msg = e.to_string();
        if let Some(s) = &self.secret {
            msg = msg.replace(s.as_str(), "***");
        }
        let url = &self.url;
        if !url.is_empty() {
            msg = msg.replace(url.as_str(), &self.shown);
        }
        use mongodb::error::ErrorKind;
        let err = Error::runtime(format!("store {} ({doing}): {msg}", self.shown));
        match e.kind.as_ref() {
            ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. } => err
                .hint("is the MongoDB server running and reachable? rohe retries; check store.url"),
            ErrorKind::Authentication { .. } => {
                err.hint("check the user and password in store.url (e.g. ${MONGODB_PASSWORD})")
            }
            _ => err,
        }
    }

    async fn inner(&self) -> Result<&Inner> {
        self.inner.get_or_try_init(|| self.init()).await
    }

    async fn init(&self) -> Result<Inner> {
        let mut opts = ClientOptions::parse(&self.url)
            .await
            .map_err(|e| self.err("reading store.url", e).field("store.url"))?;
        if opts.server_selection_timeout.is_none() {
            opts.server_selection_timeout = Some(SERVER_SELECTION_TIMEOUT);
        }
        if opts.connect_timeout.is_none() {
            opts.connect_timeout = Some(CONNECT_TIMEOUT);
        }
        if opts.app_name.is_none() {
            opts.app_name = Some("rohe".into());
        }
        let client = Client::with_options(opts).map_err(|e| self.err("connecting", e))?;
        let db = client.database(&self.database);
        let inner = Inner { db, client };
        self.ensure_indexes(&inner).await?;
        self.repair(&inner).await?;
        Ok(inner)
    }

    /// Create the indexes (idempotent: creating an existing index is a no-op).
    async fn ensure_indexes(&self, inner: &Inner) -> Result<()> {
        let idx = |keys: Document, name: &str, unique: bool| {
            IndexModel::builder()
                .keys(keys)
                .options(
                    IndexOptions::builder()
                        .name(name.to_string())
                        .unique(unique.then_some(true))
                        .build(),
                )
                .build()
        };
        let plan: Vec<(&str, Vec<IndexModel>)> = vec![
            (
                REGISTRATION,
                vec![
                    // Decides concurrent registrations: one document per (name, version).
                    idx(
                        doc! {"application_name": 1, "version": 1},
                        "application_name_version",
                        true,
                    ),
                    idx(doc! {"audit_pending": 1}, "audit_pending", false),
                ],
            ),
            (
                DOCUMENTS,
                vec![
                    idx(doc! {"key": 1, "version": 1}, "key_version", true),
                    idx(doc! {"audit_pending": 1}, "audit_pending", false),
                ],
            ),
            (
                AGENTS,
                vec![idx(doc! {"key": 1, "version": 1}, "key_version", true)],
            ),
            (
                AUDIT,
                vec![
                    idx(doc! {"op": 1}, "op", true),
                    idx(doc! {"at_us": 1}, "at_us", false),
                ],
            ),
        ];
        for (coll, models) in plan {
            self.create_missing_indexes(&inner.db.collection::<Document>(coll), models)
                .await?;
        }
        Ok(())
    }

    /// Create the indexes a collection lacks. Asking for existing ones only is cheaper, and
    /// FerretDB 1.24 drops the connection (a caught panic) on a `createIndexes` that names an
    /// index which already exists.
    async fn create_missing_indexes(
        &self,
        coll: &Collection<Document>,
        models: Vec<IndexModel>,
    ) -> Result<()> {
        let doing = format!("creating the indexes of {}", coll.namespace());
        let existing: HashSet<String> = match coll.list_index_names().await {
            Ok(names) => names.into_iter().collect(),
            // A collection that does not exist yet has no indexes (MongoDB: NamespaceNotFound).
            Err(e) if matches!(e.kind.as_ref(), mongodb::error::ErrorKind::Command(c) if c.code == 26) => {
                HashSet::new()
            }
            Err(e) => return Err(self.err(&doing, e)),
        };
        let missing: Vec<IndexModel> = models
            .into_iter()
            .filter(|m| {
                m.options
                    .as_ref()
                    .and_then(|o| o.name.as_ref())
                    .is_none_or(|n| !existing.contains(n))
            })
            .collect();
        if !missing.is_empty() {
            coll.create_indexes(missing)
                .await
                .map_err(|e| self.err(&doing, e))?;
        }
        Ok(())
    }

    /// Finish audit copies a crashed writer left pending.
    async fn repair(&self, inner: &Inner) -> Result<()> {
        for coll in [REGISTRATION, DOCUMENTS] {
            let c = inner.db.collection::<Document>(coll);
            let pending = self
                .collect(
                    c.find(doc! {"audit_pending": true}).await,
                    "finding pending audit entries",
                )
                .await?;
            for mut d in pending {
                let Some(Bson::String(id)) = d.get("_id").cloned() else {
                    continue;
                };
                if coll == DOCUMENTS {
                    // Interrupted before its check (see put_version): if HORIZON newer
                    // versions exist, it may have landed in a freed slot; its audit entry
                    // cannot be confirmed.
                    let key = d.get_str("key").unwrap_or("").to_string();
                    let newest = self
                        .latest(inner, DOC, &key)
                        .await?
                        .map_or(0, |l| version_of(&l));
                    if newest > version_of(&d) + HORIZON {
                        tracing::warn!(document = %key, version = version_of(&d),
                            "an interrupted write's audit entry cannot be confirmed; dropped");
                        c.delete_one(doc! {"_id": &id})
                            .await
                            .map_err(|e| self.err("dropping an unconfirmed write", e))?;
                        continue;
                    }
                }
                let entry: AuditEntry = field(&mut d, "audit", "audit")?;
                self.flush_audit(inner, coll, &id, &entry).await?;
            }
        }
        Ok(())
    }

    async fn collect(
        &self,
        cursor: mongodb::error::Result<mongodb::Cursor<Document>>,
        doing: &str,
    ) -> Result<Vec<Document>> {
        let mut cursor = cursor.map_err(|e| self.err(doing, e))?;
        let mut out = Vec::new();
        while cursor.advance().await.map_err(|e| self.err(doing, e))? {
            let d = cursor
                .deserialize_current()
                .map_err(|e| self.err(doing, e))?;
            out.push(d);
        }
        Ok(out)
    }

    fn coll(inner: &Inner, name: &str) -> Collection<Document> {
        inner.db.collection(name)
    }

    // ---- the audit log ----

    async fn next_seq(&self, inner: &Inner) -> Result<i64> {
        let d = Self::coll(inner, COUNTERS)
            .find_one_and_update(doc! {"_id": "audit"}, doc! {"$inc": {"seq": 1_i64}})
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| self.err("numbering an audit entry", e))?;
        Ok(d.map_or(1, |d| int(&d, "seq")))
    }

    /// Insert an audit entry under `op`; a second insert under the same `op` is a no-op.
    /// Returns its sequence number.
    async fn insert_audit(&self, inner: &Inner, op: &str, entry: &AuditEntry) -> Result<u64> {
        let audit = Self::coll(inner, AUDIT);
        // A sequence number can be handed out twice where `$inc` is not atomic (FerretDB 1.x);
        // the unique `_id` catches that, and a new number is drawn.
        for _ in 0..64 {
            let seq = self.next_seq(inner).await?;
            match audit.insert_one(audit_document(seq, op, entry)?).await {
                Ok(_) => return Ok(seq as u64),
                Err(e) if is_duplicate(&e) => {
                    if let Some(d) = audit
                        .find_one(doc! {"op": op})
                        .await
                        .map_err(|e| self.err("reading the audit log", e))?
                    {
                        return Ok(int(&d, "_id") as u64);
                    }
                }
                Err(e) => return Err(self.err("writing the audit log", e)),
            }
        }
        Err(Error::runtime(
            "could not number an audit entry: the sequence kept colliding",
        ))
    }

    /// Copy a version document's pending audit entry into the audit log, then clear the flag.
    async fn flush_audit(
        &self,
        inner: &Inner,
        coll: &str,
        id: &str,
        entry: &AuditEntry,
    ) -> Result<()> {
        self.insert_audit(inner, &format!("{coll}/{id}"), entry)
            .await?;
        Self::coll(inner, coll)
            .update_one(doc! {"_id": id}, doc! {"$unset": {"audit_pending": ""}})
            .await
            .map_err(|e| self.err("recording an audit copy", e))?;
        Ok(())
    }

    // ---- versioned records ----

    /// The newest version document of `key`, tombstones included.
    async fn latest(&self, inner: &Inner, slot: Slot, key: &str) -> Result<Option<Document>> {
        Self::coll(inner, slot.coll)
            .find_one(doc! {slot.key_field: key})
            .sort(doc! {"version": -1})
            .await
            .map_err(|e| self.err(&format!("reading {} {key:?}", slot.what), e))
    }

    /// Write the next version of `key`. `expected = None` creates (conflict if a live version
    /// exists); `Some(v)` requires `v` to be the live latest version and `accept` to approve
    /// it. Returns the new version.
    #[allow(clippy::too_many_arguments)]
    async fn put_version(
        &self,
        inner: &Inner,
        slot: Slot,
        key: &str,
        mut body: Document,
        expected: Option<u64>,
        accept: &(dyn Fn(&Document) -> bool + Send + Sync),
        tombstone: bool,
        audit: Option<&AuditEntry>,
    ) -> Result<u64> {
        let latest = self.latest(inner, slot, key).await?;
        let live = latest.as_ref().filter(|d| !is_tombstone(d));
        let new_version = match (expected, live) {
            (None, None) => latest.as_ref().map_or(0, version_of) + 1,
            (Some(v), Some(d)) if version_of(d) == v && accept(d) => v + 1,
            _ => return Err(version_conflict(slot.what, key)),
        };
        let id = slot_id(key, new_version);
        body.insert("_id", &id);
        body.insert(slot.key_field, key);
        body.insert("version", new_version as i64);
        if tombstone {
            body.insert("deleted", true);
        }
        if let Some(a) = audit {
            body.insert("audit", to_bson(a, "audit")?);
            body.insert("audit_pending", true);
        }
        let coll = Self::coll(inner, slot.coll);
        match coll.insert_one(body).await {
            Ok(_) => {}
            Err(e) if is_duplicate(&e) => return Err(version_conflict(slot.what, key)),
            Err(e) => return Err(self.err(&format!("writing {} {key:?}", slot.what), e)),
        }
        if slot.keep_history {
            // No version of the log is ever deleted, so the unique index alone decided.
            if let Some(a) = audit {
                self.flush_audit(inner, slot.coll, &id, a).await?;
            }
            return Ok(new_version);
        }
        // Garbage collection frees slots more than HORIZON versions below the newest; a writer
        // that far behind could land in one. Then the newest is above ours + HORIZON, which a
        // write that won its slot only sees if HORIZON writes were built on it meanwhile.
        let newest = self
            .latest(inner, slot, key)
            .await?
            .map_or(new_version, |d| version_of(&d));
        if newest > new_version + HORIZON {
            coll.delete_one(doc! {"_id": &id})
                .await
                .map_err(|e| self.err(&format!("retracting {} {key:?}", slot.what), e))?;
            return Err(Error::runtime(format!(
                "{} {key:?}: the outcome of this write is unknown: {} newer versions appeared while it was written",
                slot.what,
                newest - new_version
            ))
            .hint("re-read it to see whether the change is there"));
        }
        if let Some(a) = audit {
            self.flush_audit(inner, slot.coll, &id, a).await?;
        }
        self.collect_garbage(inner, slot, key, new_version).await?;
        Ok(new_version)
    }

    /// After version `newest` of a named record: drop the payload of older versions (their
    /// slots stay taken), and delete the slots more than HORIZON versions down (once any audit
    /// entry they hold is copied).
    async fn collect_garbage(
        &self,
        inner: &Inner,
        slot: Slot,
        key: &str,
        newest: u64,
    ) -> Result<()> {
        let coll = Self::coll(inner, slot.coll);
        coll.update_many(
            doc! {slot.key_field: key, "version": {"$lt": newest as i64}, "value": {"$exists": true}},
            doc! {"$unset": {"value": ""}},
        )
        .await
        .map_err(|e| self.err(&format!("compacting old versions of {key:?}"), e))?;
        if newest > HORIZON {
            coll.delete_many(doc! {
                slot.key_field: key,
                "version": {"$lt": (newest - HORIZON) as i64},
                "audit_pending": {"$ne": true},
            })
            .await
            .map_err(|e| self.err(&format!("removing old versions of {key:?}"), e))?;
        }
        Ok(())
    }

    /// Remove a named record: a tombstone version, then the older versions.
    async fn delete_versioned(&self, inner: &Inner, slot: Slot, key: &str) -> Result<()> {
        for _ in 0..32 {
            let Some(latest) = self.latest(inner, slot, key).await? else {
                return Ok(());
            };
            if is_tombstone(&latest) {
                return Ok(());
            }
            let v = version_of(&latest);
            match self
                .put_version(
                    inner,
                    slot,
                    key,
                    Document::new(),
                    Some(v),
                    &|_| true,
                    true,
                    None,
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if e.kind == crate::error::ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
            }
        }
        Err(version_conflict(slot.what, key))
    }

    /// The live value of a named record.
    async fn get_value<T: serde::de::DeserializeOwned>(
        &self,
        slot: Slot,
        key: &str,
    ) -> Result<Option<Versioned<T>>> {
        let inner = self.inner().await?;
        match self.latest(inner, slot, key).await? {
            Some(mut d) if !is_tombstone(&d) => {
                let version = version_of(&d);
                Ok(Some(Versioned {
                    value: field(&mut d, "value", slot.what)?,
                    version,
                }))
            }
            _ => Ok(None),
        }
    }

    /// The live value of every named record of a slot, by key.
    async fn list_values<T: serde::de::DeserializeOwned>(&self, slot: Slot) -> Result<Vec<T>> {
        let inner = self.inner().await?;
        let all = self
            .collect(
                Self::coll(inner, slot.coll)
                    .find(doc! {})
                    .sort(doc! {slot.key_field: 1, "version": 1})
                    .await,
                &format!("listing {}s", slot.what),
            )
            .await?;
        // Several versions of a key can coexist for a moment; the newest counts.
        let mut newest: BTreeMap<String, Document> = BTreeMap::new();
        for d in all {
            let key = d.get_str(slot.key_field).unwrap_or("").to_string();
            if newest
                .get(&key)
                .is_none_or(|old| version_of(old) < version_of(&d))
            {
                newest.insert(key, d);
            }
        }
        newest
            .into_values()
            .filter(|d| !is_tombstone(d))
            .map(|mut d| field(&mut d, "value", slot.what))
            .collect()
    }

    // ---- metric databases ----

    async fn metric_db(&self, inner: &Inner, app_id: Uuid) -> Result<String> {
        if let Some(db) = self.lock_dbs()?.get(&app_id) {
            return Ok(db.clone());
        }
        let found = Self::coll(inner, METRIC_DBS)
            .find_one(doc! {"_id": app_id.to_string()})
            .await
            .map_err(|e| self.err("finding the metric database", e))?;
        let name = found
            .and_then(|d| d.get_str("db").ok().map(str::to_string))
            .filter(|n| is_database_name(n))
            .unwrap_or_else(|| format!("application_{app_id}"));
        self.lock_dbs()?.insert(app_id, name.clone());
        Ok(name)
    }

    fn lock_dbs(&self) -> Result<std::sync::MutexGuard<'_, HashMap<Uuid, String>>> {
        self.metric_dbs
            .lock()
            .map_err(|_| Error::runtime("the store's cache was poisoned by a panic"))
    }

    fn lock_ensured(&self) -> Result<std::sync::MutexGuard<'_, HashSet<(String, String)>>> {
        self.ensured
            .lock()
            .map_err(|_| Error::runtime("the store's cache was poisoned by a panic"))
    }

    /// Create a metric collection's indexes once per process.
    async fn ensure_metric_indexes(&self, inner: &Inner, db: &str, coll: &str) -> Result<()> {
        let key = (db.to_string(), coll.to_string());
        if self.lock_ensured()?.contains(&key) {
            return Ok(());
        }
        let models = if coll == ANALYSIS {
            vec![
                IndexModel::builder()
                    .keys(doc! {"at_us": 1})
                    .options(IndexOptions::builder().name("at_us".to_string()).build())
                    .build(),
                IndexModel::builder()
                    .keys(doc! {"window_seq": 1})
                    .options(
                        IndexOptions::builder()
                            .name("window_seq".to_string())
                            .build(),
                    )
                    .build(),
            ]
        } else {
            vec![
                IndexModel::builder()
                    .keys(doc! {"received_us": 1})
                    .options(
                        IndexOptions::builder()
                            .name("received_us".to_string())
                            .build(),
                    )
                    .build(),
            ]
        };
        self.create_missing_indexes(
            &inner.client.database(db).collection::<Document>(coll),
            models,
        )
        .await?;
        self.lock_ensured()?.insert(key);
        Ok(())
    }

    /// The report collections of an application's metric database.
    async fn report_collections(&self, inner: &Inner, db: &str) -> Result<Vec<String>> {
        let mut names = inner
            .client
            .database(db)
            .list_collection_names()
            .await
            .map_err(|e| self.err("listing metric collections", e))?;
        names.retain(|n| n.starts_with(REPORTS_PREFIX));
        names.sort();
        Ok(names)
    }

    async fn decode_app(&self, mut d: Document) -> Result<Versioned<Application>> {
        let version = version_of(&d);
        Ok(Versioned {
            value: field(&mut d, "app", "application")?,
            version,
        })
    }

    async fn put_audit_outbox(&self, entry: &AuditEntry) -> Result<u64> {
        let inner = self.inner().await?;
        self.insert_audit(inner, &format!("append/{}", Uuid::new_v4()), entry)
            .await
    }
}

/// The registration log document of a version: ROHE's fields, then rohe's own.
fn registration_document(app: &Application, event: &RegistrationEvent) -> Result<Document> {
    Ok(doc! {
        "run_id": &app.run_id,
        "user_id": &app.user_id,
        "app_id": app.app_id.to_string(),
        "db": &app.db,
        "timestamp": event.at.timestamp_micros() as f64 / 1e6,
        "client_count": app.client_count as i64,
        "app": to_bson(app, "application")?,
        "event": to_bson(event, "registration event")?,
    })
}

#[async_trait]
impl Store for MongoStore {
    fn info(&self) -> StoreInfo {
        StoreInfo {
            backend: "mongodb",
            location: format!("{} (database {})", self.shown, self.database),
        }
    }

    async fn get_app(&self, name: &str) -> Result<Option<Versioned<Application>>> {
        let inner = self.inner().await?;
        match self.latest(inner, REG, name).await? {
            Some(d) if !is_tombstone(&d) => Ok(Some(self.decode_app(d).await?)),
            _ => Ok(None),
        }
    }

    async fn list_apps(&self) -> Result<Vec<Application>> {
        let inner = self.inner().await?;
        let names = self
            .collect(
                Self::coll(inner, NAMES)
                    .find(doc! {})
                    .sort(doc! {"_id": 1})
                    .await,
                "listing applications",
            )
            .await?;
        let mut out = Vec::new();
        for n in names {
            let Some(Bson::String(name)) = n.get("_id") else {
                continue;
            };
            if let Some(d) = self.latest(inner, REG, name).await?
                && !is_tombstone(&d)
            {
                out.push(self.decode_app(d).await?.value);
            }
        }
        out.sort_by(|a, b| a.application_name.cmp(&b.application_name));
        Ok(out)
    }

    async fn list_apps_json(&self) -> Result<Vec<String>> {
        self.list_apps()
            .await?
            .iter()
            .map(|a| {
                serde_json::to_string(a)
                    .map_err(|e| Error::runtime(format!("encoding an application: {e}")))
            })
            .collect()
    }

    async fn put_app(
        &self,
        app: &Application,
        expected: Option<u64>,
        event: &RegistrationEvent,
        audit: Option<&AuditEntry>,
    ) -> Result<u64> {
        let inner = self.inner().await?;
        let name = &app.application_name;
        if expected.is_none() {
            // Before the application can exist: its name (for listing) and its metric
            // database (kept after removal, so its metrics can still be purged). Both are
            // idempotent and harmless if the registration then loses the race.
            match Self::coll(inner, NAMES)
                .insert_one(doc! {"_id": name})
                .await
            {
                Ok(_) => {}
                Err(e) if is_duplicate(&e) => {}
                Err(e) => return Err(self.err("recording an application name", e)),
            }
            let db = metric_db_name(app);
            match Self::coll(inner, METRIC_DBS)
                .insert_one(
                    doc! {"_id": app.app_id.to_string(), "db": &db, "application_name": name},
                )
                .await
            {
                Ok(_) => {}
                Err(e) if is_duplicate(&e) => {}
                Err(e) => return Err(self.err("recording the metric database", e)),
            }
        }
        let body = registration_document(app, event)?;
        let app_id = app.app_id.to_string();
        let same_app = move |d: &Document| d.get_str("app_id").is_ok_and(|id| id == app_id);
        self.put_version(inner, REG, name, body, expected, &same_app, false, audit)
            .await
    }

    async fn delete_app(
        &self,
        name: &str,
        expected: u64,
        audit: Option<&AuditEntry>,
    ) -> Result<()> {
        let inner = self.inner().await?;
        let tomb = self
            .put_version(
                inner,
                REG,
                name,
                doc! {"timestamp": Utc::now().timestamp_micros() as f64 / 1e6},
                Some(expected),
                &|_| true,
                true,
                audit,
            )
            .await?;
        // The history goes with the application: its documents keep only their slot (name and
        // version), so that no stale writer can reuse it; the tombstone is the newest version.
        let coll = Self::coll(inner, REGISTRATION);
        let older = doc! {"application_name": name, "version": {"$lt": tomb as i64}};
        let mut pending = older.clone();
        pending.insert("audit_pending", true);
        for mut d in self
            .collect(coll.find(pending).await, "finding pending audit entries")
            .await?
        {
            if let Some(Bson::String(id)) = d.get("_id").cloned() {
                let entry: AuditEntry = field(&mut d, "audit", "audit")?;
                self.flush_audit(inner, REGISTRATION, &id, &entry).await?;
            }
        }
        let mut live = older;
        live.insert("removed", doc! {"$ne": true});
        let mut unset = Document::new();
        for f in [
            "run_id",
            "user_id",
            "app_id",
            "db",
            "timestamp",
            "client_count",
            "app",
            "event",
            "audit",
        ] {
            unset.insert(f, "");
        }
        coll.update_many(live, doc! {"$unset": unset, "$set": {"removed": true}})
            .await
            .map_err(|e| self.err(&format!("removing the history of {name:?}"), e))?;
        Ok(())
    }

    async fn app_history(&self, name: &str) -> Result<Vec<RegistrationEvent>> {
        let inner = self.inner().await?;
        let docs = self
            .collect(
                Self::coll(inner, REGISTRATION)
                    .find(doc! {"application_name": name})
                    .sort(doc! {"version": 1})
                    .await,
                "reading the registration history",
            )
            .await?;
        let mut out = Vec::new();
        for mut d in docs {
            if is_tombstone(&d) {
                out.clear();
            } else if !d.get_bool("removed").unwrap_or(false) {
                out.push(field(&mut d, "event", "registration event")?);
            }
        }
        Ok(out)
    }

    async fn get_doc(&self, key: &str) -> Result<Option<Versioned<serde_json::Value>>> {
        self.get_value(DOC, key).await
    }

    async fn put_doc(
        &self,
        key: &str,
        value: &serde_json::Value,
        expected: Option<u64>,
        audit: Option<&AuditEntry>,
    ) -> Result<u64> {
        let inner = self.inner().await?;
        let body = doc! {"value": to_bson(value, "document")?};
        self.put_version(inner, DOC, key, body, expected, &|_| true, false, audit)
            .await
    }

    async fn get_agent(&self, app_name: &str) -> Result<Option<Versioned<AgentRecord>>> {
        self.get_value(AGENT, app_name).await
    }

    async fn list_agents(&self) -> Result<Vec<AgentRecord>> {
        self.list_values(AGENT).await
    }

    async fn put_agent(&self, agent: &AgentRecord, expected: Option<u64>) -> Result<u64> {
        let inner = self.inner().await?;
        let body = doc! {"value": to_bson(agent, "agent")?};
        self.put_version(
            inner,
            AGENT,
            &agent.application_name,
            body,
            expected,
            &|_| true,
            false,
            None,
        )
        .await
    }

    async fn delete_agent(&self, app_name: &str) -> Result<()> {
        let inner = self.inner().await?;
        self.delete_versioned(inner, AGENT, app_name).await
    }

    async fn insert_reports(&self, reports: &[StoredReport]) -> Result<u64> {
        if reports.is_empty() {
            return Ok(0);
        }
        let inner = self.inner().await?;
        // One insert per (application, run): normally the whole batch.
        let mut groups: BTreeMap<(Uuid, &str), Vec<Document>> = BTreeMap::new();
        for r in reports {
            groups
                .entry((r.app_id, r.run_id.as_str()))
                .or_default()
                .push(report_document(r)?);
        }
        let mut new = 0u64;
        for ((app_id, run_id), docs) in groups {
            let db = self.metric_db(inner, app_id).await?;
            let coll_name = collection_for_run(run_id);
            self.ensure_metric_indexes(inner, &db, &coll_name).await?;
            let n = docs.len() as u64;
            let coll = inner
                .client
                .database(&db)
                .collection::<Document>(&coll_name);
            match coll.insert_many(docs).ordered(false).await {
                Ok(r) => new += r.inserted_ids.len() as u64,
                Err(e) => match duplicates_only(&e) {
                    Some(dups) => new += n.saturating_sub(dups),
                    None => return Err(self.err("storing metric reports", e)),
                },
            }
        }
        Ok(new)
    }

    async fn count_reports(&self, app_id: Uuid) -> Result<u64> {
        let inner = self.inner().await?;
        let db = self.metric_db(inner, app_id).await?;
        let mut total = 0;
        for c in self.report_collections(inner, &db).await? {
            total += inner
                .client
                .database(&db)
                .collection::<Document>(&c)
                .count_documents(doc! {})
                .await
                .map_err(|e| self.err("counting metric reports", e))?;
        }
        Ok(total)
    }

    async fn query_reports(&self, app_id: Uuid, range: TimeRange) -> Result<Vec<StoredReport>> {
        let inner = self.inner().await?;
        let db = self.metric_db(inner, app_id).await?;
        let (since, until) = range_micros(&range);
        let mut out = Vec::new();
        for c in self.report_collections(inner, &db).await? {
            // The newest `limit` of each run, by the received_us index; merged below.
            let docs = self
                .collect(
                    inner
                        .client
                        .database(&db)
                        .collection::<Document>(&c)
                        .find(doc! {"received_us": {"$gte": since, "$lte": until}})
                        .sort(doc! {"received_us": -1})
                        .limit(range.limit.min(i64::MAX as usize) as i64)
                        .await,
                    "querying metric reports",
                )
                .await?;
            for d in docs {
                out.push(decode_report(app_id, d)?);
            }
        }
        out.sort_by_key(|r| r.received_at);
        let skip = out.len().saturating_sub(range.limit);
        out.drain(..skip);
        Ok(out)
    }

    async fn insert_analysis(&self, docs: &[StoredAnalysis]) -> Result<u64> {
        if docs.is_empty() {
            return Ok(0);
        }
        let inner = self.inner().await?;
        let mut groups: BTreeMap<Uuid, Vec<Document>> = BTreeMap::new();
        for a in docs {
            groups.entry(a.app_id).or_default().push(doc! {
                "_id": format!("{}/{}", a.window_id, a.group_key()),
                "window_id": &a.window_id,
                "group": a.group_key(),
                "run_id": &a.run_id,
                "at_us": micros(a.at),
                "window_seq": a.result.window_seq as i64,
                "doc": to_bson(a, "analysis")?,
            });
        }
        let mut new = 0u64;
        for (app_id, docs) in groups {
            let db = self.metric_db(inner, app_id).await?;
            self.ensure_metric_indexes(inner, &db, ANALYSIS).await?;
            let n = docs.len() as u64;
            let coll = inner.client.database(&db).collection::<Document>(ANALYSIS);
            match coll.insert_many(docs).ordered(false).await {
                Ok(r) => new += r.inserted_ids.len() as u64,
                Err(e) => match duplicates_only(&e) {
                    Some(dups) => new += n.saturating_sub(dups),
                    None => return Err(self.err("storing analysis results", e)),
                },
            }
        }
        Ok(new)
    }

    async fn query_analysis(&self, app_id: Uuid, range: TimeRange) -> Result<Vec<StoredAnalysis>> {
        let inner = self.inner().await?;
        let db = self.metric_db(inner, app_id).await?;
        let (since, until) = range_micros(&range);
        let docs = self
            .collect(
                inner
                    .client
                    .database(&db)
                    .collection::<Document>(ANALYSIS)
                    .find(doc! {"at_us": {"$gte": since, "$lte": until}})
                    .sort(doc! {"at_us": -1, "window_seq": -1})
                    .limit(range.limit.min(i64::MAX as usize) as i64)
                    .await,
                "querying analysis results",
            )
            .await?;
        let mut out: Vec<(i64, i64, String, StoredAnalysis)> = Vec::with_capacity(docs.len());
        for mut d in docs {
            let at = int(&d, "at_us");
            let seq = int(&d, "window_seq");
            let grp = d.get_str("group").unwrap_or("").to_string();
            out.push((at, seq, grp, field(&mut d, "doc", "analysis")?));
        }
        out.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
        Ok(out.into_iter().map(|t| t.3).collect())
    }

    async fn last_window_seq(&self, app_id: Uuid) -> Result<u64> {
        let inner = self.inner().await?;
        let db = self.metric_db(inner, app_id).await?;
        let d = inner
            .client
            .database(&db)
            .collection::<Document>(ANALYSIS)
            .find_one(doc! {})
            .sort(doc! {"window_seq": -1})
            .await
            .map_err(|e| self.err("reading the last window", e))?;
        Ok(d.map_or(0, |d| int(&d, "window_seq").max(0) as u64))
    }

    async fn purge_metrics(&self, app_id: Uuid) -> Result<u64> {
        let inner = self.inner().await?;
        let db_name = self.metric_db(inner, app_id).await?;
        let db = inner.client.database(&db_name);
        let mut colls = self.report_collections(inner, &db_name).await?;
        colls.push(ANALYSIS.to_string());
        let mut removed = 0;
        for c in colls {
            removed += db
                .collection::<Document>(&c)
                .delete_many(doc! {})
                .await
                .map_err(|e| self.err("purging metrics", e))?
                .deleted_count;
        }
        // The database itself goes too (on FerretDB's SQLite backend, its file).
        db.drop()
            .await
            .map_err(|e| self.err("dropping the metric database", e))?;
        self.lock_ensured()?.retain(|(d, _)| d != &db_name);
        Ok(removed)
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<u64> {
        self.put_audit_outbox(entry).await
    }

    async fn list_audit(
        &self,
        since: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        let inner = self.inner().await?;
        let since = since.map_or(i64::MIN, micros);
        let docs = self
            .collect(
                Self::coll(inner, AUDIT)
                    .find(doc! {"at_us": {"$gte": since}})
                    .sort(doc! {"_id": -1})
                    .limit(limit.min(i64::MAX as usize) as i64)
                    .await,
                "reading the audit log",
            )
            .await?;
        let mut out = Vec::with_capacity(docs.len());
        for mut d in docs.into_iter().rev() {
            let seq = int(&d, "_id").max(0) as u64;
            let mut e: AuditEntry = field(&mut d, "entry", "audit")?;
            e.seq = seq;
            out.push(e);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_and_checked() {
        assert_eq!(
            redact_mongo_url("mongodb://rohe:s3cr@t@h1:27017,h2:27017/?tls=true"),
            "mongodb://rohe:***@h1:27017,h2:27017/?tls=true"
        );
        assert_eq!(
            redact_mongo_url("mongodb://127.0.0.1:27017/"),
            "mongodb://127.0.0.1:27017/"
        );
        assert!(check_url("mongodb://u:p@h1:1,h2:2/db").is_ok());
        assert!(check_url("mongodb+srv://cluster.example.net/").is_ok());
        assert!(check_url("http://h/").is_err());
        assert!(check_url("mongodb:///").is_err());
        assert!(check_url("mongodb://h1,,h2/").is_err());
        assert!(check_url("localhost").is_err());
    }

    #[test]
    fn open_rejects_bad_settings_without_echoing_the_password() {
        let e = match MongoStore::open("mysql://u:hunter2@h/", "rohe") {
            Err(e) => e,
            Ok(_) => panic!("accepted a mysql URL"),
        };
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert_eq!(e.field.as_deref(), Some("store.url"));
        assert!(MongoStore::open("mongodb://h/", "a.b").is_err());
        let s = MongoStore::open("mongodb://u:hunter2@h/", "rohe").unwrap();
        assert!(!s.info().location.contains("hunter2"));
    }

    #[test]
    fn records_with_nested_arrays_survive_as_json() {
        // A stream config's feature groups: FerretDB 1.x refuses arrays in arrays.
        let v = serde_json::json!({"groups": [["latency_e2e"], ["confidence", "accuracy"]]});
        let b = to_bson(&v, "agent").unwrap();
        assert!(
            matches!(&b, Bson::Document(d) if d.contains_key(JSON_TEXT)),
            "{b:?}"
        );
        let back: serde_json::Value = from_bson(b, "agent").unwrap();
        assert_eq!(back, v);
        // Plain records stay queryable BSON.
        let plain = serde_json::json!({"groups": ["a", "b"], "n": 1});
        let b = to_bson(&plain, "agent").unwrap();
        assert!(matches!(&b, Bson::Document(d) if d.contains_key("groups")));
        assert_eq!(from_bson::<serde_json::Value>(b, "agent").unwrap(), plain);
    }

    #[test]
    fn bodies_with_awkward_keys_survive_as_json() {
        let r = StoredReport {
            app_id: Uuid::new_v4(),
            report_id: "r".into(),
            run_id: "run 1".into(),
            // The store keeps microseconds.
            received_at: from_micros(micros(Utc::now())),
            body: serde_json::json!({"a.b": 1, "$x": [u64::MAX], "ok": {"n": 1.5}}).into(),
        };
        let d = report_document(&r).unwrap();
        assert!(d.contains_key("body_json"));
        let back = decode_report(r.app_id, d).unwrap();
        assert_eq!(back.body, r.body);
        assert_eq!(back.received_at, r.received_at);
        assert_eq!(collection_for_run("run 1"), "metric_collection_run_1");
        let plain = StoredReport {
            body: serde_json::json!({"m": {"latency": 3, "ok": true}}).into(),
            ..r
        };
        let d = report_document(&plain).unwrap();
        assert!(d.contains_key("body"));
        assert_eq!(decode_report(plain.app_id, d).unwrap().body, plain.body);
    }
}
