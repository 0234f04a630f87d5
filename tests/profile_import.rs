//! `rohe profile import`, the real binary, on SPE2024 profile data (the KPI application and the
//! CCTV object detector, copied from the dataset into tests/fixtures/spe2024): the derived
//! requirements checked against figures computed here from the same CSV files, the
//! categories, merging into a service file that `rohe placement plan` then accepts, and bad
//! input.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_rohe");

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/spe2024")
}

fn rohe(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .env_remove("ROHE_CONFIG")
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .args(args)
        .output()
        .expect("run rohe")
}

fn import(args: &[&str]) -> Value {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut all = vec!["profile", "import"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--output", "json"]);
    let out = rohe(tmp.path(), &all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// Column `name` of every `<service>_f50.csv` run file, summed with `plus` row by row.
fn f50_column(service_dir: &Path, service: &str, name: &str, plus: &str) -> Vec<f64> {
    let mut out = Vec::new();
    let base = service_dir.join("processed_profile_data/resources_proc_metric");
    for run in std::fs::read_dir(&base).expect("runs") {
        let file = run.expect("run").path().join(format!("{service}_f50.csv"));
        let text = std::fs::read_to_string(&file).expect("csv");
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().expect("header").split(',').collect();
        let a = header.iter().position(|c| *c == name).expect("column");
        let b = header.iter().position(|c| *c == plus).expect("column");
        for l in lines.filter(|l| !l.trim().is_empty()) {
            let cells: Vec<f64> = l.split(',').map(|c| c.trim().parse().unwrap()).collect();
            out.push(cells[a] + cells[b]);
        }
    }
    out
}

fn p95(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let h = (v.len() - 1) as f64 * 0.95;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

fn find<'a>(profiles: &'a Value, service: &str) -> &'a Value {
    profiles
        .as_array()
        .expect("array")
        .iter()
        .find(|p| p["service"] == service)
        .unwrap_or_else(|| panic!("{service} profiled"))
}

#[test]
fn requirements_follow_the_profile_data() {
    let profiles = import(&[data().to_str().unwrap()]);
    let names: Vec<&str> = profiles
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["service"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "object_detection",
            "analytic_gateway",
            "data_querying_and_preparation",
            "network_measurement_forcasting"
        ]
    );

    // The KPI forecaster: computed here from the same files.
    let dir = data().join("kpi/network_measurement_forcasting");
    let svc = "network_measurement_forcasting";
    let p = find(&profiles, svc);
    assert_eq!(p["application"], "kpi");
    assert_eq!(p["load"], 50);
    assert_eq!(p["loads"], serde_json::json!([1, 5, 10, 50]));
    let cpu = p95(f50_column(&dir, svc, "cpu_usage", "child_cpu"));
    assert!((p["cpu_p95"].as_f64().unwrap() - cpu).abs() < 1e-6);
    let r = &p["requirements"];
    assert_eq!(
        r["cpu_required"].as_f64().unwrap(),
        (cpu / 100.0).ceil() * 100.0
    );
    let mem = f50_column(&dir, svc, "memory_usage", "child_memory")
        .into_iter()
        .fold(0.0, f64::max);
    assert_eq!(
        r["memory_rss"].as_f64().unwrap(),
        (mem * 1.3 / 10.0).ceil() * 10.0
    );
    // Several cores busy on the Nano (rohe-spec 4.8: "70/62/23/23 %"), multi-threaded, and
    // its latency grows by more than 1.3x beside co-located load.
    assert_eq!(p["device"], "jet_nano");
    let cores: Vec<f64> = r["cores_required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(cores.len(), 4);
    assert!(cores.windows(2).all(|w| w[0] >= w[1]), "{cores:?}");
    assert!(cores[1] >= 50.0, "{cores:?}");
    let labels = p["labels"].to_string();
    for l in ["cpu-bound", "multi-threaded", "latency-sensitive"] {
        assert!(labels.contains(l), "{labels}");
    }
    assert!(p["rt_ratio"].as_f64().unwrap() > 1.3);
    assert_eq!(r["sensitivity"], 1);

    // The object detector uses the GPU; the KPI services read only the idle board.
    let od = find(&profiles, "object_detection");
    assert!(od["requirements"]["gpu"].as_f64().unwrap() >= 10.0);
    assert!(od["labels"].to_string().contains("gpu"));
    assert_eq!(
        find(&profiles, "analytic_gateway")["requirements"]["gpu"]
            .as_f64()
            .unwrap(),
        0.0
    );

    // Sizing for a lighter load asks for less.
    let light = import(&[data().join("kpi").to_str().unwrap(), "--load", "f1"]);
    let light = find(&light, svc);
    assert_eq!(light["load"], 1);
    assert!(
        light["requirements"]["cpu_required"].as_f64().unwrap()
            < r["cpu_required"].as_f64().unwrap()
    );
}

#[test]
fn a_service_file_gets_the_requirements_and_still_plans() {
    let tmp = tempfile::tempdir().unwrap();
    let services = tmp.path().join("kpi.yaml");
    std::fs::write(
        &services,
        "application: kpi\nservices:\n  - service_name: network_measurement_forcasting\n    service_id: kpi:forecast\n    image: rdsea/kpi:1\n    replicas: 1\n    cpu_required: 100\n    memory_required: {rss: 10, vms: 4000}\n  - service_name: not_profiled\n    service_id: kpi:other\n    image: rdsea/other:1\n    replicas: 1\n    cpu_required: 200\n    memory_required: {rss: 20}\n",
    )
    .unwrap();
    let out = rohe(
        tmp.path(),
        &[
            "profile",
            "import",
            data().join("kpi").to_str().unwrap(),
            "--services",
            services.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("kpi:forecast: requirements from kpi/network_measurement_forcasting"),
        "{stderr}"
    );
    assert!(
        stderr.contains("kpi:other: no profile, left as it was"),
        "{stderr}"
    );
    let merged = tmp.path().join("merged.yaml");
    std::fs::write(&merged, &out.stdout).unwrap();
    let doc: Value = serde_yaml::from_slice(&out.stdout).expect("yaml");
    let forecast = &doc["services"][0];
    assert!(forecast["cpu_required"].as_f64().unwrap() >= 1000.0);
    assert_eq!(forecast["memory_required"]["vms"].as_f64().unwrap(), 4000.0);
    assert_eq!(forecast["sensitivity"], 1);
    assert_eq!(doc["services"][1]["cpu_required"].as_f64().unwrap(), 200.0);

    // The merged file is a valid service file: the offline planner reads it.
    let plan = rohe(
        tmp.path(),
        &[
            "placement",
            "plan",
            "--nodes",
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("example/nodes/edge-lab.yaml")
                .to_str()
                .unwrap(),
            "--services",
            merged.to_str().unwrap(),
            "--output",
            "json",
        ],
    );
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
}

#[test]
fn bad_input_names_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let out = rohe(tmp.path(), &["profile", "import", "/nonexistent/profiles"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a directory"));

    let out = rohe(
        tmp.path(),
        &["profile", "import", tmp.path().to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("processed_profile_data"));

    let out = rohe(
        tmp.path(),
        &[
            "profile",
            "import",
            data().to_str().unwrap(),
            "--load",
            "f7",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--load"));

    // A corrupt number: the file, line and column are named.
    let svc = tmp
        .path()
        .join("app/svc/processed_profile_data/resources_proc_metric/run_0");
    std::fs::create_dir_all(&svc).unwrap();
    std::fs::write(
        svc.join("svc_f5.csv"),
        "cpu_usage,memory_usage,gpu_usage\n10,20,0\n10,abc,0\n",
    )
    .unwrap();
    let out = rohe(
        tmp.path(),
        &[
            "profile",
            "import",
            tmp.path().join("app").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("svc_f5.csv") && err.contains("line 3") && err.contains("memory_usage"),
        "{err}"
    );
}
