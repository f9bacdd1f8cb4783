//! The EndpointSlice controller: keeps, for every Service with a selector, EndpointSlices
//! listing the pods it selects — their addresses, readiness and ports — for the proxy and the
//! DNS server, with Kubernetes' semantics (`discovery.k8s.io/v1`, at most 100 endpoints a
//! slice, labels `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by`).
//!
//! The key is a Service's namespace and name. Service events queue the Service; pod events
//! queue the Services whose selectors match the pod's old or new labels (see `routing`); slice
//! events queue the Service the slice names, so a hand-edited or deleted slice is repaired.
//! Each reconcile reads the Service, the pods it selects and its managed slices fresh and
//! performs the pure [`plan::plan`]. A Service that is gone has its slices deleted here: the
//! garbage collector only follows Deployment and ReplicaSet owners.

mod endpoints;
pub mod plan;
mod routing;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use flotilla_kernel::api::{ApiClient, ClientError, ErrorCode, EventType, Watched};
use flotilla_kernel::object::{EndpointSlice, Kind, Pod, SERVICE_NAME_LABEL, Service};

use self::endpoints::wants_slices;
use self::plan::{MANAGED_BY, MANAGED_BY_LABEL, plan};
use self::routing::Routes;
use super::driver::{Action, Controller, Watches};
use super::key::ObjectKey;

/// The EndpointSlice controller; its state only routes pod events.
#[derive(Debug, Default)]
pub struct EndpointSliceController {
    routes: Routes,
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
    #[error("reading service {key}")]
    ReadService {
        key: ObjectKey,
        #[source]
        source: ClientError,
    },
    #[error("listing the pods of service {key}")]
    ListPods {
        key: ObjectKey,
        #[source]
        source: ClientError,
    },
    #[error("listing the endpoint slices of service {key}")]
    ListSlices {
        key: ObjectKey,
        #[source]
        source: ClientError,
    },
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
                self.routes
                    .service_changed(&w.object, w.event == EventType::Deleted);
                vec![ObjectKey::of(&w.object.metadata)]
            }
            EndpointSliceEvent::Pod(w) => self
                .routes
                .pod_changed(&w.object, w.event == EventType::Deleted),
            EndpointSliceEvent::Slice(w) => w
                .object
                .service_name()
                .map(|service| ObjectKey::new(w.object.metadata.namespace.clone(), service))
                .into_iter()
                .collect(),
        }
    }

    async fn resync(&mut self, api: &ApiClient) -> Result<Vec<ObjectKey>, ClientError> {
        let (services, _) = api.list::<Service>(None, None).await?;
        let managed = format!("{MANAGED_BY_LABEL}={MANAGED_BY}");
        let (slices, _) = api.list::<EndpointSlice>(None, Some(&managed)).await?;
        let orphans = slices.iter().filter_map(|slice| {
            let service = slice.service_name()?;
            Some(ObjectKey::new(slice.metadata.namespace.clone(), service))
        });
        let keys: BTreeSet<ObjectKey> = services
            .iter()
            .map(|service| ObjectKey::of(&service.metadata))
            .chain(orphans)
            .collect();
        Ok(keys.into_iter().collect())
    }

    async fn reconcile(
        &mut self,
        api: &ApiClient,
        key: &ObjectKey,
    ) -> Result<Action, EndpointSliceError> {
        let found = api.find::<Service>(&key.namespace, &key.name).await;
        let service = found.map_err(|source| EndpointSliceError::ReadService {
            key: key.clone(),
            source,
        })?;
        let managed = format!(
            "{SERVICE_NAME_LABEL}={},{MANAGED_BY_LABEL}={MANAGED_BY}",
            key.name
        );
        let (slices, _) = api
            .list::<EndpointSlice>(Some(&key.namespace), Some(&managed))
            .await
            .map_err(|source| EndpointSliceError::ListSlices {
                key: key.clone(),
                source,
            })?;
        let Some(service) = service else {
            for slice in slices {
                delete(api, key, slice.metadata.name).await?;
            }
            return Ok(Action::Done);
        };
        let pods = if wants_slices(&service) {
            let selector = selector_text(&service.spec.selector);
            let (pods, _) = api
                .list::<Pod>(Some(&key.namespace), Some(&selector))
                .await
                .map_err(|source| EndpointSliceError::ListPods {
                    key: key.clone(),
                    source,
                })?;
            pods
        } else {
            Vec::new()
        };
        // Endpoints are added before they are removed, so none vanish for a moment.
        let plan = plan(&service, &pods, &slices);
        for slice in plan.create {
            let created =
                api.create(&slice)
                    .await
                    .map_err(|source| EndpointSliceError::Create {
                        key: key.clone(),
                        source,
                    })?;
            tracing::info!(service = %key, slice = %created.metadata.name, "created endpoint slice");
        }
        for slice in plan.update {
            api.update(&slice)
                .await
                .map_err(|source| EndpointSliceError::Update {
                    key: key.clone(),
                    slice: slice.metadata.name.clone(),
                    source,
                })?;
            tracing::debug!(service = %key, slice = %slice.metadata.name, "updated endpoint slice");
        }
        for name in plan.delete {
            delete(api, key, name).await?;
        }
        Ok(Action::Done)
    }
}

/// Deletes a slice of the Service `key`; one already gone is fine.
async fn delete(api: &ApiClient, key: &ObjectKey, name: String) -> Result<(), EndpointSliceError> {
    match api
        .delete(Kind::EndpointSlice, &key.namespace, &name, None)
        .await
    {
        Ok(_) => {
            tracing::info!(service = %key, slice = %name, "deleted endpoint slice");
            Ok(())
        }
        Err(e) if e.api_code() == Some(ErrorCode::NotFound) => Ok(()),
        Err(source) => Err(EndpointSliceError::Delete {
            key: key.clone(),
            slice: name,
            source,
        }),
    }
}

/// A Service's selector as a list request's label selector (`app=web,tier=front`). Label
/// keys and values never hold the selector syntax's `,`, `=` or `!`.
fn selector_text(selector: &BTreeMap<String, String>) -> String {
    let terms: Vec<String> = selector
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    terms.join(",")
}
