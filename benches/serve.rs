//! Load bench for `rohe serve`: N client registrations over loopback against the embedded
//! store, from C concurrent clients. Bounded by count and time. Prints registrations/s and
//! p50/p99 latency. `cargo bench --bench serve` (ROHE_BENCH_N, ROHE_BENCH_CONCURRENCY).

use rohe::config::{Config, Loaded};
use rohe::ops::Source;
use rohe::serve::{self, ServeOptions};
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("ROHE_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let conc: usize = std::env::var("ROHE_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let budget = Duration::from_secs(60);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.store.path = dir.path().join("rohe.db").display().to_string();
    let loaded = Loaded {
        config: config.clone(),
        file: None,
        env_keys: vec![],
    };
    let ops = rohe::cli::open_ops_with(&loaded, Source::Serve, true).expect("ops");
    let opts = ServeOptions {
        bind: [127, 0, 0, 1].into(),
        observation_port: 0,
        orchestration_port: 0,
        token: String::new(),
    };
    let server = serve::start(ops, config, &opts).await.expect("server");
    let url = format!("http://{}/registration/", server.observation);
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..conc {
        let (http, url) = (http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = w;
            while i < n && started.elapsed() < budget {
                // 50 applications: first registrations and re-registrations both happen.
                let body = serde_json::json!({"application_name": format!("app{}", i % 50),
                    "run_id": "r1", "user_id": "u1", "instance_id": format!("i{i}")});
                let t = Instant::now();
                let r = http.post(&url).json(&body).send().await.expect("request");
                assert!(r.status().is_success(), "{}", r.status());
                lat.push(t.elapsed());
                i += conc;
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("worker"));
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize];
    println!(
        "serve registrations: {} in {secs:.2} s = {:.0}/s, concurrency {conc}, p50 {:.2} ms, p99 {:.2} ms",
        lat.len(),
        lat.len() as f64 / secs,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    server.shutdown().await.expect("shutdown");
}
