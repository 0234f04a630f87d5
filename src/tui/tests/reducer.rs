//! Key sequences -> state and the exact `ops::Request` (like kdash's tests of the request a
//! key sends).

use super::*;
use crate::cli::{AppCommand, request_for};
use crate::ops::Request;
use crate::tui::app::{DialogFocus, FieldId, Overlay, SERVE_CHECK_EVERY, Tab, View, backoff};
use crate::tui::event::{CompletionTarget, Effect, SpecPurpose};
use std::path::PathBuf;
use std::time::Instant;

const CCTVS: &str = "application_name: cctvs\nrun_id: exp1\nuser_id: aaltosea1\nstages:\n  - name: ingestion\n    microservices:\n      - name: image_ingestion\n        functionality: REST\n        role: ml\n        tags: {modelName: none}\n  - name: inference\n    microservices:\n      - name: yolov8\n        functionality: TensorFlow\n        role: ml\n        tags: {modelName: yolov8n}\n";

fn spec_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cctvs.yaml");
    std::fs::write(&p, CCTVS).unwrap();
    (dir, p)
}

/// Carry out a LoadSpec effect the way the runner does, and feed the result back.
fn run_load_spec(app: &mut App, fx: &[Effect]) -> Vec<Effect> {
    let Some(Effect::LoadSpec { path, purpose }) = fx
        .iter()
        .find(|e| matches!(e, Effect::LoadSpec { .. }))
        .cloned()
    else {
        panic!("no LoadSpec in {fx:?}");
    };
    let result = crate::ops::registration::read_spec_file(&path).map_err(|e| e.to_string());
    app.update(Event::SpecLoaded {
        path,
        purpose,
        result,
    })
}

