//! The acceptance cases of rohe-spec 8.2 (C1-C14, I1, Q1-Q3, R1-R2), one test per deliberate
//! fix, explanations, and property tests. Where a case describes a ROHE quirk (C4, C5, C7,
//! C12, C13), the test asserts the fixed behaviour and says what ROHE did.

use super::eval::{Free, Need, evaluate};
use super::*;
use crate::domain::resources::{
    Accelerator, Cores, Cpu, Mem, Memory, Node, OrderedMap, Service, Status, parse_nodes,
    parse_services,
};

// ---- builders ---------------------------------------------------------------------------

/// rohe-spec 8.2's default node: 4000 mcpu, 4096 MB rss, 4 idle cores of 100, no accelerator.
fn node(name: &str) -> Node {
    Node {
        node_name: name.into(),
        mac_address: format!("mac-{name}"),
        status: Status::Running,
        frequency: 1.5,
        accelerator: OrderedMap::new(),
        cpu: Cpu {
            capacity: 4000.0,
            used: 0.0,
        },
        memory: Memory {
            capacity: Mem {
                rss: 4096.0,
                vms: 4096.0,
            },
            used: Mem::default(),
        },
        cores: Cores {
            capacity: vec![100.0; 4],
            used: vec![0.0; 4],
        },
        services: OrderedMap::new(),
        cordoned: false,
    }
}

fn gpu(cap: f64, used: f64) -> Accelerator {
    Accelerator {
        mode: "nonpre-emptive".into(),
        accelerator_type: "gpu".into(),
        core: 128,
        capacity: cap,
        used,
    }
}

/// A service with rohe-spec 8.2's default accelerator map `{gpu: 0}` and one replica.
fn svc(id: &str, cpu: f64, rss: f64, cores: &[f64]) -> Service {
    Service {
        application: "app".into(),
        service_name: format!("svc_{id}"),
        service_id: id.into(),
        node: OrderedMap::new(),
        status: Status::Queueing,
        instance_ids: vec![],
        running: 0,
        replicas: 1,
        image: "img".into(),
        ports: vec![],
        port_mapping: vec![],
        cpu_required: cpu,
        memory_required: Mem { rss, vms: 0.0 },
        cores_required: cores.to_vec(),
        accelerator_required: OrderedMap(vec![("gpu".into(), 0.0)]),
        sensitivity: 0,
    }
}

