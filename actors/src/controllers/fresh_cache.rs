//! [`FreshCache`]: a watch-fed [`Cache`] that a controller also writes through, so the
//! reconcile right after a create, delete or status update sees it although the watch has not
//! delivered it yet (no second pod for the same node or ordinal).
//!
//! Because both feed it, a watch event can be older (by resourceVersion) than the object the
//! controller recorded from its own write; such events are dropped. Deletions always apply:
//! the watch is ordered, so nothing older of that object follows one.

use flotilla_kernel::api::EventType;
use flotilla_kernel::object::{Pod, Resource, Time};

use crate::informer::{Cache, IndexFn};

/// The objects of one kind, as fresh as the watch and the controller's own writes make them.
pub struct FreshCache<T> {
    objects: Cache<T>,
}

impl<T: Resource> FreshCache<T> {
    pub fn new() -> Self {
        Self {
            objects: Cache::new(),
        }
    }

    /// A cache that also files its objects under `value_of`.
    pub fn indexed(value_of: IndexFn<T>) -> Self {
        Self {
            objects: Cache::indexed(value_of),
        }
    }

    /// Records a watch event, unless it is older than what the cache holds.
    pub fn heard(&mut self, event: EventType, object: T) {
        if event != EventType::Deleted {
            let meta = object.meta();
            let held = self.objects.get(&meta.namespace, &meta.name);
            let held = held.and_then(|held| version(held.as_ref()));
            if held.zip(version(&object)).is_some_and(|(h, i)| i <= h) {
                return;
            }
        }
        self.objects.apply(event, object);
    }

    /// Records an object as this controller wrote it (the API server's answer, or a pod it
    /// asked to delete marked as terminating).
    pub fn wrote(&mut self, object: T) {
        self.objects.apply(EventType::Modified, object);
    }

    /// The cache to read.
    pub fn objects(&self) -> &Cache<T> {
        &self.objects
    }
}

impl FreshCache<Pod> {
    /// Records that this controller deleted the pod `namespace/name`: it stays, terminating,
    /// until the watch reports it gone, since it still holds its node or its name.
    pub fn deleting(&mut self, namespace: &str, name: &str) {
        if let Some(pod) = self.objects.get(namespace, name) {
            let mut going = Pod::clone(pod);
            going.metadata.deletion_timestamp = Some(Time::now());
            self.wrote(going);
        }
    }
}

impl<T: Resource> Default for FreshCache<T> {
    fn default() -> Self {
        Self::new()
    }
}

fn version<T: Resource>(object: &T) -> Option<u64> {
    object.meta().resource_version.parse().ok()
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::Pod;

    use super::*;

    fn pod(name: &str, version: u64, terminating: bool) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.namespace = "default".into();
        pod.metadata.name = name.into();
        pod.metadata.resource_version = version.to_string();
        if terminating {
            pod.metadata.deletion_timestamp = Some(flotilla_kernel::object::Time::now());
        }
        pod
    }

    fn held(cache: &FreshCache<Pod>, name: &str) -> Option<(String, bool)> {
        let pod = cache.objects().get("default", name)?;
        Some((
            pod.metadata.resource_version.clone(),
            pod.metadata.deletion_timestamp.is_some(),
        ))
    }

    #[test]
    fn events_older_than_the_controllers_write_are_dropped() {
        let mut cache = FreshCache::new();
        cache.heard(EventType::Added, pod("a", 3, false));
        cache.wrote(pod("a", 3, true));
        cache.heard(EventType::Modified, pod("a", 3, false));
        assert_eq!(held(&cache, "a"), Some(("3".into(), true)));
        cache.heard(EventType::Modified, pod("a", 5, true));
        assert_eq!(held(&cache, "a"), Some(("5".into(), true)));
        cache.heard(EventType::Deleted, pod("a", 5, true));
        assert_eq!(held(&cache, "a"), None);
        // A new object under the old name is a new one.
        cache.heard(EventType::Added, pod("a", 9, false));
        assert_eq!(held(&cache, "a"), Some(("9".into(), false)));
    }

    #[test]
    fn a_pod_deleted_here_is_terminating_until_the_watch_says_gone() {
        let mut cache = FreshCache::new();
        cache.heard(EventType::Added, pod("c", 4, false));
        cache.deleting("default", "c");
        cache.deleting("default", "never-seen");
        assert_eq!(held(&cache, "c"), Some(("4".into(), true)));
        cache.heard(EventType::Modified, pod("c", 4, false));
        assert_eq!(held(&cache, "c"), Some(("4".into(), true)));
        cache.heard(EventType::Deleted, pod("c", 4, true));
        assert!(cache.objects().is_empty());
    }

    #[test]
    fn a_created_object_is_seen_before_its_watch_event() {
        let mut cache = FreshCache::new();
        cache.wrote(pod("b", 7, false));
        assert_eq!(held(&cache, "b"), Some(("7".into(), false)));
        cache.heard(EventType::Added, pod("b", 7, false));
        assert_eq!(cache.objects().len(), 1);
    }
}
