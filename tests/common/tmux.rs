//! A tmux server of the test's own (its own socket), driving the real console in a pane named
//! `e2e`. Killed on drop, also when the test fails.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub struct Tmux {
    pub socket: String,
}

impl Tmux {
    /// A server on a socket no other test or user shares.
    pub fn new(tag: &str) -> Tmux {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Tmux {
            socket: format!("rohe-{tag}-{}-{nanos}", std::process::id()),
        }
    }

    /// Start `shell` in a detached session `e2e` of `width` x `height`.
    pub fn start(&self, width: u16, height: u16, shell: &str) {
        let (w, h) = (width.to_string(), height.to_string());
        let out = self.cmd(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            &w,
            "-y",
            &h,
            "-s",
            "e2e",
            shell,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("run tmux")
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success(), "send-keys {keys:?}");
        // A pause between keys: a lone esc followed at once by a letter reads as alt-letter.
        std::thread::sleep(Duration::from_millis(150));
    }

    pub fn text(&self, s: &str) {
        assert!(
            self.cmd(&["send-keys", "-t", "e2e", "-l", s])
                .status
                .success(),
            "send-keys -l"
        );
        std::thread::sleep(Duration::from_millis(150));
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "e2e"]).stdout).into_owned()
    }

    /// The screen once it shows `what` (within 15 s).
    pub fn wait_for(&self, what: &str) -> String {
        self.wait_until(&format!("{what:?}"), 15, |s| {
            s.contains(what).then(|| s.to_string())
        })
    }

    /// Poll the screen until `check` accepts it (bounded by `secs`).
    pub fn wait_until<T>(&self, what: &str, secs: u64, check: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if let Some(v) = check(&s) {
                return v;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; the screen was:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .env_remove("TMUX")
            .output();
    }
}
