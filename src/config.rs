//! Configuration: one typed [`Config`] from layered sources.
//!
//! Precedence, lowest first: built-in defaults < the config file (`--config FILE`, else
//! `$ROHE_CONFIG`, else `$XDG_CONFIG_HOME/rohe/rohe.yaml`, else `config/rohe.yaml` in the
//! working directory) < environment (`ROHE__SECTION__KEY=value`) < command-line flags.
//! String values expand `${VAR}` and `${VAR:-default}`. Each layer is validated on its own so
//! that an unknown key, a wrong type or a bad URL names the key path *and* where it came from.

use crate::adapters::embedded::SyncMode;
use crate::domain::qoa4ml::ConnectorSettings;
use crate::error::{Error, Result};
use crate::yaml::{self, Mapping, Value};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub store: StoreConfig,
    pub qoa4ml: Qoa4mlConfig,
    pub bus: BusConfig,
    pub agent: AgentSettings,
    pub orchestration: OrchestrationConfig,
    pub registry: RegistryConfig,
    pub console: ConsoleConfig,
    pub log: LogConfig,
    pub serve: ServeConfig,
}

/// `rohe serve`: ROHE's REST APIs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// The address both APIs listen on. Anything but loopback needs a token.
    pub bind: String,
    /// ROHE's observation service (registration, agents).
    pub observation_port: u16,
    /// ROHE's orchestration service (`/management/...`).
    pub orchestration_port: u16,
    /// Bearer token required on every state-changing route when set (`${VAR}`).
    pub token: String,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            bind: "127.0.0.1".into(),
            observation_port: 5010,
            orchestration_port: 5002,
            token: String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StoreBackend {
    /// A local SQLite file at `store.path`.
    #[default]
    Embedded,
    /// A MongoDB (or MongoDB-wire-compatible) server at `store.url`.
    Mongodb,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub backend: StoreBackend,
    /// The embedded store's file; empty means `$XDG_DATA_HOME/rohe/rohe.db`.
    pub path: String,
    pub sync: SyncMode,
    /// The MongoDB server when `backend` is `mongodb`. Write the password as `${VAR}`; it is
    /// shown as `***` and never stored.
    pub url: String,
    /// The database of registrations, agents, orchestration state and the audit log (metric
    /// reports go to `application_<name>_<app_id>` databases).
    pub database: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: StoreBackend::Embedded,
            path: String::new(),
            sync: SyncMode::Normal,
            url: "mongodb://127.0.0.1:27017/".into(),
            database: crate::adapters::mongo::DEFAULT_DATABASE.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Qoa4mlConfig {
    /// The broker address written into generated QoA4ML connectors: a host name, or an
    /// `amqp://` / `amqps://` URL.
    pub end_point: String,
    pub health_check_disable: bool,
    /// When set, generated client configs carry it as `registration_url`.
    pub registration_url: String,
}

impl Default for Qoa4mlConfig {
    fn default() -> Self {
        Qoa4mlConfig {
            end_point: "localhost".into(),
            health_check_disable: false,
            registration_url: String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BusBackend {
    /// In-process: reports reach agents running in the same rohe process (console, demo).
    #[default]
    Memory,
    /// RabbitMQ (or any AMQP 0-9-1 broker) at `bus.url`.
    Amqp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    pub backend: BusBackend,
    /// The broker agents consume from when `backend` is `amqp`.
    pub url: String,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            backend: BusBackend::Memory,
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
        }
    }
}

/// How observation agents consume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSettings {
    /// Unacknowledged deliveries an agent may hold (AMQP prefetch).
    pub prefetch: u16,
    /// Reports stored in one transaction at most.
    pub batch: usize,
    /// Seconds a stopping agent may take before it is killed.
    pub stop_timeout_s: u64,
    /// Where agents run: `local` (tasks of this process on the in-process bus, processes with a
    /// broker) or `docker` (containers; needs `bus.backend: amqp`).
    pub runtime: AgentRuntimeKind,
    pub docker: DockerSettings,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            prefetch: 1000,
            batch: 500,
            stop_timeout_s: 10,
            runtime: AgentRuntimeKind::Local,
            docker: DockerSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AgentRuntimeKind {
    #[default]
    Local,
    Docker,
}

/// Agents as containers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DockerSettings {
    /// The daemon's socket; empty: `$DOCKER_HOST`, else unix:///var/run/docker.sock.
    pub host: String,
    /// The agent image; empty: `rohe-agent:<this version>` (built by `rohe agent image build`).
    pub image: String,
    /// The containers' network: `host` lets them reach a broker on 127.0.0.1.
    pub network: String,
}

impl Default for DockerSettings {
    fn default() -> Self {
        DockerSettings {
            host: String::new(),
            image: String::new(),
            network: "host".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RegistryBackend {
    /// Instances kept in rohe's store, with TTL health.
    #[default]
    Embedded,
    /// A Consul agent at `registry.url`.
    Consul,
}

/// Where microservice instances register and are discovered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    pub backend: RegistryBackend,
    /// The Consul agent (ROHE's `consul_config.url`).
    pub url: String,
    /// Consul ACL token (`${VAR}`); sent as X-Consul-Token only.
    pub token: String,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            backend: RegistryBackend::Embedded,
            url: "http://127.0.0.1:8500".into(),
            token: String::new(),
        }
    }
}

/// Which cluster placed instances run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClusterKind {
    /// Every inventory node is a simulated machine; instances are simulated pods kept in the
    /// store (`rohe node fail` stops a machine).
    #[default]
    Simulated,
    /// A Kubernetes API server, from `kubeconfig` (or `$KUBECONFIG`, `~/.kube/config`, or the
    /// in-cluster service account).
    Kubernetes,
}

