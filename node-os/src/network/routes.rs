//! Routes to the other nodes' pod ranges: flotilla's host-gw backend, as flannel's.
//!
//! Every node owns a pod range; a packet for a pod of another node is routed, in the main
//! table, to that node's address (`ip route replace 10.244.1.0/24 via 192.168.1.12`). No
//! encapsulation: the nodes must share a layer-2 segment, so each gateway is directly
//! reachable, and the kernel refuses the route otherwise (an error naming the range and the
//! gateway, which does not keep the other routes from being applied).
//!
//! flotilla marks the routes it owns with the route protocol [`ROUTE_PROTOCOL`] (70), so
//! `ip route show proto 70` lists them, and a sync only ever replaces or deletes routes that
//! carry it: it never touches the routes of the administrator, of DHCP or of a routing daemon.
//! 70 is unused in iproute2's `rt_protos` (which names 0-18, 42, 99 and 186-192) and by the
//! routing daemons we know of.
//!
//! The sync is level-triggered: [`sync_peer_routes`] reads the main table, lets the pure
//! [`plan`] decide what to add, replace and delete, and applies that. It opens a netlink
//! connection per call, in the network namespace of the calling thread, and closes it on
//! return: no state survives between calls. The connection's task is spawned with
//! `tokio::spawn`, so the functions run on a tokio runtime with I/O enabled.

use std::io;
use std::net::Ipv4Addr;

use futures_util::TryStreamExt;
use ipnet::Ipv4Net;
use rtnetlink::RouteMessageBuilder;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol,
};

use super::netlink::Netlink;

/// The route protocol (`rtm_protocol`) that marks the routes flotilla owns; see the module
/// documentation for why 70 (0x46, "F").
pub const ROUTE_PROTOCOL: u8 = 0x46;

/// A peer node's pod range, reached via that node's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerRoute {
    /// The peer's pod range. Host bits are ignored (`10.244.1.7/24` is `10.244.1.0/24`).
    pub range: Ipv4Net,
    /// The peer node's address, which must be on a directly connected network.
    pub via: Ipv4Addr,
}

/// Why routes to the peers' pod ranges could not be synced.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// No netlink socket could be opened.
    #[error("cannot open a netlink route socket")]
    Connect(#[source] io::Error),
    /// The kernel did not list the routes of the main table.
    #[error("cannot list the routes of the main table")]
    List(#[source] io::Error),
    /// The kernel refused a route, typically because the gateway is not directly reachable.
    #[error("cannot route pod range {range} via {via}")]
    Apply {
        range: Ipv4Net,
        via: Ipv4Addr,
        #[source]
        source: io::Error,
    },
    /// The kernel refused to delete one of flotilla's routes that is no longer wanted.
    #[error(
        "cannot delete flotilla's stale route to {range}{}",
        .via.map(|via| format!(" via {via}")).unwrap_or_default()
    )]
    Delete {
        range: Ipv4Net,
        via: Option<Ipv4Addr>,
        #[source]
        source: io::Error,
    },
    /// The main table already routes the range, by a route flotilla does not own; it is left
    /// alone rather than replaced.
    #[error(
        "not routing pod range {range} via {via}: the main table already has a route to \
         {range} that flotilla does not own (protocol {protocol})"
    )]
    Conflict {
        range: Ipv4Net,
        via: Ipv4Addr,
        protocol: u8,
    },
    /// The same range was wanted via two gateways; the first one is used.
    #[error("pod range {range} is wanted via both {via} and {ignored}; {ignored} is ignored")]
    Duplicate {
        range: Ipv4Net,
        via: Ipv4Addr,
        ignored: Ipv4Addr,
    },
    /// More than one of the errors above; the routes not named were applied.
    #[error("{} peer route errors: {}", .0.len(), describe_all(.0))]
    Several(Vec<RouteError>),
}

