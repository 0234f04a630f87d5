//! `rohe import` on ROHE's own service configuration files (copied from ROHE's repository into
//! tests/fixtures/rohe/): what it maps, what it ignores, that the written file is a valid rohe
//! configuration once its password variable is set, and that no secret is copied.

mod common;
use common::{Sandbox, repo};

fn fixture(name: &str) -> String {
    repo()
        .join("tests/fixtures/rohe")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn observation_config_becomes_store_bus_and_qoa4ml_settings() {
    let sb = Sandbox::new();
    let v = sb.json(&["import", &fixture("observationConfig.yaml")]);
    assert_eq!(v["kind"], "observation");
    assert_eq!(v["config"]["store"]["backend"], "mongodb");
    assert_eq!(
        v["config"]["store"]["url"],
        "mongodb://${MONGODB_USERNAME:-admin}:${MONGODB_PASSWORD}@localhost"
    );
    assert_eq!(v["config"]["store"]["database"], "rohe_observation");
    assert_eq!(v["config"]["bus"]["backend"], "amqp");
    assert_eq!(v["config"]["qoa4ml"]["end_point"], "localhost");
    let ignored: Vec<&str> = v["ignored"]
        .as_array()
        .expect("ignored")
        .iter()
        .map(|k| k["key"].as_str().expect("key"))
        .collect();
    for k in [
        "db_authentication.password",
        "collector.config.in_queue",
        "agent_image",
        "window",
        "timer",
    ] {
        assert!(
            ignored.contains(&k),
            "{k} not reported as ignored: {ignored:?}"
        );
    }
    // Every top-level key of the file is accounted for.
    let text = std::fs::read_to_string(fixture("observationConfig.yaml")).expect("fixture");
    let mapped: Vec<&str> = v["mapped"]
        .as_array()
        .expect("mapped")
        .iter()
        .map(|m| m["from"].as_str().expect("from"))
        .collect();
    for line in text
        .lines()
        .filter(|l| !l.starts_with(' ') && l.contains(':'))
    {
        let key = line.split(':').next().unwrap_or_default();
        assert!(
            mapped
                .iter()
                .chain(&ignored)
                .any(|k| k.split('.').next() == Some(key)),
            "{key} is neither mapped nor ignored"
        );
    }
}

#[test]
fn the_written_orchestration_config_loads_and_keeps_no_secret() {
    let sb = Sandbox::new();
    let out = sb.path().join("imported.yaml");
    let out_s = out.display().to_string();
    let report = sb.ok(&[
        "import",
        &fixture("orchestrationConfig.yaml"),
        "--out",
        &out_s,
    ]);
    assert!(
        report.contains("orchestration.placement.strategy"),
        "{report}"
    );
    let written = std::fs::read_to_string(&out).expect("written");
    assert!(written.contains("interval_s: 10"), "{written}");
    assert!(written.contains("strategy: max-headroom"), "{written}");
    assert!(
        !written.contains(":-admin}@"),
        "a default password was copied: {written}"
    );

    // Loadable as rohe configuration once the password's variable is set, refused clearly
    // before.
    let check = |password: Option<&str>| {
        let mut c = sb.cmd();
        c.args(["--config", &out_s, "config", "check"]);
        match password {
            Some(p) => c.env("MONGODB_PASSWORD", p),
            None => c.env_remove("MONGODB_PASSWORD"),
        };
        c.output().expect("run rohe")
    };
    let ok = check(Some("pw"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let refused = check(None);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("MONGODB_PASSWORD"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let shown = sb
        .cmd()
        .args(["--config", &out_s, "config", "show", "-o", "json"])
        .env("MONGODB_PASSWORD", "pw")
        .output()
        .expect("run rohe");
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("json");
    assert_eq!(
        shown["orchestration"]["placement"]["service_queue"]["queue_balance"],
        3
    );

    // An existing --out is kept unless --force.
    let again = sb.run(&[
        "import",
        &fixture("orchestrationConfig.yaml"),
        "--out",
        &out_s,
    ]);
    assert_eq!(again.status.code(), Some(4), "{again:?}");
    sb.ok(&[
        "import",
        &fixture("orchestrationConfig.yaml"),
        "--out",
        &out_s,
        "--force",
    ]);
}

#[test]
fn other_files_are_refused_with_the_command_that_reads_them() {
    let sb = Sandbox::new();
    let out = sb.run(&["import", &fixture("add_node.yaml")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rohe node add -f"), "{err}");
    let out = sb.run(&["import", "no-such-file.yaml"]);
    assert_eq!(out.status.code(), Some(2));
}
