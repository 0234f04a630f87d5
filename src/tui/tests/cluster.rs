//! The Nodes and Deployments tabs: each key and `:` command produces the orchestration
//! request the CLI makes (or the confirmation before it), validation errors are shown and
//! never sent, and the tables draw what the data says.

use super::*;
use crate::ops::orchestration::{OrchestrationOutcome, PlannedStart, PlannedStop};
use crate::ops::{CycleReport, NodeView, Request, Response, ServiceView};
use crate::tui::app::{DialogFocus, DialogKind, FormKind, Overlay, Tab, View};
use crate::tui::event::{Effect, PlanPurpose};
use crate::tui::tabs::deployments::{DeploymentRow, PodCounts};
use crate::tui::tabs::nodes::NodesData;

const NODES: &str = "nodes:
  - node_name: edge-pi-1
    mac_address: aa:00:00:00:00:01
    cpu: {capacity: 4000, used: 1200}
    memory: {capacity: {rss: 4096, vms: 4096}, used: {rss: 1024, vms: 1024}}
    cores: {capacity: [100, 100, 100, 100], used: [40, 5, 5, 5]}
  - node_name: jetson-1
    mac_address: aa:00:00:00:00:02
    cpu: {capacity: 4000}
    memory: {capacity: {rss: 4096, vms: 2048}}
    cores: {capacity: [100, 100, 100, 100]}
    cordoned: true
    accelerator:
      GPU0: {accelerator_type: gpu, capacity: 100, used: 30}
  - node_name: edge-pi-2
    mac_address: aa:00:00:00:00:03
    cpu: {capacity: 4000}
    memory: {capacity: {rss: 4096, vms: 4096}}
    cores: {capacity: [100, 100, 100, 100]}
";

fn nodes_data(simulated: bool) -> NodesData {
    let nodes = crate::domain::resources::parse_nodes(NODES, "test.yaml").expect("nodes");
    let views = nodes
        .into_iter()
        .map(|n| {
            let (ready, instances) = match n.node_name.as_str() {
                "edge-pi-1" => (
                    Some(true),
                    vec![
                        ("cctvs".to_string(), "image_ingestion".to_string(), 2),
                        ("cctvs".to_string(), "ensemble".to_string(), 1),
                    ],
                ),
                "edge-pi-2" => (Some(false), Vec::new()),
                _ => (Some(true), Vec::new()),
            };
            NodeView {
                node: n,
                ready,
                instances,
            }
        })
        .collect();
    NodesData {
        simulated,
        nodes: views,
    }
}

fn service(name: &str, replicas: u32, running: u32, placement: &[(&str, u32)]) -> ServiceView {
    ServiceView {
        application: "cctvs".into(),
        service_name: name.into(),
        service_id: format!("cctvs:{name}"),
        image: "rdsea/od_web:2.0".into(),
        replicas,
        running,
        ready: Some(running),
        placement: placement.iter().map(|(n, c)| (n.to_string(), *c)).collect(),
        status: if running < replicas { "pending" } else { "ok" }.into(),
        policy: None,
        last_decision: None,
    }
}

fn deployment_rows() -> Vec<DeploymentRow> {
    vec![
        DeploymentRow {
            service: service(
                "image_ingestion",
                3,
                3,
                &[("edge-pi-1", 2), ("jetson-1", 1)],
            ),
            pods: Some(PodCounts {
                running: 2,
                pending: 1,
                ..PodCounts::default()
            }),
        },
        DeploymentRow {
            service: service("ensemble", 0, 0, &[]),
            pods: Some(PodCounts::default()),
        },
        DeploymentRow {
            service: service("yolov8", 2, 1, &[("edge-pi-2", 1)]),
            pods: Some(PodCounts {
                node_lost: 1,
                ..PodCounts::default()
            }),
        },
    ]
}

