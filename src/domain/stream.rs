//! The stream config of an observation agent (rohe-spec §2.1): which figures to take from each
//! report (columns), how much of the stream a window holds, when it is analysed, which columns
//! are analysed together (feature groups), with which function, and which thresholds make a
//! contract. Pure: parsing and validation only.
//!
//! Two forms are read:
//! * rohe's own clean YAML ([`StreamConfig::parse`]), e.g. `example/agents/cctvs.yaml`:
//!
//! ```yaml
//! application_name: cctvs
//! window:
//!   size: {count: 100}            # or {seconds: 300}: rows within 300 s of the newest
//!   trigger: {every: 10}          # or {seconds: 5}: when 5 s passed since the last run
//! columns:
//!   - {name: latency_e2e, from: e2e_latency}
//!   - {name: latency_gateway, from: stage_latency, stage: gateway, aggregate: max}
//!   - {name: confidence, from: inference, metric: confidence}
//!   - {name: image_width, from: metric, metric: image_width, stage: data_processing}
//! groups:
//!   - [latency_e2e]
//!   - [confidence, latency_e2e]
//! analysis: {function: lof, k: 2}  # summary | lof | isolation_forest
//! contract:
//!   - {column: latency_e2e, stat: p95, max: 0.5}
//!   - {column: confidence, stat: mean, min: 0.6}
//! ```
//!
//! * ROHE's agent start files as they are ([`import_rohe_start`]), converted into the clean
//!   form with a list of what was mapped and what was ignored.

use crate::error::{Error, Result};
use crate::yaml::{self, Value};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// Largest count window, and the hard cap on rows a time window holds (rohe-spec §2.2).
pub const MAX_WINDOW_ROWS: usize = 100_000;
/// Longest time window and longest trigger period: one week.
pub const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;
/// Shortest time window and trigger period.
pub const MIN_SECONDS: f64 = 0.001;
/// Most columns and most feature groups a config may declare.
pub const MAX_COLUMNS: usize = 256;
pub const MAX_GROUPS: usize = 256;
/// Longest column name.
pub const COLUMN_NAME_MAX: usize = 128;
/// Largest number of isolation trees and largest subsample.
pub const MAX_TREES: usize = 10_000;
pub const MAX_SUBSAMPLE: usize = 100_000;

pub const DEFAULT_LOF_K: usize = 2;
pub const DEFAULT_CONTAMINATION: f64 = 0.05;
pub const DEFAULT_TREES: usize = 100;
pub const DEFAULT_SUBSAMPLE: usize = 256;
/// ROHE's `random_state=1` for its Isolation Forest.
pub const DEFAULT_SEED: u64 = 1;

/// The clean form. Serializes back to the same YAML it was read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// When given, the agent checks it names the application it runs for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_name: Option<String>,
    pub window: WindowSpec,
    /// The figures taken from each report, in order; a row holds one value per column.
    pub columns: Vec<ColumnSpec>,
    /// Feature groups: the analysis runs once per group over the group's columns.
    pub groups: Vec<Vec<String>>,
    /// Omitted: summary statistics only.
    #[serde(default)]
    pub analysis: AnalysisSpec,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contract: Vec<ContractRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    pub size: SizeSpec,
    pub trigger: TriggerSpec,
}

/// Exactly one of `count` (the last N rows) or `seconds` (rows whose report timestamp is within
/// T seconds of the newest row's).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
}

/// Exactly one of `every` (analyse after every N rows) or `seconds` (analyse when T seconds of
/// report time or clock time passed since the last run).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
}

/// The validated window size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WindowSize {
    Count(usize),
    Seconds(f64),
}

/// The validated trigger.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TriggerRule {
    EveryRows(u64),
    Seconds(f64),
}

/// Where a column's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A service, data or resource metric by name (`metric`), of one stage (`stage`) or of all.
    Metric,
    /// An ML inference metric (`metric`: confidence, accuracy, ...) over the inference instances.
    Inference,
    /// End-to-end latency of the report (last start + response minus first start), seconds.
    E2eLatency,
    /// Response time of one stage (`stage`), over its instances, seconds.
    StageLatency,
}

/// How values of several instances (or stages) in one report become one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    #[default]
    Mean,
    Max,
    Min,
    Sum,
}

impl Aggregate {
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregate::Mean => "mean",
            Aggregate::Max => "max",
            Aggregate::Min => "min",
            Aggregate::Sum => "sum",
        }
    }
}

/// One column. `metric` is required for `metric` and `inference` columns and refused
/// otherwise; `stage` is required for `stage_latency`, optional for `metric` and refused
/// otherwise; `aggregate` (default mean) does not apply to `e2e_latency`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    pub name: String,
    pub from: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<Aggregate>,
}

