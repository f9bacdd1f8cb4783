//! A cgroup root of its own for one root-only test, removed with everything in it when the
//! test ends, even by panicking. Without root or usable cgroups a test skips, saying so, or
//! fails when `CI` is set (flotilla-test-policy decides).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{Cgroups, SystemCgroups};

static NEXT: AtomicUsize = AtomicUsize::new(0);

pub(crate) struct TestRoot {
    cgroups: SystemCgroups,
}

impl TestRoot {
    /// A fresh root `flotilla-test-<pid>-<n>`, or `None` (after saying why) when the test
    /// cannot run here and may skip; under CI it panics instead.
    pub(crate) fn new() -> Option<Self> {
        // libtest names each test's thread after the test.
        let current = std::thread::current();
        let test = current.name().unwrap_or("a cgroup test");
        if !flotilla_test_policy::root_or_skip(test) {
            return None;
        }
        let name = format!(
            "flotilla-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        match SystemCgroups::new(&name) {
            Ok(cgroups) => Some(Self { cgroups }),
            Err(error) => {
                flotilla_test_policy::skip_without_cgroups(test, &error.to_string());
                None
            }
        }
    }

    pub(crate) fn cgroups(&self) -> &SystemCgroups {
        &self.cgroups
    }

    pub(crate) fn name(&self) -> &str {
        self.cgroups.root_name()
    }
}

impl Drop for TestRoot {
    fn drop(&mut self) {
        for name in self.cgroups.list().unwrap_or_default() {
            if let Err(error) = self.cgroups.kill_and_remove(&name, Duration::from_secs(10)) {
                eprintln!("cleanup of cgroup {name} failed: {error}");
            }
        }
        if let Err(error) = self.cgroups.remove_root() {
            eprintln!("cleanup of cgroup root {} failed: {error}", self.name());
        }
    }
}
