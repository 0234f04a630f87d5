//! The observation agent: consumes an application's QoA4ML reports, stores every one of them,
//! and analyses them in windows (rohe-spec §2). The same [`run_agent`] runs as a task inside
//! the console, as `rohe agent run --app NAME` in its own process, or (later) in a container.
//!
//! The consume path, in order, per batch of deliveries:
//! 1. decode each body; an undecodable one goes to the dead-letter queue with its reason
//!    (confirmed by the bus) and the agent carries on;
//! 2. store the decodable reports in one transaction; a report whose id is already stored
//!    (a redelivery after a lost connection or a killed agent) is kept once;
//! 3. acknowledge the batch (`multiple`) only now: a report the store did not take is never
//!    acknowledged, so the broker delivers it again;
//! 4. push the rows into the window; a due trigger hands a snapshot of the window to the
//!    analysis task, so scoring (Isolation Forest, LOF) never delays consumption.
//!
//! Connection loss, a closed subscription or a store error backs off (200 ms doubling to 5 s)
//! and resumes; nothing is acknowledged in between.

pub mod health;

pub use health::{AgentHealth, LogRing};

use crate::domain::analysis::analyse;
use crate::domain::app::Application;
use crate::domain::report::decode;
use crate::domain::stream::StreamConfig;
use crate::domain::window::{Row, Trigger, Window, extract_row};
use crate::error::{Error, Result};
use crate::ports::bus::{Bus, Delivery, Subscription, Topology};
use crate::ports::store::{ReportJson, Store, StoredAnalysis, StoredReport};
use chrono::Utc;
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, watch};

/// Tuning of one agent.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Unacknowledged deliveries the bus may hand over.
    pub prefetch: u16,
    /// Reports stored (and acknowledged) together at most.
    pub batch: usize,
    /// How often health is refreshed (rates, queue depth) and written to the store.
    pub health_every: Duration,
    /// Write health into the agent's record (so other processes can show it).
    pub persist_health: bool,
    /// How long a batch may wait for more deliveries after its first one. Every batch is one
    /// commit, and a commit rewrites the last page of the table and of each index whatever
    /// it holds: at a steady 700-1,000 reports/s, one commit per report wrote 38 KB per 2.3 KB
    /// report, waiting 5 ms 25 KB (measured with 8 KB pages, before bodies moved to the report
    /// logs; flash storage on edge nodes wears by the byte). Over AMQP
    /// a backlog also drains in batches of ~200 instead of ~90. Adds at most this to the
    /// publish-to-stored latency.
    pub linger: Duration,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            prefetch: 1000,
            batch: 500,
            health_every: Duration::from_secs(1),
            persist_health: true,
            linger: Duration::from_millis(5),
        }
    }
}

impl AgentOptions {
    pub fn from_settings(s: &crate::config::AgentSettings) -> AgentOptions {
        AgentOptions {
            prefetch: s.prefetch,
            batch: s.batch,
            ..AgentOptions::default()
        }
    }
}

/// Analysis documents of one window, as live viewers receive them.
pub type ResultBatch = Arc<Vec<StoredAnalysis>>;

/// What an agent works with, and where it tells about itself.
#[derive(Clone)]
pub struct AgentIo {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub health: Arc<Mutex<AgentHealth>>,
    pub log: Arc<LogRing>,
    /// Live viewers (the console's Metrics tab) subscribe here.
    pub results: broadcast::Sender<ResultBatch>,
}

impl AgentIo {
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>, log: Arc<LogRing>) -> AgentIo {
        AgentIo {
            store,
            bus,
            health: Arc::new(Mutex::new(AgentHealth::default())),
            log,
            results: broadcast::channel(64).0,
        }
    }
}

/// Ids of recently stored reports, so a redelivered report does not enter the window twice
/// (the store already keeps it once). Kept as 64-bit hashes: 20,000 ids as strings cost
/// ~2.7 MB of the agent's memory. A collision can only make a *redelivered* report skip the
/// window (a first delivery is always taken), with odds of about 20,000 / 2^64.
struct RecentIds {
    set: HashSet<u64>,
    order: VecDeque<u64>,
    cap: usize,
    hasher: std::collections::hash_map::RandomState,
}

