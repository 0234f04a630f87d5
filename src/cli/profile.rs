//! `rohe profile import DIR`: service requirements and categories from profiling data shaped
//! like SPE2024 (rohe-spec 4.8; the rules are in `domain::profile`). Offline: reads files,
//! changes nothing.
//!
//! Without `--services` it prints one profile per service found (`--output json` gives an
//! array of `domain::profile::ServiceProfile`). With `--services FILE` it prints that service
//! file with the requirement fields of every profiled service replaced (matched by
//! `service_name`, and by application when the file names one), ready for `rohe service add`;
//! what it matched and what it left alone goes to standard error.

use super::output::{Format, Table, emit};
use crate::domain::profile::{self, CsvTable, Rules, ServiceData, ServiceProfile};
use crate::domain::resources::{Service, parse_services};
use crate::error::{Error, Result};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Derive cpu, per-core, memory, GPU and sensitivity per service from profile data
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A directory of profile data: an application (`<app>/<service>/processed_profile_data`),
    /// a set of applications, or one service
    pub dir: PathBuf,
    /// Size for this load level (f1, f5, f10, f50, ...) instead of the highest profiled
    #[arg(long, value_name = "fN")]
    pub load: Option<String>,
    /// Per-core shape from this device (e.g. jet_nano) instead of the one with fewest cores
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<String>,
    /// Print this service file with the derived requirements filled in
    #[arg(long, value_name = "FILE")]
    pub services: Option<PathBuf>,
}

pub fn run(fmt: Format, cmd: ProfileCommand) -> Result<()> {
    match cmd {
        ProfileCommand::Import(args) => import(fmt, &args),
    }
}

fn parse_load(s: &str) -> Result<u32> {
    s.trim_start_matches(['f', 'F']).parse().map_err(|_| {
        Error::invalid(format!("{s:?} is not a load level"))
            .field("--load")
            .hint("a level as the profile files name it, e.g. f50")
    })
}

fn import(fmt: Format, args: &ImportArgs) -> Result<()> {
    let rules = Rules {
        load: args.load.as_deref().map(parse_load).transpose()?,
        device: args.device.clone(),
    };
    let data = read_dir(&args.dir)?;
    let profiles = data
        .iter()
        .map(|d| profile::derive(d, &rules))
        .collect::<Result<Vec<_>>>()?;
    match &args.services {
        None => emit(fmt, &profiles, |out| table(out, &profiles)),
        Some(file) => merge(fmt, file, &profiles),
    }
}

