//! What an agent tells about itself: counters, rates and a bounded log.

pub use crate::ports::store::AgentHealth;
use chrono::Utc;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

/// Deliveries per second, smoothed (exponential, about 3 s).
pub struct RateMeter {
    last: Option<(Instant, u64)>,
    rate: f64,
}

impl RateMeter {
    pub fn new() -> Self {
        RateMeter {
            last: None,
            rate: 0.0,
        }
    }
    /// Feed the running total; returns the smoothed rate.
    pub fn update(&mut self, total: u64) -> f64 {
        let now = Instant::now();
        if let Some((t, n)) = self.last {
            let dt = now.duration_since(t).as_secs_f64();
            if dt > 0.0 {
                let inst = total.saturating_sub(n) as f64 / dt;
                let alpha = 1.0 - (-dt / 3.0).exp();
                self.rate += alpha * (inst - self.rate);
            }
        }
        self.last = Some((now, total));
        self.rate
    }
}

impl Default for RateMeter {
    fn default() -> Self {
        Self::new()
    }
}

/// The last lines an agent logged. An agent in its own process also prints each line, so
/// the runtime's log file has them all.
pub struct LogRing {
    lines: Mutex<VecDeque<String>>,
    cap: usize,
    echo: bool,
}

impl LogRing {
    pub fn new(cap: usize) -> Self {
        LogRing {
            lines: Mutex::new(VecDeque::with_capacity(cap.min(1024))),
            cap,
            echo: false,
        }
    }
    /// Also print every line on standard output (an agent in its own process).
    pub fn echoing(mut self) -> Self {
        self.echo = true;
        self
    }
    pub fn push(&self, line: String) {
        let line = format!("{} {line}", Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"));
        if self.echo {
            println!("{line}");
        }
        let mut l = super::lock(&self.lines);
        if l.len() == self.cap {
            l.pop_front();
        }
        l.push_back(line);
    }
    /// The last `n` lines, oldest first.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let l = super::lock(&self.lines);
        l.iter().skip(l.len().saturating_sub(n)).cloned().collect()
    }
}
