//! End to end through the built binary on embedded defaults: register every example
//! application, list, show, write QoA4ML configs and read them back, re-register,
//! unregister, and read the audit log.

mod common;
use common::{Sandbox, example};
use rohe::domain::qoa4ml::ClientConfig;
use std::collections::HashSet;

const EXAMPLES: [(&str, &str, usize); 4] = [
    ("cctvs.yaml", "cctvs", 4),
    ("bts.yaml", "bts", 3),
    ("kpi.yaml", "kpi", 3),
    ("object_detection.yaml", "objdetect", 5),
];

#[test]
fn headless_tour() {
    let sb = Sandbox::new();
    let mut app_ids = Vec::new();
    for (file, name, n_ms) in EXAMPLES {
        let f = example(file);
        let r = sb.json(&["app", "register", "-f", f.to_str().unwrap()]);
        assert_eq!(r["created"], true, "{name}");
        assert_eq!(
            r["message"],
            format!(
                "Application {name} created for user {} with run ID: {}",
                r["application"]["user_id"].as_str().unwrap(),
                r["application"]["run_id"].as_str().unwrap()
            )
        );
        let app = &r["application"];
        let id = app["app_id"].as_str().unwrap().to_string();
        assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
        assert_eq!(app["db"], format!("application_{name}_{id}"));
        assert!(app["db"].as_str().unwrap().len() <= 63);
        assert_eq!(app["exchange"], format!("{name}_exchange"));
        assert_eq!(app["binding_key"], format!("{name}.#"));
        assert_eq!(app["client_count"], 1);
        assert_eq!(
            app["metric_collection"],
            format!("metric_collection_{}", app["run_id"].as_str().unwrap())
        );
        let ms: Vec<_> = app["stages"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["microservices"].as_array().unwrap().clone())
            .collect();
        assert_eq!(ms.len(), n_ms, "{name}");
        app_ids.push((name, id));
    }
    // Listing: all four, sorted by name, with stable JSON fields.
    let list = sb.json(&["app", "list"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["application_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bts", "cctvs", "kpi", "objdetect"]);
    let table = sb.ok(&["app", "list"]);
    assert!(table.starts_with("NAME"), "{table}");
    assert_eq!(table.lines().count(), 5);

    // Show: IDs are unique and every routing key has the ROHE shape.
    let show = sb.json(&["app", "show", "cctvs"]);
    assert_eq!(show["history"].as_array().unwrap().len(), 1);
    assert_eq!(show["stored_reports"], 0);
    let mut ids = HashSet::new();
    for s in show["application"]["stages"].as_array().unwrap() {
        assert!(ids.insert(s["stage_id"].as_str().unwrap().to_string()));
        for m in s["microservices"].as_array().unwrap() {
            assert!(ids.insert(m["microservice_id"].as_str().unwrap().to_string()));
            let key = m["routing_key"].as_str().unwrap();
            assert_eq!(
                key,
                format!(
                    "cctvs.aaltosea1.{}.{}.client1",
                    s["stage_id"].as_str().unwrap(),
                    m["instance_id"].as_str().unwrap()
                )
            );
        }
    }

    // QoA4ML configs: one file per microservice, parsed back into the QoA4ML shape.
    let out_dir = sb.path().join("qoa");
    let written = sb.json(&[
        "app",
        "qoa-config",
        "cctvs",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(written.as_array().unwrap().len(), 4);
    let mut files: Vec<_> = std::fs::read_dir(out_dir.join("cctvs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 4);
    let cctvs_id = &app_ids.iter().find(|(n, _)| *n == "cctvs").unwrap().1;
    for f in &files {
        let cfg: ClientConfig =
            rohe::yaml::parse(&std::fs::read_to_string(f).unwrap(), "qoa").unwrap();
        assert_eq!(cfg.client.application_name, "cctvs");
        assert_eq!(&cfg.client.app_id, cctvs_id);
        uuid::Uuid::parse_str(&cfg.client.instance_id).expect("instance_id is a UUID");
        assert_eq!(cfg.connector.len(), 1);
        let c = &cfg.connector[0];
        assert_eq!(
            (c.name.as_str(), c.connector_class.as_str()),
            ("amqp_connector", "AMQP")
        );
        assert_eq!(c.config.exchange_name, "cctvs_exchange");
        assert_eq!(c.config.exchange_type, "topic");
        assert!(c.config.out_routing_key.starts_with("cctvs.aaltosea1."));
        assert!(c.config.out_routing_key.contains(&cfg.client.stage_id));
        assert!(c.config.out_routing_key.contains(&cfg.client.instance_id));
        assert!(cfg.registration_url.is_none());
    }
    // One microservice, printed.
    let one = sb.json(&[
        "app",
        "qoa-config",
        "cctvs",
        "--microservice",
        "inference.object_detection",
    ]);
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(one[0]["client"]["custom_info"]["modelName"], "yolov8n");

    // Re-register: same app_id, client count 2, IDs kept, history of two.
    let again = sb.json(&[
        "app",
        "register",
        "-f",
        example("cctvs.yaml").to_str().unwrap(),
    ]);
    assert_eq!(again["created"], false);
    assert_eq!(again["message"], "Application already exist");
    assert_eq!(&again["application"]["app_id"].as_str().unwrap(), cctvs_id);
    assert_eq!(again["application"]["client_count"], 2);
    assert_eq!(again["application"]["stages"], {
        let mut s = show["application"]["stages"].clone();
        for st in s.as_array_mut().unwrap() {
            for m in st["microservices"].as_array_mut().unwrap() {
                let k = m["routing_key"]
                    .as_str()
                    .unwrap()
                    .replace(".client1", ".client2");
                m["routing_key"] = k.into();
                m["client_number"] = 2.into();
            }
        }
        s
    });
    assert_eq!(
        sb.json(&["app", "show", "cctvs"])["history"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Dry runs change nothing.
    let dry = sb.json(&["app", "unregister", "kpi", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(sb.json(&["app", "list"]).as_array().unwrap().len(), 4);

    // Unregister with --yes; then it is gone (exit 3).
    let un = sb.json(&["app", "unregister", "kpi", "--yes", "--purge"]);
    assert_eq!(un["application_name"], "kpi");
    assert_eq!(un["purge"], true);
    assert_eq!(sb.run(&["app", "show", "kpi"]).status.code(), Some(3));
    assert_eq!(sb.json(&["app", "list"]).as_array().unwrap().len(), 3);
    // Registering it again gives a new app_id.
    let back = sb.json(&[
        "app",
        "register",
        "-f",
        example("kpi.yaml").to_str().unwrap(),
    ]);
    assert_ne!(
        back["application"]["app_id"].as_str().unwrap(),
        app_ids[2].1
    );

    // The audit log holds every change, in order, with who and what.
    let audit = sb.json(&["audit", "list"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "app.register",
            "app.register",
            "app.register",
            "app.register",
            "app.qoa-config",
            "app.register",
            "app.unregister",
            "app.register"
        ]
    );
    for e in audit.as_array().unwrap() {
        assert!(e["actor"].as_str().unwrap().starts_with("tester@"));
        assert_eq!(e["source"], "cli");
        assert_eq!(e["ok"], true);
    }
    assert_eq!(audit[6]["args"]["name"], "kpi");
    assert_eq!(audit[6]["args"]["purge"], true);
    let table = sb.ok(&["audit", "list", "--since", "1h"]);
    assert!(table.contains("app.unregister"));
    assert_eq!(
        sb.json(&["audit", "list", "--since", "2099-01-01T00:00:00Z"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn yaml_output_and_config_commands() {
    let sb = Sandbox::new();
    sb.ok(&[
        "app",
        "register",
        "-f",
        example("bts.yaml").to_str().unwrap(),
    ]);
    let y = sb.ok(&["app", "list", "--output", "yaml"]);
    let v = rohe::yaml::parse_value(&y, "stdout").unwrap();
    assert_eq!(v[0]["application_name"].as_str(), Some("bts"));

    // config show redacts secrets, config check validates.
    let cfg = sb.write(
        "c.yaml",
        "qoa4ml:\n  end_point: amqp://rohe:s3cret@broker:5672/\n",
    );
    let shown = sb.ok(&["--config", cfg.to_str().unwrap(), "config", "show"]);
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("***"));
    let check = sb.json(&["--config", cfg.to_str().unwrap(), "config", "check"]);
    assert_eq!(check["valid"], true);
    let bad = sb.write("bad.yaml", "console:\n  refresh_ms: 5\n");
    let out = sb.run(&["--config", bad.to_str().unwrap(), "config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("console.refresh_ms"));
    // Environment overrides the file; the registration_url then appears in generated configs.
    let out = sb
        .cmd()
        .env(
            "ROHE__QOA4ML__REGISTRATION_URL",
            "http://head:5010/registration",
        )
        .args(["app", "qoa-config", "bts", "--output", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["registration_url"], "http://head:5010/registration");
}

#[test]
fn readonly_refuses_changes() {
    let sb = Sandbox::new();
    let out = sb.run(&[
        "--readonly",
        "app",
        "register",
        "-f",
        example("bts.yaml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("read-only"));
    assert_eq!(sb.json(&["app", "list"]).as_array().unwrap().len(), 0);
}

#[test]
fn completions_and_help() {
    let sb = Sandbox::new();
    let bash = sb.ok(&["completions", "bash"]);
    assert!(bash.contains("qoa-config"));
    for args in [
        &["--help"][..],
        &["app", "--help"],
        &["app", "unregister", "--help"],
        &["audit", "list", "--help"],
    ] {
        let out = sb.ok(args);
        assert!(out.contains("Usage:"), "{args:?}");
    }
    assert!(sb.ok(&["--version"]).starts_with("rohe "));
}
