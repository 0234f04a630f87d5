//! Stream configs: rohe's clean form, the errors a bad one gives (each naming its field), and
//! ROHE's own agent start files converted as they are (rohe-spec §2.1).

use rohe::domain::stream::{
    Detector, Function, Loaded, Source, StreamConfig, TriggerRule, WindowSize, import_rohe_start,
    load,
};

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

const GOOD: &str = "\
window:
  size: {count: 50}
  trigger: {seconds: 5}
columns:
  - {name: lat, from: e2e_latency}
  - {name: conf, from: inference, metric: confidence}
groups:
  - [lat]
  - [lat, conf]
analysis: {function: isolation_forest, contamination: 0.1}
contract:
  - {column: lat, stat: p95, max: 0.5}
";

#[test]
fn the_shipped_clean_example() {
    let cfg = StreamConfig::parse(&read("example/agents/cctvs.yaml"), "cctvs.yaml").unwrap();
    assert_eq!(cfg.application_name.as_deref(), Some("cctvs"));
    assert_eq!(cfg.size(), WindowSize::Count(100));
    assert_eq!(cfg.trigger(), TriggerRule::EveryRows(10));
    assert_eq!(cfg.columns.len(), 8);
    assert_eq!(cfg.groups.len(), 5);
    assert_eq!(cfg.detector(), Detector::Lof { k: 2 });
    assert_eq!(cfg.contract.len(), 2);
}

#[test]
fn defaults_fill_in_and_the_yaml_round_trips() {
    let cfg = StreamConfig::parse(GOOD, "good.yaml").unwrap();
    assert_eq!(cfg.trigger(), TriggerRule::Seconds(5.0));
    assert_eq!(
        cfg.detector(),
        Detector::IsolationForest {
            contamination: 0.1,
            trees: 100,
            subsample: 256,
            seed: 1
        }
    );
    let text = cfg.to_yaml().unwrap();
    assert_eq!(StreamConfig::parse(&text, "again").unwrap(), cfg);
    // No analysis block: summary statistics only.
    let bare = GOOD.replace(
        "analysis: {function: isolation_forest, contamination: 0.1}\n",
        "",
    );
    assert_eq!(
        StreamConfig::parse(&bare, "bare").unwrap().detector(),
        Detector::Summary
    );
}

#[test]
fn default_for_app_is_valid_and_complete() {
    let stages = vec!["gateway".to_string(), "ML Inference".to_string()];
    let cfg = StreamConfig::default_for_app("cctvs", &stages);
    cfg.validate().unwrap();
    let names: Vec<&str> = cfg.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "latency_gateway",
            "latency_ML_Inference",
            "latency_e2e",
            "confidence",
            "accuracy"
        ]
    );
    assert_eq!(cfg.columns[1].stage.as_deref(), Some("ML Inference"));
    assert_eq!(cfg.size(), WindowSize::Count(100));
    assert_eq!(cfg.trigger(), TriggerRule::EveryRows(10));
    assert_eq!(cfg.detector(), Detector::Lof { k: 2 });
    assert_eq!(cfg.groups.len(), 5, "one group per column");
    assert!(cfg.contract.is_empty());
    StreamConfig::default_for_app("cctvs", &[])
        .validate()
        .unwrap();
}

