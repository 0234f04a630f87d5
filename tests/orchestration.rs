//! Orchestration end to end on the simulated cluster: the real binary for the operator's path
//! (inventory, services, plan, apply, scale, a node failing, re-placement), and the library for
//! reconciliation cases R1/R2 and concurrent writers.

mod common;
use common::{Sandbox, repo};
use rohe::adapters::embedded::{SimulatedCluster, SqliteStore};
use rohe::config::OrchestrationConfig;
use rohe::domain::inventory::OrchestrationState;
use rohe::ops::{Ops, OrchestrationBackends, Request, Response, Source};
use rohe::ports::Store;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

fn file(rel: &str) -> String {
    repo().join(rel).display().to_string()
}

/// node -> instances of `service` from `rohe service list --output json`.
fn placement_of(list: &Value, service: &str) -> BTreeMap<String, u64> {
    list.as_array()
        .expect("array")
        .iter()
        .find(|s| s["service_name"] == service)
        .expect("service listed")["placement"]
        .as_array()
        .expect("placement")
        .iter()
        .map(|p| {
            (
                p[0].as_str().expect("node").to_string(),
                p[1].as_u64().expect("count"),
            )
        })
        .collect()
}

#[test]
fn operator_path_plan_apply_scale_fail_and_re_place() {
    let sb = Sandbox::new();
    let r = sb.json(&["node", "add", "-f", &file("example/nodes/edge-lab.yaml")]);
    assert_eq!(r["message"], "11 node(s) added, 0 updated");
    sb.ok(&["service", "add", "-f", &file("example/services/cctvs.yaml")]);

    // The preview changes nothing.
    let plan = sb.json(&["plan"]);
    let cycle = &plan["cycle"];
    assert_eq!(cycle["dry_run"], true);
    assert_eq!(cycle["starts"].as_array().expect("starts").len(), 7);
    assert!(
        cycle["starts"][0]["why"]
            .as_str()
            .expect("why")
            .starts_with("max-headroom: score ")
    );
    let list = sb.json(&["service", "list"]);
    assert!(
        list.as_array()
            .expect("a")
            .iter()
            .all(|s| s["running"] == 0)
    );

    // Apply places the 7 replicas and creates one Deployment per (service, node).
    let applied = sb.json(&["apply"]);
    assert_eq!(applied["cycle"]["persisted"], true);
    let creates = applied["cycle"]["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter(|o| o["object"]["kind"] == "Deployment" && o["change"] == "create")
        .count();
    assert_eq!(creates, 5);
    let list = sb.json(&["service", "list"]);
    let placed: u64 = list
        .as_array()
        .expect("a")
        .iter()
        .map(|s| s["running"].as_u64().expect("n"))
        .sum();
    assert_eq!(placed, 7);

    // A second apply has nothing to do.
    let again = sb.json(&["apply"]);
    assert!(again["cycle"]["starts"].as_array().expect("s").is_empty());
    assert!(again["cycle"]["stops"].as_array().expect("s").is_empty());

    // Scale out, then in: instances come and go, Deployments follow.
    let up = sb.json(&["scale", "cctvs", "image_ingestion", "4"]);
    assert_eq!(up["cycle"]["starts"].as_array().expect("s").len(), 2);
    let down = sb.json(&["scale", "cctvs", "image_ingestion", "1"]);
    assert_eq!(down["cycle"]["stops"].as_array().expect("s").len(), 3);
    let list = sb.json(&["service", "list"]);
    assert_eq!(
        placement_of(&list, "image_ingestion").values().sum::<u64>(),
        1
    );

    // The busiest node fails: its instances move elsewhere, its Deployments go.
    let nodes = sb.json(&["node", "list"]);
    let busiest = nodes
        .as_array()
        .expect("nodes")
        .iter()
        .max_by_key(|n| {
            n["instances"]
                .as_array()
                .expect("i")
                .iter()
                .map(|i| i[2].as_u64().expect("c"))
                .sum::<u64>()
        })
        .expect("a node")["node"]["node_name"]
        .as_str()
        .expect("name")
        .to_string();
    let failed = sb.json(&["node", "fail", &busiest, "--yes"]);
    let c = &failed["cycle"];
    assert_eq!(c["unavailable_nodes"], serde_json::json!([busiest]));
    let moved = c["stops"].as_array().expect("stops").len();
    assert!(moved > 0);
    assert_eq!(c["starts"].as_array().expect("starts").len(), moved);
    assert!(
        c["starts"]
            .as_array()
            .expect("starts")
            .iter()
            .all(|s| s["node"] != busiest.as_str())
    );
    let list = sb.json(&["service", "list"]);
    for s in list.as_array().expect("a") {
        let name = s["service_name"].as_str().expect("name");
        assert!(
            !placement_of(&list, name).contains_key(&busiest),
            "{name} still on {busiest}"
        );
        assert_eq!(s["running"], s["replicas"], "{name} fully re-placed");
    }
    let nodes = sb.json(&["node", "list"]);
    let failed_node = nodes
        .as_array()
        .expect("n")
        .iter()
        .find(|n| n["node"]["node_name"] == busiest.as_str())
        .expect("listed");
    assert_eq!(failed_node["ready"], false);
    assert_eq!(
        failed_node["node"]["cpu"]["used"], 0.0,
        "resources returned"
    );

    // Every change is in the audit log.
    let audit = sb.json(&["audit", "list"]);
    let actions: Vec<&str> = audit
        .as_array()
        .expect("a")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    for a in ["node.add", "service.add", "apply", "scale", "node.fail"] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    assert!(!actions.contains(&"plan"), "a preview is not audited");

    // The manifests are valid YAML documents for the cluster.
    let yaml = sb.ok(&["manifests", "cctvs"]);
    assert!(yaml.contains("kind: Deployment"));
    assert!(yaml.contains("kubernetes.io/hostname"));
}

#[test]
fn scaling_beyond_capacity_is_refused_and_changes_nothing() {
    let sb = Sandbox::new();
    sb.ok(&["node", "add", "-f", &file("example/nodes/edge-lab.yaml")]);
    sb.ok(&["service", "add", "-f", &file("example/services/cctvs.yaml")]);
    sb.ok(&["apply"]);
    let before = sb.json(&["service", "list"]);
    let out = sb.run(&["scale", "cctvs", "object_detection", "40"]);
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fit on no node"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(sb.json(&["service", "list"]), before);

    // Unknown names: exit 3 with what exists.
    let out = sb.run(&["scale", "cctvs", "nope", "2"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("image_ingestion"));
    let out = sb.run(&["node", "cordon", "nope"]);
    assert_eq!(out.status.code(), Some(3));

    // A bad node file names the field and changes nothing.
    let bad = sb.write(
        "bad.yaml",
        "nodes:\n  - node_name: a\n    mac_address: m1\n    cpu: {capacity: 4000}\n    memory: {capacity: {rss: 0, vms: 1}}\n    cores: {capacity: [100]}\n",
    );
    let out = sb.run(&["node", "add", "-f", bad.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("memory.capacity.rss"));
    assert_eq!(sb.json(&["node", "list"]).as_array().expect("n").len(), 11);

    // A cordoned node takes nothing new; uncordoned it does again.
    sb.ok(&["node", "cordon", "gpu-server-01"]);
    let plan = sb.json(&["scale", "cctvs", "image_ingestion", "6", "--dry-run"]);
    assert!(
        plan["cycle"]["starts"]
            .as_array()
            .expect("s")
            .iter()
            .all(|s| s["node"] != "gpu-server-01")
    );
}

async fn ops_on(path: &std::path::Path) -> (Arc<dyn Store>, Ops) {
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(path, Default::default()).expect("store"));
    let connector = rohe::config::Config::default().connector_settings();
    let ops =
        Ops::new(store.clone(), connector, Source::Cli).with_orchestration(OrchestrationBackends {
            cluster: Arc::new(SimulatedCluster::new(store.clone())),
            config: OrchestrationConfig::default(),
        });
    (store, ops)
}

fn small_node(name: &str, mac: &str) -> String {
    format!(
        "nodes:\n  - node_name: {name}\n    mac_address: \"{mac}\"\n    cpu: {{capacity: 1000}}\n    memory: {{capacity: {{rss: 1000, vms: 1000}}}}\n    cores: {{capacity: [100]}}\n"
    )
}

fn service_yaml(replicas: u32) -> String {
    format!(
        "application: shop\nservices:\n  - service_name: web\n    service_id: shop-web\n    image: nginx:1\n    replicas: {replicas}\n    cpu_required: 600\n    memory_required: {{rss: 100, vms: 100}}\n    cores_required: [50]\n"
    )
}

/// R1: room for 2 of 3 replicas places 2 and keeps 1 pending; a new node takes the third.
/// R2: lowering replicas removes instances and gives the resources back.
#[tokio::test(flavor = "multi_thread")]
async fn reconciliation_cases_r1_and_r2() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, ops) = ops_on(&dir.path().join("s.db")).await;
    let w = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    };
    let mut inv = String::from("nodes:\n");
    for (n, m) in [("n1", "m1"), ("n2", "m2")] {
        inv.push_str(small_node(n, m).trim_start_matches("nodes:\n"));
    }
    let nodes = w("nodes.yaml", inv);
    let svc = w("svc.yaml", service_yaml(3));
    for req in [
        Request::NodeAdd {
            file: nodes,
            dry_run: false,
        },
        Request::ServiceAdd {
            file: svc,
            dry_run: false,
        },
    ] {
        ops.execute(req).await.expect("add");
    }
    let cycle = |r: Response| match r {
        Response::Orchestration(o) => o.cycle.expect("a cycle"),
        other => panic!("unexpected {other:?}"),
    };
    let c = cycle(
        ops.execute(Request::Apply { dry_run: false })
            .await
            .expect("apply"),
    );
    assert_eq!(c.starts.len(), 2);
    assert_eq!(c.unplaced.len(), 1);
    assert_eq!(c.unplaced[0].missing, 1);
    let (st, _) = ops.orchestration_state().await.expect("state");
    assert_eq!(st.services[0].service.running, 2, "persisted running=2");
    // The next cycle, with no room, places nothing and keeps running at 2 (ROHE reset it).
    let c = cycle(
        ops.execute(Request::Apply { dry_run: false })
            .await
            .expect("apply"),
    );
    assert!(c.starts.is_empty());
    let (st, _) = ops.orchestration_state().await.expect("state");
    assert_eq!(st.services[0].service.running, 2);
    assert_eq!(st.services[0].service.instance_ids.len(), 2);
    // A third node: the third replica goes there.
    ops.execute(Request::NodeAdd {
        file: w("n3.yaml", small_node("n3", "m3")),
        dry_run: false,
    })
    .await
    .expect("n3");
    let c = cycle(
        ops.execute(Request::Apply { dry_run: false })
            .await
            .expect("apply"),
    );
    assert_eq!(c.starts.len(), 1);
    assert_eq!(c.starts[0].node, "n3");

    // R2: 3 -> 1 removes two instances and frees their nodes.
    let c = cycle(
        ops.execute(Request::Scale {
            app: "shop".into(),
            service: "web".into(),
            replicas: 1,
            force: false,
            dry_run: false,
        })
        .await
        .expect("scale"),
    );
    assert_eq!(c.stops.len(), 2);
    let (st, _) = ops.orchestration_state().await.expect("state");
    assert_eq!(st.services[0].service.running, 1);
    let used: f64 = st.nodes.iter().map(|n| n.cpu.used).sum();
    assert_eq!(used, 600.0, "two instances' cpu returned");
}

