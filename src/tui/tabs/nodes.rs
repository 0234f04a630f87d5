//! The Nodes tab: every inventory node with the cluster's readiness, whether it is cordoned,
//! CPU and memory use against capacity (as text bars), per-core use, accelerators and the
//! service instances placed on it. Data from `Ops::nodes_view` on the configured cluster.

use crate::ops::NodeView;
use crate::tui::theme::Theme;
use crate::tui::widgets::{Col, span};
use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// What the Nodes tab shows: the nodes, and whether the cluster is the simulated one (only
/// it can fail and recover nodes, and a node it reports not ready is one that was failed).
#[derive(Debug, Clone, PartialEq)]
pub struct NodesData {
    pub simulated: bool,
    pub nodes: Vec<NodeView>,
}

pub const COLUMNS: &[Col] = &[
    Col {
        title: "NAME",
        min: 10,
        ideal: 18,
        drop: 0,
    },
    Col {
        title: "STATUS",
        min: 8,
        ideal: 8,
        drop: 0,
    },
    Col {
        title: "CORDON",
        min: 6,
        ideal: 6,
        drop: 1,
    },
    Col {
        title: "CPU m",
        min: 16,
        ideal: 16,
        drop: 0,
    },
    Col {
        title: "MEMORY MB",
        min: 16,
        ideal: 16,
        drop: 2,
    },
    Col {
        title: "CORES",
        min: 8,
        ideal: 16,
        drop: 4,
    },
    Col {
        title: "ACCEL",
        min: 12,
        ideal: 14,
        drop: 3,
    },
    Col {
        title: "SERVICES",
        min: 8,
        ideal: 30,
        drop: 0,
    },
];

/// `Ready`, `NotReady`, `Failed` (a simulated node that was failed) or `unknown` (the cluster
/// could not be asked).
pub fn status(v: &NodeView, simulated: bool) -> &'static str {
    match v.ready {
        Some(true) => "Ready",
        Some(false) if simulated => "Failed",
        Some(false) => "NotReady",
        None => "unknown",
    }
}

