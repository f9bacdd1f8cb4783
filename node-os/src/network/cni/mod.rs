//! A client of the Container Network Interface, spec 1.0: runs the plug-ins of the node's
//! network configuration ([`config`]) to attach a pod's network namespace (ADD), verify it
//! (CHECK) and detach it (DEL).
//!
//! Every attachment is written down ([`cache`]) before ADD runs, with the configuration it
//! used: DEL then works whatever happened since — a plug-in that failed half-way, an agent
//! that died between ADD and recording the pod's IP, a configuration changed meanwhile — and
//! the attachments a restarted agent finds are the ones it must keep or remove.

mod cache;
pub mod config;
mod invoke;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use cache::Record;
pub use config::{DEFAULT_FILE, NetworkList, default_conflist, write_default};

/// How long one plug-in may run.
const PLUGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// The node's CNI setup.
#[derive(Debug, Clone)]
pub struct Cni {
    /// Where network configurations are (`--cni-conf-dir`).
    pub conf_dir: PathBuf,
    /// Where plug-in binaries are looked for, in order (`--cni-bin-dir`).
    pub bin_dirs: Vec<PathBuf>,
    /// Where attachments are recorded.
    pub cache_dir: PathBuf,
}

/// One pod's network namespace to attach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The pod's uid: the CNI container id.
    pub id: String,
    /// The namespace's file.
    pub netns: PathBuf,
    /// The interface to make in it (`eth0`).
    pub ifname: String,
    pub pod_namespace: String,
    pub pod_name: String,
    /// The pod's `hostPort`s, for plug-ins with the `portMappings` capability.
    pub port_mappings: Vec<PortMapping>,
}

/// One `hostPort`, in the shape of CNI's `portMappings` capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    #[serde(rename = "hostIP", default, skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
}

/// Why a CNI operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CniError {
    #[error("no CNI network configuration in {}", dir.display())]
    NoConfig { dir: PathBuf },
    #[error("reading the CNI configuration directory {}", dir.display())]
    ConfigDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("CNI network configuration {}: {why}", path.display())]
    Config { path: PathBuf, why: String },
    #[error("CNI plug-in {plugin:?} not found in {}", dirs_text(dirs))]
    PluginNotFound { plugin: String, dirs: Vec<PathBuf> },
    #[error("running CNI plug-in {plugin}")]
    Spawn {
        plugin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("CNI plug-in {plugin} {command} did not finish within {}s", PLUGIN_TIMEOUT.as_secs())]
    Timeout { plugin: String, command: String },
    #[error("CNI plug-in {plugin} {command} failed: {message}")]
    Plugin {
        plugin: String,
        command: String,
        message: String,
    },
    #[error("CNI plug-in {plugin} {command} answered what is not a result: {why}")]
    Output {
        plugin: String,
        command: String,
        why: String,
    },
    #[error("recording the network attachment of {id} in {}", dir.display())]
    Cache {
        id: String,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{id:?} is not a valid container id")]
    BadId { id: String },
}

fn dirs_text(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|dir| dir.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

impl Cni {
    /// Attaches the pod: records the attachment, then runs ADD through the configuration's
    /// plug-ins in order, each given the one before's result. Returns the pod's addresses.
    /// On failure the caller should [`Cni::del`] (the record allows it).
    pub async fn add(&self, attachment: &Attachment) -> Result<Vec<IpAddr>, CniError> {
        check_id(&attachment.id)?;
        let list = NetworkList::find(&self.conf_dir)?.ok_or_else(|| CniError::NoConfig {
            dir: self.conf_dir.clone(),
        })?;
        let mut record = Record {
            network: list.to_json(),
            attachment: attachment.clone(),
            result: None,
        };
        cache::write(&self.cache_dir, &record)?;
        let mut result = None;
        for plugin in &list.plugins {
            let call = self.call("ADD", &list, &record.attachment, plugin, result.as_ref());
            result = Some(call.run().await?.ok_or_else(|| call.no_result())?);
        }
        record.result = result;
        cache::write(&self.cache_dir, &record)?;
        Ok(record.addresses())
    }

    /// Runs CHECK for an attachment made earlier, with its recorded configuration and
    /// result; a network configured with `disableCheck` passes.
    pub async fn check(&self, id: &str) -> Result<(), CniError> {
        check_id(id)?;
        let Some(record) = cache::read(&self.cache_dir, id) else {
            return Err(CniError::Plugin {
                plugin: "(none)".into(),
                command: "CHECK".into(),
                message: format!("no network attachment is recorded for {id}"),
            });
        };
        let list = record.network_list(&self.cache_dir)?;
        if list.disable_check {
            return Ok(());
        }
        for plugin in &list.plugins {
            let call = self.call(
                "CHECK",
                &list,
                &record.attachment,
                plugin,
                record.result.as_ref(),
            );
            call.run().await?;
        }
        Ok(())
    }

    /// Detaches the pod: DEL through the recorded configuration's plug-ins in reverse order,
    /// then forgets the record. Nothing recorded is nothing to do.
    pub async fn del(&self, id: &str) -> Result<(), CniError> {
        check_id(id)?;
        let Some(record) = cache::read(&self.cache_dir, id) else {
            return Ok(());
        };
        let list = record.network_list(&self.cache_dir)?;
        for plugin in list.plugins.iter().rev() {
            let call = self.call(
                "DEL",
                &list,
                &record.attachment,
                plugin,
                record.result.as_ref(),
            );
            call.run().await?;
        }
        cache::remove(&self.cache_dir, id)
    }

    /// The addresses recorded for an attachment, if it completed.
    pub fn addresses(&self, id: &str) -> Vec<IpAddr> {
        cache::read(&self.cache_dir, id)
            .map(|record| record.addresses())
            .unwrap_or_default()
    }

    /// The ids of every recorded attachment, complete or not.
    pub fn attached(&self) -> Vec<String> {
        cache::ids(&self.cache_dir)
    }

    fn call<'a>(
        &'a self,
        command: &'static str,
        list: &'a NetworkList,
        attachment: &'a Attachment,
        plugin: &'a serde_json::Map<String, Value>,
        prev_result: Option<&'a Value>,
    ) -> invoke::Call<'a> {
        invoke::Call {
            command,
            list,
            attachment,
            plugin,
            prev_result,
            bin_dirs: &self.bin_dirs,
        }
    }
}

/// Container ids name files: they must be safe path components.
fn check_id(id: &str) -> Result<(), CniError> {
    let safe = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if safe {
        Ok(())
    } else {
        Err(CniError::BadId { id: id.to_string() })
    }
}

/// Where a plug-in binary is: the first of `dirs` that has it.
fn find_plugin(dirs: &[PathBuf], name: &str) -> Result<PathBuf, CniError> {
    dirs.iter()
        .map(|dir| dir.join(name))
        .find(|path| is_executable(path))
        .ok_or_else(|| CniError::PluginNotFound {
            plugin: name.to_string(),
            dirs: dirs.to_vec(),
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests;
