//! The Kubernetes cluster: the Cluster port over a real API server.
//!
//! - The client comes from `orchestration.kubeconfig` (`~` expanded) and
//!   `orchestration.context`, else the usual places (`$KUBECONFIG`, `~/.kube/config`, the
//!   in-cluster service account). It is built on first use: creating the adapter reads no file and
//!   contacts no server, so commands that never touch the cluster work without one.
//! - `apply` is server-side apply (`PATCH`, `application/apply-patch+yaml`,
//!   `fieldManager=<orchestration.field_manager>`, `force=true`) of each generated object in
//!   the order given. A `GET` first tells `created`, `configured` and `unchanged` apart (the
//!   apply answers 200 whether or not anything changed; an unchanged object keeps its
//!   `resourceVersion`). Every object gets a result: the ones the API server refused (409
//!   conflict, 422 invalid, 5xx ...) are listed with its own message, so a half-done apply is
//!   never silent.
//! - `scale` is a merge patch of the `deployments/<name>/scale` subresource.
//! - `delete` deletes each object (background propagation); one already gone (404) counts as
//!   deleted.
//! - `workloads` lists rohe-managed Deployments and Pods by label.
//! - Nodes cannot be failed or recovered from here (the port's default refuses, with a hint).
//!
//! Everything the API server sends is external input: nothing here unwraps it; an unreadable
//! answer is an error naming the object.

use crate::config::OrchestrationConfig;
use crate::domain::names::dns1123_label;
use crate::error::{Error, Result};
use crate::ports::cluster::{
    ApplyAction, ApplyReport, ClusterBackend, ClusterInfo, ClusterNode, LABEL_APP,
    LABEL_MANAGED_BY, LABEL_NODE, LABEL_SERVICE_ID, NodeResources, ObjectRef, PodPhase, PodStatus,
    WorkloadStatus,
};
use ::kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use ::kube::config::{KubeConfigOptions, Kubeconfig};
use ::kube::core::ApiResource;
use ::kube::{Client, Config};
use async_trait::async_trait;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod, Service};
use std::collections::BTreeMap;
use std::path::PathBuf;
use tokio::sync::OnceCell;

mod mirror;
use mirror::Mirror;

/// The watches of one namespace (see [`mirror`]).
struct Watched {
    deployments: std::sync::Arc<Mirror<Deployment>>,
    pods: std::sync::Arc<Mirror<Pod>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Where the client comes from.
enum Source {
    /// Built from the configuration on first use.
    Config {
        kubeconfig: Option<PathBuf>,
        context: Option<String>,
    },
    /// Given (tests: a client over recorded API traffic).
    Given,
}

pub struct KubeCluster {
    source: Source,
    client: OnceCell<Client>,
    field_manager: String,
    location: String,
    /// Namespaces watched for the views, by name.
    watched: std::sync::Mutex<BTreeMap<String, Watched>>,
}

impl Drop for KubeCluster {
    fn drop(&mut self) {
        let watched = self.watched.get_mut().unwrap_or_else(|p| p.into_inner());
        for w in watched.values() {
            for t in &w.tasks {
                t.abort();
            }
        }
    }
}

impl KubeCluster {
    /// The adapter for `orchestration.*`; reads nothing and contacts nothing yet.
    pub fn new(config: &OrchestrationConfig) -> Result<KubeCluster> {
        let kubeconfig = match config.kubeconfig.trim() {
            "" => None,
            p => Some(expand_home(p)?),
        };
        let context = match config.context.trim() {
            "" => None,
            c => Some(c.to_string()),
        };
        let location = match (&kubeconfig, &context) {
            (Some(p), Some(c)) => format!("{} (context {c})", p.display()),
            (Some(p), None) => format!("{} (current context)", p.display()),
            (None, Some(c)) => format!("$KUBECONFIG or ~/.kube/config (context {c})"),
            (None, None) => "$KUBECONFIG, ~/.kube/config or in-cluster".to_string(),
        };
        Ok(KubeCluster {
            source: Source::Config {
                kubeconfig,
                context,
            },
            client: OnceCell::new(),
            field_manager: config.field_manager.clone(),
            location,
            watched: Default::default(),
        })
    }

