//! The `rohe demo` report generator: its reports decode as QoA4ML 0.3 ML reports with every
//! stage, follow the SPE2024 profiles, switch into shared-resource episodes, and are
//! reproducible from a seed.

use chrono::{TimeZone, Utc};
use rohe::domain::app::{Application, apply_registration};
use rohe::domain::demo::{DemoGenerator, DemoReport, PROFILES_JSON, QUANTILES, profiles};
use rohe::domain::report::{Category, Report, ReportKind, decode};
use rohe::ports::bus::topic_matches;
use std::collections::BTreeSet;
use uuid::Uuid;

const T0: f64 = 1_721_036_282.0;

fn app_from_yaml(text: &str) -> Application {
    let spec = rohe::ops::registration::parse_spec(text, "test.yaml").expect("valid spec");
    let id = Uuid::from_u128(0x1234_5678_9abc_4def_8123_4567_89ab_cdef);
    let at = Utc.with_ymd_and_hms(2024, 7, 15, 12, 0, 0).unwrap();
    apply_registration(&spec, None, id, at)
}

fn example_app(file: &str) -> Application {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/example/applications/").to_string() + file;
    app_from_yaml(&std::fs::read_to_string(path).expect("example application"))
}

fn generate(app: &Application, seed: u64, n: usize) -> Vec<DemoReport> {
    let mut g = DemoGenerator::new(app, seed);
    (0..n).map(|i| g.next_report(T0 + i as f64)).collect()
}

/// Decode a report and check everything a consumer relies on.
fn check_report(app: &Application, r: &DemoReport, now: f64) -> Report {
    let d = decode(&r.body).expect("a demo report decodes");
    assert_eq!(d.kind, ReportKind::Ml);
    assert_eq!(
        d.meta.application_name.as_deref(),
        Some(app.application_name.as_str())
    );
    assert_eq!(d.meta.corr_id.as_deref(), Some(r.message_id.as_str()));
    assert_eq!(d.meta.timestamp, Some(now));
    assert_eq!(d.meta.run_id.as_deref(), Some(app.run_id.as_str()));
    assert_eq!(d.meta.user_id.as_deref(), Some(app.user_id.as_str()));
    Uuid::parse_str(&r.message_id).expect("corr_id is a UUID");

    let stages: Vec<_> = app
        .stages
        .iter()
        .filter(|s| !s.microservices.is_empty())
        .collect();
    if let Some(last) = stages.last() {
        assert_eq!(d.meta.stage_id.as_deref(), Some(last.name.as_str()));
        let publisher = last.microservices[0].instance_id.to_string();
        assert_eq!(d.meta.instance_id.as_deref(), Some(publisher.as_str()));
    }
    // Every microservice of every stage has exactly one response time.
    for s in &stages {
        for m in &s.microservices {
            let iid = m.instance_id.to_string();
            let n = d
                .stage_latencies()
                .filter(|o| {
                    o.stage.as_deref() == Some(&s.name) && o.instance.as_deref() == Some(&iid)
                })
                .inspect(|o| assert!(o.value > 0.0 && o.value < 5.0, "{o:?}"))
                .count();
            assert_eq!(n, 1, "stage {} microservice {}", s.name, m.name);
        }
    }
    // Stages run one after another and the pipeline ends at `now`.
    let mut spans: Vec<(f64, f64)> = stages
        .iter()
        .map(|s| {
            let obs: Vec<_> = d
                .stage_latencies()
                .filter(|o| o.stage.as_deref() == Some(&s.name))
                .collect();
            let start = obs[0].start_time.expect("startTime");
            assert!(obs.iter().all(|o| o.start_time == Some(start)));
            let end = obs.iter().map(|o| start + o.value).fold(0.0, f64::max);
            (start, end)
        })
        .collect();
    for w in spans.windows(2) {
        assert!(w[1].0 > w[0].1, "stages overlap: {spans:?}");
    }
    if let Some(&(_, end)) = spans.last() {
        assert!((end - now).abs() < 2e-6, "ends at {end}, now {now}");
    }
    spans.clear();

    let c = d.inference_metric("confidence").expect("confidence");
    assert!((0.5..=1.0).contains(&c), "{c}");
    let a = d.inference_metric("accuracy").expect("accuracy");
    assert!(a == 0.0 || a == 1.0, "{a}");
    d
}

