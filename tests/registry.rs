//! The Registry port's conformance suite, run against the embedded registry and against the
//! Consul client.
//!
//! No Consul binary can be had on this machine, so the Consul run talks to a small HTTP server
//! in this file that implements the endpoints rohe uses (`PUT /v1/agent/service/register`,
//! `PUT /v1/agent/service/deregister/:id`, `PUT /v1/agent/check/pass/:check`,
//! `GET /v1/health/service/:name`, `GET /v1/catalog/services`) with request and response shapes
//! copied from Consul's HTTP API documentation, including TTL checks going critical. It also
//! records every request, so the tests assert what rohe sends (the check, the token header).

use rohe::adapters::consul::ConsulRegistry;
use rohe::adapters::embedded::{SqliteStore, StoreRegistry};
use rohe::ports::Store;
use rohe::ports::registry::{Instance, Registry, Strategy, select};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[derive(Default)]
struct Consul {
    /// id -> (registration body, ttl, last pass)
    services: BTreeMap<String, (Value, Option<Duration>, Instant)>,
    requests: Vec<(String, String, Option<String>, Value)>,
    fail: bool,
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn route(c: &mut Consul, method: &str, target: &str, body: Value) -> (u16, String) {
    if c.fail {
        return (500, "rpc error making call: No cluster leader".into());
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let now = Instant::now();
    let status_of = |ttl: &Option<Duration>, last: &Instant| match ttl {
        Some(t) if now.duration_since(*last) > *t => "critical",
        _ => "passing",
    };
    match (method, path) {
        ("PUT", "/v1/agent/service/register") => {
            let id = body["ID"].as_str().unwrap_or_default().to_string();
            let ttl = body["Check"]["TTL"]
                .as_str()
                .and_then(|t| t.trim_end_matches('s').parse().ok())
                .map(Duration::from_secs);
            c.services.insert(id, (body, ttl, now));
            (200, String::new())
        }
        ("PUT", p) if p.starts_with("/v1/agent/service/deregister/") => {
            let id = decode(&p["/v1/agent/service/deregister/".len()..]);
            match c.services.remove(&id) {
                Some(_) => (200, String::new()),
                None => (
                    404,
                    format!(
                        "Unknown service ID {id:?}. Ensure that the service ID is passed, not the service name."
                    ),
                ),
            }
        }
        ("PUT", p) if p.starts_with("/v1/agent/check/pass/") => {
            let check = decode(&p["/v1/agent/check/pass/".len()..]);
            let id = check.trim_start_matches("service:").to_string();
            match c.services.get_mut(&id) {
                Some(s) => {
                    s.2 = now;
                    (200, String::new())
                }
                None => (404, format!("Unknown check ID {check:?}")),
            }
        }
        ("GET", "/v1/catalog/services") => {
            let mut m = serde_json::Map::new();
            m.insert("consul".into(), json!([]));
            for (b, _, _) in c.services.values() {
                m.insert(
                    b["Name"].as_str().unwrap_or_default().into(),
                    b["Tags"].clone(),
                );
            }
            (200, Value::Object(m).to_string())
        }
        ("GET", p) if p.starts_with("/v1/health/service/") => {
            let name = decode(&p["/v1/health/service/".len()..]);
            let passing = params.iter().any(|(k, v)| k == "passing" && v != "false");
            let tags: Vec<&str> = params
                .iter()
                .filter(|(k, _)| k == "tag")
                .map(|(_, v)| v.as_str())
                .collect();
            let out: Vec<Value> = c
                .services
                .iter()
                .filter(|(_, (b, _, _))| b["Name"] == name.as_str())
                .filter(|(_, (b, _, _))| {
                    tags.iter().all(|t| {
                        b["Tags"].as_array().is_some_and(|a| a.iter().any(|x| x == t))
                    })
                })
                .filter(|(_, (_, ttl, last))| !passing || status_of(ttl, last) == "passing")
                .map(|(id, (b, ttl, last))| {
                    json!({
                        "Node": {"ID": "40e4a748-2192-161a-0510-9bf59fe950b5", "Node": "foobar",
                                 "Address": "10.1.10.12", "Datacenter": "dc1"},
                        "Service": {"ID": id, "Service": b["Name"], "Tags": b["Tags"],
                                    "Address": b["Address"], "Meta": b["Meta"], "Port": b["Port"],
                                    "Weights": {"Passing": 10, "Warning": 1}, "Namespace": "default"},
                        "Checks": [
                            {"Node": "foobar", "CheckID": "serfHealth", "Name": "Serf Health Status",
                             "Status": "passing", "ServiceID": "", "ServiceName": ""},
                            {"Node": "foobar", "CheckID": format!("service:{id}"),
                             "Name": "Service heartbeat", "Status": status_of(ttl, last),
                             "ServiceID": id, "ServiceName": b["Name"]}
                        ]
                    })
                })
                .collect();
            (200, Value::Array(out).to_string())
        }
        _ => (404, "404 page not found".into()),
    }
}

async fn serve_consul() -> (String, Arc<Mutex<Consul>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state = Arc::new(Mutex::new(Consul::default()));
    let st = state.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let st = st.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut r = BufReader::new(r);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let (method, target) = (
                        parts.next().unwrap_or_default().to_string(),
                        parts.next().unwrap_or_default().to_string(),
                    );
                    let (mut len, mut token) = (0usize, None);
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            match k.to_ascii_lowercase().as_str() {
                                "content-length" => len = v.trim().parse().unwrap_or(0),
                                "x-consul-token" => token = Some(v.trim().to_string()),
                                _ => {}
                            }
                        }
                    }
                    let mut body = vec![0u8; len];
                    if r.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let (code, text) = {
                        let mut c = st.lock().expect("lock");
                        c.requests
                            .push((method.clone(), target.clone(), token, body.clone()));
                        route(&mut c, &method, &target, body)
                    };
                    let resp = format!(
                        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                        text.len()
                    );
                    if w.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), state)
}

