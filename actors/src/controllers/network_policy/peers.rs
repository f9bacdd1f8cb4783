//! The controller's watch-fed view of the cluster: every pod that can be a peer, by
//! namespace, and every namespace's labels. Resolving a policy reads this instead of listing
//! the cluster's pods at each reconcile.
//!
//! The view is filled by a listing when the controller starts (so that its first
//! resolutions see the whole cluster, not the part of it the watches have delivered so far)
//! and kept by the watches after. The watches start with the current objects, which may be
//! older than the listing: every entry keeps the revision it was last changed at, and an
//! event older than that is ignored. Each change says whether it changed what a policy can
//! resolve to, so that a pod's status updates (conditions, restarts) wake no policy.

use std::collections::BTreeMap;

use flotilla_kernel::api::EventType;
use flotilla_kernel::object::{Namespace, Pod};

use super::resolve::{Cluster, PodView};

type Labels = BTreeMap<String, String>;

/// The pods and namespaces policies may select.
#[derive(Debug, Default)]
pub struct Peers {
    /// Namespace → pod name → view, for the pods that can be peers.
    pods: BTreeMap<String, BTreeMap<String, PodView>>,
    /// The revision each known pod was last changed at, peer or not.
    pod_revisions: BTreeMap<(String, String), u64>,
    namespaces: BTreeMap<String, Labels>,
    namespace_revisions: BTreeMap<String, u64>,
}

impl Peers {
    /// The view, for [`super::resolve::resolve`].
    pub fn cluster(&self) -> Cluster<'_> {
        Cluster {
            pods: &self.pods,
            namespaces: &self.namespaces,
        }
    }

    /// Files a pod as of `revision`; whether what policies resolve to changed.
    pub fn pod_changed(&mut self, event: EventType, pod: &Pod, revision: u64) -> bool {
        let meta = &pod.metadata;
        let key = (meta.namespace.clone(), meta.name.clone());
        if !newer(self.pod_revisions.get(&key), revision) {
            return false;
        }
        let view = match event {
            EventType::Deleted => {
                self.pod_revisions.remove(&key);
                None
            }
            EventType::Added | EventType::Modified => {
                self.pod_revisions.insert(key.clone(), revision);
                PodView::of(pod)
            }
        };
        let (namespace, name) = key;
        let pods = self.pods.entry(namespace.clone()).or_default();
        let changed = match view {
            Some(view) => pods.insert(name, view.clone()).as_ref() != Some(&view),
            None => pods.remove(&name).is_some(),
        };
        if pods.is_empty() {
            self.pods.remove(&namespace);
        }
        changed
    }

    /// Files a namespace as of `revision`; whether its labels changed.
    pub fn namespace_changed(
        &mut self,
        event: EventType,
        namespace: &Namespace,
        revision: u64,
    ) -> bool {
        let name = &namespace.metadata.name;
        if !newer(self.namespace_revisions.get(name), revision) {
            return false;
        }
        match event {
            EventType::Deleted => {
                self.namespace_revisions.remove(name);
                self.namespaces.remove(name).is_some()
            }
            EventType::Added | EventType::Modified => {
                self.namespace_revisions.insert(name.clone(), revision);
                let labels = &namespace.metadata.labels;
                self.namespaces
                    .insert(name.clone(), labels.clone())
                    .as_ref()
                    != Some(labels)
            }
        }
    }
}

/// Whether an event at `revision` is not older than what is filed.
fn newer(filed: Option<&u64>, revision: u64) -> bool {
    filed.is_none_or(|filed| revision >= *filed)
}

/// The revision a listed object was last changed at.
pub fn listed_revision(resource_version: &str) -> u64 {
    resource_version.parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::PodCondition;

    use super::*;

    fn pod(ip: &str, app: &str) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.namespace = "default".into();
        pod.metadata.name = "web-1".into();
        pod.metadata.labels = [("app".to_string(), app.to_string())].into();
        pod.status.pod_ip = ip.into();
        pod
    }

    fn addresses(peers: &Peers) -> Vec<String> {
        peers
            .cluster()
            .pods
            .values()
            .flat_map(BTreeMap::values)
            .map(|view| view.address.to_string())
            .collect()
    }

    #[test]
    fn pods_become_peers_once_they_have_an_address_and_stop_when_deleted() {
        let mut peers = Peers::default();
        assert!(!peers.pod_changed(EventType::Added, &pod("", "web"), 5));
        assert!(peers.pod_changed(EventType::Modified, &pod("10.42.0.5", "web"), 6));
        assert_eq!(addresses(&peers), ["10.42.0.5"]);
        // A condition changes nothing a policy sees.
        let mut ready = pod("10.42.0.5", "web");
        ready.status.conditions.push(PodCondition::default());
        assert!(!peers.pod_changed(EventType::Modified, &ready, 7));
        assert!(peers.pod_changed(EventType::Modified, &pod("10.42.0.5", "db"), 8));
        assert!(peers.pod_changed(EventType::Deleted, &pod("10.42.0.5", "db"), 9));
        assert!(addresses(&peers).is_empty());
        assert!(peers.cluster().pods.is_empty());
    }

    #[test]
    fn events_older_than_what_is_filed_are_ignored() {
        let mut peers = Peers::default();
        // Listed at revision 10, then the watch's own first listing from revision 8.
        assert!(peers.pod_changed(EventType::Added, &pod("10.42.0.6", "web"), 10));
        assert!(!peers.pod_changed(EventType::Added, &pod("10.42.0.5", "web"), 8));
        assert_eq!(addresses(&peers), ["10.42.0.6"]);
        assert!(!peers.pod_changed(EventType::Added, &pod("10.42.0.6", "web"), 10));

        let mut namespace = Namespace::default();
        namespace.metadata.name = "prod".into();
        namespace.metadata.labels = [("env".to_string(), "prod".to_string())].into();
        assert!(peers.namespace_changed(EventType::Added, &namespace, 4));
        let stale = Namespace {
            metadata: flotilla_kernel::object::ObjectMeta {
                name: "prod".into(),
                ..Default::default()
            },
            ..Namespace::default()
        };
        assert!(!peers.namespace_changed(EventType::Modified, &stale, 3));
        assert!(!peers.namespace_changed(EventType::Modified, &namespace, 5));
        assert_eq!(peers.cluster().namespaces["prod"]["env"], "prod");
        assert!(peers.namespace_changed(EventType::Deleted, &namespace, 6));
        assert!(peers.cluster().namespaces.is_empty());
        assert_eq!(listed_revision("17"), 17);
        assert_eq!(listed_revision(""), 0);
    }
}