/// (what is wrong, the YAML, the field the error must name, a word the message must hold)
const BAD: &[(&str, &str, &str, &str)] = &[
    (
        "unknown top-level key",
        "colums: []\n",
        "colums",
        "unknown field",
    ),
    (
        "unknown key in a column",
        "columns:\n  - {name: lat, from: e2e_latency, metrc: x}\n",
        "columns[0].metrc",
        "unknown field",
    ),
    (
        "k = 0",
        "analysis: {function: lof, k: 0}\n",
        "analysis.k",
        "outside",
    ),
    (
        "contamination 0",
        "analysis: {function: isolation_forest, contamination: 0}\n",
        "analysis.contamination",
        "(0, 0.5]",
    ),
    (
        "contamination 0.6",
        "analysis: {function: isolation_forest, contamination: 0.6}\n",
        "analysis.contamination",
        "(0, 0.5]",
    ),
    (
        "k on isolation forest",
        "analysis: {function: isolation_forest, k: 3}\n",
        "analysis.k",
        "only to function lof",
    ),
    (
        "zero trees",
        "analysis: {function: isolation_forest, trees: 0}\n",
        "analysis.trees",
        "outside",
    ),
    (
        "unknown function",
        "analysis: {function: knn}\n",
        "analysis.function",
        "unknown variant",
    ),
    (
        "group names an unknown column",
        "groups: [[lat, latency]]\n",
        "groups[0][1]",
        "unknown column",
    ),
    ("no groups", "groups: []\n", "groups", "at least one"),
    (
        "an empty group",
        "groups: [[lat], []]\n",
        "groups[1]",
        "at least one column",
    ),
    (
        "a column twice in a group",
        "groups: [[lat, lat]]\n",
        "groups[0][1]",
        "twice",
    ),
    (
        "a repeated group",
        "groups: [[lat], [lat]]\n",
        "groups[1]",
        "twice",
    ),
    (
        "no columns",
        "columns: []\n",
        "columns",
        "at least one column",
    ),
    (
        "duplicate column names",
        "columns:\n  - {name: lat, from: e2e_latency}\n  - {name: lat, from: inference, metric: confidence}\n",
        "columns[1].name",
        "duplicate",
    ),
    (
        "inference column without metric",
        "columns:\n  - {name: lat, from: inference}\n",
        "columns[0].metric",
        "needs",
    ),
    (
        "stage on e2e latency",
        "columns:\n  - {name: lat, from: e2e_latency, stage: s}\n",
        "columns[0].stage",
        "takes no stage",
    ),
    (
        "stage latency without stage",
        "columns:\n  - {name: lat, from: stage_latency}\n",
        "columns[0].stage",
        "needs",
    ),
    (
        "bad column name",
        "columns:\n  - {name: 'l a t', from: e2e_latency}\n",
        "columns[0].name",
        "not a valid column name",
    ),
    (
        "both count and seconds",
        "window:\n  size: {count: 10, seconds: 5}\n  trigger: {every: 1}\n",
        "window.size",
        "exactly one",
    ),
    (
        "count window of 0",
        "window:\n  size: {count: 0}\n  trigger: {every: 1}\n",
        "window.size.count",
        "outside",
    ),
    (
        "count window too big",
        "window:\n  size: {count: 100001}\n  trigger: {every: 1}\n",
        "window.size.count",
        "outside",
    ),
    (
        "trigger every 0",
        "window:\n  size: {count: 10}\n  trigger: {every: 0}\n",
        "window.trigger.every",
        "at least 1",
    ),
    (
        "negative period",
        "window:\n  size: {count: 10}\n  trigger: {seconds: -1}\n",
        "window.trigger.seconds",
        "outside",
    ),
    (
        "contract on an unknown column",
        "contract:\n  - {column: cpu, stat: mean, max: 1}\n",
        "contract[0].column",
        "unknown column",
    ),
    (
        "contract without a bound",
        "contract:\n  - {column: lat, stat: mean}\n",
        "contract[0]",
        "min, max or both",
    ),
    (
        "contract min above max",
        "contract:\n  - {column: lat, stat: mean, min: 2, max: 1}\n",
        "contract[0].min",
        "above max",
    ),
    (
        "unknown statistic",
        "contract:\n  - {column: lat, stat: p90, max: 1}\n",
        "contract[0].stat",
        "unknown variant",
    ),
    (
        "bad application name",
        "application_name: 'Bad Name'\n",
        "application_name",
        "not a valid name",
    ),
];

