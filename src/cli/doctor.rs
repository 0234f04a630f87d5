//! `rohe doctor`: check every configured backend and say what is wrong and how to fix it.

use super::GlobalArgs;
use super::output::{Table, emit};
use crate::config::{self, AgentRuntimeKind, BusBackend};
use crate::error::{Error, Result};
use crate::ops::Source;
use crate::ports::Topology;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Check {
    pub check: String,
    pub ok: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

fn pass(check: &str, detail: String) -> Check {
    Check {
        check: check.into(),
        ok: true,
        detail,
        fix: String::new(),
    }
}

fn fail(check: &str, e: &Error) -> Check {
    Check {
        check: check.into(),
        ok: false,
        detail: match &e.field {
            Some(f) => format!("{f}: {}", e.message),
            None => e.message.clone(),
        },
        fix: e.hint.clone().unwrap_or_default(),
    }
}

pub async fn run(global: &GlobalArgs) -> Result<()> {
    let mut checks = Vec::new();
    let loaded = match config::load(&global.overrides()) {
        Ok(l) => {
            checks.push(pass(
                "config",
                l.file
                    .as_ref()
                    .map_or("built-in defaults".into(), |f| f.display().to_string()),
            ));
            l
        }
        Err(e) => {
            checks.push(fail("config", &e));
            return finish(global, checks);
        }
    };
    let c = &loaded.config;
    let ops = match super::open_ops_with(&loaded, Source::Cli, false) {
        Ok(o) => o,
        Err(e) => {
            checks.push(fail("store", &e));
            return finish(global, checks);
        }
    };
    let apps = match ops.list_apps().await {
        Ok(a) => {
            let info = ops.store().info();
            checks.push(pass(
                "store",
                format!(
                    "{} at {}: {} application(s)",
                    info.backend,
                    info.location,
                    a.len()
                ),
            ));
            a
        }
        Err(e) => {
            checks.push(fail("store", &e));
            Vec::new()
        }
    };
    // The bus: every registered application's agent queue.
    if c.bus.backend == BusBackend::Amqp {
        let bus = crate::backends::open_bus(c);
        if apps.is_empty() {
            checks.push(pass(
                "bus",
                format!(
                    "{}: no application registered, nothing to check",
                    bus.info().location
                ),
            ));
        }
        for a in &apps {
            let t = Topology::for_app(a);
            match bus.queue_depth(&t).await {
                Ok(depth) => checks.push(pass(
                    &format!("bus {}", a.application_name),
                    format!(
                        "queue rohe.{}.agent: {} waiting",
                        a.application_name,
                        depth.map_or("?".into(), |d| d.to_string())
                    ),
                )),
                Err(e) => checks.push(fail(&format!("bus {}", a.application_name), &e)),
            }
        }
    } else {
        checks.push(pass(
            "bus",
            "in-process (agents run inside the console or `rohe demo`)".into(),
        ));
    }
    // Agents: records that should run and do not.
    match ops.agent_status(None).await {
        Ok(list) => {
            let bad: Vec<_> = list
                .iter()
                .filter(|s| s.desired.is_active() && !s.state.is_active())
                .collect();
            if bad.is_empty() {
                checks.push(pass(
                    "agents",
                    format!("{} agent record(s), none failed", list.len()),
                ));
            }
            for s in bad {
                checks.push(Check {
                    check: format!("agent {}", s.application_name),
                    ok: false,
                    detail: s.reason.clone().unwrap_or_else(|| "not running".into()),
                    fix: format!("`rohe agent restart {}`", s.application_name),
                });
            }
        }
        Err(e) => checks.push(fail("agents", &e)),
    }
    if c.agent.runtime == AgentRuntimeKind::Docker {
        let rt = crate::adapters::docker::DockerRuntime::new(c);
        match crate::adapters::docker::connect(c).await {
            Ok((docker, host)) => match docker.inspect_image(rt.image()).await {
                Ok(_) => checks.push(pass(
                    "docker",
                    format!("{host}: image {} present", rt.image()),
                )),
                Err(_) => checks.push(Check {
                    check: "docker".into(),
                    ok: false,
                    detail: format!("{host}: image {} is missing", rt.image()),
                    fix: "`rohe agent image build`".into(),
                }),
            },
            Err(e) => checks.push(fail("docker", &e)),
        }
    }
    match crate::backends::open_registry(c, ops.store()) {
        Ok(reg) => match reg.services().await {
            Ok(s) => checks.push(pass(
                "registry",
                format!("{}: {} service(s)", reg.describe(), s.len()),
            )),
            Err(e) => checks.push(fail("registry", &e)),
        },
        Err(e) => checks.push(fail("registry", &e)),
    }
    if c.orchestration.cluster == crate::config::ClusterKind::Kubernetes {
        // One GET /version: the kubeconfig works and the API server answers.
        let version = match crate::adapters::kube::KubeCluster::new(&c.orchestration) {
            Ok(k) => k.server_version().await.map(|v| (v, k)),
            Err(e) => Err(e),
        };
        match version {
            Ok((v, k)) => {
                use crate::ports::ClusterBackend;
                checks.push(pass(
                    "kubernetes",
                    format!("API server {v} via {}", k.info().location),
                ))
            }
            Err(e) => checks.push(fail("kubernetes", &e)),
        }
    }
    match crate::backends::with_orchestration(ops, c).await {
        Ok(ops) => {
            let info = ops.cluster_info();
            match ops.nodes_view().await {
                Ok(nodes) => {
                    let down: Vec<_> = nodes
                        .iter()
                        .filter(|n| n.ready == Some(false))
                        .map(|n| n.node.node_name.clone())
                        .collect();
                    let kind = info.map_or("cluster".into(), |i| i.kind.to_string());
                    if down.is_empty() {
                        checks.push(pass(
                            "cluster",
                            format!("{kind}: {} inventory node(s), all ready", nodes.len()),
                        ));
                    } else {
                        checks.push(Check {
                            check: "cluster".into(),
                            ok: false,
                            detail: format!("{kind}: not ready: {}", down.join(", ")),
                            fix: "instances there are re-placed at the next `rohe apply`".into(),
                        });
                    }
                }
                Err(e) => checks.push(fail("cluster", &e)),
            }
        }
        Err(e) => checks.push(fail("cluster", &e)),
    }
    finish(global, checks)
}

fn finish(global: &GlobalArgs, checks: Vec<Check>) -> Result<()> {
    let failed = checks.iter().filter(|c| !c.ok).count();
    emit(global.output, &checks, |out| {
        let mut t = Table::new(vec!["CHECK", "OK", "DETAIL", "FIX"]);
        for c in &checks {
            t.row(vec![
                c.check.clone(),
                if c.ok { "ok".into() } else { "FAIL".into() },
                c.detail.clone(),
                c.fix.clone(),
            ]);
        }
        t.write(out)
    })?;
    if failed > 0 {
        return Err(Error::runtime(format!("{failed} check(s) failed")));
    }
    Ok(())
}
