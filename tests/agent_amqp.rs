//! No loss through a real RabbitMQ: every report the broker confirmed is stored exactly once,
//! (1) when the broker restarts in the middle of a stream, and (2) when the agent process is
//! killed with SIGKILL and started again.
//!
//! RabbitMQ comes from `ROHE_TEST_AMQP_URL`, else `amqp://guest:guest@127.0.0.1:5672/%2f`
//! (`.ci/run` installs and starts Debian's rabbitmq-server). The broker-restart test drives
//! `rabbitmqctl stop_app` / `start_app`, so it needs the local broker; without a broker the
//! tests say so and skip, except under CI (`CI` set), where they fail. The two tests take
//! turns (a lock), since one restarts the broker the other uses.

mod common;
use common::{BIN, Sandbox, repo, within};
use rohe::adapters::amqp::AmqpBus;
use rohe::adapters::embedded::{SqliteStore, SyncMode};
use rohe::agent::{AgentIo, AgentOptions, LogRing, run_agent};
use rohe::ports::bus::{Bus, Topology};
use rohe::ports::store::Store;
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn amqp_url() -> String {
    std::env::var("ROHE_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

async fn broker_up(bus: &AmqpBus, t: &Topology) -> bool {
    match bus.declare(t).await {
        Ok(()) => true,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "RabbitMQ is required in CI: {e}"
            );
            eprintln!("agent_amqp: SKIPPING, no broker: {e}");
            false
        }
    }
}

/// A name unique per run (queues are durable and outlive the test).
fn app_name(tag: &str) -> String {
    format!("{tag}{}", std::process::id() % 100_000)
}

fn spec_yaml(name: &str) -> String {
    std::fs::read_to_string(repo().join("example/applications/cctvs.yaml"))
        .unwrap()
        .replace(
            "application_name: cctvs",
            &format!("application_name: {name}"),
        )
}

fn report(i: u64) -> Vec<u8> {
    let text = std::fs::read_to_string(repo().join("example/reports/ml_report_0.3.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["metadata"]["timestamp"] = serde_json::json!(1_721_036_282.0 + i as f64 / 100.0);
    serde_json::to_vec(&v).unwrap()
}

/// Publish reports `range` with publisher confirms, retrying each until the broker confirms
/// it (re-declaring the topology after a broker restart). Returns the confirmed ids.
async fn publish_all(
    bus: &AmqpBus,
    t: &Topology,
    range: std::ops::Range<u64>,
    pace: Duration,
) -> HashSet<String> {
    let key = format!("{}.u1.client1", t.application_name);
    let mut confirmed = HashSet::new();
    for i in range {
        let id = format!("{}-{i}", t.application_name);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            match bus.publish(&t.exchange, &key, &report(i), Some(&id)).await {
                Ok(()) => {
                    confirmed.insert(id);
                    break;
                }
                Err(e) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "report {i} was not confirmed within 90 s: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let _ = bus.declare(t).await;
                }
            }
        }
        tokio::time::sleep(pace).await;
    }
    confirmed
}

