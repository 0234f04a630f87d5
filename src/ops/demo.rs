//! The demo pipeline: publishes realistic QoA4ML 0.3 reports for a registered application
//! (latencies drawn from the SPE2024 profiles, see `domain::demo`) through the configured bus,
//! exactly as instrumented microservices would, so the agent, the store and the Metrics tab
//! are exercised end to end.

use super::Ops;
use crate::domain::demo::DemoGenerator;
use crate::error::{Error, Result};
use crate::ports::bus::Topology;
use serde::Serialize;
use std::time::{Duration, Instant};
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Reports per second.
    pub rate: f64,
    /// Stop after this long; None: until stopped.
    pub duration: Option<Duration>,
    /// Stop after this many reports; None: no limit.
    pub count: Option<u64>,
    pub seed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DemoStats {
    pub application_name: String,
    /// Reports the bus confirmed.
    pub published: u64,
    /// Of those, drawn from the shared-resource (contended) profiles.
    pub shared: u64,
    pub failed: u64,
    pub elapsed_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

pub const MAX_RATE: f64 = 100_000.0;

pub fn check_rate(rate: f64) -> Result<()> {
    if !(rate.is_finite() && rate > 0.0 && rate <= MAX_RATE) {
        return Err(Error::invalid(format!("rate {rate} is out of range"))
            .field("--rate")
            .hint("use 0.1 to 100000 reports per second"));
    }
    Ok(())
}

impl Ops {
    /// Publish until the duration or count is reached or `stop` turns true. `progress` is
    /// called about once a second.
    pub async fn run_demo(
        &self,
        name: &str,
        opts: &DemoOptions,
        mut stop: watch::Receiver<bool>,
        mut progress: impl FnMut(&DemoStats) + Send,
    ) -> Result<DemoStats> {
        check_rate(opts.rate)?;
        let app = self.get_app(name).await?;
        let bus = self.agents()?.bus.clone();
        let topo = Topology::for_app(&app);
        bus.declare(&topo).await?;
        let mut generator = DemoGenerator::new(&app, opts.seed);
        let mut stats = DemoStats {
            application_name: name.into(),
            ..DemoStats::default()
        };
        let started = Instant::now();
        let tick = Duration::from_secs_f64((1.0 / opts.rate).clamp(0.005, 1.0));
        let mut iv = tokio::time::interval(tick);
        iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_progress = Instant::now();
        let mut consecutive_failures = 0u32;
        loop {
            tokio::select! {
                biased;
                r = stop.changed() => if r.is_err() || *stop.borrow() { break },
                _ = iv.tick() => {}
            }
            let elapsed = started.elapsed();
            if opts.duration.is_some_and(|d| elapsed >= d) {
                break;
            }
            let due = ((elapsed.as_secs_f64() * opts.rate).floor() as u64 + 1)
                .min(opts.count.unwrap_or(u64::MAX));
            while stats.published + stats.failed < due {
                let now = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
                let r = generator.next_report(now);
                match bus
                    .publish(&topo.exchange, &r.routing_key, &r.body, Some(&r.message_id))
                    .await
                {
                    Ok(()) => {
                        stats.published += 1;
                        stats.shared += u64::from(r.shared);
                        consecutive_failures = 0;
                    }
                    Err(e) => {
                        stats.failed += 1;
                        stats.last_error = Some(e.to_string());
                        consecutive_failures += 1;
                        if consecutive_failures >= 20 {
                            stats.elapsed_s = started.elapsed().as_secs_f64();
                            return Err(
                                e.hint("the demo stopped after 20 failed publishes in a row")
                            );
                        }
                        break;
                    }
                }
            }
            if opts
                .count
                .is_some_and(|c| stats.published + stats.failed >= c)
            {
                break;
            }
            if last_progress.elapsed() >= Duration::from_secs(1) {
                last_progress = Instant::now();
                stats.elapsed_s = started.elapsed().as_secs_f64();
                progress(&stats);
            }
        }
        stats.elapsed_s = started.elapsed().as_secs_f64();
        progress(&stats);
        Ok(stats)
    }
}
