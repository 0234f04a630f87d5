//! Analysis of one window, per feature group (rohe-spec §2.4): summary statistics per column,
//! anomaly detection (Local Outlier Factor or Isolation Forest) over the group's columns, and
//! contract checks. Pure and deterministic: the same window and config give the same result.
//!
//! The result, [`AnalysisResult`], is the document stored once per (window, group) and streamed
//! to live viewers; its JSON shape is a public contract (see [`RESULT_VERSION`]).
//!
//! Definitions:
//! * Rows missing a value in any of the group's columns are skipped for that group and counted
//!   in `skipped_rows`; every figure of the group is computed over the remaining `rows`.
//! * Percentiles interpolate linearly between closest ranks (Hyndman and Fan type 7, numpy's
//!   default): over the sorted values `x[0..n]`, `h = (n - 1) p` and
//!   `P(p) = x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h])`. One value is every
//!   percentile of itself; no values give no percentile (`null`).
//! * `rate` = rows / (last timestamp - first timestamp) over the group's rows, in rows per
//!   second; `null` when fewer than two distinct timestamps.
//! * LOF: exactly k nearest neighbours by Euclidean distance (ties by arrival order, the point
//!   itself excluded), k-distance, reachability distance `max(k-distance(o), d(p, o))`, local
//!   reachability density `1 / (mean reachability + 1e-10)` (sklearn's guard, so duplicates give
//!   no NaN), LOF = mean neighbour density / own density. k is capped at rows - 1. Anomaly when
//!   LOF > 1.5 (sklearn's `contamination="auto"` threshold). The score is the LOF. Over more
//!   than [`MAX_LOF_ROWS`] rows only the newest are scored (LOF is quadratic).
//! * Isolation Forest: `trees` trees, each on a subsample of `min(subsample, rows)` rows drawn
//!   without replacement, grown to depth `ceil(log2(subsample))` with a random non-constant
//!   feature and a uniform split in its range; score `2^(-E[h(x)] / c(subsample))` in (0, 1],
//!   higher is more anomalous. Anomaly when the score is above the `1 - contamination`
//!   percentile of the window's scores (sklearn's offset rule). The generator is SplitMix64
//!   seeded with `seed`, so results are reproducible across runs and platforms.

use crate::domain::stream::{Detector, Function, Stat, StreamConfig};
use crate::domain::window::{Row, Window};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the [`AnalysisResult`] JSON shape; bumped on any incompatible change.
pub const RESULT_VERSION: u32 = 1;
/// LOF scores at most this many (the newest) rows of a group.
pub const MAX_LOF_ROWS: usize = 4096;
/// sklearn's `contamination="auto"` LOF threshold (rohe-spec §2.4).
pub const LOF_THRESHOLD: f64 = 1.5;

/// One analysis of one feature group over one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisResult {
    /// [`RESULT_VERSION`].
    pub version: u32,
    /// The run of the window (1, 2, 3, ... per agent; see `Trigger`).
    pub window_seq: u64,
    /// The group's columns, in the config's order.
    pub group: Vec<String>,
    /// First and last report timestamps in the window (epoch seconds); null without any.
    pub from_ts: Option<f64>,
    pub to_ts: Option<f64>,
    /// Rows with every column of the group: the rows every figure below is computed over.
    pub rows: usize,
    /// Rows of the window missing at least one column of the group.
    pub skipped_rows: usize,
    /// `summary`, `lof` or `isolation_forest`.
    pub function: Function,
    /// Rows the detector scored (0 for `summary`, or when fewer than 2 rows).
    pub scored_rows: usize,
    /// Score above which a row is an anomaly: 1.5 for LOF, the window's cut-off for Isolation
    /// Forest; null for `summary` or when nothing was scored.
    pub threshold: Option<f64>,
    /// Per column of the group.
    pub stats: BTreeMap<String, Stats>,
    /// Flagged rows, oldest first.
    pub anomalies: Vec<Anomaly>,
    /// Broken contract rules on this group's columns.
    pub violations: Vec<Violation>,
}

/// Summary statistics of one column; every figure but `count` is null without rows.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Stats {
    pub count: usize,
    /// Rows per second.
    pub rate: Option<f64>,
    pub mean: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

