//! The RollingUpdate arithmetic, exactly as Kubernetes' deployment controller does it: the
//! new ReplicaSet grows while the total asked for stays within `desired + maxSurge`, and the
//! old ones shrink (oldest first, their unavailable replicas first) while at least
//! `desired - maxUnavailable` replicas stay available.
//!
//! The functions change `spec.replicas` of the ReplicaSets they are given and say whether they
//! changed any; the caller turns the changes into updates.

use flotilla_kernel::object::{
    DEFAULT_ROLLING_UPDATE_BOUND, DeploymentStrategy, IntOrString, IntOrStringError, ReplicaSet,
    StrategyType,
};

use super::replica_sets::{replicas, total_available, total_replicas};

/// `maxSurge` and `maxUnavailable` resolved against the desired replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fenceposts {
    pub max_surge: i32,
    pub max_unavailable: i32,
}

/// A `maxSurge` or `maxUnavailable` that does not resolve to a number.
#[derive(Debug, thiserror::Error)]
#[error("invalid spec.strategy.rollingUpdate.{field}")]
pub struct FencepostError {
    pub field: &'static str,
    #[source]
    pub source: IntOrStringError,
}

impl Fenceposts {
    /// Resolves the strategy's fenceposts for `desired` replicas: the surge rounded up, the
    /// unavailable rounded down, and one unavailable allowed if both come out 0 (a rollout
    /// could not move otherwise). Only meaningful for RollingUpdate.
    pub fn resolve(strategy: &DeploymentStrategy, desired: i32) -> Result<Self, FencepostError> {
        let rolling = strategy.rolling_update.as_ref();
        let max_surge = scaled(
            "maxSurge",
            rolling.and_then(|r| r.max_surge.as_ref()),
            desired,
            true,
        )?;
        let mut max_unavailable = scaled(
            "maxUnavailable",
            rolling.and_then(|r| r.max_unavailable.as_ref()),
            desired,
            false,
        )?;
        if max_surge == 0 && max_unavailable == 0 {
            max_unavailable = 1;
        }
        Ok(Self {
            max_surge,
            max_unavailable,
        })
    }
}

fn scaled(
    field: &'static str,
    value: Option<&IntOrString>,
    desired: i32,
    round_up: bool,
) -> Result<i32, FencepostError> {
    let default = IntOrString::String(DEFAULT_ROLLING_UPDATE_BOUND.into());
    let value = value.unwrap_or(&default);
    value
        .scaled_value(desired, round_up)
        .map(|v| v.max(0))
        .map_err(|source| FencepostError { field, source })
}

/// How many replicas may be unavailable during an update of `desired` replicas: none for
/// Recreate (it does not promise availability) or a Deployment scaled to zero.
pub fn max_unavailable(strategy: &DeploymentStrategy, fenceposts: Fenceposts, desired: i32) -> i32 {
    if strategy.type_ != StrategyType::RollingUpdate || desired == 0 {
        return 0;
    }
    fenceposts.max_unavailable.min(desired)
}

/// The replicas the new ReplicaSet may ask for, given `total` asked for by all of them.
pub fn new_replicas(desired: i32, fenceposts: Fenceposts, total: i32, new: i32) -> i32 {
    let max_total = desired + fenceposts.max_surge;
    if total >= max_total {
        return new;
    }
    new + (max_total - total).min(desired - new).max(0)
}

/// Grows (or shrinks, if above `desired`) the new ReplicaSet; true if it changed.
pub fn scale_new(
    desired: i32,
    fenceposts: Fenceposts,
    new: &mut ReplicaSet,
    old: &[ReplicaSet],
) -> bool {
    let current = replicas(new);
    let target = if current >= desired {
        desired
    } else {
        new_replicas(desired, fenceposts, current + total_replicas(old), current)
    };
    set_replicas(new, target)
}

/// Shrinks the old ReplicaSets (oldest first) as far as availability allows; true if any
/// changed.
pub fn scale_old(
    desired: i32,
    max_unavailable: i32,
    new: &ReplicaSet,
    old: &mut [ReplicaSet],
) -> bool {
    if total_replicas(old.iter()) == 0 {
        return false;
    }
    let all = total_replicas(old.iter()) + replicas(new);
    let min_available = desired - max_unavailable;
    let new_unavailable = replicas(new) - new.status.available_replicas;
    let max_scaled_down = all - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return false;
    }
    let cleaned = clean_up_unhealthy(old, max_scaled_down);
    let scaled = scale_down_available(min_available, new, old);
    cleaned + scaled > 0
}

/// Removes old replicas that are not available anyway, at most `limit`; returns how many.
fn clean_up_unhealthy(old: &mut [ReplicaSet], limit: i32) -> i32 {
    let mut removed = 0;
    for rs in old.iter_mut() {
        if removed >= limit {
            break;
        }
        let unhealthy = replicas(rs) - rs.status.available_replicas;
        if replicas(rs) == 0 || unhealthy <= 0 {
            continue;
        }
        let cut = unhealthy.min(limit - removed);
        set_replicas(rs, replicas(rs) - cut);
        removed += cut;
    }
    removed
}

