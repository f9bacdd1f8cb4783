//! Root check for the end-to-end tests: they create cgroups and namespaces, which only root
//! may do, so as another user they say why they skip instead of failing.

use nix::unistd::geteuid;

/// True when running as root; otherwise prints that `test` is skipped and returns false.
pub fn running_as_root_or_skip(test: &str) -> bool {
    let root = geteuid().is_root();
    if !root {
        eprintln!(
            "skipping {test}: needs root (cgroups and namespaces); run `cargo xtask test` as root"
        );
    }
    root
}
