//! flotilla's VXLAN backend, as flannel's `vxlan`: the other nodes' pods are reached through an
//! overlay, for nodes that do not share a layer-2 segment (which host-gw's routes need).
//!
//! Every node has a VXLAN device [`DEVICE`] (VNI [`VNI`], UDP port [`PORT`], the node's address
//! as the tunnels' local end, learning off, MTU [`MTU`]) whose only IPv4 address is the network
//! address of the node's pod range as a /32 (`10.42.1.0/32`): its VTEP. For each other node,
//! three entries make that node's pods reachable:
//!
//! ```text
//! ip route replace 10.42.2.0/24 via 10.42.2.0 dev flotilla.1 onlink proto 70
//! ip neigh replace 10.42.2.0 lladdr 0a:58:c0:00:02:0c dev flotilla.1 nud permanent
//! bridge fdb replace 0a:58:c0:00:02:0c dev flotilla.1 dst 192.0.2.12 self permanent
//! ```
//!
//! the peer's range via its VTEP, the VTEP's MAC, and the node that MAC lives behind. flannel
//! publishes each node's VTEP MAC in an annotation of its Node; flotilla derives it from the
//! node's address instead ([`Mac::of_node`]), so every node computes every other's from the
//! Node objects it already watches, and a recreated device has the same MAC again.
//!
//! The sync is level-triggered, as [`super::routes`]'s: [`sync_overlay`] makes the device fit
//! (recreating it when its settings differ), lists the device's neighbours and forwarding
//! entries and the main table, lets the pure [`plan`] decide, and applies that. The routes carry
//! [`ROUTE_PROTOCOL`] like host-gw's, and the backend in use owns all of those: a node switched
//! from host-gw loses the old backend's routes on its first sync. The device's neighbours and
//! forwarding entries are all flotilla's: those of departed peers are deleted. Like the routes,
//! it opens a netlink connection per call, in the calling thread's network namespace, on a
//! tokio runtime.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr};

use futures_util::TryStreamExt;
use ipnet::Ipv4Net;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{RouteMessage, RouteProtocol};
use rtnetlink::{LinkUnspec, LinkVxlan, RouteMessageBuilder};

use super::links;
use super::netlink::Netlink;
use super::routes::{ListedRoute, ROUTE_PROTOCOL, describe_all, into_io};

/// The overlay's device, as flannel's `flannel.1` (named for its VNI).
pub const DEVICE: &str = "flotilla.1";
/// The VXLAN network identifier.
pub const VNI: u32 = 1;
/// The UDP port of the tunnels: Linux's VXLAN default, which flannel uses (IANA's is 4789).
pub const PORT: u16 = 8472;
/// What encapsulation adds to each packet: outer Ethernet 14, IPv4 20, UDP 8, VXLAN 8.
pub const OVERHEAD: u32 = 50;
/// The overlay's MTU, and the pods' on it: a 1500-byte underlay less [`OVERHEAD`].
pub const MTU: u32 = 1500 - OVERHEAD;

/// A VTEP's link-layer address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// The VTEP MAC of the node of `address`: `0a:58` and the address's four bytes, so distinct
    /// addresses give distinct MACs. `0a` is a unicast, locally administered first byte.
    pub fn of_node(address: Ipv4Addr) -> Mac {
        let [a, b, c, d] = address.octets();
        Mac([0x0a, 0x58, a, b, c, d])
    }

    fn from_slice(bytes: &[u8]) -> Option<Mac> {
        Some(Mac(bytes.try_into().ok()?))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The VTEP address of the node whose pods are in `range`: the range's network address, which
/// the pods' bridge leaves unused (its gateway is the first host address).
pub fn vtep_address(range: Ipv4Net) -> Ipv4Addr {
    range.network()
}

/// This node's end of the overlay and the peers it reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    /// This node's address: the tunnels' local end; the device's MAC derives from it.
    pub local: Ipv4Addr,
    /// This node's pod range; the device's address derives from it.
    pub range: Ipv4Net,
    /// The other nodes.
    pub peers: Vec<Peer>,
}

/// Another node: its pod range and its address, where its tunnel ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Host bits are ignored (`10.42.1.7/24` is `10.42.1.0/24`).
    pub range: Ipv4Net,
    pub node: Ipv4Addr,
}

