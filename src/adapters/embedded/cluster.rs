//! The simulated cluster: every inventory node is a machine, applied objects are kept in the
//! store (document [`SIM_KEY`]) and Deployments get simulated pods, so the whole orchestration
//! path (plan, apply, scale, a node failing, re-placement) runs with no Kubernetes at all and
//! survives between commands.
//!
//! Pods are derived, not stored: a Deployment's `replicas` on its node give that many pods,
//! `Pending` (ContainerCreating) for [`STARTUP`] after the Deployment changed, then `Running`;
//! on a failed node they are `Failed` (NodeLost). Objects are checked as an API server would
//! check them (DNS-1123 names, an existing namespace, a kind it knows), so the simulation
//! refuses what a real cluster would refuse.

use crate::domain::inventory::{OrchestrationState, STATE_KEY};
use crate::domain::names::is_dns1123_label;
use crate::error::{Error, Result};
use crate::ports::Store;
use crate::ports::cluster::{
    ApplyAction, ApplyReport, ClusterBackend, ClusterInfo, ClusterNode, LABEL_APP,
    LABEL_MANAGED_BY, LABEL_NODE, LABEL_SERVICE_ID, NodeResources, ObjectRef, PodPhase, PodStatus,
    WorkloadStatus,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The store document holding the simulated cluster.
pub const SIM_KEY: &str = "cluster.simulated";
/// How long a simulated pod takes to start.
pub const STARTUP: chrono::Duration = chrono::Duration::seconds(2);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SimState {
    /// Nodes that were failed (`rohe node fail`).
    #[serde(default)]
    failed: BTreeSet<String>,
    /// Applied objects by `ObjectRef` display form.
    #[serde(default)]
    objects: BTreeMap<String, SimObject>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SimObject {
    r: ObjectRef,
    body: serde_json::Value,
    /// When the pod template or replicas last changed (pods restart then).
    changed_at: DateTime<Utc>,
}

pub struct SimulatedCluster {
    store: Arc<dyn Store>,
}

impl SimulatedCluster {
    pub fn new(store: Arc<dyn Store>) -> SimulatedCluster {
        SimulatedCluster { store }
    }

    async fn load(&self) -> Result<(SimState, Option<u64>)> {
        match self.store.get_doc(SIM_KEY).await? {
            None => Ok((SimState::default(), None)),
            Some(v) => {
                let st = serde_json::from_value(v.value).map_err(|e| {
                    Error::runtime(format!("the simulated cluster's state is unreadable: {e}"))
                        .hint("the simulation is disposable: point --store at a new file and add the nodes again")
                })?;
                Ok((st, Some(v.version)))
            }
        }
    }

    /// Read, change, write with optimistic concurrency; retried on a concurrent change.
    async fn update<T>(&self, mut f: impl FnMut(&mut SimState) -> Result<T>) -> Result<T> {
        let mut last = None;
        for _ in 0..10 {
            let (mut st, version) = self.load().await?;
            let out = f(&mut st)?;
            let json = serde_json::to_value(&st)
                .map_err(|e| Error::runtime(format!("cannot encode the simulation: {e}")))?;
            match self.store.put_doc(SIM_KEY, &json, version, None).await {
                Ok(_) => return Ok(out),
                Err(e) if e.kind == crate::error::ErrorKind::Conflict => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::conflict("the simulated cluster kept changing")))
    }

    async fn inventory(&self) -> Result<OrchestrationState> {
        match self.store.get_doc(STATE_KEY).await? {
            None => Ok(OrchestrationState::default()),
            Some(v) => OrchestrationState::from_json(v.value),
        }
    }

    /// Forget every applied object and failure.
    pub async fn reset(&self) -> Result<()> {
        self.update(|st| {
            *st = SimState::default();
            Ok(())
        })
        .await
    }
}

/// Check an object as an API server would; returns its reference.
fn admit(obj: &serde_json::Value, st: &SimState, batch: &BTreeSet<String>) -> Result<ObjectRef> {
    let r = ObjectRef::of(obj)?;
    let invalid = |msg: String| Error::invalid(format!("{r} is invalid: {msg}"));
    match r.kind.as_str() {
        "Namespace" => {}
        "ConfigMap" | "Service" | "Deployment" => {
            if r.namespace.is_empty() {
                return Err(invalid("metadata.namespace: Required value".into()));
            }
            let ns = format!("Namespace/{}", r.namespace);
            if !st.objects.contains_key(&ns) && !batch.contains(&ns) {
                return Err(Error::not_found(format!(
                    "namespaces {:?} not found",
                    r.namespace
                )));
            }
        }
        other => {
            return Err(invalid(format!(
                "the simulated cluster does not know the kind {other:?}"
            )));
        }
    }
    if !is_dns1123_label(&r.name) {
        return Err(invalid(format!(
            "metadata.name: Invalid value: {:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
            r.name
        )));
    }
    if r.kind == "Deployment" {
        let spec = obj.pointer("/spec/template/spec/containers/0/image");
        if spec.and_then(|v| v.as_str()).is_none_or(str::is_empty) {
            return Err(invalid(
                "spec.template.spec.containers[0].image: Required value".into(),
            ));
        }
    }
    Ok(r)
}

fn labels(body: &serde_json::Value) -> BTreeMap<String, String> {
    body.pointer("/metadata/labels")
        .and_then(|l| l.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn replicas(body: &serde_json::Value) -> u32 {
    body.pointer("/spec/replicas")
        .and_then(|v| v.as_u64())
        .unwrap_or(1) as u32
}

fn node_of(body: &serde_json::Value) -> String {
    body.pointer("/spec/template/spec/nodeSelector/kubernetes.io~1hostname")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

#[async_trait]
impl ClusterBackend for SimulatedCluster {
    fn info(&self) -> ClusterInfo {
        ClusterInfo {
            kind: "simulated",
            location: "the inventory's nodes, simulated in the store".into(),
        }
    }

    async fn nodes(&self) -> Result<Vec<ClusterNode>> {
        let inv = self.inventory().await?;
        let (st, _) = self.load().await?;
        Ok(inv
            .nodes
            .iter()
            .map(|n| {
                let res = NodeResources {
                    cpu: n.cpu.capacity,
                    memory: n.memory.capacity.rss,
                };
                ClusterNode {
                    name: n.node_name.clone(),
                    ready: !st.failed.contains(&n.node_name),
                    unschedulable: n.cordoned,
                    labels: BTreeMap::from([(
                        "kubernetes.io/hostname".to_string(),
                        n.node_name.clone(),
                    )]),
                    capacity: Some(res),
                    allocatable: Some(res),
                }
            })
            .collect())
    }

    async fn apply(&self, objects: &[serde_json::Value]) -> Result<ApplyReport> {
        let now = Utc::now();
        self.update(|st| {
            let mut report = ApplyReport::default();
            let mut batch = BTreeSet::new();
            for obj in objects {
                let r = match admit(obj, st, &batch) {
                    Ok(r) => r,
                    Err(e) => {
                        let r = ObjectRef::of(obj).unwrap_or(ObjectRef {
                            kind: "?".into(),
                            namespace: String::new(),
                            name: "?".into(),
                        });
                        report.failed.push((r, e.message));
                        continue;
                    }
                };
                let key = r.to_string();
                batch.insert(key.clone());
                let action = match st.objects.get_mut(&key) {
                    Some(old) if old.body == *obj => ApplyAction::Unchanged,
                    Some(old) => {
                        old.body = obj.clone();
                        old.changed_at = now;
                        ApplyAction::Configured
                    }
                    None => {
                        st.objects.insert(
                            key,
                            SimObject {
                                r: r.clone(),
                                body: obj.clone(),
                                changed_at: now,
                            },
                        );
                        ApplyAction::Created
                    }
                };
                report.applied.push((r, action));
            }
            Ok(report)
        })
        .await
    }

    async fn scale(&self, namespace: &str, deployment: &str, n: u32) -> Result<()> {
        let key = format!("Deployment/{namespace}/{deployment}");
        let now = Utc::now();
        self.update(|st| {
            let obj = st.objects.get_mut(&key).ok_or_else(|| {
                Error::not_found(format!(
                    "deployments.apps {deployment:?} not found in namespace {namespace:?}"
                ))
            })?;
            if replicas(&obj.body) != n {
                if let Some(spec) = obj.body.get_mut("spec").and_then(|s| s.as_object_mut()) {
                    spec.insert("replicas".into(), n.into());
                }
                obj.changed_at = now;
            }
            Ok(())
        })
        .await
    }

    async fn delete(&self, objects: &[ObjectRef]) -> Result<Vec<ObjectRef>> {
        self.update(|st| {
            Ok(objects
                .iter()
                .filter_map(|r| st.objects.remove(&r.to_string()).map(|o| o.r))
                .collect())
        })
        .await
    }

    async fn workloads(&self, namespace: &str, app: Option<&str>) -> Result<Vec<WorkloadStatus>> {
        let (st, _) = self.load().await?;
        let inv = self.inventory().await?;
        let known: BTreeSet<&str> = inv.nodes.iter().map(|n| n.node_name.as_str()).collect();
        let now = Utc::now();
        let mut out = Vec::new();
        for obj in st.objects.values() {
            if obj.r.kind != "Deployment" || obj.r.namespace != namespace {
                continue;
            }
            let l = labels(&obj.body);
            if l.get(LABEL_MANAGED_BY).map(String::as_str) != Some("rohe") {
                continue;
            }
            let a = l.get(LABEL_APP).cloned().unwrap_or_default();
            if app.is_some_and(|want| want != a) {
                continue;
            }
            let node = node_of(&obj.body);
            let desired = replicas(&obj.body);
            let pods: Vec<PodStatus> = (0..desired)
                .map(|i| {
                    let (phase, ready, reason) = if !known.contains(node.as_str()) {
                        (PodPhase::Pending, false, Some("Unschedulable".to_string()))
                    } else if st.failed.contains(&node) {
                        (PodPhase::Failed, false, Some("NodeLost".to_string()))
                    } else if now - obj.changed_at < STARTUP {
                        (
                            PodPhase::Pending,
                            false,
                            Some("ContainerCreating".to_string()),
                        )
                    } else {
                        (PodPhase::Running, true, None)
                    };
                    PodStatus {
                        name: format!("{}-{i}", obj.r.name),
                        node: node.clone(),
                        phase,
                        ready,
                        restarts: 0,
                        reason,
                    }
                })
                .collect();
            out.push(WorkloadStatus {
                namespace: namespace.to_string(),
                name: obj.r.name.clone(),
                app: a,
                service_id: obj
                    .body
                    .pointer("/metadata/annotations")
                    .and_then(|m| m.get(LABEL_SERVICE_ID))
                    .and_then(|v| v.as_str())
                    .or_else(|| l.get(LABEL_SERVICE_ID).map(String::as_str))
                    .unwrap_or_default()
                    .to_string(),
                node: l.get(LABEL_NODE).cloned().unwrap_or(node),
                desired,
                ready: pods.iter().filter(|p| p.ready).count() as u32,
                pods,
            });
        }
        Ok(out)
    }

    async fn fail_node(&self, name: &str) -> Result<()> {
        let inv = self.inventory().await?;
        inv.node(name)?;
        let name = inv.node(name)?.node_name.clone();
        self.update(|st| {
            st.failed.insert(name.clone());
            Ok(())
        })
        .await
    }

    async fn recover_node(&self, name: &str) -> Result<()> {
        let inv = self.inventory().await?;
        let name = inv.node(name)?.node_name.clone();
        self.update(|st| {
            st.failed.remove(&name);
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::embedded::SqliteStore;
    use serde_json::json;

    fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = SqliteStore::open(&dir.path().join("s.db"), Default::default()).expect("store");
        (dir, Arc::new(s))
    }

    fn deployment(name: &str, node: &str, replicas: u32) -> serde_json::Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "rohe",
                "labels": {LABEL_APP: "cctvs", LABEL_NODE: node, LABEL_MANAGED_BY: "rohe"}},
            "spec": {"replicas": replicas, "template": {"spec": {
                "nodeSelector": {"kubernetes.io/hostname": node},
                "containers": [{"name": "c", "image": "rdsea/od_web:2.0"}]}}}
        })
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn applies_like_an_api_server_and_derives_pods() {
        let (_d, store) = store();
        let mut inv = OrchestrationState::default();
        inv.upsert_nodes(
            crate::domain::resources::parse_nodes(
                include_str!("../../../example/nodes/edge-lab.yaml"),
                "edge-lab.yaml",
            )
            .expect("nodes"),
        )
        .expect("inventory");
        store
            .put_doc(STATE_KEY, &inv.to_json().expect("json"), None, None)
            .await
            .expect("state");
        let sim = SimulatedCluster::new(store);
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "rohe"}});
        let bad = deployment("Bad_Name", "raspberrypi-02", 1);
        let good = deployment("web-raspberrypi-02", "raspberrypi-02", 2);
        // Without the namespace, a namespaced object is refused.
        let r = sim.apply(std::slice::from_ref(&good)).await.expect("apply");
        assert_eq!(r.failed.len(), 1);
        assert!(r.failed[0].1.contains("namespaces"), "{:?}", r.failed);
        let r = sim
            .apply(&[ns.clone(), bad, good.clone()])
            .await
            .expect("apply");
        assert_eq!(r.failed.len(), 1, "{r:?}");
        assert!(r.failed[0].1.contains("RFC 1123"));
        assert_eq!(r.applied.len(), 2);
        assert_eq!(r.applied[1].1, ApplyAction::Created);
        let r = sim.apply(&[ns, good]).await.expect("again");
        assert!(r.applied.iter().all(|(_, a)| *a == ApplyAction::Unchanged));

        let w = sim
            .workloads("rohe", Some("cctvs"))
            .await
            .expect("workloads");
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].desired, 2);
        assert_eq!(w[0].pods[0].phase, PodPhase::Pending, "starting");

        sim.scale("rohe", "web-raspberrypi-02", 3)
            .await
            .expect("scale");
        assert_eq!(sim.workloads("rohe", None).await.expect("w")[0].desired, 3);
        assert!(sim.scale("rohe", "nope", 1).await.is_err());

        sim.fail_node("raspberrypi-02").await.expect("fail");
        let nodes = sim.nodes().await.expect("nodes");
        assert!(
            !nodes
                .iter()
                .find(|n| n.name == "raspberrypi-02")
                .expect("n")
                .ready
        );
        let w = sim.workloads("rohe", None).await.expect("w");
        assert!(w[0].pods.iter().all(|p| p.phase == PodPhase::Failed));
        assert!(sim.fail_node("no-such-node").await.is_err());
        sim.recover_node("raspberrypi-02").await.expect("recover");
        assert!(sim.nodes().await.expect("n").iter().all(|n| n.ready));

        let gone = sim
            .delete(&[ObjectRef {
                kind: "Deployment".into(),
                namespace: "rohe".into(),
                name: "web-raspberrypi-02".into(),
            }])
            .await
            .expect("delete");
        assert_eq!(gone.len(), 1);
        assert!(sim.workloads("rohe", None).await.expect("w").is_empty());
    }
}
