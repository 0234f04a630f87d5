//! Placement benchmark (issue 5). Prints figures; asserts nothing about time.
//!
//!   cargo bench --bench placement
//!
//! 1. One placement cycle for 10,000 requested replicas onto 1,000 nodes (target < 50 ms),
//!    per strategy, and how the time grows with nodes and replicas.
//! 2. The same plan computed by ROHE's own Python code (`pip install rohe==0.2.1` into
//!    `target/rohe-py`): its `PriorityAlgorithm.find_allocate` and `Allocator.update_node`,
//!    driven by ROHE's allocation loop without MongoDB, services in the same queue order. The
//!    speed ratio and whether both plans are identical are printed; if the Python side cannot
//!    run, the reason is printed instead.
//!
//! Inputs are generated the way `shared/fixtures/scale/README.md` describes (ROHE's 9 nodes
//! and 9 services copied with unique names, MAC addresses and ids, in file order), from the
//! copies in tests/fixtures/rohe; when `../shared/fixtures/scale` exists the generated files
//! are checked against it. Environment: ROHE_BENCH_PY_RUNS (Python runs at 1000/10000,
//! default 1; each takes over a minute), ROHE_BENCH_NO_PYTHON=1 to skip the Python side.

use rohe::domain::placement::{Cluster, PlacementConfig, Plan, Strategy, plan};
use rohe::domain::resources::{parse_nodes, parse_services};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `{"data": {"node1": {...}, ...}}` with `n` nodes copied from ROHE's 9, in file order.
fn nodes_json(base: &Value, n: usize) -> String {
    let base: Vec<&Value> = base["data"].as_object().expect("data").values().collect();
    let mut out = String::from("{\"data\": {");
    for i in 0..n {
        let mut node = base[i % base.len()].clone();
        let name = format!("{}_{i:06}", node["node_name"].as_str().expect("node_name"));
        node["node_name"] = Value::String(name);
        node["mac_address"] = Value::String(format!(
            "02:00:00:{:02x}:{:02x}:{:02x}",
            (i >> 16) & 0xff,
            (i >> 8) & 0xff,
            i & 0xff
        ));
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "\"node{}\": {}", i + 1, node);
    }
    out.push_str("}}");
    out
}

/// ROHE's 9 services (application, service) in file order, copied until `replicas` are
/// requested in total, grouped by application copy.
fn services_json(base: &Value, replicas: u64) -> String {
    let mut flat: Vec<(&str, &Value)> = vec![];
    for (app, services) in base["data"].as_object().expect("data") {
        for s in services.as_object().expect("services").values() {
            flat.push((app.as_str(), s));
        }
    }
    let mut out = String::from("{\"data\": {");
    let mut total = 0u64;
    let mut j = 0usize;
    let mut current_app = String::new();
    while total < replicas {
        let (app, s) = flat[j % flat.len()];
        let app_name = format!("{app}_{:06}", j / flat.len());
        if app_name != current_app {
            if !current_app.is_empty() {
                out.push_str("}, ");
            }
            let _ = write!(out, "\"{app_name}\": {{");
            current_app = app_name;
        } else {
            out.push_str(", ");
        }
        let mut s = s.clone();
        let id = format!("{}:{j:06}", s["service_id"].as_str().expect("id"));
        let name = format!("{}_{j:06}", s["service_name"].as_str().expect("name"));
        s["service_id"] = Value::String(id);
        s["service_name"] = Value::String(name);
        total += s["replicas"].as_u64().expect("replicas");
        let _ = write!(out, "\"svc{j}\": {s}");
        j += 1;
    }
    assert_eq!(
        total, replicas,
        "the copies do not add up to {replicas} replicas"
    );
    out.push_str("}}}");
    out
}

struct Input {
    nodes_file: PathBuf,
    services_file: PathBuf,
    cluster: Cluster,
}

