//! Synthetic QoA4ML 0.3 `MLReport`s for `rohe demo`: a whole pipeline, as the end-of-pipeline
//! client publishes it after importing its upstream reports (rohe-spec §3.5, §3.7). Pure: no
//! I/O, no clock, no global randomness, so a seed and a sequence of `now` values give
//! byte-identical reports on every run and platform (the demo, its tests and a bug report all
//! see the same stream).
//!
//! Latencies are not invented: each microservice replays a measured response-time
//! distribution from the SPE2024 dataset (rohe-spec §9.1), stored as 101 quantiles per service
//! and regime in `spe2024_profiles.json` (the file says how it was derived). Sampling inverts
//! the piecewise-linear CDF those quantiles define.
//!
//! The dataset measured every service both alone ("isolated") and beside co-located services
//! ("shared"), with 1.3-1.7x higher medians when shared. The generator alternates between the
//! two regimes in episodes, so the stream carries natural, explainable anomalies for the
//! analysis functions (LOF, Isolation Forest) to find: mostly isolated, with shared-resource
//! contention episodes of 20-80 reports, about 17% of reports in the long run.

use crate::domain::analysis::SplitMix64;
use crate::domain::app::{Application, routing_key};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use uuid::Uuid;

/// The embedded SPE2024 latency profiles (see [`Profiles`]).
pub const PROFILES_JSON: &str = include_str!("spe2024_profiles.json");

/// Every latency table holds the quantiles q0, q1, ..., q100 (percent).
pub const QUANTILES: usize = 101;

/// Shortest and longest shared-resource episode, in reports.
pub const EPISODE_MIN: u32 = 20;
pub const EPISODE_MAX: u32 = 80;
/// Isolated spells between episodes, in reports. With a mean of 240 against an episode mean
/// of 50, 50/290 ≈ 17% of reports are shared. Bounded spells (rather than a per-report
/// coin flip) keep that share steady over a few thousand reports, so a demo always shows
/// episodes and tests can rely on the share.
pub const ISOLATED_MIN: u32 = 100;
pub const ISOLATED_MAX: u32 = 380;
/// The first isolated spell is shorter, so a fresh demo reaches its first episode within
/// about one to two minutes at one report per second.
const FIRST_ISOLATED_MIN: u32 = 30;
const FIRST_ISOLATED_MAX: u32 = 120;

/// `spe2024_profiles.json`: per SPE2024 service, its latency distribution alone and shared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profiles {
    /// Which dataset files the tables come from.
    pub source: String,
    /// How the tables were computed, with the exact program.
    pub derivation: String,
    /// Keyed by the SPE2024 service name (`object_detection`, ...).
    pub services: BTreeMap<String, ServiceProfile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceProfile {
    /// The SPE2024 application the service belongs to: `bts`, `cctvs` or `kpi`.
    pub app: String,
    /// Response times with the service alone on its node.
    pub isolated: LatencyTable,
    /// Response times with co-located services competing for the node.
    pub shared: LatencyTable,
}

/// A response-time distribution in seconds, as [`QUANTILES`] evenly spaced quantiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyTable {
    /// Requests measured.
    pub n: u64,
    /// q0..q100, non-decreasing, seconds.
    pub quantiles: Vec<f64>,
}

impl LatencyTable {
    /// The `p`-th percentile (0..=100), interpolating linearly between the stored ones.
    pub fn quantile(&self, p: f64) -> f64 {
        self.inverse_cdf(p / 100.0)
    }

    /// A latency for a uniform draw `u` in (0, 1): the inverse of the piecewise-linear CDF
    /// through the stored quantiles, so samples follow the measured distribution (including
    /// its tails) up to the 1% resolution of the table.
    pub fn sample(&self, u: f64) -> f64 {
        self.inverse_cdf(u)
    }

