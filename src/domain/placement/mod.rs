//! Placement: which node each service instance goes to (rohe-spec 4.3-4.6). Pure and
//! deterministic: the same nodes, services and configuration always give the same plan,
//! instance ids included.
//!
//! One cycle ([`plan`]): every service whose `running` differs from `replicas` is put in the
//! [`ServiceQueue`]; services are taken from it one at a time. A service with too many
//! instances loses the surplus (scale-in, resources given back); one with too few gets them one
//! by one on the node the strategy picks among the nodes that pass every check of [`eval`],
//! visited in input (file) order, until none fits. `running` and `instance_ids` accumulate, so
//! a later cycle only places what is still missing.
//!
//! Strategies (ROHE's numbers kept, honest names):
//! - `0` **first-fit**: the first node (input order) with a positive score;
//! - `1` **max-headroom** (ROHE's "BEST_FIT", which spreads load): the highest score, ties to
//!   the last tied node, as ROHE's stable sort does;
//! - `2` **tight-pack** (ROHE's "WORST_FIT", which packs): the lowest positive score, ties to
//!   the first tied node.
//!
//! Speed without changing answers: a node's verdict for a requirement is cached until the node
//! changes, a requirement that fitted nowhere is not rescanned until something is released
//! (resources only shrink in between), and a scan is skipped when no node has the CPU or
//! memory at all. `explain` bypasses all three, and the property tests check that both paths
//! give the same plan.
//!
//! Deliberate fixes against ROHE (each has a test in `tests.rs`):
//! 1. an empty accelerator map needs no accelerator;
//! 2. every non-zero accelerator requirement must be met (AND, not OR);
//! 3. accelerators compare inclusively, `req <= capacity - used`, like CPU and memory;
//! 4. only the first matching device (node's device order) is charged;
//! 5. a per-core requirement longer than the node's core list does not fit (no truncation);
//! 6. nodes are visited in input order (not database order);
//! 7. the queue orders by requirement then FIFO, and `queue_balance` really interleaves
//!    (priority 3 no longer drops services);
//! 8. `running` accumulates across cycles (no over-allocation);
//! 9. scale-in removes instances and frees their resources;
//! 10. weights that are both 0 (which would make every score 0 and place nothing) are refused
//!     by [`PlacementConfig::validate`];
//! 11. per-core identity is kept when a node's cores differ in capacity (see `book.rs`).

mod book;
pub mod eval;
pub mod queue;
#[cfg(test)]
mod tests;

pub use eval::{Check, NodeEval, Score};
pub use queue::{Lane, QueueConfig, ServiceQueue};

use crate::domain::resources::{Node, Service};
use crate::error::{Error, Result};
use eval::{Free, Need, evaluate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// How a node is chosen among those that fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Strategy {
    /// ROHE 0 (FIRST_FIT).
    FirstFit,
    /// ROHE 1 ("BEST_FIT"): most headroom left, spreads load. ROHE's default.
    #[default]
    MaxHeadroom,
    /// ROHE 2 ("WORST_FIT"): least headroom left, packs load.
    TightPack,
}

impl Strategy {
    pub const ALL: [Strategy; 3] = [
        Strategy::FirstFit,
        Strategy::MaxHeadroom,
        Strategy::TightPack,
    ];
    /// ROHE's number.
    pub fn number(self) -> u8 {
        match self {
            Strategy::FirstFit => 0,
            Strategy::MaxHeadroom => 1,
            Strategy::TightPack => 2,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Strategy::FirstFit => "first-fit",
            Strategy::MaxHeadroom => "max-headroom",
            Strategy::TightPack => "tight-pack",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Strategy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase();
        Strategy::ALL
            .into_iter()
            .find(|st| t == st.name() || t == st.number().to_string())
            .ok_or_else(|| {
                Error::invalid(format!("{s:?} is not a strategy"))
                    .field("strategy")
                    .hint("use 0|first-fit, 1|max-headroom or 2|tight-pack")
            })
    }
}

impl Serialize for Strategy {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Strategy {
    /// ROHE's number (0, 1, 2) or the name.
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Strategy;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("0, 1, 2, first-fit, max-headroom or tight-pack")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Strategy, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Strategy, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Strategy, E> {
                v.parse()
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// Score weights (ROHE's `weights: {cpu, memory}`). Both keys are required when given.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    pub cpu: f64,
    pub memory: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            cpu: 1.0,
            memory: 1.0,
        }
    }
}

/// Everything placement is configured by; the shape of an `orchestration:` config section.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementConfig {
    #[serde(default)]
    pub strategy: Strategy,
    #[serde(default)]
    pub weights: Weights,
    #[serde(default)]
    pub service_queue: QueueConfig,
}

