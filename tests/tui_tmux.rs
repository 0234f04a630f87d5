//! End to end: the real binary in a real terminal (tmux). Register an application
//! through the form, see it, filter, open its details, unregister it with confirmation, quit,
//! and check that the terminal is left sane (alternate screen left, shell output normal).
//! Then a new user's path with the demo: D, the Metrics tab filling, the Agents tab, stopping
//! the demo and the agent.
//!
//! Skipped (with a message) when tmux is not installed.

mod common;
use common::tmux::Tmux;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const CCTVS: &str = "application_name: cctvs\nrun_id: exp1\nuser_id: aaltosea1\nstages:\n  - name: ingestion\n    microservices:\n      - name: image_ingestion\n        functionality: REST\n        role: ml\n        tags: {modelName: none}\n  - name: inference\n    microservices:\n      - name: yolov8\n        functionality: TensorFlow\n        role: ml\n        tags: {modelName: yolov8n}\n  - name: aggregation\n    microservices:\n      - name: ensemble\n        functionality: Transformation\n        role: ml\n";

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
    let _watchdog = common::Watchdog::new(300, "console_register_filter_details_unregister_quit");
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
    let tmux = Tmux::new("e2e");
    tmux.start(120, 40, &shell);

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
    let _watchdog = common::Watchdog::new(300, "console_exits_when_the_terminal_hangs_up");
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux is not installed: skipping the hang-up test");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let tmux = Tmux::new("hup");
    let d = dir.path().display();
    // exec: the pane's process is the console itself.
    let shell = format!(
        "cd {d} && exec env XDG_DATA_HOME={d} XDG_STATE_HOME={d} XDG_CONFIG_HOME={d} ROHE_CONFIG= {} --store {d}/rohe.db",
        env!("CARGO_BIN_EXE_rohe")
    );
    tmux.start(80, 24, &shell);
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

