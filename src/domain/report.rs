//! QoA4ML report decoding (rohe-spec §3.5-3.7): every report kind, recognised by its keys, into
//! one flat list of observations that analysis and the Metrics tab can use. Pure: no I/O.
//!
//! Tolerant of the variations seen in the wild: UUID-string map keys, `records` holding numbers
//! or objects, `{value: x}` or flat inference metrics, `response_time` as
//! `{startTime, responseTime}` (0.3) or `{start_time, response_time}` under `Response Time`
//! (0.1), null units. Anything else that does not fit is a [`DecodeError`] with a reason, which
//! the agent dead-letters.

use crate::domain::json::{Json, Object};
use bumpalo::Bump;
use serde::{Deserialize, Serialize};

/// Bodies above this are refused before parsing (a report is a few kilobytes).
pub const MAX_REPORT_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// QoA4ML 0.3 `MLReport` (`ml_inference`).
    Ml,
    /// QoA4ML 0.3 `RoheReport` (`inference_report`).
    Rohe,
    /// QoA4ML 0.3 general application report (`metrics` list).
    General,
    /// System probe (`cpu` + `metadata.node_name`).
    System,
    /// Process probe (`cpu` + `metadata.pid`).
    Process,
    /// Docker probe (`container_reports`).
    Docker,
    /// QoA4ML 0.1 (`quality`).
    Legacy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Service quality (category 0): response time, throughput.
    Service,
    /// Data quality (category 1): image sizes, missing values.
    Data,
    /// ML-specific: confidence, accuracy.
    Inference,
    /// Resource usage from probes: cpu, memory, gpu.
    Resource,
}

/// Who sent the report and when.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportMeta {
    pub application_name: Option<String>,
    pub app_id: Option<String>,
    pub user_id: Option<String>,
    pub run_id: Option<String>,
    pub stage_id: Option<String>,
    pub instance_id: Option<String>,
    /// The sending QoA client object (`metadata.client_config.id`).
    pub client_id: Option<String>,
    /// Epoch seconds.
    pub timestamp: Option<f64>,
    pub corr_id: Option<String>,
    /// Seconds the report was open in the client.
    pub runtime: Option<f64>,
    /// Probe reports: the node, process or containers observed.
    pub node_name: Option<String>,
}

/// One number observed by one instance of one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub category: Category,
    pub stage: Option<String>,
    pub instance: Option<String>,
    /// Canonical name: `response_time` for every spelling of it.
    pub metric: String,
    pub value: f64,
    /// For response times: when the request started (epoch seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub kind: ReportKind,
    pub meta: ReportMeta,
    pub observations: Vec<Observation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodeError {
    /// Short machine-readable reason (`not_json`, `too_large`, `unknown_kind`, ...).
    pub reason: String,
    /// What was wrong, for people.
    pub detail: String,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

fn err(reason: &str, detail: impl Into<String>) -> DecodeError {
    DecodeError {
        reason: reason.into(),
        detail: detail.into(),
    }
}

/// Decode a message body.
pub fn decode(body: &[u8]) -> Result<Report, DecodeError> {
    if body.len() > MAX_REPORT_BYTES {
        return Err(err(
            "too_large",
            format!(
                "{} bytes; a report may be at most {MAX_REPORT_BYTES}",
                body.len()
            ),
        ));
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        err(
            "not_utf8",
            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        )
    })?;
    with_arena(|arena| {
        // serde_json stops at nesting depth 128, so deep bodies are an error, not a stack
        // overflow.
        let value = Json::parse(text, arena).map_err(|e| {
            if e.to_string().contains("recursion limit") {
                err("too_deep", "nesting deeper than 128 levels")
            } else {
                err("not_json", e.to_string())
            }
        })?;
        decode_value(&value)
    })
}

thread_local! {
    /// Where the report being decoded is parsed into. Reset after every report, so once it
    /// has grown to the size of one, parsing allocates nothing.
    static ARENA: std::cell::RefCell<Bump> = std::cell::RefCell::new(Bump::new());
}

/// An arena that grew past this on an unusually large report is let go, not kept.
const ARENA_KEEP_BYTES: usize = 256 * 1024;

fn with_arena<R>(f: impl FnOnce(&Bump) -> R) -> R {
    ARENA.with(|cell| match cell.try_borrow_mut() {
        Ok(mut arena) => {
            let r = f(&arena);
            if arena.allocated_bytes() > ARENA_KEEP_BYTES {
                *arena = Bump::new();
            } else {
                arena.reset();
            }
            r
        }
        // Not reached (decoding never calls itself); a fresh arena is correct, only slower.
        Err(_) => f(&Bump::new()),
    })
}