/// The console on the Nodes tab with the nodes loaded.
fn on_nodes(simulated: bool, readonly: bool) -> App {
    let mut app = new_app(readonly);
    let _ = app.start();
    let fx = app.update(ch('3'));
    assert_eq!(app.tab, Tab::Nodes);
    assert!(fx.contains(&Effect::LoadNodes), "{fx:?}");
    let _ = app.update(Event::NodesLoaded(Ok(nodes_data(simulated))));
    app
}

/// The console on the Deployments tab with the services loaded.
fn on_deployments(readonly: bool) -> App {
    let mut app = new_app(readonly);
    let _ = app.start();
    let fx = app.update(ch('4'));
    assert_eq!(app.tab, Tab::Deployments);
    assert!(fx.contains(&Effect::LoadDeployments), "{fx:?}");
    let _ = app.update(Event::DeploymentsLoaded(Ok(deployment_rows())));
    app
}

fn executed(fx: &[Effect]) -> Vec<Request> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Execute(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

fn enter() -> Event {
    press(KeyCode::Enter)
}

fn last_text(app: &App) -> (bool, String) {
    let o = app.last.as_ref().expect("an outcome on the status line");
    (o.ok, o.text.clone())
}

fn outcome(action: &str, message: &str, cycle: Option<CycleReport>) -> Response {
    Response::Orchestration(Box::new(OrchestrationOutcome {
        action: action.into(),
        message: message.into(),
        dry_run: false,
        cycle,
        upserted: None,
    }))
}

fn plan() -> CycleReport {
    CycleReport {
        dry_run: true,
        starts: vec![PlannedStart {
            application: "cctvs".into(),
            service: "image_ingestion".into(),
            node: "edge-pi-2".into(),
            instance_id: "i1".into(),
            why: "max-headroom: 2 of 3 nodes fit".into(),
        }],
        stops: vec![PlannedStop {
            application: "cctvs".into(),
            service: "yolov8".into(),
            node: Some("edge-pi-1".into()),
            instance_id: Some("i0".into()),
            why: "replicas lowered to 1".into(),
        }],
        ..CycleReport::default()
    }
}

// ---- Nodes ------------------------------------------------------------------------------

#[test]
fn nodes_tab_loads_on_switch_and_refreshes_on_the_tick() {
    let mut app = on_nodes(true, false);
    assert_eq!(app.nodes_list.rows.len(), 3);
    assert_eq!(
        app.selected_node().map(|v| v.node.node_name.as_str()),
        Some("edge-pi-1")
    );
    // Not due yet: no reload.
    let fx = app.update(Event::Tick(app.now + Duration::from_millis(500)));
    assert!(!fx.contains(&Effect::LoadNodes), "{fx:?}");
    // Due after the refresh interval: one reload, not two while it runs.
    let later = app.now + Duration::from_secs(3);
    let fx = app.update(Event::Tick(later));
    assert!(fx.contains(&Effect::LoadNodes), "{fx:?}");
    let fx = app.update(Event::Tick(later + Duration::from_secs(3)));
    assert!(!fx.contains(&Effect::LoadNodes), "in flight: {fx:?}");
    // An error keeps the last data and says so.
    let _ = app.update(Event::NodesLoaded(Err("the store is gone".into())));
    assert!(app.nodes.data.is_some());
    assert_eq!(app.nodes.error.as_deref(), Some("the store is gone"));
}

#[test]
fn cordon_asks_first_and_uncordon_does_not() {
    let mut app = on_nodes(true, false);
    // edge-pi-1 is not cordoned: c asks, with the focus on cancel.
    let fx = app.update(ch('c'));
    assert!(executed(&fx).is_empty(), "{fx:?}");
    let Overlay::Dialog(d) = &app.overlay else {
        panic!("no dialog: {:?}", app.overlay)
    };
    assert_eq!(d.kind, DialogKind::NodeCordon);
    assert_eq!(d.name, "edge-pi-1");
    assert_eq!(d.focus, DialogFocus::Cancel);
    // Enter on cancel closes without a request.
    let fx = app.update(enter());
    assert!(executed(&fx).is_empty());
    assert!(matches!(app.overlay, Overlay::None));
    // Again, confirm this time.
    let _ = app.update(ch('c'));
    let _ = app.update(press(KeyCode::Tab));
    let fx = app.update(enter());
    assert_eq!(
        executed(&fx),
        vec![Request::NodeCordon {
            name: "edge-pi-1".into(),
            cordoned: true,
            dry_run: false
        }]
    );
    // jetson-1 is cordoned: c uncordons at once.
    let _ = app.update(ch('j'));
    assert_eq!(
        app.selected_node().map(|v| v.node.node_name.as_str()),
        Some("jetson-1")
    );
    let fx = app.update(ch('c'));
    assert_eq!(
        executed(&fx),
        vec![Request::NodeCordon {
            name: "jetson-1".into(),
            cordoned: false,
            dry_run: false
        }]
    );
    assert!(matches!(app.overlay, Overlay::None));
}

#[test]
fn fail_asks_first_and_recover_does_not() {
    let mut app = on_nodes(true, false);
    let fx = app.update(ch('F'));
    assert!(executed(&fx).is_empty());
    let Overlay::Dialog(d) = &app.overlay else {
        panic!("no dialog")
    };
    assert_eq!(d.kind, DialogKind::NodeFail);
    assert_eq!(d.focus, DialogFocus::Cancel);
    // esc cancels.
    let fx = app.update(press(KeyCode::Esc));
    assert!(executed(&fx).is_empty());
    assert!(matches!(app.overlay, Overlay::None));
    let _ = app.update(ch('F'));
    let _ = app.update(press(KeyCode::Right));
    let fx = app.update(enter());
    assert_eq!(
        executed(&fx),
        vec![Request::NodeFail {
            name: "edge-pi-1".into()
        }]
    );
    // The result reloads the visible tab: re-placement shows at once.
    let fx = app.update(Event::OpFinished {
        action: "node.fail",
        result: Ok(outcome("node.fail", "node edge-pi-1 failed", Some(plan()))),
    });
    assert!(fx.contains(&Effect::LoadNodes), "{fx:?}");
    assert!(!fx.contains(&Effect::LoadApps), "{fx:?}");
    let (ok, text) = last_text(&app);
    assert!(ok && text.starts_with("node edge-pi-1 failed; "), "{text}");

    let fx = app.update(ch('G'));
    assert!(executed(&fx).is_empty());
    let fx = app.update(ch('R'));
    assert_eq!(
        executed(&fx),
        vec![Request::NodeRecover {
            name: "edge-pi-2".into()
        }]
    );
}

#[test]
fn failing_a_node_is_refused_on_a_real_cluster_and_read_only() {
    let mut app = on_nodes(false, false);
    let fx = app.update(ch('F'));
    assert!(executed(&fx).is_empty());
    assert!(matches!(app.overlay, Overlay::None));
    let (ok, text) = last_text(&app);
    assert!(!ok && text.contains("only the simulated cluster"), "{text}");

    let mut app = on_nodes(true, true);
    for c in ['c', 'F', 'R'] {
        let fx = app.update(ch(c));
        assert!(executed(&fx).is_empty(), "{c}: {fx:?}");
        assert!(matches!(app.overlay, Overlay::None), "{c}");
        let (ok, text) = last_text(&app);
        assert!(!ok && text.contains("read-only"), "{c}: {text}");
    }
}

#[test]
fn the_nodes_tab_filters_and_shows_yaml() {
    let mut app = on_nodes(true, false);
    let _ = app.update(ch('/'));
    let _ = typed(&mut app, "ensemble");
    assert_eq!(app.nodes_list.rows.len(), 1, "matches placed services");
    let _ = app.update(enter());
    let _ = app.update(press(KeyCode::Esc));
    assert_eq!(app.nodes_list.rows.len(), 3);
    let _ = app.update(ch('y'));
    let View::Text { title, lines, .. } = &app.view else {
        panic!("no yaml view: {:?}", app.view)
    };
    assert!(title.contains("edge-pi-1"), "{title}");
    assert!(lines.iter().any(|l| l.contains("node_name: edge-pi-1")));
}

// ---- Deployments ------------------------------------------------------------------------

#[test]
fn plus_and_minus_scale_by_one_through_the_scale_request() {
    let mut app = on_deployments(false);
    let fx = app.update(ch('+'));
    assert_eq!(
        executed(&fx),
        vec![Request::Scale {
            app: "cctvs".into(),
            service: "image_ingestion".into(),
            replicas: 4,
            force: false,
            dry_run: false
        }]
    );
    let fx = app.update(ch('-'));
    assert_eq!(
        executed(&fx),
        vec![Request::Scale {
            app: "cctvs".into(),
            service: "image_ingestion".into(),
            replicas: 2,
            force: false,
            dry_run: false
        }]
    );
    // ensemble is at 0: - says so and sends nothing.
    let _ = app.update(ch('j'));
    let fx = app.update(ch('-'));
    assert!(executed(&fx).is_empty(), "{fx:?}");
    let (ok, text) = last_text(&app);
    assert!(!ok && text.contains("cannot go lower"), "{text}");
}

#[test]
fn scaling_beyond_capacity_shows_the_refusal() {
    let mut app = on_deployments(false);
    let _ = app.update(ch('+'));
    let fx = app.update(Event::OpFinished {
        action: "scale",
        result: Err(
            "1 of the requested replicas fit on no node: no node has 400 millicpu free".into(),
        ),
    });
    assert!(
        !fx.contains(&Effect::LoadDeployments),
        "nothing changed: {fx:?}"
    );
    let (ok, text) = last_text(&app);
    assert!(!ok, "{text}");
    assert!(
        text.starts_with("scale failed: 1 of the requested replicas fit on no node"),
        "{text}"
    );
    assert_eq!(app.busy, 0);
    // A success reloads the tab and says what changed.
    let _ = app.update(ch('+'));
    let cycle = CycleReport {
        change: Some("cctvs/image_ingestion: replicas 3 -> 4".into()),
        ..CycleReport::default()
    };
    let fx = app.update(Event::OpFinished {
        action: "scale",
        result: Ok(outcome("scale", "", Some(cycle))),
    });
    assert!(fx.contains(&Effect::LoadDeployments), "{fx:?}");
    let (ok, text) = last_text(&app);
    assert!(
        ok && text.starts_with("cctvs/image_ingestion: replicas 3 -> 4; "),
        "{text}"
    );
}

#[test]
fn the_replica_form_is_prefilled_validated_and_cancellable() {
    let mut app = on_deployments(false);
    let _ = app.update(ch('s'));
    let Overlay::Form(f) = &app.overlay else {
        panic!("no form: {:?}", app.overlay)
    };
    assert_eq!(
        f.kind,
        FormKind::Replicas {
            app: "cctvs".into(),
            service: "image_ingestion".into()
        }
    );
    assert_eq!(f.fields[0].value(), "3");
    // Not a number: an inline error, and Enter sends nothing.
    let _ = app.update(press(KeyCode::Backspace));
    let _ = typed(&mut app, "x");
    let Overlay::Form(f) = &app.overlay else {
        panic!("form closed")
    };
    assert!(
        f.fields[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("not a number")),
        "{:?}",
        f.fields[0].error
    );
    let fx = app.update(enter());
    assert!(executed(&fx).is_empty(), "{fx:?}");
    assert!(matches!(app.overlay, Overlay::Form(_)));
    // Negative numbers are not replica counts either.
    let _ = app.update(press(KeyCode::Backspace));
    let _ = typed(&mut app, "-2");
    let fx = app.update(enter());
    assert!(executed(&fx).is_empty(), "{fx:?}");
    // esc cancels.
    let fx = app.update(press(KeyCode::Esc));
    assert!(executed(&fx).is_empty());
    assert!(matches!(app.overlay, Overlay::None));

    // A valid count is sent on Enter; a refusal keeps the form open with the reason.
    let _ = app.update(ch('s'));
    let _ = app.update(press(KeyCode::Backspace));
    let _ = typed(&mut app, "12");
    let fx = app.update(enter());
    assert_eq!(
        executed(&fx),
        vec![Request::Scale {
            app: "cctvs".into(),
            service: "image_ingestion".into(),
            replicas: 12,
            force: false,
            dry_run: false
        }]
    );
    let _ = app.update(Event::OpFinished {
        action: "scale",
        result: Err("4 of the requested replicas fit on no node".into()),
    });
    let Overlay::Form(f) = &app.overlay else {
        panic!("the form closed on a refusal")
    };
    assert!(
        f.error
            .as_deref()
            .is_some_and(|e| e.contains("fit on no node"))
    );
    let _ = app.update(press(KeyCode::Esc));
    // Success closes it.
    let _ = app.update(ch('s'));
    let _ = app.update(enter());
    let _ = app.update(Event::OpFinished {
        action: "scale",
        result: Ok(outcome("scale", "", Some(CycleReport::default()))),
    });
    assert!(matches!(app.overlay, Overlay::None));
}

#[test]
fn p_previews_the_plan_and_a_applies_it_after_confirmation() {
    let mut app = on_deployments(false);
    let fx = app.update(ch('p'));
    assert_eq!(fx, vec![Effect::LoadPlan(PlanPurpose::Preview)]);
    assert!(app.plan_in_flight.is_some());
    let _ = app.update(Event::PlanLoaded {
        purpose: PlanPurpose::Preview,
        result: Ok(Box::new(plan())),
    });
    let View::Text { title, lines, .. } = &app.view else {
        panic!("no plan view: {:?}", app.view)
    };
    assert!(title.contains("plan"), "{title}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("+ start cctvs/image_ingestion on edge-pi-2")
                && l.contains("max-headroom")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("- stop  cctvs/yolov8 on edge-pi-1")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("would do: 1 start(s), 1 stop(s)"))
    );
    let _ = app.update(press(KeyCode::Esc));
    assert_eq!(app.view, View::Table);

    // A: the plan first, then a confirmation showing it; cancel is focused.
    let fx = app.update(ch('A'));
    assert_eq!(fx, vec![Effect::LoadPlan(PlanPurpose::Apply)]);
    assert!(executed(&fx).is_empty());
    let _ = app.update(Event::PlanLoaded {
        purpose: PlanPurpose::Apply,
        result: Ok(Box::new(plan())),
    });
    let Overlay::Dialog(d) = &app.overlay else {
        panic!("no confirmation: {:?}", app.overlay)
    };
    let DialogKind::Apply { summary, lines } = &d.kind else {
        panic!("{:?}", d.kind)
    };
    assert!(summary.contains("1 start(s)"), "{summary}");
    assert!(lines.iter().any(|l| l.contains("edge-pi-2")));
    assert_eq!(d.focus, DialogFocus::Cancel);
    let fx = app.update(enter());
    assert!(executed(&fx).is_empty(), "cancel sends nothing");
    let _ = app.update(ch('A'));
    let _ = app.update(Event::PlanLoaded {
        purpose: PlanPurpose::Apply,
        result: Ok(Box::new(plan())),
    });
    let _ = app.update(press(KeyCode::Tab));
    let fx = app.update(enter());
    assert_eq!(executed(&fx), vec![Request::Apply { dry_run: false }]);

    // A failing plan is reported, never a panic.
    let _ = app.update(ch('p'));
    let _ = app.update(Event::PlanLoaded {
        purpose: PlanPurpose::Preview,
        result: Err("cannot read the cluster's nodes".into()),
    });
    let (ok, text) = last_text(&app);
    assert!(!ok && text.contains("plan failed"), "{text}");
    assert!(app.plan_in_flight.is_none());
}

