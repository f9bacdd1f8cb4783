//! The supervisor actor: starts its children in order, feeds their unexpected exits to a
//! [`RestartTracker`] and carries out its decisions. It escalates (fails itself) when the
//! restart intensity is exceeded, so a root supervisor that gives up ends the process and the
//! service manager restarts it.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr,
    SupervisionEvent,
};

use super::strategy::{Backoff, Decision, Intensity, RestartTracker, Strategy};

/// Starts one child linked to the given supervisor cell and returns the child's cell.
pub type StartFn = Arc<
    dyn Fn(ActorCell) -> Pin<Box<dyn Future<Output = Result<ActorCell, SpawnErr>> + Send>>
        + Send
        + Sync,
>;

/// How to (re)start one child.
#[derive(Clone)]
pub struct ChildSpec {
    pub name: String,
    pub start: StartFn,
}

impl ChildSpec {
    /// A child started by spawning `make()` linked to the supervisor under `name`.
    pub fn actor<A, F>(name: &str, make: F) -> Self
    where
        A: Actor,
        F: Fn() -> (A, A::Arguments) + Send + Sync + 'static,
    {
        let registered = name.to_string();
        let start: StartFn = Arc::new(move |supervisor| {
            let (actor, args) = make();
            let registered = registered.clone();
            Box::pin(async move {
                let (child, _) =
                    Actor::spawn_linked(Some(registered), actor, args, supervisor).await?;
                Ok(child.get_cell())
            })
        });
        Self {
            name: name.to_string(),
            start,
        }
    }
}

/// The supervisor's configuration and children, in start order.
pub struct SupervisorArgs {
    pub strategy: Strategy,
    pub intensity: Intensity,
    pub backoff: Backoff,
    pub children: Vec<ChildSpec>,
}

pub enum SupervisorMsg {
    /// Start these children again (sent to itself once the backoff has elapsed).
    Restart(Vec<usize>),
    /// Stop every child, last started first, waiting for each; then reply.
    Shutdown(RpcReplyPort<()>),
}

pub struct Supervisor;

pub struct SupervisorState {
    specs: Vec<ChildSpec>,
    running: Vec<Option<ActorCell>>,
    tracker: RestartTracker,
    /// Children this supervisor stopped on purpose; their exit is not a failure.
    stopping: HashSet<ActorId>,
    shutting_down: bool,
}

/// How long a child may take to stop before the supervisor stops waiting for it.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut running = Vec::with_capacity(args.children.len());
        for spec in &args.children {
            let cell = (spec.start)(myself.get_cell())
                .await
                .map_err(|e| format!("starting {}: {e}", spec.name))?;
            running.push(Some(cell));
        }
        Ok(SupervisorState {
            specs: args.children,
            running,
            tracker: RestartTracker::new(args.strategy, args.intensity, args.backoff),
            stopping: HashSet::new(),
            shutting_down: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: SupervisorMsg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::Restart(children) => {
                for index in children {
                    if state.shutting_down || state.running[index].is_some() {
                        continue;
                    }
                    let spec = &state.specs[index];
                    match (spec.start)(myself.get_cell()).await {
                        Ok(cell) => {
                            tracing::info!(child = %spec.name, "restarted");
                            state.running[index] = Some(cell);
                        }
                        Err(error) => {
                            tracing::error!(child = %spec.name, %error, "restart failed");
                            on_child_exit(&myself, state, index).await?;
                            break;
                        }
                    }
                }
            }
            SupervisorMsg::Shutdown(reply) => {
                state.shutting_down = true;
                for cell in state.running.iter_mut().rev().filter_map(Option::take) {
                    if let Err(error) = cell.stop_and_wait(None, Some(STOP_TIMEOUT)).await {
                        tracing::warn!(actor = ?cell.get_name(), %error, "did not stop in time");
                    }
                }
                // The asker may have given up waiting; nothing is left to do then.
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, why) = match event {
            SupervisionEvent::ActorFailed(cell, error) => (cell, format!("failed: {error}")),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (
                cell,
                format!(
                    "stopped: {}",
                    reason.as_deref().unwrap_or("no reason given")
                ),
            ),
            _ => return Ok(()),
        };
        if state.stopping.remove(&cell.get_id()) || state.shutting_down {
            return Ok(());
        }
        let Some(index) = state
            .running
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.get_id() == cell.get_id()))
        else {
            return Ok(());
        };
        tracing::warn!(child = %state.specs[index].name, "{why}");
        state.running[index] = None;
        on_child_exit(&myself, state, index).await
    }
}

