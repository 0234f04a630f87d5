//! Profiling data to service requirements (rohe-spec 4.8): the categoriser ROHE never wrote.
//!
//! Input is the SPE2024 layout, per service (`<app>/<service>/processed_profile_data/`):
//! process metrics per load level (`resources_proc_metric/run_*/<service>_f<N>.csv`: cpu_usage
//! and child_cpu in millicpu, memory_usage and child_memory in MB, gpu_usage in %), system
//! metrics per device (`resources_sys_metric/run_*/<service>_<device>.csv`: core1..coreN in %)
//! and response times alone and beside co-located load (`applications_extracted/run_*/
//! <service>_{without_shared,shared}_resource.csv`, seconds). Reading the files is the CLI's
//! job; everything here is pure.
//!
//! The rules (ARCHITECTURE.md "Profiling" explains the choices):
//! - the sizing load is the highest load level profiled unless one is asked for: a service is
//!   sized for its peak, not its idle;
//! - `cpu_required` = p95 of (cpu_usage + child_cpu) at that load, rounded up to 100 millicpu;
//! - `memory_required.rss` = max of (memory_usage + child_memory) at that load × 1.3, rounded up
//!   to 10 MB;
//! - `accelerator_required.gpu` = p95 of gpu_usage rounded up to 5 %, when that p95 is at least
//!   [`GPU_IDLE_PERCENT`]: below it is the board's idle reading every service shows;
//! - `cores_required` = per-core p95 on the profiled device with the fewest cores (the tightest
//!   fit, where the shape matters), sorted descending, rounded up to 5 %, at least 5;
//! - latency-sensitive when p50(shared)/p50(isolated) > 1.3; `sensitivity` is then 1 (CPU), 2
//!   (memory) or 3 (both) by what the service is bound by, 0 otherwise.

use crate::domain::analysis::percentile;
use crate::domain::resources::{Mem, OrderedMap, Service};
use crate::error::{Error, Result};
use serde::Serialize;

/// A process GPU reading under this is the idle board, not the service (SPE2024 shows ~3.6 %
/// for services that never touch the GPU).
pub const GPU_IDLE_PERCENT: f64 = 5.0;
/// p50(shared) / p50(isolated) above this: the service slows down beside co-located load.
pub const SENSITIVE_RATIO: f64 = 1.3;
/// Memory headroom over the largest resident size seen.
pub const MEMORY_HEADROOM: f64 = 1.3;

/// A numeric CSV file: header names and rows (a missing cell is NaN and is skipped by the
/// statistics).
#[derive(Debug, Clone, PartialEq)]
pub struct CsvTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

impl CsvTable {
    /// The finite values of `column`, or None when the file has no such column.
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let i = self.columns.iter().position(|c| c == name)?;
        Some(
            self.rows
                .iter()
                .filter_map(|r| r.get(i).copied())
                .filter(|v| v.is_finite())
                .collect(),
        )
    }

    /// Row-wise sum of two columns (`b` missing counts as 0), for process + children figures.
    fn sum_columns(&self, a: &str, b: &str) -> Option<Vec<f64>> {
        let ia = self.columns.iter().position(|c| c == a)?;
        let ib = self.columns.iter().position(|c| c == b);
        Some(
            self.rows
                .iter()
                .filter_map(|r| {
                    let x = *r.get(ia)?;
                    let y = ib.and_then(|i| r.get(i).copied()).unwrap_or(0.0);
                    let y = if y.is_finite() { y } else { 0.0 };
                    x.is_finite().then_some(x + y)
                })
                .collect(),
        )
    }
}

/// Parse a CSV file of numbers with a header line. Errors name the file, line and column.
pub fn parse_csv(text: &str, file: &str) -> Result<CsvTable> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(Error::invalid("the file is empty; expected a header line")
            .file(file.to_string())
            .hint("profile CSVs start with column names, e.g. cpu_usage,memory_usage,..."));
    };
    let columns: Vec<String> = header
        .trim_start_matches('\u{feff}')
        .split(',')
        .map(|c| c.trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for (no, line) in lines {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != columns.len() {
            return Err(Error::invalid(format!(
                "line {} has {} cells, the header has {}",
                no + 1,
                cells.len(),
                columns.len()
            ))
            .file(file.to_string()));
        }
        let mut row = Vec::with_capacity(cells.len());
        for (i, cell) in cells.iter().enumerate() {
            let cell = cell.trim();
            if cell.is_empty() {
                row.push(f64::NAN);
                continue;
            }
            let v: f64 = cell.parse().map_err(|_| {
                Error::invalid(format!(
                    "line {}, column {:?}: {cell:?} is not a number",
                    no + 1,
                    columns[i]
                ))
                .file(file.to_string())
            })?;
            row.push(v);
        }
        rows.push(row);
    }
    Ok(CsvTable { columns, rows })
}