/// Why the overlay could not be synced or removed.
#[derive(Debug, thiserror::Error)]
pub enum VxlanError {
    /// No netlink socket could be opened.
    #[error("cannot open a netlink route socket")]
    Connect(#[source] io::Error),
    /// The kernel did not list what the sync compares with.
    #[error("cannot list the {what}")]
    List {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    /// The device could not be created, found, brought up or deleted.
    #[error("cannot {action} the VXLAN device {DEVICE}")]
    Device {
        action: &'static str,
        #[source]
        source: io::Error,
    },
    /// The device's VTEP address could not be set.
    #[error("cannot give {DEVICE} the address {address}/32")]
    Address {
        address: Ipv4Addr,
        #[source]
        source: io::Error,
    },
    /// The kernel refused a peer VTEP's neighbour (ARP) entry.
    #[error("cannot set the neighbour {vtep} lladdr {mac} on {DEVICE}")]
    Neighbour {
        vtep: Ipv4Addr,
        mac: Mac,
        #[source]
        source: io::Error,
    },
    /// The kernel refused a peer VTEP's forwarding (FDB) entry.
    #[error("cannot set the forwarding entry {mac} dst {node} on {DEVICE}")]
    Forwarding {
        mac: Mac,
        node: Ipv4Addr,
        #[source]
        source: io::Error,
    },
    /// The kernel refused the route to a peer's pod range.
    #[error("cannot route pod range {range} via {vtep} on {DEVICE}")]
    Route {
        range: Ipv4Net,
        vtep: Ipv4Addr,
        #[source]
        source: io::Error,
    },
    /// The kernel refused to delete an entry that is no longer wanted.
    #[error("cannot delete flotilla's stale {entry}")]
    Delete {
        /// `route to 10.42.3.0/24`, `neighbour 10.42.3.0`, `forwarding entry 0a:58:…`.
        entry: String,
        #[source]
        source: io::Error,
    },
    /// The main table already routes a peer's range by a route flotilla does not own; it is
    /// left alone rather than replaced.
    #[error(
        "not routing pod range {range} through {DEVICE}: the main table already has a route to \
         {range} that flotilla does not own (protocol {protocol})"
    )]
    Conflict { range: Ipv4Net, protocol: u8 },
    /// A peer has the address or the pod range of this node or of a peer before it, and would
    /// share its MAC or its VTEP; it is ignored.
    #[error(
        "ignoring peer {node} (pods {range}): its address or pod range is also {other_node}'s \
         (pods {other_range})"
    )]
    Clash {
        range: Ipv4Net,
        node: Ipv4Addr,
        other_range: Ipv4Net,
        other_node: Ipv4Addr,
    },
    /// More than one of the errors above; the entries not named were applied.
    #[error("{} VXLAN errors: {}", .0.len(), describe_all(.0))]
    Several(Vec<VxlanError>),
}

/// Makes the calling thread's network namespace carry `overlay`: the device as wanted, with
/// its VTEP address; for each peer a neighbour, a forwarding entry and a route; no entry of a
/// departed peer, and no other route of flotilla's ([`ROUTE_PROTOCOL`]) in the main table. An
/// entry the kernel refuses does not stop the others; the errors are returned together
/// ([`VxlanError::Several`] when there are more than one).
pub async fn sync_overlay(overlay: &Overlay) -> Result<(), VxlanError> {
    let netlink = Netlink::open().map_err(VxlanError::Connect)?;
    let device = netlink.ensure_device(overlay.local).await?;
    let mut errors = Vec::new();
    let address = vtep_address(overlay.range);
    if let Err(error) = netlink.ensure_address(device, address).await {
        errors.push(error);
    }
    let (listed, route_messages) = netlink.list(device).await?;
    let plan = plan(overlay, device, &listed);
    errors.extend(plan.refused);
    for vtep in &plan.forwarding {
        if let Err(error) = netlink.set_forwarding(device, vtep).await {
            errors.push(error);
        }
    }
    for vtep in &plan.neighbours {
        if let Err(error) = netlink.set_neighbour(device, vtep).await {
            errors.push(error);
        }
    }
    for vtep in &plan.routes {
        match netlink.set_route(device, vtep).await {
            Ok(()) => {
                tracing::info!(range = %vtep.range, node = %vtep.node, "routed pod range through the overlay")
            }
            Err(error) => errors.push(error),
        }
    }
    for (route, message) in listed.routes.iter().zip(route_messages) {
        if plan.stale_routes.contains(route) {
            match netlink.delete_route(route, message).await {
                Ok(()) => tracing::info!(range = %route.range, "deleted stale pod range route"),
                Err(error) => errors.push(error),
            }
        }
    }
    for address in &plan.stale_neighbours {
        if let Err(error) = netlink.delete_neighbour(device, *address).await {
            errors.push(error);
        }
    }
    for mac in &plan.stale_forwarding {
        if let Err(error) = netlink.delete_forwarding(device, *mac).await {
            errors.push(error);
        }
    }
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(VxlanError::Several(errors)),
    }
}

/// Deletes the device in the calling thread's network namespace, if it exists; its
/// neighbours, forwarding entries and routes go with it.
pub async fn remove_overlay() -> Result<(), VxlanError> {
    links::remove_link(DEVICE)
        .await
        .map_err(|source| VxlanError::Device {
            action: "delete",
            source,
        })
}

/// A peer's VTEP: what reaches its pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Vtep {
    range: Ipv4Net,
    address: Ipv4Addr,
    mac: Mac,
    node: Ipv4Addr,
}

impl Vtep {
    fn of(range: Ipv4Net, node: Ipv4Addr) -> Vtep {
        let range = range.trunc();
        Vtep {
            range,
            address: vtep_address(range),
            mac: Mac::of_node(node),
            node,
        }
    }
}

/// The peers' VTEPs, in order; a peer that shares an address or a range with this node or a
/// peer before it is refused.
fn vteps(overlay: &Overlay) -> (Vec<Vtep>, Vec<VxlanError>) {
    let own = Vtep::of(overlay.range, overlay.local);
    let mut kept: Vec<Vtep> = Vec::with_capacity(overlay.peers.len());
    let mut refused = Vec::new();
    for peer in &overlay.peers {
        let vtep = Vtep::of(peer.range, peer.node);
        let clash = std::iter::once(&own)
            .chain(&kept)
            .find(|other| other.range == vtep.range || other.node == vtep.node);
        match clash {
            Some(other) if *other == own || *other != vtep => refused.push(VxlanError::Clash {
                range: vtep.range,
                node: vtep.node,
                other_range: other.range,
                other_node: other.node,
            }),
            // The same peer twice.
            Some(_) => {}
            None => kept.push(vtep),
        }
    }
    (kept, refused)
}

