//! The Bus port: how QoA4ML reports reach observation agents.
//!
//! Topology per application (the same on every implementation): a durable topic exchange
//! `<app>_exchange`, the agent's own durable queue `rohe.<app>.agent` bound with `<app>.#`
//! (not ROHE's shared `collector_1`, which load-balanced apps' reports across agents), and a
//! dead-letter queue `rohe.<app>.dead` that receives undecodable messages with the reason.
//! Deliveries are acknowledged by the consumer only after it stored them.

use crate::domain::app::Application;
use crate::error::Result;
use async_trait::async_trait;
use serde::Serialize;

/// Header carrying why a message was dead-lettered.
pub const REASON_HEADER: &str = "x-rohe-reason";
/// Header carrying the routing key the message arrived with.
pub const ORIGINAL_KEY_HEADER: &str = "x-rohe-routing-key";

/// The names of an application's exchange and queues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Topology {
    pub application_name: String,
    pub exchange: String,
    pub binding_key: String,
    pub queue: String,
    pub dead_letter_queue: String,
}

impl Topology {
    pub fn for_app(app: &Application) -> Self {
        Self::named(&app.application_name)
    }
    pub fn named(name: &str) -> Self {
        Topology {
            application_name: name.to_string(),
            exchange: crate::domain::app::exchange_name(name),
            binding_key: crate::domain::app::binding_key(name),
            queue: format!("rohe.{name}.agent"),
            dead_letter_queue: format!("rohe.{name}.dead"),
        }
    }
}

/// One message handed to a consumer.
pub struct Delivery {
    pub body: Vec<u8>,
    pub routing_key: String,
    /// The broker delivered it before and it was not acknowledged (a restart, a lost consumer).
    pub redelivered: bool,
    /// The publisher's correlation id (QoA4ML sets a fresh UUID per report) or message id.
    pub message_id: Option<String>,
    /// Acknowledges this delivery (and, with `multiple`, every earlier one on the subscription).
    pub acker: Box<dyn Acker>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("routing_key", &self.routing_key)
            .field("redelivered", &self.redelivered)
            .field("message_id", &self.message_id)
            .field("bytes", &self.body.len())
            .finish()
    }
}

#[async_trait]
pub trait Acker: Send + Sync {
    async fn ack(&self, multiple: bool) -> Result<()>;
}

#[async_trait]
pub trait Subscription: Send {
    /// The next delivery. `Ok(None)`: the subscription ended (the bus closed it). An error
    /// means the connection was lost: unacknowledged deliveries will come again.
    async fn next(&mut self) -> Result<Option<Delivery>>;
    /// A delivery that is already waiting, without blocking (for batching).
    fn try_next(&mut self) -> Option<Delivery>;
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BusInfo {
    /// `memory` or `amqp`.
    pub backend: &'static str,
    /// Where it is (a redacted URL for AMQP).
    pub location: String,
}

/// A dead-lettered message, as `rohe agent dead-letters` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    pub routing_key: String,
    pub reason: String,
    pub bytes: usize,
    /// The start of the body, lossily decoded.
    pub preview: String,
}

#[async_trait]
pub trait Bus: Send + Sync {
    fn info(&self) -> BusInfo;
    /// Declare the application's exchange, queue, binding and dead-letter queue (idempotent).
    async fn declare(&self, topology: &Topology) -> Result<()>;
    /// Publish and wait for the broker's confirmation.
    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        message_id: Option<&str>,
    ) -> Result<()>;
    /// Consume the application's queue with at most `prefetch` unacknowledged deliveries.
    async fn subscribe(&self, topology: &Topology, prefetch: u16) -> Result<Box<dyn Subscription>>;
    /// Put a message on the application's dead-letter queue with the reason (confirmed).
    async fn dead_letter(
        &self,
        topology: &Topology,
        routing_key: &str,
        body: &[u8],
        reason: &str,
    ) -> Result<()>;
    /// Messages waiting in the application's queue, when the bus can tell.
    async fn queue_depth(&self, topology: &Topology) -> Result<Option<u64>>;
    /// Read (without removing) up to `limit` dead-lettered messages.
    async fn peek_dead_letters(&self, topology: &Topology, limit: usize)
    -> Result<Vec<DeadLetter>>;
    /// Remove the application's queues and exchange.
    async fn remove(&self, topology: &Topology) -> Result<()>;
}

/// AMQP topic matching: `*` matches one word, `#` zero or more.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match (p.first(), k.first()) {
            (None, None) => true,
            (Some(&"#"), _) => go(&p[1..], k) || (!k.is_empty() && go(p, &k[1..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &k[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &k[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = if key.is_empty() {
        vec![]
    } else {
        key.split('.').collect()
    };
    go(&p, &k)
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn topic_patterns() {
        assert!(topic_matches("cctvs.#", "cctvs.u1.client1"));
        assert!(topic_matches("cctvs.#", "cctvs"));
        assert!(!topic_matches("cctvs.#", "cctvsx.u1"));
        assert!(!topic_matches("cctvs.#", "bts.cctvs.u1"));
        assert!(topic_matches("a.*.c", "a.b.c"));
        assert!(!topic_matches("a.*.c", "a.b.b.c"));
        assert!(topic_matches("a.#.c", "a.b.b.c"));
        assert!(topic_matches("#", "x.y"));
    }
}
