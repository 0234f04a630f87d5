//! Drawing into ratatui's `TestBackend`: every tab at 80x24 and 200x50, empty and full, the
//! help overlay, dialogs, forms, the error state, and hostile strings from data.

use super::*;
use crate::ports::{AgentRecord, AgentState};
use crate::tui::theme::Theme;
use crate::tui::ui;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

const SIZES: [(u16, u16); 2] = [(80, 24), (200, 50)];

fn buffer(app: &mut App, w: u16, h: u16) -> Buffer {
    let _ = app.update(Event::Resize(w, h));
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| ui::draw(f, app, &Theme::colored())).unwrap();
    term.backend().buffer().clone()
}

/// The screen as text, one line per row; also checks that no cell holds a control character.
fn screen(app: &mut App, w: u16, h: u16) -> String {
    let buf = buffer(app, w, h);
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            let s = buf[(x, y)].symbol();
            assert!(
                !s.chars().any(char::is_control),
                "control character {s:?} at {x},{y}"
            );
            out.push_str(s);
        }
        out.push('\n');
    }
    out
}

fn agent(name: &str, state: AgentState) -> AgentRecord {
    AgentRecord {
        application_name: name.into(),
        app_id: uuid::Uuid::new_v4(),
        state,
        runtime: "local".into(),
        handle: "pid 4242".into(),
        updated_at: chrono::Utc::now(),
        config: serde_json::json!({"queue": format!("{name}.#")}),
    }
}

#[test]
fn applications_tab_empty_and_full_at_both_sizes() {
    for (w, h) in SIZES {
        let mut app = loaded(Vec::new(), false);
        let s = screen(&mut app, w, h);
        assert!(s.contains("1 Applications"), "{s}");
        assert!(s.contains("No applications are registered."), "{s}");
        assert!(s.contains(":app register example/applications/cctvs.yaml"));
        assert!(
            s.contains("store: embedded") || s.contains("embedded connected"),
            "{s}"
        );

        let apps = applications(30);
        let mut app = loaded(apps.clone(), false);
        let _ = app.update(Event::DetailLoaded {
            name: "app000".into(),
            result: Ok(detail(&apps[0])),
        });
        let s = screen(&mut app, w, h);
        assert!(s.contains("Applications [30/30]"), "{s}");
        assert!(s.contains("app000") && s.contains("NAME"), "{s}");
        assert!(s.contains("✓") || s.contains("connected"), "{s}");
        if w == 80 {
            // Narrow: the 36-column ID is dropped, no side pane; rows beyond the screen are not drawn.
            assert!(!s.contains("APP ID"), "{s}");
            assert!(!s.contains("Stages ("), "{s}");
            assert!(!s.contains("app029"), "{s}");
            assert!(s.contains("UPDATED"), "{s}");
        } else {
            assert!(s.contains("APP ID"), "{s}");
            // The detail pane beside the table shows the selected application.
            assert!(s.contains("Stages (2)") && s.contains("routing key"), "{s}");
            assert!(s.contains("History (1)") && s.contains("alice@head"), "{s}");
            // Another row: its summary shows at once, the rest once loaded.
            let _ = app.update(ch('j'));
            let s = screen(&mut app, w, h);
            assert!(
                s.contains("Loading stages, microservices and history"),
                "{s}"
            );
            assert!(s.contains("app029"), "{s}");
        }
    }
}

#[test]
fn long_values_are_cut_with_an_ellipsis() {
    let mut a = application("cctvs");
    a.run_id = "a-very-long-run-identifier-that-does-not-fit".into();
    let mut app = loaded(vec![a], false);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("a-very-long-run…"), "{s}");
}

#[test]
fn the_selected_row_is_kept_visible() {
    let mut app = loaded(applications(100), false);
    let _ = app.update(ch('G'));
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("app099"), "{s}");
    assert!(!s.contains("app000"), "{s}");
}

#[test]
fn agents_tab_empty_and_full() {
    for (w, h) in SIZES {
        let mut app = loaded(Vec::new(), false);
        let _ = app.update(ch('2'));
        let _ = app.update(Event::AgentsLoaded(Ok(Vec::new())));
        let s = screen(&mut app, w, h);
        assert!(s.contains("No observation agents are recorded"), "{s}");
        let _ = app.update(ctrl('r'));
        let _ = app.update(Event::AgentsLoaded(Ok(vec![
            agent("cctvs", AgentState::Running),
            agent("bts", AgentState::Stopped),
        ])));
        let s = screen(&mut app, w, h);
        assert!(s.contains("Agents [2/2]"), "{s}");
        assert!(s.contains("running") && s.contains("stopped"), "{s}");
        assert!(s.contains("APPLICATION") && s.contains("STATE"), "{s}");
    }
}