fn executed(fx: &[Effect]) -> Vec<Request> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Execute(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn start_loads_the_first_tab_and_refreshes_coalesce() {
    let mut app = new_app(false);
    assert_eq!(
        app.start(),
        vec![Effect::LoadApps, Effect::AdoptAgents, Effect::CheckServe]
    );
    // While the load is in flight, ticks and ctrl-r start nothing new...
    let t0 = Instant::now();
    assert!(
        app.update(Event::Tick(t0 + Duration::from_secs(5)))
            .is_empty()
    );
    assert!(app.update(ctrl('r')).is_empty());
    assert!(app.update(ctrl('r')).is_empty());
    // ...but the pending request runs once when the load returns.
    let fx = app.update(Event::AppsLoaded(Ok(summaries(&applications(3)))));
    assert_eq!(fx, vec![Effect::LoadApps]);
    assert!(app.apps.in_flight);
    let fx = app.update(Event::AppsLoaded(Ok(summaries(&applications(3)))));
    assert!(fx.is_empty(), "{fx:?}");
    // The next tick after the refresh interval reloads.
    let later = app.now + Duration::from_secs(3);
    assert_eq!(app.update(Event::Tick(later)), vec![Effect::LoadApps]);
}

#[test]
fn a_failing_backend_backs_off_keeps_its_data_and_recovers() {
    let mut app = loaded(applications(2), false);
    let _ = app.update(ctrl('r'));
    let _ = app.update(Event::AppsLoaded(Err("database is locked".into())));
    assert_eq!(app.apps.error.as_deref(), Some("database is locked"));
    assert_eq!(
        app.apps.data.as_ref().map(Vec::len),
        Some(2),
        "last data kept"
    );
    let base = app.now;
    assert!(
        app.update(Event::Tick(base + Duration::from_millis(500)))
            .is_empty()
    );
    assert_eq!(
        app.update(Event::Tick(base + Duration::from_millis(1100))),
        vec![Effect::LoadApps]
    );
    let _ = app.update(Event::AppsLoaded(Err("database is locked".into())));
    assert_eq!(app.apps.failures, 2);
    assert_eq!(backoff(2), Duration::from_secs(2));
    assert_eq!(backoff(20), Duration::from_secs(30));
    let _ = app.update(ctrl('r'));
    let _ = app.update(Event::AppsLoaded(Ok(summaries(&applications(4)))));
    assert!(app.apps.error.is_none());
    assert_eq!(app.apps.failures, 0);
    assert_eq!(app.apps_list.rows.len(), 4);
}

#[test]
fn navigation_keys_move_the_selection() {
    let mut app = loaded(applications(40), false);
    let sel = |app: &App| app.selected_app().unwrap().application_name.clone();
    let _ = app.update(ch('j'));
    let _ = app.update(ch('j'));
    let _ = app.update(press(KeyCode::Down));
    let _ = app.update(ch('k'));
    assert_eq!(sel(&app), "app002");
    let _ = app.update(ch('G'));
    assert_eq!(sel(&app), "app039");
    let _ = app.update(ch('g'));
    assert_eq!(sel(&app), "app000");
    let _ = app.update(press(KeyCode::PageDown));
    assert_eq!(app.apps_list.selected, app.page_rows());
    let _ = app.update(press(KeyCode::PageUp));
    assert_eq!(app.apps_list.selected, 0);
    let _ = app.update(press(KeyCode::Up));
    assert_eq!(app.apps_list.selected, 0, "stays at the top");
    let _ = app.update(press(KeyCode::End));
    let _ = app.update(press(KeyCode::Home));
    assert_eq!(sel(&app), "app000");
}

#[test]
fn filter_narrows_is_shown_and_esc_clears() {
    let mut app = loaded(applications(40), false);
    let _ = app.update(ch('/'));
    assert!(matches!(app.overlay, Overlay::Filter(_)));
    typed(&mut app, "app01");
    assert_eq!(app.apps_list.filter, "app01");
    assert_eq!(app.apps_list.rows.len(), 10);
    let _ = app.update(press(KeyCode::Enter));
    assert!(matches!(app.overlay, Overlay::None));
    assert_eq!(app.apps_list.rows.len(), 10, "enter keeps the filter");
    let _ = app.update(ch('j'));
    assert_eq!(app.selected_app().unwrap().application_name, "app011");
    let _ = app.update(press(KeyCode::Esc));
    assert!(app.apps_list.filter.is_empty());
    assert_eq!(app.apps_list.rows.len(), 40);
    assert_eq!(
        app.selected_app().unwrap().application_name,
        "app011",
        "the selection survives clearing the filter"
    );
    // Esc inside the prompt clears too.
    let _ = app.update(ch('/'));
    typed(&mut app, "zzz");
    assert!(app.apps_list.rows.is_empty());
    let _ = app.update(press(KeyCode::Esc));
    assert_eq!(app.apps_list.rows.len(), 40);
}

#[test]
fn sort_by_column_and_reverse() {
    let mut apps = applications(3);
    apps[0].client_count = 5;
    apps[1].client_count = 1;
    apps[2].client_count = 3;
    let mut app = loaded(apps, false);
    let names = |app: &App| -> Vec<String> {
        let data = app.apps.data.as_ref().unwrap();
        app.apps_list
            .rows
            .iter()
            .map(|&i| data[i].application_name.clone())
            .collect()
    };
    assert_eq!(names(&app), ["app000", "app001", "app002"]);
    let _ = app.update(ch('O'));
    assert_eq!(names(&app), ["app002", "app001", "app000"]);
    for _ in 0..4 {
        let _ = app.update(ch('o'));
    }
    assert_eq!(crate::tui::app::APP_SORTS[app.apps_list.sort], "clients");
    let _ = app.update(ch('O'));
    assert_eq!(names(&app), ["app001", "app002", "app000"]);
}

#[test]
fn register_form_sends_the_same_request_as_the_cli() {
    let (_dir, path) = spec_file();
    let mut app = loaded(Vec::new(), false);
    let _ = app.update(ch('a'));
    assert!(matches!(app.overlay, Overlay::Form(_)));
    typed(&mut app, path.to_str().unwrap());
    let fx = app.update(press(KeyCode::Enter));
    assert_eq!(
        fx,
        vec![Effect::LoadSpec {
            path: path.clone(),
            purpose: SpecPurpose::FormSubmit
        }]
    );
    let fx = run_load_spec(&mut app, &fx);
    let reqs = executed(&fx);
    let cli = request_for(&AppCommand::Register {
        file: path.clone(),
        dry_run: false,
    })
    .unwrap()
    .unwrap();
    assert_eq!(reqs, vec![cli]);
    // The form waits for the result, then closes and the list reloads.
    assert!(matches!(app.overlay, Overlay::Form(ref f) if f.submitting));
    let outcome = crate::ops::RegisterOutcome {
        created: true,
        dry_run: false,
        message: String::new(),
        application: application("cctvs"),
    };
    let fx = app.update(Event::OpFinished {
        action: "app.register",
        result: Ok(crate::ops::Response::Registered(Box::new(outcome))),
    });
    assert!(matches!(app.overlay, Overlay::None));
    assert!(fx.contains(&Effect::LoadApps));
    assert!(
        app.last
            .as_ref()
            .unwrap()
            .text
            .starts_with("registered cctvs")
    );
}

#[test]
fn command_line_register_sends_the_same_request_as_the_cli() {
    let (_dir, path) = spec_file();
    let mut app = loaded(Vec::new(), false);
    let _ = app.update(ch(':'));
    typed(&mut app, &format!("app register {}", path.display()));
    let fx = app.update(press(KeyCode::Enter));
    assert_eq!(
        fx,
        vec![Effect::LoadSpec {
            path: path.clone(),
            purpose: SpecPurpose::Command { dry_run: false }
        }]
    );
    let fx = run_load_spec(&mut app, &fx);
    let cli = request_for(&AppCommand::Register {
        file: path,
        dry_run: false,
    })
    .unwrap()
    .unwrap();
    assert_eq!(executed(&fx), vec![cli]);
}

#[test]
fn register_form_checks_the_file_and_the_fields_inline() {
    let mut app = loaded(Vec::new(), false);
    let _ = app.update(ch('a'));
    // A file that does not parse: the error sits next to the field and nothing runs.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "application_name: Bad Name\nrun_id: r\nuser_id: u\n").unwrap();
    typed(&mut app, bad.to_str().unwrap());
    let fx = app.update(press(KeyCode::Enter));
    let fx = run_load_spec(&mut app, &fx);
    assert!(executed(&fx).is_empty());
    let Overlay::Form(f) = &app.overlay else {
        panic!()
    };
    let e = f.fields[0].error.as_deref().unwrap();
    assert!(e.contains("application_name"), "{e}");
    // Clear the file, fill in the fields instead.
    let _ = app.update(ctrl('u'));
    assert_eq!(
        app.update(press(KeyCode::Tab)),
        vec![],
        "empty path: just move on"
    );
    typed(&mut app, "Bad");
    let Overlay::Form(f) = &app.overlay else {
        panic!()
    };
    assert_eq!(f.fields[f.focus].id, FieldId::Name);
    assert!(
        f.fields[f.focus].error.is_some(),
        "uppercase is rejected as typed"
    );
    let _ = app.update(ctrl('u'));
    typed(&mut app, "kpi");
    let _ = app.update(press(KeyCode::Tab));
    typed(&mut app, "run7");
    // Missing user_id: submit marks it.
    let fx = app.update(press(KeyCode::Enter));
    assert!(executed(&fx).is_empty());
    let Overlay::Form(f) = &app.overlay else {
        panic!()
    };
    assert_eq!(f.fields[3].error.as_deref(), Some("required"));
    let _ = app.update(press(KeyCode::Down));
    typed(&mut app, "alice");
    let fx = app.update(press(KeyCode::Enter));
    assert_eq!(
        executed(&fx),
        vec![Request::RegisterApp {
            spec: ApplicationSpec {
                application_name: "kpi".into(),
                run_id: "run7".into(),
                user_id: "alice".into(),
                description: None,
                stages: vec![],
            },
            file: None,
            dry_run: false,
        }]
    );
}

#[test]
fn tab_in_the_file_field_completes_the_path() {
    let mut app = loaded(Vec::new(), false);
    let _ = app.update(ch('a'));
    typed(&mut app, "exa");
    let fx = app.update(press(KeyCode::Tab));
    assert_eq!(
        fx,
        vec![Effect::CompletePath {
            target: CompletionTarget::FormField(0),
            value: "exa".into()
        }]
    );
    let _ = app.update(Event::PathCompleted {
        target: CompletionTarget::FormField(0),
        value: "exa".into(),
        candidates: vec!["example/".into()],
    });
    let Overlay::Form(f) = &app.overlay else {
        panic!()
    };
    assert_eq!(f.fields[0].value(), "example/");
    // Several candidates: complete the common prefix and list them.
    let _ = app.update(Event::PathCompleted {
        target: CompletionTarget::FormField(0),
        value: "example/".into(),
        candidates: vec![
            "example/applications/bts.yaml".into(),
            "example/applications/cctvs.yaml".into(),
        ],
    });
    let Overlay::Form(f) = &app.overlay else {
        panic!()
    };
    assert_eq!(f.fields[0].value(), "example/applications/");
    assert_eq!(f.fields[0].candidates.len(), 2);
    // A single file: completed and checked.
    let fx = app.update(Event::PathCompleted {
        target: CompletionTarget::FormField(0),
        value: "example/applications/".into(),
        candidates: vec!["example/applications/cctvs.yaml".into()],
    });
    assert_eq!(
        fx,
        vec![Effect::LoadSpec {
            path: "example/applications/cctvs.yaml".into(),
            purpose: SpecPurpose::FormCheck
        }]
    );
}

#[test]
fn unregister_asks_first_with_the_focus_on_cancel() {
    let mut app = loaded(applications(3), false);
    let _ = app.update(ch('j'));
    let _ = app.update(ch('d'));
    let Overlay::Dialog(d) = &app.overlay else {
        panic!("{:?}", app.overlay)
    };
    assert_eq!(d.focus, DialogFocus::Cancel);
    assert_eq!(d.name, "app001");
    // Enter on the default focus cancels.
    let fx = app.update(press(KeyCode::Enter));
    assert!(fx.is_empty());
    assert!(matches!(app.overlay, Overlay::None));
    // Esc cancels too.
    let _ = app.update(ch('d'));
    assert!(app.update(press(KeyCode::Esc)).is_empty());
    assert!(matches!(app.overlay, Overlay::None));
    // Move to "Unregister" and press it.
    let _ = app.update(ch('d'));
    let _ = app.update(press(KeyCode::Tab));
    let fx = app.update(press(KeyCode::Enter));
    let cli = request_for(&AppCommand::Unregister {
        name: "app001".into(),
        purge: false,
        force: false,
        yes: false,
        dry_run: false,
    })
    .unwrap()
    .unwrap();
    assert_eq!(executed(&fx), vec![cli]);
    assert_eq!(app.busy, 1);
}

#[test]
fn purge_needs_the_name_typed() {
    let mut app = loaded(applications(2), false);
    let _ = app.update(ch('P'));
    let Overlay::Dialog(d) = &app.overlay else {
        panic!()
    };
    assert!(d.purge);
    assert_eq!(d.focus, DialogFocus::Cancel);
    let _ = app.update(press(KeyCode::Tab));
    let fx = app.update(press(KeyCode::Enter));
    assert!(fx.is_empty(), "no purge without the typed name");
    let Overlay::Dialog(d) = &app.overlay else {
        panic!()
    };
    assert!(d.error.is_some());
    // Back to the name field (Confirm -> Cancel -> Input), type it, confirm.
    let _ = app.update(Event::Key(KeyEvent::new(
        KeyCode::BackTab,
        KeyModifiers::SHIFT,
    )));
    let _ = app.update(press(KeyCode::Left));
    typed(&mut app, "app00");
    assert!(app.update(press(KeyCode::Enter)).is_empty(), "wrong name");
    typed(&mut app, "0");
    let _ = app.update(press(KeyCode::Enter)); // moves to the confirm button
    let fx = app.update(press(KeyCode::Enter));
    assert_eq!(
        executed(&fx),
        vec![Request::UnregisterApp {
            name: "app000".into(),
            purge: true,
            force: false,
            dry_run: false
        }]
    );
}

#[test]
fn command_line_unregister_confirms_unless_yes() {
    let mut app = loaded(applications(2), false);
    let _ = app.update(ch(':'));
    typed(&mut app, "app unregister app001 --purge");
    let fx = app.update(press(KeyCode::Enter));
    assert!(fx.is_empty());
    assert!(matches!(&app.overlay, Overlay::Dialog(d) if d.purge && d.name == "app001"));
    let _ = app.update(press(KeyCode::Esc));
    let _ = app.update(ch(':'));
    typed(&mut app, "app unregister app001 --yes");
    let fx = app.update(press(KeyCode::Enter));
    let cli = request_for(&AppCommand::Unregister {
        name: "app001".into(),
        purge: false,
        force: false,
        yes: true,
        dry_run: false,
    })
    .unwrap()
    .unwrap();
    assert_eq!(executed(&fx), vec![cli]);
}

#[test]
fn command_line_completes_and_reports_errors() {
    let mut app = loaded(applications(2), false);
    let _ = app.update(ch(':'));
    typed(&mut app, "app unr");
    let _ = app.update(press(KeyCode::Tab));
    let Overlay::Command(p) = &app.overlay else {
        panic!()
    };
    assert_eq!(p.input.value(), "app unregister ");
    typed(&mut app, "app00");
    let _ = app.update(press(KeyCode::Tab));
    let Overlay::Command(p) = &app.overlay else {
        panic!()
    };
    assert_eq!(p.input.value(), "app unregister app00");
    assert_eq!(p.suggestions, ["app000", "app001"]);
    // A path argument completes in the background.
    let _ = app.update(press(KeyCode::Esc));
    let _ = app.update(ch(':'));
    typed(&mut app, "app register exa");
    assert_eq!(
        app.update(press(KeyCode::Tab)),
        vec![Effect::CompletePath {
            target: CompletionTarget::CommandLine,
            value: "app register exa".into()
        }]
    );
    let _ = app.update(press(KeyCode::Esc));
    let _ = app.update(ch(':'));
    typed(&mut app, "app frob");
    assert!(app.update(press(KeyCode::Enter)).is_empty());
    let Overlay::Command(p) = &app.overlay else {
        panic!()
    };
    assert!(p.error.as_deref().unwrap().contains("frob"));
    let _ = app.update(press(KeyCode::Esc));
    let _ = app.update(ch(':'));
    typed(&mut app, "q");
    assert_eq!(app.update(press(KeyCode::Enter)), vec![Effect::Quit]);
}

#[test]
fn export_and_copy_build_their_effects() {
    let mut app = loaded(applications(2), false);
    let id = app.selected_app().unwrap().app_id.to_string();
    assert_eq!(app.update(ch('c')), vec![Effect::Copy(id)]);
    let _ = app.update(ch('e'));
    let Overlay::Form(f) = &app.overlay else {
        panic!()
    };
    assert_eq!(f.fields[0].value(), "qoa4ml");
    let _ = app.update(ctrl('u'));
    typed(&mut app, "out/cfg");
    let fx = app.update(press(KeyCode::Enter));
    let cli = request_for(&AppCommand::QoaConfig {
        name: "app000".into(),
        microservice: None,
        out: Some("out/cfg".into()),
    })
    .unwrap()
    .unwrap();
    assert_eq!(executed(&fx), vec![cli]);
}

#[test]
fn read_only_hides_and_refuses_state_changes() {
    let mut app = loaded(applications(2), true);
    for c in ['a', 'd', 'D'] {
        let fx = app.update(ch(c));
        assert!(fx.is_empty());
        assert!(matches!(app.overlay, Overlay::None), "{c} opened something");
        let last = app.last.as_ref().unwrap();
        assert!(!last.ok && last.text.contains("read-only"), "{}", last.text);
    }
    let _ = app.update(ch(':'));
    typed(&mut app, "app unregister app000 --yes");
    assert!(app.update(press(KeyCode::Enter)).is_empty());
    assert!(app.last.as_ref().unwrap().text.contains("read-only"));
    let entries = app.palette_entries("");
    assert!(!entries.contains(&crate::tui::keymap::Action::Register));
    assert!(!entries.contains(&crate::tui::keymap::Action::Unregister));
    assert!(entries.contains(&crate::tui::keymap::Action::Export));
}

#[test]
fn tabs_switch_with_digits_and_tab_and_load_what_they_show() {
    let mut app = loaded(applications(1), false);
    assert_eq!(app.update(ch('2')), vec![Effect::LoadAgents]);
    assert_eq!(app.tab, Tab::Agents);
    let _ = app.update(press(KeyCode::Tab));
    assert_eq!(app.tab, Tab::Nodes);
    let _ = app.update(Event::Key(KeyEvent::new(
        KeyCode::BackTab,
        KeyModifiers::SHIFT,
    )));
    assert_eq!(app.tab, Tab::Agents);
    let _ = app.update(ch('5'));
    assert_eq!(app.tab, Tab::Metrics);
    let _ = app.update(press(KeyCode::Tab));
    assert_eq!(app.tab, Tab::Applications, "wraps around");
    // Only the visible tab is polled.
    let fx = app.update(Event::Tick(Instant::now() + Duration::from_secs(60)));
    assert_eq!(fx, vec![Effect::LoadApps]);
}

#[test]
fn details_yaml_and_back() {
    let apps = applications(2);
    let mut app = loaded(apps.clone(), false);
    // YAML needs the whole application: the list only holds summaries.
    assert_eq!(
        app.update(ch('y')),
        vec![Effect::LoadDetail("app000".into())]
    );
    assert_eq!(app.view, View::Table);
    let _ = app.update(Event::DetailLoaded {
        name: "app000".into(),
        result: Ok(detail(&apps[0])),
    });
    assert!(matches!(app.view, View::Text { .. }));
    let _ = app.update(press(KeyCode::Esc));
    let _ = app.update(ch('j'));
    let fx = app.update(press(KeyCode::Enter));
    assert_eq!(app.view, View::Detail { scroll: 0 });
    assert_eq!(fx, vec![Effect::LoadDetail("app001".into())]);
    let _ = app.update(Event::DetailLoaded {
        name: "app001".into(),
        result: Ok(detail(&apps[1])),
    });
    let _ = app.update(ch('j'));
    assert_eq!(app.view, View::Detail { scroll: 1 });
    let _ = app.update(ch('y'));
    let View::Text { lines, .. } = &app.view else {
        panic!("{:?}", app.view)
    };
    assert!(lines.iter().any(|l| l == "application_name: app001"));
    let _ = app.update(press(KeyCode::Esc));
    assert_eq!(app.view, View::Table);
}

#[test]
fn quit_keys_and_ctrl_c_everywhere() {
    let mut app = loaded(applications(1), false);
    assert_eq!(app.update(ch('q')), vec![Effect::Quit]);
    let mut app = loaded(applications(1), false);
    let _ = app.update(ch('a'));
    assert!(app.update(ch('q')).is_empty(), "q is typed into the form");
    assert_eq!(app.update(ctrl('c')), vec![Effect::Quit]);
    assert!(app.quit);
}

#[test]
fn help_and_palette_follow_the_effective_keymap() {
    let (km, _) = Keymap::with_overrides(
        "actions:\n  - name: move_down\n    keys: [n]\n  - name: help\n    keys: [H, \"?\"]\n",
        "k.yaml",
    )
    .unwrap();
    let mut app = App::new(km, false, Duration::from_secs(2), info());
    let _ = app.start();
    let _ = app.update(Event::AppsLoaded(Ok(summaries(&applications(3)))));
    let _ = app.update(ch('n'));
    assert_eq!(app.apps_list.selected, 1);
    let _ = app.update(ch('j'));
    assert_eq!(app.apps_list.selected, 1, "j is unbound now");
    let _ = app.update(ch('H'));
    assert!(matches!(app.overlay, Overlay::Help { .. }));
    let _ = app.update(press(KeyCode::Esc));
    // The palette runs the chosen action.
    let _ = app.update(ctrl('p'));
    typed(&mut app, "move_down");
    let _ = app.update(press(KeyCode::Enter));
    assert_eq!(app.apps_list.selected, 2);
}

#[tokio::test]
async fn requests_from_the_console_go_through_ops_and_the_audit_log() {
    use crate::adapters::embedded::{SqliteStore, SyncMode};
    use crate::ops::{Ops, Source};
    let (dir, path) = spec_file();
    let store = SqliteStore::open(&dir.path().join("rohe.db"), SyncMode::Normal).unwrap();
    let ops = Ops::new(
        std::sync::Arc::new(store),
        crate::domain::qoa4ml::ConnectorSettings {
            end_point: "localhost".into(),
            health_check_disable: false,
            registration_url: None,
        },
        Source::Tui,
    );
    let mut app = loaded(Vec::new(), false);
    let _ = app.update(ch(':'));
    typed(&mut app, &format!("app register {}", path.display()));
    let fx = app.update(press(KeyCode::Enter));
    let fx = run_load_spec(&mut app, &fx);
    for req in executed(&fx) {
        ops.execute(req).await.unwrap();
    }
    let audit = ops.list_audit(None, 10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].source, "tui");
    assert_eq!(audit[0].action, "app.register");
    assert_eq!(
        ops.list_app_summaries().await.unwrap()[0].application_name,
        "cctvs"
    );
}

