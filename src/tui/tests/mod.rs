//! Tests of the console without a terminal: key sequences through the reducer (state and the
//! exact `ops::Request`s), and drawing into ratatui's `TestBackend`.

mod cluster;
mod reducer;
mod render;

use super::app::{App, StatusInfo};
use super::event::Event;
use super::keymap::Keymap;
use crate::agent::AgentHealth;
use crate::domain::app::{
    AppSummary, Application, ApplicationSpec, MicroserviceSpec, StageSpec, apply_registration,
};
use crate::domain::report::Category;
use crate::ops::AgentStatus;
use crate::ops::metrics::SeriesRow;
use crate::ports::AgentState;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::time::Duration;

pub fn info() -> StatusInfo {
    StatusInfo {
        store_backend: "embedded".into(),
        store_location: "/tmp/rohe-test/rohe.db".into(),
        config_file: None,
    }
}

pub fn new_app(readonly: bool) -> App {
    App::new(Keymap::defaults(), readonly, Duration::from_secs(2), info())
}

pub fn spec(name: &str, run: &str, user: &str) -> ApplicationSpec {
    ApplicationSpec {
        application_name: name.into(),
        run_id: run.into(),
        user_id: user.into(),
        description: None,
        stages: vec![
            StageSpec {
                name: "ingestion".into(),
                description: None,
                microservices: vec![MicroserviceSpec {
                    name: "image_ingestion".into(),
                    functionality: "REST".into(),
                    role: "ml".into(),
                    tags: Default::default(),
                }],
            },
            StageSpec {
                name: "inference".into(),
                description: None,
                microservices: vec![MicroserviceSpec {
                    name: "yolov8".into(),
                    functionality: "TensorFlow".into(),
                    role: "ml".into(),
                    tags: [("modelName".to_string(), "yolov8n".to_string())].into(),
                }],
            },
        ],
    }
}

pub fn application(name: &str) -> Application {
    apply_registration(
        &spec(name, "exp1", "u1"),
        None,
        uuid::Uuid::new_v4(),
        chrono::Utc::now(),
    )
}

/// `n` applications named app000, app001, ...
pub fn applications(n: usize) -> Vec<Application> {
    (0..n).map(|i| application(&format!("app{i:03}"))).collect()
}

/// The list row of an application, decoded from its stored form as the store does.
pub fn summary(a: &Application) -> AppSummary {
    serde_json::from_value(serde_json::to_value(a).unwrap()).unwrap()
}

pub fn summaries(apps: &[Application]) -> Vec<AppSummary> {
    apps.iter().map(summary).collect()
}

/// What `Ops::show_app` returns for a freshly registered application.
pub fn detail(a: &Application) -> Box<crate::ops::AppDetail> {
    Box::new(crate::ops::AppDetail {
        application: a.clone(),
        history: vec![crate::domain::app::RegistrationEvent {
            at: a.registered_at,
            action: crate::domain::app::RegistrationAction::Registered,
            client_count: 1,
            run_id: a.run_id.clone(),
            user_id: a.user_id.clone(),
            actor: "alice@head".into(),
        }],
        agent: None,
        stored_reports: 0,
        registry: None,
    })
}

/// An app that has loaded `apps` into the Applications tab.
pub fn loaded(apps: Vec<Application>, readonly: bool) -> App {
    let mut app = new_app(readonly);
    let _ = app.start();
    let _ = app.update(Event::AppsLoaded(Ok(summaries(&apps))));
    app
}

/// An agent as `Ops::agent_status` reports it, with a health report when running.
pub fn agent_status(name: &str, state: AgentState) -> AgentStatus {
    let running = state == AgentState::Running;
    AgentStatus {
        application_name: name.into(),
        desired: state,
        state,
        reason: None,
        runtime: "inprocess".into(),
        handle: if running {
            "inprocess:4242".into()
        } else {
            String::new()
        },
        updated_at: chrono::Utc::now(),
        health: running.then(|| AgentHealth {
            started_at: Some(chrono::Utc::now() - chrono::Duration::minutes(3)),
            updated_at: Some(chrono::Utc::now()),
            queue: format!("rohe.{name}.agent"),
            connected: true,
            received: 1830,
            batches: 200,
            stored: 1826,
            duplicates: 4,
            dead_lettered: 2,
            rate_per_s: 9.8,
            queue_depth: Some(3),
            last_report_at: Some(chrono::Utc::now() - chrono::Duration::seconds(1)),
            windows: 182,
            anomalies: 57,
            violations: 5,
            analyses_skipped: 0,
            window_rows: 100,
            errors: 1,
            last_error: Some("store busy; retried".into()),
        }),
    }
}