async fn wait_stored(store: &dyn Store, app_id: uuid::Uuid, n: u64, secs: u64) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let c = store.count_reports(app_id).await.unwrap();
        if c >= n || tokio::time::Instant::now() >= deadline {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn rabbitmqctl(arg: &str) {
    // Bounded by coreutils' timeout: a blocking call cannot be cancelled from the test.
    let out = Command::new("timeout")
        .args(["120", "rabbitmqctl", arg])
        .output()
        .unwrap_or_else(|e| panic!("rabbitmqctl {arg}: {e}"));
    assert!(
        out.status.success(),
        "rabbitmqctl {arg} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_in_the_middle_of_a_stream_loses_no_confirmed_report() {
    let _turn = TURN.lock().await;
    within(360, "the broker-restart test", broker_restart()).await;
}

async fn broker_restart() {
    let name = app_name("br");
    let t = Topology::named(&name);
    let publisher = AmqpBus::new(&amqp_url());
    if !broker_up(&publisher, &t).await {
        return;
    }
    if std::env::var_os("ROHE_TEST_AMQP_URL").is_some() {
        eprintln!(
            "agent_amqp: SKIPPING the broker restart: ROHE_TEST_AMQP_URL names a remote broker"
        );
        return;
    }
    let sb = Sandbox::new();
    sb.write("app.yaml", &spec_yaml(&name));
    sb.ok(&["app", "register", "-f", "app.yaml"]);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&sb.store(), SyncMode::Normal).unwrap());
    let app = store.get_app(&name).await.unwrap().unwrap().value;
    let cfg = rohe::ops::agents::default_config(&app);
    let io = AgentIo::new(
        store.clone(),
        Arc::new(AmqpBus::new(&amqp_url())),
        Arc::new(LogRing::new(1000)),
    );
    let (stop, rx) = watch::channel(false);
    let agent = tokio::spawn(run_agent(
        app.clone(),
        cfg,
        io.clone(),
        AgentOptions::default(),
        rx,
    ));

    let n = 1500u64;
    let pace = Duration::from_millis(2);
    let mut confirmed = publish_all(&publisher, &t, 0..500, pace).await;
    eprintln!("agent_amqp: 500 confirmed; restarting the broker");
    // Restart the broker while the stream goes on.
    let restart = tokio::task::spawn_blocking(|| {
        rabbitmqctl("stop_app");
        std::thread::sleep(Duration::from_secs(1));
        rabbitmqctl("start_app");
    });
    confirmed.extend(publish_all(&publisher, &t, 500..n, pace).await);
    restart.await.unwrap();
    assert_eq!(confirmed.len() as u64, n);
    eprintln!("agent_amqp: {n} confirmed; waiting for the agent to store them");

    let stored = wait_stored(&*store, app.app_id, n, 90).await;
    let _ = stop.send(true);
    let health = agent.await.unwrap().unwrap();
    assert_eq!(
        stored,
        n,
        "stored {stored} of {n} confirmed reports; health {health:?}\nlog:\n{}",
        io.log.tail(40).join("\n")
    );
    // The agent noticed the outage and came back.
    let log = io.log.tail(1000).join("\n");
    assert!(log.contains("reconnecting"), "{log}");
    assert!(health.errors >= 1);
    let _ = publisher.remove(&t).await;
}

struct AgentProcess(Child);

impl AgentProcess {
    fn start(sb: &Sandbox, name: &str) -> AgentProcess {
        let child = sb
            .cmd()
            .args(["agent", "run", "--app", name])
            .env("ROHE__BUS__BACKEND", "amqp")
            .env("ROHE__BUS__URL", amqp_url())
            .env("ROHE__AGENT__PREFETCH", "200")
            .env("ROHE__AGENT__BATCH", "100")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the agent");
        AgentProcess(child)
    }
    fn kill9(mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGKILL);
        }
        let _ = self.0.wait();
    }
    /// SIGTERM, then up to 30 s for a clean exit.
    fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        for _ in 0..300 {
            if let Some(status) = self.0.try_wait().expect("wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the agent did not exit within 30 s of SIGTERM");
    }
}

impl Drop for AgentProcess {
    /// A failing test must not leave an agent consuming from the broker.
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_agent_restarted_stores_every_confirmed_report_exactly_once() {
    let _turn = TURN.lock().await;
    within(360, "the SIGKILL test", sigkilled_agent()).await;
}

async fn sigkilled_agent() {
    let name = app_name("kl");
    let t = Topology::named(&name);
    let publisher = AmqpBus::new(&amqp_url());
    if !broker_up(&publisher, &t).await {
        return;
    }
    let _ = BIN;
    let sb = Sandbox::new();
    sb.write("app.yaml", &spec_yaml(&name));
    sb.ok(&["app", "register", "-f", "app.yaml"]);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&sb.store(), SyncMode::Normal).unwrap());
    let app = store.get_app(&name).await.unwrap().unwrap().value;

    let agent = AgentProcess::start(&sb, &name);
    let n = 3000u64;
    let mut confirmed = publish_all(&publisher, &t, 0..1200, Duration::from_micros(300)).await;
    // Kill it mid-stream, while it holds unacknowledged deliveries.
    let before = store.count_reports(app.app_id).await.unwrap();
    agent.kill9();
    confirmed.extend(publish_all(&publisher, &t, 1200..2000, Duration::ZERO).await);
    let agent = AgentProcess::start(&sb, &name);
    confirmed.extend(publish_all(&publisher, &t, 2000..n, Duration::from_micros(300)).await);
    assert_eq!(confirmed.len() as u64, n);
    let stored = wait_stored(&*store, app.app_id, n, 90).await;
    let status = agent.terminate();
    assert_eq!(
        stored, n,
        "stored {stored} of {n} (before the kill: {before})"
    );
    assert!(
        status.success(),
        "the agent exits cleanly on SIGTERM: {status:?}"
    );
    // Exactly once: the store holds one row per id, and nothing else arrived.
    assert_eq!(store.count_reports(app.app_id).await.unwrap(), n);
    let _ = publisher.remove(&t).await;
}
