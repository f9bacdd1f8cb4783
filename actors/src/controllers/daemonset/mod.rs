//! The DaemonSet controller: one pod of each DaemonSet on every node its placement rules
//! allow, new nodes included, rolled to a new template node by node, with Kubernetes' status
//! counts.
//!
//! The key is a DaemonSet's namespace and name. The controller keeps the DaemonSets, the
//! nodes and the pods DaemonSets control in caches fed by its watches (listed before the first
//! reconcile) and by its own writes (see [`FreshCache`]), as the EndpointSlice controller
//! does: a reconcile costs the set's own pods, not a listing of the cluster. DaemonSet events
//! queue the set; pod events queue the set controlling the pod; node events queue every set
//! (a new, relabelled or tainted node may change where each belongs). Each reconcile performs
//! the pure [`plan::plan`]. A deleted DaemonSet's pods are the garbage collector's.

pub mod placement;
pub mod plan;
#[cfg(test)]
mod tests;

use std::time::SystemTime;

use flotilla_kernel::api::{ApiClient, ClientError, ErrorCode, EventType, Watched};
use flotilla_kernel::object::{DaemonSet, Kind, Node, Pod, Resource};

use self::plan::plan;
use super::driver::{Action, Controller, Watches};
use super::fresh_cache::FreshCache;
use super::key::ObjectKey;
use super::ownership::is_terminating;

/// The DaemonSet controller and its watch-fed caches.
pub struct DaemonSetController {
    daemon_sets: FreshCache<DaemonSet>,
    nodes: FreshCache<Node>,
    /// The pods a DaemonSet controls, by the uid of their controller.
    pods: FreshCache<Pod>,
}

impl Default for DaemonSetController {
    fn default() -> Self {
        Self {
            daemon_sets: FreshCache::new(),
            nodes: FreshCache::new(),
            pods: FreshCache::indexed(controller_uid),
        }
    }
}

impl std::fmt::Debug for DaemonSetController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaemonSetController")
            .field("daemon_sets", &self.daemon_sets.objects().len())
            .field("nodes", &self.nodes.objects().len())
            .field("pods", &self.pods.objects().len())
            .finish()
    }
}

/// What the DaemonSet controller watches.
#[derive(Debug)]
pub enum DaemonSetEvent {
    DaemonSet(Box<Watched<DaemonSet>>),
    Node(Box<Watched<Node>>),
    Pod(Box<Watched<Pod>>),
}

/// Why one reconcile of a DaemonSet failed.
#[derive(Debug, thiserror::Error)]
pub enum DaemonSetError {
    #[error("creating a pod on node {node} for daemonset {key}")]
    CreatePod {
        key: ObjectKey,
        node: String,
        #[source]
        source: ClientError,
    },
    #[error("deleting pod {pod} of daemonset {key}")]
    DeletePod {
        key: ObjectKey,
        pod: String,
        #[source]
        source: ClientError,
    },
    #[error("updating the status of daemonset {key}")]
    UpdateStatus {
        key: ObjectKey,
        #[source]
        source: ClientError,
    },
}

impl Controller for DaemonSetController {
    const NAME: &'static str = "daemonset-controller";
    type Key = ObjectKey;
    type Event = DaemonSetEvent;
    type Error = DaemonSetError;

    async fn open_watches(watches: &mut Watches<DaemonSetEvent>) -> Result<(), ClientError> {
        watches
            .open("daemonsets", |w| DaemonSetEvent::DaemonSet(Box::new(w)))
            .await?;
        watches
            .open("nodes", |w| DaemonSetEvent::Node(Box::new(w)))
            .await?;
        watches
            .open("pods", |w| DaemonSetEvent::Pod(Box::new(w)))
            .await
    }