/// A gauge as text: `████░░░░` for `used` of `capacity` in `width` cells.
pub fn bar(used: f64, capacity: f64, width: usize) -> String {
    let frac = if capacity > 0.0 && used.is_finite() {
        (used / capacity).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let full = (frac * width as f64).round() as usize;
    let full = if used > 0.0 && full == 0 { 1 } else { full };
    let full = full.min(width);
    format!("{}{}", "█".repeat(full), "░".repeat(width - full))
}

/// `██░░░ 1200/4000`: narrow enough for 32000/32000 in 16 columns.
pub fn gauge(used: f64, capacity: f64) -> String {
    format!("{} {used:.0}/{capacity:.0}", bar(used, capacity, 5))
}

/// Per-core use in one phrase: `4c max 40% avg 14%`.
pub fn cores_summary(v: &NodeView) -> String {
    let c = &v.node.cores;
    let n = c.capacity.len();
    if n == 0 {
        return "-".into();
    }
    let used: Vec<f64> = (0..n)
        .map(|i| c.used.get(i).copied().unwrap_or(0.0))
        .collect();
    let max = used.iter().copied().fold(0.0, f64::max);
    let avg = used.iter().sum::<f64>() / n as f64;
    format!("{n}c max {max:.0}% avg {avg:.0}%")
}

/// `GPU0 30/100%`, or `-`.
pub fn accelerators(v: &NodeView) -> String {
    if v.node.accelerator.is_empty() {
        return "-".into();
    }
    v.node
        .accelerator
        .iter()
        .map(|(k, a)| format!("{k} {:.0}/{:.0}%", a.used, a.capacity))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Instances placed here: `3: image_ingestion×2 ensemble×1`, or `-`.
pub fn services(v: &NodeView) -> String {
    let total: u32 = v.instances.iter().map(|(_, _, n)| n).sum();
    if total == 0 {
        return "-".into();
    }
    let names: Vec<String> = v
        .instances
        .iter()
        .filter(|(_, _, n)| *n > 0)
        .map(|(_, s, n)| format!("{s}×{n}"))
        .collect();
    format!("{total}: {}", names.join(" "))
}

pub fn row(v: &NodeView, simulated: bool) -> Vec<String> {
    let n = &v.node;
    vec![
        n.node_name.clone(),
        status(v, simulated).into(),
        if n.cordoned {
            "yes".into()
        } else {
            String::new()
        },
        gauge(n.cpu.used, n.cpu.capacity),
        gauge(n.memory.used.rss, n.memory.capacity.rss),
        cores_summary(v),
        accelerators(v),
        services(v),
    ]
}

/// Failed nodes in red; not ready, unknown or cordoned nodes in the warning colour.
pub fn row_style(theme: &Theme, v: &NodeView, simulated: bool) -> Style {
    match status(v, simulated) {
        "Failed" => theme.error,
        "NotReady" | "unknown" => theme.warning,
        _ if v.node.cordoned => theme.warning,
        _ => Style::new(),
    }
}

pub fn detail_lines(theme: &Theme, v: &NodeView, simulated: bool) -> Vec<Line<'static>> {
    let n = &v.node;
    let kv = |k: &str, val: &str, style: Style| {
        Line::from(vec![
            Span::styled(format!("{k:<12}"), theme.dim),
            span(val, style),
        ])
    };
    let mut out = vec![
        Line::from(vec![
            Span::styled("node ", theme.dim),
            span(&n.node_name, theme.title),
        ]),
        kv(
            "status",
            status(v, simulated),
            row_style(theme, v, simulated),
        ),
        kv(
            "cordoned",
            if n.cordoned {
                "yes: takes no new instances"
            } else {
                "no"
            },
            if n.cordoned {
                theme.warning
            } else {
                Style::new()
            },
        ),
        kv("mac", &n.mac_address, Style::new()),
        kv("frequency", &format!("{} GHz", n.frequency), Style::new()),
        kv(
            "cpu",
            &format!("{} millicpu", gauge(n.cpu.used, n.cpu.capacity)),
            Style::new(),
        ),
        kv(
            "memory rss",
            &format!("{} MB", gauge(n.memory.used.rss, n.memory.capacity.rss)),
            Style::new(),
        ),
        kv(
            "memory vms",
            &format!("{:.0}/{:.0} MB", n.memory.used.vms, n.memory.capacity.vms),
            Style::new(),
        ),
        Line::default(),
        Line::from(Span::styled(
            format!("Cores ({})", n.cores.capacity.len()),
            theme.header,
        )),
    ];
    for (i, cap) in n.cores.capacity.iter().enumerate() {
        let used = n.cores.used.get(i).copied().unwrap_or(0.0);
        out.push(kv(
            &format!("  core {i}"),
            &format!("{} {used:.0}/{cap:.0}%", bar(used, *cap, 8)),
            Style::new(),
        ));
    }
    out.push(Line::default());
    out.push(Line::from(Span::styled(
        format!("Accelerators ({})", n.accelerator.len()),
        theme.header,
    )));
    for (k, a) in n.accelerator.iter() {
        out.push(kv(
            &format!("  {k}"),
            &format!(
                "{} {} {:.0}/{:.0}%",
                a.accelerator_type,
                bar(a.used, a.capacity, 8),
                a.used,
                a.capacity
            ),
            Style::new(),
        ));
    }
    out.push(Line::default());
    let total: u32 = v.instances.iter().map(|(_, _, c)| c).sum();
    out.push(Line::from(Span::styled(
        format!("Instances ({total})"),
        theme.header,
    )));
    if total == 0 {
        out.push(Line::from(Span::styled(
            "Nothing is placed here (press p on the Deployments tab to see the plan).",
            theme.dim,
        )));
    }
    for (app, svc, c) in &v.instances {
        out.push(Line::from(span(
            &format!("  {app}/{svc} ×{c}"),
            Style::new(),
        )));
    }
    out
}
