//! The scheduler: assigns each pending pod to a node.
//!
//! The decision is a pure framework of plug-ins per stage ([`framework`], [`plugins`]) over
//! the nodes and the load already bound to them ([`node_info`]); [`scheduling`] is the
//! reconcile loop that reads that state fresh for every pod, binds the pod with
//! `ApiClient::bind` (a compare-and-swap in the API server, which also sets
//! `PodScheduled=True`) or marks it `Unschedulable`. The actor is the shared controller
//! driver: pods one at a time, requeues, backoff, resync; if a watch ends the actor fails and
//! its supervisor restarts it, which lists and watches again.

pub mod events;
pub mod fit_error;
pub mod framework;
pub mod node_info;
pub mod plugins;
pub mod queue;
pub mod scheduling;

#[cfg(test)]
mod fixtures;

use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use flotilla_kernel::api::ApiClient;

use crate::controllers::driver::{Driver, DriverMsg, Timing};
use framework::Framework;
use scheduling::{PodScheduling, SchedulerEvent};

/// How often a pod that fits nowhere is tried again when nothing else wakes it.
pub const RETRY_UNSCHEDULABLE: Duration = Duration::from_secs(5);

/// The scheduler actor.
pub struct Scheduler;

/// The scheduler's arguments.
pub struct SchedulerArgs {
    pub api: ApiClient,
    pub timing: Timing,
    pub retry_unschedulable: Duration,
}

impl SchedulerArgs {
    /// Arguments with the default clocks.
    pub fn new(api: ApiClient) -> Self {
        Self {
            api,
            timing: Timing::default(),
            retry_unschedulable: RETRY_UNSCHEDULABLE,
        }
    }
}

impl Actor for Scheduler {
    type Msg = DriverMsg<SchedulerEvent>;
    type State = Driver<PodScheduling>;
    type Arguments = SchedulerArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: SchedulerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let scheduling =
            PodScheduling::new(Framework::with_default_plugins(), args.retry_unschedulable);
        Ok(Driver::new(args.api, scheduling, args.timing))
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.start(&myself).await
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.handle(&myself, message).await
    }
}
