//! Probe results, as the kubelet keeps them for one run of a container. Each probe turns to
//! success after `successThreshold` successes in a row and to failure after
//! `failureThreshold` failures in a row. Until the startup probe succeeds the others do not
//! run and the container is neither started nor ready; readiness starts out failed, liveness
//! passed. A startup or liveness probe that turns to failure asks for the container to be
//! killed (and restarted by its pod's restart policy). Pure: the driver runs the probes.

use std::time::{Duration, SystemTime};

use flotilla_kernel::object::{Container, Probe};

/// Which of a container's probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    Startup,
    Liveness,
    Readiness,
}

impl ProbeKind {
    pub fn of(self, container: &Container) -> Option<&Probe> {
        match self {
            ProbeKind::Startup => container.startup_probe.as_ref(),
            ProbeKind::Liveness => container.liveness_probe.as_ref(),
            ProbeKind::Readiness => container.readiness_probe.as_ref(),
        }
    }

    /// As Kubernetes names it in messages: `Liveness probe failed: ...`.
    pub fn title(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
        }
    }
}

/// One probe's counts and verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ProbeState {
    successes: i32,
    failures: i32,
    /// `None` until a threshold is reached.
    passed: Option<bool>,
}

impl ProbeState {
    /// Counts one outcome; the new verdict if it changed.
    fn record(&mut self, probe: &Probe, success: bool) -> Option<bool> {
        if success {
            self.successes += 1;
            self.failures = 0;
            if self.successes >= probe.success_threshold.max(1) && self.passed != Some(true) {
                self.passed = Some(true);
                return self.passed;
            }
        } else {
            self.failures += 1;
            self.successes = 0;
            if self.failures >= probe.failure_threshold.max(1) && self.passed != Some(false) {
                self.passed = Some(false);
                return self.passed;
            }
        }
        None
    }
}

/// The probes of one run of one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerProbes {
    /// When the run these results belong to started.
    pub run: Option<SystemTime>,
    startup: ProbeState,
    liveness: ProbeState,
    readiness: ProbeState,
}

/// What a probe outcome asks of the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing beyond probing again.
    Continue,
    /// Readiness or the started state changed: report the status.
    Report,
    /// Kill the container with this message (its probe turned to failure).
    Kill(String),
}

impl ContainerProbes {
    /// Results for the run that started at `run`: everything from scratch.
    pub fn for_run(run: SystemTime) -> Self {
        Self {
            run: Some(run),
            ..Self::default()
        }
    }

    fn state(&mut self, kind: ProbeKind) -> &mut ProbeState {
        match kind {
            ProbeKind::Startup => &mut self.startup,
            ProbeKind::Liveness => &mut self.liveness,
            ProbeKind::Readiness => &mut self.readiness,
        }
    }

    /// Whether the startup probe has passed (or there is none).
    pub fn started(&self, container: &Container) -> bool {
        container.startup_probe.is_none() || self.startup.passed == Some(true)
    }

    /// Whether the container counts as ready: started, and its readiness probe passed (or it
    /// has none).
    pub fn ready(&self, container: &Container) -> bool {
        self.started(container)
            && (container.readiness_probe.is_none() || self.readiness.passed == Some(true))
    }

    /// Whether `kind` runs now: the startup probe until it passes, the others after.
    pub fn runs(&self, container: &Container, kind: ProbeKind) -> bool {
        kind.of(container).is_some()
            && match kind {
                ProbeKind::Startup => !self.started(container),
                ProbeKind::Liveness | ProbeKind::Readiness => self.started(container),
            }
    }

    /// Counts one outcome of `kind` (`Err` with why it failed).
    pub fn record(
        &mut self,
        container: &Container,
        kind: ProbeKind,
        outcome: Result<(), String>,
    ) -> Verdict {
        let Some(probe) = kind.of(container) else {
            return Verdict::Continue;
        };
        let was_ready = self.ready(container);
        let changed = self.state(kind).record(probe, outcome.is_ok());
        match (kind, changed, outcome) {
            (ProbeKind::Liveness | ProbeKind::Startup, Some(false), Err(why)) => {
                Verdict::Kill(format!(
                    "{} probe failed: {why}; container {} will be restarted",
                    kind.title(),
                    container.name
                ))
            }
            (ProbeKind::Startup, Some(true), _) => Verdict::Report,
            _ if self.ready(container) != was_ready => Verdict::Report,
            _ => Verdict::Continue,
        }
    }
}