fn config(strategy: Strategy) -> PlacementConfig {
    PlacementConfig {
        strategy,
        ..PlacementConfig::default()
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Every node's verdict for `s`, in order.
fn verdicts(nodes: &[Node], s: &Service, w: &Weights) -> Vec<Result<Score, eval::Rejection>> {
    let need = Need::of(s);
    nodes
        .iter()
        .map(|n| evaluate(n, &Free::of(n), &need, w))
        .collect()
}

fn score_of(v: &Result<Score, eval::Rejection>) -> f64 {
    match v {
        Ok(s) => round6(s.score),
        Err(r) => panic!("expected a score, got {r:?}"),
    }
}

/// Place `s` once on `nodes` with `strategy`; the chosen node's name.
fn choose(nodes: Vec<Node>, s: Service, strategy: Strategy) -> Option<String> {
    let mut c = Cluster::new(nodes, vec![s]).expect("cluster");
    let p = plan(&mut c, &config(strategy), false);
    p.placements.first().map(|p| p.node.clone())
}

fn placed_on(p: &Plan) -> Vec<(String, String)> {
    p.placements
        .iter()
        .map(|x| (x.service_name.clone(), x.node.clone()))
        .collect()
}

// ---- C1-C14 -----------------------------------------------------------------------------

#[test]
fn c1_default_node_scores_and_is_chosen() {
    let s = svc("s", 1000.0, 300.0, &[100.0, 5.0, 5.0, 5.0]);
    let v = verdicts(&[node("A")], &s, &Weights::default());
    assert_eq!(score_of(&v[0]), 1.639258);
    assert_eq!(round6(285.0 / 400.0 + 3796.0 / 4096.0), 1.639258);
    for st in Strategy::ALL {
        assert_eq!(choose(vec![node("A")], s.clone(), st).as_deref(), Some("A"));
    }
}

#[test]
fn c2_cpu_filter() {
    let mut a = node("A");
    a.cpu.used = 3600.0;
    let s = svc("s", 500.0, 100.0, &[50.0]);
    let v = verdicts(&[a.clone(), node("B")], &s, &Weights::default());
    assert!(matches!(
        v[0],
        Err(eval::Rejection::Cpu {
            need: 500.0,
            free: 400.0
        })
    ));
    assert_eq!(score_of(&v[1]), 1.850586);
    assert_eq!(
        choose(vec![a, node("B")], s, Strategy::FirstFit).as_deref(),
        Some("B")
    );
}

#[test]
fn c3_memory_is_inclusive() {
    let mut a = node("A");
    a.memory.used.rss = 3796.0;
    let mut b = node("B");
    b.memory.used.rss = 3797.0;
    let s = svc("s", 100.0, 300.0, &[10.0]);
    let v = verdicts(&[a.clone(), b.clone()], &s, &Weights::default());
    assert_eq!(score_of(&v[0]), 0.975);
    assert!(matches!(v[1], Err(eval::Rejection::Memory { .. })));
    assert_eq!(
        choose(vec![a, b], s, Strategy::MaxHeadroom).as_deref(),
        Some("A")
    );
}

#[test]
fn c4_accelerator_is_inclusive_fixed() {
    // ROHE: only C passes (15 < 15 is false for B). rohe: B passes too (15 <= 15).
    let a = node("A");
    let mut b = node("B");
    b.accelerator.insert("GPU0", gpu(100.0, 85.0));
    let mut c = node("C");
    c.accelerator.insert("GPU0", gpu(100.0, 84.0));
    let mut s = svc("s", 500.0, 600.0, &[50.0]);
    s.accelerator_required = OrderedMap(vec![("gpu".into(), 15.0)]);
    let nodes = vec![a, b, c];
    let v = verdicts(&nodes, &s, &Weights::default());
    assert!(matches!(
        v[0],
        Err(eval::Rejection::Accelerator {
            best_free: None,
            ..
        })
    ));
    assert_eq!(score_of(&v[1]), 1.728516);
    assert_eq!(score_of(&v[2]), 1.728516);
    assert_eq!(
        choose(nodes.clone(), s.clone(), Strategy::FirstFit).as_deref(),
        Some("B")
    );
    // Tie: max-headroom takes the last tied node, tight-pack the first.
    assert_eq!(
        choose(nodes.clone(), s.clone(), Strategy::MaxHeadroom).as_deref(),
        Some("C")
    );
    assert_eq!(choose(nodes, s, Strategy::TightPack).as_deref(), Some("B"));
}

#[test]
fn c5_empty_accelerator_map_needs_none_fixed() {
    // ROHE: no node (the flag is never set). rohe: A is chosen.
    let mut s = svc("s", 100.0, 100.0, &[10.0]);
    s.accelerator_required = OrderedMap::new();
    let v = verdicts(&[node("A")], &s, &Weights::default());
    assert_eq!(score_of(&v[0]), 1.950586);
    assert_eq!(
        choose(vec![node("A")], s, Strategy::MaxHeadroom).as_deref(),
        Some("A")
    );
}

#[test]
fn c6_core_conflict_nothing_chosen() {
    let mut a = node("A");
    a.cores.used = vec![100.0, 5.0, 5.0, 5.0];
    let s = svc("s", 1000.0, 300.0, &[100.0, 5.0, 5.0, 5.0]);
    let v = verdicts(&[a.clone()], &s, &Weights::default());
    assert!(matches!(
        v[0],
        Err(eval::Rejection::Cores {
            need: 5.0,
            free: 0.0
        })
    ));
    for st in Strategy::ALL {
        assert_eq!(choose(vec![a.clone()], s.clone(), st), None);
    }
}

#[test]
fn c7_core_requirement_longer_than_node_does_not_fit_fixed() {
    // ROHE truncates [100,100,100] to [100,100], scores 0.975586 and places 3 cores' worth on
    // 2 cores. rohe: it does not fit.
    let mut a = node("A");
    a.cores = Cores {
        capacity: vec![100.0; 2],
        used: vec![0.0; 2],
    };
    let s = svc("s", 300.0, 100.0, &[100.0, 100.0, 100.0]);
    let v = verdicts(&[a.clone()], &s, &Weights::default());
    assert_eq!(v[0], Err(eval::Rejection::CoreCount { need: 3, have: 2 }));
    assert_eq!(choose(vec![a], s, Strategy::MaxHeadroom), None);
}

#[test]
fn c8_heterogeneous_nodes() {
    let nano = node("nano");
    let mut xavier = node("xavier");
    xavier.cpu.capacity = 8000.0;
    xavier.memory.capacity.rss = 16384.0;
    xavier.cores = Cores {
        capacity: vec![100.0; 8],
        used: vec![0.0; 8],
    };
    let mut busy = node("rasp_busy");
    busy.memory.used.rss = 2048.0;
    busy.cores.used = vec![50.0, 0.0, 0.0, 0.0];
    let s = svc("s", 4000.0, 400.0, &[100.0, 80.0, 80.0, 80.0]);
    let nodes = vec![nano, xavier, busy];
    let v = verdicts(&nodes, &s, &Weights::default());
    // nano: diff [20,20,20,0] -> 60/400 = 0.15; (4096-400)/4096 = 0.902344.
    assert_eq!(score_of(&v[0]), round6(0.15 + 3696.0 / 4096.0));
    assert_eq!(score_of(&v[0]), 1.052344);
    // xavier: diff [100,100,100,100,20,20,20,0] -> 460/800 = 0.575; 15984/16384 = 0.975586.
    assert_eq!(score_of(&v[1]), 1.550586);
    // rasp_busy: a core with 50 free against 80 needed.
    assert!(matches!(
        v[2],
        Err(eval::Rejection::Cores {
            need: 80.0,
            free: 50.0
        })
    ));
    assert_eq!(
        choose(nodes.clone(), s.clone(), Strategy::FirstFit).as_deref(),
        Some("nano")
    );
    assert_eq!(
        choose(nodes.clone(), s.clone(), Strategy::MaxHeadroom).as_deref(),
        Some("xavier")
    );
    assert_eq!(
        choose(nodes.clone(), s.clone(), Strategy::TightPack).as_deref(),
        Some("nano")
    );
    // Bookkeeping on xavier: sorted used + requirement padded to 8 and sorted descending.
    let mut c = Cluster::new(nodes, vec![s]).expect("cluster");
    plan(&mut c, &config(Strategy::MaxHeadroom), false);
    let x = &c.nodes[1];
    assert_eq!(x.cpu.used, 4000.0);
    assert_eq!(x.memory.used.rss, 400.0);
    assert_eq!(
        x.cores.used,
        vec![100.0, 80.0, 80.0, 80.0, 0.0, 0.0, 0.0, 0.0]
    );
}

#[test]
fn c9_score_exactly_zero_is_excluded() {
    let mut a = node("A");
    a.cpu.capacity = 400.0;
    a.memory.capacity.rss = 100.0;
    a.cores = Cores {
        capacity: vec![100.0],
        used: vec![0.0],
    };
    let s = svc("s", 400.0, 100.0, &[100.0]);
    let v = verdicts(&[a.clone()], &s, &Weights::default());
    match v[0] {
        Err(eval::Rejection::Score(sc)) => assert_eq!(sc.score, 0.0),
        ref other => panic!("{other:?}"),
    }
    for st in Strategy::ALL {
        assert_eq!(choose(vec![a.clone()], s.clone(), st), None);
    }
}

#[test]
fn c10_three_equal_nodes_ties_per_strategy() {
    let s = svc("s", 100.0, 100.0, &[10.0]);
    let nodes = vec![node("A"), node("B"), node("C")];
    let v = verdicts(&nodes, &s, &Weights::default());
    for x in &v {
        // 390/400 + 3996/4096
        assert_eq!(score_of(x), 1.950586);
    }
    assert_eq!(
        choose(nodes.clone(), s.clone(), Strategy::FirstFit).as_deref(),
        Some("A")
    );
    assert_eq!(
        choose(nodes.clone(), s.clone(), Strategy::MaxHeadroom).as_deref(),
        Some("C")
    );
    assert_eq!(choose(nodes, s, Strategy::TightPack).as_deref(), Some("A"));
}

#[test]
fn c11_bookkeeping() {
    let mut a = node("A");
    a.cores.used = vec![10.0, 0.0, 30.0, 0.0];
    let mut s = svc("s", 1000.0, 300.0, &[100.0, 5.0, 5.0, 5.0]);
    s.memory_required.vms = 500.0;
    let v = verdicts(&[a.clone()], &s, &Weights::default());
    // remain sorted [70,90,100,100] - [5,5,5,100] = [65,85,95,0]: 245/400 + 3796/4096.
    assert_eq!(score_of(&v[0]), 1.539258);
    let mut c = Cluster::new(vec![a], vec![s]).expect("cluster");
    let p = plan(&mut c, &PlacementConfig::default(), false);
    assert_eq!(p.placements.len(), 1);
    let a = &c.nodes[0];
    assert_eq!(a.cpu.used, 1000.0);
    assert_eq!(a.memory.used.rss, 300.0);
    assert_eq!(a.memory.used.vms, 500.0);
    // sort([10,0,30,0]) + sort_desc([100,5,5,5]) = [0,0,10,30] + [100,5,5,5].
    assert_eq!(a.cores.used, vec![100.0, 5.0, 15.0, 35.0]);
    assert_eq!(a.services.get("s"), Some(&1));
    let s = &c.services[0];
    assert_eq!(s.node.get("mac-A"), Some(&1));
    assert_eq!(s.running, 1);
    assert_eq!(s.instance_ids.len(), 1);
}

#[test]
fn c12_only_the_first_matching_gpu_is_charged_fixed() {
    // ROHE charges both GPUs; rohe charges GPU0 only.
    let mut a = node("A");
    a.accelerator.insert("GPU0", gpu(100.0, 0.0));
    a.accelerator.insert("GPU1", gpu(100.0, 0.0));
    let mut s = svc("s", 100.0, 100.0, &[10.0]);
    s.accelerator_required = OrderedMap(vec![("gpu".into(), 15.0)]);
    let mut c = Cluster::new(vec![a], vec![s]).expect("cluster");
    plan(&mut c, &PlacementConfig::default(), false);
    assert_eq!(
        c.nodes[0].accelerator.get("GPU0").map(|d| d.used),
        Some(15.0)
    );
    assert_eq!(
        c.nodes[0].accelerator.get("GPU1").map(|d| d.used),
        Some(0.0)
    );
}

#[test]
fn c13_zero_weights_are_refused_fixed() {
    // ROHE: every score is 0, so nothing is ever placed, silently. rohe refuses the config.
    let cfg = PlacementConfig {
        weights: Weights {
            cpu: 0.0,
            memory: 0.0,
        },
        ..PlacementConfig::default()
    };
    let e = cfg.validate().expect_err("refused");
    assert_eq!(e.field.as_deref(), Some("weights"));
    // What it would do if run anyway: every score is 0.
    let s = svc("s", 100.0, 100.0, &[10.0]);
    let v = verdicts(&[node("A")], &s, &cfg.weights);
    assert!(matches!(v[0], Err(eval::Rejection::Score(sc)) if sc.score == 0.0));
    // One weight at 0 is fine.
    let one = PlacementConfig {
        weights: Weights {
            cpu: 0.0,
            memory: 1.0,
        },
        ..PlacementConfig::default()
    };
    assert!(one.validate().is_ok());
}

#[test]
fn c14_replicas_fill_a_node_then_stop() {
    let mut s = svc("s", 1000.0, 1000.0, &[100.0]);
    s.replicas = 5;
    let mut c = Cluster::new(vec![node("A")], vec![s]).expect("cluster");
    let p = plan(&mut c, &PlacementConfig::default(), true);
    // Scores per replica: 300/400 + 3096/4096, 200/400 + 2096/4096, 100/400 + 1096/4096,
    // 0 + 96/4096; the fifth finds 0 millicpu free.
    let scores: Vec<f64> = p
        .decisions
        .iter()
        .map(|d| d.nodes[0].score.map(round6).unwrap_or(-1.0))
        .collect();
    assert_eq!(scores, vec![1.505859, 1.011719, 0.517578, 0.023438, -1.0]);
    assert_eq!(p.decisions[4].nodes[0].failed, Some(Check::Cpu));
    assert_eq!(p.placements.len(), 4);
    assert_eq!(p.unplaced.len(), 1);
    assert_eq!(p.unplaced[0].missing, 1);
    let a = &c.nodes[0];
    assert_eq!(a.cpu.used, 4000.0);
    assert_eq!(a.memory.used.rss, 4000.0);
    assert_eq!(a.cores.used, vec![100.0; 4]);
    assert_eq!(a.services.get("s"), Some(&4));
    assert_eq!(c.services[0].running, 4);
}

// ---- I1: one cycle over ROHE's fixtures ------------------------------------------------------

fn fixture_cluster() -> Cluster {
    let nodes = parse_nodes(
        include_str!("../../../tests/fixtures/rohe/add_node.json"),
        "add_node.json",
    )
    .expect("nodes");
    let services = parse_services(
        include_str!("../../../tests/fixtures/rohe/add_service.json"),
        "add_service.json",
    )
    .expect("services");
    Cluster::new(nodes, services).expect("cluster")
}

/// Expected placements: the output of ROHE 0.2.1's own `PriorityAlgorithm.find_allocate` and
/// `Allocator.update_node` (pip package, run on the same files in the same queue order); the
/// deliberate fixes do not change anything on this input.
/// Queue order (CPU descending, ties in file order): kpi_inference 4000; bts_dataproc 1000,
/// bts_inference 1000, kpi_minio 1000; od_imgproc 933; kpi_database 500, od_inference 500;
/// od_web 424; kpi_web 400. Nodes: RaspberryPi_02..05, Jetson_nano_01..04, Jetson_xavier_06.
#[test]
fn i1_fixture_cycle_first_fit() {
    let mut c = fixture_cluster();
    let p = plan(&mut c, &config(Strategy::FirstFit), false);
    let expected = [
        ("kpi_inference_service", "RaspberryPi_02"),
        ("bts_dataproc_service", "RaspberryPi_03"),
        ("bts_dataproc_service", "RaspberryPi_04"),
        ("bts_inference_service", "RaspberryPi_05"),
        ("bts_inference_service", "Jetson_nano_01"),
        ("bts_inference_service", "Jetson_nano_02"),
        ("kpi_minio_service", "Jetson_nano_03"),
        ("kpi_minio_service", "Jetson_nano_03"),
        ("object_detection_imgproc_service", "RaspberryPi_03"),
        ("object_detection_imgproc_service", "RaspberryPi_03"),
        ("kpi_database_service", "Jetson_nano_04"),
        ("object_detection_inference_service", "Jetson_nano_01"),
        ("object_detection_web_service", "RaspberryPi_03"),
        ("object_detection_web_service", "RaspberryPi_04"),
        ("kpi_web_service", "RaspberryPi_04"),
    ];
    assert_eq!(
        placed_on(&p),
        expected.map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(p.unplaced.is_empty());
}

#[test]
fn i1_fixture_cycle_max_headroom() {
    let mut c = fixture_cluster();
    let p = plan(&mut c, &config(Strategy::MaxHeadroom), false);
    let expected = [
        ("kpi_inference_service", "Jetson_xavier_06"),
        ("bts_dataproc_service", "Jetson_nano_04"),
        ("bts_dataproc_service", "Jetson_nano_03"),
        ("bts_inference_service", "Jetson_xavier_06"),
        ("bts_inference_service", "Jetson_nano_02"),
        ("bts_inference_service", "Jetson_nano_01"),
        ("kpi_minio_service", "RaspberryPi_05"),
        ("kpi_minio_service", "RaspberryPi_04"),
        ("object_detection_imgproc_service", "RaspberryPi_03"),
        ("object_detection_imgproc_service", "RaspberryPi_02"),
        ("kpi_database_service", "RaspberryPi_03"),
        ("object_detection_inference_service", "Jetson_nano_04"),
        ("object_detection_web_service", "RaspberryPi_02"),
        ("object_detection_web_service", "RaspberryPi_05"),
        ("kpi_web_service", "RaspberryPi_04"),
    ];
    assert_eq!(
        placed_on(&p),
        expected.map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(p.unplaced.is_empty());
}

#[test]
fn i1_fixture_cycle_tight_pack() {
    let mut c = fixture_cluster();
    let p = plan(&mut c, &config(Strategy::TightPack), false);
    let expected = [
        ("kpi_inference_service", "RaspberryPi_02"),
        ("bts_dataproc_service", "RaspberryPi_03"),
        ("bts_dataproc_service", "RaspberryPi_04"),
        ("bts_inference_service", "RaspberryPi_05"),
        ("bts_inference_service", "Jetson_nano_01"),
        ("bts_inference_service", "Jetson_nano_02"),
        ("kpi_minio_service", "Jetson_nano_03"),
        ("kpi_minio_service", "Jetson_nano_03"),
        ("object_detection_imgproc_service", "RaspberryPi_05"),
        ("object_detection_imgproc_service", "RaspberryPi_05"),
        ("kpi_database_service", "Jetson_nano_04"),
        ("object_detection_inference_service", "Jetson_nano_01"),
        ("object_detection_web_service", "RaspberryPi_05"),
        ("object_detection_web_service", "Jetson_nano_01"),
        ("kpi_web_service", "Jetson_nano_01"),
    ];
    assert_eq!(
        placed_on(&p),
        expected.map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(p.unplaced.is_empty());
}

#[test]
fn i1_v1_yaml_and_v2_json_fixtures_agree_on_the_shape_of_the_plan() {
    // The YAML request lists 10 nodes and the services in another order; both must place all
    // 15 replicas with no node over capacity.
    let nodes = parse_nodes(
        include_str!("../../../tests/fixtures/rohe/add_node.yaml"),
        "add_node.yaml",
    )
    .expect("nodes");
    let services = parse_services(
        include_str!("../../../tests/fixtures/rohe/add_service.yaml"),
        "add_service.yaml",
    )
    .expect("services");
    let mut c = Cluster::new(nodes, services).expect("cluster");
    let p = plan(&mut c, &PlacementConfig::default(), false);
    assert_eq!(p.placements.len(), 15);
    assert!(p.unplaced.is_empty());
    for n in &c.nodes {
        assert_within_capacity(n);
    }
}

// ---- Q1-Q3 ----------------------------------------------------------------------------------

fn drain(cfg: QueueConfig, services: &[Service]) -> Vec<String> {
    let mut q = ServiceQueue::new(cfg);
    for (i, s) in services.iter().enumerate() {
        q.put(i, s);
    }
    let mut out = vec![];
    while let Some((i, _)) = q.get() {
        out.push(services[i].service_id.clone());
    }
    out
}

fn sens(id: &str, cpu: f64, rss: f64, sensitivity: u8) -> Service {
    let mut s = svc(id, cpu, rss, &[]);
    s.sensitivity = sensitivity;
    s
}

#[test]
fn q1_priority_0_orders_by_cpu_then_fifo() {
    let services = vec![
        sens("a", 500.0, 1.0, 0),
        sens("b", 900.0, 1.0, 1),
        sens("c", 500.0, 1.0, 3),
        sens("d", 100.0, 1.0, 0),
        sens("e", 900.0, 1.0, 2),
    ];
    let order = drain(QueueConfig::default(), &services);
    assert_eq!(order, vec!["b", "e", "a", "c", "d"]);
}

#[test]
fn q2_queue_balance_serves_prioritised_first() {
    let services = vec![
        sens("S1", 100.0, 1.0, 1),
        sens("S2", 900.0, 1.0, 0),
        sens("S3", 500.0, 1.0, 3),
    ];
    let cfg = QueueConfig {
        priority: 1,
        queue_balance: 3,
    };
    assert_eq!(drain(cfg, &services), vec!["S3", "S1", "S2"]);
}

#[test]
fn q3_priority_3_keeps_sensitivity_3_services_keyed_by_cpu() {
    // ROHE drops them; rohe prioritises them, keyed by CPU.
    let services = vec![
        sens("n1", 800.0, 9000.0, 0),
        sens("both_small", 100.0, 9000.0, 3),
        sens("cpu_only", 700.0, 1.0, 1),
        sens("both_big", 600.0, 1.0, 3),
    ];
    let cfg = QueueConfig {
        priority: 3,
        queue_balance: 3,
    };
    assert_eq!(
        drain(cfg, &services),
        vec!["both_big", "both_small", "n1", "cpu_only"]
    );
}

#[test]
fn q_priority_2_keys_by_memory() {
    let services = vec![
        sens("small_mem", 900.0, 100.0, 2),
        sens("big_mem", 100.0, 900.0, 3),
        sens("normal", 500.0, 1.0, 1),
    ];
    let cfg = QueueConfig {
        priority: 2,
        queue_balance: 3,
    };
    assert_eq!(
        drain(cfg, &services),
        vec!["big_mem", "small_mem", "normal"]
    );
}

// ---- R1-R2 ----------------------------------------------------------------------------------

#[test]
fn r1_running_accumulates_across_cycles() {
    // Room for two: each instance takes half of A's memory.
    let mut s = svc("s", 100.0, 2048.0, &[10.0]);
    s.replicas = 3;
    let mut c = Cluster::new(vec![node("A")], vec![s]).expect("cluster");
    let cfg = PlacementConfig::default();
    let p1 = plan(&mut c, &cfg, false);
    assert_eq!(p1.placements.len(), 2);
    assert_eq!(p1.unplaced[0].missing, 1);
    assert_eq!(c.services[0].running, 2);
    assert_eq!(c.services[0].instance_ids.len(), 2);
    // Cycle 2, nothing changed: nothing more is placed (ROHE reset running to 0 here and
    // over-allocated).
    let p2 = plan(&mut c, &cfg, false);
    assert!(p2.placements.is_empty());
    assert_eq!(c.services[0].running, 2);
    // A node joins: cycle 3 places exactly the missing one.
    c.nodes.push(node("B"));
    let p3 = plan(&mut c, &cfg, false);
    assert_eq!(placed_on(&p3), vec![("svc_s".to_string(), "B".to_string())]);
    assert_eq!(c.services[0].running, 3);
    assert_eq!(c.services[0].instance_ids.len(), 3);
    let p4 = plan(&mut c, &cfg, false);
    assert!(p4.placements.is_empty() && p4.unplaced.is_empty());
}

#[test]
fn r2_scale_in_removes_instances_and_frees_resources() {
    let mut s = svc("s", 500.0, 300.0, &[50.0]);
    s.replicas = 3;
    let before = vec![node("A"), node("B")];
    let mut c = Cluster::new(before.clone(), vec![s]).expect("cluster");
    let cfg = PlacementConfig::default();
    plan(&mut c, &cfg, false);
    assert_eq!(c.services[0].running, 3);
    c.services[0].replicas = 1;
    let p = plan(&mut c, &cfg, false);
    assert_eq!(p.removed.len(), 2);
    assert!(p.placements.is_empty());
    let s = &c.services[0];
    assert_eq!(s.running, 1);
    assert_eq!(s.instance_ids.len(), 1);
    assert_eq!(s.node.values().sum::<u32>(), 1);
    let cpu: f64 = c.nodes.iter().map(|n| n.cpu.used).sum();
    let rss: f64 = c.nodes.iter().map(|n| n.memory.used.rss).sum();
    let cores: f64 = c.nodes.iter().flat_map(|n| n.cores.used.iter()).sum();
    assert_eq!((cpu, rss, cores), (500.0, 300.0, 50.0));
    // Back to 0: every node is as it was.
    c.services[0].replicas = 0;
    plan(&mut c, &cfg, false);
    assert_eq!(c.nodes, before);
    assert!(c.services[0].node.is_empty());
}

// ---- one test per deliberate fix ----------------------------------------------------------

#[test]
fn fix1_empty_accelerator_map_needs_no_accelerator() {
    let mut s = svc("s", 100.0, 100.0, &[10.0]);
    s.accelerator_required = OrderedMap::new();
    assert!(verdicts(&[node("A")], &s, &Weights::default())[0].is_ok());
}

#[test]
fn fix2_every_nonzero_accelerator_requirement_must_be_met() {
    // ROHE: {gpu: 0, tpu: 30} passes a node without a TPU (OR over requirements).
    let mut a = node("A");
    a.accelerator.insert("GPU0", gpu(100.0, 0.0));
    let mut s = svc("s", 100.0, 100.0, &[10.0]);
    s.accelerator_required = OrderedMap(vec![("gpu".into(), 0.0), ("tpu".into(), 30.0)]);
    let v = verdicts(&[a.clone()], &s, &Weights::default());
    assert!(matches!(
        v[0],
        Err(eval::Rejection::Accelerator {
            index: 0,
            best_free: None
        })
    ));
    // gpu 10 AND tpu 30: a node with both passes, one with only the GPU does not.
    s.accelerator_required = OrderedMap(vec![("gpu".into(), 10.0), ("tpu".into(), 30.0)]);
    let mut both = a.clone();
    both.node_name = "both".into();
    both.mac_address = "mac-both".into();
    let mut tpu = gpu(100.0, 0.0);
    tpu.accelerator_type = "tpu".into();
    both.accelerator.insert("TPU0", tpu);
    let v = verdicts(&[a, both], &s, &Weights::default());
    assert!(v[0].is_err());
    assert!(v[1].is_ok());
}

#[test]
fn fix3_accelerators_compare_inclusively() {
    let mut a = node("A");
    a.accelerator.insert("GPU0", gpu(100.0, 85.0));
    let mut s = svc("s", 100.0, 100.0, &[10.0]);
    s.accelerator_required = OrderedMap(vec![("gpu".into(), 15.0)]);
    assert!(verdicts(&[a.clone()], &s, &Weights::default())[0].is_ok());
    s.accelerator_required = OrderedMap(vec![("gpu".into(), 15.5)]);
    assert!(matches!(
        verdicts(&[a], &s, &Weights::default())[0],
        Err(eval::Rejection::Accelerator {
            best_free: Some(15.0),
            ..
        })
    ));
}

#[test]
fn fix4_only_the_first_matching_device_is_charged() {
    // GPU0 is too full, GPU1 and GPU2 fit: only GPU1 (the first that fits) is charged.
    let mut a = node("A");
    a.accelerator.insert("GPU0", gpu(100.0, 95.0));
    a.accelerator.insert("GPU1", gpu(100.0, 0.0));
    a.accelerator.insert("GPU2", gpu(100.0, 0.0));
    let mut s = svc("s", 100.0, 100.0, &[10.0]);
    s.accelerator_required = OrderedMap(vec![("gpu".into(), 20.0)]);
    let mut c = Cluster::new(vec![a], vec![s]).expect("cluster");
    plan(&mut c, &PlacementConfig::default(), false);
    let used: Vec<f64> = c.nodes[0].accelerator.values().map(|d| d.used).collect();
    assert_eq!(used, vec![95.0, 20.0, 0.0]);
}

#[test]
fn fix5_no_truncation_of_per_core_requirements() {
    let mut two = node("two");
    two.cores = Cores {
        capacity: vec![100.0; 2],
        used: vec![0.0; 2],
    };
    let s = svc("s", 100.0, 100.0, &[10.0, 10.0, 10.0]);
    let nodes = vec![two, node("four")];
    let v = verdicts(&nodes, &s, &Weights::default());
    assert_eq!(v[0], Err(eval::Rejection::CoreCount { need: 3, have: 2 }));
    assert!(v[1].is_ok());
    assert_eq!(
        choose(nodes, s, Strategy::FirstFit).as_deref(),
        Some("four")
    );
}

#[test]
fn fix6_nodes_are_visited_in_input_order() {
    // Identical nodes: first-fit takes the first in the file, whatever the names sort to.
    let nodes = vec![node("zeta"), node("alpha"), node("mid")];
    let s = svc("s", 100.0, 100.0, &[10.0]);
    assert_eq!(
        choose(nodes.clone(), s.clone(), Strategy::FirstFit).as_deref(),
        Some("zeta")
    );
    assert_eq!(
        choose(nodes, s, Strategy::MaxHeadroom).as_deref(),
        Some("mid")
    );
    // And from a ROHE JSON file whose keys would sort differently (node10 < node2).
    let json = r#"{"data": {
        "node2": {"node_name": "second_key", "mac_address": "m2", "cpu": {"capacity": 1000},
                  "memory": {"capacity": {"rss": 1000}}, "cores": {"capacity": [100]}},
        "node10": {"node_name": "tenth_key", "mac_address": "m10", "cpu": {"capacity": 1000},
                  "memory": {"capacity": {"rss": 1000}}, "cores": {"capacity": [100]}}}}"#;
    let nodes = parse_nodes(json, "n.json").expect("nodes");
    let s = svc("s", 100.0, 100.0, &[10.0]);
    assert_eq!(
        choose(nodes, s, Strategy::FirstFit).as_deref(),
        Some("second_key")
    );
}

#[test]
fn fix7_queue_is_fifo_among_equals_and_balance_interleaves() {
    // Equal requirements come out in the order they went in.
    let equal: Vec<Service> = (0..6)
        .map(|i| sens(&format!("e{i}"), 500.0, 1.0, 0))
        .collect();
    assert_eq!(
        drain(QueueConfig::default(), &equal),
        vec!["e0", "e1", "e2", "e3", "e4", "e5"]
    );
    // Balance 2: two prioritised, one normal, two prioritised, one normal, then the rest.
    let mut mixed = vec![];
    for i in 0..5 {
        mixed.push(sens(&format!("p{i}"), 100.0, 1.0, 1));
    }
    for i in 0..3 {
        mixed.push(sens(&format!("n{i}"), 900.0, 1.0, 0));
    }
    let cfg = QueueConfig {
        priority: 1,
        queue_balance: 2,
    };
    assert_eq!(
        drain(cfg, &mixed),
        vec!["p0", "p1", "n0", "p2", "p3", "n1", "p4", "n2"]
    );
    // The cycle follows the queue: a prioritised service is placed before a bigger normal one.
    let mut c = Cluster::new(
        vec![node("A")],
        vec![
            sens("big", 3000.0, 100.0, 0),
            sens("sensitive", 2000.0, 100.0, 1),
        ],
    )
    .expect("cluster");
    let cfg = PlacementConfig {
        service_queue: QueueConfig {
            priority: 1,
            queue_balance: 1,
        },
        ..PlacementConfig::default()
    };
    let p = plan(&mut c, &cfg, false);
    assert_eq!(p.placements[0].service_id, "sensitive");
    assert_eq!(p.unplaced[0].service_id, "big");
}

#[test]
fn fix8_running_accumulates() {
    // A service already running 2 of 3 gets exactly 1 more, and keeps its ids.
    let mut s = svc("s", 100.0, 100.0, &[10.0]);
    s.replicas = 3;
    s.running = 2;
    s.instance_ids = vec!["old-1".into(), "old-2".into()];
    let mut c = Cluster::new(vec![node("A")], vec![s]).expect("cluster");
    let p = plan(&mut c, &PlacementConfig::default(), false);
    assert_eq!(p.placements.len(), 1);
    let s = &c.services[0];
    assert_eq!(s.running, 3);
    assert_eq!(
        &s.instance_ids[..2],
        &["old-1".to_string(), "old-2".to_string()]
    );
    assert_eq!(s.instance_ids[2], p.placements[0].instance_id);
}

#[test]
fn fix9_scale_in_frees_the_most_contended_node_first() {
    // Two instances: one on a busy node, one on an idle one. Scale to 1: the busy one goes.
    let mut busy = node("busy");
    busy.cpu.used = 3000.0 + 500.0;
    busy.memory.used.rss = 300.0;
    busy.cores.used = vec![50.0, 0.0, 0.0, 0.0];
    busy.services.insert("s", 1);
    let mut idle = node("idle");
    idle.cpu.used = 500.0;
    idle.memory.used.rss = 300.0;
    idle.cores.used = vec![50.0, 0.0, 0.0, 0.0];
    idle.services.insert("s", 1);
    let mut s = svc("s", 500.0, 300.0, &[50.0]);
    s.replicas = 1;
    s.running = 2;
    s.instance_ids = vec!["i-idle".into(), "i-busy".into()];
    s.node = OrderedMap(vec![("mac-idle".into(), 1), ("mac-busy".into(), 1)]);
    let mut c = Cluster::new(vec![idle, busy], vec![s]).expect("cluster");
    let p = plan(&mut c, &PlacementConfig::default(), false);
    assert_eq!(p.removed.len(), 1);
    assert_eq!(p.removed[0].node.as_deref(), Some("busy"));
    let busy = &c.nodes[1];
    assert_eq!(busy.cpu.used, 3000.0);
    assert_eq!(busy.memory.used.rss, 0.0);
    assert_eq!(busy.cores.used, vec![0.0; 4]);
    assert!(busy.services.get("s").is_none());
    assert_eq!(c.services[0].node, OrderedMap(vec![("mac-idle".into(), 1)]));
    // Instances on a node the inventory does not know go first, and free nothing.
    let mut s = svc("t", 500.0, 300.0, &[50.0]);
    s.replicas = 0;
    s.running = 1;
    s.node = OrderedMap(vec![("mac-gone".into(), 1)]);
    let mut c = Cluster::new(vec![node("A")], vec![s]).expect("cluster");
    let p = plan(&mut c, &PlacementConfig::default(), false);
    assert_eq!(p.removed[0].node, None);
    assert_eq!(p.removed[0].node_id.as_deref(), Some("mac-gone"));
    assert_eq!(c.services[0].running, 0);
}

#[test]
fn fix10_zero_weights_refused_and_negative_weights_too() {
    let mut cfg = PlacementConfig::default();
    cfg.weights.cpu = -1.0;
    assert_eq!(
        cfg.validate().expect_err("negative").field.as_deref(),
        Some("weights.cpu")
    );
    cfg.weights = Weights {
        cpu: 0.0,
        memory: 0.0,
    };
    assert_eq!(
        cfg.validate().expect_err("zero").field.as_deref(),
        Some("weights")
    );
    let q = PlacementConfig {
        service_queue: QueueConfig {
            priority: 4,
            queue_balance: 1,
        },
        ..PlacementConfig::default()
    };
    assert!(q.validate().is_err());
}

#[test]
fn fix11_heterogeneous_cores_keep_their_identity() {
    // Core 0 has 50 capacity, core 1 has 100 with 40 used. 55 needed: it fits core 1 (60
    // free). ROHE's sorted sum would write [55, 40], putting core 0 over its capacity.
    let mut a = node("A");
    a.cores = Cores {
        capacity: vec![50.0, 100.0],
        used: vec![0.0, 40.0],
    };
    let s = svc("s", 100.0, 100.0, &[55.0]);
    let mut c = Cluster::new(vec![a], vec![s]).expect("cluster");
    let p = plan(&mut c, &PlacementConfig::default(), false);
    assert_eq!(p.placements.len(), 1);
    assert_eq!(c.nodes[0].cores.used, vec![0.0, 95.0]);
    assert_within_capacity(&c.nodes[0]);
}

// ---- explanations and strategies ------------------------------------------------------------

#[test]
fn every_decision_explains_every_node() {
    let mut a = node("A");
    a.cpu.used = 3900.0;
    let mut b = node("B");
    b.cordoned = true;
    let mut gpu_node = node("G");
    gpu_node.accelerator.insert("GPU0", gpu(100.0, 0.0));
    let s = svc("s", 500.0, 100.0, &[50.0]);
    let mut c = Cluster::new(vec![a, b, gpu_node, node("D")], vec![s]).expect("cluster");
    let p = plan(&mut c, &PlacementConfig::default(), true);
    let d = &p.decisions[0];
    assert_eq!(d.chosen.as_deref(), Some("D"));
    let failed: Vec<Option<Check>> = d.nodes.iter().map(|n| n.failed).collect();
    assert_eq!(
        failed,
        vec![Some(Check::Cpu), Some(Check::Cordoned), None, None]
    );
    assert_eq!(
        d.nodes[0].reason.as_deref(),
        Some("needs 500 millicpu, 100 free")
    );
    let g = &d.nodes[2];
    assert!(g.fits);
    assert_eq!(g.rank_proc, Some(350.0 / 400.0));
    assert_eq!(g.rank_mem, Some(3996.0 / 4096.0));
    assert_eq!(g.score, Some(350.0 / 400.0 + 3996.0 / 4096.0));
    // With explain off the plan is the same, and no decisions are kept.
    let mut again = Cluster::new(
        vec![
            {
                let mut a = node("A");
                a.cpu.used = 3900.0;
                a
            },
            {
                let mut b = node("B");
                b.cordoned = true;
                b
            },
            {
                let mut g = node("G");
                g.accelerator.insert("GPU0", gpu(100.0, 0.0));
                g
            },
            node("D"),
        ],
        vec![svc("s", 500.0, 100.0, &[50.0])],
    )
    .expect("cluster");
    let q = plan(&mut again, &PlacementConfig::default(), false);
    assert!(q.decisions.is_empty());
    assert_eq!(q.placements, p.placements);
}

#[test]
fn unplaced_services_say_why() {
    let s = svc("s", 5000.0, 100.0, &[50.0]);
    let mut c = Cluster::new(vec![node("A")], vec![s]).expect("cluster");
    let p = plan(&mut c, &PlacementConfig::default(), false);
    assert_eq!(
        p.unplaced[0].reason,
        "no node has 5000 millicpu free (the most is 4000)"
    );
    let s = svc("s", 100.0, 100.0, &[50.0, 50.0, 50.0, 50.0, 50.0]);
    let mut c = Cluster::new(vec![node("A"), node("B")], vec![s]).expect("cluster");
    let p = plan(&mut c, &PlacementConfig::default(), false);
    assert_eq!(
        p.unplaced[0].reason,
        "no node fits (2 nodes rejected: core_count 2)"
    );
}

#[test]
fn strategies_parse_from_numbers_and_names() {
    for (text, st) in [
        ("0", Strategy::FirstFit),
        ("first-fit", Strategy::FirstFit),
        ("1", Strategy::MaxHeadroom),
        ("max-headroom", Strategy::MaxHeadroom),
        ("2", Strategy::TightPack),
        ("TIGHT-PACK", Strategy::TightPack),
    ] {
        assert_eq!(text.parse::<Strategy>().expect(text), st);
    }
    let e = "best-fit"
        .parse::<Strategy>()
        .expect_err("inverted ROHE name");
    assert_eq!(e.field.as_deref(), Some("strategy"));
    let cfg: PlacementConfig = crate::yaml::parse(
        "strategy: 2\nweights: {cpu: 1, memory: 0.5}\nservice_queue: {priority: 1, queue_balance: 2}\n",
        "orchestration.yaml",
    )
    .expect("config");
    assert_eq!(cfg.strategy, Strategy::TightPack);
    assert_eq!(cfg.weights.memory, 0.5);
    let e = crate::yaml::parse::<PlacementConfig>("weights: {cpu: 1}\n", "o.yaml")
        .expect_err("missing memory weight");
    assert_eq!(e.field.as_deref(), Some("weights.memory"));
}

#[test]
fn the_same_input_gives_the_same_plan() {
    let cfg = PlacementConfig::default();
    let mut a = fixture_cluster();
    let mut b = fixture_cluster();
    let pa = plan(&mut a, &cfg, false);
    let pb = plan(&mut b, &cfg, false);
    assert_eq!(pa, pb);
    assert_eq!(a, b);
    let ids: HashSet<&str> = pa
        .placements
        .iter()
        .map(|p| p.instance_id.as_str())
        .collect();
    assert_eq!(ids.len(), pa.placements.len());
}

// ---- properties -------------------------------------------------------------------------------

fn assert_within_capacity(n: &Node) {
    assert!(n.cpu.used <= n.cpu.capacity, "{}: cpu", n.node_name);
    assert!(
        n.memory.used.rss <= n.memory.capacity.rss,
        "{}: rss",
        n.node_name
    );
    for (u, c) in n.cores.used.iter().zip(&n.cores.capacity) {
        assert!(u <= c, "{}: core {u} > {c}", n.node_name);
    }
    for (name, d) in n.accelerator.iter() {
        assert!(d.used <= d.capacity, "{}: {name}", n.node_name);
    }
}

mod properties {
    use super::*;
    use proptest::prelude::{ProptestConfig, any, prop, prop_assert, prop_assert_eq, proptest};
    use proptest::strategy::Strategy as Gen;

    fn arb_node(i: usize) -> impl Gen<Value = Node> {
        (
            1u32..=16,
            1u32..=16,
            prop::collection::vec(1u32..=4, 1..=8),
            prop::collection::vec(0u32..=3, 0..=2),
            any::<bool>(),
        )
            .prop_map(move |(cpu, mem, cores, gpus, cordoned)| {
                let mut n = node(&format!("n{i}"));
                n.cpu.capacity = f64::from(cpu) * 500.0;
                n.memory.capacity.rss = f64::from(mem) * 512.0;
                n.cores = Cores {
                    capacity: cores.iter().map(|c| f64::from(*c) * 50.0).collect(),
                    used: vec![0.0; cores.len()],
                };
                for (g, used) in gpus.iter().enumerate() {
                    n.accelerator
                        .insert(format!("GPU{g}"), gpu(100.0, f64::from(*used) * 25.0));
                }
                n.cordoned = cordoned && i.is_multiple_of(3);
                n
            })
    }

    fn arb_service(i: usize) -> impl Gen<Value = Service> {
        (
            0u32..=8,
            0u32..=8,
            prop::collection::vec(0u32..=10, 0..=6),
            0u32..=4,
            1u32..=5,
            0u8..=3,
        )
            .prop_map(move |(cpu, mem, cores, g, replicas, sensitivity)| {
                let mut s = svc(
                    &format!("s{i}"),
                    f64::from(cpu) * 250.0,
                    f64::from(mem) * 256.0,
                    &cores
                        .iter()
                        .map(|c| f64::from(*c) * 10.0)
                        .collect::<Vec<_>>(),
                );
                s.accelerator_required = if g == 4 {
                    OrderedMap::new()
                } else {
                    OrderedMap(vec![("gpu".into(), f64::from(g) * 15.0)])
                };
                s.replicas = replicas;
                s.sensitivity = sensitivity;
                s
            })
    }

    fn arb_cluster() -> impl Gen<Value = Cluster> {
        (1usize..=8, 1usize..=10).prop_flat_map(|(n, s)| {
            let nodes: Vec<_> = (0..n).map(arb_node).collect();
            let services: Vec<_> = (0..s).map(arb_service).collect();
            // Half the clusters repeat every service under another id: identical requirements
            // are what the verdict cache reuses.
            (nodes, services, any::<bool>()).prop_map(|(nodes, mut services, repeat)| {
                if repeat {
                    let copies: Vec<Service> = services
                        .iter()
                        .map(|s| Service {
                            service_id: format!("{}-copy", s.service_id),
                            ..s.clone()
                        })
                        .collect();
                    services.extend(copies);
                }
                Cluster { nodes, services }
            })
        })
    }

    fn arb_config() -> impl Gen<Value = PlacementConfig> {
        (0u8..=2, 0u8..=3, 0u32..=3, 0u32..=4, 1u32..=4).prop_map(|(st, p, b, wc, wm)| {
            PlacementConfig {
                strategy: Strategy::ALL[st as usize],
                weights: Weights {
                    cpu: f64::from(wc) * 0.5,
                    memory: f64::from(wm) * 0.5,
                },
                service_queue: QueueConfig {
                    priority: p,
                    queue_balance: b,
                },
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn no_node_ever_exceeds_capacity(mut c in arb_cluster(), cfg in arb_config(), shrink in 0u32..=3) {
            for n in &c.nodes {
                assert_within_capacity(n);
            }
            plan(&mut c, &cfg, false);
            for n in &c.nodes {
                assert_within_capacity(n);
            }
            // Placed instances are accounted for on both sides.
            for s in &c.services {
                prop_assert!(s.running <= s.replicas);
                prop_assert_eq!(s.node.values().sum::<u32>(), s.running);
                prop_assert_eq!(s.instance_ids.len() as u32, s.running);
                let on_nodes: u32 = c.nodes.iter().map(|n| n.instances_of(&s.service_id)).sum();
                prop_assert_eq!(on_nodes, s.running);
            }
            // Scale in, run again: still within capacity and never below zero.
            for s in &mut c.services {
                s.replicas = s.replicas.saturating_sub(shrink);
            }
            plan(&mut c, &cfg, false);
            for n in &c.nodes {
                assert_within_capacity(n);
                prop_assert!(n.cpu.used >= 0.0 && n.memory.used.rss >= 0.0);
                prop_assert!(n.cores.used.iter().all(|u| *u >= 0.0));
            }
            for s in &c.services {
                prop_assert!(s.running <= s.replicas);
            }
        }

        #[test]
        /// Also compares the fast path (cached verdicts, skipped scans) with `explain`, which
        /// evaluates every node afresh.
        fn the_same_input_always_gives_the_same_plan(c in arb_cluster(), cfg in arb_config()) {
            let mut a = c.clone();
            let mut b = c.clone();
            let pa = plan(&mut a, &cfg, false);
            let pb = plan(&mut b, &cfg, true);
            prop_assert_eq!(&pa.placements, &pb.placements);
            prop_assert_eq!(&pa.unplaced.iter().map(|u| (&u.service_id, u.missing)).collect::<Vec<_>>(),
                            &pb.unplaced.iter().map(|u| (&u.service_id, u.missing)).collect::<Vec<_>>());
            prop_assert_eq!(&a, &b);
            let mut again = c.clone();
            prop_assert_eq!(plan(&mut again, &cfg, false), pa);
        }

        #[test]
        fn scaling_to_zero_gives_every_resource_back(c in arb_cluster(), cfg in arb_config()) {
            let mut c = c;
            let before = c.nodes.clone();
            plan(&mut c, &cfg, false);
            for s in &mut c.services {
                s.replicas = 0;
            }
            plan(&mut c, &cfg, false);
            for (n, b) in c.nodes.iter().zip(&before) {
                prop_assert!((n.cpu.used - b.cpu.used).abs() < 1e-9);
                prop_assert!((n.memory.used.rss - b.memory.used.rss).abs() < 1e-9);
                let total = |v: &[f64]| v.iter().sum::<f64>();
                prop_assert!((total(&n.cores.used) - total(&b.cores.used)).abs() < 1e-9);
                // Which device carried an instance is not recorded: totals per type come back.
                let gpus = |n: &Node| n.accelerator.values().map(|d| d.used).sum::<f64>();
                prop_assert!((gpus(n) - gpus(b)).abs() < 1e-9);
                prop_assert!(n.services.is_empty());
            }
        }
    }
}
