//! The observation agent end to end on the in-process bus and the embedded store: malformed
//! messages end in the dead-letter queue with their reason while the agent keeps running,
//! redelivered reports are stored once, analysis documents are stored per window and group,
//! and a restarted agent resumes the window sequence.

mod common;
use rohe::adapters::embedded::{MemoryBus, SqliteStore, SyncMode};
use rohe::agent::{AgentHealth, AgentIo, AgentOptions, LogRing, run_agent};
use rohe::domain::app::Application;
use rohe::domain::stream::StreamConfig;
use rohe::ops::{Ops, Request, Source};
use rohe::ports::bus::{Bus, Topology};
use rohe::ports::store::{Store, TimeRange};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

async fn registered(store: &Arc<dyn Store>) -> Application {
    let ops = Ops::new(
        store.clone(),
        rohe::config::Config::default().connector_settings(),
        Source::Cli,
    );
    let spec =
        rohe::ops::registration::read_spec_file(&repo().join("example/applications/cctvs.yaml"))
            .expect("example spec");
    ops.execute(Request::RegisterApp {
        spec,
        file: None,
        dry_run: false,
    })
    .await
    .expect("register");
    store.get_app("cctvs").await.unwrap().unwrap().value
}

fn sample_report() -> Vec<u8> {
    std::fs::read(repo().join("example/reports/ml_report_0.3.json")).expect("sample report")
}

/// The sample report with its own timestamp and correlation id.
fn report(i: u64) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&sample_report()).unwrap();
    v["metadata"]["timestamp"] = serde_json::json!(1_721_036_282.0 + i as f64);
    v["metadata"]["corr_id"] = serde_json::json!(format!("corr-{i}"));
    serde_json::to_vec(&v).unwrap()
}

fn small_windows(app: &Application) -> StreamConfig {
    let text = std::fs::read_to_string(repo().join("example/agents/cctvs.yaml")).unwrap();
    let text = text.replace("size: {count: 100}", "size: {count: 10}");
    let cfg = StreamConfig::parse(&text, "cctvs.yaml").expect("config");
    assert_eq!(
        cfg.application_name.as_deref(),
        Some(app.application_name.as_str())
    );
    cfg
}

struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<rohe::error::Result<AgentHealth>>,
    io: AgentIo,
}

fn start(
    store: &Arc<dyn Store>,
    bus: &Arc<dyn Bus>,
    app: &Application,
    cfg: StreamConfig,
) -> Running {
    let io = AgentIo::new(store.clone(), bus.clone(), Arc::new(LogRing::new(1000)));
    let (stop, rx) = watch::channel(false);
    let opts = AgentOptions {
        prefetch: 100,
        batch: 50,
        health_every: Duration::from_millis(100),
        persist_health: false,
        ..AgentOptions::default()
    };
    let task = tokio::spawn(run_agent(app.clone(), cfg, io.clone(), opts, rx));
    Running { stop, task, io }
}

