//! The registration use cases through the ops layer: the rules for unregistering, purging and
//! read-only mode, and what the audit log records.

use chrono::Utc;
use rohe::adapters::embedded::{SqliteStore, SyncMode};
use rohe::domain::qoa4ml::ConnectorSettings;
use rohe::error::ErrorKind;
use rohe::ops::{Ops, Request, Response, Source};
use rohe::ports::{AgentRecord, AgentState, Store, StoredReport};
use std::sync::Arc;

fn setup() -> (tempfile::TempDir, Arc<dyn Store>, Ops) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("s.db"), SyncMode::Normal).unwrap());
    let settings = ConnectorSettings {
        end_point: "localhost".into(),
        health_check_disable: false,
        registration_url: None,
    };
    let ops = Ops::new(store.clone(), settings, Source::Tui).with_actor("op@head");
    (dir, store, ops)
}

fn register_req(name: &str) -> Request {
    let spec = rohe::ops::registration::parse_spec(
        &format!("application_name: {name}\nrun_id: r\nuser_id: u\nstages:\n  - name: s\n    microservices:\n      - name: m\n"),
        "t",
    )
    .unwrap();
    Request::RegisterApp {
        spec,
        file: None,
        dry_run: false,
    }
}

fn unregister(name: &str, purge: bool, force: bool) -> Request {
    Request::UnregisterApp {
        name: name.into(),
        purge,
        force,
        dry_run: false,
    }
}

async fn set_agent(store: &dyn Store, name: &str, app_id: uuid::Uuid, state: AgentState) {
    let current = store.get_agent(name).await.unwrap();
    let rec = AgentRecord {
        application_name: name.into(),
        app_id,
        state,
        runtime: "local".into(),
        handle: String::new(),
        updated_at: Utc::now(),
        config: serde_json::Value::Null,
        health: None,
    };
    store
        .put_agent(&rec, current.map(|c| c.version))
        .await
        .unwrap();
}

#[tokio::test]
async fn unregister_refuses_while_the_agent_runs_unless_forced() {
    let (_d, store, ops) = setup();
    let Response::Registered(r) = ops.execute(register_req("cam")).await.unwrap() else {
        panic!()
    };
    let app_id = r.application.app_id;
    set_agent(store.as_ref(), "cam", app_id, AgentState::Running).await;
    let e = ops
        .execute(unregister("cam", false, false))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict);
    assert!(e.to_string().contains("rohe agent stop cam"), "{e}");
    assert!(
        store.get_app("cam").await.unwrap().is_some(),
        "nothing removed"
    );
    // A stopped agent does not block.
    set_agent(store.as_ref(), "cam", app_id, AgentState::Stopped).await;
    let dry = ops
        .execute(Request::UnregisterApp {
            name: "cam".into(),
            purge: false,
            force: false,
            dry_run: true,
        })
        .await
        .unwrap();
    assert!(matches!(dry, Response::Unregistered(ref u) if u.dry_run));
    assert!(
        store.get_app("cam").await.unwrap().is_some(),
        "dry run removes nothing"
    );
    // --force goes through a running agent and removes its record too.
    set_agent(store.as_ref(), "cam", app_id, AgentState::Running).await;
    ops.execute(unregister("cam", false, true)).await.unwrap();
    assert!(store.get_app("cam").await.unwrap().is_none());
    assert!(store.get_agent("cam").await.unwrap().is_none());
}

#[tokio::test]
async fn purge_removes_only_this_applications_metrics() {
    let (_d, store, ops) = setup();
    let Response::Registered(a) = ops.execute(register_req("keep")).await.unwrap() else {
        panic!()
    };
    let Response::Registered(b) = ops.execute(register_req("drop")).await.unwrap() else {
        panic!()
    };
    let report = |app_id, id: &str| StoredReport {
        app_id,
        report_id: id.into(),
        run_id: "r1".into(),
        received_at: Utc::now(),
        body: serde_json::json!({}).into(),
    };
    store
        .insert_reports(&[
            report(a.application.app_id, "1"),
            report(b.application.app_id, "1"),
            report(b.application.app_id, "2"),
        ])
        .await
        .unwrap();
    // Without --purge the metrics stay (ROHE leaves the metric database behind too).
    let Response::Registered(_) = ops.execute(register_req("drop")).await.unwrap() else {
        panic!()
    };
    let Response::Unregistered(u) = ops.execute(unregister("drop", true, false)).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(u.purged_documents, 2);
    assert_eq!(store.count_reports(b.application.app_id).await.unwrap(), 0);
    assert_eq!(store.count_reports(a.application.app_id).await.unwrap(), 1);
    let Response::Unregistered(u) = ops.execute(unregister("keep", false, false)).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(u.purged_documents, 0);
    assert_eq!(
        store.count_reports(a.application.app_id).await.unwrap(),
        1,
        "kept without --purge"
    );
}

#[tokio::test]
async fn readonly_refuses_and_audit_records_success_and_failure() {
    let (_d, store, ops) = setup();
    ops.execute(register_req("aud")).await.unwrap();
    let e = ops
        .execute(unregister("ghost", false, false))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    let ro = ops.clone().readonly(true);
    let e = ro
        .execute(unregister("aud", false, false))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Conflict);
    assert!(store.get_app("aud").await.unwrap().is_some());
    let log = store.list_audit(None, 100).await.unwrap();
    let rows: Vec<(&str, bool, &str)> = log
        .iter()
        .map(|e| (e.action.as_str(), e.ok, e.source.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("app.register", true, "tui"),
            ("app.unregister", false, "tui")
        ],
        "read-only refusals change nothing, not even the log"
    );
    assert_eq!(log[0].actor, "op@head");
    assert_eq!(log[0].args["application_name"], "aud");
    assert!(log[1].result.contains("ghost"));
}