fn table(out: &mut dyn Write, profiles: &[ServiceProfile]) -> std::io::Result<()> {
    let mut t = Table::new(vec![
        "APPLICATION",
        "SERVICE",
        "LOAD",
        "CPU(m)",
        "CORES(%)",
        "RSS(MB)",
        "GPU(%)",
        "RT SHARED/ALONE",
        "SENS",
        "LABELS",
    ]);
    for p in profiles {
        let r = &p.requirements;
        t.row(vec![
            p.application.clone(),
            p.service.clone(),
            format!("f{}", p.load),
            format!("{}", r.cpu_required),
            r.cores_required
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join("/"),
            format!("{}", r.memory_rss),
            format!("{}", r.gpu),
            p.rt_ratio.map_or("-".into(), |x| format!("x{x:.2}")),
            r.sensitivity.to_string(),
            p.labels
                .iter()
                .map(|l| l.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ]);
    }
    t.write(out)
}

/// The service file with profiled requirements filled in, in the file's own grouping.
fn merge(fmt: Format, file: &Path, profiles: &[ServiceProfile]) -> Result<()> {
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| {
        Error::invalid(format!("cannot read the file: {e}"))
            .field("--services")
            .file(shown.clone())
    })?;
    let mut services = parse_services(&text, &shown)?;
    let mut log = Vec::new();
    for s in services.iter_mut() {
        // The same service name in the profile of the service's own application wins over a
        // name match in another application.
        let found = profiles
            .iter()
            .find(|p| p.service == s.service_name && p.application == s.application)
            .or_else(|| profiles.iter().find(|p| p.service == s.service_name));
        match found {
            Some(p) => {
                profile::apply_to(s, p);
                log.push(format!(
                    "{}: requirements from {}/{} at f{}",
                    s.service_id, p.application, p.service, p.load
                ));
            }
            None => log.push(format!("{}: no profile, left as it was", s.service_id)),
        }
    }
    for line in &log {
        eprintln!("{}", crate::domain::sanitize::terminal_safe(line));
    }
    let doc = services_document(services);
    match fmt {
        Format::Json => emit(Format::Json, &doc, |_| Ok(())),
        // A service file is YAML for people too.
        Format::Yaml | Format::Table => emit(Format::Yaml, &doc, |_| Ok(())),
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum ServicesDoc {
    One {
        application: String,
        services: Vec<Service>,
    },
    /// ROHE's request shape, for services of several applications.
    Many {
        data: BTreeMap<String, BTreeMap<String, Service>>,
    },
}

fn services_document(services: Vec<Service>) -> ServicesDoc {
    let apps: std::collections::BTreeSet<&str> =
        services.iter().map(|s| s.application.as_str()).collect();
    if apps.len() <= 1 {
        let application = apps.into_iter().next().unwrap_or_default().to_string();
        return ServicesDoc::One {
            application,
            services: services
                .into_iter()
                .map(|mut s| {
                    s.application.clear();
                    s
                })
                .collect(),
        };
    }
    let mut data: BTreeMap<String, BTreeMap<String, Service>> = BTreeMap::new();
    for mut s in services {
        let app = std::mem::take(&mut s.application);
        data.entry(app).or_default().insert(s.service_id.clone(), s);
    }
    ServicesDoc::Many { data }
}

// ---------------------------------------------------------------------------------------------
// Reading the SPE2024 layout
// ---------------------------------------------------------------------------------------------

const PROFILE_DIR: &str = "processed_profile_data";

/// Every service under `dir`, in path order.
fn read_dir(dir: &Path) -> Result<Vec<ServiceData>> {
    let shown = dir.display().to_string();
    if !dir.is_dir() {
        return Err(Error::invalid("is not a directory")
            .field("DIR")
            .file(shown)
            .hint("point at profile data, e.g. shared/fixtures/spe2024/cctvs"));
    }
    let mut found = Vec::new();
    find_profile_dirs(dir, 0, &mut found)?;
    found.sort();
    if found.is_empty() {
        return Err(
            Error::invalid(format!("no {PROFILE_DIR} directory under it"))
                .field("DIR")
                .file(shown)
                .hint("the layout is <application>/<service>/processed_profile_data/{resources_proc_metric,resources_sys_metric,applications_extracted}/run_*/*.csv"),
        );
    }
    found.iter().map(|p| read_service(p)).collect()
}

fn find_profile_dirs(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<()> {
    if dir.file_name().is_some_and(|n| n == PROFILE_DIR) {
        out.push(dir.to_path_buf());
        return Ok(());
    }
    if depth > 6 {
        return Ok(());
    }
    for entry in list(dir)? {
        if entry.is_dir() {
            find_profile_dirs(&entry, depth + 1, out)?;
        }
    }
    Ok(())
}

fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let read = std::fs::read_dir(dir).map_err(|e| {
        Error::invalid(format!("cannot read the directory: {e}")).file(dir.display().to_string())
    })?;
    let mut v: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    Ok(v)
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// CSV files in `<dir>/<kind>/run_*/`, with their stem.
fn run_files(dir: &Path, kind: &str) -> Result<Vec<(String, PathBuf)>> {
    let base = dir.join(kind);
    if !base.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for run in list(&base)? {
        if !run.is_dir() {
            continue;
        }
        for f in list(&run)? {
            if f.extension().is_some_and(|e| e == "csv") {
                let stem = f
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.push((stem, f));
            }
        }
    }
    Ok(out)
}

fn read_csv(path: &Path) -> Result<CsvTable> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::invalid(format!("cannot read the file: {e}")).file(shown.clone()))?;
    profile::parse_csv(&text, &shown)
}

fn read_service(dir: &Path) -> Result<ServiceData> {
    let service_dir = dir.parent().unwrap_or(dir);
    let service = name_of(service_dir);
    let application = service_dir
        .parent()
        .map(name_of)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| service.clone());
    let mut data = ServiceData {
        application,
        service: service.clone(),
        ..Default::default()
    };
    let prefix = format!("{service}_");
    for (stem, path) in run_files(dir, "resources_proc_metric")? {
        // <service>_f<N>
        let load = stem
            .rsplit_once("_f")
            .and_then(|(_, n)| n.parse::<u32>().ok());
        match load {
            Some(load) => data.proc.push((load, read_csv(&path)?)),
            None => eprintln!(
                "{}: not a <service>_f<N>.csv load file, ignored",
                path.display()
            ),
        }
    }
    for (stem, path) in run_files(dir, "resources_sys_metric")? {
        let device = stem.strip_prefix(&prefix).unwrap_or(&stem).to_string();
        data.sys.push((device, read_csv(&path)?));
    }
    for (stem, path) in run_files(dir, "applications_extracted")? {
        let into = if stem.ends_with("without_shared_resource") {
            &mut data.rt_isolated
        } else if stem.ends_with("shared_resource") {
            &mut data.rt_shared
        } else {
            continue;
        };
        let t = read_csv(&path)?;
        into.extend(t.column("response_time").ok_or_else(|| {
            Error::invalid("no response_time column")
                .file(path.display().to_string())
                .hint("response-time files have response_time,norm_time")
        })?);
    }
    Ok(data)
}
