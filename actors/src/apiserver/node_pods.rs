//! What the pods bound to each node reference, kept from a watch of the pods: a node may read
//! a ConfigMap or Secret only if one of its pods names it, and answering that must not list
//! every pod of the cluster for each read.
//!
//! The index is read at least as new as the store was when the request arrived: a pod bound a
//! moment ago is counted even if its event has not reached the index yet. A lookup that finds
//! the index behind asks the store for a progress notification, which the index's watcher
//! receives even when no pod changed.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use flotilla_kernel::api::{ApiError, ErrorCode};
use flotilla_kernel::object::{Kind, Object, Pod};
use flotilla_store::{EventKind, WatchItem};

use super::authz::NodePod;
use super::keys::object_key;
use super::stored::{self, Stored};

/// How long a lookup waits for the index to catch up before it gives up.
const CATCH_UP: Duration = Duration::from_secs(5);
/// How long the index waits before listing again after its watch failed.
const RELIST_AFTER: Duration = Duration::from_secs(1);

/// A bound pod's store key → its node and what it references.
#[derive(Default)]
struct Index {
    pods: HashMap<Vec<u8>, (String, NodePod)>,
}

impl Index {
    fn apply(&mut self, key: &[u8], pod: Option<&Pod>) {
        match pod.filter(|pod| !pod.spec.node_name.is_empty()) {
            Some(pod) => {
                let entry = NodePod {
                    namespace: pod.metadata.namespace.clone(),
                    references: pod.spec.references(),
                };
                self.pods
                    .insert(key.to_vec(), (pod.spec.node_name.clone(), entry));
            }
            None => {
                self.pods.remove(key);
            }
        }
    }

    fn on_node(&self, node: &str) -> Vec<NodePod> {
        self.pods
            .values()
            .filter(|(bound, _)| bound == node)
            .map(|(_, pod)| pod.clone())
            .collect()
    }
}

/// The index and the revision it has caught up with. Shared by the feeding task and lookups.
pub struct NodePods {
    stored: Stored,
    index: Mutex<Index>,
    applied: watch::Sender<u64>,
}

impl NodePods {
    pub fn new(stored: Stored) -> Self {
        Self {
            stored,
            index: Mutex::default(),
            applied: watch::Sender::new(0),
        }
    }

    /// What the pods bound to `node` reference, as of at least the store's current revision.
    pub async fn on_node(&self, node: &str) -> Result<Vec<NodePod>, ApiError> {
        let wanted = self.stored.revision();
        let mut applied = self.applied.subscribe();
        if *applied.borrow() < wanted {
            self.stored.request_progress();
            let caught_up = applied.wait_for(|revision| *revision >= wanted);
            match tokio::time::timeout(CATCH_UP, caught_up).await {
                Ok(Ok(_)) => {}
                Ok(Err(_)) | Err(_) => {
                    return Err(ApiError::new(
                        ErrorCode::Unavailable,
                        "the API server's index of pods is catching up; retry",
                    ));
                }
            }
        }
        Ok(self.lock().on_node(node))
    }

    /// Lists the pods and follows their changes, forever; lists again when the watch fails.
    pub async fn feed(&self) {
        loop {
            if let Err(error) = self.follow().await {
                tracing::warn!(%error, "the index of pods lost its watch; listing again");
            }
            tokio::time::sleep(RELIST_AFTER).await;
        }
    }

    async fn follow(&self) -> Result<(), ApiError> {
        let (pods, revision) = self
            .stored
            .list_map(Kind::Pod, None, |v| match v.object {
                Object::Pod(pod) => Some(pod),
                _ => None,
            })
            .await?;
        {
            let mut index = self.lock();
            *index = Index::default();
            for pod in &pods {
                let key = object_key(Kind::Pod, &pod.metadata.namespace, &pod.metadata.name);
                index.apply(&key, Some(pod));
            }
        }
        self.applied.send_replace(revision);
        let mut watcher = self.stored.watch(Kind::Pod, None, revision).await?;
        loop {
            let item = watcher
                .next_item()
                .await
                .map_err(|e| ApiError::new(ErrorCode::Gone, e.to_string()))?;
            let revision = match item {
                None => return Ok(()),
                Some(WatchItem::Progress { revision }) => revision,
                Some(WatchItem::Event(event)) => {
                    let pod = match event.kind {
                        EventKind::Put => match stored::decode(&event.kv)?.object {
                            Object::Pod(pod) => Some(pod),
                            _ => None,
                        },
                        EventKind::Delete => None,
                    };
                    self.lock().apply(&event.kv.key, pod.as_ref());
                    event.kv.mod_revision
                }
            };
            self.applied.send_if_modified(|applied| {
                let newer = revision > *applied;
                *applied = (*applied).max(revision);
                newer
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