// ---- agents, demo and metrics ------------------------------------------------------------

use crate::ops::{AgentOutcome, Response};
use crate::ports::AgentState;
use crate::tui::app::{DEMO_RATE, DialogKind, LIVE_RANGES};
use crate::tui::event::MetricsRange;

/// An app on the Agents tab with `agents` loaded (and the applications `apps`).
fn on_agents(
    apps: Vec<crate::domain::app::Application>,
    agents: Vec<crate::ops::AgentStatus>,
) -> App {
    let mut app = loaded(apps, false);
    assert_eq!(app.update(ch('2')), vec![Effect::LoadAgents]);
    let _ = app.update(Event::AgentsLoaded(Ok(agents)));
    app
}

fn outcome(name: &str, action: &str, state: AgentState) -> Result<Response, String> {
    Ok(Response::Agent(AgentOutcome {
        application_name: name.into(),
        action: action.into(),
        state,
        runtime: "inprocess".into(),
        handle: "inprocess:4242".into(),
        config_source: "default".into(),
        mapped: vec![],
        ignored: vec![],
    }))
}

/// What `rohe agent start|stop|restart|config` sends (src/cli/agents.rs, `run_agent_cmd`):
/// `start APP` -> AgentStart without a config file; `stop APP --yes` -> AgentStop;
/// `restart APP --yes` -> AgentRestart; `config APP --file F` -> AgentConfigure. The CLI has
/// no pure request builder for agent commands yet, so the CLI's requests are spelled out
/// here; tests/tui_tmux.rs compares the audit entries both faces write.
fn cli_agent(cmd: &str, name: &str) -> Request {
    match cmd {
        "start" => Request::AgentStart {
            name: name.into(),
            config: None,
            dry_run: false,
        },
        "stop" => Request::AgentStop {
            name: name.into(),
            dry_run: false,
        },
        "restart" => Request::AgentRestart { name: name.into() },
        other => panic!("{other}"),
    }
}

