//! Drawing. Reads the state, never changes it (apart from a table's scroll offset), and never
//! does I/O. Every string that comes from data goes through `terminal_safe` (via
//! [`widgets::fit`] / [`widgets::span`]).

use super::app::{
    AGENT_SORTS, APP_SORTS, App, DEPLOYMENT_SORTS, DialogFocus, DialogKind, Form, NODE_SORTS,
    Overlay, Prompt, Resource, Tab, View,
};
use super::keymap::{Action, Context, REGISTRY};
use super::tabs::{self, agents, applications, deployments, metrics, nodes};
use super::theme::Theme;
use super::widgets::{self, fit, span};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use std::time::Duration;

/// Human age: `4s`, `3m`, `2h`, `5d`.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

pub fn draw(f: &mut Frame, app: &App, theme: &Theme) {
    let area = f.area();
    if area.width < 20 || area.height < 6 {
        f.render_widget(
            Paragraph::new("terminal too small for rohe; enlarge it or press q")
                .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    let [top, body, hints, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_tabs(f, top, app, theme);
    draw_body(f, body, app, theme);
    draw_hints(f, hints, app, theme);
    draw_status(f, status, app, theme);
    match &app.overlay {
        Overlay::None | Overlay::Filter(_) => {}
        Overlay::Help { scroll } => draw_help(f, body, app, theme, *scroll),
        Overlay::Palette(p) => draw_palette(f, body, app, theme, p),
        Overlay::Command(p) => draw_command(f, body, hints, theme, p),
        Overlay::Form(form) => draw_form(f, area, app, theme, form),
        Overlay::Dialog(_) => draw_dialog(f, area, app, theme),
    }
}

fn draw_tabs(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut spans = vec![Span::styled(" rohe ", theme.title), Span::raw(" ")];
    for t in Tab::ALL {
        let style = if t == app.tab {
            theme.tab_active
        } else {
            theme.tab
        };
        spans.push(Span::styled(
            format!(" {} {} ", t.index() + 1, t.title()),
            style,
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
    if app.readonly {
        f.render_widget(
            Paragraph::new(Span::styled(" READ-ONLY ", theme.readonly)).alignment(Alignment::Right),
            area,
        );
    }
}

pub(crate) fn resource_title<T>(app: &App, r: &Resource<T>, theme: &Theme) -> Vec<Span<'static>> {
    let mut out = Vec::new();
    if let Some(t) = r.loaded_at {
        out.push(Span::styled(
            format!(
                " updated {} ago ",
                age(app.now.saturating_duration_since(t))
            ),
            theme.dim,
        ));
    }
    if r.in_flight {
        out.push(Span::styled(" ⟳ ", theme.dim));
    }
    out
}

/// A one-line banner for a failing backend: the error, the age of what is shown, the retry.
pub(crate) fn error_banner<T>(app: &App, r: &Resource<T>, what: &str) -> Option<String> {
    let e = r.error.as_ref()?;
    let mut s = format!("⚠ cannot load {what} (");
    if let Some(d) = r.retry_in(app.now) {
        s.push_str(&format!(
            "retrying in {}",
            age(d + Duration::from_millis(999))
        ));
    }
    if let Some(t) = r.loaded_at {
        s.push_str(&format!(
            "; showing data from {} ago",
            age(app.now.saturating_duration_since(t))
        ));
    }
    s.push_str(&format!("): {e}"));
    Some(s)
}

fn draw_body(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    match &app.view {
        View::Text {
            title,
            lines,
            scroll,
        } => {
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border_focus)
                .title(Span::styled(format!(" {} ", fit(title, 60)), theme.title));
            let inner_h = block.inner(area).height as usize;
            let max = lines.len().saturating_sub(inner_h);
            app.scroll_max.set(max);
            let s = (*scroll).min(max);
            let text: Vec<Line> = lines[s..]
                .iter()
                .take(inner_h)
                .map(|l| Line::from(span(l, Style::new())))
                .collect();
            f.render_widget(Paragraph::new(text).block(block), area);
        }
        View::Detail { scroll } => {
            let (title, lines) = detail_of(app, theme);
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(theme.border_focus)
                .title(Span::styled(format!(" {} ", fit(&title, 60)), theme.title));
            // Rows after wrapping, so that scrolling stops at the last line.
            let inner = block.inner(area);
            let w = inner.width.max(1) as usize;
            let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(w)).sum();
            let max = rows.saturating_sub(inner.height as usize);
            app.scroll_max.set(max);
            f.render_widget(
                Paragraph::new(lines)
                    .block(block)
                    .wrap(Wrap { trim: false })
                    .scroll((clamp_u16((*scroll).min(max)), 0)),
                area,
            );
        }
        View::Table => match app.tab {
            Tab::Applications | Tab::Agents | Tab::Nodes | Tab::Deployments => {
                draw_list(f, area, app, theme)
            }
            Tab::Metrics => metrics::draw(f, area, app, theme),
        },
    }
}

fn clamp_u16(v: usize) -> u16 {
    v.min(u16::MAX as usize) as u16
}

fn detail_of(app: &App, theme: &Theme) -> (String, Vec<Line<'static>>) {
    match app.tab {
        Tab::Applications => match app.selected_app() {
            Some(a) => {
                let d = app
                    .detail
                    .as_ref()
                    .filter(|(n, _)| *n == a.application_name)
                    .map(|(_, d)| d);
                (
                    a.application_name.clone(),
                    applications::detail_lines(theme, a, d),
                )
            }
            None => ("details".into(), vec![Line::from("nothing selected")]),
        },
        Tab::Agents => match app.selected_agent() {
            Some(a) => (
                format!("agent of {}", a.application_name),
                agents::detail_lines(theme, a, app.wall),
            ),
            None => ("details".into(), vec![Line::from("nothing selected")]),
        },
        Tab::Nodes => match app.selected_node() {
            Some(v) => (
                format!("node {}", v.node.node_name),
                nodes::detail_lines(
                    theme,
                    v,
                    app.nodes.data.as_ref().is_some_and(|d| d.simulated),
                ),
            ),
            None => ("details".into(), vec![Line::from("nothing selected")]),
        },
        Tab::Deployments => match app.selected_deployment() {
            Some(r) => (
                format!("{}/{}", r.service.application, r.service.service_name),
                deployments::detail_lines(theme, r),
            ),
            None => ("details".into(), vec![Line::from("nothing selected")]),
        },
        Tab::Metrics => ("details".into(), Vec::new()),
    }
}

fn draw_list(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let (what, banner, loaded, list, sorts, total, updated) = match app.tab {
        Tab::Applications => (
            "applications",
            error_banner(app, &app.apps, "applications"),
            app.apps.data.is_some(),
            &app.apps_list,
            APP_SORTS,
            app.apps.data.as_ref().map_or(0, Vec::len),
            resource_title(app, &app.apps, theme),
        ),
        Tab::Nodes => (
            "nodes",
            error_banner(app, &app.nodes, "nodes"),
            app.nodes.data.is_some(),
            &app.nodes_list,
            NODE_SORTS,
            app.nodes.data.as_ref().map_or(0, |d| d.nodes.len()),
            resource_title(app, &app.nodes, theme),
        ),
        Tab::Deployments => (
            "deployments",
            error_banner(app, &app.deployments, "deployments"),
            app.deployments.data.is_some(),
            &app.deployments_list,
            DEPLOYMENT_SORTS,
            app.deployments.data.as_ref().map_or(0, Vec::len),
            resource_title(app, &app.deployments, theme),
        ),
        _ => (
            "agents",
            error_banner(app, &app.agents, "agents"),
            app.agents.data.is_some(),
            &app.agents_list,
            AGENT_SORTS,
            app.agents.data.as_ref().map_or(0, Vec::len),
            resource_title(app, &app.agents, theme),
        ),
    };
    let mut area = area;
    if let Some(b) = &banner {
        let [line, rest] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
        f.render_widget(
            Paragraph::new(Span::styled(fit(b, line.width as usize), theme.error)),
            line,
        );
        area = rest;
    }
    let (table_area, side) = if app.side_pane() {
        let [l, r] = Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)])
            .areas(area);
        (l, Some(r))
    } else {
        (area, None)
    };
    let mut title = vec![Span::styled(
        format!(" {} [{}/{}] ", app.tab.title(), list.rows.len(), total),
        theme.title,
    )];
    if !list.filter.is_empty() || matches!(app.overlay, Overlay::Filter(_)) {
        title.push(Span::styled(
            format!(" /{} ", fit(&list.filter, 24)),
            theme.warning,
        ));
    }
    title.push(Span::styled(
        format!(
            " by {} {} ",
            sorts.get(list.sort).copied().unwrap_or("name"),
            if list.desc { "↓" } else { "↑" }
        ),
        theme.dim,
    ));
    title.extend(updated);
    let title = Line::from(title);
    if !loaded || list.rows.is_empty() {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border)
            .title(title);
        let lines: Vec<Line> = if !loaded {
            if banner.is_some() {
                vec![Line::from(Span::styled(
                    format!("No {what} to show until the store answers."),
                    theme.error,
                ))]
            } else {
                vec![Line::from(Span::styled(
                    format!("Loading {what}…"),
                    theme.dim,
                ))]
            }
        } else {
            tabs::empty_state(app.tab, !list.filter.is_empty())
                .into_iter()
                .map(|l| Line::from(Span::styled(l, theme.dim)))
                .collect()
        };
        f.render_widget(
            Paragraph::new(lines).block(block).wrap(Wrap { trim: true }),
            table_area,
        );
    } else {
        match app.tab {
            Tab::Applications => {
                let apps = app.apps.data.as_deref().unwrap_or(&[]);
                widgets::table(
                    f,
                    table_area,
                    theme,
                    title,
                    applications::COLUMNS,
                    list,
                    true,
                    &|i| apps.get(i).map(applications::row).unwrap_or_default(),
                );
            }
            Tab::Nodes => {
                let (ns, simulated) = app
                    .nodes
                    .data
                    .as_ref()
                    .map_or((&[][..], false), |d| (&d.nodes[..], d.simulated));
                widgets::table_styled(
                    f,
                    table_area,
                    theme,
                    title,
                    nodes::COLUMNS,
                    list,
                    true,
                    &|i| {
                        ns.get(i)
                            .map(|v| nodes::row(v, simulated))
                            .unwrap_or_default()
                    },
                    &|i| {
                        ns.get(i)
                            .map(|v| nodes::row_style(theme, v, simulated))
                            .unwrap_or_default()
                    },
                    theme.selected,
                );
            }
            Tab::Deployments => {
                let rows = app.deployments.data.as_deref().unwrap_or(&[]);
                widgets::table_styled(
                    f,
                    table_area,
                    theme,
                    title,
                    deployments::COLUMNS,
                    list,
                    true,
                    &|i| rows.get(i).map(deployments::row).unwrap_or_default(),
                    &|i| {
                        rows.get(i)
                            .map(|r| deployments::row_style(theme, r))
                            .unwrap_or_default()
                    },
                    theme.selected,
                );
            }
            _ => {
                let ags = app.agents.data.as_deref().unwrap_or(&[]);
                let now = app.wall;
                widgets::table_styled(
                    f,
                    table_area,
                    theme,
                    title,
                    agents::COLUMNS,
                    list,
                    true,
                    &|i| ags.get(i).map(|a| agents::row(a, now)).unwrap_or_default(),
                    &|i| {
                        ags.get(i)
                            .map(|a| agents::row_style(theme, a))
                            .unwrap_or_default()
                    },
                    theme.selected,
                );
            }
        }
    }
    if let Some(side) = side {
        let (title, lines) = detail_of(app, theme);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border)
            .title(Span::styled(format!(" {} ", fit(&title, 40)), theme.title));
        f.render_widget(
            Paragraph::new(lines)
                .block(block)
                .wrap(Wrap { trim: false }),
            side,
        );
    }
}

