//! Drawing into ratatui's `TestBackend`: every tab at 80x24 and 200x50, empty and full, the
//! help overlay, dialogs, forms, the error state, and hostile strings from data.

use super::*;
use crate::ports::AgentState;
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
pub(super) fn screen(app: &mut App, w: u16, h: u16) -> String {
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
        assert!(s.contains("No observation agents yet."), "{s}");
        assert!(s.contains("press s to"), "{s}");
        let _ = app.update(ctrl('r'));
        let _ = app.update(Event::AgentsLoaded(Ok(vec![
            agent_status("cctvs", AgentState::Running),
            agent_status("bts", AgentState::Stopped),
        ])));
        let s = screen(&mut app, w, h);
        assert!(s.contains("Agents [2/2]"), "{s}");
        assert!(s.contains("running") && s.contains("stopped"), "{s}");
        assert!(
            s.contains("APP") && s.contains("STATE") && s.contains("STORED"),
            "{s}"
        );
    }
}

#[test]
fn cluster_tabs_say_when_they_are_loading_or_failing() {
    for (w, h) in SIZES {
        let mut app = loaded(applications(2), false);
        for (key, tab, what) in [('3', "Nodes", "nodes"), ('4', "Deployments", "deployments")] {
            let _ = app.update(ch(key));
            let s = screen(&mut app, w, h);
            assert!(s.contains(&format!("┌ {tab} [0/0]")), "{s}");
            assert!(s.contains(&format!("Loading {what}…")), "{s}");
        }
        let _ = app.update(Event::DeploymentsLoaded(Err("the cluster is gone".into())));
        let s = screen(&mut app, w, h);
        assert!(s.contains("cannot load deployments"), "{s}");
        assert!(
            s.contains("No deployments to show until the store answers."),
            "{s}"
        );
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
        "actions:\n  - name: quit\n    keys: [Q, ctrl-c]\n",
        "k.yaml",
    )
    .unwrap();
    let mut app = App::new(km, true, Duration::from_secs(2), info());
    let _ = app.update(ch('?'));
    let s = screen(&mut app, 200, 50);
    assert!(s.contains("Q/ctrl-c"), "{s}");
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
        let _ = app.update(ch('P'));
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
        registry: None,
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
    let mut ag = failed_agent(evil);
    ag.handle = "h\u{1b}[?1049l".into();
    ag.reason = Some("\u{1b}[2J gone".into());
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

// ---- agents, demo and metrics ------------------------------------------------------------

const NEW_SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

/// The row of the screen that contains `text`, and its y.
fn line_with<'a>(s: &'a str, text: &str) -> Option<(usize, &'a str)> {
    s.lines().enumerate().find(|(_, l)| l.contains(text))
}

fn on_agents_tab(agents: Vec<crate::ops::AgentStatus>) -> App {
    let mut app = loaded(applications(3), false);
    let _ = app.update(ch('2'));
    let _ = app.update(Event::AgentsLoaded(Ok(agents)));
    app
}

#[test]
fn agents_tab_shows_health_and_failed_agents_in_red() {
    for (w, h) in NEW_SIZES {
        let mut app = on_agents_tab(vec![
            agent_status("app000", AgentState::Running),
            failed_agent("app001"),
            agent_status("app002", AgentState::Stopped),
        ]);
        let s = screen(&mut app, w, h);
        for col in [
            "APP",
            "STATE",
            "RATE/S",
            "STORED",
            "LAG",
            "LAST",
            "DEAD",
            "ERRORS",
            "WINDOWS",
            "ANOMALIES",
        ] {
            assert!(s.contains(col), "{col} at {w}x{h}:\n{s}");
        }
        let (_, run) = line_with(&s, "app000").unwrap();
        for v in ["running", "9.8", "1826", "182", "57"] {
            assert!(run.contains(v), "{v} missing from {run:?}");
        }
        let (y, failed) = line_with(&s, "app001").unwrap();
        assert!(failed.contains("failed (pid gone)"), "{failed:?}");
        // The failed row is red (the selection is on another row).
        let buf = buffer(&mut app, w, h);
        let x = failed.find("failed").unwrap() as u16;
        let x = failed[..x as usize].chars().count() as u16;
        assert_eq!(buf[(x, y as u16)].fg, ratatui::style::Color::Red);
        // The keys of the tab sit in the hint line.
        assert!(s.contains("s start") && s.contains("x stop"), "{s}");
        assert!(s.contains("l logs") && s.contains("D demo"), "{s}");
        if w >= 120 {
            assert!(s.contains("RUNTIME") && s.contains("inprocess"), "{s}");
        }
    }
}