#[test]
fn agents_tab_start_stop_and_restart_send_the_cli_requests() {
    let mut app = on_agents(
        applications(2),
        vec![
            agent_status("app000", AgentState::Running),
            agent_status("app001", AgentState::Stopped),
        ],
    );
    // s on the selected row starts it, at once.
    let _ = app.update(ch('j'));
    let fx = app.update(ch('s'));
    assert_eq!(executed(&fx), vec![cli_agent("start", "app001")]);
    assert_eq!(app.busy, 1);
    // x asks first, with the focus on Cancel: enter cancels, esc too.
    let _ = app.update(ch('k'));
    assert!(app.update(ch('x')).is_empty());
    let Overlay::Dialog(d) = &app.overlay else {
        panic!("{:?}", app.overlay)
    };
    assert_eq!(
        (d.kind.clone(), d.name.as_str()),
        (DialogKind::AgentStop, "app000")
    );
    assert_eq!(d.focus, DialogFocus::Cancel);
    assert!(app.update(press(KeyCode::Enter)).is_empty());
    assert!(matches!(app.overlay, Overlay::None));
    let _ = app.update(ch('x'));
    assert!(app.update(press(KeyCode::Esc)).is_empty());
    assert!(matches!(app.overlay, Overlay::None));
    // Tab to Stop, enter: the request the CLI sends.
    let _ = app.update(ch('x'));
    let _ = app.update(press(KeyCode::Tab));
    let fx = app.update(press(KeyCode::Enter));
    assert_eq!(executed(&fx), vec![cli_agent("stop", "app000")]);
    // r: the same, for a restart.
    let _ = app.update(ch('r'));
    assert!(matches!(&app.overlay, Overlay::Dialog(d) if d.kind == DialogKind::AgentRestart));
    let _ = app.update(press(KeyCode::Right));
    let fx = app.update(press(KeyCode::Enter));
    assert_eq!(executed(&fx), vec![cli_agent("restart", "app000")]);
    // The result reloads the agents.
    let fx = app.update(Event::OpFinished {
        action: "agent.restart",
        result: outcome("app000", "restarted", AgentState::Running),
    });
    assert_eq!(fx, vec![Effect::LoadAgents]);
    assert!(
        app.last
            .as_ref()
            .unwrap()
            .text
            .contains("agent of app000: restarted")
    );
}