/// The device as listed, as far as [`fits`] looks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct ListedDevice {
    index: u32,
    vxlan: bool,
    vni: Option<u32>,
    local: Option<Ipv4Addr>,
    port: Option<u16>,
    learning: Option<bool>,
    mac: Option<Mac>,
    mtu: Option<u32>,
    up: bool,
}

impl ListedDevice {
    fn of(message: &LinkMessage) -> ListedDevice {
        let mut device = ListedDevice {
            index: message.header.index,
            up: message.header.flags.contains(LinkFlags::Up),
            ..ListedDevice::default()
        };
        for attribute in &message.attributes {
            match attribute {
                LinkAttribute::Address(bytes) => device.mac = Mac::from_slice(bytes),
                LinkAttribute::Mtu(mtu) => device.mtu = Some(*mtu),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        match info {
                            LinkInfo::Kind(kind) => device.vxlan = *kind == InfoKind::Vxlan,
                            LinkInfo::Data(InfoData::Vxlan(data)) => device.read(data),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        device
    }

    fn read(&mut self, data: &[InfoVxlan]) {
        for item in data {
            match item {
                InfoVxlan::Id(vni) => self.vni = Some(*vni),
                InfoVxlan::Local(local) => self.local = Some(*local),
                InfoVxlan::Port(port) => self.port = Some(*port),
                InfoVxlan::Learning(learning) => self.learning = Some(*learning),
                _ => {}
            }
        }
    }
}

/// Whether the listed device is the one wanted for a node of address `local`; one that is not
/// is recreated (a changed address changes the local end and the MAC).
fn fits(device: &ListedDevice, local: Ipv4Addr) -> bool {
    device.vxlan
        && device.vni == Some(VNI)
        && device.local == Some(local)
        && device.port == Some(PORT)
        && device.learning == Some(false)
        && device.mac == Some(Mac::of_node(local))
        && device.mtu == Some(MTU)
}

/// An IPv4 neighbour entry of the device.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ListedNeighbour {
    address: Ipv4Addr,
    mac: Option<Mac>,
    permanent: bool,
}

/// A forwarding entry of the device.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ListedForwarding {
    mac: Mac,
    node: Option<Ipv4Addr>,
    permanent: bool,
}

/// What the kernel holds for the overlay.
#[derive(Debug, Default)]
struct Listed {
    neighbours: Vec<ListedNeighbour>,
    forwarding: Vec<ListedForwarding>,
    routes: Vec<ListedRoute>,
}

/// What a sync changes.
#[derive(Debug, Default)]
struct Plan {
    /// VTEPs whose neighbour entry is missing or differs.
    neighbours: Vec<Vtep>,
    /// VTEPs whose forwarding entry is missing or differs.
    forwarding: Vec<Vtep>,
    /// VTEPs whose range's route is missing or differs.
    routes: Vec<Vtep>,
    /// Neighbour entries of no wanted VTEP.
    stale_neighbours: Vec<Ipv4Addr>,
    /// Forwarding entries of no wanted VTEP.
    stale_forwarding: Vec<Mac>,
    /// flotilla's routes that no wanted one replaces.
    stale_routes: Vec<ListedRoute>,
    /// What is not applied, and why.
    refused: Vec<VxlanError>,
}

/// Decides how to make what is `listed` carry `overlay`, whose device has index `device`.
fn plan(overlay: &Overlay, device: u32, listed: &Listed) -> Plan {
    let (vteps, refused) = vteps(overlay);
    let mut plan = Plan {
        refused,
        ..Plan::default()
    };
    for vtep in &vteps {
        let neighbour_in_place = listed.neighbours.iter().any(|entry| {
            entry.address == vtep.address && entry.mac == Some(vtep.mac) && entry.permanent
        });
        if !neighbour_in_place {
            plan.neighbours.push(*vtep);
        }
        let forwarding_in_place = listed
            .forwarding
            .iter()
            .any(|entry| entry.mac == vtep.mac && entry.node == Some(vtep.node) && entry.permanent);
        if !forwarding_in_place {
            plan.forwarding.push(*vtep);
        }
        if let Some(foreign) = listed
            .routes
            .iter()
            .find(|route| route.range == vtep.range && !route.is_ours())
        {
            plan.refused.push(VxlanError::Conflict {
                range: vtep.range,
                protocol: foreign.protocol,
            });
            continue;
        }
        let route_in_place = listed.routes.iter().any(|route| {
            route.is_ours()
                && route.has_key_of(vtep.range)
                && route.via == Some(vtep.address)
                && route.device == Some(device)
                && route.onlink
        });
        if !route_in_place {
            plan.routes.push(*vtep);
        }
    }
    plan.stale_neighbours = listed
        .neighbours
        .iter()
        .filter(|entry| !vteps.iter().any(|vtep| vtep.address == entry.address))
        .map(|entry| entry.address)
        .collect();
    plan.stale_forwarding = listed
        .forwarding
        .iter()
        .filter(|entry| !vteps.iter().any(|vtep| vtep.mac == entry.mac))
        .map(|entry| entry.mac)
        .collect();
    plan.stale_routes = listed
        .routes
        .iter()
        .filter(|route| route.is_ours() && !vteps.iter().any(|vtep| route.has_key_of(vtep.range)))
        .cloned()
        .collect();
    plan
}

impl Netlink {
    /// The device, if there is one.
    async fn device(&self) -> Result<Option<ListedDevice>, VxlanError> {
        let found = self
            .handle
            .link()
            .get()
            .match_name(DEVICE.to_string())
            .execute()
            .try_next()
            .await;
        match found {
            Ok(link) => Ok(link.as_ref().map(ListedDevice::of)),
            Err(error) => {
                let source = into_io(error);
                if source.raw_os_error() == Some(nix::libc::ENODEV) {
                    return Ok(None);
                }
                Err(VxlanError::List {
                    what: "network devices",
                    source,
                })
            }
        }
    }

