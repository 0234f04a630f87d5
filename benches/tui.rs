//! Console benchmarks (run with `cargo bench --bench tui`):
//!
//! 1. frame render time of the Applications table with 10,000 rows at 200x50 and 80x24
//!    (ratatui `TestBackend`; target < 2 ms per frame), and the time to re-filter 10,000 rows
//!    on one keystroke;
//! 2. time from process start to the first frame on embedded defaults (empty store; target
//!    < 100 ms), measured by the release binary itself through its documented diagnostic
//!    `ROHE_CONSOLE_DIAG=FILE`, running in a real terminal (tmux);
//! 3. resident memory after start with 10,000 registered applications (target < 50 MB), read
//!    from `/proc/self/status` (VmRSS) by the same diagnostic once the list is on screen.
//!
//! Part 2 and 3 need tmux; without it they are skipped with a message.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rohe::adapters::embedded::{SqliteStore, SyncMode};
use rohe::domain::app::{Application, ApplicationSpec, MicroserviceSpec, StageSpec};
use rohe::ops::{Ops, Source};
use rohe::tui::app::{App, StatusInfo};
use rohe::tui::event::Event;
use rohe::tui::keymap::Keymap;
use rohe::tui::theme::Theme;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const APPS: usize = 10_000;

fn spec(i: usize) -> ApplicationSpec {
    let ms = |name: &str, f: &str, model: &str| MicroserviceSpec {
        name: name.into(),
        functionality: f.into(),
        role: "ml".into(),
        tags: [("modelName".to_string(), model.to_string())].into(),
    };
    ApplicationSpec {
        application_name: format!("app{i:05}"),
        run_id: format!("run{}", i % 97),
        user_id: format!("user{}", i % 13),
        description: None,
        stages: vec![
            StageSpec {
                name: "ingestion".into(),
                description: None,
                microservices: vec![ms("image_ingestion", "REST", "none")],
            },
            StageSpec {
                name: "inference".into(),
                description: None,
                microservices: vec![
                    ms("yolov8", "TensorFlow", "yolov8n"),
                    ms("efficientdet", "TensorFlow", "effdet"),
                ],
            },
            StageSpec {
                name: "aggregation".into(),
                description: None,
                microservices: vec![ms("ensemble", "Transformation", "none")],
            },
        ],
    }
}

fn apps() -> Vec<Application> {
    let now = chrono::Utc::now();
    (0..APPS)
        .map(|i| rohe::domain::app::apply_registration(&spec(i), None, uuid::Uuid::new_v4(), now))
        .collect()
}

fn stats(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = v.iter().map(|d| ms(*d)).sum::<f64>() / v.len() as f64;
    (mean, ms(v[v.len() / 2]), ms(v[(v.len() * 99) / 100]))
}

fn render_bench() {
    let mut app = App::new(
        Keymap::defaults(),
        false,
        Duration::from_secs(2),
        StatusInfo {
            store_backend: "embedded".into(),
            store_location: "/var/lib/rohe/rohe.db".into(),
            config_file: None,
        },
    );
    let _ = app.start();
    let summaries = apps()
        .iter()
        .map(|a| serde_json::to_value(a).and_then(serde_json::from_value))
        .collect::<Result<Vec<_>, _>>();
    let summaries = match summaries {
        Ok(s) => s,
        Err(e) => {
            println!("cannot build the application list: {e}");
            return;
        }
    };
    let _ = app.update(Event::AppsLoaded(Ok(summaries)));
    let theme = Theme::colored();
    for (w, h) in [(200u16, 50u16), (80, 24)] {
        let _ = app.update(Event::Resize(w, h));
        let mut term = match Terminal::new(TestBackend::new(w, h)) {
            Ok(t) => t,
            Err(e) => {
                println!("cannot create a test terminal: {e}");
                return;
            }
        };
        // Warm up, then move the selection each frame so that the visible window changes.
        for _ in 0..20 {
            let _ = term.draw(|f| rohe::tui::ui::draw(f, &app, &theme));
        }
        let mut times = Vec::new();
        for i in 0..500 {
            let key = if i % 50 < 25 {
                KeyCode::PageDown
            } else {
                KeyCode::Down
            };
            let _ = app.update(Event::Key(KeyEvent::new(key, KeyModifiers::NONE)));
            let t = Instant::now();
            let _ = term.draw(|f| rohe::tui::ui::draw(f, &app, &theme));
            times.push(t.elapsed());
        }
        let (mean, median, p99) = stats(times);
        println!(
            "render Applications, {APPS} rows, {w}x{h}: mean {mean:.3} ms, median {median:.3} ms, p99 {p99:.3} ms per frame (target < 2 ms)"
        );
    }
    // One filter keystroke re-filters and re-sorts all rows.
    let _ = app.update(Event::Key(KeyEvent::new(
        KeyCode::Char('/'),
        KeyModifiers::NONE,
    )));
    let mut times = Vec::new();
    for i in 0..50 {
        let c = if i % 2 == 0 { '7' } else { '\u{8}' };
        let ev = if c == '\u{8}' {
            KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE)
        } else {
            KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
        };
        let t = Instant::now();
        let _ = app.update(Event::Key(ev));
        times.push(t.elapsed());
    }
    let (mean, median, p99) = stats(times);
    println!(
        "filter keystroke over {APPS} applications: mean {mean:.3} ms, median {median:.3} ms, p99 {p99:.3} ms"
    );
}

