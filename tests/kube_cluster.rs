//! The Kubernetes adapter against recorded API exchanges.
//!
//! No API server is obtainable here (no kube-apiserver, k3s, kind or envtest binary), so these
//! tests do what kube-rs's own tests do: the adapter's `kube::Client` runs over an in-process
//! tower service (`tower::service_fn`) that plays the API server, answering with real apiserver
//! JSON kept in `tests/fixtures/kube/` (a k3s NodeList, a Deployment as server-side apply returns
//! it, a Scale, a DeploymentList, a PodList, and the Status bodies of 404, 409, 422 and 500).
//! Every request is recorded, and the tests assert its method, path, query (`fieldManager`,
//! `force`), content type and body.

use http::{Request, Response};
use kube::client::Body;
use rohe::adapters::kube::KubeCluster;
use rohe::domain::resources::{OrderedMap, parse_nodes, parse_services};
use rohe::ports::ClusterBackend;
use rohe::ports::cluster::{ApplyAction, ObjectRef, PodPhase};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kube")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).expect("fixture is JSON")
}

/// One request as the API server received it.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    query: BTreeMap<String, String>,
    content_type: String,
    body: Option<Value>,
}

impl Recorded {
    fn is(&self, method: &str, path: &str) -> bool {
        self.method == method && self.path == path
    }
}

type Log = Arc<Mutex<Vec<Recorded>>>;

/// A client whose API server is `answer` (status, JSON body), recording every request.
fn fake_apiserver(
    answer: impl Fn(&Recorded) -> (u16, String) + Send + Sync + 'static,
) -> (KubeCluster, Log) {
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    let answer = Arc::new(answer);
    let service = tower::service_fn(move |req: Request<Body>| {
        let (answer, seen) = (answer.clone(), seen.clone());
        async move {
            let (parts, body) = req.into_parts();
            let bytes = body.collect_bytes().await.expect("request body");
            let query = parts
                .uri
                .query()
                .map(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect()
                })
                .unwrap_or_default();
            let rec = Recorded {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                query,
                content_type: parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string(),
                body: (!bytes.is_empty())
                    .then(|| serde_json::from_slice(&bytes).expect("request body is JSON")),
            };
            let (status, text) = answer(&rec);
            seen.lock().expect("log").push(rec);
            let resp = Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(text.into_bytes()))
                .expect("response");
            Ok::<_, std::convert::Infallible>(resp)
        }
    });
    let client = kube::Client::new(service, "rohe");
    (
        KubeCluster::with_client(client, "rohe-test", "recorded API traffic"),
        log,
    )
}

fn requests(log: &Log) -> Vec<Recorded> {
    log.lock().expect("log").clone()
}

/// What the API server adds to an applied object (uid, resourceVersion, managedFields).
fn as_stored(body: &Value, resource_version: &str) -> String {
    let mut o = body.clone();
    if let Some(meta) = o.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.insert("uid".into(), "0b9c1f7e-2d3a-4c5b-8e6f-7a8b9c0d1e2f".into());
        meta.insert("resourceVersion".into(), resource_version.into());
        meta.insert("creationTimestamp".into(), "2026-11-29T02:31:07Z".into());
        meta.insert(
            "managedFields".into(),
            json!([{"manager": "rohe-test", "operation": "Apply", "apiVersion": "v1",
                    "time": "2026-11-29T02:31:07Z", "fieldsType": "FieldsV1", "fieldsV1": {}}]),
        );
    }
    o.to_string()
}

fn not_found(kind: &str, name: &str) -> String {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": format!("{kind} {name:?} not found"), "reason": "NotFound",
           "details": {"name": name, "kind": kind}, "code": 404})
    .to_string()
}

const NODES: &str = "nodes:
  - node_name: raspberrypi-02
    mac_address: dc:a6:32:07:ab:92
    cpu: {capacity: 4000}
    memory: {capacity: {rss: 4096, vms: 4096}}
    cores: {capacity: [100, 100, 100, 100]}
  - node_name: jetson-nano-02
    mac_address: 00:e0:4c:68:00:02
    cpu: {capacity: 4000}
    memory: {capacity: {rss: 4096, vms: 2048}}
    cores: {capacity: [100, 100, 100, 100]}
";

const SERVICES: &str = "application: shop
services:
  - service_name: web
    service_id: shop-web
    image: nginx:1
    replicas: 1
    ports: [80]
    cpu_required: 600
    memory_required: {rss: 100, vms: 100}
    cores_required: [50]
  - service_name: detector
    service_id: shop-detector
    image: detector:2
    replicas: 2
    ports: [8080]
    cpu_required: 600
    memory_required: {rss: 300, vms: 300}
    cores_required: [50]
";

