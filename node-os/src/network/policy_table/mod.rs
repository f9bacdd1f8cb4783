//! The pods' network policies, in nftables: the node's half of NetworkPolicy enforcement (the
//! enforcer actor decides what each pod allows; this module writes it).
//!
//! flotilla keeps everything in one table of its own, which no other program edits:
//!
//! ```text
//! table ip flotilla-policy {
//!     map ingress-pods { type ipv4_addr : verdict }   # isolated pod → jump ingress-<pod>
//!     map egress-pods { type ipv4_addr : verdict }    # isolated pod → jump egress-<pod>
//!
//!     # the caller's sets, shared by the pods whose rules use them:
//!     set peers-… { type ipv4_addr; flags interval }                    # addresses, ranges
//!     set endpoints-… { type ipv4_addr . inet_proto . inet_service }   # address, port
//!
//!     chain forward { type filter hook forward priority filter; policy accept;
//!         ct state established,related accept
//!         ip daddr vmap @ingress-pods
//!         ip saddr vmap @egress-pods }
//!
//!     # one chain per isolated pod and direction; a rule that matches returns, the end drops:
//!     chain ingress-10.42.0.5 {
//!         ip saddr 10.42.0.5 return                      # a pod may always reach itself
//!         ip saddr @peers-… meta l4proto tcp th dport 80 return
//!         meta l4proto udp th dport 53 return           # from anyone
//!         drop }
//!     chain egress-10.42.0.5 {
//!         ip daddr 10.42.0.5 return
//!         ip daddr . meta l4proto . th dport @endpoints-… return
//!         drop }
//! }
//! ```
//!
//! Why it looks like this:
//! - Only the forward hook: traffic between a pod and its own node (the node's probes, its DNS
//!   server on the pods' gateway) never passes it, and Kubernetes always allows that traffic.
//!   Pods on one bridge reach the hook through bridge netfilter, which the node network turns
//!   on for the Services already. The proxy's DNAT happens at prerouting, before this hook, so
//!   the rules see the real pod and port behind a Service, as Kubernetes wants.
//! - The per-pod chains are entered by `jump` and return on a match, so a packet between two
//!   isolated pods of this node must pass the destination's ingress chain and then the
//!   source's egress chain; replies pass as established connections, whatever the rules.
//! - Addresses live in named sets shared by every pod whose rules use them (one per policy
//!   rule, typically), not in anonymous sets per rule: a transaction creating thousands of
//!   sets costs the kernel quadratic time (see `service_table`). Ranges are merged when
//!   written, since an interval set refuses overlapping elements.
//!
//! Nothing here knows Kubernetes: the model is addresses, ports, protocols and set names. A
//! [`Table`] is the whole table, written by [`replace`] in one transaction that deletes any
//! previous table first; [`update`] writes the difference between the table in force and the
//! next one, in one transaction ordered as nftables needs it. A failed transaction changes
//! nothing.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::network::nft::{Batch, NftError};

pub use super::service_table::Protocol;

use batch::{replace_batch, table_object, update_batch};

mod batch;
#[cfg(test)]
mod tests;

/// flotilla's table, of family `ip`.
pub const TABLE: &str = "flotilla-policy";
/// The maps from an isolated pod's address to its chain; the caller's set names must differ.
pub const INGRESS_PODS: &str = "ingress-pods";
pub const EGRESS_PODS: &str = "egress-pods";

/// The whole table: the sets the rules use, by name, and the rules of every isolated pod, by
/// its address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Sets of addresses and ranges (merged when written).
    pub address_sets: BTreeMap<String, Vec<Ipv4Net>>,
    /// Sets of (address, protocol, port).
    pub endpoint_sets: BTreeMap<String, Vec<Endpoint>>,
    pub pods: BTreeMap<Ipv4Addr, PodRules>,
}

/// What one pod allows in each direction; `None`: the pod is not isolated in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodRules {
    pub ingress: Option<Vec<Rule>>,
    pub egress: Option<Vec<Rule>>,
}

/// One kind of traffic a pod allows. The peer is the other end: the source of ingress
/// traffic, the destination of egress traffic. Anything no rule allows is dropped.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// Traffic whose peer is in the address set `peers` (anyone when `None`) on `ports`
    /// (any protocol and port when `None`).
    Allow {
        peers: Option<String>,
        ports: Option<Ports>,
    },
    /// Traffic whose peer address, protocol and destination port are in the endpoint set.
    AllowEndpoints(String),
}

/// Some ports of a protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ports {
    pub protocol: Protocol,
    /// The first and last port; every port of the protocol when `None`.
    pub range: Option<(u16, u16)>,
}

/// An address, a protocol and a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub address: Ipv4Addr,
    pub protocol: Protocol,
    pub port: u16,
}

/// Replaces flotilla's table, whatever it held, by `table`, in one transaction.
pub fn replace(table: &Table) -> Result<(), NftError> {
    replace_batch(table).apply()
}

/// Brings flotilla's table from `current` (what it holds) to `next`, in one transaction that
/// touches only what differs.
pub fn update(current: &Table, next: &Table) -> Result<(), NftError> {
    update_batch(current, next).apply()
}

/// Deletes flotilla's table, if it exists.
pub fn remove() -> Result<(), NftError> {
    let mut batch = Batch::new(TABLE);
    batch.add(table_object());
    batch.delete(table_object());
    batch.apply()
}

/// The name of a pod's chain for one direction: `ingress-10.42.0.5`.
fn chain_name(direction: &str, pod: Ipv4Addr) -> String {
    format!("{direction}-{pod}")
}
