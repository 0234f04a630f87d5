//! Orchestration use cases: the inventory, services, reconciliation (`rohe plan` / `rohe apply`),
//! scaling and the simulated node failures, over the Cluster port.
//!
//! One reconciliation cycle:
//! 1. read the state (inventory, services, placements) and its version;
//! 2. apply the caller's change (scale, add, remove ...), if any;
//! 3. ask the cluster which nodes are ready: instances on a node that is not ready (or that the
//!    cluster does not know) are evicted, and the node takes nothing new this cycle;
//! 4. autoscaling policies adjust desired replicas;
//! 5. run placement (scale-out and scale-in, rohe-spec 4.3-4.6 with the fixes);
//! 6. build the manifests of every application and compare them with the cluster's workloads;
//! 7. write the state with the version read in 1 (a concurrent change makes the write fail,
//!    and the whole cycle runs again on the new state, so no change is ever lost);
//! 8. apply the manifests (server-side apply) and delete what is no longer wanted.
//!
//! The state is written before the cluster is touched: if the apply fails half-way, the state
//! still says what should run and the next cycle applies it again (apply is idempotent).

use super::{Ops, Request};
use crate::config::OrchestrationConfig;
use crate::domain::inventory::{
    OrchestrationState, STATE_KEY, ScaleDecision, ScalePolicy, ScaleTarget, Upserted,
};
use crate::domain::placement::{self, Decision, Removal, Unplaced};
use crate::domain::resources::{Node, parse_nodes, parse_services};
use crate::error::{Error, ErrorKind, Result};
use crate::ports::cluster::{
    ApplyAction, ClusterBackend, ClusterInfo, ObjectRef, PodPhase, WorkloadStatus,
};
use chrono::Utc;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

/// The cluster and the settings reconciliation runs with.
#[derive(Clone)]
pub struct OrchestrationBackends {
    pub cluster: Arc<dyn ClusterBackend>,
    pub config: OrchestrationConfig,
}

/// One new instance, and why its node was chosen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedStart {
    pub application: String,
    pub service: String,
    pub node: String,
    pub instance_id: String,
    /// "max-headroom: score 1.62 (cpu 0.81, memory 0.81), best of 7 fitting nodes".
    pub why: String,
}

/// One instance taken off a node, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedStop {
    pub application: String,
    pub service: String,
    pub node: Option<String>,
    pub instance_id: Option<String>,
    pub why: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectChangeKind {
    Create,
    Update,
    Delete,
    Unchanged,
}

/// What a cycle does to one cluster object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectChange {
    pub object: ObjectRef,
    pub change: ObjectChangeKind,
    /// e.g. "replicas 1 -> 2".
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// A reconciliation cycle: what it would do (preview) or did (apply).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct CycleReport {
    pub dry_run: bool,
    /// The change asked for before the cycle (scale, add ...), in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// Nodes the cluster reports not ready (their instances are re-placed).
    pub unavailable_nodes: Vec<String>,
    pub starts: Vec<PlannedStart>,
    pub stops: Vec<PlannedStop>,
    pub unplaced: Vec<Unplaced>,
    pub autoscale: Vec<ScaleDecision>,
    pub objects: Vec<ObjectChange>,
    /// Objects the cluster refused, with its reason (apply only).
    pub failed: Vec<(ObjectRef, String)>,
    /// The state was written (apply only).
    pub persisted: bool,
}

impl CycleReport {
    pub fn is_noop(&self) -> bool {
        self.starts.is_empty()
            && self.stops.is_empty()
            && self.unplaced.is_empty()
            && self
                .objects
                .iter()
                .all(|o| o.change == ObjectChangeKind::Unchanged)
    }

    pub fn summary(&self) -> String {
        let changed = self
            .objects
            .iter()
            .filter(|o| o.change != ObjectChangeKind::Unchanged)
            .count();
        let mut s = format!(
            "{}{} start(s), {} stop(s), {} object change(s)",
            if self.dry_run { "would do: " } else { "" },
            self.starts.len(),
            self.stops.len(),
            changed
        );
        let missing: u32 = self.unplaced.iter().map(|u| u.missing).sum();
        if missing > 0 {
            s.push_str(&format!(", {missing} replica(s) fit nowhere"));
        }
        if !self.unavailable_nodes.is_empty() {
            s.push_str(&format!(
                ", node(s) not ready: {}",
                self.unavailable_nodes.join(", ")
            ));
        }
        if !self.failed.is_empty() {
            s.push_str(&format!(", {} object(s) refused", self.failed.len()));
        }
        s
    }
}

/// A node with what runs on it, for `rohe node list|show` and the Nodes tab.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeView {
    pub node: Node,
    /// The cluster's readiness (`None` when the cluster could not be asked).
    pub ready: Option<bool>,
    /// (application, service_name, instances) placed here.
    pub instances: Vec<(String, String, u32)>,
}

/// A service with its placement and the cluster's view of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceView {
    pub application: String,
    pub service_name: String,
    pub service_id: String,
    pub image: String,
    pub replicas: u32,
    /// Placed instances (rohe's bookkeeping).
    pub running: u32,
    /// Ready pods the cluster reports (`None` when it could not be asked).
    pub ready: Option<u32>,
    /// node name -> instances.
    pub placement: Vec<(String, u32)>,
    /// `ok`; `pending` (replicas not placed, e.g. no node fits); `scaling` (placed more than
    /// desired); `starting` (pods not ready yet); `degraded` (pods failed or stuck).
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<ScalePolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_decision: Option<ScaleDecision>,
}

/// What an orchestration request did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrchestrationOutcome {
    /// `node.add`, `scale`, `apply` ...
    pub action: String,
    pub message: String,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cycle: Option<CycleReport>,
    /// What an add from a document added and updated (by name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upserted: Option<Upserted>,
}

impl OrchestrationOutcome {
    /// One line for the status bar and the audit log. Without a message of its own, the
    /// cycle's change (`cctvs/web: replicas 2 -> 3`) says what happened before the counts.
    pub fn summary(&self) -> String {
        match &self.cycle {
            Some(c) if !self.message.is_empty() => format!("{}; {}", self.message, c.summary()),
            Some(c) => match c.change.as_deref().filter(|ch| !ch.is_empty()) {
                Some(ch) => format!("{ch}; {}", c.summary()),
                None => c.summary(),
            },
            None => self.message.clone(),
        }
    }
}