impl ColumnSpec {
    fn new(name: &str, from: Source) -> Self {
        ColumnSpec {
            name: name.to_string(),
            from,
            metric: None,
            stage: None,
            aggregate: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Function {
    /// Summary statistics only (they are computed for every function).
    #[default]
    Summary,
    /// Local Outlier Factor: `k` neighbours (default 2); LOF > 1.5 is an anomaly.
    Lof,
    /// Isolation Forest: `contamination` (default 0.05, in (0, 0.5]), `trees` (100),
    /// `subsample` (256), `seed` (1).
    IsolationForest,
}

impl Function {
    pub fn as_str(self) -> &'static str {
        match self {
            Function::Summary => "summary",
            Function::Lof => "lof",
            Function::IsolationForest => "isolation_forest",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSpec {
    #[serde(default)]
    pub function: Function,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contamination: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trees: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subsample: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// The validated analysis function with its parameters filled in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Detector {
    Summary,
    Lof {
        k: usize,
    },
    IsolationForest {
        contamination: f64,
        trees: usize,
        subsample: usize,
        seed: u64,
    },
}

impl AnalysisSpec {
    pub fn detector(&self) -> Detector {
        match self.function {
            Function::Summary => Detector::Summary,
            Function::Lof => Detector::Lof {
                k: self.k.unwrap_or(DEFAULT_LOF_K),
            },
            Function::IsolationForest => Detector::IsolationForest {
                contamination: self.contamination.unwrap_or(DEFAULT_CONTAMINATION),
                trees: self.trees.unwrap_or(DEFAULT_TREES),
                subsample: self.subsample.unwrap_or(DEFAULT_SUBSAMPLE),
                seed: self.seed.unwrap_or(DEFAULT_SEED),
            },
        }
    }
}

/// A statistic of a column over one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stat {
    Count,
    Rate,
    Mean,
    Min,
    Max,
    P50,
    P95,
    P99,
}

impl Stat {
    pub fn as_str(self) -> &'static str {
        match self {
            Stat::Count => "count",
            Stat::Rate => "rate",
            Stat::Mean => "mean",
            Stat::Min => "min",
            Stat::Max => "max",
            Stat::P50 => "p50",
            Stat::P95 => "p95",
            Stat::P99 => "p99",
        }
    }
}

/// A threshold: `stat` of `column` must stay at most `max` and/or at least `min`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractRule {
    pub column: String,
    pub stat: Stat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl StreamConfig {
    /// Parse and validate the clean form; errors name the file, the line where known, and the
    /// field path (`columns[2].stage`).
    pub fn parse(text: &str, file: &str) -> Result<StreamConfig> {
        let cfg: StreamConfig = yaml::parse(text, file)?;
        cfg.validate().map_err(|e| e.file(file))?;
        Ok(cfg)
    }

    /// The clean YAML text of this config.
    pub fn to_yaml(&self) -> Result<String> {
        yaml::to_string(self)
    }

    /// A config an agent can start with when the user gave none: the latency of each stage,
    /// end-to-end latency, confidence and accuracy, each its own feature group (a missing
    /// accuracy must not hide the latencies); the last 100 rows, analysed every 10 rows, with
    /// summary statistics and LOF (k = 2); no contract.
    pub fn default_for_app(application_name: &str, stages: &[String]) -> StreamConfig {
        let mut columns = Vec::new();
        let mut seen = HashSet::new();
        for stage in stages {
            let name = format!("latency_{}", column_safe(stage));
            if !seen.insert(name.clone()) || columns.len() + 3 >= MAX_COLUMNS {
                continue;
            }
            let mut c = ColumnSpec::new(&name, Source::StageLatency);
            c.stage = Some(stage.clone());
            columns.push(c);
        }
        columns.push(ColumnSpec::new("latency_e2e", Source::E2eLatency));
        for m in ["confidence", "accuracy"] {
            let mut c = ColumnSpec::new(m, Source::Inference);
            c.metric = Some(m.to_string());
            columns.push(c);
        }
        let groups = columns.iter().map(|c| vec![c.name.clone()]).collect();
        StreamConfig {
            application_name: Some(application_name.to_string()),
            window: WindowSpec {
                size: SizeSpec {
                    count: Some(100),
                    seconds: None,
                },
                trigger: TriggerSpec {
                    every: Some(10),
                    seconds: None,
                },
            },
            columns,
            groups,
            analysis: AnalysisSpec {
                function: Function::Lof,
                k: Some(DEFAULT_LOF_K),
                ..Default::default()
            },
            contract: Vec::new(),
        }
    }

    /// The window size. Call on a validated config; an invalid one reads as the default.
    pub fn size(&self) -> WindowSize {
        match (self.window.size.count, self.window.size.seconds) {
            (None, Some(s)) => WindowSize::Seconds(s),
            (Some(n), _) => WindowSize::Count(n.clamp(1, MAX_WINDOW_ROWS)),
            (None, None) => WindowSize::Count(100),
        }
    }

    /// The trigger. Call on a validated config; an invalid one reads as the default.
    pub fn trigger(&self) -> TriggerRule {
        match (self.window.trigger.every, self.window.trigger.seconds) {
            (None, Some(s)) => TriggerRule::Seconds(s),
            (Some(n), _) => TriggerRule::EveryRows(n.max(1)),
            (None, None) => TriggerRule::EveryRows(10),
        }
    }

    pub fn detector(&self) -> Detector {
        self.analysis.detector()
    }

    /// Position of a column in a row.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Every rule, each error naming its field path.
    pub fn validate(&self) -> Result<()> {
        if let Some(app) = &self.application_name {
            crate::domain::names::validate_app_name("application_name", app)?;
        }
        validate_size(&self.window.size).map_err(|e| e.in_field("window.size"))?;
        validate_trigger(&self.window.trigger).map_err(|e| e.in_field("window.trigger"))?;
        if self.columns.is_empty() {
            return Err(Error::invalid("at least one column is needed")
                .field("columns")
                .hint("e.g. - {name: latency_e2e, from: e2e_latency}"));
        }
        if self.columns.len() > MAX_COLUMNS {
            return Err(Error::invalid(format!(
                "{} columns; the limit is {MAX_COLUMNS}",
                self.columns.len()
            ))
            .field("columns"));
        }
        let mut names = HashSet::new();
        for (i, c) in self.columns.iter().enumerate() {
            let at = format!("columns[{i}]");
            validate_column(c).map_err(|e| e.in_field(&at))?;
            if !names.insert(c.name.as_str()) {
                return Err(
                    Error::invalid(format!("duplicate column name {:?}", c.name))
                        .field(format!("{at}.name"))
                        .hint("each column needs its own name"),
                );
            }
        }
        if self.groups.is_empty() {
            return Err(Error::invalid("at least one feature group is needed")
                .field("groups")
                .hint("e.g. - [latency_e2e]"));
        }
        if self.groups.len() > MAX_GROUPS {
            return Err(Error::invalid(format!(
                "{} groups; the limit is {MAX_GROUPS}",
                self.groups.len()
            ))
            .field("groups"));
        }
        let mut grouped = HashSet::new();
        let mut seen_groups = HashSet::new();
        for (i, g) in self.groups.iter().enumerate() {
            if g.is_empty() {
                return Err(Error::invalid("a feature group needs at least one column")
                    .field(format!("groups[{i}]")));
            }
            let mut in_group = HashSet::new();
            for (j, name) in g.iter().enumerate() {
                if !names.contains(name.as_str()) {
                    return Err(
                        unknown_column(name, &self.columns).field(format!("groups[{i}][{j}]"))
                    );
                }
                if !in_group.insert(name.as_str()) {
                    return Err(Error::invalid(format!(
                        "column {name:?} appears twice in this group"
                    ))
                    .field(format!("groups[{i}][{j}]")));
                }
                grouped.insert(name.as_str());
            }
            if !seen_groups.insert(g.as_slice()) {
                return Err(Error::invalid("the same feature group appears twice")
                    .field(format!("groups[{i}]"))
                    .hint("remove the repeated group"));
            }
        }
        validate_analysis(&self.analysis).map_err(|e| e.in_field("analysis"))?;
        for (i, rule) in self.contract.iter().enumerate() {
            let at = format!("contract[{i}]");
            if !names.contains(rule.column.as_str()) {
                return Err(
                    unknown_column(&rule.column, &self.columns).field(format!("{at}.column"))
                );
            }
            if !grouped.contains(rule.column.as_str()) {
                return Err(Error::invalid(format!(
                    "column {:?} is in no feature group, so its statistics are never computed",
                    rule.column
                ))
                .field(format!("{at}.column"))
                .hint("add a group containing it, e.g. - [".to_string() + &rule.column + "]"));
            }
            if rule.min.is_none() && rule.max.is_none() {
                return Err(Error::invalid("a contract rule needs min, max or both")
                    .field(at)
                    .hint("e.g. {column: latency_e2e, stat: p95, max: 0.5}"));
            }
            for (k, v) in [("min", rule.min), ("max", rule.max)] {
                if let Some(v) = v
                    && !v.is_finite()
                {
                    return Err(
                        Error::invalid("must be a finite number").field(format!("{at}.{k}"))
                    );
                }
            }
            if let (Some(lo), Some(hi)) = (rule.min, rule.max)
                && lo > hi
            {
                return Err(Error::invalid(format!("min {lo} is above max {hi}"))
                    .field(format!("{at}.min")));
            }
        }
        Ok(())
    }
}

fn unknown_column(name: &str, columns: &[ColumnSpec]) -> Error {
    let known: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    Error::invalid(format!("unknown column {name:?}"))
        .hint(format!("declared columns: {}", known.join(", ")))
}

/// Stage names become part of a column name: keep letters, digits, `_`, `-` and `.`.
fn column_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(COLUMN_NAME_MAX - "latency_".len())
        .collect()
}

fn validate_size(s: &SizeSpec) -> Result<()> {
    match (s.count, s.seconds) {
        (Some(_), Some(_)) | (None, None) => Err(Error::invalid(
            "give exactly one of count or seconds",
        )
        .hint("{count: 100} keeps the last 100 rows; {seconds: 300} the last 300 s of reports")),
        (Some(n), None) => {
            if n == 0 || n > MAX_WINDOW_ROWS {
                Err(Error::invalid(format!("{n} is outside 1..={MAX_WINDOW_ROWS}")).field("count"))
            } else {
                Ok(())
            }
        }
        (None, Some(t)) => validate_seconds(t).map_err(|e| e.field("seconds")),
    }
}

fn validate_trigger(t: &TriggerSpec) -> Result<()> {
    match (t.every, t.seconds) {
        (Some(_), Some(_)) | (None, None) => {
            Err(Error::invalid("give exactly one of every or seconds")
                .hint("{every: 10} analyses after every 10 rows; {seconds: 5} every 5 s"))
        }
        (Some(0), None) => Err(Error::invalid("must be at least 1").field("every")),
        (Some(_), None) => Ok(()),
        (None, Some(s)) => validate_seconds(s).map_err(|e| e.field("seconds")),
    }
}

fn validate_seconds(t: f64) -> Result<()> {
    if t.is_finite() && (MIN_SECONDS..=MAX_SECONDS).contains(&t) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{t} is outside {MIN_SECONDS}..={MAX_SECONDS} seconds"
        )))
    }
}

