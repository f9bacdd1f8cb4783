//! The scheduling framework, after Kubernetes': plug-ins per stage. Every filter plug-in must
//! accept a node for the pod to go there (the first that rejects it gives the node's reasons);
//! the score plug-ins then rank the nodes left, and the best wins (ties go to the first node
//! by name, so decisions are reproducible). A pod that fits nowhere gets a [`FitError`] whose
//! message goes into its `PodScheduled` condition.

use flotilla_kernel::object::Pod;

use super::events::ClusterEvents;
use super::fit_error::FitError;
use super::node_info::{NodeInfo, PodRequests};
use super::plugins;

/// The pod being scheduled, with what it asks for computed once.
#[derive(Debug, Clone, Copy)]
pub struct PodInfo<'a> {
    pub pod: &'a Pod,
    pub requests: PodRequests,
}

impl<'a> PodInfo<'a> {
    pub fn new(pod: &'a Pod) -> Self {
        Self {
            pod,
            requests: PodRequests::of(pod),
        }
    }
}

/// Why a filter rejects a node: the reasons shown to the user, counted per node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfit(pub Vec<String>);

impl Unfit {
    pub fn because(reason: impl Into<String>) -> Self {
        Self(vec![reason.into()])
    }
}

/// A filter stage plug-in: may the pod go to this node?
pub trait FilterPlugin: Send + Sync {
    fn name(&self) -> &'static str;
    fn filter(&self, pod: &PodInfo<'_>, node: &NodeInfo<'_>) -> Result<(), Unfit>;
    /// The cluster events that could turn this plug-in's rejection into a pass (Kubernetes'
    /// `EventsToRegister`); a pod it rejected everywhere waits for one of them.
    fn requeue_on(&self) -> ClusterEvents;
}

/// A score stage plug-in: how good is this node for the pod, from 0 to [`MAX_SCORE`].
pub trait ScorePlugin: Send + Sync {
    fn name(&self) -> &'static str;
    fn score(&self, pod: &PodInfo<'_>, node: &NodeInfo<'_>) -> i64;
    /// How much this plug-in counts against the others.
    fn weight(&self) -> i64 {
        1
    }
}

/// The best score a plug-in gives.
pub const MAX_SCORE: i64 = 100;

/// The plug-ins, in the order they run.
pub struct Framework {
    filters: Vec<Box<dyn FilterPlugin>>,
    scorers: Vec<Box<dyn ScorePlugin>>,
}

impl Framework {
    pub fn new(filters: Vec<Box<dyn FilterPlugin>>, scorers: Vec<Box<dyn ScorePlugin>>) -> Self {
        Self { filters, scorers }
    }

    /// node_ready, node_unschedulable, node_selector, taint_toleration, node_ports and
    /// resources_fit filters; least_allocated and taint_toleration scoring.
    pub fn with_default_plugins() -> Self {
        Self::new(
            vec![
                Box::new(plugins::NodeReady),
                Box::new(plugins::NodeUnschedulable),
                Box::new(plugins::NodeSelector),
                Box::new(plugins::TaintToleration),
                Box::new(plugins::NodePorts),
                Box::new(plugins::ResourcesFit),
            ],
            vec![
                Box::new(plugins::LeastAllocated),
                Box::new(plugins::TaintToleration),
            ],
        )
    }