/// The generated objects of a placed application: web on raspberrypi-02, detector on both.
fn shop_objects() -> Vec<Value> {
    let nodes = parse_nodes(NODES, "nodes.yaml").expect("nodes");
    let mut services = parse_services(SERVICES, "services.yaml").expect("services");
    services[0].node = OrderedMap(vec![("dc:a6:32:07:ab:92".into(), 1)]);
    services[1].node = OrderedMap(vec![
        ("dc:a6:32:07:ab:92".into(), 1),
        ("00:e0:4c:68:00:02".into(), 1),
    ]);
    rohe::domain::manifests::for_application("shop", &services, &nodes, None, "rohe")
        .expect("manifests")
}

/// The path of an object's resource (no name), as the adapter should use it.
fn collection(kind: &str) -> &'static str {
    match kind {
        "Namespace" => "/api/v1/namespaces",
        "ConfigMap" => "/api/v1/namespaces/rohe/configmaps",
        "Service" => "/api/v1/namespaces/rohe/services",
        "Deployment" => "/apis/apps/v1/namespaces/rohe/deployments",
        other => panic!("unexpected kind {other}"),
    }
}

#[tokio::test]
async fn nodes_are_read_with_capacity_allocatable_labels_readiness_and_cordon() {
    let (k, log) = fake_apiserver(|_| (200, fixture("nodes.json")));
    let nodes = k.nodes().await.expect("nodes");
    let reqs = requests(&log);
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0].is("GET", "/api/v1/nodes"), "{:?}", reqs[0]);

    assert_eq!(nodes.len(), 3);
    let pi = &nodes[0];
    assert_eq!(pi.name, "raspberrypi-02");
    assert!(pi.ready);
    assert!(!pi.unschedulable);
    assert_eq!(
        pi.labels.get("kubernetes.io/hostname").map(String::as_str),
        Some("raspberrypi-02")
    );
    assert_eq!(
        pi.labels.get("kubernetes.io/arch").map(String::as_str),
        Some("arm64")
    );
    let cap = pi.capacity.expect("capacity");
    assert_eq!(cap.cpu, 4000.0);
    assert!((cap.memory - 3884360.0 / 1024.0).abs() < 1e-9, "{cap:?}");
    let alloc = pi.allocatable.expect("allocatable");
    assert_eq!(alloc.cpu, 3800.0);
    assert!((alloc.memory - 3781960.0 / 1024.0).abs() < 1e-9);

    let nano = &nodes[1];
    assert_eq!(nano.name, "jetson-nano-01");
    assert!(!nano.ready, "Ready is Unknown: not ready");

    let server = &nodes[2];
    assert!(server.ready);
    assert!(server.unschedulable, "cordoned");
    assert_eq!(server.allocatable.expect("alloc").cpu, 31500.0);
}

