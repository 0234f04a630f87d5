//! Agents as Docker containers (bollard): `rohe agent run --app NAME` in the rohe agent image.
//!
//! Containers are named `rohe-agent-<app>` and labelled `rohe.io/app`, `rohe.io/app-id`,
//! `rohe.io/role=agent`, so a restarted console finds them by label. Addresses are passed
//! explicitly: a container cannot reach the host's `localhost` unless it shares the host's
//! network (`agent.docker.network: host`, the default here); the broker URL and the store are
//! given as `ROHE__*` variables, and the embedded store's directory is mounted at the same path
//! (a MongoDB store is reached at its `store.url`).
//!
//! The image is built by rohe itself (`rohe agent image build`): a root filesystem holding this
//! very binary and the shared libraries it links (read from the ELF loader's own listing),
//! imported through the Docker API. No base image is pulled, so it works with no registry.

use crate::config::Config;
use crate::domain::app::Application;
use crate::domain::stream::StreamConfig;
use crate::error::{Error, Result};
use crate::ports::runtime::Runtime;
use async_trait::async_trait;
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_lite::StreamExt;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const LABEL_APP: &str = "rohe.io/app";
pub const LABEL_APP_ID: &str = "rohe.io/app-id";
pub const LABEL_ROLE: &str = "rohe.io/role";

/// The image `rohe agent image build` makes by default: tagged with this rohe's version, so an
/// upgraded rohe never runs agents of another version by accident.
pub fn default_image() -> String {
    format!("rohe-agent:{}", env!("CARGO_PKG_VERSION"))
}

pub struct DockerRuntime {
    /// Connected on first use, so opening rohe never waits for (or fails on) the daemon.
    docker: tokio::sync::OnceCell<Docker>,
    host: String,
    image: String,
    network: String,
    config: Config,
}

/// Where the daemon is: `agent.docker.host`, else `$DOCKER_HOST`, else the default socket.
pub fn docker_host(config: &Config) -> String {
    if !config.agent.docker.host.is_empty() {
        return config.agent.docker.host.clone();
    }
    match std::env::var("DOCKER_HOST") {
        Ok(h) if !h.is_empty() => h,
        _ => "unix:///var/run/docker.sock".into(),
    }
}

fn unreachable(host: &str, e: impl std::fmt::Display) -> Error {
    Error::runtime(format!("the Docker daemon at {host} cannot be reached: {e}"))
        .field("agent.docker.host")
        .hint("start dockerd (or point agent.docker.host / $DOCKER_HOST at its socket), or use agent.runtime: local")
}

/// Connect and agree on an API version; a missing socket or a dead daemon is a clear error.
pub async fn connect(config: &Config) -> Result<(Docker, String)> {
    let host = docker_host(config);
    let docker = if host.starts_with("unix://") || host.starts_with('/') {
        Docker::connect_with_socket(&host, 30, bollard::API_DEFAULT_VERSION)
    } else {
        return Err(
            Error::invalid(format!("{host} is not a Docker socket this rohe can use"))
                .field("agent.docker.host")
                .hint("use unix:///path/to/docker.sock"),
        );
    }
    .map_err(|e| unreachable(&host, e))?;
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|e| unreachable(&host, e))?;
    docker.ping().await.map_err(|e| unreachable(&host, e))?;
    Ok((docker, host))
}

fn container_name(app_name: &str) -> String {
    format!("rohe-agent-{app_name}")
}

fn docker_err(what: &str, e: bollard::errors::Error) -> Error {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message,
        } => Error::not_found(format!("{what}: {message}")),
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            message,
        } => Error::conflict(format!("{what}: {message}")),
        other => Error::runtime(format!("{what}: {other}")),
    }
}

impl DockerRuntime {
    pub fn new(config: &Config) -> DockerRuntime {
        let image = if config.agent.docker.image.is_empty() {
            default_image()
        } else {
            config.agent.docker.image.clone()
        };
        DockerRuntime {
            docker: tokio::sync::OnceCell::new(),
            host: docker_host(config),
            image,
            network: config.agent.docker.network.clone(),
            config: config.clone(),
        }
    }

    async fn docker(&self) -> Result<&Docker> {
        self.docker
            .get_or_try_init(|| async { connect(&self.config).await.map(|(d, _)| d) })
            .await
    }

    pub fn image(&self) -> &str {
        &self.image
    }

