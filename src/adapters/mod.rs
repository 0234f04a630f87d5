//! Implementations of the ports.

pub mod embedded;