/// Placement, reconciliation and the cluster they drive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrchestrationConfig {
    pub cluster: ClusterKind,
    /// The namespace rohe's Deployments, Services and ConfigMaps live in.
    pub namespace: String,
    /// Kubeconfig file; empty: `$KUBECONFIG`, then `~/.kube/config`, then in-cluster.
    pub kubeconfig: String,
    /// Kubeconfig context; empty: the file's current context.
    pub context: String,
    /// Server-side apply field manager.
    pub field_manager: String,
    /// Seconds between reconciliation cycles of `rohe orchestrator`.
    pub interval_s: u64,
    /// Strategy, weights and service queue (ROHE's orchestrationConfig keys).
    pub placement: crate::domain::placement::PlacementConfig,
    /// Autoscaling decisions are computed, shown and audited but not carried out.
    pub autoscale_dry_run: bool,
}

impl Default for OrchestrationConfig {
    fn default() -> Self {
        OrchestrationConfig {
            cluster: ClusterKind::Simulated,
            namespace: "rohe".into(),
            kubeconfig: String::new(),
            context: String::new(),
            field_manager: "rohe".into(),
            interval_s: 30,
            placement: Default::default(),
            autoscale_dry_run: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Hide and refuse every state-changing action.
    pub readonly: bool,
    /// How often the visible view refreshes, in milliseconds.
    pub refresh_ms: u64,
    /// A theme file (YAML) overriding colours; empty means the built-in theme.
    pub theme: String,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            readonly: false,
            refresh_ms: 2000,
            theme: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or `trace` (or a tracing filter directive).
    pub level: String,
    /// Log file; empty means `$XDG_STATE_HOME/rohe/rohe.log`.
    pub file: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            file: String::new(),
        }
    }
}

/// What the command line can override.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub readonly: bool,
    pub store_path: Option<PathBuf>,
}

/// The effective configuration and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    /// The environment variables that changed something.
    pub env_keys: Vec<String>,
}

/// XDG base directories, with the specification's fallbacks.
pub mod xdg {
    use std::path::PathBuf;

    fn base(var: &str, fallback: &str) -> PathBuf {
        match std::env::var_os(var) {
            Some(v) if !v.is_empty() && PathBuf::from(&v).is_absolute() => PathBuf::from(v),
            _ => {
                let home = std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("/tmp"));
                home.join(fallback)
            }
        }
    }
    pub fn config_home() -> PathBuf {
        base("XDG_CONFIG_HOME", ".config")
    }
    pub fn data_home() -> PathBuf {
        base("XDG_DATA_HOME", ".local/share")
    }
    pub fn state_home() -> PathBuf {
        base("XDG_STATE_HOME", ".local/state")
    }
}

impl Config {
    pub fn store_path(&self) -> PathBuf {
        if self.store.path.is_empty() {
            xdg::data_home().join("rohe").join("rohe.db")
        } else {
            PathBuf::from(&self.store.path)
        }
    }

    pub fn log_path(&self) -> PathBuf {
        if self.log.file.is_empty() {
            xdg::state_home().join("rohe").join("rohe.log")
        } else {
            PathBuf::from(&self.log.file)
        }
    }

