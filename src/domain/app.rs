//! Applications: the description a user writes, the registration rohe stores, and the
//! derivations ROHE defines (database, collection, exchange, routing keys). Pure: no I/O.

use crate::domain::names::{LABEL_VALUE_MAX, validate_app_name, validate_id, validate_name};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::{BTreeMap, HashSet};
use uuid::Uuid;

/// What a user writes in `example/applications/*.yaml`. Legacy ROHE spellings
/// (`appName`, `runID`, `userID`, `method`) are accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationSpec {
    #[serde(alias = "appName")]
    pub application_name: String,
    #[serde(alias = "runID")]
    pub run_id: String,
    #[serde(alias = "userID")]
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub stages: Vec<StageSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub microservices: Vec<MicroserviceSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MicroserviceSpec {
    pub name: String,
    /// What the instance does (`REST`, `TensorFlow`, `Transformation`); QoA4ML's `functionality`,
    /// ROHE 2023's `method`.
    #[serde(default, alias = "method")]
    pub functionality: String,
    /// `ml`, `client`, `mlprovider`, `customer`, ...
    #[serde(default)]
    pub role: String,
    /// Registry tags, e.g. `modelName: yolov8n`, `paramsName: "0"`. Scalars are read as text.
    #[serde(default, deserialize_with = "scalar_map")]
    pub tags: BTreeMap<String, String>,
}

/// Accept `paramsName: 0` as the text "0": tag values are labels, not numbers.
fn scalar_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        S(String),
        I(i64),
        F(f64),
        B(bool),
    }
    let raw: BTreeMap<String, Scalar> = BTreeMap::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Scalar::S(s) => s,
                Scalar::I(i) => i.to_string(),
                Scalar::F(f) => f.to_string(),
                Scalar::B(b) => b.to_string(),
            };
            (k, v)
        })
        .collect())
}

impl ApplicationSpec {
    /// Every rule a description must satisfy, each error naming its field path.
    pub fn validate(&self) -> Result<()> {
        validate_app_name("application_name", &self.application_name)?;
        validate_id("run_id", &self.run_id)?;
        validate_id("user_id", &self.user_id)?;
        let mut stage_names = HashSet::new();
        for (i, stage) in self.stages.iter().enumerate() {
            let at = format!("stages[{i}]");
            validate_name("name", &stage.name, LABEL_VALUE_MAX).map_err(|e| e.in_field(&at))?;
            if !stage_names.insert(stage.name.as_str()) {
                return Err(
                    Error::invalid(format!("duplicate stage name {:?}", stage.name))
                        .field(format!("{at}.name"))
                        .hint("each stage of an application needs its own name"),
                );
            }
            let mut ms_names = HashSet::new();
            for (j, ms) in stage.microservices.iter().enumerate() {
                let at = format!("{at}.microservices[{j}]");
                validate_name("name", &ms.name, LABEL_VALUE_MAX).map_err(|e| e.in_field(&at))?;
                if !ms_names.insert(ms.name.as_str()) {
                    return Err(Error::invalid(format!(
                        "duplicate microservice name {:?} in stage {:?}",
                        ms.name, stage.name
                    ))
                    .field(format!("{at}.name"))
                    .hint("each microservice of a stage needs its own name"));
                }
                for (k, v) in [("functionality", &ms.functionality), ("role", &ms.role)] {
                    if v.chars().any(char::is_control) || v.len() > 256 {
                        return Err(
                            Error::invalid("must be printable text of at most 256 bytes")
                                .field(format!("{at}.{k}")),
                        );
                    }
                }
                for (k, v) in &ms.tags {
                    if k.is_empty()
                        || k.len() > 63
                        || v.len() > 256
                        || k.chars().chain(v.chars()).any(char::is_control)
                    {
                        return Err(Error::invalid(
                            "tag keys must be 1-63 printable characters and values at most 256",
                        )
                        .field(format!("{at}.tags.{}", k.escape_debug())));
                    }
                }
            }
        }
        if let Some(d) = &self.description
            && d.chars().any(|c| c.is_control() && c != '\n')
        {
            return Err(Error::invalid("must not contain control characters").field("description"));
        }
        Ok(())
    }
}

/// A registered application: the current view (latest state) of its registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Application {
    pub application_name: String,
    pub app_id: Uuid,
    pub run_id: String,
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// MongoDB database for metric reports: `application_<name>_<app_id>`.
    pub db: String,
    /// `metric_collection_<run_id>`.
    pub metric_collection: String,
    /// Topic exchange QoA4ML clients publish to: `<name>_exchange`.
    pub exchange: String,
    /// The agent's queue binding: `<name>.#`.
    pub binding_key: String,
    /// Number of client registrations so far (ROHE semantics: +1 per registration).
    pub client_count: u64,
    pub registered_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub name: String,
    pub stage_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub microservices: Vec<Microservice>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Microservice {
    pub name: String,
    pub microservice_id: Uuid,
    /// Default QoA4ML `instance_id`; replicas override it with `INSTANCE_ID`.
    pub instance_id: Uuid,
    pub functionality: String,
    pub role: String,
    pub tags: BTreeMap<String, String>,
    /// The client number in this microservice's routing key.
    pub client_number: u64,
    pub routing_key: String,
}

