//! The scheduler's plug-ins, one small unit per file, each giving the reason shown to users
//! when it rejects a node.

mod inter_pod_affinity;
mod least_allocated;
mod node_affinity;
mod node_ports;
mod node_ready;
mod node_unschedulable;
mod pod_topology_spread;
mod resources_fit;
mod taint_toleration;

pub use inter_pod_affinity::{InterPodAffinity, InterPodState, pre_filter as inter_pod_pre_filter};
pub use least_allocated::LeastAllocated;
pub use node_affinity::NodeAffinity;
pub use node_ports::NodePorts;
pub use node_ready::NodeReady;
pub use node_unschedulable::NodeUnschedulable;
pub use pod_topology_spread::{PodTopologySpread, SpreadState, pre_filter as spread_pre_filter};
pub use resources_fit::ResourcesFit;
pub use taint_toleration::TaintToleration;
