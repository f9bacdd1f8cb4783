//! Watch-fed caches of API objects, after Kubernetes' informers: list once, then follow the
//! watch from the listing's revision, so a component reads the cluster from memory instead of
//! listing it for every decision.
//!
//! An [`Informer`] owns one such list-and-watch: a task owned by the component's actor applies
//! every event to a shared [`Cache`] and then tells the component through a callback (to cast
//! a message to its actor, say). The callback also hears when the watch ends: the cache then no
//! longer follows the cluster, and the owner fails so its supervisor restarts it, which lists
//! and watches again; should the task panic, the owner is stopped all the same. Any actor
//! holding an `ApiClient` can start one.

mod cache;

use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use ractor::ActorCell;
use tokio::task::JoinHandle;

use flotilla_kernel::api::{ApiClient, ClientError, EventType};
use flotilla_kernel::object::{Kind, Pod, Resource};
use flotilla_kernel::supervision::spawn_owned;

pub use cache::{Cache, Change, IndexFn};

/// The index of pods by the node they are bound to (pending pods are not filed).
pub fn bound_node(pod: &Pod) -> Option<String> {
    (!pod.spec.node_name.is_empty()).then(|| pod.spec.node_name.clone())
}

/// What an informer tells its owner.
#[derive(Debug)]
pub enum Notice<T> {
    /// The cache changed (the objects listed at the start arrive as `Added`).
    Changed(Change<T>),
    /// The watch failed (`error`) or the server ended it (`None`); the cache is frozen.
    Ended {
        kind: Kind,
        error: Option<ClientError>,
    },
}

/// A cache of one kind kept current by a list and a watch.
pub struct Informer<T> {
    cache: Arc<RwLock<Cache<T>>>,
    task: JoinHandle<()>,
}

impl<T: Resource> Informer<T> {
    /// Lists the objects of kind `T` (in `namespace`, or all), files them in `cache` (empty,
    /// perhaps indexed) and follows the changes after the listing. `notify` hears of each
    /// change after the cache holds it: the listed objects before this returns, the rest from
    /// the watch task, which `owner` owns.
    pub async fn start<F>(
        owner: ActorCell,
        api: &ApiClient,
        namespace: Option<&str>,
        mut cache: Cache<T>,
        mut notify: F,
    ) -> Result<Self, ClientError>
    where
        F: FnMut(Notice<T>) + Send + 'static,
    {
        let (objects, revision) = api.list::<T>(namespace, None).await?;
        let mut events = api.watch::<T>(namespace, revision, None).await?;
        for object in objects {
            notify(Notice::Changed(cache.apply(EventType::Added, object)));
        }
        let cache = Arc::new(RwLock::new(cache));
        let shared = Arc::clone(&cache);
        let task = spawn_owned(owner, "informer", async move {
            let error = loop {
                match events.recv().await {
                    Some(Ok(watched)) => {
                        let change = write(&shared).apply(watched.event, watched.object);
                        notify(Notice::Changed(change));
                    }
                    Some(Err(error)) => break Some(error),
                    None => break None,
                }
            };
            notify(Notice::Ended {
                kind: T::KIND,
                error,
            });
        });
        Ok(Self { cache, task })
    }

    /// The cache as of now. Hold the guard only for a synchronous look (never across an
    /// `.await`): the watch task waits for it.
    pub fn read(&self) -> RwLockReadGuard<'_, Cache<T>> {
        // A panic while applying an event leaves a whole object in or out: still readable.
        self.cache.read().unwrap_or_else(PoisonError::into_inner)
    }
}

fn write<T>(cache: &RwLock<Cache<T>>) -> std::sync::RwLockWriteGuard<'_, Cache<T>> {
    cache.write().unwrap_or_else(PoisonError::into_inner)
}

impl<T> Drop for Informer<T> {
    /// The watch ends with its owner.
    fn drop(&mut self) {
        self.task.abort();
    }
}
