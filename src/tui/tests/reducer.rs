//! Key sequences -> state and the exact `ops::Request` (like kdash's tests of the request a
//! key sends).

use super::*;
use crate::cli::{AppCommand, request_for};
use crate::ops::Request;
use crate::tui::app::{DialogFocus, FieldId, Overlay, Tab, View, backoff};
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
    assert_eq!(app.start(), vec![Effect::LoadApps]);
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
    let _ = app.update(ch('D'));
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
        "actions:\n  - name: move_down\n    keys: [n]\n  - name: help\n    keys: [h, \"?\"]\n",
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
    let _ = app.update(ch('h'));
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
