//! The Metrics tab: one application's metrics over a live range (the last 1, 5, 15 or 60
//! minutes, refreshed) or a fixed history range. A header line (reports, throughput, windows,
//! anomalies, violations, LIVE/HISTORY), sparklines of reports and end-to-end p95 per bucket,
//! a chart of the end-to-end p95 over time, the latest contract violations, and a table of
//! percentiles per stage and instance. Everything drawn comes from the last
//! `Ops::metrics_view` answer held in the state: drawing does no I/O.

use crate::domain::report::Category;
use crate::ops::metrics::{MetricsView, SeriesRow, ViolationRow};
use crate::tui::app::App;
use crate::tui::event::MetricsRange;
use crate::tui::theme::Theme;
use crate::tui::widgets::{self, Col, fit, span};
use chrono::{DateTime, Local, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph, Sparkline, Wrap,
};
use std::collections::HashSet;

pub const COLUMNS: &[Col] = &[
    Col {
        title: "STAGE",
        min: 10,
        ideal: 14,
        drop: 0,
    },
    Col {
        title: "INSTANCE",
        min: 9,
        ideal: 10,
        drop: 2,
    },
    Col {
        title: "METRIC",
        min: 13,
        ideal: 14,
        drop: 0,
    },
    Col {
        title: "COUNT",
        min: 5,
        ideal: 6,
        drop: 0,
    },
    Col {
        title: "P50",
        min: 7,
        ideal: 8,
        drop: 0,
    },
    Col {
        title: "P95",
        min: 7,
        ideal: 8,
        drop: 0,
    },
    Col {
        title: "P99",
        min: 7,
        ideal: 8,
        drop: 1,
    },
    Col {
        title: "MAX",
        min: 7,
        ideal: 8,
        drop: 1,
    },
    Col {
        title: "MEAN",
        min: 7,
        ideal: 8,
        drop: 4,
    },
];

/// Where a series row sits in the table: end-to-end latency first, then each stage's
/// latency (all instances, then each instance), then confidence and accuracy, then the rest.
pub fn series_order(r: &SeriesRow) -> (u8, String, String, bool, String) {
    let group = if r.stage.is_none() && r.metric == "e2e_latency" {
        0
    } else {
        match r.category {
            Category::Service => 1,
            Category::Inference => 2,
            Category::Data => 3,
            Category::Resource => 4,
        }
    };
    (
        group,
        r.stage.clone().unwrap_or_default(),
        r.metric.clone(),
        r.instance.is_some(),
        r.instance.clone().unwrap_or_default(),
    )
}

/// Latencies are reported in seconds and shown in ms (or s when long).
fn is_latency(r: &SeriesRow) -> bool {
    r.category == Category::Service
        && (r.metric.contains("latency") || r.metric.contains("response_time"))
}

pub fn fmt_latency(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v.abs() >= 1.0 {
        format!("{v:.2}s")
    } else if v.abs() * 1000.0 >= 10.0 {
        format!("{:.0}ms", v * 1000.0)
    } else {
        format!("{:.1}ms", v * 1000.0)
    }
}