#[test]
fn agent_logs_open_a_scrollable_text_view_at_the_end() {
    let mut app = on_agents(
        applications(1),
        vec![agent_status("app000", AgentState::Running)],
    );
    assert_eq!(
        app.update(ch('l')),
        vec![Effect::LoadAgentLogs("app000".into())]
    );
    let lines: Vec<String> = (0..200).map(|i| format!("line {i} \u{1b}[31m")).collect();
    let _ = app.update(Event::AgentLogs {
        name: "app000".into(),
        result: Ok(lines),
    });
    let View::Text {
        title,
        lines,
        scroll,
    } = &app.view
    else {
        panic!("{:?}", app.view)
    };
    assert!(title.contains("app000"), "{title}");
    assert_eq!(lines.len(), 200);
    assert!(!lines[0].contains('\u{1b}'), "sanitised: {}", lines[0]);
    assert!(*scroll > 200, "starts at the newest lines");
    let _ = app.update(press(KeyCode::Esc));
    assert_eq!(app.view, View::Table);
    // A failure says why, and stays on the table.
    let _ = app.update(ch('l'));
    let _ = app.update(Event::AgentLogs {
        name: "app000".into(),
        result: Err("runs inside another rohe process".into()),
    });
    assert_eq!(app.view, View::Table);
    assert!(
        app.last
            .as_ref()
            .unwrap()
            .text
            .contains("another rohe process")
    );
}

#[test]
fn agent_config_prompts_for_a_file_and_confirms_when_the_agent_runs() {
    let mut app = on_agents(
        applications(2),
        vec![
            agent_status("app000", AgentState::Running),
            agent_status("app001", AgentState::Stopped),
        ],
    );
    let _ = app.update(ch('e'));
    let Overlay::Form(f) = &app.overlay else {
        panic!("{:?}", app.overlay)
    };
    assert!(f.title().contains("app000"));
    // Empty: an inline error, nothing runs.
    assert!(app.update(press(KeyCode::Enter)).is_empty());
    let Overlay::Form(f) = &app.overlay else {
        panic!()
    };
    assert!(f.fields[0].error.is_some());
    // Tab completes the path, as in the register form.
    typed(&mut app, "example/ag");
    assert_eq!(
        app.update(press(KeyCode::Tab)),
        vec![Effect::CompletePath {
            target: CompletionTarget::FormField(0),
            value: "example/ag".into()
        }]
    );
    let _ = app.update(Event::PathCompleted {
        target: CompletionTarget::FormField(0),
        value: "example/ag".into(),
        candidates: vec!["example/agents/".into()],
    });
    typed(&mut app, "cctvs.yaml");
    // The agent runs: configuring restarts it, so it asks first.
    assert!(app.update(press(KeyCode::Enter)).is_empty());
    let Overlay::Dialog(d) = &app.overlay else {
        panic!("{:?}", app.overlay)
    };
    let file = PathBuf::from("example/agents/cctvs.yaml");
    assert_eq!(d.kind, DialogKind::AgentConfigure { file: file.clone() });
    assert_eq!(d.focus, DialogFocus::Cancel);
    let _ = app.update(press(KeyCode::Tab));
    let fx = app.update(press(KeyCode::Enter));
    assert_eq!(
        executed(&fx),
        vec![Request::AgentConfigure {
            name: "app000".into(),
            file: file.clone(),
            dry_run: false
        }]
    );
    // A stopped agent takes the new config without asking; the form waits for the result.
    let _ = app.update(ch('j'));
    let _ = app.update(ch('e'));
    typed(&mut app, "example/agents/cctvs.yaml");
    let fx = app.update(press(KeyCode::Enter));
    assert_eq!(
        executed(&fx),
        vec![Request::AgentConfigure {
            name: "app001".into(),
            file,
            dry_run: false
        }]
    );
    let _ = app.update(Event::OpFinished {
        action: "agent.config",
        result: Err("unknown column \"x\"".into()),
    });
    let Overlay::Form(f) = &app.overlay else {
        panic!("the form stays open with the error")
    };
    assert!(f.error.as_deref().unwrap().contains("unknown column"));
}