    /// The adapter over a ready client (e.g. `kube::Client::new(service, namespace)`).
    pub fn with_client(
        client: Client,
        field_manager: impl Into<String>,
        location: impl Into<String>,
    ) -> KubeCluster {
        KubeCluster {
            source: Source::Given,
            client: OnceCell::new_with(Some(client)),
            field_manager: field_manager.into(),
            location: location.into(),
            watched: Default::default(),
        }
    }

    async fn client(&self) -> Result<&Client> {
        self.client.get_or_try_init(|| self.connect()).await
    }

    async fn connect(&self) -> Result<Client> {
        let Source::Config {
            kubeconfig,
            context,
        } = &self.source
        else {
            return Err(Error::runtime("the Kubernetes client was not given"));
        };
        let options = KubeConfigOptions {
            context: context.clone(),
            ..Default::default()
        };
        let config = match kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path).map_err(|e| {
                    Error::invalid(format!("cannot read the kubeconfig {}: {e}", path.display()))
                        .field("orchestration.kubeconfig")
                        .hint("give the path of a readable kubeconfig file, or leave it empty for $KUBECONFIG / ~/.kube/config")
                })?;
                Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| kubeconfig_error(&e.to_string(), context.is_some()))?
            }
            None if context.is_some() => Config::from_kubeconfig(&options)
                .await
                .map_err(|e| kubeconfig_error(&e.to_string(), true))?,
            None => Config::infer().await.map_err(|e| {
                Error::invalid(format!("no Kubernetes configuration found: {e}"))
                    .field("orchestration.kubeconfig")
                    .hint("set orchestration.kubeconfig (or $KUBECONFIG) to a kubeconfig file, or run rohe inside the cluster")
            })?,
        };
        Client::try_from(config).map_err(|e| {
            Error::invalid(format!("cannot build the Kubernetes client: {e}"))
                .field("orchestration.kubeconfig")
                .hint("check the cluster's server URL and certificates in the kubeconfig")
        })
    }

    /// The API server's version (`GET /version`), for `rohe doctor`.
    pub async fn server_version(&self) -> Result<String> {
        let v = self
            .client()
            .await?
            .apiserver_version()
            .await
            .map_err(|e| api_error(&e, "the API server's version"))?;
        Ok(v.git_version)
    }

    fn dynamic(
        &self,
        client: &Client,
        r: &ObjectRef,
    ) -> std::result::Result<Api<DynamicObject>, String> {
        let (ar, namespaced) = match r.kind.as_str() {
            "Namespace" => (ApiResource::erase::<Namespace>(&()), false),
            "ConfigMap" => (ApiResource::erase::<ConfigMap>(&()), true),
            "Service" => (ApiResource::erase::<Service>(&()), true),
            "Deployment" => (ApiResource::erase::<Deployment>(&()), true),
            other => {
                return Err(format!(
                    "rohe does not manage the kind {other:?} (Namespace, ConfigMap, Service and Deployment only)"
                ));
            }
        };
        if !namespaced {
            return Ok(Api::all_with(client.clone(), &ar));
        }
        if r.namespace.is_empty() {
            return Err("metadata.namespace: Required value".into());
        }
        Ok(Api::namespaced_with(client.clone(), &r.namespace, &ar))
    }

    async fn apply_one(
        &self,
        client: &Client,
        r: &ObjectRef,
        obj: &serde_json::Value,
    ) -> std::result::Result<ApplyAction, String> {
        let api = self.dynamic(client, r)?;
        let before = api
            .get_opt(&r.name)
            .await
            .map_err(|e| apply_failure(&e))?
            .and_then(|o| o.metadata.resource_version);
        let params = PatchParams::apply(&self.field_manager).force();
        let after = api
            .patch(&r.name, &params, &Patch::Apply(obj))
            .await
            .map_err(|e| apply_failure(&e))?
            .metadata
            .resource_version;
        Ok(match before {
            None => ApplyAction::Created,
            Some(b) if Some(&b) == after.as_ref() => ApplyAction::Unchanged,
            Some(_) => ApplyAction::Configured,
        })
    }
}

