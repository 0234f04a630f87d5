//! The Store conformance suite: one set of behaviours every Store implementation must have.
//! It runs against each implementation available on this machine and says which it skipped.
//!
//! - embedded: always.
//! - mongodb: the server at `$ROHE_TEST_MONGODB_URL` (any MongoDB-wire server: a real MongoDB,
//!   or FerretDB), else the FerretDB that `.ci/run` starts at `mongodb://127.0.0.1:37017/`
//!   when something listens there. Each run uses its own control database
//!   (`rohe_test_<random>`), dropped at the end. Nothing found: the MongoDB run is skipped
//!   with a message, unless `ROHE_TEST_REQUIRE_MONGODB=1` (which `.ci/run` sets), where it fails.
//!
//! The cases test MongoDB semantics, so they must pass against a real MongoDB too.

use chrono::{Duration, Utc};
use rohe::adapters::embedded::{SqliteStore, SyncMode};
use rohe::adapters::mongo::MongoStore;
use rohe::domain::analysis::AnalysisResult;
use rohe::domain::app::{
    ApplicationSpec, RegistrationAction, RegistrationEvent, apply_registration,
};
use rohe::domain::qoa4ml::ConnectorSettings;
use rohe::error::ErrorKind;
use rohe::ops::{Ops, Source};
use rohe::ports::{
    AgentRecord, AgentState, AuditEntry, Store, StoredAnalysis, StoredReport, TimeRange,
};
use std::sync::Arc;
use uuid::Uuid;

/// The MongoDB-wire server of this run: a store on a fresh control database.
async fn mongo_store() -> Result<(Arc<MongoStore>, String), String> {
    let url = match rohe::adapters::mongo::test_server_url().await {
        Ok(url) => url,
        Err(why) if std::env::var("ROHE_TEST_REQUIRE_MONGODB").as_deref() == Ok("1") => {
            panic!("ROHE_TEST_REQUIRE_MONGODB=1 but no MongoDB-wire server: {why}")
        }
        Err(why) => return Err(why),
    };
    let db = format!("rohe_test_{}", &Uuid::new_v4().simple().to_string()[..12]);
    let store = MongoStore::open(&url, &db).map_err(|e| e.to_string())?;
    if let Err(e) = store.connect().await {
        panic!(
            "the MongoDB-wire server at {} fails: {e}",
            store.info().location
        );
    }
    Ok((Arc::new(store), url))
}

fn spec(name: &str) -> ApplicationSpec {
    rohe::ops::registration::parse_spec(
        &format!(
            "application_name: {name}\nrun_id: r1\nuser_id: u1\nstages:\n  - name: s\n    microservices:\n      - name: m\n"
        ),
        "test",
    )
    .expect("valid spec")
}

fn event(client_count: u64) -> RegistrationEvent {
    RegistrationEvent {
        at: Utc::now(),
        action: RegistrationAction::Registered,
        client_count,
        run_id: "r1".into(),
        user_id: "u1".into(),
        actor: "t@h".into(),
    }
}

fn ops(store: Arc<dyn Store>) -> Ops {
    let settings = ConnectorSettings {
        end_point: "localhost".into(),
        health_check_disable: false,
        registration_url: None,
    };
    Ops::new(store, settings, Source::Cli).with_actor("tester@host")
}