#[tokio::test]
async fn apply_of_a_full_application_is_server_side_apply_in_order() {
    let objects = shop_objects();
    let (k, log) = fake_apiserver(|r| match r.method.as_str() {
        // The Namespace exists already and nothing changes; everything else is new.
        "GET" if r.path == "/api/v1/namespaces/rohe" => (
            200,
            as_stored(
                &json!({"apiVersion": "v1", "kind": "Namespace",
                             "metadata": {"name": "rohe"}}),
                "100",
            ),
        ),
        "GET" => (404, not_found("object", "x")),
        "PATCH" if r.path == "/api/v1/namespaces/rohe" => {
            (200, as_stored(r.body.as_ref().expect("body"), "100"))
        }
        "PATCH" => (201, as_stored(r.body.as_ref().expect("body"), "48213")),
        other => panic!("unexpected {other} {}", r.path),
    });
    let report = k.apply(&objects).await.expect("apply");
    assert!(report.ok(), "{:?}", report.failed);

    let kinds: Vec<(&str, String)> = report
        .applied
        .iter()
        .map(|(r, _)| (r.kind.as_str(), r.name.clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("Namespace", "rohe".to_string()),
            ("ConfigMap", "shop-pipeline".to_string()),
            ("Service", "web".to_string()),
            ("Service", "detector".to_string()),
            ("Deployment", "web-raspberrypi-02".to_string()),
            ("Deployment", "detector-raspberrypi-02".to_string()),
            ("Deployment", "detector-jetson-nano-02".to_string()),
        ]
    );
    assert_eq!(report.applied[0].1, ApplyAction::Unchanged);
    assert!(
        report.applied[1..]
            .iter()
            .all(|(_, a)| *a == ApplyAction::Created)
    );

    // A GET to know what exists, then the apply, object by object, in the generator's order.
    let reqs = requests(&log);
    assert_eq!(reqs.len(), 2 * objects.len());
    for (obj, pair) in objects.iter().zip(reqs.chunks(2)) {
        let r = ObjectRef::of(obj).expect("ref");
        let path = format!("{}/{}", collection(&r.kind), r.name);
        let path = if r.kind == "Namespace" {
            "/api/v1/namespaces/rohe".to_string()
        } else {
            path
        };
        assert!(pair[0].is("GET", &path), "{:?}", pair[0]);
        let patch = &pair[1];
        assert!(patch.is("PATCH", &path), "{patch:?}");
        assert_eq!(patch.content_type, "application/apply-patch+yaml");
        assert_eq!(
            patch.query.get("fieldManager").map(String::as_str),
            Some("rohe-test")
        );
        assert_eq!(patch.query.get("force").map(String::as_str), Some("true"));
        assert_eq!(
            patch.body.as_ref(),
            Some(obj),
            "the generated object, as is"
        );
    }

    // Key fields of one Deployment as the API server received it.
    let d = reqs
        .iter()
        .find(|r| {
            r.is(
                "PATCH",
                "/apis/apps/v1/namespaces/rohe/deployments/detector-jetson-nano-02",
            )
        })
        .and_then(|r| r.body.clone())
        .expect("the detector's deployment");
    assert_eq!(d["apiVersion"], "apps/v1");
    assert_eq!(d["kind"], "Deployment");
    assert_eq!(d["metadata"]["labels"]["rohe.io/app"], "shop");
    assert_eq!(d["metadata"]["labels"]["rohe.io/node"], "jetson-nano-02");
    assert_eq!(
        d["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "rohe"
    );
    assert_eq!(
        d["metadata"]["annotations"]["rohe.io/service-id"],
        "shop-detector"
    );
    assert_eq!(d["spec"]["replicas"], 1);
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(
        pod["nodeSelector"]["kubernetes.io/hostname"],
        "jetson-nano-02"
    );
    let c = &pod["containers"][0];
    assert_eq!(c["image"], "detector:2");
    assert_eq!(c["resources"]["requests"]["cpu"], "600m");
    assert_eq!(c["resources"]["requests"]["memory"], "300Mi");
    // The selector matches the pod template's labels.
    for (k, v) in d["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels")
    {
        assert_eq!(&d["spec"]["template"]["metadata"]["labels"][k], v, "{k}");
    }
    let svc = reqs
        .iter()
        .find(|r| r.is("PATCH", "/api/v1/namespaces/rohe/services/detector"))
        .and_then(|r| r.body.clone())
        .expect("the detector's service");
    assert_eq!(svc["spec"]["selector"]["rohe.io/app"], "shop");
    assert_eq!(svc["spec"]["ports"][0]["port"], 8080);
}

#[tokio::test]
async fn an_unchanged_object_keeps_its_resource_version_and_a_changed_one_does_not() {
    let stored = fixture("deployment-applied.json");
    let obj = fixture_json("deployment-applied.json");
    let bumped = {
        let mut v = obj.clone();
        v["metadata"]["resourceVersion"] = "48377".into();
        v.to_string()
    };
    let calls = Arc::new(Mutex::new(0));
    let n = calls.clone();
    let (k, _log) = fake_apiserver(move |r| {
        let mut n = n.lock().expect("n");
        *n += 1;
        match (*n, r.method.as_str()) {
            (1..=3, "GET" | "PATCH") => (200, stored.clone()),
            (4, "PATCH") => (200, bumped.clone()),
            other => panic!("unexpected {other:?}"),
        }
    });
    let unchanged = k.apply(std::slice::from_ref(&obj)).await.expect("apply");
    assert_eq!(unchanged.applied[0].1, ApplyAction::Unchanged);
    let changed = k.apply(std::slice::from_ref(&obj)).await.expect("apply");
    assert_eq!(changed.applied[0].1, ApplyAction::Configured);
}

#[tokio::test]
async fn refused_deployments_are_reported_with_the_apiservers_message_and_the_rest_applied() {
    for (fixture_name, code, expected) in [
        (
            "status-409.json",
            409,
            "conflict (409): Operation cannot be fulfilled on deployments.apps \"detector-jetson-nano-02\": the object has been modified",
        ),
        (
            "status-422.json",
            422,
            "invalid (422): Deployment.apps \"detector-jetson-nano-02\" is invalid: spec.template.spec.containers[0].resources.requests: Invalid value: \"600m\"",
        ),
    ] {
        let refusal = fixture(fixture_name);
        let (k, log) = fake_apiserver(move |r| match r.method.as_str() {
            "GET" => (404, not_found("object", "x")),
            "PATCH" if r.path.ends_with("/deployments/detector-jetson-nano-02") => {
                (code, refusal.clone())
            }
            "PATCH" => (201, as_stored(r.body.as_ref().expect("body"), "7")),
            other => panic!("unexpected {other}"),
        });
        let objects = shop_objects();
        let report = k.apply(&objects).await.expect("apply runs");
        assert!(!report.ok());
        assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
        let (r, why) = &report.failed[0];
        assert_eq!(r.to_string(), "Deployment/rohe/detector-jetson-nano-02");
        assert!(why.starts_with(expected), "{why}");
        assert_eq!(report.applied.len(), objects.len() - 1);
        assert!(
            report
                .applied
                .iter()
                .all(|(r, _)| r.name != "detector-jetson-nano-02")
        );
        // Every object was attempted: nothing is left out silently.
        let patches = requests(&log)
            .iter()
            .filter(|r| r.method == "PATCH")
            .count();
        assert_eq!(patches, objects.len());
    }
}

#[tokio::test]
async fn an_apiserver_error_is_reported_as_retryable_and_other_objects_still_apply() {
    let (k, _log) = fake_apiserver(|r| match r.method.as_str() {
        "GET" => (404, not_found("object", "x")),
        "PATCH" if r.path.ends_with("/configmaps/shop-pipeline") => {
            (500, fixture("status-500.json"))
        }
        "PATCH" => (201, as_stored(r.body.as_ref().expect("body"), "9")),
        other => panic!("unexpected {other}"),
    });
    let report = k.apply(&shop_objects()).await.expect("apply runs");
    assert_eq!(report.failed.len(), 1);
    let (r, why) = &report.failed[0];
    assert_eq!(r.kind, "ConfigMap");
    assert!(why.starts_with("apiserver error (500 InternalError): Internal error occurred: etcdserver: request timed out"), "{why}");
    assert!(why.contains("retry"), "{why}");
    assert_eq!(report.applied.len(), 6);

    // Outside apply, a 500 is an error that says what was being done and to retry.
    let (k, _log) = fake_apiserver(|_| (500, fixture("status-500.json")));
    let e = k.nodes().await.expect_err("500");
    assert!(e.message.contains("listing the nodes"), "{}", e.message);
    assert!(e.message.contains("etcdserver: request timed out"));
    assert!(e.hint.as_deref().is_some_and(|h| h.contains("retry")));
}

#[tokio::test]
async fn scale_is_a_merge_patch_of_the_scale_subresource() {
    let (k, log) = fake_apiserver(|_| (200, fixture("scale.json")));
    k.scale("rohe", "web-raspberrypi-02", 3)
        .await
        .expect("scale");
    let reqs = requests(&log);
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert!(
        r.is(
            "PATCH",
            "/apis/apps/v1/namespaces/rohe/deployments/web-raspberrypi-02/scale"
        ),
        "{r:?}"
    );
    assert_eq!(r.content_type, "application/merge-patch+json");
    assert_eq!(r.body, Some(json!({"spec": {"replicas": 3}})));
    assert_eq!(
        r.query.get("fieldManager").map(String::as_str),
        Some("rohe-test")
    );
    assert!(!r.query.contains_key("force"), "force is for apply only");

    let (k, _log) = fake_apiserver(|_| (404, fixture("status-404.json")));
    let e = k
        .scale("rohe", "web-raspberrypi-02", 3)
        .await
        .expect_err("gone");
    assert_eq!(e.kind, rohe::error::ErrorKind::NotFound);
    assert!(e.message.contains("not found"), "{}", e.message);
}

#[tokio::test]
async fn delete_treats_an_object_already_gone_as_deleted() {
    let (k, log) = fake_apiserver(|r| {
        assert_eq!(r.method, "DELETE");
        if r.path.ends_with("/deployments/web-raspberrypi-02") {
            (200, fixture("status-delete-success.json"))
        } else {
            (404, fixture("status-404.json"))
        }
    });
    let doomed = vec![
        ObjectRef {
            kind: "Deployment".into(),
            namespace: "rohe".into(),
            name: "web-raspberrypi-02".into(),
        },
        ObjectRef {
            kind: "Deployment".into(),
            namespace: "rohe".into(),
            name: "web-jetson-nano-02".into(),
        },
        ObjectRef {
            kind: "Service".into(),
            namespace: "rohe".into(),
            name: "web".into(),
        },
    ];
    let gone = k.delete(&doomed).await.expect("delete");
    assert_eq!(gone, doomed);
    let reqs = requests(&log);
    assert_eq!(reqs.len(), 3);
    assert!(reqs[0].is(
        "DELETE",
        "/apis/apps/v1/namespaces/rohe/deployments/web-raspberrypi-02"
    ));
    assert!(reqs[2].is("DELETE", "/api/v1/namespaces/rohe/services/web"));
    assert_eq!(
        reqs[0]
            .body
            .as_ref()
            .and_then(|b| b["propagationPolicy"].as_str()),
        Some("Background")
    );

    // A refusal is an error naming the object.
    let (k, _log) = fake_apiserver(|_| (500, fixture("status-500.json")));
    let e = k.delete(&doomed[..1]).await.expect_err("500");
    assert!(
        e.message.contains("Deployment/rohe/web-raspberrypi-02"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn workloads_are_rohe_deployments_with_their_pods() {
    let (k, log) = fake_apiserver(|r| {
        if r.path.ends_with("/deployments") {
            (200, fixture("deployments.json"))
        } else {
            (200, fixture("pods.json"))
        }
    });
    let w = k.workloads("rohe", Some("shop")).await.expect("workloads");
    let reqs = requests(&log);
    assert_eq!(reqs.len(), 2);
    assert!(reqs[0].is("GET", "/apis/apps/v1/namespaces/rohe/deployments"));
    assert!(reqs[1].is("GET", "/api/v1/namespaces/rohe/pods"));
    for r in &reqs {
        assert_eq!(
            r.query.get("labelSelector").map(String::as_str),
            Some("app.kubernetes.io/managed-by=rohe,rohe.io/app=shop")
        );
    }
    assert_eq!(w.len(), 1);
    let d = &w[0];
    assert_eq!(d.name, "web-raspberrypi-02");
    assert_eq!(d.app, "shop");
    assert_eq!(d.service_id, "shop-web");
    assert_eq!(d.node, "raspberrypi-02");
    assert_eq!((d.desired, d.ready), (2, 1));
    assert_eq!(d.pods.len(), 2, "the api pod belongs to another deployment");
    assert_eq!(d.pods[0].phase, PodPhase::Running);
    assert!(d.pods[0].ready);
    assert_eq!(d.pods[0].restarts, 1);
    assert_eq!(d.pods[0].reason, None);
    assert_eq!(d.pods[0].node, "raspberrypi-02");
    assert_eq!(d.pods[1].phase, PodPhase::Pending);
    assert!(!d.pods[1].ready);
    assert_eq!(d.pods[1].reason.as_deref(), Some("ImagePullBackOff"));
}

#[tokio::test]
async fn the_api_servers_version_for_doctor() {
    let (k, log) = fake_apiserver(|_| (200, fixture("version.json")));
    assert_eq!(k.server_version().await.expect("version"), "v1.31.2+k3s1");
    assert!(requests(&log)[0].is("GET", "/version"));
}

#[tokio::test]
async fn nodes_cannot_be_failed_on_a_real_cluster() {
    let (k, log) = fake_apiserver(|_| panic!("no request expected"));
    let e = k.fail_node("raspberrypi-02").await.expect_err("refused");
    assert_eq!(e.field.as_deref(), Some("orchestration.cluster"));
    assert!(k.recover_node("raspberrypi-02").await.is_err());
    assert!(requests(&log).is_empty());
}

/// The orchestration use cases with the cluster bound to the Kubernetes adapter: `rohe plan`,
/// `rohe apply` and a scale to zero, against an API server that keeps what is applied (its
/// answers built from the recorded ones).
#[tokio::test(flavor = "multi_thread")]
async fn ops_plan_apply_and_scale_to_zero_through_the_kubernetes_adapter() {
    use rohe::adapters::embedded::SqliteStore;
    use rohe::config::OrchestrationConfig;
    use rohe::ops::{Ops, OrchestrationBackends, Request, Response, Source};
    use rohe::ports::Store;

    let stored: Arc<Mutex<BTreeMap<String, Value>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let objects = stored.clone();
    let (k, log) = fake_apiserver(move |r| {
        let mut objects = objects.lock().expect("objects");
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/api/v1/nodes") => (200, fixture("nodes.json")),
            ("GET", "/apis/apps/v1/namespaces/rohe/deployments") => {
                let items: Vec<Value> = objects
                    .iter()
                    .filter(|(p, _)| p.starts_with("/apis/apps/v1/namespaces/rohe/deployments/"))
                    .map(|(_, o)| o.clone())
                    .collect();
                (
                    200,
                    json!({"kind": "DeploymentList", "apiVersion": "apps/v1",
                           "metadata": {"resourceVersion": "50000"}, "items": items})
                    .to_string(),
                )
            }
            ("GET", "/api/v1/namespaces/rohe/pods") => (
                200,
                json!({"kind": "PodList", "apiVersion": "v1",
                       "metadata": {"resourceVersion": "50000"}, "items": []})
                .to_string(),
            ),
            ("GET", p) => match objects.get(p) {
                Some(o) => (200, o.to_string()),
                None => (404, not_found("object", p)),
            },
            ("PATCH", p) => {
                let body = r.body.clone().expect("an applied object");
                let created = !objects.contains_key(p);
                let stored: Value = serde_json::from_str(&as_stored(&body, "50001")).expect("json");
                objects.insert(p.to_string(), stored.clone());
                (if created { 201 } else { 200 }, stored.to_string())
            }
            ("DELETE", p) => match objects.remove(p) {
                Some(_) => (200, fixture("status-delete-success.json")),
                None => (404, not_found("object", p)),
            },
            (m, p) => panic!("unexpected {m} {p}"),
        }
    });

    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("s.db"), Default::default()).expect("store"));
    let connector = rohe::config::Config::default().connector_settings();
    let ops =
        Ops::new(store.clone(), connector, Source::Cli).with_orchestration(OrchestrationBackends {
            cluster: Arc::new(k),
            config: OrchestrationConfig::default(),
        });
    let nodes = dir.path().join("nodes.yaml");
    // raspberrypi-02 is Ready in the recorded NodeList; jetson-nano-01 is not.
    std::fs::write(&nodes, NODES.replace("jetson-nano-02", "jetson-nano-01")).expect("write");
    let services = dir.path().join("services.yaml");
    std::fs::write(
        &services,
        "application: shop\nservices:\n  - service_name: web\n    service_id: shop-web\n    image: nginx:1\n    replicas: 2\n    ports: [80]\n    cpu_required: 600\n    memory_required: {rss: 100, vms: 100}\n    cores_required: [50]\n",
    )
    .expect("write");
    for req in [
        Request::NodeAdd {
            file: nodes,
            dry_run: false,
        },
        Request::ServiceAdd {
            file: services,
            dry_run: false,
        },
    ] {
        ops.execute(req).await.expect("add");
    }
    let cycle = |r: Response| match r {
        Response::Orchestration(o) => o.cycle.expect("a cycle"),
        other => panic!("unexpected {other:?}"),
    };

    // The plan reads the cluster and writes nothing to it.
    let plan = cycle(
        ops.execute(Request::Apply { dry_run: true })
            .await
            .expect("plan"),
    );
    assert_eq!(plan.unavailable_nodes, vec!["jetson-nano-01".to_string()]);
    assert_eq!(plan.starts.len(), 2);
    assert!(plan.starts.iter().all(|s| s.node == "raspberrypi-02"));
    assert!(requests(&log).iter().all(|r| r.method == "GET"));

    let applied = cycle(
        ops.execute(Request::Apply { dry_run: false })
            .await
            .expect("apply"),
    );
    assert!(applied.failed.is_empty(), "{:?}", applied.failed);
    assert!(applied.persisted);
    let patches: Vec<Recorded> = requests(&log)
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    let paths: Vec<&str> = patches.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "/api/v1/namespaces/rohe",
            "/api/v1/namespaces/rohe/configmaps/shop-pipeline",
            "/api/v1/namespaces/rohe/services/web",
            "/apis/apps/v1/namespaces/rohe/deployments/web-raspberrypi-02",
        ]
    );
    assert!(
        patches
            .iter()
            .all(|r| r.content_type == "application/apply-patch+yaml"
                && r.query.get("fieldManager").map(String::as_str) == Some("rohe-test")
                && r.query.get("force").map(String::as_str) == Some("true"))
    );
    let d = patches[3].body.as_ref().expect("deployment");
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(
        d["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"],
        "raspberrypi-02"
    );
    let created = applied
        .objects
        .iter()
        .filter(|o| o.change == rohe::ops::orchestration::ObjectChangeKind::Create)
        .count();
    assert_eq!(created, 4, "{:?}", applied.objects);

    // The service list sees the Deployment through the adapter.
    let views = ops.services_view(Some("shop")).await.expect("services");
    assert_eq!(views[0].running, 2);
    assert_eq!(views[0].ready, Some(0), "no pods ready yet");

    // Scaling to zero deletes the Deployment.
    let scaled = cycle(
        ops.execute(Request::Scale {
            app: "shop".into(),
            service: "web".into(),
            replicas: 0,
            force: false,
            dry_run: false,
        })
        .await
        .expect("scale"),
    );
    assert!(scaled.failed.is_empty(), "{:?}", scaled.failed);
    let deletes: Vec<Recorded> = requests(&log)
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .collect();
    assert_eq!(deletes.len(), 1);
    assert!(deletes[0].is(
        "DELETE",
        "/apis/apps/v1/namespaces/rohe/deployments/web-raspberrypi-02"
    ));
    assert!(
        !stored
            .lock()
            .expect("objects")
            .keys()
            .any(|p| p.contains("/deployments/"))
    );
}

