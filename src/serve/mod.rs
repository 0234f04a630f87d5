//! `rohe serve`: ROHE's observation (port 5010) and orchestration (port 5002) REST APIs, so
//! ROHE's CLIs, scripts and QoA4ML clients (`registration_url`) work against rohe.
//!
//! Every state-changing route builds an [`ops::Request`](crate::ops::Request) and goes through
//! [`Ops::execute`], like the CLI and the console, so it is audited identically (source
//! `serve`). Where ROHE answers errors with 200 "success" or a bare 500, rohe answers with the
//! matching status and `{"error", "field", "hint"}` (ARCHITECTURE.md lists the differences).

pub mod observation;
pub mod openapi;
pub mod orchestration;

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::ops::{Ops, Request, Response as OpsResponse};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request as HttpRequest, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Request bodies larger than this are refused with 413 before they are read whole.
pub const BODY_LIMIT: usize = 1 << 20;
/// The store document that says a server is running.
pub const STATUS_KEY: &str = "serve";

/// Where to listen and who may change state.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub bind: IpAddr,
    pub observation_port: u16,
    pub orchestration_port: u16,
    /// Empty: no authentication (allowed on loopback only).
    pub token: String,
}

impl ServeOptions {
    pub fn from_config(c: &Config) -> Result<ServeOptions> {
        let bind = c.serve.bind.parse().map_err(|_| {
            Error::invalid(format!("{:?} is not an IP address", c.serve.bind))
                .field("serve.bind")
                .hint("use 127.0.0.1, ::1 or 0.0.0.0")
        })?;
        Ok(ServeOptions {
            bind,
            observation_port: c.serve.observation_port,
            orchestration_port: c.serve.orchestration_port,
            token: c.serve.token.clone(),
        })
    }

    /// A server reachable from other machines must not let anyone change state.
    pub fn check(&self) -> Result<()> {
        if !self.bind.is_loopback() && self.token.is_empty() {
            return Err(Error::invalid(format!(
                "binding to {} without a token would let anyone on the network register applications, start agents and change the cluster",
                self.bind
            ))
            .field("serve.token")
            .hint("set serve.token (e.g. token: ${ROHE_API_TOKEN}, or ROHE__SERVE__TOKEN), or bind to 127.0.0.1"));
        }
        Ok(())
    }
}

/// What the store says about a running server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServeStatus {
    pub observation: String,
    pub orchestration: String,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    pub auth: bool,
}

/// The running server, if the store has a record whose process is alive.
pub async fn status(store: &Arc<dyn crate::ports::Store>) -> Option<ServeStatus> {
    let doc = store.get_doc(STATUS_KEY).await.ok()??;
    let st: ServeStatus = serde_json::from_value(doc.value).ok()?;
    pid_alive(st.pid).then_some(st)
}

fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks that the process exists.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

async fn write_status(
    store: &Arc<dyn crate::ports::Store>,
    value: &serde_json::Value,
) -> Result<()> {
    for _ in 0..10 {
        let cur = store.get_doc(STATUS_KEY).await?.map(|d| d.version);
        match store.put_doc(STATUS_KEY, value, cur, None).await {
            Ok(_) => return Ok(()),
            Err(e) if e.kind == ErrorKind::Conflict => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::conflict("the serve record kept changing"))
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub ops: Ops,
    pub config: Arc<Config>,
    token: Arc<String>,
}

/// A started server: its bound addresses, and the way to stop it.
pub struct Server {
    pub observation: SocketAddr,
    pub orchestration: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
    ops: Ops,
}

impl Server {
    /// Stop accepting, finish the requests in flight, and remove the status record.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(true);
        for t in self.tasks {
            match t.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "server ended with an error"),
                Err(e) => tracing::warn!(error = %e, "server task failed"),
            }
        }
        write_status(self.ops.store(), &serde_json::Value::Null).await
    }
}

/// Bind both APIs (port 0 picks a free port) and serve them in the background.
pub async fn start(ops: Ops, config: Config, opts: &ServeOptions) -> Result<Server> {
    opts.check()?;
    let bind = |port: u16, what: &str| {
        let addr = SocketAddr::new(opts.bind, port);
        let what = what.to_string();
        async move {
            tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                Error::runtime(format!("cannot listen on {addr} for the {what} API: {e}"))
                    .field(format!("serve.{what}_port"))
                    .hint("choose another port (--observation-port/--orchestration-port), or stop what uses it")
            })
        }
    };
    let obs_l = bind(opts.observation_port, "observation").await?;
    let orch_l = bind(opts.orchestration_port, "orchestration").await?;
    let observation = obs_l.local_addr()?;
    let orchestration = orch_l.local_addr()?;
    let state = AppState {
        ops: ops.clone(),
        config: Arc::new(config),
        token: Arc::new(opts.token.clone()),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for (listener, router) in [
        (obs_l, observation::router()),
        (orch_l, orchestration::router()),
    ] {
        let app = finish(router, state.clone());
        let mut stopped = stopped.clone();
        tasks.push(tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
        }));
    }
    let record = ServeStatus {
        observation: observation.to_string(),
        orchestration: orchestration.to_string(),
        pid: std::process::id(),
        started_at: Utc::now(),
        auth: !opts.token.is_empty(),
    };
    let value = serde_json::to_value(&record)
        .map_err(|e| Error::runtime(format!("encoding the serve record: {e}")))?;
    write_status(ops.store(), &value).await?;
    Ok(Server {
        observation,
        orchestration,
        stop,
        tasks,
        ops,
    })
}