    fn route(&mut self, event: DaemonSetEvent) -> Vec<ObjectKey> {
        match event {
            DaemonSetEvent::DaemonSet(w) => {
                let key = ObjectKey::of(&w.object.metadata);
                self.daemon_sets.heard(w.event, w.object);
                vec![key]
            }
            DaemonSetEvent::Node(w) => {
                self.nodes.heard(w.event, w.object);
                self.daemon_sets
                    .objects()
                    .iter()
                    .map(|set| ObjectKey::of(&set.metadata))
                    .collect()
            }
            DaemonSetEvent::Pod(w) => {
                let Watched { event, object, .. } = *w;
                let owner = object
                    .metadata
                    .controller_ref()
                    .filter(|r| r.kind == DaemonSet::KIND.as_str())
                    .map(|r| ObjectKey::new(object.metadata.namespace.clone(), r.name.clone()));
                // Other pods are not this controller's to keep.
                let event = if owner.is_some() {
                    event
                } else {
                    EventType::Deleted
                };
                self.pods.heard(event, object);
                owner.into_iter().collect()
            }
        }
    }

    async fn resync(&mut self, _api: &ApiClient) -> Result<Vec<ObjectKey>, ClientError> {
        Ok(self
            .daemon_sets
            .objects()
            .iter()
            .map(|set| ObjectKey::of(&set.metadata))
            .collect())
    }

    async fn reconcile(
        &mut self,
        api: &ApiClient,
        key: &ObjectKey,
    ) -> Result<Action, DaemonSetError> {
        let Some(daemon_set) = self.daemon_sets.objects().get(&key.namespace, &key.name) else {
            return Ok(Action::Done);
        };
        if is_terminating(&daemon_set.metadata) {
            return Ok(Action::Done);
        }
        let daemon_set = DaemonSet::clone(daemon_set);
        let plan = {
            let nodes: Vec<&Node> = self.nodes.objects().iter().map(AsRef::as_ref).collect();
            let pods: Vec<&Pod> = self
                .pods
                .objects()
                .indexed_under(&daemon_set.metadata.uid)
                .map(AsRef::as_ref)
                .collect();
            plan(&daemon_set, &nodes, &pods, SystemTime::now())
        };
        for pod in plan.create {
            let node = pod.spec.node_name.clone();
            let created = api
                .create(&pod)
                .await
                .map_err(|source| DaemonSetError::CreatePod {
                    key: key.clone(),
                    node: node.clone(),
                    source,
                })?;
            tracing::info!(daemonset = %key, pod = %created.metadata.name, %node, "created pod");
            self.pods.wrote(created);
        }
        for name in plan.delete {
            self.delete_pod(api, key, &name).await?;
        }
        if let Some(status) = plan.status {
            let mut next = daemon_set;
            next.status = status;
            let updated =
                api.update_status(&next)
                    .await
                    .map_err(|source| DaemonSetError::UpdateStatus {
                        key: key.clone(),
                        source,
                    })?;
            self.daemon_sets.wrote(updated);
        }
        Ok(plan.requeue_after.map_or(Action::Done, Action::Requeue))
    }
}

impl DaemonSetController {
    /// Deletes a pod of the set (one already gone is fine) and records it as terminating.
    async fn delete_pod(
        &mut self,
        api: &ApiClient,
        key: &ObjectKey,
        name: &str,
    ) -> Result<(), DaemonSetError> {
        match api.delete(Kind::Pod, &key.namespace, name, None).await {
            Ok(_) => tracing::info!(daemonset = %key, pod = %name, "deleted pod"),
            Err(e) if e.api_code() == Some(ErrorCode::NotFound) => {}
            Err(source) => {
                return Err(DaemonSetError::DeletePod {
                    key: key.clone(),
                    pod: name.to_string(),
                    source,
                });
            }
        }
        self.pods.deleting(&key.namespace, name);
        Ok(())
    }
}

/// The uid of the DaemonSet controlling a pod.
fn controller_uid(pod: &Pod) -> Option<String> {
    pod.metadata
        .controller_ref()
        .filter(|r| r.kind == DaemonSet::KIND.as_str())
        .map(|r| r.uid.clone())
}
