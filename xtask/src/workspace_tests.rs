//! `cargo xtask test`: what CI runs after fmt and clippy (`.ci/run`). Installs packages, builds
//! every binary (the end-to-end tests launch the debug `flotilla`), then runs the whole
//! workspace's tests.

use crate::cargo::Cargo;
use crate::deps;
use crate::error::XtaskError;
use crate::privilege;
use crate::step;

/// Runs the workspace's tests, forwarding `cargo_test_args` to `cargo test`.
pub fn run(cargo: &Cargo, cargo_test_args: &[String]) -> Result<(), XtaskError> {
    deps::ensure()?;
    if !privilege::is_root() {
        eprintln!(
            "xtask: not running as root: the cgroup and end-to-end tests will skip themselves, or fail if CI is set"
        );
    }
    cargo.run(&["build", "--workspace", "--bins"])?;
    let mut test = cargo.command(&["test", "--workspace"]);
    test.args(cargo_test_args)
        .env("FLOTILLA_BIN", cargo.binary("debug", "flotilla"));
    step::run(&mut test)?;
    Ok(())
}
