//! The node's pod network: a CNI client that wires each pod's network namespace
//! ([`cni`]), routes to the other nodes' pod ranges ([`routes`]), the masquerade of pod
//! traffic leaving the cluster ([`masquerade`]), the Services' table ([`service_table`]) and
//! the pods' network policies ([`policy_table`]), and removing the devices it made ([`links`]).

pub mod cni;
pub mod links;
pub mod masquerade;
mod netlink;
pub mod nft;
pub mod policy_table;
pub mod routes;
pub mod service_table;
pub mod vxlan;
