//! Finds the `flotilla` binary under test.
//!
//! `FLOTILLA_BIN` wins (xtask sets it); otherwise the binary is looked up beside the running
//! executable, because cargo puts test executables in `target/<profile>/deps/` and binaries in
//! `target/<profile>/`, so the tests use the build of the same profile without configuration.

use std::env;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The path of the `flotilla` binary to test.
pub fn flotilla_binary() -> Result<PathBuf> {
    if let Some(path) = env::var_os("FLOTILLA_BIN").filter(|path| !path.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("FLOTILLA_BIN={} is not a file", path.display());
        }
        return Ok(path);
    }
    let exe = env::current_exe().context("could not tell where this executable is")?;
    let candidates = candidates_beside(&exe);
    candidates
        .iter()
        .find(|candidate| candidate.is_file())
        .cloned()
        .with_context(|| {
            format!(
                "no flotilla binary at {}; build it (`cargo build -p flotilla`) or set FLOTILLA_BIN",
                candidates
                    .iter()
                    .map(|path| path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )
        })
}

/// Where `flotilla` would be for an executable at `exe`: in its directory (a binary such as
/// `bench` in `target/release/`), or one level up (a test in `target/debug/deps/`).
fn candidates_beside(exe: &Path) -> Vec<PathBuf> {
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("flotilla"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_beside_the_executable_then_one_level_up() {
        let candidates = candidates_beside(Path::new("/t/debug/deps/restart-0123abcd"));
        assert_eq!(
            candidates,
            vec![
                PathBuf::from("/t/debug/deps/flotilla"),
                PathBuf::from("/t/debug/flotilla")
            ]
        );
    }
}
