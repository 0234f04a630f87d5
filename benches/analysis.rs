//! Analysis benchmarks (issue 4). Prints figures; asserts nothing about time.
//!
//!   cargo bench --bench analysis
//!
//! 1. `extract_row` rows per second on the decoded `example/reports/ml_report_0.3.json` with the
//!    columns of `example/agents/cctvs.yaml` (8 columns);
//! 2. `analyse` of a 100-row and a 1,000-row count window with the cctvs config (5 feature
//!    groups, contract of 2 rules), with LOF (k = 2) and with Isolation Forest (100 trees,
//!    subsample 256, contamination 0.05).

use rohe::domain::analysis::{SplitMix64, analyse};
use rohe::domain::report::{Category, Report, decode};
use rohe::domain::stream::{Function, StreamConfig, WindowSize};
use rohe::domain::window::{Window, extract_row};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn window_of(cfg: &StreamConfig, base: &Report, n: usize) -> Window {
    let mut rng = SplitMix64::new(7);
    let mut w = Window::new(WindowSize::Count(n));
    for i in 0..n {
        let mut r = base.clone();
        r.meta.timestamp = Some(1_721_036_282.0 + i as f64 * 0.1);
        for o in &mut r.observations {
            // Latencies and sizes jitter by up to ±20 %; one report in fifty is three times slower.
            let slow = if i % 50 == 17 && o.category == Category::Service {
                3.0
            } else {
                1.0
            };
            o.value *= slow * (0.8 + 0.4 * rng.next_open01());
        }
        w.push(extract_row(cfg, &r));
    }
    w
}

fn main() {
    let root = env!("CARGO_MANIFEST_DIR");
    let body = std::fs::read(format!("{root}/example/reports/ml_report_0.3.json"))
        .expect("example report");
    let report = decode(&body).expect("decode");
    let text =
        std::fs::read_to_string(format!("{root}/example/agents/cctvs.yaml")).expect("cctvs.yaml");
    let lof_cfg = StreamConfig::parse(&text, "cctvs.yaml").expect("config");

    // 1. extract_row.
    let n = 1_000_000;
    for _ in 0..10_000 {
        black_box(extract_row(&lof_cfg, black_box(&report)));
    }
    let mut runs = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..n {
            black_box(extract_row(&lof_cfg, black_box(&report)));
        }
        runs.push(t.elapsed());
    }
    let t = median(runs);
    println!(
        "extract_row: {:.0} rows/s ({:.0} ns/row, {} columns, {} observations per report, median of 5 x {n})",
        n as f64 / t.as_secs_f64(),
        t.as_nanos() as f64 / n as f64,
        lof_cfg.columns.len(),
        report.observations.len()
    );

    // 2. analyse.
    let mut if_cfg = lof_cfg.clone();
    if_cfg.analysis.function = Function::IsolationForest;
    if_cfg.analysis.k = None;
    if_cfg.validate().expect("isolation forest config");
    for rows in [100usize, 1_000] {
        let window = window_of(&lof_cfg, &report, rows);
        for (name, cfg) in [("lof", &lof_cfg), ("isolation_forest", &if_cfg)] {
            let reps = if rows == 100 { 200 } else { 20 };
            let mut times = Vec::with_capacity(reps);
            let mut anomalies = 0;
            for _ in 0..reps {
                let t = Instant::now();
                let out = analyse(black_box(cfg), black_box(&window), 1);
                times.push(t.elapsed());
                anomalies = out.iter().map(|r| r.anomalies.len()).sum();
                black_box(out);
            }
            let t = median(times);
            println!(
                "analyse {rows:>5} rows, {:>16}: {:>9.3} ms per window ({} groups, {anomalies} anomalies, median of {reps})",
                name,
                t.as_secs_f64() * 1e3,
                cfg.groups.len()
            );
        }
    }
}
