//! The record of each attachment, one JSON file per container id: what ADD was given and,
//! once it finished, its result. Written whole (temporary file, then rename).

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Attachment, CniError, NetworkList};

/// One pod's attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The network configuration list ADD ran (see [`NetworkList::to_json`]).
    pub network: Value,
    pub attachment: Attachment,
    /// The last plug-in's result; `None` while ADD has not finished.
    pub result: Option<Value>,
}

impl Record {
    /// The addresses of the result (`ips[].address`, without the prefix length).
    pub fn addresses(&self) -> Vec<IpAddr> {
        let Some(ips) = self.result.as_ref().and_then(|r| r["ips"].as_array()) else {
            return Vec::new();
        };
        ips.iter()
            .filter_map(|ip| ip["address"].as_str())
            .filter_map(|address| address.split('/').next()?.parse().ok())
            .collect()
    }

    pub(super) fn network_list(&self, dir: &Path) -> Result<NetworkList, CniError> {
        let path = file(dir, &self.attachment.id);
        NetworkList::from_json(&path, &self.network).ok_or_else(|| CniError::Config {
            path,
            why: "the recorded network configuration is unreadable".into(),
        })
    }
}

fn file(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.json"))
}

pub(super) fn write(dir: &Path, record: &Record) -> Result<(), CniError> {
    let id = &record.attachment.id;
    let failed = |source| CniError::Cache {
        id: id.clone(),
        dir: dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(dir).map_err(failed)?;
    let text = serde_json::to_vec(record).map_err(|error| failed(error.into()))?;
    let partial = dir.join(format!(".{id}.tmp"));
    fs::write(&partial, text).map_err(failed)?;
    fs::rename(&partial, file(dir, id)).map_err(failed)
}

/// The record of `id`; `None` when there is none (or it is unreadable, which only a hand edit
/// makes: it is then as if the pod was never attached).
pub(super) fn read(dir: &Path, id: &str) -> Option<Record> {
    let text = fs::read(file(dir, id)).ok()?;
    match serde_json::from_slice(&text) {
        Ok(record) => Some(record),
        Err(error) => {
            tracing::warn!(container = id, %error, "unreadable CNI attachment record");
            None
        }
    }
}

pub(super) fn remove(dir: &Path, id: &str) -> Result<(), CniError> {
    match fs::remove_file(file(dir, id)) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(CniError::Cache {
            id: id.to_string(),
            dir: dir.to_path_buf(),
            source,
        }),
    }
}

pub(super) fn ids(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            let name = name.to_str()?;
            (!name.starts_with('.')).then(|| name.strip_suffix(".json").map(str::to_string))?
        })
        .collect();
    ids.sort();
    ids
}
