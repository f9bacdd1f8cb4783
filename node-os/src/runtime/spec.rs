//! What a container is made of ([`ContainerSpec`]), the checks a spec must pass before
//! anything is created for it, and how its command is found on the search path.
//!
//! Validation happens up front so a bad spec fails with a precise message and leaves no cgroup
//! or log file behind; the command is resolved here (not left to exec) so "command not found"
//! is its own error, distinct from an executable that fails to run.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::RuntimeError;
use crate::cgroups::ResourceLimits;
use crate::component::component_problem;
use crate::sandbox::Isolation;

/// The search path when the spec's environment sets none; also given to the process.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Longest hostname the kernel accepts (`HOST_NAME_MAX`).
const MAX_HOSTNAME: usize = 64;

/// One container to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    /// Unique among this runtime's containers; names the cgroup, so it must be a safe path
    /// component (ASCII letters, digits, `-`, `_`, `.`; starting with a letter or digit).
    pub id: String,
    /// argv; argv[0] without a `/` is looked up in the `PATH` of `env`, else [`DEFAULT_PATH`]
    /// (on the host, or in the container's root when it is isolated).
    pub command: Vec<String>,
    /// The whole environment of the process (nothing is inherited from the agent), plus
    /// `PATH` = [`DEFAULT_PATH`] when it sets none.
    pub env: Vec<(String, String)>,
    /// Absolute; `/` when absent.
    pub working_dir: Option<PathBuf>,
    /// The hostname in the container's own UTS namespace (an isolated container has its
    /// sandbox's).
    pub hostname: String,
    pub limits: ResourceLimits,
    /// stdout and stderr are appended here; missing parent directories are created.
    pub log_path: PathBuf,
    /// An image container's root, sandbox and restrictions; `None` runs the command on the
    /// host's root (image `host`).
    pub isolation: Option<Isolation>,
}

