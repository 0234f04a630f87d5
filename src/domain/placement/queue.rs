//! The service queue (rohe-spec 4.3), as ROHE meant it.
//!
//! Two queues: prioritised and normal. With `priority` p > 0, a service whose sensitivity is p
//! or 3 is prioritised, keyed by CPU (p = 1 or 3) or by resident memory (p = 2); everything
//! else is normal, keyed by CPU. Each queue serves the largest requirement first and, among
//! equal requirements, the service put first (FIFO). `get` serves up to `queue_balance`
//! prioritised services, then one normal one, and so on; when one queue is empty the other
//! is served. Fixes against ROHE: priority 3 no longer drops services, prioritised services
//! are served at all (ROHE's counter never grew), ties are FIFO instead of accidental, and an
//! empty prioritised queue never stops the loop early.

use crate::domain::resources::Service;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// ROHE's `ServiceQueueConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// 0: no priority; 1: CPU-sensitive first; 2: memory-sensitive first; 3: services
    /// sensitive to both first.
    #[serde(default)]
    pub priority: u8,
    /// How many prioritised services are served before one normal service.
    #[serde(default = "default_balance")]
    pub queue_balance: u32,
}

fn default_balance() -> u32 {
    3
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            priority: 0,
            queue_balance: default_balance(),
        }
    }
}

impl QueueConfig {
    pub fn validate(&self) -> Result<()> {
        if self.priority > 3 {
            return Err(
                Error::invalid(format!("{} is not a priority", self.priority))
                    .field("service_queue.priority")
                    .hint("0 none, 1 CPU-sensitive, 2 memory-sensitive, 3 both"),
            );
        }
        Ok(())
    }

    /// The queue a service goes to and its key, or `None` for the normal queue.
    fn prioritised_key(&self, s: &Service) -> Option<f64> {
        let p = self.priority;
        if p == 0 || !(s.sensitivity == p || s.sensitivity == 3) {
            return None;
        }
        Some(if p == 2 {
            s.memory_required.rss
        } else {
            s.cpu_required
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: f64,
    seq: u64,
    index: usize,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Greater = served first: larger key, then earlier put.
    fn cmp(&self, other: &Self) -> Ordering {
        self.key
            .total_cmp(&other.key)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Which queue served an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Prioritised,
    Normal,
}

/// Holds service indices (into the caller's service list).
#[derive(Debug, Clone)]
pub struct ServiceQueue {
    config: QueueConfig,
    prioritised: BinaryHeap<Entry>,
    normal: BinaryHeap<Entry>,
    /// Prioritised services served since the last normal one.
    served: u32,
    seq: u64,
}

impl ServiceQueue {
    pub fn new(config: QueueConfig) -> Self {
        ServiceQueue {
            config,
            prioritised: BinaryHeap::new(),
            normal: BinaryHeap::new(),
            served: 0,
            seq: 0,
        }
    }

    /// Enqueue service `index`; returns the lane it went to.
    pub fn put(&mut self, index: usize, s: &Service) -> Lane {
        self.seq += 1;
        match self.config.prioritised_key(s) {
            Some(key) => {
                self.prioritised.push(Entry {
                    key,
                    seq: self.seq,
                    index,
                });
                Lane::Prioritised
            }
            None => {
                self.normal.push(Entry {
                    key: s.cpu_required,
                    seq: self.seq,
                    index,
                });
                Lane::Normal
            }
        }
    }

    /// The next service index, or `None` when both queues are empty.
    pub fn get(&mut self) -> Option<(usize, Lane)> {
        let take_prioritised = !self.prioritised.is_empty()
            && (self.served < self.config.queue_balance || self.normal.is_empty());
        if take_prioritised {
            self.served = self.served.saturating_add(1);
            return self.prioritised.pop().map(|e| (e.index, Lane::Prioritised));
        }
        let e = self.normal.pop()?;
        self.served = 0;
        Some((e.index, Lane::Normal))
    }

    pub fn len(&self) -> usize {
        self.prioritised.len() + self.normal.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
