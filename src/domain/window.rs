//! The window of an observation agent (rohe-spec §2.2): one [`Row`] per report with the
//! configured columns, a [`Window`] buffer (the last N rows, or the rows within T seconds of the
//! newest), and a [`Trigger`] deciding when the window is analysed. Pure: the caller supplies the
//! clock.
//!
//! ```text
//! let row = extract_row(&cfg, &report);
//! window.push(row);
//! if let Some(seq) = trigger.on_row() { results = analyse(&cfg, &window, seq) }
//! // periodic triggers: on every timer tick (or with each report's timestamp)
//! if let Some(seq) = trigger.due(now) { results = analyse(&cfg, &window, seq) }
//! ```

use crate::domain::report::{Category, Observation, Report};
use crate::domain::stream::{
    Aggregate, MAX_WINDOW_ROWS, Source, StreamConfig, TriggerRule, WindowSize,
};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;

/// The figures of one report: one value per configured column, in the config's column order.
/// A column whose metric the report does not carry is `None`, never zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The report's timestamp (epoch seconds), if it has one.
    pub ts: Option<f64>,
    /// The report's correlation id, to find the stored report behind an anomaly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corr_id: Option<String>,
    pub values: Vec<Option<f64>>,
}

impl Row {
    /// Stamp a row without a report timestamp with the time it was received (epoch seconds).
    /// Time windows refuse rows without a timestamp.
    pub fn or_received(mut self, received: f64) -> Row {
        if self.ts.is_none() && received.is_finite() {
            self.ts = Some(received);
        }
        self
    }
}

/// Take the configured columns from one report.
pub fn extract_row(cfg: &StreamConfig, report: &Report) -> Row {
    let values = cfg
        .columns
        .iter()
        .map(|c| {
            let agg = c.aggregate.unwrap_or_default();
            let v = match c.from {
                Source::E2eLatency => report.end_to_end_latency(),
                Source::StageLatency => aggregate(
                    agg,
                    report
                        .observations
                        .iter()
                        .filter(|o| {
                            o.category == Category::Service
                                && o.metric == "response_time"
                                && o.stage.as_deref() == c.stage.as_deref()
                        })
                        .map(|o| o.value),
                ),
                Source::Inference => {
                    let name = c.metric.as_deref().unwrap_or_default();
                    aggregate(
                        agg,
                        report
                            .observations
                            .iter()
                            .filter(|o| o.category == Category::Inference && o.metric == name)
                            .map(|o| o.value),
                    )
                }
                Source::Metric => {
                    let name = c.metric.as_deref().unwrap_or_default();
                    let stage = c.stage.as_deref();
                    aggregate(
                        agg,
                        report
                            .observations
                            .iter()
                            .filter(|o| is_metric(o, name, stage))
                            .map(|o| o.value),
                    )
                }
            };
            v.filter(|x| x.is_finite())
        })
        .collect();
    Row {
        ts: report.meta.timestamp.filter(|t| t.is_finite()),
        corr_id: report.meta.corr_id.clone(),
        values,
    }
}

fn is_metric(o: &Observation, name: &str, stage: Option<&str>) -> bool {
    o.category != Category::Inference
        && o.metric == name
        && stage.is_none_or(|s| o.stage.as_deref() == Some(s))
}

/// Reduce the values one report carries for a column (several instances, or several stages).
/// None when there are none.
fn aggregate(agg: Aggregate, values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut n = 0usize;
    let mut acc = 0.0;
    for v in values {
        acc = match (n, agg) {
            (0, _) => v,
            (_, Aggregate::Mean | Aggregate::Sum) => acc + v,
            (_, Aggregate::Max) => acc.max(v),
            (_, Aggregate::Min) => acc.min(v),
        };
        n += 1;
    }
    match (n, agg) {
        (0, _) => None,
        (_, Aggregate::Mean) => Some(acc / n as f64),
        _ => Some(acc),
    }
}

/// The rows an analysis sees.
///
/// * Count window: the last N rows pushed, in arrival order.
/// * Time window: the rows whose timestamp is within T seconds of the newest timestamp pushed
///   (`ts >= newest - T`), at most [`MAX_WINDOW_ROWS`]. Rows arriving out of order are kept in
///   arrival order and leave the window when they fall out of the time range. Rows without a
///   timestamp are refused and counted (stamp them with [`Row::or_received`] first).
#[derive(Debug, Clone)]
pub struct Window {
    size: WindowSize,
    /// Shared, so that the snapshot the agent hands to analysis every few rows copies
    /// pointers, not rows.
    rows: VecDeque<Arc<Row>>,
    newest: Option<f64>,
    refused_untimed: u64,
}