/// Makes flotilla's routes in the main table of the calling thread's network namespace
/// exactly `wanted`: adds or replaces each wanted route (so a changed gateway is fixed) and
/// deletes flotilla's routes that are not wanted. A route the kernel refuses does not stop
/// the others; all the errors are returned together ([`RouteError::Several`] when there are
/// more than one).
pub async fn sync_peer_routes(wanted: &[PeerRoute]) -> Result<(), RouteError> {
    let netlink = Netlink::open().map_err(RouteError::Connect)?;
    let (installed, messages): (Vec<ListedRoute>, Vec<RouteMessage>) =
        netlink.main_table().await?.into_iter().unzip();
    let plan = plan(wanted, &installed);
    let mut errors = plan.refused;
    for route in plan.apply {
        match netlink.replace(route).await {
            Ok(()) => tracing::info!(range = %route.range, via = %route.via, "routed pod range"),
            Err(error) => errors.push(error),
        }
    }
    for (route, message) in installed.iter().zip(messages) {
        if !plan.delete.contains(route) {
            continue;
        }
        match netlink.delete(route, message).await {
            Ok(()) => tracing::info!(range = %route.range, "deleted stale pod range route"),
            Err(error) => errors.push(error),
        }
    }
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(RouteError::Several(errors)),
    }
}

/// Deletes all of flotilla's routes from the main table of the calling thread's network
/// namespace (those of protocol [`ROUTE_PROTOCOL`]).
pub async fn remove_peer_routes() -> Result<(), RouteError> {
    sync_peer_routes(&[]).await
}

/// An IPv4 route of the main table, as the sync plans (here and the overlay's) see it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct ListedRoute {
    pub(super) range: Ipv4Net,
    /// The gateway; `None` for a direct or multipath route.
    pub(super) via: Option<Ipv4Addr>,
    pub(super) device: Option<u32>,
    pub(super) onlink: bool,
    pub(super) tos: u8,
    pub(super) metric: u32,
    pub(super) protocol: u8,
}

impl ListedRoute {
    pub(super) fn is_ours(&self) -> bool {
        self.protocol == ROUTE_PROTOCOL
    }

    /// Whether a wanted route of `range` would replace this one: the kernel identifies a route
    /// by table, destination, TOS and metric, and flotilla's have TOS 0 and metric 0.
    pub(super) fn has_key_of(&self, range: Ipv4Net) -> bool {
        self.range == range && self.tos == 0 && self.metric == 0
    }

    /// The route `message` describes, if it is an IPv4 route of the main table.
    pub(super) fn of(message: &RouteMessage) -> Option<ListedRoute> {
        let mut table = u32::from(message.header.table);
        let mut destination = Ipv4Addr::UNSPECIFIED;
        let mut route = ListedRoute {
            onlink: message.header.flags.contains(RouteFlags::Onlink),
            tos: message.header.tos,
            protocol: message.header.protocol.into(),
            ..ListedRoute::default()
        };
        for attribute in &message.attributes {
            match attribute {
                RouteAttribute::Table(id) => table = *id,
                RouteAttribute::Destination(RouteAddress::Inet(address)) => {
                    destination = *address;
                }
                RouteAttribute::Gateway(RouteAddress::Inet(address)) => route.via = Some(*address),
                RouteAttribute::Oif(index) => route.device = Some(*index),
                RouteAttribute::Priority(priority) => route.metric = *priority,
                _ => {}
            }
        }
        if table != u32::from(RouteHeader::RT_TABLE_MAIN) {
            return None;
        }
        route.range = Ipv4Net::new(destination, message.header.destination_prefix_length).ok()?;
        Some(route)
    }
}

/// What a sync does to the main table.
#[derive(Debug, Default)]
struct Plan {
    /// Routes to add or replace: missing, or via another gateway.
    apply: Vec<PeerRoute>,
    /// flotilla's routes that no wanted route replaces.
    delete: Vec<ListedRoute>,
    /// Wanted routes that are not applied, and why.
    refused: Vec<RouteError>,
}

