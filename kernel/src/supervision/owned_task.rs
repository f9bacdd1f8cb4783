//! Tasks owned by an actor. A task an actor spawns (a watch relay, a renewal loop, a
//! listener) must not die unnoticed: if it ends while its owner still runs — it returned or it
//! panicked — the owner is stopped with the reason, and the owner's supervisor restarts it,
//! which starts the task again. The owner aborts its tasks when it stops, so an owned task
//! never outlives it.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use ractor::ActorCell;
use tokio::task::JoinHandle;

/// Spawns `work` as a task of `owner`; `what` names it in the reason the owner is stopped with.
pub fn spawn_owned(
    owner: ActorCell,
    what: &'static str,
    work: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let ended = AssertUnwindSafe(work).catch_unwind().await;
        // An owner that is already stopping ended the task itself.
        if !ractor::ACTIVE_STATES.contains(&owner.get_status()) {
            return;
        }
        let reason = match ended {
            Ok(()) => format!("its {what} task ended"),
            Err(panic) => format!("its {what} task panicked: {}", panic_message(&*panic)),
        };
        tracing::error!(actor = ?owner.get_name(), "{reason}; restarting");
        owner.stop(Some(reason));
    })
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use ractor::{Actor, ActorProcessingErr, ActorRef};

    use super::*;
    use crate::supervision::{
        Backoff, ChildSpec, Intensity, Strategy, Supervisor, SupervisorArgs, SupervisorMsg,
    };

    /// Spawns, on its first start only, a task that panics; counts its starts.
    struct WithTask(Arc<AtomicUsize>);

    impl Actor for WithTask {
        type Msg = ();
        type State = Option<JoinHandle<()>>;
        type Arguments = ();

        async fn pre_start(
            &self,
            myself: ActorRef<()>,
            _: (),
        ) -> Result<Self::State, ActorProcessingErr> {
            let first = self.0.fetch_add(1, Ordering::SeqCst) == 0;
            let task = spawn_owned(myself.get_cell(), "flaky", async move {
                if first {
                    panic!("injected failure");
                }
                std::future::pending::<()>().await;
            });
            Ok(Some(task))
        }

        async fn post_stop(
            &self,
            _: ActorRef<()>,
            task: &mut Self::State,
        ) -> Result<(), ActorProcessingErr> {
            if let Some(task) = task.take() {
                task.abort();
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_task_that_panics_gets_its_owner_restarted() {
        let starts = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&starts);
        let args = SupervisorArgs {
            strategy: Strategy::OneForOne,
            intensity: Intensity {
                max_restarts: 3,
                within: Duration::from_secs(10),
            },
            backoff: Backoff {
                initial: Duration::from_millis(1),
                max: Duration::from_millis(10),
            },
            children: vec![ChildSpec::actor("owner-of-a-task", move || {
                (WithTask(Arc::clone(&counted)), ())
            })],
        };
        let (supervisor, done) = Actor::spawn(None, Supervisor, args).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while starts.load(Ordering::SeqCst) < 2 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            starts.load(Ordering::SeqCst),
            2,
            "the owner is restarted once the task it owns panics"
        );
        ractor::call!(supervisor, SupervisorMsg::Shutdown).unwrap();
        supervisor.stop(None);
        done.await.unwrap();
    }

    #[test]
    fn panic_messages_are_read_from_either_payload() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&42_u8), "a panic without a message");
    }
}