/// The node as the API server returns it after a patch of `spec.unschedulable`.
fn patched_node(name: &str, unschedulable: bool) -> String {
    let list = fixture_json("nodes.json");
    let mut node = list["items"]
        .as_array()
        .and_then(|items| items.iter().find(|n| n["metadata"]["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("{name} is in the recorded NodeList"));
    node["spec"]["unschedulable"] = json!(unschedulable);
    node.to_string()
}

#[tokio::test]
async fn cordon_is_a_merge_patch_of_the_nodes_unschedulable_flag() {
    let (k, log) = fake_apiserver(|r| {
        (
            200,
            patched_node(
                "raspberrypi-02",
                r.body
                    .as_ref()
                    .is_some_and(|b| b["spec"]["unschedulable"] == true),
            ),
        )
    });
    k.set_cordon("raspberrypi-02", true).await.expect("cordon");
    k.set_cordon("raspberrypi-02", false)
        .await
        .expect("uncordon");
    let reqs = requests(&log);
    assert_eq!(reqs.len(), 2);
    for (r, flag) in reqs.iter().zip([true, false]) {
        assert!(r.is("PATCH", "/api/v1/nodes/raspberrypi-02"), "{r:?}");
        assert_eq!(r.content_type, "application/merge-patch+json");
        assert_eq!(r.body, Some(json!({"spec": {"unschedulable": flag}})));
        assert_eq!(
            r.query.get("fieldManager").map(String::as_str),
            Some("rohe-test")
        );
    }

    let (k, _log) = fake_apiserver(|_| (404, not_found("nodes", "ghost")));
    let e = k.set_cordon("ghost", true).await.expect_err("no such node");
    assert_eq!(e.kind, rohe::error::ErrorKind::NotFound);
    assert!(e.message.contains("cordoning node ghost"), "{}", e.message);
}

/// `rohe node cordon` on Kubernetes: the cluster is patched first, and a refusal leaves rohe's
/// own flag as it was (no half-done cordon); a node rohe does not know never reaches the API.
#[tokio::test(flavor = "multi_thread")]
async fn ops_cordon_patches_the_cluster_first_and_a_refusal_changes_nothing() {
    use rohe::adapters::embedded::SqliteStore;
    use rohe::config::OrchestrationConfig;
    use rohe::ops::{Ops, OrchestrationBackends, Request, Source};
    use rohe::ports::Store;

    let refuse = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let refusing = refuse.clone();
    let (k, log) = fake_apiserver(move |r| {
        assert!(r.is("PATCH", "/api/v1/nodes/raspberrypi-02"), "{r:?}");
        if refusing.load(std::sync::atomic::Ordering::SeqCst) {
            let forbidden = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure", "reason": "Forbidden", "code": 403,
                "message": "nodes \"raspberrypi-02\" is forbidden: User \"rohe\" cannot patch resource \"nodes\" in API group \"\" at the cluster scope"});
            return (403, forbidden.to_string());
        }
        (200, patched_node("raspberrypi-02", true))
    });
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("s.db"), Default::default()).expect("store"));
    let connector = rohe::config::Config::default().connector_settings();
    let ops =
        Ops::new(store.clone(), connector, Source::Cli).with_orchestration(OrchestrationBackends {
            cluster: Arc::new(k),
            config: OrchestrationConfig::default(),
        });
    let nodes = dir.path().join("nodes.yaml");
    std::fs::write(&nodes, NODES).expect("write");
    ops.execute(Request::NodeAdd {
        file: nodes,
        dry_run: false,
    })
    .await
    .expect("add");
    let cordoned = |ops: Ops| async move {
        let (st, _) = ops.orchestration_state().await.expect("state");
        st.nodes
            .iter()
            .find(|n| n.node_name == "raspberrypi-02")
            .expect("the node")
            .cordoned
    };
    let cordon = |name: &str, dry_run: bool| Request::NodeCordon {
        name: name.into(),
        cordoned: true,
        dry_run,
    };

    // A dry run and an unknown node touch nothing.
    ops.execute(cordon("raspberrypi-02", true))
        .await
        .expect("dry run");
    let e = ops
        .execute(cordon("ghost", false))
        .await
        .expect_err("unknown node");
    assert_eq!(e.kind, rohe::error::ErrorKind::NotFound, "{e}");
    assert!(requests(&log).is_empty(), "{:?}", requests(&log));

    refuse.store(true, std::sync::atomic::Ordering::SeqCst);
    let e = ops
        .execute(cordon("raspberrypi-02", false))
        .await
        .expect_err("forbidden");
    assert!(e.message.contains("forbidden"), "{e}");
    assert!(
        !cordoned(ops.clone()).await,
        "a refused cordon changes nothing"
    );

    // Named by its MAC address (as ROHE's files do), the cluster still gets the node's name.
    refuse.store(false, std::sync::atomic::Ordering::SeqCst);
    ops.execute(cordon("dc:a6:32:07:ab:92", false))
        .await
        .expect("cordon");
    assert!(cordoned(ops.clone()).await);
    assert_eq!(requests(&log).len(), 2);
}

