//! The QoA4ML configs rohe generates are accepted by the real QoA4ML Python client.
//!
//! The test installs `qoa4ml` from PyPI into a virtual environment under `target/` (once;
//! later runs reuse it), or uses the interpreter named by `ROHE_TEST_PYTHON`. If neither can
//! be had, it fails and says why: a skipped interop test would hide a broken contract.

mod common;
use common::{Sandbox, example, repo};
use std::path::PathBuf;
use std::process::Command;

const QOA4ML_VERSION: &str = "0.3.18";

/// The interpreter with qoa4ml installed. The tests of this binary run in parallel threads:
/// the first one installs, the others wait for it (one scratch directory per process).
fn python_with_qoa4ml() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(install_qoa4ml).clone()
}

fn install_qoa4ml() -> PathBuf {
    if let Ok(p) = std::env::var("ROHE_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = repo()
        .join("target")
        .join(format!("qoa4ml-{QOA4ML_VERSION}-venv"));
    let py = venv.join("bin/python");
    let has = |py: &PathBuf| {
        Command::new(py)
            .args(["-c", "import qoa4ml.config.configs"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has(&py) {
        return py;
    }
    // Build in a scratch directory and rename, so parallel runs never see half an install.
    let scratch = repo()
        .join("target")
        .join(format!("qoa4ml-venv-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let run = |cmd: &mut Command, what: &str| {
        let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {what}: {e}; the QoA4ML interop test needs python3 with venv and access to PyPI"));
        assert!(
            out.status.success(),
            "{what} failed; the QoA4ML interop test needs python3 with venv and access to PyPI\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&scratch),
        "python3 -m venv",
    );
    run(
        Command::new(scratch.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("qoa4ml=={QOA4ML_VERSION}"),
        ]),
        "pip install qoa4ml",
    );
    if std::fs::rename(&scratch, &venv).is_err() {
        // Another run won the race; use its environment.
        let _ = std::fs::remove_dir_all(&scratch);
    }
    // A moved venv still runs `python -c`; only its scripts' shebangs name the old path.
    assert!(has(&py), "qoa4ml is not importable from {}", py.display());
    py
}

const CHECK: &str = r#"
import json, sys, uuid
from qoa4ml.utils.qoa_utils import load_config
from qoa4ml.config.configs import ClientConfig, AMQPConnectorConfig
from qoa4ml.lang.datamodel_enum import ServiceAPIEnum
out = []
for path in sys.argv[1:]:
    cfg = ClientConfig.model_validate(load_config(path))
    # QoA4ML 0.3 calls uuid.UUID(instance_id) when the client starts.
    uuid.UUID(cfg.client.instance_id)
    conn = cfg.connector[0]
    assert conn.connector_class == ServiceAPIEnum.amqp, conn.connector_class
    assert isinstance(conn.config, AMQPConnectorConfig), type(conn.config)
    out.append({
        "application_name": cfg.client.application_name,
        "stage_id": cfg.client.stage_id,
        "instance_id": cfg.client.instance_id,
        "functionality": cfg.client.functionality,
        "role": cfg.client.role,
        "run_id": cfg.client.run_id,
        "user_id": cfg.client.user_id,
        "exchange_name": conn.config.exchange_name,
        "exchange_type": conn.config.exchange_type,
        "out_routing_key": conn.config.out_routing_key,
        "registration_url": cfg.registration_url,
    })
print(json.dumps(out))
"#;

#[test]
fn real_qoa4ml_accepts_generated_configs() {
    let _watchdog = common::Watchdog::new(900, "real_qoa4ml_accepts_generated_configs");
    let py = python_with_qoa4ml();
    let sb = Sandbox::new();
    let out_dir = sb.path().join("qoa");
    let mut expected = Vec::new();
    for file in [
        "cctvs.yaml",
        "bts.yaml",
        "kpi.yaml",
        "object_detection.yaml",
    ] {
        let r = sb.json(&["app", "register", "-f", example(file).to_str().unwrap()]);
        let name = r["application"]["application_name"]
            .as_str()
            .unwrap()
            .to_string();
        let out = sb
            .cmd()
            .env(
                "ROHE__QOA4ML__REGISTRATION_URL",
                "http://head:5010/registration",
            )
            .args([
                "app",
                "qoa-config",
                &name,
                "--out",
                out_dir.to_str().unwrap(),
                "--output",
                "json",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for s in r["application"]["stages"].as_array().unwrap() {
            for m in s["microservices"].as_array().unwrap() {
                expected.push((
                    out_dir.join(&name).join(format!(
                        "{}.{}.yaml",
                        s["name"].as_str().unwrap(),
                        m["name"].as_str().unwrap()
                    )),
                    name.clone(),
                    s["stage_id"].as_str().unwrap().to_string(),
                    m.clone(),
                    r["application"].clone(),
                ));
            }
        }
    }
    assert_eq!(expected.len(), 15);
    let out = Command::new(&py)
        .arg("-c")
        .arg(CHECK)
        .args(expected.iter().map(|e| &e.0))
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "QoA4ML rejected a generated config:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("json from python");
    assert_eq!(got.len(), expected.len());
    for (g, (path, name, stage_id, ms, app)) in got.iter().zip(&expected) {
        let at = path.display();
        assert_eq!(g["application_name"], name.as_str(), "{at}");
        assert_eq!(g["stage_id"], stage_id.as_str(), "{at}");
        assert_eq!(g["instance_id"], ms["instance_id"], "{at}");
        assert_eq!(g["functionality"], ms["functionality"], "{at}");
        assert_eq!(g["role"], ms["role"], "{at}");
        assert_eq!(g["run_id"], app["run_id"], "{at}");
        assert_eq!(g["user_id"], app["user_id"], "{at}");
        assert_eq!(g["exchange_name"], format!("{name}_exchange"), "{at}");
        assert_eq!(g["exchange_type"], "topic", "{at}");
        assert_eq!(g["out_routing_key"], ms["routing_key"], "{at}");
        assert_eq!(
            g["registration_url"], "http://head:5010/registration",
            "{at}"
        );
    }
}

/// The check itself can fail: ROHE's default instance id (not a UUID) and a connector map
/// instead of a list are both rejected by the real client.
#[test]
fn real_qoa4ml_rejects_what_rohe_python_used_to_generate() {
    let _watchdog =
        common::Watchdog::new(900, "real_qoa4ml_rejects_what_rohe_python_used_to_generate");
    let py = python_with_qoa4ml();
    let sb = Sandbox::new();
    let bad_instance = sb.write(
        "bad1.yaml",
        "client: {application_name: cctvs, instance_id: rohe_test_isntance}\nconnector:\n  - name: amqp_connector\n    connector_class: AMQP\n    config: {end_point: localhost, exchange_name: e, exchange_type: topic, out_routing_key: k}\n",
    );
    let legacy_map = sb.write(
        "bad2.yaml",
        "client: {application_name: cctvs}\nconnector:\n  amqp_connector: {class: amqp, conf: {end_point: localhost}}\n",
    );
    for f in [bad_instance, legacy_map] {
        let out = Command::new(&py)
            .arg("-c")
            .arg(CHECK)
            .arg(&f)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{} was accepted", f.display());
    }
}

const PUBLISH: &str = r#"
import sys, time
from qoa4ml.qoa_client import QoaClient
path, n = sys.argv[1], int(sys.argv[2])
client = QoaClient(config_path=path)
confidences = []
for i in range(n):
    client.timer()
    time.sleep(0.002)
    client.timer()
    c = 0.5 + i / (2.0 * n)
    confidences.append(c)
    client.observe_inference_metric("confidence", c)
    body = client.report(submit=False)
    import json
    client.asyn_report(json.dumps(body))
print(sum(confidences) / n)
"#;

/// Real peer: the real QoA4ML client, configured with the file rohe generated, publishes
/// reports through the real RabbitMQ; rohe's agent (started with `rohe agent start` as its
/// own process) stores and analyses every one. Needs RabbitMQ (see tests/bus_conformance.rs);
/// without one it skips, except under CI.
#[test]
fn real_qoa4ml_client_reports_reach_rohes_agent_through_rabbitmq() {
    let _watchdog = common::Watchdog::new(
        900,
        "real_qoa4ml_client_reports_reach_rohes_agent_through_rabbitmq",
    );
    let py = python_with_qoa4ml();
    let amqp = std::env::var("ROHE_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let host = url_host(&amqp);
    if std::net::TcpStream::connect((host.as_str(), 5672)).is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "RabbitMQ is required in CI"
        );
        eprintln!("SKIPPING the QoA4ML peer test: no broker at {host}:5672");
        return;
    }
    let sb = Sandbox::new();
    let name = format!("qp{}", std::process::id() % 100_000);
    let spec = std::fs::read_to_string(example("object_detection.yaml"))
        .unwrap()
        .replace(
            "application_name: objdetect",
            &format!("application_name: {name}"),
        );
    assert!(spec.contains(&name), "the example's name changed");
    sb.write("app.yaml", &spec);
    let env = |c: &mut Command| {
        c.env("ROHE__BUS__BACKEND", "amqp")
            .env("ROHE__BUS__URL", &amqp)
            .env("ROHE__QOA4ML__END_POINT", &host);
    };
    let run = |args: &[&str]| {
        let mut c = sb.cmd();
        env(&mut c);
        let out = c.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "rohe {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["app", "register", "-f", "app.yaml"]);
    let start: serde_json::Value =
        serde_json::from_str(&run(&["agent", "start", &name, "-o", "json"])).unwrap();
    assert_eq!(start["action"], "started", "{start}");
    assert_eq!(start["runtime"], "process");
    let qoa_dir = sb.path().join("qoa");
    run(&[
        "app",
        "qoa-config",
        &name,
        "--out",
        qoa_dir.to_str().unwrap(),
    ]);
    let config = std::fs::read_dir(qoa_dir.join(&name))
        .unwrap()
        .next()
        .expect("a generated config")
        .unwrap()
        .path();
    // QoA4ML publishes with a 1 s TTL: the agent must be consuming first.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let st: serde_json::Value =
            serde_json::from_str(&run(&["agent", "status", &name, "-o", "json"])).unwrap();
        if st[0]["health"]["connected"] == true {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the agent never connected: {st}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let n = 40;
    let out = Command::new(&py)
        .arg("-c")
        .arg(PUBLISH)
        .arg(&config)
        .arg(n.to_string())
        .output()
        .expect("run the QoA4ML client");
    assert!(
        out.status.success(),
        "the QoA4ML client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mean: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let view = loop {
        let v: serde_json::Value = serde_json::from_str(&run(&[
            "metrics", "query", &name, "--since", "10m", "-o", "json",
        ]))
        .unwrap();
        if v["reports"] == n || std::time::Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let logs = run(&["agent", "logs", &name]);
    run(&["agent", "stop", &name, "--yes"]);
    assert_eq!(view["reports"], n, "{view}\nagent log:\n{logs}");
    let series = view["series"].as_array().unwrap();
    let conf = series
        .iter()
        .find(|r| r["metric"] == "confidence" && r["instance"].is_null())
        .expect("confidence row");
    assert_eq!(conf["count"], n);
    assert!(
        (conf["mean"].as_f64().unwrap() - mean).abs() < 1e-9,
        "{conf} vs {mean}"
    );
    // The client's stage id (a UUID) is shown by the stage's name.
    let rt = series
        .iter()
        .find(|r| r["metric"] == "response_time" && r["instance"].is_null())
        .expect("response time row");
    assert!(!rt["stage"].as_str().unwrap().contains('-'), "{rt}");
    assert!(rt["min"].as_f64().unwrap() >= 0.002, "{rt}");
    // Analysed: the default config triggers every 10 reports.
    assert!(view["windows"].as_u64().unwrap() >= 4, "{view}");
}

fn url_host(url: &str) -> String {
    url.split("://")
        .nth(1)
        .and_then(|r| r.rsplit('@').next())
        .and_then(|r| r.split([':', '/']).next())
        .unwrap_or("127.0.0.1")
        .to_string()
}

/// Registers through `registration_url` only, prints what the handshake gave it, then (when
/// asked for reports) waits for a line on stdin and publishes them.
const REGISTER_AND_PUBLISH: &str = r#"
import json, sys, time
from qoa4ml.qoa_client import QoaClient
path, n = sys.argv[1], int(sys.argv[2])
client = QoaClient(config_path=path)
if not client.default_connector:
    sys.exit("the registration gave the client no connector")
conn = client.connector_list[client.default_connector]
print(json.dumps({"exchange": conn.exchange_name, "routing_key": conn.out_routing_key}), flush=True)
if n > 0:
    sys.stdin.readline()
    total = 0.0
    for i in range(n):
        client.timer()
        time.sleep(0.002)
        client.timer()
        c = 0.25 + i / (4.0 * n)
        total += c
        client.observe_inference_metric("confidence", c)
        client.asyn_report(json.dumps(client.report(submit=False)))
    print(total / n, flush=True)
"#;

/// A running `rohe serve` (the real binary), stopped with SIGTERM when dropped.
struct Served {
    child: std::process::Child,
    observation: String,
}

impl Served {
    fn start(sb: &Sandbox, amqp: &str, host: &str) -> Served {
        use std::io::BufRead;
        let mut child = sb
            .cmd()
            .args([
                "serve",
                "--observation-port",
                "0",
                "--orchestration-port",
                "0",
            ])
            .env("ROHE__BUS__BACKEND", "amqp")
            .env("ROHE__BUS__URL", amqp)
            .env("ROHE__QOA4ML__END_POINT", host)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start rohe serve");
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("rohe serve prints where it listens");
        // "rohe serve: observation API on http://127.0.0.1:PORT  orchestration API on ..."
        let observation = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_string();
        Served { child, observation }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Real peer through `rohe serve` (issue 7): the real QoA4ML client, configured with nothing
/// but `registration_url`, registers with the real `rohe serve`, gets its connector from the
/// reply, and publishes through the real RabbitMQ to the agent `rohe serve` started; every
/// report is stored and analysed. A second client re-registers and counts as client 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_qoa4ml_client_registers_with_rohe_serve_and_publishes_to_its_agent() {
    let _watchdog = common::Watchdog::new(
        900,
        "real_qoa4ml_client_registers_with_rohe_serve_and_publishes_to_its_agent",
    );
    let py = python_with_qoa4ml();
    let amqp = std::env::var("ROHE_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let host = url_host(&amqp);
    if std::net::TcpStream::connect((host.as_str(), 5672)).is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "RabbitMQ is required in CI"
        );
        eprintln!("SKIPPING the rohe serve peer test: no broker at {host}:5672");
        return;
    }
    let sb = Sandbox::new();
    let served = Served::start(&sb, &amqp, &host);
    let name = format!("qs{}", std::process::id() % 100_000);
    let instance = "5d0c3c2e-3f6a-4c47-9e55-6f1a3b8f2a11";
    let config = sb.write(
        "qoa.yaml",
        &format!(
            "client:\n  application_name: {name}\n  run_id: run1\n  user_id: u1\n  \
             stage_id: detector\n  instance_id: {instance}\n  functionality: yolo\n  \
             role: ml\nregistration_url: {}/registration/\n",
            served.observation
        ),
    );
    let python = |n: u32| {
        Command::new(&py)
            .arg("-c")
            .arg(REGISTER_AND_PUBLISH)
            .arg(&config)
            .arg(n.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run the QoA4ML client")
    };
    let first_line = |child: &mut std::process::Child| {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().expect("stdout"))
            .read_line(&mut line)
            .expect("read the client's output");
        line
    };

    // 1. The first client registers: the application is created from its client info alone.
    let mut first = python(0);
    let line = first_line(&mut first);
    let out = first.wait_with_output().expect("the first client");
    assert!(
        out.status.success() && !line.is_empty(),
        "the first client failed:\n{line}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let given: serde_json::Value = serde_json::from_str(&line).expect("the client's JSON");
    assert_eq!(given["exchange"], format!("{name}_exchange"));
    assert_eq!(
        given["routing_key"],
        format!("{name}.u1.detector.{instance}.client1")
    );
    let show = sb.json(&["app", "show", &name]);
    assert_eq!(show["application"]["client_count"], 1, "{show}");
    assert_eq!(show["application"]["run_id"], "run1");

    // 2. Its agent, started through ROHE's API on the same server.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/agent/start", served.observation))
        .json(&serde_json::json!({"application_name": name}))
        .send()
        .await
        .expect("POST /agent/start");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let st = sb.json(&["agent", "status", &name]);
        if st[0]["health"]["connected"] == true {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the agent never connected: {st}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // 3. A second client re-registers (client 2) and publishes.
    let n = 30u32;
    let mut second = python(n);
    let line = first_line(&mut second);
    let given: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|_| panic!("the second client printed {line:?}"));
    assert_eq!(
        given["routing_key"],
        format!("{name}.u1.detector.{instance}.client2")
    );
    {
        use std::io::Write;
        let mut stdin = second.stdin.take().expect("stdin");
        stdin
            .write_all(b"go\n")
            .expect("tell the client to publish");
    }
    let out = second.wait_with_output().expect("the second client");
    assert!(
        out.status.success(),
        "the second client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mean: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the mean confidence");
    assert_eq!(
        sb.json(&["app", "show", &name])["application"]["client_count"],
        2
    );

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let view = loop {
        let v = sb.json(&["metrics", "query", &name, "--since", "10m"]);
        if v["reports"] == n || std::time::Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let r = http
        .post(format!("{}/agent/stop", served.observation))
        .json(&serde_json::json!({"application_name": name}))
        .send()
        .await
        .expect("POST /agent/stop");
    assert_eq!(r.status(), 200);
    assert_eq!(view["reports"], n, "{view}");
    let conf = view["series"]
        .as_array()
        .expect("series")
        .iter()
        .find(|r| r["metric"] == "confidence" && r["instance"].is_null())
        .expect("a confidence row")
        .clone();
    assert_eq!(conf["count"], n);
    assert!(
        (conf["mean"].as_f64().unwrap() - mean).abs() < 1e-9,
        "{conf} vs {mean}"
    );
    // Analysed: the default stream config triggers every 10 reports.
    assert!(view["windows"].as_u64().unwrap() >= 3, "{view}");
    drop(served);
}