    fn inverse_cdf(&self, u: f64) -> f64 {
        let q = &self.quantiles;
        match q.len() {
            0 => return 0.0,
            1 => return q[0],
            _ => {}
        }
        let pos = u.clamp(0.0, 1.0) * (q.len() - 1) as f64;
        let i = (pos.floor() as usize).min(q.len() - 2);
        let frac = pos - i as f64;
        q[i] + frac * (q[i + 1] - q[i])
    }

    fn check(&self, what: &str) -> Result<(), String> {
        if self.quantiles.len() != QUANTILES {
            return Err(format!(
                "{what}: {} quantiles, expected {QUANTILES}",
                self.quantiles.len()
            ));
        }
        if self.n == 0 {
            return Err(format!("{what}: n is 0"));
        }
        if let Some(x) = self.quantiles.iter().find(|x| !x.is_finite() || **x < 0.0) {
            return Err(format!("{what}: {x} is not a latency"));
        }
        if let Some(i) = (1..QUANTILES).find(|&i| self.quantiles[i] < self.quantiles[i - 1]) {
            return Err(format!("{what}: q{i} is below q{}", i - 1));
        }
        Ok(())
    }
}

/// Parse and check a profile file: every table must be a usable inverse CDF (101 finite,
/// non-negative, non-decreasing quantiles), so sampling never has to guard against it.
pub fn parse_profiles(text: &str) -> Result<Profiles, String> {
    let p: Profiles = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if p.services.is_empty() {
        return Err("no services".into());
    }
    for (name, s) in &p.services {
        if s.app.is_empty() {
            return Err(format!("{name}: empty app"));
        }
        s.isolated.check(&format!("{name}.isolated"))?;
        s.shared.check(&format!("{name}.shared"))?;
    }
    Ok(p)
}

/// The embedded profiles, parsed once. The file is ours and a test parses it, so a failure
/// here is a build defect, not bad input.
pub fn profiles() -> &'static Profiles {
    static P: OnceLock<Profiles> = OnceLock::new();
    P.get_or_init(|| parse_profiles(PROFILES_JSON).expect("embedded spe2024_profiles.json"))
}

/// FNV-1a, 64 bit: a fixed, documented hash, so the profile a name maps to never changes
/// between Rust releases (std's `DefaultHasher` makes no such promise).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The profile for a microservice: the SPE2024 service of the same name, else one picked by
/// a hash of the name among the services of the SPE2024 application named like this one
/// (bts, cctvs, kpi), else among all. Stable, so a microservice keeps its latency character
/// across runs.
pub fn profile_for(application_name: &str, microservice: &str) -> &'static str {
    let all = &profiles().services;
    if let Some((k, _)) = all.get_key_value(microservice) {
        return k;
    }
    let group: Vec<&'static str> = all
        .iter()
        .filter(|(_, s)| s.app == application_name)
        .map(|(k, _)| k.as_str())
        .collect();
    let group = if group.is_empty() {
        all.keys().map(String::as_str).collect()
    } else {
        group
    };
    // `parse_profiles` guarantees at least one service.
    group[(fnv1a(microservice.as_bytes()) % group.len() as u64) as usize]
}

/// One generated report, ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoReport {
    /// Where the end-of-pipeline client publishes (matches the agent's `<app>.#`).
    pub routing_key: String,
    /// The report's `corr_id`, also the AMQP message id.
    pub message_id: String,
    /// The QoA4ML 0.3 report JSON.
    pub body: Vec<u8>,
    /// Generated in a shared-resource (contention) episode: the ground truth an anomaly
    /// detector's findings can be compared with.
    pub shared: bool,
}

/// Which profile a microservice replays (for `rohe demo` to show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub stage: String,
    pub microservice: String,
    pub instance_id: String,
    /// SPE2024 service name.
    pub profile: &'static str,
}

#[derive(Debug, Clone)]
struct DemoService {
    name: String,
    instance_id: String,
    profile_name: &'static str,
    profile: &'static ServiceProfile,
}

#[derive(Debug, Clone)]
struct DemoStage {
    name: String,
    services: Vec<DemoService>,
}

