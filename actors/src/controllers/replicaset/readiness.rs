//! Whether a pod counts as ready and as available: ready without interruption for at least
//! the ReplicaSet's `minReadySeconds`, measured from the Ready condition's last transition, as
//! Kubernetes counts it.

use std::time::{Duration, SystemTime};

use flotilla_kernel::object::{ConditionStatus, Pod, PodCondition};

/// How far a pod is from counting as available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Availability {
    pub ready: bool,
    pub available: bool,
    /// When a ready pod that is not available yet becomes available.
    pub available_at: Option<SystemTime>,
}

/// The availability of `pod` at `now` for a ReplicaSet with `min_ready_seconds`.
pub fn availability(pod: &Pod, min_ready_seconds: i32, now: SystemTime) -> Availability {
    let not_ready = Availability {
        ready: false,
        available: false,
        available_at: None,
    };
    let Some(condition) = pod.condition(PodCondition::READY) else {
        return not_ready;
    };
    if condition.status != ConditionStatus::True {
        return not_ready;
    }
    let min_ready = Duration::from_secs(u64::try_from(min_ready_seconds).unwrap_or(0));
    if min_ready.is_zero() {
        return Availability {
            ready: true,
            available: true,
            available_at: None,
        };
    }
    // Without a transition time the pod cannot be shown to have been ready long enough.
    let since = condition
        .last_transition_time
        .as_ref()
        .map(|t| t.system_time());
    let at = since.and_then(|since| since.checked_add(min_ready));
    match at {
        Some(at) if at <= now => Availability {
            ready: true,
            available: true,
            available_at: None,
        },
        at => Availability {
            ready: true,
            available: false,
            available_at: at,
        },
    }
}

/// When the pod last became ready, if it is ready.
pub fn ready_since(pod: &Pod) -> Option<Option<SystemTime>> {
    pod.condition(PodCondition::READY)
        .filter(|c| c.status == ConditionStatus::True)
        .map(|c| c.last_transition_time.as_ref().map(|t| t.system_time()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_kernel::object::Time;

    fn pod_ready_at(status: ConditionStatus, at: Option<SystemTime>) -> Pod {
        let mut pod = Pod::default();
        pod.status.conditions = vec![PodCondition {
            type_: PodCondition::READY.into(),
            status,
            last_transition_time: at.map(Time::from),
            ..PodCondition::default()
        }];
        pod
    }

    fn secs(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)
    }

    #[test]
    fn a_pod_without_ready_condition_is_not_ready() {
        let a = availability(&Pod::default(), 0, secs(0));
        assert!(!a.ready && !a.available);
        let a = availability(
            &pod_ready_at(ConditionStatus::False, Some(secs(0))),
            0,
            secs(9),
        );
        assert!(!a.ready && !a.available);
        assert_eq!(ready_since(&Pod::default()), None);
    }

    #[test]
    fn without_min_ready_seconds_ready_means_available() {
        let a = availability(&pod_ready_at(ConditionStatus::True, None), 0, secs(0));
        assert!(a.ready && a.available);
    }

    #[test]
    fn min_ready_seconds_delay_availability() {
        let pod = pod_ready_at(ConditionStatus::True, Some(secs(10)));
        let early = availability(&pod, 5, secs(12));
        assert!(early.ready && !early.available);
        assert_eq!(early.available_at, Some(secs(15)));
        let late = availability(&pod, 5, secs(15));
        assert!(late.available);
        assert_eq!(ready_since(&pod), Some(Some(secs(10))));
    }

    #[test]
    fn a_ready_pod_without_transition_time_never_becomes_available() {
        let a = availability(&pod_ready_at(ConditionStatus::True, None), 5, secs(100));
        assert!(a.ready && !a.available);
        assert_eq!(a.available_at, None);
    }
}
