//! The runtime's bookkeeping as a plain state machine: which containers exist, where each is
//! in its life, and who hears about exits. It does no I/O and takes the time as an argument,
//! so the rules (an id is taken from reservation to removal, an exit is reported once, only
//! exited containers are removed) are tested without processes, and the native and fake
//! runtimes share them.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::SystemTime;

use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use super::{ContainerState, ExitEvent, RuntimeError};

/// How a main process ended, in the shape the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exit {
    pub(crate) exit_code: i32,
    pub(crate) signal: Option<i32>,
    /// The kernel's OOM killer killed a process of the container.
    pub(crate) oom_killed: bool,
}

impl Exit {
    pub(crate) fn with_code(exit_code: i32) -> Self {
        Self {
            exit_code,
            signal: None,
            oom_killed: false,
        }
    }

    /// Killed by signal `signo`: reported as 128 + `signo`, as shells do.
    pub(crate) fn by_signal(signo: i32) -> Self {
        Self {
            exit_code: 128 + signo,
            signal: Some(signo),
            oom_killed: false,
        }
    }

    /// Ended by SIGKILL, itself or as an OCI runtime reports it (137): how an OOM ends one.
    pub(crate) fn killed(&self) -> bool {
        const SIGKILL: i32 = 9;
        self.signal == Some(SIGKILL) || self.exit_code == 128 + SIGKILL
    }

    pub(crate) fn from_status(status: ExitStatus) -> Self {
        match (status.signal(), status.code()) {
            (Some(signo), _) => Self::by_signal(signo),
            (None, Some(code)) => Self::with_code(code),
            // wait() never yields a stopped or continued status; keep the raw value rather
            // than invent one.
            (None, None) => Self::with_code(status.into_raw()),
        }
    }
}

#[derive(Debug, Clone)]
enum Entry {
    /// The id is taken while the process is being set up.
    Starting,
    Known(ContainerState),
}

/// All containers of one runtime and the subscribers to their exits.
#[derive(Debug, Default)]
pub(crate) struct ContainerTable {
    entries: BTreeMap<String, Entry>,
    subscribers: Vec<UnboundedSender<ExitEvent>>,
}

impl ContainerTable {
    /// Takes `id` for a container about to start.
    pub(crate) fn reserve(&mut self, id: &str) -> Result<(), RuntimeError> {
        if self.entries.contains_key(id) {
            return Err(RuntimeError::AlreadyExists { id: id.to_string() });
        }
        self.entries.insert(id.to_string(), Entry::Starting);
        Ok(())
    }

    /// Frees a reservation whose start failed.
    pub(crate) fn abandon(&mut self, id: &str) {
        if matches!(self.entries.get(id), Some(Entry::Starting)) {
            self.entries.remove(id);
        }
    }

    pub(crate) fn started(&mut self, id: &str, pid: u32, now: SystemTime) {
        self.entries.insert(
            id.to_string(),
            Entry::Known(ContainerState::Running {
                pid,
                started_at: now,
            }),
        );
    }

    /// Records the exit of a running container and tells every live subscriber. Returns the
    /// event, or `None` when the container was not running (so nothing is reported twice).
    pub(crate) fn exited(&mut self, id: &str, exit: Exit, now: SystemTime) -> Option<ExitEvent> {
        let entry = self.entries.get_mut(id)?;
        let Entry::Known(ContainerState::Running { started_at, .. }) = *entry else {
            return None;
        };
        *entry = Entry::Known(ContainerState::Exited {
            exit_code: exit.exit_code,
            signal: exit.signal,
            oom_killed: exit.oom_killed,
            started_at,
            finished_at: now,
        });
        let event = ExitEvent {
            id: id.to_string(),
            exit_code: exit.exit_code,
            signal: exit.signal,
            finished_at: now,
        };
        self.subscribers
            .retain(|subscriber| subscriber.send(event.clone()).is_ok());
        Some(event)
    }

    pub(crate) fn state(&self, id: &str) -> Option<ContainerState> {
        match self.entries.get(id)? {
            Entry::Starting => None,
            Entry::Known(state) => Some(state.clone()),
        }
    }

    /// The main pid of a running container.
    pub(crate) fn running_pid(&self, id: &str) -> Result<u32, RuntimeError> {
        match self.entries.get(id) {
            None => Err(RuntimeError::NotFound { id: id.to_string() }),
            Some(Entry::Known(ContainerState::Running { pid, .. })) => Ok(*pid),
            Some(_) => Err(RuntimeError::NotRunning { id: id.to_string() }),
        }
    }

