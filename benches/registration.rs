//! Registration benchmarks (issue: foundation). Prints figures; asserts nothing about time.
//!
//!   cargo bench --bench registration
//!
//! 1. registrations per second through the ops layer on the embedded store (target >= 5,000/s);
//! 2. `rohe app list --output json` with 10,000 registered applications (target < 100 ms);
//! 3. `rohe --version` process time (target < 20 ms).

use rohe::adapters::embedded::{SqliteStore, SyncMode};
use rohe::domain::qoa4ml::ConnectorSettings;
use rohe::ops::{Ops, Request, Source, registration::parse_spec};
use rohe::ports::Store;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rohe");

fn spec_text(name: &str) -> String {
    // The size of the cctvs example: 3 stages, 4 microservices.
    format!(
        "application_name: {name}\nrun_id: exp1\nuser_id: aaltosea1\nstages:\n\
         - name: ingestion\n  microservices:\n  - {{name: image_ingestion, functionality: REST, role: ml}}\n\
         - name: processing\n  microservices:\n  - {{name: sharpening, functionality: Transformation, role: ml}}\n\
         - name: inference\n  microservices:\n  - {{name: yolo, functionality: TensorFlow, role: ml, tags: {{modelName: yolov8n}}}}\n\
         \x20 - {{name: aggregator, functionality: Max Aggregate, role: ml}}\n"
    )
}

fn ops_on(path: &std::path::Path, sync: SyncMode) -> Ops {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path, sync).expect("open store"));
    let settings = ConnectorSettings {
        end_point: "localhost".into(),
        health_check_disable: false,
        registration_url: None,
    };
    Ops::new(store, settings, Source::Cli).with_actor("bench@host")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn time_process(args: &[&str], env: &[(&str, &std::path::Path)], runs: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let mut c = Command::new(BIN);
        c.args(args).env_remove("ROHE_CONFIG");
        for (k, v) in env {
            c.env(k, v);
        }
        let t = Instant::now();
        let out = c.output().expect("run rohe");
        times.push(t.elapsed());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    times.sort();
    times
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let specs: Vec<_> = (0..10_000)
        .map(|i| parse_spec(&spec_text(&format!("app{i}")), "bench").expect("spec"))
        .collect();

    println!(
        "rohe registration benchmarks ({} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    for sync in [SyncMode::Normal, SyncMode::Full] {
        let path = dir.path().join(format!("reg-{sync:?}.db"));
        let ops = ops_on(&path, sync);
        let n = if sync == SyncMode::Full {
            2_000
        } else {
            10_000
        };
        // The full path of `rohe app register`: validation, read, write, history, audit entry.
        let t = Instant::now();
        rt.block_on(async {
            for s in &specs[..n] {
                let req = Request::RegisterApp {
                    spec: s.clone(),
                    file: None,
                    dry_run: false,
                };
                ops.execute(req).await.expect("register");
            }
        });
        let first = t.elapsed();
        let t = Instant::now();
        rt.block_on(async {
            for s in &specs[..n] {
                let req = Request::RegisterApp {
                    spec: s.clone(),
                    file: None,
                    dry_run: false,
                };
                ops.execute(req).await.expect("re-register");
            }
        });
        let again = t.elapsed();
        println!(
            "registrations incl. audit entry (sync={sync:?}, sequential): first {:.0}/s, re-register {:.0}/s  [{n} apps]",
            n as f64 / first.as_secs_f64(),
            n as f64 / again.as_secs_f64()
        );
    }
    // Eight concurrent registrants on one store, as a server would see them.
    let path = dir.path().join("concurrent.db");
    let ops = ops_on(&path, SyncMode::Normal);
    let t = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for chunk in specs.chunks(specs.len() / 8) {
            let ops = ops.clone();
            let chunk = chunk.to_vec();
            tasks.push(tokio::spawn(async move {
                for s in chunk {
                    let req = Request::RegisterApp {
                        spec: s,
                        file: None,
                        dry_run: false,
                    };
                    ops.execute(req).await.expect("register");
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
    });
    println!(
        "registrations (8 concurrent tasks): {:.0}/s  [10000 apps]",
        10_000.0 / t.elapsed().as_secs_f64()
    );

    // `rohe app list --output json` with 10,000 applications (the store built above).
    let xdg = dir.path().join("xdg");
    let env = [
        ("XDG_DATA_HOME", xdg.as_path()),
        ("XDG_CONFIG_HOME", xdg.as_path()),
        ("XDG_STATE_HOME", xdg.as_path()),
    ];
    let store_arg = path.display().to_string();
    let out = Command::new(BIN)
        .args(["--store", &store_arg, "app", "list", "--output", "json"])
        .output()
        .expect("list");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(10_000));
    let times = time_process(
        &["--store", &store_arg, "app", "list", "--output", "json"],
        &env,
        15,
    );
    println!(
        "rohe app list --output json, 10000 apps ({:.1} MB of JSON): median {:.1} ms, min {:.1} ms, max {:.1} ms  [15 runs]",
        out.stdout.len() as f64 / 1e6,
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
    let times = time_process(&["--store", &store_arg, "app", "list"], &env, 15);
    println!(
        "rohe app list (table), 10000 apps: median {:.1} ms  [15 runs]",
        percentile(&times, 0.5).as_secs_f64() * 1e3
    );

    let times = time_process(&["--version"], &env, 50);
    println!(
        "rohe --version: median {:.2} ms, p90 {:.2} ms, min {:.2} ms  [50 runs]",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.9).as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3
    );
}