fn input(dir: &Path, base_nodes: &Value, base_services: &Value, n: usize, r: u64) -> Input {
    let nodes_text = nodes_json(base_nodes, n);
    let services_text = services_json(base_services, r);
    let nodes_file = dir.join(format!("nodes_{n}_{r}.json"));
    let services_file = dir.join(format!("services_{n}_{r}.json"));
    std::fs::write(&nodes_file, &nodes_text).expect("write nodes");
    std::fs::write(&services_file, &services_text).expect("write services");
    let nodes = parse_nodes(&nodes_text, &nodes_file.display().to_string()).expect("nodes");
    let services =
        parse_services(&services_text, &services_file.display().to_string()).expect("services");
    Input {
        nodes_file,
        services_file,
        cluster: Cluster::new(nodes, services).expect("cluster"),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Median time of one cycle on a fresh copy of the input (the copy is not timed).
fn time_plan(c: &Cluster, cfg: &PlacementConfig, runs: usize) -> (Duration, Plan) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let mut copy = c.clone();
        let t = Instant::now();
        let p = plan(&mut copy, cfg, false);
        times.push(t.elapsed());
        last = Some(p);
    }
    (median(times), last.expect("at least one run"))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

const PY_SCRIPT: &str = r#"
import json, sys, time
from rohe.common.data_models import NodeData, ServiceData, OrchestrateAlgorithmConfig
from rohe.orchestration.resource_management import Node, Service
from rohe.orchestration.allocation.algorithms.priority import PriorityAlgorithm
from rohe.orchestration.allocation.allocator import Allocator

nodes_f, svcs_f, strategy = sys.argv[1], sys.argv[2], int(sys.argv[3])
nodes = {}
for _, n in json.load(open(nodes_f))["data"].items():
    node = Node(NodeData(**n))
    nodes[node.id] = node
services = [Service(ServiceData(**s))
            for _, m in json.load(open(svcs_f))["data"].items() for _, s in m.items()]
# ROHE's queue with priority 0: CPU descending; ties in file order (rohe-spec 4.3).
order = sorted(range(len(services)), key=lambda i: (-services[i].cpu, i))
cfg = OrchestrateAlgorithmConfig(algorithm="priority", weights={"cpu": 1, "memory": 1},
                                 strategy=strategy)
algorithm = PriorityAlgorithm()
allocator = Allocator.__new__(Allocator)  # update_node needs no database
placements = []
start = time.perf_counter()
# Allocator.allocate's loop, without the database sync.
for i in order:
    s = services[i]
    for _ in range(s.replicas - s.running):
        node_id = algorithm.find_allocate(s, nodes, cfg)
        if node_id is None:
            break
        allocator.update_node(nodes[node_id], s)
        placements.append((s.id, nodes[node_id].name))
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "placements": placements}))
"#;