    async fn find(&self, app_name: &str) -> Result<Option<(String, bool)>> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![
                format!("{LABEL_APP}={app_name}"),
                format!("{LABEL_ROLE}=agent"),
            ],
        )]);
        let list = self
            .docker()
            .await?
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| unreachable(&self.host, e))?;
        Ok(list.into_iter().next().and_then(|c| {
            let running = c.state.map(|s| s.to_string() == "running").unwrap_or(false);
            c.id.map(|id| (id, running))
        }))
    }

    /// The containers of rohe agents, for adoption and `rohe doctor`: (app, id, running).
    pub async fn list_agents(&self) -> Result<Vec<(String, String, bool)>> {
        let filters = HashMap::from([("label".to_string(), vec![format!("{LABEL_ROLE}=agent")])]);
        let list = self
            .docker()
            .await?
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| unreachable(&self.host, e))?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let app = c.labels.as_ref()?.get(LABEL_APP)?.clone();
                let running = c.state.map(|s| s.to_string() == "running").unwrap_or(false);
                Some((app, c.id?, running))
            })
            .collect())
    }
}

#[async_trait]
impl Runtime for DockerRuntime {
    fn kind(&self) -> &'static str {
        "docker"
    }

    async fn start(&self, app: &Application, cfg: &StreamConfig) -> Result<String> {
        cfg.validate()?;
        let name = &app.application_name;
        match self.find(name).await? {
            Some((id, true)) => return Ok(id),
            Some((id, false)) => {
                // A stopped container of an earlier run: replace it (its config may be stale).
                self.docker()
                    .await?
                    .remove_container(
                        &id,
                        Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                    )
                    .await
                    .map_err(|e| docker_err("removing the old agent container", e))?;
            }
            None => {}
        }
        if let Err(e) = self.docker().await?.inspect_image(&self.image).await {
            return Err(match e {
                bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                } => Error::not_found(format!("the agent image {} is not there", self.image))
                    .field("agent.docker.image")
                    .hint("build it with `rohe agent image build` (no registry needed)"),
                other => unreachable(&self.host, other),
            });
        }
        let c = &self.config;
        let mut env = vec![
            "ROHE__BUS__BACKEND=amqp".to_string(),
            format!("ROHE__BUS__URL={}", c.bus.url),
            format!("ROHE__AGENT__PREFETCH={}", c.agent.prefetch),
            format!("ROHE__AGENT__BATCH={}", c.agent.batch),
            format!(
                "ROHE__STORE__SYNC={}",
                format!("{:?}", c.store.sync).to_lowercase()
            ),
            "XDG_STATE_HOME=/tmp".to_string(),
            "XDG_DATA_HOME=/tmp".to_string(),
            "XDG_CONFIG_HOME=/tmp".to_string(),
        ];
        let mut binds = Vec::new();
        match c.store.backend {
            crate::config::StoreBackend::Embedded => {
                let store = c.store_path();
                env.push(format!("ROHE__STORE__PATH={}", store.display()));
                if let Some(dir) = store.parent() {
                    binds.push(format!("{0}:{0}", dir.display()));
                }
            }
            // The container reaches the server itself (host network, or an address the
            // operator gives in store.url). The URL is the container's own credential: it is
            // in its environment, never in a stored document or a log line.
            crate::config::StoreBackend::Mongodb => {
                env.push("ROHE__STORE__BACKEND=mongodb".into());
                env.push(format!("ROHE__STORE__URL={}", c.store.url));
                env.push(format!("ROHE__STORE__DATABASE={}", c.store.database));
            }
        }
        let labels = HashMap::from([
            (LABEL_APP.to_string(), name.clone()),
            (LABEL_APP_ID.to_string(), app.app_id.to_string()),
            (LABEL_ROLE.to_string(), "agent".to_string()),
        ]);
        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: Some(vec![
                "agent".into(),
                "run".into(),
                "--app".into(),
                name.clone(),
            ]),
            env: Some(env),
            labels: Some(labels),
            // SIGTERM is the agent's graceful stop (finish the batch, ack, record health).
            stop_signal: Some("SIGTERM".into()),
            host_config: Some(HostConfig {
                network_mode: Some(self.network.clone()),
                binds: Some(binds),
                init: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self
            .docker()
            .await?
            .create_container(
                Some(
                    CreateContainerOptionsBuilder::default()
                        .name(&container_name(name))
                        .build(),
                ),
                body,
            )
            .await
            .map_err(|e| docker_err("creating the agent container", e))?;
        if let Err(e) = self
            .docker()
            .await?
            .start_container(&created.id, None)
            .await
        {
            // Nothing half-done: the container that could not start is removed again.
            let _ = self
                .docker()
                .await?
                .remove_container(
                    &created.id,
                    Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                )
                .await;
            return Err(docker_err("starting the agent container", e));
        }
        Ok(created.id)
    }

    async fn stop(&self, app_name: &str, handle: &str, timeout: Duration) -> Result<()> {
        let id = if handle.is_empty() {
            match self.find(app_name).await? {
                Some((id, _)) => id,
                None => return Ok(()),
            }
        } else {
            handle.to_string()
        };
        let t = timeout.as_secs().min(i32::MAX as u64) as i32;
        match self
            .docker()
            .await?
            .stop_container(
                &id,
                Some(StopContainerOptionsBuilder::default().t(t).build()),
            )
            .await
        {
            Ok(()) => {}
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404 | 304,
                ..
            }) => {}
            Err(e) => return Err(docker_err("stopping the agent container", e)),
        }
        match self
            .docker()
            .await?
            .remove_container(&id, Some(RemoveContainerOptionsBuilder::default().build()))
            .await
        {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(docker_err("removing the agent container", e)),
        }
    }

    async fn is_running(&self, _app_name: &str, handle: &str) -> Result<bool> {
        match self.docker().await?.inspect_container(handle, None).await {
            Ok(c) => Ok(c.state.and_then(|s| s.running).unwrap_or(false)),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(unreachable(&self.host, e)),
        }
    }

    async fn logs(&self, _app_name: &str, handle: &str, lines: usize) -> Result<Vec<String>> {
        let mut stream = self.docker().await?.logs(
            handle,
            Some(
                LogsOptionsBuilder::default()
                    .stdout(true)
                    .stderr(true)
                    .tail(&lines.to_string())
                    .build(),
            ),
        );
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(out) => text.push_str(&out.to_string()),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => break,
                Err(e) => return Err(docker_err("reading the agent's logs", e)),
            }
        }
        Ok(text.lines().map(str::to_string).collect())
    }
}