/// Decides how to make flotilla's routes among `installed` (the main table) exactly `wanted`.
fn plan(wanted: &[PeerRoute], installed: &[ListedRoute]) -> Plan {
    let mut plan = Plan::default();
    let mut kept: Vec<PeerRoute> = Vec::with_capacity(wanted.len());
    for route in wanted {
        let route = PeerRoute {
            range: route.range.trunc(),
            via: route.via,
        };
        if let Some(first) = kept.iter().find(|first| first.range == route.range) {
            if first.via != route.via {
                plan.refused.push(RouteError::Duplicate {
                    range: route.range,
                    via: first.via,
                    ignored: route.via,
                });
            }
            continue;
        }
        kept.push(route);
        if let Some(foreign) = installed
            .iter()
            .find(|other| other.range == route.range && !other.is_ours())
        {
            plan.refused.push(RouteError::Conflict {
                range: route.range,
                via: route.via,
                protocol: foreign.protocol,
            });
            continue;
        }
        let in_place = installed.iter().any(|ours| {
            ours.is_ours() && ours.has_key_of(route.range) && ours.via == Some(route.via)
        });
        if !in_place {
            plan.apply.push(route);
        }
    }
    plan.delete = installed
        .iter()
        .filter(|route| {
            route.is_ours() && !kept.iter().any(|wanted| route.has_key_of(wanted.range))
        })
        .cloned()
        .collect();
    plan
}

impl Netlink {
    /// The IPv4 routes of the main table, with the message that deletes each.
    async fn main_table(&self) -> Result<Vec<(ListedRoute, RouteMessage)>, RouteError> {
        let dump = RouteMessageBuilder::<Ipv4Addr>::new().build();
        let mut routes = self.handle.route().get(dump).execute();
        let mut main = Vec::new();
        while let Some(message) = routes
            .try_next()
            .await
            .map_err(|error| RouteError::List(into_io(error)))?
        {
            if let Some(route) = ListedRoute::of(&message) {
                main.push((route, message));
            }
        }
        Ok(main)
    }

    async fn replace(&self, route: PeerRoute) -> Result<(), RouteError> {
        let message = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(route.range.network(), route.range.prefix_len())
            .gateway(route.via)
            .protocol(RouteProtocol::Other(ROUTE_PROTOCOL))
            .build();
        self.handle
            .route()
            .add(message)
            .replace()
            .execute()
            .await
            .map_err(|error| RouteError::Apply {
                range: route.range,
                via: route.via,
                source: into_io(error),
            })
    }

    /// Deletes a route by the message the kernel listed it with; one already gone is fine.
    async fn delete(&self, route: &ListedRoute, message: RouteMessage) -> Result<(), RouteError> {
        match self.handle.route().del(message).execute().await {
            Ok(()) => Ok(()),
            Err(error) => {
                let source = into_io(error);
                if source.raw_os_error() == Some(nix::errno::Errno::ESRCH as i32) {
                    return Ok(());
                }
                Err(RouteError::Delete {
                    range: route.range,
                    via: route.via,
                    source,
                })
            }
        }
    }
}

/// The OS error behind a netlink error ("Network is unreachable (os error 101)"), or the
/// rtnetlink error itself.
pub(super) fn into_io(error: rtnetlink::Error) -> io::Error {
    match error {
        rtnetlink::Error::NetlinkError(message) => message.to_io(),
        other => io::Error::other(other),
    }
}

/// Each error with its causes, for errors that gather several (`RouteError::Several`,
/// `VxlanError::Several`), which have no single source.
pub(super) fn describe_all(errors: &[impl std::error::Error]) -> String {
    let mut described = Vec::with_capacity(errors.len());
    for error in errors {
        let mut text = error.to_string();
        let mut cause = std::error::Error::source(error);
        while let Some(inner) = cause {
            text.push_str(": ");
            text.push_str(&inner.to_string());
            cause = inner.source();
        }
        described.push(text);
    }
    described.join("; ")
}

#[cfg(test)]
mod tests {
    use rtnetlink::Handle;

    use super::*;

    fn net(text: &str) -> Ipv4Net {
        text.parse().unwrap()
    }

    fn addr(text: &str) -> Ipv4Addr {
        text.parse().unwrap()
    }

    fn peer(range: &str, via: &str) -> PeerRoute {
        PeerRoute {
            range: net(range),
            via: addr(via),
        }
    }

    fn route(range: &str, via: Option<&str>, protocol: u8) -> ListedRoute {
        ListedRoute {
            range: net(range),
            via: via.map(addr),
            protocol,
            ..ListedRoute::default()
        }
    }

