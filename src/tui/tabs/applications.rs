//! The Applications tab: registered applications and the detail of one.

use crate::domain::app::{AppSummary, Application};
use crate::domain::sanitize::terminal_safe;
use crate::ops::AppDetail;
use crate::tui::theme::Theme;
use crate::tui::widgets::{Col, span};
use ratatui::text::{Line, Span};

pub const COLUMNS: &[Col] = &[
    Col {
        title: "NAME",
        min: 8,
        ideal: 14,
        drop: 0,
    },
    Col {
        title: "APP ID",
        min: 36,
        ideal: 36,
        drop: 6,
    },
    Col {
        title: "RUN",
        min: 6,
        ideal: 16,
        drop: 2,
    },
    Col {
        title: "USER",
        min: 6,
        ideal: 12,
        drop: 3,
    },
    Col {
        title: "STAGES",
        min: 6,
        ideal: 6,
        drop: 4,
    },
    Col {
        title: "MS",
        min: 3,
        ideal: 3,
        drop: 5,
    },
    Col {
        title: "CLIENTS",
        min: 7,
        ideal: 7,
        drop: 1,
    },
    Col {
        title: "UPDATED",
        min: 16,
        ideal: 19,
        drop: 1,
    },
];

pub fn row(a: &AppSummary) -> Vec<String> {
    vec![
        a.application_name.clone(),
        a.app_id.to_string(),
        a.run_id.clone(),
        a.user_id.clone(),
        a.stage_count().to_string(),
        a.microservice_count().to_string(),
        a.client_count.to_string(),
        a.updated_at.format("%Y-%m-%d %H:%M:%S").to_string(),
    ]
}

fn kv(theme: &Theme, k: &str, v: &str) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{k:<12}"), theme.dim),
        span(v, ratatui::style::Style::new()),
    ])
}

/// The detail of an application: IDs, routing, database, stages, microservices, history.
/// Until the detail has loaded, what the list row knows. Every string from data is sanitised.
pub fn detail_lines(
    theme: &Theme,
    s: &AppSummary,
    detail: Option<&Result<Box<AppDetail>, String>>,
) -> Vec<Line<'static>> {
    if let Some(Ok(d)) = detail {
        return full_lines(theme, &d.application, d);
    }
    let mut out = vec![
        Line::from(vec![
            span(&s.application_name, theme.title),
            Span::styled(format!("  app_id {}", s.app_id), theme.dim),
        ]),
        kv(theme, "run_id", &s.run_id),
        kv(theme, "user_id", &s.user_id),
        kv(theme, "clients", &s.client_count.to_string()),
        kv(
            theme,
            "updated",
            &s.updated_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        ),
        Line::default(),
    ];
    match detail {
        Some(Err(e)) => out.push(Line::from(vec![
            Span::styled("Details could not be loaded: ", theme.error),
            span(e, theme.error),
        ])),
        _ => out.push(Line::from(Span::styled(
            "Loading stages, microservices and history…",
            theme.dim,
        ))),
    }
    out
}

fn full_lines(theme: &Theme, a: &Application, d: &AppDetail) -> Vec<Line<'static>> {
    let mut out = vec![
        Line::from(vec![
            span(&a.application_name, theme.title),
            Span::styled(format!("  app_id {}", a.app_id), theme.dim),
        ]),
        kv(theme, "run_id", &a.run_id),
        kv(theme, "user_id", &a.user_id),
    ];
    if let Some(d) = &a.description {
        out.push(kv(theme, "description", d));
    }
    out.extend([
        kv(theme, "db", &a.db),
        kv(theme, "collection", &a.metric_collection),
        kv(theme, "exchange", &a.exchange),
        kv(theme, "binding", &a.binding_key),
        kv(theme, "clients", &a.client_count.to_string()),
        kv(
            theme,
            "registered",
            &a.registered_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        ),
        kv(
            theme,
            "updated",
            &a.updated_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        ),
    ]);
    if a.stages.is_empty() {
        out.push(kv(theme, "routing key", &a.app_routing_key()));
    }
    out.push(Line::default());
    out.push(Line::from(Span::styled(
        format!("Stages ({})", a.stages.len()),
        theme.header,
    )));
    for s in &a.stages {
        out.push(Line::from(vec![
            Span::raw("  "),
            span(&s.name, theme.title),
            Span::styled(format!("  stage_id {}", s.stage_id), theme.dim),
        ]));
        for m in &s.microservices {
            out.push(Line::from(vec![
                Span::raw("    "),
                span(&m.name, theme.title),
                Span::styled(
                    format!("  microservice_id {}", m.microservice_id),
                    theme.dim,
                ),
            ]));
            out.push(Line::from(vec![
                Span::styled("      instance_id  ", theme.dim),
                Span::raw(m.instance_id.to_string()),
            ]));
            let tags = m
                .tags
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            out.push(Line::from(vec![
                Span::styled("      function     ", theme.dim),
                span(
                    &format!(
                        "{} · role {}{}",
                        m.functionality,
                        m.role,
                        if tags.is_empty() {
                            String::new()
                        } else {
                            format!(" · {tags}")
                        }
                    ),
                    ratatui::style::Style::new(),
                ),
            ]));
            out.push(Line::from(vec![
                Span::styled("      routing key  ", theme.dim),
                span(&m.routing_key, ratatui::style::Style::new()),
            ]));
        }
    }
    out.push(Line::default());
    let agent = d.agent.as_ref().map_or("none".to_string(), |ag| {
        format!("{:?} ({})", ag.state, terminal_safe(&ag.runtime))
    });
    out.push(kv(theme, "agent", &agent));
    out.push(kv(theme, "reports", &d.stored_reports.to_string()));
    if let Some(r) = &d.registry {
        out.push(Line::default());
        out.push(Line::from(vec![
            Span::styled(
                format!("Registry ({} instances) ", r.instances.len()),
                theme.header,
            ),
            span(&r.backend, theme.dim),
        ]));
        if let Some(e) = &r.error {
            out.push(Line::from(vec![
                Span::styled("  unreachable: ", theme.error),
                span(e, theme.error),
            ]));
        }
        for i in &r.instances {
            let health = match i.health.as_str() {
                "passing" => theme.ok,
                "warning" => theme.warning,
                _ => theme.error,
            };
            out.push(Line::from(vec![
                Span::raw("  "),
                span(&i.name, theme.title),
                Span::raw("  "),
                span(
                    &format!("{}:{}", i.address, i.port),
                    ratatui::style::Style::new(),
                ),
                Span::raw("  "),
                span(&i.health, health),
                Span::styled(format!("  {}", terminal_safe(&i.id)), theme.dim),
            ]));
        }
    }
    out.push(Line::default());
    out.push(Line::from(Span::styled(
        format!("History ({})", d.history.len()),
        theme.header,
    )));
    for h in d.history.iter().rev() {
        out.push(Line::from(vec![
            Span::styled(
                format!("  {} ", h.at.format("%Y-%m-%d %H:%M:%S")),
                theme.dim,
            ),
            span(
                &format!(
                    "{:?} clients={} run={} user={} by {}",
                    h.action, h.client_count, h.run_id, h.user_id, h.actor
                ),
                ratatui::style::Style::new(),
            ),
        ]));
    }
    out
}