impl RecentIds {
    fn new(cap: usize) -> Self {
        RecentIds {
            set: HashSet::with_capacity(cap),
            order: VecDeque::with_capacity(cap),
            cap,
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
    /// True when the id was not seen recently.
    fn insert(&mut self, id: &str) -> bool {
        use std::hash::BuildHasher;
        let h = self.hasher.hash_one(id);
        if self.set.contains(&h) {
            return false;
        }
        if self.order.len() == self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.set.insert(h);
        self.order.push_back(h);
        true
    }
}

/// The id a report is stored under: the time the report says it was sent (microseconds since
/// the epoch, 16 digits; zeros when it carries none), a dash, and the publisher's message or
/// correlation id (QoA4ML sets a fresh UUID per publish; a redelivery keeps it), else a UUIDv5
/// of the body. The same message delivered twice is the same report; the same bytes too.
///
/// Why the time first: the store keeps one entry per id in key order, and message ids are
/// random UUIDs, so every insert landed on a random index page and a commit of 500 reports
/// rewrote ~500 index pages, more bytes than the reports themselves. Time-prefixed ids append
/// at the end of the index, as MongoDB's ObjectIds and UUIDv7s do.
pub fn report_id(message_id: Option<&str>, body: &[u8], sent_at: Option<f64>) -> String {
    // 16 digits last until the year 2286; the float-to-integer cast saturates.
    const MAX_US: u64 = 9_999_999_999_999_999;
    let us = sent_at
        .filter(|t| t.is_finite() && *t > 0.0)
        .map_or(0, |t| ((t * 1e6) as u64).min(MAX_US));
    match message_id {
        Some(id) if !id.is_empty() && id.len() <= 200 => format!("{us:016}-{id}"),
        _ => format!(
            "{us:016}-{}",
            uuid::Uuid::new_v5(&BODY_NAMESPACE, body).hyphenated()
        ),
    }
}

const BODY_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6c0e_7a5e_2f4b_4d8e_9a51_7f0d_3c2b_1e90);

fn now_secs() -> f64 {
    Utc::now().timestamp_micros() as f64 / 1e6
}

struct Consumer {
    app: Application,
    cfg: Arc<StreamConfig>,
    topo: Topology,
    io: AgentIo,
    opts: AgentOptions,
    window: Window,
    trigger: Trigger,
    recent: RecentIds,
    analysis: mpsc::Sender<(Window, u64)>,
}

/// Why `process` gave up on a batch.
enum BatchError {
    /// Stop was requested while the store was failing; the batch stays unacknowledged.
    Stopping,
    /// The bus failed; reconnect (the batch will be delivered again).
    Bus(Error),
}

/// Waits `d`, or less when stop is requested; true when stopping.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        r = stop.changed() => r.is_err() || *stop.borrow(),
    }
}

/// Resolves once stop is requested (or the controller is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(5);
    fn new() -> Self {
        Backoff { next: Self::FIRST }
    }
    fn take(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        d
    }
    fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// Run an agent until `stop` turns true (or its sender is dropped). Returns its final health.