impl Stats {
    pub fn get(&self, stat: Stat) -> Option<f64> {
        match stat {
            Stat::Count => Some(self.count as f64),
            Stat::Rate => self.rate,
            Stat::Mean => self.mean,
            Stat::Min => self.min,
            Stat::Max => self.max,
            Stat::P50 => self.p50,
            Stat::P95 => self.p95,
            Stat::P99 => self.p99,
        }
    }
}

/// A row the detector flagged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    pub ts: Option<f64>,
    /// The report's correlation id, to find the stored report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corr_id: Option<String>,
    /// The group's values of the row.
    pub values: BTreeMap<String, f64>,
    /// LOF (higher is more anomalous, > 1.5 flagged) or Isolation Forest score in (0, 1].
    pub score: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// The statistic is above the rule's `max`.
    Max,
    /// The statistic is below the rule's `min`.
    Min,
}

/// A broken contract rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    pub column: String,
    pub stat: Stat,
    /// The statistic over the window.
    pub value: f64,
    /// The rule's bound it broke.
    pub limit: f64,
    pub kind: Bound,
}

/// Analyse the window once per feature group of `cfg`, as run `window_seq`.
///
/// A group naming a column the config does not declare (an unvalidated config) is left out.
pub fn analyse(cfg: &StreamConfig, window: &Window, window_seq: u64) -> Vec<AnalysisResult> {
    let rows: Vec<&Row> = window.rows().collect();
    let (from_ts, to_ts) = span(rows.iter().filter_map(|r| r.ts));
    let detector = cfg.detector();
    let mut out = Vec::with_capacity(cfg.groups.len());
    for group in &cfg.groups {
        let Some(cols) = group
            .iter()
            .map(|name| cfg.column_index(name))
            .collect::<Option<Vec<usize>>>()
        else {
            continue;
        };
        let dim = cols.len();
        // The complete rows and their values, row-major.
        let mut used: Vec<&Row> = Vec::with_capacity(rows.len());
        let mut matrix: Vec<f64> = Vec::with_capacity(rows.len() * dim);
        for r in &rows {
            let start = matrix.len();
            let complete = cols
                .iter()
                .all(|&c| match r.values.get(c).copied().flatten() {
                    Some(v) => {
                        matrix.push(v);
                        true
                    }
                    None => false,
                });
            if complete {
                used.push(r);
            } else {
                matrix.truncate(start);
            }
        }
        let n = used.len();
        let (first, last) = span(used.iter().filter_map(|r| r.ts));
        let mut stats = BTreeMap::new();
        let mut column = Vec::with_capacity(n);
        for (j, name) in group.iter().enumerate() {
            column.clear();
            column.extend((0..n).map(|i| matrix[i * dim + j]));
            let mut s = summary(&mut column);
            s.rate = rate(n, first, last);
            stats.insert(name.clone(), s);
        }

        let (scored_rows, threshold, anomalies) = detect(detector, &matrix, dim, &used, group);

        let mut violations = Vec::new();
        for rule in &cfg.contract {
            let Some(s) = stats.get(&rule.column) else {
                continue;
            };
            let Some(value) = s.get(rule.stat) else {
                continue;
            };
            if let Some(max) = rule.max
                && value > max
            {
                violations.push(Violation {
                    column: rule.column.clone(),
                    stat: rule.stat,
                    value,
                    limit: max,
                    kind: Bound::Max,
                });
            }
            if let Some(min) = rule.min
                && value < min
            {
                violations.push(Violation {
                    column: rule.column.clone(),
                    stat: rule.stat,
                    value,
                    limit: min,
                    kind: Bound::Min,
                });
            }
        }

        out.push(AnalysisResult {
            version: RESULT_VERSION,
            window_seq,
            group: group.clone(),
            from_ts,
            to_ts,
            rows: n,
            skipped_rows: rows.len() - n,
            function: cfg.analysis.function,
            scored_rows,
            threshold,
            stats,
            anomalies,
            violations,
        });
    }
    out
}

type Detection = (usize, Option<f64>, Vec<Anomaly>);