#[test]
fn demo_from_the_applications_tab_starts_the_agent_then_the_demo() {
    let mut app = loaded(applications(2), false);
    // The agent is not known to run: start it first; the demo waits for it.
    let fx = app.update(ch('D'));
    assert_eq!(executed(&fx), vec![cli_agent("start", "app000")]);
    assert!(!fx.iter().any(|e| matches!(e, Effect::StartDemo { .. })));
    let fx = app.update(Event::OpFinished {
        action: "agent.start",
        result: outcome("app000", "started", AgentState::Running),
    });
    assert!(
        fx.contains(&Effect::StartDemo {
            name: "app000".into(),
            rate: DEMO_RATE
        }),
        "{fx:?}"
    );
    assert!(app.demos.contains_key("app000"));
    assert!(
        app.last
            .as_ref()
            .unwrap()
            .text
            .contains("demo of app000 started")
    );
    let _ = app.update(Event::DemoProgress {
        name: "app000".into(),
        stats: crate::ops::demo::DemoStats {
            application_name: "app000".into(),
            published: 42,
            ..Default::default()
        },
    });
    assert_eq!(app.demos["app000"].published, 42);
    // D again stops it; the console forgets it when the task reports back.
    assert_eq!(app.update(ch('D')), vec![Effect::StopDemo("app000".into())]);
    assert!(app.demos["app000"].stopping);
    assert!(app.update(ch('D')).is_empty(), "no second stop");
    let _ = app.update(Event::DemoFinished {
        name: "app000".into(),
        result: Ok(crate::ops::demo::DemoStats {
            published: 50,
            ..Default::default()
        }),
    });
    assert!(app.demos.is_empty());
    assert!(app.last.as_ref().unwrap().text.contains("50 reports"));
    // A failed agent start starts no demo.
    let _ = app.update(ch('j'));
    let _ = app.update(ch('D'));
    let fx = app.update(Event::OpFinished {
        action: "agent.start",
        result: Err("application app001 is not registered".into()),
    });
    assert!(fx.iter().all(|e| !matches!(e, Effect::StartDemo { .. })));
    assert!(app.demos.is_empty());
    assert!(app.last.as_ref().unwrap().text.contains("did not start"));
}

#[test]
fn demo_with_a_running_agent_starts_at_once_and_s_starts_an_agent_from_applications() {
    let mut app = on_agents(
        applications(2),
        vec![agent_status("app000", AgentState::Running)],
    );
    assert_eq!(
        app.update(ch('D')),
        vec![Effect::StartDemo {
            name: "app000".into(),
            rate: DEMO_RATE
        }]
    );
    // From the Applications tab, s starts the selected application's agent (no agent yet).
    let _ = app.update(ch('1'));
    let _ = app.update(ch('j'));
    let fx = app.update(ch('s'));
    assert_eq!(executed(&fx), vec![cli_agent("start", "app001")]);
}

#[test]
fn read_only_refuses_agent_actions_and_the_demo() {
    let mut app = loaded(applications(1), true);
    let _ = app.update(ch('2'));
    let _ = app.update(Event::AgentsLoaded(Ok(vec![agent_status(
        "app000",
        AgentState::Running,
    )])));
    for c in ['s', 'x', 'r', 'e', 'D'] {
        let fx = app.update(ch(c));
        assert!(fx.is_empty(), "{c}: {fx:?}");
        assert!(matches!(app.overlay, Overlay::None), "{c} opened something");
        let last = app.last.as_ref().unwrap();
        assert!(!last.ok && last.text.contains("read-only"), "{}", last.text);
    }
    // Reading is allowed.
    assert_eq!(
        app.update(ch('l')),
        vec![Effect::LoadAgentLogs("app000".into())]
    );
    let entries = app.palette_entries("");
    for a in [
        crate::tui::keymap::Action::AgentStart,
        crate::tui::keymap::Action::AgentStop,
        crate::tui::keymap::Action::Demo,
    ] {
        assert!(!entries.contains(&a), "{a:?} offered read-only");
    }
    assert!(entries.contains(&crate::tui::keymap::Action::AgentLogs));
}

#[test]
fn adopted_agents_are_reported_and_agents_refresh_one_at_a_time() {
    let mut app = new_app(true);
    assert_eq!(
        app.start(),
        vec![Effect::LoadApps, Effect::CheckServe],
        "read-only: adopts nothing"
    );
    let mut app = new_app(false);
    let fx = app.start();
    assert!(fx.contains(&Effect::AdoptAgents));
    let _ = app.update(Event::AgentsAdopted(Ok(vec![
        "restarted the agent of cctvs".into(),
    ])));
    assert!(
        app.last
            .as_ref()
            .unwrap()
            .text
            .contains("restarted the agent of cctvs")
    );
    let _ = app.update(Event::AgentsAdopted(Err("database is locked".into())));
    assert!(!app.last.as_ref().unwrap().ok);
    // The Agents tab polls agent_status on the refresh tick, never two at once.
    let _ = app.update(Event::AppsLoaded(Ok(Vec::new())));
    assert_eq!(app.update(ch('2')), vec![Effect::LoadAgents]);
    let t = app.now + Duration::from_secs(10);
    assert!(app.update(Event::Tick(t)).is_empty(), "one in flight");
    let _ = app.update(Event::AgentsLoaded(Ok(vec![failed_agent("cctvs")])));
    assert!(
        app.update(Event::Tick(app.now + Duration::from_secs(1)))
            .is_empty()
    );
    assert_eq!(
        app.update(Event::Tick(app.now + Duration::from_secs(3))),
        vec![Effect::LoadAgents]
    );
}

fn metrics_effects(fx: &[Effect]) -> Vec<(String, MetricsRange)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::LoadMetrics { name, range } => Some((name.clone(), *range)),
            _ => None,
        })
        .collect()
}

const LIVE5: MetricsRange = MetricsRange::Live { minutes: 5 };

