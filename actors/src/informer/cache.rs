//! [`Cache`]: the objects of one kind as a watch last reported them, by namespace and name,
//! with an optional index (Kubernetes' `Indexer`), e.g. pods by the node they are bound to.
//!
//! It is plain data changed only by [`Cache::apply`], so a component can own one outright (its
//! actor applies watch events as messages) or share one behind a lock ([`super::Informer`]),
//! and tests build one from objects without a runtime. Objects are held as `Arc`s so a change
//! can be handed to listeners without copying the object.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use flotilla_kernel::api::EventType;
use flotilla_kernel::object::Resource;

/// What an index files an object under; `None` leaves it out of the index.
pub type IndexFn<T> = fn(&T) -> Option<String>;

/// The cached objects of one kind.
pub struct Cache<T> {
    /// Namespace (empty for cluster-scoped kinds) → name → object.
    objects: BTreeMap<String, BTreeMap<String, Arc<T>>>,
    len: usize,
    index: Option<Index<T>>,
}

struct Index<T> {
    value_of: IndexFn<T>,
    /// Index value → (namespace, name) of the objects filed under it.
    entries: BTreeMap<String, BTreeSet<(String, String)>>,
}

/// One change applied to a cache: the object before (`None` if it was new) and after (for a
/// deletion, the object as it was last).
#[derive(Debug)]
pub struct Change<T> {
    pub event: EventType,
    pub old: Option<Arc<T>>,
    pub new: Arc<T>,
}

impl<T> Clone for Change<T> {
    fn clone(&self) -> Self {
        Self {
            event: self.event,
            old: self.old.clone(),
            new: Arc::clone(&self.new),
        }
    }
}

impl<T: Resource> Default for Cache<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Resource> Cache<T> {
    /// An empty cache without an index.
    pub fn new() -> Self {
        Self {
            objects: BTreeMap::new(),
            len: 0,
            index: None,
        }
    }

    /// An empty cache that also files its objects under `value_of`.
    pub fn indexed(value_of: IndexFn<T>) -> Self {
        Self {
            index: Some(Index {
                value_of,
                entries: BTreeMap::new(),
            }),
            ..Self::new()
        }
    }

    /// Records a watch event; returns what changed.
    pub fn apply(&mut self, event: EventType, object: T) -> Change<T> {
        let new = Arc::new(object);
        let meta = new.meta();
        let (namespace, name) = (meta.namespace.clone(), meta.name.clone());
        let old = if event == EventType::Deleted {
            self.remove(&namespace, &name)
        } else {
            self.insert(namespace, name, Arc::clone(&new))
        };
        Change { event, old, new }
    }

    /// The object `namespace/name` (namespace empty for cluster-scoped kinds).
    pub fn get(&self, namespace: &str, name: &str) -> Option<&Arc<T>> {
        self.objects.get(namespace)?.get(name)
    }

    /// Every object, by namespace then name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<T>> {
        self.objects.values().flat_map(BTreeMap::values)
    }

    /// The objects of `namespace`, by name.
    pub fn in_namespace(&self, namespace: &str) -> impl Iterator<Item = &Arc<T>> {
        self.objects
            .get(namespace)
            .into_iter()
            .flat_map(BTreeMap::values)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The objects the index files under `value` (none without an index).
    pub fn indexed_under<'a>(
        &'a self,
        value: &str,
    ) -> impl Iterator<Item = &'a Arc<T>> + use<'a, T> {
        self.index
            .as_ref()
            .and_then(|index| index.entries.get(value))
            .into_iter()
            .flatten()
            .filter_map(|(namespace, name)| self.get(namespace, name))
    }

    /// Every value the index files at least one object under.
    pub fn index_values(&self) -> impl Iterator<Item = &str> {
        self.index
            .as_ref()
            .into_iter()
            .flat_map(|index| index.entries.keys().map(String::as_str))
    }

    fn insert(&mut self, namespace: String, name: String, object: Arc<T>) -> Option<Arc<T>> {
        if let Some(index) = &mut self.index {
            index.add(&namespace, &name, &object);
        }
        let old = self
            .objects
            .entry(namespace.clone())
            .or_default()
            .insert(name.clone(), object);
        match &old {
            Some(old) => self.unindex(&namespace, &name, old, true),
            None => self.len += 1,
        }
        old
    }

    fn remove(&mut self, namespace: &str, name: &str) -> Option<Arc<T>> {
        let names = self.objects.get_mut(namespace)?;
        let old = names.remove(name)?;
        if names.is_empty() {
            self.objects.remove(namespace);
        }
        self.len -= 1;
        self.unindex(namespace, name, &old, false);
        Some(old)
    }

    /// Takes `old` out of the index, unless `replaced` and its successor is filed alike.
    fn unindex(&mut self, namespace: &str, name: &str, old: &T, replaced: bool) {
        let Some(index) = &mut self.index else {
            return;
        };
        let Some(value) = (index.value_of)(old) else {
            return;
        };
        if replaced {
            let current = self.objects.get(namespace).and_then(|n| n.get(name));
            if current.and_then(|c| (index.value_of)(c)).as_ref() == Some(&value) {
                return;
            }
        }
        if let Some(keys) = index.entries.get_mut(&value) {
            keys.remove(&(namespace.to_string(), name.to_string()));
            if keys.is_empty() {
                index.entries.remove(&value);
            }
        }
    }
}