impl PlacementConfig {
    pub fn validate(&self) -> Result<()> {
        for (name, w) in [("cpu", self.weights.cpu), ("memory", self.weights.memory)] {
            if !w.is_finite() || w < 0.0 {
                return Err(Error::invalid(format!("{w} is not a weight"))
                    .field(format!("weights.{name}"))
                    .hint("a number of 0 or more; ROHE's default is 1"));
            }
        }
        if self.weights.cpu == 0.0 && self.weights.memory == 0.0 {
            return Err(Error::invalid(
                "both weights are 0: every score would be 0 and no node would ever be chosen",
            )
            .field("weights")
            .hint("give cpu or memory a positive weight (ROHE's default is 1 and 1)"));
        }
        self.service_queue.validate()
    }
}

// ---------------------------------------------------------------------------------------------
// State and results
// ---------------------------------------------------------------------------------------------

/// Nodes (in visiting order) and services (in queueing order): the state a cycle changes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub services: Vec<Service>,
}

impl Cluster {
    /// Refuses two nodes with one MAC address or one name, and two services with one id (the
    /// inputs may come from several files).
    pub fn new(nodes: Vec<Node>, services: Vec<Service>) -> Result<Cluster> {
        let mut macs = HashSet::new();
        let mut names = HashSet::new();
        for n in &nodes {
            if !macs.insert(n.mac_address.as_str()) {
                return Err(Error::invalid(format!(
                    "two nodes have the MAC address {:?}",
                    n.mac_address
                ))
                .field("mac_address")
                .hint("a node is identified by its MAC address: each must be unique"));
            }
            if !names.insert(n.node_name.as_str()) {
                return Err(
                    Error::invalid(format!("two nodes are named {:?}", n.node_name))
                        .field("node_name")
                        .hint("node names are Kubernetes node names: each must be unique"),
                );
            }
        }
        let mut ids = HashSet::new();
        for s in &services {
            if !ids.insert(s.service_id.as_str()) {
                return Err(
                    Error::invalid(format!("two services have the id {:?}", s.service_id))
                        .field("service_id")
                        .hint("each service needs its own service_id"),
                );
            }
        }
        Ok(Cluster { nodes, services })
    }
}

/// One new instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Placement {
    pub service_id: String,
    pub service_name: String,
    pub application: String,
    /// The node's `node_name`.
    pub node: String,
    /// The node's id (MAC address).
    pub node_id: String,
    pub instance_id: String,
}

/// One instance removed by scale-in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Removal {
    pub service_id: String,
    pub service_name: String,
    /// The node's name; `None` when the instance was on no known node (its node is not in the
    /// inventory, or it was counted in `running` without a node), so nothing was freed.
    pub node: Option<String>,
    pub node_id: Option<String>,
    pub instance_id: Option<String>,
}

/// Replicas of a service that found no node in this cycle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unplaced {
    pub service_id: String,
    pub service_name: String,
    pub missing: u32,
    /// Why no node fitted the first replica that failed.
    pub reason: String,
}

/// One placement attempt, explained (`--explain`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub service_id: String,
    pub service_name: String,
    /// 1 for the first replica this cycle tried to place for the service, and so on.
    pub attempt: u32,
    pub strategy: Strategy,
    /// The chosen node's name; `None` if no node fits.
    pub chosen: Option<String>,
    /// Every node, in visiting order.
    pub nodes: Vec<NodeEval>,
}

/// What one cycle did, in order.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Plan {
    pub placements: Vec<Placement>,
    pub removed: Vec<Removal>,
    pub unplaced: Vec<Unplaced>,
    /// Empty unless asked for.
    pub decisions: Vec<Decision>,
}

