//! How a node pulls images from registries, as `flotilla up` and `flotilla node` take it.

use std::path::PathBuf;

use flotilla_actors::kubelet::Registries;

#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// A registry (HOST[:PORT]) spoken to over plain HTTP instead of HTTPS, as containerd's
    /// insecure registries; repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub plain_http: Vec<String>,
    /// A PEM file of CA certificates trusted for registries besides the system's; repeatable.
    #[arg(long = "registry-ca", value_name = "FILE")]
    pub ca_files: Vec<PathBuf>,
}

impl RegistryArgs {
    pub fn registries(&self) -> Registries {
        Registries {
            plain_http: self.plain_http.clone(),
            ca_files: self.ca_files.clone(),
        }
    }
}
