//! Runs cargo on the flotilla workspace with one shared target directory.
//!
//! Every child cargo gets `CARGO_TARGET_DIR` set explicitly (the caller's, else
//! `$HOME/.cache/flotilla-target`) so that builds from `xtask up`, `xtask test` and `xtask bench`
//! share one cache that lives outside the work tree, and so that xtask knows where the binaries
//! it then launches are.

use std::env;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::step::{self, StepError};

/// Where the shared cache goes, below `$HOME`, when `CARGO_TARGET_DIR` is not set.
const DEFAULT_TARGET_BELOW_HOME: &str = ".cache/flotilla-target";

/// Why the target directory could not be chosen.
#[derive(Debug)]
pub enum TargetDirError {
    /// Neither `CARGO_TARGET_DIR` nor `HOME` is set.
    NoHome,
}

impl fmt::Display for TargetDirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoHome => write!(
                f,
                "neither CARGO_TARGET_DIR nor HOME is set; set CARGO_TARGET_DIR to choose where builds go"
            ),
        }
    }
}

impl std::error::Error for TargetDirError {}

/// The cargo program plus the workspace and target directory every child command uses.
pub struct Cargo {
    program: OsString,
    workspace_root: PathBuf,
    target_dir: PathBuf,
}

impl Cargo {
    /// Uses the cargo that runs xtask (`$CARGO`), the workspace xtask belongs to and the target
    /// directory from the environment.
    ///
    /// The workspace comes from the `CARGO_MANIFEST_DIR` that `cargo run` sets at run time, not
    /// the one compiled in: the shared target directory may hold an xtask built in another
    /// clone of the repository.
    pub fn from_env() -> Result<Self, TargetDirError> {
        let cwd = env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let workspace_root = env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .and_then(|xtask| xtask.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| cwd.clone());
        let target_dir =
            resolve_target_dir(env::var_os("CARGO_TARGET_DIR"), env::var_os("HOME"), &cwd)?;
        Ok(Self {
            program: env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")),
            workspace_root,
            target_dir,
        })
    }

    /// The root of the flotilla workspace (where `examples/` lives).
    pub fn workspace_root(&self) -> &Path {
        &self.workspace_root
    }

    /// The path of a binary built by `cargo build` in the given profile directory
    /// (`debug` or `release`).
    pub fn binary(&self, profile: &str, name: &str) -> PathBuf {
        self.target_dir.join(profile).join(name)
    }

    /// A cargo command with the workspace as working directory and the target dir set, without
    /// the variables `cargo run` set for xtask itself (see [`is_set_by_cargo_run`]).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(args)
            .current_dir(&self.workspace_root)
            .env("CARGO_TARGET_DIR", &self.target_dir);
        for (name, _) in env::vars_os() {
            if is_set_by_cargo_run(&name) {
                command.env_remove(name);
            }
        }
        command
    }

    /// Runs cargo with `args` and fails unless it exits successfully.
    pub fn run(&self, args: &[&str]) -> Result<(), StepError> {
        step::run(&mut self.command(args))
    }

    /// Builds `bins` in release mode the one way every xtask command does (see
    /// [`release_build_args`]).
    pub fn build_release(&self, bins: &[&str]) -> Result<(), StepError> {
        self.run(&release_build_args(bins))
    }
}

/// The release build of `bins`: always the whole workspace's package set, narrowed to the
/// binaries wanted with `--bin`.
///
/// Cargo unifies features over the packages one invocation selects (`-p`, `--workspace`), not
/// over the targets it builds. `-p flotilla` and `-p flotilla-integration` gave bindgen's
/// dependencies (itertools, regex, bitflags, memchr) different features, since the etcd
/// client's build dependencies widen them, so bindgen was built twice and RocksDB
/// (librocksdb-sys) with it: about 18 minutes on a 2-core machine. Selecting the whole
/// workspace every time gives every crate one feature set, so whichever binaries a command
/// builds, what they share is built once.
pub fn release_build_args<'a>(bins: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["build", "--release", "--workspace"];
    for bin in bins {
        args.extend(["--bin", bin]);
    }
    args
}

/// Whether `name` is one of the variables `cargo run` sets for the program it runs (here
/// xtask, about xtask), which must not reach the cargo that xtask starts: build scripts that
/// watch one of them would see it change between `cargo xtask ...` and a plain `cargo build`
/// and run again. ring's watches CARGO_MANIFEST_DIR, so each switch rebuilt ring and, after
/// it, rustls, quinn and every workspace crate.
fn is_set_by_cargo_run(name: &OsStr) -> bool {
    name.to_str().is_some_and(|name| {
        name.starts_with("CARGO_PKG_")
            || matches!(
                name,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            )
    })
}

