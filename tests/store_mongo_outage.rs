//! Fault tests: the MongoDB-wire server stops for 10 s and comes back.
//!
//! 1. During a stream: an observation agent stores reports through the MongoDB Store while
//!    the server is stopped for 10 s. The agent holds the batch it could not store
//!    unacknowledged and retries with backoff; afterwards every published report is stored
//!    exactly once (none confirmed and lost, none doubled), and reads fail in bounded time
//!    during the outage instead of hanging.
//! 2. The console (the real binary in tmux) stays up while the server is away, marks the
//!    view stale ("cannot load ... showing data from ... ago") and recovers by itself.
//!
//! These tests stop and restart the server, so they run a FerretDB of their own (on a free
//! port, data under a temporary directory): the binary is `$ROHE_TEST_FERRETDB`, else
//! `ferretdb` on the PATH, else `$HOME/go/bin/ferretdb` (where `.ci/run` installs it). Without
//! it they are skipped with a message, unless `ROHE_TEST_REQUIRE_MONGODB=1` (set by `.ci/run`).

mod common;
use common::tmux::Tmux;
use rohe::adapters::embedded::MemoryBus;
use rohe::adapters::mongo::MongoStore;
use rohe::agent::{AgentIo, AgentOptions, LogRing, run_agent};
use rohe::domain::app::Application;
use rohe::domain::demo::DemoGenerator;
use rohe::ops::{Ops, Request, Source};
use rohe::ports::bus::{Bus, Topology};
use rohe::ports::store::{Store, TimeRange};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const OUTAGE: Duration = Duration::from_secs(10);

fn ferretdb_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ROHE_TEST_FERRETDB").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("ferretdb"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let p = PathBuf::from(std::env::var_os("HOME")?).join("go/bin/ferretdb");
        p.is_file().then_some(p)
    })
}

fn require() -> bool {
    std::env::var("ROHE_TEST_REQUIRE_MONGODB").as_deref() == Ok("1")
}

/// A FerretDB process of this test's own, stopped and restarted at will, killed on drop.
struct Server {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Server {
    fn start(bin: PathBuf, dir: &Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut s = Server {
            bin,
            dir: dir.to_path_buf(),
            port,
            child: None,
        };
        s.resume();
        s
    }

    fn url(&self) -> String {
        format!("mongodb://127.0.0.1:{}/", self.port)
    }