#[test]
fn deployments_keys_are_refused_read_only_but_the_plan_shows() {
    let mut app = on_deployments(true);
    for c in ['+', '-', 's', 'A'] {
        let fx = app.update(ch(c));
        assert!(executed(&fx).is_empty(), "{c}: {fx:?}");
        assert!(!fx.contains(&Effect::LoadPlan(PlanPurpose::Apply)), "{c}");
        assert!(matches!(app.overlay, Overlay::None), "{c}");
        let (ok, text) = last_text(&app);
        assert!(!ok && text.contains("read-only"), "{c}: {text}");
    }
    let fx = app.update(ch('p'));
    assert_eq!(fx, vec![Effect::LoadPlan(PlanPurpose::Preview)]);
}

#[test]
fn the_deployments_tab_refreshes_while_visible() {
    let mut app = on_deployments(false);
    let t = app.now + Duration::from_secs(3);
    let fx = app.update(Event::Tick(t));
    assert!(fx.contains(&Effect::LoadDeployments), "{fx:?}");
    // On another tab it is not polled.
    let _ = app.update(Event::DeploymentsLoaded(Ok(deployment_rows())));
    let _ = app.update(ch('1'));
    let fx = app.update(Event::Tick(t + Duration::from_secs(10)));
    assert!(!fx.contains(&Effect::LoadDeployments), "{fx:?}");
}