/// The files of the agent image: this executable and every shared library it loads.
fn image_files(exe: &Path) -> Result<Vec<PathBuf>> {
    let out = std::process::Command::new("ldd")
        .arg(exe)
        .output()
        .map_err(|e| Error::runtime(format!("cannot run ldd on {}: {e}", exe.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut files = vec![exe.to_path_buf()];
    for line in text.lines() {
        // "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            files.push(PathBuf::from(p));
        }
    }
    Ok(files)
}

/// Build the agent image from this binary (no base image, no registry) and tag it. Returns
/// the image id.
pub async fn build_image(config: &Config, tag: Option<&str>) -> Result<String> {
    let (docker, _) = connect(config).await?;
    let exe = std::env::current_exe()
        .map_err(|e| Error::runtime(format!("cannot find the rohe executable: {e}")))?;
    let files = image_files(&exe)?;
    let mut tar = tar::Builder::new(Vec::new());
    for f in &files {
        let inside = if *f == exe {
            PathBuf::from("usr/local/bin/rohe")
        } else {
            f.strip_prefix("/").unwrap_or(f).to_path_buf()
        };
        // Plain (ustar) entries from the files' contents: symlinks followed, and no GNU sparse
        // headers, which the daemon's importer refuses.
        let add_err = |e: std::io::Error| {
            Error::runtime(format!("cannot add {} to the image: {e}", f.display()))
        };
        let data = std::fs::read(f).map_err(add_err)?;
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o755);
        h.set_size(data.len() as u64);
        tar.append_data(&mut h, &inside, data.as_slice())
            .map_err(add_err)?;
    }
    // /tmp for the agent's state directories.
    let mut tmp = tar::Header::new_ustar();
    tmp.set_entry_type(tar::EntryType::Directory);
    tmp.set_mode(0o1777);
    tmp.set_size(0);
    tar.append_data(&mut tmp, "tmp", std::io::empty())
        .map_err(|e| Error::runtime(format!("building the image: {e}")))?;
    let bytes = tar
        .into_inner()
        .map_err(|e| Error::runtime(format!("building the image: {e}")))?;
    let full = tag.map(str::to_string).unwrap_or_else(default_image);
    let (repo, tag) = full.rsplit_once(':').unwrap_or((full.as_str(), "latest"));
    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .changes(vec![
            r#"ENTRYPOINT ["/usr/local/bin/rohe"]"#.into(),
            "LABEL rohe.io/role=agent-image".into(),
        ])
        .build();
    let mut stream =
        docker.create_image(Some(options), Some(bollard::body_full(bytes.into())), None);
    while let Some(step) = stream.next().await {
        step.map_err(|e| docker_err("importing the agent image", e))?;
    }
    let inspect = docker
        .inspect_image(&full)
        .await
        .map_err(|e| docker_err("the imported image", e))?;
    Ok(inspect.id.unwrap_or(full))
}
