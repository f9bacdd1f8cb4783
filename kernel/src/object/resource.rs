//! `Object`, any object of a supported kind, and `Resource`, the trait the kind types share.
//!
//! Components that handle every kind (the API, the store codec, the CLI) work with `Object`;
//! code for one kind (a controller) works with the concrete type through `Resource`. Objects are
//! encoded as JSON: `from_json` reads the `kind` field first and then decodes the matching type,
//! ignoring fields it does not know, so a newer writer's objects still decode.
//! `Object` deliberately has no serde impls: dispatching on `kind` needs a self-describing
//! format, and JSON bytes are what crosses the wire and the store.

use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use super::config_map::{ConfigMap, Secret};
use super::cron_job::CronJob;
use super::daemon_set::DaemonSet;
use super::deployment::Deployment;
use super::endpoint_slice::EndpointSlice;
use super::job::Job;
use super::kind::{Kind, UnknownKind};
use super::lease::Lease;
use super::meta::ObjectMeta;
use super::namespace::Namespace;
use super::network_policy::NetworkPolicy;
use super::node::Node;
use super::pod::Pod;
use super::pod_disruption_budget::PodDisruptionBudget;
use super::priority_class::PriorityClass;
use super::replica_set::ReplicaSet;
use super::runtime_class::RuntimeClass;
use super::service::Service;
use super::stateful_set::StatefulSet;

/// An object of any supported kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    Namespace(Namespace),
    Node(Node),
    Pod(Pod),
    ReplicaSet(ReplicaSet),
    Deployment(Deployment),
    ConfigMap(ConfigMap),
    Secret(Secret),
    Lease(Lease),
    RuntimeClass(RuntimeClass),
    PriorityClass(PriorityClass),
    Service(Service),
    EndpointSlice(EndpointSlice),
    NetworkPolicy(NetworkPolicy),
    PodDisruptionBudget(PodDisruptionBudget),
    Job(Job),
    CronJob(CronJob),
    DaemonSet(DaemonSet),
    StatefulSet(StatefulSet),
}

/// Why JSON bytes are not an object.
#[derive(Debug, Error)]
pub enum ObjectError {
    /// The bytes are not a JSON object with a string `kind` field.
    #[error("object JSON is malformed")]
    Malformed {
        #[source]
        source: serde_json::Error,
    },
    /// The `kind` field is absent or empty.
    #[error("object JSON has no kind")]
    MissingKind,
    /// The `kind` field names no supported kind.
    #[error("object JSON has an unsupported kind")]
    UnknownKind {
        #[source]
        source: UnknownKind,
    },
    /// The object does not decode as its kind.
    #[error("object JSON is not a valid {kind}")]
    Decode {
        kind: Kind,
        #[source]
        source: serde_json::Error,
    },
}

/// A kind's Rust type.
pub trait Resource: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The kind this type represents.
    const KIND: Kind;
    fn meta(&self) -> &ObjectMeta;
    fn meta_mut(&mut self) -> &mut ObjectMeta;
    /// Wraps the value as an `Object`.
    fn into_object(self) -> Object;
    /// Unwraps an `Object` of this kind; `None` for other kinds.
    fn from_object(object: Object) -> Option<Self>;
}

/// Evaluates `$body` with `$inner` bound to the object inside any variant.
macro_rules! with_inner {
    ($object:expr, $inner:ident => $body:expr) => {
        match $object {
            Object::Namespace($inner) => $body,
            Object::Node($inner) => $body,
            Object::Pod($inner) => $body,
            Object::ReplicaSet($inner) => $body,
            Object::Deployment($inner) => $body,
            Object::ConfigMap($inner) => $body,
            Object::Secret($inner) => $body,
            Object::Lease($inner) => $body,
            Object::RuntimeClass($inner) => $body,
            Object::PriorityClass($inner) => $body,
            Object::Service($inner) => $body,
            Object::EndpointSlice($inner) => $body,
            Object::NetworkPolicy($inner) => $body,
            Object::PodDisruptionBudget($inner) => $body,
            Object::Job($inner) => $body,
            Object::CronJob($inner) => $body,
            Object::DaemonSet($inner) => $body,
            Object::StatefulSet($inner) => $body,
        }
    };
}

macro_rules! impl_resource {
    ($($type:ident),*) => {$(
        impl Resource for $type {
            const KIND: Kind = Kind::$type;

            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }

            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }

            fn into_object(self) -> Object {
                Object::$type(self)
            }

            fn from_object(object: Object) -> Option<Self> {
                match object {
                    Object::$type(inner) => Some(inner),
                    _ => None,
                }
            }
        }

        impl From<$type> for Object {
            fn from(inner: $type) -> Self {
                Object::$type(inner)
            }
        }
    )*};
}

impl_resource!(
    Namespace,
    Node,
    Pod,
    ReplicaSet,
    Deployment,
    ConfigMap,
    Secret,
    Lease,
    RuntimeClass,
    PriorityClass,
    Service,
    EndpointSlice,
    NetworkPolicy,
    PodDisruptionBudget,
    Job,
    CronJob,
    DaemonSet,
    StatefulSet
);

