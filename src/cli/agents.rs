//! `rohe agent ...`, `rohe metrics ...` and `rohe demo`.

use super::output::{Format, Table, emit, kv};
use super::{GlobalArgs, open_ops_with, parse_since};
use crate::agent::{AgentIo, AgentOptions, LogRing, run_agent};
use crate::config;
use crate::error::{Error, Result};
use crate::ops::demo::DemoOptions;
use crate::ops::metrics::MetricsQuery;
use crate::ops::{Ops, Request, Source};
use crate::ports::store::TimeRange;
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Start an application's observation agent (idempotent; the config is stored first)
    Start {
        app: String,
        /// Stream config: rohe's form (example/agents/cctvs.yaml) or a ROHE agent start file
        #[arg(long = "config-file", short = 'f', value_name = "FILE")]
        config_file: Option<PathBuf>,
        #[arg(long)]
        dry_run: bool,
    },
    /// Stop an agent (its unacknowledged reports stay in the queue)
    Stop {
        app: String,
        /// Do not ask for confirmation
        #[arg(long, short = 'y')]
        yes: bool,
        #[arg(long)]
        dry_run: bool,
    },
    /// Stop and start an agent with its stored config
    Restart {
        app: String,
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Agents with their state and health (all, or one)
    Status { app: Option<String> },
    /// An agent's last log lines
    Logs {
        app: String,
        #[arg(long, short = 'n', default_value_t = 100)]
        lines: usize,
    },
    /// Show the stored stream config, or replace it with --file (restarting a running agent)
    Config {
        app: String,
        #[arg(long, short = 'f', value_name = "FILE")]
        file: Option<PathBuf>,
        #[arg(long)]
        dry_run: bool,
    },
    /// Messages the agent dead-lettered, with the reason (read, not removed)
    DeadLetters {
        app: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Run the agent in this process until SIGTERM or Ctrl-C (what `start` launches)
    Run {
        #[arg(long)]
        app: String,
    },
    /// The agent container image (agent.runtime: docker)
    #[command(subcommand)]
    Image(ImageCommand),
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build the agent image from this rohe binary through the Docker API (no base image, no
    /// registry): its shared libraries are copied beside it
    Build {
        /// Image name and tag (default: rohe-agent:<version>, what agent.docker.image defaults to)
        #[arg(long)]
        tag: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// Follow analysis results as NDJSON (one stored analysis document per line)
    Tail {
        app: String,
        /// Also print the last N results first
        #[arg(long, default_value_t = 0)]
        last: usize,
        /// Stop after this long (e.g. 30s); default: until interrupted
        #[arg(long, value_name = "DURATION")]
        duration: Option<String>,
    },
    /// Summarise stored metrics for a time range: latency percentiles per stage and instance,
    /// throughput, confidence, accuracy, anomalies and contract violations
    Query {
        app: String,
        /// RFC 3339 time or a duration ago (15m, 2h)
        #[arg(long, value_name = "WHEN", default_value = "15m")]
        since: String,
        #[arg(long, value_name = "WHEN")]
        until: Option<String>,
        #[arg(long)]
        stage: Option<String>,
        #[arg(long)]
        metric: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// A registered application (e.g. after `rohe app register -f example/applications/cctvs.yaml`)
    #[arg(long)]
    pub app: String,
    /// Reports per second
    #[arg(long, default_value_t = 5.0)]
    pub rate: f64,
    /// How long to publish (e.g. 30s, 5m); default: until Ctrl-C
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Publish exactly this many reports, then stop
    #[arg(long)]
    pub count: Option<u64>,
    /// Random seed (the same seed publishes the same reports)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

fn parse_duration(s: &str, field: &str) -> Result<Duration> {
    humantime::parse_duration(s).map_err(|_| {
        Error::invalid(format!("{s:?} is not a duration"))
            .field(field)
            .hint("use e.g. 30s, 5m or 1h")
    })
}

/// A watch that turns true on Ctrl-C or SIGTERM.
fn stop_on_signals() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async {
                match term.as_mut() {
                    Some(t) => { t.recv().await; }
                    None => std::future::pending::<()>().await,
                }
            } => {}
        }
        let _ = tx.send(true);
    });
    rx
}

pub async fn run_agent_cmd(global: &GlobalArgs, cmd: AgentCommand) -> Result<()> {
    let fmt = global.output;
    let loaded = config::load(&global.overrides())?;
    if let AgentCommand::Run { app } = &cmd {
        return agent_run(&loaded.config, app).await;
    }
    if let AgentCommand::Image(ImageCommand::Build { tag }) = &cmd {
        let tag_name = tag
            .clone()
            .unwrap_or_else(crate::adapters::docker::default_image);
        let id = crate::adapters::docker::build_image(&loaded.config, tag.as_deref()).await?;
        let doc = serde_json::json!({ "image": tag_name, "id": id });
        return emit(fmt, &doc, |out| writeln!(out, "built {tag_name} ({id})"));
    }
    let ops = open_ops_with(&loaded, Source::Cli, false)?;
    let req = match cmd {
        AgentCommand::Start {
            app,
            config_file,
            dry_run,
        } => Request::AgentStart {
            name: app,
            config: config_file,
            dry_run,
        },
        AgentCommand::Stop { app, yes, dry_run } => {
            if !yes && !dry_run {
                super::confirm(
                    &format!("Stop the agent of {app}? Reports will wait in its queue."),
                    &app,
                )?;
            }
            Request::AgentStop { name: app, dry_run }
        }
        AgentCommand::Restart { app, yes } => {
            if !yes {
                super::confirm(&format!("Restart the agent of {app}?"), &app)?;
            }
            Request::AgentRestart { name: app }
        }
        AgentCommand::Config {
            app,
            file: Some(file),
            dry_run,
        } => Request::AgentConfigure {
            name: app,
            file,
            dry_run,
        },
        AgentCommand::Config {
            app, file: None, ..
        } => return show_config(&ops, fmt, &app).await,
        AgentCommand::Status { app } => return status(&ops, fmt, app.as_deref()).await,
        AgentCommand::Logs { app, lines } => {
            let lines = ops.agent_logs(&app, lines).await?;
            return emit(fmt, &lines, |out| {
                for l in &lines {
                    writeln!(out, "{}", crate::domain::sanitize::terminal_safe(l))?;
                }
                Ok(())
            });
        }
        AgentCommand::DeadLetters { app, limit } => {
            let a = ops.get_app(&app).await?;
            let bus = &ops.agents()?.bus;
            let dead = bus
                .peek_dead_letters(&crate::ports::Topology::for_app(&a), limit)
                .await?;
            return emit(fmt, &dead, |out| {
                let mut t = Table::new(vec!["ROUTING KEY", "BYTES", "REASON", "BODY"]);
                for d in &dead {
                    t.row(vec![
                        d.routing_key.clone(),
                        d.bytes.to_string(),
                        d.reason.clone(),
                        d.preview.chars().take(60).collect(),
                    ]);
                }
                t.write(out)
            });
        }
        AgentCommand::Run { .. } | AgentCommand::Image(_) => {
            return Err(Error::runtime("handled before opening the store"));
        }
    };
    let resp = ops.execute(req).await?;
    emit(fmt, &resp, |out| {
        writeln!(out, "{}", resp.summary())?;
        if let crate::ops::Response::Agent(a) = &resp {
            if !a.config_source.is_empty() {
                writeln!(out, "stream config: {}", a.config_source)?;
            }
            for m in &a.mapped {
                writeln!(out, "  mapped   {m}")?;
            }
            for i in &a.ignored {
                writeln!(out, "  ignored  {i}")?;
            }
        }
        Ok(())
    })
}

async fn show_config(ops: &Ops, fmt: Format, app: &str) -> Result<()> {
    let a = ops.get_app(app).await?;
    let rec = ops.store().get_agent(app).await?.map(|v| v.value);
    let (cfg, source) = match rec.filter(|r| !r.config.is_null()) {
        Some(r) => (
            serde_json::from_value::<crate::domain::stream::StreamConfig>(r.config).map_err(
                |e| {
                    Error::runtime(format!(
                        "the stored stream config of {app} is unreadable: {e}"
                    ))
                },
            )?,
            "stored",
        ),
        None => (crate::ops::agents::default_config(&a), "default"),
    };
    emit(fmt, &cfg, |out| {
        writeln!(out, "# stream config of {app} ({source})")?;
        let text = cfg
            .to_yaml()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        out.write_all(text.as_bytes())
    })
}

async fn status(ops: &Ops, fmt: Format, app: Option<&str>) -> Result<()> {
    let all = ops.agent_status(app).await?;
    let now = chrono::Utc::now();
    emit(fmt, &all, |out| {
        if all.is_empty() {
            return writeln!(out, "no agents (start one with: rohe agent start APP)");
        }
        let mut t = Table::new(vec![
            "APP", "STATE", "RUNTIME", "HANDLE", "RATE/S", "STORED", "LAG", "LAST", "DEAD",
            "ERRORS", "WINDOWS",
        ]);
        for s in &all {
            let h = s.health.clone().unwrap_or_default();
            let state = match &s.reason {
                Some(r) => format!("{:?} ({r})", s.state).to_lowercase(),
                None => format!("{:?}", s.state).to_lowercase(),
            };
            t.row(vec![
                s.application_name.clone(),
                state,
                s.runtime.clone(),
                s.handle.clone(),
                format!("{:.1}", h.rate_per_s),
                h.stored.to_string(),
                h.queue_depth.map_or("-".into(), |d| d.to_string()),
                h.last_report_age(now)
                    .map_or("-".into(), |a| format!("{a:.0}s ago")),
                h.dead_lettered.to_string(),
                h.errors.to_string(),
                h.windows.to_string(),
            ]);
        }
        t.write(out)
    })
}

/// The agent process: consume until SIGTERM / Ctrl-C, then finish the batch and exit.
async fn agent_run(cfg: &config::Config, app_name: &str) -> Result<()> {
    let store = crate::backends::open_store(cfg)?;
    let bus = crate::backends::open_bus(cfg);
    if cfg.bus.backend == config::BusBackend::Memory {
        eprintln!(
            "note: bus.backend is memory: this agent only receives reports published inside this process (set bus.backend: amqp for a broker)"
        );
    }
    let app = store
        .get_app(app_name)
        .await?
        .map(|v| v.value)
        .ok_or_else(|| {
            Error::not_found(format!("application {app_name} is not registered"))
                .hint("register it first: rohe app register -f FILE")
        })?;
    let rec = store.get_agent(app_name).await?.map(|v| v.value);
    let stream = match rec.as_ref().filter(|r| !r.config.is_null()) {
        Some(r) => serde_json::from_value(r.config.clone()).map_err(|e| {
            Error::invalid(format!(
                "the stored stream config of {app_name} is unreadable: {e}"
            ))
            .hint("store a new one: rohe agent config APP --file FILE")
        })?,
        None => crate::ops::agents::default_config(&app),
    };
    let log = Arc::new(LogRing::new(200).echoing());
    let io = AgentIo::new(store, bus, log);
    let health = run_agent(
        app,
        stream,
        io,
        AgentOptions::from_settings(&cfg.agent),
        stop_on_signals(),
    )
    .await?;
    println!(
        "stopped: {} received, {} stored, {} duplicates, {} dead-lettered, {} windows",
        health.received, health.stored, health.duplicates, health.dead_lettered, health.windows
    );
    Ok(())
}

pub async fn run_metrics(global: &GlobalArgs, cmd: MetricsCommand) -> Result<()> {
    let fmt = global.output;
    let loaded = config::load(&global.overrides())?;
    let ops = open_ops_with(&loaded, Source::Cli, false)?;
    match cmd {
        MetricsCommand::Query {
            app,
            since,
            until,
            stage,
            metric,
        } => {
            let q = MetricsQuery {
                since: Some(parse_since(&since)?),
                until: until.as_deref().map(parse_since).transpose()?,
                stage,
                metric,
                buckets: 12,
            };
            let view = ops.metrics_view(&app, &q).await?;
            emit(fmt, &view, |out| write_view(out, &view))
        }
        MetricsCommand::Tail {
            app,
            last,
            duration,
        } => {
            let a = ops.get_app(&app).await?;
            let until = duration
                .as_deref()
                .map(|d| parse_duration(d, "--duration"))
                .transpose()?
                .map(|d| tokio::time::Instant::now() + d);
            let mut stop = stop_on_signals();
            let store = ops.store().clone();
            let mut seen_at = chrono::Utc::now();
            let mut seen = std::collections::HashSet::<(String, String)>::new();
            if last > 0 {
                let docs = store
                    .query_analysis(
                        a.app_id,
                        TimeRange {
                            since: None,
                            until: None,
                            limit: last,
                        },
                    )
                    .await?;
                print_ndjson(&docs, &mut seen)?;
            }
            // Poll the store: the agent may run in another process (or a container) and the
            // store is what every agent writes to.
            loop {
                let docs = store
                    .query_analysis(
                        a.app_id,
                        TimeRange {
                            since: Some(seen_at - chrono::Duration::seconds(2)),
                            until: None,
                            limit: 10_000,
                        },
                    )
                    .await?;
                if let Some(newest) = docs.last() {
                    seen_at = seen_at.max(newest.at);
                }
                print_ndjson(&docs, &mut seen)?;
                if seen.len() > 100_000 {
                    seen.clear();
                }
                let wait = tokio::time::sleep(Duration::from_millis(250));
                tokio::select! {
                    _ = wait => {}
                    _ = stop.changed() => break,
                }
                if until.is_some_and(|u| tokio::time::Instant::now() >= u) {
                    break;
                }
            }
            let _ = fmt;
            Ok(())
        }
    }
}

fn print_ndjson(
    docs: &[crate::ports::StoredAnalysis],
    seen: &mut std::collections::HashSet<(String, String)>,
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for d in docs {
        if seen.insert((d.window_id.clone(), d.group_key())) {
            let line = serde_json::to_string(d)
                .map_err(|e| Error::runtime(format!("encoding a result: {e}")))?;
            writeln!(out, "{line}").map_err(|e| Error::runtime(format!("writing output: {e}")))?;
        }
    }
    out.flush()
        .map_err(|e| Error::runtime(format!("writing output: {e}")))
}

fn fmt_s(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| {
        if x.abs() < 10.0 {
            format!("{x:.3}")
        } else {
            format!("{x:.1}")
        }
    })
}