    /// Start (again) on the same port and data, and wait until it accepts connections.
    fn resume(&mut self) {
        let data = self.dir.join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("ferretdb.log"))
            .expect("log file");
        let child = Command::new(&self.bin)
            .arg("--handler=sqlite")
            .arg(format!("--sqlite-url=file:{}/", data.display()))
            .arg(format!("--state-dir={}", self.dir.display()))
            .arg(format!("--listen-addr=127.0.0.1:{}", self.port))
            .arg("--debug-addr=-")
            .arg("--telemetry=disable")
            .arg("--log-level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start ferretdb");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "FerretDB did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop it the way a service manager does (SIGTERM), and wait until it is gone.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on the pid of our own child process.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err(),
            "the server still answers"
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The FerretDB binary, or None (skip) with a message.
fn binary_or_skip(test: &str) -> Option<PathBuf> {
    match ferretdb_binary() {
        Some(b) => Some(b),
        None if require() => {
            panic!("ROHE_TEST_REQUIRE_MONGODB=1 but no ferretdb binary (set ROHE_TEST_FERRETDB)")
        }
        None => {
            eprintln!("{test}: no ferretdb binary (ROHE_TEST_FERRETDB, PATH, ~/go/bin): skipped");
            None
        }
    }
}

async fn register(store: &Arc<dyn Store>, name: &str) -> Application {
    let ops = Ops::new(
        store.clone(),
        rohe::config::Config::default().connector_settings(),
        Source::Cli,
    );
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("example/applications/cctvs.yaml"),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stopped_for_10s_during_a_stream_loses_no_report() {
    let _watchdog = common::Watchdog::new(
        400,
        "server_stopped_for_10s_during_a_stream_loses_no_report",
    );
    let Some(bin) = binary_or_skip("outage during a stream") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(bin, dir.path());
    let mongo = Arc::new(MongoStore::open(&server.url(), "rohe_outage").unwrap());
    mongo.connect().await.unwrap();
    let store: Arc<dyn Store> = mongo.clone();
    let app = register(&store, "outage").await;

    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let topo = Topology::for_app(&app);
    bus.declare(&topo).await.unwrap();
    let io = AgentIo::new(store.clone(), bus.clone(), Arc::new(LogRing::new(100)));
    let (stop, rx) = watch::channel(false);
    let agent = {
        let (app, io) = (app.clone(), io.clone());
        let cfg = rohe::ops::agents::default_config(&app);
        tokio::spawn(async move { run_agent(app, cfg, io, AgentOptions::default(), rx).await })
    };

    // A stream of 100 reports/s for 20 s; the server is away from t = 4 s to t = 14 s.
    let rate = 100.0;
    let total = 2000usize;
    let mut g = DemoGenerator::new(&app, 7);
    let all: Vec<_> = (0..total)
        .map(|i| g.next_report(1_764_000_000.0 + i as f64 * 0.01))
        .collect();
    let publisher = {
        let (bus, topo) = (bus.clone(), topo.clone());
        tokio::spawn(async move {
            let t0 = Instant::now();
            for (i, r) in all.into_iter().enumerate() {
                tokio::time::sleep_until((t0 + Duration::from_secs_f64(i as f64 / rate)).into())
                    .await;
                bus.publish(&topo.exchange, &r.routing_key, &r.body, Some(&r.message_id))
                    .await
                    .unwrap();
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(4)).await;
    let stored_before = io.health.lock().unwrap().stored;
    assert!(stored_before > 0, "the agent stores before the outage");
    server.stop();
    let outage_started = Instant::now();

    // Reads during the outage fail, in bounded time, and say what is wrong.
    let t = Instant::now();
    let e = store
        .query_reports(app.app_id, TimeRange::last(chrono::Duration::hours(1), 100))
        .await
        .expect_err("a read with the server stopped");
    let waited = t.elapsed();
    assert!(waited < Duration::from_secs(8), "a read waited {waited:?}");
    assert!(e.to_string().contains("127.0.0.1"), "{e}");
    assert!(e.hint.as_deref().unwrap_or("").contains("running"), "{e:?}");

    tokio::time::sleep(OUTAGE.saturating_sub(outage_started.elapsed())).await;
    let during = io.health.lock().unwrap().clone();
    server.resume();
    eprintln!(
        "outage: stored {stored_before} before, {} when the server came back; agent errors {}, last: {:?}",
        during.stored, during.errors, during.last_error
    );
    assert!(during.errors > 0, "the agent noticed the outage");

    publisher.await.unwrap();
    // The store is the judge, not the agent's counters: an insert whose reply was lost in the
    // outage lands, and its retry then counts as a duplicate rather than as stored.
    let deadline = Instant::now() + Duration::from_secs(90);
    while store.count_reports(app.app_id).await.unwrap_or(0) < total as u64 {
        assert!(
            Instant::now() < deadline,
            "not every report was stored after the outage: {:?}",
            io.health.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(true);
    let _ = agent.await;
    let h = io.health.lock().unwrap().clone();
    assert_eq!(
        store.count_reports(app.app_id).await.unwrap(),
        total as u64,
        "every published report is stored once"
    );
    assert_eq!(h.dead_lettered, 0);
    assert_eq!(h.received, total as u64, "{h:?}");
    assert_eq!(h.stored + h.duplicates, total as u64, "{h:?}");
    let stored = store
        .query_reports(
            app.app_id,
            TimeRange {
                since: None,
                until: None,
                limit: 10 * total,
            },
        )
        .await
        .unwrap();
    let ids: std::collections::HashSet<_> = stored.iter().map(|r| r.report_id.clone()).collect();
    assert_eq!(ids.len(), total, "no report id twice");
    store.purge_metrics(app.app_id).await.unwrap();
}

/// The screen once `ok` accepts it; the console exiting meanwhile fails at once.
fn wait_console(tmux: &Tmux, what: &str, secs: u64, ok: impl Fn(&str) -> bool) -> String {
    tmux.wait_until(what, secs, |s| {
        if ok(s) {
            return Some(s.to_string());
        }
        assert!(!s.contains("ROHE_EXITED"), "the console exited:\n{s}");
        None
    })
}

#[test]
fn console_stays_up_marks_views_stale_and_recovers() {
    let _watchdog = common::Watchdog::new(400, "console_stays_up_marks_views_stale_and_recovers");
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux is not installed: skipping the console outage test");
        return;
    }
    let Some(bin) = binary_or_skip("console outage") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(bin, &dir.path().join("ferretdb"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store: Arc<dyn Store> =
            Arc::new(MongoStore::open(&server.url(), "rohe_console_outage").unwrap());
        register(&store, "stalecheck").await;
    });
    for d in ["data", "state", "config"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    let cfg = dir.path().join("rohe.yaml");
    // FerretDB runs without authentication here; `${VAR}` expansion and redaction of a
    // password in store.url are covered by the config and store unit tests.
    std::fs::write(
        &cfg,
        format!(
            "store:\n  backend: mongodb\n  url: mongodb://${{ROHE_TEST_HOST}}:{}/\n  database: rohe_console_outage\nconsole:\n  refresh_ms: 500\n",
            server.port
        ),
    )
    .unwrap();
    let d = dir.path().display();
    let shell = format!(
        "cd {d} && env -u NO_COLOR XDG_DATA_HOME={d}/data XDG_STATE_HOME={d}/state \
         XDG_CONFIG_HOME={d}/config ROHE_TEST_HOST=127.0.0.1 ROHE_CONFIG={} {}; echo ROHE_EXITED=$?; sleep 60",
        cfg.display(),
        env!("CARGO_BIN_EXE_rohe")
    );
    let tmux = Tmux::new("outage");
    tmux.start(160, 40, &shell);
    let s = wait_console(&tmux, "the application list", 30, |s| {
        s.contains("stalecheck")
    });
    assert!(
        s.contains("mongodb"),
        "the status line names the backend:\n{s}"
    );

    server.stop();
    let s = wait_console(&tmux, "the stale marker", 30, |s| {
        s.contains("cannot load") && s.contains("showing data from")
    });
    assert!(
        s.contains("stalecheck"),
        "the last data stays on screen:\n{s}"
    );
    assert!(!s.contains("hunter2"), "the password is on screen:\n{s}");
    std::thread::sleep(OUTAGE.saturating_sub(Duration::from_secs(3)));
    wait_console(&tmux, "the console during the outage", 1, |s| {
        !s.contains("ROHE_EXITED")
    });
    server.resume();
    wait_console(&tmux, "recovery", 60, |s| {
        !s.contains("cannot load") && s.contains("stalecheck")
    });
    tmux.cmd(&["send-keys", "-t", "e2e", "q"]);
    wait_console(&tmux, "a clean exit", 15, |s| s.contains("ROHE_EXITED=0"));
}
