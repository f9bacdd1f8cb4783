//! The Services' virtual addresses and node ports, in nftables: the node's half of the service
//! proxy (the proxy actor decides what the table holds; this module writes it).
//!
//! flotilla keeps everything in one table of its own, which no other program edits:
//!
//! ```text
//! table ip flotilla-proxy {
//!     set pod-ranges { type ipv4_addr; flags interval }        # the cluster's pod ranges
//!     set cluster-ips { type ipv4_addr }                         # every ClusterIP
//!     set hairpin { type ipv4_addr . ipv4_addr }                 # E . E for every endpoint E
//!     map service-ips { type ipv4_addr . inet_proto . inet_service : verdict }
//!     map service-nodeports { type inet_proto . inet_service : verdict }
//!     map no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict }
//!     map no-endpoint-nodeports { type inet_proto . inet_service : verdict }
//!
//!     chain nat-prerouting { type nat hook prerouting priority dstnat; jump services }
//!     chain nat-output { type nat hook output priority dstnat; jump services }
//!     chain nat-postrouting { type nat hook postrouting priority srcnat; jump masquerading }
//!     chain filter-input { type filter hook input priority dstnat - 10
//!         ct state new jump nodeport-endpoints-check
//!         ct state new jump service-endpoints-check }
//!     chain filter-forward { type filter hook forward priority dstnat - 10
//!         ct state new jump service-endpoints-check
//!         ct state new jump cluster-ips-check }
//!     chain filter-output { type filter hook output priority dstnat - 10
//!         ct state new jump service-endpoints-check }
//!     chain filter-output-post-dnat { type filter hook output priority dstnat + 10
//!         ct state new jump cluster-ips-check }
//!
//!     chain services {
//!         ip daddr . meta l4proto . th dport vmap @service-ips
//!         fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports }
//!     chain service-endpoints-check { ip daddr . meta l4proto . th dport vmap @no-endpoint-services }
//!     chain nodeport-endpoints-check {
//!         fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports }
//!     chain cluster-ips-check { ip daddr @cluster-ips goto reject-chain }
//!     chain reject-chain { meta l4proto tcp reject with tcp reset; reject }
//!     chain mark-for-masquerade { meta mark set meta mark | 0x4000 }
//!     chain masquerading {
//!         ct status dnat ip saddr . ip daddr @hairpin masquerade fully-random
//!         meta mark & 0x4000 == 0 return
//!         meta mark set meta mark ^ 0x4000
//!         masquerade fully-random }
//!
//!     # one chain per Service port (and one more for its node port when the two differ):
//!     chain svc-default/web/tcp/http {
//!         ip saddr != @pod-ranges jump mark-for-masquerade
//!         ip saddr @aff-default/web/tcp/http/10.42.1.5/8080 update @aff-… { ip saddr } meta l4proto tcp dnat to 10.42.1.5:8080
//!         numgen random mod 2 == 0 meta l4proto tcp dnat to 10.42.1.5:8080
//!         meta l4proto tcp dnat to 10.42.2.7:8080 }
//! }
//! ```
//!
//! Lookups go through the four maps, so their cost does not grow with the number of Services.
//! Two choices differ from kube-proxy's nftables mode, both measured on a 6.18 kernel with
//! nft 1.0.6, 10,000 Services of 5 endpoints each:
//! - A Service port's chain picks its backend with one `numgen random mod k == 0` rule per
//!   endpoint (1/N, then 1/(N-1) of the rest, ...) rather than one `numgen random mod N vmap
//!   { … }`: every such vmap is an anonymous set, and a transaction that creates thousands of
//!   sets costs the kernel quadratic time (130 s for the whole table in one batch, against
//!   about 3 s this way). Only a connection's first packet walks the rules.
//! - There is no chain per endpoint: the backend's `dnat` is in the Service port's chain and the
//!   hairpin case (a pod reaching itself through its Service) is masqueraded in postrouting by
//!   the `hairpin` set. Every `nft` run that adds a rule or an element first lists the table's
//!   chains: with 60,000 of them an incremental update cost 120–450 ms. With 10,000 one Service
//!   added costs about 70 ms, half of it the kernel checking the table's jumps at commit.
//!
//! Nothing here knows Kubernetes: the model is addresses, ports, protocols and names. A
//! [`Table`] is the whole table, written by [`replace`] in one transaction that deletes any
//! previous table first (removing what a previous run left); a [`Changes`] is an incremental
//! update, written by [`update`] as one transaction ordered as nftables needs it (elements that
//! point at a chain go before the chain; a chain is flushed before it is deleted; a set's users
//! are flushed before the set is deleted; new chains exist before the rules that jump to them).
//! A failed transaction changes nothing.
//!
//! The batches use the `nftables` crate's typed JSON schema, except for the declarations of the
//! verdict maps, which it cannot express (`SetType` has no `verdict`); they are typed here.
//! `nft` is run here rather than by the crate so that its error message comes back in the error.

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::network::nft::{Batch, NftError};

use batch::{replace_batch, table_object, update_batch};

mod batch;
#[cfg(test)]
mod tests;

/// flotilla's table, of family `ip`.
pub const TABLE: &str = "flotilla-proxy";
/// The packet mark bit that asks postrouting to masquerade (kube-proxy's).
pub const MASQUERADE_MARK: u32 = 0x4000;
/// The longest name nftables takes for a chain or a set (256 bytes with the NUL).
pub const MAX_NAME_LEN: usize = 255;

