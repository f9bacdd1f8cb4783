//! The disruption controller: keeps each PodDisruptionBudget's status — expected and healthy
//! pods, and how many disruptions are allowed now — for the Eviction call to consult (see
//! [`status`] for Kubernetes' rules).
//!
//! The key is a budget's namespace and name. Budgets and pods live in caches fed by the
//! controller's watches, as in the EndpointSlice controller, so a reconcile costs the
//! budget's own pods; pod events queue the budgets selecting the pod's old or new labels. The
//! scales of the pods' controllers are read live, and only for budgets that count by them
//! (`maxUnavailable` or a percentage): any kind with `spec.replicas` serves, as Kubernetes'
//! scale subresource does, so new workload kinds need nothing here. A scale change reaches
//! the budget at the next resync.

pub mod status;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use flotilla_kernel::api::{ApiClient, ClientError, ErrorCode, EventType, Watched};
use flotilla_kernel::object::{Kind, Object, OwnerReference, Pod, PodDisruptionBudget};

use self::status::{Scale, Scales, compute, needs_scales};
use super::driver::{Action, Controller, Watches};
use super::gc::plan::owner_kind;
use super::key::ObjectKey;
use crate::informer::Cache;

/// The disruption controller and its watch-fed caches.
#[derive(Default)]
pub struct DisruptionController {
    budgets: Cache<PodDisruptionBudget>,
    pods: Cache<Pod>,
}

impl std::fmt::Debug for DisruptionController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DisruptionController")
            .field("budgets", &self.budgets.len())
            .field("pods", &self.pods.len())
            .finish()
    }
}

/// What the disruption controller watches.
#[derive(Debug)]
pub enum DisruptionEvent {
    /// Boxed, as pods are: objects are large beside a mailbox message.
    Budget(Box<Watched<PodDisruptionBudget>>),
    Pod(Box<Watched<Pod>>),
}

/// Why one reconcile of a budget failed.
#[derive(Debug, thiserror::Error)]
pub enum DisruptionError {
    #[error("reading {kind} {name:?}, the controller of pods selected by budget {budget}")]
    ReadController {
        budget: ObjectKey,
        kind: Kind,
        name: String,
        #[source]
        source: ClientError,
    },
    #[error("updating the status of budget {budget}")]
    UpdateStatus {
        budget: ObjectKey,
        #[source]
        source: ClientError,
    },
}

impl Controller for DisruptionController {
    const NAME: &'static str = "disruption-controller";
    type Key = ObjectKey;
    type Event = DisruptionEvent;
    type Error = DisruptionError;

    async fn open_watches(watches: &mut Watches<DisruptionEvent>) -> Result<(), ClientError> {
        watches
            .open("poddisruptionbudgets", |pdb| {
                DisruptionEvent::Budget(Box::new(pdb))
            })
            .await?;
        watches
            .open("pods", |pod| DisruptionEvent::Pod(Box::new(pod)))
            .await
    }

    fn route(&mut self, event: DisruptionEvent) -> Vec<ObjectKey> {
        match event {
            DisruptionEvent::Budget(w) => {
                let Watched { event, object, .. } = *w;
                let key = ObjectKey::of(&object.metadata);
                self.budgets.apply(event, object);
                vec![key]
            }
            DisruptionEvent::Pod(w) => {
                let Watched { event, object, .. } = *w;
                let change = self.pods.apply(event, object);
                let meta = &change.new.metadata;
                let old = change.old.as_deref().map(|pod| &pod.metadata.labels);
                self.budgets
                    .in_namespace(&meta.namespace)
                    .filter(|pdb| pdb.selects(&meta.labels) || old.is_some_and(|l| pdb.selects(l)))
                    .map(|pdb| ObjectKey::of(&pdb.metadata))
                    .collect()
            }
        }
    }

    async fn resync(&mut self, _api: &ApiClient) -> Result<Vec<ObjectKey>, ClientError> {
        Ok(self
            .budgets
            .iter()
            .map(|pdb| ObjectKey::of(&pdb.metadata))
            .collect())
    }

