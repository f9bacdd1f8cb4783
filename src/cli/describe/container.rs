//! The containers part of a pod's or a pod template's view: what each container runs, its
//! resources and environment, and (for a pod) its current and last state, readiness and
//! restarts — what an operator looks at first when a pod misbehaves.

use std::collections::BTreeMap;

use flotilla_kernel::object::{
    Container, ContainerState, ContainerStatus, EnvFromSource, EnvVar, EnvVarSource, Quantity,
};

use super::layout::Layout;
use super::meta::timestamp;

/// One section per container, at `level` (`<none>` without any); `statuses` are matched to containers by name.
pub fn containers(
    layout: &mut Layout,
    level: usize,
    containers: &[Container],
    statuses: &[ContainerStatus],
) {
    if containers.is_empty() {
        layout.field(level, "Containers", "<none>");
        return;
    }
    layout.section(level, "Containers");
    for container in containers {
        let status = statuses.iter().find(|status| status.name == container.name);
        one(layout, level + 1, container, status);
    }
}

fn one(layout: &mut Layout, level: usize, container: &Container, status: Option<&ContainerStatus>) {
    layout.section(level, &container.name);
    let inner = level + 1;
    if let Some(status) = status.filter(|status| !status.container_id.is_empty()) {
        layout.field(inner, "Container ID", status.container_id.as_str());
    }
    layout.field(inner, "Image", container.image.as_str());
    words(layout, inner, "Command", &container.command);
    words(layout, inner, "Args", &container.args);
    if !container.working_dir.is_empty() {
        layout.field(inner, "Working Dir", container.working_dir.as_str());
    }
    if let Some(status) = status {
        state(layout, inner, "State", &status.state);
        if has_state(&status.last_state) {
            state(layout, inner, "Last State", &status.last_state);
        }
        let ready = if status.ready { "True" } else { "False" };
        layout.field(inner, "Ready", ready);
        layout.field(inner, "Restart Count", status.restart_count.to_string());
    }
    quantities(layout, inner, "Limits", &container.resources.limits);
    quantities(layout, inner, "Requests", &container.resources.requests);
    if !container.env_from.is_empty() {
        layout.section(inner, "Environment Variables from");
        for source in &container.env_from {
            layout.text(inner + 1, env_from(source));
        }
    }
    if container.env.is_empty() {
        layout.field(inner, "Environment", "<none>");
    } else {
        layout.section(inner, "Environment");
        for variable in &container.env {
            layout.field(inner + 1, &variable.name, env_value(variable));
        }
    }
}

/// A variable's literal value, or where it comes from, as kubectl describes it.
fn env_value(variable: &EnvVar) -> String {
    let from = variable.value_from.as_ref();
    let (kind, selector) = match from {
        Some(EnvVarSource {
            config_map_key_ref: Some(selector),
            ..
        }) => ("config map", selector),
        Some(EnvVarSource {
            secret_key_ref: Some(selector),
            ..
        }) => ("secret", selector),
        _ => return variable.value.clone(),
    };
    let optional = selector.optional.unwrap_or(false);
    format!(
        "<set to the key '{}' in {kind} '{}'>  Optional: {optional}",
        selector.key, selector.name
    )
}

fn env_from(source: &EnvFromSource) -> String {
    let (kind, selector) = match (&source.config_map_ref, &source.secret_ref) {
        (Some(selector), _) => ("ConfigMap", selector),
        (None, Some(selector)) => ("Secret", selector),
        (None, None) => return String::new(),
    };
    let optional = selector.optional.unwrap_or(false);
    let prefix = match source.prefix.as_str() {
        "" => String::new(),
        prefix => format!(" with prefix '{prefix}'"),
    };
    format!("{}  {kind}{prefix}  Optional: {optional}", selector.name)
}

/// A command or its arguments, one word a line, as kubectl shows them.
fn words(layout: &mut Layout, level: usize, key: &str, words: &[String]) {
    if words.is_empty() {
        return;
    }
    layout.section(level, key);
    for word in words {
        layout.text(level + 1, word.as_str());
    }
}

fn quantities(
    layout: &mut Layout,
    level: usize,
    key: &str,
    quantities: &BTreeMap<String, Quantity>,
) {
    if quantities.is_empty() {
        return;
    }
    layout.section(level, key);
    for (resource, quantity) in quantities {
        layout.field(level + 1, resource, quantity.0.as_str());
    }
}

