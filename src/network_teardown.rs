//! Taking the node's network down when the node stops for good with its pods (`flotilla up`
//! always does; `flotilla node --stop-pods-on-exit`): the routes to the other nodes, the
//! masquerade, service and policy tables, the overlay and the pods' bridge go, so nothing of flotilla's is
//! left in the machine's network. An agent that only restarts keeps all of it: its pods'
//! connections depend on it.

use flotilla_actors::node_network::BRIDGE;
use flotilla_node_os::network::{links, masquerade, policy_table, routes, service_table, vxlan};

/// Removes what the node's network made; what fails is logged, the rest still goes.
pub async fn take_down() {
    if let Err(error) = routes::remove_peer_routes().await {
        tracing::warn!(%error, "could not remove the routes to other nodes' pods");
    }
    let tables = tokio::task::spawn_blocking(|| {
        if let Err(error) = masquerade::remove_masquerade() {
            tracing::warn!(%error, "could not remove the masquerade table");
        }
        if let Err(error) = service_table::remove() {
            tracing::warn!(%error, "could not remove the service proxy's table");
        }
        if let Err(error) = policy_table::remove() {
            tracing::warn!(%error, "could not remove the network policy table");
        }
    });
    if let Err(error) = tables.await {
        tracing::warn!(%error, "removing the node's nftables tables panicked");
    }
    if let Err(error) = vxlan::remove_overlay().await {
        tracing::warn!(%error, "could not remove the VXLAN overlay");
    }
    if let Err(error) = links::remove_link(BRIDGE).await {
        tracing::warn!(%error, bridge = BRIDGE, "could not remove the pods' bridge");
    }
    tracing::info!("took the node's pod network down");
}