    async fn reconcile(
        &mut self,
        api: &ApiClient,
        key: &ObjectKey,
    ) -> Result<Action, DisruptionError> {
        let Some(pdb) = self.budgets.get(&key.namespace, &key.name).cloned() else {
            return Ok(Action::Done);
        };
        let pods: Vec<Arc<Pod>> = self
            .pods
            .in_namespace(&key.namespace)
            .filter(|pod| pdb.selects(&pod.metadata.labels))
            .cloned()
            .collect();
        let pods: Vec<&Pod> = pods.iter().map(AsRef::as_ref).collect();
        let scales = if needs_scales(&pdb) {
            scales(api, key, &pods).await?
        } else {
            Scales::new()
        };
        let (status, recheck) = compute(&pdb, &pods, &scales, SystemTime::now());
        if status != pdb.status {
            let mut next = PodDisruptionBudget::clone(&pdb);
            next.status = status;
            let updated =
                api.update_status(&next)
                    .await
                    .map_err(|source| DisruptionError::UpdateStatus {
                        budget: key.clone(),
                        source,
                    })?;
            tracing::debug!(budget = %key, allowed = updated.status.disruptions_allowed, "updated budget status");
            self.budgets.apply(EventType::Modified, updated);
        }
        Ok(recheck.map_or(Action::Done, Action::Requeue))
    }
}

/// The scales of the pods' controllers, read live.
async fn scales(
    api: &ApiClient,
    budget: &ObjectKey,
    pods: &[&Pod],
) -> Result<Scales, DisruptionError> {
    let references: BTreeMap<&str, &OwnerReference> = pods
        .iter()
        .filter_map(|pod| pod.metadata.controller_ref())
        .map(|reference| (reference.uid.as_str(), reference))
        .collect();
    let mut scales = Scales::new();
    for reference in references.into_values() {
        if let Some(scale) = scale_of(api, budget, reference).await? {
            scales.insert(reference.uid.clone(), scale);
        }
    }
    Ok(scales)
}

/// The scale a controller reference leads to: a ReplicaSet's Deployment when it has one,
/// else the controller's own `spec.replicas`; `None` when there is no such object or it has
/// no scale.
async fn scale_of(
    api: &ApiClient,
    budget: &ObjectKey,
    reference: &OwnerReference,
) -> Result<Option<Scale>, DisruptionError> {
    let Some(controller) = read(api, budget, reference).await? else {
        return Ok(None);
    };
    if let Object::ReplicaSet(set) = &controller
        && let Some(owner) = set.metadata.controller_ref()
        && owner_kind(owner) == Some(Kind::Deployment)
    {
        return Ok(read(api, budget, owner)
            .await?
            .and_then(|d| replicas_of(&d)));
    }
    Ok(replicas_of(&controller))
}

/// The object a reference names in the budget's namespace, if it is still that object.
async fn read(
    api: &ApiClient,
    budget: &ObjectKey,
    reference: &OwnerReference,
) -> Result<Option<Object>, DisruptionError> {
    let Some(kind) = owner_kind(reference) else {
        return Ok(None);
    };
    match api
        .get_object(kind, &budget.namespace, &reference.name)
        .await
    {
        Ok(object) if object.meta().uid == reference.uid => Ok(Some(object)),
        Ok(_) => Ok(None),
        Err(e) if e.api_code() == Some(ErrorCode::NotFound) => Ok(None),
        Err(source) => Err(DisruptionError::ReadController {
            budget: budget.clone(),
            kind,
            name: reference.name.clone(),
            source,
        }),
    }
}

/// `spec.replicas` of any workload, as the scale subresource reports it.
fn replicas_of(controller: &Object) -> Option<Scale> {
    let replicas = controller.to_value()["spec"]["replicas"].as_i64()?;
    Some(Scale {
        uid: controller.meta().uid.clone(),
        replicas: i32::try_from(replicas).ok()?,
    })
}
