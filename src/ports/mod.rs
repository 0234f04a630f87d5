//! Ports: one small trait per kind of outside system. Each has an embedded implementation
//! (zero setup, the default) and, as issues add them, a real one.

pub mod bus;
pub mod cluster;
pub mod registry;
pub mod runtime;
pub mod store;

pub use bus::{Bus, Delivery, Subscription, Topology};
pub use cluster::{ClusterBackend, ClusterNode, ObjectRef, WorkloadStatus};
pub use runtime::Runtime;
pub use store::{
    AgentRecord, AgentState, AuditEntry, Store, StoreInfo, StoredAnalysis, StoredReport, TimeRange,
    Versioned,
};
