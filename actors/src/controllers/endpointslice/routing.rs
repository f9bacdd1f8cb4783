//! Which Services a pod event concerns, from a small watch-fed cache: the selectors of the
//! Services that want slices, by namespace, and the labels each pod had at its last event.
//!
//! A pod event wakes the Services its old labels matched and those its new labels match, so a
//! pod whose labels change leaves the slices of a Service as well as joining another's.
//! Matching the old labels against the current selectors (rather than remembering where the
//! pod was routed) also covers a selector that changed since the pod's last event. The cache
//! only routes: every reconcile reads the Service, its pods and its slices fresh, and the
//! Service's own events and the resync queue it whatever the cache holds.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use flotilla_kernel::object::{Pod, Service};

use super::endpoints::{selects, wants_slices};
use crate::controllers::key::ObjectKey;

type Labels = BTreeMap<String, String>;

/// The routing cache of the EndpointSlice controller.
#[derive(Debug, Default)]
pub struct Routes {
    /// Namespace → Service name → selector, for the Services that want slices.
    selectors: HashMap<String, BTreeMap<String, Labels>>,
    /// The labels of every live pod that has any.
    pod_labels: HashMap<ObjectKey, Labels>,
}

impl Routes {
    /// Records the Service's selector (`deleted`: forgets it).
    pub fn service_changed(&mut self, service: &Service, deleted: bool) {
        let meta = &service.metadata;
        if !deleted && wants_slices(service) {
            self.selectors
                .entry(meta.namespace.clone())
                .or_default()
                .insert(meta.name.clone(), service.spec.selector.clone());
        } else if let Some(services) = self.selectors.get_mut(&meta.namespace) {
            services.remove(&meta.name);
            if services.is_empty() {
                self.selectors.remove(&meta.namespace);
            }
        }
    }

    /// The Services in the pod's namespace that its old or new labels match, and records its
    /// labels (`deleted`: forgets them).
    pub fn pod_changed(&mut self, pod: &Pod, deleted: bool) -> Vec<ObjectKey> {
        let key = ObjectKey::of(&pod.metadata);
        let old = if deleted || pod.metadata.labels.is_empty() {
            self.pod_labels.remove(&key)
        } else {
            self.pod_labels
                .insert(key.clone(), pod.metadata.labels.clone())
        };
        let Some(services) = self.selectors.get(&key.namespace) else {
            return Vec::new();
        };
        let names: BTreeSet<&String> = services
            .iter()
            .filter(|(_, selector)| {
                selects(selector, &pod.metadata.labels)
                    || old.as_ref().is_some_and(|old| selects(selector, old))
            })
            .map(|(name, _)| name)
            .collect();
        names
            .into_iter()
            .map(|name| ObjectKey::new(key.namespace.clone(), name.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, app: &str) -> Service {
        let mut service = Service::default();
        service.metadata.namespace = "default".into();
        service.metadata.name = name.into();
        service.spec.selector = [("app".to_string(), app.to_string())].into();
        service
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
    fn pods_wake_the_services_of_their_namespace_that_select_them() {
        let mut routes = Routes::default();
        routes.service_changed(&service("web", "web"), false);
        routes.service_changed(&service("web-too", "web"), false);
        routes.service_changed(&service("api", "api"), false);
        assert_eq!(
            routes.pod_changed(&pod("default", "web"), false),
            keys(&["web", "web-too"])
        );
        assert!(routes.pod_changed(&pod("prod", "web"), false).is_empty());
    }

    #[test]
    fn a_pod_changing_labels_wakes_the_services_it_left_and_joined() {
        let mut routes = Routes::default();
        routes.service_changed(&service("web", "web"), false);
        routes.service_changed(&service("api", "api"), false);
        routes.pod_changed(&pod("default", "web"), false);
        assert_eq!(
            routes.pod_changed(&pod("default", "api"), false),
            keys(&["api", "web"])
        );
        assert_eq!(
            routes.pod_changed(&pod("default", "db"), false),
            keys(&["api"])
        );
        assert!(routes.pod_changed(&pod("default", "db"), false).is_empty());
        // A deleted pod wakes the Services of its last labels, once.
        routes.pod_changed(&pod("default", "web"), false);
        assert_eq!(
            routes.pod_changed(&pod("default", "web"), true),
            keys(&["web"])
        );
        assert!(routes.pod_changed(&Pod::default(), true).is_empty());
    }

    #[test]
    fn deleted_services_and_services_without_selector_route_nothing() {
        let mut routes = Routes::default();
        routes.service_changed(&service("web", "web"), false);
        routes.service_changed(&service("web", "web"), true);
        assert!(routes.pod_changed(&pod("default", "web"), false).is_empty());
        let mut manual = service("web", "web");
        manual.spec.selector.clear();
        routes.service_changed(&service("web", "web"), false);
        routes.service_changed(&manual, false);
        assert!(routes.pod_changed(&pod("default", "web"), false).is_empty());
    }
}