/// Everything profiled for one service, as read from its files.
#[derive(Debug, Clone, Default)]
pub struct ServiceData {
    pub application: String,
    pub service: String,
    /// (load level N of `_fN`, one table per run).
    pub proc: Vec<(u32, CsvTable)>,
    /// (device, one table per run).
    pub sys: Vec<(String, CsvTable)>,
    /// Response times in seconds without and with co-located load, all runs together.
    pub rt_isolated: Vec<f64>,
    pub rt_shared: Vec<f64>,
}

/// Choices the caller may make; the defaults are the rules of the module comment.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Size for this load level (`f50` is 50) instead of the highest one profiled.
    pub load: Option<u32>,
    /// Take the per-core shape from this device instead of the one with the fewest cores.
    pub device: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Label {
    CpuBound,
    MultiThreaded,
    MemoryBound,
    Gpu,
    LatencySensitive,
}

impl Label {
    pub fn as_str(self) -> &'static str {
        match self {
            Label::CpuBound => "cpu-bound",
            Label::MultiThreaded => "multi-threaded",
            Label::MemoryBound => "memory-bound",
            Label::Gpu => "gpu",
            Label::LatencySensitive => "latency-sensitive",
        }
    }
}

/// The requirement fields of a service spec, as derived.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Requirements {
    /// millicpu.
    pub cpu_required: f64,
    /// MB.
    pub memory_rss: f64,
    /// Per-core percent, descending. Empty when no system metrics were profiled.
    pub cores_required: Vec<f64>,
    /// Percent of one GPU; 0 needs none.
    pub gpu: f64,
    /// 0 none, 1 CPU, 2 memory, 3 CPU and memory.
    pub sensitivity: u8,
}

/// What the profile says about one service: the measured figures and what follows from them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceProfile {
    pub application: String,
    pub service: String,
    /// The load level the requirements are sized for (`50` for `f50`).
    pub load: u32,
    /// Every load level profiled.
    pub loads: Vec<u32>,
    /// Process samples at the sizing load.
    pub samples: usize,
    pub cpu_p50: f64,
    pub cpu_p95: f64,
    pub memory_max: f64,
    pub gpu_p95: f64,
    /// The device the per-core shape comes from.
    pub device: Option<String>,
    /// Per-core p95 on that device, in core order.
    pub core_p95: Vec<f64>,
    pub rt_p50_isolated: Option<f64>,
    pub rt_p50_shared: Option<f64>,
    /// p50(shared) / p50(isolated).
    pub rt_ratio: Option<f64>,
    pub requirements: Requirements,
    pub labels: Vec<Label>,
}

fn quantile(mut v: Vec<f64>, p: f64) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    percentile(&v, p)
}

fn round_up(v: f64, step: f64) -> f64 {
    ((v / step).ceil() * step).max(0.0)
}

fn core_columns(t: &CsvTable) -> Vec<&str> {
    let mut cores: Vec<(u32, &str)> = t
        .columns
        .iter()
        .filter_map(|c| Some((c.strip_prefix("core")?.parse().ok()?, c.as_str())))
        .collect();
    cores.sort();
    cores.into_iter().map(|(_, c)| c).collect()
}