fn validate_text(field: &str, v: &str, what: &str) -> Result<()> {
    if v.is_empty() || v.len() > 256 || v.chars().any(char::is_control) {
        return Err(
            Error::invalid(format!("{what} must be printable text of 1 to 256 bytes")).field(field),
        );
    }
    Ok(())
}

fn validate_column(c: &ColumnSpec) -> Result<()> {
    if c.name.is_empty()
        || c.name.len() > COLUMN_NAME_MAX
        || !c
            .name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.'))
    {
        return Err(
            Error::invalid(format!("{:?} is not a valid column name", c.name))
                .field("name")
                .hint(format!(
                    "1 to {COLUMN_NAME_MAX} letters, digits, '_', '-' or '.'"
                )),
        );
    }
    let from = match c.from {
        Source::Metric => "metric",
        Source::Inference => "inference",
        Source::E2eLatency => "e2e_latency",
        Source::StageLatency => "stage_latency",
    };
    let needs_metric = matches!(c.from, Source::Metric | Source::Inference);
    match (&c.metric, needs_metric) {
        (None, true) => {
            return Err(
                Error::invalid(format!("a {from} column needs the metric's name"))
                    .field("metric")
                    .hint("add it"),
            );
        }
        (Some(_), false) => {
            return Err(Error::invalid(format!("a {from} column takes no metric")).field("metric"));
        }
        (Some(m), true) => validate_text("metric", m, "a metric name")?,
        (None, false) => {}
    }
    match (&c.stage, c.from) {
        (None, Source::StageLatency) => {
            return Err(
                Error::invalid("a stage_latency column needs the stage's name")
                    .field("stage")
                    .hint("add it"),
            );
        }
        (Some(_), Source::Inference | Source::E2eLatency) => {
            return Err(Error::invalid(format!("a {from} column takes no stage")).field("stage"));
        }
        (Some(s), _) => validate_text("stage", s, "a stage name")?,
        (None, _) => {}
    }
    if c.aggregate.is_some() && c.from == Source::E2eLatency {
        return Err(Error::invalid(
            "an e2e_latency column has one value per report; it takes no aggregate",
        )
        .field("aggregate"));
    }
    Ok(())
}