/// An agent that should run and whose task (or process) is gone.
pub fn failed_agent(name: &str) -> AgentStatus {
    AgentStatus {
        desired: AgentState::Running,
        state: AgentState::Failed,
        reason: Some("inprocess inprocess:999999 is gone".into()),
        handle: "inprocess:999999".into(),
        ..agent_status(name, AgentState::Stopped)
    }
}

fn series(
    category: Category,
    stage: Option<&str>,
    instance: Option<&str>,
    metric: &str,
    count: usize,
    p: [f64; 4],
) -> SeriesRow {
    SeriesRow {
        category,
        stage: stage.map(String::from),
        instance: instance.map(String::from),
        metric: metric.into(),
        count,
        mean: Some(p[0] * 0.95),
        min: Some(p[0] * 0.5),
        max: Some(p[3]),
        p50: Some(p[0]),
        p95: Some(p[1]),
        p99: Some(p[2]),
    }
}

/// A Metrics tab summary of `name` over the last five minutes: per-stage and per-instance
/// latencies, end-to-end latency, confidence, accuracy, 60 buckets, anomalies, and one
/// broken contract on the end-to-end p95.
pub fn metrics_view(name: &str, reports: usize) -> crate::ops::metrics::MetricsView {
    use crate::domain::analysis::Bound;
    use crate::domain::stream::Stat;
    use crate::ops::metrics::{AnomalyRow, Bucket, MetricsView, ViolationRow};
    let now = chrono::Utc::now();
    let from = now - chrono::Duration::minutes(5);
    let iid = "2a54d976-8730-5e81-9fb8-2f8b17988e3b";
    let buckets = (0..60)
        .map(|i| Bucket {
            start: from + chrono::Duration::seconds(5 * i),
            reports: if reports == 0 {
                0
            } else {
                40 + (i as usize % 7)
            },
            e2e_p95: (reports > 0).then(|| 0.5 + 0.3 * ((i as f64) / 6.0).sin().abs()),
            confidence_mean: (reports > 0).then_some(0.83),
        })
        .collect();
    let series = if reports == 0 {
        Vec::new()
    } else {
        vec![
            series(
                Category::Service,
                Some("ingestion"),
                None,
                "response_time",
                reports,
                [0.080, 0.142, 0.159, 0.169],
            ),
            series(
                Category::Service,
                Some("ingestion"),
                Some(iid),
                "response_time",
                reports,
                [0.080, 0.142, 0.159, 0.169],
            ),
            series(
                Category::Service,
                Some("inference"),
                None,
                "response_time",
                reports * 2,
                [0.253, 0.506, 0.591, 0.686],
            ),
            series(
                Category::Service,
                None,
                None,
                "e2e_latency",
                reports,
                [0.525, 0.825, 0.931, 1.969],
            ),
            series(
                Category::Inference,
                None,
                None,
                "confidence",
                reports,
                [0.852, 0.928, 0.939, 0.946],
            ),
            series(
                Category::Inference,
                None,
                None,
                "accuracy",
                reports,
                [1.0, 1.0, 1.0, 1.0],
            ),
        ]
    };
    MetricsView {
        application_name: name.into(),
        from: Some(from),
        to: Some(now),
        reports,
        truncated: false,
        undecodable: 0,
        throughput_per_s: (reports > 1).then_some(9.9),
        series,
        buckets,
        windows: reports / 10,
        anomalies: (0..if reports == 0 { 0 } else { 3 })
            .map(|i| AnomalyRow {
                at: now - chrono::Duration::seconds(10 * i),
                window_id: format!("w{i}"),
                group: "latency_e2e".into(),
                ts: None,
                score: 2.5,
                values: Default::default(),
            })
            .collect(),
        violations: if reports == 0 {
            Vec::new()
        } else {
            vec![ViolationRow {
                at: now - chrono::Duration::seconds(4),
                window_id: "w181".into(),
                column: "latency_e2e".into(),
                stat: Stat::P95,
                value: 0.825,
                limit: 0.5,
                kind: Bound::Max,
            }]
        },
    }
}

pub fn press(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ch(c: char) -> Event {
    let mods = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    Event::Key(KeyEvent::new(KeyCode::Char(c), mods))
}

pub fn ctrl(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

/// Type `s` and return every effect produced.
pub fn typed(app: &mut App, s: &str) -> Vec<super::event::Effect> {
    s.chars().flat_map(|c| app.update(ch(c))).collect()
}
