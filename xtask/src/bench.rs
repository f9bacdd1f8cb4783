//! `cargo xtask bench NAME [--json]`: builds the release `flotilla` and runs benchmark NAME of
//! flotilla-integration's `bench` binary against it, also in release mode, so that the figures
//! are those of the binary users run. Both are built with the package set of every release
//! build (`cargo::release_build_args`), so they share RocksDB and the rest with `cargo xtask up`.

use std::process::Command;

use crate::cargo::Cargo;
use crate::deps;
use crate::error::XtaskError;
use crate::step;

/// The benchmarks the `bench` binary knows.
pub const KNOWN: [&str; 8] = [
    "startup",
    "failover",
    "transport",
    "store",
    "api",
    "pod-start",
    "network",
    "scheduler",
];

/// The binaries `bench` builds: the one measured and the one measuring.
pub const BINARIES: [&str; 2] = ["flotilla", "bench"];

/// Runs `bench NAME` with FLOTILLA_BIN pointing at the release build.
pub fn run(cargo: &Cargo, name: &str, json: bool) -> Result<(), XtaskError> {
    deps::ensure()?;
    match name {
        "store" => deps::ensure_packages(deps::ETCD_PACKAGES)?,
        "pod-start" => deps::ensure_packages(deps::CONTAINER_RUNTIME_PACKAGES)?,
        "network" => deps::ensure_packages(deps::NETWORK_BENCH_PACKAGES)?,
        _ => {}
    }
    cargo.build_release(&BINARIES)?;
    let mut bench = Command::new(cargo.binary("release", "bench"));
    bench.arg(name).current_dir(cargo.workspace_root());
    if json {
        bench.arg("--json");
    }
    bench.env("FLOTILLA_BIN", cargo.binary("release", "flotilla"));
    step::run(&mut bench)?;
    Ok(())
}
