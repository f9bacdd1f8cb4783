//! The thin actor every controller runs in: level-triggered reconciliation of keys from a
//! [`WorkQueue`]. (The scheduler has a queue of its own, `scheduler::queue`.)
//!
//! A [`Controller`] says which kinds it watches, how a watch event maps to keys, how to list
//! every key (the periodic resync) and how to reconcile one key, reading fresh state from the
//! API. The [`Driver`] does the rest: watch tasks forward events to the actor as messages, the
//! actor queues the keys and reconciles ONE key per message (so events are handled between
//! reconciles and no key is ever reconciled twice at once), requeues what the reconcile asks
//! for and retries failures with per-key exponential backoff.
//!
//! When a watch stream ends or fails, the actor fails and its supervisor restarts it: a
//! restarted controller lists and watches from scratch, which is the whole recovery. That is
//! simpler than re-watching in place and loses nothing, since no state outlives the actor.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use flotilla_kernel::api::{ApiClient, ClientError, EventType, Watched};
use flotilla_kernel::object::{Kind, Object, Resource};
use flotilla_kernel::supervision::spawn_owned;

use super::queue::{RetryBackoff, WorkQueue};

/// What a reconcile asks of the driver once it has moved its object one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing more to do until an event or the resync queues the key again.
    Done,
    /// Reconcile the key again after this long (e.g. waiting for pods to stop).
    Requeue(Duration),
}

/// One controller's logic, as the driver sees it.
pub trait Controller: Send + 'static {
    /// Name in logs and errors.
    const NAME: &'static str;
    /// What the work queue holds.
    type Key: Clone + Ord + fmt::Display + Send + 'static;
    /// What the controller's watches deliver.
    type Event: Send + 'static;
    /// Why one reconcile failed.
    type Error: Error + Send + 'static;

    /// Opens the controller's watches.
    fn open_watches(
        watches: &mut Watches<Self::Event>,
    ) -> impl Future<Output = Result<(), ClientError>> + Send;

    /// The keys to reconcile because of `event`.
    fn route(&mut self, event: Self::Event) -> Vec<Self::Key>;

    /// Every key that may need reconciling, for the start and the periodic resync.
    fn resync(
        &mut self,
        api: &ApiClient,
    ) -> impl Future<Output = Result<Vec<Self::Key>, ClientError>> + Send;

    /// Moves the object named by `key` one step towards its desired state.
    fn reconcile(
        &mut self,
        api: &ApiClient,
        key: &Self::Key,
    ) -> impl Future<Output = Result<Action, Self::Error>> + Send;
}

/// The driver's clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How often every key is queued again, in case an event was missed.
    pub resync: Duration,
    /// Retry delays of a key whose reconcile failed.
    pub backoff: RetryBackoff,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            resync: Duration::from_secs(30),
            backoff: RetryBackoff::default(),
        }
    }
}

/// Messages of a driver actor.
#[derive(Debug)]
pub enum DriverMsg<E> {
    /// One of the actor's watches delivered an event.
    Event(E),
    /// A watch stream failed (`error`) or was ended by the server (`None`).
    WatchEnded {
        watch: &'static str,
        error: Option<ClientError>,
    },
    /// Reconcile the next due key (sent by the actor to itself).
    Work,
    /// A parked key may be due (sent by a timer).
    Wake,
    /// Queue every key again.
    Resync,
}

/// Why a driver actor stops; its supervisor restarts it.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// Opening the watches failed (the API server may be unreachable).
    #[error("{controller} could not open its watches")]
    OpenWatches {
        controller: &'static str,
        #[source]
        source: ClientError,
    },
    /// A watch stream failed.
    #[error("the {watch} watch of {controller} failed")]
    WatchFailed {
        controller: &'static str,
        watch: &'static str,
        #[source]
        source: ClientError,
    },
    /// The API server ended a watch stream (e.g. it is restarting).
    #[error("the API server ended the {watch} watch of {controller}")]
    WatchEnded {
        controller: &'static str,
        watch: &'static str,
    },
    /// The first listing of keys failed.
    #[error("{controller} could not list what it reconciles")]
    Resync {
        controller: &'static str,
        #[source]
        source: ClientError,
    },
}

