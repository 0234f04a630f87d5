//! The Registry port: where microservice instances announce themselves and are discovered
//! (rohe-spec 7). Implementations: `adapters::embedded::StoreRegistry` (instances in the store,
//! with TTL health) and `adapters::consul::ConsulRegistry` (Consul's HTTP API).
//!
//! Unlike ROHE's client, every instance is registered with a health check (a TTL that the
//! instance, or `rohe registry pass`, keeps passing), and discovery returns passing instances
//! only, so dead instances disappear.

use crate::error::{Error, Result};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One registered microservice instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// Logical service name (`ingestion`, `inference`).
    pub name: String,
    /// Unique instance id.
    pub id: String,
    pub address: String,
    pub port: u16,
    /// e.g. `modelName`, `paramsName` values, the application.
    #[serde(default)]
    pub tags: Vec<String>,
    /// e.g. `appName`, `appID`.
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    /// TTL of the health check, in seconds (0: no check, always passing).
    #[serde(default)]
    pub ttl_s: u64,
    /// The last health state the registry reports (`passing`, `warning`, `critical`).
    #[serde(default)]
    pub health: String,
}

impl Instance {
    pub fn validate(&self) -> Result<()> {
        for (field, v) in [
            ("name", &self.name),
            ("id", &self.id),
            ("address", &self.address),
        ] {
            if v.trim().is_empty() || v.chars().any(|c| c.is_control() || c == '/') {
                return Err(Error::invalid(format!("{v:?} is not a valid {field}"))
                    .field(field)
                    .hint("a non-empty value without '/' or control characters"));
            }
        }
        if self.port == 0 {
            return Err(Error::invalid("port 0 is not a port").field("port"));
        }
        Ok(())
    }
}

/// How many instances a caller wants (ROHE's `handle_service_query` types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    All,
    One,
    Quorum,
}

/// Pick instances: `all` of them, `one` at random, or a random `quorum` (floor(n/2)+1), sampled
/// without replacement; asking for at least n gives all, in registry order. `seed` makes the
/// choice reproducible (tests, and callers that want stable routing per client).
pub fn select(instances: Vec<Instance>, strategy: Strategy, seed: u64) -> Vec<Instance> {
    let n = instances.len();
    let want = match strategy {
        Strategy::All => n,
        Strategy::One => 1,
        Strategy::Quorum => n / 2 + 1,
    };
    if want >= n {
        return instances;
    }
    // SplitMix64: a partial Fisher-Yates over indices.
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut idx: Vec<usize> = (0..n).collect();
    for i in 0..want {
        let j = i + (next() % (n - i) as u64) as usize;
        idx.swap(i, j);
    }
    let mut chosen = idx[..want].to_vec();
    chosen.sort_unstable();
    let mut slots: Vec<Option<Instance>> = instances.into_iter().map(Some).collect();
    chosen.into_iter().filter_map(|i| slots[i].take()).collect()
}

#[async_trait]
pub trait Registry: Send + Sync {
    /// `embedded` or `consul`, and where.
    fn describe(&self) -> String;
    /// Register (or re-register) an instance with its TTL check, passing at once.
    async fn register(&self, instance: &Instance) -> Result<()>;
    /// Remove an instance; one already gone is not an error. Returns whether it was there.
    async fn deregister(&self, id: &str) -> Result<bool>;
    /// Mark the instance's TTL check as passing (its heartbeat).
    async fn pass(&self, id: &str) -> Result<()>;
    /// Instances of `name` carrying every tag in `tags`; only passing ones unless `all_states`.
    async fn instances(
        &self,
        name: &str,
        tags: &[String],
        all_states: bool,
    ) -> Result<Vec<Instance>>;
    /// Every service name with its instance count (the registry view).
    async fn services(&self) -> Result<Vec<(String, usize)>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(i: usize) -> Instance {
        Instance {
            name: "inference".into(),
            id: format!("i{i}"),
            address: "10.0.0.1".into(),
            port: 5000 + i as u16,
            tags: vec![],
            meta: BTreeMap::new(),
            ttl_s: 0,
            health: "passing".into(),
        }
    }

    #[test]
    fn strategies_pick_the_right_number_without_repeats() {
        let all: Vec<_> = (0..5).map(inst).collect();
        assert_eq!(select(all.clone(), Strategy::All, 1), all);
        assert_eq!(select(all.clone(), Strategy::One, 1).len(), 1);
        let q = select(all.clone(), Strategy::Quorum, 7);
        assert_eq!(q.len(), 3);
        let mut ids: Vec<_> = q.iter().map(|i| i.id.clone()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 3);
        // n = 1: one and quorum give it; n = 0 gives nothing.
        assert_eq!(select(vec![inst(0)], Strategy::Quorum, 3).len(), 1);
        assert!(select(vec![], Strategy::One, 3).is_empty());
        // Different seeds reach different instances.
        let picks: std::collections::BTreeSet<String> = (0..50)
            .map(|s| select(all.clone(), Strategy::One, s)[0].id.clone())
            .collect();
        assert!(picks.len() > 2, "{picks:?}");
    }

    #[test]
    fn invalid_instances_name_the_field() {
        let mut i = inst(0);
        i.port = 0;
        assert_eq!(
            i.validate().expect_err("port").field.as_deref(),
            Some("port")
        );
        let mut i = inst(0);
        i.name = "a/b".into();
        assert_eq!(
            i.validate().expect_err("name").field.as_deref(),
            Some("name")
        );
    }
}