// ---- the command line -------------------------------------------------------------------

fn command(app: &mut App, line: &str) -> Vec<Effect> {
    let mut fx = app.update(ch(':'));
    fx.extend(typed(app, line));
    fx.extend(app.update(enter()));
    fx
}

#[test]
fn node_commands_make_the_cli_requests() {
    let mut app = on_nodes(true, false);
    let fx = command(&mut app, "node cordon jetson-1");
    assert_eq!(
        executed(&fx),
        vec![Request::NodeCordon {
            name: "jetson-1".into(),
            cordoned: true,
            dry_run: false
        }]
    );
    let fx = command(&mut app, "node uncordon jetson-1");
    assert_eq!(
        executed(&fx),
        vec![Request::NodeCordon {
            name: "jetson-1".into(),
            cordoned: false,
            dry_run: false
        }]
    );
    let fx = command(&mut app, "node recover edge-pi-2");
    assert_eq!(
        executed(&fx),
        vec![Request::NodeRecover {
            name: "edge-pi-2".into()
        }]
    );
    // fail asks first, like F.
    let fx = command(&mut app, "node fail edge-pi-1");
    assert!(executed(&fx).is_empty());
    let Overlay::Dialog(d) = &app.overlay else {
        panic!("no dialog: {:?}", app.overlay)
    };
    assert_eq!(
        (d.kind.clone(), d.name.as_str()),
        (DialogKind::NodeFail, "edge-pi-1")
    );
}

