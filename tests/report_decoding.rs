//! Decoding every QoA4ML report kind (rohe-spec §3.5-3.7) from real shapes, and refusing
//! malformed messages with a reason.

use rohe::domain::report::{Category, ReportKind, decode};

fn example(name: &str) -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/example/reports/").to_string() + name)
        .unwrap()
}

#[test]
fn ml_report_0_3_the_complete_example() {
    let r = decode(&example("ml_report_0.3.json")).unwrap();
    assert_eq!(r.kind, ReportKind::Ml);
    assert_eq!(r.meta.application_name.as_deref(), Some("cctvs"));
    assert_eq!(r.meta.stage_id.as_deref(), Some("ml_inference_ensemble"));
    assert_eq!(
        r.meta.instance_id.as_deref(),
        Some("78c2f055-721b-4867-85ff-f90494b5dd7b")
    );
    assert_eq!(
        r.meta.corr_id.as_deref(),
        Some("5f0c1e8a-9b1d-4e55-8f0e-3c0a7d2b6c11")
    );
    assert_eq!(r.meta.timestamp, Some(1721036282.5912));
    let lat: Vec<(String, f64)> = r
        .stage_latencies()
        .map(|o| (o.stage.clone().unwrap(), o.value))
        .collect();
    assert_eq!(lat.len(), 3);
    assert!(lat.contains(&("gateway".into(), 0.1000859)));
    assert!(lat.contains(&("data_processing".into(), 0.2010021)));
    assert!(lat.contains(&("ml_inference_ensemble".into(), 0.2042059)));
    // Last start+response (1721036282.383123 + 0.2042059) minus first start (1721036281.902005).
    let e2e = r.end_to_end_latency().unwrap();
    assert!((e2e - 0.6853239).abs() < 1e-6, "{e2e}");
    assert_eq!(r.inference_metric("confidence"), Some(0.91));
    assert_eq!(r.inference_metric("accuracy"), Some(1.0));
    let widths: Vec<f64> = r
        .observations
        .iter()
        .filter(|o| o.category == Category::Data && o.metric == "image_width")
        .map(|o| o.value)
        .collect();
    assert_eq!(widths.len(), 2);
    assert!(widths.contains(&1280.0) && widths.contains(&640.0));
}

#[test]
fn legacy_0_1_report() {
    let r = decode(&example("legacy_qoa4ml_0.1.json")).unwrap();
    assert_eq!(r.kind, ReportKind::Legacy);
    // `Response Time` with {response_time, start_time} is a response time.
    let stages: std::collections::BTreeSet<String> = r
        .stage_latencies()
        .map(|o| o.stage.clone().unwrap())
        .collect();
    assert!(
        stages.contains("Gateway") && stages.contains("DataProcessing"),
        "{stages:?}"
    );
    assert!(r.stage_latencies().all(|o| o.start_time.is_some()));
    // Flat inference metrics (`"confidence": 0.4`) across three inferences.
    let conf = r.inference_metric("confidence").unwrap();
    assert!((conf - (0.4 + 0.8 + 0.5) / 3.0).abs() < 1e-9, "{conf}");
    let h: Vec<f64> = r
        .observations
        .iter()
        .filter(|o| o.metric == "image_height")
        .map(|o| o.value)
        .collect();
    assert!(h.contains(&242.0) && h.contains(&42.0));
}

#[test]
fn legacy_value_objects_and_variations() {
    let body = br#"{"metadata":{"appName":"cctvs","stageID":"S","instanceID":"i1","timestamp":5},
        "quality":{"data":{"S":{"w":{"i1":10,"i2":30}}},
                   "inference":{"x":{"instance_id":"i1","confidence":{"value":0.8}},"last_inference":"x"}}}"#;
    let r = decode(body).unwrap();
    assert_eq!(r.meta.application_name.as_deref(), Some("cctvs"));
    assert_eq!(r.meta.stage_id.as_deref(), Some("S"));
    assert_eq!(r.inference_metric("confidence"), Some(0.8));
    let w: Vec<f64> = r
        .observations
        .iter()
        .filter(|o| o.metric == "w")
        .map(|o| o.value)
        .collect();
    assert_eq!(w, vec![10.0, 30.0]);
}

