//! The embedded registry: instances in one store document (`registry`), with TTL health
//! computed from each instance's last heartbeat: passing within its TTL, critical after, and
//! removed after ten TTLs (at least a minute), as Consul does with
//! `DeregisterCriticalServiceAfter`.

use crate::error::{Error, ErrorKind, Result};
use crate::ports::Store;
use crate::ports::registry::{Instance, Registry};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub const REGISTRY_KEY: &str = "registry";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Doc {
    #[serde(default)]
    instances: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    instance: Instance,
    last_pass: DateTime<Utc>,
}

impl Entry {
    fn health(&self, now: DateTime<Utc>) -> &'static str {
        let ttl = self.instance.ttl_s as i64;
        if ttl == 0 || (now - self.last_pass).num_seconds() <= ttl {
            "passing"
        } else {
            "critical"
        }
    }
    fn expired(&self, now: DateTime<Utc>) -> bool {
        let ttl = self.instance.ttl_s as i64;
        ttl > 0 && (now - self.last_pass).num_seconds() > (ttl * 10).max(60)
    }
}

pub struct StoreRegistry {
    store: Arc<dyn Store>,
}

impl StoreRegistry {
    pub fn new(store: Arc<dyn Store>) -> StoreRegistry {
        StoreRegistry { store }
    }

    async fn load(&self) -> Result<(Doc, Option<u64>)> {
        match self.store.get_doc(REGISTRY_KEY).await? {
            None => Ok((Doc::default(), None)),
            Some(v) => Ok((
                serde_json::from_value(v.value).map_err(|e| {
                    Error::runtime(format!("the stored registry is unreadable: {e}"))
                })?,
                Some(v.version),
            )),
        }
    }

    async fn update<T>(&self, f: impl Fn(&mut Doc, DateTime<Utc>) -> Result<T>) -> Result<T> {
        for _ in 0..10 {
            let (mut doc, version) = self.load().await?;
            let now = Utc::now();
            doc.instances.retain(|e| !e.expired(now));
            let out = f(&mut doc, now)?;
            let json = serde_json::to_value(&doc)
                .map_err(|e| Error::runtime(format!("cannot encode the registry: {e}")))?;
            match self.store.put_doc(REGISTRY_KEY, &json, version, None).await {
                Ok(_) => return Ok(out),
                Err(e) if e.kind == ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::conflict("the registry kept changing"))
    }
}

#[async_trait]
impl Registry for StoreRegistry {
    fn describe(&self) -> String {
        "embedded (the store)".into()
    }

    async fn register(&self, instance: &Instance) -> Result<()> {
        instance.validate()?;
        let i = instance.clone();
        self.update(move |doc, now| {
            doc.instances.retain(|e| e.instance.id != i.id);
            doc.instances.push(Entry {
                instance: i.clone(),
                last_pass: now,
            });
            Ok(())
        })
        .await
    }

    async fn deregister(&self, id: &str) -> Result<bool> {
        self.update(|doc, _| {
            let before = doc.instances.len();
            doc.instances.retain(|e| e.instance.id != id);
            Ok(before != doc.instances.len())
        })
        .await
    }

    async fn pass(&self, id: &str) -> Result<()> {
        self.update(|doc, now| {
            let e = doc
                .instances
                .iter_mut()
                .find(|e| e.instance.id == id)
                .ok_or_else(|| {
                    Error::not_found(format!("no instance {id:?} is registered"))
                        .hint("register it first (`rohe registry register`)")
                })?;
            e.last_pass = now;
            Ok(())
        })
        .await
    }

    async fn instances(
        &self,
        name: &str,
        tags: &[String],
        all_states: bool,
    ) -> Result<Vec<Instance>> {
        let (doc, _) = self.load().await?;
        let now = Utc::now();
        Ok(doc
            .instances
            .iter()
            .filter(|e| !e.expired(now))
            .filter(|e| e.instance.name == name)
            .filter(|e| tags.iter().all(|t| e.instance.tags.contains(t)))
            .filter(|e| all_states || e.health(now) == "passing")
            .map(|e| {
                let mut i = e.instance.clone();
                i.health = e.health(now).into();
                i
            })
            .collect())
    }

    async fn services(&self) -> Result<Vec<(String, usize)>> {
        let (doc, _) = self.load().await?;
        let now = Utc::now();
        let mut out: Vec<(String, usize)> = Vec::new();
        for e in doc.instances.iter().filter(|e| !e.expired(now)) {
            match out.iter_mut().find(|(n, _)| *n == e.instance.name) {
                Some((_, c)) => *c += 1,
                None => out.push((e.instance.name.clone(), 1)),
            }
        }
        out.sort();
        Ok(out)
    }
}
