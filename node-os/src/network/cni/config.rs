//! Network configurations as the CNI spec (1.0) stores them: the first `.conflist` (or
//! single-plugin `.conf`/`.json`) in the config directory, in lexical order, as libcni picks.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::CniError;

/// The file name of the configuration flotilla writes when none is there.
pub const DEFAULT_FILE: &str = "10-flotilla.conflist";

/// A network configuration list: the plug-ins a pod's network is made by, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkList {
    /// Where it was read from.
    pub path: PathBuf,
    pub name: String,
    pub cni_version: String,
    /// Skip CHECK for this network.
    pub disable_check: bool,
    /// Each plug-in's configuration, as written (its `type` names the binary).
    pub plugins: Vec<Map<String, Value>>,
}

impl NetworkList {
    /// Reads the network configuration in `dir`: the first file by name that parses. Files
    /// that do not parse are skipped with a warning, as the kubelet does; `None` when there
    /// is no usable one.
    pub fn find(dir: &Path) -> Result<Option<NetworkList>, CniError> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CniError::ConfigDir {
                    dir: dir.to_path_buf(),
                    source,
                });
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|entry| Some(entry.ok()?.path()))
            .filter(|path| {
                matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("conflist" | "conf" | "json")
                )
            })
            .collect();
        files.sort();
        for path in files {
            match NetworkList::read(&path) {
                Ok(list) => return Ok(Some(list)),
                Err(error) => tracing::warn!(%error, "skipping a CNI network configuration"),
            }
        }
        Ok(None)
    }

    /// Reads one configuration file: a list, or a single plug-in's configuration.
    pub fn read(path: &Path) -> Result<NetworkList, CniError> {
        let invalid = |why: String| CniError::Config {
            path: path.to_path_buf(),
            why,
        };
        let text = fs::read(path).map_err(|error| invalid(error.to_string()))?;
        let Value::Object(mut top) =
            serde_json::from_slice(&text).map_err(|error| invalid(error.to_string()))?
        else {
            return Err(invalid("not a JSON object".into()));
        };
        let string = |top: &Map<String, Value>, field: &str| -> Result<String, CniError> {
            match top.get(field) {
                Some(Value::String(value)) if !value.is_empty() => Ok(value.clone()),
                _ => Err(invalid(format!("{field}: Required value"))),
            }
        };
        let name = string(&top, "name")?;
        let cni_version = string(&top, "cniVersion")?;
        let is_list = path.extension().and_then(|e| e.to_str()) == Some("conflist");
        let plugins = if is_list {
            let Some(Value::Array(plugins)) = top.remove("plugins") else {
                return Err(invalid("plugins: Required value".into()));
            };
            plugins
                .into_iter()
                .enumerate()
                .map(|(index, plugin)| match plugin {
                    Value::Object(plugin) => Ok(plugin),
                    _ => Err(invalid(format!("plugins[{index}]: must be an object"))),
                })
                .collect::<Result<Vec<_>, _>>()?
        } else {
            vec![top.clone()]
        };
        if plugins.is_empty() {
            return Err(invalid("plugins: must name at least one plug-in".into()));
        }
        for (index, plugin) in plugins.iter().enumerate() {
            if !matches!(plugin.get("type"), Some(Value::String(kind)) if is_plugin_name(kind)) {
                return Err(invalid(format!(
                    "plugins[{index}].type: must name a plug-in binary"
                )));
            }
        }
        Ok(NetworkList {
            path: path.to_path_buf(),
            name,
            cni_version,
            disable_check: top.get("disableCheck") == Some(&Value::Bool(true)),
            plugins,
        })
    }

    /// The list as JSON, the form cached beside each attachment (so DEL uses the
    /// configuration ADD used, even after the file changed).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "cniVersion": self.cni_version,
            "name": self.name,
            "disableCheck": self.disable_check,
            "plugins": self.plugins,
        })
    }

    /// The list back from [`NetworkList::to_json`].
    pub fn from_json(path: &Path, json: &Value) -> Option<NetworkList> {
        Some(NetworkList {
            path: path.to_path_buf(),
            name: json["name"].as_str()?.to_string(),
            cni_version: json["cniVersion"].as_str()?.to_string(),
            disable_check: json["disableCheck"] == Value::Bool(true),
            plugins: json["plugins"]
                .as_array()?
                .iter()
                .map(|plugin| plugin.as_object().cloned())
                .collect::<Option<Vec<_>>>()?,
        })
    }
}

/// A plug-in's `type` is a binary's file name: no path separators, no `..`.
fn is_plugin_name(kind: &str) -> bool {
    !kind.is_empty() && kind != "." && kind != ".." && !kind.contains('/')
}

