//! Filter: a pod with a `nodeSelector` goes only to nodes carrying every one of its labels.

use crate::scheduler::events::ClusterEvents;
use crate::scheduler::framework::{FilterPlugin, PodInfo, Unfit};
use crate::scheduler::node_info::NodeInfo;

pub struct NodeSelector;

impl FilterPlugin for NodeSelector {
    fn name(&self) -> &'static str {
        "node_selector"
    }

    fn filter(&self, pod: &PodInfo<'_>, node: &NodeInfo<'_>) -> Result<(), Unfit> {
        let labels = &node.node.metadata.labels;
        let matches = pod
            .pod
            .spec
            .node_selector
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value));
        if matches {
            Ok(())
        } else {
            Err(Unfit::because("node(s) didn't match Pod's node selector"))
        }
    }

    fn requeue_on(&self) -> ClusterEvents {
        ClusterEvents::NODE_ADD | ClusterEvents::NODE_LABEL_UPDATE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::fixtures::{pod_with, ready_node};

    #[test]
    fn every_selector_label_must_be_on_the_node() {
        let mut node = ready_node("a", "1", "1Gi");
        node.metadata.labels = [("disk", "ssd"), ("zone", "a")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let mut pod = pod_with(&[], &[]);
        let fits = |pod: &flotilla_kernel::object::Pod| {
            NodeSelector.filter(&PodInfo::new(pod), &NodeInfo::new(&node))
        };
        assert_eq!(fits(&pod), Ok(()), "no selector fits anywhere");
        pod.spec.node_selector = [("disk".to_string(), "ssd".to_string())].into();
        assert_eq!(fits(&pod), Ok(()));
        pod.spec.node_selector.insert("zone".into(), "b".into());
        assert_eq!(
            fits(&pod),
            Err(Unfit::because("node(s) didn't match Pod's node selector"))
        );
    }
}
