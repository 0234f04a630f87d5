//! `rohe placement plan`: where would these services go on these nodes? Offline: reads the two
//! files, runs one placement cycle (`domain::placement::plan`), prints the result. It reads no
//! store and changes nothing, so scripts can use it freely.
//!
//! `--output json` prints one object (the field set only grows):
//! - `placements`: `[{service_id, service_name, node}]` in placement order (`node` is the
//!   node's `node_name`);
//! - `unplaced`: `[{service_id, missing}]`;
//! - `removed`: `[{service_id, service_name, node}]`, instances a scale-in removes (`node` is
//!   null for an instance on no known node);
//! - `nodes`: the final node states in ROHE's NodeData shape;
//! - `explain` (with `--explain` only): the configuration, every node's verdict for every
//!   attempt, and why each unplaced service found no node.

use super::output::{Format, Table, emit};
use crate::domain::placement::{
    self, Cluster, Decision, PlacementConfig, Plan, QueueConfig, Strategy, Unplaced, Weights,
};
use crate::domain::resources::{Node, parse_nodes, parse_services};
use crate::error::{Error, Result};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum PlacementCommand {
    /// Plan placements from a node file and service files, offline (reads no store, changes nothing)
    Plan(PlanArgs),
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Nodes: ROHE's add_node.json / add_node.yaml, or rohe's YAML (example/nodes/edge-lab.yaml)
    #[arg(long, value_name = "FILE")]
    pub nodes: PathBuf,
    /// Services: ROHE's add_service.json / add_service.yaml, or rohe's YAML
    /// (example/services/*.yaml); repeat for several files
    #[arg(long, value_name = "FILE", required = true)]
    pub services: Vec<PathBuf>,
    /// 0 | first-fit, 1 | max-headroom (ROHE's "best fit", spreads), 2 | tight-pack (ROHE's
    /// "worst fit", packs)
    #[arg(long, value_name = "STRATEGY", default_value = "max-headroom")]
    pub strategy: String,
    /// Show every node's verdict for every placement attempt, with its score components
    #[arg(long)]
    pub explain: bool,
    /// Weight of the per-core headroom in the score
    #[arg(long, value_name = "W", default_value_t = 1.0)]
    pub cpu_weight: f64,
    /// Weight of the memory headroom in the score
    #[arg(long, value_name = "W", default_value_t = 1.0)]
    pub memory_weight: f64,
    /// Serve sensitive services first: 0 none, 1 CPU, 2 memory, 3 both
    #[arg(long, value_name = "P", default_value_t = 0)]
    pub priority: u8,
    /// Prioritised services served before each normal one
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub queue_balance: u32,
}

impl PlanArgs {
    /// The configuration the flags ask for, validated; errors name the flag.
    pub fn config(&self) -> Result<PlacementConfig> {
        let strategy: Strategy = self
            .strategy
            .parse()
            .map_err(|e: Error| e.field("--strategy"))?;
        let cfg = PlacementConfig {
            strategy,
            weights: Weights {
                cpu: self.cpu_weight,
                memory: self.memory_weight,
            },
            service_queue: QueueConfig {
                priority: self.priority,
                queue_balance: self.queue_balance,
            },
        };
        cfg.validate().map_err(|e| {
            let flag = match e.field.as_deref() {
                Some("weights.cpu") => "--cpu-weight",
                Some("weights.memory") => "--memory-weight",
                Some("weights") => "--cpu-weight/--memory-weight",
                Some("service_queue.priority") => "--priority",
                _ => "--strategy",
            };
            Error {
                field: Some(flag.to_string()),
                ..e
            }
        })?;
        Ok(cfg)
    }
}

/// Read a whole input file; failures are bad input (exit 2) naming the flag and the file.
fn read_text(path: &Path, flag: &str) -> Result<String> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        Error::invalid(format!("cannot read the file: {e}"))
            .field(flag)
            .file(shown.clone())
    })?;
    String::from_utf8(bytes).map_err(|_| {
        Error::invalid("the file is not UTF-8 text")
            .field(flag)
            .file(shown)
    })
}

/// Load the nodes and every service file into one cluster.
pub fn load(nodes: &Path, services: &[PathBuf]) -> Result<Cluster> {
    let nodes = parse_nodes(&read_text(nodes, "--nodes")?, &nodes.display().to_string())?;
    let mut all = Vec::new();
    for f in services {
        all.extend(parse_services(
            &read_text(f, "--services")?,
            &f.display().to_string(),
        )?);
    }
    Cluster::new(nodes, all).map_err(|e| {
        let hint = e.hint.clone().unwrap_or_default();
        e.hint(format!("{hint} (across the files given)"))
    })
}

#[derive(Serialize)]
struct PlacementRow<'a> {
    service_id: &'a str,
    service_name: &'a str,
    node: &'a str,
}

#[derive(Serialize)]
struct UnplacedRow<'a> {
    service_id: &'a str,
    missing: u32,
}

#[derive(Serialize)]
struct RemovedRow<'a> {
    service_id: &'a str,
    service_name: &'a str,
    node: Option<&'a str>,
}

#[derive(Serialize)]
struct Explain<'a> {
    strategy: Strategy,
    /// ROHE's number for the strategy.
    strategy_number: u8,
    weights: Weights,
    service_queue: QueueConfig,
    decisions: &'a [Decision],
    unplaced: &'a [Unplaced],
}

#[derive(Serialize)]
struct PlanDoc<'a> {
    placements: Vec<PlacementRow<'a>>,
    unplaced: Vec<UnplacedRow<'a>>,
    removed: Vec<RemovedRow<'a>>,
    nodes: &'a [Node],
    #[serde(skip_serializing_if = "Option::is_none")]
    explain: Option<Explain<'a>>,
}