/// `key label` pairs for the hint line, from the effective keymap.
/// Items that do not fit the width are left out whole, never cut.
fn hint_spans(app: &App, theme: &Theme, items: &[(Action, &str)]) -> Vec<Span<'static>> {
    let mut out = Vec::new();
    let mut used = 0;
    let width = app.size.0 as usize;
    for (a, label) in items {
        if !app.allowed(*a) || app.keymap.keys(*a).is_empty() {
            continue;
        }
        let key = app.keymap.short(*a);
        let text = format!(" {label}  ");
        let w = widgets::width(&key) + widgets::width(&text);
        if used + w > width + 2 {
            continue;
        }
        used += w;
        out.push(Span::styled(key, theme.key));
        out.push(Span::raw(text));
    }
    out
}

fn draw_hints(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let line = match &app.overlay {
        Overlay::Filter(input) => {
            let label = Span::styled("/", theme.key);
            f.render_widget(Paragraph::new(label), area);
            let rest = Rect {
                x: area.x + 1,
                width: area.width.saturating_sub(1),
                ..area
            };
            let [inp, help] =
                Layout::horizontal([Constraint::Min(10), Constraint::Length(34)]).areas(rest);
            widgets::input(f, inp, input, theme.warning, true);
            f.render_widget(
                Paragraph::new(Span::styled(
                    format!(
                        "{} keep · {} clear",
                        app.keymap.short(Action::PromptSubmit),
                        app.keymap.short(Action::PromptCancel)
                    ),
                    theme.dim,
                ))
                .alignment(Alignment::Right),
                help,
            );
            return;
        }
        Overlay::Command(_) => return, // drawn by draw_command
        _ => match (&app.view, app.tab) {
            (View::Text { .. }, Tab::Agents) => hint_spans(
                app,
                theme,
                &[
                    (Action::Back, "back"),
                    (Action::MoveDown, "scroll"),
                    (Action::Bottom, "end"),
                    (Action::AgentLogs, "reload"),
                    (Action::Help, "help"),
                    (Action::Quit, "quit"),
                ],
            ),
            (View::Detail { .. }, Tab::Agents) => hint_spans(
                app,
                theme,
                &[
                    (Action::Back, "back"),
                    (Action::AgentLogs, "logs"),
                    (Action::AgentStop, "stop"),
                    (Action::AgentRestart, "restart"),
                    (Action::AgentConfig, "config"),
                    (Action::Yaml, "yaml"),
                    (Action::Help, "help"),
                    (Action::Quit, "quit"),
                ],
            ),
            (View::Text { .. }, Tab::Deployments) => hint_spans(
                app,
                theme,
                &[
                    (Action::Back, "back"),
                    (Action::MoveDown, "scroll"),
                    (Action::ApplyPlan, "apply"),
                    (Action::PlanPreview, "plan again"),
                    (Action::Help, "help"),
                    (Action::Quit, "quit"),
                ],
            ),
            (View::Detail { .. }, Tab::Nodes) | (View::Text { .. }, Tab::Nodes) => hint_spans(
                app,
                theme,
                &[
                    (Action::Back, "back"),
                    (Action::MoveDown, "scroll"),
                    (Action::NodeCordon, "cordon"),
                    (Action::NodeFail, "fail"),
                    (Action::NodeRecover, "recover"),
                    (Action::Yaml, "yaml"),
                    (Action::Help, "help"),
                    (Action::Quit, "quit"),
                ],
            ),
            (View::Detail { .. }, Tab::Deployments) => hint_spans(
                app,
                theme,
                &[
                    (Action::Back, "back"),
                    (Action::ScaleUp, "scale up"),
                    (Action::ScaleDown, "down"),
                    (Action::ScaleSet, "set"),
                    (Action::Yaml, "yaml"),
                    (Action::Help, "help"),
                    (Action::Quit, "quit"),
                ],
            ),
            (View::Detail { .. }, _) | (View::Text { .. }, _) => hint_spans(
                app,
                theme,
                &[
                    (Action::Back, "back"),
                    (Action::MoveDown, "scroll"),
                    (Action::Yaml, "yaml"),
                    (Action::CopyId, "copy id"),
                    (Action::Unregister, "unregister"),
                    (Action::Export, "export"),
                    (Action::Help, "help"),
                    (Action::Quit, "quit"),
                ],
            ),
            (View::Table, Tab::Applications) => hint_spans(
                app,
                theme,
                &[
                    (Action::Details, "details"),
                    (Action::Register, "register"),
                    (Action::Demo, "demo"),
                    (Action::AgentStart, "agent"),
                    (Action::Filter, "filter"),
                    (Action::Unregister, "unregister"),
                    (Action::Help, "help"),
                    (Action::Quit, "quit"),
                    (Action::CommandLine, "cmd"),
                    (Action::Export, "export"),
                    (Action::Yaml, "yaml"),
                    (Action::SortNext, "sort"),
                    (Action::CopyId, "copy id"),
                    (Action::Palette, "palette"),
                ],
            ),
            (View::Table, Tab::Agents) => hint_spans(
                app,
                theme,
                &[
                    (Action::AgentStart, "start"),
                    (Action::AgentStop, "stop"),
                    (Action::AgentRestart, "restart"),
                    (Action::AgentLogs, "logs"),
                    (Action::Demo, "demo"),
                    (Action::AgentConfig, "config"),
                    (Action::Help, "help"),
                    (Action::Quit, "quit"),
                    (Action::Details, "details"),
                    (Action::Filter, "filter"),
                    (Action::Yaml, "yaml"),
                    (Action::SortNext, "sort"),
                    (Action::Palette, "palette"),
                ],
            ),
            (View::Table, Tab::Nodes) => hint_spans(
                app,
                theme,
                &[
                    (Action::NodeCordon, "cordon"),
                    (Action::NodeFail, "fail"),
                    (Action::NodeRecover, "recover"),
                    (Action::Details, "details"),
                    (Action::Filter, "filter"),
                    (Action::Help, "help"),
                    (Action::Quit, "quit"),
                    (Action::Yaml, "yaml"),
                    (Action::CommandLine, "cmd"),
                    (Action::Palette, "palette"),
                ],
            ),
            (View::Table, Tab::Deployments) => hint_spans(
                app,
                theme,
                &[
                    (Action::ScaleUp, "scale up"),
                    (Action::ScaleDown, "down"),
                    (Action::ScaleSet, "set"),
                    (Action::PlanPreview, "plan"),
                    (Action::ApplyPlan, "apply"),
                    (Action::Help, "help"),
                    (Action::Quit, "quit"),
                    (Action::Details, "details"),
                    (Action::Filter, "filter"),
                    (Action::Yaml, "yaml"),
                    (Action::CommandLine, "cmd"),
                    (Action::Palette, "palette"),
                ],
            ),
            (View::Table, Tab::Metrics) => hint_spans(
                app,
                theme,
                &[
                    (Action::MetricsNextApp, "app"),
                    (Action::MetricsRange, "range"),
                    (Action::MetricsHistory, "history"),
                    (Action::MetricsLive, "live"),
                    (Action::Demo, "demo"),
                    (Action::Help, "help"),
                    (Action::Quit, "quit"),
                    (Action::AgentStart, "agent"),
                    (Action::Filter, "filter"),
                    (Action::MoveDown, "scroll"),
                    (Action::Palette, "palette"),
                ],
            ),
        },
    };
    f.render_widget(Paragraph::new(Line::from(line)), area);
}