/// A change to the state, applied inside a cycle (re-applied on a conflict).
pub(crate) type Mutation<'a> =
    &'a (dyn Fn(&mut OrchestrationState) -> Result<String> + Send + Sync);

const MAX_ATTEMPTS: usize = 8;

impl Ops {
    pub fn with_orchestration(mut self, o: OrchestrationBackends) -> Self {
        self.orchestration = Some(o);
        self
    }

    pub(crate) fn orch(&self) -> Result<&OrchestrationBackends> {
        self.orchestration.as_ref().ok_or_else(|| {
            Error::runtime("orchestration is not available in this process")
                .hint("this is a bug: the command should have opened the cluster")
        })
    }

    pub fn cluster_info(&self) -> Option<ClusterInfo> {
        self.orchestration.as_ref().map(|o| o.cluster.info())
    }

    /// The state and the version it was read at (`None`: never written).
    pub async fn orchestration_state(&self) -> Result<(OrchestrationState, Option<u64>)> {
        match self.store.get_doc(STATE_KEY).await? {
            None => Ok((OrchestrationState::default(), None)),
            Some(v) => Ok((OrchestrationState::from_json(v.value)?, Some(v.version))),
        }
    }

    /// Change the state alone (no cycle), with optimistic concurrency and retries.
    pub(crate) async fn update_state<T>(
        &self,
        f: impl Fn(&mut OrchestrationState) -> Result<T>,
        dry_run: bool,
    ) -> Result<T> {
        let mut last = None;
        for attempt in 0..MAX_ATTEMPTS {
            let (mut st, version) = self.orchestration_state().await?;
            let out = f(&mut st)?;
            if dry_run {
                return Ok(out);
            }
            match self
                .store
                .put_doc(STATE_KEY, &st.to_json()?, version, None)
                .await
            {
                Ok(_) => return Ok(out),
                Err(e) if e.kind == ErrorKind::Conflict => {
                    last = Some(e);
                    super::after_conflict(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::conflict("the orchestration state kept changing")))
    }

    // -----------------------------------------------------------------------------------------
    // Inventory and services
    // -----------------------------------------------------------------------------------------

    pub(crate) async fn node_add(&self, file: &Path, dry_run: bool) -> Result<Upserted> {
        let text = read_file(file)?;
        let nodes = parse_nodes(&text, &file.display().to_string())?;
        self.update_state(|st| st.upsert_nodes(nodes.clone()), dry_run)
            .await
    }

    pub(crate) async fn service_add(&self, file: &Path, dry_run: bool) -> Result<Upserted> {
        let text = read_file(file)?;
        let services = parse_services(&text, &file.display().to_string())?;
        self.update_state(|st| st.upsert_services(services.clone()), dry_run)
            .await
    }

    /// Add or update nodes given as a JSON document (ROHE's `add-node` request body).
    pub(crate) async fn node_add_doc(
        &self,
        doc: &serde_json::Value,
        dry_run: bool,
    ) -> Result<Upserted> {
        let nodes = parse_nodes(&doc.to_string(), REQUEST_BODY)?;
        self.update_state(|st| st.upsert_nodes(nodes.clone()), dry_run)
            .await
    }

    /// Add or update services given as a JSON document (ROHE's `add-service` request body).
    pub(crate) async fn service_add_doc(
        &self,
        doc: &serde_json::Value,
        dry_run: bool,
    ) -> Result<Upserted> {
        let services = parse_services(&doc.to_string(), REQUEST_BODY)?;
        self.update_state(|st| st.upsert_services(services.clone()), dry_run)
            .await
    }

    pub async fn nodes_view(&self) -> Result<Vec<NodeView>> {
        let (st, _) = self.orchestration_state().await?;
        let ready: Option<BTreeMap<String, bool>> = match &self.orchestration {
            Some(o) => o
                .cluster
                .nodes()
                .await
                .ok()
                .map(|ns| ns.into_iter().map(|n| (n.name, n.ready)).collect()),
            None => None,
        };
        let by_id: BTreeMap<&str, (&str, &str)> = st
            .services
            .iter()
            .map(|s| {
                (
                    s.service.service_id.as_str(),
                    (s.application.as_str(), s.service.service_name.as_str()),
                )
            })
            .collect();
        Ok(st
            .nodes
            .iter()
            .map(|n| NodeView {
                ready: ready
                    .as_ref()
                    .map(|r| r.get(&n.node_name).copied().unwrap_or(false)),
                instances: n
                    .services
                    .iter()
                    .map(|(id, c)| {
                        let (a, s) = by_id.get(id).copied().unwrap_or(("?", id));
                        (a.to_string(), s.to_string(), *c)
                    })
                    .collect(),
                node: n.clone(),
            })
            .collect())
    }

    pub async fn services_view(&self, app: Option<&str>) -> Result<Vec<ServiceView>> {
        let (st, _) = self.orchestration_state().await?;
        let workloads: Option<Vec<WorkloadStatus>> = match &self.orchestration {
            Some(o) => o
                .cluster
                .workloads_view(&o.config.namespace, app)
                .await
                .ok(),
            None => None,
        };
        let names: BTreeMap<&str, &str> = st
            .nodes
            .iter()
            .map(|n| (n.mac_address.as_str(), n.node_name.as_str()))
            .collect();
        Ok(st
            .services
            .iter()
            .filter(|s| app.is_none_or(|a| a == s.application))
            .map(|s| {
                let svc = &s.service;
                let mine: Vec<&WorkloadStatus> = workloads
                    .iter()
                    .flatten()
                    .filter(|w| w.app == s.application && w.service_id == svc.service_id)
                    .collect();
                let ready = workloads
                    .as_ref()
                    .map(|_| mine.iter().map(|w| w.ready).sum::<u32>());
                let failing = mine.iter().flat_map(|w| &w.pods).any(|p| {
                    matches!(p.phase, PodPhase::Failed | PodPhase::Unknown)
                        || p.reason
                            .as_deref()
                            .is_some_and(|r| r != "ContainerCreating")
                });
                let status = if svc.running < svc.replicas {
                    "pending"
                } else if svc.running > svc.replicas {
                    "scaling"
                } else if failing {
                    "degraded"
                } else if ready.is_some_and(|r| r < svc.running) {
                    "starting"
                } else {
                    "ok"
                };
                ServiceView {
                    application: s.application.clone(),
                    service_name: svc.service_name.clone(),
                    service_id: svc.service_id.clone(),
                    image: svc.image.clone(),
                    replicas: svc.replicas,
                    running: svc.running,
                    ready,
                    placement: svc
                        .node
                        .iter()
                        .map(|(mac, c)| (names.get(mac).copied().unwrap_or(mac).to_string(), *c))
                        .collect(),
                    status: status.into(),
                    policy: st
                        .policies
                        .iter()
                        .find(|p| p.application == s.application && p.service == svc.service_name)
                        .cloned(),
                    last_decision: st
                        .decisions
                        .iter()
                        .find(|d| d.application == s.application && d.service == svc.service_name)
                        .cloned(),
                }
            })
            .collect())
    }

    /// The Kubernetes objects of one application, as `rohe apply` would apply them.
    pub async fn manifests(&self, app: &str) -> Result<Vec<serde_json::Value>> {
        let (st, _) = self.orchestration_state().await?;
        if !st.services.iter().any(|s| s.application == app) {
            return Err(
                Error::not_found(format!("application {app:?} has no services"))
                    .hint("add them with `rohe service add -f FILE`, then `rohe apply`"),
            );
        }
        let namespace = self
            .orchestration
            .as_ref()
            .map(|o| o.config.namespace.clone())
            .unwrap_or_else(|| OrchestrationConfig::default().namespace);
        let registered = self.store.get_app(app).await?.map(|v| v.value);
        app_manifests(&st, app, registered.as_ref(), &namespace)
    }

    // -----------------------------------------------------------------------------------------
    // Reconciliation
    // -----------------------------------------------------------------------------------------

    /// One reconciliation cycle (see the module documentation), after `change` when given.
    pub async fn reconcile(
        &self,
        change: Option<Mutation<'_>>,
        dry_run: bool,
    ) -> Result<CycleReport> {
        let o = self.orch()?.clone();
        let mut last = None;
        for attempt in 0..MAX_ATTEMPTS {
            let (mut st, version) = self.orchestration_state().await?;
            let before = st.clone();
            let note = match change {
                Some(f) => Some(f(&mut st)?),
                None => None,
            };
            let mut report = CycleReport {
                dry_run,
                change: note,
                ..CycleReport::default()
            };
            let observed = o.cluster.nodes().await.map_err(|e| {
                Error::runtime(format!(
                    "cannot read the cluster's nodes ({}): {}",
                    o.cluster.info().kind,
                    e.message
                ))
                .hint(e.hint.clone().unwrap_or_else(|| {
                    "check orchestration.cluster and the kubeconfig (`rohe config show`)".into()
                }))
            })?;
            let ready: BTreeSet<&str> = observed
                .iter()
                .filter(|n| n.ready)
                .map(|n| n.name.as_str())
                .collect();
            let down: Vec<String> = st
                .nodes
                .iter()
                .filter(|n| !ready.contains(n.node_name.as_str()))
                .map(|n| n.node_name.clone())
                .collect();
            report.unavailable_nodes = down.clone();

            let apps_of: BTreeMap<String, String> = st
                .services
                .iter()
                .map(|s| (s.service.service_id.clone(), s.application.clone()))
                .collect();
            let app_of = |id: &str| apps_of.get(id).cloned().unwrap_or_default();
            let mut cluster = st.cluster();
            for node in &down {
                for r in placement::evict_node(&mut cluster, node) {
                    report.stops.push(stop(&app_of(&r.service_id), r, |n| {
                        format!("node {n} is not ready: re-placed")
                    }));
                }
            }
            report.autoscale = self.autoscale(&mut st, &mut cluster, &o.config).await;
            // Unavailable nodes take nothing new this cycle; their cordon flag is restored.
            let cordons: Vec<bool> = cluster.nodes.iter().map(|n| n.cordoned).collect();
            for n in cluster.nodes.iter_mut() {
                if down.contains(&n.node_name) {
                    n.cordoned = true;
                }
            }
            let desired_before: BTreeMap<String, u32> = cluster
                .services
                .iter()
                .map(|s| (s.service_id.clone(), s.replicas))
                .collect();
            let plan = placement::plan(&mut cluster, &o.config.placement, true);
            for (n, c) in cluster.nodes.iter_mut().zip(cordons) {
                n.cordoned = c;
            }
            for p in &plan.placements {
                report.starts.push(PlannedStart {
                    application: p.application.clone(),
                    service: p.service_name.clone(),
                    node: p.node.clone(),
                    instance_id: p.instance_id.clone(),
                    why: why_chosen(&plan.decisions, p, o.config.placement.strategy.name()),
                });
            }
            for r in plan.removed {
                let app = app_of(&r.service_id);
                let to = desired_before.get(&r.service_id).copied().unwrap_or(0);
                report.stops.push(stop(&app, r, |n| {
                    format!(
                        "replicas lowered to {to}: removed from {n}, where it frees the most contended resource"
                    )
                }));
            }
            report.unplaced = plan.unplaced;
            if !down.is_empty() {
                // Unavailable nodes were held out of placement as cordoned; say so.
                for u in &mut report.unplaced {
                    u.reason = u.reason.replace("cordoned", "cordoned or not ready");
                }
            }
            st.set_cluster(cluster);

            // Objects: what the new state wants, against what the cluster runs and what the
            // old state wanted (objects of removed services and applications are deleted).
            let desired = all_manifests(self, &st, &o.config.namespace).await?;
            let previous = all_manifests(self, &before, &o.config.namespace)
                .await
                .unwrap_or_default();
            let workloads = o
                .cluster
                .workloads(&o.config.namespace, None)
                .await
                .unwrap_or_default();
            report.objects = diff_objects(&desired, &previous, &workloads);

            if dry_run {
                return Ok(report);
            }
            if st != before || version.is_none() {
                match self
                    .store
                    .put_doc(STATE_KEY, &st.to_json()?, version, None)
                    .await
                {
                    Ok(_) => report.persisted = true,
                    Err(e) if e.kind == ErrorKind::Conflict => {
                        last = Some(e);
                        super::after_conflict(attempt).await;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            let applied = o.cluster.apply(&desired).await?;
            report.failed = applied.failed;
            for (r, action) in applied.applied {
                if let Some(c) = report.objects.iter_mut().find(|c| c.object == r) {
                    // The cluster knows best whether it changed anything.
                    c.change = match action {
                        ApplyAction::Created => ObjectChangeKind::Create,
                        ApplyAction::Configured if c.change == ObjectChangeKind::Unchanged => {
                            ObjectChangeKind::Update
                        }
                        ApplyAction::Configured => c.change,
                        ApplyAction::Unchanged => ObjectChangeKind::Unchanged,
                    };
                }
            }
            let doomed: Vec<ObjectRef> = report
                .objects
                .iter()
                .filter(|c| c.change == ObjectChangeKind::Delete)
                .map(|c| c.object.clone())
                .collect();
            if !doomed.is_empty()
                && let Err(e) = o.cluster.delete(&doomed).await
            {
                for r in doomed {
                    report
                        .failed
                        .push((r, format!("delete failed: {}", e.message)));
                }
            }
            return Ok(report);
        }
        Err(last.unwrap_or_else(|| Error::conflict("the orchestration state kept changing")))
    }

    /// Set a service's replicas and reconcile. Refused (unless `force`) when the cluster
    /// cannot hold them: the check is the real placement on a copy of the state.
    pub(crate) async fn scale(
        &self,
        app: &str,
        service: &str,
        replicas: u32,
        force: bool,
        dry_run: bool,
    ) -> Result<CycleReport> {
        let (app, service) = (app.to_string(), service.to_string());
        let change = move |st: &mut OrchestrationState| -> Result<String> {
            let from = st.set_replicas(&app, &service, replicas)?;
            Ok(format!("{app}/{service}: replicas {from} -> {replicas}"))
        };
        let preview = self.reconcile(Some(&change), true).await?;
        let missing: u32 = preview.unplaced.iter().map(|u| u.missing).sum();
        if missing > 0 && !force {
            let reason = preview
                .unplaced
                .first()
                .map(|u| u.reason.clone())
                .unwrap_or_default();
            return Err(Error::conflict(format!(
                "{missing} of the requested replicas fit on no node: {reason}"
            ))
            .field("replicas")
            .hint(
                "ask for fewer, add or uncordon nodes, or pass --force to keep the rest pending",
            ));
        }
        if dry_run {
            return Ok(preview);
        }
        self.reconcile(Some(&change), false).await
    }

    /// The autoscaler's decisions for this cycle; they change `cluster`'s desired replicas
    /// unless `orchestration.autoscale_dry_run`.
    async fn autoscale(
        &self,
        st: &mut OrchestrationState,
        cluster: &mut placement::Cluster,
        config: &OrchestrationConfig,
    ) -> Vec<ScaleDecision> {
        let mut out = Vec::new();
        let now = Utc::now();
        for p in st.policies.clone() {
            let Some(svc) = cluster
                .services
                .iter_mut()
                .find(|s| s.application == p.application && s.service_name == p.service)
            else {
                continue;
            };
            let last = st
                .decisions
                .iter()
                .find(|d| d.application == p.application && d.service == p.service && !d.dry_run);
            if last.is_some_and(|d| (now - d.at).num_seconds() < p.cooldown_s as i64) {
                continue;
            }
            let observed = match self.observe_for_policy(&p).await {
                Some(v) => v,
                None => continue,
            };
            let current = svc.replicas;
            let Some((to, reason)) = decide(&p, current, observed) else {
                continue;
            };
            let d = ScaleDecision {
                application: p.application.clone(),
                service: p.service.clone(),
                at: now,
                from: current,
                to,
                reason,
                dry_run: config.autoscale_dry_run,
            };
            if !config.autoscale_dry_run {
                svc.replicas = to;
            }
            st.record_decision(d.clone());
            out.push(d);
        }
        // The decisions live in the state written at the end of the cycle.
        let services = std::mem::take(&mut cluster.services);
        let nodes = std::mem::take(&mut cluster.nodes);
        let decisions = st.decisions.clone();
        st.set_cluster(placement::Cluster { nodes, services });
        st.decisions = decisions;
        *cluster = st.cluster();
        out
    }

    /// The figure a policy compares with its target, from the Metrics pipeline over the last
    /// five minutes: the service's stage p95 latency (ms), or the stage's request rate.
    async fn observe_for_policy(&self, p: &ScalePolicy) -> Option<f64> {
        let q = crate::ops::metrics::MetricsQuery {
            since: Some(Utc::now() - chrono::Duration::minutes(5)),
            ..Default::default()
        };
        let view = self.metrics_view(&p.application, &q).await.ok()?;
        // The service is a microservice of the registered application: its instance's series
        // (QoA4ML reports carry the instance id). Without a registration, a stage of that name.
        let app = self.store.get_app(&p.application).await.ok().flatten();
        let target = app.and_then(|a| {
            a.value.stages.iter().find_map(|st| {
                st.microservices
                    .iter()
                    .find(|m| m.name == p.service)
                    .map(|m| (st.name.clone(), Some(m.instance_id.to_string())))
            })
        });
        let (stage, instance) = target.unwrap_or_else(|| (p.service.clone(), None));
        let row = view.series.iter().find(|r| {
            r.stage.as_deref() == Some(stage.as_str())
                && r.instance == instance
                && r.metric == "response_time"
        })?;
        match p.target {
            // Response times are in seconds.
            ScaleTarget::P95LatencyMs(_) => row.p95.map(|v| v * 1000.0),
            ScaleTarget::RpsPerReplica(_) => {
                let span = (view.to? - view.from?).num_milliseconds() as f64 / 1000.0;
                (span > 0.0).then(|| row.count as f64 / span)
            }
        }
    }
}

impl Ops {
    /// The orchestration requests of [`Ops::execute`].
    pub(crate) async fn execute_orchestration(&self, req: Request) -> Result<OrchestrationOutcome> {
        let action = req.action().to_string();
        let dry_run = req.is_dry_run();
        let out = |message: String, cycle: Option<CycleReport>| OrchestrationOutcome {
            action: action.clone(),
            message,
            dry_run,
            cycle,
            upserted: None,
        };
        let would = if dry_run { "would be " } else { "" };
        match req {
            Request::NodeAdd { file, dry_run } => {
                let u = self.node_add(&file, dry_run).await?;
                Ok(out(
                    format!(
                        "{} node(s) {would}added, {} {would}updated",
                        u.added.len(),
                        u.updated.len()
                    ),
                    None,
                ))
            }
            Request::ServiceAdd { file, dry_run } => {
                let u = self.service_add(&file, dry_run).await?;
                Ok(out(
                    format!(
                        "{} service(s) {would}added, {} {would}updated; `rohe plan` shows where they would run",
                        u.added.len(),
                        u.updated.len()
                    ),
                    None,
                ))
            }
            Request::NodeAddDoc { document, dry_run } => {
                let u = self.node_add_doc(&document, dry_run).await?;
                Ok(upserted(out, u, "node", dry_run))
            }
            Request::ServiceAddDoc { document, dry_run } => {
                let u = self.service_add_doc(&document, dry_run).await?;
                Ok(upserted(out, u, "service", dry_run))
            }
            Request::NodeRemoveAll { dry_run } => {
                let change = |st: &mut OrchestrationState| -> Result<String> {
                    let names: Vec<String> = st.nodes.iter().map(|n| n.node_name.clone()).collect();
                    let mut evicted = 0;
                    for n in &names {
                        evicted += st.remove_node(n)?.1;
                    }
                    Ok(format!(
                        "{} node(s) removed ({evicted} instance(s) to re-place)",
                        names.len()
                    ))
                };
                self.orch()?;
                let c = self.reconcile(Some(&change), dry_run).await?;
                Ok(out(String::new(), Some(c)))
            }
            Request::ServiceRemoveAll { dry_run } => {
                let change = |st: &mut OrchestrationState| -> Result<String> {
                    let all: Vec<(String, String)> = st
                        .services
                        .iter()
                        .map(|s| (s.application.clone(), s.service.service_name.clone()))
                        .collect();
                    for (app, svc) in &all {
                        st.remove_service(app, svc, true)?;
                    }
                    Ok(format!("{} service(s) removed", all.len()))
                };
                self.orch()?;
                let c = self.reconcile(Some(&change), dry_run).await?;
                Ok(out(String::new(), Some(c)))
            }
            Request::NodeCordon {
                name,
                cordoned,
                dry_run,
            } => {
                // The node must be in the inventory before the cluster is touched; then the
                // cluster first, so a refusal there leaves rohe's flag as it was.
                // (A node may be named by its MAC address; the cluster knows its name.)
                let node_name = self
                    .update_state(|st| Ok(st.node(&name)?.node_name.clone()), true)
                    .await?;
                if !dry_run && let Some(o) = self.orchestration.as_ref() {
                    o.cluster.set_cordon(&node_name, cordoned).await?;
                }
                let changed = self
                    .update_state(|st| st.set_cordon(&name, cordoned), dry_run)
                    .await?;
                let verb = if cordoned { "cordoned" } else { "uncordoned" };
                let msg = if changed {
                    format!("node {name} {would}{verb}")
                } else {
                    format!("node {name} was already {verb}")
                };
                Ok(out(msg, None))
            }
            Request::NodeRemove { name, dry_run } => {
                let n = name.clone();
                let change = move |st: &mut OrchestrationState| -> Result<String> {
                    let (node, evicted) = st.remove_node(&n)?;
                    Ok(format!(
                        "node {} removed ({evicted} instance(s) to re-place)",
                        node.node_name
                    ))
                };
                self.orch()?;
                let c = self.reconcile(Some(&change), dry_run).await?;
                Ok(out(String::new(), Some(c)))
            }
            Request::NodeFail { name } => {
                let o = self.orch()?;
                o.cluster.fail_node(&name).await?;
                let c = self.reconcile(None, false).await?;
                Ok(out(format!("node {name} failed"), Some(c)))
            }
            Request::NodeRecover { name } => {
                let o = self.orch()?;
                o.cluster.recover_node(&name).await?;
                Ok(out(
                    format!(
                        "node {name} is ready again; it takes new instances from the next cycle"
                    ),
                    None,
                ))
            }
            Request::ServiceRemove {
                app,
                service,
                force,
                dry_run,
            } => {
                let change = move |st: &mut OrchestrationState| -> Result<String> {
                    let s = st.remove_service(&app, &service, force)?;
                    Ok(format!(
                        "{}/{} removed",
                        s.application, s.service.service_name
                    ))
                };
                let c = self.reconcile(Some(&change), dry_run).await?;
                Ok(out(String::new(), Some(c)))
            }
            Request::Apply { dry_run } => {
                let c = self.reconcile(None, dry_run).await?;
                Ok(out(String::new(), Some(c)))
            }
            Request::Scale {
                app,
                service,
                replicas,
                force,
                dry_run,
            } => {
                let c = self.scale(&app, &service, replicas, force, dry_run).await?;
                Ok(out(String::new(), Some(c)))
            }
            Request::AutoscaleSet { policy, dry_run } => {
                let name = format!("{}/{}", policy.application, policy.service);
                self.update_state(|st| st.upsert_policy(policy.clone()), dry_run)
                    .await?;
                Ok(out(
                    format!(
                        "autoscaling {would}set for {name}: {}..{} replicas",
                        policy.min_replicas, policy.max_replicas
                    ),
                    None,
                ))
            }
            Request::AutoscaleRemove {
                app,
                service,
                dry_run,
            } => {
                let removed = self
                    .update_state(
                        |st| {
                            let before = st.policies.len();
                            st.policies
                                .retain(|p| !(p.application == app && p.service == service));
                            Ok(before != st.policies.len())
                        },
                        dry_run,
                    )
                    .await?;
                if !removed {
                    return Err(Error::not_found(format!(
                        "{app}/{service} has no autoscaling policy"
                    ))
                    .hint("`rohe autoscale list` shows the policies"));
                }
                Ok(out(
                    format!("autoscaling {would}removed for {app}/{service}"),
                    None,
                ))
            }
            other => Err(Error::runtime(format!(
                "{} is not an orchestration request",
                other.action()
            ))),
        }
    }
}

/// The store document of the background reconciler.
pub const ORCHESTRATOR_KEY: &str = "orchestrator";

/// What the background reconciler (`rohe orchestrator run`) says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct OrchestratorRecord {
    pub pid: i32,
    pub started_at: chrono::DateTime<Utc>,
    pub interval_s: u64,
    pub cycles: u64,
    pub last_cycle_at: Option<chrono::DateTime<Utc>>,
    /// The last cycle's summary, or its error.
    pub last_result: String,
    /// Set when it stopped.
    #[serde(default)]
    pub stopped_at: Option<chrono::DateTime<Utc>>,
}

/// How a request body is named in errors; the `.json` ending selects the JSON parser.
pub const REQUEST_BODY: &str = "request body.json";

/// The outcome of an add from a document: the added and updated identities, by name.
fn upserted(
    out: impl Fn(String, Option<CycleReport>) -> OrchestrationOutcome,
    u: Upserted,
    what: &str,
    dry_run: bool,
) -> OrchestrationOutcome {
    let would = if dry_run { "would be " } else { "" };
    let mut o = out(
        format!(
            "{} {what}(s) {would}added, {} {would}updated",
            u.added.len(),
            u.updated.len()
        ),
        None,
    );
    o.upserted = Some(u);
    o
}

fn orchestrator_alive(pid: i32) -> bool {
    crate::adapters::process::reap(pid);
    crate::adapters::process::runs_with(pid, &[b"orchestrator", b"run"])
}

impl Ops {
    async fn orchestrator_record(&self) -> Result<Option<(OrchestratorRecord, u64)>> {
        match self.store.get_doc(ORCHESTRATOR_KEY).await? {
            None => Ok(None),
            Some(v) => {
                let rec = serde_json::from_value(v.value).map_err(|e| {
                    Error::runtime(format!("the orchestrator's record is unreadable: {e}"))
                })?;
                Ok(Some((rec, v.version)))
            }
        }
    }

    async fn put_orchestrator(&self, rec: &OrchestratorRecord) -> Result<()> {
        let json = serde_json::to_value(rec)
            .map_err(|e| Error::runtime(format!("cannot encode the record: {e}")))?;
        // Only this process writes the record while it runs: last writer wins.
        for attempt in 0..MAX_ATTEMPTS {
            let version = self.orchestrator_record().await?.map(|(_, v)| v);
            match self
                .store
                .put_doc(ORCHESTRATOR_KEY, &json, version, None)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if e.kind == ErrorKind::Conflict => {
                    super::after_conflict(attempt).await;
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::conflict("the orchestrator's record kept changing"))
    }

    /// The record and whether its process runs.
    pub async fn orchestrator_status(&self) -> Result<Option<(OrchestratorRecord, bool)>> {
        Ok(self.orchestrator_record().await?.map(|(r, _)| {
            let alive = r.stopped_at.is_none() && orchestrator_alive(r.pid);
            (r, alive)
        }))
    }

    /// Reconcile every `interval_s` until SIGTERM or Ctrl-C, recording each cycle.
    pub async fn run_orchestrator(&self, config: &crate::config::Config) -> Result<()> {
        let mut rec = OrchestratorRecord {
            pid: std::process::id() as i32,
            started_at: Utc::now(),
            interval_s: config.orchestration.interval_s,
            cycles: 0,
            last_cycle_at: None,
            last_result: "starting".into(),
            stopped_at: None,
        };
        self.put_orchestrator(&rec).await?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| Error::runtime(format!("cannot watch SIGTERM: {e}")))?;
        let interval = std::time::Duration::from_secs(config.orchestration.interval_s);
        loop {
            // A failing cycle is recorded and retried at the next tick (ROHE logs and skips).
            // Cycles that change nothing are not audited (one every interval would drown the
            // log); the record keeps the last one.
            let result = match self.reconcile(None, false).await {
                Ok(c) if c.is_noop() && c.failed.is_empty() => c.summary(),
                Ok(c) => {
                    let entry =
                        self.audit_entry("orchestrator.cycle", c.failed.is_empty(), c.summary());
                    if let Err(e) = self.store.append_audit(&entry).await {
                        tracing::error!(error = %e, "could not write the audit log");
                    }
                    c.summary()
                }
                Err(e) => {
                    let entry = self.audit_entry("orchestrator.cycle", false, e.to_string());
                    let _ = self.store.append_audit(&entry).await;
                    format!("failed: {e}")
                }
            };
            tracing::info!(result = %result, "orchestration cycle");
            rec.cycles += 1;
            rec.last_cycle_at = Some(Utc::now());
            rec.last_result = result;
            if let Err(e) = self.put_orchestrator(&rec).await {
                tracing::error!(error = %e, "could not record the orchestration cycle");
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = term.recv() => break,
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        rec.stopped_at = Some(Utc::now());
        self.put_orchestrator(&rec).await
    }

    /// Start `rohe orchestrator run` in the background (idempotent). Returns the record and
    /// whether a new process was started.
    pub async fn start_orchestrator(
        &self,
        config: &crate::config::Config,
    ) -> Result<(OrchestratorRecord, bool)> {
        if self.is_readonly() {
            return Err(Error::conflict(
                "orchestrator.start is refused: rohe runs read-only",
            ));
        }
        if let Some((rec, true)) = self.orchestrator_status().await? {
            return Ok((rec, false));
        }
        let exe = std::env::current_exe()
            .map_err(|e| Error::runtime(format!("cannot find the rohe executable: {e}")))?;
        let dir = crate::config::xdg::state_home().join("rohe");
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::runtime(format!("cannot create {}: {e}", dir.display())))?;
        let log = dir.join("orchestrator.log");
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .map_err(|e| Error::runtime(format!("cannot open {}: {e}", log.display())))
        };
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.args(["orchestrator", "run"])
            .env("ROHE__STORE__PATH", config.store_path())
            .env("ROHE__LOG__FILE", &log)
            .stdin(std::process::Stdio::null())
            .stdout(open()?)
            .stderr(open()?)
            .process_group(0)
            .kill_on_drop(false);
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::runtime(format!("cannot start {}: {e}", exe.display())))?;
        let pid = child
            .id()
            .ok_or_else(|| Error::runtime("the orchestrator exited at once"))?
            as i32;
        // Reap it when it exits while we run; after we exit, init does.
        let reap_later = |mut child: tokio::process::Child| {
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
        };
        // Wait for it to record itself (its first cycle runs right after).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Some((rec, _)) = self.orchestrator_record().await?
                && rec.pid == pid
            {
                reap_later(child);
                self.store
                    .append_audit(&self.audit_entry(
                        "orchestrator.start",
                        true,
                        format!("pid {pid}"),
                    ))
                    .await?;
                return Ok((rec, true));
            }
            // Asked of the child itself, not of /proc: while exec loads the new program the
            // command line there is the parent's or empty, and a loaded machine made this
            // report a starting orchestrator as exited.
            if let Ok(Some(status)) = child.try_wait() {
                return Err(Error::runtime(format!(
                    "the orchestrator exited at start ({status}); see {}",
                    log.display()
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        reap_later(child);
        Err(Error::runtime(format!(
            "the orchestrator (pid {pid}) did not start within 10 s; see {}",
            log.display()
        )))
    }

    /// Stop the background reconciler; returns whether one was running.
    pub async fn stop_orchestrator(&self) -> Result<bool> {
        if self.is_readonly() {
            return Err(Error::conflict(
                "orchestrator.stop is refused: rohe runs read-only",
            ));
        }
        let Some((rec, true)) = self.orchestrator_status().await? else {
            return Ok(false);
        };
        crate::adapters::process::signal(rec.pid, libc::SIGTERM);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while std::time::Instant::now() < deadline && orchestrator_alive(rec.pid) {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        if orchestrator_alive(rec.pid) {
            crate::adapters::process::signal(rec.pid, libc::SIGKILL);
        }
        self.store
            .append_audit(&self.audit_entry("orchestrator.stop", true, format!("pid {}", rec.pid)))
            .await?;
        Ok(true)
    }
}

/// The replica count a policy asks for, with hysteresis; `None` when nothing should change.
pub fn decide(p: &ScalePolicy, current: u32, observed: f64) -> Option<(u32, String)> {
    let clamp = |n: u32| n.clamp(p.min_replicas, p.max_replicas);
    let (to, reason) = match p.target {
        ScaleTarget::P95LatencyMs(target) => {
            if observed > target * (1.0 + p.hysteresis) {
                (
                    clamp(current + 1),
                    format!(
                        "p95 {observed:.0} ms > {target:.0} ms + {:.0} %",
                        p.hysteresis * 100.0
                    ),
                )
            } else if observed < target * (1.0 - p.hysteresis) * 0.5 && current > 0 {
                // Only scale in when latency is well under target (half of the lower band):
                // removing a replica raises the others' load.
                (
                    clamp(current - 1),
                    format!("p95 {observed:.0} ms well under {target:.0} ms"),
                )
            } else {
                (clamp(current), String::new())
            }
        }
        ScaleTarget::RpsPerReplica(per) => {
            let want = (observed / per).ceil() as u32;
            let band = (current as f64 * per * p.hysteresis).max(0.0);
            let capacity = current as f64 * per;
            if want > current && observed > capacity + band
                || want < current && observed < (want as f64 + 1.0) * per - band
            {
                (
                    clamp(want),
                    format!("{observed:.1} req/s at {per:.1} per replica needs {want}"),
                )
            } else {
                (clamp(current), String::new())
            }
        }
    };
    if to == current {
        return None;
    }
    let reason = if reason.is_empty() {
        format!("kept within {}..{}", p.min_replicas, p.max_replicas)
    } else {
        reason
    };
    Some((to, reason))
}

fn stop(app: &str, r: Removal, why: impl Fn(&str) -> String) -> PlannedStop {
    let n = r.node.clone().unwrap_or_else(|| "an unknown node".into());
    PlannedStop {
        application: app.to_string(),
        service: r.service_name,
        node: r.node,
        instance_id: r.instance_id,
        why: why(&n),
    }
}

/// The chosen node's score and how many nodes fitted, from the explained decisions.
fn why_chosen(decisions: &[Decision], p: &placement::Placement, strategy: &str) -> String {
    let d = decisions
        .iter()
        .rev()
        .find(|d| d.service_id == p.service_id && d.chosen.as_deref() == Some(&p.node));
    let Some(d) = d else {
        return strategy.to_string();
    };
    let fitting = d.nodes.iter().filter(|n| n.fits).count();
    match d.nodes.iter().find(|n| n.node == p.node) {
        Some(n) if n.score.is_some() => format!(
            "{strategy}: score {:.3} (cpu rank {:.3}, memory rank {:.3}), {fitting} of {} nodes fit",
            n.score.unwrap_or_default(),
            n.rank_proc.unwrap_or_default(),
            n.rank_mem.unwrap_or_default(),
            d.nodes.len()
        ),
        _ => format!("{strategy}: {fitting} of {} nodes fit", d.nodes.len()),
    }
}

fn app_manifests(
    st: &OrchestrationState,
    app: &str,
    registered: Option<&crate::domain::app::Application>,
    namespace: &str,
) -> Result<Vec<serde_json::Value>> {
    let services: Vec<_> = st
        .cluster()
        .services
        .into_iter()
        .filter(|s| s.application == app)
        .collect();
    crate::domain::manifests::for_application(app, &services, &st.nodes, registered, namespace)
}

/// Every application's objects, the namespace once, in apply order.
async fn all_manifests(
    ops: &Ops,
    st: &OrchestrationState,
    namespace: &str,
) -> Result<Vec<serde_json::Value>> {
    let mut out: Vec<serde_json::Value> = Vec::new();
    let mut seen = BTreeSet::new();
    for app in st.applications() {
        let registered = ops.store.get_app(&app).await?.map(|v| v.value);
        for obj in app_manifests(st, &app, registered.as_ref(), namespace)? {
            let r = ObjectRef::of(&obj)?;
            if seen.insert(r) {
                out.push(obj);
            }
        }
    }
    // Namespaces first, then the rest in the generator's order.
    out.sort_by_key(|o| o.get("kind").and_then(|k| k.as_str()) != Some("Namespace"));
    Ok(out)
}

fn replicas_of(obj: &serde_json::Value) -> Option<u32> {
    obj.pointer("/spec/replicas")
        .and_then(|v| v.as_u64())
        .map(|v| v as u32)
}

fn diff_objects(
    desired: &[serde_json::Value],
    previous: &[serde_json::Value],
    workloads: &[WorkloadStatus],
) -> Vec<ObjectChange> {
    let mut out = Vec::new();
    let mut wanted = BTreeSet::new();
    let prev: BTreeMap<ObjectRef, &serde_json::Value> = previous
        .iter()
        .filter_map(|o| ObjectRef::of(o).ok().map(|r| (r, o)))
        .collect();
    for obj in desired {
        let Ok(r) = ObjectRef::of(obj) else { continue };
        wanted.insert(r.clone());
        let running = workloads
            .iter()
            .find(|w| r.kind == "Deployment" && w.namespace == r.namespace && w.name == r.name);
        let (change, detail) = match (r.kind.as_str(), running, prev.get(&r)) {
            ("Deployment", Some(w), _) => match replicas_of(obj) {
                Some(n) if n != w.desired => (
                    ObjectChangeKind::Update,
                    format!("replicas {} -> {n}", w.desired),
                ),
                _ => (ObjectChangeKind::Unchanged, String::new()),
            },
            ("Deployment", None, _) => (
                ObjectChangeKind::Create,
                replicas_of(obj)
                    .map(|n| format!("replicas {n}"))
                    .unwrap_or_default(),
            ),
            (_, _, Some(p)) if *p == obj => (ObjectChangeKind::Unchanged, String::new()),
            (_, _, Some(_)) => (ObjectChangeKind::Update, String::new()),
            (_, _, None) => (ObjectChangeKind::Create, String::new()),
        };
        out.push(ObjectChange {
            object: r,
            change,
            detail,
        });
    }
    // Deployments the cluster runs (rohe-managed) that nothing wants any more.
    for w in workloads {
        let r = ObjectRef {
            kind: "Deployment".into(),
            namespace: w.namespace.clone(),
            name: w.name.clone(),
        };
        if !wanted.contains(&r) {
            wanted.insert(r.clone());
            out.push(ObjectChange {
                object: r,
                change: ObjectChangeKind::Delete,
                detail: format!("replicas {} -> 0", w.desired),
            });
        }
    }
    // Services and ConfigMaps of services or applications that were removed.
    for r in prev.keys() {
        if !wanted.contains(r) && r.kind != "Namespace" && r.kind != "Deployment" {
            out.push(ObjectChange {
                object: r.clone(),
                change: ObjectChangeKind::Delete,
                detail: String::new(),
            });
        }
    }
    out
}

fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        Error::invalid(format!("cannot read {}: {e}", path.display()))
            .file(path.display().to_string())
            .hint("give the path of a YAML or JSON file")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(target: ScaleTarget) -> ScalePolicy {
        ScalePolicy {
            application: "a".into(),
            service: "s".into(),
            min_replicas: 1,
            max_replicas: 5,
            target,
            cooldown_s: 60,
            hysteresis: 0.1,
        }
    }

    #[test]
    fn outcome_summary_says_what_changed_when_it_has_no_message() {
        let cycle = CycleReport {
            change: Some("cctvs/web: replicas 2 -> 3".into()),
            ..CycleReport::default()
        };
        let o = OrchestrationOutcome {
            action: "scale".into(),
            message: String::new(),
            dry_run: false,
            cycle: Some(cycle.clone()),
            upserted: None,
        };
        assert_eq!(
            o.summary(),
            "cctvs/web: replicas 2 -> 3; 0 start(s), 0 stop(s), 0 object change(s)"
        );
        let o = OrchestrationOutcome {
            message: "node n1 failed".into(),
            ..o
        };
        assert!(o.summary().starts_with("node n1 failed; 0 start(s)"));
        let o = OrchestrationOutcome {
            message: String::new(),
            cycle: Some(CycleReport::default()),
            ..o
        };
        assert_eq!(o.summary(), "0 start(s), 0 stop(s), 0 object change(s)");
    }

    #[test]
    fn latency_policy_scales_out_above_the_band_and_in_well_below() {
        let p = policy(ScaleTarget::P95LatencyMs(300.0));
        assert_eq!(decide(&p, 2, 340.0).map(|d| d.0), Some(3));
        assert_eq!(decide(&p, 2, 320.0), None, "inside the band");
        assert_eq!(
            decide(&p, 2, 200.0),
            None,
            "under target but not well under"
        );
        assert_eq!(decide(&p, 2, 100.0).map(|d| d.0), Some(1));
        assert_eq!(decide(&p, 5, 900.0), None, "at max");
        assert_eq!(decide(&p, 1, 10.0), None, "at min");
        assert_eq!(decide(&p, 0, 10.0).map(|d| d.0), Some(1), "raised to min");
    }

    #[test]
    fn throughput_policy_sizes_replicas_with_hysteresis() {
        let p = policy(ScaleTarget::RpsPerReplica(25.0));
        assert_eq!(decide(&p, 2, 80.0).map(|d| d.0), Some(4));
        assert_eq!(decide(&p, 2, 52.0), None, "within 10 % over capacity");
        assert_eq!(decide(&p, 4, 20.0).map(|d| d.0), Some(1));
        assert_eq!(decide(&p, 2, 48.0), None);
        assert_eq!(decide(&p, 2, 1000.0).map(|d| d.0), Some(5), "clamped");
    }
}