fn finish(router: Router<AppState>, state: AppState) -> Router {
    router
        .route("/openapi.json", axum::routing::get(openapi::handler))
        .route("/health", axum::routing::get(health))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

async fn health() -> Response {
    axum::Json(serde_json::json!({"status": "ok"})).into_response()
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    ApiError(
        Error::not_found(format!("no route {method} {}", uri.path()))
            .hint("GET /openapi.json lists the routes"),
    )
    .into_response()
}

/// Reads are open; every other request needs the token when one is configured. QoA4ML
/// clients cannot send headers, so `?token=` in their `registration_url` is accepted too.
async fn auth(State(s): State<AppState>, req: HttpRequest, next: Next) -> Response {
    let read_only = req.method() == Method::GET
        || matches!(
            req.uri().path(),
            "/management/get-all-nodes" | "/management/get-all-services"
        );
    if s.token.is_empty() || read_only {
        return next.run(req).await;
    }
    let given = bearer(req.headers()).or_else(|| {
        req.uri().query().and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("token="))
                .map(str::to_string)
        })
    });
    match given {
        Some(t) if constant_time_eq(t.as_bytes(), s.token.as_bytes()) => next.run(req).await,
        Some(_) => unauthorized("the token is wrong"),
        None => unauthorized("this route changes state and needs the server's token"),
    }
}

fn bearer(h: &HeaderMap) -> Option<String> {
    let v = h.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// Compare without an early exit, so timing does not reveal how much of a guess was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

fn unauthorized(msg: &str) -> Response {
    let body = serde_json::json!({
        "error": msg,
        "field": "Authorization",
        "hint": "send `Authorization: Bearer <serve.token>` (or ?token=<serve.token> for QoA4ML's registration_url)",
    });
    (
        StatusCode::UNAUTHORIZED,
        [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(body),
    )
        .into_response()
}

/// rohe's [`Error`] as an HTTP response: its kind picks the status, the body names the field
/// and the fix.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self.0.kind {
            ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Runtime => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(self.status(), &self.0)
    }
}

pub(crate) fn error_response(status: StatusCode, e: &Error) -> Response {
    let body = serde_json::json!({
        "error": e.message,
        "field": e.field,
        "hint": e.hint,
        "kind": e.kind,
    });
    (status, axum::Json(body)).into_response()
}

/// Parse a request body: 413 past [`BODY_LIMIT`], 400 for malformed JSON, 422 for JSON of the
/// wrong shape; each names the path of the offending value.
#[allow(clippy::result_large_err)] // an error response is built once per failed request
pub(crate) fn parse_body<T: DeserializeOwned>(
    body: std::result::Result<Bytes, BytesRejection>,
) -> std::result::Result<T, Response> {
    let bytes = body.map_err(|r| {
        let status = r.status();
        let e = if status == StatusCode::PAYLOAD_TOO_LARGE {
            Error::invalid(format!("the body is larger than {BODY_LIMIT} bytes"))
                .hint("send at most 1 MiB; split large node or service lists")
        } else {
            Error::invalid(format!("cannot read the body: {}", r.body_text()))
        };
        error_response(status, &e)
    })?;
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let status = if inner.is_data() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        let mut err = Error::invalid(format!("{inner}"))
            .hint("send a JSON object as GET /openapi.json describes it");
        if path != "." {
            err = err.field(path);
        }
        error_response(status, &err)
    })
}

/// Carry out a request through the ops layer (audited, source `serve`).
pub(crate) async fn execute(
    s: &AppState,
    req: Request,
) -> std::result::Result<OpsResponse, ApiError> {
    s.ops.execute(req).await.map_err(ApiError)
}

/// ROHE's success envelope.
pub(crate) fn success(response: serde_json::Value) -> Response {
    axum::Json(serde_json::json!({"status": "success", "response": response})).into_response()
}

/// Serve until Ctrl-C or SIGTERM, then shut down gracefully.
pub async fn run_until_signal(server: Server) -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::runtime(format!("cannot watch SIGTERM: {e}")))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("rohe serve: shutting down");
    server.shutdown().await
}