pub async fn run_agent(
    app: Application,
    cfg: StreamConfig,
    io: AgentIo,
    opts: AgentOptions,
    mut stop: watch::Receiver<bool>,
) -> Result<AgentHealth> {
    cfg.validate()?;
    let cfg = Arc::new(cfg);
    let topo = Topology::for_app(&app);
    let last_seq = io.store.last_window_seq(app.app_id).await?;
    {
        let mut h = lock(&io.health);
        h.started_at = Some(Utc::now());
        h.queue = topo.queue.clone();
    }
    io.log.push(format!(
        "agent of {} starting: queue {}, window {:?}, trigger {:?}, resuming after window {last_seq}",
        app.application_name,
        topo.queue,
        cfg.size(),
        cfg.trigger()
    ));
    let (atx, arx) = mpsc::channel::<(Window, u64)>(2);
    let worker = tokio::spawn(analysis_worker(app.clone(), cfg.clone(), io.clone(), arx));
    let mut c = Consumer {
        window: Window::for_config(&cfg),
        trigger: Trigger::for_config(&cfg).resume_after(last_seq),
        recent: RecentIds::new(20_000),
        analysis: atx,
        topo,
        app,
        cfg,
        io: io.clone(),
        opts,
    };
    let (persist, name) = (c.opts.persist_health, c.app.application_name.clone());
    c.consume(&mut stop).await;
    let Consumer { analysis, .. } = c;
    drop(analysis);
    if let Err(e) = worker.await {
        io.log.push(format!("the analysis task failed: {e}"));
    }
    let final_health = {
        let mut h = lock(&io.health);
        h.connected = false;
        h.updated_at = Some(Utc::now());
        h.clone()
    };
    if persist {
        persist_health(&*io.store, &name, &final_health).await;
    }
    io.log.push("agent stopped".to_string());
    Ok(final_health)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain counters behind; they stay usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Consumer {
    async fn consume(&mut self, stop: &mut watch::Receiver<bool>) {
        let mut backoff = Backoff::new();
        let mut rate = health::RateMeter::new();
        let mut last_depth = Instant::now() - Duration::from_secs(60);
        'connect: loop {
            if *stop.borrow() {
                return;
            }
            // Raced with stop: connecting to a broker that is still starting can take until
            // the adapter's deadline, and a stop must not wait for it.
            let connected = tokio::select! {
                biased;
                _ = stopped(stop) => return,
                r = self.connect() => r,
            };
            let sub = match connected {
                Ok(s) => s,
                Err(e) => {
                    self.note_error(format!("cannot consume {}: {e}", self.topo.queue));
                    if sleep_or_stop(backoff.take(), stop).await {
                        return;
                    }
                    continue;
                }
            };
            let mut sub: Box<dyn Subscription> = sub;
            lock(&self.io.health).connected = true;
            self.io.log.push(format!(
                "consuming {} ({})",
                self.topo.queue,
                self.io.bus.info().location
            ));
            let mut tick = tokio::time::interval(self.opts.health_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    biased;
                    r = stop.changed() => {
                        if r.is_err() || *stop.borrow() {
                            return;
                        }
                    }
                    _ = tick.tick() => {
                        self.on_tick(&mut rate, &mut last_depth).await;
                    }
                    d = sub.next() => {
                        let (batch, ended) = match d {
                            Ok(Some(first)) => self.fill_batch(first, &mut *sub).await,
                            other => (Vec::new(), Some(other)),
                        };
                        if !batch.is_empty() {
                            match self.process(batch, stop).await {
                                Ok(()) => backoff.reset(),
                                Err(BatchError::Stopping) => return,
                                Err(BatchError::Bus(e)) => {
                                    self.lost(format!("the bus failed: {e}"));
                                    if sleep_or_stop(backoff.take(), stop).await {
                                        return;
                                    }
                                    continue 'connect;
                                }
                            }
                        }
                        if let Some(end) = ended {
                            self.lost(match end {
                                Err(e) => format!("lost the connection: {e}"),
                                _ => "the subscription ended".into(),
                            });
                            if sleep_or_stop(backoff.take(), stop).await {
                                return;
                            }
                            continue 'connect;
                        }
                    }
                }
            }
        }
    }

    /// A batch starting with `first`: what the bus has buffered and what arrives within
    /// `linger` of the first, up to `batch` deliveries. Also how the subscription ended, when
    /// it did meanwhile (the batch is still processed first).
    async fn fill_batch(
        &self,
        first: Delivery,
        sub: &mut dyn Subscription,
    ) -> (Vec<Delivery>, Option<Result<Option<Delivery>>>) {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + self.opts.linger;
        while batch.len() < self.opts.batch {
            if let Some(d) = sub.try_next() {
                batch.push(d);
                continue;
            }
            if self.opts.linger.is_zero() {
                break;
            }
            match tokio::time::timeout_at(deadline, sub.next()).await {
                Ok(Ok(Some(d))) => batch.push(d),
                Ok(end) => return (batch, Some(end)),
                Err(_) => break,
            }
        }
        (batch, None)
    }

    async fn connect(&self) -> Result<Box<dyn Subscription>> {
        self.io.bus.declare(&self.topo).await?;
        self.io.bus.subscribe(&self.topo, self.opts.prefetch).await
    }

    fn lost(&self, why: String) {
        lock(&self.io.health).connected = false;
        self.note_error(format!("{why}; reconnecting"));
    }

    fn note_error(&self, msg: String) {
        tracing::warn!(app = %self.app.application_name, "{msg}");
        {
            let mut h = lock(&self.io.health);
            h.errors += 1;
            h.last_error = Some(msg.clone());
        }
        self.io.log.push(msg);
    }

    async fn on_tick(&mut self, rate: &mut health::RateMeter, last_depth: &mut Instant) {
        let now = now_secs();
        if let Some(seq) = self.trigger.due(now) {
            self.hand_over(seq);
        }
        if last_depth.elapsed() >= Duration::from_secs(2) {
            *last_depth = Instant::now();
            let depth = self.io.bus.queue_depth(&self.topo).await.ok().flatten();
            lock(&self.io.health).queue_depth = depth;
        }
        let snapshot = {
            let mut h = lock(&self.io.health);
            h.rate_per_s = rate.update(h.received);
            h.window_rows = self.window.len();
            h.updated_at = Some(Utc::now());
            h.clone()
        };
        if self.opts.persist_health {
            persist_health(&*self.io.store, &self.app.application_name, &snapshot).await;
        }
    }

    async fn process(
        &mut self,
        mut batch: Vec<Delivery>,
        stop: &mut watch::Receiver<bool>,
    ) -> std::result::Result<(), BatchError> {
        let received_at = Utc::now();
        let received = received_at.timestamp_micros() as f64 / 1e6;
        let mut reports = Vec::with_capacity(batch.len());
        let mut rows: Vec<(bool, Row)> = Vec::with_capacity(batch.len());
        let mut dead = 0u64;
        for d in &mut batch {
            match decode(&d.body) {
                Ok(mut report) => {
                    report.name_stages(&self.app);
                    let id = report_id(d.message_id.as_deref(), &d.body, report.meta.timestamp);
                    rows.push((
                        d.redelivered,
                        extract_row(&self.cfg, &report).or_received(received),
                    ));
                    // Stored as the text that arrived: decoding checked it is UTF-8 JSON, so
                    // the bytes move into the string without a copy.
                    let text = String::from_utf8(std::mem::take(&mut d.body))
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                    reports.push(StoredReport {
                        app_id: self.app.app_id,
                        report_id: id,
                        run_id: self.app.run_id.clone(),
                        received_at,
                        body: ReportJson::from_parsed_text(text),
                    });
                }
                Err(e) => {
                    let reason = e.to_string();
                    self.io
                        .bus
                        .dead_letter(&self.topo, &d.routing_key, &d.body, &reason)
                        .await
                        .map_err(BatchError::Bus)?;
                    dead += 1;
                    self.io.log.push(format!(
                        "dead-lettered a message from {} ({} bytes): {}",
                        crate::domain::sanitize::terminal_safe(&d.routing_key),
                        d.body.len(),
                        crate::domain::sanitize::terminal_safe(&reason)
                    ));
                }
            }
        }
        let mut backoff = Backoff::new();
        let new = loop {
            if reports.is_empty() {
                break 0;
            }
            match self.io.store.insert_reports(&reports).await {
                Ok(n) => break n,
                Err(e) => {
                    self.note_error(format!(
                        "cannot store {} report(s), holding them unacknowledged: {e}",
                        reports.len()
                    ));
                    if sleep_or_stop(backoff.take(), stop).await {
                        return Err(BatchError::Stopping);
                    }
                }
            }
        };
        if let Some(last) = batch.last() {
            last.acker.ack(true).await.map_err(BatchError::Bus)?;
        }
        {
            let mut h = lock(&self.io.health);
            h.received += batch.len() as u64;
            h.batches += 1;
            h.stored += new;
            h.duplicates += reports.len() as u64 - new;
            h.dead_lettered += dead;
            h.last_report_at = Some(received_at);
        }
        for ((redelivered, row), report) in rows.into_iter().zip(&reports) {
            // A redelivery of a report this agent already windowed is skipped; a first
            // delivery is always taken (ids are unique per report).
            if !self.recent.insert(&report.report_id) && redelivered {
                continue;
            }
            self.window.push(row);
            if let Some(seq) = self.trigger.on_row() {
                self.hand_over(seq);
            }
        }
        Ok(())
    }

    /// Give the analysis task a snapshot of the window. When it is still busy with two
    /// earlier windows, this run is skipped (and counted) instead of stalling consumption.
    fn hand_over(&mut self, seq: u64) {
        match self.analysis.try_send((self.window.clone(), seq)) {
            Ok(()) => {}
            Err(_) => {
                lock(&self.io.health).analyses_skipped += 1;
            }
        }
    }
}

