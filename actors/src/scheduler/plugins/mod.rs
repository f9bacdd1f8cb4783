//! The scheduler's plug-ins, one small unit per file, each giving the reason shown to users
//! when it rejects a node.

mod least_allocated;
mod node_ports;
mod node_ready;
mod node_selector;
mod node_unschedulable;
mod resources_fit;
mod taint_toleration;

pub use least_allocated::LeastAllocated;
pub use node_ports::NodePorts;
pub use node_ready::NodeReady;
pub use node_selector::NodeSelector;
pub use node_unschedulable::NodeUnschedulable;
pub use resources_fit::ResourcesFit;
pub use taint_toleration::TaintToleration;
