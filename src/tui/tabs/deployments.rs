//! The Deployments tab: every service of every application with its desired and running
//! replicas, where its instances are placed, its status and its pods as the cluster reports
//! them (Pending while they start, Running, NodeLost on a failed node). Data from
//! `Ops::services_view` and the cluster's workloads.

use crate::ops::ServiceView;
use crate::ports::cluster::{PodPhase, WorkloadStatus};
use crate::tui::theme::Theme;
use crate::tui::widgets::{Col, span};
use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// Pods of one service by what the cluster says of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PodCounts {
    pub pending: u32,
    pub running: u32,
    /// Failed because their node was lost.
    pub node_lost: u32,
    /// Failed for another reason, or unknown.
    pub failed: u32,
}

impl PodCounts {
    pub fn total(&self) -> u32 {
        self.pending + self.running + self.node_lost + self.failed
    }
}

/// One row: a service and its pods (`None` when the cluster could not be asked).
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentRow {
    pub service: ServiceView,
    pub pods: Option<PodCounts>,
}

/// The rows of the tab from the services and the cluster's workloads.
pub fn rows(
    services: Vec<ServiceView>,
    workloads: Option<&[WorkloadStatus]>,
) -> Vec<DeploymentRow> {
    services
        .into_iter()
        .map(|s| {
            let pods = workloads.map(|ws| {
                let mut c = PodCounts::default();
                for p in ws
                    .iter()
                    .filter(|w| w.app == s.application && w.service_id == s.service_id)
                    .flat_map(|w| &w.pods)
                {
                    match p.phase {
                        PodPhase::Running | PodPhase::Succeeded => c.running += 1,
                        PodPhase::Pending => c.pending += 1,
                        PodPhase::Failed if p.reason.as_deref() == Some("NodeLost") => {
                            c.node_lost += 1
                        }
                        PodPhase::Failed | PodPhase::Unknown => c.failed += 1,
                    }
                }
                c
            });
            DeploymentRow { service: s, pods }
        })
        .collect()
}

pub const COLUMNS: &[Col] = &[
    Col {
        title: "APP",
        min: 6,
        ideal: 10,
        drop: 0,
    },
    Col {
        title: "SERVICE",
        min: 15,
        ideal: 22,
        drop: 0,
    },
    Col {
        title: "DESIRED",
        min: 7,
        ideal: 7,
        drop: 0,
    },
    Col {
        title: "RUNNING",
        min: 7,
        ideal: 7,
        drop: 0,
    },
    Col {
        title: "STATUS",
        min: 8,
        ideal: 9,
        drop: 1,
    },
    Col {
        title: "PODS",
        min: 10,
        ideal: 22,
        drop: 2,
    },
    Col {
        title: "PLACEMENT",
        min: 22,
        ideal: 28,
        drop: 0,
    },
];

/// `edge-pi-1×2 jetson-1×1`, or `-`.
pub fn placement(s: &ServiceView) -> String {
    let parts: Vec<String> = s
        .placement
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(node, n)| format!("{node}×{n}"))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

/// `2 Running 1 Pending`, `1 NodeLost`, `none` or `?` (the cluster could not be asked).
pub fn pods(p: Option<&PodCounts>) -> String {
    let Some(p) = p else {
        return "?".into();
    };
    let mut parts = Vec::new();
    for (n, what) in [
        (p.running, "Running"),
        (p.pending, "Pending"),
        (p.node_lost, "NodeLost"),
        (p.failed, "Failed"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(" ")
    }
}

pub fn row(r: &DeploymentRow) -> Vec<String> {
    let s = &r.service;
    vec![
        s.application.clone(),
        s.service_name.clone(),
        s.replicas.to_string(),
        s.running.to_string(),
        s.status.clone(),
        pods(r.pods.as_ref()),
        placement(s),
    ]
}

/// Degraded in red; pending, scaling and starting in the warning colour.
pub fn row_style(theme: &Theme, r: &DeploymentRow) -> Style {
    let lost = r.pods.is_some_and(|p| p.node_lost + p.failed > 0);
    match r.service.status.as_str() {
        "degraded" => theme.error,
        _ if lost => theme.error,
        "pending" | "scaling" | "starting" => theme.warning,
        _ => Style::new(),
    }
}

pub fn detail_lines(theme: &Theme, r: &DeploymentRow) -> Vec<Line<'static>> {
    let s = &r.service;
    let kv = |k: &str, val: &str, style: Style| {
        Line::from(vec![
            Span::styled(format!("{k:<12}"), theme.dim),
            span(val, style),
        ])
    };
    let mut out = vec![
        Line::from(vec![
            span(&s.application, theme.title),
            Span::styled(" / ", theme.dim),
            span(&s.service_name, theme.title),
        ]),
        kv("service_id", &s.service_id, Style::new()),
        kv("image", &s.image, Style::new()),
        kv("desired", &s.replicas.to_string(), Style::new()),
        kv("running", &s.running.to_string(), Style::new()),
        kv(
            "ready pods",
            &s.ready.map_or("?".into(), |n| n.to_string()),
            Style::new(),
        ),
        kv("status", &s.status, row_style(theme, r)),
        kv("pods", &pods(r.pods.as_ref()), row_style(theme, r)),
        Line::default(),
        Line::from(Span::styled("Placement", theme.header)),
    ];
    if s.placement.is_empty() {
        out.push(Line::from(Span::styled(
            "Not placed: press p for the plan, A to apply it.",
            theme.dim,
        )));
    }
    for (node, n) in &s.placement {
        out.push(Line::from(span(&format!("  {node} ×{n}"), Style::new())));
    }
    if let Some(p) = &s.policy {
        out.push(Line::default());
        out.push(Line::from(Span::styled("Autoscaling", theme.header)));
        out.push(kv(
            "replicas",
            &format!("{}..{}", p.min_replicas, p.max_replicas),
            Style::new(),
        ));
    }
    if let Some(d) = &s.last_decision {
        out.push(kv(
            "last",
            &format!("{} -> {} ({})", d.from, d.to, d.reason),
            Style::new(),
        ));
    }
    out
}
