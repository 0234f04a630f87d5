//! `rohe registry`: register, deregister, heartbeat and discover microservice instances
//! (Consul or the embedded registry). Registrations are audited like every other change.

use super::GlobalArgs;
use super::output::{Table, emit};
use crate::config;
use crate::error::{Error, Result};
use crate::ops::Source;
use crate::ports::registry::{Instance, Strategy, select};
use clap::Subcommand;
use std::collections::BTreeMap;

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Register an instance with a TTL health check (re-registering replaces it)
    Register {
        /// Logical service name, e.g. inference
        #[arg(long)]
        name: String,
        /// Instance id (default: a new UUID)
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        address: String,
        #[arg(long)]
        port: u16,
        /// A tag (repeatable), e.g. the model name
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Metadata KEY=VALUE (repeatable), e.g. appName=cctvs
        #[arg(long = "meta", value_name = "KEY=VALUE")]
        meta: Vec<String>,
        /// Seconds without a heartbeat (`rohe registry pass`) before the instance is critical;
        /// 0 disables the check
        #[arg(long, default_value_t = 30)]
        ttl: u64,
    },
    /// Remove an instance
    Deregister { id: String },
    /// Heartbeat: mark the instance's TTL check passing
    Pass { id: String },
    /// Services and their instances with health (all states)
    List {
        /// Only this service
        name: Option<String>,
    },
    /// Passing instances of a service: all, one, or a quorum, filtered by tags
    Discover {
        name: String,
        #[arg(long, value_enum, default_value_t = Strategy::All)]
        strategy: Strategy,
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
}

pub async fn run(global: &GlobalArgs, cmd: RegistryCommand) -> Result<()> {
    let fmt = global.output;
    let loaded = config::load(&global.overrides())?;
    let ops = super::open_ops_with(&loaded, Source::Cli, false)?;
    let reg = crate::backends::open_registry(&loaded.config, ops.store())?;
    let table = |instances: &[Instance]| {
        let list = instances.to_vec();
        emit(fmt, &list, |out| {
            let mut t = Table::new(vec!["SERVICE", "ID", "ADDRESS", "HEALTH", "TAGS", "META"]);
            for i in &list {
                t.row(vec![
                    i.name.clone(),
                    i.id.clone(),
                    format!("{}:{}", i.address, i.port),
                    i.health.clone(),
                    i.tags.join(","),
                    i.meta
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(","),
                ]);
            }
            t.write(out)
        })
    };
    match cmd {
        RegistryCommand::Register {
            name,
            id,
            address,
            port,
            tags,
            meta,
            ttl,
        } => {
            let mut m = BTreeMap::new();
            for kv in meta {
                let (k, v) = kv.split_once('=').ok_or_else(|| {
                    Error::invalid(format!("{kv:?} is not KEY=VALUE"))
                        .field("--meta")
                        .hint("e.g. --meta appName=cctvs")
                })?;
                m.insert(k.to_string(), v.to_string());
            }
            let inst = Instance {
                name,
                id: id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                address,
                port,
                tags,
                meta: m,
                ttl_s: ttl,
                health: "passing".into(),
            };
            let res = reg.register(&inst).await;
            ops.record("registry.register", &res, || {
                format!(
                    "{} {} at {}:{}",
                    inst.name, inst.id, inst.address, inst.port
                )
            })
            .await?;
            res?;
            emit(fmt, &inst, |out| {
                writeln!(
                    out,
                    "registered {} ({}) with {}",
                    inst.name,
                    inst.id,
                    reg.describe()
                )
            })
        }
        RegistryCommand::Deregister { id } => {
            let res = reg.deregister(&id).await;
            ops.record("registry.deregister", &res, || id.clone())
                .await?;
            let was = res?;
            if !was {
                return Err(
                    Error::not_found(format!("no instance {id:?} is registered"))
                        .hint("`rohe registry list` shows the instances"),
                );
            }
            emit(fmt, &serde_json::json!({ "deregistered": id }), |out| {
                writeln!(out, "deregistered {id}")
            })
        }
        RegistryCommand::Pass { id } => {
            reg.pass(&id).await?;
            emit(fmt, &serde_json::json!({ "passing": id }), |out| {
                writeln!(out, "{id} is passing")
            })
        }
        RegistryCommand::List { name } => {
            let names = match name {
                Some(n) => vec![n],
                None => reg.services().await?.into_iter().map(|(n, _)| n).collect(),
            };
            let mut all = Vec::new();
            for n in names {
                all.extend(reg.instances(&n, &[], true).await?);
            }
            table(&all)
        }
        RegistryCommand::Discover {
            name,
            strategy,
            tags,
        } => {
            let found = reg.instances(&name, &tags, false).await?;
            if found.is_empty() {
                return Err(Error::not_found(format!(
                    "no passing instance of {name:?}{}",
                    if tags.is_empty() {
                        String::new()
                    } else {
                        format!(" with tags {}", tags.join(","))
                    }
                ))
                .hint("`rohe registry list` shows every instance with its health"));
            }
            let seed = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64;
            table(&select(found, strategy, seed))
        }
    }
}