/// Removes available old replicas down to `min_available` in total; returns how many.
fn scale_down_available(min_available: i32, new: &ReplicaSet, old: &mut [ReplicaSet]) -> i32 {
    let available = total_available(old.iter()) + new.status.available_replicas;
    if available <= min_available {
        return 0;
    }
    let to_remove = available - min_available;
    let mut removed = 0;
    for rs in old.iter_mut() {
        if removed >= to_remove {
            break;
        }
        if replicas(rs) == 0 {
            continue;
        }
        let cut = replicas(rs).min(to_remove - removed);
        set_replicas(rs, replicas(rs) - cut);
        removed += cut;
    }
    removed
}

/// Sets `spec.replicas`; true if it changed.
pub fn set_replicas(rs: &mut ReplicaSet, target: i32) -> bool {
    let changed = replicas(rs) != target;
    rs.spec.replicas = Some(target);
    changed
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::RollingUpdateDeployment;

    use super::*;

    fn strategy(
        surge: Option<IntOrString>,
        unavailable: Option<IntOrString>,
    ) -> DeploymentStrategy {
        DeploymentStrategy {
            type_: StrategyType::RollingUpdate,
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: surge,
                max_unavailable: unavailable,
            }),
        }
    }

    fn pct(s: &str) -> Option<IntOrString> {
        Some(IntOrString::String(s.into()))
    }

    fn rs(replicas: i32, available: i32) -> ReplicaSet {
        let mut rs = ReplicaSet::default();
        rs.spec.replicas = Some(replicas);
        rs.status.replicas = replicas;
        rs.status.available_replicas = available;
        rs
    }

    #[test]
    fn fenceposts_round_surge_up_and_unavailable_down() {
        let fp = Fenceposts::resolve(&strategy(pct("25%"), pct("25%")), 10).unwrap();
        assert_eq!(
            fp,
            Fenceposts {
                max_surge: 3,
                max_unavailable: 2
            }
        );
        let defaults = DeploymentStrategy {
            type_: StrategyType::RollingUpdate,
            rolling_update: None,
        };
        assert_eq!(Fenceposts::resolve(&defaults, 10).unwrap(), fp);
        let ints = strategy(Some(IntOrString::Int(2)), Some(IntOrString::Int(0)));
        assert_eq!(
            Fenceposts::resolve(&ints, 10).unwrap(),
            Fenceposts {
                max_surge: 2,
                max_unavailable: 0
            }
        );
    }

    #[test]
    fn zero_surge_and_zero_unavailable_allow_one_unavailable() {
        let zero = strategy(Some(IntOrString::Int(0)), pct("10%"));
        assert_eq!(
            Fenceposts::resolve(&zero, 3).unwrap(),
            Fenceposts {
                max_surge: 0,
                max_unavailable: 1
            }
        );
    }

    #[test]
    fn bad_fenceposts_name_the_field() {
        let bad = strategy(pct("lots"), None);
        let error = Fenceposts::resolve(&bad, 3).unwrap_err();
        assert_eq!(error.field, "maxSurge");
        assert_eq!(
            error.to_string(),
            "invalid spec.strategy.rollingUpdate.maxSurge"
        );
    }

    #[test]
    fn max_unavailable_is_capped_and_zero_for_recreate() {
        let s = strategy(Some(IntOrString::Int(0)), Some(IntOrString::Int(5)));
        let fp = Fenceposts::resolve(&s, 3).unwrap();
        assert_eq!(max_unavailable(&s, fp, 3), 3);
        assert_eq!(max_unavailable(&s, fp, 0), 0);
        let recreate = DeploymentStrategy {
            type_: StrategyType::Recreate,
            rolling_update: None,
        };
        assert_eq!(max_unavailable(&recreate, fp, 3), 0);
    }

    #[test]
    fn the_new_set_grows_within_the_surge() {
        let fp = Fenceposts {
            max_surge: 3,
            max_unavailable: 2,
        };
        let mut new = rs(0, 0);
        let old = [rs(10, 10)];
        assert!(scale_new(10, fp, &mut new, &old));
        assert_eq!(new.spec.replicas, Some(3));
        assert!(!scale_new(10, fp, &mut new, &old), "the surge is used up");
        let mut over = rs(12, 12);
        assert!(scale_new(10, fp, &mut over, &[]));
        assert_eq!(over.spec.replicas, Some(10));
    }

    #[test]
    fn old_sets_shrink_unavailable_first_then_down_to_min_available() {
        let mut new = rs(3, 0);
        new.status.available_replicas = 0;
        let mut old = [rs(4, 2), rs(6, 6)];
        // all = 13, min available = 8, new unavailable = 3 → at most 2 may go.
        assert!(scale_old(10, 2, &new, &mut old));
        assert_eq!(
            old[0].spec.replicas,
            Some(2),
            "the two unavailable replicas went first"
        );
        assert_eq!(old[1].spec.replicas, Some(6));
        // Available stays 8 = min available: nothing more may go.
        assert!(!scale_old(10, 2, &new, &mut old));
    }

    #[test]
    fn available_new_replicas_let_old_ones_go() {
        let new = rs(3, 3);
        let mut old = [rs(10, 10)];
        assert!(scale_old(10, 2, &new, &mut old));
        assert_eq!(
            old[0].spec.replicas,
            Some(5),
            "13 available - 8 minimum = 5 may go"
        );
    }
}