/// Derive the requirements of one service from its profile data.
pub fn derive(data: &ServiceData, rules: &Rules) -> Result<ServiceProfile> {
    let at = format!("{}/{}", data.application, data.service);
    let mut loads: Vec<u32> = data.proc.iter().map(|(l, _)| *l).collect();
    loads.sort();
    loads.dedup();
    let load = match rules.load {
        Some(l) if loads.contains(&l) => l,
        Some(l) => {
            return Err(Error::invalid(format!(
                "{at} was not profiled at load f{l} (profiled: {})",
                loads
                    .iter()
                    .map(|l| format!("f{l}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .field("--load")
            .hint("pick one of the profiled load levels, or leave --load out for the highest"));
        }
        None => *loads.last().ok_or_else(|| {
            Error::invalid(format!("{at} has no process metrics"))
                .hint("expected resources_proc_metric/run_*/<service>_f<N>.csv files")
        })?,
    };
    let tables: Vec<&CsvTable> = data
        .proc
        .iter()
        .filter(|(l, _)| *l == load)
        .map(|(_, t)| t)
        .collect();
    let gather = |f: &dyn Fn(&CsvTable) -> Option<Vec<f64>>, what: &str| -> Result<Vec<f64>> {
        let mut all = Vec::new();
        for t in &tables {
            all.extend(f(t).ok_or_else(|| {
                Error::invalid(format!("{at}: the process metrics have no {what} column"))
                    .hint("SPE2024 process files have cpu_usage, memory_usage and gpu_usage")
            })?);
        }
        Ok(all)
    };
    let cpu = gather(&|t| t.sum_columns("cpu_usage", "child_cpu"), "cpu_usage")?;
    let mem = gather(
        &|t| t.sum_columns("memory_usage", "child_memory"),
        "memory_usage",
    )?;
    let gpu = gather(
        &|t| Some(t.column("gpu_usage").unwrap_or_default()),
        "gpu_usage",
    )?;
    if cpu.is_empty() {
        return Err(Error::invalid(format!(
            "{at}: no process samples at load f{load}"
        )));
    }
    let samples = cpu.len();
    let cpu_p50 = quantile(cpu.clone(), 0.5).unwrap_or(0.0);
    let cpu_p95 = quantile(cpu, 0.95).unwrap_or(0.0);
    let memory_max = mem.iter().copied().fold(0.0, f64::max);
    let gpu_p95 = quantile(gpu, 0.95).unwrap_or(0.0);

    // The per-core shape: the asked-for device, else the one with the fewest cores.
    let mut devices: Vec<(&str, usize)> = Vec::new();
    for (d, t) in &data.sys {
        if !devices.iter().any(|(n, _)| n == d) {
            devices.push((d.as_str(), core_columns(t).len()));
        }
    }
    devices.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0)));
    let device = match &rules.device {
        Some(d) if devices.iter().any(|(n, _)| n == d) => Some(d.clone()),
        Some(d) => {
            return Err(Error::invalid(format!(
                "{at} has no system metrics for device {d:?} (profiled: {})",
                devices
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .field("--device"));
        }
        None => devices.first().map(|(d, _)| d.to_string()),
    };
    let mut core_p95 = Vec::new();
    if let Some(dev) = &device {
        let tables: Vec<&CsvTable> = data
            .sys
            .iter()
            .filter(|(d, _)| d == dev)
            .map(|(_, t)| t)
            .collect();
        let cores = tables.first().map(|t| core_columns(t)).unwrap_or_default();
        for c in cores {
            let all: Vec<f64> = tables
                .iter()
                .filter_map(|t| t.column(c))
                .flatten()
                .collect();
            core_p95.push(quantile(all, 0.95).unwrap_or(0.0));
        }
    }

    let rt_p50_isolated = quantile(data.rt_isolated.clone(), 0.5);
    let rt_p50_shared = quantile(data.rt_shared.clone(), 0.5);
    let rt_ratio = match (rt_p50_isolated, rt_p50_shared) {
        (Some(i), Some(s)) if i > 0.0 => Some(s / i),
        _ => None,
    };

    let cpu_required = round_up(cpu_p95, 100.0).max(100.0);
    let memory_rss = round_up(memory_max * MEMORY_HEADROOM, 10.0).max(10.0);
    let mut cores_required: Vec<f64> = core_p95
        .iter()
        .map(|v| round_up(*v, 5.0).clamp(5.0, 100.0))
        .collect();
    cores_required.sort_by(|a, b| b.total_cmp(a));
    let gpu_required = if gpu_p95 >= GPU_IDLE_PERCENT {
        round_up(gpu_p95, 5.0).min(100.0)
    } else {
        0.0
    };

    let mut labels = Vec::new();
    let top_core = core_p95.iter().copied().fold(0.0, f64::max);
    let cpu_bound = cpu_required >= 1000.0 || top_core >= 80.0;
    if cpu_bound {
        labels.push(Label::CpuBound);
    }
    if core_p95.iter().filter(|v| **v >= 50.0).count() >= 2 {
        labels.push(Label::MultiThreaded);
    }
    let memory_bound = memory_rss >= 1024.0;
    if memory_bound {
        labels.push(Label::MemoryBound);
    }
    if gpu_required > 0.0 {
        labels.push(Label::Gpu);
    }
    let sensitive = rt_ratio.is_some_and(|r| r > SENSITIVE_RATIO);
    if sensitive {
        labels.push(Label::LatencySensitive);
    }
    let sensitivity = match (sensitive, cpu_bound, memory_bound) {
        (false, _, _) => 0,
        (true, true, true) => 3,
        (true, false, true) => 2,
        (true, _, false) => 1,
    };

    Ok(ServiceProfile {
        application: data.application.clone(),
        service: data.service.clone(),
        load,
        loads,
        samples,
        cpu_p50,
        cpu_p95,
        memory_max,
        gpu_p95,
        device,
        core_p95,
        rt_p50_isolated,
        rt_p50_shared,
        rt_ratio,
        requirements: Requirements {
            cpu_required,
            memory_rss,
            cores_required,
            gpu: gpu_required,
            sensitivity,
        },
        labels,
    })
}

/// Write the derived requirements into a service spec, keeping everything else (image, ports,
/// replicas, `vms`, other accelerators) as it was.
pub fn apply_to(service: &mut Service, p: &ServiceProfile) {
    let r = &p.requirements;
    service.cpu_required = r.cpu_required;
    service.memory_required = Mem {
        rss: r.memory_rss,
        vms: service.memory_required.vms.max(r.memory_rss),
    };
    if !r.cores_required.is_empty() {
        service.cores_required = r.cores_required.clone();
    }
    let mut acc = OrderedMap::new();
    for (k, v) in service.accelerator_required.iter() {
        if k != "gpu" {
            acc.insert(k, *v);
        }
    }
    if r.gpu > 0.0 {
        acc.insert("gpu", r.gpu);
    }
    service.accelerator_required = acc;
    service.sensitivity = r.sensitivity;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> CsvTable {
        parse_csv(text, "t.csv").expect("valid csv")
    }

    fn proc_rows(load: u32, rows: Vec<(f64, f64, f64, f64, f64)>) -> (u32, CsvTable) {
        let mut text = String::from(
            "cpu_usage,memory_usage,gpu_usage,no_child,no_child_active,child_cpu,child_memory,execution_time\n",
        );
        for (i, (cpu, mem, gpu, ccpu, cmem)) in rows.iter().enumerate() {
            text.push_str(&format!("{cpu},{mem},{gpu},1,1,{ccpu},{cmem},{i}\n"));
        }
        (load, table(&text))
    }

    fn service(proc: Vec<(u32, CsvTable)>) -> ServiceData {
        ServiceData {
            application: "a".into(),
            service: "s".into(),
            proc,
            ..Default::default()
        }
    }

    #[test]
    fn csv_errors_name_line_and_column() {
        let e = parse_csv("a,b\n1,2\n3,x\n", "f.csv").unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
        assert!(e.to_string().contains("\"b\""), "{e}");
        let e = parse_csv("a,b\n1\n", "f.csv").unwrap_err();
        assert!(e.to_string().contains("1 cells"), "{e}");
        assert!(parse_csv("", "f.csv").is_err());
        let t = parse_csv("\u{feff}a,b\r\n1,\r\n", "f.csv").unwrap();
        assert_eq!(t.columns, vec!["a", "b"]);
        assert_eq!(t.column("b").unwrap(), Vec::<f64>::new());
    }

    #[test]
    fn sizes_for_the_highest_load_with_children_included() {
        let low: Vec<_> = (0..20).map(|_| (100.0, 50.0, 3.6, 0.0, 0.0)).collect();
        // cpu + children = 10, 20, ..., 1000 millicpu.
        let high: Vec<_> = (0..100)
            .map(|i| (i as f64 * 10.0, 800.0 + i as f64, 3.6, 10.0, 5.0))
            .collect();
        let p = derive(
            &service(vec![proc_rows(1, low), proc_rows(50, high)]),
            &Rules::default(),
        )
        .unwrap();
        assert_eq!(p.load, 50);
        assert_eq!(p.loads, vec![1, 50]);
        assert_eq!(p.samples, 100);
        // p95 by linear interpolation: 950 + 0.05 × 10 = 950.5, rounded up to 1000.
        assert!((p.cpu_p95 - 950.5).abs() < 1e-9, "{}", p.cpu_p95);
        assert_eq!(p.requirements.cpu_required, 1000.0);
        // max memory 899 + 5 = 904 MB, ×1.3 = 1175.2 -> 1180.
        assert_eq!(p.requirements.memory_rss, 1180.0);
        assert_eq!(p.requirements.gpu, 0.0, "3.6 % is the idle board");
        assert!(p.labels.contains(&Label::CpuBound));
        assert!(p.labels.contains(&Label::MemoryBound));

        let at_low = derive(
            &service(vec![
                proc_rows(1, vec![(100.0, 50.0, 20.0, 0.0, 0.0)]),
                proc_rows(50, vec![(900.0, 50.0, 3.0, 0.0, 0.0)]),
            ]),
            &Rules {
                load: Some(1),
                device: None,
            },
        )
        .unwrap();
        assert_eq!(at_low.requirements.cpu_required, 100.0);
        assert_eq!(at_low.requirements.gpu, 20.0);
        assert!(at_low.labels.contains(&Label::Gpu));
        let e = derive(
            &service(vec![proc_rows(1, vec![(1.0, 1.0, 0.0, 0.0, 0.0)])]),
            &Rules {
                load: Some(5),
                device: None,
            },
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("--load"));
    }

    #[test]
    fn per_core_shape_comes_from_the_smallest_device_and_sensitivity_from_latency() {
        let mut d = service(vec![proc_rows(5, vec![(300.0, 100.0, 0.0, 0.0, 0.0)])]);
        d.sys = vec![
            (
                "jet_nano".into(),
                table("core1,core2,core3,core4,mem\n97,3,70,2,1\n95,4,71,1,1\n"),
            ),
            (
                "jet_xavier".into(),
                table("core1,core2,core3,core4,core5,core6,mem\n10,10,10,10,10,10,1\n"),
            ),
        ];
        d.rt_isolated = vec![0.10, 0.10, 0.12];
        d.rt_shared = vec![0.15, 0.16, 0.17];
        let p = derive(&d, &Rules::default()).unwrap();
        assert_eq!(p.device.as_deref(), Some("jet_nano"));
        assert_eq!(p.requirements.cores_required, vec![100.0, 75.0, 5.0, 5.0]);
        assert!(p.labels.contains(&Label::CpuBound), "a core at 97 %");
        assert!(p.labels.contains(&Label::MultiThreaded));
        assert!(p.labels.contains(&Label::LatencySensitive));
        assert!((p.rt_ratio.unwrap() - 1.6).abs() < 1e-9);
        assert_eq!(p.requirements.sensitivity, 1);

        let x = derive(
            &d,
            &Rules {
                load: None,
                device: Some("jet_xavier".into()),
            },
        )
        .unwrap();
        assert_eq!(x.requirements.cores_required, vec![10.0; 6]);
        d.rt_shared = vec![0.11];
        let calm = derive(&d, &Rules::default()).unwrap();
        assert_eq!(calm.requirements.sensitivity, 0);
        assert!(!calm.labels.contains(&Label::LatencySensitive));
    }

    #[test]
    fn applying_keeps_the_rest_of_the_spec() {
        let text = "application: a\nservices:\n  - service_name: s\n    service_id: a:s\n    image: img:1\n    replicas: 2\n    cpu_required: 100\n    memory_required: {rss: 10, vms: 900}\n    accelerator_required: {tpu: 10, gpu: 50}\n";
        let mut svc = crate::domain::resources::parse_services(text, "s.yaml")
            .unwrap()
            .remove(0);
        let mut d = service(vec![proc_rows(5, vec![(250.0, 100.0, 1.0, 0.0, 0.0)])]);
        d.sys = vec![("nano".into(), table("core1,core2\n40,3\n"))];
        let p = derive(&d, &Rules::default()).unwrap();
        apply_to(&mut svc, &p);
        assert_eq!(svc.cpu_required, 300.0);
        assert_eq!(svc.memory_required.rss, 130.0);
        assert_eq!(svc.memory_required.vms, 900.0);
        assert_eq!(svc.cores_required, vec![40.0, 5.0]);
        assert_eq!(svc.accelerator_required.get("tpu"), Some(&10.0));
        assert_eq!(svc.accelerator_required.get("gpu"), None);
        assert_eq!(svc.image, "img:1");
        assert_eq!(svc.replicas, 2);
    }
}