/// `~` and `~/...` are the home directory.
fn expand_home(path: &str) -> Result<PathBuf> {
    let rest = match path.strip_prefix('~') {
        None => return Ok(PathBuf::from(path)),
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.trim_start_matches('/'),
        Some(_) => {
            return Err(Error::invalid(format!(
                "orchestration.kubeconfig {path:?}: only `~` and `~/...` are expanded"
            ))
            .field("orchestration.kubeconfig")
            .hint("give an absolute path or one starting with ~/"));
        }
    };
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            Error::invalid(format!(
                "orchestration.kubeconfig {path:?} starts with ~ but $HOME is not set"
            ))
            .field("orchestration.kubeconfig")
            .hint("give an absolute path")
        })?;
    Ok(PathBuf::from(home).join(rest))
}

fn kubeconfig_error(e: &str, with_context: bool) -> Error {
    let err = Error::invalid(format!("the kubeconfig cannot be used: {e}"));
    if with_context {
        err.field("orchestration.context")
            .hint("name a context of the kubeconfig (`kubectl config get-contexts`), or leave it empty for the current one")
    } else {
        err.field("orchestration.kubeconfig")
            .hint("check the file with `kubectl config view`; it needs a current context, a cluster and a user")
    }
}

/// One object's failure, in the words an operator acts on.
fn apply_failure(e: &::kube::Error) -> String {
    match e {
        ::kube::Error::Api(s) => {
            let msg = if s.message.is_empty() {
                s.reason.clone()
            } else {
                s.message.clone()
            };
            match s.code {
                409 => format!("conflict (409): {msg}"),
                422 => format!("invalid (422): {msg}"),
                400 => format!("bad request (400): {msg}"),
                401 | 403 => format!(
                    "not allowed ({}): {msg}; check the kubeconfig's user and its RBAC rights",
                    s.code
                ),
                404 => format!("not found (404): {msg}"),
                c if c >= 500 => format!(
                    "apiserver error ({c} {}): {msg}; retry with `rohe apply`",
                    s.reason
                ),
                c => format!("refused ({c} {}): {msg}", s.reason),
            }
        }
        ::kube::Error::HyperError(_) | ::kube::Error::Service(_) => {
            format!("cannot reach the API server: {e}; retry with `rohe apply`")
        }
        ::kube::Error::SerdeError(_) => format!("unreadable answer from the API server: {e}"),
        other => other.to_string(),
    }
}

/// A call that is not per object: the API server's answer as a rohe error.
fn api_error(e: &::kube::Error, what: &str) -> Error {
    match e {
        ::kube::Error::Api(s) => {
            let msg = format!("{what}: {}", apply_failure(e));
            match s.code {
                404 => Error::not_found(msg),
                409 => Error::conflict(msg),
                400 | 422 => Error::invalid(msg),
                401 | 403 => Error::runtime(msg)
                    .field("orchestration.kubeconfig")
                    .hint("the kubeconfig's user needs rights on nodes, deployments, pods, services, configmaps and namespaces"),
                _ => Error::runtime(msg).hint("retry; `rohe doctor` checks the API server"),
            }
        }
        _ => Error::runtime(format!("{what}: {}", apply_failure(e)))
            .hint("check that the API server in the kubeconfig is reachable (`rohe doctor`)"),
    }
}

/// A Kubernetes quantity (`3800m`, `4`, `8048284Ki`, `16Gi`, `1e9`) as a number of units.
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let n: f64 = num.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        // Divided, not multiplied by 1e-3: 3800 / 1e3 is exactly 3.8.
        "n" => return finite(n / 1e9),
        "u" => return finite(n / 1e6),
        "m" => return finite(n / 1e3),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0f64.powi(2),
        "Gi" => 1024.0f64.powi(3),
        "Ti" => 1024.0f64.powi(4),
        "Pi" => 1024.0f64.powi(5),
        "Ei" => 1024.0f64.powi(6),
        s if s.starts_with(['e', 'E']) => 10f64.powi(s[1..].parse::<i32>().ok()?),
        _ => return None,
    };
    finite(n * factor)
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// `cpu` and `memory` of a capacity map in rohe's units (millicpu, MB = MiB).
fn resources(
    map: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
) -> Option<NodeResources> {
    let map = map?;
    // Kubernetes keeps cpu to the millicore: round away float noise (3.8 * 1000).
    let cpu = (map.get("cpu").and_then(|q| parse_quantity(&q.0))? * 1000.0).round();
    let memory = map.get("memory").and_then(|q| parse_quantity(&q.0))? / (1024.0 * 1024.0);
    Some(NodeResources { cpu, memory })
}