fn write_view(out: &mut dyn Write, v: &crate::ops::metrics::MetricsView) -> std::io::Result<()> {
    kv(
        out,
        &[
            ("application", v.application_name.clone()),
            (
                "range",
                format!(
                    "{} .. {}",
                    v.from.map_or("-".into(), |t| t.to_rfc3339()),
                    v.to.map_or("-".into(), |t| t.to_rfc3339())
                ),
            ),
            (
                "reports",
                format!(
                    "{}{}",
                    v.reports,
                    if v.truncated { " (newest only)" } else { "" }
                ),
            ),
            ("throughput", format!("{}/s", fmt_s(v.throughput_per_s))),
            ("windows", v.windows.to_string()),
        ],
    )?;
    let mut t = Table::new(vec![
        "STAGE", "INSTANCE", "METRIC", "COUNT", "MEAN", "P50", "P95", "P99", "MAX",
    ]);
    for r in &v.series {
        t.row(vec![
            r.stage.clone().unwrap_or_else(|| "(pipeline)".into()),
            r.instance.clone().unwrap_or_else(|| "*".into()),
            r.metric.clone(),
            r.count.to_string(),
            fmt_s(r.mean),
            fmt_s(r.p50),
            fmt_s(r.p95),
            fmt_s(r.p99),
            fmt_s(r.max),
        ]);
    }
    t.write(out)?;
    writeln!(
        out,
        "{} anomalies, {} contract violations",
        v.anomalies.len(),
        v.violations.len()
    )?;
    for x in v.violations.iter().rev().take(10) {
        writeln!(
            out,
            "  {} {} {} {:?} = {:.3} (limit {:.3} {:?})",
            x.at.format("%H:%M:%S"),
            x.window_id,
            x.column,
            x.stat,
            x.value,
            x.limit,
            x.kind
        )?;
    }
    Ok(())
}