impl Window {
    pub fn new(size: WindowSize) -> Window {
        let size = match size {
            WindowSize::Count(n) => WindowSize::Count(n.clamp(1, MAX_WINDOW_ROWS)),
            WindowSize::Seconds(t) if t.is_finite() && t >= 0.0 => WindowSize::Seconds(t),
            WindowSize::Seconds(_) => WindowSize::Seconds(0.0),
        };
        let cap = match size {
            WindowSize::Count(n) => n.min(4096),
            WindowSize::Seconds(_) => 1024,
        };
        Window {
            size,
            rows: VecDeque::with_capacity(cap),
            newest: None,
            refused_untimed: 0,
        }
    }

    pub fn for_config(cfg: &StreamConfig) -> Window {
        Window::new(cfg.size())
    }

    pub fn size(&self) -> WindowSize {
        self.size
    }

    /// Add a row; false when a time window refused it for lack of a timestamp.
    pub fn push(&mut self, row: Row) -> bool {
        match self.size {
            WindowSize::Count(n) => {
                if let Some(ts) = row.ts {
                    self.newest = Some(self.newest.map_or(ts, |m| m.max(ts)));
                }
                if self.rows.len() == n {
                    self.rows.pop_front();
                }
                self.rows.push_back(Arc::new(row));
            }
            WindowSize::Seconds(t) => {
                let Some(ts) = row.ts else {
                    self.refused_untimed += 1;
                    return false;
                };
                let newest = self.newest.map_or(ts, |m| m.max(ts));
                self.newest = Some(newest);
                let cutoff = newest - t;
                if ts < cutoff {
                    // Already too old to be in the window.
                    return true;
                }
                self.rows.push_back(Arc::new(row));
                while self
                    .rows
                    .front()
                    .is_some_and(|r| r.ts.is_none_or(|x| x < cutoff))
                {
                    self.rows.pop_front();
                }
                while self.rows.len() > MAX_WINDOW_ROWS {
                    self.rows.pop_front();
                }
            }
        }
        true
    }

