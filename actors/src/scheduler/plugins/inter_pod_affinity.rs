//! Inter-pod affinity and anti-affinity, as Kubernetes' InterPodAffinity plug-in.
//!
//! Before looking at nodes ([`pre_filter`]) it counts, per topology domain (a `topologyKey`
//! and one of its values), the placed pods the new pod's required terms select, and the
//! placed pods whose own required anti-affinity selects the new pod. Filter: a node is out if
//! it lies in a domain such a placed pod forbids, in a domain holding a pod the new pod's
//! anti-affinity selects, or outside the domains holding pods its affinity selects (unless no
//! such pod exists anywhere and the pod selects itself: the first of a group may go anywhere).
//! Score: preferred terms both ways, summed per domain and scaled between the nodes.

use std::collections::HashMap;

use flotilla_kernel::object::{Node, Pod, PodAffinity, PodAffinityTerm};

use crate::scheduler::events::ClusterEvents;
use crate::scheduler::framework::{Cluster, FilterPlugin, MAX_SCORE, PodInfo, ScorePlugin, Unfit};
use crate::scheduler::node_info::NodeInfo;
use crate::scheduler::pod_index::{PlacedPod, TermKind};

pub struct InterPodAffinity;

/// A topology domain: a topology key and a value of it.
type Domain = (String, String);

/// Kubernetes' `hardPodAffinityWeight`: what a placed pod's required affinity is worth to
/// pods it selects when scoring.
const HARD_AFFINITY_WEIGHT: i64 = 1;

/// What the plug-in computed about one pod (see the module doc).
#[derive(Debug, Default)]
pub struct InterPodState {
    required_affinity: Vec<PodAffinityTerm>,
    required_anti_affinity: Vec<PodAffinityTerm>,
    /// Placed pods matching every required affinity term, per domain.
    affinity_counts: HashMap<Domain, i64>,
    /// Placed pods matching a required anti-affinity term, per domain.
    anti_affinity_counts: HashMap<Domain, i64>,
    /// Placed pods whose required anti-affinity selects this pod, per domain.
    existing_anti_affinity: HashMap<Domain, i64>,
    /// Whether the pod is selected by all its own affinity terms.
    selects_itself: bool,
    /// The preferred terms' worth per domain, both ways.
    scores: HashMap<Domain, i64>,
}

/// The domain of `node` for `key`, if the node has that label.
fn domain_of(node: &Node, key: &str) -> Option<Domain> {
    node.metadata
        .labels
        .get(key)
        .map(|value| (key.to_string(), value.clone()))
}

fn node_has_domain(node: &Node, (key, value): &Domain) -> bool {
    node.metadata.labels.get(key) == Some(value)
}

/// Counts what the filter and the score need, or `None` when neither the pod nor any placed
/// pod has pod affinity terms.
pub fn pre_filter(pod: &Pod, cluster: &Cluster<'_>) -> Option<InterPodState> {
    let affinity = pod.spec.affinity.as_ref();
    let own = affinity.and_then(|a| a.pod_affinity.as_ref());
    let anti = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
    if own.is_none() && anti.is_none() && !cluster.pods.has_terms() {
        return None;
    }
    let namespace = pod.metadata.namespace.as_str();
    let labels = &pod.metadata.labels;
    let selects = |term: &PodAffinityTerm, term_namespace: &str, ns: &str, l: &_| {
        term.selects(term_namespace, ns, l, cluster.namespace_labels)
    };
    let mut state = InterPodState {
        required_affinity: own
            .map(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .clone()
            })
            .unwrap_or_default(),
        required_anti_affinity: anti
            .map(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .clone()
            })
            .unwrap_or_default(),
        ..InterPodState::default()
    };
    state.selects_itself = state
        .required_affinity
        .iter()
        .all(|term| selects(term, namespace, namespace, labels));

    // The pod's own terms, over the placed pods they select.
    let add = |counts: &mut HashMap<Domain, i64>, term: &PodAffinityTerm, node: &str, by: i64| {
        if let Some(domain) = cluster
            .node(node)
            .and_then(|n| domain_of(n.node, &term.topology_key))
        {
            *counts.entry(domain).or_default() += by;
        }
    };
    if let Some(first) = state.required_affinity.first()
        && let Some(selector) = &first.label_selector
    {
        for placed in cluster.pods.matching(selector) {
            let all = state
                .required_affinity
                .iter()
                .all(|t| selects(t, namespace, &placed.namespace, &placed.labels));
            if all {
                for term in &state.required_affinity {
                    add(&mut state.affinity_counts, term, &placed.node, 1);
                }
            }
        }
    }
    for term in &state.required_anti_affinity {
        for placed in matching(term, namespace, cluster) {
            add(&mut state.anti_affinity_counts, term, &placed.node, 1);
        }
    }
    for (term, weight) in preferred(own, 1).chain(preferred(anti, -1)) {
        for placed in matching(term, namespace, cluster) {
            add(&mut state.scores, term, &placed.node, weight);
        }
    }

    // The placed pods' terms that select this pod.
    for placed in cluster.pods.terms_selecting(labels) {
        if !selects(&placed.term, &placed.namespace, namespace, labels) {
            continue;
        }
        let (counts, weight) = match placed.kind {
            TermKind::RequiredAntiAffinity => (&mut state.existing_anti_affinity, 1),
            TermKind::RequiredAffinity => (&mut state.scores, HARD_AFFINITY_WEIGHT),
            TermKind::PreferredAffinity(w) => (&mut state.scores, i64::from(w)),
            TermKind::PreferredAntiAffinity(w) => (&mut state.scores, -i64::from(w)),
        };
        add(counts, &placed.term, &placed.node, weight);
    }
    Some(state)
}