    /// Makes the device fit a node of address `local` and be up; returns its index.
    async fn ensure_device(&self, local: Ipv4Addr) -> Result<u32, VxlanError> {
        let device_error = |action: &'static str| {
            move |error: rtnetlink::Error| VxlanError::Device {
                action,
                source: into_io(error),
            }
        };
        if let Some(device) = self.device().await? {
            if fits(&device, local) {
                if !device.up {
                    let up = LinkUnspec::new_with_index(device.index).up().build();
                    let set = self.handle.link().set(up).execute().await;
                    set.map_err(device_error("bring up"))?;
                }
                return Ok(device.index);
            }
            tracing::info!(
                ?device,
                "recreating the VXLAN device, whose settings differ"
            );
            let deleted = self.handle.link().del(device.index).execute().await;
            deleted.map_err(device_error("delete"))?;
        }
        let wanted = LinkVxlan::new(DEVICE, VNI)
            .port(PORT)
            .local(local)
            .learning(false)
            .mtu(MTU)
            .address(Mac::of_node(local).0.to_vec())
            .up()
            .build();
        let added = self.handle.link().add(wanted).execute().await;
        added.map_err(device_error("create"))?;
        tracing::info!(%local, "created the VXLAN device {DEVICE}");
        match self.device().await? {
            Some(device) => Ok(device.index),
            None => Err(VxlanError::Device {
                action: "find",
                source: io::Error::from_raw_os_error(nix::libc::ENODEV),
            }),
        }
    }

    /// Makes `address`/32 the device's only IPv4 address.
    async fn ensure_address(&self, device: u32, address: Ipv4Addr) -> Result<(), VxlanError> {
        let address_error = |source| VxlanError::Address { address, source };
        let listed: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(device)
            .execute()
            .try_collect()
            .await
            .map_err(|error| address_error(into_io(error)))?;
        let mut present = false;
        for message in listed {
            let Some(found) = ipv4_of(&message) else {
                continue;
            };
            if found == address && message.header.prefix_len == 32 {
                present = true;
                continue;
            }
            let deleted = self.handle.address().del(message).execute().await;
            deleted.map_err(|error| address_error(into_io(error)))?;
        }
        if !present {
            let added = self.handle.address().add(device, address.into(), 32);
            added
                .execute()
                .await
                .map_err(|error| address_error(into_io(error)))?;
        }
        Ok(())
    }

    /// The device's neighbours and forwarding entries, and the main table's IPv4 routes with
    /// the message that deletes each.
    async fn list(&self, device: u32) -> Result<(Listed, Vec<RouteMessage>), VxlanError> {
        let list_error = |what: &'static str| {
            move |error: rtnetlink::Error| VxlanError::List {
                what,
                source: into_io(error),
            }
        };
        let neighbours: Vec<NeighbourMessage> = self
            .handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Inet)
            .execute()
            .try_collect()
            .await
            .map_err(list_error("IPv4 neighbours"))?;
        let forwarding: Vec<NeighbourMessage> = self
            .handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Bridge)
            .execute()
            .try_collect()
            .await
            .map_err(list_error("forwarding entries"))?;
        let dump = RouteMessageBuilder::<Ipv4Addr>::new().build();
        let routes: Vec<RouteMessage> = self
            .handle
            .route()
            .get(dump)
            .execute()
            .try_collect()
            .await
            .map_err(list_error("routes of the main table"))?;
        let on_device = |message: &&NeighbourMessage| message.header.ifindex == device;
        let (routes, messages) = routes
            .into_iter()
            .filter_map(|message| Some((ListedRoute::of(&message)?, message)))
            .unzip();
        let listed = Listed {
            neighbours: neighbours
                .iter()
                .filter(on_device)
                .filter_map(listed_neighbour)
                .collect(),
            forwarding: forwarding
                .iter()
                .filter(on_device)
                .filter_map(listed_forwarding)
                .collect(),
            routes,
        };
        Ok((listed, messages))
    }

    async fn set_neighbour(&self, device: u32, vtep: &Vtep) -> Result<(), VxlanError> {
        let request = self.handle.neighbours().add(device, vtep.address.into());
        request
            .link_layer_address(&vtep.mac.0)
            .replace()
            .execute()
            .await
            .map_err(|error| VxlanError::Neighbour {
                vtep: vtep.address,
                mac: vtep.mac,
                source: into_io(error),
            })
    }

    async fn set_forwarding(&self, device: u32, vtep: &Vtep) -> Result<(), VxlanError> {
        let request = self.handle.neighbours().add_bridge(device, &vtep.mac.0);
        request
            .destination(vtep.node.into())
            .flags(NeighbourFlags::Own)
            .replace()
            .execute()
            .await
            .map_err(|error| VxlanError::Forwarding {
                mac: vtep.mac,
                node: vtep.node,
                source: into_io(error),
            })
    }

    async fn set_route(&self, device: u32, vtep: &Vtep) -> Result<(), VxlanError> {
        let message = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(vtep.range.network(), vtep.range.prefix_len())
            .gateway(vtep.address)
            .output_interface(device)
            .onlink()
            .protocol(RouteProtocol::Other(ROUTE_PROTOCOL))
            .build();
        let request = self.handle.route().add(message);
        request
            .replace()
            .execute()
            .await
            .map_err(|error| VxlanError::Route {
                range: vtep.range,
                vtep: vtep.address,
                source: into_io(error),
            })
    }

    async fn delete_neighbour(&self, device: u32, address: Ipv4Addr) -> Result<(), VxlanError> {
        let mut message = NeighbourMessage::default();
        message.header.family = AddressFamily::Inet;
        message.header.ifindex = device;
        message
            .attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
                address,
            )));
        let result = self.handle.neighbours().del(message).execute().await;
        gone_is_fine(result, || format!("neighbour {address}"))
    }

    async fn delete_forwarding(&self, device: u32, mac: Mac) -> Result<(), VxlanError> {
        let mut message = NeighbourMessage::default();
        message.header.family = AddressFamily::Bridge;
        message.header.ifindex = device;
        message.header.flags = NeighbourFlags::Own;
        message
            .attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.0.to_vec()));
        let result = self.handle.neighbours().del(message).execute().await;
        gone_is_fine(result, || format!("forwarding entry {mac}"))
    }

    /// Deletes a route by the message the kernel listed it with.
    async fn delete_route(
        &self,
        route: &ListedRoute,
        message: RouteMessage,
    ) -> Result<(), VxlanError> {
        let result = self.handle.route().del(message).execute().await;
        gone_is_fine(result, || format!("route to {}", route.range))
    }
}