/// Take every instance off the node named `node_name` (it failed, or is being removed) and give
/// the node its resources back; each service's `running` drops by what it had there, so the
/// next [`plan`] places those replicas elsewhere. Returns one [`Removal`] per instance.
pub fn evict_node(cluster: &mut Cluster, node_name: &str) -> Vec<Removal> {
    let mut out = Vec::new();
    let Some(node) = cluster.nodes.iter_mut().find(|n| n.node_name == node_name) else {
        return out;
    };
    for svc in &mut cluster.services {
        let count = svc.node.get(&node.mac_address).copied().unwrap_or(0);
        if count == 0 {
            continue;
        }
        let need = eval::Need::of(svc);
        for _ in 0..count {
            book::release(node, &svc.service_id, &need);
            svc.running = svc.running.saturating_sub(1);
            out.push(Removal {
                service_id: svc.service_id.clone(),
                service_name: svc.service_name.clone(),
                node: Some(node.node_name.clone()),
                node_id: Some(node.mac_address.clone()),
                instance_id: svc.instance_ids.pop(),
            });
        }
        svc.node.remove(&node.mac_address);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The cycle
// ---------------------------------------------------------------------------------------------

/// Run one placement cycle on `cluster`, changing it as ROHE's allocator would (bookkeeping of
/// 4.6), and return what was done. With `explain`, every node's verdict for every attempt is
/// recorded in `Plan::decisions`.
pub fn plan(cluster: &mut Cluster, config: &PlacementConfig, explain: bool) -> Plan {
    let mut queue = ServiceQueue::new(config.service_queue);
    for (i, s) in cluster.services.iter().enumerate() {
        if s.running != s.replicas {
            queue.put(i, s);
        }
    }
    let mut out = Plan::default();
    let mut planner = Planner::new(&mut cluster.nodes, config, explain);
    while let Some((i, _)) = queue.get() {
        let svc = &mut cluster.services[i];
        let need = Need::of(svc);
        if svc.running > svc.replicas {
            for _ in 0..svc.running - svc.replicas {
                out.removed.push(planner.remove(svc, &need));
            }
            continue;
        }
        let want = svc.replicas - svc.running;
        for attempt in 1..=want {
            let mut evals = explain.then(Vec::new);
            let found = planner.find(&need, evals.as_mut());
            if let Some(nodes) = evals {
                out.decisions.push(Decision {
                    service_id: svc.service_id.clone(),
                    service_name: svc.service_name.clone(),
                    attempt,
                    strategy: config.strategy,
                    chosen: found
                        .as_ref()
                        .ok()
                        .map(|n| planner.nodes[*n].node_name.clone()),
                    nodes,
                });
            }
            match found {
                Ok(n) => out.placements.push(planner.place(n, svc, &need)),
                Err(reason) => {
                    // Nothing changed since this attempt, so later replicas would not fit either.
                    out.unplaced.push(Unplaced {
                        service_id: svc.service_id.clone(),
                        service_name: svc.service_name.clone(),
                        missing: want - attempt + 1,
                        reason,
                    });
                    break;
                }
            }
        }
    }
    out
}

/// Instance ids are UUIDv5 of the service id and a sequence number, so plans are reproducible.
fn instance_namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, b"https://rohe.io/instance")
}

struct Planner<'a> {
    nodes: &'a mut [Node],
    free: Vec<Free>,
    index: HashMap<String, usize>,
    config: &'a PlacementConfig,
    explain: bool,
    /// Upper bounds on free CPU and rss over all nodes: a service above either fits nowhere,
    /// so the scan can be skipped (the answer is the same).
    max_cpu: f64,
    max_rss: f64,
    bounds_stale: bool,
    namespace: Uuid,
    /// Bumped whenever the node changes.
    versions: Vec<u64>,
    /// Verdicts per distinct requirement, each valid while its node's version is unchanged: a
    /// verdict depends only on the node and the requirement (the weights are fixed for the
    /// cycle), so consecutive replicas and identical services re-evaluate only the nodes that
    /// changed. The same verdicts as evaluating every node afresh, computed less often.
    memo: HashMap<NeedKey, Memo>,
    memo_entries: usize,
    /// Instances taken off nodes so far. Between releases resources only shrink, and every
    /// check and the score only get worse as they do (with weights >= 0), so a requirement
    /// that fitted nowhere still fits nowhere: its scan is skipped.
    releases: u64,
    monotone: bool,
}