#[test]
fn plan_apply_and_scale_commands() {
    let mut app = on_nodes(true, false);
    let fx = command(&mut app, "plan");
    assert_eq!(app.tab, Tab::Deployments);
    assert!(
        fx.contains(&Effect::LoadPlan(PlanPurpose::Preview)),
        "{fx:?}"
    );
    let _ = app.update(Event::PlanLoaded {
        purpose: PlanPurpose::Preview,
        result: Ok(Box::new(plan())),
    });
    let _ = app.update(press(KeyCode::Esc));
    let fx = command(&mut app, "apply");
    assert!(fx.contains(&Effect::LoadPlan(PlanPurpose::Apply)), "{fx:?}");
    assert!(executed(&fx).is_empty(), "apply confirms first");
    let _ = app.update(Event::PlanLoaded {
        purpose: PlanPurpose::Apply,
        result: Ok(Box::new(plan())),
    });
    assert!(matches!(app.overlay, Overlay::Dialog(_)));
    let _ = app.update(press(KeyCode::Esc));

    let fx = command(&mut app, "scale cctvs yolov8 3");
    assert_eq!(
        executed(&fx),
        vec![Request::Scale {
            app: "cctvs".into(),
            service: "yolov8".into(),
            replicas: 3,
            force: false,
            dry_run: false
        }]
    );
    // A replica count that is not a number stays in the prompt with the error.
    let fx = command(&mut app, "scale cctvs yolov8 three");
    assert!(executed(&fx).is_empty());
    let Overlay::Command(p) = &app.overlay else {
        panic!("the prompt closed: {:?}", app.overlay)
    };
    assert!(
        p.error.as_deref().is_some_and(|e| e.contains("three")),
        "{:?}",
        p.error
    );
}

