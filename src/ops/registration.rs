//! Application registration: register, re-register, show, unregister, QoA4ML configs.

use super::{AuditCtx, Ops};
use crate::domain::app::{
    AppSummary, Application, ApplicationSpec, RegistrationAction, RegistrationEvent,
    apply_registration,
};
use crate::domain::app::{MicroserviceSpec, StageSpec, routing_key};
use crate::domain::names::{validate_app_name, validate_id};
use crate::domain::qoa4ml::{ClientConfig, ConnectorConfig, all_configs};
use crate::error::{Error, ErrorKind, Result};
use crate::ports::AgentRecord;
use crate::yaml;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// How often a registration is retried when another writer changed the same application
/// between our read and our write.
const MAX_ATTEMPTS: usize = 32;
/// Application description files larger than this are refused before parsing.
const MAX_SPEC_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegisterOutcome {
    /// True for a first registration, false when the name existed (same app_id).
    pub created: bool,
    pub dry_run: bool,
    /// ROHE's response message.
    pub message: String,
    pub application: Application,
}

impl RegisterOutcome {
    pub fn summary(&self) -> String {
        let verb = match (self.dry_run, self.created) {
            (true, true) => "would register",
            (true, false) => "would re-register",
            (false, true) => "registered",
            (false, false) => "re-registered",
        };
        let a = &self.application;
        format!(
            "{verb} {} (app_id {}, client count {})",
            a.application_name, a.app_id, a.client_count
        )
    }
}

/// What a QoA4ML client posts to register itself: its `ClientInfo` (rohe-spec §1.1, §3.3).
/// Legacy (2023) spellings are accepted; other `ClientInfo` fields are ignored, as ROHE does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientRegistration {
    #[serde(alias = "appName")]
    pub application_name: String,
    #[serde(alias = "runID")]
    pub run_id: String,
    #[serde(alias = "userID")]
    pub user_id: String,
    #[serde(default, alias = "stageID", skip_serializing_if = "Option::is_none")]
    pub stage_id: Option<String>,
    #[serde(default, alias = "instanceID", skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
}

impl ClientRegistration {
    pub fn validate(&self) -> Result<()> {
        validate_app_name("application_name", &self.application_name)?;
        validate_id("run_id", &self.run_id)?;
        validate_id("user_id", &self.user_id)?;
        for (field, v) in [
            ("stage_id", &self.stage_id),
            ("instance_id", &self.instance_id),
        ] {
            if let Some(v) = v
                && (v.len() > 255
                    || v.chars().any(|c| {
                        c.is_control() || c.is_whitespace() || matches!(c, '.' | '#' | '*')
                    }))
            {
                return Err(Error::invalid(format!(
                    "{:?} cannot be a routing-key segment",
                    v.escape_debug().to_string()
                ))
                .field(field)
                .hint("use at most 255 characters without '.', '#', '*', spaces or control characters, e.g. a UUID"));
            }
        }
        Ok(())
    }
}

/// A client's registration: the application as stored, and where this client publishes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientRegistered {
    pub outcome: RegisterOutcome,
    /// `<app>.<user>[.<stage>][.<instance>].client<N>`, N the count after this registration.
    pub routing_key: String,
    /// The block QoA4ML builds its publisher from.
    pub connector: ConnectorConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnregisterOutcome {
    pub application_name: String,
    pub app_id: Uuid,
    pub purge: bool,
    pub dry_run: bool,
    /// Stored reports and analysis results removed (or that would be, on a dry run).
    pub purged_documents: u64,
}