impl Running {
    fn health(&self) -> AgentHealth {
        self.io.health.lock().unwrap().clone()
    }
    async fn wait(&self, what: &str, f: impl Fn(&AgentHealth) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !f(&self.health()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}: {:?}\nlog:\n{}",
                self.health(),
                self.io.log.tail(30).join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    async fn stop(self) -> AgentHealth {
        self.stop.send(true).unwrap();
        self.task.await.unwrap().expect("agent result")
    }
}

fn deep_nesting(depth: usize) -> Vec<u8> {
    let mut s = "[".repeat(depth);
    s.push_str(&"]".repeat(depth));
    s.into_bytes()
}

/// (name, body, expected reason code)
fn malformed() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let big = {
        let mut v = b"{\"metadata\":{},\"pad\":\"".to_vec();
        v.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
        v.extend(b"\"}");
        v
    };
    vec![
        ("not JSON", b"hello, broker".to_vec(), "not_json"),
        (
            "truncated JSON",
            b"{\"metadata\": {\"timestamp\": 1".to_vec(),
            "not_json",
        ),
        ("empty body", Vec::new(), "not_json"),
        ("invalid UTF-8", vec![b'{', 0xff, 0xfe, b'}'], "not_utf8"),
        ("10 MB body", big, "too_large"),
        ("nesting depth 10,000", deep_nesting(10_000), "too_deep"),
        ("JSON null", b"null".to_vec(), ""),
        ("a number", b"42".to_vec(), ""),
        ("a string", b"\"report\"".to_vec(), ""),
        ("an array", b"[1, 2, 3]".to_vec(), ""),
        ("empty object", b"{}".to_vec(), "unknown_kind"),
        (
            "unknown kind",
            br#"{"metadata": {"timestamp": 1}, "weather": {"rain": 3}}"#.to_vec(),
            "unknown_kind",
        ),
        (
            "metadata not an object",
            br#"{"metadata": 7, "service": {}}"#.to_vec(),
            "missing_metadata",
        ),
        (
            "service is a list",
            br#"{"metadata": {"timestamp": 1}, "service": [1, 2]}"#.to_vec(),
            "wrong_type",
        ),
        (
            "docker probe with a string",
            br#"{"container_reports": "x"}"#.to_vec(),
            "",
        ),
        (
            "legacy quality not an object",
            br#"{"quality": 5}"#.to_vec(),
            "",
        ),
        (
            "duplicate keys only metadata",
            br#"{"metadata": {}, "metadata": {}}"#.to_vec(),
            "",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_go_to_the_dead_letter_queue_while_the_agent_keeps_running() {
    let _watchdog = common::Watchdog::new(
        300,
        "malformed_messages_go_to_the_dead_letter_queue_while_the_agent_keeps_running",
    );
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("s.db"), SyncMode::Normal).unwrap());
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let app = registered(&store).await;
    let topo = Topology::for_app(&app);
    let agent = start(&store, &bus, &app, small_windows(&app));
    agent.wait("connect", |h| h.connected).await;
    let key = "cctvs.aaltosea1.inference.client1";
    let bad = malformed();
    // Good and bad interleaved: every bad one between two good ones.
    let mut good = 0u64;
    for (i, (_, body, _)) in bad.iter().enumerate() {
        bus.publish(
            &topo.exchange,
            key,
            &report(i as u64),
            Some(&format!("good-{i}")),
        )
        .await
        .unwrap();
        good += 1;
        bus.publish(&topo.exchange, key, body, Some(&format!("bad-{i}")))
            .await
            .unwrap();
    }
    let n_bad = bad.len() as u64;
    agent
        .wait("all handled", |h| h.received == good + n_bad)
        .await;
    let h = agent.health();
    assert_eq!(h.dead_lettered, n_bad, "{h:?}");
    assert_eq!(h.stored, good);
    assert_eq!(store.count_reports(app.app_id).await.unwrap(), good);
    let dead = bus.peek_dead_letters(&topo, 100).await.unwrap();
    assert_eq!(dead.len(), bad.len());
    for ((name, body, reason), d) in bad.iter().zip(&dead) {
        assert_eq!(d.bytes, body.len(), "{name}");
        assert_eq!(d.routing_key, key, "{name}");
        assert!(!d.reason.is_empty(), "{name}: no reason");
        if !reason.is_empty() {
            assert!(
                d.reason.starts_with(reason),
                "{name}: reason {:?}",
                d.reason
            );
        }
    }
    // Still running: a later good report is stored.
    bus.publish(&topo.exchange, key, &report(999), Some("after"))
        .await
        .unwrap();
    agent
        .wait("the later report", |h| h.stored == good + 1)
        .await;
    assert!(agent.health().connected);
    let log = agent.io.log.tail(100).join("\n");
    assert!(log.contains("dead-lettered a message from"), "{log}");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_reports_are_stored_once_and_windows_resume_after_a_restart() {
    let _watchdog = common::Watchdog::new(
        300,
        "redelivered_reports_are_stored_once_and_windows_resume_after_a_restart",
    );
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("s.db"), SyncMode::Normal).unwrap());
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let app = registered(&store).await;
    let topo = Topology::for_app(&app);
    let cfg = small_windows(&app);
    let agent = start(&store, &bus, &app, cfg.clone());
    agent.wait("connect", |h| h.connected).await;
    let key = "cctvs.aaltosea1.client1";
    // Ten at a time, each window analysed before the next: a window that closes while two
    // wait for the analyser is skipped by design, and this test is about numbering.
    for group in 0..3u64 {
        for i in group * 10..(group + 1) * 10 {
            bus.publish(&topo.exchange, key, &report(i), Some(&format!("r-{i}")))
                .await
                .unwrap();
        }
        agent
            .wait("the group's window analysed", |h| h.windows > group)
            .await;
    }
    // The same message ids again (a publisher retry, a redelivery): stored once.
    for i in 0..10u64 {
        bus.publish(&topo.exchange, key, &report(i), Some(&format!("r-{i}")))
            .await
            .unwrap();
    }
    // Without a message id the body decides: the same bytes twice are one report.
    bus.publish(&topo.exchange, key, &report(500), None)
        .await
        .unwrap();
    bus.publish(&topo.exchange, key, &report(500), None)
        .await
        .unwrap();
    agent.wait("all received", |h| h.received == 42).await;
    agent
        .wait("three windows analysed", |h| h.windows >= 3)
        .await;
    let h = agent.stop().await;
    assert_eq!(h.stored, 31, "{h:?}");
    assert_eq!(h.duplicates, 11);
    assert_eq!(store.count_reports(app.app_id).await.unwrap(), 31);

