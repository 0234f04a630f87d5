//! The analysis path end to end on real report shapes: decode → extract_row → window →
//! trigger → analyse, and the JSON document stored and streamed per (window, group).

use rohe::domain::analysis::{AnalysisResult, Bound, RESULT_VERSION, analyse};
use rohe::domain::report::{Category, Report, decode};
use rohe::domain::stream::{Function, Stat, StreamConfig};
use rohe::domain::window::{Trigger, Window, extract_row};

fn example_report() -> Report {
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/example/reports/ml_report_0.3.json"
    ))
    .unwrap();
    decode(&body).unwrap()
}

fn cctvs() -> StreamConfig {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/example/agents/cctvs.yaml"
    ))
    .unwrap();
    StreamConfig::parse(&text, "cctvs.yaml").unwrap()
}

/// The example report at time `ts`, its inference stage taking `extra` seconds longer.
fn report_at(base: &Report, ts: f64, extra: f64) -> Report {
    let mut r = base.clone();
    r.meta.timestamp = Some(ts);
    r.meta.corr_id = Some(format!("corr-{ts}"));
    for o in &mut r.observations {
        if o.category == Category::Service && o.stage.as_deref() == Some("ml_inference_ensemble") {
            o.value += extra;
        }
    }
    r
}

fn group<'a>(results: &'a [AnalysisResult], cols: &[&str]) -> &'a AnalysisResult {
    results.iter().find(|r| r.group == cols).unwrap()
}

#[test]
fn a_window_of_reports_analysed_per_group() {
    let cfg = cctvs();
    let base = example_report();
    let mut window = Window::for_config(&cfg);
    let mut trigger = Trigger::for_config(&cfg);
    let mut runs = Vec::new();
    for i in 0..30 {
        // Small, regular jitter; report 25 is 3 s slow; reports 0, 10, 20 carry no confidence.
        let extra = if i == 25 { 3.0 } else { (i % 5) as f64 * 0.001 };
        let mut r = report_at(&base, 1000.0 + i as f64, extra);
        if i % 10 == 0 {
            r.observations
                .retain(|o| !(o.category == Category::Inference && o.metric == "confidence"));
        }
        window.push(extract_row(&cfg, &r));
        if let Some(seq) = trigger.on_row() {
            runs.push(analyse(&cfg, &window, seq));
        }
    }
    assert_eq!(runs.len(), 3, "every 10 reports");
    let last = &runs[2];
    assert_eq!(last.len(), cfg.groups.len(), "one result per feature group");
    assert!(
        last.iter()
            .all(|r| r.window_seq == 3 && r.version == RESULT_VERSION)
    );
    assert!(
        last.iter()
            .all(|r| r.from_ts == Some(1000.0) && r.to_ts == Some(1029.0))
    );
    assert!(
        last.iter()
            .all(|r| r.function == Function::Lof && r.threshold == Some(1.5))
    );

    let e2e = group(last, &["latency_e2e"]);
    assert_eq!((e2e.rows, e2e.skipped_rows, e2e.scored_rows), (30, 0, 30));
    let s = &e2e.stats["latency_e2e"];
    assert_eq!(s.count, 30);
    assert!((s.rate.unwrap() - 30.0 / 29.0).abs() < 1e-9);
    assert!((s.max.unwrap() - (0.6853239 + 3.0)).abs() < 1e-6);
    assert!((s.min.unwrap() - 0.6853239).abs() < 1e-6);
    // The slow report is the anomaly, found by its correlation id.
    let flagged: Vec<&str> = e2e
        .anomalies
        .iter()
        .filter_map(|a| a.corr_id.as_deref())
        .collect();
    assert_eq!(flagged, ["corr-1025"]);
    assert!(e2e.anomalies[0].score > 1.5);
    assert!((e2e.anomalies[0].values["latency_e2e"] - 3.6853239).abs() < 1e-6);
    // Contract: p95 of e2e latency above 0.5 s is a violation.
    assert_eq!(e2e.violations.len(), 1);
    let v = &e2e.violations[0];
    assert_eq!(
        (v.column.as_str(), v.stat, v.limit, v.kind),
        ("latency_e2e", Stat::P95, 0.5, Bound::Max)
    );
    assert!((v.value - s.p95.unwrap()).abs() < 1e-12);

    // Missing confidence: skipped for its group, not zero.
    let conf = group(last, &["confidence"]);
    assert_eq!((conf.rows, conf.skipped_rows), (27, 3));
    assert_eq!(conf.stats["confidence"].mean, Some(0.91));
    assert_eq!(conf.stats["confidence"].min, Some(0.91));
    assert!(
        conf.violations.is_empty(),
        "mean 0.91 is above the 0.6 minimum"
    );
    assert!(
        conf.anomalies.is_empty(),
        "identical values are not outliers"
    );

    let sizes = group(last, &["image_width", "image_height"]);
    assert_eq!(sizes.stats["image_width"].p50, Some(640.0));
    assert_eq!(sizes.stats.len(), 2);
}