/// Every implementation this machine can run, by name, the ones skipped (with why), and the
/// MongoDB store to clean up after.
async fn implementations(
    dir: &std::path::Path,
) -> (
    Vec<(&'static str, Arc<dyn Store>)>,
    Vec<String>,
    Option<(Arc<MongoStore>, String)>,
) {
    let embedded =
        SqliteStore::open(&dir.join("conformance.db"), SyncMode::Normal).expect("open embedded");
    let mut impls: Vec<(&'static str, Arc<dyn Store>)> = vec![("embedded", Arc::new(embedded))];
    let mut skipped = Vec::new();
    let mut cleanup = None;
    match mongo_store().await {
        Ok((store, url)) => {
            impls.push(("mongodb", store.clone()));
            cleanup = Some((store, url));
        }
        Err(why) => skipped.push(format!("mongodb ({why})")),
    }
    (impls, skipped, cleanup)
}

fn audit_entry(action: &str) -> AuditEntry {
    AuditEntry {
        seq: 0,
        at: Utc::now(),
        actor: "t@h".into(),
        source: "cli".into(),
        action: action.into(),
        args: serde_json::json!({}),
        ok: true,
        result: "r".into(),
    }
}

/// Removal takes the history with it; the name can be registered again afterwards (a new
/// app_id), and a writer holding a version from before the removal gets a conflict.
async fn remove_and_register_again(store: &dyn Store) {
    let first = apply_registration(&spec("again"), None, Uuid::new_v4(), Utc::now());
    let v = store.put_app(&first, None, &event(1), None).await.unwrap();
    let next = apply_registration(&spec("again"), Some(&first), Uuid::new_v4(), Utc::now());
    let v2 = store
        .put_app(&next, Some(v), &event(2), None)
        .await
        .unwrap();
    store
        .delete_app("again", v2, Some(&audit_entry("test.again.unregister")))
        .await
        .unwrap();
    assert!(store.get_app("again").await.unwrap().is_none());
    // A stale writer (it read version v before the removal) cannot bring the old app back.
    assert_eq!(
        store
            .put_app(&next, Some(v), &event(2), None)
            .await
            .unwrap_err()
            .kind,
        ErrorKind::Conflict
    );
    assert!(store.get_app("again").await.unwrap().is_none());
    let second = apply_registration(&spec("again"), None, Uuid::new_v4(), Utc::now());
    assert_ne!(second.app_id, first.app_id);
    let v3 = store.put_app(&second, None, &event(1), None).await.unwrap();
    let got = store.get_app("again").await.unwrap().unwrap();
    assert_eq!((got.value.app_id, got.version), (second.app_id, v3));
    assert_eq!(
        store
            .app_history("again")
            .await
            .unwrap()
            .iter()
            .map(|h| h.client_count)
            .collect::<Vec<_>>(),
        vec![1],
        "the history starts again with the new registration"
    );
    // An update naming the old app_id at the current version is refused.
    let stale_id = apply_registration(&spec("again"), Some(&first), Uuid::new_v4(), Utc::now());
    assert_eq!(
        store
            .put_app(&stale_id, Some(v3), &event(2), None)
            .await
            .unwrap_err()
            .kind,
        ErrorKind::Conflict
    );
    let audit = store.list_audit(None, 10_000).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "test.again.unregister")
            .count(),
        1,
        "the removal's audit entry is written once"
    );
}

/// Named documents: create, stale create, update, stale update, each write's audit entry
/// exactly once.
async fn documents(store: &dyn Store) {
    let key = "test/doc";
    assert!(store.get_doc(key).await.unwrap().is_none());
    let a = audit_entry("test.doc.create");
    assert_eq!(
        store
            .put_doc(key, &serde_json::json!({"n": 0}), None, Some(&a))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .put_doc(key, &serde_json::json!({"n": 9}), None, None)
            .await
            .unwrap_err()
            .kind,
        ErrorKind::Conflict
    );
    let b = audit_entry("test.doc.update");
    assert_eq!(
        store
            .put_doc(
                key,
                &serde_json::json!({"n": 1, "s": [1.5, "x"]}),
                Some(1),
                Some(&b)
            )
            .await
            .unwrap(),
        2
    );
    let lost = audit_entry("test.doc.lost");
    assert_eq!(
        store
            .put_doc(key, &serde_json::json!({"n": 7}), Some(1), Some(&lost))
            .await
            .unwrap_err()
            .kind,
        ErrorKind::Conflict
    );
    let got = store.get_doc(key).await.unwrap().unwrap();
    assert_eq!(got.version, 2);
    assert_eq!(got.value, serde_json::json!({"n": 1, "s": [1.5, "x"]}));
    let audit = store.list_audit(None, 10_000).await.unwrap();
    let ours: Vec<&str> = audit
        .iter()
        .map(|e| e.action.as_str())
        .filter(|a| a.starts_with("test.doc."))
        .collect();
    assert_eq!(ours, ["test.doc.create", "test.doc.update"]);
}