fn fmt_number(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v.abs() < 10.0 {
        format!("{v:.3}")
    } else if v.abs() < 10_000.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

fn fmt_value(v: Option<f64>, latency: bool) -> String {
    match v {
        None => "-".into(),
        Some(x) if latency => fmt_latency(x),
        Some(x) => fmt_number(x),
    }
}

/// An instance id is a UUID: its first 8 characters tell instances apart on screen.
fn short_instance(i: &str) -> String {
    if i.chars().count() > 9 {
        format!("{}…", i.chars().take(8).collect::<String>())
    } else {
        i.to_string()
    }
}

pub fn row(r: &SeriesRow) -> Vec<String> {
    let lat = is_latency(r);
    vec![
        r.stage.clone().unwrap_or_else(|| "(pipeline)".into()),
        r.instance.as_deref().map_or("all".into(), short_instance),
        r.metric.clone(),
        r.count.to_string(),
        fmt_value(r.p50, lat),
        fmt_value(r.p95, lat),
        fmt_value(r.p99, lat),
        fmt_value(r.max, lat),
        fmt_value(r.mean, lat),
    ]
}

/// How a stream config names a stage's latency column (`latency_<stage>`, as the default
/// config and the shipped examples do).
fn stage_column(stage: &str) -> String {
    let safe: String = stage
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("latency_{safe}")
}

/// The violated columns a series row stands for, when its name tells: `latency_e2e` is the
/// end-to-end latency, `latency_<stage>` a stage's, and `confidence`/`accuracy` themselves.
pub fn row_violated(r: &SeriesRow, columns: &HashSet<&str>) -> bool {
    if r.stage.is_none() && r.metric == "e2e_latency" {
        return columns.contains("latency_e2e") || columns.contains("e2e_latency");
    }
    if let Some(stage) = &r.stage
        && is_latency(r)
    {
        return columns.contains(stage_column(stage).as_str());
    }
    r.stage.is_none() && columns.contains(r.metric.as_str())
}

fn violation_line(v: &ViolationRow) -> String {
    let lat = v.column.starts_with("latency") || v.column.contains("e2e");
    let f = |x: f64| {
        if lat { fmt_latency(x) } else { fmt_number(x) }
    };
    let op = match v.kind {
        crate::domain::analysis::Bound::Max => ">",
        crate::domain::analysis::Bound::Min => "<",
    };
    format!(
        "{} {} {} {} = {} {op} {}",
        v.at.with_timezone(&Local).format("%H:%M:%S"),
        v.window_id,
        v.column,
        v.stat.as_str(),
        f(v.value),
        f(v.limit)
    )
}

fn short_time(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let l = t.with_timezone(&Local);
    if (now - t).num_hours() < 20 {
        l.format("%H:%M:%S").to_string()
    } else {
        l.format("%m-%d %H:%M").to_string()
    }
}

/// `LIVE · last 5m` or `HISTORY · 10:00:00 → 11:00:00`.
pub fn range_label(range: MetricsRange, now: DateTime<Utc>) -> (String, bool) {
    match range {
        MetricsRange::Live { minutes } => (format!("last {minutes}m"), true),
        MetricsRange::History { since, until } => (
            format!("{} → {}", short_time(since, now), short_time(until, now)),
            false,
        ),
    }
}

/// What the tab says when there is nothing to chart, one line per entry.
pub fn empty_lines(app: &App) -> Option<Vec<String>> {
    let names = app.metrics_candidates();
    if app.apps.data.is_some() && names.is_empty() {
        return Some(vec![
            "No applications are registered, so there are no metrics.".into(),
            "Register one on the Applications tab (1, then a, or".into(),
            ":app register example/applications/cctvs.yaml), then press D there".into(),
            "to start its agent and the demo pipeline (10 reports/s).".into(),
        ]);
    }
    let Some(name) = app.metrics.app.as_deref() else {
        return Some(vec!["Loading applications…".into()]);
    };
    let Some(view) = app.metrics.current() else {
        if app.metrics.view.error.is_some() {
            return Some(vec![format!(
                "No metrics of {} to show until the store answers.",
                terminal_safe_owned(name)
            )]);
        }
        return Some(vec![format!(
            "Loading metrics of {}…",
            terminal_safe_owned(name)
        )]);
    };
    if view.reports > 0 {
        return None;
    }
    let (label, live) = range_label(app.metrics.range(), app.wall);
    let mut out = vec![if live {
        format!(
            "No reports yet for {} in the {label}.",
            terminal_safe_owned(name)
        )
    } else {
        format!("No reports for {} in {label}.", terminal_safe_owned(name))
    }];
    let agent = match app.agent_of(name) {
        None => "Its agent has never been started.".to_string(),
        Some(a) => format!("Its agent is {}.", super::agents::state_label(a)),
    };
    out.push(agent);
    if app.demos.contains_key(name) {
        out.push("The demo is publishing: reports appear within a few seconds.".into());
    } else {
        out.push(
            "No reports yet: start the agent (Agents tab, s) and the demo (D), or point a \
             QoA4ML client at the application's exchange."
                .into(),
        );
    }
    if !live {
        out.push("Press L to go back to live metrics, h for another range.".into());
    }
    Some(out)
}

fn terminal_safe_owned(s: &str) -> String {
    crate::domain::sanitize::terminal_safe(s).into_owned()
}

/// The header line: reports, throughput, windows, anomalies, violations, agent, demo.
fn summary_line(app: &App, theme: &Theme, v: &MetricsView) -> Line<'static> {
    let mut spans = vec![
        Span::styled("reports ", theme.dim),
        Span::styled(
            format!(
                "{}{}",
                v.reports,
                if v.truncated { " (newest)" } else { "" }
            ),
            theme.title,
        ),
        Span::styled(" · ", theme.dim),
        Span::raw(match v.throughput_per_s {
            Some(t) => format!("{t:.1}/s"),
            None => "-/s".into(),
        }),
        Span::styled(" · windows ", theme.dim),
        Span::raw(v.windows.to_string()),
        Span::styled(" · anomalies ", theme.dim),
        Span::styled(
            format!(
                "{}{}",
                v.anomalies.len(),
                if v.anomalies.len() >= 200 { "+" } else { "" }
            ),
            if v.anomalies.is_empty() {
                Style::new()
            } else {
                theme.warning
            },
        ),
        Span::styled(" · violations ", theme.dim),
        Span::styled(
            format!(
                "{}{}",
                v.violations.len(),
                if v.violations.len() >= 200 { "+" } else { "" }
            ),
            if v.violations.is_empty() {
                Style::new()
            } else {
                theme.error
            },
        ),
    ];
    if let Some(e) = v.e2e().and_then(|r| r.p95) {
        spans.push(Span::styled(" · e2e p95 ", theme.dim));
        spans.push(Span::raw(fmt_latency(e)));
    }
    if let Some(a) = app.agent_of(&v.application_name) {
        spans.push(Span::styled(" · agent ", theme.dim));
        spans.push(span(
            &super::agents::state_label(a),
            super::agents::row_style(theme, a),
        ));
    }
    if v.undecodable > 0 {
        spans.push(Span::styled(
            format!(" · {} undecodable", v.undecodable),
            theme.warning,
        ));
    }
    Line::from(spans)
}

