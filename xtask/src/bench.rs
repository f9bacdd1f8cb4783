//! `cargo xtask bench startup [--json]`: builds the release `flotilla` and runs the startup
//! benchmark of flotilla-integration against it, also in release mode, so that the figures
//! are those of the binary users run.

use crate::cargo::Cargo;
use crate::deps;
use crate::error::XtaskError;
use crate::step;

/// Runs the `bench startup` binary with FLOTILLA_BIN pointing at the release build.
pub fn startup(cargo: &Cargo, json: bool) -> Result<(), XtaskError> {
    deps::ensure()?;
    cargo.run(&["build", "--release", "-p", "flotilla"])?;
    let mut bench = cargo.command(&[
        "run",
        "--release",
        "-p",
        "flotilla-integration",
        "--bin",
        "bench",
        "--",
        "startup",
    ]);
    if json {
        bench.arg("--json");
    }
    bench.env("FLOTILLA_BIN", cargo.binary("release", "flotilla"));
    step::run(&mut bench)?;
    Ok(())
}
