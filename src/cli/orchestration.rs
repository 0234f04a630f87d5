//! `rohe node|service|plan|apply|scale|manifests|autoscale|orchestrator`: the orchestration
//! commands. Each state change is an `ops::Request`, the same one the console's Nodes and
//! Deployments tabs build.

use super::output::{Format, Table, emit, kv};
use super::{GlobalArgs, confirm};
use crate::config::{self, Loaded};
use crate::domain::inventory::{ScalePolicy, ScaleTarget};
use crate::error::{Error, Result};
use crate::ops::orchestration::{CycleReport, ObjectChangeKind, OrchestratorRecord};
use crate::ops::{Ops, Request, Response, Source};
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Add nodes from a file (rohe's YAML, or ROHE's add_node JSON/YAML), or update known ones
    Add {
        #[arg(long, short = 'f', value_name = "FILE")]
        file: PathBuf,
        #[arg(long)]
        dry_run: bool,
    },
    /// Nodes with capacity, use, readiness and what runs on them
    List,
    /// One node in full
    Show { name: String },
    /// Remove a node; its instances are re-placed on the others at once
    Remove {
        name: String,
        #[arg(long, short = 'y')]
        yes: bool,
        #[arg(long)]
        dry_run: bool,
    },
    /// Keep a node out of placement (what runs there stays)
    Cordon {
        name: String,
        #[arg(long)]
        dry_run: bool,
    },
    /// Let a cordoned node take instances again
    Uncordon {
        name: String,
        #[arg(long)]
        dry_run: bool,
    },
    /// Simulated cluster only: the node stops, its instances fail and are re-placed
    Fail {
        name: String,
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Simulated cluster only: a failed node is ready again
    Recover { name: String },
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Add services from a file (rohe's YAML, or ROHE's add_service JSON/YAML), or update known
    /// ones; re-submitting a service with other replicas scales it at the next apply
    Add {
        #[arg(long, short = 'f', value_name = "FILE")]
        file: PathBuf,
        #[arg(long)]
        dry_run: bool,
    },
    /// Services with desired, placed and ready replicas
    List {
        #[arg(long)]
        app: Option<String>,
    },
    /// One service with its placement
    Show { app: String, service: String },
    /// Remove a service and its Deployments (scale it to 0 first, or --force)
    Remove {
        app: String,
        service: String,
        #[arg(long)]
        force: bool,
        #[arg(long, short = 'y')]
        yes: bool,
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Show what would change without changing anything (same as `rohe plan`)
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    pub app: String,
    pub service: String,
    pub replicas: u32,
    /// Keep replicas that fit on no node pending instead of refusing
    #[arg(long)]
    pub force: bool,
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum AutoscaleCommand {
    /// Set a service's policy: replicas within [min, max] aiming at a target
    Set {
        app: String,
        service: String,
        #[arg(long)]
        min: u32,
        #[arg(long)]
        max: u32,
        /// Keep the stage's p95 latency under this many milliseconds
        #[arg(long, value_name = "MS", conflicts_with = "rps_per_replica")]
        p95_ms: Option<f64>,
        /// Each replica handles this many requests per second (from profiles)
        #[arg(long, value_name = "RPS")]
        rps_per_replica: Option<f64>,
        /// Seconds between two changes
        #[arg(long, default_value_t = 60)]
        cooldown: u64,
        /// Relative band around the target where nothing changes
        #[arg(long, default_value_t = 0.1)]
        hysteresis: f64,
        #[arg(long)]
        dry_run: bool,
    },
    /// Policies and their last decisions
    List,
    /// Remove a service's policy
    Remove {
        app: String,
        service: String,
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrchestratorCommand {
    /// Reconcile periodically (orchestration.interval_s) in a background process
    Start,
    /// Stop the background reconciler
    Stop,
    /// Whether it runs, and its last cycle
    Status,
    /// Reconcile periodically in the foreground (what `start` runs)
    Run,
}

async fn open(global: &GlobalArgs) -> Result<(Loaded, Ops)> {
    let loaded = config::load(&global.overrides())?;
    let ops = super::open_ops_with(&loaded, Source::Cli, false)?;
    let ops = crate::backends::with_orchestration(ops, &loaded.config).await?;
    Ok((loaded, ops))
}

pub async fn run_node(global: &GlobalArgs, cmd: NodeCommand) -> Result<()> {
    let fmt = global.output;
    let (_, ops) = open(global).await?;
    let req = match cmd {
        NodeCommand::List => {
            let nodes = ops.nodes_view().await?;
            return emit(fmt, &nodes, |out| {
                let mut t = Table::new(vec![
                    "NAME",
                    "READY",
                    "CORDON",
                    "CPU",
                    "MEMORY MB",
                    "CORES",
                    "GPU",
                    "INSTANCES",
                ]);
                for v in &nodes {
                    let n = &v.node;
                    t.row(vec![
                        n.node_name.clone(),
                        match v.ready {
                            Some(true) => "yes".into(),
                            Some(false) => "NO".into(),
                            None => "?".into(),
                        },
                        if n.cordoned {
                            "yes".into()
                        } else {
                            String::new()
                        },
                        format!("{:.0}/{:.0}", n.cpu.used, n.cpu.capacity),
                        format!("{:.0}/{:.0}", n.memory.used.rss, n.memory.capacity.rss),
                        n.cores.capacity.len().to_string(),
                        n.accelerator
                            .iter()
                            .map(|(k, a)| format!("{k} {:.0}/{:.0}%", a.used, a.capacity))
                            .collect::<Vec<_>>()
                            .join(", "),
                        v.instances.iter().map(|i| i.2).sum::<u32>().to_string(),
                    ]);
                }
                t.write(out)
            });
        }
        NodeCommand::Show { name } => {
            let nodes = ops.nodes_view().await?;
            let v = nodes
                .into_iter()
                .find(|v| v.node.node_name == name || v.node.mac_address == name)
                .ok_or_else(|| {
                    Error::not_found(format!("no node {name:?} in the inventory"))
                        .hint("`rohe node list` shows the nodes")
                })?;
            return emit(fmt, &v, |out| {
                let n = &v.node;
                kv(
                    out,
                    &[
                        ("node", n.node_name.clone()),
                        ("mac", n.mac_address.clone()),
                        ("ready", format!("{:?}", v.ready)),
                        ("cordoned", n.cordoned.to_string()),
                        (
                            "cpu (millicpu)",
                            format!("{:.0} of {:.0}", n.cpu.used, n.cpu.capacity),
                        ),
                        (
                            "memory rss (MB)",
                            format!("{:.0} of {:.0}", n.memory.used.rss, n.memory.capacity.rss),
                        ),
                        (
                            "cores used %",
                            n.cores
                                .used
                                .iter()
                                .zip(&n.cores.capacity)
                                .map(|(u, c)| format!("{u:.0}/{c:.0}"))
                                .collect::<Vec<_>>()
                                .join(" "),
                        ),
                    ],
                )?;
                for (k, a) in n.accelerator.iter() {
                    writeln!(
                        out,
                        "accelerator {k}: {} {:.0}% of {:.0}% ({} cores, {})",
                        a.accelerator_type, a.used, a.capacity, a.core, a.mode
                    )?;
                }
                for (app, svc, c) in &v.instances {
                    writeln!(out, "runs {app}/{svc} x{c}")?;
                }
                Ok(())
            });
        }
        NodeCommand::Add { file, dry_run } => Request::NodeAdd { file, dry_run },
        NodeCommand::Remove { name, yes, dry_run } => {
            if !yes && !dry_run {
                confirm(
                    &format!("Remove node {name}? Its instances move to other nodes."),
                    &name,
                )?;
            }
            Request::NodeRemove { name, dry_run }
        }
        NodeCommand::Cordon { name, dry_run } => Request::NodeCordon {
            name,
            cordoned: true,
            dry_run,
        },
        NodeCommand::Uncordon { name, dry_run } => Request::NodeCordon {
            name,
            cordoned: false,
            dry_run,
        },
        NodeCommand::Fail { name, yes } => {
            if !yes {
                confirm(
                    &format!("Fail node {name} (simulation)? Its instances are re-placed."),
                    &name,
                )?;
            }
            Request::NodeFail { name }
        }
        NodeCommand::Recover { name } => Request::NodeRecover { name },
    };
    execute(&ops, fmt, req).await
}

pub async fn run_service(global: &GlobalArgs, cmd: ServiceCommand) -> Result<()> {
    let fmt = global.output;
    let (_, ops) = open(global).await?;
    let req = match cmd {
        ServiceCommand::List { app } => {
            let svcs = ops.services_view(app.as_deref()).await?;
            return emit(fmt, &svcs, |out| {
                let mut t = Table::new(vec![
                    "APP", "SERVICE", "DESIRED", "PLACED", "READY", "STATUS", "NODES",
                ]);
                for s in &svcs {
                    t.row(vec![
                        s.application.clone(),
                        s.service_name.clone(),
                        s.replicas.to_string(),
                        s.running.to_string(),
                        s.ready.map_or("?".into(), |r| r.to_string()),
                        s.status.clone(),
                        s.placement
                            .iter()
                            .map(|(n, c)| format!("{n} x{c}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ]);
                }
                t.write(out)
            });
        }
        ServiceCommand::Show { app, service } => {
            let svcs = ops.services_view(Some(&app)).await?;
            let s = svcs
                .into_iter()
                .find(|s| s.service_name == service || s.service_id == service)
                .ok_or_else(|| {
                    Error::not_found(format!("application {app:?} has no service {service:?}"))
                        .hint("`rohe service list` shows the services")
                })?;
            return emit(fmt, &s, |out| {
                kv(
                    out,
                    &[
                        ("application", s.application.clone()),
                        ("service", s.service_name.clone()),
                        ("service_id", s.service_id.clone()),
                        ("image", s.image.clone()),
                        ("desired", s.replicas.to_string()),
                        ("placed", s.running.to_string()),
                        ("ready", s.ready.map_or("?".into(), |r| r.to_string())),
                        ("status", s.status.clone()),
                    ],
                )?;
                for (n, c) in &s.placement {
                    writeln!(out, "on {n} x{c}")?;
                }
                if let Some(d) = &s.last_decision {
                    writeln!(
                        out,
                        "autoscaler {}: {} -> {} ({}){}",
                        d.at.format("%H:%M:%S"),
                        d.from,
                        d.to,
                        d.reason,
                        if d.dry_run { " [dry run]" } else { "" }
                    )?;
                }
                Ok(())
            });
        }
        ServiceCommand::Add { file, dry_run } => Request::ServiceAdd { file, dry_run },
        ServiceCommand::Remove {
            app,
            service,
            force,
            yes,
            dry_run,
        } => {
            if !yes && !dry_run {
                confirm(&format!("Remove service {app}/{service}?"), &service)?;
            }
            Request::ServiceRemove {
                app,
                service,
                force,
                dry_run,
            }
        }
    };
    execute(&ops, fmt, req).await
}

pub async fn run_plan(global: &GlobalArgs) -> Result<()> {
    let (_, ops) = open(global).await?;
    execute(&ops, global.output, Request::Apply { dry_run: true }).await
}

pub async fn run_apply(global: &GlobalArgs, args: ApplyArgs) -> Result<()> {
    let (_, ops) = open(global).await?;
    execute(
        &ops,
        global.output,
        Request::Apply {
            dry_run: args.dry_run,
        },
    )
    .await
}

pub async fn run_scale(global: &GlobalArgs, a: ScaleArgs) -> Result<()> {
    let (_, ops) = open(global).await?;
    execute(
        &ops,
        global.output,
        Request::Scale {
            app: a.app,
            service: a.service,
            replicas: a.replicas,
            force: a.force,
            dry_run: a.dry_run,
        },
    )
    .await
}

pub async fn run_manifests(global: &GlobalArgs, app: String) -> Result<()> {
    let (_, ops) = open(global).await?;
    let objects = ops.manifests(&app).await?;
    match global.output {
        // Kubernetes people read manifests as YAML documents.
        Format::Table | Format::Yaml => {
            let mut text = String::new();
            for o in &objects {
                text.push_str("---\n");
                text.push_str(&crate::yaml::to_string(o)?);
            }
            std::io::stdout()
                .write_all(text.as_bytes())
                .map_err(|e| Error::runtime(format!("writing output: {e}")))
        }
        Format::Json => emit(Format::Json, &objects, |_| Ok(())),
    }
}

pub async fn run_autoscale(global: &GlobalArgs, cmd: AutoscaleCommand) -> Result<()> {
    let fmt = global.output;
    let (_, ops) = open(global).await?;
    let req = match cmd {
        AutoscaleCommand::List => {
            let (st, _) = ops.orchestration_state().await?;
            return emit(fmt, &st.policies, |out| {
                let mut t = Table::new(vec![
                    "APP",
                    "SERVICE",
                    "MIN",
                    "MAX",
                    "TARGET",
                    "COOLDOWN",
                    "LAST DECISION",
                ]);
                for p in &st.policies {
                    let last = st
                        .decisions
                        .iter()
                        .find(|d| d.application == p.application && d.service == p.service)
                        .map(|d| {
                            format!(
                                "{} {} -> {} {}",
                                d.at.format("%H:%M:%S"),
                                d.from,
                                d.to,
                                d.reason
                            )
                        })
                        .unwrap_or_default();
                    t.row(vec![
                        p.application.clone(),
                        p.service.clone(),
                        p.min_replicas.to_string(),
                        p.max_replicas.to_string(),
                        match p.target {
                            ScaleTarget::P95LatencyMs(v) => format!("p95 < {v} ms"),
                            ScaleTarget::RpsPerReplica(v) => format!("{v} req/s per replica"),
                        },
                        format!("{}s", p.cooldown_s),
                        last,
                    ]);
                }
                t.write(out)
            });
        }
        AutoscaleCommand::Set {
            app,
            service,
            min,
            max,
            p95_ms,
            rps_per_replica,
            cooldown,
            hysteresis,
            dry_run,
        } => {
            let target = match (p95_ms, rps_per_replica) {
                (Some(v), None) => ScaleTarget::P95LatencyMs(v),
                (None, Some(v)) => ScaleTarget::RpsPerReplica(v),
                _ => {
                    return Err(Error::invalid("a policy needs one target")
                        .field("--p95-ms")
                        .hint("give --p95-ms MS or --rps-per-replica RPS"));
                }
            };
            Request::AutoscaleSet {
                policy: ScalePolicy {
                    application: app,
                    service,
                    min_replicas: min,
                    max_replicas: max,
                    target,
                    cooldown_s: cooldown,
                    hysteresis,
                },
                dry_run,
            }
        }
        AutoscaleCommand::Remove {
            app,
            service,
            dry_run,
        } => Request::AutoscaleRemove {
            app,
            service,
            dry_run,
        },
    };
    execute(&ops, fmt, req).await
}

pub async fn run_orchestrator(global: &GlobalArgs, cmd: OrchestratorCommand) -> Result<()> {
    let fmt = global.output;
    let (loaded, ops) = open(global).await?;
    let print = |rec: &OrchestratorRecord, running: bool| {
        emit(fmt, &(rec, running), |out| {
            kv(
                out,
                &[
                    ("running", running.to_string()),
                    ("pid", rec.pid.to_string()),
                    ("started", rec.started_at.to_rfc3339()),
                    ("interval", format!("{}s", rec.interval_s)),
                    ("cycles", rec.cycles.to_string()),
                    (
                        "last cycle",
                        rec.last_cycle_at.map_or("-".into(), |t| t.to_rfc3339()),
                    ),
                    ("last result", rec.last_result.clone()),
                ],
            )
        })
    };
    match cmd {
        OrchestratorCommand::Run => ops.run_orchestrator(&loaded.config).await,
        OrchestratorCommand::Status => match ops.orchestrator_status().await? {
            Some((rec, running)) => print(&rec, running),
            None => Err(Error::not_found("the orchestrator has never run")
                .hint("start it with `rohe orchestrator start`")),
        },
        OrchestratorCommand::Start => {
            let (rec, started) = ops.start_orchestrator(&loaded.config).await?;
            if !started {
                eprintln!("the orchestrator already runs (pid {})", rec.pid);
            }
            print(&rec, true)
        }
        OrchestratorCommand::Stop => {
            let stopped = ops.stop_orchestrator().await?;
            emit(fmt, &serde_json::json!({ "stopped": stopped }), |out| {
                writeln!(
                    out,
                    "{}",
                    if stopped {
                        "the orchestrator stopped"
                    } else {
                        "the orchestrator was not running"
                    }
                )
            })
        }
    }
}

async fn execute(ops: &Ops, fmt: Format, req: Request) -> Result<()> {
    let resp = ops.execute(req).await?;
    let Response::Orchestration(o) = &resp else {
        return emit(fmt, &resp, |out| writeln!(out, "{}", resp.summary()));
    };
    emit(fmt, o.as_ref(), |out| {
        if !o.message.is_empty() {
            writeln!(out, "{}", o.message)?;
        }
        if let Some(c) = &o.cycle {
            write_cycle(out, c)?;
        }
        Ok(())
    })?;
    // A cycle the cluster partly refused is a failure for scripts.
    if let Some(c) = &o.cycle
        && !c.failed.is_empty()
    {
        return Err(Error::runtime(format!(
            "the cluster refused {} object(s); the state is saved and the next apply retries them",
            c.failed.len()
        )));
    }
    Ok(())
}

/// The preview or result of a cycle, as people read a diff.
pub fn write_cycle(out: &mut dyn Write, c: &CycleReport) -> std::io::Result<()> {
    let safe = crate::domain::sanitize::terminal_safe;
    if let Some(ch) = &c.change {
        writeln!(out, "change: {}", safe(ch))?;
    }
    for n in &c.unavailable_nodes {
        writeln!(out, "! node {} is not ready", safe(n))?;
    }
    for d in &c.autoscale {
        writeln!(
            out,
            "~ autoscale {}/{}: {} -> {} ({}){}",
            safe(&d.application),
            safe(&d.service),
            d.from,
            d.to,
            safe(&d.reason),
            if d.dry_run { " [dry run]" } else { "" }
        )?;
    }
    for s in &c.starts {
        writeln!(
            out,
            "+ start {}/{} on {}  ({})",
            safe(&s.application),
            safe(&s.service),
            safe(&s.node),
            safe(&s.why)
        )?;
    }
    for s in &c.stops {
        writeln!(
            out,
            "- stop  {}/{} on {}  ({})",
            safe(&s.application),
            safe(&s.service),
            safe(s.node.as_deref().unwrap_or("?")),
            safe(&s.why)
        )?;
    }
    for u in &c.unplaced {
        writeln!(
            out,
            "! {} replica(s) of {} fit nowhere: {}",
            u.missing,
            safe(&u.service_name),
            safe(&u.reason)
        )?;
    }
    for o in &c.objects {
        let sign = match o.change {
            ObjectChangeKind::Create => "+",
            ObjectChangeKind::Update => "~",
            ObjectChangeKind::Delete => "-",
            ObjectChangeKind::Unchanged => continue,
        };
        let detail = if o.detail.is_empty() {
            String::new()
        } else {
            format!("  ({})", o.detail)
        };
        writeln!(out, "{sign} {}{}", o.object, safe(&detail))?;
    }
    for (r, why) in &c.failed {
        writeln!(out, "! {r} refused: {}", safe(why))?;
    }
    writeln!(out, "{}", c.summary())?;
    if c.dry_run {
        writeln!(out, "(dry run: nothing was changed; `rohe apply` does it)")?;
    }
    Ok(())
}