fn bucket_span(v: &MetricsView) -> Option<std::time::Duration> {
    let (a, b) = (v.buckets.first()?, v.buckets.get(1)?);
    (b.start - a.start).to_std().ok()
}

/// Sparklines of reports per bucket and e2e p95 per bucket, with their scale.
fn draw_sparklines(f: &mut Frame, area: Rect, theme: &Theme, v: &MetricsView) {
    let per = bucket_span(v)
        .map(|d| crate::tui::ui::age(d.max(std::time::Duration::from_secs(1))))
        .unwrap_or_else(|| "bucket".into());
    let reports: Vec<u64> = v.buckets.iter().map(|b| b.reports as u64).collect();
    let e2e: Vec<Option<u64>> = v
        .buckets
        .iter()
        .map(|b| b.e2e_p95.map(|x| (x * 1000.0).round().max(0.0) as u64))
        .collect();
    let max_reports = reports.iter().copied().max().unwrap_or(0);
    let max_e2e = v
        .buckets
        .iter()
        .filter_map(|b| b.e2e_p95)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    let rows: Vec<Rect> = if area.height >= 2 {
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)])
            .split(area)
            .to_vec()
    } else {
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
            .split(Rect { height: 1, ..area })
            .to_vec()
    };
    let sets: [(String, String, Vec<Option<u64>>, Style); 2] = [
        (
            format!("reports/{per}"),
            format!("max {max_reports}"),
            reports.iter().map(|&x| Some(x)).collect(),
            theme.ok,
        ),
        (
            "e2e p95".into(),
            max_e2e.map_or("no data".into(), |m| format!("max {}", fmt_latency(m))),
            e2e,
            theme.key,
        ),
    ];
    for (r, (label, scale, data, style)) in rows.iter().zip(sets) {
        let label_w = 13u16.min(r.width);
        let scale_w = 13u16.min(r.width.saturating_sub(label_w));
        let spark_w = r.width.saturating_sub(label_w + scale_w);
        f.render_widget(
            Paragraph::new(Span::styled(fit(&label, label_w as usize), theme.dim)),
            Rect {
                width: label_w,
                ..*r
            },
        );
        // The newest buckets when the sparkline is narrower than the data.
        let skip = data.len().saturating_sub(spark_w as usize);
        let data: Vec<Option<u64>> = data.into_iter().skip(skip).collect();
        f.render_widget(
            Sparkline::default()
                .data(data)
                .style(style)
                .absent_value_symbol("·")
                .absent_value_style(theme.dim),
            Rect {
                x: r.x + label_w,
                width: spark_w,
                ..*r
            },
        );
        f.render_widget(
            Paragraph::new(Span::styled(
                format!(" {}", fit(&scale, scale_w.saturating_sub(1) as usize)),
                theme.dim,
            )),
            Rect {
                x: r.x + label_w + spark_w,
                width: scale_w,
                ..*r
            },
        );
    }
}

