//! End to end: the real binary in a real terminal (tmux, 120x40). Register an application
//! through the form, see it, filter, open its details, unregister it with confirmation, quit,
//! and check that the terminal is left sane (alternate screen left, shell output normal).
//!
//! Skipped (with a message) when tmux is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const CCTVS: &str = "application_name: cctvs\nrun_id: exp1\nuser_id: aaltosea1\nstages:\n  - name: ingestion\n    microservices:\n      - name: image_ingestion\n        functionality: REST\n        role: ml\n        tags: {modelName: none}\n  - name: inference\n    microservices:\n      - name: yolov8\n        functionality: TensorFlow\n        role: ml\n        tags: {modelName: yolov8n}\n  - name: aggregation\n    microservices:\n      - name: ensemble\n        functionality: Transformation\n        role: ml\n";

/// A tmux server of our own; killed on drop, also when the test fails.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("run tmux")
    }
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success(), "send-keys {keys:?}");
        // A pause between keys: a lone esc followed at once by a letter reads as alt-letter.
        std::thread::sleep(Duration::from_millis(150));
    }
    fn text(&self, s: &str) {
        assert!(
            self.cmd(&["send-keys", "-t", "e2e", "-l", s])
                .status
                .success(),
            "send-keys -l"
        );
        std::thread::sleep(Duration::from_millis(150));
    }
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "e2e"]).stdout).into_owned()
    }
    fn wait_for(&self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let s = self.screen();
            if s.contains(what) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what:?}; the screen was:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .env_remove("TMUX")
            .output();
    }
}

fn spec_file(dir: &Path) -> PathBuf {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("example/applications/cctvs.yaml");
    if shipped.is_file() {
        return shipped;
    }
    let p = dir.join("cctvs.yaml");
    std::fs::write(&p, CCTVS).expect("write the description");
    p
}

#[test]
fn console_register_filter_details_unregister_quit() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux is not installed: skipping the console end-to-end test");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for d in ["data", "state", "config"] {
        std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
    }
    let store = dir.path().join("data/rohe.db");
    let spec = spec_file(dir.path());
    let bin = env!("CARGO_BIN_EXE_rohe");
    let d = dir.path().display();
    let shell = format!(
        "cd {d} && env -u NO_COLOR XDG_DATA_HOME={d}/data XDG_STATE_HOME={d}/state \
         XDG_CONFIG_HOME={d}/config ROHE_CONFIG= {bin} --store {}; echo ROHE_EXITED=$?; sleep 60",
        store.display()
    );
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmux = Tmux {
        socket: format!("rohe-e2e-{}-{nanos}", std::process::id()),
    };
    let out = tmux.cmd(&[
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-x",
        "120",
        "-y",
        "40",
        "-s",
        "e2e",
        &shell,
    ]);
    assert!(out.status.success(), "tmux new-session: {out:?}");

    // Embedded defaults, empty store.
    let s = tmux.wait_for("No applications are registered.");
    assert!(
        s.contains("1 Applications") && s.contains("5 Metrics"),
        "{s}"
    );
    assert!(s.contains("embedded"), "{s}");

    // Register through the form.
    tmux.keys(&["a"]);
    tmux.wait_for("Register an application");
    tmux.text(&spec.display().to_string());
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("registered cctvs");
    assert!(s.contains("Applications [1/1]"), "{s}");
    assert!(s.contains("cctvs") && s.contains("aaltosea1"), "{s}");

    // Filter.
    tmux.keys(&["/"]);
    tmux.text("zzz");
    let s = tmux.wait_for("No rows match the filter.");
    assert!(s.contains("Applications [0/1]"), "{s}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("Applications [1/1]");
    tmux.keys(&["/"]);
    tmux.text("cct");
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("/cct");
    assert!(s.contains("Applications [1/1]"), "{s}");

    // Details.
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("Stages (3)");
    assert!(
        s.contains("stage_id") && s.contains("microservice_id"),
        "{s}"
    );
    assert!(
        s.contains("cctvs_exchange") && s.contains("routing key"),
        "{s}"
    );
    tmux.keys(&["G"]);
    let s = tmux.wait_for("History (1)");
    assert!(s.contains("Registered clients=1"), "{s}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("NAME");

    // Unregister: the dialog opens on Cancel; move to Unregister and confirm.
    tmux.keys(&["d"]);
    let s = tmux.wait_for("Unregister application cctvs?");
    assert!(s.contains("[ Cancel ]"), "{s}");
    tmux.keys(&["Tab"]);
    tmux.wait_for("[ Unregister ]");
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("unregistered cctvs");
    assert!(s.contains("Applications [0/0]"), "{s}");

    // Quit; the terminal is back to the shell.
    tmux.keys(&["q"]);
    let s = tmux.wait_for("ROHE_EXITED=0");
    assert!(
        !s.contains("Applications ["),
        "the console's screen was left behind:\n{s}"
    );
    let alt = tmux.cmd(&["display-message", "-p", "-t", "e2e", "#{alternate_on}"]);
    assert_eq!(String::from_utf8_lossy(&alt.stdout).trim(), "0");

    // Both actions went through ops and into the audit log, marked as coming from the console.
    let audit = Command::new(bin)
        .args(["audit", "list", "-o", "json", "--store"])
        .arg(&store)
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .current_dir(dir.path())
        .output()
        .expect("rohe audit list");
    assert!(audit.status.success(), "{audit:?}");
    let entries: serde_json::Value = serde_json::from_slice(&audit.stdout).expect("json");
    let actions: Vec<(String, String)> = entries
        .as_array()
        .expect("array")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("").to_string(),
                e["source"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("app.register".to_string(), "tui".to_string()),
            ("app.unregister".to_string(), "tui".to_string())
        ]
    );
    // Logs went to the state directory, not the screen.
    let log = std::fs::read_to_string(dir.path().join("state/rohe/rohe.log")).expect("log file");
    assert!(log.contains("console starting"), "{log}");
}

