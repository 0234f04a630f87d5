//! A namespace's rohe-managed objects of one kind, kept current by the API server's
//! list-then-watch protocol, so the console shows Deployment and Pod changes as they happen
//! without listing both kinds every refresh.
//!
//! The protocol, as kube's own reflector follows it: list (which gives a `resourceVersion`),
//! then watch from that version, applying ADDED / MODIFIED / DELETED and remembering the version
//! of every event and BOOKMARK; when the watch ends (the server closes it after `timeoutSeconds`)
//! watch again from the last version; when the server says that version is too old (410 Gone,
//! as an ERROR event or a status) or anything else fails, list again. While a list has not
//! succeeded since the last failure the mirror is not `synced`, and readers list for
//! themselves, so a broken watch never shows stale objects as current.

use ::kube::api::{Api, ListParams, WatchEvent, WatchParams};
use futures_lite::StreamExt;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long the server keeps one watch open before we ask again (it may close it sooner).
const WATCH_TIMEOUT_S: u32 = 290;
/// The longest wait between attempts after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub(super) struct Mirror<K> {
    state: RwLock<State<K>>,
}

struct State<K> {
    objects: BTreeMap<String, K>,
    synced: bool,
}

impl<K: Clone> Mirror<K> {
    pub(super) fn new() -> Arc<Mirror<K>> {
        Arc::new(Mirror {
            state: RwLock::new(State {
                objects: BTreeMap::new(),
                synced: false,
            }),
        })
    }

    /// The objects, when the mirror is current; `None` while it is (re)listing.
    pub(super) fn snapshot(&self) -> Option<Vec<K>> {
        let st = self.state.read().unwrap_or_else(|p| p.into_inner());
        st.synced.then(|| st.objects.values().cloned().collect())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State<K>> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
}

fn name_of<K: ::kube::Resource>(o: &K) -> String {
    o.meta().name.clone().unwrap_or_default()
}

fn version_of<K: ::kube::Resource>(o: &K) -> Option<String> {
    o.meta().resource_version.clone()
}

/// Keeps `mirror` current until the task is aborted.
pub(super) async fn run<K>(api: Api<K>, selector: String, mirror: Arc<Mirror<K>>)
where
    K: ::kube::Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let mut failures = 0u32;
    // The version to watch from; `None`: list first.
    let mut version: Option<String> = None;
    loop {
        let from = match version.take() {
            Some(v) => v,
            None => match api.list(&ListParams::default().labels(&selector)).await {
                Ok(list) => {
                    let mut st = mirror.write();
                    st.objects = list.items.into_iter().map(|o| (name_of(&o), o)).collect();
                    st.synced = true;
                    drop(st);
                    list.metadata.resource_version.unwrap_or_default()
                }
                Err(e) => {
                    tracing::warn!(error = %e, "kubernetes: listing for the watch failed");
                    mirror.write().synced = false;
                    failures += 1;
                    tokio::time::sleep(backoff(failures)).await;
                    continue;
                }
            },
        };
        let params = WatchParams::default()
            .labels(&selector)
            .timeout(WATCH_TIMEOUT_S);
        let started = Instant::now();
        let mut events = match api.watch(&params, &from).await {
            Ok(s) => Box::pin(s),
            Err(e) => {
                tracing::warn!(error = %e, "kubernetes: the watch could not start");
                mirror.write().synced = false;
                failures += 1;
                tokio::time::sleep(backoff(failures)).await;
                continue;
            }
        };
        let mut last = Some(from);
        while let Some(event) = events.next().await {
            match event {
                Ok(WatchEvent::Added(o)) | Ok(WatchEvent::Modified(o)) => {
                    last = version_of(&o).or(last);
                    mirror.write().objects.insert(name_of(&o), o);
                }
                Ok(WatchEvent::Deleted(o)) => {
                    last = version_of(&o).or(last);
                    mirror.write().objects.remove(&name_of(&o));
                }
                Ok(WatchEvent::Bookmark(b)) => last = Some(b.metadata.resource_version),
                Ok(WatchEvent::Error(status)) => {
                    // 410 Gone: the version is too old; anything else: start over too.
                    tracing::info!(
                        code = status.code,
                        "kubernetes: the watch ended: {}",
                        status.message
                    );
                    last = None;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "kubernetes: the watch broke");
                    last = None;
                    break;
                }
            }
        }
        if last.is_none() {
            // Until the next list succeeds, readers list for themselves.
            mirror.write().synced = false;
            failures += 1;
        } else {
            failures = 0;
        }
        version = last;
        // A server that closes watches at once must not be asked in a tight loop.
        if started.elapsed() < Duration::from_secs(1) {
            tokio::time::sleep(backoff(failures.max(1))).await;
        }
    }
}

/// 1 s, 2 s, 4 s, ... up to [`MAX_BACKOFF`].
fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(5);
    (Duration::from_secs(1) * 2u32.pow(exp)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(6), MAX_BACKOFF);
        assert_eq!(backoff(60), MAX_BACKOFF);
    }
}