/// A deletion's outcome: an entry already gone is fine; `entry` names it otherwise.
fn gone_is_fine(
    result: Result<(), rtnetlink::Error>,
    entry: impl FnOnce() -> String,
) -> Result<(), VxlanError> {
    let Err(error) = result else {
        return Ok(());
    };
    let source = into_io(error);
    let gone = [nix::libc::ENOENT, nix::libc::ESRCH];
    if source
        .raw_os_error()
        .is_some_and(|code| gone.contains(&code))
    {
        return Ok(());
    }
    Err(VxlanError::Delete {
        entry: entry(),
        source,
    })
}

/// The IPv4 address an address message carries.
fn ipv4_of(message: &AddressMessage) -> Option<Ipv4Addr> {
    let mut found = None;
    for attribute in &message.attributes {
        match attribute {
            AddressAttribute::Local(IpAddr::V4(address)) => return Some(*address),
            AddressAttribute::Address(IpAddr::V4(address)) => found = Some(*address),
            _ => {}
        }
    }
    found
}

fn listed_neighbour(message: &NeighbourMessage) -> Option<ListedNeighbour> {
    let mut address = None;
    let mut mac = None;
    for attribute in &message.attributes {
        match attribute {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(found)) => {
                address = Some(*found)
            }
            NeighbourAttribute::LinkLayerAddress(bytes) => mac = Mac::from_slice(bytes),
            _ => {}
        }
    }
    Some(ListedNeighbour {
        address: address?,
        mac,
        permanent: message.header.state == NeighbourState::Permanent,
    })
}

fn listed_forwarding(message: &NeighbourMessage) -> Option<ListedForwarding> {
    let mut mac = None;
    let mut node = None;
    for attribute in &message.attributes {
        match attribute {
            NeighbourAttribute::LinkLayerAddress(bytes) => mac = Mac::from_slice(bytes),
            NeighbourAttribute::Destination(NeighbourAddress::Inet(found)) => node = Some(*found),
            // netlink-packet-route leaves the address of an AF_BRIDGE entry undecoded.
            NeighbourAttribute::Destination(NeighbourAddress::Other(bytes)) => {
                node = <[u8; 4]>::try_from(bytes.as_slice())
                    .ok()
                    .map(Ipv4Addr::from)
            }
            _ => {}
        }
    }
    Some(ListedForwarding {
        mac: mac?,
        node,
        permanent: message.header.state == NeighbourState::Permanent,
    })
}

#[cfg(test)]
mod tests {
    use rtnetlink::Handle;

    use super::*;
    use crate::network::routes::{PeerRoute, sync_peer_routes};

    fn net(text: &str) -> Ipv4Net {
        text.parse().unwrap()
    }