#[test]
fn agent_detail_shows_its_health() {
    let mut app = on_agents_tab(vec![agent_status("app000", AgentState::Running)]);
    let _ = app.update(press(KeyCode::Enter));
    for (w, h) in NEW_SIZES {
        let s = screen(&mut app, w, h);
        assert!(s.contains("agent of app000"), "{s}");
        assert!(
            s.contains("dead-lettered") && s.contains("3 waiting"),
            "{s}"
        );
        if h >= 40 {
            assert!(s.contains("store busy; retried"), "{s}");
        }
    }
}

#[test]
fn agent_dialogs_ask_with_cancel_focused() {
    for (w, h) in NEW_SIZES {
        let mut app = on_agents_tab(vec![agent_status("app000", AgentState::Running)]);
        app.demos.insert(
            "app000".into(),
            crate::tui::app::DemoState {
                rate: 10.0,
                published: 7,
                failed: 0,
                stopping: false,
                last_error: None,
            },
        );
        let _ = app.update(ch('x'));
        let s = screen(&mut app, w, h);
        assert!(s.contains("Stop the agent of app000?"), "{s}");
        assert!(s.contains("[ Cancel ]") && s.contains("Stop"), "{s}");
        assert!(s.contains("The demo keeps publishing"), "{s}");
        let _ = app.update(press(KeyCode::Tab));
        let s = screen(&mut app, w, h);
        assert!(s.contains("[ Stop ]"), "{s}");
        let _ = app.update(press(KeyCode::Esc));
        let _ = app.update(ch('r'));
        let s = screen(&mut app, w, h);
        assert!(s.contains("Restart the agent of app000?"), "{s}");
        let _ = app.update(press(KeyCode::Esc));
        // The status bar shows the demo.
        let s = screen(&mut app, w, h);
        assert!(s.contains("▶ demo app000 7"), "{s}");
    }
}

/// The Metrics tab of `app000` with `view` loaded (and the agent running).
fn on_metrics_tab(view: crate::ops::metrics::MetricsView) -> App {
    let mut app = loaded(applications(2), false);
    let _ = app.update(ch('5'));
    let _ = app.update(Event::AgentsLoaded(Ok(vec![agent_status(
        "app000",
        AgentState::Running,
    )])));
    let _ = app.update(Event::MetricsLoaded {
        name: "app000".into(),
        range: crate::tui::event::MetricsRange::Live { minutes: 5 },
        result: Ok(Box::new(view)),
    });
    app
}

