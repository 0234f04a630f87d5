//! The embedded store under real process conditions: two rohe processes writing at once, and
//! processes killed with SIGKILL in the middle of a write.

mod common;
use common::Sandbox;
use std::time::Duration;

/// The single value a query returns.
fn one<T: rusqlite::types::FromSql>(c: &rusqlite::Connection, sql: &str) -> T {
    c.query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn app_file(sb: &Sandbox, name: &str) -> String {
    let text = format!(
        "application_name: {name}\nrun_id: r1\nuser_id: u1\nstages:\n  - name: s\n    microservices:\n      - name: m1\n      - name: m2\n"
    );
    sb.write(&format!("{name}.yaml"), &text)
        .display()
        .to_string()
}

#[test]
fn two_processes_share_one_store() {
    let sb = Sandbox::new();
    let files: Vec<String> = (0..40).map(|i| app_file(&sb, &format!("p{i}"))).collect();
    let shared = app_file(&sb, "shared");
    std::thread::scope(|s| {
        for half in files.chunks(20) {
            let sb = &sb;
            let shared = &shared;
            s.spawn(move || {
                for f in half {
                    sb.ok(&["app", "register", "-f", f]);
                    sb.ok(&["app", "register", "-f", shared]);
                }
            });
        }
    });
    let apps = sb.json(&["app", "list"]);
    assert_eq!(apps.as_array().unwrap().len(), 41);
    let shared = sb.json(&["app", "show", "shared"]);
    assert_eq!(
        shared["application"]["client_count"], 40,
        "no registration lost between processes"
    );
    assert_eq!(shared["history"].as_array().unwrap().len(), 40);
}

#[test]
fn kill_9_loses_no_acknowledged_write_and_corrupts_nothing() {
    let sb = Sandbox::new();
    // Create the store first so that every killed process finds it.
    sb.ok(&["app", "list"]);
    let mut acknowledged = Vec::new();
    let mut killed = 0;
    for i in 0..40u64 {
        let name = format!("k{i}");
        let f = app_file(&sb, &name);
        let mut child = sb
            .cmd()
            .args(["app", "register", "-f", &f])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Spread the kills over start-up, the write and exit.
        std::thread::sleep(Duration::from_micros((i * 2_311) % 30_000));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if status.success() {
            acknowledged.push(name);
        } else {
            killed += 1;
        }
    }
    eprintln!(
        "kill -9 test: {} acknowledged, {killed} killed mid-way",
        acknowledged.len()
    );
    assert!(
        killed > 0,
        "no process was killed mid-way; the test proved nothing"
    );

    // The file is intact...
    let conn = rusqlite::Connection::open(sb.store()).unwrap();
    let check: String = one(&conn, "PRAGMA integrity_check");
    assert_eq!(check, "ok");
    drop(conn);
    // ...every acknowledged registration is there, whole...
    let apps = sb.json(&["app", "list"]);
    let names: Vec<&str> = apps
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["application_name"].as_str().unwrap())
        .collect();
    for n in &acknowledged {
        assert!(
            names.contains(&n.as_str()),
            "acknowledged registration {n} was lost"
        );
    }
    for a in apps.as_array().unwrap() {
        let n = a["application_name"].as_str().unwrap();
        let show = sb.json(&["app", "show", n]);
        assert_eq!(
            show["history"].as_array().unwrap().len(),
            1,
            "{n}: app and history written together"
        );
        assert_eq!(
            show["application"]["stages"][0]["microservices"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
    // ...and the store keeps working.
    let f = app_file(&sb, "after");
    sb.ok(&["app", "register", "-f", &f]);
}

/// The version 3 layout of the two metric tables (`WITHOUT ROWID`, keyed by app and id).
const V3_METRIC_TABLES: &str = "
CREATE TABLE metric_reports (
    app_id TEXT NOT NULL, report_id TEXT NOT NULL, received_us INTEGER NOT NULL,
    doc TEXT NOT NULL, run_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (app_id, report_id)) WITHOUT ROWID;
CREATE INDEX metric_reports_by_time ON metric_reports(app_id, received_us);
CREATE TABLE analysis_results (
    app_id TEXT NOT NULL, window_id TEXT NOT NULL, grp TEXT NOT NULL, at_us INTEGER NOT NULL,
    doc TEXT NOT NULL, window_seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, window_id, grp)) WITHOUT ROWID;
CREATE INDEX analysis_results_by_time ON analysis_results(app_id, at_us);
PRAGMA user_version=3;
";

#[tokio::test]
async fn a_version_3_store_keeps_its_reports_and_analyses_when_upgraded() {
    use rohe::adapters::embedded::{SqliteStore, SyncMode};
    use rohe::ports::store::{ReportJson, Store, StoredReport, TimeRange};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    let app = uuid::Uuid::new_v4();
    let now_us = chrono::Utc::now().timestamp_micros();
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(V3_METRIC_TABLES).unwrap();
        for i in 0..3i64 {
            c.execute(
                "INSERT INTO metric_reports VALUES (?1, ?2, ?3, ?4, 'r1')",
                rusqlite::params![
                    app.to_string(),
                    format!("rep{i}"),
                    now_us - 1000 + i,
                    format!("{{\"n\":{i}}}")
                ],
            )
            .unwrap();
        }
        // Only the columns matter here; the document is not read back.
        let doc = "{}";
        c.execute(
            "INSERT INTO analysis_results VALUES (?1, 'w7', 'latency', ?2, ?3, 7)",
            rusqlite::params![app.to_string(), now_us, doc],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path, SyncMode::Normal).unwrap();
    let range = TimeRange::last(chrono::Duration::hours(1), 100);
    let reports = store.query_reports(app, range).await.unwrap();
    let ids: Vec<&str> = reports.iter().map(|r| r.report_id.as_str()).collect();
    assert_eq!(ids, ["rep0", "rep1", "rep2"], "oldest first, none lost");
    assert_eq!(reports[1].body.as_str(), "{\"n\":1}");
    assert_eq!(reports[1].run_id, "r1");
    assert_eq!(store.last_window_seq(app).await.unwrap(), 7);
    // Still one row per report id after the move to the new layout.
    let again = StoredReport {
        app_id: app,
        report_id: "rep1".into(),
        run_id: "r1".into(),
        received_at: chrono::Utc::now(),
        body: ReportJson::from_parsed_text("{\"n\":1}".into()),
    };
    let fresh = StoredReport {
        report_id: "rep3".into(),
        ..again.clone()
    };
    assert_eq!(store.insert_reports(&[again, fresh]).await.unwrap(), 1);
    assert_eq!(store.count_reports(app).await.unwrap(), 4);
    drop(store);
    let c = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = one(&c, "PRAGMA user_version");
    assert_eq!(version, 4);
    let left: i64 = one(
        &c,
        "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('metric_reports', 'analysis_results')",
    );
    assert_eq!(left, 0, "the metric tables moved out of the store file");
    let m = rusqlite::Connection::open(dir.path().join("v3.metrics.db")).unwrap();
    let layout: String = one(
        &m,
        "SELECT sql FROM sqlite_master WHERE name = 'metric_reports'",
    );
    assert!(!layout.contains("WITHOUT ROWID"), "{layout}");
}

#[tokio::test]
async fn a_version_1_store_moves_its_reports_without_the_later_columns() {
    use rohe::adapters::embedded::{SqliteStore, SyncMode};
    use rohe::ports::store::{Store, TimeRange};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let app = uuid::Uuid::new_v4();
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE metric_reports (app_id TEXT NOT NULL, report_id TEXT NOT NULL,
                 received_us INTEGER NOT NULL, doc TEXT NOT NULL,
                 PRIMARY KEY (app_id, report_id)) WITHOUT ROWID;
             CREATE TABLE analysis_results (app_id TEXT NOT NULL, window_id TEXT NOT NULL,
                 grp TEXT NOT NULL, at_us INTEGER NOT NULL, doc TEXT NOT NULL,
                 PRIMARY KEY (app_id, window_id, grp)) WITHOUT ROWID;
             PRAGMA user_version=1;",
        )
        .unwrap();
        c.execute(
            "INSERT INTO metric_reports VALUES (?1, 'old', ?2, '{}')",
            rusqlite::params![app.to_string(), chrono::Utc::now().timestamp_micros()],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path, SyncMode::Normal).unwrap();
    let got = store
        .query_reports(app, TimeRange::last(chrono::Duration::hours(1), 10))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].report_id.as_str(), got[0].run_id.as_str()),
        ("old", "")
    );
    // Opening again changes nothing.
    drop(store);
    let store = SqliteStore::open(&path, SyncMode::Normal).unwrap();
    assert_eq!(store.count_reports(app).await.unwrap(), 1);
}

