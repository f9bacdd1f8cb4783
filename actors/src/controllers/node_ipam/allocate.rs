//! The pure core of node IPAM: which range of the cluster CIDR a node gets.

use std::collections::BTreeSet;

use ipnet::Ipv4Net;

/// How the cluster CIDR is cut into node ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodRanges {
    /// The whole pod network (`--cluster-cidr`).
    pub cluster: Ipv4Net,
    /// The prefix length of each node's range (`--node-cidr-mask-size`).
    pub node_prefix: u8,
}

/// Why a pod-range layout is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error(
        "--node-cidr-mask-size {node_prefix} must be between the cluster CIDR's prefix \
         ({cluster}) and 30"
    )]
    MaskSize { cluster: Ipv4Net, node_prefix: u8 },
}

impl PodRanges {
    /// Checks that nodes' ranges fit in the cluster's and hold at least two pods.
    pub fn new(cluster: Ipv4Net, node_prefix: u8) -> Result<PodRanges, RangeError> {
        if node_prefix < cluster.prefix_len() || node_prefix > 30 {
            return Err(RangeError::MaskSize {
                cluster,
                node_prefix,
            });
        }
        Ok(PodRanges {
            cluster: cluster.trunc(),
            node_prefix,
        })
    }

    /// The lowest node range not in `taken`, or `None` when every one is.
    pub fn next_free(&self, taken: &BTreeSet<Ipv4Net>) -> Option<Ipv4Net> {
        self.cluster
            .subnets(self.node_prefix)
            .ok()?
            .find(|range| !taken.iter().any(|used| overlaps(used, range)))
    }
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> Ipv4Net {
        text.parse().unwrap()
    }

    #[test]
    fn nodes_get_the_lowest_free_range() {
        let ranges = PodRanges::new(net("10.42.0.0/16"), 24).unwrap();
        let mut taken = BTreeSet::new();
        assert_eq!(ranges.next_free(&taken), Some(net("10.42.0.0/24")));
        taken.insert(net("10.42.0.0/24"));
        taken.insert(net("10.42.2.0/24"));
        assert_eq!(ranges.next_free(&taken), Some(net("10.42.1.0/24")));
        // A released range is given again.
        taken.remove(&net("10.42.0.0/24"));
        assert_eq!(ranges.next_free(&taken), Some(net("10.42.0.0/24")));
    }

    #[test]
    fn ranges_set_by_hand_are_avoided_whatever_their_size() {
        let ranges = PodRanges::new(net("10.42.0.0/16"), 24).unwrap();
        let taken = BTreeSet::from([net("10.42.0.0/23"), net("10.42.2.128/25")]);
        assert_eq!(ranges.next_free(&taken), Some(net("10.42.3.0/24")));
    }

    #[test]
    fn an_exhausted_cluster_range_has_nothing_left() {
        let ranges = PodRanges::new(net("10.42.0.0/23"), 24).unwrap();
        let taken = BTreeSet::from([net("10.42.0.0/24"), net("10.42.1.0/24")]);
        assert_eq!(ranges.next_free(&taken), None);
    }

    #[test]
    fn node_ranges_must_fit_the_cluster_range() {
        let error = PodRanges::new(net("10.42.0.0/16"), 8).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--node-cidr-mask-size 8 must be between the cluster CIDR's prefix (10.42.0.0/16) and 30"
        );
        assert!(PodRanges::new(net("10.42.0.0/16"), 31).is_err());
        let host_bits = PodRanges::new(net("10.42.7.9/16"), 24).unwrap();
        assert_eq!(host_bits.cluster, net("10.42.0.0/16"));
    }
}
