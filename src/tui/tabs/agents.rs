//! The Agents tab: the observation-agent records the store holds.

use crate::ports::AgentRecord;
use crate::tui::theme::Theme;
use crate::tui::widgets::{Col, span};
use ratatui::style::Style;
use ratatui::text::{Line, Span};

pub const COLUMNS: &[Col] = &[
    Col {
        title: "APPLICATION",
        min: 11,
        ideal: 14,
        drop: 0,
    },
    Col {
        title: "STATE",
        min: 8,
        ideal: 9,
        drop: 0,
    },
    Col {
        title: "RUNTIME",
        min: 7,
        ideal: 8,
        drop: 2,
    },
    Col {
        title: "HANDLE",
        min: 8,
        ideal: 24,
        drop: 3,
    },
    Col {
        title: "APP ID",
        min: 36,
        ideal: 36,
        drop: 4,
    },
    Col {
        title: "UPDATED",
        min: 16,
        ideal: 19,
        drop: 1,
    },
];

pub fn state_name(a: &AgentRecord) -> String {
    format!("{:?}", a.state).to_lowercase()
}

pub fn row(a: &AgentRecord) -> Vec<String> {
    vec![
        a.application_name.clone(),
        state_name(a),
        a.runtime.clone(),
        a.handle.clone(),
        a.app_id.to_string(),
        a.updated_at.format("%Y-%m-%d %H:%M:%S").to_string(),
    ]
}

pub fn detail_lines(theme: &Theme, a: &AgentRecord) -> Vec<Line<'static>> {
    let kv = |k: &str, v: &str| {
        Line::from(vec![
            Span::styled(format!("{k:<12}"), theme.dim),
            span(v, Style::new()),
        ])
    };
    let mut out = vec![
        Line::from(vec![
            Span::styled("agent of ", theme.dim),
            span(&a.application_name, theme.title),
        ]),
        kv("app_id", &a.app_id.to_string()),
        kv("state", &state_name(a)),
        kv("runtime", &a.runtime),
        kv("handle", &a.handle),
        kv(
            "updated",
            &a.updated_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        ),
        Line::default(),
        Line::from(Span::styled("Stream configuration", theme.header)),
    ];
    let cfg = crate::yaml::to_string(&a.config).unwrap_or_else(|e| e.to_string());
    for l in cfg.lines() {
        out.push(Line::from(span(&format!("  {l}"), Style::new())));
    }
    out
}
