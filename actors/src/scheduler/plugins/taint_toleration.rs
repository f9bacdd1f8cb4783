//! Taints and tolerations, as Kubernetes' TaintToleration plug-in. Filter: a node with a
//! `NoSchedule` or `NoExecute` taint the pod does not tolerate takes no pod. Score: the fewer
//! `PreferNoSchedule` taints the pod does not tolerate, the better the node.

use flotilla_kernel::object::{Taint, TaintEffect, tolerated};

use crate::scheduler::events::ClusterEvents;
use crate::scheduler::framework::{FilterPlugin, MAX_SCORE, PodInfo, ScorePlugin, Unfit};
use crate::scheduler::node_info::NodeInfo;

pub struct TaintToleration;

impl FilterPlugin for TaintToleration {
    fn name(&self) -> &'static str {
        "taint_toleration"
    }

    fn filter(&self, pod: &PodInfo<'_>, node: &NodeInfo<'_>) -> Result<(), Unfit> {
        let repelling = |taint: &&Taint| {
            matches!(
                taint.effect,
                TaintEffect::NoSchedule | TaintEffect::NoExecute
            ) && !tolerated(&pod.pod.spec.tolerations, taint)
        };
        match node.node.spec.taints.iter().find(repelling) {
            Some(taint) => Err(Unfit::because(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                taint.key, taint.value
            ))),
            None => Ok(()),
        }
    }

    fn requeue_on(&self) -> ClusterEvents {
        ClusterEvents::NODE_ADD | ClusterEvents::NODE_TAINT_UPDATE
    }
}

impl ScorePlugin for TaintToleration {
    fn name(&self) -> &'static str {
        "taint_toleration"
    }

    fn score(&self, pod: &PodInfo<'_>, node: &NodeInfo<'_>) -> i64 {
        let avoided = node
            .node
            .spec
            .taints
            .iter()
            .filter(|taint| taint.effect == TaintEffect::PreferNoSchedule)
            .filter(|taint| !tolerated(&pod.pod.spec.tolerations, taint))
            .count();
        MAX_SCORE / (i64::try_from(avoided).unwrap_or(i64::MAX - 1) + 1)
    }

    /// Kubernetes' default weight for this plug-in.
    fn weight(&self) -> i64 {
        3
    }
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{Node, Pod, Toleration};

    use super::*;
    use crate::scheduler::fixtures::{pod_with, ready_node};

    fn taint(key: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: key.into(),
            value: "true".into(),
            effect,
        }
    }

    fn tolerating(key: &str) -> Toleration {
        Toleration {
            key: key.into(),
            operator: Toleration::EXISTS.into(),
            ..Toleration::default()
        }
    }

    #[test]
    fn untolerated_no_schedule_and_no_execute_taints_reject_the_node() {
        let mut node = ready_node("a", "1", "1Gi");
        node.spec.taints = vec![
            taint("soft", TaintEffect::PreferNoSchedule),
            taint("gpu", TaintEffect::NoSchedule),
            taint("draining", TaintEffect::NoExecute),
        ];
        let mut pod = pod_with(&[], &[]);
        let filter = |pod: &Pod| {
            FilterPlugin::filter(&TaintToleration, &PodInfo::new(pod), &NodeInfo::new(&node))
        };
        assert_eq!(
            filter(&pod),
            Err(Unfit::because("node(s) had untolerated taint {gpu: true}"))
        );
        pod.spec.tolerations = vec![tolerating("gpu")];
        assert_eq!(
            filter(&pod),
            Err(Unfit::because(
                "node(s) had untolerated taint {draining: true}"
            ))
        );
        pod.spec.tolerations.push(tolerating("draining"));
        assert_eq!(filter(&pod), Ok(()));
    }

    #[test]
    fn each_untolerated_prefer_no_schedule_taint_lowers_the_score() {
        let mut node = ready_node("a", "1", "1Gi");
        let mut pod = pod_with(&[], &[]);
        fn score(pod: &Pod, node: &Node) -> i64 {
            ScorePlugin::score(&TaintToleration, &PodInfo::new(pod), &NodeInfo::new(node))
        }
        assert_eq!(score(&pod, &node), MAX_SCORE);
        node.spec.taints = vec![
            taint("old-disk", TaintEffect::PreferNoSchedule),
            taint("busy", TaintEffect::PreferNoSchedule),
            taint("gpu", TaintEffect::NoSchedule),
        ];
        assert_eq!(score(&pod, &node), MAX_SCORE / 3);
        pod.spec.tolerations = vec![tolerating("busy")];
        assert_eq!(score(&pod, &node), MAX_SCORE / 2);
    }
}