/// Two writers on the same store (two processes, in effect): one keeps scaling, the other keeps
/// adding nodes. Every node added and the last scale survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_are_never_lost() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("s.db");
    let (_, a) = ops_on(&path).await;
    let (_, b) = ops_on(&path).await;
    let seed = dir.path().join("seed.yaml");
    std::fs::write(&seed, small_node("n0", "m0")).expect("seed");
    a.execute(Request::NodeAdd {
        file: seed,
        dry_run: false,
    })
    .await
    .expect("seed node");
    let svc = dir.path().join("svc.yaml");
    std::fs::write(&svc, service_yaml(1)).expect("svc");
    a.execute(Request::ServiceAdd {
        file: svc,
        dry_run: false,
    })
    .await
    .expect("svc");

    let d = dir.path().to_path_buf();
    let adder = tokio::spawn(async move {
        for i in 1..=15 {
            let f = d.join(format!("n{i}.yaml"));
            std::fs::write(&f, small_node(&format!("n{i}"), &format!("m{i}"))).expect("w");
            b.execute(Request::NodeAdd {
                file: f,
                dry_run: false,
            })
            .await
            .expect("node add");
        }
    });
    let scaler = tokio::spawn(async move {
        for i in 0..15u32 {
            a.execute(Request::Scale {
                app: "shop".into(),
                service: "web".into(),
                replicas: 1 + i % 4,
                force: true,
                dry_run: false,
            })
            .await
            .expect("scale");
        }
        a
    });
    adder.await.expect("adder");
    let a = scaler.await.expect("scaler");
    let (st, _) = a.orchestration_state().await.expect("state");
    let OrchestrationState {
        nodes, services, ..
    } = st;
    assert_eq!(nodes.len(), 16, "every node added survives");
    assert_eq!(
        services[0].service.replicas,
        1 + 14 % 4,
        "the last scale wins"
    );
    // Bookkeeping stayed consistent: per-node counts add up to running.
    let on_nodes: u32 = nodes
        .iter()
        .map(|n| n.services.get("shop-web").copied().unwrap_or(0))
        .sum();
    assert_eq!(on_nodes, services[0].service.running);
}

