//! One error type for the whole crate, with the stable exit codes of the headless CLI.
//!
//! Every error a user can cause names the thing that is wrong (`field`), where it is
//! (`file`, `line`) and how to fix it (`hint`). The CLI prints it as one line, or as a JSON
//! object with `--output json`.

use serde::Serialize;
use std::fmt;

/// Stable process exit codes (documented in README.md; scripts rely on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Ok = 0,
    Runtime = 1,
    Invalid = 2,
    NotFound = 3,
    Conflict = 4,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Bad input or usage: a file, a flag, a name. Exit code 2.
    Invalid,
    /// The named object does not exist. Exit code 3.
    NotFound,
    /// The operation conflicts with current state (agent running, concurrent change). Exit code 4.
    Conflict,
    /// Anything else that went wrong at run time (I/O, a backend). Exit code 1.
    Runtime,
}

#[derive(Debug, Clone, Serialize)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            file: None,
            line: None,
            field: None,
            hint: None,
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn runtime(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Runtime, message)
    }
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    pub fn file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }
    pub fn line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    /// Prefix a field path, e.g. `stages[1]` + `name` gives `stages[1].name`.
    pub fn in_field(mut self, parent: &str) -> Self {
        self.field = Some(match self.field.take() {
            Some(f) if f.starts_with('[') => format!("{parent}{f}"),
            Some(f) => format!("{parent}.{f}"),
            None => parent.to_string(),
        });
        self
    }

    pub fn exit_code(&self) -> ExitCode {
        match self.kind {
            ErrorKind::Invalid => ExitCode::Invalid,
            ErrorKind::NotFound => ExitCode::NotFound,
            ErrorKind::Conflict => ExitCode::Conflict,
            ErrorKind::Runtime => ExitCode::Runtime,
        }
    }
}

impl fmt::Display for Error {
    /// One readable line: `file:line: field: message (hint)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}")?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            write!(f, ": ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::runtime(e.to_string())
    }
}