#[test]
fn data_less_tabs_say_what_fills_them() {
    for (w, h) in SIZES {
        let mut app = loaded(applications(2), false);
        for (key, tab, text) in [
            ('3', "Nodes", "No node data"),
            ('4', "Deployments", "No deployment data"),
            ('5', "Metrics", "No metrics"),
        ] {
            let _ = app.update(ch(key));
            let s = screen(&mut app, w, h);
            assert!(s.contains(&format!("┌ {tab} ")), "{s}");
            assert!(s.contains(text), "{s}");
            assert!(s.contains("later release"), "{s}");
        }
    }
}

#[test]
fn help_overlay_lists_the_effective_keys() {
    for (w, h) in SIZES {
        let mut app = loaded(applications(2), false);
        let _ = app.update(ch('?'));
        let s = screen(&mut app, w, h);
        assert!(s.contains("Help"), "{s}");
        assert!(s.contains("q/ctrl-c") && s.contains("Quit rohe"), "{s}");
        assert!(s.contains("j/down"), "{s}");
    }
    let (km, _) = Keymap::with_overrides(
        "actions:\n  - name: quit\n    keys: [x, ctrl-c]\n",
        "k.yaml",
    )
    .unwrap();
    let mut app = App::new(km, true, Duration::from_secs(2), info());
    let _ = app.update(ch('?'));
    let s = screen(&mut app, 200, 50);
    assert!(s.contains("x/ctrl-c"), "{s}");
    assert!(
        s.contains("READ-ONLY: state-changing actions are hidden"),
        "{s}"
    );
    assert!(!s.contains("Register an application (form)"), "{s}");
}

#[test]
fn unregister_dialogs_show_cancel_focused() {
    for (w, h) in SIZES {
        let mut app = loaded(applications(2), false);
        let _ = app.update(ch('d'));
        let s = screen(&mut app, w, h);
        assert!(s.contains("Unregister application app000?"), "{s}");
        assert!(s.contains("[ Cancel ]"), "{s}");
        assert!(!s.contains("[ Unregister ]"), "{s}");
        let _ = app.update(press(KeyCode::Esc));
        let _ = app.update(ch('D'));
        let s = screen(&mut app, w, h);
        assert!(s.contains("Type the application's name to confirm"), "{s}");
        assert!(s.contains("Unregister + purge"), "{s}");
    }
}

#[test]
fn register_form_shows_inline_errors() {
    for (w, h) in SIZES {
        let mut app = loaded(Vec::new(), false);
        let _ = app.update(ch('a'));
        let _ = app.update(press(KeyCode::Tab));
        typed(&mut app, "Bad");
        let s = screen(&mut app, w, h);
        assert!(s.contains("Register an application"), "{s}");
        assert!(s.contains("Description file"), "{s}");
        assert!(s.contains("✗") && s.contains("is not a valid name"), "{s}");
        assert!(s.contains("enter submit"), "{s}");
    }
}

#[test]
fn command_line_and_palette() {
    let mut app = loaded(applications(2), false);
    let _ = app.update(ch(':'));
    typed(&mut app, "app ");
    let s = screen(&mut app, 80, 24);
    assert!(s.contains(":app "), "{s}");
    assert!(s.contains(" register") && s.contains(" unregister"), "{s}");
    let _ = app.update(press(KeyCode::Esc));
    let _ = app.update(ctrl('p'));
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("Command palette"), "{s}");
    assert!(s.contains("quit") && s.contains("Quit rohe"), "{s}");
}

#[test]
fn error_state_shows_the_error_the_age_and_the_retry() {
    for (w, h) in SIZES {
        // Never loaded: the error and the retry, no rows.
        let mut app = new_app(false);
        let _ = app.start();
        let _ = app.update(Event::AppsLoaded(Err(
            "cannot open the store: database is locked".into(),
        )));
        let s = screen(&mut app, w, h);
        assert!(s.contains("cannot load applications"), "{s}");
        assert!(s.contains("retrying in"), "{s}");
        assert!(
            s.contains("No applications to show until the store answers"),
            "{s}"
        );
        assert!(s.contains("degraded"), "{s}");
        // Loaded before: the old rows stay, with their age.
        let mut app = loaded(applications(3), false);
        let _ = app.update(ctrl('r'));
        let _ = app.update(Event::AppsLoaded(Err("timed out".into())));
        let s = screen(&mut app, w, h);
        assert!(
            s.contains("timed out") && s.contains("showing data from"),
            "{s}"
        );
        assert!(s.contains("app002"), "{s}");
    }
}