#[test]
fn the_background_orchestrator_reconciles_until_stopped() {
    let sb = Sandbox::new();
    sb.ok(&["node", "add", "-f", &file("example/nodes/edge-lab.yaml")]);
    sb.ok(&["service", "add", "-f", &file("example/services/cctvs.yaml")]);
    let out = sb.run(&["orchestrator", "status"]);
    assert_eq!(out.status.code(), Some(3), "never ran");
    let started = sb.json(&["orchestrator", "start"]);
    let pid = started[0]["pid"].as_i64().expect("pid");
    assert_eq!(started[1], true);
    // Its first cycle places the services without anyone running `apply`.
    let mut placed = 0;
    for _ in 0..100 {
        let list = sb.json(&["service", "list"]);
        placed = list
            .as_array()
            .expect("a")
            .iter()
            .map(|s| s["running"].as_u64().expect("n"))
            .sum::<u64>();
        if placed == 7 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(placed, 7);
    let again = sb.json(&["orchestrator", "start"]);
    assert_eq!(again[0]["pid"].as_i64(), Some(pid), "idempotent");
    let status = sb.json(&["orchestrator", "status"]);
    assert_eq!(status[1], true);
    assert!(status[0]["cycles"].as_u64().expect("cycles") >= 1);
    let stopped = sb.json(&["orchestrator", "stop"]);
    assert_eq!(stopped["stopped"], true);
    let status = sb.json(&["orchestrator", "status"]);
    assert_eq!(status[1], false);
    assert!(
        status[0]["stopped_at"].is_string(),
        "it recorded its own stop"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists() || {
            // A zombie until its parent (the `start` command, gone) is reaped by init.
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .unwrap_or_default()
                .is_empty()
        }
    );
    let audit = sb.json(&["audit", "list"]);
    let actions: Vec<&str> = audit
        .as_array()
        .expect("a")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    for a in [
        "orchestrator.start",
        "orchestrator.cycle",
        "orchestrator.stop",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
}

/// A latency policy over the demo's real reports: object_detection's p95 (SPE2024 profiles,
/// ~0.4 s) is above a 100 ms target, so each cycle adds a replica up to the maximum, within the
/// cooldown rule; in dry-run mode the decision is recorded and nothing changes.
#[test]
fn latency_policy_scales_out_from_the_metrics_pipeline() {
    let sb = Sandbox::new();
    sb.ok(&[
        "app",
        "register",
        "-f",
        &file("example/applications/cctvs.yaml"),
    ]);
    sb.ok(&["node", "add", "-f", &file("example/nodes/edge-lab.yaml")]);
    sb.ok(&["service", "add", "-f", &file("example/services/cctvs.yaml")]);
    sb.ok(&["apply"]);
    sb.ok(&["demo", "--app", "cctvs", "--rate", "50", "--duration", "2s"]);
    let p95 = sb.json(&["metrics", "query", "cctvs", "--since", "10m"])["series"]
        .as_array()
        .expect("series")
        .iter()
        .filter(|r| r["stage"] == "inference" && r["metric"] == "response_time")
        .filter_map(|r| r["p95"].as_f64())
        .fold(0.0, f64::max);
    assert!(p95 > 0.11, "the demo's inference p95 is {p95} s");

    sb.ok(&[
        "autoscale",
        "set",
        "cctvs",
        "object_detection",
        "--min",
        "1",
        "--max",
        "3",
        "--p95-ms",
        "100",
        "--cooldown",
        "0",
    ]);
    // Dry-run mode: decided, recorded, not carried out.
    let out = sb
        .cmd()
        .args(["apply", "--output", "json"])
        .env("ROHE__ORCHESTRATION__AUTOSCALE_DRY_RUN", "true")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("json");
    let d = &r["cycle"]["autoscale"][0];
    assert_eq!(d["dry_run"], true);
    assert_eq!((d["from"].as_u64(), d["to"].as_u64()), (Some(2), Some(3)));
    assert!(d["reason"].as_str().expect("reason").contains("> 100 ms"));
    assert!(r["cycle"]["starts"].as_array().expect("s").is_empty());

    let r = sb.json(&["apply"]);
    assert_eq!(r["cycle"]["autoscale"][0]["to"], 3);
    assert_eq!(r["cycle"]["starts"].as_array().expect("s").len(), 1);
    let r = sb.json(&["apply"]);
    assert!(
        r["cycle"]["autoscale"].as_array().expect("a").is_empty(),
        "at max: no decision"
    );
    let show = sb.json(&["service", "show", "cctvs", "object_detection"]);
    assert_eq!(show["replicas"], 3);
    assert_eq!(show["last_decision"]["to"], 3);
    let audit = sb.json(&["audit", "list"]);
    assert!(
        audit
            .as_array()
            .expect("a")
            .iter()
            .any(|e| e["action"] == "autoscale.set")
    );
}
