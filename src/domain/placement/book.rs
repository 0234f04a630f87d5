//! Bookkeeping after a placement (rohe-spec 4.6) and its inverse for scale-in.
//!
//! Charging a node: CPU, rss and vms add the requirement; each non-zero accelerator
//! requirement is charged to the **first** matching device only (fix: ROHE charges every
//! matching device); per-core use follows 4.6 exactly when the node's cores are alike (used
//! sorted ascending plus the requirement zero-padded and sorted descending, so the largest
//! requirement lands on the least-loaded core). When core capacities differ, the sorted sum
//! would attribute load to the wrong core and can push a core past its capacity, so rohe adds
//! each requirement to the very core the check paired it with (same pairing, identity kept).

use super::eval::{Need, matching_device};
use crate::domain::resources::Node;

/// Charge one instance of `service_id` (requirements `need`) to `node`. The caller has
/// checked that it fits.
pub(crate) fn charge(node: &mut Node, service_id: &str, need: &Need) {
    node.cpu.used += need.cpu;
    node.memory.used.rss += need.rss;
    node.memory.used.vms += need.vms;
    for (kind, req) in &need.accel {
        if let Some(i) = matching_device(node, kind, *req) {
            node.accelerator.0[i].1.used += req;
        }
    }
    let cores = &mut node.cores;
    charge_cores(&cores.capacity, &mut cores.used, &need.cores_asc);
    let count = node.instances_of(service_id);
    node.services.insert(service_id, count + 1);
}

fn homogeneous(capacity: &[f64]) -> bool {
    capacity.windows(2).all(|w| w[0] == w[1])
}

/// `req_asc` is sorted ascending and no longer than the core list (checked before).
fn charge_cores(capacity: &[f64], used: &mut [f64], req_asc: &[f64]) {
    let n = used.len();
    let pad = n.saturating_sub(req_asc.len());
    // The requirement zero-padded to n, ascending.
    let req_at = |i: usize| if i < pad { 0.0 } else { req_asc[i - pad] };
    if homogeneous(capacity) {
        // ROHE: sort(used) + sort_desc(req), stored in that (sorted) order.
        used.sort_by(f64::total_cmp);
        for (i, u) in used.iter_mut().enumerate() {
            *u += req_at(n - 1 - i);
        }
    } else {
        // The check pairs remaining capacity ascending with the requirement ascending; add
        // each requirement to that core.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| (capacity[a] - used[a]).total_cmp(&(capacity[b] - used[b])));
        for (i, &core) in order.iter().enumerate() {
            used[core] += req_at(i);
        }
    }
}

/// Take one instance of `service_id` off `node` and give its resources back (never below 0).
pub(crate) fn release(node: &mut Node, service_id: &str, need: &Need) {
    node.cpu.used = (node.cpu.used - need.cpu).max(0.0);
    node.memory.used.rss = (node.memory.used.rss - need.rss).max(0.0);
    node.memory.used.vms = (node.memory.used.vms - need.vms).max(0.0);
    for (kind, req) in &need.accel {
        // The device it was charged to is not recorded: the first of its type that carries at
        // least the requirement; else the requirement is taken back from the devices of its
        // type in order, spilling over, so the total per type goes down by exactly `req`
        // (while there is that much) and no device goes below 0.
        let devs = &mut node.accelerator.0;
        if let Some(i) = devs
            .iter()
            .position(|(_, d)| d.accelerator_type == *kind && d.used >= *req)
        {
            devs[i].1.used -= req;
            continue;
        }
        let mut left = *req;
        for (_, d) in devs.iter_mut().filter(|(_, d)| d.accelerator_type == *kind) {
            let take = left.min(d.used.max(0.0));
            d.used -= take;
            left -= take;
            if left <= 0.0 {
                break;
            }
        }
    }
    release_cores(&mut node.cores.used, &need.cores_asc);
    match node.instances_of(service_id) {
        0 => {}
        1 => {
            node.services.remove(service_id);
        }
        c => node.services.insert(service_id, c - 1),
    }
}

/// Which core carried which share of an instance is not recorded (ROHE keeps only per-core
/// totals), so the requirement is taken back largest first, each share from the most-loaded
/// core (ties: the lower index), spilling to the next most-loaded when a core has less: the
/// total per-core use goes down by exactly the requirement (while there is that much), and
/// no core goes below 0.
fn release_cores(used: &mut [f64], req_asc: &[f64]) {
    for req in req_asc.iter().rev() {
        let mut left = *req;
        while left > 0.0 {
            let Some((core, have)) = used
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, u)| *u > 0.0)
                .reduce(|best, x| if x.1 > best.1 { x } else { best })
            else {
                return;
            };
            let take = have.min(left);
            used[core] = if take == have { 0.0 } else { have - take };
            left -= take;
        }
    }
}

/// How contended `node` is in the resources the service uses: the largest used/capacity
/// ratio among them (CPU, rss, its accelerator types, cores). Scale-in removes instances
/// from the most contended node first.
pub(crate) fn contention(node: &Node, need: &Need) -> f64 {
    let ratio = |used: f64, cap: f64| {
        if cap > 0.0 {
            used / cap
        } else if used > 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    };
    let mut c: f64 = 0.0;
    if need.cpu > 0.0 {
        c = c.max(ratio(node.cpu.used, node.cpu.capacity));
    }
    if need.rss > 0.0 {
        c = c.max(ratio(node.memory.used.rss, node.memory.capacity.rss));
    }
    for (kind, _) in &need.accel {
        for d in node.accelerator.values() {
            if d.accelerator_type == *kind {
                c = c.max(ratio(d.used, d.capacity));
            }
        }
    }
    if need.cores_asc.iter().any(|r| *r > 0.0) {
        for (u, cap) in node.cores.used.iter().zip(&node.cores.capacity) {
            c = c.max(ratio(*u, *cap));
        }
    }
    c
}