fn draw_status(f: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let w = area.width as usize;
    let mut left: Vec<Span> = Vec::new();
    let mut used = 0;
    if app.readonly {
        left.push(Span::styled(" READ-ONLY ", theme.readonly));
        left.push(Span::raw(" "));
        used += 12;
    }
    if app.busy > 0 {
        let s = format!("⟳ {} running · ", app.busy);
        used += widgets::width(&s);
        left.push(Span::styled(s, theme.warning));
    }
    if !app.demos.is_empty() {
        let list: Vec<String> = app
            .demos
            .iter()
            .map(|(n, d)| {
                format!(
                    "{}{} {}",
                    fit(n, 14),
                    if d.stopping { " (stopping)" } else { "" },
                    d.published
                )
            })
            .collect();
        let s = fit(&format!("▶ demo {} · ", list.join(", ")), w / 2);
        used += widgets::width(&s);
        left.push(Span::styled(s, theme.ok));
    }
    if let Some(serve) = &app.serve {
        // The port is what operators point clients at; the host is almost always loopback.
        let port = serve.observation.rsplit(':').next().unwrap_or("?");
        let s = format!(
            "⇄ serve :{port}{} · ",
            if serve.auth { " (token)" } else { "" }
        );
        used += widgets::width(&s);
        left.push(Span::styled(s, theme.ok));
    }
    // Backend health: the last load of the store decides.
    let last_err = app.apps.error.as_ref().or(app.agents.error.as_ref());
    let health = if last_err.is_some() {
        "degraded"
    } else if app.apps.loaded_at.is_some() || app.agents.loaded_at.is_some() {
        "connected"
    } else {
        "connecting"
    };
    let config = app
        .info
        .config_file
        .clone()
        .unwrap_or_else(|| "built-in defaults".into());
    let long = format!(
        " store: {} {} ({}) │ config: {} ",
        app.info.store_backend, app.info.store_location, health, config
    );
    let file_name = |p: &str| {
        std::path::Path::new(p)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.to_string())
    };
    let short = format!(
        " {} {} │ {} ",
        app.info.store_backend,
        health,
        app.info
            .config_file
            .as_deref()
            .map(file_name)
            .unwrap_or_else(|| "defaults".into())
    );
    let outcome = app.last.as_ref().map(|o| {
        (
            format!("{} {}", if o.ok { "✓" } else { "✗" }, o.text),
            if o.ok { theme.ok } else { theme.error },
        )
    });
    let out_w = outcome.as_ref().map_or(0, |(s, _)| widgets::width(s));
    let right = if used + out_w + widgets::width(&long) <= w {
        long
    } else {
        short
    };
    let right_w = widgets::width(&right).min(w.saturating_sub(used));
    if let Some((s, style)) = outcome {
        let room = w.saturating_sub(used + right_w + 1);
        left.push(Span::styled(fit(&s, room), style));
    }
    f.render_widget(Paragraph::new(Line::from(left)), area);
    let health_style = if last_err.is_some() {
        theme.error
    } else {
        theme.dim
    };
    f.render_widget(
        Paragraph::new(Span::styled(fit(&right, right_w), health_style))
            .alignment(Alignment::Right),
        area,
    );
}

