//! Which runtimes a node offers to RuntimeClasses, as `flotilla up` and `flotilla node` take it.

use std::path::PathBuf;

use flotilla_actors::kubelet::{RuntimeHandlers, parse_oci_runtime};

#[derive(Debug, Clone, clap::Args)]
pub struct RuntimeArgs {
    /// An OCI runtime that a RuntimeClass's handler may name, besides the native runtime
    /// (handler `native`) and runc or crun when on the PATH; repeatable.
    #[arg(long = "oci-runtime", value_name = "HANDLER=PATH", value_parser = parse_oci_runtime)]
    pub oci_runtimes: Vec<(String, PathBuf)>,
}

impl RuntimeArgs {
    pub fn handlers(&self) -> RuntimeHandlers {
        let search_path = std::env::var("PATH").ok();
        RuntimeHandlers::detect(search_path.as_deref(), &self.oci_runtimes)
    }
}