    const STATIC: u8 = 4;

    #[test]
    fn plan_adds_missing_replaces_moved_keeps_current_and_deletes_stale() {
        let installed = [
            route("0.0.0.0/0", Some("192.0.2.254"), STATIC),
            route("10.244.1.0/24", Some("192.0.2.11"), ROUTE_PROTOCOL),
            route("10.244.2.0/24", Some("192.0.2.12"), ROUTE_PROTOCOL),
            route("10.244.3.0/24", Some("192.0.2.13"), ROUTE_PROTOCOL),
        ];
        let wanted = [
            peer("10.244.1.0/24", "192.0.2.11"),
            peer("10.244.2.0/24", "192.0.2.22"),
            peer("10.244.4.0/24", "192.0.2.14"),
        ];
        let plan = plan(&wanted, &installed);
        assert_eq!(
            plan.apply,
            [
                peer("10.244.2.0/24", "192.0.2.22"),
                peer("10.244.4.0/24", "192.0.2.14")
            ]
        );
        assert_eq!(plan.delete, [installed[3].clone()]);
        assert!(plan.refused.is_empty());
    }

    #[test]
    fn plan_for_nothing_deletes_only_flotillas_routes() {
        let installed = [
            route("10.0.0.0/8", Some("192.0.2.1"), STATIC),
            route("10.244.1.0/24", Some("192.0.2.11"), ROUTE_PROTOCOL),
            route("192.0.2.0/24", None, 2),
        ];
        let plan = plan(&[], &installed);
        assert!(plan.apply.is_empty());
        assert_eq!(plan.delete, [installed[1].clone()]);
    }

    #[test]
    fn plan_deletes_flotilla_routes_another_metric_or_tos_would_leave_behind() {
        let mut metric = route("10.244.1.0/24", Some("192.0.2.11"), ROUTE_PROTOCOL);
        metric.metric = 100;
        let mut tos = route("10.244.1.0/24", Some("192.0.2.11"), ROUTE_PROTOCOL);
        tos.tos = 0x10;
        let installed = [metric.clone(), tos.clone()];
        let plan = plan(&[peer("10.244.1.0/24", "192.0.2.11")], &installed);
        assert_eq!(plan.apply, [peer("10.244.1.0/24", "192.0.2.11")]);
        assert_eq!(plan.delete, [metric, tos]);
    }

    #[test]
    fn plan_leaves_foreign_routes_to_a_wanted_range_alone_and_says_so() {
        let installed = [route("10.244.1.0/24", Some("192.0.2.99"), STATIC)];
        let plan = plan(&[peer("10.244.1.0/24", "192.0.2.11")], &installed);
        assert!(plan.apply.is_empty());
        assert!(plan.delete.is_empty());
        let [refused] = plan.refused.as_slice() else {
            panic!("{:?}", plan.refused);
        };
        assert_eq!(
            refused.to_string(),
            "not routing pod range 10.244.1.0/24 via 192.0.2.11: the main table already has a \
             route to 10.244.1.0/24 that flotilla does not own (protocol 4)"
        );
    }

    #[test]
    fn plan_uses_the_first_gateway_of_a_range_wanted_twice() {
        let wanted = [
            peer("10.244.1.0/24", "192.0.2.11"),
            peer("10.244.1.0/24", "192.0.2.11"),
            peer("10.244.1.9/24", "192.0.2.12"),
        ];
        let plan = plan(&wanted, &[]);
        assert_eq!(plan.apply, [peer("10.244.1.0/24", "192.0.2.11")]);
        let [refused] = plan.refused.as_slice() else {
            panic!("{:?}", plan.refused);
        };
        assert_eq!(
            refused.to_string(),
            "pod range 10.244.1.0/24 is wanted via both 192.0.2.11 and 192.0.2.12; 192.0.2.12 is \
             ignored"
        );
    }

