//! The columns of CronJobs, as kubectl shows them: the schedule and its zone, whether it is
//! suspended, how many Jobs run and how long ago the last was scheduled.

use std::time::SystemTime;

use flotilla_kernel::object::CronJob;

use super::super::table;
use super::{Cells, NONE, age};

/// NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE.
pub(super) fn cron_job_cells(cron_job: &CronJob, now: SystemTime) -> Cells {
    let spec = &cron_job.spec;
    let last = cron_job.status.last_schedule_time.map_or_else(
        || NONE.to_owned(),
        |t| table::age(now, Some(t.system_time())),
    );
    (
        vec![
            cron_job.metadata.name.clone(),
            spec.schedule.clone(),
            spec.time_zone.clone().unwrap_or_else(|| NONE.to_owned()),
            if cron_job.is_suspended() {
                "True"
            } else {
                "False"
            }
            .to_owned(),
            cron_job.status.active.len().to_string(),
            last,
            age(&cron_job.metadata, now),
        ],
        vec![],
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use flotilla_kernel::object::{ObjectMeta, Time};

    use super::*;

    #[test]
    fn a_cron_job_row_reads_like_kubectl() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let mut cron_job = CronJob {
            metadata: ObjectMeta {
                name: "hello".to_owned(),
                creation_timestamp: Some(Time::from(now - Duration::from_secs(600))),
                ..ObjectMeta::default()
            },
            ..CronJob::default()
        };
        cron_job.spec.schedule = "*/1 * * * *".into();
        assert_eq!(
            cron_job_cells(&cron_job, now).0,
            [
                "hello",
                "*/1 * * * *",
                "<none>",
                "False",
                "0",
                "<none>",
                "10m"
            ]
        );
        cron_job.spec.time_zone = Some("Europe/Berlin".into());
        cron_job.spec.suspend = Some(true);
        cron_job.status.last_schedule_time = Some(Time::from(now - Duration::from_secs(42)));
        assert_eq!(
            cron_job_cells(&cron_job, now).0[2..6],
            ["Europe/Berlin", "True", "0", "42s"]
        );
    }
}
