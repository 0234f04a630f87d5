//! The metrics an application's agent stored, summarised for a time range: what the Metrics
//! tab shows (live: the last N minutes, refreshed; history: any range) and what
//! `rohe metrics query` prints. Computed from the stored reports themselves, so per-instance
//! figures exist whatever the agent's stream config selects, plus the agent's analysis
//! documents (anomalies, contract violations) in the same range.

use super::Ops;
use crate::domain::analysis::{Bound, percentile};
use crate::domain::report::{Category, decode};
use crate::domain::stream::Stat;
use crate::error::Result;
use crate::ports::store::{StoredAnalysis, TimeRange};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// At most this many reports are summarised per query (the newest); `truncated` says so.
pub const MAX_REPORTS: usize = 20_000;

#[derive(Debug, Clone, Default)]
pub struct MetricsQuery {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub stage: Option<String>,
    pub metric: Option<String>,
    /// Chart resolution: the range is cut into this many buckets.
    pub buckets: usize,
}

/// Summary of one metric of one stage (and one instance, or all of them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesRow {
    pub category: Category,
    /// None for pipeline-wide figures (end-to-end latency, report-level inference metrics).
    pub stage: Option<String>,
    /// None: every instance of the stage together.
    pub instance: Option<String>,
    pub metric: String,
    pub count: usize,
    pub mean: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// One slice of the range, for sparklines and charts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    pub reports: usize,
    pub e2e_p95: Option<f64>,
    pub confidence_mean: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnomalyRow {
    pub at: DateTime<Utc>,
    pub window_id: String,
    pub group: String,
    pub ts: Option<f64>,
    pub score: f64,
    pub values: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViolationRow {
    pub at: DateTime<Utc>,
    pub window_id: String,
    pub column: String,
    pub stat: Stat,
    pub value: f64,
    pub limit: f64,
    pub kind: Bound,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsView {
    pub application_name: String,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Reports summarised, and whether older ones in the range were left out.
    pub reports: usize,
    pub truncated: bool,
    /// Stored reports that no longer decode (written by another version).
    pub undecodable: usize,
    /// Reports per second over the span the reports cover.
    pub throughput_per_s: Option<f64>,
    pub series: Vec<SeriesRow>,
    pub buckets: Vec<Bucket>,
    pub windows: usize,
    /// Newest last; at most 200 of each.
    pub anomalies: Vec<AnomalyRow>,
    pub violations: Vec<ViolationRow>,
}

impl MetricsView {
    /// The pipeline's end-to-end latency row, when reports carried stage latencies.
    pub fn e2e(&self) -> Option<&SeriesRow> {
        self.series
            .iter()
            .find(|r| r.stage.is_none() && r.metric == "e2e_latency")
    }
}

fn summarise(
    category: Category,
    stage: Option<String>,
    instance: Option<String>,
    metric: String,
    mut v: Vec<f64>,
) -> SeriesRow {
    v.retain(|x| x.is_finite());
    v.sort_by(f64::total_cmp);
    let n = v.len();
    SeriesRow {
        category,
        stage,
        instance,
        metric,
        count: n,
        mean: (n > 0).then(|| v.iter().sum::<f64>() / n as f64),
        min: v.first().copied(),
        max: v.last().copied(),
        p50: percentile(&v, 0.50),
        p95: percentile(&v, 0.95),
        p99: percentile(&v, 0.99),
    }
}

type Key = (Category, Option<String>, Option<String>, String);

impl Ops {
    pub async fn metrics_view(&self, name: &str, q: &MetricsQuery) -> Result<MetricsView> {
        let app = self.get_app(name).await?;
        let range = TimeRange {
            since: q.since,
            until: q.until,
            limit: MAX_REPORTS,
        };
        let reports = self.store.query_reports(app.app_id, range).await?;
        let analyses = self
            .store
            .query_analysis(
                app.app_id,
                TimeRange {
                    limit: 5_000,
                    ..range
                },
            )
            .await?;
        Ok(build_view(&app, q, &reports, &analyses))
    }
}

/// One row per flagged report and feature group. Windows overlap (the default analyses the last
/// 100 rows every 10), so one outlying report is flagged by up to ten windows; counting each
/// verdict told operators of more anomalies than there were reports. The latest window's verdict
/// (most context) is kept, in the order the reports were flagged first. Rows without a report
/// timestamp cannot be matched and are all kept.
fn distinct_anomalies(rows: Vec<AnomalyRow>) -> Vec<AnomalyRow> {
    let mut at: std::collections::HashMap<(String, u64), usize> = Default::default();
    let mut out: Vec<AnomalyRow> = Vec::with_capacity(rows.len());
    for row in rows {
        match row.ts {
            Some(ts) => match at.entry((row.group.clone(), ts.to_bits())) {
                std::collections::hash_map::Entry::Occupied(e) => out[*e.get()] = row,
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(out.len());
                    out.push(row);
                }
            },
            None => out.push(row),
        }
    }
    out
}

/// The view from stored reports and analyses (pure, for tests and benchmarks).
pub fn build_view(
    app: &crate::domain::app::Application,
    q: &MetricsQuery,
    reports: &[crate::ports::StoredReport],
    analyses: &[StoredAnalysis],
) -> MetricsView {
    let mut values: BTreeMap<Key, Vec<f64>> = BTreeMap::new();
    let mut undecodable = 0;
    let first = reports.first().map(|r| r.received_at);
    let last = reports.last().map(|r| r.received_at);
    let from = q.since.or(first);
    let to = q.until.or(last);
    let nb = q.buckets.max(1);
    let span_us = match (from, to) {
        (Some(a), Some(b)) if b > a => (b - a).num_microseconds().unwrap_or(i64::MAX).max(1),
        _ => 1,
    };
    let mut bucket_e2e: Vec<Vec<f64>> = vec![Vec::new(); nb];
    let mut bucket_conf: Vec<Vec<f64>> = vec![Vec::new(); nb];
    let mut bucket_n = vec![0usize; nb];
    let stage_ok = |s: Option<&str>| q.stage.as_deref().is_none_or(|want| s == Some(want));
    let metric_ok = |m: &str| q.metric.as_deref().is_none_or(|want| m == want);
    for r in reports {
        let Ok(mut rep) = decode(r.body.as_str().as_bytes()) else {
            undecodable += 1;
            continue;
        };
        rep.name_stages(app);
        let b = from.map_or(0, |f| {
            let off = (r.received_at - f).num_microseconds().unwrap_or(0).max(0);
            ((off as i128 * nb as i128 / span_us as i128) as usize).min(nb - 1)
        });
        bucket_n[b] += 1;
        for o in &rep.observations {
            if !stage_ok(o.stage.as_deref()) || !metric_ok(&o.metric) {
                continue;
            }
            if o.instance.is_some() {
                values
                    .entry((
                        o.category,
                        o.stage.clone(),
                        o.instance.clone(),
                        o.metric.clone(),
                    ))
                    .or_default()
                    .push(o.value);
            }
            values
                .entry((o.category, o.stage.clone(), None, o.metric.clone()))
                .or_default()
                .push(o.value);
            if o.category == Category::Inference && o.metric == "confidence" {
                bucket_conf[b].push(o.value);
            }
        }
        if let Some(e2e) = rep.end_to_end_latency()
            && q.stage.is_none()
            && metric_ok("e2e_latency")
        {
            values
                .entry((Category::Service, None, None, "e2e_latency".into()))
                .or_default()
                .push(e2e);
            bucket_e2e[b].push(e2e);
        }
    }
    let series = values
        .into_iter()
        .map(|((c, s, i, m), v)| summarise(c, s, i, m, v))
        .collect();
    let bucket_start = |i: usize| {
        from.map(|f| f + chrono::Duration::microseconds(span_us / nb as i64 * i as i64))
            .unwrap_or_else(Utc::now)
    };
    let buckets = (0..nb)
        .map(|i| {
            let mut e = std::mem::take(&mut bucket_e2e[i]);
            e.sort_by(f64::total_cmp);
            let c = &bucket_conf[i];
            Bucket {
                start: bucket_start(i),
                reports: bucket_n[i],
                e2e_p95: percentile(&e, 0.95),
                confidence_mean: (!c.is_empty()).then(|| c.iter().sum::<f64>() / c.len() as f64),
            }
        })
        .collect();
    let throughput_per_s = match (first, last) {
        (Some(a), Some(b)) if b > a && reports.len() > 1 => {
            Some((reports.len() - 1) as f64 / ((b - a).num_milliseconds() as f64 / 1000.0))
        }
        _ => None,
    };
    let mut anomalies = Vec::new();
    let mut violations = Vec::new();
    let mut windows = std::collections::BTreeSet::new();
    for a in analyses {
        windows.insert(a.window_id.clone());
        let group = a.group_key();
        for an in &a.result.anomalies {
            anomalies.push(AnomalyRow {
                at: a.at,
                window_id: a.window_id.clone(),
                group: group.clone(),
                ts: an.ts,
                score: an.score,
                values: an.values.clone(),
            });
        }
        for v in &a.result.violations {
            violations.push(ViolationRow {
                at: a.at,
                window_id: a.window_id.clone(),
                column: v.column.clone(),
                stat: v.stat,
                value: v.value,
                limit: v.limit,
                kind: v.kind,
            });
        }
    }
    let mut anomalies = distinct_anomalies(anomalies);
    let keep_last = |n: usize, len: usize| len.saturating_sub(n);
    let anomalies = anomalies.split_off(keep_last(200, anomalies.len()));
    let violations = violations.split_off(keep_last(200, violations.len()));
    MetricsView {
        application_name: app.application_name.clone(),
        from,
        to,
        reports: reports.len(),
        truncated: reports.len() >= MAX_REPORTS,
        undecodable,
        throughput_per_s,
        series,
        buckets,
        windows: windows.len(),
        anomalies,
        violations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(window: &str, group: &str, ts: Option<f64>, score: f64) -> AnomalyRow {
        AnomalyRow {
            at: Utc::now(),
            window_id: window.into(),
            group: group.into(),
            ts,
            score,
            values: BTreeMap::new(),
        }
    }

    #[test]
    fn a_report_flagged_by_overlapping_windows_is_one_anomaly_per_group() {
        let rows = vec![
            row("w1", "latency", Some(10.0), 2.0),
            row("w1", "latency", Some(11.0), 1.8),
            row("w2", "latency", Some(10.0), 2.5),
            row("w2", "confidence", Some(10.0), 1.6),
            row("w3", "latency", Some(10.0), 2.1),
            row("w3", "latency", None, 1.9),
            row("w4", "latency", None, 1.9),
        ];
        let d = distinct_anomalies(rows);
        let seen: Vec<(&str, &str, Option<f64>)> = d
            .iter()
            .map(|r| (r.window_id.as_str(), r.group.as_str(), r.ts))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("w3", "latency", Some(10.0)),
                ("w1", "latency", Some(11.0)),
                ("w2", "confidence", Some(10.0)),
                ("w3", "latency", None),
                ("w4", "latency", None),
            ]
        );
        assert_eq!(d[0].score, 2.1, "the latest window's verdict");
    }
}