/// The preferred terms of `affinity` with their weights, times `sign`.
fn preferred(
    affinity: Option<&PodAffinity>,
    sign: i64,
) -> impl Iterator<Item = (&PodAffinityTerm, i64)> {
    affinity
        .into_iter()
        .flat_map(|a| &a.preferred_during_scheduling_ignored_during_execution)
        .map(move |w| (&w.pod_affinity_term, sign * i64::from(w.weight)))
}

/// The placed pods `term`, written in a pod of `namespace`, selects.
fn matching<'a>(
    term: &'a PodAffinityTerm,
    namespace: &'a str,
    cluster: &'a Cluster<'a>,
) -> impl Iterator<Item = &'a PlacedPod> + 'a {
    term.label_selector
        .iter()
        .flat_map(|selector| cluster.pods.matching(selector))
        .filter(move |placed| {
            term.covers_namespace(namespace, &placed.namespace, cluster.namespace_labels)
        })
}

impl InterPodState {
    fn satisfies_existing_anti_affinity(&self, node: &Node) -> bool {
        !self
            .existing_anti_affinity
            .iter()
            .any(|(domain, count)| *count > 0 && node_has_domain(node, domain))
    }

    fn satisfies_anti_affinity(&self, node: &Node) -> bool {
        !self.required_anti_affinity.iter().any(|term| {
            domain_of(node, &term.topology_key)
                .is_some_and(|d| self.anti_affinity_counts.get(&d).is_some_and(|c| *c > 0))
        })
    }

    fn satisfies_affinity(&self, node: &Node) -> bool {
        let mut pods_exist = true;
        for term in &self.required_affinity {
            match domain_of(node, &term.topology_key) {
                None => return false,
                Some(domain) => {
                    if self.affinity_counts.get(&domain).is_none_or(|c| *c <= 0) {
                        pods_exist = false;
                    }
                }
            }
        }
        pods_exist || (self.affinity_counts.is_empty() && self.selects_itself)
    }
}

impl FilterPlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        "inter_pod_affinity"
    }

    fn filter(&self, pod: &PodInfo<'_>, node: &NodeInfo<'_>) -> Result<(), Unfit> {
        let Some(state) = &pod.state.inter_pod else {
            return Ok(());
        };
        let node = node.node;
        if !state.satisfies_existing_anti_affinity(node) {
            return Err(Unfit::because(
                "node(s) didn't satisfy existing pods anti-affinity rules",
            ));
        }
        if !state.satisfies_affinity(node) {
            return Err(Unfit::because("node(s) didn't match pod affinity rules"));
        }
        if !state.satisfies_anti_affinity(node) {
            return Err(Unfit::because(
                "node(s) didn't match pod anti-affinity rules",
            ));
        }
        Ok(())
    }

    fn requeue_on(&self) -> ClusterEvents {
        ClusterEvents::ASSIGNED_POD_ADD
            | ClusterEvents::ASSIGNED_POD_DELETE
            | ClusterEvents::NODE_ADD
            | ClusterEvents::NODE_LABEL_UPDATE
    }
}

impl ScorePlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        "inter_pod_affinity"
    }

    fn score(&self, pod: &PodInfo<'_>, node: &NodeInfo<'_>) -> i64 {
        let Some(state) = &pod.state.inter_pod else {
            return 0;
        };
        state
            .scores
            .iter()
            .filter(|(domain, _)| node_has_domain(node.node, domain))
            .map(|(_, score)| score)
            .sum()
    }

    /// From the lowest to the highest raw score, scaled to 0..=MAX_SCORE.
    fn normalize(&self, _pod: &PodInfo<'_>, scores: &mut [i64]) {
        let max = scores.iter().copied().max().unwrap_or(0);
        let min = scores.iter().copied().min().unwrap_or(0);
        for score in scores.iter_mut() {
            *score = if max > min {
                MAX_SCORE * (*score - min) / (max - min)
            } else {
                0
            };
        }
    }

    /// Kubernetes' default weight for this plug-in.
    fn weight(&self) -> i64 {
        2
    }
}

#[cfg(test)]
mod tests;