/// Replace a top-level block of GOOD with `patch`.
fn patched(patch: &str) -> String {
    let key = patch.split(':').next().unwrap();
    let mut out = String::new();
    let mut skipping = false;
    for line in GOOD.lines() {
        let top = !line.starts_with(' ');
        if top {
            skipping = line.starts_with(&format!("{key}:"));
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out + patch
}

#[test]
fn bad_clean_configs_name_the_field() {
    for (what, patch, field, word) in BAD {
        let text = patched(patch);
        let err = match StreamConfig::parse(&text, "bad.yaml") {
            Ok(_) => panic!("{what}: accepted\n{text}"),
            Err(e) => e,
        };
        assert_eq!(err.field.as_deref(), Some(*field), "{what}: {err}");
        assert!(err.to_string().contains(word), "{what}: {err}");
        assert_eq!(err.file.as_deref(), Some("bad.yaml"), "{what}: {err}");
    }
}

#[test]
fn rohe_cctvs_start_file_converts() {
    let text = read("example/agents/rohe/cctvs-start.yaml");
    let imp = import_rohe_start(&text, "cctvs-start.yaml").unwrap();
    let cfg = &imp.config;
    assert_eq!(cfg.application_name.as_deref(), Some("cctvs"));
    assert_eq!(cfg.size(), WindowSize::Count(100));
    assert_eq!(cfg.trigger(), TriggerRule::EveryRows(3));
    assert_eq!(cfg.detector(), Detector::Lof { k: 2 });
    let cols: Vec<(&str, Source, Option<&str>)> = cfg
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.from, c.stage.as_deref()))
        .collect();
    assert_eq!(
        cols,
        [
            ("accuracy", Source::Inference, None),
            ("confidence", Source::Inference, None),
            ("image_width", Source::Metric, Some("Processing")),
            ("image_height", Source::Metric, Some("Processing")),
        ]
    );
    assert_eq!(
        cfg.groups,
        [
            vec!["accuracy"],
            vec!["accuracy", "confidence"],
            vec!["image_width", "image_height"]
        ]
    );
    assert!(
        imp.ignored.iter().any(|l| l.starts_with("command: start")),
        "{:?}",
        imp.ignored
    );
    assert!(
        imp.mapped
            .iter()
            .any(|l| l.contains("window.size.count: 100")),
        "{:?}",
        imp.mapped
    );
    assert!(
        imp.mapped
            .iter()
            .any(|l| l.contains("window.trigger.every: 3")),
        "{:?}",
        imp.mapped
    );
    // The converted config is a valid clean config on its own.
    let again = StreamConfig::parse(&cfg.to_yaml().unwrap(), "converted").unwrap();
    assert_eq!(&again, cfg);
}

#[test]
fn rohe_nii_start_file_converts() {
    let text = read("example/agents/rohe/nii-start.yaml");
    let imp = import_rohe_start(&text, "nii-start.yaml").unwrap();
    assert_eq!(imp.config.application_name.as_deref(), Some("nii"));
    assert_eq!(imp.config.columns.len(), 2);
    assert!(
        imp.config
            .columns
            .iter()
            .all(|c| c.stage.as_deref() == Some("Image_Processing"))
    );
    assert_eq!(imp.config.groups, [vec!["image_width", "image_height"]]);
    // `load` tells the forms apart.
    assert!(matches!(load(&text, "nii").unwrap(), Loaded::Rohe(_)));
    let clean = read("example/agents/cctvs.yaml");
    assert!(matches!(load(&clean, "cctvs").unwrap(), Loaded::Clean(_)));
}

#[test]
fn rohe_sdn_start_file_is_refused_precisely() {
    let text = read("example/agents/rohe/sdn-start.yaml");
    let err = import_rohe_start(&text, "sdn-start.yaml").unwrap_err();
    assert_eq!(
        err.field.as_deref(),
        Some("stream_config.processing.function"),
        "{err}"
    );
    assert!(
        err.message.contains("sdn_detect_local_outlier_factor"),
        "{err}"
    );
    assert!(err.message.contains("SDN"), "{err}");
    assert_eq!(err.file.as_deref(), Some("sdn-start.yaml"));
    // With a supported function, the parser is the next thing refused.
    let text = text.replace(
        "sdn_detect_local_outlier_factor",
        "detect_local_outlier_factor",
    );
    let err = import_rohe_start(&text, "sdn-start.yaml").unwrap_err();
    assert_eq!(
        err.field.as_deref(),
        Some("stream_config.processing.parser.name"),
        "{err}"
    );
    assert!(err.message.contains("sdnParser is not supported"), "{err}");
}