#[test]
fn metrics_tab_defaults_to_the_first_app_with_an_agent_and_refreshes_live() {
    let mut app = loaded(applications(3), false);
    let _ = app.update(ch('2'));
    let _ = app.update(Event::AgentsLoaded(Ok(vec![agent_status(
        "app001",
        AgentState::Running,
    )])));
    let fx = app.update(ch('5'));
    assert_eq!(metrics_effects(&fx), vec![("app001".to_string(), LIVE5)]);
    assert_eq!(app.metrics.app.as_deref(), Some("app001"));
    // While it runs, ticks start nothing (no queue of refreshes).
    let t = app.now + Duration::from_secs(10);
    assert!(metrics_effects(&app.update(Event::Tick(t))).is_empty());
    let fx = app.update(Event::MetricsLoaded {
        name: "app001".into(),
        range: LIVE5,
        result: Ok(Box::new(metrics_view("app001", 1830))),
    });
    assert!(metrics_effects(&fx).is_empty());
    let v = app
        .metrics
        .current()
        .expect("the view answers the selection");
    assert_eq!(v.reports, 1830);
    // Rows in display order: end-to-end latency first.
    let first = app.metrics.list.rows[0];
    assert_eq!(v.series[first].metric, "e2e_latency");
    // The next refresh tick reloads; the range moves with the clock (the runner's job).
    let fx = app.update(Event::Tick(app.now + Duration::from_secs(3)));
    assert_eq!(metrics_effects(&fx), vec![("app001".to_string(), LIVE5)]);
    // Not visible: not polled.
    let _ = app.update(Event::MetricsLoaded {
        name: "app001".into(),
        range: LIVE5,
        result: Ok(Box::new(metrics_view("app001", 1900))),
    });
    let _ = app.update(ch('3'));
    let fx = app.update(Event::Tick(app.now + Duration::from_secs(60)));
    assert!(metrics_effects(&fx).is_empty());
}

#[test]
fn metrics_keys_switch_app_and_range_and_a_stale_answer_is_dropped() {
    let mut app = loaded(applications(3), false);
    let fx = app.update(ch('5'));
    assert!(
        metrics_effects(&fx).is_empty(),
        "waits for the agents to choose"
    );
    let fx = app.update(Event::AgentsLoaded(Ok(Vec::new())));
    assert_eq!(metrics_effects(&fx), vec![("app000".to_string(), LIVE5)]);
    assert_eq!(
        app.metrics.app.as_deref(),
        Some("app000"),
        "no agents: the first"
    );
    // The range cycles 1/5/15/60 minutes; with a query in flight, one more runs after it.
    let fx = app.update(ch('t'));
    assert!(
        metrics_effects(&fx).is_empty(),
        "queued behind the one in flight"
    );
    let fx = app.update(press(KeyCode::Right));
    assert!(metrics_effects(&fx).is_empty());
    assert_eq!(app.metrics.app.as_deref(), Some("app001"));
    // The answer for the old selection is dropped, and the current selection is loaded.
    let fx = app.update(Event::MetricsLoaded {
        name: "app000".into(),
        range: LIVE5,
        result: Ok(Box::new(metrics_view("app000", 10))),
    });
    let fifteen = MetricsRange::Live {
        minutes: LIVE_RANGES[2],
    };
    assert_eq!(metrics_effects(&fx), vec![("app001".to_string(), fifteen)]);
    assert!(app.metrics.current().is_none());
    let _ = app.update(Event::MetricsLoaded {
        name: "app001".into(),
        range: fifteen,
        result: Ok(Box::new(metrics_view("app001", 10))),
    });
    assert_eq!(app.metrics.current().unwrap().application_name, "app001");
    // Left wraps around to the last application; ']' and '[' do the same.
    let fx = app.update(press(KeyCode::Left));
    assert_eq!(metrics_effects(&fx), vec![("app000".to_string(), fifteen)]);
    let _ = app.update(Event::MetricsLoaded {
        name: "app000".into(),
        range: fifteen,
        result: Err("database is locked".into()),
    });
    let fx = app.update(ch('['));
    assert_eq!(metrics_effects(&fx), vec![("app002".to_string(), fifteen)]);
    assert!(
        app.metrics.view.error.is_none(),
        "a new selection starts clean"
    );
}

#[test]
fn metrics_history_freezes_the_range_until_live_again() {
    let mut app = loaded(applications(1), false);
    let _ = app.update(ch('5'));
    let _ = app.update(Event::AgentsLoaded(Ok(Vec::new())));
    let _ = app.update(Event::MetricsLoaded {
        name: "app000".into(),
        range: LIVE5,
        result: Ok(Box::new(metrics_view("app000", 10))),
    });
    let _ = app.update(ch('h'));
    let Overlay::Form(f) = &app.overlay else {
        panic!("{:?}", app.overlay)
    };
    assert_eq!(
        f.fields[0].value(),
        "5m",
        "pre-filled with the range on screen"
    );
    // Bad input is explained next to the field, and nothing runs.
    let _ = app.update(ctrl('u'));
    typed(&mut app, "yesterday");
    let Overlay::Form(f) = &app.overlay else {
        panic!()
    };
    assert!(
        f.fields[0]
            .error
            .as_deref()
            .unwrap()
            .contains("neither a time nor a duration")
    );
    assert!(app.update(press(KeyCode::Enter)).is_empty());
    // since after until: refused.
    let _ = app.update(ctrl('u'));
    typed(&mut app, "1h");
    let _ = app.update(press(KeyCode::Tab));
    typed(&mut app, "2h");
    assert!(app.update(press(KeyCode::Enter)).is_empty());
    let Overlay::Form(f) = &app.overlay else {
        panic!()
    };
    assert!(
        f.error
            .as_deref()
            .unwrap()
            .contains("since must come before until")
    );
    // An RFC 3339 range.
    let _ = app.update(ctrl('u'));
    typed(&mut app, "2026-11-28T11:00:00Z");
    let _ = app.update(press(KeyCode::BackTab));
    let _ = app.update(ctrl('u'));
    typed(&mut app, "2026-11-28T10:00:00Z");
    let fx = app.update(press(KeyCode::Enter));
    assert!(matches!(app.overlay, Overlay::None));
    let since: chrono::DateTime<chrono::Utc> = "2026-11-28T10:00:00Z".parse().unwrap();
    let until: chrono::DateTime<chrono::Utc> = "2026-11-28T11:00:00Z".parse().unwrap();
    let hist = MetricsRange::History { since, until };
    assert_eq!(metrics_effects(&fx), vec![("app000".to_string(), hist)]);
    let _ = app.update(Event::MetricsLoaded {
        name: "app000".into(),
        range: hist,
        result: Ok(Box::new(metrics_view("app000", 5))),
    });
    // Frozen: ticks do not reload it.
    let fx = app.update(Event::Tick(app.now + Duration::from_secs(30)));
    assert!(metrics_effects(&fx).is_empty(), "{fx:?}");
    // A duration with an empty until: until is now, frozen.
    let _ = app.update(ch('h'));
    let _ = app.update(ctrl('u'));
    typed(&mut app, "2h");
    let _ = app.update(press(KeyCode::Tab));
    let _ = app.update(ctrl('u'));
    let fx = app.update(press(KeyCode::Enter));
    let [(_, MetricsRange::History { since, until })] = metrics_effects(&fx)[..] else {
        panic!("{fx:?}")
    };
    assert_eq!((until - since).num_minutes(), 120);
    // L goes back to live.
    let _ = app.update(Event::MetricsLoaded {
        name: "app000".into(),
        range: MetricsRange::History { since, until },
        result: Ok(Box::new(metrics_view("app000", 5))),
    });
    let fx = app.update(ch('L'));
    assert_eq!(metrics_effects(&fx), vec![("app000".to_string(), LIVE5)]);
}