/// A transport protocol a Service port serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// nftables' (and the names') word for it: `tcp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a connection is sent: one endpoint's address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Backend {
    pub address: Ipv4Addr,
    pub port: u16,
}

/// Which packets entering a Service port's chain are marked for masquerade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Masquerade {
    /// Every packet (node ports under `externalTrafficPolicy: Cluster`).
    All,
    /// Packets whose source is outside the pod ranges, e.g. the node itself: the reply from an
    /// endpoint on another node must come back through this one.
    UnlessFromPods,
    /// Packets from one of this node's own addresses.
    FromNode,
}

/// A rule of a Service port's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// Mark the packets `Masquerade` says for masquerade.
    Masquerade(Masquerade),
    /// A client in the `affinity` set goes back to `backend` (and stays in the set longer).
    Sticky {
        affinity: String,
        protocol: Protocol,
        backend: Backend,
    },
    /// One connection in `one_in` goes to `backend` (all of them when 1), and its client is
    /// put in the `affinity` set if there is one.
    Pick {
        one_in: u32,
        affinity: Option<String>,
        protocol: Protocol,
        backend: Backend,
    },
    /// Continue in another chain.
    Goto(String),
}

/// A regular chain and its rules, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    pub rules: Vec<Rule>,
}

/// The clients of one endpoint of a Service port with `sessionAffinity: ClientIP`; a client
/// leaves it `timeout_seconds` after its last new connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffinitySet {
    pub name: String,
    pub timeout_seconds: u32,
}

/// What a packet is addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Destination {
    /// A Service's virtual address and port.
    ClusterIp {
        address: Ipv4Addr,
        protocol: Protocol,
        port: u16,
    },
    /// A node port, on any of the node's addresses but loopback ones.
    NodePort { protocol: Protocol, port: u16 },
}

/// What becomes of a new connection to a destination.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Into this Service port's chain.
    Goto(String),
    /// Refused at once (TCP reset, ICMP port unreachable): the Service has no endpoint.
    Reject,
    /// Dropped: the Service has endpoints, but none that this traffic may use.
    Drop,
}

/// The whole table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// The cluster's pod ranges (merged when written).
    pub pod_ranges: Vec<Ipv4Net>,
    pub cluster_ips: Vec<Ipv4Addr>,
    /// Every endpoint's address, for the hairpin masquerade.
    pub hairpin: Vec<Ipv4Addr>,
    pub affinity_sets: Vec<AffinitySet>,
    pub chains: Vec<Chain>,
    /// At most one verdict per destination.
    pub routes: Vec<(Destination, Verdict)>,
}

/// An incremental update of the table. The caller keeps it consistent: a removed route is as
/// it is in the table now, a removed chain is no longer referenced once the update is done,
/// and a set that is redefined is both removed and added, with the chains that use it
/// rewritten.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// The pod ranges' new value, when they changed.
    pub pod_ranges: Option<Vec<Ipv4Net>>,
    pub removed_routes: Vec<(Destination, Verdict)>,
    pub removed_cluster_ips: Vec<Ipv4Addr>,
    pub removed_hairpin: Vec<Ipv4Addr>,
    /// Existing chains whose rules are replaced.
    pub rewritten_chains: Vec<Chain>,
    pub removed_chains: Vec<String>,
    pub removed_affinity_sets: Vec<String>,
    pub added_affinity_sets: Vec<AffinitySet>,
    pub added_chains: Vec<Chain>,
    pub added_routes: Vec<(Destination, Verdict)>,
    pub added_cluster_ips: Vec<Ipv4Addr>,
    pub added_hairpin: Vec<Ipv4Addr>,
}

impl Changes {
    /// Whether the update changes nothing.
    pub fn is_empty(&self) -> bool {
        self.pod_ranges.is_none()
            && self.removed_routes.is_empty()
            && self.removed_cluster_ips.is_empty()
            && self.removed_hairpin.is_empty()
            && self.rewritten_chains.is_empty()
            && self.removed_chains.is_empty()
            && self.removed_affinity_sets.is_empty()
            && self.added_affinity_sets.is_empty()
            && self.added_chains.is_empty()
            && self.added_routes.is_empty()
            && self.added_cluster_ips.is_empty()
            && self.added_hairpin.is_empty()
    }
}

/// A chain or set name for `prefix` and `parts` joined by `/`, as long as that is at most
/// [`MAX_NAME_LEN`] bytes of letters, digits and `-._/`; otherwise what fits of it followed by
/// a hash of the whole, so that names stay distinct.
pub fn object_name(prefix: &str, parts: &[&str]) -> String {
    let name = format!("{prefix}{}", parts.join("/"));
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '/');
    if name.len() <= MAX_NAME_LEN && name.chars().all(safe) {
        return name;
    }
    // FNV-1a: stable across runs and builds, unlike the standard library's hasher.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let suffix = format!("-{hash:016x}");
    let kept: String = name
        .chars()
        .map(|c| if safe(c) { c } else { '_' })
        .take(MAX_NAME_LEN - suffix.len())
        .collect();
    format!("{kept}{suffix}")
}

/// Replaces flotilla's table, whatever it held, by `table`, in one transaction.
pub fn replace(table: &Table) -> Result<(), NftError> {
    replace_batch(table).apply()
}

/// Applies `changes` to flotilla's table in one transaction.
pub fn update(changes: &Changes) -> Result<(), NftError> {
    update_batch(changes).apply()
}

/// Deletes flotilla's table, if it exists.
pub fn remove() -> Result<(), NftError> {
    let mut batch = Batch::new(TABLE);
    batch.add(table_object());
    batch.delete(table_object());
    batch.apply()
}