async fn analysis_worker(
    app: Application,
    cfg: Arc<StreamConfig>,
    io: AgentIo,
    mut rx: mpsc::Receiver<(Window, u64)>,
) {
    // Reports already flagged, per feature group: windows overlap, and the health counts each
    // outlying report once, not once per window that saw it.
    let mut flagged = RecentIds::new(20_000);
    while let Some(first) = rx.recv().await {
        // The windows waiting now are analysed together and their documents written in one
        // transaction: one commit per window competed with the reports for the connection.
        let mut waiting = vec![first];
        while let Ok(more) = rx.try_recv() {
            waiting.push(more);
        }
        let c = cfg.clone();
        let analysed = match tokio::task::spawn_blocking(move || {
            waiting
                .into_iter()
                .map(|(window, seq)| (seq, analyse(&c, &window, seq)))
                .collect::<Vec<_>>()
        })
        .await
        {
            Ok(r) => r,
            Err(e) => {
                io.log.push(format!("analysis failed: {e}"));
                continue;
            }
        };
        let at = Utc::now();
        // All documents in one list (for one transaction), and how many each window has.
        let mut all: Vec<StoredAnalysis> = Vec::new();
        let mut spans: Vec<(u64, usize)> = Vec::with_capacity(analysed.len());
        for (seq, results) in analysed {
            spans.push((seq, results.len()));
            all.extend(results.into_iter().map(|result| StoredAnalysis {
                app_id: app.app_id,
                window_id: format!("w{seq}"),
                run_id: app.run_id.clone(),
                at,
                result,
            }));
        }
        let seqs = match (spans.first(), spans.last()) {
            (Some((a, _)), Some((b, _))) if a != b => format!("windows {a}-{b}"),
            (Some((a, _)), _) => format!("window {a}"),
            _ => continue,
        };
        let mut stored = false;
        for attempt in 0..5u32 {
            match io.store.insert_analysis(&all).await {
                Ok(_) => {
                    stored = true;
                    break;
                }
                Err(e) => {
                    io.log.push(format!(
                        "cannot store the analysis of {seqs} (attempt {}): {e}",
                        attempt + 1
                    ));
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            }
        }
        let mut docs_of = all.into_iter();
        for (seq, n) in spans {
            let docs: Vec<StoredAnalysis> = docs_of.by_ref().take(n).collect();
            let anomalies: usize = docs.iter().map(|d| d.result.anomalies.len()).sum();
            let violations: usize = docs.iter().map(|d| d.result.violations.len()).sum();
            let newly_flagged = docs
                .iter()
                .flat_map(|d| d.result.anomalies.iter().map(move |a| (d, a)))
                .filter(|(d, a)| match a.ts {
                    Some(ts) => flagged.insert(&format!("{}\u{1f}{}", d.group_key(), ts.to_bits())),
                    None => true,
                })
                .count();
            {
                let mut h = lock(&io.health);
                h.windows = seq;
                h.anomalies += newly_flagged as u64;
                h.violations += violations as u64;
                if !stored {
                    h.errors += 1;
                    h.last_error = Some(format!("the analysis of window {seq} was not stored"));
                }
            }
            if violations > 0 {
                io.log.push(format!(
                    "window {seq}: {violations} contract violation(s), {anomalies} anomal(ies)"
                ));
            }
            let _ = io.results.send(Arc::new(docs));
        }
    }
}

/// Write health into the agent's record; a concurrent change of the record (a stop) wins.
pub async fn persist_health(store: &dyn Store, app_name: &str, health: &AgentHealth) {
    for _ in 0..3 {
        let Ok(Some(rec)) = store.get_agent(app_name).await else {
            return;
        };
        let mut value = rec.value;
        value.health = Some(health.clone());
        match store.put_agent(&value, Some(rec.version)).await {
            Ok(_) => return,
            Err(e) if e.kind == crate::error::ErrorKind::Conflict => continue,
            Err(e) => {
                tracing::debug!("cannot write the agent's health: {e}");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::report_id;

    #[test]
    fn report_ids_are_stable_per_message_and_ordered_by_send_time() {
        let body = br#"{"metadata":{"timestamp":1764000000.5}}"#;
        let a = report_id(Some("m-1"), body, Some(1_764_000_000.5));
        assert_eq!(a, "1764000000500000-m-1");
        assert_eq!(a, report_id(Some("m-1"), body, Some(1_764_000_000.5)));
        let later = report_id(Some("a-0"), body, Some(1_764_000_001.0));
        assert!(later > a, "a later report sorts after an earlier one");
        // No message id: the body names the report.
        let by_body = report_id(None, body, Some(1_764_000_000.5));
        assert_eq!(by_body, report_id(Some(""), body, Some(1_764_000_000.5)));
        assert_ne!(by_body, report_id(None, b"{}", Some(1_764_000_000.5)));
        // No usable time: zeros, never a panic or a negative number.
        for t in [None, Some(f64::NAN), Some(-5.0), Some(f64::INFINITY)] {
            assert!(report_id(Some("m"), body, t).starts_with("0000000000000000-"));
        }
        assert!(report_id(Some("m"), body, Some(1e300)).starts_with("9999999999999999-"));
        // An oversized message id is not trusted as a key.
        let long = "x".repeat(201);
        assert!(!report_id(Some(&long), body, None).contains(&long));
    }
}