/// Decode an already parsed report.
fn decode_value(v: &Json) -> Result<Report, DecodeError> {
    let obj = v.as_object().ok_or_else(|| {
        err(
            "not_object",
            format!("the report is a JSON {}, not an object", v.type_name()),
        )
    })?;
    let kind = classify(obj)?;
    let meta_v = obj.get("metadata").and_then(Json::as_object);
    let mut meta = match (kind, meta_v) {
        (ReportKind::Legacy, Some(m)) => legacy_meta(m),
        // QoA4ML 0.1's own sample report carries no metadata; the routing key names the app.
        (ReportKind::Legacy, None) => ReportMeta::default(),
        (ReportKind::System | ReportKind::Process, Some(m)) => probe_meta(m),
        (ReportKind::Docker, Some(m)) => client_meta(m),
        (_, Some(m)) => {
            let mut meta = m
                .get("client_config")
                .and_then(Json::as_object)
                .map(client_meta)
                .unwrap_or_default();
            meta.timestamp = num(m.get("timestamp"));
            meta.corr_id = string(m.get("corr_id"));
            meta.runtime = num(m.get("runtime"));
            meta
        }
        (_, None) => {
            return Err(err("missing_metadata", "the report has no metadata object"));
        }
    };
    if meta.timestamp.is_none() {
        meta.timestamp = num(obj.get("timestamp"));
    }
    let mut obs = Vec::new();
    match kind {
        ReportKind::Ml => {
            stage_reports(obj.get("service"), Category::Service, &mut obs)?;
            stage_reports(obj.get("data"), Category::Data, &mut obs)?;
            inference_instances(obj.get("ml_inference"), &mut obs)?;
        }
        ReportKind::Rohe => {
            let ir = obj
                .get("inference_report")
                .and_then(Json::as_object)
                .ok_or_else(|| err("wrong_type", "inference_report must be an object"))?;
            stage_reports(ir.get("service"), Category::Service, &mut obs)?;
            stage_reports(ir.get("data"), Category::Data, &mut obs)?;
            if let Some(ms) = ir.get("ml_specific").and_then(Json::as_object)
                && let Some(ep) = ms.get("end_point")
            {
                inference_instance(ep, &mut obs)?;
            }
        }
        ReportKind::General => general_metrics(obj.get("metrics"), &mut obs)?,
        ReportKind::System | ReportKind::Process => resource_usage(obj, None, &mut obs),
        ReportKind::Docker => {
            let list = obj
                .get("container_reports")
                .and_then(Json::as_array)
                .ok_or_else(|| err("wrong_type", "container_reports must be a list"))?;
            for c in list {
                let id = c
                    .get("metadata")
                    .and_then(|m| m.get("id"))
                    .and_then(Json::as_str)
                    .map(str::to_string);
                if let Some(c) = c.as_object() {
                    resource_usage(c, id, &mut obs);
                }
            }
        }
        ReportKind::Legacy => legacy_quality(obj.get("quality"), &mut obs)?,
    }
    Ok(Report {
        kind,
        meta,
        observations: obs,
    })
}

/// A metric's `records`: a list, or a single value written without one.
fn records_of<'j, 'a>(metric: &'j Json<'a>) -> &'j [Json<'a>] {
    match metric.get("records") {
        Some(Json::Array(r)) => r,
        Some(other) => std::slice::from_ref(other),
        None => &[],
    }
}

fn classify(obj: &Object) -> Result<ReportKind, DecodeError> {
    let meta = obj.get("metadata").and_then(Json::as_object);
    Ok(if obj.contains_key("ml_inference") {
        ReportKind::Ml
    } else if obj.contains_key("inference_report") {
        ReportKind::Rohe
    } else if obj.get("metrics").is_some_and(Json::is_array) {
        ReportKind::General
    } else if obj.contains_key("container_reports") {
        ReportKind::Docker
    } else if obj.contains_key("quality") {
        ReportKind::Legacy
    } else if obj.contains_key("cpu") && meta.is_some_and(|m| m.contains_key("node_name")) {
        ReportKind::System
    } else if obj.contains_key("cpu") && meta.is_some_and(|m| m.contains_key("pid")) {
        ReportKind::Process
    } else if obj.contains_key("service") || obj.contains_key("data") {
        // An MLReport before any inference was observed has no ml_inference key.
        ReportKind::Ml
    } else {
        let mut keys: Vec<&str> = obj.keys().take(8).collect();
        keys.sort_unstable();
        return Err(err(
            "unknown_kind",
            format!(
                "no known report kind has the top-level keys [{}]",
                keys.join(", ")
            ),
        ));
    })
}

