//! The node's heartbeat: its Lease in `flotilla-node-lease`, renewed every `period`. The
//! control plane judges liveness by the lease changing, so renewal is one small write, kept
//! apart from the heavier Node status updates.

use std::time::Duration;

use ractor::ActorRef;
use tokio::task::JoinHandle;

use flotilla_kernel::api::{ApiClient, ClientError};
use flotilla_kernel::object::{Lease, NODE_LEASE_NAMESPACE, Time};
use flotilla_kernel::supervision::spawn_owned;

use super::AgentMsg;

/// Renews the lease forever; after a failed renewal succeeds again, asks the agent for a full
/// status heartbeat so a node that was marked unreachable turns Ready at once.
pub fn renew_forever(
    myself: &ActorRef<AgentMsg>,
    api: ApiClient,
    node: String,
    period: Duration,
) -> JoinHandle<()> {
    let me = myself.clone();
    spawn_owned(myself.get_cell(), "lease renewal", async move {
        let mut failing = false;
        loop {
            match renew(&api, &node, period).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!(node, "lease renewed again");
                    if me.cast(AgentMsg::Heartbeat).is_err() {
                        return;
                    }
                }
                Ok(()) => {}
                Err(error) => {
                    if !failing {
                        tracing::warn!(node, %error, "renewing the node lease failed");
                    }
                    failing = true;
                }
            }
            tokio::time::sleep(period).await;
        }
    })
}

async fn renew(api: &ApiClient, node: &str, period: Duration) -> Result<(), ClientError> {
    let now = Time::now();
    // Four missed renewals before the lease would run out, as Kubernetes sizes it.
    let duration = i64::try_from((period * 4).as_secs().max(1)).unwrap_or(i64::MAX);
    match api.find::<Lease>(NODE_LEASE_NAMESPACE, node).await? {
        Some(mut lease) => {
            lease.spec.renew_time = Some(now);
            lease.spec.lease_duration_seconds = Some(duration);
            api.update(&lease).await?;
        }
        None => {
            api.create(&Lease::for_node(node, duration, now)).await?;
        }
    }
    Ok(())
}
