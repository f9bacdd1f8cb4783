//! Which Services a pod event concerns: those of the pod's namespace whose selectors pick the
//! labels the pod had before the event or has after it, so a pod whose labels change leaves
//! the slices of one Service as well as joining another's. Matching the old labels against
//! the current selectors also covers a selector changed since the pod's last event.

use flotilla_kernel::object::{Pod, Service};

use super::endpoints::{selects, wants_slices};
use crate::controllers::key::ObjectKey;
use crate::informer::{Cache, Change};

/// The Services in `services` that `change` of a pod concerns.
pub fn services_of_pod(services: &Cache<Service>, change: &Change<Pod>) -> Vec<ObjectKey> {
    let meta = &change.new.metadata;
    let old = change.old.as_deref().map(|pod| &pod.metadata.labels);
    services
        .in_namespace(&meta.namespace)
        .filter(|service| wants_slices(service))
        .filter(|service| {
            let selector = &service.spec.selector;
            selects(selector, &meta.labels) || old.is_some_and(|old| selects(selector, old))
        })
        .map(|service| ObjectKey::of(&service.metadata))
        .collect()
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::api::EventType;

    use super::*;

    fn service(name: &str, app: &str) -> Service {
        let mut service = Service::default();
        service.metadata.namespace = "default".into();
        service.metadata.name = name.into();
        service.spec.selector = [("app".to_string(), app.to_string())].into();
        service
    }

    fn services(list: &[Service]) -> Cache<Service> {
        let mut cache = Cache::new();
        for service in list {
            cache.apply(EventType::Added, service.clone());
        }
        cache
    }

    fn pod(namespace: &str, app: &str) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.namespace = namespace.into();
        pod.metadata.name = "p".into();
        pod.metadata.labels = [("app".to_string(), app.to_string())].into();
        pod
    }

    fn keys(names: &[&str]) -> Vec<ObjectKey> {
        names
            .iter()
            .map(|n| ObjectKey::new("default", *n))
            .collect()
    }

    #[test]
    fn pods_concern_the_services_of_their_namespace_that_select_them() {
        let services = services(&[
            service("web", "web"),
            service("web-too", "web"),
            service("api", "api"),
        ]);
        let mut pods = Cache::new();
        let change = pods.apply(EventType::Added, pod("default", "web"));
        assert_eq!(
            services_of_pod(&services, &change),
            keys(&["web", "web-too"])
        );
        let elsewhere = pods.apply(EventType::Added, pod("prod", "web"));
        assert!(services_of_pod(&services, &elsewhere).is_empty());
    }

    #[test]
    fn a_pod_changing_labels_concerns_the_services_it_left_and_joined() {
        let services = services(&[service("web", "web"), service("api", "api")]);
        let mut pods = Cache::new();
        pods.apply(EventType::Added, pod("default", "web"));
        let moved = pods.apply(EventType::Modified, pod("default", "api"));
        assert_eq!(services_of_pod(&services, &moved), keys(&["api", "web"]));
        let left = pods.apply(EventType::Modified, pod("default", "db"));
        assert_eq!(services_of_pod(&services, &left), keys(&["api"]));
        let gone = pods.apply(EventType::Deleted, pod("default", "db"));
        assert!(services_of_pod(&services, &gone).is_empty());
    }

    #[test]
    fn services_without_selector_are_concerned_by_no_pod() {
        let mut manual = service("web", "web");
        manual.spec.selector.clear();
        let services = services(&[manual]);
        let change = Cache::new().apply(EventType::Added, pod("default", "web"));
        assert!(services_of_pod(&services, &change).is_empty());
    }
}
