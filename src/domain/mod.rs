//! Pure types and algorithms: no I/O. Deterministic and unit-tested.

pub mod analysis;
pub mod app;
pub mod demo;
pub mod inventory;
pub mod json;
pub mod manifests;
pub mod names;
pub mod placement;
pub mod profile;
pub mod qoa4ml;
pub mod report;
pub mod resources;
pub mod rohe_config;
pub mod sanitize;
pub mod stream;
pub mod window;