fn fill_store(path: &Path) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let store = SqliteStore::open(path, SyncMode::Normal).map_err(|e| e.to_string())?;
        let ops = Ops::new(
            Arc::new(store),
            rohe::domain::qoa4ml::ConnectorSettings {
                end_point: "localhost".into(),
                health_check_disable: false,
                registration_url: None,
            },
            Source::Cli,
        );
        for i in 0..APPS {
            ops.register_app(&spec(i), false)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

/// Run the release binary in a 200x50 tmux pane with the diagnostic on; return its report.
fn diag_run(dir: &Path, store: &Path, tag: &str) -> Result<(serde_json::Value, Duration), String> {
    let report = dir.join(format!("diag-{tag}.json"));
    let _ = std::fs::remove_file(&report);
    let socket = format!("rohe-bench-{}-{tag}", std::process::id());
    let cmd = format!(
        "env {}={} XDG_DATA_HOME={d}/data XDG_STATE_HOME={d}/state XDG_CONFIG_HOME={d}/config {} --store {}",
        rohe::tui::DIAG_ENV,
        report.display(),
        env!("CARGO_BIN_EXE_rohe"),
        store.display(),
        d = dir.display()
    );
    let t = Instant::now();
    let st = Command::new("tmux")
        .args([
            "-L",
            &socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "200",
            "-y",
            "50",
            &cmd,
        ])
        .env_remove("TMUX")
        .status()
        .map_err(|e| format!("tmux: {e}"))?;
    if !st.success() {
        return Err("tmux new-session failed".into());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let result = loop {
        if let Ok(text) = std::fs::read_to_string(&report)
            && text.ends_with('\n')
        {
            break serde_json::from_str(&text)
                .map(|v| (v, t.elapsed()))
                .map_err(|e| e.to_string());
        }
        if Instant::now() > deadline {
            break Err("no diagnostic report within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = Command::new("tmux")
        .args(["-L", &socket, "kill-server"])
        .status();
    result
}

fn process_bench() {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("start-up and memory: skipped (tmux is not installed)");
        return;
    }
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            println!("cannot create a temp dir: {e}");
            return;
        }
    };
    for d in ["data", "state", "config"] {
        let _ = std::fs::create_dir_all(dir.path().join(d));
    }
    // Start-up on embedded defaults: a fresh (empty) store.
    let mut first = Vec::new();
    let mut wall = Vec::new();
    for i in 0..10 {
        let store = dir.path().join(format!("empty{i}.db"));
        match diag_run(dir.path(), &store, &format!("empty{i}")) {
            Ok((v, w)) => {
                first.push(Duration::from_secs_f64(
                    v["first_frame_ms"].as_f64().unwrap_or(f64::NAN) / 1000.0,
                ));
                wall.push(w);
            }
            Err(e) => {
                println!("start-up: {e}");
                return;
            }
        }
    }
    let (mean, median, _) = stats(first);
    let (wmean, wmedian, _) = stats(wall);
    println!(
        "start to first frame, empty embedded store, 200x50: median {median:.1} ms, mean {mean:.1} ms (in-process, from entering the console); \
         median {wmedian:.1} ms, mean {wmean:.1} ms (wall clock from launching tmux to the report) (target < 100 ms)"
    );
    // Memory with 10,000 applications.
    let store = dir.path().join("full.db");
    let t = Instant::now();
    if let Err(e) = fill_store(&store) {
        println!("memory: cannot fill the store: {e}");
        return;
    }
    println!(
        "(registered {APPS} applications in {:.1} s for the memory run)",
        t.elapsed().as_secs_f64()
    );
    let mut rss = Vec::new();
    for i in 0..3 {
        match diag_run(dir.path(), &store, &format!("full{i}")) {
            Ok((v, _)) => {
                let kb = v["rss_kb"].as_u64().unwrap_or(0);
                rss.push(kb);
                println!(
                    "start with {} applications: first frame {:.1} ms, list on screen {:.1} ms, VmRSS {:.1} MB (target < 50 MB)",
                    v["apps"],
                    v["first_frame_ms"].as_f64().unwrap_or(f64::NAN),
                    v["loaded_ms"].as_f64().unwrap_or(f64::NAN),
                    kb as f64 / 1024.0
                );
            }
            Err(e) => {
                println!("memory: {e}");
                return;
            }
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too, so keep it quick
    // there.
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    render_bench();
    process_bench();
}