fn validate_analysis(a: &AnalysisSpec) -> Result<()> {
    let f = a.function;
    let only = |field: &str, applies: Function| {
        Error::invalid(format!(
            "{field} applies only to function {}, not {}",
            applies.as_str(),
            f.as_str()
        ))
        .field(field.to_string())
    };
    if a.k.is_some() && f != Function::Lof {
        return Err(only("k", Function::Lof));
    }
    for (field, set) in [
        ("contamination", a.contamination.is_some()),
        ("trees", a.trees.is_some()),
        ("subsample", a.subsample.is_some()),
        ("seed", a.seed.is_some()),
    ] {
        if set && f != Function::IsolationForest {
            return Err(only(field, Function::IsolationForest));
        }
    }
    if let Some(k) = a.k
        && !(1..=1000).contains(&k)
    {
        return Err(Error::invalid(format!("{k} is outside 1..=1000"))
            .field("k")
            .hint("the number of neighbours; ROHE's default is 2"));
    }
    if let Some(c) = a.contamination
        && !(c > 0.0 && c <= 0.5)
    {
        return Err(Error::invalid(format!("{c} is outside (0, 0.5]"))
            .field("contamination")
            .hint("the expected fraction of anomalies; ROHE uses 0.05"));
    }
    if let Some(t) = a.trees
        && !(1..=MAX_TREES).contains(&t)
    {
        return Err(Error::invalid(format!("{t} is outside 1..={MAX_TREES}")).field("trees"));
    }
    if let Some(s) = a.subsample
        && !(2..=MAX_SUBSAMPLE).contains(&s)
    {
        return Err(
            Error::invalid(format!("{s} is outside 2..={MAX_SUBSAMPLE}")).field("subsample"),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ROHE start files
// ---------------------------------------------------------------------------------------------

/// A ROHE start file converted into the clean form.
#[derive(Debug, Clone, PartialEq)]
pub struct RoheImport {
    pub config: StreamConfig,
    /// What was carried over, one line each (`ROHE field → rohe field`).
    pub mapped: Vec<String>,
    /// What was left out and why, one line each.
    pub ignored: Vec<String>,
}

/// Either form, told apart by ROHE's `stream_config` key.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {
    Clean(StreamConfig),
    Rohe(RoheImport),
}

impl Loaded {
    pub fn config(&self) -> &StreamConfig {
        match self {
            Loaded::Clean(c) => c,
            Loaded::Rohe(r) => &r.config,
        }
    }
}

/// Read a stream config in either form.
pub fn load(text: &str, file: &str) -> Result<Loaded> {
    let value = yaml::parse_value(text, file)?;
    let is_rohe = value
        .as_mapping()
        .is_some_and(|m| m.contains_key("stream_config") || m.contains_key("command"));
    if is_rohe {
        import_rohe_start(text, file).map(Loaded::Rohe)
    } else {
        StreamConfig::parse(text, file).map(Loaded::Clean)
    }
}

#[derive(Debug, Deserialize)]
struct RoheStart {
    #[serde(alias = "application")]
    application_name: Option<String>,
    command: Option<String>,
    agent_image: Option<String>,
    stream_config: Option<RoheStream>,
}

#[derive(Debug, Deserialize)]
struct RoheStream {
    window: Option<RoheWindow>,
    processing: Option<RoheProcessing>,
}

#[derive(Debug, Deserialize)]
struct RoheWindow {
    interval: Option<RoheCode>,
    size: Option<RoheCode>,
}

#[derive(Debug, Deserialize)]
struct RoheCode {
    #[serde(rename = "type")]
    kind: Option<i64>,
    value: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct RoheProcessing {
    module: Option<String>,
    function: Option<String>,
    parser: Option<RoheParser>,
}

#[derive(Debug, Deserialize)]
struct RoheParser {
    name: Option<String>,
    metric: Option<RoheMetric>,
    feature: Option<Vec<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
struct RoheMetric {
    inference: Option<Vec<String>>,
    data: Option<Vec<RoheData>>,
}

#[derive(Debug, Deserialize)]
struct RoheData {
    name: String,
    stage: Option<String>,
    aggregate: Option<String>,
}

const SC: &str = "stream_config";
const WIN: &str = "stream_config.window";
const PROC: &str = "stream_config.processing";
const PARSER: &str = "stream_config.processing.parser";

/// Keys ROHE's agent reads, per level; any other key is reported as ignored.
const KNOWN_KEYS: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "application_name",
            "application",
            "command",
            "agent_image",
            "stream_config",
        ],
    ),
    (SC, &["window", "processing"]),
    (WIN, &["interval", "size"]),
    ("stream_config.window.interval", &["type", "value"]),
    ("stream_config.window.size", &["type", "value"]),
    (PROC, &["module", "function", "parser"]),
    (PARSER, &["name", "metric", "feature"]),
    (
        "stream_config.processing.parser.metric",
        &["inference", "data"],
    ),
];

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(v);
    }
    path.split('.').try_fold(v, |v, k| v.as_mapping()?.get(k))
}

