//! The in-process message bus: AMQP's topic routing, per-application queues, prefetch,
//! acknowledgements and redelivery, inside one process. It backs the console and single-process
//! runs on embedded defaults; nothing leaves the process, so it needs no setup.

use crate::error::{Error, Result};
use crate::ports::bus::*;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

#[derive(Clone)]
struct Msg {
    body: Arc<[u8]>,
    routing_key: String,
    message_id: Option<String>,
    redelivered: bool,
    reason: Option<String>,
}

#[derive(Default)]
struct Queue {
    ready: VecDeque<Msg>,
    /// Delivered and not yet acknowledged: tag -> (subscription, message).
    unacked: BTreeMap<u64, (u64, Msg)>,
    /// How many of `unacked` each subscription holds (its prefetch is checked on every
    /// delivery; counting `unacked` each time cost O(prefetch) per message).
    in_flight: HashMap<u64, usize>,
}

impl Queue {
    fn forget(&mut self, sub: u64, n: usize) {
        if let Some(c) = self.in_flight.get_mut(&sub) {
            *c = c.saturating_sub(n);
        }
    }
}

#[derive(Default)]
struct State {
    /// exchange -> [(binding pattern, queue)]
    bindings: HashMap<String, Vec<(String, String)>>,
    queues: HashMap<String, Queue>,
    next_tag: u64,
    next_sub: u64,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Woken on every publish and every acknowledgement.
    notify: Notify,
}

/// Cloning shares the bus.
#[derive(Clone, Default)]
pub struct MemoryBus {
    shared: Arc<Shared>,
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
    }
}

fn lock(shared: &Shared) -> Result<MutexGuard<'_, State>> {
    shared
        .state
        .lock()
        .map_err(|_| Error::runtime("the in-process bus was poisoned by a panic"))
}

#[async_trait]
impl Bus for MemoryBus {
    fn info(&self) -> BusInfo {
        BusInfo {
            backend: "memory",
            location: "in-process".into(),
        }
    }

