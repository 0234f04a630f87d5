//! ROHE's own service configuration files, translated into rohe's configuration (rohe-spec 6.2,
//! 6.3): `observationConfig.yaml` (and its 2023 `observationConfigLocal.yaml` shape) and
//! `orchestrationConfig.yaml` (the shipped keys, the keys ROHE's code validates, and the 2023
//! shape). Pure: the caller reads the file and decides where the result goes.
//!
//! Every top-level key ends up in exactly one of two lists: `mapped` (which rohe setting it
//! became, with the value) or `ignored` (and why). Secrets are never copied: a MongoDB password
//! becomes a `${ROHE_MONGODB_PASSWORD}` reference in `store.url`, expanded when rohe loads its
//! configuration.

use crate::domain::placement::{PlacementConfig, QueueConfig, Strategy, Weights};
use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The environment variable the imported `store.url` takes the MongoDB password from.
pub const PASSWORD_VAR: &str = "ROHE_MONGODB_PASSWORD";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoheConfigKind {
    Observation,
    Orchestration,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MappedKey {
    /// The ROHE key path, e.g. `collector.config.end_point`.
    pub from: String,
    /// The rohe setting, e.g. `bus.url`.
    pub to: String,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IgnoredKey {
    pub key: String,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigImport {
    pub kind: RoheConfigKind,
    pub mapped: Vec<MappedKey>,
    pub ignored: Vec<IgnoredKey>,
    /// The rohe configuration these settings make (only the keys that were mapped), in the
    /// shape of `config/rohe.yaml`.
    pub config: Value,
}

const OBSERVATION_KEYS: &[&str] = &["db_collection", "connector", "collector", "agent_image"];
const ORCHESTRATION_KEYS: &[&str] = &[
    "service_queue",
    "service_queue_config",
    "orchestrateConfig",
    "orchestrate_algorithm_config",
    "orchestration_interval",
    "db_node_collection",
    "db_service_collection",
];
const UNUSED_BY_ROHE: &str = "unused by ROHE's current code (it belonged to the 2023 contribution-estimation agent); rohe has no equivalent";

/// Which of ROHE's service configurations `doc` is, by its keys.
pub fn kind_of(doc: &Value) -> Option<RoheConfigKind> {
    let obj = doc.as_object()?;
    let has = |keys: &[&str]| keys.iter().any(|k| obj.contains_key(*k));
    let legacy_database = |k: &str| {
        obj.get("database")
            .and_then(Value::as_object)
            .is_some_and(|d| d.contains_key(k))
    };
    if has(ORCHESTRATION_KEYS) || legacy_database("node_collection") {
        Some(RoheConfigKind::Orchestration)
    } else if has(OBSERVATION_KEYS) || legacy_database("collection") {
        Some(RoheConfigKind::Observation)
    } else {
        None
    }
}

/// Translate one of ROHE's service configuration files (already parsed) into rohe settings.
pub fn import(doc: &Value, file: &str) -> Result<ConfigImport> {
    let Some(kind) = kind_of(doc) else {
        return Err(Error::invalid(
            "this is neither ROHE's observationConfig nor its orchestrationConfig",
        )
        .file(file)
        .hint("rohe import reads ROHE's observationConfig.yaml and orchestrationConfig.yaml; node and service files go to `rohe node add -f` and `rohe service add -f`, agent start files to `rohe agent config APP -f`"));
    };
    let obj = doc.as_object().cloned().unwrap_or_default();
    let mut out = Builder::new(kind, file);
    for (key, value) in &obj {
        match (kind, key.as_str()) {
            (_, "db_authentication") => out.db_authentication(value)?,
            (RoheConfigKind::Observation, "db_collection") => out.db_collection(value),
            (RoheConfigKind::Observation, "database") => out.legacy_observation_database(value),
            (RoheConfigKind::Observation, "connector") => out.connector(value),
            (RoheConfigKind::Observation, "collector") => out.collector(value),
            (RoheConfigKind::Observation, "agent_image") => out.ignore(
                key,
                "ROHE's agent image runs ROHE's Python agent; rohe's agents run from the image `rohe agent image build` makes (agent.docker.image)",
            ),
            (RoheConfigKind::Observation, "window") => out.ignore(
                key,
                "unused by ROHE's current code; rohe's window is part of each agent's stream config (`rohe agent config`)",
            ),
            (_, "logging_level") => out.ignore(key, "rohe's log level is log.level (error, warn, info, debug)"),
            (_, "false_rate" | "sample_rate" | "output_folder") => out.ignore(key, UNUSED_BY_ROHE),
            (RoheConfigKind::Orchestration, "timer" | "orchestration_interval") => {
                out.interval(key, value)?
            }
            (RoheConfigKind::Observation, "timer") => out.ignore(key, UNUSED_BY_ROHE),
            (RoheConfigKind::Orchestration, "service_queue" | "service_queue_config") => {
                out.service_queue(key, value)?
            }
            (
                RoheConfigKind::Orchestration,
                "orchestrateConfig" | "orchestrate_algorithm_config",
            ) => out.algorithm(key, value)?,
            (
                RoheConfigKind::Orchestration,
                "db_node_collection" | "db_service_collection" | "database",
            ) => out.ignore(
                key,
                "rohe keeps nodes and services in its own store (store.*), versioned so that no concurrent change is lost",
            ),
            _ => out.ignore(key, "not a key of this ROHE file that rohe knows"),
        }
    }
    out.finish()
}

/// `NAME` when `text` is exactly `${NAME}` or `${NAME:-default}`.
fn env_reference(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("${")?.strip_suffix('}')?;
    let name = inner.split_once(":-").map_or(inner, |(n, _)| n);
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(name)
}

struct Builder<'a> {
    kind: RoheConfigKind,
    file: &'a str,
    mapped: Vec<MappedKey>,
    ignored: Vec<IgnoredKey>,
    config: Map<String, Value>,
    placement: Option<PlacementConfig>,
}

impl<'a> Builder<'a> {
    fn new(kind: RoheConfigKind, file: &'a str) -> Self {
        Builder {
            kind,
            file,
            mapped: Vec::new(),
            ignored: Vec::new(),
            config: Map::new(),
            placement: None,
        }
    }

    fn set(&mut self, from: &str, to: &str, value: Value) {
        let mut node = &mut self.config;
        let parts: Vec<&str> = to.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            node = node
                .entry(p.to_string())
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("intermediate config keys are objects");
        }
        node.insert(parts[parts.len() - 1].to_string(), value.clone());
        self.mapped.push(MappedKey {
            from: from.to_string(),
            to: to.to_string(),
            value,
        });
    }

    fn ignore(&mut self, key: &str, why: &str) {
        self.ignored.push(IgnoredKey {
            key: key.to_string(),
            why: why.to_string(),
        });
    }

    fn bad(&self, field: &str, what: &str, fix: &str) -> Error {
        Error::invalid(what.to_string())
            .field(field)
            .file(self.file)
            .hint(fix)
    }

    /// `{url, prefix, username, password}`: the URI is `prefix + user + ":" + password + "@" +
    /// url` (older code omitted the `@` and put it in `url`).
    fn db_authentication(&mut self, v: &Value) -> Result<()> {
        let Some(a) = v.as_object() else {
            return Err(self.bad(
                "db_authentication",
                "db_authentication is not a mapping",
                "give url, prefix, username and password",
            ));
        };
        let text = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").trim();
        let (url, user, password) = (text("url"), text("username"), text("password"));
        let mut prefix = text("prefix").to_string();
        if url.is_empty() {
            return Err(self.bad(
                "db_authentication.url",
                "db_authentication has no url",
                "the MongoDB host and port, e.g. localhost:27017",
            ));
        }
        let host = url.trim_start_matches('@');
        if prefix.is_empty() {
            prefix = "mongodb://".into();
        }
        if prefix == "mongodb+srv://" && !host.contains('.') {
            // The shipped file's `mongodb+srv://` + `localhost` cannot work (an SRV lookup).
            prefix = "mongodb://".into();
            self.ignore(
                "db_authentication.prefix",
                "mongodb+srv:// needs a DNS name with SRV records; a bare host such as localhost cannot work, so mongodb:// was used",
            );
        }
        // ROHE expands `${VAR}` and `${VAR:-default}` in its files, and so does rohe: such a
        // user name stays a reference; a password reference keeps its variable and loses its
        // default (a default password is a secret written in a file).
        let password_var = env_reference(password).unwrap_or(PASSWORD_VAR);
        let uri = if user.is_empty() {
            format!("{prefix}{host}")
        } else {
            let user = if env_reference(user).is_some() {
                user.to_string()
            } else {
                url::form_urlencoded::byte_serialize(user.as_bytes()).collect::<String>()
            };
            format!("{prefix}{user}:${{{password_var}}}@{host}")
        };
        self.set("db_authentication", "store.backend", json!("mongodb"));
        self.set("db_authentication.url", "store.url", json!(uri));
        if !password.is_empty() {
            self.ignore(
                "db_authentication.password",
                &format!("passwords are not copied into files: store.url reads it from ${password_var} when rohe starts"),
            );
        }
        Ok(())
    }

    fn db_collection(&mut self, v: &Value) {
        if let Some(db) = v.get("database").and_then(Value::as_str) {
            self.set("db_collection.database", "store.database", json!(db));
        }
        match v.get("collection").and_then(Value::as_str) {
            Some("registration") | None => {}
            Some(other) => self.ignore(
                "db_collection.collection",
                &format!("rohe keeps registrations in the collection `registration` of store.database, not {other:?}"),
            ),
        }
    }

    /// 2023: `database: {url, db_name, collection}`.
    fn legacy_observation_database(&mut self, v: &Value) {
        if let Some(url) = v.get("url").and_then(Value::as_str) {
            self.set("database", "store.backend", json!("mongodb"));
            self.set("database.url", "store.url", json!(url));
        }
        if let Some(db) = v.get("db_name").and_then(Value::as_str) {
            self.set("database.db_name", "store.database", json!(db));
        }
        if let Some(c) = v.get("collection").and_then(Value::as_str)
            && c != "registration"
        {
            self.ignore(
                "database.collection",
                &format!("rohe keeps registrations in the collection `registration`, not {c:?}"),
            );
        }
    }

    /// A connector or collector: the current `{name, connector_class|collector_class, config}`
    /// (or a list of them), or 2023's `{amqp_connector: {class, conf}}`.
    fn amqp_config(v: &Value) -> Option<(String, &Map<String, Value>)> {
        fn one(c: &Value) -> Option<&Map<String, Value>> {
            c.get("config")
                .or_else(|| c.get("conf"))
                .and_then(Value::as_object)
        }
        match v {
            Value::Array(items) => items
                .first()
                .and_then(one)
                .map(|c| ("[0].config".into(), c)),
            Value::Object(o) if o.contains_key("config") || o.contains_key("conf") => {
                let k = if o.contains_key("config") {
                    "config"
                } else {
                    "conf"
                };
                one(v).map(|c| (k.to_string(), c))
            }
            Value::Object(o) => o
                .iter()
                .find_map(|(name, c)| one(c).map(|conf| (format!("{name}.conf"), conf))),
            _ => None,
        }
    }

    fn connector(&mut self, v: &Value) {
        let Some((path, conf)) = Self::amqp_config(v) else {
            self.ignore("connector", "no AMQP connector config in it");
            return;
        };
        let conf = conf.clone();
        for (k, value) in &conf {
            let from = format!("connector.{path}.{k}");
            match k.as_str() {
                "end_point" => self.set(&from, "qoa4ml.end_point", value.clone()),
                "health_check_disable" => {
                    self.set(&from, "qoa4ml.health_check_disable", value.clone())
                }
                "exchange_name" | "out_routing_key" => self.ignore(
                    &from,
                    "set per application and client at registration (<app>_exchange, <app>.<user>...clientN)",
                ),
                "exchange_type" => self.ignore(&from, "always topic, as QoA4ML declares it"),
                _ => self.ignore(&from, "not a connector setting rohe knows"),
            }
        }
    }

    fn collector(&mut self, v: &Value) {
        let Some((path, conf)) = Self::amqp_config(v) else {
            self.ignore("collector", "no AMQP collector config in it");
            return;
        };
        let conf = conf.clone();
        for (k, value) in &conf {
            let from = format!("collector.{path}.{k}");
            match (k.as_str(), value.as_str()) {
                ("end_point", Some(ep)) => {
                    let url = if ep.contains("://") {
                        ep.to_string()
                    } else {
                        // QoA4ML connects to a bare host as guest on 5672.
                        format!("amqp://guest:guest@{ep}:5672/%2f")
                    };
                    self.set(&from, "bus.backend", json!("amqp"));
                    self.set(&from, "bus.url", json!(url));
                }
                ("in_queue", _) => self.ignore(
                    &from,
                    "rohe gives each application its own durable queue (rohe.<app>.agent) instead of ROHE's shared one",
                ),
                ("exchange_name" | "in_routing_key", _) => {
                    self.ignore(&from, "set per application (<app>_exchange, <app>.#)")
                }
                ("exchange_type", _) => self.ignore(&from, "always topic, as QoA4ML declares it"),
                _ => self.ignore(&from, "not a collector setting rohe knows"),
            }
        }
    }

    fn interval(&mut self, key: &str, v: &Value) -> Result<()> {
        let Some(s) = v.as_f64().filter(|s| s.is_finite() && *s > 0.0) else {
            return Err(self.bad(
                key,
                &format!("{key} is not a number of seconds"),
                "a positive number, e.g. 10",
            ));
        };
        // rohe counts whole seconds; a fraction rounds up so cycles never come faster.
        self.set(key, "orchestration.interval_s", json!(s.ceil() as u64));
        Ok(())
    }

    fn placement(&mut self) -> &mut PlacementConfig {
        self.placement.get_or_insert_with(PlacementConfig::default)
    }

    fn service_queue(&mut self, key: &str, v: &Value) -> Result<()> {
        let q: QueueConfig = serde_json::from_value(v.clone()).map_err(|e| {
            self.bad(
                key,
                &format!("{key}: {e}"),
                "priority 0-3 and queue_balance, a whole number",
            )
        })?;
        q.validate().map_err(|e| e.file(self.file))?;
        self.set(
            key,
            "orchestration.placement.service_queue",
            json!({"priority": q.priority, "queue_balance": q.queue_balance}),
        );
        self.placement().service_queue = q;
        Ok(())
    }

    fn algorithm(&mut self, key: &str, v: &Value) -> Result<()> {
        let Some(o) = v.as_object() else {
            return Err(self.bad(
                key,
                &format!("{key} is not a mapping"),
                "give weights and strategy",
            ));
        };
        for (k, value) in o {
            let from = format!("{key}.{k}");
            match k.as_str() {
                "weights" => {
                    let w: Weights = serde_json::from_value(value.clone()).map_err(|e| {
                        self.bad(
                            &from,
                            &format!("{from}: {e}"),
                            "weights: {cpu: 1, memory: 1}",
                        )
                    })?;
                    self.placement().weights = w;
                    self.set(
                        &from,
                        "orchestration.placement.weights",
                        json!({"cpu": w.cpu, "memory": w.memory}),
                    );
                }
                "strategy" => {
                    let s: Strategy = serde_json::from_value(value.clone()).map_err(|e| {
                        self.bad(
                            &from,
                            &format!("{from}: {e}"),
                            "0 (first-fit), 1 (max-headroom) or 2 (tight-pack)",
                        )
                    })?;
                    self.placement().strategy = s;
                    self.set(&from, "orchestration.placement.strategy", json!(s.name()));
                }
                "name" | "algorithm" => self.ignore(
                    &from,
                    "ROHE has one placement algorithm (filter and score); rohe implements it",
                ),
                _ => self.ignore(&from, "not a placement setting rohe knows"),
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<ConfigImport> {
        if let Some(p) = &self.placement {
            p.validate().map_err(|e| e.file(self.file))?;
        }
        Ok(ConfigImport {
            kind: self.kind,
            mapped: self.mapped,
            ignored: self.ignored,
            config: Value::Object(self.config),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Value {
        let v = crate::yaml::parse_value(text, "t.yaml").expect("yaml");
        serde_json::to_value(v).expect("json")
    }

    fn mapped<'a>(i: &'a ConfigImport, to: &str) -> Option<&'a Value> {
        i.mapped.iter().find(|m| m.to == to).map(|m| &m.value)
    }

    fn ignored(i: &ConfigImport, key: &str) -> bool {
        i.ignored.iter().any(|k| k.key == key)
    }

    #[test]
    fn the_shipped_observation_config_maps_without_copying_the_password() {
        let doc = parse(
            "collector:\n  name: amqp_collector\n  connectorType: AMQP\n  config: {end_point: rabbit.edge, exchange_name: test_exchange, exchange_type: topic, in_queue: collector_1, in_routing_key: test.#}\n\
             connector:\n  name: amqp_connector\n  connector_class: AMQP\n  config: {end_point: rabbit.edge, exchange_name: test_exchange, exchange_type: topic, out_routing_key: test}\n\
             db_authentication: {url: localhost, prefix: 'mongodb+srv://', username: admin, password: s3cret}\n\
             db_collection: {collection: registration, database: rohe_observation}\n\
             agent_image: rdsea/rohe_stream_agent:1.0.0\nwindow: {interval: {event: 3}, size: {event: 100}}\nfalse_rate: 3\n",
        );
        let i = import(&doc, "observationConfig.yaml").expect("import");
        assert_eq!(i.kind, RoheConfigKind::Observation);
        assert_eq!(
            mapped(&i, "store.url"),
            Some(&json!("mongodb://admin:${ROHE_MONGODB_PASSWORD}@localhost"))
        );
        assert_eq!(
            mapped(&i, "store.database"),
            Some(&json!("rohe_observation"))
        );
        assert_eq!(
            mapped(&i, "bus.url"),
            Some(&json!("amqp://guest:guest@rabbit.edge:5672/%2f"))
        );
        assert_eq!(mapped(&i, "qoa4ml.end_point"), Some(&json!("rabbit.edge")));
        assert!(!i.config.to_string().contains("s3cret"), "{}", i.config);
        for k in [
            "db_authentication.password",
            "db_authentication.prefix",
            "collector.config.in_queue",
            "connector.config.exchange_name",
            "agent_image",
            "window",
            "false_rate",
        ] {
            assert!(ignored(&i, k), "{k} not reported: {:?}", i.ignored);
        }
        // The fragment loads as rohe configuration.
        assert_eq!(i.config["store"]["backend"], "mongodb");
        assert_eq!(i.config["bus"]["backend"], "amqp");
    }

    #[test]
    fn environment_references_stay_references_and_default_passwords_are_dropped() {
        let doc = parse(
            "db_authentication: {url: 'db.edge:27017', prefix: 'mongodb://', username: '${MONGODB_USERNAME:-admin}', password: '${MONGODB_PASSWORD:-admin}'}\n\
             db_collection: {collection: registration, database: rohe_observation}\n",
        );
        let i = import(&doc, "observationConfig.yaml").expect("import");
        assert_eq!(
            mapped(&i, "store.url"),
            Some(&json!(
                "mongodb://${MONGODB_USERNAME:-admin}:${MONGODB_PASSWORD}@db.edge:27017"
            ))
        );
        assert_eq!(env_reference("${A_1}"), Some("A_1"));
        assert_eq!(env_reference("${A:-x}"), Some("A"));
        assert_eq!(env_reference("$A"), None);
        assert_eq!(env_reference("${a b}"), None);
    }

    #[test]
    fn the_2023_observation_shape_maps_too() {
        let doc = parse(
            "collector:\n  amqp_collector: {class: amqp, conf: {end_point: localhost, in_queue: collector_1}}\n\
             connector:\n  amqp_connector: {class: amqp, conf: {end_point: localhost}}\n\
             database: {url: 'mongodb://localhost:27017/', db_name: rohe_observation, collection: registration}\n",
        );
        let i = import(&doc, "observationConfigLocal.yaml").expect("import");
        assert_eq!(
            mapped(&i, "store.url"),
            Some(&json!("mongodb://localhost:27017/"))
        );
        assert_eq!(mapped(&i, "qoa4ml.end_point"), Some(&json!("localhost")));
        assert!(ignored(&i, "collector.amqp_collector.conf.in_queue"));
    }

    #[test]
    fn orchestration_configs_in_all_three_spellings_give_the_same_placement() {
        let shipped = parse(
            "db_authentication: {url: 'localhost:27017', prefix: 'mongodb://', username: '', password: ''}\n\
             db_node_collection: {collection: node_collection, database: rohe_orchestration}\n\
             timer: 10\noutput_folder: /results\nsample_rate: 50\n\
             service_queue: {priority: 1, queue_balance: 2}\n\
             orchestrateConfig: {name: Priority Orchestration, weights: {cpu: 2, memory: 1}, strategy: 2}\n",
        );
        let validated = parse(
            "orchestration_interval: 9.5\noutput_folder: /results\n\
             service_queue_config: {priority: 1, queue_balance: 2}\n\
             orchestrate_algorithm_config: {algorithm: priority, weights: {cpu: 2, memory: 1}, strategy: 2}\n",
        );
        for doc in [shipped, validated] {
            let i = import(&doc, "orchestrationConfig.yaml").expect("import");
            assert_eq!(i.kind, RoheConfigKind::Orchestration);
            assert_eq!(i.config["orchestration"]["interval_s"], 10);
            let p = &i.config["orchestration"]["placement"];
            assert_eq!(p["strategy"], "tight-pack");
            assert_eq!(p["weights"], json!({"cpu": 2.0, "memory": 1.0}));
            assert_eq!(
                p["service_queue"],
                json!({"priority": 1, "queue_balance": 2})
            );
            assert!(ignored(&i, "output_folder"));
        }
    }

    #[test]
    fn bad_values_name_the_field_and_unknown_files_say_what_is_read() {
        let doc = parse("orchestrateConfig: {weights: {cpu: 0, memory: 0}, strategy: 1}\n");
        let e = import(&doc, "o.yaml").expect_err("zero weights");
        assert_eq!(e.field.as_deref(), Some("weights"));
        let doc = parse("orchestrateConfig: {strategy: 7}\n");
        let e = import(&doc, "o.yaml").expect_err("strategy 7");
        assert_eq!(e.field.as_deref(), Some("orchestrateConfig.strategy"));
        let doc = parse("timer: soon\nservice_queue: {priority: 0}\n");
        let e = import(&doc, "o.yaml").expect_err("timer");
        assert_eq!(e.field.as_deref(), Some("timer"));
        let e = import(&parse("nodes: []\n"), "n.yaml").expect_err("not a config");
        assert!(
            e.hint
                .as_deref()
                .is_some_and(|h| h.contains("rohe node add"))
        );
    }
}
