//! Tests of the console without a terminal: key sequences through the reducer (state and the
//! exact `ops::Request`s), and drawing into ratatui's `TestBackend`.

mod reducer;
mod render;

use super::app::{App, StatusInfo};
use super::event::Event;
use super::keymap::Keymap;
use crate::domain::app::{
    AppSummary, Application, ApplicationSpec, MicroserviceSpec, StageSpec, apply_registration,
};
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
    })
}

/// An app that has loaded `apps` into the Applications tab.
pub fn loaded(apps: Vec<Application>, readonly: bool) -> App {
    let mut app = new_app(readonly);
    let _ = app.start();
    let _ = app.update(Event::AppsLoaded(Ok(summaries(&apps))));
    app
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
