//! rohe: a terminal operations console for ROHE (observation and orchestration of end-to-end
//! ML inference pipelines on edge clusters). See ARCHITECTURE.md for the shape.

pub mod adapters;
pub mod agent;
pub mod backends;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod ops;
pub mod ports;
pub mod serve;
pub mod tui;
pub mod yaml;
