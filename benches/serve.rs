//! Load bench for `rohe serve`: N client registrations over loopback against the embedded
//! store, from C concurrent clients. Bounded by count and time. Prints registrations/s and
//! p50/p99 latency. `cargo bench --bench serve` (ROHE_BENCH_N, ROHE_BENCH_CONCURRENCY;
//! ROHE_BENCH_COMPARE_URL=http://HOST:PORT/registration/ runs the same load against another
//! implementation of the API afterwards, e.g. ROHE's Python observation service;
//! ROHE_BENCH_MONGODB_URL=mongodb://HOST:PORT/ puts rohe on its MongoDB store).

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
    // ROHE_BENCH_MONGODB_URL: the MongoDB store instead (the same server a compared ROHE uses).
    let store = match std::env::var("ROHE_BENCH_MONGODB_URL") {
        Ok(url) => {
            config.store.backend = rohe::config::StoreBackend::Mongodb;
            config.store.url = url;
            config.store.database = format!("rohe_bench_serve_{}", std::process::id());
            "MongoDB store"
        }
        Err(_) => "embedded store",
    };
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
    let run = load(&http, &url, n, conc, budget).await;
    run.print(&format!("rohe serve ({store})"), conc);
    server.shutdown().await.expect("shutdown");
    // The same load against another implementation of the API (ROHE's Python observation
    // service), in the same run, when given.
    if let Ok(other) = std::env::var("ROHE_BENCH_COMPARE_URL") {
        let theirs = load(&http, &other, n, conc, budget).await;
        theirs.print(&format!("compared: {other}"), conc);
        println!(
            "ratio rohe/compared: {:.1}x registrations/s",
            run.rate() / theirs.rate().max(f64::MIN_POSITIVE)
        );
    }
}

struct Run {
    latencies: Vec<Duration>,
    failed: usize,
    secs: f64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.secs
    }

    fn print(&self, label: &str, conc: usize) {
        let pct = |p: f64| {
            self.latencies
                .get(((self.latencies.len() as f64 - 1.0) * p) as usize)
                .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
        };
        println!(
            "{label}: {} registrations in {:.2} s = {:.0}/s, concurrency {conc}, p50 {:.2} ms, p99 {:.2} ms, {} failed",
            self.latencies.len(),
            self.secs,
            self.rate(),
            pct(0.50),
            pct(0.99),
            self.failed
        );
    }
}

/// `n` registrations from `conc` concurrent clients, stopping at `budget`. Latencies of the
/// successful ones, sorted; failures counted.
async fn load(http: &reqwest::Client, url: &str, n: usize, conc: usize, budget: Duration) -> Run {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..conc {
        let (http, url) = (http.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failed = 0;
            let mut i = w;
            while i < n && started.elapsed() < budget {
                // 50 applications: first registrations and re-registrations both happen.
                let body = serde_json::json!({"application_name": format!("app{}", i % 50),
                    "run_id": "r1", "user_id": "u1", "instance_id": format!("i{i}")});
                let t = Instant::now();
                match http.post(&url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => lat.push(t.elapsed()),
                    _ => failed += 1,
                }
                i += conc;
            }
            (lat, failed)
        }));
    }
    let mut run = Run {
        latencies: Vec::new(),
        failed: 0,
        secs: 0.0,
    };
    for t in tasks {
        let (lat, failed) = t.await.expect("worker");
        run.latencies.extend(lat);
        run.failed += failed;
    }
    run.secs = started.elapsed().as_secs_f64();
    run.latencies.sort();
    run
}