/// Applies the tracker's decision for the exit of child `index`.
async fn on_child_exit(
    myself: &ActorRef<SupervisorMsg>,
    state: &mut SupervisorState,
    index: usize,
) -> Result<(), ActorProcessingErr> {
    match state
        .tracker
        .child_exited(index, state.specs.len(), Instant::now())
    {
        Decision::Restart { children, after } => {
            for &sibling in &children {
                if let Some(cell) = state.running[sibling].take() {
                    state.stopping.insert(cell.get_id());
                    let reason = format!("restarting with {}", state.specs[index].name);
                    if let Err(error) = cell.stop_and_wait(Some(reason), Some(STOP_TIMEOUT)).await {
                        tracing::warn!(actor = ?cell.get_name(), %error, "did not stop in time");
                    }
                }
            }
            myself.send_after(after, move || SupervisorMsg::Restart(children));
            Ok(())
        }
        Decision::Escalate { restarts, within } => {
            state.shutting_down = true;
            for cell in state.running.iter_mut().rev().filter_map(Option::take) {
                cell.stop(Some("supervisor escalating".into()));
            }
            Err(format!(
                "{} exited again after {restarts} restarts within {within:?}; giving up",
                state.specs[index].name
            )
            .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A child that panics on `true` and counts its starts.
    struct Flaky(Arc<AtomicUsize>);

    impl Actor for Flaky {
        type Msg = bool;
        type State = ();
        type Arguments = ();

        async fn pre_start(&self, _: ActorRef<bool>, _: ()) -> Result<(), ActorProcessingErr> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }

        async fn handle(
            &self,
            _: ActorRef<bool>,
            panic: bool,
            _: &mut (),
        ) -> Result<(), ActorProcessingErr> {
            assert!(!panic, "asked to fail");
            Ok(())
        }
    }

    fn args(name: &str, starts: Arc<AtomicUsize>, max_restarts: usize) -> SupervisorArgs {
        SupervisorArgs {
            strategy: Strategy::OneForOne,
            intensity: Intensity {
                max_restarts,
                within: Duration::from_secs(60),
            },
            backoff: Backoff {
                initial: Duration::from_millis(1),
                max: Duration::from_millis(10),
            },
            children: vec![ChildSpec::actor(name, move || (Flaky(starts.clone()), ()))],
        }
    }

    async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_panicking_child_is_restarted() {
        let starts = Arc::new(AtomicUsize::new(0));
        let (sup, handle) = Actor::spawn(None, Supervisor, args("flaky-a", starts.clone(), 3))
            .await
            .unwrap();
        ActorRef::<bool>::where_is("flaky-a")
            .unwrap()
            .cast(true)
            .unwrap();
        wait_for("a second start", || starts.load(Ordering::SeqCst) == 2).await;
        wait_for("the child to be registered again", || {
            ActorRef::<bool>::where_is("flaky-a").is_some()
        })
        .await;
        ractor::call!(sup, SupervisorMsg::Shutdown).unwrap();
        sup.stop(None);
        handle.await.unwrap();
    }

    #[tokio::test]
    async fn the_supervisor_escalates_when_the_child_keeps_failing() {
        let starts = Arc::new(AtomicUsize::new(0));
        let (_sup, handle) = Actor::spawn(None, Supervisor, args("flaky-b", starts.clone(), 2))
            .await
            .unwrap();
        for expected in 1..=3 {
            wait_for("the child to be running", || {
                starts.load(Ordering::SeqCst) == expected
                    && ActorRef::<bool>::where_is("flaky-b").is_some()
            })
            .await;
            ActorRef::<bool>::where_is("flaky-b")
                .unwrap()
                .cast(true)
                .unwrap();
        }
        tokio::time::timeout(Duration::from_secs(5), handle)
            .await
            .expect("the supervisor should have stopped")
            .unwrap();
        assert_eq!(starts.load(Ordering::SeqCst), 3);
    }
}