/// The venv's python, installing ROHE into it when missing; Err says why it cannot run.
fn rohe_python(target: &Path) -> Result<PathBuf, String> {
    let venv = target.join("rohe-py");
    let python = venv.join("bin/python");
    let has_rohe = |py: &Path| {
        Command::new(py)
            .args(["-c", "import rohe.orchestration.resource_management"])
            .env("ROHE_PATH", target)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if python.exists() && has_rohe(&python) {
        return Ok(python);
    }
    println!(
        "installing ROHE 0.2.1 into {} (pip install rohe==0.2.1)...",
        venv.display()
    );
    let out = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .map_err(|e| format!("cannot run python3 to create a venv: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "python3 -m venv failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let out = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "rohe==0.2.1"])
        .output()
        .map_err(|e| format!("cannot run pip: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(5).collect();
        return Err(format!(
            "pip install rohe==0.2.1 failed: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    if has_rohe(&python) {
        Ok(python)
    } else {
        Err("rohe was installed but `import rohe.orchestration.resource_management` fails".into())
    }
}

struct PyRun {
    seconds: f64,
    placements: Vec<(String, String)>,
}

fn run_python(python: &Path, dir: &Path, inp: &Input, strategy: u8) -> Result<PyRun, String> {
    let script = dir.join("rohe_plan.py");
    std::fs::write(&script, PY_SCRIPT).map_err(|e| format!("writing the script: {e}"))?;
    let out = Command::new(python)
        .arg(&script)
        .arg(&inp.nodes_file)
        .arg(&inp.services_file)
        .arg(strategy.to_string())
        .env("ROHE_PATH", dir) // ROHE refuses to import without it
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "ROHE's code failed: {}",
            err.lines().last().unwrap_or("(no output)")
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or("no result line from the script")?;
    let v: Value = serde_json::from_str(line).map_err(|e| format!("bad result: {e}"))?;
    let placements = v["placements"]
        .as_array()
        .ok_or("no placements in the result")?
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap_or_default().to_string(),
                p[1].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    Ok(PyRun {
        seconds: v["seconds"].as_f64().ok_or("no time in the result")?,
        placements,
    })
}

fn main() {
    let root = repo();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        root.join(target)
    };
    let dir = target.join("placement-bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let base_nodes: Value =
        serde_json::from_str(&read(&root.join("tests/fixtures/rohe/add_node.json"))).expect("json");
    let base_services: Value =
        serde_json::from_str(&read(&root.join("tests/fixtures/rohe/add_service.json")))
            .expect("json");

    println!("placement benchmark: one cycle of rohe's placement (domain::placement::plan)");
    println!("command: cargo bench --bench placement\n");

    let t = Instant::now();
    let big = input(&dir, &base_nodes, &base_services, 1000, 10_000);
    println!(
        "input 1000 nodes / {} services / 10000 replicas: generated and parsed in {}",
        big.cluster.services.len(),
        ms(t.elapsed())
    );
    let shared = root.join("../shared/fixtures/scale");
    for (n, r) in [(100usize, 1000u64), (1000, 10_000)] {
        let nf = shared.join(format!("nodes_{n}_{r}.json"));
        let sf = shared.join(format!("services_{n}_{r}.json"));
        if !(nf.exists() && sf.exists()) {
            println!("(../shared/fixtures/scale not found: generated inputs not compared)");
            break;
        }
        let theirs = Cluster::new(
            parse_nodes(&read(&nf), &nf.display().to_string()).expect("shared nodes"),
            parse_services(&read(&sf), &sf.display().to_string()).expect("shared services"),
        )
        .expect("cluster");
        let ours = input(&dir, &base_nodes, &base_services, n, r).cluster;
        println!(
            "generated {n}/{r} {} shared/fixtures/scale/{}",
            if ours == theirs {
                "is identical to"
            } else {
                "DIFFERS from"
            },
            nf.file_name().and_then(|f| f.to_str()).unwrap_or_default()
        );
    }

    println!("\n1. 1000 nodes, 10000 requested replicas, per strategy (median of 15 runs)");
    let mut headline = Duration::ZERO;
    let mut rust_plan_s1 = None;
    for st in Strategy::ALL {
        let cfg = PlacementConfig {
            strategy: st,
            ..PlacementConfig::default()
        };
        let (d, p) = time_plan(&big.cluster, &cfg, 15);
        let missing: u32 = p.unplaced.iter().map(|u| u.missing).sum();
        println!(
            "   {:<13} (ROHE {})  {:>10}   placed {:>5}, unplaced {:>5}   target < 50 ms: {}",
            st.name(),
            st.number(),
            ms(d),
            p.placements.len(),
            missing,
            if d < Duration::from_millis(50) {
                "met"
            } else {
                "MISSED"
            }
        );
        if st == Strategy::MaxHeadroom {
            headline = d;
            rust_plan_s1 = Some(p);
        }
    }

    println!("\n2. growth with nodes and replicas, max-headroom (median of 7 runs)");
    let sizes_n = [100usize, 250, 500, 1000, 2000];
    let sizes_r = [1000u64, 5000, 10_000, 20_000];
    let mut header = format!("   {:>7} |", "nodes");
    for r in sizes_r {
        let _ = write!(header, " {:>12}", format!("{r} repl."));
    }
    println!("{header}");
    for n in sizes_n {
        let mut row = format!("   {n:>7} |");
        for r in sizes_r {
            let inp = input(&dir, &base_nodes, &base_services, n, r);
            let (d, _) = time_plan(&inp.cluster, &PlacementConfig::default(), 7);
            let _ = write!(row, " {:>12}", ms(d));
        }
        println!("{row}");
    }

    println!("\n3. ROHE 0.2.1 (Python), the same input and queue order, strategy 1");
    if std::env::var_os("ROHE_BENCH_NO_PYTHON").is_some() {
        println!("   skipped: ROHE_BENCH_NO_PYTHON is set");
        return;
    }
    let python = match rohe_python(&target) {
        Ok(p) => p,
        Err(why) => {
            println!("   ROHE's Python implementation cannot run here: {why}");
            return;
        }
    };
    let small = input(&dir, &base_nodes, &base_services, 100, 1000);
    let (rust_small, rust_small_plan) = time_plan(&small.cluster, &PlacementConfig::default(), 15);
    let py_runs: usize = std::env::var("ROHE_BENCH_PY_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1);
    for (label, inp, rust_time, rust_plan, runs) in [
        (
            "100 nodes / 1000 replicas",
            &small,
            rust_small,
            &rust_small_plan,
            3,
        ),
        (
            "1000 nodes / 10000 replicas",
            &big,
            headline,
            rust_plan_s1.as_ref().expect("plan"),
            py_runs,
        ),
    ] {
        let mut times = vec![];
        let mut result = None;
        for _ in 0..runs {
            match run_python(&python, &dir, inp, 1) {
                Ok(r) => {
                    times.push(r.seconds);
                    result = Some(r);
                }
                Err(why) => {
                    println!("   {label}: ROHE's Python implementation failed: {why}");
                    break;
                }
            }
        }
        let Some(r) = result else { continue };
        times.sort_by(f64::total_cmp);
        let py = times[times.len() / 2];
        let ours: Vec<(String, String)> = rust_plan
            .placements
            .iter()
            .map(|p| (p.service_id.clone(), p.node.clone()))
            .collect();
        let same = ours == r.placements;
        println!(
            "   {label}: ROHE {:.3} s (median of {}), rohe {} -> rohe is {:.0}x faster; \
             placements {} ({} vs {})",
            py,
            times.len(),
            ms(rust_time),
            py / rust_time.as_secs_f64(),
            if same { "identical" } else { "DIFFER" },
            r.placements.len(),
            ours.len()
        );
    }
}