fn cluster_node(n: Node) -> ClusterNode {
    let status = n.status.unwrap_or_default();
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    ClusterNode {
        name: n.metadata.name.unwrap_or_default(),
        ready,
        unschedulable: n.spec.and_then(|s| s.unschedulable).unwrap_or(false),
        labels: n.metadata.labels.unwrap_or_default(),
        capacity: resources(status.capacity.as_ref()),
        allocatable: resources(status.allocatable.as_ref()),
    }
}

fn pod_status(p: &Pod) -> PodStatus {
    let status = p.status.clone().unwrap_or_default();
    let phase = match status.phase.as_deref() {
        Some("Pending") => PodPhase::Pending,
        Some("Running") => PodPhase::Running,
        Some("Succeeded") => PodPhase::Succeeded,
        Some("Failed") => PodPhase::Failed,
        _ => PodPhase::Unknown,
    };
    let conditions = status.conditions.clone().unwrap_or_default();
    let ready = conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let containers = status.container_statuses.clone().unwrap_or_default();
    let restarts = containers
        .iter()
        .map(|c| c.restart_count.max(0) as u32)
        .sum();
    let waiting = containers.iter().find_map(|c| {
        let st = c.state.as_ref()?;
        st.waiting
            .as_ref()
            .and_then(|w| w.reason.clone())
            .or_else(|| st.terminated.as_ref().and_then(|t| t.reason.clone()))
    });
    let unscheduled = conditions
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        .and_then(|c| c.reason.clone());
    let reason = if ready {
        None
    } else {
        waiting.or(status.reason.clone()).or(unscheduled)
    };
    PodStatus {
        name: p.metadata.name.clone().unwrap_or_default(),
        node: p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default(),
        phase,
        ready,
        restarts,
        reason,
    }
}

/// The label selector of rohe's objects (of one application when given).
fn selector(app: Option<&str>) -> String {
    let mut s = format!("{LABEL_MANAGED_BY}=rohe");
    if let Some(a) = app {
        s.push_str(&format!(",{LABEL_APP}={}", dns1123_label(a, 63)));
    }
    s
}

#[async_trait]
impl ClusterBackend for KubeCluster {
    fn info(&self) -> ClusterInfo {
        ClusterInfo {
            kind: "kubernetes",
            location: self.location.clone(),
        }
    }