/// Chooses the target directory: `CARGO_TARGET_DIR` if set and non-empty (made absolute
/// against `cwd`, as cargo itself would), else `$HOME/.cache/flotilla-target`.
pub fn resolve_target_dir(
    explicit: Option<OsString>,
    home: Option<OsString>,
    cwd: &Path,
) -> Result<PathBuf, TargetDirError> {
    match (explicit.filter(|dir| !dir.is_empty()), home) {
        (Some(dir), _) => Ok(cwd.join(dir)),
        (None, Some(home)) if !home.is_empty() => {
            Ok(PathBuf::from(home).join(DEFAULT_TARGET_BELOW_HOME))
        }
        (None, _) => Err(TargetDirError::NoHome),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_target_dir_wins_over_home() {
        let dir = resolve_target_dir(
            Some("/tmp/t".into()),
            Some("/home/dev".into()),
            Path::new("/work"),
        );
        assert_eq!(dir.unwrap(), PathBuf::from("/tmp/t"));
    }

    #[test]
    fn relative_target_dir_is_taken_from_the_current_directory() {
        let dir = resolve_target_dir(Some("out".into()), None, Path::new("/work/main"));
        assert_eq!(dir.unwrap(), PathBuf::from("/work/main/out"));
    }

    #[test]
    fn default_is_the_cache_below_home() {
        let dir = resolve_target_dir(Some("".into()), Some("/root".into()), Path::new("/w"));
        assert_eq!(dir.unwrap(), PathBuf::from("/root/.cache/flotilla-target"));
    }

    #[test]
    fn without_home_or_target_dir_it_is_an_error() {
        let error = resolve_target_dir(None, None, Path::new("/w")).unwrap_err();
        assert!(error.to_string().contains("CARGO_TARGET_DIR"));
    }

    /// The arguments of a release build less its `--bin NAME` pairs: what decides features.
    fn package_selection<'a>(args: &[&'a str]) -> Vec<&'a str> {
        let mut selection = Vec::new();
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            if *arg == "--bin" {
                rest.next();
            } else {
                selection.push(*arg);
            }
        }
        selection
    }

    #[test]
    fn up_and_bench_build_release_with_one_package_set() {
        let up = release_build_args(&crate::up::BINARIES);
        let bench = release_build_args(&crate::bench::BINARIES);
        assert_eq!(package_selection(&up), package_selection(&bench));
        assert_eq!(
            package_selection(&up),
            ["build", "--release", "--workspace"]
        );
        assert_eq!(&bench[3..], ["--bin", "flotilla", "--bin", "bench"]);
    }

    #[test]
    fn what_cargo_run_sets_for_xtask_is_kept_from_child_cargo() {
        for name in [
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_PKG_VERSION",
            "CARGO_PKG_NAME",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
            "CARGO_PRIMARY_PACKAGE",
        ] {
            assert!(is_set_by_cargo_run(OsStr::new(name)), "{name}");
        }
        for name in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "RUSTUP_TOOLCHAIN",
            "PATH",
        ] {
            assert!(!is_set_by_cargo_run(OsStr::new(name)), "{name}");
        }
    }

    #[test]
    fn child_commands_carry_the_target_dir() {
        let cargo = Cargo {
            program: "cargo".into(),
            workspace_root: PathBuf::from("/work/main"),
            target_dir: PathBuf::from("/cache/t"),
        };
        let command = cargo.command(&["build"]);
        let target = command
            .get_envs()
            .find(|(key, _)| *key == "CARGO_TARGET_DIR")
            .and_then(|(_, value)| value);
        assert_eq!(target, Some(Path::new("/cache/t").as_os_str()));
        assert_eq!(command.get_current_dir(), Some(Path::new("/work/main")));
        // cargo sets CARGO_MANIFEST_DIR for this test as `cargo run` does for xtask.
        assert!(env::var_os("CARGO_MANIFEST_DIR").is_some());
        let manifest_dir = command
            .get_envs()
            .find(|(key, _)| *key == "CARGO_MANIFEST_DIR");
        assert_eq!(manifest_dir, Some((OsStr::new("CARGO_MANIFEST_DIR"), None)));
        assert_eq!(
            cargo.binary("release", "flotilla"),
            PathBuf::from("/cache/t/release/flotilla")
        );
    }
}