fn e2e(d: &Report) -> f64 {
    d.end_to_end_latency().expect("timed stages")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    assert!(n > 0);
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn a_every_report_decodes_with_all_stages_and_inference_metrics() {
    for file in [
        "cctvs.yaml",
        "bts.yaml",
        "kpi.yaml",
        "object_detection.yaml",
    ] {
        let app = example_app(file);
        for (i, r) in generate(&app, 7, 600).iter().enumerate() {
            let d = check_report(&app, r, T0 + i as f64);
            let data: BTreeSet<&str> = d
                .observations
                .iter()
                .filter(|o| o.category == Category::Data)
                .map(|o| o.metric.as_str())
                .collect();
            let first = &app.stages[0].name;
            assert!(
                d.observations
                    .iter()
                    .filter(|o| o.category == Category::Data)
                    .all(|o| o.stage.as_deref() == Some(first.as_str())),
                "data metrics belong to the first stage"
            );
            if app.application_name == "cctvs" {
                assert_eq!(data, BTreeSet::from(["image_height", "image_width"]));
            } else if app.application_name != "objdetect" {
                assert_eq!(data, BTreeSet::from(["batch_size", "missing_values"]));
            } else {
                assert_eq!(data.len(), 2, "{data:?}");
            }
        }
    }
}

#[test]
fn a_body_has_the_example_report_shape() {
    let app = example_app("cctvs.yaml");
    let r = &generate(&app, 1, 1)[0];
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let example: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/example/reports/ml_report_0.3.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let sorted = |mut k: Vec<String>| {
        k.sort();
        k
    };
    assert_eq!(sorted(keys(&v)), sorted(keys(&example)));
    assert_eq!(
        sorted(keys(&v["metadata"])),
        sorted(keys(&example["metadata"]))
    );
    assert_eq!(
        sorted(keys(&v["metadata"]["client_config"])),
        sorted(keys(&example["metadata"]["client_config"]))
    );
    let cc = &v["metadata"]["client_config"];
    assert_eq!(cc["stage_id"], "inference");
    assert_eq!(cc["name"], "object_detection");
    assert_eq!(cc["functionality"], "TensorFlow");
    assert_eq!(cc["environment"], "Edge");
    assert_eq!(cc["logging_level"], 2);
    Uuid::parse_str(cc["id"].as_str().unwrap()).unwrap();
    // Stages in pipeline order, as QoA4ML's dicts keep them.
    // (serde_json's Value sorts keys, so look at the bytes.)
    let text = std::str::from_utf8(&r.body).unwrap();
    let service = text.find(r#""service":"#).unwrap();
    let at: Vec<usize> = ["ingestion", "processing", "inference"]
        .iter()
        .map(|s| service + text[service..].find(&format!("\"{s}\":{{")).unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}");
    assert_eq!(
        sorted(keys(&v["service"])),
        ["inference", "ingestion", "processing"]
    );
    let inf = v["ml_inference"].as_object().unwrap();
    assert_eq!(inf.len(), 1);
    let (iid, inst) = inf.iter().next().unwrap();
    assert_eq!(inst["instance_id"], iid.as_str());
    let ex_inst = example["ml_inference"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap();
    assert_eq!(sorted(keys(inst)), sorted(keys(ex_inst)));
    let names: Vec<&str> = inst["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["metric_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["confidence", "accuracy"]);
    assert!(
        inst["metrics"][1]["records"][0].is_u64(),
        "accuracy is 0 or 1"
    );
    let rt = v["service"]["inference"]["metrics"]["response_time"]
        .as_object()
        .unwrap();
    assert_eq!(rt.len(), 2, "one entry per microservice of the stage");
    for m in rt.values() {
        assert_eq!(m["metric_name"], "response_time");
        assert!(m["unit"].is_null() && m["description"].is_null());
        let rec = &m["records"][0];
        assert!(rec["startTime"].is_f64() && rec["responseTime"].is_f64());
    }
}

#[test]
fn b_same_seed_same_bytes_different_seed_different() {
    let app = example_app("cctvs.yaml");
    let a = generate(&app, 42, 400);
    let b = generate(&app, 42, 400);
    assert_eq!(a, b);
    let c = generate(&app, 43, 400);
    assert_ne!(a[0].body, c[0].body);
    assert!(a.iter().zip(&c).all(|(x, y)| x.message_id != y.message_id));
    // corr_ids are unique within a stream.
    let ids: BTreeSet<&str> = a.iter().map(|r| r.message_id.as_str()).collect();
    assert_eq!(ids.len(), a.len());
}

#[test]
fn c_latencies_follow_the_profiles_and_episodes_are_a_minority() {
    let app = example_app("cctvs.yaml");
    let od = app
        .microservices()
        .find(|(_, m)| m.name == "object_detection")
        .map(|(_, m)| m.instance_id.to_string())
        .unwrap();
    let profile = &profiles().services["object_detection"];
    for seed in [1, 2, 3] {
        let reports = generate(&app, seed, 5000);
        let (mut iso, mut sh) = (Vec::new(), Vec::new());
        for r in &reports {
            let d = decode(&r.body).unwrap();
            let x = d
                .stage_latencies()
                .find(|o| o.instance.as_deref() == Some(od.as_str()))
                .unwrap()
                .value;
            if r.shared { &mut sh } else { &mut iso }.push(x);
        }
        let share = sh.len() as f64 / reports.len() as f64;
        assert!(
            (0.10..=0.30).contains(&share),
            "seed {seed}: shared share {share}"
        );
        let q50 = profile.isolated.quantiles[50];
        let m = median(iso);
        assert!(
            (m - q50).abs() <= 0.1 * q50,
            "seed {seed}: isolated median {m} vs q50 {q50}"
        );
        let q50s = profile.shared.quantiles[50];
        let ms = median(sh);
        assert!(
            (ms - q50s).abs() <= 0.1 * q50s,
            "seed {seed}: shared median {ms} vs q50 {q50s}"
        );
        // Episodes are runs of 20-80 reports (the first and last may be cut by the sample).
        let mut runs = Vec::new();
        let mut len = 0;
        for r in &reports {
            if r.shared {
                len += 1;
            } else if len > 0 {
                runs.push(len);
                len = 0;
            }
        }
        assert!(runs.len() >= 5, "seed {seed}: {runs:?}");
        assert!(
            runs.iter().all(|&l| (20..=80).contains(&l)),
            "seed {seed}: {runs:?}"
        );
        assert!(!reports[0].shared, "a demo starts isolated");
    }
}

#[test]
fn d_end_to_end_latency_is_higher_in_shared_episodes() {
    for file in ["cctvs.yaml", "bts.yaml", "kpi.yaml"] {
        let app = example_app(file);
        let (mut iso, mut sh) = (Vec::new(), Vec::new());
        for r in generate(&app, 11, 3000) {
            let d = decode(&r.body).unwrap();
            let sum: f64 = app
                .stages
                .iter()
                .map(|s| {
                    d.stage_latencies()
                        .filter(|o| o.stage.as_deref() == Some(&s.name))
                        .map(|o| o.value)
                        .fold(0.0, f64::max)
                })
                .sum();
            // The decoder's end-to-end latency adds only the small hops between stages.
            let e = e2e(&d);
            assert!(
                e >= sum - 1e-5 && e < sum + 0.01 * app.stages.len() as f64,
                "{e} vs {sum}"
            );
            if r.shared { &mut sh } else { &mut iso }.push(sum);
        }
        let (mi, ms) = (mean(&iso), mean(&sh));
        assert!(ms > 1.1 * mi, "{file}: shared mean {ms} vs isolated {mi}");
    }
}

#[test]
fn e_routing_keys_reach_the_apps_agent_only() {
    for file in [
        "cctvs.yaml",
        "bts.yaml",
        "kpi.yaml",
        "object_detection.yaml",
    ] {
        let app = example_app(file);
        let g = DemoGenerator::new(&app, 5);
        let last = app.stages.last().unwrap();
        // The key registration gave the end-of-pipeline client.
        assert_eq!(g.routing_key(), last.microservices[0].routing_key);
        for r in generate(&app, 5, 20) {
            assert_eq!(r.routing_key, g.routing_key());
            assert!(topic_matches(&app.binding_key, &r.routing_key));
            assert!(topic_matches(
                &format!("{}.#", app.application_name),
                &r.routing_key
            ));
            assert!(!topic_matches("other.#", &r.routing_key));
        }
    }
}

#[test]
fn f_embedded_profiles_are_well_formed() {
    let v: serde_json::Value = serde_json::from_str(PROFILES_JSON).expect("valid JSON");
    assert!(v["source"].as_str().unwrap().contains("SPE2024"));
    assert!(v["derivation"].as_str().unwrap().contains("quantile"));
    let services = v["services"].as_object().unwrap();
    let expected = [
        ("bts", "data_preparation"),
        ("bts", "data_transforming_and_feature_engineering"),
        ("bts", "lstm_based_prediction"),
        ("cctvs", "image_ingestion"),
        ("cctvs", "image_sharpening_and_trasforming"),
        ("cctvs", "object_detection"),
        ("kpi", "analytic_gateway"),
        ("kpi", "data_querying_and_preparation"),
        ("kpi", "network_measurement_forcasting"),
    ];
    assert_eq!(services.len(), expected.len());
    for (app, svc) in expected {
        let s = &services[svc];
        assert_eq!(s["app"], app);
        for regime in ["isolated", "shared"] {
            assert!(s[regime]["n"].as_u64().unwrap() > 1000, "{svc} {regime}");
            let q: Vec<f64> = s[regime]["quantiles"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            assert_eq!(q.len(), QUANTILES, "{svc} {regime}");
            assert_eq!(q.len(), 101);
            assert!(q.windows(2).all(|w| w[0] <= w[1]), "{svc} {regime}: {q:?}");
            assert!(q[0] > 0.0 && q[100] < 2.0, "{svc} {regime}");
        }
        // Contention slows every service down at the median (rohe-spec §9.1).
        assert!(s["shared"]["quantiles"][50].as_f64() > s["isolated"]["quantiles"][50].as_f64());
    }
    // The medians rohe-spec §9.1 reports from the same files.
    let od = &profiles().services["object_detection"];
    assert_eq!(od.isolated.quantiles[50], 0.228);
    assert_eq!(od.shared.quantiles[50], 0.344);
    assert_eq!(
        profiles().services["lstm_based_prediction"]
            .shared
            .quantiles[50],
        0.213
    );
    assert!(PROFILES_JSON.len() < 40_000);
}

#[test]
fn g_apps_without_matching_profiles_still_work() {
    let text = "application_name: zzz\nrun_id: r1\nuser_id: u1\nstages:\n  - name: a\n    microservices:\n      - name: alpha\n        functionality: REST\n        role: ml\n  - name: empty\n  - name: b\n    microservices:\n      - name: beta\n        functionality: TensorFlow\n        role: ml\n      - name: gamma\n        functionality: TensorFlow\n        role: ml\n";
    let app = app_from_yaml(text);
    let g = DemoGenerator::new(&app, 3);
    let assignments = g.assignments();
    let names: Vec<&str> = assignments
        .iter()
        .map(|a| a.microservice.as_str())
        .collect();
    assert_eq!(names, ["alpha", "beta", "gamma"]);
    assert!(
        assignments
            .iter()
            .all(|a| profiles().services.contains_key(a.profile))
    );
    let reports = generate(&app, 3, 300);
    for (i, r) in reports.iter().enumerate() {
        let d = check_report(&app, r, T0 + i as f64);
        let stages: BTreeSet<&str> = d
            .stage_latencies()
            .filter_map(|o| o.stage.as_deref())
            .collect();
        assert_eq!(
            stages,
            BTreeSet::from(["a", "b"]),
            "the empty stage has nothing to report"
        );
        assert!(topic_matches("zzz.#", &r.routing_key));
    }

    // An app named like an SPE2024 application draws from that application's services.
    let kpi = app_from_yaml(&text.replace("application_name: zzz", "application_name: kpi"));
    for a in DemoGenerator::new(&kpi, 3).assignments() {
        assert_eq!(profiles().services[a.profile].app, "kpi", "{a:?}");
    }

    // And an app without any microservice reports itself as one stage.
    let bare = app_from_yaml("application_name: bare\nrun_id: r1\nuser_id: u1\n");
    let mut g = DemoGenerator::new(&bare, 3);
    let r = g.next_report(T0);
    let d = decode(&r.body).unwrap();
    assert_eq!(d.kind, ReportKind::Ml);
    assert_eq!(d.stage_latencies().count(), 1);
    assert!(d.inference_metric("confidence").is_some());
    assert_eq!(r.routing_key, bare.app_routing_key());
}
