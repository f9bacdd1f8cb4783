//! Running one plug-in once, as the CNI spec's protocol says: the command and the attachment
//! in `CNI_*` environment variables, the plug-in's configuration (with `name`, `cniVersion`,
//! `prevResult` and the `runtimeConfig` of its capabilities) on standard input, a result or an
//! error object on standard output.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{Attachment, CniError, NetworkList, PLUGIN_TIMEOUT, find_plugin};

pub(super) struct Call<'a> {
    pub command: &'static str,
    pub list: &'a NetworkList,
    pub attachment: &'a Attachment,
    pub plugin: &'a Map<String, Value>,
    pub prev_result: Option<&'a Value>,
    pub bin_dirs: &'a [PathBuf],
}

impl Call<'_> {
    fn kind(&self) -> String {
        self.plugin
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    /// What the plug-in reads on standard input.
    pub(super) fn stdin(&self) -> Value {
        let mut config = self.plugin.clone();
        config.insert("name".into(), Value::from(self.list.name.clone()));
        config.insert(
            "cniVersion".into(),
            Value::from(self.list.cni_version.clone()),
        );
        if let Some(prev) = self.prev_result {
            config.insert("prevResult".into(), prev.clone());
        }
        let wants_ports = config
            .get("capabilities")
            .is_some_and(|capabilities| capabilities["portMappings"] == Value::Bool(true));
        if wants_ports && !self.attachment.port_mappings.is_empty() {
            config.insert(
                "runtimeConfig".into(),
                serde_json::json!({ "portMappings": self.attachment.port_mappings }),
            );
        }
        Value::Object(config)
    }

    /// Kubernetes' `CNI_ARGS`, which plug-ins that do not know them ignore.
    pub(super) fn args(&self) -> String {
        let a = self.attachment;
        format!(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE={};K8S_POD_NAME={};K8S_POD_INFRA_CONTAINER_ID={};K8S_POD_UID={}",
            a.pod_namespace, a.pod_name, a.id, a.id
        )
    }

    pub(super) fn no_result(&self) -> CniError {
        CniError::Output {
            plugin: self.kind(),
            command: self.command.into(),
            why: "no result on standard output".into(),
        }
    }

    /// Runs the plug-in; its result, if it printed one.
    pub(super) async fn run(&self) -> Result<Option<Value>, CniError> {
        let kind = self.kind();
        let binary = find_plugin(self.bin_dirs, &kind)?;
        let path = std::env::join_paths(self.bin_dirs).unwrap_or_default();
        let mut child = Command::new(&binary)
            .env("CNI_COMMAND", self.command)
            .env("CNI_CONTAINERID", &self.attachment.id)
            .env("CNI_NETNS", &self.attachment.netns)
            .env("CNI_IFNAME", &self.attachment.ifname)
            .env("CNI_ARGS", self.args())
            .env("CNI_PATH", path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| CniError::Spawn {
                plugin: kind.clone(),
                source,
            })?;
        let input = serde_json::to_vec(&self.stdin()).unwrap_or_default();
        if let Some(mut stdin) = child.stdin.take() {
            // A plug-in that exits without reading is judged by its exit status below.
            let _ = stdin.write_all(&input).await;
        }
        let output = tokio::time::timeout(PLUGIN_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| CniError::Timeout {
                plugin: kind.clone(),
                command: self.command.into(),
            })?
            .map_err(|source| CniError::Spawn {
                plugin: kind.clone(),
                source,
            })?;
        if !output.status.success() {
            return Err(CniError::Plugin {
                plugin: kind,
                command: self.command.into(),
                message: failure_message(&output.stdout, &output.stderr, output.status),
            });
        }
        if output.stdout.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&output.stdout)
            .map(Some)
            .map_err(|error| CniError::Output {
                plugin: kind,
                command: self.command.into(),
                why: error.to_string(),
            })
    }
}

/// The spec's error object (`msg`, `details`, `code`) when the plug-in printed one, else its
/// standard error, else its exit status.
pub(super) fn failure_message(
    stdout: &[u8],
    stderr: &[u8],
    status: std::process::ExitStatus,
) -> String {
    if let Ok(error) = serde_json::from_slice::<Value>(stdout)
        && let Some(msg) = error["msg"].as_str()
    {
        let mut message = msg.to_string();
        if let Some(details) = error["details"].as_str().filter(|d| !d.is_empty()) {
            message.push_str(&format!(" ({details})"));
        }
        if let Some(code) = error["code"].as_u64() {
            message.push_str(&format!(" [code {code}]"));
        }
        return message;
    }
    let stderr = String::from_utf8_lossy(stderr).trim().to_string();
    if stderr.is_empty() {
        status.to_string()
    } else {
        stderr
    }
}