fn string(v: Option<&Json>) -> Option<String> {
    match v? {
        Json::String(s) if !s.is_empty() => Some(s.to_string()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn num(v: Option<&Json>) -> Option<f64> {
    match v? {
        Json::Number(n) => Some(n.as_f64()).filter(|f| f.is_finite()),
        Json::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        Json::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

fn first_of(m: &Object, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| string(m.get(k)))
}

/// 0.3 `ClientInfo` with its 0.1/2023 spellings.
fn client_meta(m: &Object) -> ReportMeta {
    ReportMeta {
        application_name: first_of(m, &["application_name", "appName", "application"]),
        app_id: first_of(m, &["app_id", "appID"]),
        user_id: first_of(m, &["user_id", "userID", "client_id"]),
        run_id: first_of(m, &["run_id", "runID"]),
        stage_id: first_of(m, &["stage_id", "stageID"]),
        instance_id: first_of(m, &["instance_id", "instanceID", "instances_id"]),
        client_id: first_of(m, &["id"]),
        timestamp: num(m.get("timestamp")),
        ..Default::default()
    }
}

fn legacy_meta(m: &Object) -> ReportMeta {
    let mut meta = client_meta(m);
    meta.runtime = num(m.get("runtime"));
    meta
}

fn probe_meta(m: &Object) -> ReportMeta {
    let mut meta = m
        .get("client_info")
        .and_then(Json::as_object)
        .map(client_meta)
        .unwrap_or_default();
    meta.node_name =
        string(m.get("node_name")).or_else(|| string(m.get("pid")).map(|p| format!("pid {p}")));
    meta
}

/// Canonical metric names: every spelling of response time becomes `response_time`.
fn canonical(name: &str) -> String {
    // Compared letter by letter, ignoring case and anything not alphanumeric, without building
    // the squashed name: this runs for every record of every report.
    let mut squashed = name
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase);
    if "responsetime"
        .chars()
        .all(|want| squashed.next() == Some(want))
        && squashed.next().is_none()
    {
        "response_time".into()
    } else {
        name.to_string()
    }
}

/// A record or a legacy per-instance value: a number, `{value: x}`, or a response time.
fn record_value(v: &Json) -> Option<(f64, Option<f64>)> {
    match v {
        Json::Object(o) => {
            let rt = ["responseTime", "response_time", "value"]
                .iter()
                .find_map(|k| num(o.get(k)))?;
            let start = ["startTime", "start_time"]
                .iter()
                .find_map(|k| num(o.get(k)));
            Some((rt, start))
        }
        other => num(Some(other)).map(|x| (x, None)),
    }
}

/// `{<stage>: {name, metrics: {<metric>: {<instance>: Metric}}}}` (0.3 StageReport).
fn stage_reports(
    v: Option<&Json>,
    cat: Category,
    out: &mut Vec<Observation>,
) -> Result<(), DecodeError> {
    let Some(v) = v else { return Ok(()) };
    if v.is_null() {
        return Ok(());
    }
    let stages = v.as_object().ok_or_else(|| {
        err(
            "wrong_type",
            format!("{cat:?} section must be an object of stages"),
        )
    })?;
    for (stage_key, stage) in stages {
        let stage_name = stage
            .get("name")
            .and_then(Json::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(stage_key);
        let Some(metrics) = stage.get("metrics").and_then(Json::as_object) else {
            return Err(err(
                "wrong_type",
                format!("stage {stage_key:?} has no metrics object"),
            ));
        };
        for (metric_key, per_instance) in metrics {
            let Some(per_instance) = per_instance.as_object() else {
                continue;
            };
            for (instance, metric) in per_instance {
                let name = metric
                    .get("metric_name")
                    .and_then(Json::as_str)
                    .unwrap_or(metric_key);
                let records = records_of(metric);
                for r in records {
                    if let Some((value, start_time)) = record_value(r) {
                        out.push(Observation {
                            category: cat,
                            stage: Some(stage_name.to_string()),
                            instance: Some(instance.to_string()),
                            metric: canonical(name),
                            value,
                            start_time,
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

fn inference_instances(v: Option<&Json>, out: &mut Vec<Observation>) -> Result<(), DecodeError> {
    let Some(v) = v else { return Ok(()) };
    let Some(map) = v.as_object() else {
        return if v.is_null() {
            Ok(())
        } else {
            Err(err("wrong_type", "ml_inference must be an object"))
        };
    };
    for inst in map.values() {
        inference_instance(inst, out)?;
    }
    Ok(())
}

/// `InferenceInstance`: `{instance_id, metrics: [Metric]}`.
fn inference_instance(v: &Json, out: &mut Vec<Observation>) -> Result<(), DecodeError> {
    let instance = string(v.get("instance_id"));
    let metrics = match v.get("metrics") {
        Some(Json::Array(m)) => *m,
        Some(Json::Null) | None => &[],
        Some(_) => return Err(err("wrong_type", "ml_inference metrics must be a list")),
    };
    for m in metrics {
        let Some(name) = m.get("metric_name").and_then(Json::as_str) else {
            continue;
        };
        let records = records_of(m);
        for r in records {
            if let Some((value, _)) = record_value(r) {
                out.push(Observation {
                    category: Category::Inference,
                    stage: None,
                    instance: instance.clone(),
                    metric: canonical(name),
                    value,
                    start_time: None,
                });
            }
        }
    }
    Ok(())
}

/// General application report: a flat list of metrics with their stage and instance.
fn general_metrics(v: Option<&Json>, out: &mut Vec<Observation>) -> Result<(), DecodeError> {
    let list = v
        .and_then(Json::as_array)
        .ok_or_else(|| err("wrong_type", "metrics must be a list"))?;
    for m in list {
        let Some(name) = m.get("metric_name").and_then(Json::as_str) else {
            continue;
        };
        let cat = match m.get("report_type").and_then(Json::as_str) {
            Some("data_report") => Category::Data,
            Some("ml_specific_report") => Category::Inference,
            _ => Category::Service,
        };
        let instance = m.get("instance").and_then(|i| string(i.get("id")));
        let stage = string(m.get("stage"))
            .or_else(|| m.get("instance").and_then(|i| string(i.get("stage"))));
        let records = records_of(m);
        for r in records {
            if let Some((value, start_time)) = record_value(r) {
                out.push(Observation {
                    category: cat,
                    stage: stage.clone(),
                    instance: instance.clone(),
                    metric: canonical(name),
                    value,
                    start_time,
                });
            }
        }
    }
    Ok(())
}

/// `cpu.usage.value` (a number or `{core_i: %}`), `mem.usage.value`, `gpu.usage.value`.
fn resource_usage(obj: &Object, instance: Option<String>, out: &mut Vec<Observation>) {
    for (section, metric) in [
        ("cpu", "cpu_usage"),
        ("mem", "memory_usage"),
        ("gpu", "gpu_usage"),
    ] {
        let Some(usage) = obj
            .get(section)
            .and_then(|s| s.get("usage"))
            .and_then(|u| u.get("value"))
        else {
            continue;
        };
        let value = match usage {
            Json::Object(cores) => {
                let vals: Vec<f64> = cores.values().filter_map(|v| num(Some(v))).collect();
                if vals.is_empty() {
                    continue;
                }
                // Per-core percentages: report their mean, as `top` does for a process.
                vals.iter().sum::<f64>() / vals.len() as f64
            }
            other => match num(Some(other)) {
                Some(v) => v,
                None => continue,
            },
        };
        out.push(Observation {
            category: Category::Resource,
            stage: None,
            instance: instance.clone(),
            metric: metric.into(),
            value,
            start_time: None,
        });
    }
}

/// QoA4ML 0.1: `quality.{service|performance, data}.<stage>.<metric>.<instance> = value` and
/// `quality.inference.<id>.{instance_id, <metric>: v | {value: v}}`.
fn legacy_quality(v: Option<&Json>, out: &mut Vec<Observation>) -> Result<(), DecodeError> {
    let q = v
        .and_then(Json::as_object)
        .ok_or_else(|| err("wrong_type", "quality must be an object"))?;
    for (section, cat) in [
        ("service", Category::Service),
        ("performance", Category::Service),
        ("data", Category::Data),
    ] {
        let Some(stages) = q.get(section).and_then(Json::as_object) else {
            continue;
        };
        for (stage, metrics) in stages {
            let Some(metrics) = metrics.as_object() else {
                continue;
            };
            for (metric, per_instance) in metrics {
                let Some(per_instance) = per_instance.as_object() else {
                    continue;
                };
                for (instance, value) in per_instance {
                    if let Some((value, start_time)) = record_value(value) {
                        out.push(Observation {
                            category: cat,
                            stage: Some(stage.to_string()),
                            instance: Some(instance.to_string()),
                            metric: canonical(metric),
                            value,
                            start_time,
                        });
                    }
                }
            }
        }
    }
    if let Some(inf) = q.get("inference").and_then(Json::as_object) {
        for (id, entry) in inf {
            if id == "last_inference" {
                continue;
            }
            let Some(entry) = entry.as_object() else {
                continue;
            };
            let instance = string(entry.get("instance_id"));
            for (k, v) in entry {
                if matches!(k, "instance_id" | "source" | "value" | "prediction") {
                    continue;
                }
                if let Some((value, _)) = record_value(v) {
                    out.push(Observation {
                        category: Category::Inference,
                        stage: None,
                        instance: instance.clone(),
                        metric: canonical(k),
                        value,
                        start_time: None,
                    });
                }
            }
        }
    }
    Ok(())
}

impl Report {
    /// Name stages as the application does: clients configured by rohe (and ROHE) carry the
    /// stage's UUID as `stage_id`, operators and stream configs use its name.
    pub fn name_stages(&mut self, app: &crate::domain::app::Application) {
        let name_of = |s: &str| {
            let id = uuid::Uuid::try_parse(s).ok()?;
            app.stages
                .iter()
                .find(|st| st.stage_id == id)
                .map(|st| st.name.clone())
        };
        for o in &mut self.observations {
            if let Some(n) = o.stage.as_deref().and_then(name_of) {
                o.stage = Some(n);
            }
        }
        if let Some(n) = self.meta.stage_id.as_deref().and_then(name_of) {
            self.meta.stage_id = Some(n);
        }
    }

    /// Response times per stage and instance, in seconds.
    pub fn stage_latencies(&self) -> impl Iterator<Item = &Observation> {
        self.observations
            .iter()
            .filter(|o| o.category == Category::Service && o.metric == "response_time")
    }

    /// End-to-end latency: the last `start + response` minus the first `start`, over every
    /// stage the report carries (rohe-spec §3.7). None without timed stages.
    pub fn end_to_end_latency(&self) -> Option<f64> {
        let mut first = f64::INFINITY;
        let mut last = f64::NEG_INFINITY;
        for o in self.stage_latencies() {
            if let Some(start) = o.start_time {
                first = first.min(start);
                last = last.max(start + o.value);
            }
        }
        (last >= first).then_some(last - first)
    }

    /// Mean of an inference metric (`confidence`, `accuracy`) over the report's instances.
    pub fn inference_metric(&self, name: &str) -> Option<f64> {
        mean(
            self.observations
                .iter()
                .filter(|o| o.category == Category::Inference && o.metric == name)
                .map(|o| o.value),
        )
    }

    /// The stage a report speaks for: its client's stage, else the last timed stage.
    pub fn stage(&self) -> Option<&str> {
        self.meta.stage_id.as_deref()
    }
}

fn mean(it: impl Iterator<Item = f64>) -> Option<f64> {
    let (n, sum) = it.fold((0usize, 0.0), |(n, s), x| (n + 1, s + x));
    (n > 0).then(|| sum / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_time_spellings() {
        for n in [
            "response_time",
            "Response Time",
            "responseTime",
            "ResponseTime",
        ] {
            assert_eq!(canonical(n), "response_time");
        }
        assert_eq!(canonical("image_width"), "image_width");
    }

    #[test]
    fn classification_by_keys() {
        let arena = Bump::new();
        let k = |s: &str| classify(Json::parse(s, &arena).unwrap().as_object().unwrap());
        assert_eq!(
            k(r#"{"metadata":{},"ml_inference":{}}"#).unwrap(),
            ReportKind::Ml
        );
        assert_eq!(
            k(r#"{"metadata":{},"inference_report":{}}"#).unwrap(),
            ReportKind::Rohe
        );
        assert_eq!(
            k(r#"{"metadata":{},"metrics":[]}"#).unwrap(),
            ReportKind::General
        );
        assert_eq!(
            k(r#"{"metadata":{},"container_reports":[]}"#).unwrap(),
            ReportKind::Docker
        );
        assert_eq!(
            k(r#"{"metadata":{"node_name":"n"},"cpu":{}}"#).unwrap(),
            ReportKind::System
        );
        assert_eq!(
            k(r#"{"metadata":{"pid":3},"cpu":{}}"#).unwrap(),
            ReportKind::Process
        );
        assert_eq!(
            k(r#"{"metadata":{},"quality":{}}"#).unwrap(),
            ReportKind::Legacy
        );
        assert_eq!(k(r#"{"hello":1}"#).unwrap_err().reason, "unknown_kind");
    }
}
