//! `rohe import FILE`: ROHE's observationConfig.yaml or orchestrationConfig.yaml as rohe
//! configuration, with what was mapped and what was ignored (`domain::rohe_config`). Offline:
//! it reads the file and writes only `--out`, never the store or the running configuration.

use super::output::{Format, Table, emit};
use crate::domain::rohe_config::{self, ConfigImport};
use crate::error::{Error, Result};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// ROHE's observationConfig.yaml or orchestrationConfig.yaml (YAML or JSON, any of the key
    /// spellings ROHE used)
    pub file: PathBuf,
    /// Write the rohe configuration to this file (use it with --config, or merge it into
    /// config/rohe.yaml)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Overwrite --out if it exists
    #[arg(long)]
    pub force: bool,
}

pub fn run(fmt: Format, args: &ImportArgs) -> Result<()> {
    let shown = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file).map_err(|e| {
        Error::invalid(format!("cannot read {shown}: {e}"))
            .field("FILE")
            .hint("the path of ROHE's observationConfig.yaml or orchestrationConfig.yaml")
    })?;
    // ROHE reads JSON or YAML by extension; YAML reads both. `${VAR}` is left as written:
    // expanding it here would copy secrets into the output.
    let doc = crate::yaml::parse_value(&text, &shown)?;
    let doc = serde_json::to_value(doc)
        .map_err(|e| Error::invalid(format!("{shown}: {e}")).file(shown.clone()))?;
    let imported = rohe_config::import(&doc, &shown)?;
    let yaml = fragment_yaml(&imported)?;
    if let Some(out) = &args.out {
        write_out(out, &yaml, args.force)?;
    }
    emit(fmt, &imported, |w| {
        table(w, &imported, &yaml, args.out.as_deref())
    })
}

fn fragment_yaml(i: &ConfigImport) -> Result<String> {
    let mut text = format!(
        "# rohe configuration imported from ROHE's {} config by `rohe import`.\n",
        match i.kind {
            rohe_config::RoheConfigKind::Observation => "observation",
            rohe_config::RoheConfigKind::Orchestration => "orchestration",
        }
    );
    if let Some(var) = i
        .ignored
        .iter()
        .find(|k| k.key == "db_authentication.password")
        .and_then(|_| password_var(&i.config))
    {
        text.push_str(&format!(
            "# The MongoDB password is not in this file: set {var} before starting rohe.\n"
        ));
    }
    text.push_str(&crate::yaml::to_string(&i.config)?);
    Ok(text)
}

/// The variable `store.url` takes the password from.
fn password_var(config: &serde_json::Value) -> Option<String> {
    let url = config["store"]["url"].as_str()?;
    let at = url.rfind('@')?;
    let start = url[..at].rfind("${")?;
    Some(url[start + 2..at].trim_end_matches('}').to_string())
}

fn write_out(path: &Path, yaml: &str, force: bool) -> Result<()> {
    let shown = path.display().to_string();
    if path.exists() && !force {
        return Err(Error::conflict(format!("{shown} exists"))
            .field("--out")
            .hint("pass --force to overwrite it, or choose another file"));
    }
    std::fs::write(path, yaml).map_err(|e| {
        Error::runtime(format!("cannot write {shown}: {e}"))
            .field("--out")
            .hint("choose a writable path")
    })
}

fn table(
    w: &mut dyn Write,
    i: &ConfigImport,
    yaml: &str,
    out: Option<&Path>,
) -> std::io::Result<()> {
    let safe = crate::domain::sanitize::terminal_safe;
    writeln!(w, "mapped ({}):", i.mapped.len())?;
    let mut t = Table::new(vec!["ROHE KEY", "ROHE SETTING", "VALUE"]);
    for m in &i.mapped {
        let value = match &m.value {
            serde_json::Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        t.row(vec![
            safe(&m.from).into_owned(),
            m.to.clone(),
            safe(&value).into_owned(),
        ]);
    }
    t.write(w)?;
    writeln!(w, "\nignored ({}):", i.ignored.len())?;
    let mut t = Table::new(vec!["ROHE KEY", "WHY"]);
    for k in &i.ignored {
        t.row(vec![safe(&k.key).into_owned(), k.why.clone()]);
    }
    t.write(w)?;
    match out {
        Some(p) => writeln!(
            w,
            "\nwrote {} (use it with --config, or merge it into config/rohe.yaml)",
            safe(&p.display().to_string())
        ),
        None => {
            writeln!(w)?;
            for line in yaml.lines() {
                writeln!(w, "{}", safe(line))?;
            }
            Ok(())
        }
    }
}
