//! A container's environment: literal `env` values, keys of ConfigMaps and Secrets
//! (`valueFrom`), the pod's own fields and the container's resources (the downward API), and
//! whole ConfigMaps and Secrets (`envFrom`), resolved the way Kubernetes does — `envFrom`
//! first, then `env` in order, later names winning; a missing object or key fails the start
//! unless marked optional. Pure: the agent fetches the objects first.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use flotilla_kernel::object::{ConfigMap, Container, KeySelector, ObjectSelector, Pod, Secret};

use super::downward::{self, NodeFacts};

/// The ConfigMaps and Secrets a container names, as fetched: `None` when absent.
#[derive(Debug, Default)]
pub struct Sources {
    pub config_maps: BTreeMap<String, Option<ConfigMap>>,
    pub secrets: BTreeMap<String, Option<Secret>>,
}

/// Why a container's environment cannot be built; the text becomes the waiting message.
pub type EnvError = String;

/// The variables `container` of `pod` declares, resolved against `sources` and what the node
/// knows, in the order set.
pub fn resolve(
    pod: &Pod,
    container: &Container,
    node: NodeFacts<'_>,
    sources: &Sources,
) -> Result<Vec<(String, String)>, EnvError> {
    let namespace = pod.metadata.namespace.as_str();
    let mut env: Vec<(String, String)> = Vec::new();
    for source in &container.env_from {
        let data = match (&source.config_map_ref, &source.secret_ref) {
            (Some(selector), _) => whole(selector, "configmap", namespace, || {
                config_map_data(sources.config_maps.get(&selector.name))
            })?,
            (None, Some(selector)) => whole(selector, "secret", namespace, || {
                secret_data(sources.secrets.get(&selector.name))
            })?,
            (None, None) => continue,
        };
        for (key, value) in data {
            set(&mut env, format!("{}{key}", source.prefix), value);
        }
    }
    for variable in &container.env {
        let value = match &variable.value_from {
            None => Some(variable.value.clone()),
            Some(from) => {
                if let Some(selector) = &from.config_map_key_ref {
                    one_key(selector, "configmap", namespace, || {
                        config_map_data(sources.config_maps.get(&selector.name))
                    })?
                } else if let Some(selector) = &from.secret_key_ref {
                    one_key(selector, "secret", namespace, || {
                        secret_data(sources.secrets.get(&selector.name))
                    })?
                } else if let Some(selector) = &from.field_ref {
                    Some(
                        downward::field(pod, node, selector)
                            .map_err(|why| format!("env {}: {why}", variable.name))?,
                    )
                } else if let Some(selector) = &from.resource_field_ref {
                    Some(
                        downward::resource(pod, container, node, selector)
                            .map_err(|why| format!("env {}: {why}", variable.name))?,
                    )
                } else {
                    None
                }
            }
        };
        if let Some(value) = value {
            set(&mut env, variable.name.clone(), value);
        }
    }
    Ok(env)
}

/// Sets `name`, replacing an earlier value.
fn set(env: &mut Vec<(String, String)>, name: String, value: String) {
    env.retain(|(existing, _)| *existing != name);
    env.push((name, value));
}

/// The data of a fetched object, decoded; `None` when the object does not exist.
type Data = Result<Option<BTreeMap<String, String>>, EnvError>;

fn config_map_data(fetched: Option<&Option<ConfigMap>>) -> Data {
    Ok(fetched
        .and_then(Option::as_ref)
        .map(|config| config.data.clone()))
}

fn secret_data(fetched: Option<&Option<Secret>>) -> Data {
    let Some(secret) = fetched.and_then(Option::as_ref) else {
        return Ok(None);
    };
    let mut data = BTreeMap::new();
    for (key, encoded) in &secret.data {
        let bytes = BASE64.decode(encoded).map_err(|_| {
            format!(
                "secret {:?} key {key:?} is not base64",
                secret.metadata.name
            )
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            format!(
                "secret {:?} key {key:?} is not UTF-8 text and cannot be an environment variable",
                secret.metadata.name
            )
        })?;
        data.insert(key.clone(), text);
    }
    Ok(Some(data))
}

fn whole(
    selector: &ObjectSelector,
    what: &str,
    namespace: &str,
    data: impl FnOnce() -> Data,
) -> Result<BTreeMap<String, String>, EnvError> {
    match data()? {
        Some(data) => Ok(data),
        None if selector.optional == Some(true) => Ok(BTreeMap::new()),
        None => Err(not_found(what, &selector.name, namespace)),
    }
}