fn inst(name: &str, id: &str, port: u16, tags: &[&str], ttl: u64) -> Instance {
    Instance {
        name: name.into(),
        id: id.into(),
        address: "10.0.0.7".into(),
        port,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        meta: BTreeMap::from([("appName".into(), "cctvs".into())]),
        ttl_s: ttl,
        health: String::new(),
    }
}

/// The behaviour every registry must have.
async fn conformance(reg: &dyn Registry) {
    reg.register(&inst("inference", "inf-1", 5001, &["cctvs", "yolov8"], 1))
        .await
        .expect("register");
    reg.register(&inst("inference", "inf-2", 5002, &["cctvs", "vgg"], 0))
        .await
        .expect("register");
    reg.register(&inst("inference", "inf-3", 5003, &["cctvs", "vgg"], 0))
        .await
        .expect("register");
    reg.register(&inst("ingestion", "ing-1", 4001, &["cctvs"], 0))
        .await
        .expect("register");

    let all = reg.instances("inference", &[], false).await.expect("all");
    assert_eq!(all.len(), 3);
    let i1 = all.iter().find(|i| i.id == "inf-1").expect("inf-1");
    assert_eq!((i1.address.as_str(), i1.port), ("10.0.0.7", 5001));
    assert_eq!(i1.meta.get("appName").map(String::as_str), Some("cctvs"));
    assert_eq!(i1.health, "passing");
    let vgg = reg
        .instances("inference", &["vgg".into()], false)
        .await
        .expect("vgg");
    assert_eq!(vgg.len(), 2);
    assert_eq!(select(vgg.clone(), Strategy::Quorum, 1).len(), 2);
    assert_eq!(select(vgg, Strategy::One, 1).len(), 1);
    let services = reg.services().await.expect("services");
    assert_eq!(
        services,
        vec![("inference".to_string(), 3), ("ingestion".to_string(), 1)]
    );

    // A TTL of 1 s without heartbeat: critical, gone from discovery, still listed.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let passing = reg.instances("inference", &[], false).await.expect("p");
    assert_eq!(passing.len(), 2, "{passing:?}");
    assert!(passing.iter().all(|i| i.id != "inf-1"));
    let every = reg.instances("inference", &[], true).await.expect("every");
    assert_eq!(
        every
            .iter()
            .find(|i| i.id == "inf-1")
            .map(|i| i.health.as_str()),
        Some("critical")
    );
    // A heartbeat brings it back.
    reg.pass("inf-1").await.expect("pass");
    assert_eq!(
        reg.instances("inference", &[], false)
            .await
            .expect("p")
            .len(),
        3
    );

    assert!(reg.deregister("inf-2").await.expect("deregister"));
    assert!(
        !reg.deregister("inf-2").await.expect("again"),
        "already gone"
    );
    assert_eq!(
        reg.instances("inference", &[], false)
            .await
            .expect("p")
            .len(),
        2
    );
    assert!(reg.pass("nope").await.is_err());
    assert!(
        reg.register(&inst("x", "bad", 0, &[], 0)).await.is_err(),
        "port 0 refused before any request"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_registry_conforms() {
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("s.db"), Default::default()).expect("store"));
    conformance(&StoreRegistry::new(store)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn consul_registry_conforms_and_sends_checks_and_the_token() {
    let (url, state) = serve_consul().await;
    let reg = ConsulRegistry::new(&url, Some("s3cret".into())).expect("client");
    conformance(&reg).await;
    let st = state.lock().expect("lock");
    let (_, _, token, body) = st
        .requests
        .iter()
        .find(|(m, t, _, b)| m == "PUT" && t == "/v1/agent/service/register" && b["ID"] == "inf-1")
        .expect("registration sent");
    assert_eq!(token.as_deref(), Some("s3cret"));
    assert_eq!(body["Check"]["TTL"], "1s");
    assert_eq!(body["Check"]["Status"], "passing");
    assert_eq!(body["Check"]["DeregisterCriticalServiceAfter"], "60s");
    assert_eq!(body["Tags"], json!(["cctvs", "yolov8"]));
    assert_eq!(body["EnableTagOverride"], false);
    assert!(
        st.requests
            .iter()
            .any(|(m, t, _, _)| m == "GET"
                && t.starts_with("/v1/health/service/inference?passing=true")),
        "discovery reads the health endpoint, passing only"
    );
    assert!(
        st.requests
            .iter()
            .all(|(_, t, _, _)| !t.starts_with("/v1/catalog/service/")),
        "never the catalog (it keeps dead instances)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn consul_errors_are_clear_and_unreachable_consul_names_the_setting() {
    let (url, state) = serve_consul().await;
    state.lock().expect("lock").fail = true;
    let reg = ConsulRegistry::new(&url, None).expect("client");
    let e = reg
        .register(&inst("inference", "a", 1, &[], 0))
        .await
        .expect_err("500");
    assert!(e.message.contains("500"), "{e}");
    assert!(e.message.contains("No cluster leader"), "{e}");
    assert!(e.hint.is_some());
    let e = reg
        .instances("inference", &[], false)
        .await
        .expect_err("500");
    assert!(e.message.contains("500"), "{e}");

    let dead = ConsulRegistry::new("http://127.0.0.1:9", None).expect("client");
    let e = dead.services().await.expect_err("refused");
    assert_eq!(e.field.as_deref(), Some("registry.url"));
    let e = ConsulRegistry::new("consul:8500", None)
        .err()
        .expect("not a URL");
    assert_eq!(e.field.as_deref(), Some("registry.url"));
}

/// The registry view of `app show` and the console's Applications detail: an application's
/// instances (by `appName` or `appID` metadata) in every health state, on both registries; an
/// unreachable registry is reported in the view, not as a failure of the whole detail.
#[tokio::test(flavor = "multi_thread")]
async fn application_registry_view_on_both_registries() {
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("s.db"), Default::default()).expect("store"));
    let ops = rohe::ops::Ops::new(
        store.clone(),
        rohe::config::Config::default().connector_settings(),
        rohe::ops::Source::Cli,
    );
    let spec = rohe::ops::registration::read_spec_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("example/applications/cctvs.yaml"),
    )
    .expect("spec");
    let app = ops
        .register_app(&spec, false)
        .await
        .expect("register")
        .application;
    let (url, _state) = serve_consul().await;
    let consul = ConsulRegistry::new(&url, None).expect("client");
    let embedded = StoreRegistry::new(store);
    for reg in [&consul as &dyn Registry, &embedded] {
        reg.register(&inst("ingestion", "ing-1", 4000, &[], 30))
            .await
            .expect("register");
        let mut by_id = inst("inference", "inf-1", 5000, &["yolov8"], 0);
        by_id.meta = BTreeMap::from([("appID".into(), app.app_id.to_string())]);
        reg.register(&by_id).await.expect("register");
        let mut other = inst("inference", "other-1", 5001, &[], 0);
        other.meta = BTreeMap::from([("appName".into(), "bts".into())]);
        reg.register(&other).await.expect("register");

        let view = rohe::ops::registration::registry_view(reg, &app).await;
        assert_eq!(view.error, None, "{}", reg.describe());
        let ids: Vec<&str> = view.instances.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["inf-1", "ing-1"], "{}", reg.describe());
        assert!(
            view.instances.iter().all(|i| i.health == "passing"),
            "{view:?}"
        );
    }
    let gone = ConsulRegistry::new("http://127.0.0.1:9", None).expect("client");
    let view = rohe::ops::registration::registry_view(&gone, &app).await;
    assert!(view.instances.is_empty());
    assert!(view.error.is_some_and(|e| !e.is_empty()));
}