impl<T> Index<T> {
    fn add(&mut self, namespace: &str, name: &str, object: &T) {
        if let Some(value) = (self.value_of)(object) {
            self.entries
                .entry(value)
                .or_default()
                .insert((namespace.to_string(), name.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::Pod;

    use super::*;
    use crate::informer::bound_node;

    fn pod(namespace: &str, name: &str, node: &str) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.namespace = namespace.into();
        pod.metadata.name = name.into();
        pod.spec.node_name = node.into();
        pod
    }

    fn names<'a>(pods: impl Iterator<Item = &'a Arc<Pod>>) -> Vec<&'a str> {
        pods.map(|p| p.metadata.name.as_str()).collect()
    }

    #[test]
    fn events_add_replace_and_remove_objects() {
        let mut cache = Cache::new();
        let change = cache.apply(EventType::Added, pod("a", "web", ""));
        assert!(change.old.is_none());
        cache.apply(EventType::Added, pod("b", "web", ""));
        let change = cache.apply(EventType::Modified, pod("a", "web", "n1"));
        assert_eq!(
            change.old.map(|p| p.spec.node_name.clone()),
            Some("".into())
        );
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("a", "web").unwrap().spec.node_name, "n1");
        let change = cache.apply(EventType::Deleted, pod("a", "web", "n1"));
        assert!(change.old.is_some());
        assert!(cache.get("a", "web").is_none());
        assert_eq!(cache.len(), 1);
        assert_eq!(names(cache.iter()), ["web"]);
        let change = cache.apply(EventType::Deleted, pod("a", "web", "n1"));
        assert!(
            change.old.is_none(),
            "deleting what is not there changes nothing"
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_index_follows_every_change() {
        let mut cache = Cache::indexed(bound_node);
        cache.apply(EventType::Added, pod("a", "p1", ""));
        cache.apply(EventType::Added, pod("a", "p2", "n1"));
        cache.apply(EventType::Added, pod("b", "p3", "n1"));
        assert_eq!(names(cache.indexed_under("n1")), ["p2", "p3"]);
        assert_eq!(cache.index_values().collect::<Vec<_>>(), ["n1"]);

        cache.apply(EventType::Modified, pod("a", "p1", "n2"));
        cache.apply(EventType::Modified, pod("a", "p2", "n1"));
        assert_eq!(names(cache.indexed_under("n1")), ["p2", "p3"]);
        assert_eq!(names(cache.indexed_under("n2")), ["p1"]);

        cache.apply(EventType::Deleted, pod("a", "p2", "n1"));
        cache.apply(EventType::Modified, pod("b", "p3", "n2"));
        assert_eq!(names(cache.indexed_under("n1")), Vec::<&str>::new());
        assert_eq!(names(cache.indexed_under("n2")), ["p1", "p3"]);
        assert_eq!(cache.index_values().collect::<Vec<_>>(), ["n2"]);
    }

    #[test]
    fn without_an_index_nothing_is_indexed() {
        let mut cache = Cache::new();
        cache.apply(EventType::Added, pod("a", "p", "n1"));
        assert_eq!(cache.indexed_under("n1").count(), 0);
        assert_eq!(cache.index_values().count(), 0);
    }
}
