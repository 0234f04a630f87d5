//! Implementations of the ports.

pub mod amqp;
pub mod consul;
pub mod docker;
pub mod embedded;
pub mod kube;
pub mod mongo;
pub mod process;
