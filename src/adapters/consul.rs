//! The Consul registry (rohe-spec 7), over Consul's HTTP API with reqwest.
//!
//! Every instance is registered with a TTL check that starts passing (ROHE registered none, so
//! dead instances stayed in the catalog) and `DeregisterCriticalServiceAfter`, so an instance
//! that stops sending heartbeats turns critical, drops out of discovery, and is removed.
//! Discovery reads `/v1/health/service/<name>?passing=true` (ROHE read the catalog, which
//! includes dead instances). A token, when configured, goes in `X-Consul-Token` and nowhere else.

use crate::error::{Error, Result};
use crate::ports::registry::{Instance, Registry};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

pub struct ConsulRegistry {
    http: reqwest::Client,
    base: url::Url,
    token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HealthEntry {
    service: HealthService,
    #[serde(default)]
    checks: Vec<HealthCheck>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HealthService {
    #[serde(rename = "ID")]
    id: String,
    service: String,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    address: String,
    port: u16,
    #[serde(default)]
    meta: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HealthCheck {
    status: String,
}

/// The check id Consul gives the single check of a service registration.
fn check_id(service_id: &str) -> String {
    format!("service:{service_id}")
}

fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl ConsulRegistry {
    pub fn new(url: &str, token: Option<String>) -> Result<ConsulRegistry> {
        let base = url::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                Error::invalid(format!("{url:?} is not a Consul address"))
                    .field("registry.url")
                    .hint("use http://host:8500")
            })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::runtime(format!("cannot build the HTTP client: {e}")))?;
        Ok(ConsulRegistry {
            http,
            base,
            token: token.filter(|t| !t.is_empty()),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base.as_str().trim_end_matches('/'), path)
    }

    async fn send(&self, req: reqwest::RequestBuilder, what: &str) -> Result<reqwest::Response> {
        let req = match &self.token {
            Some(t) => req.header("X-Consul-Token", t),
            None => req,
        };
        let resp = req.send().await.map_err(|e| {
            Error::runtime(format!(
                "Consul at {} cannot be reached ({what}): {e}",
                self.base
            ))
            .field("registry.url")
            .hint("check that the Consul agent runs and registry.url points at it")
        })?;
        Ok(resp)
    }

    async fn expect_ok(&self, resp: reqwest::Response, what: &str) -> Result<reqwest::Response> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.text().await.unwrap_or_default();
        let body: String = body.trim().chars().take(300).collect();
        let err = format!("Consul answered {status} to {what}: {body}");
        Err(match status.as_u16() {
            400 => Error::invalid(err)
                .hint("the registration was refused: check name, address and port"),
            403 => Error::invalid(err)
                .field("registry.token")
                .hint("the ACL token is missing or lacks service:write"),
            404 => Error::not_found(err),
            _ => Error::runtime(err)
                .hint("Consul failed: look at the Consul agent's log; nothing was changed by rohe"),
        })
    }
}

#[async_trait]
impl Registry for ConsulRegistry {
    fn describe(&self) -> String {
        format!("consul at {}", self.base)
    }

    async fn register(&self, i: &Instance) -> Result<()> {
        i.validate()?;
        let mut body = json!({
            "Name": i.name,
            "ID": i.id,
            "Address": i.address,
            "Port": i.port,
            "Tags": i.tags,
            "Meta": i.meta,
            "EnableTagOverride": false,
        });
        if i.ttl_s > 0 {
            body["Check"] = json!({
                "CheckID": check_id(&i.id),
                "Name": format!("{} heartbeat", i.name),
                "TTL": format!("{}s", i.ttl_s),
                "Status": "passing",
                "DeregisterCriticalServiceAfter": format!("{}s", (i.ttl_s * 10).max(60)),
            });
        }
        let what = format!("registering {}", i.id);
        let resp = self
            .send(
                self.http
                    .put(self.url("/v1/agent/service/register"))
                    .json(&body),
                &what,
            )
            .await?;
        self.expect_ok(resp, &what).await.map(|_| ())
    }

    async fn deregister(&self, id: &str) -> Result<bool> {
        let what = format!("deregistering {id}");
        let resp = self
            .send(
                self.http
                    .put(self.url(&format!("/v1/agent/service/deregister/{}", seg(id)))),
                &what,
            )
            .await?;
        match self.expect_ok(resp, &what).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind == crate::error::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn pass(&self, id: &str) -> Result<()> {
        let what = format!("passing the check of {id}");
        let resp = self
            .send(
                self.http
                    .put(self.url(&format!("/v1/agent/check/pass/{}", seg(&check_id(id))))),
                &what,
            )
            .await?;
        self.expect_ok(resp, &what).await.map(|_| ())
    }

    async fn instances(
        &self,
        name: &str,
        tags: &[String],
        all_states: bool,
    ) -> Result<Vec<Instance>> {
        let mut url = self.url(&format!("/v1/health/service/{}", seg(name)));
        let mut query: Vec<String> = Vec::new();
        if !all_states {
            query.push("passing=true".into());
        }
        query.extend(tags.iter().map(|t| format!("tag={}", seg(t))));
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.join("&"));
        }
        let what = format!("discovering {name}");
        let resp = self.send(self.http.get(url), &what).await?;
        let resp = self.expect_ok(resp, &what).await?;
        let entries: Vec<HealthEntry> = resp.json().await.map_err(|e| {
            Error::runtime(format!(
                "Consul's answer to {what} is not a health list: {e}"
            ))
        })?;
        Ok(entries
            .into_iter()
            .map(|e| {
                let worst = e
                    .checks
                    .iter()
                    .map(|c| c.status.as_str())
                    .max_by_key(|s| match *s {
                        "passing" => 0,
                        "warning" => 1,
                        _ => 2,
                    })
                    .unwrap_or("passing")
                    .to_string();
                Instance {
                    name: e.service.service,
                    id: e.service.id,
                    address: e.service.address,
                    port: e.service.port,
                    tags: e.service.tags.unwrap_or_default(),
                    meta: e.service.meta.unwrap_or_default(),
                    ttl_s: 0,
                    health: worst,
                }
            })
            .collect())
    }

    async fn services(&self) -> Result<Vec<(String, usize)>> {
        let what = "listing services".to_string();
        let resp = self
            .send(self.http.get(self.url("/v1/catalog/services")), &what)
            .await?;
        let resp = self.expect_ok(resp, &what).await?;
        let names: BTreeMap<String, serde_json::Value> = resp.json().await.map_err(|e| {
            Error::runtime(format!(
                "Consul's answer to {what} is not a service map: {e}"
            ))
        })?;
        let mut out = Vec::new();
        for name in names.into_keys().filter(|n| n != "consul") {
            let n = self.instances(&name, &[], true).await?.len();
            out.push((name, n));
        }
        Ok(out)
    }
}