fn unknown_keys(root: &Value, ignored: &mut Vec<String>) {
    for (path, known) in KNOWN_KEYS {
        let Some(map) = lookup(root, path).and_then(Value::as_mapping) else {
            continue;
        };
        for k in map.keys() {
            let name = match k {
                Value::String(s) => s.clone(),
                other => format!("{other:?}"),
            };
            if !known.contains(&name.as_str()) {
                let full = if path.is_empty() {
                    name
                } else {
                    format!("{path}.{name}")
                };
                ignored.push(format!(
                    "{full}: not a key ROHE's agent reads for this parser"
                ));
            }
        }
    }
}

fn invalid_at(file: &str, field: &str, msg: impl Into<String>) -> Error {
    Error::invalid(msg).field(field).file(file)
}

/// Convert a ROHE agent start file (rohe-spec §2.1) into the clean form.
///
/// Window codes are the canonical ones: `size.type` 1 = time window (seconds), 2 = count window;
/// `interval.type` 1 = periodic timer (seconds), 2 = every N messages. Functions:
/// `detect_local_outlier_factor` → `lof` (k = 2), `detect_isolation_forest` →
/// `isolation_forest` (contamination 0.05, seed 1), `dummy` → `summary`. Parsers:
/// `objectDetectionParser` → one column per `metric.inference` name and per `metric.data`
/// entry; `dummy` → rohe's default columns. `sdnParser` and the `sdn_*` functions read SDN
/// switch statistics, which QoA4ML reports do not carry: they are refused.
pub fn import_rohe_start(text: &str, file: &str) -> Result<RoheImport> {
    let root = yaml::parse_value(text, file)?;
    let start: RoheStart = yaml::parse(text, file)?;
    let mut mapped = Vec::new();
    let mut ignored = Vec::new();
    unknown_keys(&root, &mut ignored);

    let app = start.application_name.clone().ok_or_else(|| {
        invalid_at(file, "application_name", "missing field `application_name`").hint("add it")
    })?;
    crate::domain::names::validate_app_name("application_name", &app).map_err(|e| e.file(file))?;
    mapped.push(format!("application_name: {app} → application_name"));
    match start.command.as_deref() {
        Some("stop") => {
            return Err(invalid_at(
                file,
                "command",
                "this is a stop file; a stream config comes from a start file",
            )
            .hint("stop an agent with `rohe agent stop --app NAME`"));
        }
        Some(c) => ignored.push(format!(
            "command: {c} (informational; rohe starts agents with `rohe agent start`)"
        )),
        None => {}
    }
    if let Some(img) = &start.agent_image {
        ignored.push(format!("agent_image: {img} (rohe runs its own agent)"));
    }
    let sc = start
        .stream_config
        .ok_or_else(|| invalid_at(file, SC, "missing field `stream_config`").hint("add it"))?;

    // Window.
    let win = sc.window.ok_or_else(|| {
        invalid_at(file, WIN, "missing field `window`").hint("add interval and size")
    })?;
    let size_code = win.size.ok_or_else(|| {
        invalid_at(file, &format!("{WIN}.size"), "missing field `size`")
            .hint("{type: 2, value: 100} keeps the last 100 messages")
    })?;
    let interval_code = win.interval.ok_or_else(|| {
        invalid_at(file, &format!("{WIN}.interval"), "missing field `interval`")
            .hint("{type: 2, value: 3} analyses after every 3 messages")
    })?;
    let size = match code(&size_code, &format!("{WIN}.size"), file)? {
        (1, v) => {
            validate_seconds(v).map_err(|e| e.field(format!("{WIN}.size.value")).file(file))?;
            mapped.push(format!(
                "{WIN}.size {{type: 1, value: {v}}} → window.size.seconds: {v} (time window)"
            ));
            SizeSpec {
                count: None,
                seconds: Some(v),
            }
        }
        (2, v) => {
            let n = whole(
                v,
                1,
                MAX_WINDOW_ROWS as u64,
                &format!("{WIN}.size.value"),
                file,
            )?;
            mapped.push(format!(
                "{WIN}.size {{type: 2, value: {n}}} → window.size.count: {n} (count window)"
            ));
            SizeSpec {
                count: Some(n as usize),
                seconds: None,
            }
        }
        (t, _) => {
            return Err(invalid_at(
                file,
                &format!("{WIN}.size.type"),
                format!("unknown window type {t}"),
            )
            .hint("1 = time window (value in seconds), 2 = count window (value in messages)"));
        }
    };
    let trigger = match code(&interval_code, &format!("{WIN}.interval"), file)? {
        (1, v) => {
            validate_seconds(v).map_err(|e| e.field(format!("{WIN}.interval.value")).file(file))?;
            mapped.push(format!(
                "{WIN}.interval {{type: 1, value: {v}}} → window.trigger.seconds: {v}"
            ));
            TriggerSpec {
                every: None,
                seconds: Some(v),
            }
        }
        (2, v) => {
            let n = whole(
                v,
                1,
                u32::MAX as u64,
                &format!("{WIN}.interval.value"),
                file,
            )?;
            mapped.push(format!(
                "{WIN}.interval {{type: 2, value: {n}}} → window.trigger.every: {n}"
            ));
            TriggerSpec {
                every: Some(n),
                seconds: None,
            }
        }
        (t, _) => {
            return Err(invalid_at(
                file,
                &format!("{WIN}.interval.type"),
                format!("unknown trigger type {t}"),
            )
            .hint("1 = periodic timer (value in seconds), 2 = every N messages"));
        }
    };

    // Processing.
    let proc_ = sc.processing.ok_or_else(|| {
        invalid_at(file, PROC, "missing field `processing`").hint("add function and parser")
    })?;
    if let Some(m) = &proc_.module {
        ignored.push(format!(
            "{PROC}.module: {m} (ROHE loads Python user modules; rohe's parsers and functions are built in)"
        ));
    }
    let function = proc_.function.as_deref().ok_or_else(|| {
        invalid_at(
            file,
            &format!("{PROC}.function"),
            "missing field `function`",
        )
        .hint("detect_local_outlier_factor, detect_isolation_forest or dummy")
    })?;
    let analysis = match function {
        "detect_local_outlier_factor" => {
            mapped.push(format!(
                "{PROC}.function: {function} → analysis: {{function: lof, k: 2}} (flag LOF > 1.5)"
            ));
            AnalysisSpec {
                function: Function::Lof,
                k: Some(DEFAULT_LOF_K),
                ..Default::default()
            }
        }
        "detect_isolation_forest" => {
            mapped.push(format!(
                "{PROC}.function: {function} → analysis: {{function: isolation_forest, contamination: 0.05, seed: 1}}"
            ));
            AnalysisSpec {
                function: Function::IsolationForest,
                contamination: Some(DEFAULT_CONTAMINATION),
                seed: Some(DEFAULT_SEED),
                ..Default::default()
            }
        }
        "dummy" | "dummy_function" => {
            mapped.push(format!(
                "{PROC}.function: {function} → analysis: {{function: summary}} (ROHE skipped the window; rohe still computes summary statistics)"
            ));
            AnalysisSpec::default()
        }
        f if f.starts_with("sdn_") => {
            return Err(invalid_at(
                file,
                &format!("{PROC}.function"),
                format!("{f} is not supported: it works on SDN switch counters, which QoA4ML reports do not carry"),
            )
            .hint("use detect_local_outlier_factor or detect_isolation_forest, or write a clean rohe stream config"));
        }
        f => {
            return Err(invalid_at(
                file,
                &format!("{PROC}.function"),
                format!("unknown function {f:?}"),
            )
            .hint("detect_local_outlier_factor, detect_isolation_forest or dummy"));
        }
    };

    let parser = proc_.parser.ok_or_else(|| {
        invalid_at(file, PARSER, "missing field `parser`").hint("add name, metric and feature")
    })?;
    let parser_name = parser.name.as_deref().ok_or_else(|| {
        invalid_at(file, &format!("{PARSER}.name"), "missing field `name`")
            .hint("objectDetectionParser or dummy")
    })?;
    let (columns, groups) = match parser_name {
        "objectDetectionParser" => object_detection(&parser, file, &mut mapped, &mut ignored)?,
        "dummy" => {
            let d = StreamConfig::default_for_app(&app, &[]);
            mapped.push(format!(
                "{PARSER}.name: dummy → rohe's default columns (latency_e2e, confidence, accuracy), one group each (ROHE only logged the reports; rohe stores and summarises them)"
            ));
            if parser.metric.is_some() {
                ignored.push(format!(
                    "{PARSER}.metric (the dummy parser selects nothing)"
                ));
            }
            if parser.feature.is_some() {
                ignored.push(format!(
                    "{PARSER}.feature (the dummy parser selects nothing)"
                ));
            }
            (d.columns, d.groups)
        }
        "sdnParser" => {
            return Err(invalid_at(
                file,
                &format!("{PARSER}.name"),
                "sdnParser is not supported: it reads SDN switch statistics (FlowStats, PortStats, Aggregate), which QoA4ML reports do not carry",
            )
            .hint("use objectDetectionParser with metric.inference / metric.data, or write a clean rohe stream config"));
        }
        other => {
            return Err(invalid_at(
                file,
                &format!("{PARSER}.name"),
                format!("unsupported parser {other:?}"),
            )
            .hint("objectDetectionParser or dummy"));
        }
    };

    let config = StreamConfig {
        application_name: Some(app),
        window: WindowSpec { size, trigger },
        columns,
        groups,
        analysis,
        contract: Vec::new(),
    };
    config.validate().map_err(|e| {
        let field = e.field.clone().unwrap_or_default();
        Error::invalid(format!(
            "after conversion to rohe's form, {field}: {}",
            e.message
        ))
        .file(file)
    })?;
    Ok(RoheImport {
        config,
        mapped,
        ignored,
    })
}

