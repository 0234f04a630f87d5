//! Embedded implementations of the ports: zero setup, used by default.

pub mod store;

pub use store::{SqliteStore, SyncMode};
