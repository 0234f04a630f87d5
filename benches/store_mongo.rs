//! MongoDB Store benchmark (issue 6). Prints figures; asserts nothing about time.
//!
//!   cargo bench --bench store_mongo
//!
//! Uses the MongoDB-wire server of the tests: `$ROHE_TEST_MONGODB_URL`, else the FerretDB that
//! `.ci/run` starts at 127.0.0.1:37017 (without either it says so and exits).
//!
//! Stored reports per second into the server through the agent, as a ratio to a plain bulk
//! insert of the same documents, measured in the same run:
//! - plain: the documents the store would write for N demo reports (SPE2024 profiles,
//!   ~2.3 KB), built beforehand, `insert_many` (unordered) in batches of 500 (the agent's
//!   default batch) into a fresh collection. Only the inserts are timed.
//! - agent: the same N reports waiting in the in-process bus; the time until the agent has
//!   decoded, stored through the MongoDB Store, acknowledged and windowed all of them
//!   (default cctvs config), as in `cargo bench --bench agent`.
//!
//! The two alternate (plain, agent, plain, agent) so that a drift of the machine shows.

use mongodb::bson::Document;
use rohe::adapters::embedded::MemoryBus;
use rohe::adapters::mongo::{MongoStore, report_document};
use rohe::agent::{AgentIo, AgentOptions, LogRing, run_agent};
use rohe::domain::app::Application;
use rohe::domain::demo::{DemoGenerator, DemoReport};
use rohe::ops::{Ops, Request, Source};
use rohe::ports::bus::{Bus, Topology};
use rohe::ports::store::{Store, StoredReport};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const BATCH: usize = 500;

async fn register(store: &Arc<dyn Store>, name: &str) -> Application {
    let ops = Ops::new(
        store.clone(),
        rohe::config::Config::default().connector_settings(),
        Source::Cli,
    );
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("example/applications/cctvs.yaml"),
    )
    .unwrap()
    .replace(
        "application_name: cctvs",
        &format!("application_name: {name}"),
    );
    let spec = rohe::ops::registration::parse_spec(&text, "cctvs.yaml").unwrap();
    ops.execute(Request::RegisterApp {
        spec,
        file: None,
        dry_run: false,
    })
    .await
    .unwrap();
    store.get_app(name).await.unwrap().unwrap().value
}

fn reports(app: &Application, n: usize) -> Vec<DemoReport> {
    let mut g = DemoGenerator::new(app, 1);
    (0..n)
        .map(|i| g.next_report(1_764_000_000.0 + i as f64 * 0.01))
        .collect()
}

/// Plain bulk insert of the documents the store writes for these reports.
async fn plain(url: &str, app: &Application, all: &[DemoReport], round: usize) -> f64 {
    let now = chrono::Utc::now();
    let docs: Vec<Document> = all
        .iter()
        .map(|r| {
            report_document(&StoredReport {
                app_id: app.app_id,
                report_id: r.message_id.clone(),
                run_id: app.run_id.clone(),
                received_at: now,
                body: serde_json::from_slice(&r.body).unwrap(),
            })
            .unwrap()
        })
        .collect();
    let client = mongodb::Client::with_uri_str(url).await.unwrap();
    let db = client.database(&format!("rohe_bench_plain_{}_{round}", std::process::id()));
    let coll = db.collection::<Document>("metric_collection_plain");
    // The same index the store keeps on a metric collection.
    coll.create_index(
        mongodb::IndexModel::builder()
            .keys(mongodb::bson::doc! {"received_us": 1})
            .build(),
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut it = docs.into_iter().peekable();
    while it.peek().is_some() {
        let chunk: Vec<Document> = it.by_ref().take(BATCH).collect();
        coll.insert_many(chunk).ordered(false).await.unwrap();
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    db.drop().await.unwrap();
    rate
}

/// The agent storing the same reports through the MongoDB Store.
async fn agent(store: &Arc<dyn Store>, app: &Application, all: &[DemoReport]) -> f64 {
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let t = Topology::for_app(app);
    bus.declare(&t).await.unwrap();
    for r in all {
        bus.publish(&t.exchange, &r.routing_key, &r.body, Some(&r.message_id))
            .await
            .unwrap();
    }
    let io = AgentIo::new(store.clone(), bus, Arc::new(LogRing::new(100)));
    let (stop, rx) = watch::channel(false);
    let cfg = rohe::ops::agents::default_config(app);
    let started = Instant::now();
    let task = {
        let (app, io) = (app.clone(), io.clone());
        tokio::spawn(async move {
            let _ = run_agent(app, cfg, io, AgentOptions::default(), rx).await;
        })
    };
    let n = all.len() as u64;
    while io.health.lock().unwrap().stored < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = task.await;
    assert_eq!(store.count_reports(app.app_id).await.unwrap(), n);
    rate
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = match rohe::adapters::mongo::test_server_url().await {
            Ok(u) => u,
            Err(why) => {
                println!("MongoDB benchmark skipped: {why}");
                return;
            }
        };
        let n: usize = std::env::var("ROHE_BENCH_REPORTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000);
        let mongo = Arc::new(
            MongoStore::open(
                &url,
                &format!("rohe_bench_{}", std::process::id()),
            )
            .unwrap(),
        );
        mongo.connect().await.unwrap();
        let store: Arc<dyn Store> = mongo.clone();
        println!(
            "MongoDB-wire server: {}; {n} reports, batches of {BATCH}",
            store.info().location
        );
        let mut ratios = Vec::new();
        for round in 0..2 {
            let app = register(&store, &format!("bm{round}")).await;
            let all = reports(&app, n);
            let base = plain(&url, &app, &all, round).await;
            let through = agent(&store, &app, &all).await;
            let ratio = through / base;
            ratios.push(ratio);
            println!(
                "round {}: plain insert_many {base:.0} docs/s, agent {through:.0} reports/s, ratio {ratio:.2}",
                round + 1
            );
            store.purge_metrics(app.app_id).await.unwrap();
        }
        println!(
            "ratio agent / plain bulk insert: {:.2} (mean of {} rounds; target >= 0.7)",
            ratios.iter().sum::<f64>() / ratios.len() as f64,
            ratios.len()
        );
        mongo.drop_database().await.unwrap();
    });
}
