//! The AMQP Bus (RabbitMQ) through lapin.
//!
//! - The exchange `<app>_exchange` is declared exactly as QoA4ML declares it (topic,
//!   non-durable): a durable declaration would make every QoA4ML client's own declaration fail
//!   with PRECONDITION_FAILED. The agent re-declares it and its binding on every connect, so a
//!   broker restart is repaired as soon as the agent reconnects.
//! - The agent's queue `rohe.<app>.agent` and the dead-letter queue are durable; messages rohe
//!   publishes are persistent, mandatory and confirmed, so a confirmed message is on disk in a
//!   queue (an unroutable one comes back as an error instead of vanishing).
//! - Consumers use manual acknowledgement and a bounded prefetch.
//! - Every broker operation has a deadline: a broker that accepts TCP but never answers (it is
//!   starting, stopping, or blocked by a resource alarm) fails the operation instead of hanging
//!   the agent or the console.

use crate::config::redact_url;
use crate::error::{Error, Result};
use crate::ports::bus::*;
use async_trait::async_trait;
use futures_lite::StreamExt;
use lapin::Confirmation;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use std::future::Future;
use std::time::Duration;
use tokio::sync::Mutex;

/// How long opening a connection (TCP and the AMQP handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one broker operation (a declare, a publish and its confirmation, an ack) may take.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest frame rohe asks for, unless the URL sets `frame_max`. lapin keeps 32 frames of
/// buffer each way per connection, so RabbitMQ's default of 128 KB cost 8 MB per connection
/// and 16 of a running agent's 42 MB. Reports of a few KB fit one 16 KB frame; larger bodies
/// go in several. The AMQP throughput did not change (BENCHMARKS.md).
const FRAME_MAX: u32 = 16 * 1024;

pub struct AmqpBus {
    url: String,
    shown: String,
    conn: Mutex<Option<Live>>,
}

struct Live {
    connection: Connection,
    publisher: Channel,
}

fn amqp_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::runtime(format!("AMQP {what}: {e}"))
}

/// One broker operation under [`OPERATION_TIMEOUT`].
async fn bounded<T>(
    what: &str,
    op: impl Future<Output = std::result::Result<T, lapin::Error>>,
) -> Result<T> {
    match tokio::time::timeout(OPERATION_TIMEOUT, op).await {
        Ok(r) => r.map_err(|e| amqp_err(what, e)),
        Err(_) => Err(timed_out(what, OPERATION_TIMEOUT)),
    }
}

fn timed_out(what: &str, limit: Duration) -> Error {
    Error::runtime(format!(
        "AMQP {what}: the broker did not answer within {} s",
        limit.as_secs()
    ))
    .hint("check that RabbitMQ is running and not blocked by a memory or disk alarm (rabbitmq-diagnostics alarms)")
}

impl AmqpBus {
    pub fn new(url: &str) -> Self {
        AmqpBus {
            url: url.to_string(),
            shown: redact_url(url),
            conn: Mutex::new(None),
        }
    }