    pub fn connector_settings(&self) -> ConnectorSettings {
        ConnectorSettings {
            end_point: self.qoa4ml.end_point.clone(),
            health_check_disable: self.qoa4ml.health_check_disable,
            registration_url: (!self.qoa4ml.registration_url.is_empty())
                .then(|| self.qoa4ml.registration_url.clone()),
        }
    }

    /// Checks serde cannot express: URLs, ranges.
    pub fn validate(&self, source: &str) -> Result<()> {
        let bad = |field: &str, msg: String, hint: &str| {
            Err(Error::invalid(msg).field(field).file(source).hint(hint))
        };
        let ep = &self.qoa4ml.end_point;
        if ep.is_empty() {
            return bad(
                "qoa4ml.end_point",
                "must not be empty".into(),
                "a broker host name such as localhost, or amqp://host:5672/",
            );
        }
        if ep.contains("://") {
            match url::Url::parse(ep) {
                Ok(u) if matches!(u.scheme(), "amqp" | "amqps") && u.host_str().is_some() => {}
                Ok(u) => {
                    return bad(
                        "qoa4ml.end_point",
                        format!("{} is not an AMQP URL", redact_url(ep)),
                        if u.scheme().starts_with("amqp") {
                            "the URL needs a host"
                        } else {
                            "use amqp:// or amqps://, or a bare host name"
                        },
                    );
                }
                Err(e) => {
                    return bad(
                        "qoa4ml.end_point",
                        format!("{} is not a valid URL: {e}", redact_url(ep)),
                        "use amqp://host:5672/ or a bare host name",
                    );
                }
            }
        } else if ep
            .chars()
            .any(|c| c.is_whitespace() || c == '/' || c.is_control())
        {
            return bad(
                "qoa4ml.end_point",
                format!("{ep:?} is not a host name"),
                "use a host name, or an amqp:// URL",
            );
        }
        let reg = &self.qoa4ml.registration_url;
        if !reg.is_empty() {
            match url::Url::parse(reg) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
                Ok(_) => {
                    return bad(
                        "qoa4ml.registration_url",
                        format!("{} is not an http(s) URL", redact_url(reg)),
                        "use http://host:5010/registration",
                    );
                }
                Err(e) => {
                    return bad(
                        "qoa4ml.registration_url",
                        format!("{} is not a valid URL: {e}", redact_url(reg)),
                        "use http://host:5010/registration",
                    );
                }
            }
        }
        if self.bus.backend == BusBackend::Amqp {
            match url::Url::parse(&self.bus.url) {
                Ok(u) if matches!(u.scheme(), "amqp" | "amqps") && u.host_str().is_some() => {}
                Ok(_) | Err(_) => {
                    return bad(
                        "bus.url",
                        format!("{} is not an AMQP URL", redact_url(&self.bus.url)),
                        "use amqp://user:password@host:5672/%2f",
                    );
                }
            }
        }
        if self.agent.runtime == AgentRuntimeKind::Docker && self.bus.backend != BusBackend::Amqp {
            return bad(
                "agent.runtime",
                "docker needs a broker: a container cannot reach this process's in-process bus"
                    .into(),
                "set bus.backend: amqp (and bus.url), or use agent.runtime: local",
            );
        }
        if self.store.backend == StoreBackend::Mongodb {
            if let Err(m) = crate::adapters::mongo::check_url(&self.store.url) {
                return bad(
                    "store.url",
                    format!("{} {m}", redact_url(&self.store.url)),
                    "use mongodb://user:${MONGODB_PASSWORD}@host:27017/",
                );
            }
            if !crate::adapters::mongo::is_database_name(&self.store.database) {
                return bad(
                    "store.database",
                    format!("{:?} is not a database name", self.store.database),
                    "use letters, digits, '_' and '-', at most 63 characters, e.g. rohe_observation",
                );
            }
        }
        if self.agent.prefetch == 0 {
            return bad(
                "agent.prefetch",
                "must be at least 1".into(),
                "use 100 to 5000; 1000 is the default",
            );
        }
        if !(1..=10_000).contains(&self.agent.batch) {
            return bad(
                "agent.batch",
                format!("{} is out of range", self.agent.batch),
                "use 1 to 10000 reports; 500 is the default",
            );
        }
        let o = &self.orchestration;
        if !crate::domain::names::is_dns1123_label(&o.namespace) {
            return bad(
                "orchestration.namespace",
                format!("{:?} is not a Kubernetes namespace name", o.namespace),
                "use lowercase letters, digits and '-', at most 63 characters, e.g. rohe",
            );
        }
        if o.field_manager.trim().is_empty() {
            return bad(
                "orchestration.field_manager",
                "must not be empty".into(),
                "use rohe (the default)",
            );
        }
        if !(1..=86_400).contains(&o.interval_s) {
            return bad(
                "orchestration.interval_s",
                format!("{} is out of range", o.interval_s),
                "use 1 to 86400 seconds; 30 is the default",
            );
        }
        if let Err(e) = o.placement.validate() {
            let field = e
                .field
                .clone()
                .map(|f| format!("orchestration.placement.{f}"))
                .unwrap_or_else(|| "orchestration.placement".into());
            return Err(e.field(field).file(source));
        }
        if self.serve.bind.parse::<std::net::IpAddr>().is_err() {
            return bad(
                "serve.bind",
                format!("{:?} is not an IP address", self.serve.bind),
                "use 127.0.0.1 (this machine only), 0.0.0.0 (every interface, needs serve.token) or ::1",
            );
        }
        if !(100..=600_000).contains(&self.console.refresh_ms) {
            return bad(
                "console.refresh_ms",
                format!("{} is out of range", self.console.refresh_ms),
                "use 100 to 600000 milliseconds",
            );
        }
        Ok(())
    }
}

