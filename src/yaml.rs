//! The one place that touches serde_yaml (deprecated upstream; see ARCHITECTURE.md), so that a
//! swap to another YAML crate changes this file only.

use crate::error::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use serde_yaml::{Mapping, Value};

/// Parse `text` as `T`, turning any failure into an error that names the file, the line and
/// the field path (`stages[1].microservices[0].name`).
pub fn parse<T: DeserializeOwned>(text: &str, file: &str) -> Result<T> {
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| describe(e, file))
}

/// Parse `text` into an untyped value (for layering configuration).
pub fn parse_value(text: &str, file: &str) -> Result<Value> {
    serde_yaml::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line());
        Error::invalid(format!("malformed YAML: {}", clean(&e.to_string())))
            .file(file)
            .line(line)
    })
}

/// Deserialize an already parsed value (no line numbers are known any more).
pub fn from_value<T: DeserializeOwned>(value: Value, source: &str) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| describe(e, source))
}

pub fn to_value<T: Serialize>(v: &T) -> Result<Value> {
    serde_yaml::to_value(v).map_err(|e| Error::runtime(format!("encoding YAML: {e}")))
}

pub fn to_string<T: Serialize>(v: &T) -> Result<String> {
    serde_yaml::to_string(v).map_err(|e| Error::runtime(format!("encoding YAML: {e}")))
}

fn describe(e: serde_path_to_error::Error<serde_yaml::Error>, file: &str) -> Error {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let line = inner.location().map(|l| l.line());
    let mut msg = clean(&inner.to_string());
    // serde_yaml already prefixes the path; it is reported as the field instead.
    if let Some((head, rest)) = msg.split_once(": ")
        && !head.contains(' ')
        && (path.starts_with(head) || head == ".")
    {
        msg = rest.to_string();
    }
    let (field, hint) = if let Some(unknown) = unknown_field(&msg) {
        let field = if path == "." || path.is_empty() {
            unknown.to_string()
        } else if path == unknown || path.ends_with(&format!(".{unknown}")) {
            path.clone()
        } else {
            format!("{path}.{unknown}")
        };
        (Some(field), Some("remove it or fix its spelling"))
    } else if let Some(missing) = missing_field(&msg) {
        let field = if path == "." || path.is_empty() {
            missing.to_string()
        } else {
            format!("{path}.{missing}")
        };
        (Some(field), Some("add it"))
    } else if path == "." || path.is_empty() {
        (None, None)
    } else {
        (Some(path), None)
    };
    let mut err = Error::invalid(msg).file(file).line(line);
    if let Some(f) = field {
        err = err.field(f);
    }
    if let Some(h) = hint {
        err = err.hint(h);
    }
    err
}

/// serde_yaml appends " at line L column C" to messages; the line is reported separately.
fn clean(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn between<'a>(msg: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = msg.strip_prefix(prefix)?;
    let rest = rest.strip_prefix('`')?;
    rest.split('`').next()
}

fn unknown_field(msg: &str) -> Option<&str> {
    between(msg, "unknown field ")
}

fn missing_field(msg: &str) -> Option<&str> {
    between(msg, "missing field ")
}
