//! Embedded implementations of the ports: zero setup, used by default.

pub mod bus;
pub mod cluster;
pub mod registry;
pub mod report_log;
pub mod runtime;
pub mod store;

pub use bus::MemoryBus;
pub use cluster::SimulatedCluster;
pub use registry::StoreRegistry;
pub use report_log::reports_dir;
pub use runtime::InProcessRuntime;
pub use store::{SqliteStore, SyncMode, metrics_path};