/// The help overlay's lines, generated from the registry and the effective keymap.
pub fn help_lines(app: &App, theme: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    if app.readonly {
        out.push(Line::from(Span::styled(
            "READ-ONLY: state-changing actions are hidden and refused.",
            theme.readonly,
        )));
    }
    out.push(Line::from(Span::styled(
        "ctrl-c always quits. Keys come from the keymap (rohe keymap show).",
        theme.dim,
    )));
    if let Some(src) = &app.keymap.source {
        out.push(Line::from(Span::styled(
            format!("Keymap overrides: {}", src.display()),
            theme.dim,
        )));
    }
    for ctx in Context::ALL {
        out.push(Line::default());
        out.push(Line::from(Span::styled(
            match ctx {
                Context::Global => "Everywhere",
                Context::Navigation => "Moving",
                Context::Table => "Selected row (Metrics tab: its application)",
                Context::Applications => "Applications tab",
                Context::Agents => "Agents tab",
                Context::Nodes => "Nodes tab (its keys win over the row keys above)",
                Context::Deployments => "Deployments tab (its keys win over the row keys above)",
                Context::Metrics => "Metrics tab",
                Context::Dialog => "Dialogs",
                Context::Form => "Forms",
                Context::Prompt => "Filter, command line, palette",
            },
            theme.header,
        )));
        for d in REGISTRY.iter().filter(|d| d.context == ctx) {
            if !app.allowed(d.action) {
                continue;
            }
            out.push(Line::from(vec![
                Span::styled(format!("  {:<18}", app.keymap.label(d.action)), theme.key),
                Span::raw(d.description),
            ]));
        }
    }
    out.push(Line::default());
    out.push(Line::from(Span::styled("Commands (:)", theme.header)));
    for (c, d) in [
        ("app register FILE", "register from a description file"),
        ("app unregister NAME [--purge]", "unregister (asks first)"),
        ("app show NAME", "open an application's details"),
        (
            "app qoa-config NAME [--out DIR]",
            "show or write QoA4ML configs",
        ),
        (
            "node cordon|uncordon NAME",
            "keep a node out of placement, or not",
        ),
        (
            "node fail|recover NAME",
            "simulated cluster: fail (asks) or recover",
        ),
        ("plan", "preview the reconciliation (rohe plan)"),
        ("apply", "reconcile, after confirming the plan"),
        ("scale APP SERVICE N", "set a service's replicas"),
        ("applications, agents, ...", "switch tab"),
        ("q", "quit"),
    ] {
        out.push(Line::from(vec![
            Span::styled(format!("  :{c:<32}"), theme.key),
            Span::raw(d),
        ]));
    }
    out
}

