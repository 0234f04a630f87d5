//! The orchestration state: the node inventory, the deployable services with their desired
//! replicas and placements, and the autoscaling policies. One versioned document in the store
//! (key [`STATE_KEY`]); every change is a pure function on it, applied with optimistic
//! concurrency by `ops::orchestration` (re-read and re-applied on a conflict, so a concurrent
//! change is never lost).

use crate::domain::placement::Cluster;
use crate::domain::resources::{Node, Service};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The store document holding the state.
pub const STATE_KEY: &str = "orchestration.state";

/// A service and the application it belongs to (the service's own serde form leaves the
/// application out, as ROHE's `ServiceData` does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppService {
    pub application: String,
    pub service: Service,
}

/// How one service scales by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalePolicy {
    pub application: String,
    /// The service's `service_name`.
    pub service: String,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub target: ScaleTarget,
    /// Seconds after a change before the next one (default 60).
    #[serde(default = "default_cooldown")]
    pub cooldown_s: u64,
    /// Relative band around the target inside which nothing changes (default 0.1 = ±10 %).
    #[serde(default = "default_hysteresis")]
    pub hysteresis: f64,
}

fn default_cooldown() -> u64 {
    60
}
fn default_hysteresis() -> f64 {
    0.1
}

/// What a policy aims for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ScaleTarget {
    /// Keep the stage's p95 latency (from the Metrics pipeline) under this many milliseconds.
    P95LatencyMs(f64),
    /// Each replica handles this many requests per second (from profiles); replicas =
    /// ceil(observed rps / this).
    RpsPerReplica(f64),
}

/// The last thing the autoscaler decided for a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleDecision {
    pub application: String,
    pub service: String,
    pub at: chrono::DateTime<chrono::Utc>,
    pub from: u32,
    pub to: u32,
    /// Why, in one line ("p95 412 ms > 300 ms + 10 %").
    pub reason: String,
    /// Decided but not carried out (`orchestration.autoscale_dry_run`).
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OrchestrationState {
    /// In visiting order (the order they were added).
    #[serde(default)]
    pub nodes: Vec<Node>,
    /// In queueing order.
    #[serde(default)]
    pub services: Vec<AppService>,
    #[serde(default)]
    pub policies: Vec<ScalePolicy>,
    /// The latest decision per (application, service), newest last.
    #[serde(default)]
    pub decisions: Vec<ScaleDecision>,
}

/// What an inventory change did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Upserted {
    pub added: Vec<String>,
    pub updated: Vec<String>,
}