    #[test]
    fn several_errors_name_each_route_and_its_cause() {
        let unreachable = || io::Error::from_raw_os_error(nix::errno::Errno::ENETUNREACH as i32);
        let error = RouteError::Several(vec![
            RouteError::Apply {
                range: net("10.244.1.0/24"),
                via: addr("198.51.100.1"),
                source: unreachable(),
            },
            RouteError::Delete {
                range: net("10.244.2.0/24"),
                via: Some(addr("192.0.2.12")),
                source: unreachable(),
            },
        ]);
        let text = error.to_string();
        assert!(
            text.starts_with(
                "2 peer route errors: cannot route pod range 10.244.1.0/24 via 198.51.100.1: \
                 Network is unreachable"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "; cannot delete flotilla's stale route to 10.244.2.0/24 via 192.0.2.12: Network"
            ),
            "{text}"
        );
    }

    /// Runs `test` on a thread of its own, in a new network namespace that has a veth
    /// `fl-test0` of address 192.0.2.1/24 (so 192.0.2.0/24 is directly reachable) and a static
    /// route that is not flotilla's; the namespace vanishes with the thread.
    fn in_new_netns<F, T>(test: F)
    where
        F: FnOnce(Handle) -> T + Send + 'static,
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
                test(handle).await;
                task.abort();
            });
        })
        .join()
        .unwrap();
    }

    async fn setup(handle: &Handle) {
        use rtnetlink::{LinkUnspec, LinkVeth};
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
                .match_name(name)
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
        let foreign = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(addr("10.99.0.0"), 16)
            .gateway(addr("192.0.2.99"))
            .build();
        handle.route().add(foreign).execute().await.unwrap();
    }

    /// The main table's IPv4 routes with a gateway: (range, gateway, protocol), sorted.
    async fn gateway_routes(handle: &Handle) -> Vec<(Ipv4Net, Ipv4Addr, u8)> {
        let dump = RouteMessageBuilder::<Ipv4Addr>::new().build();
        let mut routes: Vec<_> = handle
            .route()
            .get(dump)
            .execute()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .iter()
            .filter_map(ListedRoute::of)
            .filter_map(|route| Some((route.range, route.via?, route.protocol)))
            .collect();
        routes.sort();
        routes
    }

    #[test]
    fn peer_routes_are_synced_in_a_network_namespace() {
        if !flotilla_test_policy::root_or_skip("peer_routes_are_synced_in_a_network_namespace") {
            return;
        }
        in_new_netns(|handle| async move {
            let foreign = (net("10.99.0.0/16"), addr("192.0.2.99"), STATIC);
            let ours = |range: &str, via: &str| (net(range), addr(via), ROUTE_PROTOCOL);

            // One gateway is not on a connected network: its route fails, the others apply.
            let error = sync_peer_routes(&[
                peer("10.244.1.0/24", "192.0.2.11"),
                peer("10.244.3.0/24", "198.51.100.1"),
                peer("10.244.2.0/24", "192.0.2.12"),
            ])
            .await
            .unwrap_err();
            assert!(
                matches!(
                    &error,
                    RouteError::Apply { range, via, source }
                        if *range == net("10.244.3.0/24")
                            && *via == addr("198.51.100.1")
                            && source.raw_os_error()
                                == Some(nix::errno::Errno::ENETUNREACH as i32)
                ),
                "{error:?}"
            );
            assert_eq!(
                gateway_routes(&handle).await,
                [
                    foreign,
                    ours("10.244.1.0/24", "192.0.2.11"),
                    ours("10.244.2.0/24", "192.0.2.12")
                ]
            );

            // A moved peer is fixed, a departed one is deleted, a sync again changes nothing.
            let wanted = [peer("10.244.2.0/24", "192.0.2.22")];
            sync_peer_routes(&wanted).await.unwrap();
            sync_peer_routes(&wanted).await.unwrap();
            assert_eq!(
                gateway_routes(&handle).await,
                [foreign, ours("10.244.2.0/24", "192.0.2.22")]
            );

            // The administrator's route is neither replaced nor deleted.
            let error = sync_peer_routes(&[peer("10.99.0.0/16", "192.0.2.11")])
                .await
                .unwrap_err();
            assert!(matches!(error, RouteError::Conflict { .. }), "{error:?}");
            remove_peer_routes().await.unwrap();
            remove_peer_routes().await.unwrap();
            assert_eq!(gateway_routes(&handle).await, [foreign]);
        });
    }
}
