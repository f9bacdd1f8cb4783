//! [`WithCri`]: the native runtime and a CRI runtime behind the one [`Runtime`] the agent
//! drives. The agent starts CRI pods through [`CriRuntime`] itself; everything asked by id
//! afterwards (state, signals, removal, exec, usage, probes' connections) goes to the runtime
//! that knows the container or sandbox, and listings and exits are the two runtimes' together.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{self, UnboundedReceiver};

use flotilla_node_os::runtime::{Adoption, ExecProcess, ExecRequest};
use flotilla_node_os::{
    CgroupUsage, ContainerSpec, ContainerState, ExitEvent, Runtime, RuntimeError, SandboxSpec,
    Signal,
};

use crate::CriRuntime;

/// The native runtime and the node's CRI runtime, as one.
pub struct WithCri {
    pub native: Arc<dyn Runtime>,
    pub cri: Arc<CriRuntime>,
}

impl Runtime for WithCri {
    fn start(&self, spec: &ContainerSpec) -> Result<u32, RuntimeError> {
        self.native.start(spec)
    }

    fn state(&self, id: &str) -> Option<ContainerState> {
        self.cri.state(id).or_else(|| self.native.state(id))
    }

    fn signal(&self, id: &str, signal: Signal) -> Result<(), RuntimeError> {
        if self.cri.knows(id) {
            self.cri.signal(id, signal)
        } else {
            self.native.signal(id, signal)
        }
    }

    fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        if self.cri.knows(id) {
            self.cri.remove(id)
        } else {
            self.native.remove(id)
        }
    }

    fn list(&self) -> Vec<(String, ContainerState)> {
        let mut all = self.native.list();
        all.extend(self.cri.list());
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    fn subscribe(&self) -> UnboundedReceiver<ExitEvent> {
        let (sender, receiver) = mpsc::unbounded_channel();
        for mut exits in [self.native.subscribe(), self.cri.subscribe()] {
            let sender = sender.clone();
            // Ends when the agent drops its receiver (an agent restart subscribes anew).
            self.cri.spawn(async move {
                loop {
                    tokio::select! {
                        () = sender.closed() => return,
                        exit = exits.recv() => {
                            let Some(exit) = exit else { return };
                            if sender.send(exit).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
        receiver
    }

    fn adopt_running(&self) -> Result<Adoption, RuntimeError> {
        let mut adoption = self.native.adopt_running()?;
        let cri = self.cri.adopt_running()?;
        adoption.adopted.extend(cri.adopted);
        adoption.removed.extend(cri.removed);
        Ok(adoption)
    }

    fn run_pod_sandbox(&self, sandbox: &SandboxSpec) -> Result<(), RuntimeError> {
        self.native.run_pod_sandbox(sandbox)
    }

    fn remove_pod_sandbox(&self, id: &str) -> Result<(), RuntimeError> {
        if self.cri.has_sandbox(id) {
            self.cri.remove_pod_sandbox(id)
        } else {
            self.native.remove_pod_sandbox(id)
        }
    }

    /// A CRI runtime wires its sandboxes' network itself, as containerd does through CNI.
    fn pod_netns(&self, id: &str) -> Option<std::path::PathBuf> {
        if self.cri.has_sandbox(id) {
            None
        } else {
            self.native.pod_netns(id)
        }
    }

    fn list_pod_sandboxes(&self) -> Result<Vec<String>, RuntimeError> {
        let mut all = self.native.list_pod_sandboxes()?;
        all.extend(self.cri.list_pod_sandboxes());
        all.sort();
        all.dedup();
        Ok(all)
    }

    fn exec(&self, id: &str, request: &ExecRequest) -> Result<ExecProcess, RuntimeError> {
        if self.cri.knows(id) {
            self.cri.exec(id, request)
        } else {
            self.native.exec(id, request)
        }
    }

    fn usage(&self, id: &str) -> Result<CgroupUsage, RuntimeError> {
        if self.cri.knows(id) {
            self.cri.usage(id)
        } else {
            self.native.usage(id)
        }
    }

    fn connect(
        &self,
        sandbox: &str,
        address: std::net::SocketAddr,
        timeout: Duration,
    ) -> std::io::Result<std::net::TcpStream> {
        if self.cri.has_sandbox(sandbox) {
            self.cri.connect_in_sandbox(sandbox, address, timeout)
        } else {
            self.native.connect(sandbox, address, timeout)
        }
    }
}