impl OrchestrationState {
    pub fn from_json(value: serde_json::Value) -> Result<OrchestrationState> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            Error::runtime(format!(
                "the stored orchestration state is unreadable at {}: {}",
                e.path(),
                e.inner()
            ))
            .hint("it was written by a newer rohe, or edited by hand; restore it or remove the nodes and services and add them again")
        })
    }

    pub fn to_json(&self) -> Result<serde_json::Value> {
        serde_json::to_value(self)
            .map_err(|e| Error::runtime(format!("cannot encode the orchestration state: {e}")))
    }

    /// The placement model (services carry their application).
    pub fn cluster(&self) -> Cluster {
        Cluster {
            nodes: self.nodes.clone(),
            services: self
                .services
                .iter()
                .map(|s| {
                    let mut svc = s.service.clone();
                    svc.application = s.application.clone();
                    svc
                })
                .collect(),
        }
    }

    /// Take the placement model back after a cycle changed it.
    pub fn set_cluster(&mut self, cluster: Cluster) {
        self.nodes = cluster.nodes;
        self.services = cluster
            .services
            .into_iter()
            .map(|mut s| AppService {
                application: std::mem::take(&mut s.application),
                service: s,
            })
            .collect();
    }

    pub fn node(&self, name: &str) -> Result<&Node> {
        self.nodes
            .iter()
            .find(|n| n.node_name == name || n.mac_address == name)
            .ok_or_else(|| no_node(name, &self.nodes))
    }

    fn node_mut(&mut self, name: &str) -> Result<&mut Node> {
        let known: Vec<String> = self.nodes.iter().map(|n| n.node_name.clone()).collect();
        self.nodes
            .iter_mut()
            .find(|n| n.node_name == name || n.mac_address == name)
            .ok_or_else(|| no_node_named(name, &known))
    }

    /// Add nodes, or update the ones whose MAC address (identity) is known. An update keeps what
    /// placement charged to the node (`used`, `services`) and the cordon flag: the file gives
    /// capacity, not use.
    pub fn upsert_nodes(&mut self, nodes: Vec<Node>) -> Result<Upserted> {
        let mut out = Upserted {
            added: vec![],
            updated: vec![],
        };
        for mut n in nodes {
            if let Some(other) = self
                .nodes
                .iter()
                .find(|o| o.node_name == n.node_name && o.mac_address != n.mac_address)
            {
                return Err(Error::conflict(format!(
                    "node name {:?} is already used by the node with MAC {}",
                    n.node_name, other.mac_address
                ))
                .field("node_name")
                .hint("node names are Kubernetes node names and must be unique"));
            }
            match self
                .nodes
                .iter_mut()
                .find(|o| o.mac_address == n.mac_address)
            {
                Some(old) => {
                    if old.cores.capacity.len() != n.cores.capacity.len()
                        && !old.services.is_empty()
                    {
                        return Err(Error::conflict(format!(
                            "node {:?} runs instances; its core count cannot change from {} to {}",
                            n.node_name,
                            old.cores.capacity.len(),
                            n.cores.capacity.len()
                        ))
                        .field("cores.capacity")
                        .hint("remove the node first (its instances are re-placed), then add it again"));
                    }
                    if !old.services.is_empty() {
                        n.cpu.used = old.cpu.used;
                        n.memory.used = old.memory.used;
                        n.cores.used = old.cores.used.clone();
                        n.services = old.services.clone();
                        for (name, dev) in n.accelerator.0.iter_mut() {
                            if let Some(o) = old.accelerator.get(name) {
                                dev.used = o.used;
                            }
                        }
                    }
                    n.cordoned = old.cordoned || n.cordoned;
                    out.updated.push(n.node_name.clone());
                    *old = n;
                }
                None => {
                    out.added.push(n.node_name.clone());
                    self.nodes.push(n);
                }
            }
        }
        Ok(out)
    }

    /// Remove a node; its instances leave it (the next cycle re-places them).
    pub fn remove_node(&mut self, name: &str) -> Result<(Node, u32)> {
        let node_name = self.node(name)?.node_name.clone();
        let mut cluster = self.cluster();
        let evicted = crate::domain::placement::evict_node(&mut cluster, &node_name).len() as u32;
        self.set_cluster(cluster);
        let i = self
            .nodes
            .iter()
            .position(|n| n.node_name == node_name)
            .ok_or_else(|| no_node(name, &self.nodes))?;
        Ok((self.nodes.remove(i), evicted))
    }

    /// Returns whether the flag changed.
    pub fn set_cordon(&mut self, name: &str, cordoned: bool) -> Result<bool> {
        let n = self.node_mut(name)?;
        let changed = n.cordoned != cordoned;
        n.cordoned = cordoned;
        Ok(changed)
    }

    /// Add services, or update known ones (by `service_id`). An update keeps what placement
    /// recorded (`node`, `running`, `instance_ids`) and takes everything else from the file, so
    /// re-submitting a service with another `replicas` scales it (ROHE's way). Changing the
    /// requirements of a service with running instances is refused: the charged resources
    /// would no longer match.
    pub fn upsert_services(&mut self, services: Vec<Service>) -> Result<Upserted> {
        let mut out = Upserted {
            added: vec![],
            updated: vec![],
        };
        for s in services {
            let app = s.application.clone();
            match self
                .services
                .iter_mut()
                .find(|o| o.service.service_id == s.service_id)
            {
                Some(old) => {
                    let o = &old.service;
                    let same_need = o.cpu_required == s.cpu_required
                        && o.memory_required == s.memory_required
                        && o.cores_required == s.cores_required
                        && o.accelerator_required == s.accelerator_required;
                    if o.running > 0 && !same_need {
                        return Err(Error::conflict(format!(
                            "service {:?} has {} running instances; its requirements cannot change in place",
                            s.service_name, o.running
                        ))
                        .field("cpu_required")
                        .hint("scale it to 0 and apply, change the requirements, then scale it up again"));
                    }
                    if old.application != app {
                        return Err(Error::conflict(format!(
                            "service id {:?} belongs to application {:?}, not {:?}",
                            s.service_id, old.application, app
                        ))
                        .field("service_id")
                        .hint("service ids are unique across applications"));
                    }
                    let mut new = s;
                    new.application.clear();
                    new.node = o.node.clone();
                    new.running = o.running;
                    new.instance_ids = o.instance_ids.clone();
                    out.updated.push(new.service_name.clone());
                    old.service = new;
                }
                None => {
                    out.added.push(s.service_name.clone());
                    let mut service = s;
                    service.application.clear();
                    self.services.push(AppService {
                        application: app,
                        service,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The index of a service by application and name (or id).
    pub fn find_service(&self, app: &str, service: &str) -> Result<usize> {
        self.services
            .iter()
            .position(|s| {
                s.application == app
                    && (s.service.service_name == service || s.service.service_id == service)
            })
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .services
                    .iter()
                    .filter(|s| s.application == app)
                    .map(|s| s.service.service_name.as_str())
                    .collect();
                let hint = if known.is_empty() {
                    format!("application {app:?} has no services: add them with `rohe service add -f FILE`")
                } else {
                    format!("its services: {}", known.join(", "))
                };
                Error::not_found(format!("application {app:?} has no service {service:?}"))
                    .field("service")
                    .hint(hint)
            })
    }

    /// Remove a service whose instances are all gone (scale it to 0 and apply first), or with
    /// `force`, releasing its instances' resources on their nodes.
    pub fn remove_service(&mut self, app: &str, service: &str, force: bool) -> Result<AppService> {
        let i = self.find_service(app, service)?;
        let running = self.services[i].service.running;
        if running > 0 && !force {
            return Err(Error::conflict(format!(
                "service {service:?} still has {running} running instances"
            ))
            .hint(format!(
                "scale it to 0 first (`rohe scale {app} {service} 0`), or pass --force"
            )));
        }
        if running > 0 {
            let mut cluster = self.cluster();
            cluster.services[i].replicas = 0;
            let nodes: Vec<String> = cluster.nodes.iter().map(|n| n.node_name.clone()).collect();
            // Release on every node it runs on.
            let mut only = Cluster {
                nodes: cluster.nodes,
                services: vec![cluster.services[i].clone()],
            };
            for n in nodes {
                crate::domain::placement::evict_node(&mut only, &n);
            }
            self.nodes = only.nodes;
        }
        Ok(self.services.remove(i))
    }

    /// Set a service's desired replicas; returns the previous value.
    pub fn set_replicas(&mut self, app: &str, service: &str, replicas: u32) -> Result<u32> {
        let i = self.find_service(app, service)?;
        let svc = &mut self.services[i].service;
        Ok(std::mem::replace(&mut svc.replicas, replicas))
    }

    /// Applications with services, in first-seen order.
    pub fn applications(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.services {
            if !out.contains(&s.application) {
                out.push(s.application.clone());
            }
        }
        out
    }

    /// Record a decision, keeping only the latest per service.
    pub fn record_decision(&mut self, d: ScaleDecision) {
        self.decisions
            .retain(|o| !(o.application == d.application && o.service == d.service));
        self.decisions.push(d);
    }

    pub fn upsert_policy(&mut self, p: ScalePolicy) -> Result<()> {
        self.find_service(&p.application, &p.service)?;
        if p.min_replicas > p.max_replicas {
            return Err(Error::invalid(format!(
                "min_replicas {} is more than max_replicas {}",
                p.min_replicas, p.max_replicas
            ))
            .field("min_replicas")
            .hint("min_replicas <= max_replicas"));
        }
        let target_ok = match p.target {
            ScaleTarget::P95LatencyMs(v) | ScaleTarget::RpsPerReplica(v) => {
                v.is_finite() && v > 0.0
            }
        };
        if !target_ok {
            return Err(Error::invalid("the target must be a positive number")
                .field("target")
                .hint("e.g. target: {p95_latency_ms: 300} or {rps_per_replica: 25}"));
        }
        if !(0.0..1.0).contains(&p.hysteresis) {
            return Err(Error::invalid(format!("{} is out of range", p.hysteresis))
                .field("hysteresis")
                .hint("a fraction from 0 to below 1, e.g. 0.1 for ±10 %"));
        }
        self.policies
            .retain(|o| !(o.application == p.application && o.service == p.service));
        self.policies.push(p);
        Ok(())
    }
}

fn no_node(name: &str, nodes: &[Node]) -> Error {
    let known: Vec<String> = nodes.iter().map(|n| n.node_name.clone()).collect();
    no_node_named(name, &known)
}

fn no_node_named(name: &str, known: &[String]) -> Error {
    let hint = if known.is_empty() {
        "the inventory is empty: add nodes with `rohe node add -f example/nodes/edge-lab.yaml`"
            .to_string()
    } else {
        format!("known nodes: {}", known.join(", "))
    };
    Error::not_found(format!("no node {name:?} in the inventory"))
        .field("node")
        .hint(hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::placement::{PlacementConfig, plan};
    use crate::domain::resources::{parse_nodes, parse_services};

    fn lab() -> OrchestrationState {
        let nodes = parse_nodes(
            include_str!("../../example/nodes/edge-lab.yaml"),
            "edge-lab.yaml",
        )
        .expect("nodes");
        let services = parse_services(
            include_str!("../../example/services/cctvs.yaml"),
            "cctvs.yaml",
        )
        .expect("services");
        let mut st = OrchestrationState::default();
        st.upsert_nodes(nodes).expect("nodes");
        st.upsert_services(services).expect("services");
        st
    }

    fn cycle(st: &mut OrchestrationState) -> crate::domain::placement::Plan {
        let mut c = st.cluster();
        let p = plan(&mut c, &PlacementConfig::default(), false);
        st.set_cluster(c);
        p
    }

    #[test]
    fn state_round_trips_through_json_with_applications() {
        let mut st = lab();
        cycle(&mut st);
        let json = st.to_json().expect("json");
        let back = OrchestrationState::from_json(json.clone()).expect("back");
        // serde_json maps sort their keys, so compare the JSON forms (count maps are keyed by
        // id; their order carries no meaning).
        assert_eq!(back.to_json().expect("json"), json);
        assert_eq!(back.nodes.len(), st.nodes.len());
        assert!(back.services.iter().all(|s| s.application == "cctvs"));
        assert_eq!(back.cluster().services[0].application, "cctvs");
    }

    #[test]
    fn re_adding_a_node_keeps_its_use_and_re_adding_a_service_scales_it() {
        let mut st = lab();
        cycle(&mut st);
        let used: f64 = st.nodes.iter().map(|n| n.cpu.used).sum();
        assert!(used > 0.0);
        let again = parse_nodes(
            include_str!("../../example/nodes/edge-lab.yaml"),
            "edge-lab.yaml",
        )
        .expect("nodes");
        let up = st.upsert_nodes(again).expect("upsert");
        assert!(up.added.is_empty());
        assert_eq!(up.updated.len(), st.nodes.len());
        assert_eq!(st.nodes.iter().map(|n| n.cpu.used).sum::<f64>(), used);

        let mut svcs = parse_services(
            include_str!("../../example/services/cctvs.yaml"),
            "cctvs.yaml",
        )
        .expect("services");
        let before = st.services[0].service.running;
        svcs[0].replicas = before + 2;
        st.upsert_services(svcs).expect("upsert");
        assert_eq!(st.services[0].service.running, before, "placement kept");
        let p = cycle(&mut st);
        assert_eq!(p.placements.len(), 2);
    }

    #[test]
    fn removing_a_node_releases_its_instances_for_re_placement() {
        let mut st = lab();
        cycle(&mut st);
        let busy = st
            .nodes
            .iter()
            .find(|n| !n.services.is_empty())
            .expect("a busy node")
            .node_name
            .clone();
        let total_running: u32 = st.services.iter().map(|s| s.service.running).sum();
        let (_, evicted) = st.remove_node(&busy).expect("remove");
        assert!(evicted > 0);
        let after: u32 = st.services.iter().map(|s| s.service.running).sum();
        assert_eq!(after + evicted, total_running);
        let p = cycle(&mut st);
        assert_eq!(p.placements.len() as u32, evicted, "re-placed elsewhere");
        assert!(p.placements.iter().all(|pl| pl.node != busy));
        assert!(st.node(&busy).is_err());
    }

    #[test]
    fn requirement_change_of_a_running_service_is_refused() {
        let mut st = lab();
        cycle(&mut st);
        let mut svcs = parse_services(
            include_str!("../../example/services/cctvs.yaml"),
            "cctvs.yaml",
        )
        .expect("services");
        svcs[0].cpu_required += 100.0;
        let e = st.upsert_services(svcs).expect_err("refused");
        assert_eq!(e.field.as_deref(), Some("cpu_required"));
    }

    #[test]
    fn unknown_names_say_what_exists() {
        let st = lab();
        let e = st.node("nope").expect_err("no node");
        assert!(e.hint.as_deref().unwrap_or("").contains("raspberrypi-02"));
        let e = st.find_service("cctvs", "nope").expect_err("no service");
        assert!(e.hint.as_deref().unwrap_or("").contains("image_ingestion"));
        let e = OrchestrationState::default().node("x").expect_err("empty");
        assert!(e.hint.as_deref().unwrap_or("").contains("rohe node add"));
    }

    #[test]
    fn removing_a_running_service_needs_force_and_frees_its_nodes() {
        let mut st = lab();
        cycle(&mut st);
        let name = st.services[0].service.service_name.clone();
        assert!(st.remove_service("cctvs", &name, false).is_err());
        let id = st.services[0].service.service_id.clone();
        st.remove_service("cctvs", &name, true).expect("forced");
        assert!(st.nodes.iter().all(|n| n.services.get(&id).is_none()));
    }

    #[test]
    fn policies_are_validated() {
        let mut st = lab();
        let p = ScalePolicy {
            application: "cctvs".into(),
            service: "image_ingestion".into(),
            min_replicas: 3,
            max_replicas: 1,
            target: ScaleTarget::P95LatencyMs(300.0),
            cooldown_s: 60,
            hysteresis: 0.1,
        };
        assert_eq!(
            st.upsert_policy(p.clone())
                .expect_err("min>max")
                .field
                .as_deref(),
            Some("min_replicas")
        );
        let ok = ScalePolicy {
            min_replicas: 1,
            max_replicas: 4,
            ..p
        };
        st.upsert_policy(ok.clone()).expect("ok");
        st.upsert_policy(ok).expect("replaces");
        assert_eq!(st.policies.len(), 1);
    }
}