/// One watch event line as the API server streams it.
fn watch_event(kind: &str, object: &Value) -> String {
    format!("{}\n", json!({"type": kind, "object": object}))
}

fn first_item(fixture_name: &str, name: &str) -> Value {
    fixture_json(fixture_name)["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["metadata"]["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("{name} in {fixture_name}"))
}

fn is_watch(r: &Recorded) -> bool {
    r.query.get("watch").map(String::as_str) == Some("true")
}

fn version(r: &Recorded) -> &str {
    r.query
        .get("resourceVersion")
        .map(String::as_str)
        .unwrap_or("")
}

/// The console's watch: one list per kind, then watches from the list's resourceVersion; the
/// events (a Deployment becoming ready, a Pod deleted) show in the view without another list;
/// the next watch resumes from the last event's version.
#[tokio::test(flavor = "multi_thread")]
async fn the_watch_keeps_the_view_current_without_listing_again() {
    let mut ready = first_item("deployments.json", "web-raspberrypi-02");
    ready["status"]["readyReplicas"] = json!(2);
    ready["metadata"]["resourceVersion"] = json!("48410");
    let mut gone = first_item("pods.json", "web-raspberrypi-02-6d5f8b7c9d-q9w4z");
    gone["metadata"]["resourceVersion"] = json!("48411");
    let (k, log) = fake_apiserver(move |r| {
        let deployments = r.path == "/apis/apps/v1/namespaces/rohe/deployments";
        assert!(
            deployments || r.path == "/api/v1/namespaces/rohe/pods",
            "{r:?}"
        );
        match (deployments, is_watch(r), version(r)) {
            (true, false, _) => (200, fixture("deployments.json")),
            (false, false, _) => (200, fixture("pods.json")),
            (true, true, "48402") => (200, watch_event("MODIFIED", &ready)),
            (false, true, "48402") => (200, watch_event("DELETED", &gone)),
            // Later watches: nothing new before the server closes them.
            (_, true, _) => (200, String::new()),
        }
    });
    k.watch("rohe").await.expect("watch");
    k.watch("rohe").await.expect("watching twice is one watch");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let w = k.workloads_view("rohe", Some("shop")).await.expect("view");
        if w.len() == 1 && w[0].ready == 2 && w[0].pods.len() == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never current: {w:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The next watch of each kind resumes from its last event.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let reqs = requests(&log);
        let resumed = |path: &str, v: &str| {
            reqs.iter()
                .any(|r| r.path == path && is_watch(r) && version(r) == v)
        };
        if resumed("/apis/apps/v1/namespaces/rohe/deployments", "48410")
            && resumed("/api/v1/namespaces/rohe/pods", "48411")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no resumed watch: {reqs:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let reqs = requests(&log);
    for w in reqs.iter().filter(|r| is_watch(r)) {
        assert_eq!(
            w.query.get("labelSelector").map(String::as_str),
            Some("app.kubernetes.io/managed-by=rohe")
        );
        assert_eq!(
            w.query.get("timeoutSeconds").map(String::as_str),
            Some("290")
        );
    }
    // Served from the watch now: views add no list.
    let lists = |log: &Log| requests(log).iter().filter(|r| !is_watch(r)).count();
    let before = lists(&log);
    for _ in 0..3 {
        k.workloads_view("rohe", None).await.expect("view");
    }
    assert_eq!(lists(&log), before);
    assert!(
        k.workloads_view("rohe", Some("other"))
            .await
            .expect("view")
            .is_empty(),
        "the application filter applies to the watched objects"
    );
}

/// A watch the server ends with 410 Gone (the version is too old) is followed by a new list,
/// and the view stays correct.
#[tokio::test(flavor = "multi_thread")]
async fn an_expired_watch_lists_again() {
    let expired = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": "too old resource version: 48402 (48950)",
        "reason": "Expired", "code": 410});
    let (k, log) = fake_apiserver(move |r| {
        let deployments = r.path.ends_with("/deployments");
        match (deployments, is_watch(r)) {
            (true, false) => (200, fixture("deployments.json")),
            (false, false) => (200, fixture("pods.json")),
            (true, true) => (200, watch_event("ERROR", &expired)),
            (false, true) => (200, String::new()),
        }
    });
    k.watch("rohe").await.expect("watch");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let lists = requests(&log)
            .iter()
            .filter(|r| r.path.ends_with("/deployments") && !is_watch(r))
            .count();
        if lists >= 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no second list: {:?}",
            requests(&log)
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let w = k.workloads_view("rohe", None).await.expect("view");
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].desired, w[0].ready), (2, 1));
}