/// At most this many cached verdicts (about 40 bytes each); the cache is emptied beyond it.
const MEMO_MAX_ENTRIES: usize = 1 << 20;

/// A requirement as a hashable key (what `evaluate` reads of a service).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct NeedKey {
    cpu: u64,
    rss: u64,
    cores: Vec<u64>,
    accel: Vec<(String, u64)>,
}

impl NeedKey {
    fn of(need: &Need) -> NeedKey {
        NeedKey {
            cpu: need.cpu.to_bits(),
            rss: need.rss.to_bits(),
            cores: need.cores_asc.iter().map(|c| c.to_bits()).collect(),
            accel: need
                .accel
                .iter()
                .map(|(k, v)| (k.clone(), v.to_bits()))
                .collect(),
        }
    }
}

struct Memo {
    /// The node version each verdict was computed at (`u64::MAX`: never).
    at: Vec<u64>,
    verdicts: Vec<Result<Score, eval::Rejection>>,
    /// When the requirement last fitted nowhere: the release count then, and why.
    nowhere: Option<(u64, String)>,
}

impl<'a> Planner<'a> {
    fn new(nodes: &'a mut [Node], config: &'a PlacementConfig, explain: bool) -> Self {
        let n = nodes.len();
        let free = nodes.iter().map(Free::of).collect();
        let index = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.mac_address.clone(), i))
            .collect();
        Planner {
            nodes,
            free,
            index,
            config,
            explain,
            max_cpu: 0.0,
            max_rss: 0.0,
            bounds_stale: true,
            namespace: instance_namespace(),
            versions: vec![0; n],
            memo: HashMap::new(),
            memo_entries: 0,
            releases: 0,
            monotone: config.weights.cpu >= 0.0 && config.weights.memory >= 0.0,
        }
    }

    fn refresh(&mut self, i: usize) {
        self.free[i] = Free::of(&self.nodes[i]);
        self.versions[i] += 1;
        self.bounds_stale = true;
    }

    /// The chosen node's index, or why none fits.
    fn find(
        &mut self,
        need: &Need,
        mut evals: Option<&mut Vec<NodeEval>>,
    ) -> Result<usize, String> {
        if !self.explain {
            if self.bounds_stale {
                self.max_cpu = self.free.iter().map(|f| f.cpu).fold(f64::MIN, f64::max);
                self.max_rss = self.free.iter().map(|f| f.rss).fold(f64::MIN, f64::max);
                self.bounds_stale = false;
            }
            if self.nodes.is_empty() {
                return Err("there are no nodes".into());
            }
            if need.cpu > self.max_cpu {
                return Err(format!(
                    "no node has {} millicpu free (the most is {})",
                    eval::num(need.cpu),
                    eval::num(self.max_cpu)
                ));
            }
            if need.rss > self.max_rss {
                return Err(format!(
                    "no node has {} MB rss free (the most is {})",
                    eval::num(need.rss),
                    eval::num(self.max_rss)
                ));
            }
        }
        let strategy = self.config.strategy;
        let weights = &self.config.weights;
        let mut best: Option<(usize, f64)> = None;
        let mut tally = [0usize; Check::ALL.len()];
        let n = self.nodes.len();
        let key = NeedKey::of(need);
        if !self.memo.contains_key(&key) && self.memo_entries + n > MEMO_MAX_ENTRIES {
            self.memo.clear();
            self.memo_entries = 0;
        }
        let entries = &mut self.memo_entries;
        let memo = self.memo.entry(key).or_insert_with(|| {
            *entries += n;
            Memo {
                at: vec![u64::MAX; n],
                verdicts: vec![Err(eval::Rejection::Cordoned); n],
                nowhere: None,
            }
        });
        if !self.explain
            && self.monotone
            && let Some((at, why)) = &memo.nowhere
            && *at == self.releases
        {
            return Err(why.clone());
        }
        for (i, node) in self.nodes.iter().enumerate() {
            // With explain, every verdict is computed afresh: the explanation shows the real
            // computation, and the property tests compare both paths.
            let outcome = if !self.explain && memo.at[i] == self.versions[i] {
                memo.verdicts[i]
            } else {
                let o = evaluate(node, &self.free[i], need, weights);
                memo.at[i] = self.versions[i];
                memo.verdicts[i] = o;
                o
            };
            if let Some(ev) = evals.as_deref_mut() {
                ev.push(NodeEval::new(node, &outcome, need));
            }
            match outcome {
                Ok(s) => {
                    let better = match (strategy, best) {
                        (_, None) => true,
                        (Strategy::FirstFit, Some(_)) => false,
                        // ROHE sorts ascending (stable) and takes the last: ties go to the last.
                        (Strategy::MaxHeadroom, Some((_, b))) => s.score >= b,
                        // ...and takes the first for the lowest: ties go to the first.
                        (Strategy::TightPack, Some((_, b))) => s.score < b,
                    };
                    if better {
                        best = Some((i, s.score));
                        if strategy == Strategy::FirstFit && !self.explain {
                            break;
                        }
                    }
                }
                Err(r) => tally[r.check() as usize] += 1,
            }
        }
        match best {
            Some((i, _)) => Ok(i),
            None if self.nodes.is_empty() => Err("there are no nodes".into()),
            None => {
                let parts: Vec<String> = Check::ALL
                    .iter()
                    .zip(tally)
                    .filter(|(_, n)| *n > 0)
                    .map(|(c, n)| format!("{} {n}", c.name()))
                    .collect();
                let why = format!(
                    "no node fits ({} nodes rejected: {})",
                    self.nodes.len(),
                    parts.join(", ")
                );
                memo.nowhere = Some((self.releases, why.clone()));
                Err(why)
            }
        }
    }

    fn place(&mut self, n: usize, svc: &mut Service, need: &Need) -> Placement {
        let node = &mut self.nodes[n];
        book::charge(node, &svc.service_id, need);
        let count = svc.node.get(&node.mac_address).copied().unwrap_or(0);
        svc.node.insert(node.mac_address.clone(), count + 1);
        let mut seq = svc.instance_ids.len();
        let instance_id = loop {
            let id = Uuid::new_v5(
                &self.namespace,
                format!("{}/{seq}", svc.service_id).as_bytes(),
            )
            .to_string();
            if !svc.instance_ids.contains(&id) {
                break id;
            }
            seq += 1;
        };
        svc.instance_ids.push(instance_id.clone());
        svc.running += 1;
        let placement = Placement {
            service_id: svc.service_id.clone(),
            service_name: svc.service_name.clone(),
            application: svc.application.clone(),
            node: node.node_name.clone(),
            node_id: node.mac_address.clone(),
            instance_id,
        };
        self.refresh(n);
        placement
    }

    /// Remove one instance of `svc`: first one on a node the inventory does not know, then one
    /// counted in `running` but on no node, then one on the most contended node hosting it
    /// (ties: the first in input order), whose resources are given back.
    fn remove(&mut self, svc: &mut Service, need: &Need) -> Removal {
        let attributed: u32 = svc.node.values().sum();
        let unknown = svc
            .node
            .iter()
            .find(|(mac, c)| **c > 0 && !self.index.contains_key(*mac))
            .map(|(mac, _)| mac.to_string());
        let mut node_name = None;
        let node_id = if let Some(mac) = unknown {
            Some(mac)
        } else if svc.running > attributed {
            None
        } else {
            let mut best: Option<(usize, f64)> = None;
            for (i, node) in self.nodes.iter().enumerate() {
                if svc.node.get(&node.mac_address).copied().unwrap_or(0) == 0 {
                    continue;
                }
                let c = book::contention(node, need);
                if best.is_none_or(|(_, b)| c > b) {
                    best = Some((i, c));
                }
            }
            best.map(|(i, _)| {
                book::release(&mut self.nodes[i], &svc.service_id, need);
                self.releases += 1;
                self.refresh(i);
                node_name = Some(self.nodes[i].node_name.clone());
                self.nodes[i].mac_address.clone()
            })
        };
        if let Some(mac) = &node_id {
            match svc.node.get(mac).copied().unwrap_or(0) {
                0 | 1 => {
                    svc.node.remove(mac);
                }
                c => svc.node.insert(mac.clone(), c - 1),
            }
        }
        svc.running = svc.running.saturating_sub(1);
        Removal {
            service_id: svc.service_id.clone(),
            service_name: svc.service_name.clone(),
            node: node_name,
            node_id,
            instance_id: svc.instance_ids.pop(),
        }
    }
}