// ---- keys and help ----------------------------------------------------------------------

#[test]
fn the_tab_keys_take_over_row_keys_only_on_their_tab() {
    use crate::tui::keymap::{Action, Key, Layer};
    let km = crate::tui::keymap::Keymap::defaults();
    let key = |s: &str| Key::parse(s).unwrap();
    assert_eq!(
        km.screen_action(Some(Layer::Nodes), key("c")),
        Some(Action::NodeCordon)
    );
    assert_eq!(
        km.screen_action(Some(Layer::Applications), key("c")),
        Some(Action::CopyId)
    );
    assert_eq!(
        km.screen_action(Some(Layer::Deployments), key("s")),
        Some(Action::ScaleSet)
    );
    assert_eq!(
        km.screen_action(Some(Layer::Agents), key("s")),
        Some(Action::AgentStart)
    );
    assert_eq!(
        km.screen_action(Some(Layer::Deployments), key("+")),
        Some(Action::ScaleUp)
    );
    assert_eq!(km.screen_action(Some(Layer::Nodes), key("+")), None);
    // Navigation keys stay out of reach of the tabs.
    let text = "actions:\n  - name: node_fail\n    keys: [j]\n";
    let msg = crate::tui::keymap::Keymap::with_overrides(text, "k.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("move_down") && msg.contains("node_fail"),
        "{msg}"
    );
}

