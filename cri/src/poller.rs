//! Watching the runtime's containers for exits ([`crate::watch`] decides), on the CRI thread,
//! for as long as the runtime's book lives.

use std::collections::HashMap;
use std::sync::{Mutex, Weak};
use std::time::SystemTime;

use tonic::Code;

use flotilla_node_os::ContainerState;

use crate::book::{Book, lock};
use crate::calls::{CALL_TIMEOUT, answer, container_state, managed_containers};
use crate::client::CriClient;
use crate::proto;
use crate::watch;

/// Lists the runtime's containers every [`watch::POLL`] and settles those that ended.
pub(crate) async fn poll_exits(client: CriClient, book: Weak<Mutex<Book>>) {
    let mut ticks = tokio::time::interval(watch::POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut unreachable = false;
    loop {
        ticks.tick().await;
        let Some(book) = book.upgrade() else {
            return;
        };
        // Only containers running before the listing is asked for can be judged by it.
        let running = lock(&book).running();
        if running.is_empty() {
            continue;
        }
        let mut runtime = client.runtime.clone();
        let listing = answer(CALL_TIMEOUT, runtime.list_containers(managed_containers()));
        let listed = match listing.await {
            Ok(answer) => {
                if std::mem::take(&mut unreachable) {
                    tracing::info!("the container runtime answers again");
                }
                answer.containers
            }
            Err(status) => {
                // Said once, not every tick, while the runtime is away.
                if !std::mem::replace(&mut unreachable, true) {
                    tracing::warn!(error = %status.message(), "listing the runtime's containers failed");
                }
                continue;
            }
        };
        let states: HashMap<String, proto::ContainerState> = listed
            .into_iter()
            .map(|container| (container.id.clone(), container.state()))
            .collect();
        for (cri_id, id) in running {
            if !watch::ended(&cri_id, &states) {
                continue;
            }
            let state = match container_state(&client, cri_id).await {
                Ok((state, _)) => state,
                Err(status) if status.code() == Code::NotFound => {
                    tracing::warn!(container = %id, "the container vanished from the runtime");
                    vanished(lock(&book).containers.get(&id).map(|t| &t.state))
                }
                // Asked again at the next tick.
                Err(status) => {
                    tracing::debug!(container = %id, error = %status.message(), "no status");
                    continue;
                }
            };
            if matches!(state, ContainerState::Exited { .. }) {
                lock(&book).settle(&id, state);
            }
        }
    }
}

/// How a container removed behind the agent's back ended, as far as anyone can tell: killed.
fn vanished(known: Option<&ContainerState>) -> ContainerState {
    let started_at = match known {
        Some(ContainerState::Running { started_at, .. }) => *started_at,
        _ => SystemTime::UNIX_EPOCH,
    };
    ContainerState::Exited {
        exit_code: 137,
        signal: Some(9),
        oom_killed: false,
        started_at,
        finished_at: SystemTime::now(),
    }
}