#[test]
fn metrics_tab_full_at_both_sizes() {
    for (w, h) in NEW_SIZES {
        let mut app = on_metrics_tab(metrics_view("app000", 1830));
        let s = screen(&mut app, w, h);
        // Header: the app, the marker and range, the figures.
        assert!(s.contains("◀ app000 ▶ 1/2"), "{s}");
        assert!(s.contains("LIVE") && s.contains("last 5m"), "{s}");
        assert!(s.contains("reports 1830"), "{s}");
        assert!(s.contains("9.9/s") && s.contains("windows 183"), "{s}");
        assert!(
            s.contains("anomalies 3") && s.contains("violations 1"),
            "{s}"
        );
        // Sparklines with their scale.
        assert!(s.contains("reports/5s") && s.contains("max 46"), "{s}");
        assert!(s.contains("e2e p95") && s.contains("max 800ms"), "{s}");
        assert!(s.chars().any(|c| ('▁'..='█').contains(&c)), "{s}");
        // The latest violation in the warning panel.
        assert!(s.contains("latency_e2e p95 = 825ms > 500ms"), "{s}");
        // The percentile table, end-to-end first, latencies in ms.
        for t in [
            "STAGE",
            "METRIC",
            "COUNT",
            "P50",
            "P95",
            "(pipeline)",
            "e2e_latency",
        ] {
            assert!(s.contains(t), "{t}:\n{s}");
        }
        let (y, e2e) = line_with(&s, "e2e_latency").unwrap();
        assert!(e2e.contains("525ms") && e2e.contains("825ms"), "{e2e:?}");
        // Its p95 breaks the contract (column latency_e2e): the row is red.
        let x = e2e[..e2e.find("e2e_latency").unwrap()].chars().count() as u16;
        let buf = buffer(&mut app, w, h);
        assert_eq!(buf[(x, y as u16)].fg, ratatui::style::Color::Red, "{s}");
        for t in [
            "ingestion",
            "2a54d976…",
            "response_time",
            "confidence",
            "0.928",
            "accuracy",
        ] {
            assert!(s.contains(t), "{t}:\n{s}");
        }
        if h >= 40 {
            // Room for the chart, with time on the x-axis.
            assert!(s.contains("end-to-end latency p95 over time"), "{s}");
            assert!(
                s.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)),
                "braille line:\n{s}"
            );
            assert!(s.contains("inference"), "{s}");
        }
        // The keys of the tab.
        assert!(s.contains("t range") && s.contains("h history"), "{s}");
    }
}

#[test]
fn metrics_tab_empty_states_say_what_to_do() {
    for (w, h) in NEW_SIZES {
        // No application at all.
        let mut app = loaded(Vec::new(), false);
        let _ = app.update(ch('5'));
        let _ = app.update(Event::AgentsLoaded(Ok(Vec::new())));
        let s = screen(&mut app, w, h);
        assert!(s.contains("No applications are registered"), "{s}");
        assert!(s.contains("press D"), "{s}");
        // An application, loading.
        let mut app = loaded(applications(1), false);
        let _ = app.update(ch('5'));
        let _ = app.update(Event::AgentsLoaded(Ok(Vec::new())));
        let s = screen(&mut app, w, h);
        assert!(s.contains("Loading metrics of app000"), "{s}");
        // No reports yet, no agent.
        let _ = app.update(Event::MetricsLoaded {
            name: "app000".into(),
            range: crate::tui::event::MetricsRange::Live { minutes: 5 },
            result: Ok(Box::new(metrics_view("app000", 0))),
        });
        let s = screen(&mut app, w, h);
        assert!(s.contains("reports 0"), "{s}");
        assert!(
            s.contains("No reports yet for app000 in the last 5m"),
            "{s}"
        );
        assert!(s.contains("never been started"), "{s}");
        assert!(
            s.contains("start the agent (Agents tab, s) and the demo (D)"),
            "{s}"
        );
        // A store that fails: the error, and the retry.
        let _ = app.update(ctrl('r'));
        let _ = app.update(Event::MetricsLoaded {
            name: "app000".into(),
            range: crate::tui::event::MetricsRange::Live { minutes: 5 },
            result: Err("database is locked".into()),
        });
        let s = screen(&mut app, w, h);
        assert!(s.contains("cannot load metrics"), "{s}");
        assert!(w < 120 || s.contains("database is locked"), "{s}");
    }
}

#[test]
fn metrics_history_is_marked() {
    let mut app = on_metrics_tab(metrics_view("app000", 10));
    let since: chrono::DateTime<chrono::Utc> = "2026-11-01T10:00:00Z".parse().unwrap();
    let until: chrono::DateTime<chrono::Utc> = "2026-11-01T11:00:00Z".parse().unwrap();
    let _ = app.update(ch('h'));
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("Metrics history") && s.contains("Since"), "{s}");
    let _ = app.update(ctrl('u'));
    typed(&mut app, "2026-11-01T10:00:00Z");
    let _ = app.update(press(KeyCode::Tab));
    typed(&mut app, "2026-11-01T11:00:00Z");
    let _ = app.update(press(KeyCode::Enter));
    let range = crate::tui::event::MetricsRange::History { since, until };
    let _ = app.update(Event::MetricsLoaded {
        name: "app000".into(),
        range,
        result: Ok(Box::new(metrics_view("app000", 0))),
    });
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("HISTORY"), "{s}");
    assert!(!s.contains("LIVE"), "{s}");
    assert!(s.contains("Press L to go back to live"), "{s}");
}