fn draw_help(f: &mut Frame, body: Rect, app: &App, theme: &Theme, scroll: usize) {
    let area = widgets::centered(body, 96, body.height);
    f.render_widget(Clear, area);
    let lines = help_lines(app, theme);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border_focus)
        .title(Span::styled(" Help — esc closes, j/k scroll ", theme.title));
    let inner_h = block.inner(area).height as usize;
    let s = scroll.min(lines.len().saturating_sub(inner_h));
    f.render_widget(
        Paragraph::new(lines).block(block).scroll((clamp_u16(s), 0)),
        area,
    );
}

fn draw_palette(f: &mut Frame, body: Rect, app: &App, theme: &Theme, p: &Prompt) {
    let entries = app.palette_entries(p.input.value());
    let h = (entries.len() as u16 + 3).min(body.height).max(4);
    let area = widgets::centered(body, 76, h);
    f.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border_focus)
        .title(Span::styled(
            " Command palette — type to filter, enter runs ",
            theme.title,
        ));
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let [inp, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    f.render_widget(Paragraph::new(Span::styled("> ", theme.key)), inp);
    widgets::input(
        f,
        Rect {
            x: inp.x + 2,
            width: inp.width.saturating_sub(2),
            ..inp
        },
        &p.input,
        Style::new(),
        true,
    );
    let sel = p.selected.unwrap_or(0);
    let rows = list.height as usize;
    let off = sel.saturating_sub(rows.saturating_sub(1));
    let lines: Vec<Line> = entries
        .iter()
        .enumerate()
        .skip(off)
        .take(rows)
        .map(|(i, a)| {
            let d = super::keymap::def_of(*a);
            let style = if i == sel {
                theme.selected
            } else {
                Style::new()
            };
            let text = format!(
                "{:<18} {:<12} {}",
                d.name,
                app.keymap.label(*a),
                d.description
            );
            Line::from(Span::styled(fit(&text, list.width as usize), style))
        })
        .collect();
    f.render_widget(Paragraph::new(lines), list);
}