#[test]
fn rohe_report() {
    let body = br#"{"metadata":{"client_config":{"application_name":"cctvs","stage_id":"ens","instance_id":"a"},"timestamp":10.5,"runtime":0.1},
      "inference_report":{"service":{"ens":{"name":"ens","metrics":{"response_time":{"a":{"metric_name":"response_time","records":[{"startTime":10.0,"responseTime":0.25}],"unit":null,"description":null}}}}},
        "data":{},
        "ml_specific":{"end_point":{"inference_id":"q","instance_id":"a","functionality":"TF","metrics":[{"metric_name":"confidence","records":[0.7],"unit":null,"description":null}],"prediction":null},"linked_list":{}}},
      "execution_graph":{"end_point":{"id":"a","name":"n","functionality":"f","stage":"ens"},"linked_list":{}}}"#;
    let r = decode(body).unwrap();
    assert_eq!(r.kind, ReportKind::Rohe);
    assert_eq!(r.end_to_end_latency(), Some(0.25));
    assert_eq!(r.inference_metric("confidence"), Some(0.7));
}

#[test]
fn general_application_report() {
    let body = br#"{"metadata":{"client_config":{"application_name":"kpi"},"timestamp":3.0},
      "metrics":[{"metric_name":"response_time","records":[{"startTime":1.0,"responseTime":0.5}],"unit":"s","description":null,"stage":"gw","report_type":"service_report","instance":{"id":"i","name":"n","functionality":"f","stage":"gw"},"previous_instances":[]},
                 {"metric_name":"missing_values","records":[3],"unit":null,"description":null,"stage":"gw","report_type":"data_report","instance":{"id":"i","name":"n","functionality":"f","stage":"gw"},"previous_instances":[]},
                 {"metric_name":"accuracy","records":["0.9"],"unit":null,"description":null,"stage":"ml","report_type":"ml_specific_report","instance":{"id":"j","name":"m","functionality":"f","stage":"ml"},"previous_instances":[]}]}"#;
    let r = decode(body).unwrap();
    assert_eq!(r.kind, ReportKind::General);
    assert_eq!(r.end_to_end_latency(), Some(0.5));
    assert_eq!(r.inference_metric("accuracy"), Some(0.9));
    assert!(
        r.observations.iter().any(|o| o.category == Category::Data
            && o.metric == "missing_values"
            && o.value == 3.0)
    );
}