/// A line chart of the e2e p95 per bucket, time on the x-axis.
fn draw_chart(f: &mut Frame, area: Rect, theme: &Theme, v: &MetricsView, now: DateTime<Utc>) {
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border)
        .title(Span::styled(
            " end-to-end latency p95 over time ",
            theme.dim,
        ));
    let (Some(from), Some(to)) = (v.from, v.to) else {
        f.render_widget(block, area);
        return;
    };
    let span_s = ((to - from).num_milliseconds() as f64 / 1000.0).max(1.0);
    let points: Vec<(f64, f64)> = v
        .buckets
        .iter()
        .filter_map(|b| {
            let x = (b.start - from).num_milliseconds() as f64 / 1000.0;
            b.e2e_p95.map(|y| (x, y * 1000.0))
        })
        .collect();
    if points.is_empty() {
        f.render_widget(
            Paragraph::new(Span::styled(
                "no end-to-end latency in this range (reports carry no stage latencies yet)",
                theme.dim,
            ))
            .block(block)
            .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    let ymax = points.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1.0) * 1.15;
    let mid = from + chrono::Duration::milliseconds((span_s * 500.0) as i64);
    let x_labels = vec![
        Span::styled(short_time(from, now), theme.dim),
        Span::styled(short_time(mid, now), theme.dim),
        Span::styled(short_time(to, now), theme.dim),
    ];
    let y_labels = vec![
        Span::styled("0", theme.dim),
        Span::styled(fmt_latency(ymax / 2000.0), theme.dim),
        Span::styled(fmt_latency(ymax / 1000.0), theme.dim),
    ];
    let ds = Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(theme.key.remove_modifier(Modifier::BOLD))
        .data(&points);
    let chart = Chart::new(vec![ds])
        .block(block)
        .legend_position(None)
        .x_axis(
            Axis::default()
                .bounds([0.0, span_s])
                .labels(x_labels)
                .style(theme.border),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, ymax])
                .labels(y_labels)
                .style(theme.border),
        );
    f.render_widget(chart, area);
}