fn detect(
    detector: Detector,
    matrix: &[f64],
    dim: usize,
    used: &[&Row],
    group: &[String],
) -> Detection {
    let n = used.len();
    if n < 2 || dim == 0 {
        return (0, None, Vec::new());
    }
    let anomaly = |i: usize, score: f64| Anomaly {
        ts: used[i].ts,
        corr_id: used[i].corr_id.clone(),
        values: group
            .iter()
            .enumerate()
            .map(|(j, name)| (name.clone(), matrix[i * dim + j]))
            .collect(),
        score,
    };
    match detector {
        Detector::Summary => (0, None, Vec::new()),
        Detector::Lof { k } => {
            let skip = n.saturating_sub(MAX_LOF_ROWS);
            let scores = lof_scores(&matrix[skip * dim..], dim, k);
            let anomalies = scores
                .iter()
                .enumerate()
                .filter(|&(_, &s)| s > LOF_THRESHOLD)
                .map(|(i, &s)| anomaly(skip + i, s))
                .collect();
            (n - skip, Some(LOF_THRESHOLD), anomalies)
        }
        Detector::IsolationForest {
            contamination,
            trees,
            subsample,
            seed,
        } => {
            let scores = isolation_forest_scores(matrix, dim, trees, subsample, seed);
            let mut sorted = scores.clone();
            sorted.sort_by(f64::total_cmp);
            let Some(cut) = percentile(&sorted, 1.0 - contamination) else {
                return (n, None, Vec::new());
            };
            let anomalies = scores
                .iter()
                .enumerate()
                .filter(|&(_, &s)| s > cut)
                .map(|(i, &s)| anomaly(i, s))
                .collect();
            (n, Some(cut), anomalies)
        }
    }
}

fn span(ts: impl Iterator<Item = f64>) -> (Option<f64>, Option<f64>) {
    ts.fold((None, None), |(lo, hi): (Option<f64>, Option<f64>), t| {
        (
            Some(lo.map_or(t, |l| l.min(t))),
            Some(hi.map_or(t, |h| h.max(t))),
        )
    })
}

fn rate(n: usize, first: Option<f64>, last: Option<f64>) -> Option<f64> {
    match (first, last) {
        (Some(a), Some(b)) if b - a > 0.0 => finite(n as f64 / (b - a)),
        _ => None,
    }
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Summary statistics of `values` (sorted in place). `rate` is left for the caller.
pub fn summary(values: &mut [f64]) -> Stats {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return Stats::default();
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    Stats {
        count: n,
        rate: None,
        mean: finite(mean),
        min: values.first().copied(),
        max: values.last().copied(),
        p50: percentile(values, 0.50),
        p95: percentile(values, 0.95),
        p99: percentile(values, 0.99),
    }
}

/// The `p` quantile (0 ≤ p ≤ 1) of ascending `sorted` values, by linear interpolation between
/// closest ranks (numpy's default). None for no values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 || !p.is_finite() {
        return None;
    }
    let h = (n - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let (a, b) = (sorted[lo], sorted[hi]);
    finite(a + (h - lo as f64) * (b - a))
}

// ---------------------------------------------------------------------------------------------
// Local Outlier Factor
// ---------------------------------------------------------------------------------------------

/// LOF of every point of `points` (row-major, `dim` values per point) with `k` neighbours.
/// Fewer than two points: every LOF is 1 (nothing to compare with).
pub fn lof_scores(points: &[f64], dim: usize, k: usize) -> Vec<f64> {
    if dim == 0 {
        return Vec::new();
    }
    let n = points.len() / dim;
    if n < 2 || k == 0 {
        return vec![1.0; n];
    }
    let k = k.min(n - 1);
    // Neighbours of each point: (distance, index), nearest first, exactly k of them.
    let neigh = if dim == 1 && points.iter().all(|x| x.is_finite()) {
        neighbours_1d(points, k)
    } else {
        neighbours_brute(points, dim, k)
    };
    let kdist: Vec<f64> = (0..n).map(|i| neigh[i * k + k - 1].0).collect();
    let lrd: Vec<f64> = (0..n)
        .map(|i| {
            let reach: f64 = neigh[i * k..(i + 1) * k]
                .iter()
                .map(|&(d, o)| d.max(kdist[o]))
                .sum();
            1.0 / (reach / k as f64 + 1e-10)
        })
        .collect();
    (0..n)
        .map(|i| {
            let around: f64 = neigh[i * k..(i + 1) * k].iter().map(|&(_, o)| lrd[o]).sum();
            let lof = around / k as f64 / lrd[i];
            // Own density 0 (distances overflowed): as outlying as it gets. 0/0: no evidence.
            if lof.is_nan() { 1.0 } else { lof.min(f64::MAX) }
        })
        .collect()
}

