//! The Agents tab: every observation agent with its real state (desired vs what runs) and
//! the health it reports: rate, stored reports, lag, the age of the last report,
//! dead-lettered messages, errors, analysed windows and anomalies.

use crate::agent::AgentHealth;
use crate::ops::AgentStatus;
use crate::ports::AgentState;
use crate::tui::theme::Theme;
use crate::tui::widgets::{Col, span};
use chrono::{DateTime, Utc};
use ratatui::style::Style;
use ratatui::text::{Line, Span};

pub const COLUMNS: &[Col] = &[
    Col {
        title: "APP",
        min: 7,
        ideal: 14,
        drop: 0,
    },
    // Wide enough for `failed (pid gone)` at 80 columns.
    Col {
        title: "STATE",
        min: 17,
        ideal: 22,
        drop: 0,
    },
    Col {
        title: "RATE/S",
        min: 6,
        ideal: 6,
        drop: 0,
    },
    Col {
        title: "STORED",
        min: 6,
        ideal: 8,
        drop: 0,
    },
    Col {
        title: "LAG",
        min: 3,
        ideal: 5,
        drop: 1,
    },
    Col {
        title: "LAST",
        min: 4,
        ideal: 5,
        drop: 1,
    },
    Col {
        title: "DEAD",
        min: 4,
        ideal: 4,
        drop: 2,
    },
    Col {
        title: "ERRORS",
        min: 6,
        ideal: 6,
        drop: 2,
    },
    Col {
        title: "WINDOWS",
        min: 7,
        ideal: 7,
        drop: 3,
    },
    Col {
        title: "ANOMALIES",
        min: 9,
        ideal: 9,
        drop: 3,
    },
    Col {
        title: "RUNTIME",
        min: 9,
        ideal: 9,
        drop: 5,
    },
    Col {
        title: "HANDLE",
        min: 8,
        ideal: 18,
        drop: 6,
    },
];

pub fn state_word(s: AgentState) -> &'static str {
    match s {
        AgentState::Starting => "starting",
        AgentState::Running => "running",
        AgentState::Stopping => "stopping",
        AgentState::Stopped => "stopped",
        AgentState::Failed => "failed",
    }
}

/// The reason in a few words: `pid gone` for an agent whose process or task is gone.
fn short_reason(r: &str) -> String {
    if r.ends_with("is gone") {
        "pid gone".into()
    } else if r.contains("not checked") {
        "not checked".into()
    } else {
        r.to_string()
    }
}

/// The real state, with why it differs from what was asked for: `failed (pid gone)`.
pub fn state_label(a: &AgentStatus) -> String {
    let real = state_word(a.state);
    match &a.reason {
        Some(r) => format!("{real} ({})", short_reason(r)),
        None if a.desired != a.state => {
            format!("{real} (wanted {})", state_word(a.desired))
        }
        None => real.to_string(),
    }
}

/// `12s`, `4m`, or `-`.
pub fn last_report(h: &AgentHealth, now: DateTime<Utc>) -> String {
    match h.last_report_age(now) {
        Some(a) => crate::tui::ui::age(std::time::Duration::from_secs_f64(a.max(0.0))),
        None => "-".into(),
    }
}

pub fn row(a: &AgentStatus, now: DateTime<Utc>) -> Vec<String> {
    let h = a.health.clone().unwrap_or_default();
    vec![
        a.application_name.clone(),
        state_label(a),
        format!("{:.1}", h.rate_per_s),
        h.stored.to_string(),
        h.queue_depth.map_or("-".into(), |d| d.to_string()),
        last_report(&h, now),
        h.dead_lettered.to_string(),
        h.errors.to_string(),
        h.windows.to_string(),
        h.anomalies.to_string(),
        a.runtime.clone(),
        a.handle.clone(),
    ]
}

/// Failed agents in red; agents on their way up or down in the warning colour.
pub fn row_style(theme: &Theme, a: &AgentStatus) -> Style {
    match a.state {
        AgentState::Failed => theme.error,
        AgentState::Starting | AgentState::Stopping => theme.warning,
        _ if a.reason.is_some() => theme.warning,
        _ => Style::new(),
    }
}

pub fn detail_lines(theme: &Theme, a: &AgentStatus, now: DateTime<Utc>) -> Vec<Line<'static>> {
    let kv = |k: &str, v: &str, style: Style| {
        Line::from(vec![
            Span::styled(format!("{k:<14}"), theme.dim),
            span(v, style),
        ])
    };
    let mut out = vec![
        Line::from(vec![
            Span::styled("agent of ", theme.dim),
            span(&a.application_name, theme.title),
        ]),
        kv("state", &state_label(a), row_style(theme, a)),
        kv("desired", state_word(a.desired), Style::new()),
        kv("runtime", &a.runtime, Style::new()),
        kv("handle", &a.handle, Style::new()),
        kv(
            "updated",
            &a.updated_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            Style::new(),
        ),
        Line::default(),
    ];
    let Some(h) = &a.health else {
        out.push(Line::from(Span::styled(
            "No health report yet: it appears once the agent runs.",
            theme.dim,
        )));
        return out;
    };
    out.push(Line::from(Span::styled("Health", theme.header)));
    let n = |v: u64| v.to_string();
    let rows: Vec<(&str, String, Style)> = vec![
        (
            "connected",
            if h.connected { "yes" } else { "no" }.into(),
            if h.connected { theme.ok } else { theme.warning },
        ),
        ("queue", h.queue.clone(), Style::new()),
        ("received", n(h.received), Style::new()),
        ("stored", n(h.stored), Style::new()),
        ("duplicates", n(h.duplicates), Style::new()),
        (
            "dead-lettered",
            n(h.dead_lettered),
            if h.dead_lettered > 0 {
                theme.warning
            } else {
                Style::new()
            },
        ),
        ("rate", format!("{:.1}/s", h.rate_per_s), Style::new()),
        (
            "lag",
            h.queue_depth
                .map_or("unknown".into(), |d| format!("{d} waiting")),
            Style::new(),
        ),
        (
            "last report",
            match h.last_report_at {
                Some(_) => format!("{} ago", last_report(h, now)),
                None => "none yet".into(),
            },
            Style::new(),
        ),
        ("windows", n(h.windows), Style::new()),
        ("anomalies", n(h.anomalies), Style::new()),
        (
            "violations",
            n(h.violations),
            if h.violations > 0 {
                theme.warning
            } else {
                Style::new()
            },
        ),
        ("skipped", n(h.analyses_skipped), Style::new()),
        (
            "errors",
            n(h.errors),
            if h.errors > 0 {
                theme.error
            } else {
                Style::new()
            },
        ),
    ];
    for (k, v, st) in rows {
        out.push(kv(k, &v, st));
    }
    if let Some(e) = &h.last_error {
        out.push(kv("last error", e, theme.error));
    }
    if let Some(t) = h.started_at {
        out.push(kv(
            "started",
            &t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            Style::new(),
        ));
    }
    out
}
