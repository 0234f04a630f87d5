//! Agents as real Docker containers: the image rohe builds from its own binary, a container per
//! agent consuming from the real RabbitMQ and writing the host's store, adoption by a new rohe
//! process, and the failures an operator meets (no daemon, no image).
//!
//! Needs a Docker daemon (`$DOCKER_HOST`, which `.ci/run` starts with networking off) and
//! RabbitMQ on 127.0.0.1. Without them the tests say so and skip, except under CI (`CI` set),
//! where they fail.

mod common;
use common::{Sandbox, example};
use std::process::Command;
use std::time::{Duration, Instant};

fn docker_host() -> Option<String> {
    let host = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".into());
    let ok = Command::new("docker")
        .args(["-H", &host, "version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let broker = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:5672".parse().expect("addr"),
        Duration::from_secs(1),
    )
    .is_ok();
    if ok && broker {
        return Some(host);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "Docker ({host}: {ok}) and RabbitMQ ({broker}) are required in CI"
    );
    eprintln!("skipping: Docker ({ok}) or RabbitMQ ({broker}) is not available");
    None
}

fn docker_cmd(sb: &Sandbox, host: &str) -> Command {
    let mut c = sb.cmd();
    c.env("DOCKER_HOST", host)
        .env("ROHE__BUS__BACKEND", "amqp")
        .env("ROHE__AGENT__RUNTIME", "docker");
    c
}

fn run_ok(mut c: Command, args: &[&str]) -> String {
    let out = c.args(args).output().expect("run rohe");
    assert!(
        out.status.success(),
        "rohe {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A registered copy of the cctvs example under a name no other test run uses (container and
/// queue names are global to the daemon and the broker).
fn register_unique(sb: &Sandbox, prefix: &str) -> String {
    let name = format!("{prefix}{}", std::process::id() % 100_000);
    let text = std::fs::read_to_string(example("cctvs.yaml"))
        .expect("example")
        .replace(
            "application_name: cctvs",
            &format!("application_name: {name}"),
        );
    let f = sb.write("app.yaml", &text);
    sb.ok(&["app", "register", "-f", f.to_str().expect("path")]);
    name
}

#[test]
fn agent_runs_as_a_container_stores_reports_and_is_adopted() {
    let _watchdog = common::Watchdog::new(
        600,
        "agent_runs_as_a_container_stores_reports_and_is_adopted",
    );
    let Some(host) = docker_host() else { return };
    let sb = Sandbox::new();
    let built = run_ok(
        docker_cmd(&sb, &host),
        &["agent", "image", "build", "--output", "json"],
    );
    let built: serde_json::Value = serde_json::from_str(&built).expect("json");
    assert_eq!(
        built["image"],
        format!("rohe-agent:{}", env!("CARGO_PKG_VERSION"))
    );

    let app = register_unique(&sb, "dk");
    let started = run_ok(
        docker_cmd(&sb, &host),
        &["agent", "start", &app, "--output", "json"],
    );
    let started: serde_json::Value = serde_json::from_str(&started).expect("json");
    assert_eq!(started["runtime"], "docker");
    let id = started["handle"]
        .as_str()
        .expect("container id")
        .to_string();
    // The container carries rohe's labels.
    let labels = Command::new("docker")
        .args(["-H", &host, "inspect", "-f", "{{json .Config.Labels}}", &id])
        .output()
        .expect("inspect");
    let labels: serde_json::Value = serde_json::from_slice(&labels.stdout).expect("labels");
    assert_eq!(labels["rohe.io/app"], app.as_str());
    assert_eq!(labels["rohe.io/role"], "agent");
    // Starting again is idempotent: the same container.
    let again = run_ok(
        docker_cmd(&sb, &host),
        &["agent", "start", &app, "--output", "json"],
    );
    assert!(again.contains(&id));

    run_ok(
        docker_cmd(&sb, &host),
        &["demo", "--app", &app, "--rate", "200", "--count", "300"],
    );
    // A new rohe process (a restarted console) finds the running container by its handle and
    // sees its health: every report stored.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stored = 0;
    while Instant::now() < deadline {
        let s = run_ok(
            docker_cmd(&sb, &host),
            &["agent", "status", &app, "--output", "json"],
        );
        let s: serde_json::Value = serde_json::from_str(&s).expect("json");
        assert_eq!(s[0]["state"], "running", "{s}");
        assert_eq!(s[0]["handle"], id.as_str());
        stored = s[0]["health"]["stored"].as_u64().unwrap_or(0);
        if stored == 300 {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(stored, 300, "reports stored by the containerised agent");
    let q = sb.json(&["metrics", "query", &app, "--since", "10m"]);
    assert_eq!(q["reports"], 300, "in the host's store");
    let logs = run_ok(docker_cmd(&sb, &host), &["agent", "logs", &app]);
    assert!(logs.contains("consuming rohe."), "{logs}");

    run_ok(docker_cmd(&sb, &host), &["agent", "stop", &app, "--yes"]);
    let gone = Command::new("docker")
        .args(["-H", &host, "inspect", &id])
        .output()
        .expect("inspect");
    assert!(!gone.status.success(), "the container is removed");
}

/// The MongoDB-wire server of the store tests (`$ROHE_TEST_MONGODB_URL`, else the FerretDB
/// `.ci/run` starts on 127.0.0.1:37017), or None with a message (a failure when
/// `ROHE_TEST_REQUIRE_MONGODB=1`).
fn mongo_url() -> Option<String> {
    if let Some(url) = std::env::var("ROHE_TEST_MONGODB_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        return Some(url);
    }
    let up = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:37017".parse().expect("addr"),
        Duration::from_secs(1),
    )
    .is_ok();
    if up {
        return Some("mongodb://127.0.0.1:37017/".into());
    }
    assert!(
        std::env::var("ROHE_TEST_REQUIRE_MONGODB").as_deref() != Ok("1"),
        "ROHE_TEST_REQUIRE_MONGODB=1 but nothing listens at 127.0.0.1:37017"
    );
    eprintln!("skipping: no MongoDB-wire server (ROHE_TEST_MONGODB_URL, 127.0.0.1:37017)");
    None
}

/// Issue 6's end-to-end path on real services: a registered app, its agent as a Docker
/// container, reports through RabbitMQ, stored and analysed in MongoDB (FerretDB here), a new
/// rohe process adopting the running container, and a clean stop. Every rohe process reads
/// the sandbox's configuration file, as an operator's would.
#[test]
fn containerised_agent_stores_into_mongodb() {
    let _watchdog = common::Watchdog::new(600, "containerised_agent_stores_into_mongodb");
    let Some(host) = docker_host() else { return };
    let Some(url) = mongo_url() else { return };
    let sb = Sandbox::new();
    let database = format!("rohe_e2e_{}", std::process::id());
    let cfg_dir = sb.path().join("config/rohe");
    std::fs::create_dir_all(&cfg_dir).expect("config dir");
    std::fs::write(
        cfg_dir.join("rohe.yaml"),
        format!(
            "store:\n  backend: mongodb\n  url: {url}\n  database: {database}\nbus:\n  backend: amqp\nagent:\n  runtime: docker\n"
        ),
    )
    .expect("config");
    let with_docker = || {
        let mut c = sb.cmd();
        c.env("DOCKER_HOST", &host);
        c
    };
    run_ok(with_docker(), &["agent", "image", "build"]);
    let app = register_unique(&sb, "dm");
    let shown = sb.json(&["app", "show", &app]);
    let db = shown["application"]["db"].as_str().expect("db").to_string();

    let started = run_ok(with_docker(), &["agent", "start", &app, "--output", "json"]);
    let started: serde_json::Value = serde_json::from_str(&started).expect("json");
    assert_eq!(started["runtime"], "docker");
    let id = started["handle"]
        .as_str()
        .expect("container id")
        .to_string();
    let env = Command::new("docker")
        .args(["-H", &host, "inspect", "-f", "{{json .Config.Env}}", &id])
        .output()
        .expect("inspect");
    let env = String::from_utf8_lossy(&env.stdout);
    assert!(env.contains("ROHE__STORE__BACKEND=mongodb"), "{env}");
    assert!(
        env.contains(&format!("ROHE__STORE__DATABASE={database}")),
        "{env}"
    );

    run_ok(
        with_docker(),
        &["demo", "--app", &app, "--rate", "200", "--count", "300"],
    );
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut stored = 0;
    while Instant::now() < deadline {
        let s = run_ok(
            with_docker(),
            &["agent", "status", &app, "--output", "json"],
        );
        let s: serde_json::Value = serde_json::from_str(&s).expect("json");
        assert_eq!(s[0]["state"], "running", "{s}");
        assert_eq!(
            s[0]["handle"],
            id.as_str(),
            "the new process adopts the container"
        );
        stored = s[0]["health"]["stored"].as_u64().unwrap_or(0);
        if stored == 300 {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(stored, 300, "reports stored by the containerised agent");
    // Read back through the MongoDB store: every report, and analysis over them.
    let q = sb.json(&["metrics", "query", &app, "--since", "10m"]);
    assert_eq!(q["reports"], 300, "{q}");
    let latency = q["series"]
        .as_array()
        .expect("series")
        .iter()
        .find(|s| {
            s["category"] == "latency"
                || s["metric"].as_str().is_some_and(|m| m.contains("latency"))
        })
        .unwrap_or_else(|| panic!("a latency series: {q}"));
    assert!(latency["count"].as_u64().unwrap_or(0) > 0, "{latency}");
    assert!(
        q["windows"].as_u64().unwrap_or(0) > 0,
        "analysis windows stored: {q}"
    );
    assert!(db.starts_with(&format!("application_{app}_")), "{db}");

    run_ok(with_docker(), &["agent", "stop", &app, "--yes"]);
    let gone = Command::new("docker")
        .args(["-H", &host, "inspect", &id])
        .output()
        .expect("inspect");
    assert!(!gone.status.success(), "the container is removed");
    // Leave no database behind.
    let _ = sb
        .cmd()
        .args(["app", "unregister", &app, "--purge", "--yes"])
        .output();
}

#[test]
fn unreachable_daemon_and_missing_image_are_clear_errors_and_change_nothing() {
    let _watchdog = common::Watchdog::new(
        600,
        "unreachable_daemon_and_missing_image_are_clear_errors_and_change_nothing",
    );
    let Some(host) = docker_host() else { return };
    let sb = Sandbox::new();
    let app = register_unique(&sb, "dx");

    let mut c = docker_cmd(&sb, &host);
    c.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let out = c.args(["agent", "start", &app]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be reached"), "{err}");
    assert!(err.contains("agent.docker.host"), "{err}");
    let st = run_ok(
        docker_cmd(&sb, &host),
        &["agent", "status", &app, "--output", "json"],
    );
    let st: serde_json::Value = serde_json::from_str(&st).expect("json");
    assert_ne!(st[0]["state"], "running", "{st}");

    let mut c = docker_cmd(&sb, &host);
    c.env("ROHE__AGENT__DOCKER__IMAGE", "rohe-agent:no-such-tag");
    let out = c.args(["agent", "start", &app]).output().expect("run");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rohe agent image build"), "{err}");
    let ps = Command::new("docker")
        .args([
            "-H",
            &host,
            "ps",
            "-aq",
            "--filter",
            &format!("label=rohe.io/app={app}"),
        ])
        .output()
        .expect("ps");
    assert!(ps.stdout.is_empty(), "no container left behind");

    // Docker agents need a broker: the in-process bus cannot cross into a container.
    let out = sb
        .cmd()
        .env("ROHE__AGENT__RUNTIME", "docker")
        .args(["agent", "status"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("agent.runtime"));
}
