//! `rohe serve` over real HTTP: the server runs in-process on free loopback ports with a
//! temporary embedded store; reqwest plays ROHE's CLI and QoA4ML clients.

mod common;
use reqwest::StatusCode;
use rohe::config::{Config, Loaded};
use rohe::ops::Source;
use rohe::serve::{self, ServeOptions, Server};
use serde_json::{Value, json};
use std::net::IpAddr;

struct Harness {
    server: Option<Server>,
    ops: rohe::ops::Ops,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn start(token: &str) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.store.path = dir.path().join("rohe.db").display().to_string();
        let loaded = Loaded {
            config: config.clone(),
            file: None,
            env_keys: vec![],
        };
        let ops = rohe::cli::open_ops_with(&loaded, Source::Serve, true).unwrap();
        let ops = rohe::backends::with_orchestration(ops, &config)
            .await
            .unwrap();
        let opts = ServeOptions {
            bind: IpAddr::from([127, 0, 0, 1]),
            observation_port: 0,
            orchestration_port: 0,
            token: token.into(),
        };
        let server = serve::start(ops.clone(), config, &opts).await.unwrap();
        Harness {
            server: Some(server),
            ops,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }
    fn obs(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.as_ref().unwrap().observation)
    }
    fn orch(&self, path: &str) -> String {
        format!(
            "http://{}{path}",
            self.server.as_ref().unwrap().orchestration
        )
    }
    async fn send(&self, rb: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let r = rb.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }
    async fn post(&self, url: String, body: Value) -> (StatusCode, Value) {
        self.send(self.http.post(url).json(&body)).await
    }
    async fn audit_len(&self) -> usize {
        self.ops.list_audit(None, 10_000).await.unwrap().len()
    }
}