#[test]
fn help_lists_the_new_keys_and_commands() {
    let app = new_app(false);
    let lines: Vec<String> = crate::tui::ui::help_lines(&app, &crate::tui::theme::Theme::colored())
        .iter()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
        .collect();
    let text = lines.join("\n");
    for want in [
        "Nodes tab",
        "Deployments tab",
        "Cordon the selected node",
        "fail the selected node",
        "One more replica",
        "Set the selected service's replicas",
        "Plan: what a reconciliation would start",
        "Apply: reconcile",
        ":node cordon|uncordon NAME",
        ":scale APP SERVICE N",
    ] {
        assert!(text.contains(want), "help lacks {want:?}:\n{text}");
    }
    for (key, desc) in [
        ("c ", "Cordon"),
        ("F ", "fail the selected node"),
        ("R ", "ready again"),
        ("+ ", "One more"),
        ("- ", "One replica fewer"),
        ("s ", "Set the selected"),
        ("p ", "Plan:"),
        ("A ", "Apply:"),
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.trim_start().starts_with(key) && l.contains(desc)),
            "no help line for {key:?} {desc:?}"
        );
    }
}

// ---- drawing ----------------------------------------------------------------------------

#[test]
fn nodes_tab_draws_names_bars_status_and_cordon() {
    for (w, h) in [(80, 24), (200, 50)] {
        let mut app = on_nodes(true, false);
        let s = super::render::screen(&mut app, w, h);
        assert!(s.contains("Nodes [3/3]"), "{s}");
        for name in ["edge-pi-1", "jetson-1", "edge-pi-2"] {
            assert!(s.contains(name), "{name} missing:\n{s}");
        }
        assert!(s.contains("█"), "no bars:\n{s}");
        assert!(s.contains("1200/4000"), "cpu used/capacity:\n{s}");
        assert!(s.contains("Failed"), "{s}");
        assert!(s.contains("Ready"), "{s}");
        // The cordoned flag on the cordoned node's row, and only there.
        let row = |name: &str| {
            s.lines()
                .find(|l| l.contains(name))
                .map(|l| l.split("│").nth(1).unwrap_or(l).to_string())
                .unwrap_or_default()
        };
        assert!(row("jetson-1").contains(" yes "), "{s}");
        assert!(!row("edge-pi-2").contains(" yes "), "{s}");
        if w >= 160 {
            assert!(s.contains("CORDON") && s.contains("yes"), "{s}");
            assert!(s.contains("1024/4096"), "memory:\n{s}");
            assert!(s.contains("image_ingestion×2"), "{s}");
            assert!(s.contains("GPU0 30/100%"), "{s}");
            // The detail pane beside the table.
            assert!(s.contains("node edge-pi-1") && s.contains("core 0"), "{s}");
        }
    }
    // The cordoned flag also shows at 80 columns in the detail view.
    let mut app = on_nodes(true, false);
    let _ = app.update(ch('j'));
    let _ = app.update(enter());
    let s = super::render::screen(&mut app, 80, 24);
    assert!(
        s.contains("cordoned") && s.contains("yes: takes no new"),
        "{s}"
    );
    assert!(s.contains("GPU0"), "{s}");
}

