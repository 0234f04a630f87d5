//! `GET /openapi.json`: both APIs, hand-built (one document, served on both ports).

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

fn op(summary: &str, body: Option<Value>, auth: bool) -> Value {
    let mut o = json!({
        "summary": summary,
        "responses": {
            "200": {"description": "ROHE's envelope {\"status\": \"success\", \"response\": ...}"},
            "400": {"description": "malformed JSON or unknown command", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            "404": {"description": "unknown application, node or route", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            "409": {"description": "conflict (e.g. the agent is running; read-only rohe)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            "413": {"description": "body larger than 1 MiB"},
            "422": {"description": "a field is missing or invalid (`field` names it)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            "500": {"description": "a backend failed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        }
    });
    if auth {
        o["security"] = json!([{"bearer": []}]);
        o["responses"]["401"] =
            json!({"description": "missing or wrong token (when serve.token is set)"});
    }
    if let Some(schema) = body {
        o["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": schema}}});
    }
    o
}

fn obj(required: &[&str], props: Value) -> Value {
    json!({"type": "object", "required": required, "properties": props})
}

pub fn document() -> Value {
    let s = json!({"type": "string"});
    let registration = obj(
        &["application_name", "run_id", "user_id"],
        json!({
            "application_name": {"type": "string", "description": "legacy: appName"},
            "run_id": {"type": "string", "description": "legacy: runID"},
            "user_id": {"type": "string", "description": "legacy: userID"},
            "stage_id": {"type": "string", "description": "legacy: stageID; a routing-key segment"},
            "instance_id": {"type": "string", "description": "legacy: instanceID; a routing-key segment"},
        }),
    );
    let agent = obj(
        &[],
        json!({
            "application_name": {"type": "string", "description": "legacy: appName; required except for kill-all"},
            "agent_image": {"type": "string", "description": "accepted and ignored"},
            "stream_config": {"type": "object", "description": "ROHE's stream_config (window, parser, functions)"},
        }),
    );
    let data = obj(
        &["data"],
        json!({"data": {"type": "object", "description": "ROHE v2 shape: {key: NodeData} or {app: {key: ServiceData}}"}}),
    );
    let empty = None;
    let mut paths = serde_json::Map::new();
    paths.insert(
        "/health".into(),
        json!({"get": op("liveness: {\"status\": \"ok\"}", None, false)}),
    );
    paths.insert(
        "/openapi.json".into(),
        json!({"get": op("this document", None, false)}),
    );
    paths.insert(
        "/registration/".into(),
        json!({
            "post": op("register (or re-register) an application; returns the client's AMQP connector (QoA4ML registration_url)", Some(registration.clone()), true),
            "delete": op("remove a registration (run_id and user_id must match)", Some(registration), true),
        }),
    );
    paths.insert(
        "/agent/{command}".into(),
        json!({"post": {
            "parameters": [{"name": "command", "in": "path", "required": true, "schema": {"type": "string", "enum": super::observation::AGENT_COMMANDS}}],
            "summary": "start, stop, delete, kill-all or log an application's observation agent",
            "requestBody": {"required": true, "content": {"application/json": {"schema": agent}}},
            "security": [{"bearer": []}],
            "responses": op("", None, true)["responses"].clone(),
        }}),
    );
    paths.insert(
        "/management/".into(),
        json!({"get": op("liveness of the orchestration API", None, false)}),
    );
    for (cmd, summary, body, auth) in [
        (
            "add-node",
            "add or update nodes (by MAC address)",
            Some(data.clone()),
            true,
        ),
        (
            "remove-node",
            "remove nodes by MAC address: {\"data\": {key: {\"mac_address\"}}}",
            Some(data.clone()),
            true,
        ),
        ("remove-all-nodes", "remove every node", empty.clone(), true),
        (
            "add-service",
            "add or update services (by service_id)",
            Some(data),
            true,
        ),
        (
            "remove-all-services",
            "remove every service",
            empty.clone(),
            true,
        ),
        (
            "get-all-nodes",
            "the nodes (also GET)",
            empty.clone(),
            false,
        ),
        (
            "get-all-services",
            "the services (also GET)",
            empty.clone(),
            false,
        ),
        (
            "start-agent",
            "start the orchestrator (reconciliation loop)",
            empty.clone(),
            true,
        ),
        ("stop-agent", "stop the orchestrator", empty.clone(), true),
    ] {
        paths.insert(
            format!("/management/{cmd}"),
            json!({"post": op(summary, body, auth)}),
        );
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "rohe serve: ROHE observation and orchestration APIs",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Observation routes (/registration/, /agent/*) are served on the observation port (5010), /management/* on the orchestration port (5002); /health and /openapi.json on both.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": obj(&["error"], json!({"error": s, "field": {"type": "string", "nullable": true}, "hint": {"type": "string", "nullable": true}, "kind": {"type": "string"}}))},
        },
    })
}

pub async fn handler() -> Response {
    axum::Json(document()).into_response()
}