#[test]
fn rohe_start_file_variants() {
    let base = read("example/agents/rohe/cctvs-start.yaml");
    let case = |from: &str, to: &str| import_rohe_start(&base.replace(from, to), "start.yaml");

    // Time window and periodic trigger (canonical codes: size 1 = time, interval 1 = timer).
    let imp = case(
        "    interval:\n      type: 2\n      value: 3\n    size:\n      type: 2\n      value: 100",
        "    interval:\n      type: 1\n      value: 5\n    size:\n      type: 1\n      value: 60",
    )
    .unwrap();
    assert_eq!(imp.config.size(), WindowSize::Seconds(60.0));
    assert_eq!(imp.config.trigger(), TriggerRule::Seconds(5.0));

    let imp = case("detect_local_outlier_factor", "detect_isolation_forest").unwrap();
    assert_eq!(imp.config.analysis.function, Function::IsolationForest);
    assert_eq!(
        imp.config.detector(),
        Detector::IsolationForest {
            contamination: 0.05,
            trees: 100,
            subsample: 256,
            seed: 1
        }
    );
    let imp = case("detect_local_outlier_factor", "dummy").unwrap();
    assert_eq!(imp.config.detector(), Detector::Summary);

    let imp = case("name: objectDetectionParser", "name: dummy").unwrap();
    let names: Vec<&str> = imp.config.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["latency_e2e", "confidence", "accuracy"]);
    assert!(imp.ignored.iter().any(|l| l.contains("parser.feature")));

    // Unknown keys are reported, not fatal; module is ignored with a reason.
    let imp = case(
        "    function:",
        "    module: odp\n    retries: 3\n    function:",
    )
    .unwrap();
    assert!(
        imp.ignored
            .iter()
            .any(|l| l.starts_with("stream_config.processing.module: odp")),
        "{:?}",
        imp.ignored
    );
    assert!(
        imp.ignored
            .iter()
            .any(|l| l.starts_with("stream_config.processing.retries")),
        "{:?}",
        imp.ignored
    );

    let bad = [
        (
            ("type: 2\n      value: 100", "type: 3\n      value: 100"),
            "stream_config.window.size.type",
            "unknown window type 3",
        ),
        (
            ("type: 2\n      value: 3", "type: 7\n      value: 3"),
            "stream_config.window.interval.type",
            "unknown trigger type 7",
        ),
        (
            ("value: 100", "value: 2.5"),
            "stream_config.window.size.value",
            "whole number",
        ),
        (
            ("aggregate: mean", "aggregate: median"),
            "stream_config.processing.parser.metric.data[0].aggregate",
            "median",
        ),
        (
            ("- - image_width", "- - image_depth"),
            "stream_config.processing.parser.feature[2][0]",
            "unknown column",
        ),
        (
            ("function: detect_local_outlier_factor", "function: kmeans"),
            "stream_config.processing.function",
            "unknown function",
        ),
        (
            ("name: objectDetectionParser", "name: OCParser"),
            "stream_config.processing.parser.name",
            "unsupported parser",
        ),
        (("command: start", "command: stop"), "command", "stop file"),
        (
            ("application_name: cctvs", "application_name: CCTV s"),
            "application_name",
            "not a valid name",
        ),
        (
            (
                "        - name: image_height",
                "        - name: image_width",
            ),
            "stream_config.processing.parser.metric.data[1].name",
            "already selected",
        ),
    ];
    for ((from, to), field, word) in bad {
        assert!(base.contains(from), "{from}");
        let err = case(from, to).unwrap_err();
        assert_eq!(err.field.as_deref(), Some(field), "{from} -> {to}: {err}");
        assert!(err.to_string().contains(word), "{from} -> {to}: {err}");
    }
    let err = import_rohe_start("application_name: cctvs\ncommand: start\n", "s.yaml").unwrap_err();
    assert_eq!(err.field.as_deref(), Some("stream_config"), "{err}");
    let err = import_rohe_start(
        "application_name: cctvs\nstream_config:\n  window: 3\n",
        "s.yaml",
    )
    .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("stream_config.window"), "{err}");
    assert_eq!(err.line, Some(3), "{err}");
}
