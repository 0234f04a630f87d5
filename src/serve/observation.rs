//! ROHE's observation service: registration and agents (rohe-spec §1, §2.6, §5.1).

use super::{ApiError, AppState, execute, parse_body, success};
use crate::error::Error;
use crate::ops::registration::ClientRegistration;
use crate::ops::{Request, Response as OpsResponse};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/registration/", post(register).delete(unregister))
        .route("/registration", post(register).delete(unregister))
        .route("/agent/{command}", post(agent))
}

/// `POST /registration/`: a QoA4ML client (or ROHE's CLI) registers; the reply carries the
/// connector the client publishes with.
async fn register(
    State(s): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Response> {
    let client: ClientRegistration = parse_body(body)?;
    let resp = execute(&s, Request::RegisterClient { client })
        .await
        .map_err(axum::response::IntoResponse::into_response)?;
    let OpsResponse::ClientRegistered(c) = resp else {
        return Err(unexpected());
    };
    let app = &c.outcome.application;
    Ok(success(json!({
        app.application_name.clone(): c.outcome.message,
        "app_id": app.app_id.to_string(),
        "client_count": app.client_count,
        "connector": c.connector,
    })))
}

#[derive(Debug, Deserialize)]
struct DeleteBody {
    #[serde(alias = "appName")]
    application_name: String,
    #[serde(alias = "runID")]
    run_id: String,
    #[serde(alias = "userID")]
    user_id: String,
}

/// `DELETE /registration/`: removes the registration if run and user match (ROHE reports
/// success even when nothing matched; rohe answers 404).
async fn unregister(
    State(s): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Response> {
    let b: DeleteBody = parse_body(body)?;
    let into = axum::response::IntoResponse::into_response;
    let app = s
        .ops
        .get_app(&b.application_name)
        .await
        .map_err(|e| into(ApiError(e.field("application_name"))))?;
    for (field, given, stored) in [
        ("run_id", &b.run_id, &app.run_id),
        ("user_id", &b.user_id, &app.user_id),
    ] {
        if given != stored {
            return Err(into(ApiError(
                Error::not_found(format!(
                    "{} is registered with another {field}",
                    b.application_name
                ))
                .field(field)
                .hint(format!("the registration's {field} is {stored:?}")),
            )));
        }
    }
    execute(
        &s,
        Request::UnregisterApp {
            name: b.application_name.clone(),
            purge: false,
            force: false,
            dry_run: false,
        },
    )
    .await
    .map_err(into)?;
    Ok(success(
        json!({"result": format!("Deleted {}", b.application_name)}),
    ))
}

#[derive(Debug, Deserialize)]
struct AgentBody {
    #[serde(alias = "appName", default)]
    application_name: Option<String>,
    /// ROHE's container image override; rohe runs its own agent and ignores it.
    #[serde(default)]
    #[allow(dead_code)]
    agent_image: Option<String>,
    #[serde(default)]
    stream_config: Option<serde_json::Value>,
}

pub const AGENT_COMMANDS: [&str; 5] = ["start", "stop", "delete", "kill-all", "log"];

/// `POST /agent/{command}`.
async fn agent(
    State(s): State<AppState>,
    Path(command): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Response> {
    let into = axum::response::IntoResponse::into_response;
    if !AGENT_COMMANDS.contains(&command.as_str()) {
        return Err(super::error_response(
            axum::http::StatusCode::BAD_REQUEST,
            &Error::invalid(format!("unknown command {command:?}"))
                .field("command")
                .hint(format!("one of: {}", AGENT_COMMANDS.join(", "))),
        ));
    }
    let b: AgentBody = parse_body(body)?;
    let name = match (&b.application_name, command.as_str()) {
        (Some(n), _) => n.clone(),
        (None, "kill-all") => String::new(),
        (None, _) => {
            return Err(into(ApiError(
                Error::invalid("missing field `application_name`")
                    .field("application_name")
                    .hint("name a registered application"),
            )));
        }
    };
    let msg = |verb: &str| json!({ name.clone(): format!("Agent for '{name}' {verb}") });
    match command.as_str() {
        "start" => {
            execute(
                &s,
                Request::AgentStartInline {
                    name: name.clone(),
                    stream_config: b.stream_config,
                    dry_run: false,
                },
            )
            .await
            .map_err(into)?;
            Ok(success(msg("started")))
        }
        "stop" => {
            execute(
                &s,
                Request::AgentStop {
                    name: name.clone(),
                    dry_run: false,
                },
            )
            .await
            .map_err(into)?;
            Ok(success(msg("stopped")))
        }
        "delete" => {
            execute(&s, Request::AgentDelete { name: name.clone() })
                .await
                .map_err(into)?;
            Ok(success(msg("deleted")))
        }
        "kill-all" => {
            if !name.is_empty() {
                s.ops
                    .get_app(&name)
                    .await
                    .map_err(|e| into(ApiError(e.field("application_name"))))?;
            }
            let r = execute(&s, Request::AgentStopAll).await.map_err(into)?;
            let stopped = match r {
                OpsResponse::Agents(a) => a.len(),
                _ => 0,
            };
            Ok(success(
                json!({"result": "All agents killed", "stopped": stopped}),
            ))
        }
        _ => {
            // log: a read, not audited.
            s.ops
                .get_app(&name)
                .await
                .map_err(|e| into(ApiError(e.field("application_name"))))?;
            let lines = s
                .ops
                .agent_logs(&name, 20)
                .await
                .map_err(|e| into(ApiError(e)))?;
            Ok(success(json!({"logs": lines.join("\n")})))
        }
    }
}

fn unexpected() -> Response {
    axum::response::IntoResponse::into_response(ApiError(Error::runtime(
        "the ops layer answered with an unexpected response",
    )))
}