/// An SSH session that drops (the terminal hangs up) must not leave a console process behind.
#[test]
fn console_exits_when_the_terminal_hangs_up() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux is not installed: skipping the hang-up test");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmux = Tmux {
        socket: format!("rohe-hup-{}-{nanos}", std::process::id()),
    };
    let d = dir.path().display();
    // exec: the pane's process is the console itself.
    let shell = format!(
        "cd {d} && exec env XDG_DATA_HOME={d} XDG_STATE_HOME={d} XDG_CONFIG_HOME={d} ROHE_CONFIG= {} --store {d}/rohe.db",
        env!("CARGO_BIN_EXE_rohe")
    );
    let out = tmux.cmd(&[
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-x",
        "80",
        "-y",
        "24",
        "-s",
        "e2e",
        &shell,
    ]);
    assert!(out.status.success(), "tmux new-session: {out:?}");
    tmux.wait_for("No applications are registered.");
    let pid = String::from_utf8_lossy(
        &tmux
            .cmd(&["display-message", "-p", "-t", "e2e", "#{pane_pid}"])
            .stdout,
    )
    .trim()
    .to_string();
    assert!(!pid.is_empty());
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    assert!(proc_dir.exists());
    let _ = tmux.cmd(&["kill-server"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while proc_dir.exists() && Instant::now() < deadline {
        // A zombie (state Z) has exited too; its parent, tmux, is gone and init reaps it.
        let state = std::fs::read_to_string(proc_dir.join("stat")).unwrap_or_default();
        if state.split(") ").nth(1).is_some_and(|s| s.starts_with('Z')) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let state = std::fs::read_to_string(proc_dir.join("stat")).unwrap_or_default();
    let alive = proc_dir.exists() && !state.split(") ").nth(1).is_some_and(|s| s.starts_with('Z'));
    if alive {
        // Do not leave it spinning behind the test.
        let _ = Command::new("kill").args(["-9", &pid]).status();
    }
    assert!(
        !alive,
        "the console (pid {pid}) kept running after the terminal hung up"
    );
}