    async fn connect(&self) -> Result<Connection> {
        let fail = |why: String| {
            Error::runtime(format!(
                "cannot connect to the AMQP broker at {}: {why}",
                self.shown
            ))
            .hint("check bus.url in the config and that RabbitMQ is running")
        };
        let mut uri: lapin::uri::AMQPUri = self.url.parse().map_err(fail)?;
        if uri.query.frame_max.is_none() {
            uri.query.frame_max = Some(FRAME_MAX);
        }
        match tokio::time::timeout(
            CONNECT_TIMEOUT,
            Connection::connect_uri(uri, ConnectionProperties::default()),
        )
        .await
        {
            Ok(r) => r.map_err(|e| fail(e.to_string())),
            Err(_) => Err(fail(format!(
                "no answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            ))),
        }
    }

    /// The publishing channel (confirm mode), connecting when needed.
    async fn publisher(&self) -> Result<Channel> {
        let mut guard = self.conn.lock().await;
        if let Some(live) = guard.as_ref()
            && live.connection.status().connected()
            && live.publisher.status().connected()
        {
            return Ok(live.publisher.clone());
        }
        let connection = self.connect().await?;
        let publisher = bounded("channel", connection.create_channel()).await?;
        bounded(
            "confirm.select",
            publisher.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        *guard = Some(Live {
            connection,
            publisher: publisher.clone(),
        });
        Ok(publisher)
    }

    /// Forget the connection after an error, so the next call reconnects.
    async fn reset(&self) {
        *self.conn.lock().await = None;
    }

    async fn declare_on(ch: &Channel, t: &Topology) -> Result<()> {
        bounded(
            &format!("declaring exchange {}", t.exchange),
            ch.exchange_declare(
                t.exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
        for q in [&t.queue, &t.dead_letter_queue] {
            bounded(
                &format!("declaring queue {q}"),
                ch.queue_declare(
                    q.as_str().into(),
                    QueueDeclareOptions::durable(),
                    FieldTable::default(),
                ),
            )
            .await?;
        }
        bounded(
            &format!("binding {} to {}", t.queue, t.exchange),
            ch.queue_bind(
                t.queue.as_str().into(),
                t.exchange.as_str().into(),
                t.binding_key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            ),
        )
        .await
    }

    /// Publish and wait for the broker's confirmation. The outer error is a transport failure
    /// (the connection is forgotten so the next call reconnects); the inner one is the broker's
    /// verdict on a message it did answer for (returned or refused).
    async fn publish_on(
        ch: &Channel,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        props: BasicProperties,
    ) -> Result<Result<()>> {
        let publish = async {
            ch.basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                body,
                props.with_delivery_mode(2),
            )
            .await?
            .await
        };
        let confirm = bounded("publish", publish).await?;
        Ok(match confirm {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(_)) => Err(Error::runtime(format!(
                "AMQP publish to {exchange} with key {routing_key} was returned: no queue is bound for it"
            ))
            .hint("start the application's agent (it declares and binds the queue)")),
            Confirmation::Nack(_) => Err(Error::runtime(format!("the broker refused the message for {exchange}"))),
            Confirmation::NotRequested => Err(Error::runtime("the broker did not confirm the message")),
        })
    }
}

#[async_trait]
impl Bus for AmqpBus {
    fn info(&self) -> BusInfo {
        BusInfo {
            backend: "amqp",
            location: self.shown.clone(),
        }
    }

    async fn declare(&self, t: &Topology) -> Result<()> {
        let ch = self.publisher().await?;
        let r = Self::declare_on(&ch, t).await;
        if r.is_err() {
            self.reset().await;
        }
        r
    }

    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        message_id: Option<&str>,
    ) -> Result<()> {
        let ch = self.publisher().await?;
        let mut props = BasicProperties::default().with_content_type("application/json".into());
        if let Some(id) = message_id {
            props = props.with_correlation_id(id.into());
        }
        match Self::publish_on(&ch, exchange, routing_key, body, props).await {
            Ok(verdict) => verdict,
            Err(e) => {
                self.reset().await;
                Err(e)
            }
        }
    }

    async fn subscribe(&self, t: &Topology, prefetch: u16) -> Result<Box<dyn Subscription>> {
        // Its own connection: a consumer must not share fate (or flow control) with publishers.
        let connection = self.connect().await?;
        let ch = bounded("channel", connection.create_channel()).await?;
        Self::declare_on(&ch, t).await?;
        bounded(
            "basic.qos",
            ch.basic_qos(prefetch.max(1), BasicQosOptions::default()),
        )
        .await?;
        let consumer = bounded(
            "basic.consume",
            ch.basic_consume(
                t.queue.as_str().into(),
                format!("rohe-agent-{}", std::process::id()).as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            ),
        )
        .await?;
        Ok(Box::new(AmqpSubscription {
            _connection: connection,
            _channel: ch,
            consumer,
        }))
    }

    async fn dead_letter(
        &self,
        t: &Topology,
        routing_key: &str,
        body: &[u8],
        reason: &str,
    ) -> Result<()> {
        let ch = self.publisher().await?;
        let mut headers = FieldTable::default();
        headers.insert(
            ShortString::from(REASON_HEADER),
            AMQPValue::LongString(reason.into()),
        );
        headers.insert(
            ShortString::from(ORIGINAL_KEY_HEADER),
            AMQPValue::LongString(routing_key.into()),
        );
        // The default exchange routes by queue name.
        let props = BasicProperties::default().with_headers(headers);
        match Self::publish_on(&ch, "", &t.dead_letter_queue, body, props).await {
            Ok(verdict) => verdict,
            Err(e) => {
                self.reset().await;
                Err(e)
            }
        }
    }

    async fn queue_depth(&self, t: &Topology) -> Result<Option<u64>> {
        let ch = self.publisher().await?;
        let q = tokio::time::timeout(
            OPERATION_TIMEOUT,
            ch.queue_declare(
                t.queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            ),
        )
        .await
        .map_err(|_| timed_out("queue.declare (passive)", OPERATION_TIMEOUT))?;
        match q {
            Ok(q) => Ok(Some(u64::from(q.message_count()))),
            Err(_) => {
                // A passive declare of a missing queue closes the channel.
                self.reset().await;
                Ok(None)
            }
        }
    }

    async fn peek_dead_letters(&self, t: &Topology, limit: usize) -> Result<Vec<DeadLetter>> {
        let connection = self.connect().await?;
        let ch = bounded("channel", connection.create_channel()).await?;
        let mut out = Vec::new();
        while out.len() < limit {
            let msg = bounded(
                "basic.get",
                ch.basic_get(
                    t.dead_letter_queue.as_str().into(),
                    BasicGetOptions::default(),
                ),
            )
            .await?;
            let Some(msg) = msg else { break };
            let header = |k: &str| {
                msg.delivery
                    .properties
                    .headers()
                    .as_ref()
                    .and_then(|h| h.inner().get(k).cloned())
                    .and_then(|v| match v {
                        AMQPValue::LongString(s) => Some(s.to_string()),
                        AMQPValue::ShortString(s) => Some(s.to_string()),
                        _ => None,
                    })
            };
            let body = &msg.delivery.data;
            out.push(DeadLetter {
                routing_key: header(ORIGINAL_KEY_HEADER).unwrap_or_default(),
                reason: header(REASON_HEADER).unwrap_or_default(),
                bytes: body.len(),
                preview: String::from_utf8_lossy(&body[..body.len().min(120)]).into_owned(),
            });
        }
        // Closing the channel without acknowledging puts every message back.
        let _ = tokio::time::timeout(OPERATION_TIMEOUT, ch.close(200, "peek done".into())).await;
        let _ = tokio::time::timeout(OPERATION_TIMEOUT, connection.close(200, "peek done".into()))
            .await;
        Ok(out)
    }

    async fn remove(&self, t: &Topology) -> Result<()> {
        let ch = self.publisher().await?;
        for q in [&t.queue, &t.dead_letter_queue] {
            bounded(
                &format!("deleting queue {q}"),
                ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()),
            )
            .await?;
        }
        Ok(())
    }
}

struct AmqpSubscription {
    _connection: Connection,
    _channel: Channel,
    consumer: lapin::Consumer,
}

fn to_delivery(d: lapin::message::Delivery) -> Delivery {
    let message_id = d
        .properties
        .correlation_id()
        .as_ref()
        .or(d.properties.message_id().as_ref())
        .map(|s| s.to_string());
    Delivery {
        routing_key: d.routing_key.to_string(),
        redelivered: d.redelivered,
        message_id,
        acker: Box::new(AmqpAcker(d.acker)),
        body: d.data,
    }
}

#[async_trait]
impl Subscription for AmqpSubscription {
    async fn next(&mut self) -> Result<Option<Delivery>> {
        match self.consumer.next().await {
            Some(Ok(d)) => Ok(Some(to_delivery(d))),
            Some(Err(e)) => Err(amqp_err("consuming", e)),
            None => Ok(None),
        }
    }

    fn try_next(&mut self) -> Option<Delivery> {
        // Poll once without waiting: deliveries already buffered by the client come out.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        match self.consumer.poll_next(&mut cx) {
            std::task::Poll::Ready(Some(Ok(d))) => Some(to_delivery(d)),
            _ => None,
        }
    }
}

struct AmqpAcker(lapin::Acker);

#[async_trait]
impl Acker for AmqpAcker {
    async fn ack(&self, multiple: bool) -> Result<()> {
        bounded("basic.ack", self.0.ack(BasicAckOptions { multiple }))
            .await
            .map(|_| ())
    }
}