    fn addr(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    fn peer(range: &str, node: &str) -> Peer {
        Peer {
            range: net(range),
            node: addr(node),
        }
    }

    fn overlay(peers: &[Peer]) -> Overlay {
        Overlay {
            local: addr("192.0.2.1"),
            range: net("10.42.1.0/24"),
            peers: peers.to_vec(),
        }
    }

    const DEVICE_INDEX: u32 = 7;
    const STATIC: u8 = 4;

    /// What a sync of `peers` leaves listed.
    fn synced(peers: &[Peer]) -> Listed {
        let (vteps, _) = vteps(&overlay(peers));
        Listed {
            neighbours: vteps
                .iter()
                .map(|vtep| ListedNeighbour {
                    address: vtep.address,
                    mac: Some(vtep.mac),
                    permanent: true,
                })
                .collect(),
            forwarding: vteps
                .iter()
                .map(|vtep| ListedForwarding {
                    mac: vtep.mac,
                    node: Some(vtep.node),
                    permanent: true,
                })
                .collect(),
            routes: vteps.iter().map(|vtep| overlay_route(vtep.range)).collect(),
        }
    }

    fn overlay_route(range: Ipv4Net) -> ListedRoute {
        ListedRoute {
            range,
            via: Some(vtep_address(range)),
            device: Some(DEVICE_INDEX),
            onlink: true,
            tos: 0,
            metric: 0,
            protocol: ROUTE_PROTOCOL,
        }
    }

    fn gateway_route(range: &str, via: &str, protocol: u8) -> ListedRoute {
        ListedRoute {
            range: net(range),
            via: Some(addr(via)),
            device: Some(2),
            onlink: false,
            tos: 0,
            metric: 0,
            protocol,
        }
    }

    fn ranges(vteps: &[Vtep]) -> Vec<String> {
        vteps.iter().map(|vtep| vtep.range.to_string()).collect()
    }

    #[test]
    fn a_nodes_mac_is_derived_from_its_address() {
        let mac = Mac::of_node(addr("192.0.2.12"));
        assert_eq!(mac.to_string(), "0a:58:c0:00:02:0c");
        assert_eq!(mac.0[0] & 0b01, 0, "unicast");
        assert_eq!(mac.0[0] & 0b10, 0b10, "locally administered");
        assert_ne!(mac, Mac::of_node(addr("192.0.2.13")));
        assert_eq!(Mac::from_slice(&mac.0), Some(mac));
        assert_eq!(Mac::from_slice(&[0x0a, 0x58]), None);
    }

    #[test]
    fn a_vtep_is_the_network_address_of_its_range() {
        assert_eq!(vtep_address(net("10.42.3.0/24")), addr("10.42.3.0"));
        let vtep = Vtep::of(net("10.42.3.9/24"), addr("192.0.2.13"));
        assert_eq!(vtep.range, net("10.42.3.0/24"));
        assert_eq!(vtep.address, addr("10.42.3.0"));
        assert_eq!(vtep.mac, Mac::of_node(addr("192.0.2.13")));
    }

    #[test]
    fn peers_clashing_with_this_node_or_another_are_ignored() {
        let (vteps, refused) = vteps(&overlay(&[
            peer("10.42.2.0/24", "192.0.2.12"),
            peer("10.42.2.0/24", "192.0.2.12"),
            peer("10.42.1.0/24", "192.0.2.9"),
            peer("10.42.9.0/24", "192.0.2.1"),
            peer("10.42.3.0/24", "192.0.2.12"),
            peer("10.42.4.0/24", "192.0.2.14"),
        ]));
        assert_eq!(ranges(&vteps), ["10.42.2.0/24", "10.42.4.0/24"]);
        let messages: Vec<String> = refused.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "ignoring peer 192.0.2.9 (pods 10.42.1.0/24): its address or pod range is also \
                 192.0.2.1's (pods 10.42.1.0/24)",
                "ignoring peer 192.0.2.1 (pods 10.42.9.0/24): its address or pod range is also \
                 192.0.2.1's (pods 10.42.1.0/24)",
                "ignoring peer 192.0.2.12 (pods 10.42.3.0/24): its address or pod range is also \
                 192.0.2.12's (pods 10.42.2.0/24)",
            ]
        );
    }

    #[test]
    fn a_fresh_node_gets_three_entries_per_peer() {
        let peers = [
            peer("10.42.2.0/24", "192.0.2.12"),
            peer("10.42.3.0/24", "192.0.2.13"),
        ];
        let plan = plan(&overlay(&peers), DEVICE_INDEX, &Listed::default());
        let both = ["10.42.2.0/24", "10.42.3.0/24"];
        assert_eq!(ranges(&plan.neighbours), both);
        assert_eq!(ranges(&plan.forwarding), both);
        assert_eq!(ranges(&plan.routes), both);
        assert!(plan.stale_neighbours.is_empty() && plan.stale_forwarding.is_empty());
        assert!(plan.stale_routes.is_empty() && plan.refused.is_empty());

        let again = super::plan(&overlay(&peers), DEVICE_INDEX, &synced(&peers));
        assert!(again.neighbours.is_empty() && again.forwarding.is_empty());
        assert!(again.routes.is_empty() && again.stale_routes.is_empty());
    }

    #[test]
    fn a_departed_peer_leaves_nothing_and_a_moved_one_is_fixed() {
        let before = [
            peer("10.42.2.0/24", "192.0.2.12"),
            peer("10.42.3.0/24", "192.0.2.13"),
        ];
        // 10.42.3.0/24 departed; 10.42.2.0/24's node has a new address.
        let after = [peer("10.42.2.0/24", "192.0.2.22")];
        let plan = plan(&overlay(&after), DEVICE_INDEX, &synced(&before));
        assert_eq!(ranges(&plan.neighbours), ["10.42.2.0/24"]);
        assert_eq!(plan.neighbours[0].mac, Mac::of_node(addr("192.0.2.22")));
        assert_eq!(ranges(&plan.forwarding), ["10.42.2.0/24"]);
        assert!(plan.routes.is_empty(), "the route via the VTEP stays");
        assert_eq!(plan.stale_neighbours, [addr("10.42.3.0")]);
        assert_eq!(
            plan.stale_forwarding,
            [
                Mac::of_node(addr("192.0.2.12")),
                Mac::of_node(addr("192.0.2.13"))
            ]
        );
        assert_eq!(plan.stale_routes, [overlay_route(net("10.42.3.0/24"))]);
    }

    #[test]
    fn entries_that_differ_are_replaced() {
        let peers = [peer("10.42.2.0/24", "192.0.2.12")];
        let mut listed = synced(&peers);
        // The kernel's own, half-resolved entry; one to another node; a route off the device.
        listed.neighbours[0].permanent = false;
        listed.forwarding[0].node = Some(addr("192.0.2.99"));
        listed.routes[0].onlink = false;
        let plan = plan(&overlay(&peers), DEVICE_INDEX, &listed);
        assert_eq!(ranges(&plan.neighbours), ["10.42.2.0/24"]);
        assert_eq!(ranges(&plan.forwarding), ["10.42.2.0/24"]);
        assert_eq!(ranges(&plan.routes), ["10.42.2.0/24"]);
        assert!(plan.stale_neighbours.is_empty() && plan.stale_forwarding.is_empty());
        assert!(
            plan.stale_routes.is_empty(),
            "replaced in place, not deleted"
        );
    }

    #[test]
    fn the_overlay_takes_over_host_gws_routes_and_leaves_foreign_ones_alone() {
        let peers = [
            peer("10.42.2.0/24", "192.0.2.12"),
            peer("10.42.5.0/24", "192.0.2.15"),
        ];
        let listed = Listed {
            routes: vec![
                gateway_route("0.0.0.0/0", "192.0.2.254", STATIC),
                gateway_route("10.42.2.0/24", "192.0.2.12", ROUTE_PROTOCOL),
                gateway_route("10.42.3.0/24", "192.0.2.13", ROUTE_PROTOCOL),
                gateway_route("10.42.5.0/24", "192.0.2.99", STATIC),
            ],
            ..Listed::default()
        };
        let plan = plan(&overlay(&peers), DEVICE_INDEX, &listed);
        assert_eq!(ranges(&plan.routes), ["10.42.2.0/24"]);
        assert_eq!(plan.stale_routes, [listed.routes[2].clone()]);
        assert_eq!(ranges(&plan.forwarding), ["10.42.2.0/24", "10.42.5.0/24"]);
        let [refused] = plan.refused.as_slice() else {
            panic!("{:?}", plan.refused);
        };
        assert_eq!(
            refused.to_string(),
            "not routing pod range 10.42.5.0/24 through flotilla.1: the main table already has a \
             route to 10.42.5.0/24 that flotilla does not own (protocol 4)"
        );
    }

    #[test]
    fn a_device_is_kept_only_if_it_fits_the_nodes_address() {
        let local = addr("192.0.2.1");
        let device = ListedDevice {
            index: DEVICE_INDEX,
            vxlan: true,
            vni: Some(VNI),
            local: Some(local),
            port: Some(PORT),
            learning: Some(false),
            mac: Some(Mac::of_node(local)),
            mtu: Some(MTU),
            up: false,
        };
        assert!(fits(&device, local));
        assert!(!fits(&device, addr("192.0.2.2")), "a new address");
        let learning = ListedDevice {
            learning: Some(true),
            ..device.clone()
        };
        assert!(!fits(&learning, local));
        let other_mac = ListedDevice {
            mac: Some(Mac([2, 0, 0, 0, 0, 1])),
            ..device.clone()
        };
        assert!(!fits(&other_mac, local));
        let not_vxlan = ListedDevice {
            vxlan: false,
            ..device
        };
        assert!(!fits(&not_vxlan, local));
    }

    #[test]
    fn several_errors_name_each_entry_and_its_cause() {
        let unreachable = || io::Error::from_raw_os_error(nix::libc::ENETUNREACH);
        let error = VxlanError::Several(vec![
            VxlanError::Forwarding {
                mac: Mac::of_node(addr("192.0.2.12")),
                node: addr("192.0.2.12"),
                source: unreachable(),
            },
            VxlanError::Delete {
                entry: "route to 10.42.3.0/24".into(),
                source: unreachable(),
            },
        ]);
        assert_eq!(
            error.to_string(),
            "2 VXLAN errors: cannot set the forwarding entry 0a:58:c0:00:02:0c dst 192.0.2.12 on \
             flotilla.1: Network is unreachable (os error 101); cannot delete flotilla's stale \
             route to 10.42.3.0/24: Network is unreachable (os error 101)"
        );
    }

    /// Runs `test` on a thread of its own, in a new network namespace that has a veth
    /// `fl-test0` of address 192.0.2.1/24 (the node's address); the namespace vanishes with the
    /// thread.
    fn in_new_netns<F, T>(test: F)
    where
        F: FnOnce() -> T + Send + 'static,
        T: Future<Output = ()>,
    {
        std::thread::spawn(move || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let (connection, handle, _) = rtnetlink::new_connection().unwrap();
                let task = tokio::spawn(connection);
                setup(&handle).await;
                task.abort();
                test().await;
            });
        })
        .join()
        .unwrap();
    }

    async fn setup(handle: &Handle) {
        use rtnetlink::LinkVeth;
        handle
            .link()
            .add(LinkVeth::new("fl-test0", "fl-test1").build())
            .execute()
            .await
            .unwrap();
        let mut indexes = Vec::new();
        for name in ["fl-test0", "fl-test1"] {
            let link = handle
                .link()
                .get()
                .match_name(name.to_string())
                .execute()
                .try_next()
                .await
                .unwrap()
                .unwrap();
            let index = link.header.index;
            handle
                .link()
                .set(LinkUnspec::new_with_index(index).up().build())
                .execute()
                .await
                .unwrap();
            indexes.push(index);
        }
        handle
            .address()
            .add(indexes[0], addr("192.0.2.1").into(), 24)
            .execute()
            .await
            .unwrap();
    }

    /// What `command` prints, run in the calling thread's network namespace.
    fn shown(command: &[&str]) -> String {
        let out = std::process::Command::new(command[0])
            .args(&command[1..])
            .output()
            .unwrap();
        assert!(out.status.success(), "{command:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    /// The device's entries as `ip` and `bridge` list them: (neighbours, forwarding, routes),
    /// one line each, sorted.
    fn entries() -> (Vec<String>, Vec<String>, Vec<String>) {
        let lines = |text: String| {
            let mut lines: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
            lines.sort();
            lines
        };
        (
            lines(shown(&["ip", "-4", "neigh", "show", "dev", DEVICE])),
            lines(shown(&["bridge", "fdb", "show", "dev", DEVICE])),
            lines(shown(&["ip", "-4", "route", "show", "proto", "70"])),
        )
    }

    #[test]
    fn the_overlay_is_synced_in_a_network_namespace() {
        if !flotilla_test_policy::root_or_skip("the_overlay_is_synced_in_a_network_namespace") {
            return;
        }
        in_new_netns(|| async move {
            // A host-gw route left from before: the overlay takes it over.
            let host_gw = PeerRoute {
                range: net("10.42.9.0/24"),
                via: addr("192.0.2.19"),
            };
            sync_peer_routes(&[host_gw]).await.unwrap();

            let two = overlay(&[
                peer("10.42.2.0/24", "192.0.2.12"),
                peer("10.42.3.0/24", "192.0.2.13"),
            ]);
            sync_overlay(&two).await.unwrap();
            let link = shown(&["ip", "-d", "link", "show", DEVICE]);
            for expected in [
                "mtu 1450",
                ",UP,",
                "link/ether 0a:58:c0:00:02:01",
                "vxlan id 1 local 192.0.2.1",
                "dstport 8472",
                "nolearning",
            ] {
                assert!(link.contains(expected), "{expected:?} in {link}");
            }
            let address = shown(&["ip", "-4", "-o", "addr", "show", "dev", DEVICE]);
            assert!(address.contains("inet 10.42.1.0/32"), "{address}");
            let (neighbours, forwarding, routes) = entries();
            assert_eq!(
                neighbours,
                [
                    "10.42.2.0 lladdr 0a:58:c0:00:02:0c PERMANENT",
                    "10.42.3.0 lladdr 0a:58:c0:00:02:0d PERMANENT"
                ]
            );
            assert_eq!(
                forwarding,
                [
                    "0a:58:c0:00:02:0c dst 192.0.2.12 self permanent",
                    "0a:58:c0:00:02:0d dst 192.0.2.13 self permanent"
                ]
            );
            assert_eq!(
                routes,
                [
                    "10.42.2.0/24 via 10.42.2.0 dev flotilla.1 onlink",
                    "10.42.3.0/24 via 10.42.3.0 dev flotilla.1 onlink"
                ]
            );

            // Again: nothing to do, the device is the same one.
            let netlink = Netlink::open().unwrap();
            let index = netlink.device().await.unwrap().unwrap().index;
            sync_overlay(&two).await.unwrap();
            let (listed, _) = netlink.list(index).await.unwrap();
            let again = plan(&two, index, &listed);
            assert!(again.neighbours.is_empty() && again.forwarding.is_empty());
            assert!(again.routes.is_empty() && again.stale_routes.is_empty());
            assert_eq!(netlink.device().await.unwrap().unwrap().index, index);

            // A peer departs: its entries go, the other's stay.
            sync_overlay(&overlay(&two.peers[..1])).await.unwrap();
            let (neighbours, forwarding, routes) = entries();
            assert_eq!(neighbours, ["10.42.2.0 lladdr 0a:58:c0:00:02:0c PERMANENT"]);
            assert_eq!(
                forwarding,
                ["0a:58:c0:00:02:0c dst 192.0.2.12 self permanent"]
            );
            assert_eq!(routes, ["10.42.2.0/24 via 10.42.2.0 dev flotilla.1 onlink"]);

            // The node's address changes: the device is made again, with its new MAC.
            let moved = Overlay {
                local: addr("192.0.2.2"),
                ..overlay(&two.peers[..1])
            };
            sync_overlay(&moved).await.unwrap();
            let recreated = netlink.device().await.unwrap().unwrap();
            assert_ne!(recreated.index, index);
            assert_eq!(recreated.mac, Some(Mac::of_node(addr("192.0.2.2"))));
            assert_eq!(
                entries().2,
                ["10.42.2.0/24 via 10.42.2.0 dev flotilla.1 onlink"]
            );

            remove_overlay().await.unwrap();
            remove_overlay().await.unwrap();
            assert_eq!(netlink.device().await.unwrap(), None);
            assert_eq!(shown(&["ip", "-4", "route", "show", "proto", "70"]), "");
        });
    }
}