/// 8 writers each add 1 to a counter 5 times, by read-modify-write with retries on conflict:
/// with optimistic concurrency no increment is lost.
async fn no_lost_update(store: Arc<dyn Store>) {
    let key = "test/counter";
    store
        .put_doc(key, &serde_json::json!({"n": 0}), None, None)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut versions = Vec::new();
            let mut conflicts = 0;
            for _ in 0..5 {
                loop {
                    let cur = store.get_doc(key).await.unwrap().unwrap();
                    let n = cur.value["n"].as_u64().unwrap();
                    match store
                        .put_doc(
                            key,
                            &serde_json::json!({"n": n + 1}),
                            Some(cur.version),
                            None,
                        )
                        .await
                    {
                        Ok(v) => {
                            versions.push(v);
                            break;
                        }
                        Err(e) if e.kind == ErrorKind::Conflict => conflicts += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            (versions, conflicts)
        }));
    }
    let mut versions = Vec::new();
    let mut conflicts = 0;
    for t in tasks {
        let (v, c) = t.await.unwrap();
        versions.extend(v);
        conflicts += c;
    }
    versions.sort();
    assert_eq!(
        versions,
        (2..=41).collect::<Vec<u64>>(),
        "each version won once"
    );
    let got = store.get_doc(key).await.unwrap().unwrap();
    assert_eq!((got.value["n"].as_u64(), got.version), (Some(40), 41));
    // A writer far behind (its version's slot may be long gone) still gets a conflict.
    assert_eq!(
        store
            .put_doc(key, &serde_json::json!({"n": 1}), Some(1), None)
            .await
            .unwrap_err()
            .kind,
        ErrorKind::Conflict
    );
    eprintln!("  no_lost_update: 40 increments by 8 writers, {conflicts} conflicts retried");
}

/// Reports and analysis results by time range: inclusive bounds, newest `limit`, oldest first.
async fn time_ranges(store: &dyn Store) {
    let app_id = Uuid::new_v4();
    // Stores keep arrival times to the microsecond.
    let t0 = chrono::DateTime::from_timestamp_micros(
        (Utc::now() - Duration::hours(1)).timestamp_micros(),
    )
    .unwrap();
    let at = |i: i64| t0 + Duration::minutes(i);
    // Inserted out of order, over two runs.
    let reports: Vec<StoredReport> = [5, 1, 9, 3, 7, 0, 2, 8, 4, 6]
        .iter()
        .map(|&i| StoredReport {
            app_id,
            report_id: format!("r{i}"),
            run_id: if i % 2 == 0 { "r1".into() } else { "r2".into() },
            received_at: at(i),
            body: serde_json::json!({"i": i, "nested": {"v": [i, 0.5]}}).into(),
        })
        .collect();
    assert_eq!(store.insert_reports(&reports).await.unwrap(), 10);
    let q = |since: Option<i64>, until: Option<i64>, limit: usize| TimeRange {
        since: since.map(at),
        until: until.map(at),
        limit,
    };
    let ids = |rs: Vec<StoredReport>| rs.into_iter().map(|r| r.report_id).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .query_reports(app_id, q(Some(2), Some(5), 100))
            .await
            .unwrap()),
        ["r2", "r3", "r4", "r5"],
        "inclusive bounds, oldest first"
    );
    assert_eq!(
        ids(store.query_reports(app_id, q(None, None, 3)).await.unwrap()),
        ["r7", "r8", "r9"],
        "the newest `limit`"
    );
    assert_eq!(
        ids(store
            .query_reports(app_id, q(Some(3), Some(8), 2))
            .await
            .unwrap()),
        ["r7", "r8"]
    );
    assert!(
        store
            .query_reports(app_id, q(Some(20), None, 10))
            .await
            .unwrap()
            .is_empty()
    );
    let one = store
        .query_reports(app_id, q(Some(4), Some(4), 10))
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(
        one[0].received_at,
        at(4),
        "arrival time kept to the microsecond"
    );
    assert_eq!(one[0].run_id, "r1");
    assert_eq!(
        one[0].body,
        serde_json::json!({"i": 4, "nested": {"v": [4, 0.5]}}).into()
    );
    assert!(
        store
            .query_reports(Uuid::new_v4(), q(None, None, 10))
            .await
            .unwrap()
            .is_empty()
    );

    // Analysis: windows 1..=4, two groups each, one minute apart.
    let mut docs = Vec::new();
    for seq in 1..=4u64 {
        for g in ["a", "b"] {
            docs.push(StoredAnalysis {
                app_id,
                window_id: format!("w{seq}"),
                run_id: "r1".into(),
                at: at(seq as i64 * 2),
                result: AnalysisResult {
                    version: 1,
                    window_seq: seq,
                    group: vec![g.into()],
                    from_ts: Some(1.0),
                    to_ts: None,
                    rows: 3,
                    skipped_rows: 0,
                    function: Default::default(),
                    scored_rows: 0,
                    threshold: None,
                    stats: Default::default(),
                    anomalies: vec![],
                    violations: vec![],
                },
            });
        }
    }
    assert_eq!(store.insert_analysis(&docs).await.unwrap(), 8);
    assert_eq!(
        store.insert_analysis(&docs[..2]).await.unwrap(),
        0,
        "stored once per (window, group)"
    );
    assert_eq!(store.last_window_seq(app_id).await.unwrap(), 4);
    assert_eq!(store.last_window_seq(Uuid::new_v4()).await.unwrap(), 0);
    let got = store
        .query_analysis(app_id, q(Some(4), Some(6), 100))
        .await
        .unwrap();
    assert_eq!(
        got.iter()
            .map(|d| format!("{}/{}", d.window_id, d.group_key()))
            .collect::<Vec<_>>(),
        ["w2/a", "w2/b", "w3/a", "w3/b"]
    );
    assert_eq!(got[0], docs[2], "a result round-trips unchanged");
    let newest = store
        .query_analysis(app_id, q(None, None, 2))
        .await
        .unwrap();
    assert_eq!(
        newest
            .iter()
            .map(|d| d.window_id.as_str())
            .collect::<Vec<_>>(),
        ["w4", "w4"]
    );
    assert_eq!(store.purge_metrics(app_id).await.unwrap(), 18);
    assert_eq!(store.count_reports(app_id).await.unwrap(), 0);
    assert_eq!(store.last_window_seq(app_id).await.unwrap(), 0);
}