#[test]
fn a_new_store_keeps_metrics_in_a_second_file_with_small_pages() {
    let sb = Sandbox::new();
    sb.ok(&["app", "list"]);
    let store = sb.store();
    let metrics = rohe::adapters::embedded::metrics_path(&store);
    assert_eq!(metrics.file_name().unwrap(), "rohe.metrics.db");
    let m = rusqlite::Connection::open(&metrics).unwrap();
    let page: i64 = one(&m, "PRAGMA page_size");
    assert_eq!(
        page, 4096,
        "rows without bodies write least with small pages"
    );
    let c = rusqlite::Connection::open(&store).unwrap();
    let page: i64 = one(&c, "PRAGMA page_size");
    assert_eq!(page, 4096);
}

fn report(app: uuid::Uuid, id: &str, n: i64) -> rohe::ports::store::StoredReport {
    rohe::ports::store::StoredReport {
        app_id: app,
        report_id: id.to_string(),
        run_id: "r1".into(),
        received_at: chrono::Utc::now(),
        body: rohe::ports::store::ReportJson::parse(format!(
            "{{\"n\":{n},\"pad\":\"{}\"}}",
            "x".repeat(n as usize)
        ))
        .unwrap(),
    }
}

async fn bodies(
    store: &rohe::adapters::embedded::SqliteStore,
    app: uuid::Uuid,
) -> Vec<(String, String)> {
    use rohe::ports::store::{Store, TimeRange};
    store
        .query_reports(app, TimeRange::last(chrono::Duration::hours(1), 100))
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.report_id, r.body.as_str().to_string()))
        .collect()
}