/// Expand `${VAR}` and `${VAR:-default}` in every string of `v`. An unset variable without a
/// default is an error (ROHE silently substitutes "", which hides typos in secrets).
pub fn expand_env(
    v: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<()> {
    match v {
        Value::String(s) => {
            *s = expand_str(s, lookup).map_err(|e| e.field(path.trim_start_matches('.')))?;
        }
        Value::Mapping(m) => {
            for (k, child) in m.iter_mut() {
                let key = k
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{k:?}"));
                expand_env(child, &format!("{path}.{key}"), lookup)?;
            }
        }
        Value::Sequence(seq) => {
            for (i, child) in seq.iter_mut().enumerate() {
                expand_env(child, &format!("{path}[{i}]"), lookup)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn expand_str(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| {
            Error::invalid(format!("unclosed ${{ in {s:?}")).hint("write ${VAR} or ${VAR:-default}")
        })?;
        let expr = &after[..end];
        let (name, default) = match expr.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(
                Error::invalid(format!("${{{expr}}} is not a valid variable reference"))
                    .hint("variable names use letters, digits and '_'"),
            );
        }
        match (lookup(name).filter(|v| !v.is_empty()), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(
                    Error::invalid(format!("environment variable {name} is not set"))
                        .hint(format!("export {name}, or write ${{{name}:-default}}")),
                );
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Which file to read, by precedence. A file named explicitly must exist.
fn choose_file(over: &Overrides, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<PathBuf>> {
    if let Some(p) = &over.config_file {
        if !p.is_file() {
            return Err(
                Error::invalid(format!("config file {} does not exist", p.display()))
                    .field("--config")
                    .hint("give the path of a YAML file, e.g. config/rohe.yaml"),
            );
        }
        return Ok(Some(p.clone()));
    }
    if let Some(p) = env("ROHE_CONFIG").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if !p.is_file() {
            return Err(
                Error::invalid(format!("config file {} does not exist", p.display()))
                    .field("ROHE_CONFIG")
                    .hint("unset ROHE_CONFIG or point it at a YAML file"),
            );
        }
        return Ok(Some(p));
    }
    let user = xdg::config_home().join("rohe").join("rohe.yaml");
    if user.is_file() {
        return Ok(Some(user));
    }
    let repo = Path::new("config").join("rohe.yaml");
    if repo.is_file() {
        return Ok(Some(repo));
    }
    Ok(None)
}

/// Check that one layer is a valid (partial) configuration on its own.
fn check_layer(layer: &Value, source: &str) -> Result<()> {
    let cfg: Config = yaml::from_value(layer.clone(), source)?;
    let _ = cfg;
    Ok(())
}

/// Load the effective configuration from the real process environment.
pub fn load(over: &Overrides) -> Result<Loaded> {
    let vars: Vec<(String, String)> = std::env::vars().collect();
    load_with(over, &|k| std::env::var(k).ok(), &vars)
}

/// Load with an injected environment (tests).
pub fn load_with(
    over: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
    vars: &[(String, String)],
) -> Result<Loaded> {
    let mut merged = yaml::to_value(&Config::default())?;
    let file = choose_file(over, env)?;
    if let Some(path) = &file {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid(format!("cannot read config file: {e}")).file(&shown))?;
        // Parse typed first so that unknown keys and wrong types get a line number.
        let _: Config = yaml::parse(&text, &shown)?;
        let mut layer = yaml::parse_value(&text, &shown)?;
        if !matches!(layer, Value::Null) {
            expand_env(&mut layer, "", env).map_err(|e| e.file(&shown))?;
            check_layer(&layer, &shown)?;
            merge(&mut merged, layer);
        }
    }
    let mut env_keys = Vec::new();
    let mut sorted: Vec<&(String, String)> = vars
        .iter()
        .filter(|(k, _)| k.starts_with("ROHE__"))
        .collect();
    sorted.sort();
    for (key, raw) in sorted {
        let path: Vec<String> = key["ROHE__".len()..]
            .split("__")
            .map(|s| s.to_ascii_lowercase())
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(Error::invalid(format!("{key} is not a valid override"))
                .field(key.clone())
                .hint("write ROHE__SECTION__KEY=value, e.g. ROHE__STORE__PATH=/tmp/rohe.db"));
        }
        // The value is read as a YAML scalar, so `true` and `2000` get their types.
        let mut value: Value = yaml::parse_value(raw, key).unwrap_or(Value::String(raw.clone()));
        if matches!(value, Value::Null) {
            value = Value::String(String::new());
        }
        let mut layer = value;
        for seg in path.iter().rev() {
            let mut m = Mapping::new();
            m.insert(Value::String(seg.clone()), layer);
            layer = Value::Mapping(m);
        }
        let source = format!("environment variable {key}");
        check_layer(&layer, &source)?;
        merge(&mut merged, layer);
        env_keys.push(key.clone());
    }
    let mut config: Config = yaml::from_value(merged, "configuration")?;
    if over.readonly {
        config.console.readonly = true;
    }
    if let Some(p) = &over.store_path {
        config.store.path = p.display().to_string();
    }
    let source = file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "built-in defaults".into());
    config.validate(&source)?;
    Ok(Loaded {
        config,
        file,
        env_keys,
    })
}

/// Replace the password of a URL with `***`. MongoDB URLs may name several hosts, which a
/// generic URL parser rejects, so they are redacted by their own rule.
pub fn redact_url(s: &str) -> String {
    if s.starts_with("mongodb://") || s.starts_with("mongodb+srv://") {
        return crate::adapters::mongo::redact_mongo_url(s);
    }
    match url::Url::parse(s) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => s.to_string(),
    }
}

/// A copy of a YAML value with secrets removed: values of keys that name a secret, and
/// passwords inside URLs.
pub fn redact(v: &Value) -> Value {
    match v {
        Value::Mapping(m) => {
            let mut out = Mapping::new();
            for (k, child) in m {
                let secret = k.as_str().is_some_and(|k| {
                    let k = k.to_ascii_lowercase();
                    ["password", "token", "secret", "api_key"]
                        .iter()
                        .any(|s| k.contains(s))
                });
                let value = match child {
                    Value::String(s) if secret && !s.is_empty() => Value::String("***".into()),
                    other => redact(other),
                };
                out.insert(k.clone(), value);
            }
            Value::Mapping(out)
        }
        Value::Sequence(s) => Value::Sequence(s.iter().map(redact).collect()),
        Value::String(s) => Value::String(redact_url(s)),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> (HashMap<String, String>, Vec<(String, String)>) {
        let vars: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        (vars.iter().cloned().collect(), vars)
    }

    fn load_file(text: &str, pairs: &[(&str, &str)]) -> Result<Loaded> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rohe.yaml");
        std::fs::write(&p, text).unwrap();
        let (map, vars) = env_of(pairs);
        let over = Overrides {
            config_file: Some(p),
            ..Default::default()
        };
        load_with(&over, &|k| map.get(k).cloned(), &vars)
    }

    #[test]
    fn expansion_with_defaults() {
        let l = load_file(
            "qoa4ml:\n  end_point: ${BROKER:-localhost}\n  registration_url: http://${HOST}:5010/registration\n",
            &[("HOST", "head")],
        )
        .unwrap();
        assert_eq!(l.config.qoa4ml.end_point, "localhost");
        assert_eq!(
            l.config.qoa4ml.registration_url,
            "http://head:5010/registration"
        );
    }

    #[test]
    fn unset_variable_names_the_key() {
        let e = load_file("store:\n  path: ${NOPE}/x.db\n", &[]).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("store.path"));
        assert!(e.message.contains("NOPE"));
    }

    #[test]
    fn unknown_key_names_path_file_and_line() {
        let e = load_file("store:\n  backend: embedded\n  pth: /x\n", &[]).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("store.pth"), "{e}");
        assert!(e.file.as_deref().unwrap().ends_with("rohe.yaml"));
        assert_eq!(e.line, Some(3));
    }

    #[test]
    fn wrong_type_and_bad_url() {
        let e = load_file("console:\n  readonly: maybe\n", &[]).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("console.readonly"), "{e}");
        let e = load_file("qoa4ml:\n  registration_url: ftp://x/\n", &[]).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("qoa4ml.registration_url"));
        let e = load_file("qoa4ml:\n  end_point: 'amqp://'\n", &[]).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("qoa4ml.end_point"));
    }

    #[test]
    fn precedence_defaults_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yaml");
        std::fs::write(
            &p,
            "console:\n  refresh_ms: 500\nstore:\n  path: /from/file.db\n",
        )
        .unwrap();
        let (map, vars) = env_of(&[
            ("ROHE__STORE__PATH", "/from/env.db"),
            ("ROHE__CONSOLE__READONLY", "false"),
        ]);
        let over = Overrides {
            config_file: Some(p.clone()),
            readonly: true,
            store_path: None,
        };
        let l = load_with(&over, &|k| map.get(k).cloned(), &vars).unwrap();
        assert_eq!(l.config.console.refresh_ms, 500); // file over default
        assert_eq!(l.config.store.path, "/from/env.db"); // env over file
        assert!(l.config.console.readonly); // flag over env
        assert_eq!(l.config.qoa4ml.end_point, "localhost"); // default kept
        let over = Overrides {
            config_file: Some(p),
            readonly: false,
            store_path: Some("/flag.db".into()),
        };
        let l = load_with(&over, &|k| map.get(k).cloned(), &vars).unwrap();
        assert_eq!(l.config.store.path, "/flag.db");
    }

    #[test]
    fn bad_env_override_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yaml");
        std::fs::write(&p, "{}\n").unwrap();
        let (map, vars) = env_of(&[("ROHE__STORE__NOPE", "1")]);
        let over = Overrides {
            config_file: Some(p),
            ..Default::default()
        };
        let e = load_with(&over, &|k| map.get(k).cloned(), &vars).unwrap_err();
        assert!(e.to_string().contains("ROHE__STORE__NOPE"), "{e}");
        assert_eq!(e.field.as_deref(), Some("store.nope"));
    }

    #[test]
    fn secrets_are_redacted() {
        let v =
            yaml::parse_value("a:\n  url: amqp://u:pw@h/\n  token: abc\n  name: x\n", "t").unwrap();
        let s = yaml::to_string(&redact(&v)).unwrap();
        assert!(!s.contains("pw@") && !s.contains("abc"), "{s}");
        assert!(s.contains("***") && s.contains("name: x"));
    }

    #[test]
    fn mongodb_url_is_expanded_checked_and_redacted() {
        let l = load_file(
            "store:\n  backend: mongodb\n  url: mongodb://rohe:${MONGO_PW}@db1:27017,db2:27017/?replicaSet=rs0\n",
            &[("MONGO_PW", "s3cret")],
        )
        .unwrap();
        assert_eq!(l.config.store.backend, StoreBackend::Mongodb);
        assert!(l.config.store.url.contains("s3cret"));
        assert_eq!(l.config.store.database, "rohe_observation");
        let shown = yaml::to_string(&redact(&yaml::to_value(&l.config).unwrap())).unwrap();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("mongodb://rohe:***@db1:27017,db2:27017/"),
            "{shown}"
        );
        let e = load_file("store:\n  backend: mongodb\n  url: http://x/\n", &[]).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("store.url"), "{e}");
        let e = load_file(
            "store:\n  backend: mongodb\n  url: mongodb://u:pw@h/\n  database: a.b\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("store.database"), "{e}");
        assert!(!e.to_string().contains("pw@"), "{e}");
    }

    #[test]
    fn shipped_default_matches_built_in() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/rohe.yaml"))
                .unwrap();
        let parsed: Config = yaml::parse(&text, "config/rohe.yaml").unwrap();
        assert_eq!(parsed, Config::default());
    }
}
