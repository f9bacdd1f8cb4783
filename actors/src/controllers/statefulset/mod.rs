//! The StatefulSet controller: pods with stable names, in order, with Kubernetes' semantics
//! (see [`plan`]).
//!
//! The key is a StatefulSet's namespace and name. Like the DaemonSet controller, it keeps the
//! sets and the pods they control in caches fed by its watches and by its own writes (see
//! [`FreshCache`]): the reconcile right after creating `web-0` knows it exists and does not
//! create it again. Set events queue the set; pod events queue the set controlling the pod.
//! A deleted set's pods are the garbage collector's.

pub mod plan;
#[cfg(test)]
mod tests;

use std::time::SystemTime;

use flotilla_kernel::api::{ApiClient, ClientError, ErrorCode, EventType, Watched};
use flotilla_kernel::object::{Kind, Pod, Resource, StatefulSet};

use self::plan::plan;
use super::driver::{Action, Controller, Watches};
use super::fresh_cache::FreshCache;
use super::key::ObjectKey;
use super::ownership::is_terminating;

/// The StatefulSet controller and its watch-fed caches.
pub struct StatefulSetController {
    sets: FreshCache<StatefulSet>,
    /// The pods a StatefulSet controls, by the uid of their controller.
    pods: FreshCache<Pod>,
}

impl Default for StatefulSetController {
    fn default() -> Self {
        Self {
            sets: FreshCache::new(),
            pods: FreshCache::indexed(controller_uid),
        }
    }
}

impl std::fmt::Debug for StatefulSetController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatefulSetController")
            .field("sets", &self.sets.objects().len())
            .field("pods", &self.pods.objects().len())
            .finish()
    }
}

/// What the StatefulSet controller watches.
#[derive(Debug)]
pub enum StatefulSetEvent {
    StatefulSet(Box<Watched<StatefulSet>>),
    Pod(Box<Watched<Pod>>),
}

/// Why one reconcile of a StatefulSet failed.
#[derive(Debug, thiserror::Error)]
pub enum StatefulSetError {
    #[error("creating pod {pod} of statefulset {key}")]
    CreatePod {
        key: ObjectKey,
        pod: String,
        #[source]
        source: ClientError,
    },
    #[error("deleting pod {pod} of statefulset {key}")]
    DeletePod {
        key: ObjectKey,
        pod: String,
        #[source]
        source: ClientError,
    },
    #[error("updating the status of statefulset {key}")]
    UpdateStatus {
        key: ObjectKey,
        #[source]
        source: ClientError,
    },
}

impl Controller for StatefulSetController {
    const NAME: &'static str = "statefulset-controller";
    type Key = ObjectKey;
    type Event = StatefulSetEvent;
    type Error = StatefulSetError;

    async fn open_watches(watches: &mut Watches<StatefulSetEvent>) -> Result<(), ClientError> {
        watches
            .open("statefulsets", |w| {
                StatefulSetEvent::StatefulSet(Box::new(w))
            })
            .await?;
        watches
            .open("pods", |w| StatefulSetEvent::Pod(Box::new(w)))
            .await
    }

    fn route(&mut self, event: StatefulSetEvent) -> Vec<ObjectKey> {
        match event {
            StatefulSetEvent::StatefulSet(w) => {
                let key = ObjectKey::of(&w.object.metadata);
                self.sets.heard(w.event, w.object);
                vec![key]
            }
            StatefulSetEvent::Pod(w) => {
                let Watched { event, object, .. } = *w;
                let owner = object
                    .metadata
                    .controller_ref()
                    .filter(|r| r.kind == StatefulSet::KIND.as_str())
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
            .sets
            .objects()
            .iter()
            .map(|set| ObjectKey::of(&set.metadata))
            .collect())
    }

    async fn reconcile(
        &mut self,
        api: &ApiClient,
        key: &ObjectKey,
    ) -> Result<Action, StatefulSetError> {
        let Some(set) = self.sets.objects().get(&key.namespace, &key.name) else {
            return Ok(Action::Done);
        };
        if is_terminating(&set.metadata) {
            return Ok(Action::Done);
        }
        let set = StatefulSet::clone(set);
        let plan = {
            let pods: Vec<&Pod> = self
                .pods
                .objects()
                .indexed_under(&set.metadata.uid)
                .map(AsRef::as_ref)
                .collect();
            plan(&set, &pods, SystemTime::now())
        };
        for pod in plan.create {
            let name = pod.metadata.name.clone();
            match api.create(&pod).await {
                Ok(created) => {
                    tracing::info!(statefulset = %key, pod = %name, "created pod");
                    self.pods.wrote(created);
                }
                // The old pod of that name is still going: its deletion queues the set again.
                Err(e) if e.api_code() == Some(ErrorCode::AlreadyExists) => {}
                Err(source) => {
                    return Err(StatefulSetError::CreatePod {
                        key: key.clone(),
                        pod: name,
                        source,
                    });
                }
            }
        }
        for name in plan.delete {
            self.delete_pod(api, key, &name).await?;
        }
        if let Some(status) = plan.status {
            let mut next = set;
            next.status = status;
            let updated = api.update_status(&next).await.map_err(|source| {
                StatefulSetError::UpdateStatus {
                    key: key.clone(),
                    source,
                }
            })?;
            self.sets.wrote(updated);
        }
        Ok(plan.requeue_after.map_or(Action::Done, Action::Requeue))
    }
}

impl StatefulSetController {
    /// Deletes a pod of the set (one already gone is fine) and records it as terminating.
    async fn delete_pod(
        &mut self,
        api: &ApiClient,
        key: &ObjectKey,
        name: &str,
    ) -> Result<(), StatefulSetError> {
        match api.delete(Kind::Pod, &key.namespace, name, None).await {
            Ok(_) => tracing::info!(statefulset = %key, pod = %name, "deleted pod"),
            Err(e) if e.api_code() == Some(ErrorCode::NotFound) => {}
            Err(source) => {
                return Err(StatefulSetError::DeletePod {
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

/// The uid of the StatefulSet controlling a pod.
fn controller_uid(pod: &Pod) -> Option<String> {
    pod.metadata
        .controller_ref()
        .filter(|r| r.kind == StatefulSet::KIND.as_str())
        .map(|r| r.uid.clone())
}