/// Opens watches whose events reach a driver actor.
pub struct Watches<E> {
    api: ApiClient,
    actor: ActorRef<DriverMsg<E>>,
    tasks: Vec<JoinHandle<()>>,
}

impl<E: Send + 'static> Watches<E> {
    /// Lists every object of kind `T` and watches the changes after the listing, forwarding
    /// each to the actor as `wrap(event)`: the listed objects as Added events, in the mailbox
    /// before this returns, so a controller that caches them has them all before its first
    /// reconcile.
    pub async fn open<T, F>(&mut self, watch: &'static str, wrap: F) -> Result<(), ClientError>
    where
        T: Resource,
        F: Fn(Watched<T>) -> E + Send + 'static,
    {
        let (objects, revision) = self.api.list::<T>(None, None).await?;
        let events = self.api.watch::<T>(None, revision, None).await?;
        self.forward(watch, objects, revision, events, wrap);
        Ok(())
    }

    /// [`Watches::open`] for a kind known only at run time, its objects as [`Object`]s.
    pub async fn open_kind<F>(&mut self, kind: Kind, wrap: F) -> Result<(), ClientError>
    where
        F: Fn(Watched<Object>) -> E + Send + 'static,
    {
        let (objects, revision) = self.api.list_objects(kind, None).await?;
        let events = self.api.watch_objects(kind, None, revision).await?;
        self.forward(kind.plural(), objects, revision, events, wrap);
        Ok(())
    }

    /// Sends the listed `objects` to the actor as Added events, then the watch's `events`.
    fn forward<T, F>(
        &mut self,
        watch: &'static str,
        objects: Vec<T>,
        revision: u64,
        mut events: mpsc::Receiver<Result<Watched<T>, ClientError>>,
        wrap: F,
    ) where
        T: Send + 'static,
        F: Fn(Watched<T>) -> E + Send + 'static,
    {
        let actor = self.actor.clone();
        for object in objects {
            let listed = Watched {
                event: EventType::Added,
                object,
                revision,
            };
            if actor.cast(DriverMsg::Event(wrap(listed))).is_err() {
                return;
            }
        }
        self.tasks
            .push(spawn_owned(actor.get_cell(), watch, async move {
                let error = loop {
                    match events.recv().await {
                        Some(Ok(event)) => {
                            if actor.cast(DriverMsg::Event(wrap(event))).is_err() {
                                return;
                            }
                        }
                        Some(Err(error)) => break Some(error),
                        None => break None,
                    }
                };
                // The actor may already be stopping; then nobody needs to hear of it.
                let _ = actor.cast(DriverMsg::WatchEnded { watch, error });
            }));
    }
}

/// The state of a driver actor: the controller, its queue and its watch tasks.
pub struct Driver<C: Controller> {
    api: ApiClient,
    controller: C,
    queue: WorkQueue<C::Key>,
    timing: Timing,
    watches: Vec<JoinHandle<()>>,
    /// A `Work` message is in the mailbox.
    work_sent: bool,
    /// A `Wake` timer is armed for this instant.
    wake_at: Option<Instant>,
}

impl<C: Controller> Driver<C> {
    pub fn new(api: ApiClient, controller: C, timing: Timing) -> Self {
        Self {
            api,
            controller,
            queue: WorkQueue::new(timing.backoff),
            timing,
            watches: Vec::new(),
            work_sent: false,
            wake_at: None,
        }
    }

    /// Opens the watches, queues every key and arms the resync timer.
    pub async fn start(
        &mut self,
        myself: &ActorRef<DriverMsg<C::Event>>,
    ) -> Result<(), ActorProcessingErr> {
        let mut watches = Watches {
            api: self.api.clone(),
            actor: myself.clone(),
            tasks: Vec::new(),
        };
        let opened = C::open_watches(&mut watches).await;
        self.watches = watches.tasks;
        opened.map_err(|source| {
            fail(DriverError::OpenWatches {
                controller: C::NAME,
                source,
            })
        })?;
        let keys = self.controller.resync(&self.api).await.map_err(|source| {
            fail(DriverError::Resync {
                controller: C::NAME,
                source,
            })
        })?;
        keys.into_iter().for_each(|key| self.queue.add(key));
        myself.send_interval(self.timing.resync, || DriverMsg::Resync);
        self.kick(myself);
        Ok(())
    }

