//! Filter and score one node for one service (rohe-spec 4.5), with the deliberate fixes.
//!
//! Checks, in ROHE's order; the first that fails is the reason a node is rejected:
//! 1. `cordoned` (rohe's extension);
//! 2. CPU: `cpu_required <= capacity - used`;
//! 3. memory: `rss_required <= capacity.rss - used.rss`;
//! 4. accelerators: **every** non-zero requirement needs a device of that type with
//!    `req <= capacity - used` (fix: ROHE ORs the requirements, compares strictly, and an
//!    empty map passes no node);
//! 5. per-core count: a requirement longer than the node's core list does not fit (fix: ROHE
//!    truncates it);
//! 6. per-core packing: remaining per-core capacity sorted ascending against the requirement
//!    zero-padded to the core count and sorted ascending; any negative difference rejects;
//! 7. score `w_cpu * rank_proc + w_mem * rank_mem` must be > 0, where
//!    `rank_proc = sum(diff) / (cores * 100)` and `rank_mem = (free_rss - rss) / capacity_rss`.

use super::Weights;
use crate::domain::resources::{Node, Service};
use serde::Serialize;

/// A service's requirements, prepared once per service.
#[derive(Debug, Clone)]
pub(crate) struct Need {
    pub cpu: f64,
    pub rss: f64,
    pub vms: f64,
    /// `cores_required` sorted ascending.
    pub cores_asc: Vec<f64>,
    /// Non-zero accelerator requirements, in the service's map order.
    pub accel: Vec<(String, f64)>,
}

impl Need {
    pub fn of(s: &Service) -> Need {
        let mut cores_asc = s.cores_required.clone();
        cores_asc.sort_by(f64::total_cmp);
        Need {
            cpu: s.cpu_required,
            rss: s.memory_required.rss,
            vms: s.memory_required.vms,
            cores_asc,
            accel: s
                .accelerator_required
                .iter()
                .filter(|(_, v)| **v != 0.0)
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        }
    }
}

/// A node's free resources, recomputed whenever the node changes.
#[derive(Debug, Clone)]
pub(crate) struct Free {
    pub cpu: f64,
    pub rss: f64,
    /// Per-core `capacity - used`, sorted ascending.
    pub remain_asc: Vec<f64>,
}

impl Free {
    pub fn of(n: &Node) -> Free {
        let mut remain_asc: Vec<f64> = n
            .cores
            .capacity
            .iter()
            .zip(&n.cores.used)
            .map(|(c, u)| c - u)
            .collect();
        remain_asc.sort_by(f64::total_cmp);
        Free {
            cpu: n.free_cpu(),
            rss: n.free_rss(),
            remain_asc,
        }
    }
}

/// The score components of a node that can host the service.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Score {
    pub rank_proc: f64,
    pub rank_mem: f64,
    pub score: f64,
}

/// The check that failed (the first, in the order of the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Cordoned,
    Cpu,
    Memory,
    Accelerator,
    CoreCount,
    Cores,
    Score,
}

impl Check {
    pub const ALL: [Check; 7] = [
        Check::Cordoned,
        Check::Cpu,
        Check::Memory,
        Check::Accelerator,
        Check::CoreCount,
        Check::Cores,
        Check::Score,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Check::Cordoned => "cordoned",
            Check::Cpu => "cpu",
            Check::Memory => "memory",
            Check::Accelerator => "accelerator",
            Check::CoreCount => "core_count",
            Check::Cores => "cores",
            Check::Score => "score",
        }
    }
}

/// Why a node was rejected, with the figures that decided it (no allocation: it is made for
/// every node on the hot path).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rejection {
    Cordoned,
    Cpu {
        need: f64,
        free: f64,
    },
    Memory {
        need: f64,
        free: f64,
    },
    /// `index` into `Need::accel`; `best_free` is the most any device of that type has free
    /// (`None`: the node has no device of that type).
    Accelerator {
        index: usize,
        best_free: Option<f64>,
    },
    CoreCount {
        need: usize,
        have: usize,
    },
    /// The first pairing that failed: a requirement against a core's remaining capacity.
    Cores {
        need: f64,
        free: f64,
    },
    /// Score not > 0.
    Score(Score),
}

impl Rejection {
    pub fn check(&self) -> Check {
        match self {
            Rejection::Cordoned => Check::Cordoned,
            Rejection::Cpu { .. } => Check::Cpu,
            Rejection::Memory { .. } => Check::Memory,
            Rejection::Accelerator { .. } => Check::Accelerator,
            Rejection::CoreCount { .. } => Check::CoreCount,
            Rejection::Cores { .. } => Check::Cores,
            Rejection::Score(_) => Check::Score,
        }
    }

