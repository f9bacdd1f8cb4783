//! `cargo xtask bench NAME [--json]`: builds the release `flotilla` and runs benchmark NAME of
//! flotilla-integration's `bench` binary against it, also in release mode, so that the figures
//! are those of the binary users run.

use crate::cargo::Cargo;
use crate::deps;
use crate::error::XtaskError;
use crate::step;

/// The benchmarks the `bench` binary knows.
pub const KNOWN: [&str; 5] = ["startup", "failover", "transport", "store", "api"];

/// Runs `bench NAME` with FLOTILLA_BIN pointing at the release build.
pub fn run(cargo: &Cargo, name: &str, json: bool) -> Result<(), XtaskError> {
    deps::ensure()?;
    if name == "store" {
        deps::ensure_packages(deps::ETCD_PACKAGES)?;
    }
    cargo.run(&["build", "--release", "-p", "flotilla"])?;
    let mut bench = cargo.command(&[
        "run",
        "--release",
        "-p",
        "flotilla-integration",
        "--bin",
        "bench",
        "--",
        name,
    ]);
    if json {
        bench.arg("--json");
    }
    bench.env("FLOTILLA_BIN", cargo.binary("release", "flotilla"));
    step::run(&mut bench)?;
    Ok(())
}