    /// The rows in the window, oldest first (arrival order).
    pub fn rows(&self) -> impl Iterator<Item = &Row> + '_ {
        let cutoff = match self.size {
            WindowSize::Seconds(t) => self.newest.map(|n| n - t),
            WindowSize::Count(_) => None,
        };
        self.rows
            .iter()
            .map(|r| &**r)
            .filter(move |r| match (cutoff, r.ts) {
                (Some(c), Some(ts)) => ts >= c,
                (Some(_), None) => false,
                (None, _) => true,
            })
    }

    pub fn len(&self) -> usize {
        match self.size {
            WindowSize::Count(_) => self.rows.len(),
            WindowSize::Seconds(_) => self.rows().count(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The newest report timestamp seen.
    pub fn newest(&self) -> Option<f64> {
        self.newest
    }

    /// Rows a time window refused because they had no timestamp.
    pub fn refused_untimed(&self) -> u64 {
        self.refused_untimed
    }
}

/// When to analyse the window. Each run it allows gets the next window sequence number
/// (1, 2, 3, ...), so every stored result names the run it came from.
///
/// * Every N rows: [`Trigger::on_row`] fires on rows N, 2N, 3N, ... (rohe-spec 8.3 W1).
/// * Every T seconds: [`Trigger::due`] fires when `now` (a clock value or a report timestamp
///   the caller supplies) is at least T seconds past the previous run, or past the first call
///   for the first run, and at least one row arrived since the previous run (an unchanged window
///   is not analysed twice, and an empty one never).
#[derive(Debug, Clone)]
pub struct Trigger {
    rule: TriggerRule,
    pending: u64,
    last_run: Option<f64>,
    seq: u64,
}

impl Trigger {
    pub fn new(rule: TriggerRule) -> Trigger {
        Trigger {
            rule,
            pending: 0,
            last_run: None,
            seq: 0,
        }
    }

    pub fn for_config(cfg: &StreamConfig) -> Trigger {
        Trigger::new(cfg.trigger())
    }

    /// Continue numbering after `last_seq` (an agent restarting after its stored results).
    pub fn resume_after(mut self, last_seq: u64) -> Trigger {
        self.seq = last_seq;
        self
    }

    pub fn rule(&self) -> TriggerRule {
        self.rule
    }

    /// A row was pushed. For an every-N trigger, the window sequence number when a run is due.
    pub fn on_row(&mut self) -> Option<u64> {
        self.pending = self.pending.saturating_add(1);
        match self.rule {
            TriggerRule::EveryRows(n) if self.pending >= n.max(1) => Some(self.fire(None)),
            _ => None,
        }
    }

    /// The clock says `now` (epoch seconds). For a periodic trigger, the window sequence number
    /// when a run is due. Every-N triggers never fire here.
    pub fn due(&mut self, now: f64) -> Option<u64> {
        let TriggerRule::Seconds(period) = self.rule else {
            return None;
        };
        if !now.is_finite() {
            return None;
        }
        let Some(last) = self.last_run else {
            self.last_run = Some(now);
            return None;
        };
        if now - last >= period && self.pending > 0 {
            Some(self.fire(Some(now)))
        } else {
            None
        }
    }

    fn fire(&mut self, now: Option<f64>) -> u64 {
        self.pending = 0;
        if now.is_some() {
            self.last_run = now;
        }
        self.seq += 1;
        self.seq
    }

    /// The sequence number of the latest run (0 before the first).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Rows pushed since the latest run.
    pub fn pending(&self) -> u64 {
        self.pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::decode;
    use crate::domain::stream::StreamConfig;

    fn cfg(columns: &str) -> StreamConfig {
        let text = format!(
            "window: {{size: {{count: 100}}, trigger: {{every: 3}}}}\ncolumns:\n{columns}groups: [[{}]]\n",
            "x"
        );
        StreamConfig::parse(&text, "test").unwrap()
    }

    fn legacy(quality: &str) -> Report {
        decode(
            format!(
                r#"{{"metadata": {{"timestamp": 100.5, "stage_id": "S"}}, "quality": {quality}}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    }

    fn row(ts: Option<f64>, v: f64) -> Row {
        Row {
            ts,
            corr_id: None,
            values: vec![Some(v)],
        }
    }

    #[test]
    fn w2_data_metric_aggregated_over_instances() {
        let report = legacy(r#"{"data": {"S": {"w": {"i1": 10, "i2": 30}}}}"#);
        for (agg, want) in [("mean", 20.0), ("max", 30.0), ("min", 10.0), ("sum", 40.0)] {
            let c = cfg(&format!(
                "  - {{name: x, from: metric, metric: w, stage: S, aggregate: {agg}}}\n"
            ));
            let r = extract_row(&c, &report);
            assert_eq!(r.values, vec![Some(want)], "{agg}");
            assert_eq!(r.ts, Some(100.5));
        }
        // Another stage's metric of the same name is not this column's.
        let c = cfg("  - {name: x, from: metric, metric: w, stage: T}\n");
        assert_eq!(extract_row(&c, &report).values, vec![None]);
    }

    #[test]
    fn w3_inference_metric() {
        let report = legacy(
            r#"{"inference": {"X": {"instance_id": "i1", "confidence": {"value": 0.8}}, "last_inference": "X"}}"#,
        );
        let c = cfg("  - {name: x, from: inference, metric: confidence}\n");
        assert_eq!(extract_row(&c, &report).values, vec![Some(0.8)]);
    }

    #[test]
    fn an_absent_metric_is_missing_not_zero() {
        let report = legacy(r#"{"data": {"S": {"w": {"i1": 10}}}}"#);
        for col in [
            "  - {name: x, from: inference, metric: accuracy}\n",
            "  - {name: x, from: e2e_latency}\n",
            "  - {name: x, from: stage_latency, stage: S}\n",
            "  - {name: x, from: metric, metric: height}\n",
        ] {
            assert_eq!(extract_row(&cfg(col), &report).values, vec![None], "{col}");
        }
    }

    #[test]
    fn example_report_columns() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/example/reports/ml_report_0.3.json"
        ))
        .unwrap();
        let report = decode(&body).unwrap();
        let c = cfg(
            "  - {name: x, from: e2e_latency}\n  - {name: gw, from: stage_latency, stage: gateway}\n  - {name: w, from: metric, metric: image_width, aggregate: max}\n",
        );
        let r = extract_row(&c, &report);
        assert!((r.values[0].unwrap() - 0.6853239).abs() < 1e-6);
        assert_eq!(r.values[1], Some(0.1000859));
        // image_width of gateway (1280) and data_processing (640): max over stages.
        assert_eq!(r.values[2], Some(1280.0));
        assert_eq!(
            r.corr_id.as_deref(),
            Some("5f0c1e8a-9b1d-4e55-8f0e-3c0a7d2b6c11")
        );
    }

    #[test]
    fn w1_every_three_rows_over_the_last_hundred() {
        let mut w = Window::new(WindowSize::Count(100));
        let mut t = Trigger::new(TriggerRule::EveryRows(3));
        let mut fired = Vec::new();
        for i in 1..=250u64 {
            w.push(row(Some(i as f64), i as f64));
            if let Some(seq) = t.on_row() {
                fired.push((i, seq, w.len()));
            }
        }
        assert_eq!(fired.len(), 83);
        assert_eq!(fired[0], (3, 1, 3));
        assert_eq!(fired[1], (6, 2, 6));
        assert_eq!(fired[2], (9, 3, 9));
        assert_eq!(*fired.last().unwrap(), (249, 83, 100));
        let vals: Vec<f64> = w.rows().map(|r| r.values[0].unwrap()).collect();
        assert_eq!(vals.first(), Some(&151.0));
        assert_eq!(vals.last(), Some(&250.0));
        assert_eq!(t.pending(), 1);
        // A periodic clock never fires an every-N trigger.
        assert_eq!(t.due(1e12), None);
    }

    #[test]
    fn time_window_eviction() {
        let mut w = Window::new(WindowSize::Seconds(10.0));
        for ts in [0.0, 5.0, 10.0, 15.0] {
            assert!(w.push(row(Some(ts), ts)));
        }
        let ts: Vec<f64> = w.rows().filter_map(|r| r.ts).collect();
        assert_eq!(ts, vec![5.0, 10.0, 15.0]);
        // Too old on arrival: not kept. Late but within range: kept.
        assert!(w.push(row(Some(3.0), 3.0)));
        assert!(w.push(row(Some(12.0), 12.0)));
        let ts: Vec<f64> = w.rows().filter_map(|r| r.ts).collect();
        assert_eq!(ts, vec![5.0, 10.0, 15.0, 12.0]);
        // The late row leaves with time even though it is not at the front.
        assert!(w.push(row(Some(23.0), 23.0)));
        let ts: Vec<f64> = w.rows().filter_map(|r| r.ts).collect();
        assert_eq!(ts, vec![15.0, 23.0]);
        assert_eq!(w.len(), 2);
        // No timestamp: refused and counted, unless stamped on receipt.
        assert!(!w.push(row(None, 1.0)));
        assert_eq!(w.refused_untimed(), 1);
        assert!(w.push(row(None, 1.0).or_received(24.0)));
        assert_eq!(w.len(), 3);
        assert_eq!(w.newest(), Some(24.0));
    }

    #[test]
    fn time_window_hard_cap() {
        let mut w = Window::new(WindowSize::Seconds(1e6));
        for i in 0..(MAX_WINDOW_ROWS + 10) {
            w.push(row(Some(i as f64 * 1e-3), 0.0));
        }
        assert_eq!(w.len(), MAX_WINDOW_ROWS);
        assert_eq!(w.rows().next().and_then(|r| r.ts), Some(10.0 * 1e-3));
    }

    #[test]
    fn count_window_keeps_untimed_rows() {
        let mut w = Window::new(WindowSize::Count(2));
        assert!(w.push(row(None, 1.0)));
        assert!(w.push(row(None, 2.0)));
        assert!(w.push(row(None, 3.0)));
        let v: Vec<f64> = w.rows().map(|r| r.values[0].unwrap()).collect();
        assert_eq!(v, vec![2.0, 3.0]);
    }

    #[test]
    fn periodic_trigger() {
        let mut t = Trigger::new(TriggerRule::Seconds(10.0)).resume_after(41);
        assert_eq!(t.due(100.0), None, "the first call starts the period");
        assert_eq!(t.on_row(), None);
        assert_eq!(t.due(105.0), None);
        assert_eq!(t.due(110.0), Some(42));
        assert_eq!(t.due(125.0), None, "no new rows since the last run");
        t.on_row();
        assert_eq!(t.due(125.0), Some(43));
        t.on_row();
        assert_eq!(t.due(134.9), None);
        assert_eq!(t.due(f64::NAN), None);
        assert_eq!(t.due(135.0), Some(44));
        assert_eq!(t.seq(), 44);
    }
}