pub async fn run_demo(global: &GlobalArgs, args: DemoArgs) -> Result<()> {
    let fmt = global.output;
    crate::ops::demo::check_rate(args.rate)?;
    let duration = args
        .duration
        .as_deref()
        .map(|d| parse_duration(d, "--duration"))
        .transpose()?;
    let loaded = config::load(&global.overrides())?;
    // With the in-process bus this process hosts the agent too, for as long as the demo runs.
    let ops = open_ops_with(&loaded, Source::Cli, true)?;
    let hosting = loaded.config.bus.backend == config::BusBackend::Memory;
    ops.get_app(&args.app).await?;
    if hosting {
        ops.execute(Request::AgentStart {
            name: args.app.clone(),
            config: None,
            dry_run: false,
        })
        .await?;
    }
    let opts = DemoOptions {
        rate: args.rate,
        duration,
        count: args.count,
        seed: args.seed,
    };
    let interactive = fmt == Format::Table && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let result = ops
        .run_demo(&args.app, &opts, stop_on_signals(), |s| {
            if interactive {
                eprint!(
                    "\rpublished {} ({} contended), {} failed, {:.0}s   ",
                    s.published, s.shared, s.failed, s.elapsed_s
                );
            }
        })
        .await;
    if interactive {
        eprintln!();
    }
    let mut stored = None;
    if hosting {
        // Let the agent take what was published, then stop it: its queue dies with us.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let want = result.as_ref().map(|s| s.published).unwrap_or(0);
        loop {
            let h = ops
                .agent_status(Some(&args.app))
                .await?
                .pop()
                .and_then(|s| s.health)
                .unwrap_or_default();
            if h.received >= want || tokio::time::Instant::now() >= deadline {
                stored = Some(h);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ops.execute(Request::AgentStop {
            name: args.app.clone(),
            dry_run: false,
        })
        .await?;
        // The final figures, with every window the agent analysed before it stopped.
        if let Some(h) = ops
            .agent_status(Some(&args.app))
            .await?
            .pop()
            .and_then(|s| s.health)
        {
            stored = Some(h);
        }
    }
    let stats = result?;
    let doc = serde_json::json!({ "demo": stats, "agent": stored });
    emit(fmt, &doc, |out| {
        writeln!(
            out,
            "published {} reports to {} in {:.1}s ({} from contended profiles, {} failed)",
            stats.published, stats.application_name, stats.elapsed_s, stats.shared, stats.failed
        )?;
        if let Some(h) = &stored {
            writeln!(
                out,
                "agent: {} stored, {} duplicates, {} dead-lettered, {} windows, {} anomalies, {} violations",
                h.stored, h.duplicates, h.dead_lettered, h.windows, h.anomalies, h.violations
            )?;
            writeln!(
                out,
                "see them: rohe metrics query {} --since 15m",
                stats.application_name
            )?;
        }
        Ok(())
    })
}