    /// Succeeds when the container exists and has exited.
    pub(crate) fn check_removable(&self, id: &str) -> Result<(), RuntimeError> {
        match self.entries.get(id) {
            None => Err(RuntimeError::NotFound { id: id.to_string() }),
            Some(Entry::Known(ContainerState::Exited { .. })) => Ok(()),
            Some(_) => Err(RuntimeError::StillRunning { id: id.to_string() }),
        }
    }

    pub(crate) fn forget(&mut self, id: &str) {
        self.entries.remove(id);
    }

    pub(crate) fn list(&self) -> Vec<(String, ContainerState)> {
        self.entries
            .iter()
            .filter_map(|(id, entry)| match entry {
                Entry::Starting => None,
                Entry::Known(state) => Some((id.clone(), state.clone())),
            })
            .collect()
    }

    /// Every id in use, including containers still starting.
    pub(crate) fn known_ids(&self) -> BTreeSet<String> {
        self.entries.keys().cloned().collect()
    }

    pub(crate) fn subscribe(&mut self) -> UnboundedReceiver<ExitEvent> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.subscribers.push(sender);
        receiver
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn exit_statuses_map_to_codes_and_signals() {
        assert_eq!(
            Exit::from_status(ExitStatus::from_raw(3 << 8)),
            Exit::with_code(3)
        );
        assert_eq!(
            Exit::from_status(ExitStatus::from_raw(15)),
            Exit {
                exit_code: 143,
                signal: Some(15),
                oom_killed: false,
            }
        );
        assert_eq!(Exit::by_signal(9).exit_code, 137);
    }

    #[test]
    fn an_id_is_taken_from_reservation_until_forgotten() {
        let mut table = ContainerTable::default();
        table.reserve("a").unwrap();
        assert!(matches!(
            table.reserve("a"),
            Err(RuntimeError::AlreadyExists { .. })
        ));
        assert_eq!(table.state("a"), None);
        assert!(table.list().is_empty());
        assert!(table.known_ids().contains("a"));
        table.abandon("a");
        table.reserve("a").unwrap();
        table.started("a", 10, at(1));
        table.abandon("a");
        assert_eq!(
            table.state("a"),
            Some(ContainerState::Running {
                pid: 10,
                started_at: at(1)
            })
        );
    }

    #[test]
    fn exits_are_reported_once_to_current_subscribers() {
        let mut table = ContainerTable::default();
        let mut early = table.subscribe();
        let dropped = table.subscribe();
        drop(dropped);
        table.reserve("a").unwrap();
        table.started("a", 10, at(1));
        let event = table.exited("a", Exit::by_signal(15), at(2)).unwrap();
        assert_eq!(
            event,
            ExitEvent {
                id: "a".to_string(),
                exit_code: 143,
                signal: Some(15),
                finished_at: at(2)
            }
        );
        assert_eq!(early.try_recv().unwrap(), event);
        let mut late = table.subscribe();
        assert_eq!(table.exited("a", Exit::with_code(0), at(3)), None);
        assert!(early.try_recv().is_err());
        assert!(late.try_recv().is_err());
        assert_eq!(
            table.state("a"),
            Some(ContainerState::Exited {
                exit_code: 143,
                signal: Some(15),
                oom_killed: false,
                started_at: at(1),
                finished_at: at(2)
            })
        );
        assert_eq!(table.exited("unknown", Exit::with_code(0), at(3)), None);
    }

    #[test]
    fn only_exited_containers_are_removable_and_signalable_only_while_running() {
        let mut table = ContainerTable::default();
        assert!(matches!(
            table.check_removable("a"),
            Err(RuntimeError::NotFound { .. })
        ));
        assert!(matches!(
            table.running_pid("a"),
            Err(RuntimeError::NotFound { .. })
        ));
        table.reserve("a").unwrap();
        assert!(matches!(
            table.running_pid("a"),
            Err(RuntimeError::NotRunning { .. })
        ));
        assert!(matches!(
            table.check_removable("a"),
            Err(RuntimeError::StillRunning { .. })
        ));
        table.started("a", 10, at(1));
        assert_eq!(table.running_pid("a").unwrap(), 10);
        assert!(matches!(
            table.check_removable("a"),
            Err(RuntimeError::StillRunning { .. })
        ));
        table.exited("a", Exit::with_code(1), at(2));
        assert!(matches!(
            table.running_pid("a"),
            Err(RuntimeError::NotRunning { .. })
        ));
        table.check_removable("a").unwrap();
        table.forget("a");
        assert_eq!(table.state("a"), None);
        assert!(table.known_ids().is_empty());
    }
}
