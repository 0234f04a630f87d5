//! `rohe placement plan`, the real binary, on ROHE's own request files (copied into
//! tests/fixtures/rohe) and rohe's example inventory: the exact JSON shape scripts rely on,
//! the same plan for a strategy's number and name, explanations, and bad input (exit 2, the
//! field named, nothing written anywhere).

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_rohe");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> String {
    repo()
        .join("tests/fixtures/rohe")
        .join(name)
        .display()
        .to_string()
}

/// Run rohe in an empty directory with its own XDG directories (so no configuration or store
/// of the developer is read), returning the output and the directory.
fn rohe(args: &[&str]) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = Command::new(BIN);
    c.current_dir(dir.path())
        .env_remove("ROHE_CONFIG")
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("NO_COLOR", "1");
    for (k, _) in std::env::vars() {
        if k.starts_with("ROHE__") {
            c.env_remove(k);
        }
    }
    let out = c.args(args).output().expect("run rohe");
    (out, dir)
}

fn ok_json(args: &[&str]) -> Value {
    let (out, _dir) = rohe(args);
    assert!(
        out.status.success(),
        "rohe {args:?} exited {:?}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document on stdout")
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("an object").keys().cloned().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn plan_json(nodes: &str, services: &str, strategy: &str) -> Value {
    ok_json(&[
        "placement",
        "plan",
        "--nodes",
        nodes,
        "--services",
        services,
        "--strategy",
        strategy,
        "--output",
        "json",
    ])
}

fn pairs(doc: &Value) -> Vec<(String, String)> {
    doc["placements"]
        .as_array()
        .expect("placements")
        .iter()
        .map(|p| {
            (
                p["service_name"].as_str().expect("name").to_string(),
                p["node"].as_str().expect("node").to_string(),
            )
        })
        .collect()
}

#[test]
fn plan_on_rohe_v2_json_has_the_exact_shape() {
    let doc = plan_json(&fixture("add_node.json"), &fixture("add_service.json"), "1");
    assert_eq!(
        keys(&doc),
        set(&["placements", "unplaced", "removed", "nodes"])
    );

    let placements = doc["placements"].as_array().expect("array");
    assert_eq!(placements.len(), 15);
    for p in placements {
        assert_eq!(keys(p), set(&["service_id", "service_name", "node"]));
    }
    // ROHE 0.2.1's own priority algorithm gives this order on these files (strategy 1).
    let expected = [
        ("kpi_inference_service", "Jetson_xavier_06"),
        ("bts_dataproc_service", "Jetson_nano_04"),
        ("bts_dataproc_service", "Jetson_nano_03"),
        ("bts_inference_service", "Jetson_xavier_06"),
        ("bts_inference_service", "Jetson_nano_02"),
        ("bts_inference_service", "Jetson_nano_01"),
        ("kpi_minio_service", "RaspberryPi_05"),
        ("kpi_minio_service", "RaspberryPi_04"),
        ("object_detection_imgproc_service", "RaspberryPi_03"),
        ("object_detection_imgproc_service", "RaspberryPi_02"),
        ("kpi_database_service", "RaspberryPi_03"),
        ("object_detection_inference_service", "Jetson_nano_04"),
        ("object_detection_web_service", "RaspberryPi_02"),
        ("object_detection_web_service", "RaspberryPi_05"),
        ("kpi_web_service", "RaspberryPi_04"),
    ];
    assert_eq!(
        pairs(&doc),
        expected.map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(placements[0]["service_id"], "EW:VE:TW:WQ:07");
    assert_eq!(doc["unplaced"], serde_json::json!([]));
    assert_eq!(doc["removed"], serde_json::json!([]));

    // Final node states in ROHE's NodeData shape, in file order, whole numbers as integers.
    let nodes = doc["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 9);
    for n in nodes {
        assert_eq!(
            keys(n),
            set(&[
                "node_name",
                "mac_address",
                "status",
                "frequency",
                "accelerator",
                "cpu",
                "memory",
                "cores",
                "services"
            ])
        );
    }
    let xavier = &nodes[8];
    assert_eq!(xavier["node_name"], "Jetson_xavier_06");
    // kpi_inference (4000 mcpu, rss 400, vms 500) + bts_inference (1000, 2500, 500).
    assert_eq!(
        xavier["cpu"],
        serde_json::json!({"capacity": 8000, "used": 5000})
    );
    assert_eq!(
        xavier["memory"],
        serde_json::json!({"capacity": {"rss": 16384, "vms": 16384}, "used": {"rss": 2900, "vms": 1000}})
    );
    assert_eq!(
        xavier["services"],
        serde_json::json!({"EW:VE:TW:WQ:07": 1, "EW:VE:TW:WQ:09": 1})
    );
    let nano4 = &nodes[7];
    assert_eq!(nano4["node_name"], "Jetson_nano_04");
    assert_eq!(nano4["accelerator"]["GPU0"]["used"], 15);
    assert_eq!(nano4["accelerator"]["GPU0"]["accelerator_type"], "gpu");
}

#[test]
fn strategy_numbers_and_names_give_the_same_plan() {
    for (number, name) in [
        ("0", "first-fit"),
        ("1", "max-headroom"),
        ("2", "tight-pack"),
    ] {
        let a = plan_json(
            &fixture("add_node.json"),
            &fixture("add_service.json"),
            number,
        );
        let b = plan_json(
            &fixture("add_node.json"),
            &fixture("add_service.json"),
            name,
        );
        assert_eq!(a, b, "strategy {number} vs {name}");
    }
    // The default is ROHE's default, 1.
    let default = ok_json(&[
        "placement",
        "plan",
        "--nodes",
        &fixture("add_node.json"),
        "--services",
        &fixture("add_service.json"),
        "--output",
        "json",
    ]);
    assert_eq!(
        default,
        plan_json(&fixture("add_node.json"), &fixture("add_service.json"), "1")
    );
}

#[test]
fn plan_on_rohe_v1_yaml_with_legacy_keys() {
    let doc = plan_json(
        &fixture("add_node.yaml"),
        &fixture("add_service.yaml"),
        "first-fit",
    );
    assert_eq!(doc["placements"].as_array().map(Vec::len), Some(15));
    assert_eq!(doc["nodes"].as_array().map(Vec::len), Some(10));
    // `MAC` is read as mac_address and written back under ROHE's v2 name.
    assert_eq!(doc["nodes"][0]["mac_address"], "82:ae:30:11:38:01");
    assert_eq!(doc["nodes"][9]["node_name"], "Jetson_xavier_06");
    // The YAML lists object_detection first; with first-fit the first service (largest CPU:
    // kpi_inference_service, 4000) goes to the first node.
    assert_eq!(
        doc["placements"][0]["service_name"],
        "kpi_inference_service"
    );
    assert_eq!(doc["placements"][0]["node"], "RaspberryPi_01");
}

#[test]
fn explain_gives_every_nodes_verdict_and_score_components() {
    let doc = ok_json(&[
        "placement",
        "plan",
        "--nodes",
        &fixture("add_node.json"),
        "--services",
        &fixture("add_service.json"),
        "--explain",
        "--output",
        "json",
    ]);
    let ex = &doc["explain"];
    assert_eq!(ex["strategy"], "max-headroom");
    assert_eq!(ex["strategy_number"], 1);
    assert_eq!(
        ex["weights"],
        serde_json::json!({"cpu": 1.0, "memory": 1.0})
    );
    let decisions = ex["decisions"].as_array().expect("decisions");
    assert_eq!(decisions.len(), 15);
    let first = &decisions[0];
    assert_eq!(first["service_id"], "EW:VE:TW:WQ:07");
    assert_eq!(first["chosen"], "Jetson_xavier_06");
    let nodes = first["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 9);
    // A Raspberry Pi fits kpi_inference_service (4000 mcpu, [100,80,80,80]):
    // 60/400 + (4096-400)/4096.
    assert_eq!(nodes[0]["node"], "RaspberryPi_02");
    assert_eq!(nodes[0]["fits"], true);
    let score = nodes[0]["score"].as_f64().expect("score");
    assert!((score - (0.15 + 3696.0 / 4096.0)).abs() < 1e-12);
    assert!(nodes[0]["rank_proc"].is_number() && nodes[0]["rank_mem"].is_number());
    // Later, a node that is full says which check failed.
    let rejected = decisions
        .iter()
        .flat_map(|d| d["nodes"].as_array().cloned().unwrap_or_default())
        .find(|n| n["fits"] == false)
        .expect("some node is rejected");
    assert!(rejected["failed"].is_string());
    assert!(rejected["reason"].is_string());

    // The table says the same for people.
    let (out, _dir) = rohe(&[
        "placement",
        "plan",
        "--nodes",
        &fixture("add_node.json"),
        "--services",
        &fixture("add_service.json"),
        "--explain",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("strategy max-headroom (ROHE 1)"), "{text}");
    assert!(text.contains("kpi_inference_service (EW:VE:TW:WQ:07) replica 1: -> Jetson_xavier_06"));
    assert!(text.contains("RANK_PROC"));
    assert!(text.contains("Jetson_xavier_06  5000/8000"), "{text}");
}

#[test]
fn the_example_inventory_takes_every_example_service() {
    let root = repo();
    let nodes = root
        .join("example/nodes/edge-lab.yaml")
        .display()
        .to_string();
    let mut args = vec![
        "placement".to_string(),
        "plan".into(),
        "--nodes".into(),
        nodes,
    ];
    for app in ["cctvs", "bts", "kpi", "objdetect"] {
        args.push("--services".into());
        args.push(
            root.join(format!("example/services/{app}.yaml"))
                .display()
                .to_string(),
        );
    }
    args.extend(["--output".into(), "json".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let doc = ok_json(&args);
    assert_eq!(doc["unplaced"], serde_json::json!([]));
    // 7 cctvs + 4 bts + 3 kpi + 7 objdetect replicas.
    assert_eq!(doc["placements"].as_array().map(Vec::len), Some(21));
    assert_eq!(doc["nodes"].as_array().map(Vec::len), Some(11));
    // Every GPU service lands on a node with a GPU.
    let gpu_nodes: BTreeSet<&str> = doc["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["accelerator"].as_object().is_some_and(|m| !m.is_empty()))
        .filter_map(|n| n["node_name"].as_str())
        .collect();
    for p in doc["placements"].as_array().into_iter().flatten() {
        let name = p["service_name"].as_str().unwrap_or_default();
        if ["object_detection", "x3d-s", "x3d-l", "minirocket"].contains(&name) {
            let node = p["node"].as_str().unwrap_or_default();
            assert!(gpu_nodes.contains(node), "{name} on {node}");
        }
    }
}

#[test]
fn scale_in_is_planned_and_frees_resources() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nodes = dir.path().join("nodes.yaml");
    std::fs::write(
        &nodes,
        "nodes:\n  - node_name: a\n    mac_address: m-a\n    cpu: {capacity: 4000, used: 1000}\n    \
         memory: {capacity: {rss: 4096}, used: {rss: 600}}\n    cores: {capacity: [100, 100], used: [100, 0]}\n    \
         services: {web: 2}\n",
    )
    .expect("write");
    let services = dir.path().join("services.yaml");
    std::fs::write(
        &services,
        "application: shop\nservices:\n  - service_name: web\n    service_id: web\n    image: nginx\n    \
         replicas: 1\n    running: 2\n    node: {m-a: 2}\n    instance_ids: [i1, i2]\n    cpu_required: 500\n    \
         memory_required: {rss: 300}\n    cores_required: [50]\n",
    )
    .expect("write");
    let doc = plan_json(
        &nodes.display().to_string(),
        &services.display().to_string(),
        "1",
    );
    assert_eq!(
        doc["removed"],
        serde_json::json!([{"service_id": "web", "service_name": "web", "node": "a"}])
    );
    assert_eq!(doc["placements"], serde_json::json!([]));
    let a = &doc["nodes"][0];
    assert_eq!(a["cpu"]["used"], 500);
    assert_eq!(a["memory"]["used"]["rss"], 300);
    assert_eq!(a["cores"]["used"], serde_json::json!([50, 0]));
    assert_eq!(a["services"], serde_json::json!({"web": 1}));
}

struct Bad {
    name: &'static str,
    nodes: &'static str,
    services: &'static str,
    extra: &'static [&'static str],
    /// Text the error must contain: the field, and the complaint.
    expect: &'static [&'static str],
}

const NODE_OK: &str = "nodes:\n  - {node_name: a, mac_address: m, cpu: {capacity: 1000}, memory: {capacity: {rss: 1000}}, cores: {capacity: [100]}}\n";
const SVC_OK: &str = "application: shop\nservices:\n  - {service_name: web, service_id: w, image: nginx, replicas: 1, cpu_required: 100, memory_required: {rss: 10}}\n";

fn bad_cases() -> Vec<Bad> {
    vec![
        Bad {
            name: "unknown node field",
            nodes: "nodes:\n  - node_name: a\n    mac_address: m\n    cpu: {capacity: 1000}\n    memory: {capacity: {rss: 1000}}\n    cores: {capacity: [100]}\n    gpus: 2\n",
            services: SVC_OK,
            extra: &[],
            expect: &["nodes.yaml:7", "nodes[0].gpus", "unknown field"],
        },
        Bad {
            name: "negative capacity",
            nodes: "nodes:\n  - {node_name: a, mac_address: m, cpu: {capacity: -1}, memory: {capacity: {rss: 1000}}, cores: {capacity: [100]}}\n",
            services: SVC_OK,
            extra: &[],
            expect: &["nodes[0].cpu.capacity", "negative"],
        },
        Bad {
            name: "missing mac address",
            nodes: "nodes:\n  - {node_name: a, cpu: {capacity: 1}, memory: {capacity: {rss: 1}}, cores: {capacity: [100]}}\n",
            services: SVC_OK,
            extra: &[],
            expect: &["mac_address", "missing field"],
        },
        Bad {
            name: "per-core lists of different lengths",
            nodes: "nodes:\n  - {node_name: a, mac_address: m, cpu: {capacity: 1}, memory: {capacity: {rss: 1}}, cores: {capacity: [100, 100], used: [0]}}\n",
            services: SVC_OK,
            extra: &[],
            expect: &["nodes[0].cores.used", "1 per-core figures for 2 cores"],
        },
        Bad {
            name: "replicas not a number",
            nodes: NODE_OK,
            services: "application: shop\nservices:\n  - {service_name: web, service_id: w, image: nginx, replicas: many, cpu_required: 100, memory_required: {rss: 10}}\n",
            extra: &[],
            expect: &["services.yaml:3", "services[0].replicas", "invalid type"],
        },
        Bad {
            name: "sensitivity out of range",
            nodes: NODE_OK,
            services: "application: shop\nservices:\n  - {service_name: web, service_id: w, image: nginx, replicas: 1, cpu_required: 100, memory_required: {rss: 10}, sensitivity: 7}\n",
            extra: &[],
            expect: &["services[0].sensitivity", "7 is not a sensitivity"],
        },
        Bad {
            name: "services given as nodes",
            nodes: "command: ADD SERVICE\ndata: {}\n",
            services: SVC_OK,
            extra: &[],
            expect: &["command", "ADD SERVICE"],
        },
        Bad {
            name: "unknown strategy",
            nodes: NODE_OK,
            services: SVC_OK,
            extra: &["--strategy", "best-fit"],
            expect: &["--strategy", "\"best-fit\" is not a strategy"],
        },
        Bad {
            name: "zero weights",
            nodes: NODE_OK,
            services: SVC_OK,
            extra: &["--cpu-weight", "0", "--memory-weight", "0"],
            expect: &["--cpu-weight/--memory-weight", "both weights are 0"],
        },
        Bad {
            name: "priority out of range",
            nodes: NODE_OK,
            services: SVC_OK,
            extra: &["--priority", "9"],
            expect: &["--priority", "9 is not a priority"],
        },
    ]
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

#[test]
fn bad_input_exits_2_and_names_the_field() {
    for case in bad_cases() {
        let dir = tempfile::tempdir().expect("tempdir");
        let nodes = write(dir.path(), "nodes.yaml", case.nodes);
        let services = write(dir.path(), "services.yaml", case.services);
        let mut args = vec![
            "placement",
            "plan",
            "--nodes",
            &nodes,
            "--services",
            &services,
        ];
        args.extend_from_slice(case.extra);
        let (out, sandbox) = rohe(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", case.name);
        assert!(out.stdout.is_empty(), "{}: printed a plan", case.name);
        for want in case.expect {
            assert!(
                stderr.contains(want),
                "{}: {want:?} not in {stderr}",
                case.name
            );
        }
        // Nothing was written: no store, no state, no config.
        let left: Vec<_> = std::fs::read_dir(sandbox.path())
            .expect("read sandbox")
            .collect();
        assert!(left.is_empty(), "{}: wrote {left:?}", case.name);
    }
}

#[test]
fn missing_and_malformed_files_exit_2_with_the_file_named() {
    let (out, _d) = rohe(&[
        "placement",
        "plan",
        "--nodes",
        "no-such-nodes.json",
        "--services",
        &fixture("add_service.json"),
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err: Value = serde_json::from_slice(&out.stderr).expect("JSON error with --output json");
    assert_eq!(err["exit_code"], 2);
    assert_eq!(err["error"]["field"], "--nodes");
    assert_eq!(err["error"]["file"], "no-such-nodes.json");

    let dir = tempfile::tempdir().expect("tempdir");
    let broken = write(
        dir.path(),
        "broken.json",
        "{\"data\": {\"n\": {\"node_name\": \"a\",\n \"cpu\": }}}",
    );
    let (out, _d) = rohe(&[
        "placement",
        "plan",
        "--nodes",
        &broken,
        "--services",
        &fixture("add_service.json"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.json:2"), "{stderr}");
    assert!(stderr.contains("data.n.cpu"), "{stderr}");

    // The same service id in two files.
    let (out, _d) = rohe(&[
        "placement",
        "plan",
        "--nodes",
        &fixture("add_node.json"),
        "--services",
        &fixture("add_service.json"),
        "--services",
        &fixture("add_service.yaml"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("service_id"), "{stderr}");
    assert!(stderr.contains("EW:VE:TW:WQ:"), "{stderr}");

    // --services is required.
    let (out, _d) = rohe(&["placement", "plan", "--nodes", &fixture("add_node.json")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--services"));
}

#[test]
fn yaml_output_is_the_same_document() {
    let json = plan_json(&fixture("add_node.json"), &fixture("add_service.json"), "2");
    let (out, _d) = rohe(&[
        "placement",
        "plan",
        "--nodes",
        &fixture("add_node.json"),
        "--services",
        &fixture("add_service.json"),
        "--strategy",
        "2",
        "--output",
        "yaml",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let yaml = rohe::yaml::parse_value(&text, "stdout").expect("yaml");
    let as_json = serde_json::to_value(yaml).expect("as json");
    assert_eq!(as_json, json);
}
