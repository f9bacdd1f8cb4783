//! What a test that needs root or working cgroups does when it cannot have them: on a
//! developer's machine it skips, saying so where `cargo test` cannot hide it; under CI (`CI`
//! set, as CI systems set it) it fails, so that a green CI run means that every such test ran.
//!
//! The policy is one pure function, [`decide`], of what the host offers and of `CI`; the
//! `*_or_skip` functions are its thin drivers for tests. Both node-os's unit tests and the
//! end-to-end tests use it, which is why it is a crate of its own: node-os cannot depend on
//! flotilla-integration. Only tests use it.

use std::env;
use std::ffi::OsStr;
use std::io::Write;

/// The environment variable CI systems set (`CI=true` on GitHub Actions, GitLab, Buildkite,
/// CircleCI, Travis; `.ci/run` sets it too).
pub const CI_VARIABLE: &str = "CI";

/// What a test that needs root, and maybe cgroups, does on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// It has what it needs.
    Run,
    /// It returns early, after saying why: a developer's machine without root or cgroups.
    Skip { reason: String },
    /// It fails with this message: under CI a test that cannot run is an error.
    Fail { reason: String },
}

/// Decides whether a test runs, skips or fails.
///
/// `root`: whether the process runs as root. `cgroups_error`: why the cgroup hierarchy could
/// not be used, when the test tried it (`None` when it worked or was not tried). `ci`: the
/// value of `CI`, if set (see [`ci_is_set`]).
pub fn decide(root: bool, cgroups_error: Option<&str>, ci: Option<&OsStr>) -> Decision {
    let reason = match (root, cgroups_error) {
        (true, None) => return Decision::Run,
        (false, _) => {
            "needs root (cgroups, namespaces); run the tests as root (`cargo xtask test`)"
                .to_owned()
        }
        (true, Some(error)) => format!("needs usable cgroups, but {error}"),
    };
    if ci_is_set(ci) {
        Decision::Fail {
            reason: format!("{reason}; CI is set, so this is a failure, not a skip"),
        }
    } else {
        Decision::Skip { reason }
    }
}

/// Whether a value of `CI` means "this is CI": set, non-empty, and not `false` or `0` (some
/// developers export `CI=false` to say they are not).
pub fn ci_is_set(value: Option<&OsStr>) -> bool {
    match value {
        None => false,
        Some(value) => !(value.is_empty() || value == "0" || value.eq_ignore_ascii_case("false")),
    }
}

/// For a test that needs root: true when it may go on; false, once it said why, when it must
/// return; it panics (fails) instead when CI is set.
pub fn root_or_skip(test: &str) -> bool {
    settle(
        test,
        decide(nix::unistd::geteuid().is_root(), None, ci().as_deref()),
    )
}

/// For a test that runs as root but found the cgroup hierarchy unusable (`error` says how):
/// returns after saying why it skips, or panics (fails) when CI is set.
pub fn skip_without_cgroups(test: &str, error: &str) {
    settle(test, decide(true, Some(error), ci().as_deref()));
}

fn ci() -> Option<std::ffi::OsString> {
    env::var_os(CI_VARIABLE)
}

/// Carries out `decision` for `test`. A skip is written to the process's stderr directly:
/// libtest captures `eprintln!` of passing tests, and a silent skip looks like a pass.
fn settle(test: &str, decision: Decision) -> bool {
    match decision {
        Decision::Run => true,
        Decision::Skip { reason } => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: {reason} (with CI set this fails)"
            );
            false
        }
        Decision::Fail { reason } => panic!("{test} cannot run: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ci(value: &str) -> Option<&OsStr> {
        Some(OsStr::new(value))
    }

    #[test]
    fn root_with_working_cgroups_runs_whatever_ci_says() {
        assert_eq!(decide(true, None, None), Decision::Run);
        assert_eq!(decide(true, None, ci("true")), Decision::Run);
    }

    #[test]
    fn without_root_it_skips_on_a_developer_machine_and_fails_under_ci() {
        assert!(matches!(
            decide(false, None, None),
            Decision::Skip { reason } if reason.starts_with("needs root")
        ));
        assert!(matches!(
            decide(false, None, ci("true")),
            Decision::Fail { reason } if reason.starts_with("needs root")
                && reason.contains("CI is set")
        ));
    }

    #[test]
    fn unusable_cgroups_skip_or_fail_with_the_error() {
        let error = Some("cgroup2 is mounted read-only");
        assert_eq!(
            decide(true, error, None),
            Decision::Skip {
                reason: "needs usable cgroups, but cgroup2 is mounted read-only".into()
            }
        );
        assert!(matches!(
            decide(true, error, ci("1")),
            Decision::Fail { reason } if reason.contains("cgroup2 is mounted read-only")
        ));
    }

    #[test]
    fn ci_counts_when_set_non_empty_and_not_false_or_zero() {
        for set in ["true", "1", "yes", "woodpecker"] {
            assert!(ci_is_set(ci(set)), "CI={set}");
        }
        assert!(!ci_is_set(None));
        for unset in ["", "0", "false", "FALSE", "False"] {
            assert!(!ci_is_set(ci(unset)), "CI={unset}");
        }
    }

    #[test]
    fn a_skip_returns_false_and_a_run_true() {
        assert!(settle("t", Decision::Run));
        assert!(!settle(
            "t",
            Decision::Skip {
                reason: "needs root".into()
            }
        ));
    }

    #[test]
    #[should_panic(expected = "t cannot run: needs root")]
    fn a_failure_fails_the_test() {
        settle(
            "t",
            Decision::Fail {
                reason: "needs root".into(),
            },
        );
    }
}
