//! Implementations of the ports.

pub mod amqp;
pub mod embedded;
