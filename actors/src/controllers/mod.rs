//! The controller manager: the ReplicaSet controller, the Deployment controller, the garbage
//! collector, the node IPAM controller, the EndpointSlice controller, the network policy
//! controller, the disruption controller, the Job, CronJob, DaemonSet and StatefulSet
//! controllers, each a level-triggered reconciler of object keys.
//!
//! Each controller is a pure reconcile step (`plan`: desired and observed state in, effects
//! out) plus a thin async step that reads fresh state from the API and performs the effects;
//! the shared [`driver`] turns watch events into keys on a deduplicated [`queue`] and runs the
//! reconciles one at a time, with requeues, backoff and a periodic resync.
//!
//! The manager is not one actor: [`controller_specs`] returns one supervised child per
//! controller, for the caller to nest under a supervisor of its own (one-for-one is right:
//! the controllers share nothing but the API). A controller whose watch ends fails and is
//! restarted by that supervisor, which lists and watches again.

pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod driver;
pub mod endpointslice;
pub mod fresh_cache;
pub mod gc;
pub mod job;
pub mod key;
pub mod network_policy;
pub mod node_ipam;
pub mod ownership;
pub mod queue;
pub mod replicaset;
pub mod statefulset;

use flotilla_kernel::api::ApiClient;
use flotilla_kernel::supervision::ChildSpec;

pub use self::cronjob::CronJobController;
pub use self::daemonset::DaemonSetController;
pub use self::deployment::DeploymentController;
pub use self::disruption::DisruptionController;
pub use self::driver::{ControllerActor, ControllerArgs, Timing};
pub use self::endpointslice::EndpointSliceController;
pub use self::gc::GarbageCollector;
pub use self::job::JobController;
pub use self::network_policy::NetworkPolicyController;
pub use self::node_ipam::{NodeIpamController, PodRanges};
pub use self::replicaset::ReplicaSetController;
pub use self::statefulset::StatefulSetController;

/// The controller manager's children, in start order, each registered under its name.
/// Nodes get their pod ranges from `pod_ranges`.
pub fn controller_specs(api: ApiClient, pod_ranges: PodRanges) -> Vec<ChildSpec> {
    let timing = Timing::default();
    vec![
        spec(&api, timing, ReplicaSetController::default),
        spec(&api, timing, DeploymentController::default),
        spec(&api, timing, GarbageCollector::default),
        spec(&api, timing, move || NodeIpamController::new(pod_ranges)),
        spec(&api, timing, EndpointSliceController::default),
        spec(&api, timing, NetworkPolicyController::default),
        spec(&api, timing, DisruptionController::default),
        spec(&api, timing, JobController::default),
        spec(&api, timing, CronJobController::default),
        spec(&api, timing, DaemonSetController::default),
        spec(&api, timing, StatefulSetController::default),
    ]
}

fn spec<C: driver::Controller>(
    api: &ApiClient,
    timing: Timing,
    controller: impl Fn() -> C + Send + Sync + 'static,
) -> ChildSpec {
    let api = api.clone();
    ChildSpec::actor(C::NAME, move || {
        (
            ControllerActor::<C>::new(),
            ControllerArgs {
                api: api.clone(),
                controller: controller(),
                timing,
            },
        )
    })
}
