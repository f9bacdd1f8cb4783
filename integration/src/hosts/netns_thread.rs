//! Runs test code with its network in a test host.
//!
//! The network namespace is a property of each thread, and a socket stays in the namespace it
//! was created in. So a fresh thread that enters a host's namespace can open listeners and
//! connections there, and hand them back to the test, which then uses them from any thread as
//! if it were on that host. The thread ends with the closure; the test's own threads never
//! leave the root namespace.

use std::fs::File;
use std::panic;
use std::path::Path;
use std::thread;

use anyhow::{Context, Result};
use nix::sched::{CloneFlags, setns};

use super::plan::NETNS_DIR;

/// Runs `work` on a new thread inside network namespace `namespace` and returns its result. A
/// panic in `work` (a failed assertion) is resumed in the caller.
pub fn run_in<T: Send>(namespace: &str, work: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let path = Path::new(NETNS_DIR).join(namespace);
    let handle = File::open(&path)
        .with_context(|| format!("could not open network namespace {}", path.display()))?;
    let joined = thread::scope(|scope| {
        scope
            .spawn(move || {
                setns(&handle, CloneFlags::CLONE_NEWNET)
                    .with_context(|| format!("could not enter network namespace {namespace}"))?;
                work()
            })
            .join()
    });
    match joined {
        Ok(result) => result,
        Err(panic) => panic::resume_unwind(panic),
    }
}