impl UnregisterOutcome {
    pub fn summary(&self) -> String {
        let verb = if self.dry_run {
            "would unregister"
        } else {
            "unregistered"
        };
        let mut s = format!("{verb} {} (app_id {})", self.application_name, self.app_id);
        if self.purge {
            s.push_str(&format!(
                ", {} stored metric documents purged",
                self.purged_documents
            ));
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportedConfig {
    pub path: PathBuf,
    pub microservice: Option<String>,
    pub routing_key: String,
}

/// Everything `app show` and the console's detail pane present.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppDetail {
    pub application: Application,
    pub history: Vec<RegistrationEvent>,
    pub agent: Option<AgentRecord>,
    pub stored_reports: u64,
    /// The application's microservice instances in the registry (Consul or embedded), when
    /// the face that asked looked them up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryView>,
}

/// An application's instances in the microservice registry, or why they could not be read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegistryView {
    /// `embedded (...)` or `consul (...)`.
    pub backend: String,
    /// Every state (passing, warning, critical), by service name then id.
    pub instances: Vec<crate::ports::registry::Instance>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The instances of `app` in `registry`: those whose `appName` or `appID` metadata names it
/// (what ROHE's services register with, rohe-spec 7). A registry failure is part of the view,
/// not an error: the rest of the detail is still worth showing.
pub async fn registry_view(
    registry: &dyn crate::ports::registry::Registry,
    app: &Application,
) -> RegistryView {
    let app_id = app.app_id.to_string();
    let mine = |i: &crate::ports::registry::Instance| {
        i.meta.get("appName") == Some(&app.application_name) || i.meta.get("appID") == Some(&app_id)
    };
    let mut view = RegistryView {
        backend: registry.describe(),
        instances: Vec::new(),
        error: None,
    };
    let services = match registry.services().await {
        Ok(s) => s,
        Err(e) => {
            view.error = Some(e.to_string());
            return view;
        }
    };
    for (name, _) in services {
        match registry.instances(&name, &[], true).await {
            Ok(found) => view.instances.extend(found.into_iter().filter(|i| mine(i))),
            Err(e) => {
                view.error = Some(e.to_string());
                break;
            }
        }
    }
    view.instances
        .sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    view
}

/// Read and validate an application description file. Nothing is written.
pub fn read_spec_file(path: &Path) -> Result<ApplicationSpec> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::invalid(format!("cannot read the application file: {e}"))
            .file(&shown)
            .field("--file")
            .hint("give the path of a YAML file such as example/applications/cctvs.yaml")
    })?;
    if !meta.is_file() {
        return Err(Error::invalid("is not a file").file(&shown).field("--file"));
    }
    if meta.len() > MAX_SPEC_BYTES {
        return Err(Error::invalid(format!(
            "the file is {} bytes; an application description may be at most {MAX_SPEC_BYTES}",
            meta.len()
        ))
        .file(&shown)
        .field("--file"));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| Error::invalid(e.to_string()).file(&shown).field("--file"))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::invalid(format!(
            "the file is not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        ))
        .file(&shown)
        .field("--file")
    })?;
    parse_spec(&text, &shown)
}

/// Parse and validate an application description given as text.
pub fn parse_spec(text: &str, source: &str) -> Result<ApplicationSpec> {
    if text.trim().is_empty() {
        return Err(Error::invalid("the application description is empty")
            .file(source)
            .hint("it needs application_name, run_id, user_id and stages"));
    }
    let spec: ApplicationSpec = yaml::parse(text, source)?;
    spec.validate().map_err(|e| {
        let line = find_line(text, &e);
        e.file(source).line(line)
    })?;
    Ok(spec)
}

/// Best effort: the line of the field an error names (the last `name:` value in the path).
fn find_line(text: &str, e: &Error) -> Option<usize> {
    let field = e.field.as_deref()?;
    let key = field.rsplit('.').next()?;
    let key = key.split('[').next()?;
    // Look for the offending value when the message quotes it, else the key itself.
    let quoted = e.message.split('"').nth(1);
    text.lines().enumerate().find_map(|(i, l)| {
        let t = l.trim_start().trim_start_matches("- ");
        let hit = t.starts_with(&format!("{key}:")) && quoted.is_none_or(|q| t.contains(q));
        hit.then_some(i + 1)
    })
}

impl Ops {
    /// Register an application, or re-register it (same app_id, client count + 1). Not
    /// audited: the faces go through [`Ops::execute`].
    pub async fn register_app(
        &self,
        spec: &ApplicationSpec,
        dry_run: bool,
    ) -> Result<RegisterOutcome> {
        self.register(spec, dry_run, None).await
    }