/// The k nearest neighbours of every point, (distance, index) nearest first, ties to the
/// earlier point: every pair compared, O(n² · dim).
fn neighbours_brute(points: &[f64], dim: usize, k: usize) -> Vec<(f64, usize)> {
    let n = points.len() / dim;
    let point = |i: usize| &points[i * dim..(i + 1) * dim];
    let mut neigh: Vec<(f64, usize)> = Vec::with_capacity(n * k);
    let mut best: Vec<(f64, usize)> = Vec::with_capacity(k + 1);
    for i in 0..n {
        best.clear();
        let p = point(i);
        for j in 0..n {
            if j == i {
                continue;
            }
            let d2: f64 = p.iter().zip(point(j)).map(|(a, b)| (a - b) * (a - b)).sum();
            if best.len() == k && d2 >= best[k - 1].0 {
                continue;
            }
            // Insert after every equal distance: earlier points win ties.
            let at = best.partition_point(|&(d, _)| d <= d2);
            best.insert(at, (d2, j));
            best.truncate(k);
        }
        neigh.extend(best.iter().map(|&(d2, j)| (d2.sqrt(), j)));
    }
    neigh
}

/// The same neighbours as [`neighbours_brute`] for finite one-dimensional points, from the
/// points in sorted order: a point's neighbours are the nearest on either side of it, so each
/// point looks at about k others instead of n. The default stream config analyses every column
/// on its own (one dimension), where this is most of the analysis: a 100-row window, k = 2, every
/// 10 reports, for each of 6 columns. Distances are the same squared differences, compared and
/// broken by index the same way, so the scores are bit for bit those of the brute force.
fn neighbours_1d(x: &[f64], k: usize) -> Vec<(f64, usize)> {
    let n = x.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| x[a].total_cmp(&x[b]).then(a.cmp(&b)));
    let mut neigh = vec![(0.0, 0); n * k];
    let mut near: Vec<(f64, usize)> = Vec::new();
    for (p, &i) in order.iter().enumerate() {
        // Squared distance, as the brute force computes it. Along the sorted order it never
        // decreases moving away from p (rounding is monotonic), so the points within any
        // distance of p form one run of `order` around p.
        let d2 = |j: usize| (x[i] - x[j]) * (x[i] - x[j]);
        // Merge outwards from p until k are taken: the k-th smallest distance.
        let (mut lo, mut hi) = (p, p + 1);
        let mut kd2 = 0.0f64;
        for _ in 0..k {
            let left = (lo > 0).then(|| d2(order[lo - 1]));
            let right = (hi < n).then(|| d2(order[hi]));
            match (left, right) {
                (Some(l), Some(r)) if l <= r => {
                    kd2 = l;
                    lo -= 1;
                }
                (Some(l), None) => {
                    kd2 = l;
                    lo -= 1;
                }
                (_, Some(r)) => {
                    kd2 = r;
                    hi += 1;
                }
                (None, None) => break,
            }
        }
        // Every point as near as the k-th, then the k nearest of those by (distance, index).
        while lo > 0 && d2(order[lo - 1]) <= kd2 {
            lo -= 1;
        }
        while hi < n && d2(order[hi]) <= kd2 {
            hi += 1;
        }
        near.clear();
        near.extend(
            order[lo..hi]
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| (d2(j), j)),
        );
        let by_distance_then_index =
            |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        if near.len() > k {
            near.select_nth_unstable_by(k - 1, by_distance_then_index);
            near.truncate(k);
        }
        near.sort_unstable_by(by_distance_then_index);
        for (slot, &(d2, j)) in neigh[i * k..(i + 1) * k].iter_mut().zip(&near) {
            *slot = (d2.sqrt(), j);
        }
    }
    neigh
}

// ---------------------------------------------------------------------------------------------
// Isolation Forest
// ---------------------------------------------------------------------------------------------