#[test]
fn isolation_forest_through_analyse_is_deterministic() {
    let mut cfg = cctvs();
    cfg.analysis.function = Function::IsolationForest;
    cfg.analysis.k = None;
    cfg.analysis.contamination = Some(0.05);
    cfg.validate().unwrap();
    let base = example_report();
    let mut window = Window::for_config(&cfg);
    for i in 0..100 {
        let extra = if i == 40 || i == 77 {
            2.0 + i as f64 * 0.01
        } else {
            ((i * 37) % 11) as f64 * 0.002
        };
        window.push(extract_row(
            &cfg,
            &report_at(&base, 2000.0 + i as f64 * 0.5, extra),
        ));
    }
    let a = analyse(&cfg, &window, 7);
    let b = analyse(&cfg, &window, 7);
    assert_eq!(a, b);
    let e2e = group(&a, &["latency_e2e"]);
    assert_eq!(e2e.scored_rows, 100);
    let flagged: Vec<&str> = e2e
        .anomalies
        .iter()
        .filter_map(|a| a.corr_id.as_deref())
        .collect();
    assert!(
        flagged.contains(&"corr-2020") && flagged.contains(&"corr-2038.5"),
        "{flagged:?}"
    );
    assert!(
        flagged.len() <= 5,
        "at most the contamination fraction: {flagged:?}"
    );
    assert!(e2e.threshold.is_some());
}

#[test]
fn the_json_document_shape() {
    let cfg = cctvs();
    let base = example_report();
    let mut window = Window::for_config(&cfg);
    for i in 0..5 {
        window.push(extract_row(
            &cfg,
            &report_at(&base, 10.0 + i as f64, i as f64 * 0.01),
        ));
    }
    let results = analyse(&cfg, &window, 1);
    let e2e = group(&results, &["latency_e2e"]);
    let json = serde_json::to_value(e2e).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = [
        "version",
        "window_seq",
        "group",
        "from_ts",
        "to_ts",
        "rows",
        "skipped_rows",
        "function",
        "scored_rows",
        "threshold",
        "stats",
        "anomalies",
        "violations",
    ];
    want.sort_unstable();
    let mut keys = keys.clone();
    keys.sort_unstable();
    assert_eq!(keys, want);
    assert_eq!(json["function"], "lof");
    assert_eq!(json["group"], serde_json::json!(["latency_e2e"]));
    let stat_keys: Vec<&str> = json["stats"]["latency_e2e"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(stat_keys.len(), 8);
    for k in ["count", "rate", "mean", "min", "max", "p50", "p95", "p99"] {
        assert!(stat_keys.contains(&k), "{k}");
    }
    assert_eq!(json["violations"][0]["kind"], "max");
    assert_eq!(json["violations"][0]["stat"], "p95");
    // It reads back as the same document.
    let back: AnalysisResult = serde_json::from_value(json).unwrap();
    assert_eq!(&back, e2e);
}

#[test]
fn an_empty_window_gives_empty_figures_not_errors() {
    let cfg = cctvs();
    let window = Window::for_config(&cfg);
    let results = analyse(&cfg, &window, 1);
    assert_eq!(results.len(), cfg.groups.len());
    for r in &results {
        assert_eq!((r.rows, r.skipped_rows, r.scored_rows), (0, 0, 0));
        assert_eq!((r.from_ts, r.to_ts, r.threshold), (None, None, None));
        assert!(r.anomalies.is_empty() && r.violations.is_empty());
        assert!(
            r.stats
                .values()
                .all(|s| s.count == 0 && s.p50.is_none() && s.rate.is_none())
        );
    }
    // JSON null, never NaN.
    let text = serde_json::to_string(&results).unwrap();
    assert!(!text.contains("NaN"));
}