async fn versioning(store: &dyn Store) {
    let app = apply_registration(&spec("vers"), None, Uuid::new_v4(), Utc::now());
    assert!(store.get_app("vers").await.unwrap().is_none());
    assert_eq!(store.put_app(&app, None, &event(1), None).await.unwrap(), 1);
    // A second create of the same name conflicts.
    let other = apply_registration(&spec("vers"), None, Uuid::new_v4(), Utc::now());
    let e = store
        .put_app(&other, None, &event(1), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict);
    let got = store.get_app("vers").await.unwrap().unwrap();
    assert_eq!(got.value, app);
    assert_eq!(got.version, 1);
    // Update at the right version succeeds; at a stale version it conflicts (no lost update).
    let next = apply_registration(&spec("vers"), Some(&app), Uuid::new_v4(), Utc::now());
    assert_eq!(
        store
            .put_app(&next, Some(1), &event(2), None)
            .await
            .unwrap(),
        2
    );
    let e = store
        .put_app(&next, Some(1), &event(2), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict);
    assert_eq!(
        store
            .get_app("vers")
            .await
            .unwrap()
            .unwrap()
            .value
            .client_count,
        2
    );
    let hist = store.app_history("vers").await.unwrap();
    assert_eq!(
        hist.iter().map(|h| h.client_count).collect::<Vec<_>>(),
        vec![1, 2]
    );
    // Delete at a stale version conflicts; at the current one it removes app and history.
    assert_eq!(
        store.delete_app("vers", 1, None).await.unwrap_err().kind,
        ErrorKind::Conflict
    );
    store.delete_app("vers", 2, None).await.unwrap();
    assert!(store.get_app("vers").await.unwrap().is_none());
    assert!(store.app_history("vers").await.unwrap().is_empty());
}