/// Just enough of an object to learn its kind.
#[derive(Deserialize)]
struct KindField {
    #[serde(default)]
    kind: String,
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Namespace(_) => Kind::Namespace,
            Object::Node(_) => Kind::Node,
            Object::Pod(_) => Kind::Pod,
            Object::ReplicaSet(_) => Kind::ReplicaSet,
            Object::Deployment(_) => Kind::Deployment,
            Object::ConfigMap(_) => Kind::ConfigMap,
            Object::Secret(_) => Kind::Secret,
            Object::Lease(_) => Kind::Lease,
            Object::RuntimeClass(_) => Kind::RuntimeClass,
            Object::Service(_) => Kind::Service,
            Object::EndpointSlice(_) => Kind::EndpointSlice,
            Object::NetworkPolicy(_) => Kind::NetworkPolicy,
            Object::PriorityClass(_) => Kind::PriorityClass,
            Object::PodDisruptionBudget(_) => Kind::PodDisruptionBudget,
            Object::Job(_) => Kind::Job,
            Object::CronJob(_) => Kind::CronJob,
            Object::DaemonSet(_) => Kind::DaemonSet,
            Object::StatefulSet(_) => Kind::StatefulSet,
        }
    }

    pub fn meta(&self) -> &ObjectMeta {
        with_inner!(self, inner => &inner.metadata)
    }

    pub fn meta_mut(&mut self) -> &mut ObjectMeta {
        with_inner!(self, inner => &mut inner.metadata)
    }

    /// The `apiVersion` and `kind` fields as stored in the object (empty until defaulted).
    pub fn type_fields(&self) -> (&str, &str) {
        with_inner!(self, inner => (inner.api_version.as_str(), inner.kind.as_str()))
    }

    /// Sets `apiVersion` and `kind` to this object's kind.
    pub fn set_type_fields(&mut self) {
        let kind = self.kind();
        with_inner!(self, inner => {
            inner.api_version = kind.api_version().to_owned();
            inner.kind = kind.as_str().to_owned();
        })
    }

    /// The object as JSON bytes, the form it is stored and sent in.
    pub fn to_json(&self) -> Vec<u8> {
        with_inner!(self, inner => serde_json::to_vec(inner))
            .expect("object types have string map keys and infallible field serializers")
    }

    /// The object as a JSON tree.
    pub fn to_value(&self) -> serde_json::Value {
        with_inner!(self, inner => serde_json::to_value(inner))
            .expect("object types have string map keys and infallible field serializers")
    }

    /// Decodes JSON bytes, choosing the type by the `kind` field.
    pub fn from_json(bytes: &[u8]) -> Result<Object, ObjectError> {
        let KindField { kind } =
            serde_json::from_slice(bytes).map_err(|source| ObjectError::Malformed { source })?;
        if kind.is_empty() {
            return Err(ObjectError::MissingKind);
        }
        let kind = Kind::ALL
            .into_iter()
            .find(|candidate| candidate.as_str() == kind)
            .ok_or(ObjectError::UnknownKind {
                source: UnknownKind { name: kind },
            })?;
        let decode = |source| ObjectError::Decode { kind, source };
        Ok(match kind {
            Kind::Namespace => Object::Namespace(serde_json::from_slice(bytes).map_err(decode)?),
            Kind::Node => Object::Node(serde_json::from_slice(bytes).map_err(decode)?),
            Kind::Pod => Object::Pod(serde_json::from_slice(bytes).map_err(decode)?),
            Kind::ReplicaSet => Object::ReplicaSet(serde_json::from_slice(bytes).map_err(decode)?),
            Kind::Deployment => Object::Deployment(serde_json::from_slice(bytes).map_err(decode)?),
            Kind::ConfigMap => Object::ConfigMap(serde_json::from_slice(bytes).map_err(decode)?),
            Kind::Secret => Object::Secret(serde_json::from_slice(bytes).map_err(decode)?),
            Kind::Lease => Object::Lease(serde_json::from_slice(bytes).map_err(decode)?),
            Kind::RuntimeClass => {
                Object::RuntimeClass(serde_json::from_slice(bytes).map_err(decode)?)
            }
            Kind::Service => Object::Service(serde_json::from_slice(bytes).map_err(decode)?),
            Kind::EndpointSlice => {
                Object::EndpointSlice(serde_json::from_slice(bytes).map_err(decode)?)
            }
            Kind::NetworkPolicy => {
                Object::NetworkPolicy(serde_json::from_slice(bytes).map_err(decode)?)
            }
            Kind::PriorityClass => {
                Object::PriorityClass(serde_json::from_slice(bytes).map_err(decode)?)
            }
            Kind::PodDisruptionBudget => {
                Object::PodDisruptionBudget(serde_json::from_slice(bytes).map_err(decode)?)
            }
            Kind::Job => Object::Job(serde_json::from_slice(bytes).map_err(decode)?),
            Kind::CronJob => Object::CronJob(serde_json::from_slice(bytes).map_err(decode)?),
            Kind::DaemonSet => Object::DaemonSet(serde_json::from_slice(bytes).map_err(decode)?),
            Kind::StatefulSet => {
                Object::StatefulSet(serde_json::from_slice(bytes).map_err(decode)?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = name.into();
        pod.metadata.namespace = "default".into();
        pod
    }

    #[test]
    fn json_round_trip_keeps_kind_and_content() {
        let mut object = Object::Pod(pod("web"));
        object.set_type_fields();
        assert_eq!(object.type_fields(), ("v1", "Pod"));
        let bytes = object.to_json();
        assert_eq!(Object::from_json(&bytes).unwrap(), object);
        assert_eq!(object.to_value()["metadata"]["name"], "web");
    }

    #[test]
    fn from_json_dispatches_on_kind() {
        let object = Object::from_json(
            br#"{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicas":2}}"#,
        )
        .unwrap();
        assert_eq!(object.kind(), Kind::Deployment);
        let deployment = Deployment::from_object(object).unwrap();
        assert_eq!(deployment.spec.replicas, Some(2));
    }

    #[test]
    fn from_json_errors() {
        assert!(matches!(
            Object::from_json(b"not json"),
            Err(ObjectError::Malformed { .. })
        ));
        assert!(matches!(
            Object::from_json(br#"{"metadata":{}}"#),
            Err(ObjectError::MissingKind)
        ));
        assert!(matches!(
            Object::from_json(br#"{"kind":"Ingress"}"#),
            Err(ObjectError::UnknownKind { .. })
        ));
        let error = Object::from_json(br#"{"kind":"Pod","spec":{"containers":7}}"#).unwrap_err();
        assert!(matches!(
            error,
            ObjectError::Decode {
                kind: Kind::Pod,
                ..
            }
        ));
        assert_eq!(error.to_string(), "object JSON is not a valid Pod");
    }

    #[test]
    fn resource_trait_wraps_and_unwraps() {
        let mut object = pod("a").into_object();
        object.meta_mut().labels.insert("app".into(), "web".into());
        assert_eq!(object.meta().labels["app"], "web");
        assert_eq!(<Pod as Resource>::KIND, Kind::Pod);
        assert!(Node::from_object(object.clone()).is_none());
        let back = Pod::from_object(object).unwrap();
        assert_eq!(back.meta().name, "a");
        assert_eq!(Object::from(Node::default()).kind(), Kind::Node);
    }

    #[test]
    fn a_runtime_class_is_read_by_its_kind() {
        let object = Object::from_json(
            br#"{"apiVersion":"node.k8s.io/v1","kind":"RuntimeClass","metadata":{"name":"gvisor"},"handler":"runsc"}"#,
        )
        .unwrap();
        assert_eq!(object.kind(), Kind::RuntimeClass);
        assert_eq!(object.type_fields(), ("node.k8s.io/v1", "RuntimeClass"));
        assert_eq!(<RuntimeClass as Resource>::KIND, Kind::RuntimeClass);
        let class = RuntimeClass::from_object(object.clone()).unwrap();
        assert_eq!(class.handler, "runsc");
        assert_eq!(Object::from_json(&object.to_json()).unwrap(), object);
    }

    #[test]
    fn services_and_endpoint_slices_are_read_by_their_kinds() {
        let object = Object::from_json(
            br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"default"},"spec":{"clusterIP":"10.43.0.10","ports":[{"port":80}]}}"#,
        )
        .unwrap();
        assert_eq!(object.type_fields(), ("v1", "Service"));
        let service = Service::from_object(object.clone()).unwrap();
        assert_eq!(service.spec.cluster_ip, "10.43.0.10");
        assert_eq!(Object::from_json(&object.to_json()).unwrap(), object);

        let object = Object::from_json(
            br#"{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"web-x"},"addressType":"IPv4","endpoints":[{"addresses":["10.42.0.7"]}]}"#,
        )
        .unwrap();
        assert_eq!(object.kind(), Kind::EndpointSlice);
        assert_eq!(<EndpointSlice as Resource>::KIND, Kind::EndpointSlice);
        let slice = EndpointSlice::from_object(object.clone()).unwrap();
        assert_eq!(slice.endpoints[0].addresses, ["10.42.0.7"]);
        assert_eq!(Object::from_json(&object.to_json()).unwrap(), object);
    }

    #[test]
    fn a_network_policy_is_read_by_its_kind() {
        let object = Object::from_json(
            br#"{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"deny","namespace":"default"},"spec":{"podSelector":{}}}"#,
        )
        .unwrap();
        assert_eq!(
            object.type_fields(),
            ("networking.k8s.io/v1", "NetworkPolicy")
        );
        assert_eq!(<NetworkPolicy as Resource>::KIND, Kind::NetworkPolicy);
        let policy = NetworkPolicy::from_object(object.clone()).unwrap();
        assert!(policy.spec.pod_selector.is_empty());
        assert_eq!(Object::from_json(&object.to_json()).unwrap(), object);
    }
}
