//! `cargo xtask up`: builds the release binary and runs a whole single-machine cluster in the
//! foreground.
//!
//! xtask replaces itself with `flotilla up` (exec) rather than waiting for it, so that Ctrl-C
//! and SIGTERM reach flotilla directly and its clean shutdown is not cut short by a parent
//! dying first.

use std::convert::Infallible;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::cargo::Cargo;
use crate::deps;
use crate::error::XtaskError;

/// The binaries `up` builds.
pub const BINARIES: [&str; 1] = ["flotilla"];

/// Installs packages, builds `flotilla` in release mode, prints how to talk to it and execs
/// `flotilla up` with `flotilla_args`. Returns only on failure.
pub fn run(cargo: &Cargo, flotilla_args: &[String]) -> Result<Infallible, XtaskError> {
    deps::ensure()?;
    cargo.build_release(&BINARIES)?;
    let binary = cargo.binary("release", "flotilla");
    println!("{}", instructions(&binary, cargo.workspace_root()));
    let source = Command::new(&binary).arg("up").args(flotilla_args).exec();
    Err(XtaskError::Launch {
        path: binary,
        source,
    })
}

/// What to tell the developer before the cluster takes over the terminal.
fn instructions(binary: &Path, workspace: &Path) -> String {
    let bin = binary.display();
    let example = workspace.join("examples").join("web.yaml");
    let example = example.display();
    format!(
        "flotilla binary: {bin}\n\
         Starting `flotilla up` in the foreground (Ctrl-C stops it and its pods).\n\
         From another terminal (it writes ~/.flotilla/config on first start):\n\
         \x20 {bin} get nodes\n\
         \x20 {bin} apply -f {example}\n\
         \x20 {bin} get pods -o wide\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_name_the_binary_and_the_example() {
        let text = instructions(
            Path::new("/cache/release/flotilla"),
            Path::new("/work/main"),
        );
        assert!(text.contains("flotilla binary: /cache/release/flotilla\n"));
        assert!(text.contains("  /cache/release/flotilla get nodes\n"));
        assert!(text.contains("  /cache/release/flotilla apply -f /work/main/examples/web.yaml\n"));
    }
}