fn one_key(
    selector: &KeySelector,
    what: &str,
    namespace: &str,
    data: impl FnOnce() -> Data,
) -> Result<Option<String>, EnvError> {
    let optional = selector.optional == Some(true);
    match data()? {
        Some(data) => match data.get(&selector.key) {
            Some(value) => Ok(Some(value.clone())),
            None if optional => Ok(None),
            None => Err(format!(
                "couldn't find key {} in {what} {namespace}/{}",
                selector.key, selector.name
            )),
        },
        None if optional => Ok(None),
        None => Err(not_found(what, &selector.name, namespace)),
    }
}

fn not_found(what: &str, name: &str, namespace: &str) -> EnvError {
    format!("{what} {name:?} not found in namespace {namespace:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_kernel::object::{EnvFromSource, EnvVar, EnvVarSource};

    fn sources() -> Sources {
        let mut config = ConfigMap::default();
        config.metadata.name = "settings".into();
        config.data.insert("LEVEL".into(), "info".into());
        config.data.insert("MODE".into(), "fast".into());
        let mut secret = Secret::default();
        secret.metadata.name = "db".into();
        secret
            .data
            .insert("password".into(), BASE64.encode("hunter2"));
        let mut sources = Sources::default();
        sources.config_maps.insert("settings".into(), Some(config));
        sources.config_maps.insert("gone".into(), None);
        sources.secrets.insert("db".into(), Some(secret));
        sources
    }

    const NODE: NodeFacts<'static> = NodeFacts {
        host_ip: "10.0.0.7",
        cpu_millis: 2000,
        memory_bytes: 1 << 30,
    };

    fn in_namespace(namespace: &str) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.namespace = namespace.into();
        pod
    }

    fn key_ref(name: &str, key: &str, optional: bool) -> KeySelector {
        KeySelector {
            name: name.into(),
            key: key.into(),
            optional: optional.then_some(true),
        }
    }

    fn from_config(name: &str, selector: KeySelector) -> EnvVar {
        EnvVar {
            name: name.into(),
            value_from: Some(EnvVarSource {
                config_map_key_ref: Some(selector),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        }
    }

    #[test]
    fn env_from_then_env_later_names_win() {
        let container = Container {
            env_from: vec![EnvFromSource {
                prefix: "APP_".into(),
                config_map_ref: Some(ObjectSelector {
                    name: "settings".into(),
                    optional: None,
                }),
                secret_ref: None,
            }],
            env: vec![
                EnvVar {
                    name: "APP_MODE".into(),
                    value: "slow".into(),
                    value_from: None,
                },
                EnvVar {
                    name: "DB_PASSWORD".into(),
                    value_from: Some(EnvVarSource {
                        secret_key_ref: Some(key_ref("db", "password", false)),
                        ..EnvVarSource::default()
                    }),
                    ..EnvVar::default()
                },
            ],
            ..Container::default()
        };
        let env = resolve(&in_namespace("default"), &container, NODE, &sources()).unwrap();
        assert_eq!(
            env,
            [
                ("APP_LEVEL".to_string(), "info".to_string()),
                ("APP_MODE".to_string(), "slow".to_string()),
                ("DB_PASSWORD".to_string(), "hunter2".to_string()),
            ]
        );
    }

    #[test]
    fn missing_objects_and_keys_fail_unless_optional() {
        let container = |var: EnvVar| Container {
            env: vec![var],
            ..Container::default()
        };
        let missing_object = container(from_config("A", key_ref("gone", "k", false)));
        assert_eq!(
            resolve(&in_namespace("prod"), &missing_object, NODE, &sources()).unwrap_err(),
            "configmap \"gone\" not found in namespace \"prod\""
        );
        let missing_key = container(from_config("A", key_ref("settings", "nope", false)));
        assert_eq!(
            resolve(&in_namespace("prod"), &missing_key, NODE, &sources()).unwrap_err(),
            "couldn't find key nope in configmap prod/settings"
        );
        let optional = container(from_config("A", key_ref("gone", "k", true)));
        assert_eq!(
            resolve(&in_namespace("prod"), &optional, NODE, &sources()).unwrap(),
            []
        );
    }
}
