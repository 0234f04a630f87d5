//! The Cluster port: where placed service instances actually run.
//!
//! Implementations: `adapters::embedded::SimulatedCluster` (nodes from an inventory file,
//! instances as simulated pods whose state lives in the store) and `adapters::kube::KubeCluster`
//! (a Kubernetes API server: server-side apply, the scale subresource, Deployment and Pod
//! status). Both take the same Kubernetes objects, as JSON, from `domain::manifests`, so the
//! reconciler does not know which one it drives.
//!
//! Errors per object do not abort an apply: [`ApplyReport`] says which objects were applied and
//! which failed (with the API server's reason), so a partial apply is never left unreported.

use crate::error::{Error, Result};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Labels rohe puts on everything it creates, and selects by.
pub const LABEL_APP: &str = "rohe.io/app";
pub const LABEL_SERVICE_ID: &str = "rohe.io/service-id";
pub const LABEL_NODE: &str = "rohe.io/node";
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterInfo {
    /// `simulated` or `kubernetes`.
    pub kind: &'static str,
    /// The inventory file, or the API server's URL and context.
    pub location: String,
}

/// Capacity or allocatable figures in rohe's units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct NodeResources {
    /// millicpu (1000 = one core).
    pub cpu: f64,
    /// MB.
    pub memory: f64,
}

/// A node as the cluster reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterNode {
    /// The Kubernetes node name (`kubernetes.io/hostname`), matched to the inventory's
    /// `node_name`.
    pub name: String,
    /// The node's Ready condition is true.
    pub ready: bool,
    /// Marked unschedulable in the cluster (`kubectl cordon`).
    #[serde(default)]
    pub unschedulable: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<NodeResources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocatable: Option<NodeResources>,
}

/// Which object, for reports and deletion.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// `Namespace`, `ConfigMap`, `Service`, `Deployment`.
    pub kind: String,
    /// Empty for cluster-scoped objects (Namespace).
    #[serde(default)]
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    /// The reference of a Kubernetes object given as JSON (`kind`, `metadata.name`,
    /// `metadata.namespace`).
    pub fn of(object: &serde_json::Value) -> Result<ObjectRef> {
        let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_string);
        let kind = text(object.get("kind"))
            .ok_or_else(|| Error::invalid("a Kubernetes object has no kind").field("kind"))?;
        let meta = object.get("metadata");
        let name = text(meta.and_then(|m| m.get("name"))).ok_or_else(|| {
            Error::invalid("a Kubernetes object has no name").field("metadata.name")
        })?;
        let namespace = text(meta.and_then(|m| m.get("namespace"))).unwrap_or_default();
        Ok(ObjectRef {
            kind,
            namespace,
            name,
        })
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyAction {
    Created,
    Configured,
    Unchanged,
}

/// What one apply did, object by object, in the order given.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ApplyReport {
    pub applied: Vec<(ObjectRef, ApplyAction)>,
    /// Objects the cluster refused or could not be reached for, with the reason. Objects after a
    /// failed one are still attempted (they do not depend on each other beyond the namespace).
    pub failed: Vec<(ObjectRef, String)>,
}

impl ApplyReport {
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodStatus {
    pub name: String,
    /// The node it is bound to (empty while unscheduled).
    pub node: String,
    pub phase: PodPhase,
    pub ready: bool,
    #[serde(default)]
    pub restarts: u32,
    /// Why it is not ready, when the cluster says (e.g. `NodeLost`, `ImagePullBackOff`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One rohe-managed Deployment and its pods, as the cluster reports them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadStatus {
    pub namespace: String,
    /// The Deployment's name.
    pub name: String,
    /// From the `rohe.io/*` labels.
    pub app: String,
    pub service_id: String,
    pub node: String,
    /// `spec.replicas`.
    pub desired: u32,
    /// `status.readyReplicas`.
    pub ready: u32,
    pub pods: Vec<PodStatus>,
}

#[async_trait]
pub trait ClusterBackend: Send + Sync {
    fn info(&self) -> ClusterInfo;

    /// The cluster's nodes with readiness, capacity and labels.
    async fn nodes(&self) -> Result<Vec<ClusterNode>>;

    /// Server-side apply of `objects` (Kubernetes objects as JSON, in the order given:
    /// Namespace, ConfigMaps, Services, Deployments). Per-object failures are reported, not
    /// returned as `Err`; `Err` means nothing could be attempted (no cluster, bad credentials).
    async fn apply(&self, objects: &[serde_json::Value]) -> Result<ApplyReport>;

    /// Set a Deployment's replicas through the scale subresource.
    async fn scale(&self, namespace: &str, deployment: &str, replicas: u32) -> Result<()>;

    /// Delete these objects; one already gone counts as deleted. Returns what was deleted.
    async fn delete(&self, objects: &[ObjectRef]) -> Result<Vec<ObjectRef>>;

    /// rohe-managed Deployments in `namespace` (of one application when given) with their pods.
    async fn workloads(&self, namespace: &str, app: Option<&str>) -> Result<Vec<WorkloadStatus>>;

    /// Keep watching `namespace` for [`workloads_view`](Self::workloads_view) (a console or a
    /// server, not a one-shot command). Idempotent; the default watches nothing.
    async fn watch(&self, _namespace: &str) -> Result<()> {
        Ok(())
    }

    /// `workloads` for showing: from the watch while it is current, else listed. Decisions
    /// (reconciliation) use `workloads`, which always asks the cluster.
    async fn workloads_view(
        &self,
        namespace: &str,
        app: Option<&str>,
    ) -> Result<Vec<WorkloadStatus>> {
        self.workloads(namespace, app).await
    }

    /// Mark the node unschedulable (or schedulable again) in the cluster itself, so that
    /// nothing else places pods there either. The simulated cluster reads the flag from the
    /// inventory, so it has nothing to do.
    async fn set_cordon(&self, _name: &str, _cordoned: bool) -> Result<()> {
        Ok(())
    }

    /// Simulation only: the node stops (NotReady), its pods fail.
    async fn fail_node(&self, name: &str) -> Result<()> {
        Err(not_simulated(name, "fail"))
    }

    /// Simulation only: the node is Ready again.
    async fn recover_node(&self, name: &str) -> Result<()> {
        Err(not_simulated(name, "recover"))
    }
}

fn not_simulated(name: &str, verb: &str) -> Error {
    Error::invalid(format!(
        "cannot {verb} node {name:?}: only the simulated cluster can {verb} a node"
    ))
    .field("orchestration.cluster")
    .hint("on Kubernetes, use `rohe node cordon` and drain the node with kubectl")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ref_reads_kind_name_and_namespace() {
        let d = serde_json::json!({"kind": "Deployment", "metadata": {"name": "a-b", "namespace": "rohe"}});
        let r = ObjectRef::of(&d).expect("a valid object");
        assert_eq!(r.to_string(), "Deployment/rohe/a-b");
        let ns = serde_json::json!({"kind": "Namespace", "metadata": {"name": "rohe"}});
        assert_eq!(
            ObjectRef::of(&ns).expect("ns").to_string(),
            "Namespace/rohe"
        );
        let bad = serde_json::json!({"metadata": {"name": "x"}});
        assert_eq!(
            ObjectRef::of(&bad).expect_err("no kind").field.as_deref(),
            Some("kind")
        );
    }
}