#[test]
fn resource_probe_reports() {
    let sys = br#"{"metadata":{"node_name":"jetson-nano-1"},"timestamp":100,
        "cpu":{"metadata":{"frequency":{"value":1.4,"unit":"GHz"},"thread":4},"usage":{"value":{"core_0":30,"core_1":10,"core_2":20,"core_3":0},"unit":"percentage"}},
        "mem":{"metadata":{"mem":{"capacity":4,"unit":"Gb"}},"usage":{"value":812.5,"unit":"Mb"}}}"#;
    let r = decode(sys).unwrap();
    assert_eq!(r.kind, ReportKind::System);
    assert_eq!(r.meta.node_name.as_deref(), Some("jetson-nano-1"));
    assert_eq!(r.meta.timestamp, Some(100.0));
    let get = |m: &str| {
        r.observations
            .iter()
            .find(|o| o.metric == m)
            .map(|o| o.value)
    };
    assert_eq!(get("cpu_usage"), Some(15.0));
    assert_eq!(get("memory_usage"), Some(812.5));

    let proc_ = br#"{"metadata":{"pid":4242,"user":"rohe","client_info":{"application_name":"bts"}},"timestamp":5,
        "cpu":{"usage":{"value":55.5,"unit":"percentage"}},"mem":{"usage":{"value":120,"unit":"Mb"}}}"#;
    let r = decode(proc_).unwrap();
    assert_eq!(r.kind, ReportKind::Process);
    assert_eq!(r.meta.application_name.as_deref(), Some("bts"));

    let docker = br#"{"metadata":{"application_name":"kpi"},"timestamp":5,"container_reports":[
        {"metadata":{"id":"c1","image":"x"},"timestamp":5,"cpu":{"usage":{"value":12,"unit":"percentage"}},"mem":{"usage":{"value":64,"unit":"Mb"}}},
        {"metadata":{"id":"c2","image":"y"},"timestamp":5,"cpu":{"usage":{"value":8,"unit":"percentage"}},"mem":{"usage":{"value":32,"unit":"Mb"}}}]}"#;
    let r = decode(docker).unwrap();
    assert_eq!(r.kind, ReportKind::Docker);
    let cpu: Vec<(Option<String>, f64)> = r
        .observations
        .iter()
        .filter(|o| o.metric == "cpu_usage")
        .map(|o| (o.instance.clone(), o.value))
        .collect();
    assert_eq!(
        cpu,
        vec![(Some("c1".into()), 12.0), (Some("c2".into()), 8.0)]
    );
}

/// At least fifteen malformed messages, each refused with its own reason.
#[test]
fn malformed_messages_are_refused_with_a_reason() {
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let huge = format!(
        "{{\"metadata\":{{}},\"quality\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(10 << 20)
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty body", vec![], "not_json"),
        ("not JSON", b"hello".to_vec(), "not_json"),
        ("truncated JSON", br#"{"metadata":{"#.to_vec(), "not_json"),
        (
            "invalid UTF-8",
            b"{\"metadata\":\"\xff\xfe\"}".to_vec(),
            "not_utf8",
        ),
        ("a JSON array", b"[1,2,3]".to_vec(), "not_object"),
        ("a JSON string", b"\"report\"".to_vec(), "not_object"),
        ("null", b"null".to_vec(), "not_object"),
        (
            "unknown kind",
            br#"{"metadata":{},"hello":1}"#.to_vec(),
            "unknown_kind",
        ),
        (
            "no metadata",
            br#"{"ml_inference":{}}"#.to_vec(),
            "missing_metadata",
        ),
        (
            "metadata of the wrong type",
            br#"{"metadata":"x","ml_inference":{}}"#.to_vec(),
            "missing_metadata",
        ),
        (
            "service is a list",
            br#"{"metadata":{},"service":[1],"ml_inference":{}}"#.to_vec(),
            "wrong_type",
        ),
        (
            "stage without metrics",
            br#"{"metadata":{},"service":{"s":{"name":"s"}},"ml_inference":{}}"#.to_vec(),
            "wrong_type",
        ),
        (
            "ml_inference is a number",
            br#"{"metadata":{},"ml_inference":7}"#.to_vec(),
            "wrong_type",
        ),
        (
            "inference metrics not a list",
            br#"{"metadata":{},"ml_inference":{"a":{"metrics":{}}}}"#.to_vec(),
            "wrong_type",
        ),
        (
            "quality is a string",
            br#"{"metadata":{},"quality":"good"}"#.to_vec(),
            "wrong_type",
        ),
        (
            "container_reports not a list",
            br#"{"metadata":{},"container_reports":{}}"#.to_vec(),
            "wrong_type",
        ),
        ("nesting depth 10,000", deep.into_bytes(), "too_deep"),
        ("10 MB body", huge.into_bytes(), "too_large"),
    ];
    assert!(cases.len() >= 15);
    for (name, body, reason) in cases {
        let e = decode(&body).expect_err(name);
        assert_eq!(e.reason, reason, "{name}: {e}");
        assert!(!e.detail.is_empty(), "{name}");
    }
}