    async fn nodes(&self) -> Result<Vec<ClusterNode>> {
        let api: Api<Node> = Api::all(self.client().await?.clone());
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| api_error(&e, "listing the nodes"))?;
        Ok(list.items.into_iter().map(cluster_node).collect())
    }

    async fn apply(&self, objects: &[serde_json::Value]) -> Result<ApplyReport> {
        let client = self.client().await?;
        let mut report = ApplyReport::default();
        for obj in objects {
            let r = match ObjectRef::of(obj) {
                Ok(r) => r,
                Err(e) => {
                    let r = ObjectRef {
                        kind: "?".into(),
                        namespace: String::new(),
                        name: "?".into(),
                    };
                    report.failed.push((r, e.message));
                    continue;
                }
            };
            match self.apply_one(client, &r, obj).await {
                Ok(action) => report.applied.push((r, action)),
                Err(why) => report.failed.push((r, why)),
            }
        }
        Ok(report)
    }

    async fn scale(&self, namespace: &str, deployment: &str, replicas: u32) -> Result<()> {
        let api: Api<Deployment> = Api::namespaced(self.client().await?.clone(), namespace);
        let params = PatchParams {
            field_manager: Some(self.field_manager.clone()),
            ..Default::default()
        };
        let patch = serde_json::json!({"spec": {"replicas": replicas}});
        api.patch_scale(deployment, &params, &Patch::Merge(&patch))
            .await
            .map_err(|e| {
                api_error(
                    &e,
                    &format!("scaling deployment {namespace}/{deployment} to {replicas}"),
                )
            })?;
        Ok(())
    }

    async fn set_cordon(&self, name: &str, cordoned: bool) -> Result<()> {
        // What `kubectl cordon` does: a merge patch of spec.unschedulable (nodes are
        // cluster-scoped). It only stops new pods; draining stays kubectl's job.
        let api: Api<Node> = Api::all(self.client().await?.clone());
        let params = PatchParams {
            field_manager: Some(self.field_manager.clone()),
            ..Default::default()
        };
        let patch = serde_json::json!({"spec": {"unschedulable": cordoned}});
        api.patch(name, &params, &Patch::Merge(&patch))
            .await
            .map_err(|e| {
                let verb = if cordoned { "cordoning" } else { "uncordoning" };
                api_error(&e, &format!("{verb} node {name}"))
            })?;
        Ok(())
    }

    async fn delete(&self, objects: &[ObjectRef]) -> Result<Vec<ObjectRef>> {
        let client = self.client().await?;
        let mut deleted = Vec::new();
        let mut failed = Vec::new();
        for r in objects {
            let api = match self.dynamic(client, r) {
                Ok(api) => api,
                Err(why) => {
                    failed.push(format!("{r}: {why}"));
                    continue;
                }
            };
            match api.delete(&r.name, &DeleteParams::background()).await {
                Ok(_) => deleted.push(r.clone()),
                Err(::kube::Error::Api(s)) if s.code == 404 => deleted.push(r.clone()),
                Err(e) => failed.push(format!("{r}: {}", apply_failure(&e))),
            }
        }
        if failed.is_empty() {
            return Ok(deleted);
        }
        let done = if deleted.is_empty() {
            String::new()
        } else {
            format!(
                " ({} deleted: {})",
                deleted.len(),
                deleted
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Err(
            Error::runtime(format!("could not delete {}{done}", failed.join("; ")))
                .hint("run `rohe apply` again; it deletes what is left"),
        )
    }

    async fn workloads(&self, namespace: &str, app: Option<&str>) -> Result<Vec<WorkloadStatus>> {
        let client = self.client().await?;
        let lp = ListParams::default().labels(&selector(app));
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
        let deployments = deployments
            .list(&lp)
            .await
            .map_err(|e| api_error(&e, &format!("listing the deployments of {namespace}")))?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let pods = pods
            .list(&lp)
            .await
            .map_err(|e| api_error(&e, &format!("listing the pods of {namespace}")))?;
        Ok(workload_statuses(namespace, deployments.items, &pods.items))
    }

    async fn watch(&self, namespace: &str) -> Result<()> {
        let client = self.client().await?.clone();
        let mut watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
        if watched.contains_key(namespace) {
            return Ok(());
        }
        let deployments = Mirror::new();
        let pods = Mirror::new();
        let tasks = vec![
            tokio::spawn(mirror::run(
                Api::<Deployment>::namespaced(client.clone(), namespace),
                selector(None),
                deployments.clone(),
            )),
            tokio::spawn(mirror::run(
                Api::<Pod>::namespaced(client, namespace),
                selector(None),
                pods.clone(),
            )),
        ];
        watched.insert(
            namespace.to_string(),
            Watched {
                deployments,
                pods,
                tasks,
            },
        );
        Ok(())
    }

    async fn workloads_view(
        &self,
        namespace: &str,
        app: Option<&str>,
    ) -> Result<Vec<WorkloadStatus>> {
        let current = {
            let watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
            watched
                .get(namespace)
                .and_then(|w| Some((w.deployments.snapshot()?, w.pods.snapshot()?)))
        };
        let Some((deployments, pods)) = current else {
            return self.workloads(namespace, app).await;
        };
        let wanted = app.map(|a| dns1123_label(a, 63));
        let deployments = deployments
            .into_iter()
            .filter(|d| {
                wanted.as_ref().is_none_or(|a| {
                    d.metadata.labels.as_ref().and_then(|l| l.get(LABEL_APP)) == Some(a)
                })
            })
            .collect();
        Ok(workload_statuses(namespace, deployments, &pods))
    }
}

/// Deployments with the pods their selector matches, as the port reports them.
fn workload_statuses(
    namespace: &str,
    deployments: Vec<Deployment>,
    pods: &[Pod],
) -> Vec<WorkloadStatus> {
    let mut out = Vec::new();
    for d in deployments {
        let labels = d.metadata.labels.clone().unwrap_or_default();
        let annotations = d.metadata.annotations.clone().unwrap_or_default();
        let spec = d.spec.clone().unwrap_or_default();
        let wanted = spec.selector.match_labels.clone().unwrap_or_default();
        let node_selector = spec
            .template
            .spec
            .as_ref()
            .and_then(|s| s.node_selector.as_ref())
            .and_then(|s| s.get("kubernetes.io/hostname").cloned())
            .unwrap_or_default();
        let mine: Vec<PodStatus> = pods
            .iter()
            .filter(|p| {
                let pl = p.metadata.labels.as_ref();
                !wanted.is_empty()
                    && wanted
                        .iter()
                        .all(|(k, v)| pl.and_then(|l| l.get(k)) == Some(v))
            })
            .map(pod_status)
            .collect();
        out.push(WorkloadStatus {
            namespace: namespace.to_string(),
            name: d.metadata.name.clone().unwrap_or_default(),
            app: labels.get(LABEL_APP).cloned().unwrap_or_default(),
            service_id: annotations
                .get(LABEL_SERVICE_ID)
                .or_else(|| labels.get(LABEL_SERVICE_ID))
                .cloned()
                .unwrap_or_default(),
            node: labels.get(LABEL_NODE).cloned().unwrap_or(node_selector),
            desired: spec.replicas.unwrap_or(1).max(0) as u32,
            ready: d
                .status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0)
                .max(0) as u32,
            pods: mine,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_in_every_suffix() {
        assert_eq!(parse_quantity("4"), Some(4.0));
        assert_eq!(parse_quantity("3800m"), Some(3.8));
        assert_eq!(parse_quantity("8Gi"), Some(8.0 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(parse_quantity("3884Ki"), Some(3884.0 * 1024.0));
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        assert_eq!(parse_quantity("2k"), Some(2000.0));
        assert_eq!(parse_quantity("0.5"), Some(0.5));
        assert_eq!(parse_quantity("lots"), None);
        assert_eq!(parse_quantity("5Qi"), None);
        assert_eq!(parse_quantity(""), None);
    }

    #[test]
    fn kubeconfig_paths_expand_home() {
        let home = std::env::var("HOME").unwrap_or_default();
        if !home.is_empty() {
            assert_eq!(
                expand_home("~/.kube/edge").expect("expands"),
                PathBuf::from(&home).join(".kube/edge")
            );
        }
        assert_eq!(
            expand_home("/etc/rancher/k3s/k3s.yaml").expect("absolute"),
            PathBuf::from("/etc/rancher/k3s/k3s.yaml")
        );
        let e = expand_home("~bob/k").expect_err("other users' homes are not expanded");
        assert_eq!(e.field.as_deref(), Some("orchestration.kubeconfig"));
    }

    #[tokio::test]
    async fn creating_the_adapter_reads_no_file() {
        let cfg = OrchestrationConfig {
            kubeconfig: "/nonexistent/kubeconfig".into(),
            context: "edge".into(),
            ..Default::default()
        };
        let k = KubeCluster::new(&cfg).expect("lazy");
        assert_eq!(k.info().kind, "kubernetes");
        assert!(k.info().location.contains("context edge"));
        let e = k.nodes().await.expect_err("the file is missing");
        assert_eq!(e.field.as_deref(), Some("orchestration.kubeconfig"));
        assert!(e.hint.is_some());
    }
}
