//! The network policy controller: writes into each NetworkPolicy's status what its peers
//! with selectors stand for — the addresses of the pods they select and, for egress rules,
//! where their named ports are — because the nodes that enforce the policy may read neither
//! the other nodes' pods nor the Namespaces (see `flotilla_kernel::object::network_policy`
//! for the shape, and [`resolve`] for the rules).
//!
//! The key is a policy's namespace and name. Policy events queue the policy; pod and
//! namespace events that change what any policy may resolve to queue every policy (a pod's
//! address, labels or named ports, a namespace's labels): simple, and a pod's status updates,
//! which are most pod events, queue nothing. Each reconcile reads the policy fresh and
//! resolves it against the watch-fed [`peers::Peers`], writing the status only when it
//! changed. The nodes trust a status only while its `observedGeneration` is the policy's, so
//! a spec edited since is enforced without its selector peers (denying rather than allowing)
//! until the next reconcile resolves it.

mod peers;
pub mod resolve;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use flotilla_kernel::api::{ApiClient, ClientError, EventType, Watched};
use flotilla_kernel::object::{Namespace, NetworkPolicy, Pod};

use self::peers::{Peers, listed_revision};
use self::resolve::resolve;
use super::driver::{Action, Controller, Watches};
use super::key::ObjectKey;

/// The network policy controller; its state is the cluster's pods and namespaces, and the
/// policies there are.
#[derive(Debug, Default)]
pub struct NetworkPolicyController {
    peers: Peers,
    /// Whether `peers` holds a full listing.
    listed: bool,
    policies: BTreeSet<ObjectKey>,
}

/// What the network policy controller watches.
#[derive(Debug)]
pub enum NetworkPolicyEvent {
    Policy(Watched<NetworkPolicy>),
    /// Boxed: pods are much larger than the other objects.
    Pod(Box<Watched<Pod>>),
    Namespace(Watched<Namespace>),
}

/// Why one reconcile of a policy failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkPolicyError {
    #[error("reading network policy {key}")]
    ReadPolicy {
        key: ObjectKey,
        #[source]
        source: ClientError,
    },
    #[error("writing the resolved peers of network policy {key}")]
    WriteStatus {
        key: ObjectKey,
        #[source]
        source: ClientError,
    },
}

impl Controller for NetworkPolicyController {
    const NAME: &'static str = "networkpolicy-controller";
    type Key = ObjectKey;
    type Event = NetworkPolicyEvent;
    type Error = NetworkPolicyError;

    async fn open_watches(watches: &mut Watches<NetworkPolicyEvent>) -> Result<(), ClientError> {
        watches
            .open("networkpolicies", NetworkPolicyEvent::Policy)
            .await?;
        watches
            .open("pods", |pod| NetworkPolicyEvent::Pod(Box::new(pod)))
            .await?;
        watches
            .open("namespaces", NetworkPolicyEvent::Namespace)
            .await
    }

    fn route(&mut self, event: NetworkPolicyEvent) -> Vec<ObjectKey> {
        let changed = match event {
            NetworkPolicyEvent::Policy(w) => {
                let key = ObjectKey::of(&w.object.metadata);
                if w.event == EventType::Deleted {
                    self.policies.remove(&key);
                } else {
                    self.policies.insert(key.clone());
                }
                return vec![key];
            }
            NetworkPolicyEvent::Pod(w) => self.peers.pod_changed(w.event, &w.object, w.revision),
            NetworkPolicyEvent::Namespace(w) => {
                self.peers.namespace_changed(w.event, &w.object, w.revision)
            }
        };
        if changed {
            self.policies.iter().cloned().collect()
        } else {
            Vec::new()
        }
    }

    async fn resync(&mut self, api: &ApiClient) -> Result<Vec<ObjectKey>, ClientError> {
        if !self.listed {
            let (pods, _) = api.list::<Pod>(None, None).await?;
            for pod in &pods {
                let revision = listed_revision(&pod.metadata.resource_version);
                self.peers.pod_changed(EventType::Added, pod, revision);
            }
            let (namespaces, _) = api.list::<Namespace>(None, None).await?;
            for namespace in &namespaces {
                let revision = listed_revision(&namespace.metadata.resource_version);
                self.peers
                    .namespace_changed(EventType::Added, namespace, revision);
            }
            self.listed = true;
        }
        let (policies, _) = api.list::<NetworkPolicy>(None, None).await?;
        let keys: BTreeSet<ObjectKey> = policies
            .iter()
            .map(|policy| ObjectKey::of(&policy.metadata))
            .collect();
        self.policies.extend(keys.iter().cloned());
        Ok(keys.into_iter().collect())
    }

    async fn reconcile(
        &mut self,
        api: &ApiClient,
        key: &ObjectKey,
    ) -> Result<Action, NetworkPolicyError> {
        let found = api.find::<NetworkPolicy>(&key.namespace, &key.name).await;
        let policy = found.map_err(|source| NetworkPolicyError::ReadPolicy {
            key: key.clone(),
            source,
        })?;
        let Some(mut policy) = policy else {
            self.policies.remove(key);
            return Ok(Action::Done);
        };
        let status = resolve(&policy, self.peers.cluster());
        if status == policy.status {
            return Ok(Action::Done);
        }
        policy.status = status;
        api.update_status(&policy)
            .await
            .map_err(|source| NetworkPolicyError::WriteStatus {
                key: key.clone(),
                source,
            })?;
        tracing::debug!(policy = %key, "resolved the peers of network policy");
        Ok(Action::Done)
    }
}