fn doc<'a>(plan: &'a Plan, nodes: &'a [Node], cfg: &PlacementConfig, explain: bool) -> PlanDoc<'a> {
    PlanDoc {
        placements: plan
            .placements
            .iter()
            .map(|p| PlacementRow {
                service_id: &p.service_id,
                service_name: &p.service_name,
                node: &p.node,
            })
            .collect(),
        unplaced: plan
            .unplaced
            .iter()
            .map(|u| UnplacedRow {
                service_id: &u.service_id,
                missing: u.missing,
            })
            .collect(),
        removed: plan
            .removed
            .iter()
            .map(|r| RemovedRow {
                service_id: &r.service_id,
                service_name: &r.service_name,
                node: r.node.as_deref(),
            })
            .collect(),
        nodes,
        explain: explain.then_some(Explain {
            strategy: cfg.strategy,
            strategy_number: cfg.strategy.number(),
            weights: cfg.weights,
            service_queue: cfg.service_queue,
            decisions: &plan.decisions,
            unplaced: &plan.unplaced,
        }),
    }
}

/// Run a `placement` command.
pub fn run(fmt: Format, cmd: PlacementCommand) -> Result<()> {
    match cmd {
        PlacementCommand::Plan(args) => {
            let cfg = args.config()?;
            let mut cluster = load(&args.nodes, &args.services)?;
            let plan = placement::plan(&mut cluster, &cfg, args.explain);
            let d = doc(&plan, &cluster.nodes, &cfg, args.explain);
            emit(fmt, &d, |out| {
                write_table(out, &plan, &cluster, &cfg, args.explain)
            })
        }
    }
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

fn write_table(
    out: &mut dyn Write,
    plan: &Plan,
    cluster: &Cluster,
    cfg: &PlacementConfig,
    explain: bool,
) -> std::io::Result<()> {
    writeln!(
        out,
        "strategy {} (ROHE {}), weights cpu {} memory {}: {} placed, {} unplaced, {} removed",
        cfg.strategy,
        cfg.strategy.number(),
        cfg.weights.cpu,
        cfg.weights.memory,
        plan.placements.len(),
        plan.unplaced.iter().map(|u| u.missing).sum::<u32>(),
        plan.removed.len()
    )?;
    if explain {
        for d in &plan.decisions {
            writeln!(
                out,
                "\n{} ({}) replica {}: {}",
                crate::domain::sanitize::terminal_safe(&d.service_name),
                crate::domain::sanitize::terminal_safe(&d.service_id),
                d.attempt,
                d.chosen
                    .as_deref()
                    .map_or("no node".to_string(), |n| format!("-> {n}"))
            )?;
            let mut t = Table::new(vec![
                "NODE",
                "FITS",
                "RANK_PROC",
                "RANK_MEM",
                "SCORE",
                "WHY NOT",
            ]);
            for n in &d.nodes {
                let f = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.6}"));
                t.row(vec![
                    n.node.clone(),
                    if n.fits { "yes".into() } else { "no".into() },
                    f(n.rank_proc),
                    f(n.rank_mem),
                    f(n.score),
                    n.reason.clone().unwrap_or_default(),
                ]);
            }
            t.write(out)?;
        }
        writeln!(out)?;
    }
    if !plan.placements.is_empty() {
        let mut t = Table::new(vec!["SERVICE", "SERVICE ID", "APPLICATION", "NODE"]);
        for p in &plan.placements {
            t.row(vec![
                p.service_name.clone(),
                p.service_id.clone(),
                p.application.clone(),
                p.node.clone(),
            ]);
        }
        writeln!(out)?;
        t.write(out)?;
    }
    if !plan.unplaced.is_empty() {
        let mut t = Table::new(vec!["UNPLACED", "SERVICE ID", "MISSING", "WHY"]);
        for u in &plan.unplaced {
            t.row(vec![
                u.service_name.clone(),
                u.service_id.clone(),
                u.missing.to_string(),
                u.reason.clone(),
            ]);
        }
        writeln!(out)?;
        t.write(out)?;
    }
    if !plan.removed.is_empty() {
        let mut t = Table::new(vec!["REMOVED", "SERVICE ID", "FROM NODE"]);
        for r in &plan.removed {
            t.row(vec![
                r.service_name.clone(),
                r.service_id.clone(),
                r.node
                    .clone()
                    .or_else(|| r.node_id.as_ref().map(|m| format!("(unknown node {m})")))
                    .unwrap_or_else(|| "(no node)".into()),
            ]);
        }
        writeln!(out)?;
        t.write(out)?;
    }
    let mut t = Table::new(vec![
        "NODE",
        "CPU mcpu",
        "RSS MB",
        "CORES % used",
        "ACCELERATORS % used",
        "INSTANCES",
    ]);
    for n in &cluster.nodes {
        let cores: Vec<String> = n.cores.used.iter().map(|u| num(*u)).collect();
        let accel: Vec<String> = n
            .accelerator
            .iter()
            .map(|(k, d)| format!("{k}:{}/{}", num(d.used), num(d.capacity)))
            .collect();
        let mut name = n.node_name.clone();
        if n.cordoned {
            name.push_str(" (cordoned)");
        }
        t.row(vec![
            name,
            format!("{}/{}", num(n.cpu.used), num(n.cpu.capacity)),
            format!("{}/{}", num(n.memory.used.rss), num(n.memory.capacity.rss)),
            cores.join(","),
            if accel.is_empty() {
                "-".into()
            } else {
                accel.join(" ")
            },
            n.services.values().sum::<u32>().to_string(),
        ]);
    }
    writeln!(out)?;
    t.write(out)
}