fn draw_command(f: &mut Frame, body: Rect, line: Rect, theme: &Theme, p: &Prompt) {
    f.render_widget(Clear, line);
    f.render_widget(Paragraph::new(Span::styled(":", theme.key)), line);
    widgets::input(
        f,
        Rect {
            x: line.x + 1,
            width: line.width.saturating_sub(1),
            ..line
        },
        &p.input,
        Style::new(),
        true,
    );
    // Suggestions and errors sit just above the command line.
    let mut rows: Vec<Line> = Vec::new();
    if let Some(e) = &p.error {
        rows.push(Line::from(Span::styled(
            fit(e, body.width as usize),
            theme.error,
        )));
    }
    let max = 8usize;
    for (i, s) in p.suggestions.iter().take(max).enumerate() {
        let style = if Some(i) == p.selected {
            theme.selected
        } else {
            Style::new()
        };
        rows.push(Line::from(Span::styled(
            fit(&format!(" {s}"), body.width as usize),
            style,
        )));
    }
    if p.suggestions.len() > max {
        rows.push(Line::from(Span::styled(
            format!(" … {} more", p.suggestions.len() - max),
            theme.dim,
        )));
    }
    if rows.is_empty() {
        return;
    }
    let h = (rows.len() as u16).min(body.height);
    let width = rows
        .iter()
        .map(|l| l.width() as u16 + 2)
        .max()
        .unwrap_or(10)
        .min(body.width);
    let area = Rect {
        x: body.x,
        y: body.bottom() - h,
        width,
        height: h,
    };
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(rows).block(Block::default().style(Style::new())),
        area,
    );
}

