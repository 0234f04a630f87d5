//! Embedded implementations of the ports: zero setup, used by default.

pub mod bus;
pub mod store;

pub use bus::MemoryBus;
pub use store::{SqliteStore, SyncMode};