/// The configuration flotilla writes for Debian's `containernetworking-plugins` on a node
/// whose pods take their addresses from `pod_cidr`: a bridge with the range's first address
/// as the pods' gateway (hairpin on, so a pod reaches itself through a Service), host-local
/// addresses kept in `ipam_dir`, and portmap for `hostPort`. Outbound masquerade is the
/// node's own (see [`crate::network::masquerade`]), not the bridge plug-in's. `mtu` is the
/// bridge's and the pods' interfaces' (an overlay's, [`crate::network::vxlan::MTU`]); without
/// one the plug-in's default, 1500, holds.
pub fn default_conflist(pod_cidr: &str, bridge: &str, ipam_dir: &Path, mtu: Option<u32>) -> Value {
    let mut conflist = serde_json::json!({
        "cniVersion": "1.0.0",
        "name": "flotilla",
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": true,
                "ipMasq": false,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{ "subnet": pod_cidr }]],
                    "routes": [{ "dst": "0.0.0.0/0" }],
                    "dataDir": ipam_dir,
                },
            },
            {
                "type": "portmap",
                "capabilities": { "portMappings": true },
                "snat": true,
            },
        ],
    });
    if let Some(mtu) = mtu {
        conflist["plugins"][0]["mtu"] = mtu.into();
    }
    conflist
}

/// Writes flotilla's configuration into `dir` unless another one is there first (an
/// operator's own wins). Rewrites its own when `wanted` differs. Returns whether it wrote.
pub fn write_default(dir: &Path, wanted: &Value) -> Result<bool, CniError> {
    let write_error = |source| CniError::ConfigDir {
        dir: dir.to_path_buf(),
        source,
    };
    let path = dir.join(DEFAULT_FILE);
    if let Some(found) = NetworkList::find(dir)? {
        if found.path != path {
            return Ok(false);
        }
        let current: Option<Value> = fs::read(&path)
            .ok()
            .and_then(|text| serde_json::from_slice(&text).ok());
        if current.as_ref() == Some(wanted) {
            return Ok(false);
        }
    }
    fs::create_dir_all(dir).map_err(write_error)?;
    let text = serde_json::to_vec_pretty(wanted).map_err(|error| CniError::Config {
        path: path.clone(),
        why: error.to_string(),
    })?;
    // Whole or not at all: a reader never sees half a file.
    let partial = dir.join(format!(".{DEFAULT_FILE}.tmp"));
    fs::write(&partial, text).map_err(write_error)?;
    fs::rename(&partial, &path).map_err(write_error)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn the_first_parsable_file_by_name_wins() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(NetworkList::find(dir.path()).unwrap(), None);
        write(dir.path(), "00-broken.conflist", "{");
        write(dir.path(), "05-notes.txt", "ignored");
        write(
            dir.path(),
            "10-single.conf",
            r#"{"cniVersion":"1.0.0","name":"one","type":"bridge"}"#,
        );
        write(
            dir.path(),
            "20-list.conflist",
            r#"{"cniVersion":"1.0.0","name":"two","plugins":[{"type":"bridge"}]}"#,
        );
        let found = NetworkList::find(dir.path()).unwrap().unwrap();
        assert_eq!(found.name, "one");
        assert_eq!(found.plugins.len(), 1);
        assert_eq!(found.plugins[0]["type"], "bridge");
    }

    #[test]
    fn bad_configurations_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (r#"{"name":"n","plugins":[]}"#, "cniVersion: Required value"),
            (
                r#"{"cniVersion":"1.0.0","name":"n","plugins":[]}"#,
                "plugins: must name at least one plug-in",
            ),
            (
                r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"../x"}]}"#,
                "plugins[0].type: must name a plug-in binary",
            ),
        ];
        for (text, message) in cases {
            let path = dir.path().join("bad.conflist");
            fs::write(&path, text).unwrap();
            let error = NetworkList::read(&path).unwrap_err().to_string();
            assert!(error.contains(message), "{error}");
            assert!(error.contains("bad.conflist"), "{error}");
        }
    }

    #[test]
    fn the_default_is_written_once_and_kept_current_but_never_over_anothers() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("net.d");
        let ipam = dir.path().join("ipam");
        let first = default_conflist("10.42.1.0/24", "flotilla0", &ipam, None);
        assert!(write_default(&conf, &first).unwrap());
        assert!(!write_default(&conf, &first).unwrap());
        let list = NetworkList::find(&conf).unwrap().unwrap();
        assert_eq!(list.name, "flotilla");
        assert_eq!(
            list.plugins[0]["ipam"]["ranges"][0][0]["subnet"],
            "10.42.1.0/24"
        );
        assert_eq!(list.plugins[0].get("mtu"), None);
        assert_eq!(
            NetworkList::from_json(&list.path, &list.to_json()),
            Some(list)
        );

        let moved = default_conflist("10.42.2.0/24", "flotilla0", &ipam, None);
        assert!(write_default(&conf, &moved).unwrap());
        let overlay = default_conflist("10.42.2.0/24", "flotilla0", &ipam, Some(1450));
        assert!(write_default(&conf, &overlay).unwrap());
        let list = NetworkList::find(&conf).unwrap().unwrap();
        assert_eq!(list.plugins[0]["type"], "bridge");
        assert_eq!(list.plugins[0]["mtu"], 1450);

        write(
            &conf,
            "05-operator.conflist",
            r#"{"cniVersion":"1.0.0","name":"own","plugins":[{"type":"ptp"}]}"#,
        );
        assert!(!write_default(&conf, &first).unwrap());
        assert_eq!(NetworkList::find(&conf).unwrap().unwrap().name, "own");
    }
}
