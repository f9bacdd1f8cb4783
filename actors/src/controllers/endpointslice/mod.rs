//! The EndpointSlice controller: keeps, for every Service with a selector, EndpointSlices
//! listing the pods it selects — their addresses, readiness and ports — for the proxy and the
//! DNS server, with Kubernetes' semantics (`discovery.k8s.io/v1`, at most 100 endpoints a
//! slice, labels `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by`).
//!
//! The key is a Service's namespace and name. The controller keeps the Services, the pods and
//! its own slices in caches fed by its watches (listed before the first reconcile), as
//! Kubernetes' controller reads its listers: a reconcile costs the Service's own pods and
//! slices, not a listing of the cluster, which matters when ten thousand Services select the
//! same pods. Service events queue the Service; pod events queue the Services whose selectors
//! match the pod's old or new labels (see `routing`); slice events queue the Service the slice
//! names, so a hand-edited or deleted slice is repaired. Each reconcile performs the pure
//! [`plan::plan`] and writes the difference, recording its writes in the slice cache at once
//! (see `slices`). A Service that is gone has its slices deleted here at once, without waiting
//! for the garbage collector to follow their owner references.

mod endpoints;
pub mod plan;
mod routing;
mod slices;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use flotilla_kernel::api::{ApiClient, ClientError, ErrorCode, EventType, Watched};
use flotilla_kernel::object::{EndpointSlice, Kind, Pod, Service};

use self::plan::plan;
use self::routing::services_of_pod;
use self::slices::SliceCache;
use super::driver::{Action, Controller, Watches};
use super::key::ObjectKey;
use crate::informer::Cache;

/// The EndpointSlice controller and its watch-fed caches.
#[derive(Default)]
pub struct EndpointSliceController {
    services: Cache<Service>,
    /// The pods that have labels (a selector picks no other).
    pods: Cache<Pod>,
    slices: SliceCache,
}

impl std::fmt::Debug for EndpointSliceController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointSliceController")
            .field("services", &self.services.len())
            .field("pods", &self.pods.len())
            .field("slices", &self.slices)
            .finish()
    }
}

/// What the EndpointSlice controller watches.
#[derive(Debug)]
pub enum EndpointSliceEvent {
    Service(Watched<Service>),
    /// Boxed: pods are much larger than the other objects.
    Pod(Box<Watched<Pod>>),
    Slice(Watched<EndpointSlice>),
}

/// Why one reconcile of a Service's slices failed.
#[derive(Debug, thiserror::Error)]
pub enum EndpointSliceError {
    #[error("creating an endpoint slice for service {key}")]
    Create {
        key: ObjectKey,
        #[source]
        source: ClientError,
    },
    #[error("updating endpoint slice {slice} of service {key}")]
    Update {
        key: ObjectKey,
        slice: String,
        #[source]
        source: ClientError,
    },
    #[error("deleting endpoint slice {slice} of service {key}")]
    Delete {
        key: ObjectKey,
        slice: String,
        #[source]
        source: ClientError,
    },
}

impl Controller for EndpointSliceController {
    const NAME: &'static str = "endpointslice-controller";
    type Key = ObjectKey;
    type Event = EndpointSliceEvent;
    type Error = EndpointSliceError;

    async fn open_watches(watches: &mut Watches<EndpointSliceEvent>) -> Result<(), ClientError> {
        watches
            .open("services", EndpointSliceEvent::Service)
            .await?;
        watches
            .open("pods", |pod| EndpointSliceEvent::Pod(Box::new(pod)))
            .await?;
        watches
            .open("endpointslices", EndpointSliceEvent::Slice)
            .await
    }

    fn route(&mut self, event: EndpointSliceEvent) -> Vec<ObjectKey> {
        match event {
            EndpointSliceEvent::Service(w) => {
                let key = ObjectKey::of(&w.object.metadata);
                self.services.apply(w.event, w.object);
                vec![key]
            }
            EndpointSliceEvent::Pod(w) => {
                let Watched { event, object, .. } = *w;
                let event = if object.metadata.labels.is_empty() {
                    EventType::Deleted
                } else {
                    event
                };
                let change = self.pods.apply(event, object);
                services_of_pod(&self.services, &change)
            }
            EndpointSliceEvent::Slice(w) => {
                let key = w
                    .object
                    .service_name()
                    .map(|service| ObjectKey::new(w.object.metadata.namespace.clone(), service));
                self.slices.heard(w.event, w.object);
                key.into_iter().collect()
            }
        }
    }

    /// Every Service, and every Service that has slices (a deleted one's go).
    async fn resync(&mut self, _api: &ApiClient) -> Result<Vec<ObjectKey>, ClientError> {
        let keys: BTreeSet<ObjectKey> = self
            .services
            .iter()
            .map(|service| ObjectKey::of(&service.metadata))
            .chain(self.slices.services())
            .collect();
        Ok(keys.into_iter().collect())
    }

    async fn reconcile(
        &mut self,
        api: &ApiClient,
        key: &ObjectKey,
    ) -> Result<Action, EndpointSliceError> {
        let plan = {
            let slices = self.slices.of_service(key);
            match self.services.get(&key.namespace, &key.name) {
                Some(service) => {
                    let pods: Vec<&Pod> = self
                        .pods
                        .in_namespace(&key.namespace)
                        .map(AsRef::as_ref)
                        .collect();
                    plan(service, &pods, &slices)
                }
                None => plan::Plan {
                    delete: slices.iter().map(|s| s.metadata.name.clone()).collect(),
                    ..plan::Plan::default()
                },
            }
        };
        // Endpoints are added before they are removed, so none vanish for a moment.
        for slice in plan.create {
            let created =
                api.create(&slice)
                    .await
                    .map_err(|source| EndpointSliceError::Create {
                        key: key.clone(),
                        source,
                    })?;
            tracing::info!(service = %key, slice = %created.metadata.name, "created endpoint slice");
            self.slices.wrote(created);
        }
        for slice in plan.update {
            let updated =
                api.update(&slice)
                    .await
                    .map_err(|source| EndpointSliceError::Update {
                        key: key.clone(),
                        slice: slice.metadata.name.clone(),
                        source,
                    })?;
            tracing::debug!(service = %key, slice = %slice.metadata.name, "updated endpoint slice");
            self.slices.wrote(updated);
        }
        for name in plan.delete {
            delete(api, key, &name).await?;
            self.slices.deleted(&key.namespace, &name);
        }
        Ok(Action::Done)
    }
}

/// Deletes a slice of the Service `key`; one already gone is fine.
async fn delete(api: &ApiClient, key: &ObjectKey, name: &str) -> Result<(), EndpointSliceError> {
    match api
        .delete(Kind::EndpointSlice, &key.namespace, name, None)
        .await
    {
        Ok(_) => {
            tracing::info!(service = %key, slice = %name, "deleted endpoint slice");
            Ok(())
        }
        Err(e) if e.api_code() == Some(ErrorCode::NotFound) => Ok(()),
        Err(source) => Err(EndpointSliceError::Delete {
            key: key.clone(),
            slice: name.to_string(),
            source,
        }),
    }
}