fn code(c: &RoheCode, at: &str, file: &str) -> Result<(i64, f64)> {
    let kind = c.kind.ok_or_else(|| {
        invalid_at(file, &format!("{at}.type"), "missing field `type`").hint("add it")
    })?;
    let value = c.value.ok_or_else(|| {
        invalid_at(file, &format!("{at}.value"), "missing field `value`").hint("add it")
    })?;
    Ok((kind, value))
}

fn whole(v: f64, lo: u64, hi: u64, at: &str, file: &str) -> Result<u64> {
    if v.fract() != 0.0 || !v.is_finite() || v < lo as f64 || v > hi as f64 {
        return Err(invalid_at(
            file,
            at,
            format!("{v} is not a whole number in {lo}..={hi}"),
        ));
    }
    Ok(v as u64)
}

type Columns = (Vec<ColumnSpec>, Vec<Vec<String>>);

fn object_detection(
    parser: &RoheParser,
    file: &str,
    mapped: &mut Vec<String>,
    ignored: &mut Vec<String>,
) -> Result<Columns> {
    let metric = parser.metric.as_ref().ok_or_else(|| {
        invalid_at(file, &format!("{PARSER}.metric"), "missing field `metric`")
            .hint("select metrics with inference: [confidence] or data: [{name, stage, aggregate}]")
    })?;
    let mut columns: Vec<ColumnSpec> = Vec::new();
    let mut origin: BTreeMap<String, String> = BTreeMap::new();
    for (i, name) in metric.inference.iter().flatten().enumerate() {
        let at = format!("{PARSER}.metric.inference[{i}]");
        if let Some(first) = origin.get(name) {
            return Err(invalid_at(
                file,
                &at,
                format!("column {name:?} is already selected by {first}"),
            ));
        }
        let mut c = ColumnSpec::new(name, Source::Inference);
        c.metric = Some(name.clone());
        validate_column(&c).map_err(|e| e.field(at.clone()).file(file))?;
        mapped.push(format!(
            "{at}: {name} → column {name} {{from: inference, metric: {name}}} (mean over the report's inference instances; ROHE read only the last inference)"
        ));
        origin.insert(name.clone(), at);
        columns.push(c);
    }
    for (i, d) in metric.data.iter().flatten().enumerate() {
        let at = format!("{PARSER}.metric.data[{i}]");
        if let Some(first) = origin.get(&d.name) {
            return Err(invalid_at(
                file,
                &format!("{at}.name"),
                format!("column {:?} is already selected by {first}", d.name),
            )
            .hint("ROHE would overwrite one with the other; rohe needs distinct names"));
        }
        let aggregate = match d.aggregate.as_deref() {
            None => None,
            Some("mean") => Some(Aggregate::Mean),
            Some("max") => Some(Aggregate::Max),
            Some("min") => Some(Aggregate::Min),
            Some("sum") => Some(Aggregate::Sum),
            Some(other) => {
                return Err(invalid_at(
                    file,
                    &format!("{at}.aggregate"),
                    format!("unknown aggregate {other:?}"),
                )
                .hint("mean, max, min or sum"));
            }
        };
        let mut c = ColumnSpec::new(&d.name, Source::Metric);
        c.metric = Some(d.name.clone());
        c.stage = d.stage.clone();
        c.aggregate = aggregate;
        validate_column(&c).map_err(|e| e.in_field(&at).file(file))?;
        let stage = d
            .stage
            .as_deref()
            .map_or("every stage".to_string(), |s| format!("stage: {s}"));
        let agg = aggregate.unwrap_or_default().as_str();
        mapped.push(format!(
            "{at}: {} → column {} {{from: metric, metric: {}, {stage}, aggregate: {agg}}}",
            d.name, d.name, d.name
        ));
        origin.insert(d.name.clone(), at);
        columns.push(c);
    }
    if columns.is_empty() {
        return Err(
            invalid_at(file, &format!("{PARSER}.metric"), "selects no metric")
                .hint("add inference: [confidence] or data: [{name, stage, aggregate}]"),
        );
    }
    let feature = parser.feature.as_ref().ok_or_else(|| {
        invalid_at(
            file,
            &format!("{PARSER}.feature"),
            "missing field `feature`",
        )
        .hint("list the feature groups, e.g. [[accuracy], [image_width, image_height]]")
    })?;
    if feature.is_empty() {
        return Err(invalid_at(
            file,
            &format!("{PARSER}.feature"),
            "at least one feature group is needed",
        ));
    }
    for (i, g) in feature.iter().enumerate() {
        if g.is_empty() {
            return Err(invalid_at(
                file,
                &format!("{PARSER}.feature[{i}]"),
                "a feature group needs at least one column",
            ));
        }
        for (j, name) in g.iter().enumerate() {
            if !origin.contains_key(name) {
                return Err(unknown_column(name, &columns)
                    .field(format!("{PARSER}.feature[{i}][{j}]"))
                    .file(file));
            }
        }
    }
    mapped.push(format!(
        "{PARSER}.feature → groups ({} feature group{})",
        feature.len(),
        if feature.len() == 1 { "" } else { "s" }
    ));
    let used: HashSet<&str> = feature.iter().flatten().map(String::as_str).collect();
    for c in &columns {
        if !used.contains(c.name.as_str()) {
            ignored.push(format!(
                "column {} is selected but in no feature group: it is extracted but not analysed",
                c.name
            ));
        }
    }
    Ok((columns, feature.clone()))
}