fn has_state(state: &ContainerState) -> bool {
    state.waiting.is_some() || state.running.is_some() || state.terminated.is_some()
}

/// `State:  Running` and the details of that state one level deeper.
fn state(layout: &mut Layout, level: usize, key: &str, state: &ContainerState) {
    let details = level + 1;
    if let Some(terminated) = &state.terminated {
        layout.field(level, key, "Terminated");
        if !terminated.reason.is_empty() {
            layout.field(details, "Reason", terminated.reason.as_str());
        }
        if !terminated.message.is_empty() {
            layout.field(details, "Message", terminated.message.as_str());
        }
        layout.field(details, "Exit Code", terminated.exit_code.to_string());
        if let Some(signal) = terminated.signal.filter(|signal| *signal != 0) {
            layout.field(details, "Signal", signal.to_string());
        }
        layout.field(
            details,
            "Started",
            timestamp(terminated.started_at.as_ref()),
        );
        layout.field(
            details,
            "Finished",
            timestamp(terminated.finished_at.as_ref()),
        );
    } else if let Some(running) = &state.running {
        layout.field(level, key, "Running");
        layout.field(details, "Started", timestamp(running.started_at.as_ref()));
    } else {
        layout.field(level, key, "Waiting");
        if let Some(waiting) = &state.waiting {
            if !waiting.reason.is_empty() {
                layout.field(details, "Reason", waiting.reason.as_str());
            }
            if !waiting.message.is_empty() {
                layout.field(details, "Message", waiting.message.as_str());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{
        ContainerStateTerminated, ContainerStateWaiting, KeySelector, ObjectSelector,
    };

    use super::*;

    #[test]
    fn a_crashing_container() {
        let mut container = Container {
            name: "web".to_string(),
            image: "host".to_string(),
            command: vec!["/bin/sh".to_string(), "-c".to_string()],
            args: vec!["exit 1".to_string()],
            env: vec![
                EnvVar {
                    name: "MODE".to_string(),
                    value: "prod".to_string(),
                    ..EnvVar::default()
                },
                EnvVar {
                    name: "TOKEN".to_string(),
                    value_from: Some(EnvVarSource {
                        secret_key_ref: Some(KeySelector {
                            name: "creds".to_string(),
                            key: "token".to_string(),
                            optional: None,
                        }),
                        ..EnvVarSource::default()
                    }),
                    ..EnvVar::default()
                },
            ],
            env_from: vec![EnvFromSource {
                prefix: "APP_".to_string(),
                config_map_ref: Some(ObjectSelector {
                    name: "settings".to_string(),
                    optional: Some(true),
                }),
                ..EnvFromSource::default()
            }],
            ..Container::default()
        };
        container
            .resources
            .limits
            .insert("memory".to_string(), Quantity("128Mi".to_string()));
        let status = ContainerStatus {
            name: "web".to_string(),
            restart_count: 4,
            state: ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: "CrashLoopBackOff".to_string(),
                    ..ContainerStateWaiting::default()
                }),
                ..ContainerState::default()
            },
            last_state: ContainerState {
                terminated: Some(ContainerStateTerminated {
                    reason: "Error".to_string(),
                    exit_code: 1,
                    ..ContainerStateTerminated::default()
                }),
                ..ContainerState::default()
            },
            ..ContainerStatus::default()
        };
        let mut layout = Layout::default();
        containers(&mut layout, 0, &[container], &[status]);
        assert_eq!(
            layout.render(),
            "Containers:\n\
             \x20 web:\n\
             \x20   Image:  host\n\
             \x20   Command:\n\
             \x20     /bin/sh\n\
             \x20     -c\n\
             \x20   Args:\n\
             \x20     exit 1\n\
             \x20   State:          Waiting\n\
             \x20     Reason:       CrashLoopBackOff\n\
             \x20   Last State:     Terminated\n\
             \x20     Reason:       Error\n\
             \x20     Exit Code:    1\n\
             \x20     Started:      <unset>\n\
             \x20     Finished:     <unset>\n\
             \x20   Ready:          False\n\
             \x20   Restart Count:  4\n\
             \x20   Limits:\n\
             \x20     memory:  128Mi\n\
             \x20   Environment Variables from:\n\
             \x20     settings  ConfigMap with prefix 'APP_'  Optional: true\n\
             \x20   Environment:\n\
             \x20     MODE:   prod\n\
             \x20     TOKEN:  <set to the key 'token' in secret 'creds'>  Optional: false\n"
        );
    }
}