    /// A sentence for people.
    pub(crate) fn describe(&self, need: &Need) -> String {
        match *self {
            Rejection::Cordoned => "the node is cordoned".into(),
            Rejection::Cpu { need, free } => {
                format!("needs {} millicpu, {} free", num(need), num(free))
            }
            Rejection::Memory { need, free } => {
                format!("needs {} MB rss, {} MB free", num(need), num(free))
            }
            Rejection::Accelerator { index, best_free } => {
                let (kind, req) = need
                    .accel
                    .get(index)
                    .map(|(k, v)| (k.as_str(), *v))
                    .unwrap_or(("?", 0.0));
                match best_free {
                    None => format!("needs {}% of a {kind}, the node has no {kind}", num(req)),
                    Some(f) => format!(
                        "needs {}% of a {kind}, at most {}% free on one device",
                        num(req),
                        num(f)
                    ),
                }
            }
            Rejection::CoreCount { need, have } => {
                format!("the per-core requirement lists {need} cores, the node has {have}")
            }
            Rejection::Cores { need, free } => format!(
                "a core needs {}%, the matching core has {}% free",
                num(need),
                num(free)
            ),
            Rejection::Score(s) => format!("score {} is not above 0", num(s.score)),
        }
    }
}

/// Whole numbers without a fraction, others as they are.
pub(crate) fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The first device (in the node's device order) of `kind` with `req <= capacity - used`.
pub(crate) fn matching_device(node: &Node, kind: &str, req: f64) -> Option<usize> {
    node.accelerator
        .0
        .iter()
        .position(|(_, d)| d.accelerator_type == kind && req <= d.capacity - d.used)
}

/// Filter and score `node` (whose cached free resources are `free`) for `need`.
pub(crate) fn evaluate(
    node: &Node,
    free: &Free,
    need: &Need,
    w: &Weights,
) -> Result<Score, Rejection> {
    if node.cordoned {
        return Err(Rejection::Cordoned);
    }
    if need.cpu > free.cpu {
        return Err(Rejection::Cpu {
            need: need.cpu,
            free: free.cpu,
        });
    }
    if need.rss > free.rss {
        return Err(Rejection::Memory {
            need: need.rss,
            free: free.rss,
        });
    }
    for (index, (kind, req)) in need.accel.iter().enumerate() {
        if matching_device(node, kind, *req).is_none() {
            let best_free = node
                .accelerator
                .values()
                .filter(|d| d.accelerator_type == *kind)
                .map(|d| d.capacity - d.used)
                .reduce(f64::max);
            return Err(Rejection::Accelerator { index, best_free });
        }
    }
    let n = free.remain_asc.len();
    let k = need.cores_asc.len();
    if k > n {
        return Err(Rejection::CoreCount { need: k, have: n });
    }
    let pad = n - k;
    let mut sum = 0.0;
    for (i, remain) in free.remain_asc.iter().enumerate() {
        let req = if i < pad {
            0.0
        } else {
            need.cores_asc[i - pad]
        };
        let diff = remain - req;
        if diff < 0.0 {
            return Err(Rejection::Cores {
                need: req,
                free: *remain,
            });
        }
        sum += diff;
    }
    // Node validation guarantees n >= 1 and capacity.rss > 0.
    let rank_proc = sum / (n as f64 * 100.0);
    let rank_mem = (free.rss - need.rss) / node.memory.capacity.rss;
    let score = w.cpu * rank_proc + w.memory * rank_mem;
    let s = Score {
        rank_proc,
        rank_mem,
        score,
    };
    if score > 0.0 {
        Ok(s)
    } else {
        Err(Rejection::Score(s))
    }
}

/// One node's verdict for one placement attempt, for `--explain`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeEval {
    /// The node's `node_name`.
    pub node: String,
    pub fits: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rank_proc: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rank_mem: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

impl NodeEval {
    pub(crate) fn new(node: &Node, outcome: &Result<Score, Rejection>, need: &Need) -> NodeEval {
        let (fits, failed, reason, score) = match outcome {
            Ok(s) => (true, None, None, Some(*s)),
            Err(r) => {
                let s = match r {
                    Rejection::Score(s) => Some(*s),
                    _ => None,
                };
                (false, Some(r.check()), Some(r.describe(need)), s)
            }
        };
        NodeEval {
            node: node.node_name.clone(),
            fits,
            failed,
            reason,
            rank_proc: score.map(|s| s.rank_proc),
            rank_mem: score.map(|s| s.rank_mem),
            score: score.map(|s| s.score),
        }
    }
}