#[test]
fn deployments_tab_draws_desired_running_placement_and_pods() {
    for (w, h) in [(80, 24), (200, 50)] {
        let mut app = on_deployments(false);
        let s = super::render::screen(&mut app, w, h);
        assert!(s.contains("Deployments [3/3]"), "{s}");
        assert!(s.contains("DESIRED") && s.contains("RUNNING"), "{s}");
        assert!(s.contains("image_ingestion"), "{s}");
        assert!(s.contains("edge-pi-1×2 jetson-1×1"), "placement:\n{s}");
        let row = s
            .lines()
            .find(|l| l.contains("yolov8"))
            .expect("the yolov8 row");
        let words: Vec<&str> = row
            .split(|c: char| c.is_whitespace() || c == '│')
            .filter(|w| !w.is_empty())
            .collect();
        assert_eq!(&words[..4], ["cctvs", "yolov8", "2", "1"], "{row}");
        if w >= 160 {
            assert!(s.contains("2 Running 1 Pending"), "{s}");
            assert!(s.contains("1 NodeLost"), "{s}");
        }
    }
}

#[test]
fn cluster_dialogs_and_the_replica_form_draw() {
    let mut app = on_nodes(true, false);
    let _ = app.update(ch('F'));
    let s = super::render::screen(&mut app, 80, 24);
    assert!(s.contains("Fail node edge-pi-1"), "{s}");
    assert!(s.contains("3 instance(s) stop"), "{s}");
    assert!(s.contains("[ Cancel ]"), "{s}");

    let mut app = on_deployments(false);
    let _ = app.update(ch('A'));
    let _ = app.update(Event::PlanLoaded {
        purpose: PlanPurpose::Apply,
        result: Ok(Box::new(plan())),
    });
    let s = super::render::screen(&mut app, 80, 24);
    assert!(s.contains("Apply this plan"), "{s}");
    assert!(s.contains("+ start cctvs/image_ingestion"), "{s}");
    assert!(s.contains("would do: 1 start(s)"), "{s}");

    let mut app = on_deployments(false);
    let _ = app.update(ch('s'));
    let _ = app.update(press(KeyCode::Backspace));
    let _ = typed(&mut app, "x");
    let s = super::render::screen(&mut app, 80, 24);
    assert!(s.contains("Scale cctvs/image_ingestion"), "{s}");
    assert!(s.contains("not a number"), "{s}");
}

#[test]
fn empty_cluster_tabs_say_how_to_fill_them() {
    let mut app = new_app(false);
    let _ = app.start();
    let _ = app.update(ch('3'));
    let _ = app.update(Event::NodesLoaded(Ok(NodesData {
        simulated: true,
        nodes: Vec::new(),
    })));
    let s = super::render::screen(&mut app, 80, 24);
    assert!(s.contains("No nodes in the inventory."), "{s}");
    assert!(
        s.contains("rohe node add -f example/nodes/edge-lab.yaml"),
        "{s}"
    );
    let _ = app.update(ch('4'));
    let _ = app.update(Event::DeploymentsLoaded(Ok(Vec::new())));
    let s = super::render::screen(&mut app, 80, 24);
    assert!(s.contains("No services to deploy."), "{s}");
}