    let all = TimeRange {
        since: None,
        until: None,
        limit: 10_000,
    };
    let docs = store.query_analysis(app.app_id, all).await.unwrap();
    let groups = cfg.groups.len();
    let windows: std::collections::BTreeSet<_> = docs.iter().map(|d| d.window_id.clone()).collect();
    assert!(
        ["w1", "w2", "w3"].iter().all(|w| windows.contains(*w)),
        "{windows:?}"
    );
    assert_eq!(
        windows.len() as u64,
        h.windows,
        "every analysed window is stored: {h:?}"
    );
    assert_eq!(
        docs.len(),
        windows.len() * groups,
        "one document per window and group"
    );
    let w1: Vec<_> = docs.iter().filter(|d| d.window_id == "w1").collect();
    let e2e = w1
        .iter()
        .find(|d| d.result.group == ["latency_e2e"])
        .expect("the e2e group");
    assert_eq!(e2e.result.rows, 10);
    let stats = &e2e.result.stats["latency_e2e"];
    assert_eq!(stats.count, 10);
    assert!((stats.p95.unwrap() - 0.685).abs() < 0.001, "{stats:?}");
    // The sample's end-to-end latency is 0.685 s: above the contract's p95 limit of 0.5 s.
    assert!(
        e2e.result
            .violations
            .iter()
            .any(|v| v.column == "latency_e2e"),
        "{:?}",
        e2e.result.violations
    );
    let last = store.last_window_seq(app.app_id).await.unwrap();
    assert!(last >= 3);