    pub(crate) async fn register(
        &self,
        spec: &ApplicationSpec,
        dry_run: bool,
        audit: Option<&AuditCtx<'_>>,
    ) -> Result<RegisterOutcome> {
        spec.validate()?;
        for attempt in 0..MAX_ATTEMPTS {
            let current = self.store.get_app(&spec.application_name).await?;
            let now = Utc::now();
            let app = apply_registration(
                spec,
                current.as_ref().map(|c| &c.value),
                Uuid::new_v4(),
                now,
            );
            let created = current.is_none();
            let message = if created {
                format!(
                    "Application {} created for user {} with run ID: {}",
                    spec.application_name, spec.user_id, spec.run_id
                )
            } else {
                "Application already exist".to_string()
            };
            let outcome = RegisterOutcome {
                created,
                dry_run,
                message,
                application: app,
            };
            if dry_run {
                return Ok(outcome);
            }
            let action = if created {
                RegistrationAction::Registered
            } else {
                RegistrationAction::Reregistered
            };
            let event = self.event(action, &outcome.application);
            let entry = audit.map(|a| a.entry(true, outcome.summary()));
            let expected = current.map(|c| c.version);
            match self
                .store
                .put_app(&outcome.application, expected, &event, entry.as_ref())
                .await
            {
                Ok(_) => return Ok(outcome),
                Err(e) if e.kind == ErrorKind::Conflict => {
                    super::after_conflict(attempt).await;
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::conflict(format!(
            "application {:?} kept changing under concurrent registrations; gave up after {MAX_ATTEMPTS} attempts",
            spec.application_name
        )))
    }

    /// Register (or re-register) the application of a QoA4ML client. Unlike a description file,
    /// a client names no stages: the stored ones are kept. The client's routing key uses the
    /// count after this registration.
    pub(crate) async fn register_client(
        &self,
        client: &ClientRegistration,
        audit: Option<&AuditCtx<'_>>,
    ) -> Result<ClientRegistered> {
        client.validate()?;
        for attempt in 0..MAX_ATTEMPTS {
            let current = self.store.get_app(&client.application_name).await?;
            let spec = spec_keeping_stages(client, current.as_ref().map(|c| &c.value));
            let now = Utc::now();
            let app = apply_registration(
                &spec,
                current.as_ref().map(|c| &c.value),
                Uuid::new_v4(),
                now,
            );
            let created = current.is_none();
            let message = if created {
                format!(
                    "Application {} created for user {} with run ID: {}",
                    spec.application_name, spec.user_id, spec.run_id
                )
            } else {
                "Application already exist".to_string()
            };
            let key = routing_key(
                &app.application_name,
                &client.user_id,
                client.stage_id.as_deref(),
                client.instance_id.as_deref(),
                app.client_count,
            );
            let connector = self.connector.amqp_connector(&app.exchange, &key);
            let outcome = RegisterOutcome {
                created,
                dry_run: false,
                message,
                application: app,
            };
            let action = if created {
                RegistrationAction::Registered
            } else {
                RegistrationAction::Reregistered
            };
            let event = self.event(action, &outcome.application);
            let entry = audit.map(|a| {
                a.entry(
                    true,
                    format!("{}; client routing key {key}", outcome.summary()),
                )
            });
            let expected = current.map(|c| c.version);
            match self
                .store
                .put_app(&outcome.application, expected, &event, entry.as_ref())
                .await
            {
                Ok(_) => {
                    return Ok(ClientRegistered {
                        outcome,
                        routing_key: key,
                        connector,
                    });
                }
                Err(e) if e.kind == ErrorKind::Conflict => {
                    super::after_conflict(attempt).await;
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::conflict(format!(
            "application {:?} kept changing under concurrent registrations; gave up after {MAX_ATTEMPTS} attempts",
            client.application_name
        )))
    }

    pub async fn list_apps(&self) -> Result<Vec<Application>> {
        self.store.list_apps().await
    }

    /// The applications as stored JSON documents, for pass-through output.
    pub async fn list_apps_json(&self) -> Result<Vec<String>> {
        self.store.list_apps_json().await
    }

    /// The columns of an application list, decoded without the stages' details.
    pub async fn list_app_summaries(&self) -> Result<Vec<AppSummary>> {
        self.store
            .list_apps_json()
            .await?
            .iter()
            .map(|d| {
                serde_json::from_str(d).map_err(|e| {
                    Error::runtime(format!("the store holds an unreadable application: {e}"))
                })
            })
            .collect()
    }

    pub async fn get_app(&self, name: &str) -> Result<Application> {
        self.store
            .get_app(name)
            .await?
            .map(|v| v.value)
            .ok_or_else(|| not_registered(name))
    }

    pub async fn show_app(&self, name: &str) -> Result<AppDetail> {
        let application = self.get_app(name).await?;
        let history = self.store.app_history(name).await?;
        let agent = self.store.get_agent(name).await?.map(|v| v.value);
        let stored_reports = self.store.count_reports(application.app_id).await?;
        Ok(AppDetail {
            application,
            history,
            agent,
            stored_reports,
            registry: None,
        })
    }

    /// Remove a registration (and with `purge` its stored metrics). Refused while the app's
    /// agent is active unless `force`. Not audited: the faces go through [`Ops::execute`].
    pub async fn unregister_app(
        &self,
        name: &str,
        purge: bool,
        force: bool,
        dry_run: bool,
    ) -> Result<UnregisterOutcome> {
        self.unregister(name, purge, force, dry_run, None).await
    }

    pub(crate) async fn unregister(
        &self,
        name: &str,
        purge: bool,
        force: bool,
        dry_run: bool,
        audit: Option<&AuditCtx<'_>>,
    ) -> Result<UnregisterOutcome> {
        for attempt in 0..MAX_ATTEMPTS {
            let current = self
                .store
                .get_app(name)
                .await?
                .ok_or_else(|| not_registered(name))?;
            let app = &current.value;
            let agent = self.store.get_agent(name).await?;
            if let Some(a) = &agent
                && a.value.state.is_active()
                && !force
            {
                return Err(Error::conflict(format!(
                    "the observation agent of {name} is {:?}",
                    a.value.state
                ))
                .hint(format!(
                    "stop it first (rohe agent stop {name}), or pass --force"
                )));
            }
            let purged_documents = if purge && !dry_run {
                0 // counted below, after the registration is gone
            } else if purge {
                self.store.count_reports(app.app_id).await?
            } else {
                0
            };
            let mut outcome = UnregisterOutcome {
                application_name: name.to_string(),
                app_id: app.app_id,
                purge,
                dry_run,
                purged_documents,
            };
            if dry_run {
                return Ok(outcome);
            }
            // The audit entry commits with the removal; the purge count is only known after.
            let entry = audit.map(|a| {
                let purging = if purge {
                    ", purging its stored metrics"
                } else {
                    ""
                };
                a.entry(
                    true,
                    format!("unregistered {name} (app_id {}){purging}", app.app_id),
                )
            });
            match self
                .store
                .delete_app(name, current.version, entry.as_ref())
                .await
            {
                Ok(()) => {}
                Err(e) if e.kind == ErrorKind::Conflict => {
                    super::after_conflict(attempt).await;
                    continue;
                }
                Err(e) => return Err(e),
            }
            if agent.is_some() {
                self.store.delete_agent(name).await?;
            }
            if purge {
                outcome.purged_documents = self.store.purge_metrics(app.app_id).await?;
            }
            return Ok(outcome);
        }
        Err(Error::conflict(format!(
            "application {name:?} kept changing; gave up"
        )))
    }

    /// The QoA4ML client configs of an application (all, or one microservice's).
    pub async fn qoa_configs(
        &self,
        name: &str,
        microservice: Option<&str>,
    ) -> Result<Vec<(String, ClientConfig)>> {
        let app = self.get_app(name).await?;
        let all = all_configs(&app, &self.connector);
        let Some(wanted) = microservice else {
            return Ok(all);
        };
        let picked: Vec<_> = app
            .microservices()
            .zip(all)
            .filter(|((s, m), _)| {
                m.name == wanted
                    || m.microservice_id.to_string() == wanted
                    || format!("{}.{}", s.name, m.name) == wanted
            })
            .map(|(_, c)| c)
            .collect();
        if picked.is_empty() {
            let known: Vec<String> = app
                .microservices()
                .map(|(s, m)| format!("{}.{}", s.name, m.name))
                .collect();
            return Err(
                Error::not_found(format!("{name} has no microservice {wanted:?}"))
                    .field("--microservice")
                    .hint(format!("one of: {}", known.join(", "))),
            );
        }
        Ok(picked)
    }

    /// Write one QoA4ML YAML per microservice into `<out_dir>/<app>/<stage>.<microservice>.yaml`.
    pub async fn export_qoa_configs(
        &self,
        name: &str,
        microservice: Option<&str>,
        out_dir: &Path,
    ) -> Result<Vec<ExportedConfig>> {
        let configs = self.qoa_configs(name, microservice).await?;
        let dir = out_dir.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::runtime(format!("cannot create {}: {e}", dir.display())).field("--out")
        })?;
        let mut written = Vec::new();
        for (stem, cfg) in configs {
            let path = dir.join(format!("{stem}.yaml"));
            let text = format!(
                "# QoA4ML 0.3 client configuration generated by rohe for {name}.\n\
                 # Replicas of a microservice should each set INSTANCE_ID to their own UUID.\n{}",
                yaml::to_string(&cfg)?
            );
            write_atomically(&path, text.as_bytes())?;
            written.push(ExportedConfig {
                path,
                // An application without microservices has one app-level client.
                microservice: (!cfg.client.stage_id.is_empty()).then_some(stem),
                routing_key: cfg.connector[0].config.out_routing_key.clone(),
            });
        }
        Ok(written)
    }
}

/// The description a client's registration amounts to: its name, run and user, and the stored
/// description and stages (a client registration must not drop them).
fn spec_keeping_stages(c: &ClientRegistration, current: Option<&Application>) -> ApplicationSpec {
    ApplicationSpec {
        application_name: c.application_name.clone(),
        run_id: c.run_id.clone(),
        user_id: c.user_id.clone(),
        description: current.and_then(|a| a.description.clone()),
        stages: current
            .map(|a| {
                a.stages
                    .iter()
                    .map(|s| StageSpec {
                        name: s.name.clone(),
                        description: s.description.clone(),
                        microservices: s
                            .microservices
                            .iter()
                            .map(|m| MicroserviceSpec {
                                name: m.name.clone(),
                                functionality: m.functionality.clone(),
                                role: m.role.clone(),
                                tags: m.tags.clone(),
                            })
                            .collect(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn not_registered(name: &str) -> Error {
    Error::not_found(format!("no application named {name:?} is registered"))
        .hint("see `rohe app list`")
}

/// Write through a temporary file and rename, so a crash never leaves half a config.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| Error::runtime(format!("cannot write {}: {e}", path.display())))
}