    pub async fn handle(
        &mut self,
        myself: &ActorRef<DriverMsg<C::Event>>,
        message: DriverMsg<C::Event>,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            DriverMsg::Event(event) => {
                for key in self.controller.route(event) {
                    self.queue.add(key);
                }
            }
            DriverMsg::WatchEnded { watch, error } => {
                let controller = C::NAME;
                return Err(fail(match error {
                    Some(source) => DriverError::WatchFailed {
                        controller,
                        watch,
                        source,
                    },
                    None => DriverError::WatchEnded { controller, watch },
                }));
            }
            DriverMsg::Work => {
                self.work_sent = false;
                self.work_one().await;
            }
            DriverMsg::Wake => {
                if self.wake_at.is_some_and(|at| at <= Instant::now()) {
                    self.wake_at = None;
                }
                self.work_one().await;
            }
            DriverMsg::Resync => match self.controller.resync(&self.api).await {
                Ok(keys) => keys.into_iter().for_each(|key| self.queue.add(key)),
                Err(error) => {
                    tracing::warn!(controller = C::NAME, error = %chain(&error), "resync failed");
                }
            },
        }
        self.kick(myself);
        Ok(())
    }

    /// Reconciles the next due key, if any, and files it according to the outcome.
    async fn work_one(&mut self) {
        let Some(key) = self.queue.pop(Instant::now()) else {
            return;
        };
        match self.controller.reconcile(&self.api, &key).await {
            Ok(Action::Done) => self.queue.forget(&key),
            Ok(Action::Requeue(after)) => {
                self.queue.forget(&key);
                self.queue.add_at(key, Instant::now() + after);
            }
            Err(error) => {
                let retry_in = self.queue.retry(key.clone(), Instant::now());
                tracing::warn!(
                    controller = C::NAME,
                    %key,
                    error = %chain(&error),
                    ?retry_in,
                    "reconcile failed"
                );
            }
        }
    }

    /// Makes sure the actor hears of the next due key: at once, or by a timer.
    fn kick(&mut self, myself: &ActorRef<DriverMsg<C::Event>>) {
        let now = Instant::now();
        if self.queue.has_ready(now) {
            if !self.work_sent && myself.cast(DriverMsg::Work).is_ok() {
                self.work_sent = true;
            }
            return;
        }
        let Some(at) = self.queue.next_deadline() else {
            return;
        };
        if self.wake_at.is_none_or(|armed| at < armed) {
            self.wake_at = Some(at);
            myself.send_after(at.saturating_duration_since(now), || DriverMsg::Wake);
        }
    }
}

impl<C: Controller> Drop for Driver<C> {
    /// The watch tasks end with the actor, however it ends.
    fn drop(&mut self) {
        self.watches.iter().for_each(JoinHandle::abort);
    }
}

/// Logs why the actor stops (with the whole chain of causes, which the supervisor's log line
/// does not show) and hands the error to ractor.
fn fail(error: DriverError) -> ActorProcessingErr {
    tracing::error!(error = %chain(&error), "stopping to be restarted");
    Box::new(error)
}

/// `error: cause: cause`, for log lines.
pub fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Arguments of a [`ControllerActor`].
pub struct ControllerArgs<C> {
    pub api: ApiClient,
    pub controller: C,
    pub timing: Timing,
}

/// The actor hosting one [`Controller`].
pub struct ControllerActor<C>(PhantomData<fn() -> C>);

impl<C> ControllerActor<C> {
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<C> Default for ControllerActor<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Controller> Actor for ControllerActor<C> {
    type Msg = DriverMsg<C::Event>;
    type State = Driver<C>;
    type Arguments = ControllerArgs<C>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: ControllerArgs<C>,
    ) -> Result<Driver<C>, ActorProcessingErr> {
        Ok(Driver::new(args.api, args.controller, args.timing))
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Driver<C>,
    ) -> Result<(), ActorProcessingErr> {
        state.start(&myself).await
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Driver<C>,
    ) -> Result<(), ActorProcessingErr> {
        state.handle(&myself, message).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner;

    #[test]
    fn chains_print_every_cause() {
        assert_eq!(chain(&Outer(Inner)), "outer: inner");
    }
}