    async fn declare(&self, t: &Topology) -> Result<()> {
        let mut st = lock(&self.shared)?;
        st.queues.entry(t.queue.clone()).or_default();
        st.queues.entry(t.dead_letter_queue.clone()).or_default();
        let b = st.bindings.entry(t.exchange.clone()).or_default();
        let binding = (t.binding_key.clone(), t.queue.clone());
        if !b.contains(&binding) {
            b.push(binding);
        }
        Ok(())
    }

    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        message_id: Option<&str>,
    ) -> Result<()> {
        {
            let mut st = lock(&self.shared)?;
            let targets: Vec<String> = st
                .bindings
                .get(exchange)
                .map(|b| {
                    b.iter()
                        .filter(|(p, _)| topic_matches(p, routing_key))
                        .map(|(_, q)| q.clone())
                        .collect()
                })
                .unwrap_or_default();
            let body: Arc<[u8]> = Arc::from(body);
            for q in targets {
                if let Some(queue) = st.queues.get_mut(&q) {
                    queue.ready.push_back(Msg {
                        body: body.clone(),
                        routing_key: routing_key.to_string(),
                        message_id: message_id.map(str::to_string),
                        redelivered: false,
                        reason: None,
                    });
                }
            }
        }
        self.shared.notify.notify_waiters();
        Ok(())
    }

    async fn subscribe(&self, t: &Topology, prefetch: u16) -> Result<Box<dyn Subscription>> {
        let id = {
            let mut st = lock(&self.shared)?;
            if !st.queues.contains_key(&t.queue) {
                return Err(Error::not_found(format!(
                    "queue {} is not declared",
                    t.queue
                )));
            }
            st.next_sub += 1;
            st.next_sub
        };
        Ok(Box::new(MemorySubscription {
            shared: self.shared.clone(),
            queue: t.queue.clone(),
            id,
            prefetch: prefetch.max(1) as usize,
        }))
    }

    async fn dead_letter(
        &self,
        t: &Topology,
        routing_key: &str,
        body: &[u8],
        reason: &str,
    ) -> Result<()> {
        let mut st = lock(&self.shared)?;
        let q = st.queues.entry(t.dead_letter_queue.clone()).or_default();
        q.ready.push_back(Msg {
            body: Arc::from(body),
            routing_key: routing_key.to_string(),
            message_id: None,
            redelivered: false,
            reason: Some(reason.to_string()),
        });
        Ok(())
    }

    async fn queue_depth(&self, t: &Topology) -> Result<Option<u64>> {
        let st = lock(&self.shared)?;
        Ok(st.queues.get(&t.queue).map(|q| q.ready.len() as u64))
    }

    async fn peek_dead_letters(&self, t: &Topology, limit: usize) -> Result<Vec<DeadLetter>> {
        let st = lock(&self.shared)?;
        Ok(st
            .queues
            .get(&t.dead_letter_queue)
            .map(|q| {
                q.ready
                    .iter()
                    .take(limit)
                    .map(|m| DeadLetter {
                        routing_key: m.routing_key.clone(),
                        reason: m.reason.clone().unwrap_or_default(),
                        bytes: m.body.len(),
                        preview: String::from_utf8_lossy(&m.body[..m.body.len().min(120)])
                            .into_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn remove(&self, t: &Topology) -> Result<()> {
        let mut st = lock(&self.shared)?;
        st.queues.remove(&t.queue);
        st.queues.remove(&t.dead_letter_queue);
        st.bindings.remove(&t.exchange);
        Ok(())
    }
}

struct MemorySubscription {
    shared: Arc<Shared>,
    queue: String,
    id: u64,
    prefetch: usize,
}

impl MemorySubscription {
    fn take(&self) -> Result<Option<Delivery>> {
        let mut st = lock(&self.shared)?;
        st.next_tag += 1;
        let tag = st.next_tag;
        let Some(q) = st.queues.get_mut(&self.queue) else {
            return Err(Error::runtime(format!("queue {} was removed", self.queue)));
        };
        let in_flight = q.in_flight.entry(self.id).or_default();
        if *in_flight >= self.prefetch {
            return Ok(None);
        }
        let Some(msg) = q.ready.pop_front() else {
            return Ok(None);
        };
        *in_flight += 1;
        let delivery = Delivery {
            body: msg.body.to_vec(),
            routing_key: msg.routing_key.clone(),
            redelivered: msg.redelivered,
            message_id: msg.message_id.clone(),
            acker: Box::new(MemoryAcker {
                shared: self.shared.clone(),
                queue: self.queue.clone(),
                sub: self.id,
                tag,
            }),
        };
        q.unacked.insert(tag, (self.id, msg));
        Ok(Some(delivery))
    }
}

#[async_trait]
impl Subscription for MemorySubscription {
    async fn next(&mut self) -> Result<Option<Delivery>> {
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(d) = self.take()? {
                return Ok(Some(d));
            }
            notified.await;
        }
    }

    fn try_next(&mut self) -> Option<Delivery> {
        self.take().ok().flatten()
    }
}

impl Drop for MemorySubscription {
    /// A consumer that goes away returns what it had not acknowledged, marked redelivered,
    /// to the front of the queue: as a broker does when a connection drops.
    fn drop(&mut self) {
        if let Ok(mut st) = self.shared.state.lock()
            && let Some(q) = st.queues.get_mut(&self.queue)
        {
            let mine: Vec<u64> = q
                .unacked
                .iter()
                .filter(|(_, (s, _))| *s == self.id)
                .map(|(t, _)| *t)
                .collect();
            for tag in mine.into_iter().rev() {
                if let Some((_, mut m)) = q.unacked.remove(&tag) {
                    m.redelivered = true;
                    q.ready.push_front(m);
                }
            }
            q.in_flight.remove(&self.id);
        }
        self.shared.notify.notify_waiters();
    }
}

struct MemoryAcker {
    shared: Arc<Shared>,
    queue: String,
    sub: u64,
    tag: u64,
}

#[async_trait]
impl Acker for MemoryAcker {
    async fn ack(&self, multiple: bool) -> Result<()> {
        {
            let mut st = lock(&self.shared)?;
            if let Some(q) = st.queues.get_mut(&self.queue) {
                if multiple {
                    // Tags increase, so this subscription's up to `tag` are in that range.
                    let acked: Vec<u64> = q
                        .unacked
                        .range(..=self.tag)
                        .filter(|(_, (s, _))| *s == self.sub)
                        .map(|(t, _)| *t)
                        .collect();
                    for t in &acked {
                        q.unacked.remove(t);
                    }
                    q.forget(self.sub, acked.len());
                } else if q.unacked.remove(&self.tag).is_some() {
                    q.forget(self.sub, 1);
                }
            }
        }
        self.shared.notify.notify_waiters();
        Ok(())
    }
}
