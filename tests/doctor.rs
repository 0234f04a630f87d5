//! `rohe doctor` through the real binary: every configured backend checked, failures named
//! with the setting and the fix, exit 1 when anything fails.

mod common;
use common::Sandbox;

#[test]
fn doctor_passes_on_embedded_defaults_and_names_what_is_broken() {
    let sb = Sandbox::new();
    let checks = sb.json(&["doctor"]);
    let names: Vec<&str> = checks
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| c["check"].as_str().expect("name"))
        .collect();
    for n in ["config", "store", "bus", "agents", "registry", "cluster"] {
        assert!(names.contains(&n), "{n} not checked: {names:?}");
    }
    assert!(
        checks
            .as_array()
            .expect("a")
            .iter()
            .all(|c| c["ok"] == true)
    );

    let out = sb
        .cmd()
        .args(["doctor", "--output", "json"])
        .env("ROHE__REGISTRY__BACKEND", "consul")
        .env("ROHE__REGISTRY__URL", "http://127.0.0.1:9")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let checks: serde_json::Value =
        serde_json::from_str(stdout.lines().next().expect("a line")).expect("json");
    let reg = checks
        .as_array()
        .expect("a")
        .iter()
        .find(|c| c["check"] == "registry")
        .expect("registry checked");
    assert_eq!(reg["ok"], false);
    assert!(
        reg["detail"]
            .as_str()
            .expect("d")
            .starts_with("registry.url")
    );
    assert!(reg["fix"].as_str().expect("fix").contains("Consul"));
}