/// QoA4ML 0.3 `ClientInfo`, in its field order (rohe-spec §3.1).
#[derive(Debug, Clone, Serialize)]
struct ClientInfo {
    id: String,
    name: String,
    user_id: String,
    username: String,
    instance_id: String,
    instance_name: String,
    stage_id: String,
    functionality: String,
    application_name: String,
    role: String,
    run_id: String,
    environment: &'static str,
    custom_info: &'static str,
    logging_level: u8,
}

/// A JSON object whose keys keep their insertion order (pipeline order), as QoA4ML's Python
/// dicts do; serde_json's own map would sort them.
struct Ordered<T>(Vec<(String, T)>);

impl<T: Serialize> Serialize for Ordered<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// QoA4ML `Metric` with its single record.
#[derive(Serialize)]
struct Metric<R> {
    metric_name: &'static str,
    records: [R; 1],
    unit: Option<()>,
    description: Option<()>,
}

fn metric<R>(metric_name: &'static str, record: R) -> Metric<R> {
    Metric {
        metric_name,
        records: [record],
        unit: None,
        description: None,
    }
}

/// `timer()`'s record.
#[derive(Serialize)]
struct Timing {
    #[serde(rename = "startTime")]
    start_time: f64,
    #[serde(rename = "responseTime")]
    response_time: f64,
}

/// QoA4ML `StageReport`: `{name, metrics: {<metric>: {<instance>: Metric}}}`.
#[derive(Serialize)]
struct StageReport<R> {
    name: String,
    metrics: Ordered<Ordered<Metric<R>>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Prediction {
    Classes(Ordered<f64>),
    Value(f64),
}

/// An inference record: numbers for confidence, 0/1 for accuracy (correct or not), as in
/// the example report.
#[derive(Serialize)]
#[serde(untagged)]
enum InferenceRecord {
    Real(f64),
    Int(u8),
}

#[derive(Serialize)]
struct InferenceInstance {
    inference_id: String,
    instance_id: String,
    functionality: String,
    metrics: Vec<Metric<InferenceRecord>>,
    prediction: Prediction,
}

#[derive(Serialize)]
struct Metadata<'a> {
    client_config: &'a ClientInfo,
    timestamp: f64,
    corr_id: String,
    runtime: f64,
}

/// `MLReport` as published (rohe-spec §3.5 `GeneralMlInferenceReport`).
#[derive(Serialize)]
struct MlReport<'a> {
    metadata: Metadata<'a>,
    service: Ordered<StageReport<Timing>>,
    data: Ordered<StageReport<u32>>,
    ml_inference: Ordered<InferenceInstance>,
}

/// Alternating isolated spells and shared episodes.
#[derive(Debug, Clone)]
struct Regime {
    shared: bool,
    remaining: u32,
}

impl Regime {
    fn step(&mut self, rng: &mut SplitMix64) -> bool {
        if self.remaining == 0 {
            self.shared = !self.shared;
            self.remaining = if self.shared {
                uniform_u32(rng, EPISODE_MIN, EPISODE_MAX)
            } else {
                uniform_u32(rng, ISOLATED_MIN, ISOLATED_MAX)
            };
        }
        self.remaining -= 1;
        self.shared
    }
}

fn uniform_u32(rng: &mut SplitMix64, lo: u32, hi: u32) -> u32 {
    lo + rng.below((hi - lo + 1) as usize) as u32
}