/// The number right after `label` on the screen (`reports 1830 · ...` gives 1830), skipping
/// places where the label is followed by something else (`reports/5s`).
fn number_after(screen: &str, label: &str) -> Option<u64> {
    screen.match_indices(label).find_map(|(i, _)| {
        let digits: String = screen[i + label.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

/// The words of the table row that starts with `name` (inside the box borders).
fn row_words(screen: &str, name: &str) -> Option<Vec<String>> {
    screen.lines().find_map(|l| {
        let words: Vec<String> = l
            .trim_matches(|c: char| c == '│' || c.is_whitespace())
            .split_whitespace()
            .map(String::from)
            .collect();
        (words.first().map(String::as_str) == Some(name)).then_some(words)
    })
}

fn cli(dir: &Path, store: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rohe"))
        .args(args)
        .arg("--store")
        .arg(store)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("ROHE_CONFIG", "")
        .env_remove("NO_COLOR")
        .current_dir(dir)
        .output()
        .expect("run rohe")
}

/// A new user's path on embedded defaults: register (CLI), press D on the Applications tab
/// (the agent starts inside the console, then the demo), watch reports arrive on the Metrics
/// tab, see the agent running with stored reports on the Agents tab, stop the demo, stop the
/// agent through its confirmation, quit. The console's agent requests are audited with the
/// same arguments as the CLI's.
#[test]
fn console_demo_metrics_and_agents() {
    let _watchdog = common::Watchdog::new(300, "console_demo_metrics_and_agents");
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux is not installed: skipping the console demo end-to-end test");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for d in ["data", "state", "config"] {
        std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
    }
    let store = dir.path().join("data/rohe.db");
    let spec = spec_file(dir.path());
    let out = cli(
        dir.path(),
        &store,
        &["app", "register", "-f", &spec.display().to_string()],
    );
    assert!(out.status.success(), "register: {out:?}");
    let bin = env!("CARGO_BIN_EXE_rohe");
    let d = dir.path().display();
    let shell = format!(
        "cd {d} && env -u NO_COLOR XDG_DATA_HOME={d}/data XDG_STATE_HOME={d}/state \
         XDG_CONFIG_HOME={d}/config ROHE_CONFIG= {bin} --store {}; echo ROHE_EXITED=$?; sleep 60",
        store.display()
    );
    let tmux = Tmux::new("demo");
    tmux.start(120, 40, &shell);
    tmux.wait_for("Applications [1/1]");

    // D on the selected application: its agent starts, then the demo.
    tmux.keys(&["D"]);
    let s = tmux.wait_for("demo of cctvs started");
    assert!(s.contains("▶ demo cctvs"), "{s}");

    // The Metrics tab: reports arrive, then keep arriving.
    tmux.keys(&["5"]);
    let s = tmux.wait_for("◀ cctvs ▶");
    assert!(s.contains("LIVE") && s.contains("last 5m"), "{s}");
    let first = tmux.wait_until("reports > 0 on the Metrics tab", 30, |s| {
        number_after(s, "reports ").filter(|&n| n > 0)
    });
    let later = tmux.wait_until("the reports count to increase", 30, |s| {
        number_after(s, "reports ").filter(|&n| n > first)
    });
    let s = tmux.screen();
    assert!(
        s.contains("e2e_latency") && s.contains("response_time"),
        "{s}"
    );
    assert!(s.contains("agent running"), "{s}");
    assert!(later > first);

    // The Agents tab: running, with stored reports.
    tmux.keys(&["2"]);
    let stored = tmux.wait_until("the agent to show stored reports", 30, |s| {
        let w = row_words(s, "cctvs")?;
        // APP STATE RATE/S STORED ...
        (w.get(1).map(String::as_str) == Some("running"))
            .then(|| w.get(3)?.parse::<u64>().ok())
            .flatten()
            .filter(|&n| n > 0)
    });
    assert!(stored > 0);

    // Stop the demo, then the agent (it asks, with the focus on Cancel).
    tmux.keys(&["D"]);
    tmux.wait_for("demo of cctvs stopped");
    tmux.keys(&["x"]);
    let s = tmux.wait_for("Stop the agent of cctvs?");
    assert!(s.contains("[ Cancel ]"), "{s}");
    tmux.keys(&["Tab"]);
    tmux.wait_for("[ Stop ]");
    tmux.keys(&["Enter"]);
    tmux.wait_for("agent of cctvs: stopped");
    tmux.wait_until("the row to say stopped", 15, |s| {
        let w = row_words(s, "cctvs")?;
        (w.get(1).map(String::as_str) == Some("stopped")).then_some(())
    });

    tmux.keys(&["q"]);
    tmux.wait_for("ROHE_EXITED=0");

    // The same actions from the CLI (a start cannot host an in-process agent and fails, and
    // is audited all the same); both faces must have sent the same requests.
    let _ = cli(dir.path(), &store, &["agent", "start", "cctvs"]);
    let out = cli(dir.path(), &store, &["agent", "stop", "cctvs", "--yes"]);
    assert!(out.status.success(), "{out:?}");
    let out = cli(dir.path(), &store, &["audit", "list", "-o", "json"]);
    assert!(out.status.success(), "{out:?}");
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let entries = entries.as_array().expect("array");
    let args = |action: &str, source: &str| -> serde_json::Value {
        entries
            .iter()
            .find(|e| e["action"] == action && e["source"] == source)
            .unwrap_or_else(|| panic!("no {action} from {source} in {entries:?}"))["args"]
            .clone()
    };
    for action in ["agent.start", "agent.stop"] {
        assert_eq!(args(action, "tui"), args(action, "cli"), "{action}");
    }
    let tui_ok: Vec<(&str, bool)> = entries
        .iter()
        .filter(|e| e["source"] == "tui")
        .map(|e| (e["action"].as_str().unwrap_or(""), e["ok"] == true))
        .collect();
    assert_eq!(tui_ok, [("agent.start", true), ("agent.stop", true)]);
}

/// The Nodes and Deployments tabs on embedded defaults (the simulated cluster): the inventory
/// and the cctvs services are added with the CLI, then in the console: the Deployments tab,
/// the plan (`p`), apply (`A` + confirm), one more replica (`+`), the Nodes tab, a node that
/// runs instances failed (`F` + confirm): its instances are re-placed and every service ends
/// with all its pods running elsewhere. The console's requests are audited like the CLI's.
#[test]
fn console_nodes_and_deployments_plan_apply_scale_fail() {
    let _watchdog =
        common::Watchdog::new(300, "console_nodes_and_deployments_plan_apply_scale_fail");
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux is not installed: skipping the cluster tabs end-to-end test");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for d in ["data", "state", "config"] {
        std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
    }
    let store = dir.path().join("data/rohe.db");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let nodes = root.join("example/nodes/edge-lab.yaml");
    let services = root.join("example/services/cctvs.yaml");
    let out = cli(
        dir.path(),
        &store,
        &["node", "add", "-f", &nodes.display().to_string()],
    );
    assert!(out.status.success(), "node add: {out:?}");
    let out = cli(
        dir.path(),
        &store,
        &["service", "add", "-f", &services.display().to_string()],
    );
    assert!(out.status.success(), "service add: {out:?}");

    let bin = env!("CARGO_BIN_EXE_rohe");
    let d = dir.path().display();
    let shell = format!(
        "cd {d} && env -u NO_COLOR XDG_DATA_HOME={d}/data XDG_STATE_HOME={d}/state \
         XDG_CONFIG_HOME={d}/config ROHE_CONFIG= {bin} --store {}; echo ROHE_EXITED=$?; sleep 60",
        store.display()
    );
    let tmux = Tmux::new("cluster");
    tmux.start(120, 40, &shell);
    tmux.wait_for("1 Applications");

    // Deployments: the four services, nothing placed yet.
    tmux.keys(&["4"]);
    let s = tmux.wait_for("Deployments [4/4]");
    let w = row_words(&s, "cctvs").expect("a cctvs row");
    // APP SERVICE DESIRED RUNNING STATUS ...
    assert_eq!(w[2], "2", "{s}");
    assert_eq!(w[3], "0", "{s}");

    // The plan: what would start where, and why.
    tmux.keys(&["p"]);
    let s = tmux.wait_for("plan (rohe plan)");
    assert!(s.contains("+ start cctvs/image_ingestion on "), "{s}");
    assert!(s.contains("would do: "), "{s}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("Deployments [4/4]");

    // Apply: a confirmation showing the plan, cancel focused.
    tmux.keys(&["A"]);
    let s = tmux.wait_for("Apply this plan to the cluster?");
    assert!(
        s.contains("[ Cancel ]") && s.contains("+ start cctvs/"),
        "{s}"
    );
    tmux.keys(&["Tab"]);
    tmux.wait_for("[ Apply ]");
    tmux.keys(&["Enter"]);
    // Every service placed and its pods running (Pending for 2 s first).
    let all_running = |s: &str| -> Option<Vec<Vec<String>>> {
        let rows: Vec<Vec<String>> = s
            .lines()
            .filter_map(|l| {
                let words: Vec<String> = l
                    .trim_matches(|c: char| c == '│' || c.is_whitespace())
                    .split_whitespace()
                    .map(String::from)
                    .collect();
                (words.first().map(String::as_str) == Some("cctvs")).then_some(words)
            })
            .collect();
        let done = rows.len() == 4
            && rows.iter().all(|w| {
                // DESIRED == RUNNING, status ok, "N Running" pods and nothing else.
                w.len() >= 8
                    && w[2] == w[3]
                    && w[4] == "ok"
                    && w[5] == w[2]
                    && w[6] == "Running"
                    && !w.iter().any(|x| x == "Pending" || x == "NodeLost")
            });
        done.then_some(rows)
    };
    tmux.wait_until("every service running after apply", 30, all_running);

    // One more replica of the selected (first) service.
    let s = tmux.screen();
    let first = row_words(&s, "cctvs").expect("a row");
    let (service, before) = (first[1].clone(), first[2].parse::<u32>().expect("desired"));
    assert!(!service.ends_with('…'), "a service name cut short: {s}");
    let after = (before + 1).to_string();
    tmux.keys(&["+"]);
    tmux.wait_for(&format!("cctvs/{service}: replicas {before} -> {after}"));
    tmux.wait_until("the scaled service to run one more", 30, |s| {
        let w = row_words(s, "cctvs")?;
        (w[1] == service && w[2] == after && w[3] == after && w[5] == after && w[6] == "Running")
            .then_some(())
    });

    // Nodes: find one that runs instances, select it with the filter, fail it.
    tmux.keys(&["3"]);
    let s = tmux.wait_for("Nodes [11/11]");
    let victim = s
        .lines()
        .filter(|l| l.contains('×'))
        .find_map(|l| {
            l.trim_matches(|c: char| c == '│' || c.is_whitespace())
                .split_whitespace()
                .next()
                .map(String::from)
        })
        .unwrap_or_else(|| panic!("no node runs anything:\n{s}"));
    assert!(!victim.ends_with('…'), "a node name cut short: {s}");
    tmux.keys(&["/"]);
    tmux.text(&victim);
    tmux.keys(&["Enter"]);
    tmux.wait_for("Nodes [1/11]");
    tmux.keys(&["F"]);
    let s = tmux.wait_for(&format!("Fail node {victim} (simulated)?"));
    assert!(s.contains("[ Cancel ]") && s.contains("re-placed"), "{s}");
    tmux.keys(&["Tab"]);
    tmux.wait_for("[ Fail node ]");
    tmux.keys(&["Enter"]);
    tmux.wait_for(&format!("node {victim} failed"));
    // The node is failed and runs nothing any more.
    tmux.wait_until("the failed node to be empty", 30, |s| {
        let w = row_words(s, &victim)?;
        (w.get(1).map(String::as_str) == Some("Failed") && !w.iter().any(|x| x.contains('×')))
            .then_some(())
    });
    // Its instances were re-placed: every service has all its pods running again.
    tmux.keys(&["Escape"]);
    tmux.keys(&["4"]);
    let rows = tmux.wait_until("every service running after the failure", 30, all_running);
    let desired: u32 = rows.iter().map(|w| w[2].parse::<u32>().unwrap_or(0)).sum();
    assert_eq!(desired, 2 + 2 + 2 + 1 + 1, "{rows:?}");

    tmux.keys(&["q"]);
    tmux.wait_for("ROHE_EXITED=0");

    // The state agrees: nothing placed on the failed node.
    let out = cli(dir.path(), &store, &["node", "show", &victim, "-o", "json"]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["instances"], serde_json::json!([]), "{v}");
    // Every console action went through ops and into the audit log (the plan, a dry run, is
    // not recorded).
    let out = cli(dir.path(), &store, &["audit", "list", "-o", "json"]);
    assert!(out.status.success(), "{out:?}");
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let tui: Vec<(&str, bool)> = entries
        .as_array()
        .expect("array")
        .iter()
        .filter(|e| e["source"] == "tui")
        .map(|e| (e["action"].as_str().unwrap_or(""), e["ok"] == true))
        .collect();
    for want in ["apply", "scale", "node.fail"] {
        assert!(
            tui.contains(&(want, true)),
            "no successful {want} from the console: {tui:?}"
        );
    }
}
