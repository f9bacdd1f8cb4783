//! The controller manager: the ReplicaSet controller, the Deployment controller and the
//! garbage collector, each a level-triggered reconciler of object keys.
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

pub mod deployment;
pub mod driver;
pub mod gc;
pub mod key;
pub mod ownership;
pub mod queue;
pub mod replicaset;

use flotilla_kernel::api::ApiClient;
use flotilla_kernel::supervision::ChildSpec;

pub use self::deployment::DeploymentController;
pub use self::driver::{ControllerActor, ControllerArgs, Timing};
pub use self::gc::GarbageCollector;
pub use self::replicaset::ReplicaSetController;

/// The controller manager's children, in start order, each registered under its name.
pub fn controller_specs(api: ApiClient) -> Vec<ChildSpec> {
    controller_specs_with(api, Timing::default())
}

/// [`controller_specs`] with other clocks (tests use short ones).
pub fn controller_specs_with(api: ApiClient, timing: Timing) -> Vec<ChildSpec> {
    vec![
        spec::<ReplicaSetController>(&api, timing),
        spec::<DeploymentController>(&api, timing),
        spec::<GarbageCollector>(&api, timing),
    ]
}

fn spec<C: driver::Controller + Default>(api: &ApiClient, timing: Timing) -> ChildSpec {
    let api = api.clone();
    ChildSpec::actor(C::NAME, move || {
        (
            ControllerActor::<C>::new(),
            ControllerArgs {
                api: api.clone(),
                controller: C::default(),
                timing,
            },
        )
    })
}
