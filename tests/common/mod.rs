//! Shared helpers for the integration tests.
#![allow(dead_code)]

pub mod tmux;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_rohe");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn example(name: &str) -> PathBuf {
    repo().join("example/applications").join(name)
}

/// An isolated environment for the real binary: its own XDG directories and working
/// directory, so no test reads the developer's configuration or store.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn store(&self) -> PathBuf {
        self.path().join("data/rohe/rohe.db")
    }
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.current_dir(self.path())
            .env_remove("ROHE_CONFIG")
            .env("XDG_DATA_HOME", self.path().join("data"))
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env("XDG_STATE_HOME", self.path().join("state"))
            .env("USER", "tester")
            .env("NO_COLOR", "1");
        for (k, _) in std::env::vars() {
            if k.starts_with("ROHE__") {
                c.env_remove(k);
            }
        }
        c
    }
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run rohe")
    }
    /// Run and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "rohe {args:?} failed with {:?}\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.extend(["--output", "json"]);
        serde_json::from_str(&self.ok(&a)).expect("json output")
    }
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, text).expect("write file");
        p
    }
}

/// Runs an async test body under a deadline, so a hang fails that test with `what` instead of
/// stalling the whole suite (`cargo test` has no per-test timeout).
pub async fn within<T>(secs: u64, what: &str, body: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), body).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: did not finish within {secs} s"),
    }
}

/// The last resort for tests that block outside an async runtime (child processes, tmux):
/// when the guard is still alive after `secs`, the whole test binary exits with a message,
/// because a blocked thread cannot be cancelled and a hung suite tells nobody anything.
pub struct Watchdog(Option<std::sync::mpsc::Sender<()>>);

impl Watchdog {
    pub fn new(secs: u64, what: &str) -> Watchdog {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let what = what.to_string();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                rx.recv_timeout(Duration::from_secs(secs))
            {
                eprintln!(
                    "WATCHDOG: {what} did not finish within {secs} s; aborting the test binary"
                );
                std::process::exit(124);
            }
        });
        Watchdog(Some(tx))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}
