//! QoA4ML 0.3 client configurations (`ClientConfig` of `qoa4ml.config.configs`), generated for
//! each registered microservice. The shape is exactly what QoA4ML 0.3 validates: a `client`
//! section, a `connector` *list* with `connector_class: AMQP`, and an optional
//! `registration_url` (rohe-spec §3.1-3.3).

use crate::domain::app::{Application, Microservice, Stage};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where generated clients publish: taken from the `qoa4ml` section of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorSettings {
    /// Broker host name, or a full `amqp://`/`amqps://` URL, as QoA4ML accepts it.
    pub end_point: String,
    pub health_check_disable: bool,
    /// Written as `registration_url` when set.
    pub registration_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientConfig {
    pub client: ClientInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_url: Option<String>,
    pub connector: Vec<ConnectorConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientInfo {
    pub name: String,
    pub application_name: String,
    /// ROHE's CLI writes `app_id` too; QoA4ML 0.3 ignores it, rohe's agent uses it.
    pub app_id: String,
    pub run_id: String,
    pub user_id: String,
    pub stage_id: String,
    /// Must parse as a UUID for QoA4ML 0.3 (ROHE's default `rohe_test_isntance` crashes it).
    pub instance_id: String,
    pub instance_name: String,
    pub functionality: String,
    pub role: String,
    /// Names behind the IDs and the registry tags, for people reading reports.
    pub custom_info: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorConfig {
    pub name: String,
    pub connector_class: String,
    pub config: AmqpConnectorConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AmqpConnectorConfig {
    pub end_point: String,
    pub exchange_name: String,
    pub exchange_type: String,
    pub out_routing_key: String,
    pub health_check_disable: bool,
}

impl ConnectorSettings {
    /// The `connector` entry ROHE returns from registration (rohe-spec §1.5).
    pub fn amqp_connector(&self, exchange: &str, routing_key: &str) -> ConnectorConfig {
        ConnectorConfig {
            name: "amqp_connector".into(),
            connector_class: "AMQP".into(),
            config: AmqpConnectorConfig {
                end_point: self.end_point.clone(),
                exchange_name: exchange.into(),
                exchange_type: "topic".into(),
                out_routing_key: routing_key.into(),
                health_check_disable: self.health_check_disable,
            },
        }
    }
}

/// One config per microservice.
pub fn microservice_config(
    app: &Application,
    stage: &Stage,
    ms: &Microservice,
    settings: &ConnectorSettings,
) -> ClientConfig {
    let mut custom_info = BTreeMap::new();
    custom_info.insert("stage_name".into(), stage.name.clone());
    custom_info.insert("microservice_id".into(), ms.microservice_id.to_string());
    for (k, v) in &ms.tags {
        custom_info.insert(k.clone(), v.clone());
    }
    ClientConfig {
        client: ClientInfo {
            name: ms.name.clone(),
            application_name: app.application_name.clone(),
            app_id: app.app_id.to_string(),
            run_id: app.run_id.clone(),
            user_id: app.user_id.clone(),
            stage_id: stage.stage_id.to_string(),
            instance_id: ms.instance_id.to_string(),
            instance_name: ms.name.clone(),
            functionality: ms.functionality.clone(),
            role: ms.role.clone(),
            custom_info,
        },
        registration_url: settings.registration_url.clone(),
        connector: vec![settings.amqp_connector(&app.exchange, &ms.routing_key)],
    }
}

/// The application-level client of an application registered without stages.
pub fn application_config(app: &Application, settings: &ConnectorSettings) -> ClientConfig {
    let instance_id = uuid::Uuid::new_v5(&app.app_id, b"instance:");
    ClientConfig {
        client: ClientInfo {
            name: app.application_name.clone(),
            application_name: app.application_name.clone(),
            app_id: app.app_id.to_string(),
            run_id: app.run_id.clone(),
            user_id: app.user_id.clone(),
            stage_id: String::new(),
            instance_id: instance_id.to_string(),
            instance_name: app.application_name.clone(),
            functionality: String::new(),
            role: String::new(),
            custom_info: BTreeMap::new(),
        },
        registration_url: settings.registration_url.clone(),
        connector: vec![settings.amqp_connector(&app.exchange, &app.app_routing_key())],
    }
}

/// Every client config of an application with the file stem it is written under:
/// `<stage>.<microservice>` (names are unique per stage, stages per application), or the
/// application name when it has no microservices.
pub fn all_configs(app: &Application, settings: &ConnectorSettings) -> Vec<(String, ClientConfig)> {
    if app.microservice_count() == 0 {
        return vec![(
            app.application_name.clone(),
            application_config(app, settings),
        )];
    }
    app.microservices()
        .map(|(s, m)| {
            (
                format!("{}.{}", s.name, m.name),
                microservice_config(app, s, m, settings),
            )
        })
        .collect()
}
