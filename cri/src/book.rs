//! What the agent made through the CRI runtime and what it last saw of it: containers by the
//! agent's id, sandboxes by pod uid, and who hears of exits.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::mpsc::UnboundedSender;

use flotilla_node_os::{ContainerState, ExitEvent};

use crate::watch;

/// A container the agent made through the runtime.
#[derive(Debug, Clone)]
pub(crate) struct Tracked {
    pub cri_id: String,
    /// The uid of its pod.
    pub pod: String,
    pub state: ContainerState,
}

/// A pod's sandbox in the runtime.
#[derive(Debug, Clone)]
pub(crate) struct Sandbox {
    pub cri_id: String,
    /// Its process, whose network namespace probes connect from; asked for when first needed.
    pub pid: Option<u32>,
    /// The addresses the runtime's network gave it; asked for when first needed.
    pub ips: Option<Vec<String>>,
}

#[derive(Default)]
pub(crate) struct Book {
    pub containers: BTreeMap<String, Tracked>,
    pub sandboxes: BTreeMap<String, Sandbox>,
    pub subscribers: Vec<UnboundedSender<ExitEvent>>,
}

impl Book {
    /// Records that the running container `id` ended as `state` says, and tells the
    /// subscribers; a container already seen ending is not reported twice.
    pub fn settle(&mut self, id: &str, state: ContainerState) {
        let Some(tracked) = self.containers.get_mut(id) else {
            return;
        };
        if !matches!(tracked.state, ContainerState::Running { .. }) {
            return;
        }
        if let Some(exit) = watch::exit_event(id, &state) {
            self.subscribers
                .retain(|sender| sender.send(exit.clone()).is_ok());
        }
        tracked.state = state;
    }

    /// Forgets pod `uid`'s sandbox and its containers, which went with it.
    pub fn forget_pod(&mut self, uid: &str) {
        self.sandboxes.remove(uid);
        self.containers.retain(|_, tracked| tracked.pod != uid);
    }

    /// The running containers, as `(cri_id, id)`.
    pub fn running(&self) -> Vec<(String, String)> {
        self.containers
            .iter()
            .filter(|(_, tracked)| matches!(tracked.state, ContainerState::Running { .. }))
            .map(|(id, tracked)| (tracked.cri_id.clone(), id.clone()))
            .collect()
    }
}

pub(crate) fn lock(book: &Mutex<Book>) -> MutexGuard<'_, Book> {
    book.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    fn running() -> ContainerState {
        ContainerState::Running {
            pid: 7,
            started_at: SystemTime::UNIX_EPOCH,
        }
    }

    fn exited(code: i32) -> ContainerState {
        ContainerState::Exited {
            exit_code: code,
            signal: None,
            oom_killed: false,
            started_at: SystemTime::UNIX_EPOCH,
            finished_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1),
        }
    }

    fn book() -> Book {
        let mut book = Book::default();
        for (id, pod) in [("a-main", "a"), ("b-main", "b")] {
            book.containers.insert(
                id.to_string(),
                Tracked {
                    cri_id: format!("cri-{id}"),
                    pod: pod.to_string(),
                    state: running(),
                },
            );
        }
        book
    }

    #[test]
    fn an_exit_is_told_once() {
        let mut book = book();
        let (sender, mut exits) = tokio::sync::mpsc::unbounded_channel();
        book.subscribers.push(sender);
        book.settle("a-main", exited(3));
        book.settle("a-main", exited(4));
        book.settle("unknown", exited(5));
        assert_eq!(exits.try_recv().unwrap().exit_code, 3);
        assert!(exits.try_recv().is_err());
        assert_eq!(
            book.running(),
            [("cri-b-main".to_string(), "b-main".to_string())]
        );
    }

    #[test]
    fn a_pod_goes_with_its_containers() {
        let mut book = book();
        book.sandboxes.insert(
            "a".to_string(),
            Sandbox {
                cri_id: "sandbox-a".to_string(),
                pid: None,
                ips: None,
            },
        );
        book.forget_pod("a");
        assert!(book.sandboxes.is_empty());
        assert_eq!(book.containers.keys().collect::<Vec<_>>(), ["b-main"]);
    }
}
