//! Which runtimes a node runs pods with, as `flotilla up` and `flotilla node` take it: the
//! native runtime, OCI runtimes a RuntimeClass's handler may name, and a CRI runtime.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use flotilla_actors::kubelet::{RuntimeHandlers, parse_oci_runtime};
use flotilla_cri::{CriRuntime, WithCri, socket_path};
use flotilla_node_os::Runtime;
use flotilla_node_os::runtime::CRI_CGROUP;

#[derive(Debug, Clone, clap::Args)]
pub struct RuntimeArgs {
    /// An OCI runtime that a RuntimeClass's handler may name, besides the native runtime
    /// (handler `native`) and runc or crun when on the PATH; repeatable.
    #[arg(long = "oci-runtime", value_name = "HANDLER=PATH", value_parser = parse_oci_runtime)]
    pub oci_runtimes: Vec<(String, PathBuf)>,
    /// A CRI runtime's socket, such as containerd's: image pods run there unless their
    /// RuntimeClass names another handler (handler `cri` names it).
    #[arg(long = "container-runtime-endpoint", value_name = "unix:///PATH", value_parser = parse_endpoint)]
    pub container_runtime_endpoint: Option<String>,
}

/// The runtimes of a node.
pub struct NodeRuntimes {
    /// What the agent drives: the native runtime, with the CRI runtime beside it if any.
    pub runtime: Arc<dyn Runtime>,
    pub cri: Option<Arc<CriRuntime>>,
    pub handlers: RuntimeHandlers,
}

impl RuntimeArgs {
    /// The node's runtimes around `native`, whose cgroups are under `cgroup_root`; connects
    /// to the CRI runtime when there is one.
    pub async fn runtimes(
        &self,
        native: Arc<dyn Runtime>,
        cgroup_root: &str,
    ) -> anyhow::Result<NodeRuntimes> {
        let search_path = std::env::var("PATH").ok();
        let handlers = RuntimeHandlers::detect(search_path.as_deref(), &self.oci_runtimes);
        let Some(endpoint) = &self.container_runtime_endpoint else {
            return Ok(NodeRuntimes {
                runtime: native,
                cri: None,
                handlers,
            });
        };
        let cgroup_parent = format!("/{}/{CRI_CGROUP}", cgroup_root.trim_matches('/'));
        let cri = CriRuntime::connect(endpoint, cgroup_parent)
            .await
            .with_context(|| format!("--container-runtime-endpoint {endpoint}"))?;
        Ok(NodeRuntimes {
            runtime: Arc::new(WithCri {
                native,
                cri: Arc::clone(&cri),
            }),
            cri: Some(cri),
            handlers: handlers.with_cri(),
        })
    }
}

fn parse_endpoint(text: &str) -> Result<String, String> {
    socket_path(text)
        .map(|_| text.to_string())
        .map_err(|error| error.to_string())
}