fn draw_form(f: &mut Frame, screen: Rect, app: &App, theme: &Theme, form: &Form) {
    let label_w = 20u16;
    let cand_lines = form
        .fields
        .get(form.focus)
        .map_or(0, |x| if x.candidates.is_empty() { 0 } else { 1 });
    let h = (form.fields.len() as u16 * 2 + 5 + cand_lines).min(screen.height);
    let area = widgets::centered(screen, 78.min(screen.width.saturating_sub(2)), h);
    f.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border_focus)
        .title(Span::styled(format!(" {} ", form.title()), theme.title));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let mut y = inner.y;
    for (i, field) in form.fields.iter().enumerate() {
        if y + 1 >= inner.bottom() {
            break;
        }
        let focused = i == form.focus;
        let label_style = if focused { theme.key } else { Style::new() };
        f.render_widget(
            Paragraph::new(Span::styled(
                fit(
                    &format!("{}{}", if focused { "▸ " } else { "  " }, field.label),
                    label_w as usize,
                ),
                label_style,
            )),
            Rect::new(inner.x, y, label_w, 1),
        );
        let inp = Rect::new(inner.x + label_w, y, inner.width.saturating_sub(label_w), 1);
        let style = if focused {
            theme.selected
        } else {
            theme.dim.add_modifier(ratatui::style::Modifier::UNDERLINED)
        };
        f.render_widget(Paragraph::new("").style(style), inp);
        widgets::input(f, inp, &field.input, style, focused && !form.submitting);
        y += 1;
        let (msg, st) = if let Some(e) = &field.error {
            (format!("✗ {e}"), theme.error)
        } else if let Some(ok) = &field.ok {
            (format!("✓ {ok}"), theme.ok)
        } else if focused {
            (field.hint.to_string(), theme.dim)
        } else {
            (String::new(), theme.dim)
        };
        f.render_widget(
            Paragraph::new(Span::styled(fit(&msg, inp.width as usize), st)),
            Rect::new(inp.x, y, inp.width, 1),
        );
        y += 1;
        if focused && !field.candidates.is_empty() && y < inner.bottom() {
            let text = field
                .candidates
                .iter()
                .map(|c| {
                    std::path::Path::new(c.trim_end_matches('/'))
                        .file_name()
                        .map(|n| {
                            let mut n = n.to_string_lossy().into_owned();
                            if c.ends_with('/') {
                                n.push('/');
                            }
                            n
                        })
                        .unwrap_or_else(|| c.clone())
                })
                .collect::<Vec<_>>()
                .join("  ");
            f.render_widget(
                Paragraph::new(Span::styled(fit(&text, inp.width as usize), theme.dim)),
                Rect::new(inp.x, y, inp.width, 1),
            );
            y += 1;
        }
    }
    let footer_y = inner.bottom().saturating_sub(1);
    if let Some(e) = &form.error
        && footer_y > inner.y
    {
        f.render_widget(
            Paragraph::new(Span::styled(
                fit(&format!("✗ {e}"), inner.width as usize),
                theme.error,
            )),
            Rect::new(inner.x, footer_y - 1, inner.width, 1),
        );
    }
    let footer = if form.submitting {
        Span::styled("working…", theme.warning)
    } else {
        Span::styled(
            fit(
                &format!(
                    "{} submit · {} next field (completes paths) · {} prev · {} cancel",
                    app.keymap.short(Action::FormSubmit),
                    app.keymap.short(Action::FormNext),
                    app.keymap.short(Action::FormPrev),
                    app.keymap.short(Action::FormCancel)
                ),
                inner.width as usize,
            ),
            theme.dim,
        )
    };
    f.render_widget(
        Paragraph::new(footer),
        Rect::new(inner.x, footer_y, inner.width, 1),
    );
}