impl ContainerSpec {
    /// Checks everything that can be checked without touching the system.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        if let Some(reason) = component_problem(&self.id) {
            return Err(RuntimeError::InvalidId {
                id: self.id.clone(),
                reason,
            });
        }
        let invalid = |field, reason| RuntimeError::InvalidSpec {
            id: self.id.clone(),
            field,
            reason,
        };
        match self.command.first() {
            None => return Err(invalid("command", "must not be empty")),
            Some(program) if program.is_empty() => {
                return Err(invalid("command", "program name must not be empty"));
            }
            Some(_) => {}
        }
        if self.command.iter().any(|arg| arg.contains('\0')) {
            return Err(invalid("command", "must not contain NUL bytes"));
        }
        for (key, value) in &self.env {
            if key.is_empty() || key.contains(['=', '\0']) {
                return Err(invalid(
                    "env",
                    "names must be non-empty, without '=' or NUL bytes",
                ));
            }
            if value.contains('\0') {
                return Err(invalid("env", "values must not contain NUL bytes"));
            }
        }
        if let Some(reason) = hostname_problem(&self.hostname) {
            return Err(invalid("hostname", reason));
        }
        if self.working_dir.as_deref().is_some_and(Path::is_relative) {
            return Err(invalid("working_dir", "must be an absolute path"));
        }
        if self.log_path.file_name().is_none() {
            return Err(invalid("log_path", "must name a file"));
        }
        if let Some(isolation) = &self.isolation {
            if component_problem(&isolation.sandbox).is_some() {
                return Err(invalid("sandbox", "must be a safe path component"));
            }
            if isolation.layers.is_empty() {
                return Err(invalid("layers", "an image has at least one layer"));
            }
            if isolation.layers.iter().any(|layer| layer.is_relative()) {
                return Err(invalid("layers", "must be absolute paths"));
            }
            if isolation
                .oci_runtime
                .as_deref()
                .is_some_and(Path::is_relative)
            {
                return Err(invalid("oci_runtime", "must be an absolute path"));
            }
            if let Some(file) = &isolation.termination_log {
                for path in [&file.target, &file.source] {
                    if path.is_relative() || path.file_name().is_none() {
                        return Err(invalid(
                            "termination_log",
                            "must be absolute paths naming files",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The search path for the command: the last `PATH` in `env`, else [`DEFAULT_PATH`].
    pub fn search_path(&self) -> &str {
        self.env
            .iter()
            .rev()
            .find(|(key, _)| key == "PATH")
            .map_or(DEFAULT_PATH, |(_, value)| value.as_str())
    }

    /// The environment the process gets: `env`, plus the default `PATH` if it has none.
    pub(crate) fn process_env(&self) -> Vec<(&str, &str)> {
        let mut env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        if !self.env.iter().any(|(key, _)| key == "PATH") {
            env.push(("PATH", DEFAULT_PATH));
        }
        env
    }

    /// The program to execute. A name with a `/` is used as given (relative to the working
    /// directory); exec reports it if it does not exist.
    pub(crate) fn resolve_program(&self) -> Result<PathBuf, RuntimeError> {
        let name = self.command.first().map_or("", String::as_str);
        if name.contains('/') {
            return Ok(PathBuf::from(name));
        }
        let search_path = self.search_path();
        find_in_path(name, search_path).ok_or_else(|| RuntimeError::CommandNotFound {
            id: self.id.clone(),
            command: name.to_string(),
            search_path: search_path.to_string(),
        })
    }
}

/// The first executable regular file called `name` in the `:`-separated `search_path`.
/// Empty entries (which would mean the agent's current directory) are skipped.
pub fn find_in_path(name: &str, search_path: &str) -> Option<PathBuf> {
    search_path
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(name))
        .find(|candidate| is_executable_file(candidate))
}

fn is_executable_file(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

fn hostname_problem(hostname: &str) -> Option<&'static str> {
    if hostname.is_empty() {
        return Some("must not be empty");
    }
    if hostname.len() > MAX_HOSTNAME {
        return Some("must be at most 64 bytes long");
    }
    if !hostname
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
    {
        return Some("may only contain ASCII letters, digits, '-' and '.'");
    }
    None
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::sandbox::FileMount;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            id: "web-1".to_string(),
            command: vec!["sh".to_string(), "-c".to_string(), "true".to_string()],
            env: vec![("LANG".to_string(), "C".to_string())],
            working_dir: None,
            hostname: "web-1".to_string(),
            limits: ResourceLimits::default(),
            log_path: PathBuf::from("/var/log/flotilla/web-1.log"),
            isolation: None,
        }
    }

    fn field_of(result: Result<(), RuntimeError>) -> &'static str {
        match result {
            Err(RuntimeError::InvalidSpec { field, .. }) => field,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_good_spec_passes() {
        spec().validate().unwrap();
    }

    #[test]
    fn unsafe_ids_are_rejected() {
        for id in ["", "../x", "a/b", ".x"] {
            let spec = ContainerSpec {
                id: id.to_string(),
                ..spec()
            };
            assert!(
                matches!(spec.validate(), Err(RuntimeError::InvalidId { .. })),
                "{id:?}"
            );
        }
    }

    #[test]
    fn bad_fields_are_named() {
        let mut s = spec();
        s.command.clear();
        assert_eq!(field_of(s.validate()), "command");

        let mut s = spec();
        s.command = vec![String::new()];
        assert_eq!(field_of(s.validate()), "command");

        let mut s = spec();
        s.command.push("a\0b".to_string());
        assert_eq!(field_of(s.validate()), "command");

        let mut s = spec();
        s.env.push(("A=B".to_string(), "x".to_string()));
        assert_eq!(field_of(s.validate()), "env");

        let mut s = spec();
        s.hostname = "under_score".to_string();
        assert_eq!(field_of(s.validate()), "hostname");

        let mut s = spec();
        s.hostname = "a".repeat(65);
        assert_eq!(field_of(s.validate()), "hostname");

        let mut s = spec();
        s.working_dir = Some(PathBuf::from("relative"));
        assert_eq!(field_of(s.validate()), "working_dir");

        let mut s = spec();
        s.log_path = PathBuf::from("/");
        assert_eq!(field_of(s.validate()), "log_path");

        let isolation = Isolation {
            sandbox: "pod-uid".into(),
            layers: vec![PathBuf::from("/layers/1")],
            user: None,
            security: crate::sandbox::Security::default(),
            oci_runtime: None,
            termination_log: Some(FileMount {
                target: PathBuf::from("/dev/termination-log"),
                source: PathBuf::from("/logs/web.termination-log"),
            }),
        };
        let mut s = spec();
        s.isolation = Some(isolation.clone());
        s.validate().unwrap();
        s.isolation = Some(Isolation {
            sandbox: "../x".into(),
            ..isolation.clone()
        });
        assert_eq!(field_of(s.validate()), "sandbox");
        s.isolation = Some(Isolation {
            layers: Vec::new(),
            ..isolation.clone()
        });
        assert_eq!(field_of(s.validate()), "layers");
        s.isolation = Some(Isolation {
            layers: vec![PathBuf::from("rel")],
            ..isolation.clone()
        });
        assert_eq!(field_of(s.validate()), "layers");
        s.isolation = Some(Isolation {
            oci_runtime: Some(PathBuf::from("runc")),
            ..isolation.clone()
        });
        assert_eq!(field_of(s.validate()), "oci_runtime");
        for (target, source) in [("dev/termination-log", "/l/t"), ("/", "/l/t"), ("/t", "t")] {
            s.isolation = Some(Isolation {
                termination_log: Some(FileMount {
                    target: PathBuf::from(target),
                    source: PathBuf::from(source),
                }),
                ..isolation.clone()
            });
            assert_eq!(
                field_of(s.validate()),
                "termination_log",
                "{target} {source}"
            );
        }
    }

    #[test]
    fn path_defaults_and_is_passed_to_the_process() {
        let s = spec();
        assert_eq!(s.search_path(), DEFAULT_PATH);
        assert!(s.process_env().contains(&("PATH", DEFAULT_PATH)));

        let mut s = spec();
        s.env.push(("PATH".to_string(), "/opt/bin".to_string()));
        assert_eq!(s.search_path(), "/opt/bin");
        assert_eq!(
            s.process_env()
                .iter()
                .filter(|(key, _)| *key == "PATH")
                .count(),
            1
        );
    }

    #[test]
    fn resolves_only_executable_files_on_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("tool");
        fs::write(&plain, "#!/bin/sh\n").unwrap();
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).unwrap();
        let runnable = bin.join("tool");
        fs::write(&runnable, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&runnable, fs::Permissions::from_mode(0o755)).unwrap();

        let mut s = spec();
        s.command = vec!["tool".to_string()];
        s.env = vec![(
            "PATH".to_string(),
            format!("::{}:{}", dir.path().display(), bin.display()),
        )];
        assert_eq!(s.resolve_program().unwrap(), runnable);

        s.env = vec![("PATH".to_string(), dir.path().display().to_string())];
        match s.resolve_program() {
            Err(RuntimeError::CommandNotFound { id, command, .. }) => {
                assert_eq!(id, "web-1");
                assert_eq!(command, "tool");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn names_with_a_slash_are_taken_as_given() {
        let mut s = spec();
        s.command = vec!["./run".to_string()];
        assert_eq!(s.resolve_program().unwrap(), PathBuf::from("./run"));
    }
}
