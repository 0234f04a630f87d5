//! Pure types and algorithms: no I/O. Deterministic and unit-tested.

pub mod analysis;
pub mod app;
pub mod names;
pub mod placement;
pub mod qoa4ml;
pub mod report;
pub mod resources;
pub mod sanitize;
pub mod stream;
pub mod window;
