//! The Store conformance suite: one set of behaviours every Store implementation must have.
//! It runs against each implementation available on this machine and says which it skipped.
//! Today that is the embedded SQLite store; real backends join the list as they are added.

use chrono::{Duration, Utc};
use rohe::adapters::embedded::{SqliteStore, SyncMode};
use rohe::domain::app::{
    ApplicationSpec, RegistrationAction, RegistrationEvent, apply_registration,
};
use rohe::domain::qoa4ml::ConnectorSettings;
use rohe::error::ErrorKind;
use rohe::ops::{Ops, Source};
use rohe::ports::{AgentRecord, AgentState, AuditEntry, Store, StoredReport};
use std::sync::Arc;
use uuid::Uuid;

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

/// Every implementation this machine can run, by name.
fn implementations(dir: &std::path::Path) -> Vec<(&'static str, Arc<dyn Store>)> {
    let embedded =
        SqliteStore::open(&dir.join("conformance.db"), SyncMode::Normal).expect("open embedded");
    vec![("embedded", Arc::new(embedded))]
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
}

async fn reports(store: &dyn Store) {
    let app_id = Uuid::new_v4();
    let other = Uuid::new_v4();
    let mk = |app_id: Uuid, id: &str| StoredReport {
        app_id,
        report_id: id.into(),
        received_at: Utc::now(),
        body: serde_json::json!({"metadata": {"id": id}}),
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
    assert_eq!(store.purge_metrics(app_id).await.unwrap(), 3);
    assert_eq!(store.count_reports(app_id).await.unwrap(), 0);
    assert_eq!(
        store.count_reports(other).await.unwrap(),
        1,
        "purge touches one application only"
    );
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
    let impls = implementations(dir.path());
    let skipped: Vec<&str> = vec![];
    eprintln!(
        "store conformance: running on [{}]; skipped: {}",
        impls.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
        if skipped.is_empty() {
            "none (no real store backend exists yet)".to_string()
        } else {
            skipped.join(", ")
        }
    );
    for (name, store) in impls {
        eprintln!("store conformance: {name}");
        versioning(store.as_ref()).await;
        concurrent_first_registration(store.clone()).await;
        listing(store.as_ref()).await;
        agents(store.as_ref()).await;
        reports(store.as_ref()).await;
        audit(store.as_ref()).await;
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