async fn concurrent_first_registration(store: Arc<dyn Store>) {
    let ops = ops(store.clone());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let ops = ops.clone();
        tasks.push(tokio::spawn(async move {
            ops.register_app(&spec("race"), false).await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    let mut created = 0;
    for t in tasks {
        let out = t.await.unwrap().unwrap();
        ids.insert(out.application.app_id);
        created += out.created as usize;
    }
    assert_eq!(
        ids.len(),
        1,
        "exactly one app_id for 8 concurrent registrations"
    );
    assert_eq!(created, 1, "exactly one registration created the app");
    let app = store.get_app("race").await.unwrap().unwrap().value;
    assert_eq!(app.client_count, 8, "every registration counted once");
    assert_eq!(store.app_history("race").await.unwrap().len(), 8);
}

async fn listing(store: &dyn Store) {
    for n in ["list-b", "list-a", "list-c"] {
        let app = apply_registration(&spec(n), None, Uuid::new_v4(), Utc::now());
        store.put_app(&app, None, &event(1), None).await.unwrap();
    }
    let names: Vec<String> = store
        .list_apps()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.application_name)
        .filter(|n| n.starts_with("list-"))
        .collect();
    assert_eq!(names, ["list-a", "list-b", "list-c"]);
}

async fn agents(store: &dyn Store) {
    let mut rec = AgentRecord {
        application_name: "agentapp".into(),
        app_id: Uuid::new_v4(),
        state: AgentState::Running,
        runtime: "local".into(),
        handle: String::new(),
        updated_at: Utc::now(),
        config: serde_json::json!({"window": 100}),
        health: None,
    };
    assert_eq!(store.put_agent(&rec, None).await.unwrap(), 1);
    assert_eq!(
        store.put_agent(&rec, None).await.unwrap_err().kind,
        ErrorKind::Conflict
    );
    rec.state = AgentState::Stopped;
    assert_eq!(store.put_agent(&rec, Some(1)).await.unwrap(), 2);
    assert_eq!(
        store.put_agent(&rec, Some(1)).await.unwrap_err().kind,
        ErrorKind::Conflict
    );
    let got = store.get_agent("agentapp").await.unwrap().unwrap();
    assert_eq!((got.value.state, got.version), (AgentState::Stopped, 2));
    assert!(
        store
            .list_agents()
            .await
            .unwrap()
            .iter()
            .any(|a| a.application_name == "agentapp")
    );
    store.delete_agent("agentapp").await.unwrap();
    assert!(store.get_agent("agentapp").await.unwrap().is_none());
    assert!(
        !store
            .list_agents()
            .await
            .unwrap()
            .iter()
            .any(|a| a.application_name == "agentapp")
    );
    // A writer holding a version from before the removal does not bring the record back.
    assert_eq!(
        store.put_agent(&rec, Some(2)).await.unwrap_err().kind,
        ErrorKind::Conflict
    );
    assert!(store.get_agent("agentapp").await.unwrap().is_none());
    // The name can be used again.
    let v = store.put_agent(&rec, None).await.unwrap();
    assert_eq!(
        store.get_agent("agentapp").await.unwrap().unwrap().version,
        v
    );
    store.delete_agent("agentapp").await.unwrap();
}

async fn reports(store: &dyn Store) {
    let app_id = Uuid::new_v4();
    let other = Uuid::new_v4();
    let mk = |app_id: Uuid, id: &str| StoredReport {
        app_id,
        report_id: id.into(),
        run_id: "r1".into(),
        received_at: Utc::now(),
        body: serde_json::json!({"metadata": {"id": id}}).into(),
    };
    let batch = vec![mk(app_id, "a"), mk(app_id, "b"), mk(other, "a")];
    assert_eq!(store.insert_reports(&batch).await.unwrap(), 3);
    // Redelivered reports are stored once.
    assert_eq!(
        store
            .insert_reports(&[mk(app_id, "a"), mk(app_id, "c")])
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.count_reports(app_id).await.unwrap(), 3);
    // The body comes back as the JSON that went in.
    let all = rohe::ports::TimeRange {
        since: None,
        until: None,
        limit: 10,
    };
    let back = store.query_reports(other, all).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].body, batch[2].body);
    assert_eq!(
        back[0].body.value().unwrap(),
        serde_json::json!({"metadata": {"id": "a"}})
    );
    assert_eq!(
        serde_json::to_value(&back[0]).unwrap()["body"],
        serde_json::json!({"metadata": {"id": "a"}}),
        "a stored report serialises its body as JSON, not as a string"
    );
    assert_eq!(store.purge_metrics(app_id).await.unwrap(), 3);
    assert_eq!(store.count_reports(app_id).await.unwrap(), 0);
    assert_eq!(
        store.count_reports(other).await.unwrap(),
        1,
        "purge touches one application only"
    );
    assert_eq!(store.purge_metrics(other).await.unwrap(), 1);
}