    /// The name of the node `pod` should go to, or why none will do.
    pub fn schedule(&self, pod: &Pod, nodes: &[NodeInfo<'_>]) -> Result<String, FitError> {
        let pod = PodInfo::new(pod);
        let mut error = FitError::new(nodes.len());
        let mut best: Option<(i64, &NodeInfo<'_>)> = None;
        for node in nodes {
            if let Err((plugin, Unfit(reasons))) = self.filter(&pod, node) {
                error.add_node(&reasons, plugin.requeue_on());
                continue;
            }
            let score = self.score(&pod, node);
            if best.is_none_or(|(top, _)| score > top) {
                best = Some((score, node));
            }
        }
        best.map(|(_, node)| node.name().to_string()).ok_or(error)
    }

    /// Runs the filters until one rejects the node; returns that one and why.
    fn filter(
        &self,
        pod: &PodInfo<'_>,
        node: &NodeInfo<'_>,
    ) -> Result<(), (&dyn FilterPlugin, Unfit)> {
        self.filters.iter().try_for_each(|f| {
            f.filter(pod, node).map_err(|unfit| {
                tracing::trace!(plugin = f.name(), node = node.name(), reasons = ?unfit.0, "filtered out");
                (f.as_ref(), unfit)
            })
        })
    }

    fn score(&self, pod: &PodInfo<'_>, node: &NodeInfo<'_>) -> i64 {
        self.scorers
            .iter()
            .map(|s| {
                let score = s.score(pod, node).clamp(0, MAX_SCORE);
                tracing::trace!(plugin = s.name(), node = node.name(), score, "scored");
                score * s.weight()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::fixtures::{node_infos, pod_with, ready_node};

    #[test]
    fn the_least_loaded_fitting_node_wins() {
        let nodes = [
            ready_node("a", "2", "4Gi"),
            ready_node("b", "2", "4Gi"),
            ready_node("c", "8", "16Gi"),
        ];
        let mut busy = pod_with(&[("cpu", "1")], &[]);
        busy.spec.node_name = "a".into();
        let mut selective = pod_with(&[("cpu", "500m")], &[]);
        selective.spec.node_selector = [("disk".to_string(), "ssd".to_string())].into();
        let framework = Framework::with_default_plugins();
        let infos = node_infos(&nodes, &[busy]);
        let pod = pod_with(&[("cpu", "500m")], &[]);
        assert_eq!(framework.schedule(&pod, &infos).as_deref(), Ok("c"));
        let error = framework.schedule(&selective, &infos).unwrap_err();
        assert_eq!(
            error.to_string(),
            "0/3 nodes are available: 3 node(s) didn't match Pod's node selector."
        );
        assert_eq!(
            error.wake_on,
            ClusterEvents::NODE_ADD | ClusterEvents::NODE_LABEL_UPDATE,
            "only a node with other labels could take it"
        );
    }

    #[test]
    fn every_decision_accounts_for_the_previous_ones() {
        let nodes = [ready_node("a", "2", "4Gi"), ready_node("b", "2", "4Gi")];
        let framework = Framework::with_default_plugins();
        let mut bound = Vec::new();
        for i in 0..4 {
            let mut pod = pod_with(&[("cpu", "1")], &[]);
            pod.metadata.name = format!("p{i}");
            let infos = node_infos(&nodes, &bound);
            pod.spec.node_name = framework.schedule(&pod, &infos).unwrap();
            bound.push(pod);
        }
        let on = |n: &str| bound.iter().filter(|p| p.spec.node_name == n).count();
        assert_eq!((on("a"), on("b")), (2, 2));
        let one_more = pod_with(&[("cpu", "1")], &[]);
        let error = framework
            .schedule(&one_more, &node_infos(&nodes, &bound))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "0/2 nodes are available: 2 Insufficient cpu."
        );
    }

    #[test]
    fn the_first_failing_filter_gives_the_reason() {
        let mut cordoned = ready_node("a", "1", "1Gi");
        cordoned.spec.unschedulable = true;
        let mut not_ready = ready_node("b", "1", "1Gi");
        not_ready.status.conditions.clear();
        let small = ready_node("c", "1", "64Mi");
        let nodes = [cordoned, not_ready, small];
        let pod = pod_with(&[("memory", "128Mi")], &[]);
        let error = Framework::with_default_plugins()
            .schedule(&pod, &node_infos(&nodes, &[]))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "0/3 nodes are available: 1 Insufficient memory, 1 node(s) were not ready, 1 node(s) were unschedulable."
        );
    }
}