/// When `kind` first runs for a container that started at `run`, and how often after.
pub fn schedule(probe: &Probe) -> (Duration, Duration) {
    let seconds = |value: i32| Duration::from_secs(u64::try_from(value).unwrap_or(0));
    (
        seconds(probe.initial_delay_seconds),
        seconds(probe.period_seconds.max(1)),
    )
}

/// How long one attempt of `probe` may take.
pub fn timeout(probe: &Probe) -> Duration {
    Duration::from_secs(u64::try_from(probe.timeout_seconds.max(1)).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(success_threshold: i32, failure_threshold: i32) -> Probe {
        Probe {
            success_threshold,
            failure_threshold,
            period_seconds: 10,
            timeout_seconds: 1,
            ..Probe::default()
        }
    }

    fn container(startup: bool, liveness: bool, readiness: bool) -> Container {
        Container {
            name: "app".into(),
            startup_probe: startup.then(|| probe(1, 2)),
            liveness_probe: liveness.then(|| probe(1, 3)),
            readiness_probe: readiness.then(|| probe(2, 1)),
            ..Container::default()
        }
    }

    #[test]
    fn without_probes_a_running_container_is_ready() {
        let c = container(false, false, false);
        let probes = ContainerProbes::default();
        assert!(probes.started(&c) && probes.ready(&c));
        assert!(!probes.runs(&c, ProbeKind::Liveness));
    }

    #[test]
    fn readiness_needs_its_threshold_of_successes_and_one_failure_unreadies() {
        let c = container(false, false, true);
        let mut probes = ContainerProbes::default();
        assert!(!probes.ready(&c), "not ready before the first success");
        assert_eq!(
            probes.record(&c, ProbeKind::Readiness, Ok(())),
            Verdict::Continue
        );
        assert_eq!(
            probes.record(&c, ProbeKind::Readiness, Ok(())),
            Verdict::Report
        );
        assert!(probes.ready(&c));
        let failed = probes.record(&c, ProbeKind::Readiness, Err("HTTP 503".into()));
        assert_eq!(failed, Verdict::Report);
        assert!(!probes.ready(&c));
    }

    #[test]
    fn liveness_kills_after_its_failure_threshold_in_a_row() {
        let c = container(false, true, false);
        let mut probes = ContainerProbes::default();
        let fail =
            |p: &mut ContainerProbes| p.record(&c, ProbeKind::Liveness, Err("refused".into()));
        assert_eq!(fail(&mut probes), Verdict::Continue);
        assert_eq!(fail(&mut probes), Verdict::Continue);
        // A success in between starts the count over.
        assert_eq!(
            probes.record(&c, ProbeKind::Liveness, Ok(())),
            Verdict::Continue
        );
        assert_eq!(fail(&mut probes), Verdict::Continue);
        assert_eq!(fail(&mut probes), Verdict::Continue);
        assert_eq!(
            fail(&mut probes),
            Verdict::Kill("Liveness probe failed: refused; container app will be restarted".into())
        );
    }

    #[test]
    fn the_startup_probe_holds_the_others_back_until_it_passes() {
        let c = container(true, true, true);
        let mut probes = ContainerProbes::default();
        assert!(probes.runs(&c, ProbeKind::Startup));
        assert!(!probes.runs(&c, ProbeKind::Liveness) && !probes.runs(&c, ProbeKind::Readiness));
        assert!(!probes.started(&c));
        assert_eq!(
            probes.record(&c, ProbeKind::Startup, Ok(())),
            Verdict::Report
        );
        assert!(probes.started(&c) && !probes.ready(&c));
        assert!(!probes.runs(&c, ProbeKind::Startup));
        assert!(probes.runs(&c, ProbeKind::Liveness) && probes.runs(&c, ProbeKind::Readiness));

        let mut slow = ContainerProbes::default();
        slow.record(&c, ProbeKind::Startup, Err("not yet".into()));
        let verdict = slow.record(&c, ProbeKind::Startup, Err("not yet".into()));
        assert!(matches!(verdict, Verdict::Kill(m) if m.starts_with("Startup probe failed")));
    }

    #[test]
    fn schedules_follow_the_probe() {
        let p = Probe {
            initial_delay_seconds: 5,
            period_seconds: 3,
            timeout_seconds: 2,
            ..Probe::default()
        };
        assert_eq!(
            schedule(&p),
            (Duration::from_secs(5), Duration::from_secs(3))
        );
        assert_eq!(timeout(&p), Duration::from_secs(2));
    }
}
