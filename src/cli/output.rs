//! Output of the headless commands: `table` for people, `json` and `yaml` for scripts.
//!
//! JSON and YAML documents are the serde form of the types in `ops` and `domain`; their
//! fields are documented in README.md and only ever grow. Tables sanitise every cell.

use crate::domain::sanitize::terminal_safe;
use crate::error::{Error, Result};
use clap::ValueEnum;
use serde::Serialize;
use std::io::{IsTerminal, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
    Yaml,
}

/// Print `value` as JSON or YAML, or call `table` to print it for people.
pub fn emit<T: Serialize>(
    format: Format,
    value: &T,
    table: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let res = match format {
        // Indented for people at a terminal, compact for programs reading a pipe.
        Format::Json if std::io::stdout().is_terminal() => {
            serde_json::to_writer_pretty(&mut out, value)
                .map_err(std::io::Error::other)
                .and_then(|_| writeln!(out))
        }
        Format::Json => serde_json::to_writer(&mut out, value)
            .map_err(std::io::Error::other)
            .and_then(|_| writeln!(out)),
        Format::Yaml => {
            let text = crate::yaml::to_string(value)?;
            out.write_all(text.as_bytes())
        }
        Format::Table => table(&mut out),
    };
    res.and_then(|_| out.flush()).or_else(ignore_broken_pipe)
}

/// Print a JSON array whose elements are already JSON documents, without decoding them.
pub fn emit_json_array(docs: &[String]) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let res = (|| {
        out.write_all(b"[")?;
        for (i, d) in docs.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            out.write_all(d.as_bytes())?;
        }
        out.write_all(b"]\n")?;
        out.flush()
    })();
    res.or_else(ignore_broken_pipe)
}

/// `rohe app list | head` must not fail because `head` stopped reading.
fn ignore_broken_pipe(e: std::io::Error) -> Result<()> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(Error::runtime(format!("writing output: {e}")))
    }
}

/// Print an error to stderr: one readable line, or a JSON object with `--output json`.
pub fn emit_error(format: Format, err: &Error) {
    let mut stderr = std::io::stderr().lock();
    let _ = match format {
        Format::Json => {
            let doc = serde_json::json!({ "error": err, "exit_code": err.exit_code() as i32 });
            writeln!(stderr, "{doc}")
        }
        _ => writeln!(stderr, "error: {}", terminal_safe(&err.to_string())),
    };
}

/// A plain text table: a header and rows, columns padded to the widest cell.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: Vec<&'static str>) -> Self {
        Table {
            header,
            rows: Vec::new(),
        }
    }
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(
            cells
                .into_iter()
                .map(|c| terminal_safe(&c).into_owned())
                .collect(),
        );
    }
    pub fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let n = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let line =
            |out: &mut dyn Write, cells: &mut dyn Iterator<Item = &str>| -> std::io::Result<()> {
                let mut s = String::new();
                for (i, c) in cells.enumerate() {
                    if i + 1 == n {
                        s.push_str(c);
                    } else {
                        s.push_str(&format!("{c:<w$}  ", w = widths[i]));
                    }
                }
                writeln!(out, "{}", s.trim_end())
            };
        line(out, &mut self.header.iter().copied())?;
        for r in &self.rows {
            line(out, &mut r.iter().map(String::as_str))?;
        }
        Ok(())
    }
}

/// `key: value` lines for detail views.
pub fn kv(out: &mut dyn Write, pairs: &[(&str, String)]) -> std::io::Result<()> {
    let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in pairs {
        writeln!(out, "{k:<w$}  {}", terminal_safe(v))?;
    }
    Ok(())
}
