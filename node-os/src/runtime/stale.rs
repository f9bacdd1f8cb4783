//! Reconciling cgroups with the runtime after an agent restart: a cgroup under our root that
//! belongs to no known container is a left-over (its container's agent died), so whatever runs
//! in it is killed and the cgroup removed.

use std::collections::BTreeSet;
use std::time::Duration;

use super::RuntimeError;
use crate::cgroups::Cgroups;

/// Kills and removes every cgroup whose name is not in `known`; returns the names removed.
/// Every stale cgroup is tried; if some could not be removed, the first failure is returned
/// (the others are logged) and the next start-up tries again.
pub(crate) fn remove_stale_cgroups(
    cgroups: &dyn Cgroups,
    known: &BTreeSet<String>,
    timeout: Duration,
) -> Result<Vec<String>, RuntimeError> {
    let present = cgroups
        .list()
        .map_err(|source| RuntimeError::ListCgroups { source })?;
    let mut removed = Vec::new();
    let mut first_failure = None;
    for name in present.into_iter().filter(|name| !known.contains(name)) {
        match cgroups.kill_and_remove(&name, timeout) {
            Ok(()) => {
                tracing::info!(cgroup = %name, "removed stale cgroup");
                removed.push(name);
            }
            Err(source) => {
                tracing::warn!(cgroup = %name, error = %source, "cannot remove stale cgroup");
                first_failure.get_or_insert(RuntimeError::Cgroup { id: name, source });
            }
        }
    }
    match first_failure {
        Some(error) => Err(error),
        None => Ok(removed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::{FakeCgroups, ResourceLimits};

    #[test]
    fn removes_unknown_cgroups_and_keeps_known_ones() {
        let cgroups = FakeCgroups::new();
        for name in ["old-1", "live", "old-2"] {
            cgroups.create(name, &ResourceLimits::default()).unwrap();
        }
        cgroups.add_pid("old-1", 4242).unwrap();
        let known = BTreeSet::from(["live".to_string()]);

        let removed = remove_stale_cgroups(&cgroups, &known, Duration::ZERO).unwrap();
        assert_eq!(removed, vec!["old-1".to_string(), "old-2".to_string()]);
        assert_eq!(cgroups.list().unwrap(), vec!["live".to_string()]);
        assert!(
            remove_stale_cgroups(&cgroups, &known, Duration::ZERO)
                .unwrap()
                .is_empty()
        );
    }
}
