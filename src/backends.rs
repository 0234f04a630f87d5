//! Backend selection: turns the configuration into port implementations.

use crate::adapters::amqp::AmqpBus;
use crate::adapters::embedded::{InProcessRuntime, MemoryBus, SqliteStore};
use crate::adapters::process::ProcessRuntime;
use crate::agent::AgentOptions;
use crate::config::{BusBackend, Config, StoreBackend};
use crate::error::Result;
use crate::ports::{Bus, Runtime, Store};
use std::sync::Arc;

pub fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    match config.store.backend {
        StoreBackend::Embedded => Ok(Arc::new(SqliteStore::open(
            &config.store_path(),
            config.store.sync,
        )?)),
        StoreBackend::Mongodb => Ok(Arc::new(crate::adapters::mongo::MongoStore::open(
            &config.store.url,
            &config.store.database,
        )?)),
    }
}

/// The bus agents consume from. The in-process bus is new (and empty) in every process.
pub fn open_bus(config: &Config) -> Arc<dyn Bus> {
    match config.bus.backend {
        BusBackend::Memory => Arc::new(MemoryBus::new()),
        BusBackend::Amqp => Arc::new(AmqpBus::new(&config.bus.url)),
    }
}

/// Where agents run: with the in-process bus they must share this process (its messages exist
/// nowhere else); with a broker each agent is its own process and outlives the console.
pub fn open_runtime(
    config: &Config,
    store: &Arc<dyn Store>,
    bus: &Arc<dyn Bus>,
) -> Result<Arc<dyn Runtime>> {
    if config.agent.runtime == crate::config::AgentRuntimeKind::Docker {
        return Ok(Arc::new(crate::adapters::docker::DockerRuntime::new(
            config,
        )));
    }
    match config.bus.backend {
        BusBackend::Memory => Ok(Arc::new(InProcessRuntime::new(
            store.clone(),
            bus.clone(),
            AgentOptions::from_settings(&config.agent),
        ))),
        BusBackend::Amqp => Ok(Arc::new(ProcessRuntime::new(config)?)),
    }
}

/// Bind the orchestration use cases to the configured cluster.
pub async fn with_orchestration(ops: crate::ops::Ops, config: &Config) -> Result<crate::ops::Ops> {
    let cluster: Arc<dyn crate::ports::ClusterBackend> = match config.orchestration.cluster {
        crate::config::ClusterKind::Simulated => Arc::new(
            crate::adapters::embedded::SimulatedCluster::new(ops.store().clone()),
        ),
        crate::config::ClusterKind::Kubernetes => Arc::new(
            crate::adapters::kube::KubeCluster::new(&config.orchestration)?,
        ),
    };
    Ok(ops.with_orchestration(crate::ops::OrchestrationBackends {
        cluster,
        config: config.orchestration.clone(),
    }))
}

/// The microservice registry.
pub fn open_registry(
    config: &Config,
    store: &Arc<dyn Store>,
) -> Result<Arc<dyn crate::ports::registry::Registry>> {
    Ok(match config.registry.backend {
        crate::config::RegistryBackend::Embedded => {
            Arc::new(crate::adapters::embedded::StoreRegistry::new(store.clone()))
        }
        crate::config::RegistryBackend::Consul => {
            Arc::new(crate::adapters::consul::ConsulRegistry::new(
                &config.registry.url,
                Some(config.registry.token.clone()),
            )?)
        }
    })
}
