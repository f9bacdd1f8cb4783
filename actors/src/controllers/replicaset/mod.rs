//! The ReplicaSet controller: keeps the number of live pods of each ReplicaSet at its
//! `replicas` and reports how many are ready and available.
//!
//! The decision is the pure [`plan::plan`] over the ReplicaSet and its namespace's pods, read
//! fresh from the API on every reconcile; this module only routes events to keys and performs
//! the planned effects. Because it never acts on a cache, it needs none of Kubernetes'
//! "expectations" bookkeeping: pods it just created are in the next listing.

pub mod plan;
pub mod ranking;
pub mod readiness;

use flotilla_kernel::api::{ApiClient, ClientError, ErrorCode, EventType, Watched};
use flotilla_kernel::object::{Kind, Pod, ReplicaSet, Resource};

use self::plan::{Effect, plan};
use super::driver::{Action, Controller, Watches};
use super::key::ObjectKey;

/// The ReplicaSet controller (stateless between reconciles).
#[derive(Debug, Default)]
pub struct ReplicaSetController;

/// What the ReplicaSet controller watches.
#[derive(Debug)]
pub enum ReplicaSetEvent {
    ReplicaSet(Watched<ReplicaSet>),
    Pod(Watched<Pod>),
}

/// Why one reconcile of a ReplicaSet failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaSetError {
    #[error("reading replicaset {key}")]
    Read {
        key: ObjectKey,
        #[source]
        source: ClientError,
    },
    #[error("listing the pods of replicaset {key}")]
    ListPods {
        key: ObjectKey,
        #[source]
        source: ClientError,
    },
    #[error("creating a pod for replicaset {key}")]
    CreatePod {
        key: ObjectKey,
        #[source]
        source: ClientError,
    },
    #[error("deleting pod {pod} of replicaset {key}")]
    DeletePod {
        key: ObjectKey,
        pod: String,
        #[source]
        source: ClientError,
    },
    #[error("updating the status of replicaset {key}")]
    UpdateStatus {
        key: ObjectKey,
        #[source]
        source: ClientError,
    },
}

impl Controller for ReplicaSetController {
    const NAME: &'static str = "replicaset-controller";
    type Key = ObjectKey;
    type Event = ReplicaSetEvent;
    type Error = ReplicaSetError;

    async fn open_watches(watches: &mut Watches<ReplicaSetEvent>) -> Result<(), ClientError> {
        watches
            .open("replicasets", ReplicaSetEvent::ReplicaSet)
            .await?;
        watches.open("pods", ReplicaSetEvent::Pod).await
    }

    fn route(&mut self, event: ReplicaSetEvent) -> Vec<ObjectKey> {
        match event {
            ReplicaSetEvent::ReplicaSet(w) if w.event != EventType::Deleted => {
                vec![ObjectKey::of(&w.object.metadata)]
            }
            ReplicaSetEvent::ReplicaSet(_) => Vec::new(),
            ReplicaSetEvent::Pod(w) => w
                .object
                .metadata
                .controller_ref()
                .filter(|r| r.kind == ReplicaSet::KIND.as_str())
                .map(|r| ObjectKey::new(w.object.metadata.namespace.clone(), r.name.clone()))
                .into_iter()
                .collect(),
        }
    }

    async fn resync(&mut self, api: &ApiClient) -> Result<Vec<ObjectKey>, ClientError> {
        let (sets, _) = api.list::<ReplicaSet>(None, None).await?;
        Ok(sets.iter().map(|rs| ObjectKey::of(&rs.metadata)).collect())
    }

    async fn reconcile(
        &mut self,
        api: &ApiClient,
        key: &ObjectKey,
    ) -> Result<Action, ReplicaSetError> {
        let found = api.find::<ReplicaSet>(&key.namespace, &key.name).await;
        let Some(rs) = found.map_err(|source| ReplicaSetError::Read {
            key: key.clone(),
            source,
        })?
        else {
            return Ok(Action::Done);
        };
        let (pods, _) = api
            .list::<Pod>(Some(&key.namespace), None)
            .await
            .map_err(|source| ReplicaSetError::ListPods {
                key: key.clone(),
                source,
            })?;
        let plan = plan(&rs, &pods, std::time::SystemTime::now());
        for effect in plan.effects {
            perform(api, key, &rs, effect).await?;
        }
        Ok(plan.requeue_after.map_or(Action::Done, Action::Requeue))
    }
}

async fn perform(
    api: &ApiClient,
    key: &ObjectKey,
    rs: &ReplicaSet,
    effect: Effect,
) -> Result<(), ReplicaSetError> {
    match effect {
        Effect::CreatePod(pod) => {
            let created =
                api.create(pod.as_ref())
                    .await
                    .map_err(|source| ReplicaSetError::CreatePod {
                        key: key.clone(),
                        source,
                    })?;
            tracing::info!(replicaset = %key, pod = %created.metadata.name, "created pod");
        }
        Effect::DeletePod(name) => match api.delete(Kind::Pod, &key.namespace, &name, None).await {
            Ok(_) => tracing::info!(replicaset = %key, pod = %name, "deleted pod"),
            Err(e) if e.api_code() == Some(ErrorCode::NotFound) => {}
            Err(source) => {
                return Err(ReplicaSetError::DeletePod {
                    key: key.clone(),
                    pod: name,
                    source,
                });
            }
        },
        Effect::UpdateStatus(status) => {
            let mut next = rs.clone();
            next.status = status;
            api.update_status(&next)
                .await
                .map_err(|source| ReplicaSetError::UpdateStatus {
                    key: key.clone(),
                    source,
                })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::OwnerReference;

    use super::*;

    fn watched<T>(object: T) -> Watched<T> {
        Watched {
            event: EventType::Modified,
            object,
            revision: 1,
        }
    }

    #[test]
    fn pod_events_wake_their_controlling_replica_set() {
        let mut pod = Pod::default();
        pod.metadata.namespace = "prod".into();
        pod.metadata.owner_references = vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "web-1".into(),
            uid: "u".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }];
        let mut controller = ReplicaSetController;
        assert_eq!(
            controller.route(ReplicaSetEvent::Pod(watched(pod.clone()))),
            [ObjectKey::new("prod", "web-1")]
        );
        pod.metadata.owner_references[0].kind = "Job".into();
        assert!(
            controller
                .route(ReplicaSetEvent::Pod(watched(pod)))
                .is_empty()
        );
    }

    #[test]
    fn replica_set_events_wake_the_replica_set() {
        let mut rs = ReplicaSet::default();
        rs.metadata.namespace = "prod".into();
        rs.metadata.name = "web-1".into();
        let mut controller = ReplicaSetController;
        assert_eq!(
            controller.route(ReplicaSetEvent::ReplicaSet(watched(rs))),
            [ObjectKey::new("prod", "web-1")]
        );
    }
}
