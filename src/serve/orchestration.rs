//! ROHE's orchestration service: `/management/...` (rohe-spec §4, §5.2).

use super::{ApiError, AppState, execute, parse_body, success};
use crate::error::Error;
use crate::ops::{Request, Response as OpsResponse};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/management/",
            get(|| async { success(json!({})).into_response() }),
        )
        .route(
            "/management",
            get(|| async { success(json!({})).into_response() }),
        )
        .route("/management/add-node", post(add_node))
        .route("/management/remove-node", post(remove_node))
        .route("/management/remove-all-nodes", post(remove_all_nodes))
        .route("/management/add-service", post(add_service))
        .route("/management/remove-all-services", post(remove_all_services))
        .route(
            "/management/get-all-nodes",
            post(get_all_nodes).get(get_all_nodes),
        )
        .route(
            "/management/get-all-services",
            post(get_all_services).get(get_all_services),
        )
        .route("/management/start-agent", post(start_agent))
        .route("/management/stop-agent", post(stop_agent))
        .route("/management/{command}", post(unknown))
}

pub const COMMANDS: [&str; 9] = [
    "add-node",
    "remove-node",
    "remove-all-nodes",
    "add-service",
    "remove-all-services",
    "get-all-nodes",
    "get-all-services",
    "start-agent",
    "stop-agent",
];

async fn unknown(axum::extract::Path(command): axum::extract::Path<String>) -> Response {
    super::error_response(
        axum::http::StatusCode::NOT_FOUND,
        &Error::not_found(format!("unknown command {command:?}"))
            .field("command")
            .hint(format!("one of: {}", COMMANDS.join(", "))),
    )
}

fn added_updated(r: OpsResponse) -> Value {
    let mut out = BTreeMap::new();
    if let OpsResponse::Orchestration(o) = r
        && let Some(u) = &o.upserted
    {
        for n in &u.added {
            out.insert(n.clone(), "Added");
        }
        for n in &u.updated {
            out.insert(n.clone(), "Updated");
        }
    }
    json!({ "result": out })
}

async fn add_node(
    State(s): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiErrorOr> {
    let document: Value = parse_body(body)?;
    let r = execute(
        &s,
        Request::NodeAddDoc {
            document,
            dry_run: false,
        },
    )
    .await?;
    Ok(success(added_updated(r)))
}

async fn add_service(
    State(s): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiErrorOr> {
    let document: Value = parse_body(body)?;
    let r = execute(
        &s,
        Request::ServiceAddDoc {
            document,
            dry_run: false,
        },
    )
    .await?;
    Ok(success(added_updated(r)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveNodes {
    data: BTreeMap<String, RemoveNode>,
}

#[derive(Debug, Deserialize)]
struct RemoveNode {
    #[serde(alias = "MAC", alias = "mac")]
    mac_address: String,
}

async fn remove_node(
    State(s): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiErrorOr> {
    let b: RemoveNodes = parse_body(body)?;
    if b.data.is_empty() {
        return Err(ApiError(
            Error::invalid("no nodes to remove")
                .field("data")
                .hint(r#"send {"data": {"<key>": {"mac_address": "..."}}}"#),
        )
        .into());
    }
    // Check every node first, so an unknown one removes nothing.
    let (st, _) = s.ops.orchestration_state().await?;
    for (key, n) in &b.data {
        st.node(&n.mac_address)
            .map_err(|e| e.field(format!("data.{key}.mac_address")))?;
    }
    let mut out = Map::new();
    for (key, n) in b.data {
        execute(
            &s,
            Request::NodeRemove {
                name: n.mac_address,
                dry_run: false,
            },
        )
        .await?;
        out.insert(key, json!("Removed"));
    }
    Ok(success(json!({ "result": out })))
}

async fn remove_all_nodes(State(s): State<AppState>) -> Result<Response, ApiErrorOr> {
    execute(&s, Request::NodeRemoveAll { dry_run: false }).await?;
    Ok(success(json!({"result": "All nodes removed"})))
}

async fn remove_all_services(State(s): State<AppState>) -> Result<Response, ApiErrorOr> {
    execute(&s, Request::ServiceRemoveAll { dry_run: false }).await?;
    Ok(success(json!({"result": "All services removed"})))
}

async fn get_all_nodes(State(s): State<AppState>) -> Result<Response, ApiErrorOr> {
    let (st, _) = s.ops.orchestration_state().await?;
    let mut result = Vec::with_capacity(st.nodes.len());
    for n in &st.nodes {
        let data = serde_json::to_value(n)
            .map_err(|e| ApiError(Error::runtime(format!("encoding a node: {e}"))))?;
        result.push(json!({"_id": n.mac_address, "status": data["status"], "data": data}));
    }
    Ok(success(json!({ "result": result })))
}

async fn get_all_services(State(s): State<AppState>) -> Result<Response, ApiErrorOr> {
    let (st, _) = s.ops.orchestration_state().await?;
    let mut result = Vec::with_capacity(st.services.len());
    for a in &st.services {
        let data = serde_json::to_value(&a.service)
            .map_err(|e| ApiError(Error::runtime(format!("encoding a service: {e}"))))?;
        result.push(json!({
            "_id": a.service.service_id,
            "application": a.application,
            "replicas": a.service.replicas,
            "running": a.service.running,
            "data": data,
        }));
    }
    Ok(success(json!({ "result": result })))
}

async fn start_agent(State(s): State<AppState>) -> Result<Response, ApiErrorOr> {
    let r = s.ops.start_orchestrator(&s.config).await;
    s.ops
        .record("orchestrator.start", &r, || "orchestrator started".into())
        .await?;
    let (rec, started) = r?;
    Ok(success(json!({
        "result": if started { "Agent started" } else { "Agent already running" },
        "pid": rec.pid,
    })))
}

async fn stop_agent(State(s): State<AppState>) -> Result<Response, ApiErrorOr> {
    let r = s.ops.stop_orchestrator().await;
    s.ops
        .record("orchestrator.stop", &r, || "orchestrator stopped".into())
        .await?;
    let stopped = r?;
    Ok(success(json!({
        "result": if stopped { "Agent stopped" } else { "Agent was not running" },
    })))
}

/// A handler's error: rohe's error, or a response already built (body parsing).
pub struct ApiErrorOr(Response);

impl From<Response> for ApiErrorOr {
    fn from(r: Response) -> Self {
        ApiErrorOr(r)
    }
}
impl From<ApiError> for ApiErrorOr {
    fn from(e: ApiError) -> Self {
        ApiErrorOr(e.into_response())
    }
}
impl From<Error> for ApiErrorOr {
    fn from(e: Error) -> Self {
        ApiErrorOr(ApiError(e).into_response())
    }
}
impl IntoResponse for ApiErrorOr {
    fn into_response(self) -> Response {
        self.0
    }
}