    // A restarted agent continues the sequence instead of overwriting w1.
    let agent = start(&store, &bus, &app, cfg);
    agent.wait("connect", |h| h.connected).await;
    for i in 100..110u64 {
        bus.publish(&topo.exchange, key, &report(i), Some(&format!("r-{i}")))
            .await
            .unwrap();
    }
    agent
        .wait("one more window", |h| h.windows == last + 1)
        .await;
    agent.stop().await;
    let docs = store.query_analysis(app.app_id, all).await.unwrap();
    assert!(docs.iter().any(|d| d.window_id == format!("w{}", last + 1)));
    assert_eq!(store.count_reports(app.app_id).await.unwrap(), 41);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_viewers_receive_each_window_and_the_metrics_view_summarises_it() {
    let _watchdog = common::Watchdog::new(
        300,
        "live_viewers_receive_each_window_and_the_metrics_view_summarises_it",
    );
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("s.db"), SyncMode::Normal).unwrap());
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let app = registered(&store).await;
    let topo = Topology::for_app(&app);
    let agent = start(&store, &bus, &app, small_windows(&app));
    let mut live = agent.io.results.subscribe();
    agent.wait("connect", |h| h.connected).await;
    for i in 0..20u64 {
        bus.publish(
            &topo.exchange,
            "cctvs.u.client1",
            &report(i),
            Some(&format!("v-{i}")),
        )
        .await
        .unwrap();
    }
    let first = tokio::time::timeout(Duration::from_secs(10), live.recv())
        .await
        .expect("a live result")
        .unwrap();
    assert_eq!(first[0].window_id, "w1");
    agent.wait("two windows", |h| h.windows == 2).await;
    agent.stop().await;

    let ops = Ops::new(
        store.clone(),
        rohe::config::Config::default().connector_settings(),
        Source::Cli,
    );
    let view = ops
        .metrics_view(
            "cctvs",
            &rohe::ops::metrics::MetricsQuery {
                buckets: 4,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(view.reports, 20);
    assert_eq!(view.windows, 2);
    let e2e = view.e2e().expect("e2e row");
    assert_eq!(e2e.count, 20);
    // Every copy of the sample has the same stage timings.
    assert!((e2e.p50.unwrap() - e2e.p99.unwrap()).abs() < 1e-9);
    let inference: Vec<_> = view
        .series
        .iter()
        .filter(|r| {
            r.stage.as_deref() == Some("ml_inference_ensemble") && r.metric == "response_time"
        })
        .collect();
    assert!(inference.iter().any(|r| r.instance.is_none()));
    assert!(inference.iter().any(|r| r.instance.is_some()));
    assert!(view.violations.iter().any(|v| v.column == "latency_e2e"));
    assert_eq!(view.buckets.iter().map(|b| b.reports).sum::<usize>(), 20);
}

/// Windows overlap (the last 100 reports, every 10), so one outlying report is flagged by many
/// windows; the health counts it once per feature group. Demo reports with shared-resource
/// episodes give real outliers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anomaly_count_is_of_reports_not_of_window_verdicts() {
    let _watchdog = common::Watchdog::new(300, "the_anomaly_count_is_of_reports");
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("s.db"), SyncMode::Normal).unwrap());
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let app = registered(&store).await;
    let topo = Topology::for_app(&app);
    let cfg = StreamConfig::parse(
        &std::fs::read_to_string(repo().join("example/agents/cctvs.yaml")).unwrap(),
        "cctvs.yaml",
    )
    .expect("config");
    let agent = start(&store, &bus, &app, cfg);
    agent.wait("connect", |h| h.connected).await;
    let mut g = rohe::domain::demo::DemoGenerator::new(&app, 11);
    for block in 0..20u64 {
        for i in 0..10u64 {
            let r = g.next_report(1_764_000_000.0 + (block * 10 + i) as f64 * 0.1);
            bus.publish(&topo.exchange, &r.routing_key, &r.body, Some(&r.message_id))
                .await
                .unwrap();
        }
        // One window at a time, so none is skipped and every verdict is stored.
        agent
            .wait("the block's window", |h| h.windows > block)
            .await;
    }
    let h = agent.stop().await;
    let docs = store
        .query_analysis(
            app.app_id,
            TimeRange {
                since: None,
                until: None,
                limit: 100_000,
            },
        )
        .await
        .unwrap();
    let verdicts: usize = docs.iter().map(|d| d.result.anomalies.len()).sum();
    let mut distinct = std::collections::HashSet::new();
    let mut untimed = 0u64;
    for d in &docs {
        for a in &d.result.anomalies {
            match a.ts {
                Some(ts) => {
                    distinct.insert((d.group_key(), ts.to_bits()));
                }
                None => untimed += 1,
            }
        }
    }
    assert!(!distinct.is_empty(), "the demo's episodes give outliers");
    assert!(
        verdicts as u64 > distinct.len() as u64 + untimed,
        "overlapping windows flag reports more than once ({verdicts} verdicts)"
    );
    assert_eq!(h.anomalies, distinct.len() as u64 + untimed, "{h:?}");
}