#[test]
fn read_only_is_shown_and_hides_actions() {
    let mut app = loaded(applications(1), true);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("READ-ONLY"), "{s}");
    assert!(!s.contains("a register"), "{s}");
    assert!(s.contains("? help") || s.contains("?"), "{s}");
}

#[test]
fn tiny_terminal_does_not_panic() {
    let mut app = loaded(applications(3), false);
    let s = screen(&mut app, 19, 5);
    assert!(s.contains("terminal too small"), "{s}");
    let _ = app.update(ch('d'));
    let _ = screen(&mut app, 30, 8);
    let _ = app.update(press(KeyCode::Esc));
    let _ = app.update(ch('a'));
    let _ = screen(&mut app, 30, 8);
}

/// Names and report-like fields with escape sequences, stored bypassing validation, must not
/// reach the terminal raw.
#[test]
fn escape_sequences_from_data_are_never_emitted() {
    let evil = "evil\u{1b}[2J\u{1b}]52;c;aGk=\u{7}";
    let mut a = application("x");
    a.application_name = evil.into();
    a.run_id = "run\u{1b}[31m".into();
    a.description = Some("desc\u{9b}1;1H".into());
    a.stages[0].microservices[0].routing_key = "rk\u{1b}P+q\u{1b}\\".into();
    a.stages[0].microservices[0]
        .tags
        .insert("k\u{1b}".into(), "v\u{1b}[5m".into());
    let detail = crate::ops::AppDetail {
        application: a.clone(),
        history: vec![crate::domain::app::RegistrationEvent {
            at: chrono::Utc::now(),
            action: crate::domain::app::RegistrationAction::Registered,
            client_count: 1,
            run_id: "r\u{1b}[8m".into(),
            user_id: "u".into(),
            actor: "mallory\u{1b}]0;pwned\u{7}@host".into(),
        }],
        agent: None,
        stored_reports: 0,
    };
    let mut app = loaded(vec![a], false);
    let _ = app.update(Event::DetailLoaded {
        name: evil.into(),
        result: Ok(Box::new(detail)),
    });
    for (w, h) in SIZES {
        let s = screen(&mut app, w, h);
        assert!(s.contains("evil\u{FFFD}[2J"), "{s}");
    }
    let _ = app.update(press(KeyCode::Enter));
    let s = screen(&mut app, 200, 50);
    assert!(s.contains("mallory\u{FFFD}]0;pwned"), "{s}");
    let _ = app.update(ch('y'));
    let _ = screen(&mut app, 200, 50);
    let _ = app.update(press(KeyCode::Esc));
    let _ = app.update(ch('d'));
    let _ = screen(&mut app, 80, 24);
    let _ = app.update(press(KeyCode::Esc));
    // An agent record's fields (the report-side data) too.
    let _ = app.update(ch('2'));
    let mut ag = agent(evil, AgentState::Failed);
    ag.handle = "h\u{1b}[?1049l".into();
    ag.config = serde_json::json!({"note": "\u{1b}[2J"});
    let _ = app.update(Event::AgentsLoaded(Ok(vec![ag])));
    let _ = screen(&mut app, 200, 50);
    let _ = app.update(press(KeyCode::Enter));
    let _ = screen(&mut app, 200, 50);
    // And the bytes a real terminal backend writes contain none of the injected sequences.
    let _ = app.update(press(KeyCode::Esc));
    let _ = app.update(ch('1'));
    #[derive(Clone, Default)]
    struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let out = Shared::default();
    let backend = ratatui::backend::CrosstermBackend::new(out.clone());
    let mut term = Terminal::with_options(
        backend,
        ratatui::TerminalOptions {
            viewport: ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, 200, 50)),
        },
    )
    .unwrap();
    let _ = app.update(Event::Resize(200, 50));
    term.draw(|f| ui::draw(f, &app, &Theme::colored())).unwrap();
    let bytes = out.0.borrow().clone();
    let text = String::from_utf8_lossy(&bytes);
    for bad in [
        "\u{1b}[2J",
        "\u{1b}]52",
        "\u{7}",
        "\u{1b}[31m",
        "\u{9b}",
        "\u{1b}P",
    ] {
        assert!(!text.contains(bad), "{bad:?} reached the terminal");
    }
    assert!(text.contains("evil"), "the row was drawn");
}

#[test]
fn no_color_theme_draws_without_colours() {
    let mut app = loaded(applications(3), false);
    let _ = app.update(Event::Resize(80, 24));
    let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    term.draw(|f| ui::draw(f, &app, &Theme::monochrome()))
        .unwrap();
    let buf = term.backend().buffer();
    for c in buf.content() {
        assert_eq!(c.fg, ratatui::style::Color::Reset, "{c:?}");
        assert_eq!(c.bg, ratatui::style::Color::Reset, "{c:?}");
    }
}