/// SplitMix64 (Steele, Lea and Flood 2014): a tiny, well-studied generator whose output depends
/// only on the seed, so stored analyses can be reproduced exactly. (rand's `StdRng` does not
/// promise a stable sequence across versions, and an analysis needs nothing stronger.)
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in the open interval (0, 1).
    pub fn next_open01(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` (n > 0), without modulo bias (Lemire's method).
    pub fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        if n <= 1 {
            return 0;
        }
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = (self.next_u64() as u128) * (n as u128);
            if (m as u64) >= threshold {
                return (m >> 64) as usize;
            }
        }
    }
}

/// Average path length of an unsuccessful search in a binary search tree of `n` points:
/// the normalisation of Isolation Forest (Liu, Ting and Zhou 2008), as sklearn computes it.
pub fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + 0.577_215_664_901_532_9) - 2.0 * (n - 1.0) / n
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Node {
    Leaf {
        size: usize,
    },
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
}

struct TreeBuilder<'a> {
    points: &'a [f64],
    dim: usize,
    max_depth: usize,
    nodes: Vec<Node>,
    candidates: Vec<usize>,
}

impl TreeBuilder<'_> {
    fn build(&mut self, idx: &mut [usize], depth: usize, rng: &mut SplitMix64) -> usize {
        let me = self.nodes.len();
        self.nodes.push(Node::Leaf { size: idx.len() });
        if depth >= self.max_depth || idx.len() <= 1 {
            return me;
        }
        let dim = self.dim;
        // A uniformly drawn non-constant feature: draw among the untried ones, scanning only the
        // drawn feature's range, until one varies (sklearn's ExtraTree does the same).
        self.candidates.clear();
        self.candidates.extend(0..dim);
        let (feature, lo, hi) = loop {
            if self.candidates.is_empty() {
                return me;
            }
            let f = self
                .candidates
                .swap_remove(rng.below(self.candidates.len()));
            let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for &i in idx.iter() {
                let v = self.points[i * dim + f];
                lo = lo.min(v);
                hi = hi.max(v);
            }
            if hi > lo {
                break (f, lo, hi);
            }
        };
        let threshold = lo + rng.next_open01() * (hi - lo);
        // Partition: values below the threshold first.
        let mut split = 0;
        for j in 0..idx.len() {
            if self.points[idx[j] * dim + feature] < threshold {
                idx.swap(split, j);
                split += 1;
            }
        }
        if split == 0 || split == idx.len() {
            return me;
        }
        let (l, r) = idx.split_at_mut(split);
        let left = self.build(l, depth + 1, rng);
        let right = self.build(r, depth + 1, rng);
        self.nodes[me] = Node::Split {
            feature,
            threshold,
            left,
            right,
        };
        me
    }
}

/// Isolation Forest anomaly scores in (0, 1] of every point of `points` (row-major, `dim`
/// values per point), the forest grown on the same points. Fewer than two points: 0.5 each
/// (no evidence either way).
pub fn isolation_forest_scores(
    points: &[f64],
    dim: usize,
    trees: usize,
    subsample: usize,
    seed: u64,
) -> Vec<f64> {
    if dim == 0 {
        return Vec::new();
    }
    let n = points.len() / dim;
    if n < 2 || trees == 0 {
        return vec![0.5; n];
    }
    let psi = subsample.clamp(2, n);
    let max_depth = (psi as f64).log2().ceil() as usize;
    let mut rng = SplitMix64::new(seed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut depth_sum = vec![0.0f64; n];
    let mut builder = TreeBuilder {
        points,
        dim,
        max_depth,
        nodes: Vec::with_capacity(2 * psi),
        candidates: Vec::with_capacity(dim),
    };
    let mut sample = Vec::with_capacity(psi);
    // c(size) of every possible leaf size.
    let leaf_c: Vec<f64> = (0..=psi).map(average_path_length).collect();
    for _ in 0..trees {
        // Partial Fisher-Yates: the first psi entries become a uniform sample without
        // replacement (from any starting permutation).
        for i in 0..psi {
            let j = i + rng.below(n - i);
            order.swap(i, j);
        }
        sample.clear();
        sample.extend_from_slice(&order[..psi]);
        builder.nodes.clear();
        builder.build(&mut sample, 0, &mut rng);
        for (i, acc) in depth_sum.iter_mut().enumerate() {
            let x = &points[i * dim..(i + 1) * dim];
            let mut node = 0;
            let mut depth = 0.0;
            loop {
                match builder.nodes[node] {
                    Node::Leaf { size } => {
                        *acc += depth + leaf_c.get(size).copied().unwrap_or(0.0);
                        break;
                    }
                    Node::Split {
                        feature,
                        threshold,
                        left,
                        right,
                    } => {
                        node = if x[feature] < threshold { left } else { right };
                        depth += 1.0;
                    }
                }
            }
        }
    }
    let norm = average_path_length(psi);
    depth_sum
        .iter()
        .map(|&h| 2f64.powf(-(h / trees as f64) / norm))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * (1.0 + b.abs())
    }

    #[test]
    fn percentile_edges_and_interpolation() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7.0], 0.0), Some(7.0));
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        let x = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&x, 0.0), Some(1.0));
        assert_eq!(percentile(&x, 1.0), Some(4.0));
        assert!(close(percentile(&x, 0.5).unwrap(), 2.5));
        // h = 3 * 0.95 = 2.85: 3 + 0.85 * (4 - 3), numpy.percentile([1,2,3,4], 95) = 3.85.
        assert!(close(percentile(&x, 0.95).unwrap(), 3.85));
        assert!(close(percentile(&x, 0.99).unwrap(), 3.97));
    }

    #[test]
    fn summary_of_nothing_and_of_one() {
        let s = summary(&mut []);
        assert_eq!(s.count, 0);
        assert_eq!(
            (s.mean, s.min, s.max, s.p50, s.p99),
            (None, None, None, None, None)
        );
        let s = summary(&mut [0.25]);
        assert_eq!(s.count, 1);
        assert_eq!(
            (s.mean, s.min, s.max, s.p50, s.p95, s.p99),
            (
                Some(0.25),
                Some(0.25),
                Some(0.25),
                Some(0.25),
                Some(0.25),
                Some(0.25)
            )
        );
        let s = summary(&mut [3.0, 1.0, 2.0]);
        assert_eq!(
            (s.min, s.max, s.mean, s.p50),
            (Some(1.0), Some(3.0), Some(2.0), Some(2.0))
        );
    }

    /// Worked by hand for x = 0, 1, 2, 10 and k = 2:
    /// neighbours 0:{1,2} 1:{0,2} 2:{1,0} 10:{2,1}; k-distances 2, 1, 2, 9;
    /// mean reachability 1.5, 2, 1.5, 8.5; lrd 2/3, 1/2, 2/3, 2/17;
    /// LOF (1/2 + 2/3)/2 / (2/3) = 0.875, (2/3 + 2/3)/2 / (1/2) = 4/3, 0.875,
    /// (2/3 + 1/2)/2 / (2/17) = 119/24.
    #[test]
    fn lof_matches_hand_computed_values() {
        let s = lof_scores(&[0.0, 1.0, 2.0, 10.0], 1, 2);
        let want = [0.875, 4.0 / 3.0, 0.875, 119.0 / 24.0];
        for (got, want) in s.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{s:?}");
        }
        assert_eq!(s.iter().filter(|&&x| x > LOF_THRESHOLD).count(), 1);
    }

    #[test]
    fn lof_with_duplicates_gives_no_nan() {
        let s = lof_scores(&[5.0; 6], 1, 2);
        assert!(s.iter().all(|&x| close(x, 1.0)), "{s:?}");
        let s = lof_scores(&[5.0, 5.0, 5.0, 5.0, 9.0], 1, 2);
        assert!(s.iter().all(|x| x.is_finite()), "{s:?}");
        assert!(s[..4].iter().all(|&x| close(x, 1.0)), "{s:?}");
        assert!(s[4] > LOF_THRESHOLD, "{s:?}");
    }

    #[test]
    fn lof_tight_cluster_is_not_flagged_and_an_outlier_is() {
        let mut grid = Vec::new();
        for i in 0..5 {
            for j in 0..5 {
                grid.extend([i as f64, j as f64]);
            }
        }
        let s = lof_scores(&grid, 2, 2);
        assert!(s.iter().all(|&x| close(x, 1.0)), "{s:?}");
        grid.extend([40.0, 40.0]);
        let s = lof_scores(&grid, 2, 2);
        let flagged: Vec<usize> = (0..s.len()).filter(|&i| s[i] > LOF_THRESHOLD).collect();
        assert_eq!(flagged, vec![25], "{s:?}");
    }

    #[test]
    fn lof_with_overflowing_distances_stays_finite() {
        let s = lof_scores(&[0.0, 1.0, 2.0, 1e300, -1e300], 1, 2);
        assert!(s.iter().all(|x| x.is_finite()), "{s:?}");
    }

    #[test]
    fn lof_caps_k_at_the_number_of_other_points() {
        let s = lof_scores(&[0.0, 1.0, 3.0], 1, 50);
        assert_eq!(s.len(), 3);
        assert!(s.iter().all(|x| x.is_finite()));
        assert_eq!(lof_scores(&[1.0], 1, 2), vec![1.0]);
        assert!(lof_scores(&[], 1, 2).is_empty());
    }

    /// The sorted-order search finds exactly the brute force's neighbours (same distances,
    /// same tie-breaking), on data with many ties, spread and extreme values.
    #[test]
    fn lof_1d_neighbours_are_the_brute_force_ones() {
        let mut rng = SplitMix64::new(7);
        for case in 0..400 {
            let n = 2 + rng.below(60);
            let pool = 1 + rng.below(12);
            let x: Vec<f64> = (0..n)
                .map(|_| match case % 4 {
                    0 => rng.below(pool) as f64,
                    1 => rng.next_open01() * 1e3 - 500.0,
                    2 => [0.0, -0.0, 1e300, -1e300, 5e-324, 3.0][rng.below(6)],
                    _ => (rng.below(pool) as f64) * 0.1,
                })
                .collect();
            let k = 1 + rng.below(n.min(8));
            let k = k.min(n - 1);
            let fast = neighbours_1d(&x, k);
            let brute = neighbours_brute(&x, 1, k);
            assert_eq!(fast.len(), brute.len());
            for (f, b) in fast.iter().zip(&brute) {
                assert!(
                    f.1 == b.1 && f.0.to_bits() == b.0.to_bits(),
                    "x = {x:?}, k = {k}: {fast:?} vs {brute:?}"
                );
            }
        }
    }

    #[test]
    fn splitmix64_reference_output() {
        // First outputs of SplitMix64 seeded with 0 (the published reference sequence).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        let mut r = SplitMix64::new(9);
        for _ in 0..1000 {
            let u = r.next_open01();
            assert!(u > 0.0 && u < 1.0);
            assert!(r.below(7) < 7);
        }
    }

    #[test]
    fn average_path_length_values() {
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        // 2 (ln 255 + 0.5772156649) - 2 * 255 / 256
        assert!((average_path_length(256) - 10.244_770_920_4).abs() < 1e-6);
    }

    /// 190 points around the origin and 10 planted far away, in two dimensions.
    fn planted() -> (Vec<f64>, Vec<usize>) {
        let mut rng = SplitMix64::new(2024);
        let mut pts = Vec::new();
        let mut planted = Vec::new();
        for i in 0..200 {
            if i % 20 == 7 {
                planted.push(i);
                let a = i as f64;
                pts.extend([8.0 + (a * 0.37).sin(), -8.0 + (a * 0.11).cos() * 3.0]);
            } else {
                // Sum of three uniforms: a bell around 0 with spread ~1.
                let mut g = || (0..3).map(|_| rng.next_open01() - 0.5).sum::<f64>() * 2.0;
                pts.extend([g(), g()]);
            }
        }
        (pts, planted)
    }

    #[test]
    fn isolation_forest_flags_planted_outliers_deterministically() {
        let (pts, planted) = planted();
        let a = isolation_forest_scores(&pts, 2, 100, 256, 1);
        let b = isolation_forest_scores(&pts, 2, 100, 256, 1);
        assert_eq!(a, b, "same seed, same scores");
        let c = isolation_forest_scores(&pts, 2, 100, 256, 2);
        assert_ne!(a, c, "the seed matters");
        let mut sorted = a.clone();
        sorted.sort_by(f64::total_cmp);
        let cut = percentile(&sorted, 0.95).unwrap();
        let flagged: Vec<usize> = (0..a.len()).filter(|&i| a[i] > cut).collect();
        assert_eq!(flagged, planted, "scores {a:?}");
        assert!(a.iter().all(|&s| s > 0.0 && s <= 1.0));
    }

    #[test]
    fn isolation_forest_on_constant_data_flags_nothing() {
        let s = isolation_forest_scores(&[3.0; 50], 1, 20, 256, 1);
        let mut sorted = s.clone();
        sorted.sort_by(f64::total_cmp);
        let cut = percentile(&sorted, 0.95).unwrap();
        assert_eq!(s.iter().filter(|&&x| x > cut).count(), 0);
        assert_eq!(isolation_forest_scores(&[1.0], 1, 10, 256, 1), vec![0.5]);
    }
}
