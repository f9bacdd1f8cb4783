//! Checks for a CronJob (after defaulting): the schedule and time zone must parse, the name
//! must leave room for the Job names made from it, the limits must not be negative, and the
//! Job template must be a valid Job spec.

use super::job::validate_job_spec;
use super::{FieldError, report};
use crate::object::cron_job::{CronJob, MAX_CRON_JOB_NAME_LENGTH};
use crate::object::cron_schedule::{CronSchedule, ScheduleError, parse_zone};

pub(super) fn validate_cron_job(cron_job: &CronJob, errors: &mut Vec<FieldError>) {
    let name = &cron_job.metadata.name;
    if name.len() > MAX_CRON_JOB_NAME_LENGTH {
        report(
            errors,
            "metadata.name",
            format!(
                "Invalid value: {name:?}: must be no more than {MAX_CRON_JOB_NAME_LENGTH} \
                 characters"
            ),
        );
    }
    let spec = &cron_job.spec;
    let zone = spec.time_zone.as_deref();
    if let Err(error) = parse_zone(zone) {
        report(
            errors,
            "spec.timeZone",
            format!("Invalid value: {:?}: {error}", zone.unwrap_or_default()),
        );
    }
    if spec.schedule.is_empty() {
        report(errors, "spec.schedule", "Required value");
    } else if let Err(error) = CronSchedule::parse(&spec.schedule, None) {
        let error = match error {
            ScheduleError::Expression { reason } => reason,
            other => other.to_string(),
        };
        report(
            errors,
            "spec.schedule",
            format!("Invalid value: {:?}: {error}", spec.schedule),
        );
    }
    for (field, value) in [
        ("startingDeadlineSeconds", spec.starting_deadline_seconds),
        (
            "successfulJobsHistoryLimit",
            spec.successful_jobs_history_limit.map(i64::from),
        ),
        (
            "failedJobsHistoryLimit",
            spec.failed_jobs_history_limit.map(i64::from),
        ),
    ] {
        if let Some(value) = value
            && value < 0
        {
            report(
                errors,
                format!("spec.{field}"),
                format!("Invalid value: {value}: must be greater than or equal to 0"),
            );
        }
    }
    validate_job_spec(&spec.job_template.spec, "spec.jobTemplate.spec", errors);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::cron_job::default_cron_job;
    use crate::object::pod_spec::{Container, RestartPolicy};

    fn cron_job(edit: impl FnOnce(&mut CronJob)) -> CronJob {
        let mut cron_job = CronJob::default();
        cron_job.metadata.name = "hello".into();
        cron_job.spec.schedule = "*/1 * * * *".into();
        let template = &mut cron_job.spec.job_template.spec.template.spec;
        template.restart_policy = RestartPolicy::OnFailure;
        template.containers.push(Container {
            name: "hello".into(),
            image: "busybox:1.35".into(),
            ..Container::default()
        });
        edit(&mut cron_job);
        default_cron_job(&mut cron_job);
        cron_job
    }

    fn problems(cron_job: &CronJob) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        validate_cron_job(cron_job, &mut errors);
        errors.into_iter().map(|e| (e.path, e.message)).collect()
    }

    #[test]
    fn a_valid_cron_job_passes() {
        assert_eq!(problems(&cron_job(|_| {})), []);
        let zoned = cron_job(|c| {
            c.spec.schedule = "@hourly".into();
            c.spec.time_zone = Some("Europe/Berlin".into());
        });
        assert_eq!(problems(&zoned), []);
    }

    #[test]
    fn bad_fields_are_refused_with_their_paths() {
        type Edit = Box<dyn FnOnce(&mut CronJob)>;
        let cases: Vec<(Edit, &str, &str)> = vec![
            (
                Box::new(|c| c.spec.schedule = "61 * * * *".into()),
                "spec.schedule",
                "Invalid value: \"61 * * * *\": ",
            ),
            (
                Box::new(|c| c.spec.schedule = "TZ=UTC * * * * *".into()),
                "spec.schedule",
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ),
            (
                Box::new(|c| c.spec.schedule.clear()),
                "spec.schedule",
                "Required value",
            ),
            (
                Box::new(|c| c.spec.time_zone = Some("Mars/Olympus".into())),
                "spec.timeZone",
                "Invalid value: \"Mars/Olympus\": unknown time zone Mars/Olympus",
            ),
            (
                Box::new(|c| c.spec.successful_jobs_history_limit = Some(-1)),
                "spec.successfulJobsHistoryLimit",
                "must be greater than or equal to 0",
            ),
            (
                Box::new(|c| c.spec.starting_deadline_seconds = Some(-5)),
                "spec.startingDeadlineSeconds",
                "must be greater than or equal to 0",
            ),
            (
                Box::new(|c| c.metadata.name = "x".repeat(53)),
                "metadata.name",
                "must be no more than 52 characters",
            ),
            (
                Box::new(|c| {
                    c.spec.job_template.spec.template.spec.restart_policy = RestartPolicy::Always
                }),
                "spec.jobTemplate.spec.template.spec.restartPolicy",
                "Unsupported value: \"Always\"",
            ),
        ];
        for (edit, path, message) in cases {
            let found = problems(&cron_job(edit));
            assert!(
                found.iter().any(|(p, m)| p == path && m.contains(message)),
                "{path}: {message}: {found:?}"
            );
        }
    }
}
