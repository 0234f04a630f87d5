//! Backend selection: turns the configuration into port implementations.

use crate::adapters::embedded::SqliteStore;
use crate::config::{Config, StoreBackend};
use crate::error::Result;
use crate::ports::Store;
use std::sync::Arc;

pub fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    match config.store.backend {
        StoreBackend::Embedded => Ok(Arc::new(SqliteStore::open(
            &config.store_path(),
            config.store.sync,
        )?)),
    }
}