fn draw_dialog(f: &mut Frame, screen: Rect, app: &App, theme: &Theme) {
    let Overlay::Dialog(d) = &app.overlay else {
        return;
    };
    let box_w: u16 = if matches!(d.kind, DialogKind::Apply { .. }) {
        100
    } else {
        64
    };
    let box_w = box_w.min(screen.width.saturating_sub(2));
    let w = (box_w as usize).saturating_sub(2);
    let demo = app.demos.contains_key(&d.name);
    let (title, mut lines, confirm): (&str, Vec<Line>, &str) = match &d.kind {
        DialogKind::Unregister => (
            if d.purge {
                " Unregister and purge "
            } else {
                " Unregister "
            },
            vec![
                Line::from(vec![
                    Span::raw("Unregister application "),
                    span(&fit(&d.name, 20), theme.title),
                    Span::raw("?"),
                ]),
                Line::from(Span::styled(
                    fit(
                        "Its registration and history are removed; its app_id is gone for good.",
                        w,
                    ),
                    theme.dim,
                )),
            ],
            if d.purge {
                "Unregister + purge"
            } else {
                "Unregister"
            },
        ),
        DialogKind::AgentStop => {
            let mut l = vec![
                Line::from(vec![
                    Span::raw("Stop the agent of "),
                    span(&fit(&d.name, 20), theme.title),
                    Span::raw("?"),
                ]),
                Line::from(Span::styled(
                    fit(
                        "Its reports are no longer stored; they wait in its queue.",
                        w,
                    ),
                    theme.dim,
                )),
            ];
            if demo {
                l.push(Line::from(Span::styled(
                    fit("The demo keeps publishing: press D to stop it too.", w),
                    theme.warning,
                )));
            }
            (" Stop agent ", l, "Stop")
        }
        DialogKind::AgentRestart => (
            " Restart agent ",
            vec![
                Line::from(vec![
                    Span::raw("Restart the agent of "),
                    span(&fit(&d.name, 20), theme.title),
                    Span::raw("?"),
                ]),
                Line::from(Span::styled(
                    fit(
                        "It stops and starts again with its stored stream config.",
                        w,
                    ),
                    theme.dim,
                )),
            ],
            "Restart",
        ),
        DialogKind::AgentConfigure { file } => (
            " Replace stream config ",
            vec![
                Line::from(vec![
                    Span::raw("Configure the agent of "),
                    span(&fit(&d.name, 20), theme.title),
                    Span::raw(" from"),
                ]),
                Line::from(span(&fit(&file.display().to_string(), w), Style::new())),
                Line::from(Span::styled(
                    fit("It runs: it restarts with the new config.", w),
                    theme.warning,
                )),
            ],
            "Configure + restart",
        ),
        DialogKind::NodeCordon => (
            " Cordon node ",
            vec![
                Line::from(vec![
                    Span::raw("Cordon node "),
                    span(&fit(&d.name, 30), theme.title),
                    Span::raw("?"),
                ]),
                Line::from(Span::styled(
                    fit(
                        "It takes no new instances; what runs there stays. c uncordons.",
                        w,
                    ),
                    theme.dim,
                )),
            ],
            "Cordon",
        ),
        DialogKind::NodeFail => {
            let placed: u32 = app
                .nodes
                .data
                .as_ref()
                .and_then(|n| n.nodes.iter().find(|v| v.node.node_name == d.name))
                .map_or(0, |v| v.instances.iter().map(|(_, _, c)| c).sum());
            (
                " Fail node ",
                vec![
                    Line::from(vec![
                        Span::raw("Fail node "),
                        span(&fit(&d.name, 30), theme.title),
                        Span::raw(" (simulated)?"),
                    ]),
                    Line::from(Span::styled(
                        fit(
                            &format!(
                                "Its {placed} instance(s) stop and are re-placed on the other nodes."
                            ),
                            w,
                        ),
                        theme.warning,
                    )),
                    Line::from(Span::styled(
                        fit("R on the Nodes tab recovers it.", w),
                        theme.dim,
                    )),
                ],
                "Fail node",
            )
        }
        DialogKind::Apply { summary, lines } => {
            // The plan, as much as fits; the summary always shows.
            let room = (screen.height as usize).saturating_sub(8).max(1);
            let changes: Vec<&String> = lines
                .iter()
                .filter(|l| *l != summary && !l.starts_with("(dry run"))
                .collect();
            let mut out = vec![Line::from(Span::raw("Apply this plan to the cluster?"))];
            let shown = if changes.len() > room.saturating_sub(2) {
                room.saturating_sub(3)
            } else {
                changes.len()
            };
            for l in changes.iter().take(shown) {
                out.push(Line::from(span(&fit(l, w), Style::new())));
            }
            if shown < changes.len() {
                out.push(Line::from(Span::styled(
                    format!(
                        "… and {} more (p shows the whole plan)",
                        changes.len() - shown
                    ),
                    theme.dim,
                )));
            }
            out.push(Line::from(span(&fit(summary, w), theme.warning)));
            (" Apply ", out, "Apply")
        }
    };
    let h = lines.len() as u16 + 4 + if d.purge { 3 } else { 0 } + u16::from(d.dry_run);
    let area = widgets::centered(screen, box_w, h.min(screen.height));
    f.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.error)
        .title(Span::styled(title, theme.error));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    if d.purge {
        lines.push(Line::from(Span::styled(
            fit("Its stored metric reports are deleted too.", w),
            theme.warning,
        )));
        lines.push(Line::from(fit(
            "Type the application's name to confirm:",
            w,
        )));
    }
    if d.dry_run {
        lines.push(Line::from(Span::styled(
            "(dry run: nothing changes)",
            theme.dim,
        )));
    }
    let text_h = lines.len() as u16;
    f.render_widget(
        Paragraph::new(lines),
        Rect::new(inner.x, inner.y, inner.width, text_h),
    );
    let mut y = inner.y + text_h;
    if d.purge && y < inner.bottom() {
        let r = Rect::new(inner.x, y, inner.width.min(30), 1);
        let style = if d.focus == DialogFocus::Input {
            theme.selected
        } else {
            theme.dim.add_modifier(ratatui::style::Modifier::UNDERLINED)
        };
        f.render_widget(Paragraph::new("").style(style), r);
        widgets::input(f, r, &d.typed, style, d.focus == DialogFocus::Input);
        y += 1;
    }
    if let Some(e) = &d.error
        && y < inner.bottom()
    {
        f.render_widget(
            Paragraph::new(Span::styled(fit(e, w), theme.error)),
            Rect::new(inner.x, y, inner.width, 1),
        );
    }
    let by = inner.bottom().saturating_sub(1);
    let btn = |label: &str, focused: bool, enabled: bool| {
        let style = if focused {
            theme.button_focus
        } else if enabled {
            theme.button
        } else {
            theme.dim
        };
        Span::styled(
            format!(
                "{}{label}{}",
                if focused { "[ " } else { "  " },
                if focused { " ]" } else { "  " }
            ),
            style,
        )
    };
    let buttons = Line::from(vec![
        btn("Cancel", d.focus == DialogFocus::Cancel, true),
        Span::raw("   "),
        btn(
            confirm,
            d.focus == DialogFocus::Confirm,
            d.confirm_enabled(),
        ),
    ]);
    f.render_widget(
        Paragraph::new(buttons).alignment(Alignment::Center),
        Rect::new(inner.x, by, inner.width, 1),
    );
}