#[test]
fn help_lists_the_tab_keys() {
    let mut app = loaded(applications(1), false);
    let _ = app.update(ch('?'));
    let lines: Vec<String> = crate::tui::ui::help_lines(&app, &Theme::colored())
        .iter()
        .map(|l| l.to_string())
        .collect();
    let text = lines.join("\n");
    for t in [
        "Agents tab",
        "Metrics tab",
        "Start the application's observation agent",
        "Stop the selected agent (asks first",
        "Live range: the last 1, 5, 15 or 60 minutes",
        "History: show a fixed time range",
    ] {
        assert!(text.contains(t), "{t}:\n{text}");
    }
    let s = screen(&mut app, 120, 40);
    assert!(s.contains("Help"), "{s}");
}

#[test]
fn application_detail_lists_registry_instances_with_health() {
    let apps = applications(1);
    let mut d = detail(&apps[0]);
    let inst = |id: &str, port: u16, health: &str| crate::ports::registry::Instance {
        name: "inference".into(),
        id: id.into(),
        address: "10.0.0.5".into(),
        port,
        tags: vec!["yolov8".into()],
        meta: [("appName".to_string(), "app000".to_string())].into(),
        ttl_s: 30,
        health: health.into(),
    };
    d.registry = Some(crate::ops::RegistryView {
        backend: "consul (http://127.0.0.1:8500)".into(),
        instances: vec![
            inst("inf-1", 5000, "passing"),
            inst("inf-2", 5001, "critical"),
        ],
        error: None,
    });
    let mut app = loaded(apps.clone(), false);
    let _ = app.update(Event::DetailLoaded {
        name: "app000".into(),
        result: Ok(d.clone()),
    });
    let s = screen(&mut app, 200, 50);
    assert!(s.contains("Registry (2 instances)"), "{s}");
    assert!(s.contains("consul (http://127.0.0.1:8500)"), "{s}");
    let (_, passing) = line_with(&s, "10.0.0.5:5000").expect("first instance");
    assert!(
        passing.contains("passing") && passing.contains("inf-1"),
        "{passing}"
    );
    let (_, critical) = line_with(&s, "10.0.0.5:5001").expect("second instance");
    assert!(critical.contains("critical"), "{critical}");

    // An unreachable registry is said in the pane; the rest of the detail stays.
    d.registry = Some(crate::ops::RegistryView {
        backend: "consul (http://127.0.0.1:8500)".into(),
        instances: Vec::new(),
        error: Some("connection refused".into()),
    });
    let _ = app.update(Event::DetailLoaded {
        name: "app000".into(),
        result: Ok(d),
    });
    let s = screen(&mut app, 200, 50);
    assert!(s.contains("unreachable: connection refused"), "{s}");
    assert!(s.contains("History (1)"), "{s}");
}

#[test]
fn a_running_serve_shows_in_the_status_bar() {
    let mut app = loaded(applications(1), false);
    let s = screen(&mut app, 120, 24);
    assert!(!s.contains("serve :"), "{s}");
    let _ = app.update(Event::ServeChecked(Some(crate::serve::ServeStatus {
        observation: "127.0.0.1:5010".into(),
        orchestration: "127.0.0.1:5002".into(),
        pid: 4242,
        started_at: chrono::Utc::now(),
        auth: true,
    })));
    let s = screen(&mut app, 120, 24);
    assert!(s.contains("⇄ serve :5010 (token)"), "{s}");
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("serve :5010"), "{s}");
}