#[test]
fn the_runner_turns_a_live_range_into_a_moving_window() {
    let now: chrono::DateTime<chrono::Utc> = "2026-11-28T10:00:00Z".parse().unwrap();
    let q = crate::tui::metrics_query(MetricsRange::Live { minutes: 15 }, now);
    assert_eq!(q.until, Some(now));
    assert_eq!(q.since, Some(now - chrono::Duration::minutes(15)));
    assert_eq!(q.buckets, crate::tui::METRICS_BUCKETS);
    let since = now - chrono::Duration::hours(2);
    let q = crate::tui::metrics_query(MetricsRange::History { since, until: now }, now);
    assert_eq!((q.since, q.until), (Some(since), Some(now)));
}

/// The whole console path with real backends, no terminal: register, press D (agent start
/// through `Ops::execute`, then the demo), let the agent store the reports, load the Metrics
/// tab through `Ops::metrics_view`, draw it, stop the agent through the dialog; the audit log
/// records the console's requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_agent_and_metrics_through_real_ops() {
    use crate::adapters::embedded::{InProcessRuntime, MemoryBus, SqliteStore, SyncMode};
    use crate::ops::{AgentBackends, Ops, Source};
    use crate::ports::{Bus, Runtime, Store};
    use std::sync::Arc;
    let (dir, path) = spec_file();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("rohe.db"), SyncMode::Normal).unwrap());
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let runtime: Arc<dyn Runtime> = Arc::new(InProcessRuntime::new(
        store.clone(),
        bus.clone(),
        crate::agent::AgentOptions::default(),
    ));
    let ops = Ops::new(
        store,
        crate::domain::qoa4ml::ConnectorSettings {
            end_point: "localhost".into(),
            health_check_disable: false,
            registration_url: None,
        },
        Source::Tui,
    )
    .with_agents(AgentBackends {
        bus,
        runtime,
        hosts_agents: true,
        stop_timeout: Duration::from_secs(5),
    });
    let spec = crate::ops::registration::read_spec_file(&path).unwrap();
    ops.execute(Request::RegisterApp {
        spec,
        file: Some(path),
        dry_run: false,
    })
    .await
    .unwrap();
    let mut app = new_app(false);
    let _ = app.start();
    let _ = app.update(Event::AppsLoaded(Ok(ops
        .list_app_summaries()
        .await
        .unwrap())));
    // D: the agent starts first...
    let fx = app.update(ch('D'));
    let reqs = executed(&fx);
    assert_eq!(reqs, vec![cli_agent("start", "cctvs")]);
    let r = ops
        .execute(reqs[0].clone())
        .await
        .map_err(|e| e.to_string());
    let fx = app.update(Event::OpFinished {
        action: "agent.start",
        result: r,
    });
    // ...then the demo, as the runner runs it (a bounded one here).
    assert!(fx.contains(&Effect::StartDemo {
        name: "cctvs".into(),
        rate: DEMO_RATE
    }));
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let opts = crate::ops::demo::DemoOptions {
        rate: 500.0,
        duration: None,
        count: Some(40),
        seed: 7,
    };
    let stats = ops.run_demo("cctvs", &opts, stop_rx, |_| {}).await.unwrap();
    assert_eq!(stats.published, 40);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let st = ops.agent_status(None).await.unwrap();
        let stored = st[0].health.as_ref().map_or(0, |h| h.stored);
        if stored >= 40 {
            let _ = app.update(Event::AgentsLoaded(Ok(st)));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the agent stored {stored}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The Metrics tab loads the app's view through the runner's query.
    let fx = app.update(ch('5'));
    let mut loads = metrics_effects(&fx);
    assert_eq!(loads.len(), 1, "{fx:?}");
    let (name, range) = loads.remove(0);
    let q = crate::tui::metrics_query(range, chrono::Utc::now());
    let view = ops
        .metrics_view(&name, &q)
        .await
        .map(Box::new)
        .map_err(|e| e.to_string());
    let _ = app.update(Event::MetricsLoaded {
        name,
        range,
        result: view,
    });
    let v = app.metrics.current().unwrap();
    assert_eq!(v.reports, 40);
    assert!(v.e2e().is_some_and(|r| r.count == 40));
    // Stop the agent from the Agents tab, confirming.
    let _ = app.update(ch('2'));
    let _ = app.update(ch('x'));
    let _ = app.update(press(KeyCode::Tab));
    let reqs = executed(&app.update(press(KeyCode::Enter)));
    assert_eq!(reqs, vec![cli_agent("stop", "cctvs")]);
    let r = ops.execute(reqs[0].clone()).await.unwrap();
    assert!(r.summary().contains("stopped"), "{}", r.summary());
    let st = ops.agent_status(Some("cctvs")).await.unwrap();
    assert_eq!(st[0].state, AgentState::Stopped);
    let audit = ops.list_audit(None, 10).await.unwrap();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| (e.action.as_str(), e.source.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("app.register", "tui"),
            ("agent.start", "tui"),
            ("agent.stop", "tui")
        ]
    );
}

#[test]
fn a_running_serve_is_checked_every_few_seconds_one_question_at_a_time() {
    let mut app = new_app(false);
    assert!(app.start().contains(&Effect::CheckServe));
    let t0 = app.now;
    // No second question while the first is unanswered.
    let fx = app.update(Event::Tick(t0 + SERVE_CHECK_EVERY * 2));
    assert!(!fx.contains(&Effect::CheckServe), "{fx:?}");
    let status = crate::serve::ServeStatus {
        observation: "127.0.0.1:5010".into(),
        orchestration: "127.0.0.1:5002".into(),
        pid: 4242,
        started_at: chrono::Utc::now(),
        auth: false,
    };
    let _ = app.update(Event::ServeChecked(Some(status.clone())));
    assert_eq!(app.serve, Some(status));
    // The interval has passed: the next tick asks again, then waits out the interval.
    let now = app.now;
    let fx = app.update(Event::Tick(now + Duration::from_secs(1)));
    assert!(fx.contains(&Effect::CheckServe), "{fx:?}");
    let _ = app.update(Event::ServeChecked(app.serve.clone()));
    let asked = app.now;
    let fx = app.update(Event::Tick(asked + Duration::from_secs(1)));
    assert!(!fx.contains(&Effect::CheckServe), "{fx:?}");
    let fx = app.update(Event::Tick(asked + SERVE_CHECK_EVERY));
    assert!(fx.contains(&Effect::CheckServe), "{fx:?}");
    // The server stopped: the item goes.
    let _ = app.update(Event::ServeChecked(None));
    assert_eq!(app.serve, None);
}
