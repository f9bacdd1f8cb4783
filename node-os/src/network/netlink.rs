//! One rtnetlink connection in the calling thread's network namespace: the handle requests go
//! through, and the task that carries them, which ends when the connection is dropped. The
//! modules that read and change the kernel's tables each add their own requests to it.

use std::io;

use rtnetlink::Handle;
use tokio::task::JoinHandle;

pub(super) struct Netlink {
    pub(super) handle: Handle,
    task: JoinHandle<()>,
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub(super) fn open() -> io::Result<Self> {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        let task = tokio::spawn(connection);
        Ok(Self { handle, task })
    }
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.task.abort();
    }
}
