//! The process a container of an image runs, by Kubernetes' rules for combining the pod's
//! container with the image's config: `command` replaces the image's ENTRYPOINT (and drops its
//! CMD), `args` replaces CMD; the image's ENV comes first and the container's variables win;
//! `workingDir` overrides WORKDIR, and `/` is the default; USER is the image's unless the pod
//! says otherwise.

use oci_spec::image::ImageConfiguration;

use crate::error::ImageError;

/// What the container's own spec says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerProcess<'a> {
    pub command: &'a [String],
    pub args: &'a [String],
    pub env: &'a [(String, String)],
    pub working_dir: &'a str,
}

/// The process to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageProcess {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: String,
    /// The image's USER (`name`, `uid`, `uid:gid`...), resolved in its root later.
    pub user: Option<String>,
}

/// Combines `container` with the config of image `image`.
pub fn image_process(
    image: &str,
    config: &ImageConfiguration,
    container: &ContainerProcess<'_>,
) -> Result<ImageProcess, ImageError> {
    let defaults = config.config().clone().unwrap_or_default();
    let entrypoint = defaults.entrypoint().clone().unwrap_or_default();
    let cmd = defaults.cmd().clone().unwrap_or_default();
    let argv: Vec<String> = match (container.command.is_empty(), container.args.is_empty()) {
        (true, true) => entrypoint.into_iter().chain(cmd).collect(),
        (true, false) => entrypoint
            .into_iter()
            .chain(container.args.to_vec())
            .collect(),
        (false, _) => container
            .command
            .iter()
            .chain(container.args)
            .cloned()
            .collect(),
    };
    if argv.is_empty() {
        return Err(ImageError::NoCommand(image.to_string()));
    }
    let mut env: Vec<(String, String)> = Vec::new();
    for entry in defaults.env().clone().unwrap_or_default() {
        let (name, value) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
        set(&mut env, name, value);
    }
    for (name, value) in container.env {
        set(&mut env, name, value);
    }
    let working_dir = match (container.working_dir, defaults.working_dir()) {
        ("", Some(dir)) if !dir.is_empty() => dir.clone(),
        ("", _) => "/".to_string(),
        (dir, _) => dir.to_string(),
    };
    Ok(ImageProcess {
        argv,
        env,
        working_dir,
        user: defaults.user().clone().filter(|user| !user.is_empty()),
    })
}

/// Sets `name` in place if it is there (the later definition wins), else appends it.
fn set(env: &mut Vec<(String, String)>, name: &str, value: &str) {
    match env.iter_mut().find(|(existing, _)| existing == name) {
        Some(entry) => entry.1 = value.to_string(),
        None => env.push((name.to_string(), value.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn config() -> ImageConfiguration {
        serde_json::from_value(json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Entrypoint": ["/docker-entrypoint.sh"],
                "Cmd": ["nginx", "-g", "daemon off;"],
                "Env": ["PATH=/usr/sbin:/usr/bin", "NGINX_VERSION=1.25"],
                "WorkingDir": "/srv",
                "User": "101:101",
            },
            "rootfs": {"type": "layers", "diff_ids": []},
        }))
        .unwrap()
    }

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(ToString::to_string).collect()
    }

    fn argv(command: &[&str], args: &[&str]) -> Vec<String> {
        let (command, args) = (strings(command), strings(args));
        let container = ContainerProcess {
            command: &command,
            args: &args,
            ..ContainerProcess::default()
        };
        image_process("nginx", &config(), &container).unwrap().argv
    }

    #[test]
    fn command_replaces_entrypoint_and_args_replace_cmd() {
        assert_eq!(
            argv(&[], &[]),
            ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]
        );
        assert_eq!(argv(&["/bin/sh"], &[]), ["/bin/sh"], "CMD is dropped too");
        assert_eq!(argv(&[], &["-v"]), ["/docker-entrypoint.sh", "-v"]);
        assert_eq!(argv(&["/bin/sh"], &["-c", "id"]), ["/bin/sh", "-c", "id"]);
    }

    #[test]
    fn the_containers_variables_win_over_the_images() {
        let env = vec![
            ("NGINX_VERSION".to_string(), "mine".to_string()),
            ("EXTRA".to_string(), "1".to_string()),
        ];
        let container = ContainerProcess {
            env: &env,
            ..ContainerProcess::default()
        };
        let process = image_process("nginx", &config(), &container).unwrap();
        let pairs: Vec<(&str, &str)> = process
            .env
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("PATH", "/usr/sbin:/usr/bin"),
                ("NGINX_VERSION", "mine"),
                ("EXTRA", "1")
            ]
        );
        assert_eq!(process.working_dir, "/srv");
        assert_eq!(process.user.as_deref(), Some("101:101"));
    }

    #[test]
    fn working_dir_defaults_to_the_root_and_the_container_may_set_it() {
        let bare: ImageConfiguration = serde_json::from_value(json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": []},
        }))
        .unwrap();
        let default = image_process("busybox", &bare, &ContainerProcess::default()).unwrap();
        assert_eq!(default.working_dir, "/");
        assert_eq!(default.user, None);
        let set = ContainerProcess {
            working_dir: "/tmp",
            ..ContainerProcess::default()
        };
        assert_eq!(
            image_process("busybox", &config(), &set)
                .unwrap()
                .working_dir,
            "/tmp"
        );
    }

    #[test]
    fn an_image_without_entrypoint_or_cmd_needs_a_command() {
        let empty: ImageConfiguration = serde_json::from_value(json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
        }))
        .unwrap();
        let error = image_process("scratch-app", &empty, &ContainerProcess::default()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "image \"scratch-app\" has neither ENTRYPOINT nor CMD, and the container sets no command"
        );
    }
}