/// A metrics file from before the report logs (schema 1) keeps the bodies it holds; reports
/// stored after the upgrade go to the application's log, and both read back.
#[tokio::test]
async fn a_version_1_metrics_file_keeps_its_bodies_and_logs_new_ones() {
    use rohe::adapters::embedded::{SqliteStore, SyncMode, metrics_path, reports_dir};
    use rohe::ports::store::Store;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rohe.db");
    let app = uuid::Uuid::new_v4();
    {
        let c = rusqlite::Connection::open(metrics_path(&path)).unwrap();
        c.execute_batch(
            "CREATE TABLE metric_reports (app_id TEXT NOT NULL, report_id TEXT NOT NULL,
                 received_us INTEGER NOT NULL, doc TEXT NOT NULL, run_id TEXT NOT NULL DEFAULT '');
             CREATE UNIQUE INDEX metric_reports_by_id ON metric_reports(app_id, report_id);
             CREATE INDEX metric_reports_by_time ON metric_reports(app_id, received_us);
             PRAGMA user_version=1;",
        )
        .unwrap();
        c.execute(
            "INSERT INTO metric_reports VALUES (?1, 'a-old', ?2, '{\"inline\":true}', 'r1')",
            rusqlite::params![app.to_string(), chrono::Utc::now().timestamp_micros() - 10],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path, SyncMode::Normal).unwrap();
    assert_eq!(
        store
            .insert_reports(&[report(app, "b-new", 3)])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        bodies(&store, app).await,
        [
            ("a-old".to_string(), "{\"inline\":true}".to_string()),
            ("b-new".to_string(), "{\"n\":3,\"pad\":\"xxx\"}".to_string())
        ]
    );
    assert!(reports_dir(&path).join(format!("{app}.log")).is_file());
    let m = rusqlite::Connection::open(metrics_path(&path)).unwrap();
    let v: i64 = one(&m, "PRAGMA user_version");
    assert_eq!(v, 2);
    let inline: String = one(
        &m,
        "SELECT doc FROM metric_reports WHERE report_id = 'b-new'",
    );
    assert_eq!(inline, "", "a new report's body is in the log, not the row");
}