pub fn draw(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let m = &app.metrics;
    let names = app.metrics_candidates();
    let pos = m
        .app
        .as_deref()
        .and_then(|a| names.iter().position(|n| *n == a));
    let mut title = vec![Span::styled(" Metrics ", theme.title)];
    if let Some(name) = &m.app {
        title.push(Span::styled("◀ ", theme.key));
        title.push(span(&fit(name, 20), theme.title));
        title.push(Span::styled(" ▶", theme.key));
        if let Some(p) = pos {
            title.push(Span::styled(
                format!(" {}/{} ", p + 1, names.len()),
                theme.dim,
            ));
        } else {
            title.push(Span::raw(" "));
        }
    }
    let (label, live) = range_label(m.range(), app.wall);
    let marker = if live {
        Span::styled(" LIVE ", theme.ok.add_modifier(Modifier::BOLD))
    } else {
        Span::styled(" HISTORY ", theme.warning.add_modifier(Modifier::BOLD))
    };
    let mut right = vec![marker, Span::raw(format!("{label} "))];
    right.extend(crate::tui::ui::resource_title(app, &m.view, theme));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border_focus)
        .title(Line::from(title))
        .title_top(Line::from(right).right_aligned());
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let mut area = inner;
    let banner = crate::tui::ui::error_banner(app, &m.view, "metrics")
        .or_else(|| crate::tui::ui::error_banner(app, &app.apps, "applications"));
    if let Some(b) = &banner {
        let [line, rest] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
        f.render_widget(
            Paragraph::new(Span::styled(fit(b, line.width as usize), theme.error)),
            line,
        );
        area = rest;
    }
    if let Some(lines) = empty_lines(app) {
        let mut text: Vec<Line> = Vec::new();
        if let Some(v) = m.current() {
            text.push(summary_line(app, theme, v));
            text.push(Line::default());
        }
        text.extend(
            lines
                .into_iter()
                .map(|l| Line::from(Span::styled(l, theme.dim))),
        );
        f.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let Some(v) = m.current() else {
        return;
    };
    let line = summary_line(app, theme, v);
    let summary_h: u16 = if line.width() > area.width as usize {
        2
    } else {
        1
    };
    // Side by side only when each still shows every bucket.
    let spark_h: u16 = if area.width < 160 { 2 } else { 1 };
    let max_viol = if area.height >= 30 { 3 } else { 1 };
    let viol_h = v.violations.len().min(max_viol) as u16;
    let rest = area.height.saturating_sub(summary_h + spark_h + viol_h);
    let chart_h = if rest >= 16 {
        (rest / 2).clamp(6, 16)
    } else if rest >= 11 {
        5
    } else {
        0
    };
    let [summary, sparks, chart, viol, table] = Layout::vertical([
        Constraint::Length(summary_h),
        Constraint::Length(spark_h),
        Constraint::Length(chart_h),
        Constraint::Length(viol_h),
        Constraint::Min(0),
    ])
    .areas(area);
    f.render_widget(Paragraph::new(line).wrap(Wrap { trim: true }), summary);
    draw_sparklines(f, sparks, theme, v);
    if chart_h > 0 {
        draw_chart(f, chart, theme, v, app.wall);
    }
    if viol_h > 0 {
        // The latest contract violations, newest first (their count is in the header).
        let lines: Vec<Line> = v
            .violations
            .iter()
            .rev()
            .take(viol_h as usize)
            .map(|x| {
                Line::from(vec![
                    Span::styled("⚠ ", theme.error),
                    Span::styled(
                        fit(
                            &format!("violation {}", violation_line(x)),
                            (viol.width as usize).saturating_sub(2),
                        ),
                        theme.warning,
                    ),
                ])
            })
            .collect();
        f.render_widget(Paragraph::new(lines), viol);
    }
    if table.height == 0 {
        return;
    }
    let columns: HashSet<&str> = v.violations.iter().map(|x| x.column.as_str()).collect();
    let list = &m.list;
    let mut title = vec![Span::styled(
        format!(
            " Latency and quality [{}/{}] ",
            list.rows.len(),
            v.series.len()
        ),
        theme.title,
    )];
    if !list.filter.is_empty() {
        title.push(Span::styled(
            format!(" /{} ", fit(&list.filter, 24)),
            theme.warning,
        ));
    }
    let series = &v.series;
    widgets::table_styled(
        f,
        table,
        theme,
        Line::from(title),
        COLUMNS,
        list,
        false,
        &|i| series.get(i).map(row).unwrap_or_default(),
        &|i| match series.get(i) {
            Some(r) if row_violated(r, &columns) => theme.error,
            Some(r) if r.stage.is_none() && r.metric == "e2e_latency" => theme.title,
            _ => Style::new(),
        },
        // Reverse video keeps a red (contract-breaking) row red when it is selected.
        Style::new().add_modifier(Modifier::REVERSED),
    );
}