async fn audit(store: &dyn Store) {
    let base = Utc::now() - Duration::hours(3);
    let mut seqs = Vec::new();
    for i in 0..5 {
        let e = AuditEntry {
            seq: 0,
            at: base + Duration::hours(i % 3),
            actor: "t@h".into(),
            source: "cli".into(),
            action: format!("test.action{i}"),
            args: serde_json::json!({"i": i}),
            ok: i != 2,
            result: "r".into(),
        };
        seqs.push(store.append_audit(&e).await.unwrap());
    }
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "sequence numbers increase"
    );
    let all = store.list_audit(None, 1000).await.unwrap();
    let ours: Vec<_> = all
        .iter()
        .filter(|e| e.action.starts_with("test.action"))
        .collect();
    assert_eq!(ours.len(), 5);
    assert!(!ours[2].ok);
    // `limit` keeps the newest, oldest first.
    let last2 = store.list_audit(None, 2).await.unwrap();
    assert_eq!(
        last2.iter().map(|e| e.seq).collect::<Vec<_>>(),
        seqs[3..].to_vec()
    );
    // `since` filters by time.
    let recent = store
        .list_audit(Some(base + Duration::minutes(90)), 1000)
        .await
        .unwrap();
    let recent: Vec<_> = recent
        .iter()
        .filter(|e| e.action.starts_with("test.action"))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(recent, ["test.action2"]); // only i=2 is at base+2h; the others are at base+0h or +1h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance() {
    let dir = tempfile::tempdir().unwrap();
    let (impls, skipped, cleanup) = implementations(dir.path()).await;
    eprintln!(
        "store conformance: running on [{}]; skipped: {}",
        impls.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
        if skipped.is_empty() {
            "none".to_string()
        } else {
            skipped.join(", ")
        }
    );
    for (name, store) in impls {
        eprintln!("store conformance: {name}");
        versioning(store.as_ref()).await;
        concurrent_first_registration(store.clone()).await;
        remove_and_register_again(store.as_ref()).await;
        listing(store.as_ref()).await;
        agents(store.as_ref()).await;
        documents(store.as_ref()).await;
        no_lost_update(store.clone()).await;
        reports(store.as_ref()).await;
        time_ranges(store.as_ref()).await;
        audit(store.as_ref()).await;
    }
    if let Some((m, url)) = cleanup {
        // A second process on the same database: index creation at start is idempotent, and
        // it sees what the first wrote.
        let again = MongoStore::open(&url, m.database()).unwrap();
        again.connect().await.unwrap();
        assert_eq!(
            again
                .get_app("race")
                .await
                .unwrap()
                .unwrap()
                .value
                .client_count,
            8
        );
        m.drop_database().await.unwrap();
    }
}

#[tokio::test]
async fn a_file_that_is_not_a_store_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("not.db");
    std::fs::write(&p, vec![b'x'; 4096]).unwrap();
    let e = match SqliteStore::open(&p, SyncMode::Normal) {
        Err(e) => e,
        Ok(_) => panic!("opened a file that is not a database"),
    };
    assert!(e.to_string().contains("not a rohe store"), "{e}");
    assert_eq!(
        std::fs::read(&p).unwrap(),
        vec![b'x'; 4096],
        "the file was not touched"
    );
}

#[tokio::test]
async fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.db");
    {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&p, SyncMode::Full).unwrap());
        ops(store).register_app(&spec("keep"), false).await.unwrap();
    }
    let store = SqliteStore::open(&p, SyncMode::Normal).unwrap();
    assert_eq!(
        store
            .get_app("keep")
            .await
            .unwrap()
            .unwrap()
            .value
            .client_count,
        1
    );
}