fn reg(app: &str) -> Value {
    json!({"application_name": app, "run_id": "r1", "user_id": "u1"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_follows_rohe_and_fixes_its_bugs() {
    let _watchdog = common::Watchdog::new(300, "registration_follows_rohe_and_fixes_its_bugs");
    let h = Harness::start("").await;
    let (s, v) = h.post(h.obs("/registration/"), reg("cctvs")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "success");
    let r = &v["response"];
    assert_eq!(
        r["cctvs"],
        "Application cctvs created for user u1 with run ID: r1"
    );
    assert!(uuid::Uuid::parse_str(r["app_id"].as_str().unwrap()).is_ok());
    let c = &r["connector"];
    assert_eq!(c["name"], "amqp_connector");
    assert_eq!(c["connector_class"], "AMQP");
    assert_eq!(c["config"]["exchange_name"], "cctvs_exchange");
    assert_eq!(c["config"]["exchange_type"], "topic");
    assert_eq!(c["config"]["end_point"], "localhost");
    assert_eq!(c["config"]["out_routing_key"], "cctvs.u1.client1");
    // Legacy 2023 names, extra ClientInfo fields ignored, no trailing slash: re-registration.
    let legacy = json!({"appName": "cctvs", "runID": "r1", "userID": "u1", "stageID": "s1",
                        "instanceID": "i1", "functionality": "REST", "role": "ml"});
    let (s, v) = h.post(h.obs("/registration"), legacy).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["response"]["cctvs"], "Application already exist");
    assert_eq!(v["response"]["app_id"], r["app_id"]);
    assert_eq!(
        v["response"]["connector"]["config"]["out_routing_key"],
        "cctvs.u1.s1.i1.client2"
    );
    // Empty segments are skipped (ROHE writes `cctvs.u1..i1.client3`).
    let (_, v) = h
        .post(
            h.obs("/registration/"),
            json!({"application_name": "cctvs", "run_id": "r1", "user_id": "u1", "stage_id": "", "instance_id": "i1"}),
        )
        .await;
    assert_eq!(
        v["response"]["connector"]["config"]["out_routing_key"],
        "cctvs.u1.i1.client3"
    );
    assert_eq!(h.ops.get_app("cctvs").await.unwrap().client_count, 3);
    // The registrations are audited like the CLI's, with source serve.
    let audit = h.ops.list_audit(None, 100).await.unwrap();
    assert_eq!(audit.len(), 3);
    assert!(
        audit.iter().all(|e| e.source == "serve" && e.ok),
        "{audit:?}"
    );
    // Validation: 422 naming the field; a routing-key wildcard is refused.
    let (s, v) = h
        .post(
            h.obs("/registration/"),
            json!({"application_name": "cctvs", "run_id": "r1"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["error"].as_str().unwrap().contains("user_id"), "{v}");
    let (s, v) = h
        .post(
            h.obs("/registration/"),
            json!({"application_name": "cctvs", "run_id": "r1", "user_id": "u1", "stage_id": "a.#"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["field"], "stage_id");
    assert!(v["hint"].is_string());
    // Delete: a wrong run_id is 404 (ROHE says success and deletes nothing).
    let (s, v) = h
        .send(
            h.http
                .delete(h.obs("/registration/"))
                .json(&json!({"application_name": "cctvs", "run_id": "other", "user_id": "u1"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["field"], "run_id");
    assert!(h.ops.get_app("cctvs").await.is_ok());
    let (s, v) = h
        .send(h.http.delete(h.obs("/registration/")).json(&reg("cctvs")))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["response"]["result"], "Deleted cctvs");
    assert!(h.ops.get_app("cctvs").await.is_err());
    let (s, v) = h
        .send(h.http.delete(h.obs("/registration/")).json(&reg("cctvs")))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["field"], "application_name");
    h.server.unwrap().shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_routes_start_stop_log_kill_all_and_delete() {
    let _watchdog = common::Watchdog::new(300, "agent_routes_start_stop_log_kill_all_and_delete");
    let h = Harness::start("").await;
    h.post(h.obs("/registration/"), reg("cam")).await;
    // Unknown application: 404 (ROHE: 200 "Application cam2 not exist").
    let (s, v) = h
        .post(h.obs("/agent/start"), json!({"application_name": "nope"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    // Unknown command: 400 naming the commands.
    let (s, v) = h
        .post(h.obs("/agent/explode"), json!({"application_name": "cam"}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["field"], "command");
    let (s, v) = h
        .post(h.obs("/agent/start"), json!({"appName": "cam"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["response"]["cam"], "Agent for 'cam' started");
    assert!(
        h.ops
            .store()
            .get_agent("cam")
            .await
            .unwrap()
            .unwrap()
            .value
            .state
            .is_active()
    );
    // Deleting the registration while the agent runs is a conflict.
    let (s, v) = h
        .send(h.http.delete(h.obs("/registration/")).json(&reg("cam")))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, v) = h
        .post(h.obs("/agent/log"), json!({"application_name": "cam"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["response"]["logs"].is_string(), "{v}");
    let (s, v) = h
        .post(h.obs("/agent/stop"), json!({"application_name": "cam"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["response"]["cam"], "Agent for 'cam' stopped");
    // Start with ROHE's inline stream_config of a bad shape: 422 naming the field.
    let (s, v) = h
        .post(
            h.obs("/agent/start"),
            json!({"application_name": "cam", "stream_config": {"window": "x"}}),
        )
        .await;
    assert!(s.is_client_error(), "{s} {v}");
    h.post(h.obs("/agent/start"), json!({"application_name": "cam"}))
        .await;
    let (s, v) = h.post(h.obs("/agent/kill-all"), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["response"]["result"], "All agents killed");
    assert_eq!(v["response"]["stopped"], 1);
    assert!(
        !h.ops
            .store()
            .get_agent("cam")
            .await
            .unwrap()
            .unwrap()
            .value
            .state
            .is_active()
    );
    let (s, v) = h
        .post(h.obs("/agent/delete"), json!({"application_name": "cam"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["response"]["cam"], "Agent for 'cam' deleted");
    assert!(h.ops.get_app("cam").await.is_err());
    let (s, _) = h
        .post(h.obs("/agent/stop"), json!({"application_name": "cam"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    h.server.unwrap().shutdown().await.unwrap();
}

fn node(name: &str, mac: &str) -> Value {
    // ROHE's v2 NodeData with its legacy spellings (MAC, processor).
    json!({"node_name": name, "MAC": mac, "frequency": 1.5,
           "cpu": {"capacity": 4000, "used": 0},
           "memory": {"capacity": {"rss": 4096, "vms": 4096}, "used": {"rss": 0, "vms": 0}},
           "processor": {"capacity": [100, 100, 100, 100], "used": [0, 0, 0, 0]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_routes_follow_rohe_shapes() {
    let _watchdog = common::Watchdog::new(300, "management_routes_follow_rohe_shapes");
    let h = Harness::start("").await;
    let (s, v) = h.send(h.http.get(h.orch("/management/"))).await;
    assert_eq!((s, v["status"].clone()), (StatusCode::OK, json!("success")));
    let body = json!({"data": {"pi1": node("pi-1", "aa:00:00:00:00:01"), "pi2": node("pi-2", "aa:00:00:00:00:02")}});
    let (s, v) = h.post(h.orch("/management/add-node"), body.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["response"]["result"],
        json!({"pi-1": "Added", "pi-2": "Added"})
    );
    let (_, v) = h.post(h.orch("/management/add-node"), body).await;
    assert_eq!(v["response"]["result"]["pi-1"], "Updated");
    let (s, v) = h
        .post(h.orch("/management/get-all-nodes"), json!(null))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let nodes = v["response"]["result"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0]["_id"], "aa:00:00:00:00:01");
    assert_eq!(nodes[0]["data"]["node_name"], "pi-1");
    // A node of the wrong shape: 422 naming its path in the body.
    let (s, v) = h
        .post(
            h.orch("/management/add-node"),
            json!({"data": {"bad": {"node_name": "x"}}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("bad")
            || v["field"].as_str().unwrap_or("").contains("bad"),
        "{v}"
    );
    // Services: rohe's example file, sent as JSON.
    let text = std::fs::read_to_string(common::repo().join("example/services/cctvs.yaml")).unwrap();
    let doc: Value = serde_yaml::from_str(&text).unwrap();
    let (s, v) = h.post(h.orch("/management/add-service"), doc).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["response"]["result"]["image_ingestion"], "Added");
    let (s, v) = h
        .send(h.http.get(h.orch("/management/get-all-services")))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let svcs = v["response"]["result"].as_array().unwrap();
    assert!(!svcs.is_empty());
    assert_eq!(svcs[0]["_id"], "cctvs:image_ingestion");
    assert_eq!(svcs[0]["replicas"], 2);
    // remove-node: unknown MAC is 404 and removes nothing; a known one is removed.
    let (s, v) = h
        .post(
            h.orch("/management/remove-node"),
            json!({"data": {"x": {"mac_address": "ff:ff:ff:ff:ff:ff"}}}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["field"], "data.x.mac_address");
    let (s, v) = h
        .post(
            h.orch("/management/remove-node"),
            json!({"data": {"pi2": {"mac_address": "aa:00:00:00:00:02"}}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["response"]["result"]["pi2"], "Removed");
    let (s, v) = h
        .post(h.orch("/management/remove-all-services"), json!({}))
        .await;
    assert_eq!(
        (s, v["response"]["result"].clone()),
        (StatusCode::OK, json!("All services removed"))
    );
    let (s, v) = h
        .post(h.orch("/management/remove-all-nodes"), json!({}))
        .await;
    assert_eq!(
        (s, v["response"]["result"].clone()),
        (StatusCode::OK, json!("All nodes removed"))
    );
    let (st, _) = h.ops.orchestration_state().await.unwrap();
    assert!(st.nodes.is_empty() && st.services.is_empty());
    // Unknown command: 404 (ROHE: 200 "success" with "Unknown command").
    let (s, v) = h.post(h.orch("/management/frobnicate"), json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["field"], "command");
    let (s, v) = h.post(h.orch("/management/stop-agent"), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["response"]["result"], "Agent was not running");
    // The openapi document describes both APIs, on both ports.
    for url in [h.obs("/openapi.json"), h.orch("/openapi.json")] {
        let (s, v) = h.send(h.http.get(url)).await;
        assert_eq!(s, StatusCode::OK);
        assert!(v["paths"]["/registration/"]["post"].is_object());
        assert!(v["paths"]["/management/add-node"]["post"].is_object());
    }
    let (s, v) = h.send(h.http.get(h.obs("/health"))).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"status": "ok"})));
    let (s, _) = h.send(h.http.get(h.obs("/nowhere"))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    h.server.unwrap().shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_required_on_state_changing_routes() {
    let _watchdog = common::Watchdog::new(300, "token_is_required_on_state_changing_routes");
    let h = Harness::start("s3cret-token").await;
    let (s, v) = h.post(h.obs("/registration/"), reg("a1")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert!(v["hint"].as_str().unwrap().contains("Bearer"));
    let (s, _) = h
        .send(
            h.http
                .post(h.obs("/registration/"))
                .bearer_auth("s3cret-tokeX")
                .json(&reg("a1")),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = h
        .post(h.orch("/management/remove-all-nodes"), json!({}))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(h.ops.get_app("a1").await.is_err());
    assert_eq!(h.audit_len().await, 0);
    let (s, v) = h
        .send(
            h.http
                .post(h.obs("/registration/"))
                .bearer_auth("s3cret-token")
                .json(&reg("a1")),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // QoA4ML cannot send headers: the token may ride in registration_url's query.
    let (s, v) = h
        .post(h.obs("/registration/?token=s3cret-token"), reg("a1"))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Reads stay open.
    let (s, _) = h.send(h.http.get(h.obs("/health"))).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = h.post(h.orch("/management/get-all-nodes"), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    assert!(serve::constant_time_eq(b"abc", b"abc"));
    assert!(!serve::constant_time_eq(b"abc", b"abcd"));
    h.server.unwrap().shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_malformed_bodies_change_nothing() {
    let _watchdog = common::Watchdog::new(300, "oversized_and_malformed_bodies_change_nothing");
    let h = Harness::start("").await;
    h.post(h.obs("/registration/"), reg("keep")).await;
    let before_app = h.ops.get_app("keep").await.unwrap();
    let before_audit = h.audit_len().await;
    let big = format!(
        "{{\"application_name\": \"big\", \"run_id\": \"r\", \"user_id\": \"u\", \"pad\": \"{}\"}}",
        "x".repeat(1 << 20)
    );
    let (s, v) = h
        .send(
            h.http
                .post(h.obs("/registration/"))
                .header("content-type", "application/json")
                .body(big),
        )
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    let (s, v) = h
        .send(
            h.http
                .post(h.obs("/registration/"))
                .header("content-type", "application/json")
                .body("{\"application_name\": \"keep\", \"run_id\": "),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].is_string() && v["hint"].is_string(), "{v}");
    let (s, v) = h
        .send(
            h.http
                .post(h.obs("/registration/"))
                .header("content-type", "application/json")
                .body("{\"application_name\": \"keep\", \"run_id\": 5, \"user_id\": \"u\"}"),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["field"], "run_id");
    let (s, _) = h
        .send(
            h.http
                .post(h.orch("/management/add-node"))
                .header("content-type", "application/json")
                .body("{\"data\": "),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(h.ops.get_app("keep").await.unwrap(), before_app);
    assert!(h.ops.get_app("big").await.is_err());
    assert_eq!(h.audit_len().await, before_audit);
    assert!(
        h.ops
            .orchestration_state()
            .await
            .unwrap()
            .0
            .nodes
            .is_empty()
    );
    h.server.unwrap().shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_record_lives_while_the_server_runs() {
    let _watchdog = common::Watchdog::new(300, "status_record_lives_while_the_server_runs");
    let h = Harness::start("").await;
    let st = serve::status(h.ops.store())
        .await
        .expect("a running server");
    assert_eq!(st.pid, std::process::id());
    assert_eq!(
        st.observation,
        h.server.as_ref().unwrap().observation.to_string()
    );
    assert!(!st.auth);
    let ops = h.ops.clone();
    h.server.unwrap().shutdown().await.unwrap();
    assert!(serve::status(ops.store()).await.is_none());
}

#[test]
fn non_loopback_bind_without_token_is_refused() {
    let _watchdog = common::Watchdog::new(300, "non_loopback_bind_without_token_is_refused");
    let opts = ServeOptions {
        bind: IpAddr::from([0, 0, 0, 0]),
        observation_port: 0,
        orchestration_port: 0,
        token: String::new(),
    };
    let e = opts.check().unwrap_err();
    assert_eq!(e.field.as_deref(), Some("serve.token"));
    assert!(e.hint.is_some());
    // The binary refuses at start with the config-error exit code, before binding anything.
    let sb = common::Sandbox::new();
    let out = sb.run(&[
        "serve",
        "--bind",
        "0.0.0.0",
        "--observation-port",
        "0",
        "--orchestration-port",
        "0",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("serve.token"), "{err}");
}
