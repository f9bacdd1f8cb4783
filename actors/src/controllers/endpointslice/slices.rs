//! The managed EndpointSlices as the controller last knew them, filed by their Service: fed by
//! the slice watch and by the controller's own writes, so the reconcile right after a write
//! sees it although the watch has not delivered it yet (and creates no second slice).
//!
//! Because both feed it, an event can come after the cache has moved past it: one older (by
//! resourceVersion) than the slice held, or about a slice this controller deleted whose
//! Deleted event has not come yet. Such events are dropped.

use std::collections::HashMap;

use flotilla_kernel::api::EventType;
use flotilla_kernel::object::{EndpointSlice, SERVICE_NAME_LABEL};

use super::plan::{MANAGED_BY, MANAGED_BY_LABEL};
use crate::controllers::key::ObjectKey;
use crate::informer::Cache;

/// The controller's slices.
pub struct SliceCache {
    slices: Cache<EndpointSlice>,
    /// (namespace, name) → last resourceVersion of each slice deleted here, until the watch
    /// reports the deletion.
    deleted: HashMap<(String, String), u64>,
}

impl Default for SliceCache {
    fn default() -> Self {
        Self {
            slices: Cache::indexed(managed_for),
            deleted: HashMap::new(),
        }
    }
}

impl std::fmt::Debug for SliceCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SliceCache")
            .field("slices", &self.slices.len())
            .field("deleted", &self.deleted.len())
            .finish()
    }
}

impl SliceCache {
    /// Records a watch event.
    pub fn heard(&mut self, event: EventType, slice: EndpointSlice) {
        let id = (
            slice.metadata.namespace.clone(),
            slice.metadata.name.clone(),
        );
        if event == EventType::Deleted {
            self.deleted.remove(&id);
            self.slices.apply(EventType::Deleted, slice);
            return;
        }
        let incoming = version(&slice);
        let superseded = |held: Option<u64>| held.zip(incoming).is_some_and(|(h, i)| i <= h);
        if superseded(self.deleted.get(&id).copied())
            || superseded(self.slices.get(&id.0, &id.1).and_then(|held| version(held)))
        {
            return;
        }
        // A slice no longer labelled as this controller's is no longer its to keep.
        let event = if managed_for(&slice).is_some() {
            event
        } else {
            EventType::Deleted
        };
        self.slices.apply(event, slice);
    }

    /// Records a slice as the API server returned it from this controller's create or update.
    pub fn wrote(&mut self, slice: EndpointSlice) {
        self.heard(EventType::Modified, slice);
    }

    /// Records that this controller deleted (or found gone) the slice `namespace/name`.
    pub fn deleted(&mut self, namespace: &str, name: &str) {
        let mut gone = EndpointSlice::default();
        gone.metadata.namespace = namespace.to_string();
        gone.metadata.name = name.to_string();
        let change = self.slices.apply(EventType::Deleted, gone);
        if let Some(version) = change.old.as_deref().and_then(version) {
            self.deleted
                .insert((namespace.to_string(), name.to_string()), version);
        }
    }

    /// The slices of the Service `key`.
    pub fn of_service(&self, key: &ObjectKey) -> Vec<&EndpointSlice> {
        self.slices
            .indexed_under(&key.to_string())
            .map(AsRef::as_ref)
            .collect()
    }

    /// The Services that have slices.
    pub fn services(&self) -> Vec<ObjectKey> {
        self.slices
            .index_values()
            .filter_map(|value| value.split_once('/'))
            .map(|(namespace, name)| ObjectKey::new(namespace, name))
            .collect()
    }
}

/// `namespace/service` of a slice this controller manages; `None` for any other slice.
fn managed_for(slice: &EndpointSlice) -> Option<String> {
    let labels = &slice.metadata.labels;
    if labels.get(MANAGED_BY_LABEL).map(String::as_str) != Some(MANAGED_BY) {
        return None;
    }
    let service = labels.get(SERVICE_NAME_LABEL)?;
    Some(format!("{}/{service}", slice.metadata.namespace))
}

fn version(slice: &EndpointSlice) -> Option<u64> {
    slice.metadata.resource_version.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(name: &str, service: &str, version: u64) -> EndpointSlice {
        let mut slice = EndpointSlice::default();
        slice.metadata.namespace = "default".into();
        slice.metadata.name = name.into();
        slice.metadata.resource_version = version.to_string();
        slice.metadata.labels = [
            (SERVICE_NAME_LABEL.to_string(), service.to_string()),
            (MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string()),
        ]
        .into();
        slice
    }

    fn names(cache: &SliceCache, service: &str) -> Vec<(String, String)> {
        cache
            .of_service(&ObjectKey::new("default", service))
            .iter()
            .map(|s| (s.metadata.name.clone(), s.metadata.resource_version.clone()))
            .collect()
    }

    fn held(name: &str, version: &str) -> (String, String) {
        (name.to_string(), version.to_string())
    }

    #[test]
    fn slices_are_filed_under_their_service_and_only_managed_ones_are_kept() {
        let mut cache = SliceCache::default();
        cache.heard(EventType::Added, slice("web-a", "web", 3));
        cache.heard(EventType::Added, slice("api-a", "api", 4));
        let mut by_hand = slice("web-b", "web", 5);
        by_hand.metadata.labels.remove(MANAGED_BY_LABEL);
        cache.heard(EventType::Added, by_hand.clone());
        assert_eq!(names(&cache, "web"), [held("web-a", "3")]);
        assert_eq!(
            cache.services(),
            [
                ObjectKey::new("default", "api"),
                ObjectKey::new("default", "web")
            ]
        );
        // Relabelled by hand: no longer the controller's.
        let mut relabelled = slice("web-a", "web", 6);
        relabelled.metadata.labels.remove(MANAGED_BY_LABEL);
        cache.heard(EventType::Modified, relabelled);
        assert!(names(&cache, "web").is_empty());
    }

    #[test]
    fn an_event_older_than_the_controllers_own_write_is_dropped() {
        let mut cache = SliceCache::default();
        cache.wrote(slice("web-a", "web", 7));
        cache.heard(EventType::Added, slice("web-a", "web", 7));
        cache.heard(EventType::Modified, slice("web-a", "web", 6));
        assert_eq!(names(&cache, "web"), [held("web-a", "7")]);
        cache.heard(EventType::Modified, slice("web-a", "web", 9));
        assert_eq!(names(&cache, "web"), [held("web-a", "9")]);
    }

    #[test]
    fn a_slice_deleted_here_stays_gone_until_the_watch_reports_it() {
        let mut cache = SliceCache::default();
        cache.heard(EventType::Added, slice("web-a", "web", 7));
        cache.deleted("default", "web-a");
        assert!(names(&cache, "web").is_empty());
        cache.heard(EventType::Modified, slice("web-a", "web", 7));
        assert!(names(&cache, "web").is_empty());
        cache.heard(EventType::Deleted, slice("web-a", "web", 7));
        // A slice of the same name made afterwards is a new one.
        cache.heard(EventType::Added, slice("web-a", "web", 12));
        assert_eq!(names(&cache, "web"), [held("web-a", "12")]);
        cache.deleted("default", "never-seen");
        assert!(cache.services().len() == 1);
    }
}