/// What a writer killed between appending to the log and committing leaves (records no row
/// points at) does not disturb later reports; a damaged record is skipped, not returned as
/// garbage; a redelivered report keeps its first body; purging removes the log.
#[tokio::test]
async fn report_logs_survive_a_torn_tail_detect_damage_and_are_purged() {
    use rohe::adapters::embedded::{SqliteStore, SyncMode, reports_dir};
    use rohe::ports::store::Store;
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rohe.db");
    let app = uuid::Uuid::new_v4();
    let log = reports_dir(&path).join(format!("{app}.log"));
    let store = SqliteStore::open(&path, SyncMode::Full).unwrap();
    let first: Vec<_> = (0..3).map(|i| report(app, &format!("r{i}"), i)).collect();
    assert_eq!(store.insert_reports(&first).await.unwrap(), 3);
    // A crashed writer's half record.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(&[7, 0, 0, 0, 1, 2])
        .unwrap();
    let more = [report(app, "r3", 3), report(app, "r0", 9)];
    assert_eq!(
        store.insert_reports(&more).await.unwrap(),
        1,
        "r0 is a redelivery"
    );
    drop(store);
    let store = SqliteStore::open(&path, SyncMode::Normal).unwrap();
    let got = bodies(&store, app).await;
    let want: Vec<(String, String)> = (0..4)
        .map(|i| {
            (
                format!("r{i}"),
                format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i)),
            )
        })
        .collect();
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, want);
    // Damage r1's body in place.
    let mut bytes = std::fs::read(&log).unwrap();
    let at = bytes.windows(6).position(|w| w == b"\"n\":1,").unwrap();
    bytes[at + 4] = b'8';
    std::fs::write(&log, &bytes).unwrap();
    let mut got: Vec<String> = bodies(&store, app)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    got.sort();
    assert_eq!(got, ["r0", "r2", "r3"]);
    assert_eq!(store.count_reports(app).await.unwrap(), 4);
    assert_eq!(store.purge_metrics(app).await.unwrap(), 4);
    assert!(!log.exists());
    assert_eq!(
        store.insert_reports(&[report(app, "r9", 1)]).await.unwrap(),
        1
    );
    assert_eq!(bodies(&store, app).await.len(), 1);
}

/// Open the store at `path` from four threads released together (as processes started at once).
fn open_from_four_threads_at_once(path: &std::path::Path, round: usize) {
    use rohe::adapters::embedded::{SqliteStore, SyncMode};
    let start = std::sync::Arc::new(std::sync::Barrier::new(4));
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let (path, start) = (path.to_path_buf(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                SqliteStore::open(&path, SyncMode::Normal).map(drop)
            })
        })
        .collect();
    for t in opened {
        if let Err(e) = t.join().unwrap() {
            panic!("round {round}: {e}");
        }
    }
}

/// Processes that open an old metrics file at the same moment all see its old version; the
/// upgrade must still happen once, and every one of them open the store.
#[test]
fn an_old_metrics_file_opened_by_several_processes_at_once_upgrades_once() {
    use rohe::adapters::embedded::{SqliteStore, SyncMode, metrics_path};
    for round in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rohe.db");
        // A current store file beside an old metrics file.
        drop(SqliteStore::open(&path, SyncMode::Normal).unwrap());
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", metrics_path(&path).display()));
        }
        {
            let c = rusqlite::Connection::open(metrics_path(&path)).unwrap();
            c.execute_batch(
                "PRAGMA journal_mode=WAL;
                 CREATE TABLE metric_reports (app_id TEXT NOT NULL, report_id TEXT NOT NULL,
                     received_us INTEGER NOT NULL, doc TEXT NOT NULL, run_id TEXT NOT NULL DEFAULT '');
                 PRAGMA user_version=1;",
            )
            .unwrap();
        }
        open_from_four_threads_at_once(&path, round);
        let m = rusqlite::Connection::open(metrics_path(&path)).unwrap();
        assert_eq!(one::<i64>(&m, "PRAGMA user_version"), 2);
    }
}

/// Processes that create the store together (the console and an agent started at once on a new
/// machine) all open it.
#[test]
fn a_new_store_opened_by_several_processes_at_once_opens_in_each() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rohe.db");
        open_from_four_threads_at_once(&path, round);
    }
}
