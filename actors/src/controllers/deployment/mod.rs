//! The Deployment controller: rolls a Deployment's pods from one template to the next through
//! ReplicaSets — one per template, named `<deployment>-<template hash>` — with the
//! RollingUpdate or Recreate strategy, prunes old ReplicaSets beyond the revision history and
//! reports the rollout in the Deployment's status.
//!
//! The decision is the pure [`plan::plan`] (with the arithmetic in [`rolling`] and the status
//! in [`status`]); this module reads the Deployment and its ReplicaSets fresh, routes events
//! to keys and performs the planned effects. A ReplicaSet's status changes when its pods
//! change, and each change wakes its Deployment, which then takes the next step.

pub mod hash;
pub mod plan;
pub mod replica_sets;
pub mod rolling;
pub mod status;

use flotilla_kernel::api::{ApiClient, ClientError, ErrorCode, EventType, Watched};
use flotilla_kernel::object::{Deployment, Kind, Pod, ReplicaSet, Resource, StrategyType, Time};

use self::plan::{Effect, plan};
use self::rolling::FencepostError;
use super::driver::{Action, Controller, Watches};
use super::key::ObjectKey;
use super::ownership::is_terminating;

/// The Deployment controller (stateless between reconciles).
#[derive(Debug, Default)]
pub struct DeploymentController;

/// What the Deployment controller watches.
#[derive(Debug)]
pub enum DeploymentEvent {
    Deployment(Watched<Deployment>),
    ReplicaSet(Watched<ReplicaSet>),
}

/// Why one reconcile of a Deployment failed.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    #[error("reading deployment {key}")]
    Read {
        key: ObjectKey,
        #[source]
        source: ClientError,
    },
    #[error("listing the {what} of deployment {key}")]
    List {
        key: ObjectKey,
        what: &'static str,
        #[source]
        source: ClientError,
    },
    #[error("deployment {key} cannot be rolled out")]
    Plan {
        key: ObjectKey,
        #[source]
        source: FencepostError,
    },
    #[error("{verb} replicaset {replica_set} of deployment {key}")]
    ReplicaSet {
        key: ObjectKey,
        verb: &'static str,
        replica_set: String,
        #[source]
        source: ClientError,
    },
    #[error("updating the status of deployment {key}")]
    UpdateStatus {
        key: ObjectKey,
        #[source]
        source: ClientError,
    },
}

impl Controller for DeploymentController {
    const NAME: &'static str = "deployment-controller";
    type Key = ObjectKey;
    type Event = DeploymentEvent;
    type Error = DeploymentError;

    async fn open_watches(watches: &mut Watches<DeploymentEvent>) -> Result<(), ClientError> {
        watches
            .open("deployments", DeploymentEvent::Deployment)
            .await?;
        watches
            .open("replicasets", DeploymentEvent::ReplicaSet)
            .await
    }

    fn route(&mut self, event: DeploymentEvent) -> Vec<ObjectKey> {
        match event {
            DeploymentEvent::Deployment(w) if w.event != EventType::Deleted => {
                vec![ObjectKey::of(&w.object.metadata)]
            }
            DeploymentEvent::Deployment(_) => Vec::new(),
            DeploymentEvent::ReplicaSet(w) => w
                .object
                .metadata
                .controller_ref()
                .filter(|r| r.kind == Deployment::KIND.as_str())
                .map(|r| ObjectKey::new(w.object.metadata.namespace.clone(), r.name.clone()))
                .into_iter()
                .collect(),
        }
    }

    async fn resync(&mut self, api: &ApiClient) -> Result<Vec<ObjectKey>, ClientError> {
        let (deployments, _) = api.list::<Deployment>(None, None).await?;
        Ok(deployments
            .iter()
            .map(|d| ObjectKey::of(&d.metadata))
            .collect())
    }

    async fn reconcile(
        &mut self,
        api: &ApiClient,
        key: &ObjectKey,
    ) -> Result<Action, DeploymentError> {
        let found = api.find::<Deployment>(&key.namespace, &key.name).await;
        let deployment = match found {
            Ok(Some(d)) if !is_terminating(&d.metadata) => d,
            Ok(_) => return Ok(Action::Done),
            Err(source) => {
                return Err(DeploymentError::Read {
                    key: key.clone(),
                    source,
                });
            }
        };
        let list_error = |what| {
            move |source| DeploymentError::List {
                key: key.clone(),
                what,
                source,
            }
        };
        let (sets, _) = api
            .list::<ReplicaSet>(Some(&key.namespace), None)
            .await
            .map_err(list_error("replicasets"))?;
        let pods = if deployment.spec.strategy.type_ == StrategyType::Recreate {
            api.list::<Pod>(Some(&key.namespace), None)
                .await
                .map_err(list_error("pods"))?
                .0
        } else {
            Vec::new()
        };
        let plan = plan(&deployment, &sets, &pods, &Time::now()).map_err(|source| {
            DeploymentError::Plan {
                key: key.clone(),
                source,
            }
        })?;
        for effect in plan.effects {
            perform(api, key, &deployment, effect).await?;
        }
        Ok(plan.requeue_after.map_or(Action::Done, Action::Requeue))
    }
}

async fn perform(
    api: &ApiClient,
    key: &ObjectKey,
    deployment: &Deployment,
    effect: Effect,
) -> Result<(), DeploymentError> {
    let rs_error = |verb, replica_set: &str| {
        let replica_set = replica_set.to_string();
        move |source| DeploymentError::ReplicaSet {
            key: key.clone(),
            verb,
            replica_set,
            source,
        }
    };
    match effect {
        Effect::CreateReplicaSet(rs) => {
            api.create(&rs)
                .await
                .map_err(rs_error("creating", &rs.metadata.name))?;
            tracing::info!(deployment = %key, replicaset = %rs.metadata.name, replicas = ?rs.spec.replicas, "created replicaset");
        }
        Effect::UpdateReplicaSet(rs) => {
            api.update(&rs)
                .await
                .map_err(rs_error("updating", &rs.metadata.name))?;
            tracing::info!(deployment = %key, replicaset = %rs.metadata.name, replicas = ?rs.spec.replicas, "updated replicaset");
        }
        Effect::DeleteReplicaSet(name) => {
            match api
                .delete(Kind::ReplicaSet, &key.namespace, &name, None)
                .await
            {
                Ok(_) => {
                    tracing::info!(deployment = %key, replicaset = %name, "deleted old replicaset")
                }
                Err(e) if e.api_code() == Some(ErrorCode::NotFound) => {}
                Err(source) => return Err(rs_error("deleting", &name)(source)),
            }
        }
        Effect::UpdateStatus(status) => {
            let mut next = deployment.clone();
            next.status = status;
            api.update_status(&next)
                .await
                .map_err(|source| DeploymentError::UpdateStatus {
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

    #[test]
    fn replica_set_events_wake_their_deployment() {
        let mut rs = ReplicaSet::default();
        rs.metadata.namespace = "prod".into();
        rs.metadata.owner_references = vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "web".into(),
            uid: "u".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }];
        let event = |object| {
            DeploymentEvent::ReplicaSet(Watched {
                event: EventType::Modified,
                object,
                revision: 3,
            })
        };
        let mut controller = DeploymentController;
        assert_eq!(
            controller.route(event(rs.clone())),
            [ObjectKey::new("prod", "web")]
        );
        rs.metadata.owner_references.clear();
        assert!(controller.route(event(rs)).is_empty());
    }
}