/// The columns of an application list, decoded from a stored document without allocating
/// its stages and microservices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppSummary {
    pub application_name: String,
    pub app_id: Uuid,
    pub run_id: String,
    pub user_id: String,
    pub client_count: u64,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing)]
    stages: Vec<StageCount>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
struct StageCount {
    #[serde(default)]
    microservices: Vec<serde::de::IgnoredAny>,
}

impl AppSummary {
    pub fn stage_count(&self) -> usize {
        self.stages.len()
    }
    pub fn microservice_count(&self) -> usize {
        self.stages.iter().map(|s| s.microservices.len()).sum()
    }
}

/// One entry of an application's registration history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistrationEvent {
    pub at: DateTime<Utc>,
    pub action: RegistrationAction,
    pub client_count: u64,
    pub run_id: String,
    pub user_id: String,
    pub actor: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationAction {
    Registered,
    Reregistered,
}

/// ROHE's routing-key formula, `<app>.<user>[.<stage>][.<instance>].client<N>`, with empty
/// segments skipped (ROHE would write `app.user..iid.clientN`; see rohe-spec §1.5 and G4).
pub fn routing_key(
    app: &str,
    user: &str,
    stage: Option<&str>,
    instance: Option<&str>,
    n: u64,
) -> String {
    let mut key = String::with_capacity(app.len() + user.len() + 90);
    for seg in [Some(app), Some(user), stage, instance]
        .into_iter()
        .flatten()
    {
        if !seg.is_empty() {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(seg);
        }
    }
    key.push_str(".client");
    key.push_str(&n.to_string());
    key
}

pub fn db_name(app: &str, app_id: &Uuid) -> String {
    format!("application_{app}_{app_id}")
}
pub fn metric_collection(run_id: &str) -> String {
    format!("metric_collection_{run_id}")
}
pub fn exchange_name(app: &str) -> String {
    format!("{app}_exchange")
}
pub fn binding_key(app: &str) -> String {
    format!("{app}.#")
}

/// Stage and microservice IDs are name-based UUIDs (v5) under the application's ID: stable
/// across re-registrations of the same name, unique across applications, and computable
/// without a lookup.
fn derived_id(app_id: &Uuid, kind: &str, path: &str) -> Uuid {
    Uuid::new_v5(app_id, format!("{kind}:{path}").as_bytes())
}