fn random_uuid(rng: &mut SplitMix64) -> Uuid {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    b[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    uuid::Builder::from_random_bytes(b).into_uuid()
}

fn round_to(x: f64, scale: f64) -> f64 {
    (x * scale).round() / scale
}

/// Object classes of the CCTV detector's predictions.
const CLASSES: [&str; 4] = ["car", "person", "bicycle", "truck"];

/// Generates the reports of one application's pipeline. See the module documentation.
#[derive(Debug, Clone)]
pub struct DemoGenerator {
    rng: SplitMix64,
    stages: Vec<DemoStage>,
    client: ClientInfo,
    routing_key: String,
    /// The first stage replays a CCTV service: report image sizes rather than tabular data
    /// quality.
    image_input: bool,
    regime: Regime,
}

impl DemoGenerator {
    /// A generator for `app`. The seed is mixed with the app_id, so two applications demoed
    /// with the same seed still get distinct corr_ids, while one (app, seed) always gives
    /// the same stream.
    ///
    /// Stages without microservices are left out (QoA4ML keys every metric by an instance).
    /// An application without any microservice is reported as one stage named after it,
    /// published on its application-level routing key, so a demo of it still shows data.
    pub fn new(app: &Application, seed: u64) -> DemoGenerator {
        let mut rng = SplitMix64::new(seed ^ fnv1a(app.app_id.as_bytes()));
        let client_id = random_uuid(&mut rng).to_string();
        let name = &app.application_name;
        let mut stages: Vec<DemoStage> = app
            .stages
            .iter()
            .filter(|s| !s.microservices.is_empty())
            .map(|s| DemoStage {
                name: s.name.clone(),
                services: s
                    .microservices
                    .iter()
                    .map(|m| {
                        let profile_name = profile_for(name, &m.name);
                        DemoService {
                            name: m.name.clone(),
                            instance_id: m.instance_id.to_string(),
                            profile_name,
                            profile: &profiles().services[profile_name],
                        }
                    })
                    .collect(),
            })
            .collect();
        // The end of the pipeline publishes the whole report (rohe-spec §3.7).
        let last = app
            .stages
            .iter()
            .rev()
            .find_map(|s| s.microservices.first().map(|m| (s, m)));
        let (client, routing_key) = match last {
            Some((stage, ms)) => (
                ClientInfo {
                    id: client_id,
                    name: ms.name.clone(),
                    user_id: app.user_id.clone(),
                    username: app.user_id.clone(),
                    instance_id: ms.instance_id.to_string(),
                    instance_name: ms.name.clone(),
                    stage_id: stage.name.clone(),
                    functionality: ms.functionality.clone(),
                    application_name: name.clone(),
                    role: ms.role.clone(),
                    run_id: app.run_id.clone(),
                    environment: "Edge",
                    custom_info: "",
                    logging_level: 2,
                },
                // As registration derives it: the stage segment is the stage's UUID.
                routing_key(
                    name,
                    &app.user_id,
                    Some(&stage.stage_id.to_string()),
                    Some(&ms.instance_id.to_string()),
                    ms.client_number,
                ),
            ),
            None => {
                let instance_id = Uuid::new_v5(&app.app_id, b"rohe-demo:instance").to_string();
                let profile_name = profile_for(name, name);
                stages.push(DemoStage {
                    name: name.clone(),
                    services: vec![DemoService {
                        name: name.clone(),
                        instance_id: instance_id.clone(),
                        profile_name,
                        profile: &profiles().services[profile_name],
                    }],
                });
                (
                    ClientInfo {
                        id: client_id,
                        name: name.clone(),
                        user_id: app.user_id.clone(),
                        username: app.user_id.clone(),
                        instance_id,
                        instance_name: name.clone(),
                        stage_id: name.clone(),
                        functionality: "REST".into(),
                        application_name: name.clone(),
                        role: "ml".into(),
                        run_id: app.run_id.clone(),
                        environment: "Edge",
                        custom_info: "",
                        logging_level: 2,
                    },
                    routing_key(name, &app.user_id, None, None, app.client_count),
                )
            }
        };
        let image_input = stages
            .first()
            .and_then(|s| s.services.first())
            .is_some_and(|m| m.profile.app == "cctvs");
        let regime = Regime {
            shared: false,
            remaining: uniform_u32(&mut rng, FIRST_ISOLATED_MIN, FIRST_ISOLATED_MAX),
        };
        DemoGenerator {
            rng,
            stages,
            client,
            routing_key,
            image_input,
            regime,
        }
    }

    /// The routing key every report is published with.
    pub fn routing_key(&self) -> &str {
        &self.routing_key
    }

    /// The SPE2024 profile each reported microservice replays, in pipeline order.
    pub fn assignments(&self) -> Vec<Assignment> {
        self.stages
            .iter()
            .flat_map(|s| {
                s.services.iter().map(|m| Assignment {
                    stage: s.name.clone(),
                    microservice: m.name.clone(),
                    instance_id: m.instance_id.clone(),
                    profile: m.profile_name,
                })
            })
            .collect()
    }

    /// The next report, for a pipeline run that ends at `now` (epoch seconds; a non-finite
    /// value is taken as 0 so the JSON stays numeric).
    ///
    /// Microservices of one stage run in parallel (an ensemble), so a stage lasts as long as
    /// its slowest one; stages run one after another with a 0.5-3 ms network hop between
    /// them, and the last one ends at `now`.
    pub fn next_report(&mut self, now: f64) -> DemoReport {
        let now = if now.is_finite() { now } else { 0.0 };
        let rng = &mut self.rng;
        let shared = self.regime.step(rng);

        // Draw every latency, then lay the stages out backwards from `now`.
        let latencies: Vec<Vec<f64>> = self
            .stages
            .iter()
            .map(|s| {
                s.services
                    .iter()
                    .map(|m| {
                        let table = if shared {
                            &m.profile.shared
                        } else {
                            &m.profile.isolated
                        };
                        // 0.1 µs resolution, as QoA4ML's timer reports.
                        round_to(table.sample(rng.next_open01()), 1e7)
                    })
                    .collect()
            })
            .collect();
        let mut starts = vec![0.0; self.stages.len()];
        let mut end = now;
        for (i, lat) in latencies.iter().enumerate().rev() {
            let duration = lat.iter().copied().fold(0.0, f64::max);
            starts[i] = round_to(end - duration, 1e6);
            let hop = 0.0005 + 0.0025 * rng.next_open01();
            end = starts[i] - hop;
        }

        let service = Ordered(
            self.stages
                .iter()
                .zip(&latencies)
                .zip(&starts)
                .map(|((s, lat), &start)| {
                    let per_instance = s
                        .services
                        .iter()
                        .zip(lat)
                        .map(|(m, &rt)| {
                            let t = Timing {
                                start_time: start,
                                response_time: rt,
                            };
                            (m.instance_id.clone(), metric("response_time", t))
                        })
                        .collect();
                    let report = StageReport {
                        name: s.name.clone(),
                        metrics: Ordered(vec![("response_time".into(), Ordered(per_instance))]),
                    };
                    (s.name.clone(), report)
                })
                .collect(),
        );

        // Data quality of the pipeline's input, observed by the first stage.
        let (m1, v1, m2, v2) = if self.image_input {
            // Camera feeds: mostly 720p, some 1080p.
            if rng.next_open01() < 0.7 {
                ("image_width", 1280, "image_height", 720)
            } else {
                ("image_width", 1920, "image_height", 1080)
            }
        } else {
            // Tabular batches: a few missing values now and then (geometric, mean ≈ 0.8).
            let batch = [16, 32, 64][rng.below(3)];
            let missing = (-rng.next_open01().ln() * 0.8).floor().min(1000.0) as u32;
            ("missing_values", missing, "batch_size", batch)
        };
        let data = Ordered(
            self.stages
                .first()
                .map(|s| {
                    let per = |name: &'static str, v: u32| {
                        Ordered(
                            s.services
                                .iter()
                                .map(|m| (m.instance_id.clone(), metric(name, v)))
                                .collect(),
                        )
                    };
                    let report = StageReport {
                        name: s.name.clone(),
                        metrics: Ordered(vec![
                            (m1.to_string(), per(m1, v1)),
                            (m2.to_string(), per(m2, v2)),
                        ]),
                    };
                    vec![(s.name.clone(), report)]
                })
                .unwrap_or_default(),
        );

        // Contention goes with degraded inputs (late, dropped or re-encoded frames and
        // batches), so confidence is lower and more spread in shared episodes; accuracy is
        // whether this inference was right, with a calibrated model's chance of `confidence`.
        let mid = (rng.next_open01() + rng.next_open01()) / 2.0;
        let confidence = round_to(
            if shared {
                0.62 + 0.30 * mid
            } else {
                0.80 + 0.15 * mid
            },
            1e4,
        );
        let accuracy = u8::from(rng.next_open01() < confidence);
        let prediction = if self.image_input {
            let top = rng.below(CLASSES.len());
            let second = (top + 1 + rng.below(CLASSES.len() - 1)) % CLASSES.len();
            let rest = 1.0 - confidence;
            let p2 = round_to(rest * rng.next_open01(), 1e4);
            Prediction::Classes(Ordered(vec![
                (CLASSES[top].to_string(), confidence),
                (CLASSES[second].to_string(), p2),
            ]))
        } else {
            // The model's output value; the console reads only the metrics.
            Prediction::Value(round_to(100.0 * rng.next_open01(), 1e2))
        };
        let inference_id = random_uuid(rng).to_string();
        let corr_id = random_uuid(rng).to_string();
        let ml_inference = Ordered(vec![(
            self.client.instance_id.clone(),
            InferenceInstance {
                inference_id,
                instance_id: self.client.instance_id.clone(),
                functionality: self.client.functionality.clone(),
                metrics: vec![
                    metric("confidence", InferenceRecord::Real(confidence)),
                    metric("accuracy", InferenceRecord::Int(accuracy)),
                ],
                prediction,
            },
        )]);

        // `runtime` is how long the publishing client's report was open: its own stage.
        let runtime = round_to(now - starts.last().copied().unwrap_or(now), 1e6);
        let report = MlReport {
            metadata: Metadata {
                client_config: &self.client,
                timestamp: now,
                corr_id: corr_id.clone(),
                runtime,
            },
            service,
            data,
            ml_inference,
        };
        // Plain structs of strings and finite numbers: serialisation cannot fail.
        let body = serde_json::to_vec(&report).expect("serialise a demo report");
        DemoReport {
            routing_key: self.routing_key.clone(),
            message_id: corr_id,
            body,
            shared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_cdf_interpolates_between_quantiles() {
        let t = LatencyTable {
            n: 3,
            quantiles: (0..QUANTILES).map(|i| i as f64 / 100.0).collect(),
        };
        assert!((t.sample(0.255) - 0.255).abs() < 1e-12);
        assert_eq!(t.quantile(50.0), 0.5);
        assert_eq!(t.sample(0.0), 0.0);
        assert_eq!(t.sample(1.0), 1.0);
    }

    #[test]
    fn bad_tables_are_refused() {
        let mut q: Vec<f64> = (0..QUANTILES).map(|i| i as f64).collect();
        let ok = LatencyTable {
            n: 1,
            quantiles: q.clone(),
        };
        assert!(ok.check("t").is_ok());
        q[40] = 0.5;
        let t = LatencyTable { n: 1, quantiles: q };
        assert!(t.check("t").unwrap_err().contains("q40"));
        let short = LatencyTable {
            n: 1,
            quantiles: vec![0.1; 100],
        };
        assert!(short.check("t").is_err());
        assert!(parse_profiles(r#"{"source":"","derivation":"","services":{}}"#).is_err());
    }

    #[test]
    fn fnv_is_the_reference_fnv1a() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn profile_lookup() {
        assert_eq!(profile_for("x", "object_detection"), "object_detection");
        let p = profile_for("kpi", "gateway_v2");
        assert_eq!(profiles().services[p].app, "kpi");
        assert_eq!(profile_for("zzz", "thing"), profile_for("zzz", "thing"));
    }
}
