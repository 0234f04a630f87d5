//! `rohe agent`, `rohe demo` and `rohe metrics` through the real binary on embedded defaults
//! (in-process bus, SQLite store).

mod common;
use common::{Sandbox, example, repo};

fn register(sb: &Sandbox) {
    sb.ok(&[
        "app",
        "register",
        "-f",
        example("cctvs.yaml").to_str().unwrap(),
    ]);
}

#[test]
fn demo_runs_its_agent_in_process_and_metrics_show_the_result() {
    let _watchdog = common::Watchdog::new(
        300,
        "demo_runs_its_agent_in_process_and_metrics_show_the_result",
    );
    let sb = Sandbox::new();
    register(&sb);
    let out = sb.json(&["demo", "--app", "cctvs", "--count", "60", "--rate", "600"]);
    assert_eq!(out["demo"]["published"], 60, "{out}");
    assert_eq!(out["agent"]["stored"], 60, "{out}");
    assert_eq!(out["agent"]["dead_lettered"], 0);
    // The default config analyses every 10 reports.
    assert!(out["agent"]["windows"].as_u64().unwrap() >= 5, "{out}");

    let view = sb.json(&["metrics", "query", "cctvs", "--since", "10m"]);
    assert_eq!(view["reports"], 60);
    let stages: std::collections::BTreeSet<_> = view["series"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["metric"] == "response_time")
        .map(|r| r["stage"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        stages.into_iter().collect::<Vec<_>>(),
        ["inference", "ingestion", "processing"]
    );
    // Filters.
    let only = sb.json(&[
        "metrics",
        "query",
        "cctvs",
        "--since",
        "10m",
        "--stage",
        "ingestion",
        "--metric",
        "response_time",
    ]);
    assert!(
        only["series"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["stage"] == "ingestion" && r["metric"] == "response_time")
    );
    // A range before the demo holds nothing.
    let before = sb.json(&[
        "metrics", "query", "cctvs", "--since", "2h", "--until", "1h",
    ]);
    assert_eq!(before["reports"], 0);

    // The stored analysis documents as NDJSON.
    let tail = sb.ok(&[
        "metrics",
        "tail",
        "cctvs",
        "--last",
        "3",
        "--duration",
        "300ms",
    ]);
    let lines: Vec<serde_json::Value> = tail
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    assert!(lines.len() >= 3, "{tail}");
    assert!(
        lines
            .iter()
            .all(|d| d["window_id"].as_str().unwrap().starts_with('w'))
    );

    let status = sb.json(&["agent", "status"]);
    assert_eq!(status[0]["application_name"], "cctvs");
    assert_eq!(status[0]["state"], "stopped");
    assert_eq!(status[0]["health"]["stored"], 60);

    let audit = sb.json(&["audit", "list"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"agent.start") && actions.contains(&"agent.stop"),
        "{actions:?}"
    );
}

#[test]
fn a_one_shot_command_refuses_an_agent_that_would_die_with_it() {
    let _watchdog = common::Watchdog::new(
        300,
        "a_one_shot_command_refuses_an_agent_that_would_die_with_it",
    );
    let sb = Sandbox::new();
    register(&sb);
    let out = sb.run(&["agent", "start", "cctvs"]);
    assert_eq!(out.status.code(), Some(4), "conflict");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bus.backend"), "{err}");
    assert!(err.contains("rohe demo") && err.contains("amqp"), "{err}");
    // Nothing was recorded.
    assert_eq!(sb.json(&["agent", "status"]), serde_json::json!([]));
}

#[test]
fn stream_config_show_replace_and_bad_input() {
    let _watchdog = common::Watchdog::new(300, "stream_config_show_replace_and_bad_input");
    let sb = Sandbox::new();
    register(&sb);
    let shown = sb.ok(&["agent", "config", "cctvs"]);
    assert!(
        shown.contains("(default)") && shown.contains("latency_e2e"),
        "{shown}"
    );
    let file = repo().join("example/agents/cctvs.yaml");
    let dry = sb.json(&[
        "agent",
        "config",
        "cctvs",
        "--file",
        file.to_str().unwrap(),
        "--dry-run",
    ]);
    assert_eq!(dry["action"], "would_configure");
    assert!(sb.ok(&["agent", "config", "cctvs"]).contains("(default)"));
    let done = sb.json(&["agent", "config", "cctvs", "--file", file.to_str().unwrap()]);
    assert_eq!(done["action"], "configured");
    let shown = sb.ok(&["agent", "config", "cctvs"]);
    assert!(
        shown.contains("(stored)") && shown.contains("latency_gateway"),
        "{shown}"
    );

    // A ROHE agent start file is imported, and says what it mapped and ignored.
    let rohe_start = std::fs::read_dir(repo().join("example/agents/rohe"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            std::fs::read_to_string(p)
                .is_ok_and(|t| t.contains("application_name: cctvs") || t.contains("\"cctvs\""))
        });
    if let Some(p) = rohe_start {
        let r = sb.json(&["agent", "config", "cctvs", "--file", p.to_str().unwrap()]);
        assert!(
            r["config_source"]
                .as_str()
                .unwrap()
                .contains("ROHE start file"),
            "{r}"
        );
    }

    let bad = sb.write("bad.yaml", "application_name: cctvs\nwindow: {size: {count: 0}, trigger: {every: 1}}\ncolumns: []\ngroups: []\n");
    let out = sb.run(&["agent", "config", "cctvs", "--file", bad.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let other = sb.write(
        "other.yaml",
        &std::fs::read_to_string(&file)
            .unwrap()
            .replace("application_name: cctvs", "application_name: bts"),
    );
    let out = sb.run(&[
        "agent",
        "config",
        "cctvs",
        "--file",
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("application_name"));

    for (args, field) in [
        (vec!["demo", "--app", "cctvs", "--rate", "0"], "--rate"),
        (
            vec!["demo", "--app", "cctvs", "--duration", "soon"],
            "--duration",
        ),
        (
            vec!["metrics", "query", "cctvs", "--since", "yesterday-ish"],
            "--since",
        ),
    ] {
        let out = sb.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(field),
            "{args:?}"
        );
    }
    let out = sb.run(&["demo", "--app", "nosuch", "--count", "1"]);
    assert_eq!(out.status.code(), Some(3));
}