/// Compute the registration that results from registering `spec`, given the current state.
///
/// First registration: a new `app_id` (the caller supplies a UUIDv4) and client count 1.
/// Re-registration: the same `app_id`, client count + 1, and the new description's run, user
/// and stages. ROHE keeps the first run_id/user_id forever (rohe-spec §1.4, G3); rohe takes the
/// new ones so that a new run gets its own `metric_collection_<run_id>`; the history keeps the
/// old ones.
pub fn apply_registration(
    spec: &ApplicationSpec,
    current: Option<&Application>,
    new_app_id: Uuid,
    now: DateTime<Utc>,
) -> Application {
    let (app_id, registered_at, client_count) = match current {
        Some(c) => (c.app_id, c.registered_at, c.client_count + 1),
        None => (new_app_id, now, 1),
    };
    let name = &spec.application_name;
    let stages = spec
        .stages
        .iter()
        .map(|s| {
            let stage_id = derived_id(&app_id, "stage", &s.name);
            let stage_seg = stage_id.to_string();
            Stage {
                name: s.name.clone(),
                stage_id,
                description: s.description.clone(),
                microservices: s
                    .microservices
                    .iter()
                    .map(|m| {
                        let path = format!("{}/{}", s.name, m.name);
                        let instance_id = derived_id(&app_id, "instance", &path);
                        Microservice {
                            name: m.name.clone(),
                            microservice_id: derived_id(&app_id, "microservice", &path),
                            instance_id,
                            functionality: m.functionality.clone(),
                            role: m.role.clone(),
                            tags: m.tags.clone(),
                            client_number: client_count,
                            routing_key: routing_key(
                                name,
                                &spec.user_id,
                                Some(&stage_seg),
                                Some(&instance_id.to_string()),
                                client_count,
                            ),
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    Application {
        application_name: name.clone(),
        app_id,
        run_id: spec.run_id.clone(),
        user_id: spec.user_id.clone(),
        description: spec.description.clone(),
        db: db_name(name, &app_id),
        metric_collection: metric_collection(&spec.run_id),
        exchange: exchange_name(name),
        binding_key: binding_key(name),
        client_count,
        registered_at,
        updated_at: now,
        stages,
    }
}

impl Application {
    pub fn microservices(&self) -> impl Iterator<Item = (&Stage, &Microservice)> {
        self.stages
            .iter()
            .flat_map(|s| s.microservices.iter().map(move |m| (s, m)))
    }
    pub fn microservice_count(&self) -> usize {
        self.stages.iter().map(|s| s.microservices.len()).sum()
    }
    /// Routing key of the application-level client (an app registered without stages).
    pub fn app_routing_key(&self) -> String {
        routing_key(
            &self.application_name,
            &self.user_id,
            None,
            None,
            self.client_count,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, run: &str, user: &str) -> ApplicationSpec {
        ApplicationSpec {
            application_name: name.into(),
            run_id: run.into(),
            user_id: user.into(),
            description: None,
            stages: vec![StageSpec {
                name: "gateway".into(),
                description: None,
                microservices: vec![MicroserviceSpec {
                    name: "ingest".into(),
                    functionality: "REST".into(),
                    role: "ml".into(),
                    tags: BTreeMap::new(),
                }],
            }],
        }
    }

    #[test]
    fn routing_keys_follow_rohe_and_skip_empty_segments() {
        // G1, G2 (rohe-spec §8.3)
        assert_eq!(
            routing_key("cctvs", "u1", None, None, 1),
            "cctvs.u1.client1"
        );
        assert_eq!(
            routing_key("cctvs", "u1", Some("gateway"), Some("I"), 2),
            "cctvs.u1.gateway.I.client2"
        );
        // G4, canonical: the empty stage is skipped rather than producing `..`.
        assert_eq!(
            routing_key("cctvs", "u1", Some(""), Some("iid"), 3),
            "cctvs.u1.iid.client3"
        );
    }

    #[test]
    fn first_registration_derives_rohe_names() {
        let id = Uuid::new_v4();
        let now = Utc::now();
        let app = apply_registration(&spec("cctvs", "exp1", "u1"), None, id, now);
        assert_eq!(app.app_id, id);
        assert_eq!(app.db, format!("application_cctvs_{id}"));
        assert_eq!(app.metric_collection, "metric_collection_exp1");
        assert_eq!(app.exchange, "cctvs_exchange");
        assert_eq!(app.binding_key, "cctvs.#");
        assert_eq!(app.client_count, 1);
        let (stage, ms) = app.microservices().next().unwrap();
        assert_eq!(
            ms.routing_key,
            format!("cctvs.u1.{}.{}.client1", stage.stage_id, ms.instance_id)
        );
        assert_ne!(stage.stage_id, ms.microservice_id);
        assert_ne!(ms.microservice_id, ms.instance_id);
    }

    #[test]
    fn reregistration_keeps_ids_and_counts_clients() {
        let now = Utc::now();
        let first = apply_registration(&spec("cctvs", "exp1", "u1"), None, Uuid::new_v4(), now);
        let again = apply_registration(
            &spec("cctvs", "exp2", "u1"),
            Some(&first),
            Uuid::new_v4(),
            now,
        );
        assert_eq!(again.app_id, first.app_id);
        assert_eq!(again.client_count, 2);
        assert_eq!(again.registered_at, first.registered_at);
        assert_eq!(again.stages[0].stage_id, first.stages[0].stage_id);
        let (a, b) = (
            &first.stages[0].microservices[0],
            &again.stages[0].microservices[0],
        );
        assert_eq!(a.microservice_id, b.microservice_id);
        assert_eq!(a.instance_id, b.instance_id);
        assert!(b.routing_key.ends_with(".client2"));
        assert_eq!(again.metric_collection, "metric_collection_exp2");
    }

    #[test]
    fn ids_differ_between_applications() {
        let now = Utc::now();
        let a = apply_registration(&spec("a", "r", "u"), None, Uuid::new_v4(), now);
        let b = apply_registration(&spec("b", "r", "u"), None, Uuid::new_v4(), now);
        assert_ne!(a.stages[0].stage_id, b.stages[0].stage_id);
    }

    #[test]
    fn duplicate_names_are_rejected_with_their_path() {
        let mut s = spec("cctvs", "r", "u");
        s.stages.push(s.stages[0].clone());
        let e = s.validate().unwrap_err();
        assert_eq!(e.field.as_deref(), Some("stages[1].name"));
        let mut s = spec("cctvs", "r", "u");
        let ms = s.stages[0].microservices[0].clone();
        s.stages[0].microservices.push(ms);
        let e = s.validate().unwrap_err();
        assert_eq!(e.field.as_deref(), Some("stages[0].microservices[1].name"));
    }
}
