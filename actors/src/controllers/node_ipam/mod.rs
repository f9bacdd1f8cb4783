//! The node IPAM controller: gives every Node a range of the cluster CIDR for its pods
//! (`spec.podCIDR`), as Kubernetes' controller-manager does with `--allocate-node-cidrs`.
//!
//! What is taken is read from the Nodes themselves, so a deleted Node's range is free again
//! the moment it is gone and nothing else needs to be kept; a range, once set, never changes
//! (the API server refuses that). One key at a time means two Nodes never get the same range
//! from one controller, and the update's resourceVersion check guards the rest.

mod allocate;

use std::collections::BTreeSet;
use std::time::Duration;

use ipnet::Ipv4Net;

use flotilla_kernel::api::{ApiClient, ClientError, Watched};
use flotilla_kernel::object::Node;

use super::driver::{Action, Controller, Watches};

pub use allocate::{PodRanges, RangeError};

/// How long a node waits before the controller looks for a free range again.
const EXHAUSTED_RETRY: Duration = Duration::from_secs(30);

/// The node IPAM controller.
#[derive(Debug)]
pub struct NodeIpamController {
    ranges: PodRanges,
}

impl NodeIpamController {
    pub fn new(ranges: PodRanges) -> Self {
        NodeIpamController { ranges }
    }
}

/// Why one node could not be given its range.
#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    #[error("reading node {node}")]
    Read {
        node: String,
        #[source]
        source: ClientError,
    },
    #[error("listing the nodes' pod ranges")]
    List(#[source] ClientError),
    #[error("giving node {node} the pod range {range}")]
    Assign {
        node: String,
        range: Ipv4Net,
        #[source]
        source: ClientError,
    },
}

impl Controller for NodeIpamController {
    const NAME: &'static str = "node-ipam";
    type Key = String;
    type Event = Watched<Node>;
    type Error = IpamError;

    async fn open_watches(watches: &mut Watches<Watched<Node>>) -> Result<(), ClientError> {
        watches.open("nodes", |event| event).await
    }

    fn route(&mut self, event: Watched<Node>) -> Vec<String> {
        if event.object.spec.pod_cidr.is_empty() {
            vec![event.object.metadata.name]
        } else {
            Vec::new()
        }
    }

    async fn resync(&mut self, api: &ApiClient) -> Result<Vec<String>, ClientError> {
        let (nodes, _) = api.list::<Node>(None, None).await?;
        Ok(nodes
            .into_iter()
            .filter(|node| node.spec.pod_cidr.is_empty())
            .map(|node| node.metadata.name)
            .collect())
    }

    async fn reconcile(&mut self, api: &ApiClient, name: &String) -> Result<Action, IpamError> {
        let read_error = |source| IpamError::Read {
            node: name.clone(),
            source,
        };
        let Some(mut node) = api.find::<Node>("", name).await.map_err(read_error)? else {
            return Ok(Action::Done);
        };
        if !node.spec.pod_cidr.is_empty() || node.metadata.deletion_timestamp.is_some() {
            return Ok(Action::Done);
        }
        let (nodes, _) = api
            .list::<Node>(None, None)
            .await
            .map_err(IpamError::List)?;
        let taken: BTreeSet<Ipv4Net> = nodes
            .iter()
            .flat_map(|node| std::iter::once(&node.spec.pod_cidr).chain(&node.spec.pod_cidrs))
            .filter_map(|cidr| cidr.parse().ok())
            .collect();
        let Some(range) = self.ranges.next_free(&taken) else {
            tracing::warn!(
                node = %name,
                cluster_cidr = %self.ranges.cluster,
                "CIDRNotAvailable: no pod range is left in the cluster CIDR"
            );
            return Ok(Action::Requeue(EXHAUSTED_RETRY));
        };
        node.spec.pod_cidr = range.to_string();
        node.spec.pod_cidrs = vec![range.to_string()];
        api.update(&node)
            .await
            .map_err(|source| IpamError::Assign {
                node: name.clone(),
                range,
                source,
            })?;
        tracing::info!(node = %name, %range, "gave the node its pod range");
        Ok(Action::Done)
    }
}
