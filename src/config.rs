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
    pub console: ConsoleConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StoreBackend {
    #[default]
    Embedded,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub backend: StoreBackend,
    /// The embedded store's file; empty means `$XDG_DATA_HOME/rohe/rohe.db`.
    pub path: String,
    pub sync: SyncMode,
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

/// Replace the password of a URL with `***`.
pub fn redact_url(s: &str) -> String {
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
    fn shipped_default_matches_built_in() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/rohe.yaml"))
                .unwrap();
        let parsed: Config = yaml::parse(&text, "config/rohe.yaml").unwrap();
        assert_eq!(parsed, Config::default());
    }
}
